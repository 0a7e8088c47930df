//! Evidence: what a flow's payload proves, found by protocol dissectors.
//!
//! The stage sits between the flow table and classification. For a flow
//! with a dissector (SMB on 139/445, DCE/RPC on 135 or wherever its header
//! signature opens a TCP stream, DNS on 53), each direction's payload is
//! fed **in order**. A segment that comes before the one it follows is
//! held in a small per-flow reorder buffer ([`stream`]: at most 8 segments
//! and 64 KiB per direction) and read once the hole fills; a hole the
//! buffer cannot bridge, or one still open when the flow ends, makes the
//! dissector give up on that flow, counted, never guessing. A record the
//! snaplen cut is read for what was captured; where the cut took bytes a
//! dissector needed, it gives up with [`SNAPLEN_CUT`], counted with the
//! snaplen ([`Counted`]). Dissectors are pure and keep bounded state per flow.
//!
//! What they find are [`Fact`]s: an SMB dialect, a tree-connect path, an
//! RPC interface bound, an endpoint announced by the endpoint mapper or a
//! DCOM activation, a DNS answer. Classification reads them; reports show
//! them with the packet time they were seen.

pub mod dcerpc;
pub mod dns;
pub mod framer;
pub mod learned;
pub mod names;
pub mod probe;
pub mod reasm;
pub mod smb;
pub(crate) mod stage;
pub mod stream;
#[cfg(test)]
pub(crate) mod testkit;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use learned::{SessionKey, SmbServer};
pub use uuid::Uuid;

/// Which way some payload went: from the flow's initiator (the client) to
/// the responder (the server), or back.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Dir {
    /// Client → server.
    ToServer = 0,
    /// Server → client.
    ToClient = 1,
}

impl Dir {
    /// Array index (0 = to server).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Why a dissector stopped looking at a flow.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct GiveUp(pub &'static str);

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// An SMB dialect: SMB2/3 by its revision code, SMB1 by the dialect string
/// the server chose.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Dialect {
    /// `0x0202`, `0x0210`, `0x0300`, `0x0302`, `0x0311`, or `0x02ff` (the
    /// SMB2 wildcard a server answers to a multi-protocol SMB1 negotiate).
    Smb2(u16),
    /// SMB1 dialect string (`NT LM 0.12`).
    Smb1(String),
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dialect::Smb2(0x0202) => f.write_str("2.0.2"),
            Dialect::Smb2(0x0210) => f.write_str("2.1"),
            Dialect::Smb2(0x0300) => f.write_str("3.0"),
            Dialect::Smb2(0x0302) => f.write_str("3.0.2"),
            Dialect::Smb2(0x0311) => f.write_str("3.1.1"),
            Dialect::Smb2(0x02ff) => f.write_str("2.???"),
            Dialect::Smb2(c) => write!(f, "0x{c:04x}"),
            Dialect::Smb1(s) => write!(f, "SMB1 {s}"),
        }
    }
}

/// The data of one DNS resource record.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum RecordData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// Canonical name (lower case, no trailing dot).
    Cname(String),
    /// Any other type, in presentation format.
    Other(String),
}

impl RecordData {
    /// The address of an A/AAAA record.
    pub fn addr(&self) -> Option<IpAddr> {
        match self {
            RecordData::A(a) => Some(IpAddr::V4(*a)),
            RecordData::Aaaa(a) => Some(IpAddr::V6(*a)),
            _ => None,
        }
    }
}

impl fmt::Display for RecordData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordData::A(a) => write!(f, "{a}"),
            RecordData::Aaaa(a) => write!(f, "{a}"),
            RecordData::Cname(n) | RecordData::Other(n) => f.write_str(n),
        }
    }
}

/// One record of a DNS answer section.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct DnsRecord {
    /// Owner name (lower case, no trailing dot).
    pub name: String,
    /// Record type number (1 = A, 5 = CNAME, 28 = AAAA…).
    pub rtype: u16,
    /// Time to live, seconds.
    pub ttl: u32,
    /// The data.
    pub data: RecordData,
}

