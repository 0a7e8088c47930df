//! Several captures audited at once: each on a worker thread with an
//! analyzer of its own, the reports merged as `lanecheck merge` merges
//! summaries. The result is the sequential run's only when the captures do
//! not meet (no flow in two of them, nothing learned in one that a later
//! one looks up, no DNS or SMB session knowledge crossing, no fragments
//! continuing, one run's table under `--max-flows`); every such check is
//! conservative, and when one fails the captures are read again one after
//! another. `tests/threads.rs` compares both ways over the corpus and
//! every fixture.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use analyzer::evidence::learned::ENDPOINT_CAP;
use analyzer::evidence::names::NAMES_CAP;
use analyzer::flow::MAX_TUNNELS;
use analyzer::policy::Policy;
use analyzer::{Analyzer, AnalyzerConfig, Reach, Report};

use crate::output::{CaptureRow, FlowTableRow};
use crate::pipeline::{self, CaptureOutcome, CaptureSpec};
use crate::progress::Progress;
use crate::summary::{self, replay_clock, TableEnd};

/// One capture audited alone.
struct Part {
    outcome: CaptureOutcome,
    row: CaptureRow,
    report: Report,
    flow_table: FlowTableRow,
    end: TableEnd,
    digests: Vec<u64>,
    reach: Reach,
}

/// The captures audited in parallel and merged.
pub struct Merged {
    /// What reading each capture gave, in order.
    pub outcomes: Vec<CaptureOutcome>,
    pub merged: summary::Merged,
}

/// Audits `specs` on up to `threads` workers; `None` when they must be
/// read one after another (fewer than two files, standard input, or
/// captures that meet).
pub fn audit(
    specs: &[CaptureSpec],
    cfg: AnalyzerConfig,
    policy: &Policy,
    threads: usize,
    progress: &Progress,
) -> Option<Merged> {
    if threads < 2 || specs.len() < 2 || specs.iter().any(|s| s.path == "-") {
        return None;
    }
    let cfg = AnalyzerConfig {
        merge_facts: true,
        ..cfg
    };
    let parts = run_parts(specs, cfg, policy, threads, progress)?;
    if let Some(why) = meeting(&parts, cfg.flows.max_flows) {
        log::info!("reading the captures one after another: {why}");
        progress.restart();
        return None;
    }
    progress.finish();
    log::info!(
        "read {} captures on {} threads, merged",
        parts.len(),
        threads.min(specs.len())
    );
    Some(merge(parts, cfg.flows.max_flows))
}

/// Every capture audited alone, in spec order (`None` if a worker's part
/// was lost: the captures are then read one after another).
fn run_parts(
    specs: &[CaptureSpec],
    cfg: AnalyzerConfig,
    policy: &Policy,
    threads: usize,
    progress: &Progress,
) -> Option<Vec<Part>> {
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, Part)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.min(specs.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(spec) = specs.get(i) else { break };
                let part = audit_one(spec, cfg, policy.clone(), progress);
                if let Ok(mut d) = done.lock() {
                    d.push((i, part));
                }
            });
        }
    });
    let mut parts = done.into_inner().ok()?;
    if parts.len() != specs.len() {
        return None;
    }
    parts.sort_by_key(|(i, _)| *i);
    Some(parts.into_iter().map(|(_, p)| p).collect())
}

fn audit_one(spec: &CaptureSpec, cfg: AnalyzerConfig, policy: Policy, progress: &Progress) -> Part {
    let spec = CaptureSpec {
        read_ahead: false,
        ..spec.clone()
    };
    let mut an = Analyzer::with_policy(cfg, policy);
    let outcome = pipeline::read_one(&spec, &mut an, &mut (), progress);
    let stats = an.flow_stats();
    Part {
        row: CaptureRow::new(&an, &outcome),
        report: an.report(),
        flow_table: FlowTableRow {
            evicted: stats.evicted,
            expired: stats.expired,
        },
        end: TableEnd::of(&an),
        digests: an.flow_digests(),
        reach: an.reach(),
        outcome,
    }
}

