//! `lanecheck audit` on the generated scenarios with the bundled policies.
//! Expected verdicts come from the scenario's purpose; every byte count and
//! percentile comes from fixgen's bookkeeping.

use std::collections::BTreeMap;

use fixgen::{CaptureTruth, FlowTruth};
use serde_json::Value;

use crate::util::{root, run, run_json};

pub(crate) fn generate(name: &str) -> (tempfile::TempDir, CaptureTruth) {
    let dir = tempfile::tempdir().unwrap();
    let truth = fixgen::write(name, dir.path()).unwrap();
    (dir, truth)
}

pub(crate) fn policy(name: &str) -> String {
    root()
        .join("policies")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

fn audit(policy_file: &str, truth: &CaptureTruth, code: i32, extra: &[&str]) -> Value {
    let p = policy(policy_file);
    let mut args = vec!["audit", "--policy", p.as_str()];
    args.extend_from_slice(extra);
    args.push(truth.file.to_str().unwrap());
    run_json(&args, code)
}

pub(crate) fn class<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == name)
        .unwrap_or_else(|| panic!("class {name} missing: {}", doc["classes"]))
}

pub(crate) fn share<'a>(c: &'a Value, kind: &str, name: &str) -> &'a Value {
    let key = if kind == "networks" {
        "network"
    } else {
        "interface"
    };
    c[kind]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s[key] == name)
        .unwrap_or_else(|| panic!("{kind} {name} missing in {c}"))
}

/// (packets, bytes) of the truth flows of `class`, optionally only on `network`.
pub(crate) fn truth_sum(t: &CaptureTruth, class: &str, network: Option<&str>) -> (u64, u64) {
    t.flows
        .iter()
        .filter(|f| f.class == class && network.is_none_or(|n| f.network == n))
        .fold((0, 0), |(p, b), f| (p + f.packets, b + f.bytes))
}

pub(crate) fn pb(v: &Value) -> (u64, u64) {
    (v["packets"].as_u64().unwrap(), v["bytes"].as_u64().unwrap())
}

/// Every class's totals equal the generator's, and (where address and
/// link network agree) every network and interface share too.
pub(crate) fn assert_classes_match(doc: &Value, t: &CaptureTruth) {
    let classes: BTreeMap<&str, ()> = t.flows.iter().map(|f| (f.class, ())).collect();
    assert_eq!(
        doc["classes"].as_array().unwrap().len(),
        classes.len(),
        "{}",
        doc["classes"]
    );
    for c in classes.keys() {
        let got = class(doc, c);
        assert_eq!(pb(got), truth_sum(t, c, None), "class {c}");
        let nets: BTreeMap<&str, ()> = t
            .flows
            .iter()
            .filter(|f| f.class == *c)
            .map(|f| (f.network, ()))
            .collect();
        for n in nets.keys() {
            assert_eq!(
                pb(share(got, "networks", n)),
                truth_sum(t, c, Some(n)),
                "class {c} network {n}"
            );
            // In these scenarios each interface is named after its network.
            let iface = match *n {
                "primary" => "eth0",
                "backup" => "eth1",
                other => other,
            };
            if t.interfaces.is_empty() {
                // Unnamed interfaces (classic pcap): judged by address only.
                assert_eq!(got["interfaces"], serde_json::json!([]));
            } else {
                assert_eq!(
                    pb(share(got, "interfaces", iface)),
                    truth_sum(t, c, Some(n)),
                    "class {c} iface {iface}"
                );
            }
        }
    }
}

pub(crate) fn violation_for<'a>(doc: &'a Value, f: &FlowTruth) -> &'a Value {
    doc["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["src"] == f.src.to_string() && v["sport"] == f.sport && v["dport"] == f.dport)
        .unwrap_or_else(|| panic!("no violation for {f:?}"))
}

#[test]
fn backup_on_the_backup_lan_passes() {
    let (_d, t) = generate("dpm_backup_lan");
    let doc = audit("dpm.toml", &t, 0, &[]);
    assert_eq!(doc["verdict"], "pass");
    assert_eq!(doc["violations"], serde_json::json!([]));
    assert_eq!(doc["warnings"], serde_json::json!([]));
    assert_classes_match(&doc, &t);
    assert_eq!(
        share(class(&doc, "dpm"), "networks", "backup")["status"],
        "preferred"
    );
}

