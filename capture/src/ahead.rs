//! Read-ahead: a thread that reads a capture's bytes into large blocks
//! while the caller frames and analyses the block before, so the kernel's
//! copy out of the page cache (half of a bare read loop's time) runs on the
//! other core.
//!
//! Blocks are plain `Vec<u8>`s passed through two bounded channels (full
//! ones to the reader of frames, empty ones back), so nothing is allocated
//! per block once the pipeline runs, and nothing is locked per packet.
//! Each block keeps [`HEADROOM`] free bytes before its data: the unread
//! tail of the previous block (a record cut by the block boundary) is
//! copied there, so a record is always contiguous without copying the
//! block itself.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Bytes read per block.
pub(crate) const BLOCK: usize = 1 << 20;
/// Free bytes before a block's data, for the previous block's tail.
pub(crate) const HEADROOM: usize = 64 << 10;
/// Full blocks that may wait for the caller (memory: this many blocks).
const DEPTH: usize = 4;

/// What the read-ahead thread sends.
pub(crate) enum Chunk {
    /// A block whose data is `buf[HEADROOM..HEADROOM + len]`.
    Data { buf: Vec<u8>, len: usize },
    /// End of input.
    End,
    /// A read failed after `at` bytes had been read.
    Failed { error: io::Error, at: u64 },
}

/// The caller's end of a read-ahead thread.
pub(crate) struct ReadAhead {
    full: Receiver<Chunk>,
    empty: SyncSender<Vec<u8>>,
    /// Bytes received so far (where a vanished thread left off).
    received: u64,
}

impl ReadAhead {
    /// Starts a thread reading `rd` to its end (or until this is dropped).
    pub(crate) fn start<R: Read + Send + 'static>(rd: R) -> io::Result<Self> {
        let (full_tx, full) = sync_channel(DEPTH);
        let (empty, empty_rx) = sync_channel(DEPTH + 2);
        std::thread::Builder::new()
            .name("capture-read".into())
            .spawn(move || read_blocks(rd, &full_tx, &empty_rx))?;
        Ok(ReadAhead {
            full,
            empty,
            received: 0,
        })
    }

    /// The next chunk (waits for it). A vanished thread reads as an error
    /// where its last block ended.
    pub(crate) fn next(&mut self) -> Chunk {
        let chunk = self.full.recv().unwrap_or_else(|_| Chunk::Failed {
            error: io::Error::other("the read-ahead thread ended"),
            at: self.received,
        });
        if let Chunk::Data { len, .. } = &chunk {
            self.received += *len as u64;
        }
        chunk
    }

    /// Gives a block's buffer back for reuse (dropped if the thread is gone
    /// or has enough).
    pub(crate) fn recycle(&self, buf: Vec<u8>) {
        if buf.len() == HEADROOM + BLOCK {
            let _ = self.empty.try_send(buf);
        }
    }
}

/// The thread: fills blocks until the input ends, fails, or the caller
/// hangs up (a send fails). Bytes read before a failure are sent first, so
/// the caller frames everything a direct read would have given it.
fn read_blocks<R: Read>(mut rd: R, full: &SyncSender<Chunk>, empty: &Receiver<Vec<u8>>) {
    let mut at = 0u64;
    loop {
        let mut buf = empty
            .try_recv()
            .unwrap_or_else(|_| vec![0; HEADROOM + BLOCK]);
        let (len, failed) = fill_block(&mut rd, &mut buf[HEADROOM..]);
        at += len as u64;
        if len > 0 && full.send(Chunk::Data { buf, len }).is_err() {
            return;
        }
        let last = match failed {
            Some(error) => Chunk::Failed { error, at },
            None if len == 0 => Chunk::End,
            None => continue,
        };
        let _ = full.send(last);
        return;
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
