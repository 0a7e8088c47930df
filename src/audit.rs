//! `lanecheck audit`: capture files against a policy.

use anyhow::Result;

use analyzer::report::Verdict;

use crate::expect::Expect;
use crate::flags::AuditArgs;
use crate::output::{self, ReportView};
use crate::pipeline;
use crate::Outcome;

/// Runs the audit. Exit: 1 on any violation (a proven leak wins), else 2
/// if an argument was not a readable capture, else 3 when nothing was read
/// or an `--expect`ed class is missing, else 0.
pub fn run(args: &AuditArgs) -> Result<Outcome> {
    let policy = crate::derive::policy(&args.policy)?;
    let expect = Expect::new(&args.expect, &policy)?;
    let mut cfg = pipeline::analyzer_config(&args.input)?;
    cfg.bin_ns = pipeline::bin_ns(&args.report.bin)?;
    let mut an = analyzer::Analyzer::with_policy(cfg, policy);
    let outcomes = pipeline::read_args(&args.input, &mut an);
    let report = an.report();
    let packets = an.captures().iter().map(|c| c.packets).sum();
    let reasons = expect.missing(&report, an.policy(), packets);
    let verdict = crate::expect::verdict(&report, &reasons);
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    let mut view =
        ReportView::new(&an, &report, &outcomes, args.report.flows).with_verdict(verdict, reasons);
    if failed == outcomes.len() {
        view.error = Some(format!(
            "no capture could be read ({failed} argument{} failed)",
            if failed == 1 { "" } else { "s" }
        ));
    }
    output::write_report(&args.report, &view)?;
    Ok(match verdict {
        Verdict::Fail => Outcome::Fail,
        _ if failed > 0 => Outcome::Error,
        Verdict::Inconclusive => Outcome::Inconclusive,
        Verdict::Pass => Outcome::Pass,
    })
}
