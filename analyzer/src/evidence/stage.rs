//! The evidence stage of the analyzer: feeds a flow's payload to its
//! dissector, records what the facts teach about other flows (learned RPC
//! endpoints, SMB sessions), keeps them on the flow, and lets the class of
//! a flow whose class is still open follow its evidence, moving every byte
//! already counted to the new class in the same bins.

use std::collections::BTreeMap;
use std::net::IpAddr;

use capture::Timestamp;

use super::learned::{Endpoint, Knowledge, SessionKey, SmbServer};
use super::names::Reply;
use super::probe::{Evidence, FlowEvidence, Proto};
use super::stream::Syns;
use super::{Dir, Fact, Uuid, Via};
use crate::analyzer::tuple;
use crate::classify::{decides, Also, Classifier, Clues, FlowTuple, Reason, Refinable, SmbNote};
use crate::decode::{proto, tcp_flags, PacketMeta};
use crate::flow::{Direction, Flow, Slot};
use crate::state::{FlowState, Probe};
use crate::stats::Stats;

/// Most SMB paths and RPC interfaces kept per flow for rules.
const CLUES_PER_FLOW: usize = 8;

/// Whether a new flow's class may change once its payload is read: SMB
/// between hosts the rules care about, or any TCP flow that could turn out
/// to speak DCE/RPC where the rules care (the dissector is chosen at the
/// first payload, but the flow's bytes must be tracked from its first packet).
pub(crate) fn may_open(classifier: &Classifier<'_>, t: &FlowTuple) -> bool {
    if t.proto != proto::TCP {
        return false;
    }
    let smb = [445, 139].contains(&t.dport) || [445, 139].contains(&t.sport);
    (smb && classifier.may_refine(t, Refinable::Smb)) || classifier.may_refine(t, Refinable::Rpc)
}

/// The evidence stage, borrowing what it needs from the analyzer.
pub(crate) struct EvidenceStage<'a> {
    pub classifier: &'a Classifier<'a>,
    pub knowledge: &'a mut Knowledge,
    pub stats: &'a mut Stats,
    pub gave_up: &'a mut BTreeMap<(&'static str, super::Counted), u64>,
    pub facts: &'a mut Vec<Fact>,
    pub window_ns: i64,
    /// DNS answers found, for the policy stage's DNS rules.
    pub answers: &'a mut Vec<(super::DnsAnswer, Timestamp)>,
    /// The captured length of the packet's frame (a snaplen give-up says it).
    pub caplen: u32,
}

