use capture::{Frame, LinkType, Producer, Timestamp};
use etherparse::PacketBuilder;

use super::*;
use crate::decode::{decode, Decoded};

/// A raw IPv4 TCP packet 10.0.0.1:49703 → 10.0.0.2:5719.
fn tcp(ip_id: u16, seq: u32, payload: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ip = etherparse::Ipv4Header::new(
        0,
        128,
        etherparse::IpNumber::TCP,
        [10, 0, 0, 1],
        [10, 0, 0, 2],
    )
    .unwrap();
    ip.identification = ip_id;
    PacketBuilder::ip(etherparse::IpHeaders::Ipv4(ip, Default::default()))
        .tcp(49703, 5719, seq, 64240)
        .ack(77)
        .write(&mut out, &vec![0x5a; payload])
        .unwrap();
    out
}

fn meta(bytes: &[u8]) -> PacketMeta<'_> {
    match decode(&Frame::test(LinkType::RAW, bytes)) {
        Decoded::Packet(m) => m,
        other => panic!("{other:?}"),
    }
}

const CAP: CaptureId = CaptureId(0);
const NIC_A: Option<IfaceRef> = Some(IfaceRef(0));
const NIC_B: Option<IfaceRef> = Some(IfaceRef(1));

fn stage(mode: DedupMode, producer: Producer, interfaces: usize) -> Dedup {
    let mut d = Dedup::new(mode);
    d.configure(CAP, producer, interfaces);
    d
}

const FIRST: Copy = Copy::First {
    possible_copy: false,
};

#[test]
fn what_auto_collapses_follows_the_producer() {
    use Producer::*;
    let auto = |p, n| Copies::for_capture(DedupMode::Auto, p, n);
    assert_eq!(auto(Pktmon, 1), Copies::All);
    assert_eq!(auto(Etl2Pcapng, 5), Copies::All);
    assert_eq!(auto(Etl2PcapngPktmon, 9), Copies::All);
    assert_eq!(auto(Npcap, 2), Copies::AcrossInterfaces);
    assert_eq!(auto(Npcap, 1), Copies::None);
    for p in [Libpcap, Dumpcap, Lanecheck, Other, Unknown, Etwdump] {
        assert_eq!(auto(p, 4), Copies::None, "{p:?}");
    }
    assert_eq!(Copies::for_capture(DedupMode::On, Libpcap, 1), Copies::All);
    assert_eq!(Copies::for_capture(DedupMode::Off, Pktmon, 1), Copies::None);
}

#[test]
fn pktmon_copies_on_one_interface_count_once() {
    let mut d = stage(DedupMode::Auto, Producer::Pktmon, 1);
    let p = tcp(0x1001, 5000, 1460);
    let m = meta(&p);
    let t = 1_700_000_000_000_000_000;
    assert_eq!(d.check(CAP, Timestamp(t), None, &m), FIRST);
    for k in 1..12 {
        assert_eq!(
            d.check(CAP, Timestamp(t + k * 3_000), None, &m),
            Copy::Repeat
        );
    }
    // The next packet (its IP id differs) is a packet of its own.
    let q = tcp(0x1002, 6460, 1460);
    assert_eq!(d.check(CAP, Timestamp(t + 40_000), None, &meta(&q)), FIRST);
    // The same bytes again after the window: a retransmission, counted.
    assert_eq!(d.check(CAP, Timestamp(t + WINDOW_NS + 1), None, &m), FIRST);
}

#[test]
fn a_copy_on_another_nic_credits_that_nic_only() {
    let mut d = stage(DedupMode::Auto, Producer::Npcap, 2);
    let p = tcp(0x2001, 1, 100);
    let m = meta(&p);
    assert_eq!(d.check(CAP, Timestamp(0), NIC_A, &m), FIRST);
    assert_eq!(
        d.check(CAP, Timestamp(2_000), NIC_B, &m),
        Copy::Place {
            iface: true,
            vlans: ([0; 3], 0)
        }
    );
    // Across interfaces only: a NIC logs a packet once, so the same bytes
    // again on a NIC that has them are a packet of their own.
    assert_eq!(d.check(CAP, Timestamp(4_000), NIC_B, &m), FIRST);
    assert_eq!(d.check(CAP, Timestamp(5_000), NIC_A, &m), FIRST);
    // Collapsing everything, the same repeat is a copy.
    let mut d = stage(DedupMode::On, Producer::Npcap, 2);
    assert_eq!(d.check(CAP, Timestamp(0), NIC_A, &m), FIRST);
    assert_eq!(d.check(CAP, Timestamp(1_000), NIC_A, &m), Copy::Repeat);
}

#[test]
fn a_copy_with_a_new_vlan_tag_credits_the_tag() {
    let mut d = stage(DedupMode::On, Producer::Unknown, 1);
    let mut tagged = vec![
        2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 30, 0x08, 0x00,
    ];
    let p = tcp(0x3001, 1, 100);
    tagged.extend_from_slice(&p);
    let Decoded::Packet(mt) = decode(&Frame::test(LinkType::ETHERNET, &tagged)) else {
        panic!()
    };
    assert_eq!(d.check(CAP, Timestamp(0), NIC_A, &meta(&p)), FIRST);
    assert_eq!(
        d.check(CAP, Timestamp(1_000), NIC_A, &mt),
        Copy::Place {
            iface: false,
            vlans: ([30, 0, 0], 1)
        }
    );
}

