//! One capture (or several, in order) analysed on several threads, each a
//! share of its flows (`audit --shard`). Every thread reads the whole file
//! (every file) itself: where
//! analysis is the bottleneck (many flows), the kernel's copy out of the
//! page cache is the cheap part, and no frame crosses threads. A thread
//! analyses the frames whose IP addresses fall in its share
//! ([`analyzer::Analyzer::shard_key`]: every packet, fragment and copy of
//! a flow falls in one share) and lets the others move only its expiry
//! clock, so its flows expire exactly when one analyzer's would.
//!
//! The shares merge as parallel captures do (`Report::merge`), with each
//! capture's row summed from theirs. Several captures are shared out when
//! they cannot be audited in parallel because they hold the same flows (a
//! host's rotated captures of long conversations): a flow that continues
//! from one file into the next stays in one share. DNS names are shared exactly: every
//! share numbers the capture's frames alike, and the queries and answers
//! each saw, replayed in frame order, are the names one analyzer ends
//! with (`names.rs`); DNS violations and the learned-endpoint list are put
//! in frame order too, and `--violations-pcap` reads each frame's flow
//! number from the journal of the share that took it. The
//! rest equals one analyzer's result only if nothing crossed shares: no
//! RPC endpoint or SMB session learned in one share and used in another,
//! no tunnel (its outer and inner flows may fall apart), no cap one
//! analyzer would have reached (flows,
//! fragments, copies), the same interfaces in a compatible order. Each
//! check is conservative; when one fails, the capture is read again on one
//! analyzer and `--log-level info` says why. `tests/threads.rs` compares
//! both ways over the corpus and every fixture.

use std::fs::File;
use std::sync::atomic::Ordering;

use analyzer::dedup::{MAX_DIRECTIONS, MAX_SEEN};
use analyzer::evidence::learned::{ENDPOINT_CAP, HISTORY_CAP};
use analyzer::flow::Sweeps;
use analyzer::{Analyzer, AnalyzerConfig, CaptureCounters, Reach, Report, DNS_VIOLATIONS_CAP};
use capture::{FileSource, FrameSource};

use crate::flags::ShardMode;
use crate::names;
use crate::output::{CaptureRow, FlowTableRow};
use crate::parallel::{all_digests, settle, Analysed, Merged, Plan};
use crate::pipeline::{self, Board, CaptureOutcome, CaptureSpec, OnPanic, Shard};
use crate::progress::Progress;
use crate::summary::{self, TableEnd};
use crate::violations_pcap::{FirstPass, Numbered, Numbering};

/// Frames the `auto` mode looks at before choosing.
const PROBE_FRAMES: usize = 1 << 16;
/// Address pairs among them above which analysis, not reading, is the
/// bottleneck (the flow table no longer fits the caches).
const PROBE_PAIRS: usize = 1 << 12;

/// One capture as a share read it.
struct Captured {
    outcome: CaptureOutcome,
    row: CaptureRow,
    counters: CaptureCounters,
}

impl Captured {
    fn new(an: &Analyzer, outcome: CaptureOutcome) -> Self {
        let counters = outcome
            .id
            .and_then(|id| an.captures().get(id.0 as usize).cloned())
            .unwrap_or_default();
        Captured {
            row: CaptureRow::new(an, &outcome),
            counters,
            outcome,
        }
    }
}

/// One share of the captures, analysed.
struct Part {
    /// Each capture read, in order (fewer if the shares stopped early).
    captures: Vec<Captured>,
    /// The frame each of the report's DNS violations came from.
    dns_frames: Vec<u64>,
    /// The frame each of the report's learned endpoints came in.
    learned_frames: Vec<u64>,
    /// `--violations-pcap`: the share's violating flows by its own numbers,
    /// and its journal of each frame's.
    numbered: Option<Numbered>,
    done: Analysed,
}

