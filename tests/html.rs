//! `--format html` in headless Chromium: every fixture scenario (and a run
//! that reads nothing, and one with 307 violating flows) rendered, loaded
//! with the flags the issue names and an empty profile, in one browser.
//! Each page must load with no console error or warning and no request but
//! itself; its banner must say the JSON's verdict and summary; its
//! violation rows must be the JSON's (order, Community ID, bytes shown and
//! exact, packets, first and last seen); it must draw one chart per class
//! and one small chart per violation, and hold no script. Screenshots
//! (light and dark) and the HTML go to `target/html-report/` for a person
//! to look at; the failing DPM scenario is also printed to PDF there.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::audit::policy;
use crate::browser::{Browser, Loaded};
use crate::util::{lanecheck, root};

/// Each scenario with the policy its tests use.
const SCENARIOS: [(&str, &str); 23] = [
    ("dpm_backup_lan", "dpm.toml"),
    ("dpm_primary_lan", "dpm.toml"),
    ("dpm_backup_addr_on_primary_nic", "dpm.toml"),
    ("dpm_fallback", "dpm-fallback.toml"),
    ("cluster_good", "cluster.toml"),
    ("cluster_bad", "cluster.toml"),
    ("sll2_dpm", "dpm.toml"),
    ("vlan_dpm", "dpm.toml"),
    ("ipv6_dpm", "dpm.toml"),
    ("dpm_frag_reversed", "dpm.toml"),
    ("truncated", "dpm.toml"),
    ("bigendian", "dpm.toml"),
    ("snaplen", "dpm.toml"),
    ("dpm_dcom_learned", "dpm.toml"),
    ("cluster_smb_shares", "cluster.toml"),
    ("cluster_fe80", "cluster.toml"),
    ("dpm_dns_ok", "dpm-dns.toml"),
    ("dpm_dns_wrong", "dpm-dns.toml"),
    ("dpm_fallback_despite_dns", "dpm-fallback.toml"),
    ("failover_changed", "failover.toml"),
    ("failover_seed002", "failover.toml"),
    ("failover_kept_vlan", "failover-kept.toml"),
    ("empty", "dpm.toml"),
];

/// Where pages and screenshots go for a person to look at.
fn out_dir() -> PathBuf {
    // target/debug/lanecheck → target/html-report
    let bin = Path::new(env!("CARGO_BIN_EXE_lanecheck"));
    let dir = bin
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| root().join("target"), Path::to_path_buf)
        .join("html-report");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One audit rendered twice: JSON (parsed) and HTML (a file).
struct Case {
    name: String,
    json: Value,
    html: PathBuf,
}

/// Audits `captures` with `policy_file` as JSON and as HTML: both exit
/// with the verdict's code.
fn render(name: &str, policy_file: &str, captures: &[&Path]) -> Case {
    let html = out_dir().join(format!("{name}.html"));
    let run = |extra: &[&str]| {
        let out = lanecheck()
            .args(["audit", "--policy", &policy(policy_file)])
            .args(captures)
            .args(extra)
            .output()
            .unwrap();
        (out.status.code(), out.stdout)
    };
    let (code, stdout) = run(&["--format", "json"]);
    let json: Value = serde_json::from_slice(&stdout).unwrap();
    let (html_code, _) = run(&["--format", "html", "-o", html.to_str().unwrap()]);
    let want = match json["verdict"].as_str().unwrap() {
        "pass" => 0,
        "fail" => 1,
        "error" => 2,
        _ => 3,
    };
    assert_eq!((code, html_code), (Some(want), Some(want)), "{name}");
    Case {
        name: name.to_string(),
        json,
        html,
    }
}

