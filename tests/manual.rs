//! Documentation generated from the flags: the committed man pages
//! (`docs/man/`) are what `lanecheck man` writes now, they render without
//! a warning, and every shell's completion script parses and completes
//! what `--help` lists.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::util::{root, run, skip};

/// Every file of `dir`: name → contents.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().to_string();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

#[test]
fn the_committed_man_pages_are_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["man", "--out", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh = files(dir.path());
    let committed = files(&root().join("docs/man"));
    let stale: std::collections::BTreeSet<&String> = fresh
        .keys()
        .chain(committed.keys())
        .filter(|n| fresh.get(*n) != committed.get(*n))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/man is stale ({stale:?} differ from what the flags give now): \
         regenerate it with `make man` (cargo run -- man --out docs/man) and commit it"
    );
    assert!(fresh.contains_key("lanecheck.1") && fresh.contains_key("lanecheck-audit.1"));
}

#[test]
fn the_man_pages_render_without_warnings() {
    let dir = root().join("docs/man");
    for name in files(&dir).keys() {
        let Ok(out) = Command::new("groff")
            .args(["-man", "-ww", "-z", "-Tutf8"])
            .arg(dir.join(name))
            .output()
        else {
            skip(
                "man page lint",
                "groff not found (`make test` installs groff-base)",
            );
            return;
        };
        assert!(out.status.success(), "{name}");
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(warnings.is_empty(), "{name}: {warnings}");
    }
}

/// The subcommands `lanecheck --help` lists.
fn subcommands() -> Vec<String> {
    let out = run(&["--help"]);
    let help = String::from_utf8(out.stdout).unwrap();
    let list = help.split("Commands:\n").nth(1).unwrap();
    let names: Vec<String> = list
        .lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert!(names.len() >= 8, "{help}");
    names
}

/// `lanecheck completions SHELL` into a file in `dir`.
fn script(shell: &str, dir: &Path) -> std::path::PathBuf {
    let out = run(&["completions", shell]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join(format!("lanecheck.{shell}"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// What bash completes for the words typed so far (the last one is being
/// completed): the completion function called as bash calls it.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    const DRIVER: &str = r#"source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
_lanecheck lanecheck "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}""#;
    let out = Command::new("bash")
        .args(["-c", DRIVER, "bash"])
        .arg(script)
        .args(words)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completion_parses_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let bash = script("bash", dir.path());
    let syntax = Command::new("bash").arg("-n").arg(&bash).output().unwrap();
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    let mut offered = bash_complete(&bash, &["lanecheck", ""]);
    offered.retain(|w| !w.starts_with('-'));
    let mut want = subcommands();
    offered.sort();
    want.sort();
    assert_eq!(offered, want);
    assert_eq!(bash_complete(&bash, &["lanecheck", "au"]), ["audit"]);
    assert_eq!(
        bash_complete(&bash, &["lanecheck", "audit", "--viol"]),
        ["--violations-pcap"]
    );
    assert_eq!(
        bash_complete(&bash, &["lanecheck", "verify", "--color", ""]),
        ["auto", "always", "never"]
    );
}

#[test]
fn zsh_and_fish_completions_parse_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let zsh = script("zsh", dir.path());
    let text = std::fs::read_to_string(&zsh).unwrap();
    for sub in subcommands() {
        assert!(text.contains(&format!("'{sub}:")), "zsh: {sub}");
    }
    match Command::new("zsh").arg("-n").arg(&zsh).output() {
        Ok(o) => assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => {
            skip("zsh completion", "zsh not found (`make test` installs it)");
        }
    }
    let fish = script("fish", dir.path());
    let complete = |line: &str| -> Option<Vec<String>> {
        let cmd = format!("source {}; complete -C '{line}'", fish.display());
        let o = Command::new("fish").args(["-c", &cmd]).output().ok()?;
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8(o.stdout).unwrap();
        Some(
            text.lines()
                .map(|l| l.split('\t').next().unwrap().to_string())
                .collect(),
        )
    };
    let Some(subs) = complete("lanecheck ") else {
        skip(
            "fish completion",
            "fish not found (`make test` installs it)",
        );
        return;
    };
    for sub in subcommands() {
        assert!(subs.contains(&sub), "fish: {sub} not in {subs:?}");
    }
    assert_eq!(
        complete("lanecheck audit --viol").unwrap(),
        ["--violations-pcap"]
    );
}
