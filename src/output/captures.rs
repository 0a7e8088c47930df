//! One capture's part of the report model: its counters (frames, copies,
//! super-frames, estimates, tunnels), who wrote it, how its NICs were
//! named, and what a reader must be warned of.

use analyzer::Analyzer;
use serde::{Deserialize, Serialize};

use crate::pipeline::CaptureOutcome;

/// One capture interface as its file describes it, with what lanecheck
/// made of it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
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

impl IfaceInfo {
    fn new(
        an: &Analyzer,
        i: &capture::Interface,
        r: Option<analyzer::IfaceRef>,
        node: Option<&str>,
    ) -> Self {
        let policy = an.policy();
        let nic = analyzer::policy::Nic {
            name: i.name.as_deref(),
            description: i.description.as_deref(),
            mac: i.mac,
        };
        let key = policy
            .nic_keys_matching(&nic, node)
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
}

/// One capture (a file, or a NIC of a live run) and what reading it gave.
/// (Serialised in audit summaries; the words are restored from `writer`
/// and `copies` by [`CaptureRow::restore_words`].)
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CaptureRow {
    /// The path as given (`-` for standard input), or the NIC.
    pub source: String,
    /// The analyzer's number for it (none when it could not be opened).
    pub id: Option<u32>,
    /// Who wrote it.
    pub writer: capture::Producer,
    /// Its spelling (`captures[].producer`) and in words.
    #[serde(skip)]
    pub producer: &'static str,
    #[serde(skip)]
    pub producer_words: &'static str,
    /// Its `shb_userappl`, verbatim.
    pub application: Option<String>,
    /// What copies were collapsed.
    pub copies: analyzer::dedup::Copies,
    /// Its spelling (`none`, `across-interfaces`, `all`).
    #[serde(skip)]
    pub dedup: &'static str,
    /// Frames read.
    pub packets: u64,
    /// Frames that are not a later copy of another.
    pub unique_packets: u64,
    pub duplicates: u64,
    /// Their wire bytes, as the file records them.
    pub bytes: u64,
    /// Bytes counted for the unique packets.
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
    /// Non-IP frames.
    pub non_ip: u64,
    /// Later IP fragments without their first fragment.
    pub orphan_fragments: u64,
    /// Later IP fragments that came before their first fragment and were
    /// counted in its flow when it came (absent from older summaries).
    #[serde(default)]
    pub reordered_fragments: u64,
    /// Byte offset where a cut or corrupt tail stopped reading.
    pub truncated_at: Option<u64>,
    /// What was wrong there.
    pub truncation_reason: Option<String>,
    /// Frames whose decoding stopped, by `layer: reason`.
    pub undecoded: Vec<(String, u64)>,
    /// Interface names the capture declares or its frames carry.
    pub interfaces: Vec<String>,
    /// Why it could not be read.
    pub error: Option<String>,
    /// Oddities that did not stop reading.
    pub warnings: Vec<String>,
    /// Packets lost before lanecheck saw them (live capture).
    pub drops: u64,
    /// Outer overlay packets counted in `tunnel` flows.
    pub overlay_packets: u64,
    /// ERSPAN mirror transport: packets and bytes (in no flow).
    pub mirror_packets: u64,
    pub mirror_bytes: u64,
    /// The `[hosts]` entry it was judged as taken on, whose `HOST/KEY`
    /// `[interfaces]` keys applied (absent from older summaries).
    #[serde(default)]
    pub node: Option<String>,
    /// How that was decided: `--node`, `inferred` or `hostname`.
    #[serde(default)]
    pub node_from: Option<String>,
    /// Why, in words.
    #[serde(default)]
    pub node_reason: Option<String>,
    /// The policy has `HOST/KEY` keys and no host was decided: they were
    /// not applied (a report warning).
    #[serde(default)]
    pub node_warning: Option<String>,
}

impl CaptureRow {
    /// A capture's row: the pipeline's outcome and the analyzer's counters.
    pub fn new(an: &Analyzer, o: &CaptureOutcome) -> Self {
        let mut row = CaptureRow {
            source: o.source.clone(),
            id: o.id.map(|i| i.0),
            truncated_at: o.truncated.as_ref().map(|t| t.offset),
            truncation_reason: o.truncated.as_ref().map(|t| t.reason.clone()),
            error: o.error.clone(),
            warnings: o.warnings.clone(),
            drops: o.drops,
            node: o.node.name.clone(),
            node_from: o.node.name.as_ref().map(|_| o.node.how.to_string()),
            node_reason: (!o.node.why.is_empty()).then(|| o.node.why.clone()),
            node_warning: o.node.warning.clone(),
            interface_info: o
                .interfaces
                .iter()
                .map(|(i, r)| IfaceInfo::new(an, i, *r, o.node.name.as_deref()))
                .collect(),
            ..CaptureRow::default()
        };
        let empty = analyzer::CaptureCounters::default();
        let c =
            o.id.and_then(|id| an.captures().get(id.0 as usize))
                .unwrap_or(&empty);
        row.counters(c);
        row.copy_overflow = o.id.map_or(0, |id| an.copy_overflow(id));
        row.interfaces = c
            .interfaces
            .iter()
            .map(|r| an.iface_name(*r).to_string())
            .collect();
        row
    }

