//! `--violations-pcap`: the file read back with tshark holds exactly the
//! violating flows' packets (fixgen's bookkeeping for packets, bytes, first
//! and last packet time and NICs; tshark's dissection for which flow each
//! packet is), one interface block per capture NIC, and one comment per
//! flow, on its first packet, naming what the JSON report says.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use fixgen::{CaptureTruth, FlowTruth};
use serde_json::Value;

use crate::audit::{generate, policy};
use crate::util::{run, run_json};

/// One packet as tshark dissects it.
#[derive(Debug)]
pub(crate) struct Packet {
    /// (proto family, lower endpoint, higher endpoint): the flow, whichever way.
    pub flow: (String, (String, u16), (String, u16)),
    pub len: u64,
    pub time_ns: i64,
    pub iface: String,
    pub comment: String,
    /// A SYN without ACK.
    pub syn: bool,
}

const FIELDS: [&str; 17] = [
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "frame.len",
    "frame.time_epoch",
    "frame.interface_name",
    "frame.comment",
    "tcp.flags.syn",
    "tcp.flags.ack",
    "frame.number",
    "ip.reassembled_in",
    "ipv6.reassembled.in",
];

/// Every packet of FILE by tshark (first occurrence of each field, so an
/// ICMP error's quoted header does not count), or `None` after a skip. An
/// IP fragment without ports is a packet of the flow of the frame its
/// datagram was reassembled in (two passes: also one that came before it).
pub(crate) fn tshark_packets(file: &Path) -> Option<Vec<Packet>> {
    let file = file.to_str().unwrap();
    let mut args = vec!["-2", "-n", "-r", file, "-T", "fields", "-E", "occurrence=f"];
    for f in FIELDS {
        args.extend(["-e", f]);
    }
    let text = crate::util::tshark_output("violations pcap", &args)?;
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut packets: Vec<Packet> = rows.iter().map(|f| packet(f)).collect();
    for (i, f) in rows.iter().enumerate() {
        let elsewhere = [f[15], f[16]].concat();
        if packets[i].flow.0 != "other" || elsewhere.is_empty() {
            continue;
        }
        let at = rows.iter().position(|r| r[14] == elsewhere);
        if let Some(flow) = at.map(|j| packets[j].flow.clone()) {
            packets[i].flow = flow;
        }
    }
    Some(packets)
}

fn packet(f: &[&str]) -> Packet {
    let addr = |v4: &str, v6: &str| if v4.is_empty() { v6 } else { v4 }.to_string();
    let (src, dst) = (addr(f[0], f[2]), addr(f[1], f[3]));
    let port = |s: &str| s.parse::<u16>().unwrap_or(0);
    let (family, sp, dp) = match (f[4], f[6]) {
        ("", "") => ("other", 0, 0),
        ("", _) => ("udp", port(f[6]), port(f[7])),
        _ => ("tcp", port(f[4]), port(f[5])),
    };
    let (secs, frac) = f[9].split_once('.').unwrap();
    let time_ns = secs.parse::<i64>().unwrap() * 1_000_000_000
        + format!("{frac:0<9}")[..9].parse::<i64>().unwrap();
    Packet {
        flow: flow_key(family, (src, sp), (dst, dp)),
        len: f[8].parse().unwrap(),
        time_ns,
        iface: f[10].to_string(),
        comment: f[11].to_string(),
        syn: f[12] == "1" && f[13] == "0",
    }
}

type FlowId = (String, (String, u16), (String, u16));

fn flow_key(family: &str, a: (String, u16), b: (String, u16)) -> FlowId {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    (family.to_string(), lo, hi)
}

fn truth_key(f: &FlowTruth) -> FlowId {
    let family = match f.proto {
        "tcp" | "udp" => f.proto,
        _ => "other",
    };
    flow_key(
        family,
        (f.src.to_string(), f.sport),
        (f.dst.to_string(), f.dport),
    )
}

/// The comment lanecheck puts on a violating flow's first packet, from the
/// JSON report's violation.
pub(crate) fn expected_comment(v: &Value) -> String {
    let mut place = format!("network {}", v["network"].as_str().unwrap());
    if let Some(i) = v["interface"].as_str() {
        place.push_str(&format!(", interface {i}"));
    }
    if let Some(vlan) = v["vlan"].as_u64() {
        place.push_str(&format!(", VLAN {vlan}"));
    }
    format!(
        "lanecheck violation: class {} on {place}: {}; community id {}",
        v["class"].as_str().unwrap(),
        v["reason"].as_str().unwrap(),
        v["community_id"].as_str().unwrap()
    )
}

