//! `fixgen`: writes synthetic captures (classic pcap, pcapng, Linux SLL2) of the datacenter
//! scenarios lanecheck must judge, and returns exact bookkeeping of what it wrote, so tests
//! can assert numbers that do not come from the program under test.
//!
//! Packets are built with `etherparse` (correct lengths and checksums) and written with
//! `pcap-file`. Output is deterministic: no randomness without a fixed seed, no wall clock;
//! every scenario starts at 2023-11-14T22:13:20Z (Unix 1 700 000 000 s) and its frames have
//! strictly increasing timestamps. TCP conversations are consistent (handshake, sequence and
//! acknowledgement numbers, FIN close) so that Wireshark's TCP analysis reports nothing.
//!
//! Byte counts are always ORIGINAL wire lengths: Ethernet (or SLL2) header included, no FCS,
//! regardless of snaplen.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

mod bench;
mod bench_flows;
mod capture;
mod conv;
mod dcom;
mod dns;
mod handbuilt;
mod payload;
mod rpc;
mod scenarios;
mod smb;
mod tunnel;
pub mod windows;
mod wire;

pub use bench::{write_bench, write_bench_part, BenchTruth, BENCH_FLOWS};
pub use bench_flows::{write_bench_flows, FlowsTruth};
pub use handbuilt::NgWriter;

/// Application messages as the scenarios write them, for other crates'
/// tests that build their own frames.
pub mod messages {
    /// SMB2 NEGOTIATE request offering 2.0.2 to 3.1.1, NetBIOS-framed.
    pub fn smb2_negotiate() -> Vec<u8> {
        crate::smb::negotiate_request(0, [0x11; 16])
    }

    /// SMB2 TREE_CONNECT request for `path` (`\\server\share`) in session
    /// 0x4000_0000_0001, NetBIOS-framed.
    pub fn smb2_tree_connect(path: &str) -> Vec<u8> {
        crate::smb::tree_connect_request(2, 0x4000_0000_0001, path, false)
    }

    /// An SMB 3.1.1 client's NEGOTIATE and SESSION_SETUP as (from the client, message):
    /// MessageIds 0 and 1, the server assigning `session` (NetBIOS-framed).
    pub fn smb2_session(session: u64) -> Vec<(bool, Vec<u8>)> {
        let who = crate::smb::Account {
            domain: "X",
            user: "Administrator",
            workstation: "NODE2",
        };
        vec![
            (true, crate::smb::negotiate_request(0, [0x21; 16])),
            (
                false,
                crate::smb::negotiate_response(0, crate::smb::DIALECT_311, [0x12; 16]),
            ),
            (true, crate::smb::session_setup_request(1, who)),
            (false, crate::smb::session_setup_response(1, session)),
        ]
    }

    /// SMB2 TREE_CONNECT request `message_id` for `path` in `session`, NetBIOS-framed.
    pub fn smb2_tree_connect_in(message_id: u64, session: u64, path: &str) -> Vec<u8> {
        crate::smb::tree_connect_request(message_id, session, path, false)
    }

    /// The sync TREE_CONNECT response to `message_id` granting disk tree `tree`.
    pub fn smb2_tree_granted(message_id: u64, session: u64, tree: u32) -> Vec<u8> {
        let ids = crate::smb::Ids { session, tree };
        crate::smb::tree_connect_response(message_id, ids, crate::smb::ShareType::Disk)
    }

    /// The interim response (STATUS_PENDING, async header with `async_id`) to
    /// TREE_CONNECT `message_id`.
    pub fn smb2_tree_pending(message_id: u64, session: u64, async_id: u64) -> Vec<u8> {
        crate::smb::interim_response(3, message_id, session, async_id)
    }

    /// The final TREE_CONNECT response to `message_id` after [`smb2_tree_pending`]:
    /// SUCCESS in the async header, which has no TreeId.
    pub fn smb2_tree_granted_async(message_id: u64, session: u64, async_id: u64) -> Vec<u8> {
        let disk = crate::smb::ShareType::Disk;
        crate::smb::tree_connect_response_async(message_id, session, async_id, disk)
    }

    /// SMB2 WRITE request `message_id` of `len` bytes in `tree` of `session`, and its
    /// response.
    pub fn smb2_write_in(message_id: u64, session: u64, tree: u32, len: usize) -> [Vec<u8>; 2] {
        let ids = crate::smb::Ids { session, tree };
        [
            crate::smb::write(ids, message_id, 0, len),
            crate::smb::write_response(ids, message_id, len),
        ]
    }

