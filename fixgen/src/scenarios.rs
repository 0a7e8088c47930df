//! The fixture scenarios. Hosts and networks follow the two reference documents: the DPM
//! backup-network example (dpm.x.y.com / ps.x.y.com) and the CSV redirected-access cluster.
//! The scenarios whose payloads carry evidence (DCOM/EPM port announcements, SMB tree
//! connects) are in the submodules.

mod cluster_nodes;
mod cluster_smb;
mod dpm_dcom;
mod dpm_dns;
mod failover;
mod fragments;
mod lookup;
mod tunnels;

pub(crate) use cluster_nodes::{cluster_node1_csv_on_lm_nic, cluster_pair_csv_on_lm_nic};
pub(crate) use cluster_smb::{
    cluster_fe80, cluster_port_reuse, cluster_smb_sessions, cluster_smb_shares,
};
pub(crate) use dpm_dcom::dpm_dcom_learned;
pub(crate) use dpm_dns::{
    dpm_dns_dual_stack, dpm_dns_ok, dpm_dns_truncated, dpm_dns_wrong, dpm_fallback_despite_dns,
    dpm_fallback_despite_dns_aaaa,
};
pub(crate) use failover::{failover_changed, failover_kept_vlan, failover_seed002};
pub(crate) use fragments::dpm_frag_reversed;
pub(crate) use tunnels::{
    tunnel_erspan2, tunnel_erspan2_leak, tunnel_erspan3, tunnel_geneve, tunnel_gre, tunnel_ip6ip,
    tunnel_ipip, tunnel_mpls, tunnel_nvgre, tunnel_vxlan, tunnel_vxlan_leak,
};

use std::net::Ipv4Addr;

use pcap_file::Endianness;

use crate::capture::{ms, Capture, Layout, Seen, Spec};
use crate::conv::{Dgram, Kind, Side, Tcp, MSS};
use crate::dns::{self, Reply};
use crate::payload;
use crate::rpc;
use crate::smb;
use crate::wire::{self, Host, LinkKind};
use lookup::Lookup;

// DPM example hosts.
fn dpm_primary() -> Host {
    Host::new("10.10.12.89")
}
fn ps_primary() -> Host {
    Host::new("10.10.12.90")
}
fn dpm_backup() -> Host {
    Host::new("192.168.1.23")
}
fn ps_backup() -> Host {
    Host::new("192.168.1.24")
}
/// Domain controller / DNS server on the primary network.
fn dc() -> Host {
    Host::new("10.10.12.10")
}
/// A workstation on the primary network.
fn workstation() -> Host {
    Host::new("10.10.12.200")
}

const ETH0: u32 = 0; // primary
const ETH1: u32 = 1; // backup
const PS_NAME: &str = "ps.x.y.com";

fn v4_of(h: Host) -> Ipv4Addr {
    match h.ip {
        std::net::IpAddr::V4(a) => a,
        std::net::IpAddr::V6(_) => panic!("IPv4 host expected"),
    }
}

fn ip4(s: &str) -> Ipv4Addr {
    s.parse().expect("valid literal")
}

/// The DPM bulk schedule: (ms after the epoch, full segments sent from ps to dpm).
/// Each burst lies inside one one-second bin.
const DPM_BURSTS: &[(i64, usize)] = &[(1010, 30), (2010, 50), (3010, 20), (4010, 60), (5010, 10)];

/// ARP request from `a` for `b` and b's reply.
fn arp_pair(cap: &mut Capture, iface: u32, vlans: &[u16], a: Host, b: Host, rel: i64) {
    let phase = cap.phase();
    let t = crate::capture::EPOCH_NS + rel + phase;
    cap.other_frame(t, iface, wire::arp(vlans, a, b, false));
    cap.other_frame(
        t + crate::conv::STEP_NS,
        iface,
        wire::arp(vlans, b, a, true),
    );
}

