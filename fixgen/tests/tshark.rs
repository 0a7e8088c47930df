//! Independent proof that the fixtures say what their bookkeeping says: Wireshark's own
//! dissectors (tshark 4.0) count the same frames and bytes per flow (an IP fragment in the flow
//! of the datagram tshark reassembled it into), find no TCP anomaly, and
//! read the evidence payloads (SMB2 tree paths, the endpoint-mapper tower, the DCOM string
//! bindings, DCE/RPC binds, DNS answers over UDP and TCP) as the scenarios intend.
//!
//! Needs `tshark` on PATH. Without it each test prints `*** SKIPPED <test>: <why> ***` and
//! passes, except under `CI=true`, where a skip is a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use fixgen::{CaptureTruth, DnsQueryTruth, DnsTruth, FlowTruth};

/// Prints the skip notice straight to stderr (libtest would hide `eprintln!` of a passing
/// test), or fails under `CI=true`. Returns `false` for `if !have_tshark(..) { return }`.
fn skip(test: &str, why: &str) -> bool {
    use std::io::Write;
    let msg = format!("SKIPPED {test}: {why}");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg} (CI=true: a skip is a failure)");
    }
    let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
    false
}

fn have_tshark(test: &str) -> bool {
    match Command::new("tshark").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        _ => skip(
            test,
            "tshark is not installed (Debian: apt-get install tshark)",
        ),
    }
}

/// `tshark -n -r FILE ARGS`, standard output.
fn tshark(file: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(args)
        .output()
        .expect("tshark runs");
    String::from_utf8(out.stdout).expect("tshark prints UTF-8")
}

/// One row per frame matching `filter`: the values of `fields` (multiple values joined by
/// commas, as tshark prints them).
fn rows(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    rows_with(file, &[], filter, fields)
}

