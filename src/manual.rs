//! Documentation generated from the clap definitions (`flags.rs`), so it
//! never disagrees with `--help`: shell completions
//! (`lanecheck completions SHELL`, clap_complete) and man pages
//! (`lanecheck man --out DIR`, clap_mangen). `docs/man/` holds the
//! committed pages; a test regenerates them and fails when they are stale
//! (`make man` refreshes them).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_mangen::Man;

use crate::flags::Cli;
use crate::Outcome;

/// Writes the completion script for `shell` on standard output.
pub fn completions(shell: clap_complete::Shell) -> Result<Outcome> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "lanecheck", &mut out);
    crate::output::write_all(None, |w| Ok(w.write_all(&out)?))?;
    Ok(Outcome::Pass)
}

/// Writes `lanecheck.1` and one page per subcommand (`lanecheck-audit.1`,
/// `lanecheck-policy-check.1`…) into `dir`.
pub fn man(dir: &Path) -> Result<Outcome> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in pages()? {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(Outcome::Pass)
}

/// Every page: (file name, roff text). Deterministic: no date, so a
/// regenerated page differs only when the flags or the version do.
pub fn pages() -> Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = vec![page(&cmd, TOP_EXTRA.to_string() + &see_also(&cmd))?];
    subpages(&cmd, &mut out)?;
    Ok(out)
}

fn subpages(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out.push(page(sub, ".SH \"SEE ALSO\"\n.BR lanecheck (1)\n".into())?);
        subpages(sub, out)?;
    }
    Ok(())
}

/// One page: clap_mangen's sections, then `extra` (roff), then the
/// version (top page only).
fn page(cmd: &clap::Command, extra: String) -> Result<(String, Vec<u8>)> {
    let man = Man::new(cmd.clone());
    let mut text = Vec::new();
    man.render_title(&mut text)?;
    man.render_name_section(&mut text)?;
    man.render_synopsis_section(&mut text)?;
    man.render_description_section(&mut text)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut text)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut text)?;
    }
    text.extend_from_slice(extra.as_bytes());
    if cmd.get_version().is_some() {
        man.render_version_section(&mut text)?;
    }
    Ok((
        man.get_filename(),
        ascii(&String::from_utf8(text)?).into_bytes(),
    ))
}

/// Roff is ASCII: `…` becomes `\[u2026]`, which groff and mandoc draw.
fn ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
        }
    }
    out
}

/// `.BR lanecheck-audit (1),` … for every subcommand page.
fn see_also(cmd: &clap::Command) -> String {
    let mut names = Vec::new();
    collect_names(cmd, "lanecheck", &mut names);
    let mut s = String::from(".SH \"SEE ALSO\"\n");
    for (i, n) in names.iter().enumerate() {
        let sep = if i + 1 < names.len() { "," } else { "" };
        s.push_str(&format!(".BR {n} (1){sep}\n"));
    }
    s
}

fn collect_names(cmd: &clap::Command, prefix: &str, names: &mut Vec<String>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{prefix}-{}", sub.get_name());
        names.push(name.clone());
        collect_names(sub, &name, names);
    }
}

/// Exit codes and environment (roff), after the generated sections.
const TOP_EXTRA: &str = r#".SH "EXIT STATUS"
.TP
.B 0
pass: no violation (fallbacks allowed with on_fallback = "warn" are warnings).
.TP
.B 1
fail: at least one violation; wins over every other outcome.
.TP
.B 2
error: bad flags, an unreadable policy, a capture given twice, or a capture argument that is not a capture (the verdict is then error, never pass).
.TP
.B 3
inconclusive: live capture lost packets, an \-\-expect class was not seen, the verified command failed, no packet was read, or none was an IP packet lanecheck decodes.
.SH ENVIRONMENT
.TP
.B NO_COLOR
When set and not empty, text reports are not coloured unless \-\-color always asks (https://no\-color.org).
.TP
.B CLICOLOR_FORCE
When set and not 0, text reports are coloured even into a pipe (NO_COLOR wins).
.TP
.B RUST_LOG
Log filter for stderr diagnostics; wins over \-\-log\-level.
"#;
