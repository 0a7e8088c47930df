//! Capture interfaces: interned by the most readable name a capture gives
//! them, each with the network its best `[interfaces]` key maps it to
//! (resolved once, when the interface is registered), and what the keys
//! matched, for the report's warnings.
//!
//! The readable name: Npcap/dumpcap name a NIC `\Device\NPF_{GUID}` and
//! put its friendly alias ("vEthernet (LM)") in `if_description`, so the
//! alias is shown; otherwise `if_name` (or the `PATH=NAME` name), then the
//! description, then the MAC address. Two interfaces of one capture with
//! the same readable name (etl2pcapng names pktmon components by driver
//! file, `wfplwfs.sys`, shared by many) are told apart by their position.

use rustc_hash::FxHashMap;

use capture::Interface;

use crate::policy::{mac_text, NetId, Nic, Policy};
use crate::{CaptureId, IfaceRef};

/// What the `[interfaces]` keys matched of one registered interface.
#[derive(Clone, Debug)]
struct Hit {
    capture: CaptureId,
    iface: IfaceRef,
    /// Matching keys, best first.
    keys: Vec<usize>,
}

/// The interned interfaces.
#[derive(Debug, Default)]
pub(crate) struct Nics {
    names: Vec<String>,
    nets: Vec<Option<NetId>>,
    index: FxHashMap<String, IfaceRef>,
    hits: Vec<Hit>,
}

impl Nics {
    /// The interface named `name` (a live NIC, SLL2's `ifindex:N`, a
    /// `PATH=NAME`) of host `node`, interned with its network.
    pub fn intern(&mut self, policy: &Policy, name: &str, node: Option<&str>) -> IfaceRef {
        let net = policy.interface_network(name, node);
        match (node, self.index.get(name)) {
            // The same name on another host, on another network.
            (Some(h), Some(r)) if self.nets[r.0 as usize] != net => {
                self.intern_with(&format!("{h}/{name}"), net)
            }
            _ => self.intern_with(name, net),
        }
    }

    fn intern_with(&mut self, name: &str, net: Option<NetId>) -> IfaceRef {
        if let Some(r) = self.index.get(name) {
            return *r;
        }
        let r = IfaceRef(self.names.len() as u32);
        self.names.push(name.to_string());
        self.nets.push(net);
        self.index.insert(name.to_string(), r);
        r
    }

    /// Registers interface `i` of `capture`, taken on host `node`
    /// (`siblings`: the interfaces of the capture registered so far);
    /// `None` when it has no name at all.
    pub fn register(
        &mut self,
        policy: &Policy,
        (capture, node): (CaptureId, Option<&str>),
        i: &Interface,
        siblings: &[IfaceRef],
    ) -> Option<IfaceRef> {
        let nic = Nic {
            name: i.name.as_deref(),
            description: i.description.as_deref(),
            mac: i.mac,
        };
        let keys = policy.nic_keys_matching(&nic, node);
        let net = keys.first().and_then(|&k| policy.nic_key(k)).map(|k| k.2);
        let mut name = readable(i)?;
        let clash = |r: &IfaceRef| siblings.contains(r) || self.nets[r.0 as usize] != net;
        if self.index.get(&name).is_some_and(clash) {
            // One adapter name on two hosts, each on its own network: the
            // host tells them apart, as its `HOST/KEY` key does.
            name = match (node, i.name.as_deref().filter(|n| *n != name)) {
                (Some(h), _) if !siblings.contains(&self.index[&name]) => format!("{h}/{name}"),
                (_, Some(n)) => format!("{name} ({n})"),
                (_, None) => format!("{name} #{}", siblings.len()),
            };
        }
        let r = self.intern_with(&name, net);
        self.hits.push(Hit {
            capture,
            iface: r,
            keys,
        });
        Some(r)
    }