/// [`rows`] with more options before the filter (`-2`: two passes, so a fragment that came
/// before the one completing its datagram names where it was reassembled).
fn rows_with(file: &Path, options: &[&str], filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args = options.to_vec();
    args.extend(["-Y", filter, "-T", "fields", "-E", "separator=/t"]);
    for f in fields {
        args.extend(["-e", f]);
    }
    tshark(file, &args)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn generate(name: &str, dir: &Path) -> CaptureTruth {
    fixgen::write(name, dir).unwrap()
}

type Key = (String, BTreeSet<(IpAddr, u16)>);

fn key_of(f: &FlowTruth) -> Key {
    let ends = [(f.src, f.sport), (f.dst, f.dport)].into_iter().collect();
    (f.proto.to_string(), ends)
}

/// What tshark's per-frame fields say of the flows: (frames, bytes, frames src→dst, bytes
/// src→dst) per flow, and of those the frames (total, src→dst) that are IP fragments tshark
/// reassembled in another frame (the conversation tables count a datagram once, at the frame
/// that completes it).
struct Counts {
    frames: BTreeMap<Key, [u64; 4]>,
    reassembled_elsewhere: BTreeMap<Key, (u64, u64)>,
}

/// Where tshark puts a frame: its flow and source endpoint, or (a fragment without ports) the
/// frame number its datagram was reassembled in.
enum Place {
    Flow(Key, (IpAddr, u16)),
    ReassembledIn(String),
}

/// [`Counts`] from tshark's per-frame fields (frame.len is the original length), with src the
/// endpoint of the truth. A fragment without ports counts in the flow of the frame its
/// datagram was reassembled in (`ip.reassembled_in`, `ipv6.reassembled.in`).
fn frame_counts(t: &CaptureTruth) -> Counts {
    let srcs: BTreeMap<Key, (IpAddr, u16)> = t
        .flows
        .iter()
        .map(|f| (key_of(f), (f.src, f.sport)))
        .collect();
    let fields = [
        "frame.len",
        "ip.src",
        "ipv6.src",
        "ip.dst",
        "ipv6.dst",
        "tcp.srcport",
        "tcp.dstport",
        "udp.srcport",
        "udp.dstport",
        "icmp.type",
        "icmpv6.type",
        "frame.number",
        "ip.reassembled_in",
        "ipv6.reassembled.in",
    ];
    let mut frames: Vec<(Place, u64)> = Vec::new();
    let mut by_number: BTreeMap<String, (Key, (IpAddr, u16))> = BTreeMap::new();
    for r in rows_with(&t.file, &["-2"], "ip || ipv6", &fields) {
        // The outer packet's value: an ICMP error also shows the fields of
        // the packet it quotes, after a comma.
        let v = |i: usize| r.get(i).map_or("", |s| s.split(',').next().unwrap_or(""));
        let len: u64 = v(0).parse().unwrap();
        let elsewhere = [v(12), v(13)].concat();
        if !elsewhere.is_empty() && [5, 7, 9, 10].iter().all(|&i| v(i).is_empty()) {
            frames.push((Place::ReassembledIn(elsewhere), len));
            continue;
        }
        let (src, dst) = ([v(1), v(2)].concat(), [v(3), v(4)].concat());
        let (src, dst): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
        let port = |s: &str| s.parse::<u16>().unwrap_or(0);
        let (proto, sp, dp) = match () {
            _ if !v(9).is_empty() => ("icmp", 0, 0),
            _ if !v(10).is_empty() => ("icmpv6", 0, 0),
            _ if !v(5).is_empty() => ("tcp", port(v(5)), port(v(6))),
            _ if !v(7).is_empty() => ("udp", port(v(7)), port(v(8))),
            _ => ("icmpv6", 0, 0),
        };
        let key = (
            proto.to_string(),
            [(src, sp), (dst, dp)].into_iter().collect(),
        );
        by_number.insert(v(11).to_string(), (key.clone(), (src, sp)));
        frames.push((Place::Flow(key, (src, sp)), len));
    }
    let mut out = Counts {
        frames: BTreeMap::new(),
        reassembled_elsewhere: BTreeMap::new(),
    };
    for (at, len) in frames {
        let ((key, from), moved) = match at {
            Place::Flow(key, from) => ((key, from), false),
            Place::ReassembledIn(n) => (by_number[&n].clone(), true),
        };
        let forward = u64::from(srcs.get(&key) == Some(&from));
        if moved {
            let e = out.reassembled_elsewhere.entry(key.clone()).or_default();
            *e = (e.0 + 1, e.1 + forward);
        }
        let c = out.frames.entry(key).or_default();
        *c = [c[0] + 1, c[1] + len, c[2] + forward, c[3] + len * forward];
    }
    out
}

/// Frames per TCP/UDP conversation from `-z conv,tcp -z conv,udp`: (total, src→dst).
/// Columns: A <-> B, frames/bytes B→A ("<-"), A→B ("->"), total; bytes carry a unit.
fn conversations(t: &CaptureTruth) -> BTreeMap<Key, (u64, u64)> {
    let srcs: BTreeMap<Key, (IpAddr, u16)> = t
        .flows
        .iter()
        .map(|f| (key_of(f), (f.src, f.sport)))
        .collect();
    let text = tshark(&t.file, &["-q", "-z", "conv,tcp", "-z", "conv,udp"]);
    let mut proto = "";
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("TCP Conversations") {
            proto = "tcp";
        } else if line.starts_with("UDP Conversations") {
            proto = "udp";
        }
        let tok: Vec<&str> = line.split_whitespace().collect();
        if tok.len() < 10 || tok[1] != "<->" {
            continue;
        }
        let end = |s: &str| -> (IpAddr, u16) {
            let (a, p) = s.rsplit_once(':').unwrap();
            (a.parse().unwrap(), p.parse().unwrap())
        };
        let (a, b) = (end(tok[0]), end(tok[2]));
        let n = |i: usize| tok[i].parse::<u64>().unwrap();
        let (back, fwd, total) = (n(3), n(6), n(9));
        assert_eq!(back + fwd, total, "{line}");
        let key = (proto.to_string(), [a, b].into_iter().collect());
        let from_src = if srcs.get(&key) == Some(&a) {
            fwd
        } else {
            back
        };
        // A port reused after its connection ended: one line per connection.
        let c = out.entry(key).or_insert((0, 0));
        *c = (c.0 + total, c.1 + from_src);
    }
    out
}

