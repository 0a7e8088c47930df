//! The decoder: the first byte picks one of the link types lanecheck
//! decodes, the rest is the frame; a tunnel's outer packet is decapsulated
//! level by level as the analyzer does (`encapsulated`, `inner`, at most
//! `MAX_NESTING` + 1 levels). Total: never panics, and what it finds lies
//! inside the frame (an 802.11 payload offset too); `addresses` gives a
//! packet's addresses.
#![no_main]

use analyzer::decode::{
    addresses, decode, encapsulated, ieee80211_payload, inner, Decoded, MAX_NESTING,
};
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
    let mut level = decode(&Frame::test(link, frame));
    // The share key's addresses are the decode's (`audit --shard`).
    if let Decoded::Packet(m) = &level {
        assert_eq!(addresses(&Frame::test(link, frame)), Some((m.src, m.dst)));
    }
    for _ in 0..=MAX_NESTING {
        let Decoded::Packet(m) = level else {
            break;
        };
        assert!(m.payload.len() <= frame.len());
        assert!(usize::from(m.vlan_count) <= 3);
        let Some(e) = encapsulated(&m) else {
            break;
        };
        level = inner(&e);
    }
    for off in [ieee80211_payload(frame), mislabelled_80211(frame)]
        .into_iter()
        .flatten()
    {
        assert!(off <= frame.len());
    }
});
