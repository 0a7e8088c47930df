//! The bounded flow table.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use smallvec::SmallVec;

use capture::Timestamp;

use super::{Direction, FlowKey};
use crate::decode::{proto, tcp_flags};
use crate::IfaceRef;

/// Packets and bytes of a flow on one capture interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfaceStat {
    /// The interface.
    pub iface: IfaceRef,
    /// Packets seen there (both directions).
    pub packets: u64,
    /// Wire bytes seen there.
    pub bytes: u64,
}

/// Packets and bytes of a flow with one VLAN id (outer or inner tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanStat {
    /// The 802.1Q VLAN id.
    pub vlan: u16,
    /// Packets carrying it.
    pub packets: u64,
    /// Wire bytes of those packets.
    pub bytes: u64,
}

/// What later stages keep per flow, beside the flow itself. The table
/// stores it opaquely and tells it when its flow leaves the table.
pub trait FlowExt: Default {
    /// The flow was expired or evicted: nothing more will be added to it.
    fn removed(&mut self) {}
}

impl FlowExt for () {}

/// A flow and what later stages keep about it.
#[derive(Clone, Debug, Default)]
pub struct Slot<X> {
    /// The flow: key, counters, times, interfaces, VLANs.
    pub flow: Flow,
    /// Later stages' state.
    pub ext: X,
}

/// Limits of the flow table.
#[derive(Clone, Copy, Debug)]
pub struct FlowTableConfig {
    /// Most flows held at once; reaching it evicts the least recently seen.
    pub max_flows: usize,
    /// A flow idle this long (packet time) is expired.
    pub idle_timeout_ns: i64,
    /// Keep expired and evicted flows for reports (`flows`, `audit`); a
    /// daemon turns this off so memory is bounded by `max_flows`.
    pub keep_finished: bool,
}

impl Default for FlowTableConfig {
    fn default() -> Self {
        FlowTableConfig {
            max_flows: 1_000_000,
            idle_timeout_ns: 15 * 60 * 1_000_000_000,
            keep_finished: true,
        }
    }
}

/// One bidirectional flow: what the packets themselves say, nothing of
/// later stages.
#[derive(Clone, Debug)]
pub struct Flow {
    /// Canonical key.
    pub key: FlowKey,
    /// The initiator is `key.lo` (else `key.hi`): the SYN sender for TCP,
    /// else the first packet's source.
    pub initiator_lo: bool,
    /// A SYN fixed the initiator.
    pub syn_seen: bool,
    /// TCP: FINs seen, by canonical direction (bits 0 and 1), and RST
    /// (bit 2): a flow with an RST or both FINs has ended, and a SYN with
    /// another sequence number starts a new flow of the same key.
    pub ends: u8,
    /// TCP: the sequence number of the initiator's SYN.
    pub syn_seq: u32,
    /// Packets by canonical direction (`Direction::index`).
    pub packets: [u64; 2],
    /// Wire bytes by canonical direction.
    pub bytes: [u64; 2],
    /// Earliest packet time.
    pub first_seen: Timestamp,
    /// Latest packet time.
    pub last_seen: Timestamp,
    /// Capture interfaces seen on, in order of first appearance (one
    /// inline: most flows are seen on one NIC, and a heap vector cost an
    /// allocation per flow).
    pub ifaces: SmallVec<[IfaceStat; 1]>,
    /// VLAN ids seen (outer and inner tags), in order of first appearance.
    pub vlans: SmallVec<[VlanStat; 1]>,
}

impl Default for Flow {
    fn default() -> Self {
        let (key, dir) = FlowKey::new(
            0,
            std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            0,
            std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            0,
        );
        Flow::new(key, dir, Timestamp(0))
    }
}

impl Flow {
    fn new(key: FlowKey, dir: Direction, ts: Timestamp) -> Self {
        Flow {
            key,
            initiator_lo: dir == Direction::LoToHi,
            syn_seen: false,
            ends: 0,
            syn_seq: 0,
            packets: [0; 2],
            bytes: [0; 2],
            first_seen: ts,
            last_seen: ts,
            ifaces: SmallVec::new(),
            vlans: SmallVec::new(),
        }
    }

