//! The bench traffic as `pktmon etl2pcap` writes it (`fixgen bench-pktmon`): every frame of
//! [`BenchStream`] logged once per networking component, as [`super::pktmon`] writes the
//! scenarios: a frame the flow's initiator sent as 6 Ethernet then 6 802.11 copies, one it
//! received as 6 802.11 then 8 Ethernet copies, 1 µs apart. Streamed: memory does not
//! depend on the size.

use std::io;
use std::path::Path;

use pcap_file::pcapng::blocks::interface_statistics::{
    InterfaceStatisticsBlock, InterfaceStatisticsOption,
};

use super::ng;
use super::pktmon::{RECEIVED, SENT};
use crate::bench::BenchStream;
use crate::capture::io_err;

/// What `write_bench_pktmon` wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PktmonBench {
    /// Packet records (every copy).
    pub frames: u64,
    /// Sum of their lengths.
    pub bytes: u64,
    /// Packets of the traffic (each counted once by deduplication).
    pub unique_packets: u64,
    /// Later copies (`frames - unique_packets`).
    pub duplicates: u64,
    /// 802.11 copies among the frames (labelled Ethernet, as pktmon does).
    pub wifi_copies: u64,
    /// Size of the file.
    pub file_bytes: u64,
}

/// Time between two frames of the traffic: room for all 14 copies (1 µs apart) of one
/// before the next, so the file is in time order as pktmon writes it.
const STEP_NS: i64 = 20_000;

/// Writes the pktmon-style bench capture, stopping once it holds `target_bytes`.
pub fn write_bench_pktmon(path: &Path, target_bytes: u64) -> io::Result<PktmonBench> {
    let mut w = ng::create(
        path,
        &[
            (2, "Contoso PowerEdge R650"),
            (3, "Windows Server 2022 Datacenter"),
            (4, "Packet Monitor"),
        ],
    )?;
    ng::interface(&mut w, 0, Vec::new())?;
    let mut stream = BenchStream::new(STEP_NS);
    let mut buf = Vec::with_capacity(2048);
    let mut t = PktmonBench::default();
    // Section header with three options, then the interface block: well under 200 bytes.
    let mut written: u64 = 200;
    let mut seq: u16 = 0;
    while written < target_bytes {
        let f = stream.next_frame(&mut buf)?;
        let sent = f.side == 0;
        let (first, second) = if sent { SENT } else { RECEIVED };
        let wifi = ng::as_80211(&buf, sent, seq);
        seq = (seq + 1) % 4096;
        for k in 0..first + second {
            let in_wifi = if sent { k >= first } else { k < first };
            let data = if in_wifi { &wifi } else { &buf };
            ng::packet(&mut w, 0, f.ts + k as i64 * 1000, data, Vec::new())?;
            t.frames += 1;
            t.bytes += data.len() as u64;
            t.wifi_copies += u64::from(in_wifi);
            written += 32 + (data.len() as u64).next_multiple_of(4);
        }
        t.unique_packets += 1;
    }
    t.duplicates = t.frames - t.unique_packets;
    let isb = InterfaceStatisticsBlock {
        interface_id: 0,
        timestamp: 0,
        options: vec![InterfaceStatisticsOption::IsbIfDrop(0)],
    };
    w.write_pcapng_block(isb).map_err(io_err)?;
    ng::close(w)?;
    t.file_bytes = std::fs::metadata(path)?.len();
    Ok(t)
}
