//! Audit summaries: `audit --save FILE` writes one, `lanecheck merge`
//! reads several and reports them as one audit of all their captures.
//!
//! A summary is versioned JSON holding what a report is made of before it
//! becomes words: the analyzer's [`Report`] (classes with their full
//! per-bin series, violations with evidence, findings, endpoints, DNS
//! violations), the capture rows, the flow table's counters, the policy
//! text and the settings that shape a report, and a digest of every flow
//! (to find flows that more than one summary holds). Merging is
//! [`Report::merge`] plus concatenating the captures; docs/deployment.md
//! says when the result equals one run and what it warns about when not.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use analyzer::flow::Sweeps;
use analyzer::{Analyzer, AnalyzerConfig, Report};
use anyhow::{bail, Context, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::expect::Expect;
use crate::flags::{MergeArgs, ReportArgs};
use crate::output::{CaptureRow, FlowRow, FlowTableRow};
use crate::Outcome;

/// The `format` of a summary.
pub const FORMAT: &str = "lanecheck-audit-summary";
/// The version written; a reader refuses newer ones. Version 2 ends with
/// the CRC-32 of every byte before it (`"crc32"`); version 1 has none.
pub const VERSION: u32 = 2;
/// The member a summary of version 2 ends with: `,"crc32":"8 hex digits"}`.
const CRC_MEMBER: &[u8] = b",\"crc32\":\"";

/// The audit settings a merge requires to be equal in every summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub bin_ns: i64,
    pub idle_timeout_ns: i64,
    pub evidence_window_ns: i64,
    pub max_flows: usize,
    pub dedup: String,
}

impl Settings {
    /// The settings of an audit run with `cfg`.
    pub fn of(cfg: &AnalyzerConfig) -> Self {
        Settings {
            bin_ns: cfg.bin_ns,
            idle_timeout_ns: cfg.flows.idle_timeout_ns,
            evidence_window_ns: cfg.evidence_window_ns,
            max_flows: cfg.flows.max_flows,
            dedup: format!("{:?}", cfg.dedup).to_lowercase(),
        }
    }

    /// How these differ from `other`, flag by flag: `--bin 2s against 1s`.
    pub fn against(&self, other: &Settings) -> Vec<String> {
        let time = |ns: i64| {
            let d = std::time::Duration::from_nanos(u64::try_from(ns).unwrap_or(0));
            humantime::format_duration(d).to_string()
        };
        // Every field named: one added later fails to compile until it is
        // said here.
        let Settings {
            bin_ns,
            idle_timeout_ns,
            evidence_window_ns,
            max_flows,
            dedup,
        } = self;
        let pairs = [
            ("--bin", time(*bin_ns), time(other.bin_ns)),
            (
                "--idle-timeout",
                time(*idle_timeout_ns),
                time(other.idle_timeout_ns),
            ),
            (
                "--evidence-window",
                time(*evidence_window_ns),
                time(other.evidence_window_ns),
            ),
            (
                "--max-flows",
                max_flows.to_string(),
                other.max_flows.to_string(),
            ),
            ("--dedup", dedup.clone(), other.dedup.clone()),
        ];
        pairs
            .into_iter()
            .filter(|(_, a, b)| a != b)
            .map(|(flag, a, b)| format!("{flag} {a} against {b}"))
            .collect()
    }
}

/// One audit, as `audit --save` writes it.
#[derive(Serialize, Deserialize)]
pub struct Summary {
    pub format: String,
    pub version: u32,
    /// The lanecheck version that wrote it.
    pub lanecheck: String,
    pub settings: Settings,
    /// The policy's TOML, as read or derived.
    pub policy: String,
    pub captures: Vec<CaptureRow>,
    pub flow_table: FlowTableRow,
    pub report: Report,
    /// Every flow's [`Analyzer::flow_digest`], sorted: little-endian u64s
    /// in base64.
    pub flow_digests: String,
    pub clock: Clock,
    /// What each capture file began with (absent from older summaries):
    /// to find one capture audited twice under other paths.
    #[serde(default)]
    pub contents: Vec<Content>,
    /// Read only, to refuse a version 1 summary that has it (a damaged
    /// version number); written by [`Summary::write`] itself, last.
    #[serde(default, skip_serializing)]
    crc32: Option<String>,
    /// The file's length and CRC-32, as read (to find one summary given
    /// twice).
    #[serde(skip)]
    fingerprint: (usize, u32),
}

