//! The policy file: TOML → raw serde structs (with spans) → validated
//! `analyzer::policy::Policy`. Every error names the file, line and column
//! and quotes the offending line; all errors of a file are reported at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;

use analyzer::class::{ClassId, BUILTIN_CLASSES};
use analyzer::evidence::Uuid;
use analyzer::policy::{
    ClassPolicy, NetId, Network, NicKey, OnFallback, Policy, Roles, Rule, Side,
};
use ipnet::IpNet;
use serde::Deserialize;
use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

type SList = Spanned<Vec<Spanned<String>>>;

/// A prefix `policy derive` could not know (a Format-Table export has no
/// addresses): always an error that names its network.
pub const PREFIX_GAP: &str = "<prefix missing>";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    networks: BTreeMap<Spanned<String>, SList>,
    #[serde(default)]
    interfaces: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    hosts: BTreeMap<Spanned<String>, SList>,
    #[serde(default)]
    roles: Option<RawRoles>,
    #[serde(default)]
    classes: BTreeMap<Spanned<String>, Spanned<RawClass>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    vlans: BTreeMap<Spanned<String>, Spanned<String>>,
    retired: Option<SList>,
    #[serde(default)]
    dns: Vec<Spanned<RawDns>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDns {
    names: SList,
    must_include: Option<SList>,
    all_in: Option<SList>,
    max_ttl: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoles {
    dpm_servers: Option<SList>,
    cluster_nodes: Option<SList>,
    replica_servers: Option<SList>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    networks: Option<SList>,
    on_fallback: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawPort {
    Number(i64),
    Range(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    class: Spanned<String>,
    proto: Option<Spanned<String>>,
    ports: Option<Spanned<Vec<Spanned<RawPort>>>>,
    hosts: Option<SList>,
    side: Option<Spanned<String>>,
    networks: Option<SList>,
    smb_share: Option<Spanned<String>>,
    smb_server: Option<Spanned<String>>,
    rpc_interface: Option<Spanned<String>>,
}

/// One problem in a policy file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// The offending line's text.
    pub text: String,
}

/// Every problem found in a policy file.
#[derive(Debug)]
pub struct PolicyError {
    /// The file.
    pub path: String,
    /// Problems in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "{}:{}:{}: {}", self.path, p.line, p.column, p.message)?;
            writeln!(f, "  | {}", p.text)?;
            write!(f, "  | {}^", " ".repeat(p.column.saturating_sub(1)))?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

/// Reads and validates a policy file.
pub fn load(path: &Path) -> anyhow::Result<Policy> {
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read policy: {e}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| not_utf8(path, e.as_bytes()))?;
    parse(&text, &path.display().to_string()).map_err(anyhow::Error::from)
}

/// Why a policy file is not UTF-8 text: Windows PowerShell 5.1 writes
/// UTF-16 by default (`>` and `Out-File`), which deserves its own words.
fn not_utf8(path: &Path, bytes: &[u8]) -> anyhow::Error {
    let utf16 = bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]);
    let at = std::str::from_utf8(bytes)
        .err()
        .map_or(0, |e| e.valid_up_to());
    match utf16 {
        true => anyhow::anyhow!(
            "{}: cannot read policy: it is UTF-16 text (what Windows PowerShell 5.1 writes with > or Out-File); save it as UTF-8 (Out-File -Encoding utf8, or Set-Content)",
            path.display()
        ),
        false => anyhow::anyhow!(
            "{}: cannot read policy: not UTF-8 text (byte {at} is not)",
            path.display()
        ),
    }
}

/// Parses and validates policy text; `path` labels errors.
pub fn parse(text: &str, path: &str) -> Result<Policy, PolicyError> {
    let mut v = Validator {
        text,
        problems: Vec::new(),
    };
    let raw: RawPolicy = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let first = (e.span().unwrap_or(0..0), e.message().trim_end().to_string());
            let mut all = type_problems(text);
            if !all.contains(&first) {
                all.push(first);
            }
            for (span, message) in all {
                v.problem(span, message);
            }
            return Err(v.into_error(path));
        }
    };
    let policy = v.build(raw);
    if v.problems.is_empty() {
        Ok(policy)
    } else {
        Err(v.into_error(path))
    }
}

