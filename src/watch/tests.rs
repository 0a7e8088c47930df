//! The daemon's loop fed from memory: a day of packet time (86,400 s of
//! mixed traffic at a few packets per second, SMB and RPC flows whose class
//! evidence decides, DNS answers) through `Daemon::on_frame` and the
//! once-a-second `tick_core`. Memory must depend on `--max-flows` and the
//! policy, not on uptime: no throughput bins at all, no finished flows, and
//! the same number of flows, waiting flows and kept facts at every hour.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::time::{Duration, Instant};

use capture::{Frame, IfaceId, LinkType, OwnedFrame, Timestamp};
use etherparse::PacketBuilder;
use fixgen::messages::{
    dcerpc_bind, dns_aaaa_no_data, dns_answer, dns_answer_truncated, dns_query, smb2_negotiate,
    smb2_tree_connect, smb2_write,
};

use super::alerts::Event;
use super::feed::MemoryFeed;
use super::sinks::{Delivery, Sink};
use super::*;

const POLICY: &str = r#"
[networks]
primary = ["10.10.12.0/24"]
backup = ["192.168.1.0/24"]
[interfaces]
eth0 = "primary"
eth1 = "backup"
[hosts]
dpm = ["10.10.12.89", "192.168.1.23"]
ps = ["10.10.12.90", "192.168.1.24"]
[roles]
dpm_servers = ["dpm"]
cluster_nodes = ["dpm", "ps"]
[classes.dpm]
networks = ["backup"]
[classes.smb-redirected]
networks = ["primary", "backup"]
on_fallback = "allow"
[classes.dpm-control]
networks = ["primary"]

[[dns]]
names = ["ps.x.y.com"]
must_include = ["backup"]
"#;

fn setup(policy_path: &str, sinks: SinkSet) -> Setup {
    let policy = crate::config::parse(POLICY, "soak.toml").unwrap();
    let timing = Timing {
        realert: Duration::from_secs(900),
        quiet: Duration::from_secs(300),
        burst: 100.0,
        per_sec: 20.0,
    };
    let mut acfg = daemon_config();
    acfg.flows.idle_timeout_ns = 300_000_000_000;
    Setup {
        policy,
        policy_path: policy_path.into(),
        acfg,
        names: vec!["eth0".into(), "eth1".into()],
        engine: Engine::new(timing, Instant::now()),
        sinks,
        evidence_wait: Duration::from_secs(5),
        page: Arc::new(Mutex::new(String::new())),
        node: None,
    }
}

fn daemon() -> Daemon {
    Daemon::new(setup("soak.toml", SinkSet::default()))
}

struct Traffic {
    frames: Vec<(i64, u32, Vec<u8>)>,
}

impl Traffic {
    fn tcp(
        &mut self,
        t: i64,
        nic: u32,
        (src, dst): ([u8; 4], [u8; 4]),
        ports: (u16, u16),
        (seq, syn): (u32, bool),
        payload: &[u8],
    ) {
        let b = PacketBuilder::ethernet2([2; 6], [4; 6]).ipv4(src, dst, 64);
        let b = if syn {
            b.tcp(ports.0, ports.1, seq, 64240).syn()
        } else {
            b.tcp(ports.0, ports.1, seq, 64240).ack(1)
        };
        let mut buf = Vec::new();
        b.write(&mut buf, payload).unwrap();
        self.frames.push((t, nic, buf));
    }

    fn udp(&mut self, t: i64, (src, dst): ([u8; 4], [u8; 4]), ports: (u16, u16), payload: &[u8]) {
        let b = PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4(src, dst, 64)
            .udp(ports.0, ports.1);
        let mut buf = Vec::new();
        b.write(&mut buf, payload).unwrap();
        self.frames.push((t, 0, buf));
    }

    /// A TCP conversation from `src` opening with a SYN, then one payload per second.
    fn conversation(
        &mut self,
        t: i64,
        nic: u32,
        hosts: ([u8; 4], [u8; 4]),
        ports: (u16, u16),
        payloads: &[Vec<u8>],
    ) {
        self.tcp(t, nic, hosts, ports, (1000, true), &[]);
        let mut seq = 1001u32;
        for (i, p) in payloads.iter().enumerate() {
            self.tcp(t + 1 + i as i64 * 1000, nic, hosts, ports, (seq, false), p);
            seq = seq.wrapping_add(p.len() as u32);
        }
    }
}

