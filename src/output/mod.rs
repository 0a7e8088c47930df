//! Rendering: the flows listing (and later, reports) as text or JSON.

pub mod evidence;
pub mod json;
pub mod paint;
pub mod report_text;
pub mod text;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use analyzer::flow::{Flow, Slot};
use analyzer::state::FlowState;
use analyzer::Analyzer;
use anyhow::{Context, Result};
use capture::Timestamp;

use crate::pipeline::CaptureOutcome;

/// Where output goes: a file (`--output`) or standard output.
pub struct Out {
    inner: BufWriter<Box<dyn Write>>,
}

impl Out {
    /// Flushes everything written.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a whole document to `--output` or stdout. A reader that closes
/// the pipe early (`| head`) ends output quietly: the run's exit code stays
/// its verdict's (DESIGN.md), so a proven leak is still exit 1.
pub fn write_all(path: Option<&Path>, write: impl FnOnce(&mut Out) -> Result<()>) -> Result<()> {
    let mut out = open(path)?;
    let written = write(&mut out).and_then(|()| out.flush().map_err(anyhow::Error::from));
    match written {
        Err(e) if crate::is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

/// Writes an audit-style report as `--format` and `--output` ask.
pub fn write_report(args: &crate::flags::ReportArgs, view: &ReportView<'_>) -> Result<()> {
    write_all(args.output.as_deref(), |out| match args.format {
        crate::flags::Format::Json => json::write_report(out, view),
        crate::flags::Format::Text => {
            let paint = paint::Paint::new(args.color, args.output.is_none());
            report_text::write_report(out, view, paint)
        }
    })
}

/// Opens the output sink.
pub fn open(path: Option<&Path>) -> Result<Out> {
    let w: Box<dyn Write> = match path {
        Some(p) => {
            Box::new(File::create(p).with_context(|| format!("cannot create {}", p.display()))?)
        }
        None => Box::new(io::stdout()),
    };
    Ok(Out {
        inner: BufWriter::with_capacity(1 << 16, w),
    })
}

/// One capture's line in any report.
pub struct CaptureView {
    pub source: String,
    pub packets: u64,
    pub bytes: u64,
    pub non_ip: u64,
    pub orphan_fragments: u64,
    pub truncated_at: Option<u64>,
    pub truncation_reason: Option<String>,
    pub undecoded: Vec<(String, u64)>,
    pub interfaces: Vec<String>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    pub drops: u64,
    /// Outer overlay packets counted in `tunnel` flows.
    pub overlay_packets: u64,
    /// ERSPAN mirror transport: packets and bytes (in no flow).
    pub mirror_packets: u64,
    pub mirror_bytes: u64,
}

/// A tunnel as reports show it: `vxlan 5001 10.99.0.1 → 10.99.0.2`, and
/// the tunnel that carried it after ` in `.
pub fn tunnel_text(an: &Analyzer, t: &analyzer::flow::Tunnel) -> String {
    let mut s = t.kind.name().to_string();
    if let Some(id) = t.id {
        s.push_str(&format!(" {id}"));
    }
    if let Some((a, b)) = t.outer {
        s.push_str(&format!(" {a}→{b}"));
    }
    if let Some(parent) = an.tunnel(t.parent) {
        s.push_str(" in ");
        s.push_str(&tunnel_text(an, parent));
    }
    s
}

/// Everything the flows listing shows, resolved to names and sorted.
pub struct FlowsView<'a> {
    pub captures: Vec<CaptureView>,
    pub flows: Vec<&'a Slot<FlowState>>,
    pub an: &'a Analyzer,
}

impl<'a> FlowsView<'a> {
    /// Resolves names and sorts flows by bytes (largest first), then time.
    pub fn new(an: &'a Analyzer, outcomes: &[CaptureOutcome]) -> Self {
        let captures = outcomes.iter().map(|o| capture_view(an, o)).collect();
        let mut flows: Vec<&Slot<FlowState>> = an.slots().collect();
        flows.sort_by(|a, b| {
            let (a, b) = (&a.flow, &b.flow);
            b.total_bytes()
                .cmp(&a.total_bytes())
                .then(a.first_seen.cmp(&b.first_seen))
                .then(a.key.cmp(&b.key))
        });
        FlowsView {
            captures,
            flows,
            an,
        }
    }

    /// Interface names of a flow.
    pub fn iface_names(&self, f: &Flow) -> Vec<String> {
        f.ifaces
            .iter()
            .map(|s| self.an.iface_name(s.iface).to_string())
            .collect()
    }
}

fn capture_view(an: &Analyzer, o: &CaptureOutcome) -> CaptureView {
    let counters = o.id.and_then(|id| an.captures().get(id.0 as usize));
    let (packets, bytes, non_ip, orphans, undecoded, interfaces) = match counters {
        Some(c) => (
            c.packets,
            c.bytes,
            c.non_ip,
            c.orphan_fragments,
            c.undecoded
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            c.interfaces
                .iter()
                .map(|r| an.iface_name(*r).to_string())
                .collect(),
        ),
        None => (0, 0, 0, 0, Vec::new(), Vec::new()),
    };
    let tunnels = counters.map_or((0, 0, 0), |c| {
        (c.overlay_packets, c.mirror_packets, c.mirror_bytes)
    });
    CaptureView {
        overlay_packets: tunnels.0,
        mirror_packets: tunnels.1,
        mirror_bytes: tunnels.2,
        source: o.source.clone(),
        packets,
        bytes,
        non_ip,
        orphan_fragments: orphans,
        truncated_at: o.truncated.as_ref().map(|t| t.offset),
        truncation_reason: o.truncated.as_ref().map(|t| t.reason.clone()),
        undecoded,
        interfaces,
        error: o.error.clone(),
        warnings: o.warnings.clone(),
        drops: o.drops,
    }
}

/// One NIC's capture health in a live report.
pub struct NicReport {
    pub name: String,
    pub packets: u64,
    pub bytes: u64,
    pub kernel_drops: u64,
    pub iface_drops: u64,
    pub queue_drops: u64,
    pub failed: bool,
}

impl NicReport {
    /// Reads a NIC's counters.
    pub fn from_counters(name: &str, c: &capture::NicCounters) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        NicReport {
            name: name.to_string(),
            packets: c.packets.load(Relaxed),
            bytes: c.bytes.load(Relaxed),
            kernel_drops: c.kernel_drops.load(Relaxed),
            iface_drops: c.iface_drops.load(Relaxed),
            queue_drops: c.queue_drops.load(Relaxed),
            failed: c.failed.load(Relaxed),
        }
    }

    /// Why this NIC makes the verdict inconclusive, if it does.
    pub fn problem(&self) -> Option<String> {
        let lost = self.kernel_drops + self.iface_drops + self.queue_drops;
        if self.failed {
            Some(format!(
                "{}: capture failed (interface gone or down)",
                self.name
            ))
        } else if lost > 0 {
            Some(format!(
                "{}: {lost} packets dropped (kernel {}, interface {}, queue {})",
                self.name, self.kernel_drops, self.iface_drops, self.queue_drops
            ))
        } else {
            None
        }
    }
}

/// The verified command's outcome.
pub struct CommandReport {
    pub argv: Vec<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub success: bool,
    pub duration: std::time::Duration,
}

impl CommandReport {
    /// From an exit status.
    pub fn new(
        argv: &[String],
        code: Option<i32>,
        signal: Option<i32>,
        duration: std::time::Duration,
    ) -> Self {
        CommandReport {
            argv: argv.to_vec(),
            exit_code: code,
            signal,
            success: code == Some(0),
            duration,
        }
    }

