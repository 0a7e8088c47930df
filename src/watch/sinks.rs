//! Where alerts go: a JSON-lines file (or stdout), webhooks, syslog; in
//! tests, a channel. Every sink implements [`Sink`] and runs as its own
//! tokio task behind its own bounded queue: the loop only ever `try_send`s,
//! so a stalled or dead sink (a pipe nobody reads, a full disk, a webhook
//! that never answers) drops its own events, counts them (metrics) and says
//! so once in the log, and never slows capture or the other sinks.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::alerts::Event;

/// Events queued per sink before new ones are dropped.
pub const SINK_QUEUE: usize = 1024;
/// Attempts per webhook event (with 0.5 s, 1 s, 2 s backoff between).
const WEBHOOK_ATTEMPTS: u32 = 4;

/// Deliveries and drops of one sink kind, for the metrics.
#[derive(Debug, Default)]
pub struct SinkCounters {
    pub delivered: AtomicU64,
    pub dropped: AtomicU64,
    /// The stall was logged already.
    warned: AtomicBool,
}

/// One event as the sinks receive it.
#[derive(Debug)]
pub struct Delivery {
    /// The JSON line (no newline).
    pub line: String,
    /// Its type (`leak`, `capture-lost`…).
    pub kind: &'static str,
    /// Its time (RFC 3339).
    pub time: String,
}

/// What a sink's queue carries.
enum Msg {
    Event(Arc<Delivery>),
    /// Reopen the file (log rotation, SIGHUP).
    Reopen,
}

/// A destination for alert events, run as its own task.
pub trait Sink: Send + 'static {
    /// Delivers one event; `false` when it could not (counted as dropped).
    fn deliver(&mut self, e: &Delivery) -> impl Future<Output = bool> + Send;
    /// Reopens what it writes to (a file); most sinks have nothing to do.
    fn reopen(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// The JSON-lines file, appended.
pub struct FileSink {
    path: PathBuf,
    file: tokio::fs::File,
}

impl FileSink {
    /// Opens `path` for appending (while still privileged).
    pub fn open(path: &str) -> Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open alert file {path}"))
    }

    /// The sink over a file opened with [`FileSink::open`].
    pub fn new(path: &str, file: std::fs::File) -> Self {
        FileSink {
            path: PathBuf::from(path),
            file: tokio::fs::File::from_std(file),
        }
    }
}

impl Sink for FileSink {
    async fn deliver(&mut self, e: &Delivery) -> bool {
        let mut buf = Vec::with_capacity(e.line.len() + 1);
        buf.extend_from_slice(e.line.as_bytes());
        buf.push(b'\n');
        self.file.write_all(&buf).await.is_ok() && self.file.flush().await.is_ok()
    }

    async fn reopen(&mut self) {
        let opened = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await;
        match opened {
            Ok(f) => self.file = f,
            Err(e) => log::warn!(
                "cannot reopen alert file {}: {e}; still writing to the old file",
                self.path.display()
            ),
        }
    }
}

/// JSON lines on standard output.
pub struct StdoutSink(tokio::io::Stdout);

impl StdoutSink {
    /// Standard output.
    pub fn new() -> Self {
        StdoutSink(tokio::io::stdout())
    }
}

impl Sink for StdoutSink {
    async fn deliver(&mut self, e: &Delivery) -> bool {
        let mut buf = Vec::with_capacity(e.line.len() + 1);
        buf.extend_from_slice(e.line.as_bytes());
        buf.push(b'\n');
        self.0.write_all(&buf).await.is_ok() && self.0.flush().await.is_ok()
    }
}

/// POSTs each event to a URL (retried with backoff). ureq is blocking: each
/// delivery runs on tokio's blocking pool.
pub struct WebhookSink {
    url: String,
    agent: ureq::Agent,
}

impl WebhookSink {
    /// A webhook for `url`.
    pub fn new(url: &str) -> Self {
        WebhookSink {
            url: url.to_string(),
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(3))
                .timeout(Duration::from_secs(5))
                .build(),
        }
    }
}