#[test]
fn nothing_is_keyed_where_nothing_is_collapsed() {
    let mut d = stage(DedupMode::Auto, Producer::Libpcap, 1);
    let p = tcp(0x4001, 1, 100);
    for k in 0..3 {
        assert_eq!(d.check(CAP, Timestamp(k), None, &meta(&p)), FIRST);
    }
    assert_eq!(d.retained(), 0);
}

#[test]
fn memory_is_bounded_by_the_window_and_the_cap() {
    let mut d = stage(DedupMode::On, Producer::Unknown, 1);
    let n = MAX_SEEN as u32 + 10;
    for i in 0..n {
        let p = tcp(i as u16, i, 10);
        d.check(CAP, Timestamp(i64::from(i)), None, &meta(&p));
    }
    assert!(d.retained() <= MAX_SEEN);
    assert_eq!(d.overflow(CAP), 10);
    // Far later, everything older than the window is gone.
    let p = tcp(1, 1, 10);
    d.check(CAP, Timestamp(1_000 * WINDOW_NS), None, &meta(&p));
    assert_eq!(d.retained(), 1);
}

#[test]
fn a_coalesced_frame_after_its_segments_is_a_possible_copy() {
    let mut d = stage(DedupMode::Auto, Producer::Pktmon, 1);
    for k in 0..4u32 {
        let s = tcp(0x5000 + k as u16, 1000 + k * 1460, 1460);
        assert_eq!(
            d.check(CAP, Timestamp(i64::from(k) * 10), None, &meta(&s)),
            FIRST
        );
    }
    let big = tcp(0x6000, 1000, 4 * 1460);
    assert_eq!(
        d.check(CAP, Timestamp(100), None, &meta(&big)),
        Copy::First {
            possible_copy: true
        }
    );
    // New bytes are not.
    let next = tcp(0x6001, 1000 + 4 * 1460, 1460);
    assert_eq!(d.check(CAP, Timestamp(200), None, &meta(&next)), FIRST);
}

#[test]
fn copies_on_many_nics_credit_each_once_up_to_sixteen() {
    let mut d = stage(DedupMode::On, Producer::Etl2PcapngPktmon, 20);
    let p = tcp(0x3001, 1, 100);
    let m = meta(&p);
    let nic = |i: u32| Some(IfaceRef(i));
    assert_eq!(d.check(CAP, Timestamp(0), nic(0), &m), FIRST);
    let mut credited = 1;
    for round in 0..3 {
        for i in 0..20u32 {
            let at = Timestamp(1_000 + i64::from(round * 20 + i) * 10);
            match d.check(CAP, at, nic(i), &m) {
                Copy::Place { iface: true, .. } => credited += 1,
                Copy::Repeat => {}
                other => panic!("round {round}, nic {i}: {other:?}"),
            }
        }
    }
    // Every NIC credited at most once, whatever the repeats: the first 16.
    assert_eq!(credited, 16);
}

/// An IPv6 UDP datagram fe80::11:50000 → fe80::12:3343 whose payload is a
/// common 8-byte header, the counter `n`, and `cut` bytes kept of the rest.
fn udp6(n: u32, cut: usize) -> Vec<u8> {
    let mut payload = b"HDR-8byt".to_vec();
    payload.extend_from_slice(&n.to_be_bytes());
    payload.extend_from_slice(&[0u8; 200]);
    let src = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11];
    let mut dst = src;
    dst[15] = 0x12;
    let mut out = Vec::new();
    PacketBuilder::ipv6(src, dst, 64)
        .udp(50000, 3343)
        .write(&mut out, &payload)
        .unwrap();
    out.truncate(40 + 8 + cut);
    out
}

#[test]
fn ipv6_datagrams_alike_in_their_first_bytes_are_not_copies() {
    let mut d = stage(DedupMode::Auto, Producer::Pktmon, 1);
    let t = 1_700_000_000_000_000_000;
    // 500 distinct datagrams 0.1 ms apart: each counted, none a copy.
    for n in 0..500u32 {
        let p = udp6(n, 212);
        let at = Timestamp(t + i64::from(n) * 100_000);
        assert_eq!(d.check(CAP, at, None, &meta(&p)), FIRST, "datagram {n}");
    }
    // A datagram's copies, one cut after 10 payload bytes (its counter
    // half kept, and equal): repeats.
    let at = t + 500 * 100_000;
    assert_eq!(
        d.check(CAP, Timestamp(at), None, &meta(&udp6(900, 212))),
        FIRST
    );
    assert_eq!(
        d.check(CAP, Timestamp(at + 3_000), None, &meta(&udp6(900, 10))),
        Copy::Repeat
    );
    assert_eq!(
        d.check(CAP, Timestamp(at + 6_000), None, &meta(&udp6(900, 212))),
        Copy::Repeat
    );
}
