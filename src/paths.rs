//! Output files never overwrite an input (a capture, a summary, the
//! policy), nor each other: checked before anything is created, since
//! creating an output truncates it. Paths are compared as the file system
//! resolves them (`./a`, `dir/../a`, a symbolic link and an absolute path
//! to one file are one file). Standard input and output (`-` for a
//! capture) are no file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::flags::PolicySource;

/// A path as the file system resolves it: an existing file's canonical
/// path; for one not made yet, its directory's canonical path and its
/// name (`None` when even that cannot be known: it cannot be made).
fn resolved(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = std::fs::canonicalize(p) {
        return Some(c);
    }
    let name = p.file_name()?;
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::canonicalize(dir).ok().map(|d| d.join(name))
}

/// The policy file, as an input (none when the policy is derived from
/// exports: a directory no output can be).
pub fn policy(source: &PolicySource) -> Option<(&'static str, &Path)> {
    source.policy.as_deref().map(|p| ("the policy", p))
}

/// Refuses any output of `outputs` (flag, path if given) that is one of
/// the `inputs` (what it is, path) or another output.
pub fn check(inputs: &[(&str, &Path)], outputs: &[(&str, Option<&Path>)]) -> Result<()> {
    let inputs: Vec<(&str, PathBuf)> = inputs
        .iter()
        .filter(|(_, p)| p.as_os_str() != "-")
        .filter_map(|(what, p)| Some((*what, resolved(p)?)))
        .collect();
    let mut made: Vec<(&str, PathBuf)> = Vec::new();
    for (flag, path) in outputs {
        let Some((path, out)) = path.and_then(|p| Some((p, resolved(p)?))) else {
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
        // Two outputs, one of them not made yet.
        let new = dir.path().join("s.json");
        let new_dotted = sub.join("../s.json");
        let e = err(&[("--save", new.as_path()), ("-o", new_dotted.as_path())]);
        assert!(e.starts_with("--save and -o name the same file"), "{e}");
        // Distinct outputs, standard input, an unmakeable path: no objection.
        let other = dir.path().join("r.json");
        let nowhere = Path::new("/nonexistent/dir/x");
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