    /// SMB2 WRITE request carrying `len` bytes, NetBIOS-framed.
    pub fn smb2_write(len: usize) -> Vec<u8> {
        crate::smb::smb2_write(3, 0, len)
    }

    /// DCE/RPC bind to the DCOM activator.
    pub fn dcerpc_bind() -> Vec<u8> {
        crate::rpc::dcerpc_bind(1)
    }

    /// DCE/RPC bind to the endpoint mapper (call 1).
    pub fn epm_bind() -> Vec<u8> {
        crate::rpc::bind(1, &crate::rpc::epm())
    }

    /// The bind_ack to [`epm_bind`], on port 135.
    pub fn epm_bind_ack() -> Vec<u8> {
        crate::rpc::bind_ack(1, 135)
    }

    /// `ept_map` (call 2) for interface `uuid` v1.0.
    pub fn ept_map_request(uuid: &str) -> Vec<u8> {
        let stub = crate::rpc::ept_map_request(&iface(uuid));
        crate::rpc::request(2, crate::rpc::EPT_MAP, &stub)
    }

    /// The reply to [`ept_map_request`]: one tower, `uuid` at `addr`, TCP `port`.
    pub fn ept_map_reply(uuid: &str, port: u16, addr: std::net::Ipv4Addr) -> Vec<u8> {
        let stub = crate::rpc::ept_map_reply(&iface(uuid), port, addr);
        crate::rpc::response(2, &stub)
    }

    fn iface(uuid: &str) -> crate::rpc::Syntax {
        crate::rpc::Syntax {
            uuid: crate::rpc::uuid(uuid),
            major: 1,
            minor: 0,
        }
    }

    /// A DNS response for `name` with one A record per address (TTL 1200).
    pub fn dns_answer(id: u16, name: &str, addrs: &[std::net::Ipv4Addr]) -> Vec<u8> {
        crate::dns::Reply::addresses(id, name, addrs, crate::dns::DPM_TTL).response()
    }

    /// The matching DNS query.
    pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
        crate::dns::Reply::addresses(id, name, &[], crate::dns::DPM_TTL).query()
    }

    /// A DNS response to the AAAA query for `name` with no address (NOERROR, no data: an
    /// IPv4-only name).
    pub fn dns_aaaa_no_data(id: u16, name: &str) -> Vec<u8> {
        crate::dns::Reply::new(id, name, crate::dns::AAAA, Vec::new()).response()
    }

    /// [`dns_answer`] cut short over UDP: TC=1 and no answer section.
    pub fn dns_answer_truncated(id: u16, name: &str, addrs: &[std::net::Ipv4Addr]) -> Vec<u8> {
        crate::dns::Reply::addresses(id, name, addrs, crate::dns::DPM_TTL)
            .truncated()
            .response()
    }
}

/// Ethernet frames built one by one, for other crates' tests.
pub mod frames {
    /// The segments of one TCP conversation `client` → `server`: SYN,
    /// SYN-ACK, then each message from the client (true) or the server, in
    /// order, with sequence and acknowledgement numbers that follow.
    pub fn tcp_talk(
        (client, server): ([u8; 4], [u8; 4]),
        (cport, sport): (u16, u16),
        messages: &[(bool, Vec<u8>)],
    ) -> Vec<Vec<u8>> {
        let build = |from_client: bool, seq: u32, ack: Option<u32>, syn: bool, data: &[u8]| {
            let (from, to, fp, tp) = match from_client {
                true => (client, server, cport, sport),
                false => (server, client, sport, cport),
            };
            let mut b = etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
                .ipv4(from, to, 64)
                .tcp(fp, tp, seq, 64_000);
            if syn {
                b = b.syn();
            }
            if let Some(a) = ack {
                b = b.ack(a);
            }
            let mut out = Vec::new();
            b.write(&mut out, data).expect("a frame in memory");
            out
        };
        let (mut cseq, mut sseq) = (2u32, 10u32);
        let mut out = vec![
            build(true, 1, None, true, &[]),
            build(false, 9, Some(2), true, &[]),
        ];
        for (from_client, data) in messages {
            let (seq, ack) = match from_client {
                true => (&mut cseq, sseq),
                false => (&mut sseq, cseq),
            };
            out.push(build(*from_client, *seq, Some(ack), false, data));
            *seq = seq.wrapping_add(data.len() as u32);
        }
        out
    }

