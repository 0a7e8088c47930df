//! `lanecheck policy derive` and `lanecheck policy lint`: a policy from what
//! Windows already knows, and what is wrong with the layout before any
//! packet is captured (docs/derive.md).
//!
//! inputs (flags, `--derive-from DIR`) → `Inputs` → rules (`layout` for the
//! cluster, `dpm` for the backup networks, `nodes` for hosts and NICs) →
//! `Plan` → `lint` and `write` (commented TOML) → `config::parse`, so the
//! derived policy is exactly what `policy check` and `audit` would read.
//! Bad input stops everything before anything is written (exit 2).

mod dpm;
mod inputs;
mod json;
mod layout;
mod lint;
mod nodes;
mod options;
mod plan;
mod source;
mod table;
mod write;

use std::io::Write;
use std::path::Path;

use analyzer::policy::Policy;
use anyhow::{bail, Context, Result};

use crate::flags::{DeriveArgs, DeriveInputs, LmTransport, Os, PolicySource};
use crate::{config, output, Outcome};
use inputs::{ClusterNet, Inputs};
use lint::Lint;
use plan::Plan;
pub use source::InputError;

/// A derived policy: its lint warnings (`--allow` applied) and its TOML
/// text.
pub struct Derived {
    /// Lint warnings not allowed.
    pub lints: Vec<Lint>,
    /// Networks no input gave a prefix for: marked gaps in the text.
    pub gaps: Vec<Gap>,
    /// The commented TOML.
    pub text: String,
    /// A cluster was given without its nodes' addresses: no flow can be
    /// told to be between two nodes.
    pub no_nodes: bool,
}

/// A network without a prefix.
pub struct Gap {
    /// Its name.
    pub network: String,
    /// Why no input gave one (`a Format-Table export has no addresses`).
    pub why: &'static str,
}

/// Applies every rule to `inputs`.
pub fn derive(inputs: &Inputs) -> Result<Derived, InputError> {
    let mut plan = Plan {
        inputs: describe(inputs),
        ..Plan::default()
    };
    let cluster = match &inputs.networks {
        Some((_, nets)) => {
            let (nets, from) = addressed(nets, inputs)?;
            Some(layout::layout(nets, from, inputs)?)
        }
        None => {
            needs_networks(inputs)?;
            None
        }
    };
    if let Some(c) = &cluster {
        layout::networks(c, &mut plan);
        layout::classes(c, inputs, &mut plan);
        if let Some((path, ifaces)) = &inputs.ifaces {
            nodes::cluster(path, ifaces, c, &mut plan)?;
        }
    }
    let has_dpm = !(inputs.backups.is_empty()
        && inputs.dpm_servers.is_empty()
        && inputs.protected.is_empty());
    let dpm = has_dpm
        .then(|| dpm::plan(inputs, cluster.as_ref(), &mut plan))
        .transpose()?;
    nodes::flags(inputs, &mut plan)?;
    if plan.networks.is_empty() {
        return Err(InputError {
            place: "no input".into(),
            message: "nothing to derive from: give --cluster-networks, --dpm-backup-network, --dpm-server or --derive-from DIR".into(),
        });
    }
    let mut lints: Vec<Lint> = cluster.as_ref().map(lint::cluster).unwrap_or_default();
    if let Some(d) = &dpm {
        lints.extend(lint::dpm(d, cluster.as_ref()));
    }
    for a in &inputs.allow {
        if !lint::IDS.iter().any(|(id, _)| *id == a.value) {
            let ids: Vec<&str> = lint::IDS.iter().map(|(id, _)| *id).collect();
            return Err(InputError {
                place: a.origin.clone(),
                message: format!("unknown lint id {:?} (ids: {})", a.value, ids.join(", ")),
            });
        }
    }
    lints.retain(|l| !inputs.allow.iter().any(|a| a.value == l.id));
    let gaps: Vec<Gap> = cluster
        .iter()
        .flat_map(|c| &c.nets)
        .filter(|n| n.prefixes.is_empty())
        .map(|n| Gap {
            network: n.name.clone(),
            why: n.export.no_prefix(),
        })
        .collect();
    let text = write::render(&plan, &lints);
    let no_nodes = cluster.is_some() && !plan.roles.iter().any(|(r, ..)| *r == "cluster_nodes");
    Ok(Derived {
        lints,
        gaps,
        text,
        no_nodes,
    })
}

