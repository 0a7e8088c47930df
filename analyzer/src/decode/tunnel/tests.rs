//! Each encapsulation, built byte by byte from its layout, decoded to the
//! inner TCP flow with its own length.

use etherparse::{IpNumber, PacketBuilder};

use super::*;
use crate::decode::{decode, Decoded};
use capture::{Frame, LinkType};

/// Ethernet + IPv4 10.0.0.1:50000 → 10.0.0.2:5719 TCP with 100 payload bytes.
fn inner_eth() -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(50000, 5719, 1, 1000)
        .write(&mut out, &[0x5a; 100])
        .unwrap();
    out
}

fn inner_ip() -> Vec<u8> {
    inner_eth()[14..].to_vec()
}

/// Ethernet + outer IPv4 192.0.2.1 → 192.0.2.2 with protocol `proto`.
fn outer(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
        .write(&mut out, IpNumber(proto), payload)
        .unwrap();
    out
}

fn outer_udp(dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
        .udp(49999, dport)
        .write(&mut out, payload)
        .unwrap();
    out
}

fn packet(bytes: &[u8]) -> PacketMeta<'_> {
    match decode(&Frame::test(LinkType::ETHERNET, bytes)) {
        Decoded::Packet(m) => m,
        other => panic!("{other:?}"),
    }
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Decodes the outer packet, then its inner level: kind, id, inner bytes,
/// inner TCP ports.
fn through(frame: &[u8]) -> (TunnelKind, Option<u32>, u32, (u16, u16)) {
    let m = packet(frame);
    let e = encapsulated(&m).expect("a tunnel");
    match inner(&e) {
        Decoded::Packet(i) => (e.kind, e.id, e.wire_len, (i.sport, i.dport)),
        other => panic!("{:?}: {other:?}", e.kind),
    }
}

fn stop_of(frame: &[u8]) -> String {
    let m = packet(frame);
    let e = encapsulated(&m).expect("a tunnel");
    match inner(&e) {
        Decoded::Stopped(s) => s.to_string(),
        other => panic!("{other:?}"),
    }
}

const ETH_LEN: u32 = 14 + 20 + 20 + 100;
const IP_LEN: u32 = 20 + 20 + 100;
const PORTS: (u16, u16) = (50000, 5719);

#[test]
fn gre_with_checksum_key_and_sequence_carries_ip() {
    // C K S set: checksum + reserved, key 0x1234, sequence 7.
    let gre = [0xb0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 7];
    let f = outer(47, &cat(&[&gre, &inner_ip()]));
    assert_eq!(through(&f), (TunnelKind::Gre, Some(0x1234), IP_LEN, PORTS));
    // IPv6 inner, no options.
    let mut v6 = Vec::new();
    PacketBuilder::ipv6([0xfd; 16], [0xfe; 16], 64)
        .udp(1, 2)
        .write(&mut v6, &[0; 8])
        .unwrap();
    let f = outer(47, &cat(&[&[0, 0, 0x86, 0xdd], &v6]));
    assert_eq!(through(&f), (TunnelKind::Gre, None, 40 + 8 + 8, (1, 2)));
}

#[test]
fn gre_bridging_nvgre_and_mpls() {
    // Transparent Ethernet bridging with a sequence number: plain GRE.
    let teb = [0x10, 0, 0x65, 0x58, 0, 0, 0, 1];
    let f = outer(47, &cat(&[&teb, &inner_eth()]));
    assert_eq!(through(&f), (TunnelKind::Gre, None, ETH_LEN, PORTS));
    // K only, 0x6558: NVGRE, VSID 0x00abcd (FlowID 0x11).
    let nvgre = [0x20, 0, 0x65, 0x58, 0x00, 0xab, 0xcd, 0x11];
    let f = outer(47, &cat(&[&nvgre, &inner_eth()]));
    assert_eq!(
        through(&f),
        (TunnelKind::Nvgre, Some(0xabcd), ETH_LEN, PORTS)
    );
    // MPLS over GRE: one label, then IP; the labels are tunnel header.
    let mpls = [0, 0, 0x88, 0x47, 0x00, 0x01, 0x01, 64];
    let f = outer(47, &cat(&[&mpls, &inner_ip()]));
    assert_eq!(through(&f), (TunnelKind::Gre, None, IP_LEN, PORTS));
}

