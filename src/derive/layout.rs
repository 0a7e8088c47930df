//! The cluster's rules: which networks carry CSV redirected I/O, live
//! migration, heartbeats, iSCSI and clients, from each cluster network's
//! role and metric, the live-migration settings and the OS.
//!
//! Sources: seed 001 (lowest metric for CSV, the next lowest first for
//! live migration and the lowest last, role 0 excluded), protocol-facts §2
//! (2008 R2: one network by metric; 2012+: SMB Multichannel over every
//! role ≥ 1 network), §3 (live-migration settings, transports), §4 (roles,
//! heartbeats on every cluster network).

use super::inputs::{ClusterNet, Export, Inputs, Migration};
use super::plan::{list, q, ClassPlan, Fallback, NetPlan, Plan};
use super::source::InputError;
use crate::flags::{LmTransport, Os};

/// The cluster networks and what the rules chose.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// The networks, `--address` applied.
    pub nets: Vec<ClusterNet>,
    /// Per network, the `--address` values that added a prefix.
    pub prefix_from: Vec<Vec<String>>,
    /// Cluster-use networks (role 1 or 3), lowest metric first; a tie
    /// keeps the export's order.
    pub by_metric: Vec<usize>,
    /// The heartbeat network: the lowest-metric role-1 network whose
    /// metric the cluster chose (seed 001's "Heartbeat Cluster").
    pub heartbeat: Option<usize>,
    /// Live migration's networks, most preferred first.
    pub lm: Vec<usize>,
    /// Networks the live-migration settings exclude.
    pub lm_excluded: Vec<usize>,
    /// Ids the live-migration settings name that no network has.
    pub lm_unknown: Vec<String>,
}

impl Cluster {
    /// Where CSV goes first: the lowest metric.
    pub fn csv(&self) -> Option<usize> {
        self.by_metric.first().copied()
    }

    /// Every cluster-use network tied at the lowest metric, in the
    /// export's order: the metric does not say which of them CSV uses.
    pub fn csv_tied(&self) -> Vec<usize> {
        let low = self.csv().map(|i| self.nets[i].metric);
        self.by_metric
            .iter()
            .copied()
            .take_while(|i| Some(self.nets[*i].metric) == low)
            .collect()
    }

    /// Role-1 networks other than the heartbeat network, lowest metric
    /// first: networks an operator can dedicate to CSV or live migration.
    pub fn dedicated(&self) -> Vec<usize> {
        self.by_metric
            .iter()
            .copied()
            .filter(|i| self.nets[*i].role.number() == 1 && Some(*i) != self.heartbeat)
            .collect()
    }

    fn name(&self, i: usize) -> &str {
        &self.nets[i].name
    }

    fn names(&self, idx: &[usize]) -> Vec<String> {
        idx.iter().map(|i| self.name(*i).to_string()).collect()
    }

    /// `"a", "b" and "c"`: the networks at `idx`, for comments and lints.
    pub fn listed(&self, idx: &[usize]) -> String {
        list(&idx.iter().map(|i| self.name(*i)).collect::<Vec<_>>())
    }
}

/// Applies the rules to the cluster networks of `inputs`.
pub fn layout(
    nets: Vec<ClusterNet>,
    prefix_from: Vec<Vec<String>>,
    inputs: &Inputs,
) -> Result<Cluster, InputError> {
    let mut by_metric: Vec<usize> = (0..nets.len())
        .filter(|i| nets[*i].role.cluster_use())
        .collect();
    by_metric.sort_by_key(|i| nets[*i].metric);
    let heartbeat = by_metric
        .iter()
        .copied()
        .find(|i| nets[*i].role.number() == 1 && nets[*i].automatic());
    let mut c = Cluster {
        nets,
        prefix_from,
        by_metric,
        heartbeat,
        lm: Vec::new(),
        lm_excluded: Vec::new(),
        lm_unknown: Vec::new(),
    };
    c.lm = default_lm(&c.by_metric);
    if let Some(m) = &inputs.migration {
        settings(&mut c, m)?;
    }
    Ok(c)
}

