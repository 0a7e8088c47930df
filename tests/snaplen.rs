//! Captures cut by a small snaplen (`editcap -s 256`, lanecheck's own live
//! default; 120 for SMB tree connects): a DCE/RPC fragment, DNS answer or
//! SMB tree connect the snaplen cut is read for what was captured, never
//! called malformed, and a give-up it causes says the snaplen. Expected numbers come from tshark on the full and the cut
//! files, never from lanecheck.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{all_values as all, gave_up, root, run_json, shared_corpus, skip, tshark_output};

const SNAPLEN: u32 = 256;

/// The reason a give-up caused by a 256-byte snaplen is counted under.
fn snaplen_reason() -> String {
    "payload cut by the capture's snaplen where the dissector needed it".to_string()
}

/// `src` cut at `SNAPLEN` bytes per frame, in `dir`; `None` (skipped)
/// without editcap.
fn cut_copy(test: &str, src: &Path, dir: &Path) -> Option<PathBuf> {
    cut_copy_at(test, src, dir, SNAPLEN)
}

/// `src` cut at `snaplen` bytes per frame, in `dir`.
fn cut_copy_at(test: &str, src: &Path, dir: &Path, snaplen: u32) -> Option<PathBuf> {
    let dst = dir.join(src.file_name().unwrap());
    let Ok(out) = Command::new("editcap")
        .args(["-s", &snaplen.to_string()])
        .arg(src)
        .arg(&dst)
        .output()
    else {
        skip(
            test,
            "editcap not found (`make test` installs it with tshark)",
        );
        return None;
    };
    assert!(out.status.success(), "editcap: {out:?}");
    Some(dst)
}