#[test]
fn backup_on_the_primary_lan_fails_with_evidence() {
    let (_d, t) = generate("dpm_primary_lan");
    let doc = audit("dpm.toml", &t, 1, &[]);
    assert_eq!(doc["verdict"], "fail");
    assert_classes_match(&doc, &t);
    let dpm: Vec<&FlowTruth> = t.flows.iter().filter(|f| f.class == "dpm").collect();
    assert_eq!(doc["violations"].as_array().unwrap().len(), dpm.len());
    for f in dpm {
        let v = violation_for(&doc, f);
        assert_eq!(v["class"], "dpm");
        assert_eq!(v["network"], "primary");
        assert_eq!(v["interface"], "eth0");
        assert_eq!(v["dst"], f.dst.to_string());
        assert_eq!(
            (v["packets"].as_u64().unwrap(), v["bytes"].as_u64().unwrap()),
            (f.packets, f.bytes)
        );
        let reason = v["reason"].as_str().unwrap();
        assert!(
            reason.contains("network primary not allowed for dpm"),
            "{reason}"
        );
        assert!(
            reason.contains("seen on eth0 (network primary)"),
            "{reason}"
        );
        assert!(v["community_id"].as_str().unwrap().starts_with("1:"));
    }
    assert_eq!(
        share(class(&doc, "dpm"), "networks", "primary")["status"],
        "violation"
    );
    // DCOM control on the primary is allowed.
    assert_eq!(
        share(class(&doc, "dpm-control"), "networks", "primary")["status"],
        "preferred"
    );
}

#[test]
fn primary_as_second_backup_network_passes_with_a_fallback_warning() {
    let (_d, t) = generate("dpm_fallback");
    let doc = audit("dpm-fallback.toml", &t, 0, &[]);
    assert_eq!(doc["verdict"], "pass");
    assert_classes_match(&doc, &t);
    let dpm = class(&doc, "dpm");
    assert_eq!(share(dpm, "networks", "backup")["status"], "preferred");
    assert_eq!(share(dpm, "networks", "primary")["status"], "fallback");
    assert_eq!(share(dpm, "interfaces", "eth0")["status"], "fallback");
    let (_, fb_bytes) = truth_sum(&t, "dpm", Some("primary"));
    let warnings = crate::util::warnings(&doc);
    // The DNS answer just before the fallback (the second query, at +4 s)
    // returned only the primary address: the fallback follows name resolution.
    let fallback = t
        .flows
        .iter()
        .find(|f| f.class == "dpm" && f.network == "primary")
        .unwrap();
    let answer = t
        .flows
        .iter()
        .find(|f| f.class == "dns" && f.sport == 51002)
        .unwrap();
    let ms = (fallback.first_seen_ns - answer.last_seen_ns) / 1_000_000;
    assert_eq!(
        warnings,
        [format!(
            "dpm used fallback network primary (1 flow, {fb_bytes} bytes): ps.x.y.com resolved only to 10.10.12.90 (primary) {ms} ms earlier: no backup address was returned, so the fallback follows name resolution"
        )]
    );
}

#[test]
fn fallback_fails_when_the_policy_says_so() {
    let (d, t) = generate("dpm_fallback");
    let text = std::fs::read_to_string(policy("dpm-fallback.toml")).unwrap();
    let strict = d.path().join("strict.toml");
    std::fs::write(
        &strict,
        text.replace("on_fallback = \"warn\"", "on_fallback = \"fail\""),
    )
    .unwrap();
    let doc = run_json(
        &[
            "audit",
            "-p",
            strict.to_str().unwrap(),
            t.file.to_str().unwrap(),
        ],
        1,
    );
    let fallback = t
        .flows
        .iter()
        .find(|f| f.class == "dpm" && f.network == "primary")
        .unwrap();
    let v = violation_for(&doc, fallback);
    assert!(v["reason"]
        .as_str()
        .unwrap()
        .contains("on_fallback = \"fail\""));
    assert_eq!(doc["violations"].as_array().unwrap().len(), 1);
}

