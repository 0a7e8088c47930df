//! Prometheus metrics: counted by the event loop, rendered once per tick in
//! the text exposition format 0.0.4, served by a small HTTP thread
//! (`/metrics`, `/healthz`).
//!
//! The exposition is written here rather than with prometheus-client, whose
//! encoder emits OpenMetrics (`# EOF`, counters typed without `_total`);
//! the 0.0.4 text format is a few lines per family and `promtool check
//! metrics` validates it in the tests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;

/// Seconds in the sliding throughput window.
const WINDOW_SECS: usize = 300;

/// Label values of a byte/packet counter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrafficLabels {
    pub class: String,
    pub network: String,
    pub interface: String,
    pub status: &'static str,
}

/// One NIC's capture counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct CaptureStat {
    pub packets: u64,
    pub kernel_drops: u64,
    pub iface_drops: u64,
    pub queue_drops: u64,
    pub up: bool,
}

type CaptureField = fn(&CaptureStat) -> u64;

/// Everything the daemon exports, as plain numbers.
#[derive(Default)]
pub struct Metrics {
    pub traffic: BTreeMap<TrafficLabels, (u64, u64)>,
    pub violations: BTreeMap<(String, String), u64>,
    pub active_leaks: BTreeMap<(String, String), u64>,
    pub alerts: BTreeMap<&'static str, u64>,
    /// Per interface.
    pub capture: BTreeMap<String, CaptureStat>,
    pub flows_tracked: u64,
    pub flows_evicted: u64,
    pub sinks: BTreeMap<std::sync::Arc<str>, (u64, u64)>,
    pub reloads: BTreeMap<&'static str, u64>,
    /// class → bytes per second, newest last.
    window: HashMap<String, VecDeque<u64>>,
    /// class → (sum of per-second bits/s, seconds) since start: the
    /// summary's `_sum`/`_count` must never decrease.
    totals: HashMap<String, (u64, u64)>,
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl Metrics {
    /// Records one second of bytes per class for the sliding window.
    pub fn push_second(&mut self, per_class: &HashMap<String, u64>) {
        for (class, q) in self.window.iter_mut() {
            let bytes = per_class.get(class).copied().unwrap_or(0);
            q.push_back(bytes);
            while q.len() > WINDOW_SECS {
                q.pop_front();
            }
            let t = self.totals.entry(class.clone()).or_insert((0, 0));
            t.0 += bytes * 8;
            t.1 += 1;
        }
        for (class, bytes) in per_class {
            self.window.entry(class.clone()).or_insert_with(|| {
                self.totals.insert(class.clone(), (*bytes * 8, 1));
                VecDeque::from([*bytes])
            });
        }
    }

    /// Per class: p50, p90, p99 (nearest rank) over the window, and the
    /// cumulative sum and count of per-second throughputs since start.
    fn quantiles(&self) -> BTreeMap<String, ([u64; 3], u64, u64)> {
        self.window
            .iter()
            .map(|(c, q)| {
                let mut v: Vec<u64> = q.iter().map(|b| b * 8).collect();
                v.sort_unstable();
                let n = v.len().max(1);
                let rank = |p: f64| {
                    v.get(((p * n as f64).ceil() as usize).clamp(1, n) - 1)
                        .copied()
                        .unwrap_or(0)
                };
                (
                    c.clone(),
                    (
                        [rank(0.5), rank(0.9), rank(0.99)],
                        self.totals.get(c).map_or(0, |t| t.0),
                        self.totals.get(c).map_or(0, |t| t.1),
                    ),
                )
            })
            .collect()
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut o = String::new();
        family(
            &mut o,
            "lanecheck_build_info",
            "gauge",
            "Build information.",
        );
        let _ = writeln!(
            o,
            "lanecheck_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        self.render_traffic(&mut o);
        self.render_alerts(&mut o);
        self.render_capture(&mut o);
        self.render_flows(&mut o);
        self.render_sinks(&mut o);
        o
    }

    /// Bytes and packets by class, network, NIC and status.
    fn render_traffic(&self, o: &mut String) {
        for (name, idx, help) in [
            (
                "lanecheck_bytes_total",
                1usize,
                "Wire bytes by class, network, capture interface and policy status.",
            ),
            (
                "lanecheck_packets_total",
                0,
                "Packets by class, network, capture interface and policy status.",
            ),
        ] {
            family(o, name, "counter", help);
            for (l, v) in &self.traffic {
                let n = if idx == 0 { v.0 } else { v.1 };
                let _ = writeln!(
                    o,
                    "{name}{{class=\"{}\",network=\"{}\",interface=\"{}\",status=\"{}\"}} {n}",
                    esc(&l.class),
                    esc(&l.network),
                    esc(&l.interface),
                    l.status
                );
            }
        }
    }

    /// Violations, open leaks and alert events.
    fn render_alerts(&self, o: &mut String) {
        family(
            o,
            "lanecheck_violations_total",
            "counter",
            "Flows that violated the policy.",
        );
        for ((c, n), v) in &self.violations {
            let _ = writeln!(
                o,
                "lanecheck_violations_total{{class=\"{}\",network=\"{}\"}} {v}",
                esc(c),
                esc(n)
            );
        }
        family(
            o,
            "lanecheck_active_leaks",
            "gauge",
            "Leak alerts currently open.",
        );
        for ((c, n), v) in &self.active_leaks {
            let _ = writeln!(
                o,
                "lanecheck_active_leaks{{class=\"{}\",network=\"{}\"}} {v}",
                esc(c),
                esc(n)
            );
        }
        family(
            o,
            "lanecheck_alerts_total",
            "counter",
            "Alert events emitted, by type.",
        );
        for (t, v) in &self.alerts {
            let _ = writeln!(o, "lanecheck_alerts_total{{type=\"{t}\"}} {v}");
        }
    }

    /// Per-NIC capture counters.
    fn render_capture(&self, o: &mut String) {
        let cap: [(&str, &str, &str, CaptureField); 5] = [
            (
                "lanecheck_capture_packets_total",
                "counter",
                "Packets captured per interface.",
                |c| c.packets,
            ),
            (
                "lanecheck_capture_kernel_drops_total",
                "counter",
                "Packets the kernel dropped (capture buffer full).",
                |c| c.kernel_drops,
            ),
            (
                "lanecheck_capture_interface_drops_total",
                "counter",
                "Packets the interface or driver dropped.",
                |c| c.iface_drops,
            ),
            (
                "lanecheck_capture_queue_drops_total",
                "counter",
                "Packets lost because the analyzer queue was full.",
                |c| c.queue_drops,
            ),
            (
                "lanecheck_capture_up",
                "gauge",
                "1 while the interface is being captured, 0 when lost.",
                |c| u64::from(c.up),
            ),
        ];
        for (name, kind, help, get) in cap {
            family(o, name, kind, help);
            for (i, c) in &self.capture {
                let _ = writeln!(o, "{name}{{interface=\"{}\"}} {}", esc(i), get(c));
            }
        }
    }

    /// The flow table and per-class throughput.
    fn render_flows(&self, o: &mut String) {
        family(
            o,
            "lanecheck_flows_tracked",
            "gauge",
            "Flows in the flow table.",
        );
        let _ = writeln!(o, "lanecheck_flows_tracked {}", self.flows_tracked);
        family(
            o,
            "lanecheck_flows_evicted_total",
            "counter",
            "Flows evicted at the --max-flows cap.",
        );
        let _ = writeln!(o, "lanecheck_flows_evicted_total {}", self.flows_evicted);
        family(
            o,
            "lanecheck_throughput_bps",
            "summary",
            "Per-class throughput of each second, bits per second: quantiles over the last 5 minutes, sum and count since start.",
        );
        for (c, (q, sum, count)) in self.quantiles() {
            let c = esc(&c);
            for (label, v) in ["0.5", "0.9", "0.99"].iter().zip(q) {
                let _ = writeln!(
                    o,
                    "lanecheck_throughput_bps{{class=\"{c}\",quantile=\"{label}\"}} {v}"
                );
            }
            let _ = writeln!(o, "lanecheck_throughput_bps_sum{{class=\"{c}\"}} {sum}");
            let _ = writeln!(o, "lanecheck_throughput_bps_count{{class=\"{c}\"}} {count}");
        }
    }

    /// Sink deliveries and drops, policy reloads.
    fn render_sinks(&self, o: &mut String) {
        family(
            o,
            "lanecheck_sink_deliveries_total",
            "counter",
            "Alert events delivered, by sink.",
        );
        for (s, v) in &self.sinks {
            let _ = writeln!(o, "lanecheck_sink_deliveries_total{{sink=\"{s}\"}} {}", v.0);
        }
        family(
            o,
            "lanecheck_sink_drops_total",
            "counter",
            "Alert events a sink lost, by sink.",
        );
        for (s, v) in &self.sinks {
            let _ = writeln!(o, "lanecheck_sink_drops_total{{sink=\"{s}\"}} {}", v.1);
        }
        family(
            o,
            "lanecheck_policy_reloads_total",
            "counter",
            "Policy reloads (SIGHUP), by result.",
        );
        for r in ["ok", "rejected"] {
            let _ = writeln!(
                o,
                "lanecheck_policy_reloads_total{{result=\"{r}\"}} {}",
                self.reloads.get(r).copied().unwrap_or(0)
            );
        }
    }
}
