//! `seedgen [OUT]`: writes the fuzz targets' seed corpora to `OUT/<target>/`
//! (default `fuzz/seeds`) from the shared capture corpus
//! (`$LANECHECK_CORPUS`, or `../shared/pcaps` beside the checkout or beside
//! the repository it was cloned from, as `tests/util.rs` looks), the
//! repository's `fixtures/*.pcap*`, `policies/*.toml` and the TOML
//! examples of `docs/policy.md` and `README.md`; and, for `policy derive`'s
//! export parsers, from the shared reference documents and the derive
//! tests (`derive.rs`).
//!
//! Captures are read with lanecheck's own reader and decoder, and TCP
//! connections are cut into dissector inputs with the analyzer's own
//! in-order stream rules (`TcpStream`), so a seed is what a dissector
//! really sees. The analyzer's seeds are small pcapngs of the traffic
//! between one pair of hosts (those speaking a dissected protocol first),
//! so each reaches evidence, learned endpoints and the policy within a few
//! packets. Every seed is capped in size; the corpora are generated on
//! demand and never committed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use analyzer::decode::{decode, proto, tcp_flags, Decoded, Fragment, PacketMeta};
use analyzer::evidence::dcerpc::DceRpc;
use analyzer::evidence::stream::{Accept, TcpStream};
use analyzer::evidence::{Dir, Start};
use analyzer::flow::{Direction, FlowKey};
use capture::{FileSource, Frame, FrameSource, LinkType, OwnedFrame, PcapNgOut};

mod derive;

#[path = "../../src/chunks.rs"]
#[allow(dead_code)]
mod chunks;

/// Largest capture seed (a prefix of the file; the reader treats the cut
/// tail as a truncation, which is worth fuzzing too).
const CAPTURE_PREFIX: usize = 64 * 1024;
/// Largest analyzer seed (the fuzz target's `-max_len` is 16 KiB).
const ANALYZER_MAX: usize = 16 * 1024;
/// Host pairs made into analyzer seeds per capture.
const PAIRS_PER_CAPTURE: usize = 6;
/// Largest dissector seed (one connection, encoded).
const CONN_MAX: usize = 32 * 1024;
/// Most seeds per target from captures.
const PER_TARGET: usize = 1000;
/// Bytes of a frame kept for the decode target.
const FRAME_MAX: usize = 256;

/// The link types of the decode target, in the order of its first byte.
const LINKS: [u16; 11] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 105];

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().expect("repository root");
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("fuzz/seeds"));
    let mut seeds = Seeds::default();
    let mut captures = list(&root.join("fixtures"), &|p| is_capture(p));
    let shared = corpus(&root);
    match &shared {
        Some(dir) => captures.extend(list(&dir.join("files"), &|p| is_capture(p))),
        None => eprintln!(
            "seedgen: the shared capture corpus is missing (set LANECHECK_CORPUS); \
             seeding from fixtures only"
        ),
    }
    for path in &captures {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("seedgen: {}: {e}", path.display());
                continue;
            }
        };
        seeds.capture(&bytes, policy_for(path));
        seeds.packets(&bytes, policy_for(path));
    }
    for p in list(&root.join("policies"), &|p| {
        p.extension().is_some_and(|e| e == "toml")
    }) {
        seeds.add("policy", std::fs::read(&p).expect("read policy"));
    }
    for doc in ["docs/policy.md", "README.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap_or_default();
        for block in toml_blocks(&text) {
            seeds.add("policy", block.into_bytes());
        }
    }
    let reference = derive::reference(&root, shared.as_deref());
    if reference.is_none() {
        eprintln!("seedgen: the shared reference is missing (set LANECHECK_REFERENCE); derive seeds from the tests only");
    }
    for seed in derive::seeds(&root, reference.as_deref()) {
        seeds.add("derive", seed);
    }
    seeds.write(&out);
}

/// The shared corpus, looked for as `tests/util.rs` does.
fn corpus(root: &Path) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("LANECHECK_CORPUS")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.push(root.join("../shared/pcaps"));
    let origin = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["remote", "get-url", "origin"])
        .output();
    if let Ok(o) = origin {
        let url = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let path = PathBuf::from(url.strip_prefix("file://").unwrap_or(&url));
        if o.status.success() && path.is_absolute() && path.is_dir() {
            candidates.push(path.join("../shared/pcaps"));
        }
    }
    candidates
        .into_iter()
        .find(|d| d.join("groundtruth").is_dir())
}

fn is_capture(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    [".pcap", ".pcapng", ".cap"]
        .iter()
        .any(|e| name.ends_with(e))
}

