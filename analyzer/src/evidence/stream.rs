//! In-order delivery of one TCP connection's payload, per direction.
//!
//! No reassembly buffer: a segment that continues the stream is handed on
//! as it is, a retransmission that overlaps it hands on only its new tail,
//! and a segment that leaves a hole (lost, reordered, or cut by the
//! snaplen) ends the stream for the dissectors. Sequence numbers compare
//! modulo 2^32 (RFC 793 §3.3).

use super::{Dir, Start};
use crate::decode::tcp_flags;

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
    /// A hole in the stream: bytes went missing.
    Gap,
}

/// The next expected sequence number of each direction.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpStream {
    next: [Option<u32>; 2],
    syn: [bool; 2],
}

/// `a < b` in sequence space.
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl TcpStream {
    /// A stream tracker created at a flow's first payload: when the flow's
    /// handshake was seen, both directions start at their first byte.
    pub fn new(handshake_seen: bool) -> Self {
        TcpStream {
            next: [None; 2],
            syn: [handshake_seen; 2],
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
        // Created at the first payload, after the handshake: a direction's
        // first payload starts its stream (`next` unset) either way.
        let next = *self.next[d].get_or_insert(seq);
        let overlap = next.wrapping_sub(seq);
        if seq != next && !before(seq, next) {
            return Accept::Gap;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_overlap_retransmission_and_gap() {
        let mut s = TcpStream::default();
        let d = Dir::ToServer;
        assert_eq!(
            s.accept(d, u32::MAX, tcp_flags::SYN, b"", 0),
            Accept::Nothing
        );
        assert_eq!(s.start(d), Start::Beginning);
        assert_eq!(s.start(Dir::ToClient), Start::Midway);
        // The stream starts at 0 (ISN + 1 wrapped).
        let b = |data, segment_start, missing| Accept::Bytes {
            data,
            segment_start,
            missing,
        };
        assert_eq!(s.accept(d, 0, 0, b"abcd", 4), b(&b"abcd"[..], true, 0));
        assert_eq!(s.accept(d, 0, 0, b"abcd", 4), Accept::Nothing);
        assert_eq!(s.accept(d, 2, 0, b"cdef", 4), b(&b"ef"[..], false, 0));
        assert_eq!(s.accept(d, 6, 0, b"", 0), Accept::Nothing);
        assert_eq!(s.accept(d, 9, 0, b"xyz", 3), Accept::Gap);
        // Cut by the snaplen: 2 of 10 bytes captured.
        assert_eq!(s.accept(d, 6, 0, b"gh", 10), b(&b"gh"[..], true, 8));
        assert_eq!(s.accept(d, 16, 0, b"q", 1), b(&b"q"[..], true, 0));
        // A retransmission overlapping a cut segment: its captured part
        // ends inside the overlap, so only missing bytes are new.
        assert_eq!(s.accept(d, 15, 0, b"p", 4), b(&b""[..], false, 2));
    }
}
