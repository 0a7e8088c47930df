//! One capture analysed on several threads, each a share of its flows
//! (`audit --shard`). Every thread reads the whole file itself: where
//! analysis is the bottleneck (many flows), the kernel's copy out of the
//! page cache is the cheap part, and no frame crosses threads. A thread
//! analyses the frames whose IP addresses fall in its share
//! ([`analyzer::Analyzer::shard_key`]: every packet, fragment and copy of
//! a flow falls in one share) and lets the others move only its expiry
//! clock, so its flows expire exactly when one analyzer's would.
//!
//! The shares merge as parallel captures do (`Report::merge`), with one
//! capture row summed from theirs. That equals one analyzer's result only
//! if nothing crossed shares: no RPC endpoint, SMB session or DNS answer
//! learned in one share and used in another, no tunnel (its outer and
//! inner flows may fall apart), no list whose order is the capture's
//! order in two shares, no cap one analyzer would have reached (flows,
//! fragments, copies), the same interfaces in a compatible order. Each
//! check is conservative; when one fails, the capture is read again on one
//! analyzer and `--log-level info` says why. `tests/threads.rs` compares
//! both ways over the corpus and every fixture.

use std::fs::File;
use std::sync::atomic::Ordering;

use analyzer::dedup::{MAX_DIRECTIONS, MAX_SEEN};
use analyzer::evidence::learned::ENDPOINT_CAP;
use analyzer::evidence::names::NAMES_CAP;
use analyzer::policy::Policy;
use analyzer::{Analyzer, AnalyzerConfig, CaptureCounters, Reach, Report};
use capture::{FileSource, FrameSource};

use crate::flags::ShardMode;
use crate::output::{CaptureRow, FlowTableRow};
use crate::parallel::Merged;
use crate::pipeline::{self, Board, CaptureOutcome, CaptureSpec, Shard};
use crate::progress::Progress;
use crate::summary;

/// Frames the `auto` mode looks at before choosing.
const PROBE_FRAMES: usize = 1 << 16;
/// Address pairs among them above which analysis, not reading, is the
/// bottleneck (the flow table no longer fits the caches).
const PROBE_PAIRS: usize = 1 << 12;

/// One share of the capture, analysed.
struct Part {
    outcome: CaptureOutcome,
    row: CaptureRow,
    counters: CaptureCounters,
    report: Report,
    flow_table: FlowTableRow,
    digests: Vec<u64>,
    reach: Reach,
}

/// Audits the one capture of `specs` in `threads` shares; `None` when it
/// is read on one analyzer (not one regular file, one thread, `--shard
/// never`, `auto` finding few conversations, or shares that meet).
pub fn audit(
    specs: &[CaptureSpec],
    cfg: AnalyzerConfig,
    policy: &Policy,
    threads: usize,
    mode: ShardMode,
    progress: &Progress,
) -> Option<Merged> {
    let [spec] = specs else { return None };
    let regular = std::fs::metadata(&spec.path).is_ok_and(|m| m.is_file());
    if threads < 2 || mode == ShardMode::Never || spec.path == "-" || !regular {
        return None;
    }
    if mode == ShardMode::Auto && !many_conversations(spec, cfg.flows.max_flows) {
        return None;
    }
    let cfg = AnalyzerConfig {
        merge_facts: true,
        ..cfg
    };
    let parts = run_shares(spec, cfg, policy, threads as u64, progress)?;
    if let Some(why) = crossing(&parts, cfg.flows.max_flows) {
        log::info!("analysing {} on one thread: {why}", spec.path);
        progress.restart();
        return None;
    }
    progress.finish();
    log::info!(
        "analysed {} in {} shares of its flows, merged",
        spec.path,
        parts.len()
    );
    merge(parts)
}

/// Whether the capture's first frames hold many address pairs, but not
/// so many that, at that rate, the whole capture would fill one
/// analyzer's table (shares cannot evict as one table would: such a
/// capture would be read again) (`auto`).
fn many_conversations(spec: &CaptureSpec, max_flows: usize) -> bool {
    let Ok(file) = File::open(&spec.path) else {
        return false;
    };
    let size = file.metadata().map_or(0, |m| m.len());
    let Ok(mut src) = FileSource::new(&spec.path, file, None) else {
        return false;
    };
    let mut an = Analyzer::new(AnalyzerConfig::default());
    let id = an.add_capture(&spec.path);
    let mut pairs = rustc_hash::FxHashSet::default();
    let mut bytes = 0u64;
    for _ in 0..PROBE_FRAMES {
        let Ok(Some(frame)) = src.next_frame() else {
            break;
        };
        bytes += frame.data.len() as u64 + 16;
        pairs.extend(an.shard_key(&frame, id));
    }
    let whole = (pairs.len() as u64).saturating_mul(size) / bytes.max(1);
    let many = pairs.len() >= PROBE_PAIRS && whole < max_flows as u64;
    log::debug!(
        "{}: {} address pairs in its first {bytes} bytes, about {whole} in all: {}",
        spec.path,
        pairs.len(),
        if many {
            "shares of its flows"
        } else {
            "one analyzer"
        }
    );
    many
}

