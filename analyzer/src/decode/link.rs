//! Link layers → network-layer bytes.
//!
//! Ethernet and 802.1Q/802.1ad tags go through etherparse's checked slices.
//! Linux SLL/SLL2 and BSD null/loop headers are read here: etherparse has no
//! SLL2 at all, and its SLL v1 parser rejects ARPHRD types it does not know
//! (tun devices use 65534) although the protocol field is then still a plain
//! EtherType. Each is a fixed layout of a few fields. So is an MPLS label
//! stack (etherparse has no MPLS): it is read here as a link-layer shim, like
//! a VLAN tag, in front of the IP header.

use capture::LinkType;
use etherparse::{Ethernet2Slice, SingleVlanSlice};

use super::{Decoded, Layer, NetBytes, Stop, Stopped};

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88A8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MULTICAST: u16 = 0x8848;
/// VLAN tags we follow before giving up (etherparse's own limit is 3).
const MAX_TAGS: usize = 3;
/// MPLS labels we follow before giving up: real stacks hold a handful.
const MAX_LABELS: usize = 16;

fn stop(layer: Layer, reason: Stop) -> Decoded<'static> {
    Decoded::Stopped(Stopped { layer, reason })
}

fn cut() -> Decoded<'static> {
    stop(Layer::Link, Stop::HeaderCut)
}

pub(crate) fn decode(link: LinkType, data: &[u8]) -> Result<NetBytes<'_>, Decoded<'_>> {
    match link {
        LinkType::ETHERNET => ethernet(data),
        LinkType::LINUX_SLL => sll(data),
        LinkType::LINUX_SLL2 => sll2(data),
        LinkType::RAW | LinkType::RAW_BSD12 | LinkType::RAW_BSD14 => Ok(raw(data, 0)),
        LinkType::IPV4 => Ok(raw(data, 4)),
        LinkType::IPV6 => Ok(raw(data, 6)),
        LinkType::NULL => null(data, false),
        LinkType::LOOP => null(data, true),
        LinkType::IEEE802_11 => ieee80211(data),
        other => Err(stop(Layer::Link, Stop::UnsupportedLink(other.0))),
    }
}

pub(crate) fn raw(bytes: &[u8], version_hint: u8) -> NetBytes<'_> {
    NetBytes {
        bytes,
        version_hint,
        vlans: [0; 3],
        vlan_count: 0,
        ifindex: None,
        mpls: false,
    }
}

pub(crate) fn ethernet(data: &[u8]) -> Result<NetBytes<'_>, Decoded<'_>> {
    let eth = Ethernet2Slice::from_slice_without_fcs(data).map_err(|_| cut())?;
    let rest = &data[eth.header_slice().len()..];
    ether_payload(eth.ether_type().0, rest, None)
}

/// Follows VLAN tags from `ether_type`, then hands IP to the next layer.
fn ether_payload(
    mut ether_type: u16,
    mut rest: &[u8],
    ifindex: Option<u32>,
) -> Result<NetBytes<'_>, Decoded<'_>> {
    let mut vlans = [0u16; 3];
    let mut vlan_count = 0u8;
    while matches!(ether_type, ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD) {
        if usize::from(vlan_count) == MAX_TAGS {
            return Err(stop(Layer::Link, Stop::Malformed("more than 3 VLAN tags")));
        }
        let tag = SingleVlanSlice::from_slice(rest).map_err(|_| cut())?;
        vlans[usize::from(vlan_count)] = tag.vlan_identifier().value();
        vlan_count += 1;
        ether_type = tag.ether_type().0;
        rest = tag.payload_slice();
    }
    let version_hint = match ether_type {
        ETH_IPV4 => 4,
        ETH_IPV6 => 6,
        ETH_MPLS | ETH_MPLS_MULTICAST => return mpls(rest, (vlans, vlan_count), ifindex),
        // 802.3 length field (LLC/SNAP, STP) or any other EtherType (ARP, LLDP…).
        other => {
            let ether_type = if other < 0x0600 { 0 } else { other };
            return Err(Decoded::NonIp { ether_type });
        }
    };
    Ok(NetBytes {
        bytes: rest,
        version_hint,
        vlans,
        vlan_count,
        ifindex,
        mpls: false,
    })
}

/// The IP packet after an MPLS label stack (out of line: rare).
#[cold]
#[inline(never)]
fn mpls(
    rest: &[u8],
    (vlans, vlan_count): ([u16; 3], u8),
    ifindex: Option<u32>,
) -> Result<NetBytes<'_>, Decoded<'_>> {
    Ok(NetBytes {
        bytes: mpls_stack(rest).map_err(Decoded::Stopped)?,
        version_hint: 0,
        vlans,
        vlan_count,
        ifindex,
        mpls: true,
    })
}

/// Skips an MPLS label stack (RFC 3032 §2.1: label(20) TC(3) S(1) TTL(8)
/// per entry, S set on the bottom one) and returns the IP packet after it.
/// The payload type is not in the stack: like routers and tshark, the first
/// nibble decides (RFC 4928 §2: 4 or 6 is IP; 0 is a pseudowire control
/// word, RFC 4385, in front of an Ethernet frame, which is not decoded).
pub(crate) fn mpls_stack(mut b: &[u8]) -> Result<&[u8], Stopped> {
    let stop = |reason| Stopped {
        layer: Layer::Mpls,
        reason,
    };
    for _ in 0..MAX_LABELS {
        let [_, _, tc_s, _, ..] = *b else {
            return Err(stop(Stop::HeaderCut));
        };
        b = &b[4..];
        if tc_s & 1 == 0 {
            continue;
        }
        return match b.first().map(|v| v >> 4) {
            Some(4 | 6) => Ok(b),
            Some(0) => Err(stop(Stop::NotDecoded(
                "pseudowire control word (Ethernet over MPLS) not decoded",
            ))),
            Some(_) => Err(stop(Stop::NotDecoded(
                "payload neither IPv4 nor IPv6 (Ethernet over MPLS without control word?) not decoded",
            ))),
            None => Err(stop(Stop::HeaderCut)),
        };
    }
    Err(stop(Stop::Malformed("more than 16 labels")))
}

