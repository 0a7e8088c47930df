//! Tunnel keying and bounds, on frames built here layer by layer: what a
//! flow key holds, how deep decoding goes, how many tunnels are tracked.

use std::collections::BTreeMap;

use analyzer::flow::{TunnelId, MAX_TUNNELS};
use analyzer::{Analyzer, AnalyzerConfig};
use capture::{Frame, LinkType, Timestamp};
use etherparse::{IpNumber, PacketBuilder};

/// An inner Ethernet frame: TCP 10.0.0.1:50000 → 10.0.0.2:5719, 100 bytes.
fn inner_eth() -> Vec<u8> {
    inner_tagged(&[])
}

/// `inner_eth` with 802.1Q `tags`, outermost first.
fn inner_tagged(tags: &[u16]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(50000, 5719, 1, 1000)
        .write(&mut out, &[0x5a; 100])
        .unwrap();
    tag(out, tags)
}

/// `frame` with 802.1Q `tags` (TPID 0x8100 each) after its MAC addresses,
/// outermost first.
fn tag(frame: Vec<u8>, tags: &[u16]) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    for t in tags {
        out.extend([0x81, 0x00]);
        out.extend(t.to_be_bytes());
    }
    out.extend_from_slice(&frame[12..]);
    out
}

/// VXLAN (RFC 7348 §5) with `vni` from VTEP 192.0.2.1 to 192.0.2.2.
fn vxlan(vni: u32, inner: &[u8]) -> Vec<u8> {
    vxlan_tagged(vni, &[], inner)
}

/// `vxlan` with the outer frame carrying 802.1Q `tags`.
fn vxlan_tagged(vni: u32, tags: &[u16], inner: &[u8]) -> Vec<u8> {
    let v = vni.to_be_bytes();
    let mut payload = vec![0x08, 0, 0, 0, v[1], v[2], v[3], 0];
    payload.extend_from_slice(inner);
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
        .udp(49152, 4789)
        .write(&mut out, &payload)
        .unwrap();
    tag(out, tags)
}

fn observe_all(frames: &[Vec<u8>]) -> Analyzer {
    let mut an = Analyzer::new(AnalyzerConfig::default());
    let cap = an.add_capture("built");
    for (i, data) in frames.iter().enumerate() {
        let f = Frame {
            ts: Timestamp(1_700_000_000_000_000_000 + i as i64 * 1000),
            wire_len: data.len() as u32,
            ..Frame::test(LinkType::ETHERNET, data)
        };
        an.observe(&f, cap, None);
    }
    an
}

fn undecoded(an: &Analyzer) -> BTreeMap<String, u64> {
    an.captures()[0]
        .undecoded
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect()
}

#[test]
fn one_inner_tuple_in_two_vnis_is_two_flows() {
    let inner = inner_eth();
    let an = observe_all(&[
        vxlan(5001, &inner),
        vxlan(5002, &inner),
        vxlan(5001, &inner),
    ]);
    let tcp: Vec<_> = an.flows().filter(|f| f.key.proto == 6).collect();
    assert_eq!(tcp.len(), 2);
    let mut by_vni: Vec<(u32, u64, u64)> = tcp
        .iter()
        .map(|f| {
            let t = an.tunnel(f.key.tunnel).expect("in a tunnel");
            (t.id.unwrap(), f.total_packets(), f.total_bytes())
        })
        .collect();
    by_vni.sort();
    let len = inner.len() as u64;
    assert_eq!(by_vni, [(5001, 2, 2 * len), (5002, 1, len)]);
    // One outer UDP flow (same VTEPs and ports), outside any tunnel.
    let udp: Vec<_> = an.flows().filter(|f| f.key.proto == 17).collect();
    assert_eq!(udp.len(), 1);
    assert_eq!(udp[0].key.tunnel, TunnelId::NONE);
    assert_eq!(udp[0].total_packets(), 3);
    assert_eq!(an.captures()[0].overlay_packets, 3);
}

/// `n` IPv4-in-IPv4 headers around a UDP datagram.
fn ipip(n: usize) -> Vec<u8> {
    let mut pkt = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(1000, 2000)
        .write(&mut pkt, &[0; 8])
        .unwrap();
    for level in 0..n {
        let mut outer = Vec::new();
        let a = [192, 0, 2, level as u8];
        PacketBuilder::ipv4(a, [198, 51, 100, level as u8], 64)
            .write(&mut outer, IpNumber::IPV4, &pkt)
            .unwrap();
        pkt = outer;
    }
    let mut frame = vec![2; 12];
    frame.extend([0x08, 0x00]);
    frame.extend(pkt);
    frame
}

