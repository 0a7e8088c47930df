//! Out-of-order TCP segments: a dissector holds a segment that comes
//! before the one it follows (as SPAN ports, multi-queue NICs and pktmon
//! deliver them) and reads both in order, so a reordered capture gives the
//! evidence, classes and bytes of the capture in order; a segment that
//! never comes is still counted as a give-up. The captures are fixgen's
//! `cluster_smb_shares` with two segments swapped, or one left out, in the
//! test; expected numbers come from fixgen's bookkeeping and from the
//! audit of the unmodified capture.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::audit::{assert_classes_match, generate};
use crate::scenarios::{cluster_with_clients_on_csv, LIVE_MIGRATION_RULE};
use crate::util::{gave_up, lanecheck, le32, packet_blocks, run_json};

/// The management copy's client port (fixgen's `management_copy`).
const CLIENT_PORT: u16 = 49911;

/// The give-up reason of a hole in a stream (docs/json.md).
const OUT_OF_ORDER: &str = "a segment is missing or out of order";

/// The TCP source port and payload of an Ethernet/IPv4 packet block.
fn tcp_segment(ng: &[u8], block: usize) -> Option<(u16, &[u8])> {
    let caplen = le32(ng, block + 20) as usize;
    let frame = &ng[block + 28..block + 28 + caplen];
    let ip = frame.get(14..)?;
    if frame[12..14] != [0x08, 0x00] || ip[9] != 6 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let tcp = &ip[ihl..total];
    let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
    let off = usize::from(tcp[12] >> 4) * 4;
    Some((sport, &tcp[off..]))
}

/// The packet blocks of the client data segments from port `port`, with
/// their payloads, in capture order.
fn client_data(ng: &[u8], port: u16) -> Vec<(usize, &[u8])> {
    packet_blocks(ng)
        .into_iter()
        .filter_map(|b| tcp_segment(ng, b).map(|(sport, p)| (b, sport, p)))
        .filter(|(_, sport, p)| *sport == port && !p.is_empty())
        .map(|(b, _, p)| (b, p))
        .collect()
}

/// The packet blocks of the management copy's client data segments, in
/// capture order, from the first that carries an SMB2 WRITE request (its
/// NetBIOS header, then `\xfeSMB`, command 0x0009 at offset 12).
fn write_segments(ng: &[u8]) -> Vec<usize> {
    let data = client_data(ng, CLIENT_PORT);
    let write = |p: &[u8]| p.len() > 18 && p[4..8] == *b"\xfeSMB" && p[16..18] == [9, 0];
    let first = data.iter().position(|(_, p)| write(p)).unwrap();
    data[first..].iter().map(|(b, _)| *b).collect()
}

/// The blocks of a pcapng, each with its offset, in order.
fn blocks(ng: &[u8]) -> Vec<(usize, &[u8])> {
    let (mut at, mut out) = (0, Vec::new());
    while at + 8 <= ng.len() {
        let len = le32(ng, at + 4) as usize;
        out.push((at, &ng[at..at + len]));
        at += len;
    }
    out
}

/// `ng` with the packet blocks at `a` and `b` swapped; each position keeps
/// its timestamp, so time still runs forward (the later segment is merely
/// captured first).
fn swapped(ng: &[u8], a: usize, b: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for (at, block) in blocks(ng) {
        let other = match at {
            x if x == a => b,
            x if x == b => a,
            _ => {
                out.extend_from_slice(block);
                continue;
            }
        };
        let start = out.len();
        out.extend_from_slice(blocks(ng).into_iter().find(|x| x.0 == other).unwrap().1);
        out[start + 12..start + 20].copy_from_slice(&block[12..20]);
    }
    out
}

/// `ng` without the packet block at `gone`.
fn without(ng: &[u8], gone: usize) -> Vec<u8> {
    blocks(ng)
        .into_iter()
        .filter(|(at, _)| *at != gone)
        .flat_map(|(_, b)| b.iter().copied())
        .collect()
}

/// The policy under which every flow of `cluster_smb_shares` takes the
/// class fixgen gave it (as in `tests/scenarios.rs`).
fn policy(dir: &Path) -> String {
    cluster_with_clients_on_csv(dir, LIVE_MIGRATION_RULE)
}

fn audit(policy: &str, file: &Path) -> Value {
    audit_code(policy, file, 0)
}

fn audit_code(policy: &str, file: &Path, code: i32) -> Value {
    let f = file.to_str().unwrap();
    run_json(&["audit", "--policy", policy, "--flows", f], code)
}

/// Every flow with its class, bytes, packets and evidence, the evidence
/// without the packet time it was found at (a held segment's facts are
/// found when the segment before it comes).
fn flows_without_times(doc: &Value) -> Vec<Value> {
    let mut flows = doc["flows"].as_array().unwrap().clone();
    for f in &mut flows {
        for e in f["evidence"].as_array_mut().unwrap() {
            e.as_object_mut().unwrap().remove("time");
        }
    }
    flows
}

/// Class → bytes, by fixgen's bookkeeping.
fn truth_classes(t: &fixgen::CaptureTruth) -> BTreeMap<String, u64> {
    let mut by = BTreeMap::new();
    for f in &t.flows {
        *by.entry(f.class.to_string()).or_default() += f.bytes;
    }
    by
}