/// A DNS response.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct DnsAnswer {
    /// Transaction id.
    pub id: u16,
    /// Response code (0 = NOERROR, 3 = NXDOMAIN…).
    pub rcode: u16,
    /// The first question: name (lower case, no trailing dot) and type.
    pub query: Option<(String, u16)>,
    /// The answer section, in order.
    pub records: Vec<DnsRecord>,
    /// TC=1 (RFC 1035 §4.1.1): cut to fit a UDP datagram; the client asks
    /// again over TCP (RFC 7766 §5), so the answer proves nothing itself.
    #[cfg_attr(feature = "serde", serde(default))]
    pub truncated: bool,
}

/// DCOM's own interfaces: activation, OXID resolution and remote
/// IUnknown (MS-DCOM §1.9). Any call to a DCOM object starts with one of
/// them; the object's own interface UUIDs are its server's and not public
/// (DPMRA's among them, protocol-facts.md).
const DCOM_INTERFACES: &[u128] = &[
    0x000001a0_0000_0000_c000_000000000046,
    0x4d9f4ab8_7d1c_11cf_861e_0020af6e7c57,
    0x99fcfec4_5260_101b_bbcb_00aa0021347a,
    0x00000131_0000_0000_c000_000000000046,
    0x00000143_0000_0000_c000_000000000046,
    0xf309ad18_d86a_11d0_a075_00c04fb68820,
    0x9556dc99_828c_11cf_a37e_00aa003240c7,
];

/// A well-known MS-RPC interface that is not DCOM (the endpoint mapper,
/// the service control manager, LSA, SAM…): its name. An endpoint or bind
/// of one of these is plain RPC, whoever the peer is; `None` for DCOM's
/// interfaces and for unknown ones (a DCOM object's, possibly).
pub fn plain_rpc_interface(u: &Uuid) -> Option<&'static str> {
    if DCOM_INTERFACES.contains(&u.as_u128()) {
        return None;
    }
    interface_name(u)
}

/// Well-known DCE/RPC interfaces and their names (for reports): zeek's
/// `consts.zeek` and the MS-* specifications.
const KNOWN_INTERFACES: &[(u128, &str)] = &[
    (
        0xe1af8308_5d1f_11c9_91a4_08002b14a0fa,
        "endpoint mapper (epmapper)",
    ),
    (
        0x000001a0_0000_0000_c000_000000000046,
        "DCOM activator (IRemoteSCMActivator)",
    ),
    (
        0x4d9f4ab8_7d1c_11cf_861e_0020af6e7c57,
        "DCOM activator (IActivation)",
    ),
    (
        0x99fcfec4_5260_101b_bbcb_00aa0021347a,
        "DCOM OXID resolver (IObjectExporter)",
    ),
    (0x00000131_0000_0000_c000_000000000046, "DCOM IRemUnknown"),
    (0x00000143_0000_0000_c000_000000000046, "DCOM IRemUnknown2"),
    (
        0x367abb81_9844_35f1_ad32_98f038001003,
        "service control manager (svcctl)",
    ),
    (0x12345778_1234_abcd_ef00_0123456789ab, "LSA (lsarpc)"),
    (0x12345778_1234_abcd_ef00_0123456789ac, "SAM (samr)"),
    (0x12345678_1234_abcd_ef00_01234567cffb, "Netlogon"),
    (
        0xe3514235_4b06_11d1_ab04_00c04fc2dcd2,
        "directory replication (drsuapi)",
    ),
    (
        0x4b324fc8_1670_01d3_1278_5a47bf6ee188,
        "server service (srvsvc)",
    ),
    (
        0x6bffd098_a112_3610_9833_46c3f87e345a,
        "workstation service (wkssvc)",
    ),
    (
        0x338cd001_2244_31f1_aaaa_900038001003,
        "remote registry (winreg)",
    ),
    (
        0x1ff70682_0a51_30e8_076d_740be8cee98b,
        "task scheduler (atsvc)",
    ),
    (
        0x86d35949_83c9_4044_b424_db363231fd0c,
        "task scheduler (ITaskSchedulerService)",
    ),
    (
        0x82273fdc_e32a_18c3_3f78_827929dc23ea,
        "event log (eventlog)",
    ),
    (
        0x12345678_1234_abcd_ef00_0123456789ab,
        "print spooler (spoolss)",
    ),
    (
        0x76f03f96_cdfd_44fc_a22c_64950a001209,
        "print spooler (IRemoteWinspool)",
    ),
    (
        0x50abc2a4_574d_40b3_9d66_ee4fd5fba076,
        "DNS server (dnsserver)",
    ),
    (0x4fc742e0_4a10_11cf_8273_00aa004ae673, "DFS (netdfs)"),
    (
        0x3919286a_b10c_11d0_9ba8_00c04fd92ef5,
        "directory setup (dssetup)",
    ),
    (
        0x3dde7c30_165d_11d1_ab8f_00805f14db40,
        "backup key (BackupKey)",
    ),
    (
        0xafa8bd80_7d8a_11c9_bef4_08002b102989,
        "RPC management (mgmt)",
    ),
    (
        0xf309ad18_d86a_11d0_a075_00c04fb68820,
        "WMI over DCOM (IWbemLevel1Login)",
    ),
    (
        0x9556dc99_828c_11cf_a37e_00aa003240c7,
        "WMI over DCOM (IWbemServices)",
    ),
    (
        0xa4f1db00_ca47_1067_b31f_00dd010662da,
        "Exchange MAPI (emsmdb)",
    ),
    (
        0xf5cc5a18_4264_101a_8c59_08002b2f8426,
        "Exchange directory (nspi)",
    ),
];

