//! Every lint id, each on a layout made for it.

use std::collections::BTreeSet;

use super::*;

/// Every lint id fires on a layout made for it, and the cases together
/// cover every id the binary knows (as its `--allow` error lists them).
#[test]
fn every_lint_fires_on_its_layout() {
    let table = |rows: &[(&str, u32, u8)]| {
        let rows: Vec<Row> = rows
            .iter()
            .map(|(n, m, r)| Row {
                name: n.to_string(),
                metric: *m,
                role: *r,
                by_hand: false,
            })
            .collect();
        markdown(&rows)
    };
    let net = |name: &str, addr: &str, role: u8, metric: u32, auto: bool, state: &str| serde_json::json!({"Id": id(name), "Name": name, "Address": addr, "AddressMask": "255.255.255.0", "Role": role, "Metric": metric, "AutoMetric": auto, "State": state});
    let tie = serde_json::json!([
        net("A", "10.1.0.0", 1, 1200, false, "Up"),
        net("B", "10.2.0.0", 1, 1200, true, "Down"),
        net("C", "10.3.0.0", 3, 10000, true, "Up"),
    ]);
    let layout = serde_json::json!([
        net("iSCSI", "10.4.0.0", 0, 10100, true, "Up"),
        net("HB", "172.16.20.0", 1, 1000, true, "Up"),
        net("CSV", "10.6.0.0", 1, 800, false, "Up"),
        net("LM", "10.7.0.0", 1, 900, false, "Up"),
        net("Public", "10.8.0.0", 3, 10000, true, "Up"),
    ]);
    let lm = format!(
        "[{{\"Name\":\"MigrationNetworkOrder\",\"Value\":\"{};{};0000-gone\"}}]",
        id("iSCSI"),
        id("LM")
    );
    let lm_none = format!(
        "[{{\"Name\":\"MigrationExcludeNetworks\",\"Value\":\"{}\"}}]",
        ["HB", "CSV", "LM", "Public"].map(id).join(";")
    );
    let dir = dir_with(&[
        ("seed.txt", THREE_NETWORKS.as_bytes()),
        (
            "heartbeat.txt",
            table(&[("HB", 1000, 1), ("CSV-LM", 1100, 1), ("Public", 10000, 3)]).as_bytes(),
        ),
        (
            "same.txt",
            table(&[("HB", 1000, 1), ("CSV-LM", 800, 1), ("Public", 20000, 2)]).as_bytes(),
        ),
        (
            "one.txt",
            table(&[("A", 1000, 1), ("SAN", 10100, 0), ("Public", 20000, 2)]).as_bytes(),
        ),
        (
            "none.txt",
            table(&[("A", 1000, 0), ("B", 2000, 2)]).as_bytes(),
        ),
        (
            "client.txt",
            table(&[("Public", 900, 3), ("Private", 1000, 1)]).as_bytes(),
        ),
        ("tie.json", tie.to_string().as_bytes()),
        ("layout.json", layout.to_string().as_bytes()),
        ("lm.json", lm.as_bytes()),
        ("lm-none.json", lm_none.as_bytes()),
        (
            "no-client.txt",
            table(&[("CSV", 800, 1), ("LM", 900, 1), ("HB", 1000, 1)]).as_bytes(),
        ),
        (
            "lm-names.json",
            b"{\"Name\":\"MigrationNetworkOrder\",\"Value\":\"CSV-LM\"}",
        ),
    ]);
    let dpm = [
        "--dpm-server",
        "dpm=10.10.12.89,192.168.1.23",
        "--protected-server",
        "ps=10.10.12.90",
    ];
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--cluster-networks", "seed.txt"],
            vec!["lm-on-client-network", "no-dedicated-network"],
        ),
        (
            vec!["--cluster-networks", "heartbeat.txt"],
            vec!["csv-on-heartbeat"],
        ),
        (
            vec![
                "--cluster-networks",
                "same.txt",
                "--live-migration",
                "lm-names.json",
            ],
            vec!["csv-lm-same-network"],
        ),
        (
            vec!["--cluster-networks", "same.txt"],
            vec!["lm-on-heartbeat"],
        ),
        (
            vec!["--cluster-networks", "one.txt"],
            vec!["one-cluster-network"],
        ),
        (
            vec!["--cluster-networks", "none.txt"],
            vec!["no-cluster-network"],
        ),
        (
            vec!["--cluster-networks", "client.txt"],
            vec!["csv-on-client-network", "lm-on-heartbeat"],
        ),
        (
            vec!["--cluster-networks", "tie.json"],
            vec![
                "lm-on-heartbeat",
                "manual-metric-high",
                "metric-tie",
                "network-not-up",
            ],
        ),
        (
            vec![
                "--cluster-networks",
                "layout.json",
                "--live-migration",
                "lm.json",
            ],
            vec!["role0-cluster-traffic", "lm-unknown-network"],
        ),
        (
            vec![
                "--cluster-networks",
                "layout.json",
                "--live-migration",
                "lm-none.json",
            ],
            vec!["lm-no-network"],
        ),
        (
            vec!["--cluster-networks", "no-client.txt"],
            vec!["no-client-network"],
        ),
        (
            [
                &[
                    "--dpm-backup-network",
                    "10.10.12.0/24:1",
                    "--dpm-backup-network",
                    "192.168.1.0/24:3",
                    "--dpm-backup-network",
                    "192.168.2.0/24:3",
                ][..],
                &dpm,
            ]
            .concat(),
            vec![
                "dpm-sequence-duplicate",
                "dpm-sequence-gap",
                "dpm-primary-first",
                "dpm-server-not-covered",
            ],
        ),
        (
            vec![
                "--cluster-networks",
                "layout.json",
                "--dpm-backup-network",
                "192.168.1.0/24:1",
                "--dpm-backup-network",
                "172.16.20.0/24:2",
            ],
            vec!["dpm-on-cluster-network"],
        ),
    ];
    let mut seen = BTreeSet::new();
    for (args, want) in cases {
        let r = run_in(dir.path(), &[&["policy", "lint"][..], &args].concat());
        assert_eq!(
            (r.code, lint_ids(&r.out)),
            (1, want.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            "{args:?}: {}{}",
            r.out,
            r.err
        );
        seen.extend(want);
    }
    let r = run_in(
        dir.path(),
        &[
            "policy",
            "lint",
            "--allow",
            "?",
            "--cluster-networks",
            "seed.txt",
        ],
    );
    let ids = r
        .err
        .split("(ids: ")
        .nth(1)
        .unwrap()
        .trim_end()
        .trim_end_matches(')');
    let all: BTreeSet<&str> = ids.split(", ").collect();
    assert_eq!(seen, all, "every lint id has a case");
}
