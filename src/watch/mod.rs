//! `lanecheck watch`: the daemon. One loop owns the analyzer, the alert
//! engine and the metrics; capture threads feed it frames, a tick (1 s of
//! wall time) drives reminders, expiry, capture health and the metrics page.
//! Signals only set flags the loop reads.

mod alerts;
mod metrics;
mod privileges;
mod sinks;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use analyzer::class::ClassId;
use analyzer::flow::{FlowKey, Slot};
use analyzer::policy::{NetId, Policy, Status};
use analyzer::state::FlowState;
use analyzer::{Analyzer, AnalyzerConfig, CaptureId, IfaceRef};
use anyhow::{Context, Result};
use capture::{LiveConfig, LiveNic, LiveSource, NicCounters, Poll};
use rustc_hash::FxHashMap;

use self::alerts::{Engine, Event, Evidence, LeakKey, Timing};
use self::metrics::{Metrics, TrafficLabels};
use self::sinks::Sinks;
use crate::flags::WatchArgs;
use crate::output::proto_name;
use crate::pipeline::parse_duration;
use crate::{config, verify, Outcome};

const TICK: Duration = Duration::from_secs(1);
/// Longest wait between attempts to reopen a lost interface.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Health of one NIC as the daemon reports it.
struct NicState {
    name: String,
    lost: bool,
    retry_at: Instant,
    backoff: Duration,
    last_drops: u64,
    dropping: bool,
}

/// Everything the loop owns.
struct Daemon {
    policy: Policy,
    policy_path: std::path::PathBuf,
    an: Analyzer,
    acfg: AnalyzerConfig,
    ids: Vec<(CaptureId, IfaceRef)>,
    names: Vec<String>,
    engine: Engine,
    sinks: Sinks,
    metrics: Metrics,
    /// Counts since the last tick, keyed by ids.
    pending: Pending,
    /// Class names by id, shared by leak keys.
    class_names: Vec<Arc<str>>,
    events: Vec<Event>,
    nics: Vec<NicState>,
    live_cfg: LiveConfig,
    /// Evictions of the current flow table already added to the metric.
    evicted_seen: u64,
    /// Flows waiting for their evidence, by due time.
    waiting: VecDeque<(Instant, FlowKey)>,
    /// DNS violations alerted, by (rule, name, answers), for the re-alert period.
    dns_seen: HashMap<(usize, String, String), Instant>,
    evidence_wait: Duration,
}

