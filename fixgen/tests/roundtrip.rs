//! Re-reads every written file with pcap-file's readers (and etherparse for the headers) and
//! recomputes the bookkeeping independently of the writer.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::net::IpAddr;
use std::path::Path;

use etherparse::{LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use fixgen::{CaptureTruth, FlowTruth};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, PcapError, TsResolution};

/// One record as read back.
struct Rec {
    ts: i64,
    iface: Option<String>,
    orig_len: u64,
    data: Vec<u8>,
    sll2: bool,
}

struct ReadBack {
    recs: Vec<Rec>,
    /// pcapng interface names, in IDB order.
    idb_names: Vec<String>,
    /// Error that ended reading, if any.
    end_err: Option<PcapError>,
    /// Offset after the last complete record (classic pcap).
    end_offset: u64,
}

fn read_back(path: &Path) -> ReadBack {
    let mut out = ReadBack {
        recs: Vec::new(),
        idb_names: Vec::new(),
        end_err: None,
        end_offset: 0,
    };
    if path.extension().unwrap() == "pcapng" {
        let mut r = PcapNgReader::new(BufReader::new(File::open(path).unwrap())).unwrap();
        while let Some(b) = r.next_block() {
            match b.unwrap() {
                Block::InterfaceDescription(idb) => {
                    assert_eq!(idb.linktype, DataLink::ETHERNET);
                    let name = idb.options.iter().find_map(|o| match o {
                        InterfaceDescriptionOption::IfName(n) => Some(n.to_string()),
                        _ => None,
                    });
                    assert!(idb
                        .options
                        .contains(&InterfaceDescriptionOption::IfTsResol(9)));
                    out.idb_names.push(name.expect("every IDB is named"));
                }
                Block::EnhancedPacket(p) => out.recs.push(Rec {
                    ts: p.timestamp.as_nanos() as i64,
                    iface: Some(out.idb_names[p.interface_id as usize].clone()),
                    orig_len: u64::from(p.original_len),
                    data: p.data.to_vec(),
                    sll2: false,
                }),
                other => panic!("unexpected block {other:?}"),
            }
        }
    } else {
        let mut r = PcapReader::new(BufReader::new(File::open(path).unwrap())).unwrap();
        let h = r.header();
        let sll2 = h.datalink == DataLink::LINUX_SLL2;
        out.end_offset = 24;
        // Raw records: pcap-file's checked reader rejects orig_len > snaplen, which is
        // exactly what a snaplen-limited capture contains.
        while let Some(p) = r.next_raw_packet() {
            let p = match p {
                Ok(p) => p,
                Err(e) => {
                    out.end_err = Some(e);
                    break;
                }
            };
            assert!(p.incl_len <= h.snaplen && p.incl_len <= p.orig_len);
            out.end_offset += 16 + u64::from(p.incl_len);
            let frac = match h.ts_resolution {
                TsResolution::MicroSecond => i64::from(p.ts_frac) * 1000,
                TsResolution::NanoSecond => i64::from(p.ts_frac),
            };
            let iface = if sll2 {
                Some(format!(
                    "ifindex:{}",
                    u32::from_be_bytes(p.data[4..8].try_into().unwrap())
                ))
            } else {
                None
            };
            out.recs.push(Rec {
                ts: i64::from(p.ts_sec) * 1_000_000_000 + frac,
                iface,
                orig_len: u64::from(p.orig_len),
                data: p.data.to_vec(),
                sll2,
            });
        }
    }
    out
}

type Key = (&'static str, BTreeSet<(IpAddr, u16)>);
/// A flow: its key and which of the key's flows, in order of their first packets.
type Id = (Key, usize);

/// Decoded essentials of one frame.
struct Pkt {
    key: Option<Key>,
    src: (IpAddr, u16),
    vlans: Vec<u16>,
    tcp: Option<TcpInfo>,
}

struct TcpInfo {
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    fin: bool,
    rst: bool,
    len: u32,
}

fn decode(rec: &Rec) -> Pkt {
    let p = if rec.sll2 {
        assert_eq!(&rec.data[8..10], &[0, 1], "ARPHRD_ETHER");
        assert_eq!(rec.data[11], 6, "address length");
        LaxSlicedPacket::from_ip(&rec.data[20..]).unwrap()
    } else {
        LaxSlicedPacket::from_ethernet(&rec.data).unwrap()
    };
    let vlans: Vec<u16> = p
        .link_exts
        .iter()
        .filter_map(|e| match e {
            LaxLinkExtSlice::Vlan(v) => Some(v.vlan_identifier().value()),
            _ => None,
        })
        .collect();
    let (src, dst, ip_payload_len) = match &p.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            (
                IpAddr::from(h.source_addr()),
                IpAddr::from(h.destination_addr()),
                u32::from(h.total_len()) - u32::from(h.ihl()) * 4,
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            (
                IpAddr::from(h.source_addr()),
                IpAddr::from(h.destination_addr()),
                u32::from(h.payload_length()) - v6.extensions().slice().len() as u32,
            )
        }
        _ => {
            return Pkt {
                key: None,
                src: (IpAddr::from([0, 0, 0, 0]), 0),
                vlans,
                tcp: None,
            }
        }
    };
    let (proto, sp, dp, tcp) = match p.transport.as_ref().expect("transport decoded") {
        TransportSlice::Tcp(t) => (
            "tcp",
            t.source_port(),
            t.destination_port(),
            Some(TcpInfo {
                seq: t.sequence_number(),
                ack: t.ack().then(|| t.acknowledgment_number()),
                syn: t.syn(),
                fin: t.fin(),
                rst: t.rst(),
                // IP payload minus TCP header: the captured slice may be cut by the snaplen.
                len: ip_payload_len - u32::from(t.data_offset()) * 4,
            }),
        ),
        TransportSlice::Udp(u) => ("udp", u.source_port(), u.destination_port(), None),
        TransportSlice::Icmpv4(_) => ("icmp", 0, 0, None),
        TransportSlice::Icmpv6(_) => ("icmpv6", 0, 0, None),
    };
    Pkt {
        key: Some((proto, [(src, sp), (dst, dp)].into_iter().collect())),
        src: (src, sp),
        vlans,
        tcp,
    }
}

