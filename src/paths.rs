//! The outputs of `audit`, `merge`, `verify` and `flows` never overwrite
//! an input (a capture, a summary, the policy) nor each other: checked
//! before anything is created, since creating an output truncates it.
//! Paths are compared as the file system resolves them (`./a`,
//! `dir/../a`, a symbolic or a hard link and an absolute path to one file
//! are one file; a dangling link is where it points). Standard input (`-`
//! for a capture) is no file.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::flags::PolicySource;

/// What a path names: an existing file by its device and inode (however
/// it is reached: `./a`, `dir/../a`, a symbolic or a hard link), else the
/// path it would be made at: its directory's canonical path and its name,
/// after any dangling symbolic link (`None` when even that cannot be known:
/// it cannot be made).
#[derive(PartialEq, Eq)]
enum Id {
    File(u64, u64),
    New(PathBuf),
}

fn identity(p: &Path) -> Option<Id> {
    if let Ok(m) = std::fs::metadata(p) {
        // A device or a FIFO (`/dev/null`, `/dev/stdout`) is overwritten by
        // no one: any output may go there.
        return m.is_file().then(|| Id::File(m.dev(), m.ino()));
    }
    let p = link_target(p);
    let name = p.file_name()?;
    std::fs::canonicalize(dir_of(&p))
        .ok()
        .map(|d| Id::New(d.join(name)))
}

/// The directory a file is in (`.` for a bare name).
pub fn dir_of(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Where scratch files for output FILE go (a spool, a journal): FILE's
/// directory, on the disk the result goes to (not a possibly RAM-backed
/// /tmp), else the temporary directory when FILE's cannot hold one (FILE
/// in /dev/fd); an error naming both when neither can. Checked by making
/// an unnamed file there.
pub fn scratch_dir(file: &Path) -> Result<PathBuf> {
    let mut why = Vec::new();
    for dir in [dir_of(file).to_path_buf(), std::env::temp_dir()] {
        match tempfile::tempfile_in(&dir) {
            Ok(_) => return Ok(dir),
            Err(e) => why.push(format!("{}: {e}", dir.display())),
        }
    }
    bail!("no scratch file can be made ({})", why.join("; "))
}

/// Where a dangling symbolic link points (followed up to 40 links, as the
/// kernel does), or the path itself.
fn link_target(p: &Path) -> PathBuf {
    let mut p = p.to_path_buf();
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&p) else {
            break;
        };
        p = match p.parent() {
            Some(d) if target.is_relative() => d.join(target),
            _ => target,
        };
    }
    p
}

/// The policy file, as an input (none when the policy is derived from
/// exports: a directory no output can be).
pub fn policy(source: &PolicySource) -> Option<(&'static str, &Path)> {
    source.policy.as_deref().map(|p| ("the policy", p))
}

/// Refuses a capture given twice: by two names of one file (`a.pcap` and
/// `./a.pcap`, overlapping globs, a link), as a byte-for-byte copy, or
/// standard input twice. Its packets would count twice, and that can turn
/// an inconclusive `--expect` into a pass. Copies are compared only when
/// their sizes match, and only until the first byte that differs.
pub fn captures_once(captures: &[&Path]) -> Result<()> {
    // A regular file's device, inode and length.
    type FileId = (u64, u64, u64);
    let mut seen: Vec<(&Path, Option<FileId>)> = Vec::new();
    for &p in captures {
        let id = std::fs::metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| (m.dev(), m.ino(), m.len()));
        for &(q, q_id) in &seen {
            let stdin = p.as_os_str() == "-" && q.as_os_str() == "-";
            if stdin {
                bail!("- (standard input) is given twice: it can be read once");
            }
            let (Some(a), Some(b)) = (id, q_id) else {
                continue;
            };
            if (a.0, a.1) == (b.0, b.1) {
                bail!(
                    "{} and {} are one file: give each capture once (its packets would count twice)",
                    q.display(),
                    p.display()
                );
            }
            if a.2 == b.2 && same_bytes(p, q) {
                bail!(
                    "{} holds the same bytes as {}: the same capture twice (its packets would count twice)",
                    p.display(),
                    q.display()
                );
            }
        }
        seen.push((p, id));
    }
    Ok(())
}

/// Whether two files hold the same bytes (read side by side until the first
/// difference; a file that cannot be read is not the same).
pub fn same_bytes(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (Ok(mut a), Ok(mut b)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = match a.read(&mut x) {
            Ok(n) => n,
            Err(_) => return false,
        };
        if n == 0 {
            return matches!(b.read(&mut y[..1]), Ok(0));
        }
        if b.read_exact(&mut y[..n]).is_err() || x[..n] != y[..n] {
            return false;
        }
    }
}

