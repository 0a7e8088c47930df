//! The decoder: the first byte picks one of the link types lanecheck
//! decodes, the rest is the frame. Total: never panics, and what it finds
//! lies inside the frame (an 802.11 payload offset too).
#![no_main]

use analyzer::decode::{decode, ieee80211_payload, Decoded};
use analyzer::dedup::mislabelled_80211;
use capture::{Frame, LinkType};
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 11] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::RAW_BSD12,
    LinkType::RAW_BSD14,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
    LinkType::IEEE802_11,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let link = LINKS[usize::from(pick) % LINKS.len()];
    if let Decoded::Packet(m) = decode(&Frame::test(link, frame)) {
        assert!(m.payload.len() <= frame.len());
        assert!(usize::from(m.vlan_count) <= 3);
    }
    for off in [ieee80211_payload(frame), mislabelled_80211(frame)]
        .into_iter()
        .flatten()
    {
        assert!(off <= frame.len());
    }
});