/// A fragment train: (source, destination, IP protocol, identification).
type Train = (IpAddr, IpAddr, u8, u32);

/// One IP fragment of an untagged Ethernet frame (the fragment scenario's):
/// its train, where its bytes go in the datagram, whether more follow, and
/// its IP payload. `None` for a whole packet.
struct Frag {
    train: Train,
    offset: usize,
    more: bool,
    payload: Vec<u8>,
}

/// Read by hand: etherparse reads no transport header of a fragment (RFC
/// 791 §3.1 for IPv4; RFC 8200 §4.5, a Fragment header right after the
/// fixed header, for IPv6).
fn fragment(rec: &Rec) -> Option<Frag> {
    let d = &rec.data;
    let ip = match (rec.sll2, d.get(12..14)) {
        (false, Some([0x08, 0x00] | [0x86, 0xdd])) => &d[14..],
        _ => return None,
    };
    let be16 = |b: &[u8]| usize::from(u16::from_be_bytes([b[0], b[1]]));
    let addr4 = |b: &[u8]| IpAddr::from(<[u8; 4]>::try_from(b).unwrap());
    let addr6 = |b: &[u8]| IpAddr::from(<[u8; 16]>::try_from(b).unwrap());
    let (train, (offset, more), payload) = match ip[0] >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 0xf) * 4;
            let word = be16(&ip[6..8]);
            let id = be16(&ip[4..6]) as u32;
            let train = (addr4(&ip[12..16]), addr4(&ip[16..20]), ip[9], id);
            let place = ((word & 0x1fff) * 8, word & 0x2000 != 0);
            (train, place, ihl..be16(&ip[2..4]))
        }
        6 if ip[6] == 44 => {
            let w = be16(&ip[42..44]);
            let id = u32::from_be_bytes(ip[44..48].try_into().unwrap());
            let train = (addr6(&ip[8..24]), addr6(&ip[24..40]), ip[40], id);
            (train, ((w >> 3) * 8, w & 1 != 0), 48..40 + be16(&ip[4..6]))
        }
        _ => return None,
    };
    (offset > 0 || more).then(|| Frag {
        train,
        offset,
        more,
        payload: ip[payload].to_vec(),
    })
}

/// A train's first fragment (its transport header) and its datagram's
/// length, from every fragment of the capture.
#[derive(Default)]
struct Datagram {
    first: Option<Vec<u8>>,
    len: usize,
}

fn datagrams(recs: &[Rec]) -> HashMap<Train, Datagram> {
    let mut out: HashMap<Train, Datagram> = HashMap::new();
    for f in recs.iter().filter_map(fragment) {
        let d = out.entry(f.train).or_default();
        if f.offset == 0 {
            d.first = Some(f.payload.clone());
        }
        if !f.more {
            d.len = f.offset + f.payload.len();
        }
    }
    out
}

/// A fragment as a packet of its datagram's flow (ports 0 when its first
/// fragment is not in the capture); TCP fields from the first fragment,
/// whose segment is the whole datagram.
fn decode_fragment(f: &Frag, datagrams: &HashMap<Train, Datagram>) -> Pkt {
    let (src, dst, proto, _) = f.train;
    let d = &datagrams[&f.train];
    let head = d.first.as_deref().unwrap_or(&[0; 4]);
    let port = |i: usize| u16::from_be_bytes([head[i], head[i + 1]]);
    let (sp, dp) = (port(0), port(2));
    let name = match proto {
        6 => "tcp",
        17 => "udp",
        other => panic!("a fragment of IP protocol {other}"),
    };
    let tcp = (proto == 6 && f.offset == 0).then(|| {
        let h = &f.payload;
        let word = |i: usize| u32::from_be_bytes(h[i..i + 4].try_into().unwrap());
        TcpInfo {
            seq: word(4),
            ack: (h[13] & 0x10 != 0).then(|| word(8)),
            syn: h[13] & 0x02 != 0,
            fin: h[13] & 0x01 != 0,
            rst: h[13] & 0x04 != 0,
            len: (d.len - usize::from(h[12] >> 4) * 4) as u32,
        }
    });
    Pkt {
        key: Some((name, [(src, sp), (dst, dp)].into_iter().collect())),
        src: (src, sp),
        vlans: Vec::new(),
        tcp,
    }
}

