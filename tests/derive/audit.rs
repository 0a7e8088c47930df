//! `audit --derive-from DIR`: a post-change audit from captures and exports.

use super::*;

#[test]
fn audit_derives_its_policy_from_the_exports() {
    let dir = dir_with(&[
        ("Get-ClusterNetwork.json", &utf8_bom(&json(&cluster_rows()))),
        (
            "Get-ClusterNetworkInterface.json",
            &utf16_bom(&cluster_interfaces()),
        ),
    ]);
    let d = dir.path().to_str().unwrap();
    let (_g, good) = generated("cluster_good");
    let (code, doc) = audit_json(&["--derive-from", d], &good);
    assert_eq!((code, doc["verdict"].as_str()), (0, Some("pass")), "{doc}");
    assert!(
        doc["classes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["networks"][0]["network"] == "CSV Cluster"),
        "quoted names reach the report"
    );
    // cluster_bad: CSV on the heartbeat network, live migration on the
    // client network. 2012+ allows both as warned fallbacks (Multichannel;
    // the migration order); 2008 R2 allows CSV on the lowest metric only.
    let (_b, bad) = generated("cluster_bad");
    let (code, doc) = audit_json(&["--derive-from", d], &bad);
    assert_eq!((code, doc["verdict"].as_str()), (0, Some("pass")), "{doc}");
    let warnings = crate::util::warnings(&doc);
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("smb-redirected used fallback network Heartbeat Cluster")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("live-migration used fallback network Host Access Cluster")),
        "{warnings:?}"
    );
    std::fs::write(
        dir.path().join("lanecheck-derive.toml"),
        "os = \"2008r2\"\n",
    )
    .unwrap();
    let (code, doc) = audit_json(&["--derive-from", d], &bad);
    assert_eq!(code, 1);
    let v: Vec<String> = doc["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| format!("{} on {}", v["class"], v["network"]))
        .collect();
    assert_eq!(v, ["\"smb-redirected\" on \"Heartbeat Cluster\""]);
    // DPM from lanecheck-derive.toml alone (seed 000's example).
    let dpm = dir_with(&[(
        "lanecheck-derive.toml",
        b"dpm-backup-network = [\"192.168.1.0/24:1\"]\ndpm-server = [\"dpm=10.10.12.89,192.168.1.23\"]\nprotected-server = [\"ps=10.10.12.90,192.168.1.24\"]\ninterface = [\"eth0=10.10.12.89\", \"eth1=192.168.1.23\"]\n",
    )]);
    let p = dpm.path().to_str().unwrap();
    for (scenario, want) in [
        ("dpm_backup_lan", 0),
        ("dpm_primary_lan", 1),
        ("dpm_backup_addr_on_primary_nic", 1),
    ] {
        let (_t, file) = generated(scenario);
        assert_eq!(
            audit_json(&["--derive-from", p], &file).0,
            want,
            "{scenario}"
        );
    }
    // A table without addresses leaves gaps: the audit refuses, naming them.
    let gaps = dir_with(&[("Get-ClusterNetwork.txt", THREE_NETWORKS.as_bytes())]);
    let r = run_in(
        &root(),
        &[
            "audit",
            "--derive-from",
            gaps.path().to_str().unwrap(),
            good.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.err.contains(
            " has no prefix for \"iSCSI Storage Network\", \"Heartbeat Cluster\" and \"Host Access Cluster\" (a Format-Table export has no addresses)\n"
        ),
        "{}",
        r.err
    );
    // One policy source, never both, never none.
    let r = run_in(
        &root(),
        &[
            "audit",
            "--policy",
            "policies/dpm.toml",
            "--derive-from",
            p,
            good.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2);
    assert!(r.err.contains("cannot be used with"), "{}", r.err);
    let r = run_in(&root(), &["audit", good.to_str().unwrap()]);
    assert!(
        r.err.contains("<--policy <FILE>|--derive-from <DIR>>"),
        "{}",
        r.err
    );
}

/// DPM protecting a cluster node: the node's primary address stays on its
/// cluster network (a `primary` host prefix would take it off by longest
/// match), so the cluster's own traffic is judged as before.
#[test]
fn dpm_protecting_a_cluster_node_keeps_the_node_on_its_networks() {
    let dir = dir_with(&[
        ("n.json", json(&cluster_rows()).as_bytes()),
        ("i.json", cluster_interfaces().as_bytes()),
    ]);
    let r = run_in(
        dir.path(),
        &[
            "policy",
            "derive",
            "-o",
            "p.toml",
            "--cluster-networks",
            "n.json",
            "--cluster-interfaces",
            "i.json",
            "--dpm-backup-network",
            "192.168.1.0/24:1",
            "--dpm-server",
            "dpm=10.10.12.89,192.168.1.23",
            "--protected-server",
            "node1=10.20.0.11,192.168.1.11",
        ],
    );
    assert_eq!((r.code, r.err.as_str()), (0, "lint: clean\n"));
    let p: toml::Table =
        toml::from_str(&std::fs::read_to_string(dir.path().join("p.toml")).unwrap()).unwrap();
    assert_eq!(
        p["networks"]["primary"].as_array().unwrap().len(),
        1,
        "only the DPM server's own address"
    );
    assert_eq!(nets(&p, "dpm-control"), ["primary", "Host Access Cluster"]);
    assert_eq!(nets(&p, "client"), ["Host Access Cluster", "primary"]);
    assert_eq!(nets(&p, "dpm"), ["backup"]);
    assert_eq!(
        p["hosts"]["node1"].as_array().unwrap().len(),
        6,
        "the node's five and its backup address"
    );
    let (_g, good) = generated("cluster_good");
    let policy = dir.path().join("p.toml");
    let (code, doc) = audit_json(&["--policy", policy.to_str().unwrap()], &good);
    assert_eq!((code, doc["verdict"].as_str()), (0, Some("pass")), "{doc}");
}

/// A prefix gap stops `audit --derive-from DIR` with advice it can follow:
/// `address` in DIR/lanecheck-derive.toml (audit has no `--address`), and
/// following it to the letter makes the audit run.
#[test]
fn a_gap_in_a_derived_audit_points_to_the_settings_file() {
    let dir = dir_with(&[
        (
            "Get-ClusterNetwork.txt",
            markdown(&cluster_rows()).as_bytes(),
        ),
        (
            "Get-ClusterNetworkInterface.json",
            cluster_interfaces().as_bytes(),
        ),
    ]);
    let d = dir.path().to_str().unwrap();
    let (_g, good) = generated("cluster_good");
    let r = run_in(
        &root(),
        &["audit", "--derive-from", d, good.to_str().unwrap()],
    );
    let settings = dir.path().join("lanecheck-derive.toml");
    let line = "address = [\"iSCSI Storage Network=PREFIX\", \"Heartbeat Cluster=PREFIX\", \"Host Access Cluster=PREFIX\", \"CSV Cluster=PREFIX\", \"LM Cluster=PREFIX\"]";
    assert_eq!(
        (r.code, r.out.as_str(), r.err.lines().last()),
        (
            2,
            "",
            Some("  or export Get-ClusterNetwork as JSON with its addresses (docs/derive.md)")
        )
    );
    let error: Vec<&str> = r
        .err
        .lines()
        .filter(|l| {
            !l.starts_with(['[', ' ']) || l.starts_with("  fix") || l.starts_with("    address")
        })
        .collect();
    assert_eq!(
        error,
        [
            format!("lanecheck: the policy derived from {d} has no prefix for \"iSCSI Storage Network\", \"Heartbeat Cluster\", \"Host Access Cluster\", \"CSV Cluster\" and \"LM Cluster\" (a Format-Table export has no addresses)"),
            format!("  fix: give each in {}, one value per prefix (a network may have several, IPv4 and IPv6):", settings.display()),
            format!("    {line}"),
        ]
    );
    // Follow it: the line, each PREFIX filled in.
    let mut filled = line.to_string();
    for row in cluster_rows() {
        filled = filled.replacen("=PREFIX", &format!("={}", prefix(&row.name)), 1);
    }
    std::fs::write(&settings, format!("{filled}\n")).unwrap();
    let (code, doc) = audit_json(&["--derive-from", d], &good);
    assert_eq!((code, doc["verdict"].as_str()), (0, Some("pass")), "{doc}");
}

/// Without the nodes' addresses CSV redirected I/O cannot be told from
/// client traffic: the audit says so before its verdict, which then holds
/// the CSV SMB of `cluster_good` as client traffic on the CSV network.
#[test]
fn a_derived_audit_without_node_addresses_says_csv_cannot_be_told() {
    let dir = dir_with(&[("Get-ClusterNetwork.json", &utf8_bom(&json(&cluster_rows())))]);
    let d = dir.path().to_str().unwrap();
    let (_g, good) = generated("cluster_good");
    let r = run_in(
        &root(),
        &[
            "audit",
            "--derive-from",
            d,
            "--format",
            "json",
            good.to_str().unwrap(),
        ],
    );
    let said = format!("{d}: no cluster node addresses (no Get-ClusterNetworkInterface.json): SMB and heartbeats between nodes cannot be told from client traffic, so CSV redirected I/O is judged as client traffic (docs/derive.md)");
    assert_eq!(
        r.err.lines().filter(|l| l.ends_with(&said)).count(),
        1,
        "{}",
        r.err
    );
    // With the nodes, nothing is said.
    let with = dir_with(&[
        ("Get-ClusterNetwork.json", &utf8_bom(&json(&cluster_rows()))),
        (
            "Get-ClusterNetworkInterface.json",
            cluster_interfaces().as_bytes(),
        ),
    ]);
    let w = with.path().to_str().unwrap();
    let r = run_in(
        &root(),
        &[
            "audit",
            "--derive-from",
            w,
            "--format",
            "json",
            good.to_str().unwrap(),
        ],
    );
    assert!(!r.err.contains("no cluster node addresses"), "{}", r.err);
}
