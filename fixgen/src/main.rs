//! `fixgen all DIR` | `fixgen one NAME DIR` | `fixgen flows DIR` | `fixgen dns DIR` |
//! `fixgen windows NAME STYLE DIR` | `fixgen bench PCAP PCAPNG BYTES` |
//! `fixgen bench-part N PCAP PCAPNG BYTES` (the `bench` traffic with client ports moved
//! by N × 1,000: captures that share no flow, for the several-files benchmark) |
//! `fixgen bench-flows PCAP PCAPNG BYTES` | `fixgen bench-pktmon PCAPNG BYTES` |
//! `fixgen tunnels DIR` | `fixgen list`
//!
//! `bench`, `bench-flows` and `bench-pktmon` write the benchmark captures of `make bench`
//! (a few long flows; a million short ones; the first as pktmon logs it) and print what
//! they hold, tab-separated, one line per file: the file, then `N packets`, `N bytes`,
//! `N flows`, `N file bytes` (`bench-flows` adds a `mix` line: flows by kind, frames by
//! size class); `bench-pktmon`: the file, `N frames`, `N bytes`, `N unique packets`,
//! `N duplicates`, `N 802.11 copies`, `N file bytes`.
//!
//! `windows` writes two-NIC scenario NAME as STYLE (pktmon, pktmon-rsc, etl2pcapng, npcap)
//! writes it, plus the plain host view, and prints one line per file: file, the interface
//! to give it as (`-` when named), frames, bytes, unique packets, duplicates, unique bytes,
//! 802.11 copies, super-frames, possible copies.
//!
//! `flows` writes every scenario like `all` and prints one tab-separated line per flow:
//! file, proto, src, sport, dst, dport, packets, bytes, packets src->dst, bytes src->dst,
//! network, class, interfaces, vlans, bins (second:bytes).
//!
//! `tunnels` writes every tunnel scenario and prints its flow lines like `flows`: the inner
//! flows (bytes = the encapsulated frame's own), then the overlay's outer flows (class tunnel).
//!
//! `dns` writes every scenario like `all` and prints one tab-separated line per DNS response:
//! file, time (Unix ns), client, server, transport, id, name, qtype, rcode, records
//! (owner/type/ttl/value, comma-separated); then one per query never answered: file, time,
//! client, server, transport, id, name, qtype, `unanswered`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage: fixgen all DIR | fixgen one NAME DIR | fixgen flows DIR | fixgen dns DIR | fixgen windows NAME pktmon|pktmon-rsc|etl2pcapng|npcap DIR | fixgen bench PCAP PCAPNG BYTES | fixgen bench-part N PCAP PCAPNG BYTES | fixgen bench-flows PCAP PCAPNG BYTES | fixgen bench-pktmon PCAPNG BYTES | fixgen tunnels DIR | fixgen list";

fn windows(name: &str, style: &str, dir: &str) -> Result<Vec<String>, String> {
    use fixgen::windows::Style;
    let style = match style {
        "pktmon" => Style::Pktmon,
        "pktmon-rsc" => Style::PktmonRsc,
        "etl2pcapng" => Style::Etl2Pcapng,
        "npcap" => Style::Npcap,
        other => return Err(format!("unknown style {other:?}\n{USAGE}")),
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
    let w = fixgen::windows::write(name, style, Path::new(dir)).map_err(|e| e.to_string())?;
    let mut out: Vec<String> = w
        .files
        .iter()
        .map(|f| {
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                f.file.display(),
                f.nic.unwrap_or("-"),
                f.frames,
                f.bytes,
                f.unique_packets,
                f.duplicates,
                f.unique_bytes,
                f.mislabelled_80211,
                f.super_frames,
                f.possible_copies
            )
        })
        .collect();
    out.push(line(&w.plain));
    Ok(out)
}

/// `bench` (part 0) and `bench-part N`: the long-flow benchmark traffic.
fn bench(pcap: &str, pcapng: &str, part: &str, bytes: &str) -> Result<Vec<String>, String> {
    let target: u64 = bytes.parse().map_err(|e| format!("BYTES {bytes:?}: {e}"))?;
    let part: u16 = part
        .parse()
        .ok()
        .filter(|p| *p < 16)
        .ok_or_else(|| format!("PART {part:?}: 0 to 15"))?;
    let t = fixgen::write_bench_part(Path::new(pcap), Path::new(pcapng), part, target)
        .map_err(|e| e.to_string())?;
    Ok(vec![
        format!(
            "{pcap}\t{} packets\t{} bytes\t{} flows\t{} file bytes",
            t.packets, t.bytes, t.flows, t.pcap_file_bytes
        ),
        format!(
            "{pcapng}\t{} packets\t{} bytes\t{} flows\t{} file bytes",
            t.packets, t.bytes, t.flows, t.pcapng_file_bytes
        ),
    ])
}

fn bench_flows(pcap: &str, pcapng: &str, bytes: &str) -> Result<Vec<String>, String> {
    let target: u64 = bytes.parse().map_err(|e| format!("BYTES {bytes:?}: {e}"))?;
    let t = fixgen::write_bench_flows(Path::new(pcap), Path::new(pcapng), target)
        .map_err(|e| e.to_string())?;
    let file = |path: &str, size: u64| {
        format!(
            "{path}\t{} packets\t{} bytes\t{} flows\t{size} file bytes",
            t.packets, t.bytes, t.flows
        )
    };
    Ok(vec![
        file(pcap, t.pcap_file_bytes),
        file(pcapng, t.pcapng_file_bytes),
        format!(
            "mix\t{} tcp flows\t{} udp flows\t{} ipv6 flows\t{} vlan flows\t{} small\t{} medium\t{} large frames",
            t.tcp_flows, t.udp_flows, t.ipv6_flows, t.vlan_flows, t.small, t.medium, t.large
        ),
    ])
}

