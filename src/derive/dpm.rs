//! DPM's rules (seed 000): backup data on the backup networks in
//! `-SequenceNumber` order, the primary network only when it was added as a
//! later sequence (the fallback), everything else on the primary network,
//! and each server resolving the other's backup address.
//!
//! The primary network is the one holding each server's first address:
//! seed 000's table lists the primary NIC address before the backup one,
//! and so do `--dpm-server` and `--protected-server`.

use std::net::IpAddr;

use ipnet::IpNet;

use super::inputs::{Backup, Inputs, Server};
use super::layout::Cluster;
use super::plan::{list, q, ClassPlan, DnsPlan, Fallback, HostPlan, NetPlan, Plan};
use super::source::InputError;

/// The name of the primary network when no cluster network holds it.
pub const PRIMARY: &str = "primary";

/// What the DPM rules chose, for the lints.
#[derive(Clone, Debug, Default)]
pub struct Dpm {
    /// Backup networks in sequence order, each with its network's name.
    pub backups: Vec<(Backup, String)>,
    /// The primary network's name, when servers were given.
    pub primary: Option<String>,
    /// Every network holding a server's first address, the primary first:
    /// where control, name resolution and clients stay.
    pub primary_side: Vec<String>,
    /// Servers without an address on any backup network but the primary.
    pub uncovered: Vec<String>,
}

impl Dpm {
    /// The primary network is one of the backup networks (seed 000's fallback).
    pub fn primary_is_backup(&self) -> bool {
        self.primary
            .as_ref()
            .is_some_and(|p| self.backups.iter().any(|(_, n)| n == p))
    }
}

/// Applies the DPM rules to `inputs`, adding to `plan`.
pub fn plan(
    inputs: &Inputs,
    cluster: Option<&Cluster>,
    plan: &mut Plan,
) -> Result<Dpm, InputError> {
    let servers: Vec<&Server> = inputs.dpm_servers.iter().chain(&inputs.protected).collect();
    let firsts: Vec<IpAddr> = servers
        .iter()
        .filter_map(|s| s.addrs.first().copied())
        .collect();
    let mut dpm = backup_networks(inputs, cluster, &firsts, plan)?;
    if !servers.is_empty() && dpm.primary.is_none() {
        dpm.primary_side = primary_nets(inputs, cluster, &firsts, plan)?;
        dpm.primary = dpm.primary_side.first().cloned();
    } else {
        dpm.primary_side = dpm.primary.iter().cloned().collect();
    }
    dpm.uncovered = servers
        .iter()
        .filter(|s| {
            !dpm.backups.iter().any(|(b, n)| {
                Some(n) != dpm.primary.as_ref() && s.addrs.iter().any(|a| b.prefix.contains(a))
            })
        })
        .map(|s| s.name.clone())
        .collect();
    if !dpm.backups.is_empty() {
        plan.merge_class(dpm_class(&dpm));
    }
    if !dpm.primary_side.is_empty() {
        primary_classes(&dpm.primary_side, plan);
    }
    hosts(inputs, plan);
    if let Some(rule) = dns_rule(&dpm, &servers) {
        plan.dns.push(rule);
    }
    Ok(dpm)
}

/// The backup networks in sequence order, each named: a cluster network
/// with the same prefix keeps its name, the one holding the servers' first
/// addresses is `primary`, the others `backup` (or `backup-1`, `backup-2`…
/// when there are several).
fn backup_networks(
    inputs: &Inputs,
    cluster: Option<&Cluster>,
    firsts: &[IpAddr],
    plan: &mut Plan,
) -> Result<Dpm, InputError> {
    let mut backups = inputs.backups.clone();
    backups.sort_by_key(|b| b.sequence);
    for (i, b) in backups.iter().enumerate() {
        if let Some(first) = backups[..i].iter().find(|x| x.prefix == b.prefix) {
            return Err(InputError {
                place: b.origin.clone(),
                message: format!(
                    "backup network {} is given twice (also {})",
                    b.prefix, first.origin
                ),
            });
        }
    }
    let cluster_name = |p: &IpNet| -> Option<String> {
        cluster?
            .nets
            .iter()
            .find(|n| n.prefixes.contains(p))
            .map(|n| n.name.clone())
    };
    let is_primary = |p: &IpNet| firsts.iter().any(|a| p.contains(a));
    let dedicated = backups
        .iter()
        .filter(|b| cluster_name(&b.prefix).is_none() && !is_primary(&b.prefix))
        .count();
    let mut k = 0;
    let mut dpm = Dpm::default();
    for b in backups {
        let primary = is_primary(&b.prefix);
        let name = cluster_name(&b.prefix).unwrap_or_else(|| match (primary, dedicated) {
            (true, _) => PRIMARY.to_string(),
            (false, 1) => "backup".into(),
            (false, _) => {
                k += 1;
                format!("backup-{k}")
            }
        });
        match plan.network(&name) {
            None => plan.networks.push(backup_net(&name, &b, primary)),
            Some(n) if n.prefixes.contains(&b.prefix) => {}
            Some(_) => return Err(clash(&name, &b.origin)),
        }
        if primary {
            dpm.primary = Some(name.clone());
        }
        dpm.backups.push((b, name));
    }
    Ok(dpm)
}

