//! Helpers for running the real binary and finding test inputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `lanecheck` with a scrubbed environment.
pub fn lanecheck() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lanecheck"));
    c.env_remove("RUST_LOG");
    c.current_dir(root());
    c
}

/// Runs `lanecheck ARGS` and returns its output.
pub fn run(args: &[&str]) -> Output {
    lanecheck().args(args).output().expect("run lanecheck")
}

/// Runs `lanecheck ARGS` with its stdout a pipe whose reader is already
/// closed, as in `lanecheck … | head` when head has quit: every write fails
/// with a broken pipe.
pub fn run_into_closed_pipe(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    lanecheck()
        .args(args)
        .stdout(writer)
        .output()
        .expect("run lanecheck")
}

/// The warnings of a JSON report, as text.
pub fn warnings(doc: &serde_json::Value) -> Vec<&str> {
    let list = doc["warnings"].as_array().expect("warnings is a list");
    list.iter()
        .map(|w| w.as_str().expect("a warning is text"))
        .collect()
}

/// Runs `lanecheck ARGS --format json`, asserting exit `code`, and parses stdout.
pub fn run_json(args: &[&str], code: i32) -> serde_json::Value {
    let out = lanecheck()
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("run lanecheck");
    assert_eq!(
        out.status.code(),
        Some(code),
        "lanecheck {args:?}: stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}

/// Where `../shared/SUB` may be: beside this checkout, and beside the
/// repository this checkout was cloned from when that is a local directory
/// (a clone made anywhere on disk, e.g. under a 0700 home directory, still
/// finds it).
fn shared_candidates(sub: &str) -> Vec<PathBuf> {
    let mut out = vec![root().join("../shared").join(sub)];
    let origin = std::process::Command::new("git")
        .args([
            "-C",
            root().to_str().unwrap_or("."),
            "remote",
            "get-url",
            "origin",
        ])
        .output();
    if let Ok(o) = origin {
        let url = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let path = PathBuf::from(url.strip_prefix("file://").unwrap_or(&url));
        if o.status.success() && path.is_absolute() && path.is_dir() {
            out.push(path.join("../shared").join(sub));
        }
    }
    out
}

/// Where the shared real-capture corpus may be, in order: `$LANECHECK_CORPUS`,
/// then `../shared/pcaps` (see `shared_candidates`).
fn corpus_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::var_os("LANECHECK_CORPUS") {
        out.push(PathBuf::from(dir));
    }
    out.extend(shared_candidates("pcaps"));
    out
}

/// The shared reference documents (`../shared/reference`, or
/// `$LANECHECK_REFERENCE`) holding `file`, or `None` after a loud notice.
/// Under `CI=true` their absence fails the test instead.
pub fn shared_reference(file: &str) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("LANECHECK_REFERENCE") {
        candidates.push(PathBuf::from(dir));
    }
    candidates.extend(shared_candidates("reference"));
    if let Some(dir) = candidates.iter().find(|d| d.join(file).is_file()) {
        return Some(dir.join(file));
    }
    let looked: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
    skip(
        "this test",
        &format!(
            "the shared reference {file} is missing (looked in {}; set LANECHECK_REFERENCE)",
            looked.join(", ")
        ),
    );
    None
}

/// The shared real-capture corpus, or `None` after a loud notice. Under
/// `CI=true` its absence fails the test instead.
pub fn shared_corpus() -> Option<PathBuf> {
    let candidates = corpus_candidates();
    if let Some(dir) = candidates.iter().find(|d| d.join("groundtruth").is_dir()) {
        return Some(dir.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
    skip(
        "this test",
        &format!(
            "the shared capture corpus is missing (looked in {}; set LANECHECK_CORPUS)",
            looked.join(", ")
        ),
    );
    None
}

/// Every capture of the corpus (`files/**/*.{pcap,pcapng,cap}`), sorted.
pub fn corpus_captures(corpus: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![corpus.join("files")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
            {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 10, "{} corpus captures", files.len());
    files
}

/// Reports a test skipped for a missing prerequisite: a loud line on
/// stderr that `scripts/test-summary.sh` counts as a skip, or, under
/// `CI=true`, a failure. Always returns `false` (for `if !have(..) { return }`).
pub fn skip(test: &str, why: &str) -> bool {
    let msg = format!("SKIPPED {test}: {why}");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg} (CI=true: a skip is a failure)");
    }
    loud(&msg);
    false
}

/// A private copy of the `lanecheck` binary (and of `files`) in a fresh
/// world-readable directory, for tests that run it as an unprivileged user:
/// the checkout itself may sit under a 0700 home directory.
pub fn world_readable_copy(files: &[&Path]) -> (tempfile::TempDir, PathBuf, Vec<PathBuf>) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("lanecheck-test")
        .tempdir_in("/tmp")
        .expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("lanecheck");
    std::fs::copy(env!("CARGO_BIN_EXE_lanecheck"), &bin).expect("copy binary");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copies = files
        .iter()
        .map(|f| {
            let to = dir.path().join(f.file_name().expect("a file"));
            std::fs::copy(f, &to).expect("copy file");
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644)).unwrap();
            to
        })
        .collect();
    (dir, bin, copies)
}