/// Seed 001: "the network with the lowest Metric … will be automatically
/// placed at the bottom of the list and the network with then next lowest
/// Metric will be placed at the top of the list".
fn default_lm(by_metric: &[usize]) -> Vec<usize> {
    match by_metric {
        [lowest, rest @ ..] if !rest.is_empty() => rest.iter().copied().chain([*lowest]).collect(),
        other => other.to_vec(),
    }
}

/// `MigrationNetworkOrder` first (excluded networks left out), then every
/// other cluster-use network not excluded, in the default order.
fn settings(c: &mut Cluster, m: &Migration) -> Result<(), InputError> {
    let has_ids = c.nets.iter().any(|n| n.id.is_some());
    let mut resolve = |tokens: &[String]| -> Result<Vec<usize>, InputError> {
        let mut out = Vec::new();
        for t in tokens {
            let found = c.nets.iter().position(|n| {
                n.id.as_deref()
                    .is_some_and(|id| id.trim_matches(['{', '}']).eq_ignore_ascii_case(t))
                    || n.name.eq_ignore_ascii_case(t)
            });
            match found {
                Some(i) if !out.contains(&i) => out.push(i),
                Some(_) => {}
                None if has_ids => c.lm_unknown.push(t.clone()),
                None => {
                    return Err(InputError::file(
                        &m.origin,
                        format!("names network {t:?}, which no cluster network is called, and the cluster networks came as a table, which has no ids: export Get-ClusterNetwork as JSON, or write network names"),
                    ))
                }
            }
        }
        Ok(out)
    };
    let excluded = resolve(&m.exclude)?;
    let order = resolve(&m.order)?;
    let rest = default_lm(&c.by_metric);
    c.lm = order
        .into_iter()
        .chain(rest)
        .filter(|i| !excluded.contains(i))
        .fold(Vec::new(), |mut v, i| {
            if !v.contains(&i) {
                v.push(i);
            }
            v
        });
    c.lm_excluded = excluded;
    Ok(())
}

/// `[networks]` entries for the cluster networks, in the export's order.
pub fn networks(c: &Cluster, plan: &mut Plan) {
    for (i, n) in c.nets.iter().enumerate() {
        let metric = match n.auto_metric {
            Some(true) => "automatic",
            Some(false) => "set by hand",
            None if n.automatic() => "taken as automatic: 1000 or more; no AutoMetric given",
            None => "taken as set by hand: below 1000; no AutoMetric given",
        };
        let state = n
            .state
            .as_deref()
            .map(|s| format!(", {s}"))
            .unwrap_or_default();
        let mut why = vec![format!(
            "{}: role {} ({}), metric {} ({metric}){state}; {}.",
            q(&n.name),
            n.role.number(),
            n.role.name(),
            n.metric,
            n.origin
        )];
        why.push(prefix_source(n, &c.prefix_from[i]));
        plan.networks.push(NetPlan {
            name: n.name.clone(),
            prefixes: n.prefixes.clone(),
            gap: n.prefixes.is_empty(),
            why,
        });
    }
}

/// Where a network's prefixes came from: its export, then each
/// `--address` (`flags`, one per prefix it added, in the order added).
fn prefix_source(n: &ClusterNet, flags: &[String]) -> String {
    let from_export = n.prefixes.len() - flags.len();
    if n.prefixes.is_empty() {
        return format!(
            "GAP: no input gives its prefix ({}): derive again with --address {} (with --derive-from DIR: address = [{}] in DIR/lanecheck-derive.toml).",
            n.export.no_prefix(),
            q(&format!("{}=PREFIX", n.name)),
            q(&format!("{}=PREFIX", n.name))
        );
    }
    let mut parts = Vec::new();
    if from_export > 0 {
        let what = match n.export {
            Export::Json => "its JSON object (Address/AddressMask, Ipv4Addresses, Ipv6Addresses)",
            Export::Table => "its Address and AddressMask cells",
        };
        let p: Vec<String> = n.prefixes[..from_export]
            .iter()
            .map(ToString::to_string)
            .collect();
        parts.push(format!("{} from {what}", p.join(", ")));
    }
    for (p, origin) in n.prefixes[from_export..].iter().zip(flags) {
        parts.push(format!("{p} from {origin}"));
    }
    format!("Prefixes: {}.", parts.join("; "))
}

