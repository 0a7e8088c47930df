//! DNS answer rules: what names must resolve to (seed 000: each DPM host
//! must resolve the other's backup address; seed 002: after a failover with
//! changed addresses, every answer is a recovery-subnet address, with a low
//! TTL). Checked on every DNS answer seen; CNAME chains are followed from
//! the query name to its addresses.

use std::net::IpAddr;

use super::{NetId, Policy};
use crate::evidence::DnsAnswer;

/// A name a rule covers: exact, or every name under a suffix (`*.apps.contoso.com`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamePattern {
    /// This name (lower case, no trailing dot).
    Exact(String),
    /// Any name ending in this (`.apps.contoso.com`, lower case).
    Suffix(String),
}

impl NamePattern {
    /// Parses `name` or `*.suffix` (case-insensitive; a trailing dot is ignored).
    pub fn parse(text: &str) -> Option<NamePattern> {
        let t = text.trim().trim_end_matches('.').to_ascii_lowercase();
        let valid = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
        };
        match t.strip_prefix("*.") {
            Some(rest) if valid(rest) => Some(NamePattern::Suffix(format!(".{rest}"))),
            Some(_) => None,
            None if valid(&t) => Some(NamePattern::Exact(t)),
            None => None,
        }
    }

    /// Whether it covers `name` (lower case).
    pub fn matches(&self, name: &str) -> bool {
        match self {
            NamePattern::Exact(n) => n == name,
            NamePattern::Suffix(s) => name.len() > s.len() && name.ends_with(s.as_str()),
        }
    }

    /// As written in the policy.
    pub fn text(&self) -> String {
        match self {
            NamePattern::Exact(n) => n.clone(),
            NamePattern::Suffix(s) => format!("*{s}"),
        }
    }
}

/// One `[[dns]]` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsRule {
    /// 1-based position in the file.
    pub index: usize,
    /// The names it covers.
    pub names: Vec<NamePattern>,
    /// At least one address must be on one of these networks.
    pub must_include: Vec<NetId>,
    /// Every address must be on one of these networks.
    pub all_in: Vec<NetId>,
    /// No record of the chain may live longer (seconds).
    pub max_ttl: Option<u32>,
}

impl DnsRule {
    /// Whether the rule covers `name`.
    pub fn covers(&self, name: &str) -> bool {
        self.names.iter().any(|p| p.matches(name))
    }
}

/// A broken rule for one answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsFinding {
    /// The rule's 1-based index.
    pub rule: usize,
    /// Every condition broken, each sentence naming it.
    pub reason: String,
}

impl Policy {
    /// Checks one DNS answer against every rule covering its query name.
    pub fn check_dns(&self, a: &DnsAnswer) -> Vec<DnsFinding> {
        let Some((qname, _)) = &a.query else {
            return Vec::new();
        };
        let (addrs, chain) = a.resolve();
        self.dns
            .iter()
            .filter(|r| r.covers(qname))
            .filter_map(|r| {
                let why = self.broken(r, &addrs, &chain);
                (!why.is_empty()).then(|| DnsFinding {
                    rule: r.index,
                    reason: why.join("; "),
                })
            })
            .collect()
    }

