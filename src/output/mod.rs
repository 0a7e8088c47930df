//! Rendering: the flows listing (and later, reports) as text or JSON.

pub mod evidence;
pub mod json;
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
        crate::flags::Format::Text => report_text::write_report(out, view),
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

/// One capture interface as its file describes it, with what lanecheck
/// made of it.
pub struct IfaceInfo {
    /// The name reports use (`None`: unnamed, judged by address).
    pub name: Option<String>,
    pub if_name: Option<String>,
    pub description: Option<String>,
    pub hardware: Option<String>,
    pub mac: Option<String>,
    /// The `[interfaces]` key that maps it, as written.
    pub key: Option<String>,
    /// The network that key gives it.
    pub network: Option<String>,
}

/// One capture's line in any report.
pub struct CaptureView {
    pub source: String,
    /// Who wrote it (`captures[].producer`) and in words.
    pub producer: &'static str,
    pub producer_words: &'static str,
    /// Its `shb_userappl`, verbatim.
    pub application: Option<String>,
    /// What copies were collapsed (`none`, `across-interfaces`, `all`).
    pub dedup: &'static str,
    /// Frames read.
    pub packets: u64,
    /// Frames that are not a later copy of another.
    pub unique_packets: u64,
    pub duplicates: u64,
    pub bytes: u64,
    pub unique_bytes: u64,
    pub mislabelled_80211: u64,
    pub super_frames: u64,
    pub estimated_packets: u64,
    pub estimated_bytes: u64,
    pub possible_copies: u64,
    pub possible_copy_bytes: u64,
    /// Copies that may have been counted twice (copy table full).
    pub copy_overflow: u64,
    pub interface_info: Vec<IfaceInfo>,
    pub non_ip: u64,
    pub orphan_fragments: u64,
    pub truncated_at: Option<u64>,
    pub truncation_reason: Option<String>,
    pub undecoded: Vec<(String, u64)>,
    pub interfaces: Vec<String>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    pub drops: u64,
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
    let empty = analyzer::CaptureCounters::default();
    let c =
        o.id.and_then(|id| an.captures().get(id.0 as usize))
            .unwrap_or(&empty);
    CaptureView {
        source: o.source.clone(),
        producer: c.producer.as_str(),
        producer_words: c.producer.describe(),
        application: c.application.clone(),
        dedup: c.copies.as_str(),
        packets: c.packets,
        unique_packets: c.packets - c.duplicates,
        duplicates: c.duplicates,
        bytes: c.bytes,
        unique_bytes: c.unique_bytes,
        mislabelled_80211: c.mislabelled_80211,
        super_frames: c.super_frames,
        estimated_packets: c.estimated_packets,
        estimated_bytes: c.estimated_bytes,
        possible_copies: c.possible_copies,
        possible_copy_bytes: c.possible_copy_bytes,
        copy_overflow: o.id.map_or(0, |id| an.copy_overflow(id)),
        interface_info: o
            .interfaces
            .iter()
            .map(|(i, r)| iface_info(an, i, *r))
            .collect(),
        non_ip: c.non_ip,
        orphan_fragments: c.orphan_fragments,
        truncated_at: o.truncated.as_ref().map(|t| t.offset),
        truncation_reason: o.truncated.as_ref().map(|t| t.reason.clone()),
        undecoded: c
            .undecoded
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        interfaces: c
            .interfaces
            .iter()
            .map(|r| an.iface_name(*r).to_string())
            .collect(),
        error: o.error.clone(),
        warnings: o.warnings.clone(),
        drops: o.drops,
    }
}

fn iface_info(an: &Analyzer, i: &capture::Interface, r: Option<analyzer::IfaceRef>) -> IfaceInfo {
    let policy = an.policy();
    let nic = analyzer::policy::Nic {
        name: i.name.as_deref(),
        description: i.description.as_deref(),
        mac: i.mac,
    };
    let key = policy
        .nic_keys_matching(&nic)
        .first()
        .and_then(|k| policy.nic_key(*k));
    IfaceInfo {
        name: r.map(|r| an.iface_name(r).to_string()),
        if_name: i.name.clone(),
        description: i.description.clone(),
        hardware: i.hardware.clone(),
        mac: i.mac.map(analyzer::policy::mac_text),
        key: key.map(|k| k.0.to_string()),
        network: key.map(|k| policy.network_name(k.2).to_string()),
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
            warnings.extend(copy_warnings(c));
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

/// How an operator avoids copies with the tool that wrote a capture.
fn avoid_copies(producer: &str) -> &'static str {
    match producer {
        "pktmon" | "etl2pcapng-pktmon" => {
            "capture with `pktmon start --comp nics` (only the adapters log packets), or convert one adapter at a time with `pktmon etl2pcap PktMon.etl --component-id <id> -o nic<id>.pcapng` (ids from `pktmon list`)"
        }
        "etl2pcapng" => {
            "capture with `netsh trace start capture=yes capturetype=physical` (no vSwitch ports), and audit one interface per file"
        }
        _ => "capture one NIC per file (`dumpcap -i <NIC> -w nic.pcapng`) and give each as PATH=NAME",
    }
}

/// What a capture's copies leave uncertain, as warnings.
fn copy_warnings(c: &CaptureView) -> Vec<String> {
    let mut out = Vec::new();
    if c.possible_copies > 0 {
        out.push(format!(
            "{}: {} packet{} ({} bytes) repeat TCP bytes already counted within 10 ms in another size (a segment and its coalesced LSO/RSC frame logged at different layers, or a fast retransmission): counted, so class bytes may be high by as much; to avoid such copies, {}",
            c.source,
            c.possible_copies,
            if c.possible_copies == 1 { "" } else { "s" },
            c.possible_copy_bytes,
            avoid_copies(c.producer)
        ));
    }
    if c.copy_overflow > 0 {
        out.push(format!(
            "{}: {} packets left the copy table before their 10 ms window ended; a later copy of them may have been counted again",
            c.source, c.copy_overflow
        ));
    }
    let writes_copies = matches!(c.producer, "pktmon" | "etl2pcapng" | "etl2pcapng-pktmon");
    if writes_copies && c.dedup == "none" && c.packets > 0 {
        out.push(format!(
            "{}: read with --dedup off: {} writes a packet once per component or capture point that logged it, and every copy was counted",
            c.source, c.producer_words
        ));
    }
    if c.producer == "pktmon" && c.interfaces.is_empty() && c.packets > 0 {
        out.push(format!(
            "{}: pktmon's converter names no NIC, so its flows are judged by address only; give the file as PATH=NAME for the adapter it holds (one adapter per file: `pktmon etl2pcap PktMon.etl --component-id <id>`)",
            c.source
        ));
    }
    out
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
