//! The analyzer: one frame at a time through the stages, in one direction:
//! decode → flow table → evidence → classification → policy check → stats.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use capture::{Frame, LinkType, Producer, Timestamp};

use crate::class::ClassId;
use crate::classify::{Classifier, Clues, FlowTuple};
use crate::decode::{
    self, decode, Decoded, Encap, Fragment, Layer, PacketMeta, Stop, Stopped, MAX_NESTING,
};
use crate::dedup::{mislabelled_80211, Copies, Copy, Dedup, DedupMode};
use crate::evidence::learned::Knowledge;
use crate::flow::{
    Direction, Flow, FlowKey, FlowTable, FlowTableConfig, FlowTableStats, PacketUpdate, Slot,
    Tunnel, TunnelId, Tunnels,
};
use crate::policy::{is_link_local, NetId, Policy};
use crate::report::DnsViolation;
use crate::size::{Scale, Weight};
use crate::state::FlowState;
use crate::stats::{Counted, Scope, Series, Stats};

mod held;
mod reload;

pub use held::{Late, LateFrame, HELD_CAP};

/// An interned capture-interface name (index into [`Analyzer::iface_name`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct IfaceRef(pub u32);

/// A capture fed into the analyzer (index into [`Analyzer::captures`]).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// Whether copies of one packet are collapsed (`--dedup`).
    pub dedup: DedupMode,
    /// Once this many flows have left the table (0: never), those a report
    /// shows only as counts (classified, no violation, no fallback, no
    /// note) are folded into their class's totals and dropped, so memory
    /// stays bounded by `max_flows` and what the report must keep. The
    /// report is the same; [`Analyzer::slots`] no longer lists them.
    pub fold_every: usize,
    /// Keep what merging this run with runs over other captures needs: a
    /// digest of every flow, folded ones included
    /// ([`Analyzer::flow_digests`]), and the responder endpoints new flows
    /// looked up among learned ones ([`Analyzer::reach`]).
    pub merge_facts: bool,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            flows: FlowTableConfig::default(),
            bin_ns: 1_000_000_000,
            series: true,
            evidence_window_ns: 5 * 60 * 1_000_000_000,
            dedup: DedupMode::Auto,
            fold_every: 0,
            merge_facts: false,
        }
    }
}

/// Per-capture accounting: every frame's innermost level lands in exactly
/// one of flows, `non_ip`, `undecoded` or `duplicates`; the outer levels of
/// a tunnelled frame are counted besides (`overlay_packets`,
/// `mirror_packets`).
#[derive(Clone, Debug, Default)]
pub struct CaptureCounters {
    /// The capture's label (path, `-`, or a live interface).
    pub source: String,
    /// Who wrote it.
    pub producer: Producer,
    /// The application its section header names, verbatim.
    pub application: Option<String>,
    /// What copies of one packet are collapsed in it.
    pub copies: Copies,
    /// Frames seen.
    pub packets: u64,
    /// Wire bytes of those frames, as the file records them.
    pub bytes: u64,
    /// Later copies of a packet already counted (see `dedup`).
    pub duplicates: u64,
    /// Bytes counted for the packets that are not copies (`size`).
    pub unique_bytes: u64,
    /// pktmon's 802.11 frames labelled Ethernet, read as 802.11.
    pub mislabelled_80211: u64,
    /// Unique packets over 9216 bytes of IP, or LSOv2 (`size`).
    pub super_frames: u64,
    /// Unique packets whose size came partly from their IP header.
    pub estimated_packets: u64,
    /// Bytes counted for those.
    pub estimated_bytes: u64,
    /// Unique TCP packets repeating bytes counted within the copy window
    /// (counted, and flagged: a copy of another size or a retransmission).
    pub possible_copies: u64,
    /// Bytes counted for those.
    pub possible_copy_bytes: u64,
    /// Copies of pktmon's 802.11 frames are read as 802.11.
    pktmon: bool,
    /// How frames of this capture are weighed.
    scale: Scale,
    /// Non-IP frames (ARP, LLDP, STP…).
    pub non_ip: u64,
    /// Non-IP frames by capture interface (`None` = unnamed).
    pub non_ip_by_iface: BTreeMap<Option<IfaceRef>, u64>,
    /// Frames whose decoding stopped, by `layer: reason`.
    pub undecoded: BTreeMap<Stopped, u64>,
    /// Later IP fragments whose first fragment was not seen (own flow, no
    /// ports): within 30 s of packet time, before the capture ended.
    pub orphan_fragments: u64,
    /// Later IP fragments that came before their first fragment, held and
    /// counted in its flow when it came.
    pub reordered_fragments: u64,
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
    /// The `[hosts]` entry it was taken on, when known: its `HOST/KEY`
    /// `[interfaces]` keys apply to it (set before its interfaces are).
    pub node: Option<String>,
}

impl CaptureCounters {
    /// Adds the counters of another analyzer's share of the same capture
    /// (`audit --shard`). What describes the capture (its source, writer,
    /// copies, weighing) is the same in every share; interfaces are that
    /// analyzer's own interning: neither is added. Every field is named,
    /// so a counter added later cannot be forgotten here.
    pub fn add(&mut self, o: &CaptureCounters) {
        let CaptureCounters {
            source: _,
            producer: _,
            application: _,
            copies: _,
            pktmon: _,
            scale: _,
            non_ip_by_iface: _,
            interfaces: _,
            node: _,
            packets,
            bytes,
            duplicates,
            unique_bytes,
            mislabelled_80211,
            super_frames,
            estimated_packets,
            estimated_bytes,
            possible_copies,
            possible_copy_bytes,
            non_ip,
            undecoded,
            orphan_fragments,
            reordered_fragments,
            overlay_packets,
            mirror_packets,
            mirror_bytes,
        } = o;
        let sums = [
            (&mut self.packets, packets),
            (&mut self.bytes, bytes),
            (&mut self.duplicates, duplicates),
            (&mut self.unique_bytes, unique_bytes),
            (&mut self.mislabelled_80211, mislabelled_80211),
            (&mut self.super_frames, super_frames),
            (&mut self.estimated_packets, estimated_packets),
            (&mut self.estimated_bytes, estimated_bytes),
            (&mut self.possible_copies, possible_copies),
            (&mut self.possible_copy_bytes, possible_copy_bytes),
            (&mut self.non_ip, non_ip),
            (&mut self.orphan_fragments, orphan_fragments),
            (&mut self.reordered_fragments, reordered_fragments),
            (&mut self.overlay_packets, overlay_packets),
            (&mut self.mirror_packets, mirror_packets),
            (&mut self.mirror_bytes, mirror_bytes),
        ];
        for (mine, theirs) in sums {
            *mine += theirs;
        }
        for (k, v) in undecoded {
            *self.undecoded.entry(*k).or_insert(0) += v;
        }
    }
}

/// Every address of a policy host with several, to the host's first (the
/// first host naming it, in name order).
fn host_addresses(policy: &Policy) -> FxHashMap<IpAddr, IpAddr> {
    let mut out = FxHashMap::default();
    for addrs in policy.hosts.values().filter(|a| a.len() > 1) {
        for a in addrs {
            out.entry(*a).or_insert(addrs[0]);
        }
    }
    out
}

