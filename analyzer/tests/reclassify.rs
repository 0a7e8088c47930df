//! Property test of the evidence stage's central promise: when payload
//! evidence changes a flow's class, every byte and packet already counted
//! moves to the new class in the same time bins, for its networks and
//! NICs, so the report equals the one computed had the final class been
//! known at the first packet.
//!
//! Random SMB flows between two cluster nodes, on one or two NICs, each
//! with a TREE_CONNECT at a random packet that decides its final class
//! (a management copy to `ClusterStorage$` → client, a `VMMigration$`
//! share → a user class by an evidence rule, a CSV-style share →
//! smb-redirected). Policy A classifies by evidence; policy B pins each
//! flow's final class by a port rule from its first packet.

use std::collections::BTreeMap;
use std::net::IpAddr;

use analyzer::class::ClassId;
use analyzer::policy::{ClassPolicy, NetId, Network, OnFallback, Policy, Roles, Rule, Side};
use analyzer::report::{Report, Violation};
use analyzer::{Analyzer, AnalyzerConfig};
use capture::{Frame, LinkType, Timestamp};
use etherparse::PacketBuilder;
use proptest::prelude::*;

const NODE1: [u8; 4] = [172, 16, 30, 11];
const NODE2: [u8; 4] = [172, 16, 30, 12];

use fixgen::messages::{smb2_tree_connect as tree_connect, smb2_write as write};

/// One generated flow: its client port, the share deciding it, the packet
/// carrying the tree connect, and per packet (time step in ms, write size,
/// NIC index, whether the other NIC logged a copy of it too).
#[derive(Clone, Debug)]
struct FlowSpec {
    sport: u16,
    share: usize,
    connect_at: usize,
    packets: Vec<(u16, u16, usize, bool)>,
}

const SHARES: [(&str, &str); 3] = [
    ("\\\\CLUSTER\\ClusterStorage$", "client"),
    ("\\\\NODE1\\VMMigration$", "smb-live-migration"),
    ("\\\\NODE1\\7c1d2f3e-csv$", "smb-redirected"),
];

fn flow_spec() -> impl Strategy<Value = FlowSpec> {
    (
        0usize..3,
        prop::collection::vec((1u16..900, 0u16..3000, 0usize..2, any::<bool>()), 1..40),
    )
        .prop_flat_map(|(share, packets)| {
            let n = packets.len();
            (Just(share), 0..n, Just(packets))
        })
        .prop_map(|(share, connect_at, packets)| FlowSpec {
            sport: 0,
            share,
            connect_at,
            packets,
        })
}

/// Frames of every flow, interleaved in time order, on NICs `csv`/`lm`
/// (times in ns; a copy 1 µs after its packet, on the other NIC).
fn frames(flows: &[FlowSpec]) -> Vec<(i64, usize, Vec<u8>)> {
    const MS: i64 = 1_000_000;
    let mut out = Vec::new();
    for f in flows {
        let mut t: i64 = (1_700_000_000_000 + i64::from(f.sport) * 7) * MS;
        let mut seq: u32 = 1000;
        let syn = PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4(NODE2, NODE1, 64)
            .tcp(f.sport, 445, seq, 64240)
            .syn();
        let mut buf = Vec::new();
        syn.write(&mut buf, &[]).unwrap();
        out.push((t, 0, buf));
        seq += 1;
        for (i, (step, size, nic, copy)) in f.packets.iter().enumerate() {
            t += i64::from(*step) * MS;
            let payload = if i == f.connect_at {
                tree_connect(SHARES[f.share].0)
            } else {
                write(usize::from(*size))
            };
            let b = PacketBuilder::ethernet2([2; 6], [4; 6])
                .ipv4(NODE2, NODE1, 64)
                .tcp(f.sport, 445, seq, 64240)
                .ack(1);
            let mut buf = Vec::new();
            b.write(&mut buf, &payload).unwrap();
            seq = seq.wrapping_add(payload.len() as u32);
            if *copy {
                out.push((t + 1_000, 1 - *nic, buf.clone()));
            }
            out.push((t, *nic, buf));
        }
    }
    out.sort_by_key(|(t, _, _)| *t);
    out
}

