//! What the procedures expect, checked from the packets (fixgen's
//! bookkeeping, including every DNS answer it wrote): seed 000's name
//! resolution of the backup addresses and its fallback, seed 002's failover
//! with changed addresses (DNS and the retired subnet), with kept addresses
//! (VLANs), its own example, and no PASS about traffic never seen.

use fixgen::{CaptureTruth, DnsTruth, FlowTruth};
use serde_json::{json, Value};

use crate::audit::{assert_classes_match, class, generate, policy, share, violation_for};
use crate::conformance::epoch_to_rfc3339;
use crate::util::{run, run_json};

fn audit(policy_file: &str, t: &CaptureTruth, code: i32) -> Value {
    let p = policy(policy_file);
    run_json(&["audit", "--policy", &p, t.file.to_str().unwrap()], code)
}

fn time(ns: i64) -> String {
    epoch_to_rfc3339(&format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000))
}

/// The JSON a DNS violation of `d` must be: addresses with the network the
/// scenario's policy gives them, the rule and the reason.
fn dns_violation(d: &DnsTruth, nets: &[(&str, &str)], rule: usize, reason: &str) -> Value {
    let answers: Vec<Value> = d
        .records
        .iter()
        .filter(|r| r.1 == 1 || r.1 == 28)
        .map(|r| {
            let net = nets
                .iter()
                .find(|(prefix, _)| r.3.starts_with(prefix))
                .map_or("unknown", |(_, n)| n);
            json!({"address": r.3, "network": net, "ttl": r.2})
        })
        .collect();
    json!({
        "name": d.name,
        "qtype": if d.qtype == 28 { "AAAA" } else { "A" },
        "rcode": "NOERROR",
        "answers": answers,
        "server": d.server.to_string(),
        "client": d.client.to_string(),
        "time": time(d.time_ns),
        "capture": null,
        "rule": rule,
        "reason": reason,
    })
}

/// The violation as found in capture `t` (`capture` is its path as given).
fn with_capture(mut v: Value, t: &CaptureTruth) -> Value {
    v["capture"] = json!(t.file.to_str().unwrap());
    v
}

fn flow(t: &CaptureTruth, pred: impl Fn(&FlowTruth) -> bool) -> &FlowTruth {
    t.flows
        .iter()
        .find(|f| pred(f))
        .expect("a flow of the scenario")
}

#[test]
fn backup_name_resolution_right_passes() {
    let (_d, t) = generate("dpm_dns_ok");
    let doc = audit("dpm-dns.toml", &t, 0);
    assert_eq!(doc["verdict"], "pass");
    assert_classes_match(&doc, &t);
    assert_eq!(doc["dns_violations"], json!([]));
    assert_eq!(doc["warnings"], json!([]));
}

