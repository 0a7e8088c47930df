//! `lanecheck flows` on the generated scenarios: every number asserted here
//! comes from fixgen's own bookkeeping of what it wrote, never from
//! lanecheck's output.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;

use fixgen::{CaptureTruth, FlowTruth};
use serde_json::Value;

use crate::audit::generate;
use crate::util::{lanecheck, root, run, run_json};

/// A packet time (ns) as reports write it.
pub(crate) fn rfc3339(ns: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).unwrap();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Flow identity independent of lanecheck's ICMP port mapping.
fn identity(proto: &str, src: &str, sport: u64, dst: &str, dport: u64) -> String {
    if proto.starts_with("icmp") {
        format!("{proto} {src} {dst}")
    } else {
        format!("{proto} {src}:{sport} {dst}:{dport}")
    }
}

fn truth_identity(f: &FlowTruth) -> String {
    identity(
        f.proto,
        &f.src.to_string(),
        f.sport.into(),
        &f.dst.to_string(),
        f.dport.into(),
    )
}

fn json_identity(f: &Value) -> String {
    identity(
        f["proto"].as_str().unwrap(),
        f["src"].as_str().unwrap(),
        f["sport"].as_u64().unwrap(),
        f["dst"].as_str().unwrap(),
        f["dport"].as_u64().unwrap(),
    )
}

