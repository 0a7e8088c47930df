//! pktmon's 802.11 frames written as Ethernet.
//!
//! `pktmon etl2pcap` writes one Ethernet interface for every component, so
//! the copies a Wi-Fi miniport and its filters logged, 802.11 data frames,
//! land in the file labelled Ethernet: 558 of the 1,196 frames of the
//! public sample (`shared/reference/windows-captures.md` §1.2, §6 R3;
//! MicrosoftDocs/windowsserverdocs#6696). Read as Ethernet they are
//! garbage; read as 802.11 they are the same IP packets as the Ethernet
//! copies.

use crate::decode::ieee80211_payload;

/// Frame control of an 802.11 data frame and of a QoS data frame with no
/// flags in the first byte.
const DATA: u8 = 0x08;
const QOS_DATA: u8 = 0x88;
/// The RFC 1042 SNAP header: LLC `AA AA 03`, OUI 00-00-00.
const SNAP: [u8; 6] = [0xaa, 0xaa, 0x03, 0, 0, 0];
/// EtherTypes an IP host's data frames carry: IPv4, ARP, IPv6.
const CARRIED: [u16; 3] = [0x0800, 0x0806, 0x86dd];

/// For a frame labelled Ethernet: the length of the 802.11 and LLC/SNAP
/// headers when its bytes are an 802.11 data frame carrying IPv4, IPv6 or
/// ARP (RFC 1042 encapsulation), else `None`.
///
/// As Ethernet, such a frame would start with a destination MAC whose
/// first byte is 0x08 or 0x88 and carry `AA AA 03 00 00 00` and an IP
/// EtherType 24 or 26 bytes in, inside what would be its IP header: a real
/// Ethernet frame matching all of it is not expected, and only captures
/// written by pktmon are tested.
pub fn mislabelled_80211(data: &[u8]) -> Option<usize> {
    let first = *data.first()?;
    if first != DATA && first != QOS_DATA {
        return None;
    }
    let off = ieee80211_payload(data)?;
    let llc = data.get(off - 8..off)?;
    let ether_type = u16::from_be_bytes([llc[6], llc[7]]);
    (llc[..6] == SNAP && CARRIED.contains(&ether_type)).then_some(off)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wifi_copies_and_real_ethernet() {
        // QoS data, From-DS, then SNAP + IPv4.
        let mut f = vec![0x88, 0x02, 0x2c, 0x00];
        f.extend([0x11; 18]);
        f.extend([0x30, 0x00, 0x00, 0x00]);
        f.extend(SNAP);
        f.extend([0x08, 0x00, 0x45]);
        assert_eq!(mislabelled_80211(&f), Some(34));
        // A VirtualBox MAC (08:00:27) in front of a real IPv4 packet.
        let mut e = vec![0x08, 0x00, 0x27, 1, 2, 3, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
        e.extend([
            0x45, 0, 0, 40, 0x12, 0x34, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        e.extend([0; 20]);
        assert_eq!(mislabelled_80211(&e), None);
        // Another SNAP OUI (Apple's AppleTalk) is not an IP host's frame.
        let mut other = f.clone();
        other[29] = 0x07;
        assert_eq!(mislabelled_80211(&other), None);
    }
}