    /// Direction from initiator to responder.
    pub fn forward(&self) -> Direction {
        if self.initiator_lo {
            Direction::LoToHi
        } else {
            Direction::HiToLo
        }
    }
    /// Initiator (address, port).
    pub fn src(&self) -> (std::net::IpAddr, u16) {
        self.key.sender(self.forward())
    }
    /// Responder (address, port).
    pub fn dst(&self) -> (std::net::IpAddr, u16) {
        self.key.sender(self.forward().reverse())
    }
    /// Packets both ways.
    pub fn total_packets(&self) -> u64 {
        self.packets[0] + self.packets[1]
    }
    /// Wire bytes both ways.
    pub fn total_bytes(&self) -> u64 {
        self.bytes[0] + self.bytes[1]
    }
    /// Packets from initiator to responder.
    pub fn packets_forward(&self) -> u64 {
        self.packets[self.forward().index()]
    }
    /// Bytes from initiator to responder.
    pub fn bytes_forward(&self) -> u64 {
        self.bytes[self.forward().index()]
    }
    /// Community ID v1 (seed 0) of this flow, with the initiator as source.
    pub fn community_id(&self) -> String {
        let (src, sport) = self.src();
        let (dst, dport) = self.dst();
        let ports = matches!(
            self.key.proto,
            proto::TCP | proto::UDP | proto::SCTP | proto::ICMP | proto::ICMPV6
        );
        let (sp, dp) = if ports {
            (Some(sport), Some(dport))
        } else {
            (None, None)
        };
        community_id::calculate_community_id(0, src, dst, sp, dp, self.key.proto, false)
            .unwrap_or_default()
    }
}

/// What one packet contributes to its flow.
#[derive(Clone, Copy, Debug)]
pub struct PacketUpdate<'a> {
    /// Packet time.
    pub ts: Timestamp,
    /// Direction relative to the key.
    pub dir: Direction,
    /// Original wire length.
    pub wire_len: u32,
    /// TCP flags (0 otherwise).
    pub tcp_flags: u8,
    /// TCP sequence number (0 otherwise).
    pub tcp_seq: u32,
    /// Capture interface, when named.
    pub iface: Option<IfaceRef>,
    /// VLAN ids on the packet.
    pub vlans: &'a [u16],
}

/// Counters of the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowTableStats {
    /// Flows in the table now.
    pub active: u64,
    /// Flows removed because the table was full.
    pub evicted: u64,
    /// Flows removed after the idle timeout.
    pub expired: u64,
}

/// The table's size between sweeps, kept when asked
/// ([`FlowTable::keep_sweeps`]): what merging tables that each held part
/// of the flows needs to know the most flows one table would have held.
/// Between two sweeps a table only grows (flows leave only in sweeps and
/// evictions), so parts that sweep at the same moments peaked together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sweeps {
    /// Each sweep: its idle deadline and the most flows held since the
    /// sweep before it (or the start).
    pub done: Vec<(Timestamp, usize)>,
    /// The most flows held since the last sweep.
    pub open: usize,
}

impl Sweeps {
    /// The most flows one table of every part's flows held, for parts
    /// that never evicted and swept at the same moments (shares of one
    /// capture): the largest sum of their most between two sweeps. None
    /// when they swept at other moments.
    pub fn together(parts: &[&Sweeps]) -> Option<usize> {
        let first = &parts.first()?.done;
        let alike = parts.iter().all(|s| {
            s.done.len() == first.len() && s.done.iter().zip(first).all(|(a, b)| a.0 == b.0)
        });
        if !alike {
            return None;
        }
        let between = |k: usize| parts.iter().map(|s| s.done[k].1).sum::<usize>();
        let open: usize = parts.iter().map(|s| s.open).sum();
        Some((0..first.len()).map(between).max().unwrap_or(0).max(open))
    }
}

