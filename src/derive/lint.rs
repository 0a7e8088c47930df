//! What is wrong with the layout before any packet is captured: each
//! warning has an id (`--allow ID` silences it), the rule it breaks and the
//! fix. The ids and their one-line meaning are `IDS`; docs/derive.md
//! explains each.

use std::fmt;

use super::dpm::Dpm;
use super::inputs::ClusterNet;
use super::layout::Cluster;
use super::plan::{list, q};

/// A lint warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lint {
    /// Its id.
    pub id: &'static str,
    /// What is wrong.
    pub message: String,
    /// The rule and its source.
    pub rule: String,
    /// What to do.
    pub fix: String,
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "warning[{}]: {}\n  rule: {}\n  fix: {}",
            self.id, self.message, self.rule, self.fix
        )
    }
}

/// Every lint id and what it means.
pub const IDS: [(&str, &str); 20] = [
    (
        "csv-lm-same-network",
        "CSV and live migration resolve to the same network",
    ),
    (
        "csv-on-client-network",
        "CSV's first network is one clients use (role 3)",
    ),
    (
        "lm-on-client-network",
        "live migration's first network is one clients use",
    ),
    (
        "csv-on-heartbeat",
        "CSV lands on the heartbeat network while a dedicated one exists",
    ),
    (
        "lm-on-heartbeat",
        "live migration lands on the heartbeat network",
    ),
    (
        "no-dedicated-network",
        "CSV shares the heartbeat network and no other role-1 network exists",
    ),
    (
        "one-cluster-network",
        "only one network carries cluster traffic",
    ),
    (
        "no-cluster-network",
        "no network carries cluster traffic (every role is 0 or 2)",
    ),
    (
        "lm-no-network",
        "the live-migration settings exclude every cluster-use network",
    ),
    (
        "no-client-network",
        "no network has role 2 or 3, so client traffic has no network",
    ),
    (
        "manual-metric-high",
        "a metric set by hand at or above 1000 can collide with automatic metrics",
    ),
    (
        "metric-tie",
        "two cluster-use networks have the same metric",
    ),
    (
        "role0-cluster-traffic",
        "the live-migration settings send cluster traffic to a role-0 network",
    ),
    ("network-not-up", "a cluster network is not Up"),
    (
        "lm-unknown-network",
        "the live-migration settings name a network the cluster does not have",
    ),
    (
        "dpm-on-cluster-network",
        "a DPM backup network is also a cluster or client network",
    ),
    (
        "dpm-primary-first",
        "the primary network has the lowest backup sequence number",
    ),
    (
        "dpm-sequence-gap",
        "backup sequence numbers are not 1, 2, 3…",
    ),
    (
        "dpm-sequence-duplicate",
        "two backup networks have the same sequence number",
    ),
    (
        "dpm-server-not-covered",
        "a server has no address on any backup network",
    ),
];

fn lint(id: &'static str, message: String, rule: &str, fix: String) -> Lint {
    debug_assert!(IDS.iter().any(|(i, _)| *i == id), "{id}");
    Lint {
        id,
        message,
        rule: rule.to_string(),
        fix,
    }
}

/// `Get-ClusterNetwork "NAME" | %{$_.Metric=N}` (seed 001).
fn set_metric(name: &str, metric: u32) -> String {
    format!("Get-ClusterNetwork {} | %{{$_.Metric={metric}}}", q(name))
}

fn desc(n: &ClusterNet) -> String {
    format!(
        "{} (role {} {}, metric {})",
        q(&n.name),
        n.role.number(),
        n.role.name(),
        n.metric
    )
}

/// Every lint of the cluster layout.
pub fn cluster(c: &Cluster) -> Vec<Lint> {
    let mut out = Vec::new();
    let n = |i: usize| &c.nets[i];
    match c.by_metric.len() {
        0 => out.push(lint("no-cluster-network", format!("no network carries cluster traffic: {}, so the policy allows CSV, live migration and heartbeats nowhere", list(&c.nets.iter().map(|n| n.name.as_str()).collect::<Vec<_>>())), "heartbeats, CSV and live migration use role 1 and 3 networks only (protocol-facts §4)", "give at least one network role 1 (Cluster) or 3 (ClusterAndClient): (Get-ClusterNetwork \"NAME\").Role = 1".into())),
        1 => out.push(lint("one-cluster-network", format!("only {} carries cluster traffic: heartbeats, CSV and live migration all share it, with no second path", desc(n(c.by_metric[0]))), "seed 001: a Hyper-V cluster needs a network for CSV and preferably a separate one for live migration, beside the heartbeat and client networks", "add cluster-only (role 1) networks for CSV and live migration".into())),
        _ => {}
    }
    no_network(c, &mut out);
    if let (Some(csv), Some(lm)) = (c.csv(), c.lm.first().copied()) {
        placement(c, csv, lm, &mut out);
    }
    metrics(c, &mut out);
    for i in
        c.lm.iter()
            .copied()
            .filter(|i| n(*i).role == super::inputs::Role::NONE)
    {
        out.push(lint("role0-cluster-traffic", format!("the live-migration settings allow {}, a network the cluster does not use, so the policy expects live migration there", desc(n(i))), "role 0 networks are \"not used by the cluster\" (protocol-facts §4; seed 001's iSCSI network)", format!("exclude {} in the Live Migration Settings (MigrationExcludeNetworks), or give it role 1 if the cluster should use it", q(&n(i).name))));
    }
    for net in &c.nets {
        if net
            .state
            .as_deref()
            .is_some_and(|s| !s.eq_ignore_ascii_case("up"))
        {
            out.push(lint("network-not-up", format!("{} is {}", q(&net.name), net.state.as_deref().unwrap_or("")), "the cluster routes around a network that is not Up, so traffic seen now may not follow the metrics", format!("repair {} before capturing, or expect its classes on other networks", q(&net.name))));
        }
    }
    if !c.lm_unknown.is_empty() {
        out.push(lint(
            "lm-unknown-network",
            format!(
                "the live-migration settings name {} that no cluster network has",
                list(&c.lm_unknown.iter().map(String::as_str).collect::<Vec<_>>())
            ),
            "MigrationNetworkOrder and MigrationExcludeNetworks hold cluster network ids",
            "a removed network's id lingers: save the Live Migration Settings again".into(),
        ));
    }
    out
}

