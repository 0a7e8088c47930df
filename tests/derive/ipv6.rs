//! Every prefix of a cluster network: `Address`/`AddressMask`, and in a
//! full `Get-ClusterNetwork | ConvertTo-Json` the `Ipv4Addresses` and
//! `Ipv6Addresses` lists with their prefix lengths; `--address` adds one
//! (the review's IPv6 live migration judged on network `unknown`).

use fixgen::NgWriter;

use super::*;

/// A full export (PowerShell 5.1 layout): network 1 dual stack with
/// clients, network 2 IPv6 only, network 3 dual stack.
const FULL_EXPORT: &str = r#"[
    {
        "Name":  "Cluster Network 1",
        "Ipv6Addresses":  ["fd00:10::"],
        "Ipv6PrefixLengths":  [64],
        "Ipv4Addresses":  ["10.10.12.0"],
        "Ipv4PrefixLengths":  [24],
        "Address":  "10.10.12.0",
        "AddressMask":  "255.255.255.0",
        "Role":  3, "AutoMetric":  true, "Metric":  70384, "State":  3,
        "Id":  "11111111-0000-0000-0000-000000000001"
    },
    {
        "Name":  "Cluster Network 2",
        "Ipv6Addresses":  ["fd00:20::"],
        "Ipv6PrefixLengths":  ["64"],
        "Ipv4Addresses":  [],
        "Ipv4PrefixLengths":  [],
        "Address":  "",
        "AddressMask":  "",
        "Role":  1, "AutoMetric":  true, "Metric":  30384, "State":  3,
        "Id":  "11111111-0000-0000-0000-000000000002"
    },
    {
        "Name":  "Cluster Network 3",
        "Ipv6Addresses":  ["fd00:30::"],
        "Ipv6PrefixLengths":  [64],
        "Ipv4Addresses":  ["172.16.2.0"],
        "Ipv4PrefixLengths":  [24],
        "Address":  "172.16.2.0",
        "AddressMask":  "255.255.255.0",
        "Role":  1, "AutoMetric":  true, "Metric":  30240, "State":  3,
        "Id":  "11111111-0000-0000-0000-000000000003"
    }
]"#;

