//! The analyzer: feeds decoded frames into the flow table and keeps the
//! per-capture accounting.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use capture::{Frame, Timestamp};

use crate::classify::{ClassId, Classifier, FlowTuple};
use crate::decode::{decode, Decoded, Fragment, Stopped};
use crate::flow::{
    Direction, Flow, FlowKey, FlowTable, FlowTableConfig, FlowTableStats, PacketUpdate,
};
use crate::policy::{NetId, Policy};
use crate::stats::Series;

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
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            flows: FlowTableConfig::default(),
            bin_ns: 1_000_000_000,
        }
    }
}

/// What a throughput series aggregates, within one class.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Scope {
    /// The whole class.
    Class,
    /// One network of the class (`None` = `unknown`).
    Network(Option<NetId>),
    /// One capture interface of the class (`None` = unnamed).
    Interface(Option<IfaceRef>),
}

/// Per-capture accounting: every frame lands in exactly one of flows,
/// `non_ip` or `undecoded`.
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
    /// Interfaces the capture names or its frames carry, in order of appearance.
    pub interfaces: Vec<IfaceRef>,
}

/// How long a first fragment's flow is remembered for its later fragments.
const FRAGMENT_TIMEOUT_NS: i64 = 30_000_000_000;
/// Most fragment trains remembered at once.
const FRAGMENT_CAP: usize = 65_536;

type FragKey = (IpAddr, IpAddr, u8, u32);

/// Decode → flow table, with per-capture accounting.
#[derive(Debug)]
pub struct Analyzer {
    table: FlowTable,
    captures: Vec<CaptureCounters>,
    iface_names: Vec<String>,
    iface_index: FxHashMap<String, IfaceRef>,
    ifindex_cache: FxHashMap<u32, IfaceRef>,
    /// First fragment seen → its flow and direction, by (src, dst, proto, id).
    fragments: FxHashMap<FragKey, (FlowKey, Direction, Timestamp)>,
    policy: Policy,
    bin_ns: i64,
    series: Vec<Series>,
    series_index: FxHashMap<(ClassId, Scope), u32>,
}

impl Analyzer {
    /// An empty analyzer with the empty policy (classes, no restrictions).
    pub fn new(cfg: AnalyzerConfig) -> Self {
        Self::with_policy(cfg, Policy::default())
    }

