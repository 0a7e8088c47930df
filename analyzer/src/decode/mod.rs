//! Decoding: one entry point, dispatch on link type, one file per layer.
//!
//! [`decode`] turns a [`Frame`] into a [`PacketMeta`] (addresses, protocol,
//! ports, TCP flags, VLANs, fragment info, L4 payload) or says where and why
//! it stopped. Bounds are checked here only; callers never see etherparse
//! types. A snaplen-cut packet decodes as far as its bytes go: ports are
//! taken as soon as the first four bytes of the L4 header are present.
//!
//! A tunnel is decoded one level at a time: [`encapsulated`] says what an
//! outer packet carries (MPLS is a link-layer shim and is read by [`decode`]
//! itself), [`inner`] decodes that as the next level. The caller walks the
//! levels (at most [`MAX_NESTING`] deep) and decides what each one counts.
//!
//! **Invariant:** total over all byte sequences and link types: never panics,
//! never allocates.

mod ip;
pub use ip::quoted_tuple;
mod link;
mod tunnel;

pub use tunnel::{encapsulated, inner, Carried, Encap, Inner, TunnelKind, MAX_NESTING};

pub use link::{ieee80211_payload, sll2_ifindex};

use std::fmt;
use std::net::IpAddr;

use capture::Frame;

/// The layer a decode stopped at (used as the first part of the reason key).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Layer {
    /// Link layer (Ethernet, VLAN, SLL, SLL2, BSD null).
    Link,
    /// IPv4 header or options.
    Ipv4,
    /// IPv6 header or extension headers.
    Ipv6,
    /// TCP header.
    Tcp,
    /// UDP header.
    Udp,
    /// ICMP / ICMPv6 header.
    Icmp,
    /// SCTP common header.
    Sctp,
    /// MPLS label stack (RFC 3032).
    Mpls,
    /// GRE header (RFC 2784, RFC 2890).
    Gre,
    /// ERSPAN header (types II and III).
    Erspan,
    /// VXLAN header (RFC 7348).
    Vxlan,
    /// Geneve header (RFC 8926).
    Geneve,
    /// An IP-in-IP tunnel's inner packet (IP protocol 4 or 41).
    IpInIp,
    /// Tunnel nesting as a whole (depth, how many tunnels are tracked).
    Tunnel,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Link => "link",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Tcp => "tcp",
            Layer::Udp => "udp",
            Layer::Icmp => "icmp",
            Layer::Sctp => "sctp",
            Layer::Mpls => "mpls",
            Layer::Gre => "gre",
            Layer::Erspan => "erspan",
            Layer::Vxlan => "vxlan",
            Layer::Geneve => "geneve",
            Layer::IpInIp => "ip-in-ip",
            Layer::Tunnel => "tunnel",
        })
    }
}

/// Why a decode stopped.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Stop {
    /// The captured bytes end inside this layer's header.
    HeaderCut,
    /// The link type is not one lanecheck decodes.
    UnsupportedLink(u16),
    /// BSD null/loopback address family that is not IP.
    UnsupportedFamily(u32),
    /// A header field is impossible (e.g. IPv4 IHL < 5, IP version not 4/6).
    Malformed(&'static str),
    /// Well-formed, but lanecheck does not decode what follows (the text
    /// says what and is shown as it is).
    NotDecoded(&'static str),
    /// A protocol-type field (GRE, Geneve) names a payload lanecheck does
    /// not decode.
    UnknownType(u16),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::HeaderCut => f.write_str("header cut by snaplen"),
            Stop::UnsupportedLink(l) => write!(f, "unsupported link type {l}"),
            Stop::UnsupportedFamily(v) => write!(f, "unsupported address family {v}"),
            Stop::Malformed(why) => write!(f, "malformed ({why})"),
            Stop::NotDecoded(what) => f.write_str(what),
            Stop::UnknownType(t) => write!(f, "protocol type {t:#06x} not decoded"),
        }
    }
}

/// Where a decode stopped: counted by the analyzer, shown in every report.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Stopped {
    /// Layer of the stop.
    pub layer: Layer,
    /// Reason of the stop.
    pub reason: Stop,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.layer, self.reason)
    }
}

/// IP fragmentation of a packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Fragment {
    /// Not a fragment.
    #[default]
    None,
    /// First fragment (offset 0, more to come): carries the L4 header.
    First {
        /// IP identification (IPv4: 16 bits; IPv6: 32 bits).
        id: u32,
    },
    /// A later fragment: no L4 header.
    Later {
        /// IP identification.
        id: u32,
    },
}

