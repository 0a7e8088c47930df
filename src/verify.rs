//! `lanecheck verify`: live capture on every NIC around a command, then the
//! audit report plus per-NIC capture health and the command's outcome.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use analyzer::class::ClassId;
use analyzer::flow::Slot;
use analyzer::policy::Policy;
use analyzer::report::Verdict;
use analyzer::state::FlowState;
use analyzer::{Analyzer, CaptureId, IfaceRef, Late, LateFrame};
use anyhow::{bail, Context, Result};
use capture::{LiveConfig, LiveNic, LiveSource, PcapNgOut, Poll};

use crate::expect::Expect;
use crate::flags::{LiveArgs, VerifyArgs};
use crate::node::NodeChoice;
use crate::output::{self, CommandReport, Document, LiveInfo, NicReport};
use crate::pipeline::{parse_duration, parse_size, CaptureOutcome};
use crate::violations_pcap::{FlowNumbers, Journal, LivePcap, Wanted, Written};
use crate::Outcome;

/// Which NICs to capture on ([`choose_nics`]), by name.
pub fn select_nics(args: &LiveArgs, policy: &Policy) -> Result<Vec<String>> {
    Ok(choose_nics(args, policy, false)?
        .into_iter()
        .map(|n| n.name)
        .collect())
}

/// A NIC to capture, and whether it was named (by `--iface` or the
/// policy's `[interfaces]`) rather than found on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    pub name: String,
    pub named: bool,
}

