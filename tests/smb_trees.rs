//! Review A1–A4: what decides an SMB connection's class between cluster
//! nodes. Each test derives its capture from a fixgen scenario in the test
//! (a share name patched to one of equal length, a pause put into the
//! timestamps, frames cut to a snaplen) and takes its expected numbers
//! from fixgen's bookkeeping of the unpatched scenario, never from
//! lanecheck's output.

use serde_json::Value;

use crate::audit::{generate, policy};
use crate::util::{le32, packet_blocks, run_json};

const NS: i64 = 1_000_000_000;

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// `bytes` with every occurrence of `from` replaced by `to` (same length).
fn patched(mut bytes: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut n = 0;
    let mut at = 0;
    while let Some(i) = bytes[at..].windows(from.len()).position(|w| w == from) {
        bytes[at + i..at + i + from.len()].copy_from_slice(to);
        at += i + from.len();
        n += 1;
    }
    assert!(n > 0, "nothing to patch");
    bytes
}

/// Units of a packet timestamp per second in a fixgen pcapng (µs or ns),
/// from its first packet (fixgen's clock starts at 1 700 000 000 s).
fn units_per_second(bytes: &[u8]) -> i64 {
    let first = packet_blocks(bytes)[0];
    let ts = (i64::from(le32(bytes, first + 12)) << 32) | i64::from(le32(bytes, first + 16));
    if ts / 1_700_000_000 > 100_000_000 {
        NS
    } else {
        1_000_000
    }
}

/// Every packet at or after `from_ns` (epoch ns) moved `by_s` seconds later.
fn paused(mut bytes: Vec<u8>, from_ns: i64, by_s: i64) -> Vec<u8> {
    let unit = units_per_second(&bytes);
    for b in packet_blocks(&bytes) {
        let ts = (i64::from(le32(&bytes, b + 12)) << 32) | i64::from(le32(&bytes, b + 16));
        if ts * (NS / unit) >= from_ns {
            let later = (ts + by_s * unit) as u64;
            bytes[b + 12..b + 16].copy_from_slice(&((later >> 32) as u32).to_le_bytes());
            bytes[b + 16..b + 20].copy_from_slice(&(later as u32).to_le_bytes());
        }
    }
    bytes
}

/// Every packet cut to `snaplen` captured bytes (original length kept),
/// as `editcap -s` does; other blocks as they are.
pub(crate) fn snapped(bytes: &[u8], snaplen: usize) -> Vec<u8> {
    let (mut at, mut out) = (0, Vec::new());
    while at + 8 <= bytes.len() {
        let len = le32(bytes, at + 4) as usize;
        let block = &bytes[at..at + len];
        let cap = le32(block, 20) as usize;
        if le32(block, 0) != 6 || cap <= snaplen {
            out.extend_from_slice(block);
        } else {
            let body = 28 + snaplen.next_multiple_of(4);
            let total = (body + 4) as u32;
            let start = out.len();
            out.extend_from_slice(&block[..28]);
            out.extend_from_slice(&block[28..28 + snaplen]);
            out.resize(start + body, 0);
            out.extend_from_slice(&total.to_le_bytes());
            out[start + 4..start + 8].copy_from_slice(&total.to_le_bytes());
            out[start + 20..start + 24].copy_from_slice(&(snaplen as u32).to_le_bytes());
        }
        at += len;
    }
    out
}

fn audit_flows(policy: &str, file: &std::path::Path, code: i32) -> Value {
    run_json(
        &[
            "audit",
            "--policy",
            policy,
            "--flows",
            file.to_str().unwrap(),
        ],
        code,
    )
}

/// The flows of a document with client port `sport`, in order of first packet.
fn flows_on(doc: &Value, sport: u16) -> Vec<&Value> {
    let mut v: Vec<&Value> = doc["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["sport"] == sport)
        .collect();
    v.sort_by_key(|f| f["first_seen"].as_str().unwrap().to_string());
    v
}

#[test]
fn a_tree_connect_no_data_uses_does_not_decide_the_class() {
    // A3: CSV redirected I/O whose connection first tree-connected to an
    // admin share (C$, in place of IPC$) it never uses: the WRITEs go to
    // the CSV share's tree, so the class is smb-redirected.
    let (d, t) = generate("cluster_smb_shares");
    let bytes = std::fs::read(&t.file).unwrap();
    let c = d.path().join("c_first.pcapng");
    let from = utf16(r"\\NODE1\IPC$");
    std::fs::write(&c, patched(bytes, &from, &utf16(r"\\NODE1.a\C$"))).unwrap();
    let doc = audit_flows(&policy("cluster.toml"), &c, 1);
    let truth = t.flows.iter().find(|f| f.sport == 49912).unwrap();
    assert_eq!(truth.class, "smb-redirected");
    let flows = flows_on(&doc, 49912);
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0]["class"], "smb-redirected");
    assert_eq!(flows[0]["bytes"].as_u64(), Some(truth.bytes));
    let why = flows[0]["reason"].as_str().unwrap();
    assert!(why.contains("7c1d2f3e"), "{why}");
}