/// TCP flag bits this crate cares about.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// IP protocol numbers used here.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
    /// IPv4 encapsulation (IP-in-IP, RFC 2003).
    pub const IPIP: u8 = 4;
    /// IPv6 encapsulation (RFC 2473, RFC 4213).
    pub const IPV6_ENCAP: u8 = 41;
    /// GRE.
    pub const GRE: u8 = 47;
}

/// What the analyzer needs of one IP packet.
#[derive(Clone, Copy, Debug)]
pub struct PacketMeta<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number of the payload (after extension headers).
    pub proto: u8,
    /// Source port (TCP/UDP/SCTP); ICMP type.
    pub sport: u16,
    /// Destination port; ICMP code (see `flow::key` for the Community ID mapping).
    pub dport: u16,
    /// TCP flags (0 for other protocols).
    pub tcp_flags: u8,
    /// VLAN ids, outermost first; `vlan_count` are valid.
    pub vlans: [u16; 3],
    /// How many entries of `vlans` are set.
    pub vlan_count: u8,
    /// Interface index from a Linux SLL2 header.
    pub ifindex: Option<u32>,
    /// Fragmentation.
    pub fragment: Fragment,
    /// An ICMP error message's quoted packet (its IP header and the start
    /// of its payload, as captured); `None` for any other packet.
    pub icmp_quoted: Option<&'a [u8]>,
    /// Captured payload bytes: the L4 payload, or for a later IP fragment
    /// its IP payload (empty when unknown).
    pub payload: &'a [u8],
    /// Length on the wire of what `payload` holds (longer than `payload`
    /// when the snaplen cut it; TCP and UDP, and later fragments).
    pub payload_wire_len: u32,
    /// TCP sequence number (0 for other protocols).
    pub tcp_seq: u32,
    /// TCP acknowledgement number (0 for other protocols).
    pub tcp_ack: u32,
    /// IPv4 identification (0 for IPv6): with the transport header, what
    /// tells one packet from another (copies of one packet share it).
    pub ip_id: u16,
    /// The IP packet's length as its header declares it (IPv4 total
    /// length, IPv6 40 + payload length); 0 when the header says 0 (an
    /// LSOv2 frame the NIC will segment, or an IPv6 jumbogram).
    pub ip_len: u32,
    /// For an IP fragment: the byte offset of `payload` in the original
    /// IP payload (8 for a first UDP fragment, whose UDP header is parsed),
    /// and whether more fragments follow.
    pub frag_offset: u32,
    /// More fragments follow (see `frag_offset`).
    pub frag_more: bool,
    /// The frame carried an MPLS label stack in front of the IP header.
    pub mpls: bool,
    /// The packet may be a tunnel's outer packet or came through MPLS
    /// ([`encapsulated`] says what it carries): one test on the hot path.
    pub tunnel_hint: bool,
}

impl PacketMeta<'_> {
    /// The captured payload is shorter than on the wire (snaplen cut).
    pub fn payload_cut(&self) -> bool {
        self.payload_wire_len as usize > self.payload.len()
    }
}

/// The result of decoding one frame.
#[derive(Clone, Copy, Debug)]
pub enum Decoded<'a> {
    /// An IP packet.
    Packet(PacketMeta<'a>),
    /// A non-IP frame (ARP, LLDP, STP...): counted per interface, never classified.
    NonIp {
        /// Its EtherType (or 0 for 802.3/LLC frames).
        ether_type: u16,
    },
    /// Decoding stopped; the frame is counted under this reason.
    Stopped(Stopped),
}

/// Decodes one frame.
#[inline]
pub fn decode<'a>(frame: &Frame<'a>) -> Decoded<'a> {
    let net = match link::decode(frame.link, frame.data) {
        Ok(n) => n,
        Err(d) => return d,
    };
    ip::decode(net)
}

/// The source and destination of a frame's first IP header, read at their
/// fixed offsets after the link layer (no transport, no checks beyond the
/// header's length): whenever [`decode`] gives a packet, its `src` and
/// `dst`. Cheaper than a decode where only the addresses matter.
pub fn addresses(frame: &Frame<'_>) -> Option<(IpAddr, IpAddr)> {
    let b = link::decode(frame.link, frame.data).ok()?.bytes;
    let at = |i: usize| -> Option<[u8; 4]> { b.get(i..i + 4)?.try_into().ok() };
    let at16 = |i: usize| -> Option<[u8; 16]> { b.get(i..i + 16)?.try_into().ok() };
    match b.first()? >> 4 {
        4 => Some((at(12)?.into(), at(16)?.into())),
        6 => Some((at16(8)?.into(), at16(24)?.into())),
        _ => None,
    }
}