/// Classes the layout gives no network: the policy allows them nowhere.
fn no_network(c: &Cluster, out: &mut Vec<Lint>) {
    if c.lm.is_empty() && !c.by_metric.is_empty() {
        out.push(lint("lm-no-network", format!("live migration has no network: MigrationExcludeNetworks excludes every cluster-use network ({}), so the policy allows it nowhere", c.listed(&c.by_metric)), "live migration uses the cluster-use networks the Live Migration Settings leave checked (seed 001; protocol-facts §3)", "in the Live Migration Settings check a cluster-only network, ideally one set aside for live migration (seed 001)".into()));
    }
    if !c.nets.iter().any(|n| n.role.client()) {
        out.push(lint("no-client-network", format!("no network has role 2 (Client) or 3 (ClusterAndClient): {}, so the policy allows client traffic (everything no other class claims: RDP, management, the guests' clients) on none of them", list(&c.nets.iter().map(|n| n.name.as_str()).collect::<Vec<_>>())), "clients reach the cluster only on role 2 and 3 networks; role 1 is cluster only (protocol-facts §4)", "give the network clients use role 3: (Get-ClusterNetwork \"NAME\").Role = 3".into()));
    }
}

/// Where CSV and live migration land.
fn placement(c: &Cluster, csv: usize, lm: usize, out: &mut Vec<Lint>) {
    let n = |i: usize| &c.nets[i];
    let dedicated = c.dedicated();
    if csv == lm && c.by_metric.len() > 1 {
        out.push(lint("csv-lm-same-network", format!("CSV and live migration both go to {}", desc(n(csv))), "seed 001: \"a dedicated network for redirected mode and preferably a separate one for live migration\"; during a DPM backup both flood it", match dedicated.iter().find(|i| **i != csv) {
                Some(d) => format!("select {} first in the Live Migration Settings", q(&n(*d).name)),
                None => "add a cluster-only network for live migration (metric below 1000) and select it first in the Live Migration Settings (seed 001)".into(),
            }));
    }
    if n(csv).role.client() {
        out.push(lint(
            "csv-on-client-network",
            format!("CSV would use {}, the network clients use", desc(n(csv))),
            "seed 001: keep redirected I/O off \"the network that clients access the VMs on\"",
            match dedicated.first() {
                Some(d) => set_metric(&n(*d).name, n(csv).metric.saturating_sub(1).clamp(1, 800)),
                None => "add a cluster-only (role 1) network and set its metric below 1000".into(),
            },
        ));
    }
    if n(lm).role.client() && lm != csv {
        out.push(lint("lm-on-client-network", format!("live migration would use {} first, the network clients use", desc(n(lm))), "seed 001: \"This is non-optimal and may affect client access to the running guests\"", format!("in the Live Migration Settings uncheck {} and select a cluster-only network (seed 001), or add one", q(&n(lm).name))));
    }
    if Some(csv) == c.heartbeat && c.by_metric.len() > 1 {
        match dedicated.first() {
            Some(d) => out.push(lint("csv-on-heartbeat", format!("CSV would use {}, the heartbeat network, while {} could carry it", desc(n(csv)), desc(n(*d))), "seed 001: redirected I/O goes over the lowest metric; keep it off \"the primary heartbeat network\"", format!("{}   (below 1000, seed 001)", set_metric(&n(*d).name, 800)))),
            None => out.push(lint("no-dedicated-network", format!("CSV would use {}, the heartbeat network, and no other cluster-only network exists", desc(n(csv))), "seed 001: \"you will need at least one additional network\" for CSV redirected mode", "add a cluster-only (role 1) network without a default gateway and set its metric below 1000 (seed 001)".into())),
        }
    }
    if Some(lm) == c.heartbeat && lm != csv {
        out.push(lint(
            "lm-on-heartbeat",
            format!(
                "live migration would use {} first, the heartbeat network",
                desc(n(lm))
            ),
            "seed 001: keep live migration off \"the primary heartbeat network\"",
            format!(
                "select a dedicated network first in the Live Migration Settings{}",
                match dedicated.iter().find(|i| **i != lm) {
                    Some(d) => format!(" ({} or another)", q(&n(*d).name)),
                    None => ", or add one".into(),
                }
            ),
        ));
    }
}

