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
        let nics = [Some(an.intern_iface(cap, "a")), Some(an.intern_iface(cap, "b"))];
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
        an.end_of_input(&mut ());
        prop_assert_eq!(an.captures()[0].packets, read);
        prop_assert!(accounted(&an, read as usize).is_ok(), "{:?}", accounted(&an, read as usize));
        // The outermost level of every unique frame is in a flow (an
        // overlay's outer packet in its tunnel flow) or is ERSPAN mirror
        // transport; inner levels are counted besides.
        let c = &an.captures()[0];
        let outermost: u64 = an
            .flows()
            .filter(|f| f.key.tunnel == analyzer::flow::TunnelId::NONE)
            .map(|f| f.total_bytes())
            .sum();
        prop_assert_eq!(outermost + c.mirror_bytes, c.unique_bytes);
        if mode == DedupMode::Off {
            prop_assert_eq!(c.duplicates, 0);
        }
    }

    #[test]
    fn tunnelled_frames_are_accounted(frames in prop::collection::vec((tunnelled(), any::<u8>()), 1..48)) {
        let mut an = Analyzer::new(AnalyzerConfig::default());
        let cap = an.add_capture("prop");
        for (i, (data, cut)) in frames.iter().enumerate() {
            let keep = if cut % 3 == 0 { data.len().min(usize::from(*cut)) } else { data.len() };
            let f = Frame {
                ts: Timestamp(i as i64 * 1_000_000),
                wire_len: data.len() as u32,
                ..Frame::test(LinkType::ETHERNET, &data[..keep])
            };
            let _ = decode(&f);
            an.observe(&f, cap, None);
        }
        an.end_of_input(&mut ());
        prop_assert!(accounted(&an, frames.len()).is_ok(), "{:?}", accounted(&an, frames.len()));
    }
}

/// Every frame's innermost level is in one flow, `non_ip` or `undecoded`;
/// each overlay outer packet is in its `tunnel` flow besides; level 0 never
/// counts more bytes than the frames had.
fn accounted(an: &Analyzer, frames: usize) -> Result<(), String> {
    let c = &an.captures()[0];
    let in_flows: u64 = an.flows().map(|f| f.total_packets()).sum();
    let undecoded: u64 = c.undecoded.values().sum();
    if c.packets != frames as u64 {
        return Err(format!("{} packets for {frames} frames", c.packets));
    }
    if in_flows + undecoded + c.non_ip + c.duplicates != c.packets + c.overlay_packets {
        return Err(format!(
            "flows {in_flows} + undecoded {undecoded} + non-IP {} + duplicates {} != packets {} + overlay {}",
            c.non_ip, c.duplicates, c.packets, c.overlay_packets
        ));
    }
    let outermost: u64 = an
        .flows()
        .filter(|f| f.key.tunnel == analyzer::flow::TunnelId::NONE)
        .map(|f| f.total_bytes())
        .sum();
    // Bytes as the size stage weighed them (an IP header may say more
    // than the frame recorded).
    if outermost + c.mirror_bytes > c.unique_bytes {
        return Err(format!(
            "{outermost} + {} bytes of {}",
            c.mirror_bytes, c.unique_bytes
        ));
    }
    Ok(())
}

/// A tunnel's outer headers (GRE with any flags and a known or random
/// protocol type, VXLAN, Geneve, IP in IP nested up to 7 deep, MPLS)
/// around random bytes: decoding must take anything and stay bounded.
fn tunnelled() -> impl Strategy<Value = Vec<u8>> {
    let gre_proto = prop::sample::select(vec![
        0x0800u16, 0x86dd, 0x6558, 0x88be, 0x22eb, 0x8847, 0x880b,
    ]);
    (
        0u8..6,
        any::<u8>(),
        gre_proto,
        0usize..8,
        prop::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(kind, flags, gre_proto, depth, tail)| {
            let mut inner = tail;
            let b = || {
                etherparse::PacketBuilder::ethernet2([2; 6], [4; 6]).ipv4(
                    [10, 0, 0, 1],
                    [10, 0, 0, 2],
                    64,
                )
            };
            let mut out = Vec::new();
            match kind {
                0 => {
                    let mut h = vec![flags & 0xb0, 0];
                    h.extend(gre_proto.to_be_bytes());
                    h.extend(inner);
                    b().write(&mut out, etherparse::IpNumber::GRE, &h).unwrap();
                }
                1 | 2 => {
                    let port = if kind == 1 { 4789 } else { 6081 };
                    b().udp(50_000, port).write(&mut out, &inner).unwrap();
                }
                3 => {
                    for _ in 0..depth {
                        let mut ip = Vec::new();
                        etherparse::PacketBuilder::ipv4([10, 0, 0, 3], [10, 0, 0, 4], 64)
                            .write(&mut ip, etherparse::IpNumber::IPV4, &inner)
                            .unwrap();
                        inner = ip;
                    }
                    b().write(&mut out, etherparse::IpNumber::IPV4, &inner)
                        .unwrap();
                }
                4 => {
                    out.extend([2u8; 12]);
                    out.extend([0x88, 0x47, 0, 0, flags & 1, 64]);
                    out.extend(inner);
                }
                _ => b()
                    .write(&mut out, etherparse::IpNumber::IPV6, &inner)
                    .unwrap(),
            }
            out
        })
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
        an.end_of_input(&mut ());
        let r = an.report();
        prop_assert!(r.classes.iter().map(|c| c.packets).sum::<u64>() <= frames.len() as u64);
    }
}
