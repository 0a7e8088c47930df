//! Terminal conventions, with a real pseudo-terminal: the audit progress
//! bar appears on a terminal and never in a pipe; `--color` and NO_COLOR
//! (https://no-color.org) decide whether the text report is coloured, and
//! colour changes nothing else.

use std::fs::File;
use std::io::Read;
use std::process::Stdio;

use crate::audit::{generate, policy};
use crate::util::lanecheck;

/// Which of lanecheck's streams is the terminal.
#[derive(Clone, Copy)]
enum Tty {
    Stdout,
    Stderr,
}

/// What a run wrote: its exit code, the terminal's bytes and the other
/// stream's (a pipe).
struct Ran {
    code: Option<i32>,
    tty: String,
    pipe: String,
}

/// Runs lanecheck with `tty` on a pseudo-terminal (TERM=xterm) and the
/// other output stream a pipe, with no colour variables but `env`.
fn on_pty(args: &[&str], env: &[(&str, &str)], tty: Tty) -> Ran {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let mut cmd = lanecheck();
    cmd.args(args).env("TERM", "xterm").stdin(Stdio::null());
    for v in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE"] {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied());
    let slave = Stdio::from(pty.slave);
    match tty {
        Tty::Stdout => cmd.stdout(slave).stderr(Stdio::piped()),
        Tty::Stderr => cmd.stderr(slave).stdout(Stdio::piped()),
    };
    let child = cmd.spawn().expect("run lanecheck");
    // Our copy of the terminal's far end goes with `cmd`, so reading the
    // near end ends (EIO) once lanecheck exits.
    drop(cmd);
    let mut master = File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let _ = master.read_to_end(&mut got);
        got
    });
    let out = child.wait_with_output().unwrap();
    let tty_bytes = reader.join().unwrap();
    let pipe = match tty {
        Tty::Stdout => out.stderr,
        Tty::Stderr => out.stdout,
    };
    Ran {
        code: out.status.code(),
        tty: String::from_utf8_lossy(&tty_bytes).replace("\r\n", "\n"),
        pipe: String::from_utf8_lossy(&pipe).to_string(),
    }
}

/// `text` without SGR sequences (`ESC [ … m`).
fn strip_sgr(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('m').expect("an SGR sequence ends with m");
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `2.15 MiB`, as the bar prints a byte count (two decimals, binary units).
fn binary_size(bytes: u64) -> String {
    let mut v = bytes as f64;
    let mut unit = "B";
    for u in ["KiB", "MiB", "GiB"] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.2} {unit}")
}

#[test]
fn the_progress_bar_shows_on_a_terminal_and_never_in_a_pipe() {
    let (dir, t) = generate("dpm_primary_lan");
    let p = policy("dpm.toml");
    let out = dir.path().join("v.pcapng");
    let file = t.file.to_str().unwrap();
    let mut args = vec![
        "audit",
        "-p",
        &p,
        "--progress-threshold",
        "0",
        "--violations-pcap",
        out.to_str().unwrap(),
    ];
    // Twelve captures of the same traffic (each its own bytes: one file
    // given twice is refused).
    let copies: Vec<String> = (1..=12u8)
        .map(|i| {
            let c = dir.path().join(format!("c{i}.pcapng"));
            crate::util::retimed_copy(&t.file, &c, i);
            c.to_str().unwrap().to_string()
        })
        .collect();
    args.extend(copies.iter().map(String::as_str));
    let total = std::fs::metadata(&t.file).unwrap().len() * 12;

    let ran = on_pty(&args, &[], Tty::Stderr);
    assert_eq!(ran.code, Some(1), "{}", ran.tty);
    assert!(ran.tty.contains("reading ["), "{:?}", ran.tty);
    assert!(ran.tty.contains(&binary_size(total)), "{:?}", ran.tty);
    assert!(ran.tty.contains("packets/s, ETA"), "{:?}", ran.tty);
    assert!(
        ran.tty.contains("writing --violations-pcap ["),
        "{:?}",
        ran.tty
    );
    assert!(ran.pipe.starts_with("FAIL: "), "{}", ran.pipe);

    // Into a pipe: not a byte of it.
    let piped = lanecheck().args(&args).output().unwrap();
    assert_eq!(piped.status.code(), Some(1));
    let err = String::from_utf8_lossy(&piped.stderr);
    assert!(
        !err.contains("reading") && !err.contains('\r') && !err.contains('\x1b'),
        "{err:?}"
    );

    // On a terminal, but under the (default) threshold: none either.
    let small = on_pty(&["audit", "-p", &p, file], &[], Tty::Stderr);
    assert_eq!(small.code, Some(1));
    assert_eq!(small.tty, "");
}

#[test]
fn no_color_and_color_flags_decide_the_escape_codes() {
    let (_dir, t) = generate("dpm_fallback");
    let p = policy("dpm-fallback.toml");
    let file = t.file.to_str().unwrap();
    let audit = |extra: &[&str], env: &[(&str, &str)], tty: Tty| {
        let mut args = vec!["audit", "-p", &p, file];
        args.extend_from_slice(extra);
        let ran = on_pty(&args, env, tty);
        assert_eq!(ran.code, Some(0), "{}{}", ran.tty, ran.pipe);
        match tty {
            Tty::Stdout => ran.tty,
            Tty::Stderr => ran.pipe,
        }
    };
    let plain = audit(&["--color", "never"], &[], Tty::Stdout);
    assert!(!plain.contains('\x1b'));
    // A terminal is coloured unless NO_COLOR is set and not empty.
    let auto = audit(&[], &[], Tty::Stdout);
    assert!(
        auto.contains("\x1b[1m\x1b[32mPASS\x1b[0m: no violation, 1 warning\n"),
        "{auto:?}"
    );
    assert!(auto.contains("\x1b[1m\x1b[33mFALLBACK "), "{auto:?}");
    assert_eq!(strip_sgr(&auto), plain);
    assert_eq!(audit(&[], &[("NO_COLOR", "1")], Tty::Stdout), plain);
    assert_eq!(audit(&[], &[("NO_COLOR", "")], Tty::Stdout), auto);
    // A pipe is plain, unless asked: CLICOLOR_FORCE (NO_COLOR wins over
    // it) or --color always (which wins over NO_COLOR).
    assert_eq!(audit(&[], &[], Tty::Stderr), plain);
    assert_eq!(audit(&[], &[("CLICOLOR_FORCE", "1")], Tty::Stderr), auto);
    let both = [("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")];
    assert_eq!(audit(&[], &both, Tty::Stderr), plain);
    let always = audit(&["--color", "always"], &[("NO_COLOR", "1")], Tty::Stderr);
    assert_eq!(always, auto);
    // --output FILE is not the terminal; JSON is never coloured.
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.txt");
    audit(&["-o", report.to_str().unwrap()], &[], Tty::Stdout);
    assert_eq!(std::fs::read_to_string(&report).unwrap(), plain);
    let json = audit(&["--format", "json", "--color", "always"], &[], Tty::Stdout);
    assert!(!json.contains('\x1b') && json.starts_with('{'));
}