/// What the checks read from the rendered page.
const READ_PAGE: &str = r#"(() => {
  const text = sel => document.querySelector(sel)?.textContent ?? null;
  const rows = [...document.querySelectorAll('tbody.violation')].map(b => ({
    community_id: b.dataset.communityId,
    bytes: Number(b.querySelector('td.bytes data').value),
    bytes_shown: b.querySelector('td.bytes data').textContent.replace(/\D/g, ''),
    packets: Number(b.querySelector('td.packets data').value),
    first_seen: b.querySelector('time.first').getAttribute('datetime'),
    last_seen: b.querySelector('time.last').getAttribute('datetime'),
    class: b.querySelector('td:nth-child(2)').textContent,
    sparks: b.querySelectorAll('svg.spark').length,
  }));
  return {
    word: text('#verdict-word'),
    summary: text('#verdict-summary'),
    meta: text('p.meta'),
    banner: getComputedStyle(document.querySelector('header.banner')).backgroundColor,
    body: getComputedStyle(document.body).backgroundColor,
    nav: getComputedStyle(document.querySelector('nav')).display,
    rows,
    classes: [...document.querySelectorAll('article.class h3')].map(h => h.firstChild.textContent.trim()),
    charts: document.querySelectorAll('article.class svg.chart').length,
    dns_rows: document.querySelectorAll('table.dns tbody tr').length,
    warnings: document.querySelectorAll('ul.warnings li').length,
    captures: document.querySelectorAll('table.captures tbody tr').length,
    scripts: document.scripts.length,
  };
})()"#;

/// The page of `case` agrees with its JSON.
fn check_page(case: &Case, page: &Value) {
    let (name, j) = (&case.name, &case.json);
    assert_eq!(
        page["word"].as_str(),
        Some(&*j["verdict"].as_str().unwrap().to_uppercase()),
        "{name}"
    );
    assert_eq!(page["summary"], j["summary"], "{name}");
    let meta = page["meta"].as_str().unwrap_or_default();
    let said = overview_count(meta);
    assert_eq!(said, Some(violation_count(j)), "{name}: {meta}");
    let violations = j["violations"].as_array().unwrap();
    let rows = page["rows"].as_array().unwrap();
    assert_eq!(rows.len(), violations.len(), "{name}: violation rows");
    for (r, v) in rows.iter().zip(violations) {
        for k in [
            "community_id",
            "bytes",
            "packets",
            "first_seen",
            "last_seen",
            "class",
        ] {
            assert_eq!(r[k], v[k], "{name}: {k} of {v}");
        }
        assert_eq!(r["bytes_shown"], v["bytes"].to_string(), "{name}");
        assert_eq!(r["sparks"], 1, "{name}: the flow's own chart");
    }
    let classes: Vec<&Value> = j["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["class"])
        .collect();
    let shown: Vec<&Value> = page["classes"].as_array().unwrap().iter().collect();
    assert_eq!(shown, classes, "{name}: classes, largest first");
    assert_eq!(
        page["charts"].as_u64(),
        Some(classes.len() as u64),
        "{name}"
    );
    let count = |k: &str| j[k].as_array().unwrap().len() as u64;
    assert_eq!(
        page["dns_rows"].as_u64(),
        Some(count("dns_violations")),
        "{name}"
    );
    assert_eq!(page["warnings"].as_u64(), Some(count("warnings")), "{name}");
    assert_eq!(page["captures"].as_u64(), Some(count("captures")), "{name}");
    assert_eq!(page["scripts"], 0, "{name}: readable without JavaScript");
}

/// The violations the verdict counts, from the JSON: one per violating
/// flow and one per DNS answer breaking a rule.
fn violation_count(j: &Value) -> u64 {
    let n = |k: &str| j[k].as_array().map_or(0, |a| a.len() as u64);
    n("violations") + n("dns_violations")
}

/// The `N violations` of the overview line (`1 capture · … · 2 violations · …`).
fn overview_count(meta: &str) -> Option<u64> {
    meta.split(" · ")
        .find_map(|part| {
            part.strip_suffix(" violations")
                .or(part.strip_suffix(" violation"))
        })
        .and_then(|n| n.parse().ok())
}

/// The HTML page of an audit of `capture` with `policy_file`: its banner's
/// summary and its overview line, read from the file (no browser).
fn banner_and_overview(dir: &Path, capture: &str, policy_file: &Path) -> (String, String) {
    let html = dir.join("page.html");
    let status = lanecheck()
        .args(["audit", "--policy", policy_file.to_str().unwrap()])
        .arg(root().join("fixtures").join(capture))
        .args(["--format", "html", "-o", html.to_str().unwrap()])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "{capture}");
    let text = std::fs::read_to_string(&html).unwrap();
    let between = |from: &str, to: &str| {
        let start = text.find(from).unwrap() + from.len();
        text[start..][..text[start..].find(to).unwrap()].to_string()
    };
    (
        between("<span id=\"verdict-summary\">", "</span>"),
        between("<p class=\"meta\">", "</p>"),
    )
}

