//! IP fragments sent last first (review finding A5): the fragment with the
//! ports comes after the others, on IPv4 and IPv6 (`dpm_frag_reversed`).
//! Every class total, network and NIC share is the generator's, no
//! port-less flow appears, the capture says how many fragments came before
//! their first, and `--violations-pcap` holds exactly the violating flows'
//! frames, held fragments included, the same on one thread, in shares and
//! read ahead. When a train's first fragment never comes (not in the file,
//! or 40 s late: after the 30 s a fragment is held), its fragments are
//! counted once, as orphans in a port-less flow, and written with it.

use std::path::Path;

use fixgen::CaptureTruth;
use serde_json::Value;

use crate::audit::{assert_classes_match, generate, policy};
use crate::util::{le32, packet_blocks, run_json};
use crate::violations_pcap::{assert_exactly_the_violations, tshark_packets};

/// dpm.toml with the scenario's IPv6 backup prefix.
fn policy_v6(dir: &Path) -> String {
    let text = std::fs::read_to_string(policy("dpm.toml")).unwrap();
    let from = "backup = [\"192.168.1.0/24\"]";
    assert!(text.contains(from));
    let text = text.replace(from, "backup = [\"192.168.1.0/24\", \"fd00:b::/64\"]");
    let p = dir.join("dpm-v6.toml");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

/// A fragment train: both addresses, the IP protocol, the identification.
type Train = (Vec<u8>, u8, u32);

/// A flow as `lanecheck flows` lists it, (proto, source port, destination
/// port), with its (packets, bytes).
type Listed = ((String, u64, u64), (u64, u64));

/// One frame of a pcapng as fixgen writes it: where its block is, its
/// Ethernet frame, and (for an IP fragment) its train and offset.
struct Block {
    at: usize,
    len: usize,
    data: Vec<u8>,
}

impl Block {
    /// Every enhanced packet block of `bytes`.
    fn all(bytes: &[u8]) -> Vec<Block> {
        packet_blocks(bytes)
            .into_iter()
            .map(|at| {
                let len = le32(bytes, at + 4) as usize;
                let caplen = le32(bytes, at + 20) as usize;
                let data = bytes[at + 28..at + 28 + caplen].to_vec();
                Block { at, len, data }
            })
            .collect()
    }

    /// (train: addresses, protocol, identification; offset, more
    /// fragments) of an IP fragment, read by hand (RFC 791 §3.1; RFC 8200
    /// §4.5); `None` for a whole packet or a frame with no IP.
    fn fragment(&self) -> Option<(Train, usize, bool)> {
        let ip = &self.data[14..];
        let be16 = |b: &[u8]| usize::from(u16::from_be_bytes([b[0], b[1]]));
        let (train, word) = match self.data[12..14] {
            [0x08, 0x00] => {
                let id = be16(&ip[4..6]) as u32;
                let w = be16(&ip[6..8]);
                (
                    (ip[12..20].to_vec(), ip[9], id),
                    ((w & 0x1fff) * 8, w & 0x2000 != 0),
                )
            }
            [0x86, 0xdd] if ip[6] == 44 => {
                let id = u32::from_be_bytes(ip[44..48].try_into().unwrap());
                let w = be16(&ip[42..44]);
                ((ip[8..40].to_vec(), ip[40], id), ((w >> 3) * 8, w & 1 != 0))
            }
            _ => return None,
        };
        (word.0 > 0 || word.1).then_some((train, word.0, word.1))
    }

    fn wire_len(&self, bytes: &[u8]) -> u64 {
        u64::from(le32(bytes, self.at + 24))
    }
}

/// The later fragments of `bytes` that come before their train's first.
fn before_their_first(bytes: &[u8]) -> u64 {
    let mut firsts = Vec::new();
    let mut early = 0;
    for b in Block::all(bytes) {
        let Some((train, offset, _)) = b.fragment() else {
            continue;
        };
        match offset {
            0 => firsts.push(train),
            _ => early += u64::from(!firsts.contains(&train)),
        }
    }
    early
}

/// `audit --flows --violations-pcap DIR/NAME` in JSON, with `extra` flags.
fn audit(p: &str, file: &Path, out: &Path, extra: &[&str], code: i32) -> Value {
    let mut args = vec!["audit", "--policy", p, "--flows"];
    args.extend_from_slice(extra);
    args.extend([
        "--violations-pcap",
        out.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    run_json(&args, code)
}

/// The violations pcap of `file` on one thread, and the same file, byte for
/// byte, in shares of its flows and read ahead.
fn one_violations_pcap(p: &str, file: &Path, dir: &Path) -> (Value, Vec<u8>) {
    let out = dir.join("violations.pcapng");
    let one = audit(p, file, &out, &["--threads", "1"], 1);
    let written = std::fs::read(&out).unwrap();
    for extra in [["--shard", "always"], ["--shard", "never"]] {
        let args = [&extra[..], &["--threads", "2"]].concat();
        let again = audit(p, file, &out, &args, 1);
        assert_eq!(again, one, "{args:?}: the report");
        assert!(
            std::fs::read(&out).unwrap() == written,
            "{args:?}: the file"
        );
    }
    (one, written)
}

/// The flows `lanecheck flows` finds in a violations pcap: (proto, src
/// port, dst port) → (packets, bytes).
fn flows_in(file: &Path) -> Vec<Listed> {
    let doc = run_json(&["flows", file.to_str().unwrap()], 0);
    let mut out: Vec<_> = doc["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let key = (
                f["proto"].as_str().unwrap().to_string(),
                f["sport"].as_u64().unwrap(),
                f["dport"].as_u64().unwrap(),
            );
            (
                key,
                (f["packets"].as_u64().unwrap(), f["bytes"].as_u64().unwrap()),
            )
        })
        .collect();
    out.sort();
    out
}

/// The truth flow with client port `sport`.
fn flow(t: &CaptureTruth, sport: u16) -> &fixgen::FlowTruth {
    t.flows.iter().find(|f| f.sport == sport).unwrap()
}

#[test]
fn fragments_sent_last_first_count_in_their_flow_and_are_written_with_it() {
    let (dir, t) = generate("dpm_frag_reversed");
    let p = policy_v6(dir.path());
    let (doc, _) = one_violations_pcap(&p, &t.file, dir.path());
    assert_classes_match(&doc, &t);
    let flows = doc["flows"].as_array().unwrap();
    assert_eq!(flows.len(), t.flows.len(), "{flows:?}");
    assert!(
        flows.iter().all(|f| f["sport"] != 0 && f["dport"] != 0),
        "no port-less flow: {flows:?}"
    );
    let bytes = std::fs::read(&t.file).unwrap();
    let c = &doc["captures"][0];
    assert_eq!(c["reordered_fragments"], before_their_first(&bytes));
    assert_eq!(c["orphan_fragments"], 0);
    // The leak and the NFS flow (whose first frame is a held fragment).
    let violating: Vec<(u64, u64)> = doc["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["sport"].as_u64().unwrap(), v["packets"].as_u64().unwrap()))
        .collect();
    let (leak, nfs) = (flow(&t, 49732), flow(&t, 50049));
    assert_eq!(violating, [(49732, leak.packets), (50049, nfs.packets)]);
    // Read back: exactly those flows, whole.
    let out = dir.path().join("violations.pcapng");
    let key = |f: &fixgen::FlowTruth| {
        let k = (f.proto.to_string(), u64::from(f.sport), u64::from(f.dport));
        (k, (f.packets, f.bytes))
    };
    assert_eq!(flows_in(&out), [key(leak), key(nfs)]);
    if let Some(pcap) = tshark_packets(&out) {
        assert_exactly_the_violations("dpm_frag_reversed", &doc, &t, &pcap);
    }
}

/// The scenario with the NFS call's first fragment left out, or sent 40 s
/// late (after the last frame): the bytes, and the NFS call's other
/// fragments' bytes.
fn without_nfs_first_fragment(t: &CaptureTruth, late: bool) -> (Vec<u8>, u64) {
    let bytes = std::fs::read(&t.file).unwrap();
    let blocks = Block::all(&bytes);
    let udp = |b: &&Block| b.fragment().is_some_and(|f| f.0 .1 == 17);
    let nfs: Vec<&Block> = blocks.iter().filter(udp).collect();
    let first = nfs.iter().find(|b| b.fragment().unwrap().1 == 0).unwrap();
    let rest: u64 = nfs
        .iter()
        .filter(|b| b.at != first.at)
        .map(|b| b.wire_len(&bytes))
        .sum();
    let block = bytes[first.at..first.at + first.len].to_vec();
    let mut out = [&bytes[..first.at], &bytes[first.at + first.len..]].concat();
    if late {
        let mut block = block;
        let ts = (u64::from(le32(&block, 12)) << 32) | u64::from(le32(&block, 16));
        let ts = ts + 40_000_000_000;
        block[12..16].copy_from_slice(&((ts >> 32) as u32).to_le_bytes());
        block[16..20].copy_from_slice(&(ts as u32).to_le_bytes());
        out.extend_from_slice(&block);
    }
    (out, rest)
}

#[test]
fn fragments_whose_first_never_comes_are_counted_once_and_written() {
    let (dir, t) = generate("dpm_frag_reversed");
    let p = policy_v6(dir.path());
    for late in [false, true] {
        let (bytes, orphan_bytes) = without_nfs_first_fragment(&t, late);
        let file = dir.path().join("nfs-first-missing.pcapng");
        std::fs::write(&file, &bytes).unwrap();
        let (doc, _) = one_violations_pcap(&p, &file, dir.path());
        let c = &doc["captures"][0];
        assert_eq!(c["orphan_fragments"], 5, "late {late}");
        assert_eq!(c["reordered_fragments"], before_their_first(&bytes) - 5);
        // Nothing lost: the classes hold every unique byte.
        let classes: u64 = doc["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["bytes"].as_u64().unwrap())
            .sum();
        assert_eq!(classes, c["unique_bytes"].as_u64().unwrap());
        // The orphans: one port-less flow, a client violation on the backup
        // LAN, written whole (their frame numbers set when given up).
        let out = dir.path().join("violations.pcapng");
        let written = flows_in(&out);
        let orphans = (("udp".to_string(), 0, 0), (5, orphan_bytes));
        assert!(written.contains(&orphans), "late {late}: {written:?}");
        let v = doc["violations"].as_array().unwrap();
        let port_less = v.iter().find(|v| v["sport"] == 0).unwrap();
        assert_eq!(
            (
                &port_less["class"],
                &port_less["network"],
                &port_less["bytes"]
            ),
            (
                &Value::from("client"),
                &Value::from("backup"),
                &Value::from(orphan_bytes)
            )
        );
        let w: (u64, u64) = written
            .iter()
            .fold((0, 0), |a, (_, (p, b))| (a.0 + p, a.1 + b));
        let r = v.iter().fold((0, 0), |a, v| {
            (
                a.0 + v["packets"].as_u64().unwrap(),
                a.1 + v["bytes"].as_u64().unwrap(),
            )
        });
        assert_eq!(w, r, "late {late}: the file holds the violations");
    }
}
