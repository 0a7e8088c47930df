//! Where the daemon's frames come from: live NICs (libpcap threads behind
//! a bounded queue, with lost/restored detection and reopening), or frames
//! from memory for tests that need no root.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use capture::{LiveConfig, LiveNic, LiveSource, NicCounters, Poll};

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
    lost: bool,
    retry_at: Instant,
    backoff: Duration,
    last_drops: u64,
    dropping: bool,
}

/// Live capture on the NICs.
pub struct LiveFeed {
    src: LiveSource,
    nics: Vec<NicState>,
    cfg: LiveConfig,
}

impl LiveFeed {
    /// Starts capture threads on NICs opened (while still privileged).
    pub fn start(opened: Vec<LiveNic>, names: &[String], cfg: LiveConfig) -> Self {
        let now = Instant::now();
        LiveFeed {
            src: LiveSource::start(opened),
            nics: names
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
            cfg,
        }
    }

    /// A NIC gone or down → `capture-lost`, reopened with backoff → `capture-restored`.
    fn lost_or_back(&mut self, i: usize, failed: bool, now: Instant, events: &mut Vec<Event>) {
        let nic = &mut self.nics[i];
        if failed && !nic.lost {
            nic.lost = true;
            nic.backoff = Duration::from_secs(1);
            nic.retry_at = now + nic.backoff;
            events.push(Event::plain(
                "capture-lost",
                Some(nic.name.clone()),
                "interface gone or down".into(),
            ));
        }
        if !nic.lost || now < nic.retry_at {
            return;
        }
        match LiveNic::open(&nic.name, &self.cfg) {
            Ok(h) => {
                self.src.restart(i, h);
                nic.lost = false;
                events.push(Event::plain(
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
        for i in 0..self.nics.len() {
            let Some(c) = self.src.counters().get(i).cloned() else {
                continue;
            };
            self.lost_or_back(i, c.failed.load(Ordering::SeqCst), now, events);
            let drops = c.kernel_drops.load(Ordering::Relaxed)
                + c.iface_drops.load(Ordering::Relaxed)
                + c.queue_drops.load(Ordering::Relaxed);
            self.dropping(i, drops, events);
        }
        self.src
            .counters()
            .iter()
            .zip(&self.nics)
            .map(|(c, n)| (n.name.clone(), snapshot(c, !n.lost)))
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
