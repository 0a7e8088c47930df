//! The report: plain data built from the analyzer's flows and series; no
//! serde here (the binary renders it).

use std::collections::BTreeMap;
use std::net::IpAddr;

use capture::Timestamp;

use crate::class::ClassId;
use crate::evidence::dns::Families;
use crate::evidence::learned::Endpoint;
use crate::evidence::names::Resolution;
use crate::evidence::probe::Evidence;
use crate::findings::{DnsRuleFinding, FallbackUse, Findings, Unanswered};
use crate::flow::Slot;
use crate::policy::{FlowCheck, NetId, Status};
use crate::state::FlowState;
use crate::stats::Throughput;
use crate::{Analyzer, IfaceRef, Scope};

/// The run's verdict.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// No violation.
    Pass,
    /// Not enough evidence (live capture only).
    Inconclusive,
    /// At least one violation.
    Fail,
}

impl Verdict {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Fail => "fail",
        }
    }
}

/// Bytes per bin over time: bins of `bin_ns` aligned to the Unix epoch
/// (bin `i` starts at `i × bin_ns`), the active ones only; every bin from
/// the first active to the last is in the span, idle ones holding 0.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bins {
    /// Bin length in nanoseconds.
    pub bin_ns: i64,
    /// (bin index, bytes) of every bin with bytes, in order.
    pub active: Vec<(i64, u64)>,
}

impl Bins {
    /// The first and last active bin.
    pub fn range(&self) -> Option<(i64, i64)> {
        Some((self.active.first()?.0, self.active.last()?.0))
    }

    /// Bytes of every bin from the first active to the last, idle ones 0.
    pub fn dense(&self) -> impl Iterator<Item = u64> + '_ {
        let (first, last) = self.range().unwrap_or((0, -1));
        let mut it = self.active.iter().peekable();
        (first..=last).map(move |i| match it.next_if(|(b, _)| *b == i) {
            Some((_, bytes)) => *bytes,
            None => 0,
        })
    }

    /// A bin's throughput in bits per second, as the percentiles count it.
    pub fn bps(&self, bytes: u64) -> u64 {
        let bps = u128::from(bytes) * 8 * 1_000_000_000 / self.bin_ns.max(1) as u128;
        bps.min(u128::from(u64::MAX)) as u64
    }
}

/// Bytes of a class in one network or on one interface.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    /// Network or interface name.
    pub name: String,
    /// Packets.
    pub packets: u64,
    /// Wire bytes.
    pub bytes: u64,
    /// Worst status of the class's flows there.
    pub status: Status,
    /// Throughput percentiles there.
    pub throughput: Throughput,
    /// Bytes per bin there.
    pub series: Bins,
}

/// One class's summary.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassSummary {
    /// Class name.
    pub class: String,
    /// Flows.
    pub flows: u64,
    /// Packets.
    pub packets: u64,
    /// Wire bytes.
    pub bytes: u64,
    /// By network (by address); a routed flow counts in each network it touches.
    pub networks: Vec<Share>,
    /// By named capture interface.
    pub interfaces: Vec<Share>,
    /// By 802.1Q VLAN id (`name` is the id).
    pub vlans: Vec<Share>,
    /// Throughput percentiles of the whole class.
    pub throughput: Throughput,
    /// Bytes per bin of the whole class.
    pub series: Bins,
    /// LSO/RSC super-frames among its packets: its packet count is then of
    /// host-visible segments, not wire packets.
    pub super_frames: u64,
    /// Bytes of packets that may be copies of another size (counted).
    pub possible_copy_bytes: u64,
    /// Bytes counted from a later capture of connections an earlier one
    /// already held (the same opening SYN; [`crate::findings::Twice`]).
    #[cfg_attr(feature = "serde", serde(default))]
    pub twice_bytes: u64,
}

