//! Reading capture files into the analyzer: one pipeline for every
//! file-based command.

use std::fs::File;
use std::io::{self, Read};
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use analyzer::dedup::DedupMode;
use analyzer::flow::Slot;
use analyzer::state::FlowState;
use analyzer::{Analyzer, AnalyzerConfig, CaptureId, IfaceRef, Late, LateFrame};
use anyhow::{bail, Context, Result};
use capture::{CaptureFile, FileSource, Frame, FramedSource, Interface, Opening, Truncation};

pub use crate::duration::parse_duration;
use crate::flags::CaptureArgs;
use crate::node::NodeChoice;
use crate::progress::Progress;

/// One capture argument: a path (or `-`) and the name of its interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureSpec {
    /// Path, or `-` for standard input.
    pub path: String,
    /// `PATH=NAME`: names the file's unnamed interfaces.
    pub iface: Option<String>,
    /// Read on a thread of its own, ahead of the analysis (`--threads` > 1).
    pub read_ahead: bool,
    /// The `[hosts]` entry it was taken on (`audit --node`, inferred).
    pub node: NodeChoice,
}

impl CaptureSpec {
    /// Parses `PATH` or `PATH=NAME`. A path that exists as written wins over
    /// the split, so file names containing `=` still work.
    pub fn parse(arg: &str) -> Self {
        if let Some((path, name)) = arg.rsplit_once('=') {
            if !name.is_empty() && !path.is_empty() && !std::path::Path::new(arg).exists() {
                return CaptureSpec {
                    path: path.to_string(),
                    iface: Some(name.to_string()),
                    read_ahead: false,
                    node: NodeChoice::default(),
                };
            }
        }
        CaptureSpec {
            path: arg.to_string(),
            iface: None,
            read_ahead: false,
            node: NodeChoice::default(),
        }
    }

    /// Whether the capture is a regular file (not standard input, a pipe,
    /// a FIFO or a device, and there).
    pub fn is_regular(&self) -> bool {
        self.path != "-" && std::fs::metadata(&self.path).is_ok_and(|m| m.is_file())
    }

    /// Whether reading the capture again gives the same bytes: a regular
    /// file, or none (a missing file fails alike every time). Only such
    /// captures are read in parallel or twice (`--violations-pcap`).
    pub fn rereadable(&self) -> bool {
        self.is_regular() || (self.path != "-" && !Path::new(&self.path).exists())
    }
}

/// What reading one capture gave.
#[derive(Debug)]
pub struct CaptureOutcome {
    /// The analyzer's id for it (absent when it could not be opened).
    pub id: Option<CaptureId>,
    /// Its label.
    pub source: String,
    /// Why it is not (fully) a capture: not a capture at all, or a read error.
    pub error: Option<String>,
    /// Where a cut or corrupt tail stopped reading.
    pub truncated: Option<Truncation>,
    /// Oddities that did not stop reading.
    pub warnings: Vec<String>,
    /// Packets lost before they reached lanecheck (live capture: kernel,
    /// interface and queue drops; 0 for files).
    pub drops: u64,
    /// The file's interfaces as it describes them, each with the interned
    /// interface its frames are counted under (`None`: unnamed).
    pub interfaces: Vec<(Interface, Option<IfaceRef>)>,
    /// The `[hosts]` entry it was judged as taken on.
    pub node: NodeChoice,
}