/// Every scenario: tshark counts exactly the flows, frames and bytes of the bookkeeping, in
/// both directions, and flags nothing in its TCP analysis.
#[test]
fn flows_match_tshark_conversations() {
    if !have_tshark("flows_match_tshark_conversations") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for t in fixgen::write_all(dir.path()).unwrap() {
        let name = t.file.file_name().unwrap().to_string_lossy().to_string();
        let Counts {
            frames,
            reassembled_elsewhere,
        } = frame_counts(&t);
        let conv = conversations(&t);
        // Flows of one key (a port reused after its connection ended) add up.
        let mut want: BTreeMap<Key, [u64; 4]> = BTreeMap::new();
        for f in &t.flows {
            let w = want.entry(key_of(f)).or_default();
            let add = [f.packets, f.bytes, f.packets_src_to_dst, f.bytes_src_to_dst];
            for (a, b) in w.iter_mut().zip(add) {
                *a += b;
            }
        }
        assert_eq!(
            frames.keys().collect::<BTreeSet<_>>(),
            want.keys().collect::<BTreeSet<_>>(),
            "{name}: flows"
        );
        for (k, exp) in &want {
            assert_eq!(
                frames[k], *exp,
                "{name}: {k:?} frames, bytes (total, src→dst)"
            );
            if matches!(k.0.as_str(), "tcp" | "udp") {
                let c = conv
                    .get(k)
                    .unwrap_or_else(|| panic!("{name}: {k:?} in conv table"));
                let (moved, moved_fwd) = reassembled_elsewhere.get(k).copied().unwrap_or_default();
                let want = (exp[0] - moved, exp[2] - moved_fwd);
                assert_eq!(*c, want, "{name}: {k:?} conv");
            }
        }
        // The one flag a fixture means: a port reused after its connection ended.
        let flagged = tshark(
            &t.file,
            &["-Y", "tcp.analysis.flags && !tcp.analysis.reused_ports"],
        );
        assert!(flagged.is_empty(), "{name}: tcp.analysis.flags:\n{flagged}");
    }
}

/// No dissector of the evidence and DNS fixtures reports a malformed packet or a warning.
#[test]
fn evidence_fixtures_dissect_cleanly() {
    if !have_tshark("evidence_fixtures_dissect_cleanly") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "dpm_dcom_learned",
        "cluster_smb_shares",
        "cluster_fe80",
        "dpm_dns_ok",
        "dpm_dns_wrong",
        "dpm_fallback_despite_dns",
        "failover_changed",
        "failover_seed002",
        "failover_kept_vlan",
        "empty",
    ];
    for name in names {
        let t = generate(name, dir.path());
        let bad = tshark(
            &t.file,
            &["-Y", "_ws.malformed || _ws.expert.severity >= warning"],
        );
        assert!(bad.is_empty(), "{name}: malformed or warned:\n{bad}");
    }
}

const ACTIVATOR: &str = "000001a0-0000-0000-c000-000000000046";
const EPM: &str = "e1af8308-5d1f-11c9-91a4-08002b14a0fa";
/// Invented for the fixture (fixtures/README.md).
const DPM_CONTROL_IF: &str = "5d2a4e9c-0b7f-4c31-9e86-d1f0a3b2c4e5";
const EPM_MAPPED_IF: &str = "3f6e1b8a-92c4-4d7e-b150-6a7c8d9e0f12";

fn set(rows: Vec<Vec<String>>) -> BTreeSet<Vec<String>> {
    rows.into_iter().collect()
}