#[test]
fn backup_addresses_on_the_primary_nic_fail() {
    let (_d, t) = generate("dpm_backup_addr_on_primary_nic");
    let doc = audit("dpm.toml", &t, 1, &[]);
    let f = t.flows.iter().find(|f| f.class == "dpm").unwrap();
    let v = violation_for(&doc, f);
    // Right addresses (backup), wrong NIC (eth0 = primary).
    assert_eq!(v["network"], "backup");
    assert_eq!(v["interface"], "eth0");
    assert_eq!(
        v["reasons"],
        serde_json::json!([
            "seen on eth0 (network primary), not allowed for dpm (allowed: backup)"
        ])
    );
    let dpm = class(&doc, "dpm");
    assert_eq!(pb(share(dpm, "networks", "backup")), (f.packets, f.bytes));
    // The addresses' network is allowed: only the NIC broke the policy,
    // and only its row says so.
    assert_eq!(share(dpm, "networks", "backup")["status"], "preferred");
    assert_eq!(pb(share(dpm, "interfaces", "eth0")), (f.packets, f.bytes));
    assert_eq!(share(dpm, "interfaces", "eth0")["status"], "violation");
    assert_eq!(doc["violations"].as_array().unwrap().len(), 1);
}

#[test]
fn cluster_on_its_networks_passes() {
    let (_d, t) = generate("cluster_good");
    let doc = audit("cluster.toml", &t, 0, &[]);
    assert_eq!(doc["verdict"], "pass");
    assert_eq!(doc["warnings"], serde_json::json!([]));
    assert_classes_match(&doc, &t);
}

#[test]
fn csv_on_heartbeat_and_migration_on_host_access_fail() {
    let (_d, t) = generate("cluster_bad");
    let doc = audit("cluster.toml", &t, 1, &[]);
    assert_classes_match(&doc, &t);
    let bad: Vec<&FlowTruth> = t
        .flows
        .iter()
        .filter(|f| matches!(f.class, "smb-redirected" | "live-migration"))
        .collect();
    assert_eq!(bad.len(), 2);
    assert_eq!(doc["violations"].as_array().unwrap().len(), 2);
    for f in bad {
        let v = violation_for(&doc, f);
        assert_eq!(v["class"], f.class);
        assert_eq!(v["network"], f.network);
        assert_eq!(v["interface"], f.network);
        assert_eq!(v["bytes"], f.bytes);
    }
}