fn classes(doc: &Value) -> BTreeMap<String, u64> {
    doc["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["class"].as_str().unwrap().to_string();
            (name, c["bytes"].as_u64().unwrap())
        })
        .collect()
}

#[test]
fn two_swapped_segments_give_the_evidence_of_the_capture_in_order() {
    let (d, t) = generate("cluster_smb_shares");
    let ng = std::fs::read(&t.file).unwrap();
    // The first WRITE's header segment and the one that continues it.
    let segs = write_segments(&ng);
    let file = d.path().join("swapped.pcapng");
    std::fs::write(&file, swapped(&ng, segs[0], segs[1])).unwrap();
    let p = policy(d.path());
    let plain = audit(&p, &t.file);
    let doc = audit(&p, &file);
    assert_classes_match(&plain, &t);
    assert_classes_match(&doc, &t);
    assert_eq!(flows_without_times(&doc), flows_without_times(&plain));
    assert_eq!(gave_up(&doc), gave_up(&plain));
    assert!(!gave_up(&doc).contains_key(&("smb".into(), OUT_OF_ORDER.into())));
    // The WRITE's tree use decides the management copy's class.
    let truth = t.flows.iter().find(|f| f.sport == CLIENT_PORT).unwrap();
    let flow = doc["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["sport"] == CLIENT_PORT)
        .unwrap();
    assert_eq!(flow["class"], truth.class);
    assert_eq!(flow["bytes"].as_u64(), Some(truth.bytes));
    let uses: Vec<&Value> = flow["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "smb-tree-use")
        .collect();
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0]["path"], r"\\CLUSTER\ClusterStorage$");
    // One analyzer and shares of the capture agree, byte for byte.
    let args = ["audit", "--policy", &p, "--flows", file.to_str().unwrap()];
    let one = lanecheck().args(args).args(["--threads", "1"]).output();
    let two = lanecheck()
        .args(args)
        .args(["--threads", "2", "--shard", "always"])
        .output();
    assert_eq!(one.unwrap().stdout, two.unwrap().stdout);
}

#[test]
fn a_segment_that_never_comes_is_still_a_give_up() {
    let (d, t) = generate("cluster_smb_shares");
    let ng = std::fs::read(&t.file).unwrap();
    let segs = write_segments(&ng);
    let gone = segs[1];
    let lost = u64::from(le32(&ng, gone + 24));
    // The segments after the hole pass the reorder bound (8 segments) …
    let file = d.path().join("missing.pcapng");
    std::fs::write(&file, without(&ng, gone)).unwrap();
    let p = policy(d.path());
    let doc = audit(&p, &file);
    let mut want = gave_up(&audit(&p, &t.file));
    *want.entry(("smb".into(), OUT_OF_ORDER.into())).or_default() += 1;
    assert_eq!(gave_up(&doc), want);
    let mut bytes = truth_classes(&t);
    let truth = t.flows.iter().find(|f| f.sport == CLIENT_PORT).unwrap();
    *bytes.get_mut(truth.class).unwrap() -= lost;
    assert_eq!(classes(&doc), bytes);
    // … and a hole after the flow's last data segment stays open until
    // the capture ends: counted the same.
    let last = *segs.last().unwrap();
    let file = d.path().join("last_missing.pcapng");
    let before_last = segs[segs.len() - 2];
    std::fs::write(&file, without(&ng, before_last)).unwrap();
    assert!(segs.len() > 2 && last != before_last);
    let doc = audit(&p, &file);
    assert_eq!(gave_up(&doc), want);
}

#[test]
fn a_dcom_activation_whose_request_comes_before_its_bind_still_teaches_its_port() {
    // fixgen's `dpm_dcom_learned` (a): the client's bind to the DCOM
    // activator, then RemoteCreateInstance, whose reply names ps[49750];
    // the request captured first. The stream starts after the SYN, so the
    // request waits for the bind instead of starting the stream.
    let (d, t) = generate("dpm_dcom_learned");
    let ng = std::fs::read(&t.file).unwrap();
    let segs = client_data(&ng, 49701);
    assert_eq!(segs.len(), 2, "bind and request");
    let file = d.path().join("swapped.pcapng");
    std::fs::write(&file, swapped(&ng, segs[0].0, segs[1].0)).unwrap();
    let p = crate::audit::policy("dpm.toml");
    let plain = audit_code(&p, &t.file, 1);
    let doc = audit_code(&p, &file, 1);
    assert_classes_match(&plain, &t);
    assert_classes_match(&doc, &t);
    assert_eq!(flows_without_times(&doc), flows_without_times(&plain));
    assert_eq!(doc["learned_endpoints"], plain["learned_endpoints"]);
    assert_eq!(gave_up(&doc), gave_up(&plain));
    let kinds = |doc: &Value| -> Vec<String> {
        let flows = doc["flows"].as_array().unwrap();
        let f = flows.iter().find(|f| f["sport"] == 49701).unwrap();
        let ev = f["evidence"].as_array().unwrap();
        ev.iter()
            .map(|e| e["kind"].as_str().unwrap().into())
            .collect()
    };
    // The bind, and the reply's string bindings (fixgen's `activation`:
    // three resolver addresses and three `host[49750]` bindings).
    let mut want = vec!["rpc-bind".to_string()];
    want.extend(std::iter::repeat_n("dcom-binding".to_string(), 3 + 3));
    assert_eq!(kinds(&doc), want);
}