/// The NICs to capture: exactly those of `--iface`; else the policy's
/// `[interfaces]` names and every other NIC of the host that is not
/// loopback and is up (or, `with_down`, up or not): traffic that leaves
/// by a NIC the policy forgot is still seen, and judged by its addresses;
/// else every such NIC.
pub fn choose_nics(args: &LiveArgs, policy: &Policy, with_down: bool) -> Result<Vec<Chosen>> {
    let chosen =
        |names: Vec<String>, named| names.into_iter().map(move |name| Chosen { name, named });
    if !args.ifaces.is_empty() {
        return Ok(chosen(args.ifaces.clone(), true).collect());
    }
    let named = named_nics(policy);
    let host = match host_nics(with_down) {
        Ok(host) => host,
        Err(e) if !named.is_empty() => {
            log::warn!("capturing only the policy's NICs: {e:#}");
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    let others = host.into_iter().filter(|n| !named.contains(n)).collect();
    let all: Vec<Chosen> = chosen(named, true).chain(chosen(others, false)).collect();
    if all.is_empty() {
        bail!("no interface to capture on: none is up (name some with --iface)");
    }
    Ok(all)
}

/// The host's NICs that are not loopback and are up (or, `with_down`, up
/// or not).
fn host_nics(with_down: bool) -> Result<Vec<String>> {
    Ok(capture::system_ifaces()?
        .into_iter()
        .filter(|i| (i.up || with_down) && !i.loopback)
        .map(|i| i.name)
        .collect())
}

/// The policy's NICs by name: a GUID, index or MAC key names an interface
/// of a capture file, not a NIC to open here; and a `HOST/KEY` key only
/// says what a NIC is on HOST (it changes how a NIC captured anyway is
/// judged, never which NICs are captured).
pub fn named_nics(policy: &Policy) -> Vec<String> {
    (0..policy.nic_key_count())
        .filter(|&k| policy.nic_key_host(k).is_none())
        .filter_map(|k| policy.nic_key(k))
        .filter(|(_, key, _)| matches!(key, analyzer::policy::NicKey::Name(_)))
        .map(|(text, _, _)| text.to_string())
        .collect()
}

/// The libpcap settings the flags ask for.
pub fn live_config(args: &LiveArgs) -> Result<LiveConfig> {
    let buffer = parse_size(&args.buffer_size).context("--buffer-size")?;
    if args.snaplen < 64 {
        bail!("--snaplen must be at least 64 bytes (Ethernet, IP and TCP headers)");
    }
    Ok(LiveConfig {
        snaplen: args.snaplen,
        buffer_size: u32::try_from(buffer).context("--buffer-size must be under 4 GiB")?,
        promisc: args.promisc,
        filter: args.filter.clone(),
    })
}

/// When capture ends.
struct Plan {
    start: Instant,
    duration: Option<Duration>,
    until_idle: Option<Duration>,
    settle: Duration,
    timeout: Option<Duration>,
}

impl Plan {
    fn new(args: &VerifyArgs) -> Result<Self> {
        let opt = |v: &Option<String>, flag: &'static str| {
            v.as_deref().map(parse_duration).transpose().context(flag)
        };
        Ok(Plan {
            start: Instant::now(),
            duration: opt(&args.duration, "--duration")?,
            until_idle: opt(&args.until_idle, "--until-idle")?,
            settle: parse_duration(&args.settle).context("--settle")?,
            timeout: opt(&args.timeout, "--timeout")?,
        })
    }
}

/// Appends a frame to the `--write` file; after the first error, stops
/// writing and remembers it.
fn save<W: std::io::Write>(
    writer: &mut Option<PcapNgOut<W>>,
    f: &capture::Frame<'_>,
    error: &mut Option<String>,
) -> bool {
    let Some(w) = writer.as_mut() else {
        return false;
    };
    if let Err(e) = w.write(f) {
        log::error!("{e}; no longer saving the capture");
        *error = Some(e.to_string());
        *writer = None;
        return false;
    }
    true
}

/// An analyzer for live capture on `nics`: one capture and one interface
/// per NIC, in order, on host `node` (its `HOST/KEY` keys apply).
pub fn live_analyzer(
    cfg: analyzer::AnalyzerConfig,
    policy: Policy,
    (nics, node): (&[String], Option<&str>),
) -> (Analyzer, Vec<(CaptureId, IfaceRef)>) {
    let mut an = Analyzer::with_policy(cfg, policy);
    let ids = nics
        .iter()
        .map(|n| {
            let c = an.add_capture(n);
            an.set_node(c, node);
            let r = an.intern_iface(c, n);
            an.capture_has_iface(c, r);
            (c, r)
        })
        .collect();
    (an, ids)
}

/// Feeds one captured frame to the analyzer and numbers its flow (for
/// `--violations-pcap`): the flow's class and number (0: none).
fn observe(
    an: &mut Analyzer,
    numbering: &mut Numbering<'_>,
    f: &capture::Frame<'_>,
    (cap, iface): (CaptureId, IfaceRef),
) -> (Option<ClassId>, u32) {
    match an.observe_late(f, cap, Some(iface), numbering) {
        // A copy met at another place is not spooled as the flow's.
        Some(slot) => {
            let n = numbering.numbers.number(slot);
            (slot.ext.class, if slot.ext.copy { 0 } else { n })
        }
        None => (None, 0),
    }
}

/// The flow numbers of `--violations-pcap`, and the journal of the frames
/// spooled, told of the frames the analyzer counts late (later IP
/// fragments held for their first): each gets its flow's number where it
/// was journalled without one (a frame not spooled is passed over).
struct Numbering<'a> {
    numbers: &'a mut FlowNumbers,
    journal: Option<&'a mut Journal>,
}

impl Late for Numbering<'_> {
    fn frame(&mut self, f: &LateFrame, slot: &mut Slot<FlowState>) {
        let n = self.numbers.number(slot);
        if let Some(j) = self.journal.as_deref_mut().filter(|_| !slot.ext.copy) {
            j.late(f.frame, n);
        }
    }
}

/// Kills the command and every process under it, parents first (none
/// then starts another): a trigger script's data mover, left running,
/// went on sending after the report was written.
fn kill_tree(child: &mut Child) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let Ok(root) = i32::try_from(child.id()) else {
        let _ = child.kill();
        return;
    };
    let under = descendants(root);
    let _ = child.kill();
    for pid in under {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// The processes under `root` now, parents before their children (from
/// each process's parent in /proc/PID/stat). Written here: nix lists no
/// processes, and the procfs crate would be a new dependency for one field.
fn descendants(root: i32) -> Vec<i32> {
    let parent = |pid: i32| -> Option<i32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "PID (COMM) STATE PPID …": COMM may hold spaces and parentheses.
        let rest = &stat[stat.rfind(')')? + 1..];
        rest.split_whitespace().nth(1)?.parse().ok()
    };
    let all: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, parent(pid)?)))
        .collect();
    let mut out = vec![root];
    let mut i = 0;
    while let Some(&p) = out.get(i) {
        out.extend(all.iter().filter(|(_, pp)| *pp == p).map(|(pid, _)| *pid));
        i += 1;
    }
    out.remove(0);
    out
}

