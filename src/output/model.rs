//! The report as plain data: everything a renderer shows, resolved to names
//! and rows once the run ends (flows, verdicts, evidence, per-bin series,
//! capture integrity). Renderers ([`super::Render`]: text, JSON, HTML) read a
//! [`Document`] or a [`FlowList`] and never the analyzer.
//!
//! A new per-capture fact (a counter of the analyzer, a field the capture
//! file declares) is a field of [`CaptureRow`], filled in
//! [`CaptureRow::new`], named in [`CaptureRow::integrity`] if a reader must
//! be warned about it, and written by the JSON renderer.

use std::collections::BTreeMap;
use std::net::IpAddr;

use analyzer::evidence::learned::Endpoint;
use analyzer::evidence::probe::Evidence;
use analyzer::flow::{FlowKey, Slot};
use analyzer::policy::{Policy, Status};
use analyzer::report::{ClassSummary, DnsViolation, Verdict, Violation};
use analyzer::state::FlowState;
use analyzer::Analyzer;
use capture::Timestamp;

use crate::pipeline::CaptureOutcome;

pub use super::captures::CaptureRow;

/// One flow, resolved: names, class, reason, status.
#[derive(Clone, Debug)]
pub struct FlowRow {
    /// IP protocol number.
    pub proto: u8,
    /// Initiator and its port.
    pub src: IpAddr,
    pub sport: u16,
    /// Responder and its port.
    pub dst: IpAddr,
    pub dport: u16,
    /// Both directions.
    pub packets: u64,
    pub bytes: u64,
    /// Initiator → responder only.
    pub packets_forward: u64,
    pub bytes_forward: u64,
    /// Capture interfaces, in order of first appearance.
    pub interfaces: Vec<String>,
    /// VLAN ids seen.
    pub vlans: Vec<u16>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub community_id: String,
    /// The tunnels it was carried in, innermost first (empty if none).
    pub tunnel: Vec<analyzer::flow::Tunnel>,
    /// Class name (`?` before classification).
    pub class: String,
    /// Why it has that class.
    pub reason: String,
    pub evidence: Vec<Evidence>,
    /// Networks of its endpoints.
    pub networks: Vec<String>,
    /// Its worst status.
    pub status: Status,
    /// Where it sorts among flows of as many bytes and the same first
    /// packet: its key, with its tunnel's id (interned by one analyzer)
    /// after the number of the capture set that analyzer read (parallel
    /// captures: each its own, in order; else 0).
    pub order: (FlowKey, usize),
}

impl FlowRow {
    fn new(an: &Analyzer, s: &Slot<FlowState>, part: usize) -> Self {
        let (f, st) = (&s.flow, &s.ext);
        let ((src, sport), (dst, dport)) = (f.src(), f.dst());
        FlowRow {
            proto: f.key.proto,
            src,
            sport,
            dst,
            dport,
            packets: f.total_packets(),
            bytes: f.total_bytes(),
            packets_forward: f.packets_forward(),
            bytes_forward: f.bytes_forward(),
            interfaces: f
                .ifaces
                .iter()
                .map(|i| an.iface_name(i.iface).to_string())
                .collect(),
            vlans: f.vlans.iter().map(|v| v.vlan).collect(),
            first_seen: f.first_seen,
            last_seen: f.last_seen,
            community_id: f.community_id(),
            tunnel: an.tunnel_chain(f.key.tunnel),
            class: st
                .class
                .map_or("?", |c| an.policy().class_name(c))
                .to_string(),
            reason: an.reason(s),
            evidence: st.evidence().map(|e| e.facts.clone()).unwrap_or_default(),
            networks: st
                .nets
                .iter()
                .map(|n| an.net_name(*n).to_string())
                .collect(),
            status: st.verdict.status,
            order: (f.key, part),
        }
    }

    /// Largest first, then by first packet, then by key (a total order:
    /// a flow's key is unique among flows of one first packet).
    fn cmp(&self, b: &FlowRow) -> std::cmp::Ordering {
        let (k, l) = (&self.order.0, &b.order.0);
        b.bytes
            .cmp(&self.bytes)
            .then(self.first_seen.cmp(&b.first_seen))
            .then(
                (k.proto, k.lo, k.lo_port, k.hi, k.hi_port)
                    .cmp(&(l.proto, l.lo, l.lo_port, l.hi, l.hi_port)),
            )
            .then((self.order.1, k.tunnel).cmp(&(b.order.1, l.tunnel)))
    }
}

