//! `lanecheck watch` and the flows it has open: what a leak's events add up
//! to, what a SIGHUP keeps and what the metrics count once a flow's class
//! is decided, checked against the traffic each test sends (counted by
//! dumpcap on the watched NIC).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::netns::{root_or_skip, Lab};
use crate::watch::{
    events, metric, policy_copy, scrape, send, signal, smb_client, start_watch, unix_now, wait_for,
    writable_dir, CLUSTER_POLICY, PACED,
};

/// A capture of `filter` on `dev` of `ns` into `path`, started (dumpcap
/// said it is capturing) when this returns.
fn capture(lab: &Lab, ns: &str, dev: &str, filter: &str, path: &Path) -> Child {
    use std::io::BufRead;
    let mut child = lab
        .exec(
            ns,
            &[
                "dumpcap",
                "-n",
                "-i",
                dev,
                "-f",
                filter,
                "-w",
                path.to_str().unwrap(),
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dumpcap (Wireshark)");
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("Capturing on") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "dumpcap ended early");
    }
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    child
}

/// Stops a capture; its frames as (wire length, Unix time).
fn frames(mut dumpcap: Child, path: &Path) -> Vec<(u64, f64)> {
    signal(&dumpcap, "-INT");
    dumpcap.wait().unwrap();
    let out = Command::new("tshark")
        .args(["-n", "-r", path.to_str().unwrap(), "-T", "fields"])
        .args(["-e", "frame.len", "-e", "frame.time_epoch"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (len, t) = l.split_once('\t').unwrap();
            (len.parse().unwrap(), t.parse().unwrap())
        })
        .collect()
}

/// (bytes, packets) summed over events of `types`.
fn summed(evs: &[Value], types: &[&str]) -> (u64, u64) {
    evs.iter()
        .filter(|e| types.contains(&e["type"].as_str().unwrap_or("")))
        .fold((0, 0), |(b, p), e| {
            (
                b + e["bytes"].as_u64().unwrap(),
                p + e["packets"].as_u64().unwrap(),
            )
        })
}