/// Runs a command with its output on our stderr.
fn spawn(argv: &[String]) -> Result<Child> {
    Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::inherit())
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::from(std::io::stderr()))
        .spawn()
        .with_context(|| format!("cannot run {:?}", argv[0]))
}

/// Runs `verify`.
pub fn run(args: &VerifyArgs) -> Result<Outcome> {
    let inputs: Vec<_> = crate::paths::policy(&args.policy).into_iter().collect();
    let outputs = [
        ("--output", args.report.output.as_deref()),
        ("--write", args.write.as_deref()),
        ("--violations-pcap", args.report.violations_pcap.as_deref()),
    ];
    crate::paths::check(&inputs, &outputs)?;
    crate::output::ready(args.report.output.as_deref())?;
    let policy = crate::derive::policy(&args.policy)?;
    let expect = Expect::new(&args.expect, &policy)?;
    let plan = Plan::new(args)?;
    crate::pipeline::at_least_one_flow(args.max_flows)?;
    let nics = select_nics(&args.live, &policy)?;
    let node = crate::node::local(args.live.node.as_deref(), &policy)?;
    let cfg = live_config(&args.live)?;
    let opened: Vec<LiveNic> = nics
        .iter()
        .map(|n| LiveNic::open(n, &cfg))
        .collect::<Result<_, _>>()?;
    let pcap = match &args.report.violations_pcap {
        Some(p) => Some(LivePcap::new(p, args.write.as_deref())?),
        None => None,
    };
    let mut acfg = analyzer::AnalyzerConfig::default();
    acfg.flows.max_flows = args.max_flows;
    acfg.bin_ns = crate::pipeline::bin_ns(&args.report.bin)?;
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&interrupted))
            .context("installing signal handlers")?;
    }
    let spool = pcap.as_ref().map(|p| p.spool.path());
    let on = (&nics[..], node.name.as_deref());
    let mut s = Session::start(acfg, policy, on, opened, args.write.as_deref().or(spool))?;
    s.sink.journal = pcap.as_ref().map(LivePcap::journal);
    log::info!(
        "capturing on {}{}",
        nics.join(", "),
        crate::node::judged_as(&node)
    );
    // Capture is running on every NIC: now start the command.
    if !args.command.is_empty() {
        s.child = Some(spawn(&args.command)?);
    }
    let ended_by = s.capture(&plan, &expect, &interrupted, &args.command);
    s.stop(&plan, &args.command);
    finish(
        args,
        s,
        pcap,
        &Ended {
            plan,
            config: cfg,
            expect,
            ended_by,
            nics,
            node,
        },
    )
}

/// One capture around the command: where each frame goes, the command,
/// and what has been seen of the expected traffic.
struct Session {
    src: LiveSource,
    sink: Sink,
    child: Option<Child>,
    command: Option<CommandReport>,
    /// Errors after the verdict was proven: warnings, never a lost verdict.
    late_errors: Vec<String>,
    exited_at: Option<Instant>,
    last_expected: Option<Instant>,
    expected_seen: BTreeMap<ClassId, ()>,
}

/// Where each captured frame goes: the analyzer, the `--write` (or spool)
/// file, and the journal of `--violations-pcap`.
struct Sink {
    an: Analyzer,
    ids: Vec<(CaptureId, IfaceRef)>,
    numbers: FlowNumbers,
    /// `--violations-pcap`: each spooled frame's flow number.
    journal: Option<Journal>,
    /// A failing --write (disk full) must not cost the verdict: capture goes
    /// on, the report says the file is incomplete.
    writer: Option<PcapNgOut<BufWriter<File>>>,
    write_error: Option<String>,
}