impl Sink for WebhookSink {
    async fn deliver(&mut self, e: &Delivery) -> bool {
        let (agent, url, body) = (self.agent.clone(), self.url.clone(), e.line.clone());
        tokio::task::spawn_blocking(move || post(&agent, &url, &body))
            .await
            .unwrap_or(false)
    }
}

fn post(agent: &ureq::Agent, url: &str, body: &str) -> bool {
    let mut backoff = Duration::from_millis(500);
    for attempt in 1..=WEBHOOK_ATTEMPTS {
        let sent = agent
            .post(url)
            .set("Content-Type", "application/json")
            .send_string(body);
        match sent {
            Ok(_) => return true,
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
    false
}

/// RFC 5424 datagrams to the local syslog socket.
pub struct SyslogSink {
    path: PathBuf,
    socket: Option<tokio::net::UnixDatagram>,
    hostname: String,
    /// When it last tried to connect again.
    tried: Option<std::time::Instant>,
}

/// How often a syslog sink that cannot send tries to connect again (the
/// daemon restarted: its socket is a new one at the same path).
const SYSLOG_RETRY: Duration = Duration::from_secs(1);

impl SyslogSink {
    /// Connects to `path` (before privileges are dropped); an unreachable
    /// socket is logged and every event is then counted as dropped.
    pub fn connect(path: &std::path::Path) -> Result<Option<std::os::unix::net::UnixDatagram>> {
        let s = std::os::unix::net::UnixDatagram::unbound().context("syslog socket")?;
        s.set_nonblocking(true).context("syslog socket")?;
        match s.connect(path) {
            Ok(()) => Ok(Some(s)),
            Err(e) => {
                log::warn!(
                    "syslog: cannot reach {} ({e}); syslog events will be counted as dropped",
                    path.display()
                );
                Ok(None)
            }
        }
    }

    /// The sink over a socket from [`SyslogSink::connect`] to `path`
    /// (inside the runtime).
    pub fn new(path: &std::path::Path, socket: Option<std::os::unix::net::UnixDatagram>) -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "-".into());
        SyslogSink {
            path: path.to_path_buf(),
            socket: socket.and_then(|s| tokio::net::UnixDatagram::from_std(s).ok()),
            hostname,
            tried: None,
        }
    }

    /// Connects again, at most once a [`SYSLOG_RETRY`]: a syslog daemon
    /// that restarted (or started after lanecheck, at boot) listens on a
    /// new socket at the same path, and the old connection sends nowhere.
    fn reconnect(&mut self) -> bool {
        let now = std::time::Instant::now();
        if self.tried.is_some_and(|t| now - t < SYSLOG_RETRY) {
            return false;
        }
        self.tried = Some(now);
        let s = std::os::unix::net::UnixDatagram::unbound()
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .and_then(|s| s.connect(&self.path).map(|()| s))
            .and_then(tokio::net::UnixDatagram::from_std);
        self.socket = s.ok();
        self.socket.is_some()
    }
}

impl Sink for SyslogSink {
    async fn deliver(&mut self, e: &Delivery) -> bool {
        // RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG; facility
        // daemon (3); leaks and lost captures are warnings (4), the rest notices (5).
        let sev = if e.kind.starts_with("leak") || e.kind == "capture-lost" {
            4
        } else {
            5
        };
        let msg = format!(
            "<{}>1 {} {} lanecheck {} {} - {}",
            3 * 8 + sev,
            e.time,
            self.hostname,
            std::process::id(),
            e.kind,
            e.line
        );
        if let Some(s) = &self.socket {
            if s.send(msg.as_bytes()).await.is_ok() {
                return true;
            }
        }
        match self.reconnect() {
            true => match &self.socket {
                Some(s) => s.send(msg.as_bytes()).await.is_ok(),
                None => false,
            },
            false => false,
        }
    }
}

/// Logs a sink's deliveries starting to fail (from `failing` = false) or
/// recovering; whether it is failing now.
fn said_once(name: &str, failing: bool, ok: bool) -> bool {
    match (failing, ok) {
        (false, false) => log::warn!(
            "alert sink {name}: an event could not be delivered; its events are dropped (counted in lanecheck_sink_drops_total) until it works again"
        ),
        (true, true) => log::warn!("alert sink {name}: delivering again"),
        _ => {}
    }
    !ok
}

