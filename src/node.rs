//! Which `[hosts]` entry a capture was taken on: its `HOST/KEY`
//! `[interfaces]` keys apply to it (docs/policy.md). `audit --node
//! CAPTURE=HOST`, else inferred from the capture's first IP packets;
//! `verify` and `watch` run on the host itself: `--node HOST`, else the
//! local host name.

use std::collections::BTreeMap;
use std::net::IpAddr;

use analyzer::policy::Policy;
use anyhow::{bail, Result};
use capture::{FileSource, FrameSource};

use crate::pipeline::CaptureSpec;

/// IP packets read from the start of a capture to infer its host.
pub const SAMPLE: u64 = 65_536;

/// Frames read at most for that sample: a capture of mostly non-IP frames
/// (802.11 management, ARP storms) is not read to its end twice.
pub const SAMPLE_FRAMES: u64 = 16 * SAMPLE;

/// The host a capture was judged as taken on, how that was decided, and
/// the warning when it could not be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeChoice {
    /// The `[hosts]` name.
    pub name: Option<String>,
    /// `--node`, `inferred` or `hostname` (empty: not decided).
    pub how: &'static str,
    /// Why, in words (`NODE1 is an endpoint of 870 of its first 900 IP
    /// packets …`; empty for `--node`).
    pub why: String,
    /// Set when the policy has `HOST/KEY` keys and no host was decided.
    pub warning: Option<String>,
}

/// How often each host is an endpoint of a capture's first IP packets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// IP packets read.
    pub packets: u64,
    /// Per `[hosts]` name: packets one of its addresses sent or received.
    pub hosts: BTreeMap<String, u64>,
}

impl Tally {
    /// Counts the packet `src` → `dst`.
    pub fn add(&mut self, policy: &Policy, src: IpAddr, dst: IpAddr) {
        self.packets += 1;
        for (name, addrs) in &policy.hosts {
            if addrs.contains(&src) || addrs.contains(&dst) {
                *self.hosts.entry(name.clone()).or_insert(0) += 1;
            }
        }
    }