#[test]
fn erspan_types_one_two_three() {
    // Type I: no sequence number, Ethernet right after GRE.
    let f = outer(47, &cat(&[&[0, 0, 0x88, 0xbe], &inner_eth()]));
    assert_eq!(through(&f), (TunnelKind::ErspanI, None, ETH_LEN, PORTS));
    // Type II: sequence number, then Ver 1, VLAN 0, session 7, index 0.
    let gre = [0x10, 0, 0x88, 0xbe, 0, 0, 0, 9];
    let ii = [0x10, 0x00, 0x00, 0x07, 0, 0, 0, 0];
    let f = outer(47, &cat(&[&gre, &ii, &inner_eth()]));
    assert_eq!(through(&f), (TunnelKind::ErspanII, Some(7), ETH_LEN, PORTS));
    // Type III, session 1023, FT 0 (Ethernet), O set: 8-byte subheader.
    let gre = [0x10, 0, 0x22, 0xeb, 0, 0, 0, 9];
    let iii = [0x20, 0, 0x03, 0xff, 1, 2, 3, 4, 0, 0, 0x00, 0x01];
    let f = outer(47, &cat(&[&gre, &iii, &[0xee; 8], &inner_eth()]));
    assert_eq!(
        through(&f),
        (TunnelKind::ErspanIII, Some(1023), ETH_LEN, PORTS)
    );
    // Type III, FT 2: an IP packet, no subheader.
    let iii_ip = [0x20, 0, 0x00, 0x05, 1, 2, 3, 4, 0, 0, 0x08, 0x00];
    let f = outer(47, &cat(&[&gre, &iii_ip, &inner_ip()]));
    assert_eq!(through(&f), (TunnelKind::ErspanIII, Some(5), IP_LEN, PORTS));
    // FT 7 is not decoded; a type II header claiming version 2 is malformed.
    let ft7 = [0x20, 0, 0x00, 0x05, 1, 2, 3, 4, 0, 0, 0x1c, 0x00];
    let s = stop_of(&outer(47, &cat(&[&gre, &ft7, &inner_ip()])));
    assert!(s.starts_with("erspan: ERSPAN III frame type"), "{s}");
    let gre2 = [0x10, 0, 0x88, 0xbe, 0, 0, 0, 9];
    let s = stop_of(&outer(47, &cat(&[&gre2, &iii, &inner_eth()])));
    assert_eq!(
        s,
        "erspan: malformed (ERSPAN version does not match its GRE type)"
    );
}

#[test]
fn vxlan_and_geneve() {
    let vx = [0x08, 0, 0, 0, 0x00, 0x13, 0x89, 0];
    let f = outer_udp(4789, &cat(&[&vx, &inner_eth()]));
    assert_eq!(through(&f), (TunnelKind::Vxlan, Some(5001), ETH_LEN, PORTS));
    let no_i = [0x00, 0, 0, 0, 0x00, 0x13, 0x89, 0];
    let s = stop_of(&outer_udp(4789, &cat(&[&no_i, &inner_eth()])));
    assert_eq!(s, "vxlan: malformed (VXLAN I flag clear)");
    // Geneve with 8 bytes of options (Opt Len 2), inner Ethernet.
    let gen = [0x02, 0, 0x65, 0x58, 0x00, 0x00, 0x2a, 0];
    let f = outer_udp(6081, &cat(&[&gen, &[0x11; 8], &inner_eth()]));
    assert_eq!(through(&f), (TunnelKind::Geneve, Some(42), ETH_LEN, PORTS));
    // Geneve carrying IPv4 directly; an unknown protocol type stops.
    let gen_ip = [0x00, 0, 0x08, 0x00, 0x00, 0x00, 0x2b, 0];
    let f = outer_udp(6081, &cat(&[&gen_ip, &inner_ip()]));
    assert_eq!(through(&f), (TunnelKind::Geneve, Some(43), IP_LEN, PORTS));
    let odd = [0x00, 0, 0x12, 0x34, 0x00, 0x00, 0x2b, 0];
    let s = stop_of(&outer_udp(6081, &cat(&[&odd, &inner_ip()])));
    assert_eq!(s, "geneve: protocol type 0x1234 not decoded");
}

