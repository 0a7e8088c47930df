//! JSON documents (schema 1, see docs/json.md): the only serde types for output.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use analyzer::report::Bins;
use analyzer::stats::Throughput;

use super::model::{CaptureRow, DnsRow, FlowList, FlowRow, FlowTableRow};
use super::{evidence, proto_name, rfc3339, Document, Render};

/// Schema number of every JSON document; bumped on a breaking change.
pub const SCHEMA: u32 = 1;

#[derive(Serialize)]
struct JsonIface<'a> {
    name: Option<&'a str>,
    if_name: Option<&'a str>,
    description: Option<&'a str>,
    hardware: Option<&'a str>,
    mac: Option<&'a str>,
    key: Option<&'a str>,
    network: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonCapture<'a> {
    source: &'a str,
    producer: &'a str,
    producer_app: Option<&'a str>,
    dedup: &'a str,
    packets: u64,
    unique_packets: u64,
    duplicates: u64,
    bytes: u64,
    unique_bytes: u64,
    mislabelled_80211: u64,
    super_frames: u64,
    estimated_packets: u64,
    estimated_bytes: u64,
    possible_copies: u64,
    possible_copy_bytes: u64,
    truncated: bool,
    truncated_at: Option<u64>,
    truncation_reason: Option<&'a str>,
    undecoded: serde_json::Map<String, serde_json::Value>,
    non_ip: u64,
    orphan_fragments: u64,
    reordered_fragments: u64,
    overlay_packets: u64,
    mirror_packets: u64,
    mirror_bytes: u64,
    interfaces: &'a [String],
    interface_info: Vec<JsonIface<'a>>,
    drops: u64,
    error: Option<&'a str>,
    warnings: &'a [String],
    node: Option<&'a str>,
    node_from: Option<&'a str>,
    node_reason: Option<&'a str>,
}

/// A capture entry of any report.
fn capture(c: &CaptureRow) -> JsonCapture<'_> {
    JsonCapture {
        source: &c.source,
        producer: c.producer,
        producer_app: c.application.as_deref(),
        dedup: c.dedup,
        packets: c.packets,
        unique_packets: c.unique_packets,
        duplicates: c.duplicates,
        bytes: c.bytes,
        unique_bytes: c.unique_bytes,
        mislabelled_80211: c.mislabelled_80211,
        super_frames: c.super_frames,
        estimated_packets: c.estimated_packets,
        estimated_bytes: c.estimated_bytes,
        possible_copies: c.possible_copies,
        possible_copy_bytes: c.possible_copy_bytes,
        truncated: c.truncated_at.is_some(),
        truncated_at: c.truncated_at,
        truncation_reason: c.truncation_reason.as_deref(),
        undecoded: c
            .undecoded
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::from(*v)))
            .collect(),
        non_ip: c.non_ip,
        orphan_fragments: c.orphan_fragments,
        reordered_fragments: c.reordered_fragments,
        overlay_packets: c.overlay_packets,
        mirror_packets: c.mirror_packets,
        mirror_bytes: c.mirror_bytes,
        interfaces: &c.interfaces,
        interface_info: c
            .interface_info
            .iter()
            .map(|i| JsonIface {
                name: i.name.as_deref(),
                if_name: i.if_name.as_deref(),
                description: i.description.as_deref(),
                hardware: i.hardware.as_deref(),
                mac: i.mac.as_deref(),
                key: i.key.as_deref(),
                network: i.network.as_deref(),
            })
            .collect(),
        drops: c.drops,
        error: c.error.as_deref(),
        warnings: &c.warnings,
        node: c.node.as_deref(),
        node_from: c.node_from.as_deref(),
        node_reason: c.node_reason.as_deref(),
    }
}

/// A tunnel (docs/json.md): `carried_in` is the tunnel that carried this
/// one's outer packets, when tunnels are nested.
#[derive(Serialize)]
struct JsonTunnel {
    #[serde(rename = "type")]
    kind: &'static str,
    id: Option<u32>,
    outer_src: Option<String>,
    outer_dst: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    carried_in: Option<Box<JsonTunnel>>,
}

/// The JSON of a tunnel chain (innermost first), `null` when empty.
fn tunnel(chain: &[analyzer::flow::Tunnel]) -> Option<JsonTunnel> {
    let (t, rest) = chain.split_first()?;
    Some(JsonTunnel {
        kind: t.kind.name(),
        id: t.id,
        outer_src: t.outer.map(|o| o.0.to_string()),
        outer_dst: t.outer.map(|o| o.1.to_string()),
        carried_in: tunnel(rest).map(Box::new),
    })
}

