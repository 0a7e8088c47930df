//! A class whose rule chooses no network is written `networks = []` and
//! allowed nowhere: left out, it would be allowed anywhere (the review's
//! false PASS of live migration on the client network).

use fixgen::FlowTruth;

use super::*;

/// The audit's violations as (class, network, interface, bytes), and the
/// same computed from the fixture's bookkeeping for `flows`, with the
/// fixture's short network names as the cluster names them.
fn violations(doc: &Value, flows: &[&FlowTruth]) -> (Vec<String>, Vec<String>) {
    let long = |short: &str| match short {
        "lm" => "LM Cluster",
        "hostaccess" => "Host Access Cluster",
        other => panic!("no cluster name for {other}"),
    };
    let mut got: Vec<String> = doc["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            format!(
                "{} on {} ({}): {} bytes, {}",
                v["class"].as_str().unwrap(),
                v["network"].as_str().unwrap(),
                v["interface"].as_str().unwrap(),
                v["bytes"],
                v["reason"].as_str().unwrap()
            )
        })
        .collect();
    let mut want: Vec<String> = flows
        .iter()
        .map(|f| {
            format!(
                "{c} on {n} ({i}): {b} bytes, network {n} not allowed for {c} (allowed: none); seen on {i} (network {n}), not allowed for {c} (allowed: none)",
                c = f.class,
                n = long(f.network),
                i = f.network,
                b = f.bytes,
            )
        })
        .collect();
    got.sort();
    want.sort();
    (got, want)
}

#[test]
fn live_migration_excluded_from_every_network_is_allowed_nowhere() {
    let excluded = [
        "CSV Cluster",
        "LM Cluster",
        "Heartbeat Cluster",
        "Host Access Cluster",
    ]
    .map(id)
    .join(";");
    let lm = format!("{{\"Name\":\"MigrationExcludeNetworks\",\"Value\":\"{excluded}\"}}");
    let dir = dir_with(&[
        ("Get-ClusterNetwork.json", json(&cluster_rows()).as_bytes()),
        (
            "Get-ClusterNetworkInterface.json",
            cluster_interfaces().as_bytes(),
        ),
        ("live-migration.json", lm.as_bytes()),
    ]);
    let r = run_in(dir.path(), &["policy", "derive", "--derive-from", "."]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert_eq!(
        class_block(&r.out, "live-migration"),
        "[classes.live-migration]
# Live migration (TCP 6600) uses the cluster-use networks the live-migration
# settings (./live-migration.json) do not exclude, and
# MigrationExcludeNetworks excludes every one: \"CSV Cluster\", \"LM Cluster\",
# \"Heartbeat Cluster\" and \"Host Access Cluster\" (lint lm-no-network).
# No network: `networks = []` allows it nowhere, so every such flow is a
# violation (a class left out would be allowed anywhere).
networks = []
"
    );
    let lint = run_in(dir.path(), &["policy", "lint", "--derive-from", "."]);
    assert_eq!(
        (lint.code, lint.out.as_str()),
        (
            1,
            "warning[lm-no-network]: live migration has no network: MigrationExcludeNetworks excludes every cluster-use network (\"CSV Cluster\", \"LM Cluster\", \"Heartbeat Cluster\" and \"Host Access Cluster\"), so the policy allows it nowhere
  rule: live migration uses the cluster-use networks the Live Migration Settings leave checked (seed 001; protocol-facts §3)
  fix: in the Live Migration Settings check a cluster-only network, ideally one set aside for live migration (seed 001)
1 warning (silence one with --allow ID)
"
        )
    );
    let (_g, truth) = crate::audit::generate("cluster_good");
    let lm: Vec<&FlowTruth> = truth
        .flows
        .iter()
        .filter(|f| f.class == "live-migration")
        .collect();
    assert_eq!(lm.len(), 1, "cluster_good migrates once, on lm");
    let (code, doc) = audit_json(
        &["--derive-from", dir.path().to_str().unwrap()],
        &truth.file,
    );
    assert_eq!((code, doc["verdict"].as_str()), (1, Some("fail")));
    let (got, want) = violations(&doc, &lm);
    assert_eq!(got, want);
}

#[test]
fn client_traffic_without_a_client_network_is_allowed_nowhere() {
    // cluster_rows with Host Access Cluster made cluster only (role 1).
    let rows: Vec<Row> = cluster_rows()
        .into_iter()
        .map(|r| Row {
            role: if r.role == 3 { 1 } else { r.role },
            ..r
        })
        .collect();
    let dir = dir_with(&[
        ("Get-ClusterNetwork.json", json(&rows).as_bytes()),
        (
            "Get-ClusterNetworkInterface.json",
            cluster_interfaces().as_bytes(),
        ),
    ]);
    let r = run_in(dir.path(), &["policy", "derive", "--derive-from", "."]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert_eq!(
        class_block(&r.out, "client"),
        "[classes.client]
# Clients reach the cluster only on role 2 and 3 networks (protocol-facts
# §4), and no network has either role (lint no-client-network).
# No network: `networks = []` allows it nowhere, so every such flow is a
# violation (a class left out would be allowed anywhere).
networks = []
"
    );
    let lint = run_in(dir.path(), &["policy", "lint", "--derive-from", "."]);
    assert_eq!(
        (lint.code, lint.out.as_str()),
        (
            1,
            "warning[no-client-network]: no network has role 2 (Client) or 3 (ClusterAndClient): \"iSCSI Storage Network\", \"Heartbeat Cluster\", \"Host Access Cluster\", \"CSV Cluster\" and \"LM Cluster\", so the policy allows client traffic (everything no other class claims: RDP, management, the guests' clients) on none of them
  rule: clients reach the cluster only on role 2 and 3 networks; role 1 is cluster only (protocol-facts §4)
  fix: give the network clients use role 3: (Get-ClusterNetwork \"NAME\").Role = 3
1 warning (silence one with --allow ID)
"
        )
    );
    let (_g, truth) = crate::audit::generate("cluster_good");
    let clients: Vec<&FlowTruth> = truth.flows.iter().filter(|f| f.class == "client").collect();
    assert_eq!(clients.len(), 2, "HTTPS and RDP on hostaccess");
    let (code, doc) = audit_json(
        &["--derive-from", dir.path().to_str().unwrap()],
        &truth.file,
    );
    assert_eq!((code, doc["verdict"].as_str()), (1, Some("fail")));
    let (got, want) = violations(&doc, &clients);
    assert_eq!(got, want);
}