/// The cluster networks with `--address` applied (each adds a prefix: a
/// network may have several), and per network the `--address` values that
/// added one. `primary` may name DPM's primary network instead.
fn addressed(
    nets: &[ClusterNet],
    inputs: &Inputs,
) -> Result<(Vec<ClusterNet>, Vec<Vec<String>>), InputError> {
    let mut nets = nets.to_vec();
    let mut from = vec![Vec::new(); nets.len()];
    for a in &inputs.addresses {
        match nets.iter().position(|n| n.name == a.name) {
            Some(i) => {
                if !nets[i].prefixes.contains(&a.prefix) {
                    nets[i].prefixes.push(a.prefix);
                    from[i].push(a.origin.clone());
                }
            }
            None if a.name == dpm::PRIMARY => {}
            None => {
                let names: Vec<&str> = nets.iter().map(|n| n.name.as_str()).collect();
                return Err(InputError {
                    place: a.origin.clone(),
                    message: format!(
                        "no cluster network is called {:?} (networks: {})",
                        a.name,
                        names.join(", ")
                    ),
                });
            }
        }
    }
    for (i, n) in nets.iter().enumerate() {
        for p in &n.prefixes {
            if let Some(m) = nets[..i].iter().find(|m| m.prefixes.contains(p)) {
                let place = inputs
                    .addresses
                    .iter()
                    .find(|a| a.prefix == *p && (a.name == n.name || a.name == m.name))
                    .map_or_else(|| n.origin.clone(), |a| a.origin.clone());
                return Err(InputError {
                    place,
                    message: format!("{:?} and {:?} have the same prefix {p}", m.name, n.name),
                });
            }
        }
    }
    Ok((nets, from))
}

/// Inputs that mean nothing without the cluster networks.
fn needs_networks(inputs: &Inputs) -> Result<(), InputError> {
    let orphan = [
        inputs.ifaces.as_ref().map(|(p, _)| p.clone()),
        inputs.migration.as_ref().map(|m| m.origin.clone()),
        inputs
            .addresses
            .iter()
            .find(|a| a.name != dpm::PRIMARY)
            .map(|a| a.origin.clone()),
    ];
    match orphan.into_iter().flatten().next() {
        Some(place) => Err(InputError { place, message: "needs the cluster networks (--cluster-networks, or Get-ClusterNetwork.json in --derive-from DIR)".into() }),
        None => Ok(()),
    }
}

/// One line per input, for the policy's header.
fn describe(inputs: &Inputs) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((path, nets)) = &inputs.networks {
        let form = if nets.iter().any(|n| n.origin != *path) {
            "a Format-Table table"
        } else {
            "a JSON export"
        };
        let n = nets.len();
        let s = if n == 1 { "" } else { "s" };
        out.push(format!("cluster networks: {path} ({form}, {n} network{s})"));
        out.push(match &inputs.migration {
            Some(m) => format!("live-migration settings: {}", m.origin),
            None => "live-migration settings: none (the cluster's default order)".into(),
        });
        let t = match inputs.transport.value {
            LmTransport::Tcp => "tcp",
            LmTransport::Compression => "compression",
            LmTransport::Smb => "smb",
        };
        out.push(format!(
            "live-migration transport: {t} ({})",
            inputs.transport.origin
        ));
        let os = if inputs.os.value == Os::W2008R2 {
            "2008r2"
        } else {
            "2012+"
        };
        out.push(format!("OS rules: {os} ({})", inputs.os.origin));
    }
    if let Some((path, ifaces)) = &inputs.ifaces {
        let n = ifaces.len();
        let s = if n == 1 { "" } else { "s" };
        out.push(format!(
            "cluster network interfaces: {path} ({n} interface{s})"
        ));
    }
    for b in &inputs.backups {
        out.push(format!(
            "DPM backup network {} sequence {} ({})",
            b.given, b.sequence, b.origin
        ));
    }
    for s in inputs.dpm_servers.iter().chain(&inputs.protected) {
        out.push(s.origin.clone());
    }
    out.extend(inputs.addresses.iter().map(|a| a.origin.clone()));
    out.extend(inputs.nics.iter().map(|n| n.origin.clone()));
    out.extend(
        inputs
            .allow
            .iter()
            .map(|a| format!("allowed lint {} ({})", a.value, a.origin)),
    );
    out
}

/// Derives from `flags` and checks the result as `policy check` would:
/// a problem other than a marked prefix gap is a bug here.
fn derive_checked(flags: &DeriveInputs) -> Result<Derived> {
    let inputs = options::gather(flags)?;
    let d = derive(&inputs)?;
    if let Err(e) = config::parse(&d.text, "derived policy") {
        if e.problems
            .iter()
            .any(|p| !p.text.contains(config::PREFIX_GAP))
        {
            bail!("the derived policy does not pass policy check (a lanecheck bug):\n{e}\n--- derived policy ---\n{}", d.text);
        }
    }
    Ok(d)
}

