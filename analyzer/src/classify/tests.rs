use std::collections::BTreeMap;

use super::*;
use crate::policy::Roles;

fn tuple(proto: u8, src: &str, sport: u16, dst: &str, dport: u16) -> FlowTuple {
    FlowTuple {
        proto,
        src: src.parse().unwrap(),
        sport,
        dst: dst.parse().unwrap(),
        dport,
    }
}

fn policy(rules: Vec<Rule>) -> Policy {
    let roles = Roles {
        dpm_servers: vec!["10.10.12.89".parse().unwrap()],
        cluster_nodes: ["172.16.30.1", "172.16.30.2", "fe80::1", "fe80::2"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect(),
        replica_servers: vec![],
    };
    Policy::new(
        vec![],
        BTreeMap::new(),
        BTreeMap::new(),
        roles,
        vec![],
        rules,
    )
}

fn said(p: &Policy, t: &FlowTuple, clues: &Clues<'_>) -> (String, String) {
    let c = Classifier::new(p);
    let got = c.classify(t, clues);
    (p.class_name(got.class).to_string(), c.describe(&got, t))
}

#[test]
fn builtin_rows_in_order() {
    let p = policy(vec![]);
    let none = Clues::default();
    let cases = [
        (
            tuple(6, "10.10.12.89", 49703, "10.10.12.90", 5719),
            "dpm",
            "tcp/5719 (DPM protection agent)",
        ),
        (
            tuple(6, "10.10.12.90", 5718, "10.10.12.89", 50000),
            "dpm",
            "tcp/5718 (DPM agent coordinator)",
        ),
        (
            tuple(6, "10.10.12.89", 49701, "10.10.12.90", 135),
            "dpm-control",
            "tcp/135 with DPM server 10.10.12.89 (RPC endpoint mapper, DCOM activation)",
        ),
        (
            tuple(6, "10.10.12.70", 49701, "10.10.12.90", 135),
            "client",
            "no other rule matched",
        ),
        (
            tuple(6, "172.16.30.1", 50000, "172.16.30.2", 445),
            "smb-redirected",
            "tcp/445 between cluster nodes (CSV redirected I/O) by roles; no tree connect seen",
        ),
        (
            tuple(6, "172.16.30.9", 50000, "172.16.30.2", 445),
            "client",
            "no other rule matched",
        ),
        (
            tuple(6, "172.16.40.1", 50000, "172.16.40.2", 6600),
            "live-migration",
            "tcp/6600 (Hyper-V live migration)",
        ),
        (
            tuple(17, "172.16.20.1", 3343, "172.16.20.2", 3343),
            "cluster",
            "udp/3343 (failover cluster)",
        ),
        (
            tuple(6, "172.16.10.1", 50000, "172.16.10.100", 3260),
            "iscsi",
            "tcp/3260 (iSCSI)",
        ),
        (
            tuple(6, "10.0.0.1", 50000, "10.0.0.2", 9443),
            "replication",
            "tcp/9443 (Site Recovery process server)",
        ),
        (
            tuple(17, "10.0.0.1", 5353, "224.0.0.251", 5353),
            "link-local",
            "udp/5353 mDNS (housekeeping)",
        ),
        (
            tuple(17, "10.0.0.1", 40000, "255.255.255.255", 9),
            "link-local",
            "multicast/broadcast destination 255.255.255.255 (housekeeping)",
        ),
        (
            tuple(17, "fe80::1", 546, "fe80::2", 547),
            "link-local",
            "udp/547 DHCPv6 (housekeeping)",
        ),
        (
            tuple(58, "fe80::1", 135, "fe80::2", 136),
            "link-local",
            "ICMPv6 neighbour discovery (housekeeping)",
        ),
        (
            tuple(17, "10.0.0.1", 40000, "10.0.0.2", 53),
            "dns",
            "udp/53 (DNS)",
        ),
    ];
    for (t, class, reason) in cases {
        assert_eq!(
            said(&p, &t, &none),
            (class.to_string(), reason.to_string()),
            "{t:?}"
        );
    }
}

#[test]
fn link_local_addresses_are_classified_by_their_ports() {
    let p = policy(vec![]);
    let none = Clues::default();
    // CSV SMB between the NetFT fe80:: addresses of two nodes.
    let smb = tuple(6, "fe80::2", 50000, "fe80::1", 445);
    assert_eq!(said(&p, &smb, &none).0, "smb-redirected");
    // A ping between link-local addresses is no housekeeping protocol.
    let ping = tuple(58, "fe80::2", 128, "fe80::1", 129);
    assert_eq!(said(&p, &ping, &none).0, "client");
}

#[test]
fn tree_connects_refine_smb_between_nodes() {
    let p = policy(vec![]);
    let t = tuple(6, "172.16.30.2", 50000, "172.16.30.1", 445);
    let admin: Vec<Box<str>> = vec![
        "\\\\NODE1\\IPC$".into(),
        "\\\\CLUSTER\\ClusterStorage$".into(),
    ];
    let clues = Clues {
        shares: &admin,
        ..Clues::default()
    };
    let (class, why) = said(&p, &t, &clues);
    assert_eq!(class, "client");
    assert!(
        why.starts_with("tree connect \\\\CLUSTER\\ClusterStorage$ between cluster nodes"),
        "{why}"
    );
    let csv: Vec<Box<str>> = vec!["\\\\NODE1\\IPC$".into(), "\\\\NODE1\\7c1d$".into()];
    let clues = Clues {
        shares: &csv,
        ..Clues::default()
    };
    assert_eq!(
        said(&p, &t, &clues),
        (
            "smb-redirected".into(),
            "tcp/445 between cluster nodes (CSV redirected I/O), tree connect \\\\NODE1\\7c1d$"
                .into()
        )
    );
    // A drive's admin share and ADMIN$ are management copies too; a
    // three-letter hidden share is not a drive's.
    for (share, class) in [
        ("C$", "client"),
        ("admin$", "client"),
        ("CSV$", "smb-redirected"),
    ] {
        let path: Vec<Box<str>> = vec![format!("\\\\NODE1\\{share}").into()];
        let clues = Clues {
            shares: &path,
            ..Clues::default()
        };
        let (got, why) = said(&p, &t, &clues);
        assert_eq!(got, class, "{share}: {why}");
    }
    let path: Vec<Box<str>> = vec!["\\\\NODE2\\D$".into()];
    let clues = Clues {
        shares: &path,
        ..Clues::default()
    };
    assert_eq!(
        said(&p, &t, &clues).1,
        "tree connect \\\\NODE2\\D$ between cluster nodes: D$ is an admin share for management copies, not redirected I/O (was tcp/445 between cluster nodes (CSV redirected I/O))"
    );
    // IPC$ alone decides nothing.
    let ipc: Vec<Box<str>> = vec!["\\\\NODE1\\IPC$".into()];
    let clues = Clues {
        shares: &ipc,
        ..Clues::default()
    };
    assert!(said(&p, &t, &clues).1.ends_with("no tree connect seen"));
}

#[test]
fn learned_endpoints_and_rpc_binds_make_dpm_control() {
    let p = policy(vec![]);
    let t = tuple(6, "192.168.1.23", 49760, "192.168.1.24", 49750);
    let e = Endpoint {
        server: "192.168.1.24".parse().unwrap(),
        proto: 6,
        port: Some(49750),
        via: Via::Dcom,
        interface: None,
        binding: Some("192.168.1.24[49750]".into()),
        announced_by: "10.10.12.90".parse().unwrap(),
        learned_at: Timestamp(1_700_000_000_000_000_000),
    };
    let clues = Clues {
        learned: Some(&e),
        ..Clues::default()
    };
    // Not a DPM server at either end: the endpoint alone proves nothing.
    assert_eq!(said(&p, &t, &clues).0, "client");
    let t = tuple(6, "10.10.12.89", 49760, "192.168.1.24", 49750);
    assert_eq!(
        said(&p, &t, &clues),
        (
            "dpm-control".into(),
            "tcp/49750 with DPM server 10.10.12.89 (DCOM control): port learned from a DCOM activation/OXID reply by 10.10.12.90 at 2023-11-14T22:13:20Z".into()
        )
    );
    let ifs = [Uuid::from_u128(0x1234)];
    let clues = Clues {
        interfaces: &ifs,
        ..Clues::default()
    };
    assert_eq!(said(&p, &t, &clues).0, "dpm-control");
    assert!(Classifier::new(&p).may_refine(&t, Refinable::Rpc));
    assert!(!Classifier::new(&p).may_refine(&tuple(6, "1.1.1.1", 1, "2.2.2.2", 2), Refinable::Rpc));
}

#[test]
fn plain_rpc_interfaces_are_named_not_called_dcom() {
    let p = policy(vec![]);
    let svcctl = Uuid::from_u128(0x367abb81_9844_35f1_ad32_98f038001003);
    let t = tuple(6, "10.10.12.89", 49284, "192.168.1.24", 49163);
    let e = Endpoint {
        server: "192.168.1.24".parse().unwrap(),
        proto: 6,
        port: Some(49163),
        via: Via::Epm,
        interface: Some(svcctl),
        binding: None,
        announced_by: "192.168.1.24".parse().unwrap(),
        learned_at: Timestamp(1_700_000_000_000_000_000),
    };
    let clues = Clues {
        learned: Some(&e),
        ..Clues::default()
    };
    assert_eq!(
        said(&p, &t, &clues),
        (
            "dpm-control".into(),
            "tcp/49163 with DPM server 10.10.12.89 (MS-RPC service control manager (svcctl), not DCOM): port learned from an endpoint-mapper (ept_map) reply for interface 367abb81-9844-35f1-ad32-98f038001003 by 192.168.1.24 at 2023-11-14T22:13:20Z".into()
        )
    );
    // An interface the endpoint mapper names but nobody knows: a DCOM
    // object's could be one, so no claim is made either way.
    let other = Uuid::from_u128(0x1234);
    let e = Endpoint {
        interface: Some(other),
        ..e
    };
    let clues = Clues {
        learned: Some(&e),
        ..Clues::default()
    };
    assert!(said(&p, &t, &clues).1.starts_with("tcp/49163 with DPM server 10.10.12.89 (DCOM control): port learned from an endpoint-mapper (ept_map) reply for interface 00000000-0000-0000-0000-000000001234 by "));
    // Binds: DCOM's own interface is DCOM control, LSA is not.
    let t = tuple(6, "10.10.12.89", 49760, "192.168.1.24", 49750);
    for (u, what) in [
        (0x99fcfec4_5260_101b_bbcb_00aa0021347a, "DCOM control"),
        (
            0x12345778_1234_abcd_ef00_0123456789ab,
            "MS-RPC LSA (lsarpc), not DCOM",
        ),
    ] {
        let ifs = [Uuid::from_u128(u)];
        let clues = Clues {
            interfaces: &ifs,
            ..Clues::default()
        };
        assert_eq!(
            said(&p, &t, &clues),
            (
                "dpm-control".into(),
                format!(
                    "DCE/RPC with DPM server 10.10.12.89 ({what}), bind to interface {}",
                    ifs[0]
                )
            )
        );
    }
}

#[test]
fn evidence_rules_apply_when_their_evidence_arrives() {
    let mut p = policy(vec![Rule {
        index: 1,
        class: ClassId(crate::class::BUILTIN_CLASSES.len() as u16),
        proto: Some(6),
        ports: vec![(445, 445)],
        hosts: vec![],
        side: Side::Server,
        description: "tcp port 445 smb_share VMMigration*".into(),
        smb_share: Some(Pattern::new("vmmigration*").unwrap()),
        smb_server: None,
        rpc_interface: None,
    }]);
    p.classes.push(crate::policy::ClassPolicy {
        name: "smb-live-migration".into(),
        networks: None,
        on_fallback: crate::policy::OnFallback::Warn,
    });
    let t = tuple(6, "172.16.40.1", 50000, "172.16.40.3", 445);
    assert_eq!(said(&p, &t, &Clues::default()).0, "client");
    let shares: Vec<Box<str>> = vec!["\\\\NODE3\\VMMigration$".into()];
    let clues = Clues {
        shares: &shares,
        ..Clues::default()
    };
    assert_eq!(
        said(&p, &t, &clues),
        (
            "smb-live-migration".into(),
            "rule 1: tcp port 445 smb_share VMMigration* (smb-live-migration), tree connect \\\\NODE3\\VMMigration$".into()
        )
    );
    assert!(Classifier::new(&p).may_refine(&t, Refinable::Smb));
}