/// Asserts that `doc` (one capture) lists exactly the flows of `truth`.
fn assert_matches_truth(doc: &Value, truth: &CaptureTruth) {
    let cap = &doc["captures"][0];
    assert_eq!(cap["packets"], truth.packets, "packets of {:?}", truth.file);
    assert_eq!(cap["bytes"], truth.bytes);
    assert_eq!(cap["non_ip"], truth.non_ip_frames);
    assert_eq!(cap["truncated"], truth.truncated_at.is_some());
    assert_eq!(cap["truncated_at"], serde_json::json!(truth.truncated_at));
    assert_eq!(cap["undecoded"], serde_json::json!({}));
    let mut ifaces: Vec<String> = serde_json::from_value(cap["interfaces"].clone()).unwrap();
    ifaces.sort();
    assert_eq!(ifaces, truth.interfaces);

    let got: BTreeMap<String, &Value> = doc["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (format!("{} {}", json_identity(f), f["first_seen"]), f))
        .collect();
    assert_eq!(got.len(), truth.flows.len(), "flow count: {:?}", got.keys());
    for t in &truth.flows {
        // Two connections of one 4-tuple (port reuse) are two flows.
        let id = format!("{} \"{}\"", truth_identity(t), rfc3339(t.first_seen_ns));
        let f = got
            .get(&id)
            .unwrap_or_else(|| panic!("missing flow {id}; have {:?}", got.keys()));
        assert_eq!(f["packets"], t.packets, "{id}");
        assert_eq!(f["bytes"], t.bytes, "{id}");
        assert_eq!(f["packets_src_to_dst"], t.packets_src_to_dst, "{id}");
        assert_eq!(f["bytes_src_to_dst"], t.bytes_src_to_dst, "{id}");
        let mut fi: Vec<String> = serde_json::from_value(f["interfaces"].clone()).unwrap();
        fi.sort();
        assert_eq!(fi, t.interfaces, "{id}");
        let mut vl: Vec<u16> = serde_json::from_value(f["vlans"].clone()).unwrap();
        vl.sort();
        assert_eq!(vl, t.vlans, "{id}");
        assert_eq!(f["first_seen"], rfc3339(t.first_seen_ns), "{id}");
        assert_eq!(f["last_seen"], rfc3339(t.last_seen_ns), "{id}");
    }
    // Sorted by bytes, largest first.
    let bytes: Vec<u64> = doc["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["bytes"].as_u64().unwrap())
        .collect();
    assert!(bytes.windows(2).all(|w| w[0] >= w[1]), "{bytes:?}");
}

#[test]
fn every_scenario_lists_exactly_the_generated_flows() {
    for s in fixgen::scenarios() {
        let (_dir, truth) = generate(s.name);
        let doc = run_json(&["flows", truth.file.to_str().unwrap()], 0);
        assert_matches_truth(&doc, &truth);
    }
}

#[test]
fn committed_fixtures_are_what_fixgen_writes() {
    let dir = tempfile::tempdir().unwrap();
    for t in fixgen::write_all(dir.path()).unwrap() {
        let name = t.file.file_name().unwrap();
        let committed = std::fs::read(root().join("fixtures").join(name)).unwrap();
        assert!(
            committed == std::fs::read(&t.file).unwrap(),
            "fixtures/{} is stale: run `cargo run -p fixgen -- all fixtures`",
            name.to_string_lossy()
        );
    }
}

#[test]
fn truncated_capture_keeps_everything_before_the_cut() {
    let (_dir, truth) = generate("truncated");
    let at = truth.truncated_at.expect("truncated fixture has a cut");
    let doc = run_json(&["flows", truth.file.to_str().unwrap()], 0);
    assert_matches_truth(&doc, &truth);
    assert_eq!(doc["captures"][0]["truncated_at"], at);
    let reason = doc["captures"][0]["truncation_reason"].as_str().unwrap();
    assert!(reason.starts_with("record cut"), "{reason}");
}

#[test]
fn a_bad_file_does_not_stop_the_others_and_exits_2() {
    let (dir, truth) = generate("vlan_dpm");
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "this is not a capture\n").unwrap();
    let missing = dir.path().join("missing.pcap");
    let args = [
        "flows",
        junk.to_str().unwrap(),
        truth.file.to_str().unwrap(),
        missing.to_str().unwrap(),
    ];
    let doc = run_json(&args, 2);
    let caps = doc["captures"].as_array().unwrap();
    assert_eq!(caps.len(), 3);
    assert!(caps[0]["error"]
        .as_str()
        .unwrap()
        .contains("notes.txt: not a capture"));
    assert_eq!(caps[1]["packets"], truth.packets);
    assert!(caps[2]["error"].as_str().unwrap().contains("missing.pcap"));
    let listed: u64 = doc["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(listed, truth.packets - truth.non_ip_frames);
    let out = run(&["flows", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("notes.txt: not a capture file"));
}

#[test]
fn stdin_and_path_equals_name() {
    let (_dir, truth) = generate("bigendian");
    let bytes = std::fs::read(&truth.file).unwrap();
    let mut child = lanecheck()
        .args(["flows", "--format", "json", "--", "-=eth7"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["captures"][0]["source"], "-");
    assert_eq!(doc["captures"][0]["packets"], truth.packets);
    assert_eq!(
        doc["captures"][0]["interfaces"],
        serde_json::json!(["eth7"])
    );
    for f in doc["flows"].as_array().unwrap() {
        assert_eq!(f["interfaces"], serde_json::json!(["eth7"]));
    }
}

#[test]
fn several_captures_make_one_listing() {
    let (_d1, a) = generate("dpm_backup_lan");
    let (_d2, b) = generate("sll2_dpm");
    let doc = run_json(
        &["flows", a.file.to_str().unwrap(), b.file.to_str().unwrap()],
        0,
    );
    assert_eq!(doc["captures"].as_array().unwrap().len(), 2);
    assert_eq!(doc["captures"][1]["packets"], b.packets);
    // The same 5-tuple seen in both captures (several hosts' captures of one
    // conversation) is one flow with the packets of both.
    let mut merged: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for t in a.flows.iter().chain(&b.flows) {
        let e = merged.entry(truth_identity(t)).or_default();
        e.0 += t.packets;
        e.1 += t.bytes;
    }
    let flows = doc["flows"].as_array().unwrap();
    assert_eq!(flows.len(), merged.len());
    for f in flows {
        let want = merged[&json_identity(f)];
        assert_eq!(
            (f["packets"].as_u64().unwrap(), f["bytes"].as_u64().unwrap()),
            want
        );
    }
}

#[test]
fn text_table_and_closed_pipe() {
    let (_dir, truth) = generate("dpm_backup_lan");
    let out = run(&["flows", truth.file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let biggest = truth.flows.iter().max_by_key(|f| f.bytes).unwrap();
    let first_row = text.lines().nth(1).unwrap();
    assert!(
        first_row.contains(&format!("{}:{}", biggest.src, biggest.sport)),
        "{first_row}"
    );
    assert!(
        first_row.contains(&biggest.bytes.to_string()),
        "{first_row}"
    );
    assert!(text.contains(&format!("{} flows", truth.flows.len())));

    // A reader that goes away early is not an error.
    let out = crate::util::run_into_closed_pipe(&["flows", truth.file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn output_flag_writes_a_file() {
    let (dir, truth) = generate("ipv6_dpm");
    let target = dir.path().join("out.json");
    let out = run(&[
        "flows",
        "--format",
        "json",
        "--output",
        target.to_str().unwrap(),
        truth.file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let doc: Value = serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert_matches_truth(&doc, &truth);
}