    /// Records that a name-only interface (SLL2's index) appeared in
    /// `capture`, taken on host `node`, once.
    pub fn seen_in(
        &mut self,
        policy: &Policy,
        (capture, node): (CaptureId, Option<&str>),
        r: IfaceRef,
    ) {
        if self
            .hits
            .iter()
            .any(|h| h.capture == capture && h.iface == r)
        {
            return;
        }
        let keys = policy.nic_keys_matching(&Nic::named(self.name(r)), node);
        self.hits.push(Hit {
            capture,
            iface: r,
            keys,
        });
    }

    /// Resolves every interface's network again under `policy` (a reload),
    /// by its name, as [`Nics::intern`] does, as interfaces of host `node`
    /// (a reload serves the daemon, whose NICs are all one host's); what
    /// the keys matched is matched again by name only.
    pub fn relink(&mut self, policy: &Policy, node: Option<&str>) {
        for (name, net) in self.names.iter().zip(self.nets.iter_mut()) {
            *net = policy.interface_network(name, node);
        }
        for h in &mut self.hits {
            let name = self
                .names
                .get(h.iface.0 as usize)
                .map_or("", String::as_str);
            h.keys = policy.nic_keys_matching(&Nic::named(name), node);
        }
    }

    /// An interned interface's name.
    pub fn name(&self, r: IfaceRef) -> &str {
        self.names.get(r.0 as usize).map_or("?", String::as_str)
    }

    /// The network an interned interface is attached to.
    pub fn net(&self, r: IfaceRef) -> Option<NetId> {
        self.nets.get(r.0 as usize).copied().flatten()
    }

    /// For each `[interfaces]` key, whether it matched an interface of a
    /// capture and which captures had several interfaces it matched; and
    /// the interfaces that several keys of different networks matched.
    /// `source` names a capture.
    pub fn findings(&self, policy: &Policy, source: impl Fn(CaptureId) -> String) -> NicFindings {
        let mut keys = Vec::new();
        for k in 0..policy.nic_key_count() {
            let Some((key, _, net)) = policy.nic_key(k) else {
                continue;
            };
            let with: Vec<&Hit> = self.hits.iter().filter(|h| h.keys.contains(&k)).collect();
            let mut out = Vec::new();
            let mut captures: Vec<CaptureId> = with.iter().map(|h| h.capture).collect();
            captures.dedup();
            for c in captures {
                let names: Vec<&str> = with
                    .iter()
                    .filter(|h| h.capture == c)
                    .map(|h| self.name(h.iface))
                    .collect();
                if names.len() > 1 {
                    out.push(format!(
                        "[interfaces] {key:?} matches {} interfaces of {} ({}): each is judged as network {}",
                        names.len(),
                        source(c),
                        names.join(", "),
                        policy.network_name(net)
                    ));
                }
            }
            keys.push(NicKeyFinding {
                key: key.to_string(),
                matched: !with.is_empty(),
                several: out,
                host: policy.nic_key_host(k).map(str::to_string),
            });
        }
        NicFindings {
            keys,
            conflicts: self.conflicts(policy, &source),
        }
    }

    /// Interfaces matched by keys of different networks.
    fn conflicts(&self, policy: &Policy, source: &impl Fn(CaptureId) -> String) -> Vec<String> {
        let mut out = Vec::new();
        for h in &self.hits {
            // A `HOST/KEY` key overrides the keys without a host on purpose.
            let scoped = |k: &usize| policy.nic_key_host(*k).is_some();
            let best = h.keys.first().is_some_and(scoped);
            let keys: Vec<(&str, NetId)> = h
                .keys
                .iter()
                .filter(|k| scoped(k) == best)
                .filter_map(|&k| policy.nic_key(k))
                .map(|(s, _, n)| (s, n))
                .collect();
            if keys
                .iter()
                .all(|(_, n)| Some(*n) == keys.first().map(|k| k.1))
            {
                continue;
            }
            let listed: Vec<String> = keys
                .iter()
                .map(|(s, n)| format!("{s:?} ({})", policy.network_name(*n)))
                .collect();
            out.push(format!(
                "{}: interface {} matches [interfaces] keys of different networks, {}: judged as network {} (the first)",
                source(h.capture),
                self.name(h.iface),
                listed.join(", "),
                policy.network_name(keys[0].1)
            ));
        }
        out
    }
}