/// A record decoded: a fragment as a packet of its datagram.
fn packet(r: &Rec, datagrams: &HashMap<Train, Datagram>) -> Pkt {
    match fragment(r) {
        Some(f) => decode_fragment(&f, datagrams),
        None => decode(r),
    }
}

fn key_of(f: &FlowTruth) -> Key {
    (
        f.proto,
        [(f.src, f.sport), (f.dst, f.dport)].into_iter().collect(),
    )
}

/// Recomputes the flow table from the records and compares everything with the truth.
fn check_capture(t: &CaptureTruth) {
    let rb = read_back(&t.file);
    let name = t.file.display().to_string();
    assert_eq!(rb.recs.len() as u64, t.packets, "{name}: packets");
    assert_eq!(
        rb.recs.iter().map(|r| r.orig_len).sum::<u64>(),
        t.bytes,
        "{name}: bytes"
    );
    for w in rb.recs.windows(2) {
        assert!(w[0].ts < w[1].ts, "{name}: timestamps strictly increase");
    }
    let mut ifaces: Vec<String> = rb.recs.iter().filter_map(|r| r.iface.clone()).collect();
    ifaces.extend(rb.idb_names.iter().cloned());
    ifaces.sort();
    ifaces.dedup();
    assert_eq!(ifaces, t.interfaces, "{name}: interfaces");
    assert_eq!(
        t.format,
        t.file.extension().unwrap().to_str().unwrap(),
        "{name}: format"
    );

    // Flows of one key (a port reused after its connection ended) by first
    // packet: a frame belongs to the last one started at or before it.
    let mut by_key: HashMap<Key, Vec<&FlowTruth>> = HashMap::new();
    for f in &t.flows {
        by_key.entry(key_of(f)).or_default().push(f);
    }
    for v in by_key.values_mut() {
        v.sort_by_key(|f| f.first_seen_ns);
    }
    let truth: HashMap<Id, &FlowTruth> = by_key
        .iter()
        .flat_map(|(k, v)| v.iter().enumerate().map(|(i, f)| ((k.clone(), i), *f)))
        .collect();
    let mut got: HashMap<Id, FlowTruth> = HashMap::new();
    let mut bins: HashMap<Id, BTreeMap<i64, u64>> = HashMap::new();
    let mut non_ip = 0;
    // TCP: next expected sequence number per (flow, sender).
    let mut next_seq: HashMap<(Id, (IpAddr, u16)), u32> = HashMap::new();
    let datagrams = datagrams(&rb.recs);
    for r in &rb.recs {
        let p = packet(r, &datagrams);
        let Some(base) = p.key else {
            non_ip += 1;
            continue;
        };
        let flows = by_key
            .get(&base)
            .unwrap_or_else(|| panic!("{name}: frame of unknown flow {base:?}"));
        let key: Id = (
            base,
            flows
                .iter()
                .rposition(|f| f.first_seen_ns <= r.ts)
                .unwrap_or(0),
        );
        let want = truth[&key];
        let g = got.entry(key.clone()).or_insert_with(|| FlowTruth {
            packets: 0,
            bytes: 0,
            packets_src_to_dst: 0,
            bytes_src_to_dst: 0,
            interfaces: Vec::new(),
            vlans: Vec::new(),
            first_seen_ns: r.ts,
            last_seen_ns: r.ts,
            bins: Vec::new(),
            ..(*want).clone()
        });
        g.packets += 1;
        g.bytes += r.orig_len;
        if p.src == (want.src, want.sport) {
            g.packets_src_to_dst += 1;
            g.bytes_src_to_dst += r.orig_len;
        }
        g.last_seen_ns = r.ts;
        g.interfaces.extend(r.iface.clone());
        g.interfaces.sort();
        g.interfaces.dedup();
        g.vlans.extend(p.vlans.iter().copied());
        g.vlans.sort_unstable();
        g.vlans.dedup();
        *bins
            .entry(key.clone())
            .or_default()
            .entry(r.ts.div_euclid(1_000_000_000))
            .or_default() += r.orig_len;

        if let Some(tcp) = p.tcp {
            let dir = (key.clone(), p.src);
            let peer = want_peer(want, p.src);
            if tcp.syn {
                assert!(!next_seq.contains_key(&dir), "{name}: one SYN per side");
                next_seq.insert(dir.clone(), tcp.seq.wrapping_add(1));
            } else {
                let expect = *next_seq.entry(dir.clone()).or_insert(tcp.seq);
                assert_eq!(tcp.seq, expect, "{name}: {key:?} seq continuity");
                let adv = tcp.len + u32::from(tcp.fin);
                next_seq.insert(dir.clone(), tcp.seq.wrapping_add(adv));
            }
            if let Some(ack) = tcp.ack {
                // Never acknowledge data the peer has not sent yet. In a flow captured
                // mid-stream the first ACK names where the unseen peer's stream stands.
                let peer_next = *next_seq.entry((key.clone(), peer)).or_insert(ack);
                assert_eq!(
                    ack, peer_next,
                    "{name}: {key:?} ack is cumulative and current"
                );
            }
        }
    }
    assert_eq!(non_ip, t.non_ip_frames, "{name}: non-IP frames");
    assert_eq!(got.len(), t.flows.len(), "{name}: every flow has frames");
    for (key, mut g) in got {
        g.bins = bins.remove(&key).unwrap().into_iter().collect();
        let want = truth[&key];
        assert_eq!(&g, want, "{name}: flow {key:?}");
        assert_eq!(
            want.bins.iter().map(|b| b.1).sum::<u64>(),
            want.bytes,
            "{name}: bins add up"
        );
    }
}

