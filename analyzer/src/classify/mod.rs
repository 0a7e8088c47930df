//! Classification: the policy's rules first, then the built-in table
//! ([`builtin::ROWS`]); first match wins, and every flow keeps the reason.
//!
//! A flow gets a *provisional* class at its first packet from its ports,
//! its endpoints' roles and the RPC endpoints learned so far. Evidence from
//! its payload ([`Clues`]: SMB tree connects, DCE/RPC binds) can refine it
//! later; the port rules themselves never change.

pub mod builtin;

use std::net::IpAddr;

use capture::Timestamp;
use glob::{MatchOptions, Pattern};

use crate::class::{self, ClassId};
use crate::decode::proto;
use crate::evidence::learned::Endpoint;
use crate::evidence::{plain_rpc_interface, Uuid, Via};
use crate::policy::{Policy, Rule, Side};
use builtin::{housekeeping, Protos, RoleCond, Row, Sign, ROWS};

/// The 5-tuple as classification sees it: `src` is the initiator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowTuple {
    /// IP protocol number.
    pub proto: u8,
    /// Initiator address.
    pub src: IpAddr,
    /// Initiator port.
    pub sport: u16,
    /// Responder address.
    pub dst: IpAddr,
    /// Responder port.
    pub dport: u16,
}

/// What the evidence stage knows of a flow, as rules read it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clues<'a> {
    /// The responder's endpoint, learned from an RPC reply.
    pub learned: Option<&'a Endpoint>,
    /// SMB share paths (`\\server\share`) that decide, in order: those of
    /// the trees the connection's data commands used once any is known,
    /// else its tree connects' (provisional until data uses a tree).
    pub shares: &'a [Box<str>],
    /// Why an SMB connection's share is not known, when that is known.
    pub note: Option<&'a SmbNote>,
    /// DCE/RPC interfaces bound, in order.
    pub interfaces: &'a [Uuid],
}

/// Why an SMB connection between cluster nodes has no deciding share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmbNote {
    /// Its start was not captured (no SYN: the capture began after it, or
    /// it resumed after its flow expired idle); `tree` is the first
    /// (session, tree) its data used whose tree connect was not seen.
    Midstream {
        /// SessionId and TreeId.
        tree: Option<(u64, u32)>,
    },
    /// A tree connect whose path the snaplen cut: the part captured.
    Cut {
        /// The path as far as it was captured.
        path: Box<str>,
    },
}

/// A second class a flow is judged as, besides its own, once its own was
/// fixed: evidence that came later (a deciding tree connect after
/// `--evidence-window`, or data on a tree of another decision) would
/// classify it so. Its bytes stay in its own class (those already counted
/// could no longer be moved); its verdict is the worse of the two checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Also {
    /// Why the flow has its own class.
    pub own: Reason,
    /// The class the later evidence gives, and why.
    pub other: Classification,
    /// When that evidence came.
    pub at: Timestamp,
    /// It came after `--evidence-window` (else after data decided).
    pub late: bool,
}

/// How an RPC endpoint was learned, for reasons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LearnedVia {
    /// Endpoint mapper or DCOM.
    pub via: Via,
    /// The server whose reply announced it.
    pub by: IpAddr,
    /// When.
    pub at: Timestamp,
    /// The interface the endpoint-mapper reply named (none from DCOM).
    pub interface: Option<Uuid>,
}

/// Why a flow has its class: small, rendered by [`Classifier::describe`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A built-in row matched on `port`.
    Row {
        /// Row index in [`ROWS`].
        row: u8,
        /// The port that matched (0 for rows without ports).
        port: u16,
    },
    /// A built-in row refined by a tree connect.
    Share {
        /// Row index.
        row: u8,
        /// The path that decided.
        path: Box<str>,
    },
    /// A built-in row that tree connects refine, with no deciding share
    /// and a reason why (not "no tree connect seen").
    SmbUndecided {
        /// Row index.
        row: u8,
        /// The port that matched.
        port: u16,
        /// Why no share decides.
        note: Box<SmbNote>,
    },
    /// The flow's class, and another it is judged as too ([`Also`]).
    Also(Box<Also>),
    /// A built-in row matched on an endpoint learned from an RPC reply.
    Learned {
        /// Row index.
        row: u8,
        /// The port.
        port: u16,
        /// How and when it was learned.
        how: Box<LearnedVia>,
    },
    /// A built-in row matched on a DCE/RPC bind.
    Rpc {
        /// Row index.
        row: u8,
        /// The interface bound.
        interface: Uuid,
    },
    /// A policy rule (1-based index), with the evidence it matched.
    Rule {
        /// Index in the file.
        index: u16,
        /// The deciding evidence, if the rule has evidence keys.
        evidence: Option<Box<str>>,
    },
    /// A housekeeping protocol or multicast/broadcast destination.
    Housekeeping(Box<str>),
    /// An ICMP error: the flow of the packet it quotes, and why that flow
    /// has its class.
    Icmp(Box<(FlowTuple, Reason)>),
    /// Nothing matched.
    Default,
}

