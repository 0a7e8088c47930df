//! Tunnel scenarios: a plain scenario's frames, each wrapped as it is seen on
//! a provider network (VXLAN, Geneve, NVGRE, GRE, IP in IP), at a mirror
//! collector (ERSPAN II, III) or on an MPLS link.
//!
//! Outer Ethernet, IP and UDP headers are built with etherparse (lengths and
//! checksums); the tunnel headers by hand, since etherparse has none of them,
//! each from its RFC or draft layout (cited at the writer). The bookkeeping
//! of a wrapped frame says what its inner flow counts: the inner Ethernet
//! frame where the tunnel carries one, else the inner IP packet, and for
//! MPLS (no outer IP packet, labels are a link-layer shim) the whole frame.

use std::net::IpAddr;

use etherparse::{IpNumber, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

use crate::wire::Host;

/// The encapsulations fixgen writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encap {
    /// Ethernet, label stack (two labels one way, one the other), IP.
    Mpls,
    /// GRE with checksum, key and sequence number, carrying IPv4.
    Gre,
    /// NVGRE: GRE with a key (VSID, FlowID), carrying Ethernet.
    Nvgre,
    /// ERSPAN type II: GRE with sequence number, 8-byte header, Ethernet.
    ErspanII,
    /// ERSPAN type III: 12-byte header and an 8-byte platform subheader.
    ErspanIII,
    /// VXLAN, UDP 4789, source port from a hash of the inner flow.
    Vxlan,
    /// Geneve, UDP 6081, one 8-byte option, Ethernet.
    Geneve,
    /// IPv4 in an outer IPv6 header (IP protocol 4).
    Ipv4InIpv6,
    /// IPv6 in an outer IPv4 header (IP protocol 41).
    Ipv6InIpv4,
}

impl Encap {
    /// lanecheck's name of the tunnel type (`tunnel.type`).
    pub fn kind(self) -> &'static str {
        match self {
            Encap::Mpls => "mpls",
            Encap::Gre => "gre",
            Encap::Nvgre => "nvgre",
            Encap::ErspanII => "erspan-ii",
            Encap::ErspanIII => "erspan-iii",
            Encap::Vxlan => "vxlan",
            Encap::Geneve => "geneve",
            Encap::Ipv4InIpv6 => "ipv4-in-ip",
            Encap::Ipv6InIpv4 => "ipv6-in-ip",
        }
    }

    /// The inner frame keeps its Ethernet header (else only IP is carried).
    fn carries_ethernet(self) -> bool {
        matches!(
            self,
            Encap::Nvgre | Encap::ErspanII | Encap::ErspanIII | Encap::Vxlan | Encap::Geneve
        )
    }

    pub fn is_mirror(self) -> bool {
        matches!(self, Encap::ErspanII | Encap::ErspanIII)
    }
}

/// How a scenario's frames are wrapped.
pub(crate) struct Wrap {
    pub encap: Encap,
    /// VNI, GRE key or NVGRE VSID (ERSPAN: see `sessions`).
    pub id: u32,
    /// Inner addresses behind the first tunnel end; all others are behind
    /// the second. ERSPAN: first = the switch, second = the collector.
    pub near: Vec<IpAddr>,
    pub ends: (Host, Host),
    /// ERSPAN: the session mirroring each original capture interface.
    pub sessions: &'static [u32],
    /// The scenario's name for the provider network the outer packets use.
    pub network: &'static str,
    /// Next GRE/ERSPAN sequence number.
    seq: u32,
}

impl Wrap {
    pub fn new(encap: Encap, id: u32, near: Vec<IpAddr>, ends: (Host, Host)) -> Wrap {
        Wrap {
            encap,
            id,
            near,
            ends,
            sessions: &[],
            network: "provider",
            seq: 0,
        }
    }
}

/// An outer packet's 5-tuple, for the bookkeeping of outer flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OuterKey {
    pub proto: &'static str,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
}

/// One frame after wrapping.
pub(crate) struct Wrapped {
    pub data: Vec<u8>,
    /// Bytes its inner flow counts.
    pub counted: usize,
    /// The outer packet (none for MPLS).
    pub outer: Option<OuterKey>,
    /// The tunnel id lanecheck reports (VNI, key, VSID, session).
    pub id: Option<u32>,
    /// ERSPAN: the session interface the inner flow is seen on.
    pub session_iface: Option<String>,
}

/// What the wrapper needs of an inner frame.
struct InnerView {
    src: IpAddr,
    dst: IpAddr,
    ports: (u16, u16),
    /// Offset of the IP header (None for ARP).
    ip_at: Option<usize>,
}

