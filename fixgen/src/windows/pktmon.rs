//! `pktmon etl2pcap` output (§1.2 of the reference): one file per adapter, each packet once
//! per component that logged it.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use pcap_file::pcapng::blocks::interface_statistics::{
    InterfaceStatisticsBlock, InterfaceStatisticsOption,
};

use super::{ip_weight, ng, HostFrame, Style, WindowsFile, NICS};
use crate::capture::{io_err, Run};

/// Copies of a sent packet: (Ethernet, 802.11); of a received one: (802.11, Ethernet), in
/// that order (the public sample: 12 and 14 copies, §1.3).
const SENT: (usize, usize) = (6, 6);
const RECEIVED: (usize, usize) = (6, 8);

/// The coalesced frames vSwitch RSC hands up, by the index of their run's last segment.
pub(crate) struct Coalesced {
    by_last: BTreeMap<usize, Vec<u8>>,
    members: std::collections::BTreeSet<usize>,
}

impl Coalesced {
    pub(crate) fn new(runs: &[Run]) -> Self {
        Coalesced {
            by_last: runs
                .iter()
                .map(|r| {
                    (
                        *r.members.last().expect("runs have members"),
                        r.merged.clone(),
                    )
                })
                .collect(),
            members: runs
                .iter()
                .flat_map(|r| r.members.iter().copied())
                .collect(),
        }
    }
}

/// One record: time, bytes, an 802.11 copy, counted once by lanecheck.
struct Record {
    ts: i64,
    data: Vec<u8>,
    wifi: bool,
}

/// The records one host frame (index `i`) becomes.
fn copies(i: usize, f: &HostFrame<'_>, rsc: Option<&Coalesced>) -> Vec<Record> {
    let mut out = Vec::new();
    let mut at = |k: usize, data: Vec<u8>, wifi| {
        out.push(Record {
            ts: f.ts + k as i64 * 1000,
            data,
            wifi,
        })
    };
    if let Some(rsc) = rsc.filter(|r| r.members.contains(&i)) {
        // vSwitch RSC: the six components below the vSwitch log the segment; the eight above
        // it log the coalesced frame once its run's last segment is in.
        for k in 0..RECEIVED.0 {
            at(k, f.data.to_vec(), false);
        }
        if let Some(merged) = rsc.by_last.get(&i) {
            for k in 0..RECEIVED.1 {
                at(RECEIVED.0 + k, merged.clone(), false);
            }
        }
        return out;
    }
    let (first, second) = if f.sent { SENT } else { RECEIVED };
    let seq = (i % 4096) as u16;
    let wifi = || ng::as_80211(f.data, f.sent, seq);
    for k in 0..first + second {
        let in_wifi = if f.sent { k >= first } else { k < first };
        let data = if in_wifi { wifi() } else { f.data.to_vec() };
        at(k, data, in_wifi);
    }
    out
}

/// Writes one file per scenario interface.
pub(super) fn write(
    frames: &[HostFrame<'_>],
    rsc: Option<&Coalesced>,
    name: &str,
    style: Style,
    dir: &Path,
) -> io::Result<Vec<WindowsFile>> {
    let mut files = Vec::new();
    for (n, nic) in NICS.iter().enumerate() {
        let path = dir.join(format!("{name}_{}_{}.pcapng", style.tag(), nic.plain));
        let mut t = WindowsFile {
            file: path.clone(),
            nic: Some(nic.plain),
            ..WindowsFile::default()
        };
        let mut records = Vec::new();
        for (i, f) in frames.iter().enumerate().filter(|(_, f)| f.nic == n as u32) {
            let recs = copies(i, f, rsc);
            count(
                &mut t,
                f,
                &recs,
                rsc.is_some_and(|r| r.by_last.contains_key(&i)),
            );
            records.extend(recs);
        }
        records.sort_by_key(|r| r.ts);
        write_file(&path, &records, &mut t)?;
        files.push(t);
    }
    Ok(files)
}

/// The bookkeeping of one host frame's records.
fn count(t: &mut WindowsFile, f: &HostFrame<'_>, recs: &[Record], coalesced: bool) {
    t.mislabelled_80211 += recs.iter().filter(|r| r.wifi).count() as u64;
    let Some((len, super_frame)) = ip_weight(f.data) else {
        // Non-IP frames (ARP) are not collapsed: every copy is a frame of its own.
        t.unique_packets += recs.len() as u64;
        return;
    };
    t.unique_packets += 1;
    t.duplicates += recs.len() as u64 - 1;
    t.unique_bytes += len;
    t.super_frames += u64::from(super_frame);
    if coalesced {
        // The coalesced frame: counted once more, in its own size, and flagged.
        let merged = &recs.last().expect("copies").data;
        let (mlen, msuper) = ip_weight(merged).expect("an IP frame");
        t.unique_packets += 1;
        t.duplicates -= 1;
        t.unique_bytes += mlen;
        t.super_frames += u64::from(msuper);
        t.possible_copies += 1;
        t.possible_copy_bytes += mlen;
    }
}

fn write_file(path: &Path, records: &[Record], t: &mut WindowsFile) -> io::Result<()> {
    let mut w = ng::create(
        path,
        &[
            (2, "Contoso PowerEdge R650"),
            (3, "Windows Server 2022 Datacenter"),
            (4, "Packet Monitor"),
        ],
    )?;
    ng::interface(&mut w, 0, Vec::new())?;
    for r in records {
        ng::packet(&mut w, 0, r.ts, &r.data, Vec::new())?;
        t.frames += 1;
        t.bytes += r.data.len() as u64;
    }
    // The statistics block pktmon ends with: timestamp 0, only isb_ifdrop = 0.
    let isb = InterfaceStatisticsBlock {
        interface_id: 0,
        timestamp: 0,
        options: vec![InterfaceStatisticsOption::IsbIfDrop(0)],
    };
    w.write_pcapng_block(isb).map_err(io_err)?;
    ng::close(w)
}