#[derive(Serialize)]
struct JsonFlow {
    proto: String,
    src: String,
    sport: u16,
    dst: String,
    dport: u16,
    packets: u64,
    bytes: u64,
    packets_src_to_dst: u64,
    bytes_src_to_dst: u64,
    interfaces: Vec<String>,
    vlans: Vec<u16>,
    first_seen: String,
    last_seen: String,
    community_id: String,
    tunnel: Option<JsonTunnel>,
    class: String,
    reason: String,
    evidence: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    networks: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
}

#[derive(Serialize)]
struct FlowTableJson {
    evicted: u64,
    expired: u64,
}

#[derive(Serialize)]
struct FlowsDoc<'a> {
    schema: u32,
    captures: Vec<JsonCapture<'a>>,
    flows: Vec<JsonFlow>,
    learned_endpoints: Vec<serde_json::Value>,
    flow_table: FlowTableJson,
}

fn flow(f: &FlowRow, with_status: bool) -> JsonFlow {
    JsonFlow {
        proto: proto_name(f.proto),
        src: f.src.to_string(),
        sport: f.sport,
        dst: f.dst.to_string(),
        dport: f.dport,
        packets: f.packets,
        bytes: f.bytes,
        packets_src_to_dst: f.packets_forward,
        bytes_src_to_dst: f.bytes_forward,
        interfaces: f.interfaces.clone(),
        vlans: f.vlans.clone(),
        first_seen: rfc3339(f.first_seen),
        last_seen: rfc3339(f.last_seen),
        community_id: f.community_id.clone(),
        tunnel: tunnel(&f.tunnel),
        class: f.class.clone(),
        reason: f.reason.clone(),
        evidence: f.evidence.iter().map(evidence::evidence).collect(),
        networks: with_status.then(|| f.networks.clone()),
        status: with_status.then_some(f.status.as_str()),
    }
}

fn flows_json(v: &FlowList, with_status: bool) -> Vec<JsonFlow> {
    v.flows.iter().map(|f| flow(f, with_status)).collect()
}

fn flow_table(t: &FlowTableRow) -> FlowTableJson {
    FlowTableJson {
        evicted: t.evicted,
        expired: t.expired,
    }
}

/// Writes the `flows` document.
pub fn write_flows(out: &mut dyn Write, v: &FlowList) -> Result<()> {
    let doc = FlowsDoc {
        schema: SCHEMA,
        captures: v.captures.iter().map(capture).collect(),
        flows: flows_json(v, false),
        learned_endpoints: v.learned_endpoints.iter().map(evidence::endpoint).collect(),
        flow_table: flow_table(&v.flow_table),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)?;
    Ok(())
}

#[derive(Serialize)]
struct JsonThroughput {
    bin_ms: u64,
    bins: u64,
    p50: u64,
    p90: u64,
    p95: u64,
    p99: u64,
    max: u64,
}

fn throughput(t: &Throughput) -> JsonThroughput {
    JsonThroughput {
        bin_ms: t.bin_ms,
        bins: t.bins,
        p50: t.p50,
        p90: t.p90,
        p95: t.p95,
        p99: t.p99,
        max: t.max,
    }
}

/// `--series`: every bin from the first active one to the last, idle ones
/// included (the bins the percentiles are taken over), as bytes and bit/s.
struct JsonSeries<'a>(&'a Bins);

impl Serialize for JsonSeries<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let b = self.0;
        let start = b
            .range()
            .map(|(first, _)| rfc3339(capture::Timestamp(first.saturating_mul(b.bin_ns))));
        let mut o = s.serialize_struct("series", 4)?;
        o.serialize_field("bin_ms", &(b.bin_ns / 1_000_000))?;
        o.serialize_field("start", &start)?;
        match b.range() {
            Some((first, last)) if last - first >= MAX_DENSE_BINS => {
                o.serialize_field("bins", &(last - first + 1))?;
                let active: Vec<(i64, u64)> = b
                    .active
                    .iter()
                    .map(|(i, bytes)| (i - first, *bytes))
                    .collect();
                o.serialize_field("active", &active)?;
            }
            _ => {
                o.serialize_field(
                    "bytes",
                    &Dense {
                        bins: b,
                        bps: false,
                    },
                )?;
                o.serialize_field("bps", &Dense { bins: b, bps: true })?;
            }
        }
        o.end()
    }
}