/// Every type error of a document that parses, one per part: serde stops
/// at the first, so each entry of a table section (`[hosts]`, `[classes]`…),
/// each element of an array (`[[rules]]`, `[[dns]]`) and each other
/// top-level entry is read alone. Every section is optional, so a part
/// alone is a whole policy; its values keep their spans in the text.
/// Hand-written: toml and serde have no "collect every error" mode.
fn type_problems(text: &str) -> Vec<(Range<usize>, String)> {
    let Ok(root) = DeTable::parse(text) else {
        return Vec::new();
    };
    let span = root.span();
    let mut out = Vec::new();
    for (key, value) in root.get_ref().iter() {
        for part in parts(value) {
            let mut alone = DeTable::new();
            alone.insert(key.clone(), part);
            let de = toml::de::Deserializer::from(Spanned::new(span.clone(), alone));
            if let Err(e) = RawPolicy::deserialize(de) {
                let problem = (e.span().unwrap_or(0..0), e.message().trim_end().to_string());
                if !out.contains(&problem) {
                    out.push(problem);
                }
            }
        }
    }
    out
}

/// A section's parts: its entries (a table) or elements (an array), each
/// as a section of its own; any other value is one part.
fn parts<'i>(value: &Spanned<DeValue<'i>>) -> Vec<Spanned<DeValue<'i>>> {
    match value.get_ref() {
        DeValue::Table(t) => t
            .iter()
            .map(|(k, v)| {
                let mut one = DeTable::new();
                one.insert(k.clone(), v.clone());
                Spanned::new(value.span(), DeValue::Table(one))
            })
            .collect(),
        DeValue::Array(a) => a
            .iter()
            .map(|v| {
                let mut one = DeArray::new();
                one.push(v.clone());
                Spanned::new(value.span(), DeValue::Array(one))
            })
            .collect(),
        _ => vec![value.clone()],
    }
}

struct Validator<'a> {
    text: &'a str,
    problems: Vec<Problem>,
}

fn known(names: impl Iterator<Item = impl AsRef<str>>) -> String {
    let v: Vec<String> = names.map(|n| n.as_ref().to_string()).collect();
    if v.is_empty() {
        "none defined".into()
    } else {
        v.join(", ")
    }
}