/// The interface names of FILE's interface blocks, by capinfos.
fn idb_names(file: &Path) -> Vec<String> {
    let out = Command::new("capinfos")
        .arg(file)
        .output()
        .expect("capinfos (wireshark-common, with tshark)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let count: usize = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Number of interfaces in file:"))
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Name = "))
        .map(str::to_string)
        .collect();
    names.resize(count, String::new());
    names.sort();
    names
}

/// Audits `t` with `policy_file`, writing `--violations-pcap`; returns the
/// JSON report and the file.
fn audit_with_pcap(
    policy_file: &str,
    t: &CaptureTruth,
    dir: &Path,
    code: i32,
) -> (Value, std::path::PathBuf) {
    let out = dir.join("violations.pcapng");
    let doc = run_json(
        &[
            "audit",
            "--policy",
            policy_file,
            "--violations-pcap",
            out.to_str().unwrap(),
            t.file.to_str().unwrap(),
        ],
        code,
    );
    (doc, out)
}

/// The truth flow of a JSON violation.
fn truth_of<'a>(t: &'a CaptureTruth, v: &Value) -> &'a FlowTruth {
    t.flows
        .iter()
        .find(|f| {
            // ICMP "ports" in JSON are the Community ID mapping; fixgen's are 0.
            let ports = !matches!(f.proto, "tcp" | "udp")
                || (v["sport"] == f.sport && v["dport"] == f.dport);
            v["proto"] == f.proto
                && v["src"] == f.src.to_string()
                && v["dst"] == f.dst.to_string()
                && ports
        })
        .unwrap_or_else(|| panic!("no truth flow for {v}"))
}

/// Every packet of `pcap` belongs to a violating flow of `doc`, each such
/// flow is there whole (fixgen's packets, bytes, times, NICs), and its
/// first packet carries its comment; no other packet has one.
pub(crate) fn assert_exactly_the_violations(
    name: &str,
    doc: &Value,
    t: &CaptureTruth,
    pcap: &[Packet],
) {
    let mut by_flow: BTreeMap<FlowId, Vec<&Packet>> = BTreeMap::new();
    for p in pcap {
        by_flow.entry(p.flow.clone()).or_default().push(p);
    }
    let violations = doc["violations"].as_array().unwrap();
    assert_eq!(by_flow.len(), violations.len(), "{name}: flows in the pcap");
    for v in violations {
        let f = truth_of(t, v);
        let got = by_flow
            .get(&truth_key(f))
            .unwrap_or_else(|| panic!("{name}: {f:?} missing from the pcap"));
        let bytes: u64 = got.iter().map(|p| p.len).sum();
        assert_eq!(
            (got.len() as u64, bytes),
            (f.packets, f.bytes),
            "{name}: {f:?}"
        );
        assert_eq!(
            (v["packets"].as_u64(), v["bytes"].as_u64()),
            (Some(f.packets), Some(f.bytes))
        );
        let times: Vec<i64> = got.iter().map(|p| p.time_ns).collect();
        assert_eq!(
            (times.iter().min(), times.iter().max()),
            (Some(&f.first_seen_ns), Some(&f.last_seen_ns)),
            "{name}: {f:?}"
        );
        let ifaces: BTreeSet<&str> = got
            .iter()
            .map(|p| p.iface.as_str())
            .filter(|i| !i.is_empty())
            .collect();
        let mut want: BTreeSet<&str> = f.interfaces.iter().map(String::as_str).collect();
        if want.is_empty() {
            // An unnamed interface (classic pcap): tshark shows its
            // description, the capture it came from.
            want.insert(t.file.to_str().unwrap());
        }
        assert_eq!(ifaces, want, "{name}: {f:?}");
        let comments: Vec<&str> = got.iter().map(|p| p.comment.as_str()).collect();
        assert_eq!(comments[0], expected_comment(v), "{name}");
        assert!(
            comments[1..].iter().all(|c| c.is_empty()),
            "{name}: {comments:?}"
        );
    }
    let total: (u64, u64) = violations.iter().fold((0, 0), |(p, b), v| {
        (
            p + v["packets"].as_u64().unwrap(),
            b + v["bytes"].as_u64().unwrap(),
        )
    });
    let read: u64 = pcap.iter().map(|p| p.len).sum();
    assert_eq!((pcap.len() as u64, read), total, "{name}: file totals");
}

