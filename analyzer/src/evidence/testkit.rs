//! Test support: runs a dissector over every TCP flow of a real capture
//! (the shared corpus), with the same in-order stream rules as the
//! analyzer, and lists what it found with frame numbers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use capture::{FileSource, FrameSource};

use super::stream::{Accept, TcpStream};
use super::{Dir, Dissector, Fact, GiveUp, Start};
use crate::decode::{decode, proto, tcp_flags, Decoded};
use crate::flow::{Direction, FlowKey};

/// The shared corpus: `$LANECHECK_CORPUS`, `../shared/pcaps` beside the
/// checkout, or beside the repository the checkout was cloned from (the
/// same lookup as the integration tests' `util::shared_corpus`).
fn corpus_base() -> Option<PathBuf> {
    let checkout = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut candidates: Vec<PathBuf> = std::env::var_os("LANECHECK_CORPUS")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.push(checkout.join("../shared/pcaps"));
    let origin = std::process::Command::new("git")
        .arg("-C")
        .arg(&checkout)
        .args(["remote", "get-url", "origin"])
        .output();
    if let Ok(o) = origin {
        let url = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let path = PathBuf::from(url.strip_prefix("file://").unwrap_or(&url));
        if o.status.success() && path.is_absolute() {
            candidates.push(path.join("../shared/pcaps"));
        }
    }
    candidates
        .into_iter()
        .find(|d| d.join("groundtruth").is_dir())
}

/// A file of the shared corpus, by its path under `files/` (`../groundtruth/…`
/// and `../MANIFEST.tsv` reach the rest); `None` when the corpus is absent.
pub(crate) fn corpus_file(rel: &str) -> Option<PathBuf> {
    let p = corpus_base()?.join("files").join(rel);
    p.exists().then_some(p)
}

/// Reports a test skipped for a missing prerequisite in the format
/// `scripts/test-summary.sh` counts; under `CI=true` it fails instead.
pub(crate) fn skip(test: &str, why: &str) {
    let msg = format!("SKIPPED {test}: {why}");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg} (CI=true: a skip is a failure)");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
}

/// One fact, where it was found.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    /// 1-based frame number (as tshark counts).
    pub frame: u64,
    /// Initiator (address, port).
    pub client: (IpAddr, u16),
    /// Responder (address, port).
    pub server: (IpAddr, u16),
    /// The fact.
    pub fact: Fact,
}

struct Conv {
    initiator_lo: bool,
    stream: TcpStream,
    dissector: Option<Box<dyn Dissector>>,
    done: bool,
}

/// Runs `make(client, server, first payload, starts)` for each TCP flow's
/// first payload; the dissector it returns (if any) is fed the flow.
/// Returns the facts and the give-ups (frame, reason).
/// A segment's new bytes, then those of segments held beyond a hole it
/// filled, as the analyzer hands them on (`FlowEvidence`): (bytes, segment
/// start, bytes missing after them); `None` at a gap.
fn chunks(stream: &mut TcpStream, dir: Dir, acc: Accept<'_>) -> Option<Vec<(Vec<u8>, bool, u32)>> {
    let mut chunks = Vec::new();
    match acc {
        Accept::Nothing | Accept::Held => {}
        Accept::Gap => return None,
        Accept::Bytes {
            data,
            segment_start,
            missing,
        } => chunks.push((data.to_vec(), segment_start, missing)),
    }
    while let Some(s) = stream.reached(dir) {
        if let Accept::Bytes {
            data,
            segment_start,
            missing,
        } = stream.accept(dir, s.seq, 0, &s.data, s.wire_len)
        {
            chunks.push((data.to_vec(), segment_start, missing));
        }
    }
    Some(chunks)
}

/// The conversation of a TCP packet, and whether it goes to the server
/// (the sender of the SYN without ACK, else of the first packet seen).
fn conv_of<'c>(
    convs: &'c mut HashMap<FlowKey, Conv>,
    m: &crate::decode::PacketMeta<'_>,
) -> (&'c mut Conv, bool) {
    let (key, kdir) = FlowKey::new(m.proto, m.src, m.sport, m.dst, m.dport);
    let conv = convs.entry(key).or_insert_with(|| Conv {
        initiator_lo: kdir == Direction::LoToHi,
        stream: TcpStream::default(),
        dissector: None,
        done: false,
    });
    if m.tcp_flags & tcp_flags::SYN != 0 && m.tcp_flags & tcp_flags::ACK == 0 {
        conv.initiator_lo = kdir == Direction::LoToHi;
    }
    let to_server = (kdir == Direction::LoToHi) == conv.initiator_lo;
    (conv, to_server)
}

pub(crate) fn dissect_file(
    path: &std::path::Path,
    make: impl Fn((IpAddr, u16), (IpAddr, u16), &[u8], [Start; 2]) -> Option<Box<dyn Dissector>>,
) -> (Vec<Found>, Vec<(u64, GiveUp)>) {
    let file = std::fs::File::open(path).expect("open capture");
    let mut src = FileSource::new("corpus", file, None).expect("a capture");
    let mut convs: HashMap<FlowKey, Conv> = HashMap::new();
    let (mut found, mut gave_up) = (Vec::new(), Vec::new());
    let mut frame = 0u64;
    while let Some(f) = src.next_frame().expect("read") {
        frame += 1;
        let Decoded::Packet(m) = decode(&f) else {
            continue;
        };
        if m.proto != proto::TCP {
            continue;
        }
        let (conv, to_server) = conv_of(&mut convs, &m);
        let dir = if to_server {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        if conv.done {
            continue;
        }
        let acc = conv
            .stream
            .accept(dir, m.tcp_seq, m.tcp_flags, m.payload, m.payload_wire_len);
        let (client, server) = if to_server {
            ((m.src, m.sport), (m.dst, m.dport))
        } else {
            ((m.dst, m.dport), (m.src, m.sport))
        };
        let Some(chunks) = chunks(&mut conv.stream, dir, acc) else {
            if conv.dissector.take().is_some() {
                gave_up.push((frame, GiveUp("gap in the stream")));
            }
            conv.done = true;
            continue;
        };
        let Some((first, _, _)) = chunks.first() else {
            continue;
        };
        if conv.dissector.is_none() {
            let starts = [
                conv.stream.start(Dir::ToServer),
                conv.stream.start(Dir::ToClient),
            ];
            match make(client, server, first, starts) {
                Some(d) => conv.dissector = Some(d),
                None => {
                    conv.done = true;
                    continue;
                }
            }
        }
        let mut out = Vec::new();
        let res = conv.dissector.as_mut().map(|d| {
            chunks.iter().try_for_each(|(data, start, missing)| {
                d.feed(dir, data, *start, &mut out)?;
                d.gap(dir, *missing as usize, &mut out)
            })
        });
        found.extend(out.into_iter().map(|fact| Found {
            frame,
            client,
            server,
            fact,
        }));
        if let Some(Err(e)) = res {
            gave_up.push((frame, e));
            conv.dissector = None;
            conv.done = true;
        }
    }
    (found, gave_up)
}
