//! Where the daemon's frames come from: live NICs (libpcap threads behind
//! a bounded queue, with lost/restored detection and reopening), or frames
//! from memory for tests that need no root.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use capture::{LiveConfig, LiveNic, LiveSource, NicCounters, NicSlot, Poll, SystemIface};

use super::alerts::Event;
use super::metrics::CaptureStat;

/// Longest wait between attempts to reopen a lost interface.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A source of frames for the daemon's loop.
pub trait Feed {
    /// The next frame, waiting at most `timeout`.
    fn poll(&mut self, timeout: Duration) -> Poll<'_>;
    /// Once a second: NICs lost or back (as events) and each NIC's counters.
    fn health(&mut self, now: Instant, events: &mut Vec<Event>) -> Vec<(String, CaptureStat)>;
    /// Stops capturing; frames already queued can still be polled.
    fn stop(&mut self);
}

/// Health of one NIC as the daemon reports it.
struct NicState {
    name: String,
    /// No capture handle (it failed, or the NIC was down at start).
    lost: bool,
    /// Captured, but the NIC is down or has no carrier: nothing can arrive.
    down: bool,
    /// Down at start and never named (watch takes every NIC): no alert and
    /// no `capture_up` series until it first comes up.
    quiet: bool,
    retry_at: Instant,
    backoff: Duration,
    last_drops: u64,
    dropping: bool,
}

/// What the system's interface list says about a NIC this second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    /// The list could not be read.
    Unknown,
    /// Not in the list.
    Gone,
    /// Administratively down, or up without carrier.
    Down(&'static str),
    Up,
}

impl Seen {
    fn of(list: Option<&[SystemIface]>, name: &str) -> Seen {
        let Some(list) = list else {
            return Seen::Unknown;
        };
        match list.iter().find(|i| i.name == name) {
            None => Seen::Gone,
            Some(i) if !i.up => Seen::Down("interface down"),
            Some(i) if !i.running => Seen::Down("no carrier (link down)"),
            Some(_) => Seen::Up,
        }
    }

    /// Why a capture handle ended, as far as the list tells.
    fn lost_reason(self) -> &'static str {
        match self {
            Seen::Gone => "interface gone",
            Seen::Down(why) => why,
            Seen::Unknown | Seen::Up => "capture failed (the log has libpcap's error)",
        }
    }
}

/// Live capture on the NICs.
pub struct LiveFeed {
    src: LiveSource,
    nics: Vec<NicState>,
    cfg: LiveConfig,
}

impl LiveFeed {
    /// Starts capture threads on NICs opened (while still privileged); a
    /// NIC waiting to be opened is lost until it comes up, and `quiet` (no
    /// alert until then) when watch was not told its name (`named`, one
    /// per NIC).
    pub fn start(opened: Vec<NicSlot>, named: &[bool], cfg: LiveConfig) -> Self {
        let now = Instant::now();
        let nics = opened
            .iter()
            .zip(named)
            .map(|(slot, &named)| {
                let (name, waiting) = match slot {
                    NicSlot::Open(n) => (n.name().to_string(), false),
                    NicSlot::Waiting { name, .. } => (name.clone(), true),
                };
                NicState {
                    name,
                    lost: waiting && !named,
                    down: false,
                    quiet: waiting && !named,
                    retry_at: now,
                    backoff: Duration::from_secs(1),
                    last_drops: 0,
                    dropping: false,
                }
            })
            .collect();
        LiveFeed {
            src: LiveSource::start_slots(opened),
            nics,
            cfg,
        }
    }

