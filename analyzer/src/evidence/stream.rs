//! In-order delivery of one TCP connection's payload, per direction, with
//! a small reorder buffer.
//!
//! A segment that continues the stream is handed on as it is, and a
//! retransmission that overlaps it hands on only its new tail. A segment
//! that starts beyond the next expected byte (the one before it was lost,
//! or is only late: SPAN ports, multi-queue NICs and pktmon reorder
//! segments routinely) is held, its captured payload copied, at most
//! [`HELD_SEGMENTS`] segments and [`HELD_BYTES`] captured bytes per
//! direction. Once the stream reaches a held segment ([`TcpStream::reached`])
//! it is taken through [`TcpStream::accept`] again, so overlaps,
//! retransmissions and snaplen-cut segments are handled exactly as in
//! order. A segment that would pass the bound ends the stream for the
//! dissectors ([`Accept::Gap`]); so does a hole still open when the flow
//! ends, since nothing fills it (the caller counts it). The buffer is
//! allocated at the first held segment and freed when the hole fills:
//! a stream in order costs nothing. A direction starts at the byte after
//! its SYN when the SYN was seen ([`Syns`]), else at its first payload.
//! Sequence numbers compare modulo 2^32 (RFC 793 §3.3).

use super::{Dir, Start};
use crate::decode::tcp_flags;

/// Most segments held per direction while a hole is open. Reordering on a
/// SPAN port or across NIC queues moves a segment by a few places; eight
/// covers that and, at about 1.5 KB a segment, stays far below the bytes.
pub const HELD_SEGMENTS: usize = 8;

/// Most captured payload bytes held per direction: one TCP window without
/// window scaling, or a single reordered LSO/GRO super-frame of 64 KB.
pub const HELD_BYTES: usize = 64 * 1024;

/// What to do with one TCP segment's payload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Accept<'a> {
    /// Nothing new (no payload, a control segment, a pure retransmission).
    Nothing,
    /// New in-order bytes; `segment_start` when they begin the segment.
    Bytes {
        /// The bytes.
        data: &'a [u8],
        /// They start a segment (not the tail of an overlapping one).
        segment_start: bool,
        /// Bytes of the segment that follow `data` on the wire but were
        /// not captured (the snaplen cut the segment short).
        missing: u32,
    },
    /// The segment starts beyond a hole: held (copied) until the hole
    /// fills; nothing to hand on yet.
    Held,
    /// A hole in the stream the buffer cannot bridge: bytes went missing,
    /// or came too far out of order.
    Gap,
}

/// A segment held beyond a hole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Its first sequence number.
    pub seq: u32,
    /// Its payload as captured.
    pub data: Box<[u8]>,
    /// Its payload length on the wire (longer than `data` when the
    /// snaplen cut it).
    pub wire_len: u32,
}

/// The segments one direction holds, in sequence order, and their bytes.
#[derive(Clone, Debug, Default)]
struct Held {
    segments: Vec<Segment>,
    bytes: usize,
}

/// The next expected sequence number of each direction, and the segments
/// held beyond a hole.
#[derive(Clone, Debug, Default)]
pub struct TcpStream {
    next: [Option<u32>; 2],
    syn: [bool; 2],
    /// Allocated at the first held segment, freed when no hole is open.
    held: Option<Box<[Held; 2]>>,
}

/// The sequence numbers of the SYNs a flow's directions sent before its
/// first payload, by [`Dir`]: a direction whose SYN was seen starts its
/// stream at the byte after it, so a segment captured before that
/// direction's first one is held, not taken for a retransmission. Kept in
/// the flow's evidence stage until its first payload (the flow table keeps
/// only the initiator's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Syns {
    seq: [u32; 2],
    seen: [bool; 2],
}

impl Syns {
    /// `dir` sent a SYN with sequence number `seq` (a later one wins, as a
    /// retried SYN's does).
    pub fn note(&mut self, dir: Dir, seq: u32) {
        self.seq[dir.index()] = seq;
        self.seen[dir.index()] = true;
    }

    /// The first byte of `dir`'s stream, if its SYN was seen.
    fn first_byte(&self, dir: usize) -> Option<u32> {
        self.seen[dir].then(|| self.seq[dir].wrapping_add(1))
    }
}