/// An address's bits folded to 64 and spread by MurmurHash3's finaliser.
fn spread(a: IpAddr) -> u64 {
    let x = match a {
        IpAddr::V4(v4) => u64::from(v4.to_bits()),
        IpAddr::V6(v6) => {
            let b = v6.to_bits();
            (b as u64) ^ ((b >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        }
    };
    let mut k = x ^ (x >> 33);
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// Most opening SYNs remembered to find connections captured twice.
pub const SYN_CAP: usize = 65_536;

/// A connection's opening SYN (`key`, `dir`, `seq`) in `capture`: one
/// another capture already held is the same connection captured twice
/// (a retransmitted SYN is in the capture of its first); true then.
/// Bounded: past [`SYN_CAP`] new SYNs are not remembered.
fn opened(
    (syns, unchecked): (&mut FxHashMap<u64, CaptureId>, &mut u64),
    twice: &mut BTreeMap<(ClassId, CaptureId, CaptureId), u64>,
    (key, dir, seq, capture, class): (&FlowKey, Direction, u32, CaptureId, Option<ClassId>),
) -> bool {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    (key, dir == Direction::LoToHi, seq).hash(&mut h);
    let digest = h.finish();
    match syns.get(&digest) {
        Some(&first) if first != capture => {
            if let Some(class) = class {
                *twice.entry((class, first, capture)).or_insert(0) += 1;
            }
            return true;
        }
        Some(_) => {}
        None if syns.len() < SYN_CAP => {
            syns.insert(digest, capture);
        }
        None => *unchecked += 1,
    }
    false
}

/// Marks a flow whose opening SYN came again in a later capture, with the
/// bytes it had counted before that SYN (the table counted the SYN
/// already: it is captured twice too).
fn mark_again(again: &mut FxHashMap<FlowKey, u64>, slot: &mut Slot<FlowState>, wire_len: u32) {
    if slot.ext.again {
        return;
    }
    slot.ext.again = true;
    let before = slot.flow.total_bytes().saturating_sub(u64::from(wire_len));
    again.insert(slot.flow.key, before);
}

/// A digest of a tunnel that does not depend on the run or the direction
/// of its first packet (outer endpoints unordered: another capture may see
/// the other way first).
fn tunnel_digest(t: &Tunnel) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    format!("{:?}", t.kind).hash(&mut h);
    t.id.hash(&mut h);
    t.outer.map(|(a, b)| (a.min(b), a.max(b))).hash(&mut h);
    h.finish()
}

/// What a run learned from its captures' payloads, and what its new flows
/// looked up: what decides whether runs over different captures add up to
/// one run over all of them (each part of it, conservatively).
#[derive(Clone, Debug, Default)]
pub struct Reach {
    /// RPC endpoints announced (server, protocol, port).
    pub learned: Vec<(IpAddr, u8, u16)>,
    /// `learned` lists every announcement (its cap was not reached).
    pub learned_all: bool,
    /// The responder endpoints (address, protocol, port) new flows looked
    /// up among the learned ones (every new flow looks).
    pub looked_up: rustc_hash::FxHashSet<(IpAddr, u8, u16)>,
    /// SMB sessions whose share paths were seen in clear (a path of one
    /// connection applies to another of the same session).
    pub smb_learned: Vec<crate::evidence::SessionKey>,
    /// SMB sessions another channel looked up.
    pub smb_looked_up: rustc_hash::FxHashSet<crate::evidence::SessionKey>,
    /// Neither SMB list lost an entry to its cap.
    pub smb_all: bool,
    /// Tunnels interned.
    pub tunnels: usize,
    /// Digests of the tunnels (kind, id, outer endpoints unordered): a
    /// tunnel two runs both saw is drawn with the first run's orientation
    /// in one run over both.
    pub tunnel_keys: rustc_hash::FxHashSet<u64>,
    /// Digests of the IP fragment trains whose later fragments came
    /// without their first seen before them (held for it, or orphans;
    /// `None`: too many to list).
    pub orphan_trains: Option<rustc_hash::FxHashSet<u64>>,
    /// Digests of the first fragments still remembered for later ones.
    pub open_trains: rustc_hash::FxHashSet<u64>,
    /// The most packets the copy stage remembered at once, and the most TCP
    /// directions it followed, over the captures (how close it came to
    /// its caps).
    pub copy_peaks: (usize, usize),
    /// The most flows the table held at once.
    pub flow_peak: usize,
    /// The most first fragments remembered at once.
    pub fragment_peak: usize,
    /// The most later fragments held at once for their first.
    pub held_peak: usize,
}

/// A set of digests that stops growing at 65,536 and then says so.
#[derive(Debug, Default)]
struct Bounded {
    set: rustc_hash::FxHashSet<u64>,
    overflowed: bool,
}

impl Bounded {
    fn note(&mut self, d: u64) {
        if self.set.len() < 65_536 {
            self.set.insert(d);
        } else {
            self.overflowed |= !self.set.contains(&d);
        }
    }

    fn get(&self) -> Option<rustc_hash::FxHashSet<u64>> {
        (!self.overflowed).then(|| self.set.clone())
    }
}

/// How long a first fragment's flow is remembered for its later fragments,
/// and later fragments that came first are held for it.
const FRAGMENT_TIMEOUT_NS: i64 = 30_000_000_000;
/// Most fragment trains remembered at once.
pub const FRAGMENT_CAP: usize = 65_536;

type FragKey = (IpAddr, IpAddr, u8, u32, TunnelId);

/// An overlay's inner packet with the VLAN tags of the outer frame that
/// carried it before its own (outermost first): it crossed those VLANs,
/// as it crossed the NIC. `None` when they are more than a level holds.
fn carried<'a>(outer: &PacketMeta<'_>, mut inner: PacketMeta<'a>) -> Option<PacketMeta<'a>> {
    let (o, i) = (usize::from(outer.vlan_count), usize::from(inner.vlan_count));
    if o == 0 {
        return Some(inner);
    }
    let mut tags = [0u16; 3];
    tags.get_mut(..o)?.copy_from_slice(outer.vlans.get(..o)?);
    tags.get_mut(o..o + i)?
        .copy_from_slice(inner.vlans.get(..i)?);
    inner.vlans = tags;
    inner.vlan_count = u8::try_from(o + i).ok()?;
    Some(inner)
}

/// What the copy and size stages said of a packet, for its flow.
#[derive(Clone, Copy, Debug, Default)]
struct Marks {
    possible_copy: bool,
    super_frame: bool,
}

/// Where one level of a frame is counted: the frame's time and capture, and
/// this level's own bytes, NIC and tunnel.
#[derive(Clone, Copy, Debug)]
struct Level {
    ts: Timestamp,
    capture: CaptureId,
    wire_len: u32,
    iface: Option<IfaceRef>,
    tunnel: TunnelId,
    /// The frame's captured length (every level's: the snaplen cut the frame).
    caplen: u32,
}

/// Decode → flow table → evidence → classes → verdicts → series, with
/// per-capture accounting.
#[derive(Debug)]
pub struct Analyzer {
    table: FlowTable<FlowState>,
    /// Finished flows folded into their class's totals (`fold_every`).
    pub(crate) retired: crate::report::Retired,
    fold_every: usize,
    /// Finished flows a fold kept (the report shows each), in order; apart
    /// from the table's finished list, so they are never scanned again.
    kept: Vec<Slot<FlowState>>,
    /// Folds done (see [`Analyzer::folds`]).
    folds: u64,
    /// Digests of the folded flows, when `merge_facts` asks for them.
    folded_digests: Option<Vec<u64>>,
    /// Digests of the fragment trains whose first fragment was not seen.
    orphans: Bounded,
    /// `AnalyzerConfig::merge_facts`.
    merge_facts: bool,
    /// Responder endpoints new flows looked up (`merge_facts`).
    looked_up: Option<rustc_hash::FxHashSet<(IpAddr, u8, u16)>>,
    captures: Vec<CaptureCounters>,
    nics: crate::nics::Nics,
    ifindex_cache: FxHashMap<(u32, u32), IfaceRef>,
    /// `erspan:N` interface of each ERSPAN session seen.
    erspan_cache: FxHashMap<u32, IfaceRef>,
    /// Tunnels flows were carried in.
    tunnels: Tunnels,
    /// First fragment seen → its flow and direction, by (src, dst, proto, id).
    fragments: FxHashMap<FragKey, (FlowKey, Direction, Timestamp)>,
    /// Most first fragments remembered at once.
    fragment_peak: usize,
    /// Later fragments that came before their first.
    held: held::Held,
    /// Each address of a policy host with several, to its first
    /// ([`Analyzer::shard_key`]).
    host_of: FxHashMap<IpAddr, IpAddr>,
    policy: Policy,
    dedup: Dedup,
    stats: Stats,
    knowledge: Knowledge,
    window_ns: i64,
    /// Dissectors that gave up, by (protocol, reason).
    gave_up: BTreeMap<(&'static str, crate::evidence::Counted), u64>,
    /// Reused buffer for the facts of one packet.
    facts: Vec<crate::evidence::Fact>,
    /// DNS answers of the current packet, for the DNS rules.
    answers: Vec<(crate::evidence::DnsAnswer, Timestamp)>,
    /// DNS answers that broke a rule (at most [`DNS_VIOLATIONS_CAP`]).
    dns_violations: Vec<DnsViolation>,
    /// DNS violations beyond the cap.
    dns_violations_dropped: u64,
    /// The frame (of [`Analyzer::frames_read`]) each kept DNS violation
    /// came from.
    dns_violation_frames: Vec<u64>,
    /// Opening SYNs seen (digest of flow key, direction and sequence
    /// number) → the capture they were first in; at most [`SYN_CAP`].
    syns: FxHashMap<u64, CaptureId>,
    /// Opening SYNs not remembered: the table was full.
    syns_unchecked: u64,
    /// The bytes a flow had counted when its opening SYN came again in a
    /// later capture (flows marked `again`; one per connection captured
    /// twice, at most [`SYN_CAP`] of them).
    again: FxHashMap<FlowKey, u64>,
    /// Connections whose SYN a later capture repeated: (class, first
    /// capture, again) → how many.
    twice: BTreeMap<(ClassId, CaptureId, CaptureId), u64>,
    /// Frames observed or passed: what stamps the names' journal.
    frames_read: u64,
}

/// Most DNS violations kept for a report.
pub const DNS_VIOLATIONS_CAP: usize = 100_000;

impl Analyzer {
    /// An empty analyzer with the empty policy (classes, no restrictions).
    pub fn new(cfg: AnalyzerConfig) -> Self {
        Self::with_policy(cfg, Policy::default())
    }

    /// An empty analyzer checking `policy`.
    pub fn with_policy(cfg: AnalyzerConfig, policy: Policy) -> Self {
        let host_of = host_addresses(&policy);
        Analyzer {
            retired: crate::report::Retired::default(),
            fold_every: cfg.fold_every,
            kept: Vec::new(),
            folds: 0,
            folded_digests: cfg.merge_facts.then(Vec::new),
            looked_up: cfg.merge_facts.then(Default::default),
            orphans: Bounded::default(),
            merge_facts: cfg.merge_facts,
            policy,
            dedup: Dedup::new(cfg.dedup),
            stats: Stats::new(cfg.bin_ns, cfg.series),
            knowledge: Knowledge::new(cfg.flows.keep_finished),
            window_ns: cfg.evidence_window_ns,
            table: FlowTable::new(cfg.flows),
            captures: Vec::new(),
            nics: crate::nics::Nics::default(),
            ifindex_cache: FxHashMap::default(),
            erspan_cache: FxHashMap::default(),
            tunnels: Tunnels::default(),
            fragments: FxHashMap::default(),
            fragment_peak: 0,
            held: held::Held::default(),
            host_of,
            gave_up: BTreeMap::new(),
            facts: Vec::new(),
            answers: Vec::new(),
            dns_violations: Vec::new(),
            dns_violations_dropped: 0,
            dns_violation_frames: Vec::new(),
            syns: FxHashMap::default(),
            syns_unchecked: 0,
            again: FxHashMap::default(),
            twice: BTreeMap::new(),
            frames_read: 0,
        }
    }

    /// Registers a capture; frames are then observed with its id.
    /// Idle expiry follows each capture's own packet clock (see
    /// [`FlowTable::restart_clock`]); live captures are all added before
    /// their first packet and share one clock.
    pub fn add_capture(&mut self, source: &str) -> CaptureId {
        self.table.restart_clock();
        self.captures.push(CaptureCounters {
            source: source.to_string(),
            ..CaptureCounters::default()
        });
        CaptureId(self.captures.len() as u32 - 1)
    }

    /// Tells the analyzer who wrote `capture` (its `shb_userappl` verbatim)
    /// and how many interfaces it has described so far: this decides what
    /// copies are collapsed in it (`--dedup auto`), whether pktmon's 802.11
    /// frames are recognised and whether cut frames are sized from their IP
    /// header. Called again as interfaces appear.
    pub fn set_source(
        &mut self,
        capture: CaptureId,
        producer: Producer,
        application: Option<&str>,
        interfaces: usize,
    ) {
        let copies = self.dedup.configure(capture, producer, interfaces);
        if let Some(c) = self.captures.get_mut(capture.0 as usize) {
            c.producer = producer;
            c.application = application.map(str::to_string);
            c.copies = copies;
            c.pktmon = producer == Producer::Pktmon;
            c.scale = Scale {
                lossy: matches!(
                    producer,
                    Producer::Pktmon | Producer::Etl2Pcapng | Producer::Etl2PcapngPktmon
                ),
            };
        }
    }

    /// Copies of `capture`'s packets forgotten before their window ended
    /// (the copy table's cap): each may have been counted twice.
    pub fn copy_overflow(&self, capture: CaptureId) -> u64 {
        self.dedup.overflow(capture)
    }

    /// Says which `[hosts]` entry `capture` was taken on (a name the
    /// policy's hosts have, see [`Policy::host_named`]): its `HOST/KEY`
    /// `[interfaces]` keys then apply to its interfaces. Call it before
    /// any of its interfaces is registered.
    pub fn set_node(&mut self, capture: CaptureId, node: Option<&str>) {
        let node = node
            .and_then(|n| self.policy.host_named(n))
            .map(str::to_string);
        if let Some(c) = self.captures.get_mut(capture.0 as usize) {
            c.node = node;
        }
    }

    /// The `[hosts]` entry `capture` was taken on, if known.
    pub fn node(&self, capture: CaptureId) -> Option<&str> {
        self.captures
            .get(capture.0 as usize)
            .and_then(|c| c.node.as_deref())
    }

    /// Interns an interface of `capture` known by its name only (a live
    /// NIC, a `PATH=NAME`), with the network its `[interfaces]` key gives
    /// it on the capture's host.
    pub fn intern_iface(&mut self, capture: CaptureId, name: &str) -> IfaceRef {
        let node = self.node(capture).map(str::to_string);
        self.nics.intern(&self.policy, name, node.as_deref())
    }

    /// Registers interface `i` of `capture` as its file describes it (name,
    /// description, MAC): interned under its most readable name, with the
    /// network of the best `[interfaces]` key naming it (any of the forms
    /// Windows tools write); `None` when it has no name at all.
    pub fn register_interface(
        &mut self,
        capture: CaptureId,
        i: &capture::Interface,
    ) -> Option<IfaceRef> {
        let siblings = self
            .captures
            .get(capture.0 as usize)
            .map(|c| c.interfaces.clone())
            .unwrap_or_default();
        let node = self.node(capture).map(str::to_string);
        let r = self
            .nics
            .register(&self.policy, (capture, node.as_deref()), i, &siblings)?;
        self.capture_has_iface(capture, r);
        Some(r)
    }

    /// Records that `capture` has interface `iface` (even without frames).
    pub fn capture_has_iface(&mut self, capture: CaptureId, iface: IfaceRef) {
        if let Some(c) = self.captures.get_mut(capture.0 as usize) {
            if !c.interfaces.contains(&iface) {
                c.interfaces.push(iface);
                let node = c.node.as_deref();
                self.nics.seen_in(&self.policy, (capture, node), iface);
            }
        }
    }

    /// The name of an interned interface.
    pub fn iface_name(&self, r: IfaceRef) -> &str {
        self.nics.name(r)
    }

    /// The network an interned interface is attached to (`[interfaces]`).
    pub fn iface_network(&self, r: IfaceRef) -> Option<NetId> {
        self.nics.net(r)
    }

    /// What the `[interfaces]` keys matched (see [`crate::nics::NicFindings`]): keys matching no
    /// interface of any capture, or several of one capture, and interfaces
    /// matched by keys of different networks.
    pub fn nic_findings(&self) -> crate::nics::NicFindings {
        self.nics.findings(&self.policy, |c| {
            self.captures
                .get(c.0 as usize)
                .map_or_else(|| "?".to_string(), |x| x.source.clone())
        })
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
    /// once. The caller may change `ext.mark`, and nothing else. A later IP
    /// fragment that came before its first joins no flow yet: a caller
    /// that follows frames to their flows uses [`Analyzer::observe_late`].
    pub fn observe_slot(
        &mut self,
        frame: &Frame<'_>,
        capture: CaptureId,
        iface: Option<IfaceRef>,
    ) -> Option<&mut Slot<FlowState>> {
        self.observe_late(frame, capture, iface, &mut ())
    }

    /// [`Analyzer::observe_slot`], telling `late` of every earlier frame
    /// counted in a flow during this call (later IP fragments held for
    /// their first fragment: see [`Late`]).
    pub fn observe_late(
        &mut self,
        frame: &Frame<'_>,
        capture: CaptureId,
        iface: Option<IfaceRef>,
        late: &mut dyn Late,
    ) -> Option<&mut Slot<FlowState>> {
        if self.fold_every > 0 && self.table.finished().len() >= self.fold_every {
            self.fold_finished();
        }
        self.table.tick(frame.ts);
        self.expire_held(frame.ts, late);
        self.frames_read += 1;
        self.knowledge.stamp(self.frames_read);
        let (meta, frame, weight) = self.decode_counted(frame, capture, iface)?;
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
            caplen: u32::try_from(frame.data.len()).unwrap_or(u32::MAX),
        };
        match self.dedup.check(capture, frame.ts, iface, &meta) {
            Copy::First { possible_copy } => {
                self.count_unique(capture, weight, possible_copy);
                if meta.tunnel_hint {
                    return self.tunnelled(meta, at, late);
                }
                let marks = Marks {
                    possible_copy,
                    super_frame: weight.super_frame,
                };
                self.packet(&meta, &at, marks, late)
            }
            copy => self.observe_copy(&meta, &at, copy, late),
        }
    }

    /// Which share of a capture's flows `frame` falls in when several
    /// analyzers split one capture (`audit --shard`): a digest of the
    /// addresses of its outermost IP header, the same both ways, so every
    /// packet of a flow, every fragment of a packet and every copy of one
    /// (copies share addresses) has the same; none for a frame with no IP.
    /// The link layer is read as [`Analyzer::observe_slot`] reads it
    /// (pktmon's 802.11 frames included) and the addresses are those its
    /// decode gives ([`decode::addresses`]), so a flow's frames agree; a
    /// frame it cannot decode counts in whichever share takes it.
    pub fn shard_key(&self, frame: &Frame<'_>, capture: CaptureId) -> Option<u64> {
        let mut frame = *frame;
        let pktmon = self
            .captures
            .get(capture.0 as usize)
            .is_some_and(|c| c.pktmon);
        if pktmon && frame.link == LinkType::ETHERNET && mislabelled_80211(frame.data).is_some() {
            frame.link = LinkType::IEEE802_11;
        }
        let (src, dst) = decode::addresses(&frame)?;
        // A multi-homed host is one place: a DCOM binding names its backup
        // address to a client that asked on the primary one.
        let host = |a: IpAddr| self.host_of.get(&a).copied().unwrap_or(a);
        let (src, dst) = match self.host_of.is_empty() {
            true => (src, dst),
            false => (host(src), host(dst)),
        };
        // A sum is the same both ways; each address spread over every bit
        // first (neighbouring addresses must not land in one share).
        Some(spread(src).wrapping_add(spread(dst)))
    }

    /// Flows in the table now.
    pub fn active_flows(&self) -> usize {
        self.table.len()
    }

    /// Whether the flow of `key` is in the table now.
    pub fn holds_flow(&self, key: &FlowKey) -> bool {
        self.table.holds(key)
    }

    /// The keys of the flows in the table now.
    pub fn active_flow_keys(&self) -> impl Iterator<Item = FlowKey> + '_ {
        self.table.active().map(|s| s.flow.key)
    }

    /// Tunnels interned so far.
    pub fn tunnels_seen(&self) -> usize {
        self.tunnels.len()
    }

    /// A frame another analyzer takes (`audit --shard`): here only its
    /// time counts, on the expiry clock every frame of a capture moves, so
    /// each share's flows expire when one analyzer's would; and the
    /// interface a Linux cooked (SLL2) frame names, which one analyzer
    /// meets as it decodes the frame, so every share lists the capture's
    /// interfaces in one analyzer's order. Held fragments given up at its
    /// time are told to `late`.
    pub fn pass(&mut self, frame: &Frame<'_>, capture: CaptureId, late: &mut dyn Late) {
        self.table.tick(frame.ts);
        self.expire_held(frame.ts, late);
        self.frames_read += 1;
        if frame.link == LinkType::LINUX_SLL2 && !self.sll2_iface_known(frame, capture) {
            if let Decoded::Packet(PacketMeta {
                ifindex: Some(ix), ..
            }) = decode(frame)
            {
                self.ifindex_iface(ix, capture);
            }
        }
    }

    /// Whether the interface a Linux cooked (SLL2) frame names (its
    /// ifindex, bytes 4..8) is one `capture` already lists: the frame then
    /// registers nothing, and [`Analyzer::pass`] need not decode it.
    fn sll2_iface_known(&self, frame: &Frame<'_>, capture: CaptureId) -> bool {
        let Some(ix) = decode::sll2_ifindex(frame.data) else {
            return false;
        };
        let listed = |r: &IfaceRef| {
            self.captures
                .get(capture.0 as usize)
                .is_some_and(|c| c.interfaces.contains(r))
        };
        self.ifindex_cache
            .get(&(ix, self.node_scope(capture)))
            .is_some_and(listed)
    }

    /// Which captures share an interface index's network: all of them,
    /// unless `HOST/KEY` keys may give it another network on the host
    /// `capture` was taken on (then that capture's own).
    fn node_scope(&self, capture: CaptureId) -> u32 {
        match self.node(capture) {
            Some(_) if self.policy.has_host_keys() => capture.0,
            _ => u32::MAX,
        }
    }

    /// What a flow marked `again` counted from a later capture of its
    /// connection.
    pub(crate) fn twice_bytes(&self, slot: &Slot<FlowState>) -> u64 {
        if !slot.ext.again {
            return 0;
        }
        let before = self.again.get(&slot.flow.key).copied().unwrap_or(0);
        slot.flow.total_bytes().saturating_sub(before)
    }

    /// SYNs the full table did not remember, when there were captures for
    /// them to be in twice.
    pub(crate) fn syns_unchecked(&self) -> u64 {
        if self.captures.len() > 1 {
            self.syns_unchecked
        } else {
            0
        }
    }

    /// Connections captured twice, by class and pair of captures.
    pub(crate) fn twice(&self) -> Vec<crate::findings::Twice> {
        let name = |c: CaptureId| {
            self.captures
                .get(c.0 as usize)
                .map_or_else(String::new, |c| c.source.clone())
        };
        self.twice
            .iter()
            .map(|(&(class, first, again), &n)| crate::findings::Twice {
                order: class.0,
                class: self.policy.class_name(class).to_string(),
                first: name(first),
                again: name(again),
                connections: n,
            })
            .collect()
    }

    /// Frames observed or passed so far.
    pub fn frames_read(&self) -> u64 {
        self.frames_read
    }

    /// From now on, keep a journal of what changes the DNS names (see
    /// [`crate::evidence::names::Journal`]): analyzers that each read part
    /// of the traffic report with the names one analyzer would have.
    pub fn keep_names_journal(&mut self) {
        self.knowledge.names.keep_journal();
    }

    /// Whether the names' journal has given up (past its cap).
    pub fn names_journal_full(&self) -> bool {
        self.knowledge.names.journal_full()
    }

    /// Hands over the names' journal (none unless kept).
    pub fn take_names_journal(&mut self) -> Option<crate::evidence::names::Journal> {
        self.knowledge.names.take_journal()
    }

    /// Reports from now on with `names` (those one analyzer of all the
    /// traffic would hold, replayed from every part's journal).
    pub fn set_names(&mut self, names: crate::evidence::names::Names) {
        self.knowledge.names = names;
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
        late: &mut dyn Late,
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
                return self.packet_cold(&meta, &at, late);
            };
            self.outer_level(&meta, &at, &e, late);
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
    fn outer_level(
        &mut self,
        meta: &PacketMeta<'_>,
        at: &Level,
        e: &Encap<'_>,
        late: &mut dyn Late,
    ) {
        let Some(c) = self.captures.get_mut(at.capture.0 as usize) else {
            return;
        };
        if e.kind.is_mirror() {
            c.mirror_packets += 1;
            c.mirror_bytes += u64::from(at.wire_len);
        } else {
            c.overlay_packets += 1;
            self.packet_cold(meta, at, late);
        }
    }

    /// [`Analyzer::packet`] for tunnelled frames, so only the plain path
    /// has it inlined.
    #[inline(never)]
    fn packet_cold(
        &mut self,
        meta: &PacketMeta<'_>,
        at: &Level,
        late: &mut dyn Late,
    ) -> Option<&mut Slot<FlowState>> {
        self.packet(meta, at, Marks::default(), late)
    }

    /// Decodes the level inside `outer`, counting it if it is not an IP
    /// packet; `at` becomes that level's place (its bytes, its NIC: an
    /// ERSPAN session's `erspan:N`, else the NIC that carried the tunnel,
    /// and then the outer VLAN tags too: [`carried`]).
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
            Decoded::Packet(m) if e.kind.is_mirror() => m,
            Decoded::Packet(m) => match carried(outer, m) {
                Some(m) => m,
                None => {
                    let many = Stop::NotDecoded(
                        "more than 3 VLAN tags outside and inside a tunnel, not decoded",
                    );
                    self.count_undecoded(at.capture, Layer::Link, many);
                    return None;
                }
            },
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

    /// Adds one IP packet to its flow, through every later stage; a later
    /// fragment whose first has not come is held instead (`None`), and a
    /// first fragment brings the later ones held for it into its flow.
    #[inline(always)]
    fn packet(
        &mut self,
        meta: &PacketMeta<'_>,
        at: &Level,
        marks: Marks,
        late: &mut dyn Late,
    ) -> Option<&mut Slot<FlowState>> {
        let Some((key, dir)) = self.flow_key(meta, at) else {
            self.hold(meta, at, marks, late);
            return None;
        };
        if let Fragment::First { id } = meta.fragment {
            let fk = (meta.src, meta.dst, meta.proto, id, at.tunnel);
            if self.held.holds(&fk) {
                // The first fragment first, then those that came before it,
                // each at its own time.
                self.enter(meta, at, marks, (key, dir));
                self.claim(&fk, (key, dir), late);
                return self.table.get_mut(&key);
            }
        }
        Some(self.enter(meta, at, marks, (key, dir)))
    }

    /// [`Analyzer::packet`] once the packet's flow is known.
    #[inline(always)]
    fn enter(
        &mut self,
        meta: &PacketMeta<'_>,
        at: &Level,
        marks: Marks,
        (key, dir): (FlowKey, Direction),
    ) -> &mut Slot<FlowState> {
        let update = PacketUpdate {
            ts: at.ts,
            dir,
            wire_len: at.wire_len,
            tcp_flags: meta.tcp_flags,
            tcp_seq: meta.tcp_seq,
            iface: at.iface,
            vlans: &meta.vlans[..usize::from(meta.vlan_count)],
        };
        let (slot, created) = self.table.update(key, &update);
        slot.ext.copy = false;
        let classifier = Classifier::new(&self.policy);
        if created {
            let on_link = at.iface.and_then(|i| self.nics.net(i));
            let about = meta.icmp_quoted.and_then(crate::decode::quoted_tuple);
            let new = NewFlow { on_link, about };
            let seen = self.looked_up.as_mut();
            classify_new(
                slot,
                &classifier,
                &self.knowledge,
                &mut self.stats,
                seen,
                new,
            );
        }
        if marks.possible_copy {
            slot.ext.possible_copy_bytes += u64::from(at.wire_len);
        }
        if meta.tcp_flags & (decode::tcp_flags::SYN | decode::tcp_flags::ACK)
            == decode::tcp_flags::SYN
        {
            let opening = (&key, dir, meta.tcp_seq, at.capture, slot.ext.class);
            let syns = (&mut self.syns, &mut self.syns_unchecked);
            if opened(syns, &mut self.twice, opening) {
                mark_again(&mut self.again, slot, at.wire_len);
            }
        }
        slot.ext.super_frames += u32::from(marks.super_frame);
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
                caplen: at.caplen,
            };
            stage.packet(slot, dir, meta, at.ts);
        }
        judge(slot, &self.policy, &self.nics);
        if !self.answers.is_empty() {
            let ends = (slot.flow.src().0, slot.flow.dst().0);
            let found = check_answers(&self.policy, &mut self.answers, ends, at.capture);
            let before = self.dns_violations.len();
            keep_dns_violations(
                &mut self.dns_violations,
                &mut self.dns_violations_dropped,
                found,
            );
            let kept = self.dns_violations.len() - before;
            let frame = self.frames_read;
            self.dns_violation_frames
                .extend(std::iter::repeat_n(frame, kept));
        }
        slot
    }

    /// A later copy of a packet: counted as a duplicate; when it was seen
    /// on a place its packet was not credited to yet (another NIC, another
    /// VLAN tag), that place is added to the flow, with its bytes there.
    /// A copy of a tunnelled frame is a duplicate only; a copy of a later
    /// fragment held for its first is held with it.
    fn observe_copy(
        &mut self,
        meta: &PacketMeta<'_>,
        at: &Level,
        copy: Copy,
        late: &mut dyn Late,
    ) -> Option<&mut Slot<FlowState>> {
        if let Some(c) = self.captures.get_mut(at.capture.0 as usize) {
            c.duplicates += 1;
        }
        let Copy::Place { iface: new, vlans } = copy else {
            return None;
        };
        if meta.tunnel_hint {
            return None;
        }
        let iface = at.iface.filter(|_| new);
        if let Fragment::Later { id } = meta.fragment {
            let fk = (meta.src, meta.dst, meta.proto, id, TunnelId::NONE);
            if self.held.holds(&fk) {
                let part = held::Part::place(self.frames_read - 1, at, iface, vlans);
                self.hold_part(fk, part, late);
                return None;
            }
        }
        let key = self.copy_flow_key(meta);
        let update = PacketUpdate {
            ts: at.ts,
            dir: crate::flow::Direction::LoToHi,
            wire_len: at.wire_len,
            tcp_flags: 0,
            tcp_seq: 0,
            iface,
            vlans: &vlans.0[..usize::from(vlans.1)],
        };
        let slot = self.table.add_place(&key, &update)?;
        slot.ext.copy = true;
        count_place(slot, &mut self.stats, at.ts, (at.wire_len, iface, vlans));
        judge(slot, &self.policy, &self.nics);
        Some(slot)
    }

    /// Counts what the size stage said of a packet that is not a copy.
    fn count_unique(&mut self, capture: CaptureId, w: Weight, possible_copy: bool) {
        let Some(c) = self.captures.get_mut(capture.0 as usize) else {
            return;
        };
        let len = u64::from(w.len);
        c.unique_bytes += len;
        c.super_frames += u64::from(w.super_frame);
        if w.estimated {
            c.estimated_packets += 1;
            c.estimated_bytes += len;
        }
        if possible_copy {
            c.possible_copies += 1;
            c.possible_copy_bytes += len;
        }
    }

    /// Counts a frame in its capture, reads pktmon's mis-labelled 802.11
    /// copies as 802.11, decodes it and weighs it; `None` for frames that
    /// belong to no flow (non-IP, undecoded, unknown capture). The frame
    /// returned carries the counted length as its `wire_len`.
    #[inline(always)]
    fn decode_counted<'a>(
        &mut self,
        frame: &Frame<'a>,
        capture: CaptureId,
        iface: Option<IfaceRef>,
    ) -> Option<(PacketMeta<'a>, Frame<'a>, Weight)> {
        let c = self.captures.get_mut(capture.0 as usize)?;
        c.packets += 1;
        c.bytes += u64::from(frame.wire_len);
        let mut frame = *frame;
        let mut wifi = 0;
        if c.pktmon && frame.link == LinkType::ETHERNET {
            if let Some(headers) = mislabelled_80211(frame.data) {
                frame.link = LinkType::IEEE802_11;
                wifi = u32::try_from(headers).unwrap_or(0);
                c.mislabelled_80211 += 1;
            }
        }
        match decode(&frame) {
            Decoded::Packet(m) => {
                let w = crate::size::weigh(&frame, &m, c.scale, wifi);
                frame.wire_len = w.len;
                Some((m, frame, w))
            }
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
    /// fragment the flow of its first fragment (`None`: not seen within
    /// the timeout, so not known yet).
    #[inline(always)]
    fn flow_key(&mut self, meta: &PacketMeta<'_>, at: &Level) -> Option<(FlowKey, Direction)> {
        if let Fragment::Later { id } = meta.fragment {
            let fk = (meta.src, meta.dst, meta.proto, id, at.tunnel);
            let fresh = |seen: &Timestamp| at.ts.0.saturating_sub(seen.0) <= FRAGMENT_TIMEOUT_NS;
            let first = self.fragments.get(&fk).filter(|(_, _, seen)| fresh(seen));
            return first.map(|(key, dir, _)| (*key, *dir));
        }
        let (key, dir) = FlowKey::new(meta.proto, meta.src, meta.sport, meta.dst, meta.dport);
        let key = key.in_tunnel(at.tunnel);
        if let Fragment::First { id } = meta.fragment {
            let fk = (meta.src, meta.dst, meta.proto, id, at.tunnel);
            self.remember_fragment(fk, key, dir, at.ts);
        }
        Some((key, dir))
    }

    /// The `erspan:N` interface of an ERSPAN session (it names the mirrored
    /// port, so `[interfaces]` can map it to a network).
    fn erspan_iface(&mut self, session: u32, capture: CaptureId) -> IfaceRef {
        let r = match self.erspan_cache.get(&session) {
            Some(r) => *r,
            None => {
                // A mirror session names a switch port, not a host's NIC.
                let r = self
                    .nics
                    .intern(&self.policy, &format!("erspan:{session}"), None);
                self.erspan_cache.insert(session, r);
                r
            }
        };
        self.capture_has_iface(capture, r);
        r
    }

    /// The flow a later copy of a packet belongs to, without remembering
    /// anything (its first copy did).
    fn copy_flow_key(&self, m: &PacketMeta<'_>) -> FlowKey {
        let first = match m.fragment {
            Fragment::Later { id } => self
                .fragments
                .get(&(m.src, m.dst, m.proto, id, TunnelId::NONE))
                .map(|(k, _, _)| *k),
            _ => None,
        };
        first.unwrap_or_else(|| {
            let later = matches!(m.fragment, Fragment::Later { .. });
            let (sport, dport) = if later { (0, 0) } else { (m.sport, m.dport) };
            FlowKey::new(m.proto, m.src, sport, m.dst, dport).0
        })
    }

    fn ifindex_iface(&mut self, ix: u32, capture: CaptureId) -> IfaceRef {
        let scope = (ix, self.node_scope(capture));
        let r = match self.ifindex_cache.get(&scope) {
            Some(r) => *r,
            None => {
                let r = self.intern_iface(capture, &format!("ifindex:{ix}"));
                self.ifindex_cache.insert(scope, r);
                r
            }
        };
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
        self.fragment_peak = self.fragment_peak.max(self.fragments.len());
    }

    /// Every flow with its state: removed ones first, then those still in
    /// the table.
    pub fn slots(&self) -> impl Iterator<Item = &Slot<FlowState>> {
        self.kept
            .iter()
            .chain(self.table.finished())
            .chain(self.table.active())
    }

    /// Every flow: removed ones first, then those still in the table.
    pub fn flows(&self) -> impl Iterator<Item = &Flow> {
        self.slots().map(|s| &s.flow)
    }

    /// Hands over (and forgets) the flows expired or evicted so far; a
    /// long-running caller calls this to keep memory bounded.
    pub fn take_finished(&mut self) -> Vec<Slot<FlowState>> {
        let mut all = std::mem::take(&mut self.kept);
        all.append(&mut self.table.take_finished());
        all
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

    /// From now on, keep the flow table's size between sweeps (what
    /// merging analyzers that each held part of the flows needs to know
    /// the most flows one analyzer would have held).
    pub fn keep_table_sweeps(&mut self) {
        self.table.keep_sweeps();
    }

    /// The flow table's size between sweeps, if kept.
    pub fn table_sweeps(&self) -> Option<&crate::flow::Sweeps> {
        self.table.sweeps()
    }

    /// What a merge needs of the flow table to tell how one run of several
    /// audits' captures would have expired flows: the last-seen times of
    /// the flows still in it, sorted; the latest idle deadline a sweep
    /// applied; the most flows it held at once.
    pub fn table_clock(&self) -> (Vec<Timestamp>, Option<Timestamp>, usize) {
        let mut last: Vec<Timestamp> = self.table.active().map(|s| s.flow.last_seen).collect();
        last.sort_unstable();
        (last, self.table.swept_to(), self.table.peak())
    }

    /// The tunnel a flow was carried in (`None` outside any tunnel).
    pub fn tunnel(&self, id: TunnelId) -> Option<&Tunnel> {
        self.tunnels.get(id)
    }

    /// Folds the finished flows a report shows only as counts into their
    /// class's totals, keeping the others (in order) for the report.
    #[cold]
    fn fold_finished(&mut self) {
        self.folds += 1;
        let finished = self.table.take_finished();
        let mut retired = std::mem::take(&mut self.retired);
        let mut kept = std::mem::take(&mut self.kept);
        for slot in finished {
            if slot.ext.class.is_some() && slot.ext.verdict.detail.is_none() {
                retired.add(self, &slot);
                if self.folded_digests.is_some() {
                    let d = self.flow_digest(&slot.flow.key);
                    self.folded_digests.get_or_insert_with(Vec::new).push(d);
                }
            } else {
                kept.push(slot);
            }
        }
        self.retired = retired;
        self.kept = kept;
    }

    /// A digest of a flow's key that does not depend on the run: its
    /// 5-tuple and the chain of tunnels (kind, id, outer endpoints) that
    /// carried it. Two audits of captures holding the same flow give it the
    /// same digest (`lanecheck merge` finds flows split between summaries).
    pub fn flow_digest(&self, key: &FlowKey) -> u64 {
        use std::hash::Hasher;
        let mut h = rustc_hash::FxHasher::default();
        let addr = |h: &mut rustc_hash::FxHasher, a: IpAddr| match a {
            IpAddr::V4(v) => h.write(&v.to_ipv6_mapped().octets()),
            IpAddr::V6(v) => {
                h.write_u8(6);
                h.write(&v.octets());
            }
        };
        h.write_u8(key.proto);
        addr(&mut h, key.lo);
        h.write_u16(key.lo_port);
        addr(&mut h, key.hi);
        h.write_u16(key.hi_port);
        for t in self.tunnel_chain(key.tunnel) {
            h.write_u64(tunnel_digest(&t));
        }
        h.finish()
    }

    /// The digests of every flow of the run, folded ones included, sorted
    /// and each once (empty unless `merge_facts` was set).
    pub fn flow_digests(&self) -> Vec<u64> {
        let Some(folded) = &self.folded_digests else {
            return Vec::new();
        };
        let mut all = folded.clone();
        all.extend(self.slots().map(|s| self.flow_digest(&s.flow.key)));
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Whether a new flow of this run looked up `endpoint` (server,
    /// protocol, port) among the learned ones (only when `merge_facts`
    /// keeps the lookups; else false).
    pub fn looked_up(&self, endpoint: &(IpAddr, u8, u16)) -> bool {
        self.looked_up
            .as_ref()
            .is_some_and(|l| l.contains(endpoint))
    }

    /// What this run learned or looked up that another run's captures
    /// could have changed, had they been read in the same run (see
    /// [`Reach`]).
    pub fn reach(&self) -> Reach {
        let k = self.knowledge();
        let (smb_learned, smb_looked_up, smb_all) = k.smb_reach();
        Reach {
            learned: k
                .history()
                .iter()
                .filter_map(|e| Some((e.server, e.proto, e.port?)))
                .collect(),
            learned_all: k.history_dropped == 0,
            looked_up: self.looked_up.clone().unwrap_or_default(),
            smb_learned,
            smb_looked_up,
            smb_all,
            tunnels: self.tunnels.len(),
            tunnel_keys: self.tunnels.all().iter().map(tunnel_digest).collect(),
            orphan_trains: self.orphans.get(),
            open_trains: self
                .fragments
                .keys()
                .map(|k| self.train_digest(k))
                .collect(),
            copy_peaks: (0..self.captures.len() as u32)
                .map(|c| self.dedup.peaks(CaptureId(c)))
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
            flow_peak: self.table.peak(),
            fragment_peak: self.fragment_peak,
            held_peak: self.held.peak(),
        }
    }

    /// A digest of a fragment train's key (addresses, protocol, IP id and
    /// tunnels) that does not depend on the run.
    fn train_digest(&self, (src, dst, proto, id, tunnel): &FragKey) -> u64 {
        let (key, _) = FlowKey::new(*proto, *src, (*id >> 16) as u16, *dst, *id as u16);
        self.flow_digest(&key.in_tunnel(*tunnel))
    }

    /// How many times finished flows were folded: about one per
    /// `fold_every` flows that finished, however many a fold keeps.
    pub fn folds(&self) -> u64 {
        self.folds
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

    /// The frame (of [`Analyzer::frames_read`]) each DNS violation of
    /// [`Analyzer::dns_violations`] came from.
    pub fn dns_violation_frames(&self) -> &[u64] {
        &self.dns_violation_frames
    }

    /// Hands over (and forgets) the DNS violations so far (the daemon).
    pub fn take_dns_violations(&mut self) -> Vec<DnsViolation> {
        self.dns_violation_frames.clear();
        std::mem::take(&mut self.dns_violations)
    }

    /// Dissectors that gave up, by (protocol, reason).
    pub fn gave_up(&self) -> &BTreeMap<(&'static str, crate::evidence::Counted), u64> {
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
            copies: self.dedup.retained(),
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
    /// Packets remembered for recognising their copies.
    pub copies: usize,
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

/// What a new flow's first packet tells beyond its key.
struct NewFlow {
    /// The network of the NIC it was first seen on.
    on_link: Option<NetId>,
    /// An ICMP error's: the flow of the packet it quotes.
    about: Option<FlowTuple>,
}

/// A new flow's provisional class (ports, roles, learned endpoints; an ICMP
/// error takes the class of the flow it is about), its networks and the
/// series it feeds. A flow between link-local addresses (in no named
/// network) is on the network of the NIC it was first seen on (`on_link`):
/// link-local means on that link.
fn classify_new(
    slot: &mut Slot<FlowState>,
    classifier: &Classifier<'_>,
    knowledge: &Knowledge,
    stats: &mut Stats,
    looked_up: Option<&mut rustc_hash::FxHashSet<(IpAddr, u8, u16)>>,
    new: NewFlow,
) {
    let t = tuple(&slot.flow);
    let st = &mut slot.ext;
    // What its class looks up: an ICMP error's is the quoted flow's
    // responder. Runs that may be merged note it (`Reach`).
    let asked = new.about.unwrap_or(t);
    if let Some(seen) = looked_up {
        seen.insert((asked.dst, asked.proto, asked.dport));
    }
    st.learned = knowledge
        .endpoint(asked.dst, asked.proto, asked.dport, slot.flow.first_seen)
        .map(|e| Box::new(e.clone()));
    let clues = Clues {
        learned: st.learned.as_deref(),
        ..Clues::default()
    };
    let c = match &new.about {
        Some(about) => classifier.classify_icmp_error(about, &clues),
        None => classifier.classify(&t, &clues),
    };
    add_nets(st, classifier.policy(), &t, new.on_link);
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
    for &id in st.hooks.ids() {
        stats.add(id, bin, wire_len);
    }
    st.own.add(bin, u64::from(wire_len));
    let id = iface_hook(st, stats, iface);
    stats.add(id, bin, wire_len);
    count_tags(st, stats, bin, (wire_len, iface, tags), false);
}

/// Counts a later copy of a packet in the series of the places it adds (a
/// NIC, VLAN tags), and in the flow's own bins while its class is open.
fn count_place(
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
    if iface.is_some() {
        let id = iface_hook(st, stats, iface);
        stats.add(id, bin, wire_len);
    }
    count_tags(st, stats, bin, (wire_len, iface, tags), true);
}

/// Counts a packet (or a copy's new place) in the series of its VLAN tags,
/// and in the flow's own bins while its class is open.
#[inline(always)]
fn count_tags(
    st: &mut FlowState,
    stats: &mut Stats,
    bin: i64,
    (wire_len, iface, tags): (u32, Option<IfaceRef>, crate::stats::Tags),
    place_only: bool,
) {
    for &v in &tags.0[..usize::from(tags.1)] {
        let id = vlan_hook(st, stats, v);
        stats.add(id, bin, wire_len);
    }
    let what = Counted {
        iface,
        tags,
        place_only,
    };
    pend(st, bin, what, wire_len);
}

/// The series of the flow's class on `iface`.
#[inline]
/// The networks of a flow's addresses, once each; a flow between two
/// link-local addresses, in none, is on the network of its link
/// (`on_link`), any other flow in none is unknown.
fn add_nets(st: &mut FlowState, policy: &Policy, t: &FlowTuple, on_link: Option<NetId>) {
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
}

fn iface_hook(st: &mut FlowState, stats: &mut Stats, iface: Option<IfaceRef>) -> u32 {
    if let Some((_, id)) = st.iface_hooks.iter().find(|(i, _)| *i == iface) {
        return *id;
    }
    let class = st.class.unwrap_or(crate::class::CLIENT);
    let id = stats.id(class, Scope::Interface(iface));
    st.iface_hooks.push((iface, id));
    id
}

/// The series of the flow's class with VLAN id `v`.
#[inline]
fn vlan_hook(st: &mut FlowState, stats: &mut Stats, v: u16) -> u32 {
    if let Some((_, id)) = st.vlan_hooks.iter().find(|(x, _)| *x == v) {
        return *id;
    }
    let class = st.class.unwrap_or(crate::class::CLIENT);
    let id = stats.id(class, Scope::Vlan(v));
    st.vlan_hooks.push((v, id));
    id
}

/// Keeps the flow's own count while its class may change; a flow whose
/// pending counts are full closes its class.
#[inline]
fn pend(st: &mut FlowState, bin: i64, what: Counted, wire_len: u32) {
    if st.open {
        let full = !st
            .pending
            .get_or_insert_with(Box::default)
            .add(bin, what, u64::from(wire_len));
        if full {
            st.close();
        }
    }
}

/// Keeps the DNS violations one packet found, up to the cap.
fn keep_dns_violations(kept: &mut Vec<DnsViolation>, dropped: &mut u64, found: Vec<DnsViolation>) {
    for v in found {
        if kept.len() < DNS_VIOLATIONS_CAP {
            kept.push(v);
        } else {
            *dropped += 1;
        }
    }
}

/// The policy check stage: recomputed when the class or the NIC set changed.
#[inline(always)]
fn judge(slot: &mut Slot<FlowState>, policy: &Policy, nics: &crate::nics::Nics) {
    let Some(class) = slot.ext.class else { return };
    let key = (
        class,
        slot.flow.ifaces.len() as u32,
        slot.flow.vlans.len() as u32,
    );
    if slot.ext.verdict_for == Some(key) {
        return;
    }
    let vlans: Vec<u16> = slot.flow.vlans.iter().map(|v| v.vlan).collect();
    let ifaces: Vec<(&str, Option<NetId>)> = slot
        .flow
        .ifaces
        .iter()
        .map(|s| (nics.name(s.iface), nics.net(s.iface)))
        .collect();
    let mut check = policy.check(class, &slot.ext.nets, &ifaces, &vlans);
    // A flow judged as a second class as well (`classify::Also`): the
    // worse of the two checks, so neither class's traffic hides a violation.
    let also = slot
        .ext
        .reason
        .as_ref()
        .and_then(crate::classify::Reason::also);
    if let Some(other) = also.filter(|_| !check.violates()) {
        let second = policy.check(other, &slot.ext.nets, &ifaces, &vlans);
        if second.violates() {
            check = second;
        }
    }
    slot.ext.verdict = crate::policy::FlowVerdict::new(check);
    slot.ext.verdict_for = Some(key);
}

pub(crate) use crate::evidence::stage::EvidenceStage;

#[cfg(test)]
mod syn_tests {
    use super::*;

    /// SYNs past the table's cap are counted as unchecked, in the first
    /// capture and in a later one alike, and never warned of as twice.
    #[test]
    fn syns_past_the_cap_are_counted_unchecked() {
        let (mut syns, mut unchecked) = (FxHashMap::default(), 0u64);
        let mut twice = BTreeMap::new();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let class = Some(ClassId(0));
        let extra = 10u32;
        let total = SYN_CAP as u32 + extra;
        let mut open = |n: u32, capture: u32, syns: &mut FxHashMap<u64, CaptureId>, u: &mut u64| {
            let (key, dir) = FlowKey::new(6, a, 1024 + (n % 60_000) as u16, b, 5719);
            opened(
                (syns, u),
                &mut twice,
                (&key, dir, n, CaptureId(capture), class),
            );
        };
        for n in 0..total {
            open(n, 0, &mut syns, &mut unchecked);
        }
        assert_eq!(unchecked, u64::from(extra));
        // The second capture holds the last ones again: not remembered,
        // so not found twice, and counted unchecked again.
        for n in SYN_CAP as u32..total {
            open(n, 1, &mut syns, &mut unchecked);
        }
        assert_eq!(unchecked, 2 * u64::from(extra));
        // One remembered SYN again in the second capture is found twice.
        open(0, 1, &mut syns, &mut unchecked);
        assert_eq!(twice.values().sum::<u64>(), 1);
        let f = crate::findings::Findings {
            syns_unchecked: unchecked,
            ..Default::default()
        };
        assert_eq!(
            f.warnings(),
            [format!("20 TCP connections opened after the first {SYN_CAP} were not remembered: whether they were captured twice (in two of the captures) was not checked")]
        );
    }
}
