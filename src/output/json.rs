//! JSON documents (schema 1, see docs/json.md): the only serde types for output.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use analyzer::stats::Throughput;

use super::{evidence, proto_name, rfc3339, CaptureView, FlowsView, ReportView};

/// Schema number of every JSON document; bumped on a breaking change.
pub const SCHEMA: u32 = 1;

#[derive(Serialize)]
struct JsonCapture<'a> {
    source: &'a str,
    packets: u64,
    bytes: u64,
    truncated: bool,
    truncated_at: Option<u64>,
    truncation_reason: Option<&'a str>,
    undecoded: serde_json::Map<String, serde_json::Value>,
    non_ip: u64,
    orphan_fragments: u64,
    overlay_packets: u64,
    mirror_packets: u64,
    mirror_bytes: u64,
    interfaces: &'a [String],
    drops: u64,
    error: Option<&'a str>,
    warnings: &'a [String],
}

/// A capture entry of any report.
fn capture(c: &CaptureView) -> JsonCapture<'_> {
    JsonCapture {
        source: &c.source,
        packets: c.packets,
        bytes: c.bytes,
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
        overlay_packets: c.overlay_packets,
        mirror_packets: c.mirror_packets,
        mirror_bytes: c.mirror_bytes,
        interfaces: &c.interfaces,
        drops: c.drops,
        error: c.error.as_deref(),
        warnings: &c.warnings,
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

fn tunnel(an: &analyzer::Analyzer, t: Option<&analyzer::flow::Tunnel>) -> Option<JsonTunnel> {
    let t = t?;
    Some(JsonTunnel {
        kind: t.kind.name(),
        id: t.id,
        outer_src: t.outer.map(|o| o.0.to_string()),
        outer_dst: t.outer.map(|o| o.1.to_string()),
        carried_in: tunnel(an, an.tunnel(t.parent)).map(Box::new),
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

fn flows_json(v: &FlowsView<'_>, with_status: bool) -> Vec<JsonFlow> {
    let policy = v.an.policy();
    v.flows
        .iter()
        .map(|s| {
            let (f, st) = (&s.flow, &s.ext);
            let class = st.class.map_or("?", |c| policy.class_name(c)).to_string();
            let (networks, status) = if with_status {
                let nets = st
                    .nets
                    .iter()
                    .map(|n| v.an.net_name(*n).to_string())
                    .collect();
                (Some(nets), Some(st.verdict.status.as_str()))
            } else {
                (None, None)
            };
            let (src, sport) = f.src();
            let (dst, dport) = f.dst();
            JsonFlow {
                proto: proto_name(f.key.proto),
                src: src.to_string(),
                sport,
                dst: dst.to_string(),
                dport,
                packets: f.total_packets(),
                bytes: f.total_bytes(),
                packets_src_to_dst: f.packets_forward(),
                bytes_src_to_dst: f.bytes_forward(),
                interfaces: v.iface_names(f),
                vlans: f.vlans.iter().map(|v| v.vlan).collect(),
                first_seen: rfc3339(f.first_seen),
                last_seen: rfc3339(f.last_seen),
                community_id: f.community_id(),
                tunnel: tunnel(v.an, v.an.tunnel(f.key.tunnel)),
                class,
                reason: v.an.reason(s),
                evidence: st
                    .evidence()
                    .map(|e| e.facts.iter().map(evidence::evidence).collect())
                    .unwrap_or_default(),
                networks,
                status,
            }
        })
        .collect()
}

fn learned(v: &analyzer::Analyzer) -> Vec<serde_json::Value> {
    v.knowledge()
        .history()
        .iter()
        .map(evidence::endpoint)
        .collect()
}

/// Writes the `flows` document.
pub fn write_flows(out: &mut impl Write, v: &FlowsView<'_>) -> Result<()> {
    let flows = flows_json(v, false);
    let stats = v.an.flow_stats();
    let doc = FlowsDoc {
        schema: SCHEMA,
        captures: v.captures.iter().map(capture).collect(),
        flows,
        learned_endpoints: learned(v.an),
        flow_table: FlowTableJson {
            evicted: stats.evicted,
            expired: stats.expired,
        },
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
}

#[derive(Serialize)]
struct ReportDoc<'a> {
    schema: u32,
    verdict: &'static str,
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

fn share<'a>(
    s: &'a analyzer::report::Share,
    network: Option<&'a str>,
    interface: Option<&'a str>,
    vlan: Option<u16>,
) -> JsonShare<'a> {
    JsonShare {
        network,
        interface,
        vlan,
        bytes: s.bytes,
        packets: s.packets,
        status: s.status.as_str(),
        throughput_bps: throughput(&s.throughput),
    }
}

fn dns_violation(v: &ReportView<'_>, d: &analyzer::report::DnsViolation) -> serde_json::Value {
    let capture =
        v.an.captures()
            .get(d.capture.0 as usize)
            .map(|c| c.source.as_str());
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
        "capture": capture,
        "rule": d.rule,
        "reason": d.reason,
    })
}

fn class(c: &analyzer::report::ClassSummary) -> JsonClass<'_> {
    JsonClass {
        class: &c.class,
        flows: c.flows,
        packets: c.packets,
        bytes: c.bytes,
        networks: c
            .networks
            .iter()
            .map(|s| share(s, Some(&s.name), None, None))
            .collect(),
        interfaces: c
            .interfaces
            .iter()
            .map(|s| share(s, None, Some(&s.name), None))
            .collect(),
        vlans: c
            .vlans
            .iter()
            .map(|s| share(s, None, None, s.name.parse().ok()))
            .collect(),
        throughput_bps: throughput(&c.throughput),
    }
}

