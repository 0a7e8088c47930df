//! Seed 001's three `Get-ClusterNetwork` tables, read verbatim from the
//! shared reference at test time, as tables and as JSON: the choices, the
//! lints, and `policy check` on what derive writes.

use super::*;
use crate::util::shared_reference;

/// A `Get-ClusterNetwork "NAME" | %{$_.Metric=N}` command: (NAME, N).
type Remeter = (String, u32);

const SEED_001: &str = "001_a041d4d79721df0f.txt";

/// Seed 001's three tables, verbatim (the first keeps its `> ` quote
/// marks), and its `Get-ClusterNetwork "NAME" | %{$_.Metric=N}` commands.
fn seed_001() -> Option<(Vec<Table>, Vec<Remeter>)> {
    let text = std::fs::read_to_string(shared_reference(SEED_001)?).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let unquote = |l: &str| l.trim_start_matches('>').trim().to_string();
    let mut tables = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !unquote(lines[i]).starts_with("|Name|") {
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && unquote(lines[i]).starts_with('|') {
            i += 1;
        }
        let rows = lines[start + 2..i]
            .iter()
            .map(|l| {
                let cells: Vec<String> = unquote(l)
                    .trim_matches('|')
                    .split('|')
                    .map(str::to_string)
                    .collect();
                Row {
                    name: cells[0].clone(),
                    metric: cells[1].parse().unwrap(),
                    role: cells[2].parse().unwrap(),
                    by_hand: false,
                }
            })
            .collect();
        tables.push(Table {
            text: lines[start..i].join("\n") + "\n",
            rows,
        });
    }
    let commands = lines
        .iter()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("Get-ClusterNetwork \"")?;
            let (name, rest) = rest.split_once('"')?;
            let metric = rest
                .trim()
                .strip_prefix("| %{$_.Metric=")?
                .strip_suffix('}')?;
            Some((name.to_string(), metric.parse().ok()?))
        })
        .collect();
    assert_eq!(
        tables.len(),
        3,
        "seed 001 has three Get-ClusterNetwork tables"
    );
    Some((tables, commands))
}

/// The rows after the seed's `%{$_.Metric=N}` command for `name`.
fn remeter(rows: &[Row], commands: &[(String, u32)], name: &str) -> Vec<Row> {
    let metric = commands
        .iter()
        .find(|(n, _)| n == name)
        .expect("the seed's command")
        .1;
    rows.iter()
        .map(|r| {
            if r.name == name {
                Row {
                    metric,
                    by_hand: true,
                    ..r.clone()
                }
            } else {
                r.clone()
            }
        })
        .collect()
}

/// Derived policies for one layout: from the table, its JSON, and the table
/// with `--address`; each parsed.
struct Derived {
    table: toml::Table,
    json: toml::Table,
    addressed: toml::Table,
    lint_ids: Vec<String>,
    lint_code: i32,
}

/// Derives `table`/`rows` every way, with `extra` flags (`table_extra`
/// too for the table), and checks that the three give the same choices,
/// the same lints, and (with addresses) the same policy, which `policy
/// check` accepts.
fn derive_layout(table: &str, rows: &[Row], extra: &[&str]) -> Derived {
    derive_both(table, rows, extra, extra)
}

