//! Several captures audited at once: each on a worker thread with an
//! analyzer of its own, the reports merged as `lanecheck merge` merges
//! summaries. DNS names are shared exactly: each capture's queries and
//! answers, replayed in capture order as the workers finish, are the
//! names one run ends with, and the reports that need names are made with
//! those (`names.rs`). The rest is the sequential run's only when the
//! captures do not meet (no flow in two of them, no RPC endpoint learned
//! in one that a later one looks up, no SMB session knowledge crossing, no
//! fragments continuing, one run's table under `--max-flows`); every such
//! check is conservative, and when one fails the captures are read again
//! one after another. `tests/threads.rs` compares both ways over the
//! corpus and every fixture.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use analyzer::evidence::learned::ENDPOINT_CAP;
use analyzer::evidence::names::{NameEvent, Names};
use analyzer::flow::MAX_TUNNELS;
use analyzer::policy::Policy;
use analyzer::{Analyzer, AnalyzerConfig, Reach};

use crate::names::{self, Read};
use crate::output::{CaptureRow, FlowList, FlowRow, FlowTableRow};
use crate::pipeline::{self, CaptureOutcome, CaptureSpec, OnPanic};
use crate::progress::Progress;
use crate::seams::{self, Seams};
use crate::summary::{self, replay_clock, TableEnd, TableFacts};
use crate::violations_pcap::{FirstPass, Numbered, Numbering};

/// One capture audited alone.
struct Part {
    outcome: CaptureOutcome,
    row: CaptureRow,
    /// Its violating flows by number, how many flows it numbered, and its
    /// journal of each frame's (`--violations-pcap`).
    numbered: Option<Numbered>,
    done: Analysed,
}

/// What a part's analyzer (a capture audited alone, or a share of
/// captures) leaves for the merge.
pub struct Analysed {
    pub read: Read,
    /// Its flows (`--flows`).
    pub rows: Vec<FlowRow>,
    pub journal: Result<Vec<(u64, NameEvent)>, String>,
    pub flow_table: FlowTableRow,
    pub end: TableEnd,
    pub digests: Vec<u64>,
    pub reach: Reach,
}

/// The captures audited in parallel and merged.
pub struct Merged {
    /// What reading each capture gave, in order.
    pub outcomes: Vec<CaptureOutcome>,
    pub merged: summary::Merged,
    /// Every flow's digest, sorted (for `--save`).
    pub digests: Vec<u64>,
    /// The violating flows under one numbering, and the journals of each
    /// frame's number (`--violations-pcap`).
    pub first_pass: Option<FirstPass>,
}

impl Merged {
    /// What `--save` says of one run's flow table.
    pub fn table(&self) -> TableFacts {
        TableFacts {
            digests: self.digests.clone(),
            end: self.merged.end.clone(),
        }
    }
}

/// The parts' flow digests as one run's: sorted, each once.
pub fn all_digests(parts: impl Iterator<Item = Vec<u64>>) -> Vec<u64> {
    let mut all: Vec<u64> = parts.flatten().collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// What an audit on several threads is asked for (here and `shard.rs`).
#[derive(Clone, Copy)]
pub struct Plan<'a> {
    pub cfg: AnalyzerConfig,
    pub policy: &'a Policy,
    pub threads: usize,
    /// `--flows`: every flow's row, for the list.
    pub flows: bool,
    /// `--violations-pcap`: flows numbered, each frame's number journalled
    /// into this store, each analyzer's numbers offset by the flows of the
    /// analyzers before it.
    pub journals: Option<&'a crate::violations_pcap::Store>,
    pub progress: &'a Progress,
}

impl<'a> Plan<'a> {
    /// The plan of parts that merge: their analyzers keep what a merge
    /// needs to know.
    pub fn merging(self) -> Plan<'a> {
        Plan {
            cfg: AnalyzerConfig {
                merge_facts: true,
                ..self.cfg
            },
            ..self
        }
    }

    /// An analyzer for one part: what a merge needs is kept.
    pub fn analyzer(&self) -> Analyzer {
        let mut an = Analyzer::with_policy(self.cfg, self.policy.clone());
        if self.policy.reads_names() {
            an.keep_names_journal();
        }
        an.keep_table_sweeps();
        an
    }

    /// What `an`, which read capture set `part` (its flows' tunnel ids are
    /// that set's), leaves for the merge.
    pub fn analysed(&self, mut an: Analyzer, part: usize) -> Analysed {
        let stats = an.flow_stats();
        Analysed {
            journal: names::journal(&mut an),
            flow_table: FlowTableRow {
                evicted: stats.evicted,
                expired: stats.expired,
            },
            end: TableEnd::of(&an),
            digests: an.flow_digests(),
            reach: an.reach(),
            rows: match self.flows {
                true => FlowList::rows(&an, part),
                false => Vec::new(),
            },
            read: Read::new(an),
        }
    }
}

