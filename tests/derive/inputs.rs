//! Malformed inputs, `--allow`, and `--derive-from DIR` with what Windows
//! writes (BOM, CRLF, UTF-16).

use super::*;

#[test]
fn malformed_inputs_name_file_line_and_what_is_wrong_and_write_nothing() {
    let cases: [(&str, &str, &str); 6] = [
        (
            "cut.json",
            "[\r\n    {\r\n        \"Name\":  \"Heartbeat Cluster\",\r\n        \"Role\":  1,\r\n        \"Met",
            "cut.json:5:12: EOF while parsing a string (the JSON is cut short)",
        ),
        (
            "nocol.txt",
            "> |Name|Metric|\r\n> |---|---|\r\n> |Heartbeat Cluster|1000|\r\n",
            "nocol.txt:1:1: the table has no Role column (columns: Name, Metric); print it with Get-ClusterNetwork | FT Name, Metric, Role",
        ),
        (
            "nocell.txt",
            "|Name|Metric|Role|\n|---|---|---|\n|Heartbeat Cluster|1000|1|\n|Host Access Cluster|10000|\n",
            "nocell.txt:4:2: the row has 2 cells, the header has 3 (Name, Metric, Role)",
        ),
        (
            "nomask.json",
            "[\r\n    {\r\n        \"Name\":  \"Heartbeat Cluster\",\r\n        \"Address\":  \"172.16.20.0\",\r\n        \"Role\":  1,\r\n        \"Metric\":  1000\r\n    }\r\n]\r\n",
            "nomask.json:7:5: network \"Heartbeat Cluster\": Address 172.16.20.0 has no AddressMask: a network needs its mask",
        ),
        (
            "role.json",
            "[\r\n    {\r\n        \"Name\":  \"Heartbeat Cluster\",\r\n        \"Role\":  7,\r\n        \"Metric\":  1000\r\n    }\r\n]\r\n",
            "role.json:4:18: Role 7 is out of range (0 None, 1 Cluster, 2 Client, 3 ClusterAndClient)",
        ),
        (
            "role.txt",
            "Name              Metric Role\n----              ------ ----\nHeartbeat Cluster   1000    9\n",
            "role.txt:3:29: Role 9 is out of range (0 None, 1 Cluster, 2 Client, 3 ClusterAndClient)",
        ),
    ];
    for (file, text, want) in cases {
        let dir = dir_with(&[(file, text.as_bytes())]);
        for cmd in ["derive", "lint"] {
            let r = run_in(
                dir.path(),
                &["policy", cmd, "--cluster-networks", file, "-o", "out.toml"]
                    [..if cmd == "derive" { 6 } else { 4 }],
            );
            assert_eq!(
                (r.code, r.out.as_str(), r.err.as_str()),
                (2, "", format!("lanecheck: {want}\n").as_str()),
                "{cmd} {file}"
            );
        }
        assert!(
            !dir.path().join("out.toml").exists(),
            "{file}: nothing is written"
        );
    }
    // Flags and lanecheck-derive.toml are located too.
    let r = run_in(
        &root(),
        &["policy", "lint", "--dpm-backup-network", "192.168.1.0:1"],
    );
    assert_eq!(r.err, "lanecheck: --dpm-backup-network \"192.168.1.0:1\": \"192.168.1.0\" has no prefix length (like 192.168.1.0/24): a backup network needs its mask\n");
    let dir = dir_with(&[(
        "lanecheck-derive.toml",
        b"os = \"2012+\"\r\ndpm-backup-network = [\"192.168.1.0/24:1\", \"10.0.0.0:2\"]\r\n",
    )]);
    let r = run_in(dir.path(), &["policy", "lint", "--derive-from", "."]);
    assert_eq!((r.code, r.err.as_str()), (2, "lanecheck: ./lanecheck-derive.toml:2:43: \"10.0.0.0\" has no prefix length (like 192.168.1.0/24): a backup network needs its mask\n"));
    let r = run_in(
        &root(),
        &["policy", "derive", "--address", "Nowhere=10.0.0.0/8"],
    );
    assert_eq!((r.code, r.err.as_str()), (2, "lanecheck: --address Nowhere=10.0.0.0/8: needs the cluster networks (--cluster-networks, or Get-ClusterNetwork.json in --derive-from DIR)\n"));
}