/// An event's wall-clock time (Unix seconds).
fn time_of(e: &Value) -> f64 {
    let at = time::OffsetDateTime::parse(
        e["time"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    at.unix_timestamp_nanos() as f64 / 1e9
}

fn lab_dir() -> (Lab, tempfile::TempDir, PathBuf, PathBuf) {
    let lab = Lab::new();
    let dir = writable_dir();
    let policy = policy_copy(dir.path());
    let alerts = dir.path().join("alerts.jsonl");
    (lab, dir, policy, alerts)
}

/// A DPM backup over the primary link, from a DPM server (so the flow
/// waits for RPC evidence; its first payload says it is none and it is
/// judged there): the leak and its end carry exactly the packets and bytes
/// of the connection, and it ends `--quiet` after its last packet.
#[test]
fn a_leaks_events_add_up_to_its_packets_and_it_ends_after_quiet() {
    leak_ends_quiet_after_its_last_packet(
        "a_leaks_events_add_up_to_its_packets_and_it_ends_after_quiet",
        10_000,
    );
}

/// The same connection without payload: nothing decides its class, so it
/// is judged from the wait queue, `--evidence-wait` (5 s) after its first
/// packet; its leak still ends `--quiet` after its last packet, not after
/// the judgement (stop 25: 15 s after).
#[test]
fn a_leak_judged_after_its_wait_ends_quiet_after_its_last_packet() {
    leak_ends_quiet_after_its_last_packet(
        "a_leak_judged_after_its_wait_ends_quiet_after_its_last_packet",
        0,
    );
}

fn leak_ends_quiet_after_its_last_packet(test: &str, bytes: u64) {
    if !root_or_skip(test) {
        return;
    }
    let (lab, dir, policy, alerts) = lab_dir();
    let mut watch = Killed(start_watch(&lab, &policy, &alerts, &["--quiet", "10s"]));
    let pcap = dir.path().join("sent.pcapng");
    let dumpcap = capture(&lab, &lab.dpm, "eth0", "tcp port 5719", &pcap);
    send(&lab, "10.10.12.90", bytes);
    let evs = wait_for(&alerts, Duration::from_secs(20), |e| {
        e.iter().any(|x| x["type"] == "leak-ended")
    });
    let sent = frames(dumpcap, &pcap);
    signal(&watch.0, "-TERM");
    assert_eq!(watch.0.wait().unwrap().code(), Some(0));
    let want = (sent.iter().map(|f| f.0).sum::<u64>(), sent.len() as u64);
    assert!(want.1 >= 6, "{sent:?}");
    let ended = evs
        .iter()
        .find(|e| e["type"] == "leak-ended")
        .unwrap_or_else(|| panic!("no leak-ended within 20 s: {evs:?}"));
    let all = summed(&evs, &["leak", "leak-ongoing", "leak-ended"]);
    assert_eq!(all, want, "events (bytes, packets) vs dumpcap: {evs:#?}");
    let last = sent.iter().map(|f| f.1).fold(0.0, f64::max);
    let after = time_of(ended) - last;
    assert!(
        (10.0..12.5).contains(&after),
        "leak-ended {after:.2} s after the last packet, with --quiet 10s"
    );
    assert_eq!(events(&alerts).len(), 2, "{:?}", events(&alerts));
}

/// DPM backups and SMB between the two hosts, which are cluster nodes.
const NODES_POLICY: &str = r#"
[networks]
primary = ["10.10.12.0/24"]
backup = ["192.168.1.0/24"]

[interfaces]
eth0 = "primary"
eth1 = "backup"

[hosts]
dpm = ["10.10.12.89", "192.168.1.23"]
ps = ["10.10.12.90", "192.168.1.24"]

[roles]
dpm_servers = ["dpm"]
cluster_nodes = ["dpm", "ps"]

[classes.dpm]
networks = ["backup"]

[classes.smb-redirected]
networks = ["backup"]

[classes.client]
networks = ["primary"]
"#;

/// Polls the metrics page until `pred` holds (5 s at most).
fn page_until(lab: &Lab, url: &str, pred: impl Fn(&str) -> bool) -> String {
    let start = std::time::Instant::now();
    loop {
        let m = scrape(lab, url);
        if pred(&m) || start.elapsed() > Duration::from_secs(5) {
            return m;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn kinds(evs: &[Value]) -> Vec<String> {
    evs.iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

/// A steady DPM leak on the primary link and an SMB ClusterStorage$ copy
/// (class `client` by its tree connect) through two SIGHUPs with the
/// policy unchanged (what logrotate sends daily): nothing is forgotten,
/// re-raised, ended or counted again. Then a policy that puts DPM on the
/// primary network: the leak ends at the reload, naming it, while the
/// backup still runs.
#[test]
fn a_sighup_keeps_open_flows_their_evidence_and_their_alerts() {
    if !root_or_skip("a_sighup_keeps_open_flows_their_evidence_and_their_alerts") {
        return;
    }
    let (mut lab, _dir, policy, alerts) = lab_dir();
    lab.sink("445");
    std::fs::write(&policy, NODES_POLICY).unwrap();
    let url = "http://127.0.0.1:19752/metrics";
    let mut watch = Killed(start_watch(
        &lab,
        &policy,
        &alerts,
        &["--metrics", "127.0.0.1:19752", "--quiet", "20s"],
    ));
    let backup = Killed(
        lab.exec(
            &lab.dpm,
            &[
                "python3",
                "-c",
                PACED,
                "10.10.12.90",
                "5719",
                "100000",
                "14",
            ],
        )
        .spawn()
        .unwrap(),
    );
    let copy = Killed(smb_client(
        &lab,
        "0.3",
        "\\\\CLUSTER\\ClusterStorage$",
        "12",
    ));
    let t0 = unix_now();
    let violations = "lanecheck_violations_total{class=\"dpm\",network=\"primary\"}";
    let client = "lanecheck_packets_total{class=\"client\",network=\"primary\",interface=\"eth0\",status=\"preferred\"}";
    let m = page_until(&lab, url, |m| {
        metric(m, violations) == Some(1) && metric(m, client).is_some()
    });
    assert_eq!(metric(&m, violations), Some(1), "{m}");
    let before = metric(&m, client).expect(&m);
    for _ in 0..2 {
        signal(&watch.0, "-HUP");
        std::thread::sleep(Duration::from_millis(1500));
    }
    // The copy keeps its class (its packets still count as client), the
    // leak is neither raised nor counted again.
    let m = page_until(&lab, url, |m| metric(m, client) > Some(before + 10));
    assert!(metric(&m, client) > Some(before + 10), "{m}");
    assert_eq!(metric(&m, violations), Some(1), "{m}");
    assert!(!traffic_of(&m, "smb-redirected"), "{m}");
    let evs = events(&alerts);
    assert_eq!(kinds(&evs), ["leak", "policy-reloaded", "policy-reloaded"]);

    // DPM is now allowed on the primary network: its leak ends, now.
    std::fs::write(
        &policy,
        NODES_POLICY.replace(
            "[classes.dpm]\nnetworks = [\"backup\"]",
            "[classes.dpm]\nnetworks = [\"primary\"]",
        ),
    )
    .unwrap();
    signal(&watch.0, "-HUP");
    let evs = wait_for(&alerts, Duration::from_secs(3), |e| {
        e.iter().any(|x| x["type"] == "leak-ended")
    });
    let ended = evs
        .iter()
        .find(|e| e["type"] == "leak-ended")
        .unwrap_or_else(|| panic!("{evs:#?}"));
    assert!(
        ended["reason"]
            .as_str()
            .unwrap()
            .contains("policy reloaded"),
        "{ended}"
    );
    assert_eq!(ended["class"], "dpm");
    assert!(
        time_of(ended) < t0 + 13.0,
        "ended while the backup still ran"
    );
    copy.wait();
    backup.wait();
    std::thread::sleep(Duration::from_millis(1500));
    let m = scrape(&lab, url);
    assert_eq!(metric(&m, violations), Some(1), "{m}");
    signal(&watch.0, "-TERM");
    assert_eq!(watch.0.wait().unwrap().code(), Some(0));
    assert_eq!(
        kinds(&events(&alerts)),
        [
            "leak",
            "policy-reloaded",
            "policy-reloaded",
            "policy-reloaded",
            "leak-ended"
        ]
    );
}

/// SMB between cluster nodes allowed on the primary link as
/// `smb-redirected`, until a tree connect to a VM share makes it `smb-vm`,
/// which is not: the deciding packet comes after `--evidence-wait`. The
/// leak carries every packet of the flow so far, and the metrics count
/// every byte of the flow as a violation of `smb-vm`, none as `preferred`.
#[test]
fn bytes_before_the_deciding_evidence_count_under_the_decided_class() {
    if !root_or_skip("bytes_before_the_deciding_evidence_count_under_the_decided_class") {
        return;
    }
    let (mut lab, dir, policy, alerts) = lab_dir();
    lab.sink("445");
    let cluster = CLUSTER_POLICY.replace(
        "[classes.smb-redirected]\nnetworks = [\"backup\"]",
        "[classes.smb-redirected]\nnetworks = [\"primary\", \"backup\"]",
    );
    assert_ne!(cluster, CLUSTER_POLICY);
    std::fs::write(&policy, cluster).unwrap();
    let url = "http://127.0.0.1:19753/metrics";
    let mut watch = Killed(start_watch(
        &lab,
        &policy,
        &alerts,
        &["--metrics", "127.0.0.1:19753", "--evidence-wait", "1s"],
    ));
    let pcap = dir.path().join("smb.pcapng");
    let dumpcap = capture(&lab, &lab.dpm, "eth0", "tcp port 445", &pcap);
    let vm = smb_client(&lab, "2.5", "\\\\node2\\VMShare", "0");
    let _ = vm.wait_with_output();
    let evs = wait_for(&alerts, Duration::from_secs(3), |e| {
        e.iter().any(|x| x["type"] == "leak")
    });
    std::thread::sleep(Duration::from_secs(1));
    let sent = frames_with_payload(dumpcap, &pcap);
    // The tree connect: the client's second segment with a payload.
    let tc = sent
        .iter()
        .enumerate()
        .filter(|(_, f)| f.2 && f.1 > 0)
        .nth(1)
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("{sent:?}"));
    let upto = &sent[..=tc];
    let leak = evs
        .iter()
        .find(|e| e["type"] == "leak")
        .unwrap_or_else(|| panic!("{evs:?}"));
    assert_eq!(leak["class"], "smb-vm");
    assert_eq!(
        (leak["bytes"].as_u64(), leak["packets"].as_u64()),
        (
            Some(upto.iter().map(|f| f.0).sum()),
            Some(upto.len() as u64)
        ),
        "the leak carries the flow so far: {sent:?}"
    );
    let total: u64 = sent.iter().map(|f| f.0).sum();
    let series = "lanecheck_bytes_total{class=\"smb-vm\",network=\"primary\",interface=\"eth0\",status=\"violation\"}";
    let m = page_until(&lab, url, |m| metric(m, series) == Some(total));
    assert_eq!(metric(&m, series), Some(total), "{m}");
    let packets = series.replace("bytes_total", "packets_total");
    assert_eq!(metric(&m, &packets), Some(sent.len() as u64), "{m}");
    assert!(!traffic_of(&m, "smb-redirected"), "{m}");
    signal(&watch.0, "-TERM");
    assert_eq!(watch.0.wait().unwrap().code(), Some(0));
}

/// Stops a capture; its frames as (wire length, TCP payload length, sent
/// by the client: to port 445).
fn frames_with_payload(mut dumpcap: Child, path: &Path) -> Vec<(u64, u64, bool)> {
    signal(&dumpcap, "-INT");
    dumpcap.wait().unwrap();
    let out = Command::new("tshark")
        .args(["-n", "-r", path.to_str().unwrap(), "-T", "fields"])
        .args(["-e", "frame.len", "-e", "tcp.len", "-e", "tcp.dstport"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2] == "445")
        })
        .collect()
}

/// Whether the bytes or packets metric has a series of `class`.
fn traffic_of(m: &str, class: &str) -> bool {
    let label = format!("{{class=\"{class}\",");
    m.lines().any(|l| {
        (l.starts_with("lanecheck_bytes_total") || l.starts_with("lanecheck_packets_total"))
            && l.contains(&label)
    })
}

/// A child process killed if the test fails before it ends.
struct Killed(Child);

impl Killed {
    fn wait(mut self) {
        let _ = self.0.wait();
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
