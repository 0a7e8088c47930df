//! The large benchmark capture, streamed: one reusable packet buffer, fixed-size flow state,
//! buffered writers. Memory use does not depend on the target size.

use std::fs::File;
use std::io::{self, BufWriter};
use std::net::Ipv4Addr;
use std::path::Path;

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness, TsResolution};

use crate::capture::{epb, ethernet_idb, io_err, ts_dur, EPOCH_NS};
use crate::wire::Host;

/// What `write_bench` wrote (identical packets in both files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchTruth {
    /// Frames in each file.
    pub packets: u64,
    /// Sum of the frames' wire lengths.
    pub bytes: u64,
    /// Number of distinct TCP flows.
    pub flows: u64,
    /// Size of the classic pcap file.
    pub pcap_file_bytes: u64,
    /// Size of the pcapng file.
    pub pcapng_file_bytes: u64,
}

/// Flows in the benchmark: 40 % DPM 5719, 30 % SMB 445, 30 % client (443/3389/80).
pub const BENCH_FLOWS: usize = 1000;
/// Time between consecutive frames (about 550 Mbit/s at the average frame size).
const BENCH_STEP_NS: i64 = 10_000;

struct BenchFlow {
    hosts: [Host; 2],
    ports: [u16; 2],
    nxt: [u32; 2],
    /// Which side sends the bulk data (0 = initiator).
    sender: usize,
}

fn v4(a: [u8; 4]) -> Host {
    Host::new(&Ipv4Addr::from(a).to_string())
}

fn bench_flow(i: usize) -> BenchFlow {
    let sport = 49152 + i as u16;
    let k = |m: usize, off: usize| (off + i % m) as u8;
    let (client, server, dport, sender) = match i % 10 {
        0..=3 => (
            v4([192, 168, 1, 23]),
            v4([192, 168, 1, k(200, 24)]),
            5719,
            1,
        ),
        4..=6 => (
            v4([172, 16, 30, k(3, 11)]),
            v4([172, 16, 30, 11 + ((i + 1) % 3) as u8]),
            445,
            0,
        ),
        _ => (
            v4([10, 10, 12, k(100, 100)]),
            v4([10, 10, 12, 89]),
            [443, 3389, 80][i % 3],
            1,
        ),
    };
    BenchFlow {
        hosts: [client, server],
        ports: [sport, dport],
        nxt: [
            (i as u32).wrapping_mul(2_654_435_761),
            (i as u32).wrapping_mul(0x9e37_79b9) ^ 0x5a5a,
        ],
        sender,
    }
}

/// One exchange: frame sizes sent by the bulk sender (or by the other side when
/// `reverse`), then one pure ACK for them. Averages ~687 bytes per frame.
const EXCHANGES: &[(&[usize], bool)] = &[
    (&[1514, 1514], false),
    (&[390], false),
    (&[1514, 1514], false),
    (&[120], true),
    (&[1514, 1514], false),
    (&[390], false),
];

const HEADERS: usize = 14 + 20 + 20;

/// xorshift64*, fixed seed: the same flow sequence every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

pub fn write_bench(pcap: &Path, pcapng: &Path, target_bytes: u64) -> io::Result<BenchTruth> {
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        snaplen: 65535,
        endianness: Endianness::Little,
        ts_resolution: TsResolution::MicroSecond,
        ..PcapHeader::default()
    };
    let mut pw = PcapWriter::with_header(
        BufWriter::with_capacity(8 << 20, File::create(pcap)?),
        header,
    )
    .map_err(io_err)?;
    let mut nw = PcapNgWriter::with_endianness(
        BufWriter::with_capacity(8 << 20, File::create(pcapng)?),
        Endianness::Little,
    )
    .map_err(io_err)?;
    let mut ng_bytes = 28
        + nw.write_pcapng_block(ethernet_idb("eth0"))
            .map_err(io_err)? as u64;

    let mut flows: Vec<BenchFlow> = (0..BENCH_FLOWS).map(bench_flow).collect();
    let payload: Vec<u8> = crate::payload::pattern(1460, 0xbe);
    let mut buf: Vec<u8> = Vec::with_capacity(2048);
    let mut rng = Rng(0x6c61_6e65_6368_6b21);
    let mut truth = BenchTruth {
        packets: 0,
        bytes: 0,
        flows: BENCH_FLOWS as u64,
        pcap_file_bytes: 24,
        pcapng_file_bytes: 0,
    };
    let mut ts = EPOCH_NS;
    let mut ex = 0usize;

    while truth.pcap_file_bytes < target_bytes {
        let f = &mut flows[(rng.next() % BENCH_FLOWS as u64) as usize];
        let (sizes, reverse) = EXCHANGES[ex % EXCHANGES.len()];
        ex += 1;
        let from = if reverse { 1 - f.sender } else { f.sender };
        let n = sizes.len();
        for (j, &size) in sizes.iter().chain(std::iter::once(&HEADERS)).enumerate() {
            // The last frame of the exchange is the peer's pure ACK.
            let side = if j < n { from } else { 1 - from };
            let len = size - HEADERS;
            buf.clear();
            let (src, dst) = (f.hosts[side], f.hosts[1 - side]);
            let (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) = (src.ip, dst.ip) else {
                unreachable!("bench hosts are IPv4");
            };
            let mut b = PacketBuilder::ethernet2(src.mac, dst.mac)
                .ipv4(s.octets(), d.octets(), 128)
                .tcp(f.ports[side], f.ports[1 - side], f.nxt[side], 64240)
                .ack(f.nxt[1 - side]);
            if len > 0 && j + 1 == n {
                b = b.psh();
            }
            b.write(&mut buf, &payload[..len])
                .map_err(|e| io::Error::other(e.to_string()))?;
            f.nxt[side] = f.nxt[side].wrapping_add(len as u32);

            let wire = buf.len() as u64;
            let pkt = PcapPacket::new(ts_dur(ts), buf.len() as u32, &buf);
            truth.pcap_file_bytes += pw.write_packet(&pkt).map_err(io_err)? as u64;
            ng_bytes += nw
                .write_pcapng_block(epb(0, ts, &buf, buf.len()))
                .map_err(io_err)? as u64;
            truth.packets += 1;
            truth.bytes += wire;
            ts += BENCH_STEP_NS;
        }
    }
    truth.pcapng_file_bytes = ng_bytes;
    pw.into_writer()
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    nw.into_inner()
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    Ok(truth)
}
