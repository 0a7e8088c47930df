//! The large benchmark capture, streamed: one reusable packet buffer, fixed-size flow state,
//! buffered writers. Memory use does not depend on the target size.
//!
//! [`BenchStream`] is the traffic itself (1,000 long TCP flows of bulk data); `write_bench`
//! writes it as pcap and pcapng, `windows::write_bench_pktmon` the way pktmon logs it.

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
pub(crate) const BENCH_STEP_NS: i64 = 10_000;

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
pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One frame of a stream: its time and the flow side that sent it (0 = initiator).
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamFrame {
    pub ts: i64,
    pub side: usize,
}

/// The bench traffic as an endless stream of frames.
pub(crate) struct BenchStream {
    flows: Vec<BenchFlow>,
    payload: Vec<u8>,
    rng: Rng,
    ts: i64,
    step_ns: i64,
    /// Exchanges started so far.
    ex: usize,
    /// The exchange under way: its flow and the next of its frames (`None`: start one).
    current: Option<(usize, usize)>,
}

impl BenchStream {
    /// A stream whose frames lie `step_ns` apart.
    pub(crate) fn new(step_ns: i64) -> BenchStream {
        Self::part(step_ns, 0)
    }

    /// Part `part` of the traffic: the same, but every client port moved
    /// by `part × BENCH_FLOWS`, so parts share no flow (one host's capture
    /// each, for the several-files benchmark).
    fn part(step_ns: i64, part: u16) -> BenchStream {
        let moved = |i| {
            let mut f = bench_flow(i);
            f.ports[0] += part * BENCH_FLOWS as u16;
            f
        };
        BenchStream {
            flows: (0..BENCH_FLOWS).map(moved).collect(),
            payload: crate::payload::pattern(1460, 0xbe),
            rng: Rng(0x6c61_6e65_6368_6b21),
            ts: EPOCH_NS,
            step_ns,
            ex: 0,
            current: None,
        }
    }

    /// Writes the next frame into `buf` (cleared first).
    pub(crate) fn next_frame(&mut self, buf: &mut Vec<u8>) -> io::Result<StreamFrame> {
        let (fi, j) = match self.current {
            Some(c) => c,
            None => {
                self.ex += 1;
                ((self.rng.next() % BENCH_FLOWS as u64) as usize, 0)
            }
        };
        let (sizes, reverse) = EXCHANGES[(self.ex - 1) % EXCHANGES.len()];
        let n = sizes.len();
        // The last frame of the exchange is the peer's pure ACK.
        self.current = (j < n).then_some((fi, j + 1));
        let f = &mut self.flows[fi];
        let from = if reverse { 1 - f.sender } else { f.sender };
        let side = if j < n { from } else { 1 - from };
        let len = sizes.get(j).copied().unwrap_or(HEADERS) - HEADERS;
        buf.clear();
        let (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) =
            (f.hosts[side].ip, f.hosts[1 - side].ip)
        else {
            unreachable!("bench hosts are IPv4");
        };
        let mut b = PacketBuilder::ethernet2(f.hosts[side].mac, f.hosts[1 - side].mac)
            .ipv4(s.octets(), d.octets(), 128)
            .tcp(f.ports[side], f.ports[1 - side], f.nxt[side], 64240)
            .ack(f.nxt[1 - side]);
        if len > 0 && j + 1 == n {
            b = b.psh();
        }
        b.write(buf, &self.payload[..len])
            .map_err(|e| io::Error::other(e.to_string()))?;
        f.nxt[side] = f.nxt[side].wrapping_add(len as u32);
        let frame = StreamFrame { ts: self.ts, side };
        self.ts += self.step_ns;
        Ok(frame)
    }
}

/// The same frames written to a classic pcap (microseconds) and a pcapng (nanoseconds, one
/// interface `eth0`) side by side, counting the bytes of each file.
pub(crate) struct PairWriter {
    pcap: PcapWriter<BufWriter<File>>,
    pcapng: PcapNgWriter<BufWriter<File>>,
    /// Bytes written so far to each file.
    pub pcap_bytes: u64,
    pub pcapng_bytes: u64,
}

impl PairWriter {
    pub(crate) fn create(pcap: &Path, pcapng: &Path) -> io::Result<PairWriter> {
        let header = PcapHeader {
            datalink: DataLink::ETHERNET,
            snaplen: 65535,
            endianness: Endianness::Little,
            ts_resolution: TsResolution::MicroSecond,
            ..PcapHeader::default()
        };
        let pw = PcapWriter::with_header(
            BufWriter::with_capacity(8 << 20, File::create(pcap)?),
            header,
        )
        .map_err(io_err)?;
        let mut nw = PcapNgWriter::with_endianness(
            BufWriter::with_capacity(8 << 20, File::create(pcapng)?),
            Endianness::Little,
        )
        .map_err(io_err)?;
        let idb = nw
            .write_pcapng_block(ethernet_idb("eth0"))
            .map_err(io_err)?;
        Ok(PairWriter {
            pcap: pw,
            pcapng: nw,
            pcap_bytes: 24,
            pcapng_bytes: 28 + idb as u64,
        })
    }

    /// Writes one whole frame at `ts` (ns) to both files.
    pub(crate) fn write(&mut self, ts: i64, frame: &[u8]) -> io::Result<()> {
        let pkt = PcapPacket::new(ts_dur(ts), frame.len() as u32, frame);
        self.pcap_bytes += self.pcap.write_packet(&pkt).map_err(io_err)? as u64;
        self.pcapng_bytes += self
            .pcapng
            .write_pcapng_block(epb(0, ts, frame, frame.len()))
            .map_err(io_err)? as u64;
        Ok(())
    }

    /// Flushes and syncs both files.
    pub(crate) fn finish(self) -> io::Result<()> {
        self.pcap
            .into_writer()
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        self.pcapng
            .into_inner()
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()
    }
}

pub fn write_bench(pcap: &Path, pcapng: &Path, target_bytes: u64) -> io::Result<BenchTruth> {
    write_bench_part(pcap, pcapng, 0, target_bytes)
}

/// Part `part` of the benchmark traffic (see [`BenchStream::part`]); part
/// 0 is [`write_bench`]'s capture.
pub fn write_bench_part(
    pcap: &Path,
    pcapng: &Path,
    part: u16,
    target_bytes: u64,
) -> io::Result<BenchTruth> {
    let mut out = PairWriter::create(pcap, pcapng)?;
    let mut stream = BenchStream::part(BENCH_STEP_NS, part);
    let mut buf: Vec<u8> = Vec::with_capacity(2048);
    let mut truth = BenchTruth {
        packets: 0,
        bytes: 0,
        flows: BENCH_FLOWS as u64,
        pcap_file_bytes: 0,
        pcapng_file_bytes: 0,
    };
    // Whole exchanges only, as before the stream was split out: stop at an exchange's end.
    while out.pcap_bytes < target_bytes || stream.current.is_some() {
        let f = stream.next_frame(&mut buf)?;
        out.write(f.ts, &buf)?;
        truth.packets += 1;
        truth.bytes += buf.len() as u64;
    }
    truth.pcap_file_bytes = out.pcap_bytes;
    truth.pcapng_file_bytes = out.pcapng_bytes;
    out.finish()?;
    Ok(truth)
}