fn strings(v: &[&[&str]]) -> BTreeSet<Vec<String>> {
    v.iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

#[test]
fn dcom_activation_announces_the_port() {
    if !have_tshark("dcom_activation_announces_the_port") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f = generate("dpm_dcom_learned", dir.path()).file;
    let binds = rows(
        &f,
        "dcerpc.pkt_type == 11",
        &[
            "tcp.dstport",
            "dcerpc.cn_bind_to_uuid",
            "dcerpc.cn_bind_if_ver",
        ],
    );
    let want = [
        ["135", ACTIVATOR, "0"],
        ["49750", DPM_CONTROL_IF, "1"],
        ["135", EPM, "3"],
        ["49755", EPM_MAPPED_IF, "1"],
    ];
    let want: Vec<&[&str]> = want.iter().map(|r| &r[..]).collect();
    assert_eq!(set(binds), strings(&want), "binds");
    // The activation reply: a response to opnum 4 of the activator, with the OXID bindings.
    let reply = rows(
        &f,
        "isystemactivator.opnum == 4 && dcerpc.pkt_type == 2",
        &["dcerpc.request_in", "dcom.dualstringarray.network_addr"],
    );
    assert_eq!(
        reply.len(),
        1,
        "one RemoteCreateInstance response: {reply:?}"
    );
    let addrs: BTreeSet<&str> = reply[0][1].split(',').collect();
    for b in ["PS[49750]", "10.10.12.90[49750]", "192.168.1.24[49750]"] {
        assert!(addrs.contains(b), "binding {b} in {addrs:?}");
    }
    let request = rows(
        &f,
        "isystemactivator.opnum == 4 && dcerpc.pkt_type == 0",
        &["frame.number"],
    );
    // dcerpc and isystemactivator both name the request frame.
    let request_in = reply[0][0].split(',').next().unwrap();
    assert_eq!(request, [[request_in]], "the response answers the request");
    // The non-DPM host's bytes on the learned port are not DCE/RPC.
    assert!(rows(&f, "tcp.port == 49770 && dcerpc", &["frame.number"]).is_empty());
    let dns = rows(&f, "dns.flags.response == 1", &["dns.a"]);
    assert_eq!(dns, [["192.168.1.24,10.10.12.90"]]);
}

#[test]
fn endpoint_mapper_announces_the_port() {
    if !have_tshark("endpoint_mapper_announces_the_port") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f = generate("dpm_dcom_learned", dir.path()).file;
    // The endpoint mapper's reply: one tower, the mapped interface at 10.10.12.90:49755.
    let map = rows(
        &f,
        "epm.opnum == 3 && dcerpc.pkt_type == 2",
        &[
            "epm.num_towers",
            "epm.proto.tcp_port",
            "epm.proto.ip",
            "epm.uuid",
        ],
    );
    assert_eq!(map.len(), 1, "{map:?}");
    assert_eq!(map[0][..3], ["1", "49755", "10.10.12.90"]);
    assert!(map[0][3].contains(EPM_MAPPED_IF), "{map:?}");
}

#[test]
fn smb_tree_connects_name_the_shares() {
    if !have_tshark("smb_tree_connects_name_the_shares") {
        return;
    }
    let csv = r"\\NODE1\7c1d2f3e-5d4b-4a1a-9d2c-0f1e2d3c4b5a-1073741824$";
    let dir = tempfile::tempdir().unwrap();
    let f = generate("cluster_smb_shares", dir.path()).file;
    let tree = "smb2.cmd == 3 && smb2.flags.response == 0";
    let got = rows(
        &f,
        tree,
        &["tcp.srcport", "smb2.tree", "smb2.tc.extension_present"],
    );
    let want: &[&[&str]] = &[
        &["49911", r"\\CLUSTER\ClusterStorage$", "0"],
        &["49912", r"\\NODE1\IPC$", "0"],
        &["49912", csv, "0"],
        &["50011", r"\\NODE3\VMMigration$", "1"],
    ];
    assert_eq!(set(got), strings(want), "tree connects");
    let shares = rows(
        &f,
        "smb2.cmd == 3 && smb2.flags.response == 1",
        &["tcp.dstport", "smb2.tid", "smb2.share_type"],
    );
    let want: &[&[&str]] = &[
        &["49911", "0x00000001", "0x01"],
        &["49912", "0x00000001", "0x02"],
        &["49912", "0x00000005", "0x01"],
        &["50011", "0x00000009", "0x01"],
    ];
    assert_eq!(set(shares), strings(want), "tree connect responses");
    let dialects = rows(
        &f,
        "smb2.cmd == 0 && smb2.flags.response == 1",
        &["smb2.dialect"],
    );
    assert_eq!(dialects, vec![vec!["0x0311".to_string()]; 3]);
    // The late-captured flow: WRITEs only.
    let late = rows(&f, "tcp.port == 49920 && smb2", &["smb2.cmd"]);
    assert!(
        !late.is_empty() && late.iter().all(|r| r[0] == "9"),
        "{late:?}"
    );
}

#[test]
fn link_local_smb_and_neighbor_discovery() {
    if !have_tshark("link_local_smb_and_neighbor_discovery") {
        return;
    }
    let csv = r"\\NODE1\7c1d2f3e-5d4b-4a1a-9d2c-0f1e2d3c4b5a-1073741824$";
    let tree = "smb2.cmd == 3 && smb2.flags.response == 0";
    let dir = tempfile::tempdir().unwrap();
    let f = generate("cluster_fe80", dir.path()).file;
    let got = rows(&f, tree, &["ipv6.src", "frame.interface_name", "smb2.tree"]);
    let want: &[&[&str]] = &[&["fe80::12", "hostaccess", csv], &["fe80::13", "csv", csv]];
    assert_eq!(set(got), strings(want), "link-local tree connects");
    let nd = rows(&f, "icmpv6", &["icmpv6.type", "ipv6.hlim"]);
    assert_eq!(nd.len(), 8, "{nd:?}");
    assert!(
        nd.iter()
            .all(|r| matches!(r[0].as_str(), "135" | "136") && r[1] == "255"),
        "{nd:?}"
    );
}

/// No fixture holds a packet any dissector calls malformed (the cluster heartbeats draw
/// warnings, so only the evidence and DNS fixtures are held to "no warning" above).
#[test]
fn no_fixture_is_malformed() {
    if !have_tshark("no_fixture_is_malformed") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for t in fixgen::write_all(dir.path()).unwrap() {
        let bad = tshark(&t.file, &["-Y", "_ws.malformed"]);
        assert!(bad.is_empty(), "{}: malformed:\n{bad}", t.file.display());
    }
}

/// `frame.time_epoch` ("1700000000.051002000") in Unix ns.
fn epoch_ns(s: &str) -> i64 {
    let (sec, frac) = s.split_once('.').unwrap_or((s, "0"));
    let frac = format!("{frac:0<9}");
    sec.parse::<i64>().unwrap() * 1_000_000_000 + frac[..9].parse::<i64>().unwrap()
}

/// Every DNS response as tshark reads it, in the shape of the bookkeeping. The answer
/// section is the first `dns.count.answers` entries of `dns.resp.*` (authority and additional
/// records would follow; an OPT record has no TTL); the values come from `dns.a`, `dns.aaaa`
/// and `dns.cname` in the order the types appear.
fn tshark_responses(file: &Path) -> Vec<DnsTruth> {
    let fields = [
        "frame.time_epoch",
        "ip.src",
        "ip.dst",
        "dns.qry.name",
        "dns.count.answers",
        "dns.resp.name",
        "dns.resp.type",
        "dns.resp.ttl",
        "dns.qry.type",
        "dns.flags.rcode",
        "dns.id",
        "tcp.srcport",
        "dns.a",
        "dns.aaaa",
        "dns.cname",
        "dns.flags.truncated",
    ];
    let mut args = vec!["-Y", "dns.flags.response==1", "-T", "fields"];
    for f in fields {
        args.extend(["-e", f]);
    }
    args.extend(["-E", "occurrence=a", "-E", "separator=/t"]);
    tshark(file, &args)
        .lines()
        .map(|l| response_of(&l.split('\t').collect::<Vec<_>>()))
        .collect()
}

/// One row of `tshark_responses`' fields.
fn response_of(r: &[&str]) -> DnsTruth {
    let list = |i: usize| -> Vec<&str> { r[i].split(',').filter(|s| !s.is_empty()).collect() };
    let n: usize = r[4].parse().unwrap();
    let (owners, types, ttls) = (list(5), list(6), list(7));
    let mut values = [
        list(12).into_iter(),
        list(13).into_iter(),
        list(14).into_iter(),
    ];
    let records = (0..n)
        .map(|i| {
            let ty: u16 = types[i].parse().unwrap();
            let slot = match ty {
                1 => 0,
                28 => 1,
                5 => 2,
                other => panic!("unexpected record type {other}"),
            };
            let value = values[slot].next().expect("a value per record");
            let ttl = ttls[i].parse().unwrap();
            (owners[i].to_string(), ty, ttl, value.to_string())
        })
        .collect();
    DnsTruth {
        time_ns: epoch_ns(r[0]),
        client: r[2].parse().unwrap(),
        server: r[1].parse().unwrap(),
        transport: if r[11].is_empty() { "udp" } else { "tcp" },
        id: u16::from_str_radix(r[10].trim_start_matches("0x"), 16).unwrap(),
        name: r[3].to_string(),
        qtype: r[8].parse().unwrap(),
        records,
        rcode: r[9].parse().unwrap(),
        truncated: matches!(r[15], "1" | "True"),
    }
}

/// Every DNS response of every fixture, over UDP and TCP, reads in tshark exactly as the
/// bookkeeping lists it: time, addresses, transport, id, question, rcode, and the answer
/// section record by record (owner, type, TTL, value). Fixtures without DNS have none.
#[test]
fn dns_answers_match_tshark() {
    if !have_tshark("dns_answers_match_tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let all = fixgen::write_all(dir.path()).unwrap();
    for t in &all {
        let name = t.file.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(tshark_responses(&t.file), t.dns, "{name}: DNS responses");
    }
    let over_tcp = all
        .iter()
        .flat_map(|t| &t.dns)
        .filter(|d| d.transport == "tcp");
    assert!(over_tcp.count() >= 2, "DNS over TCP is exercised");
}

/// The queries tshark finds no response for (two passes, so a query knows its response)
/// are exactly the bookkeeping's unanswered ones.
#[test]
fn unanswered_dns_queries_match_tshark() {
    if !have_tshark("unanswered_dns_queries_match_tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fields = [
        "frame.time_epoch",
        "ip.src",
        "ip.dst",
        "tcp.srcport",
        "dns.id",
        "dns.qry.name",
        "dns.qry.type",
    ];
    for t in fixgen::write_all(dir.path()).unwrap() {
        let mut args = vec!["-2", "-Y", "dns.flags.response==0 && !dns.response_in"];
        args.extend(["-T", "fields", "-E", "separator=/t"]);
        for f in fields {
            args.extend(["-e", f]);
        }
        let got: Vec<DnsQueryTruth> = tshark(&t.file, &args)
            .lines()
            .map(|l| {
                let r: Vec<&str> = l.split('\t').collect();
                DnsQueryTruth {
                    time_ns: epoch_ns(r[0]),
                    client: r[1].parse().unwrap(),
                    server: r[2].parse().unwrap(),
                    transport: if r[3].is_empty() { "udp" } else { "tcp" },
                    id: u16::from_str_radix(r[4].trim_start_matches("0x"), 16).unwrap(),
                    name: r[5].to_string(),
                    qtype: r[6].parse().unwrap(),
                }
            })
            .collect();
        assert_eq!(got, t.dns_unanswered, "{}", t.file.display());
    }
}