/// Audits the captures of `specs`, in order, in `threads` shares; `None`
/// when they are read on one analyzer (not regular files, one thread,
/// `--shard never`, `auto` finding the first not worth sharing, or
/// shares that meet).
pub fn audit(specs: &[CaptureSpec], plan: Plan<'_>, mode: ShardMode) -> Option<Merged> {
    let many_threads = plan.threads >= 2 && mode != ShardMode::Never;
    if specs.is_empty() || !many_threads || !specs.iter().all(CaptureSpec::is_regular) {
        return None;
    }
    let max_flows = plan.cfg.flows.max_flows;
    if mode == ShardMode::Auto && !worth_sharing(specs, plan) {
        return None;
    }
    let (name, whose) = match specs {
        [one] => (one.path.clone(), "its"),
        _ => (format!("{} captures", specs.len()), "their"),
    };
    let plan = plan.merging();
    let read = run_shares(specs, plan)
        .and_then(|parts| crossing(&parts, max_flows).map_or(Ok(parts), Err))
        .and_then(|parts| merge(parts, plan));
    let merged = settle(
        read,
        plan.progress,
        &format!("analysing {name} on one thread"),
    )?;
    log::info!(
        "analysed {name} in {} shares of {whose} flows, merged",
        plan.threads
    );
    Some(merged)
}

/// Whether the captures' first frames (the first capture's, or several
/// small ones') hold many address pairs, so that analysis, not reading, is
/// the bottleneck; but not so many that, at that rate, the whole capture
/// would fill one analyzer's table (shares cannot evict as one table
/// would: such a capture would be read again) (`auto`).
///
/// Frames spread evenly over few conversations are read ahead instead, though
/// shares of them would move no frame between threads: on this VM the read
/// ahead took 0.15 s or 0.28 s of the 1 GiB bench capture as the second vCPU
/// changed, shares 0.18 s either way, and one thread 0.19 s; but shares frame
/// every record twice, and put pcapng at 0.90x the pcap rate (docs/ARCHITECTURE.md).
fn worth_sharing(specs: &[CaptureSpec], plan: Plan<'_>) -> bool {
    let mut probe = Probe {
        an: Analyzer::with_policy(AnalyzerConfig::default(), plan.policy.clone()),
        pairs: rustc_hash::FxHashSet::default(),
        bytes: 0,
        frames: 0,
    };
    let mut size = 0u64;
    for spec in specs {
        size += std::fs::metadata(&spec.path).map_or(0, |m| m.len());
        if probe.frames < PROBE_FRAMES {
            probe.read(spec);
        }
    }
    let pairs = probe.pairs.len();
    let whole = (pairs as u64).saturating_mul(size) / probe.bytes.max(1);
    let worth = pairs >= PROBE_PAIRS && whole < plan.cfg.flows.max_flows as u64;
    log::debug!(
        "{} address pairs in the first {} bytes, about {whole} in all: {}",
        pairs,
        probe.bytes,
        if worth {
            "shares of their flows"
        } else {
            "one analyzer"
        }
    );
    worth
}

/// The first frames of the captures, as `auto` looks at them.
struct Probe {
    an: Analyzer,
    pairs: rustc_hash::FxHashSet<u64>,
    bytes: u64,
    frames: usize,
}

impl Probe {
    /// Reads `spec`'s first frames, up to [`PROBE_FRAMES`] in all.
    fn read(&mut self, spec: &CaptureSpec) {
        let Ok(file) = File::open(&spec.path) else {
            return;
        };
        let Ok(mut src) = FileSource::new(&spec.path, file, None) else {
            return;
        };
        let id = self.an.add_capture(&spec.path);
        while self.frames < PROBE_FRAMES {
            let Ok(Some(frame)) = src.next_frame() else {
                break;
            };
            self.frames += 1;
            self.bytes += frame.data.len() as u64 + 16;
            self.pairs.extend(self.an.shard_key(&frame, id));
        }
    }
}

/// Every share analysed on a thread of its own, in share order, or why
/// they cannot merge (shares that met early, a thread's part lost).
fn run_shares(specs: &[CaptureSpec], plan: Plan<'_>) -> Result<Vec<Part>, String> {
    let hidden = Progress::hidden();
    let of = plan.threads as u64;
    let board = Board::default();
    let parts: Option<Vec<Part>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..of)
            .map(|index| {
                // One share moves the progress bar: they all read everything.
                let progress = if index == 0 { plan.progress } else { &hidden };
                let shard = Shard {
                    index,
                    of,
                    max_flows: plan.cfg.flows.max_flows,
                    board: &board,
                    published: 0,
                };
                s.spawn(move || {
                    let _held = OnPanic(&[&shard.board.doomed, &shard.board.lost]);
                    share(specs, Plan { progress, ..plan }, shard)
                })
            })
            .collect();
        // Every share joined before any result is looked at: one left to
        // the scope would re-raise its panic there.
        let joined: Vec<Option<Part>> = handles
            .into_iter()
            .map(|h| h.join().ok().flatten())
            .collect();
        joined.into_iter().collect::<Option<Vec<_>>>()
    });
    if board.lost.load(Ordering::Relaxed) {
        return Err("a share's thread was lost".into());
    }
    if board.doomed.load(Ordering::Relaxed) {
        return Err(
            "shares met early (an RPC endpoint one learned and another used, tunnels, a table that would fill, DNS messages or announcements past a cap)"
                .into(),
        );
    }
    parts.ok_or_else(|| "a share's thread was lost".into())
}