/// `[classes.*]` for the cluster's traffic. Every class is written, even
/// one whose rule chose no network: `networks = []` allows it nowhere, where
/// a class left out would be allowed anywhere.
pub fn classes(c: &Cluster, inputs: &Inputs, plan: &mut Plan) {
    plan.merge_class(csv_class(c, inputs));
    plan.merge_class(cluster_class(c));
    plan.merge_class(lm_class(c, inputs));
    let by_role = |keep: fn(&ClusterNet) -> bool| -> Vec<usize> {
        let mut v: Vec<usize> = (0..c.nets.len()).filter(|i| keep(&c.nets[*i])).collect();
        v.sort_by_key(|i| c.nets[*i].metric);
        v
    };
    let iscsi = by_role(|n| n.role.number() == 0);
    plan.merge_class(match iscsi.is_empty() {
        true => nowhere("iscsi", "iSCSI (TCP 3260) runs only on role-0 networks, which the cluster does not use (seed 001: the iSCSI network is \"disabled for cluster use\"), and there is none (no lint: a cluster whose storage is not iSCSI has none)"),
        false => ClassPlan {
            class: "iscsi",
            networks: c.names(&iscsi),
            on_fallback: Fallback::Allow,
            why: vec![format!(
                "iSCSI (TCP 3260) only on role-0 networks, which the cluster does not use (seed 001: the iSCSI network is \"disabled for cluster use\"): {}.",
                c.listed(&iscsi)
            )],
        },
    });
    let client = by_role(|n| n.role.client());
    plan.merge_class(match client.is_empty() {
        true => nowhere("client", "Clients reach the cluster only on role 2 and 3 networks (protocol-facts §4), and no network has either role (lint no-client-network)"),
        false => ClassPlan {
            class: "client",
            networks: c.names(&client),
            on_fallback: Fallback::Allow,
            why: vec![format!(
                "Clients reach the cluster on role 2 and 3 networks (protocol-facts §4): {}.",
                c.listed(&client)
            )],
        },
    });
}

/// A class whose rule chose no network, allowed nowhere; `reason` says why
/// there is none.
fn nowhere(class: &'static str, reason: &str) -> ClassPlan {
    ClassPlan {
        class,
        networks: Vec::new(),
        on_fallback: Fallback::Warn,
        why: vec![
            format!("{reason}."),
            "No network: `networks = []` allows it nowhere, so every such flow is a violation (a class left out would be allowed anywhere).".into(),
        ],
    }
}

/// `cluster`: heartbeats on every cluster-use network.
fn cluster_class(c: &Cluster) -> ClassPlan {
    if c.by_metric.is_empty() {
        return nowhere("cluster", "Heartbeats and NetFT traffic (UDP and TCP 3343) run only on networks configured for cluster use (role 1 or 3; protocol-facts §4), and there is none (lint no-cluster-network)");
    }
    ClassPlan {
        class: "cluster",
        networks: c.names(&c.by_metric),
        on_fallback: Fallback::Allow,
        why: vec![
            "Heartbeats and NetFT traffic (UDP and TCP 3343) run on every network configured for cluster use (role 1 or 3; protocol-facts §4), under both OS rules: all equally allowed, lowest metric first.".into(),
        ],
    }
}

