//! The traffic metric of flows whose class is still open. A packet is
//! counted under its flow's class and policy status, but while evidence may
//! still change that class (SMB between cluster nodes, RPC with a DPM
//! server, up to the analyzer's evidence window) it is held here instead,
//! by NIC, and added to the metric once the class is decided: under the
//! decided class and status, so no byte of a leak is ever shown as
//! `preferred`. Prometheus counters only go up (a decrease reads as a
//! restart), so bytes are not moved between series once counted: they are
//! counted late, once, where they belong. A flow that leaves the table, or
//! ends (RST, or FIN each way), still open is counted under its last class
//! (what audit reports for it).

use analyzer::class::ClassId;
use analyzer::flow::{FlowKey, Slot};
use analyzer::policy::{NetId, Status};
use analyzer::state::FlowState;
use analyzer::IfaceRef;
use rustc_hash::FxHashMap;

use super::{Daemon, Pending};

/// One open flow's traffic not yet in the metric.
pub(in crate::watch) struct Held {
    /// (NIC, packets, bytes).
    by_nic: Vec<(IfaceRef, u64, u64)>,
    /// The flow's class, networks and status when last seen, for a flow
    /// that leaves the table before its class is decided.
    labels: Labels,
}

/// What the traffic metric counts a flow's packets under.
#[derive(Clone)]
struct Labels {
    class: ClassId,
    nets: Vec<Option<NetId>>,
    status: Status,
}

impl Labels {
    fn of(slot: &Slot<FlowState>, class: ClassId) -> Self {
        Labels {
            class,
            nets: slot.ext.nets.to_vec(),
            status: slot.ext.verdict.status,
        }
    }
}

/// A TCP connection that ended: an RST, or a FIN each way.
fn ended(flow: &analyzer::flow::Flow) -> bool {
    flow.ends & 4 != 0 || flow.ends & 3 == 3
}

/// Open flows' held traffic, by flow.
pub(in crate::watch) type HeldTraffic = FxHashMap<FlowKey, Held>;

/// Counts a packet of `wire` bytes on `iface` in the traffic metric, or
/// holds it while the flow's class is open; a flow whose class was just
/// decided adds what was held under that class.
pub(super) fn count(
    held: &mut HeldTraffic,
    pending: &mut Pending,
    slot: &Slot<FlowState>,
    class: ClassId,
    (iface, wire): (IfaceRef, u64),
) {
    let labels = Labels::of(slot, class);
    if slot.ext.open {
        let h = held.entry(slot.flow.key).or_insert_with(|| Held {
            by_nic: Vec::new(),
            labels: labels.clone(),
        });
        h.labels = labels;
        match h.by_nic.iter_mut().find(|n| n.0 == iface) {
            Some(n) => (n.1, n.2) = (n.1 + 1, n.2 + wire),
            None => h.by_nic.push((iface, 1, wire)),
        }
        return;
    }
    if let Some(h) = held.remove(&slot.flow.key) {
        for (nic, packets, bytes) in h.by_nic {
            add(pending, &labels, nic, (packets, bytes));
        }
    }
    add(pending, &labels, iface, (1, wire));
}

fn add(pending: &mut Pending, l: &Labels, iface: IfaceRef, (packets, bytes): (u64, u64)) {
    for &net in &l.nets {
        let e = pending
            .traffic
            .entry((l.class, net, iface, l.status))
            .or_insert((0, 0));
        e.0 += packets;
        e.1 += bytes;
    }
}

impl Daemon {
    /// Counts the held traffic of flows that left the table with their
    /// class still open, under their last class (once a tick).
    pub(in crate::watch) fn release_gone(&mut self) {
        self.release(false);
    }

    /// Counts the held traffic of every flow, under its class now (the end
    /// of capture decides every class), or only (`all` false) of flows
    /// that left the table or ended (an RST, or a FIN each way: no more
    /// evidence can come, and the flow may stay in the table for its idle
    /// timeout).
    pub(in crate::watch) fn release(&mut self, all: bool) {
        if self.held.is_empty() {
            return;
        }
        if all {
            self.relabel_held();
        }
        let keys: Vec<FlowKey> = self.held.keys().copied().collect();
        let gone: Vec<FlowKey> = keys
            .into_iter()
            .filter(|k| all || self.an.slot_mut(k).is_none_or(|s| ended(&s.flow)))
            .collect();
        for k in gone {
            if let Some(h) = self.held.remove(&k) {
                for (nic, packets, bytes) in h.by_nic {
                    add(&mut self.pending, &h.labels, nic, (packets, bytes));
                }
            }
        }
    }

    /// After a policy reload: the held flows' labels under the new policy's
    /// ids (those that left the table were counted before it).
    pub(in crate::watch) fn relabel_held(&mut self) {
        for (k, h) in self.held.iter_mut() {
            if let Some(slot) = self.an.slot_mut(k) {
                if let Some(class) = slot.ext.class {
                    h.labels = Labels::of(slot, class);
                }
            }
        }
    }
}
