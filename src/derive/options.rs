//! Flags, `--derive-from DIR` and `DIR/lanecheck-derive.toml` → `Inputs`.
//!
//! DIR holds files named after what produced them; `lanecheck-derive.toml`
//! holds the flags that have no export, each key a flag's name and each
//! value what the flag takes (a list for a repeatable flag). Flags given on
//! the command line add to DIR's: a file flag replaces DIR's file, a
//! repeatable flag's values follow DIR's, `--os` and `--lm-transport` win.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::Deserialize;
use toml::Spanned;

use super::inputs::{self, Address, Backup, ClusterNet, Given, Inputs, NicMap, Server};
use super::source::{self, InputError, Source};
use super::{json, table};
use crate::flags::{DeriveInputs, LmTransport, Os};

/// The files `--derive-from DIR` reads (matched case-insensitively).
pub const NETWORKS_JSON: &str = "Get-ClusterNetwork.json";
/// The table form of the cluster networks.
pub const NETWORKS_TXT: &str = "Get-ClusterNetwork.txt";
/// The cluster network interfaces.
pub const INTERFACES: &str = "Get-ClusterNetworkInterface.json";
/// The live-migration settings.
pub const MIGRATION: &str = "live-migration.json";
/// The flags without an export.
pub const SETTINGS: &str = "lanecheck-derive.toml";

/// Every input the flags (and DIR) name, parsed.
pub fn gather(flags: &DeriveInputs) -> Result<Inputs, InputError> {
    let dir = flags.derive_from.as_deref().map(Dir::open).transpose()?;
    let mut inputs = Inputs::default();
    let from_dir = |name: &str| dir.as_ref().and_then(|d| d.file(name));
    let networks_file = flags.cluster_networks.clone().map(Ok).or_else(|| {
        let (json, txt) = (from_dir(NETWORKS_JSON), from_dir(NETWORKS_TXT));
        match (json, txt) {
            (Some(j), Some(t)) => Some(Err(InputError::file(
                &t.display().to_string(),
                format!(
                    "both {} and {} are here: keep one",
                    j.display(),
                    t.display()
                ),
            ))),
            (j, t) => j.or(t).map(Ok),
        }
    });
    if let Some(path) = networks_file.transpose()? {
        let src = source::read(&path)?;
        inputs.networks = Some((src.path.clone(), cluster_networks(&src)?));
    }
    if let Some(path) = flags
        .cluster_interfaces
        .clone()
        .or_else(|| from_dir(INTERFACES))
    {
        let src = source::read(&path)?;
        inputs.ifaces = Some((src.path.clone(), json::interfaces(&src)?));
    }
    if let Some(path) = flags.live_migration.clone().or_else(|| from_dir(MIGRATION)) {
        inputs.migration = Some(json::migration(&source::read(&path)?)?);
    }
    if let Some(path) = from_dir(SETTINGS) {
        settings(&source::read(&path)?, &mut inputs)?;
    }
    apply_flags(flags, &mut inputs)?;
    Ok(inputs)
}

/// `Get-ClusterNetwork` as JSON or as a table (told apart by the first
/// character); a name listed twice is an error.
fn cluster_networks(src: &Source) -> Result<Vec<ClusterNet>, InputError> {
    let nets = if src.text.trim_start().starts_with(['[', '{']) {
        json::networks(src)?
    } else {
        table::networks(src)?
    };
    for (i, n) in nets.iter().enumerate() {
        if n.name == "unknown" {
            return Err(InputError::file(&n.origin, "a network called \"unknown\": lanecheck reserves the name for addresses outside every network; rename it"));
        }
        if let Some(first) = nets[..i].iter().find(|m| m.name == n.name) {
            return Err(InputError::file(
                &n.origin,
                format!(
                    "network {:?} is listed twice (first at {})",
                    n.name, first.origin
                ),
            ));
        }
    }
    Ok(nets)
}

/// `--derive-from DIR`.
struct Dir {
    path: PathBuf,
    names: Vec<String>,
}

impl Dir {
    fn open(path: &Path) -> Result<Self, InputError> {
        let label = path.display().to_string();
        let names: Vec<String> = std::fs::read_dir(path)
            .map_err(|e| InputError::file(&label, format!("cannot read the directory: {e}")))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        let dir = Dir {
            path: path.to_path_buf(),
            names,
        };
        let known = [NETWORKS_JSON, NETWORKS_TXT, INTERFACES, MIGRATION, SETTINGS];
        if known.iter().all(|k| dir.file(k).is_none()) {
            return Err(InputError::file(
                &label,
                format!("holds none of {}", known.join(", ")),
            ));
        }
        Ok(dir)
    }

    /// The file called `name` in any letter case.
    fn file(&self, name: &str) -> Option<PathBuf> {
        self.names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(name))
            .map(|n| self.path.join(n))
    }
}

/// `lanecheck-derive.toml`: the flags without an export.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Settings {
    os: Option<Spanned<String>>,
    lm_transport: Option<Spanned<String>>,
    address: Option<Vec<Spanned<String>>>,
    dpm_backup_network: Option<Vec<Spanned<String>>>,
    dpm_server: Option<Vec<Spanned<String>>>,
    protected_server: Option<Vec<Spanned<String>>>,
    interface: Option<Vec<Spanned<String>>>,
    allow: Option<Vec<Spanned<String>>>,
}