/// Every share analysed on a thread of its own, in share order (`None`
/// if a thread's part was lost).
fn run_shares(
    spec: &CaptureSpec,
    cfg: AnalyzerConfig,
    policy: &Policy,
    of: u64,
    progress: &Progress,
) -> Option<Vec<Part>> {
    let hidden = Progress::hidden();
    let board = Board::default();
    let parts: Option<Vec<Part>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..of)
            .map(|index| {
                // One share moves the progress bar: they all read everything.
                let shown = if index == 0 { progress } else { &hidden };
                let policy = policy.clone();
                let shard = Shard {
                    index,
                    of,
                    max_flows: cfg.flows.max_flows,
                    board: &board,
                };
                s.spawn(move || share(spec, cfg, policy, shard, shown))
            })
            .collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    });
    if board.doomed.load(Ordering::Relaxed) {
        log::info!("analysing {} on one thread: shares met early (tunnels, a table that would fill, DNS answers or RPC endpoints in several shares)", spec.path);
        progress.restart();
        return None;
    }
    parts
}

fn share(
    spec: &CaptureSpec,
    cfg: AnalyzerConfig,
    policy: Policy,
    mut shard: Shard<'_>,
    progress: &Progress,
) -> Part {
    let spec = CaptureSpec {
        read_ahead: false,
        ..spec.clone()
    };
    let mut an = Analyzer::with_policy(cfg, policy);
    let outcome = pipeline::read_share(&spec, &mut an, &mut (), &mut shard, progress);
    let stats = an.flow_stats();
    let counters = outcome
        .id
        .and_then(|id| an.captures().get(id.0 as usize).cloned())
        .unwrap_or_default();
    Part {
        row: CaptureRow::new(&an, &outcome),
        counters,
        report: an.report(),
        flow_table: FlowTableRow {
            evicted: stats.evicted,
            expired: stats.expired,
        },
        digests: an.flow_digests(),
        reach: an.reach(),
        outcome,
    }
}

/// Why one analyzer over the capture could differ from the merged shares,
/// if it could.
fn crossing(parts: &[Part], max_flows: usize) -> Option<String> {
    let first = &parts[0].outcome;
    if first.id.is_none() {
        return Some("it is not a capture file".into());
    }
    let read_alike = parts.iter().all(|p| {
        p.outcome.error == first.error
            && p.outcome.truncated.as_ref().map(|t| t.offset)
                == first.truncated.as_ref().map(|t| t.offset)
    });
    if !read_alike {
        return Some("the shares did not read the same frames".into());
    }
    let mut digests = rustc_hash::FxHashSet::default();
    if parts
        .iter()
        .flat_map(|p| &p.digests)
        .any(|d| !digests.insert(*d))
    {
        return Some("a flow fell in two shares".into());
    }
    learned_crossing(parts)
        .or_else(|| ordered_lists(parts))
        .or_else(|| caps(parts, max_flows))
        .or_else(|| interfaces(parts).err())
}

/// RPC endpoints, SMB sessions or DNS answers of one share another uses.
fn learned_crossing(parts: &[Part]) -> Option<String> {
    for (i, a) in parts.iter().enumerate() {
        for (j, b) in parts.iter().enumerate().filter(|(j, _)| *j != i) {
            let (a, b) = (&a.reach, &b.reach);
            if !a.learned_all || a.learned.iter().any(|x| b.looked_up.contains(x)) {
                return Some(format!("share {i} learned an RPC endpoint share {j} uses"));
            }
            if !a.smb_all || a.smb_learned.iter().any(|s| b.smb_looked_up.contains(s)) {
                return Some(format!(
                    "share {i} saw paths of an SMB session share {j} uses"
                ));
            }
        }
    }
    let needs_dns = |p: &Part| {
        !p.report.findings.fallbacks.is_empty() || !p.report.findings.dns_rules.is_empty()
    };
    let with_names: Vec<usize> = (0..parts.len())
        .filter(|i| parts[*i].reach.names > 0)
        .collect();
    let needing: Vec<usize> = (0..parts.len()).filter(|i| needs_dns(&parts[*i])).collect();
    let alone = with_names.len() <= 1 && needing.iter().all(|i| with_names.contains(i));
    (!with_names.is_empty() && !needing.is_empty() && !alone)
        .then(|| "DNS answers of one share may explain another's flows".into())
}