fn want_peer(f: &FlowTruth, from: (IpAddr, u16)) -> (IpAddr, u16) {
    if from == (f.src, f.sport) {
        (f.dst, f.dport)
    } else {
        (f.src, f.sport)
    }
}

#[test]
fn every_scenario_reads_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let all = fixgen::write_all(dir.path()).unwrap();
    assert_eq!(all.len(), fixgen::scenarios().len());
    for t in &all {
        check_capture(t);
        let size = std::fs::metadata(&t.file).unwrap().len();
        assert!(size < 512 * 1024, "{}: small fixture", t.file.display());
    }
}

#[test]
fn output_is_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ta = fixgen::write_all(a.path()).unwrap();
    let tb = fixgen::write_all(b.path()).unwrap();
    for (x, y) in ta.iter().zip(&tb) {
        assert_eq!(
            std::fs::read(&x.file).unwrap(),
            std::fs::read(&y.file).unwrap()
        );
        assert_eq!(x.flows, y.flows);
        assert_eq!((&x.dns, &x.dns_unanswered), (&y.dns, &y.dns_unanswered));
    }
}

#[test]
fn unknown_scenario_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = fixgen::write("nope", dir.path()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn truncated_file_ends_inside_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let t = fixgen::write("truncated", dir.path()).unwrap();
    let rb = read_back(&t.file);
    let at = t.truncated_at.expect("truncated_at is set");
    assert_eq!(rb.end_offset, at);
    let len = std::fs::metadata(&t.file).unwrap().len();
    assert!(len > at + 16, "a partial record follows");
    match rb.end_err {
        Some(PcapError::IoError(e)) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof),
        other => panic!("expected EOF inside a record, got {other:?}"),
    }
    // Only one fixture is truncated.
    let all = fixgen::write_all(dir.path()).unwrap();
    assert_eq!(all.iter().filter(|t| t.truncated_at.is_some()).count(), 1);
}

#[test]
fn special_formats_are_what_they_claim() {
    let dir = tempfile::tempdir().unwrap();
    let be = fixgen::write("bigendian", dir.path()).unwrap();
    let bytes = std::fs::read(&be.file).unwrap();
    assert_eq!(
        &bytes[..4],
        &[0xa1, 0xb2, 0x3c, 0x4d],
        "big-endian nanosecond magic"
    );
    assert!(read_back(&be.file).recs.iter().all(|r| r.ts % 1000 == 789));

    let sl = fixgen::write("snaplen", dir.path()).unwrap();
    let rb = read_back(&sl.file);
    assert!(rb.recs.iter().all(|r| r.data.len() <= 96));
    assert!(rb
        .recs
        .iter()
        .any(|r| r.orig_len == 1514 && r.data.len() == 96));

    let sll = fixgen::write("sll2_dpm", dir.path()).unwrap();
    assert_eq!(sll.interfaces, ["ifindex:2", "ifindex:3"]);
    let bytes = std::fs::read(&sll.file).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 276);
    let types: BTreeSet<u8> = read_back(&sll.file)
        .recs
        .iter()
        .map(|r| r.data[10])
        .collect();
    assert_eq!(types, [0u8, 4].into_iter().collect(), "host and outgoing");

    let v = fixgen::write("vlan_dpm", dir.path()).unwrap();
    let vl: BTreeSet<Vec<u16>> = v.flows.iter().map(|f| f.vlans.clone()).collect();
    assert!(vl.contains(&vec![20]) && vl.contains(&vec![30]) && vl.contains(&vec![30, 100]));
    let qinq = read_back(&v.file)
        .recs
        .iter()
        .filter(|r| r.data[12..14] == [0x88, 0xa8])
        .count();
    assert!(qinq > 0, "802.1ad outer tag present");

    let v6 = fixgen::write("ipv6_dpm", dir.path()).unwrap();
    let with_ext = read_back(&v6.file)
        .recs
        .iter()
        .filter(|r| r.data[12..14] == [0x86, 0xdd] && r.data[14 + 6] == 60)
        .count();
    assert_eq!(
        with_ext, 1,
        "exactly one packet with a Destination Options header"
    );
}

