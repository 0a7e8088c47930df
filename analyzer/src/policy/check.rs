//! The policy check of one flow: the stage that judges a flow's class
//! against the networks of its addresses and of the NICs it was seen on.

use super::{NetId, Policy, Status, Use};
use crate::class::ClassId;

/// What checking one flow found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowCheck {
    /// Every reason the flow breaks the policy (empty = no violation).
    pub reasons: Vec<String>,
    /// One of the reasons is a network of its addresses.
    pub by_address: bool,
    /// The network named in the violation (first offending one).
    pub network: Option<Option<NetId>>,
    /// The interface named in the violation (first offending one).
    pub interface: Option<String>,
    /// Fallback networks used with `on_fallback = "warn"`.
    pub fallbacks: Vec<NetId>,
    /// Status per address network of the flow.
    pub net_status: Vec<(Option<NetId>, Status)>,
    /// Status per named capture interface of the flow.
    pub iface_status: Vec<(String, Status)>,
}

impl FlowCheck {
    /// True when the flow breaks the policy.
    pub fn violates(&self) -> bool {
        !self.reasons.is_empty()
    }
}

impl Policy {
    /// Checks one flow of `class` whose endpoints lie in `nets` (`None` =
    /// `unknown`) and that was seen on `ifaces`.
    pub fn check(&self, class: ClassId, nets: &[Option<NetId>], ifaces: &[&str]) -> FlowCheck {
        let mut c = FlowCheck::default();
        let cname = self.class_name(class);
        let allowed = self.allowed_list(class);
        for &net in nets {
            let name = net.map_or("unknown", |n| self.network_name(n));
            let status = match self.judge(class, net) {
                Use::Preferred => Status::Preferred,
                Use::Fallback => {
                    if let Some(n) = net.filter(|n| !c.fallbacks.contains(n)) {
                        c.fallbacks.push(n);
                    }
                    Status::Fallback
                }
                Use::FallbackFail => {
                    c.reasons.push(format!(
                        "network {name} is a fallback for {cname} and on_fallback = \"fail\""
                    ));
                    c.by_address = true;
                    c.network.get_or_insert(net);
                    Status::Violation
                }
                Use::NotAllowed => {
                    c.reasons.push(format!(
                        "network {name} not allowed for {cname} (allowed: {allowed})"
                    ));
                    c.by_address = true;
                    c.network.get_or_insert(net);
                    Status::Violation
                }
            };
            c.net_status.push((net, status));
        }
        for &iface in ifaces {
            let Some(net) = self.interface_network(iface) else {
                continue;
            };
            let name = self.network_name(net);
            let status = match self.judge(class, Some(net)) {
                Use::Preferred => Status::Preferred,
                Use::Fallback => {
                    if !c.fallbacks.contains(&net) {
                        c.fallbacks.push(net);
                    }
                    Status::Fallback
                }
                Use::FallbackFail => {
                    c.reasons.push(format!(
                        "seen on {iface} (network {name}), a fallback for {cname} with on_fallback = \"fail\""
                    ));
                    c.interface.get_or_insert_with(|| iface.to_string());
                    Status::Violation
                }
                Use::NotAllowed => {
                    c.reasons.push(format!(
                        "seen on {iface} (network {name}), not allowed for {cname} (allowed: {allowed})"
                    ));
                    c.interface.get_or_insert_with(|| iface.to_string());
                    Status::Violation
                }
            };
            c.iface_status.push((iface.to_string(), status));
        }
        if c.violates() {
            // One violation per flow: every aggregate it touches is marked.
            for s in c
                .net_status
                .iter_mut()
                .map(|(_, s)| s)
                .chain(c.iface_status.iter_mut().map(|(_, s)| s))
            {
                *s = Status::Violation;
            }
            if c.network.is_none() {
                c.network = nets.first().copied();
            }
            if c.interface.is_none() {
                c.interface = ifaces.first().map(|s| s.to_string());
            }
        }
        c
    }

    fn allowed_list(&self, class: ClassId) -> String {
        match self
            .classes
            .get(usize::from(class.0))
            .and_then(|c| c.networks.as_ref())
        {
            Some(nets) => nets
                .iter()
                .map(|n| self.network_name(*n))
                .collect::<Vec<_>>()
                .join(", "),
            None => "any".into(),
        }
    }
}

/// A flow's standing under the policy: computed by the analyzer once per
/// change of its class or NIC set, read by every report and by the daemon.
/// Small for the common case: the full check is kept only for a flow that
/// is not simply on its preferred networks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowVerdict {
    /// Worst status over its networks and NICs.
    pub status: Status,
    /// The full check, when `status` is not `Preferred`.
    pub detail: Option<Box<FlowCheck>>,
}

impl Default for FlowVerdict {
    fn default() -> Self {
        FlowVerdict {
            status: Status::Preferred,
            detail: None,
        }
    }
}

impl FlowVerdict {
    /// Condenses a check.
    pub fn new(check: FlowCheck) -> Self {
        let status = check
            .net_status
            .iter()
            .map(|(_, s)| *s)
            .chain(check.iface_status.iter().map(|(_, s)| *s))
            .max()
            .unwrap_or(Status::Preferred);
        let status = if check.violates() {
            Status::Violation
        } else {
            status
        };
        FlowVerdict {
            status,
            detail: (status != Status::Preferred).then(|| Box::new(check)),
        }
    }

    /// The flow breaks the policy.
    pub fn violates(&self) -> bool {
        self.status == Status::Violation
    }

    /// The flow uses an allowed fallback network (`on_fallback = "warn"`).
    pub fn fallback(&self) -> bool {
        self.detail
            .as_ref()
            .is_some_and(|d| !d.fallbacks.is_empty())
            && !self.violates()
    }

    /// Status of one of the flow's address networks.
    pub fn net_status(&self, net: Option<NetId>) -> Status {
        self.detail
            .as_ref()
            .and_then(|d| d.net_status.iter().find(|(n, _)| *n == net))
            .map_or(self.base(), |(_, s)| *s)
    }

    /// Status of one of the NICs the flow was seen on (a NIC without a
    /// policy network takes the flow's standing: violation if it violates).
    pub fn iface_status(&self, name: &str) -> Status {
        self.detail
            .as_ref()
            .and_then(|d| d.iface_status.iter().find(|(n, _)| n == name))
            .map_or(self.base(), |(_, s)| *s)
    }

    fn base(&self) -> Status {
        if self.violates() {
            Status::Violation
        } else {
            Status::Preferred
        }
    }
}