    /// `exited with status 3` / `was killed by signal 9`.
    pub fn describe(&self) -> String {
        match (self.exit_code, self.signal) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(s)) => format!("was killed by signal {s}"),
            (None, None) => "ended abnormally".into(),
        }
    }
}

/// What a live run adds to the report.
pub struct LiveInfo {
    pub nics: Vec<NicReport>,
    pub command: Option<CommandReport>,
    pub ended_by: String,
    pub duration: std::time::Duration,
}

/// Everything an audit report shows, resolved to names.
pub struct ReportView<'a> {
    pub an: &'a Analyzer,
    pub report: &'a analyzer::Report,
    pub verdict: analyzer::report::Verdict,
    pub captures: Vec<CaptureView>,
    pub warnings: Vec<String>,
    pub flows: Option<FlowsView<'a>>,
    pub live: Option<LiveInfo>,
    /// Why the verdict is inconclusive (empty otherwise).
    pub reasons: Vec<String>,
    /// The run could not check anything (every capture failed to read).
    pub error: Option<String>,
}

impl<'a> ReportView<'a> {
    /// Gathers captures and warnings (fallbacks, truncation, evictions).
    pub fn new(
        an: &'a Analyzer,
        report: &'a analyzer::Report,
        outcomes: &[CaptureOutcome],
        with_flows: bool,
    ) -> Self {
        let captures: Vec<CaptureView> = outcomes.iter().map(|o| capture_view(an, o)).collect();
        let mut warnings = report.warnings.clone();
        for c in &captures {
            if let (Some(at), Some(why)) = (c.truncated_at, &c.truncation_reason) {
                warnings.push(format!(
                    "{} truncated at byte {at}: {why}; everything before it is counted",
                    c.source
                ));
            }
            if let Some(e) = &c.error {
                warnings.push(format!("not read: {e}"));
            }
        }
        let evicted = an.flow_stats().evicted;
        if evicted > 0 {
            warnings.push(format!(
                "{evicted} flows were evicted at the --max-flows cap; their packets are still counted"
            ));
        }
        let flows = with_flows.then(|| FlowsView::new(an, outcomes));
        ReportView {
            an,
            report,
            verdict: report.verdict,
            captures,
            warnings,
            flows,
            live: None,
            reasons: Vec::new(),
            error: None,
        }
    }

    /// The final verdict and, when inconclusive, why.
    pub fn with_verdict(
        mut self,
        verdict: analyzer::report::Verdict,
        reasons: Vec<String>,
    ) -> Self {
        self.verdict = verdict;
        self.reasons = reasons;
        self
    }

    /// Adds the live-capture part.
    pub fn with_live(mut self, live: LiveInfo) -> Self {
        self.live = Some(live);
        self
    }

    /// An address with its policy host name: `dpm (10.10.12.89)`.
    pub fn host(&self, addr: std::net::IpAddr) -> String {
        match self.an.policy().host_name(addr) {
            Some(h) => format!("{h} ({addr})"),
            None => addr.to_string(),
        }
    }
}

/// Bits per second in SI units: `812 Mbit/s`.
pub fn human_bps(bps: u64) -> String {
    const UNITS: [&str; 5] = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
    let mut v = bps as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 || v >= 100.0 {
        format!("{v:.0} {}", UNITS[i])
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// Protocol name as tshark and Zeek spell it.
pub fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        132 => "sctp".into(),
        n => format!("ip{n}"),
    }
}

/// RFC 3339 in UTC, with as many fractional digits as needed.
pub fn rfc3339(ts: Timestamp) -> String {
    ts.to_string()
}