#[test]
fn dpm_bulk_flows_have_per_second_bins() {
    let dir = tempfile::tempdir().unwrap();
    let t = fixgen::write("dpm_backup_lan", dir.path()).unwrap();
    let f = t.flows.iter().find(|f| f.dport == 5719).expect("5719 flow");
    assert_eq!(f.network, "backup");
    assert_eq!(f.class, "dpm");
    assert_eq!(f.interfaces, ["eth1"]);
    assert_eq!(f.bins.len(), 5);
    assert_eq!(f.bins[0].0, 1_700_000_001);
    assert!(f.last_seen_ns - f.first_seen_ns > 4_000_000_000);
    // Bins differ from each other: percentiles are meaningful.
    let distinct: BTreeSet<u64> = f.bins.iter().map(|b| b.1).collect();
    assert_eq!(distinct.len(), 5);
}

#[test]
fn bench_files_hold_identical_packets() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("b.pcap"), dir.path().join("b.pcapng"));
    let t = fixgen::write_bench(&a, &b, 4 << 20).unwrap();
    assert!(t.pcap_file_bytes >= 4 << 20);
    assert_eq!(std::fs::metadata(&a).unwrap().len(), t.pcap_file_bytes);
    assert_eq!(std::fs::metadata(&b).unwrap().len(), t.pcapng_file_bytes);
    assert_eq!(t.flows, fixgen::BENCH_FLOWS as u64);
    let (ra, rb) = (read_back(&a), read_back(&b));
    assert!(ra.end_err.is_none());
    assert_eq!(ra.recs.len() as u64, t.packets);
    assert_eq!(rb.recs.len() as u64, t.packets);
    assert_eq!(rb.idb_names, ["eth0"]);
    let mut flows = BTreeSet::new();
    let mut ports = BTreeMap::<u16, u64>::new();
    for (x, y) in ra.recs.iter().zip(&rb.recs) {
        assert_eq!((x.ts, &x.data, x.orig_len), (y.ts, &y.data, y.orig_len));
        let p = decode(x);
        let key = p.key.unwrap();
        let server_port = key.1.iter().map(|e| e.1).min().unwrap();
        *ports.entry(server_port).or_default() += 1;
        flows.insert(key);
    }
    assert_eq!(ra.recs.iter().map(|r| r.orig_len).sum::<u64>(), t.bytes);
    let avg = t.bytes / t.packets;
    assert!((600..=720).contains(&avg), "average frame {avg}");
    assert!(flows.len() as u64 <= t.flows && flows.len() > 900);
    assert!(ports[&5719] > ports[&443] && ports[&445] > ports[&443]);
}

#[test]
fn committed_fixtures_regenerate_byte_identically() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let dir = tempfile::tempdir().unwrap();
    for t in fixgen::write_all(dir.path()).unwrap() {
        let name = t.file.file_name().unwrap();
        let old = std::fs::read(committed.join(name))
            .unwrap_or_else(|e| panic!("fixtures/{}: {e}", name.to_string_lossy()));
        assert!(
            old == std::fs::read(&t.file).unwrap(),
            "fixtures/{} differs: run `cargo run --release -p fixgen -- all fixtures`",
            name.to_string_lossy()
        );
    }
}

/// One SMB2 message that starts a TCP segment: (time, client port, command, response).
struct SmbMsg {
    ts: i64,
    client_port: u16,
    command: u16,
    response: bool,
}

/// The SMB2 messages of a capture, found where the generator puts them: at the start of a
/// TCP segment to or from port 445, after the 4-byte NBSS header.
fn smb_messages(path: &Path) -> Vec<SmbMsg> {
    let mut out = Vec::new();
    for r in read_back(path).recs {
        let p = LaxSlicedPacket::from_ethernet(&r.data).unwrap();
        let Some(TransportSlice::Tcp(t)) = p.transport else {
            continue;
        };
        let d = t.payload();
        if d.len() < 4 + 64 || d[0] != 0 || &d[4..8] != b"\xfeSMB" {
            continue;
        }
        let response = t.source_port() == 445;
        out.push(SmbMsg {
            ts: r.ts,
            client_port: if response {
                t.destination_port()
            } else {
                t.source_port()
            },
            command: u16::from_le_bytes([d[4 + 12], d[4 + 13]]),
            response,
        });
    }
    out
}