/// One DNS query for ps.x.y.com from `client` to the DC and its answer.
fn dns(
    cap: &mut Capture,
    path: Seen,
    client: Host,
    sport: u16,
    id: u16,
    answers: &[Ipv4Addr],
    rel: i64,
) {
    Lookup {
        client,
        sport,
        server: dc(),
        seen: path,
        network: "primary",
        reply: Reply::addresses(id, PS_NAME, answers, dns::DPM_TTL),
    }
    .udp(cap, rel);
}

/// DCOM control: DCE/RPC bind + two calls on TCP 135 from the DPM server to ps.
fn dcom(cap: &mut Capture, path: Seen, dpm: Host, ps: Host, sport: u16, rel: i64) {
    let mut c = Tcp::open(
        cap,
        Spec::new(dpm, sport, ps, 135, path, "primary", "dpm-control"),
        rel,
    );
    c.send(cap, Side::Client, &rpc::dcerpc_bind(1));
    c.send(cap, Side::Server, &rpc::dcerpc_bind_ack(1));
    c.send(cap, Side::Client, &rpc::dcerpc_call(2, 6, 420, false));
    c.send(cap, Side::Server, &rpc::dcerpc_call(2, 6, 1800, true));
    c.send(cap, Side::Client, &rpc::dcerpc_call(3, 5, 96, false));
    c.send(cap, Side::Server, &rpc::dcerpc_call(3, 5, 64, true));
    c.close(cap);
}

/// DPM agent coordinator (TCP 5718): a few small exchanges.
fn agent_coordinator(
    cap: &mut Capture,
    path: Seen,
    dpm: Host,
    ps: Host,
    network: &'static str,
    rel: i64,
) {
    let mut c = Tcp::open(
        cap,
        Spec::new(dpm, 49702, ps, 5718, path, network, "dpm"),
        rel,
    );
    let mut gen = payload::opaque(0x56);
    c.send(cap, Side::Client, &gen(312));
    c.send(cap, Side::Server, &gen(1_180));
    c.send(cap, Side::Client, &gen(208));
    c.send(cap, Side::Server, &gen(3_000));
    c.close(cap);
}

/// DPM protection-agent data (`spec`: TCP 5719): the DPM server connects to the agent on ps,
/// asks for data, and ps sends it in bursts of full segments, one burst per one-second bin.
fn dpm_data(
    cap: &mut Capture,
    spec: Spec,
    start_ms: i64,
    bursts: &[(i64, usize)],
    ipv6_ext: bool,
) -> Tcp {
    let mut c = Tcp::open(cap, spec, ms(start_ms));
    let mut gen = payload::opaque(0x57);
    if ipv6_ext {
        c.dest_opts_on_next_data();
    }
    c.send(cap, Side::Client, &gen(180));
    let schedule: Vec<(i64, usize)> = bursts.iter().map(|&(t, n)| (ms(t), n * MSS)).collect();
    c.bursts(cap, Side::Server, &schedule, &mut gen);
    c
}

fn dpm_data_closed(cap: &mut Capture, spec: Spec, start_ms: i64, bursts: &[(i64, usize)]) {
    let mut c = dpm_data(cap, spec, start_ms, bursts, false);
    let last = bursts.last().map_or(start_ms, |b| b.0);
    c.at(cap, ms(last + 200));
    c.close(cap);
}

/// What every two-NIC DPM scenario starts with on the primary NIC: the
/// DPM server resolves `ps` (answers `answers`) and opens DCOM control.
fn primary_preamble(cap: &mut Capture, answers: &[Ipv4Addr]) {
    dns(
        cap,
        Seen::on(ETH0),
        dpm_primary(),
        51001,
        0x1001,
        answers,
        ms(50),
    );
    dcom(
        cap,
        Seen::on(ETH0),
        dpm_primary(),
        ps_primary(),
        49701,
        ms(100),
    );
}

fn two_nics(name: &'static str) -> Capture {
    Capture::pcapng(name, &["eth0", "eth1"])
}

