//! Who wrote a capture file, from what the file says about itself: the
//! section header's `shb_userappl` and `shb_os`, the interface names and
//! link types, and the options of the first packet blocks.
//!
//! Why it matters: Windows' tools write the same packet several times
//! (pktmon once per networking component, etl2pcapng once per capture
//! point, dumpcap once per selected NIC) and name NICs in their own ways.
//! The rules follow `shared/reference/windows-captures.md` §6 R1:
//! - `shb_userappl` "Packet Monitor" is `pktmon etl2pcap` (one option-less
//!   Ethernet interface, no packet options; observed in a public sample);
//! - "Dumpcap …" with `\Device\NPF_{GUID}` names (or a Windows `shb_os`)
//!   is Wireshark/dumpcap on Npcap (Wireshark `capture_opts.c`);
//! - no application, and interface names like `eth:12:0`, `vNIC:…`,
//!   `Rras:…` or driver file names `*.sys`, or packet comments `PID=…`,
//!   or the packet-id / process-id options: etl2pcapng (its `main.c`);
//!   `.sys` names or packet ids mean it converted a pktmon trace;
//! - an interface of link type 290 (ETW events) is Wireshark's etwdump.

/// The program that wrote a capture file.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Producer {
    /// Windows' `pktmon etl2pcap` (`shb_userappl` "Packet Monitor").
    Pktmon,
    /// Microsoft's etl2pcapng on a `netsh trace` (NDIS capture) trace.
    Etl2Pcapng,
    /// etl2pcapng on a pktmon trace (one interface per component).
    Etl2PcapngPktmon,
    /// Wireshark's etwdump (an ETW event interface, link type 290).
    Etwdump,
    /// Wireshark/dumpcap on Npcap (Windows).
    Npcap,
    /// Wireshark/dumpcap elsewhere.
    Dumpcap,
    /// The classic pcap format (tcpdump and every libpcap-based tool).
    Libpcap,
    /// lanecheck's own `verify --write`.
    Lanecheck,
    /// An application the section header names that is none of these
    /// (mergecap, editcap, a script).
    Other,
    /// Nothing in the file says.
    #[default]
    Unknown,
}

impl Producer {
    /// The JSON spelling (`captures[].producer`).
    pub fn as_str(self) -> &'static str {
        match self {
            Producer::Pktmon => "pktmon",
            Producer::Etl2Pcapng => "etl2pcapng",
            Producer::Etl2PcapngPktmon => "etl2pcapng-pktmon",
            Producer::Etwdump => "etwdump",
            Producer::Npcap => "npcap",
            Producer::Dumpcap => "dumpcap",
            Producer::Libpcap => "libpcap",
            Producer::Lanecheck => "lanecheck",
            Producer::Other => "other",
            Producer::Unknown => "unknown",
        }
    }

    /// The words a report uses.
    pub fn describe(self) -> &'static str {
        match self {
            Producer::Pktmon => "pktmon (built-in converter)",
            Producer::Etl2Pcapng => "etl2pcapng (netsh trace)",
            Producer::Etl2PcapngPktmon => "etl2pcapng (pktmon trace)",
            Producer::Etwdump => "Wireshark etwdump",
            Producer::Npcap => "dumpcap on Npcap",
            Producer::Dumpcap => "dumpcap",
            Producer::Libpcap => "libpcap format",
            Producer::Lanecheck => "lanecheck",
            Producer::Other => "other application",
            Producer::Unknown => "unknown",
        }
    }
}

/// LINKTYPE_ETW: Windows event records, written by etwdump.
const LINKTYPE_ETW: u16 = 290;

/// What a file has said about its writer so far.
#[derive(Clone, Debug, Default)]
pub(crate) struct Fingerprint {
    /// The first section's `shb_userappl`.
    pub userappl: Option<String>,
    /// The first section's `shb_os`.
    pub os: Option<String>,
    /// A section header was read (later ones do not change the writer).
    pub section_seen: bool,
    classic: bool,
    etw: bool,
    npf_names: usize,
    other_names: usize,
    etl_names: usize,
    sys_names: usize,
    /// A packet comment `PID=…` or the process/thread-id option.
    etl_packet: bool,
    packet_id: bool,
}

impl Fingerprint {
    /// A classic pcap file.
    pub fn classic() -> Self {
        Fingerprint {
            classic: true,
            ..Fingerprint::default()
        }
    }

    /// Notes the first section header's application and OS.
    pub fn section(&mut self, userappl: Option<&str>, os: Option<&str>) {
        if self.section_seen {
            return;
        }
        self.section_seen = true;
        self.userappl = userappl.map(str::to_string);
        self.os = os.map(str::to_string);
    }

    /// Notes an interface's name and link type.
    pub fn interface(&mut self, name: Option<&str>, link: u16) {
        self.etw |= link == LINKTYPE_ETW;
        let Some(n) = name else { return };
        if is_npf(n) {
            self.npf_names += 1;
        } else if n.to_ascii_lowercase().ends_with(".sys") {
            self.sys_names += 1;
        } else if is_etl2pcapng_name(n) {
            self.etl_names += 1;
        } else {
            self.other_names += 1;
        }
    }

    /// Notes a packet block's comment and whether it carried a packet id
    /// (option 5) or a process/thread id (option 8).
    pub fn packet(&mut self, comment: Option<&str>, packet_id: bool, pid_tid: bool) {
        self.etl_packet |= pid_tid || comment.is_some_and(|c| c.starts_with("PID="));
        self.packet_id |= packet_id;
    }

