//! Frame bytes: link layer (Ethernet with optional 802.1Q / 802.1ad tags, or Linux SLL2) in
//! front of an IP packet built by `etherparse::PacketBuilder` (which fills in lengths, the IPv4
//! header checksum and the TCP/UDP/ICMP checksums).

use std::net::IpAddr;

use etherparse::icmpv4::DestUnreachableHeader;
use etherparse::icmpv6::{DestUnreachableCode, NeighborAdvertisementHeader};
use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, Ethernet2Header, Icmpv4Type, Icmpv6Type,
    IpHeaders, IpNumber, Ipv4Header, Ipv6Extensions, Ipv6FlowLabel, Ipv6Header, Ipv6RawExtHeader,
    PacketBuilder, SingleVlanHeader, TcpHeader, VlanId, VlanPcp,
};

/// One end of a conversation: a MAC and an IP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Host {
    pub mac: [u8; 6],
    pub ip: IpAddr,
}

impl Host {
    /// A host whose MAC is derived from its address: `02:4c:` (locally administered, unicast)
    /// followed by the last four bytes of the IP address. Fixed and unique per address.
    pub fn new(ip: &str) -> Host {
        let ip: IpAddr = ip.parse().expect("valid literal address");
        let tail = match ip {
            IpAddr::V4(a) => a.octets(),
            IpAddr::V6(a) => {
                let o = a.octets();
                [o[12], o[13], o[14], o[15]]
            }
        };
        Host {
            mac: [0x02, 0x4c, tail[0], tail[1], tail[2], tail[3]],
            ip,
        }
    }
}

/// How a frame starts: which link-layer header goes in front of the network layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkKind {
    Ethernet,
    Sll2,
}

/// Linux "cooked" capture v2 packet types (`sll2_pkttype`).
pub(crate) const SLL_HOST: u8 = 0;
pub(crate) const SLL_OUTGOING: u8 = 4;

/// Transport layer of one frame.
pub(crate) enum L4<'a> {
    Tcp(TcpHeader, &'a [u8]),
    Udp {
        sport: u16,
        dport: u16,
        payload: &'a [u8],
    },
    Echo {
        reply: bool,
        id: u16,
        seq: u16,
        payload: &'a [u8],
    },
    /// ICMP (ICMPv6) destination unreachable, port unreachable (RFC 792 type 3 code 3;
    /// RFC 4443 type 1 code 4), quoting `payload`: the start of the packet it is about.
    Unreachable {
        payload: &'a [u8],
    },
    /// ICMPv6 Neighbor Solicitation, or (`advert`) a solicited Neighbor Advertisement with
    /// the override flag (RFC 4861 §4.3, §4.4); `payload` is the target address and options.
    Neighbor {
        advert: bool,
        payload: &'a [u8],
    },
}

/// Everything needed to encode one IP frame.
pub(crate) struct IpFrame<'a> {
    pub link: LinkKind,
    /// 802.1Q ids, outermost first. Two ids = QinQ (outer tag is 802.1ad, TPID 0x88a8).
    pub vlans: &'a [u16],
    /// SLL2 only: interface index and packet type.
    pub ifindex: u32,
    pub pkttype: u8,
    pub src: Host,
    pub dst: Host,
    /// IPv4 identification (ignored for IPv6).
    pub ip_id: u16,
    /// IPv6 only: put an 8-byte Destination Options extension header (one PadN option)
    /// between the IPv6 header and the transport header.
    pub ipv6_dest_opts: bool,
    pub l4: L4<'a>,
}

const TTL: u8 = 128; // Windows default
/// RFC 4861 §7.1: neighbor discovery messages with any other hop limit are discarded.
const ND_HOP_LIMIT: u8 = 255;

fn ip_headers(f: &IpFrame<'_>) -> IpHeaders {
    match (f.src.ip, f.dst.ip) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            // Payload length and protocol are set by PacketBuilder when it writes.
            let mut h = Ipv4Header::new(0, TTL, IpNumber::TCP, s.octets(), d.octets())
                .expect("zero payload length is valid");
            h.identification = f.ip_id;
            IpHeaders::Ipv4(h, Default::default())
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let h = Ipv6Header {
                traffic_class: 0,
                flow_label: Ipv6FlowLabel::ZERO,
                payload_length: 0,
                next_header: IpNumber::TCP,
                hop_limit: if matches!(f.l4, L4::Neighbor { .. }) {
                    ND_HOP_LIMIT
                } else {
                    TTL
                },
                source: s.octets(),
                destination: d.octets(),
            };
            let mut ext = Ipv6Extensions::default();
            if f.ipv6_dest_opts {
                // Option type 1 = PadN, 4 bytes of padding: 2 + 6 = 8 bytes header.
                ext.destination_options = Some(
                    Ipv6RawExtHeader::new_raw(IpNumber::TCP, &[1, 4, 0, 0, 0, 0])
                        .expect("8-byte extension header"),
                );
            }
            IpHeaders::Ipv6(h, ext)
        }
        _ => panic!("mixed IPv4/IPv6 endpoints"),
    }
}

