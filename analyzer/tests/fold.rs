//! Folding finished flows (`AnalyzerConfig::fold_every`): a fold runs once
//! per `fold_every` flows that finish, however many violating flows earlier
//! folds kept, the report counts every flow, and every flow keeps its
//! digest.

use std::collections::BTreeMap;

use analyzer::flow::FlowTableConfig;
use analyzer::policy::{ClassPolicy, NetId, Network, OnFallback, Policy, Roles};
use analyzer::{Analyzer, AnalyzerConfig};
use capture::{Frame, LinkType, Timestamp};
use etherparse::PacketBuilder;

const FLOWS: u16 = 1000;
const FOLD_EVERY: usize = 10;

/// `client` may use `allowed` only: a flow from `blocked` violates.
fn policy() -> Policy {
    let net = |name: &str, p: &str| Network {
        name: name.into(),
        prefixes: vec![p.parse().unwrap()],
    };
    let client = ClassPolicy {
        name: "client".into(),
        networks: Some(vec![NetId(0)]),
        on_fallback: OnFallback::Warn,
    };
    Policy::new(
        vec![net("allowed", "10.1.0.0/16"), net("blocked", "10.2.0.0/16")],
        BTreeMap::new(),
        BTreeMap::new(),
        Roles::default(),
        vec![client],
        vec![],
    )
}

/// One UDP packet of flow `i`: even flows on `allowed`, odd ones on `blocked`.
fn packet(i: u16) -> Vec<u8> {
    let net = if i.is_multiple_of(2) { 1 } else { 2 };
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4([10, net, 0, 1], [10, net, 0, 2], 64)
        .udp(10_000 + i, 7000)
        .write(&mut out, &[0x5a; 64])
        .unwrap();
    out
}

#[test]
fn kept_violations_do_not_make_every_packet_fold() {
    let cfg = AnalyzerConfig {
        flows: FlowTableConfig {
            max_flows: 4,
            idle_timeout_ns: 1_000_000_000,
            keep_finished: true,
        },
        fold_every: FOLD_EVERY,
        merge_facts: true,
        ..AnalyzerConfig::default()
    };
    let mut an = Analyzer::with_policy(cfg, policy());
    let cap = an.add_capture("built");
    for i in 0..FLOWS {
        let data = packet(i);
        let f = Frame {
            // 2 s apart: each flow has expired (or been evicted) by the next.
            ts: Timestamp(1_700_000_000_000_000_000 + i64::from(i) * 2_000_000_000),
            ..Frame::test(LinkType::ETHERNET, &data)
        };
        an.observe(&f, cap, None);
    }
    // One fold per FOLD_EVERY finished flows; re-scanning the 500 kept
    // violations at every packet would fold about once per packet.
    let most = u64::from(FLOWS) / FOLD_EVERY as u64 + 1;
    assert!(an.folds() <= most, "{} folds, at most {most}", an.folds());
    assert!(
        an.folds() >= most - 2,
        "{} folds: folding never ran",
        an.folds()
    );
    // Folded flows keep their digest (audit --save): one per flow.
    assert_eq!(an.flow_digests().len(), usize::from(FLOWS));
    let report = an.report();
    assert_eq!(report.violations.len(), usize::from(FLOWS / 2));
    let client = report.classes.iter().find(|c| c.class == "client").unwrap();
    assert_eq!(client.flows, u64::from(FLOWS));
    assert_eq!(client.packets, u64::from(FLOWS));
}