pub(crate) fn dpm_backup_lan() -> Capture {
    let mut cap = two_nics("dpm_backup_lan");
    arp_pair(&mut cap, ETH1, &[], dpm_backup(), ps_backup(), 0);
    let both = [ip4("192.168.1.24"), ip4("10.10.12.90")];
    primary_preamble(&mut cap, &both);
    agent_coordinator(
        &mut cap,
        Seen::on(ETH1),
        dpm_backup(),
        ps_backup(),
        "backup",
        ms(500),
    );
    dpm_data_closed(
        &mut cap,
        Spec::new(
            dpm_backup(),
            49703,
            ps_backup(),
            5719,
            Seen::on(ETH1),
            "backup",
            "dpm",
        ),
        1000,
        DPM_BURSTS,
    );
    cap
}

pub(crate) fn dpm_primary_lan() -> Capture {
    let mut cap = two_nics("dpm_primary_lan");
    arp_pair(&mut cap, ETH0, &[], dpm_primary(), ps_primary(), 0);
    // Name resolution only returns the primary address: backup data follows it.
    primary_preamble(&mut cap, &[ip4("10.10.12.90")]);
    agent_coordinator(
        &mut cap,
        Seen::on(ETH0),
        dpm_primary(),
        ps_primary(),
        "primary",
        ms(500),
    );
    dpm_data_closed(
        &mut cap,
        Spec::new(
            dpm_primary(),
            49703,
            ps_primary(),
            5719,
            Seen::on(ETH0),
            "primary",
            "dpm",
        ),
        1000,
        DPM_BURSTS,
    );
    cap
}

pub(crate) fn dpm_backup_addr_on_primary_nic() -> Capture {
    let mut cap = two_nics("dpm_backup_addr_on_primary_nic");
    // Weak host model: the backup address is resolved and used, but the frames leave
    // through the primary NIC.
    arp_pair(&mut cap, ETH0, &[], dpm_backup(), ps_backup(), 0);
    let both = [ip4("192.168.1.24"), ip4("10.10.12.90")];
    primary_preamble(&mut cap, &both);
    dpm_data_closed(
        &mut cap,
        Spec::new(
            dpm_backup(),
            49703,
            ps_backup(),
            5719,
            Seen::on(ETH0),
            "primary",
            "dpm",
        ),
        1000,
        DPM_BURSTS,
    );
    cap
}

pub(crate) fn dpm_fallback() -> Capture {
    // The backup network is gone: the name now resolves to the primary address only, and
    // the next backup falls back to the primary network (sequence number 2 in the document).
    fallback("dpm_fallback", &[ip4("10.10.12.90")])
}

/// 5719 on the backup network in seconds +1..+3, a second lookup of ps at +4 s answered with
/// `second`, then 5719 on the primary network in seconds +5..+7.
fn fallback(name: &'static str, second: &[Ipv4Addr]) -> Capture {
    let mut cap = two_nics(name);
    arp_pair(&mut cap, ETH1, &[], dpm_backup(), ps_backup(), 0);
    let both = [ip4("192.168.1.24"), ip4("10.10.12.90")];
    primary_preamble(&mut cap, &both);
    dpm_data_closed(
        &mut cap,
        Spec::new(
            dpm_backup(),
            49703,
            ps_backup(),
            5719,
            Seen::on(ETH1),
            "backup",
            "dpm",
        ),
        1000,
        &[(1010, 30), (2010, 40), (3010, 20)],
    );
    dns(
        &mut cap,
        Seen::on(ETH0),
        dpm_primary(),
        51002,
        0x1002,
        second,
        ms(4000),
    );
    dpm_data_closed(
        &mut cap,
        Spec::new(
            dpm_primary(),
            49710,
            ps_primary(),
            5719,
            Seen::on(ETH0),
            "primary",
            "dpm",
        ),
        5000,
        &[(5010, 20), (6010, 30), (7010, 10)],
    );
    cap
}

/// Cluster networks: (interface/network name, address prefix, has the cluster role).
const CLUSTER_NETS: &[(&str, &str, bool)] = &[
    ("iscsi", "172.16.10.", false),
    ("heartbeat", "172.16.20.", true),
    ("hostaccess", "10.20.0.", true),
    ("csv", "172.16.30.", true),
    ("lm", "172.16.40.", true),
];

