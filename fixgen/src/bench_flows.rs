//! The many-flow benchmark capture (`fixgen bench-flows`): short flows as a datacenter
//! carries them, many at once, with exact bookkeeping.
//!
//! - 60 % UDP request/response (DNS, NTP, SNMP, syslog ports), the answer small or medium;
//!   10 % refused TCP connections (SYN, RST-ACK); 26 % short TCP connections (handshake,
//!   a medium request and response, FIN/FIN/ACK); 4 % bulk TCP (handshake, a small request,
//!   three full-size segments and a medium one with ACKs, teardown).
//! - Frame sizes from three classes as IMIX has them (64/594/1518 bytes on the wire with
//!   FCS: 60/590/1514 here; frames below 60 bytes padded as a NIC pads them); the mix comes
//!   out near 7:1.7:0.3 by count: short flows are mostly small frames.
//! - 30 % of flows IPv6, 20 % in an 802.1Q VLAN (10, 20, 30, 40); every 5-tuple unique.
//! - [`CONCURRENT`] flows under way at once, a frame from a random one each 10 µs, so flows
//!   interleave as on a busy link; once the target size is reached no flow starts and the
//!   ones under way finish: every flow is whole.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use etherparse::PacketBuilder;

use crate::bench::{PairWriter, Rng};
use crate::capture::EPOCH_NS;

/// What `write_bench_flows` wrote (identical frames in both files).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowsTruth {
    /// Frames in each file.
    pub packets: u64,
    /// Sum of the frames' wire lengths.
    pub bytes: u64,
    /// Flows (distinct 5-tuples; no two flows share one).
    pub flows: u64,
    pub tcp_flows: u64,
    pub udp_flows: u64,
    pub ipv6_flows: u64,
    pub vlan_flows: u64,
    /// Frames by size class: small (≤ 128 bytes), medium (590), large (1514).
    pub small: u64,
    pub medium: u64,
    pub large: u64,
    pub pcap_file_bytes: u64,
    pub pcapng_file_bytes: u64,
}

/// Flows under way at once.
pub const CONCURRENT: usize = 4096;
/// Time between consecutive frames.
const STEP_NS: i64 = 10_000;

/// A frame's size class: its length without FCS and VLAN tag.
#[derive(Clone, Copy)]
enum Size {
    Small,
    Medium,
    Large,
}

impl Size {
    fn frame_len(self) -> usize {
        match self {
            Size::Small => 60,
            Size::Medium => 590,
            Size::Large => 1514,
        }
    }
}

/// One frame of a flow's script, sent by side 0 (initiator) or 1.
#[derive(Clone, Copy)]
enum Seg {
    Syn,
    SynAck,
    Ack,
    Data(Size),
    FinAck,
    RstAck,
    Udp(Size),
}

use Seg::*;
use Size::*;

const UDP_SMALL: &[(usize, Seg)] = &[(0, Udp(Small)), (1, Udp(Small))];
const UDP_MEDIUM: &[(usize, Seg)] = &[(0, Udp(Small)), (1, Udp(Medium))];
const REFUSED: &[(usize, Seg)] = &[(0, Syn), (1, RstAck)];
const SHORT: &[(usize, Seg)] = &[
    (0, Syn),
    (1, SynAck),
    (0, Ack),
    (0, Data(Medium)),
    (1, Data(Medium)),
    (0, FinAck),
    (1, FinAck),
    (0, Ack),
];
const BULK: &[(usize, Seg)] = &[
    (0, Syn),
    (1, SynAck),
    (0, Ack),
    (0, Data(Small)),
    (1, Data(Large)),
    (1, Data(Large)),
    (0, Ack),
    (1, Data(Large)),
    (1, Data(Medium)),
    (0, Ack),
    (0, FinAck),
    (1, FinAck),
    (0, Ack),
];

const UDP_PORTS: [u16; 4] = [53, 123, 161, 514];
const TCP_PORTS: [u16; 8] = [443, 445, 3389, 80, 135, 5985, 8080, 22];

/// A flow under way.
struct Flow {
    script: &'static [(usize, Seg)],
    next: usize,
    v6: bool,
    vlan: Option<u16>,
    /// Client and server index (addresses derived from them).
    hosts: [u32; 2],
    ports: [u16; 2],
    nxt: [u32; 2],
}

impl Flow {
    /// Flow number `id`: its kind, family and VLAN drawn from `rng`; its client and client
    /// port from `id`, so no two flows share a 5-tuple.
    fn new(id: u64, rng: &mut Rng) -> Flow {
        let r = rng.below(100);
        let (script, dport) = match r {
            0..=41 => (UDP_SMALL, UDP_PORTS[rng.below(4) as usize]),
            42..=59 => (UDP_MEDIUM, UDP_PORTS[rng.below(4) as usize]),
            60..=69 => (REFUSED, 1 + rng.below(1023) as u16),
            70..=95 => (SHORT, TCP_PORTS[rng.below(8) as usize]),
            _ => (BULK, TCP_PORTS[rng.below(8) as usize]),
        };
        let v6 = rng.below(10) < 3;
        let vlan = (rng.below(5) == 0).then(|| 10 * (1 + rng.below(4) as u16));
        let client = (id % 60_000) as u32;
        Flow {
            script,
            next: 0,
            v6,
            vlan,
            hosts: [client, 60_000 + rng.below(64) as u32],
            ports: [49152 + (id / 60_000) as u16, dport],
            nxt: [
                (id as u32).wrapping_mul(2_654_435_761),
                (id as u32).wrapping_mul(0x9e37_79b9) ^ 0x5a5a,
            ],
        }
    }