#[test]
fn allow_silences_a_lint_by_its_id() {
    let dir = dir_with(&[("t.txt", THREE_NETWORKS.as_bytes())]);
    let lint = |extra: &[&str]| {
        let mut args = vec!["policy", "lint", "--cluster-networks", "t.txt"];
        args.extend_from_slice(extra);
        run_in(dir.path(), &args)
    };
    let r = lint(&[]);
    assert_eq!(
        (r.code, lint_ids(&r.out)),
        (
            1,
            vec![
                "lm-on-client-network".to_string(),
                "no-dedicated-network".into()
            ]
        )
    );
    assert!(
        r.out
            .contains("  fix: in the Live Migration Settings uncheck \"Host Access Cluster\""),
        "{}",
        r.out
    );
    assert!(
        r.out
            .ends_with("2 warnings (silence one with --allow ID)\n"),
        "{}",
        r.out
    );
    let r = lint(&["--allow", "lm-on-client-network"]);
    assert_eq!(
        (r.code, lint_ids(&r.out)),
        (1, vec!["no-dedicated-network".to_string()])
    );
    let r = lint(&[
        "--allow",
        "lm-on-client-network",
        "--allow",
        "no-dedicated-network",
    ]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.out.ends_with("lint: clean\n"), "{}", r.out);
    // Gaps are noted, not linted: the layout is what lint judges.
    assert!(
        r.out
            .contains("note: network \"Heartbeat Cluster\" has no prefix"),
        "{}",
        r.out
    );
    let r = lint(&["--allow", "no-such-lint"]);
    assert_eq!(r.code, 2);
    assert!(r.err.starts_with("lanecheck: --allow no-such-lint: unknown lint id \"no-such-lint\" (ids: csv-lm-same-network, "), "{}", r.err);
    // lanecheck-derive.toml allows too.
    std::fs::write(
        dir.path().join("lanecheck-derive.toml"),
        "allow = [\"lm-on-client-network\"]\n",
    )
    .unwrap();
    let r = run_in(
        dir.path(),
        &[
            "policy",
            "lint",
            "--derive-from",
            ".",
            "--cluster-networks",
            "t.txt",
        ],
    );
    assert_eq!(
        (r.code, lint_ids(&r.out)),
        (1, vec!["no-dedicated-network".to_string()])
    );
}

#[test]
fn derive_from_a_folder_of_exports_as_windows_writes_them() {
    let lm = "{\"Name\":\"MigrationExcludeNetworks\",\"Value\":\"\"}";
    let settings = "# flags without an export\nos = \"2008r2\"\nlm-transport = \"smb\"\n";
    let dir = dir_with(&[
        ("get-clusternetwork.json", &utf8_bom(&json(&cluster_rows()))),
        (
            "Get-ClusterNetworkInterface.json",
            &utf16_bom(&cluster_interfaces()),
        ),
        ("live-migration.json", &utf8_bom(lm)),
        ("lanecheck-derive.toml", &utf8_bom(settings)),
        ("capture.pcapng", b"not read"),
    ]);
    let d = dir.path();
    let from_dir = run_in(d, &["policy", "derive", "--derive-from", "."]);
    assert_eq!((from_dir.code, from_dir.err.as_str()), (0, "lint: clean\n"));
    // The same inputs as flags, plain UTF-8 and LF.
    std::fs::write(d.join("n.json"), json(&cluster_rows())).unwrap();
    std::fs::write(d.join("i.json"), cluster_interfaces()).unwrap();
    std::fs::write(d.join("m.json"), lm).unwrap();
    let flags = run_in(
        d,
        &[
            "policy",
            "derive",
            "--cluster-networks",
            "n.json",
            "--cluster-interfaces",
            "i.json",
            "--live-migration",
            "m.json",
            "--os",
            "2008r2",
            "--lm-transport",
            "smb",
        ],
    );
    let parse = |t: &str| -> toml::Table { toml::from_str(t).unwrap() };
    assert_eq!(parse(&from_dir.out), parse(&flags.out));
    let p = parse(&from_dir.out);
    assert_eq!(p["roles"]["cluster_nodes"].as_array().unwrap().len(), 3);
    assert_eq!(
        p["interfaces"]["heartbeat"].as_str(),
        Some("Heartbeat Cluster")
    );
    assert_eq!(p["hosts"]["node2"].as_array().unwrap().len(), 5);
    // 2008 R2, with SMB live migration: CSV on its network, and the live
    // migration networks too, since SMB live migration looks like CSV.
    assert_eq!(
        nets(&p, "smb-redirected"),
        [
            "CSV Cluster",
            "LM Cluster",
            "Heartbeat Cluster",
            "Host Access Cluster"
        ]
    );
    assert_eq!(
        p["classes"]["smb-redirected"]["on_fallback"].as_str(),
        Some("allow")
    );
    // Flags add to the folder: --os wins.
    let r = run_in(
        d,
        &[
            "policy",
            "derive",
            "--derive-from",
            ".",
            "--os",
            "2012+",
            "--lm-transport",
            "tcp",
        ],
    );
    assert_eq!(nets(&parse(&r.out), "smb-redirected")[0], "CSV Cluster");
    assert_eq!(
        parse(&r.out)["classes"]["smb-redirected"]["on_fallback"].as_str(),
        Some("warn")
    );
    // A folder without any export is an error.
    let empty = tempfile::tempdir().unwrap();
    let r = run_in(empty.path(), &["policy", "derive", "--derive-from", "."]);
    assert_eq!(r.code, 2);
    assert!(
        r.err
            .starts_with("lanecheck: .: holds none of Get-ClusterNetwork.json, "),
        "{}",
        r.err
    );
}