    /// The IP packet of the Ethernet frame `frame` (untagged) in `n`
    /// fragments, in payload order (the first carries the transport
    /// header); `id` is an IPv6 packet's identification (an IPv4 packet
    /// keeps its own).
    pub fn ip_fragments(frame: &[u8], n: usize, id: u32) -> Vec<Vec<u8>> {
        crate::wire::fragments(frame, 14, n, id)
    }

    /// A DPM server (10.10.12.89) asks the endpoint mapper of protected
    /// server `server` where interface `uuid` listens and hears `port`,
    /// then connects to that port: the lookup's segments, then the call's.
    pub fn epm_lookup_and_call(server: [u8; 4], uuid: &str, port: u16, cport: u16) -> Vec<Vec<u8>> {
        use crate::messages::{epm_bind, epm_bind_ack, ept_map_reply, ept_map_request};
        let dpm = [10, 10, 12, 89];
        let lookup = [
            (true, epm_bind()),
            (false, epm_bind_ack()),
            (true, ept_map_request(uuid)),
            (false, ept_map_reply(uuid, port, server.into())),
        ];
        let mut out = tcp_talk((dpm, server), (cport, 135), &lookup);
        let call = [(true, vec![0x05; 400]), (false, vec![0x06; 300])];
        out.extend(tcp_talk(
            (dpm, server),
            (cport.wrapping_add(1_000), port),
            &call,
        ));
        out
    }
}

/// The tunnel a flow was written in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelTruth {
    /// lanecheck's tunnel type: "mpls", "gre", "nvgre", "erspan-ii", "erspan-iii", "vxlan",
    /// "geneve", "ipv4-in-ip", "ipv6-in-ip".
    pub kind: &'static str,
    /// VNI, GRE key, NVGRE VSID or ERSPAN session.
    pub id: Option<u32>,
    /// Outer source and destination of the first frame written in that tunnel (same id, same
    /// unordered pair of outer addresses); none for MPLS.
    pub outer: Option<(IpAddr, IpAddr)>,
}

/// One flow as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowTruth {
    /// "tcp" | "udp" | "icmp" | "icmpv6"; an overlay's outer flow: "udp", "ip47" (GRE), "ip4"
    /// or "ip41" (IP in IP).
    pub proto: &'static str,
    /// Initiator: SYN sender for TCP, first packet's source otherwise.
    pub src: IpAddr,
    /// 0 for ICMP.
    pub sport: u16,
    pub dst: IpAddr,
    /// 0 for ICMP.
    pub dport: u16,
    /// Both directions.
    pub packets: u64,
    /// Both directions; sum of original wire lengths (link header included, no FCS). In a
    /// tunnel: the encapsulated frame's own bytes (the inner Ethernet frame where the tunnel
    /// carries one, else the inner IP packet; MPLS: the whole frame).
    pub bytes: u64,
    pub packets_src_to_dst: u64,
    pub bytes_src_to_dst: u64,
    /// Interface names the frames were captured on (sorted, dedup); empty if unnamed.
    pub interfaces: Vec<String>,
    /// VLAN ids seen (sorted, dedup; outer and inner for QinQ).
    pub vlans: Vec<u16>,
    /// Unix ns.
    pub first_seen_ns: i64,
    pub last_seen_ns: i64,
    /// The scenario's name for the network/link the frames travelled on
    /// ("primary", "backup", "csv", "heartbeat", "third", "recovery", ...).
    pub network: &'static str,
    /// Intended final lanecheck class, after any payload evidence ("dpm", "dpm-control",
    /// "smb-redirected", "live-migration", "smb-live-migration", "cluster", "iscsi", "dns",
    /// "link-local", "client").
    pub class: &'static str,
    /// Wire bytes (both directions) per one-second bin: (Unix second, bytes), ascending,
    /// only bins with traffic.
    pub bins: Vec<(i64, u64)>,
    /// The tunnel that carried it (tunnel scenarios only).
    pub tunnel: Option<TunnelTruth>,
}

/// One record of a DNS answer section: (owner, type, TTL, value as text). Type 1 (A) and 28
/// (AAAA) values are addresses as `IpAddr` displays them, type 5 (CNAME) values are names.
/// Names are lower case without a trailing dot.
pub type DnsRecord = (String, u16, u32, String);

