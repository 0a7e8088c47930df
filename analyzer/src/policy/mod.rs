//! The policy: named networks, interface mapping, hosts and roles, where
//! each class may travel, and user classification rules; plus the check of
//! one flow against it.
//!
//! Construction is infallible here: the binary's `config` module validates
//! the file (with line and column for every error) before building it.

mod check;
mod dns;
mod nic;
mod subnet;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

pub use check::{FlowCheck, FlowVerdict};
pub use dns::{DnsFinding, DnsRule, NamePattern};
pub use nic::{mac_text, Nic, NicKey};
pub use subnet::Subnets;

use crate::class::{ClassId, BUILTIN_CLASSES};
use crate::evidence::Uuid;

/// Index of a named network in [`Policy::networks`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct NetId(pub u16);

/// A named network: several prefixes, v4 and v6.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    /// Name (`backup`).
    pub name: String,
    /// Its prefixes.
    pub prefixes: Vec<IpNet>,
}

/// What a class's use of a later (non-preferred) network means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnFallback {
    /// A warning; the verdict stays pass.
    #[default]
    Warn,
    /// A violation.
    Fail,
    /// Fine: every listed network is equally allowed (cluster heartbeats
    /// run on every cluster network). The order is then informational.
    Allow,
}

/// Where one class may travel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassPolicy {
    /// Class name (`dpm`).
    pub name: String,
    /// Allowed networks, most preferred first; `None` allows anything.
    pub networks: Option<Vec<NetId>>,
    /// Meaning of a fallback.
    pub on_fallback: OnFallback,
}

/// Which endpoint a rule's ports and hosts must be on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Side {
    /// Either endpoint.
    #[default]
    Any,
    /// The responder (server) only.
    Server,
}

/// A user classification rule, checked before the built-in ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// 1-based position in the file, for reasons.
    pub index: usize,
    /// Class it assigns.
    pub class: ClassId,
    /// IP protocol number, or any.
    pub proto: Option<u8>,
    /// Port ranges (inclusive); empty = any port.
    pub ports: Vec<(u16, u16)>,
    /// Addresses (hosts, roles, prefixes resolved); empty = any host.
    pub hosts: Vec<IpNet>,
    /// Where ports and hosts must be.
    pub side: Side,
    /// Human description for reasons (`tcp 2500,2501,49152-65535`).
    pub description: String,
    /// Evidence key: a tree connect's share component matches this
    /// (case-insensitive glob).
    pub smb_share: Option<glob::Pattern>,
    /// Evidence key: a tree connect's server component matches this
    /// (case-insensitive glob).
    pub smb_server: Option<glob::Pattern>,
    /// Evidence key: a DCE/RPC bind to this interface.
    pub rpc_interface: Option<Uuid>,
}

impl Rule {
    /// The rule needs payload evidence (it applies when that arrives).
    pub fn needs_evidence(&self) -> bool {
        self.smb_share.is_some() || self.smb_server.is_some() || self.rpc_interface.is_some()
    }
}

/// The built-in roles the class rules use (resolved addresses).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roles {
    /// DPM servers (`dpm-control` needs one end here).
    pub dpm_servers: Vec<IpAddr>,
    /// Failover-cluster nodes (`smb-redirected` needs both ends here).
    pub cluster_nodes: Vec<IpAddr>,
    /// Hyper-V Replica servers (`replication` on 80/443 needs both ends here).
    pub replica_servers: Vec<IpAddr>,
}

/// A validated policy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Named networks, indexed by [`NetId`].
    pub networks: Vec<Network>,
    /// Capture interface → its network.
    pub interfaces: BTreeMap<String, NetId>,
    /// Named hosts, for roles and readable reports.
    pub hosts: BTreeMap<String, Vec<IpAddr>>,
    /// Roles.
    pub roles: Roles,
    /// Every class (built-in first, then user classes), indexed by [`ClassId`].
    pub classes: Vec<ClassPolicy>,
    /// User rules in file order.
    pub rules: Vec<Rule>,
    /// 802.1Q VLAN id → the network it carries.
    pub vlans: BTreeMap<u16, NetId>,
    /// Networks no traffic may touch any more.
    pub retired: Vec<NetId>,
    /// DNS answer rules, in file order.
    pub dns: Vec<DnsRule>,
    /// The `[interfaces]` keys read, in key order (parallel to `interfaces`).
    nic_keys: Vec<ReadKey>,
    subnets: Subnets,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::new(
            Vec::new(),
            BTreeMap::new(),
            BTreeMap::new(),
            Roles::default(),
            Vec::new(),
            Vec::new(),
        )
    }
}

