//! Tunnels end to end: `lanecheck flows` and `audit` on fixgen's tunnel
//! scenarios. Every number asserted comes from fixgen's bookkeeping, which
//! tshark confirms frame by frame (fixgen/tests/tshark_tunnels.rs).

use std::collections::BTreeMap;

use fixgen::{CaptureTruth, FlowTruth};
use serde_json::{json, Value};

use crate::audit::{class, generate, pb, policy, share, truth_sum};
use crate::flows::rfc3339;
use crate::util::{run, run_json};

/// proto, initiator and responder, and whether the flow is in a tunnel.
fn json_key(f: &Value) -> String {
    format!(
        "{} {}:{} {}:{} {}",
        f["proto"].as_str().unwrap(),
        f["src"].as_str().unwrap(),
        f["sport"],
        f["dst"].as_str().unwrap(),
        f["dport"],
        if f["tunnel"].is_null() {
            "plain"
        } else {
            "tunnelled"
        }
    )
}

fn truth_key(f: &FlowTruth) -> String {
    let t = if f.tunnel.is_some() {
        "tunnelled"
    } else {
        "plain"
    };
    format!(
        "{} {}:{} {}:{} {t}",
        f.proto, f.src, f.sport, f.dst, f.dport
    )
}

fn tunnel_json(f: &FlowTruth) -> Value {
    match &f.tunnel {
        None => Value::Null,
        Some(t) => json!({
            "type": t.kind,
            "id": t.id,
            "outer_src": t.outer.map(|o| o.0.to_string()),
            "outer_dst": t.outer.map(|o| o.1.to_string()),
        }),
    }
}

fn assert_flow(got: &Value, want: &FlowTruth, what: &str) {
    let counts = |v: &Value| {
        ["packets", "bytes", "packets_src_to_dst", "bytes_src_to_dst"]
            .map(|k| v[k].as_u64().unwrap())
    };
    let exp = [
        want.packets,
        want.bytes,
        want.packets_src_to_dst,
        want.bytes_src_to_dst,
    ];
    assert_eq!(counts(got), exp, "{what}: packets, bytes (total, src→dst)");
    let mut ifaces: Vec<String> = serde_json::from_value(got["interfaces"].clone()).unwrap();
    ifaces.sort();
    assert_eq!(ifaces, want.interfaces, "{what}: interfaces");
    assert_eq!(got["first_seen"], rfc3339(want.first_seen_ns), "{what}");
    assert_eq!(got["last_seen"], rfc3339(want.last_seen_ns), "{what}");
    assert_eq!(got["tunnel"], tunnel_json(want), "{what}: tunnel");
}