#[test]
fn backup_name_resolution_wrong_fails_with_the_dns_answer() {
    let (_d, t) = generate("dpm_dns_wrong");
    let doc = audit("dpm-dns.toml", &t, 1);
    assert_classes_match(&doc, &t);
    // The answer for ps.x.y.com has no backup address (dpm.x.y.com's has).
    let ps = t.dns.iter().find(|d| d.name == "ps.x.y.com").unwrap();
    let want = with_capture(
        dns_violation(
            ps,
            &[("10.10.12.", "primary"), ("192.168.1.", "backup")],
            1,
            "must_include: no address on backup (answered 10.10.12.90 (primary))",
        ),
        &t,
    );
    assert_eq!(doc["dns_violations"], json!([want]));
    // The DPM data on the primary network is a violation of its own.
    let dpm = flow(&t, |f| f.class == "dpm");
    assert_eq!(violation_for(&doc, dpm)["network"], "primary");
    assert_eq!(doc["violations"].as_array().unwrap().len(), 1);
    // The re-query that never got an answer is a warning naming it.
    let q = &t.dns_unanswered[0];
    assert_eq!(t.dns_unanswered.len(), 1);
    assert_eq!(
        doc["warnings"],
        json!([format!(
            "DNS rule 1: {} was queried by {} at {} (id 0x{:04x}) but never answered",
            q.name,
            q.client,
            time(q.time_ns),
            q.id
        )])
    );
    let out = run(&[
        "audit",
        "--policy",
        &policy("dpm-dns.toml"),
        t.file.to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("FAIL: 2 violations (dpm on primary, 1 DNS answer breaking a rule)\n"),
        "{text}"
    );
    assert!(text.contains("\nDNS violations:\n  ps.x.y.com A: dns (10.10.12.10) answered 10.10.12.90 (primary, TTL 1200 s) to dpm (10.10.12.89) at "), "{text}");
}

#[test]
fn an_empty_aaaa_answer_and_a_truncated_one_break_no_rule() {
    let (_d, t) = generate("dpm_dns_dual_stack");
    // What the capture holds: ps.x.y.com's AAAA answered with no address,
    // dpm.x.y.com's UDP answer truncated with none, then its TCP retry.
    let aaaa = t.dns.iter().find(|d| d.qtype == 28).unwrap();
    assert_eq!(
        (aaaa.name.as_str(), aaaa.rcode, aaaa.records.len()),
        ("ps.x.y.com", 0, 0)
    );
    let cut = t.dns.iter().find(|d| d.truncated).unwrap();
    assert_eq!(
        (cut.name.as_str(), cut.transport, cut.records.len()),
        ("dpm.x.y.com", "udp", 0)
    );
    let retry = t
        .dns
        .iter()
        .find(|d| d.name == "dpm.x.y.com" && !d.truncated)
        .unwrap();
    assert!(retry.transport == "tcp" && retry.time_ns > cut.time_ns);
    let doc = audit("dpm-dns.toml", &t, 0);
    assert_eq!(doc["verdict"], "pass");
    assert_classes_match(&doc, &t);
    assert_eq!(doc["dns_violations"], json!([]));
    // The truncated answer answered its query: no "never answered" warning.
    assert_eq!(doc["warnings"], json!([]));
}

#[test]
fn a_truncated_answer_with_no_retry_seen_is_a_warning() {
    let (_d, t) = generate("dpm_dns_truncated");
    // dpm.x.y.com's only answer is the truncated UDP one: no TCP retry.
    let dpm: Vec<&DnsTruth> = t.dns.iter().filter(|d| d.name == "dpm.x.y.com").collect();
    assert!(dpm.len() == 1 && dpm[0].truncated && dpm[0].transport == "udp");
    let cut = dpm[0];
    let doc = audit("dpm-dns.toml", &t, 0);
    assert_eq!(doc["verdict"], "pass");
    assert_classes_match(&doc, &t);
    assert_eq!(doc["dns_violations"], json!([]));
    assert_eq!(
        doc["warnings"],
        json!([format!(
            "DNS rule 1: dpm.x.y.com was answered truncated (TC=1) to {} at {} (id 0x{:04x}) and no full answer followed (its retry over TCP was not captured): its addresses were not checked",
            cut.client,
            time(cut.time_ns),
            cut.id
        )])
    );
    // The evidence of the DNS flow says the answer was cut.
    let flows = run_json(
        &[
            "audit",
            "--flows",
            "--policy",
            &policy("dpm-dns.toml"),
            t.file.to_str().unwrap(),
        ],
        0,
    );
    let answers: Vec<&Value> = flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["evidence"].as_array().unwrap())
        .filter(|e| e["kind"] == "dns-answer")
        .collect();
    // By transaction id: the flows are listed by size, not by time.
    let mut truncated: Vec<(u64, &str, bool)> = answers
        .iter()
        .map(|e| {
            let (id, q) = (e["id"].as_u64().unwrap(), e["query"].as_str().unwrap());
            (id, q, e["truncated"].as_bool().unwrap())
        })
        .collect();
    truncated.sort_unstable();
    let mut want: Vec<(u64, &str, bool)> = t
        .dns
        .iter()
        .map(|d| (u64::from(d.id), d.name.as_str(), d.truncated))
        .collect();
    want.sort_unstable();
    assert_eq!(truncated, want);
}

#[test]
fn a_dns_rule_names_a_name_never_queried() {
    // dpm_backup_lan looks up ps.x.y.com only.
    let (_d, t) = generate("dpm_backup_lan");
    let doc = audit("dpm-dns.toml", &t, 0);
    assert_eq!(
        doc["warnings"],
        json!(["DNS rule 1: dpm.x.y.com was never queried"])
    );
}