#[test]
fn failing_scenarios_write_exactly_their_violating_flows() {
    let cases = [
        ("dpm_primary_lan", "dpm.toml"),
        ("dpm_backup_addr_on_primary_nic", "dpm.toml"),
        ("dpm_dcom_learned", "dpm.toml"),
        ("dpm_dns_wrong", "dpm-dns.toml"),
        ("cluster_bad", "cluster.toml"),
        ("cluster_fe80", "cluster.toml"),
        ("ipv6_dpm", "dpm.toml"),
        ("dpm_frag_reversed", "dpm.toml"),
        ("vlan_dpm", "dpm.toml"),
        ("failover_changed", "failover.toml"),
        ("failover_kept_vlan", "failover-kept.toml"),
    ];
    for (name, policy_file) in cases {
        let (dir, t) = generate(name);
        let (doc, out) = audit_with_pcap(&policy(policy_file), &t, dir.path(), 1);
        assert!(
            !doc["violations"].as_array().unwrap().is_empty(),
            "{name}: {doc}"
        );
        let Some(pcap) = tshark_packets(&out) else {
            return;
        };
        assert_exactly_the_violations(name, &doc, &t, &pcap);
        // One interface block per capture NIC, names kept (a classic pcap
        // has one, unnamed).
        let mut want = t.interfaces.clone();
        if want.is_empty() {
            want.push(String::new());
        }
        assert_eq!(idb_names(&out), want, "{name}");
    }
}