/// A cluster network already has the name DPM's network would get.
fn clash(name: &str, origin: &str) -> InputError {
    InputError {
        place: origin.to_string(),
        message: format!("a cluster network is already called {name:?}, but DPM's {name} network is another one: rename the cluster network"),
    }
}

fn backup_net(name: &str, b: &Backup, primary: bool) -> NetPlan {
    let cleared = if b.given != b.prefix.to_string() {
        format!(" (DPM takes {} as {})", b.given, b.prefix)
    } else {
        String::new()
    };
    let role = if primary {
        "It holds the servers' first (primary) addresses: the primary network, added as a backup network."
    } else {
        "A backup network: a separate LAN for backup data (seed 000)."
    };
    NetPlan {
        name: name.to_string(),
        prefixes: vec![b.prefix],
        gap: false,
        why: vec![
            format!(
                "{}: DPM backup network, -SequenceNumber {}; {}{cleared}.",
                q(name),
                b.sequence,
                b.origin
            ),
            role.into(),
        ],
    }
}

/// The primary side when no backup network holds it: the cluster networks
/// holding servers' first addresses, and `primary` for first addresses no
/// cluster network holds (from `--address primary=…`, or those addresses
/// themselves). A first address inside a cluster network stays there: a
/// host prefix would take it off that network (longest match wins).
fn primary_nets(
    inputs: &Inputs,
    cluster: Option<&Cluster>,
    firsts: &[IpAddr],
    plan: &mut Plan,
) -> Result<Vec<String>, InputError> {
    let cluster_of = |a: &IpAddr| -> Option<String> {
        cluster?
            .nets
            .iter()
            .flat_map(|n| n.prefixes.iter().map(move |p| (p, &n.name)))
            .filter(|(p, _)| p.contains(a))
            .max_by_key(|(p, _)| p.prefix_len())
            .map(|(_, n)| n.clone())
    };
    let (mut names, mut loose) = (Vec::new(), Vec::new());
    for a in firsts {
        match cluster_of(a) {
            Some(n) if !names.contains(&n) => names.push(n),
            Some(_) => {}
            None => loose.push(IpNet::from(*a)),
        }
    }
    let given = inputs.addresses.iter().find(|a| a.name == PRIMARY);
    if loose.is_empty() && given.is_none() {
        return Ok(names);
    }
    if plan.network(PRIMARY).is_some() {
        return Err(clash(PRIMARY, "--dpm-server"));
    }
    let (prefixes, from) = match given {
        Some(a) => (vec![a.prefix], format!("Prefix from {}.", a.origin)),
        None => {
            loose.dedup();
            (loose, format!("No input gives its prefix: the servers' primary addresses only (give --address {} for the whole subnet).", q("primary=PREFIX")))
        }
    };
    plan.networks.push(NetPlan {
        name: PRIMARY.into(),
        prefixes,
        gap: false,
        why: vec!["\"primary\": the network of the servers' first addresses (--dpm-server, --protected-server; seed 000's primary NIC address) that no cluster network holds.".into(), from],
    });
    names.insert(0, PRIMARY.into());
    Ok(names)
}