impl Sink {
    /// One captured frame: saved (with its flow's number, when the spool
    /// of `--violations-pcap` has it) and analysed; its flow's class.
    fn take(&mut self, f: &capture::Frame<'_>) -> Option<ClassId> {
        let saved = save(&mut self.writer, f, &mut self.write_error);
        let at = self.ids[f.iface.0 as usize];
        let mut numbering = Numbering {
            numbers: &mut self.numbers,
            journal: self.journal.as_mut(),
        };
        let (class, n) = observe(&mut self.an, &mut numbering, f, at);
        if let Some(j) = self.journal.as_mut().filter(|_| saved) {
            j.put(n);
        }
        class
    }

    /// Capture is over: the later IP fragments still held for their first
    /// are orphans now, their flows numbered and their frames journalled.
    fn end_of_input(&mut self) {
        let mut numbering = Numbering {
            numbers: &mut self.numbers,
            journal: self.journal.as_mut(),
        };
        self.an.end_of_input(&mut numbering);
    }
}

impl Session {
    /// Starts capture on the opened NICs and the `--write` (or spool) file.
    fn start(
        acfg: analyzer::AnalyzerConfig,
        policy: Policy,
        nics: (&[String], Option<&str>),
        opened: Vec<LiveNic>,
        save_to: Option<&std::path::Path>,
    ) -> Result<Self> {
        let (an, ids) = live_analyzer(acfg, policy, nics);
        let src = LiveSource::start(opened);
        let writer = match save_to {
            Some(p) => {
                let f =
                    File::create(p).with_context(|| format!("cannot create {}", p.display()))?;
                let mut w = PcapNgOut::new(
                    &p.display().to_string(),
                    BufWriter::with_capacity(1 << 20, f),
                )?;
                w.declare(capture::FrameSource::interfaces(&src))?;
                Some(w)
            }
            None => None,
        };
        Ok(Session {
            src,
            sink: Sink {
                an,
                ids,
                numbers: FlowNumbers::default(),
                journal: None,
                writer,
                write_error: None,
            },
            child: None,
            command: None,
            late_errors: Vec::new(),
            exited_at: None,
            last_expected: None,
            expected_seen: BTreeMap::new(),
        })
    }

    /// Captures until the plan says stop; returns why it stopped.
    fn capture(
        &mut self,
        plan: &Plan,
        expect: &Expect,
        interrupted: &AtomicBool,
        argv: &[String],
    ) -> String {
        let mut since_check = 0u32;
        loop {
            match self.src.poll_frame(Duration::from_millis(50)) {
                Poll::Frame(f) => {
                    let class = self.sink.take(&f);
                    if let Some(class) = class.filter(|c| expect.classes().contains(c)) {
                        self.last_expected = Some(Instant::now());
                        self.expected_seen.insert(class, ());
                    }
                    since_check += 1;
                    if since_check < 4096 {
                        continue;
                    }
                }
                Poll::Idle => {}
                Poll::Ended => return "every capture thread ended".into(),
            }
            since_check = 0;
            self.check_command(plan, argv);
            if interrupted.load(Ordering::SeqCst) {
                return "interrupted".into();
            }
            if let Some(why) = self.done(plan, expect, argv) {
                return why.into();
            }
        }
    }

    /// Notes the command's exit. A failed wait is not allowed to lose what
    /// capture proved: it is reported, and the command counts as failed.
    fn check_command(&mut self, plan: &Plan, argv: &[String]) {
        let Some(c) = self.child.as_mut() else { return };
        let waited = c.try_wait().map_err(|e| {
            self.late_errors
                .push(format!("waiting for the command failed: {e}"));
        });
        if matches!(waited, Ok(None)) {
            return;
        }
        self.exited_at = Some(Instant::now());
        self.command = Some(command_report(argv, waited.ok().flatten(), plan));
        self.child = None;
    }