/// The fallback warning of a DPM fallback scenario, from its bookkeeping:
/// the last DNS answer before the primary flow that could hold an address
/// on the (IPv4) backup network, an A one not truncated, and the gap to it.
fn fallback_warning(t: &CaptureTruth, explanation: impl Fn(&DnsTruth, i64) -> String) -> String {
    let fb = flow(t, |f| f.class == "dpm" && f.network == "primary");
    let answer = t
        .dns
        .iter()
        .filter(|d| d.time_ns <= fb.first_seen_ns && d.qtype == 1 && !d.truncated)
        .max_by_key(|d| d.time_ns)
        .unwrap();
    let ms = (fb.first_seen_ns - answer.time_ns) / 1_000_000;
    format!(
        "dpm used fallback network primary (1 flow, {} bytes): {}",
        fb.bytes,
        explanation(answer, ms)
    )
}

#[test]
fn a_fallback_says_whether_name_resolution_caused_it() {
    let (_d, t) = generate("dpm_fallback");
    let doc = audit("dpm-fallback.toml", &t, 0);
    let want = fallback_warning(&t, |a, ms| {
        assert_eq!(a.records.len(), 1);
        format!(
            "ps.x.y.com resolved only to {} (primary) {ms} ms earlier: no backup address was returned, so the fallback follows name resolution",
            a.records[0].3
        )
    });
    assert_eq!(doc["warnings"], json!([want]));
    let (_d, t) = generate("dpm_fallback_despite_dns");
    let doc = audit("dpm-fallback.toml", &t, 0);
    let want = fallback_warning(&t, |a, ms| {
        let backup = a
            .records
            .iter()
            .find(|r| r.3.starts_with("192.168.1."))
            .unwrap();
        format!(
            "ps.x.y.com still resolved to {} on backup {ms} ms earlier: the fallback was not caused by name resolution",
            backup.3
        )
    });
    assert_eq!(doc["warnings"], json!([want]));
}

#[test]
fn an_empty_aaaa_answer_after_the_a_one_does_not_explain_a_fallback() {
    let (_d, t) = generate("dpm_fallback_despite_dns_aaaa");
    let fb = flow(&t, |f| f.class == "dpm" && f.network == "primary");
    // The last answer before the fallback is the AAAA one, without address.
    let last = t
        .dns
        .iter()
        .filter(|d| d.time_ns <= fb.first_seen_ns)
        .max_by_key(|d| d.time_ns)
        .unwrap();
    assert_eq!((last.qtype, last.records.len()), (28, 0));
    let doc = audit("dpm-fallback.toml", &t, 0);
    let want = fallback_warning(&t, |a, ms| {
        assert!(a.records.iter().any(|r| r.3 == "192.168.1.24"));
        format!(
            "ps.x.y.com still resolved to 192.168.1.24 on backup {ms} ms earlier: the fallback was not caused by name resolution"
        )
    });
    assert_eq!(doc["warnings"], json!([want]));
}

#[test]
fn a_failed_over_fallback_violation_carries_the_explanation() {
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
    let fb = flow(&t, |f| f.class == "dpm" && f.network == "primary");
    let v = violation_for(&doc, fb);
    assert!(
        v["explanation"]
            .as_str()
            .unwrap()
            .starts_with("ps.x.y.com resolved only to 10.10.12.90 (primary) "),
        "{v}"
    );
}

const FAILOVER_NETS: [(&str, &str); 3] = [
    ("192.168.1.", "primary_apps"),
    ("172.16.1.", "recovery"),
    ("10.30.0.", "third_site"),
];

#[test]
fn failover_with_changed_addresses_checks_dns_and_the_retired_subnet() {
    let (_d, t) = generate("failover_changed");
    let doc = audit("failover.toml", &t, 1);
    let by_name = |n: &str| t.dns.iter().find(|d| d.name == n).unwrap();
    let want = [
        with_capture(
            dns_violation(
                by_name("app2.apps.contoso.com"),
                &FAILOVER_NETS,
                1,
                "all_in: 192.168.1.11 (primary_apps) not on recovery",
            ),
            &t,
        ),
        with_capture(
            dns_violation(
                by_name("app3.apps.contoso.com"),
                &FAILOVER_NETS,
                1,
                "max_ttl: 172.16.1.12 has TTL 3600 s (limit 300 s)",
            ),
            &t,
        ),
    ];
    assert_eq!(doc["dns_violations"], json!(want));
    // app1 answers through a CNAME to a recovery address: fine; wpad and
    // portal are outside the rule's zone.
    let old = flow(&t, |f| f.dst.to_string() == "192.168.1.11");
    let v = violation_for(&doc, old);
    assert_eq!(
        v["reasons"],
        json!(["network primary_apps is retired: no traffic may touch it"])
    );
    assert_eq!(doc["violations"].as_array().unwrap().len(), 1);
    assert_eq!(
        share(class(&doc, "client"), "networks", "primary_apps")["status"],
        "violation"
    );
}

