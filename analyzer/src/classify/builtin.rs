//! The built-in classes' rules: one row each (two where a class has two
//! unrelated signs), checked in order after the policy's own rules. Adding
//! a class is adding its name to [`crate::class`] and a row here.

use std::net::IpAddr;

use crate::class::{self, ClassId};
use crate::decode::proto;

/// Which IP protocols a row matches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Protos {
    /// TCP only.
    Tcp,
    /// TCP or UDP.
    TcpUdp,
    /// UDP only.
    Udp,
}

/// Which role the flow's endpoints must have.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RoleCond {
    /// No role needed.
    None,
    /// At least one end is a DPM server.
    EitherDpm,
    /// Both ends are cluster nodes.
    BothNodes,
    /// Both ends are replica servers.
    BothReplicas,
}

/// What must hold beside the roles.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sign {
    /// One of these ports (on either end unless `server_only`).
    Ports {
        /// Protocols.
        protos: Protos,
        /// Ports and what each is.
        ports: &'static [(u16, &'static str)],
        /// Only the responder's port counts.
        server_only: bool,
    },
    /// One of these IP protocols (no ports).
    IpProtos(&'static [(u8, &'static str)]),
    /// The responder is an RPC endpoint learned from an endpoint-mapper or
    /// DCOM reply.
    LearnedEndpoint,
    /// The flow speaks DCE/RPC (a bind was seen).
    RpcBind,
    /// A housekeeping protocol, or a multicast/broadcast destination.
    Housekeeping,
}

/// One built-in rule.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    /// The class it gives.
    pub class: ClassId,
    /// What must hold.
    pub sign: Sign,
    /// Roles.
    pub roles: RoleCond,
    /// Reason text; `{proto}`, `{port}`, `{what}` and `{dpm}` are filled in.
    pub reason: &'static str,
    /// SMB tree connects refine it (CSV redirected I/O vs an admin share).
    pub smb_refined: bool,
}

const fn ports(protos: Protos, ports: &'static [(u16, &'static str)]) -> Sign {
    Sign::Ports {
        protos,
        ports,
        server_only: false,
    }
}

/// The table, in rule order.
pub const ROWS: &[Row] = &[
    Row {
        class: class::DPM,
        sign: ports(
            Protos::Tcp,
            &[
                (5718, "DPM agent coordinator"),
                (5719, "DPM protection agent"),
            ],
        ),
        roles: RoleCond::None,
        reason: "{proto}/{port} ({what})",
        smb_refined: false,
    },
    Row {
        class: class::DPM_CONTROL,
        sign: Sign::Ports {
            protos: Protos::Tcp,
            ports: &[(135, "RPC endpoint mapper, DCOM activation")],
            server_only: true,
        },
        roles: RoleCond::EitherDpm,
        reason: "{proto}/{port} with DPM server {dpm} ({what})",
        smb_refined: false,
    },
    Row {
        class: class::DPM_CONTROL,
        sign: Sign::LearnedEndpoint,
        roles: RoleCond::EitherDpm,
        reason: "{proto}/{port} with DPM server {dpm} ({what})",
        smb_refined: false,
    },
    Row {
        class: class::SMB_REDIRECTED,
        sign: ports(Protos::Tcp, &[(445, "CSV redirected I/O")]),
        roles: RoleCond::BothNodes,
        reason: "{proto}/{port} between cluster nodes ({what})",
        smb_refined: true,
    },
    Row {
        class: class::LIVE_MIGRATION,
        sign: ports(Protos::Tcp, &[(6600, "Hyper-V live migration")]),
        roles: RoleCond::None,
        reason: "{proto}/{port} ({what})",
        smb_refined: false,
    },
    Row {
        class: class::CLUSTER,
        sign: ports(Protos::TcpUdp, &[(3343, "failover cluster")]),
        roles: RoleCond::None,
        reason: "{proto}/{port} ({what})",
        smb_refined: false,
    },
    Row {
        class: class::ISCSI,
        sign: ports(Protos::Tcp, &[(3260, "iSCSI")]),
        roles: RoleCond::None,
        reason: "{proto}/{port} ({what})",
        smb_refined: false,
    },
    Row {
        class: class::REPLICATION,
        sign: ports(
            Protos::Tcp,
            &[(80, "Hyper-V Replica"), (443, "Hyper-V Replica")],
        ),
        roles: RoleCond::BothReplicas,
        reason: "{proto}/{port} between replica servers ({what})",
        smb_refined: false,
    },
    Row {
        class: class::REPLICATION,
        sign: ports(Protos::Tcp, &[(9443, "Site Recovery process server")]),
        roles: RoleCond::None,
        reason: "{proto}/{port} ({what})",
        smb_refined: false,
    },
    Row {
        class: class::DNS,
        sign: ports(Protos::TcpUdp, &[(53, "DNS")]),
        roles: RoleCond::None,
        reason: "{proto}/{port} ({what})",
        smb_refined: false,
    },
    Row {
        class: class::DPM_CONTROL,
        sign: Sign::RpcBind,
        roles: RoleCond::EitherDpm,
        reason: "DCE/RPC with DPM server {dpm} ({what})",
        smb_refined: false,
    },
    // Before housekeeping: VXLAN to a multicast group (flood-and-learn
    // BUM traffic) is still overlay transport.
    Row {
        class: class::TUNNEL,
        sign: Sign::Ports {
            protos: Protos::Udp,
            ports: &[(4789, "VXLAN"), (6081, "Geneve")],
            server_only: true,
        },
        roles: RoleCond::None,
        reason: "{proto}/{port} ({what} overlay transport)",
        smb_refined: false,
    },
    Row {
        class: class::TUNNEL,
        sign: Sign::IpProtos(&[(47, "GRE"), (4, "IPv4 in IP"), (41, "IPv6 in IP")]),
        roles: RoleCond::None,
        reason: "IP protocol {port} ({what} overlay transport)",
        smb_refined: false,
    },
    Row {
        class: class::LINK_LOCAL,
        sign: Sign::Housekeeping,
        roles: RoleCond::None,
        reason: "{what} (housekeeping)",
        smb_refined: false,
    },
];

