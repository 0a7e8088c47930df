//! The analyzer: one frame at a time through the stages, in one direction:
//! decode → flow table → evidence → classification → policy check → stats.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use capture::{Frame, Timestamp};

use crate::class::ClassId;
use crate::classify::{Classifier, Clues, FlowTuple};
use crate::decode::{
    self, decode, Decoded, Encap, Fragment, Layer, PacketMeta, Stop, Stopped, MAX_NESTING,
};
use crate::evidence::learned::Knowledge;
use crate::flow::{
    Direction, Flow, FlowKey, FlowTable, FlowTableConfig, FlowTableStats, PacketUpdate, Slot,
    Tunnel, TunnelId, Tunnels,
};
use crate::policy::{is_link_local, NetId, Policy};
use crate::report::DnsViolation;
use crate::state::FlowState;
use crate::stats::{Scope, Series, Stats};

/// An interned capture-interface name (index into [`Analyzer::iface_name`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct IfaceRef(pub u32);

/// A capture fed into the analyzer (index into [`Analyzer::captures`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct CaptureId(pub u32);

/// Settings of an [`Analyzer`].
#[derive(Clone, Copy, Debug)]
pub struct AnalyzerConfig {
    /// Flow table limits.
    pub flows: FlowTableConfig,
    /// Throughput bin length in nanoseconds (default 1 s).
    pub bin_ns: i64,
    /// Keep throughput series (reports); a daemon turns this off.
    pub series: bool,
    /// How long after its first packet (packet time) a flow's class may
    /// still change as evidence arrives (default 5 min).
    pub evidence_window_ns: i64,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            flows: FlowTableConfig::default(),
            bin_ns: 1_000_000_000,
            series: true,
            evidence_window_ns: 5 * 60 * 1_000_000_000,
        }
    }
}

/// Per-capture accounting: every frame's innermost level lands in exactly
/// one of flows, `non_ip` or `undecoded`; the outer levels of a tunnelled
/// frame are counted besides (`overlay_packets`, `mirror_packets`).
#[derive(Clone, Debug, Default)]
pub struct CaptureCounters {
    /// The capture's label (path, `-`, or a live interface).
    pub source: String,
    /// Frames seen.
    pub packets: u64,
    /// Wire bytes of those frames.
    pub bytes: u64,
    /// Non-IP frames (ARP, LLDP, STP…).
    pub non_ip: u64,
    /// Non-IP frames by capture interface (`None` = unnamed).
    pub non_ip_by_iface: BTreeMap<Option<IfaceRef>, u64>,
    /// Frames whose decoding stopped, by `layer: reason`.
    pub undecoded: BTreeMap<Stopped, u64>,
    /// Later IP fragments whose first fragment was not seen (own flow, no ports).
    pub orphan_fragments: u64,
    /// Outer packets of overlays (VXLAN, Geneve, NVGRE, GRE, IP in IP)
    /// counted in their `tunnel` flows, beside their inner packets; a frame
    /// nested twice counts twice.
    pub overlay_packets: u64,
    /// ERSPAN outer packets: mirror transport, counted here and in no flow.
    pub mirror_packets: u64,
    /// Their wire bytes.
    pub mirror_bytes: u64,
    /// Interfaces the capture names or its frames carry, in order of appearance.
    pub interfaces: Vec<IfaceRef>,
}

/// How long a first fragment's flow is remembered for its later fragments.
const FRAGMENT_TIMEOUT_NS: i64 = 30_000_000_000;
/// Most fragment trains remembered at once.
const FRAGMENT_CAP: usize = 65_536;

type FragKey = (IpAddr, IpAddr, u8, u32, TunnelId);

/// Where one level of a frame is counted: the frame's time and capture, and
/// this level's own bytes, NIC and tunnel.
#[derive(Clone, Copy, Debug)]
struct Level {
    ts: Timestamp,
    capture: CaptureId,
    wire_len: u32,
    iface: Option<IfaceRef>,
    tunnel: TunnelId,
}

