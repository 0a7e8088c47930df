//! JSON documents (schema 1, see docs/json.md): the only serde types for output.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use super::{proto_name, rfc3339, CaptureView, FlowsView};

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
    interfaces: &'a [String],
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
        interfaces: &c.interfaces,
        error: c.error.as_deref(),
        warnings: &c.warnings,
    }
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
    flow_table: FlowTableJson,
}

/// Writes the `flows` document.
pub fn write_flows(out: &mut impl Write, v: &FlowsView<'_>) -> Result<()> {
    let flows = v
        .flows
        .iter()
        .map(|f| {
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
                vlans: f.vlans.clone(),
                first_seen: rfc3339(f.first_seen),
                last_seen: rfc3339(f.last_seen),
                community_id: f.community_id(),
            }
        })
        .collect();
    let stats = v.an.flow_stats();
    let doc = FlowsDoc {
        schema: SCHEMA,
        captures: v.captures.iter().map(capture).collect(),
        flows,
        flow_table: FlowTableJson {
            evicted: stats.evicted,
            expired: stats.expired,
        },
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)?;
    Ok(())
}
