//! The report: plain data built from the analyzer's flows and series; no
//! serde here (the binary renders it).

use std::collections::BTreeMap;
use std::net::IpAddr;

use capture::Timestamp;

use crate::class::ClassId;
use crate::evidence::learned::Endpoint;
use crate::evidence::probe::Evidence;
use crate::flow::Slot;
use crate::policy::{FlowCheck, NetId, Status};
use crate::state::FlowState;
use crate::stats::Throughput;
use crate::{Analyzer, IfaceRef, Scope};

/// The run's verdict.
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

/// Bytes of a class in one network or on one interface.
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
}

/// One class's summary.
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
    /// Throughput percentiles of the whole class.
    pub throughput: Throughput,
}

/// A flow that breaks the policy (one per flow, with every reason).
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
}

/// The analyzer's findings.
#[derive(Clone, Debug)]
pub struct Report {
    /// Pass or fail (the binary may make it inconclusive).
    pub verdict: Verdict,
    /// Classes seen, largest first.
    pub classes: Vec<ClassSummary>,
    /// Violations, largest first.
    pub violations: Vec<Violation>,
    /// Fallback uses and other warnings.
    pub warnings: Vec<String>,
    /// RPC endpoints announced in the traffic, in order.
    pub learned_endpoints: Vec<Endpoint>,
    /// Dissectors that gave up, by (protocol, reason): flows read no further.
    pub gave_up: Vec<(String, String, u64)>,
}

#[derive(Default)]
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

#[derive(Default)]
struct ClassAcc {
    flows: u64,
    packets: u64,
    bytes: u64,
    nets: BTreeMap<Option<NetId>, Acc>,
    ifaces: BTreeMap<IfaceRef, Acc>,
}

impl Analyzer {
    /// Summarises every flow's verdict (the policy-check stage's result).
    pub fn report(&self) -> Report {
        let policy = self.policy();
        let mut classes: BTreeMap<ClassId, ClassAcc> = BTreeMap::new();
        let mut violations = Vec::new();
        let mut fallbacks: BTreeMap<(ClassId, NetId), (u64, u64)> = BTreeMap::new();
        for slot in self.slots() {
            let (flow, st) = (&slot.flow, &slot.ext);
            let Some(class) = st.class else { continue };
            let v = &st.verdict;
            let acc = classes.entry(class).or_default();
            acc.flows += 1;
            acc.packets += flow.total_packets();
            acc.bytes += flow.total_bytes();
            for net in &st.nets {
                acc.nets.entry(*net).or_default().add(
                    flow.total_packets(),
                    flow.total_bytes(),
                    v.net_status(*net),
                );
            }
            for s in &flow.ifaces {
                let status = v.iface_status(self.iface_name(s.iface));
                acc.ifaces
                    .entry(s.iface)
                    .or_default()
                    .add(s.packets, s.bytes, status);
            }
            if let Some(check) = v.detail.as_deref() {
                for n in &check.fallbacks {
                    let e = fallbacks.entry((class, *n)).or_default();
                    e.0 += 1;
                    e.1 += flow.total_bytes();
                }
                if check.violates() {
                    violations.push(self.violation(slot, class, check));
                }
            }
        }
        violations.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.first_seen.cmp(&b.first_seen)));
        let mut summaries: Vec<ClassSummary> = classes
            .into_iter()
            .map(|(c, acc)| self.summary(c, acc))
            .collect();
        summaries.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.class.cmp(&b.class)));
        let warnings = fallbacks
            .into_iter()
            .map(|((c, n), (flows, bytes))| {
                format!(
                    "{} used fallback network {} ({flows} flow{}, {bytes} bytes)",
                    policy.class_name(c),
                    policy.network_name(n),
                    if flows == 1 { "" } else { "s" }
                )
            })
            .collect();
        Report {
            verdict: if violations.is_empty() {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            classes: summaries,
            violations,
            warnings,
            learned_endpoints: self.knowledge().history().to_vec(),
            gave_up: self
                .gave_up()
                .iter()
                .map(|((p, r), n)| (p.to_string(), r.to_string(), *n))
                .collect(),
        }
    }

    /// Network name for reports (`unknown` outside every named network).
    pub fn net_name(&self, n: Option<NetId>) -> &str {
        n.map_or("unknown", |n| self.policy().network_name(n))
    }

    fn throughput(&self, class: ClassId, scope: Scope) -> Throughput {
        self.series(class, scope)
            .map(|s| s.throughput())
            .unwrap_or_default()
    }
    fn summary(&self, class: ClassId, acc: ClassAcc) -> ClassSummary {
        let share = |name: String, a: Acc, t: Throughput| Share {
            name,
            packets: a.packets,
            bytes: a.bytes,
            status: a.status.unwrap_or(Status::Preferred),
            throughput: t,
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
        ClassSummary {
            class: self.policy().class_name(class).to_string(),
            flows: acc.flows,
            packets: acc.packets,
            bytes: acc.bytes,
            networks,
            interfaces,
            throughput: self.throughput(class, Scope::Class),
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
        }
    }
}