#[test]
fn ip_in_ip_either_outer_family() {
    let f = outer(4, &inner_ip());
    assert_eq!(through(&f), (TunnelKind::Ipv4InIp, None, IP_LEN, PORTS));
    let mut v6 = Vec::new();
    PacketBuilder::ipv6([0xfd; 16], [0xfe; 16], 64)
        .tcp(50000, 5719, 1, 1000)
        .write(&mut v6, &[0; 100])
        .unwrap();
    let f = outer(41, &v6);
    assert_eq!(
        through(&f),
        (TunnelKind::Ipv6InIp, None, 40 + 20 + 100, PORTS)
    );
    // IPv4 inside an IPv6 outer header.
    let mut f = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv6([0xfd; 16], [0xfe; 16], 64)
        .write(&mut f, IpNumber::IPV4, &inner_ip())
        .unwrap();
    assert_eq!(through(&f), (TunnelKind::Ipv4InIp, None, IP_LEN, PORTS));
}

#[test]
fn mpls_unicast_and_multicast_then_ip() {
    for ether_type in [[0x88, 0x47], [0x88, 0x48]] {
        // Two labels, the second with bottom of stack.
        let f = cat(&[
            &[2; 12],
            &ether_type,
            &[0, 1, 0, 64, 0, 2, 1, 64],
            &inner_ip(),
        ]);
        let m = packet(&f);
        assert!(m.mpls);
        assert_eq!((m.sport, m.dport), PORTS);
        assert!(encapsulated(&m).is_none());
    }
}

#[test]
fn what_is_not_decoded_says_why() {
    // PPTP's enhanced GRE (version 1).
    let pptp = [0x30, 0x81, 0x88, 0x0b, 0, 0, 0, 0, 0, 0, 0, 1];
    assert_eq!(
        stop_of(&outer(47, &pptp)),
        "gre: version 1 (PPTP) not decoded"
    );
    // A GRE header cut by the snaplen.
    let f = outer(47, &[0xb0, 0, 0x08, 0, 0, 0]);
    assert_eq!(stop_of(&f), "gre: header cut by snaplen");
    // The first fragment of an outer packet.
    let mut f = outer_udp(4789, &cat(&[&[0x08, 0, 0, 0, 0, 0, 1, 0], &inner_eth()]));
    f[14 + 6] = 0x20; // MF
    assert_eq!(
        stop_of(&f),
        "vxlan: outer IP packet fragmented (not reassembled)"
    );
}

#[test]
fn a_snaplen_cut_inner_frame_keeps_its_wire_length() {
    let vx = [0x08, 0, 0, 0, 0x00, 0x13, 0x89, 0];
    let f = outer_udp(4789, &cat(&[&vx, &inner_eth()]));
    // 50 outer bytes, 14 inner Ethernet, 20 IP, 4 TCP: ports still known.
    let cut = &f[..50 + 14 + 20 + 4];
    let Decoded::Packet(m) = decode(&Frame::test(LinkType::ETHERNET, cut)) else {
        panic!()
    };
    let e = encapsulated(&m).unwrap();
    assert_eq!(e.wire_len, ETH_LEN);
    let Decoded::Packet(i) = inner(&e) else {
        panic!()
    };
    assert_eq!((i.sport, i.dport), PORTS);
}
