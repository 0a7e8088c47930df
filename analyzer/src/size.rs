//! What a packet weighs: the bytes counted for it, between decode and the
//! flow table.
//!
//! - The original length the file records (`orig_len`), or the captured
//!   length when a writer recorded less than it captured
//!   (`shared/reference/windows-captures.md` §6 R6).
//! - A frame a Windows tool cut (pktmon `--pkt-size`, 128 bytes by
//!   default) without recording its original length: the bytes its IP
//!   header declares beyond the cut are added, and the packet is marked as
//!   an *estimate*. A frame whose file records its original length is
//!   exact whatever its snaplen, and is never marked.
//! - An LSOv2 super-frame (IPv4 total length 0) such a tool cut: its IP
//!   header cannot tell what was cut, so it is counted by what was
//!   captured and marked an *estimate* (R6). A super-frame is larger than
//!   an Ethernet frame (the stack hands a NIC more than one segment's
//!   worth), so one captured at 1514 bytes or less was cut.
//! - LSO/RSC super-frames (an IP packet over 9216 bytes, more than any
//!   Ethernet link carries, jumbo frames included, or an IPv4 total length
//!   of 0 that the NIC fills in when it segments: LSOv2) are counted
//!   by their own size, which is what the host handed over; they are
//!   counted as *super-frames* so reports can say that packet counts are
//!   host-visible segments, not wire packets. A packet of 1501 to 9216
//!   bytes is a jumbo frame on a link with a large MTU (live migration and
//!   storage networks often have one) or a small super-frame, which the
//!   capture cannot tell apart: it is counted as one packet, unflagged.
//! - pktmon's mis-labelled 802.11 copies are counted as the Ethernet frame
//!   they carry (14 bytes of Ethernet header instead of their 802.11 and
//!   LLC/SNAP headers), so every copy of a packet weighs the same.

use capture::Frame;

use crate::decode::PacketMeta;

/// The largest IP packet any Ethernet link carries (the usual jumbo MTU
/// ceiling): above it a packet can only be a super-frame.
pub const JUMBO_MTU: u32 = 9216;
/// Ethernet II header.
const ETHERNET_HEADER: u32 = 14;
/// The largest standard Ethernet frame (1500-byte MTU, no FCS).
const ETHERNET_FRAME: u32 = 1514;

/// What one packet is counted as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weight {
    /// Bytes counted.
    pub len: u32,
    /// `len` comes partly from the IP header (the frame was cut and its
    /// original length not recorded).
    pub estimated: bool,
    /// An LSO/RSC super-frame.
    pub super_frame: bool,
}

/// How to weigh the frames of one capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scale {
    /// The writer may cut frames without recording their original length
    /// (pktmon, etl2pcapng: §1.5, §2.3 of the reference).
    pub lossy: bool,
}

/// Weighs one decoded frame. `wifi_headers` is the length of the 802.11
/// and LLC/SNAP headers of a mis-labelled pktmon copy (0 otherwise).
#[inline]
pub fn weigh(frame: &Frame<'_>, m: &PacketMeta<'_>, scale: Scale, wifi_headers: u32) -> Weight {
    let captured = u32::try_from(frame.data.len()).unwrap_or(u32::MAX);
    let mut len = frame.wire_len.max(captured);
    let mut estimated = false;
    if scale.lossy && frame.wire_len <= captured && m.payload_cut() {
        let missing = m.payload_wire_len as usize - m.payload.len();
        len = len.saturating_add(u32::try_from(missing).unwrap_or(u32::MAX));
        estimated = true;
    }
    let lso_cut = m.ip_len == 0 && m.src.is_ipv4() && captured <= ETHERNET_FRAME;
    if scale.lossy && frame.wire_len <= captured && lso_cut {
        estimated = true;
    }
    if wifi_headers > 0 {
        len = len.saturating_sub(wifi_headers) + ETHERNET_HEADER;
    }
    Weight {
        len,
        estimated,
        super_frame: m.ip_len == 0 || m.ip_len > JUMBO_MTU,
    }
}

#[cfg(test)]
mod tests {
    use capture::LinkType;
    use etherparse::PacketBuilder;

    use super::*;
    use crate::decode::{decode, Decoded};

    fn frame(payload: usize) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 128)
            .tcp(49703, 5719, 1, 64240)
            .write(&mut out, &vec![0x5a; payload])
            .unwrap();
        out
    }

    fn weigh_bytes(bytes: &[u8], wire_len: u32, lossy: bool) -> Weight {
        let mut f = Frame::test(LinkType::ETHERNET, bytes);
        f.wire_len = wire_len;
        let Decoded::Packet(m) = decode(&f) else {
            panic!()
        };
        weigh(&f, &m, Scale { lossy }, 0)
    }

    #[test]
    fn recorded_lengths_are_exact() {
        let full = frame(1460);
        assert_eq!(full.len(), 1514);
        let w = weigh_bytes(&full, 1514, true);
        assert_eq!((w.len, w.estimated, w.super_frame), (1514, false, false));
        // Cut at 128 bytes with the original length recorded: exact.
        let w = weigh_bytes(&full[..128], 1514, true);
        assert_eq!((w.len, w.estimated), (1514, false));
        // A writer that recorded less than it captured.
        let w = weigh_bytes(&full, 60, false);
        assert_eq!(w.len, 1514);
    }

    #[test]
    fn a_cut_without_its_original_length_is_estimated_where_the_writer_loses_it() {
        let full = frame(1460);
        let w = weigh_bytes(&full[..128], 128, true);
        assert_eq!((w.len, w.estimated), (1514, true));
        // Other writers' frames are taken as recorded.
        let w = weigh_bytes(&full[..128], 128, false);
        assert_eq!((w.len, w.estimated), (128, false));
    }

    #[test]
    fn a_cut_lsov2_super_frame_is_counted_as_captured_and_estimated() {
        // An LSOv2 frame of 20,054 bytes: IPv4 total length 0 (bytes 16-17).
        let mut full = frame(20_000);
        full[16..18].copy_from_slice(&[0, 0]);
        let w = weigh_bytes(&full[..128], 128, true);
        assert_eq!((w.len, w.estimated, w.super_frame), (128, true, true));
        // Whole (pktmon --pkt-size 0): its own size, exact.
        let w = weigh_bytes(&full, 20_054, true);
        assert_eq!((w.len, w.estimated, w.super_frame), (20_054, false, true));
        // Its original length recorded: exact.
        let w = weigh_bytes(&full[..128], 20_054, true);
        assert_eq!((w.len, w.estimated), (20_054, false));
    }

    #[test]
    fn jumbo_frames_are_packets_and_bigger_ones_super_frames() {
        // IP 9216 bytes (40 of headers): the largest jumbo frame.
        for (payload, super_frame) in [(1461, false), (8960, false), (9176, false), (9177, true)] {
            let f = frame(payload);
            let w = weigh_bytes(&f, f.len() as u32, false);
            assert_eq!(
                (w.len, w.super_frame),
                (f.len() as u32, super_frame),
                "{payload}"
            );
        }
    }

    #[test]
    fn super_frames() {
        let lso = frame(16 * 1460);
        let w = weigh_bytes(&lso, lso.len() as u32, false);
        assert_eq!((w.len, w.super_frame), (14 + 40 + 16 * 1460, true));
        // LSOv2: IPv4 total length 0.
        let mut v2 = lso.clone();
        v2[16..18].copy_from_slice(&[0, 0]);
        let w = weigh_bytes(&v2, v2.len() as u32, true);
        assert_eq!(
            (w.len, w.estimated, w.super_frame),
            (v2.len() as u32, false, true)
        );
    }
}