/// The name of a well-known DCE/RPC interface (for reports).
pub fn interface_name(u: &Uuid) -> Option<&'static str> {
    let v = u.as_u128();
    KNOWN_INTERFACES
        .iter()
        .find(|(k, _)| *k == v)
        .map(|(_, n)| *n)
}

/// What an answer resolves its query name to: the addresses with their
/// TTLs, and the CNAME records (owner, TTL) on the way.
pub type Resolved = (Vec<(IpAddr, u32)>, Vec<(String, u32)>);

impl DnsAnswer {
    /// The address families this answer speaks for: those its question
    /// asks (A: IPv4, AAAA: IPv6, ANY: both, other types: none); every
    /// family for NXDOMAIN, which says the name has no record of any type
    /// (RFC 8020); none when truncated (the retry speaks).
    pub fn families(&self) -> dns::Families {
        match &self.query {
            _ if self.truncated => dns::Families::NONE,
            Some(_) if self.rcode == dns::NXDOMAIN => dns::Families::ALL,
            Some((_, qtype)) => dns::Families::asked(*qtype),
            None => dns::Families::NONE,
        }
    }

    /// The addresses a query name resolves to in an answer, with the TTL of
    /// each, following CNAMEs; and every TTL met on the way.
    pub fn resolve(&self) -> Resolved {
        let a = self;
        let Some((qname, _)) = &a.query else {
            return (Vec::new(), Vec::new());
        };
        let mut names = vec![qname.clone()];
        let (mut addrs, mut chain) = (Vec::new(), Vec::new());
        // Each pass adds at least one name or stops: bounded by the records.
        for _ in 0..=a.records.len() {
            let before = names.len();
            let owned: Vec<&DnsRecord> = a
                .records
                .iter()
                .filter(|r| names.contains(&r.name))
                .collect();
            for r in owned {
                match &r.data {
                    RecordData::Cname(target) if !names.contains(target) => {
                        chain.push((r.name.clone(), r.ttl));
                        names.push(target.clone());
                    }
                    d => {
                        if let Some(ip) = d.addr() {
                            if !addrs.iter().any(|(x, _)| *x == ip) {
                                addrs.push((ip, r.ttl));
                            }
                        }
                    }
                }
            }
            if names.len() == before {
                break;
            }
        }
        (addrs, chain)
    }
}

/// How an RPC endpoint was announced.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Via {
    /// An endpoint-mapper `ept_map` reply (tower floors).
    Epm,
    /// A DCOM activation or OXID-resolution reply (string binding).
    Dcom,
}

impl Via {
    /// JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Epm => "epm",
            Via::Dcom => "dcom",
        }
    }
}