/// Decode → flow table → evidence → classes → verdicts → series, with
/// per-capture accounting.
#[derive(Debug)]
pub struct Analyzer {
    table: FlowTable<FlowState>,
    captures: Vec<CaptureCounters>,
    iface_names: Vec<String>,
    iface_index: FxHashMap<String, IfaceRef>,
    ifindex_cache: FxHashMap<u32, IfaceRef>,
    /// `erspan:N` interface of each ERSPAN session seen.
    erspan_cache: FxHashMap<u32, IfaceRef>,
    /// Tunnels flows were carried in.
    tunnels: Tunnels,
    /// First fragment seen → its flow and direction, by (src, dst, proto, id).
    fragments: FxHashMap<FragKey, (FlowKey, Direction, Timestamp)>,
    policy: Policy,
    stats: Stats,
    knowledge: Knowledge,
    window_ns: i64,
    /// Dissectors that gave up, by (protocol, reason).
    gave_up: BTreeMap<(&'static str, &'static str), u64>,
    /// Reused buffer for the facts of one packet.
    facts: Vec<crate::evidence::Fact>,
    /// DNS answers of the current packet, for the DNS rules.
    answers: Vec<(crate::evidence::DnsAnswer, Timestamp)>,
    /// DNS answers that broke a rule (at most [`DNS_VIOLATIONS_CAP`]).
    dns_violations: Vec<DnsViolation>,
    /// DNS violations beyond the cap.
    dns_violations_dropped: u64,
}

/// Most DNS violations kept for a report.
const DNS_VIOLATIONS_CAP: usize = 100_000;

impl Analyzer {
    /// An empty analyzer with the empty policy (classes, no restrictions).
    pub fn new(cfg: AnalyzerConfig) -> Self {
        Self::with_policy(cfg, Policy::default())
    }

    /// An empty analyzer checking `policy`.
    pub fn with_policy(cfg: AnalyzerConfig, policy: Policy) -> Self {
        Analyzer {
            policy,
            stats: Stats::new(cfg.bin_ns, cfg.series),
            knowledge: Knowledge::new(cfg.flows.keep_finished),
            window_ns: cfg.evidence_window_ns,
            table: FlowTable::new(cfg.flows),
            captures: Vec::new(),
            iface_names: Vec::new(),
            iface_index: FxHashMap::default(),
            ifindex_cache: FxHashMap::default(),
            erspan_cache: FxHashMap::default(),
            tunnels: Tunnels::default(),
            fragments: FxHashMap::default(),
            gave_up: BTreeMap::new(),
            facts: Vec::new(),
            answers: Vec::new(),
            dns_violations: Vec::new(),
            dns_violations_dropped: 0,
        }
    }

    /// Registers a capture; frames are then observed with its id.
    pub fn add_capture(&mut self, source: &str) -> CaptureId {
        self.captures.push(CaptureCounters {
            source: source.to_string(),
            ..CaptureCounters::default()
        });
        CaptureId(self.captures.len() as u32 - 1)
    }

    /// Interns an interface name.
    pub fn intern_iface(&mut self, name: &str) -> IfaceRef {
        if let Some(r) = self.iface_index.get(name) {
            return *r;
        }
        let r = IfaceRef(self.iface_names.len() as u32);
        self.iface_names.push(name.to_string());
        self.iface_index.insert(name.to_string(), r);
        r
    }

    /// Records that `capture` has interface `iface` (even without frames).
    pub fn capture_has_iface(&mut self, capture: CaptureId, iface: IfaceRef) {
        if let Some(c) = self.captures.get_mut(capture.0 as usize) {
            if !c.interfaces.contains(&iface) {
                c.interfaces.push(iface);
            }
        }
    }

    /// The name of an interned interface.
    pub fn iface_name(&self, r: IfaceRef) -> &str {
        self.iface_names
            .get(r.0 as usize)
            .map_or("?", String::as_str)
    }

    /// Accounts one frame of `capture`, seen on `iface` (if named).
    /// Returns the class of the flow it joined (none for non-IP or
    /// undecoded frames).
    pub fn observe(
        &mut self,
        frame: &Frame<'_>,
        capture: CaptureId,
        iface: Option<IfaceRef>,
    ) -> Option<ClassId> {
        self.observe_slot(frame, capture, iface)
            .and_then(|s| s.ext.class)
    }