#[test]
fn every_tunnel_scenario_lists_exact_inner_and_outer_flows() {
    for s in fixgen::tunnel_scenarios() {
        let (_d, t) = generate(s.name);
        let doc = run_json(&["flows", t.file.to_str().unwrap()], 0);
        let cap = &doc["captures"][0];
        let name = s.name;
        assert_eq!(
            (cap["packets"].as_u64(), cap["bytes"].as_u64()),
            (Some(t.packets), Some(t.bytes)),
            "{name}"
        );
        assert_eq!(cap["non_ip"], t.non_ip_frames, "{name}: non-IP");
        assert_eq!(cap["undecoded"], json!({}), "{name}: nothing undecoded");
        assert_eq!(cap["mirror_packets"], t.mirror_packets, "{name}");
        assert_eq!(cap["mirror_bytes"], t.mirror_bytes, "{name}");
        let outer: u64 = t.outer_flows.iter().map(|f| f.packets).sum();
        assert_eq!(cap["overlay_packets"], outer, "{name}");
        let mut ifaces: Vec<String> = serde_json::from_value(cap["interfaces"].clone()).unwrap();
        ifaces.sort();
        assert_eq!(ifaces, t.interfaces, "{name}: capture interfaces");

        let got: BTreeMap<String, &Value> = doc["flows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (json_key(f), f))
            .collect();
        assert_eq!(
            got.len(),
            t.flows.len() + t.outer_flows.len(),
            "{name}: {:?}",
            got.keys()
        );
        for f in t.flows.iter().chain(&t.outer_flows) {
            let k = truth_key(f);
            let g = got
                .get(&k)
                .unwrap_or_else(|| panic!("{name}: no flow {k}; have {:?}", got.keys()));
            assert_flow(g, f, &format!("{name}: {k}"));
        }
        for f in &t.outer_flows {
            assert_eq!(got[&truth_key(f)]["class"], "tunnel", "{name}");
        }
    }
}

/// dpm.toml with the mirror sessions mapped to the networks of the ports
/// they mirror (eth0's in session 5, eth1's in session 7).
fn erspan_policy(dir: &std::path::Path) -> String {
    let text = std::fs::read_to_string(policy("dpm.toml")).unwrap();
    let text = text.replace(
        "[interfaces]\n",
        "[interfaces]\n\"erspan:5\" = \"primary\"\n\"erspan:7\" = \"backup\"\n",
    );
    let path = dir.join("dpm-erspan.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn audit(policy: &str, t: &CaptureTruth, code: i32) -> Value {
    run_json(
        &["audit", "--policy", policy, t.file.to_str().unwrap()],
        code,
    )
}

/// (class, network or interface name, packets, bytes, status) of every share
/// outside class `tunnel`, interfaces renamed by `rename`.
fn shares(
    doc: &Value,
    kind: &str,
    rename: &dyn Fn(&str) -> String,
) -> Vec<(String, String, u64, u64, String)> {
    let key = if kind == "networks" {
        "network"
    } else {
        "interface"
    };
    let mut out = Vec::new();
    for c in doc["classes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["class"] != "tunnel")
    {
        for s in c[kind].as_array().unwrap() {
            let (p, b) = pb(s);
            let n = rename(s[key].as_str().unwrap());
            out.push((
                c["class"].as_str().unwrap().to_string(),
                n,
                p,
                b,
                s["status"].to_string(),
            ));
        }
    }
    out.sort();
    out
}

fn violations(d: &Value) -> Vec<(String, String, u64, u64)> {
    d["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["class"].to_string(),
                format!("{}:{}", v["src"], v["dport"]),
                pb(v).0,
                pb(v).1,
            )
        })
        .collect()
}

/// The plain capture's audit `dp` and the tunnelled one's `dt` agree on
/// verdict, class, network and NIC bytes and violations; the tunnel adds its
/// own class (overlays) or mirror counters (ERSPAN), as the bookkeeping says.
fn assert_same_audit(dp: &Value, dt: &Value, t: &CaptureTruth, name: &str) {
    assert_eq!(dp["verdict"], dt["verdict"], "{name}");
    for c in ["dpm", "dpm-control", "dns"] {
        assert_eq!(pb(class(dt, c)), truth_sum(t, c, None), "{name}: class {c}");
        assert_eq!(pb(class(dt, c)), pb(class(dp, c)), "{name}: class {c}");
    }
    let same = |n: &str| n.to_string();
    let session = |n: &str| match n {
        "erspan:5" => "eth0".to_string(),
        "erspan:7" => "eth1".to_string(),
        other => other.to_string(),
    };
    assert_eq!(
        shares(dp, "networks", &same),
        shares(dt, "networks", &same),
        "{name}"
    );
    assert_eq!(
        shares(dp, "interfaces", &same),
        shares(dt, "interfaces", &session),
        "{name}"
    );
    assert_eq!(violations(dp), violations(dt), "{name}");
    let outer = t
        .outer_flows
        .iter()
        .fold((0, 0), |(p, b), f| (p + f.packets, b + f.bytes));
    if t.mirror_packets > 0 {
        assert!(dt["classes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["class"] != "tunnel"));
        assert_eq!(dt["captures"][0]["mirror_bytes"], t.mirror_bytes);
    } else {
        assert_eq!(pb(class(dt, "tunnel")), outer, "{name}: class tunnel");
        assert_eq!(pb(share(class(dt, "tunnel"), "networks", "unknown")), outer);
    }
}

/// The DPM transfer seen through VXLAN or ERSPAN gives the plain capture's
/// class bytes, network and NIC shares and verdict, for the good and the
/// leaking run.
#[test]
fn tunnelled_dpm_transfer_audits_like_the_plain_capture() {
    let dir = tempfile::tempdir().unwrap();
    let erspan = erspan_policy(dir.path());
    let dpm = policy("dpm.toml");
    let cases = [
        ("dpm_backup_lan", "tunnel_vxlan", &dpm, 0),
        ("dpm_primary_lan", "tunnel_vxlan_leak", &dpm, 1),
        ("dpm_backup_lan", "tunnel_erspan2", &erspan, 0),
        ("dpm_backup_lan", "tunnel_erspan3", &erspan, 0),
        ("dpm_primary_lan", "tunnel_erspan2_leak", &erspan, 1),
    ];
    for (plain, tunnelled, pol, code) in cases {
        let (_a, p) = generate(plain);
        let (_b, t) = generate(tunnelled);
        let (dp, dt) = (audit(&dpm, &p, code), audit(pol, &t, code));
        assert_same_audit(&dp, &dt, &t, tunnelled);
    }
}

#[test]
fn an_erspan_leak_names_the_session_and_its_network() {
    let dir = tempfile::tempdir().unwrap();
    let (_d, t) = generate("tunnel_erspan2_leak");
    let doc = audit(&erspan_policy(dir.path()), &t, 1);
    let dpm: Vec<&FlowTruth> = t.flows.iter().filter(|f| f.class == "dpm").collect();
    assert_eq!(doc["violations"].as_array().unwrap().len(), dpm.len());
    for v in doc["violations"].as_array().unwrap() {
        assert_eq!(v["interface"], "erspan:5");
        assert_eq!(v["tunnel"]["type"], "erspan-ii");
        assert_eq!(v["tunnel"]["id"], 5);
        let reason = v["reason"].as_str().unwrap();
        assert!(
            reason.contains("seen on erspan:5 (network primary)"),
            "{reason}"
        );
    }
    // Without the session mapped, the leak is still proven by the addresses.
    let doc = audit(&policy("dpm.toml"), &t, 1);
    assert_eq!(doc["violations"].as_array().unwrap().len(), dpm.len());
}

#[test]
fn text_reports_show_the_tunnel() {
    let (_d, t) = generate("tunnel_vxlan_leak");
    let out = run(&["flows", t.file.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    let bulk = t.flows.iter().find(|f| f.dport == 5719).unwrap();
    let tun = bulk.tunnel.as_ref().unwrap();
    let (a, b) = tun.outer.unwrap();
    let shown = format!("{} {} {a}→{b}", tun.kind, tun.id.unwrap());
    let line = text.lines().find(|l| l.contains(":5719")).unwrap();
    assert!(line.ends_with(&shown), "{line}");
    let outer: u64 = t.outer_flows.iter().map(|f| f.packets).sum();
    assert!(
        text.contains(&format!(
            "overlay: {outer} outer packets counted in tunnel flows"
        )),
        "{text}"
    );
    let out = run(&[
        "audit",
        "--policy",
        &policy("dpm.toml"),
        t.file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("    tunnel: {shown}\n")), "{text}");

    let (_d, t) = generate("tunnel_erspan3");
    let text = String::from_utf8(run(&["flows", t.file.to_str().unwrap()]).stdout).unwrap();
    let want = format!(
        "mirror transport (ERSPAN): {} packets, {} bytes, in no flow",
        t.mirror_packets, t.mirror_bytes
    );
    assert!(text.contains(&want), "{text}");
}