impl Reason {
    /// The other class a flow is judged as, besides its own.
    pub fn also(&self) -> Option<ClassId> {
        match self {
            Reason::Also(a) => Some(a.other.class),
            _ => None,
        }
    }
}

/// A class and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    /// The class.
    pub class: ClassId,
    /// Why.
    pub reason: Reason,
}

/// The dissected protocols whose evidence rules may read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Refinable {
    /// SMB tree connects.
    Smb,
    /// DCE/RPC binds.
    Rpc,
}

/// Classifies flows against a policy's rules and roles.
#[derive(Debug)]
pub struct Classifier<'p> {
    policy: &'p Policy,
}

/// The port of `t` a ports row matches (the responder's first), if its
/// protocol is one of the row's.
fn port_hit(
    protos: Protos,
    ports: &[(u16, &str)],
    server_only: bool,
    t: &FlowTuple,
) -> Option<u16> {
    let proto_ok = match protos {
        Protos::Tcp => t.proto == proto::TCP,
        Protos::TcpUdp => t.proto == proto::TCP || t.proto == proto::UDP,
        Protos::Udp => t.proto == proto::UDP,
    };
    let hit = |p: u16| ports.iter().any(|(q, _)| *q == p);
    let port = if hit(t.dport) {
        t.dport
    } else if hit(t.sport) && !server_only {
        t.sport
    } else {
        return None;
    };
    proto_ok.then_some(port)
}

/// `addr:port`, `[v6]:port`.
fn endpoint(a: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(a, port).to_string()
}

fn proto_name(p: u8) -> &'static str {
    match p {
        proto::TCP => "tcp",
        proto::UDP => "udp",
        proto::SCTP => "sctp",
        _ => "ip",
    }
}

/// The share component of `\\server\share` (after the last backslash).
pub fn share_of(path: &str) -> &str {
    path.rsplit('\\').next().unwrap_or(path)
}

/// The server component of `\\server\share`.
pub fn server_of(path: &str) -> &str {
    path.trim_start_matches('\\')
        .split('\\')
        .next()
        .unwrap_or("")
}

/// An administrative share (`ClusterStorage$`, which scripts copy VHDX files
/// through, `ADMIN$`, a drive's `C$`): SMB to it between nodes is a
/// management copy, not CSV redirected I/O.
fn admin_share(path: &str) -> bool {
    let s = share_of(path);
    let drive = s.len() == 2 && s.as_bytes()[0].is_ascii_alphabetic() && s.ends_with('$');
    drive || s.eq_ignore_ascii_case("ClusterStorage$") || s.eq_ignore_ascii_case("ADMIN$")
}

/// Whether a built-in row is one tree connects refine.
fn row_refined(row: u8) -> bool {
    ROWS.get(usize::from(row)).is_some_and(|r| r.smb_refined)
}

/// A share that decides nothing: IPC$ carries named pipes for every purpose.
pub fn decides(path: &str) -> bool {
    !share_of(path).eq_ignore_ascii_case("IPC$")
}

const NOCASE: MatchOptions = MatchOptions {
    case_sensitive: false,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

fn glob_any<'a>(
    pat: &Option<Pattern>,
    mut items: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    match pat {
        None => Some(""),
        Some(p) => items.find(|s| p.matches_with(s, NOCASE)),
    }
}

impl<'p> Classifier<'p> {
    /// A classifier over `policy`.
    pub fn new(policy: &'p Policy) -> Self {
        Classifier { policy }
    }