/// Flows by key, bounded by count and idle time, each with the state `X`
/// of later stages. Removed flows are handed over in
/// [`FlowTable::take_finished`]; their packets still count.
///
/// The slots live in one dense vector and the hash table holds only their
/// 4-byte index, found by comparing the slot's own key. A `HashMap<FlowKey,
/// Slot>` would cost a whole slot per empty bucket (the table runs up to
/// half empty after it doubles), and boxing each slot, as this table once
/// did, cost an allocation per flow and a second cache miss per packet;
/// hashbrown's `HashTable` is the map without the key stored twice.
#[derive(Debug)]
pub struct FlowTable<X> {
    /// Flows in the table; removing one moves the last into its place.
    slots: Vec<Slot<X>>,
    /// Index into `slots`, hashed by the slot's key.
    index: HashTable<u32>,
    cfg: FlowTableConfig,
    now: Timestamp,
    next_sweep: Option<Timestamp>,
    finished: Vec<Slot<X>>,
    stats: FlowTableStats,
    /// Most flows held at once.
    peak: usize,
    /// The latest idle deadline a sweep applied.
    swept_to: Option<Timestamp>,
    /// The size between sweeps, when kept.
    sweeps: Option<Box<Sweeps>>,
}

#[inline]
fn hash(key: &FlowKey) -> u64 {
    FxBuildHasher.hash_one(key)
}

impl<X: FlowExt> FlowTable<X> {
    /// An empty table (at most `u32::MAX` flows at once).
    pub fn new(cfg: FlowTableConfig) -> Self {
        FlowTable {
            slots: Vec::new(),
            index: HashTable::new(),
            cfg: FlowTableConfig {
                max_flows: cfg.max_flows.clamp(1, u32::MAX as usize),
                ..cfg
            },
            now: Timestamp(i64::MIN),
            next_sweep: None,
            finished: Vec::new(),
            stats: FlowTableStats::default(),
            peak: 0,
            swept_to: None,
            sweeps: None,
        }
    }

    /// From now on, keep the size between sweeps ([`Sweeps`]).
    pub fn keep_sweeps(&mut self) {
        let held = self.slots.len();
        self.sweeps.get_or_insert_with(|| {
            Box::new(Sweeps {
                done: Vec::new(),
                open: held,
            })
        });
    }

    /// The size between sweeps, if kept.
    pub fn sweeps(&self) -> Option<&Sweeps> {
        self.sweeps.as_deref()
    }

    /// Restarts the expiry clock: the next packet's time is the table's
    /// time, earlier or not, and sweeps follow the packets from there. A
    /// capture file's flows then expire as they would in a run of that
    /// capture alone, whatever was read before it.
    pub fn restart_clock(&mut self) {
        self.now = Timestamp(i64::MIN);
        self.next_sweep = None;
    }

    /// Flows held now.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// No flow is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Most flows held at once so far.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// The latest idle deadline a sweep applied: every flow last seen
    /// before it that was in the table then has expired.
    pub fn swept_to(&self) -> Option<Timestamp> {
        self.swept_to
    }

    /// Where the flow of `key` is in `slots`.
    #[inline]
    fn find(&self, h: u64, key: &FlowKey) -> Option<usize> {
        let slots = &self.slots;
        self.index
            .find(h, |&i| slots[i as usize].flow.key == *key)
            .map(|&i| i as usize)
    }

    /// Moves the expiry clock to `ts` if it is later, sweeping when a sweep
    /// is due: every frame of a capture moves it (a flow's packet, but also
    /// a frame of no flow, or of a flow another table holds), so tables
    /// that share a capture's flows sweep at the same moments.
    #[inline]
    pub fn tick(&mut self, ts: Timestamp) {
        if ts > self.now {
            self.now = ts;
            match self.next_sweep {
                None => self.next_sweep = Some(self.sweep_after(ts)),
                Some(t) if ts >= t => self.sweep(),
                Some(_) => {}
            }
        }
    }