/// The beginning of a capture file: its first [`Content::HEAD`] bytes (or
/// all of it when shorter), by length and CRC-32. Two captures that begin
/// alike are one capture (the first mebibyte holds its headers and its
/// first packets' times), whatever their paths: a merge refuses them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// The capture, as its row names it.
    pub capture: String,
    /// Bytes hashed.
    pub head_bytes: u64,
    /// Their CRC-32, 8 hex digits.
    pub head_crc32: String,
}

impl Content {
    /// Bytes hashed at most.
    pub const HEAD: u64 = 1 << 20;

    /// A capture file's beginning, read again as the summary is made (none
    /// for standard input, a file that cannot be read now, or one without a
    /// packet: two hosts' empty captures may be the same bytes, headers
    /// only, and hold nothing that could count twice).
    fn of(row: &CaptureRow) -> Option<Content> {
        use std::io::Read;
        if row.source == "-" || row.error.is_some() || row.packets == 0 {
            return None;
        }
        let mut head = Vec::new();
        File::open(&row.source)
            .ok()?
            .take(Self::HEAD)
            .read_to_end(&mut head)
            .ok()?;
        Some(Content {
            capture: row.source.clone(),
            head_bytes: head.len() as u64,
            head_crc32: format!("{:08x}", crc32fast::hash(&head)),
        })
    }
}

/// How the audit's flow table ended (see [`Analyzer::table_clock`]): what a
/// merge needs to count the flows one run would have expired while reading
/// later summaries' captures.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Clock {
    /// Last-seen times (ns) of the flows still in the table, sorted:
    /// little-endian i64s in base64.
    pub active_last_seen: String,
    /// The latest idle deadline (ns) a sweep applied.
    pub swept_to: Option<i64>,
    /// Most flows the table held at once.
    pub peak_flows: u64,
}

/// The fields that say what a file is: read alone when the whole does not
/// parse as a summary, to say why.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u32>,
    lanecheck: Option<String>,
}

/// What a summary says of the flow table beside the report: every flow's
/// digest (sorted) and how the table ended.
pub struct TableFacts {
    pub digests: Vec<u64>,
    pub end: TableEnd,
}

impl TableFacts {
    /// `an`'s.
    pub fn of(an: &Analyzer) -> Self {
        TableFacts {
            digests: an.flow_digests(),
            end: TableEnd::of(an),
        }
    }
}

impl Summary {
    /// The summary of an audit: its settings, policy, report, captures,
    /// flow-table counters and [`TableFacts`].
    pub fn new(
        table: TableFacts,
        cfg: &AnalyzerConfig,
        policy: &str,
        report: Report,
        captures: Vec<CaptureRow>,
        flow_table: FlowTableRow,
    ) -> Self {
        let TableFacts { digests, end } = table;
        let digests: Vec<u8> = digests.iter().flat_map(|d| d.to_le_bytes()).collect();
        let last_seen: Vec<u8> = end.last_seen.iter().flat_map(|t| t.to_le_bytes()).collect();
        let clock = Clock {
            active_last_seen: B64.encode(last_seen),
            swept_to: end.swept_to,
            peak_flows: end.peak,
        };
        let contents = captures.iter().filter_map(Content::of).collect();
        Summary {
            format: FORMAT.to_string(),
            version: VERSION,
            lanecheck: env!("CARGO_PKG_VERSION").to_string(),
            settings: Settings::of(cfg),
            policy: policy.to_string(),
            captures,
            flow_table,
            report,
            flow_digests: B64.encode(digests),
            clock,
            contents,
            crc32: None,
            fingerprint: (0, 0),
        }
    }

