//! The daemon's core: one loop over a closed set of inputs (frames from a
//! [`Feed`], and the control plane's ticks, reloads and shutdown), owning
//! the analyzer, the alert engine and the metrics. It never blocks on
//! output: events go to the sinks' bounded queues.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use analyzer::class::ClassId;
use analyzer::flow::{FlowKey, Slot};
use analyzer::policy::{FlowCheck, NetId, Policy, Status};
use analyzer::state::FlowState;
use analyzer::{Analyzer, AnalyzerConfig, CaptureId, IfaceRef, Late, LateFrame};
use capture::Poll;
use rustc_hash::FxHashMap;

use super::alerts::{Engine, Event, Evidence, LeakKey};
use super::feed::Feed;
use super::http::Page;
use super::metrics::{Metrics, TrafficLabels};
use super::sinks::SinkSet;
use crate::output::proto_name;

/// From shutdown to exit: draining capture, then the sinks' last deliveries.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(4);

/// The daemon's fields a [`Judge`] borrows: disjoint from `self.an`, which
/// lends the slot being judged (a method could not borrow them apart).
macro_rules! judge {
    ($d:expr) => {
        Judge {
            policy: &$d.policy,
            names: &$d.names,
            class_names: &$d.class_names,
            engine: &mut $d.engine,
            events: &mut $d.events,
            pending: &mut $d.pending,
        }
    };
}

/// An [`Account`] of the daemon's fields (disjoint from `self.an`).
macro_rules! account {
    ($d:expr) => {
        Account {
            ids: &$d.ids,
            waiting: &mut $d.waiting,
            held: &mut $d.held,
            evidence_wait: $d.evidence_wait,
            max_flows: $d.acfg.flows.max_flows,
            judge: judge!($d),
        }
    };
}

mod held;
mod reload;

/// What the control plane tells the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// One second passed (wall clock): reminders, expiry, health, metrics.
    Tick(Instant),
    /// SIGHUP: reload the policy, reopen the alert file.
    Reload,
    /// SIGTERM/SIGINT: drain and stop.
    Shutdown,
}

/// Everything the loop owns.
pub struct Daemon {
    pub(super) policy: Policy,
    pub(super) policy_path: std::path::PathBuf,
    pub(super) an: Analyzer,
    pub(super) acfg: AnalyzerConfig,
    pub(super) ids: Vec<(CaptureId, IfaceRef)>,
    pub(super) names: Vec<String>,
    pub(super) engine: Engine,
    pub(super) sinks: SinkSet,
    pub(super) metrics: Metrics,
    /// Counts since the last tick, keyed by ids.
    pub(super) pending: Pending,
    /// Class names by id, shared by leak keys.
    pub(super) class_names: Vec<Arc<str>>,
    pub(super) events: Vec<Event>,
    /// Evictions of the current flow table already added to the metric.
    pub(super) evicted_seen: u64,
    /// Flows waiting for their evidence, by due time.
    pub(super) waiting: VecDeque<(Instant, FlowKey)>,
    /// Traffic of flows whose class is still open, not yet in the metrics.
    pub(super) held: held::HeldTraffic,
    /// DNS violations alerted, by (rule, name, answers), for the re-alert period.
    pub(super) dns_seen: HashMap<(usize, String, String), Instant>,
    pub(super) evidence_wait: Duration,
    /// The metrics page the endpoint serves.
    pub(super) page: Page,
    /// `--node`: the `[hosts]` entry this host is (else its host name).
    pub(super) node: Option<String>,
}

/// The settings a daemon is built from.
pub struct Setup {
    pub policy: Policy,
    pub policy_path: std::path::PathBuf,
    pub acfg: AnalyzerConfig,
    pub names: Vec<String>,
    pub engine: Engine,
    pub sinks: SinkSet,
    pub evidence_wait: Duration,
    pub page: Page,
    /// `--node HOST`, as given.
    pub node: Option<String>,
}

impl Daemon {
    /// A daemon for NICs `names` (a frame's `iface` indexes them).
    pub fn new(s: Setup) -> Self {
        let mut d = Daemon {
            an: Analyzer::with_policy(s.acfg, s.policy.clone()),
            class_names: class_names(&s.policy),
            policy: s.policy,
            policy_path: s.policy_path,
            acfg: s.acfg,
            ids: Vec::new(),
            names: s.names,
            engine: s.engine,
            sinks: s.sinks,
            metrics: Metrics::default(),
            pending: Pending::default(),
            events: Vec::new(),
            evicted_seen: 0,
            waiting: VecDeque::new(),
            held: held::HeldTraffic::default(),
            dns_seen: HashMap::new(),
            evidence_wait: s.evidence_wait,
            page: s.page,
            node: s.node,
        };
        d.register_nics();
        d
    }

