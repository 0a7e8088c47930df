//! The report model seen from outside: the one-line verdict summary that
//! text, JSON and HTML share, and `--series` (per-bin arrays) checked
//! against fixgen's per-second bookkeeping.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use etherparse::PacketBuilder;
use serde_json::Value;

use crate::audit::{class, generate, policy, share};
use crate::util::{run, run_json};

/// One flow of the synthetic capture: (proto, src, sport, dst, dport,
/// payload bytes).
type Flow = (&'static str, [u8; 4], u16, [u8; 4], u16, usize);

/// 307 violating flows in five (class, place) groups, one packet each,
/// under `dpm.toml` (no NIC names: judged by address):
/// 40 × dpm on primary (1054 B each), 250 × client on unknown (142 B),
/// 10 × client on backup (242 B), 5 × dns on backup (62 B),
/// 2 × dpm on unknown (64 B).
fn many_flows() -> Vec<Flow> {
    let mut flows: Vec<Flow> = Vec::new();
    for i in 0..40 {
        flows.push((
            "tcp",
            [10, 10, 12, 89],
            50_000 + i,
            [10, 10, 12, 90],
            5719,
            1000,
        ));
    }
    for i in 0..250 {
        let src = [203, 0, 113, 1 + i as u8];
        flows.push(("udp", src, 40_000, [198, 51, 100, 1], 9999, 100));
    }
    for i in 0..10 {
        flows.push((
            "udp",
            [192, 168, 1, 50],
            41_000 + i,
            [192, 168, 1, 60],
            9999,
            200,
        ));
    }
    for i in 0..5 {
        flows.push((
            "udp",
            [192, 168, 1, 50],
            42_000 + i,
            [192, 168, 1, 10],
            53,
            20,
        ));
    }
    for i in 0..2 {
        flows.push((
            "tcp",
            [203, 0, 113, 7],
            43_000 + i,
            [198, 51, 100, 2],
            5719,
            10,
        ));
    }
    flows
}

/// The summary those flows must give (groups by bytes, three named).
pub(crate) const MANY_SUMMARY: &str = "307 violations (40 × dpm on primary, 250 × client on unknown, 10 × client on backup, 7 more in 2 other places)";

/// Writes the capture of [`many_flows`] as classic pcap (Ethernet), one
/// frame a millisecond from 2023-11-14T22:13:20Z.
pub(crate) fn many_violations(dir: &Path) -> PathBuf {
    let mut file = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, 1] {
        file.extend_from_slice(&v.to_le_bytes());
    }
    // The header's version is two u16s (2, 4): rewrite them in order.
    file[4..8].copy_from_slice(&[2, 0, 4, 0]);
    for (i, (proto, src, sport, dst, dport, len)) in many_flows().into_iter().enumerate() {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(src, dst, 64);
        let payload = vec![0u8; len];
        let mut frame = Vec::new();
        match proto {
            "tcp" => b
                .tcp(sport, dport, 1, 64_240)
                .syn()
                .write(&mut frame, &payload),
            _ => b.udp(sport, dport).write(&mut frame, &payload),
        }
        .unwrap();
        let usec = i as u32 * 1000;
        for v in [1_700_000_000 + usec / 1_000_000, usec % 1_000_000] {
            file.extend_from_slice(&v.to_le_bytes());
        }
        for _ in 0..2 {
            file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        }
        file.extend_from_slice(&frame);
    }
    let path = dir.join("many_violations.pcap");
    std::fs::write(&path, file).unwrap();
    path
}

#[test]
fn many_violating_flows_make_a_short_headline_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let file = many_violations(dir.path());
    let p = policy("dpm.toml");
    let args = ["audit", "--policy", p.as_str(), file.to_str().unwrap()];
    let doc = run_json(&args, 1);
    assert_eq!(doc["violations"].as_array().unwrap().len(), 307);
    assert_eq!(doc["summary"], MANY_SUMMARY);
    let text = run(&args);
    let text = String::from_utf8(text.stdout).unwrap();
    assert_eq!(text.lines().next(), Some(&*format!("FAIL: {MANY_SUMMARY}")));
    let html = dir.path().join("r.html");
    let out = run(&[
        &args[..],
        &["--format", "html", "-o", html.to_str().unwrap()],
    ]
    .concat());
    assert_eq!(out.status.code(), Some(1));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains(&format!(
            "<span id=\"verdict-word\">FAIL</span> <span id=\"verdict-summary\">{MANY_SUMMARY}</span>"
        )),
        "{page}"
    );
}

