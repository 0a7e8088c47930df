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

/// The shared real-capture corpus (`../shared/pcaps`), or `None` after a
/// loud notice. Under `CI=true` its absence fails the test instead.
pub fn shared_corpus() -> Option<PathBuf> {
    let dir = root().join("../shared/pcaps");
    if dir.join("groundtruth").is_dir() {
        return Some(dir);
    }
    let msg = format!(
        "SKIPPED: the shared capture corpus is missing at {}",
        dir.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg} (CI=true: a skip is a failure)");
    }
    loud(&msg);
    None
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
