//! Classification: user rules first, then the built-in rules; first match
//! wins; every flow keeps the reason.
//!
//! Built-in rules use ports and the policy's roles only, so a flow is
//! classified at its first packet. Protocol evidence from the first payload
//! bytes (SMB tree connects, RPC endpoint-mapper replies, DNS answers) is
//! meant to *refine* a class through [`Classifier::refine`] without
//! touching these port rules.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::decode::proto;
use crate::policy::{Policy, Side};

/// Index of a class in [`Policy::classes`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ClassId(pub u16);

/// The built-in classes, in rule order; their ids are their positions.
pub const BUILTIN_CLASSES: [&str; 10] = [
    "dpm",
    "dpm-control",
    "smb-redirected",
    "live-migration",
    "cluster",
    "iscsi",
    "replication",
    "dns",
    "link-local",
    "client",
];

/// Built-in class ids.
pub mod class {
    use super::ClassId;
    /// DPM data channel (TCP 5718/5719).
    pub const DPM: ClassId = ClassId(0);
    /// DCOM control with a DPM server (TCP 135).
    pub const DPM_CONTROL: ClassId = ClassId(1);
    /// CSV redirected I/O (SMB between cluster nodes).
    pub const SMB_REDIRECTED: ClassId = ClassId(2);
    /// Hyper-V live migration (TCP 6600).
    pub const LIVE_MIGRATION: ClassId = ClassId(3);
    /// Cluster heartbeats and joins (3343).
    pub const CLUSTER: ClassId = ClassId(4);
    /// iSCSI (TCP 3260).
    pub const ISCSI: ClassId = ClassId(5);
    /// Hyper-V Replica / Site Recovery.
    pub const REPLICATION: ClassId = ClassId(6);
    /// DNS (53).
    pub const DNS: ClassId = ClassId(7);
    /// Multicast/broadcast and link-local housekeeping.
    pub const LINK_LOCAL: ClassId = ClassId(8);
    /// Everything else.
    pub const CLIENT: ClassId = ClassId(9);
}

/// The 5-tuple as classification sees it: `src` is the initiator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowTuple {
    /// IP protocol number.
    pub proto: u8,
    /// Initiator address.
    pub src: IpAddr,
    /// Initiator port.
    pub sport: u16,
    /// Responder address.
    pub dst: IpAddr,
    /// Responder port.
    pub dport: u16,
}

/// A class and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    /// The class.
    pub class: ClassId,
    /// Why (`tcp/5719 (DPM protection agent)`).
    pub reason: String,
}

/// Classifies flows against a policy's rules and roles.
#[derive(Debug)]
pub struct Classifier<'p> {
    policy: &'p Policy,
}

fn proto_name(p: u8) -> &'static str {
    match p {
        proto::TCP => "tcp",
        proto::UDP => "udp",
        proto::SCTP => "sctp",
        _ => "ip",
    }
}

impl<'p> Classifier<'p> {
    /// A classifier over `policy`.
    pub fn new(policy: &'p Policy) -> Self {
        Classifier { policy }
    }

    /// Classifies a flow by its tuple: user rules, then built-in rules.
    pub fn classify(&self, t: &FlowTuple) -> Classification {
        for rule in &self.policy.rules {
            if let Some(c) = self.user_rule(rule, t) {
                return c;
            }
        }
        self.builtin(t)
    }

    /// Refines a class from payload evidence. No evidence rule exists yet:
    /// the port classification stands.
    pub fn refine(&self, c: Classification, _client: &[u8], _server: &[u8]) -> Classification {
        c
    }

    fn user_rule(&self, r: &crate::policy::Rule, t: &FlowTuple) -> Option<Classification> {
        if r.proto.is_some_and(|p| p != t.proto) {
            return None;
        }
        let in_ports = |p: u16| r.ports.iter().any(|(lo, hi)| (*lo..=*hi).contains(&p));
        let in_hosts = |a: IpAddr| r.hosts.iter().any(|n: &IpNet| n.contains(&a));
        let port_ok =
            r.ports.is_empty() || in_ports(t.dport) || (r.side == Side::Any && in_ports(t.sport));
        let host_ok =
            r.hosts.is_empty() || in_hosts(t.dst) || (r.side == Side::Any && in_hosts(t.src));
        (port_ok && host_ok).then(|| Classification {
            class: r.class,
            reason: format!(
                "rule {}: {} ({})",
                r.index,
                r.description,
                self.policy.class_name(r.class)
            ),
        })
    }