fn policy(rules: Vec<Rule>, extra_class: &str) -> Policy {
    let net = |name: &str, p: &str| Network {
        name: name.into(),
        prefixes: vec![p.parse().unwrap()],
    };
    let mut ifaces = BTreeMap::new();
    ifaces.insert("csv".to_string(), NetId(0));
    ifaces.insert("lm".to_string(), NetId(1));
    let nodes: Vec<IpAddr> = [NODE1, NODE2].iter().map(|a| IpAddr::from(*a)).collect();
    let classes = vec![
        ClassPolicy {
            name: "smb-redirected".into(),
            networks: Some(vec![NetId(0)]),
            on_fallback: OnFallback::Warn,
        },
        ClassPolicy {
            name: "client".into(),
            networks: Some(vec![NetId(0), NetId(1)]),
            on_fallback: OnFallback::Warn,
        },
        ClassPolicy {
            name: extra_class.into(),
            networks: Some(vec![NetId(1)]),
            on_fallback: OnFallback::Warn,
        },
    ];
    Policy::new(
        vec![net("csv", "172.16.30.0/24"), net("lm", "172.16.40.0/24")],
        ifaces,
        BTreeMap::new(),
        Roles {
            cluster_nodes: nodes,
            ..Roles::default()
        },
        classes,
        rules,
    )
}

fn rule(index: usize, class: ClassId, ports: Vec<(u16, u16)>, share: Option<&str>) -> Rule {
    Rule {
        index,
        class,
        proto: Some(6),
        ports,
        hosts: vec![],
        side: Side::Any,
        description: "test".into(),
        smb_share: share.map(|s| glob::Pattern::new(s).unwrap()),
        smb_server: None,
        rpc_interface: None,
    }
}

fn run(policy: Policy, frames: &[(i64, usize, Vec<u8>)]) -> Report {
    let mut an = Analyzer::with_policy(AnalyzerConfig::default(), policy);
    let cap = an.add_capture("prop");
    // dumpcap on two NICs: a copy on the other NIC adds that NIC only.
    an.set_source(cap, capture::Producer::Npcap, None, 2);
    let nics = [an.intern_iface(cap, "csv"), an.intern_iface(cap, "lm")];
    for (t, nic, data) in frames {
        let f = Frame {
            ts: Timestamp(*t),
            ..Frame::test(LinkType::ETHERNET, data)
        };
        an.observe(&f, cap, Some(nics[*nic]));
    }
    an.report()
}

/// Everything of a violation but the wording of its class reason and its evidence.
fn essence(v: &Violation) -> impl PartialEq + std::fmt::Debug + '_ {
    (
        &v.class,
        &v.reasons,
        &v.network,
        &v.interface,
        v.src,
        v.sport,
        v.bytes,
        v.packets,
        v.first_seen,
        v.last_seen,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn reclassified_report_equals_final_classes_from_the_start(
        mut flows in prop::collection::vec(flow_spec(), 1..8)
    ) {
        for (i, f) in flows.iter_mut().enumerate() {
            f.sport = 50_000 + i as u16;
        }
        let frames = frames(&flows);
        // Policy A: the built-in SMB rows and one evidence rule.
        let extra = ClassId(analyzer::class::BUILTIN_CLASSES.len() as u16);
        let a = policy(vec![rule(1, extra, vec![(445, 445)], Some("VMMigration*"))], "smb-live-migration");
        // Policy B: every flow's final class by its client port, from the start.
        let b_rules = flows
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let class = match SHARES[f.share].1 {
                    "client" => analyzer::class::CLIENT,
                    "smb-redirected" => analyzer::class::SMB_REDIRECTED,
                    _ => extra,
                };
                rule(i + 1, class, vec![(f.sport, f.sport)], None)
            })
            .collect();
        let b = policy(b_rules, "smb-live-migration");
        let (ra, rb) = (run(a, &frames), run(b, &frames));
        prop_assert_eq!(&ra.classes, &rb.classes);
        prop_assert_eq!(ra.verdict, rb.verdict);
        prop_assert_eq!(&ra.warnings, &rb.warnings);
        let ea: Vec<_> = ra.violations.iter().map(essence).collect();
        let eb: Vec<_> = rb.violations.iter().map(essence).collect();
        prop_assert_eq!(ea, eb);
        // Every flow was reclassified by its tree connect (not left provisional).
        let decided = ra.classes.iter().map(|c| c.flows).sum::<u64>();
        prop_assert_eq!(decided, flows.len() as u64);
    }
}