/// Runs the daemon until SIGTERM/SIGINT.
pub fn run(args: &WatchArgs) -> Result<Outcome> {
    let policy = config::load(&args.policy)?;
    let nics = verify::select_nics(&args.live, &policy)?;
    let live_cfg = verify::live_config(&args.live)?;
    let opened: Vec<LiveNic> = nics
        .iter()
        .map(|n| LiveNic::open(n, &live_cfg))
        .collect::<Result<_, _>>()?;
    let timing = Timing {
        realert: parse_duration(&args.realert).context("--realert")?,
        quiet: parse_duration(&args.quiet).context("--quiet")?,
        burst: (args.alert_rate * 5.0).max(1.0),
        per_sec: args.alert_rate.max(0.01),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("signal handlers")?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))
        .context("signal handlers")?;
    // Open every file and socket while still privileged, then drop root
    // before any thread starts (capabilities are per thread).
    let metrics_addr = args.metrics.clone();
    let listener = metrics_addr
        .as_deref()
        .map(metrics::Server::bind)
        .transpose()?;
    let alert_file = args
        .alerts
        .as_deref()
        .map(sinks::LineSink::open)
        .transpose()?;
    privileges::drop_to(&args.user)?;
    let server = listener.map(metrics::Server::serve).transpose()?;
    let sinks = Sinks::new(
        alert_file,
        &args.webhook,
        args.syslog.then_some(args.syslog_socket.as_path()),
    )?;

    let mut acfg = daemon_config();
    acfg.flows.max_flows = args.max_flows.max(1);
    acfg.flows.idle_timeout_ns = i64::try_from(timing.quiet.as_nanos())
        .unwrap_or(i64::MAX)
        .max(60_000_000_000);
    let now = Instant::now();
    let mut d = Daemon {
        an: Analyzer::with_policy(acfg, policy.clone()),
        policy,
        policy_path: args.policy.clone(),
        acfg,
        ids: Vec::new(),
        names: nics.clone(),
        engine: Engine::new(timing, now),
        sinks,
        metrics: Metrics::default(),
        pending: Pending::default(),
        class_names: Vec::new(),
        events: Vec::new(),
        nics: nics
            .iter()
            .map(|n| NicState {
                name: n.clone(),
                lost: false,
                retry_at: now,
                backoff: Duration::from_secs(1),
                last_drops: 0,
                dropping: false,
            })
            .collect(),
        live_cfg,
        evicted_seen: 0,
        waiting: VecDeque::new(),
        dns_seen: HashMap::new(),
        evidence_wait: parse_duration(&args.evidence_wait).context("--evidence-wait")?,
    };
    d.register_nics();
    d.class_names = class_names(&d.policy);
    let mut src = LiveSource::start(opened);
    log::info!("watching {}", nics.join(", "));
    let mut next_tick = Instant::now() + TICK;
    let mut packets = 0u64;
    loop {
        if let Poll::Frame(f) = src.poll_frame(Duration::from_millis(100)) {
            packets += 1;
            d.on_frame(&f);
            if !d.events.is_empty() {
                d.flush_events();
            }
            if !packets.is_multiple_of(1024) && Instant::now() < next_tick {
                continue;
            }
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if hup.swap(false, Ordering::SeqCst) {
            d.reload();
        }
        let now = Instant::now();
        if now >= next_tick {
            next_tick = now + TICK;
            d.tick(&mut src, now);
            if let Some(s) = &server {
                if let Ok(mut page) = s.page.lock() {
                    *page = d.metrics.render();
                }
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(4);
    src.stop();
    while let Poll::Frame(f) = src.poll_frame(Duration::from_millis(100)) {
        d.on_frame(&f);
        if Instant::now() >= deadline {
            break;
        }
    }
    d.flush_events();
    let alerts: u64 = d.metrics.alerts.values().sum();
    let leaks = d.metrics.alerts.get("leak").copied().unwrap_or(0);
    d.sinks.close(deadline);
    if let Some(s) = server {
        s.stop();
    }
    eprintln!(
        "lanecheck watch: stopped after {packets} packets; {alerts} alert events ({leaks} leaks)"
    );
    Ok(Outcome::Pass)
}

impl Daemon {
    fn register_nics(&mut self) {
        self.ids = self
            .names
            .iter()
            .map(|n| {
                let c = self.an.add_capture(n);
                let r = self.an.intern_iface(n);
                (c, r)
            })
            .collect();
    }

    fn on_frame(&mut self, f: &capture::Frame<'_>) {
        let Some(&(cap, iface)) = self.ids.get(f.iface.0 as usize) else {
            return;
        };
        let Some(slot) = self.an.observe_slot(f, cap, Some(iface)) else {
            return;
        };
        let Some(class) = slot.ext.class else { return };
        let wire = u64::from(f.wire_len);
        let verdict = &slot.ext.verdict;
        // Counted by id (no allocation per packet); names are resolved once
        // a tick in `fold_counts`.
        for &net in &slot.ext.nets {
            let e = self
                .pending
                .traffic
                .entry((class, net, iface, verdict.status))
                .or_insert((0, 0));
            e.0 += 1;
            e.1 += wire;
        }
        *self.pending.second.entry(class).or_insert(0) += wire;
        // A flow whose payload may still change its class waits for that
        // evidence (bounded by --evidence-wait) before it is judged.
        let age = Duration::from_nanos(f.ts.0.saturating_sub(slot.flow.first_seen.0).max(0) as u64);
        // The queue holds at most one entry per tracked flow.
        let room = self.waiting.len() < self.acfg.flows.max_flows;
        if slot.ext.open && age < self.evidence_wait && room {
            if slot.ext.mark & mark::QUEUED == 0 {
                slot.ext.mark |= mark::QUEUED;
                let due = Instant::now() + (self.evidence_wait - age);
                self.waiting.push_back((due, slot.flow.key));
            }
            return;
        }
        let mut judge = Judge {
            policy: &self.policy,
            names: &self.names,
            class_names: &self.class_names,
            engine: &mut self.engine,
            events: &mut self.events,
            pending: &mut self.pending,
        };
        judge.flow(slot, iface, wire);
        self.dns_violations();
    }

    /// DNS answers that broke a `[[dns]]` rule: one `dns-violation` event
    /// per (rule, name, answer) at most once per `--realert`.
    fn dns_violations(&mut self) {
        let found = self.an.take_dns_violations();
        if found.is_empty() {
            return;
        }
        let now = Instant::now();
        let realert = self.engine.realert();
        for d in found {
            let answers: Vec<String> = d
                .answers
                .iter()
                .map(|(ip, net, ttl)| format!("{ip} ({net}, TTL {ttl} s)"))
                .collect();
            let key = (d.rule, d.name.clone(), answers.join(","));
            if self
                .dns_seen
                .get(&key)
                .is_some_and(|t| now.duration_since(*t) < realert)
            {
                continue;
            }
            if self.dns_seen.len() >= 10_000 {
                self.dns_seen
                    .retain(|_, t| now.duration_since(*t) < realert);
            }
            self.dns_seen.insert(key, now);
            let mut e = Event::plain(
                "dns-violation",
                None,
                format!(
                    "{} answered {}: {} (dns rule {})",
                    d.name,
                    if answers.is_empty() {
                        "no address".to_string()
                    } else {
                        answers.join(", ")
                    },
                    d.reason,
                    d.rule
                ),
            );
            e.class = Some("dns".into());
            e.client = Some(d.client);
            e.server = Some(d.server);
            self.events.push(e);
        }
    }

    /// Judges the flows whose evidence wait is over.
    fn judge_waiting(&mut self, now: Instant) {
        while let Some(&(due, key)) = self.waiting.front() {
            if due > now {
                break;
            }
            self.waiting.pop_front();
            let Some(slot) = self.an.slot_mut(&key) else {
                continue;
            };
            let Some(iface) = slot.flow.ifaces.last().map(|s| s.iface) else {
                continue;
            };
            let mut judge = Judge {
                policy: &self.policy,
                names: &self.names,
                class_names: &self.class_names,
                engine: &mut self.engine,
                events: &mut self.events,
                pending: &mut self.pending,
            };
            judge.flow(slot, iface, 0);
        }
    }

    /// Moves the id-keyed counts of the last tick into the named metrics
    /// (also before a reload changes what the ids mean).
    fn fold_counts(&mut self) {
        let p = std::mem::take(&mut self.pending);
        let policy = &self.policy;
        let net_name =
            |n: Option<NetId>| n.map_or("unknown", |n| policy.network_name(n)).to_string();
        for ((class, net, iface, status), (packets, bytes)) in p.traffic {
            let labels = TrafficLabels {
                class: policy.class_name(class).to_string(),
                network: net_name(net),
                interface: self
                    .names
                    .get(iface.0 as usize)
                    .cloned()
                    .unwrap_or_default(),
                status: status.as_str(),
            };
            let e = self.metrics.traffic.entry(labels).or_insert((0, 0));
            e.0 += packets;
            e.1 += bytes;
        }
        for ((class, net), n) in p.violations {
            let key = (policy.class_name(class).to_string(), net_name(net));
            *self.metrics.violations.entry(key).or_insert(0) += n;
        }
        let second: HashMap<String, u64> = p
            .second
            .into_iter()
            .map(|(c, b)| (policy.class_name(c).to_string(), b))
            .collect();
        self.metrics.push_second(&second);
    }

    fn flush_events(&mut self) {
        for e in std::mem::take(&mut self.events) {
            *self.metrics.alerts.entry(e.kind).or_insert(0) += 1;
            self.sinks.emit(&e);
        }
    }

    fn tick(&mut self, src: &mut LiveSource, now: Instant) {
        self.health(src, now);
        for (i, c) in src.counters().iter().enumerate() {
            let name = self
                .nics
                .get(i)
                .map_or("?", |n| n.name.as_str())
                .to_string();
            let up = !self.nics.get(i).is_some_and(|n| n.lost);
            self.metrics.capture.insert(name, snapshot(c, up));
        }
        self.tick_core(now);
    }

    /// The once-a-second work that needs no capture source: flows whose
    /// evidence wait is over, alert reminders and endings, metrics.
    fn tick_core(&mut self, now: Instant) {
        self.judge_waiting(now);
        self.engine.tick(now, &mut self.events);
        self.flush_events();
        self.fold_counts();
        self.metrics.active_leaks = self.engine.active().into_iter().collect();
        let fs = self.an.flow_stats();
        self.metrics.flows_tracked = fs.active;
        // The table's own count restarts with each policy reload.
        self.metrics.flows_evicted += fs.evicted.saturating_sub(self.evicted_seen);
        self.evicted_seen = fs.evicted;
        self.metrics.sinks = self
            .sinks
            .counters
            .iter()
            .map(|(n, c)| {
                (
                    *n,
                    (
                        c.delivered.load(Ordering::Relaxed),
                        c.dropped.load(Ordering::Relaxed),
                    ),
                )
            })
            .collect();
    }

    /// Interfaces gone, down or dropping packets → `capture-lost`; back → `capture-restored`.
    fn health(&mut self, src: &mut LiveSource, now: Instant) {
        for i in 0..self.nics.len() {
            let Some(c) = src.counters().get(i).cloned() else {
                continue;
            };
            let nic = &mut self.nics[i];
            if c.failed.load(Ordering::SeqCst) && !nic.lost {
                nic.lost = true;
                nic.backoff = Duration::from_secs(1);
                nic.retry_at = now + nic.backoff;
                self.events.push(Event::plain(
                    "capture-lost",
                    Some(nic.name.clone()),
                    "interface gone or down".into(),
                ));
            }
            if nic.lost && now >= nic.retry_at {
                match LiveNic::open(&nic.name, &self.live_cfg) {
                    Ok(h) => {
                        src.restart(i, h);
                        nic.lost = false;
                        self.events.push(Event::plain(
                            "capture-restored",
                            Some(nic.name.clone()),
                            "capturing again".into(),
                        ));
                    }
                    Err(e) => {
                        log::debug!("{}: still lost: {e}", nic.name);
                        nic.backoff = (nic.backoff * 2).min(MAX_BACKOFF);
                        nic.retry_at = now + nic.backoff;
                    }
                }
            }
            let drops = c.kernel_drops.load(Ordering::Relaxed)
                + c.iface_drops.load(Ordering::Relaxed)
                + c.queue_drops.load(Ordering::Relaxed);
            if drops > nic.last_drops && !nic.dropping {
                nic.dropping = true;
                self.events.push(Event::plain(
                    "capture-lost",
                    Some(nic.name.clone()),
                    format!(
                        "dropping packets ({} in the last second)",
                        drops - nic.last_drops
                    ),
                ));
            } else if drops == nic.last_drops && nic.dropping {
                nic.dropping = false;
                self.events.push(Event::plain(
                    "capture-restored",
                    Some(nic.name.clone()),
                    "no more drops".into(),
                ));
            }
            nic.last_drops = drops;
        }
    }

    /// SIGHUP: reload the policy (keep the old one if the new is invalid)
    /// and reopen the alert file.
    fn reload(&mut self) {
        self.sinks.reopen();
        match config::load(&self.policy_path) {
            Ok(p) => {
                // Flows are tracked afresh under the new policy; metrics and
                // open leaks carry on.
                self.fold_counts();
                self.class_names = class_names(&p);
                self.policy = p.clone();
                self.an = Analyzer::with_policy(self.acfg, p);
                self.evicted_seen = 0;
                self.waiting.clear();
                self.register_nics();
                *self.metrics.reloads.entry("ok").or_insert(0) += 1;
                self.events.push(Event::plain(
                    "policy-reloaded",
                    None,
                    format!("{} loaded", self.policy_path.display()),
                ));
            }
            Err(e) => {
                *self.metrics.reloads.entry("rejected").or_insert(0) += 1;
                log::error!("policy reload rejected, keeping the previous one: {e:#}");
                self.events
                    .push(Event::plain("policy-rejected", None, format!("{e:#}")));
            }
        }
        self.flush_events();
    }
}

/// The analyzer settings of the daemon: no per-bin history (metrics keep
/// their own per-second window), and nothing kept of finished flows, so
/// memory depends on `--max-flows` and the policy, not on uptime.
pub fn daemon_config() -> AnalyzerConfig {
    let mut acfg = AnalyzerConfig::default();
    acfg.flows.keep_finished = false;
    acfg.series = false;
    acfg
}

/// (class, network, capture interface, status) by ids.
type TrafficKey = (ClassId, Option<NetId>, IfaceRef, Status);

/// Per-packet counters of one tick, by ids.
#[derive(Default)]
struct Pending {
    traffic: FxHashMap<TrafficKey, (u64, u64)>,
    violations: FxHashMap<(ClassId, Option<NetId>), u64>,
    second: FxHashMap<ClassId, u64>,
}

#[cfg(test)]
mod tests;

fn class_names(p: &Policy) -> Vec<Arc<str>> {
    p.classes
        .iter()
        .map(|c| Arc::from(c.name.as_str()))
        .collect()
}

fn snapshot(c: &NicCounters, up: bool) -> metrics::CaptureStat {
    metrics::CaptureStat {
        packets: c.packets.load(Ordering::Relaxed),
        kernel_drops: c.kernel_drops.load(Ordering::Relaxed),
        iface_drops: c.iface_drops.load(Ordering::Relaxed),
        queue_drops: c.queue_drops.load(Ordering::Relaxed),
        up,
    }
}

/// Bits of `FlowState::mark` the daemon uses.
mod mark {
    /// Queued to be judged when its evidence wait is over.
    pub const QUEUED: u32 = 1;
    /// Judged at least once.
    pub const JUDGED: u32 = 2;
    /// Counted in the violations metric.
    pub const COUNTED: u32 = 4;
}

/// What judging a flow needs of the daemon (disjoint from the analyzer).
struct Judge<'a> {
    policy: &'a Policy,
    names: &'a [String],
    class_names: &'a [Arc<str>],
    engine: &'a mut Engine,
    events: &'a mut Vec<Event>,
    pending: &'a mut Pending,
}

impl Judge<'_> {
    /// Raises or continues the flow's leak or fallback alert from its
    /// verdict. `wire` is this packet's bytes (0 from the waiting queue);
    /// the first judgement counts everything the flow carried so far.
    fn flow(&mut self, slot: &mut Slot<FlowState>, iface: IfaceRef, wire: u64) {
        let Some(class) = slot.ext.class else { return };
        let first = slot.ext.mark & mark::JUDGED == 0;
        slot.ext.mark |= mark::JUDGED;
        let amount = if first {
            (slot.flow.total_bytes(), slot.flow.total_packets())
        } else {
            (wire, 1)
        };
        let v = &slot.ext.verdict;
        if v.violates() && slot.ext.mark & mark::COUNTED == 0 {
            slot.ext.mark |= mark::COUNTED;
            for &net in &slot.ext.nets {
                *self.pending.violations.entry((class, net)).or_insert(0) += 1;
            }
        }
        if !v.violates() && !v.fallback() {
            return;
        }
        let (client, _) = slot.flow.src();
        let (server, server_port) = slot.flow.dst();
        let key = LeakKey {
            class: Arc::clone(&self.class_names[usize::from(class.0)]),
            client,
            server,
            server_port,
        };
        let now = Instant::now();
        let names = self.names;
        let name_of = |r: IfaceRef| names.get(r.0 as usize).map_or("?", String::as_str);
        let (policy, slot_ref): (&Policy, &Slot<FlowState>) = (self.policy, slot);
        // Only built for a new leak key.
        let evidence = || evidence(policy, slot_ref, class, name_of(iface));
        if v.violates() {
            self.engine
                .violation(key, amount, now, evidence, self.events);
        } else {
            self.engine
                .fallback(key, amount, now, evidence, self.events);
        }
    }
}

fn evidence(policy: &Policy, slot: &Slot<FlowState>, class: ClassId, iface: &str) -> Evidence {
    let (flow, st) = (&slot.flow, &slot.ext);
    let check = st.verdict.detail.as_deref();
    let network = check
        .and_then(|c| c.network.flatten())
        .or_else(|| st.nets.first().copied().flatten())
        .map_or("unknown", |n| policy.network_name(n))
        .to_string();
    let reason = match check {
        Some(c) if c.violates() => c.reasons.join("; "),
        other => {
            let fb: Vec<&str> = other
                .map(|c| {
                    c.fallbacks
                        .iter()
                        .map(|n| policy.network_name(*n))
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "{} used fallback network {}",
                policy.class_name(class),
                fb.join(", ")
            )
        }
    };
    Evidence {
        network,
        interface: check
            .and_then(|c| c.interface.clone())
            .or_else(|| Some(iface.to_string())),
        proto: proto_name(flow.key.proto),
        client_port: flow.src().1,
        community_id: flow.community_id(),
        reason,
        class_reason: analyzer::describe(policy, slot),
        first_seen: crate::output::rfc3339(flow.first_seen),
    }
}
