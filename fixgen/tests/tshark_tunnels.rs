//! Independent proof that the tunnel scenarios say what their bookkeeping says: tshark
//! decodes every frame through its tunnel without a warning, finds the same inner
//! conversations (frames both ways, and bytes from its own innermost IP length), the same
//! overlay outer conversations, the same mirror frames, non-IP frames and tunnel ids, and
//! flags nothing in the inner TCP analysis.
//!
//! Needs `tshark` on PATH. Without it each test prints `*** SKIPPED <test>: <why> ***` and
//! passes, except under `CI=true`, where a skip is a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use fixgen::{CaptureTruth, FlowTruth};

fn have_tshark(test: &str) -> bool {
    use std::io::Write;
    if matches!(Command::new("tshark").arg("--version").output(), Ok(o) if o.status.success()) {
        return true;
    }
    let msg = format!("SKIPPED {test}: tshark is not installed (Debian: apt-get install tshark)");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg} (CI=true: a skip is a failure)");
    }
    let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
    false
}

fn tshark(file: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(args)
        .output()
        .expect("tshark runs");
    String::from_utf8(out.stdout).expect("tshark prints UTF-8")
}

const FIELDS: &[&str] = &[
    "frame.len",
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ip.len",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.plen",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "vxlan.vni",
    "geneve.vni",
    "gre.key",
    "erspan.spanid",
    "mpls.label",
];

/// One frame as tshark decodes it: each field's values (every occurrence, outermost first).
struct Decoded(BTreeMap<&'static str, Vec<String>>);

impl Decoded {
    fn all(&self, f: &str) -> &[String] {
        self.0.get(f).map_or(&[], Vec::as_slice)
    }
    fn nth(&self, f: &str, i: usize) -> &str {
        self.all(f).get(i).map_or("", String::as_str)
    }
    fn last(&self, f: &str) -> &str {
        self.all(f).last().map_or("", String::as_str)
    }
    fn num(&self, f: &str, i: usize) -> u64 {
        self.nth(f, i).parse().unwrap_or(0)
    }
    fn protocols(&self) -> Vec<&str> {
        self.nth("frame.protocols", 0).split(':').collect()
    }
}

fn decoded(file: &Path) -> Vec<Decoded> {
    let mut args = vec!["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"];
    for f in FIELDS {
        args.extend(["-e", f]);
    }
    tshark(file, &args)
        .lines()
        .map(|l| {
            let cells = l.split('\t').map(|c| {
                c.split(',')
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .collect()
            });
            Decoded(FIELDS.iter().copied().zip(cells).collect())
        })
        .collect()
}

type Key = (String, BTreeSet<(IpAddr, u16)>);
/// Frames, bytes, frames and bytes from the truth's source.
type Counts = [u64; 4];

fn key_of(f: &FlowTruth) -> Key {
    let ends = [(f.src, f.sport), (f.dst, f.dport)].into_iter().collect();
    (f.proto.to_string(), ends)
}

fn add(out: &mut BTreeMap<Key, Counts>, key: Key, forward: bool, len: u64) {
    let c = out.entry(key).or_default();
    let f = u64::from(forward);
    *c = [c[0] + 1, c[1] + len, c[2] + f, c[3] + len * f];
}

/// What tshark's decoding of a whole capture adds up to.
#[derive(Default)]
struct Seen {
    inner: BTreeMap<Key, Counts>,
    outer: BTreeMap<Key, Counts>,
    mirror: (u64, u64),
    non_ip: u64,
    ids: BTreeSet<u64>,
}

/// The innermost IP packet's conversation and its own bytes: the inner Ethernet frame
/// (14 + IP length) where the tunnel carries one, the IP packet where it does not, and the
/// whole frame on an MPLS link.
fn inner_of(d: &Decoded, p: &[&str]) -> (Key, (IpAddr, u16), u64) {
    let v6 = p.iter().rposition(|x| *x == "ipv6") > p.iter().rposition(|x| *x == "ip");
    let (src, dst, ip_len) = if v6 {
        let a = (d.last("ipv6.src"), d.last("ipv6.dst"));
        (a.0, a.1, d.last("ipv6.plen").parse::<u64>().unwrap() + 40)
    } else {
        let a = (d.last("ip.src"), d.last("ip.dst"));
        (a.0, a.1, d.last("ip.len").parse::<u64>().unwrap())
    };
    let l4 = p
        .iter()
        .rev()
        .find(|x| matches!(**x, "tcp" | "udp"))
        .unwrap();
    let port = |f: &str| d.last(&format!("{l4}.{f}")).parse::<u16>().unwrap();
    let (s, t) = (
        (src.parse().unwrap(), port("srcport")),
        (dst.parse().unwrap(), port("dstport")),
    );
    let eth_inside = p.iter().filter(|x| **x == "eth").count() > 1;
    let len = match () {
        _ if p.contains(&"mpls") => d.num("frame.len", 0),
        _ if eth_inside => ip_len + 14,
        _ => ip_len,
    };
    ((l4.to_string(), [s, t].into_iter().collect()), s, len)
}

/// The overlay's outer packet: the first IP header, with its UDP ports when the tunnel
/// rides on UDP, else the IP protocol tshark names after it.
fn outer_of(d: &Decoded, p: &[&str]) -> (Key, (IpAddr, u16)) {
    let v6 = p[2] == "ipv6";
    let fam = if v6 { "ipv6" } else { "ip" };
    let src: IpAddr = d.nth(&format!("{fam}.src"), 0).parse().unwrap();
    let dst: IpAddr = d.nth(&format!("{fam}.dst"), 0).parse().unwrap();
    let (proto, sp, dp) = match p[3] {
        "udp" => (
            "udp",
            d.num("udp.srcport", 0) as u16,
            d.num("udp.dstport", 0) as u16,
        ),
        "gre" => ("ip47", 0, 0),
        "ip" => ("ip4", 0, 0),
        _ => ("ip41", 0, 0),
    };
    (
        (proto.into(), [(src, sp), (dst, dp)].into_iter().collect()),
        (src, sp),
    )
}

fn tunnel_ids(d: &Decoded, seen: &mut BTreeSet<u64>) {
    // tshark prints some ids in hex (geneve.vni, gre.key), others in decimal.
    let num = |v: &str| match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
        None => v.parse().unwrap(),
    };
    for f in ["vxlan.vni", "geneve.vni", "erspan.spanid", "mpls.label"] {
        seen.extend(d.all(f).iter().map(|v| num(v)));
    }
    for k in d.all("gre.key") {
        let key = num(k);
        // NVGRE (RFC 7637): key = VSID(24) FlowID(8); the id is the VSID.
        let nvgre = d.protocols().windows(2).any(|w| w == ["gre", "eth"]);
        seen.insert(if nvgre { key >> 8 } else { key });
    }
}

