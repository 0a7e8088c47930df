//! `lanecheck audit`: capture files against a policy.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use analyzer::policy::Policy;
use analyzer::report::Verdict;
use analyzer::{Analyzer, AnalyzerConfig};

use crate::expect::Expect;
use crate::flags::{AuditArgs, ReportArgs};
use crate::output::{self, CaptureRow, Document, FlowList};
use crate::parallel::{self, Plan};
use crate::pipeline::{self, CaptureSpec};
use crate::progress::{self, Progress};
use crate::shard;
use crate::summary::{self, Merged, Summary, TableFacts};
use crate::violations_pcap::{self, FirstPass, Numbering, PacketWriter, Store, Written};
use crate::Outcome;

/// Runs the audit. Exit: 1 on any violation (a proven leak wins), else 2
/// if an argument was not a readable capture, else 3 when nothing was read
/// or an `--expect`ed class is missing, else 0.
pub fn run(args: &AuditArgs) -> Result<Outcome> {
    let (policy, policy_text) = crate::derive::policy_and_text(&args.policy)?;
    let expect = Expect::new(&args.expect, &policy)?;
    let cfg = config(args)?;
    let threshold =
        pipeline::parse_size(&args.progress_threshold).context("--progress-threshold")?;
    let mut specs = pipeline::specs(&args.input);
    crate::node::assign(&mut specs, &args.nodes, &policy)?;
    let (pcap, save, journals) = outputs(args, &specs)?;
    let progress = Progress::for_input("reading", total_size(&specs), threshold);
    let plan = Plan {
        cfg,
        policy: &policy,
        threads: pipeline::threads(&args.input),
        flows: args.report.flows,
        journals: journals.as_ref(),
        progress: &progress,
    };
    let run = Run {
        args,
        policy: &policy,
        policy_text: &policy_text,
        expect: &expect,
        cfg,
        threshold,
        specs: &specs,
        journals: journals.as_ref(),
    };
    // An attempt that falls back leaves its journals for nothing.
    let fell_back = || journals.as_ref().inspect(|s| s.clear());
    let merged = parallel::audit(&specs, plan).or_else(|| {
        fell_back();
        shard::audit(&specs, plan, args.shard)
    });
    match merged {
        Some(m) => run.merged(m, pcap, save),
        None => {
            fell_back();
            run.one_analyzer(pcap, save, &progress)
        }
    }
}

/// An audit's settings and inputs, once read.
struct Run<'a> {
    args: &'a AuditArgs,
    policy: &'a Policy,
    policy_text: &'a str,
    expect: &'a Expect,
    cfg: AnalyzerConfig,
    threshold: u64,
    specs: &'a [CaptureSpec],
    /// Where `--violations-pcap`'s journals go.
    journals: Option<&'a Store>,
}

