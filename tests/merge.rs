//! `audit --save` and `lanecheck merge`: audits of captures run apart merge
//! into the report of one audit of all of them, byte for byte, in every
//! format (the shared corpus, one summary per capture, under policies with
//! fallback, DNS-rule and NIC findings; its captures span a decade out of
//! order, so one run's idle expiry across captures is replayed too). Flows
//! that several summaries hold are counted and said; summaries of another
//! policy, other settings or a newer version, and files that are not
//! summaries, are refused with the file and the place.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use base64::Engine;

use crate::util::{corpus_captures, lanecheck, root, shared_corpus};

fn policy(name: &str) -> String {
    root().join("policies").join(name).display().to_string()
}

/// `lanecheck ARGS`: stdout, stderr, exit code.
fn run(args: &[&str]) -> (Vec<u8>, String, Option<i32>) {
    let out = lanecheck().args(args).output().unwrap();
    (
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

/// `audit --save DIR/NAME.json CAPTURE` with `policy` and `extra` flags.
fn save(dir: &Path, name: &str, policy: &str, capture: &Path, extra: &[&str]) -> PathBuf {
    let out = dir.join(format!("{name}.json"));
    let (_, err, code) = run(&[
        &["audit", "--policy", policy, "--save", out.to_str().unwrap()],
        extra,
        &[capture.to_str().unwrap()],
    ]
    .concat());
    assert!(matches!(code, Some(0..=3)), "{capture:?}: {err}");
    out
}

/// A summary's flow digests.
fn digests(summary: &Path) -> BTreeSet<u64> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(summary).unwrap()).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v["flow_digests"].as_str().unwrap())
        .unwrap();
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// The corpus captures that share no flow with an earlier one (the corpus
/// holds a few captures twice, in another format or with another tag).
pub fn disjoint(files: &[PathBuf], dir: &Path) -> Vec<PathBuf> {
    let mut seen = BTreeSet::new();
    let mut kept = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let d = digests(&save(
            dir,
            &format!("probe{i}"),
            &policy("dpm.toml"),
            f,
            &[],
        ));
        if d.is_disjoint(&seen) {
            seen.extend(d);
            kept.push(f.clone());
        }
    }
    assert!(
        kept.len() + 8 >= files.len(),
        "only {} of {} captures share no flow",
        kept.len(),
        files.len()
    );
    kept
}

#[test]
fn the_corpus_audited_apart_merges_into_one_audit() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = disjoint(&corpus_captures(&corpus), dir.path());
    let paths: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    for name in ["dpm-fallback.toml", "dpm-dns.toml", "cluster.toml"] {
        let p = policy(name);
        let summaries: Vec<String> = files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                save(dir.path(), &format!("{i}"), &p, f, &[])
                    .display()
                    .to_string()
            })
            .collect();
        let summaries: Vec<&str> = summaries.iter().map(String::as_str).collect();
        for format in [
            &["--format", "json", "--series"][..],
            &["--format", "text", "--color", "never"],
            &["--format", "html"],
        ] {
            let one = run(&[&["audit", "--policy", &p], format, &paths].concat());
            let merged = run(&[&["merge"], format, &summaries].concat());
            assert!(!one.0.is_empty(), "{name} {format:?}: empty report");
            assert_eq!(one.2, merged.2, "{name} {format:?}: exit codes");
            assert!(
                one.0 == merged.0,
                "{name} {format:?}: merge differs from one audit\n{}\n---\n{}",
                String::from_utf8_lossy(&one.0),
                String::from_utf8_lossy(&merged.0)
            );
        }
    }
}