/// Why one run over the captures in order could differ from the merged
/// parts, if it could.
fn meeting(parts: &[Part], max_flows: usize) -> Option<String> {
    let name = |i: usize| parts[i].row.source.clone();
    let mut owner: HashMap<u64, usize> = HashMap::new();
    for (j, p) in parts.iter().enumerate() {
        for d in &p.digests {
            if let Some(i) = owner.insert(*d, j) {
                return Some(format!("{} and {} hold the same flow", name(i), name(j)));
            }
        }
    }
    for (j, p) in parts.iter().enumerate() {
        for (i, earlier) in parts[..j].iter().enumerate() {
            let (e, r) = (&earlier.reach, &p.reach);
            if !e.learned_all || e.learned.iter().any(|x| r.looked_up.contains(x)) {
                return Some(format!(
                    "{} learned an RPC endpoint a flow of {} uses",
                    name(i),
                    name(j)
                ));
            }
            if !e.smb_all || !r.smb_all || e.smb_learned.iter().any(|s| r.smb_looked_up.contains(s))
            {
                return Some(format!(
                    "{} saw share paths of an SMB session {} encrypts",
                    name(i),
                    name(j)
                ));
            }
        }
    }
    knowledge_crossing(parts).or_else(|| {
        replay_clock(
            &parts.iter().map(|p| p.end.clone()).collect::<Vec<_>>(),
            max_flows,
        )
        .crowded
        .map(|n| format!("one run would hold {n} flows, beyond --max-flows"))
    })
}

/// DNS answers explaining another capture's fallbacks or answering its
/// queries, SMB sessions in several captures, fragments continuing from an
/// earlier capture, or caps one run would reach.
fn knowledge_crossing(parts: &[Part]) -> Option<String> {
    let needs_dns = |p: &Part| {
        !p.report.findings.fallbacks.is_empty()
            || p.report
                .findings
                .dns_rules
                .iter()
                .any(|(_, r)| !r.unanswered.is_empty())
    };
    // Names remembered in one capture can matter to another that needs
    // them, unless one capture is the only one with either.
    let with_names: Vec<usize> = (0..parts.len())
        .filter(|i| parts[*i].reach.names > 0)
        .collect();
    let needing: Vec<usize> = (0..parts.len()).filter(|i| needs_dns(&parts[*i])).collect();
    let alone = with_names.len() == 1 && needing == with_names;
    if !with_names.is_empty() && !needing.is_empty() && !alone {
        return Some("DNS answers of one capture may explain another's".into());
    }
    for (j, p) in parts.iter().enumerate() {
        let continues = |e: &Part| match &p.reach.orphan_trains {
            Some(o) => e.reach.open_trains.iter().any(|t| o.contains(t)),
            None => !e.reach.open_trains.is_empty(),
        };
        if parts[..j].iter().any(continues) {
            return Some("IP fragments may continue from an earlier capture".into());
        }
    }
    let mut tunnels = rustc_hash::FxHashSet::default();
    for p in parts {
        if p.reach.tunnel_keys.iter().any(|t| !tunnels.insert(*t)) {
            return Some("a tunnel is seen in several captures".into());
        }
    }
    let names: usize = parts.iter().map(|p| p.reach.names).sum();
    let learned: usize = parts.iter().map(|p| p.reach.learned.len()).sum();
    (names >= NAMES_CAP || tunnels.len() >= MAX_TUNNELS || learned >= ENDPOINT_CAP)
        .then(|| "one run would reach a memory cap".into())
}

/// The parts as one report, as `lanecheck merge` makes it.
fn merge(parts: Vec<Part>, max_flows: usize) -> Merged {
    let mut outcomes = Vec::new();
    let shares = parts
        .into_iter()
        .map(|p| {
            outcomes.push(p.outcome);
            summary::Part {
                report: p.report,
                captures: vec![p.row],
                flow_table: p.flow_table,
                end: p.end,
            }
        })
        .collect();
    Merged {
        outcomes,
        merged: summary::combine(shares, max_flows),
    }
}
