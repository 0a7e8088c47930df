//! DNS names for analyzers that each read part of the traffic (`audit
//! --shard`, captures audited in parallel). What names resolved to is read
//! only when a report is made: to explain fallbacks and to find the
//! `[[dns]]` rules' names never answered or never queried. Each part's
//! analyzer keeps a journal of the queries and answers it saw, stamped
//! with their frame; replayed in the one order of those frames, the
//! journals give the names one analyzer of all the traffic ends with
//! ([`analyzer::evidence::names::Names::replay`]). The parts whose reports
//! explain a fallback then report again with those names, and the rules'
//! findings are made once, from them.

use analyzer::evidence::names::{Journal, NameEvent, Names, JOURNAL_CAP};
use analyzer::policy::Policy;
use analyzer::{Analyzer, AnalyzerConfig, Report};

/// A part's analyzer once read, with what the merge needs of it.
pub struct Read {
    /// Its report with its own names.
    pub report: Report,
    /// The analyzer, kept when its report explains a fallback by name
    /// resolution: it reports again with every part's names.
    pub kept: Option<Analyzer>,
}

impl Read {
    /// `an`'s report; `an` kept only if the report explains a fallback.
    pub fn new(an: Analyzer) -> Read {
        let report = an.report();
        let kept = explains(&report).then_some(an);
        Read { report, kept }
    }

    /// The part's report as it is with `names`.
    pub fn report_with(self, names: &Names) -> Report {
        match self.kept {
            Some(mut an) => {
                an.set_names(names.clone());
                an.report()
            }
            None => self.report,
        }
    }
}

/// Whether a report says what a server's name resolved to.
fn explains(r: &Report) -> bool {
    r.findings
        .fallbacks
        .iter()
        .any(|f| !f.explanations.is_empty())
        || r.violations.iter().any(|v| v.explanation.is_some())
}

/// A part's journal of names (none when the policy reads no names), or
/// why the parts cannot share names.
pub fn journal(an: &mut Analyzer) -> Result<Vec<(u64, NameEvent)>, String> {
    match an.take_names_journal() {
        Some(Journal {
            overflowed: false,
            events,
            ..
        }) => Ok(events),
        Some(_) => Err(format!(
            "a part saw more than {JOURNAL_CAP} DNS queries and answers"
        )),
        None if !an.policy().reads_names() => Ok(Vec::new()),
        None => Err("a part kept no journal of DNS names".into()),
    }
}

/// The names one analyzer reading every frame of the shares would hold:
/// each share numbers every frame of the capture alike, a frame is one
/// share's, and a share's journal is in its frames' order.
pub fn of_shares(journals: Vec<Vec<(u64, NameEvent)>>) -> Names {
    let all = in_frame_order(journals);
    Names::replay(all.iter())
}

/// The shares' lists of things stamped with the frame each came from, as
/// one list in the capture's order: every share numbers the frames alike
/// and a frame is one share's, so a stable sort by frame keeps one
/// frame's things in their order.
pub fn in_frame_order<T>(parts: impl IntoIterator<Item = Vec<(u64, T)>>) -> Vec<T> {
    let mut all: Vec<(u64, T)> = parts.into_iter().flatten().collect();
    all.sort_by_key(|(frame, _)| *frame);
    all.into_iter().map(|(_, t)| t).collect()
}

/// The parts' reports with `names`: each part that explains a fallback
/// reports again, and the `[[dns]]` rules' findings (the same in every
/// part once the names are) are said once, in the first.
pub fn reports_with(
    reads: Vec<Read>,
    names: &Names,
    cfg: AnalyzerConfig,
    policy: &Policy,
) -> Vec<Report> {
    let mut rules = Analyzer::with_policy(cfg, policy.clone());
    rules.set_names(names.clone());
    let mut dns_rules = Some(rules.report().findings.dns_rules);
    reads
        .into_iter()
        .map(|r| {
            let mut report = r.report_with(names);
            let f = &mut report.findings;
            f.dns_rules = dns_rules.take().unwrap_or_else(|| {
                // Unseen patterns merge as the patterns no part saw.
                let mut unseen = f.dns_rules.clone();
                unseen.iter_mut().for_each(|(_, d)| {
                    d.unanswered.clear();
                    d.cut_short.clear();
                    d.snaplen_cut.clear();
                });
                unseen
            });
            report.warnings = f.warnings();
            report
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn reads(policy: &str) -> bool {
        crate::config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(policy))
            .unwrap()
            .reads_names()
    }

    #[test]
    fn only_policies_that_explain_fallbacks_or_check_answers_read_names() {
        // A class with a fallback network, or `[[dns]]` rules: names read.
        assert!(reads("policies/dpm-fallback.toml"));
        assert!(reads("policies/dpm-dns.toml"));
        // One network per class, no rules: the parts journal nothing.
        assert!(!reads("policies/dpm.toml"));
        // Two networks: read, unless both are equally allowed.
        let two = |on: &str| {
            let text = format!(
                "[networks]\na = [\"10.0.0.0/8\"]\nb = [\"192.168.0.0/16\"]\n\
                 [classes.cluster]\nnetworks = [\"a\", \"b\"]\non_fallback = \"{on}\"\n"
            );
            crate::config::parse(&text, "t.toml").unwrap().reads_names()
        };
        assert!(two("warn") && two("fail") && !two("allow"));
    }
}
