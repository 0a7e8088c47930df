//! Seed 000's DPM example (read from the shared reference): the derived
//! policies judge the DPM fixtures as `policies/dpm*.toml` do.

use std::collections::BTreeSet;

use super::*;
use crate::util::shared_reference;

const SEED_000: &str = "000_6715e0deb2400052.txt";

/// Seed 000's example: the servers' primary and backup addresses, the
/// backup network and its sequence number, and the FQDNs.
struct Seed000 {
    dpm: [String; 2],
    ps: [String; 2],
    backup: String,
    sequence: u32,
    fqdns: [String; 2],
}

fn seed_000() -> Option<Seed000> {
    let text = std::fs::read_to_string(shared_reference(SEED_000)?)
        .unwrap()
        .replace('\\', "");
    let row = |label: &str| -> [String; 2] {
        let line = text
            .lines()
            .find(|l| {
                !l.contains("NIC address")
                    && l.starts_with('|')
                    && l.contains(label)
                    && l.matches('|').count() == 4
            })
            .unwrap();
        let cells: Vec<&str> = line.trim_matches('|').split('|').collect();
        [cells[1].to_string(), cells[2].to_string()]
    };
    let add = text
        .lines()
        .find(|l| l.starts_with("Add-DPMBackupNetworkAddress"))
        .unwrap();
    let arg = |name: &str| {
        add.split_whitespace()
            .skip_while(|w| *w != name)
            .nth(1)
            .unwrap()
            .to_string()
    };
    // "The existing backup setup consists of dpm.x.y.com protecting ps.x.y.com."
    let setup = text.split("consists of ").nth(1).unwrap();
    let words: Vec<&str> = setup.split_whitespace().take(3).collect();
    let (dpm, ps) = (
        words[0].to_string(),
        words[2].trim_end_matches('.').to_string(),
    );
    assert!(text.contains("could also have been added with SequenceNumber 2"));
    Some(Seed000 {
        dpm: row("server|"),
        ps: row("Protected computer"),
        backup: arg("-Address"),
        sequence: arg("-SequenceNumber").parse().unwrap(),
        fqdns: [dpm, ps],
    })
}

/// The DPM scenarios of `fixtures/dpm_*.pcapng`.
const DPM_SCENARIOS: [&str; 8] = [
    "dpm_backup_lan",
    "dpm_primary_lan",
    "dpm_backup_addr_on_primary_nic",
    "dpm_fallback",
    "dpm_dcom_learned",
    "dpm_dns_ok",
    "dpm_dns_wrong",
    "dpm_fallback_despite_dns",
];

/// What identifies a violation, whatever the policy's comments and hosts.
fn violations(doc: &Value) -> BTreeSet<String> {
    let flows = doc["violations"].as_array().unwrap().iter().map(|v| {
        format!(
            "{} {} {} {}:{}→{}:{}",
            v["class"], v["network"], v["interface"], v["src"], v["sport"], v["dst"], v["dport"]
        )
    });
    let dns = doc["dns_violations"].as_array().unwrap().iter().map(|v| {
        format!(
            "dns {} {} {} rule {}",
            v["name"], v["client"], v["time"], v["rule"]
        )
    });
    flows.chain(dns).collect()
}

/// Audits every DPM fixture with `handwritten` and with `derived`: same
/// exit code and verdict; the derived policy's violations are the
/// hand-written one's plus, at most, flows of `extra_class`.
fn same_verdicts(handwritten: &str, derived: &Path, extra_class: Option<&str>) {
    let hand = root().join("policies").join(handwritten);
    for name in DPM_SCENARIOS {
        let (_dir, truth) = crate::audit::generate(name);
        let (hc, h) = audit_json(&["--policy", hand.to_str().unwrap()], &truth.file);
        let (dc, d) = audit_json(&["--policy", derived.to_str().unwrap()], &truth.file);
        assert_eq!(
            (dc, &d["verdict"]),
            (hc, &h["verdict"]),
            "{name} under {handwritten}"
        );
        let (hv, dv) = (violations(&h), violations(&d));
        assert!(hv.is_subset(&dv), "{name}: {hv:?} ⊄ {dv:?}");
        for extra in dv.difference(&hv) {
            let class = extra_class.map(|c| format!("\"{c}\" "));
            assert!(
                class.is_some_and(|c| extra.starts_with(&c)),
                "{name} under {handwritten}: unexpected {extra}"
            );
        }
    }
}

#[test]
fn seed_000_derives_the_dpm_policies() {
    let Some(s) = seed_000() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let backup = format!("{}:{}", s.backup, s.sequence);
    assert_eq!(backup, "192.168.1.0/24:1");
    // The primary network: the DPM server's primary address in the backup
    // network's /24 (the example's mask, 255.255.255.0).
    let primary = format!("{}.0/24:2", s.dpm[0].rsplit_once('.').unwrap().0);
    let servers = |dpm: &str, ps: &str| {
        vec![
            "--dpm-server".to_string(),
            format!("{dpm}={},{}", s.dpm[0], s.dpm[1]),
            "--protected-server".into(),
            format!("{ps}={},{}", s.ps[0], s.ps[1]),
            "--interface".into(),
            format!("eth0={}", s.dpm[0]),
            "--interface".into(),
            format!("eth1={}", s.dpm[1]),
        ]
    };
    let derive = |out: &str, backups: &[&str], names: (&str, &str)| {
        let mut args: Vec<String> = ["policy", "derive", "-o", out].map(String::from).to_vec();
        for b in backups {
            args.extend(["--dpm-backup-network".to_string(), b.to_string()]);
        }
        args.extend(servers(names.0, names.1));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run_in(d, &args);
        assert_eq!(
            (r.code, r.out.as_str(), r.err.as_str()),
            (0, "", "lint: clean\n")
        );
        let check = run_in(d, &["policy", "check", out]);
        assert_eq!(check.code, 0, "{}", check.err);
        d.join(out)
    };
    let only = derive("dpm.toml", &[&backup], ("dpm", "ps"));
    same_verdicts("dpm.toml", &only, None);
    let fallback = derive("fallback.toml", &[&backup, &primary], ("dpm", "ps"));
    // dpm-fallback.toml leaves clients unrestricted; the derived policy
    // keeps them on the primary network as with the backup LAN alone.
    same_verdicts("dpm-fallback.toml", &fallback, Some("client"));
    let text = std::fs::read_to_string(&fallback).unwrap();
    assert!(
        text.contains("networks = [\"backup\", \"primary\"]\non_fallback = \"warn\""),
        "{text}"
    );
    let named = derive("dns.toml", &[&backup], (&s.fqdns[0], &s.fqdns[1]));
    same_verdicts("dpm-dns.toml", &named, None);
    let text = std::fs::read_to_string(&named).unwrap();
    assert!(
        text.contains("names = [\"dpm.x.y.com\", \"ps.x.y.com\"]\nmust_include = [\"backup\"]"),
        "{text}"
    );
}
