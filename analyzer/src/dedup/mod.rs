//! Copies of one packet: the stage between decode and the flow table.
//!
//! Windows host captures hold a packet several times: pktmon logs it at
//! every networking component it crosses (12 to 14 copies in the public
//! sample, `shared/reference/windows-captures.md` §1.3), etl2pcapng once per
//! NDIS binding and vSwitch port (§2.4), dumpcap once per selected NIC
//! (§3). A copy is recognised by content: the same addresses, IPv4
//! identification and transport header (ports, TCP sequence,
//! acknowledgement and flags) and the same payload length and first
//! payload bytes (8 in the key, and up to [`MORE`] after them compared as
//! far as both copies hold them: a copy cut shorter still matches), seen
//! within [`WINDOW_NS`] of the first copy in the same capture. Link headers and checksums are not compared (pktmon's 802.11
//! copies, pre-offload checksums).
//!
//! What is collapsed depends on the capture ([`Copies::for_capture`]): in
//! `auto` mode only captures whose producer is known to write copies, so a
//! tcpdump capture's retransmissions are never touched and its packets are
//! never even keyed. The first copy is counted; a later copy on another
//! capture interface (or with a VLAN tag the first lacked) adds only that
//! place to its flow (the NIC saw it), never to class totals.
//!
//! **Invariant:** bounded: at most [`MAX_SEEN`] packets remembered per
//! capture, each for [`WINDOW_NS`] of packet time.

mod overlap;
mod wifi;

use std::collections::VecDeque;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use capture::{Producer, Timestamp};

use crate::decode::PacketMeta;
use crate::{CaptureId, IfaceRef};

pub use overlap::MAX_DIRECTIONS;
pub use wifi::mislabelled_80211;

/// How long after a packet's first copy a later one is recognised: pktmon's
/// copies of one packet lie microseconds apart; 10 ms leaves room for
/// timestamps taken at different layers, and is far below the 200 ms a
/// TCP retransmission timeout waits at least (RFC 6298 §2.4 allows 1 s;
/// Linux and Windows use 200–300 ms).
pub const WINDOW_NS: i64 = 10_000_000;

/// Most packets remembered per capture (6.5 million packets a second over
/// the window); beyond it the oldest are forgotten early and counted.
pub const MAX_SEEN: usize = 1 << 16;

/// `--dedup`: whether copies are collapsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DedupMode {
    /// Never.
    Off,
    /// In captures whose producer writes copies (pktmon, etl2pcapng, dumpcap
    /// on Npcap with several interfaces).
    #[default]
    Auto,
    /// In every capture, on one interface and across interfaces.
    On,
}

/// What is collapsed in one capture.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Copies {
    /// Nothing: every frame is a packet.
    #[default]
    None,
    /// Copies on different capture interfaces (a packet a host sent
    /// through `vEthernet (X)` and its physical NIC).
    AcrossInterfaces,
    /// Copies on any interface, the same one included (pktmon's
    /// components share one interface block).
    All,
}

impl Copies {
    /// What `mode` collapses in a capture of `producer` with `interfaces`
    /// interface blocks.
    pub fn for_capture(mode: DedupMode, producer: Producer, interfaces: usize) -> Copies {
        match (mode, producer) {
            (DedupMode::Off, _) => Copies::None,
            (DedupMode::On, _) => Copies::All,
            (_, Producer::Pktmon | Producer::Etl2Pcapng | Producer::Etl2PcapngPktmon) => {
                Copies::All
            }
            (_, Producer::Npcap) if interfaces > 1 => Copies::AcrossInterfaces,
            _ => Copies::None,
        }
    }

    /// The JSON spelling (`captures[].dedup`).
    pub fn as_str(self) -> &'static str {
        match self {
            Copies::None => "none",
            Copies::AcrossInterfaces => "across-interfaces",
            Copies::All => "all",
        }
    }
}

/// What one packet is, among its copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Copy {
    /// The first copy: counted. `possible_copy`: its TCP bytes were already
    /// counted within the window by a packet of another size (a segment of
    /// a coalesced frame, or a retransmission): counted, and flagged.
    First {
        /// Repeats TCP bytes counted within the window.
        possible_copy: bool,
    },
    /// A later copy seen on a place the packet was not credited to yet.
    Place {
        /// Its capture interface is new for this packet.
        iface: bool,
        /// Its VLAN tags the packet was not credited with yet (outer first).
        vlans: ([u16; 3], u8),
    },
    /// A later copy that adds nothing.
    Repeat,
}

/// A packet's identity: what its copies share.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    flags: u8,
    ip_id: u16,
    ports: (u16, u16),
    seq: u32,
    ack: u32,
    payload_len: u32,
    frag_offset: u32,
    /// The first (up to) 8 captured payload bytes.
    head: u64,
}