    /// Copies the analyzer's plain counters.
    pub fn counters(&mut self, c: &analyzer::CaptureCounters) {
        self.undecoded = c
            .undecoded
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        self.writer = c.producer;
        self.copies = c.copies;
        self.restore_words();
        self.application = c.application.clone();
        self.packets = c.packets;
        self.unique_packets = c.packets - c.duplicates;
        self.duplicates = c.duplicates;
        self.bytes = c.bytes;
        self.unique_bytes = c.unique_bytes;
        self.mislabelled_80211 = c.mislabelled_80211;
        self.super_frames = c.super_frames;
        self.estimated_packets = c.estimated_packets;
        self.estimated_bytes = c.estimated_bytes;
        self.possible_copies = c.possible_copies;
        self.possible_copy_bytes = c.possible_copy_bytes;
        self.non_ip = c.non_ip;
        self.orphan_fragments = c.orphan_fragments;
        self.reordered_fragments = c.reordered_fragments;
        self.overlay_packets = c.overlay_packets;
        self.mirror_packets = c.mirror_packets;
        self.mirror_bytes = c.mirror_bytes;
    }

    /// Spells `writer` and `copies` (after reading a row back).
    pub fn restore_words(&mut self) {
        self.producer = self.writer.as_str();
        self.producer_words = self.writer.describe();
        self.dedup = self.copies.as_str();
    }

    /// The capture's tunnel counters, one line each, when it had tunnels.
    pub fn tunnel_notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.overlay_packets > 0 {
            out.push(format!(
                "overlay: {} outer packets counted in tunnel flows",
                self.overlay_packets
            ));
        }
        if self.mirror_packets > 0 {
            out.push(format!(
                "mirror transport (ERSPAN): {} packets, {} bytes, in no flow",
                self.mirror_packets, self.mirror_bytes
            ));
        }
        out
    }