/// What else Windows users save as `.json`: a CSV (`Export-Csv`) or
/// UTF-16 whose BOM was lost are errors at file:line:column saying what
/// the file is; a UTF-16 export with its BOM is read; IPv6 node addresses
/// are hosts' addresses.
#[test]
fn csv_and_bomless_utf16_exports_are_named_and_ipv6_nodes_read() {
    let nets = json(&cluster_rows());
    let csv = "\"Node\",\"Network\",\"Adapter\",\"Address\"\r\n\"node1\",\"CSV Cluster\",\"csv\",\"172.16.30.11\"\r\n";
    let bomless: Vec<u8> = cluster_interfaces()
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let v6 = r#"[{"Node": "node1", "Network": "CSV Cluster", "Adapter": "csv", "Address": "fd00:30::11"},
                 {"Node": "node1", "Network": "LM Cluster", "Adapter": "lm", "Address": "172.16.40.11"}]"#;
    let dir = dir_with(&[
        ("n.json", nets.as_bytes()),
        ("csv.json", csv.as_bytes()),
        ("bomless.json", &bomless),
        ("bom.json", &utf16_bom(&cluster_interfaces())),
        ("v6.json", v6.as_bytes()),
    ]);
    let derive = |ifaces: &str| {
        run_in(
            dir.path(),
            &[
                "policy",
                "derive",
                "--cluster-networks",
                "n.json",
                "--cluster-interfaces",
                ifaces,
            ],
        )
    };
    let r = derive("csv.json");
    assert_eq!((r.code, r.err.as_str()), (2, "lanecheck: csv.json:1:1: not JSON: the file starts with \"\\\"Node\\\",\\\"Network\\\",\\\"Adapter\\\",\\\"Address\\\"\", where a ConvertTo-Json export starts with { or [ (a CSV from Export-Csv, or a table, saved as .json?); export it with ConvertTo-Json as docs/derive.md shows\n"));
    let r = derive("bomless.json");
    assert_eq!((r.code, r.err.as_str()), (2, "lanecheck: bomless.json:1:1: UTF-16 text without a byte-order mark (NUL bytes between its characters); save it with Out-File -Encoding utf8, or keep the BOM Windows PowerShell writes\n"));
    let r = derive("bom.json");
    assert_eq!(r.code, 0, "{}", r.err);
    let r = derive("v6.json");
    assert_eq!(r.code, 0, "{}", r.err);
    let p: toml::Table = toml::from_str(&r.out).unwrap();
    assert_eq!(
        p["hosts"]["node1"].as_array().unwrap(),
        &vec![
            toml::Value::from("fd00:30::11"),
            toml::Value::from("172.16.40.11")
        ]
    );
}
