//! The daemon's loop fed from memory: a day of packet time (86,400 s of
//! mixed traffic at a few packets per second, SMB and RPC flows whose class
//! evidence decides, DNS answers) through `Daemon::on_frame` and the
//! once-a-second `tick_core`. Memory must depend on `--max-flows` and the
//! policy, not on uptime: no throughput bins at all, no finished flows, and
//! the same number of flows, waiting flows and kept facts at every hour.

use std::time::{Duration, Instant};

use capture::{Frame, IfaceId, LinkType, Timestamp};
use etherparse::PacketBuilder;

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
"#;

fn daemon() -> Daemon {
    let policy = crate::config::parse(POLICY, "soak.toml").unwrap();
    let timing = Timing {
        realert: Duration::from_secs(900),
        quiet: Duration::from_secs(300),
        burst: 100.0,
        per_sec: 20.0,
    };
    let mut acfg = daemon_config();
    acfg.flows.idle_timeout_ns = 300_000_000_000;
    let mut d = Daemon {
        an: Analyzer::with_policy(acfg, policy.clone()),
        class_names: class_names(&policy),
        policy,
        policy_path: "soak.toml".into(),
        acfg,
        ids: Vec::new(),
        names: vec!["eth0".into(), "eth1".into()],
        engine: Engine::new(timing, Instant::now()),
        sinks: Sinks::new(None, &[], None).unwrap(),
        metrics: Metrics::default(),
        pending: Pending::default(),
        events: Vec::new(),
        nics: Vec::new(),
        live_cfg: LiveConfig::default(),
        evicted_seen: 0,
        waiting: VecDeque::new(),
        evidence_wait: Duration::from_secs(5),
    };
    d.register_nics();
    d
}

/// NBSS + SMB2 header + body.
fn smb2(command: u16, body: &[u8]) -> Vec<u8> {
    let mut h = vec![0xfe, b'S', b'M', b'B', 64, 0, 1, 0, 0, 0, 0, 0];
    h.extend(command.to_le_bytes());
    h.extend([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    h.extend(7u64.to_le_bytes());
    h.extend([0; 4]);
    h.extend(1u32.to_le_bytes());
    h.extend(0x4000_0000_0001u64.to_le_bytes());
    h.extend([0; 16]);
    h.extend(body);
    let mut v = vec![0];
    v.extend(&(h.len() as u32).to_be_bytes()[1..]);
    v.extend(h);
    v
}

fn tree_connect(path: &str) -> Vec<u8> {
    let name: Vec<u8> = path.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut b = vec![9, 0, 0, 0];
    b.extend(0x48u16.to_le_bytes());
    b.extend((name.len() as u16).to_le_bytes());
    b.extend(name);
    smb2(3, &b)
}

/// A DNS answer: `ps.x.y.com` A 192.168.1.24.
fn dns_answer(id: u16) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.extend([0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    for l in ["ps", "x", "y", "com"] {
        v.push(l.len() as u8);
        v.extend(l.as_bytes());
    }
    v.extend([
        0, 0, 1, 0, 1, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 168, 1, 24,
    ]);
    v
}

/// A DCE/RPC bind to one interface (DPD signature, an RPC bind fact).
fn rpc_bind() -> Vec<u8> {
    let mut b = vec![5, 0, 11, 3, 0x10, 0, 0, 0, 72, 0, 0, 0, 1, 0, 0, 0];
    b.extend([0xd0, 0x16, 0xd0, 0x16, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]);
    b.extend([0x11; 16]);
    b.extend([1, 0, 0, 0]);
    b.extend([
        0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48,
        0x60,
    ]);
    b.extend([2, 0, 0, 0]);
    b
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
        tr.udp(t + 30, (DPM_P, [10, 10, 12, 10]), (port(30), 53), b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x02ps\x01x\x01y\x03com\x00\x00\x01\x00\x01");
        tr.udp(
            t + 31,
            ([10, 10, 12, 10], DPM_P),
            (53, port(30)),
            &dns_answer(s as u16),
        );
    }
    if s % 60 == 0 {
        let write = smb2(9, &[0x31; 200]);
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
            &[smb2(0, &[0; 36]), tree_connect(share), write],
        );
    }
    if s % 300 == 0 {
        tr.conversation(t + 50, 0, (DPM_P, PS_P), (port(300), 135), &[rpc_bind()]);
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