/// `a < b` in sequence space.
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl TcpStream {
    /// A stream tracker created at a flow's first payload: when the flow's
    /// handshake was seen, both directions start at their first byte; a
    /// direction whose SYN is in `syns` expects the byte after it, any
    /// other its first payload.
    pub fn new(handshake_seen: bool, syns: Syns) -> Self {
        TcpStream {
            next: [syns.first_byte(0), syns.first_byte(1)],
            syn: [handshake_seen; 2],
            held: None,
        }
    }

    /// Where `dir`'s stream starts for a dissector created now.
    pub fn start(&self, dir: Dir) -> Start {
        if self.syn[dir.index()] {
            Start::Beginning
        } else {
            Start::Midway
        }
    }

    /// Takes one segment from `dir`: `payload` as captured, `wire_len` its
    /// length on the wire (longer when the snaplen cut it).
    #[inline]
    pub fn accept<'a>(
        &mut self,
        dir: Dir,
        seq: u32,
        flags: u8,
        payload: &'a [u8],
        wire_len: u32,
    ) -> Accept<'a> {
        let d = dir.index();
        if flags & tcp_flags::SYN != 0 {
            self.syn[d] = true;
            self.next[d] = Some(seq.wrapping_add(1));
            return Accept::Nothing;
        }
        let len = wire_len.max(payload.len() as u32);
        if len == 0 {
            return Accept::Nothing;
        }
        // Created at the first payload: a direction whose SYN was not seen
        // (see `Syns`) starts its stream there.
        let next = *self.next[d].get_or_insert(seq);
        let overlap = next.wrapping_sub(seq);
        if seq != next && !before(seq, next) {
            return self.hold(d, seq, payload, len);
        }
        if overlap >= len {
            return Accept::Nothing;
        }
        self.next[d] = Some(seq.wrapping_add(len));
        let skip = (overlap as usize).min(payload.len());
        Accept::Bytes {
            data: &payload[skip..],
            segment_start: overlap == 0,
            missing: len - overlap - (payload.len() - skip) as u32,
        }
    }

    /// A segment beyond a hole: held in sequence order, unless it is a
    /// copy of one held already; past the bound the hole is given up and
    /// the buffer freed.
    #[cold]
    #[inline(never)]
    fn hold<'a>(&mut self, d: usize, seq: u32, payload: &[u8], wire_len: u32) -> Accept<'a> {
        let held = &mut self.held.get_or_insert_with(Box::default)[d];
        let copy =
            |s: &Segment| s.seq == seq && s.wire_len == wire_len && s.data.len() >= payload.len();
        if held.segments.iter().any(copy) {
            return Accept::Nothing;
        }
        if held.segments.len() >= HELD_SEGMENTS || held.bytes + payload.len() > HELD_BYTES {
            self.held = None;
            return Accept::Gap;
        }
        // Every held segment is less than 2^31 ahead of the next expected
        // byte, so they compare consistently with each other.
        let at = held.segments.partition_point(|s| !before(seq, s.seq));
        held.bytes += payload.len();
        held.segments.insert(
            at,
            Segment {
                seq,
                data: payload.into(),
                wire_len,
            },
        );
        Accept::Held
    }

    /// The earliest held segment of `dir` once the stream has reached it
    /// (it starts at or before the next expected byte), taken out of the
    /// buffer; the caller hands it to [`TcpStream::accept`] as if it had
    /// just been captured. The buffer is freed when the last one is taken.
    pub fn reached(&mut self, dir: Dir) -> Option<Segment> {
        let d = dir.index();
        let next = self.next[d]?;
        let held = self.held.as_mut()?;
        let first = held[d].segments.first()?;
        if first.seq != next && !before(first.seq, next) {
            return None;
        }
        let s = held[d].segments.remove(0);
        held[d].bytes -= s.data.len();
        if held.iter().all(|h| h.segments.is_empty()) {
            self.held = None;
        }
        Some(s)
    }

    /// A hole is open in either direction: segments are held beyond it.
    pub fn holding(&self) -> bool {
        self.held.is_some()
    }

    /// Forgets the held segments (the flow ended, or its dissector stopped).
    pub fn release(&mut self) {
        self.held = None;
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    const D: Dir = Dir::ToServer;

    fn b(data: &[u8], segment_start: bool, missing: u32) -> Accept<'_> {
        Accept::Bytes {
            data,
            segment_start,
            missing,
        }
    }

    /// A stream whose handshake was seen: its first byte is `first`.
    fn opened(first: u32) -> TcpStream {
        let mut s = TcpStream::default();
        let syn = first.wrapping_sub(1);
        assert_eq!(s.accept(D, syn, tcp_flags::SYN, b"", 0), Accept::Nothing);
        s
    }

    /// Takes the next held segment the stream reached through `accept`,
    /// as the dissectors' caller does; `None` when none is reached.
    fn next_held(s: &mut TcpStream) -> Option<(Vec<u8>, bool, u32)> {
        let seg = s.reached(D)?;
        match s.accept(D, seg.seq, 0, &seg.data, seg.wire_len) {
            Accept::Bytes {
                data,
                segment_start,
                missing,
            } => Some((data.to_vec(), segment_start, missing)),
            other => panic!("a reached segment gave {other:?}"),
        }
    }

    #[test]
    fn in_order_overlap_retransmission_and_hole() {
        let mut s = TcpStream::default();
        assert_eq!(
            s.accept(D, u32::MAX, tcp_flags::SYN, b"", 0),
            Accept::Nothing
        );
        assert_eq!(s.start(D), Start::Beginning);
        assert_eq!(s.start(Dir::ToClient), Start::Midway);
        // The stream starts at 0 (ISN + 1 wrapped).
        assert_eq!(s.accept(D, 0, 0, b"abcd", 4), b(b"abcd", true, 0));
        assert_eq!(s.accept(D, 0, 0, b"abcd", 4), Accept::Nothing);
        assert_eq!(s.accept(D, 2, 0, b"cdef", 4), b(b"ef", false, 0));
        assert_eq!(s.accept(D, 6, 0, b"", 0), Accept::Nothing);
        // Beyond a hole (bytes 6..9): held, nothing handed on yet.
        assert_eq!(s.accept(D, 9, 0, b"xyz", 3), Accept::Held);
        assert!(s.holding());
        assert_eq!(s.reached(D), None);
        // Cut by the snaplen: 2 of 10 bytes captured; it covers the held
        // segment, whose bytes are then old.
        assert_eq!(s.accept(D, 6, 0, b"gh", 10), b(b"gh", true, 8));
        let held = s.reached(D).unwrap();
        assert_eq!(held.seq, 9);
        assert_eq!(
            s.accept(D, held.seq, 0, &held.data, held.wire_len),
            Accept::Nothing
        );
        assert!(!s.holding());
        assert_eq!(s.accept(D, 16, 0, b"q", 1), b(b"q", true, 0));
        // A retransmission overlapping a cut segment: its captured part
        // ends inside the overlap, so only missing bytes are new.
        assert_eq!(s.accept(D, 15, 0, b"p", 4), b(b"", false, 2));
    }

    #[test]
    fn two_swapped_segments_are_handed_on_in_order() {
        let mut s = opened(100);
        assert_eq!(s.accept(D, 104, 0, b"efgh", 4), Accept::Held);
        assert_eq!(s.accept(D, 100, 0, b"abcd", 4), b(b"abcd", true, 0));
        assert_eq!(next_held(&mut s), Some((b"efgh".to_vec(), true, 0)));
        assert_eq!(next_held(&mut s), None);
        assert!(!s.holding());
        assert_eq!(s.accept(D, 108, 0, b"ij", 2), b(b"ij", true, 0));
    }

    #[test]
    fn three_segments_in_reverse_order() {
        let mut s = opened(0);
        assert_eq!(s.accept(D, 6, 0, b"gh", 2), Accept::Held);
        assert_eq!(s.accept(D, 3, 0, b"def", 3), Accept::Held);
        // The other direction is not held up by this one's hole.
        assert_eq!(s.accept(Dir::ToClient, 50, 0, b"r", 1), b(b"r", true, 0));
        assert_eq!(s.reached(D), None);
        assert_eq!(s.accept(D, 0, 0, b"abc", 3), b(b"abc", true, 0));
        assert_eq!(next_held(&mut s), Some((b"def".to_vec(), true, 0)));
        assert_eq!(next_held(&mut s), Some((b"gh".to_vec(), true, 0)));
        assert_eq!(next_held(&mut s), None);
        assert!(!s.holding());
    }

    #[test]
    fn held_segments_that_overlap_give_only_their_new_bytes() {
        let mut s = opened(0);
        // Two held segments overlapping each other, then one filling the
        // hole and overlapping the first of them.
        assert_eq!(s.accept(D, 6, 0, b"ghijkl", 6), Accept::Held);
        assert_eq!(s.accept(D, 10, 0, b"klmn", 4), Accept::Held);
        // A copy of a held segment is nothing new.
        assert_eq!(s.accept(D, 6, 0, b"ghijkl", 6), Accept::Nothing);
        assert_eq!(s.accept(D, 0, 0, b"abcdefgh", 8), b(b"abcdefgh", true, 0));
        assert_eq!(next_held(&mut s), Some((b"ijkl".to_vec(), false, 0)));
        assert_eq!(next_held(&mut s), Some((b"mn".to_vec(), false, 0)));
        assert!(!s.holding());
        // A held segment the snaplen cut: its missing bytes as in order.
        assert_eq!(s.accept(D, 16, 0, b"qr", 10), Accept::Held);
        assert_eq!(s.accept(D, 14, 0, b"op", 2), b(b"op", true, 0));
        assert_eq!(next_held(&mut s), Some((b"qr".to_vec(), true, 8)));
        assert_eq!(s.accept(D, 26, 0, b"z", 1), b(b"z", true, 0));
    }

    #[test]
    fn a_stream_after_a_syn_holds_a_segment_before_its_first_payload() {
        let mut syns = Syns::default();
        syns.note(D, 99);
        let mut s = TcpStream::new(true, syns);
        // The second segment is the first captured: held, not a start.
        assert_eq!(s.accept(D, 104, 0, b"efgh", 4), Accept::Held);
        assert_eq!(s.accept(D, 100, 0, b"abcd", 4), b(b"abcd", true, 0));
        assert_eq!(next_held(&mut s), Some((b"efgh".to_vec(), true, 0)));
        // The other direction's SYN was not seen: its first payload starts it.
        let to_client = Dir::ToClient;
        assert_eq!(s.accept(to_client, 7, 0, b"r", 1), b(b"r", true, 0));
    }

    #[test]
    fn past_the_bound_the_hole_is_a_gap() {
        // Segments: the ninth held one passes the bound.
        let mut s = opened(0);
        for i in 0..HELD_SEGMENTS as u32 {
            assert_eq!(s.accept(D, 10 + 2 * i, 0, b"xy", 2), Accept::Held);
        }
        assert_eq!(s.accept(D, 100, 0, b"z", 1), Accept::Gap);
        assert!(!s.holding(), "the buffer is freed");
        // Bytes: HELD_BYTES in all fit; one more does not.
        let big = vec![7u8; HELD_BYTES - 1];
        let mut s = opened(0);
        assert_eq!(s.accept(D, 10, 0, &big, big.len() as u32), Accept::Held);
        assert_eq!(s.accept(D, 70_000, 0, b"a", 1), Accept::Held);
        assert_eq!(s.accept(D, 70_001, 0, b"b", 1), Accept::Gap);
        // A snaplen-cut segment costs its captured bytes only.
        let mut s = opened(0);
        assert_eq!(s.accept(D, 10, 0, b"ab", 1_000_000), Accept::Held);
        let over = vec![7u8; HELD_BYTES + 1];
        assert_eq!(s.accept(D, 10, 0, &over, over.len() as u32), Accept::Gap);
    }

    #[test]
    fn holes_across_the_wrap_of_sequence_space() {
        let m = u32::MAX;
        let mut s = opened(m - 2);
        // Bytes m-2..=m, then 0..=1 (after the wrap), then 2..=4.
        assert_eq!(s.accept(D, 2, 0, b"fgh", 3), Accept::Held);
        assert_eq!(s.accept(D, m, 0, b"cde", 3), Accept::Held);
        assert_eq!(s.accept(D, m - 2, 0, b"ab", 2), b(b"ab", true, 0));
        assert_eq!(next_held(&mut s), Some((b"cde".to_vec(), true, 0)));
        assert_eq!(next_held(&mut s), Some((b"fgh".to_vec(), true, 0)));
        assert_eq!(next_held(&mut s), None);
        // An old segment from before the wrap is a retransmission.
        assert_eq!(s.accept(D, m - 2, 0, b"ab", 2), Accept::Nothing);
        assert_eq!(s.accept(D, 5, 0, b"i", 1), b(b"i", true, 0));
    }
}