/// What the link layer hands to the IP layer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NetBytes<'a> {
    pub(crate) bytes: &'a [u8],
    /// 4, 6, or 0 when the version nibble decides.
    pub(crate) version_hint: u8,
    pub(crate) vlans: [u16; 3],
    pub(crate) vlan_count: u8,
    pub(crate) ifindex: Option<u32>,
    /// An MPLS label stack came before the IP header.
    pub(crate) mpls: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture::LinkType;

    /// IPv4 (20 bytes, no options) + UDP 1234 → 53, 4 payload bytes.
    const IPV4_UDP: [u8; 32] = [
        0x45, 0, 0, 32, 0x12, 0x34, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, //
        0x04, 0xd2, 0, 53, 0, 12, 0, 0, b'a', b'b', b'c', b'd',
    ];

    fn packet(link: LinkType, bytes: &[u8]) -> PacketMeta<'_> {
        match decode(&Frame::test(link, bytes)) {
            Decoded::Packet(m) => m,
            other => panic!("{other:?}"),
        }
    }

    fn with_prefix(prefix: &[u8]) -> Vec<u8> {
        let mut v = prefix.to_vec();
        v.extend_from_slice(&IPV4_UDP);
        v
    }

    #[test]
    fn raw_null_loop_sll_sll2() {
        let cases: Vec<(LinkType, Vec<u8>)> = vec![
            (LinkType::RAW, with_prefix(&[])),
            (LinkType::IPV4, with_prefix(&[])),
            (LinkType::RAW_BSD12, with_prefix(&[])),
            (LinkType::NULL, with_prefix(&[2, 0, 0, 0])),
            (LinkType::NULL, with_prefix(&[0, 0, 0, 2])),
            (LinkType::LOOP, with_prefix(&[0, 0, 0, 2])),
            (
                LinkType::LINUX_SLL,
                with_prefix(&[0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00]),
            ),
            (
                LinkType::LINUX_SLL2,
                with_prefix(&[
                    0x08, 0x00, 0, 0, 0, 0, 0, 7, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0,
                ]),
            ),
        ];
        for (link, bytes) in cases {
            let m = packet(link, &bytes);
            let want = Some((m.src, m.dst));
            assert_eq!(addresses(&Frame::test(link, &bytes)), want, "{link}");
            assert_eq!((m.proto, m.sport, m.dport), (17, 1234, 53), "{link}");
            assert_eq!(m.payload, b"abcd", "{link}");
            let want_ifindex = (link == LinkType::LINUX_SLL2).then_some(7);
            assert_eq!(m.ifindex, want_ifindex);
        }
    }

    #[test]
    fn qinq_tags_are_recorded_outer_first() {
        let mut eth = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        eth.extend([0x88, 0xa8, 0x05, 0xf5, 0x81, 0x00, 0x00, 0x1e, 0x08, 0x00]);
        eth.extend_from_slice(&IPV4_UDP);
        let m = packet(LinkType::ETHERNET, &eth);
        assert_eq!(&m.vlans[..usize::from(m.vlan_count)], &[1525, 30]);
    }

    #[test]
    fn cut_headers_decode_as_far_as_bytes_go() {
        // 4 bytes of UDP header: ports known, no payload.
        let m = packet(LinkType::RAW, &IPV4_UDP[..24]);
        assert_eq!((m.sport, m.dport), (1234, 53));
        assert!(m.payload.is_empty());
        // 2 bytes of UDP header: stop at udp.
        let Decoded::Stopped(s) = decode(&Frame::test(LinkType::RAW, &IPV4_UDP[..22])) else {
            panic!()
        };
        assert_eq!(s.to_string(), "udp: header cut by snaplen");
        let Decoded::Stopped(s) = decode(&Frame::test(LinkType::RAW, &IPV4_UDP[..10])) else {
            panic!()
        };
        assert_eq!(s.to_string(), "ipv4: header cut by snaplen");
        let Decoded::Stopped(s) = decode(&Frame::test(LinkType(274), &IPV4_UDP)) else {
            panic!()
        };
        assert_eq!(s.to_string(), "link: unsupported link type 274");
    }

    #[test]
    fn ipv4_fragments() {
        let mut first = IPV4_UDP;
        first[6] = 0x20; // MF, offset 0
        assert_eq!(
            packet(LinkType::RAW, &first).fragment,
            Fragment::First { id: 0x1234 }
        );
        let mut later = IPV4_UDP;
        later[6] = 0x00;
        later[7] = 0x03; // offset 3 (24 bytes), last
        let m = packet(LinkType::RAW, &later);
        assert_eq!(m.fragment, Fragment::Later { id: 0x1234 });
        assert_eq!((m.sport, m.dport), (0, 0));
    }

    /// An 802.11 data frame (frame control `fc0`, `fc1`) around `payload`
    /// with LLC/SNAP and `ether_type`.
    fn wifi(fc0: u8, fc1: u8, ether_type: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![fc0, fc1, 0, 0];
        f.extend([
            2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 3, 0x10, 0,
        ]);
        if fc1 & 3 == 3 {
            f.extend([2, 0, 0, 0, 0, 4]);
        }
        if fc0 & 0x80 != 0 {
            f.extend([0, 0]);
        }
        f.extend([0xaa, 0xaa, 0x03, 0, 0, 0]);
        f.extend(ether_type.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn ieee80211_data_frames_carry_ip() {
        // Data (24-byte header), QoS data (26), four-address QoS data (32).
        for (fc0, fc1, hdr) in [(0x08, 0x01, 24), (0x88, 0x02, 26), (0x88, 0x03, 32)] {
            let f = wifi(fc0, fc1, 0x0800, &IPV4_UDP);
            assert_eq!(ieee80211_payload(&f), Some(hdr + 8));
            let m = packet(LinkType::IEEE802_11, &f);
            assert_eq!((m.sport, m.dport, m.ip_id), (1234, 53, 0x1234));
        }
        let arp = wifi(0x08, 0x01, 0x0806, &[0; 28]);
        assert!(matches!(
            decode(&Frame::test(LinkType::IEEE802_11, &arp)),
            Decoded::NonIp { ether_type: 0x0806 }
        ));
        // A protected frame, a null-data frame and a beacon are not readable IP.
        for fc in [(0x08, 0x41), (0x48, 0x01), (0x80, 0x00)] {
            let f = wifi(fc.0, fc.1, 0x0800, &IPV4_UDP);
            assert_eq!(ieee80211_payload(&f), None);
            assert!(matches!(
                decode(&Frame::test(LinkType::IEEE802_11, &f)),
                Decoded::NonIp { ether_type: 0 }
            ));
        }
        let Decoded::Stopped(s) = decode(&Frame::test(LinkType::IEEE802_11, &[0x08; 10])) else {
            panic!()
        };
        assert_eq!(s.to_string(), "link: header cut by snaplen");
    }

    #[test]
    fn tcp_acknowledgement_and_ip_id() {
        let mut tcp = IPV4_UDP.to_vec();
        tcp[9] = 6;
        tcp.truncate(20);
        tcp.extend([
            0x04, 0xd2, 0, 80, 0, 0, 0, 7, 0, 0, 0, 9, 0x50, 0x10, 0, 0, 0, 0, 0, 0,
        ]);
        let m = packet(LinkType::RAW, &tcp);
        assert_eq!((m.tcp_seq, m.tcp_ack, m.ip_id), (7, 9, 0x1234));
        // The header's total length (32), not the 40 bytes present.
        assert_eq!(m.ip_len, 32);
        // LSOv2: total length 0, the NIC fills it in; decoded from the bytes.
        tcp[2..4].copy_from_slice(&[0, 0]);
        let m = packet(LinkType::RAW, &tcp);
        assert_eq!((m.ip_len, m.dport), (0, 80));
    }

    #[test]
    fn non_ip_frames() {
        let mut arp = vec![0xff; 12];
        arp.extend([0x08, 0x06]);
        arp.extend([0u8; 28]);
        assert!(matches!(
            decode(&Frame::test(LinkType::ETHERNET, &arp)),
            Decoded::NonIp { ether_type: 0x0806 }
        ));
    }

    /// An ICMPv6 port unreachable quoting a UDP datagram, and an ICMP error
    /// quoting a later IPv4 fragment (no ports) or junk (no tuple).
    #[test]
    fn quoted_packets_give_the_flow_they_are_about() {
        let mut v6 = Vec::new();
        let (a, b) = ([0xfd; 16], [0xfe; 16]);
        etherparse::PacketBuilder::ipv6(a, b, 64)
            .udp(5353, 53)
            .write(&mut v6, &[0; 40])
            .unwrap();
        v6.truncate(48);
        let t = quoted_tuple(&v6).unwrap();
        assert_eq!(
            (t.proto, t.src, t.sport, t.dst, t.dport),
            (17, IpAddr::from(a), 5353, IpAddr::from(b), 53)
        );
        let mut later = IPV4_UDP;
        later[6] = 0x00;
        later[7] = 0x10; // fragment offset 128 bytes
        let t = quoted_tuple(&later[..28]).unwrap();
        assert_eq!((t.proto, t.sport, t.dport), (17, 0, 0));
        assert!(quoted_tuple(&[0x45, 0, 0]).is_none());
    }
}