    /// Whether capture is over by the plan (and why).
    fn done(&self, plan: &Plan, expect: &Expect, argv: &[String]) -> Option<&'static str> {
        let now = Instant::now();
        if plan.timeout.is_some_and(|t| now - plan.start >= t) {
            return Some("--timeout reached");
        }
        if plan.duration.is_some_and(|d| now - plan.start >= d) {
            return Some("--duration reached");
        }
        if let (Some(idle), None) = (plan.until_idle, self.child.as_ref()) {
            if let Some(why) = self.idle_done(plan, idle, expect, argv, now) {
                return Some(why);
            }
        }
        let waits_for_other = plan.duration.is_some() || plan.until_idle.is_some();
        match self.exited_at {
            Some(at) if !waits_for_other && now - at >= plan.settle => {
                Some("command exited and --settle elapsed")
            }
            _ => None,
        }
    }

    /// `--until-idle`: the trigger has finished and the traffic it caused
    /// went quiet.
    fn idle_done(
        &self,
        plan: &Plan,
        idle: Duration,
        expect: &Expect,
        argv: &[String],
        now: Instant,
    ) -> Option<&'static str> {
        let done_at = self.exited_at.unwrap_or(plan.start);
        let quiet_since = self.last_expected.map_or(done_at, |l| l.max(done_at));
        let all_seen = self.expected_seen.len() == expect.classes().len();
        // With a trigger command, give the job --settle + --until-idle after
        // it exits to show up at all; without one, wait (or --timeout).
        let gave_up = !argv.is_empty() && now - done_at >= plan.settle + idle;
        if now - quiet_since < idle || !(all_seen || gave_up) {
            return None;
        }
        Some(if all_seen {
            "every expected class seen and idle"
        } else {
            "expected traffic not seen within --settle + --until-idle after the command"
        })
    }

    /// Stops capture, takes the frames the threads still hand over, stops
    /// the command if it still runs (--timeout, --duration, Ctrl-C) and
    /// closes the `--write` file.
    fn stop(&mut self, plan: &Plan, argv: &[String]) {
        self.src.stop();
        loop {
            match self.src.poll_frame(Duration::from_millis(200)) {
                Poll::Frame(f) => {
                    self.sink.take(&f);
                }
                Poll::Idle => {}
                Poll::Ended => break,
            }
        }
        if let Some(mut c) = self.child.take() {
            kill_tree(&mut c);
            let status = c
                .wait()
                .map_err(|e| {
                    self.late_errors
                        .push(format!("waiting for the command failed: {e}"))
                })
                .ok();
            self.command = Some(command_report(argv, status, plan));
        }
        if let Some(w) = self.sink.writer.take() {
            if let Err(e) = w.finish() {
                self.sink.write_error.get_or_insert(e.to_string());
            }
        }
    }
}

fn command_report(
    argv: &[String],
    status: Option<std::process::ExitStatus>,
    plan: &Plan,
) -> CommandReport {
    CommandReport::new(
        argv,
        status.and_then(|s| s.code()),
        status.and_then(|s| s.signal()),
        plan.start.elapsed(),
    )
}

/// How capture ended, and what the report needs of the run.
struct Ended {
    plan: Plan,
    /// The libpcap settings every NIC was opened with.
    config: LiveConfig,
    expect: Expect,
    ended_by: String,
    nics: Vec<String>,
    /// The `[hosts]` entry this host is (`--node`, the host name).
    node: NodeChoice,
}

/// The warning of a capture filter: what it left out was never checked.
fn filter_warning(filter: &str) -> String {
    format!(
        "capture filter {filter:?} (--filter): traffic it left out was neither counted nor checked"
    )
}

/// With packets lost before lanecheck saw them, a violation's counts are
/// what was seen of it: the lost packets may have been its own.
fn lower_bound(nics: &[NicReport], violations: usize) -> Option<String> {
    let lost: u64 = nics
        .iter()
        .map(|n| n.kernel_drops + n.iface_drops + n.queue_drops)
        .sum();
    (lost > 0 && violations > 0).then(|| {
        format!(
            "{lost} packets were dropped before lanecheck saw them: each violation's bytes and packets are at least those shown (the lost packets may have been its own, or other traffic never checked)"
        )
    })
}

