//! Human-readable tables.

use std::io::Write;

use anyhow::Result;

use super::{proto_name, rfc3339, CaptureView, FlowsView};

/// What a capture's section says beside its counts: who wrote it, the
/// copies collapsed (raw frames, unique packets, factor), 802.11 frames
/// read as such, super-frames, size estimates, and how its NICs were named.
pub fn capture_notes(c: &CaptureView) -> Vec<String> {
    let mut out = Vec::new();
    let app = c
        .application
        .as_deref()
        .map(|a| format!(" ({a:?})"))
        .unwrap_or_default();
    out.push(format!("written by: {}{app}", c.producer_words));
    if c.dedup != "none" || c.duplicates > 0 {
        let factor = c.packets as f64 / c.unique_packets.max(1) as f64;
        out.push(format!(
            "copies: {} frames read, {} unique packets (x{factor:.2}), {} bytes counted of {} read; copies collapsed: {}",
            c.packets, c.unique_packets, c.unique_bytes, c.bytes, c.dedup
        ));
    }
    if c.mislabelled_80211 > 0 {
        out.push(format!(
            "{} frames labelled Ethernet are pktmon's 802.11 copies: read as 802.11",
            c.mislabelled_80211
        ));
    }
    if c.super_frames > 0 {
        out.push(format!(
            "{} LSO/RSC super-frames (IP packets over 1500 bytes or with IPv4 length 0): packet counts are host-visible segments, not wire packets; bytes are exact",
            c.super_frames
        ));
    }
    if c.estimated_packets > 0 {
        out.push(format!(
            "{} packets ({} bytes) were cut without their original length: sized from their IP header (estimates)",
            c.estimated_packets, c.estimated_bytes
        ));
    }
    for i in &c.interface_info {
        let (Some(name), Some(key)) = (&i.name, &i.key) else {
            continue;
        };
        if i.if_name.as_deref() == Some(name.as_str()) && key == name {
            continue;
        }
        let file = i.if_name.as_deref().unwrap_or("(unnamed)");
        out.push(format!(
            "interface {name} = {file}: [interfaces] {key:?} → {}",
            i.network.as_deref().unwrap_or("?")
        ));
    }
    out
}

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
            let vlans: Vec<String> = f.vlans.iter().map(|v| v.vlan.to_string()).collect();
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
        for note in capture_notes(c) {
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
pub(super) fn write_learned(out: &mut impl Write, r: &analyzer::Report) -> Result<()> {
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