impl Policy {
    /// Whether a report under this policy reads what names resolved to:
    /// to explain a fallback (a class with a second network, not
    /// `on_fallback = "allow"`) or for its `[[dns]]` rules. Analyzers that
    /// each read part of the traffic need share their names only then.
    pub fn reads_names(&self) -> bool {
        let falls_back = |c: &ClassPolicy| {
            c.on_fallback != OnFallback::Allow && c.networks.as_ref().is_some_and(|n| n.len() > 1)
        };
        !self.dns.is_empty() || self.classes.iter().any(falls_back)
    }

    /// Builds a policy. `classes` overrides or extends the built-in classes
    /// by name; built-ins keep their ids.
    pub fn new(
        networks: Vec<Network>,
        interfaces: BTreeMap<String, NetId>,
        hosts: BTreeMap<String, Vec<IpAddr>>,
        roles: Roles,
        classes: Vec<ClassPolicy>,
        rules: Vec<Rule>,
    ) -> Self {
        let mut all: Vec<ClassPolicy> = BUILTIN_CLASSES
            .iter()
            .map(|name| ClassPolicy {
                name: (*name).to_string(),
                networks: None,
                on_fallback: OnFallback::Warn,
            })
            .collect();
        for c in classes {
            match all.iter_mut().find(|a| a.name == c.name) {
                Some(slot) => *slot = c,
                None => all.push(c),
            }
        }
        let subnets = Subnets::new(
            networks
                .iter()
                .enumerate()
                .flat_map(|(i, n)| n.prefixes.iter().map(move |p| (*p, NetId(i as u16))))
                .collect(),
        );
        // The binary validated every key (`config`); a key that does not
        // read as a GUID, index or MAC here can only be a name.
        let nic_keys = interfaces
            .iter()
            .map(|(k, n)| {
                let (host, rest) = split_host(k)
                    .and_then(|(h, rest)| Some((host_named(&hosts, h)?.to_string(), rest)))
                    .map_or((None, k.as_str()), |(h, rest)| (Some(h), rest));
                let key = NicKey::parse(rest).unwrap_or_else(|_| NicKey::Name(rest.to_string()));
                ReadKey {
                    text: k.clone(),
                    host,
                    key,
                    net: *n,
                }
            })
            .collect();
        Policy {
            networks,
            nic_keys,
            interfaces,
            hosts,
            roles,
            classes: all,
            rules,
            vlans: BTreeMap::new(),
            retired: Vec::new(),
            dns: Vec::new(),
            subnets,
        }
    }

    /// The id of a class by name.
    pub fn class_id(&self, name: &str) -> Option<ClassId> {
        self.classes
            .iter()
            .position(|c| c.name == name)
            .map(|i| ClassId(i as u16))
    }

    /// A class's name.
    pub fn class_name(&self, id: ClassId) -> &str {
        self.classes
            .get(usize::from(id.0))
            .map_or("?", |c| c.name.as_str())
    }

    /// A network's name.
    pub fn network_name(&self, id: NetId) -> &str {
        self.networks
            .get(usize::from(id.0))
            .map_or("?", |n| n.name.as_str())
    }

    /// The network holding an address.
    pub fn network_of(&self, addr: IpAddr) -> Option<NetId> {
        self.subnets.lookup(addr)
    }

    /// The network an interface known by its name only, on host `node`
    /// (a `[hosts]` name, when known), is attached to.
    pub fn interface_network(&self, iface: &str, node: Option<&str>) -> Option<NetId> {
        self.nic_network(&Nic::named(iface), node)
    }

    /// The network a capture interface of host `node` is attached to: the
    /// best `[interfaces]` key matching it (see
    /// [`Policy::nic_keys_matching`]).
    pub fn nic_network(&self, nic: &Nic<'_>, node: Option<&str>) -> Option<NetId> {
        self.nic_keys_matching(nic, node)
            .first()
            .map(|&k| self.nic_keys[k].net)
    }