/// Files under `dir` (recursively) that `keep` accepts, sorted.
fn list(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(list(&p, keep));
        } else if keep(&p) {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The analyzer target's options byte for a capture: the policy its
/// fixture was made for (`lanecheck_fuzz::POLICIES` order, 1-based), and
/// unnamed interfaces named `eth1`.
fn policy_for(path: &Path) -> u8 {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let policy = match name {
        n if n.starts_with("cluster") => 1,
        n if n.starts_with("dpm_dns") => 2,
        n if n.starts_with("dpm_fallback") => 3,
        n if n.starts_with("failover_kept") => 5,
        n if n.starts_with("failover") => 6,
        n if n.starts_with("dpm") || n.starts_with("ipv6_dpm") || n.contains("_dpm") => 4,
        _ => 2,
    };
    policy | 1 << 5
}

/// The fenced ```toml blocks of a Markdown text.
fn toml_blocks(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in md.lines() {
        match (&mut cur, line.trim_start()) {
            (None, l) if l.starts_with("```toml") => cur = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => out.extend(cur.take()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    out
}

/// One TCP connection being cut into a dissector input.
struct Conn {
    initiator_lo: bool,
    stream: TcpStream,
    starts: Option<[Start; 2]>,
    target: Option<&'static str>,
    chunks: Vec<(Dir, Vec<u8>, bool, u32)>,
    size: usize,
    done: bool,
}

impl Conn {
    fn new(kdir: Direction) -> Self {
        Conn {
            initiator_lo: kdir == Direction::LoToHi,
            stream: TcpStream::default(),
            starts: None,
            target: None,
            chunks: Vec::new(),
            size: 0,
            done: false,
        }
    }

    /// One TCP packet of the connection: its bytes in order, kept while a
    /// dissector reads the connection and it is under [`CONN_MAX`].
    fn packet(&mut self, kdir: Direction, m: &PacketMeta<'_>) {
        if m.tcp_flags & tcp_flags::SYN != 0 && m.tcp_flags & tcp_flags::ACK == 0 {
            self.initiator_lo = kdir == Direction::LoToHi;
        }
        if self.done {
            return;
        }
        let dir = if (kdir == Direction::LoToHi) == self.initiator_lo {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        let acc = self
            .stream
            .accept(dir, m.tcp_seq, m.tcp_flags, m.payload, m.payload_wire_len);
        let (data, start, missing) = match acc {
            Accept::Nothing => return,
            Accept::Gap => {
                self.done = true;
                return;
            }
            Accept::Bytes {
                data,
                segment_start,
                missing,
            } => (data, segment_start, missing),
        };
        if self.starts.is_none() && !self.choose_target(m, data) {
            self.done = true;
            return;
        }
        self.size += data.len() + 7;
        self.chunks.push((dir, data.to_vec(), start, missing));
        if self.size >= CONN_MAX {
            self.done = true;
        }
    }

    /// At the first bytes: the stream starts and the dissector that reads
    /// the connection; false when none does.
    fn choose_target(&mut self, m: &PacketMeta<'_>, data: &[u8]) -> bool {
        self.starts = Some([
            self.stream.start(Dir::ToServer),
            self.stream.start(Dir::ToClient),
        ]);
        let ports = [m.sport, m.dport];
        self.target = if ports.iter().any(|p| [445, 139].contains(p)) {
            Some("smb")
        } else if ports.contains(&53) {
            Some("dns_tcp")
        } else if ports.contains(&135) || DceRpc::signature(data) {
            Some("dcerpc")
        } else {
            None
        };
        self.target.is_some()
    }
}

/// The frames between each pair of hosts, in order, up to [`ANALYZER_MAX`].
#[derive(Default)]
struct Pairs {
    /// (frames, bytes, speaks a dissected protocol), in order of first frame.
    pairs: Vec<(Vec<OwnedFrame>, usize, bool)>,
    index: HashMap<(IpAddr, IpAddr), usize>,
}

impl Pairs {
    fn add(&mut self, f: &Frame<'_>, (a, b): (IpAddr, IpAddr), ports: [u16; 2]) {
        let key = if a <= b { (a, b) } else { (b, a) };
        let n = self.pairs.len();
        let ix = *self.index.entry(key).or_insert(n);
        if ix == n {
            self.pairs.push((Vec::new(), 0, false));
        }
        let (frames, size, dissected) = &mut self.pairs[ix];
        // pcapng: a 32-byte Enhanced Packet Block header per frame.
        if *size + f.data.len() + 32 > ANALYZER_MAX {
            return;
        }
        *size += f.data.len() + 32;
        *dissected |= ports.iter().any(|p| [445, 139, 135, 53].contains(p));
        frames.push(f.to_owned());
    }

    /// Pairs speaking a dissected protocol first, then the others, in
    /// order of appearance; at most [`PAIRS_PER_CAPTURE`].
    fn chosen(self) -> impl Iterator<Item = Vec<OwnedFrame>> {
        let (mut first, rest): (Vec<_>, Vec<_>) = self.pairs.into_iter().partition(|p| p.2);
        first.extend(rest);
        first
            .into_iter()
            .take(PAIRS_PER_CAPTURE)
            .map(|(frames, _, _)| frames)
    }
}

#[derive(Default)]
struct Seeds {
    by_target: BTreeMap<&'static str, BTreeSet<Vec<u8>>>,
    shapes: HashMap<String, ()>,
}

impl Seeds {
    fn add(&mut self, target: &'static str, seed: Vec<u8>) {
        let set = self.by_target.entry(target).or_default();
        if set.len() < PER_TARGET || target == "policy" {
            set.insert(seed);
        }
    }

    /// Capture reader and analyzer seeds: a prefix of the file.
    fn capture(&mut self, bytes: &[u8], opts: u8) {
        let prefix = &bytes[..bytes.len().min(CAPTURE_PREFIX)];
        self.add("capture_reader", prefix.to_vec());
        let mut a = vec![opts];
        a.extend_from_slice(&bytes[..bytes.len().min(ANALYZER_MAX)]);
        self.add("analyzer", a);
    }

    /// Decode, DNS, dissector and per-host-pair analyzer seeds from a
    /// capture's packets.
    fn packets(&mut self, bytes: &[u8], opts: u8) {
        let Ok(mut src) = FileSource::new("seed", bytes, None) else {
            return;
        };
        let mut conns: HashMap<FlowKey, Conn> = HashMap::new();
        let mut pairs = Pairs::default();
        while let Ok(Some(f)) = src.next_frame() {
            let d = decode(&f);
            self.frame(f.link, f.data, &d);
            let Decoded::Packet(m) = d else { continue };
            pairs.add(&f, (m.src, m.dst), [m.sport, m.dport]);
            if m.fragment != Fragment::None || m.payload_cut() && m.proto != proto::TCP {
                continue;
            }
            if m.proto == proto::UDP && (m.sport == 53 || m.dport == 53) {
                self.add("dns_message", m.payload.to_vec());
            }
            if m.proto != proto::TCP {
                continue;
            }
            let (key, kdir) = FlowKey::new(m.proto, m.src, m.sport, m.dst, m.dport);
            let conn = conns.entry(key).or_insert_with(|| Conn::new(kdir));
            conn.packet(kdir, &m);
        }
        self.pair_seeds(pairs, src.interfaces(), opts);
        self.conn_seeds(conns);
    }

    /// One analyzer seed per chosen host pair: its frames as a pcapng.
    fn pair_seeds(&mut self, pairs: Pairs, ifaces: &[capture::Interface], opts: u8) {
        for frames in pairs.chosen() {
            let mut out = PcapNgOut::new("seed", vec![opts]).expect("pcapng to memory");
            out.declare(ifaces).expect("interfaces");
            for f in frames {
                out.write(&f.as_frame()).expect("frame");
            }
            self.add("analyzer", out.finish().expect("pcapng"));
        }
    }

    /// One dissector seed per connection a dissector reads.
    fn conn_seeds(&mut self, conns: HashMap<FlowKey, Conn>) {
        for conn in conns.into_values() {
            let (Some(target), Some(starts)) = (conn.target, conn.starts) else {
                continue;
            };
            let chunks: Vec<chunks::Chunk<'_>> = conn
                .chunks
                .iter()
                .map(|(dir, data, segment_start, missing)| chunks::Chunk {
                    dir: *dir,
                    data,
                    segment_start: *segment_start,
                    missing: *missing,
                })
                .collect();
            let seed = chunks::encode(starts, &chunks);
            // The scheme reads back what was written (segments under 64 KiB).
            let (s, back) = chunks::parse(&seed);
            assert!(s == starts && back.count() >= chunks.len());
            self.add(target, seed);
        }
    }

    /// A decode seed for the first frame of each shape (link type, how far
    /// it decoded, protocol, VLANs, fragment), so the corpus stays small.
    fn frame(&mut self, link: LinkType, data: &[u8], d: &Decoded<'_>) {
        let Some(pick) = LINKS.iter().position(|l| *l == link.0) else {
            return;
        };
        let shape = match d {
            Decoded::Packet(m) => format!(
                "{pick} {} {} {} {:?} {}",
                m.src.is_ipv4(),
                m.proto,
                m.vlan_count,
                std::mem::discriminant(&m.fragment),
                m.payload_cut()
            ),
            Decoded::NonIp { ether_type } => format!("{pick} non-ip {ether_type}"),
            Decoded::Stopped(s) => format!("{pick} {s:?}"),
        };
        if self.shapes.insert(shape, ()).is_some() {
            return;
        }
        let mut seed = vec![pick as u8];
        seed.extend_from_slice(&data[..data.len().min(FRAME_MAX)]);
        self.add("decode", seed);
    }

    /// Writes `out/<target>/<hash>`, replacing what was there.
    fn write(&self, out: &Path) {
        for target in [
            "capture_reader",
            "decode",
            "smb",
            "dcerpc",
            "dns_tcp",
            "dns_message",
            "analyzer",
            "policy",
            "derive",
        ] {
            let dir = out.join(target);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create seed directory");
            let set = self.by_target.get(target).cloned().unwrap_or_default();
            let bytes: usize = set.iter().map(Vec::len).sum();
            for seed in &set {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                seed.hash(&mut h);
                std::fs::write(dir.join(format!("{:016x}", h.finish())), seed).expect("write seed");
            }
            println!("{target:<15} {:>5} seeds {:>9} bytes", set.len(), bytes);
        }
    }
}
