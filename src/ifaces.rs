//! `lanecheck ifaces`: what can be captured, and how it maps to the policy.

use std::io::Write;

use anyhow::Result;

use crate::flags::IfacesArgs;
use crate::{config, output, Outcome};

/// Lists interfaces; warns when an interface's addresses lie outside the
/// network the policy maps it to.
pub fn run(args: &IfacesArgs) -> Result<Outcome> {
    let policy = args.policy.as_deref().map(config::load).transpose()?;
    let ifaces = capture::system_ifaces()?;
    let mut out = output::open(None)?;
    let width = ifaces
        .iter()
        .map(|i| i.name.len())
        .max()
        .unwrap_or(4)
        .max(9);
    writeln!(
        out,
        "{:<width$}  {:<12}  {:<14}  addresses",
        "interface", "state", "network"
    )?;
    let mut warnings = Vec::new();
    for i in &ifaces {
        let state = match (i.up, i.running, i.loopback) {
            (_, _, true) => "loopback",
            (true, true, _) => "up",
            (true, false, _) => "up, no link",
            (false, _, _) => "down",
        };
        let mapped = policy
            .as_ref()
            .and_then(|p| p.interface_network(&i.name, node(p)).map(|n| (p, n)));
        let network = mapped.map_or("-".to_string(), |(p, n)| p.network_name(n).to_string());
        let addrs: Vec<String> = i.addresses.iter().map(ToString::to_string).collect();
        writeln!(
            out,
            "{:<width$}  {:<12}  {:<14}  {}",
            i.name,
            state,
            network,
            addrs.join(", ")
        )?;
        if let Some((p, n)) = mapped {
            for a in &i.addresses {
                if !analyzer::policy::is_link_local(*a) && p.network_of(*a) != Some(n) {
                    warnings.push(format!(
                        "{}: address {a} is outside its policy network {}",
                        i.name,
                        p.network_name(n)
                    ));
                }
            }
        }
    }
    if let Some(p) = &policy {
        for name in p.interfaces.keys() {
            if !ifaces.iter().any(|i| &i.name == name) {
                warnings.push(format!(
                    "{name}: named in the policy but not present on this host"
                ));
            }
        }
    }
    for w in &warnings {
        writeln!(out, "warning: {w}")?;
    }
    out.flush()?;
    Ok(Outcome::Pass)
}

/// The `[hosts]` entry the local host name names (its `HOST/KEY` keys
/// apply here, as in `verify` without `--node`).
fn node(p: &analyzer::policy::Policy) -> Option<&str> {
    crate::node::hostname_host(&crate::node::hostname(), p)
}