    fn builtin(&self, t: &FlowTuple) -> Classification {
        let roles = &self.policy.roles;
        let p = proto_name(t.proto);
        let tcp = t.proto == proto::TCP;
        let udp = t.proto == proto::UDP;
        // The port that matched, preferring the responder's.
        let port_in = |set: &[u16]| -> Option<u16> {
            if set.contains(&t.dport) {
                Some(t.dport)
            } else if set.contains(&t.sport) {
                Some(t.sport)
            } else {
                None
            }
        };
        let both = |set: &[IpAddr]| set.contains(&t.src) && set.contains(&t.dst);
        let either = |set: &[IpAddr]| -> Option<IpAddr> {
            [t.src, t.dst].into_iter().find(|a| set.contains(a))
        };
        let hit = |class, reason: String| Classification { class, reason };
        if tcp {
            if let Some(port) = port_in(&[5718, 5719]) {
                let what = if port == 5718 {
                    "DPM agent coordinator"
                } else {
                    "DPM protection agent"
                };
                return hit(class::DPM, format!("tcp/{port} ({what})"));
            }
            if t.dport == 135 {
                if let Some(server) = either(&roles.dpm_servers) {
                    return hit(
                        class::DPM_CONTROL,
                        format!("tcp/135 with DPM server {server} (DCOM control)"),
                    );
                }
            }
            if port_in(&[445]).is_some() && both(&roles.cluster_nodes) {
                return hit(
                    class::SMB_REDIRECTED,
                    "tcp/445 between cluster nodes (CSV redirected I/O)".into(),
                );
            }
            if port_in(&[6600]).is_some() {
                return hit(
                    class::LIVE_MIGRATION,
                    "tcp/6600 (Hyper-V live migration)".into(),
                );
            }
        }
        if (tcp || udp) && port_in(&[3343]).is_some() {
            return hit(class::CLUSTER, format!("{p}/3343 (failover cluster)"));
        }
        if tcp {
            if port_in(&[3260]).is_some() {
                return hit(class::ISCSI, "tcp/3260 (iSCSI)".into());
            }
            if let Some(port) = port_in(&[80, 443]) {
                if both(&roles.replica_servers) {
                    return hit(
                        class::REPLICATION,
                        format!("tcp/{port} between replica servers (Hyper-V Replica)"),
                    );
                }
            }
            if port_in(&[9443]).is_some() {
                return hit(
                    class::REPLICATION,
                    "tcp/9443 (Site Recovery process server)".into(),
                );
            }
        }
        if (tcp || udp) && port_in(&[53]).is_some() {
            return hit(class::DNS, format!("{p}/53 (DNS)"));
        }
        if let Some(why) = housekeeping(t) {
            return hit(class::LINK_LOCAL, why);
        }
        hit(class::CLIENT, "no other rule matched".into())
    }
}

/// 169.254.0.0/16 or fe80::/10 (std's IPv6 test is not stable yet).
pub fn is_link_local(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// Multicast or broadcast destination, or link-local addresses at both ends.
fn housekeeping(t: &FlowTuple) -> Option<String> {
    let multicast = |a: IpAddr| match a {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_multicast(),
    };
    for a in [t.dst, t.src] {
        if multicast(a) {
            return Some(format!(
                "multicast/broadcast destination {a} (housekeeping)"
            ));
        }
    }
    // A directed broadcast cannot be told from a host without the prefix
    // length, so only the limited broadcast counts above.
    (is_link_local(t.src) && is_link_local(t.dst))
        .then(|| "link-local addresses at both ends (housekeeping)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Roles;
    use std::collections::BTreeMap;

    fn tuple(proto: u8, src: &str, sport: u16, dst: &str, dport: u16) -> FlowTuple {
        FlowTuple {
            proto,
            src: src.parse().unwrap(),
            sport,
            dst: dst.parse().unwrap(),
            dport,
        }
    }

    #[test]
    fn builtin_rules_in_order() {
        let roles = Roles {
            dpm_servers: vec!["10.10.12.89".parse().unwrap()],
            cluster_nodes: vec![
                "172.16.30.1".parse().unwrap(),
                "172.16.30.2".parse().unwrap(),
            ],
            replica_servers: vec![],
        };
        let p = Policy::new(
            vec![],
            BTreeMap::new(),
            BTreeMap::new(),
            roles,
            vec![],
            vec![],
        );
        let c = Classifier::new(&p);
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
                "tcp/135 with DPM server 10.10.12.89 (DCOM control)",
            ),
            (
                tuple(6, "10.10.12.70", 49701, "10.10.12.90", 135),
                "client",
                "no other rule matched",
            ),
            (
                tuple(6, "172.16.30.1", 50000, "172.16.30.2", 445),
                "smb-redirected",
                "tcp/445 between cluster nodes (CSV redirected I/O)",
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
                "multicast/broadcast destination 224.0.0.251 (housekeeping)",
            ),
            (
                tuple(17, "fe80::1", 546, "fe80::2", 547),
                "link-local",
                "link-local addresses at both ends (housekeeping)",
            ),
            (
                tuple(17, "10.0.0.1", 40000, "10.0.0.2", 53),
                "dns",
                "udp/53 (DNS)",
            ),
        ];
        for (t, class, reason) in cases {
            let got = c.classify(&t);
            assert_eq!(
                (p.class_name(got.class), got.reason.as_str()),
                (class, reason),
                "{t:?}"
            );
        }
    }
}