/// Line and column (1-based) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// Reads `lanecheck-derive.toml` into `inputs`.
fn settings(src: &Source, inputs: &mut Inputs) -> Result<(), InputError> {
    let at = |offset: usize| {
        let (l, c) = line_col(&src.text, offset);
        (
            format!("{}:{l}", src.path),
            InputError::at(&src.path, l, c, ""),
        )
    };
    let s: Settings = toml::from_str(&src.text).map_err(|e| {
        let (_, mut err) = at(e.span().map_or(0, |s| s.start));
        err.message = e.message().trim_end().to_string();
        err
    })?;
    let each = |list: &Option<Vec<Spanned<String>>>| -> Vec<(String, String, InputError)> {
        list.iter()
            .flatten()
            .map(|v| {
                let (origin, err) = at(v.span().start);
                (v.get_ref().clone(), origin, err)
            })
            .collect()
    };
    let fail = |mut e: InputError, m: String| {
        e.message = m;
        e
    };
    if let Some(os) = &s.os {
        let (origin, e) = at(os.span().start);
        inputs.os = Given {
            value: os_value(os.get_ref()).map_err(|m| fail(e, m))?,
            origin,
        };
    }
    if let Some(t) = &s.lm_transport {
        let (origin, e) = at(t.span().start);
        inputs.transport = Given {
            value: transport_value(t.get_ref()).map_err(|m| fail(e, m))?,
            origin,
        };
    }
    let lists = Lists {
        address: each(&s.address),
        backup: each(&s.dpm_backup_network),
        dpm: each(&s.dpm_server),
        protected: each(&s.protected_server),
        nic: each(&s.interface),
        allow: each(&s.allow),
    };
    lists.apply(inputs, |e, m| fail(e.clone(), m))
}

/// Repeatable values, each with its origin and an error to fill in.
struct Lists<E> {
    address: Vec<(String, String, E)>,
    backup: Vec<(String, String, E)>,
    dpm: Vec<(String, String, E)>,
    protected: Vec<(String, String, E)>,
    nic: Vec<(String, String, E)>,
    allow: Vec<(String, String, E)>,
}

impl<E> Lists<E> {
    /// Parses every value into `inputs`; `err` makes an error from a
    /// value's error seed and a message.
    fn apply(
        self,
        inputs: &mut Inputs,
        err: impl Fn(&E, String) -> InputError,
    ) -> Result<(), InputError> {
        for (v, origin, e) in &self.address {
            let (name, prefix) =
                inputs::pair(v, "NAME=PREFIX (like \"Heartbeat Cluster=172.16.20.0/24\")")
                    .map_err(|m| err(e, m))?;
            let prefix = inputs::cidr(&prefix).map_err(|m| err(e, m))?;
            inputs.addresses.push(Address {
                name,
                prefix,
                origin: origin.clone(),
            });
        }
        for (v, origin, e) in &self.backup {
            let (prefix, given, sequence) = inputs::backup(v).map_err(|m| err(e, m))?;
            inputs.backups.push(Backup {
                prefix,
                given,
                sequence,
                origin: origin.clone(),
            });
        }
        for (list, into) in [
            (&self.dpm, &mut inputs.dpm_servers),
            (&self.protected, &mut inputs.protected),
        ] {
            for (v, origin, e) in list {
                let (name, addrs) = inputs::server(v).map_err(|m| err(e, m))?;
                into.push(Server {
                    name,
                    addrs,
                    origin: origin.clone(),
                });
            }
        }
        for (v, origin, e) in &self.nic {
            let (nic, target) =
                inputs::pair(v, "NAME=ADDR or NAME=NETWORK (like eth1=192.168.1.23)")
                    .map_err(|m| err(e, m))?;
            inputs.nics.push(NicMap {
                nic,
                target,
                origin: origin.clone(),
            });
        }
        for (v, origin, _) in &self.allow {
            inputs.allow.push(Given {
                value: v.clone(),
                origin: origin.clone(),
            });
        }
        Ok(())
    }
}

fn os_value(v: &str) -> Result<Os, String> {
    Os::from_str(v.trim(), true).map_err(|_| format!("os {v:?} is not 2008r2 or 2012+"))
}

fn transport_value(v: &str) -> Result<LmTransport, String> {
    LmTransport::from_str(v.trim(), true)
        .map_err(|_| format!("lm-transport {v:?} is not tcp, compression or smb"))
}

/// The command line's own values, after DIR's.
fn apply_flags(flags: &DeriveInputs, inputs: &mut Inputs) -> Result<(), InputError> {
    if let Some(os) = flags.os {
        inputs.os = Given {
            value: os,
            origin: "--os".into(),
        };
    }
    if let Some(t) = flags.lm_transport {
        inputs.transport = Given {
            value: t,
            origin: "--lm-transport".into(),
        };
    }
    let each =
        |flag: &'static str, values: &[String]| -> Vec<(String, String, (&'static str, String))> {
            values
                .iter()
                .map(|v| (v.clone(), format!("{flag} {v}"), (flag, v.clone())))
                .collect()
        };
    let lists = Lists {
        address: each("--address", &flags.addresses),
        backup: each("--dpm-backup-network", &flags.dpm_backup_networks),
        dpm: each("--dpm-server", &flags.dpm_servers),
        protected: each("--protected-server", &flags.protected_servers),
        nic: each("--interface", &flags.interfaces),
        allow: each("--allow", &flags.allow),
    };
    lists.apply(inputs, |(flag, v), m| InputError::flag(flag, v, m))
}
