//! The alert lifecycle: one key per (class, client, server, server port),
//! `leak` at the first violating packet, `leak-ongoing` at most once per
//! `--realert` while it continues, `leak-ended` after `--quiet` of silence;
//! `fallback` once per key (re-armed after `--quiet`). A token bucket caps
//! new-leak events; the excess is folded into one `leak-summary` per tick.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

/// What identifies a leak, however many flows and reasons it has.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeakKey {
    /// Shared with the daemon's class-name table: building a key per
    /// leaking packet allocates nothing.
    pub class: std::sync::Arc<str>,
    pub client: IpAddr,
    pub server: IpAddr,
    pub server_port: u16,
}

/// Evidence of the packet or flow that raised or continues an alert.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    pub network: String,
    pub interface: Option<String>,
    pub proto: String,
    pub client_port: u16,
    pub community_id: String,
    pub reason: String,
    /// Why the flow has its class, with the deciding payload evidence.
    pub class_reason: String,
    /// Capture time of the flow's first packet (RFC 3339).
    pub first_seen: String,
}

/// Most leak keys tracked at once; beyond it new leaks are only counted in
/// the summary, so a flood cannot grow memory.
const MAX_KEYS: usize = 100_000;

/// One alert event (a JSON line, a webhook body, a syslog message).
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    /// Capture time of the flow's first packet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    pub reason: String,
    /// Why the flow has its class (with the deciding payload evidence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_reason: Option<String>,
}

/// RFC 3339 wall-clock time of an event.
pub fn now_rfc3339() -> String {
    let t = time::OffsetDateTime::from(SystemTime::now());
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Event {
    /// An event about something other than a flow (capture, policy).
    pub fn plain(kind: &'static str, interface: Option<String>, reason: String) -> Self {
        Event {
            kind,
            time: now_rfc3339(),
            class: None,
            network: None,
            interface,
            proto: None,
            client: None,
            client_port: None,
            server: None,
            server_port: None,
            bytes: None,
            packets: None,
            community_id: None,
            first_seen: None,
            reason,
            class_reason: None,
        }
    }

    fn about(kind: &'static str, key: &LeakKey, ev: &Evidence, bytes: u64, packets: u64) -> Self {
        Event {
            kind,
            time: now_rfc3339(),
            class: Some(key.class.to_string()),
            network: Some(ev.network.clone()),
            interface: ev.interface.clone(),
            proto: Some(ev.proto.clone()),
            client: Some(key.client),
            client_port: Some(ev.client_port),
            server: Some(key.server),
            server_port: Some(key.server_port),
            bytes: Some(bytes),
            packets: Some(packets),
            community_id: Some(ev.community_id.clone()),
            first_seen: Some(ev.first_seen.clone()),
            reason: ev.reason.clone(),
            class_reason: (!ev.class_reason.is_empty()).then(|| ev.class_reason.clone()),
        }
    }
}

struct Leak {
    evidence: Evidence,
    last_packet: Instant,
    last_event: Instant,
    bytes_since: u64,
    packets_since: u64,
    /// Folded into a summary by the rate limit: never reported on its own.
    folded: bool,
}

/// Timing and limits of the lifecycle.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub realert: Duration,
    pub quiet: Duration,
    /// New-leak events allowed in a burst.
    pub burst: f64,
    /// New-leak events allowed per second, sustained.
    pub per_sec: f64,
}

/// The alert state machine. Wall-clock driven (`Instant`), unlike the analyzer.
pub struct Engine {
    timing: Timing,
    leaks: HashMap<LeakKey, Leak>,
    fallbacks: HashMap<LeakKey, Instant>,
    tokens: f64,
    refilled: Instant,
    folded_new: u64,
    folded_bytes: u64,
}

impl Engine {
    /// How often a continuing alert may be repeated.
    pub fn realert(&self) -> Duration {
        self.timing.realert
    }

    pub fn new(timing: Timing, now: Instant) -> Self {
        Engine {
            timing,
            leaks: HashMap::new(),
            fallbacks: HashMap::new(),
            tokens: timing.burst,
            refilled: now,
            folded_new: 0,
            folded_bytes: 0,
        }
    }

    /// Open leaks per (class, network), folded ones included.
    pub fn active(&self) -> HashMap<(String, String), u64> {
        let mut m = HashMap::new();
        for (k, l) in &self.leaks {
            *m.entry((k.class.to_string(), l.evidence.network.clone()))
                .or_insert(0) += 1;
        }
        m
    }