/// Distinct 5-tuples of `lanecheck flows` (its own flow list, not digests).
fn flow_tuples(capture: &Path) -> usize {
    let (out, err, code) = run(&["flows", "--format", "json", capture.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let tuples: BTreeSet<String> = v["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}", f["community_id"]))
        .collect();
    tuples.len()
}

#[test]
fn flows_held_by_several_summaries_are_counted_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let capture = root().join("fixtures/cluster_good.pcapng");
    let p = policy("cluster.toml");
    // The same conversations captured on a second host (a copy of the
    // file itself is refused: see below).
    let second = dir.path().join("host2.pcapng");
    crate::util::retimed_copy(&capture, &second, 1);
    let a = save(dir.path(), "a", &p, &capture, &[]);
    let b = save(dir.path(), "b", &p, &second, &[]);
    let (out, err, _) = run(&[
        "merge",
        "--format",
        "json",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    let merged: serde_json::Value =
        serde_json::from_slice(&out).unwrap_or_else(|_| panic!("{err}"));
    let n = flow_tuples(&capture);
    assert!(n > 5, "{n} flows");
    let said = format!("{n} flows appear in more than one summary");
    let warnings = merged["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().starts_with(&said)),
        "no {said:?} in {warnings:?}"
    );
    // Each summary counted its part: twice the flows of one audit.
    let (one, _, _) = run(&[
        "audit",
        "--policy",
        &p,
        "--format",
        "json",
        capture.to_str().unwrap(),
    ]);
    let one: serde_json::Value = serde_json::from_slice(&one).unwrap();
    let flows = |v: &serde_json::Value| -> u64 {
        v["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["flows"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(flows(&merged), 2 * flows(&one));
}

#[test]
fn an_expected_class_is_checked_on_the_merged_report() {
    let dir = tempfile::tempdir().unwrap();
    let capture = root().join("fixtures/dpm_backup_lan.pcapng");
    let p = policy("dpm.toml");
    let s = save(dir.path(), "s", &p, &capture, &[]);
    let expect = ["--expect", "dpm", "--min-bytes", "1G", "--format", "json"];
    let one = run(&[
        &["audit", "--policy", &p][..],
        &expect,
        &[capture.to_str().unwrap()],
    ]
    .concat());
    let merged = run(&[&["merge"][..], &expect, &[s.to_str().unwrap()]].concat());
    assert_eq!(one.2, Some(3), "{}", one.1);
    assert_eq!(merged.2, Some(3), "{}", merged.1);
    assert!(
        one.0 == merged.0,
        "{}\n---\n{}",
        String::from_utf8_lossy(&one.0),
        String::from_utf8_lossy(&merged.0)
    );
}

/// `merge` exits 2, naming `file` and saying `what`.
fn refused(summaries: &[&Path], file: &Path, what: &str) {
    let args: Vec<&str> = summaries.iter().map(|s| s.to_str().unwrap()).collect();
    let (out, err, code) = run(&[&["merge"][..], &args].concat());
    assert_eq!(code, Some(2), "{what}: {err}");
    assert!(out.is_empty(), "{what}: printed a report");
    assert!(err.contains(&file.display().to_string()), "{what}: {err}");
    assert!(err.contains(what), "{what}: {err}");
}

#[test]
fn summaries_that_cannot_merge_are_refused_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let capture = root().join("fixtures/cluster_good.pcapng");
    let good = save(d, "good", &policy("cluster.toml"), &capture, &[]);
    let other = save(d, "other", &policy("dpm.toml"), &capture, &[]);
    refused(&[&good, &other], &other, "another policy");
    // The same policy with CRLF line endings and a blank line more.
    let crlf = d.join("crlf.toml");
    let toml = std::fs::read_to_string(policy("cluster.toml")).unwrap();
    std::fs::write(&crlf, toml.replace('\n', "\r\n") + "\r\n").unwrap();
    let bad = root().join("fixtures/cluster_bad.pcapng");
    let windows = save(d, "windows", crlf.to_str().unwrap(), &bad, &[]);
    let (_, err, code) = run(&["merge", good.to_str().unwrap(), windows.to_str().unwrap()]);
    assert!(matches!(code, Some(0 | 1)), "{err}");
    let bins = save(
        d,
        "bins",
        &policy("cluster.toml"),
        &capture,
        &["--bin", "2s"],
    );
    refused(&[&good, &bins], &bins, "other settings");
    refused(
        &[&good, &capture],
        &capture,
        "not a lanecheck audit summary",
    );
    let text = std::fs::read_to_string(&good).unwrap();
    let cut = d.join("cut.json");
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    refused(
        &[&good, &cut],
        &cut,
        &format!("line 1, column {}", text.len() / 2),
    );
    let with_version = |name: &str, v: u32| {
        let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        doc["version"] = v.into();
        let path = d.join(name);
        std::fs::write(&path, doc.to_string()).unwrap();
        path
    };
    let newer = with_version("newer.json", 99);
    refused(&[&newer], &newer, "summary version 99");
    let zero = with_version("zero.json", 0);
    refused(&[&zero], &zero, "no version lanecheck ever wrote");
    // One digit changed: the JSON still parses, the CRC-32 says no.
    let at = text.find("\"bytes\":").unwrap() + 8;
    let digit = text.as_bytes()[at];
    let changed = if digit == b'9' { "8" } else { "9" };
    let edited = d.join("edited.json");
    std::fs::write(
        &edited,
        format!("{}{changed}{}", &text[..at], &text[at + 1..]),
    )
    .unwrap();
    refused(
        &[&good, &edited],
        &edited,
        "bytes changed since lanecheck wrote it",
    );
    // A version number damaged into 1 (which had no CRC-32).
    let one = d.join("one.json");
    std::fs::write(&one, text.replacen("\"version\":2,", "\"version\":1,", 1)).unwrap();
    refused(&[&one], &one, "says version 1 but ends with a CRC-32");
    // One audit given twice: by the same path, or as a copy.
    refused(&[&good, &good], &good, "given twice");
    let copy = d.join("copy.json");
    std::fs::copy(&good, &copy).unwrap();
    refused(&[&good, &copy], &copy, "the same bytes as");
    // One capture audited again under another path: its summary differs
    // (the capture's name), its packets are the same.
    let again = d.join("again.pcapng");
    std::fs::copy(&capture, &again).unwrap();
    let again = save(d, "again", &policy("cluster.toml"), &again, &[]);
    let head = std::fs::metadata(&capture).unwrap().len().min(1 << 20);
    refused(
        &[&good, &again],
        &again,
        &format!("begin with the same {head} bytes: one capture audited twice"),
    );
    let alien = d.join("alien.json");
    std::fs::write(&alien, "{\"format\": \"something else\"}").unwrap();
    refused(&[&alien], &alien, "not a lanecheck audit summary");
}

#[test]
fn no_output_overwrites_an_input_or_another_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let capture = d.join("c.pcapng");
    std::fs::copy(root().join("fixtures/cluster_good.pcapng"), &capture).unwrap();
    let policy_file = d.join("cluster.toml");
    std::fs::copy(policy("cluster.toml"), &policy_file).unwrap();
    let summary = d.join("s.json");
    let (c, p, s) = (
        capture.to_str().unwrap(),
        policy_file.to_str().unwrap(),
        summary.to_str().unwrap(),
    );
    let (_, err, code) = run(&["audit", "--policy", p, "--save", s, c]);
    assert_eq!(code, Some(0), "{err}");
    let before: Vec<Vec<u8>> = [&capture, &policy_file, &summary]
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    let dotted = format!("{}/./c.pcapng", d.display());
    let cases: [(&[&str], &str); 8] = [
        (&["audit", "--policy", p, "--save", c, c], "--save"),
        (&["audit", "--policy", p, "-o", &dotted, c], "--output"),
        (
            &["audit", "--policy", p, "--violations-pcap", c, c],
            "--violations-pcap",
        ),
        (&["audit", "--policy", p, "-o", p, c], "the policy"),
        (
            &["audit", "--policy", p, "--save", s, "-o", s, c],
            "name the same file",
        ),
        (&["merge", "-o", s, s], "a summary being merged"),
        (&["flows", "-o", c, c], "a capture being listed"),
        (
            &["verify", "--policy", p, "-o", p, "--duration", "1s"],
            "the policy",
        ),
    ];
    for (args, said) in cases {
        let (_, err, code) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(said), "{args:?}: {err}");
        assert!(
            err.contains("would overwrite") || err.contains("same file"),
            "{err}"
        );
    }
    // A summary is a file: `-` is no path for it (refused before any
    // output is made: the summary given as --violations-pcap is kept).
    let args = [
        "audit",
        "--policy",
        p,
        "--save",
        "-",
        "--violations-pcap",
        s,
        c,
    ];
    let (_, err, code) = run(&args);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--save -: an output is a file here"), "{err}");
    assert!(!root().join("-").exists());
    let after: Vec<Vec<u8>> = [&capture, &policy_file, &summary]
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert!(before == after, "an input was changed");
}

/// `bytes` of a summary with its CRC-32 made again, as if lanecheck had
/// written them (unchanged when its CRC member is gone).
fn stamped(mut bytes: Vec<u8>) -> Vec<u8> {
    let member = b",\"crc32\":\"";
    let Some(at) = bytes.windows(member.len()).rposition(|w| w == member) else {
        return bytes;
    };
    bytes.truncate(at);
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(format!(",\"crc32\":\"{crc:08x}\"}}").as_bytes());
    bytes
}

/// Summaries cut at many places and with bytes changed are refused (exit
/// 2); with their CRC-32 made again (numbers lanecheck never writes),
/// `merge` reports, or refuses, and never panics (the debug binary checks
/// every overflow).
#[test]
fn damaged_summaries_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let capture = root().join("fixtures/dpm_fallback_despite_dns.pcapng");
    let good = std::fs::read(save(d, "good", &policy("dpm-dns.toml"), &capture, &[])).unwrap();
    let other = save(
        d,
        "other",
        &policy("dpm-dns.toml"),
        &root().join("fixtures/cluster_fe80.pcapng"),
        &[],
    );
    let bad = d.join("bad.json");
    // A fixed generator: the same cases every run.
    let mut x: u64 = 0x6c61_6e65_6368_6563;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut reported = 0;
    for case in 0..120 {
        let mut bytes = good.clone();
        if case % 3 == 0 {
            bytes.truncate((next() % good.len() as u64) as usize);
        } else {
            // Digits become other digits (numbers stay numbers, so the
            // file mostly still parses and the merge itself is exercised).
            for _ in 0..1 + next() % 4 {
                let at = (next() % bytes.len() as u64) as usize;
                if bytes[at].is_ascii_digit() {
                    bytes[at] = b'0' + (next() % 10) as u8;
                } else if case % 3 == 2 {
                    bytes[at] = (next() % 256) as u8;
                }
            }
        }
        if bytes != good {
            // As damaged: refused (its CRC-32, or its JSON, says so).
            std::fs::write(&bad, &bytes).unwrap();
            let (_, err, code) = run(&["merge", bad.to_str().unwrap()]);
            assert_eq!(
                code,
                Some(2),
                "case {case}: a damaged summary merged: {err}"
            );
        }
        // As if lanecheck had written those numbers (the CRC-32 made
        // again): the merge and the renderers run on them.
        std::fs::write(&bad, stamped(bytes)).unwrap();
        for format in ["json", "text", "html"] {
            let (_, err, code) = run(&[
                "merge",
                "--format",
                format,
                "--series",
                bad.to_str().unwrap(),
                other.to_str().unwrap(),
            ]);
            assert!(
                !err.contains("panicked") && matches!(code, Some(0..=3)),
                "case {case} ({format}): exit {code:?}: {err}"
            );
            reported += usize::from(code != Some(2));
        }
    }
    // Most changed digits leave a summary that merges: the merge and the
    // renderers ran on them, not only the reader.
    assert!(reported >= 60, "only {reported} of 360 merges reported");
}