    /// Writes it to `out` (created before the captures are read).
    /// It ends with the CRC-32 of every byte before it, so a copy that
    /// lost or changed bytes is refused rather than merged (an integrity
    /// check against damage, not a signature).
    pub fn write(&self, path: &Path, out: File) -> Result<()> {
        // Buffered on both sides: serde's small writes reach `Sealed` in
        // 64 KiB pieces, and its split of each (all but the last byte, then
        // that byte) reaches the file in 64 KiB pieces too.
        let mut w = BufWriter::with_capacity(1 << 16, Sealed::new(BufWriter::new(out)));
        serde_json::to_writer(&mut w, self)
            .map_err(std::io::Error::from)
            .and_then(|()| w.into_inner().map_err(|e| e.into_error()))
            .and_then(Sealed::seal)
            .with_context(|| format!("cannot write summary {}", path.display()))
    }

    /// Reads a summary, saying what is wrong with a file that is not one.
    pub fn read(path: &Path) -> Result<Summary> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("{}: cannot open summary", path.display()))?;
        let mut s = match serde_json::from_slice::<Summary>(&bytes) {
            Ok(s) => s,
            Err(e) => return Err(unreadable(path, &bytes, &e)),
        };
        let header = Header {
            format: Some(s.format.clone()),
            version: Some(s.version),
            lanecheck: Some(s.lanecheck.clone()),
        };
        header.accept(path)?;
        intact(&bytes, s.version, s.crc32.is_some())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        s.check().map_err(|e| {
            anyhow::anyhow!("{}: not a summary lanecheck wrote: {e}", path.display())
        })?;
        for c in &mut s.captures {
            c.restore_words();
        }
        s.fingerprint = (bytes.len(), crc32fast::hash(&bytes));
        Ok(s)
    }

    /// What a summary lanecheck wrote always satisfies, so a damaged or
    /// forged one is refused here rather than trusted by the merge and the
    /// renderers: bins of at least 1 ms, each series in bin order with
    /// every bin's time within the nanosecond clock, a flow's own series
    /// in a power-of-two multiple of the report's bins.
    fn check(&self) -> std::result::Result<(), String> {
        let bin = self.settings.bin_ns;
        if bin < 1_000_000 {
            return Err(format!("settings.bin_ns {bin} is under 1 ms"));
        }
        for c in &self.report.classes {
            let shares = c.networks.iter().chain(&c.interfaces).chain(&c.vlans);
            for (what, b) in
                std::iter::once(("", &c.series)).chain(shares.map(|s| (s.name.as_str(), &s.series)))
            {
                check_bins(b, bin, false)
                    .map_err(|e| format!("class {} {what} series: {e}", c.class))?;
            }
        }
        for (i, v) in self.report.violations.iter().enumerate() {
            check_bins(&v.series, bin, true).map_err(|e| format!("violation {i} series: {e}"))?;
        }
        Ok(())
    }

    fn digests(&self, path: &Path) -> Result<Vec<u64>> {
        Ok(words(&self.flow_digests, path, "flow_digests")?
            .map(u64::from_le_bytes)
            .collect())
    }

    fn table_end(&self, path: &Path) -> Result<TableEnd> {
        Ok(TableEnd {
            last_seen: words(&self.clock.active_last_seen, path, "clock.active_last_seen")?
                .map(i64::from_le_bytes)
                .collect(),
            swept_to: self.clock.swept_to,
            peak: self.clock.peak_flows,
            sweeps: None,
        })
    }
}

/// A series as lanecheck writes it (see [`Summary::check`]); `coarser`:
/// a flow's own, in `2^k` report bins.
fn check_bins(
    b: &analyzer::report::Bins,
    bin_ns: i64,
    coarser: bool,
) -> std::result::Result<(), String> {
    if b.active.is_empty() {
        return Ok(());
    }
    let ratio = b.bin_ns.checked_div(bin_ns).unwrap_or(0);
    let fits = if coarser {
        b.bin_ns % bin_ns == 0 && ratio > 0 && (ratio as u64).is_power_of_two()
    } else {
        b.bin_ns == bin_ns
    };
    if !fits {
        return Err(format!(
            "bins of {} ns in a report of {bin_ns} ns bins",
            b.bin_ns
        ));
    }
    let in_clock = |i: i64| {
        i.checked_add(1)
            .and_then(|j| j.checked_mul(b.bin_ns))
            .is_some()
            && i.checked_mul(b.bin_ns).is_some()
    };
    if !b.active.windows(2).all(|w| w[0].0 < w[1].0) {
        return Err("bins out of order".into());
    }
    match b.active.iter().find(|(i, _)| !in_clock(*i)) {
        Some((i, _)) => Err(format!("bin {i} is beyond the clock")),
        None => Ok(()),
    }
}

