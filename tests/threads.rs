//! `--threads`: reading a capture on a thread of its own changes when the
//! bytes arrive, never what is reported. Every committed fixture, every
//! tunnel scenario and every capture of the shared corpus gives the same
//! report, byte for byte, on one thread and on two, in each format; so do
//! several captures together, a cut capture and standard input. Folding
//! finished flows into their class totals (audit without `--flows`) changes
//! no report either.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::util::{corpus_captures, lanecheck, root, shared_corpus};

/// stdout and exit code of `lanecheck ARGS --threads N`.
fn output(args: &[&str], threads: &str) -> (Vec<u8>, Option<i32>) {
    let out = lanecheck()
        .args(args)
        .args(["--threads", threads])
        .output()
        .unwrap();
    (out.stdout, out.status.code())
}

/// Asserts one thread and two give the same document.
fn same_on_one_and_two(args: &[&str]) {
    let one = output(args, "1");
    let two = output(args, "2");
    assert!(!one.0.is_empty(), "{args:?} printed nothing");
    assert!(
        one == two,
        "{args:?}: --threads 1 and 2 differ\n{}\n---\n{}",
        String::from_utf8_lossy(&one.0),
        String::from_utf8_lossy(&two.0)
    );
}

fn policy() -> String {
    root().join("policies/dpm.toml").display().to_string()
}

/// Audits `file` in JSON (with flows and series), text and HTML, and lists
/// its flows, on one thread and on two.
fn same_reports(file: &Path) {
    let f = file.to_str().unwrap();
    let p = policy();
    for format in ["json", "text", "html"] {
        same_on_one_and_two(&[
            "audit", "--policy", &p, "--format", format, "--flows", "--series", f,
        ]);
    }
    same_on_one_and_two(&["flows", "--format", "json", f]);
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_fixture_reports_the_same_on_one_thread_and_two() {
    let files = fixtures();
    assert!(files.len() >= 20, "{} fixtures", files.len());
    for f in &files {
        same_reports(f);
    }
}

#[test]
fn tunnel_scenarios_report_the_same_on_one_thread_and_two() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for s in fixgen::tunnel_scenarios() {
        let t = fixgen::write(s.name, dir.path()).unwrap();
        same_reports(&t.file);
        files.push(t.file);
    }
    // All together: in parallel or, where they share tunnels or flows, one
    // after another; the same report either way.
    let names: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let p = policy();
    for format in ["json", "text"] {
        let args = [&["audit", "--policy", &p, "--format", format][..], &names].concat();
        same_sequential_and_parallel(&args);
    }
}

#[test]
fn the_corpus_reports_the_same_on_one_thread_and_two() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let files = corpus_captures(&corpus);
    for f in &files {
        let f = f.to_str().unwrap();
        same_on_one_and_two(&["audit", "--policy", &policy(), "--format", "json", f]);
    }
}

#[test]
fn several_captures_a_cut_one_and_stdin_report_the_same() {
    let files = fixtures();
    let names: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let p = policy();
    let mut args = vec!["audit", "--policy", &p, "--format", "json", "--flows"];
    args.extend(&names);
    same_on_one_and_two(&args);
    // A capture cut in the middle of a record.
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(root().join("fixtures/dpm_backup_lan.pcapng")).unwrap();
    let cut = dir.path().join("cut.pcapng");
    std::fs::write(&cut, &whole[..whole.len() * 2 / 3]).unwrap();
    let cut = cut.to_str().unwrap();
    same_on_one_and_two(&["audit", "--policy", &p, "--format", "json", cut]);
    let doc = output(&["audit", "--policy", &p, "--format", "json", cut], "2").0;
    let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    assert_eq!(doc["captures"][0]["truncated"], true, "{doc}");
    // Standard input.
    let stdin = |threads: &str| {
        let out = lanecheck()
            .args([
                "audit",
                "--policy",
                &p,
                "--format",
                "json",
                "--threads",
                threads,
            ])
            .arg("-")
            .stdin(Stdio::from(
                std::fs::File::open(root().join("fixtures/vlan_dpm.pcap")).unwrap(),
            ))
            .output()
            .unwrap();
        (out.stdout, out.status.code())
    };
    let one = stdin("1");
    assert!(one.0.len() > 100);
    assert_eq!(one, stdin("2"));
}

/// Frames read of every capture of a JSON report, all told.
fn captures_packets(doc: &serde_json::Value) -> u64 {
    let captures = doc["captures"].as_array().expect("captures is a list");
    captures
        .iter()
        .map(|c| c["packets"].as_u64().unwrap())
        .sum()
}

/// `lanecheck ARGS --threads N` over FIFOs, each fed one of `files` once
/// by a thread of its own (as `<(zcat x.pcap.gz)` or a named pipe feeds
/// it): stdout and exit code, or `None` if it was still running after a
/// minute (killed).
fn over_fifos(args: &[&str], files: &[PathBuf], threads: &str) -> Option<(Vec<u8>, Option<i32>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut fifos = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let fifo = dir.path().join(format!("p{i}"));
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let (path, f) = (fifo.clone(), f.clone());
        // Each FIFO is written once; a reader opening it again would wait
        // for a writer for ever (this thread is detached: it ends when a
        // reader takes its bytes, or with the test).
        std::thread::spawn(move || {
            let bytes = std::fs::read(f).unwrap();
            let _ = std::fs::write(path, bytes);
        });
        fifos.push(fifo);
    }
    let mut child = lanecheck()
        .args(args)
        .args(&fifos)
        .args(["--threads", threads])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut out).map(|_| out)
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some((reader.join().unwrap().unwrap(), status.code()));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    None
}