const DPM_P: [u8; 4] = [10, 10, 12, 89];
const PS_P: [u8; 4] = [10, 10, 12, 90];
const DPM_B: [u8; 4] = [192, 168, 1, 23];
const PS_B: [u8; 4] = [192, 168, 1, 24];
const WS: [u8; 4] = [10, 10, 12, 70];

/// One simulated second `s` of traffic (times in ms).
fn second(s: i64) -> Traffic {
    let mut tr = Traffic { frames: Vec::new() };
    let t = s * 1000;
    let port = |every: i64| 20_000 + ((s / every) % 40_000) as u16;
    // The day-long DPM backup stream on the backup NIC (no SYN: mid-stream).
    tr.tcp(
        t + 10,
        1,
        (DPM_B, PS_B),
        (49703, 5719),
        ((s as u32).wrapping_mul(1460), false),
        &[0x42; 1460],
    );
    tr.tcp(t + 11, 1, (PS_B, DPM_B), (5719, 49703), (1, false), &[]);
    if s % 10 == 0 {
        tr.conversation(t + 20, 0, (WS, PS_P), (port(10), 443), &[vec![0x17; 300]]);
    }
    if s % 30 == 0 {
        let dns = [10, 10, 12, 10];
        let ps = [
            std::net::Ipv4Addr::new(192, 168, 1, 24),
            std::net::Ipv4Addr::new(10, 10, 12, 90),
        ];
        let q = dns_query(s as u16, "ps.x.y.com");
        tr.udp(t + 30, (DPM_P, dns), (port(30), 53), &q);
        let a = dns_answer(s as u16, "ps.x.y.com", &ps);
        tr.udp(t + 31, (dns, DPM_P), (53, port(30)), &a);
    }
    if s % 60 == 0 {
        let write = smb2_write(200);
        let share = if s % 120 == 0 {
            "\\\\PS\\csv$"
        } else {
            "\\\\CLUSTER\\ClusterStorage$"
        };
        tr.conversation(
            t + 40,
            0,
            (DPM_P, PS_P),
            (port(60), 445),
            &[smb2_negotiate(), smb2_tree_connect(share), write],
        );
    }
    if s % 300 == 0 {
        tr.conversation(t + 50, 0, (DPM_P, PS_P), (port(300), 135), &[dcerpc_bind()]);
    }
    tr
}

/// (active flows, waiting flows, facts kept, leak keys, metric series).
fn sizes(d: &Daemon) -> (u64, usize, usize, usize, usize) {
    let facts =
        d.an.slots()
            .filter_map(|s| s.ext.evidence())
            .map(|e| e.facts.len())
            .sum();
    (
        d.an.flow_stats().active,
        d.waiting.len(),
        facts,
        d.engine.active().len(),
        d.metrics.traffic.len(),
    )
}

