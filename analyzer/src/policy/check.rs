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
    /// The VLAN named in the violation (first offending one).
    pub vlan: Option<u16>,
    /// The network of the first offending place: an address's, or the
    /// network the policy maps the NIC or VLAN to (right addresses, wrong
    /// NIC: the class was put on that NIC's network, not its addresses').
    pub leaked_onto: Option<Option<NetId>>,
    /// Fallback networks used with `on_fallback = "warn"`.
    pub fallbacks: Vec<NetId>,
    /// Status per address network of the flow.
    pub net_status: Vec<(Option<NetId>, Status)>,
    /// Status per named capture interface of the flow.
    pub iface_status: Vec<(String, Status)>,
    /// Status per VLAN id the flow was seen with.
    pub vlan_status: Vec<(u16, Status)>,
}

impl FlowCheck {
    /// True when the flow breaks the policy.
    pub fn violates(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// Where a flow was seen: one of its addresses, or a NIC or VLAN whose
/// network the policy maps.
#[derive(Clone, Copy, Debug)]
enum Place<'a> {
    Address,
    Interface(&'a str),
    Vlan(u16),
}

impl Place<'_> {
    /// How a reason names the place and its network.
    fn what(&self, net: &str) -> String {
        match self {
            Place::Address => format!("network {net}"),
            Place::Interface(i) => format!("seen on {i} (network {net})"),
            Place::Vlan(v) => format!("seen on VLAN {v} (network {net})"),
        }
    }

    /// `network primary not allowed…` / `seen on eth0 (network primary), not allowed…`.
    fn not_allowed(&self, net: &str, cname: &str, allowed: &str) -> String {
        let sep = if matches!(self, Place::Address) {
            ""
        } else {
            ","
        };
        format!(
            "{}{sep} not allowed for {cname} (allowed: {allowed})",
            self.what(net)
        )
    }

    fn fallback_fail(&self, net: &str, cname: &str) -> String {
        match self {
            Place::Address => {
                format!("network {net} is a fallback for {cname} and on_fallback = \"fail\"")
            }
            _ => format!(
                "{}, a fallback for {cname} with on_fallback = \"fail\"",
                self.what(net)
            ),
        }
    }

    fn retired(&self, net: &str) -> String {
        match self {
            Place::Address => format!("network {net} is retired: no traffic may touch it"),
            _ => format!(
                "{}, a retired network: no traffic may touch it",
                self.what(net)
            ),
        }
    }
}

impl Policy {
    /// Checks one flow of `class` whose endpoints lie in `nets` (`None` =
    /// `unknown`) and that was seen on `ifaces` (name, and the network its
    /// `[interfaces]` key maps it to) and with `vlans`.
    pub fn check(
        &self,
        class: ClassId,
        nets: &[Option<NetId>],
        ifaces: &[(&str, Option<NetId>)],
        vlans: &[u16],
    ) -> FlowCheck {
        let mut c = FlowCheck::default();
        for &net in nets {
            let status = self.judge_place(class, Place::Address, net, &mut c);
            c.net_status.push((net, status));
        }
        for &(iface, net) in ifaces {
            if let Some(net) = net {
                let status = self.judge_place(class, Place::Interface(iface), Some(net), &mut c);
                c.iface_status.push((iface.to_string(), status));
            }
        }
        for &vlan in vlans {
            if let Some(&net) = self.vlans.get(&vlan) {
                let status = self.judge_place(class, Place::Vlan(vlan), Some(net), &mut c);
                c.vlan_status.push((vlan, status));
            }
        }
        if c.violates() {
            // One violation per flow, carrying every reason; each place
            // keeps its own judgement (an allowed NIC the violating flow
            // also crossed is not the place that broke the policy).
            if c.network.is_none() {
                c.network = nets.first().copied();
            }
            if c.interface.is_none() {
                c.interface = ifaces.first().map(|s| s.0.to_string());
            }
        }
        c
    }

    /// Judges one place of a flow: retired networks first (whatever the
    /// class), then the class's allowed networks.
    fn judge_place(
        &self,
        class: ClassId,
        place: Place<'_>,
        net: Option<NetId>,
        c: &mut FlowCheck,
    ) -> Status {
        let name = net.map_or("unknown", |n| self.network_name(n));
        let cname = self.class_name(class);
        let reason = if net.is_some_and(|n| self.retired.contains(&n)) {
            Some(place.retired(name))
        } else {
            match self.judge(class, net) {
                Use::Preferred => None,
                Use::Fallback => {
                    if let Some(n) = net.filter(|n| !c.fallbacks.contains(n)) {
                        c.fallbacks.push(n);
                    }
                    return Status::Fallback;
                }
                Use::FallbackFail => Some(place.fallback_fail(name, cname)),
                Use::NotAllowed => Some(place.not_allowed(name, cname, &self.allowed_list(class))),
            }
        };
        let Some(reason) = reason else {
            return Status::Preferred;
        };
        c.reasons.push(reason);
        c.leaked_onto.get_or_insert(net);
        match place {
            Place::Address => {
                c.by_address = true;
                c.network.get_or_insert(net);
            }
            Place::Interface(i) => {
                c.interface.get_or_insert_with(|| i.to_string());
            }
            Place::Vlan(v) => {
                c.vlan.get_or_insert(v);
            }
        }
        Status::Violation
    }

    fn allowed_list(&self, class: ClassId) -> String {
        match self
            .classes
            .get(usize::from(class.0))
            .and_then(|c| c.networks.as_ref())
        {
            Some(nets) if nets.is_empty() => "none".into(),
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
            .chain(check.vlan_status.iter().map(|(_, s)| *s))
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

    /// Status of one of the VLANs the flow was seen with (as for NICs).
    pub fn vlan_status(&self, vlan: u16) -> Status {
        self.detail
            .as_ref()
            .and_then(|d| d.vlan_status.iter().find(|(v, _)| *v == vlan))
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