#[test]
fn smb_flows_reclassify_bytes_already_counted() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["cluster_smb_shares", "cluster_fe80"] {
        let t = fixgen::write(name, dir.path()).unwrap();
        let msgs = smb_messages(&t.file);
        for f in t.flows.iter().filter(|f| f.dport == 445) {
            let mine: Vec<&SmbMsg> = msgs.iter().filter(|m| m.client_port == f.sport).collect();
            // The last tree connect names the share the WRITEs go to (IPC$ may come first).
            let tree = mine.iter().rev().find(|m| m.command == 3 && !m.response);
            // Every second holds a different number of bytes: percentiles are meaningful.
            let distinct: BTreeSet<u64> = f.bins.iter().map(|b| b.1).collect();
            assert_eq!(
                distinct.len(),
                f.bins.len(),
                "{name} {}: {:?}",
                f.sport,
                f.bins
            );
            assert!(
                f.bins.len() >= 3,
                "{name} {}: a few seconds of WRITEs",
                f.sport
            );
            match tree {
                // The path arrives in a later second than the flow's first bytes.
                Some(m) => assert!(
                    m.ts.div_euclid(1_000_000_000) > f.bins[0].0,
                    "{name} {}: tree connect after the first bin",
                    f.sport
                ),
                // Captured late: WRITEs only, no handshake.
                None => {
                    assert_eq!(f.class, "smb-redirected");
                    assert!(mine.iter().all(|m| m.command == 9), "{name} {}", f.sport);
                }
            }
        }
    }
}