/// Flow-table counters.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct FlowTableRow {
    /// Pushed out at the `--max-flows` cap (still listed).
    pub evicted: u64,
    /// Closed after `--idle-timeout` of silence (still listed).
    pub expired: u64,
}

/// Everything `lanecheck flows` (and `--flows`) lists.
#[derive(Clone, Debug)]
pub struct FlowList {
    pub captures: Vec<CaptureRow>,
    /// Largest first, then by first packet.
    pub flows: Vec<FlowRow>,
    /// RPC endpoints announced in the traffic, in order.
    pub learned_endpoints: Vec<Endpoint>,
    pub flow_table: FlowTableRow,
}

impl FlowList {
    /// Every flow of `an`, resolved and sorted by bytes (largest first),
    /// then time.
    pub fn new(an: &Analyzer, outcomes: &[CaptureOutcome]) -> Self {
        let stats = an.flow_stats();
        FlowList::of_rows(
            outcomes.iter().map(|o| CaptureRow::new(an, o)).collect(),
            FlowList::rows(an, 0),
            an.knowledge().history().to_vec(),
            FlowTableRow {
                evicted: stats.evicted,
                expired: stats.expired,
            },
        )
    }

    /// Every flow of `an` (which read capture set `part`), resolved, in
    /// no order.
    pub fn rows(an: &Analyzer, part: usize) -> Vec<FlowRow> {
        an.slots().map(|s| FlowRow::new(an, s, part)).collect()
    }

    /// The list of `flows` (sorted here) read from `captures`.
    pub fn of_rows(
        captures: Vec<CaptureRow>,
        mut flows: Vec<FlowRow>,
        learned_endpoints: Vec<Endpoint>,
        flow_table: FlowTableRow,
    ) -> Self {
        flows.sort_by(FlowRow::cmp);
        FlowList {
            captures,
            flows,
            learned_endpoints,
            flow_table,
        }
    }
}

/// A DNS answer that broke a rule, with the capture it was in named.
#[derive(Clone, Debug)]
pub struct DnsRow {
    pub violation: DnsViolation,
    /// The capture's source.
    pub capture: Option<String>,
}

/// One NIC's capture health in a live report.
#[derive(Clone, Debug)]
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
#[derive(Clone, Debug)]
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
#[derive(Clone, Debug)]
pub struct LiveInfo {
    /// The libpcap settings every NIC was captured with.
    pub config: capture::LiveConfig,
    pub nics: Vec<NicReport>,
    pub command: Option<CommandReport>,
    pub ended_by: String,
    pub duration: std::time::Duration,
}

/// The audit/verify report: the analyzer's findings, the run's verdict
/// and the captures, resolved.
#[derive(Clone, Debug)]
pub struct Document {
    /// Pass, fail or inconclusive (see `error` for a run that read nothing).
    pub verdict: Verdict,
    /// The run could not check anything (every capture failed to read).
    pub error: Option<String>,
    /// Why the verdict is inconclusive (empty otherwise).
    pub reasons: Vec<String>,
    pub captures: Vec<CaptureRow>,
    /// Classes seen, largest first, with their series.
    pub classes: Vec<ClassSummary>,
    /// One per violating flow, largest first, with its own series.
    pub violations: Vec<Violation>,
    pub dns_violations: Vec<DnsRow>,
    /// DNS violations beyond what a report keeps.
    pub dns_violations_dropped: u64,
    /// Fallbacks, DNS rule warnings, truncation, evictions, output problems.
    pub warnings: Vec<String>,
    pub learned_endpoints: Vec<Endpoint>,
    /// Dissectors that gave up, by (protocol, reason): flows.
    pub gave_up: Vec<(String, String, u64)>,
    pub flow_table: FlowTableRow,
    /// `--flows`.
    pub flows: Option<FlowList>,
    pub live: Option<LiveInfo>,
    /// Policy host names of the addresses the report shows.
    pub hosts: BTreeMap<IpAddr, String>,
}

