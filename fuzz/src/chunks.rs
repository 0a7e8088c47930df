//! The dissector targets' input: one TCP connection's payload as the
//! evidence stage hands it to a dissector, in a small binary scheme.
//!
//! ```text
//! byte 0        bit 0: the to-server stream joined mid-way (`Start::Midway`)
//!               bit 1: the to-client stream joined mid-way
//! then chunks:  control byte   bit 0: direction (0 to server, 1 to client)
//!                              bit 1: not a segment start (the new tail of
//!                                     an overlapping retransmission)
//!                              bit 2: a u32 LE `missing` follows (bytes the
//!                                     snaplen cut after the data: a gap)
//!               [missing: u32 LE]
//!               length: u16 LE, then that many data bytes (fewer at the end)
//! ```
//!
//! Each chunk is `feed(dir, data, segment_start)` then `gap(dir, missing)`,
//! as `FlowEvidence::tcp_packet` calls them; the first `Err` ends the flow.
//! `seedgen` writes real connections in this scheme (it includes this file).

use analyzer::evidence::{Dir, Start};

/// One call pair for a dissector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// Which way the bytes went.
    pub dir: Dir,
    /// The bytes.
    pub data: &'a [u8],
    /// They begin a TCP segment.
    pub segment_start: bool,
    /// Bytes of the segment that were not captured after `data`.
    pub missing: u32,
}

const TO_CLIENT: u8 = 1;
const CONTINUES: u8 = 2;
const MISSING: u8 = 4;

/// Splits an input into the two directions' starts and its chunks.
pub fn parse(input: &[u8]) -> ([Start; 2], Chunks<'_>) {
    let (flags, rest) = input.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    let start = |bit: u8| {
        if flags & bit != 0 {
            Start::Midway
        } else {
            Start::Beginning
        }
    };
    ([start(1), start(2)], Chunks { rest })
}

/// The chunks of an input, in order.
pub struct Chunks<'a> {
    rest: &'a [u8],
}

impl<'a> Chunks<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = Chunk<'a>;

    fn next(&mut self) -> Option<Chunk<'a>> {
        let control = self.take(1)?[0];
        let missing = if control & MISSING != 0 {
            let b = self.take(4)?;
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        } else {
            0
        };
        let len = self.take(2)?;
        let len = usize::from(u16::from_le_bytes([len[0], len[1]])).min(self.rest.len());
        let data = self.take(len)?;
        Some(Chunk {
            dir: if control & TO_CLIENT != 0 {
                Dir::ToClient
            } else {
                Dir::ToServer
            },
            data,
            segment_start: control & CONTINUES == 0,
            missing,
        })
    }
}

/// Writes `starts` and `chunks` in the scheme [`parse`] reads. Data longer
/// than 65,535 bytes is split into chunks that continue the segment.
pub fn encode(starts: [Start; 2], chunks: &[Chunk<'_>]) -> Vec<u8> {
    let bit = |s: Start, b: u8| if s == Start::Midway { b } else { 0 };
    let mut out = vec![bit(starts[0], 1) | bit(starts[1], 2)];
    for c in chunks {
        let pieces: Vec<&[u8]> = if c.data.is_empty() {
            vec![&[]]
        } else {
            c.data.chunks(usize::from(u16::MAX)).collect()
        };
        let last = pieces.len() - 1;
        for (i, piece) in pieces.into_iter().enumerate() {
            let mut control = if c.dir == Dir::ToClient { TO_CLIENT } else { 0 };
            if i > 0 || !c.segment_start {
                control |= CONTINUES;
            }
            let missing = if i == last { c.missing } else { 0 };
            if missing != 0 {
                control |= MISSING;
            }
            out.push(control);
            if missing != 0 {
                out.extend(missing.to_le_bytes());
            }
            out.extend((piece.len() as u16).to_le_bytes());
            out.extend(piece);
        }
    }
    out
}
