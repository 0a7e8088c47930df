//! Metrics tied at the lowest: the metric does not say which network CSV
//! uses, so every tied network is allowed (the review's CSV on the second
//! tied network failing under 2008 R2).

use super::*;

/// cluster_rows with LM Cluster set to CSV Cluster's metric (800) and
/// listed before it, as an export may list them.
fn tied_rows() -> Vec<Row> {
    let mut rows = cluster_rows();
    let lm = rows.iter().position(|r| r.name == "LM Cluster").unwrap();
    let mut r = rows.remove(lm);
    r.metric = 800;
    rows.insert(0, r);
    rows
}

#[test]
fn csv_may_use_every_network_tied_at_the_lowest_metric() {
    let dir = dir_with(&[
        ("Get-ClusterNetwork.json", json(&tied_rows()).as_bytes()),
        (
            "Get-ClusterNetworkInterface.json",
            cluster_interfaces().as_bytes(),
        ),
        (
            "lanecheck-derive.toml",
            b"os = \"2008r2\"\nallow = [\"metric-tie\"]\n",
        ),
    ]);
    let r = run_in(dir.path(), &["policy", "derive", "--derive-from", "."]);
    let p: toml::Table = toml::from_str(&r.out).unwrap();
    assert_eq!(nets(&p, "smb-redirected"), ["LM Cluster", "CSV Cluster"]);
    assert_eq!(
        class_block(&r.out, "smb-redirected"),
        "[classes.smb-redirected]
# CSV redirected I/O (SMB on 445 between cluster nodes) goes first to the
# lowest metric of the cluster-use networks (role 1 or 3; role 0 and 2 are
# never used; seed 001), and \"LM Cluster\" and \"CSV Cluster\" tie at 800 (lint
# metric-tie): the metric does not say which of them CSV uses.
# 2008 R2 (./lanecheck-derive.toml:1): \"the lowest Metric value designates the
# network for CSV\" (protocol-facts §2), and with a tie either of \"LM Cluster\"
# and \"CSV Cluster\" may be the one, so each is allowed, equally, and no other:
# CSV elsewhere means those networks failed or the metrics changed.
networks = [\"LM Cluster\", \"CSV Cluster\"]
on_fallback = \"allow\"
"
    );
    // The lint names the tie and what the policy does about it.
    let lint = run_in(
        dir.path(),
        &[
            "policy",
            "lint",
            "--cluster-networks",
            "Get-ClusterNetwork.json",
            "--os",
            "2008r2",
        ],
    );
    assert!(
        lint.out.starts_with("warning[metric-tie]: \"LM Cluster\" and \"CSV Cluster\" have the same metric 800: which one carries CSV or live migration is not defined by the metric
  rule: the lowest metric decides (seed 001); on a tie for the lowest the policy allows CSV on each tied network, and elsewhere keeps the export's order
  fix: Get-ClusterNetwork \"LM Cluster\" | %{$_.Metric=799}
"),
        "{}",
        lint.out
    );
    // cluster_good's CSV runs on CSV Cluster, the second tied network: it
    // passes there, preferred, with all its bytes.
    let (_g, truth) = crate::audit::generate("cluster_good");
    let csv: Vec<_> = truth
        .flows
        .iter()
        .filter(|f| f.class == "smb-redirected")
        .collect();
    assert_eq!(csv.len(), 1);
    let (code, doc) = audit_json(
        &["--derive-from", dir.path().to_str().unwrap()],
        &truth.file,
    );
    assert_eq!(
        (code, doc["violations"].clone()),
        (0, serde_json::json!([]))
    );
    let class = crate::audit::class(&doc, "smb-redirected");
    let n = &class["networks"][0];
    assert_eq!(
        (&n["network"], &n["bytes"], &n["status"]),
        (
            &serde_json::json!("CSV Cluster"),
            &serde_json::json!(csv[0].bytes),
            &serde_json::json!("preferred")
        )
    );
    assert_eq!(class["networks"].as_array().unwrap().len(), 1);
}