    fn take_token(&mut self, now: Instant) -> bool {
        let dt = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + dt * self.timing.per_sec).min(self.timing.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// A violating packet (or, when a flow is first judged after waiting
    /// for its evidence, everything it carried so far): `(bytes, packets)`,
    /// the last of them at `seen` (the quiet time runs from there, not from
    /// `now`, when the flow was judged). `evidence` is only built for a new
    /// key.
    pub fn violation(
        &mut self,
        key: LeakKey,
        (wire_len, packets): (u64, u64),
        (now, seen): (Instant, Instant),
        evidence: impl FnOnce() -> Evidence,
        out: &mut Vec<Event>,
    ) {
        let seen = seen.min(now);
        if let Some(l) = self.leaks.get_mut(&key) {
            // Only a packet restarts the quiet time.
            if packets > 0 {
                l.last_packet = l.last_packet.max(seen);
            }
            l.bytes_since += wire_len;
            l.packets_since += packets;
            return;
        }
        if self.leaks.len() >= MAX_KEYS {
            self.folded_new += 1;
            self.folded_bytes += wire_len;
            return;
        }
        let ev = evidence();
        let folded = !self.take_token(now);
        if folded {
            self.folded_new += 1;
            self.folded_bytes += wire_len;
        } else {
            out.push(Event::about("leak", &key, &ev, wire_len, packets));
        }
        self.leaks.insert(
            key,
            Leak {
                evidence: ev,
                last_packet: seen,
                last_event: now,
                bytes_since: 0,
                packets_since: 0,
                folded,
            },
        );
    }

    /// A packet (or a flow's traffic so far) on an allowed fallback network.
    pub fn fallback(
        &mut self,
        key: LeakKey,
        (wire_len, packets): (u64, u64),
        now: Instant,
        evidence: impl FnOnce() -> Evidence,
        out: &mut Vec<Event>,
    ) {
        let quiet = self.timing.quiet;
        let full = self.fallbacks.len() >= MAX_KEYS;
        match self.fallbacks.get_mut(&key) {
            Some(last) if now.duration_since(*last) < quiet => *last = now,
            None if full => {}
            _ => {
                let ev = evidence();
                out.push(Event::about("fallback", &key, &ev, wire_len, packets));
                self.fallbacks.insert(key, now);
            }
        }
    }

    /// Ends an open leak now (its flows no longer violate), for `reason`.
    pub fn end(&mut self, key: &LeakKey, reason: &str, out: &mut Vec<Event>) {
        if let Some(l) = self.leaks.remove(key) {
            if !l.folded {
                let mut e = Event::about(
                    "leak-ended",
                    key,
                    &l.evidence,
                    l.bytes_since,
                    l.packets_since,
                );
                e.reason = reason.to_string();
                out.push(e);
            }
        }
    }

    /// Periodic work: ongoing reminders, ended leaks, the folded summary.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Event>) {
        let (realert, quiet) = (self.timing.realert, self.timing.quiet);
        let mut ended = Vec::new();
        for (k, l) in self.leaks.iter_mut() {
            if now.duration_since(l.last_packet) >= quiet {
                ended.push(k.clone());
            } else if !l.folded
                && l.packets_since > 0
                && now.duration_since(l.last_event) >= realert
            {
                out.push(Event::about(
                    "leak-ongoing",
                    k,
                    &l.evidence,
                    l.bytes_since,
                    l.packets_since,
                ));
                l.last_event = now;
                l.bytes_since = 0;
                l.packets_since = 0;
            }
        }
        for k in ended {
            if let Some(l) = self.leaks.remove(&k) {
                if !l.folded {
                    let mut e = Event::about(
                        "leak-ended",
                        &k,
                        &l.evidence,
                        l.bytes_since,
                        l.packets_since,
                    );
                    e.reason = format!("no leaking packet for {} s", quiet.as_secs());
                    out.push(e);
                }
            }
        }
        self.fallbacks
            .retain(|_, last| now.duration_since(*last) < quiet);
        if self.folded_new > 0 {
            let mut e = Event::plain(
                "leak-summary",
                None,
                format!(
                    "{} more new leaks beyond the alert rate limit ({} bytes in their first packets); see the metrics",
                    self.folded_new, self.folded_bytes
                ),
            );
            e.packets = Some(self.folded_new);
            e.bytes = Some(self.folded_bytes);
            out.push(e);
            self.folded_new = 0;
            self.folded_bytes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reminders after 10 s, ended after 30 s, 5 new leaks at once then 1/s.
    fn timing() -> Timing {
        Timing {
            realert: Duration::from_secs(10),
            quiet: Duration::from_secs(30),
            burst: 5.0,
            per_sec: 1.0,
        }
    }

    fn key(port: u16) -> LeakKey {
        LeakKey {
            class: "dpm".into(),
            client: "10.10.12.89".parse().unwrap(),
            server: "10.10.12.90".parse().unwrap(),
            server_port: port,
        }
    }

    #[test]
    fn one_leak_per_key_then_ongoing_then_ended() {
        let t0 = Instant::now();
        let timing = timing();
        let mut e = Engine::new(timing, t0);
        let mut out = Vec::new();
        for i in 0..1000u64 {
            e.violation(
                key(5719),
                (1500, 1),
                (t0 + Duration::from_millis(i), t0 + Duration::from_millis(i)),
                Evidence::default,
                &mut out,
            );
        }
        assert_eq!(out.iter().map(|e| e.kind).collect::<Vec<_>>(), ["leak"]);
        e.tick(t0 + Duration::from_secs(11), &mut out);
        assert_eq!(out[1].kind, "leak-ongoing");
        assert_eq!(
            (out[1].bytes, out[1].packets),
            (Some(999 * 1500), Some(999))
        );
        e.tick(t0 + Duration::from_secs(12), &mut out);
        assert_eq!(out.len(), 2, "nothing new since the reminder");
        e.tick(t0 + Duration::from_secs(31), &mut out);
        assert_eq!(out[2].kind, "leak-ended");
    }

    #[test]
    fn a_flood_of_new_keys_is_folded() {
        let t0 = Instant::now();
        let timing = timing();
        let mut e = Engine::new(timing, t0);
        let mut out = Vec::new();
        for p in 0..100u16 {
            e.violation(key(p), (100, 1), (t0, t0), Evidence::default, &mut out);
        }
        assert_eq!(out.len(), 5);
        e.tick(t0, &mut out);
        assert_eq!(out.len(), 6);
        assert_eq!((out[5].kind, out[5].packets), ("leak-summary", Some(95)));
        assert_eq!(e.active().values().sum::<u64>(), 100);
    }
}
