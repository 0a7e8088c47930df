use super::*;
use crate::evidence::testkit::{corpus_file, dissect_file, Found};
use proptest::prelude::*;

/// A NetBIOS session message around `msg`.
fn nbss(msg: &[u8]) -> Vec<u8> {
    let n = msg.len();
    let mut v = vec![0, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    v.extend_from_slice(msg);
    v
}

/// A 64-byte SMB2 header followed by `body`.
fn smb2(command: u16, flags: u32, session_id: u64, status: u32, body: &[u8]) -> Vec<u8> {
    let mut h = SMB2.to_vec();
    h.extend_from_slice(&64u16.to_le_bytes());
    h.extend_from_slice(&[0; 2]);
    h.extend_from_slice(&status.to_le_bytes());
    h.extend_from_slice(&command.to_le_bytes());
    h.extend_from_slice(&[0; 2]);
    h.extend_from_slice(&flags.to_le_bytes());
    h.extend_from_slice(&[0; 20]); // NextCommand, MessageId, ProcessId, TreeId
    h.extend_from_slice(&session_id.to_le_bytes());
    h.extend_from_slice(&[0; 16]);
    h.extend_from_slice(body);
    h
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// An SMB2 TREE_CONNECT request, with or without the 3.1.1 extension.
fn tree_connect(session_id: u64, path: &str, extension: bool) -> Vec<u8> {
    let p = utf16le(path);
    let (flags, ext): (u16, &[u8]) = if extension {
        (TREE_CONNECT_EXTENSION_PRESENT, &[0; 16])
    } else {
        (0, &[])
    };
    let offset = (72 + ext.len()) as u16;
    let mut body = 9u16.to_le_bytes().to_vec();
    for v in [flags, offset, p.len() as u16] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    body.extend_from_slice(ext);
    body.extend_from_slice(&p);
    smb2(TREE_CONNECT, 0, session_id, 0, &body)
}

fn negotiate_response(dialect: u16) -> Vec<u8> {
    let mut body = 65u16.to_le_bytes().to_vec();
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&dialect.to_le_bytes());
    body.extend_from_slice(&[0; 58]);
    smb2(NEGOTIATE, FLAG_RESPONSE, 0, 0, &body)
}

/// A 32-byte SMB1 header (Flags2 Unicode if asked, UID) and a block.
fn smb1(command: u8, reply: bool, unicode: bool, uid: u16, block: &[u8]) -> Vec<u8> {
    let mut h = SMB1.to_vec();
    h.push(command);
    h.extend_from_slice(&[0; 4]);
    h.push(if reply { SMB1_REPLY } else { 0 });
    h.extend_from_slice(&(if unicode { 0xc807u16 } else { 0x4807 }).to_le_bytes());
    h.extend_from_slice(&[0; 16]);
    h.extend_from_slice(&uid.to_le_bytes());
    h.extend_from_slice(&[0; 2]);
    h.extend_from_slice(block);
    h
}

/// A TREE_CONNECT_ANDX block: a 1-byte password, a pad byte if asked
/// (Unicode alignment), the path, the service.
fn tree_connect_andx(path: &str, unicode: bool, pad: bool) -> Vec<u8> {
    let mut bytes = vec![0u8];
    if pad {
        bytes.push(0);
    }
    if unicode {
        bytes.extend(utf16le(path));
        bytes.extend_from_slice(&[0, 0]);
    } else {
        bytes.extend_from_slice(path.as_bytes());
        bytes.push(0);
    }
    bytes.extend_from_slice(b"?????\0");
    let mut b = vec![4, 0xff, 0, 0, 0, 0, 0, 1, 0];
    b.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    b.extend(bytes);
    b
}

fn run(d: &mut Smb, segments: &[(Dir, &[u8], bool)]) -> Result<Vec<Fact>, GiveUp> {
    let mut out = Vec::new();
    for &(dir, data, start) in segments {
        d.feed(dir, data, start, &mut out)?;
    }
    Ok(out)
}

fn fresh() -> Smb {
    Smb::new([Start::Beginning; 2])
}

fn tc(path: &str, session_id: u64) -> Fact {
    Fact::SmbTreeConnect {
        path: path.into(),
        session_id,
    }
}

#[test]
fn negotiate_session_and_signed_responses() {
    let setup = smb2(SESSION_SETUP, FLAG_RESPONSE, 7, 0xC000_0016, &[9, 0]);
    let signed = smb2(SESSION_SETUP, FLAG_RESPONSE | FLAG_SIGNED, 7, 0, &[9, 0]);
    let mut stream = nbss(&negotiate_response(0x0311));
    stream.extend(nbss(&setup));
    stream.extend(nbss(&signed));
    stream.extend(nbss(&signed));
    let got = run(&mut fresh(), &[(Dir::ToClient, &stream, true)]).unwrap();
    assert_eq!(
        got,
        vec![
            Fact::SmbDialect(Dialect::Smb2(0x0311)),
            Fact::SmbSession { session_id: 7 },
            Fact::SmbSigned { session_id: 7 },
        ]
    );
}

#[test]
fn tree_connects_with_and_without_the_extension() {
    let mut stream = nbss(&tree_connect(5, r"\\srv\share", false));
    stream.extend(nbss(&tree_connect(6, r"\\node1\ClusterStorage$", true)));
    // PathOffset pointing at the extension header itself: malformed.
    let mut bad = tree_connect(7, r"\\x\y", true);
    bad[68] = 72;
    stream.extend(nbss(&bad));
    let got = run(&mut fresh(), &[(Dir::ToServer, &stream, true)]).unwrap();
    assert_eq!(
        got,
        vec![tc(r"\\srv\share", 5), tc(r"\\node1\ClusterStorage$", 6)]
    );
}

#[test]
fn a_compound_chain_with_a_tree_connect_second() {
    // A SESSION_SETUP request (25-byte body), padded to 8 bytes, then a
    // related TREE_CONNECT whose SessionId means "the previous one".
    let mut first = smb2(SESSION_SETUP, 0, 9, 0, &[25; 25]);
    let next = first.len().next_multiple_of(8);
    first.resize(next, 0);
    first[20..24].copy_from_slice(&(next as u32).to_le_bytes());
    let mut second = tree_connect(u64::MAX, r"\\srv\IPC$", false);
    second[16] |= FLAG_RELATED as u8;
    first.extend(second);
    let got = run(&mut fresh(), &[(Dir::ToServer, &nbss(&first), true)]).unwrap();
    assert_eq!(got, vec![tc(r"\\srv\IPC$", 9)]);
}

#[test]
fn transform_and_compression_headers() {
    let mut enc = TRANSFORM.to_vec();
    enc.extend_from_slice(&[0; 40]);
    enc.extend_from_slice(&0x1234u64.to_le_bytes());
    enc.extend_from_slice(&[0xaa; 100]);
    let mut comp = COMPRESSION.to_vec();
    comp.extend_from_slice(&[0x55; 60]);
    let mut stream = nbss(&enc);
    stream.extend(nbss(&comp));
    stream.extend(nbss(&enc));
    let got = run(&mut fresh(), &[(Dir::ToServer, &stream, true)]).unwrap();
    assert_eq!(got, vec![Fact::SmbEncrypted { session_id: 0x1234 }]);
}

#[test]
fn smb1_negotiate_and_tree_connects_unicode_and_ascii() {
    let list = b"\x02PC NETWORK PROGRAM 1.0\0\x02LANMAN1.0\0\x02NT LM 0.12\0";
    let mut block = vec![0];
    block.extend_from_slice(&(list.len() as u16).to_le_bytes());
    block.extend_from_slice(list);
    let request = smb1(SMB1_NEGOTIATE, false, true, 0, &block);
    let response = smb1(SMB1_NEGOTIATE, true, true, 0, &[17, 2, 0]);
    let uni = smb1(
        0x75,
        false,
        true,
        2048,
        &tree_connect_andx(r"\\SCV\IPC$", true, false),
    );
    let oem = smb1(
        0x75,
        false,
        false,
        3,
        &tree_connect_andx(r"\\10.0.0.2\C$", false, false),
    );
    let mut up = nbss(&request);
    up.extend(nbss(&uni));
    up.extend(nbss(&oem));
    let mut d = fresh();
    let got = run(
        &mut d,
        &[
            (Dir::ToServer, &up, true),
            (Dir::ToClient, &nbss(&response), true),
        ],
    )
    .unwrap();
    let want = vec![
        tc(r"\\SCV\IPC$", 2048),
        tc(r"\\10.0.0.2\C$", 3),
        Fact::SmbDialect(Dialect::Smb1("NT LM 0.12".into())),
    ];
    assert_eq!(got, want);
}

#[test]
fn smb1_tree_connect_chained_after_session_setup() {
    // SESSION_SETUP_ANDX cut to WordCount 2 (AndX only) and no bytes: the
    // chained block starts at 32 + 7 = 39, its Bytes at 50, the path
    // after the 1-byte password at 51 (odd), so one pad byte.
    let mut block = vec![2, SMB1_TREE_CONNECT_ANDX, 0, 39, 0, 0, 0];
    block.extend(tree_connect_andx(r"\\SRV\DATA", true, true));
    let msg = smb1(0x73, false, true, 100, &block);
    let got = run(&mut fresh(), &[(Dir::ToServer, &nbss(&msg), true)]).unwrap();
    assert_eq!(got, vec![tc(r"\\SRV\DATA", 100)]);
}

#[test]
fn a_record_split_into_one_byte_segments() {
    // Port 139: session request (two 34-byte names), keepalive.
    let mut stream = vec![0x81, 0, 0, 68];
    stream.extend_from_slice(&[0x20; 68]);
    stream.extend_from_slice(&[0x85, 0, 0, 0]);
    stream.extend(nbss(&tree_connect(1, r"\\a\b", false)));
    let segs: Vec<_> = stream.chunks(1).map(|c| (Dir::ToServer, c, true)).collect();
    assert_eq!(run(&mut fresh(), &segs).unwrap(), vec![tc(r"\\a\b", 1)]);
}

#[test]
fn a_midway_stream_resyncs_at_a_session_message() {
    let mut d = Smb::new([Start::Midway; 2]);
    let msg = nbss(&tree_connect(4, r"\\x\y", false));
    let (head, tail) = msg.split_at(40);
    let got = run(
        &mut d,
        &[
            (Dir::ToServer, tail, true), // the end of an earlier record
            (Dir::ToServer, &[0, 0, 0, 9, 1, 2], true),
            (Dir::ToServer, head, true),
            (Dir::ToServer, tail, false),
        ],
    )
    .unwrap();
    assert_eq!(got, vec![tc(r"\\x\y", 4)]);
}

#[test]
fn garbage_gives_up() {
    let http = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(
        run(&mut fresh(), &[(Dir::ToServer, http, true)]),
        Err(BAD_FRAMING)
    );
    let no_magic = [0, 0, 0, 8, b'S', b'M', b'B', b'!', 0, 0, 0, 0];
    assert_eq!(
        run(&mut fresh(), &[(Dir::ToServer, &no_magic, true)]),
        Err(BAD_FRAMING)
    );
}

/// A corpus TSV's rows of columns, the header line dropped.
fn tsv(path: &std::path::Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).expect("read ground truth");
    let rows = text.lines().skip(1).filter(|l| !l.is_empty());
    rows.map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// Per capture: tree connects as (frame, client, server, client port,
/// server port, path) and SMB2 dialects as (frame, 0xCODE), in the
/// ground truth's columns and spelling.
type Expected = std::collections::BTreeMap<String, [Vec<Vec<String>>; 2]>;

/// Every tree connect and SMB2 dialect tshark 4.0.17 found in the
/// shared corpus is found at the same frame, with the same path and
/// endpoints, and nothing else is: over every capture the ground truth
/// names, and every capture whose protocol hierarchy shows SMB.
#[test]
fn conformance_with_the_corpus_ground_truth() {
    let gt = "../groundtruth/_corpus";
    let (Some(trees), Some(dialects), Some(manifest)) = (
        corpus_file(&format!("{gt}/smb_tree_connect_requests_all.tsv")),
        corpus_file(&format!("{gt}/smb2_negotiate_dialect_all.tsv")),
        corpus_file("../MANIFEST.tsv"),
    ) else {
        crate::evidence::testkit::skip("smb corpus conformance", "the shared corpus is absent");
        return;
    };
    let mut want = Expected::new();
    for mut cols in tsv(&trees) {
        let file = cols.remove(0);
        cols.remove(5); // kind (smb1/smb2): not a fact field
        want.entry(file).or_default()[0].push(cols);
    }
    for mut cols in tsv(&dialects) {
        let file = cols.remove(0);
        want.entry(file).or_default()[1].push(cols);
    }
    for cols in tsv(&manifest) {
        let protocols = cols.get(12).map_or("", String::as_str);
        if protocols.contains("smb") || protocols.contains("nbss") {
            want.entry(cols[0].clone()).or_default();
        }
    }
    for (file, mut expected) in want {
        let rel = file.strip_prefix("files/").unwrap_or(&file);
        let path = corpus_file(rel).expect("a capture the ground truth names");
        let (found, gave_up) = smb_facts(&path);
        // A gap in the capture is not the dissector's doing; anything
        // else on a 139/445 flow of this corpus is a bug.
        for (frame, why) in &gave_up {
            eprintln!("{file}: gave up at frame {frame}: {why}");
            assert_eq!(why.0, "gap in the stream", "{file}: frame {frame}");
        }
        eprintln!("{file}: {} facts, {} give-ups", found.len(), gave_up.len());
        let mut got: [Vec<Vec<String>>; 2] = Default::default();
        for f in found {
            let (c, s, frame) = (f.client, f.server, f.frame.to_string());
            match f.fact {
                Fact::SmbTreeConnect { path, .. } => got[0].push(vec![
                    frame,
                    c.0.to_string(),
                    s.0.to_string(),
                    c.1.to_string(),
                    s.1.to_string(),
                    path,
                ]),
                Fact::SmbDialect(Dialect::Smb2(code)) => {
                    got[1].push(vec![frame, format!("0x{code:04x}")])
                }
                _ => {}
            }
        }
        for v in got.iter_mut().chain(expected.iter_mut()) {
            v.sort();
        }
        assert_eq!(got[0], expected[0], "{file}: tree connects");
        assert_eq!(got[1], expected[1], "{file}: SMB2 dialects");
    }
}

/// Runs an [`Smb`] over every TCP flow to port 139 or 445 of a capture.
fn smb_facts(path: &std::path::Path) -> (Vec<Found>, Vec<(u64, GiveUp)>) {
    dissect_file(path, |_, server, _, starts| {
        matches!(server.1, 139 | 445).then(|| Box::new(Smb::new(starts)) as Box<dyn Dissector>)
    })
}

/// Facts the ground truth has no table for, checked once by hand
/// against tshark (smb2.sesid of the first SESSION_SETUP response,
/// signed message and transform header; smb2.server_guid of the NEGOTIATE
/// response; smb.dialect.index).
#[test]
fn corpus_session_encryption_and_smb1_dialect() {
    let (Some(smb3), Some(ascii)) = (
        corpus_file("zeek+zeek/testing/btest/Traces/smb/smb3.pcap"),
        corpus_file("arkime+arkime/tests/pcap/smb-smb1-ascii.pcap"),
    ) else {
        crate::evidence::testkit::skip("smb corpus spot checks", "the shared corpus is absent");
        return;
    };
    let session_id = 0x0000_4800_9400_003d;
    let got: Vec<_> = smb_facts(&smb3)
        .0
        .into_iter()
        .filter(|f| {
            !matches!(
                f.fact,
                Fact::SmbTreeConnect { .. }
                    | Fact::SmbDialect(_)
                    | Fact::SmbTree { .. }
                    | Fact::SmbTreeUse { .. }
            )
        })
        .map(|f| (f.frame, f.fact))
        .collect();
    let guid = Uuid::from_u128(0xbf32f44b_928f_4805_90c0_3ddf2546646e);
    let want = vec![
        (2, Fact::SmbServer { guid }),
        (4, Fact::SmbSession { session_id }),
        (6, Fact::SmbSigned { session_id }),
        (9, Fact::SmbEncrypted { session_id }),
    ];
    assert_eq!(got, want);
    let dialects: Vec<_> = smb_facts(&ascii)
        .0
        .into_iter()
        .filter(|f| matches!(f.fact, Fact::SmbDialect(_)))
        .map(|f| (f.frame, f.fact))
        .collect();
    let nt_lm = Fact::SmbDialect(Dialect::Smb1("NT LM 0.12".into()));
    assert_eq!(dialects, vec![(7, nt_lm)]);
}

/// `msg` with its header's MessageId and TreeId set.
fn with_ids(mut msg: Vec<u8>, message_id: u64, tree_id: u32) -> Vec<u8> {
    msg[24..32].copy_from_slice(&message_id.to_le_bytes());
    msg[36..40].copy_from_slice(&tree_id.to_le_bytes());
    msg
}

#[test]
fn the_tree_a_response_grants_names_the_data_that_uses_it() {
    let mut d = fresh();
    let s = 0x0000_3000_0000_0019;
    let c = with_ids(tree_connect(s, r"\\NODE1\C$", false), 7, 0);
    let granted = with_ids(smb2(TREE_CONNECT, FLAG_RESPONSE, s, 0, &[0; 16]), 7, 5);
    let write = with_ids(smb2(9, 0, s, 0, &[0; 48]), 8, 5);
    let other = with_ids(smb2(8, 0, s, 0, &[0; 48]), 9, 6);
    let echo = with_ids(smb2(13, 0, s, 0, &[0; 4]), 10, 7);
    let cancel = with_ids(smb2(12, 0, s, 0, &[0; 4]), 11, 8);
    let segs: Vec<(Dir, Vec<u8>)> = vec![
        (Dir::ToServer, nbss(&c)),
        (Dir::ToClient, nbss(&granted)),
        (Dir::ToServer, nbss(&write)),
        (Dir::ToServer, nbss(&write)),
        (Dir::ToServer, nbss(&other)),
        (Dir::ToServer, nbss(&echo)),
        (Dir::ToServer, nbss(&cancel)),
    ];
    let segs: Vec<(Dir, &[u8], bool)> = segs.iter().map(|(d, b)| (*d, &b[..], true)).collect();
    let path = r"\\NODE1\C$".to_string();
    assert_eq!(
        run(&mut d, &segs).unwrap(),
        vec![
            tc(&path, s),
            Fact::SmbTree {
                session_id: s,
                tree_id: 5,
                path: path.clone()
            },
            // Once per (session, tree); a tree this connection did not
            // connect has no path here; ECHO and CANCEL (on trees
            // of their own) name no use.
            Fact::SmbTreeUse {
                session_id: s,
                tree_id: 5,
                path: Some(path)
            },
            Fact::SmbTreeUse {
                session_id: s,
                tree_id: 6,
                path: None
            },
        ]
    );
}

#[test]
fn a_tree_connect_cut_by_the_snaplen_gives_up_with_what_was_captured() {
    let path = r"\\hv-cluster-prod-01.corp1.contoso.local\ClusterStorage$";
    let msg = nbss(&tree_connect(9, path, false));
    // The path starts 4 + 72 bytes in; cut it 40 bytes (20 characters) in.
    let kept = 4 + 72 + 40;
    let mut d = fresh();
    let mut out = Vec::new();
    d.feed(Dir::ToServer, &msg[..kept], true, &mut out).unwrap();
    assert!(out.is_empty());
    let e = d.gap(Dir::ToServer, msg.len() - kept, &mut out);
    assert_eq!(e, Err(GiveUp(TREE_PATH_CUT)));
    let captured: String = path.chars().take(20).collect();
    assert_eq!(
        out,
        vec![Fact::SmbTreeConnectCut {
            path: captured,
            session_id: 9
        }]
    );
    // A WRITE cut past its header loses nothing that matters.
    let mut d = fresh();
    let write = nbss(&with_ids(smb2(9, 0, 9, 0, &[0; 4000]), 1, 3));
    let mut out = Vec::new();
    d.feed(Dir::ToServer, &write[..256], true, &mut out)
        .unwrap();
    assert_eq!(d.gap(Dir::ToServer, write.len() - 256, &mut out), Ok(()));
    assert_eq!(
        out,
        vec![Fact::SmbTreeUse {
            session_id: 9,
            tree_id: 3,
            path: None
        }]
    );
}

/// Feeds `data` cut at `cuts` (each cut starting a segment).
fn feed_cut(d: &mut Smb, data: &[u8], cuts: &[usize]) {
    let mut rest = data;
    for &c in cuts.iter().cycle().take(data.len()) {
        if rest.is_empty() {
            break;
        }
        let (seg, tail) = rest.split_at(c.min(rest.len()));
        if d.feed(Dir::ToServer, seg, true, &mut Vec::new()).is_err() {
            return;
        }
        rest = tail;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn arbitrary_bytes_never_panic(
        data in prop::collection::vec(any::<u8>(), 0..1024),
        cuts in prop::collection::vec(1usize..80, 1..8),
        midway in any::<bool>(),
    ) {
        let start = if midway { Start::Midway } else { Start::Beginning };
        feed_cut(&mut Smb::new([start; 2]), &data, &cuts);
    }

    /// Valid messages with a few bytes changed (lengths and offsets
    /// included) exercise the field readers past the framing.
    #[test]
    fn mutated_messages_never_panic(
        flips in prop::collection::vec((0usize..400, any::<u8>()), 0..6),
        cuts in prop::collection::vec(1usize..80, 1..8),
    ) {
        let mut data = nbss(&tree_connect(1, r"\\a\b", true));
        data.extend(nbss(&negotiate_response(0x0311)));
        let mut chained = vec![2, SMB1_TREE_CONNECT_ANDX, 0, 39, 0, 0, 0];
        chained.extend(tree_connect_andx(r"\\S\T", true, true));
        data.extend(nbss(&smb1(0x73, false, true, 1, &chained)));
        data.extend(nbss(&smb1(0x75, false, false, 1, &tree_connect_andx("x", false, false))));
        let n = data.len() - 4;
        for (at, v) in flips {
            if let Some(b) = data.get_mut(4 + at % n) {
                *b = v;
            }
        }
        feed_cut(&mut fresh(), &data, &cuts);
    }
}

/// The client's direction only: no response grants a TreeId, and the data
/// after the one tree connect asked is in that tree; with two asked, which
/// one is unknown.
#[test]
fn data_after_an_unanswered_tree_connect_is_in_that_tree() {
    let s = 0x4000_0000_0001;
    let use_of = |paths: &[&str]| -> Option<String> {
        let mut msgs: Vec<Vec<u8>> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| nbss(&with_ids(tree_connect(s, p, false), i as u64 + 1, 0)))
            .collect();
        msgs.push(nbss(&with_ids(smb2(9, 0, s, 0, &[0; 48]), 9, 1)));
        let segs: Vec<(Dir, &[u8], bool)> =
            msgs.iter().map(|b| (Dir::ToServer, &b[..], true)).collect();
        let mut d = fresh();
        run(&mut d, &segs)
            .unwrap()
            .into_iter()
            .find_map(|f| match f {
                Fact::SmbTreeUse { path, .. } => Some(path),
                _ => None,
            })?
    };
    let vm = r"\\node2\VMShare";
    assert_eq!(use_of(&[vm]).as_deref(), Some(vm));
    assert_eq!(use_of(&[vm, r"\\node2\C$"]), None);
}

/// `msg` in the async header form (MS-SMB2 §2.2.1.1): flag ASYNC_COMMAND,
/// and the 8-byte AsyncId at offset 32, where the sync form has ProcessId
/// and TreeId.
fn async_form(mut msg: Vec<u8>, message_id: u64, async_id: u64) -> Vec<u8> {
    let flags = u32_at(&msg, 16).unwrap_or(0) | FLAG_ASYNC;
    msg[16..20].copy_from_slice(&flags.to_le_bytes());
    msg[24..32].copy_from_slice(&message_id.to_le_bytes());
    msg[32..40].copy_from_slice(&async_id.to_le_bytes());
    msg
}

/// A TREE_CONNECT answered first by an interim response (STATUS_PENDING,
/// MS-SMB2 §3.3.4.2), then by a final response in the async form
/// (§3.3.4.3), which names no TreeId: the interim grants nothing, the
/// final one grants the request's path (by MessageId), and the first tree
/// of the session no response named is that path's. The AsyncId's high
/// half (8) is where a sync header has the TreeId: read as one, it would
/// grant tree 8. With two such grants waiting, which tree is which is
/// unknown.
#[test]
fn an_async_final_tree_connect_response_names_the_next_unnamed_tree() {
    let s = 0x0000_3000_0000_0019;
    let (csv, admin) = (r"\\NODE1\ClusterStorage$", r"\\NODE1\C$");
    let async_id = 0x0000_0008_0000_002a;
    let interim = smb2(
        TREE_CONNECT,
        FLAG_RESPONSE,
        s,
        STATUS_PENDING,
        &[9, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    let done = smb2(
        TREE_CONNECT,
        FLAG_RESPONSE,
        s,
        0,
        &[16, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    let msgs = [
        (Dir::ToServer, with_ids(tree_connect(s, csv, false), 7, 0)),
        (Dir::ToServer, with_ids(tree_connect(s, admin, false), 8, 0)),
        (Dir::ToClient, async_form(interim, 7, async_id)),
        (Dir::ToClient, with_ids(done.clone(), 8, 5)),
        (Dir::ToClient, async_form(done.clone(), 7, async_id)),
        (Dir::ToServer, with_ids(smb2(9, 0, s, 0, &[0; 48]), 9, 9)),
        (Dir::ToServer, with_ids(smb2(9, 0, s, 0, &[0; 48]), 10, 5)),
    ];
    let framed: Vec<(Dir, Vec<u8>)> = msgs.into_iter().map(|(d, m)| (d, nbss(&m))).collect();
    let segs: Vec<(Dir, &[u8], bool)> = framed.iter().map(|(d, b)| (*d, &b[..], true)).collect();
    let tree = |tree_id, p: &str| Fact::SmbTree {
        session_id: s,
        tree_id,
        path: p.into(),
    };
    let used = |tree_id, p: Option<&str>| Fact::SmbTreeUse {
        session_id: s,
        tree_id,
        path: p.map(str::to_owned),
    };
    assert_eq!(
        run(&mut fresh(), &segs).unwrap(),
        vec![
            tc(csv, s),
            tc(admin, s),
            tree(5, admin),
            tree(9, csv),
            used(9, Some(csv)),
            used(5, Some(admin)),
        ]
    );
    // Both tree connects answered in the async form: neither names tree 9.
    let both = [
        framed[0].clone(),
        framed[1].clone(),
        (Dir::ToClient, nbss(&async_form(done.clone(), 8, 3))),
        framed[4].clone(),
        framed[5].clone(),
    ];
    let segs: Vec<(Dir, &[u8], bool)> = both.iter().map(|(d, b)| (*d, &b[..], true)).collect();
    let got = run(&mut fresh(), &segs).unwrap();
    assert_eq!(got, vec![tc(csv, s), tc(admin, s), used(9, None)]);
}

/// An SMB1 TREE_CONNECT_ANDX the snaplen cut inside its path (Unicode or
/// OEM), or before its block in an AndX chain, gives up as SMB2's does,
/// with the part of the path captured; one cut past its path does not.
#[test]
fn an_smb1_tree_connect_cut_by_the_snaplen_gives_up_with_what_was_captured() {
    let path = r"\\hv-cluster-prod-01.corp1.contoso.local\ADMIN$";
    // (message, bytes of it kept after the NetBIOS header, captured path).
    // Header 32, WordCount 1, words 8, ByteCount 2, password 1: the path
    // starts 44 bytes in, even, so Unicode needs no pad byte.
    let uni = smb1(0x75, false, true, 7, &tree_connect_andx(path, true, false));
    let oem = smb1(
        0x75,
        false,
        false,
        7,
        &tree_connect_andx(path, false, false),
    );
    let mut chained = vec![2, SMB1_TREE_CONNECT_ANDX, 0, 39, 0, 0, 0];
    chained.extend(tree_connect_andx(path, true, true));
    let chained = smb1(0x73, false, true, 7, &chained);
    let captured = |n: usize| path.chars().take(n).collect::<String>();
    let cases = [
        (&uni, 44 + 20, captured(10)),
        (&oem, 44 + 13, captured(13)),
        (&chained, 38, String::new()),
    ];
    for (msg, kept, part) in cases {
        let framed = nbss(msg);
        let mut d = fresh();
        let mut out = Vec::new();
        d.feed(Dir::ToServer, &framed[..4 + kept], true, &mut out)
            .unwrap();
        let e = d.gap(Dir::ToServer, framed.len() - 4 - kept, &mut out);
        assert_eq!(e, Err(GiveUp(TREE_PATH_CUT)), "{part}");
        let cut = Fact::SmbTreeConnectCut {
            path: part,
            session_id: 7,
        };
        assert_eq!(out, vec![cut]);
    }
    // Cut in the service string after the path: the path is whole.
    let framed = nbss(&oem);
    let (mut d, mut out) = (fresh(), Vec::new());
    let kept = framed.len() - 3;
    d.feed(Dir::ToServer, &framed[..kept], true, &mut out)
        .unwrap();
    assert_eq!(d.gap(Dir::ToServer, 3, &mut out), Ok(()));
    assert_eq!(out, vec![tc(path, 7)]);
}

/// An SMB2 TREE_CONNECT cut inside its header's Signature (a 120-byte
/// snaplen on Ethernet, IPv4 and TCP with options) lost its whole path:
/// it gives up with nothing captured of it, as one cut in the path does.
#[test]
fn an_smb2_tree_connect_cut_inside_its_header_gives_up() {
    let msg = nbss(&tree_connect(9, r"\\srv\IPC$", false));
    let kept = 4 + 62;
    let mut d = fresh();
    let mut out = Vec::new();
    d.feed(Dir::ToServer, &msg[..kept], true, &mut out).unwrap();
    let e = d.gap(Dir::ToServer, msg.len() - kept, &mut out);
    assert_eq!(e, Err(GiveUp(TREE_PATH_CUT)));
    let cut = Fact::SmbTreeConnectCut {
        path: String::new(),
        session_id: 9,
    };
    assert_eq!(out, vec![cut]);
}

/// `tshark -n -r FILE -Y FILTER -T fields -e …` rows; `None` (skipped, a
/// failure under CI) without tshark.
fn tshark(file: &std::path::Path, filter: &str, fields: &[&str]) -> Option<Vec<Vec<String>>> {
    let mut c = std::process::Command::new("tshark");
    c.arg("-n")
        .arg("-r")
        .arg(file)
        .args(["-Y", filter, "-T", "fields"]);
    for f in fields {
        c.args(["-e", f]);
    }
    let Ok(out) = c.output() else {
        crate::evidence::testkit::skip("smb grants against tshark", "tshark not found");
        return None;
    };
    assert!(out.status.success(), "tshark: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    Some(
        text.lines()
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect(),
    )
}

/// Every TreeId granted in the SMB2 captures of the corpus, found by
/// tshark: each successful TREE_CONNECT response (`smb2.nt_status` 0)
/// grants its `smb2.tid` in its `smb2.sesid` to the path of the request of
/// its TCP stream with the same `smb2.msg_id`. The dissector finds the
/// same grants at the same frames, and no other (unused ones included:
/// smb3.pcap's trees carry only encrypted data).
#[test]
fn every_grant_tshark_finds_in_the_corpus_at_its_frame() {
    let Some(manifest) = corpus_file("../MANIFEST.tsv") else {
        crate::evidence::testkit::skip("smb grants against tshark", "the shared corpus is absent");
        return;
    };
    let mut files: Vec<String> = tsv(&manifest)
        .into_iter()
        .filter(|c| c.get(12).is_some_and(|p| p.contains("smb2")))
        .map(|c| c[0].clone())
        .collect();
    files.sort();
    files.dedup();
    let mut grants = 0;
    for file in files {
        let path = corpus_file(file.strip_prefix("files/").unwrap_or(&file)).unwrap();
        let cols = [
            "frame.number",
            "tcp.stream",
            "smb2.flags.response",
            "smb2.nt_status",
            "smb2.msg_id",
            "smb2.sesid",
            "smb2.tid",
            "smb2.tree",
        ];
        let Some(rows) = tshark(&path, "smb2.cmd == 3", &cols) else {
            return;
        };
        let (mut asked, mut want) = (std::collections::HashMap::new(), Vec::new());
        for r in rows {
            // One message per frame, so the fields line up.
            assert!(r.iter().all(|v| !v.contains(',')), "{file}: {r:?}");
            let id = |v: &str| u64::from_str_radix(v.trim_start_matches("0x"), 16).unwrap();
            if r[2] == "0" {
                asked.insert((r[1].clone(), r[4].clone()), r[7].clone());
            } else if let Some(p) = asked.remove(&(r[1].clone(), r[4].clone())) {
                if r[3] == "0x00000000" {
                    let (session_id, tree_id) = (id(&r[5]), id(&r[6]) as u32);
                    let fact = Fact::SmbTree {
                        session_id,
                        tree_id,
                        path: p,
                    };
                    want.push((r[0].parse::<u64>().unwrap(), fact));
                }
            }
        }
        let got: Vec<_> = smb_facts(&path)
            .0
            .into_iter()
            .filter(|f| matches!(f.fact, Fact::SmbTree { .. }))
            .map(|f| (f.frame, f.fact))
            .collect();
        assert_eq!(got, want, "{file}");
        grants += want.len();
    }
    // 8 captures: 1 + 3 + 2 + 1 + 2 + 2 + 0 + 1.
    assert_eq!(grants, 12);
}
