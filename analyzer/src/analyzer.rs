//! The analyzer: feeds decoded frames into the flow table and keeps the
//! per-capture accounting.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use capture::{Frame, Timestamp};

use crate::decode::{decode, Decoded, Fragment, Stopped};
use crate::flow::{
    Direction, Flow, FlowKey, FlowTable, FlowTableConfig, FlowTableStats, PacketUpdate,
};

/// An interned capture-interface name (index into [`Analyzer::iface_name`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct IfaceRef(pub u32);

/// A capture fed into the analyzer (index into [`Analyzer::captures`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct CaptureId(pub u32);

/// Settings of an [`Analyzer`].
#[derive(Clone, Copy, Debug, Default)]
pub struct AnalyzerConfig {
    /// Flow table limits.
    pub flows: FlowTableConfig,
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
}

impl Analyzer {
    /// An empty analyzer.
    pub fn new(cfg: AnalyzerConfig) -> Self {
        Analyzer {
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
    pub fn observe(&mut self, frame: &Frame<'_>, capture: CaptureId, iface: Option<IfaceRef>) {
        let ci = capture.0 as usize;
        if ci >= self.captures.len() {
            return;
        }
        {
            let c = &mut self.captures[ci];
            c.packets += 1;
            c.bytes += u64::from(frame.wire_len);
        }
        let meta = match decode(frame) {
            Decoded::Packet(m) => m,
            Decoded::NonIp { .. } => {
                self.captures[ci].non_ip += 1;
                return;
            }
            Decoded::Stopped(s) => {
                *self.captures[ci].undecoded.entry(s).or_insert(0) += 1;
                return;
            }
        };
        let iface = match meta.ifindex {
            Some(ix) => Some(self.ifindex_iface(ix, capture)),
            None => iface,
        };
        let (key, dir) = match meta.fragment {
            Fragment::Later { id } => {
                let fk = (meta.src, meta.dst, meta.proto, id);
                match self.fragments.get(&fk) {
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
        self.table.update(key, &update);
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

    /// Per-capture accounting.
    pub fn captures(&self) -> &[CaptureCounters] {
        &self.captures
    }

    /// Flow-table counters (active, evicted, expired).
    pub fn flow_stats(&self) -> FlowTableStats {
        self.table.stats()
    }
}