/// Something a dissector proved from a flow's payload.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Fact {
    /// The dialect a server chose in its NEGOTIATE response.
    SmbDialect(Dialect),
    /// A TREE_CONNECT request (SMB2/3, or SMB1 TREE_CONNECT_ANDX) for
    /// `\\server\share`, in its session (0 for SMB1).
    SmbTreeConnect {
        /// The path as sent (`\\node1\ClusterStorage$`).
        path: String,
        /// SMB2 SessionId (SMB1: the UID).
        session_id: u64,
    },
    /// A TREE_CONNECT request whose path the snaplen cut: the part that
    /// was captured (the share, which decides, is lost).
    SmbTreeConnectCut {
        /// The path as far as it was captured (may be empty).
        path: String,
        /// SMB2 SessionId.
        session_id: u64,
    },
    /// A successful TREE_CONNECT response: the TreeId the server gave the
    /// request's path (not kept as flow evidence; remembered for later
    /// connections of the session).
    SmbTree {
        /// SMB2 SessionId.
        session_id: u64,
        /// The TreeId granted.
        tree_id: u32,
        /// The request's path.
        path: String,
    },
    /// The first request of a (session, tree) on the connection that works
    /// inside the tree (READ, WRITE, IOCTL, CREATE…): what the connection's
    /// data uses, which decides its class.
    SmbTreeUse {
        /// SMB2 SessionId.
        session_id: u64,
        /// The TreeId.
        tree_id: u32,
        /// The tree's path, when a tree connect of this connection, or of
        /// an earlier one of the session, named it.
        path: Option<String>,
    },
    /// The ServerGuid of a NEGOTIATE response (MS-SMB2 §2.2.4): whose
    /// session ids the connection's are (not kept as flow evidence).
    SmbServer {
        /// ServerGuid.
        guid: Uuid,
    },
    /// A session id first seen in clear (SESSION_SETUP response).
    SmbSession {
        /// SMB2 SessionId.
        session_id: u64,
    },
    /// The first encrypted message (transform header) of a session.
    SmbEncrypted {
        /// SessionId of the transform header.
        session_id: u64,
    },
    /// The first signed message of a session.
    SmbSigned {
        /// SessionId.
        session_id: u64,
    },
    /// A DCE/RPC bind (or alter-context) to an interface.
    RpcBind {
        /// Abstract syntax UUID.
        interface: Uuid,
        /// Its major version.
        version: u16,
    },
    /// An endpoint from an endpoint-mapper `ept_map` reply tower.
    RpcEndpoint {
        /// Interface UUID of the tower's first floor.
        interface: Uuid,
        /// 6 (TCP) or 17 (UDP).
        proto: u8,
        /// The port.
        port: u16,
        /// The address floor, if the tower has one (may be 0.0.0.0).
        addr: Option<Ipv4Addr>,
    },
    /// A DCOM string binding (`host[port]` or `host`) from a
    /// RemoteCreateInstance/RemoteGetClassObject or ResolveOxid/ResolveOxid2 reply.
    DcomBinding {
        /// Tower id (7 = ncacn_ip_tcp).
        tower: u16,
        /// The network address as sent (`BLACKCLOVER-DC[49718]`).
        binding: String,
    },
    /// A DNS response.
    Dns(DnsAnswer),
    /// A DNS response the capture's snaplen cut: its header and question
    /// were captured, its records not (not kept as flow evidence; DNS
    /// rules warn that the name's answer was cut, not that it was never
    /// answered).
    DnsCut {
        /// Query name (lower case, no trailing dot).
        name: String,
        /// Query type.
        qtype: u16,
        /// Transaction id.
        id: u16,
    },
    /// A DNS query: the name and type asked (not kept as flow evidence;
    /// DNS rules warn about names queried but never answered).
    DnsQuery {
        /// Query name (lower case, no trailing dot).
        name: String,
        /// Query type.
        qtype: u16,
        /// Transaction id.
        id: u16,
    },
}