/// One DNS response as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsTruth {
    /// Unix ns of the frame carrying the response (over TCP: the segment that carries it).
    pub time_ns: i64,
    /// The querier (the response's destination).
    pub client: IpAddr,
    /// The DNS server (the response's source).
    pub server: IpAddr,
    /// "udp" | "tcp" (a two-byte length before the message, RFC 1035 §4.2.2).
    pub transport: &'static str,
    /// Transaction id.
    pub id: u16,
    /// The query name, lower case, no trailing dot.
    pub name: String,
    /// The query type: 1 (A) or 28 (AAAA).
    pub qtype: u16,
    /// The answer section in order: the CNAME chain, then the A/AAAA records.
    pub records: Vec<DnsRecord>,
    /// 0 (no error) or 3 (NXDOMAIN).
    pub rcode: u8,
    /// TC=1: cut short (no answer section); the client asks again over TCP.
    pub truncated: bool,
}

/// One DNS query that no response in the capture answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsQueryTruth {
    /// Unix ns of the frame carrying the query.
    pub time_ns: i64,
    pub client: IpAddr,
    pub server: IpAddr,
    /// "udp" | "tcp"
    pub transport: &'static str,
    pub id: u16,
    pub name: String,
    pub qtype: u16,
}

/// One capture file as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureTruth {
    /// Path written.
    pub file: PathBuf,
    /// "pcap" | "pcapng"
    pub format: &'static str,
    /// Frames fully written (records).
    pub packets: u64,
    /// Sum of original wire lengths of those frames.
    pub bytes: u64,
    /// Interface names present (pcapng if_name, or SLL2 "ifindex:N"), sorted; empty when
    /// unnamed. For pcapng this lists every interface description, even an idle one.
    pub interfaces: Vec<String>,
    /// For the truncated fixture: byte offset where the last complete record ends (= where
    /// the partial one starts).
    pub truncated_at: Option<u64>,
    /// Frames that belong to no flow (ARP).
    pub non_ip_frames: u64,
    /// In the order the scenario set them up (in a tunnel scenario: the inner flows).
    pub flows: Vec<FlowTruth>,
    /// An overlay's outer flows (class "tunnel", bytes = whole frames), in order of first
    /// packet; empty outside tunnel scenarios and for ERSPAN and MPLS.
    pub outer_flows: Vec<FlowTruth>,
    /// ERSPAN: outer packets (every frame) and their bytes, mirror transport in no flow.
    pub mirror_packets: u64,
    pub mirror_bytes: u64,
    /// Every DNS response written, in capture order.
    pub dns: Vec<DnsTruth>,
    /// Every DNS query written that is never answered, in capture order.
    pub dns_unanswered: Vec<DnsQueryTruth>,
}

/// A named scenario; `write(name, dir)` produces it.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
}

type Builder = fn() -> capture::Capture;