#[test]
fn a_day_of_traffic_keeps_memory_flat() {
    let mut d = daemon();
    let t0: i64 = 1_700_000_000_000; // ms
    let mut hourly = Vec::new();
    let mut seen = 0u64;
    for s in 0..86_400i64 {
        let mut frames = second(s).frames;
        frames.sort_by_key(|f| f.0);
        for (ms, nic, data) in &frames {
            let f = Frame {
                ts: Timestamp((t0 + ms) * 1_000_000),
                iface: IfaceId(*nic),
                link: LinkType::ETHERNET,
                wire_len: data.len() as u32,
                data,
            };
            d.on_frame(&f);
            seen += 1;
        }
        d.flush_events();
        // The daemon's tick runs on the wall clock; here every simulated
        // second is one tick, and the evidence wait is over for flows more
        // than 5 s of packet time old.
        d.tick_core(Instant::now() + Duration::from_secs(3600));
        if s % 3600 == 3599 {
            let r = d.an.retained();
            assert_eq!(
                (r.bins, r.finished_flows),
                (0, 0),
                "hour {}: {r:?}",
                s / 3600
            );
            assert!(
                r.sessions <= 1 && r.endpoints == 0 && r.fragments == 0,
                "{r:?}"
            );
            hourly.push(sizes(&d));
        }
    }
    assert!(seen > 86_400 * 2, "{seen} packets");
    let (active, waiting, facts, leaks, series) = hourly[1];
    // Bounded by what 5 minutes (the idle timeout) of this traffic holds.
    assert!(active > 0 && active <= 60, "{active} flows");
    assert!(
        waiting <= active as usize && facts <= 64 * active as usize,
        "{hourly:?}"
    );
    assert!(leaks <= 2 && series <= 16, "{hourly:?}");
    // After the first hour, identical at every hour: nothing grows with uptime.
    assert!(hourly[1..].iter().all(|h| *h == hourly[1]), "{hourly:?}");
    // SMB between the nodes was judged by its evidence: ClusterStorage$
    // copies are client, csv$ is smb-redirected; DPM control by port 135.
    let classes: Vec<&str> = d.metrics.traffic.keys().map(|k| k.class.as_str()).collect();
    for c in ["dpm", "client", "smb-redirected", "dns", "dpm-control"] {
        assert!(classes.contains(&c), "{c} missing from {classes:?}");
    }
}