#[test]
fn pass_and_inconclusive_summaries_match_the_text_headline() {
    for (scenario, policy_file, code, summary) in [
        (
            "dpm_backup_lan",
            "dpm.toml",
            0,
            "every class stayed on its allowed networks",
        ),
        (
            "dpm_fallback",
            "dpm-fallback.toml",
            0,
            "no violation, 1 warning",
        ),
        (
            "empty",
            "dpm.toml",
            3,
            "no packet was read: nothing to verify",
        ),
    ] {
        let (_d, t) = generate(scenario);
        let p = policy(policy_file);
        let args = ["audit", "-p", p.as_str(), t.file.to_str().unwrap()];
        let doc = run_json(&args, code);
        assert_eq!(doc["summary"], summary, "{scenario}");
        let word = doc["verdict"].as_str().unwrap().to_uppercase();
        let text = String::from_utf8(run(&args).stdout).unwrap();
        assert!(text.starts_with(&format!("{word}: {summary}\n")), "{text}");
    }
}

/// Bytes per second of the truth flows matching `keep`.
fn truth_bins(
    t: &fixgen::CaptureTruth,
    keep: impl Fn(&fixgen::FlowTruth) -> bool,
) -> BTreeMap<i64, u64> {
    let mut all = BTreeMap::new();
    for f in t.flows.iter().filter(|f| keep(f)) {
        for (sec, bytes) in &f.bins {
            *all.entry(*sec).or_default() += bytes;
        }
    }
    all
}

/// The series as (bin start in Unix seconds, bytes) of its active bins,
/// after checking its shape: `bps` is bytes × 8 per second of bin, and the
/// arrays run from `start` over every bin.
fn active_seconds(s: &Value) -> BTreeMap<i64, u64> {
    let bin_ms = s["bin_ms"].as_i64().unwrap();
    assert_eq!(bin_ms % 1000, 0, "{s}");
    let start: i64 = time_s(s["start"].as_str().unwrap());
    let bytes = s["bytes"].as_array().unwrap();
    let bps = s["bps"].as_array().unwrap();
    assert_eq!(bytes.len(), bps.len());
    let mut out = BTreeMap::new();
    for (i, (b, r)) in bytes.iter().zip(bps).enumerate() {
        let b = b.as_u64().unwrap();
        assert_eq!(r.as_u64().unwrap(), b * 8 * 1000 / bin_ms as u64);
        if b > 0 {
            out.insert(start + i as i64 * bin_ms / 1000, b);
        }
    }
    assert!(bytes.first().is_some_and(|b| b.as_u64() > Some(0)), "{s}");
    assert!(bytes.last().is_some_and(|b| b.as_u64() > Some(0)), "{s}");
    out
}

/// Unix seconds of a whole-second RFC 3339 UTC time.
fn time_s(t: &str) -> i64 {
    let parsed = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{t}: {e}"));
    assert_eq!(parsed.nanosecond(), 0, "{t}");
    parsed.unix_timestamp()
}

#[test]
fn series_give_every_bin_of_each_class_network_nic_and_violation() {
    let (_d, t) = generate("dpm_fallback");
    let p = policy("dpm-fallback.toml");
    let file = t.file.to_str().unwrap();
    let plain = run_json(&["audit", "-p", &p, file], 0);
    assert!(class(&plain, "dpm").get("series").is_none());
    let doc = run_json(&["audit", "-p", &p, "--series", file], 0);
    let dpm = class(&doc, "dpm");
    assert_eq!(
        active_seconds(&dpm["series"]),
        truth_bins(&t, |f| f.class == "dpm")
    );
    for (net, nic) in [("backup", "eth1"), ("primary", "eth0")] {
        let want = truth_bins(&t, |f| f.class == "dpm" && f.network == net);
        assert_eq!(active_seconds(&share(dpm, "networks", net)["series"]), want);
        assert_eq!(
            active_seconds(&share(dpm, "interfaces", nic)["series"]),
            want
        );
        // The percentiles are taken over exactly these bins.
        let s = &share(dpm, "networks", net)["series"];
        let max = s["bps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_u64)
            .max();
        assert_eq!(
            max,
            share(dpm, "networks", net)["throughput_bps"]["max"].as_u64()
        );
        assert_eq!(
            s["bytes"].as_array().unwrap().len() as u64,
            share(dpm, "networks", net)["throughput_bps"]["bins"]
                .as_u64()
                .unwrap()
        );
    }
    // Apart from the series, the document is the same.
    let mut stripped = doc.clone();
    strip_series(&mut stripped);
    assert_eq!(stripped, plain);
}

fn strip_series(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.remove("series");
            o.values_mut().for_each(strip_series);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_series),
        _ => {}
    }
}