#[test]
fn captures_through_pipes_are_read_once_whatever_the_threads() {
    // Two captures that hold the same flow: captures in parallel would
    // meet and be read again, which a pipe cannot be.
    let files: Vec<PathBuf> = ["dpm_backup_lan.pcapng", "dpm_fallback.pcapng"]
        .iter()
        .map(|f| root().join("fixtures").join(f))
        .collect();
    let names: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let p = policy();
    let args = ["audit", "--policy", &p, "--format", "json", "--flows"];
    let direct = output(&[&args[..], &names].concat(), "1");
    let doc: serde_json::Value = serde_json::from_slice(&direct.0).unwrap();
    let packets = captures_packets(&doc);
    assert!(packets > 500, "{packets} packets");
    for threads in ["1", "2"] {
        let (out, code) = over_fifos(&args, &files, threads).unwrap_or_else(|| {
            panic!("--threads {threads}: still reading the FIFOs after a minute")
        });
        assert_eq!(code, direct.1, "--threads {threads}");
        let got: serde_json::Value = serde_json::from_slice(&out).unwrap();
        // The same report but for the captures' names.
        assert_eq!(got["classes"], doc["classes"], "--threads {threads}");
        assert_eq!(got["violations"], doc["violations"], "--threads {threads}");
        assert_eq!(got["summary"], doc["summary"], "--threads {threads}");
        let flows = |d: &serde_json::Value| d["flows"].as_array().unwrap().len();
        assert_eq!(flows(&got), flows(&doc), "--threads {threads}");
        for (g, d) in got["captures"]
            .as_array()
            .unwrap()
            .iter()
            .zip(doc["captures"].as_array().unwrap())
        {
            assert_eq!(g["packets"], d["packets"], "--threads {threads}");
            assert_eq!(g["error"], d["error"], "--threads {threads}");
        }
    }
}

/// stdout, exit code and stderr of `lanecheck --log-level info ARGS --threads N`.
fn logged(args: &[&str], threads: &str) -> (Vec<u8>, Option<i32>, String) {
    let out = lanecheck()
        .args(["--log-level", "info"])
        .args(args)
        .args(["--threads", threads])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.stdout, out.status.code(), err)
}

/// `audit ARGS` on one thread and on two: the same report; what the
/// two-thread run logged.
fn same_sequential_and_parallel(args: &[&str]) -> String {
    let one = logged(args, "1");
    let two = logged(args, "2");
    assert!(!one.0.is_empty(), "{args:?} printed nothing");
    assert!(
        (&one.0, one.1) == (&two.0, two.1),
        "{args:?}: sequential and parallel differ\n{}\n---\n{}",
        String::from_utf8_lossy(&one.0),
        String::from_utf8_lossy(&two.0)
    );
    two.2
}

/// Asserts `args` (a JSON audit) with `--violations-pcap` write the same
/// report and the same file on one thread and two, and that the file holds
/// exactly the packets of the report's violations (so the two files are
/// not merely alike: a second pass gone wrong the same way in both fails
/// here); the two-thread log, and how many packets the file holds.
fn same_violations_pcap(args: &[&str], dir: &Path) -> (String, usize) {
    // One path for both runs: the report names the file.
    let out = dir.join("violations.pcapng");
    let out_s = out.to_str().unwrap();
    let run = |threads| {
        let _ = std::fs::remove_file(&out);
        let r = logged(&[args, &["--violations-pcap", out_s]].concat(), threads);
        // (FILE is made even when nothing violates.)
        (r, std::fs::read(&out).unwrap())
    };
    let ((a, x), (b, y)) = (run("1"), run("2"));
    assert_eq!(
        (String::from_utf8_lossy(&a.0), a.1),
        (String::from_utf8_lossy(&b.0), b.1),
        "{args:?}: reports differ"
    );
    assert!(x == y, "{args:?}: the violations pcaps differ");
    let doc: serde_json::Value = serde_json::from_slice(&b.0).unwrap();
    let violations = doc["violations"].as_array().unwrap();
    let violating: u64 = violations
        .iter()
        .map(|v| v["packets"].as_u64().unwrap())
        .sum();
    let packets = epb_count(&y);
    assert_eq!(
        packets as u64, violating,
        "{args:?}: file and report disagree"
    );
    (b.2, packets)
}

/// The packets of a pcapng, as lanecheck's own reader counts them.
fn epb_count(ng: &[u8]) -> usize {
    use capture::FrameSource;
    if ng.is_empty() {
        return 0;
    }
    let mut src = capture::FileSource::new("violations", ng, None).unwrap();
    let mut n = 0;
    while src.next_frame().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(src.stats().truncated, None);
    n
}

/// `audit ARGS --save FILE` on one thread and on two: the same report and
/// the same summary, byte for byte; what the two-thread run logged.
fn same_summary(args: &[&str], dir: &Path) -> String {
    let (one, two) = (dir.join("one.summary"), dir.join("two.summary"));
    let (one_s, two_s) = (one.to_str().unwrap(), two.to_str().unwrap());
    let a = logged(&[args, &["--save", one_s]].concat(), "1");
    let b = logged(&[args, &["--save", two_s]].concat(), "2");
    assert_eq!((&a.0, a.1), (&b.0, b.1), "{args:?}: reports differ");
    let (x, y) = (std::fs::read(&one).unwrap(), std::fs::read(&two).unwrap());
    assert!(
        x == y,
        "{args:?}: summaries differ\n{}\n---\n{}",
        String::from_utf8_lossy(&x),
        String::from_utf8_lossy(&y)
    );
    b.2
}

