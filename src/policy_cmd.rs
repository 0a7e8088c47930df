//! `lanecheck policy check`.

use std::io::Write;
use std::path::Path;

use analyzer::policy::OnFallback;
use anyhow::Result;

use crate::{config, output, Outcome};

/// The networks, their prefixes, and whether they are retired.
fn networks(out: &mut impl Write, p: &analyzer::policy::Policy) -> Result<()> {
    writeln!(out, "networks:")?;
    for (i, n) in p.networks.iter().enumerate() {
        let prefixes: Vec<String> = n.prefixes.iter().map(ToString::to_string).collect();
        let retired = p.retired.contains(&analyzer::policy::NetId(i as u16));
        let shown = if prefixes.is_empty() {
            "(no prefixes: known by its NICs and VLANs)".to_string()
        } else {
            prefixes.join(", ")
        };
        writeln!(
            out,
            "  {:<14} {shown}{}",
            n.name,
            if retired {
                "  RETIRED: no traffic may touch it"
            } else {
                ""
            }
        )?;
    }
    for line in nested(p) {
        writeln!(out, "  note: {line}")?;
    }
    Ok(())
}

/// Prefixes of one network inside another's: legitimate (the longest
/// prefix wins), but a typo there moves addresses between networks without
/// a word, so `policy check` says where it happens.
fn nested(p: &analyzer::policy::Policy) -> Vec<String> {
    let all: Vec<(&str, &ipnet::IpNet)> = p
        .networks
        .iter()
        .flat_map(|n| n.prefixes.iter().map(move |x| (n.name.as_str(), x)))
        .collect();
    let mut out = Vec::new();
    for (inner_net, inner) in &all {
        for (outer_net, outer) in &all {
            if inner_net != outer_net
                && outer.prefix_len() < inner.prefix_len()
                && outer.contains(*inner)
            {
                out.push(format!(
                    "{inner} ({inner_net}) lies inside {outer} ({outer_net}): its addresses are {inner_net} (the longest prefix wins)"
                ));
            }
        }
    }
    out
}

/// The DNS rules of a policy, one line each.
fn others(out: &mut impl Write, p: &analyzer::policy::Policy) -> Result<()> {
    for r in &p.dns {
        let names: Vec<String> = r.names.iter().map(|n| n.text()).collect();
        let nets = |l: &[analyzer::policy::NetId]| -> String {
            l.iter()
                .map(|n| p.network_name(*n))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut what = Vec::new();
        if !r.must_include.is_empty() {
            what.push(format!("an address on {}", nets(&r.must_include)));
        }
        if !r.all_in.is_empty() {
            what.push(format!("every address on {}", nets(&r.all_in)));
        }
        if let Some(t) = r.max_ttl {
            what.push(format!("TTLs at most {t} s"));
        }
        writeln!(
            out,
            "dns rule {}: {} must answer {}",
            r.index,
            names.join(", "),
            what.join("; ")
        )?;
    }
    Ok(())
}

/// Validates a policy and prints its summary.
pub fn check(path: &Path) -> Result<Outcome> {
    let p = config::load(path)?;
    let mut out = output::open(None)?;
    writeln!(out, "{}: valid policy", path.display())?;
    networks(&mut out, &p)?;
    if !p.interfaces.is_empty() {
        writeln!(out, "interfaces:")?;
        for (i, n) in &p.interfaces {
            writeln!(out, "  {:<14} → {}", i, p.network_name(*n))?;
        }
    }
    if !p.vlans.is_empty() {
        writeln!(out, "vlans:")?;
        for (v, n) in &p.vlans {
            writeln!(out, "  {v:<14} → {}", p.network_name(*n))?;
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
            Some(nets) if nets.is_empty() => "nowhere (every flow of it is a violation)".into(),
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
    others(&mut out, &p)?;
    out.flush()?;
    Ok(Outcome::Pass)
}