/// Above this many bins a series is written sparse (`bins` and the
/// `active` ones): a capture spanning years (a bad clock, files of
/// different days together) would otherwise write gigabytes of zeros. A
/// day of 1 s bins (86,400) is still dense.
const MAX_DENSE_BINS: i64 = 100_000;

/// The dense bins of a series, as bytes or bit/s, serialised as they are
/// produced.
struct Dense<'a> {
    bins: &'a Bins,
    bps: bool,
}

impl Serialize for Dense<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = self.bins;
        s.collect_seq(b.dense().map(|v| if self.bps { b.bps(v) } else { v }))
    }
}

#[derive(Serialize)]
struct JsonShare<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interface: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vlan: Option<u16>,
    bytes: u64,
    packets: u64,
    status: &'static str,
    throughput_bps: JsonThroughput,
    #[serde(skip_serializing_if = "Option::is_none")]
    series: Option<JsonSeries<'a>>,
}

#[derive(Serialize)]
struct JsonClass<'a> {
    class: &'a str,
    flows: u64,
    packets: u64,
    bytes: u64,
    networks: Vec<JsonShare<'a>>,
    interfaces: Vec<JsonShare<'a>>,
    vlans: Vec<JsonShare<'a>>,
    throughput_bps: JsonThroughput,
    super_frames: u64,
    possible_copy_bytes: u64,
    twice_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    series: Option<JsonSeries<'a>>,
}

#[derive(Serialize)]
struct JsonViolation<'a> {
    class: &'a str,
    reason: String,
    reasons: &'a [String],
    network: &'a str,
    interface: Option<&'a str>,
    vlan: Option<u16>,
    proto: String,
    src: String,
    sport: u16,
    dst: String,
    dport: u16,
    bytes: u64,
    packets: u64,
    first_seen: String,
    last_seen: String,
    community_id: &'a str,
    tunnel: Option<JsonTunnel>,
    class_reason: &'a str,
    evidence: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    series: Option<JsonSeries<'a>>,
}

#[derive(Serialize)]
struct ReportDoc<'a> {
    schema: u32,
    verdict: &'static str,
    summary: String,
    captures: Vec<JsonCapture<'a>>,
    classes: Vec<JsonClass<'a>>,
    violations: Vec<JsonViolation<'a>>,
    dns_violations: Vec<serde_json::Value>,
    warnings: &'a [String],
    learned_endpoints: Vec<serde_json::Value>,
    evidence_gave_up: Vec<serde_json::Value>,
    flow_table: FlowTableJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    flows: Option<Vec<JsonFlow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nics: Option<Vec<JsonNic<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<Option<JsonCommand<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasons: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capture_settings: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ended_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u64>,
}

#[derive(Serialize)]
struct JsonNic<'a> {
    interface: &'a str,
    packets: u64,
    bytes: u64,
    kernel_drops: u64,
    iface_drops: u64,
    queue_drops: u64,
    failed: bool,
}

#[derive(Serialize)]
struct JsonCommand<'a> {
    argv: &'a [String],
    exit_code: Option<i32>,
    signal: Option<i32>,
    success: bool,
    duration_ms: u64,
}

/// The JSON renderer of the report (docs/json.md); `series` adds the
/// per-bin arrays.
pub struct Json {
    pub series: bool,
}