/// The throughput bin length of `--bin`, in nanoseconds (at least 1 ms).
pub fn bin_ns(bin: &str) -> Result<i64> {
    let d = parse_duration(bin).context("--bin")?;
    if d.as_nanos() < 1_000_000 {
        bail!("--bin must be at least 1ms");
    }
    Ok(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Parses a size: `1048576`, `64k`, `32M`, `1G` (powers of 1024), also `MiB`-style.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .with_context(|| format!("invalid size {s:?} (examples: 1048576, 64k, 32M)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => bail!("invalid size unit {other:?} in {s:?} (use k, M or G)"),
    };
    n.checked_mul(mult)
        .with_context(|| format!("size {s:?} is too large"))
}

/// Refuses `--max-flows 0` (no flow could be held).
pub fn at_least_one_flow(max_flows: usize) -> Result<()> {
    if max_flows == 0 {
        bail!("--max-flows must be at least 1");
    }
    Ok(())
}

/// The analyzer settings the capture flags ask for.
pub fn analyzer_config(args: &CaptureArgs) -> Result<AnalyzerConfig> {
    let idle = parse_duration(&args.idle_timeout).context("--idle-timeout")?;
    if idle.is_zero() {
        bail!("--idle-timeout must be more than 0 s: every packet would start a flow of its own");
    }
    at_least_one_flow(args.max_flows)?;
    let window = parse_duration(&args.evidence_window).context("--evidence-window")?;
    let mut cfg = AnalyzerConfig::default();
    cfg.flows.max_flows = args.max_flows;
    cfg.flows.idle_timeout_ns = i64::try_from(idle.as_nanos()).unwrap_or(i64::MAX);
    cfg.evidence_window_ns = i64::try_from(window.as_nanos()).unwrap_or(i64::MAX);
    cfg.dedup = match args.dedup {
        crate::flags::Dedup::Off => DedupMode::Off,
        crate::flags::Dedup::Auto => DedupMode::Auto,
        crate::flags::Dedup::On => DedupMode::On,
    };
    Ok(cfg)
}

/// What a reading pass does with each frame besides analysing it
/// (`--violations-pcap` numbers flows and writes packets). The hot loop is
/// generic over it, so a pass with `()` costs nothing more.
pub trait Tap {
    /// The interface table of `source` (its frames' `iface` indexes it),
    /// each time it grew; `label` names the source.
    fn interfaces(&mut self, _source: u32, _label: &str, _ifaces: &[Interface]) {}
    /// The next frame the analyzer takes is frame `index` of the run
    /// (`Analyzer::frames_read` before it: every share numbers frames alike).
    #[inline(always)]
    fn at(&mut self, _index: u64) {}
    /// A frame of `source` the analyzer has just taken, with the flow it
    /// joined (none for non-IP and undecoded frames, and for a later IP
    /// fragment that came before its first: see [`Tap::late`]).
    fn frame(&mut self, source: u32, frame: &Frame<'_>, slot: Option<&mut Slot<FlowState>>);
    /// Frame `index` of the run (as [`Tap::at`] numbers them), of `source`,
    /// which [`Tap::frame`] was given without a flow, is counted in `slot`
    /// after all: what [`Tap::frame`] would have been given had the flow
    /// been known then (a later IP fragment held until its first fragment
    /// came, or until it was given up; `slot.ext.copy` for a later copy).
    fn late(&mut self, _source: u32, _index: u64, _slot: &mut Slot<FlowState>) {}
}

impl Tap for () {
    #[inline(always)]
    fn frame(&mut self, _: u32, _: &Frame<'_>, _: Option<&mut Slot<FlowState>>) {}
}

/// A tap when asked for.
impl<T: Tap> Tap for Option<T> {
    fn interfaces(&mut self, source: u32, label: &str, ifaces: &[Interface]) {
        if let Some(t) = self {
            t.interfaces(source, label, ifaces);
        }
    }

    #[inline]
    fn at(&mut self, index: u64) {
        if let Some(t) = self {
            t.at(index);
        }
    }

    #[inline]
    fn frame(&mut self, source: u32, frame: &Frame<'_>, slot: Option<&mut Slot<FlowState>>) {
        if let Some(t) = self {
            t.frame(source, frame, slot);
        }
    }

    fn late(&mut self, source: u32, index: u64, slot: &mut Slot<FlowState>) {
        if let Some(t) = self {
            t.late(source, index, slot);
        }
    }
}

/// A tap told of the frames the analyzer counts late (a capture's number
/// is its [`CaptureId`], as in [`Tap::frame`]).
struct Told<'a, T>(&'a mut T);

impl<T: Tap> Late for Told<'_, T> {
    fn frame(&mut self, f: &LateFrame, slot: &mut Slot<FlowState>) {
        self.0.late(f.capture.0, f.frame, slot);
    }
}

/// Two taps, each seeing every frame.
impl<A: Tap, B: Tap> Tap for (A, B) {
    fn interfaces(&mut self, source: u32, label: &str, ifaces: &[Interface]) {
        self.0.interfaces(source, label, ifaces);
        self.1.interfaces(source, label, ifaces);
    }

    #[inline]
    fn at(&mut self, index: u64) {
        self.0.at(index);
        self.1.at(index);
    }

    #[inline]
    fn frame(&mut self, source: u32, frame: &Frame<'_>, mut slot: Option<&mut Slot<FlowState>>) {
        self.0.frame(source, frame, slot.as_deref_mut());
        self.1.frame(source, frame, slot);
    }

    fn late(&mut self, source: u32, index: u64, slot: &mut Slot<FlowState>) {
        self.0.late(source, index, slot);
        self.1.late(source, index, slot);
    }
}

/// Which frames a reading pass analyses: every one (`()`), or one share
/// of the capture's flows ([`Shard`]); the others only move its clock.
pub trait Share {
    /// Whether `frame` of `capture` is this pass's to analyse.
    fn mine(&mut self, an: &Analyzer, frame: &Frame<'_>, capture: CaptureId) -> bool;
    /// Whether to stop reading (asked every few thousand frames).
    fn stop(&mut self, _an: &Analyzer) -> bool {
        false
    }
}

impl Share for () {
    #[inline(always)]
    fn mine(&mut self, _: &Analyzer, _: &Frame<'_>, _: CaptureId) -> bool {
        true
    }
}

/// Share `index` of `of` of a capture's flows, by [`Analyzer::shard_key`]
/// (frames without IP go to share 0). Every share stops once one sees the
/// shares cannot merge into one analyzer's result ([`Board::doomed`]).
#[derive(Clone, Copy, Debug)]
pub struct Shard<'a> {
    pub index: u64,
    pub of: u64,
    /// Flows one analyzer may hold (`--max-flows`).
    pub max_flows: usize,
    pub board: &'a Board,
    /// Announcements of this share's endpoints already on the board.
    pub published: usize,
}

/// Held by a worker of captures read at once or of shares: if it panics
/// (a bug), every flag it holds is raised, so the other workers stop
/// reading for a result that is thrown away (the captures are then read
/// one after another, as for any part lost).
pub struct OnPanic<'a>(pub &'a [&'a AtomicBool]);

impl Drop for OnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for flag in self.0 {
                flag.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// What the shares of one capture tell each other while they read.
#[derive(Debug, Default)]
pub struct Board {
    /// A share found that the shares cannot merge into one analyzer's result.
    pub doomed: AtomicBool,
    /// A share's thread panicked (a bug): its part is lost.
    pub lost: AtomicBool,
    /// The RPC endpoints the shares learned so far, each with its share.
    learned: Mutex<Vec<(u64, Endpoint)>>,
}

/// An endpoint as a new flow looks it up: server, protocol, port.
type Endpoint = (IpAddr, u8, u16);

impl Board {
    /// True when what `an`, share `index` of `of`, holds means the shares
    /// can no longer merge (the checks of `shard.rs` that are already
    /// certain): a table that, as full as this one, would fill one
    /// analyzer's; a tunnel; a names journal past its cap; an endpoint
    /// another share learned that this one's new flows looked up, or a
    /// list of announcements past its cap (the end would find them too).
    fn note(&self, index: u64, an: &Analyzer, max_flows: usize, of: u64) -> bool {
        let crowded = an.active_flows().saturating_mul(of as usize) >= max_flows;
        let k = an.knowledge();
        crowded
            || an.tunnels_seen() > 0
            || an.names_journal_full()
            || k.history_dropped > 0
            || self.learned.lock().is_ok_and(|l| {
                l.iter()
                    .any(|(share, e)| *share != index && an.looked_up(e))
            })
    }

    /// Puts the endpoints `an`, share `index`, announced since `from` on
    /// the board; how many it has announced in all.
    fn publish(&self, index: u64, an: &Analyzer, from: usize) -> usize {
        let history = an.knowledge().history();
        if history.len() > from {
            if let Ok(mut l) = self.learned.lock() {
                let new = history[from..]
                    .iter()
                    .filter_map(|e| Some((index, (e.server, e.proto, e.port?))));
                l.extend(new);
            }
        }
        history.len()
    }
}

impl Share for Shard<'_> {
    #[inline]
    fn mine(&mut self, an: &Analyzer, frame: &Frame<'_>, capture: CaptureId) -> bool {
        let key = an.shard_key(frame, capture);
        key.map_or(0, |k| k % self.of) == self.index
    }

    /// What [`Board::note`] finds means the capture will be read again
    /// on one analyzer: no share need read on.
    fn stop(&mut self, an: &Analyzer) -> bool {
        self.published = self.board.publish(self.index, an, self.published);
        if self.board.note(self.index, an, self.max_flows, self.of) {
            self.board.doomed.store(true, Ordering::Relaxed);
        }
        self.board.doomed.load(Ordering::Relaxed)
    }
}

/// The capture arguments as specs.
pub fn specs(args: &CaptureArgs) -> Vec<CaptureSpec> {
    let ahead = threads(args) > 1;
    args.captures
        .iter()
        .map(|a| CaptureSpec {
            read_ahead: ahead,
            ..CaptureSpec::parse(a)
        })
        .collect()
}

/// `--threads`, or the machine's cores.
pub fn threads(args: &CaptureArgs) -> usize {
    args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    )
}

/// Reads the capture arguments into `an`, reporting each unreadable one on
/// stderr (the run goes on with the others).
pub fn read_args(args: &CaptureArgs, an: &mut Analyzer) -> Vec<CaptureOutcome> {
    let outcomes = read_all(&specs(args), an, &mut (), &Progress::hidden());
    report_outcomes(&outcomes);
    outcomes
}

/// Tells on stderr which captures could not be read (or were cut).
pub fn report_outcomes(outcomes: &[CaptureOutcome]) {
    for o in outcomes {
        if let Some(e) = &o.error {
            eprintln!("lanecheck: {e}");
        }
        if let Some(t) = &o.truncated {
            log::info!("{}: truncated at byte {}: {}", o.source, t.offset, t.reason);
        }
    }
}

/// Reads every capture into `an`, in order, handing each frame to `tap`
/// (a capture's `source` number is its [`CaptureId`]). A capture that
/// cannot be read is reported in its outcome and does not stop the others.
pub fn read_all<T: Tap>(
    specs: &[CaptureSpec],
    an: &mut Analyzer,
    tap: &mut T,
    progress: &Progress,
) -> Vec<CaptureOutcome> {
    // Each capture is opened while the one before it is analysed: a
    // read-ahead capture's thread has its first blocks read by then.
    let mut next = specs.first().map(|s| Open::start(s, progress));
    let mut outcomes = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let this = next.take().unwrap_or_else(|| Open::start(spec, progress));
        next = specs.get(i + 1).map(|s| Open::start(s, progress));
        outcomes.push(read_open(spec, this, an, tap, &mut (), progress));
    }
    progress.finish();
    outcomes
}

/// A capture opened for reading (a read-ahead one already read on its
/// thread), or why it could not be.
pub struct Open(Result<Input, String>);

enum Input {
    Direct(Box<dyn Read + Send>),
    Ahead(Opening),
}

impl Open {
    /// Opens `spec`; a read-ahead capture starts being read.
    pub fn start(spec: &CaptureSpec, progress: &Progress) -> Self {
        let rd = match open(spec) {
            Ok(r) => progress.wrap(r),
            Err(e) => return Open(Err(format!("{}: cannot open: {e}", spec.path))),
        };
        Open(Ok(if spec.read_ahead {
            Input::Ahead(FramedSource::spawn(&spec.path, rd, spec.iface.clone()))
        } else {
            Input::Direct(rd)
        }))
    }
}

pub(crate) fn open(spec: &CaptureSpec) -> io::Result<Box<dyn Read + Send>> {
    if spec.path == "-" {
        return Ok(Box::new(io::stdin()));
    }
    let file = File::open(&spec.path)?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(io::Error::other("a directory, not a capture file"));
    }
    Ok(Box::new(file))
}