    fn net_names(&self, nets: &[NetId]) -> String {
        nets.iter()
            .map(|n| self.network_name(*n))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn placed(&self, ip: IpAddr) -> String {
        let net = self
            .network_of(ip)
            .map_or("unknown", |n| self.network_name(n));
        format!("{ip} ({net})")
    }

    /// The conditions of `r` the answer breaks, one sentence each.
    fn broken(&self, r: &DnsRule, addrs: &[(IpAddr, u32)], chain: &[(String, u32)]) -> Vec<String> {
        let mut why = Vec::new();
        let on =
            |ip: IpAddr, nets: &[NetId]| self.network_of(ip).is_some_and(|n| nets.contains(&n));
        if !r.must_include.is_empty() && !addrs.iter().any(|(ip, _)| on(*ip, &r.must_include)) {
            let got: Vec<String> = addrs.iter().map(|(ip, _)| self.placed(*ip)).collect();
            why.push(format!(
                "must_include: no address on {} (answered {})",
                self.net_names(&r.must_include),
                if got.is_empty() {
                    "none".into()
                } else {
                    got.join(", ")
                }
            ));
        }
        if !r.all_in.is_empty() {
            let outside: Vec<String> = addrs
                .iter()
                .filter(|(ip, _)| !on(*ip, &r.all_in))
                .map(|(ip, _)| self.placed(*ip))
                .collect();
            if !outside.is_empty() {
                why.push(format!(
                    "all_in: {} not on {}",
                    outside.join(", "),
                    self.net_names(&r.all_in)
                ));
            }
        }
        if let Some(max) = r.max_ttl {
            let long: Vec<String> = chain
                .iter()
                .map(|(n, t)| (n.clone(), *t))
                .chain(addrs.iter().map(|(ip, t)| (ip.to_string(), *t)))
                .filter(|(_, t)| *t > max)
                .map(|(n, t)| format!("{n} has TTL {t} s"))
                .collect();
            if !long.is_empty() {
                why.push(format!("max_ttl: {} (limit {max} s)", long.join(", ")));
            }
        }
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{DnsRecord, RecordData};
    use crate::policy::{Network, Roles};
    use std::collections::BTreeMap;

    fn policy(rules: Vec<DnsRule>) -> Policy {
        let net = |n: &str, p: &str| Network {
            name: n.into(),
            prefixes: vec![p.parse().unwrap()],
        };
        let mut p = Policy::new(
            vec![
                net("primary", "192.168.1.0/24"),
                net("recovery", "172.16.1.0/24"),
            ],
            BTreeMap::new(),
            BTreeMap::new(),
            Roles::default(),
            vec![],
            vec![],
        );
        p.dns = rules;
        p
    }

    fn rec(name: &str, ttl: u32, data: RecordData) -> DnsRecord {
        DnsRecord {
            name: name.into(),
            rtype: 1,
            ttl,
            data,
        }
    }

    fn answer(q: &str, records: Vec<DnsRecord>) -> DnsAnswer {
        DnsAnswer {
            id: 1,
            rcode: 0,
            query: Some((q.into(), 1)),
            records,
        }
    }

    #[test]
    fn names_cnames_and_conditions() {
        let rule = DnsRule {
            index: 1,
            names: vec![NamePattern::parse("*.Apps.contoso.com.").unwrap()],
            must_include: vec![],
            all_in: vec![NetId(1)],
            max_ttl: Some(300),
        };
        assert!(rule.covers("app1.apps.contoso.com") && !rule.covers("apps.contoso.com"));
        let p = policy(vec![rule]);
        let good = answer(
            "app1.apps.contoso.com",
            vec![
                rec(
                    "app1.apps.contoso.com",
                    60,
                    RecordData::Cname("app1.recovery.contoso.com".into()),
                ),
                rec(
                    "app1.recovery.contoso.com",
                    300,
                    RecordData::A("172.16.1.10".parse().unwrap()),
                ),
            ],
        );
        assert_eq!(p.check_dns(&good), vec![]);
        let bad = answer(
            "app2.apps.contoso.com",
            vec![
                rec(
                    "app2.apps.contoso.com",
                    3600,
                    RecordData::A("192.168.1.11".parse().unwrap()),
                ),
                // Not in the chain of the query name: ignored.
                rec(
                    "other.example",
                    1,
                    RecordData::A("10.0.0.1".parse().unwrap()),
                ),
            ],
        );
        assert_eq!(
            p.check_dns(&bad),
            vec![DnsFinding {
                rule: 1,
                reason: "all_in: 192.168.1.11 (primary) not on recovery; max_ttl: 192.168.1.11 has TTL 3600 s (limit 300 s)".into()
            }]
        );
        assert_eq!(NamePattern::parse("*."), None);
        assert_eq!(NamePattern::parse("a..b"), None);
    }

    #[test]
    fn must_include_and_an_empty_answer() {
        let p = policy(vec![DnsRule {
            index: 2,
            names: vec![NamePattern::parse("ps.x.y.com").unwrap()],
            must_include: vec![NetId(1)],
            all_in: vec![],
            max_ttl: None,
        }]);
        let nx = DnsAnswer {
            rcode: 3,
            ..answer("ps.x.y.com", vec![])
        };
        assert_eq!(
            p.check_dns(&nx)[0].reason,
            "must_include: no address on recovery (answered none)"
        );
    }
}