/// (class, network, status) and (packets, bytes) of the traffic metric.
type Row = ((String, String, &'static str), (u64, u64));

/// The traffic metric, with the counts of the last tick folded in.
fn traffic(d: &mut Daemon) -> Vec<Row> {
    d.fold_counts();
    let t = &d.metrics.traffic;
    t.iter()
        .map(|(k, v)| ((k.class.clone(), k.network.clone(), k.status), *v))
        .collect()
}

#[test]
fn fragments_sent_last_first_are_counted_and_judged_in_their_flow() {
    let mut d = daemon();
    let mut tr = Traffic { frames: Vec::new() };
    // DPM data on the primary network (a leak), one segment in three IP
    // fragments sent last first; then two later fragments whose first never
    // comes.
    tr.tcp(
        0,
        0,
        (PS_P, DPM_P),
        (5719, 49703),
        (1, false),
        &[0x42; 3000],
    );
    let leak = tr.frames.pop().unwrap().2;
    let mut parts = fixgen::frames::ip_fragments(&leak, 3, 0);
    parts.reverse();
    let mut orphans = fixgen::frames::ip_fragments(&leak, 3, 0);
    orphans.iter_mut().for_each(|f| f[19] ^= 1); // another IPv4 id
    let orphans = &orphans[1..];
    let t0: i64 = 1_700_000_000_000; // ms
    for (i, data) in parts.iter().chain(orphans).enumerate() {
        let f = Frame {
            ts: Timestamp((t0 + i as i64) * 1_000_000),
            iface: IfaceId(0),
            link: LinkType::ETHERNET,
            wire_len: data.len() as u32,
            data,
        };
        d.on_frame(&f);
    }
    let len = |f: &[Vec<u8>]| f.iter().map(|d| d.len() as u64).sum::<u64>();
    let leaked = (3, len(&parts));
    let dpm = ("dpm".to_string(), "primary".to_string(), "violation");
    assert_eq!(traffic(&mut d), [(dpm.clone(), leaked)]);
    let violations = d.metrics.violations.clone();
    assert_eq!(violations.values().sum::<u64>(), 1, "{violations:?}");
    // The orphans, held until the end of capture, then a port-less flow.
    d.end_of_input();
    let client = ("client".to_string(), "primary".to_string(), "preferred");
    assert_eq!(
        traffic(&mut d),
        [(client, (2, len(orphans))), (dpm, leaked)]
    );
}

#[test]
fn a_dns_answer_breaking_a_rule_is_one_event_per_realert() {
    let mut d = daemon();
    let dns = [10, 10, 12, 10];
    let primary_only = [std::net::Ipv4Addr::new(10, 10, 12, 90)];
    for (i, port) in [40_001u16, 40_002].into_iter().enumerate() {
        let mut tr = Traffic { frames: Vec::new() };
        let t = i as i64 * 1000;
        tr.udp(t, (DPM_P, dns), (port, 53), &dns_query(7, "ps.x.y.com"));
        tr.udp(
            t + 1,
            (dns, DPM_P),
            (53, port),
            &dns_answer(7, "ps.x.y.com", &primary_only),
        );
        for (ms, nic, data) in &tr.frames {
            d.on_frame(&Frame {
                ts: Timestamp((1_700_000_000_000 + ms) * 1_000_000),
                iface: IfaceId(*nic),
                link: LinkType::ETHERNET,
                wire_len: data.len() as u32,
                data,
            });
        }
    }
    let evs: Vec<&Event> = d
        .events
        .iter()
        .filter(|e| e.kind == "dns-violation")
        .collect();
    assert_eq!(
        evs.len(),
        1,
        "the same answer again within --realert is not re-alerted"
    );
    assert_eq!(
        evs[0].reason,
        "ps.x.y.com answered 10.10.12.90 (primary, TTL 1200 s): must_include: no address on backup (answered 10.10.12.90 (primary)) (dns rule 1)"
    );
    assert_eq!(
        (evs[0].client, evs[0].server),
        (Some(DPM_P.into()), Some(dns.into()))
    );
}

#[test]
fn an_empty_aaaa_answer_and_a_truncated_one_raise_no_dns_violation() {
    let mut d = daemon();
    let dns = [10, 10, 12, 10];
    let both = [
        std::net::Ipv4Addr::new(192, 168, 1, 24),
        std::net::Ipv4Addr::new(10, 10, 12, 90),
    ];
    let mut tr = Traffic { frames: Vec::new() };
    let answers = [
        dns_answer(7, "ps.x.y.com", &both),
        dns_aaaa_no_data(8, "ps.x.y.com"),
        dns_answer_truncated(9, "ps.x.y.com", &both),
    ];
    for (i, answer) in answers.iter().enumerate() {
        let port = 40_001 + i as u16;
        tr.udp(i as i64, (dns, DPM_P), (53, port), answer);
    }
    for (ms, nic, data) in &tr.frames {
        d.on_frame(&Frame {
            ts: Timestamp((1_700_000_000_000 + ms) * 1_000_000),
            iface: IfaceId(*nic),
            link: LinkType::ETHERNET,
            wire_len: data.len() as u32,
            data,
        });
    }
    let kinds: Vec<&str> = d.events.iter().map(|e| e.kind).collect();
    assert!(!kinds.contains(&"dns-violation"), "{kinds:?}");
}

/// A sink handing every line to a channel.
struct ChannelSink(Sender<String>);

impl Sink for ChannelSink {
    async fn deliver(&mut self, e: &Delivery) -> bool {
        self.0.send(e.line.clone()).is_ok()
    }
}

/// A sink whose first delivery never finishes (a pipe nobody reads); counts
/// the deliveries it started.
struct Stalled(Arc<AtomicU64>);

impl Sink for Stalled {
    async fn deliver(&mut self, _: &Delivery) -> bool {
        self.0.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn owned(tr: Traffic) -> Vec<OwnedFrame> {
    tr.frames
        .into_iter()
        .map(|(ms, nic, data)| OwnedFrame {
            ts: Timestamp((1_700_000_000_000 + ms) * 1_000_000),
            iface: IfaceId(nic),
            link: LinkType::ETHERNET,
            wire_len: data.len() as u32,
            data,
        })
        .collect()
}

fn lines(rx: &Receiver<String>) -> Vec<serde_json::Value> {
    rx.try_iter()
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect()
}

/// DPM traffic on the primary NIC (a leak: 3 packets, 1,570 bytes of
/// frames) and on the backup NIC (fine: 2 packets).
fn leak_and_backup(port: u16) -> (Traffic, u64) {
    let mut tr = Traffic { frames: Vec::new() };
    tr.conversation(0, 0, (DPM_P, PS_P), (port, 5719), &[vec![7; 1460]]);
    tr.tcp(2000, 0, (PS_P, DPM_P), (5719, port), (1, false), &[]);
    tr.conversation(0, 1, (DPM_B, PS_B), (port + 1, 5719), &[vec![7; 100]]);
    let leak: u64 =
        tr.frames[..2].iter().map(|f| f.2.len() as u64).sum::<u64>() + tr.frames[2].2.len() as u64;
    (tr, leak)
}

#[test]
fn the_loop_judges_its_feed_ticks_and_stops_on_shutdown() {
    let rt = runtime();
    let _in = rt.enter();
    let (tx, rx) = channel();
    let mut sinks = SinkSet::default();
    sinks.add("file", ChannelSink(tx));
    let s = setup("soak.toml", sinks);
    let page = Arc::clone(&s.page);
    let mut d = Daemon::new(s);
    let (tr, leak_bytes) = leak_and_backup(50_000);
    let frames = owned(tr);
    let n = frames.len() as u64;
    let mut feed = MemoryFeed::new(&["eth0".into(), "eth1".into()]);
    feed.push(frames);
    let (ctl, ctl_rx) = sync_channel(8);
    ctl.send(Control::Tick(Instant::now())).unwrap();
    ctl.send(Control::Shutdown).unwrap();
    assert_eq!(d.run(&mut feed, &ctl_rx).0, n);
    rt.block_on(d.sinks_mut().close(Duration::from_secs(4)));
    // Once more, to count what the sink delivered meanwhile.
    d.tick_core(Instant::now());
    let events = lines(&rx);
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(
        (&e["type"], &e["class"], &e["network"], &e["interface"]),
        (
            &"leak".into(),
            &"dpm".into(),
            &"primary".into(),
            &"eth0".into()
        )
    );
    assert_eq!(
        (&e["server"], &e["server_port"]),
        (&"10.10.12.90".into(), &5719.into())
    );
    // The tick rendered the page: the leak's packets and bytes, the backup
    // flow's, and the sink's one delivery.
    let page = page.lock().unwrap().clone();
    for line in [
        "lanecheck_packets_total{class=\"dpm\",network=\"primary\",interface=\"eth0\",status=\"violation\"} 3".to_string(),
        format!("lanecheck_bytes_total{{class=\"dpm\",network=\"primary\",interface=\"eth0\",status=\"violation\"}} {leak_bytes}"),
        "lanecheck_packets_total{class=\"dpm\",network=\"backup\",interface=\"eth1\",status=\"preferred\"} 2".to_string(),
        "lanecheck_alerts_total{type=\"leak\"} 1".to_string(),
        "lanecheck_sink_deliveries_total{sink=\"file\"} 1".to_string(),
        "lanecheck_sink_drops_total{sink=\"file\"} 0".to_string(),
    ] {
        assert!(page.lines().any(|l| l == line), "{line} missing from\n{page}");
    }
}

/// A daemon on eth0 and eth1 whose policy file is `path` (not written
/// yet) and whose alerts go to `rx`, with a feed from memory.
struct Rig {
    dir: tempfile::TempDir,
    path: std::path::PathBuf,
    rx: Receiver<String>,
    d: Daemon,
    feed: MemoryFeed,
}

impl Rig {
    /// Writes `policy` to the policy file, and runs the daemon through a
    /// SIGHUP and a stop.
    fn reload(&mut self, policy: &str) {
        std::fs::write(&self.path, policy).unwrap();
        let (ctl, ctl_rx) = sync_channel(8);
        ctl.send(Control::Reload).unwrap();
        ctl.send(Control::Shutdown).unwrap();
        self.d.run(&mut self.feed, &ctl_rx);
    }
}

/// [`Rig`], inside a tokio runtime entered by the caller.
fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    let (tx, rx) = channel();
    let mut sinks = SinkSet::default();
    sinks.add("file", ChannelSink(tx));
    let d = Daemon::new(setup(path.to_str().unwrap(), sinks));
    let feed = MemoryFeed::new(&["eth0".into(), "eth1".into()]);
    Rig {
        dir,
        path,
        rx,
        d,
        feed,
    }
}

#[test]
fn a_reload_takes_a_valid_policy_and_keeps_the_old_on_a_broken_one() {
    let rt = runtime();
    let _in = rt.enter();
    let Rig {
        dir: _dir,
        path,
        rx,
        mut d,
        mut feed,
    } = rig();
    let (ctl, ctl_rx) = sync_channel(8);
    // The new policy has DPM fall back to the primary network: a fallback,
    // not a leak, after it.
    let allowed = POLICY.replace(
        "[classes.dpm]\nnetworks = [\"backup\"]",
        "[classes.dpm]\nnetworks = [\"backup\", \"primary\"]",
    );
    assert_ne!(allowed, POLICY);
    std::fs::write(&path, &allowed).unwrap();
    ctl.send(Control::Reload).unwrap();
    ctl.send(Control::Shutdown).unwrap();
    d.run(&mut feed, &ctl_rx);
    feed.push(owned(leak_and_backup(50_000).0));
    std::fs::write(&path, "[networks]\nprimary = [\"10.10.12.0/33\"]\n").unwrap();
    ctl.send(Control::Reload).unwrap();
    ctl.send(Control::Shutdown).unwrap();
    d.run(&mut feed, &ctl_rx);
    // The broken policy was refused: DPM on primary is still a fallback.
    feed.push(owned(leak_and_backup(51_000).0));
    ctl.send(Control::Shutdown).unwrap();
    d.run(&mut feed, &ctl_rx);
    rt.block_on(d.sinks_mut().close(Duration::from_secs(4)));
    let kinds: Vec<String> = lines(&rx)
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    // One fallback event for the (class, client, server, port) of both rounds.
    assert_eq!(kinds, ["policy-reloaded", "fallback", "policy-rejected"]);
    d.tick_core(Instant::now());
    let page = d.page.lock().unwrap().clone();
    let line = "lanecheck_packets_total{class=\"dpm\",network=\"primary\",interface=\"eth0\",status=\"fallback\"} 6";
    assert!(
        page.lines().any(|l| l == line),
        "{line} missing from\n{page}"
    );
    assert_eq!(d.metrics.reloads.get("ok"), Some(&1));
    assert_eq!(d.metrics.reloads.get("rejected"), Some(&1));
}

#[test]
fn a_reload_naming_a_nic_not_captured_says_so() {
    let rt = runtime();
    let _in = rt.enter();
    let mut r = rig();
    let more = POLICY.replace(
        "eth1 = \"backup\"",
        "eth1 = \"backup\"\neth2 = \"backup\"\n\"00:15:5d:01:02:03\" = \"primary\"",
    );
    assert_ne!(more, POLICY);
    r.reload(&more);
    rt.block_on(r.d.sinks_mut().close(Duration::from_secs(4)));
    let got = lines(&r.rx);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0]["reason"],
        format!("{} loaded; its [interfaces] name NICs watch does not capture (eth2): restart watch to capture them", r.path.display())
    );
}

#[test]
fn a_stalled_sink_drops_its_own_events_and_the_others_get_every_one() {
    let rt = runtime();
    let _in = rt.enter();
    let started = Arc::new(AtomicU64::new(0));
    let (tx, rx) = channel();
    let mut sinks = SinkSet::default();
    sinks.add("stdout", Stalled(Arc::clone(&started)));
    sinks.add("webhook", ChannelSink(tx));
    let s = setup("soak.toml", sinks);
    let page = Arc::clone(&s.page);
    let mut d = Daemon::new(s);
    let event = |i: usize| Event::plain("capture-lost", Some(format!("nic{i}")), "test".into());
    // The stalled sink takes the first event and never finishes it.
    d.events.push(event(0));
    d.flush_events();
    while started.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let total = 3000;
    let mut got = 1;
    let mut received = Vec::new();
    for batch in (1..total).collect::<Vec<_>>().chunks(200) {
        d.events.extend(batch.iter().map(|&i| event(i)));
        d.flush_events();
        // The webhook keeps up: everything so far arrives.
        while got < batch[batch.len() - 1] + 1 {
            received.push(rx.recv_timeout(Duration::from_secs(10)).unwrap());
            got += 1;
        }
    }
    received.insert(0, rx.recv_timeout(Duration::from_secs(10)).unwrap());
    d.tick_core(Instant::now());
    // One event in the stalled delivery, SINK_QUEUE queued, the rest dropped.
    let dropped = total - 1 - super::sinks::SINK_QUEUE;
    let page = page.lock().unwrap().clone();
    for line in [
        format!("lanecheck_sink_drops_total{{sink=\"stdout\"}} {dropped}"),
        "lanecheck_sink_deliveries_total{sink=\"stdout\"} 0".to_string(),
        format!("lanecheck_sink_deliveries_total{{sink=\"webhook\"}} {total}"),
        "lanecheck_sink_drops_total{sink=\"webhook\"} 0".to_string(),
        format!("lanecheck_alerts_total{{type=\"capture-lost\"}} {total}"),
    ] {
        assert!(
            page.lines().any(|l| l == line),
            "{line} missing from\n{page}"
        );
    }
    let mut nics: Vec<usize> = received
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["interface"].as_str().unwrap()[3..].parse().unwrap()
        })
        .collect();
    nics.sort_unstable();
    assert_eq!(nics, (0..total).collect::<Vec<_>>());
    // Closing does not wait forever for the stalled sink.
    let t = Instant::now();
    rt.block_on(d.sinks_mut().close(Duration::from_millis(300)));
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_reload_keeps_flows_and_only_a_changed_verdict_is_told() {
    let rt = runtime();
    let _in = rt.enter();
    let mut r = rig();
    r.feed.push(owned(leak_and_backup(50_000).0));
    // The same policy twice (logrotate's daily SIGHUP): nothing but the
    // reloads is told or counted.
    r.reload(POLICY);
    r.reload(POLICY);
    r.d.fold_counts();
    let violations = r.d.metrics.violations.clone();
    assert_eq!(violations.values().sum::<u64>(), 1, "{violations:?}");
    // DPM allowed on primary as a fallback: the leak ends at the reload.
    let allowed = POLICY.replace(
        "[classes.dpm]\nnetworks = [\"backup\"]",
        "[classes.dpm]\nnetworks = [\"backup\", \"primary\"]",
    );
    r.reload(&allowed);
    rt.block_on(r.d.sinks_mut().close(Duration::from_secs(4)));
    let got = lines(&r.rx);
    let kinds: Vec<&str> = got.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "leak",
            "policy-reloaded",
            "policy-reloaded",
            "policy-reloaded",
            "fallback",
            "leak-ended"
        ]
    );
    assert_eq!(
        got[5]["reason"],
        format!(
            "policy reloaded from {}: no longer a violation",
            r.path.display()
        )
    );
    r.d.fold_counts();
    assert_eq!(r.d.metrics.violations.values().sum::<u64>(), 1);
}