/// `smb-redirected`: the lowest metric first; which others are allowed
/// depends on the OS.
fn csv_class(c: &Cluster, inputs: &Inputs) -> ClassPlan {
    let Some(first) = c.csv() else {
        return nowhere("smb-redirected", "CSV redirected I/O (SMB on 445 between cluster nodes) runs only on cluster-use networks (role 1 or 3; seed 001), and there is none (lint no-cluster-network)");
    };
    let n = &c.nets[first];
    let tied = c.csv_tied();
    let mut why = vec![match tied.len() {
        1 => format!(
            "CSV redirected I/O (SMB on 445 between cluster nodes) goes first to {}, the lowest metric ({}) of the cluster-use networks (role 1 or 3; role 0 and 2 are never used; seed 001).",
            q(&n.name),
            n.metric
        ),
        _ => format!(
            "CSV redirected I/O (SMB on 445 between cluster nodes) goes first to the lowest metric of the cluster-use networks (role 1 or 3; role 0 and 2 are never used; seed 001), and {} tie at {} (lint metric-tie): the metric does not say which of them CSV uses.",
            c.listed(&tied),
            n.metric
        ),
    }];
    let (mut idx, mut on_fallback) = csv_by_os(c, inputs, &mut why);
    if inputs.transport.value == LmTransport::Smb {
        let extra: Vec<usize> = c.lm.iter().copied().filter(|i| !idx.contains(i)).collect();
        why.push(format!(
            "Live migration over SMB ({}) is SMB on 445 between the same nodes: lanecheck cannot tell it from CSV (protocol-facts §3), so the live-migration networks are allowed too{}.",
            inputs.transport.origin,
            if extra.is_empty() { String::new() } else { format!(" ({})", c.listed(&extra)) }
        ));
        idx.extend(extra);
        on_fallback = Fallback::Allow;
    }
    ClassPlan {
        class: "smb-redirected",
        networks: c.names(&idx),
        on_fallback,
        why,
    }
}

/// The networks CSV may use under `inputs.os`, with the reason.
fn csv_by_os(c: &Cluster, inputs: &Inputs, why: &mut Vec<String>) -> (Vec<usize>, Fallback) {
    let tied = c.csv_tied();
    let origin = &inputs.os.origin;
    match inputs.os.value {
        Os::W2008R2 if tied.len() > 1 => {
            why.push(format!("2008 R2 ({origin}): \"the lowest Metric value designates the network for CSV\" (protocol-facts §2), and with a tie either of {} may be the one, so each is allowed, equally, and no other: CSV elsewhere means those networks failed or the metrics changed.", c.listed(&tied)));
            (tied, Fallback::Allow)
        }
        Os::W2008R2 => {
            why.push(format!("2008 R2 ({origin}): \"the lowest Metric value designates the network for CSV\" (protocol-facts §2), so no other network is allowed: CSV elsewhere means that network failed or the metrics changed."));
            (tied, Fallback::Warn)
        }
        Os::W2012 if c.by_metric.len() == 1 => {
            why.push(format!("2012+ ({origin}): SMB Multichannel would use every cluster-use network; there is no other."));
            (c.by_metric.clone(), Fallback::Warn)
        }
        Os::W2012 => {
            why.push(format!("2012+ ({origin}): SMB Multichannel carries CSV over every cluster-use network (protocol-facts §2: metric order is information only), so the others are allowed, in metric order, each use a warning that shows CSV left the metric's choice."));
            if tied.len() > 1 {
                why.push(format!("The tied {} are listed in the export's order: CSV on a later one of them is a fallback warning, never a violation.", c.listed(&tied)));
            }
            (c.by_metric.clone(), Fallback::Warn)
        }
    }
}

/// `live-migration`: the settings' order, or the metric rule.
fn lm_class(c: &Cluster, inputs: &Inputs) -> ClassPlan {
    let Some(first) = c.lm.first().copied() else {
        return nowhere("live-migration", &lm_none(c, inputs));
    };
    let mut why = vec![match &inputs.migration {
        Some(m) => format!(
            "Live migration (TCP 6600) in the order of the live-migration settings ({}): {} first{}, then the other cluster networks not excluded (seed 001: the Live Migration Network tab).",
            m.origin,
            q(c.name(first)),
            if c.lm_excluded.is_empty() { String::new() } else { format!("; MigrationExcludeNetworks leaves out {}", c.listed(&c.lm_excluded)) }
        ),
        None if c.by_metric.len() > 1 => format!(
            "Live migration (TCP 6600), with no live-migration settings, in the cluster's default order (seed 001): the next lowest metric first ({}, {}), the lowest ({}, {}) last.",
            q(c.name(first)),
            c.nets[first].metric,
            q(c.name(c.by_metric[0])),
            c.nets[c.by_metric[0]].metric
        ),
        None => format!("Live migration (TCP 6600) on the only cluster-use network, {}.", q(c.name(first))),
    }];
    if c.lm.len() > 1 {
        why.push("A later network is a fallback: a warning.".into());
    }
    why.push(match inputs.transport.value {
        LmTransport::Smb => {
            "Transport smb: the memory moves over SMB (see smb-redirected); 6600 keeps this order."
                .into()
        }
        t => format!(
            "Transport {} ({}): TCP 6600.",
            if t == LmTransport::Tcp {
                "tcp"
            } else {
                "compression"
            },
            inputs.transport.origin
        ),
    });
    ClassPlan {
        class: "live-migration",
        networks: c.names(&c.lm),
        on_fallback: Fallback::Warn,
        why,
    }
}

