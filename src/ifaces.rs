//! `lanecheck ifaces`: what can be captured, and how it maps to the policy.

use std::io::Write;

use anyhow::Result;

use analyzer::policy::{Nic, NicKey, Policy};

use crate::flags::IfacesArgs;
use crate::node::NodeChoice;
use crate::{config, output, Outcome};

/// Lists interfaces; warns when an interface's addresses lie outside the
/// network the policy maps it to.
pub fn run(args: &IfacesArgs) -> Result<Outcome> {
    let policy = args.policy.as_deref().map(config::load).transpose()?;
    let node = match &policy {
        Some(p) => crate::node::local(args.node.as_deref(), p)?,
        None => NodeChoice::default(),
    };
    let node = node.name.as_deref().map(|n| (n, node.how));
    let ifaces = capture::system_ifaces()?;
    let mut out = output::open(None)?;
    if let Some((n, how)) = node {
        writeln!(
            out,
            "as node {n} ({how}): its HOST/KEY [interfaces] keys apply"
        )?;
    }
    let node = node.map(|(n, _)| n);
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
            .and_then(|p| p.interface_network(&i.name, node).map(|n| (p, n)));
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
        warnings.extend(unmatched_keys(p, &ifaces, node));
    }
    for w in &warnings {
        writeln!(out, "warning: {w}")?;
    }
    out.flush()?;
    Ok(Outcome::Pass)
}

/// The `[interfaces]` name keys that apply on this host (no host, or
/// host `node`) and name none of its interfaces. GUID, MAC and index keys
/// are what Windows captures write, not live names, and are not checked.
fn unmatched_keys(p: &Policy, ifaces: &[capture::SystemIface], node: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, (text, key, _)) in (0..).map_while(|k| p.nic_key(k).map(|key| (k, key))) {
        let host = p.nic_key_host(k);
        if host.is_some() && host != node || !matches!(key, NicKey::Name(_)) {
            continue;
        }
        let matched = ifaces
            .iter()
            .any(|i| p.nic_keys_matching(&Nic::named(&i.name), node).contains(&k));
        if !matched {
            out.push(format!(
                "{text}: named in the policy but not present on this host"
            ));
        }
    }
    out
}
