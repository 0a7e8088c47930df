//! What `policy derive` and `policy lint` read, typed: the cluster networks,
//! their interfaces, the live-migration settings, DPM's backup networks and
//! servers, and the values of the flags that have no export.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::flags::{LmTransport, Os};

/// A cluster network role (`Get-ClusterNetwork` Role; protocol-facts §4).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Role(u8);

impl Role {
    /// 0: not used by the cluster (iSCSI, for example).
    pub const NONE: Role = Role(0);

    /// A role from its number (0–3).
    pub fn try_new(v: u64) -> Option<Self> {
        u8::try_from(v).ok().filter(|v| *v <= 3).map(Role)
    }

    /// A role from the text PowerShell prints: the enum name of Windows
    /// Server 2016 and later (`None`, `Cluster`, `Client`,
    /// `ClusterAndClient`), the older API names, or a number.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if let Ok(n) = t.parse::<u64>() {
            return Self::try_new(n).ok_or_else(|| out_of_range(&n.to_string()));
        }
        let n = match t.to_ascii_lowercase().as_str() {
            "none" => 0,
            "cluster" | "internaluse" | "clusteronly" => 1,
            "client" | "clientaccess" => 2,
            "clusterandclient" | "internalandclient" | "all" => 3,
            _ => return Err(format!("Role {t:?} is not a cluster network role (0 None, 1 Cluster, 2 Client, 3 ClusterAndClient)")),
        };
        Ok(Role(n))
    }

    /// The number Windows stores.
    pub fn number(self) -> u8 {
        self.0
    }

    /// Role 1 or 3: the cluster sends its own traffic (heartbeats, CSV,
    /// live migration) here.
    pub fn cluster_use(self) -> bool {
        self.0 == 1 || self.0 == 3
    }

    /// Role 2 or 3: clients reach the cluster here.
    pub fn client(self) -> bool {
        self.0 >= 2
    }

    /// The role as PowerShell names it.
    pub fn name(self) -> &'static str {
        ["None", "Cluster", "Client", "ClusterAndClient"][usize::from(self.0)]
    }
}

/// The message for a role number outside 0–3.
pub fn out_of_range(v: &str) -> String {
    format!("Role {v} is out of range (0 None, 1 Cluster, 2 Client, 3 ClusterAndClient)")
}

/// The largest metric Windows allows (protocol-facts §4: 1–0x0FFFFFFF).
pub const METRIC_MAX: u64 = 0x0FFF_FFFF;

/// The form of a `Get-ClusterNetwork` export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    /// `ConvertTo-Json`.
    Json,
    /// `Format-Table` (addresses only if its columns were chosen).
    Table,
}

impl Export {
    /// Why a network of this export has no prefix.
    pub fn no_prefix(self) -> &'static str {
        match self {
            Export::Json => "its JSON object gives no Address, Ipv4Addresses or Ipv6Addresses",
            Export::Table => "a Format-Table export has no addresses",
        }
    }
}

/// One `Get-ClusterNetwork` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNet {
    /// `Id` (a GUID), absent from a table.
    pub id: Option<String>,
    /// `Name`.
    pub name: String,
    /// Every prefix the export gives (`Address`/`AddressMask`, and in JSON
    /// `Ipv4Addresses`/`Ipv6Addresses` with their prefix lengths), each
    /// once; a `Format-Table` table usually has none.
    pub prefixes: Vec<IpNet>,
    /// Which export it was read from.
    pub export: Export,
    /// `Role`.
    pub role: Role,
    /// `Metric`.
    pub metric: u32,
    /// `AutoMetric`: false when the metric was set by hand; unknown in a table.
    pub auto_metric: Option<bool>,
    /// `State` (`Up`, `Down`, `Partitioned`, `Unavailable`).
    pub state: Option<String>,
    /// Where it was read: `FILE:LINE` for a table row, `FILE` for JSON.
    pub origin: String,
}

impl ClusterNet {
    /// Whether the cluster chose the metric: `AutoMetric`, or, from a table,
    /// a metric in the automatic bands (1000 and above; seed 001 advises
    /// setting metrics by hand below 1000).
    pub fn automatic(&self) -> bool {
        self.auto_metric.unwrap_or(self.metric >= 1000)
    }
}

/// One `Get-ClusterNetworkInterface` row.
#[derive(Clone, Debug)]
pub struct NodeIface {
    /// `Node`.
    pub node: String,
    /// `Network` (its name).
    pub network: String,
    /// `Adapter` (the NIC's alias, e.g. `Ethernet 2`).
    pub adapter: String,
    /// `Address`.
    pub address: Option<IpAddr>,
}

/// The live-migration settings: network ids (or names) as listed.
#[derive(Clone, Debug, Default)]
pub struct Migration {
    /// `MigrationExcludeNetworks`.
    pub exclude: Vec<String>,
    /// `MigrationNetworkOrder`.
    pub order: Vec<String>,
    /// The file.
    pub origin: String,
}