/// The overview line counts DNS violations as the banner does.
#[test]
fn the_overview_line_counts_the_violations_the_banner_counts() {
    let dir = tempfile::tempdir().unwrap();
    // dpm_dns_wrong: DPM data on the primary network, and ps.x.y.com's
    // answer without its backup address.
    let (banner, meta) = banner_and_overview(
        dir.path(),
        "dpm_dns_wrong.pcapng",
        Path::new(&policy("dpm-dns.toml")),
    );
    assert_eq!(
        banner,
        "2 violations (dpm on primary, 1 DNS answer breaking a rule)"
    );
    assert_eq!(overview_count(&meta), Some(2), "{meta}");
    // With DPM allowed on the primary network too, the DNS answer alone.
    let text = std::fs::read_to_string(policy("dpm-dns.toml")).unwrap();
    let lenient = dir.path().join("lenient.toml");
    let dpm = "[classes.dpm]\nnetworks = [\"backup\"]";
    assert!(text.contains(dpm));
    let allowed = "[classes.dpm]\nnetworks = [\"backup\", \"primary\"]\non_fallback = \"allow\"";
    std::fs::write(&lenient, text.replace(dpm, allowed)).unwrap();
    let (banner, meta) = banner_and_overview(dir.path(), "dpm_dns_wrong.pcapng", &lenient);
    assert_eq!(banner, "1 violation (1 DNS answer breaking a rule)");
    assert_eq!(overview_count(&meta), Some(1), "{meta}");
}

/// Loads `case` and checks it: nothing logged, nothing fetched.
fn load_checked(b: &mut Browser, case: &Case) -> (Loaded, Value) {
    let loaded = b.load(&case.html);
    assert_eq!(
        loaded.problems(),
        Vec::<&(String, String)>::new(),
        "{}: console",
        case.name
    );
    assert_eq!(
        loaded.requests,
        Vec::<String>::new(),
        "{}: requests",
        case.name
    );
    let page = b.eval(&loaded, READ_PAGE);
    check_page(case, &page);
    (loaded, page)
}

#[test]
fn every_scenario_renders_in_chromium_as_its_json_says() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    for (name, policy_file) in SCENARIOS {
        // The checked-in fixture (fixgen's output, byte for byte), named as
        // a user would name it.
        let t = fixgen::write(name, dir.path()).unwrap();
        let file = Path::new("fixtures").join(t.file.file_name().unwrap());
        assert_eq!(
            std::fs::read(root().join(&file)).unwrap(),
            std::fs::read(&t.file).unwrap()
        );
        cases.push(render(name, policy_file, &[&file]));
    }
    let not_a_capture = root().join("fixtures/README.md");
    cases.push(render("not_a_capture", "dpm.toml", &[&not_a_capture]));
    let many = crate::report::many_violations(dir.path());
    cases.push(render("many_violations", "dpm.toml", &[&many]));
    assert_eq!(cases[SCENARIOS.len()].json["verdict"], "error");
    let Some(mut b) = Browser::launch() else {
        return;
    };
    let out = out_dir();
    for case in &cases {
        let (loaded, page) = load_checked(&mut b, case);
        b.screenshot(&loaded, &out.join(format!("{}.png", case.name)));
        if case.name == "dpm_primary_lan" {
            dark_and_print(&mut b, &loaded, &page, &out);
        }
        b.close(&loaded);
    }
}

