//! Hosts, roles and capture interfaces: the cluster nodes from
//! `Get-ClusterNetworkInterface`, and `--interface NAME=ADDR|NETWORK`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::inputs::{Inputs, NodeIface};
use super::layout::Cluster;
use super::plan::{q, HostPlan, Plan};
use super::source::InputError;

/// `[hosts]`, `roles.cluster_nodes` and `[interfaces]` from the cluster's
/// network interfaces. An adapter name is an interface key when every node
/// that has it puts it on the same network (consistent names are the usual
/// practice); otherwise each is keyed `NODE/ADAPTER`, which applies to the
/// captures taken on NODE only (`audit --node`, or inferred).
pub fn cluster(
    path: &str,
    ifaces: &[NodeIface],
    cluster: &Cluster,
    plan: &mut Plan,
) -> Result<(), InputError> {
    for i in ifaces {
        if !cluster.nets.iter().any(|n| n.name == i.network) {
            return Err(InputError::file(
                path,
                format!(
                    "interface {} of {} is on network {:?}, which the cluster networks do not list",
                    q(&i.adapter),
                    i.node,
                    i.network
                ),
            ));
        }
    }
    let mut nodes: Vec<String> = Vec::new();
    for i in ifaces {
        if !nodes.contains(&i.node) {
            nodes.push(i.node.clone());
        }
    }
    // A node without any address cannot be a host (or in a role).
    nodes.retain(|n| ifaces.iter().any(|i| &i.node == n && i.address.is_some()));
    for node in &nodes {
        let addrs: Vec<IpAddr> = ifaces
            .iter()
            .filter(|i| &i.node == node)
            .filter_map(|i| i.address)
            .collect();
        if !addrs.is_empty() {
            plan.merge_host(HostPlan {
                name: node.clone(),
                addrs,
                why: format!("cluster node, its interfaces' addresses ({path})"),
            });
        }
    }
    if !nodes.is_empty() {
        plan.roles.push((
            "cluster_nodes",
            nodes.clone(),
            format!("the nodes of {path}: CSV redirected SMB is SMB between two cluster nodes."),
        ));
    }
    adapters(path, ifaces, &nodes, plan);
    Ok(())
}

/// `[interfaces]`: each adapter name and its network. A `NODE/ADAPTER`
/// key needs NODE in `[hosts]`: a node without any address has no key.
fn adapters(path: &str, ifaces: &[NodeIface], hosts: &[String], plan: &mut Plan) {
    let mut by_adapter: BTreeMap<&str, Vec<&NodeIface>> = BTreeMap::new();
    for i in ifaces {
        by_adapter.entry(i.adapter.as_str()).or_default().push(i);
    }
    for (adapter, list) in by_adapter {
        let same = list.iter().all(|i| i.network == list[0].network);
        if same {
            let nodes: Vec<&str> = list.iter().map(|i| i.node.as_str()).collect();
            plan.interfaces.push((
                adapter.to_string(),
                list[0].network.clone(),
                format!("{path}: {} on {}", q(adapter), nodes.join(", ")),
            ));
        } else {
            for i in list.into_iter().filter(|i| hosts.contains(&i.node)) {
                plan.interfaces.push((format!("{}/{}", i.node, adapter), i.network.clone(), format!("{path}: {} on {} (the adapter name means different networks on different nodes, so it is keyed NODE/ADAPTER: it applies to captures taken on {})", q(adapter), i.node, i.node)));
            }
        }
    }
}

/// `--interface NAME=ADDR|NETWORK`: the network holding ADDR (longest
/// prefix), or the network so named.
pub fn flags(inputs: &Inputs, plan: &mut Plan) -> Result<(), InputError> {
    for m in &inputs.nics {
        let network = match m.target.parse::<IpAddr>() {
            Ok(addr) => plan
                .networks
                .iter()
                .flat_map(|n| n.prefixes.iter().map(move |p| (p, &n.name)))
                .filter(|(p, _)| p.contains(&addr))
                .max_by_key(|(p, _)| p.prefix_len())
                .map(|(_, n)| n.clone())
                .ok_or_else(|| InputError {
                    place: m.origin.clone(),
                    message: format!("{addr} is on no derived network"),
                })?,
            Err(_) => plan
                .network(&m.target)
                .map(|n| n.name.clone())
                .ok_or_else(|| InputError {
                    place: m.origin.clone(),
                    message: format!(
                        "{:?} is neither an address nor a derived network ({})",
                        m.target,
                        plan.networks
                            .iter()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?,
        };
        if let Some((_, other, _)) = plan.interfaces.iter().find(|(n, _, _)| n == &m.nic) {
            if other != &network {
                return Err(InputError {
                    place: m.origin.clone(),
                    message: format!("interface {} is already on network {}", q(&m.nic), q(other)),
                });
            }
            continue;
        }
        plan.interfaces.push((
            m.nic.clone(),
            network,
            format!("{} (its network)", m.origin),
        ));
    }
    Ok(())
}