/// One `Add-DPMBackupNetworkAddress -Address … -SequenceNumber …`.
#[derive(Clone, Debug)]
pub struct Backup {
    /// The prefix (host bits cleared).
    pub prefix: IpNet,
    /// `-Address` as given.
    pub given: String,
    /// `-SequenceNumber`.
    pub sequence: u32,
    /// The flag or file line it came from.
    pub origin: String,
}

/// A DPM or protected server: its name and addresses, primary first.
#[derive(Clone, Debug)]
pub struct Server {
    /// The name (an FQDN makes a name-resolution rule).
    pub name: String,
    /// Addresses, the primary network's first (seed 000's table order).
    pub addrs: Vec<IpAddr>,
    /// Where it was given.
    pub origin: String,
}

/// `--address NAME=PREFIX`.
#[derive(Clone, Debug)]
pub struct Address {
    /// The network's name.
    pub name: String,
    /// Its prefix.
    pub prefix: IpNet,
    /// Where it was given.
    pub origin: String,
}

/// `--interface NAME=ADDR|NETWORK`: a capture interface and where it is.
#[derive(Clone, Debug)]
pub struct NicMap {
    /// The capture interface's name.
    pub nic: String,
    /// An address on that NIC, or a network name.
    pub target: String,
    /// Where it was given.
    pub origin: String,
}

/// A value and where it was given.
#[derive(Clone, Debug)]
pub struct Given<T> {
    /// The value.
    pub value: T,
    /// `--os`, `DIR/lanecheck-derive.toml:3`, or `default`.
    pub origin: String,
}

/// Every input, parsed.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// The cluster networks and the file they came from.
    pub networks: Option<(String, Vec<ClusterNet>)>,
    /// The cluster network interfaces and their file.
    pub ifaces: Option<(String, Vec<NodeIface>)>,
    /// The live-migration settings.
    pub migration: Option<Migration>,
    /// The live-migration transport.
    pub transport: Given<LmTransport>,
    /// Whose rules apply.
    pub os: Given<Os>,
    /// DPM backup networks as given.
    pub backups: Vec<Backup>,
    /// DPM servers.
    pub dpm_servers: Vec<Server>,
    /// Protected servers.
    pub protected: Vec<Server>,
    /// `--address` values.
    pub addresses: Vec<Address>,
    /// `--interface` values.
    pub nics: Vec<NicMap>,
    /// Lint ids to silence.
    pub allow: Vec<Given<String>>,
}

impl Default for Inputs {
    fn default() -> Self {
        Inputs {
            networks: None,
            ifaces: None,
            migration: None,
            transport: Given {
                value: LmTransport::Compression,
                origin: "default".into(),
            },
            os: Given {
                value: Os::W2012,
                origin: "default".into(),
            },
            backups: Vec::new(),
            dpm_servers: Vec::new(),
            protected: Vec::new(),
            addresses: Vec::new(),
            nics: Vec::new(),
            allow: Vec::new(),
        }
    }
}

/// `Address` and `AddressMask` → a prefix. A mask is dotted IPv4
/// (`255.255.255.0`) or a prefix length; an address may carry its own
/// `/length`. Both empty: no prefix.
pub fn prefix_from(address: &str, mask: &str) -> Result<Option<IpNet>, String> {
    let (address, mask) = (address.trim(), mask.trim());
    if address.is_empty() {
        return Ok(None);
    }
    if address.contains('/') && mask.is_empty() {
        return cidr(address).map(Some);
    }
    let ip: IpAddr = address
        .parse()
        .map_err(|_| format!("Address {address:?} is not an IP address"))?;
    if mask.is_empty() {
        return Err(format!(
            "Address {address} has no AddressMask: a network needs its mask"
        ));
    }
    let len = match (mask.parse::<u8>(), mask.parse::<IpAddr>()) {
        (Ok(len), _) => len,
        (_, Ok(IpAddr::V4(m))) => {
            let bits = u32::from(m);
            if bits.leading_ones() + bits.trailing_zeros() != 32 {
                return Err(format!("AddressMask {mask} is not a contiguous mask"));
            }
            bits.leading_ones() as u8
        }
        _ => {
            return Err(format!(
                "AddressMask {mask:?} is not a mask (255.255.255.0) or a prefix length"
            ))
        }
    };
    let net =
        IpNet::new(ip, len).map_err(|_| format!("AddressMask {mask} is too long for {address}"))?;
    if net.trunc() != net {
        return Err(format!(
            "Address {address} has host bits set for mask {mask} (the network is {})",
            net.trunc()
        ));
    }
    Ok(Some(net))
}