impl Run<'_> {
    /// The report (and `--violations-pcap`, `--save`) of captures audited
    /// on several threads and merged.
    fn merged(
        &self,
        mut m: parallel::Merged,
        pcap: OutFile<'_, violations_pcap::Output>,
        save: OutFile<'_, std::fs::File>,
    ) -> Result<Outcome> {
        pipeline::report_outcomes(&m.outcomes);
        if let Some((path, out)) = pcap {
            let warnings = match m.first_pass.take() {
                Some(first) => {
                    let second = SecondPass {
                        first,
                        store: self.journals,
                        read: frames_read(&m.merged.captures),
                        expected: Written::violations(&m.merged.report),
                        threshold: self.threshold,
                    };
                    second.write(path, out, self.specs)
                }
                // (A path that numbers no flows never takes --violations-pcap.)
                None => vec![format!(
                    "--violations-pcap: {} holds nothing: the flows were not numbered",
                    path.display()
                )],
            };
            m.merged.warnings.extend(warnings);
        }
        let summary = save.map(|out| {
            let r = &m.merged;
            let s = Summary::new(
                m.table(),
                &self.cfg,
                self.policy_text,
                r.report.clone(),
                r.captures.clone(),
                r.flow_table,
            );
            (out, s)
        });
        // The report first: a summary that cannot be written loses no report.
        let outcome = report_merged(&self.args.report, m.merged, self.expect, self.policy)?;
        if let Some(((path, file), s)) = summary {
            s.write(path, file)?;
        }
        Ok(outcome)
    }

    /// The audit on one analyzer, reading the captures in order.
    fn one_analyzer(
        &self,
        pcap: OutFile<'_, violations_pcap::Output>,
        save: OutFile<'_, std::fs::File>,
        progress: &Progress,
    ) -> Result<Outcome> {
        let mut an = Analyzer::with_policy(self.cfg, self.policy.clone());
        let mut numbering = self.journals.map(Numbering::new);
        let outcomes = pipeline::read_all(self.specs, &mut an, &mut numbering, progress);
        pipeline::report_outcomes(&outcomes);
        let report = an.report();
        let packets = an.captures().iter().map(|c| c.packets).sum();
        let reasons = self.expect.missing(&report, an.policy(), packets);
        let verdict = crate::expect::verdict(&report, &reasons);
        let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
        let expected = Written::violations(&report);
        let first = numbering.map(|n| {
            let mut first = FirstPass::default();
            first.add(0..self.specs.len(), vec![n.finish(&an)]);
            first
        });
        let saved = save.map(|s| (s, report.clone()));
        let flows = self.args.report.flows;
        let doc = Document::new(&an, report, &outcomes, flows)
            .with_verdict(verdict, reasons)
            .with_caveats(self.expect.caveats(self.policy, false));
        let summary = saved.map(|(out, report)| {
            let s = Summary::new(
                TableFacts::of(&an),
                &self.cfg,
                self.policy_text,
                report,
                doc.captures.clone(),
                doc.flow_table,
            );
            (out, s)
        });
        // The flow table is not kept while the captures are read again.
        drop(an);
        let pcap_warnings = match (pcap, first) {
            (Some((path, out)), Some(first)) => {
                let pass = SecondPass {
                    first,
                    store: self.journals,
                    read: frames_read(&doc.captures),
                    expected,
                    threshold: self.threshold,
                };
                pass.write(path, out, self.specs)
            }
            _ => Vec::new(),
        };
        // The report first: a summary that cannot be written loses no report.
        let outcome = write(
            &self.args.report,
            doc,
            verdict,
            failed,
            outcomes.len(),
            pcap_warnings,
        )?;
        if let Some(((path, file), s)) = summary {
            s.write(path, file)?;
        }
        Ok(outcome)
    }
}

/// The analyzer settings of an audit.
fn config(args: &AuditArgs) -> Result<AnalyzerConfig> {
    let mut cfg = pipeline::analyzer_config(&args.input)?;
    cfg.bin_ns = pipeline::bin_ns(&args.report.bin)?;
    if !args.report.flows {
        // Memory bounded by --max-flows and what the report shows, not by
        // the number of flows in the captures: finished flows pile up to an
        // eighth of the table before the plain ones are folded.
        cfg.fold_every = (cfg.flows.max_flows / 8).max(1);
    }
    cfg.merge_facts = args.save.is_some();
    Ok(cfg)
}

/// An output file, if asked for, with its path.
type OutFile<'a, W> = Option<(&'a PathBuf, W)>;

/// `--violations-pcap` (with the store of its journals) and `--save`.
type Outputs<'a> = (
    OutFile<'a, violations_pcap::Output>,
    OutFile<'a, std::fs::File>,
    Option<Store>,
);

/// `--violations-pcap` and `--save`, created before reading, so a bad
/// path fails at once, not after an hour; no output may overwrite a
/// capture, the policy or another output.
fn outputs<'a>(args: &'a AuditArgs, specs: &[CaptureSpec]) -> Result<Outputs<'a>> {
    let captures: Vec<&Path> = specs.iter().map(|s| Path::new(&s.path)).collect();
    crate::paths::captures_once(&captures)?;
    let inputs: Vec<(&str, &Path)> = captures
        .iter()
        .map(|p| ("a capture being audited", *p))
        .chain(crate::paths::policy(&args.policy))
        .collect();
    let outputs = [
        ("--output", args.report.output.as_deref()),
        ("--save", args.save.as_deref()),
        ("--violations-pcap", args.report.violations_pcap.as_deref()),
    ];
    crate::paths::check(&inputs, &outputs)?;
    crate::output::ready(args.report.output.as_deref())?;
    // Every check before any file is made (making one truncates it).
    let journals = match &args.report.violations_pcap {
        Some(p) => {
            rereadable(specs)?;
            Some(Store::new(p)?)
        }
        None => None,
    };
    let pcap = match &args.report.violations_pcap {
        Some(p) => Some((p, violations_pcap::create(p)?)),
        None => None,
    };
    let save = match &args.save {
        Some(p) => Some((p, summary::create(p)?)),
        None => None,
    };
    Ok((pcap, save, journals))
}

