//! `lanecheck flows`: every flow of the given captures.

use anyhow::Result;

use analyzer::policy::Policy;

use crate::flags::{FlowsArgs, Format, ShardMode};
use crate::output::{self, FlowList};
use crate::parallel::{self, Plan};
use crate::pipeline;
use crate::progress::Progress;
use crate::shard;
use crate::Outcome;

/// Runs `flows`: exit 2 if any argument was not a readable capture (the
/// others are still listed), else 0.
pub fn run(args: &FlowsArgs) -> Result<Outcome> {
    let specs = pipeline::specs(&args.input);
    let captures: Vec<&std::path::Path> = specs
        .iter()
        .map(|s| std::path::Path::new(&s.path))
        .collect();
    crate::paths::captures_once(&captures)?;
    let inputs: Vec<(&str, &std::path::Path)> = captures
        .iter()
        .map(|p| ("a capture being listed", *p))
        .collect();
    crate::paths::check(&inputs, &[("--output", args.output.as_deref())])?;
    crate::output::ready(args.output.as_deref())?;
    let (list, failed) = match on_every_core(args, &specs)? {
        Some(list) => list,
        None => {
            let mut an = pipeline::new_analyzer(&args.input)?;
            let outcomes = pipeline::read_args(&args.input, &mut an);
            let failed = outcomes.iter().any(|o| o.error.is_some());
            (FlowList::new(&an, &outcomes), failed)
        }
    };
    output::write_all(args.output.as_deref(), |out| match args.format {
        Format::Json => output::json::write_flows(out, &list),
        Format::Text => output::text::write_flows(out, &list),
    })?;
    Ok(if failed {
        Outcome::Error
    } else {
        Outcome::Pass
    })
}

/// The list read as `audit` reads on several threads (captures in
/// parallel, or one capture in shares of its flows), and whether a capture
/// failed; `None` when it must be read on one analyzer.
fn on_every_core(
    args: &FlowsArgs,
    specs: &[pipeline::CaptureSpec],
) -> Result<Option<(FlowList, bool)>> {
    let policy = Policy::default();
    let progress = Progress::hidden();
    let plan = Plan {
        cfg: pipeline::analyzer_config(&args.input)?,
        policy: &policy,
        threads: pipeline::threads(&args.input),
        flows: true,
        journals: None,
        progress: &progress,
    };
    let Some(m) =
        parallel::audit(specs, plan).or_else(|| shard::audit(specs, plan, ShardMode::Auto))
    else {
        return Ok(None);
    };
    pipeline::report_outcomes(&m.outcomes);
    let r = m.merged;
    let failed = r.captures.iter().any(|c| c.error.is_some());
    let rows = r.flows.unwrap_or_default();
    let list = FlowList::of_rows(r.captures, rows, r.report.learned_endpoints, r.flow_table);
    Ok(Some((list, failed)))
}