/// A flow that breaks the policy (one per flow, with every reason).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Class.
    pub class: String,
    /// Every reason.
    pub reasons: Vec<String>,
    /// The offending network (`unknown` when outside every named network).
    pub network: String,
    /// The offending (or first) capture interface, when named.
    pub interface: Option<String>,
    /// The offending VLAN, when a `[vlans]` mapping is what it broke.
    pub vlan: Option<u16>,
    /// The network of an address is not allowed (else only an interface is).
    pub by_address: bool,
    /// IP protocol number.
    pub proto: u8,
    /// Initiator.
    pub src: IpAddr,
    /// Initiator port.
    pub sport: u16,
    /// Responder.
    pub dst: IpAddr,
    /// Responder port.
    pub dport: u16,
    /// Wire bytes of the flow.
    pub bytes: u64,
    /// Packets of the flow.
    pub packets: u64,
    /// First packet.
    pub first_seen: Timestamp,
    /// Last packet.
    pub last_seen: Timestamp,
    /// Community ID v1.
    pub community_id: String,
    /// Why the flow got its class (with the deciding evidence, if any).
    pub class_reason: String,
    /// Everything the flow's payload proved.
    pub evidence: Vec<Evidence>,
    /// For a fallback: whether name resolution explains it.
    pub explanation: Option<String>,
    /// The tunnels the flow was carried in, innermost first (empty if none).
    pub tunnel: Vec<crate::flow::Tunnel>,
    /// The flow's own bytes over time, at most
    /// [`FLOW_POINTS`](crate::stats::FLOW_POINTS) bins (each a power of two
    /// of the report's bins).
    pub series: Bins,
}

impl Violation {
    /// The report's order: largest first, then earliest, then by what the
    /// flow is, so that no two violations tie and the order never depends
    /// on where the flows were kept (a merge orders as one run does).
    pub fn order(a: &Violation, b: &Violation) -> std::cmp::Ordering {
        let tunnels = |v: &Violation| -> Vec<_> {
            v.tunnel.iter().map(|t| (t.kind, t.id, t.outer)).collect()
        };
        b.bytes
            .cmp(&a.bytes)
            .then(a.first_seen.cmp(&b.first_seen))
            .then(a.last_seen.cmp(&b.last_seen))
            .then_with(|| {
                (a.proto, a.src, a.sport, a.dst, a.dport, &a.class)
                    .cmp(&(b.proto, b.src, b.sport, b.dst, b.dport, &b.class))
            })
            .then_with(|| tunnels(a).cmp(&tunnels(b)))
    }
}

/// A DNS answer that broke a `[[dns]]` rule.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsViolation {
    /// The query name.
    pub name: String,
    /// The query type.
    pub qtype: u16,
    /// Response code.
    pub rcode: u16,
    /// The addresses the name resolved to (CNAMEs followed): address,
    /// its network (`unknown` outside every named network), TTL.
    pub answers: Vec<(IpAddr, String, u32)>,
    /// The answering server.
    pub server: IpAddr,
    /// The client that asked.
    pub client: IpAddr,
    /// Packet time of the answer.
    pub time: Timestamp,
    /// The capture it was in.
    pub capture: crate::CaptureId,
    /// The rule's 1-based index.
    pub rule: usize,
    /// Every condition broken, each sentence naming it.
    pub reason: String,
}

/// A time span in words: `1 s`, `2.5 s`, `3 min 20 s`, `250 ms`.
fn ago(ns: i64) -> String {
    let ms = ns.max(0) / 1_000_000;
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => {
            let s = format!("{:.1}", ms as f64 / 1_000.0);
            format!("{} s", s.strip_suffix(".0").unwrap_or(&s))
        }
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1_000),
    }
}