/// Writes the report (with `warnings` added); the exit code.
fn write(
    args: &ReportArgs,
    mut doc: Document,
    verdict: Verdict,
    failed: usize,
    captures: usize,
    warnings: Vec<String>,
) -> Result<Outcome> {
    if failed == captures {
        doc.error = Some(format!(
            "no capture could be read ({failed} argument{} failed)",
            if failed == 1 { "" } else { "s" }
        ));
    } else if failed > 0 && verdict != Verdict::Fail {
        // What was read passed or was inconclusive, but not everything
        // asked for was read: no verdict but the error (exit 2).
        doc.error = Some(format!(
            "{failed} of {captures} capture arguments could not be read ({}): the others are reported",
            doc.unread().join("; ")
        ));
    }
    doc.warnings.extend(warnings);
    output::write_report(args, &doc)?;
    Ok(match verdict {
        Verdict::Fail => Outcome::Fail,
        _ if failed > 0 => Outcome::Error,
        Verdict::Inconclusive => Outcome::Inconclusive,
        Verdict::Pass => Outcome::Pass,
    })
}

/// The verdict and report of merged parts (`merge`, or captures audited
/// in parallel), as of one run.
pub fn report_merged(
    args: &ReportArgs,
    m: Merged,
    expect: &Expect,
    policy: &Policy,
) -> Result<Outcome> {
    let packets = m.captures.iter().map(|c| c.packets).sum();
    let reasons = expect.missing(&m.report, policy, packets);
    let verdict = crate::expect::verdict(&m.report, &reasons);
    let failed = m.captures.iter().filter(|c| c.error.is_some()).count();
    let total = m.captures.len();
    let mut doc = Document::from_parts(m.report, m.captures, m.flow_table, policy)
        .with_verdict(verdict, reasons)
        .with_caveats(expect.caveats(policy, false));
    doc.flows = m.flows.map(|rows| {
        let (captures, learned) = (doc.captures.clone(), doc.learned_endpoints.clone());
        FlowList::of_rows(captures, rows, learned, doc.flow_table)
    });
    write(args, doc, verdict, failed, total, m.warnings)
}

fn total_size(specs: &[CaptureSpec]) -> Option<u64> {
    progress::total_size(specs.iter().map(|s| s.path.as_str()))
}

/// The second pass of `--violations-pcap` needs every capture again as it
/// was: standard input and pipes cannot be read twice.
fn rereadable(specs: &[CaptureSpec]) -> Result<()> {
    match specs.iter().find(|s| !s.rereadable()) {
        Some(s) => bail!(
            "--violations-pcap reads the captures twice (a flow's verdict is final only at its end), so each must be a regular file; {} is not: save it to a file first",
            s.path
        ),
        None => Ok(()),
    }
}

/// What the second pass needs from the first.
struct SecondPass<'a> {
    /// The violating flows under one numbering, and each frame's number.
    first: FirstPass,
    /// Where the journals are.
    store: Option<&'a Store>,
    /// Frames the first pass read of each capture (none: not opened).
    read: Vec<Option<u64>>,
    /// What the file must hold (the report's violating flows).
    expected: Written,
    threshold: u64,
}

/// Frames read of each capture of `rows` (none for one never opened).
fn frames_read(rows: &[CaptureRow]) -> Vec<Option<u64>> {
    rows.iter().map(|r| r.id.map(|_| r.packets)).collect()
}

impl SecondPass<'_> {
    /// Reads the captures again beside the journals of flow numbers and
    /// writes the violating flows' packets. Never fails the audit: a
    /// problem is a warning in the report.
    fn write(
        self,
        path: &Path,
        out: violations_pcap::Output,
        specs: &[CaptureSpec],
    ) -> Vec<String> {
        let FirstPass {
            wanted, journals, ..
        } = self.first;
        let unnumbered = wanted.unnumbered;
        let empty = wanted.is_empty();
        let mut writer = PacketWriter::new(out, wanted);
        let mut warnings = Vec::new();
        if !empty {
            let progress = Progress::for_input(
                "writing --violations-pcap",
                total_size(specs),
                self.threshold,
            );
            warnings = match self.store {
                Some(store) => violations_pcap::replay(
                    specs,
                    &self.read,
                    (journals, store),
                    &mut writer,
                    &progress,
                ),
                None => vec!["--violations-pcap: no journal of flow numbers was kept".into()],
            };
            progress.finish();
        }
        let written = match writer.finish() {
            Ok(w) => w,
            Err(e) => {
                warnings.push(format!("--violations-pcap: {e:#}"));
                return warnings;
            }
        };
        log::info!(
            "{}: {} packets ({} bytes) of {} violating flows",
            path.display(),
            written.packets,
            written.bytes,
            written.flows
        );
        warnings.extend(violations_pcap::mismatch(
            path,
            &written,
            &self.expected,
            unnumbered,
        ));
        warnings
    }
}