/// Linux cooked v1: type(2) ARPHRD(2) addr_len(2) addr(8) protocol(2).
fn sll(data: &[u8]) -> Result<NetBytes<'_>, Decoded<'_>> {
    if data.len() < 16 {
        return Err(cut());
    }
    let protocol = u16::from_be_bytes([data[14], data[15]]);
    ether_payload(protocol, &data[16..], None)
}

/// Linux cooked v2: protocol(2) reserved(2) ifindex(4) ARPHRD(2) type(1)
/// addr_len(1) addr(8). See <https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html>.
fn sll2(data: &[u8]) -> Result<NetBytes<'_>, Decoded<'_>> {
    if data.len() < 20 {
        return Err(cut());
    }
    let protocol = u16::from_be_bytes([data[0], data[1]]);
    ether_payload(protocol, &data[20..], sll2_ifindex(data))
}

/// The interface index a Linux cooked (SLL2) header names (bytes 4..8).
pub fn sll2_ifindex(data: &[u8]) -> Option<u32> {
    let b = data.get(4..8)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// BSD null (host byte order family) and OpenBSD loop (network byte order).
fn null(data: &[u8], network_order: bool) -> Result<NetBytes<'_>, Decoded<'_>> {
    if data.len() < 4 {
        return Err(cut());
    }
    let b = [data[0], data[1], data[2], data[3]];
    let family = if network_order {
        u32::from_be_bytes(b)
    } else {
        // The writer's byte order is unknown: families are small numbers, so
        // whichever reading is small is the right one.
        let le = u32::from_le_bytes(b);
        if le <= 0xffff {
            le
        } else {
            u32::from_be_bytes(b)
        }
    };
    let version_hint = match family {
        2 => 4,
        // AF_INET6 differs per BSD: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS), 10 (Linux).
        10 | 24 | 28 | 30 => 6,
        other => return Err(stop(Layer::Link, Stop::UnsupportedFamily(other))),
    };
    Ok(raw(&data[4..], version_hint))
}

/// Where the LLC/SNAP payload of an IEEE 802.11 data frame starts (its
/// EtherType is the two bytes before), or `None` for any other frame.
/// The MAC header is 24 bytes, +6 with both DS bits (four addresses), +2
/// for QoS data, +4 with the HT control field (order bit on a QoS frame)
/// (IEEE 802.11-2020 §9.2.3, §9.3.2.1); null-data and protected frames
/// carry nothing readable. SNAP is `AA AA 03`, OUI, EtherType (RFC 1042).
pub fn ieee80211_payload(data: &[u8]) -> Option<usize> {
    let [fc0, fc1, ..] = *data else { return None };
    let data_frame = fc0 & 0x0c == 0x08 && fc0 & 0x03 == 0;
    let null_data = fc0 & 0x40 != 0;
    if !data_frame || null_data || fc1 & 0x40 != 0 {
        return None;
    }
    let mut hdr = 24;
    if fc1 & 0x03 == 0x03 {
        hdr += 6;
    }
    if fc0 & 0x80 != 0 {
        hdr += if fc1 & 0x80 != 0 { 6 } else { 2 };
    }
    let llc = data.get(hdr..hdr + 8)?;
    (llc[..3] == [0xaa, 0xaa, 0x03]).then_some(hdr + 8)
}

/// IEEE 802.11 (link type 105): a data frame's LLC/SNAP payload is an
/// Ethernet payload; every other frame is non-IP.
fn ieee80211(data: &[u8]) -> Result<NetBytes<'_>, Decoded<'_>> {
    if data.len() < 24 {
        return Err(cut());
    }
    match ieee80211_payload(data) {
        Some(off) => ether_payload(
            u16::from_be_bytes([data[off - 2], data[off - 1]]),
            &data[off..],
            None,
        ),
        None => Err(Decoded::NonIp { ether_type: 0 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpls_stack_ends_at_bottom_of_stack() {
        // Two labels (16001, then 24005 with S), then an IPv4 header's first byte.
        let b = [0x03, 0xe8, 0x10, 64, 0x05, 0xdc, 0x51, 64, 0x45, 0];
        assert_eq!(mpls_stack(&b).unwrap(), &[0x45, 0]);
        let pw = [0, 0, 0x11, 64, 0, 0, 0, 0];
        let e = mpls_stack(&pw).unwrap_err();
        assert_eq!(e.layer, Layer::Mpls);
        assert!(e.to_string().contains("pseudowire"), "{e}");
        // No bottom of stack before the bytes end: cut, never a loop.
        assert_eq!(
            mpls_stack(&[0, 0, 0x10, 64]).unwrap_err().reason,
            Stop::HeaderCut
        );
        let long = [0u8; 4 * 17];
        assert!(matches!(
            mpls_stack(&long).unwrap_err().reason,
            Stop::Malformed(_)
        ));
    }
}
