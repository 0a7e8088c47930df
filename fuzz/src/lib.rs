//! Harness code shared by the fuzz targets (`fuzz_targets/*.rs`): the
//! dissector input scheme, the analyzer run over one capture file, and the
//! binary crate's policy parser and `policy derive` export parsers compiled
//! in by path.
//!
//! Those parsers live in the `lanecheck` binary crate, which has no library
//! target. Rather than give it one (every `src/` module would have to
//! become public API, for a fuzz target), `src/config.rs` and the one
//! helper it calls (`src/duration.rs`), and the export parsers of
//! `src/derive/` with the flag enums they name (`src/flags.rs`), are
//! compiled here as modules: the fuzzer runs exactly the code the binary
//! runs, and the binary crate is unchanged but for `parse_duration` living
//! in a file of its own.

use std::sync::OnceLock;

use analyzer::dedup::DedupMode;
use analyzer::evidence::Dissector;
use analyzer::policy::Policy;
use analyzer::{Analyzer, AnalyzerConfig, CaptureId, IfaceRef, Report};
use capture::{FileSource, FrameSource};

pub mod chunks;

/// `lanecheck`'s policy parser (`src/config.rs`), as the binary compiles it.
#[path = "../../src/config.rs"]
#[allow(dead_code)]
pub mod config;

// `config.rs` calls `crate::duration::parse_duration`.
#[path = "../../src/duration.rs"]
mod duration;

pub mod derive;

// `derive/inputs.rs` names `crate::flags::{LmTransport, Os}`.
#[path = "../../src/flags.rs"]
#[allow(dead_code)]
mod flags;

/// Feeds a dissector one connection in the [`chunks`] scheme, as the
/// evidence stage would: `feed` then `gap` per chunk, until the first give-up.
pub fn dissect(
    input: &[u8],
    make: impl FnOnce([analyzer::evidence::Start; 2]) -> Box<dyn Dissector>,
) {
    let (starts, chunks) = chunks::parse(input);
    let mut d = make(starts);
    let mut out = Vec::new();
    for c in chunks {
        let r = d
            .feed(c.dir, c.data, c.segment_start, &mut out)
            .and_then(|()| d.gap(c.dir, c.missing as usize, &mut out));
        if r.is_err() {
            break;
        }
    }
    for f in &out {
        if let analyzer::evidence::Fact::Dns(a) = f {
            let _ = a.resolve();
        }
    }
}

/// The repository's policies, parsed once (`policies/*.toml`).
pub const POLICIES: [(&str, &str); 6] = [
    ("cluster.toml", include_str!("../../policies/cluster.toml")),
    ("dpm-dns.toml", include_str!("../../policies/dpm-dns.toml")),
    (
        "dpm-fallback.toml",
        include_str!("../../policies/dpm-fallback.toml"),
    ),
    ("dpm.toml", include_str!("../../policies/dpm.toml")),
    (
        "failover-kept.toml",
        include_str!("../../policies/failover-kept.toml"),
    ),
    (
        "failover.toml",
        include_str!("../../policies/failover.toml"),
    ),
];

fn policies() -> &'static [Policy] {
    static P: OnceLock<Vec<Policy>> = OnceLock::new();
    P.get_or_init(|| {
        POLICIES
            .iter()
            .map(|(name, text)| config::parse(text, name).expect("a repository policy parses"))
            .collect()
    })
}

/// Bits of the analyzer target's first byte.
pub mod opts {
    /// Low 3 bits: 0 = no policy, 1..=6 = `POLICIES[n - 1]`, 7 = no policy.
    pub const POLICY: u8 = 0b111;
    /// Tiny flow table (4 flows), 1 s idle timeout and evidence window:
    /// eviction, expiry and closing classes on every few packets.
    pub const SMALL: u8 = 1 << 3;
    /// As the daemon runs it: no series, finished flows dropped; without
    /// it, as `audit` runs: finished flows folded (`fold_every`).
    pub const DAEMON: u8 = 1 << 4;
    /// Unnamed interfaces are `eth1` (`PATH=eth1`), which policies map.
    pub const NAMED: u8 = 1 << 5;
    /// Bits 6-7: `--dedup`: 0 or 3 auto (the default), 1 on, 2 off.
    pub const DEDUP: u8 = 0b1100_0000;
}