/// Why live migration has no network: no cluster-use network, or the
/// settings exclude every one.
fn lm_none(c: &Cluster, inputs: &Inputs) -> String {
    match &inputs.migration {
        Some(m) if !c.by_metric.is_empty() => format!(
            "Live migration (TCP 6600) uses the cluster-use networks the live-migration settings ({}) do not exclude, and MigrationExcludeNetworks excludes every one: {} (lint lm-no-network)",
            m.origin,
            c.listed(&c.by_metric)
        ),
        _ => "Live migration (TCP 6600) runs only on cluster-use networks (role 1 or 3; seed 001), and there is none (lint no-cluster-network)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derive::inputs::Role;

    fn net(name: &str, metric: u32, role: u64) -> ClusterNet {
        ClusterNet {
            id: Some(format!("id-{name}")),
            name: name.into(),
            prefixes: Vec::new(),
            export: Export::Json,
            role: Role::try_new(role).unwrap(),
            metric,
            auto_metric: None,
            state: None,
            origin: "t".into(),
        }
    }

    #[test]
    fn seed_001_default_order() {
        let nets = vec![
            net("iSCSI", 10100, 0),
            net("HB", 1000, 1),
            net("HA", 10000, 3),
            net("CSV", 800, 1),
            net("LM", 900, 1),
        ];
        let c = layout(nets, vec![Vec::new(); 5], &Inputs::default()).unwrap();
        assert_eq!(c.names(&c.by_metric), ["CSV", "LM", "HB", "HA"]);
        assert_eq!(c.names(&c.lm), ["LM", "HB", "HA", "CSV"]);
        assert_eq!(
            c.heartbeat.map(|i| c.name(i).to_string()),
            Some("HB".into())
        );
        assert_eq!(c.names(&c.dedicated()), ["CSV", "LM"]);
    }

    #[test]
    fn csv_allows_every_network_tied_at_the_lowest_metric() {
        let nets = vec![net("B", 800, 1), net("A", 800, 1), net("P", 10000, 3)];
        let c = layout(nets, vec![Vec::new(); 3], &Inputs::default()).unwrap();
        assert_eq!(c.names(&c.csv_tied()), ["B", "A"]);
        let mut inputs = Inputs::default();
        let csv = csv_class(&c, &inputs);
        assert_eq!(
            (csv.networks, csv.on_fallback),
            (
                vec!["B".to_string(), "A".into(), "P".into()],
                Fallback::Warn
            )
        );
        inputs.os.value = Os::W2008R2;
        let csv = csv_class(&c, &inputs);
        assert_eq!(
            (csv.networks, csv.on_fallback),
            (vec!["B".to_string(), "A".into()], Fallback::Allow)
        );
    }

    #[test]
    fn settings_order_and_exclude() {
        let nets = vec![
            net("HB", 1000, 1),
            net("HA", 10000, 3),
            net("CSV-LM", 800, 1),
        ];
        let inputs = Inputs {
            migration: Some(Migration {
                exclude: vec!["id-HA".into()],
                order: vec!["id-CSV-LM".into(), "gone".into()],
                origin: "m".into(),
            }),
            ..Inputs::default()
        };
        let c = layout(nets, vec![Vec::new(); 3], &inputs).unwrap();
        assert_eq!(c.names(&c.lm), ["CSV-LM", "HB"]);
        assert_eq!(c.lm_unknown, ["gone"]);
    }
}