/// The prefixes of `Ipv4Addresses`/`Ipv6Addresses` and their
/// `…PrefixLengths` (paired by position), added to `out` unless already
/// there. `family` names them in errors (`Ipv6`).
pub fn add_prefixes(
    family: &str,
    addrs: &[String],
    lens: &[String],
    out: &mut Vec<IpNet>,
) -> Result<(), String> {
    if addrs.len() != lens.len() {
        return Err(format!(
            "{} {family}Addresses but {} {family}PrefixLengths",
            addrs.len(),
            lens.len()
        ));
    }
    for (a, l) in addrs.iter().zip(lens) {
        if l.trim().parse::<u8>().is_err() {
            return Err(format!(
                "{family}PrefixLengths {l:?} is not a prefix length"
            ));
        }
        if let Some(p) = prefix_from(a, l)? {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    Ok(())
}

/// A CIDR prefix with its length; host bits set is an error.
pub fn cidr(text: &str) -> Result<IpNet, String> {
    let t = text.trim();
    if !t.contains('/') {
        return Err(format!(
            "{t:?} has no prefix length (like 192.168.1.0/24): a network needs its mask"
        ));
    }
    let net: IpNet = t
        .parse()
        .map_err(|_| format!("{t:?} is not an IPv4/IPv6 prefix (like 192.168.1.0/24)"))?;
    if net.trunc() != net {
        return Err(format!(
            "{t} has host bits set (did you mean {}?)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// `PREFIX:SEQUENCE` → (prefix, as given, sequence). DPM accepts host bits
/// in `-Address` (its own help says `10.10.10.0/16`), so they are cleared.
pub fn backup(text: &str) -> Result<(IpNet, String, u32), String> {
    let (prefix, seq) = text
        .trim()
        .rsplit_once(':')
        .ok_or("expected PREFIX:SEQUENCE (like 192.168.1.0/24:1)")?;
    let sequence = seq
        .trim()
        .parse::<u32>()
        .map_err(|_| format!("sequence {seq:?} is not a number 0-4294967295"))?;
    if !prefix.contains('/') {
        return Err(format!(
            "{prefix:?} has no prefix length (like 192.168.1.0/24): a backup network needs its mask"
        ));
    }
    let net: IpNet = prefix
        .trim()
        .parse()
        .map_err(|_| format!("{prefix:?} is not an IPv4/IPv6 prefix"))?;
    Ok((net.trunc(), prefix.trim().to_string(), sequence))
}

/// `NAME=ADDR[,ADDR…]`.
pub fn server(text: &str) -> Result<(String, Vec<IpAddr>), String> {
    let (name, addrs) = text
        .split_once('=')
        .ok_or("expected NAME=ADDR[,ADDR…] (like dpm=10.10.12.89,192.168.1.23)")?;
    let name = name.trim();
    if name.is_empty() {
        return Err("the server's name is empty".into());
    }
    let addrs = addrs
        .split(',')
        .map(|a| {
            a.trim()
                .parse::<IpAddr>()
                .map_err(|_| format!("{:?} is not an IP address", a.trim()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((name.to_string(), addrs))
}

/// `NAME=VALUE` with both parts non-empty.
pub fn pair(text: &str, what: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((n, v)) if !n.trim().is_empty() && !v.trim().is_empty() => {
            Ok((n.trim().to_string(), v.trim().to_string()))
        }
        _ => Err(format!("expected {what}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_from_address_and_mask() {
        let p = |a, m| prefix_from(a, m).map(|n| n.map(|n| n.to_string()));
        assert_eq!(
            p("172.16.20.0", "255.255.255.0"),
            Ok(Some("172.16.20.0/24".into()))
        );
        assert_eq!(p("fd00:b::", "64"), Ok(Some("fd00:b::/64".into())));
        assert_eq!(p("10.0.0.0/8", ""), Ok(Some("10.0.0.0/8".into())));
        assert_eq!(p("", ""), Ok(None));
        assert!(p("172.16.20.0", "")
            .unwrap_err()
            .contains("has no AddressMask"));
        assert!(p("172.16.20.0", "255.0.255.0")
            .unwrap_err()
            .contains("contiguous"));
        assert!(p("172.16.20.5", "255.255.255.0")
            .unwrap_err()
            .contains("host bits"));
    }

    #[test]
    fn flag_values() {
        let (net, given, seq) = backup("10.10.10.0/16:2").unwrap();
        assert_eq!(
            (net.to_string(), given.as_str(), seq),
            ("10.10.0.0/16".into(), "10.10.10.0/16", 2)
        );
        assert_eq!(backup("fd00::/64:1").unwrap().0.to_string(), "fd00::/64");
        assert!(backup("192.168.1.0:1")
            .unwrap_err()
            .contains("no prefix length"));
        assert!(backup("192.168.1.0/24")
            .unwrap_err()
            .contains("PREFIX:SEQUENCE"));
        let (n, a) = server("dpm=10.10.12.89, 192.168.1.23").unwrap();
        assert_eq!((n.as_str(), a.len()), ("dpm", 2));
        assert!(server("dpm=10.10.12.x").is_err());
        assert_eq!(Role::parse("ClusterAndClient"), Ok(Role(3)));
        assert!(Role::parse("7").unwrap_err().contains("out of range"));
    }
}