impl Key {
    fn of(m: &PacketMeta<'_>) -> Key {
        let mut head = [0u8; 8];
        let n = m.payload.len().min(8);
        head[..n].copy_from_slice(&m.payload[..n]);
        Key {
            src: m.src,
            dst: m.dst,
            proto: m.proto,
            flags: m.tcp_flags,
            ip_id: m.ip_id,
            ports: (m.sport, m.dport),
            seq: m.tcp_seq,
            ack: m.tcp_ack,
            payload_len: m.payload_wire_len,
            frag_offset: m.frag_offset,
            head: u64::from_le_bytes(head),
        }
    }
}

/// Payload bytes after the key's first 8 that a later copy must match, as
/// far as both hold them: IPv6 has no identification field, so datagrams
/// of one flow with equal lengths and equal first 8 bytes (a protocol's
/// header) differ only further on.
pub const MORE: usize = 24;

/// Interfaces one packet is credited to, at most.
const PLACES: usize = 16;

/// The places one packet has been credited to.
#[derive(Clone, Copy, Debug)]
struct Seen {
    ts: i64,
    /// Payload bytes 8.. (up to [`MORE`]), and how many were captured.
    more: [u8; MORE],
    n_more: u8,
    /// The interfaces credited, up to [`PLACES`] (an etl2pcapng file of a
    /// pktmon trace has an interface per component: 12 to 14 of them).
    ifaces: [Option<IfaceRef>; PLACES],
    n_ifaces: u8,
    vlans: [u16; 6],
    n_vlans: u8,
}

impl Seen {
    fn new(ts: i64, iface: Option<IfaceRef>, tags: &[u16], payload: &[u8]) -> Seen {
        let more = payload.get(8..).unwrap_or_default();
        let n = more.len().min(MORE);
        let mut s = Seen {
            ts,
            more: [0; MORE],
            n_more: n as u8,
            ifaces: [None; PLACES],
            n_ifaces: 1,
            vlans: [0; 6],
            n_vlans: 0,
        };
        s.more[..n].copy_from_slice(&more[..n]);
        s.ifaces[0] = iface;
        for &v in tags {
            s.add_vlan(v);
        }
        s
    }

    /// Whether `payload` agrees with this packet's after the key's 8 bytes,
    /// as far as both were captured.
    #[inline]
    fn same_payload(&self, payload: &[u8]) -> bool {
        let more = payload.get(8..).unwrap_or_default();
        let n = more.len().min(usize::from(self.n_more));
        // Nothing to compare (an ACK), or both whole: the cases of nearly
        // every copy, done inline (a compare of a length known only here
        // is a memcmp call: 9 % of a pktmon audit's time).
        match n {
            0 => true,
            MORE => more.first_chunk::<MORE>() == Some(&self.more),
            _ => self.same_prefix(more, n),
        }
    }

    /// [`Seen::same_payload`] for a copy cut short, apart so that the
    /// common cases are not merged into its memcmp call.
    #[cold]
    #[inline(never)]
    fn same_prefix(&self, more: &[u8], n: usize) -> bool {
        more.get(..n) == self.more.get(..n)
    }

    /// Credits `iface` if new; true when it was. Beyond [`PLACES`]
    /// interfaces none is credited: one not remembered could not be told
    /// from one credited already, and would be credited at every copy.
    fn add_iface(&mut self, iface: Option<IfaceRef>) -> bool {
        let n = usize::from(self.n_ifaces);
        if n == self.ifaces.len() || self.ifaces[..n].contains(&iface) {
            return false;
        }
        self.ifaces[n] = iface;
        self.n_ifaces += 1;
        true
    }

    /// Credits VLAN `v` if new; true when it was (none beyond 6, as for
    /// interfaces).
    fn add_vlan(&mut self, v: u16) -> bool {
        let n = usize::from(self.n_vlans);
        if n == self.vlans.len() || self.vlans[..n].contains(&v) {
            return false;
        }
        self.vlans[n] = v;
        self.n_vlans += 1;
        true
    }
}

/// One capture's recent packets.
#[derive(Debug)]
struct Window {
    copies: Copies,
    seen: FxHashMap<Key, Seen>,
    order: VecDeque<(i64, Key)>,
    newest: i64,
    overlap: overlap::Overlap,
    /// Packets forgotten before their window ended ([`MAX_SEEN`]).
    overflow: u64,
    /// Most packets remembered at once.
    peak: usize,
}

impl Window {
    fn new(copies: Copies) -> Window {
        Window {
            copies,
            seen: FxHashMap::default(),
            order: VecDeque::new(),
            newest: i64::MIN,
            overlap: overlap::Overlap::default(),
            overflow: 0,
            peak: 0,
        }
    }