#[test]
fn the_seed_002_example_passes_only_on_the_recovery_side() {
    let (_d, t) = generate("failover_seed002");
    let doc = audit("failover.toml", &t, 0);
    assert_eq!(doc["verdict"], "pass");
    assert_eq!(doc["dns_violations"], json!([]));
    assert_eq!(doc["warnings"], json!([]));
    // Every app address the clients reached is on the recovery subnet.
    for f in t.flows.iter().filter(|f| f.class == "client") {
        assert!(f.dst.to_string().starts_with("172.16.1."), "{f:?}");
    }
    let (_d, t) = generate("failover_changed");
    assert_eq!(audit("failover.toml", &t, 1)["verdict"], "fail");
}

#[test]
fn failover_with_kept_addresses_is_judged_by_vlan() {
    let (_d, t) = generate("failover_kept_vlan");
    let doc = audit("failover-kept.toml", &t, 1);
    let wrong = flow(&t, |f| f.vlans == [110]);
    let v = violation_for(&doc, wrong);
    assert_eq!(v["vlan"], 110);
    assert_eq!(
        v["reasons"],
        json!(["seen on VLAN 110 (network primary_site), not allowed for client (allowed: apps, third_site, recovery_site)"])
    );
    assert_eq!(doc["violations"].as_array().unwrap().len(), 1);
    // Per-VLAN bytes and status of the class, from the bookkeeping.
    let client = class(&doc, "client");
    for (vlan, status) in [(110u16, "violation"), (120, "preferred")] {
        let (packets, bytes) = t
            .flows
            .iter()
            .filter(|f| f.vlans == [vlan])
            .fold((0, 0), |(p, b), f| (p + f.packets, b + f.bytes));
        let got = client["vlans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["vlan"] == vlan)
            .unwrap();
        assert_eq!(
            (
                got["packets"].as_u64(),
                got["bytes"].as_u64(),
                got["status"].as_str()
            ),
            (Some(packets), Some(bytes), Some(status))
        );
    }
    let out = run(&[
        "audit",
        "--policy",
        &policy("failover-kept.toml"),
        t.file.to_str().unwrap(),
    ]);
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("FAIL: 1 violation (client on VLAN 110)\n"));
}

#[test]
fn no_pass_about_traffic_never_seen() {
    // An empty capture is inconclusive.
    let (_d, t) = generate("empty");
    let doc = audit("dpm.toml", &t, 3);
    assert_eq!(doc["verdict"], "inconclusive");
    assert_eq!(
        doc["reasons"],
        json!(["no packet was read: nothing to verify"])
    );
    // A file that is no capture: ERROR, exit 2, never PASS.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "not a capture\n").unwrap();
    let out = run(&[
        "audit",
        "--policy",
        &policy("dpm.toml"),
        junk.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("ERROR: no capture could be read (1 argument failed)\n"),
        "{text}"
    );
    let doc = run_json(
        &[
            "audit",
            "--policy",
            &policy("dpm.toml"),
            junk.to_str().unwrap(),
        ],
        2,
    );
    assert_eq!(doc["verdict"], "error");
    // Traffic, but not the expected class: inconclusive.
    let (_d, t) = generate("cluster_good");
    let p = policy("cluster.toml");
    let doc = run_json(
        &[
            "audit",
            "--policy",
            &p,
            "--expect",
            "dpm",
            t.file.to_str().unwrap(),
        ],
        3,
    );
    assert_eq!(
        doc["reasons"],
        json!(["expected class dpm was not seen with at least 1048576 bytes (saw 0)"])
    );
    // The expected class with enough bytes: pass.
    let (_d, t) = generate("dpm_backup_lan");
    let dpm: u64 = t
        .flows
        .iter()
        .filter(|f| f.class == "dpm")
        .map(|f| f.bytes)
        .sum();
    let min = dpm.to_string();
    run_json(
        &[
            "audit",
            "--policy",
            &policy("dpm.toml"),
            "--expect",
            "dpm",
            "--min-bytes",
            &min,
            t.file.to_str().unwrap(),
        ],
        0,
    );
    let more = (dpm + 1).to_string();
    run_json(
        &[
            "audit",
            "--policy",
            &policy("dpm.toml"),
            "--expect",
            "dpm",
            "--min-bytes",
            &more,
            t.file.to_str().unwrap(),
        ],
        3,
    );
}
