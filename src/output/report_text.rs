//! The audit/verify report as text: the verdict first, then classes with
//! their networks, NICs and VLANs, the violations with their evidence, DNS
//! violations, learned endpoints, warnings, and capture integrity.

use std::io::Write;

use analyzer::report::{ClassSummary, Verdict};
use anyhow::Result;

use super::paint::Paint;
use super::text::{
    human_bytes, status_word, throughput_line, write_flows, write_learned, write_tunnel_counts,
};
use super::{proto_name, rfc3339, ReportView};

/// Writes the report, verdict and statuses coloured as `paint` says.
pub fn write_report(out: &mut impl Write, v: &ReportView<'_>, paint: Paint) -> Result<()> {
    headline(out, v, paint)?;
    for c in &v.report.classes {
        class(out, c, paint)?;
    }
    violations(out, v)?;
    dns_violations(out, v)?;
    write_learned(out, v.report)?;
    if !v.warnings.is_empty() {
        writeln!(out)?;
        writeln!(out, "warnings:")?;
        for w in &v.warnings {
            writeln!(out, "  - {w}")?;
        }
    }
    live(out, v)?;
    captures(out, v)?;
    if let Some(f) = &v.flows {
        writeln!(out)?;
        write_flows(out, f)?;
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The first line: ERROR, FAIL (what leaked), INCONCLUSIVE (why) or PASS.
fn headline(out: &mut impl Write, v: &ReportView<'_>, paint: Paint) -> Result<()> {
    let r = v.report;
    if let Some(e) = &v.error {
        writeln!(out, "{}: {e}", paint.verdict("ERROR", None))?;
        return Ok(());
    }
    let word = |w: &str| paint.verdict(w, Some(v.verdict));
    match v.verdict {
        Verdict::Fail => {
            let mut what: Vec<String> = r
                .violations
                .iter()
                .map(|x| match (x.vlan, &x.interface, x.by_address) {
                    (_, _, true) => format!("{} on {}", x.class, x.network),
                    (Some(v), _, false) => format!("{} on VLAN {v}", x.class),
                    (None, Some(i), false) => format!("{} on interface {i}", x.class),
                    (None, None, false) => format!("{} on {}", x.class, x.network),
                })
                .collect();
            what.dedup();
            if !r.dns_violations.is_empty() {
                let n = r.dns_violations.len();
                what.push(format!("{n} DNS answer{} breaking a rule", plural(n)));
            }
            let n = r.violations.len() + r.dns_violations.len();
            writeln!(
                out,
                "{}: {n} violation{} ({})",
                word("FAIL"),
                plural(n),
                what.join(", ")
            )?;
        }
        Verdict::Inconclusive => {
            writeln!(out, "{}: {}", word("INCONCLUSIVE"), v.reasons.join("; "))?
        }
        Verdict::Pass if v.warnings.is_empty() => writeln!(
            out,
            "{}: every class stayed on its allowed networks",
            word("PASS")
        )?,
        Verdict::Pass => writeln!(
            out,
            "{} with {} warning{}: no violation",
            word("PASS"),
            v.warnings.len(),
            plural(v.warnings.len())
        )?,
    }
    Ok(())
}

fn class(out: &mut impl Write, c: &ClassSummary, paint: Paint) -> Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "{}: {} flow{}, {} packets, {} ({} bytes)",
        c.class,
        c.flows,
        plural(c.flows as usize),
        c.packets,
        human_bytes(c.bytes),
        c.bytes
    )?;
    writeln!(out, "  throughput   {}", throughput_line(&c.throughput))?;
    let kinds = [
        ("network", &c.networks),
        ("interface", &c.interfaces),
        ("vlan", &c.vlans),
    ];
    let width = kinds
        .iter()
        .flat_map(|(_, s)| s.iter())
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0);
    for (kind, shares) in kinds {
        for s in shares.iter() {
            writeln!(
                out,
                "  {kind:<9} {:<width$}  {:>10}  {}  {}",
                s.name,
                human_bytes(s.bytes),
                paint.status(&format!("{:<9}", status_word(s.status)), s.status),
                throughput_line(&s.throughput),
            )?;
        }
    }
    Ok(())
}