#[test]
fn nesting_is_bounded_at_four_tunnels() {
    // Four tunnels: four outer flows (protocol 4) and the UDP flow inside.
    let an = observe_all(&[ipip(4)]);
    let protos: Vec<u8> = an.flows().map(|f| f.key.proto).collect();
    assert_eq!(protos.iter().filter(|p| **p == 4).count(), 4);
    assert_eq!(protos.iter().filter(|p| **p == 17).count(), 1);
    assert!(undecoded(&an).is_empty());
    // Five: the fifth outer packet is still a flow, what it carries is not decoded.
    for n in [5, 60] {
        let an = observe_all(&[ipip(n)]);
        assert_eq!(an.flows().count(), 5, "{n} tunnels");
        assert!(an.flows().all(|f| f.key.proto == 4));
        let want = BTreeMap::from([(
            "tunnel: nested deeper than 4 tunnels, not decoded".to_string(),
            1,
        )]);
        assert_eq!(undecoded(&an), want, "{n} tunnels");
        assert_eq!(an.captures()[0].overlay_packets, 5);
    }
}

#[test]
fn the_tunnel_table_is_bounded() {
    let inner = inner_eth();
    let extra = 10;
    let frames: Vec<Vec<u8>> = (0..(MAX_TUNNELS + extra) as u32)
        .map(|vni| vxlan(vni, &inner))
        .collect();
    let an = observe_all(&frames);
    let tcp = an.flows().filter(|f| f.key.proto == 6).count();
    assert_eq!(tcp, MAX_TUNNELS);
    let want = BTreeMap::from([(
        "tunnel: more than 65536 tunnels tracked, not decoded".to_string(),
        extra as u64,
    )]);
    assert_eq!(undecoded(&an), want);
}

#[test]
fn an_erspan_session_is_the_inner_flow_interface() {
    // GRE with S (sequence 1), 0x88BE, ERSPAN II: version 1, session 9.
    let mut payload = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0, 0, 9, 0, 0, 0, 0];
    payload.extend(inner_eth());
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4([192, 0, 2, 10], [192, 0, 2, 20], 64)
        .write(&mut frame, IpNumber::GRE, &payload)
        .unwrap();
    let an = observe_all(&[frame.clone(), frame.clone()]);
    let flows: Vec<_> = an.flows().collect();
    assert_eq!(flows.len(), 1, "the mirror transport is no flow");
    assert_eq!(flows[0].total_bytes(), 2 * inner_eth().len() as u64);
    let names: Vec<&str> = flows[0]
        .ifaces
        .iter()
        .map(|s| an.iface_name(s.iface))
        .collect();
    assert_eq!(names, ["erspan:9"]);
    let c = &an.captures()[0];
    assert_eq!(
        (c.mirror_packets, c.mirror_bytes),
        (2, 2 * frame.len() as u64)
    );
    assert_eq!(c.overlay_packets, 0);
}

/// The VLAN ids of the flows of IP protocol `proto`, each flow's sorted.
fn vlans_of(an: &Analyzer, proto: u8) -> Vec<Vec<u16>> {
    an.flows()
        .filter(|f| f.key.proto == proto)
        .map(|f| {
            let mut v: Vec<u16> = f.vlans.iter().map(|t| t.vlan).collect();
            v.sort_unstable();
            v
        })
        .collect()
}

#[test]
fn an_overlay_inner_flow_crossed_its_outer_frame_vlans() {
    // The outer frame on VLAN 20 carries an inner frame on VLAN 30.
    let an = observe_all(&[vxlan_tagged(5001, &[20], &inner_tagged(&[30]))]);
    assert_eq!(vlans_of(&an, 6), [vec![20, 30]]);
    assert_eq!(vlans_of(&an, 17), [vec![20]]);
    // An untagged inner frame: the outer tag alone.
    let an = observe_all(&[vxlan_tagged(5001, &[20], &inner_eth())]);
    assert_eq!(vlans_of(&an, 6), [vec![20]]);
}

#[test]
fn more_vlan_tags_than_a_level_holds_are_undecoded() {
    let frame = vxlan_tagged(5001, &[20, 21], &inner_tagged(&[30, 31]));
    let an = observe_all(&[frame]);
    assert_eq!(vlans_of(&an, 6), Vec::<Vec<u16>>::new());
    assert_eq!(vlans_of(&an, 17), [vec![20, 21]]);
    assert_eq!(
        undecoded(&an),
        BTreeMap::from([(
            "link: more than 3 VLAN tags outside and inside a tunnel, not decoded".to_string(),
            1
        )])
    );
}

#[test]
fn an_erspan_inner_flow_keeps_only_its_own_vlans() {
    // Mirror transport on VLAN 20 (the collector's), the mirrored frame on 30.
    let mut payload = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0, 0, 9, 0, 0, 0, 0];
    payload.extend(inner_tagged(&[30]));
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4([192, 0, 2, 10], [192, 0, 2, 20], 64)
        .write(&mut frame, IpNumber::GRE, &payload)
        .unwrap();
    let an = observe_all(&[tag(frame, &[20])]);
    assert_eq!(vlans_of(&an, 6), [vec![30]]);
}