/// The network-layer part of a frame (IP header(s) + transport + payload).
fn ip_part(f: &IpFrame<'_>, out: &mut Vec<u8>) {
    let b = PacketBuilder::ip(ip_headers(f));
    let r = match &f.l4 {
        L4::Tcp(h, payload) => b.tcp_header(h.clone()).write(out, payload),
        L4::Udp {
            sport,
            dport,
            payload,
        } => b.udp(*sport, *dport).write(out, payload),
        L4::Echo {
            reply,
            id,
            seq,
            payload,
        } => match (f.src.ip, reply) {
            (IpAddr::V4(_), false) => b.icmpv4_echo_request(*id, *seq).write(out, payload),
            (IpAddr::V4(_), true) => b.icmpv4_echo_reply(*id, *seq).write(out, payload),
            (IpAddr::V6(_), false) => b.icmpv6_echo_request(*id, *seq).write(out, payload),
            (IpAddr::V6(_), true) => b.icmpv6_echo_reply(*id, *seq).write(out, payload),
        },
        L4::Unreachable { payload } => match f.src.ip {
            IpAddr::V4(_) => b
                .icmpv4(Icmpv4Type::DestinationUnreachable(
                    DestUnreachableHeader::Port,
                ))
                .write(out, payload),
            IpAddr::V6(_) => b
                .icmpv6(Icmpv6Type::DestinationUnreachable(
                    DestUnreachableCode::Port,
                ))
                .write(out, payload),
        },
        L4::Neighbor { advert, payload } => {
            let t = if *advert {
                Icmpv6Type::NeighborAdvertisement(NeighborAdvertisementHeader {
                    router: false,
                    solicited: true,
                    r#override: true,
                })
            } else {
                Icmpv6Type::NeighborSolicitation
            };
            b.icmpv6(t).write(out, payload)
        }
    };
    r.expect("packet within size limits");
}

fn ether_type_of(ip: IpAddr) -> EtherType {
    match ip {
        IpAddr::V4(_) => EtherType::IPV4,
        IpAddr::V6(_) => EtherType::IPV6,
    }
}

/// Ethernet II header plus 0, 1 or 2 VLAN tags, ending with `inner` as the payload type.
fn ethernet_prefix(src: [u8; 6], dst: [u8; 6], vlans: &[u16], inner: EtherType, out: &mut Vec<u8>) {
    let outer_type = match vlans.len() {
        0 => inner,
        1 => EtherType::VLAN_TAGGED_FRAME,
        2 => EtherType::PROVIDER_BRIDGING, // 802.1ad service tag outside a customer tag
        _ => panic!("at most two VLAN tags"),
    };
    let eth = Ethernet2Header {
        source: src,
        destination: dst,
        ether_type: outer_type,
    };
    out.extend_from_slice(&eth.to_bytes());
    for (i, id) in vlans.iter().enumerate() {
        let next = if i + 1 == vlans.len() {
            inner
        } else {
            EtherType::VLAN_TAGGED_FRAME
        };
        let tag = SingleVlanHeader {
            pcp: VlanPcp::ZERO,
            drop_eligible_indicator: false,
            vlan_id: VlanId::try_new(*id).expect("VLAN id below 4095"),
            ether_type: next,
        };
        out.extend_from_slice(&tag.to_bytes());
    }
}

/// Linux SLL2 header (LINKTYPE_LINUX_SLL2 = 276), written by hand because etherparse only
/// knows the 16-byte SLL v1 header (`LinuxSllHeader`), whose layout differs (no interface
/// index, different field order). Layout, all big-endian:
/// protocol u16 | reserved u16 | interface index u32 | ARPHRD type u16 (1 = Ethernet) |
/// packet type u8 | address length u8 | address (8 bytes, zero-padded).
pub(crate) fn sll2_header(
    protocol: u16,
    ifindex: u32,
    pkttype: u8,
    addr: [u8; 6],
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(&protocol.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&ifindex.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
    out.push(pkttype);
    out.push(6);
    out.extend_from_slice(&addr);
    out.extend_from_slice(&[0, 0]);
}

/// Encodes a complete IP frame.
pub(crate) fn encode(f: &IpFrame<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(1600);
    let et = ether_type_of(f.src.ip);
    match f.link {
        LinkKind::Ethernet => ethernet_prefix(f.src.mac, f.dst.mac, f.vlans, et, &mut out),
        LinkKind::Sll2 => sll2_header(et.0, f.ifindex, f.pkttype, f.src.mac, &mut out),
    }
    ip_part(f, &mut out);
    out
}

/// An ARP request (`reply == false`, broadcast) or reply over Ethernet.
pub(crate) fn arp(link_vlans: &[u16], sender: Host, target: Host, reply: bool) -> Vec<u8> {
    let (IpAddr::V4(sip), IpAddr::V4(tip)) = (sender.ip, target.ip) else {
        panic!("ARP is IPv4 only");
    };
    let (op, eth_dst, target_hw) = if reply {
        (ArpOperation::REPLY, target.mac, target.mac)
    } else {
        (ArpOperation::REQUEST, [0xff; 6], [0; 6])
    };
    let pkt = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        op,
        &sender.mac,
        &sip.octets(),
        &target_hw,
        &tip.octets(),
    )
    .expect("well-formed ARP");
    let mut out = Vec::with_capacity(64);
    ethernet_prefix(sender.mac, eth_dst, link_vlans, EtherType::ARP, &mut out);
    out.extend_from_slice(&pkt.to_bytes());
    out
}

