//! `lanecheck audit`: capture files against a policy.

use anyhow::{bail, Context, Result};

use crate::flags::{AuditArgs, Format};
use crate::output::{self, ReportView};
use crate::pipeline;
use crate::{config, Outcome};

/// Runs the audit. Exit: 1 on any violation (a proven leak wins), else 2
/// if an argument was not a readable capture, else 0.
pub fn run(args: &AuditArgs) -> Result<Outcome> {
    let policy = config::load(&args.policy)?;
    let mut cfg = pipeline::analyzer_config(&args.input)?;
    let bin = pipeline::parse_duration(&args.bin).context("--bin")?;
    if bin.as_nanos() < 1_000_000 {
        bail!("--bin must be at least 1ms");
    }
    cfg.bin_ns = i64::try_from(bin.as_nanos()).unwrap_or(i64::MAX);
    let mut an = analyzer::Analyzer::with_policy(cfg, policy);
    let outcomes = pipeline::read_args(&args.input, &mut an);
    let report = an.report();
    let view = ReportView::new(&an, &report, &outcomes, args.flows);
    output::write_all(args.output.as_deref(), |out| match args.format {
        Format::Json => output::json::write_report(out, &view),
        Format::Text => output::text::write_report(out, &view),
    })?;
    Ok(if report.verdict == analyzer::report::Verdict::Fail {
        Outcome::Fail
    } else if outcomes.iter().any(|o| o.error.is_some()) {
        Outcome::Error
    } else {
        Outcome::Pass
    })
}
