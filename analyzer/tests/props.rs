//! Property tests: decoding and analysis are total over arbitrary bytes and
//! every link type we know (and some we do not). Run in `make test`.

use analyzer::decode::{decode, Decoded};
use analyzer::dedup::DedupMode;
use analyzer::{Analyzer, AnalyzerConfig};
use capture::{Frame, LinkType, Producer, Timestamp};
use proptest::prelude::*;

fn link_any() -> impl Strategy<Value = LinkType> {
    prop_oneof![
        prop::sample::select(vec![0u16, 1, 12, 14, 101, 108, 113, 228, 229, 276]),
        any::<u16>(),
    ]
    .prop_map(LinkType)
}

/// Ethernet + IPv4/IPv6 headers followed by random bytes, to reach deeper layers.
fn ethernet_ip() -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), prop::collection::vec(any::<u8>(), 0..256)).prop_map(|(v6, tail)| {
        let mut p = vec![0u8; 12];
        if v6 {
            p.extend([0x86, 0xdd, 0x60, 0, 0, 0]);
        } else {
            p.extend([0x08, 0x00, 0x45, 0]);
        }
        p.extend(tail);
        p
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn decode_total(bytes in prop::collection::vec(any::<u8>(), 0..2048), link in link_any()) {
        let _ = decode(&Frame::test(link, &bytes));
    }

    #[test]
    fn decode_deep_total(bytes in ethernet_ip()) {
        if let Decoded::Packet(m) = decode(&Frame::test(LinkType::ETHERNET, &bytes)) {
            prop_assert!(m.payload.len() <= bytes.len());
            prop_assert!(usize::from(m.vlan_count) <= 3);
        }
    }

    #[test]
    fn every_frame_is_accounted(
        frames in prop::collection::vec((ethernet_ip(), 0u32..4000, any::<i32>(), 0u8..4, any::<bool>()), 1..64),
        producer in prop::sample::select(vec![Producer::Pktmon, Producer::Npcap, Producer::Etl2Pcapng, Producer::Unknown]),
        mode in prop::sample::select(vec![DedupMode::Off, DedupMode::Auto, DedupMode::On]),
    ) {
        let mut an = Analyzer::new(AnalyzerConfig { dedup: mode, ..AnalyzerConfig::default() });
        let cap = an.add_capture("prop");
        an.set_source(cap, producer, None, 2);
        let nics = [Some(an.intern_iface("a")), Some(an.intern_iface("b"))];
        let mut read = 0u64;
        for (data, extra, t, copies, other) in &frames {
            // A frame, then up to 3 copies of it microseconds later, on the
            // same interface or the other one.
            for k in 0..=i64::from(*copies) {
                let f = Frame {
                    ts: Timestamp(i64::from(*t) * 1000 + k * 1000),
                    wire_len: data.len() as u32 + extra,
                    ..Frame::test(LinkType::ETHERNET, data)
                };
                an.observe(&f, cap, nics[usize::from(*other && k % 2 == 1)]);
                read += 1;
            }
        }
        let c = &an.captures()[0];
        let in_flows: u64 = an.flows().map(|f| f.total_packets()).sum();
        let undecoded: u64 = c.undecoded.values().sum();
        prop_assert_eq!(c.packets, read);
        prop_assert_eq!(in_flows + undecoded + c.non_ip + c.duplicates, c.packets);
        let flow_bytes: u64 = an.flows().map(|f| f.total_bytes()).sum();
        prop_assert_eq!(flow_bytes, c.unique_bytes);
        if mode == DedupMode::Off {
            prop_assert_eq!(c.duplicates, 0);
        }
    }
}

/// IPv4 + TCP or UDP to a port a dissector reads (SMB 445/139, DCE/RPC 135,
/// DNS 53), with random flags, sequence numbers and payload: the evidence
/// stage must take anything.
fn dissected() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<bool>(),
        prop::sample::select(vec![445u16, 139, 135, 53, 49750]),
        any::<u32>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..600),
    )
        .prop_map(|(tcp, port, seq, flags, payload)| {
            let b = etherparse::PacketBuilder::ethernet2([2; 6], [4; 6]).ipv4(
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                64,
            );
            let mut out = Vec::new();
            if tcp {
                let mut t = b.tcp(50_000, port, seq, 1024);
                if flags & 1 != 0 {
                    t = t.syn();
                }
                if flags & 2 != 0 {
                    t = t.ack(1);
                }
                t.write(&mut out, &payload).unwrap();
            } else {
                b.udp(50_000, port).write(&mut out, &payload).unwrap();
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn dissectors_take_any_payload(frames in prop::collection::vec((dissected(), any::<u8>()), 1..48)) {
        let mut an = Analyzer::new(AnalyzerConfig::default());
        let cap = an.add_capture("prop");
        for (i, (data, cut)) in frames.iter().enumerate() {
            // Some frames captured shorter than on the wire (a snaplen).
            let keep = if cut % 4 == 0 { data.len().min(usize::from(*cut)) } else { data.len() };
            let f = Frame {
                ts: Timestamp(i as i64 * 1_000_000),
                wire_len: data.len() as u32,
                ..Frame::test(LinkType::ETHERNET, &data[..keep])
            };
            an.observe(&f, cap, None);
        }
        let r = an.report();
        prop_assert!(r.classes.iter().map(|c| c.packets).sum::<u64>() <= frames.len() as u64);
    }
}