/// One live migration fd00:20::11 → fd00:20::12:6600 on an unnamed
/// interface: SYN, SYN-ACK, then ten 1000-byte segments. Returns the
/// pcapng and the frames' total length.
fn ipv6_migration() -> (Vec<u8>, u64) {
    let (a, b) = (
        "fd00:20::11"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
        "fd00:20::12"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    let frame = |from_a: bool, seq: u32, syn: bool, len: usize| {
        let (src, dst, sp, dp) = if from_a {
            (a, b, 50001, 6600)
        } else {
            (b, a, 6600, 50001)
        };
        let mut t = etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv6(src, dst, 64)
            .tcp(sp, dp, seq, 64_000);
        if syn {
            t = t.syn();
        }
        let mut out = Vec::new();
        t.write(&mut out, &vec![0x66; len]).unwrap();
        out
    };
    let mut frames = vec![frame(true, 1, true, 0), frame(false, 9, true, 0)];
    for k in 0..10u32 {
        frames.push(frame(true, 2 + k * 1000, false, 1000));
    }
    let mut w = NgWriter::new(false);
    w.section(&[]);
    w.interface(1, &[]);
    let mut total = 0;
    for (k, f) in frames.iter().enumerate() {
        // 1.7e9 s in microseconds, one frame a millisecond.
        w.epb(
            0,
            1_700_000_000_000_000 + k as u64 * 1000,
            f,
            f.len() as u32,
            &[],
        );
        total += f.len() as u64;
    }
    (w.out, total)
}

#[test]
fn ipv6_prefixes_of_a_full_export_are_networks() {
    let dir = dir_with(&[
        ("Get-ClusterNetwork.json", FULL_EXPORT.as_bytes()),
        ("lanecheck-derive.toml", b"allow = [\"csv-on-heartbeat\"]\n"),
    ]);
    let r = run_in(dir.path(), &["policy", "derive", "--derive-from", "."]);
    assert_eq!((r.code, r.err.as_str()), (0, "lint: clean\n"), "{}", r.out);
    let start = r.out.find("\n[networks]\n").unwrap();
    let end = r.out.find("\n[classes.").unwrap();
    assert_eq!(
        &r.out[start..end],
        "
[networks]
# \"Cluster Network 1\": role 3 (ClusterAndClient), metric 70384 (automatic),
# Up; ./Get-ClusterNetwork.json.
# Prefixes: 10.10.12.0/24, fd00:10::/64 from its JSON object
# (Address/AddressMask, Ipv4Addresses, Ipv6Addresses).
\"Cluster Network 1\" = [\"10.10.12.0/24\", \"fd00:10::/64\"]
# \"Cluster Network 2\": role 1 (Cluster), metric 30384 (automatic), Up;
# ./Get-ClusterNetwork.json.
# Prefixes: fd00:20::/64 from its JSON object (Address/AddressMask,
# Ipv4Addresses, Ipv6Addresses).
\"Cluster Network 2\" = [\"fd00:20::/64\"]
# \"Cluster Network 3\": role 1 (Cluster), metric 30240 (automatic), Up;
# ./Get-ClusterNetwork.json.
# Prefixes: 172.16.2.0/24, fd00:30::/64 from its JSON object
# (Address/AddressMask, Ipv4Addresses, Ipv6Addresses).
\"Cluster Network 3\" = [\"172.16.2.0/24\", \"fd00:30::/64\"]
"
    );
    // Live migration inside fd00:20::/64 is on Cluster Network 2, its
    // first network (the next lowest metric), with every byte.
    let (pcapng, bytes) = ipv6_migration();
    let capture = dir.path().join("lm6.pcapng");
    std::fs::write(&capture, pcapng).unwrap();
    let (code, doc) = audit_json(&["--derive-from", dir.path().to_str().unwrap()], &capture);
    assert_eq!(
        (code, doc["violations"].clone()),
        (0, serde_json::json!([])),
        "{doc}"
    );
    let lm = crate::audit::class(&doc, "live-migration");
    let n = &lm["networks"][0];
    assert_eq!(
        (
            n["network"].as_str(),
            n["bytes"].as_u64(),
            n["status"].as_str()
        ),
        (Some("Cluster Network 2"), Some(bytes), Some("preferred"))
    );
    assert_eq!(
        bytes,
        2 * 74 + 10 * 1074,
        "Ethernet 14 + IPv6 40 + TCP 20 (+ 1000)"
    );
}

#[test]
fn repeated_address_flags_add_prefixes() {
    let dir = dir_with(&[("t.txt", THREE_NETWORKS.as_bytes())]);
    let r = run_in(
        dir.path(),
        &[
            "policy",
            "derive",
            "--cluster-networks",
            "t.txt",
            "--address",
            "Heartbeat Cluster=172.16.20.0/24",
            "--address",
            "Heartbeat Cluster=fd00:20::/64",
        ],
    );
    assert!(
        r.out.contains(
            "# Prefixes: 172.16.20.0/24 from --address Heartbeat Cluster=172.16.20.0/24;
# fd00:20::/64 from --address Heartbeat Cluster=fd00:20::/64.
\"Heartbeat Cluster\" = [\"172.16.20.0/24\", \"fd00:20::/64\"]
"
        ),
        "{}",
        r.out
    );
    // A flag adds to what the JSON gives; a JSON network without any
    // address is a gap whose note says so (not Format-Table's fault).
    let export = FULL_EXPORT
        .replace("[\"fd00:20::\"]", "[]")
        .replace("[\"64\"]", "[]");
    std::fs::write(dir.path().join("n.json"), export).unwrap();
    let r = run_in(
        dir.path(),
        &[
            "policy",
            "derive",
            "--cluster-networks",
            "n.json",
            "--address",
            "Cluster Network 1=10.10.13.0/24",
            "--allow",
            "csv-on-heartbeat",
        ],
    );
    assert!(
        r.out.contains(
            "\n\"Cluster Network 1\" = [\"10.10.12.0/24\", \"fd00:10::/64\", \"10.10.13.0/24\"]\n"
        ),
        "{}",
        r.out
    );
    assert_eq!(
        (r.code, r.err.as_str()),
        (1, "note: network \"Cluster Network 2\" has no prefix (its JSON object gives no Address, Ipv4Addresses or Ipv6Addresses): the policy marks the gap, which policy check reports; derive again with --address \"Cluster Network 2=PREFIX\" (with --derive-from DIR: address = [\"Cluster Network 2=PREFIX\"] in DIR/lanecheck-derive.toml)\nlint: clean\n")
    );
}