/// The analyzer's findings.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug)]
pub struct Report {
    /// Pass or fail (the binary may make it inconclusive).
    pub verdict: Verdict,
    /// Classes seen, largest first.
    pub classes: Vec<ClassSummary>,
    /// Violations, largest first.
    pub violations: Vec<Violation>,
    /// Fallback uses and other warnings (the words of `findings`).
    pub warnings: Vec<String>,
    /// What the warnings say, as data.
    pub findings: Findings,
    /// RPC endpoints announced in the traffic, in order.
    pub learned_endpoints: Vec<Endpoint>,
    /// Dissectors that gave up, by (protocol, reason): flows read no further.
    pub gave_up: Vec<(String, String, u64)>,
    /// DNS answers that broke a `[[dns]]` rule, in order.
    pub dns_violations: Vec<DnsViolation>,
    /// DNS violations beyond what a report keeps.
    pub dns_violations_dropped: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    packets: u64,
    bytes: u64,
    status: Option<Status>,
}

impl Acc {
    fn add(&mut self, packets: u64, bytes: u64, status: Status) {
        self.packets += packets;
        self.bytes += bytes;
        self.status = Some(self.status.map_or(status, |s| s.max(status)));
    }
}

#[derive(Clone, Debug, Default)]
struct ClassAcc {
    flows: u64,
    packets: u64,
    bytes: u64,
    super_frames: u64,
    possible_copy_bytes: u64,
    twice_bytes: u64,
    nets: BTreeMap<Option<NetId>, Acc>,
    ifaces: BTreeMap<IfaceRef, Acc>,
    vlans: BTreeMap<u16, Acc>,
}

impl ClassAcc {
    /// Adds one flow, with the statuses of its verdict.
    fn add(&mut self, an: &Analyzer, slot: &Slot<FlowState>) {
        let (flow, v) = (&slot.flow, &slot.ext.verdict);
        self.flows += 1;
        self.packets += flow.total_packets();
        self.bytes += flow.total_bytes();
        self.super_frames += u64::from(slot.ext.super_frames);
        self.possible_copy_bytes += slot.ext.possible_copy_bytes;
        self.twice_bytes += an.twice_bytes(slot);
        for net in &slot.ext.nets {
            self.nets.entry(*net).or_default().add(
                flow.total_packets(),
                flow.total_bytes(),
                v.net_status(*net),
            );
        }
        for s in &flow.ifaces {
            let status = v.iface_status(an.iface_name(s.iface));
            self.ifaces
                .entry(s.iface)
                .or_default()
                .add(s.packets, s.bytes, status);
        }
        for s in &flow.vlans {
            self.vlans
                .entry(s.vlan)
                .or_default()
                .add(s.packets, s.bytes, v.vlan_status(s.vlan));
        }
    }
}

/// Finished flows folded into their class's totals (see
/// [`crate::AnalyzerConfig::fold_every`]).
#[derive(Debug, Default)]
pub(crate) struct Retired(BTreeMap<ClassId, ClassAcc>);

impl Retired {
    /// Adds a classified flow's counts and statuses.
    pub(crate) fn add(&mut self, an: &Analyzer, slot: &Slot<FlowState>) {
        if let Some(class) = slot.ext.class {
            self.0.entry(class).or_default().add(an, slot);
        }
    }
}

/// Fallback uses of one (class, network): flows, bytes, explanations.
type Fallbacks = BTreeMap<(ClassId, NetId), (u64, u64, Vec<String>)>;

