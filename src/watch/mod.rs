//! `lanecheck watch`: the daemon. Capture runs on its own OS threads (one
//! per NIC, libpcap) feeding a bounded queue; the daemon's loop
//! ([`daemon::Daemon::run`]) owns the analyzer, the alert engine and the
//! metrics on a thread of its own; the control plane runs on tokio:
//! signals and the 1 s ticker become [`daemon::Control`] messages, the
//! metrics endpoint serves the page the loop renders, and every alert sink
//! is a task behind its own bounded queue.

mod alerts;
mod daemon;
mod feed;
mod http;
mod metrics;
mod privileges;
mod sinks;

use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use capture::{LiveConfig, LiveNic, NicSlot};

use self::alerts::{Engine, Timing};
use self::daemon::{Control, Daemon, Setup};
use self::feed::LiveFeed;
use self::sinks::{FileSink, SinkSet, StdoutSink, SyslogSink, WebhookSink};
use crate::flags::WatchArgs;
use crate::pipeline::parse_duration;
use crate::{config, verify, Outcome};

pub use self::daemon::daemon_config;

/// What must be opened while still privileged.
struct Opened {
    nics: Vec<NicSlot>,
    listener: Option<std::net::TcpListener>,
    alert_file: Option<(String, std::fs::File)>,
    syslog: Option<Option<std::os::unix::net::UnixDatagram>>,
}

fn open_privileged(args: &WatchArgs, nics: &[verify::Chosen]) -> Result<Opened> {
    let cfg = verify::live_config(&args.live)?;
    let nics = nics
        .iter()
        .map(|n| open_or_wait(&n.name, &cfg, n.named))
        .collect::<Result<_>>()?;
    let listener = args.metrics.as_deref().map(http::bind).transpose()?;
    let alert_file = match args.alerts.as_deref() {
        Some("-") | None => None,
        Some(p) => Some((p.to_string(), FileSink::open(p)?)),
    };
    let syslog = args
        .syslog
        .then(|| SyslogSink::connect(&args.syslog_socket))
        .transpose()?;
    Ok(Opened {
        nics,
        listener,
        alert_file,
        syslog,
    })
}

/// Opens a NIC; one that is down (libpcap refuses to activate it) waits
/// to be opened when it comes up. Any other failure stops watch.
fn open_or_wait(name: &str, cfg: &LiveConfig, named: bool) -> Result<NicSlot> {
    let err = match LiveNic::open(name, cfg) {
        Ok(nic) => return Ok(NicSlot::Open(nic)),
        Err(e) => e,
    };
    // A listing that fails leaves libpcap's error to say what is wrong.
    let down =
        capture::system_ifaces().is_ok_and(|list| list.iter().any(|i| i.name == name && !i.up));
    if !down {
        return Err(err.into());
    }
    if named {
        log::warn!("{name} is down: capture-lost until it comes up, then captured");
    } else {
        log::info!("{name} is down: captured once it comes up");
    }
    Ok(NicSlot::Waiting {
        name: name.to_string(),
        snaplen: cfg.snaplen,
    })
}

fn timing(args: &WatchArgs) -> Result<Timing> {
    Ok(Timing {
        realert: parse_duration(&args.realert).context("--realert")?,
        quiet: parse_duration(&args.quiet).context("--quiet")?,
        burst: (args.alert_rate * 5.0).max(1.0),
        per_sec: args.alert_rate.max(0.01),
    })
}

