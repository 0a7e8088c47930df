//! etl2pcapng output (§2 of the reference): one interface per capture point, every packet
//! on each point it crossed.

use std::borrow::Cow;
use std::io;
use std::path::Path;

use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::blocks::systemd_journal_export::SystemdJournalExportBlock;

use super::{ip_weight, ng, HostFrame, WindowsFile, NICS};
use crate::capture::io_err;

/// The capture points of a packet, as indexes into a network's four interfaces (vEthernet,
/// internal port, external port, physical NIC), in the order it crosses them.
const SENT: [usize; 3] = [0, 1, 3];
const RECEIVED: [usize; 3] = [3, 2, 0];

/// `epb_flags` direction bits (pcapng §4.3): 1 inbound, 2 outbound.
fn flags(sent: bool) -> u32 {
    if sent {
        2
    } else {
        1
    }
}

/// The comment etl2pcapng writes: `PID= TID=` for NDIS capture points, the vSwitch metadata
/// for port events (`main.c`, §2.3).
fn comment(point: usize, nic: &super::WindowsNic) -> String {
    match point {
        1 => format!(
            "PID=4 TID=212 VlanId=0 SrcPortId=3 SrcNicType=Internal SrcNicName={} SrcPortName={} HashValue=0x0",
            nic.vnic_alias, nic.port
        ),
        2 => format!(
            "PID=4 TID=212 VlanId=0 SrcPortId=1 SrcNicType=External SrcNicName={} SrcPortName={} DstNicCount=1 HashValue=0x0",
            nic.pnic_alias, nic.pnic_alias
        ),
        _ => "PID=4 TID=212".to_string(),
    }
}

/// Writes the one file.
pub(super) fn write(frames: &[HostFrame<'_>], name: &str, dir: &Path) -> io::Result<WindowsFile> {
    let path = dir.join(format!("{name}_etl2pcapng.pcapng"));
    let mut t = WindowsFile {
        file: path.clone(),
        ..WindowsFile::default()
    };
    let mut w = ng::create(&path, &[])?;
    for nic in &NICS {
        for n in nic.etl_names() {
            ng::interface(&mut w, 65535, vec![ng::text(2, &n)])?;
        }
    }
    // etl2pcapng ≥ 1.12 turns the trace's other events into journal blocks.
    let journal = "__REALTIME_TIMESTAMP=1700000000000000\n_COMM=Microsoft-Windows-TCPIP\nMESSAGE=TCP: connection attempt\n";
    w.write_pcapng_block(SystemdJournalExportBlock {
        journal_entry: Cow::Borrowed(journal.as_bytes()),
    })
    .map_err(io_err)?;
    let mut records = Vec::new();
    for f in frames {
        let points = if f.sent { SENT } else { RECEIVED };
        for (k, p) in points.iter().enumerate() {
            records.push((f.ts + k as i64 * 1000, f.nic * 4 + *p as u32, *p, f));
        }
        match ip_weight(f.data) {
            Some((len, super_frame)) => {
                t.unique_packets += 1;
                t.duplicates += points.len() as u64 - 1;
                t.unique_bytes += len;
                t.super_frames += u64::from(super_frame);
            }
            None => t.unique_packets += points.len() as u64,
        }
    }
    records.sort_by_key(|r| r.0);
    for (ts, iface, point, f) in records {
        let nic = &NICS[f.nic as usize];
        let options = vec![
            EnhancedPacketOption::Comment(Cow::Owned(comment(point, nic))),
            EnhancedPacketOption::Flags(flags(f.sent)),
        ];
        ng::packet(&mut w, iface, ts, f.data, options)?;
        t.frames += 1;
        t.bytes += f.data.len() as u64;
    }
    ng::close(w)?;
    Ok(t)
}