const SCENARIOS: &[(Scenario, Builder)] = &[
    (
        Scenario {
            name: "dpm_backup_lan",
            description: "pcapng eth0=primary eth1=backup: DPM 5719 data and 5718 on the backup LAN (eth1), DCOM 135 and DNS on primary (eth0), ARP on eth1",
        },
        scenarios::dpm_backup_lan,
    ),
    (
        Scenario {
            name: "dpm_primary_lan",
            description: "pcapng eth0/eth1: the same DPM data and 5718 on the primary addresses and eth0 (the leak)",
        },
        scenarios::dpm_primary_lan,
    ),
    (
        Scenario {
            name: "dpm_backup_addr_on_primary_nic",
            description: "pcapng eth0/eth1: DPM 5719 between backup addresses, captured on eth0 (weak host model)",
        },
        scenarios::dpm_backup_addr_on_primary_nic,
    ),
    (
        Scenario {
            name: "dpm_fallback",
            description: "pcapng eth0/eth1: DPM 5719 on backup (eth1), then a later 5719 flow on primary (eth0)",
        },
        scenarios::dpm_fallback,
    ),
    (
        Scenario {
            name: "cluster_good",
            description: "pcapng, one interface per cluster network: SMB 445 on csv, 6600 on lm, iSCSI on iscsi, heartbeats UDP 3343, clients on hostaccess",
        },
        scenarios::cluster_good,
    ),
    (
        Scenario {
            name: "cluster_bad",
            description: "pcapng iscsi/heartbeat/hostaccess only: CSV redirected SMB on heartbeat, live migration on hostaccess",
        },
        scenarios::cluster_bad,
    ),
    (
        Scenario {
            name: "sll2_dpm",
            description: "classic pcap LINUX_SLL2: DPM 5719 on ifindex 3 (backup), client 443 on ifindex 2 (primary)",
        },
        scenarios::sll2_dpm,
    ),
    (
        Scenario {
            name: "vlan_dpm",
            description: "classic pcap Ethernet: VLAN 20 primary, VLAN 30 backup, QinQ 100/30 for 5718",
        },
        scenarios::vlan_dpm,
    ),
    (
        Scenario {
            name: "ipv6_dpm",
            description: "pcapng eth0/eth1: DPM 5719 on fd00:b::/64 (one segment with a Destination Options header), client 443 on fd00:a::/64",
        },
        scenarios::ipv6_dpm,
    ),
    (
        Scenario {
            name: "dpm_frag_reversed",
            description: "pcapng eth0=primary eth1=backup: DPM 5719 data whose large segments the path fragments, each in three IP fragments sent last first (the one with the ports last), on the backup LAN over IPv4 and IPv6 and on the primary network (the leak); NFS over UDP on the backup LAN (client, a violation) whose first packet is such a fragment",
        },
        scenarios::dpm_frag_reversed,
    ),
    (
        Scenario {
            name: "truncated",
            description: "classic pcap whose last record is cut in half",
        },
        scenarios::truncated,
    ),
    (
        Scenario {
            name: "bigendian",
            description: "classic pcap, big-endian, nanosecond magic 0xa1b23c4d",
        },
        scenarios::bigendian,
    ),
    (
        Scenario {
            name: "snaplen",
            description: "classic pcap with snaplen 96: DPM bulk flow, frames cut to 96 captured bytes",
        },
        scenarios::snaplen,
    ),
    (
        Scenario {
            name: "dpm_dcom_learned",
            description: "pcapng eth0/eth1: DCOM activation on 135 announcing ps[49750], DPM control on 49750 over the backup LAN, a non-DPM host on 49750, EPM announcing 49755 and traffic to it, DPM 5719, DNS",
        },
        scenarios::dpm_dcom_learned,
    ),
    (
        Scenario {
            name: "cluster_smb_shares",
            description: "pcapng csv/lm: SMB 3.1.1 with tree connects to ClusterStorage$ (client), IPC$ then a CSV-instance share (smb-redirected), VMMigration$ with the 3.1.1 extension on lm (smb-live-migration), and a mid-stream WRITE flow",
        },
        scenarios::cluster_smb_shares,
    ),
    (
        Scenario {
            name: "dpm_icmp_errors",
            description: "pcapng eth0/eth1: ICMP port unreachables about a DPM segment on the backup LAN, a DPM segment over the primary network (the violation) and a DNS query",
        },
        scenarios::dpm_icmp_errors,
    ),
    (
        Scenario {
            name: "cluster_port_reuse",
            description: "pcapng csv: a management copy to ClusterStorage$ (client) and, after it closed, CSV redirected I/O from the same port to the same node (smb-redirected): two flows of one 4-tuple",
        },
        scenarios::cluster_port_reuse,
    ),
    (
        Scenario {
            name: "cluster_smb_sessions",
            description: "pcapng csv/hostaccess: one SMB session id at two servers (a workstation's tree connect to node3 and an encrypted CSV session to node1), and a session of node3 to node1 whose second channel (same ServerGuid, another address) binds and writes without a tree connect",
        },
        scenarios::cluster_smb_sessions,
    ),
    (
        Scenario {
            name: "cluster_fe80",
            description: "pcapng csv/hostaccess: CSV SMB between IPv6 link-local node addresses on hostaccess (wrong NIC) and csv, with neighbor discovery on both",
        },
        scenarios::cluster_fe80,
    ),
    (
        Scenario {
            name: "dpm_dns_ok",
            description: "pcapng eth0/eth1: DNS on eth0 resolves ps.x.y.com (UDP) and dpm.x.y.com (TCP) to their backup and primary addresses; DPM 5719 on the backup LAN (eth1)",
        },
        scenarios::dpm_dns_ok,
    ),
    (
        Scenario {
            name: "dpm_dns_wrong",
            description: "pcapng eth0/eth1: ps.x.y.com resolves to 10.10.12.90 only, a second lookup of it over TCP is never answered, dpm.x.y.com resolves to both; DPM 5719 on the primary network (eth0)",
        },
        scenarios::dpm_dns_wrong,
    ),
    (
        Scenario {
            name: "dpm_fallback_despite_dns",
            description: "pcapng eth0/eth1: dpm_fallback, but the lookup 1 s before the fallback still answers ps's backup address 192.168.1.24",
        },
        scenarios::dpm_fallback_despite_dns,
    ),
    (
        Scenario {
            name: "dpm_dns_dual_stack",
            description: "pcapng eth0/eth1: dpm_dns_ok as Windows resolves: ps.x.y.com's A answer then an AAAA answer with no address (NOERROR); dpm.x.y.com over UDP truncated (TC=1, no records), then over TCP with both addresses; DPM 5719 on the backup LAN (eth1)",
        },
        scenarios::dpm_dns_dual_stack,
    ),
    (
        Scenario {
            name: "dpm_dns_truncated",
            description: "pcapng eth0/eth1: dpm_dns_dual_stack without ps's TCP retry (a capture of udp port 53 only): dpm.x.y.com's one answer is truncated (TC=1, no records); DPM 5719 on the backup LAN (eth1)",
        },
        scenarios::dpm_dns_truncated,
    ),
    (
        Scenario {
            name: "dpm_fallback_despite_dns_aaaa",
            description: "pcapng eth0/eth1: dpm_fallback_despite_dns, and 10 ms after the A answer holding 192.168.1.24 an AAAA answer with no address (NOERROR)",
        },
        scenarios::dpm_fallback_despite_dns_aaaa,
    ),
    (
        Scenario {
            name: "failover_changed",
            description: "pcapng wan0 at the third site after a failover with changed addresses: app1 via CNAME to 172.16.1.10, app2 still 192.168.1.11 (old subnet, reached), app3 TTL 3600; NXDOMAIN and AAAA for names outside apps.contoso.com",
        },
        scenarios::failover_changed,
    ),
    (
        Scenario {
            name: "failover_seed002",
            description: "pcapng wan0 at the third site: every app name answers a 172.16.1.0/24 address (app1 via CNAME) with TTL <= 300, clients reach only 172.16.1.x",
        },
        scenarios::failover_seed002,
    ),
    (
        Scenario {
            name: "failover_kept_vlan",
            description: "classic pcap Ethernet (SPAN of a trunk) after a subnet failover keeping 192.168.1.0/24: 443 sessions on VLAN 120 (recovery), one still on VLAN 110 (primary)",
        },
        scenarios::failover_kept_vlan,
    ),
    (
        Scenario {
            name: "empty",
            description: "pcapng with one interface eth0 and no packets",
        },
        scenarios::empty,
    ),
];