fn violations(out: &mut impl Write, v: &ReportView<'_>) -> Result<()> {
    let r = v.report;
    if r.violations.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "violations (largest first):")?;
    const SHOWN: usize = 50;
    for x in r.violations.iter().take(SHOWN) {
        let ports = matches!(x.proto, 6 | 17 | 132);
        let ep = |a, p| {
            if ports {
                format!("{}:{p}", v.host(a))
            } else {
                v.host(a)
            }
        };
        writeln!(
            out,
            "  {} {} {} → {} on network {}{}{}: {} bytes, {} packets, {} → {}",
            x.class,
            proto_name(x.proto),
            ep(x.src, x.sport),
            ep(x.dst, x.dport),
            x.network,
            x.interface
                .as_deref()
                .map(|i| format!(", interface {i}"))
                .unwrap_or_default(),
            x.vlan.map(|v| format!(", VLAN {v}")).unwrap_or_default(),
            x.bytes,
            x.packets,
            rfc3339(x.first_seen),
            rfc3339(x.last_seen),
        )?;
        if let Some(t) = &x.tunnel {
            writeln!(out, "    tunnel: {}", super::tunnel_text(v.an, t))?;
        }
        for why in &x.reasons {
            writeln!(out, "    why: {why}")?;
        }
        if let Some(dns) = &x.explanation {
            writeln!(out, "    dns: {dns}")?;
        }
        writeln!(
            out,
            "    class: {}; community id {}",
            x.class_reason, x.community_id
        )?;
    }
    if r.violations.len() > SHOWN {
        writeln!(
            out,
            "  … {} more (every violation is in --format json)",
            r.violations.len() - SHOWN
        )?;
    }
    Ok(())
}

fn dns_violations(out: &mut impl Write, v: &ReportView<'_>) -> Result<()> {
    let r = v.report;
    if r.dns_violations.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "DNS violations:")?;
    for d in &r.dns_violations {
        let answers: Vec<String> = d
            .answers
            .iter()
            .map(|(ip, net, ttl)| format!("{ip} ({net}, TTL {ttl} s)"))
            .collect();
        writeln!(
            out,
            "  {} {}: {} answered {} to {} at {} (rule {})",
            d.name,
            analyzer::evidence::dns::type_name(d.qtype),
            v.host(d.server),
            if answers.is_empty() {
                format!(
                    "no address ({})",
                    analyzer::evidence::dns::rcode_name(d.rcode)
                )
            } else {
                answers.join(", ")
            },
            v.host(d.client),
            rfc3339(d.time),
            d.rule
        )?;
        writeln!(out, "    why: {}", d.reason)?;
    }
    if r.dns_violations_dropped > 0 {
        writeln!(out, "  … {} more, not kept", r.dns_violations_dropped)?;
    }
    Ok(())
}

fn live(out: &mut impl Write, v: &ReportView<'_>) -> Result<()> {
    let Some(l) = &v.live else { return Ok(()) };
    writeln!(out)?;
    writeln!(
        out,
        "capture: {:.1} s, ended: {}",
        l.duration.as_secs_f64(),
        l.ended_by
    )?;
    for nic in &l.nics {
        writeln!(
            out,
            "  {}: {} packets, {} bytes, drops: kernel {}, interface {}, queue {}{}",
            nic.name,
            nic.packets,
            nic.bytes,
            nic.kernel_drops,
            nic.iface_drops,
            nic.queue_drops,
            if nic.failed { ", FAILED" } else { "" }
        )?;
    }
    if let Some(c) = &l.command {
        writeln!(
            out,
            "command: {:?} {} after {:.1} s",
            c.argv.join(" "),
            c.describe(),
            c.duration.as_secs_f64()
        )?;
    }
    Ok(())
}

fn captures(out: &mut impl Write, v: &ReportView<'_>) -> Result<()> {
    writeln!(out)?;
    writeln!(out, "captures:")?;
    for c in &v.captures {
        if let Some(e) = &c.error {
            writeln!(out, "  {}: NOT READ: {e}", c.source)?;
            continue;
        }
        write!(
            out,
            "  {}: {} packets, {} bytes, {} non-IP",
            c.source, c.packets, c.bytes, c.non_ip
        )?;
        if !c.interfaces.is_empty() {
            write!(out, ", interfaces {}", c.interfaces.join(","))?;
        }
        writeln!(out)?;
        if let Some(at) = c.truncated_at {
            writeln!(out, "    truncated at byte {at}")?;
        }
        for (reason, n) in &c.undecoded {
            writeln!(out, "    undecoded: {n} × {reason}")?;
        }
        write_tunnel_counts(out, c, "    ")?;
    }
    for (proto, why, n) in &v.report.gave_up {
        writeln!(
            out,
            "  evidence: {n} {proto} flow{} not read further: {why}",
            plural(*n as usize)
        )?;
    }
    Ok(())
}