    /// The writer these facts point to.
    pub fn producer(&self) -> Producer {
        if self.etw {
            return Producer::Etwdump;
        }
        if let Some(app) = self.userappl.as_deref() {
            return self.by_application(app.trim());
        }
        if self.classic {
            Producer::Libpcap
        } else if self.sys_names > 0 || self.packet_id {
            Producer::Etl2PcapngPktmon
        } else if self.etl_names > 0 || self.etl_packet {
            Producer::Etl2Pcapng
        } else if self.npf_names > 0 && self.other_names == 0 {
            Producer::Npcap
        } else {
            Producer::Unknown
        }
    }

    fn by_application(&self, app: &str) -> Producer {
        let windows = self.os.as_deref().is_some_and(|o| o.contains("Windows"));
        if app == "Packet Monitor" {
            Producer::Pktmon
        } else if app.starts_with("lanecheck") {
            Producer::Lanecheck
        } else if app.starts_with("Dumpcap") {
            if self.npf_names > 0 || windows {
                Producer::Npcap
            } else {
                Producer::Dumpcap
            }
        } else {
            Producer::Other
        }
    }
}

/// An Npcap device name, `\Device\NPF_{GUID}` or `\Device\NPF_Loopback`
/// (any case).
pub fn is_npf(name: &str) -> bool {
    name.get(..12)
        .is_some_and(|p| p.eq_ignore_ascii_case("\\Device\\NPF_"))
}

/// etl2pcapng's interface names (§2.2 of the reference):
/// `eth:N[:VLAN]`, `wifi:N[:VLAN]`, `mbb:N[:VLAN]`, `vNIC:…`, `Rras:…`.
pub fn is_etl2pcapng_name(name: &str) -> bool {
    if name.starts_with("vNIC:") || name.starts_with("Rras:") {
        return true;
    }
    etl2pcapng_ifindex(name).is_some()
}

/// The interface index of an etl2pcapng NDIS name: `eth:12:0` → 12
/// (also `eth:12`, `wifi:N…`, `mbb:N…`; the VLAN may be negative).
pub fn etl2pcapng_ifindex(name: &str) -> Option<u32> {
    let rest = ["eth:", "wifi:", "mbb:"]
        .iter()
        .find_map(|p| name.strip_prefix(p))?;
    let (index, vlan) = match rest.split_once(':') {
        Some((i, v)) => (i, Some(v)),
        None => (rest, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let vlan_ok = vlan.is_none_or(|v| digits(v.strip_prefix('-').unwrap_or(v)));
    if digits(index) && vlan_ok {
        index.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_names(app: Option<&str>, names: &[&str]) -> Producer {
        let mut f = Fingerprint::default();
        f.section(app, None);
        for n in names {
            f.interface(Some(n), 1);
        }
        f.producer()
    }

    #[test]
    fn windows_writers_are_told_apart() {
        assert_eq!(with_names(Some("Packet Monitor"), &[]), Producer::Pktmon);
        let npf = "\\Device\\NPF_{8E6E56A3-0FB3-47BF-836C-B7E6C8002A9E}";
        assert_eq!(
            with_names(Some("Dumpcap (Wireshark) 4.4.2"), &[npf]),
            Producer::Npcap
        );
        assert_eq!(
            with_names(Some("Dumpcap (Wireshark) 2.4.1"), &["eth1"]),
            Producer::Dumpcap
        );
        assert_eq!(
            with_names(None, &["eth:12:0", "vNIC:Internal:LM:12:0"]),
            Producer::Etl2Pcapng
        );
        assert_eq!(
            with_names(None, &["rt640x64.sys", "wfplwfs.sys"]),
            Producer::Etl2PcapngPktmon
        );
        // mergecap of a Linux and a Windows capture names itself.
        assert_eq!(
            with_names(Some("Mergecap (Wireshark) 4.2.2"), &["eth0", npf]),
            Producer::Other
        );
        assert_eq!(with_names(None, &["eth0", "eth1"]), Producer::Unknown);
        assert_eq!(
            with_names(Some("lanecheck 0.1.0"), &[]),
            Producer::Lanecheck
        );
    }

    #[test]
    fn comments_and_etw_links_count() {
        let mut f = Fingerprint::default();
        f.section(None, None);
        f.packet(Some("PID=4 TID=112"), false, false);
        assert_eq!(f.producer(), Producer::Etl2Pcapng);
        f.interface(None, LINKTYPE_ETW);
        assert_eq!(f.producer(), Producer::Etwdump);
        assert_eq!(Fingerprint::classic().producer(), Producer::Libpcap);
    }

    #[test]
    fn etl2pcapng_names() {
        assert_eq!(etl2pcapng_ifindex("eth:12:0"), Some(12));
        assert_eq!(etl2pcapng_ifindex("eth:12"), Some(12));
        assert_eq!(etl2pcapng_ifindex("wifi:3:-1"), Some(3));
        assert_eq!(etl2pcapng_ifindex("eth:x:0"), None);
        assert_eq!(etl2pcapng_ifindex("eth0"), None);
        assert_eq!(etl2pcapng_ifindex("eth:12:"), None);
        assert!(is_etl2pcapng_name("vNIC:Synthetic:vm1:12:0"));
        assert!(is_npf("\\device\\npf_{abc}"));
        assert!(!is_npf("\\Device\\NPF"));
    }
}