#[test]
fn evidence_scenarios_intend_their_classes() {
    let dir = tempfile::tempdir().unwrap();
    let classes = |name: &str| -> BTreeSet<(String, u16, u16, String, &'static str)> {
        let t = fixgen::write(name, dir.path()).unwrap();
        t.flows
            .iter()
            .map(|f| {
                let iface = f.interfaces.join(",");
                (f.src.to_string(), f.sport, f.dport, iface, f.class)
            })
            .collect()
    };
    let own = |v: &[(&str, u16, u16, &str, &'static str)]| -> BTreeSet<_> {
        v.iter()
            .map(|&(s, sp, dp, i, c)| (s.to_string(), sp, dp, i.to_string(), c))
            .collect()
    };
    let dpm = [
        ("10.10.12.89", 51001, 53, "eth0", "dns"),
        ("10.10.12.89", 49701, 135, "eth0", "dpm-control"),
        ("192.168.1.23", 49760, 49750, "eth1", "dpm-control"),
        ("192.168.1.70", 49770, 49750, "eth1", "client"),
        ("192.168.1.23", 49703, 5719, "eth1", "dpm"),
        ("10.10.12.89", 49705, 135, "eth0", "dpm-control"),
        ("10.10.12.89", 49706, 49755, "eth0", "dpm-control"),
    ];
    assert_eq!(classes("dpm_dcom_learned"), own(&dpm));
    let smb = [
        ("172.16.30.12", 49911, 445, "csv", "client"),
        ("172.16.30.13", 49912, 445, "csv", "smb-redirected"),
        ("172.16.40.11", 50011, 445, "lm", "smb-live-migration"),
        ("172.16.30.12", 49920, 445, "csv", "smb-redirected"),
    ];
    assert_eq!(classes("cluster_smb_shares"), own(&smb));
    let fe80 = [
        ("fe80::12", 0, 0, "hostaccess", "link-local"),
        ("fe80::13", 0, 0, "csv", "link-local"),
        ("fe80::12", 49942, 445, "hostaccess", "smb-redirected"),
        ("fe80::13", 49943, 445, "csv", "smb-redirected"),
    ];
    assert_eq!(classes("cluster_fe80"), own(&fe80));
}

/// A DNS message as read back: (time, source, destination, "udp" | "tcp", message bytes).
type DnsMsg = (i64, IpAddr, IpAddr, &'static str, Vec<u8>);

/// The DNS messages of a capture: UDP payloads to or from port 53, and TCP segments with a
/// payload to or from port 53 (one message each, after its two-byte length).
fn dns_messages(path: &Path) -> Vec<DnsMsg> {
    let mut out = Vec::new();
    for r in read_back(path).recs {
        let p = if r.sll2 {
            LaxSlicedPacket::from_ip(&r.data[20..]).unwrap()
        } else {
            LaxSlicedPacket::from_ethernet(&r.data).unwrap()
        };
        let (src, dst) = match &p.net {
            Some(LaxNetSlice::Ipv4(v4)) => (
                IpAddr::from(v4.header().source_addr()),
                IpAddr::from(v4.header().destination_addr()),
            ),
            Some(LaxNetSlice::Ipv6(v6)) => (
                IpAddr::from(v6.header().source_addr()),
                IpAddr::from(v6.header().destination_addr()),
            ),
            _ => continue,
        };
        let (transport, msg) = match &p.transport {
            Some(TransportSlice::Udp(u)) if 53 == u.source_port().min(u.destination_port()) => {
                ("udp", u.payload().to_vec())
            }
            Some(TransportSlice::Tcp(t))
                if 53 == t.source_port().min(t.destination_port()) && !t.payload().is_empty() =>
            {
                let d = t.payload();
                assert_eq!(usize::from(u16::from_be_bytes([d[0], d[1]])), d.len() - 2);
                ("tcp", d[2..].to_vec())
            }
            _ => continue,
        };
        out.push((r.ts, src, dst, transport, msg));
    }
    out
}

/// Every DNS response in the bytes is in the bookkeeping, with its time, ends, transport, id,
/// rcode and answer count; every query no response answers (same ends and id) is listed as
/// unanswered, and no other.
#[test]
fn dns_bookkeeping_matches_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for t in fixgen::write_all(dir.path()).unwrap() {
        let name = t.file.display().to_string();
        let msgs = dns_messages(&t.file);
        let id = |m: &[u8]| u16::from_be_bytes([m[0], m[1]]);
        let (responses, queries): (Vec<_>, Vec<_>) = msgs.iter().partition(|m| m.4[2] & 0x80 != 0);
        let got: Vec<_> = responses
            .iter()
            .map(|(ts, s, d, tr, m)| (*ts, *d, *s, *tr, id(m), m[3] & 0x0f, usize::from(m[7])))
            .collect();
        let want: Vec<_> = t
            .dns
            .iter()
            .map(|d| {
                (
                    d.time_ns,
                    d.client,
                    d.server,
                    d.transport,
                    d.id,
                    d.rcode,
                    d.records.len(),
                )
            })
            .collect();
        assert_eq!(got, want, "{name}: DNS responses");
        let answered = |q: &&DnsMsg| {
            responses
                .iter()
                .any(|r| (r.1, r.2, id(&r.4)) == (q.2, q.1, id(&q.4)))
        };
        let got: Vec<_> = queries
            .iter()
            .filter(|q| !answered(q))
            .map(|(ts, s, d, tr, m)| (*ts, *s, *d, *tr, id(m)))
            .collect();
        let want: Vec<_> = t
            .dns_unanswered
            .iter()
            .map(|q| (q.time_ns, q.client, q.server, q.transport, q.id))
            .collect();
        assert_eq!(got, want, "{name}: unanswered DNS queries");
    }
}

fn values(d: &fixgen::DnsTruth) -> Vec<String> {
    d.records.iter().map(|r| r.3.clone()).collect()
}

/// dpm_fallback_despite_dns has dpm_fallback's shape; only its lookup at +4 s differs: it
/// still answers the backup address, in the second before the 5719 flow on the primary.
#[test]
fn fallback_despite_dns_differs_only_in_its_second_answer() {
    let dir = tempfile::tempdir().unwrap();
    let old = fixgen::write("dpm_fallback", dir.path()).unwrap();
    let new = fixgen::write("dpm_fallback_despite_dns", dir.path()).unwrap();
    assert_eq!((old.dns.len(), new.dns.len()), (2, 2));
    assert_eq!(old.dns[1].time_ns, new.dns[1].time_ns);
    assert_eq!(values(&old.dns[1]), ["10.10.12.90"]);
    assert_eq!(values(&new.dns[1]), ["192.168.1.24", "10.10.12.90"]);
    let primary = |t: &CaptureTruth| {
        let f = t.flows.iter().find(|f| f.sport == 49710).unwrap();
        (f.first_seen_ns, f.packets, f.bytes, f.interfaces.clone())
    };
    assert_eq!(primary(&old), primary(&new));
    let second = |ns: i64| ns.div_euclid(1_000_000_000);
    assert_eq!(second(primary(&new).0) - second(new.dns[1].time_ns), 1);
}

/// dpm_dns_wrong: ps's answer lacks its backup address, dpm's does not, and the second
/// lookup of ps (over TCP) is never answered.
#[test]
fn dpm_dns_wrong_lacks_the_backup_address() {
    let dir = tempfile::tempdir().unwrap();
    let t = fixgen::write("dpm_dns_wrong", dir.path()).unwrap();
    let got: Vec<(&str, &str, Vec<String>)> = t
        .dns
        .iter()
        .map(|d| (d.name.as_str(), d.transport, values(d)))
        .collect();
    let want = [
        ("ps.x.y.com", "udp", vec!["10.10.12.90".to_string()]),
        (
            "dpm.x.y.com",
            "tcp",
            vec!["192.168.1.23".to_string(), "10.10.12.89".to_string()],
        ),
    ];
    assert_eq!(got, want);
    let q: Vec<(&str, &str)> = t
        .dns_unanswered
        .iter()
        .map(|q| (q.name.as_str(), q.transport))
        .collect();
    assert_eq!(q, [("ps.x.y.com", "tcp")]);
}

/// The failover scenarios: the seed-002 example answers and reaches only the recovery
/// subnet with TTLs of at most 300 s; the kept-address one tells the sites apart by VLAN;
/// `empty` is empty.
#[test]
fn failover_scenarios_keep_their_promises() {
    let dir = tempfile::tempdir().unwrap();
    let good = fixgen::write("failover_seed002", dir.path()).unwrap();
    assert_eq!(good.dns.len(), 3);
    for d in &good.dns {
        assert!(d.records.iter().all(|r| r.2 <= 300), "{d:?}");
        assert!(values(d).last().unwrap().starts_with("172.16.1."), "{d:?}");
    }
    let reached = good.flows.iter().filter(|f| f.dport == 443);
    assert!(reached
        .map(|f| f.dst.to_string())
        .all(|a| a.starts_with("172.16.1.")));

    let kept = fixgen::write("failover_kept_vlan", dir.path()).unwrap();
    let vlans: Vec<(u16, Vec<u16>, &str)> = kept
        .flows
        .iter()
        .map(|f| (f.sport, f.vlans.clone(), f.network))
        .collect();
    let want = [
        (50011, vec![120], "recovery"),
        (50012, vec![120], "recovery"),
        (50013, vec![110], "primary"),
    ];
    assert_eq!(vlans, want);

    let empty = fixgen::write("empty", dir.path()).unwrap();
    assert_eq!((empty.packets, empty.bytes, empty.flows.len()), (0, 0, 0));
    assert_eq!(empty.interfaces, ["eth0"]);
    assert!(empty.dns.is_empty() && empty.dns_unanswered.is_empty());
}

#[test]
fn bench_flows_bookkeeping_matches_the_frames() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("f.pcap"), dir.path().join("f.pcapng"));
    let t = fixgen::write_bench_flows(&a, &b, 2 << 20).unwrap();
    assert_eq!(std::fs::metadata(&a).unwrap().len(), t.pcap_file_bytes);
    assert_eq!(std::fs::metadata(&b).unwrap().len(), t.pcapng_file_bytes);
    let (ra, rb) = (read_back(&a), read_back(&b));
    assert!(ra.end_err.is_none());
    assert_eq!(ra.recs.len() as u64, t.packets);
    assert_eq!(rb.recs.len() as u64, t.packets);
    assert_eq!(ra.recs.iter().map(|r| r.orig_len).sum::<u64>(), t.bytes);
    // Per flow: its first frame, whether it ended (two FINs or a RST), family and VLANs.
    let mut flows = HashMap::<Key, (bool, u32, bool, Vec<u16>)>::new();
    let mut sizes = [0u64; 3];
    for (x, y) in ra.recs.iter().zip(&rb.recs) {
        assert_eq!((x.ts, &x.data), (y.ts, &y.data));
        let p = decode(x);
        let tcp = p.tcp.as_ref();
        let f = flows.entry(p.key.unwrap()).or_insert_with(|| {
            let opens = tcp.is_none_or(|t| t.syn && t.ack.is_none());
            (opens, 0, p.src.0.is_ipv6(), p.vlans.clone())
        });
        f.1 += u32::from(tcp.is_some_and(|t| t.fin)) + 2 * u32::from(tcp.is_some_and(|t| t.rst));
        assert_eq!(f.3, p.vlans, "a flow keeps its VLAN");
        sizes[match x.data.len() - p.vlans.len() * 4 {
            ..=128 => 0,
            590 => 1,
            1514 => 2,
            n => panic!("frame of {n} bytes"),
        }] += 1;
    }
    assert_eq!(flows.len() as u64, t.flows, "every 5-tuple is one flow");
    assert!(
        flows.values().all(|f| f.0),
        "every TCP flow starts with its SYN"
    );
    let tcp: Vec<_> = flows.iter().filter(|(k, _)| k.0 == "tcp").collect();
    assert_eq!(tcp.len() as u64, t.tcp_flows);
    assert!(
        tcp.iter().all(|(_, f)| f.1 >= 2),
        "every TCP flow is torn down"
    );
    assert_eq!(flows.values().filter(|f| f.2).count() as u64, t.ipv6_flows);
    assert_eq!(
        flows.values().filter(|f| !f.3.is_empty()).count() as u64,
        t.vlan_flows
    );
    assert_eq!(sizes, [t.small, t.medium, t.large]);
    assert!(t.small > 3 * t.medium && t.medium > 3 * t.large && t.large > 0);
}

#[test]
fn bench_pktmon_copies_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.pcapng");
    let t = fixgen::windows::write_bench_pktmon(&path, 1 << 20).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), t.file_bytes);
    assert!(t.file_bytes >= 1 << 20 && t.file_bytes < (1 << 20) + 32 * 1024);
    let mut r = PcapNgReader::new(BufReader::new(File::open(&path).unwrap())).unwrap();
    let (mut frames, mut bytes, mut last) = (0u64, 0u64, 0);
    while let Some(b) = r.next_block() {
        if let Block::EnhancedPacket(p) = b.unwrap() {
            frames += 1;
            bytes += p.data.len() as u64;
            assert!(p.timestamp.as_nanos() > last, "in time order");
            last = p.timestamp.as_nanos();
        }
    }
    assert_eq!((frames, bytes), (t.frames, t.bytes));
    assert_eq!(t.frames, t.unique_packets + t.duplicates);
    // 12 copies of a frame the initiator sent, 14 of one it received.
    assert!(t.frames >= 12 * t.unique_packets && t.frames <= 14 * t.unique_packets);
}