/// Node `n` (1..=3) on network `net`: address prefix + (10 + n).
fn node(net: &str, n: u8) -> Host {
    let prefix = CLUSTER_NETS
        .iter()
        .find(|c| c.0 == net)
        .expect("known network")
        .1;
    Host::new(&format!("{prefix}{}", 10 + n))
}

fn cluster(name: &'static str, good: bool) -> Capture {
    let nets: Vec<&'static str> = CLUSTER_NETS
        .iter()
        .map(|c| c.0)
        .filter(|n| good || !matches!(*n, "csv" | "lm"))
        .collect();
    let mut cap = Capture::pcapng(name, &nets);
    cluster_heartbeats(&mut cap, &nets);
    cluster_iscsi(&mut cap, &nets);
    cluster_csv(&mut cap, &nets, if good { "csv" } else { "heartbeat" });
    cluster_lm(&mut cap, &nets, if good { "lm" } else { "hostaccess" });
    cluster_clients(&mut cap, &nets);
    cap
}

/// The capture interface of network `n` in a cluster scenario.
fn iface_of(nets: &[&str], n: &str) -> u32 {
    nets.iter().position(|x| *x == n).expect("network present") as u32
}

/// Heartbeats on every network with the cluster role, both directions, once a second.
fn cluster_heartbeats(cap: &mut Capture, nets: &[&'static str]) {
    for (net, _, role) in CLUSTER_NETS {
        if !role || !nets.contains(net) {
            continue;
        }
        for (k, (a, b)) in [(1, 2), (1, 3), (2, 3)].into_iter().enumerate() {
            let mut d = Dgram::udp(
                cap,
                Spec::new(
                    node(net, a),
                    3343,
                    node(net, b),
                    3343,
                    Seen::on(iface_of(nets, net)),
                    net,
                    "cluster",
                ),
            );
            let (ha, hb) = (v4_of(node(net, a)), v4_of(node(net, b)));
            for s in 0..5 {
                let rel = ms(s * 1000 + 200 + 10 * k as i64);
                let seq = 1000 + s as u32;
                d.send(
                    cap,
                    rel,
                    Side::Client,
                    &payload::heartbeat(seq, false, ha, hb),
                );
                d.send(
                    cap,
                    rel + ms(1),
                    Side::Server,
                    &payload::heartbeat(seq, true, hb, ha),
                );
            }
        }
    }
}

/// iSCSI reads from the SAN target (not a cluster network).
fn cluster_iscsi(cap: &mut Capture, nets: &[&'static str]) {
    let san = Host::new("172.16.10.100");
    for n in 1..=2u8 {
        let mut c = Tcp::open(
            cap,
            Spec::new(
                node("iscsi", n),
                49800 + u16::from(n),
                san,
                3260,
                Seen::on(iface_of(nets, "iscsi")),
                "iscsi",
                "iscsi",
            ),
            ms(300 + i64::from(n) * 20),
        );
        let mut itt = 0u32;
        for s in 1..=3 {
            c.at(cap, ms(s * 1000 + 20));
            for _ in 0..2 {
                itt += 1;
                c.send(cap, Side::Client, &payload::iscsi_pdu(0x01, itt, 0));
                c.send(cap, Side::Server, &payload::iscsi_pdu(0x25, itt, 4096));
            }
        }
        c.at(cap, ms(3600));
        c.close(cap);
    }
}

/// CSV redirected I/O: node2 writes through the coordinator node1 over SMB on `smb_net`.
fn cluster_csv(cap: &mut Capture, nets: &[&'static str], smb_net: &'static str) {
    let mut c = Tcp::open(
        cap,
        Spec::new(
            node(smb_net, 2),
            49901,
            node(smb_net, 1),
            445,
            Seen::on(iface_of(nets, smb_net)),
            smb_net,
            "smb-redirected",
        ),
        ms(600),
    );
    let mut mid = 10u64;
    for (s, writes) in [(1, 2), (2, 4), (3, 1), (4, 3)] {
        c.at(cap, ms(s * 1000 + 30));
        for _ in 0..writes {
            mid += 1;
            c.send(cap, Side::Client, &smb::smb2_write(mid, mid * 8192, 8192));
            c.send(cap, Side::Server, &smb::smb2_write_response(mid, 8192));
        }
    }
    c.at(cap, ms(4500));
    c.close(cap);
}

/// Live migration from node1 to node3 on `lm_net`.
fn cluster_lm(cap: &mut Capture, nets: &[&'static str], lm_net: &'static str) {
    let mut c = Tcp::open(
        cap,
        Spec::new(
            node(lm_net, 1),
            50001,
            node(lm_net, 3),
            6600,
            Seen::on(iface_of(nets, lm_net)),
            lm_net,
            "live-migration",
        ),
        ms(2000),
    );
    let mut gen = payload::opaque(0x66);
    let schedule = [
        (ms(2040), 16 * MSS),
        (ms(3040), 24 * MSS),
        (ms(4040), 12 * MSS),
    ];
    c.bursts(cap, Side::Client, &schedule, &mut gen);
    c.at(cap, ms(4600));
    c.close(cap);
}

/// Clients on the host access network.
fn cluster_clients(cap: &mut Capture, nets: &[&'static str]) {
    let client = Host::new("10.20.0.200");
    let mut c = Tcp::open(
        cap,
        Spec::new(
            client,
            52001,
            node("hostaccess", 1),
            443,
            Seen::on(iface_of(nets, "hostaccess")),
            "hostaccess",
            "client",
        ),
        ms(500),
    );
    c.send(cap, Side::Client, &payload::tls_record(400));
    c.send(cap, Side::Server, &payload::tls_record(3000));
    c.at(cap, ms(1500));
    c.send(cap, Side::Client, &payload::tls_record(250));
    c.send(cap, Side::Server, &payload::tls_record(2200));
    c.close(cap);
    let mut c = Tcp::open(
        cap,
        Spec::new(
            client,
            52002,
            node("hostaccess", 2),
            3389,
            Seen::on(iface_of(nets, "hostaccess")),
            "hostaccess",
            "client",
        ),
        ms(700),
    );
    for s in 1..=4 {
        c.at(cap, ms(s * 1000 + 50));
        c.send(cap, Side::Client, &payload::tpkt(180));
        c.send(cap, Side::Server, &payload::tpkt(1100));
    }
    c.at(cap, ms(4800));
    c.close(cap);
}

pub(crate) fn cluster_good() -> Capture {
    cluster("cluster_good", true)
}

pub(crate) fn cluster_bad() -> Capture {
    cluster("cluster_bad", false)
}

pub(crate) fn sll2_dpm() -> Capture {
    let mut cap = Capture::new(
        "sll2_dpm",
        Layout::Pcap {
            link: LinkKind::Sll2,
            endianness: Endianness::Little,
            nanos: false,
            snaplen: 65535,
        },
    );
    // Captured on the DPM server ("any" device): ifindex 2 = primary NIC, 3 = backup NIC.
    cap.set_local(&[dpm_primary(), dpm_backup()]);
    let mut c = Tcp::open(
        &mut cap,
        Spec::new(
            workstation(),
            52100,
            dpm_primary(),
            443,
            Seen::on(2),
            "primary",
            "client",
        ),
        ms(200),
    );
    c.send(&mut cap, Side::Client, &payload::tls_record(517));
    c.send(&mut cap, Side::Server, &payload::tls_record(4200));
    c.at(&mut cap, ms(2200));
    c.send(&mut cap, Side::Client, &payload::tls_record(300));
    c.send(&mut cap, Side::Server, &payload::tls_record(900));
    c.close(&mut cap);
    dpm_data_closed(
        &mut cap,
        Spec::new(
            dpm_backup(),
            49703,
            ps_backup(),
            5719,
            Seen::on(3),
            "backup",
            "dpm",
        ),
        1000,
        &[(1010, 20), (2010, 30), (3010, 10)],
    );
    cap
}

pub(crate) fn vlan_dpm() -> Capture {
    let mut cap = Capture::pcap("vlan_dpm");
    let (primary, backup, qinq) = (&[20u16][..], &[30u16][..], &[100u16, 30][..]);
    arp_pair(&mut cap, 0, backup, dpm_backup(), ps_backup(), 0);
    let both = [ip4("192.168.1.24"), ip4("10.10.12.90")];
    dns(
        &mut cap,
        Seen::vlan(primary),
        dpm_primary(),
        51001,
        0x1001,
        &both,
        ms(50),
    );
    dcom(
        &mut cap,
        Seen::vlan(primary),
        dpm_primary(),
        ps_primary(),
        49701,
        ms(100),
    );
    // The document's check that the backup address answers a ping.
    let spec = Spec::new(
        dpm_backup(),
        0,
        ps_backup(),
        0,
        Seen::vlan(backup),
        "backup",
        "client",
    );
    let mut p = Dgram::icmp(&mut cap, spec, Kind::Echo);
    for i in 0..2 {
        let rel = ms(300 + i * 1000);
        p.send(&mut cap, rel, Side::Client, &payload::pattern(32, 0x61));
        p.send(
            &mut cap,
            rel + ms(1),
            Side::Server,
            &payload::pattern(32, 0x61),
        );
    }
    agent_coordinator(
        &mut cap,
        Seen::vlan(qinq),
        dpm_backup(),
        ps_backup(),
        "backup",
        ms(500),
    );
    dpm_data_closed(
        &mut cap,
        Spec::new(
            dpm_backup(),
            49703,
            ps_backup(),
            5719,
            Seen::vlan(backup),
            "backup",
            "dpm",
        ),
        1000,
        &[(1010, 20), (2010, 30), (3010, 10)],
    );
    cap
}

pub(crate) fn ipv6_dpm() -> Capture {
    let mut cap = two_nics("ipv6_dpm");
    let mut c = Tcp::open(
        &mut cap,
        Spec::new(
            Host::new("fd00:a::200"),
            52200,
            Host::new("fd00:a::90"),
            443,
            Seen::on(ETH0),
            "primary",
            "client",
        ),
        ms(200),
    );
    c.send(&mut cap, Side::Client, &payload::tls_record(517));
    c.send(&mut cap, Side::Server, &payload::tls_record(5000));
    c.close(&mut cap);
    // The DPM server's first data segment (its request) carries a Destination Options header.
    let bursts = [(1010, 20), (2010, 30), (3010, 10)];
    let mut c = dpm_data(
        &mut cap,
        Spec::new(
            Host::new("fd00:b::23"),
            49703,
            Host::new("fd00:b::24"),
            5719,
            Seen::on(ETH1),
            "backup",
            "dpm",
        ),
        1000,
        &bursts,
        true,
    );
    c.at(&mut cap, ms(3200));
    c.close(&mut cap);
    cap
}

pub(crate) fn truncated() -> Capture {
    let mut cap = Capture::pcap("truncated");
    cap.set_truncate_last();
    let both = [ip4("192.168.1.24"), ip4("10.10.12.90")];
    dns(
        &mut cap,
        Seen::on(0),
        dpm_primary(),
        51001,
        0x1001,
        &both,
        ms(50),
    );
    dcom(
        &mut cap,
        Seen::on(0),
        dpm_primary(),
        ps_primary(),
        49701,
        ms(100),
    );
    // A transfer still running when the capture was cut: its last data segment is the
    // record that is only half written.
    let mut c = dpm_data(
        &mut cap,
        Spec::new(
            dpm_backup(),
            49703,
            ps_backup(),
            5719,
            Seen::on(0),
            "backup",
            "dpm",
        ),
        1000,
        &[(1010, 10), (2010, 10)],
        false,
    );
    c.at(&mut cap, ms(3010));
    c.send(&mut cap, Side::Server, &payload::pattern(MSS, 0x57));
    cap
}

pub(crate) fn bigendian() -> Capture {
    let mut cap = Capture::new(
        "bigendian",
        Layout::Pcap {
            link: LinkKind::Ethernet,
            endianness: Endianness::Big,
            nanos: true,
            snaplen: 65535,
        },
    );
    cap.set_sub_us_ns(789);
    let both = [ip4("192.168.1.24"), ip4("10.10.12.90")];
    dns(
        &mut cap,
        Seen::on(0),
        dpm_primary(),
        51001,
        0x1001,
        &both,
        ms(50),
    );
    dpm_data_closed(
        &mut cap,
        Spec::new(
            dpm_backup(),
            49703,
            ps_backup(),
            5719,
            Seen::on(0),
            "backup",
            "dpm",
        ),
        1000,
        &[(1010, 10), (2010, 16)],
    );
    cap
}

pub(crate) fn snaplen() -> Capture {
    let mut cap = Capture::new(
        "snaplen",
        Layout::Pcap {
            link: LinkKind::Ethernet,
            endianness: Endianness::Little,
            nanos: false,
            snaplen: 96,
        },
    );
    dpm_data_closed(
        &mut cap,
        Spec::new(
            dpm_backup(),
            49703,
            ps_backup(),
            5719,
            Seen::on(0),
            "backup",
            "dpm",
        ),
        1000,
        &[(1010, 20), (2010, 40), (3010, 20)],
    );
    cap
}

/// A pcapng with a section header, one interface (`eth0`) and no packets.
pub(crate) fn empty() -> Capture {
    Capture::pcapng("empty", &["eth0"])
}

/// The start of a packet `src:sport → dst:dport` (TCP, or UDP) as an ICMP error quotes it:
/// its IPv4 header and the first 8 bytes of its transport header (RFC 792).
fn quoted(src: Host, sport: u16, dst: Host, dport: u16, udp: bool) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ipv4(v4_of(src).octets(), v4_of(dst).octets(), 128);
    let mut v = Vec::new();
    let body = [0u8; 100];
    let written = if udp {
        b.udp(sport, dport).write(&mut v, &body)
    } else {
        b.tcp(sport, dport, 1000, 64240).write(&mut v, &body)
    };
    written.expect("a small packet");
    v.truncate(20 + 8);
    v
}

/// ICMP errors take the class of the flow they quote: ps's port unreachable about a DPM
/// segment on the backup LAN (dpm, allowed), a router's about a DPM segment sent over the
/// primary network (dpm on primary: the violation), the DC's about a DNS query (dns).
pub(crate) fn dpm_icmp_errors() -> Capture {
    let mut cap = Capture::pcapng("dpm_icmp_errors", &["eth0", "eth1"]);
    let spec = Spec::new(
        dpm_backup(),
        50800,
        ps_backup(),
        5719,
        Seen::on(ETH1),
        "backup",
        "dpm",
    );
    let mut c = Tcp::open(&mut cap, spec, ms(100));
    c.send(&mut cap, Side::Client, &payload::opaque(0x21)(600));
    c.close(&mut cap);
    let errors = [
        (
            ps_backup(),
            dpm_backup(),
            ETH1,
            "backup",
            "dpm",
            quoted(dpm_backup(), 50800, ps_backup(), 5719, false),
        ),
        (
            Host::new("10.10.12.1"),
            dpm_primary(),
            ETH0,
            "primary",
            "dpm",
            quoted(dpm_primary(), 50900, ps_primary(), 5719, false),
        ),
        (
            dc(),
            dpm_primary(),
            ETH0,
            "primary",
            "dns",
            quoted(dpm_primary(), 53001, dc(), 53, true),
        ),
    ];
    for (i, (from, to, iface, network, class, q)) in errors.into_iter().enumerate() {
        let spec = Spec::new(from, 0, to, 0, Seen::on(iface), network, class);
        let mut d = Dgram::icmp(&mut cap, spec, Kind::Unreachable);
        d.send(&mut cap, ms(1000 * (i as i64 + 1)), Side::Client, &q);
    }
    cap
}