#[test]
fn a_connection_resumed_after_its_flow_expired_keeps_its_trees() {
    // A1: the management copy (client, 49911) pauses 16 min, longer than
    // the 15 min idle timeout, from +2 s on; the flow that resumes has no
    // SYN and no tree connect, and its WRITEs use the same session and tree.
    let (d, t) = generate("cluster_smb_shares");
    let truth = t.flows.iter().find(|f| f.sport == 49911).unwrap();
    assert_eq!(truth.class, "client");
    let start_s = 1_700_000_000;
    let bytes = paused(std::fs::read(&t.file).unwrap(), (start_s + 2) * NS, 16 * 60);
    let gap = d.path().join("gap.pcapng");
    std::fs::write(&gap, bytes).unwrap();
    let doc = audit_flows(&policy("cluster.toml"), &gap, 1);
    let flows = flows_on(&doc, 49911);
    assert_eq!(flows.len(), 2);
    let after: u64 = truth
        .bins
        .iter()
        .filter(|(s, _)| *s >= start_s + 2)
        .map(|b| b.1)
        .sum();
    assert_eq!(flows[1]["bytes"].as_u64(), Some(after));
    assert_eq!(flows[0]["bytes"].as_u64(), Some(truth.bytes - after));
    for f in &flows {
        assert_eq!(f["class"], "client", "{f}");
        assert_eq!(f["status"], "violation");
    }
    let use_ = flows[1]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "smb-tree-use")
        .unwrap();
    assert_eq!(use_["path"], r"\\CLUSTER\ClusterStorage$");
    assert_eq!(use_["session_id"], "0x0000300000000015");
}

#[test]
fn a_midstream_connection_says_its_tree_connect_was_not_seen() {
    // (d) of cluster_smb_shares: joined mid-stream, session 0x…0d, tree 0xd
    // (fixtures/README.md; fixgen's late_capture).
    let (_d, t) = generate("cluster_smb_shares");
    let doc = audit_flows(&policy("cluster.toml"), &t.file, 1);
    let f = flows_on(&doc, 49920);
    let why = f[0]["reason"].as_str().unwrap();
    assert!(!why.contains("no tree connect seen"), "{why}");
    assert!(
        why.contains(
            "captured mid-stream: its data uses tree 0x0000000d of session 0x000030000000000d"
        ),
        "{why}"
    );
}

#[test]
fn a_tree_connect_after_the_evidence_window_judges_the_flow_as_its_class_too() {
    // A2: everything from +0.95 s on comes 400 s later, so the management
    // copy's tree connect (+1.0 s) comes after --evidence-window (5 min).
    let (d, t) = generate("cluster_smb_shares");
    let truth = t.flows.iter().find(|f| f.sport == 49911).unwrap();
    let start_ns = 1_700_000_000 * NS;
    let bytes = paused(std::fs::read(&t.file).unwrap(), start_ns + 950_000_000, 400);
    let late = d.path().join("late.pcapng");
    std::fs::write(&late, bytes).unwrap();
    let doc = audit_flows(&policy("cluster.toml"), &late, 1);
    let flows = flows_on(&doc, 49911);
    assert_eq!(flows.len(), 1);
    let f = flows[0];
    assert_eq!(f["bytes"].as_u64(), Some(truth.bytes));
    // Its bytes stay where they were counted; its verdict is client's.
    assert_eq!(f["class"], "smb-redirected");
    assert_eq!(f["status"], "violation");
    let why = f["reason"].as_str().unwrap();
    assert!(!why.contains("no tree connect seen;"), "{why}");
    assert!(why.contains("judged as client as well"), "{why}");
    assert!(
        why.contains(r"tree connect \\CLUSTER\ClusterStorage$"),
        "{why}"
    );
    let v = doc["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["sport"] == 49911)
        .unwrap();
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains("not allowed for client"), "{reasons}");
}

