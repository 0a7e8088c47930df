//! The two-NIC DPM scenarios as Windows tools write them, with exact bookkeeping
//! (`shared/reference/windows-captures.md`):
//!
//! - [`Style::Pktmon`]: `pktmon etl2pcap` output, one file per adapter (the file an operator
//!   gives as `PATH=NAME`): section header `shb_userappl` "Packet Monitor", one option-less
//!   Ethernet interface block (snaplen 0), option-less packet blocks in microseconds, an
//!   interface statistics block at the end; every packet once per networking component that
//!   logged it: a sent one as 6 Ethernet copies then 6 802.11 copies (labelled Ethernet, as
//!   the converter does), a received one as 6 802.11 then 8 Ethernet copies (the public
//!   sample's pattern, §1.3); the bulk the host sent in large-send super-frames (LSO, up to
//!   32 segments, every third with IPv4 total length 0 as LSOv2 leaves it).
//! - [`Style::PktmonRsc`]: as `Pktmon` on the receiving host, with vSwitch receive-segment
//!   coalescing: the lower 6 components log the received segments, the upper 8 one coalesced
//!   frame per run; copies that differ in size, which no content key can match.
//! - [`Style::Etl2Pcapng`]: etl2pcapng on a `netsh trace capturetype=both` trace: no section
//!   options, one interface per capture point (`eth:<pNIC ifindex>:0`, `eth:<vEthernet
//!   ifindex>:0`, the vSwitch port `vNIC:Internal:<port>:<pNIC ifindex>:0`), snaplen 65535,
//!   microseconds, a systemd journal block (§2.1), every packet on the vEthernet, the vSwitch
//!   port and the physical NIC, with `PID=` comments and direction flags.
//! - [`Style::Npcap`]: dumpcap on Npcap capturing the host vNIC and the physical NIC of each
//!   network: `\Device\NPF_{GUID}` names, the friendly alias as `if_description`, the driver
//!   as `if_hardware`; every packet on both.
//!
//! The host capturing is the protected server `ps` (the DPM agent, which sends the backup
//! data), except for `PktmonRsc`, captured on the DPM server, which receives it. Frames of
//! flows the host is not an end of are not in its view. Beside the Windows files, the host's
//! view is written once per packet as a plain pcapng (`eth0`, `eth1`): the plain capture of
//! the same traffic.

mod etl;
mod ng;
mod npcap;
mod pktmon;

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::capture::HostFrame;
use crate::CaptureTruth;

/// How a Windows tool writes the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `pktmon etl2pcap`, every component logging, LSO super-frames.
    Pktmon,
    /// `pktmon etl2pcap` on the receiver with vSwitch RSC: copies of different sizes.
    PktmonRsc,
    /// etl2pcapng on a `netsh trace` ETL (NDIS and vSwitch capture points).
    Etl2Pcapng,
    /// dumpcap on Npcap, the host vNIC and the physical NIC of each network.
    Npcap,
}

impl Style {
    fn tag(self) -> &'static str {
        match self {
            Style::Pktmon => "pktmon",
            Style::PktmonRsc => "pktmon_rsc",
            Style::Etl2Pcapng => "etl2pcapng",
            Style::Npcap => "npcap",
        }
    }
}

/// How one network's NIC of the host appears under each tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowsNic {
    /// The scenario's interface (`eth0`, `eth1`).
    pub plain: &'static str,
    /// Friendly alias of the host vNIC (`vEthernet (Backup)`).
    pub vnic_alias: &'static str,
    /// Friendly alias of the physical NIC under the vSwitch (`Ethernet 2`).
    pub pnic_alias: &'static str,
    /// Adapter GUIDs (upper case, no braces).
    pub vnic_guid: &'static str,
    pub pnic_guid: &'static str,
    /// Interface indexes.
    pub vnic_ifindex: u32,
    pub pnic_ifindex: u32,
    /// The vSwitch port of the host vNIC.
    pub port: &'static str,
}

impl WindowsNic {
    /// etl2pcapng's interface names for this network: the vEthernet binding, the vSwitch port
    /// of the host vNIC (what the host sends enters the switch there), the vSwitch's external
    /// port (what it receives enters there), the physical NIC's binding.
    pub fn etl_names(&self) -> [String; 4] {
        [
            format!("eth:{}:0", self.vnic_ifindex),
            format!("vNIC:Internal:{}:{}:0", self.port, self.pnic_ifindex),
            format!("vNIC:External:{}:{}:0", self.pnic_alias, self.pnic_ifindex),
            format!("eth:{}:0", self.pnic_ifindex),
        ]
    }
}

/// The host's NIC per scenario interface (`eth0` primary, `eth1` backup).
pub const NICS: [WindowsNic; 2] = [
    WindowsNic {
        plain: "eth0",
        vnic_alias: "vEthernet (Primary)",
        pnic_alias: "Ethernet 1",
        vnic_guid: "3F2504E0-4F89-41D3-9A0C-0305E82C3301",
        pnic_guid: "5AE6EDB4-EFF9-46B3-A3C2-EE50C688A9E6",
        vnic_ifindex: 15,
        pnic_ifindex: 5,
        port: "Primary",
    },
    WindowsNic {
        plain: "eth1",
        vnic_alias: "vEthernet (Backup)",
        pnic_alias: "Ethernet 2",
        vnic_guid: "8E6E56A3-0FB3-47BF-836C-B7E6C8002A9E",
        pnic_guid: "C1D2E3F4-A5B6-4C7D-8E9F-0A1B2C3D4E5F",
        vnic_ifindex: 16,
        pnic_ifindex: 6,
        port: "Backup",
    },
];

