//! `lanecheck policy derive` and `policy lint`: seed 001's tables (read
//! from the shared reference at test time, verbatim) as tables and as JSON,
//! seed 000's DPM example judged on the DPM fixtures beside the hand-written
//! policies, malformed inputs, `--allow`, `--derive-from DIR` with what
//! Windows writes (BOM, CRLF, UTF-16), and `audit --derive-from`.

mod audit;
mod inputs;
mod ipv6;
mod lints;
mod nodes;
mod nowhere;
mod seed000;
mod seed001;
mod tie;

use std::path::Path;

use serde_json::Value;

use crate::util::{lanecheck, root};

/// A run's exit code, stdout and stderr.
pub(super) struct Run {
    pub(super) code: i32,
    pub(super) out: String,
    pub(super) err: String,
}

pub(super) fn run_in(dir: &Path, args: &[&str]) -> Run {
    let o = lanecheck()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run lanecheck");
    Run {
        code: o.status.code().expect("exit code"),
        out: String::from_utf8(o.stdout).expect("utf-8"),
        err: String::from_utf8(o.stderr).expect("utf-8"),
    }
}

/// One row of a `Get-ClusterNetwork | FT Name, Metric, Role` table.
#[derive(Clone, Debug)]
pub(super) struct Row {
    pub(super) name: String,
    pub(super) metric: u32,
    pub(super) role: u8,
    pub(super) by_hand: bool,
}

/// A table as the seed prints it, and its rows.
#[derive(Clone, Debug)]
pub(super) struct Table {
    pub(super) text: String,
    pub(super) rows: Vec<Row>,
}

/// The prefixes the tests give the seed's networks (it names none).
pub(super) fn prefix(name: &str) -> &'static str {
    match name {
        "iSCSI Storage Network" => "172.16.10.0/24",
        "Heartbeat Cluster" => "172.16.20.0/24",
        "Host Access Cluster" => "10.20.0.0/24",
        "CSV Cluster" => "172.16.30.0/24",
        "LM Cluster" => "172.16.40.0/24",
        "CSV-LM Cluster" => "172.16.35.0/24",
        other => panic!("no prefix for {other}"),
    }
}

pub(super) fn id(name: &str) -> String {
    let n = name
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    format!(
        "6f1c{:04x}-0000-4000-8000-{:012x}",
        n & 0xffff,
        n & 0xffff_ffff_ffff
    )
}

/// The rows as `Get-ClusterNetwork | Select-Object … | ConvertTo-Json` prints
/// them (Windows PowerShell 5.1 layout): a metric set by one of the seed's
/// commands has AutoMetric false.
pub(super) fn json(rows: &[Row]) -> String {
    let objs: Vec<Value> = rows
        .iter()
        .map(|r| {
            let (addr, len) = prefix(&r.name).split_once('/').unwrap();
            let mask = u32::MAX << (32 - len.parse::<u32>().unwrap());
            serde_json::json!({
                "Id": id(&r.name), "Name": r.name, "Address": addr,
                "AddressMask": std::net::Ipv4Addr::from(mask).to_string(),
                "Role": r.role, "Metric": r.metric, "AutoMetric": !r.by_hand, "State": 3
            })
        })
        .collect();
    serde_json::to_string_pretty(&objs)
        .unwrap()
        .replace('\n', "\r\n")
}

/// The table rendered as seed 001 renders its later tables.
pub(super) fn markdown(rows: &[Row]) -> String {
    let mut t = String::from("|Name|Metric|Role|\n|---|---|---|\n");
    for r in rows {
        t.push_str(&format!("|{}|{}|{}|\n", r.name, r.metric, r.role));
    }
    t
}

pub(super) fn lint_ids(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            l.strip_prefix("warning[")?
                .split_once(']')
                .map(|(id, _)| id.to_string())
        })
        .collect()
}

/// The networks of `class`, most preferred first.
pub(super) fn nets(p: &toml::Table, class: &str) -> Vec<String> {
    p["classes"][class]["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The `[classes.NAME]` block of a derived policy, up to its blank line.
pub(super) fn class_block(policy: &str, class: &str) -> String {
    let head = format!("[classes.{class}]\n");
    let start = policy
        .find(&head)
        .unwrap_or_else(|| panic!("no {head}in {policy}"));
    let rest = &policy[start..];
    rest[..rest.find("\n\n").map_or(rest.len(), |e| e + 1)].to_string()
}

pub(super) fn first(p: &toml::Table, class: &str) -> String {
    nets(p, class)[0].clone()
}

/// Writes `files` into a fresh directory.
pub(super) fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    dir
}

/// Seed 001's first layout, for tests that need no reference file.
pub(super) const THREE_NETWORKS: &str = "|Name|Metric|Role|\n|---|---|---|\n|iSCSI Storage Network|10100|0|\n|Heartbeat Cluster|1000|1|\n|Host Access Cluster|10000|3|\n";

pub(super) fn utf8_bom(text: &str) -> Vec<u8> {
    [
        &[0xEF, 0xBB, 0xBF][..],
        text.replace('\n', "\r\n").as_bytes(),
    ]
    .concat()
}

/// What Windows PowerShell 5.1's `>` writes: UTF-16LE with a BOM, CRLF.
pub(super) fn utf16_bom(text: &str) -> Vec<u8> {
    let crlf = text.replace('\n', "\r\n");
    [0xFF, 0xFE]
        .into_iter()
        .chain(crlf.encode_utf16().flat_map(u16::to_le_bytes))
        .collect()
}

/// The layout of `policies/cluster.toml` as the cluster would export it,
/// with Windows names: CSV 800 and LM 900 set by hand.
pub(super) fn cluster_rows() -> Vec<Row> {
    let row = |name: &str, metric, role, by_hand| Row {
        name: name.into(),
        metric,
        role,
        by_hand,
    };
    vec![
        row("iSCSI Storage Network", 10100, 0, false),
        row("Heartbeat Cluster", 1000, 1, false),
        row("Host Access Cluster", 10000, 3, false),
        row("CSV Cluster", 800, 1, true),
        row("LM Cluster", 900, 1, true),
    ]
}

/// `Get-ClusterNetworkInterface` for three nodes with one NIC per network,
/// named as the cluster fixtures name their capture interfaces.
pub(super) fn cluster_interfaces() -> String {
    let nics = [
        ("iscsi", "iSCSI Storage Network"),
        ("heartbeat", "Heartbeat Cluster"),
        ("hostaccess", "Host Access Cluster"),
        ("csv", "CSV Cluster"),
        ("lm", "LM Cluster"),
    ];
    let mut out = Vec::new();
    for node in 1..=3 {
        for (nic, net) in nics {
            let host = prefix(net).split_once(".0/").unwrap().0;
            out.push(serde_json::json!({ "Node": format!("node{node}"), "Network": net, "Adapter": nic, "Address": format!("{host}.{}", 10 + node) }));
        }
    }
    serde_json::to_string_pretty(&out).unwrap()
}

pub(super) fn audit_json(policy_args: &[&str], capture: &Path) -> (i32, Value) {
    let mut args = vec!["audit", "--format", "json"];
    args.extend_from_slice(policy_args);
    args.push(capture.to_str().unwrap());
    let r = run_in(&root(), &args);
    (
        r.code,
        serde_json::from_str(&r.out).unwrap_or_else(|e| panic!("{e}: {}", r.err)),
    )
}

pub(super) fn generated(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, truth) = crate::audit::generate(name);
    (dir, truth.file)
}