impl Fact {
    /// The evidence kind, as JSON and text spell it.
    pub fn kind(&self) -> &'static str {
        match self {
            Fact::SmbDialect(_) => "smb-dialect",
            Fact::SmbTreeConnect { .. } => "smb-tree-connect",
            Fact::SmbTreeConnectCut { .. } => "smb-tree-connect-cut",
            Fact::SmbTree { .. } => "smb-tree",
            Fact::SmbTreeUse { .. } => "smb-tree-use",
            Fact::SmbServer { .. } => "smb-server",
            Fact::SmbSession { .. } => "smb-session",
            Fact::SmbEncrypted { .. } => "smb-encrypted",
            Fact::SmbSigned { .. } => "smb-signed",
            Fact::RpcBind { .. } => "rpc-bind",
            Fact::RpcEndpoint { .. } => "rpc-endpoint",
            Fact::DcomBinding { .. } => "dcom-binding",
            Fact::Dns(_) => "dns-answer",
            Fact::DnsQuery { .. } => "dns-query",
            Fact::DnsCut { .. } => "dns-cut",
        }
    }
}

/// A protocol dissector for one flow. It is fed each direction's payload in
/// order, one call per TCP segment (or UDP datagram), and appends what it
/// finds to `out`. It keeps bounded state. An `Err` means it stopped
/// looking at this flow for good (the caller counts the reason).
pub trait Dissector: fmt::Debug + Send {
    /// Payload bytes from `dir`, continuing that direction's stream.
    /// `segment_start` is true when `data` begins a TCP segment (or is a
    /// whole datagram): a dissector that joined a stream mid-way (see
    /// [`Start`]) may only resynchronise at such a boundary.
    fn feed(
        &mut self,
        dir: Dir,
        data: &[u8],
        segment_start: bool,
        out: &mut Vec<Fact>,
    ) -> Result<(), GiveUp>;

    /// `missing` bytes of `dir`'s stream were not captured (the snaplen cut
    /// a segment short) right after what was fed. A dissector that can tell
    /// they fall inside data it skips anyway goes on; by default it gives up.
    fn gap(&mut self, dir: Dir, missing: usize, out: &mut Vec<Fact>) -> Result<(), GiveUp> {
        let _ = (dir, missing, out);
        Err(GiveUp(SNAPLEN_CUT))
    }

    /// The snaplen cut a message where it mattered, but the dissector
    /// reads on, each message standing alone (a DNS response over TCP):
    /// its flow counts once with [`SNAPLEN_CUT`], as a cut UDP answer's.
    fn cut(&self) -> bool {
        false
    }
}

/// The give-up reason of bytes lost where a dissector needed them; counted
/// as [`Counted::Snaplen`], with the cut frame's captured length.
pub const SNAPLEN_CUT: &str = "payload cut by the snaplen where the dissector needed it";

/// Why flows are counted in the report's give-ups: a dissector's reason,
/// or bytes the capture's snaplen cut where a dissector needed them. (The
/// frame a give-up is found at is not always the one the snaplen cut: a
/// gap shows at a later frame, or at the end of a capture, so no length is
/// named: a number there differed between one run and parallel parts.)
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Counted {
    /// The dissector's own reason.
    Said(&'static str),
    /// [`SNAPLEN_CUT`].
    Snaplen,
}

impl Counted {
    /// How a give-up is counted.
    pub fn of(g: GiveUp) -> Counted {
        match g.0 {
            SNAPLEN_CUT => Counted::Snaplen,
            why => Counted::Said(why),
        }
    }
}

impl fmt::Display for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Counted::Said(why) => f.write_str(why),
            Counted::Snaplen => {
                f.write_str("payload cut by the capture's snaplen where the dissector needed it")
            }
        }
    }
}

/// Where a direction's stream begins for a dissector.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Start {
    /// At its first byte (the SYN was seen): records start at offset 0.
    Beginning,
    /// Somewhere in the middle (the capture began after the handshake): the
    /// dissector looks for a record header at each segment start and skips
    /// segments until one fits.
    Midway,
}

#[cfg(test)]
mod counted_tests {
    use super::*;

    #[test]
    fn a_snaplen_give_up_says_the_snaplen() {
        let cut = Counted::of(GiveUp(SNAPLEN_CUT));
        assert_eq!(cut, Counted::Snaplen);
        assert_eq!(
            cut.to_string(),
            "payload cut by the capture's snaplen where the dissector needed it"
        );
        let other = Counted::of(GiveUp("a segment is missing or out of order"));
        assert_eq!(other.to_string(), "a segment is missing or out of order");
    }
}