/// What one Windows-style file holds, as lanecheck should count it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowsFile {
    pub file: PathBuf,
    /// The scenario interface to give it as (`PATH=NAME`): pktmon names none.
    pub nic: Option<&'static str>,
    /// Packet records written.
    pub frames: u64,
    /// Sum of their original lengths.
    pub bytes: u64,
    /// IP packets of the host's view in it (each counted once), plus every non-IP frame (ARP
    /// copies are not collapsed: only IP packets carry an identity).
    pub unique_packets: u64,
    /// Later copies of an IP packet.
    pub duplicates: u64,
    /// Bytes of the IP packets counted once (802.11 copies weigh as the Ethernet frame).
    pub unique_bytes: u64,
    /// 802.11 frames written under the Ethernet link type.
    pub mislabelled_80211: u64,
    /// Super-frames among the packets counted once (IP over 9216 bytes, or length 0).
    pub super_frames: u64,
    /// Frames written in a size no copy of theirs has (`PktmonRsc`'s coalesced frames): each
    /// is counted and repeats bytes already counted; their bytes.
    pub possible_copies: u64,
    pub possible_copy_bytes: u64,
}

/// A scenario written the way a Windows tool writes it.
#[derive(Clone, Debug)]
pub struct WindowsCapture {
    pub style: Style,
    /// The files, in interface order (pktmon: one per adapter, even one that logged nothing).
    pub files: Vec<WindowsFile>,
    /// The host's view, one copy per packet, as a plain pcapng: the plain capture of the same
    /// traffic, and its bookkeeping.
    pub plain: CaptureTruth,
}

/// Largest number of segments merged into one super-frame.
const MAX_SEGMENTS: usize = 32;

/// Writes scenario `name` (a two-NIC pcapng DPM scenario) in `style` into `dir`.
pub fn write(name: &str, style: Style, dir: &Path) -> io::Result<WindowsCapture> {
    let mut cap = crate::build(name)?;
    if cap.nic_names() != ["eth0", "eth1"] {
        return Err(io::Error::other(format!(
            "{name}: not a two-NIC (eth0, eth1) pcapng scenario"
        )));
    }
    let host = match style {
        Style::PktmonRsc => ["10.10.12.89", "192.168.1.23"],
        _ => ["10.10.12.90", "192.168.1.24"],
    }
    .map(|a| a.parse::<IpAddr>().expect("literal"));
    cap.keep_host(&host);
    let files = match style {
        Style::Pktmon => {
            let runs = cap.runs(&host, MAX_SEGMENTS);
            cap.apply_runs(runs, 3);
            pktmon::write(&cap.host_frames(&host), None, name, style, dir)?
        }
        Style::PktmonRsc => {
            let peers = ["10.10.12.90", "192.168.1.24"].map(|a| a.parse().expect("literal"));
            let runs = cap.runs(&peers, MAX_SEGMENTS);
            let rsc = pktmon::Coalesced::new(&runs);
            pktmon::write(&cap.host_frames(&host), Some(&rsc), name, style, dir)?
        }
        Style::Etl2Pcapng => vec![etl::write(&cap.host_frames(&host), name, dir)?],
        Style::Npcap => vec![npcap::write(&cap.host_frames(&host), name, dir)?],
    };
    cap.rename(plain_name(name, style));
    let plain = cap.finish(dir)?;
    Ok(WindowsCapture {
        style,
        files,
        plain,
    })
}

/// The file name of the plain host view (`<scenario>_<style>_host`), leaked once per name:
/// fixgen is a short-lived test tool and `Capture` names are `&'static str`.
fn plain_name(name: &str, style: Style) -> &'static str {
    Box::leak(format!("{name}_{}_host", style.tag()).into_boxed_str())
}

/// Whether a frame is an IP packet (the copies lanecheck collapses), and its weight as the
/// Ethernet frame it is, and whether it is a super-frame.
fn ip_weight(data: &[u8]) -> Option<(u64, bool)> {
    let et = u16::from_be_bytes([data[12], data[13]]);
    if et != 0x0800 && et != 0x86dd {
        return None;
    }
    let ip_len = if et == 0x0800 {
        u32::from(u16::from_be_bytes([data[16], data[17]]))
    } else {
        match u16::from_be_bytes([data[18], data[19]]) {
            0 => 0,
            n => 40 + u32::from(n),
        }
    };
    Some((data.len() as u64, ip_len == 0 || ip_len > 9216))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn super_frames_keep_every_byte_once() {
        let dir = tempfile::tempdir().unwrap();
        let w = write("dpm_backup_lan", Style::Pktmon, dir.path()).unwrap();
        // The host's view carries the same TCP payload as the scenario, in fewer frames.
        let plain = crate::write("dpm_backup_lan", dir.path()).unwrap();
        let data = |t: &CaptureTruth| {
            let f = t.flows.iter().find(|f| f.dport == 5719).unwrap().clone();
            (f.packets, f.bytes)
        };
        let (p0, b0) = data(&plain);
        let (p1, b1) = data(&w.plain);
        assert!(p1 < p0);
        // Each merged segment saves its 54 bytes of headers.
        assert_eq!((b0 - b1) % 54, 0);
        assert_eq!((b0 - b1) / 54, p0 - p1);
        assert!(w
            .files
            .iter()
            .all(|f| f.super_frames > 0 || f.nic == Some("eth0")));
    }
}