/// The analyzer target: options byte (see [`opts`]), then a capture file,
/// read as `lanecheck audit` reads it, through to `report()`.
pub fn analyze(input: &[u8]) {
    let Some((&o, file)) = input.split_first() else {
        return;
    };
    let policy = match usize::from(o & opts::POLICY) {
        n @ 1..=6 => policies()[n - 1].clone(),
        _ => Policy::default(),
    };
    let mut cfg = AnalyzerConfig::default();
    if o & opts::SMALL != 0 {
        cfg.flows.max_flows = 4;
        cfg.flows.idle_timeout_ns = 1_000_000_000;
        cfg.evidence_window_ns = 1_000_000_000;
    }
    if o & opts::DAEMON != 0 {
        cfg.series = false;
        cfg.flows.keep_finished = false;
    } else {
        // As `lanecheck audit` runs (src/audit.rs): finished flows folded
        // into class totals; with the tiny table, after every one; with
        // what `--save` and parallel captures keep.
        cfg.fold_every = (cfg.flows.max_flows / 8).max(1);
        cfg.merge_facts = true;
    }
    cfg.dedup = match (o & opts::DEDUP) >> 6 {
        1 => DedupMode::On,
        2 => DedupMode::Off,
        _ => DedupMode::Auto,
    };
    let iface = (o & opts::NAMED != 0).then(|| "eth1".to_string());
    let Ok(mut src) = FileSource::new("fuzz", file, iface) else {
        return;
    };
    let mut an = Analyzer::with_policy(cfg, policy);
    let id = an.add_capture("fuzz");
    feed(&mut src, &mut an, id);
    an.end_of_input(&mut ());
    let report = an.report();
    std::hint::black_box(&report);
    for slot in an.slots() {
        std::hint::black_box(an.reason(slot));
    }
    if o & opts::DAEMON != 0 {
        std::hint::black_box(an.take_finished());
        std::hint::black_box(an.take_dns_violations());
    } else {
        merge_twice(&an, report);
    }
}

/// What `audit --save` and `lanecheck merge` do with a report: it goes
/// through JSON unchanged, and merges with itself (every sum, list and
/// finding of `Report::merge`); the merge facts are computed.
fn merge_twice(an: &Analyzer, report: Report) {
    std::hint::black_box((an.flow_digests(), an.reach(), an.table_clock()));
    let json = serde_json::to_vec(&report).expect("a report serialises");
    let back: Report = serde_json::from_slice(&json).expect("a report reads back");
    assert_eq!(serde_json::to_vec(&back).expect("again"), json, "JSON round trip");
    let merged = Report::merge(vec![(report, 1), (back, 1)]);
    std::hint::black_box(merged.findings.warnings());
}

/// `src/pipeline.rs`'s loop: frames into the analyzer; the source's
/// interfaces registered (with who wrote the file) when a frame arrives on
/// one not yet mapped, and once more at the end.
fn feed(src: &mut FileSource<&[u8]>, an: &mut Analyzer, id: CaptureId) {
    let mut map: Vec<Option<IfaceRef>> = Vec::new();
    loop {
        let frame = match src.next_frame() {
            Ok(Some(f)) => f,
            _ => break,
        };
        let ix = frame.iface.0 as usize;
        if let Some(r) = map.get(ix) {
            an.observe(&frame, id, *r);
            continue;
        }
        let owned = frame.to_owned();
        register(src, an, id, &mut map);
        let r = map.get(ix).copied().flatten();
        an.observe(&owned.as_frame(), id, r);
    }
    register(src, an, id, &mut map);
}

/// `pipeline.rs`'s `Reading::register_ifaces`.
fn register(
    src: &FileSource<&[u8]>,
    an: &mut Analyzer,
    id: CaptureId,
    map: &mut Vec<Option<IfaceRef>>,
) {
    for iface in src.interfaces().iter().skip(map.len()) {
        map.push(an.register_interface(id, iface));
    }
    an.set_source(id, src.producer(), src.application(), map.len());
}
