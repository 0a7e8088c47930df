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
use analyzer::policy::Policy;
use analyzer::report::Verdict;
use analyzer::{Analyzer, CaptureId, IfaceRef};
use anyhow::{bail, Context, Result};
use capture::{LiveConfig, LiveNic, LiveSource, PcapNgOut, Poll};

use crate::expect::Expect;
use crate::flags::{LiveArgs, VerifyArgs};
use crate::output::{self, CommandReport, LiveInfo, NicReport, ReportView};
use crate::pipeline::{parse_duration, parse_size, CaptureOutcome};
use crate::Outcome;

/// Which NICs to capture on: `--iface`, else the policy's interfaces, else
/// every interface that is up and not loopback.
pub fn select_nics(args: &LiveArgs, policy: &Policy) -> Result<Vec<String>> {
    if !args.ifaces.is_empty() {
        return Ok(args.ifaces.clone());
    }
    // The policy's NICs by name: a GUID, index or MAC key names an
    // interface of a capture file, not a NIC to open here.
    let named: Vec<String> = policy
        .interfaces
        .keys()
        .filter(|k| {
            matches!(
                analyzer::policy::NicKey::parse(k),
                Ok(analyzer::policy::NicKey::Name(_))
            )
        })
        .cloned()
        .collect();
    if !named.is_empty() {
        return Ok(named);
    }
    let all: Vec<String> = capture::system_ifaces()?
        .into_iter()
        .filter(|i| i.up && !i.loopback)
        .map(|i| i.name)
        .collect();
    if all.is_empty() {
        bail!("no interface to capture on: none is up (name some with --iface)");
    }
    Ok(all)
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

/// Appends a frame to the `--write` file; after the first error, stops
/// writing and remembers it.
fn save<W: std::io::Write>(
    writer: &mut Option<PcapNgOut<W>>,
    f: &capture::Frame<'_>,
    error: &mut Option<String>,
) {
    if let Some(w) = writer.as_mut() {
        if let Err(e) = w.write(f) {
            log::error!("{e}; no longer saving the capture");
            *error = Some(e.to_string());
            *writer = None;
        }
    }
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
    let policy = crate::derive::policy(&args.policy)?;
    let expect = Expect::new(&args.expect, &policy)?;
    let plan = Plan {
        start: Instant::now(),
        duration: args
            .duration
            .as_deref()
            .map(parse_duration)
            .transpose()
            .context("--duration")?,
        until_idle: args
            .until_idle
            .as_deref()
            .map(parse_duration)
            .transpose()
            .context("--until-idle")?,
        settle: parse_duration(&args.settle).context("--settle")?,
        timeout: args
            .timeout
            .as_deref()
            .map(parse_duration)
            .transpose()
            .context("--timeout")?,
    };
    let bin_ns = crate::pipeline::bin_ns(&args.report.bin)?;
    let nics = select_nics(&args.live, &policy)?;
    let cfg = live_config(&args.live)?;
    let opened: Vec<LiveNic> = nics
        .iter()
        .map(|n| LiveNic::open(n, &cfg))
        .collect::<Result<_, _>>()?;

    let mut acfg = analyzer::AnalyzerConfig::default();
    acfg.flows.max_flows = args.max_flows.max(1);
    acfg.bin_ns = bin_ns;
    let mut an = Analyzer::with_policy(acfg, policy);
    let ids: Vec<(CaptureId, IfaceRef)> = nics
        .iter()
        .map(|n| {
            let c = an.add_capture(n);
            let r = an.intern_iface(n);
            an.capture_has_iface(c, r);
            (c, r)
        })
        .collect();

    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&interrupted))
            .context("installing signal handlers")?;
    }
    let mut src = LiveSource::start(opened);
    let mut writer = match &args.write {
        Some(p) => {
            let f = File::create(p).with_context(|| format!("cannot create {}", p.display()))?;
            let mut w = PcapNgOut::new(
                &p.display().to_string(),
                BufWriter::with_capacity(1 << 20, f),
            )?;
            w.declare(capture::FrameSource::interfaces(&src))?;
            Some(w)
        }
        None => None,
    };
    log::info!("capturing on {}", nics.join(", "));

    // Capture is running on every NIC: now start the command.
    // A failing --write (disk full) must not cost the verdict: capture goes
    // on, the report says the file is incomplete.
    let mut write_error: Option<String> = None;
    let mut child = if args.command.is_empty() {
        None
    } else {
        Some(spawn(&args.command)?)
    };
    let mut command: Option<CommandReport> = None;
    let mut late_errors: Vec<String> = Vec::new();
    let mut exited_at: Option<Instant> = None;
    let mut last_expected: Option<Instant> = None;
    let mut expected_seen: BTreeMap<ClassId, ()> = BTreeMap::new();
    let ended_by: String;
    let mut since_check = 0u32;
    loop {
        match src.poll_frame(Duration::from_millis(50)) {
            Poll::Frame(f) => {
                save(&mut writer, &f, &mut write_error);
                let (cap, iface) = ids[f.iface.0 as usize];
                if let Some(class) = an.observe(&f, cap, Some(iface)) {
                    if expect.classes().contains(&class) {
                        last_expected = Some(Instant::now());
                        expected_seen.insert(class, ());
                    }
                }
                since_check += 1;
                if since_check < 4096 {
                    continue;
                }
            }
            Poll::Idle => {}
            Poll::Ended => {
                ended_by = "every capture thread ended".into();
                break;
            }
        }
        since_check = 0;
        if let Some(c) = child.as_mut() {
            // A failed wait is not allowed to lose what capture proved: it
            // is reported, and the command counts as failed.
            let waited = c.try_wait().map_err(|e| {
                late_errors.push(format!("waiting for the command failed: {e}"));
            });
            if !matches!(waited, Ok(None)) {
                let status = waited.ok().flatten();
                exited_at = Some(Instant::now());
                command = Some(CommandReport::new(
                    &args.command,
                    status.and_then(|s| s.code()),
                    status.and_then(|s| s.signal()),
                    plan.start.elapsed(),
                ));
                child = None;
            }
        }
        let now = Instant::now();
        if interrupted.load(Ordering::SeqCst) {
            ended_by = "interrupted".into();
            break;
        }
        if plan.timeout.is_some_and(|t| now - plan.start >= t) {
            ended_by = "--timeout reached".into();
            break;
        }
        if plan.duration.is_some_and(|d| now - plan.start >= d) {
            ended_by = "--duration reached".into();
            break;
        }
        if let (Some(idle), None) = (plan.until_idle, child.as_ref()) {
            // The trigger has finished and the traffic it caused went quiet.
            let done_at = exited_at.unwrap_or(plan.start);
            let quiet_since = last_expected.map_or(done_at, |l| l.max(done_at));
            let all_seen = expected_seen.len() == expect.classes().len();
            // With a trigger command, give the job --settle + --until-idle
            // after it exits to show up at all; without one, wait (or --timeout).
            let gave_up = !args.command.is_empty() && now - done_at >= plan.settle + idle;
            if now - quiet_since >= idle && (all_seen || gave_up) {
                ended_by = if all_seen {
                    "every expected class seen and idle".into()
                } else {
                    "expected traffic not seen within --settle + --until-idle after the command"
                        .into()
                };
                break;
            }
        }
        let waits_for_other = plan.duration.is_some() || plan.until_idle.is_some();
        if let Some(at) = exited_at {
            if !waits_for_other && now - at >= plan.settle {
                ended_by = "command exited and --settle elapsed".into();
                break;
            }
        }
    }
    src.stop();
    // Frames the threads still hand over after the stop.
    loop {
        match src.poll_frame(Duration::from_millis(200)) {
            Poll::Frame(f) => {
                save(&mut writer, &f, &mut write_error);
                let (cap, iface) = ids[f.iface.0 as usize];
                an.observe(&f, cap, Some(iface));
            }
            Poll::Idle => {}
            Poll::Ended => break,
        }
    }
    if let Some(mut c) = child.take() {
        // Still running when capture ended (--timeout, --duration, Ctrl-C).
        let _ = c.kill();
        let status = c
            .wait()
            .map_err(|e| late_errors.push(format!("waiting for the command failed: {e}")))
            .ok();
        command = Some(CommandReport::new(
            &args.command,
            status.and_then(|s| s.code()),
            status.and_then(|s| s.signal()),
            plan.start.elapsed(),
        ));
    }
    if let Some(w) = writer {
        if let Err(e) = w.finish() {
            write_error.get_or_insert(e.to_string());
        }
    }

    let nic_reports: Vec<NicReport> = nics
        .iter()
        .zip(src.counters())
        .map(|(n, c)| NicReport::from_counters(n, c))
        .collect();
    let report = an.report();
    let packets = an.captures().iter().map(|c| c.packets).sum();
    let mut reasons = expect.missing(&report, an.policy(), packets);
    for n in &nic_reports {
        if let Some(r) = n.problem() {
            reasons.push(r);
        }
    }
    if let Some(c) = &command {
        if !c.success {
            reasons.push(format!("the command {}", c.describe()));
        }
    }
    let verdict = crate::expect::verdict(&report, &reasons);
    let outcomes: Vec<CaptureOutcome> = nic_reports
        .iter()
        .zip(&ids)
        .map(|(n, (c, _))| CaptureOutcome {
            id: Some(*c),
            source: n.name.clone(),
            error: None,
            truncated: None,
            warnings: Vec::new(),
            drops: n.kernel_drops + n.iface_drops + n.queue_drops,
            interfaces: Vec::new(),
        })
        .collect();
    let live = LiveInfo {
        nics: nic_reports,
        command,
        ended_by,
        duration: plan.start.elapsed(),
    };
    let view = ReportView::new(&an, &report, &outcomes, args.report.flows)
        .with_verdict(verdict, reasons)
        .with_live(live);
    let mut view = view;
    view.warnings.append(&mut late_errors);
    if let Some(e) = write_error {
        view.warnings
            .push(format!("{e}; the saved capture stops there"));
    }
    output::write_report(&args.report, &view)?;
    Ok(match verdict {
        Verdict::Fail => Outcome::Fail,
        Verdict::Inconclusive => Outcome::Inconclusive,
        Verdict::Pass => Outcome::Pass,
    })
}
