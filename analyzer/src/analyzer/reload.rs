//! A policy replaced while flows are tracked (the daemon's SIGHUP): every
//! flow keeps its counters and evidence, and is classified and judged again
//! under the new policy from what it already holds (its tuple, learned
//! endpoint, share paths and RPC interfaces), as if it had been tracked
//! under that policy from its first packet.

use super::{add_nets, hook, host_addresses, judge, tuple, Analyzer};
use crate::classify::{Classifier, Clues, Reason};
use crate::evidence::stage::may_open;
use crate::flow::Slot;
use crate::policy::Policy;
use crate::state::FlowState;

impl Analyzer {
    /// Checks every tracked flow, and those to come, against `policy`.
    ///
    /// Class and network ids are the new policy's from here on. Per-class
    /// series are not moved between policies: this is for an analyzer
    /// without series (the daemon's, `AnalyzerConfig::series = false`);
    /// SYN repeats noted before are forgotten. A flow whose dissector was
    /// not chosen (or chosen and closed) under the old policy is not read
    /// again: evidence is only gathered from its first payload on.
    pub fn replace_policy(&mut self, policy: Policy) {
        debug_assert!(!self.stats.enabled(), "series are not re-keyed");
        self.host_of = host_addresses(&policy);
        let node = self.captures.first().and_then(|c| c.node.clone());
        self.nics.relink(&policy, node.as_deref());
        self.policy = policy;
        self.twice.clear();
        let classifier = Classifier::new(&self.policy);
        for slot in self.table.active_mut() {
            let on_link = slot
                .flow
                .ifaces
                .first()
                .and_then(|s| self.nics.net(s.iface));
            reclassify(slot, &classifier, on_link);
            if let Some(class) = slot.ext.class {
                hook(&mut slot.ext, class, &mut self.stats);
            }
            slot.ext.verdict_for = None;
            judge(slot, &self.policy, &self.nics);
        }
    }
}

/// A tracked flow's networks and class under `classifier`'s policy, from
/// what the flow holds; an open class that the new policy no longer lets
/// evidence change is closed.
fn reclassify(
    slot: &mut Slot<FlowState>,
    classifier: &Classifier<'_>,
    on_link: Option<crate::policy::NetId>,
) {
    let t = tuple(&slot.flow);
    let st = &mut slot.ext;
    st.nets.clear();
    add_nets(st, classifier.policy(), &t, on_link);
    if st.class.is_none() {
        return;
    }
    let clues = Clues {
        learned: st.learned.as_deref(),
        shares: st.deciding_shares(),
        interfaces: st.interfaces(),
        note: st.smb_note(),
    };
    let c = match &st.reason {
        Some(Reason::Icmp(about)) => classifier.classify_icmp_error(&about.0, &clues),
        _ => classifier.classify(&t, &clues),
    };
    st.set(c);
    if st.open && !may_open(classifier, &t) {
        st.close();
    }
}