#[test]
fn a_violation_carries_its_flows_own_series() {
    let (_d, t) = generate("dpm_primary_lan");
    let p = policy("dpm.toml");
    let file = t.file.to_str().unwrap();
    let doc = run_json(&["audit", "-p", &p, "--series", file], 1);
    let violations = doc["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 2);
    for truth in t.flows.iter().filter(|f| f.class == "dpm") {
        let v = crate::audit::violation_for(&doc, truth);
        let want: BTreeMap<i64, u64> = truth.bins.iter().copied().collect();
        assert_eq!(active_seconds(&v["series"]), want, "{truth:?}");
    }
    // 10 ms bins: the 5-second bulk flow spans 500 of them, more than a
    // flow keeps (64): its points merge in pairs, 8 bins (80 ms) a point.
    let fine = run_json(&["audit", "-p", &p, "--series", "--bin", "10ms", file], 1);
    let bulk = t.flows.iter().find(|f| f.dport == 5719).unwrap();
    let v = crate::audit::violation_for(&fine, bulk);
    let s = &v["series"];
    assert_eq!(s["bin_ms"], 80);
    let bytes: Vec<u64> = s["bytes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap())
        .collect();
    assert!(bytes.len() <= 64, "{}", bytes.len());
    assert_eq!(bytes.iter().sum::<u64>(), bulk.bytes);
    // The class series keeps every 10 ms bin.
    assert_eq!(class(&fine, "dpm")["series"]["bin_ms"], 10);
}

/// A classic pcap (µs) of `(unix seconds, frame)` records.
fn pcap_of(frames: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, 1] {
        out.extend(v.to_le_bytes());
    }
    for (secs, f) in frames {
        for v in [*secs, 0, f.len() as u32, f.len() as u32] {
            out.extend(v.to_le_bytes());
        }
        out.extend(f);
    }
    out
}

#[test]
fn a_capture_spanning_years_writes_its_series_sparse() {
    // One UDP packet, then another of the same flow three years (and 7 s)
    // later: 94,608,008 one-second bins from the first to the last.
    let udp = |len: usize| {
        let mut f = Vec::new();
        PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([10, 10, 12, 90], [10, 10, 12, 89], 64)
            .udp(50_000, 53)
            .write(&mut f, &vec![0; len])
            .unwrap();
        f
    };
    let (t0, span) = (1_600_000_000u32, 3 * 365 * 86_400 + 7);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("years.pcap");
    std::fs::write(&file, pcap_of(&[(t0, udp(100)), (t0 + span, udp(200))])).unwrap();
    let doc = run_json(
        &[
            "audit",
            "--policy",
            &policy("dpm.toml"),
            "--series",
            file.to_str().unwrap(),
        ],
        0,
    );
    let s = &doc["classes"][0]["series"];
    assert_eq!(s["bins"], u64::from(span) + 1, "{s}");
    assert_eq!(s["start"], "2020-09-13T12:26:40Z");
    let active = serde_json::json!([[0, 142], [span, 242]]);
    assert_eq!(s["active"], active);
    assert!(s.get("bytes").is_none() && s.get("bps").is_none(), "{s}");
    // A series of a day or less stays dense.
    std::fs::write(&file, pcap_of(&[(t0, udp(100)), (t0 + 86_399, udp(200))])).unwrap();
    let doc = run_json(
        &[
            "audit",
            "--policy",
            &policy("dpm.toml"),
            "--series",
            file.to_str().unwrap(),
        ],
        0,
    );
    let s = &doc["classes"][0]["series"];
    assert_eq!(s["bytes"].as_array().unwrap().len(), 86_400);
    assert!(s.get("active").is_none(), "{s}");
}