    /// The `[interfaces]` keys (indexes) naming `nic` of a capture taken
    /// on host `node`, best first: a `HOST/KEY` key applies only when HOST
    /// is `node`, and outranks every key without a host (it says what the
    /// NIC is on that host); then by [`NicKey::rank`], then key order.
    pub fn nic_keys_matching(&self, nic: &Nic<'_>, node: Option<&str>) -> Vec<usize> {
        let mut hits: Vec<(bool, u8, usize)> = self
            .nic_keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.host.is_none() || k.host.as_deref() == node)
            .filter_map(|(i, k)| k.key.rank(nic).map(|r| (k.host.is_none(), r, i)))
            .collect();
        hits.sort_unstable();
        hits.into_iter().map(|(_, _, i)| i).collect()
    }

    /// An `[interfaces]` key by index: as written, parsed (without its
    /// host), and its network.
    pub fn nic_key(&self, i: usize) -> Option<(&str, &NicKey, NetId)> {
        self.nic_keys
            .get(i)
            .map(|k| (k.text.as_str(), &k.key, k.net))
    }

    /// The host of a `HOST/KEY` key (its `[hosts]` name), by index.
    pub fn nic_key_host(&self, i: usize) -> Option<&str> {
        self.nic_keys.get(i).and_then(|k| k.host.as_deref())
    }

    /// Whether some `[interfaces]` key is `HOST/KEY`: only then does it
    /// matter which host a capture was taken on.
    pub fn has_host_keys(&self) -> bool {
        self.nic_keys.iter().any(|k| k.host.is_some())
    }

    /// The `HOST/KEY` keys, as written.
    pub fn host_keys(&self) -> Vec<&str> {
        self.nic_keys
            .iter()
            .filter(|k| k.host.is_some())
            .map(|k| k.text.as_str())
            .collect()
    }

    /// The `[hosts]` name `name` means (ASCII case ignored, as Windows
    /// compares host names).
    pub fn host_named(&self, name: &str) -> Option<&str> {
        host_named(&self.hosts, name)
    }

    /// How many `[interfaces]` keys there are.
    pub fn nic_key_count(&self) -> usize {
        self.nic_keys.len()
    }

    /// The host name of an address, if the policy names it.
    pub fn host_name(&self, addr: IpAddr) -> Option<&str> {
        self.hosts
            .iter()
            .find(|(_, addrs)| addrs.contains(&addr))
            .map(|(n, _)| n.as_str())
    }

    /// How a class may use a network.
    pub fn judge(&self, class: ClassId, net: Option<NetId>) -> Use {
        let Some(cp) = self.classes.get(usize::from(class.0)) else {
            return Use::Preferred;
        };
        let Some(allowed) = &cp.networks else {
            return Use::Preferred;
        };
        match net.and_then(|n| allowed.iter().position(|a| *a == n)) {
            Some(0) => Use::Preferred,
            Some(_) if cp.on_fallback == OnFallback::Allow => Use::Preferred,
            Some(_) if cp.on_fallback == OnFallback::Fail => Use::FallbackFail,
            Some(_) => Use::Fallback,
            None => Use::NotAllowed,
        }
    }
}

/// One `[interfaces]` key as read: `HOST/KEY` is KEY on host HOST only.
#[derive(Clone, Debug)]
struct ReadKey {
    /// As written.
    text: String,
    /// The `[hosts]` name of a `HOST/KEY` key.
    host: Option<String>,
    /// The key (without its host).
    key: NicKey,
    net: NetId,
}

/// `HOST/KEY` split at its first `/`: (HOST, KEY). No other key form has
/// a `/` (names, GUIDs, `\Device\NPF_…`, `ifindex:N`, MACs, `erspan:N`).
pub fn split_host(key: &str) -> Option<(&str, &str)> {
    key.split_once('/')
}

/// The `[hosts]` name `name` means: exactly, else ignoring ASCII case.
pub fn host_named<'h, V>(hosts: &'h BTreeMap<String, V>, name: &str) -> Option<&'h str> {
    hosts
        .get_key_value(name)
        .or_else(|| hosts.iter().find(|(h, _)| h.eq_ignore_ascii_case(name)))
        .map(|(h, _)| h.as_str())
}

/// How a class uses one network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Use {
    /// The first allowed network (or the class is unrestricted).
    Preferred,
    /// An allowed network other than the first, `on_fallback = "warn"`.
    Fallback,
    /// An allowed network other than the first, `on_fallback = "fail"`.
    FallbackFail,
    /// Not allowed.
    NotAllowed,
}

/// Status of a (class, network) or (class, interface) aggregate.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Only the preferred network.
    Preferred,
    /// An allowed fallback network.
    Fallback,
    /// At least one flow there violated the policy.
    Violation,
}

impl Status {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Preferred => "preferred",
            Status::Fallback => "fallback",
            Status::Violation => "violation",
        }
    }
}

/// 169.254.0.0/16 or fe80::/10 (std's IPv6 test is not stable yet).
pub fn is_link_local(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}
