//! dumpcap on Npcap (§3 of the reference): each network's host vNIC and physical NIC
//! selected, every packet on both.

use std::io;
use std::path::Path;

use super::{ip_weight, ng, HostFrame, WindowsFile, NICS};

const OS: &str = "64-bit Windows Server 2022 (21H2), build 20348";

/// Writes the one file.
pub(super) fn write(frames: &[HostFrame<'_>], name: &str, dir: &Path) -> io::Result<WindowsFile> {
    let path = dir.join(format!("{name}_npcap.pcapng"));
    let mut t = WindowsFile {
        file: path.clone(),
        ..WindowsFile::default()
    };
    let mut w = ng::create(
        &path,
        &[
            (3, OS),
            (4, "Dumpcap (Wireshark) 4.4.2 (v4.4.2-0-g4f7b8d0c63b8)"),
        ],
    )?;
    for (n, nic) in NICS.iter().enumerate() {
        let hyperv = format!("Hyper-V Virtual Ethernet Adapter #{}", n + 2);
        for (guid, alias, hardware) in [
            (nic.vnic_guid, nic.vnic_alias, hyperv.as_str()),
            (
                nic.pnic_guid,
                nic.pnic_alias,
                "Intel(R) Ethernet Controller X710",
            ),
        ] {
            let options = vec![
                ng::text(2, &format!("\\Device\\NPF_{{{guid}}}")),
                ng::text(3, alias),
                ng::text(12, OS),
                ng::text(15, hardware),
            ];
            ng::interface(&mut w, 262_144, options)?;
        }
    }
    let mut records = Vec::new();
    for f in frames {
        // The vNIC sees what the host sends first, the physical NIC what it receives.
        let (vnic, pnic) = (f.nic * 2, f.nic * 2 + 1);
        let order = if f.sent { [vnic, pnic] } else { [pnic, vnic] };
        for (k, iface) in order.into_iter().enumerate() {
            records.push((f.ts + k as i64 * 1000, iface, f.data));
        }
        match ip_weight(f.data) {
            Some((len, super_frame)) => {
                t.unique_packets += 1;
                t.duplicates += 1;
                t.unique_bytes += len;
                t.super_frames += u64::from(super_frame);
            }
            None => t.unique_packets += 2,
        }
    }
    records.sort_by_key(|r| r.0);
    for (ts, iface, data) in records {
        ng::packet(&mut w, iface, ts, data, Vec::new())?;
        t.frames += 1;
        t.bytes += data.len() as u64;
    }
    ng::close(w)?;
    Ok(t)
}
