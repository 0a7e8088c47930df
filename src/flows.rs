//! `lanecheck flows`: every flow of the given captures.

use anyhow::Result;

use crate::flags::{FlowsArgs, Format};
use crate::output::{self, FlowList};
use crate::pipeline;
use crate::Outcome;

/// Runs `flows`: exit 2 if any argument was not a readable capture (the
/// others are still listed), else 0.
pub fn run(args: &FlowsArgs) -> Result<Outcome> {
    let mut an = pipeline::new_analyzer(&args.input)?;
    let outcomes = pipeline::read_args(&args.input, &mut an);
    let list = FlowList::new(&an, &outcomes);
    output::write_all(args.output.as_deref(), |out| match args.format {
        Format::Json => output::json::write_flows(out, &list),
        Format::Text => output::text::write_flows(out, &list),
    })?;
    let failed = outcomes.iter().any(|o| o.error.is_some());
    Ok(if failed {
        Outcome::Error
    } else {
        Outcome::Pass
    })
}