impl Analyzer {
    /// Summarises every flow's verdict (the policy-check stage's result).
    pub fn report(&self) -> Report {
        let mut classes: BTreeMap<ClassId, ClassAcc> = self.retired.0.clone();
        let mut violations = Vec::new();
        let mut fallbacks = Fallbacks::new();
        for slot in self.slots() {
            let Some(class) = slot.ext.class else {
                continue;
            };
            classes.entry(class).or_default().add(self, slot);
            let Some(check) = slot.ext.verdict.detail.as_deref() else {
                continue;
            };
            let explained = (!check.fallbacks.is_empty()
                || check.reasons.iter().any(|r| r.contains("on_fallback")))
            .then(|| self.explain_fallback(slot, class));
            for n in &check.fallbacks {
                let e = fallbacks.entry((class, *n)).or_default();
                e.0 += 1;
                e.1 += slot.flow.total_bytes();
                if let Some(x) = explained.as_ref().filter(|x| !e.2.contains(x)) {
                    e.2.push(x.clone());
                }
            }
            if check.violates() {
                let mut v = self.violation(slot, class, check);
                v.explanation = explained;
                violations.push(v);
            }
        }
        violations.sort_by(Violation::order);
        let mut summaries: Vec<ClassSummary> = classes
            .into_iter()
            .map(|(c, acc)| self.summary(c, acc))
            .collect();
        summaries.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.class.cmp(&b.class)));
        let findings = Findings {
            fallbacks: self.fallback_uses(fallbacks),
            dns_rules: self.dns_findings(),
            nics: self.nic_findings(),
            twice: self.twice(),
            syns_unchecked: self.syns_unchecked(),
        };
        let (dns, dns_dropped) = self.dns_violations();
        Report {
            verdict: if violations.is_empty() && dns.is_empty() {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            classes: summaries,
            violations,
            warnings: self.warnings(&findings),
            findings,
            learned_endpoints: self.knowledge().history().to_vec(),
            gave_up: self
                .gave_up()
                .iter()
                .map(|((p, r), n)| (p.to_string(), r.to_string(), *n))
                .collect(),
            dns_violations: dns.to_vec(),
            dns_violations_dropped: dns_dropped,
        }
    }

    /// The findings' words, and what a report made too early would miss:
    /// later IP fragments still held for their first (see
    /// [`Analyzer::end_of_input`]).
    fn warnings(&self, findings: &Findings) -> Vec<String> {
        let mut out = findings.warnings();
        let held = self.held_fragments();
        if held > 0 {
            out.push(format!(
                "{held} later IP fragments held for their first fragment are not counted yet (the report was made before the end of input)"
            ));
        }
        out
    }

    fn fallback_uses(&self, fallbacks: Fallbacks) -> Vec<FallbackUse> {
        let policy = self.policy();
        fallbacks
            .into_iter()
            .map(|((c, n), (flows, bytes, mut explanations))| {
                // In text order, not the flows' order: the same whichever
                // analyzers found them (merges, shares).
                explanations.sort_unstable();
                FallbackUse {
                    order: (c.0, n.0),
                    class: policy.class_name(c).to_string(),
                    network: policy.network_name(n).to_string(),
                    flows,
                    bytes,
                    explanations,
                }
            })
            .collect()
    }

    /// For each DNS rule: names it covers that were queried but never
    /// answered, and its name patterns never queried at all.
    fn dns_findings(&self) -> Vec<(usize, DnsRuleFinding)> {
        let names = &self.knowledge().names;
        let (unanswered, cut) = (names.unanswered(), names.cut_short());
        let mut out = Vec::new();
        for rule in &self.policy().dns {
            let mut f = DnsRuleFinding {
                unanswered: covered(rule, &unanswered, |name, client, at| {
                    format!("{name} was queried by {client} at {at}")
                }, "but never answered"),
                cut_short: covered(rule, &cut, |name, client, at| {
                    format!("{name} was answered truncated (TC=1) to {client} at {at}")
                }, "and no full answer followed (its retry over TCP was not captured): its addresses were not checked"),
                snaplen_cut: snapped(rule, &names.snaplen_cut()),
                unseen: Vec::new(),
            };
            for p in &rule.names {
                let seen = names.queried().any(|q| p.matches(q))
                    || names.answered_names().any(|a| p.matches(a));
                if !seen {
                    f.unseen.push(p.text().to_string());
                }
            }
            out.push((rule.index, f));
        }
        out
    }

    /// Whether the name of a fallback flow's server still resolved to an
    /// address on the class's preferred network just before the flow began
    /// (seed 000: DPM falls back when name lookup stops returning backup
    /// addresses). Only answers that could hold such an address count: the
    /// last one for each family the network has prefixes of (an AAAA
    /// answer says nothing of an IPv4 network; a truncated one nothing).
    fn explain_fallback(&self, slot: &Slot<FlowState>, class: ClassId) -> String {
        let policy = self.policy();
        let flow = &slot.flow;
        let server = flow.dst().0;
        let preferred = policy
            .classes
            .get(usize::from(class.0))
            .and_then(|c| c.networks.as_ref())
            .and_then(|n| n.first().copied());
        let names = &self.knowledge().names;
        let Some(name) = names.names_of(server).first() else {
            return format!("no DNS answer naming {server} was seen before it");
        };
        let families = preferred.map_or(Families::ALL, |n| policy.families_of(&[n]));
        let last: Vec<&Resolution> = families
            .each()
            .filter_map(|f| names.before(name, flow.first_seen, f))
            .collect();
        let pref_name = preferred.map_or("?", |n| policy.network_name(n));
        let on_pref = last.iter().find_map(|(t, _, addrs)| {
            let a = addrs
                .iter()
                .find(|a| preferred.is_some() && policy.network_of(**a) == preferred)?;
            Some((t, a))
        });
        if let Some((t, a)) = on_pref {
            let ago = ago(flow.first_seen.0 - t.0);
            return format!(
                "{name} still resolved to {a} on {pref_name} {ago} earlier: the fallback was not caused by name resolution"
            );
        }
        let Some(t) = last.iter().map(|r| r.0).max() else {
            let types = families.types();
            return format!("no {types} answer for {name} was seen before the fallback");
        };
        let ago = ago(flow.first_seen.0 - t.0);
        format!(
            "{name} {} {ago} earlier: no {pref_name} address was returned, so the fallback follows name resolution",
            self.resolved_to(&last)
        )
    }

    /// `resolved only to A (net), B (net)` over these answers, or
    /// `resolved to no address` when none had one.
    fn resolved_to(&self, answers: &[&Resolution]) -> String {
        let mut got: Vec<IpAddr> = Vec::new();
        for a in answers.iter().flat_map(|r| &r.2) {
            if !got.contains(a) {
                got.push(*a);
            }
        }
        if got.is_empty() {
            return "resolved to no address".into();
        }
        let policy = self.policy();
        let got: Vec<String> = got
            .iter()
            .map(|a| format!("{a} ({})", self.net_name(policy.network_of(*a))))
            .collect();
        format!("resolved only to {}", got.join(", "))
    }

    /// Network name for reports (`unknown` outside every named network).
    pub fn net_name(&self, n: Option<NetId>) -> &str {
        n.map_or("unknown", |n| self.policy().network_name(n))
    }

    /// Percentiles and bins of a (class, scope).
    fn throughput(&self, class: ClassId, scope: Scope) -> (Throughput, Bins) {
        let bins = Bins {
            bin_ns: self.bin_ns(),
            active: self
                .series(class, scope)
                .map(|s| s.bins().into_iter().collect())
                .unwrap_or_default(),
        };
        let t = self
            .series(class, scope)
            .map(|s| s.throughput())
            .unwrap_or_default();
        (t, bins)
    }

    fn summary(&self, class: ClassId, acc: ClassAcc) -> ClassSummary {
        let share = |name: String, a: Acc, (throughput, series): (Throughput, Bins)| Share {
            name,
            packets: a.packets,
            bytes: a.bytes,
            status: a.status.unwrap_or(Status::Preferred),
            throughput,
            series,
        };
        let mut networks: Vec<Share> = acc
            .nets
            .into_iter()
            .map(|(n, a)| {
                share(
                    self.net_name(n).to_string(),
                    a,
                    self.throughput(class, Scope::Network(n)),
                )
            })
            .collect();
        networks.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.name.cmp(&b.name)));
        let mut interfaces: Vec<Share> = acc
            .ifaces
            .into_iter()
            .map(|(i, a)| {
                share(
                    self.iface_name(i).to_string(),
                    a,
                    self.throughput(class, Scope::Interface(Some(i))),
                )
            })
            .collect();
        interfaces.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.name.cmp(&b.name)));
        // VLANs in id order (a trunk's tags read best that way).
        let vlans: Vec<Share> = acc
            .vlans
            .into_iter()
            .map(|(v, a)| share(v.to_string(), a, self.throughput(class, Scope::Vlan(v))))
            .collect();
        let (throughput, series) = self.throughput(class, Scope::Class);
        ClassSummary {
            class: self.policy().class_name(class).to_string(),
            flows: acc.flows,
            packets: acc.packets,
            bytes: acc.bytes,
            networks,
            interfaces,
            vlans,
            throughput,
            series,
            super_frames: acc.super_frames,
            possible_copy_bytes: acc.possible_copy_bytes,
            twice_bytes: acc.twice_bytes,
        }
    }

    fn violation(&self, slot: &Slot<FlowState>, class: ClassId, check: &FlowCheck) -> Violation {
        let flow = &slot.flow;
        let (src, sport) = flow.src();
        let (dst, dport) = flow.dst();
        Violation {
            class: self.policy().class_name(class).to_string(),
            network: self.net_name(check.network.flatten()).to_string(),
            interface: check.interface.clone(),
            vlan: check.vlan,
            by_address: check.by_address,
            reasons: check.reasons.clone(),
            proto: flow.key.proto,
            src,
            sport,
            dst,
            dport,
            bytes: flow.total_bytes(),
            packets: flow.total_packets(),
            first_seen: flow.first_seen,
            last_seen: flow.last_seen,
            community_id: flow.community_id(),
            class_reason: self.reason(slot),
            evidence: slot
                .ext
                .evidence()
                .map(|e| e.facts.clone())
                .unwrap_or_default(),
            explanation: None,
            tunnel: self.tunnel_chain(flow.key.tunnel),
            series: Bins {
                bin_ns: i64::try_from(i128::from(self.bin_ns()) << slot.ext.own.shift())
                    .unwrap_or(i64::MAX),
                active: slot.ext.own.active().collect(),
            },
        }
    }
}