    /// The policy it reads.
    pub fn policy(&self) -> &'p Policy {
        self.policy
    }

    /// Classifies a flow: the policy's rules, then the built-in rows.
    pub fn classify(&self, t: &FlowTuple, clues: &Clues<'_>) -> Classification {
        for rule in &self.policy.rules {
            if let Some(c) = user_rule(rule, t, clues) {
                return c;
            }
        }
        for (i, row) in ROWS.iter().enumerate() {
            if let Some(c) = self.row(i, row, t, clues) {
                return c;
            }
        }
        Classification {
            class: class::CLIENT,
            reason: Reason::Default,
        }
    }

    /// An ICMP error's class: that of the flow of the packet it quotes
    /// (`about`, with its sender as `src`). A port unreachable or a
    /// "fragmentation needed" about backup traffic is backup traffic, on
    /// the network it travels.
    pub fn classify_icmp_error(&self, about: &FlowTuple, clues: &Clues<'_>) -> Classification {
        let c = self.classify(about, clues);
        Classification {
            class: c.class,
            reason: Reason::Icmp(Box::new((*about, c.reason))),
        }
    }

    /// Whether evidence of this kind could still change this flow's class:
    /// a rule with evidence keys of that kind could match it, or (SMB) a
    /// built-in row that tree connects refine applies, or (RPC) one end is
    /// a DPM server.
    pub fn may_refine(&self, t: &FlowTuple, kind: Refinable) -> bool {
        let by_rule = self.policy.rules.iter().any(|r| {
            let keyed = match kind {
                Refinable::Smb => r.smb_share.is_some() || r.smb_server.is_some(),
                Refinable::Rpc => r.rpc_interface.is_some(),
            };
            keyed && tuple_matches(r, t)
        });
        let roles = &self.policy.roles;
        by_rule
            || match kind {
                Refinable::Smb => {
                    roles.cluster_nodes.contains(&t.src) && roles.cluster_nodes.contains(&t.dst)
                }
                Refinable::Rpc => {
                    roles.dpm_servers.contains(&t.src) || roles.dpm_servers.contains(&t.dst)
                }
            }
    }

    fn roles_hold(&self, cond: RoleCond, t: &FlowTuple) -> Option<IpAddr> {
        let r = &self.policy.roles;
        let both = |set: &[IpAddr]| set.contains(&t.src) && set.contains(&t.dst);
        match cond {
            RoleCond::None => Some(t.dst),
            RoleCond::EitherDpm => [t.src, t.dst]
                .into_iter()
                .find(|a| r.dpm_servers.contains(a)),
            RoleCond::BothNodes => both(&r.cluster_nodes).then_some(t.dst),
            RoleCond::BothReplicas => both(&r.replica_servers).then_some(t.dst),
        }
    }

    fn row(&self, i: usize, row: &Row, t: &FlowTuple, clues: &Clues<'_>) -> Option<Classification> {
        let row_ix = i as u8;
        let reason = match row.sign {
            Sign::Ports {
                protos,
                ports,
                server_only,
            } => Reason::Row {
                row: row_ix,
                port: port_hit(protos, ports, server_only, t)?,
            },
            Sign::IpProtos(list) => {
                list.iter().find(|(p, _)| *p == t.proto)?;
                Reason::Row {
                    row: row_ix,
                    port: u16::from(t.proto),
                }
            }
            Sign::LearnedEndpoint => {
                let e = clues.learned?;
                Reason::Learned {
                    row: row_ix,
                    port: t.dport,
                    how: Box::new(LearnedVia {
                        via: e.via,
                        by: e.announced_by,
                        at: e.learned_at,
                        interface: e.interface,
                    }),
                }
            }
            Sign::RpcBind => Reason::Rpc {
                row: row_ix,
                interface: *clues.interfaces.first()?,
            },
            Sign::Housekeeping => Reason::Housekeeping(
                housekeeping(t.proto, (t.src, t.sport), (t.dst, t.dport))?.into(),
            ),
        };
        self.roles_hold(row.roles, t)?;
        let reason = match (reason, clues.note) {
            (Reason::Row { row, port }, Some(note)) if row_refined(row) => Reason::SmbUndecided {
                row,
                port,
                note: Box::new(note.clone()),
            },
            (r, _) => r,
        };
        if row.smb_refined {
            if let Some(path) = clues.shares.iter().find(|p| decides(p)) {
                return Some(Classification {
                    class: if admin_share(path) {
                        class::CLIENT
                    } else {
                        row.class
                    },
                    reason: Reason::Share {
                        row: row_ix,
                        path: path.clone(),
                    },
                });
            }
        }
        Some(Classification {
            class: row.class,
            reason,
        })
    }

    /// The reason as a sentence: `tcp/5719 (DPM protection agent)`.
    pub fn describe(&self, c: &Classification, t: &FlowTuple) -> String {
        let row_text = |row: u8, port: u16| self.row_text(row, port, t);
        match &c.reason {
            Reason::Row { row, port } => {
                let s = row_text(*row, *port);
                if row_refined(*row) {
                    format!("{s} by roles; no tree connect seen")
                } else {
                    s
                }
            }
            Reason::SmbUndecided { row, port, note } => {
                let s = row_text(*row, *port);
                match &**note {
                    SmbNote::Midstream { tree: None } => format!(
                        "{s} by roles; captured mid-stream (its start, and any tree connect, came before the capture or before its flow expired idle)"
                    ),
                    SmbNote::Midstream { tree: Some((session, tree)) } => format!(
                        "{s} by roles; captured mid-stream: its data uses tree 0x{tree:08x} of session 0x{session:016x}, whose tree connect was not seen"
                    ),
                    SmbNote::Cut { path } => format!(
                        "{s} by roles; its tree connect was cut by the snaplen (captured: \"{path}\"), the share is unknown"
                    ),
                }
            }
            Reason::Also(a) => self.also_text(c.class, a, t),
            Reason::Share { row, path } if c.class == class::CLIENT => format!(
                "tree connect {path} between cluster nodes: {} is an admin share for management copies, not redirected I/O (was {})",
                share_of(path),
                row_text(*row, t.dport)
            ),
            Reason::Share { row, path } => format!("{}, tree connect {path}", row_text(*row, t.dport)),
            Reason::Learned { row, port, how } => format!(
                "{}: port learned from {} reply{} by {} at {}",
                self.rpc_row_text(*row, *port, how.interface.as_ref(), t),
                match how.via {
                    Via::Epm => "an endpoint-mapper (ept_map)",
                    Via::Dcom => "a DCOM activation/OXID",
                },
                how.interface
                    .map(|u| format!(" for interface {u}"))
                    .unwrap_or_default(),
                how.by,
                how.at
            ),
            Reason::Rpc { row, interface } => format!(
                "{}, bind to interface {interface}",
                self.rpc_row_text(*row, 0, Some(interface), t)
            ),
            Reason::Rule { index, evidence } => self.rule_text(*index, evidence.as_deref(), c.class),
            Reason::Housekeeping(why) => format!("{why} (housekeeping)"),
            Reason::Icmp(about) => self.icmp_text(c.class, about),
            Reason::Default => "no other rule matched".into(),
        }
    }

    /// The reason of a flow of class `own` judged as a second class as well.
    fn also_text(&self, own: ClassId, a: &Also, t: &FlowTuple) -> String {
        let own = match &a.own {
            // Not "no tree connect seen": one was, after the class was fixed.
            Reason::Row { row, port } if row_refined(*row) => format!(
                "{} by roles; no tree connect seen before its class was fixed",
                self.row_text(*row, *port, t)
            ),
            r => self.describe(
                &Classification {
                    class: own,
                    reason: r.clone(),
                },
                t,
            ),
        };
        let when = if a.late {
            "after --evidence-window fixed the class"
        } else {
            "after the connection's data had decided the class"
        };
        format!(
            "{own}; judged as {} as well: {}, seen at {} {when}",
            self.policy.class_name(a.other.class),
            self.describe(&a.other, t),
            a.at
        )
    }

    /// An RPC row's reason: what the interface is, when it is known to be
    /// plain MS-RPC (the service control manager, LSA…), else DCOM control
    /// (DCOM's own interfaces, a DCOM activation's endpoint, and unknown
    /// interfaces, which DCOM objects' are: DPMRA's is not public).
    fn rpc_row_text(&self, row: u8, port: u16, interface: Option<&Uuid>, t: &FlowTuple) -> String {
        let what = match interface.and_then(plain_rpc_interface) {
            Some(name) => format!("MS-RPC {name}, not DCOM"),
            None => "DCOM control".into(),
        };
        self.row_text_what(row, port, Some(&what), t)
    }

    /// A built-in row's reason for `port` of the flow `t`.
    fn row_text(&self, row: u8, port: u16, t: &FlowTuple) -> String {
        self.row_text_what(row, port, None, t)
    }

    /// A built-in row's reason, with `what` instead of the port's name.
    fn row_text_what(&self, row: u8, port: u16, what: Option<&str>, t: &FlowTuple) -> String {
        let Some(r) = ROWS.get(usize::from(row)) else {
            return "?".into();
        };
        let what = what.unwrap_or(match r.sign {
            Sign::Ports { ports, .. } => ports
                .iter()
                .find(|(p, _)| *p == port)
                .map_or("", |(_, w)| w),
            Sign::IpProtos(list) => list
                .iter()
                .find(|(p, _)| u16::from(*p) == port)
                .map_or("", |(_, w)| w),
            _ => "",
        });
        let dpm = self
            .roles_hold(RoleCond::EitherDpm, t)
            .map(|a| a.to_string())
            .unwrap_or_default();
        r.reason
            .replace("{proto}", proto_name(t.proto))
            .replace("{port}", &port.to_string())
            .replace("{what}", what)
            .replace("{dpm}", &dpm)
    }

    /// A policy rule's reason, with the evidence it matched.
    fn rule_text(&self, index: u16, evidence: Option<&str>, class: ClassId) -> String {
        let rule = self
            .policy
            .rules
            .iter()
            .find(|r| r.index == usize::from(index));
        let desc = rule.map_or("?", |r| r.description.as_str());
        let cname = self.policy.class_name(class);
        match evidence {
            Some(e) => format!("rule {index}: {desc} ({cname}), {e}"),
            None => format!("rule {index}: {desc} ({cname})"),
        }
    }

    /// An ICMP error's reason: the flow it quotes and why that flow has
    /// the class.
    fn icmp_text(&self, class: ClassId, about: &(FlowTuple, Reason)) -> String {
        let (q, why) = about;
        let inner = Classification {
            class,
            reason: why.clone(),
        };
        format!(
            "ICMP error about {} {} → {}: {}",
            proto_name(q.proto),
            endpoint(q.src, q.sport),
            endpoint(q.dst, q.dport),
            self.describe(&inner, q)
        )
    }
}