impl Header {
    /// A summary of this format and a version this lanecheck reads.
    fn accept(&self, path: &Path) -> Result<()> {
        if self.format.as_deref() != Some(FORMAT) {
            bail!(
                "{}: not a lanecheck audit summary (write one with `lanecheck audit --save FILE`)",
                path.display()
            );
        }
        match self.version {
            Some(v) if (1..=VERSION).contains(&v) => Ok(()),
            Some(0) | None => bail!(
                "{}: a summary with no version lanecheck ever wrote (written by lanecheck {}): damaged, or not lanecheck's",
                path.display(),
                self.lanecheck.as_deref().unwrap_or("?"),
            ),
            Some(v) => bail!(
                "{}: summary version {v} (written by lanecheck {}); this lanecheck {} reads version {VERSION} and older",
                path.display(),
                self.lanecheck.as_deref().unwrap_or("?"),
                env!("CARGO_PKG_VERSION"),
            ),
        }
    }
}

/// A summary on its way to the file, its CRC-32 taken as it goes: every
/// byte but the last is written at once (the whole, hundreds of MB for a
/// capture of many violations, is never held), and the last, the object's
/// closing brace, waits for the CRC member, which goes before it.
struct Sealed<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
    held: Option<u8>,
}

impl<W: Write> Sealed<W> {
    fn new(inner: W) -> Self {
        Sealed {
            inner,
            crc: crc32fast::Hasher::new(),
            held: None,
        }
    }

    /// Ends the object with its CRC member, and flushes.
    fn seal(mut self) -> std::io::Result<()> {
        if self.held != Some(b'}') {
            return Err(std::io::Error::other("a summary is one JSON object"));
        }
        let crc = self.crc.finalize();
        let mut end = CRC_MEMBER.to_vec();
        end.extend_from_slice(format!("{crc:08x}\"}}").as_bytes());
        self.inner.write_all(&end)?;
        self.inner.flush()
    }
}

impl<W: Write> Write for Sealed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some((&last, rest)) = buf.split_last() else {
            return Ok(0);
        };
        if let Some(h) = self.held.take() {
            self.inner.write_all(&[h])?;
            self.crc.update(&[h]);
        }
        self.inner.write_all(rest)?;
        self.crc.update(rest);
        self.held = Some(last);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Whether a summary's bytes are the ones lanecheck wrote: from version 2,
/// its last member is the CRC-32 of every byte before it; a version 1
/// summary has none (a version number damaged into 1 is refused).
fn intact(bytes: &[u8], version: u32, has_crc: bool) -> std::result::Result<(), String> {
    if version < 2 {
        return match has_crc {
            true => Err("says version 1 but ends with a CRC-32, as version 2 does: damaged".into()),
            false => Ok(()),
        };
    }
    let end = bytes.trim_ascii_end();
    let at = end
        .windows(CRC_MEMBER.len())
        .rposition(|w| w == CRC_MEMBER)
        .ok_or("has no CRC-32 at its end: damaged, or edited since lanecheck wrote it")?;
    let stated = std::str::from_utf8(&end[at + CRC_MEMBER.len()..])
        .ok()
        .and_then(|t| t.strip_suffix("\"}"))
        .filter(|h| h.len() == 8)
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or("its CRC-32 member is not the last, or not 8 hex digits: damaged")?;
    let actual = crc32fast::hash(&end[..at]);
    match actual == stated {
        true => Ok(()),
        false => Err(format!(
            "its bytes changed since lanecheck wrote it (CRC-32 {actual:08x}, written as {stated:08x}): a damaged copy, or an edit; audit its captures again"
        )),
    }
}

