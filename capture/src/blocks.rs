//! Blocks for framed read-ahead (`framed.rs`): the framing thread reads a
//! capture's bytes into large blocks, and each block leaves with its frames
//! once the source has moved to the next.
//!
//! Blocks are pooled buffers ([`Buf`]): a block dropped anywhere (by the
//! caller once it has walked its frames, or at a capture's end) becomes a
//! spare one, so nothing is allocated per block once the pipeline runs,
//! nor per capture when captures are read one after another. Each block keeps
//! [`HEADROOM`] free bytes before its data: the unread tail of the previous
//! block (a record cut by the block boundary) is copied there, so a record
//! is always contiguous without copying the block itself.

use std::io::{self, Read};

use crate::pool::Buf;

/// Bytes read per block.
pub(crate) const BLOCK: usize = 1 << 20;
/// Free bytes before a block's data, for the previous block's tail.
pub(crate) const HEADROOM: usize = 64 << 10;
/// What reading the next block gave.
pub(crate) enum Chunk {
    /// A block whose data is `buf[HEADROOM..HEADROOM + len]`.
    Data { buf: Buf, len: usize },
    /// End of input.
    End,
    /// A read failed after `at` bytes had been read.
    Failed { error: io::Error, at: u64 },
}

/// Blocks read when the source asks, for a source whose blocks leave it
/// with their frames (`FileSource::in_blocks`): bytes read before a
/// failure come first, then the failure with its offset.
pub(crate) struct BlockReader<R> {
    rd: R,
    /// The block the frames so far lie in, once the source left it.
    pub(crate) retired: Option<Buf>,
    at: u64,
    /// A failure after the block just given, told at the next call.
    failed: Option<io::Error>,
    ended: bool,
}

impl<R: Read> BlockReader<R> {
    pub(crate) fn new(rd: R) -> Self {
        BlockReader {
            rd,
            retired: None,
            at: 0,
            failed: None,
            ended: false,
        }
    }

    /// The next chunk, read now.
    pub(crate) fn next(&mut self) -> Chunk {
        if let Some(error) = self.failed.take() {
            self.ended = true;
            return Chunk::Failed { error, at: self.at };
        }
        if self.ended {
            return Chunk::End;
        }
        let mut buf = Buf::new(HEADROOM + BLOCK);
        let (len, failed) = fill_block(&mut self.rd, &mut buf[HEADROOM..]);
        self.at += len as u64;
        self.failed = failed;
        if len > 0 {
            return Chunk::Data { buf, len };
        }
        self.next_after_empty()
    }

    fn next_after_empty(&mut self) -> Chunk {
        self.ended = true;
        match self.failed.take() {
            Some(error) => Chunk::Failed { error, at: self.at },
            None => Chunk::End,
        }
    }

    /// The block the source leaves: the first since the frames were last
    /// taken holds them; a later one (its data all carried over) is
    /// dropped, a spare block again.
    pub(crate) fn retire(&mut self, buf: Buf) {
        if self.retired.is_none() {
            self.retired = Some(buf);
        }
    }
}

/// Reads until `block` is full or the input ends or fails: how many bytes
/// were read, and the failure if any.
fn fill_block<R: Read>(rd: &mut R, block: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut len = 0;
    while len < block.len() {
        match rd.read(&mut block[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (len, Some(e)),
        }
    }
    (len, None)
}
