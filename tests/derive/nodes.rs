//! One adapter name meaning different networks on different nodes: the
//! derived policy keys it `NODE/ADAPTER`, and `audit` applies a node's
//! keys to the captures taken on that node (`--node CAPTURE=HOST`, or
//! inferred from the capture's addresses), never another node's.

use super::*;

/// node1's `Ethernet 2` is its live-migration NIC, node2's its CSV NIC
/// (and `Ethernet 3` the other way round); `Ethernet` is host access on
/// both. As `fixgen`'s `cluster_node1_csv_on_lm_nic` captures them.
fn node_interfaces() -> String {
    let nics = [
        (1, "Ethernet", "Host Access Cluster"),
        (1, "Ethernet 2", "LM Cluster"),
        (1, "Ethernet 3", "CSV Cluster"),
        (2, "Ethernet", "Host Access Cluster"),
        (2, "Ethernet 2", "CSV Cluster"),
        (2, "Ethernet 3", "LM Cluster"),
    ];
    let out: Vec<Value> = nics
        .iter()
        .map(|(node, nic, net)| {
            let host = prefix(net).split_once(".0/").unwrap().0;
            serde_json::json!({ "Node": format!("node{node}"), "Network": net, "Adapter": nic, "Address": format!("{host}.{}", 10 + node) })
        })
        .collect();
    serde_json::to_string_pretty(&out).unwrap()
}

/// The exports of a two-node cluster (2008 R2: CSV only on the lowest
/// metric, CSV Cluster) with node-dependent adapter names.
fn exports() -> tempfile::TempDir {
    let rows: Vec<Row> = cluster_rows()
        .into_iter()
        .filter(|r| ["Host Access Cluster", "CSV Cluster", "LM Cluster"].contains(&r.name.as_str()))
        .collect();
    dir_with(&[
        ("Get-ClusterNetwork.json", json(&rows).as_bytes()),
        (
            "Get-ClusterNetworkInterface.json",
            node_interfaces().as_bytes(),
        ),
        ("lanecheck-derive.toml", b"os = \"2008r2\"\n"),
    ])
}

fn audit_with(dir: &Path, extra: &[&str], capture: &Path) -> (i32, Value, String) {
    let mut args = vec![
        "audit",
        "--format",
        "json",
        "--derive-from",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(capture.to_str().unwrap());
    let r = run_in(&root(), &args);
    let doc = serde_json::from_str(&r.out).unwrap_or_else(|e| panic!("{e}: {}", r.err));
    (r.code, doc, r.err)
}

/// The flow of class `class` in the bookkeeping.
fn truth_flow<'t>(t: &'t fixgen::CaptureTruth, class: &str) -> &'t fixgen::FlowTruth {
    t.flows.iter().find(|f| f.class == class).unwrap()
}