    /// Like [`Analyzer::observe`], returning the flow the frame joined, with
    /// its class and verdict, so a live caller (the daemon) can act on it at
    /// once. The caller may change `ext.mark`, and nothing else.
    pub fn observe_slot(
        &mut self,
        frame: &Frame<'_>,
        capture: CaptureId,
        iface: Option<IfaceRef>,
    ) -> Option<&mut Slot<FlowState>> {
        let meta = self.decode_counted(frame, capture, iface)?;
        let iface = match meta.ifindex {
            Some(ix) => Some(self.ifindex_iface(ix, capture)),
            None => iface,
        };
        let at = Level {
            ts: frame.ts,
            capture,
            wire_len: frame.wire_len,
            iface,
            tunnel: TunnelId::NONE,
        };
        if meta.tunnel_hint {
            return self.tunnelled(meta, at);
        }
        Some(self.packet(&meta, &at))
    }

    /// A frame with a tunnel: each level down to the innermost is counted
    /// (an overlay's outer packet in its `tunnel` flow, an ERSPAN one in
    /// the capture's mirror counters); the innermost flow is returned.
    #[cold]
    #[inline(never)]
    fn tunnelled<'a>(
        &mut self,
        mut meta: PacketMeta<'a>,
        mut at: Level,
    ) -> Option<&mut Slot<FlowState>> {
        let mut encap = decode::encapsulated(&meta);
        if meta.mpls {
            let mpls = Tunnel {
                kind: decode::TunnelKind::Mpls,
                id: None,
                outer: None,
                parent: TunnelId::NONE,
            };
            at.tunnel = self.tunnel_id(mpls, at.capture)?;
        }
        for depth in 0..=MAX_NESTING {
            let Some(e) = encap else {
                return Some(self.packet_cold(&meta, &at));
            };
            self.outer_level(&meta, &at, &e);
            if depth == MAX_NESTING {
                break;
            }
            meta = self.descend(&meta, &e, &mut at)?;
            encap = decode::encapsulated(&meta);
        }
        let deep = Stop::NotDecoded("nested deeper than 4 tunnels, not decoded");
        self.count_undecoded(at.capture, Layer::Tunnel, deep);
        None
    }

    /// Counts a tunnel's outer packet: mirror transport, or its overlay flow.
    fn outer_level(&mut self, meta: &PacketMeta<'_>, at: &Level, e: &Encap<'_>) {
        let Some(c) = self.captures.get_mut(at.capture.0 as usize) else {
            return;
        };
        if e.kind.is_mirror() {
            c.mirror_packets += 1;
            c.mirror_bytes += u64::from(at.wire_len);
        } else {
            c.overlay_packets += 1;
            self.packet_cold(meta, at);
        }
    }

    /// [`Analyzer::packet`] for tunnelled frames, so only the plain path
    /// has it inlined.
    #[inline(never)]
    fn packet_cold(&mut self, meta: &PacketMeta<'_>, at: &Level) -> &mut Slot<FlowState> {
        self.packet(meta, at)
    }

    /// Decodes the level inside `outer`, counting it if it is not an IP
    /// packet; `at` becomes that level's place (its bytes, its NIC: an
    /// ERSPAN session's `erspan:N`, else the NIC that carried the tunnel).
    fn descend<'a>(
        &mut self,
        outer: &PacketMeta<'a>,
        e: &Encap<'a>,
        at: &mut Level,
    ) -> Option<PacketMeta<'a>> {
        let iface = if e.kind.is_mirror() {
            e.id.map(|session| self.erspan_iface(session, at.capture))
        } else {
            at.iface
        };
        let m = match decode::inner(e) {
            Decoded::Packet(m) => m,
            Decoded::NonIp { .. } => {
                if let Some(c) = self.captures.get_mut(at.capture.0 as usize) {
                    c.non_ip += 1;
                    *c.non_ip_by_iface.entry(iface).or_insert(0) += 1;
                }
                return None;
            }
            Decoded::Stopped(s) => {
                self.count_undecoded(at.capture, s.layer, s.reason);
                return None;
            }
        };
        let tunnel = Tunnel {
            kind: e.kind,
            id: e.id,
            outer: Some((outer.src, outer.dst)),
            parent: at.tunnel,
        };
        let tunnel = self.tunnel_id(tunnel, at.capture)?;
        *at = Level {
            wire_len: e.wire_len,
            iface,
            tunnel,
            ..*at
        };
        Some(m)
    }

    /// The id of a tunnel, or (table full) `None` with the frame counted.
    fn tunnel_id(&mut self, t: Tunnel, capture: CaptureId) -> Option<TunnelId> {
        let id = self.tunnels.intern(t);
        if id.is_none() {
            let full = Stop::NotDecoded("more than 65536 tunnels tracked, not decoded");
            self.count_undecoded(capture, Layer::Tunnel, full);
        }
        id
    }

    fn count_undecoded(&mut self, capture: CaptureId, layer: Layer, reason: Stop) {
        if let Some(c) = self.captures.get_mut(capture.0 as usize) {
            *c.undecoded.entry(Stopped { layer, reason }).or_insert(0) += 1;
        }
    }

    /// Adds one IP packet to its flow, through every later stage.
    #[inline(always)]
    fn packet(&mut self, meta: &PacketMeta<'_>, at: &Level) -> &mut Slot<FlowState> {
        let (key, dir) = self.flow_key(meta, at);
        let update = PacketUpdate {
            ts: at.ts,
            dir,
            wire_len: at.wire_len,
            tcp_flags: meta.tcp_flags,
            iface: at.iface,
            vlans: &meta.vlans[..usize::from(meta.vlan_count)],
        };
        let (slot, created) = self.table.update(key, &update);
        let classifier = Classifier::new(&self.policy);
        if created {
            let on_link = at
                .iface
                .and_then(|i| self.iface_names.get(i.0 as usize))
                .and_then(|n| self.policy.interface_network(n));
            classify_new(slot, &classifier, &self.knowledge, &mut self.stats, on_link);
        }
        let tags = (meta.vlans, meta.vlan_count);
        count(slot, &mut self.stats, at.ts, (at.wire_len, at.iface, tags));
        // Flows no dissector reads (most bulk traffic) skip the stage.
        if slot.ext.open || slot.ext.probe.reading() {
            let mut stage = EvidenceStage {
                classifier: &classifier,
                knowledge: &mut self.knowledge,
                stats: &mut self.stats,
                gave_up: &mut self.gave_up,
                facts: &mut self.facts,
                window_ns: self.window_ns,
                answers: &mut self.answers,
            };
            stage.packet(slot, dir, meta, at.ts);
        }
        judge(slot, &self.policy, &self.iface_names);
        if !self.answers.is_empty() {
            let (client, server) = (slot.flow.src().0, slot.flow.dst().0);
            let found = check_answers(
                &self.policy,
                &mut self.answers,
                (client, server),
                at.capture,
            );
            for v in found {
                if self.dns_violations.len() < DNS_VIOLATIONS_CAP {
                    self.dns_violations.push(v);
                } else {
                    self.dns_violations_dropped += 1;
                }
            }
        }
        slot
    }

    /// Decodes a frame and counts it in its capture; `None` for frames
    /// that belong to no flow (non-IP, undecoded, unknown capture).
    #[inline(always)]
    fn decode_counted<'a>(
        &mut self,
        frame: &Frame<'a>,
        capture: CaptureId,
        iface: Option<IfaceRef>,
    ) -> Option<PacketMeta<'a>> {
        let c = self.captures.get_mut(capture.0 as usize)?;
        c.packets += 1;
        c.bytes += u64::from(frame.wire_len);
        match decode(frame) {
            Decoded::Packet(m) => Some(m),
            Decoded::NonIp { .. } => {
                c.non_ip += 1;
                *c.non_ip_by_iface.entry(iface).or_insert(0) += 1;
                None
            }
            Decoded::Stopped(s) => {
                *c.undecoded.entry(s).or_insert(0) += 1;
                None
            }
        }
    }

    /// The flow of a packet: its 5-tuple in its tunnel, or for a later IP
    /// fragment the flow of its first fragment.
    #[inline(always)]
    fn flow_key(&mut self, meta: &PacketMeta<'_>, at: &Level) -> (FlowKey, Direction) {
        let (key, dir) = match meta.fragment {
            Fragment::Later { id } => {
                let fk = (meta.src, meta.dst, meta.proto, id, at.tunnel);
                let fresh =
                    |seen: &Timestamp| at.ts.0.saturating_sub(seen.0) <= FRAGMENT_TIMEOUT_NS;
                match self.fragments.get(&fk).filter(|(_, _, seen)| fresh(seen)) {
                    Some((key, dir, _)) => return (*key, *dir),
                    None => {
                        if let Some(c) = self.captures.get_mut(at.capture.0 as usize) {
                            c.orphan_fragments += 1;
                        }
                        FlowKey::new(meta.proto, meta.src, 0, meta.dst, 0)
                    }
                }
            }
            _ => FlowKey::new(meta.proto, meta.src, meta.sport, meta.dst, meta.dport),
        };
        let key = key.in_tunnel(at.tunnel);
        if let Fragment::First { id } = meta.fragment {
            let fk = (meta.src, meta.dst, meta.proto, id, at.tunnel);
            self.remember_fragment(fk, key, dir, at.ts);
        }
        (key, dir)
    }

    /// The `erspan:N` interface of an ERSPAN session (it names the mirrored
    /// port, so `[interfaces]` can map it to a network).
    fn erspan_iface(&mut self, session: u32, capture: CaptureId) -> IfaceRef {
        let r = match self.erspan_cache.get(&session) {
            Some(r) => *r,
            None => {
                let r = self.intern_iface(&format!("erspan:{session}"));
                self.erspan_cache.insert(session, r);
                r
            }
        };
        self.capture_has_iface(capture, r);
        r
    }

    fn ifindex_iface(&mut self, ix: u32, capture: CaptureId) -> IfaceRef {
        if let Some(r) = self.ifindex_cache.get(&ix) {
            let r = *r;
            self.capture_has_iface(capture, r);
            return r;
        }
        let r = self.intern_iface(&format!("ifindex:{ix}"));
        self.ifindex_cache.insert(ix, r);
        self.capture_has_iface(capture, r);
        r
    }

    fn remember_fragment(&mut self, fk: FragKey, key: FlowKey, dir: Direction, ts: Timestamp) {
        if self.fragments.len() >= FRAGMENT_CAP {
            let deadline = ts.0.saturating_sub(FRAGMENT_TIMEOUT_NS);
            self.fragments.retain(|_, v| v.2 .0 >= deadline);
            if self.fragments.len() >= FRAGMENT_CAP {
                self.fragments.clear();
            }
        }
        self.fragments.insert(fk, (key, dir, ts));
    }

    /// Every flow with its state: removed ones first, then those still in
    /// the table.
    pub fn slots(&self) -> impl Iterator<Item = &Slot<FlowState>> {
        self.table.finished().iter().chain(self.table.active())
    }

    /// Every flow: removed ones first, then those still in the table.
    pub fn flows(&self) -> impl Iterator<Item = &Flow> {
        self.slots().map(|s| &s.flow)
    }

    /// Hands over (and forgets) the flows expired or evicted so far; a
    /// long-running caller calls this to keep memory bounded.
    pub fn take_finished(&mut self) -> Vec<Slot<FlowState>> {
        self.table.take_finished()
    }

    /// The state of a flow still in the table.
    pub fn slot_mut(&mut self, key: &FlowKey) -> Option<&mut Slot<FlowState>> {
        self.table.get_mut(key)
    }

    /// Per-capture accounting.
    pub fn captures(&self) -> &[CaptureCounters] {
        &self.captures
    }

    /// Flow-table counters (active, evicted, expired).
    pub fn flow_stats(&self) -> FlowTableStats {
        self.table.stats()
    }

    /// The tunnel a flow was carried in (`None` outside any tunnel).
    pub fn tunnel(&self, id: TunnelId) -> Option<&Tunnel> {
        self.tunnels.get(id)
    }

    /// The tunnel `id` and the tunnels that carried it, innermost first
    /// (empty for a flow in no tunnel). Nesting is bounded by the decoder.
    pub fn tunnel_chain(&self, id: TunnelId) -> Vec<Tunnel> {
        let mut chain: Vec<Tunnel> = Vec::new();
        let mut at = self.tunnel(id);
        while let Some(t) = at {
            chain.push(*t);
            at = self.tunnel(t.parent);
        }
        chain
    }

    /// The policy being checked.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Endpoints and SMB sessions learned from payloads.
    pub fn knowledge(&self) -> &Knowledge {
        &self.knowledge
    }

    /// DNS answers that broke a rule, in order, and how many more there were.
    pub fn dns_violations(&self) -> (&[DnsViolation], u64) {
        (&self.dns_violations, self.dns_violations_dropped)
    }

    /// Hands over (and forgets) the DNS violations so far (the daemon).
    pub fn take_dns_violations(&mut self) -> Vec<DnsViolation> {
        std::mem::take(&mut self.dns_violations)
    }

    /// Dissectors that gave up, by (protocol, reason).
    pub fn gave_up(&self) -> &BTreeMap<(&'static str, &'static str), u64> {
        &self.gave_up
    }

    /// The reason of a flow's class, as a sentence.
    pub fn reason(&self, slot: &Slot<FlowState>) -> String {
        describe(&self.policy, slot)
    }

    /// The throughput series of a (class, scope), if any packet fed it.
    pub fn series(&self, class: ClassId, scope: Scope) -> Option<&Series> {
        self.stats.series(class, scope)
    }

    /// Throughput bin length in nanoseconds.
    pub fn bin_ns(&self) -> i64 {
        self.stats.bin_ns()
    }

    /// Every (class, scope) with a series.
    pub fn series_keys(&self) -> impl Iterator<Item = &(ClassId, Scope)> {
        self.stats.keys()
    }

    /// Memory the analyzer holds beyond the flow table, in units that
    /// bound it: throughput bins, learned endpoints, SMB sessions,
    /// remembered fragment trains.
    pub fn retained(&self) -> Retained {
        Retained {
            bins: self.stats.retained_bins(),
            endpoints: self.knowledge.live_endpoints() + self.knowledge.history().len(),
            sessions: self.knowledge.sessions(),
            fragments: self.fragments.len(),
            finished_flows: self.table.finished().len(),
        }
    }
}