/// The DPM backup transfer through each tunnel; written on demand, not among the committed
/// fixtures.
const TUNNEL_SCENARIOS: &[(Scenario, Builder)] = &[
    (
        Scenario {
            name: "tunnel_mpls",
            description: "dpm_backup_lan on an MPLS link: labels 16001/24005 one way, 17002 back; ARP dropped",
        },
        scenarios::tunnel_mpls,
    ),
    (
        Scenario {
            name: "tunnel_gre",
            description: "dpm_backup_lan in GRE (checksum, key 0x1234, sequence) carrying IPv4 between 10.99.0.1 and 10.99.0.2; ARP dropped",
        },
        scenarios::tunnel_gre,
    ),
    (
        Scenario {
            name: "tunnel_nvgre",
            description: "dpm_backup_lan in NVGRE, VSID 6001, inner Ethernet (ARP included)",
        },
        scenarios::tunnel_nvgre,
    ),
    (
        Scenario {
            name: "tunnel_erspan2",
            description: "dpm_backup_lan mirrored by ERSPAN II (eth0 in session 5, eth1 in session 7) from 10.99.0.10 to a collector 10.99.0.20 capturing on mon0",
        },
        scenarios::tunnel_erspan2,
    ),
    (
        Scenario {
            name: "tunnel_erspan3",
            description: "dpm_backup_lan mirrored by ERSPAN III (sessions 5 and 7, with platform subheader) to the collector on mon0",
        },
        scenarios::tunnel_erspan3,
    ),
    (
        Scenario {
            name: "tunnel_erspan2_leak",
            description: "dpm_primary_lan (the leak) mirrored by ERSPAN II, sessions 5 and 7",
        },
        scenarios::tunnel_erspan2_leak,
    ),
    (
        Scenario {
            name: "tunnel_vxlan",
            description: "dpm_backup_lan in VXLAN VNI 5001 between VTEPs 10.99.0.1 and 10.99.0.2, UDP source port per inner flow and direction",
        },
        scenarios::tunnel_vxlan,
    ),
    (
        Scenario {
            name: "tunnel_vxlan_leak",
            description: "dpm_primary_lan (the leak) in VXLAN VNI 5001",
        },
        scenarios::tunnel_vxlan_leak,
    ),
    (
        Scenario {
            name: "tunnel_geneve",
            description: "dpm_backup_lan in Geneve VNI 7001 with one 8-byte option, inner Ethernet",
        },
        scenarios::tunnel_geneve,
    ),
    (
        Scenario {
            name: "tunnel_ipip",
            description: "dpm_backup_lan as IPv4 in IPv6 (IP protocol 4) between fd00:99::1 and fd00:99::2; ARP dropped",
        },
        scenarios::tunnel_ipip,
    ),
    (
        Scenario {
            name: "tunnel_ip6ip",
            description: "ipv6_dpm as IPv6 in IPv4 (IP protocol 41) between 10.99.0.1 and 10.99.0.2",
        },
        scenarios::tunnel_ip6ip,
    ),
];

