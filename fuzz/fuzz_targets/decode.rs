//! The decoder: the first byte picks one of the link types lanecheck
//! decodes, the rest is the frame. Total: never panics, and what it finds
//! lies inside the frame.
#![no_main]

use analyzer::decode::{decode, Decoded};
use capture::{Frame, LinkType};
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 10] = [
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
});