/// `read`, or `None` after saying why the parts cannot merge (`instead`:
/// what is done instead) and rewinding the progress bar for that.
pub fn settle<T>(read: Result<T, String>, progress: &Progress, instead: &str) -> Option<T> {
    match read {
        Ok(t) => {
            progress.finish();
            Some(t)
        }
        Err(why) => {
            log::info!("{instead}: {why}");
            progress.restart();
            None
        }
    }
}

/// Audits `specs` on up to `threads` workers; `None` when they must be
/// read one after another (fewer than two files, one that cannot be read
/// again as it was: standard input, a pipe, a FIFO; or captures that
/// meet).
pub fn audit(specs: &[CaptureSpec], plan: Plan<'_>) -> Option<Merged> {
    let (threads, progress) = (plan.threads, plan.progress);
    // A pipe a part read is used up if the parts meet and the captures
    // must be read again, one after another.
    if threads < 2 || specs.len() < 2 || !specs.iter().all(CaptureSpec::rereadable) {
        return None;
    }
    let plan = plan.merging();
    let read = run_parts(specs, plan).and_then(|(parts, names)| {
        match meeting(&parts, plan.cfg.flows.max_flows) {
            Some(why) => Err(why),
            None => Ok((parts, names)),
        }
    });
    let (parts, names) = settle(read, progress, "reading the captures one after another")?;
    log::info!(
        "read {} captures on {} threads, merged",
        parts.len(),
        threads.min(specs.len())
    );
    Some(merge(parts, &names, plan))
}

/// The captures' names journals replayed in capture order as the workers
/// finish them (a journal waits only for the captures before it).
#[derive(Default)]
struct Replay {
    next: usize,
    waiting: std::collections::BTreeMap<usize, Vec<(u64, NameEvent)>>,
    names: Names,
    failed: Option<String>,
}

impl Replay {
    fn add(&mut self, i: usize, journal: Result<Vec<(u64, NameEvent)>, String>) {
        match journal {
            Ok(events) => {
                self.waiting.insert(i, events);
            }
            Err(why) => self.failed = Some(why),
        }
        while let Some(events) = self.waiting.remove(&self.next) {
            self.names.apply(events.iter().map(|(_, e)| e));
            self.next += 1;
        }
    }
}

/// Every capture audited alone, in spec order, with the names of all of
/// them, or why they cannot merge (captures that meet where one ends and
/// the next begins, a journal past its cap, a worker's part lost).
fn run_parts(specs: &[CaptureSpec], plan: Plan<'_>) -> Result<(Vec<Part>, Names), String> {
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, Part)>> = Mutex::new(Vec::new());
    let replay = Mutex::new(Replay::default());
    let names = specs.iter().map(|s| s.path.clone()).collect();
    let seams = Seams::new(names, plan.cfg.flows.max_flows);
    // A worker that panicked (a bug) loses its part, and stops the others
    // (`OnPanic`): the captures are then read one after another, as for
    // any part lost.
    let stop = [&seams.doomed];
    let joined = std::thread::scope(|s| {
        let workers: Vec<_> = (0..plan.threads.min(specs.len()))
            .map(|_| {
                s.spawn(|| loop {
                    let _held = OnPanic(&stop);
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(spec) = specs.get(i) else { break };
                    let Some(mut part) = audit_one(spec, i, plan, &seams) else {
                        break;
                    };
                    let journal = std::mem::replace(&mut part.done.journal, Ok(Vec::new()));
                    if let Ok(mut r) = replay.lock() {
                        r.add(i, journal);
                    }
                    if let Ok(mut d) = done.lock() {
                        d.push((i, part));
                    }
                })
            })
            .collect();
        // Every worker joined before any result is looked at: one left
        // to the scope would re-raise its panic there.
        let joined: Vec<bool> = workers.into_iter().map(|w| w.join().is_ok()).collect();
        joined.into_iter().all(|ok| ok)
    });
    if let Some(why) = seams.why() {
        return Err(why);
    }
    let lost = || "a worker's part was lost".to_string();
    if !joined {
        return Err(lost());
    }
    let mut parts = done.into_inner().map_err(|_| lost())?;
    let replay = replay.into_inner().map_err(|_| lost())?;
    if let Some(why) = replay.failed {
        return Err(why);
    }
    if parts.len() != specs.len() || replay.next != specs.len() {
        return Err(lost());
    }
    parts.sort_by_key(|(i, _)| *i);
    Ok((parts.into_iter().map(|(_, p)| p).collect(), replay.names))
}

