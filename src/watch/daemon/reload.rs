//! SIGHUP: the alert file is reopened and the policy read again. A valid
//! policy replaces the old one without forgetting anything: flows keep
//! their counters and evidence and are judged again under it
//! ([`analyzer::Analyzer::replace_policy`]); only what changed is told. A
//! flow that now violates raises its leak, a leak whose flows no longer
//! violate ends (its reason names the reload), and a flow whose standing
//! is unchanged raises nothing and is not counted again.

use std::collections::HashSet;

use analyzer::flow::FlowKey;
use rustc_hash::FxHashMap;

use super::{class_names, leak_key, mark, Daemon, Event, Judge, LeakKey};
use crate::config;

/// What a judged flow was before a reload: its leak key if it violated,
/// and whether it used a fallback network.
type Standing = (Option<LeakKey>, bool);

impl Daemon {
    /// SIGHUP: reload the policy (keep the old one if the new is invalid)
    /// and reopen the alert file.
    pub(in crate::watch) fn reload(&mut self) {
        self.sinks.reopen();
        match config::load(&self.policy_path) {
            Ok(p) => {
                // Counts by id are named under the policy they were made with.
                self.release_gone();
                self.fold_counts();
                let before = self.standing();
                // The host watch runs on, decided again: the new [hosts]
                // may name it otherwise.
                let node = crate::node::local(self.node.as_deref(), &p)
                    .ok()
                    .and_then(|n| n.name);
                for &(c, _) in &self.ids {
                    self.an.set_node(c, node.as_deref());
                }
                self.an.replace_policy(p.clone());
                self.relabel_held();
                self.class_names = class_names(&p);
                self.policy = p;
                *self.metrics.reloads.entry("ok").or_insert(0) += 1;
                let mut said = format!("{} loaded", self.policy_path.display());
                let missing = uncaptured(&self.policy, &self.names);
                if !missing.is_empty() {
                    said += &format!(
                        "; its [interfaces] name NICs watch does not capture ({}): restart watch to capture them",
                        missing.join(", ")
                    );
                    log::warn!("{said}");
                }
                self.events
                    .push(Event::plain("policy-reloaded", None, said));
                self.rejudge(&before);
            }
            Err(e) => {
                *self.metrics.reloads.entry("rejected").or_insert(0) += 1;
                log::error!("policy reload rejected, keeping the previous one: {e:#}");
                self.events
                    .push(Event::plain("policy-rejected", None, format!("{e:#}")));
            }
        }
        self.flush_events();
    }

    /// The standing of every judged flow (flows still waiting for their
    /// evidence are judged when their wait is over, under the new policy).
    fn standing(&self) -> FxHashMap<FlowKey, Standing> {
        self.an
            .slots()
            .filter(|s| s.ext.mark & mark::JUDGED != 0)
            .filter_map(|s| {
                let class = s.ext.class?;
                let v = &s.ext.verdict;
                let leak = v.violates().then(|| leak_key(&self.class_names, s, class));
                Some((s.flow.key, (leak, v.fallback())))
            })
            .collect()
    }

    /// Judges again, under the new policy, the flows judged before: a
    /// changed standing is told, an unchanged one is not.
    fn rejudge(&mut self, before: &FxHashMap<FlowKey, Standing>) {
        let mut violating = HashSet::new();
        for (key, (was, fell_back)) in before {
            let Some(slot) = self.an.slot_mut(key) else {
                continue;
            };
            let (Some(class), Some(iface)) =
                (slot.ext.class, slot.flow.ifaces.last().map(|s| s.iface))
            else {
                continue;
            };
            let v = &slot.ext.verdict;
            let now = v
                .violates()
                .then(|| leak_key(&self.class_names, slot, class));
            let changed = match &now {
                Some(k) => was.as_ref() != Some(k),
                None => v.fallback() && !fell_back,
            };
            if let Some(k) = now {
                violating.insert(k);
            }
            if changed {
                judge!(self).flow(slot, iface, None, std::time::Instant::now());
            }
        }
        let reason = format!(
            "policy reloaded from {}: no longer a violation",
            self.policy_path.display()
        );
        let mut ended = HashSet::new();
        for (was, _) in before.values() {
            let Some(k) = was else { continue };
            if !violating.contains(k) && ended.insert(k.clone()) {
                self.engine.end(k, &reason, &mut self.events);
            }
        }
    }
}

/// The NICs a policy's `[interfaces]` names that are not among `captured`:
/// watch picks its NICs when it starts, so a reload cannot add one.
fn uncaptured(p: &analyzer::policy::Policy, captured: &[String]) -> Vec<String> {
    crate::verify::named_nics(p)
        .into_iter()
        .filter(|k| !captured.contains(k))
        .collect()
}