/// Reads one capture into `an`, analysing only the frames `share` says
/// are its own.
pub fn read_share<T: Tap, S: Share>(
    spec: &CaptureSpec,
    an: &mut Analyzer,
    tap: &mut T,
    share: &mut S,
    progress: &Progress,
) -> CaptureOutcome {
    read_open(spec, Open::start(spec, progress), an, tap, share, progress)
}

/// [`read_share`] of a capture already opened.
fn read_open<T: Tap, S: Share>(
    spec: &CaptureSpec,
    open: Open,
    an: &mut Analyzer,
    tap: &mut T,
    share: &mut S,
    progress: &Progress,
) -> CaptureOutcome {
    let label = spec.path.clone();
    let mut outcome = CaptureOutcome {
        id: None,
        source: label.clone(),
        error: None,
        truncated: None,
        warnings: Vec::new(),
        drops: 0,
        interfaces: Vec::new(),
        node: spec.node.clone(),
    };
    let opened = match open.0 {
        Err(e) => Err(e),
        Ok(Input::Ahead(o)) => o
            .wait()
            .map(|s| read_source(s, &mut outcome, an, tap, share, progress))
            .map_err(|e| e.to_string()),
        Ok(Input::Direct(rd)) => FileSource::new(&label, rd, spec.iface.clone())
            .map(|s| read_source(s, &mut outcome, an, tap, share, progress))
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = opened {
        outcome.error = Some(e);
    }
    outcome
}

/// Reads an opened capture into `an` (see [`read_share`]).
fn read_source<F: CaptureFile, T: Tap, S: Share>(
    mut src: F,
    outcome: &mut CaptureOutcome,
    an: &mut Analyzer,
    tap: &mut T,
    share: &mut S,
    progress: &Progress,
) {
    let label = outcome.source.clone();
    let id = an.add_capture(&label);
    an.set_node(id, outcome.node.name.as_deref());
    outcome.id = Some(id);
    let mut reading = Reading {
        an,
        id,
        label: &label,
        tap,
        share,
        progress,
        map: Vec::new(),
    };
    if let Err(e) = reading.feed(&mut src) {
        outcome.error = Some(format!("{e:#}"));
    }
    // Later fragments held for a first fragment this capture did not hold
    // are orphans here, whichever way the captures are read.
    reading.an.end_of_input(&mut Told(reading.tap));
    reading.register_ifaces(&src);
    outcome.interfaces = src.interfaces().iter().cloned().zip(reading.map).collect();
    let stats = src.stats();
    outcome.truncated = stats.truncated;
    outcome.warnings = stats.warnings;
}

/// One capture being read: where its frames go.
struct Reading<'a, T, S> {
    an: &'a mut Analyzer,
    id: CaptureId,
    label: &'a str,
    tap: &'a mut T,
    share: &'a mut S,
    progress: &'a Progress,
    /// The source's interface index → interned name.
    map: Vec<Option<IfaceRef>>,
}

