//! Human-readable tables.

use std::io::Write;

use anyhow::Result;

use super::model::{CaptureRow, FlowList, FlowRow};
use super::{proto_name, rfc3339};

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

pub(super) fn endpoint(addr: std::net::IpAddr, port: u16, with_port: bool) -> String {
    match (addr, with_port) {
        (std::net::IpAddr::V6(a), true) => format!("[{a}]:{port}"),
        (a, true) => format!("{a}:{port}"),
        (a, false) => a.to_string(),
    }
}

/// One row of the `flows` table (with the tunnel column when asked).
fn flow_row(f: &FlowRow, tunnels: bool) -> Vec<String> {
    let ports = matches!(f.proto, 6 | 17 | 132);
    let vlans: Vec<String> = f.vlans.iter().map(|v| v.to_string()).collect();
    let dash = |s: String| if s.is_empty() { "-".into() } else { s };
    let mut row = vec![
        proto_name(f.proto),
        endpoint(f.src, f.sport, ports),
        endpoint(f.dst, f.dport, ports),
        f.packets.to_string(),
        f.bytes.to_string(),
        f.packets_forward.to_string(),
        f.bytes_forward.to_string(),
        dash(f.interfaces.join(",")),
        dash(vlans.join(",")),
        rfc3339(f.first_seen),
    ];
    if tunnels {
        row.push(super::tunnel_text(&f.tunnel).unwrap_or_else(|| "-".into()));
    }
    row
}

/// Writes the `flows` table, largest first, then one line per capture.
/// A `tunnel` column is added when some flow was carried in one.
pub fn write_flows(out: &mut dyn Write, v: &FlowList) -> Result<()> {
    let tunnels = v.flows.iter().any(|f| !f.tunnel.is_empty());
    let rows: Vec<Vec<String>> = v.flows.iter().map(|f| flow_row(f, tunnels)).collect();
    let mut header = vec![
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
    if tunnels {
        header.push("tunnel");
    }
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
    capture_lines(out, &v.captures)?;
    if v.flow_table.evicted > 0 {
        writeln!(
            out,
            "flow table: {} flows evicted at the --max-flows cap (still counted)",
            v.flow_table.evicted
        )?;
    }
    Ok(())
}

/// One line per capture of a flows listing, with its integrity notes.
fn capture_lines(out: &mut dyn Write, captures: &[super::model::CaptureRow]) -> Result<()> {
    for c in captures {
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
        for note in c.notes() {
            writeln!(out, "  {note}")?;
        }
        if let (Some(at), Some(why)) = (c.truncated_at, &c.truncation_reason) {
            writeln!(
                out,
                "  TRUNCATED at byte {at}: {why} (everything before it is counted)"
            )?;
        }
        for (reason, n) in &c.undecoded {
            writeln!(out, "  undecoded: {n} × {reason}")?;
        }
        write_tunnel_counts(out, c, "  ")?;
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
    Ok(())
}

/// A capture's tunnel counters, when it had tunnels.
pub(super) fn write_tunnel_counts(out: &mut dyn Write, c: &CaptureRow, indent: &str) -> Result<()> {
    for note in c.tunnel_notes() {
        writeln!(out, "{indent}{note}")?;
    }
    Ok(())
}

pub(super) fn throughput_line(t: &analyzer::stats::Throughput) -> String {
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

pub(super) fn status_word(s: analyzer::policy::Status) -> &'static str {
    match s {
        analyzer::policy::Status::Preferred => "preferred",
        analyzer::policy::Status::Fallback => "FALLBACK",
        analyzer::policy::Status::Violation => "VIOLATION",
    }
}

/// RPC endpoints the traffic announced (those with a port: the ones a
/// later connection can reach).
pub(super) fn write_learned(
    out: &mut dyn Write,
    learned: &[analyzer::evidence::learned::Endpoint],
) -> Result<()> {
    let with_port: Vec<_> = learned.iter().filter_map(|e| Some((e, e.port?))).collect();
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