/// The reason of a flow's class under `policy`, as a sentence.
pub fn describe(policy: &Policy, slot: &Slot<FlowState>) -> String {
    match (&slot.ext.class, &slot.ext.reason) {
        (Some(class), Some(reason)) => Classifier::new(policy).describe(
            &crate::classify::Classification {
                class: *class,
                reason: reason.clone(),
            },
            &tuple(&slot.flow),
        ),
        _ => String::new(),
    }
}

/// The DNS rules on the answers one packet carried (the policy stage for
/// DNS): a violation per (answer, broken rule).
fn check_answers(
    policy: &Policy,
    answers: &mut Vec<(crate::evidence::DnsAnswer, Timestamp)>,
    (client, server): (IpAddr, IpAddr),
    capture: CaptureId,
) -> Vec<DnsViolation> {
    let mut out = Vec::new();
    for (a, time) in answers.drain(..) {
        for f in policy.check_dns(&a) {
            let (name, qtype) = a.query.clone().unwrap_or_default();
            let answers = a
                .resolve()
                .0
                .into_iter()
                .map(|(ip, ttl)| {
                    let net = policy
                        .network_of(ip)
                        .map_or("unknown", |n| policy.network_name(n));
                    (ip, net.to_string(), ttl)
                })
                .collect();
            out.push(DnsViolation {
                name,
                qtype,
                rcode: a.rcode,
                answers,
                server,
                client,
                time,
                capture,
                rule: f.rule,
                reason: f.reason,
            });
        }
    }
    out
}