/// The error for prefix gaps in a policy derived from `dir`: the advice
/// `audit`/`verify --derive-from` can follow (they take no `--address`).
fn gaps_in_dir(dir: &Path, gaps: &[Gap]) -> String {
    let names: Vec<&str> = gaps.iter().map(|g| g.network.as_str()).collect();
    let mut whys: Vec<&str> = gaps.iter().map(|g| g.why).collect();
    whys.dedup();
    let values: Vec<String> = names.iter().map(|n| format!("\"{n}=PREFIX\"")).collect();
    format!(
        "the policy derived from {} has no prefix for {} ({})\n  fix: give each in {}, one value per prefix (a network may have several, IPv4 and IPv6):\n    address = [{}]\n  or export Get-ClusterNetwork as JSON with its addresses (docs/derive.md)",
        dir.display(),
        plan::list(&names),
        whys.join("; "),
        dir.join(options::SETTINGS).display(),
        values.join(", ")
    )
}

/// The lint warnings, a note per prefix gap, and a summary line.
fn findings(out: &mut impl Write, d: &Derived) -> std::io::Result<()> {
    for l in &d.lints {
        writeln!(out, "{l}")?;
    }
    for g in &d.gaps {
        let (n, why) = (&g.network, g.why);
        writeln!(out, "note: network {n:?} has no prefix ({why}): the policy marks the gap, which policy check reports; derive again with --address \"{n}=PREFIX\" (with --derive-from DIR: address = [\"{n}=PREFIX\"] in DIR/lanecheck-derive.toml)")?;
    }
    match d.lints.len() {
        0 => writeln!(out, "lint: clean"),
        n => writeln!(
            out,
            "{n} warning{} (silence one with --allow ID)",
            if n == 1 { "" } else { "s" }
        ),
    }
}

/// `lanecheck policy derive`: the policy on stdout or `--output`, lint
/// warnings and gap notes on stderr. Nothing is written unless every input
/// was good. Exit 1 on a lint warning or a prefix gap: the policy needs a
/// look (a gap makes it fail `policy check`).
pub fn run_derive(args: &DeriveArgs) -> Result<Outcome> {
    let d = derive_checked(&args.inputs)?;
    match &args.output {
        Some(path) => {
            // Written beside, then renamed: a failed write leaves no half file.
            let tmp = path.with_extension("toml.partial");
            std::fs::write(&tmp, &d.text)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => {
            let mut out = output::open(None)?;
            out.write_all(d.text.as_bytes())?;
            out.flush()?;
        }
    }
    findings(&mut std::io::stderr().lock(), &d)?;
    Ok(if d.lints.is_empty() && d.gaps.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail
    })
}

/// `lanecheck policy lint`: warnings on stdout. Prefix gaps are noted but
/// are not lint warnings: they are missing input, not a fault of the layout.
pub fn run_lint(flags: &DeriveInputs) -> Result<Outcome> {
    let d = derive_checked(flags)?;
    let mut out = output::open(None)?;
    findings(&mut out, &d)?;
    out.flush()?;
    Ok(if d.lints.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail
    })
}

/// The policy of `audit` and `verify`: `--policy FILE`, or derived from
/// `--derive-from DIR` (lint warnings logged, a prefix gap an error).
pub fn policy(source: &PolicySource) -> Result<Policy> {
    Ok(policy_and_text(source)?.0)
}

/// The policy of `--policy FILE` or `--derive-from DIR`, with the TOML it
/// was read from (what `audit --save` keeps, so `merge` checks the same
/// policy).
pub fn policy_and_text(source: &PolicySource) -> Result<(Policy, String)> {
    match (&source.policy, &source.derive_from) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("{}: cannot read policy: {e}", file.display()))?;
            let policy = config::parse(&text, &file.display().to_string())?;
            Ok((policy, text))
        }
        (None, Some(dir)) => from_dir(dir),
        (None, None) => bail!("give --policy FILE or --derive-from DIR"),
    }
}

fn from_dir(dir: &Path) -> Result<(Policy, String)> {
    let flags = DeriveInputs {
        derive_from: Some(dir.to_path_buf()),
        ..DeriveInputs::default()
    };
    let d = derive(&options::gather(&flags)?)?;
    for l in &d.lints {
        log::warn!("{}: {l}", dir.display());
    }
    if !d.gaps.is_empty() {
        bail!("{}", gaps_in_dir(dir, &d.gaps));
    }
    let label = format!("policy derived from {}", dir.display());
    let policy = config::parse(&d.text, &label)?;
    if d.no_nodes {
        log::warn!(
            "{}: no cluster node addresses (no Get-ClusterNetworkInterface.json): SMB and heartbeats between nodes cannot be told from client traffic, so CSV redirected I/O is judged as client traffic (docs/derive.md)",
            dir.display()
        );
    }
    Ok((policy, d.text))
}