fn dpm_class(dpm: &Dpm) -> ClassPlan {
    let names: Vec<String> =
        dpm.backups
            .iter()
            .map(|(_, n)| n.clone())
            .fold(Vec::new(), |mut v, n| {
                if !v.contains(&n) {
                    v.push(n);
                }
                v
            });
    let order: Vec<String> = dpm
        .backups
        .iter()
        .map(|(b, n)| format!("{} ({})", q(n), b.sequence))
        .collect();
    let mut why = vec![format!(
        "DPM backup data (TCP 5718/5719) on the backup networks in -SequenceNumber order, lowest first (Add-DPMBackupNetworkAddress; seed 000; protocol-facts §1): {}.",
        order.join(", ")
    )];
    why.push(match (&dpm.primary, dpm.primary_is_backup()) {
        (Some(p), true) => format!("The primary network {} was added as a backup network: seed 000's fallback, used when name lookup stops returning backup addresses; using it is a warning.", q(p)),
        (Some(p), false) => format!("The primary network {} was not added as a backup network (no fallback configured, seed 000): backup data there is a violation.", q(p)),
        (None, _) => "No servers given: the primary network is unknown.".into(),
    });
    if names.len() > 1 && !dpm.primary_is_backup() {
        why.push("A later backup network is a fallback: a warning.".into());
    }
    ClassPlan {
        class: "dpm",
        networks: names,
        on_fallback: Fallback::Warn,
        why,
    }
}

/// DCOM control, name resolution and clients stay on the primary network:
/// the backup LAN is for backup data (seed 000: "backup data traffic does
/// not impact the primary network", and the backup LAN carries nothing else).
fn primary_classes(primary: &[String], plan: &mut Plan) {
    let rows: [(&'static str, &str); 3] = [
        ("dpm-control", "DPM's DCOM control (TCP 135 and the ports it hands out) stays on the primary network: the backup network setting moves the data channel only (protocol-facts §1: suggested rule, not confirmed)."),
        ("dns", "Name resolution stays on the primary network (seed 000 checks lookups on each server; the backup LAN carries backup data only)."),
        ("client", "Client traffic stays on the primary network: the backup LAN is a separate LAN for backup data (seed 000)."),
    ];
    for (class, why) in rows {
        plan.merge_class(ClassPlan {
            class,
            networks: primary.to_vec(),
            on_fallback: Fallback::Allow,
            why: vec![why.into()],
        });
    }
}

fn hosts(inputs: &Inputs, plan: &mut Plan) {
    for (servers, what) in [
        (&inputs.dpm_servers, "DPM server"),
        (&inputs.protected, "protected server"),
    ] {
        for s in servers {
            plan.merge_host(HostPlan {
                name: s.name.clone(),
                addrs: s.addrs.clone(),
                why: format!("{what}, {}", s.origin),
            });
        }
    }
    if !inputs.dpm_servers.is_empty() {
        let names: Vec<String> = inputs.dpm_servers.iter().map(|s| s.name.clone()).collect();
        plan.roles.push((
            "dpm_servers",
            names,
            "--dpm-server: DPM's DCOM control is told apart by a DPM server at one end.".into(),
        ));
    }
}

/// Seed 000, step 1: each server resolves the other's backup address.
/// Written for servers named by FQDN (lookups are made on FQDNs) when the
/// primary is no fallback: with the fallback, a lookup without backup
/// addresses is what makes DPM fall back, which the fallback warning explains.
fn dns_rule(dpm: &Dpm, servers: &[&Server]) -> Option<DnsPlan> {
    let names: Vec<String> = servers
        .iter()
        .filter(|s| s.name.contains('.'))
        .map(|s| s.name.clone())
        .collect();
    let backups: Vec<String> = dpm
        .backups
        .iter()
        .map(|(_, n)| n.clone())
        .filter(|n| Some(n) != dpm.primary.as_ref())
        .collect();
    if names.is_empty() || backups.is_empty() || dpm.primary_is_backup() {
        return None;
    }
    Some(DnsPlan {
        why: vec![format!(
            "Seed 000, step 1: \"the name resolution of the protected server on the DPM server can resolve the backup address of the protected server and vice versa\": each answer for {} includes an address on {}.",
            list(&names.iter().map(String::as_str).collect::<Vec<_>>()),
            list(&backups.iter().map(String::as_str).collect::<Vec<_>>())
        )],
        names,
        must_include: backups,
    })
}