    /// Adds one packet to the flow of `key`, creating it if needed; the
    /// flag says whether it was created by this packet.
    pub fn update(&mut self, key: FlowKey, p: &PacketUpdate<'_>) -> (&mut Slot<X>, bool) {
        self.tick(p.ts);
        let h = hash(&key);
        let (i, created) = match self.find(h, &key) {
            Some(i) if reopens(&self.slots[i].flow, p) => {
                // Port reuse: the ended connection leaves the table as an
                // expired one does, and the new one takes the key.
                self.retire(i);
                (self.insert(h, key, p), true)
            }
            Some(i) => (i, false),
            None => (self.insert(h, key, p), true),
        };
        let slot = &mut self.slots[i];
        count(&mut slot.flow, p);
        (slot, created)
    }

    /// A new flow's slot (evicting first if the table is full).
    fn insert(&mut self, h: u64, key: FlowKey, p: &PacketUpdate<'_>) -> usize {
        if self.slots.len() >= self.cfg.max_flows {
            self.evict_oldest();
        }
        let i = self.slots.len();
        self.slots.push(Slot {
            flow: Flow::new(key, p.dir, p.ts),
            ext: X::default(),
        });
        self.peak = self.peak.max(self.slots.len());
        if let Some(s) = &mut self.sweeps {
            s.open = s.open.max(self.slots.len());
        }
        let slots = &self.slots;
        self.index
            .insert_unique(h, i as u32, |&j| hash(&slots[j as usize].flow.key));
        i
    }

    /// Takes the slot at `i` out of the table; the last slot moves into
    /// its place.
    fn remove_at(&mut self, i: usize) -> Slot<X> {
        let key = self.slots[i].flow.key;
        if let Ok(e) = self.index.find_entry(hash(&key), |&j| j as usize == i) {
            e.remove();
        }
        let last = self.slots.len() - 1;
        if i != last {
            let moved = self.slots[last].flow.key;
            if let Some(j) = self.index.find_mut(hash(&moved), |&j| j as usize == last) {
                *j = i as u32;
            }
        }
        self.slots.swap_remove(i)
    }

    /// A flow leaves the table: later stages are told, and it is kept for
    /// reports unless the table keeps nothing it removed.
    fn retire(&mut self, i: usize) {
        let mut s = self.remove_at(i);
        s.ext.removed();
        if self.cfg.keep_finished {
            self.finished.push(s);
        }
    }

    fn sweep_after(&self, t: Timestamp) -> Timestamp {
        let every = (self.cfg.idle_timeout_ns / 4).clamp(1_000_000_000, 60_000_000_000);
        Timestamp(t.0.saturating_add(every))
    }

    /// Expires every flow idle for longer than the timeout at the current packet time.
    pub fn sweep(&mut self) {
        let deadline = self.now.0.saturating_sub(self.cfg.idle_timeout_ns);
        self.swept_to = self.swept_to.max(Some(Timestamp(deadline)));
        if let Some(s) = &mut self.sweeps {
            s.done.push((Timestamp(deadline), s.open));
        }
        let mut i = 0;
        while i < self.slots.len() {
            if self.slots[i].flow.last_seen.0 < deadline {
                self.retire(i);
                self.stats.expired += 1;
            } else {
                i += 1;
            }
        }
        let held = self.slots.len();
        if let Some(s) = &mut self.sweeps {
            s.open = held;
        }
        self.next_sweep = Some(self.sweep_after(self.now));
    }

    /// Evicts the least recently seen sixteenth of the table (at least one
    /// flow): amortised O(1) per new flow under a flood.
    fn evict_oldest(&mut self) {
        let n = (self.slots.len() / 16).max(1);
        let mut ages: Vec<(Timestamp, FlowKey)> = self
            .slots
            .iter()
            .map(|s| (s.flow.last_seen, s.flow.key))
            .collect();
        if n < ages.len() {
            ages.select_nth_unstable(n - 1);
            ages.truncate(n);
        }
        for (_, key) in ages {
            if let Some(i) = self.find(hash(&key), &key) {
                self.retire(i);
                self.stats.evicted += 1;
            }
        }
    }

