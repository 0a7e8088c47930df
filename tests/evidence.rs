//! Evidence conformance with the real corpus (`../shared/pcaps`): every SMB
//! tree connect and dialect, every endpoint-mapper endpoint and DCOM string
//! binding, every DNS answer that tshark 4.0.17 found appears as lanecheck
//! evidence, on the right flow, at the right packet time, and nothing more.
//! Frame numbers of the ground truth are turned into packet times with
//! tshark itself (installed by `make test`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::conformance::epoch_to_rfc3339;
use crate::util::{read_tsv, run_json, shared_corpus};

/// tshark's fields for every frame (`-T fields`), or `None` after a skip.
fn tshark(file: &Path, filter: &str, fields: &[&str]) -> Option<Vec<Vec<String>>> {
    let file = file.to_str().unwrap();
    let mut args = vec!["-n", "-r", file, "-T", "fields"];
    args.extend(["-E", "occurrence=a", "-E", "aggregator=|"]);
    if !filter.is_empty() {
        args.extend(["-Y", filter]);
    }
    for f in fields {
        args.extend(["-e", f]);
    }
    let text = crate::util::tshark_output("evidence conformance", &args)?;
    Some(
        text.lines()
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect(),
    )
}

/// Frame number → packet time (RFC 3339), by tshark.
fn frame_times(file: &Path) -> Option<HashMap<String, String>> {
    let rows = tshark(file, "", &["frame.number", "frame.time_epoch"])?;
    Some(
        rows.into_iter()
            .map(|r| (r[0].clone(), epoch_to_rfc3339(&r[1])))
            .collect(),
    )
}

/// `lanecheck flows --format json FILE`.
fn flows_doc(file: &Path) -> Value {
    run_json(&["flows", file.to_str().unwrap()], 0)
}

/// Every (client, client port, server, server port, evidence) of a document.
fn evidence_of<'a>(doc: &'a Value, kind: &str) -> Vec<(String, u64, String, u64, &'a Value)> {
    let mut out = Vec::new();
    for f in doc["flows"].as_array().unwrap() {
        for e in f["evidence"].as_array().unwrap() {
            if e["kind"] == kind && e.get("via").is_none() {
                out.push((
                    f["src"].as_str().unwrap().to_string(),
                    f["sport"].as_u64().unwrap(),
                    f["dst"].as_str().unwrap().to_string(),
                    f["dport"].as_u64().unwrap(),
                    e,
                ));
            }
        }
    }
    out
}

/// The ground-truth rows of `_corpus/NAME`, by capture file.
fn corpus_rows(corpus: &Path, name: &str) -> BTreeMap<PathBuf, Vec<HashMap<String, String>>> {
    let mut by_file: BTreeMap<PathBuf, Vec<_>> = BTreeMap::new();
    for row in read_tsv(&corpus.join("groundtruth/_corpus").join(name)) {
        by_file
            .entry(corpus.join(&row["file"]))
            .or_default()
            .push(row);
    }
    by_file
}

#[test]
fn smb_tree_connects_match_tshark() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let mut checked = 0;
    for (file, rows) in corpus_rows(&corpus, "smb_tree_connect_requests_all.tsv") {
        let Some(times) = frame_times(&file) else {
            return;
        };
        let doc = flows_doc(&file);
        let mut want: Vec<(String, u64, String, u64, String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r["ip.src"].clone(),
                    r["srcport"].parse().unwrap(),
                    r["ip.dst"].clone(),
                    r["dstport"].parse().unwrap(),
                    times[&r["frame"]].clone(),
                    r["path"].clone(),
                )
            })
            .collect();
        let mut got: Vec<_> = evidence_of(&doc, "smb-tree-connect")
            .into_iter()
            .map(|(c, cp, s, sp, e)| {
                let s_e = |k: &str| e[k].as_str().unwrap().to_string();
                (c, cp, s, sp, s_e("time"), s_e("path"))
            })
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{}", file.display());
        checked += want.len();
    }
    assert_eq!(
        checked, 21,
        "every tree connect of the ground truth was compared"
    );
}

