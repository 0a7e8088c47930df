//! The audit/verify report as text: the verdict first, then classes with
//! their networks, NICs and VLANs, the violations with their evidence, DNS
//! violations, learned endpoints, warnings, and capture integrity.

use std::io::Write;

use analyzer::report::ClassSummary;
use anyhow::Result;

use super::paint::Paint;
use super::text::{
    human_bytes, status_word, throughput_line, write_flows, write_learned, write_tunnel_counts,
};
use super::{proto_name, rfc3339, Document, Render};

/// The text renderer: verdict and statuses coloured as `paint` says.
pub struct Text {
    pub paint: Paint,
}

impl Render for Text {
    fn render(&self, doc: &Document, out: &mut dyn Write) -> Result<()> {
        write_report(out, doc, self.paint)
    }
}

/// Writes the report, verdict and statuses coloured as `paint` says.
fn write_report(out: &mut dyn Write, v: &Document, paint: Paint) -> Result<()> {
    headline(out, v, paint)?;
    for c in &v.classes {
        class(out, c, paint)?;
    }
    violations(out, v)?;
    dns_violations(out, v)?;
    write_learned(out, &v.learned_endpoints)?;
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

/// The first line: the verdict word (coloured) and its one-line reason,
/// as every renderer gives them.
fn headline(out: &mut dyn Write, v: &Document, paint: Paint) -> Result<()> {
    let h = v.headline();
    writeln!(out, "{}: {}", paint.verdict(h.word, h.verdict), h.summary)?;
    Ok(())
}

fn class(out: &mut dyn Write, c: &ClassSummary, paint: Paint) -> Result<()> {
    writeln!(out)?;
    // LSO/RSC super-frames: what the host saw, not what the wire carried.
    let unit = if c.super_frames > 0 {
        "host-visible segments"
    } else {
        "packets"
    };
    writeln!(
        out,
        "{}: {} flow{}, {} {unit}, {} ({} bytes)",
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

fn violations(out: &mut dyn Write, v: &Document) -> Result<()> {
    if v.violations.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "violations (largest first):")?;
    const SHOWN: usize = 50;
    for x in v.violations.iter().take(SHOWN) {
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
        if let Some(t) = super::tunnel_text(&x.tunnel) {
            writeln!(out, "    tunnel: {t}")?;
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
    if v.violations.len() > SHOWN {
        writeln!(
            out,
            "  … {} more (every violation is in --format json)",
            v.violations.len() - SHOWN
        )?;
    }
    Ok(())
}

fn dns_violations(out: &mut dyn Write, v: &Document) -> Result<()> {
    if v.dns_violations.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "DNS violations:")?;
    for d in v.dns_violations.iter().map(|d| &d.violation) {
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
    if v.dns_violations_dropped > 0 {
        writeln!(out, "  … {} more, not kept", v.dns_violations_dropped)?;
    }
    Ok(())
}

fn live(out: &mut dyn Write, v: &Document) -> Result<()> {
    let Some(l) = &v.live else { return Ok(()) };
    writeln!(out)?;
    writeln!(
        out,
        "capture: {:.1} s, ended: {}; snaplen {}{}",
        l.duration.as_secs_f64(),
        l.ended_by,
        l.config.snaplen,
        l.config
            .filter
            .as_ref()
            .map_or(String::new(), |f| format!(", filter {f:?}"))
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

fn captures(out: &mut dyn Write, v: &Document) -> Result<()> {
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
        for note in c.notes() {
            writeln!(out, "    {note}")?;
        }
        if let Some(at) = c.truncated_at {
            writeln!(out, "    truncated at byte {at}")?;
        }
        for (reason, n) in &c.undecoded {
            writeln!(out, "    undecoded: {n} × {reason}")?;
        }
        // What the reader skipped or doubted (a packet block that claims
        // more bytes than it holds, an undescribed interface): as JSON
        // and HTML list them.
        for w in &c.warnings {
            writeln!(out, "    warning: {w}")?;
        }
        write_tunnel_counts(out, c, "    ")?;
    }
    for (proto, why, n) in &v.gave_up {
        writeln!(
            out,
            "  evidence: {n} {proto} flow{} not read further: {why}",
            plural(*n as usize)
        )?;
    }
    Ok(())
}