impl EvidenceStage<'_> {
    /// One packet of a flow, going `dir`.
    pub fn packet(
        &mut self,
        slot: &mut Slot<FlowState>,
        dir: Direction,
        m: &PacketMeta<'_>,
        ts: Timestamp,
    ) {
        let (flow, st) = (&slot.flow, &mut slot.ext);
        if st.open && ts.0.saturating_sub(flow.first_seen.0) > self.window_ns {
            st.close();
        }
        let edir = if dir == flow.forward() {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        if let Probe::Fresh(syns) = &mut st.probe {
            if m.tcp_flags & tcp_flags::SYN != 0 {
                syns.note(edir, m.tcp_seq);
            }
            let syns = *syns;
            st.probe = self.choose(flow, st, m, syns);
            if st.open && st.smb_note().is_some() {
                // An SMB connection joined mid-stream says so from the start.
                self.reclassify(flow, st);
            }
        }
        // A packet without payload (an ACK) tells a dissector nothing.
        let bare = m.payload_wire_len == 0 && m.tcp_flags & tcp_flags::SYN == 0;
        let Probe::Active(ev) = &mut st.probe else {
            return;
        };
        if bare {
            return;
        }
        self.facts.clear();
        let counted = ev.counted();
        ev.packet(edir, m, self.facts);
        let stopped = !ev.reading();
        recount(self.gave_up, ev.proto.as_str(), counted, ev.counted());
        if !self.facts.is_empty() {
            let mut probe = std::mem::take(&mut st.probe);
            if let Probe::Active(ev) = &mut probe {
                self.absorb(flow, st, ev, ts);
            }
            st.probe = probe;
        }
        if stopped {
            st.close();
            if let Probe::Active(ev) = std::mem::take(&mut st.probe) {
                st.probe = Probe::Done(ev);
            }
        }
    }

    /// At the first payload: the flow's dissector, if any, its streams
    /// starting after the SYNs seen.
    fn choose(&self, flow: &Flow, st: &mut FlowState, m: &PacketMeta<'_>, syns: Syns) -> Probe {
        if m.payload.is_empty() {
            return Probe::Fresh(syns);
        }
        let ports = [flow.key.lo_port, flow.key.hi_port];
        let Some(p) = Proto::choose(flow.key.proto, ports, m.payload) else {
            st.close();
            return Probe::Never;
        };
        let refines = match p {
            Proto::Smb => Some(Refinable::Smb),
            Proto::DceRpc => Some(Refinable::Rpc),
            Proto::Dns => None,
        };
        if !refines.is_some_and(|k| self.classifier.may_refine(&tuple(flow), k)) {
            st.close();
        }
        if p == Proto::Smb && !flow.syn_seen {
            st.clues_mut().note = Some(SmbNote::Midstream { tree: None });
        }
        Probe::Active(Box::new(FlowEvidence::new(
            p,
            flow.key.proto,
            flow.syn_seen,
            syns,
        )))
    }

    /// Takes in the facts of one packet.
    fn absorb(&mut self, flow: &Flow, st: &mut FlowState, ev: &mut FlowEvidence, ts: Timestamp) {
        let t = tuple(flow);
        let mut clues_changed = false;
        let facts = std::mem::take(self.facts);
        for fact in facts {
            let (keep, changed) = self.learn(&fact, (t.src, t.dst), st, ev, ts);
            clues_changed |= changed;
            if keep {
                ev.keep(Evidence {
                    time: ts,
                    fact,
                    via: None,
                });
            }
        }
        if clues_changed && st.open {
            self.reclassify(flow, st);
        } else if clues_changed {
            let late = ts.0.saturating_sub(flow.first_seen.0) > self.window_ns;
            self.after_close(flow, st, ts, late);
        }
    }

    /// What one fact teaches: endpoints, sessions and names for other flows,
    /// clues for this one. Returns (keep it as evidence, the clues changed).
    fn learn(
        &mut self,
        fact: &Fact,
        (client, server): (IpAddr, IpAddr),
        st: &mut FlowState,
        ev: &mut FlowEvidence,
        ts: Timestamp,
    ) -> (bool, bool) {
        if let Some(r) = self.learn_smb(fact, server, st, ev, ts) {
            return r;
        }
        match fact {
            Fact::RpcEndpoint {
                interface,
                proto,
                port,
                addr,
            } => self.knowledge.learn(Endpoint {
                server: addr
                    .filter(|a| !a.is_unspecified())
                    .map_or(server, IpAddr::V4),
                proto: *proto,
                port: Some(*port),
                via: Via::Epm,
                interface: Some(*interface),
                binding: None,
                announced_by: server,
                learned_at: ts,
            }),
            Fact::DcomBinding { tower, binding } => {
                if let Some(e) = dcom_endpoint(*tower, binding, server, ts) {
                    self.knowledge.learn(e);
                }
            }
            Fact::RpcBind { interface, .. } => {
                return (true, push_clue(&mut st.clues_mut().interfaces, *interface));
            }
            Fact::DnsCut { .. } | Fact::DnsQuery { .. } | Fact::Dns(_) => {
                return (self.dns(fact, client, ts), false);
            }
            _ => {}
        }
        (true, false)
    }

    /// What a DNS fact says of names (queried, answered, answered but cut by
    /// the snaplen); whether it is kept as flow evidence (answers only).
    fn dns(&mut self, fact: &Fact, client: IpAddr, ts: Timestamp) -> bool {
        let names = &mut self.knowledge.names;
        match fact {
            Fact::DnsCut { name, qtype, id } => {
                // Answered, but what it said was not captured.
                let reply = Reply {
                    families: super::dns::Families::NONE,
                    addrs: Vec::new(),
                    truncated: false,
                    qtype: *qtype,
                    snaplen: Some(self.caplen),
                };
                names.answer((name, *id, client), ts, reply);
                false
            }
            Fact::DnsQuery { name, id, .. } => {
                // Kept only as a queried name, not as flow evidence.
                names.query((name, *id, client), ts);
                false
            }
            Fact::Dns(a) => {
                if let Some((q, qtype)) = &a.query {
                    let reply = Reply {
                        families: a.families(),
                        addrs: a.resolve().0.into_iter().map(|(ip, _)| ip).collect(),
                        truncated: a.truncated,
                        qtype: *qtype,
                        snaplen: None,
                    };
                    names.answer((q, a.id, client), ts, reply);
                }
                self.answers.push((a.clone(), ts));
                true
            }
            _ => false,
        }
    }

    /// What an SMB fact teaches (`None` for other facts): sessions and
    /// trees for other connections, shares for this one.
    fn learn_smb(
        &mut self,
        fact: &Fact,
        server: IpAddr,
        st: &mut FlowState,
        ev: &mut FlowEvidence,
        ts: Timestamp,
    ) -> Option<(bool, bool)> {
        Some(match fact {
            Fact::SmbServer { guid } => {
                ev.smb_server = Some(*guid);
                (false, false)
            }
            Fact::SmbTreeConnect { path, session_id } => {
                for key in session_keys(ev.smb_server, server, *session_id) {
                    self.knowledge.smb_path(key, path);
                }
                (
                    true,
                    push_clue(&mut st.clues_mut().shares, path.as_str().into()),
                )
            }
            Fact::SmbTree {
                session_id,
                tree_id,
                path,
            } => {
                for key in session_keys(ev.smb_server, server, *session_id) {
                    self.knowledge.smb_tree(key, *tree_id, path);
                }
                (false, false)
            }
            Fact::SmbTreeUse {
                session_id,
                tree_id,
                path,
            } => {
                let tree = (*session_id, *tree_id);
                (
                    false,
                    self.tree_use(tree, path.as_deref(), server, st, ev, ts),
                )
            }
            Fact::SmbTreeConnectCut { path, .. } => {
                let cut = SmbNote::Cut {
                    path: path.as_str().into(),
                };
                st.clues_mut().note = Some(cut);
                (true, true)
            }
            // Another channel of a session (SMB Multichannel): encrypted,
            // or signed and bound to it, it carries no tree connect of its own.
            Fact::SmbEncrypted { session_id }
            | Fact::SmbSession { session_id }
            | Fact::SmbSigned { session_id } => {
                (true, self.session_paths(*session_id, server, st, ev, ts))
            }
            _ => return None,
        })
    }

    /// A message of a session on a channel with no tree connect: the share
    /// paths another connection of the session, to the same server, showed
    /// in clear apply here too (SMB Multichannel).
    fn session_paths(
        &mut self,
        session_id: u64,
        server: IpAddr,
        st: &mut FlowState,
        ev: &mut FlowEvidence,
        ts: Timestamp,
    ) -> bool {
        let mut changed = false;
        let mut paths = Vec::new();
        for key in session_keys(ev.smb_server, server, session_id) {
            self.knowledge.note_smb_lookup(key);
            paths.extend(self.knowledge.smb_paths(key).iter().cloned());
        }
        for path in paths {
            if st.shares().iter().any(|p| p.eq_ignore_ascii_case(&path)) {
                continue;
            }
            changed |= push_clue(&mut st.clues_mut().shares, path.clone());
            ev.keep(Evidence {
                time: ts,
                fact: Fact::SmbTreeConnect {
                    path: path.to_string(),
                    session_id,
                },
                via: Some(
                    format!("seen in clear on another connection of session 0x{session_id:016x}")
                        .into(),
                ),
            });
        }
        changed
    }

    /// The first request of a (session, tree) on this connection that
    /// works inside the tree: its path (named by this connection's tree
    /// connect, else by one of an earlier connection of the session,
    /// looked up) becomes a deciding share. A tree nobody named leaves a
    /// mid-stream connection's reason saying which tree it uses.
    fn tree_use(
        &mut self,
        (session_id, tree_id): (u64, u32),
        path: Option<&str>,
        server: IpAddr,
        st: &mut FlowState,
        ev: &mut FlowEvidence,
        ts: Timestamp,
    ) -> bool {
        let mut via = None;
        let mut found = path.map(str::to_owned);
        for key in session_keys(ev.smb_server, server, session_id) {
            if found.is_some() {
                break;
            }
            self.knowledge.note_smb_lookup(key);
            found = self
                .knowledge
                .smb_tree_path(key, tree_id)
                .map(str::to_owned);
            via = found.as_ref().map(|_| {
                format!("tree connect seen on an earlier connection of session 0x{session_id:016x}")
                    .into()
            });
        }
        let fact = Fact::SmbTreeUse {
            session_id,
            tree_id,
            path: found.clone(),
        };
        ev.keep(Evidence {
            time: ts,
            fact,
            via,
        });
        let clues = st.clues_mut();
        match found {
            Some(p) => push_clue(&mut clues.used, p.into()),
            None => match &mut clues.note {
                Some(SmbNote::Midstream { tree: t @ None }) => {
                    *t = Some((session_id, tree_id));
                    true
                }
                _ => false,
            },
        }
    }

    /// Evidence that changed the clues of a flow whose class is fixed: if
    /// it would classify the flow otherwise, the flow is judged as that
    /// class as well ([`Also`]); if it confirms the class, its reason
    /// becomes the evidence's (no "no tree connect seen" beside one).
    fn after_close(&mut self, flow: &Flow, st: &mut FlowState, ts: Timestamp, late: bool) {
        let Some(own) = st.class else { return };
        let c = self.classify(flow, st);
        let own_reason = match st.reason.take() {
            Some(Reason::Also(a)) => a.own,
            Some(r) => r,
            None => Reason::Default,
        };
        st.reason = Some(if c.class == own {
            c.reason
        } else {
            Reason::Also(Box::new(Also {
                own: own_reason,
                other: c,
                at: ts,
                late,
            }))
        });
        st.verdict_for = None;
    }

    /// The flow's class from its evidence so far.
    fn classify(&self, flow: &Flow, st: &FlowState) -> crate::classify::Classification {
        let clues = Clues {
            learned: st.learned.as_deref(),
            shares: st.deciding_shares(),
            interfaces: st.interfaces(),
            note: st.smb_note(),
        };
        self.classifier.classify(&tuple(flow), &clues)
    }

    /// Classifies again with the evidence so far; a new class takes the
    /// flow's counted bytes with it. Deciding evidence (data on a tree of a
    /// deciding share, an RPC bind) closes the class; a tree connect alone
    /// does not, since the connection may never use that tree.
    fn reclassify(&mut self, flow: &Flow, st: &mut FlowState) {
        let c = self.classify(flow, st);
        let old = st.class.unwrap_or(crate::class::CLIENT);
        if c.class != old && self.stats.enabled() {
            if let Some(p) = &st.pending {
                self.stats.move_flow(old, c.class, &st.nets, p);
            }
            crate::analyzer::rehook(st, c.class, self.stats);
        }
        st.set(c);
        st.verdict_for = None;
        let used = st.clues.as_ref().map_or(&[][..], |c| &c.used[..]);
        let decided = used.iter().any(|p| decides(p)) || !st.interfaces().is_empty();
        if decided {
            st.close();
        }
    }
}