/// A policy file in `dir`: a bundled one with `extra` appended.
fn policy_plus(dir: &Path, base: &str, extra: &str) -> String {
    let text = std::fs::read_to_string(policy(base)).unwrap() + extra;
    let p = dir.join("policy.toml");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn evidence_decides_which_flows_are_written_whole() {
    // SMB between cluster nodes is provisionally CSV redirected I/O. On the
    // CSV network, 49911's tree connect to ClusterStorage$ makes it client
    // traffic, which the policy keeps on hostaccess: a violation known only
    // mid-flow. On the LM network, 50011 is a violation until its tree
    // connect to VMMigration$ makes it smb-live-migration, allowed there.
    let (dir, t) = generate("cluster_smb_shares");
    let p = policy_plus(
        dir.path(),
        "cluster.toml",
        "\n[[rules]]\nclass = \"smb-live-migration\"\nproto = \"tcp\"\nports = [445]\nsmb_share = \"VMMigration*\"\nnetworks = [\"lm\"]\n",
    );
    let (doc, out) = audit_with_pcap(&p, &t, dir.path(), 1);
    let late = t.flows.iter().find(|f| f.sport == 49911).unwrap();
    assert_eq!((late.class, late.network), ("client", "csv"));
    let violations = doc["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1, "{doc}");
    assert_eq!(violations[0]["sport"], 49911);
    let Some(pcap) = tshark_packets(&out) else {
        return;
    };
    assert_exactly_the_violations("cluster_smb_shares", &doc, &t, &pcap);
    // Written from its SYN on, though it was allowed until the tree connect.
    assert!(pcap[0].syn && pcap[0].time_ns == late.first_seen_ns);
}

#[test]
fn a_passing_audit_writes_an_empty_capture() {
    let (dir, t) = generate("dpm_backup_lan");
    let (doc, out) = audit_with_pcap(&policy("dpm.toml"), &t, dir.path(), 0);
    assert_eq!(doc["verdict"], "pass");
    let Some(pcap) = tshark_packets(&out) else {
        return;
    };
    assert!(pcap.is_empty());
}

#[test]
fn standard_input_and_the_audited_file_itself_are_refused() {
    let (dir, t) = generate("dpm_primary_lan");
    let p = policy("dpm.toml");
    let out = dir.path().join("v.pcapng");
    let stdin = run(&[
        "audit",
        "-p",
        &p,
        "--violations-pcap",
        out.to_str().unwrap(),
        "-",
    ]);
    assert_eq!(stdin.status.code(), Some(2));
    let err = String::from_utf8_lossy(&stdin.stderr);
    assert!(
        err.contains("each must be a regular file; - is not"),
        "{err}"
    );
    assert!(!out.exists());
    let before = std::fs::read(&t.file).unwrap();
    let same = t.file.to_str().unwrap();
    let itself = run(&["audit", "-p", &p, "--violations-pcap", same, same]);
    assert_eq!(itself.status.code(), Some(2));
    let err = String::from_utf8_lossy(&itself.stderr);
    assert!(
        err.contains("would overwrite a capture being audited"),
        "{err}"
    );
    assert_eq!(std::fs::read(&t.file).unwrap(), before);
}

#[test]
fn no_place_for_the_journal_is_refused_before_any_output_is_made() {
    let (dir, t) = generate("dpm_primary_lan");
    let p = policy("dpm.toml");
    let keep = dir.path().join("keep.json");
    std::fs::write(&keep, b"an earlier summary").unwrap();
    // FILE's directory (/proc/self) and the temporary directory can hold
    // no journal.
    let out = crate::util::lanecheck()
        .env("TMPDIR", "/nonexistent")
        .args(["audit", "-p", &p, "--save", keep.to_str().unwrap()])
        .args(["--violations-pcap", "/proc/self/v.pcapng"])
        .arg(&t.file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("keeps a journal of flow numbers while it reads: no scratch file can be made"),
        "{err}"
    );
    assert_eq!(std::fs::read(&keep).unwrap(), b"an earlier summary");
}

/// (packets, bytes) of FILE's packets that tshark puts in the flow of `v`.
fn tshark_flow_totals(file: &Path, v: &Value) -> Option<(u64, u64)> {
    let want = flow_key(
        "tcp",
        (v["src"].as_str()?.to_string(), v["sport"].as_u64()? as u16),
        (v["dst"].as_str()?.to_string(), v["dport"].as_u64()? as u16),
    );
    let all = tshark_packets(file)?;
    let mine: Vec<&Packet> = all.iter().filter(|p| p.flow == want).collect();
    Some((mine.len() as u64, mine.iter().map(|p| p.len).sum()))
}

#[test]
fn verify_writes_the_live_violating_flow() {
    use crate::netns::{root_or_skip, Lab};
    if !root_or_skip("verify_writes_the_live_violating_flow") {
        return;
    }
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let (all, out) = (dir.path().join("all.pcapng"), dir.path().join("v.pcapng"));
    // Backup data over the primary link, and client traffic there too.
    let both = "python3 -c \"$0\" 10.10.12.90 5719 400000 & python3 -c \"$0\" 10.10.12.90 443 100000; wait";
    let cmd: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        both.into(),
        crate::netns::SEND.into(),
    ];
    let args = [
        "--settle",
        "300ms",
        "--write",
        all.to_str().unwrap(),
        "--violations-pcap",
        out.to_str().unwrap(),
    ];
    let (code, doc, stderr) = crate::verify::verify(&lab, &args, &cmd);
    assert_eq!(code, Some(1), "{doc}\n{stderr}");
    let violations = doc["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1, "{doc}");
    let v = &violations[0];
    assert_eq!(
        (v["class"].as_str(), v["dport"].as_u64()),
        (Some("dpm"), Some(5719))
    );
    let Some(pcap) = tshark_packets(&out) else {
        return;
    };
    // Exactly what tshark finds of that connection in everything captured.
    let whole = tshark_flow_totals(&all, v).unwrap();
    let written = (pcap.len() as u64, pcap.iter().map(|p| p.len).sum::<u64>());
    assert_eq!(written, whole);
    assert_eq!(
        whole,
        (v["packets"].as_u64().unwrap(), v["bytes"].as_u64().unwrap())
    );
    assert!(pcap.iter().all(|p| p.iface == "eth0"));
    assert_eq!(pcap[0].comment, expected_comment(v));
    assert!(pcap[0].syn && pcap[1..].iter().all(|p| p.comment.is_empty()));
    assert_eq!(idb_names(&out), ["eth0", "eth1"]);

    // Without --write, a temporary spool next to the file, removed after.
    std::fs::remove_file(&out).unwrap();
    std::fs::remove_file(&all).unwrap();
    let (code, doc, stderr) = crate::verify::verify(
        &lab,
        &args[..2]
            .iter()
            .chain(&args[4..])
            .copied()
            .collect::<Vec<_>>(),
        &cmd,
    );
    assert_eq!(code, Some(1), "{doc}\n{stderr}");
    let v = &doc["violations"][0];
    let pcap = tshark_packets(&out).unwrap();
    let written = (pcap.len() as u64, pcap.iter().map(|p| p.len).sum::<u64>());
    assert_eq!(
        written,
        (v["packets"].as_u64().unwrap(), v["bytes"].as_u64().unwrap())
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["v.pcapng"]);
}
