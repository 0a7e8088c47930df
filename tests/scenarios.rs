//! The evidence scenarios (fixgen's bookkeeping): DPM control on a port
//! learned from a DCOM activation, SMB between cluster nodes told apart by
//! its tree connects, an evidence-keyed rule, CSV SMB between `fe80::`
//! addresses. Every class total, network and NIC share, and throughput
//! profile equals the generator's, after reclassification.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::audit::{
    assert_classes_match, assert_throughput, class, generate, policy, share, violation_for,
};
use crate::util::run_json;

/// A policy file in `dir`: a bundled one with `extra` appended, or
/// `replace`ments applied.
fn policy_with(dir: &std::path::Path, base: &str, edits: &[(&str, &str)], extra: &str) -> String {
    let mut text = std::fs::read_to_string(policy(base)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{base} has no {from:?}");
        text = text.replace(from, to);
    }
    text.push_str(extra);
    let p = dir.join("policy.toml");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn audit(policy: &str, file: &std::path::Path, code: i32) -> Value {
    run_json(&["audit", "--policy", policy, file.to_str().unwrap()], code)
}

/// Per-second bytes of the truth flows of `class`.
fn bins_of(t: &fixgen::CaptureTruth, class: &str) -> BTreeMap<i64, u64> {
    let mut all = BTreeMap::new();
    for f in t.flows.iter().filter(|f| f.class == class) {
        for (sec, bytes) in &f.bins {
            *all.entry(*sec).or_default() += bytes;
        }
    }
    all
}

#[test]
fn dpm_control_on_a_learned_dcom_port_on_the_backup_network_violates() {
    let (_d, t) = generate("dpm_dcom_learned");
    let p = policy("dpm.toml");
    let doc = audit(&p, &t.file, 1);
    assert_classes_match(&doc, &t);
    // (b): DCE/RPC from the DPM server's backup address to the port the
    // activation reply announced, on the backup network.
    let b = t
        .flows
        .iter()
        .find(|f| f.dport == 49750 && f.class == "dpm-control")
        .unwrap();
    let v = violation_for(&doc, b);
    assert_eq!(
        (v["class"].as_str(), v["network"].as_str()),
        (Some("dpm-control"), Some("backup"))
    );
    let why = v["class_reason"].as_str().unwrap();
    assert!(
        why.starts_with("tcp/49750 with DPM server 192.168.1.23 (DCOM control): port learned from a DCOM activation/OXID reply by 10.10.12.90 at "),
        "{why}"
    );
    assert!(v["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "rpc-bind"));
    // (c): the same port from a host that is no DPM server is not DPM control.
    let c = t.flows.iter().find(|f| f.sport == 49770).unwrap();
    assert_eq!(c.class, "client");
    let v = violation_for(&doc, c);
    assert_eq!(
        (v["class"].as_str(), v["class_reason"].as_str()),
        (Some("client"), Some("no other rule matched"))
    );
    // (f): the endpoint-mapper's port on the primary network is allowed.
    let f = t.flows.iter().find(|f| f.dport == 49755).unwrap();
    assert_eq!(f.class, "dpm-control");
    assert_eq!(
        share(class(&doc, "dpm-control"), "networks", "primary")["status"],
        "preferred"
    );
    assert_eq!(doc["violations"].as_array().unwrap().len(), 2);
    let learned = doc["learned_endpoints"].as_array().unwrap();
    let with_port: Vec<(&str, u64)> = learned
        .iter()
        .filter_map(|e| Some((e["server"].as_str()?, e["port"].as_u64()?)))
        .collect();
    assert_eq!(
        with_port,
        [
            ("10.10.12.90", 49750),
            ("10.10.12.90", 49750),
            ("192.168.1.24", 49750),
            ("10.10.12.90", 49755)
        ]
    );
}

#[test]
fn smb_between_nodes_is_told_apart_by_its_tree_connects() {
    let (d, t) = generate("cluster_smb_shares");
    let p = cluster_with_clients_on_csv(d.path(), LIVE_MIGRATION_RULE);
    let doc = audit(&p, &t.file, 0);
    assert_eq!(doc["verdict"], "pass");
    assert_classes_match(&doc, &t);
    for c in ["client", "smb-redirected", "smb-live-migration"] {
        assert_throughput(&class(&doc, c)["throughput_bps"], &bins_of(&t, c));
    }
    let reasons = reasons_by_port(&p, &t);
    let expect = [
        (49911, "tree connect \\\\CLUSTER\\ClusterStorage$ between cluster nodes: ClusterStorage$ is an admin share for management copies, not redirected I/O (was tcp/445 between cluster nodes (CSV redirected I/O))"),
        (49912, "tcp/445 between cluster nodes (CSV redirected I/O), tree connect \\\\NODE1\\7c1d2f3e-5d4b-4a1a-9d2c-0f1e2d3c4b5a-1073741824$"),
        (49920, "tcp/445 between cluster nodes (CSV redirected I/O) by roles; captured mid-stream: its data uses tree 0x0000000d of session 0x000030000000000d, whose tree connect was not seen"),
        (50011, "rule 1: tcp port 445 smb_share VMMigration* (smb-live-migration), tree connect \\\\NODE3\\VMMigration$"),
    ];
    for (port, why) in expect {
        assert_eq!(reasons[&port], why);
    }
}

/// The rule that pins `cluster_smb_shares`' SMB live migration (c).
pub(crate) const LIVE_MIGRATION_RULE: &str = "\n[[rules]]\nclass = \"smb-live-migration\"\nproto = \"tcp\"\nports = [445]\nsmb_share = \"VMMigration*\"\nnetworks = [\"lm\"]\n";

/// cluster.toml with client traffic allowed on csv too (management copies
/// between nodes go there), and `extra` appended.
pub(crate) fn cluster_with_clients_on_csv(dir: &std::path::Path, extra: &str) -> String {
    policy_with(
        dir,
        "cluster.toml",
        &[(
            "[classes.client]\nnetworks = [\"hostaccess\"]",
            "[classes.client]\nnetworks = [\"hostaccess\", \"csv\"]\non_fallback = \"allow\"",
        )],
        extra,
    )
}

/// The reason of each flow of an audit with `--flows`, by client port.
fn reasons_by_port(p: &str, t: &fixgen::CaptureTruth) -> BTreeMap<u64, String> {
    let with_flows = run_json(
        &["audit", "--policy", p, "--flows", t.file.to_str().unwrap()],
        0,
    );
    with_flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["sport"].as_u64().unwrap(),
                f["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn an_smb_session_is_its_servers_and_every_channel_of_it_takes_its_tree_connect() {
    let (d, t) = generate("cluster_smb_sessions");
    let p = cluster_with_clients_on_csv(d.path(), "");
    let doc = audit(&p, &t.file, 0);
    assert_eq!(doc["verdict"], "pass");
    assert_classes_match(&doc, &t);
    let copy = "tree connect \\\\CLUSTER\\ClusterStorage$ between cluster nodes: ClusterStorage$ is an admin share for management copies, not redirected I/O (was tcp/445 between cluster nodes (CSV redirected I/O))";
    let expect = [
        (50001, "no other rule matched"),
        // The same session id, at another server: node3's path is not node1's.
        (
            50002,
            "tcp/445 between cluster nodes (CSV redirected I/O) by roles; no tree connect seen",
        ),
        (50003, copy),
        // The second channel, to another address of the same server.
        (50004, copy),
    ];
    let reasons = reasons_by_port(&p, &t);
    for (port, why) in expect {
        assert_eq!(reasons[&port], why, "port {port}");
    }
}

#[test]
fn an_icmp_error_takes_the_class_of_the_flow_it_quotes() {
    let (_d, t) = generate("dpm_icmp_errors");
    let doc = audit(&policy("dpm.toml"), &t.file, 1);
    assert_classes_match(&doc, &t);
    // The one violation: the router's error about DPM over the primary network.
    let violations = doc["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1, "{violations:?}");
    let v = &violations[0];
    assert_eq!(
        (
            v["class"].as_str(),
            v["network"].as_str(),
            v["src"].as_str(),
            v["bytes"].as_u64()
        ),
        (Some("dpm"), Some("primary"), Some("10.10.12.1"), Some(70))
    );
    let flows = run_json(
        &[
            "audit",
            "--policy",
            &policy("dpm.toml"),
            "--flows",
            t.file.to_str().unwrap(),
        ],
        1,
    );
    let reasons: Vec<(&str, &str)> = flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["proto"] == "icmp")
        .map(|f| (f["src"].as_str().unwrap(), f["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("192.168.1.24", "ICMP error about tcp 192.168.1.23:50800 → 192.168.1.24:5719: tcp/5719 (DPM protection agent)"),
            ("10.10.12.1", "ICMP error about tcp 10.10.12.89:50900 → 10.10.12.90:5719: tcp/5719 (DPM protection agent)"),
            ("10.10.12.10", "ICMP error about udp 10.10.12.89:53001 → 10.10.12.10:53: udp/53 (DNS)"),
        ]
    );
}

#[test]
fn a_reused_port_after_a_closed_connection_is_a_new_flow_with_its_own_class() {
    let (d, t) = generate("cluster_port_reuse");
    let p = cluster_with_clients_on_csv(d.path(), "");
    let doc = audit(&p, &t.file, 0);
    assert_classes_match(&doc, &t);
    let flows = run_json(
        &["audit", "--policy", &p, "--flows", t.file.to_str().unwrap()],
        0,
    );
    let mut got: Vec<(String, u64, u64)> = flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["class"].as_str().unwrap().to_string(),
                f["packets"].as_u64().unwrap(),
                f["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut want: Vec<(String, u64, u64)> = t
        .flows
        .iter()
        .map(|f| (f.class.to_string(), f.packets, f.bytes))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn csv_smb_between_link_local_node_addresses_on_the_wrong_nic_violates() {
    let (d, t) = generate("cluster_fe80");
    let p = policy_with(
        d.path(),
        "cluster.toml",
        &[
            ("\"172.16.40.11\"]", "\"172.16.40.11\", \"fe80::11\"]"),
            ("\"172.16.40.12\"]", "\"172.16.40.12\", \"fe80::12\"]"),
            ("\"172.16.40.13\"]", "\"172.16.40.13\", \"fe80::13\"]"),
        ],
        "",
    );
    let doc = audit(&p, &t.file, 1);
    assert_classes_match(&doc, &t);
    let wrong = t
        .flows
        .iter()
        .find(|f| f.class == "smb-redirected" && f.interfaces == ["hostaccess"])
        .unwrap();
    let v = violation_for(&doc, wrong);
    assert_eq!(
        (v["network"].as_str(), v["interface"].as_str()),
        (Some("hostaccess"), Some("hostaccess"))
    );
    assert_eq!(doc["violations"].as_array().unwrap().len(), 1);
    let ll = class(&doc, "link-local");
    assert_eq!(share(ll, "networks", "csv")["status"], "preferred");
}

#[test]
fn text_report_names_the_deciding_evidence() {
    let (_d, t) = generate("dpm_dcom_learned");
    let p = policy("dpm.toml");
    let out = crate::util::run(&["audit", "--policy", &p, t.file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("    class: tcp/49750 with DPM server 192.168.1.23 (DCOM control): port learned from a DCOM activation/OXID reply by 10.10.12.90 at "),
        "{text}"
    );
    assert!(
        text.contains("RPC endpoints learned from replies:\n  10.10.12.90 tcp/49750 (PS[49750]): dcom reply by 10.10.12.90 at "),
        "{text}"
    );
}