/// One share's part, or `None` once the shares met (then nothing of it is
/// used: no report, rows or journal are made for it).
fn share(specs: &[CaptureSpec], plan: Plan<'_>, mut shard: Shard<'_>) -> Option<Part> {
    let mut an = plan.analyzer();
    let mut numbers = plan.journals.map(Numbering::new);
    let mut outcomes = Vec::new();
    for spec in specs {
        let spec = CaptureSpec {
            read_ahead: false,
            ..spec.clone()
        };
        outcomes.push(pipeline::read_share(
            &spec,
            &mut an,
            &mut numbers,
            &mut shard,
            plan.progress,
        ));
        if shard.board.doomed.load(Ordering::Relaxed) {
            return None;
        }
    }
    Some(Part {
        captures: outcomes
            .into_iter()
            .map(|o| Captured::new(&an, o))
            .collect(),
        dns_frames: an.dns_violation_frames().to_vec(),
        learned_frames: an.knowledge().history_frames().to_vec(),
        numbered: numbers.map(|n| n.finish(&an)),
        // Tunnels are never shared out: every share's tunnel ids (none)
        // are one analyzer's.
        done: plan.analysed(an, 0),
    })
}

/// Why one analyzer over the captures could differ from the merged
/// shares, if it could.
fn crossing(parts: &[Part], max_flows: usize) -> Option<String> {
    let first = &parts[0].captures;
    if first.iter().all(|c| c.outcome.id.is_none()) {
        return Some("no capture file could be read".into());
    }
    let alike = |a: &Captured, b: &Captured| {
        let cut = |c: &Captured| c.outcome.truncated.as_ref().map(|t| t.offset);
        a.outcome.error == b.outcome.error && cut(a) == cut(b)
    };
    let read_alike = parts.iter().all(|p| {
        p.captures.len() == first.len() && p.captures.iter().zip(first).all(|(a, b)| alike(a, b))
    });
    if !read_alike {
        return Some("the shares did not read the same frames".into());
    }
    let mut digests = rustc_hash::FxHashSet::default();
    if parts
        .iter()
        .flat_map(|p| &p.done.digests)
        .any(|d| !digests.insert(*d))
    {
        return Some("a flow fell in two shares".into());
    }
    learned_crossing(parts)
        .or_else(|| ordered_lists(parts))
        .or_else(|| caps(parts, max_flows))
}

/// How one analyzer's table would have ended: the shares' flows still
/// held, the same sweeps (every frame moves every share's clock), and at
/// most the shares' flows together between two sweeps (a table only
/// grows between sweeps, and shares never evict: see [`caps`]).
fn one_table(parts: &[Part]) -> Result<TableEnd, String> {
    let sweeps: Option<Vec<&Sweeps>> = parts.iter().map(|p| p.done.end.sweeps.as_ref()).collect();
    let peak = sweeps.as_deref().and_then(Sweeps::together);
    let (Some(peak), Some(part)) = (peak, parts.first()) else {
        return Err("the shares swept their tables at other moments".into());
    };
    let mut last_seen: Vec<i64> = parts
        .iter()
        .flat_map(|p| p.done.end.last_seen.clone())
        .collect();
    last_seen.sort_unstable();
    Ok(TableEnd {
        last_seen,
        swept_to: part.done.end.swept_to,
        peak: peak as u64,
        sweeps: None,
    })
}