/// One capture audited alone, or `None` once captures met (nothing of
/// it would be used: no report, rows or journal are made for it).
fn audit_one(spec: &CaptureSpec, i: usize, plan: Plan<'_>, seams: &Seams) -> Option<Part> {
    if seams.doomed.load(Ordering::Relaxed) {
        return None;
    }
    let spec = CaptureSpec {
        read_ahead: false,
        ..spec.clone()
    };
    let mut an = plan.analyzer();
    let numbers = plan.journals.map(Numbering::new);
    let mut tap = (seams::Start::new(seams, i), numbers);
    let mut watch = seams::Watch::new(seams, i);
    let outcome = pipeline::read_share(&spec, &mut an, &mut tap, &mut watch, plan.progress);
    tap.0.finish();
    seams.ended(i, &an);
    if seams.doomed.load(Ordering::Relaxed) {
        watch.finish();
        return None;
    }
    let part = Part {
        row: CaptureRow::new(&an, &outcome),
        numbered: tap.1.map(|n| n.finish(&an)),
        outcome,
        done: plan.analysed(an, i),
    };
    // What a part keeps for the merge is small beside its flow table,
    // unless it keeps its analyzer (to report again with every part's
    // names): then its flows still count.
    if part.done.read.kept.is_none() {
        watch.finish();
    }
    Some(part)
}

/// Why one run over the captures in order could differ from the merged
/// parts, if it could.
fn meeting(parts: &[Part], max_flows: usize) -> Option<String> {
    let name = |i: usize| parts[i].row.source.clone();
    let mut owner: HashMap<u64, usize> = HashMap::new();
    for (j, p) in parts.iter().enumerate() {
        for d in &p.done.digests {
            if let Some(i) = owner.insert(*d, j) {
                return Some(format!("{} and {} hold the same flow", name(i), name(j)));
            }
        }
    }
    for (j, p) in parts.iter().enumerate() {
        for (i, earlier) in parts[..j].iter().enumerate() {
            let (e, r) = (&earlier.done.reach, &p.done.reach);
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
            &parts.iter().map(|p| p.done.end.clone()).collect::<Vec<_>>(),
            max_flows,
        )
        .crowded
        .map(|n| format!("one run would hold {n} flows, beyond --max-flows"))
    })
}

/// Fragments continuing from an earlier capture, a tunnel in several
/// captures, or caps one run would reach.
fn knowledge_crossing(parts: &[Part]) -> Option<String> {
    for (j, p) in parts.iter().enumerate() {
        let continues = |e: &Part| match &p.done.reach.orphan_trains {
            Some(o) => e.done.reach.open_trains.iter().any(|t| o.contains(t)),
            None => !e.done.reach.open_trains.is_empty(),
        };
        if parts[..j].iter().any(continues) {
            return Some("IP fragments may continue from an earlier capture".into());
        }
    }
    let mut tunnels = rustc_hash::FxHashSet::default();
    for p in parts {
        if p.done.reach.tunnel_keys.iter().any(|t| !tunnels.insert(*t)) {
            return Some("a tunnel is seen in several captures".into());
        }
    }
    let learned: usize = parts.iter().map(|p| p.done.reach.learned.len()).sum();
    (tunnels.len() >= MAX_TUNNELS || learned >= ENDPOINT_CAP)
        .then(|| "one run would reach a memory cap".into())
}

/// The parts as one report, as `lanecheck merge` makes it, with the
/// names of all the captures.
fn merge(parts: Vec<Part>, names: &Names, plan: Plan<'_>) -> Merged {
    let mut outcomes = Vec::new();
    let mut reads = Vec::new();
    let mut rest = Vec::new();
    let mut digests = Vec::new();
    let mut rows = Vec::new();
    let mut first_pass: Option<FirstPass> = None;
    for (i, p) in parts.into_iter().enumerate() {
        if let Some(n) = p.numbered {
            first_pass
                .get_or_insert_with(FirstPass::default)
                .add(i..i + 1, vec![n]);
        }
        outcomes.push(p.outcome);
        let done = p.done;
        reads.push(done.read);
        digests.push(done.digests);
        rows.extend(done.rows);
        rest.push((p.row, done.flow_table, done.end));
    }
    let reports = names::reports_with(reads, names, plan.cfg, plan.policy);
    let shares = reports
        .into_iter()
        .zip(rest)
        .map(|(report, (row, flow_table, end))| summary::Part {
            report,
            captures: vec![row],
            flow_table,
            end,
        })
        .collect();
    let mut merged = summary::combine(shares, plan.cfg.flows.max_flows);
    merged.flows = plan.flows.then_some(rows);
    Merged {
        outcomes,
        merged,
        digests: all_digests(digests.into_iter()),
        first_pass,
    }
}