/// Refuses any output of `outputs` (flag, path if given) that is `-`, one
/// of the `inputs` (what it is, path) or another output.
pub fn check(inputs: &[(&str, &Path)], outputs: &[(&str, Option<&Path>)]) -> Result<()> {
    let inputs: Vec<(&str, Id)> = inputs
        .iter()
        .filter(|(_, p)| p.as_os_str() != "-")
        .filter_map(|(what, p)| Some((*what, identity(p)?)))
        .collect();
    let mut made: Vec<(&str, Id)> = Vec::new();
    for (flag, path) in outputs {
        if path.is_some_and(|p| p.as_os_str() == "-") {
            bail!("{flag} -: an output is a file here (leave --output out for standard output); give a path");
        }
        let Some((path, out)) = path.and_then(|p| Some((p, identity(p)?))) else {
            continue;
        };
        if let Some((what, _)) = inputs.iter().find(|(_, p)| *p == out) {
            bail!("{flag} {} would overwrite {what}", path.display());
        }
        if let Some((other, _)) = made.iter().find(|(_, p)| *p == out) {
            bail!(
                "{other} and {flag} name the same file {}: give each its own",
                path.display()
            );
        }
        made.push((flag, out));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_is_given_once() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name);
        std::fs::write(at("a.pcap"), b"abcdef").unwrap();
        std::fs::write(at("copy.pcap"), b"abcdef").unwrap();
        std::fs::write(at("other.pcap"), b"abcdeg").unwrap();
        std::fs::write(at("short.pcap"), b"abcde").unwrap();
        std::fs::create_dir(at("sub")).unwrap();
        std::fs::hard_link(at("a.pcap"), at("hard.pcap")).unwrap();
        let err = |list: &[PathBuf]| {
            let list: Vec<&Path> = list.iter().map(PathBuf::as_path).collect();
            captures_once(&list).unwrap_err().to_string()
        };
        let a = at("a.pcap");
        for twice in [a.clone(), at("sub/../a.pcap"), at("hard.pcap")] {
            let e = err(&[a.clone(), at("short.pcap"), twice.clone()]);
            assert_eq!(
                e,
                format!(
                    "{} and {} are one file: give each capture once (its packets would count twice)",
                    a.display(),
                    twice.display()
                )
            );
        }
        let e = err(&[a.clone(), at("copy.pcap")]);
        assert!(
            e.ends_with("a.pcap: the same capture twice (its packets would count twice)"),
            "{e}"
        );
        let e = err(&[PathBuf::from("-"), a.clone(), PathBuf::from("-")]);
        assert_eq!(e, "- (standard input) is given twice: it can be read once");
        assert!(!same_bytes(&at("short.pcap"), &a) && !same_bytes(&a, &at("short.pcap")));
        assert!(same_bytes(&a, &at("copy.pcap")));
        // One byte differs, another length, a directory, a missing file.
        let fine = [
            a,
            at("other.pcap"),
            at("short.pcap"),
            at("sub"),
            at("gone"),
            "-".into(),
        ];
        let fine: Vec<&Path> = fine.iter().map(PathBuf::as_path).collect();
        captures_once(&fine).unwrap();
    }

    #[test]
    fn an_output_may_be_no_input_nor_another_output() {
        let dir = tempfile::tempdir().unwrap();
        let cap = dir.path().join("a.pcap");
        std::fs::write(&cap, b"x").unwrap();
        std::os::unix::fs::symlink(&cap, dir.path().join("link.pcap")).unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let input = [("a capture being audited", cap.as_path())];
        let err = |outs: &[(&str, &Path)]| {
            let outs: Vec<_> = outs.iter().map(|(f, p)| (*f, Some(*p))).collect();
            check(&input, &outs).unwrap_err().to_string()
        };
        // The capture, however it is spelled.
        let dotted = sub.join("../a.pcap");
        let link = dir.path().join("link.pcap");
        for p in [cap.as_path(), dotted.as_path(), link.as_path()] {
            let e = err(&[("-o", p)]);
            assert!(
                e.ends_with("would overwrite a capture being audited"),
                "{e}"
            );
        }
        // A hard link to it.
        let hard = dir.path().join("hard.pcap");
        std::fs::hard_link(&cap, &hard).unwrap();
        let e = err(&[("-o", hard.as_path())]);
        assert!(
            e.ends_with("would overwrite a capture being audited"),
            "{e}"
        );
        // Two outputs, one of them not made yet, one a dangling link to it.
        let t = dir.path().join("t.json");
        let dangling = sub.join("dangling.json");
        std::os::unix::fs::symlink("../t.json", &dangling).unwrap();
        let e = err(&[("--save", dangling.as_path()), ("-o", t.as_path())]);
        assert!(e.starts_with("--save and -o name the same file"), "{e}");
        // Two outputs, one of them not made yet.
        let new = dir.path().join("s.json");
        let new_dotted = sub.join("../s.json");
        let e = err(&[("--save", new.as_path()), ("-o", new_dotted.as_path())]);
        assert!(e.starts_with("--save and -o name the same file"), "{e}");
        // Distinct outputs, standard input, an unmakeable path: no objection.
        let other = dir.path().join("r.json");
        let nowhere = Path::new("/nonexistent/dir/x");
        // A device is no file any output overwrites; `-` is no file at all.
        let null = Path::new("/dev/null");
        check(&[], &[("-o", Some(null)), ("--save", Some(null))]).unwrap();
        let e = check(&[], &[("-o", Some(Path::new("-")))]).unwrap_err();
        assert!(
            e.to_string().starts_with("-o -: an output is a file here"),
            "{e}"
        );
        let outs = [
            ("--save", Some(new.as_path())),
            ("-o", Some(other.as_path())),
            ("-o", Some(nowhere)),
            ("--violations-pcap", None),
        ];
        check(&[("a capture", Path::new("-"))], &outs).unwrap();
        check(&input, &outs).unwrap();
    }
}