/// tshark's fields of the frames `filter` selects, one row per frame.
fn fields(test: &str, file: &Path, filter: &str, names: &[&str]) -> Option<Vec<Vec<String>>> {
    let mut args = vec!["-n", "-r", file.to_str().unwrap(), "-Y", filter];
    args.extend(["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]);
    for n in names {
        args.extend(["-e", n]);
    }
    let text = tshark_output(test, &args)?;
    Some(
        text.lines()
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect(),
    )
}

fn audit(policy: &Path, capture: &Path) -> Value {
    let out = crate::util::run(&[
        "audit",
        "--policy",
        policy.to_str().unwrap(),
        "--format",
        "json",
        capture.to_str().unwrap(),
    ]);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The TCP streams of `full` holding a reply lanecheck reads (an
/// `ept_map` reply, a DCOM activation or OXID resolution reply: the
/// interface by the context its bind or alter_context named) one of whose
/// segments is longer than `SNAPLEN`: the replies a 256-byte snaplen cuts.
fn streams_with_cut_replies(test: &str, full: &Path) -> Option<BTreeSet<String>> {
    const READ: [(&str, &[&str]); 3] = [
        ("e1af8308-5d1f-11c9-91a4-08002b14a0fa", &["3"]),
        ("000001a0-0000-0000-c000-000000000046", &["3", "4"]),
        ("99fcfec4-5260-101b-bbcb-00aa0021347a", &["0", "4"]),
    ];
    let binds = fields(
        test,
        full,
        "dcerpc.pkt_type == 11 || dcerpc.pkt_type == 14",
        &["tcp.stream", "dcerpc.cn_ctx_id", "dcerpc.cn_bind_to_uuid"],
    )?;
    let mut interface = BTreeMap::new();
    for r in &binds {
        for (ctx, uuid) in r[1].split(',').zip(r[2].split(',')) {
            interface.insert((r[0].clone(), ctx.to_string()), uuid.to_string());
        }
    }
    let lens: BTreeMap<String, u32> = fields(test, full, "frame", &["frame.number", "frame.len"])?
        .into_iter()
        .map(|r| (r[0].clone(), r[1].parse().unwrap()))
        .collect();
    let replies = fields(
        test,
        full,
        "dcerpc.pkt_type == 2",
        &[
            "tcp.stream",
            "dcerpc.cn_ctx_id",
            "dcerpc.opnum",
            "frame.number",
            "tcp.segment",
        ],
    )?;
    let mut cut = BTreeSet::new();
    for r in replies {
        let Some(uuid) = interface.get(&(r[0].clone(), r[1].clone())) else {
            continue;
        };
        let read = READ
            .iter()
            .any(|(u, ops)| u == uuid && ops.contains(&r[2].as_str()));
        let frames = r[4]
            .split(',')
            .filter(|f| !f.is_empty())
            .chain([r[3].as_str()]);
        if read && frames.map(|f| lens[f]).max().unwrap() > SNAPLEN {
            cut.insert(r[0].clone());
        }
    }
    Some(cut)
}

/// Each capture cut at 256 bytes gives up on exactly the flows whose
/// read reply tshark shows longer than that, with the snaplen as the
/// reason; none is called "not DCE/RPC" (it was "bad PDU header").
#[test]
fn dcerpc_cut_by_the_snaplen_gives_up_with_the_snaplen_reason() {
    let test = "dcerpc_cut_by_the_snaplen_gives_up_with_the_snaplen_reason";
    let mut files = vec![root().join("fixtures/dpm_dcom_learned.pcapng")];
    if let Some(corpus) = shared_corpus() {
        files.push(
            corpus.join("files/zeek+zeek/testing/btest/Traces/dce-rpc/kerberos135_auth.pcapng"),
        );
    }
    let policy = root().join("policies/dpm.toml");
    let dir = tempfile::tempdir().unwrap();
    for full in files {
        let Some(expect) = streams_with_cut_replies(test, &full) else {
            return;
        };
        let Some(cut) = cut_copy(test, &full, dir.path()) else {
            return;
        };
        assert!(
            !expect.is_empty(),
            "{}: no reply longer than the snaplen",
            full.display()
        );
        let got = gave_up(&audit(&policy, &cut));
        let want = BTreeMap::from([(
            ("dce-rpc".to_string(), snaplen_reason()),
            expect.len() as u64,
        )]);
        assert_eq!(got, want, "{}", full.display());
        // The whole capture gives up nowhere.
        assert_eq!(gave_up(&audit(&policy, &full)), BTreeMap::new());
    }
}

/// `many-protocols.pcap` cut at 256 bytes: every response tshark reads
/// whole is a dns-answer, each UDP flow with a response the snaplen cut is
/// counted once with the snaplen reason, and a `[[dns]]` rule says the
/// answers it covers were cut instead of calling their names unanswered.
#[test]
fn dns_answers_cut_by_the_snaplen_are_counted_and_not_unanswered() {
    let test = "dns_answers_cut_by_the_snaplen_are_counted_and_not_unanswered";
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let full = corpus
        .join("files/seladb+PcapPlusPlus/Tests/ExamplesTest/pcap_examples/many-protocols.pcap");
    let dir = tempfile::tempdir().unwrap();
    let Some(cut) = cut_copy(test, &full, dir.path()) else {
        return;
    };
    let response = "dns.flags.response == 1";
    let cols = [
        "ip.dst",
        "udp.dstport",
        "dns.qry.name",
        "dns.qry.type",
        "frame.number",
    ];
    let Some(all) = fields(test, &full, response, &cols) else {
        return;
    };
    let cut_filter = format!("{response} && frame.len > frame.cap_len");
    let lost = fields(test, &cut, &cut_filter, &cols).unwrap();
    assert!(!lost.is_empty());
    // Answers read: those the snaplen left whole.
    let flows = run_json(&["flows", cut.to_str().unwrap()], 0);
    let answers = flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["evidence"].as_array().unwrap())
        .filter(|e| e["kind"] == "dns-answer")
        .count();
    assert_eq!(answers, all.len() - lost.len());
    // Give-ups: one per client flow with a cut response.
    let lost_flows: BTreeSet<(&str, &str)> = lost.iter().map(|r| (&*r[0], &*r[1])).collect();
    let policy = dir.path().join("dns.toml");
    let rule = "[networks]\nlan = [\"10.0.0.0/8\"]\n\n[[dns]]\nnames = [\"*.google.com\", \"sa.bbc.com\"]\nmust_include = [\"lan\"]\n";
    std::fs::write(&policy, rule).unwrap();
    let doc = audit(&policy, &cut);
    let want = BTreeMap::from([(
        ("dns".to_string(), snaplen_reason()),
        lost_flows.len() as u64,
    )]);
    assert_eq!(gave_up(&doc), want);
    // The rule's names whose last response to a client was cut.
    let covered = |n: &str| n.ends_with(".google.com") || n == "sa.bbc.com";
    let key = |r: &Vec<String>| (r[0].clone(), r[2].clone(), r[3].clone());
    let last: BTreeMap<_, _> = all.iter().map(|r| (key(r), r[4].clone())).collect();
    let expect: BTreeSet<(String, String, String)> = lost
        .iter()
        .filter(|r| covered(&r[2]) && last[&key(r)] == r[4])
        .map(key)
        .collect();
    let warnings: Vec<&str> = crate::util::warnings(&doc);
    let snapped: Vec<&str> = warnings
        .iter()
        .filter(|w| w.contains("the capture's snaplen (256 bytes) cut the answer"))
        .copied()
        .collect();
    assert_eq!(snapped.len(), expect.len(), "{snapped:#?}");
    for (_, name, _) in &expect {
        assert!(snapped
            .iter()
            .any(|w| w.contains(&format!(": {name} was answered"))));
        let unanswered = format!(": {name} was queried");
        assert!(
            !warnings.iter().any(|w| w.contains(&unanswered)),
            "{warnings:#?}"
        );
    }
}

/// fixgen's `dpm_dns_ok` cut at 104 bytes (as `editcap -s 104`): its DNS
/// answer over TCP is cut after its question, its UDP answers stay whole.
/// The TCP flow is counted once with the snaplen reason, as a flow with a
/// cut UDP answer is, and the `[[dns]]` rule of `dpm-dns.toml` says the
/// name's answer was cut, not that it was never answered.
#[test]
fn a_dns_answer_over_tcp_cut_by_the_snaplen_is_counted_like_one_over_udp() {
    let test = "a_dns_answer_over_tcp_cut_by_the_snaplen_is_counted_like_one_over_udp";
    let (d, t) = crate::audit::generate("dpm_dns_ok");
    let tcp: Vec<&fixgen::DnsTruth> = t.dns.iter().filter(|a| a.transport == "tcp").collect();
    assert_eq!(tcp.len(), 1);
    let cut = d.path().join("cut.pcapng");
    let bytes = crate::smb_trees::snapped(&std::fs::read(&t.file).unwrap(), 104);
    std::fs::write(&cut, bytes).unwrap();
    // The responses the snaplen cut, by tshark: the TCP one only.
    let filter = "dns.flags.response == 1 && frame.len > frame.cap_len";
    let Some(lost) = fields(test, &cut, filter, &["tcp.srcport", "dns.qry.name"]) else {
        return;
    };
    assert_eq!(lost, vec![vec!["53".to_string(), tcp[0].name.clone()]]);
    let policy = root().join("policies/dpm-dns.toml");
    let doc = audit(&policy, &cut);
    let dns = gave_up(&doc).remove(&("dns".to_string(), snaplen_reason()));
    assert_eq!(dns, Some(1));
    let warnings = crate::util::warnings(&doc);
    let answered = format!(": {} was answered to {}", tcp[0].name, tcp[0].client);
    let snapped = "the capture's snaplen (104 bytes) cut the answer";
    let named = |w: &&str| w.contains(&format!(": {} was", tcp[0].name));
    let about: Vec<&str> = warnings.iter().copied().filter(named).collect();
    assert!(
        about
            .iter()
            .any(|w| w.contains(&answered) && w.contains(snapped)),
        "{about:#?}"
    );
    let unanswered = format!(": {} was queried", tcp[0].name);
    assert!(!about.iter().any(|w| w.contains(&unanswered)), "{about:#?}");
}

/// A tree connect request as tshark shows it: its TCP stream, the
/// client's port, the path's bytes as sent (SMB1: with its terminator),
/// where they start in the frame, and whether they are UTF-16LE.
struct TreeConnect {
    stream: String,
    port: String,
    bytes: Vec<u8>,
    at: usize,
    unicode: bool,
}

/// The SMB1 and SMB2 tree connect requests of `file`, in frame order, with
/// the paths' positions (`tshark -T json -x`: `_raw` is [hex, offset,
/// length, …]).
fn tree_connects(test: &str, file: &Path) -> Option<Vec<TreeConnect>> {
    let filter = "(smb.cmd == 0x75 && smb.flags.response == 0) \
                  || (smb2.cmd == 3 && smb2.flags.response == 0)";
    let args = [
        "-n",
        "-r",
        file.to_str().unwrap(),
        "-Y",
        filter,
        "-T",
        "json",
        "-x",
    ];
    let doc: Value = serde_json::from_str(&tshark_output(test, &args)?).unwrap();
    let mut out = Vec::new();
    for p in doc.as_array().unwrap() {
        let layers = &p["_source"]["layers"];
        let tcp = |k: &str| layers["tcp"][k].as_str().unwrap().to_string();
        let mut flags2 = Vec::new();
        all(layers, "smb.flags2.string", &mut flags2);
        for (key, unicode) in [
            ("smb.path_raw", flags2.first().is_some_and(|f| *f == "1")),
            ("smb2.tree_raw", true),
        ] {
            let mut raws = Vec::new();
            all(layers, key, &mut raws);
            for r in raws {
                let hex = r[0].as_str().unwrap();
                let bytes = (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                    .collect();
                out.push(TreeConnect {
                    stream: tcp("tcp.stream"),
                    port: tcp("tcp.srcport"),
                    bytes,
                    at: r[1].as_u64().unwrap() as usize,
                    unicode,
                });
            }
        }
    }
    Some(out)
}

/// A path's bytes as text: UTF-16LE (an odd last byte dropped) or OEM
/// (ASCII kept, anything else U+FFFD), as a dissector shows them.
fn text(b: &[u8], unicode: bool) -> String {
    if unicode {
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        b.iter()
            .map(|&c| {
                if c.is_ascii() {
                    char::from(c)
                } else {
                    '\u{fffd}'
                }
            })
            .collect()
    }
}

/// Every SMB capture of the corpus cut at 120 bytes, where each one's
/// first tree connect is cut (tshark places the corpus's paths 102 to 130
/// bytes into their frames): per flow, the tree connects before the first
/// one whose path tshark shows past the snaplen are listed whole, that one
/// as `smb-tree-connect-cut` with the bytes of its path the snaplen kept
/// (none when it cut the SMB2 header's Signature), and nothing after (the
/// dissector gave up); one give-up per such flow, SMB1 and SMB2 alike
/// (SMB1's were dropped in silence).
#[test]
fn smb_tree_connects_cut_by_the_snaplen_give_up_with_what_tshark_shows_captured() {
    const CUT: usize = 120;
    let test = "smb_tree_connects_cut_by_the_snaplen_give_up_with_what_tshark_shows_captured";
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let policy = crate::util::every_smb_share_policy(dir.path());
    let files = crate::util::corpus_with(&corpus, &["smb", "nbss"]);
    let mut cut_flows = 0;
    for file in files {
        let full = corpus.join(&file);
        let Some(connects) = tree_connects(test, &full) else {
            return;
        };
        let (mut want, mut gave_up_on) = (BTreeMap::<String, Vec<_>>::new(), BTreeSet::new());
        for c in &connects {
            if gave_up_on.contains(&c.stream) {
                continue;
            }
            let entry = want.entry(c.port.clone()).or_default();
            if c.at + c.bytes.len() <= CUT {
                let end = c.bytes.len() - if c.unicode { 2 } else { 1 };
                let path = if c.bytes.ends_with(&[0]) {
                    &c.bytes[..end]
                } else {
                    &c.bytes[..]
                };
                entry.push((false, text(path, c.unicode)));
            } else {
                entry.push((true, text(&c.bytes[..CUT.saturating_sub(c.at)], c.unicode)));
                gave_up_on.insert(c.stream.clone());
            }
        }
        let Some(cut) = cut_copy_at(test, &full, dir.path(), CUT as u32) else {
            return;
        };
        let doc = run_json(
            &[
                "audit",
                "--policy",
                policy.to_str().unwrap(),
                "--flows",
                cut.to_str().unwrap(),
            ],
            0,
        );
        let mut got = BTreeMap::<String, Vec<_>>::new();
        for f in doc["flows"].as_array().unwrap() {
            for e in f["evidence"].as_array().unwrap() {
                let kind = e["kind"].as_str().unwrap();
                let own = kind == "smb-tree-connect" && e.get("via").is_none();
                if own || kind == "smb-tree-connect-cut" {
                    let path = e["path"].as_str().unwrap().to_string();
                    got.entry(f["sport"].to_string())
                        .or_default()
                        .push((kind.ends_with("cut"), path));
                }
            }
        }
        assert_eq!(got, want, "{file}");
        let reason = (
            "smb".to_string(),
            "tree connect path cut by the snaplen".to_string(),
        );
        let n = gave_up(&doc).get(&reason).copied().unwrap_or(0);
        assert_eq!(n, gave_up_on.len() as u64, "{file}");
        cut_flows += gave_up_on.len();
    }
    // SMB1: 4 flows in 4 captures; SMB2: 8 flows in 7.
    assert_eq!(cut_flows, 12);
}