/// One adapter name meaning different networks on two cluster nodes, captured on node1
/// (`audit --node`); written on demand, not among the committed fixtures.
const NODE_SCENARIOS: &[(Scenario, Builder)] = &[
    (
        Scenario {
            name: "cluster_node1_csv_on_lm_nic",
            description: "pcapng on node1, Ethernet (hostaccess) / Ethernet 2 (node1's lm; node2's csv) / Ethernet 3 (node1's csv): CSV redirected SMB node2 -> node1 between CSV addresses on Ethernet 2, live migration node1 -> node2 on Ethernet 2, a client of node1 on Ethernet",
        },
        scenarios::cluster_node1_csv_on_lm_nic,
    ),
    (
        Scenario {
            name: "cluster_pair_csv_on_lm_nic",
            description: "the CSV redirected SMB of cluster_node1_csv_on_lm_nic alone: node1 and node2 are endpoints of every packet",
        },
        scenarios::cluster_pair_csv_on_lm_nic,
    ),
];

/// The node scenarios (written by [`write`] like the others).
pub fn node_scenarios() -> &'static [Scenario] {
    const LIST: [Scenario; NODE_SCENARIOS.len()] = [NODE_SCENARIOS[0].0, NODE_SCENARIOS[1].0];
    &LIST
}

/// The tunnel scenarios (written by [`write`] like the others).
pub fn tunnel_scenarios() -> &'static [Scenario] {
    const LIST: [Scenario; TUNNEL_SCENARIOS.len()] = {
        let mut out = [Scenario {
            name: "",
            description: "",
        }; TUNNEL_SCENARIOS.len()];
        let mut i = 0;
        while i < TUNNEL_SCENARIOS.len() {
            out[i] = TUNNEL_SCENARIOS[i].0;
            i += 1;
        }
        out
    };
    &LIST
}

/// Every scenario, in a fixed order.
pub fn scenarios() -> &'static [Scenario] {
    const LIST: [Scenario; SCENARIOS.len()] = {
        let mut out = [Scenario {
            name: "",
            description: "",
        }; SCENARIOS.len()];
        let mut i = 0;
        while i < SCENARIOS.len() {
            out[i] = SCENARIOS[i].0;
            i += 1;
        }
        out
    };
    &LIST
}

/// Scenario `name` (one of [`scenarios`] or [`tunnel_scenarios`]), built
/// but not written.
pub(crate) fn build(name: &str) -> std::io::Result<capture::Capture> {
    let (_, build) = SCENARIOS
        .iter()
        .chain(TUNNEL_SCENARIOS)
        .chain(NODE_SCENARIOS)
        .find(|(s, _)| s.name == name)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no scenario named {name:?}"),
            )
        })?;
    Ok(build())
}

/// Writes scenario `name` to `<dir>/<name>.pcap` or `.pcapng`.
pub fn write(name: &str, dir: &Path) -> std::io::Result<CaptureTruth> {
    build(name)?.finish(dir)
}

/// Writes every scenario into `dir`.
pub fn write_all(dir: &Path) -> std::io::Result<Vec<CaptureTruth>> {
    scenarios().iter().map(|s| write(s.name, dir)).collect()
}