/// The rule's protocol, ports and hosts hold for the tuple.
fn tuple_matches(r: &Rule, t: &FlowTuple) -> bool {
    if r.proto.is_some_and(|p| p != t.proto) {
        return false;
    }
    let in_ports = |p: u16| r.ports.iter().any(|(lo, hi)| (*lo..=*hi).contains(&p));
    let in_hosts = |a: IpAddr| r.hosts.iter().any(|n| n.contains(&a));
    let port_ok =
        r.ports.is_empty() || in_ports(t.dport) || (r.side == Side::Any && in_ports(t.sport));
    let host_ok = r.hosts.is_empty() || in_hosts(t.dst) || (r.side == Side::Any && in_hosts(t.src));
    port_ok && host_ok
}

/// A policy rule: its tuple conditions, then its evidence keys (all given
/// keys must be proven by the flow's evidence).
fn user_rule(r: &Rule, t: &FlowTuple, clues: &Clues<'_>) -> Option<Classification> {
    if !tuple_matches(r, t) {
        return None;
    }
    let mut shown = Vec::new();
    if r.smb_share.is_some() || r.smb_server.is_some() {
        let path = clues.shares.iter().find(|p| {
            glob_any(&r.smb_share, std::iter::once(share_of(p))).is_some()
                && glob_any(&r.smb_server, std::iter::once(server_of(p))).is_some()
        })?;
        shown.push(format!("tree connect {path}"));
    }
    if let Some(want) = r.rpc_interface {
        clues.interfaces.iter().find(|i| **i == want)?;
        shown.push(format!("bind to interface {want}"));
    }
    Some(Classification {
        class: r.class,
        reason: Reason::Rule {
            index: u16::try_from(r.index).unwrap_or(u16::MAX),
            evidence: (!shown.is_empty()).then(|| shown.join(", ").into()),
        },
    })
}

#[cfg(test)]
mod tests;