fn violation<'a>(an: &analyzer::Analyzer, x: &'a analyzer::report::Violation) -> JsonViolation<'a> {
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
        tunnel: tunnel(an, x.tunnel.as_ref()),
        class_reason: &x.class_reason,
        evidence: x.evidence.iter().map(evidence::evidence).collect(),
        explanation: x.explanation.as_deref(),
    }
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

/// Writes the audit report document (docs/json.md).
pub fn write_report(out: &mut impl Write, v: &ReportView<'_>) -> Result<()> {
    let r = v.report;
    let classes = r.classes.iter().map(class).collect();
    let violations = r.violations.iter().map(|x| violation(v.an, x)).collect();
    let stats = v.an.flow_stats();
    let doc = ReportDoc {
        schema: SCHEMA,
        verdict: if v.error.is_some() {
            "error"
        } else {
            v.verdict.as_str()
        },
        captures: v.captures.iter().map(capture).collect(),
        classes,
        violations,
        dns_violations: r
            .dns_violations
            .iter()
            .map(|d| dns_violation(v, d))
            .collect(),
        warnings: &v.warnings,
        learned_endpoints: r.learned_endpoints.iter().map(evidence::endpoint).collect(),
        evidence_gave_up: r
            .gave_up
            .iter()
            .map(|(p, why, n)| serde_json::json!({"protocol": p, "reason": why, "flows": n}))
            .collect(),
        flow_table: FlowTableJson {
            evicted: stats.evicted,
            expired: stats.expired,
        },
        flows: v.flows.as_ref().map(|f| flows_json(f, true)),
        nics: v.live.as_ref().map(|l| l.nics.iter().map(nic).collect()),
        command: v.live.as_ref().map(|l| {
            l.command.as_ref().map(|c| JsonCommand {
                argv: &c.argv,
                exit_code: c.exit_code,
                signal: c.signal,
                success: c.success,
                duration_ms: c.duration.as_millis() as u64,
            })
        }),
        reasons: (v.live.is_some() || !v.reasons.is_empty()).then_some(v.reasons.as_slice()),
        ended_by: v.live.as_ref().map(|l| l.ended_by.as_str()),
        duration_ms: v.live.as_ref().map(|l| l.duration.as_millis() as u64),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)?;
    Ok(())
}