    /// A later copy of a packet of the flow `key` (still in the table),
    /// seen on another place: adds that place (interface, VLAN ids) with its
    /// bytes there, and nothing to the flow's totals or times.
    pub fn add_place(&mut self, key: &FlowKey, p: &PacketUpdate<'_>) -> Option<&mut Slot<X>> {
        let slot = self.get_mut(key)?;
        places(&mut slot.flow, p);
        Some(slot)
    }

    /// The slot of a flow still in the table.
    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut Slot<X>> {
        let i = self.find(hash(key), key)?;
        Some(&mut self.slots[i])
    }

    /// Whether the flow of `key` is in the table.
    pub fn holds(&self, key: &FlowKey) -> bool {
        self.find(hash(key), key).is_some()
    }

    /// Flows removed (expired or evicted) since the last call.
    pub fn take_finished(&mut self) -> Vec<Slot<X>> {
        std::mem::take(&mut self.finished)
    }

    /// Flows still in the table.
    pub fn active(&self) -> impl Iterator<Item = &Slot<X>> {
        self.slots.iter()
    }

    /// Flows still in the table, mutably.
    pub fn active_mut(&mut self) -> impl Iterator<Item = &mut Slot<X>> {
        self.slots.iter_mut()
    }

    /// Flows removed but not yet taken.
    pub fn finished(&self) -> &[Slot<X>] {
        &self.finished
    }

    /// Counters.
    pub fn stats(&self) -> FlowTableStats {
        FlowTableStats {
            active: self.slots.len() as u64,
            ..self.stats
        }
    }
}

/// RST seen, or a FIN each way.
const ENDED_RST: u8 = 0b100;
const ENDED_FINS: u8 = 0b011;

/// Whether `p` opens a new connection on the key of `flow`, which ended: a
/// SYN (no ACK) after an RST or both FINs, with a sequence number other
/// than the ended connection's SYN (a retransmitted SYN keeps its number).
/// tshark splits its conversations there too.
#[inline]
fn reopens(flow: &Flow, p: &PacketUpdate<'_>) -> bool {
    let ended = flow.ends & ENDED_RST != 0 || flow.ends & ENDED_FINS == ENDED_FINS;
    ended
        && p.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN
        && !(flow.syn_seen && p.tcp_seq == flow.syn_seq)
        && flow.key.proto == proto::TCP
}

/// Adds one packet's counts, times, initiator, interface and VLANs.
#[inline]
fn count(flow: &mut Flow, p: &PacketUpdate<'_>) {
    let d = p.dir.index();
    flow.packets[d] += 1;
    flow.bytes[d] += u64::from(p.wire_len);
    if p.ts < flow.first_seen {
        flow.first_seen = p.ts;
    }
    if p.ts > flow.last_seen {
        flow.last_seen = p.ts;
    }
    if p.tcp_flags & (tcp_flags::FIN | tcp_flags::RST) != 0 {
        let fin = if p.tcp_flags & tcp_flags::FIN != 0 {
            1 << d
        } else {
            0
        };
        let rst = if p.tcp_flags & tcp_flags::RST != 0 {
            ENDED_RST
        } else {
            0
        };
        flow.ends |= fin | rst;
    }
    if flow.key.proto == proto::TCP && p.tcp_flags & tcp_flags::SYN != 0 && !flow.syn_seen {
        flow.syn_seen = true;
        flow.syn_seq = p.tcp_seq;
        let sender_lo = p.dir == Direction::LoToHi;
        // A SYN-ACK's receiver is the initiator.
        flow.initiator_lo = if p.tcp_flags & tcp_flags::ACK != 0 {
            !sender_lo
        } else {
            sender_lo
        };
    }
    places(flow, p);
}