    /// The loop: frames as they come, controls between them (at least every
    /// 1024 frames or 100 ms, and whenever capture is idle), until
    /// `Shutdown`; then
    /// what capture still holds is drained within the shutdown budget.
    /// Returns the number of frames seen and when the budget ends (what is
    /// left of it is the sinks' to deliver their last events).
    pub fn run(&mut self, feed: &mut dyn Feed, control: &Receiver<Control>) -> (u64, Instant) {
        let mut packets = 0u64;
        'outer: loop {
            // Steady traffic never leaves capture idle: controls are taken
            // after 100 ms of frames too, else a tick or a SIGHUP waited for
            // 1,024 frames (seconds at a few hundred packets a second).
            let batch = Instant::now();
            for i in 0..1024u32 {
                if i % 64 == 63 && batch.elapsed() >= Duration::from_millis(100) {
                    break;
                }
                match feed.poll(Duration::from_millis(100)) {
                    Poll::Frame(f) => {
                        packets += 1;
                        self.on_frame(&f);
                        if !self.events.is_empty() {
                            self.flush_events();
                        }
                    }
                    Poll::Idle | Poll::Ended => break,
                }
            }
            while let Ok(c) = control.try_recv() {
                match c {
                    Control::Tick(now) => {
                        let stats = feed.health(now, &mut self.events);
                        self.metrics.capture = stats.into_iter().collect();
                        self.tick_core(now);
                    }
                    Control::Reload => self.reload(),
                    Control::Shutdown => break 'outer,
                }
            }
        }
        let deadline = Instant::now() + SHUTDOWN_BUDGET;
        (packets + self.drain(feed, deadline), deadline)
    }

    /// After shutdown: the frames capture still holds, until `deadline`.
    fn drain(&mut self, feed: &mut dyn Feed, deadline: Instant) -> u64 {
        log::info!("stopping: draining capture");
        feed.stop();
        let mut n = 0;
        while let Poll::Frame(f) = feed.poll(Duration::from_millis(100)) {
            n += 1;
            self.on_frame(&f);
            if Instant::now() >= deadline {
                break;
            }
        }
        self.end_of_input();
        self.flush_events();
        n
    }

    /// The sinks (to close them at shutdown).
    pub fn sinks_mut(&mut self) -> &mut SinkSet {
        &mut self.sinks
    }

    /// Alert events emitted so far, by type.
    pub fn alert_counts(&self) -> (u64, u64) {
        let all = self.metrics.alerts.values().sum();
        (all, self.metrics.alerts.get("leak").copied().unwrap_or(0))
    }

    /// One capture per NIC, judged as this host's (its `HOST/KEY` keys):
    /// decided again with each policy, whose `[hosts]` may have changed.
    pub(super) fn register_nics(&mut self) {
        let node = match crate::node::local(self.node.as_deref(), &self.policy) {
            Ok(n) => n,
            Err(e) => {
                log::warn!("{e:#}: no HOST/KEY [interfaces] key applies");
                crate::node::NodeChoice::default()
            }
        };
        if node.name.is_some() {
            log::info!("NICs{}", crate::node::judged_as(&node));
        }
        self.ids = self
            .names
            .iter()
            .map(|n| {
                let c = self.an.add_capture(n);
                self.an.set_node(c, node.name.as_deref());
                let r = self.an.intern_iface(c, n);
                (c, r)
            })
            .collect();
    }

    pub(super) fn on_frame(&mut self, f: &capture::Frame<'_>) {
        let Some(&(cap, iface)) = self.ids.get(f.iface.0 as usize) else {
            return;
        };
        let mut account = account!(self);
        let Some(slot) = self.an.observe_late(f, cap, Some(iface), &mut account) else {
            return;
        };
        if account.frame(slot, iface, (u64::from(f.wire_len), f.ts)) {
            self.dns_violations();
        }
    }

    /// The later IP fragments still held for their first are orphans now
    /// (capture ends): counted and judged; the traffic held for flows
    /// whose class is still open is counted under their class now.
    pub(super) fn end_of_input(&mut self) {
        let mut account = account!(self);
        self.an.end_of_input(&mut account);
        self.release(true);
    }

    /// DNS answers that broke a `[[dns]]` rule: one `dns-violation` event
    /// per (rule, name, answer) at most once per `--realert`.
    pub(super) fn dns_violations(&mut self) {
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
    pub(super) fn judge_waiting(&mut self, now: Instant) {
        while let Some(&(due, key)) = self.waiting.front() {
            if due > now {
                break;
            }
            self.waiting.pop_front();
            let Some(slot) = self.an.slot_mut(&key) else {
                continue;
            };
            // Judged at a packet since (its evidence came first): judging
            // it again here would count a packet that does not exist and
            // restart its leak's quiet time.
            if slot.ext.mark & mark::JUDGED != 0 {
                continue;
            }
            let Some(iface) = slot.flow.ifaces.last().map(|s| s.iface) else {
                continue;
            };
            // Its last packet came this long before the wait's end (the
            // wait ran from its first packet), in the capture's own clock.
            let span = slot.flow.last_seen.0.saturating_sub(slot.flow.first_seen.0);
            let before_due = self
                .evidence_wait
                .saturating_sub(Duration::from_nanos(span.max(0) as u64));
            let seen = due.checked_sub(before_due).unwrap_or(due);
            judge!(self).flow(slot, iface, None, seen);
        }
    }

    /// Moves the id-keyed counts of the last tick into the named metrics
    /// (also before a reload changes what the ids mean).
    pub(super) fn fold_counts(&mut self) {
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

    pub(super) fn flush_events(&mut self) {
        for e in std::mem::take(&mut self.events) {
            *self.metrics.alerts.entry(e.kind).or_insert(0) += 1;
            self.sinks.emit(&e);
        }
    }

    /// The once-a-second work that needs no capture source: flows whose
    /// evidence wait is over, alert reminders and endings, metrics.
    pub(super) fn tick_core(&mut self, now: Instant) {
        self.judge_waiting(now);
        self.release_gone();
        self.engine.tick(now, &mut self.events);
        self.flush_events();
        self.fold_counts();
        self.metrics.active_leaks = self.engine.active().into_iter().collect();
        let fs = self.an.flow_stats();
        self.metrics.flows_tracked = fs.active;
        // The table counts evictions since it was made (watch start).
        self.metrics.flows_evicted += fs.evicted.saturating_sub(self.evicted_seen);
        self.evicted_seen = fs.evicted;
        self.metrics.sinks = self
            .sinks
            .counters()
            .into_iter()
            .map(|(n, delivered, dropped)| (n, (delivered, dropped)))
            .collect();
        if let Ok(mut page) = self.page.lock() {
            *page = self.metrics.render();
        }
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
pub(super) struct Pending {
    traffic: FxHashMap<TrafficKey, (u64, u64)>,
    violations: FxHashMap<(ClassId, Option<NetId>), u64>,
    second: FxHashMap<ClassId, u64>,
}

pub(super) fn class_names(p: &Policy) -> Vec<Arc<str>> {
    p.classes
        .iter()
        .map(|c| Arc::from(c.name.as_str()))
        .collect()
}

/// Bits of `FlowState::mark` the daemon uses.
mod mark {
    /// Queued to be judged when its evidence wait is over.
    pub const QUEUED: u32 = 1;
    /// Judged at least once.
    pub const JUDGED: u32 = 2;
    /// Violated: counted in the violations metric, its traffic so far
    /// added to its leak.
    pub const COUNTED: u32 = 4;
    /// Used a fallback network: its traffic so far added to the alert.
    pub const FELL_BACK: u32 = 8;
}

/// What the daemon does with the flow of a frame, observed or counted late
/// (a later IP fragment held for its first): counts the frame by class,
/// network and NIC, and judges the flow unless it waits for evidence.
struct Account<'a> {
    ids: &'a [(CaptureId, IfaceRef)],
    waiting: &'a mut VecDeque<(Instant, FlowKey)>,
    held: &'a mut held::HeldTraffic,
    evidence_wait: Duration,
    max_flows: usize,
    judge: Judge<'a>,
}

impl Account<'_> {
    /// A frame of `wire` bytes at `ts` on NIC `iface`, in `slot`'s flow;
    /// whether the flow was judged.
    fn frame(
        &mut self,
        slot: &mut Slot<FlowState>,
        iface: IfaceRef,
        (wire, ts): (u64, capture::Timestamp),
    ) -> bool {
        let Some(class) = slot.ext.class else {
            return false;
        };
        let pending = &mut *self.judge.pending;
        // Counted by id (no allocation per packet); names are resolved once
        // a tick in `fold_counts`.
        held::count(self.held, pending, slot, class, (iface, wire));
        *pending.second.entry(class).or_insert(0) += wire;
        // A flow whose payload may still change its class waits for that
        // evidence (bounded by --evidence-wait) before it is judged.
        let age = Duration::from_nanos(ts.0.saturating_sub(slot.flow.first_seen.0).max(0) as u64);
        // The queue holds at most one entry per tracked flow.
        let room = self.waiting.len() < self.max_flows;
        if slot.ext.open && age < self.evidence_wait && room {
            if slot.ext.mark & mark::QUEUED == 0 {
                slot.ext.mark |= mark::QUEUED;
                let due = Instant::now() + (self.evidence_wait - age);
                self.waiting.push_back((due, slot.flow.key));
            }
            return false;
        }
        self.judge.flow(slot, iface, Some(wire), Instant::now());
        true
    }
}

impl Late for Account<'_> {
    fn frame(&mut self, f: &LateFrame, slot: &mut Slot<FlowState>) {
        if let Some(&(_, iface)) = self.ids.iter().find(|(c, _)| *c == f.capture) {
            Account::frame(self, slot, iface, (u64::from(f.wire_len), f.ts));
        }
    }
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
    /// verdict. `packet` is this packet's bytes (`None` when judged without
    /// a packet: its evidence wait is over, or a reload); `seen` is when its
    /// last packet came. The first time a flow violates (or uses a
    /// fallback) it adds everything it carried so far, whatever it was
    /// judged before.
    fn flow(
        &mut self,
        slot: &mut Slot<FlowState>,
        iface: IfaceRef,
        packet: Option<u64>,
        seen: Instant,
    ) {
        let Some(class) = slot.ext.class else { return };
        slot.ext.mark |= mark::JUDGED;
        let v = &slot.ext.verdict;
        let judged = if v.violates() {
            mark::COUNTED
        } else if v.fallback() {
            mark::FELL_BACK
        } else {
            return;
        };
        let amount = if slot.ext.mark & judged == 0 {
            (slot.flow.total_bytes(), slot.flow.total_packets())
        } else {
            packet.map_or((0, 0), |wire| (wire, 1))
        };
        if v.violates() && slot.ext.mark & mark::COUNTED == 0 {
            let nets = match leaked_onto(v.detail.as_deref()) {
                Some(net) => vec![net],
                None => slot.ext.nets.to_vec(),
            };
            for net in nets {
                *self.pending.violations.entry((class, net)).or_insert(0) += 1;
            }
        }
        slot.ext.mark |= judged;
        let key = leak_key(self.class_names, slot, class);
        let now = Instant::now();
        let names = self.names;
        let name_of = |r: IfaceRef| names.get(r.0 as usize).map_or("?", String::as_str);
        let (policy, slot_ref): (&Policy, &Slot<FlowState>) = (self.policy, slot);
        // Only built for a new leak key.
        let evidence = || evidence(policy, slot_ref, class, name_of(iface));
        if slot_ref.ext.verdict.violates() {
            self.engine
                .violation(key, amount, (now, seen), evidence, self.events);
        } else {
            self.engine
                .fallback(key, amount, now, evidence, self.events);
        }
    }
}

/// The alert key of a flow of `class`.
fn leak_key(class_names: &[Arc<str>], slot: &Slot<FlowState>, class: ClassId) -> LeakKey {
    let (client, _) = slot.flow.src();
    let (server, server_port) = slot.flow.dst();
    LeakKey {
        class: Arc::clone(&class_names[usize::from(class.0)]),
        client,
        server,
        server_port,
    }
}

/// The network a violation put the class on: a network of its addresses,
/// or the one of the NIC or VLAN it was seen on (right addresses, wrong
/// NIC: its addresses' network is an allowed one, and naming it told the
/// operator the leak was onto the allowed network).
fn leaked_onto(check: Option<&FlowCheck>) -> Option<Option<NetId>> {
    check?.leaked_onto
}

fn evidence(policy: &Policy, slot: &Slot<FlowState>, class: ClassId, iface: &str) -> Evidence {
    let (flow, st) = (&slot.flow, &slot.ext);
    let check = st.verdict.detail.as_deref();
    let network = leaked_onto(check.filter(|c| c.violates()))
        .or_else(|| Some(st.nets.first().copied().flatten()))
        .flatten()
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