    /// A capture handle ended → `capture-lost`; reopened (with backoff, and
    /// only while the NIC is listed up) → `capture-restored`.
    fn lost_or_back(
        &mut self,
        i: usize,
        failed: bool,
        seen: Seen,
        now: Instant,
        events: &mut Vec<Event>,
    ) {
        let nic = &mut self.nics[i];
        if failed && !nic.lost {
            nic.lost = true;
            nic.backoff = Duration::from_secs(1);
            nic.retry_at = now;
            events.push(Event::plain(
                "capture-lost",
                Some(nic.name.clone()),
                seen.lost_reason().into(),
            ));
        }
        if !nic.lost || matches!(seen, Seen::Gone | Seen::Down(_)) || now < nic.retry_at {
            return;
        }
        match LiveNic::open(&nic.name, &self.cfg) {
            Ok(h) => {
                self.src.restart(i, h);
                nic.lost = false;
                nic.down = false;
                if std::mem::take(&mut nic.quiet) {
                    log::info!("{}: up, capturing it", nic.name);
                } else {
                    events.push(Event::plain(
                        "capture-restored",
                        Some(nic.name.clone()),
                        "capturing again".into(),
                    ));
                }
            }
            Err(e) => {
                log::debug!("{}: still lost: {e}", nic.name);
                nic.retry_at = now + nic.backoff;
                nic.backoff = (nic.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    /// A captured NIC that goes down or loses its carrier captures nothing
    /// while libpcap reports no error: → `capture-lost`, and back up →
    /// `capture-restored` (the handle captures again by itself).
    fn down_or_up(&mut self, i: usize, seen: Seen, events: &mut Vec<Event>) {
        let nic = &mut self.nics[i];
        if nic.lost {
            return;
        }
        match seen {
            Seen::Down(why) if !nic.down => {
                nic.down = true;
                events.push(Event::plain(
                    "capture-lost",
                    Some(nic.name.clone()),
                    why.into(),
                ));
            }
            Seen::Up if nic.down => {
                nic.down = false;
                events.push(Event::plain(
                    "capture-restored",
                    Some(nic.name.clone()),
                    "interface up again".into(),
                ));
            }
            _ => {}
        }
    }

    /// Drops started → `capture-lost`; a second without → `capture-restored`.
    fn dropping(&mut self, i: usize, drops: u64, events: &mut Vec<Event>) {
        let nic = &mut self.nics[i];
        if drops > nic.last_drops && !nic.dropping {
            nic.dropping = true;
            events.push(Event::plain(
                "capture-lost",
                Some(nic.name.clone()),
                format!(
                    "dropping packets ({} in the last second)",
                    drops - nic.last_drops
                ),
            ));
        } else if drops == nic.last_drops && nic.dropping {
            nic.dropping = false;
            events.push(Event::plain(
                "capture-restored",
                Some(nic.name.clone()),
                "no more drops".into(),
            ));
        }
        nic.last_drops = drops;
    }
}

fn snapshot(c: &NicCounters, up: bool) -> CaptureStat {
    CaptureStat {
        packets: c.packets.load(Ordering::Relaxed),
        kernel_drops: c.kernel_drops.load(Ordering::Relaxed),
        iface_drops: c.iface_drops.load(Ordering::Relaxed),
        queue_drops: c.queue_drops.load(Ordering::Relaxed),
        up,
    }
}

impl Feed for LiveFeed {
    fn poll(&mut self, timeout: Duration) -> Poll<'_> {
        self.src.poll_frame(timeout)
    }

    fn health(&mut self, now: Instant, events: &mut Vec<Event>) -> Vec<(String, CaptureStat)> {
        let list = capture::system_ifaces()
            .map_err(|e| log::debug!("listing interfaces: {e}"))
            .ok();
        for i in 0..self.nics.len() {
            let Some(c) = self.src.counters().get(i).cloned() else {
                continue;
            };
            let seen = Seen::of(list.as_deref(), &self.nics[i].name);
            self.lost_or_back(i, c.failed.load(Ordering::SeqCst), seen, now, events);
            self.down_or_up(i, seen, events);
            let drops = c.kernel_drops.load(Ordering::Relaxed)
                + c.iface_drops.load(Ordering::Relaxed)
                + c.queue_drops.load(Ordering::Relaxed);
            self.dropping(i, drops, events);
        }
        self.src
            .counters()
            .iter()
            .zip(&self.nics)
            .filter(|(_, n)| !n.quiet)
            .map(|(c, n)| (n.name.clone(), snapshot(c, !n.lost && !n.down)))
            .collect()
    }

    fn stop(&mut self) {
        self.src.stop();
    }
}

/// Frames from memory (tests): each is handed out once, then the feed is idle.
#[cfg(test)]
#[derive(Default)]
pub struct MemoryFeed {
    frames: std::collections::VecDeque<capture::OwnedFrame>,
    current: Option<capture::OwnedFrame>,
    names: Vec<String>,
}

#[cfg(test)]
impl MemoryFeed {
    /// A feed for NICs named `names` (a frame's `iface` indexes them).
    pub fn new(names: &[String]) -> Self {
        MemoryFeed {
            names: names.to_vec(),
            ..MemoryFeed::default()
        }
    }

    /// Queues frames.
    pub fn push(&mut self, frames: impl IntoIterator<Item = capture::OwnedFrame>) {
        self.frames.extend(frames);
    }
}

#[cfg(test)]
impl Feed for MemoryFeed {
    fn poll(&mut self, _timeout: Duration) -> Poll<'_> {
        self.current = self.frames.pop_front();
        match &self.current {
            Some(f) => Poll::Frame(f.as_frame()),
            None => Poll::Idle,
        }
    }

    fn health(&mut self, _now: Instant, _events: &mut Vec<Event>) -> Vec<(String, CaptureStat)> {
        self.names
            .iter()
            .map(|n| {
                let stat = CaptureStat {
                    packets: 0,
                    kernel_drops: 0,
                    iface_drops: 0,
                    queue_drops: 0,
                    up: true,
                };
                (n.clone(), stat)
            })
            .collect()
    }

    fn stop(&mut self) {}
}
