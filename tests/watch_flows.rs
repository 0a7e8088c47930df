//! `lanecheck watch` and the flows it has open: what a leak's events add up
//! to, what a SIGHUP keeps and what the metrics count once a flow's class
//! is decided, checked against the traffic each test sends (counted by
//! dumpcap on the watched NIC).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::netns::{root_or_skip, Lab};
use crate::watch::{events, policy_copy, send, signal, start_watch, wait_for, writable_dir};

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
    if !root_or_skip("a_leaks_events_add_up_to_its_packets_and_it_ends_after_quiet") {
        return;
    }
    let (lab, dir, policy, alerts) = lab_dir();
    let mut watch = Killed(start_watch(&lab, &policy, &alerts, &["--quiet", "10s"]));
    let pcap = dir.path().join("sent.pcapng");
    let dumpcap = capture(&lab, &lab.dpm, "eth0", "tcp port 5719", &pcap);
    send(&lab, "10.10.12.90", 10_000);
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

/// A child process killed if the test fails before it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