impl Validator<'_> {
    fn problem(&mut self, span: Range<usize>, message: String) {
        let start = span.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..start].chars().count() + 1;
        let text = self.text[line_start..]
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        self.problems.push(Problem {
            line,
            column,
            message,
            text,
        });
    }

    fn into_error(mut self, path: &str) -> PolicyError {
        self.problems.sort_by_key(|p| (p.line, p.column));
        PolicyError {
            path: path.to_string(),
            problems: self.problems,
        }
    }

    /// A non-empty list, or a problem.
    fn nonempty<'l>(&mut self, list: &'l SList, what: &str) -> &'l [Spanned<String>] {
        if list.get_ref().is_empty() {
            self.problem(list.span(), format!("{what} is an empty list"));
        }
        list.get_ref()
    }

    fn build(&mut self, raw: RawPolicy) -> Policy {
        let mapped: BTreeSet<&str> = raw
            .interfaces
            .values()
            .chain(raw.vlans.values())
            .map(|n| n.get_ref().as_str())
            .collect();
        let networks = self.networks(&raw.networks, &mapped);
        let net_ids: BTreeMap<&str, NetId> = networks
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), NetId(i as u16)))
            .collect();
        let host_names: Vec<&str> = raw.hosts.keys().map(|h| h.get_ref().as_str()).collect();
        let interfaces = self.interfaces(&raw.interfaces, &net_ids, &host_names);
        let hosts = self.hosts(&raw.hosts);
        let roles = raw
            .roles
            .as_ref()
            .map(|r| self.roles(r, &hosts))
            .unwrap_or_default();
        let rule_classes: BTreeSet<&str> = raw
            .rules
            .iter()
            .map(|r| r.get_ref().class.get_ref().as_str())
            .collect();
        let mut classes = self.classes(&raw.classes, &net_ids, &rule_classes);
        let mut class_names: Vec<String> = BUILTIN_CLASSES.iter().map(|s| s.to_string()).collect();
        for c in &classes {
            if !class_names.contains(&c.name) {
                class_names.push(c.name.clone());
            }
        }
        let mut rules = Vec::new();
        let mut rule_class = Vec::new();
        let role_addrs = roles_by_name(&raw, &hosts);
        for (i, r) in raw.rules.iter().enumerate() {
            let ctx = RuleCtx {
                hosts: &hosts,
                roles: &role_addrs,
                nets: &net_ids,
            };
            if let Some(rule) = self.rule(i + 1, r, &ctx, &mut classes, &mut class_names) {
                rule_class.push(r.get_ref().class.get_ref().trim().to_string());
                rules.push(rule);
            }
        }
        let vlans = self.vlans(&raw.vlans, &net_ids);
        let retired = raw
            .retired
            .as_ref()
            .map(|l| self.net_list(l, "retired", &net_ids))
            .unwrap_or_default();
        let dns = raw
            .dns
            .iter()
            .enumerate()
            .filter_map(|(i, d)| self.dns_rule(i + 1, d, &net_ids))
            .collect();
        let mut policy = Policy::new(networks, interfaces, hosts, roles, classes, rules);
        policy.vlans = vlans;
        policy.retired = retired;
        policy.dns = dns;
        // Class ids exist only once the policy has ordered its classes.
        for (rule, name) in policy.rules.iter_mut().zip(&rule_class) {
            rule.class = policy
                .classes
                .iter()
                .position(|c| &c.name == name)
                .map_or(rule.class, |i| ClassId(i as u16));
        }
        policy
    }

    /// `[networks]`. An empty list is allowed only for a network that a NIC
    /// or a VLAN maps to (a site told apart by its VLAN, addresses kept):
    /// `mapped` names those.
    fn networks(
        &mut self,
        raw: &BTreeMap<Spanned<String>, SList>,
        mapped: &BTreeSet<&str>,
    ) -> Vec<Network> {
        let mut out = Vec::new();
        let mut seen: BTreeMap<IpNet, String> = BTreeMap::new();
        // File order, so a duplicate is reported where it is repeated.
        let mut entries: Vec<_> = raw.iter().collect();
        entries.sort_by_key(|(name, _)| name.span().start);
        for (name, list) in entries {
            if name.get_ref() == "unknown" {
                self.problem(
                    name.span(),
                    "\"unknown\" is reserved for addresses outside every network".into(),
                );
            }
            let mut prefixes = Vec::new();
            if list.get_ref().is_empty() && !mapped.contains(name.get_ref().as_str()) {
                self.problem(
                    list.span(),
                    format!(
                        "network {} is an empty list (allowed only for a network an [interfaces] or [vlans] entry maps to)",
                        name.get_ref()
                    ),
                );
            }
            for p in list.get_ref() {
                if self.gap(name.get_ref(), p) {
                    continue;
                }
                let Some(net) = self.prefix(p) else { continue };
                if let Some(other) = seen.get(&net) {
                    let msg = if other == name.get_ref() {
                        format!("prefix {net} is listed twice in network {other}")
                    } else {
                        format!("prefix {net} is already in network {other}: a prefix belongs to one network")
                    };
                    self.problem(p.span(), msg);
                    continue;
                }
                seen.insert(net, name.get_ref().clone());
                prefixes.push(net);
            }
            out.push(Network {
                name: name.get_ref().clone(),
                prefixes,
            });
        }
        out
    }

    /// A prefix `policy derive` left as a gap: a problem naming the network.
    fn gap(&mut self, network: &str, p: &Spanned<String>) -> bool {
        if p.get_ref() != PREFIX_GAP {
            return false;
        }
        self.problem(
            p.span(),
            format!("network {network:?} has no prefix yet: policy derive left this gap; derive again with --address \"{network}=PREFIX\", or write the prefix here"),
        );
        true
    }

    /// A CIDR prefix (a bare address is a host prefix).
    fn prefix(&mut self, p: &Spanned<String>) -> Option<IpNet> {
        let s = p.get_ref().trim();
        if let Ok(addr) = s.parse::<IpAddr>() {
            return Some(IpNet::from(addr));
        }
        match s.parse::<IpNet>() {
            Ok(net) if net.trunc() != net => {
                self.problem(
                    p.span(),
                    format!(
                        "prefix {s} has host bits set (did you mean {}?)",
                        net.trunc()
                    ),
                );
                None
            }
            Ok(net) => Some(net),
            Err(_) => {
                self.problem(p.span(), format!("{s:?} is not an IPv4/IPv6 prefix (like \"192.168.1.0/24\" or \"fd00:b::/64\")"));
                None
            }
        }
    }

    fn interfaces(
        &mut self,
        raw: &BTreeMap<Spanned<String>, Spanned<String>>,
        nets: &BTreeMap<&str, NetId>,
        hosts: &[&str],
    ) -> BTreeMap<String, NetId> {
        let mut out = BTreeMap::new();
        let mut seen: Vec<((Option<String>, NicKey), &str)> = Vec::new();
        // In file order, so a key naming an interface again is the later one.
        let mut in_order: Vec<_> = raw.iter().collect();
        in_order.sort_by_key(|(k, _)| k.span().start);
        for (iface, net) in in_order {
            let Some((host, name)) = self.host_key(iface, hosts) else {
                continue;
            };
            let Some(name) = self.interface_name(iface, &name) else {
                continue;
            };
            let key = match NicKey::parse(&name) {
                Ok(k) => (host.clone(), k),
                Err(why) => {
                    self.problem(iface.span(), why);
                    continue;
                }
            };
            // A GUID, index or MAC written twice (another case, with or
            // without `\Device\NPF_`) names one interface twice.
            if let Some((_, first)) = seen
                .iter()
                .find(|(k, _)| *k == key && !matches!(k.1, NicKey::Name(_)))
            {
                self.problem(
                    iface.span(),
                    format!(
                        "{:?} names the same interface as {first:?}",
                        iface.get_ref()
                    ),
                );
                continue;
            }
            seen.push((key, iface.get_ref()));
            if let Some(id) = self.network_named(net, nets) {
                // As written (an ERSPAN session normalised).
                let written = match analyzer::policy::split_host(iface.get_ref()) {
                    Some((h, _)) if host.is_some() => format!("{h}/{name}"),
                    _ => name,
                };
                out.insert(written, id);
            }
        }
        out
    }

    /// An `[interfaces]` key split into its host and the rest: `HOST/KEY`
    /// names interface KEY on the `[hosts]` entry HOST (any case; the host
    /// returned as `[hosts]` spells it), any other key every capture's.
    fn host_key(
        &mut self,
        key: &Spanned<String>,
        hosts: &[&str],
    ) -> Option<(Option<String>, String)> {
        let k = key.get_ref();
        let Some((host, rest)) = analyzer::policy::split_host(k) else {
            return Some((None, k.clone()));
        };
        let found = hosts
            .iter()
            .find(|h| **h == host)
            .or_else(|| hosts.iter().find(|h| h.eq_ignore_ascii_case(host)));
        match found {
            Some(h) if !rest.is_empty() => Some((Some(h.to_string()), rest.to_string())),
            Some(_) => {
                self.problem(
                    key.span(),
                    format!("{k:?} names no interface after its host (HOST/KEY)"),
                );
                None
            }
            None => {
                self.problem(
                    key.span(),
                    format!(
                        "unknown host {host:?} in {k:?}: a key HOST/KEY names interface KEY on the [hosts] entry HOST (hosts: {})",
                        known(hosts.iter())
                    ),
                );
                None
            }
        }
    }

    /// An `[interfaces]` key (`k`, without its host) as flows name
    /// interfaces: `erspan:N` names an ERSPAN session (10 bits: 0-1023)
    /// and is written without leading zeros; any other key is a capture
    /// interface name as given.
    fn interface_name(&mut self, key: &Spanned<String>, k: &str) -> Option<String> {
        let Some(session) = k.strip_prefix("erspan:") else {
            return Some(k.to_string());
        };
        match session.parse::<u16>() {
            Ok(n) if n <= 1023 => Some(format!("erspan:{n}")),
            _ => {
                self.problem(
                    key.span(),
                    format!("{k:?} is not an ERSPAN session (erspan:0 to erspan:1023)"),
                );
                None
            }
        }
    }

    /// The network `net` names, or a located problem.
    fn network_named(
        &mut self,
        net: &Spanned<String>,
        nets: &BTreeMap<&str, NetId>,
    ) -> Option<NetId> {
        let id = nets.get(net.get_ref().as_str()).copied();
        if id.is_none() {
            self.problem(
                net.span(),
                format!(
                    "unknown network {:?} (networks: {})",
                    net.get_ref(),
                    known(nets.keys())
                ),
            );
        }
        id
    }

    /// `[vlans]`: 802.1Q id (1–4094) → network.
    fn vlans(
        &mut self,
        raw: &BTreeMap<Spanned<String>, Spanned<String>>,
        nets: &BTreeMap<&str, NetId>,
    ) -> BTreeMap<u16, NetId> {
        let mut out = BTreeMap::new();
        for (id, net) in raw {
            let vlan = match id.get_ref().trim().parse::<u16>() {
                Ok(v) if (1..=4094).contains(&v) => v,
                _ => {
                    self.problem(
                        id.span(),
                        format!("{:?} is not a VLAN id (1-4094)", id.get_ref()),
                    );
                    continue;
                }
            };
            if let Some(n) = self.network_named(net, nets) {
                out.insert(vlan, n);
            }
        }
        out
    }

    /// One `[[dns]]` rule: names, and at least one condition.
    fn dns_rule(
        &mut self,
        index: usize,
        raw: &Spanned<RawDns>,
        nets: &BTreeMap<&str, NetId>,
    ) -> Option<analyzer::policy::DnsRule> {
        let r = raw.get_ref();
        let mut names = Vec::new();
        for n in self.nonempty(&r.names, "dns names") {
            match analyzer::policy::NamePattern::parse(n.get_ref()) {
                Some(p) => names.push(p),
                None => self.problem(
                    n.span(),
                    format!(
                        "{:?} is not a DNS name or a \"*.suffix\" pattern",
                        n.get_ref()
                    ),
                ),
            }
        }
        let list = |v: &mut Self, l: &Option<SList>, what: &str| {
            l.as_ref()
                .map(|l| v.net_list(l, what, nets))
                .unwrap_or_default()
        };
        let must_include = list(self, &r.must_include, "dns must_include");
        let all_in = list(self, &r.all_in, "dns all_in");
        let max_ttl =
            r.max_ttl
                .as_ref()
                .and_then(|t| match crate::duration::parse_duration(t.get_ref()) {
                    Ok(d) => Some(u32::try_from(d.as_secs()).unwrap_or(u32::MAX)),
                    Err(e) => {
                        self.problem(t.span(), format!("max_ttl: {e}"));
                        None
                    }
                });
        if r.must_include.is_none() && r.all_in.is_none() && r.max_ttl.is_none() {
            self.problem(
                raw.span(),
                format!("dns rule {index} checks nothing (give must_include, all_in or max_ttl)"),
            );
        }
        Some(analyzer::policy::DnsRule {
            index,
            names,
            must_include,
            all_in,
            max_ttl,
        })
    }

    fn hosts(&mut self, raw: &BTreeMap<Spanned<String>, SList>) -> BTreeMap<String, Vec<IpAddr>> {
        let mut out = BTreeMap::new();
        for (name, list) in raw {
            let mut addrs = Vec::new();
            for a in self.nonempty(list, &format!("host {}", name.get_ref())) {
                match a.get_ref().trim().parse::<IpAddr>() {
                    Ok(ip) => addrs.push(ip),
                    Err(_) => {
                        self.problem(a.span(), format!("{:?} is not an IP address", a.get_ref()))
                    }
                }
            }
            out.insert(name.get_ref().clone(), addrs);
        }
        out
    }

    /// Host names or literal addresses → addresses.
    fn resolve_hosts(
        &mut self,
        list: &SList,
        what: &str,
        hosts: &BTreeMap<String, Vec<IpAddr>>,
    ) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for h in self.nonempty(list, what) {
            if let Some(addrs) = hosts.get(h.get_ref()) {
                out.extend(addrs);
            } else if let Ok(ip) = h.get_ref().parse::<IpAddr>() {
                out.push(ip);
            } else {
                self.problem(
                    h.span(),
                    format!(
                        "unknown host {:?} (hosts: {})",
                        h.get_ref(),
                        known(hosts.keys())
                    ),
                );
            }
        }
        out
    }

    fn roles(&mut self, raw: &RawRoles, hosts: &BTreeMap<String, Vec<IpAddr>>) -> Roles {
        let mut get = |l: &Option<SList>, what: &str| {
            l.as_ref()
                .map(|l| self.resolve_hosts(l, what, hosts))
                .unwrap_or_default()
        };
        Roles {
            dpm_servers: get(&raw.dpm_servers, "roles.dpm_servers"),
            cluster_nodes: get(&raw.cluster_nodes, "roles.cluster_nodes"),
            replica_servers: get(&raw.replica_servers, "roles.replica_servers"),
        }
    }

    fn net_list(&mut self, list: &SList, what: &str, nets: &BTreeMap<&str, NetId>) -> Vec<NetId> {
        let mut out = Vec::new();
        for n in self.nonempty(list, what) {
            match nets.get(n.get_ref().as_str()) {
                Some(id) if out.contains(id) => {
                    self.problem(n.span(), format!("network {} is listed twice", n.get_ref()))
                }
                Some(id) => out.push(*id),
                None => self.problem(
                    n.span(),
                    format!(
                        "unknown network {:?} (networks: {})",
                        n.get_ref(),
                        known(nets.keys())
                    ),
                ),
            }
        }
        out
    }

    fn on_fallback(&mut self, v: &Option<Spanned<String>>) -> OnFallback {
        match v.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
            None | Some(("warn", _)) => OnFallback::Warn,
            Some(("fail", _)) => OnFallback::Fail,
            Some(("allow", _)) => OnFallback::Allow,
            Some((other, span)) => {
                self.problem(
                    span,
                    format!("on_fallback must be \"warn\", \"fail\" or \"allow\", not {other:?}"),
                );
                OnFallback::Warn
            }
        }
    }

    fn classes(
        &mut self,
        raw: &BTreeMap<Spanned<String>, Spanned<RawClass>>,
        nets: &BTreeMap<&str, NetId>,
        rule_classes: &BTreeSet<&str>,
    ) -> Vec<ClassPolicy> {
        let mut out = Vec::new();
        for (name, class) in raw {
            let n = name.get_ref().as_str();
            if !BUILTIN_CLASSES.contains(&n) && !rule_classes.contains(n) {
                self.problem(
                    name.span(),
                    format!(
                        "unknown class {n:?} (built-in: {}; or define it with a [[rules]] entry)",
                        BUILTIN_CLASSES.join(", ")
                    ),
                );
                continue;
            }
            let c = class.get_ref();
            // `networks = []` is the one empty list allowed: the class may
            // travel nowhere (policy derive writes it for a class whose rule
            // chose no network; omitting the class would allow it anywhere).
            let networks = c.networks.as_ref().map(|l| match l.get_ref().is_empty() {
                true => Vec::new(),
                false => self.net_list(l, &format!("classes.{n}.networks"), nets),
            });
            let on_fallback = self.on_fallback(&c.on_fallback);
            out.push(ClassPolicy {
                name: n.to_string(),
                networks,
                on_fallback,
            });
        }
        out
    }

    fn rule(
        &mut self,
        index: usize,
        raw: &Spanned<RawRule>,
        ctx: &RuleCtx<'_>,
        classes: &mut Vec<ClassPolicy>,
        class_names: &mut Vec<String>,
    ) -> Option<Rule> {
        let nets = ctx.nets;
        let r = raw.get_ref();
        let class_name = r.class.get_ref().trim();
        if class_name.is_empty() {
            self.problem(r.class.span(), "rule class is empty".into());
            return None;
        }
        let proto = self.rule_proto(r);
        let ports = r.ports.as_ref().map(|p| self.ports(p)).unwrap_or_default();
        let addrs = r
            .hosts
            .as_ref()
            .map(|list| self.rule_hosts(list, ctx))
            .unwrap_or_default();
        let side = self.rule_side(r);
        let evidence = self.evidence_keys(r);
        let any_proto = r.proto.as_ref().is_none_or(|p| p.get_ref() == "any");
        let keyed = r.smb_share.is_some() || r.smb_server.is_some() || r.rpc_interface.is_some();
        if any_proto && r.ports.is_none() && r.hosts.is_none() && !keyed {
            self.problem(raw.span(), format!("rule {index} names nothing (give proto, ports, hosts or an evidence key): it would match every flow"));
        }
        self.rule_class(r, class_name, nets, classes, class_names);
        // Fixed up once the policy has ordered its classes (see `build`).
        let class = ClassId(0);
        let description = describe_rule(r, &ports, side);
        Some(Rule {
            index,
            class,
            proto,
            ports,
            hosts: addrs,
            side,
            description,
            smb_share: evidence.0,
            smb_server: evidence.1,
            rpc_interface: evidence.2,
        })
    }

    /// A rule's `proto`: an IP protocol number, or None for any.
    fn rule_proto(&mut self, r: &RawRule) -> Option<u8> {
        match r.proto.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
            None | Some(("any", _)) => None,
            Some(("tcp", _)) => Some(6),
            Some(("udp", _)) => Some(17),
            Some(("sctp", _)) => Some(132),
            Some((other, span)) => {
                self.problem(
                    span,
                    format!("proto must be \"tcp\", \"udp\", \"sctp\" or \"any\", not {other:?}"),
                );
                None
            }
        }
    }

    /// A rule's `hosts`: host and role names, prefixes and addresses.
    fn rule_hosts(
        &mut self,
        list: &Spanned<Vec<Spanned<String>>>,
        ctx: &RuleCtx<'_>,
    ) -> Vec<IpNet> {
        let (hosts, roles) = (ctx.hosts, ctx.roles);
        let mut addrs = Vec::new();
        for h in self.nonempty(list, "rule hosts") {
            let s = h.get_ref().as_str();
            if let Some(a) = hosts.get(s).or_else(|| roles.get(s)) {
                addrs.extend(a.iter().map(|ip| IpNet::from(*ip)));
            } else if let Ok(net) = s.parse::<IpNet>() {
                addrs.push(net);
            } else if let Ok(ip) = s.parse::<IpAddr>() {
                addrs.push(IpNet::from(ip));
            } else {
                self.problem(
                    h.span(),
                    format!("unknown host or role {s:?} (hosts: {}; roles: dpm_servers, cluster_nodes, replica_servers)", known(hosts.keys())),
                );
            }
        }
        if addrs.is_empty() && !list.get_ref().is_empty() {
            // An empty role would otherwise read as "any host".
            self.problem(
                list.span(),
                "rule hosts resolve to no address (an empty role?)".into(),
            );
        }
        addrs
    }

    /// A rule's `side`.
    fn rule_side(&mut self, r: &RawRule) -> Side {
        match r.side.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
            None | Some(("any", _)) => Side::Any,
            Some(("server", _)) => Side::Server,
            Some((other, span)) => {
                self.problem(
                    span,
                    format!("side must be \"any\" or \"server\", not {other:?}"),
                );
                Side::Any
            }
        }
    }

    /// Registers a rule's class (and its `networks`, if the rule gives them).
    fn rule_class(
        &mut self,
        r: &RawRule,
        class_name: &str,
        nets: &BTreeMap<&str, NetId>,
        classes: &mut Vec<ClassPolicy>,
        class_names: &mut Vec<String>,
    ) {
        if let Some(list) = &r.networks {
            let ids = self.net_list(list, "rule networks", nets);
            match classes.iter_mut().find(|c| c.name == class_name) {
                Some(c) if c.networks.is_some() => self.problem(
                    list.span(),
                    format!("class {class_name} already has networks in [classes.{class_name}]"),
                ),
                Some(c) => c.networks = Some(ids),
                None => classes.push(ClassPolicy {
                    name: class_name.to_string(),
                    networks: Some(ids),
                    on_fallback: OnFallback::Warn,
                }),
            }
        }
        if !class_names.iter().any(|c| c == class_name) {
            class_names.push(class_name.to_string());
        }
        // Ids are assigned by Policy::new: built-ins first, then classes in
        // order; a rule's class must exist there, so register it.
        if !BUILTIN_CLASSES.contains(&class_name) && !classes.iter().any(|c| c.name == class_name) {
            classes.push(ClassPolicy {
                name: class_name.to_string(),
                networks: None,
                on_fallback: OnFallback::Warn,
            });
        }
    }

    /// A case-insensitive glob (`*$`, `VMMigration*`).
    fn glob(&mut self, v: &Option<Spanned<String>>, key: &str) -> Option<glob::Pattern> {
        let v = v.as_ref()?;
        let text = v.get_ref().trim();
        if text.is_empty() {
            self.problem(v.span(), format!("{key} is empty"));
            return None;
        }
        match glob::Pattern::new(text) {
            Ok(p) => Some(p),
            Err(e) => {
                self.problem(
                    v.span(),
                    format!("{key} {text:?} is not a glob pattern: {}", e.msg),
                );
                None
            }
        }
    }

    /// The evidence keys of a rule: `smb_share`, `smb_server`, `rpc_interface`.
    fn evidence_keys(
        &mut self,
        r: &RawRule,
    ) -> (Option<glob::Pattern>, Option<glob::Pattern>, Option<Uuid>) {
        let share = self.glob(&r.smb_share, "smb_share");
        let server = self.glob(&r.smb_server, "smb_server");
        let iface = r.rpc_interface.as_ref().and_then(|v| {
            match Uuid::try_parse(v.get_ref().trim().trim_matches(|c| c == '{' || c == '}')) {
                Ok(u) => Some(u),
                Err(_) => {
                    self.problem(
                        v.span(),
                        format!("rpc_interface {:?} is not a UUID (like \"e1af8308-5d1f-11c9-91a4-08002b14a0fa\")", v.get_ref()),
                    );
                    None
                }
            }
        });
        (share, server, iface)
    }

    fn ports(&mut self, list: &Spanned<Vec<Spanned<RawPort>>>) -> Vec<(u16, u16)> {
        if list.get_ref().is_empty() {
            self.problem(list.span(), "rule ports is an empty list".into());
        }
        let mut out = Vec::new();
        for p in list.get_ref() {
            let parsed = match p.get_ref() {
                RawPort::Number(n) => u16::try_from(*n).ok().map(|n| (n, n)),
                RawPort::Range(s) => s
                    .split_once('-')
                    .and_then(|(a, b)| {
                        let (a, b) = (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?);
                        (a <= b).then_some((a, b))
                    })
                    .or_else(|| s.trim().parse::<u16>().ok().map(|n| (n, n))),
            };
            match parsed {
                Some(r) => out.push(r),
                None => self.problem(
                    p.span(),
                    "a port is a number 0-65535 or a range \"low-high\" with low <= high".into(),
                ),
            }
        }
        out
    }
}