/// What a share names: its network, interface or VLAN.
enum Place<'a> {
    Network(&'a str),
    Interface(&'a str),
    Vlan(Option<u16>),
}

impl Json {
    fn series<'a>(&self, b: &'a Bins) -> Option<JsonSeries<'a>> {
        self.series.then_some(JsonSeries(b))
    }

    fn share<'a>(&self, s: &'a analyzer::report::Share, place: Place<'a>) -> JsonShare<'a> {
        let (network, interface, vlan) = match place {
            Place::Network(n) => (Some(n), None, None),
            Place::Interface(i) => (None, Some(i), None),
            Place::Vlan(v) => (None, None, v),
        };
        JsonShare {
            network,
            interface,
            vlan,
            bytes: s.bytes,
            packets: s.packets,
            status: s.status.as_str(),
            throughput_bps: throughput(&s.throughput),
            series: self.series(&s.series),
        }
    }

    fn class<'a>(&self, c: &'a analyzer::report::ClassSummary) -> JsonClass<'a> {
        let shares = |list: &'a [analyzer::report::Share], place: fn(&'a str) -> Place<'a>| {
            list.iter().map(|s| self.share(s, place(&s.name))).collect()
        };
        JsonClass {
            class: &c.class,
            flows: c.flows,
            packets: c.packets,
            bytes: c.bytes,
            networks: shares(&c.networks, Place::Network),
            interfaces: shares(&c.interfaces, Place::Interface),
            vlans: shares(&c.vlans, |n| Place::Vlan(n.parse().ok())),
            throughput_bps: throughput(&c.throughput),
            series: self.series(&c.series),
            super_frames: c.super_frames,
            possible_copy_bytes: c.possible_copy_bytes,
            twice_bytes: c.twice_bytes,
        }
    }

    fn violation<'a>(&self, x: &'a analyzer::report::Violation) -> JsonViolation<'a> {
        JsonViolation {
            class: &x.class,
            reason: x.reasons.join("; "),
            reasons: &x.reasons,
            network: &x.network,
            interface: x.interface.as_deref(),
            vlan: x.vlan,
            proto: proto_name(x.proto),
            src: x.src.to_string(),
            sport: x.sport,
            dst: x.dst.to_string(),
            dport: x.dport,
            bytes: x.bytes,
            packets: x.packets,
            first_seen: rfc3339(x.first_seen),
            last_seen: rfc3339(x.last_seen),
            community_id: &x.community_id,
            tunnel: tunnel(&x.tunnel),
            class_reason: &x.class_reason,
            evidence: x.evidence.iter().map(evidence::evidence).collect(),
            explanation: x.explanation.as_deref(),
            series: self.series(&x.series),
        }
    }
}

fn dns_violation(row: &DnsRow) -> serde_json::Value {
    let d = &row.violation;
    serde_json::json!({
        "name": d.name,
        "qtype": analyzer::evidence::dns::type_name(d.qtype),
        "rcode": analyzer::evidence::dns::rcode_name(d.rcode),
        "answers": d.answers.iter().map(|(ip, net, ttl)| serde_json::json!({
            "address": ip.to_string(), "network": net, "ttl": ttl,
        })).collect::<Vec<_>>(),
        "server": d.server.to_string(),
        "client": d.client.to_string(),
        "time": rfc3339(d.time),
        "capture": row.capture,
        "rule": d.rule,
        "reason": d.reason,
    })
}

fn nic(n: &super::NicReport) -> JsonNic<'_> {
    JsonNic {
        interface: &n.name,
        packets: n.packets,
        bytes: n.bytes,
        kernel_drops: n.kernel_drops,
        iface_drops: n.iface_drops,
        queue_drops: n.queue_drops,
        failed: n.failed,
    }
}

fn command(c: &super::CommandReport) -> JsonCommand<'_> {
    JsonCommand {
        argv: &c.argv,
        exit_code: c.exit_code,
        signal: c.signal,
        success: c.success,
        duration_ms: c.duration.as_millis() as u64,
    }
}

impl Render for Json {
    /// Writes the audit report document (docs/json.md).
    fn render(&self, v: &Document, out: &mut dyn Write) -> Result<()> {
        let live = v.live.as_ref();
        let doc = ReportDoc {
            schema: SCHEMA,
            verdict: v.verdict_name(),
            summary: v.headline().summary,
            captures: v.captures.iter().map(capture).collect(),
            classes: v.classes.iter().map(|c| self.class(c)).collect(),
            violations: v.violations.iter().map(|x| self.violation(x)).collect(),
            dns_violations: v.dns_violations.iter().map(dns_violation).collect(),
            warnings: &v.warnings,
            learned_endpoints: v.learned_endpoints.iter().map(evidence::endpoint).collect(),
            evidence_gave_up: v
                .gave_up
                .iter()
                .map(|(p, why, n)| serde_json::json!({"protocol": p, "reason": why, "flows": n}))
                .collect(),
            flow_table: flow_table(&v.flow_table),
            flows: v.flows.as_ref().map(|f| flows_json(f, true)),
            nics: live.map(|l| l.nics.iter().map(nic).collect()),
            command: live.map(|l| l.command.as_ref().map(command)),
            reasons: (live.is_some() || !v.reasons.is_empty()).then_some(v.reasons.as_slice()),
            capture_settings: live.map(|l| {
                serde_json::json!({
                    "snaplen": l.config.snaplen,
                    "buffer_size": l.config.buffer_size,
                    "promisc": l.config.promisc,
                    "filter": l.config.filter,
                })
            }),
            ended_by: live.map(|l| l.ended_by.as_str()),
            duration_ms: live.map(|l| l.duration.as_millis() as u64),
        };
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)?;
        Ok(())
    }
}