/// Why `bytes` is not a summary: not one at all, a newer version, or
/// broken where `e` says.
fn unreadable(path: &Path, bytes: &[u8], e: &serde_json::Error) -> anyhow::Error {
    match serde_json::from_slice::<Header>(bytes) {
        Ok(h) => match h.accept(path) {
            Err(why) => why,
            Ok(()) => anyhow::anyhow!("{}: {}", path.display(), located(e)),
        },
        Err(h) => anyhow::anyhow!(
            "{}: not a lanecheck audit summary, or a damaged one: {}",
            path.display(),
            located(&h)
        ),
    }
}

/// `line L, column C: what` of a JSON error.
fn located(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    let what = text.strip_suffix(&at).unwrap_or(&text);
    format!("line {}, column {}: {what}", e.line(), e.column())
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The 8-byte words of a base64 field.
fn words(text: &str, path: &Path, field: &str) -> Result<impl Iterator<Item = [u8; 8]>> {
    let bytes = B64
        .decode(text)
        .ok()
        .filter(|b| b.len() % 8 == 0)
        .with_context(|| format!("{}: {field} is not base64 of 8-byte words", path.display()))?;
    let words: Vec<[u8; 8]> = bytes
        .chunks_exact(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            w
        })
        .collect();
    Ok(words.into_iter())
}

/// Creates the `--save` file before reading, so a bad path fails at once.
pub fn create(path: &Path) -> Result<File> {
    File::create(path).with_context(|| format!("cannot create summary {}", path.display()))
}