#[test]
fn captures_audited_in_parallel_report_as_one_after_another() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = crate::merge::disjoint(&corpus_captures(&corpus), dir.path());
    let mut names: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let p = policy();
    let said = format!("read {} captures on 2 threads, merged", names.len());
    for format in SHARED_FORMATS {
        let args = [&["audit", "--policy", &p][..], format, &names].concat();
        let log = same_sequential_and_parallel(&args);
        assert!(log.contains(&said), "no {said:?} in {log}");
    }
    let log = same_sequential_and_parallel(&[&["flows", "--format", "json"][..], &names].concat());
    assert!(log.contains(&said), "no {said:?} in {log}");
    // `--save`: the same summary, with flows expiring in sweeps (the
    // table's clock and peak replayed across the captures).
    for idle in ["1s", "5m"] {
        let args = [
            &["audit", "--policy", &p, "--idle-timeout", idle][..],
            &names,
        ]
        .concat();
        let log = same_summary(&args, dir.path());
        assert!(log.contains(&said), "no {said:?} in {log}");
    }
    // --violations-pcap: the flows numbered as one analyzer numbers them
    // (each capture's after the captures before it), the same file.
    let pcaps = [dir.path().join("one.pcapng"), dir.path().join("two.pcapng")];
    let runs: Vec<_> = pcaps
        .iter()
        .zip(["1", "2"])
        .map(|(out, threads)| {
            let out = out.to_str().unwrap();
            let args = audit_json(&p, &["--violations-pcap", out], &names);
            logged(&args, threads)
        })
        .collect();
    assert_eq!((&runs[0].0, runs[0].1), (&runs[1].0, runs[1].1));
    assert!(runs[1].2.contains(&said), "no {said:?} in {}", runs[1].2);
    let doc: serde_json::Value = serde_json::from_slice(&runs[1].0).unwrap();
    assert!(!doc["violations"].as_array().unwrap().is_empty());
    let files = pcaps.map(|f| std::fs::read(f).unwrap());
    assert!(files[0] == files[1], "the violations pcaps differ");
    // One that cannot be read, among the others.
    names.insert(3, "/nonexistent/capture.pcapng");
    let args = [&["audit", "--policy", &p, "--format", "json"][..], &names].concat();
    let log = same_sequential_and_parallel(&args);
    assert!(log.contains("captures on 2 threads, merged"), "{log}");
    // The fixtures hold the same flows: read one after another, and why.
    let fixtures = fixtures();
    let names: Vec<&str> = fixtures.iter().map(|f| f.to_str().unwrap()).collect();
    let args = [&["audit", "--policy", &p, "--format", "json"][..], &names].concat();
    let log = same_sequential_and_parallel(&args);
    assert!(
        log.contains("one after another:") && log.contains("hold the same flow"),
        "{log}"
    );
}