impl<T: Tap, S: Share> Reading<'_, T, S> {
    /// Maps the source's interface table onto interned interfaces, and
    /// tells the analyzer who wrote the file (what copies it holds, how its
    /// NICs are named).
    fn register_ifaces<F: CaptureFile>(&mut self, src: &F) {
        let known = self.map.len();
        for iface in src.interfaces().iter().skip(known) {
            self.map.push(self.an.register_interface(self.id, iface));
        }
        let (producer, app) = (src.producer(), src.application());
        self.an.set_source(self.id, producer, app, self.map.len());
        if self.map.len() > known {
            self.tap.interfaces(self.id.0, self.label, src.interfaces());
        }
    }

    /// The hot loop: frames from the source straight into the analyzer.
    fn feed<F: CaptureFile>(&mut self, src: &mut F) -> Result<()> {
        const BATCH: u64 = 4096;
        let mut unshown = 0u64;
        loop {
            let frame = match src.next_frame()? {
                Some(f) => f,
                None => {
                    self.progress.packets(unshown);
                    return Ok(());
                }
            };
            unshown += 1;
            if unshown == BATCH {
                self.progress.packets(BATCH);
                unshown = 0;
                if self.share.stop(self.an) {
                    return Ok(());
                }
            }
            let ix = frame.iface.0 as usize;
            if let Some(r) = self.map.get(ix).copied() {
                self.take(&frame, r);
                continue;
            }
            // First frame on an interface we have not mapped yet (rare): copy
            // it, since it borrows the source whose table we must read. Every
            // share registers it here, whichever takes the frame: what the
            // file said of itself so far (its writer, its interface count)
            // decides which copies are collapsed from this frame on.
            let owned = frame.to_owned();
            self.register_ifaces(src);
            let r = self.map.get(ix).copied().flatten();
            self.take(&owned.as_frame(), r);
        }
    }

    /// One frame: analysed if it is this pass's, else it only moves the
    /// clock.
    #[inline]
    fn take(&mut self, frame: &Frame<'_>, iface: Option<IfaceRef>) {
        if self.share.mine(self.an, frame, self.id) {
            self.tap.at(self.an.frames_read());
            let slot = self
                .an
                .observe_late(frame, self.id, iface, &mut Told(self.tap));
            self.tap.frame(self.id.0, frame, slot);
        } else {
            self.an.pass(frame, self.id, &mut Told(self.tap));
        }
    }
}