/// Runs the daemon until SIGTERM/SIGINT.
pub fn run(args: &WatchArgs) -> Result<Outcome> {
    let policy = config::load(&args.policy)?;
    crate::pipeline::at_least_one_flow(args.max_flows)?;
    let chosen = verify::choose_nics(&args.live, &policy, true)?;
    if let Some(h) = &args.live.node {
        crate::node::host_of(&policy, h, "--node")?;
    }
    let names: Vec<String> = chosen.iter().map(|n| n.name.clone()).collect();
    let named: Vec<bool> = chosen.iter().map(|n| n.named).collect();
    let timing = timing(args)?;
    let evidence_wait = parse_duration(&args.evidence_wait).context("--evidence-wait")?;
    if args.alerts.is_none() && args.webhook.is_empty() && !args.syslog {
        log::warn!(
            "no alert destination (--alerts, --webhook, --syslog): leaks are only counted in the metrics and summed when watch stops"
        );
    }
    // Open every NIC, file and socket while still privileged, then drop
    // root before any thread starts (capabilities are per thread).
    let opened = open_privileged(args, &chosen)?;
    privileges::drop_to(&args.user)?;
    // A policy the unprivileged user cannot read would only fail at the
    // first SIGHUP: refuse it now.
    config::load(&args.policy)
        .context("the policy must stay readable after dropping privileges")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("lanecheck-control")
        .build()
        .context("starting the control plane")?;
    let page: http::Page = Arc::new(Mutex::new(String::new()));
    let (ctl_tx, ctl_rx) = sync_channel::<Control>(64);
    let sinks = rt.block_on(async { start_sinks(args, opened.alert_file, opened.syslog) });
    rt.spawn(control_plane(ctl_tx));
    if let Some(l) = opened.listener {
        rt.spawn(http::serve(l, Arc::clone(&page)));
    }
    let mut acfg = daemon_config();
    acfg.flows.max_flows = args.max_flows;
    acfg.flows.idle_timeout_ns = i64::try_from(timing.quiet.as_nanos())
        .unwrap_or(i64::MAX)
        .max(60_000_000_000);
    let mut d = Daemon::new(Setup {
        policy,
        policy_path: args.policy.clone(),
        acfg,
        names: names.clone(),
        engine: Engine::new(timing, Instant::now()),
        sinks,
        evidence_wait,
        page,
        node: args.live.node.clone(),
    });
    let mut feed = LiveFeed::start(opened.nics, &named, verify::live_config(&args.live)?);
    log::info!("watching {}", names.join(", "));
    let (packets, deadline) = d.run(&mut feed, &ctl_rx);
    let (alerts, leaks) = d.alert_counts();
    log::info!("capture stopped; delivering the last alerts");
    let left = deadline.saturating_duration_since(Instant::now());
    rt.block_on(d.sinks_mut().close(left));
    // A webhook still retrying is abandoned (its events were counted).
    rt.shutdown_background();
    eprintln!(
        "lanecheck watch: stopped after {packets} packets; {alerts} alert events ({leaks} leaks)"
    );
    Ok(Outcome::Pass)
}

/// The sinks, each a task behind its own queue (inside the runtime).
fn start_sinks(
    args: &WatchArgs,
    file: Option<(String, std::fs::File)>,
    syslog: Option<Option<std::os::unix::net::UnixDatagram>>,
) -> SinkSet {
    let mut sinks = SinkSet::default();
    if let Some((path, f)) = file {
        sinks.add("file", FileSink::new(&path, f));
    } else if args.alerts.as_deref() == Some("-") {
        sinks.add("stdout", StdoutSink::new());
    }
    for (i, url) in args.webhook.iter().enumerate() {
        let label = webhook_label(i, args.webhook.len());
        log::info!("alert sink {label}: {}", without_secrets(url));
        sinks.add(&label, WebhookSink::new(url));
    }
    if let Some(s) = syslog {
        sinks.add("syslog", SyslogSink::new(&args.syslog_socket, s));
    }
    sinks
}

/// A webhook's sink label: `webhook`, or with several `webhook-1`,
/// `webhook-2`… in the order given, so each has its own counters and log
/// lines.
fn webhook_label(i: usize, of: usize) -> String {
    if of == 1 {
        "webhook".into()
    } else {
        format!("webhook-{}", i + 1)
    }
}

/// A URL as the log may show it: scheme, host, port and path, without
/// user information, query or fragment (where tokens travel).
fn without_secrets(url: &str) -> String {
    let Ok(u) = url.parse::<hyper::Uri>() else {
        return "(an unparsable URL)".into();
    };
    let host = u.host().unwrap_or("");
    let port = u.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{host}{port}{}",
        u.scheme_str().unwrap_or("?"),
        u.path()
    )
}

#[cfg(test)]
mod labels {
    use super::*;

    #[test]
    fn webhooks_are_told_apart_and_logged_without_secrets() {
        assert_eq!(webhook_label(0, 1), "webhook");
        assert_eq!(
            (webhook_label(0, 2), webhook_label(1, 2)),
            ("webhook-1".into(), "webhook-2".into())
        );
        assert_eq!(
            without_secrets("https://user:pw@hooks.example:8443/services/T0?token=abc#x"),
            "https://hooks.example:8443/services/T0"
        );
        assert_eq!(
            without_secrets("http://127.0.0.1/hook"),
            "http://127.0.0.1/hook"
        );
    }
}

/// Signals and the 1 s ticker, as messages to the loop. A full queue (the
/// loop busy) drops ticks; a shutdown is retried until it is taken.
async fn control_plane(tx: SyncSender<Control>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        log::error!("cannot install signal handlers");
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let msg = tokio::select! {
            _ = tick.tick() => Control::Tick(Instant::now()),
            _ = hup.recv() => Control::Reload,
            _ = term.recv() => Control::Shutdown,
            _ = int.recv() => Control::Shutdown,
        };
        if msg == Control::Shutdown {
            while tx.try_send(Control::Shutdown).is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            return;
        }
        let _ = tx.try_send(msg);
    }
}

#[cfg(test)]
mod tests;
