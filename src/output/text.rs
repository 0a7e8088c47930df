//! Human-readable tables.

use std::io::Write;

use anyhow::Result;

use super::{proto_name, rfc3339, FlowsView};

/// Bytes in human units (KiB, MiB, GiB), exact below 10 KiB.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 10 * 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

fn endpoint(addr: std::net::IpAddr, port: u16, with_port: bool) -> String {
    match (addr, with_port) {
        (std::net::IpAddr::V6(a), true) => format!("[{a}]:{port}"),
        (a, true) => format!("{a}:{port}"),
        (a, false) => a.to_string(),
    }
}

/// Writes the `flows` table, largest first, then one line per capture.
pub fn write_flows(out: &mut impl Write, v: &FlowsView<'_>) -> Result<()> {
    let rows: Vec<[String; 10]> = v
        .flows
        .iter()
        .map(|s| {
            let f = &s.flow;
            let ports = matches!(f.key.proto, 6 | 17 | 132);
            let (src, sport) = f.src();
            let (dst, dport) = f.dst();
            let vlans: Vec<String> = f.vlans.iter().map(u16::to_string).collect();
            let ifaces = v.iface_names(f).join(",");
            [
                proto_name(f.key.proto),
                endpoint(src, sport, ports),
                endpoint(dst, dport, ports),
                f.total_packets().to_string(),
                f.total_bytes().to_string(),
                f.packets_forward().to_string(),
                f.bytes_forward().to_string(),
                if ifaces.is_empty() {
                    "-".into()
                } else {
                    ifaces
                },
                if vlans.is_empty() {
                    "-".into()
                } else {
                    vlans.join(",")
                },
                rfc3339(f.first_seen),
            ]
        })
        .collect();
    let header = [
        "proto",
        "src (initiator)",
        "dst",
        "packets",
        "bytes",
        "pkts→",
        "bytes→",
        "interfaces",
        "vlans",
        "first seen",
    ];
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[&str]| -> String {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&width).enumerate() {
            let pad = w.saturating_sub(c.chars().count());
            // Numbers right-aligned, text left-aligned.
            if (3..=6).contains(&i) {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                if i + 1 < cells.len() {
                    s.push_str(&" ".repeat(pad));
                }
            }
            if i + 1 < cells.len() {
                s.push_str("  ");
            }
        }
        s
    };
    writeln!(out, "{}", line(&header))?;
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    writeln!(out)?;
    writeln!(out, "{} flows", v.flows.len())?;
    for c in &v.captures {
        if let Some(e) = &c.error {
            writeln!(out, "capture {}: ERROR {e}", c.source)?;
            continue;
        }
        write!(
            out,
            "capture {}: {} packets, {} ({} bytes), {} non-IP",
            c.source,
            c.packets,
            human_bytes(c.bytes),
            c.bytes,
            c.non_ip
        )?;
        if !c.interfaces.is_empty() {
            write!(out, ", interfaces {}", c.interfaces.join(","))?;
        }
        writeln!(out)?;
        if let (Some(at), Some(why)) = (c.truncated_at, &c.truncation_reason) {
            writeln!(
                out,
                "  TRUNCATED at byte {at}: {why} (everything before it is counted)"
            )?;
        }
        for (reason, n) in &c.undecoded {
            writeln!(out, "  undecoded: {n} × {reason}")?;
        }
        if c.orphan_fragments > 0 {
            writeln!(
                out,
                "  {} later IP fragments without their first fragment",
                c.orphan_fragments
            )?;
        }
        for w in &c.warnings {
            writeln!(out, "  warning: {w}")?;
        }
    }
    let s = v.an.flow_stats();
    if s.evicted > 0 {
        writeln!(
            out,
            "flow table: {} flows evicted at the --max-flows cap (still counted)",
            s.evicted
        )?;
    }
    Ok(())
}

fn throughput_line(t: &analyzer::stats::Throughput) -> String {
    use super::human_bps;
    if t.bins == 0 {
        return "no traffic".into();
    }
    format!(
        "p50 {}  p90 {}  p99 {}  max {}  ({} bins of {} ms)",
        human_bps(t.p50),
        human_bps(t.p90),
        human_bps(t.p99),
        human_bps(t.max),
        t.bins,
        t.bin_ms
    )
}

fn status_word(s: analyzer::policy::Status) -> &'static str {
    match s {
        analyzer::policy::Status::Preferred => "preferred",
        analyzer::policy::Status::Fallback => "FALLBACK",
        analyzer::policy::Status::Violation => "VIOLATION",
    }
}