/// What one `[interfaces]` key matched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NicKeyFinding {
    /// The key as written.
    pub key: String,
    /// It matched an interface of some capture.
    pub matched: bool,
    /// Warnings: a capture with several interfaces it matched.
    pub several: Vec<String>,
    /// The host of a `HOST/KEY` key (absent from older summaries).
    #[cfg_attr(feature = "serde", serde(default))]
    pub host: Option<String>,
}

/// The `[interfaces]` keys' findings, in key order, and the interfaces
/// keys of different networks matched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NicFindings {
    pub keys: Vec<NicKeyFinding>,
    pub conflicts: Vec<String>,
}

impl NicFindings {
    /// The report's warnings, in key order, then the conflicts.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for k in &self.keys {
            match (&k.host, k.matched) {
                (_, true) => {}
                (None, false) => out.push(format!(
                    "[interfaces] {:?} matches no interface of any capture read: no frame was judged by it",
                    k.key
                )),
                (Some(h), false) => out.push(format!(
                    "[interfaces] {:?} matches no interface of any capture judged as taken on {h}: no frame was judged by it",
                    k.key
                )),
            }
            out.extend(k.several.iter().cloned());
        }
        out.extend(self.conflicts.iter().cloned());
        out
    }
}

/// The most readable name of an interface (see the module comment).
fn readable(i: &Interface) -> Option<String> {
    let description = i
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    match (i.name.as_deref(), description) {
        (Some(n), Some(d)) if capture::is_npf(n) => Some(d.to_string()),
        (Some(n), _) => Some(n.to_string()),
        (None, Some(d)) => Some(d.to_string()),
        (None, None) => i.mac.map(mac_text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture::LinkType;
    use std::collections::BTreeMap;

    fn policy(keys: &[(&str, u16)]) -> Policy {
        let nets = ["backup", "primary"]
            .iter()
            .map(|n| crate::policy::Network {
                name: n.to_string(),
                prefixes: vec![],
            })
            .collect();
        let ifaces: BTreeMap<String, NetId> = keys
            .iter()
            .map(|(k, n)| (k.to_string(), NetId(*n)))
            .collect();
        Policy::new(
            nets,
            ifaces,
            BTreeMap::new(),
            Default::default(),
            vec![],
            vec![],
        )
    }

    fn npcap(guid: &str, alias: &str) -> Interface {
        Interface {
            description: Some(alias.into()),
            ..Interface::named(
                Some(format!("\\Device\\NPF_{{{guid}}}")),
                LinkType::ETHERNET,
                0,
            )
        }
    }

    const G1: &str = "8E6E56A3-0FB3-47BF-836C-B7E6C8002A9E";
    const G2: &str = "5AE6EDB4-EFF9-46B3-A3C2-EE50C688A9E6";

    #[test]
    fn npcap_interfaces_show_their_alias_and_match_by_guid_or_alias() {
        let p = policy(&[
            (&format!("{{{}}}", G1.to_lowercase()), 0),
            ("Ethernet 2", 1),
        ]);
        let mut n = Nics::default();
        let cap = CaptureId(0);
        let a = n
            .register(&p, (cap, None), &npcap(G1, "vEthernet (Backup)"), &[])
            .unwrap();
        let b = n
            .register(&p, (cap, None), &npcap(G2, "Ethernet 2"), &[a])
            .unwrap();
        assert_eq!(
            (n.name(a), n.net(a)),
            ("vEthernet (Backup)", Some(NetId(0)))
        );
        assert_eq!((n.name(b), n.net(b)), ("Ethernet 2", Some(NetId(1))));
        assert!(n.findings(&p, |_| "c".into()).warnings().is_empty());
    }

    #[test]
    fn unmatched_ambiguous_and_conflicting_keys_are_warnings() {
        let p = policy(&[("ifindex:12", 0), ("eth:12:20", 1), ("ifindex:99", 0)]);
        let mut n = Nics::default();
        let cap = CaptureId(0);
        let named = |s: &str| Interface::named(Some(s.into()), LinkType::ETHERNET, 0);
        let a = n
            .register(&p, (cap, None), &named("eth:12:0"), &[])
            .unwrap();
        let b = n
            .register(&p, (cap, None), &named("eth:12:20"), &[a])
            .unwrap();
        // The exact name outranks the index.
        assert_eq!((n.net(a), n.net(b)), (Some(NetId(0)), Some(NetId(1))));
        let w = n.findings(&p, |_| "x.pcapng".into()).warnings();
        assert_eq!(
            w,
            [
                "[interfaces] \"ifindex:12\" matches 2 interfaces of x.pcapng (eth:12:0, eth:12:20): each is judged as network backup",
                "[interfaces] \"ifindex:99\" matches no interface of any capture read: no frame was judged by it",
                "x.pcapng: interface eth:12:20 matches [interfaces] keys of different networks, \"eth:12:20\" (primary), \"ifindex:12\" (backup): judged as network primary (the first)",
            ]
        );
    }

    #[test]
    fn same_readable_names_in_one_capture_are_told_apart() {
        let p = policy(&[]);
        let mut n = Nics::default();
        let sys = |d: &str| Interface {
            description: Some(d.into()),
            ..Interface::named(Some("wfplwfs.sys".into()), LinkType::ETHERNET, 0)
        };
        let a = n
            .register(
                &p,
                (CaptureId(0), None),
                &sys("WFP Native MAC Layer LightWeight Filter"),
                &[],
            )
            .unwrap();
        let b = n
            .register(
                &p,
                (CaptureId(0), None),
                &sys("WFP 802.3 MAC Layer LightWeight Filter"),
                &[a],
            )
            .unwrap();
        assert_eq!((n.name(a), n.name(b)), ("wfplwfs.sys", "wfplwfs.sys #1"));
        // Another capture's interface of the same name and network is the same NIC name.
        let c = n
            .register(&p, (CaptureId(1), None), &sys("x"), &[])
            .unwrap();
        assert_eq!(c, a);
    }

    #[test]
    fn host_keys_apply_to_their_hosts_captures_only() {
        let mut p = policy(&[
            ("node1/Ethernet 2", 0),
            ("NODE2/Ethernet 2", 1),
            ("Ethernet 2", 1),
        ]);
        for (h, a) in [("node1", "10.0.0.1"), ("node2", "10.0.0.2")] {
            p.hosts.insert(h.into(), vec![a.parse().unwrap()]);
        }
        // Host names are read when the keys are.
        let p = Policy::new(
            p.networks.clone(),
            p.interfaces.clone(),
            p.hosts.clone(),
            Default::default(),
            vec![],
            vec![],
        );
        let mut n = Nics::default();
        let nic = Interface::named(Some("Ethernet 2".into()), LinkType::ETHERNET, 0);
        // node1's own key outranks the key without a host.
        let a = n
            .register(&p, (CaptureId(0), Some("node1")), &nic, &[])
            .unwrap();
        let b = n
            .register(&p, (CaptureId(1), Some("node2")), &nic, &[])
            .unwrap();
        let c = n.register(&p, (CaptureId(2), None), &nic, &[]).unwrap();
        assert_eq!((n.name(a), n.net(a)), ("Ethernet 2", Some(NetId(0))));
        assert_eq!((n.name(b), n.net(b)), ("node2/Ethernet 2", Some(NetId(1))));
        assert_eq!(
            n.net(c),
            Some(NetId(1)),
            "no host: only the key without one"
        );
        // An override is no conflict, and every key matched.
        assert!(n.findings(&p, |_| "c".into()).warnings().is_empty());
        assert_eq!(p.host_keys(), ["NODE2/Ethernet 2", "node1/Ethernet 2"]);
    }
}