/// Truncated and unreadable captures, evicted flows: warnings of the report.
fn reading_warnings(captures: &[CaptureRow], evicted: u64) -> Vec<String> {
    let mut warnings = Vec::new();
    for c in captures {
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
    if evicted > 0 {
        warnings.push(format!(
            "{evicted} flows were evicted at the --max-flows cap; their packets are still counted"
        ));
    }
    warnings
}

impl Document {
    /// Why each capture argument that could not be read was not.
    pub fn unread(&self) -> Vec<String> {
        self.captures
            .iter()
            .filter_map(|c| c.error.clone())
            .collect()
    }

    /// The report of `an`'s run over `outcomes`; the verdict is the
    /// analyzer's until [`Document::with_verdict`].
    pub fn new(
        an: &Analyzer,
        report: analyzer::Report,
        outcomes: &[CaptureOutcome],
        with_flows: bool,
    ) -> Self {
        let stats = an.flow_stats();
        let mut doc = Document::from_parts(
            report,
            outcomes.iter().map(|o| CaptureRow::new(an, o)).collect(),
            FlowTableRow {
                evicted: stats.evicted,
                expired: stats.expired,
            },
            an.policy(),
        );
        doc.flows = with_flows.then(|| FlowList::new(an, outcomes));
        doc
    }

    /// The report made of an analyzer's (or several merged) findings, the
    /// captures read and the flow table's counters; `policy` names hosts.
    pub fn from_parts(
        report: analyzer::Report,
        captures: Vec<CaptureRow>,
        flow_table: FlowTableRow,
        policy: &Policy,
    ) -> Self {
        let mut warnings = report.warnings;
        // Once: every NIC of a live run shares the host's warning.
        for w in captures.iter().filter_map(|c| c.node_warning.as_ref()) {
            if !warnings.contains(w) {
                warnings.push(w.clone());
            }
        }
        warnings.extend(captures.iter().flat_map(CaptureRow::copy_warnings));
        warnings.extend(reading_warnings(&captures, flow_table.evicted));
        let dns_violations = report
            .dns_violations
            .into_iter()
            .map(|d| DnsRow {
                capture: captures
                    .iter()
                    .find(|c| c.id == Some(d.capture.0))
                    .map(|c| c.source.clone()),
                violation: d,
            })
            .collect();
        let mut doc = Document {
            verdict: report.verdict,
            error: None,
            reasons: Vec::new(),
            captures,
            classes: report.classes,
            violations: report.violations,
            dns_violations,
            dns_violations_dropped: report.dns_violations_dropped,
            warnings,
            learned_endpoints: report.learned_endpoints,
            gave_up: report.gave_up,
            flow_table,
            flows: None,
            live: None,
            hosts: BTreeMap::new(),
        };
        doc.hosts = doc.name_hosts(policy);
        doc
    }

    /// Policy names of every address a violation or DNS violation shows.
    fn name_hosts(&self, policy: &Policy) -> BTreeMap<IpAddr, String> {
        let shown = self.violations.iter().flat_map(|v| [v.src, v.dst]).chain(
            self.dns_violations
                .iter()
                .flat_map(|d| [d.violation.server, d.violation.client]),
        );
        shown
            .filter_map(|a| Some((a, policy.host_name(a)?.to_string())))
            .collect()
    }

    /// The final verdict and, when inconclusive, why.
    pub fn with_verdict(mut self, verdict: Verdict, reasons: Vec<String>) -> Self {
        self.verdict = verdict;
        self.reasons = reasons;
        self
    }

    /// Puts `caveats` (what a PASS would not prove) before the warnings.
    pub fn with_caveats(mut self, mut caveats: Vec<String>) -> Self {
        caveats.append(&mut self.warnings);
        self.warnings = caveats;
        self
    }

    /// Adds the live-capture part.
    pub fn with_live(mut self, live: LiveInfo) -> Self {
        self.live = Some(live);
        self
    }

    /// An address with its policy host name: `dpm (10.10.12.89)`.
    pub fn host(&self, addr: IpAddr) -> String {
        match self.hosts.get(&addr) {
            Some(h) => format!("{h} ({addr})"),
            None => addr.to_string(),
        }
    }
}