/// A sink's queue, task and counters.
struct Handle {
    name: Arc<str>,
    tx: Option<mpsc::Sender<Msg>>,
    task: Option<JoinHandle<()>>,
    counters: Arc<SinkCounters>,
}

/// Every configured sink.
#[derive(Default)]
pub struct SinkSet {
    handles: Vec<Handle>,
}

impl SinkSet {
    /// Starts `sink` as a task (inside a tokio runtime) behind its own queue.
    pub fn add<S: Sink>(&mut self, name: &str, mut sink: S) {
        let name: Arc<str> = name.into();
        let counters = self
            .handles
            .iter()
            .find(|h| h.name == name)
            .map(|h| Arc::clone(&h.counters))
            .unwrap_or_default();
        let (tx, mut rx) = mpsc::channel::<Msg>(SINK_QUEUE);
        let c = Arc::clone(&counters);
        let label = Arc::clone(&name);
        let task = tokio::spawn(async move {
            // Failing deliveries are logged once each time they start, and
            // again when they stop.
            let mut failing = false;
            while let Some(msg) = rx.recv().await {
                match msg {
                    Msg::Event(e) => {
                        let ok = sink.deliver(&e).await;
                        let field = if ok { &c.delivered } else { &c.dropped };
                        field.fetch_add(1, Ordering::Relaxed);
                        failing = said_once(&label, failing, ok);
                    }
                    Msg::Reopen => sink.reopen().await,
                }
            }
        });
        self.handles.push(Handle {
            name,
            tx: Some(tx),
            task: Some(task),
            counters,
        });
    }

    /// Hands an event to every sink without waiting: a full queue drops it
    /// (counted, and the first time logged).
    pub fn emit(&self, e: &Event) {
        if self.handles.is_empty() {
            return;
        }
        let d = Arc::new(Delivery {
            line: serde_json::to_string(e).unwrap_or_default(),
            kind: e.kind,
            time: e.time.clone(),
        });
        for h in &self.handles {
            let sent =
                h.tx.as_ref()
                    .is_some_and(|tx| tx.try_send(Msg::Event(Arc::clone(&d))).is_ok());
            if !sent {
                h.counters.dropped.fetch_add(1, Ordering::Relaxed);
                if !h.counters.warned.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        "alert sink {} is not keeping up: dropping its events (counted in lanecheck_sink_drops_total)",
                        h.name
                    );
                }
            }
        }
    }

    /// Reopens the alert file (SIGHUP).
    pub fn reopen(&self) {
        for h in &self.handles {
            if let Some(tx) = &h.tx {
                let _ = tx.try_send(Msg::Reopen);
            }
        }
    }

    /// (sink name, delivered, dropped), summed per name.
    pub fn counters(&self) -> Vec<(Arc<str>, u64, u64)> {
        let mut out: Vec<(Arc<str>, u64, u64)> = Vec::new();
        for h in &self.handles {
            if out.iter().any(|(n, _, _)| *n == h.name) {
                continue;
            }
            out.push((
                Arc::clone(&h.name),
                h.counters.delivered.load(Ordering::Relaxed),
                h.counters.dropped.load(Ordering::Relaxed),
            ));
        }
        out
    }

    /// Closes every queue and waits for the sinks to deliver what they hold,
    /// at most `within`.
    pub async fn close(&mut self, within: Duration) {
        for h in &mut self.handles {
            h.tx = None;
        }
        let tasks: Vec<(Arc<str>, JoinHandle<()>)> = self
            .handles
            .iter_mut()
            .filter_map(|h| Some((Arc::clone(&h.name), h.task.take()?)))
            .collect();
        let deadline = tokio::time::Instant::now() + within;
        for (name, t) in tasks {
            if tokio::time::timeout_at(deadline, t).await.is_err() {
                log::warn!(
                    "alert sink {name} did not finish before shutdown; its queued events are lost"
                );
            }
        }
    }
}