/// UDP (and for LLMNR, TCP) ports of housekeeping protocols: DHCP, DHCPv6,
/// NetBIOS name service, SSDP, mDNS, LLMNR.
const HOUSEKEEPING_PORTS: &[(u16, &str)] = &[
    (67, "DHCP"),
    (68, "DHCP"),
    (546, "DHCPv6"),
    (547, "DHCPv6"),
    (137, "NetBIOS name service"),
    (1900, "SSDP"),
    (5353, "mDNS"),
    (5355, "LLMNR"),
];

/// ICMPv6 neighbour discovery (RFC 4861: 133–137) and MLD (RFC 2710,
/// RFC 3810: 130–132, 143), by ICMPv6 type.
fn icmpv6_housekeeping(icmp_type: u16) -> Option<&'static str> {
    match icmp_type {
        133..=137 => Some("ICMPv6 neighbour discovery"),
        130..=132 | 143 => Some("ICMPv6 multicast listener discovery"),
        _ => None,
    }
}

/// Why a flow is housekeeping, if it is: a housekeeping protocol, or a
/// multicast or broadcast destination. (A directed broadcast cannot be told
/// from a host without the prefix length, so only the limited broadcast
/// counts.) Link-local addresses alone do not make a flow housekeeping:
/// Windows Server 2016+ clusters run CSV SMB between `fe80::` addresses.
pub fn housekeeping(ip_proto: u8, src: (IpAddr, u16), dst: (IpAddr, u16)) -> Option<String> {
    let multicast = |a: IpAddr| match a {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_multicast(),
    };
    if ip_proto == proto::ICMPV6 {
        // The ICMP type sits in the source port (Community ID mapping).
        if let Some(what) = icmpv6_housekeeping(src.1) {
            return Some(what.to_string());
        }
    }
    if matches!(ip_proto, proto::UDP | proto::TCP) {
        // LLMNR also runs over TCP; the others are UDP only. The
        // responder's port is preferred, as for the port rows.
        let known = |p: u16| {
            HOUSEKEEPING_PORTS
                .iter()
                .find(|(q, _)| *q == p && (ip_proto == proto::UDP || p == 5355))
        };
        if let Some((p, what)) = known(dst.1).or_else(|| known(src.1)) {
            let name = if ip_proto == proto::UDP { "udp" } else { "tcp" };
            return Some(format!("{name}/{p} {what}"));
        }
    }
    [dst.0, src.0]
        .into_iter()
        .find(|a| multicast(*a))
        .map(|a| format!("multicast/broadcast destination {a}"))
}