#[test]
fn csv_on_node1s_live_migration_nic_fails_though_node2_calls_that_name_csv() {
    let dir = exports();
    let (_t, truth) = crate::audit::generate("cluster_node1_csv_on_lm_nic");
    let csv = truth_flow(&truth, "smb-redirected");
    // Inferred: node1 is an endpoint of every packet, node2 of fewer.
    let (code, doc, err) = audit_with(dir.path(), &[], &truth.file);
    assert_eq!(
        (code, doc["verdict"].as_str()),
        (1, Some("fail")),
        "{doc}\n{err}"
    );
    let v = doc["violations"].as_array().unwrap();
    assert_eq!(v.len(), 1, "{doc}");
    assert_eq!(
        (&v[0]["class"], &v[0]["interface"]),
        (&"smb-redirected".into(), &"Ethernet 2".into())
    );
    assert_eq!(v[0]["bytes"], csv.bytes, "{}", v[0]);
    assert_eq!(v[0]["packets"], csv.packets, "{}", v[0]);
    let c = &doc["captures"][0];
    assert_eq!(
        (&c["node"], &c["node_from"]),
        (&"node1".into(), &"inferred".into()),
        "{c}"
    );
    let ips = truth.packets - truth.non_ip_frames;
    let node2: u64 = truth
        .flows
        .iter()
        .filter(|f| f.class != "client")
        .map(|f| f.packets)
        .sum();
    assert_eq!(
        c["node_reason"],
        format!("node1 is an endpoint of {ips} of its first {ips} IP packets, more than half and more than any other host (node1 {ips}, node2 {node2})"),
        "{c}"
    );
    let info: Vec<(&str, &str)> = c["interface_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["key"].as_str().unwrap(), i["network"].as_str().unwrap()))
        .collect();
    assert_eq!(
        info,
        [
            ("Ethernet", "Host Access Cluster"),
            ("node1/Ethernet 2", "LM Cluster"),
            ("node1/Ethernet 3", "CSV Cluster"),
        ]
    );
    // node2's keys are not applied, and say so.
    let warnings = crate::util::warnings(&doc);
    assert!(
        warnings.contains(&"[interfaces] \"node2/Ethernet 2\" matches no interface of any capture judged as taken on node2: no frame was judged by it"),
        "{warnings:?}"
    );
    // Given: the same verdict. Given as node2 (any case): node2's keys
    // apply, Ethernet 2 is its CSV NIC, and the CSV SMB passes there.
    let arg = format!("{}=node1", truth.file.display());
    let (code, doc, _) = audit_with(dir.path(), &["--node", &arg], &truth.file);
    assert_eq!(
        (code, &doc["captures"][0]["node_from"]),
        (1, &"--node".into())
    );
    let arg = format!("{}=NODE2", truth.file.display());
    let (code, doc, err) = audit_with(dir.path(), &["--node", &arg], &truth.file);
    assert_eq!(
        (code, &doc["captures"][0]["node"]),
        (0, &"node2".into()),
        "{doc}\n{err}"
    );
    assert_eq!(doc["captures"][0]["node_reason"], Value::Null);
}

#[test]
fn two_nodes_talking_only_to_each_other_are_not_guessed_between() {
    let dir = exports();
    let (_t, truth) = crate::audit::generate("cluster_pair_csv_on_lm_nic");
    let (code, doc, err) = audit_with(dir.path(), &[], &truth.file);
    // No node: the NODE/ADAPTER keys are not applied; addresses say CSV.
    assert_eq!((code, doc["verdict"].as_str()), (0, Some("pass")), "{doc}");
    let c = &doc["captures"][0];
    assert_eq!(
        (&c["node"], &c["node_from"]),
        (&Value::Null, &Value::Null),
        "{c}"
    );
    let path = truth.file.display().to_string();
    let ips = truth.packets - truth.non_ip_frames;
    let want = format!(
        "{path}: not judged as any [hosts] node (no host is an endpoint of more of its first {ips} IP packets than any other (node1 {ips}, node2 {ips})), so the [interfaces] keys HOST/KEY were not applied to it (\"node1/Ethernet 2\", \"node1/Ethernet 3\", \"node2/Ethernet 2\", \"node2/Ethernet 3\"): its NICs are judged by the other keys and by addresses only; pass --node {path}=HOST"
    );
    assert!(
        crate::util::warnings(&doc).contains(&want.as_str()),
        "{doc}"
    );
    assert!(err.contains(&want), "{err}");
    // Told, it fails as the inferred run above.
    let arg = format!("{path}=node1");
    let (code, doc, _) = audit_with(dir.path(), &["--node", &arg], &truth.file);
    assert_eq!(code, 1, "{doc}");
    let csv = truth_flow(&truth, "smb-redirected");
    assert_eq!(doc["violations"][0]["bytes"], csv.bytes);
    // An unknown host or capture is an error.
    let r = run_in(
        &root(),
        &[
            "audit",
            "--derive-from",
            dir.path().to_str().unwrap(),
            "--node",
            &format!("{path}=node9"),
            &path,
        ],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.err
            .contains("\"node9\": not a [hosts] name of the policy (hosts: node1, node2)"),
        "{}",
        r.err
    );
    let r = run_in(
        &root(),
        &[
            "audit",
            "--derive-from",
            dir.path().to_str().unwrap(),
            "--node",
            "x.pcapng=node1",
            &path,
        ],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.err.contains("\"x.pcapng\" is not a capture argument"),
        "{}",
        r.err
    );
}