/// RPC endpoints or SMB sessions of one share another uses, or DNS
/// names a share could not journal.
fn learned_crossing(parts: &[Part]) -> Option<String> {
    if let Some(Err(why)) = parts.iter().map(|p| &p.done.journal).find(|j| j.is_err()) {
        return Some(why.clone());
    }
    for (i, a) in parts.iter().enumerate() {
        for (j, b) in parts.iter().enumerate().filter(|(j, _)| *j != i) {
            let (a, b) = (&a.done.reach, &b.done.reach);
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
    None
}

/// NIC-key findings alike in every share; no tunnels.
fn ordered_lists(parts: &[Part]) -> Option<String> {
    // What the interfaces' keys matched is found as interfaces appear:
    // every share must have found the same.
    fn nics(p: &Part) -> (Vec<&Vec<String>>, &Vec<String>) {
        let n = &p.done.read.report.findings.nics;
        (n.keys.iter().map(|k| &k.several).collect(), &n.conflicts)
    }
    if parts.iter().any(|p| nics(p) != nics(&parts[0])) {
        return Some("the shares found the interfaces' keys apart".into());
    }
    parts
        .iter()
        .any(|p| p.done.reach.tunnels > 0)
        .then(|| "the capture holds tunnels".into())
}

/// A cap one analyzer holding every share's state could have reached.
fn caps(parts: &[Part], max_flows: usize) -> Option<String> {
    let sum = |f: &dyn Fn(&Reach) -> usize| parts.iter().map(|p| f(&p.done.reach)).sum::<usize>();
    let evicted = parts.iter().any(|p| p.done.flow_table.evicted > 0);
    let reached = evicted
        || sum(&|r| r.flow_peak) >= max_flows
        || sum(&|r| r.fragment_peak) >= analyzer::FRAGMENT_CAP
        || sum(&|r| r.held_peak) >= analyzer::HELD_CAP
        || sum(&|r| r.copy_peaks.0) >= MAX_SEEN
        || sum(&|r| r.copy_peaks.1) >= MAX_DIRECTIONS
        || sum(&|r| r.learned.len()) >= ENDPOINT_CAP;
    reached.then(|| "one analyzer would reach a memory cap".into())
}

/// Each capture's interfaces in order of appearance: each share's list
/// must be a beginning of the longest (then that is one analyzer's order).
fn interfaces(parts: &[Part]) -> Result<Vec<Vec<String>>, String> {
    (0..parts[0].captures.len())
        .map(|c| {
            let lists: Vec<&Vec<String>> = parts
                .iter()
                .map(|p| &p.captures[c].row.interfaces)
                .collect();
            let longest = lists.iter().max_by_key(|l| l.len()).copied().cloned();
            let longest = longest.unwrap_or_default();
            match lists.iter().all(|l| longest.starts_with(l)) {
                true => Ok(longest),
                false => Err("the shares met a capture's interfaces in another order".into()),
            }
        })
        .collect()
}

/// Each capture's outcome and row, as one analyzer's: the shares' counters
/// summed, the interfaces of [`interfaces`].
fn one_capture(
    shares: Vec<Captured>,
    interfaces: Vec<String>,
) -> Result<(CaptureOutcome, CaptureRow), String> {
    let mut shares = shares.into_iter();
    let mut first = shares.next().ok_or("a capture no share read")?;
    for s in shares {
        first.counters.add(&s.counters);
        first.row.copy_overflow += s.row.copy_overflow;
    }
    first.row.counters(&first.counters);
    first.row.interfaces = interfaces;
    Ok((first.outcome, first.row))
}

/// The shares as one analyzer's report and capture rows, or why they
/// cannot be (the captures' interfaces met in another order, the tables
/// swept apart).
fn merge(mut parts: Vec<Part>, plan: Plan<'_>) -> Result<Merged, String> {
    let ifaces = interfaces(&parts)?;
    let end = one_table(&parts)?;
    let digests = all_digests(
        parts
            .iter_mut()
            .map(|p| std::mem::take(&mut p.done.digests)),
    );
    let journals = parts
        .iter_mut()
        .map(|p| std::mem::replace(&mut p.done.journal, Ok(Vec::new())))
        .collect::<Result<Vec<_>, String>>()?;
    let names = names::of_shares(journals);
    let mut flow_table = FlowTableRow::default();
    let mut by_capture: Vec<Vec<Captured>> = ifaces.iter().map(|_| Vec::new()).collect();
    let mut reads = Vec::new();
    let mut dns_frames = Vec::new();
    let mut learned_frames = Vec::new();
    let mut numbered = Vec::new();
    let mut flows = Vec::new();
    for p in parts {
        flow_table.evicted += p.done.flow_table.evicted;
        flow_table.expired += p.done.flow_table.expired;
        reads.push(p.done.read);
        flows.extend(p.done.rows);
        dns_frames.push(p.dns_frames);
        learned_frames.push(p.learned_frames);
        numbered.extend(p.numbered);
        // (The shares read as many captures: checked by `crossing`.)
        by_capture
            .iter_mut()
            .zip(p.captures)
            .for_each(|(c, captured)| c.push(captured));
    }
    let mut reports = names::reports_with(reads, &names, plan.cfg, plan.policy);
    dns_in_frame_order(&mut reports, dns_frames);
    learned_in_frame_order(&mut reports, learned_frames);
    let (outcomes, captures): (Vec<_>, Vec<_>) = by_capture
        .into_iter()
        .zip(ifaces)
        .map(|(shares, ifaces)| one_capture(shares, ifaces))
        .collect::<Result<Vec<_>, String>>()?
        .into_iter()
        .unzip();
    let first_pass = one_numbering(numbered, outcomes.len());
    Ok(Merged {
        outcomes,
        merged: summary::Merged {
            report: Report::merge(said_once(reports)),
            captures,
            flow_table,
            warnings: Vec::new(),
            end,
            flows: plan.flows.then_some(flows),
        },
        digests,
        first_pass,
    })
}

/// The shares' violating flows under one numbering, and their journals
/// (`--violations-pcap`), if the shares numbered their flows: each
/// share's numbers follow the flows of the shares before it.
fn one_numbering(shares: Vec<Numbered>, captures: usize) -> Option<FirstPass> {
    if shares.is_empty() {
        return None;
    }
    let mut first = FirstPass::default();
    first.add(0..captures, shares);
    Some(first)
}

/// The shares' reports for [`Report::merge`]: every share numbers the
/// capture alike (no renumbering), and the NIC-key findings, the same in
/// every share (checked), are said once.
fn said_once(reports: Vec<Report>) -> Vec<(Report, u32)> {
    let mut out = Vec::new();
    for mut report in reports {
        if !out.is_empty() {
            // The same in every share (checked): said once.
            let nics = &mut report.findings.nics;
            nics.conflicts.clear();
            nics.keys.iter_mut().for_each(|k| k.several.clear());
        }
        out.push((report, 0));
    }
    out
}

/// The shares' learned endpoints in the capture's order (by the frame each
/// came in), listed as one analyzer lists them: its first [`HISTORY_CAP`]
/// are among the shares' first that many. (A frame's announcements are
/// one share's, in their order: the sort is stable.)
fn learned_in_frame_order(reports: &mut [Report], frames: Vec<Vec<u64>>) {
    let parts = reports.iter_mut().zip(frames).map(|(r, f)| {
        let learned = std::mem::take(&mut r.learned_endpoints);
        f.into_iter().zip(learned).collect()
    });
    let mut all = names::in_frame_order(parts.collect::<Vec<_>>());
    all.truncate(HISTORY_CAP);
    if let Some(first) = reports.first_mut() {
        first.learned_endpoints = all;
    }
}

/// The shares' DNS violations in the capture's order (by the frame each
/// came from), kept and counted as one analyzer keeps them: its first
/// [`DNS_VIOLATIONS_CAP`] are among the shares' first that many.
fn dns_in_frame_order(reports: &mut [Report], frames: Vec<Vec<u64>>) {
    let total: u64 = reports
        .iter()
        .map(|r| r.dns_violations.len() as u64 + r.dns_violations_dropped)
        .sum();
    let parts = reports.iter_mut().zip(frames).map(|(r, f)| {
        r.dns_violations_dropped = 0;
        let kept = std::mem::take(&mut r.dns_violations);
        f.into_iter().zip(kept).collect()
    });
    let mut all = names::in_frame_order(parts.collect::<Vec<_>>());
    all.truncate(DNS_VIOLATIONS_CAP);
    if let Some(first) = reports.first_mut() {
        first.dns_violations_dropped = total - all.len() as u64;
        first.dns_violations = all;
    }
}