    /// What a capture's section says beside its counts: who wrote it, the
    /// copies collapsed (raw frames, unique packets, factor), 802.11 frames
    /// read as such, super-frames, size estimates, and how its NICs were
    /// named.
    pub fn notes(&self) -> Vec<String> {
        let app = self
            .application
            .as_deref()
            .map(|a| format!(" ({a:?})"))
            .unwrap_or_default();
        let mut out = vec![format!("written by: {}{app}", self.producer_words)];
        if let (Some(n), Some(from)) = (&self.node, &self.node_from) {
            match &self.node_reason {
                Some(why) => out.push(format!("judged as node {n} ({from}: {why})")),
                None => out.push(format!("judged as node {n} ({from})")),
            }
        }
        if self.dedup != "none" || self.duplicates > 0 {
            let factor = self.packets as f64 / self.unique_packets.max(1) as f64;
            out.push(format!(
                "copies: {} frames read, {} unique packets (x{factor:.2}), {} bytes counted of {} read; copies collapsed: {}",
                self.packets, self.unique_packets, self.unique_bytes, self.bytes, self.dedup
            ));
        }
        out.extend(self.size_notes());
        if self.reordered_fragments > 0 {
            out.push(format!(
                "{} later IP fragments came before their first fragment: held, and counted in its flow when it came",
                self.reordered_fragments
            ));
        }
        for i in &self.interface_info {
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

    /// A warning when more frames were collapsed per packet than a Windows
    /// capture writes copies of one packet (pktmon: 12 to 14, one per
    /// component it crosses): distinct packets were then taken for copies.
    fn implausible_copies(&self) -> Option<String> {
        const MOST_COPIES: u64 = 16;
        let unique = self.unique_packets.max(1);
        (self.packets > MOST_COPIES * unique).then(|| {
            format!(
                "{}: {} frames were collapsed into {} packets (x{:.2}), more copies of one packet than any Windows capture writes (pktmon: 12 to 14): distinct packets alike in addresses, ports, length and first 32 payload bytes within 10 ms were taken for copies, and counts are too low; audit with --dedup off to count every frame",
                self.source,
                self.packets,
                self.unique_packets,
                self.packets as f64 / unique as f64
            )
        })
    }

    /// 802.11 copies, super-frames and estimated sizes, one line each.
    fn size_notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.mislabelled_80211 > 0 {
            out.push(format!(
                "{} frames labelled Ethernet are pktmon's 802.11 copies: read as 802.11",
                self.mislabelled_80211
            ));
        }
        if self.super_frames > 0 {
            out.push(format!(
                "{} LSO/RSC super-frame{} (IP packets over 9216 bytes, more than any link carries, or with IPv4 length 0): packet counts are host-visible segments, not wire packets; bytes are {}",
                self.super_frames,
                if self.super_frames == 1 { "" } else { "s" },
                if self.estimated_packets == 0 { "exact" } else { "exact but for the estimates below" }
            ));
        }
        if self.estimated_packets > 0 {
            out.push(format!(
                "{} packets ({} bytes) were cut without their original length: sized from their IP header, or by what was captured for an LSOv2 super-frame whose header gives no length (estimates)",
                self.estimated_packets, self.estimated_bytes
            ));
        }
        out
    }

    /// What a reader must know about the capture's integrity, one line
    /// each: not read, truncation, drops, copies, undecoded frames, orphan
    /// fragments, reading oddities.
    pub fn integrity(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(e) = &self.error {
            out.push(format!("not read: {e}"));
        }
        if let Some(at) = self.truncated_at {
            let why = self.truncation_reason.as_deref().unwrap_or("cut");
            out.push(format!(
                "truncated at byte {at}: {why}; everything before it is counted"
            ));
        }
        if self.drops > 0 {
            out.push(format!(
                "{} packets dropped before lanecheck saw them",
                self.drops
            ));
        }
        if self.duplicates > 0 {
            out.push(format!(
                "{} copies of packets already counted, collapsed ({} frames, {} unique packets)",
                self.duplicates, self.packets, self.unique_packets
            ));
        }
        for (reason, n) in &self.undecoded {
            out.push(format!("undecoded: {n} × {reason}"));
        }
        if self.orphan_fragments > 0 {
            out.push(format!(
                "{} later IP fragments without their first fragment",
                self.orphan_fragments
            ));
        }
        out.extend(self.warnings.iter().cloned());
        out
    }

    /// What the capture's copies leave uncertain, as report warnings.
    pub fn copy_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.possible_copies > 0 {
            out.push(format!(
                "{}: {} packet{} ({} bytes) repeat TCP bytes already counted within 10 ms in another size (a segment and its coalesced LSO/RSC frame logged at different layers, or a fast retransmission): counted, so class bytes may be high by as much; to avoid such copies, {}",
                self.source,
                self.possible_copies,
                if self.possible_copies == 1 { "" } else { "s" },
                self.possible_copy_bytes,
                avoid_copies(self.producer)
            ));
        }
        if self.copy_overflow > 0 {
            out.push(format!(
                "{}: {} packets left the copy table before their 10 ms window ended; a later copy of them may have been counted again",
                self.source, self.copy_overflow
            ));
        }
        out.extend(self.implausible_copies());
        let writes_copies = matches!(self.producer, "pktmon" | "etl2pcapng" | "etl2pcapng-pktmon");
        if writes_copies && self.dedup == "none" && self.packets > 0 {
            out.push(format!(
                "{}: read with --dedup off: {} writes a packet once per component or capture point that logged it, and every copy was counted",
                self.source, self.producer_words
            ));
        }
        if self.producer == "pktmon" && self.interfaces.is_empty() && self.packets > 0 {
            out.push(format!(
                "{}: pktmon's converter names no NIC, so its flows are judged by address only; give the file as PATH=NAME for the adapter it holds (one adapter per file: `pktmon etl2pcap PktMon.etl --component-id <id>`)",
                self.source
            ));
        }
        out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(packets: u64, unique: u64) -> CaptureRow {
        let mut r = CaptureRow {
            source: "c.pcapng".into(),
            packets,
            unique_packets: unique,
            duplicates: packets - unique,
            writer: capture::Producer::Pktmon,
            copies: analyzer::dedup::Copies::All,
            ..CaptureRow::default()
        };
        r.restore_words();
        r
    }

    /// More copies per packet than any Windows capture writes: said.
    #[test]
    fn implausibly_many_copies_are_warned_of() {
        let warned = |r: &CaptureRow| {
            r.copy_warnings()
                .into_iter()
                .filter(|w| w.contains("more copies of one packet than any Windows capture writes"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            warned(&row(500, 5)),
            ["c.pcapng: 500 frames were collapsed into 5 packets (x100.00), more copies of one packet than any Windows capture writes (pktmon: 12 to 14): distinct packets alike in addresses, ports, length and first 32 payload bytes within 10 ms were taken for copies, and counts are too low; audit with --dedup off to count every frame"]
        );
        // 14 copies a packet, and 16: what pktmon writes, no word.
        assert!(warned(&row(1400, 100)).is_empty());
        assert!(warned(&row(1600, 100)).is_empty());
        assert_eq!(warned(&row(1601, 100)).len(), 1);
    }
}