#[test]
fn threads_zero_is_refused() {
    let out = lanecheck()
        .args(["flows", "--threads", "0"])
        .arg(root().join("fixtures/vlan_dpm.pcap"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--threads"), "{err}");
}

/// The audit JSON without its `flows` list.
fn without_flows(bytes: &[u8]) -> serde_json::Value {
    let mut doc: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    doc.as_object_mut().unwrap().remove("flows");
    doc
}

#[test]
fn folding_finished_flows_changes_no_report() {
    // With --max-flows 2 and a 1 s idle timeout nearly every flow leaves
    // the table, and (without --flows) the plain ones are folded into their
    // class totals at once; with --flows every flow is kept.
    let mut files = fixtures();
    if let Some(corpus) = shared_corpus() {
        files.push(corpus.join("files/zeek+zeek/testing/btest/Traces/smb/smb2.pcap"));
        files.push(corpus.join("files/ntop+nDPI/tests/cfgs/default/pcap/1kxun.pcap"));
    }
    let p = policy();
    for f in &files {
        let f = f.to_str().unwrap();
        let fold = ["--series", "--max-flows", "2", "--idle-timeout", "1s"];
        let args = audit_json(&p, &fold, &[f]);
        let folded = output(&args, "1");
        let mut keep = args.to_vec();
        keep.insert(1, "--flows");
        let kept = output(&keep, "1");
        assert_eq!(folded.1, kept.1, "{f}");
        assert_eq!(without_flows(&folded.0), without_flows(&kept.0), "{f}");
    }
}

/// A classic pcap (little-endian, microseconds, Ethernet) of `frames`, one
/// millisecond apart.
fn pcap(path: &Path, frames: &[Vec<u8>]) {
    pcap_at(path, frames, 0);
}

/// A pcap of `frames`, 1 ms apart from `start_ms` after 1,700,000,000 s.
fn pcap_at(path: &Path, frames: &[Vec<u8>], start_ms: u32) {
    let timed: Vec<(u32, Vec<u8>)> = (start_ms..).zip(frames.iter().cloned()).collect();
    pcap_times(path, &timed);
}

/// A pcap of frames, each at its millisecond after 1,700,000,000 s.
fn pcap_times(path: &Path, frames: &[(u32, Vec<u8>)]) {
    // Magic, version 2.4, zone, sigfigs, snaplen, link type 1.
    let mut out = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (ms, f) in frames {
        let len = f.len() as u32;
        for v in [1_700_000_000 + ms / 1000, ms % 1000 * 1000, len, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

/// VXLAN VNI 5001 from `outer.0` to `outer.1` (UDP from `sport`), carrying
/// TCP `inner.0`:`iport` → `inner.1`:80.
fn vxlan(outer: ([u8; 4], [u8; 4]), sport: u16, inner: ([u8; 4], [u8; 4]), iport: u16) -> Vec<u8> {
    let mut inner_frame = Vec::new();
    etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4(inner.0, inner.1, 64)
        .tcp(iport, 80, 1, 1000)
        .write(&mut inner_frame, &[0x5a; 200])
        .unwrap();
    let mut payload = vec![0x08, 0, 0, 0, 0, 0x13, 0x89, 0];
    payload.extend_from_slice(&inner_frame);
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2([6; 6], [8; 6])
        .ipv4(outer.0, outer.1, 64)
        .udp(sport, 4789)
        .write(&mut out, &payload)
        .unwrap();
    out
}

#[test]
fn captures_sharing_a_tunnel_are_read_one_after_another() {
    // The same VXLAN tunnel, first seen in each file from the other end,
    // carrying different flows: one run draws it as the first file saw it.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = ([192, 0, 2, 1], [192, 0, 2, 2]);
    let one = dir.path().join("one.pcap");
    let two = dir.path().join("two.pcap");
    pcap(
        &one,
        &vec![vxlan((a, b), 49152, ([10, 0, 0, 1], [10, 0, 0, 2]), 50000); 3],
    );
    pcap(
        &two,
        &vec![vxlan((b, a), 49153, ([10, 0, 0, 3], [10, 0, 0, 4]), 50001); 3],
    );
    let p = policy();
    let files = [one.to_str().unwrap(), two.to_str().unwrap()];
    let args = audit_json(&p, &[], &files);
    let log = same_sequential_and_parallel(&args);
    assert!(
        log.contains("a tunnel is seen in several captures"),
        "{log}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&logged(&args, "2").0).unwrap();
    let tunnels: Vec<String> = doc["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["tunnel"].to_string())
        .collect();
    assert_eq!(tunnels.len(), 2, "{doc}");
    assert!(
        tunnels[0].contains("192.0.2.1") && tunnels[0] == tunnels[1],
        "{tunnels:?}"
    );
}

/// `audit --policy POLICY EXTRA… --format json FILE…`.
fn audit_json<'a>(policy: &'a str, extra: &[&'a str], files: &[&'a str]) -> Vec<&'a str> {
    [
        &["audit", "--policy", policy][..],
        extra,
        &["--format", "json"],
        files,
    ]
    .concat()
}

/// Audits `file` in JSON (with series, and with every flow), text and
/// HTML on one thread and in shares on two; returns what the two-thread
/// runs logged.
fn same_in_shares(file: &str, policy: &str, shard: &str) -> String {
    let mut logs = String::new();
    for format in SHARED_FORMATS {
        let args = [
            &["audit", "--policy", policy, "--shard", shard][..],
            format,
            &[file],
        ]
        .concat();
        logs.push_str(&same_sequential_and_parallel(&args));
    }
    logs
}

/// The report forms the shares tests compare.
const SHARED_FORMATS: [&[&str]; 4] = [
    &["--format", "json", "--series"],
    &["--format", "json", "--flows"],
    &["--format", "text"],
    &["--format", "html"],
];

/// The flows of every class of a JSON report.
fn class_flows(doc: &serde_json::Value) -> u64 {
    let classes = doc["classes"].as_array().unwrap();
    classes.iter().map(|c| c["flows"].as_u64().unwrap()).sum()
}

#[test]
fn one_capture_analysed_in_shares_reports_as_one_analyzer() {
    // Many short flows (fixgen's many-flow bench traffic): `auto` shares
    // them out, and the numbers are the generator's.
    let dir = tempfile::tempdir().unwrap();
    let (pcap, pcapng) = (dir.path().join("f.pcap"), dir.path().join("f.pcapng"));
    let truth = fixgen::write_bench_flows(&pcap, &pcapng, 32 << 20).unwrap();
    let p = bench_flows_policy();
    for f in [&pcap, &pcapng] {
        let f = f.to_str().unwrap();
        let log = same_in_shares(f, &p, "auto");
        assert_eq!(
            log.matches("in 2 shares of its flows, merged").count(),
            SHARED_FORMATS.len(),
            "{log}"
        );
        // `lanecheck flows` reads as audit does.
        let log = same_sequential_and_parallel(&["flows", "--format", "json", f]);
        assert!(log.contains("in 2 shares of its flows, merged"), "{log}");
        let (json, _) = output(&["audit", "--policy", &p, "--format", "json", f], "2");
        let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(doc["captures"][0]["packets"], truth.packets);
        assert_eq!(class_flows(&doc), truth.flows);
    }
    // Flows idle 300 ms expire in sweeps (one a second of its 1.7 s): each
    // share's clock follows every frame, so they expire as one table's do
    // (verified to differ when only a share's own frames move its clock).
    let f = pcap.to_str().unwrap();
    let args = audit_json(&p, &["--idle-timeout", "300ms"], &[f]);
    let log = same_sequential_and_parallel(&args);
    assert!(log.contains("in 2 shares of its flows, merged"), "{log}");
    // `--save`: the same summary (flow digests, the flows still open, the
    // most flows one table held between the sweeps).
    let log = same_summary(&args, dir.path());
    assert!(log.contains("in 2 shares of its flows, merged"), "{log}");
    let (json, _) = output(&args, "2");
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let expired = doc["flow_table"]["expired"].as_u64().unwrap();
    assert!(
        expired > truth.flows / 4,
        "{expired} of {} expired",
        truth.flows
    );
    // A table one analyzer would fill cannot be shared out (evictions):
    // `auto` keeps it whole, `always` falls back and says why.
    // --violations-pcap: under dpm.toml the IPv6 flows break the policy.
    let dpm = policy();
    let args = ["audit", "--policy", &dpm, "--format", "json", f];
    let (log, packets) = same_violations_pcap(&args, dir.path());
    assert!(log.contains("in 2 shares of its flows, merged"), "{log}");
    let (json, _) = output(&args, "2");
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let v = doc["violations"].as_array().unwrap();
    let violating: u64 = v.iter().map(|v| v["packets"].as_u64().unwrap()).sum();
    assert!(v.len() > 1000, "{} violations", v.len());
    assert_eq!(packets as u64, violating);
    let few = (truth.flows / 2).to_string();
    let log = same_sequential_and_parallel(&audit_json(&p, &["--max-flows", &few], &[f]));
    assert!(!log.contains("shares"), "{log}");
    let args = audit_json(&p, &["--max-flows", &few, "--shard", "always"], &[f]);
    let log = same_sequential_and_parallel(&args);
    assert!(log.contains("on one thread: shares met early"), "{log}");
}

#[test]
fn every_fixture_and_the_corpus_report_the_same_in_shares() {
    let mut files = fixtures();
    let dir = tempfile::tempdir().unwrap();
    for s in fixgen::tunnel_scenarios() {
        files.push(fixgen::write(s.name, dir.path()).unwrap().file);
    }
    if let Some(corpus) = shared_corpus() {
        files.extend(corpus_captures(&corpus));
    }
    let p = policy();
    let (mut shared, mut whole, mut pcap_shared) = (0, 0, 0);
    for f in &files {
        let log = same_in_shares(f.to_str().unwrap(), &p, "always");
        shared += log.matches("shares of its flows, merged").count();
        whole += log.matches("on one thread:").count();
        // Linux cooked frames name their interface: a share meets it in a
        // frame it passes as one analyzer would (not by chance of which
        // share took the interface's first frame). A DCOM binding names the
        // protected server's backup address to the DPM server that asked on
        // its primary one: one policy host, one share.
        if f.ends_with("sll2_dpm.pcap") || f.ends_with("dpm_dcom_learned.pcapng") {
            let merged = log.matches("shares of its flows, merged").count();
            assert_eq!(merged, SHARED_FORMATS.len(), "{log}");
        }
        // --violations-pcap: the shares' flows numbered as one analyzer
        // numbers them (by the frame each was numbered at), the same file.
        let args = [
            "audit", "--policy", &p, "--format", "json", "--shard", "always",
        ];
        let (log, packets) =
            same_violations_pcap(&[&args[..], &[f.to_str().unwrap()]].concat(), dir.path());
        if log.contains("shares of its flows, merged") && packets > 0 {
            pcap_shared += 1;
        }
    }
    assert!(
        pcap_shared >= 3,
        "{pcap_shared} violation pcaps written by shares"
    );
    // Every run is one or the other; both happen (tunnels are never
    // shared out, a capture of one conversation always is).
    assert_eq!(shared + whole, SHARED_FORMATS.len() * files.len());
    assert!(shared > 0 && whole > 0, "{shared} shared, {whole} whole");
}

/// An Ethernet frame of UDP `src:sport` → `dst:dport` carrying `payload`.
fn udp(src: [u8; 4], dst: [u8; 4], (sport, dport): (u16, u16), payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// A DNS query from client `i` (10.1.x.y) to 10.0.0.53 and its answer:
/// `name` → 10.10.12.50.
fn dns_exchange(i: u16, name: &str) -> [Vec<u8>; 2] {
    let client = [10, 1, (i / 250) as u8, (i % 250) as u8 + 1];
    let server = [10, 0, 0, 53];
    let answer = fixgen::messages::dns_answer(i, name, &["10.10.12.50".parse().unwrap()]);
    let query = fixgen::messages::dns_query(i, name);
    [
        udp(client, server, (50_000 + i, 53), &query),
        udp(server, client, (53, 50_000 + i), &answer),
    ]
}

#[test]
fn shares_learn_dns_answers_for_each_other_exactly() {
    // 6,000 clients resolving a name: their answers fall in both shares.
    // Every share's queries and answers, replayed in frame order, are one
    // analyzer's names: the shares merge under a policy with a [[dns]]
    // rule as without one, with the same report as one thread.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dns.pcap");
    let frames: Vec<Vec<u8>> = (0..6_000)
        .flat_map(|i| dns_exchange(i, "dpm01.contoso.local"))
        .collect();
    pcap(&file, &frames);
    let f = file.to_str().unwrap();
    let with_rule = root().join("policies/dpm-dns.toml").display().to_string();
    for p in [with_rule, policy()] {
        let args = audit_json(&p, &["--shard", "always"], &[f]);
        let log = same_sequential_and_parallel(&args);
        assert!(log.contains("in 2 shares of its flows, merged"), "{log}");
        let (json, _) = output(&args, "2");
        let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(doc["captures"][0]["packets"], 12_000);
    }
}

/// TCP `src:sport` → `dst:dport`: SYN, SYN-ACK, then `len` bytes of data.
fn handshake_and_data(src: [u8; 4], dst: [u8; 4], ports: (u16, u16), len: usize) -> Vec<Vec<u8>> {
    fixgen::frames::tcp_talk((src, dst), ports, &[(true, vec![0x42; len])])
}

/// Protected servers the DPM server backs up on the primary network (a
/// fallback), each after a DNS answer for its name given to one of a few
/// clients (so answers and fallbacks fall in different shares); odd
/// servers' names resolve to their primary address only (a `[[dns]]`
/// violation each). Some servers ask for dpm.x.y.com and hear nothing.
const SERVERS: u8 = 64;
const UNANSWERED: u8 = 8;

fn fallbacks_after_lookups() -> Vec<Vec<u8>> {
    let (dpm, dns) = ([10, 10, 12, 89], [10, 10, 12, 10]);
    let mut frames = Vec::new();
    for i in 0..SERVERS {
        let (backup, primary) = ([192, 168, 1, 100 + i], [10, 10, 12, 100 + i]);
        let name = format!("ps{i}.x.y.com");
        let addrs: Vec<std::net::Ipv4Addr> = match i % 2 {
            0 => vec![backup.into(), primary.into()],
            _ => vec![primary.into()],
        };
        let client = [10, 10, 12, 150 + i % 8];
        let (id, port) = (u16::from(i), 50_000 + u16::from(i));
        frames.push(udp(
            client,
            dns,
            (port, 53),
            &fixgen::messages::dns_query(id, &name),
        ));
        let answer = fixgen::messages::dns_answer(id, &name, &addrs);
        frames.push(udp(dns, client, (53, port), &answer));
        frames.extend(handshake_and_data(
            dpm,
            primary,
            (49_000 + u16::from(i), 5719),
            1000,
        ));
    }
    for i in 0..UNANSWERED {
        let query = fixgen::messages::dns_query(0x100 + u16::from(i), "dpm.x.y.com");
        frames.push(udp([10, 10, 12, 100 + i], dns, (51_000, 53), &query));
    }
    frames
}

/// `policies/dpm-fallback.toml` with a `[[dns]]` rule: every name under
/// x.y.com must resolve to a backup address; never.x.y.com is never asked.
fn fallback_policy(dir: &Path) -> String {
    let base = std::fs::read_to_string(root().join("policies/dpm-fallback.toml")).unwrap();
    let policy = dir.join("policy.toml");
    let rule =
        "\n[[dns]]\nnames = [\"*.x.y.com\", \"never.x.y.com\"]\nmust_include = [\"backup\"]\n";
    std::fs::write(&policy, base + rule).unwrap();
    policy.display().to_string()
}

#[test]
fn shares_explain_fallbacks_with_each_others_dns_answers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fallbacks.pcap");
    pcap(&file, &fallbacks_after_lookups());
    let p = fallback_policy(dir.path());
    let f = file.to_str().unwrap();
    let log = same_in_shares(f, &p, "always");
    let merged = log.matches("in 2 shares of its flows, merged").count();
    assert_eq!(merged, SHARED_FORMATS.len(), "{log}");
    let (json, _) = output(&audit_json(&p, &["--shard", "always"], &[f]), "2");
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let packets = u64::from(SERVERS) * 5 + u64::from(UNANSWERED);
    assert_eq!(doc["captures"][0]["packets"], packets);
    explained_by_each_servers_answer(&doc);
    let log = same_summary(&audit_json(&p, &["--shard", "always"], &[f]), dir.path());
    assert!(log.contains("in 2 shares of its flows, merged"), "{log}");
}

#[test]
fn captures_explain_fallbacks_with_each_others_dns_answers() {
    // The DNS messages in one capture, the fallbacks a second later in another:
    // audited in parallel, each capture's report has the other's names.
    let dir = tempfile::tempdir().unwrap();
    let (lookups, flows): (Vec<Vec<u8>>, Vec<Vec<u8>>) = fallbacks_after_lookups()
        .into_iter()
        .partition(|f| is_dns(f));
    let (a, b) = (dir.path().join("a.pcap"), dir.path().join("b.pcap"));
    pcap_at(&a, &lookups, 0);
    pcap_at(&b, &flows, 1_000);
    let p = fallback_policy(dir.path());
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let log = same_sequential_and_parallel(&audit_json(&p, &[], &[a, b]));
    assert!(
        log.contains("read 2 captures on 2 threads, merged"),
        "{log}"
    );
    let (json, _) = output(&audit_json(&p, &[], &[a, b]), "2");
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    explained_by_each_servers_answer(&doc);
    let log = same_summary(&audit_json(&p, &[], &[a, b]), dir.path());
    assert!(
        log.contains("read 2 captures on 2 threads, merged"),
        "{log}"
    );
    // Answers after the flows explain nothing, on one thread as on two.
    let log = same_sequential_and_parallel(&audit_json(&p, &[], &[b, a]));
    assert!(
        log.contains("read 2 captures on 2 threads, merged"),
        "{log}"
    );
}

/// Whether a frame (Ethernet, IPv4 without options) is UDP from or to
/// port 53: the DNS messages of `fallbacks_after_lookups`.
fn is_dns(f: &[u8]) -> bool {
    f[23] == 17 && (f[34..36] == [0, 53] || f[36..38] == [0, 53])
}

/// The report of `fallbacks_after_lookups`: each fallback explained by
/// its own server's answer, wherever that fell; the rule's unanswered and
/// unseen names; its violations in the capture's order.
fn explained_by_each_servers_answer(doc: &serde_json::Value) {
    let warnings = crate::util::warnings(doc);
    let all = warnings.join("\n");
    let half = usize::from(SERVERS / 2);
    assert_eq!(
        all.matches("still resolved to 192.168.1.").count(),
        half,
        "{all}"
    );
    assert_eq!(
        all.matches("resolved only to 10.10.12.").count(),
        half,
        "{all}"
    );
    assert!(!all.contains("no DNS answer naming"), "{all}");
    assert_eq!(
        all.matches("dpm.x.y.com was queried by").count(),
        usize::from(UNANSWERED)
    );
    assert!(all.contains("never.x.y.com was never queried"), "{all}");
    // The odd servers' answers broke the rule, in the capture's order.
    let names: Vec<&str> = doc["dns_violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    let odd: Vec<String> = (0..SERVERS)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("ps{i}.x.y.com"))
        .collect();
    assert_eq!(names, odd);
}

/// A TCP SYN from 10.2.x.y to 10.3.x.y (flow `i`), and the share of two
/// its address pair falls in (as `audit --shard` deals frames).
fn syn(i: u32) -> (Vec<u8>, u64) {
    let [_, _, a, b] = i.to_be_bytes();
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4([10, 2, a, b], [10, 3, a, b], 64)
        .tcp(40_000, 80, 1, 64_000)
        .syn()
        .write(&mut out, &[])
        .unwrap();
    let an = analyzer::Analyzer::new(analyzer::AnalyzerConfig::default());
    let frame = capture::Frame::test(capture::LinkType::ETHERNET, &out);
    let share = an.shard_key(&frame, analyzer::CaptureId(0)).unwrap() % 2;
    (out, share)
}

/// The first `n` flows of share `share`.
fn flows_of_share(share: u64, n: usize) -> Vec<Vec<u8>> {
    (0..)
        .map(syn)
        .filter(|(_, s)| *s == share)
        .map(|(f, _)| f)
        .take(n)
        .collect()
}

#[test]
fn summaries_count_the_most_flows_one_table_held() {
    // 300 flows of one share, then, 10 s later (idle timeout 1 s), 200 of
    // the other: one table held 300 at most, not the 500 of the shares'
    // most added up.
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (flows_of_share(0, 300), flows_of_share(1, 200));
    let at = |start: u32, frames: &[Vec<u8>]| -> Vec<(u32, Vec<u8>)> {
        (start..).zip(frames.iter().cloned()).collect()
    };
    let one = dir.path().join("one.pcap");
    pcap_times(&one, &[at(0, &first), at(10_000, &second)].concat());
    let p = policy();
    let f = one.to_str().unwrap();
    let args = audit_json(&p, &["--idle-timeout", "1s", "--shard", "always"], &[f]);
    let log = same_summary(&args, dir.path());
    assert!(log.contains("in 2 shares of its flows, merged"), "{log}");
    assert_eq!(peak_saved(dir.path()), 300);
    // In two captures: the second's first flow at 10 s, its first sweep at
    // 12 s (when one run expires the first capture's 300), the rest after:
    // one run held 301 at most, not 300 + the second's 199.
    let (a, b) = (dir.path().join("a.pcap"), dir.path().join("b.pcap"));
    pcap_times(&a, &at(0, &first));
    pcap_times(
        &b,
        &[at(10_000, &second[..1]), at(12_000, &second[1..])].concat(),
    );
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let args = audit_json(&p, &["--idle-timeout", "1s"], &[a, b]);
    let log = same_summary(&args, dir.path());
    assert!(
        log.contains("read 2 captures on 2 threads, merged"),
        "{log}"
    );
    assert_eq!(peak_saved(dir.path()), 301);
}

/// The most flows held, as the last `same_summary` saved it.
fn peak_saved(dir: &Path) -> u64 {
    let text = std::fs::read(dir.join("two.summary")).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&text).unwrap();
    doc["clock"]["peak_flows"].as_u64().unwrap()
}

/// fixgen's many-flow traffic (16 MiB) rotated into `n` files, and what
/// the generator wrote.
fn rotated_flows(n: usize) -> (tempfile::TempDir, fixgen::FlowsTruth, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, pcapng) = (dir.path().join("f.pcap"), dir.path().join("f.pcapng"));
    let truth = fixgen::write_bench_flows(&pcap, &pcapng, 16 << 20).unwrap();
    let files = rotate(&pcap, n, dir.path());
    (dir, truth, files)
}

/// The benchmark's policy for the many-flow traffic.
fn bench_flows_policy() -> String {
    root()
        .join("scripts/bench-flows.toml")
        .display()
        .to_string()
}

/// `src` (a classic little-endian pcap) cut into `n` files of about as
/// many records each, as a capture rotated every so many packets is.
fn rotate(src: &Path, n: usize, dir: &Path) -> Vec<PathBuf> {
    let data = std::fs::read(src).unwrap();
    let mut records = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let len = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        records.push(&data[at..at + 16 + len]);
        at += 16 + len;
    }
    (0..n)
        .map(|i| {
            let path = dir.join(format!("rotated{i}.pcap"));
            let mut out = data[..24].to_vec();
            let part = &records[i * records.len() / n..(i + 1) * records.len() / n];
            part.iter().for_each(|r| out.extend_from_slice(r));
            std::fs::write(&path, out).unwrap();
            path
        })
        .collect()
}

#[test]
fn rotated_captures_of_many_flows_are_analysed_in_shares() {
    // fixgen's many-flow traffic cut in three: flows open at a cut go on
    // in the next file, so the files cannot be audited apart; the workers
    // find that where the first two meet and stop, and the three files are
    // analysed in shares of their flows instead, as one run.
    let (dir, truth, files) = rotated_flows(3);
    let names: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let p = bench_flows_policy();
    // (Which two meet first depends on which worker ends first.)
    let met = "hold the same flow (";
    for format in SHARED_FORMATS {
        let args = [&["audit", "--policy", &p][..], format, &names].concat();
        let log = same_sequential_and_parallel(&args);
        assert!(log.contains(met), "{log}");
        assert!(
            log.contains("analysed 3 captures in 2 shares of their flows, merged"),
            "{log}"
        );
    }
    let log = same_summary(&audit_json(&p, &[], &names), dir.path());
    assert!(log.contains("analysed 3 captures in 2 shares"), "{log}");
    let (json, _) = output(&audit_json(&p, &[], &names), "2");
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(captures_packets(&doc), truth.packets);
    // A flow cut by a rotation is still one flow.
    assert_eq!(class_flows(&doc), truth.flows);
    // The middle file cut short: every share reads up to the cut, and on.
    let middle = std::fs::metadata(&files[1]).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&files[1])
        .unwrap();
    f.set_len(middle - 777).unwrap();
    let log = same_sequential_and_parallel(&audit_json(&p, &[], &names));
    assert!(log.contains("analysed 3 captures in 2 shares"), "{log}");
    assert!(log.contains("truncated at byte"), "{log}");
}

#[test]
fn shares_collapse_copies_from_an_interface_declared_mid_file_as_one_analyzer() {
    // An Npcap capture (no application: its `\Device\NPF_` names say so)
    // that declares its second interface after 50 packets; then 50 DNS
    // queries each captured on both interfaces. From the second
    // interface's first packet on, a copy on the other interface is
    // collapsed: every share must learn of that interface at that packet,
    // whichever share analyses it (verified to count 49 copies, not 50,
    // when only the share taking it did).
    let dir = tempfile::tempdir().unwrap();
    let npf = |n: u8| format!("\\Device\\NPF_{{AAAAAAAA-0000-0000-0000-00000000000{n}}}");
    let mut w = fixgen::NgWriter::new(false);
    w.section(&[]);
    w.interface(1, &[(2, npf(1).as_bytes())]);
    let mut n = 1_700_000_000_000_000u64;
    let mut packet = |w: &mut fixgen::NgWriter, iface: u32, frame: &[u8]| {
        n += 1000;
        w.epb(iface, n, frame, frame.len() as u32, &[]);
    };
    for i in 0..50u8 {
        packet(
            &mut w,
            0,
            &udp([10, 1, 0, i + 1], [10, 2, 0, 1], (40_000, 53), b"q"),
        );
    }
    w.interface(1, &[(2, npf(2).as_bytes())]);
    packet(
        &mut w,
        1,
        &udp([10, 9, 9, 9], [10, 2, 0, 1], (1111, 53), b"first"),
    );
    for i in 0..50u8 {
        let frame = udp([10, 3, 0, i + 1], [10, 2, 0, 1], (41_000, 53), &[i]);
        packet(&mut w, 0, &frame);
        packet(&mut w, 1, &frame);
    }
    let file = w.out;
    let path = dir.path().join("npcap.pcapng");
    std::fs::write(&path, file).unwrap();
    let f = path.to_str().unwrap();
    let log = same_in_shares(f, &policy(), "always");
    let merged = log.matches("in 2 shares of its flows, merged").count();
    assert_eq!(merged, SHARED_FORMATS.len(), "{log}");
    let (json, _) = output(&audit_json(&policy(), &["--shard", "always"], &[f]), "2");
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let c = &doc["captures"][0];
    assert_eq!(
        (&c["producer"], &c["dedup"]),
        (&"npcap".into(), &"across-interfaces".into())
    );
    assert_eq!(
        (c["packets"].as_u64(), c["duplicates"].as_u64()),
        (Some(151), Some(50))
    );
}

#[test]
fn captures_read_one_after_another_open_each_next_one_early_and_lose_nothing() {
    // On two threads, captures that meet are read one after another, each
    // opened (read ahead) while the one before it is analysed: a missing
    // file, a file that is no capture and a cut one among them are reported
    // where they stand, as on one thread. The first file's traffic is
    // given again at the end (its last packet a little later: the same
    // file twice is refused), so the files meet and are not audited in
    // parallel.
    let dir = tempfile::tempdir().unwrap();
    let a = root().join("fixtures/dpm_backup_lan.pcapng");
    let b = root().join("fixtures/vlan_dpm.pcap");
    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"this is no capture file at all, not even close").unwrap();
    let cut = dir.path().join("cut.pcapng");
    let whole = std::fs::read(&a).unwrap();
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let missing = dir.path().join("missing.pcap");
    let again = dir.path().join("again.pcapng");
    crate::util::retimed_copy(&a, &again, 1);
    let files = [&a, &missing, &junk, &cut, &b, &again];
    let names: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let p = policy();
    let mut args = vec!["audit", "--policy", &p, "--format", "json"];
    args.extend(&names);
    let (_, _, log) = logged(&args, "2");
    assert!(
        log.contains("reading the captures one after another"),
        "{log}"
    );
    same_on_one_and_two(&args);
    let doc: serde_json::Value = serde_json::from_slice(&output(&args, "2").0).unwrap();
    let captures = doc["captures"].as_array().unwrap();
    let errors: Vec<bool> = captures.iter().map(|c| c["error"].is_string()).collect();
    assert_eq!(errors, [false, true, true, false, false, false], "{doc}");
    let error = |i: usize| captures[i]["error"].as_str().unwrap().to_string();
    assert!(error(1).contains("cannot open"), "{}", error(1));
    assert!(error(2).contains(names[2]), "{}", error(2));
    assert_eq!(captures[3]["truncated"], true, "{doc}");
    // Every packet of the readable files is counted, the first file's twice.
    let packets = |i: usize| captures[i]["packets"].as_u64().unwrap();
    let whole_a = packets(0);
    assert_eq!(packets(5), whole_a);
    assert!(packets(3) > 0 && packets(3) < whole_a, "{doc}");
}

/// The interface every protected server's endpoint mapper announces.
const MAPPED_IF: &str = "3f6e1b8a-92c4-4d7e-b150-6a7c8d9e0f12";

/// The DPM server asks each of `n` protected servers' endpoint mappers
/// (10.10.12.100 on) where `MAPPED_IF` listens, and connects to the port
/// announced (49,800 + i), as DPM does across an estate: endpoints are
/// learned for every server, each in the share of its conversations.
fn endpoints_of_many_servers(n: u8) -> Vec<Vec<u8>> {
    (0..n)
        .flat_map(|i| {
            let (server, port) = ([10, 10, 12, 100 + i], 49_800 + u16::from(i));
            fixgen::frames::epm_lookup_and_call(server, MAPPED_IF, port, 49_000 + u16::from(i))
        })
        .collect()
}

#[test]
fn shares_list_endpoints_learned_in_each_as_one_analyzer() {
    // Endpoints learned in both shares used to send the capture back to
    // one analyzer (its list of announcements is in the capture's order);
    // each share now lists its own by the frame each came in, and the
    // merge puts them in that order.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("estate.pcap");
    pcap(&file, &endpoints_of_many_servers(16));
    let p = policy();
    let f = file.to_str().unwrap();
    let log = same_in_shares(f, &p, "always");
    assert!(log.contains("in 2 shares of its flows, merged"), "{log}");
    let args = [
        "audit", "--policy", &p, "--format", "json", "--shard", "always", f,
    ];
    let doc: serde_json::Value = serde_json::from_slice(&output(&args, "2").0).unwrap();
    let learned: Vec<(String, u64)> = doc["learned_endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["server"].as_str().unwrap().to_string(),
                e["port"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = (0..16u64)
        .map(|i| (format!("10.10.12.{}", 100 + i), 49_800 + i))
        .collect();
    assert_eq!(learned, expected);
    // Other hosts connecting to a port learned in another share: their
    // flows are classified by what that share learned, so the capture is
    // analysed on one analyzer, with the same report (found at the end
    // here: the shares, each a few hundred frames, check as they read
    // every 4,096 frames; `pipeline::tests` checks that board).
    let mut frames = endpoints_of_many_servers(16);
    for c in 0..4 {
        let talk = [(true, vec![0x05; 100])];
        frames.extend(fixgen::frames::tcp_talk(
            ([10, 10, 12, 150 + c], [10, 10, 12, 100]),
            (40_000, 49_800),
            &talk,
        ));
    }
    pcap(&file, &frames);
    let log = same_in_shares(f, &p, "always");
    assert!(log.contains("learned an RPC endpoint share"), "{log}");
}

#[test]
fn many_small_rotated_captures_are_judged_by_their_first_frames_together() {
    // The many-flow traffic rotated into 48 small files: the first alone
    // holds too few frames to show many address pairs, the first frames of
    // the files together do, so `auto` shares them out.
    let (_dir, truth, files) = rotated_flows(48);
    let names: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let first = std::fs::metadata(&files[0]).unwrap().len();
    assert!(first < (1 << 20), "{first} bytes: a small file");
    let p = bench_flows_policy();
    let log = same_sequential_and_parallel(&audit_json(&p, &[], &names));
    assert!(
        log.contains("analysed 48 captures in 2 shares of their flows, merged"),
        "{log}"
    );
    let (json, _) = output(&audit_json(&p, &[], &names), "2");
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(captures_packets(&doc), truth.packets);
    assert_eq!(class_flows(&doc), truth.flows);
}

/// An ICMP port unreachable from ps about a DPM control connection to the
/// port ps announced over DCOM in another capture: one run classes it by
/// that learned endpoint, so captures read in parallel must see that it
/// looked the endpoint up and be read one after another.
#[test]
fn an_icmp_error_about_a_learned_port_reads_as_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut quoted = Vec::new();
    etherparse::PacketBuilder::ipv4([10, 10, 12, 89], [10, 10, 12, 90], 128)
        .tcp(50123, 49750, 1, 64240)
        .write(&mut quoted, &[0; 40])
        .unwrap();
    quoted.truncate(28);
    let mut icmp = Vec::new();
    etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4([10, 10, 12, 90], [10, 10, 12, 89], 128)
        .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::Port,
        ))
        .write(&mut icmp, &quoted)
        .unwrap();
    let later = dir.path().join("icmp.pcap");
    pcap_at(&later, &[icmp], 30_000);
    let learned = root().join("fixtures/dpm_dcom_learned.pcapng");
    let (a, b) = (learned.to_str().unwrap(), later.to_str().unwrap());
    let p = policy();
    let args = ["audit", "--policy", &p, "--format", "json", "--flows", a, b];
    same_sequential_and_parallel(&args);
    let (out, _) = output(&args, "2");
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let icmp_flow = doc["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["proto"] == "icmp")
        .expect("the ICMP error's flow");
    assert_eq!(icmp_flow["class"], "dpm-control", "{icmp_flow}");
}