/// Lists a report keeps in the capture's order (learned endpoints, DNS
/// violations, tunnels): from one share only.
fn ordered_lists(parts: &[Part]) -> Option<String> {
    let holding = |f: &dyn Fn(&Part) -> bool| parts.iter().filter(|p| f(p)).count();
    let explained = |p: &Part| {
        let f = &p.report.findings.fallbacks;
        f.iter().any(|f| !f.explanations.is_empty())
    };
    if holding(&|p| !p.report.learned_endpoints.is_empty()) > 1
        || holding(&|p| !p.report.dns_violations.is_empty()) > 1
        || holding(&explained) > 1
    {
        return Some("lists in the capture's order span shares".into());
    }
    // What the interfaces' keys matched is found as interfaces appear:
    // every share must have found the same.
    fn nics(p: &Part) -> (Vec<&Vec<String>>, &Vec<String>) {
        let n = &p.report.findings.nics;
        (n.keys.iter().map(|k| &k.several).collect(), &n.conflicts)
    }
    if parts.iter().any(|p| nics(p) != nics(&parts[0])) {
        return Some("the shares found the interfaces' keys apart".into());
    }
    parts
        .iter()
        .any(|p| p.reach.tunnels > 0)
        .then(|| "the capture holds tunnels".into())
}

/// A cap one analyzer holding every share's state could have reached.
fn caps(parts: &[Part], max_flows: usize) -> Option<String> {
    let sum = |f: &dyn Fn(&Reach) -> usize| parts.iter().map(|p| f(&p.reach)).sum::<usize>();
    let evicted = parts.iter().any(|p| p.flow_table.evicted > 0);
    let reached = evicted
        || sum(&|r| r.flow_peak) >= max_flows
        || sum(&|r| r.fragment_peak) >= analyzer::FRAGMENT_CAP
        || sum(&|r| r.copy_peaks.0) >= MAX_SEEN
        || sum(&|r| r.copy_peaks.1) >= MAX_DIRECTIONS
        || sum(&|r| r.names) >= NAMES_CAP
        || sum(&|r| r.learned.len()) >= ENDPOINT_CAP;
    reached.then(|| "one analyzer would reach a memory cap".into())
}

/// The capture's interfaces in order of appearance: each share's list
/// must be a beginning of the longest (then that is one analyzer's order).
fn interfaces(parts: &[Part]) -> Result<Vec<String>, String> {
    let longest = parts
        .iter()
        .map(|p| &p.row.interfaces)
        .max_by_key(|l| l.len())
        .cloned()
        .unwrap_or_default();
    if parts.iter().all(|p| longest.starts_with(&p.row.interfaces)) {
        Ok(longest)
    } else {
        Err("the shares met the capture's interfaces in another order".into())
    }
}

/// The shares as one analyzer's report and capture row.
fn merge(parts: Vec<Part>) -> Option<Merged> {
    let names = interfaces(&parts).ok()?;
    let mut counters: Option<CaptureCounters> = None;
    let mut flow_table = FlowTableRow::default();
    let mut copy_overflow = 0;
    let mut reports = Vec::new();
    let mut rows = Vec::new();
    let mut outcomes = Vec::new();
    for p in parts {
        match &mut counters {
            Some(c) => c.add(&p.counters),
            None => counters = Some(p.counters),
        }
        flow_table.evicted += p.flow_table.evicted;
        flow_table.expired += p.flow_table.expired;
        copy_overflow += p.row.copy_overflow;
        // Every share numbers the capture alike: no renumbering.
        let mut report = p.report;
        if !reports.is_empty() {
            // The same in every share (checked): said once.
            let nics = &mut report.findings.nics;
            nics.conflicts.clear();
            nics.keys.iter_mut().for_each(|k| k.several.clear());
        }
        reports.push((report, 0));
        rows.push(p.row);
        outcomes.push(p.outcome);
    }
    let mut row = rows.swap_remove(0);
    row.counters(&counters?);
    row.copy_overflow = copy_overflow;
    row.interfaces = names;
    outcomes.truncate(1);
    Some(Merged {
        outcomes,
        merged: summary::Merged {
            report: Report::merge(reports),
            captures: vec![row],
            flow_table,
            warnings: Vec::new(),
        },
    })
}