fn seen(t: &CaptureTruth) -> Seen {
    let src_of = |flows: &[FlowTruth]| -> BTreeMap<Key, (IpAddr, u16)> {
        flows
            .iter()
            .map(|f| (key_of(f), (f.src, f.sport)))
            .collect()
    };
    let (inner_src, outer_src) = (src_of(&t.flows), src_of(&t.outer_flows));
    let mut s = Seen::default();
    for d in decoded(&t.file) {
        let p = d.protocols();
        let len = d.num("frame.len", 0);
        tunnel_ids(&d, &mut s.ids);
        if p.contains(&"erspan") {
            s.mirror = (s.mirror.0 + 1, s.mirror.1 + len);
        } else if !p.contains(&"mpls") {
            let (k, from) = outer_of(&d, &p);
            let fwd = outer_src.get(&k) == Some(&from);
            add(&mut s.outer, k, fwd, len);
        }
        if p.contains(&"arp") {
            s.non_ip += 1;
            continue;
        }
        let (k, from, bytes) = inner_of(&d, &p);
        let fwd = inner_src.get(&k) == Some(&from);
        add(&mut s.inner, k, fwd, bytes);
    }
    s
}

fn counts(flows: &[FlowTruth]) -> BTreeMap<Key, Counts> {
    flows
        .iter()
        .map(|f| {
            (
                key_of(f),
                [f.packets, f.bytes, f.packets_src_to_dst, f.bytes_src_to_dst],
            )
        })
        .collect()
}

#[test]
fn tunnel_scenarios_match_tshark() {
    if !have_tshark("tunnel_scenarios_match_tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(fixgen::tunnel_scenarios().len(), 11);
    for sc in fixgen::tunnel_scenarios() {
        let t = fixgen::write(sc.name, dir.path()).unwrap();
        let name = sc.name;
        let bad = tshark(
            &t.file,
            &["-Y", "_ws.malformed || _ws.expert.severity >= warning"],
        );
        assert!(bad.is_empty(), "{name}: malformed or warned:\n{bad}");
        let flagged = tshark(&t.file, &["-Y", "tcp.analysis.flags"]);
        assert!(flagged.is_empty(), "{name}: tcp.analysis.flags:\n{flagged}");
        let s = seen(&t);
        assert_eq!(s.inner, counts(&t.flows), "{name}: inner conversations");
        assert_eq!(
            s.outer,
            counts(&t.outer_flows),
            "{name}: outer conversations"
        );
        assert_eq!(
            s.mirror,
            (t.mirror_packets, t.mirror_bytes),
            "{name}: mirror transport"
        );
        assert_eq!(s.non_ip, t.non_ip_frames, "{name}: non-IP frames");
        let want: BTreeSet<u64> = match t.flows[0].tunnel.as_ref().unwrap().kind {
            // Labels: 16001 over 24005 one way, 17002 back (no tunnel id in the bookkeeping).
            "mpls" => [16001, 24005, 17002].into(),
            _ => t
                .flows
                .iter()
                .filter_map(|f| f.tunnel.as_ref()?.id)
                .map(u64::from)
                .collect(),
        };
        assert_eq!(s.ids, want, "{name}: tunnel ids");
        assert_eq!(
            t.packets,
            s.inner.values().map(|c| c[0]).sum::<u64>() + s.non_ip,
            "{name}: every frame once"
        );
    }
}

/// A VXLAN or ERSPAN capture of the DPM transfer carries the plain capture's frames
/// byte for byte: same inner flows, bytes and times, only the tunnel and (ERSPAN) the
/// interface names differ.
#[test]
fn tunnelled_transfer_is_the_plain_one() {
    let dir = tempfile::tempdir().unwrap();
    let plain = fixgen::write("dpm_backup_lan", dir.path()).unwrap();
    for name in [
        "tunnel_vxlan",
        "tunnel_erspan2",
        "tunnel_erspan3",
        "tunnel_nvgre",
        "tunnel_geneve",
    ] {
        let t = fixgen::write(name, dir.path()).unwrap();
        let strip = |f: &FlowTruth| FlowTruth {
            tunnel: None,
            interfaces: Vec::new(),
            ..f.clone()
        };
        let (a, b): (Vec<_>, Vec<_>) = (
            plain.flows.iter().map(strip).collect(),
            t.flows.iter().map(strip).collect(),
        );
        assert_eq!(a, b, "{name}");
        assert_eq!(plain.non_ip_frames, t.non_ip_frames, "{name}");
    }
}