/// `lanecheck merge`.
pub fn merge(args: &MergeArgs) -> Result<Outcome> {
    let inputs: Vec<(&str, &Path)> = args
        .summaries
        .iter()
        .map(|p| ("a summary being merged", p.as_path()))
        .collect();
    crate::paths::check(&inputs, &[("--output", args.output.as_deref())])?;
    crate::output::ready(args.output.as_deref())?;
    let mut summaries: Vec<(PathBuf, Summary)> = args
        .summaries
        .iter()
        .map(|p| Ok((p.clone(), Summary::read(p)?)))
        .collect::<Result<_>>()?;
    once_each(&summaries)?;
    let (first_path, first) = &summaries[0];
    for (p, s) in &summaries[1..] {
        same_audit(first_path, first, p, s)?;
    }
    each_capture_once(&summaries)?;
    let first_max_flows = first.settings.max_flows;
    let label = format!("policy saved in {}", first_path.display());
    let policy = crate::config::parse(&first.policy, &label)?;
    let expect = Expect::new(&args.expect, &policy)?;
    let shared = shared_flows(&summaries)?;
    let versions: Vec<String> = summaries.iter().map(|(_, s)| s.lanecheck.clone()).collect();
    tell_apart(&mut summaries);
    let parts = summaries
        .into_iter()
        .map(|(p, s)| {
            Ok(Part {
                end: s.table_end(&p)?,
                report: s.report,
                captures: s.captures,
                flow_table: s.flow_table,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut merged = combine(parts, first_max_flows);
    merged
        .warnings
        .extend(other_versions(&args.summaries, &versions));
    if shared > 0 {
        merged.warnings.push(format!(
            "{shared} {} in more than one summary (one conversation captured on several hosts, or a flow split between captures audited apart): each summary counted its part as a flow of its own, so flow counts and violations may differ from one audit of all the captures",
            if shared == 1 { "flow appears" } else { "flows appear" }
        ));
    }
    crate::audit::report_merged(&report_args(args), merged, &expect, &policy)
}

/// A warning per summary another lanecheck version wrote: what that version
/// did not record (fields added since) is absent from its part, and what
/// it judged differently stays as it judged it.
fn other_versions(paths: &[PathBuf], versions: &[String]) -> Vec<String> {
    let this = env!("CARGO_PKG_VERSION");
    paths
        .iter()
        .zip(versions)
        .filter(|(_, v)| v.as_str() != this)
        .map(|(p, v)| {
            format!(
                "{} was written by lanecheck {v}, not by this lanecheck {this}: its part is as that version audited it (what it did not record is absent from the merge); audit its captures again with this version for one audit's report",
                p.display()
            )
        })
        .collect()
}

/// Captures named alike in several summaries (every host's
/// `/srv/captures/*.pcapng`) are named `SUMMARY: CAPTURE` in the merged
/// report, so it tells the hosts apart; other names are left as one audit
/// of all the captures shows them.
fn tell_apart(summaries: &mut [(PathBuf, Summary)]) {
    let mut holders: HashMap<String, std::collections::BTreeSet<usize>> = HashMap::new();
    for (i, (_, s)) in summaries.iter().enumerate() {
        for c in &s.captures {
            holders.entry(c.source.clone()).or_default().insert(i);
        }
    }
    for (path, s) in summaries.iter_mut() {
        for c in &mut s.captures {
            if holders.get(&c.source).is_some_and(|h| h.len() > 1) {
                let new = format!("{}: {}", path.display(), c.source);
                rename_in_findings(&mut s.report.findings.nics, &c.source, &new);
                c.source = new;
            }
        }
    }
}

/// The `[interfaces]` findings name captures in their words (`matches 2
/// interfaces of c.pcapng (…)`, `c.pcapng: interface … matches`): those of
/// a renamed capture take its new name.
fn rename_in_findings(nics: &mut analyzer::NicFindings, old: &str, new: &str) {
    let (of_old, of_new) = (format!(" of {old} ("), format!(" of {new} ("));
    for w in nics.keys.iter_mut().flat_map(|k| k.several.iter_mut()) {
        *w = w.replacen(&of_old, &of_new, 1);
    }
    let (at_old, at_new) = (format!("{old}: interface "), format!("{new}: interface "));
    for w in &mut nics.conflicts {
        if let Some(rest) = w.strip_prefix(&at_old) {
            *w = format!("{at_new}{rest}");
        }
    }
}

/// Refuses a summary given twice, by its path or as a copy: its captures
/// would count twice. (Two hosts' summaries of one conversation differ:
/// their captures' names, times and NICs; that is a warning, not this.)
fn once_each(summaries: &[(PathBuf, Summary)]) -> Result<()> {
    let mut seen: Vec<(&Path, Option<PathBuf>, (usize, u32))> = Vec::new();
    for (p, s) in summaries {
        let real = std::fs::canonicalize(p).ok();
        for (q, q_real, q_print) in &seen {
            if real.is_some() && real == *q_real {
                bail!("{} is given twice: merge each summary once", p.display());
            }
            // Compared by length and CRC-32 as read (holding every
            // summary's bytes would cost the memory of all of them), then
            // read again, side by side, to be sure when those match.
            let same = s.fingerprint == *q_print && crate::paths::same_bytes(p, q);
            if same {
                bail!(
                    "{} holds the same bytes as {}: the same audit twice (its captures would count twice)",
                    p.display(),
                    q.display()
                );
            }
        }
        seen.push((p, real, s.fingerprint));
    }
    Ok(())
}

/// Refuses one capture held by two summaries (the same file audited again
/// under another path, or a copy of it audited elsewhere): its packets
/// would count twice, and the flows-in-several-summaries warning would
/// have been the only word of it.
fn each_capture_once(summaries: &[(PathBuf, Summary)]) -> Result<()> {
    let mut seen: HashMap<(u64, &str), (&Path, &str)> = HashMap::new();
    for (p, s) in summaries {
        for c in &s.contents {
            let key = (c.head_bytes, c.head_crc32.as_str());
            match seen.get(&key) {
                Some((q, other)) if q != p => bail!(
                    "{}'s capture {} and {}'s capture {} begin with the same {} bytes: one capture audited twice (under another path, or a copy), whose packets would count twice: merge one summary of it",
                    q.display(),
                    other,
                    p.display(),
                    c.capture,
                    c.head_bytes
                ),
                _ => {
                    seen.insert(key, (p, c.capture.as_str()));
                }
            }
        }
    }
    Ok(())
}

/// A merge needs every summary audited alike: the same policy and the
/// settings that shape flows, classes and series.
fn same_audit(first_path: &Path, first: &Summary, path: &Path, s: &Summary) -> Result<()> {
    // Line endings and trailing blank lines are no difference in a policy.
    let text = |p: &str| p.replace("\r\n", "\n").trim_end().to_string();
    if text(&s.policy) != text(&first.policy) {
        bail!(
            "{} was audited with another policy than {}: merge summaries of one policy",
            path.display(),
            first_path.display()
        );
    }
    if s.settings != first.settings {
        bail!(
            "{} was audited with other settings than {} ({}): merge summaries audited with the same --bin, --idle-timeout, --evidence-window, --max-flows and --dedup",
            path.display(),
            first_path.display(),
            s.settings.against(&first.settings).join(", ")
        );
    }
    Ok(())
}

/// How many flows more than one summary holds.
fn shared_flows(summaries: &[(PathBuf, Summary)]) -> Result<u64> {
    let mut seen: HashMap<u64, u32> = HashMap::new();
    for (p, s) in summaries {
        for d in s.digests(p)? {
            *seen.entry(d).or_default() += 1;
        }
    }
    Ok(seen.values().filter(|n| **n > 1).count() as u64)
}

/// How an audit's flow table ended (see [`Analyzer::table_clock`]).
#[derive(Clone, Debug)]
pub struct TableEnd {
    /// Last packet times (ns) of the flows still in it, sorted.
    pub last_seen: Vec<i64>,
    /// The latest idle deadline a sweep applied.
    pub swept_to: Option<i64>,
    /// Most flows held at once.
    pub peak: u64,
    /// Its size between sweeps, when the audit kept it (an audit on a
    /// worker: not in summaries).
    pub sweeps: Option<Sweeps>,
}

impl TableEnd {
    /// The end of `an`'s table.
    pub fn of(an: &Analyzer) -> Self {
        let (last, swept_to, peak) = an.table_clock();
        TableEnd {
            last_seen: last.iter().map(|t| t.0).collect(),
            swept_to: swept_to.map(|t| t.0),
            peak: peak as u64,
            sweeps: an.table_sweeps().cloned(),
        }
    }
}

/// What one run over every part's captures, in order, would have done
/// with the flows each part left in its table.
pub struct Replayed {
    /// Flows a later capture's sweeps would have expired.
    pub expired: u64,
    /// The most flows one run might have held, when beyond `--max-flows`.
    pub crowded: Option<u64>,
    /// How one run's table ended: exact when every part kept its sweeps
    /// (its `peak` is otherwise an upper bound).
    pub end: TableEnd,
}

/// Replays the flow table's clock across parts: a flow a part left in its
/// table stays in one run's table while the next captures are read, and
/// expires at the first of their sweeps whose idle deadline passes its
/// last packet (each capture's sweeps run on its own clock, so they are
/// the part's own; the latest deadline decides).
pub fn replay_clock(parts: &[TableEnd], max_flows: usize) -> Replayed {
    // Sorted, so the flows a deadline expires are a prefix.
    let mut left: Vec<i64> = Vec::new();
    let mut out = Replayed {
        expired: 0,
        crowded: None,
        end: TableEnd {
            last_seen: Vec::new(),
            swept_to: None,
            peak: 0,
            sweeps: None,
        },
    };
    for part in parts {
        let most = match &part.sweeps {
            Some(s) => peak_over(&left, s),
            None => (left.len() as u64).saturating_add(part.peak),
        };
        out.end.peak = out.end.peak.max(most);
        if !left.is_empty() && most >= max_flows as u64 {
            out.crowded = out.crowded.max(Some(most));
        }
        if let Some(d) = part.swept_to {
            let gone = left.partition_point(|t| *t < d);
            left.drain(..gone);
            out.expired += gone as u64;
        }
        out.end.swept_to = out.end.swept_to.max(part.swept_to);
        left.extend(&part.last_seen);
        left.sort_unstable();
    }
    out.end.last_seen = left;
    out
}

/// The most flows one run held while reading a part: the flows earlier
/// parts left (sorted `left`), fewer at each of the part's sweeps, plus
/// the most of the part's own between two sweeps.
fn peak_over(left: &[i64], s: &Sweeps) -> u64 {
    let mut held = left.len();
    let mut most = 0;
    for (deadline, own) in &s.done {
        most = most.max(held + own);
        held = left.len() - left.partition_point(|t| *t < deadline.0);
    }
    most.max(held + s.open) as u64
}

/// One audit's share of a merge: a summary, or a capture audited on a
/// worker of its own (`parallel.rs`).
pub struct Part {
    pub report: Report,
    pub captures: Vec<CaptureRow>,
    pub flow_table: FlowTableRow,
    pub end: TableEnd,
}

/// Parts merged into one run's report, captures and counters.
pub struct Merged {
    pub report: Report,
    pub captures: Vec<CaptureRow>,
    pub flow_table: FlowTableRow,
    /// What the merged report must say beside one run's warnings.
    pub warnings: Vec<String>,
    /// How one run's table ended (see [`Replayed::end`]).
    pub end: TableEnd,
    /// Every flow's row, in no order (`--flows`, captures audited on
    /// several threads).
    pub flows: Option<Vec<FlowRow>>,
}

/// Merges `parts`, in order: their reports ([`Report::merge`]), captures
/// (renumbered after the parts before), flow-table counters, and the
/// flows one run would have expired across them ([`replay_clock`]).
pub fn combine(parts: Vec<Part>, max_flows: usize) -> Merged {
    let ends: Vec<TableEnd> = parts.iter().map(|p| p.end.clone()).collect();
    let clock = replay_clock(&ends, max_flows);
    let mut reports = Vec::new();
    let mut captures = Vec::new();
    let mut flow_table = FlowTableRow::default();
    let mut ids = 0u32;
    for p in parts {
        let opened = p.captures.iter().filter(|c| c.id.is_some()).count() as u32;
        captures.extend(p.captures.into_iter().map(|mut c| {
            c.id = c.id.map(|i| i.saturating_add(ids));
            c
        }));
        // Saturating: the counts may come from files.
        flow_table.evicted = flow_table.evicted.saturating_add(p.flow_table.evicted);
        flow_table.expired = flow_table.expired.saturating_add(p.flow_table.expired);
        reports.push((p.report, opened));
        ids = ids.saturating_add(opened);
    }
    flow_table.expired = flow_table.expired.saturating_add(clock.expired);
    let warnings = clock.crowded.map(|peak| format!(
        "one audit of all the captures would have held up to {peak} flows at once, more than --max-flows {max_flows}: which flows it evicted may differ from the parts'"
    ));
    Merged {
        report: Report::merge(reports),
        captures,
        flow_table,
        warnings: warnings.into_iter().collect(),
        end: clock.end,
        flows: None,
    }
}

/// The report flags of a merge, as audit's.
fn report_args(args: &MergeArgs) -> ReportArgs {
    ReportArgs {
        format: args.format,
        output: args.output.clone(),
        bin: String::new(),
        flows: false,
        series: args.series,
        violations_pcap: None,
        color: args.color,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_capture_is_renamed_in_the_nic_findings_that_name_it() {
        let several = |c: &str| {
            format!("[interfaces] \"ifindex:12\" matches 2 interfaces of {c} (eth:12:0, eth:12:20): each is judged as network low")
        };
        let conflict = |c: &str| {
            format!("{c}: interface eth1 matches [interfaces] keys of different networks, \"eth1\" (a), \"eth*\" (b): judged as network a (the first)")
        };
        let mut nics = analyzer::NicFindings {
            keys: vec![analyzer::NicKeyFinding {
                key: "ifindex:12".into(),
                matched: true,
                several: vec![several("c.pcapng"), several("d.pcapng")],
                host: None,
            }],
            conflicts: vec![conflict("c.pcapng"), conflict("xc.pcapng")],
        };
        rename_in_findings(&mut nics, "c.pcapng", "h1.json: c.pcapng");
        assert_eq!(
            nics.keys[0].several,
            [several("h1.json: c.pcapng"), several("d.pcapng")]
        );
        assert_eq!(
            nics.conflicts,
            [conflict("h1.json: c.pcapng"), conflict("xc.pcapng")]
        );
    }
}