fn derive_both(table: &str, rows: &[Row], extra: &[&str], table_extra: &[&str]) -> Derived {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("table.txt"), table).unwrap();
    std::fs::write(d.join("nets.json"), json(rows)).unwrap();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        let from_table = args.contains(&"table.txt");
        all.extend_from_slice(if from_table { table_extra } else { extra });
        run_in(d, &all)
    };
    let parse = |r: &Run| -> toml::Table {
        toml::from_str(&r.out).unwrap_or_else(|e| panic!("{e}\n{}", r.out))
    };
    let from_table = run(&["policy", "derive", "--cluster-networks", "table.txt"]);
    let from_json = run(&[
        "policy",
        "derive",
        "--cluster-networks",
        "nets.json",
        "-o",
        "json.toml",
    ]);
    let addresses: Vec<String> = rows
        .iter()
        .map(|r| format!("{}={}", r.name, prefix(&r.name)))
        .collect();
    let mut args = vec!["policy", "derive", "--cluster-networks", "table.txt"];
    for a in &addresses {
        args.extend(["--address", a]);
    }
    let addressed = run(&args);
    let lint = run(&["policy", "lint", "--cluster-networks", "nets.json"]);
    let lint_table = run(&["policy", "lint", "--cluster-networks", "table.txt"]);
    assert_eq!(
        lint_ids(&lint.out),
        lint_ids(&lint_table.out),
        "{}\n{}",
        lint.out,
        lint_table.out
    );
    assert_eq!(
        lint_ids(&from_json.err),
        lint_ids(&lint.out),
        "derive runs the lints"
    );
    assert_eq!(lint_table.code, lint.code);
    // The JSON export is complete: the policy passes policy check as written.
    let check = run_in(d, &["policy", "check", "json.toml"]);
    assert_eq!(check.code, 0, "{}", check.err);
    // The table has no addresses: every network is a gap policy check names.
    std::fs::write(d.join("gaps.toml"), &from_table.out).unwrap();
    let gaps = run_in(d, &["policy", "check", "gaps.toml"]);
    assert_eq!(gaps.code, 2);
    for r in rows {
        assert!(
            gaps.err
                .contains(&format!("network {:?} has no prefix yet", r.name)),
            "{}",
            gaps.err
        );
    }
    assert_eq!(
        from_table.code, 1,
        "gaps make derive exit 1: {}",
        from_table.err
    );
    let json_policy: toml::Table =
        toml::from_str(&std::fs::read_to_string(d.join("json.toml")).unwrap()).unwrap();
    let out = Derived {
        table: parse(&from_table),
        json: json_policy,
        addressed: parse(&addressed),
        lint_ids: lint_ids(&lint.out),
        lint_code: lint.code,
    };
    assert_eq!(
        out.table["classes"], out.json["classes"],
        "table and JSON choose alike"
    );
    assert_eq!(
        out.addressed, out.json,
        "with --address the table gives the JSON's policy"
    );
    out
}

#[test]
fn seed_001_three_networks_are_non_optimal() {
    let Some((tables, _)) = seed_001() else {
        return;
    };
    assert!(
        tables[0].text.starts_with("> |Name|Metric|Role|"),
        "verbatim, quote marks kept"
    );
    let d = derive_layout(&tables[0].text, &tables[0].rows, &[]);
    assert_eq!(first(&d.json, "smb-redirected"), "Heartbeat Cluster");
    assert_eq!(first(&d.json, "live-migration"), "Host Access Cluster");
    assert_eq!(nets(&d.json, "iscsi"), ["iSCSI Storage Network"]);
    assert_eq!(
        nets(&d.json, "cluster"),
        ["Heartbeat Cluster", "Host Access Cluster"]
    );
    assert_eq!(d.lint_code, 1);
    assert_eq!(d.lint_ids, ["lm-on-client-network", "no-dedicated-network"]);
    assert!(!nets(&d.json, "smb-redirected").contains(&"iSCSI Storage Network".to_string()));
}

#[test]
fn seed_001_csv_lm_network_at_its_automatic_metric_leaves_csv_on_heartbeat() {
    let Some((tables, _)) = seed_001() else {
        return;
    };
    let d = derive_layout(&tables[1].text, &tables[1].rows, &[]);
    assert_eq!(first(&d.json, "smb-redirected"), "Heartbeat Cluster");
    assert_eq!(first(&d.json, "live-migration"), "CSV-LM Cluster");
    assert_eq!(d.lint_ids, ["csv-on-heartbeat"]);
}

