//! DNS answer rules: what names must resolve to (seed 000: each DPM host
//! must resolve the other's backup address; seed 002: after a failover with
//! changed addresses, every answer is a recovery-subnet address, with a low
//! TTL). Checked on every DNS answer seen; CNAME chains are followed from
//! the query name to its addresses.

use std::net::IpAddr;

use super::{NetId, Policy};
use crate::evidence::dns::Families;
use crate::evidence::{DnsAnswer, Resolved};

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
    /// A truncated answer (TC=1) is not judged: the client asks again over
    /// TCP (RFC 7766 §5), and that answer is. `must_include` and `all_in`
    /// judge an answer only for the address families it speaks for
    /// ([`DnsAnswer::families`]) that their networks have prefixes of: an
    /// AAAA answer says nothing about an IPv4-only network.
    pub fn check_dns(&self, a: &DnsAnswer) -> Vec<DnsFinding> {
        let Some((qname, _)) = &a.query else {
            return Vec::new();
        };
        if a.truncated {
            return Vec::new();
        }
        let resolved = a.resolve();
        self.dns
            .iter()
            .filter(|r| r.covers(qname))
            .filter_map(|r| {
                let why = self.broken(r, a.families(), &resolved);
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

    /// The address families of `nets`' prefixes; both for networks with no
    /// prefix at all (a network told apart by its NIC or VLAN only): no
    /// address is on them, so every answer breaks a condition on them alone.
    pub fn families_of(&self, nets: &[NetId]) -> Families {
        let prefixes = nets
            .iter()
            .filter_map(|n| self.networks.get(usize::from(n.0)))
            .flat_map(|n| &n.prefixes);
        match Families::of_prefixes(prefixes) {
            f if f.any() => f,
            _ => Families::ALL,
        }
    }

    fn on(&self, ip: IpAddr, nets: &[NetId]) -> bool {
        self.network_of(ip).is_some_and(|n| nets.contains(&n))
    }

    /// The conditions of `r` an answer speaking for `families` and
    /// resolving to `resolved` breaks, one sentence each.
    fn broken(&self, r: &DnsRule, families: Families, resolved: &Resolved) -> Vec<String> {
        let (addrs, chain) = resolved;
        [
            self.must_include_broken(r, families, addrs),
            self.all_in_broken(r, families, addrs),
            ttl_broken(r, addrs, chain),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// `must_include`: one address of the families judged on its networks.
    fn must_include_broken(
        &self,
        r: &DnsRule,
        families: Families,
        addrs: &[(IpAddr, u32)],
    ) -> Option<String> {
        let judged = families.and(self.families_of(&r.must_include));
        if r.must_include.is_empty() || !judged.any() {
            return None;
        }
        let got: Vec<IpAddr> = addrs
            .iter()
            .map(|(ip, _)| *ip)
            .filter(|ip| judged.holds(*ip))
            .collect();
        if got.iter().any(|ip| self.on(*ip, &r.must_include)) {
            return None;
        }
        let got: Vec<String> = got.into_iter().map(|ip| self.placed(ip)).collect();
        Some(format!(
            "must_include: no address on {} (answered {})",
            self.net_names(&r.must_include),
            if got.is_empty() {
                "none".into()
            } else {
                got.join(", ")
            }
        ))
    }

    /// `all_in`: every address of the families judged on its networks.
    fn all_in_broken(
        &self,
        r: &DnsRule,
        families: Families,
        addrs: &[(IpAddr, u32)],
    ) -> Option<String> {
        let judged = families.and(self.families_of(&r.all_in));
        if r.all_in.is_empty() || !judged.any() {
            return None;
        }
        let outside: Vec<String> = addrs
            .iter()
            .filter(|(ip, _)| judged.holds(*ip) && !self.on(*ip, &r.all_in))
            .map(|(ip, _)| self.placed(*ip))
            .collect();
        (!outside.is_empty()).then(|| {
            format!(
                "all_in: {} not on {}",
                outside.join(", "),
                self.net_names(&r.all_in)
            )
        })
    }
}

/// `max_ttl`: every record of the chain, whatever the families.
fn ttl_broken(r: &DnsRule, addrs: &[(IpAddr, u32)], chain: &[(String, u32)]) -> Option<String> {
    let max = r.max_ttl?;
    let long: Vec<String> = chain
        .iter()
        .map(|(n, t)| (n.clone(), *t))
        .chain(addrs.iter().map(|(ip, t)| (ip.to_string(), *t)))
        .filter(|(_, t)| *t > max)
        .map(|(n, t)| format!("{n} has TTL {t} s"))
        .collect();
    (!long.is_empty()).then(|| format!("max_ttl: {} (limit {max} s)", long.join(", ")))
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
            truncated: false,
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

    /// `ps.x.y.com` must include an address on recovery (172.16.1.0/24,
    /// IPv4 only) or, in rule 2, on site6 (fd00:6::/64, IPv6 only).
    fn family_policy() -> Policy {
        let mut p = policy(vec![]);
        p.networks.push(Network {
            name: "site6".into(),
            prefixes: vec!["fd00:6::/64".parse().unwrap()],
        });
        let rule = |index, net| DnsRule {
            index,
            names: vec![NamePattern::parse("ps.x.y.com").unwrap()],
            must_include: vec![NetId(net)],
            all_in: vec![],
            max_ttl: None,
        };
        p.dns = vec![rule(1, 1), rule(2, 2)];
        p
    }

    fn asked(qtype: u16, rcode: u16, records: Vec<DnsRecord>) -> DnsAnswer {
        DnsAnswer {
            rcode,
            query: Some(("ps.x.y.com".into(), qtype)),
            ..answer("ps.x.y.com", records)
        }
    }

    fn rules_broken(p: &Policy, a: &DnsAnswer) -> Vec<usize> {
        p.check_dns(a).iter().map(|f| f.rule).collect()
    }

    #[test]
    fn an_answer_is_judged_for_the_family_it_asks() {
        let p = family_policy();
        let v4 = |ip: &str| rec("ps.x.y.com", 60, RecordData::A(ip.parse().unwrap()));
        // A with a recovery address: rule 1 holds, rule 2 (IPv6 only) is not judged.
        assert_eq!(rules_broken(&p, &asked(1, 0, vec![v4("172.16.1.24")])), []);
        // AAAA, NOERROR, no data (an IPv4-only name): rule 1 is not judged,
        // rule 2 is, and breaks.
        let nodata = asked(28, 0, vec![]);
        assert_eq!(rules_broken(&p, &nodata), [2]);
        assert_eq!(
            p.check_dns(&nodata)[0].reason,
            "must_include: no address on site6 (answered none)"
        );
        // A without a recovery address breaks rule 1 only.
        assert_eq!(
            rules_broken(&p, &asked(1, 0, vec![v4("192.168.1.24")])),
            [1]
        );
        // ANY speaks for both; a question for no address (TXT) for none.
        assert_eq!(
            rules_broken(&p, &asked(255, 0, vec![v4("172.16.1.24")])),
            [2]
        );
        assert_eq!(rules_broken(&p, &asked(16, 0, vec![])), []);
        // SERVFAIL to A breaks rule 1; to AAAA, rule 2.
        assert_eq!(rules_broken(&p, &asked(1, 2, vec![])), [1]);
        assert_eq!(rules_broken(&p, &asked(28, 2, vec![])), [2]);
        // NXDOMAIN says the name has no record of any type: both break,
        // whatever was asked.
        assert_eq!(rules_broken(&p, &asked(28, 3, vec![])), [1, 2]);
        assert_eq!(rules_broken(&p, &asked(16, 3, vec![])), [1, 2]);
    }

    #[test]
    fn a_truncated_answer_is_not_judged() {
        let p = family_policy();
        let tc = DnsAnswer {
            truncated: true,
            ..asked(1, 0, vec![])
        };
        assert_eq!(p.check_dns(&tc), vec![]);
        assert_eq!(
            rules_broken(
                &p,
                &DnsAnswer {
                    truncated: false,
                    ..tc
                }
            ),
            [1]
        );
    }

    #[test]
    fn all_in_judges_the_addresses_of_the_family_asked() {
        let mut p = family_policy();
        p.dns = vec![DnsRule {
            index: 1,
            names: vec![NamePattern::parse("ps.x.y.com").unwrap()],
            must_include: vec![],
            all_in: vec![NetId(1)],
            max_ttl: Some(300),
        }];
        let aaaa = rec(
            "ps.x.y.com",
            600,
            RecordData::Aaaa("fd00:6::24".parse().unwrap()),
        );
        // recovery has no IPv6 prefix: the AAAA address is not judged, its TTL is.
        assert_eq!(
            p.check_dns(&asked(28, 0, vec![aaaa.clone()])),
            vec![DnsFinding {
                rule: 1,
                reason: "max_ttl: fd00:6::24 has TTL 600 s (limit 300 s)".into()
            }]
        );
        // An ANY answer: the IPv4 address outside recovery is judged, the IPv6 one is not.
        let v4 = rec(
            "ps.x.y.com",
            60,
            RecordData::A("192.168.1.24".parse().unwrap()),
        );
        assert_eq!(
            p.check_dns(&asked(255, 0, vec![v4, aaaa]))[0].reason,
            "all_in: 192.168.1.24 (primary) not on recovery; max_ttl: fd00:6::24 has TTL 600 s (limit 300 s)"
        );
    }
}