/// Reads a tab-separated file with a header row into maps.
pub fn read_tsv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t'))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Prints a skip notice straight to stderr: libtest captures `eprintln!`
/// of passing tests, which would hide it.
pub fn loud(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
}

/// `tshark ARGS`' standard output, or `None` after a skip (counted, or a
/// failure under `CI=true`) when tshark is missing; `test` names the caller.
pub fn tshark_output(test: &str, args: &[&str]) -> Option<String> {
    let Ok(out) = Command::new("tshark").args(args).output() else {
        skip(test, "tshark not found (`make test` installs it)");
        return None;
    };
    assert!(
        out.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A copy of the pcapng `src` at `dst` whose last packet is `by` time units
/// later (its timestamp's low word plus `by`): the same traffic, different
/// bytes, where a test needs a capture several times (one file given
/// twice, or a byte-for-byte copy, is refused: its packets would count
/// twice).
pub fn retimed_copy(src: &Path, dst: &Path, by: u8) {
    let mut bytes = std::fs::read(src).unwrap();
    let last = *packet_blocks(&bytes)
        .last()
        .expect("a pcapng with a packet");
    let ts = last + 16;
    let later = le32(&bytes, ts).wrapping_add(u32::from(by));
    bytes[ts..ts + 4].copy_from_slice(&later.to_le_bytes());
    std::fs::write(dst, bytes).unwrap();
}

/// The little-endian 32-bit word at `at`.
pub fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Where each enhanced packet block of a (little-endian) pcapng starts,
/// walked by the block lengths.
pub fn packet_blocks(bytes: &[u8]) -> Vec<usize> {
    let (mut at, mut out) = (0, Vec::new());
    while at + 8 <= bytes.len() {
        if le32(bytes, at) == 6 {
            out.push(at);
        }
        at += le32(bytes, at + 4) as usize;
    }
    out
}

/// The `evidence_gave_up` entries of a report: (protocol, reason) → flows.
pub fn gave_up(doc: &serde_json::Value) -> std::collections::BTreeMap<(String, String), u64> {
    doc["evidence_gave_up"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let s = |k: &str| g[k].as_str().unwrap().to_string();
            ((s("protocol"), s("reason")), g["flows"].as_u64().unwrap())
        })
        .collect()
}

/// Every value of `key` anywhere in `v` (tshark's JSON nests its fields
/// in trees).
pub fn all_values<'a>(v: &'a serde_json::Value, key: &str, out: &mut Vec<&'a serde_json::Value>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if k == key {
                    out.push(x);
                } else {
                    all_values(x, key, out);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| all_values(x, key, out)),
        _ => {}
    }
}

/// A policy in `dir` under which every SMB connection is dissected: a rule
/// keyed on any share.
pub fn every_smb_share_policy(dir: &Path) -> PathBuf {
    let policy = dir.join("smb.toml");
    let rule = "[networks]\nlan = [\"0.0.0.0/0\", \"::/0\"]\n\n[[rules]]\nclass = \"smb-share\"\nproto = \"tcp\"\nports = [445, 139]\nsmb_share = \"*\"\nnetworks = [\"lan\"]\n";
    std::fs::write(&policy, rule).unwrap();
    policy
}

/// The corpus captures whose protocol hierarchy names one of `protos`,
/// by path, sorted, once each.
pub fn corpus_with(corpus: &Path, protos: &[&str]) -> Vec<String> {
    let mut files: Vec<String> = read_tsv(&corpus.join("MANIFEST.tsv"))
        .into_iter()
        .filter(|r| protos.iter().any(|p| r["protocols_io_phs"].contains(p)))
        .map(|r| r["local_path"].clone())
        .collect();
    files.sort();
    files.dedup();
    files
}