fn line(t: &fixgen::CaptureTruth) -> String {
    format!(
        "{}\t{} packets\t{} bytes\t{} flows",
        t.file.display(),
        t.packets,
        t.bytes,
        t.flows.len()
    )
}

fn flow_lines(t: &fixgen::CaptureTruth) -> Vec<String> {
    let name = t.file.file_name().unwrap_or_default().to_string_lossy();
    t.flows
        .iter()
        .map(|f| {
            let bins: Vec<String> = f.bins.iter().map(|(s, b)| format!("{s}:{b}")).collect();
            let vlans: Vec<String> = f.vlans.iter().map(u16::to_string).collect();
            format!(
                "{name}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                f.proto,
                f.src,
                f.sport,
                f.dst,
                f.dport,
                f.packets,
                f.bytes,
                f.packets_src_to_dst,
                f.bytes_src_to_dst,
                f.network,
                f.class,
                f.interfaces.join(","),
                vlans.join(","),
                bins.join(",")
            )
        })
        .collect()
}

fn dns_lines(t: &fixgen::CaptureTruth) -> Vec<String> {
    let name = t.file.file_name().unwrap_or_default().to_string_lossy();
    let answered = t.dns.iter().map(|d| {
        let records: Vec<String> = d
            .records
            .iter()
            .map(|(owner, ty, ttl, value)| format!("{owner}/{ty}/{ttl}/{value}"))
            .collect();
        format!(
            "{name}\t{}\t{}\t{}\t{}\t{:#06x}\t{}\t{}\t{}\t{}",
            d.time_ns,
            d.client,
            d.server,
            d.transport,
            d.id,
            d.name,
            d.qtype,
            d.rcode,
            records.join(",")
        )
    });
    let unanswered = t.dns_unanswered.iter().map(|q| {
        format!(
            "{name}\t{}\t{}\t{}\t{}\t{:#06x}\t{}\t{}\tunanswered",
            q.time_ns, q.client, q.server, q.transport, q.id, q.name, q.qtype
        )
    });
    answered.chain(unanswered).collect()
}

fn run(args: &[String]) -> Result<Vec<String>, String> {
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    match strs.as_slice() {
        ["all", dir] => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
            let all = fixgen::write_all(Path::new(dir)).map_err(|e| e.to_string())?;
            Ok(all.iter().map(line).collect())
        }
        ["one", name, dir] => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
            let t = fixgen::write(name, Path::new(dir)).map_err(|e| e.to_string())?;
            Ok(vec![line(&t)])
        }
        ["bench", pcap, pcapng, bytes] => bench(pcap, pcapng, "0", bytes),
        ["bench-part", part, pcap, pcapng, bytes] => bench(pcap, pcapng, part, bytes),
        ["bench-flows", pcap, pcapng, bytes] => bench_flows(pcap, pcapng, bytes),
        ["bench-pktmon", path, bytes] => {
            let target: u64 = bytes.parse().map_err(|e| format!("BYTES {bytes:?}: {e}"))?;
            let t = fixgen::windows::write_bench_pktmon(Path::new(path), target)
                .map_err(|e| e.to_string())?;
            Ok(vec![format!(
                "{path}\t{} frames\t{} bytes\t{} unique packets\t{} duplicates\t{} 802.11 copies\t{} file bytes",
                t.frames, t.bytes, t.unique_packets, t.duplicates, t.wifi_copies, t.file_bytes
            )])
        }
        ["flows", dir] => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
            let all = fixgen::write_all(Path::new(dir)).map_err(|e| e.to_string())?;
            Ok(all.iter().flat_map(flow_lines).collect())
        }
        ["dns", dir] => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
            let all = fixgen::write_all(Path::new(dir)).map_err(|e| e.to_string())?;
            Ok(all.iter().flat_map(dns_lines).collect())
        }
        ["tunnels", dir] => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
            let mut out = Vec::new();
            for s in fixgen::tunnel_scenarios() {
                let t = fixgen::write(s.name, Path::new(dir)).map_err(|e| e.to_string())?;
                let outer = fixgen::CaptureTruth {
                    flows: t.outer_flows.clone(),
                    ..t.clone()
                };
                out.extend(flow_lines(&t).into_iter().chain(flow_lines(&outer)));
            }
            Ok(out)
        }
        ["windows", name, style, dir] => windows(name, style, dir),
        ["list"] => Ok(fixgen::scenarios()
            .iter()
            .chain(fixgen::tunnel_scenarios())
            .chain(fixgen::node_scenarios())
            .map(|s| format!("{}\t{}", s.name, s.description))
            .collect()),
        _ => Err(USAGE.to_string()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(lines) => {
            let mut out = std::io::stdout().lock();
            for l in lines {
                if writeln!(out, "{l}").is_err() {
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "fixgen: {e}");
            ExitCode::from(2)
        }
    }
}