/// The `sh` block of docs/deployment.md that holds `marker`, its paths
/// moved into `dir` (captures, the policy file).
fn guide_example(marker: &str, dir: &Path) -> String {
    let guide = std::fs::read_to_string(root().join("docs/deployment.md")).unwrap();
    let block = guide
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.contains(marker))
        .unwrap_or_else(|| panic!("no sh block with {marker:?} in docs/deployment.md"));
    block
        .replace("/srv/captures", &format!("{}/captures", dir.display()))
        .replace("policy.toml", &format!("{}/policy.toml", dir.display()))
}

/// Runs `script` with sh in `dir`, `lanecheck` first on its PATH.
fn sh(script: &str, dir: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_lanecheck"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn the_guides_batch_examples_run_as_written_and_merge_into_one_audit() {
    let have_parallel = std::process::Command::new("parallel")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_parallel && !crate::util::skip("guide examples", "GNU parallel is not installed") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(policy("dpm.toml"), d.join("policy.toml")).unwrap();
    // Three hosts' captures that share no flow (one holds a violation:
    // its job exits 1, which the examples accept).
    let hosts = [
        ("h1", "dpm_backup_lan.pcapng"),
        ("h2", "cluster_good.pcapng"),
        ("h3", "ipv6_dpm.pcapng"),
    ];
    let mut captures = Vec::new();
    for (host, file) in hosts {
        std::fs::create_dir_all(d.join("captures").join(host)).unwrap();
        let to = d.join("captures").join(host).join(file);
        std::fs::copy(root().join("fixtures").join(file), &to).unwrap();
        captures.push(to.display().to_string());
    }
    let p = d.join("policy.toml").display().to_string();
    let one = |extra: &[&str]| {
        let caps: Vec<&str> = captures.iter().map(String::as_str).collect();
        run(&[&["audit", "--policy", &p, "--format", "json"], extra, &caps].concat())
    };
    let (whole, err, code) = one(&[]);
    assert_eq!(code, Some(1), "{err}");
    let merged = |summaries: &str| {
        let script = format!("lanecheck merge --format json {summaries}");
        let out = sh(&script, d, &[]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    // GNU parallel: the jobs (`set -e`: each command must succeed), then
    // the example's merge line, in JSON.
    let example = guide_example("GNU parallel", d);
    let (jobs, merge_line) = example.rsplit_once("lanecheck merge ").unwrap();
    assert_eq!(merge_line.trim(), "summaries/*.json");
    let out = sh(&format!("set -e\n{jobs}"), d, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for (host, _) in hosts {
        assert!(
            d.join("summaries").join(format!("{host}.json")).is_file(),
            "{err}"
        );
    }
    assert!(
        merged("summaries/*.json") == whole,
        "the parallel example's merge differs"
    );
    // Slurm: each task as the array would run it.
    std::fs::remove_dir_all(d.join("summaries")).unwrap();
    std::fs::create_dir(d.join("summaries")).unwrap();
    std::fs::write(d.join("sets.txt"), captures.join("\n") + "\n").unwrap();
    let script = guide_example("Slurm", d);
    assert!(
        script.starts_with("#!/bin/sh\n"),
        "sbatch needs an interpreter line"
    );
    for task in ["1", "2", "3"] {
        let out = sh(&script, d, &[("SLURM_ARRAY_TASK_ID", task)]);
        assert!(
            out.status.success(),
            "task {task}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(merged("summaries/1.json summaries/2.json summaries/3.json") == whole);
}

#[test]
fn captures_named_alike_on_several_hosts_are_told_apart_by_their_summary() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = policy("dpm.toml");
    let mut summaries = Vec::new();
    for (host, fixture) in [("h1", "ipv6_dpm.pcapng"), ("h2", "cluster_good.pcapng")] {
        let hd = d.join(host);
        std::fs::create_dir(&hd).unwrap();
        std::fs::copy(root().join("fixtures").join(fixture), hd.join("c.pcapng")).unwrap();
        let out = d.join(format!("{host}.json"));
        let status = lanecheck()
            .current_dir(&hd)
            .args([
                "audit",
                "--policy",
                &p,
                "--save",
                out.to_str().unwrap(),
                "c.pcapng",
            ])
            .output()
            .unwrap()
            .status;
        assert!(matches!(status.code(), Some(0 | 1)), "{status}");
        summaries.push(out);
    }
    let (s1, s2) = (
        summaries[0].to_str().unwrap(),
        summaries[1].to_str().unwrap(),
    );
    let (out, err, _) = run(&["merge", "--format", "json", s1, s2]);
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap_or_else(|_| panic!("{err}"));
    let sources: Vec<&str> = doc["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        [format!("{s1}: c.pcapng"), format!("{s2}: c.pcapng")]
    );
}

/// A summary another lanecheck version wrote is merged with a warning
/// naming it and that version.
#[test]
fn a_summary_of_another_version_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = policy("cluster.toml");
    let good = save(
        d,
        "good",
        &p,
        &root().join("fixtures/cluster_good.pcapng"),
        &[],
    );
    let bad = save(
        d,
        "bad",
        &p,
        &root().join("fixtures/cluster_bad.pcapng"),
        &[],
    );
    let this = env!("CARGO_PKG_VERSION");
    let text = std::fs::read_to_string(&bad).unwrap();
    let field = format!("\"lanecheck\":\"{this}\"");
    assert!(text.contains(&field), "{field} not in the summary");
    let old = d.join("old.json");
    let older = text.replacen(&field, "\"lanecheck\":\"0.0.1\"", 1);
    std::fs::write(&old, stamped(older.into_bytes())).unwrap();
    let warnings = |a: &Path, b: &Path| -> Vec<String> {
        let args = [
            "merge",
            "--format",
            "json",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
        ];
        let (out, err, _) = run(&args);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_else(|_| panic!("{err}"));
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap().to_string())
            .collect()
    };
    let said = format!(
        "{} was written by lanecheck 0.0.1, not by this lanecheck {this}",
        old.display()
    );
    assert!(
        warnings(&good, &old).iter().any(|w| w.starts_with(&said)),
        "{said}"
    );
    assert!(!warnings(&good, &bad)
        .iter()
        .any(|w| w.contains("was written by lanecheck")));
}

/// Two hosts' empty captures may be the same bytes (headers only): they
/// hold nothing that could count twice, so they merge.
#[test]
fn empty_captures_alike_merge() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let empty = root().join("fixtures/empty.pcapng");
    let (a, b) = (d.join("host1.pcapng"), d.join("host2.pcapng"));
    std::fs::copy(&empty, &a).unwrap();
    std::fs::copy(&empty, &b).unwrap();
    let p = policy("dpm.toml");
    let one = save(d, "one", &p, &a, &[]);
    let two = save(d, "two", &p, &b, &[]);
    let (_, err, code) = run(&["merge", one.to_str().unwrap(), two.to_str().unwrap()]);
    assert_ne!(code, Some(2), "{err}");
    assert!(!err.contains("begin with the same"), "{err}");
}