/// Adds one packet (or a later copy of it) to the flow's places: its
/// interface and VLAN ids, with their packets and bytes.
#[inline]
fn places(flow: &mut Flow, p: &PacketUpdate<'_>) {
    if let Some(i) = p.iface {
        match flow.ifaces.iter_mut().find(|s| s.iface == i) {
            Some(s) => {
                s.packets += 1;
                s.bytes += u64::from(p.wire_len);
            }
            None => flow.ifaces.push(IfaceStat {
                iface: i,
                packets: 1,
                bytes: u64::from(p.wire_len),
            }),
        }
    }
    for &v in p.vlans {
        match flow.vlans.iter_mut().find(|s| s.vlan == v) {
            Some(s) => {
                s.packets += 1;
                s.bytes += u64::from(p.wire_len);
            }
            None => flow.vlans.push(VlanStat {
                vlan: v,
                packets: 1,
                bytes: u64::from(p.wire_len),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(ts: i64, dir: Direction, flags: u8) -> PacketUpdate<'static> {
        PacketUpdate {
            ts: Timestamp(ts),
            dir,
            wire_len: 100,
            tcp_flags: flags,
            tcp_seq: 0,
            iface: None,
            vlans: &[],
        }
    }

    fn key(sport: u16, dport: u16) -> (FlowKey, Direction) {
        FlowKey::new(
            6,
            "1.2.3.4".parse().unwrap(),
            sport,
            "5.6.7.8".parse().unwrap(),
            dport,
        )
    }

    #[test]
    fn community_id_spec_example() {
        // The Community ID spec's README example: TCP 1.2.3.4:1122 → 5.6.7.8:3344.
        let mut t: FlowTable<()> = FlowTable::new(FlowTableConfig::default());
        let (k, d) = key(1122, 3344);
        let f = &t.update(k, &update(0, d, tcp_flags::SYN)).0.flow;
        assert_eq!(f.community_id(), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
    }

    #[test]
    fn syn_ack_first_still_names_the_client() {
        let mut t: FlowTable<()> = FlowTable::new(FlowTableConfig::default());
        let (k, d) = key(50000, 5719);
        t.update(k, &update(0, d.reverse(), tcp_flags::SYN | tcp_flags::ACK));
        let f = &t.update(k, &update(1, d, tcp_flags::ACK)).0.flow;
        assert_eq!(f.src().1, 50000);
        assert_eq!((f.packets_forward(), f.total_packets()), (1, 2));
    }

    #[test]
    fn a_syn_with_a_new_sequence_number_after_the_end_starts_a_new_flow() {
        let cfg = FlowTableConfig {
            keep_finished: true,
            ..FlowTableConfig::default()
        };
        let mut t: FlowTable<()> = FlowTable::new(cfg);
        let (k, d) = key(50000, 445);
        let syn = |ts, seq| PacketUpdate {
            tcp_seq: seq,
            ..update(ts, d, tcp_flags::SYN)
        };
        assert!(t.update(k, &syn(0, 7)).1);
        // A new SYN before the connection ended is the same flow.
        assert!(!t.update(k, &syn(1, 9)).1);
        t.update(k, &update(2, d, tcp_flags::FIN | tcp_flags::ACK));
        assert!(!t.update(k, &syn(3, 9)).1, "one FIN is not the end");
        t.update(k, &update(4, d.reverse(), tcp_flags::FIN | tcp_flags::ACK));
        // Ended: the SYN retransmitted is still that flow, a new one is not.
        assert!(!t.update(k, &syn(5, 7)).1);
        assert!(t.update(k, &syn(6, 8)).1);
        assert_eq!(t.take_finished()[0].flow.total_packets(), 6);
        // An RST ends it too.
        t.update(k, &update(7, d.reverse(), tcp_flags::RST));
        assert!(t.update(k, &syn(8, 1)).1);
        assert_eq!(t.take_finished()[0].flow.total_packets(), 2);
        assert_eq!(t.stats().active, 1);
    }

    #[test]
    fn idle_expiry_and_cap_eviction_keep_counts() {
        let cfg = FlowTableConfig {
            max_flows: 32,
            idle_timeout_ns: 10_000_000_000,
            keep_finished: true,
        };
        let mut t: FlowTable<()> = FlowTable::new(cfg);
        for i in 0..100u16 {
            let (k, d) = key(1000 + i, 80);
            t.update(k, &update(i64::from(i) * 1_000_000, d, 0));
        }
        let s = t.stats();
        assert!(s.active <= 32);
        assert_eq!(s.active + s.evicted, 100);
        // 20 s later every flow is idle beyond the 10 s timeout.
        let (k, d) = key(9, 9);
        t.update(k, &update(20_000_000_000, d, 0));
        t.sweep();
        let s = t.stats();
        assert_eq!(s.active, 1);
        assert_eq!(s.evicted + s.expired + 1, 101);
        let all: u64 = t
            .finished()
            .iter()
            .chain(t.active())
            .map(|s| s.flow.total_packets())
            .sum();
        assert_eq!(all, 101);
    }

    #[test]
    fn a_daemon_table_keeps_nothing_it_removed() {
        let cfg = FlowTableConfig {
            max_flows: 12,
            idle_timeout_ns: 1_000_000_000,
            keep_finished: false,
        };
        let mut t: FlowTable<()> = FlowTable::new(cfg);
        for i in 0..100u16 {
            let (k, d) = key(1000 + i, 80);
            t.update(k, &update(i64::from(i) * 100_000_000, d, 0));
        }
        t.sweep();
        let s = t.stats();
        assert!(t.finished().is_empty());
        assert_eq!(s.active + s.evicted + s.expired, 100);
        assert!(s.expired > 0 && s.evicted > 0, "{s:?}");
    }

    proptest::proptest! {
        /// Whatever expires and is evicted, every flow left is found by its
        /// key (the slot a removal moved is re-indexed) and no packet is lost.
        #[test]
        fn removals_keep_the_index_whole(
            ops in proptest::collection::vec((0u16..64, 0i64..40), 1..400),
            max_flows in 1usize..24,
        ) {
            let cfg = FlowTableConfig { max_flows, idle_timeout_ns: 5_000_000_000, keep_finished: true };
            let mut t: FlowTable<()> = FlowTable::new(cfg);
            let mut ts = 0i64;
            for (port, step) in &ops {
                ts += step * 100_000_000;
                let (k, d) = key(1000 + port, 80);
                let (slot, _) = t.update(k, &update(ts, d, 0));
                proptest::prop_assert_eq!(slot.flow.key, k);
            }
            let active: Vec<FlowKey> = t.active().map(|s| s.flow.key).collect();
            proptest::prop_assert!(active.len() <= max_flows);
            for k in active {
                proptest::prop_assert_eq!(t.get_mut(&k).map(|s| s.flow.key), Some(k));
            }
            let packets: u64 = t.finished().iter().chain(t.active()).map(|s| s.flow.total_packets()).sum();
            proptest::prop_assert_eq!(packets, ops.len() as u64);
            let s = t.stats();
            proptest::prop_assert_eq!(s.evicted + s.expired, t.finished().len() as u64);
        }
    }

    proptest::proptest! {
        #[test]
        fn parts_sweeping_together_peak_as_one_table(
            ops in proptest::collection::vec((0u16..48, 0i64..3_000), 1..300),
        ) {
            // Packets 0-3 s apart on 48 flows, 1 s idle timeout (a sweep a
            // second): one table, and three that each take a third of the
            // flows but every packet's time, as shares do.
            let cfg = FlowTableConfig {
                max_flows: 1_000,
                idle_timeout_ns: 1_000_000_000,
                keep_finished: false,
            };
            let mut one: FlowTable<()> = FlowTable::new(cfg);
            let mut parts: Vec<FlowTable<()>> = (0..3).map(|_| FlowTable::new(cfg)).collect();
            parts.iter_mut().for_each(FlowTable::keep_sweeps);
            let mut ts = 0i64;
            for (flow, gap_ms) in ops {
                ts += gap_ms * 1_000_000;
                let (k, d) = key(flow, 80);
                one.update(k, &update(ts, d, 0));
                for (i, t) in parts.iter_mut().enumerate() {
                    if usize::from(flow) % 3 == i {
                        t.update(k, &update(ts, d, 0));
                    } else {
                        t.tick(Timestamp(ts));
                    }
                }
            }
            let sweeps: Vec<&Sweeps> = parts.iter().map(|t| t.sweeps().unwrap()).collect();
            proptest::prop_assert_eq!(Sweeps::together(&sweeps), Some(one.peak()));
        }
    }
}