/// A flow's give-up moves from `was` to `now` (a hole that opened, a
/// hole that filled, a dissector that stopped): each flow is counted once,
/// under the reason it counts for now.
fn recount(
    gave_up: &mut BTreeMap<(&'static str, super::Counted), u64>,
    proto: &'static str,
    was: Option<super::GiveUp>,
    now: Option<super::GiveUp>,
) {
    if was == now {
        return;
    }
    if let Some(e) = was {
        let key = (proto, super::Counted::of(e));
        if let Some(n) = gave_up.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                gave_up.remove(&key);
            }
        }
    }
    if let Some(e) = now {
        *gave_up.entry((proto, super::Counted::of(e))).or_insert(0) += 1;
    }
}

/// The keys a session of this connection is known by: its server's
/// ServerGuid when the NEGOTIATE was read, and its server's address.
fn session_keys(
    guid: Option<Uuid>,
    server: IpAddr,
    session_id: u64,
) -> impl Iterator<Item = SessionKey> {
    guid.map(|g| (SmbServer::Guid(g), session_id))
        .into_iter()
        .chain(std::iter::once((SmbServer::Addr(server), session_id)))
}

fn push_clue<T: PartialEq>(v: &mut smallvec::SmallVec<[T; 1]>, item: T) -> bool {
    if v.len() >= CLUES_PER_FLOW || v.contains(&item) {
        return false;
    }
    v.push(item);
    true
}

/// The endpoint a DCOM string binding names: `host[port]` (or `host`),
/// bound to the address in it, or to the replying server when the binding
/// carries a name or no address (MS-DCOM §2.2.19.3). Towers other than
/// TCP (7), UDP (8) and HTTP (0x1f, over TCP) are not IP endpoints.
fn dcom_endpoint(tower: u16, binding: &str, replier: IpAddr, ts: Timestamp) -> Option<Endpoint> {
    let proto = match tower {
        0x07 | 0x1f => proto::TCP,
        0x08 => proto::UDP,
        _ => return None,
    };
    let (host, port) = match binding.rsplit_once('[') {
        Some((h, rest)) => (
            h,
            rest.strip_suffix(']').and_then(|p| p.parse::<u16>().ok()),
        ),
        None => (binding, None),
    };
    let server = host
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
        .ok()
        .filter(|a| !a.is_unspecified())
        .unwrap_or(replier);
    Some(Endpoint {
        server,
        proto,
        port,
        via: Via::Dcom,
        interface: None,
        binding: Some(binding.to_string()),
        announced_by: replier,
        learned_at: ts,
    })
}