#[test]
fn smb_dialects_match_tshark() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let mut checked = 0;
    for (file, rows) in corpus_rows(&corpus, "smb2_negotiate_dialect_all.tsv") {
        let Some(times) = frame_times(&file) else {
            return;
        };
        let doc = flows_doc(&file);
        let mut want: Vec<(String, String)> = rows
            .iter()
            .map(|r| (times[&r["frame"]].clone(), r["dialect"].clone()))
            .collect();
        let mut got: Vec<(String, String)> = evidence_of(&doc, "smb-dialect")
            .into_iter()
            .filter(|(.., e)| e["smb1"].is_null())
            .map(|(.., e)| {
                (
                    e["time"].as_str().unwrap().to_string(),
                    e["code"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{}", file.display());
        checked += want.len();
    }
    assert_eq!(checked, 23);
}

/// tshark's answer section of one response: (name, type, ttl) of the first
/// `dns.count.answers` records (answers come before authority and
/// additional records; the OPT pseudo-record has no TTL field).
/// (name, type, ttl) of each answer record.
type Answers = Vec<(String, String, String)>;

fn tshark_answers(file: &Path) -> Option<HashMap<String, Answers>> {
    let rows = tshark(
        file,
        "dns.flags.response == 1 && !icmp && !icmpv6",
        &[
            "frame.number",
            "dns.count.answers",
            "dns.resp.name",
            "dns.resp.type",
            "dns.resp.ttl",
        ],
    )?;
    let mut out = HashMap::new();
    for r in rows {
        let n: usize = r[1].parse().unwrap_or(0);
        let list = |i: usize| -> Vec<String> { r[i].split('|').map(str::to_string).collect() };
        let (names, types, ttls) = (list(2), list(3), list(4));
        let answers = (0..n)
            .map(|i| (names[i].to_lowercase(), types[i].clone(), ttls[i].clone()))
            .collect();
        out.insert(r[0].clone(), answers);
    }
    Some(out)
}

fn type_number(name: &str) -> &'static str {
    match name {
        "A" => "1",
        "CNAME" => "5",
        "PTR" => "12",
        "TXT" => "16",
        "AAAA" => "28",
        _ => "?",
    }
}

#[test]
fn dns_answers_match_tshark() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let rcodes = [("0", "NOERROR"), ("2", "SERVFAIL"), ("3", "NXDOMAIN")];
    let mut checked = 0;
    for dir in std::fs::read_dir(corpus.join("groundtruth")).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.join("dns_answers.tsv").is_file() {
            continue;
        }
        let source = std::fs::read_to_string(dir.join("SOURCE.txt")).unwrap();
        let file = corpus.join(source.trim());
        let (Some(times), Some(answers)) = (frame_times(&file), tshark_answers(&file)) else {
            return;
        };
        let doc = flows_doc(&file);
        let got = evidence_of(&doc, "dns-answer");
        // A response quoted inside an ICMP error (its client refused it) is
        // no answer the client received: tshark dissects it, lanecheck does not.
        let rows: Vec<_> = read_tsv(&dir.join("dns_answers.tsv"))
            .into_iter()
            .filter(|r| !r["ip.src"].contains(',') && !r["ipv6.src"].contains(','))
            .collect();
        assert_eq!(got.len(), rows.len(), "{}: DNS answers", file.display());
        for r in &rows {
            let time = &times[&r["frame.number"]];
            let id = u16::from_str_radix(r["dns.id"].trim_start_matches("0x"), 16).unwrap();
            let e = got
                .iter()
                .map(|g| g.4)
                .find(|e| e["time"] == time.as_str() && e["id"] == id)
                .unwrap_or_else(|| {
                    panic!(
                        "{}: no answer at frame {}",
                        file.display(),
                        r["frame.number"]
                    )
                });
            let rcode = rcodes
                .iter()
                .find(|(n, _)| *n == r["dns.flags.rcode"])
                .unwrap()
                .1;
            assert_eq!(e["rcode"], rcode);
            assert_eq!(e["query"], r["dns.qry.name"].to_lowercase().as_str());
            assert_eq!(type_number(e["qtype"].as_str().unwrap()), r["dns.qry.type"]);
            let ours: Vec<(String, String, String)> = e["answers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    (
                        a["name"].as_str().unwrap().to_string(),
                        type_number(a["type"].as_str().unwrap()).to_string(),
                        a["ttl"].to_string(),
                    )
                })
                .collect();
            assert_eq!(
                ours,
                answers[&r["frame.number"]],
                "{} frame {}",
                file.display(),
                r["frame.number"]
            );
            for a in e["answers"].as_array().unwrap() {
                let column = match a["type"].as_str().unwrap() {
                    "A" => "dns.a",
                    "AAAA" => "dns.aaaa",
                    "CNAME" => "dns.cname",
                    _ => continue,
                };
                let listed: Vec<String> = r[column].split(',').map(str::to_lowercase).collect();
                assert!(
                    listed.contains(&a["value"].as_str().unwrap().to_string()),
                    "{a} not in {listed:?}"
                );
            }
            checked += 1;
        }
    }
    // 36 rows, 3 of them responses quoted in ICMP errors.
    assert_eq!(
        checked, 33,
        "every DNS answer of the ground truth was compared"
    );
}

