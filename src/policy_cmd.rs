//! `lanecheck policy check`.

use std::io::Write;
use std::path::Path;

use analyzer::policy::OnFallback;
use anyhow::Result;

use crate::{config, output, Outcome};

/// Validates a policy and prints its summary.
pub fn check(path: &Path) -> Result<Outcome> {
    let p = config::load(path)?;
    let mut out = output::open(None)?;
    writeln!(out, "{}: valid policy", path.display())?;
    writeln!(out, "networks:")?;
    for n in &p.networks {
        let prefixes: Vec<String> = n.prefixes.iter().map(ToString::to_string).collect();
        writeln!(out, "  {:<14} {}", n.name, prefixes.join(", "))?;
    }
    if !p.interfaces.is_empty() {
        writeln!(out, "interfaces:")?;
        for (i, n) in &p.interfaces {
            writeln!(out, "  {:<14} → {}", i, p.network_name(*n))?;
        }
    }
    if !p.hosts.is_empty() {
        writeln!(out, "hosts:")?;
        for (h, addrs) in &p.hosts {
            let a: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            writeln!(out, "  {:<14} {}", h, a.join(", "))?;
        }
    }
    let roles = [
        ("dpm_servers", &p.roles.dpm_servers),
        ("cluster_nodes", &p.roles.cluster_nodes),
        ("replica_servers", &p.roles.replica_servers),
    ];
    for (name, addrs) in roles.iter().filter(|(_, a)| !a.is_empty()) {
        let a: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        writeln!(out, "role {name}: {}", a.join(", "))?;
    }
    writeln!(
        out,
        "classes (where each may travel, most preferred first):"
    )?;
    for c in &p.classes {
        let where_ = match &c.networks {
            None => "anywhere (no restriction)".to_string(),
            Some(nets) => {
                let names: Vec<&str> = nets.iter().map(|n| p.network_name(*n)).collect();
                let fb = match (names.len(), c.on_fallback) {
                    (1, _) => String::new(),
                    (_, OnFallback::Warn) => "; later networks are fallbacks (warning)".into(),
                    (_, OnFallback::Fail) => "; later networks are fallbacks (violation)".into(),
                    (_, OnFallback::Allow) => "; all equally allowed".into(),
                };
                format!("{}{fb}", names.join(" → "))
            }
        };
        writeln!(out, "  {:<16} {where_}", c.name)?;
    }
    for r in &p.rules {
        writeln!(
            out,
            "rule {}: {} → class {}",
            r.index,
            r.description,
            p.class_name(r.class)
        )?;
    }
    out.flush()?;
    Ok(Outcome::Pass)
}