fn view(frame: &[u8]) -> InnerView {
    if frame[12..14] == [0x08, 0x06] {
        // ARP (RFC 826) over Ethernet: sender and target IPv4 at 28 and 38.
        let ip = |at: usize| IpAddr::from([frame[at], frame[at + 1], frame[at + 2], frame[at + 3]]);
        return InnerView {
            src: ip(28),
            dst: ip(38),
            ports: (0, 0),
            ip_at: None,
        };
    }
    let p = SlicedPacket::from_ethernet(frame).expect("fixgen frames decode");
    let (src, dst) = match p.net.expect("an IP frame") {
        NetSlice::Ipv4(v4) => (
            v4.header().source_addr().into(),
            v4.header().destination_addr().into(),
        ),
        NetSlice::Ipv6(v6) => (
            v6.header().source_addr().into(),
            v6.header().destination_addr().into(),
        ),
        NetSlice::Arp(_) => unreachable!("ARP is handled above"),
    };
    let ports = match p.transport {
        Some(TransportSlice::Tcp(t)) => (t.source_port(), t.destination_port()),
        Some(TransportSlice::Udp(u)) => (u.source_port(), u.destination_port()),
        _ => (0, 0),
    };
    InnerView {
        src,
        dst,
        ports,
        ip_at: Some(14),
    }
}

impl Wrap {
    /// Wraps one Ethernet frame seen on `iface`; `None` drops it (a non-IP
    /// frame cannot travel in a tunnel that carries only IP).
    pub fn wrap(&mut self, frame: &[u8], iface: u32) -> Option<Wrapped> {
        let v = view(frame);
        if !self.encap.carries_ethernet() && v.ip_at.is_none() {
            return None;
        }
        let inner: &[u8] = if self.encap.carries_ethernet() {
            frame
        } else {
            &frame[14..]
        };
        let forward = self.near.contains(&v.src);
        let (from, to) = if forward || self.encap.is_mirror() {
            self.ends
        } else {
            (self.ends.1, self.ends.0)
        };
        self.seq = self.seq.wrapping_add(1);
        let mut w = match self.encap {
            Encap::Mpls => mpls(frame, forward),
            Encap::Vxlan | Encap::Geneve => self.udp(from, to, inner, &v),
            Encap::Ipv4InIpv6 => ip(from, to, IpNumber::IPV4, inner),
            Encap::Ipv6InIpv4 => ip(from, to, IpNumber::IPV6, inner),
            _ => self.gre(from, to, inner, iface),
        };
        w.counted = if self.encap == Encap::Mpls {
            w.data.len()
        } else {
            inner.len()
        };
        Some(w)
    }

    fn udp(&self, from: Host, to: Host, inner: &[u8], v: &InnerView) -> Wrapped {
        // RFC 7348 §5: the source port is a hash of the inner flow, so
        // each direction of each inner flow is its own outer flow here.
        let h = [
            v.src.to_string(),
            v.dst.to_string(),
            format!("{:?}", v.ports),
        ]
        .concat();
        let sport = 49152 + (fnv(h.as_bytes()) % 16384) as u16;
        let vni = self.id.to_be_bytes();
        let (dport, mut payload) = if self.encap == Encap::Vxlan {
            // RFC 7348 §5: flags (I) | reserved(24) | VNI(24) | reserved(8).
            (4789, vec![0x08, 0, 0, 0, vni[1], vni[2], vni[3], 0])
        } else {
            // RFC 8926 §3.4: Ver 0, Opt Len 2 (8 bytes) | O C Rsvd |
            // Protocol 0x6558 | VNI | Rsvd; one option (§3.5): class
            // 0x0103, type 0x80, length 1 (4 bytes of data).
            let mut h = vec![0x02, 0, 0x65, 0x58, vni[1], vni[2], vni[3], 0];
            h.extend([0x01, 0x03, 0x80, 0x01, 0xca, 0xfe, 0xf0, 0x0d]);
            (6081, h)
        };
        payload.extend_from_slice(inner);
        let mut data = Vec::with_capacity(payload.len() + 62);
        let b = PacketBuilder::ethernet2(from.mac, to.mac);
        let r = match (from.ip, to.ip) {
            (IpAddr::V4(s), IpAddr::V4(d)) => b
                .ipv4(s.octets(), d.octets(), 64)
                .udp(sport, dport)
                .write(&mut data, &payload),
            (IpAddr::V6(s), IpAddr::V6(d)) => b
                .ipv6(s.octets(), d.octets(), 64)
                .udp(sport, dport)
                .write(&mut data, &payload),
            _ => panic!("mixed outer families"),
        };
        r.expect("outer packet within size limits");
        Wrapped {
            data,
            counted: 0,
            outer: Some(OuterKey {
                proto: "udp",
                src: from.ip,
                sport,
                dst: to.ip,
                dport,
            }),
            id: Some(self.id),
            session_iface: None,
        }
    }