#[test]
fn seed_001_csv_lm_network_at_800() {
    let Some((tables, commands)) = seed_001() else {
        return;
    };
    let rows = remeter(&tables[1].rows, &commands, "CSV-LM Cluster");
    let d = derive_layout(&markdown(&rows), &rows, &[]);
    assert_eq!(first(&d.json, "smb-redirected"), "CSV-LM Cluster");
    assert_eq!(first(&d.json, "live-migration"), "Heartbeat Cluster");
    assert_eq!(d.lint_ids, ["lm-on-heartbeat"]);
    // Seed 001 then says: uncheck Host Access Cluster, select CSV-LM Cluster.
    let dir = tempfile::tempdir().unwrap();
    let settings = |exclude: &str, order: &str| {
        format!("[\r\n    {{\r\n        \"Name\":  \"MigrationExcludeNetworks\",\r\n        \"Value\":  \"{exclude}\"\r\n    }},\r\n    {{\r\n        \"Name\":  \"MigrationNetworkOrder\",\r\n        \"Value\":  \"{order}\"\r\n    }}\r\n]")
    };
    let by_id = dir.path().join("lm-ids.json");
    std::fs::write(
        &by_id,
        settings(
            &id("Host Access Cluster"),
            &format!("{};{}", id("CSV-LM Cluster"), id("Heartbeat Cluster")),
        ),
    )
    .unwrap();
    let by_name = dir.path().join("lm-names.json");
    std::fs::write(
        &by_name,
        settings("Host Access Cluster", "CSV-LM Cluster;Heartbeat Cluster"),
    )
    .unwrap();
    // A table has no ids: its settings name the networks.
    let names = ["--live-migration", by_name.to_str().unwrap()];
    let dj = derive_both(
        &markdown(&rows),
        &rows,
        &["--live-migration", by_id.to_str().unwrap()],
        &names,
    );
    let dn = derive_layout(&markdown(&rows), &rows, &names);
    for d in [&dj, &dn] {
        assert_eq!(first(&d.json, "smb-redirected"), "CSV-LM Cluster");
        assert_eq!(
            nets(&d.json, "live-migration"),
            ["CSV-LM Cluster", "Heartbeat Cluster"]
        );
        assert_eq!(d.lint_ids, ["csv-lm-same-network"]);
    }
    assert_eq!(
        dj.json["classes"], dn.json["classes"],
        "ids and names select alike"
    );
}

#[test]
fn seed_001_csv_and_lm_networks_split_cleanly() {
    let Some((tables, commands)) = seed_001() else {
        return;
    };
    let mut rows = remeter(&tables[2].rows, &commands, "CSV Cluster");
    rows = remeter(&rows, &commands, "LM Cluster");
    let d = derive_layout(&tables[2].text, &rows, &[]);
    assert_eq!(first(&d.json, "smb-redirected"), "CSV Cluster");
    assert_eq!(first(&d.json, "live-migration"), "LM Cluster");
    assert_eq!((d.lint_code, d.lint_ids.len()), (0, 0), "the lint is clean");
    // 2012+ lets SMB Multichannel use the other cluster networks (a
    // warning); 2008 R2 only the lowest metric. First networks agree.
    assert_eq!(
        nets(&d.json, "smb-redirected"),
        [
            "CSV Cluster",
            "LM Cluster",
            "Heartbeat Cluster",
            "Host Access Cluster"
        ]
    );
    assert_eq!(
        d.json["classes"]["smb-redirected"]["on_fallback"].as_str(),
        Some("warn")
    );
    let old = derive_layout(&tables[2].text, &rows, &["--os", "2008r2"]);
    assert_eq!(nets(&old.json, "smb-redirected"), ["CSV Cluster"]);
    assert_eq!(first(&old.json, "live-migration"), "LM Cluster");
    assert_eq!(old.lint_ids, d.lint_ids);
}

/// The same rows as PowerShell's console prints them (aligned, CRLF, the
/// prompt around them) give the same choices.
#[test]
fn format_table_as_the_console_prints_it() {
    let Some((tables, commands)) = seed_001() else {
        return;
    };
    let rows = &remeter(
        &remeter(&tables[2].rows, &commands, "CSV Cluster"),
        &commands,
        "LM Cluster",
    );
    let w = rows.iter().map(|r| r.name.len()).max().unwrap();
    let mut text = format!("PS C:\\> Get-ClusterNetwork | FT Name, Metric, Role\r\n\r\n{:<w$} Metric Role\r\n{:<w$} ------ ----\r\n", "Name", "----");
    for r in rows {
        text.push_str(&format!("{:<w$} {:>6} {:>4}\r\n", r.name, r.metric, r.role));
    }
    text.push_str("\r\n\r\nPS C:\\>\r\n");
    let d = derive_layout(&text, rows, &[]);
    let m = derive_layout(&tables[2].text, rows, &[]);
    assert_eq!(d.table, m.table, "aligned and Markdown tables agree");
}