/// A rule as reasons show it: `tcp port 445 smb_share VMMigration*`.
fn describe_rule(r: &RawRule, ports: &[(u16, u16)], side: Side) -> String {
    let mut desc = Vec::new();
    desc.push(
        r.proto
            .as_ref()
            .map_or("any".to_string(), |p| p.get_ref().clone()),
    );
    if !ports.is_empty() {
        let p: Vec<String> = ports
            .iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        desc.push(format!("port {}", p.join(",")));
    }
    if let Some(list) = &r.hosts {
        let h: Vec<&str> = list
            .get_ref()
            .iter()
            .map(|s| s.get_ref().as_str())
            .collect();
        desc.push(format!("hosts {}", h.join(",")));
    }
    if side == Side::Server {
        desc.push("server side".into());
    }
    for (key, v) in [
        ("smb_share", &r.smb_share),
        ("smb_server", &r.smb_server),
        ("rpc_interface", &r.rpc_interface),
    ] {
        if let Some(v) = v {
            desc.push(format!("{key} {}", v.get_ref()));
        }
    }
    desc.join(" ")
}

/// What a rule may refer to.
struct RuleCtx<'a> {
    hosts: &'a BTreeMap<String, Vec<IpAddr>>,
    roles: &'a BTreeMap<&'static str, Vec<IpAddr>>,
    nets: &'a BTreeMap<&'a str, NetId>,
}

fn roles_by_name(
    raw: &RawPolicy,
    hosts: &BTreeMap<String, Vec<IpAddr>>,
) -> BTreeMap<&'static str, Vec<IpAddr>> {
    let mut out = BTreeMap::new();
    let Some(r) = &raw.roles else { return out };
    let resolve = |l: &Option<SList>| -> Vec<IpAddr> {
        l.as_ref()
            .map(|l| {
                l.get_ref()
                    .iter()
                    .flat_map(|h| {
                        hosts
                            .get(h.get_ref())
                            .cloned()
                            .or_else(|| h.get_ref().parse().ok().map(|ip| vec![ip]))
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    out.insert("dpm_servers", resolve(&r.dpm_servers));
    out.insert("cluster_nodes", resolve(&r.cluster_nodes));
    out.insert("replica_servers", resolve(&r.replica_servers));
    out
}
