//! Deployment material in `packaging/`: the Prometheus alert rules, their
//! unit tests and the scrape config pass `promtool` (Debian's `prometheus`
//! package); the systemd unit passes `systemd-analyze verify`; the files
//! agree with each other on the job name, ports and paths.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::root;

fn prom_dir() -> PathBuf {
    root().join("packaging/prometheus")
}

fn systemd_dir() -> PathBuf {
    root().join("packaging/systemd")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether `tool` runs; if not, a loud notice (how to get it), or a panic
/// under `CI=true`, where a skip is a failure.
fn have(tool: &str, version_arg: &str, package: &str, test: &str) -> bool {
    if Command::new(tool).arg(version_arg).output().is_ok() {
        return true;
    }
    crate::util::skip(
        test,
        &format!(
            "`{tool}` not found (apt-get install --no-install-recommends {package}, or `make test`)"
        ),
    )
}

fn have_promtool(test: &str) -> bool {
    have("promtool", "--version", "prometheus", test)
}

/// Runs `cmd`, asserting success; returns stdout + stderr.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{text}",
        out.status
    );
    text
}

#[test]
fn alert_rules_pass_promtool_check() {
    if !have_promtool("alert_rules_pass_promtool_check") {
        return;
    }
    let out = run_ok(
        Command::new("promtool")
            .args(["check", "rules"])
            .arg(prom_dir().join("lanecheck-rules.yml")),
    );
    assert!(out.contains("SUCCESS: 7 rules found"), "{out}");
}

#[test]
fn alert_rules_unit_tests_pass() {
    if !have_promtool("alert_rules_unit_tests_pass") {
        return;
    }
    // rule_files in the test file are relative to its directory.
    let out = run_ok(
        Command::new("promtool")
            .args(["test", "rules", "lanecheck-rules.test.yml"])
            .current_dir(prom_dir()),
    );
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Every alert of the rule file has at least one firing case in the tests.
#[test]
fn every_alert_has_a_unit_test() {
    let rules = read(&prom_dir().join("lanecheck-rules.yml"));
    let tests = read(&prom_dir().join("lanecheck-rules.test.yml"));
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert_eq!(alerts.len(), 7, "{alerts:?}");
    for a in alerts {
        assert!(
            tests.contains(&format!("- exp_labels: {{alertname: {a},")),
            "{a} has no firing case in lanecheck-rules.test.yml"
        );
        assert!(
            tests.contains(&format!("alertname: {a}\n        exp_alerts: []")),
            "{a} has no not-firing case in lanecheck-rules.test.yml"
        );
    }
}

/// A prometheus.yml made of the scrape fragment and the rule file, with the
/// example file_sd targets, passes `promtool check config` (which also
/// parses the targets file and the rules).
#[test]
fn prometheus_config_with_fragment_and_rules_is_valid() {
    if !have_promtool("prometheus_config_with_fragment_and_rules_is_valid") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = dir.path().join("file_sd");
    std::fs::create_dir(&sd).unwrap();
    std::fs::copy(
        prom_dir().join("lanecheck-targets.example.yml"),
        sd.join("lanecheck.yml"),
    )
    .unwrap();
    let fragment = read(&prom_dir().join("scrape.yml"));
    let sd_path = "/etc/prometheus/file_sd/lanecheck/";
    assert!(
        fragment.contains(sd_path),
        "scrape.yml no longer reads {sd_path}"
    );
    // The fragment is a `scrape_configs:` document: Prometheus >= 2.43 takes
    // it as is in `scrape_config_files`; appended here, any version reads it.
    let config = format!(
        "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n\
         rule_files:\n  - {}\n{}",
        prom_dir().join("lanecheck-rules.yml").display(),
        fragment.replace(sd_path, &format!("{}/", sd.display()))
    );
    let file = dir.path().join("prometheus.yml");
    std::fs::write(&file, config).unwrap();
    let out = run_ok(
        Command::new("promtool")
            .args(["check", "config"])
            .arg(&file),
    );
    assert!(out.contains("SUCCESS: 7 rules found"), "{out}");
}

/// The unit, logrotate, scrape config and rules name the same things.
#[test]
fn packaging_files_agree() {
    let unit = read(&systemd_dir().join("lanecheck-watch.service"));
    let logrotate = read(&systemd_dir().join("lanecheck-logrotate"));
    let scrape = read(&prom_dir().join("scrape.yml"));
    let rules = read(&prom_dir().join("lanecheck-rules.yml"));
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    assert_eq!(
        exec,
        "/usr/local/bin/lanecheck watch --policy /etc/lanecheck/policy.toml \
         --alerts /var/log/lanecheck/alerts.jsonl --metrics 127.0.0.1:9750"
    );
    assert!(unit.contains("\nLogsDirectory=lanecheck\n"));
    assert!(unit.contains("\nUser=lanecheck\n"));
    for caps in ["AmbientCapabilities", "CapabilityBoundingSet"] {
        assert!(
            unit.contains(&format!("\n{caps}=CAP_NET_RAW CAP_NET_ADMIN\n")),
            "{caps} must be exactly CAP_NET_RAW CAP_NET_ADMIN"
        );
    }
    assert!(
        logrotate.starts_with('#') && logrotate.contains("\n/var/log/lanecheck/alerts.jsonl {")
    );
    assert!(logrotate.contains("create 0640 lanecheck lanecheck"));
    assert!(logrotate.contains("--signal=HUP") && logrotate.contains("lanecheck-watch.service"));
    assert!(scrape.contains("job_name: lanecheck\n"));
    assert!(rules.contains("up{job=\"lanecheck\"}"));
}

/// `systemd-analyze verify` on the unit, run against the real binary (it
/// exits 0 on unknown keys and bad values, so any output is a failure).
#[test]
fn systemd_unit_verifies() {
    if !have(
        "systemd-analyze",
        "--version",
        "systemd",
        "systemd_unit_verifies",
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = read(&systemd_dir().join("lanecheck-watch.service"))
        .replace("/usr/local/bin/lanecheck", env!("CARGO_BIN_EXE_lanecheck"));
    let file = dir.path().join("lanecheck-watch.service");
    std::fs::write(&file, unit).unwrap();
    let out = run_ok(
        Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&file),
    );
    assert!(out.trim().is_empty(), "systemd-analyze verify:\n{out}");
}
