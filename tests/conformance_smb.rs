//! SMB tree facts against tshark, run live on every SMB2 capture of the
//! shared corpus: per connection, the tree connects (session, path) in
//! order, and the first request of each (session, tree) that works inside
//! the tree, with the path of the tree connect whose response granted that
//! TreeId (`smb-tree-use`). The expected facts come from tshark's fields
//! (`smb2.cmd`, `smb2.msg_id`, `smb2.sesid`, `smb2.tid`, `smb2.nt_status`,
//! `smb2.tree`; SMB1's `smb.path` and `smb.uid`), never from lanecheck.
//! Granted TreeIds are not flow evidence: each grant is checked where data
//! uses it (the dissector's own test compares every grant by frame).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use crate::util::{all_values as all, run_json, shared_corpus, tshark_output};

/// A connection's facts, by client port: tree connects (session, path),
/// first tree uses (session, tree, path or none).
type Facts = BTreeMap<u64, (Vec<(String, String)>, Vec<(String, String, Option<String>)>)>;

/// The first string value of `key` in `v`.
fn field(v: &Value, key: &str) -> Option<String> {
    let mut out = Vec::new();
    all(v, key, &mut out);
    out.first().and_then(|x| x.as_str()).map(str::to_owned)
}

/// A layer that repeats in a frame (several SMB2 messages) as a list.
fn each(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    }
}

/// What tshark's tracking of tree connects says, message by message.
#[derive(Default)]
struct Trees {
    /// Tree connect requests awaiting a response: (stream, MessageId) → path.
    asked: HashMap<(String, String), String>,
    /// Trees granted: (session, TreeId) → path (a session's trees serve
    /// all its connections, SMB Multichannel).
    granted: HashMap<(String, String), String>,
    /// (stream, session, TreeId) already used.
    used: std::collections::HashSet<(String, String, String)>,
}

impl Trees {
    /// One SMB2 message `m` of TCP stream `stream`, client port `port`.
    fn message(&mut self, m: &Value, stream: &str, port: u64, facts: &mut Facts) {
        let get = |k: &str| field(m, k).unwrap_or_default();
        let (cmd, response) = (get("smb2.cmd"), get("smb2.flags.response") == "1");
        let (mid, session, tid) = (get("smb2.msg_id"), get("smb2.sesid"), get("smb2.tid"));
        let f = facts.entry(port).or_default();
        let data = matches!(cmd.parse::<u16>(), Ok(5..=11 | 14..=17));
        match (cmd.as_str(), response) {
            ("3", false) => {
                let path = get("smb2.tree");
                f.0.push((session, path.clone()));
                self.asked.insert((stream.into(), mid), path);
            }
            ("3", true) => {
                let path = self.asked.remove(&(stream.into(), mid));
                if let (Some(p), "0x00000000") = (path, get("smb2.nt_status").as_str()) {
                    self.granted.insert((session, tid), p);
                }
            }
            (_, false) if data && !["", "0x00000000", "0xffffffff"].contains(&tid.as_str()) => {
                let first = self
                    .used
                    .insert((stream.into(), session.clone(), tid.clone()));
                if first && session != "0x0000000000000000" {
                    let path = self.granted.get(&(session.clone(), tid.clone())).cloned();
                    // tshark's own tracking names the same tree.
                    assert_eq!(field(m, "smb2.tree"), path, "{stream} {session} {tid}");
                    f.1.push((session, tid, path));
                }
            }
            _ => {}
        }
    }
}

/// tshark's facts of `file`; `None` (skipped, a failure under CI) without tshark.
fn tshark_facts(test: &str, file: &Path) -> Option<Facts> {
    let filter = "smb2 || (smb.cmd == 0x75 && smb.flags.response == 0)";
    let path = file.to_str().unwrap();
    let args = [
        "-n",
        "-r",
        path,
        "-Y",
        filter,
        "-T",
        "json",
        "--no-duplicate-keys",
    ];
    let doc: Value = serde_json::from_str(&tshark_output(test, &args)?).unwrap();
    let (mut facts, mut trees) = (Facts::new(), Trees::default());
    for p in doc.as_array().unwrap() {
        let l = &p["_source"]["layers"];
        let tcp = |k: &str| field(&l["tcp"], k).unwrap();
        let (stream, sport, dport) = (tcp("tcp.stream"), tcp("tcp.srcport"), tcp("tcp.dstport"));
        let client = if ["445", "139"].contains(&dport.as_str()) {
            sport
        } else {
            dport
        };
        let port: u64 = client.parse().unwrap();
        for smb1 in each(&l["smb"]) {
            if let (Some(path), Some(uid)) = (field(smb1, "smb.path"), field(smb1, "smb.uid")) {
                let session = format!("0x{:016x}", uid.parse::<u64>().unwrap());
                facts.entry(port).or_default().0.push((session, path));
            }
        }
        for m in each(&l["smb2"]) {
            trees.message(m, &stream, port, &mut facts);
        }
    }
    Some(facts)
}

/// lanecheck's facts of `file`: its flows' `smb-tree-connect` evidence
/// seen on the connection itself and its `smb-tree-use` evidence.
fn lanecheck_facts(policy: &Path, file: &Path) -> Facts {
    let args = [
        "audit",
        "--policy",
        policy.to_str().unwrap(),
        "--flows",
        file.to_str().unwrap(),
    ];
    let doc = run_json(&args, 0);
    let mut facts = Facts::new();
    for flow in doc["flows"].as_array().unwrap() {
        let s = |e: &Value, k: &str| e[k].as_str().map(str::to_owned);
        for e in flow["evidence"].as_array().unwrap() {
            let f = facts.entry(flow["sport"].as_u64().unwrap()).or_default();
            match e["kind"].as_str().unwrap() {
                "smb-tree-connect" if e.get("via").is_none() => {
                    f.0.push((s(e, "session_id").unwrap(), s(e, "path").unwrap()));
                }
                "smb-tree-use" => f.1.push((
                    s(e, "session_id").unwrap(),
                    s(e, "tree_id").unwrap(),
                    s(e, "path"),
                )),
                _ => {}
            }
        }
    }
    facts.retain(|_, (c, u)| !c.is_empty() || !u.is_empty());
    facts
}

#[test]
fn smb_tree_connects_and_tree_uses_match_tshark() {
    let test = "smb_tree_connects_and_tree_uses_match_tshark";
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let policy = crate::util::every_smb_share_policy(dir.path());
    let files = crate::util::corpus_with(&corpus, &["smb2"]);
    let (mut connects, mut uses) = (0, 0);
    for file in &files {
        let full = corpus.join(file);
        let Some(mut want) = tshark_facts(test, &full) else {
            return;
        };
        want.retain(|_, (c, u)| !c.is_empty() || !u.is_empty());
        assert_eq!(lanecheck_facts(&policy, &full), want, "{file}");
        connects += want.values().map(|f| f.0.len()).sum::<usize>();
        uses += want.values().map(|f| f.1.len()).sum::<usize>();
    }
    // 8 captures; 13 tree connects (one of them SMB1); 13 first uses, 3 of
    // them on Multichannel channels that name a tree granted on another.
    assert_eq!((files.len(), connects, uses), (8, 13, 13));
}