/// What an analyzer holds beside its active flows (see [`Analyzer::retained`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retained {
    /// Throughput bins over every series.
    pub bins: usize,
    /// Learned RPC endpoints (live and listed).
    pub endpoints: usize,
    /// SMB sessions remembered.
    pub sessions: usize,
    /// IP fragment trains remembered.
    pub fragments: usize,
    /// Finished flows kept for the report.
    pub finished_flows: usize,
}

/// The flow's tuple with its initiator first.
pub(crate) fn tuple(f: &Flow) -> FlowTuple {
    let (src, sport) = f.src();
    let (dst, dport) = f.dst();
    FlowTuple {
        proto: f.key.proto,
        src,
        sport,
        dst,
        dport,
    }
}

/// A new flow's provisional class (ports, roles, learned endpoints), its
/// networks and the series it feeds. A flow between link-local addresses
/// (in no named network) is on the network of the NIC it was first seen on
/// (`on_link`): link-local means on that link.
fn classify_new(
    slot: &mut Slot<FlowState>,
    classifier: &Classifier<'_>,
    knowledge: &Knowledge,
    stats: &mut Stats,
    on_link: Option<NetId>,
) {
    let t = tuple(&slot.flow);
    let st = &mut slot.ext;
    st.learned = knowledge
        .endpoint(t.dst, t.proto, t.dport, slot.flow.first_seen)
        .map(|e| Box::new(e.clone()));
    let clues = Clues {
        learned: st.learned.as_deref(),
        ..Clues::default()
    };
    let c = classifier.classify(&t, &clues);
    let policy = classifier.policy();
    for a in [t.src, t.dst] {
        if let Some(n) = policy.network_of(a) {
            if !st.nets.contains(&Some(n)) {
                st.nets.push(Some(n));
            }
        }
    }
    if st.nets.is_empty() {
        let link_local = is_link_local(t.src) && is_link_local(t.dst);
        st.nets.push(on_link.filter(|_| link_local));
    }
    hook(st, c.class, stats);
    st.set(c);
    st.open = crate::evidence::stage::may_open(classifier, &t);
}

