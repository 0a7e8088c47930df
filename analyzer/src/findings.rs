//! What the report warns about, kept as data: fallback uses, what each DNS
//! rule saw, what each `[interfaces]` key matched. The warnings are
//! written from it, so two reports' findings merge before they are words
//! (`lanecheck merge`) and read as one run's.

use crate::nics::NicFindings;

/// A class's flows on one of its fallback networks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FallbackUse {
    /// The class's and the network's index in the policy (the order of
    /// the warnings).
    pub order: (u16, u16),
    /// Class name.
    pub class: String,
    /// Network name.
    pub network: String,
    /// Flows.
    pub flows: u64,
    /// Their bytes.
    pub bytes: u64,
    /// What name resolution says of them, each once, sorted.
    pub explanations: Vec<String>,
}

/// What one `[[dns]]` rule saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DnsRuleFinding {
    /// Warnings: a name it covers was queried but never answered, in the
    /// order of [`crate::evidence::names::Names::unanswered`], which is
    /// `order` (time, transaction id, name, client).
    pub unanswered: Vec<Unanswered>,
    /// Warnings: a name it covers was answered truncated (TC=1) and no
    /// full answer (the retry over TCP) to that client followed, in the
    /// same order; the answer's addresses were never checked.
    #[cfg_attr(feature = "serde", serde(default))]
    pub cut_short: Vec<Unanswered>,
    /// Warnings: a name it covers was answered but the capture's snaplen
    /// cut the answer, and no full answer to that client followed, in the
    /// same order; the answer's addresses were never checked.
    #[cfg_attr(feature = "serde", serde(default))]
    pub snaplen_cut: Vec<Unanswered>,
    /// Its name patterns that were never queried nor answered, in order.
    pub unseen: Vec<String>,
}

/// A query a DNS rule covers that no answer matched, or an answer that
/// was cut short (TC=1) with no full one after it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Unanswered {
    /// (time in ns, transaction id, name, client): the order of the list.
    pub order: (i64, u16, String, std::net::IpAddr),
    /// The warning.
    pub warning: String,
}

/// Everything the report warns about that is not a capture's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Findings {
    /// Fallback uses, by (class, network) in policy order.
    pub fallbacks: Vec<FallbackUse>,
    /// One per `[[dns]]` rule, in order (with the rule's 1-based index).
    pub dns_rules: Vec<(usize, DnsRuleFinding)>,
    /// The `[interfaces]` keys.
    pub nics: NicFindings,
    /// TCP connections whose SYN one capture repeated from another.
    #[cfg_attr(feature = "serde", serde(default))]
    pub twice: Vec<Twice>,
    /// Opening SYNs past the table's cap ([`crate::SYN_CAP`]) in an audit
    /// of several captures: whether their connections were captured twice
    /// was not checked.
    #[cfg_attr(feature = "serde", serde(default))]
    pub syns_unchecked: u64,
}

/// TCP connections of one class whose opening SYN (same addresses, ports
/// and sequence number) was in capture `first` and again in `again`: one
/// conversation captured at two places (both hosts, or a host and a SPAN),
/// so its packets and bytes are counted once per capture.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Twice {
    /// The class's index in the policy (the order of the warnings).
    pub order: u16,
    pub class: String,
    pub first: String,
    pub again: String,
    pub connections: u64,
}

impl Findings {
    /// The warnings, in the report's order: fallbacks, DNS rules, NICs.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self.fallbacks.iter().map(fallback_warning).collect();
        for (index, rule) in &self.dns_rules {
            out.extend(rule.unanswered.iter().map(|u| u.warning.clone()));
            out.extend(rule.cut_short.iter().map(|u| u.warning.clone()));
            out.extend(rule.snaplen_cut.iter().map(|u| u.warning.clone()));
            out.extend(
                rule.unseen
                    .iter()
                    .map(|p| format!("DNS rule {index}: {p} was never queried")),
            );
        }
        out.extend(self.nics.warnings());
        out.extend(self.twice.iter().map(twice_warning));
        if self.syns_unchecked > 0 {
            out.push(format!(
                "{} TCP connections opened after the first {} were not remembered: whether they were captured twice (in two of the captures) was not checked",
                self.syns_unchecked,
                crate::SYN_CAP
            ));
        }
        out
    }

    /// Adds a later part's findings: fallback uses of one (class, network)
    /// add up, a DNS name pattern is unseen only if no part saw it, a NIC
    /// key matched if any part matched it.
    pub fn absorb(&mut self, other: Findings) {
        for f in other.fallbacks {
            match self.fallbacks.iter_mut().find(|x| x.order == f.order) {
                Some(x) => {
                    x.flows = x.flows.saturating_add(f.flows);
                    x.bytes = x.bytes.saturating_add(f.bytes);
                    for e in f.explanations {
                        if !x.explanations.contains(&e) {
                            x.explanations.push(e);
                        }
                    }
                    x.explanations.sort_unstable();
                }
                None => self.fallbacks.push(f),
            }
        }
        self.fallbacks.sort_by_key(|f| f.order);
        for ((_, mine), (_, theirs)) in self.dns_rules.iter_mut().zip(other.dns_rules) {
            mine.unanswered.extend(theirs.unanswered);
            mine.unanswered.sort_by(|a, b| a.order.cmp(&b.order));
            mine.cut_short.extend(theirs.cut_short);
            mine.cut_short.sort_by(|a, b| a.order.cmp(&b.order));
            mine.snaplen_cut.extend(theirs.snaplen_cut);
            mine.snaplen_cut.sort_by(|a, b| a.order.cmp(&b.order));
            mine.unseen.retain(|p| theirs.unseen.contains(p));
        }
        for (mine, theirs) in self.nics.keys.iter_mut().zip(other.nics.keys) {
            mine.matched |= theirs.matched;
            mine.several.extend(theirs.several);
        }
        self.nics.conflicts.extend(other.nics.conflicts);
        for t in other.twice {
            match self.twice.iter_mut().find(|x| same_pair(x, &t)) {
                Some(x) => x.connections = x.connections.saturating_add(t.connections),
                None => self.twice.push(t),
            }
        }
        self.twice.sort();
        self.syns_unchecked = self.syns_unchecked.saturating_add(other.syns_unchecked);
    }
}

fn same_pair(a: &Twice, b: &Twice) -> bool {
    (a.order, &a.first, &a.again) == (b.order, &b.first, &b.again)
}

fn twice_warning(t: &Twice) -> String {
    let n = t.connections;
    format!(
        "{}: {n} TCP connection{} captured twice, in {} and again in {} (the same SYN): each capture's packets and bytes are counted, so {} totals count {} twice; audit the captures of one vantage point together, and the others apart",
        t.class,
        if n == 1 { " was" } else { "s were" },
        t.first,
        t.again,
        t.class,
        if n == 1 { "it" } else { "them" }
    )
}

fn fallback_warning(f: &FallbackUse) -> String {
    let mut w = format!(
        "{} used fallback network {} ({} flow{}, {} bytes)",
        f.class,
        f.network,
        f.flows,
        if f.flows == 1 { "" } else { "s" },
        f.bytes
    );
    if !f.explanations.is_empty() {
        w.push_str(": ");
        w.push_str(&f.explanations.join("; "));
    }
    w
}