/// Writes the audit report: verdict first, then classes, violations with
/// evidence, warnings, and capture integrity.
pub fn write_report(out: &mut impl Write, v: &super::ReportView<'_>) -> Result<()> {
    use analyzer::report::Verdict;
    let r = v.report;
    let n = r.violations.len();
    match v.verdict {
        Verdict::Fail => {
            let mut what: Vec<String> = r
                .violations
                .iter()
                .map(|x| match (&x.interface, x.by_address) {
                    (Some(i), false) => format!("{} on interface {i}", x.class),
                    _ => format!("{} on {}", x.class, x.network),
                })
                .collect();
            what.dedup();
            writeln!(
                out,
                "FAIL: {n} violation{} ({})",
                if n == 1 { "" } else { "s" },
                what.join(", ")
            )?;
        }
        Verdict::Inconclusive => {
            let reasons = v
                .live
                .as_ref()
                .map(|l| l.reasons.join("; "))
                .unwrap_or_default();
            writeln!(out, "INCONCLUSIVE: {reasons}")?;
        }
        Verdict::Pass if v.warnings.is_empty() => {
            writeln!(out, "PASS: every class stayed on its allowed networks")?
        }
        Verdict::Pass => writeln!(
            out,
            "PASS with {} warning{}: no violation",
            v.warnings.len(),
            if v.warnings.len() == 1 { "" } else { "s" }
        )?,
    }
    for c in &r.classes {
        writeln!(out)?;
        writeln!(
            out,
            "{}: {} flow{}, {} packets, {} ({} bytes)",
            c.class,
            c.flows,
            if c.flows == 1 { "" } else { "s" },
            c.packets,
            human_bytes(c.bytes),
            c.bytes
        )?;
        writeln!(out, "  throughput   {}", throughput_line(&c.throughput))?;
        let width = c
            .networks
            .iter()
            .chain(&c.interfaces)
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(0);
        for (kind, shares) in [("network", &c.networks), ("interface", &c.interfaces)] {
            for s in shares.iter() {
                writeln!(
                    out,
                    "  {kind:<9} {:<width$}  {:>10}  {:<9}  {}",
                    s.name,
                    human_bytes(s.bytes),
                    status_word(s.status),
                    throughput_line(&s.throughput),
                )?;
            }
        }
    }
    if !r.violations.is_empty() {
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
                "  {} {} {} → {} on network {}{}: {} bytes, {} packets, {} → {}",
                x.class,
                proto_name(x.proto),
                ep(x.src, x.sport),
                ep(x.dst, x.dport),
                x.network,
                x.interface
                    .as_deref()
                    .map(|i| format!(", interface {i}"))
                    .unwrap_or_default(),
                x.bytes,
                x.packets,
                rfc3339(x.first_seen),
                rfc3339(x.last_seen),
            )?;
            for why in &x.reasons {
                writeln!(out, "    why: {why}")?;
            }
            writeln!(
                out,
                "    class: {}; community id {}",
                x.class_reason, x.community_id
            )?;
        }
    }
    write_learned(out, r)?;
    if !v.warnings.is_empty() {
        writeln!(out)?;
        writeln!(out, "warnings:")?;
        for w in &v.warnings {
            writeln!(out, "  - {w}")?;
        }
    }
    if let Some(l) = &v.live {
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
    }
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
    }
    for (proto, why, n) in &r.gave_up {
        writeln!(
            out,
            "  evidence: {n} {proto} flow{} not read further: {why}",
            if *n == 1 { "" } else { "s" }
        )?;
    }
    if let Some(f) = &v.flows {
        writeln!(out)?;
        write_flows(out, f)?;
    }
    Ok(())
}

/// RPC endpoints the traffic announced (those with a port: the ones a
/// later connection can reach).
fn write_learned(out: &mut impl Write, r: &analyzer::Report) -> Result<()> {
    let with_port: Vec<_> = r
        .learned_endpoints
        .iter()
        .filter_map(|e| Some((e, e.port?)))
        .collect();
    if with_port.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "RPC endpoints learned from replies:")?;
    for (e, port) in with_port {
        let what = match (&e.binding, &e.interface) {
            (Some(b), _) => format!(" ({b})"),
            (None, Some(u)) => format!(" (interface {u})"),
            (None, None) => String::new(),
        };
        writeln!(
            out,
            "  {} {}/{port}{what}: {} reply by {} at {}",
            e.server,
            proto_name(e.proto),
            e.via.as_str(),
            e.announced_by,
            rfc3339(e.learned_at)
        )?;
    }
    Ok(())
}
