//! Where alerts go: a JSON-lines file (or stdout), webhooks, syslog. A slow
//! or dead sink never stops capture or the other sinks: webhooks run on
//! their own threads behind bounded queues, and every loss is counted.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::alerts::Event;

/// Deliveries and drops of one sink kind, for the metrics.
#[derive(Debug, Default)]
pub struct SinkCounters {
    pub delivered: AtomicU64,
    pub dropped: AtomicU64,
}

/// Webhook events queued per URL before new ones are dropped.
const WEBHOOK_QUEUE: usize = 1024;
/// Attempts per webhook event (with 0.5 s, 1 s, 2 s backoff between).
const WEBHOOK_ATTEMPTS: u32 = 4;

/// The JSON-lines sink: a file (appended) or standard output.
pub enum LineSink {
    File { path: PathBuf, file: File },
    Stdout,
}

impl LineSink {
    /// Opens `path` for appending (`-` = standard output).
    pub fn open(path: &str) -> Result<Self> {
        if path == "-" {
            return Ok(LineSink::Stdout);
        }
        let path = PathBuf::from(path);
        let file = open_append(&path)?;
        Ok(LineSink::File { path, file })
    }
}

struct Webhook {
    tx: Option<SyncSender<String>>,
    thread: Option<JoinHandle<()>>,
}

/// Every configured sink.
pub struct Sinks {
    lines: Option<LineSink>,
    webhooks: Vec<Webhook>,
    syslog: Option<UnixDatagram>,
    pub counters: Vec<(&'static str, Arc<SinkCounters>)>,
    hostname: String,
}

fn counters(
    list: &mut Vec<(&'static str, Arc<SinkCounters>)>,
    name: &'static str,
) -> Arc<SinkCounters> {
    if let Some((_, c)) = list.iter().find(|(n, _)| *n == name) {
        return Arc::clone(c);
    }
    let c = Arc::new(SinkCounters::default());
    list.push((name, Arc::clone(&c)));
    c
}

fn open_append(path: &PathBuf) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open alert file {}", path.display()))
}

impl Sinks {
    /// Opens the sinks (before privileges are dropped).
    pub fn new(
        lines: Option<LineSink>,
        webhooks: &[String],
        syslog: Option<&std::path::Path>,
    ) -> Result<Self> {
        let mut list = Vec::new();
        match &lines {
            Some(LineSink::Stdout) => {
                counters(&mut list, "stdout");
            }
            Some(LineSink::File { .. }) => {
                counters(&mut list, "file");
            }
            None => {}
        }
        let mut hooks = Vec::new();
        for url in webhooks {
            let c = counters(&mut list, "webhook");
            let (tx, rx) = mpsc::sync_channel::<String>(WEBHOOK_QUEUE);
            let url = url.clone();
            let thread = std::thread::Builder::new()
                .name("webhook".into())
                .spawn(move || {
                    let agent = ureq::AgentBuilder::new()
                        .timeout_connect(Duration::from_secs(3))
                        .timeout(Duration::from_secs(5))
                        .build();
                    for body in rx {
                        post(&agent, &url, &body, &c);
                    }
                })
                .context("starting a webhook thread")?;
            hooks.push(Webhook {
                tx: Some(tx),
                thread: Some(thread),
            });
        }
        let syslog = match syslog {
            Some(path) => {
                counters(&mut list, "syslog");
                let s = UnixDatagram::unbound().context("syslog socket")?;
                // A syslog daemon that stops reading must not block the
                // event loop: a full socket drops the message (counted).
                s.set_nonblocking(true).context("syslog socket")?;
                match s.connect(path) {
                    Ok(()) => Some(s),
                    Err(e) => {
                        log::warn!(
                            "syslog: cannot reach {} ({e}); syslog events will be counted as dropped",
                            path.display()
                        );
                        None
                    }
                }
            }
            None => None,
        };
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "-".into());
        Ok(Sinks {
            lines,
            webhooks: hooks,
            syslog,
            counters: list,
            hostname,
        })
    }

    fn count(&self, name: &str, ok: bool) {
        if let Some((_, c)) = self.counters.iter().find(|(n, _)| *n == name) {
            let field = if ok { &c.delivered } else { &c.dropped };
            field.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Delivers one event everywhere (webhooks asynchronously).
    pub fn emit(&mut self, e: &Event) {
        let line = serde_json::to_string(e).unwrap_or_default();
        match &mut self.lines {
            Some(LineSink::File { file, .. }) => {
                let ok = writeln!(file, "{line}").and_then(|()| file.flush()).is_ok();
                self.count("file", ok);
            }
            Some(LineSink::Stdout) => {
                let mut out = std::io::stdout().lock();
                let ok = writeln!(out, "{line}").and_then(|()| out.flush()).is_ok();
                self.count("stdout", ok);
            }
            None => {}
        }
        let mut dropped = 0;
        for w in &self.webhooks {
            if let Some(tx) = &w.tx {
                if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
                    tx.try_send(line.clone())
                {
                    dropped += 1;
                }
            }
        }
        for _ in 0..dropped {
            self.count("webhook", false);
        }
        if self.counters.iter().any(|(n, _)| *n == "syslog") {
            let ok = self.syslog.as_ref().is_some_and(|s| {
                // RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG;
                // facility daemon (3); leaks are warnings (4), the rest notices (5).
                let sev = if e.kind.starts_with("leak") || e.kind == "capture-lost" {
                    4
                } else {
                    5
                };
                let msg = format!(
                    "<{}>1 {} {} lanecheck {} {} - {line}",
                    3 * 8 + sev,
                    e.time,
                    self.hostname,
                    std::process::id(),
                    e.kind
                );
                s.send(msg.as_bytes()).is_ok()
            });
            self.count("syslog", ok);
        }
    }

    /// Reopens the alert file (log rotation, SIGHUP).
    pub fn reopen(&mut self) {
        if let Some(LineSink::File { path, file }) = &mut self.lines {
            match open_append(path) {
                Ok(f) => *file = f,
                Err(e) => log::warn!("{e:#}; still writing to the old file"),
            }
        }
    }

    /// Flushes everything; waits for webhook queues up to `deadline`.
    pub fn close(mut self, deadline: Instant) {
        if let Some(LineSink::File { file, .. }) = &mut self.lines {
            let _ = file.flush();
        }
        for w in &mut self.webhooks {
            w.tx = None;
        }
        for w in &mut self.webhooks {
            if let Some(t) = w.thread.take() {
                while !t.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if t.is_finished() {
                    let _ = t.join();
                } else {
                    log::warn!(
                        "a webhook did not finish before shutdown; its queued events are lost"
                    );
                }
            }
        }
    }
}

fn post(agent: &ureq::Agent, url: &str, body: &str, c: &SinkCounters) {
    let mut backoff = Duration::from_millis(500);
    for attempt in 1..=WEBHOOK_ATTEMPTS {
        match agent
            .post(url)
            .set("Content-Type", "application/json")
            .send_string(body)
        {
            Ok(_) => {
                c.delivered.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                log::debug!("webhook {url}: attempt {attempt} failed: {e}");
                if attempt < WEBHOOK_ATTEMPTS {
                    std::thread::sleep(backoff);
                    backoff *= 2;
                }
            }
        }
    }
    log::warn!("webhook {url}: event dropped after {WEBHOOK_ATTEMPTS} attempts");
    c.dropped.fetch_add(1, Ordering::Relaxed);
}