/// The warnings of `rule` for the names it covers among `list` (name,
/// transaction id, client, when): "DNS rule N: {what} (id 0x…) {end}".
fn covered(
    rule: &crate::policy::DnsRule,
    list: &[crate::evidence::names::Unanswered<'_>],
    what: impl Fn(&str, IpAddr, Timestamp) -> String,
    end: &str,
) -> Vec<Unanswered> {
    list.iter()
        .filter(|(name, ..)| rule.covers(name))
        .map(|&(name, id, client, at)| Unanswered {
            order: (at.0, id, name.to_string(), client),
            warning: format!(
                "DNS rule {}: {} (id 0x{id:04x}) {end}",
                rule.index,
                what(name, client, at)
            ),
        })
        .collect()
}

/// The answers a DNS rule covers that the capture's snaplen cut, as
/// warnings: they were answered, but what they said was not captured.
fn snapped(
    rule: &crate::policy::DnsRule,
    list: &[(crate::evidence::names::Unanswered<'_>, u32)],
) -> Vec<Unanswered> {
    list.iter()
        .filter(|((name, ..), _)| rule.covers(name))
        .map(|&((name, id, client, at), snaplen)| Unanswered {
            order: (at.0, id, name.to_string(), client),
            warning: format!(
                "DNS rule {}: {name} was answered to {client} at {at} (id 0x{id:04x}) but the capture's snaplen ({snaplen} bytes) cut the answer and no full answer followed: its addresses were not checked",
                rule.index
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Bins;

    #[test]
    fn dense_bins_fill_the_idle_ones_with_zero() {
        let b = Bins {
            bin_ns: 500_000_000,
            active: vec![(-2, 10), (1, 3), (2, 125)],
        };
        assert_eq!(b.range(), Some((-2, 2)));
        assert_eq!(b.dense().collect::<Vec<_>>(), [10, 0, 0, 3, 125]);
        assert_eq!(b.bps(125), 2_000);
        assert_eq!(Bins::default().dense().count(), 0);
    }
}
