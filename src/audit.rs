//! `lanecheck audit`: capture files against a policy.

use anyhow::Result;

use crate::flags::AuditArgs;
use crate::output::{self, ReportView};
use crate::pipeline;
use crate::{config, Outcome};

/// Runs the audit. Exit: 1 on any violation (a proven leak wins), else 2
/// if an argument was not a readable capture, else 0.
pub fn run(args: &AuditArgs) -> Result<Outcome> {
    let policy = config::load(&args.policy)?;
    let mut cfg = pipeline::analyzer_config(&args.input)?;
    cfg.bin_ns = pipeline::bin_ns(&args.report.bin)?;
    let mut an = analyzer::Analyzer::with_policy(cfg, policy);
    let outcomes = pipeline::read_args(&args.input, &mut an);
    let report = an.report();
    let view = ReportView::new(&an, &report, &outcomes, args.report.flows);
    output::write_report(&args.report, &view)?;
    Ok(if report.verdict == analyzer::report::Verdict::Fail {
        Outcome::Fail
    } else if outcomes.iter().any(|o| o.error.is_some()) {
        Outcome::Error
    } else {
        Outcome::Pass
    })
}