/// Each NIC's capture entry: its drops, nothing else gone wrong.
fn capture_outcomes(
    nics: &[NicReport],
    ids: impl Iterator<Item = CaptureId>,
    node: &NodeChoice,
) -> Vec<CaptureOutcome> {
    nics.iter()
        .zip(ids)
        .map(|(n, c)| CaptureOutcome {
            id: Some(c),
            source: n.name.clone(),
            error: None,
            truncated: None,
            warnings: Vec::new(),
            drops: n.kernel_drops + n.iface_drops + n.queue_drops,
            interfaces: Vec::new(),
            node: node.clone(),
        })
        .collect()
}

/// The report: verdict, NIC health, the command, `--violations-pcap`.
fn finish(args: &VerifyArgs, mut s: Session, pcap: Option<LivePcap>, e: &Ended) -> Result<Outcome> {
    s.sink.end_of_input();
    let Session {
        src,
        sink:
            Sink {
                an,
                ids,
                write_error,
                journal,
                ..
            },
        command,
        mut late_errors,
        ..
    } = s;
    let nic_reports: Vec<NicReport> = e
        .nics
        .iter()
        .zip(src.counters())
        .map(|(n, c)| NicReport::from_counters(n, c))
        .collect();
    let report = an.report();
    // What the second pass needs of the analyzer, taken now: it is
    // dropped before the spool is read again.
    let second = pcap.map(|p| {
        let expected = Written::violations(&report);
        (p, Wanted::from_analyzer(&an), expected)
    });
    let packets = an.captures().iter().map(|c| c.packets).sum();
    let mut reasons = e.expect.missing(&report, an.policy(), packets);
    reasons.extend(nic_reports.iter().filter_map(NicReport::problem));
    if let Some(c) = command.as_ref().filter(|c| !c.success) {
        reasons.push(format!("the command {}", c.describe()));
    }
    let verdict = crate::expect::verdict(&report, &reasons);
    let outcomes = capture_outcomes(&nic_reports, ids.iter().map(|(c, _)| *c), &e.node);
    let mut caveats = e.expect.caveats(an.policy(), true);
    caveats.extend(e.config.filter.as_deref().map(filter_warning));
    caveats.extend(lower_bound(&nic_reports, report.violations.len()));
    let live = LiveInfo {
        config: e.config.clone(),
        nics: nic_reports,
        command,
        ended_by: e.ended_by.clone(),
        duration: e.plan.start.elapsed(),
    };
    let mut doc = Document::new(&an, report, &outcomes, args.report.flows)
        .with_verdict(verdict, reasons)
        .with_caveats(caveats)
        .with_live(live);
    drop(an);
    let pcap_warnings = match (second, journal) {
        (Some((p, wanted, expected)), Some(journal)) => p.write(wanted, &expected, journal),
        _ => Vec::new(),
    };
    doc.warnings.append(&mut late_errors);
    doc.warnings.extend(pcap_warnings);
    if let Some(err) = write_error {
        let what = match &args.write {
            Some(_) => "the saved capture",
            None => "the spool of --violations-pcap (and so its file)",
        };
        doc.warnings.push(format!("{err}; {what} stops there"));
    }
    output::write_report(&args.report, &doc)?;
    Ok(match verdict {
        Verdict::Fail => Outcome::Fail,
        Verdict::Inconclusive => Outcome::Inconclusive,
        Verdict::Pass => Outcome::Pass,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(kernel: u64, iface: u64, queue: u64) -> NicReport {
        NicReport {
            name: "eth0".into(),
            packets: 10,
            bytes: 1000,
            kernel_drops: kernel,
            iface_drops: iface,
            queue_drops: queue,
            failed: false,
        }
    }

    #[test]
    fn violations_seen_with_drops_are_lower_bounds() {
        let nics = [nic(3, 0, 1), nic(0, 5, 0)];
        let said = lower_bound(&nics, 2).expect("a warning");
        assert!(said.starts_with("9 packets were dropped"), "{said}");
        assert!(said.contains("at least those shown"), "{said}");
        // No violation, or nothing lost: nothing to say.
        assert_eq!(lower_bound(&nics, 0), None);
        assert_eq!(lower_bound(&[nic(0, 0, 0)], 2), None);
    }
}
