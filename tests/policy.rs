//! Policy files: the bundled ones are valid; broken ones give every error
//! with file, line and column.

use crate::util::{root, run};

fn check(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text).unwrap();
    let out = run(&["policy", "check", path.to_str().unwrap()]);
    let err = String::from_utf8(out.stderr)
        .unwrap()
        .replace(path.to_str().unwrap(), "p.toml");
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        err,
    )
}

#[test]
fn bundled_policies_are_valid() {
    for p in [
        "dpm.toml",
        "dpm-fallback.toml",
        "cluster.toml",
        "dpm-dns.toml",
        "failover.toml",
        "failover-kept.toml",
    ] {
        let out = run(&[
            "policy",
            "check",
            root().join("policies").join(p).to_str().unwrap(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{p}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = run(&[
        "policy",
        "check",
        root().join("policies/dpm-fallback.toml").to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("dpm              backup → primary; later networks are fallbacks (warning)"),
        "{text}"
    );
}

#[test]
fn every_error_is_located() {
    let text = "\
[networks]
primary = [\"10.10.12.0/24\"]
backup = [\"192.168.1.5/24\", \"10.10.12.0/24\"]
empty = []

[interfaces]
eth0 = \"primray\"

[classes.dpm]
networks = [\"backup\", \"nowhere\"]
on_fallback = \"maybe\"

[classes.veeam]
networks = [\"backup\"]

[[rules]]
class = \"x\"
";
    let (code, _, err) = check(text);
    assert_eq!(code, 2);
    let located: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("p.toml:") || l.starts_with("lanecheck: p.toml:"))
        .map(|l| l.trim_start_matches("lanecheck: "))
        .collect();
    assert_eq!(
        located,
        [
            "p.toml:3:11: prefix 192.168.1.5/24 has host bits set (did you mean 192.168.1.0/24?)",
            "p.toml:3:29: prefix 10.10.12.0/24 is already in network primary: a prefix belongs to one network",
            "p.toml:4:9: network empty is an empty list (allowed only for a network an [interfaces] or [vlans] entry maps to)",
            "p.toml:7:8: unknown network \"primray\" (networks: backup, empty, primary)",
            "p.toml:10:23: unknown network \"nowhere\" (networks: backup, empty, primary)",
            "p.toml:11:15: on_fallback must be \"warn\", \"fail\" or \"allow\", not \"maybe\"",
            "p.toml:13:10: unknown class \"veeam\" (built-in: dpm, dpm-control, smb-redirected, live-migration, cluster, iscsi, replication, dns, link-local, client, tunnel; or define it with a [[rules]] entry)",
            "p.toml:16:1: rule 1 names nothing (give proto, ports, hosts or an evidence key): it would match every flow",
        ]
    );
    // The offending line is quoted with a caret under the column.
    assert!(
        err.contains("  | eth0 = \"primray\"\n  |        ^"),
        "{err}"
    );
}

#[test]
fn erspan_session_keys_are_checked_and_located() {
    let text = "\
[networks]
backup = [\"192.168.1.0/24\"]

[interfaces]
\"erspan:7\" = \"backup\"
\"erspan:1024\" = \"backup\"
\"erspan:x\" = \"backup\"
";
    let (code, _, err) = check(text);
    assert_eq!(code, 2, "{err}");
    let located: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("p.toml:"))
        .map(|l| l.trim_start_matches("lanecheck: "))
        .collect();
    assert_eq!(
        located,
        [
            "p.toml:6:1: \"erspan:1024\" is not an ERSPAN session (erspan:0 to erspan:1023)",
            "p.toml:7:1: \"erspan:x\" is not an ERSPAN session (erspan:0 to erspan:1023)",
        ]
    );
    assert!(
        err.contains("  | \"erspan:x\" = \"backup\"\n  | ^"),
        "{err}"
    );
    // A valid session key (leading zeros allowed) checks clean.
    let (code, out, err) = check(
        "[networks]\nbackup = [\"192.168.1.0/24\"]\n\n[interfaces]\n\"erspan:007\" = \"backup\"\n",
    );
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn windows_interface_keys_are_checked_where_they_are_written() {
    let text = "\
[networks]
primary = [\"10.10.12.0/24\"]
backup = [\"192.168.1.0/24\"]

[interfaces]
\"{8E6E56A3-0FB3-47BF-836C}\" = \"backup\"
\"\\\\Device\\\\NPF_{nope}\" = \"backup\"
\"ifindex:twelve\" = \"primary\"
\"00:15:5d:01:02:zz\" = \"primary\"
\"mac:00-15-5D\" = \"primary\"
\"{c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f}\" = \"backup\"
\"\\\\Device\\\\NPF_{C1D2E3F4-A5B6-4C7D-8E9F-0A1B2C3D4E5F}\" = \"backup\"
\"vEthernet (LM)\" = \"backup\"
\"ifindex:12\" = \"primary\"
\"00-15-5D-01-02-03\" = \"primary\"
";
    let (code, _, err) = check(text);
    assert_eq!(code, 2, "{err}");
    let mut located: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("p.toml:") || l.starts_with("lanecheck: p.toml:"))
        .map(|l| l.trim_start_matches("lanecheck: "))
        .collect();
    located.sort();
    assert_eq!(
        located,
        [
            "p.toml:10:1: \"mac:00-15-5D\" is not a MAC address (like \"00:15:5d:01:02:03\" or \"00-15-5D-01-02-03\")",
            "p.toml:12:1: \"\\\\Device\\\\NPF_{C1D2E3F4-A5B6-4C7D-8E9F-0A1B2C3D4E5F}\" names the same interface as \"{c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f}\"",
            "p.toml:6:1: \"{8E6E56A3-0FB3-47BF-836C}\" is not an adapter GUID (like \"{8E6E56A3-0FB3-47BF-836C-B7E6C8002A9E}\", optionally after \\Device\\NPF_)",
            "p.toml:7:1: \"\\\\Device\\\\NPF_{nope}\" is not an adapter GUID (like \"{8E6E56A3-0FB3-47BF-836C-B7E6C8002A9E}\", optionally after \\Device\\NPF_)",
            "p.toml:8:1: \"ifindex:twelve\" is not an interface index (like \"ifindex:12\")",
            "p.toml:9:1: \"00:15:5d:01:02:zz\" is not a MAC address (like \"00:15:5d:01:02:03\" or \"00-15-5D-01-02-03\")",
        ]
    );
    // Without the bad ones the file is valid, and `policy check` lists every key.
    let good: String = text
        .lines()
        .enumerate()
        .filter(|(i, _)| !(5..=9).contains(i) && *i != 11)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let (code, out, err) = check(&good);
    assert_eq!(code, 0, "{err}");
    for key in [
        "{c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f}",
        "vEthernet (LM)",
        "ifindex:12",
        "00-15-5D-01-02-03",
    ] {
        assert!(out.contains(key), "{key} in {out}");
    }
}

#[test]
fn syntax_and_unknown_keys() {
    let (code, _, err) = check("[networks]\nprimary = [\"10.0.0.0/8\"]\n\n[networkz]\n");
    assert_eq!(code, 2);
    assert!(
        err.starts_with("lanecheck: p.toml:4:2: unknown field `networkz`"),
        "{err}"
    );
    let (_, _, err) = check("[classes.dpm]\nnetwork = [\"a\"]\n");
    assert!(
        err.starts_with(
            "lanecheck: p.toml:2:1: unknown field `network`, expected `networks` or `on_fallback`"
        ),
        "{err}"
    );
    let (_, _, err) = check("[networks\n");
    assert!(err.starts_with("lanecheck: p.toml:1:10: "), "{err}");
    let (_, _, err) = check(
        "[[rules]]\nclass = \"veeam\"\nproto = \"tcp\"\nports = [2500, \"49152-40000\", 70000]\n",
    );
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("p.toml:")).collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].ends_with(
            "p.toml:4:16: a port is a number 0-65535 or a range \"low-high\" with low <= high"
        ),
        "{err}"
    );
    assert!(lines[1].starts_with("p.toml:4:31: "), "{err}");
}

#[test]
fn user_rules_classify_before_built_ins() {
    let dir = tempfile::tempdir().unwrap();
    let truth = fixgen::write("dpm_backup_lan", dir.path()).unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        "[networks]\nprimary = [\"10.10.12.0/24\"]\nbackup = [\"192.168.1.0/24\"]\n\n\
         [[rules]]\nclass = \"agent-coordinator\"\nproto = \"tcp\"\nports = [5718]\nside = \"server\"\nnetworks = [\"primary\"]\n",
    )
    .unwrap();
    let doc = crate::util::run_json(
        &[
            "audit",
            "-p",
            policy.to_str().unwrap(),
            "--flows",
            truth.file.to_str().unwrap(),
        ],
        1,
    );
    let f = truth.flows.iter().find(|f| f.dport == 5718).unwrap();
    let v = &doc["violations"][0];
    assert_eq!(v["class"], "agent-coordinator");
    assert_eq!(v["bytes"], f.bytes);
    assert_eq!(
        v["class_reason"],
        "rule 1: tcp port 5718 server side (agent-coordinator)"
    );
    assert_eq!(doc["violations"].as_array().unwrap().len(), 1);
}

#[test]
fn rules_that_would_match_everything_are_errors() {
    let (code, _, err) = check("[[rules]]\nclass = \"x\"\nproto = \"any\"\n");
    assert_eq!(code, 2);
    assert!(err.contains("p.toml:1:1: rule 1 names nothing"), "{err}");
    // A role nobody is in resolves to no address: not "any host".
    let (code, _, err) = check(
        "[hosts]\ndpm = [\"10.0.0.1\"]\n[roles]\ndpm_servers = [\"dpm\"]\n[[rules]]\nclass = \"veeam\"\nhosts = [\"replica_servers\"]\n",
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("p.toml:7:9: rule hosts resolve to no address"),
        "{err}"
    );
}

#[test]
fn dns_vlan_retired_and_evidence_errors_are_located() {
    // Top-level keys come before the first table (TOML).
    let text = "\
retired = [\"primary\", \"gone\"]

[networks]
primary = [\"10.10.12.0/24\"]
recovery = [\"172.16.1.0/24\"]

[vlans]
120 = \"recovery\"
5000 = \"primary\"
110 = \"nowhere\"

[[dns]]
names = [\"ps.x.y.com\", \"*.\", \"bad name\"]
must_include = [\"recovry\"]
max_ttl = \"soon\"

[[dns]]
names = [\"*.apps.contoso.com\"]

[[rules]]
class = \"lm\"
smb_share = \"[\"
rpc_interface = \"not-a-uuid\"
";
    let (code, _, err) = check(text);
    assert_eq!(code, 2, "{err}");
    let located: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("p.toml:") || l.starts_with("lanecheck: p.toml:"))
        .map(|l| l.trim_start_matches("lanecheck: "))
        .collect();
    assert_eq!(
        located,
        [
            "p.toml:1:23: unknown network \"gone\" (networks: primary, recovery)",
            "p.toml:9:1: \"5000\" is not a VLAN id (1-4094)",
            "p.toml:10:7: unknown network \"nowhere\" (networks: primary, recovery)",
            "p.toml:13:24: \"*.\" is not a DNS name or a \"*.suffix\" pattern",
            "p.toml:13:30: \"bad name\" is not a DNS name or a \"*.suffix\" pattern",
            "p.toml:14:17: unknown network \"recovry\" (networks: primary, recovery)",
            "p.toml:15:11: max_ttl: invalid duration \"soon\" (examples: 500ms, 60s, 2m, 1h)",
            "p.toml:17:1: dns rule 2 checks nothing (give must_include, all_in or max_ttl)",
            "p.toml:22:13: smb_share \"[\" is not a glob pattern: invalid range pattern",
            "p.toml:23:17: rpc_interface \"not-a-uuid\" is not a UUID (like \"e1af8308-5d1f-11c9-91a4-08002b14a0fa\")",
        ],
        "{err}"
    );
}

#[test]
fn a_utf16_policy_says_what_it_is_and_how_to_save_it() {
    // What `Get-ClusterNetwork ... > policy.toml` gives on Windows
    // PowerShell 5.1: UTF-16 little-endian with a byte order mark.
    let dir = tempfile::tempdir().unwrap();
    let text = "[networks]\nprimary = [\"10.10.12.0/24\"]\n";
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let p = dir.path().join("p.toml");
    std::fs::write(&p, &utf16).unwrap();
    let out = run(&["policy", "check", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "lanecheck: {}: cannot read policy: it is UTF-16 text (what Windows PowerShell 5.1 writes with > or Out-File); save it as UTF-8 (Out-File -Encoding utf8, or Set-Content)",
            p.display()
        )
    );
    // Any other byte that is not UTF-8: where.
    let mut latin1 = text.as_bytes().to_vec();
    latin1.extend(b"# caf\xe9\n");
    std::fs::write(&p, &latin1).unwrap();
    let out = run(&["policy", "check", p.to_str().unwrap()]);
    let at = text.len() + 5;
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "lanecheck: {}: cannot read policy: not UTF-8 text (byte {at} is not)",
            p.display()
        )
    );
}

/// `[classes.X] networks = []`: the class may travel nowhere (what `policy
/// derive` writes for a class no network is chosen for); every flow of it
/// is a violation, on whatever network.
#[test]
fn an_empty_class_list_allows_the_class_nowhere() {
    let text = "[networks]\nprimary = [\"10.10.12.0/24\"]\nbackup = [\"192.168.1.0/24\"]\n\n[classes.dpm]\nnetworks = []\n";
    let (code, out, err) = check(text);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("\n  dpm              nowhere (every flow of it is a violation)\n"),
        "{out}"
    );
    let dir = tempfile::tempdir().unwrap();
    let truth = fixgen::write("dpm_backup_lan", dir.path()).unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, text).unwrap();
    let doc = crate::util::run_json(
        &[
            "audit",
            "-p",
            policy.to_str().unwrap(),
            truth.file.to_str().unwrap(),
        ],
        1,
    );
    let mut want: Vec<(String, u64)> = truth
        .flows
        .iter()
        .filter(|f| f.class == "dpm")
        .map(|f| {
            let net = f.network;
            (
                format!("network {net} not allowed for dpm (allowed: none)"),
                f.bytes,
            )
        })
        .collect();
    let mut got: Vec<(String, u64)> = doc["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let first = v["reasons"][0].as_str().unwrap().to_string();
            (first, v["bytes"].as_u64().unwrap())
        })
        .collect();
    want.sort();
    got.sort();
    assert!(!want.is_empty());
    assert_eq!(got, want);
}

/// A prefix inside another network's is allowed (the longest prefix wins)
/// and said, so a typo that moves addresses between networks is seen.
#[test]
fn nested_prefixes_are_said() {
    let (code, out, err) = check(
        "[networks]\nprimary = [\"10.0.0.0/16\", \"fd00:1::/48\"]\nbackup = [\"10.0.5.0/24\", \"fd00:1:0:2::/64\"]\nlm = [\"10.9.0.0/24\"]\n",
    );
    assert_eq!(code, 0, "{err}");
    let notes: Vec<&str> = out.lines().filter(|l| l.starts_with("  note: ")).collect();
    assert_eq!(
        notes,
        [
            "  note: 10.0.5.0/24 (backup) lies inside 10.0.0.0/16 (primary): its addresses are backup (the longest prefix wins)",
            "  note: fd00:1:0:2::/64 (backup) lies inside fd00:1::/48 (primary): its addresses are backup (the longest prefix wins)",
        ],
        "{out}"
    );
    let (_, out, _) =
        check("[networks]\nprimary = [\"10.0.0.0/24\"]\nbackup = [\"10.0.1.0/24\"]\n");
    assert!(!out.contains("note:"), "{out}");
}

/// `HOST/KEY` names interface KEY on a `[hosts]` entry: an unknown HOST
/// (or nothing after it) is an error at the key; two hosts may give one
/// GUID or index each, one host not twice.
#[test]
fn host_interface_keys_name_a_known_host() {
    let text = "\
[networks]
lm = [\"172.16.40.0/24\"]
csv = [\"172.16.30.0/24\"]

[interfaces]
\"node1/Ethernet 2\" = \"lm\"
\"NODE2/Ethernet 2\" = \"csv\"
\"node3/Ethernet 2\" = \"csv\"
\"node1/\" = \"csv\"
\"node1/ifindex:12\" = \"lm\"
\"node2/ifindex:12\" = \"csv\"
\"Node1/ifindex:12\" = \"csv\"

[hosts]
node1 = [\"172.16.40.11\"]
node2 = [\"172.16.40.12\"]
";
    let (code, _, err) = check(text);
    assert_eq!(code, 2, "{err}");
    let located: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("p.toml:"))
        .map(|l| l.trim_start_matches("lanecheck: "))
        .collect();
    assert_eq!(
        located,
        [
            "p.toml:8:1: unknown host \"node3\" in \"node3/Ethernet 2\": a key HOST/KEY names interface KEY on the [hosts] entry HOST (hosts: node1, node2)",
            "p.toml:9:1: \"node1/\" names no interface after its host (HOST/KEY)",
            "p.toml:12:1: \"Node1/ifindex:12\" names the same interface as \"node1/ifindex:12\"",
        ]
    );
    let good: String = text
        .lines()
        .enumerate()
        .filter(|(i, _)| ![7, 8, 11].contains(i))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let (code, out, err) = check(&good);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("NODE2/Ethernet 2"), "{out}");
}

/// Type errors are not only the first one serde meets: each entry of a
/// section, each rule and each other top-level entry is told.
#[test]
fn every_type_error_is_located() {
    let (code, _, err) = check(concat!(
        "[networks]\n",
        "primary = [\"10.0.0.0/24\"]\n",
        "backup = \"10.0.1.0/24\"\n",
        "[hosts]\n",
        "dpm = 5\n",
        "ps = [\"10.0.0.2\"]\n",
        "[classes.dpm]\n",
        "networks = \"backup\"\n",
        "[classes.client]\n",
        "netwerks = [\"primary\"]\n",
        "[[rules]]\n",
        "class = \"dpm\"\n",
        "ports = \"x\"\n",
        "[[rules]]\n",
        "class = 7\n",
    ));
    assert_eq!(code, 2);
    let located: Vec<&str> = err
        .lines()
        .filter_map(|l| l.split_once("p.toml:").map(|(_, rest)| rest))
        .collect();
    assert_eq!(
        located,
        [
            "3:10: invalid type: string \"10.0.1.0/24\", expected a sequence",
            "5:7: invalid type: integer `5`, expected a sequence",
            "8:12: invalid type: string \"backup\", expected a sequence",
            "10:1: unknown field `netwerks`, expected `networks` or `on_fallback`",
            "13:9: invalid type: string \"x\", expected a sequence",
            "15:9: invalid type: integer `7`, expected a string",
        ],
        "{err}"
    );
}