/// `learned_endpoints` of a flows document, as (server, proto, port, via,
/// interface, binding, learned_at).
/// (server, proto, port, via, interface, binding, learned_at).
type Learned = (String, String, Option<u64>, String, String, String, String);

fn learned_of(doc: &Value) -> Vec<Learned> {
    doc["learned_endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (
                s("server"),
                s("proto"),
                e["port"].as_u64(),
                s("via"),
                s("interface"),
                s("binding"),
                s("learned_at"),
            )
        })
        .collect()
}

#[test]
fn endpoint_mapper_and_dcom_endpoints_match_tshark() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let mut checked = 0;
    let epm = corpus_rows(&corpus, "epm_map_responses_all.tsv");
    let dcom = corpus_rows(&corpus, "dcom_string_bindings_all.tsv");
    let files: std::collections::BTreeSet<&PathBuf> = epm.keys().chain(dcom.keys()).collect();
    for file in files {
        let Some(times) = frame_times(file) else {
            return;
        };
        let mut want = Vec::new();
        for r in epm.get(file).into_iter().flatten() {
            let interface = r["epm.uuid(interface,transfer-syntax)"]
                .split(',')
                .next()
                .unwrap()
                .to_string();
            let port = r["dynamic_tcp_port"].parse().ok();
            let t = times[&r["frame"]].clone();
            want.push((
                r["epm.proto.ip"].clone(),
                "tcp".into(),
                port,
                "epm".into(),
                interface,
                String::new(),
                t,
            ));
        }
        for r in dcom.get(file).into_iter().flatten() {
            let t = times[&r["frame"]].clone();
            for b in r["string_bindings"].split('|') {
                let port = b
                    .rsplit_once('[')
                    .and_then(|(_, p)| p.trim_end_matches(']').parse().ok());
                // Bound to the address in the binding, else to the replying server.
                want.push((
                    r["ip.src"].clone(),
                    "tcp".into(),
                    port,
                    "dcom".into(),
                    String::new(),
                    b.to_string(),
                    t.clone(),
                ));
            }
        }
        let mut got = learned_of(&flows_doc(file));
        want.sort();
        got.sort();
        assert_eq!(got, want, "{}", file.display());
        checked += want.len();
    }
    assert_eq!(
        checked,
        3 + 4,
        "every endpoint and binding of the ground truth was compared"
    );
}

/// An endpoint the endpoint mapper hands out for a plain MS-RPC interface
/// (PsExec's service control manager) is dpm-control with a DPM server at
/// one end, but its reason names the interface tshark names, never DCOM.
#[test]
fn a_plain_rpc_endpoint_is_named_not_called_dcom() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let epm = corpus_rows(&corpus, "epm_map_responses_all.tsv");
    let (file, rows) = epm
        .iter()
        .find(|(f, _)| f.to_string_lossy().contains("psexec"))
        .expect("the PsExec capture's ept_map reply is in the ground truth");
    let r = &rows[0];
    // tshark's own name for the tower's interface floor.
    let filter = format!("frame.number == {}", r["frame"]);
    let Some(text) = crate::util::tshark_output(
        "plain RPC endpoint",
        &[
            "-n",
            "-r",
            file.to_str().unwrap(),
            "-Y",
            &filter,
            "-O",
            "epm",
        ],
    ) else {
        return;
    };
    let uuid = r["epm.uuid(interface,transfer-syntax)"]
        .split(',')
        .next()
        .unwrap();
    let named = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("UUID: ")?
                .strip_suffix(&format!(" ({uuid})"))
        })
        .expect("tshark names the interface");
    assert_eq!(named, "SVCCTL");
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    let dpm = &r["ip.dst"];
    std::fs::write(
        &policy,
        format!("[networks]\nall = [\"0.0.0.0/0\"]\n[hosts]\ndpm = [\"{dpm}\"]\n[roles]\ndpm_servers = [\"dpm\"]\n"),
    )
    .unwrap();
    let doc = run_json(
        &[
            "audit",
            "--policy",
            policy.to_str().unwrap(),
            "--flows",
            file.to_str().unwrap(),
        ],
        0,
    );
    let port: u64 = r["dynamic_tcp_port"].parse().unwrap();
    let flows: Vec<&Value> = doc["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["dst"] == r["epm.proto.ip"].as_str() && f["dport"] == port)
        .collect();
    assert_eq!(flows.len(), 1);
    let want = format!(
        "tcp/{port} with DPM server {dpm} (MS-RPC service control manager ({}), not DCOM): port learned from an endpoint-mapper (ept_map) reply for interface {uuid} by {} at ",
        named.to_lowercase(),
        r["ip.src"]
    );
    assert_eq!(flows[0]["class"], "dpm-control");
    let reason = flows[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with(&want), "{reason}");
}
