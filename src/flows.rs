//! `lanecheck flows`: every flow of the given captures.

use anyhow::Result;

use crate::flags::{FlowsArgs, Format};
use crate::output::{self, FlowsView};
use crate::pipeline::{self, CaptureSpec};
use crate::Outcome;

/// Runs `flows`: exit 2 if any argument was not a readable capture (the
/// others are still listed), else 0.
pub fn run(args: &FlowsArgs) -> Result<Outcome> {
    let mut an = pipeline::new_analyzer(&args.input)?;
    let specs: Vec<CaptureSpec> = args
        .input
        .captures
        .iter()
        .map(|a| CaptureSpec::parse(a))
        .collect();
    let outcomes = pipeline::read_all(&specs, &mut an);
    for o in &outcomes {
        if let Some(e) = &o.error {
            eprintln!("lanecheck: {e}");
        }
        if let Some(t) = &o.truncated {
            log::info!("{}: truncated at byte {}: {}", o.source, t.offset, t.reason);
        }
    }
    let view = FlowsView::new(&an, &outcomes);
    let mut out = output::open(args.output.as_deref())?;
    match args.format {
        Format::Json => output::json::write_flows(&mut out, &view)?,
        Format::Text => output::text::write_flows(&mut out, &view)?,
    }
    out.flush()?;
    let failed = outcomes.iter().any(|o| o.error.is_some());
    Ok(if failed {
        Outcome::Error
    } else {
        Outcome::Pass
    })
}