/// The failing DPM page in the dark scheme (another background, the
/// banner still red), and as printed (light, no navigation) to PDF.
fn dark_and_print(b: &mut Browser, loaded: &Loaded, light: &Value, out: &Path) {
    assert_eq!(light["body"], "rgb(255, 255, 255)");
    b.media(loaded, "screen", "dark");
    let dark = b.eval(loaded, READ_PAGE);
    assert_eq!(dark["body"], "rgb(13, 17, 23)");
    assert_ne!(dark["banner"], dark["body"]);
    b.screenshot(loaded, &out.join("dpm_primary_lan-dark.png"));
    b.media(loaded, "print", "dark");
    let print = b.eval(loaded, READ_PAGE);
    assert_eq!(
        (print["body"].as_str(), print["nav"].as_str()),
        (Some("rgb(255, 255, 255)"), Some("none"))
    );
    b.pdf(loaded, &out.join("dpm_primary_lan.pdf"));
    let pdf = std::fs::read(out.join("dpm_primary_lan.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
}

#[test]
fn the_browser_check_sees_requests_and_console_errors() {
    // A remote image is requested; under the page's CSP the attempt is
    // still seen (and then blocked), and the refusal is a console error:
    // the checks above catch a fetch either way.
    let dir = tempfile::tempdir().unwrap();
    let img = "<img src=\"http://127.0.0.1:9/x.png\" alt=\"\">";
    let open = dir.path().join("open.html");
    std::fs::write(&open, format!("<!DOCTYPE html><title>t</title>{img}")).unwrap();
    let csp = dir.path().join("csp.html");
    let meta = format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">",
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    );
    std::fs::write(&csp, format!("<!DOCTYPE html><title>t</title>{meta}{img}")).unwrap();
    let Some(mut b) = Browser::launch() else {
        return;
    };
    let fetched = b.load(&open);
    assert_eq!(fetched.requests, ["http://127.0.0.1:9/x.png"]);
    let refused = b.load(&csp);
    assert_eq!(refused.requests, ["http://127.0.0.1:9/x.png"]);
    let errors: Vec<&str> = refused
        .console
        .iter()
        .filter(|(level, _)| level == "error")
        .map(|(_, text)| text.as_str())
        .collect();
    assert!(
        errors
            .iter()
            .any(|t| t.contains("Content Security Policy") && t.contains("127.0.0.1:9")),
        "{:?}",
        refused.console
    );
}

#[test]
fn verify_writes_its_live_run_as_html() {
    use crate::netns::{root_or_skip, Lab};
    if !root_or_skip("verify_writes_its_live_run_as_html") {
        return;
    }
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("verify.html");
    let p = policy("dpm.toml");
    let mut args = vec![
        env!("CARGO_BIN_EXE_lanecheck"),
        "verify",
        "--policy",
        &p,
        "--format",
        "html",
        "-o",
        html.to_str().unwrap(),
        "--settle",
        "300ms",
        "--",
    ];
    let send = Lab::send_argv("10.10.12.90", 5719, 1_000_000);
    args.extend(send.iter().map(String::as_str));
    let out = lab.exec(&lab.dpm, &args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(text.contains(
        "<span id=\"verdict-word\">FAIL</span> <span id=\"verdict-summary\">1 violation (dpm on primary)</span>"
    ));
    for nic in ["eth0", "eth1"] {
        assert!(text.contains(&format!("<td>{nic}</td>")), "{nic}");
    }
    assert!(text.contains("<section id=\"live\"><h2>Live capture</h2>"));
    let Some(mut b) = Browser::launch() else {
        return;
    };
    let loaded = b.load(&html);
    assert_eq!(loaded.problems(), Vec::<&(String, String)>::new());
    assert_eq!(loaded.requests, Vec::<String>::new());
    let page = b.eval(&loaded, READ_PAGE);
    assert_eq!(page["rows"][0]["class"], "dpm");
    assert_eq!(page["rows"].as_array().map(Vec::len), Some(1));
}