/// Metrics set by hand in the automatic band, and ties.
fn metrics(c: &Cluster, out: &mut Vec<Lint>) {
    for net in &c.nets {
        if net.auto_metric == Some(false) && net.metric >= 1000 {
            out.push(lint("manual-metric-high", format!("{} has metric {} set by hand (AutoMetric false)", q(&net.name), net.metric), "seed 001: set it \"lower than 1000 so that it doesn't have a chance to conflict with anything else new that might come in later\"; automatic metrics start at 1000 (protocol-facts §2)", set_metric(&net.name, 900)));
        }
    }
    for w in c.by_metric.windows(2) {
        let (a, b) = (&c.nets[w[0]], &c.nets[w[1]]);
        if a.metric == b.metric {
            out.push(lint("metric-tie", format!("{} and {} have the same metric {}: which one carries CSV or live migration is not defined by the metric", q(&a.name), q(&b.name), a.metric), "the lowest metric decides (seed 001); on a tie for the lowest the policy allows CSV on each tied network, and elsewhere keeps the export's order", set_metric(&a.name, a.metric.saturating_sub(1).max(1))));
        }
    }
}

/// Every lint of the DPM backup networks.
pub fn dpm(d: &Dpm, c: Option<&Cluster>) -> Vec<Lint> {
    let mut out = Vec::new();
    let mut seqs: Vec<u32> = d.backups.iter().map(|(b, _)| b.sequence).collect();
    seqs.sort_unstable();
    for w in seqs.windows(2).filter(|w| w[0] == w[1]) {
        let nets: Vec<&str> = d
            .backups
            .iter()
            .filter(|(b, _)| b.sequence == w[0])
            .map(|(_, n)| n.as_str())
            .collect();
        out.push(lint("dpm-sequence-duplicate", format!("sequence number {} is given to {}", w[0], list(&nets)), "DPM tries backup networks in -SequenceNumber order (protocol-facts §1); a tie leaves the order open", "Remove-DPMBackupNetworkAddress one of them and add it again with its own -SequenceNumber".into()));
    }
    seqs.dedup();
    if !seqs.is_empty() && seqs.iter().zip(1..).any(|(s, want)| *s != want) {
        out.push(lint("dpm-sequence-gap", format!("backup sequence numbers are {}, not 1 to {}", seqs.iter().map(u32::to_string).collect::<Vec<_>>().join(", "), seqs.len()), "seed 000 numbers backup networks 1, 2…; a gap usually means a removed network whose replacement was not added", "Get-DPMBackupNetworkAddress; re-add the networks numbered 1, 2…".into()));
    }
    if let (Some((first, name)), true) = (d.backups.first(), d.primary_is_backup()) {
        if Some(name) == d.primary.as_ref() {
            out.push(lint("dpm-primary-first", format!("the primary network {} ({}) has the lowest sequence number {}: backups run on the primary network first", q(name), first.prefix, first.sequence), "seed 000: the primary network \"could also have been added with SequenceNumber 2\", as a fallback", format!("Add-DPMBackupNetworkAddress -Address {} -SequenceNumber 2 (after removing it), with the backup LAN as 1", first.given)));
        }
    }
    if let Some(c) = c {
        for (b, name) in d
            .backups
            .iter()
            .filter(|(_, n)| Some(n) != d.primary.as_ref())
        {
            for net in c
                .nets
                .iter()
                .filter(|n| n.role.cluster_use() || n.role.client())
            {
                let overlaps = net
                    .prefixes
                    .iter()
                    .any(|p| p.contains(&b.prefix.network()) || b.prefix.contains(&p.network()));
                if overlaps {
                    out.push(lint("dpm-on-cluster-network", format!("DPM backup network {} ({}) is also cluster network {}", q(name), b.prefix, desc(net)), "seed 000: a separate LAN so that backup data does not slow the other traffic; seed 001: DPM backups already flood the CSV network", format!("give DPM a LAN of its own, or set {}'s role to 0", q(&net.name))));
                }
            }
        }
    }
    if !d.backups.is_empty() && !d.uncovered.is_empty() {
        out.push(lint("dpm-server-not-covered", format!("{} {} no address on any backup network but the primary", list(&d.uncovered.iter().map(String::as_str).collect::<Vec<_>>()), if d.uncovered.len() == 1 { "has" } else { "have" }), "seed 000: \"The subnet should cover the entire range of network addresses for the DPM server and the servers you intend to protect\"", "add a NIC on the backup LAN to each, or widen the backup network's -Address".into()));
    }
    out
}