/// Points a flow's series hooks at `class`.
pub(crate) fn rehook(st: &mut FlowState, class: ClassId, stats: &mut Stats) {
    hook(st, class, stats);
}

fn hook(st: &mut FlowState, class: ClassId, stats: &mut Stats) {
    st.hooks.clear();
    st.iface_hooks.clear();
    st.vlan_hooks.clear();
    if !stats.enabled() {
        return;
    }
    st.hooks.push(stats.id(class, Scope::Class));
    for n in st.nets.clone() {
        st.hooks.push(stats.id(class, Scope::Network(n)));
    }
}

/// Counts one packet (wire length, interface, VLAN tags) in the flow's
/// series and its own (bounded) series, and in its own bins while its class
/// is open.
#[inline(always)]
fn count(
    slot: &mut Slot<FlowState>,
    stats: &mut Stats,
    ts: Timestamp,
    (wire_len, iface, tags): (u32, Option<IfaceRef>, crate::stats::Tags),
) {
    if !stats.enabled() {
        return;
    }
    let st = &mut slot.ext;
    let bin = stats.bin_of(ts);
    for &id in &st.hooks {
        stats.add(id, bin, wire_len);
    }
    st.own.add(bin, u64::from(wire_len));
    let class = st.class.unwrap_or(crate::class::CLIENT);
    let id = match st.iface_hooks.iter().find(|(i, _)| *i == iface) {
        Some((_, id)) => *id,
        None => {
            let id = stats.id(class, Scope::Interface(iface));
            st.iface_hooks.push((iface, id));
            id
        }
    };
    stats.add(id, bin, wire_len);
    for &v in &tags.0[..usize::from(tags.1)] {
        let id = match st.vlan_hooks.iter().find(|(x, _)| *x == v) {
            Some((_, id)) => *id,
            None => {
                let id = stats.id(class, Scope::Vlan(v));
                st.vlan_hooks.push((v, id));
                id
            }
        };
        stats.add(id, bin, wire_len);
    }
    if st.open {
        let full =
            !st.pending
                .get_or_insert_with(Box::default)
                .add(bin, iface, tags, u64::from(wire_len));
        if full {
            st.close();
        }
    }
}

/// The policy check stage: recomputed when the class or the NIC set changed.
#[inline(always)]
fn judge(slot: &mut Slot<FlowState>, policy: &Policy, iface_names: &[String]) {
    let Some(class) = slot.ext.class else { return };
    let key = (class, slot.flow.ifaces.len(), slot.flow.vlans.len());
    if slot.ext.verdict_for == Some(key) {
        return;
    }
    let vlans: Vec<u16> = slot.flow.vlans.iter().map(|v| v.vlan).collect();
    let names: Vec<&str> = slot
        .flow
        .ifaces
        .iter()
        .map(|s| {
            iface_names
                .get(s.iface.0 as usize)
                .map_or("?", String::as_str)
        })
        .collect();
    slot.ext.verdict =
        crate::policy::FlowVerdict::new(policy.check(class, &slot.ext.nets, &names, &vlans));
    slot.ext.verdict_for = Some(key);
}

pub(crate) use crate::evidence::stage::EvidenceStage;