#[test]
fn a_tree_connect_cut_by_the_snaplen_is_a_give_up_and_says_so() {
    // A4: a 262-byte TREE_CONNECT (an FQDN server name) cut at 256 bytes.
    let (d, t) = generate("cluster_fe80");
    let bytes = std::fs::read(&t.file).unwrap();
    let from = utf16(r"NODE1\7c1d2f3e-5d4b-4a1a-9d2c-0f1e2d3c4b5a-1073741824$");
    let to = utf16(r"hv-cluster-prod-01.corp1.contoso.local\ClusterStorage$");
    let cut = d.path().join("cut.pcapng");
    std::fs::write(&cut, snapped(&patched(bytes, &from, &to), 256)).unwrap();
    let p = d.path().join("fe80.toml");
    let mut text = std::fs::read_to_string(policy("cluster.toml")).unwrap();
    for n in 1..=3 {
        let a = format!("\"172.16.40.1{n}\"]");
        text = text.replace(&a, &format!("\"172.16.40.1{n}\", \"fe80::1{n}\"]"));
    }
    std::fs::write(&p, text).unwrap();
    let doc = audit_flows(p.to_str().unwrap(), &cut, 1);
    let smb: Vec<_> = t.flows.iter().filter(|f| f.dport == 445).collect();
    assert_eq!(
        doc["evidence_gave_up"],
        serde_json::json!([{
            "protocol": "smb",
            "reason": "tree connect path cut by the snaplen",
            "flows": smb.len(),
        }])
    );
    for truth in smb {
        let f = flows_on(&doc, truth.sport)[0];
        assert_eq!(f["bytes"].as_u64(), Some(truth.bytes));
        let why = f["reason"].as_str().unwrap();
        assert!(!why.contains("no tree connect seen"), "{why}");
        assert!(why.contains("cut by the snaplen"), "{why}");
        let e = f["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "smb-tree-connect-cut")
            .unwrap();
        let path = e["path"].as_str().unwrap();
        assert!(
            path.starts_with(r"\\hv-cluster-prod-01.corp1.contoso.local\"),
            "{path}"
        );
    }
}

#[test]
fn an_async_tree_connect_names_the_tree_its_data_uses() {
    // A CSV-share tree connect answered at once (tree 5, never used), then
    // one to ClusterStorage$ answered by an interim response (STATUS_PENDING)
    // and a final one in the async header form (MS-SMB2 §3.3.4.2–3), which
    // has an AsyncId where the sync form has the TreeId: the WRITEs use
    // tree 9, which no response named, so they are the ClusterStorage$
    // tree's: a management copy (client) on the CSV network, a violation.
    // The AsyncId's high half (8) is where a sync header's TreeId would be.
    use fixgen::messages::{
        smb2_session, smb2_tree_connect_in, smb2_tree_granted, smb2_tree_granted_async,
        smb2_tree_pending, smb2_write_in,
    };
    let s = 0x0000_3000_0000_0041;
    let async_id = 0x0000_0008_0000_002a;
    let csv = r"\\NODE1\7c1d2f3e-5d4b-4a1a-9d2c-0f1e2d3c4b5a-1073741824$";
    let mut talk = smb2_session(s);
    talk.extend([
        (true, smb2_tree_connect_in(2, s, csv)),
        (false, smb2_tree_granted(2, s, 5)),
        (true, smb2_tree_connect_in(3, s, r"\\NODE1\ClusterStorage$")),
        (false, smb2_tree_pending(3, s, async_id)),
        (false, smb2_tree_granted_async(3, s, async_id)),
    ]);
    for mid in 4..8 {
        let [write, done] = smb2_write_in(mid, s, 9, 8192);
        talk.extend([(true, write), (false, done)]);
    }
    let frames =
        fixgen::frames::tcp_talk(([172, 16, 30, 12], [172, 16, 30, 11]), (49950, 445), &talk);
    let mut w = fixgen::NgWriter::new(false);
    w.section(&[]);
    w.interface(1, &[(2, b"csv")]);
    for (i, f) in frames.iter().enumerate() {
        w.epb(
            0,
            1_700_000_000_000_000 + 1000 * i as u64,
            f,
            f.len() as u32,
            &[],
        );
    }
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("async_tree.pcapng");
    std::fs::write(&file, &w.out).unwrap();
    let doc = audit_flows(&policy("cluster.toml"), &file, 1);
    let flows = flows_on(&doc, 49950);
    assert_eq!(flows.len(), 1);
    let f = flows[0];
    let bytes: usize = frames.iter().map(Vec::len).sum();
    assert_eq!(f["bytes"].as_u64(), Some(bytes as u64));
    assert_eq!(f["class"], "client", "{f}");
    assert_eq!(f["status"], "violation");
    let uses: Vec<_> = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "smb-tree-use")
        .collect();
    assert_eq!(uses.len(), 1, "{f}");
    assert_eq!(uses[0]["tree_id"], "0x00000009");
    assert_eq!(uses[0]["session_id"], "0x0000300000000041");
    assert_eq!(uses[0]["path"], r"\\NODE1\ClusterStorage$");
    let why = f["reason"].as_str().unwrap();
    assert!(why.contains(r"\\NODE1\ClusterStorage$"), "{why}");
}