    fn is_tcp(&self) -> bool {
        !matches!(self.script[0].1, Udp(_))
    }

    /// Host `h`'s address: clients in 10.20.0.0/16 (fd00:20::/64), servers in
    /// 10.10.12.0/24 (fd00:10:12::/64).
    fn addr(&self, h: u32) -> ([u8; 4], [u8; 16]) {
        let v4 = if h >= 60_000 {
            Ipv4Addr::new(10, 10, 12, 100 + (h - 60_000) as u8)
        } else {
            Ipv4Addr::new(10, 20, (h / 250) as u8, 1 + (h % 250) as u8)
        };
        let net: u16 = if h >= 60_000 { 0x1012 } else { 0x20 };
        let v6 = Ipv6Addr::new(0xfd00, net, 0, 0, 0, 0, 0, h as u16 + 1);
        (v4.octets(), v6.octets())
    }

    fn mac(h: u32) -> [u8; 6] {
        let b = h.to_be_bytes();
        [0x02, 0x4c, b[0], b[1], b[2], b[3]]
    }

    /// Writes the next frame of the script into `buf`; returns its size class.
    fn frame(&mut self, buf: &mut Vec<u8>, payload: &[u8]) -> io::Result<Size> {
        let (side, seg) = self.script[self.next];
        self.next += 1;
        let (src, dst) = (self.hosts[side], self.hosts[1 - side]);
        let ((s4, s6), (d4, d6)) = (self.addr(src), self.addr(dst));
        let eth = PacketBuilder::ethernet2(Self::mac(src), Self::mac(dst));
        let ip = if self.v6 {
            eth.ipv6(s6, d6, 64)
        } else {
            eth.ipv4(s4, d4, 64)
        };
        let headers = 14 + if self.v6 { 40 } else { 20 } + if self.is_tcp() { 20 } else { 8 };
        let (n, class) = match seg {
            Udp(s) | Data(s) => (s.frame_len().saturating_sub(headers).max(6), s),
            _ => (0, Small),
        };
        let (sport, dport) = (self.ports[side], self.ports[1 - side]);
        let written = if let Udp(_) = seg {
            ip.udp(sport, dport).write(buf, &payload[..n])
        } else {
            // A refused connection's RST-ACK carries sequence 0 and window 0 (RFC 9293 §3.10.7.1).
            let refused = matches!(seg, RstAck);
            let seq = if refused { 0 } else { self.nxt[side] };
            let mut b = ip.tcp(sport, dport, seq, if refused { 0 } else { 64240 });
            b = match seg {
                Syn | SynAck => b.syn(),
                FinAck => b.fin(),
                RstAck => b.rst(),
                Data(_) => b.psh(),
                _ => b,
            };
            if !matches!(seg, Syn) {
                b = b.ack(self.nxt[1 - side]);
            }
            b.write(buf, &payload[..n])
        };
        written.map_err(|e| io::Error::other(e.to_string()))?;
        let advance = match seg {
            Syn | SynAck | FinAck => 1,
            Data(_) => n,
            _ => 0,
        };
        self.nxt[side] = self.nxt[side].wrapping_add(advance as u32);
        if buf.len() < 60 {
            buf.resize(60, 0); // Ethernet padding: the IP length tells where the packet ends
        }
        if let Some(vid) = self.vlan {
            let [hi, lo] = vid.to_be_bytes();
            buf.splice(12..12, [0x81, 0x00, hi, lo]);
        }
        Ok(class)
    }

    fn done(&self) -> bool {
        self.next == self.script.len()
    }
}

/// Writes the many-flow benchmark as pcap and pcapng, stopping (with every flow whole) once
/// the pcap file holds `target_bytes`.
pub fn write_bench_flows(pcap: &Path, pcapng: &Path, target_bytes: u64) -> io::Result<FlowsTruth> {
    let mut out = PairWriter::create(pcap, pcapng)?;
    let payload = crate::payload::pattern(1500, 0x5f);
    let mut rng = Rng(0x666c_6f77_7321_2121);
    let mut active: Vec<Flow> = Vec::with_capacity(CONCURRENT);
    let mut buf = Vec::with_capacity(2048);
    let mut t = FlowsTruth::default();
    let mut ts = EPOCH_NS;
    loop {
        while out.pcap_bytes < target_bytes && active.len() < CONCURRENT {
            let f = Flow::new(t.flows, &mut rng);
            t.flows += 1;
            t.tcp_flows += u64::from(f.is_tcp());
            t.udp_flows += u64::from(!f.is_tcp());
            t.ipv6_flows += u64::from(f.v6);
            t.vlan_flows += u64::from(f.vlan.is_some());
            active.push(f);
        }
        if active.is_empty() {
            break;
        }
        let i = rng.below(active.len() as u64) as usize;
        buf.clear();
        match active[i].frame(&mut buf, &payload)? {
            Small => t.small += 1,
            Medium => t.medium += 1,
            Large => t.large += 1,
        }
        if active[i].done() {
            active.swap_remove(i);
        }
        out.write(ts, &buf)?;
        t.packets += 1;
        t.bytes += buf.len() as u64;
        ts += STEP_NS;
    }
    t.pcap_file_bytes = out.pcap_bytes;
    t.pcapng_file_bytes = out.pcapng_bytes;
    out.finish()?;
    Ok(t)
}
