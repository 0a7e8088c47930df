//! Captures audited in parallel meet where one ends with a flow the next
//! begins with (a host's rotated captures of long conversations); they
//! are then read again as one run (in shares of their flows, or on one
//! analyzer), and the sooner that is known the less reading is wasted.
//! Each worker notes the flows of its capture's first frames and, at its
//! end, the flows still open; a flow in both, for neighbouring captures,
//! stops every worker. A worker also looks once for the next capture's
//! first flows in its own table, so long conversations that run through
//! both are found while both are read. The check of `parallel.rs` at the
//! end (every flow's digest) remains the proof; this finds the common
//! cases early.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use analyzer::flow::{FlowKey, Slot, TunnelId};
use analyzer::state::FlowState;
use analyzer::{Analyzer, CaptureId};
use capture::Frame;
use rustc_hash::FxHashSet;

use crate::pipeline::{Share, Tap};

/// Frames of a capture whose flows are its beginning.
const START_FRAMES: u64 = 1 << 16;

/// What the workers tell each other about where their captures meet.
pub struct Seams {
    /// Two captures meet: every worker stops.
    pub doomed: AtomicBool,
    names: Vec<String>,
    /// Flows in the workers' tables now, all told (each worker's count as
    /// it last said, every few thousand frames).
    held: AtomicUsize,
    /// `--max-flows`: what the tables may hold together. Captures read at
    /// once hold a table each; past this, memory would exceed what one run
    /// holds, so they are read one after another instead.
    max_flows: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// By capture: the flows of its first frames, until checked against
    /// the capture before it.
    starts: BTreeMap<usize, FxHashSet<FlowKey>>,
    /// By capture: the flows open at its end, until checked against the
    /// capture after it.
    ends: BTreeMap<usize, FxHashSet<FlowKey>>,
    why: Option<String>,
}

impl Seams {
    /// The seams of the captures named `names`, in order, read with
    /// tables of `max_flows` flows together.
    pub fn new(names: Vec<String>, max_flows: usize) -> Self {
        Seams {
            doomed: AtomicBool::new(false),
            names,
            held: AtomicUsize::new(0),
            max_flows,
            state: Mutex::new(State::default()),
        }
    }

    /// Why the captures meet, if they do.
    pub fn why(&self) -> Option<String> {
        self.state.lock().ok()?.why.clone()
    }

    /// Capture `i` began with `keys`.
    fn started(&self, i: usize, keys: FxHashSet<FlowKey>) {
        if let Ok(mut s) = self.state.lock() {
            s.starts.insert(i, keys);
            self.check(&mut s, i);
        }
    }

    /// Capture `i` ended with the flows `an` still holds.
    pub fn ended(&self, i: usize, an: &Analyzer) {
        if i + 1 >= self.names.len() || self.doomed.load(Ordering::Relaxed) {
            return; // no capture follows, or the captures already met
        }
        let keys = an.active_flow_keys().filter(|k| k.tunnel == TunnelId::NONE);
        let keys = keys.collect();
        if let Ok(mut s) = self.state.lock() {
            s.ends.insert(i, keys);
            self.check(&mut s, i + 1);
        }
    }

    /// Whether `an`, reading capture `i`, holds a flow capture `i + 1`
    /// begins with; false while those are not known yet.
    fn look_ahead(&self, i: usize, an: &Analyzer) -> bool {
        if i + 1 >= self.names.len() {
            return true; // the last capture: nothing follows
        }
        let Ok(mut s) = self.state.lock() else {
            return true;
        };
        let Some(next) = s.starts.get(&(i + 1)) else {
            return false;
        };
        if next.iter().any(|k| an.holds_flow(k)) {
            s.why.get_or_insert(format!(
                "{} and {} hold the same flow (the second begins with a flow the first holds)",
                self.name(i),
                self.name(i + 1)
            ));
            self.doomed.store(true, Ordering::Relaxed);
        }
        true
    }

    /// A worker's table went from `was` flows to `now`; past
    /// `--max-flows` together, every worker stops.
    fn hold(&self, was: usize, now: usize) {
        let total = match now >= was {
            true => self.held.fetch_add(now - was, Ordering::Relaxed) + (now - was),
            false => self.held.fetch_sub(was - now, Ordering::Relaxed) - (was - now),
        };
        if total > self.max_flows && !self.doomed.load(Ordering::Relaxed) {
            if let Ok(mut s) = self.state.lock() {
                s.why.get_or_insert(format!(
                    "the captures read at once would hold {total} flows together, beyond --max-flows {} (one run holds one table)",
                    self.max_flows
                ));
            }
            self.doomed.store(true, Ordering::Relaxed);
        }
    }

    fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("?", String::as_str)
    }

    /// Whether capture `i - 1` ends with a flow capture `i` begins with
    /// (once both are known: they are then forgotten).
    fn check(&self, s: &mut State, i: usize) {
        let Some(before) = i.checked_sub(1) else {
            return;
        };
        if !(s.starts.contains_key(&i) && s.ends.contains_key(&before)) {
            return;
        }
        let (Some(start), Some(end)) = (s.starts.remove(&i), s.ends.remove(&before)) else {
            return;
        };
        if start.iter().any(|k| end.contains(k)) {
            s.why.get_or_insert(format!(
                "{} and {} hold the same flow (one ends with a flow the other begins with)",
                self.name(before),
                self.name(i)
            ));
            self.doomed.store(true, Ordering::Relaxed);
        }
    }
}