    /// GRE (RFC 2784 §2.1, RFC 2890 §2) and what rides on it.
    fn gre(&self, from: Host, to: Host, inner: &[u8], iface: u32) -> Wrapped {
        let seq = self.seq.to_be_bytes();
        let (header, id, session) = match self.encap {
            Encap::Gre => {
                // C K S: checksum + reserved, key, sequence; IPv4 payload.
                let mut h = vec![0xb0, 0, 0x08, 0x00, 0, 0, 0, 0];
                h.extend(self.id.to_be_bytes());
                h.extend(seq);
                (h, Some(self.id), None)
            }
            Encap::Nvgre => {
                // RFC 7637 §3.2: K only, 0x6558, key = VSID(24) FlowID(8).
                let k = (self.id << 8 | 0x2a).to_be_bytes();
                (
                    vec![0x20, 0, 0x65, 0x58, k[0], k[1], k[2], k[3]],
                    Some(self.id),
                    None,
                )
            }
            _ => {
                let session = self.sessions[iface as usize];
                (
                    erspan_header(self.encap, session, &seq),
                    Some(session),
                    Some(session),
                )
            }
        };
        let mut payload = header;
        payload.extend_from_slice(inner);
        if self.encap == Encap::Gre {
            let sum = crate::wire::checksum(&payload).to_be_bytes();
            payload[4..6].copy_from_slice(&sum);
        }
        let mut w = ip(from, to, IpNumber::GRE, &payload);
        w.id = id;
        w.session_iface = session.map(|s| format!("erspan:{s}"));
        w
    }
}

/// GRE with S, then the ERSPAN header (draft-foschiano-erspan-03 §4.1,
/// §4.2): Ver | VLAN | COS, En/BSO, T | Session ID, then type II
/// Reserved | Index, or type III Timestamp, SGT | P FT HwID D Gra O and,
/// with O set, an 8-byte platform-specific subheader.
fn erspan_header(encap: Encap, session: u32, seq: &[u8; 4]) -> Vec<u8> {
    let s = (session as u16 & 0x03ff).to_be_bytes();
    if encap == Encap::ErspanII {
        let mut h = vec![0x10, 0, 0x88, 0xbe];
        h.extend(seq);
        h.extend([0x10, 0x00, s[0], s[1], 0, 0, 0, 0]);
        return h;
    }
    let mut h = vec![0x10, 0, 0x22, 0xeb];
    h.extend(seq);
    // Ver 2, VLAN 0, session; timestamp = the sequence; SGT 0; FT 0
    // (Ethernet), Gra 01 (100 ns), O set.
    h.extend([0x20, 0x00, s[0], s[1]]);
    h.extend(seq);
    h.extend([0, 0, 0x00, 0x03]);
    // Platform ID 3 (upper 6 bits), then its port and timestamp fields.
    h.extend([0x0c, 0x00, 0x00, 0x07, 0, 0, 0, 0]);
    h
}

/// An outer IP packet with protocol `proto` around `payload`.
fn ip(from: Host, to: Host, proto: IpNumber, payload: &[u8]) -> Wrapped {
    let mut data = Vec::with_capacity(payload.len() + 54);
    let b = PacketBuilder::ethernet2(from.mac, to.mac);
    let r = match (from.ip, to.ip) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b
            .ipv4(s.octets(), d.octets(), 64)
            .write(&mut data, proto, payload),
        (IpAddr::V6(s), IpAddr::V6(d)) => b
            .ipv6(s.octets(), d.octets(), 64)
            .write(&mut data, proto, payload),
        _ => panic!("mixed outer families"),
    };
    r.expect("outer packet within size limits");
    let name = match proto {
        IpNumber::GRE => "ip47",
        IpNumber::IPV4 => "ip4",
        _ => "ip41",
    };
    Wrapped {
        data,
        counted: 0,
        outer: Some(OuterKey {
            proto: name,
            src: from.ip,
            sport: 0,
            dst: to.ip,
            dport: 0,
        }),
        id: None,
        session_iface: None,
    }
}

/// The inner frame's Ethernet header with EtherType 0x8847, a label stack
/// (RFC 3032 §2.1: label(20) TC(3) S(1) TTL(8)) and the IP packet. Labels
/// are per direction, as LSPs are: 16001 over 24005 one way, 17002 back.
fn mpls(frame: &[u8], forward: bool) -> Wrapped {
    let entry =
        |label: u32, bottom: bool| (label << 12 | u32::from(bottom) << 8 | 64).to_be_bytes();
    let mut data = frame[..12].to_vec();
    data.extend([0x88, 0x47]);
    if forward {
        data.extend(entry(16001, false));
        data.extend(entry(24005, true));
    } else {
        data.extend(entry(17002, true));
    }
    data.extend_from_slice(&frame[14..]);
    Wrapped {
        data,
        counted: 0,
        outer: None,
        id: None,
        session_iface: None,
    }
}

/// FNV-1a: a fixed hash, so the output is the same on every run.
fn fnv(b: &[u8]) -> u32 {
    b.iter().fold(0x811c_9dc5u32, |h, x| {
        (h ^ u32::from(*x)).wrapping_mul(0x0100_0193)
    })
}