/// `HOST/KEY` keys: watch judges its NICs as the host it runs on
/// (`--node`, else the host name), with only that host's keys.
#[test]
fn nics_are_judged_by_the_keys_of_the_host_watch_runs_on() {
    let text = r#"
[networks]
primary = ["10.10.12.0/24"]
backup = ["192.168.1.0/24"]
[interfaces]
"dpm/eth1" = "primary"
"ps/eth1" = "backup"
[hosts]
dpm = ["10.10.12.89", "192.168.1.23"]
ps = ["10.10.12.90", "192.168.1.24"]
"#;
    let net = |node: Option<&str>| {
        let mut s = setup("n.toml", SinkSet::default());
        s.policy = crate::config::parse(text, "n.toml").unwrap();
        s.node = node.map(str::to_string);
        let d = Daemon::new(s);
        let nets: Vec<Option<String>> = d
            .ids
            .iter()
            .map(|(_, r)| {
                d.an.iface_network(*r)
                    .map(|n| d.policy.network_name(n).to_string())
            })
            .collect();
        (d.an.node(d.ids[0].0).map(str::to_string), nets)
    };
    let (node, nets) = net(Some("DPM"));
    assert_eq!(node.as_deref(), Some("dpm"));
    assert_eq!(nets, [None, Some("primary".to_string())]);
    let (_, nets) = net(Some("ps"));
    assert_eq!(nets, [None, Some("backup".to_string())]);
}