/// Splits the IP packet of `frame` (its link header `l2` bytes long) into
/// `n` fragments carrying the IP payload in order, each with the link
/// header in front: IPv4 (RFC 791 §3.2: the header copied, total length,
/// MF and offset set, DF cleared, checksum recomputed) or IPv6 (RFC 8200
/// §4.5: a Fragment header with identification `id` after the 40-byte
/// header, which must be the only one). Every fragment but the last
/// carries a multiple of 8 bytes.
pub(crate) fn fragments(frame: &[u8], l2: usize, n: usize, id: u32) -> Vec<Vec<u8>> {
    let v4 = frame[l2] >> 4 == 4;
    let hdr_len = match v4 {
        true => usize::from(frame[l2] & 0xf) * 4,
        false => 40,
    };
    let (head, payload) = frame.split_at(l2 + hdr_len);
    let chunk = payload.len().div_ceil(n).div_ceil(8) * 8;
    let pieces: Vec<&[u8]> = payload.chunks(chunk).collect();
    let last = pieces.len() - 1;
    let mut out = Vec::with_capacity(pieces.len());
    for (i, piece) in pieces.into_iter().enumerate() {
        let (off, more) = ((i * chunk / 8) as u16, i < last);
        let mut f = head.to_vec();
        if v4 {
            let ip = &mut f[l2..];
            ip[2..4].copy_from_slice(&((hdr_len + piece.len()) as u16).to_be_bytes());
            ip[6..8].copy_from_slice(&(u16::from(more) << 13 | off).to_be_bytes());
            ip[10..12].copy_from_slice(&[0, 0]);
            let sum = checksum(&ip[..hdr_len]);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
        } else {
            let next = f[l2 + 6];
            f[l2 + 4..l2 + 6].copy_from_slice(&((8 + piece.len()) as u16).to_be_bytes());
            f[l2 + 6] = 44;
            f.extend_from_slice(&[next, 0]);
            f.extend_from_slice(&(off << 3 | u16::from(more)).to_be_bytes());
            f.extend_from_slice(&id.to_be_bytes());
        }
        f.extend_from_slice(piece);
        out.push(f);
    }
    out
}

/// RFC 1071 Internet checksum (an IPv4 header's, with its own field zero;
/// the GRE checksum, RFC 2784 §2.5).
pub(crate) fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet frame carrying UDP with `len` bytes, over IPv4 or IPv6.
    fn frame(v6: bool, len: usize) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2; 6], [4; 6]);
        let b = match v6 {
            false => b.ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64),
            true => b.ipv6([0xfd; 16], [0xfe; 16], 64),
        };
        let mut out = Vec::new();
        b.udp(5000, 53).write(&mut out, &vec![7; len]).unwrap();
        out
    }

    #[test]
    fn fragments_carry_the_payload_in_order_with_offsets_and_flags() {
        for v6 in [false, true] {
            let f = frame(v6, 3000);
            let hdr = if v6 { 40 } else { 20 };
            let parts = fragments(&f, 14, 3, 0x4c43_0001);
            assert_eq!(parts.len(), 3);
            let mut payload = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                assert_eq!(&p[..14], &f[..14], "the link header");
                let ip = &p[14..];
                let (word, body) = match v6 {
                    false => {
                        assert_eq!(checksum(&ip[..hdr]), 0, "a valid header checksum");
                        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
                        assert_eq!(total, ip.len());
                        (u16::from_be_bytes([ip[6], ip[7]]), &ip[hdr..])
                    }
                    true => {
                        assert_eq!(ip[6], 44, "a Fragment header");
                        assert_eq!(ip[40], 17, "then UDP");
                        assert_eq!(&ip[44..48], &0x4c43_0001u32.to_be_bytes());
                        let w = u16::from_be_bytes([ip[42], ip[43]]);
                        ((w & 1) << 13 | w >> 3, &ip[48..])
                    }
                };
                assert_eq!(word & 0x2000 != 0, i < 2, "more fragments");
                assert_eq!(usize::from(word & 0x1fff) * 8, payload.len(), "offset");
                payload.extend_from_slice(body);
            }
            assert_eq!(payload, f[14 + hdr..], "the payload, whole and in order");
        }
    }
}