    /// Forgets packets older than the window (and the oldest beyond the cap).
    fn expire(&mut self, now: i64) {
        self.newest = self.newest.max(now);
        let deadline = self.newest.saturating_sub(WINDOW_NS);
        while let Some(&(ts, key)) = self.order.front() {
            let full = self.order.len() >= MAX_SEEN;
            if ts >= deadline && !full {
                break;
            }
            if full && ts >= deadline {
                self.overflow += 1;
            }
            self.order.pop_front();
            if self.seen.get(&key).is_some_and(|s| s.ts == ts) {
                self.seen.remove(&key);
            }
        }
    }

    fn check(&mut self, ts: Timestamp, iface: Option<IfaceRef>, m: &PacketMeta<'_>) -> Copy {
        self.expire(ts.0);
        let key = Key::of(m);
        let tags = &m.vlans[..usize::from(m.vlan_count)];
        if let Some(seen) = self.seen.get_mut(&key) {
            if ts.0.abs_diff(seen.ts) <= WINDOW_NS as u64 && seen.same_payload(m.payload) {
                return later_copy(seen, self.copies, iface, tags);
            }
        }
        // A packet of its own (a distinct one under an equal key takes the
        // key's place: its own copies follow it within microseconds).
        self.seen
            .insert(key, Seen::new(ts.0, iface, tags, m.payload));
        self.order.push_back((ts.0, key));
        self.peak = self.peak.max(self.order.len());
        Copy::First {
            possible_copy: self.overlap.repeats(ts.0, m),
        }
    }
}

/// A later copy: what it adds to the packet's places.
fn later_copy(seen: &mut Seen, copies: Copies, iface: Option<IfaceRef>, tags: &[u16]) -> Copy {
    let same_iface = seen.ifaces[..usize::from(seen.n_ifaces)].contains(&iface);
    if copies == Copies::AcrossInterfaces && same_iface {
        // Only copies on other interfaces are collapsed here: on its own
        // interface a repeat is a packet of its own (a retransmission).
        return Copy::First {
            possible_copy: false,
        };
    }
    let new_iface = seen.add_iface(iface);
    let mut vlans = ([0u16; 3], 0u8);
    for &v in tags {
        if seen.add_vlan(v) && usize::from(vlans.1) < vlans.0.len() {
            vlans.0[usize::from(vlans.1)] = v;
            vlans.1 += 1;
        }
    }
    if new_iface || vlans.1 > 0 {
        Copy::Place {
            iface: new_iface,
            vlans,
        }
    } else {
        Copy::Repeat
    }
}

/// The copy-recognition stage: per capture, what is collapsed and the
/// packets of the window.
#[derive(Debug, Default)]
pub struct Dedup {
    mode: DedupMode,
    captures: Vec<Option<Box<Window>>>,
}

impl Dedup {
    /// A stage collapsing what `mode` says.
    pub fn new(mode: DedupMode) -> Self {
        Dedup {
            mode,
            captures: Vec::new(),
        }
    }

    /// Tells the stage who wrote `capture` and how many interfaces it has
    /// so far; returns what is collapsed in it. Called again as interfaces
    /// appear; packets remembered so far are kept.
    pub fn configure(
        &mut self,
        capture: CaptureId,
        producer: Producer,
        interfaces: usize,
    ) -> Copies {
        let copies = Copies::for_capture(self.mode, producer, interfaces);
        let i = capture.0 as usize;
        if self.captures.len() <= i {
            self.captures.resize_with(i + 1, || None);
        }
        match (&mut self.captures[i], copies) {
            (slot, Copies::None) => *slot = None,
            (Some(w), c) => w.copies = c,
            (slot, c) => *slot = Some(Box::new(Window::new(c))),
        }
        copies
    }

    /// Where the packet `m` of `capture` stands among its copies.
    #[inline]
    pub fn check(
        &mut self,
        capture: CaptureId,
        ts: Timestamp,
        iface: Option<IfaceRef>,
        m: &PacketMeta<'_>,
    ) -> Copy {
        match self.captures.get_mut(capture.0 as usize) {
            Some(Some(w)) => w.check(ts, iface, m),
            _ => Copy::First {
                possible_copy: false,
            },
        }
    }

    /// Packets of `capture` forgotten before their window ended.
    pub fn overflow(&self, capture: CaptureId) -> u64 {
        match self.captures.get(capture.0 as usize) {
            Some(Some(w)) => w.overflow,
            _ => 0,
        }
    }

    /// The most packets and TCP directions `capture`'s window held at once
    /// (how close it came to [`MAX_SEEN`] and the overlap stage's cap).
    pub fn peaks(&self, capture: CaptureId) -> (usize, usize) {
        match self.captures.get(capture.0 as usize) {
            Some(Some(w)) => (w.peak, w.overlap.peak()),
            _ => (0, 0),
        }
    }

    /// Packets remembered over every capture (bounded-memory checks).
    pub fn retained(&self) -> usize {
        self.captures.iter().flatten().map(|w| w.seen.len()).sum()
    }
}

#[cfg(test)]
mod tests;