    /// An empty analyzer checking `policy`.
    pub fn with_policy(cfg: AnalyzerConfig, policy: Policy) -> Self {
        Analyzer {
            policy,
            bin_ns: cfg.bin_ns.max(1),
            series: Vec::new(),
            series_index: FxHashMap::default(),
            table: FlowTable::new(cfg.flows),
            captures: Vec::new(),
            iface_names: Vec::new(),
            iface_index: FxHashMap::default(),
            ifindex_cache: FxHashMap::default(),
            fragments: FxHashMap::default(),
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
        self.observe_flow(frame, capture, iface)
            .and_then(|f| f.tags.class)
    }

    /// Like [`Analyzer::observe`], returning the flow the frame joined so a
    /// live caller (the daemon) can judge it at once. The caller may update
    /// `tags.watch`, and nothing else.
    pub fn observe_flow(
        &mut self,
        frame: &Frame<'_>,
        capture: CaptureId,
        iface: Option<IfaceRef>,
    ) -> Option<&mut Flow> {
        let ci = capture.0 as usize;
        if ci >= self.captures.len() {
            return None;
        }
        {
            let c = &mut self.captures[ci];
            c.packets += 1;
            c.bytes += u64::from(frame.wire_len);
        }
        let meta = match decode(frame) {
            Decoded::Packet(m) => m,
            Decoded::NonIp { .. } => {
                let c = &mut self.captures[ci];
                c.non_ip += 1;
                *c.non_ip_by_iface.entry(iface).or_insert(0) += 1;
                return None;
            }
            Decoded::Stopped(s) => {
                *self.captures[ci].undecoded.entry(s).or_insert(0) += 1;
                return None;
            }
        };
        let iface = match meta.ifindex {
            Some(ix) => Some(self.ifindex_iface(ix, capture)),
            None => iface,
        };
        let (key, dir) = match meta.fragment {
            Fragment::Later { id } => {
                let fk = (meta.src, meta.dst, meta.proto, id);
                let fresh =
                    |seen: &Timestamp| frame.ts.0.saturating_sub(seen.0) <= FRAGMENT_TIMEOUT_NS;
                match self.fragments.get(&fk).filter(|(_, _, seen)| fresh(seen)) {
                    Some((key, dir, _)) => (*key, *dir),
                    None => {
                        self.captures[ci].orphan_fragments += 1;
                        FlowKey::new(meta.proto, meta.src, 0, meta.dst, 0)
                    }
                }
            }
            _ => FlowKey::new(meta.proto, meta.src, meta.sport, meta.dst, meta.dport),
        };
        if let Fragment::First { id } = meta.fragment {
            self.remember_fragment((meta.src, meta.dst, meta.proto, id), key, dir, frame.ts);
        }
        let update = PacketUpdate {
            ts: frame.ts,
            dir,
            wire_len: frame.wire_len,
            tcp_flags: meta.tcp_flags,
            iface,
            vlans: &meta.vlans[..usize::from(meta.vlan_count)],
            payload: meta.payload,
        };
        let flow = self.table.update(key, &update);
        if flow.tags.class.is_none() {
            tag_flow(
                flow,
                &self.policy,
                &mut self.series,
                &mut self.series_index,
                self.bin_ns,
            );
        }
        for &s in &flow.tags.series {
            self.series[s as usize].add(frame.ts, frame.wire_len);
        }
        let slot = match flow.tags.iface_series.iter().find(|(i, _)| *i == iface) {
            Some((_, s)) => *s,
            None => {
                let class = flow.tags.class.unwrap_or(crate::classify::class::CLIENT);
                let s = series_for(
                    &mut self.series,
                    &mut self.series_index,
                    self.bin_ns,
                    class,
                    Scope::Interface(iface),
                );
                flow.tags.iface_series.push((iface, s));
                s
            }
        };
        self.series[slot as usize].add(frame.ts, frame.wire_len);
        Some(flow)
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

    /// Every flow: removed ones first, then those still in the table.
    pub fn flows(&self) -> impl Iterator<Item = &Flow> {
        self.table.finished().iter().chain(self.table.active())
    }

    /// Hands over (and forgets) the flows expired or evicted so far; a
    /// long-running caller calls this to keep memory bounded.
    pub fn take_finished(&mut self) -> Vec<Flow> {
        self.table.take_finished()
    }

    /// Per-capture accounting.
    pub fn captures(&self) -> &[CaptureCounters] {
        &self.captures
    }

    /// Flow-table counters (active, evicted, expired).
    pub fn flow_stats(&self) -> FlowTableStats {
        self.table.stats()
    }

    /// The policy being checked.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The throughput series of a (class, scope), if any packet fed it.
    pub fn series(&self, class: ClassId, scope: Scope) -> Option<&Series> {
        self.series_index
            .get(&(class, scope))
            .and_then(|i| self.series.get(*i as usize))
    }

    /// Every (class, scope) with a series.
    pub fn series_keys(&self) -> impl Iterator<Item = &(ClassId, Scope)> {
        self.series_index.keys()
    }
}

fn series_for(
    series: &mut Vec<Series>,
    index: &mut FxHashMap<(ClassId, Scope), u32>,
    bin_ns: i64,
    class: ClassId,
    scope: Scope,
) -> u32 {
    *index.entry((class, scope)).or_insert_with(|| {
        series.push(Series::new(bin_ns));
        series.len() as u32 - 1
    })
}

/// Classifies a new flow and hooks it to its class and network series.
fn tag_flow(
    flow: &mut Flow,
    policy: &Policy,
    series: &mut Vec<Series>,
    index: &mut FxHashMap<(ClassId, Scope), u32>,
    bin_ns: i64,
) {
    let (src, sport) = flow.src();
    let (dst, dport) = flow.dst();
    let tuple = FlowTuple {
        proto: flow.key.proto,
        src,
        sport,
        dst,
        dport,
    };
    let c = Classifier::new(policy).classify(&tuple);
    let mut nets: Vec<Option<NetId>> = Vec::with_capacity(2);
    for a in [src, dst] {
        if let Some(n) = policy.network_of(a) {
            if !nets.contains(&Some(n)) {
                nets.push(Some(n));
            }
        }
    }
    if nets.is_empty() {
        nets.push(None);
    }
    let mut hooks = vec![series_for(series, index, bin_ns, c.class, Scope::Class)];
    for n in &nets {
        hooks.push(series_for(
            series,
            index,
            bin_ns,
            c.class,
            Scope::Network(*n),
        ));
    }
    flow.tags.class = Some(c.class);
    flow.tags.reason = c.reason;
    flow.tags.nets = nets;
    flow.tags.series = hooks;
}