    /// The host that is an endpoint of more than half of the packets and
    /// of more than any other host; otherwise why none is.
    pub fn winner(&self) -> Result<(String, String), String> {
        let mut ranked: Vec<(&String, u64)> = self.hosts.iter().map(|(h, n)| (h, *n)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let counts = ranked
            .iter()
            .map(|(h, n)| format!("{h} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let p = self.packets;
        match ranked.as_slice() {
            [] if p == 0 => Err("it has no IP packet".into()),
            [] => Err(format!("no [hosts] address is an endpoint of its first {p} IP packets")),
            [(h, n), rest @ ..] if 2 * n > p && rest.first().is_none_or(|r| r.1 < *n) => Ok((
                h.to_string(),
                format!("{h} is an endpoint of {n} of its first {p} IP packets, more than half and more than any other host ({counts})"),
            )),
            [(_, n), (_, m), ..] if n == m => Err(format!(
                "no host is an endpoint of more of its first {p} IP packets than any other ({counts})"
            )),
            _ => Err(format!(
                "no host is an endpoint of more than half of its first {p} IP packets ({counts})"
            )),
        }
    }
}

/// Counts the hosts of `spec`'s first [`SAMPLE`] IP packets (a regular
/// file only: standard input or a pipe cannot be read twice).
fn tally(spec: &CaptureSpec, policy: &Policy) -> Result<Tally, String> {
    tally_within(spec, policy, SAMPLE_FRAMES)
}

/// [`tally`], reading at most `max_frames` frames.
fn tally_within(spec: &CaptureSpec, policy: &Policy, max_frames: u64) -> Result<Tally, String> {
    if !spec.is_regular() {
        return Err("it is not a regular file, which can be read twice".into());
    }
    let file = std::fs::File::open(&spec.path).map_err(|e| format!("cannot open it: {e}"))?;
    let mut src =
        FileSource::new(&spec.path, file, spec.iface.clone()).map_err(|e| e.to_string())?;
    let mut t = Tally::default();
    let mut frames = 0;
    while t.packets < SAMPLE && frames < max_frames {
        frames += 1;
        match src.next_frame() {
            Ok(Some(f)) => {
                if let Some((a, b)) = analyzer::decode::addresses(&f) {
                    t.add(policy, a, b);
                }
            }
            Ok(None) => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(t)
}

/// The `--node CAPTURE=HOST` values: (capture as given, `[hosts]` name).
pub fn given(
    values: &[String],
    specs: &[CaptureSpec],
    policy: &Policy,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for v in values {
        let Some((capture, host)) = v.rsplit_once('=') else {
            bail!("--node {v:?}: give CAPTURE=HOST (a capture argument and a [hosts] name)");
        };
        if !specs.iter().any(|s| s.path == capture) {
            let paths: Vec<&str> = specs.iter().map(|s| s.path.as_str()).collect();
            bail!(
                "--node {v:?}: {capture:?} is not a capture argument ({})",
                paths.join(", ")
            );
        }
        out.push((capture.to_string(), host_of(policy, host, "--node")?));
    }
    Ok(out)
}

/// The `[hosts]` name `host` means, or an error listing the hosts.
pub fn host_of(policy: &Policy, host: &str, flag: &str) -> Result<String> {
    match policy.host_named(host) {
        Some(h) => Ok(h.to_string()),
        None => {
            let hosts: Vec<&str> = policy.hosts.keys().map(String::as_str).collect();
            bail!(
                "{flag} {host:?}: not a [hosts] name of the policy (hosts: {})",
                hosts.join(", ")
            )
        }
    }
}

/// Decides each capture's host: `--node`, else inferred when the policy
/// has `HOST/KEY` keys (otherwise it would change nothing), warning of a
/// capture no host could be inferred for.
pub fn assign(specs: &mut [CaptureSpec], nodes: &[String], policy: &Policy) -> Result<()> {
    let given = given(nodes, specs, policy)?;
    for spec in specs.iter_mut() {
        if let Some((_, host)) = given.iter().rev().find(|(c, _)| *c == spec.path) {
            spec.node = NodeChoice {
                name: Some(host.clone()),
                how: "--node",
                why: String::new(),
                warning: None,
            };
            continue;
        }
        if !policy.has_host_keys() {
            continue;
        }
        spec.node = match tally(spec, policy).and_then(|t| t.winner()) {
            Ok((name, why)) => NodeChoice {
                name: Some(name),
                how: "inferred",
                why,
                warning: None,
            },
            Err(why) => {
                let warning = not_applied(
                    &spec.path,
                    &why,
                    policy,
                    &format!("pass --node {}=HOST", spec.path),
                );
                log::warn!("{warning}");
                NodeChoice {
                    warning: Some(warning),
                    why,
                    ..NodeChoice::default()
                }
            }
        };
    }
    Ok(())
}

/// The warning for a capture whose host is unknown: which keys were not
/// applied, and what to do.
pub fn not_applied(what: &str, why: &str, policy: &Policy, fix: &str) -> String {
    let keys: Vec<String> = policy
        .host_keys()
        .iter()
        .map(|k| format!("{k:?}"))
        .collect();
    format!(
        "{what}: not judged as any [hosts] node ({why}), so the [interfaces] keys HOST/KEY were not applied to it ({}): its NICs are judged by the other keys and by addresses only; {fix}",
        keys.join(", ")
    )
}

/// The host a live capture runs on: `--node HOST`, else the `[hosts]`
/// entry the local host name names (case ignored; a short name matches an
/// FQDN's first label). Decided only when the policy has `HOST/KEY` keys
/// or `--node` is given.
pub fn local(node: Option<&str>, policy: &Policy) -> Result<NodeChoice> {
    if let Some(h) = node {
        return Ok(NodeChoice {
            name: Some(host_of(policy, h, "--node")?),
            how: "--node",
            why: String::new(),
            warning: None,
        });
    }
    if !policy.has_host_keys() {
        return Ok(NodeChoice::default());
    }
    let hostname = hostname();
    match hostname_host(&hostname, policy) {
        Some(h) => Ok(NodeChoice {
            name: Some(h.to_string()),
            how: "hostname",
            why: format!("the local host name {hostname:?}"),
            warning: None,
        }),
        None => {
            let why = format!("the local host name {hostname:?} is no [hosts] name");
            let warning = not_applied("this host", &why, policy, "pass --node HOST");
            log::warn!("{warning}");
            Ok(NodeChoice {
                warning: Some(warning),
                why,
                ..NodeChoice::default()
            })
        }
    }
}

/// The local host name (empty when it cannot be had).
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// ` (judged as node NODE1: why)` for a log line, or nothing.
pub fn judged_as(node: &NodeChoice) -> String {
    match &node.name {
        Some(n) if node.why.is_empty() => format!(" (judged as node {n}: {})", node.how),
        Some(n) => format!(" (judged as node {n}: {})", node.why),
        None => String::new(),
    }
}

/// The `[hosts]` name `hostname` is: the same name ignoring case, or
/// short and long forms of it (`node1` and `node1.contoso.com`).
pub fn hostname_host<'p>(hostname: &str, policy: &'p Policy) -> Option<&'p str> {
    let short = |s: &str| s.split('.').next().unwrap_or(s).to_ascii_lowercase();
    let same = |h: &str| {
        h.eq_ignore_ascii_case(hostname)
            || (!h.contains('.') || !hostname.contains('.')) && short(h) == short(hostname)
    };
    if hostname.is_empty() {
        return None;
    }
    let found: Vec<&str> = policy
        .hosts
        .keys()
        .map(String::as_str)
        .filter(|h| same(h))
        .collect();
    match found.as_slice() {
        [one] => Some(one),
        _ => found
            .iter()
            .find(|h| h.eq_ignore_ascii_case(hostname))
            .copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[(&str, &str)]) -> Policy {
        let mut p = Policy::default();
        for (h, a) in hosts {
            p.hosts.insert(h.to_string(), vec![a.parse().unwrap()]);
        }
        p
    }

    #[test]
    fn a_host_needs_more_than_half_and_more_than_any_other() {
        let p = policy(&[("NODE1", "10.0.0.1"), ("NODE2", "10.0.0.2")]);
        let (n1, n2, c) = (
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            "10.0.0.9".parse().unwrap(),
        );
        let mut t = Tally::default();
        for _ in 0..3 {
            t.add(&p, n1, n2);
        }
        // Two nodes talking only to each other: a tie.
        assert!(t.winner().unwrap_err().contains("than any other"), "{t:?}");
        t.add(&p, c, n1);
        assert_eq!(t.winner().unwrap().0, "NODE1");
        // Half is not more than half.
        let mut t = Tally::default();
        t.add(&p, n1, c);
        t.add(&p, c, c);
        assert!(t.winner().unwrap_err().contains("more than half"), "{t:?}");
        assert!(Tally::default()
            .winner()
            .unwrap_err()
            .contains("no IP packet"));
    }

    /// A classic pcap of `arp` ARP frames, then `ip` UDP packets from
    /// 10.0.0.1 to 10.0.0.9.
    fn arp_then_ip(path: &std::path::Path, arp: usize, ip: usize) {
        let mut b = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        b.extend([0; 8]);
        b.extend(65_535u32.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        let frame = |b: &mut Vec<u8>, ethertype: [u8; 2], payload: &[u8]| {
            let len = (14 + payload.len()) as u32;
            b.extend([0; 8]);
            b.extend(len.to_le_bytes());
            b.extend(len.to_le_bytes());
            b.extend([0xff; 6]);
            b.extend([2, 0, 0, 0, 0, 1]);
            b.extend(ethertype);
            b.extend(payload);
        };
        for _ in 0..arp {
            frame(&mut b, [0x08, 0x06], &[0; 28]);
        }
        let mut ipv4 = vec![
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 9,
        ];
        ipv4.extend([0, 53, 0, 53, 0, 8, 0, 0]);
        for _ in 0..ip {
            frame(&mut b, [0x08, 0x00], &ipv4);
        }
        std::fs::write(path, b).unwrap();
    }

    #[test]
    fn the_sample_reads_a_bounded_number_of_frames() {
        let p = policy(&[("NODE1", "10.0.0.1")]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arp.pcap");
        arp_then_ip(&path, 20, 5);
        let spec = CaptureSpec::parse(path.to_str().unwrap());
        let t = tally_within(&spec, &p, 20).unwrap();
        assert_eq!((t.packets, t.hosts.get("NODE1").copied()), (0, None));
        let t = tally_within(&spec, &p, 24).unwrap();
        assert_eq!((t.packets, t.hosts.get("NODE1").copied()), (4, Some(4)));
        let t = tally(&spec, &p).unwrap();
        assert_eq!(t.winner().unwrap().0, "NODE1");
    }

    #[test]
    fn host_names_match_short_and_long_forms() {
        let p = policy(&[("NODE1", "10.0.0.1"), ("node2.contoso.com", "10.0.0.2")]);
        assert_eq!(hostname_host("node1", &p), Some("NODE1"));
        assert_eq!(hostname_host("Node1.contoso.com", &p), Some("NODE1"));
        assert_eq!(hostname_host("NODE2", &p), Some("node2.contoso.com"));
        assert_eq!(hostname_host("node2.fabrikam.com", &p), None);
        assert_eq!(hostname_host("node3", &p), None);
        assert_eq!(hostname_host("", &p), None);
    }
}