/// A worker's tap on capture `index`: the flows of its first frames.
pub struct Start<'a> {
    seams: &'a Seams,
    index: usize,
    frames: u64,
    keys: Option<FxHashSet<FlowKey>>,
}

impl<'a> Start<'a> {
    pub fn new(seams: &'a Seams, index: usize) -> Self {
        Start {
            seams,
            index,
            frames: 0,
            keys: Some(FxHashSet::default()),
        }
    }

    /// Tells the seams the capture's beginning (if it was shorter than
    /// [`START_FRAMES`], all of it).
    pub fn finish(&mut self) {
        if let Some(keys) = self.keys.take() {
            self.seams.started(self.index, keys);
        }
    }
}

impl Tap for Start<'_> {
    #[inline]
    fn frame(&mut self, _: u32, _: &Frame<'_>, slot: Option<&mut Slot<FlowState>>) {
        let Some(keys) = &mut self.keys else { return };
        if let Some(s) = slot.filter(|s| s.flow.key.tunnel == TunnelId::NONE) {
            keys.insert(s.flow.key);
        }
        self.frames += 1;
        if self.frames == START_FRAMES {
            self.finish();
        }
    }
}

/// A worker's watch on capture `index`: stops it when captures meet.
pub struct Watch<'a> {
    seams: &'a Seams,
    index: usize,
    /// The next capture's first flows were looked for in this table.
    looked: bool,
    /// Flows in this table, as last told to the seams.
    held: usize,
}

impl<'a> Watch<'a> {
    pub fn new(seams: &'a Seams, index: usize) -> Self {
        Watch {
            seams,
            index,
            looked: false,
            held: 0,
        }
    }

    /// The worker's table is gone: its flows no longer count.
    pub fn finish(&mut self) {
        self.seams.hold(self.held, 0);
        self.held = 0;
    }
}

impl Share for Watch<'_> {
    #[inline(always)]
    fn mine(&mut self, _: &Analyzer, _: &Frame<'_>, _: CaptureId) -> bool {
        true
    }

    /// Once the next capture's first flows are known, whether this table
    /// holds one of them (then the two meet).
    fn stop(&mut self, an: &Analyzer) -> bool {
        if !self.looked {
            self.looked = self.seams.look_ahead(self.index, an);
        }
        let now = an.active_flows();
        self.seams.hold(self.held, now);
        self.held = now;
        self.seams.doomed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analyzer::AnalyzerConfig;
    use capture::LinkType;

    /// A TCP SYN from 10.0.0.1:`port` to 10.0.0.2:80, and its flow's key.
    fn syn(port: u16) -> (Vec<u8>, FlowKey) {
        let mut out = Vec::new();
        etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(port, 80, 1, 64_000)
            .syn()
            .write(&mut out, &[])
            .unwrap();
        let (a, b) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        (out, FlowKey::new(6, a, port, b, 80).0)
    }

    /// An analyzer that read the SYNs of `ports`.
    fn holding(ports: &[u16]) -> Analyzer {
        let mut an = Analyzer::new(AnalyzerConfig::default());
        let id = an.add_capture("a");
        for p in ports {
            let (frame, _) = syn(*p);
            an.observe(&Frame::test(LinkType::ETHERNET, &frame), id, None);
        }
        an
    }

    fn seams() -> Seams {
        Seams::new(vec!["a.pcap".into(), "b.pcap".into()], 1000)
    }

    #[test]
    fn a_capture_ending_with_a_flow_the_next_begins_with_stops_every_worker() {
        let s = seams();
        s.ended(0, &holding(&[1000, 1001]));
        s.started(1, [syn(2000).1].into_iter().collect());
        assert!(!s.doomed.load(Ordering::Relaxed) && s.why().is_none());
        let s = seams();
        s.started(1, [syn(1001).1].into_iter().collect());
        assert!(!s.doomed.load(Ordering::Relaxed));
        s.ended(0, &holding(&[1000, 1001]));
        assert!(s.doomed.load(Ordering::Relaxed));
        let why = s.why().unwrap();
        assert!(
            why.starts_with("a.pcap and b.pcap hold the same flow (one ends"),
            "{why}"
        );
    }

    #[test]
    fn a_worker_finds_the_next_captures_first_flow_in_its_table() {
        let s = seams();
        let an = holding(&[1000, 1001]);
        let mut watch = Watch::new(&s, 0);
        // Not known yet: looked for again later.
        assert!(!watch.stop(&an) && !watch.looked);
        s.started(1, [syn(1001).1].into_iter().collect());
        assert!(watch.stop(&an) && watch.looked);
        assert!(s
            .why()
            .unwrap()
            .contains("the second begins with a flow the first holds"));
        // A table without it: looked for once, nothing found.
        let s = seams();
        s.started(1, [syn(3000).1].into_iter().collect());
        let mut watch = Watch::new(&s, 0);
        assert!(!watch.stop(&an) && watch.looked);
    }

    #[test]
    fn tables_read_at_once_stop_every_worker_past_max_flows_together() {
        let seams = Seams::new(vec!["a.pcap".into(), "b.pcap".into()], 1000);
        let doomed = || seams.doomed.load(Ordering::Relaxed);
        seams.hold(0, 600); // a's table
        seams.hold(0, 300); // b's
        seams.hold(600, 0); // a finished
        seams.hold(300, 1000); // b alone holds --max-flows: as one run would
        assert!(!doomed());
        seams.hold(0, 1); // another worker's first flow
        assert!(doomed());
        let why = seams.why().unwrap();
        assert!(
            why.contains("1001 flows together, beyond --max-flows 1000"),
            "{why}"
        );
    }
}