/// Nearest-rank percentile over the bins from first to last active, idle
/// bins included: the DESIGN definition, computed independently.
pub(crate) fn expected_percentiles(bins: &BTreeMap<i64, u64>, bin_s: u64) -> (u64, [u64; 4], u64) {
    let (first, last) = (*bins.keys().next().unwrap(), *bins.keys().last().unwrap());
    let mut bps: Vec<u64> = (first..=last)
        .map(|b| bins.get(&b).copied().unwrap_or(0) * 8 / bin_s)
        .collect();
    bps.sort_unstable();
    let n = bps.len();
    let rank = |q: f64| bps[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    (
        n as u64,
        [rank(0.5), rank(0.9), rank(0.95), rank(0.99)],
        *bps.last().unwrap(),
    )
}

pub(crate) fn assert_throughput(t: &Value, bins: &BTreeMap<i64, u64>) {
    let (n, ps, max) = expected_percentiles(bins, 1);
    assert_eq!(t["bin_ms"], 1000);
    assert_eq!(t["bins"], n);
    assert_eq!(t["max"], max);
    for (k, want) in ["p50", "p90", "p95", "p99"].iter().zip(ps) {
        let got = t[k].as_u64().unwrap();
        // HdrHistogram at 3 significant digits reports the highest value
        // equivalent to the true one: never below it, within 0.1% above.
        assert!(
            got >= want && got <= want + want / 1000 + 1,
            "{k}: got {got}, want {want} ({t})"
        );
    }
}

#[test]
fn throughput_percentiles_follow_the_generated_profile() {
    let (_d, t) = generate("dpm_fallback");
    let doc = audit("dpm-fallback.toml", &t, 0, &[]);
    let mut all: BTreeMap<i64, u64> = BTreeMap::new();
    let mut by_net: BTreeMap<&str, BTreeMap<i64, u64>> = BTreeMap::new();
    for f in t.flows.iter().filter(|f| f.class == "dpm") {
        for (sec, bytes) in &f.bins {
            *all.entry(*sec).or_default() += bytes;
            *by_net
                .entry(f.network)
                .or_default()
                .entry(*sec)
                .or_default() += bytes;
        }
    }
    // The profile has distinct rates and idle seconds inside the span.
    assert!(all.len() >= 5);
    let dpm = class(&doc, "dpm");
    assert_throughput(&dpm["throughput_bps"], &all);
    for (net, bins) in &by_net {
        assert_throughput(&share(dpm, "networks", net)["throughput_bps"], bins);
        let iface = if *net == "primary" { "eth0" } else { "eth1" };
        assert_throughput(&share(dpm, "interfaces", iface)["throughput_bps"], bins);
    }
}

#[test]
fn bin_length_is_a_flag() {
    let (_d, t) = generate("dpm_backup_lan");
    let doc = audit("dpm.toml", &t, 0, &["--bin", "500ms"]);
    let dpm: Vec<&FlowTruth> = t.flows.iter().filter(|f| f.class == "dpm").collect();
    let first = dpm.iter().map(|f| f.first_seen_ns).min().unwrap() / 500_000_000;
    let last = dpm.iter().map(|f| f.last_seen_ns).max().unwrap() / 500_000_000;
    let tp = &class(&doc, "dpm")["throughput_bps"];
    assert_eq!(tp["bin_ms"], 500);
    assert_eq!(tp["bins"], last - first + 1);
}

#[test]
fn json_report_has_every_design_field() {
    let (_d, t) = generate("dpm_primary_lan");
    let doc = audit("dpm.toml", &t, 1, &["--flows"]);
    assert_eq!(doc["schema"], 1);
    for k in [
        "source",
        "packets",
        "bytes",
        "truncated",
        "truncated_at",
        "undecoded",
        "drops",
        "interfaces",
    ] {
        assert!(doc["captures"][0].get(k).is_some(), "captures[].{k}");
    }
    for k in [
        "class",
        "packets",
        "bytes",
        "networks",
        "interfaces",
        "throughput_bps",
    ] {
        assert!(doc["classes"][0].get(k).is_some(), "classes[].{k}");
    }
    for k in ["bin_ms", "bins", "p50", "p90", "p95", "p99", "max"] {
        assert!(
            doc["classes"][0]["throughput_bps"].get(k).is_some(),
            "throughput_bps.{k}"
        );
    }
    for k in ["network", "bytes", "packets", "status"] {
        assert!(
            doc["classes"][0]["networks"][0].get(k).is_some(),
            "networks[].{k}"
        );
    }
    for k in [
        "class",
        "reason",
        "network",
        "interface",
        "proto",
        "src",
        "sport",
        "dst",
        "dport",
        "bytes",
        "packets",
        "first_seen",
        "last_seen",
        "community_id",
    ] {
        assert!(doc["violations"][0].get(k).is_some(), "violations[].{k}");
    }
    assert!(doc["warnings"].is_array());
    // --flows: every flow with class, reason, networks and status.
    let flows = doc["flows"].as_array().unwrap();
    assert_eq!(flows.len(), t.flows.len());
    for f in flows {
        let truth = t
            .flows
            .iter()
            .find(|x| {
                x.src.to_string() == f["src"] && x.sport == f["sport"] && x.dport == f["dport"]
            })
            .unwrap();
        assert_eq!(f["class"], truth.class, "{f}");
        assert_eq!(f["networks"], serde_json::json!([truth.network]));
        assert!(!f["reason"].as_str().unwrap().is_empty());
        let want = if truth.class == "dpm" {
            "violation"
        } else {
            "preferred"
        };
        assert_eq!(f["status"], want, "{f}");
    }
}

#[test]
fn several_captures_one_report_and_exit_codes() {
    let (d, good) = generate("dpm_backup_lan");
    let (_d2, bad) = generate("dpm_primary_lan");
    let junk = d.path().join("junk.pcap");
    std::fs::write(&junk, b"nope").unwrap();
    let p = policy("dpm.toml");
    // A violation wins over an unreadable argument.
    let doc = run_json(
        &[
            "audit",
            "-p",
            &p,
            good.file.to_str().unwrap(),
            bad.file.to_str().unwrap(),
            junk.to_str().unwrap(),
        ],
        1,
    );
    assert_eq!(doc["captures"].as_array().unwrap().len(), 3);
    let (gp, gb) = truth_sum(&good, "dpm", None);
    let (bp, bb) = truth_sum(&bad, "dpm", None);
    let dpm = class(&doc, "dpm");
    assert_eq!(pb(dpm), (gp + bp, gb + bb));
    assert_eq!(share(dpm, "networks", "backup")["status"], "preferred");
    assert_eq!(share(dpm, "networks", "primary")["status"], "violation");
    assert_eq!(doc["verdict"], "fail");
    // Without a violation, the unreadable argument makes it 2, and the
    // verdict is no pass: a directory, not read, neither.
    let dir = d.path().join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    for unread in [&junk, &dir] {
        let (g, u) = (good.file.to_str().unwrap(), unread.to_str().unwrap());
        let doc = run_json(&["audit", "-p", &p, g, u], 2);
        assert_eq!(doc["verdict"], "error");
        let why = doc["captures"][1]["error"].as_str().unwrap();
        assert_eq!(
            doc["summary"],
            format!("1 of 2 capture arguments could not be read ({why}): the others are reported")
        );
        assert_eq!(pb(class(&doc, "dpm")), truth_sum(&good, "dpm", None));
    }
    let doc = run_json(&["audit", "-p", &p, dir.to_str().unwrap()], 2);
    assert_eq!(
        doc["captures"][0]["error"],
        format!(
            "{}: cannot open: a directory, not a capture file",
            dir.display()
        )
    );
}

#[test]
fn a_capture_given_twice_is_refused_before_it_is_read() {
    // Its packets would count twice: an --expect short of bytes would pass.
    let (d, good) = generate("dpm_backup_lan");
    let p = policy("dpm.toml");
    let f = good.file.to_str().unwrap();
    let dotted = format!(
        "{}/../{}",
        d.path().display(),
        good.file
            .strip_prefix(d.path().parent().unwrap())
            .unwrap()
            .display()
    );
    let copy = d.path().join("copy.pcapng");
    std::fs::copy(&good.file, &copy).unwrap();
    let copy = copy.to_str().unwrap();
    for (twice, why) in [
        (f, format!("{f} and {f} are one file: give each capture once (its packets would count twice)")),
        (dotted.as_str(), format!("{f} and {dotted} are one file: give each capture once (its packets would count twice)")),
        (copy, format!("{copy} holds the same bytes as {f}: the same capture twice (its packets would count twice)")),
    ] {
        for cmd in [&["audit", "-p", &p][..], &["flows"][..]] {
            let out = run(&[cmd, &[f, twice]].concat());
            assert_eq!(out.status.code(), Some(2), "{cmd:?} {twice}");
            assert!(out.stdout.is_empty());
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(err.trim_end(), format!("lanecheck: {why}"));
        }
    }
}

#[test]
fn a_capture_of_no_ip_packet_is_inconclusive() {
    // The link type made one no decoder knows: every frame is read, none
    // is judged, so nothing was verified.
    let (d, good) = generate("vlan_dpm");
    let mut bytes = std::fs::read(&good.file).unwrap();
    assert_eq!(bytes[..4], 0xa1b2_c3d4u32.to_le_bytes(), "a classic pcap");
    bytes[20..24].copy_from_slice(&9999u32.to_le_bytes());
    let odd = d.path().join("odd-link.pcap");
    std::fs::write(&odd, bytes).unwrap();
    let doc = run_json(
        &["audit", "-p", &policy("dpm.toml"), odd.to_str().unwrap()],
        3,
    );
    assert_eq!(doc["verdict"], "inconclusive");
    let packets = good.packets;
    assert_eq!(doc["captures"][0]["packets"], packets);
    assert_eq!(
        doc["reasons"],
        serde_json::json!([format!("none of the {packets} packets read was an IP packet lanecheck could decode: nothing to verify (see each capture's undecoded and non-IP counts)")])
    );
}

#[test]
fn truncated_capture_is_a_warning_not_an_error() {
    let (_d, t) = generate("truncated");
    let doc = audit("dpm.toml", &t, 0, &[]);
    let at = t.truncated_at.unwrap();
    assert_eq!(doc["captures"][0]["truncated_at"], at);
    let w = crate::util::warnings(&doc);
    // A classic pcap names no interface: the policy's NIC keys judge nothing.
    assert_eq!(
        &w[..2],
        [
            "[interfaces] \"eth0\" matches no interface of any capture read: no frame was judged by it",
            "[interfaces] \"eth1\" matches no interface of any capture read: no frame was judged by it",
        ]
    );
    assert!(w[2].contains(&format!("truncated at byte {at}")), "{w:?}");
    assert_eq!(w.len(), 3, "{w:?}");
    assert_classes_match(&doc, &t);
}

#[test]
fn text_report_starts_with_the_verdict() {
    let (_d, t) = generate("dpm_primary_lan");
    let out = run(&["audit", "-p", &policy("dpm.toml"), t.file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    // Two flows of one (class, place): counted, named once; the JSON says
    // the same.
    assert!(
        text.starts_with("FAIL: 2 violations (2 × dpm on primary)\n"),
        "{text}"
    );
    let doc = audit("dpm.toml", &t, 1, &[]);
    assert_eq!(doc["summary"], "2 violations (2 × dpm on primary)");
    let f = t.flows.iter().find(|f| f.dport == 5719).unwrap();
    assert!(
        text.contains(&format!(
            "dpm ({}):{} → ps ({}):5719",
            f.src, f.sport, f.dst
        )),
        "{text}"
    );
    assert!(text.contains("why: network primary not allowed for dpm (allowed: backup)"));
    let (_d, t) = generate("dpm_backup_lan");
    let out = run(&["audit", "-p", &policy("dpm.toml"), t.file.to_str().unwrap()]);
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("PASS"));
}

#[test]
fn a_fallback_nic_is_a_warning_too() {
    // Backup addresses on eth0 (primary) with primary allowed as a fallback.
    let (_d, t) = generate("dpm_backup_addr_on_primary_nic");
    let doc = audit("dpm-fallback.toml", &t, 0, &[]);
    let f = t.flows.iter().find(|f| f.class == "dpm").unwrap();
    let dpm = class(&doc, "dpm");
    assert_eq!(share(dpm, "interfaces", "eth0")["status"], "fallback");
    assert_eq!(share(dpm, "networks", "backup")["status"], "preferred");
    // Name resolution still gave the backup address: a NIC fallback.
    let answer = t.flows.iter().find(|f| f.class == "dns").unwrap();
    let ms = (f.first_seen_ns - answer.last_seen_ns) / 1_000_000;
    assert_eq!(
        doc["warnings"],
        serde_json::json!([format!(
            "dpm used fallback network primary (1 flow, {} bytes): ps.x.y.com still resolved to 192.168.1.24 on backup {ms} ms earlier: the fallback was not caused by name resolution",
            f.bytes
        )])
    );
}

#[test]
fn a_closed_pipe_keeps_the_verdict() {
    // Every committed fixture: a report larger than the output buffer, so
    // the renderer itself (not only the final flush) meets the closed pipe.
    let mut files: Vec<String> = std::fs::read_dir(crate::util::root().join("fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".pcap") || p.ends_with(".pcapng"))
        .collect();
    files.sort();
    for format in ["text", "json", "html"] {
        let p = policy("dpm.toml");
        let mut args = vec!["audit", "-p", &p, "--flows", "--series", "--format", format];
        args.extend(files.iter().map(String::as_str));
        let out = crate::util::run_into_closed_pipe(&args);
        // The leak is proven whether or not anyone reads the report.
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{format}: {err}");
        assert!(err.is_empty(), "{format}: {err}");
    }
}

#[test]
fn a_bin_below_a_millisecond_is_refused() {
    let (_d, t) = generate("dpm_backup_lan");
    let out = run(&[
        "audit",
        "-p",
        &policy("dpm.toml"),
        "--bin",
        "100us",
        t.file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bin must be at least 1ms"));
}

#[test]
fn a_zero_idle_timeout_or_flow_cap_is_refused() {
    let (_d, t) = generate("dpm_backup_lan");
    let file = t.file.to_str().unwrap();
    let cases = [
        (
            "audit",
            "--idle-timeout",
            "0s",
            "--idle-timeout must be more than 0 s: every packet would start a flow of its own",
        ),
        (
            "audit",
            "--max-flows",
            "0",
            "--max-flows must be at least 1",
        ),
        (
            "verify",
            "--max-flows",
            "0",
            "--max-flows must be at least 1",
        ),
    ];
    for (job, flag, value, want) in cases {
        // verify stops before it opens a NIC or runs the command.
        let last = if job == "verify" {
            ["--", "true"].as_slice()
        } else {
            &[file]
        };
        let p = policy("dpm.toml");
        let out = run(&[&[job, "-p", p.as_str(), flag, value], last].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{job} {flag} {value}: {err}");
        assert!(err.contains(want), "{job} {flag} {value}: {err}");
    }
}

#[test]
fn a_report_that_does_not_fit_leaves_the_old_one_whole() {
    use crate::netns::root_or_skip;
    if !root_or_skip("a_report_that_does_not_fit_leaves_the_old_one_whole") {
        return;
    }
    // A 64 KiB file system, nearly full: the report cannot be written.
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(mnt)
        .status()
        .unwrap();
    assert!(mounted.success());
    let unmount = || {
        std::process::Command::new("umount")
            .arg(mnt)
            .status()
            .unwrap();
    };
    let report = mnt.join("r.json");
    std::fs::write(&report, b"the old report\n").unwrap();
    // Fill what is left (a write that does not fit fails, with what fit kept).
    let mut filler = std::fs::File::create(mnt.join("filler")).unwrap();
    while std::io::Write::write_all(&mut filler, &[0u8; 1024]).is_ok() {}
    drop(filler);
    let (_d, t) = generate("dpm_primary_lan");
    let p = policy("dpm.toml");
    let out = run(&[
        "audit",
        "-p",
        &p,
        "--format",
        "json",
        "--flows",
        "-o",
        report.to_str().unwrap(),
        t.file.to_str().unwrap(),
    ]);
    let old = std::fs::read(&report);
    let left: Vec<String> = std::fs::read_dir(mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    unmount();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "lanecheck: cannot write the report to {}: ",
            report.display()
        )) && err.contains("No space left on device"),
        "{err}"
    );
    assert_eq!(old.unwrap(), b"the old report\n");
    let mut left = left;
    left.sort();
    assert_eq!(left, ["filler", "r.json"]);
}

#[test]
fn a_skipped_packet_is_named_in_every_format() {
    // Packet block 100 claims more captured bytes than it holds: skipped,
    // with a warning the text report shows as JSON and HTML do.
    let (d, t) = generate("dpm_primary_lan");
    let mut bytes = std::fs::read(&t.file).unwrap();
    let hit = crate::util::packet_blocks(&bytes)[100];
    bytes[hit + 20..hit + 24].copy_from_slice(&60_000u32.to_le_bytes());
    let bad = d.path().join("bad.pcapng");
    std::fs::write(&bad, &bytes).unwrap();
    let (p, f) = (policy("dpm.toml"), bad.to_str().unwrap());
    let doc = run_json(&["audit", "-p", &p, f], 1);
    assert_eq!(doc["captures"][0]["packets"], t.packets - 1);
    let warning = doc["captures"][0]["warnings"][0].as_str().unwrap();
    assert!(
        warning.starts_with(&format!("packet block at byte {hit} claims 60000")),
        "{warning}"
    );
    let text = run(&["audit", "-p", &p, "--color", "never", f]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("\n    warning: {warning}\n")),
        "{text}"
    );
}

#[test]
fn a_report_through_a_symbolic_link_replaces_what_it_names() {
    // The report is renamed into place: onto the link's target, the link
    // kept, as writing through it did.
    let (d, t) = generate("dpm_backup_lan");
    let (target, link) = (d.path().join("report.txt"), d.path().join("latest.txt"));
    std::fs::write(&target, b"old").unwrap();
    std::os::unix::fs::symlink("report.txt", &link).unwrap();
    let out = run(&[
        "audit",
        "-p",
        &policy("dpm.toml"),
        "-o",
        link.to_str().unwrap(),
        t.file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let report = std::fs::read_to_string(&target).unwrap();
    assert!(report.starts_with("PASS: "), "{report}");
}

#[test]
fn a_policy_that_restricts_nothing_or_an_unrestricted_expectation_is_warned_of() {
    let (dir, t) = generate("dpm_backup_lan");
    let file = t.file.to_str().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let open = write("open.toml", "[networks]\nprimary = [\"10.10.12.0/24\"]\n");
    let doc = run_json(
        &[
            "audit",
            "--policy",
            &open,
            "--expect",
            "dpm",
            "--min-bytes",
            "1k",
            file,
        ],
        0,
    );
    assert_eq!(doc["verdict"], "pass");
    assert_eq!(
        doc["warnings"][0],
        "the policy restricts no class (no [classes.NAME] networks, no retired network, no [[dns]] rule): no traffic can break it"
    );
    // A DNS rule alone can break a policy: no such warning.
    let dns = write(
        "dns.toml",
        "[networks]\nprimary = [\"10.10.12.0/24\"]\n\n[[dns]]\nnames = [\"ps.x.y.com\"]\nmust_include = [\"primary\"]\n",
    );
    let doc = run_json(&["audit", "--policy", &dns, file], 0);
    assert_eq!(doc["warnings"], serde_json::json!([]), "{doc}");
    let some = write(
        "some.toml",
        "[networks]\nprimary = [\"10.10.12.0/24\"]\n\n[classes.dns]\nnetworks = [\"primary\"]\n",
    );
    let doc = run_json(
        &[
            "audit",
            "--policy",
            &some,
            "--expect",
            "dpm",
            "--min-bytes",
            "1k",
            file,
        ],
        0,
    );
    assert_eq!(
        doc["warnings"][0],
        "--expect dpm: the policy does not restrict dpm (no [classes.dpm] networks): it must be seen, on any network"
    );
    // A policy that restricts the expected class: no such warning.
    let doc = run_json(
        &[
            "audit",
            "--policy",
            &policy("dpm.toml"),
            "--expect",
            "dpm",
            "--min-bytes",
            "1k",
            file,
        ],
        0,
    );
    assert_eq!(doc["warnings"], serde_json::json!([]));
}

#[test]
fn one_conversation_in_two_captures_is_warned_of() {
    // The same DPM transfer captured at two places: its SYNs are in both.
    let (dir, t) = generate("dpm_backup_lan");
    let again = dir.path().join("other-host.pcapng");
    crate::util::retimed_copy(&t.file, &again, 1);
    let (a, b) = (t.file.to_str().unwrap(), again.to_str().unwrap());
    let doc = run_json(&["audit", "--policy", &policy("dpm.toml"), a, b], 0);
    // Each TCP connection of the bookkeeping opened with one SYN.
    let mut by_class: BTreeMap<&str, u64> = BTreeMap::new();
    for f in t.flows.iter().filter(|f| f.proto == "tcp") {
        *by_class.entry(f.class).or_insert(0) += 1;
    }
    let mut want: Vec<String> = by_class
        .iter()
        .map(|(class, n)| {
            format!(
                "{class}: {n} TCP connection{} captured twice, in {a} and again in {b} (the same SYN): each capture's packets and bytes are counted, so {class} totals count {} twice; audit the captures of one vantage point together, and the others apart",
                if *n == 1 { " was" } else { "s were" },
                if *n == 1 { "it" } else { "them" }
            )
        })
        .collect();
    let mut got: Vec<String> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // Each class's twice_bytes: its TCP flows' bytes, counted again from
    // the second capture.
    let mut twice: BTreeMap<&str, u64> = BTreeMap::new();
    for f in t.flows.iter().filter(|f| f.proto == "tcp") {
        *twice.entry(f.class).or_insert(0) += f.bytes;
    }
    for c in doc["classes"].as_array().unwrap() {
        let name = c["class"].as_str().unwrap();
        let want = twice.get(name).copied().unwrap_or(0);
        assert_eq!(c["twice_bytes"], want, "{name}");
    }
    // --min-bytes reached only by counting them: inconclusive.
    let dpm = twice["dpm"];
    let all: u64 = t
        .flows
        .iter()
        .filter(|f| f.class == "dpm")
        .map(|f| f.bytes)
        .sum();
    let min = (all + dpm / 2).to_string();
    let doc = run_json(
        &[
            "audit",
            "--policy",
            &policy("dpm.toml"),
            "--expect",
            "dpm",
            "--min-bytes",
            &min,
            a,
            b,
        ],
        3,
    );
    let reason = format!(
        "expected class dpm reached {min} bytes only counting {dpm} bytes of TCP connections captured twice (their SYN was in an earlier capture; saw {}, certain {all})",
        all + dpm
    );
    assert_eq!(doc["reasons"], serde_json::json!([reason]));
    // One capture alone: no such warning.
    let doc = run_json(&["audit", "--policy", &policy("dpm.toml"), a], 0);
    assert_eq!(doc["warnings"], serde_json::json!([]));
}