/// Builds an analyzer for `args`.
pub fn new_analyzer(args: &CaptureArgs) -> Result<Analyzer> {
    Ok(Analyzer::new(analyzer_config(args)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An analyzer (keeping what shares merge) fed `frames`, 1 ms apart.
    fn fed(frames: &[Vec<u8>]) -> Analyzer {
        let mut an = Analyzer::new(AnalyzerConfig {
            merge_facts: true,
            ..AnalyzerConfig::default()
        });
        let id = an.add_capture("t");
        for (i, f) in frames.iter().enumerate() {
            let frame = Frame {
                ts: capture::Timestamp(1_700_000_000_000_000_000 + i as i64 * 1_000_000),
                iface: capture::IfaceId(0),
                link: capture::LinkType::ETHERNET,
                wire_len: f.len() as u32,
                data: f,
            };
            an.observe_slot(&frame, id, None);
        }
        an
    }

    #[test]
    fn the_board_stops_shares_when_one_uses_an_endpoint_another_learned() {
        let uuid = "3f6e1b8a-92c4-4d7e-b150-6a7c8d9e0f12";
        let server = [10, 10, 12, 100];
        // Share 0 learns server:49800 from its endpoint mapper and calls it;
        // share 1 holds another host's connection to that port.
        let a = fed(&fixgen::frames::epm_lookup_and_call(
            server, uuid, 49_800, 49_000,
        ));
        let call = [(true, vec![5; 100])];
        let b = fed(&fixgen::frames::tcp_talk(
            ([10, 10, 12, 150], server),
            (40_000, 49_800),
            &call,
        ));
        assert_eq!(a.knowledge().history().len(), 1);
        let board = Board::default();
        assert!(!board.note(1, &b, 1_000_000, 2), "nothing published yet");
        assert_eq!(board.publish(0, &a, 0), 1);
        assert!(board.note(1, &b, 1_000_000, 2), "share 1 used it");
        assert!(!board.note(0, &a, 1_000_000, 2), "its own");
        assert_eq!(board.publish(0, &a, 1), 1);
        assert_eq!(board.learned.lock().unwrap().len(), 1, "published once");
    }

    #[test]
    fn a_worker_that_panics_raises_its_flags_and_one_that_ends_does_not() {
        let (doomed, lost) = (AtomicBool::new(false), AtomicBool::new(false));
        std::thread::scope(|s| {
            let ended = s.spawn(|| {
                let _held = OnPanic(&[&doomed, &lost]);
            });
            assert!(ended.join().is_ok());
        });
        assert!(!doomed.load(Ordering::Relaxed) && !lost.load(Ordering::Relaxed));
        let flags = [&doomed, &lost];
        std::thread::scope(|s| {
            let panicked = s.spawn(|| {
                let _held = OnPanic(&flags);
                panic!("a bug");
            });
            assert!(panicked.join().is_err());
        });
        assert!(doomed.load(Ordering::Relaxed) && lost.load(Ordering::Relaxed));
    }

    #[test]
    fn capture_spec_splits_name() {
        assert_eq!(
            CaptureSpec::parse("no/such/eth1.pcap=eth1"),
            CaptureSpec {
                path: "no/such/eth1.pcap".into(),
                iface: Some("eth1".into()),
                read_ahead: false,
                node: NodeChoice::default(),
            }
        );
        assert_eq!(CaptureSpec::parse("-").iface, None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("2m").unwrap().as_secs(), 120);
        assert_eq!(parse_duration("1h").unwrap().as_secs(), 3600);
        assert_eq!(parse_duration("7").unwrap().as_secs(), 7);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32M").unwrap(), 32 << 20);
        assert_eq!(parse_size("64k").unwrap(), 65536);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3X").is_err());
    }
}
