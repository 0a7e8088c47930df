//! Framed read-ahead: a thread reads the file into 1 MiB blocks *and*
//! frames its records, sending each block with the list of its frames
//! (where each lies, its time, interface, lengths and link type) once it
//! has moved to the next; the caller only walks the list. Reading and
//! framing thus run apart from decoding and analysis, and nothing crosses
//! threads per packet: a block and its list travel together through a
//! bounded channel, and both come back for reuse.
//!
//! The caller sees what a direct read would show at each frame: the
//! interfaces and what the file says of its writer change with the frame
//! after which a direct read would have changed them (a list of changes
//! travels with each block), and errors, truncation and counters are the
//! direct read's (`capture/tests/ahead.rs`).

use std::io::Read;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::file::{FileFormat, FileSource, Record};
use crate::pool::Buf;
use crate::producer::Producer;
use crate::{
    CaptureFile, Error, Frame, FrameSource, IfaceId, Interface, LinkType, SourceStats, Timestamp,
};

/// Blocks that may wait for the caller.
const DEPTH: usize = 4;

/// Where one frame lies in its block, and what the caller needs of it.
#[derive(Clone, Copy, Debug)]
struct Rec {
    start: u32,
    len: u32,
    wire_len: u32,
    iface: u32,
    ts: Timestamp,
    link: LinkType,
}

/// What the file had said of itself after some frame.
#[derive(Clone, Debug)]
struct Said {
    interfaces: Vec<Interface>,
    producer: Producer,
    application: Option<String>,
}

impl Said {
    fn of<R: Read>(src: &FileSource<R>) -> Self {
        Said {
            interfaces: src.interfaces().to_vec(),
            producer: src.producer(),
            application: src.application().map(str::to_string),
        }
    }
}

/// A block and its frames; `said[i] = (k, s)`: from frame `k` on, `s`.
struct Batch {
    buf: Buf,
    recs: Vec<Rec>,
    said: Vec<(usize, Said)>,
    /// Where in the file its last frame ends.
    end: u64,
}

impl Batch {
    /// No frames, ending at `end`.
    fn empty(end: u64) -> Self {
        Batch {
            buf: Buf::default(),
            recs: Vec::new(),
            said: Vec::new(),
            end,
        }
    }
}

enum Msg {
    /// The header was read (the first message), or could not be.
    Opened(Result<Opened, Error>),
    Batch(Batch),
    /// The end, or a read error, with the counters and the last word.
    End {
        error: Option<Error>,
        stats: SourceStats,
        said: Said,
    },
}

/// What the header said.
struct Opened {
    said: Said,
    format: FileFormat,
    /// Where the first record starts.
    start: u64,
}

/// A capture being opened on its framing thread ([`FramedSource::spawn`]).
pub struct Opening {
    name: String,
    rx: Receiver<Msg>,
    back: SyncSender<Vec<Rec>>,
    /// The thread could not be started.
    failed: Option<std::io::Error>,
}

impl Opening {
    /// Waits for the header: the source, or why the file is no capture.
    pub fn wait(self) -> Result<FramedSource, Error> {
        let gone = |e: std::io::Error| Error::Read {
            source_name: self.name.clone(),
            offset: 0,
            source: e,
        };
        if let Some(e) = self.failed {
            return Err(gone(e));
        }
        let opened = match self.rx.recv() {
            Ok(Msg::Opened(o)) => o?,
            _ => return Err(gone(std::io::Error::other("the framing thread ended"))),
        };
        Ok(FramedSource {
            name: self.name,
            rx: self.rx,
            back: self.back,
            batch: Batch::empty(opened.start),
            at: 0,
            next_said: 0,
            said: opened.said,
            format: opened.format,
            stats: SourceStats::default(),
            error: None,
            done: false,
        })
    }
}

/// A capture file framed on a thread of its own.
pub struct FramedSource {
    name: String,
    rx: Receiver<Msg>,
    back: SyncSender<Vec<Rec>>,
    batch: Batch,
    at: usize,
    /// Index in `batch.said` of the next change.
    next_said: usize,
    said: Said,
    format: FileFormat,
    stats: SourceStats,
    error: Option<Error>,
    done: bool,
}

impl FramedSource {
    /// Opens `rd` and starts the thread that reads and frames it: the
    /// header is read first, so a file that is no capture fails here.
    pub fn start<R: Read + Send + 'static>(
        name: &str,
        rd: R,
        default_iface: Option<String>,
    ) -> Result<Self, Error> {
        Self::spawn(name, rd, default_iface).wait()
    }

    /// Starts the thread that opens `rd` (its header too) and frames it,
    /// without waiting: a caller opens the next capture while it analyses
    /// this one, so no capture starts with its first block still unread.
    pub fn spawn<R: Read + Send + 'static>(
        name: &str,
        rd: R,
        default_iface: Option<String>,
    ) -> Opening {
        let (back, pool) = sync_channel::<Vec<Rec>>(DEPTH + 2);
        let (tx, rx) = sync_channel(DEPTH);
        let owned = name.to_string();
        let spawned = std::thread::Builder::new()
            .name("capture-frame".into())
            .spawn(move || open_and_frame(&owned, rd, default_iface, &tx, &pool));
        Opening {
            name: name.to_string(),
            rx,
            back,
            failed: spawned.err(),
        }
    }

    /// The container format.
    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// Waits for the next block; false at the end (or an error, kept for
    /// the caller).
    fn refill(&mut self) -> bool {
        match self.rx.recv() {
            Ok(Msg::Batch(b)) => {
                // The walked block becomes a spare one; its list goes back.
                let old = std::mem::replace(&mut self.batch, b);
                let _ = self.back.try_send(old.recs);
                self.at = 0;
                self.next_said = 0;
                true
            }
            Ok(Msg::End { error, stats, said }) => {
                self.error = error;
                self.stats = stats;
                self.said = said;
                self.done = true;
                false
            }
            Ok(Msg::Opened(_)) | Err(_) => {
                // Every frame before the last block's end was handed on.
                self.error = Some(Error::Read {
                    source_name: self.name.clone(),
                    offset: self.batch.end,
                    source: std::io::Error::other("the framing thread ended"),
                });
                self.done = true;
                false
            }
        }
    }
}

impl CaptureFile for FramedSource {
    fn producer(&self) -> Producer {
        self.said.producer
    }

    fn application(&self) -> Option<&str> {
        self.said.application.as_deref()
    }
}

impl FrameSource for FramedSource {
    #[inline]
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error> {
        while self.at == self.batch.recs.len() {
            if self.done || !self.refill() {
                return match self.error.take() {
                    Some(e) => Err(e),
                    None => Ok(None),
                };
            }
        }
        let i = self.at;
        self.at += 1;
        if let Some((k, said)) = self.batch.said.get(self.next_said) {
            if *k == i {
                self.said = said.clone();
                self.next_said += 1;
            }
        }
        let r = self.batch.recs[i];
        self.stats.frames += 1;
        self.stats.wire_bytes += u64::from(r.wire_len);
        let data = &self.batch.buf[r.start as usize..(r.start + r.len) as usize];
        Ok(Some(Frame {
            ts: r.ts,
            iface: IfaceId(r.iface),
            link: r.link,
            wire_len: r.wire_len,
            data,
        }))
    }

    fn interfaces(&self) -> &[Interface] {
        &self.said.interfaces
    }

    fn stats(&self) -> SourceStats {
        self.stats.clone()
    }
}

/// The thread: opens the capture (its header), says so, and frames it.
fn open_and_frame<R: Read>(
    name: &str,
    rd: R,
    default_iface: Option<String>,
    tx: &SyncSender<Msg>,
    pool: &Receiver<Vec<Rec>>,
) {
    let src = match FileSource::in_blocks(name, rd, default_iface) {
        Ok(src) => src,
        Err(e) => {
            let _ = tx.send(Msg::Opened(Err(e)));
            return;
        }
    };
    let opened = Opened {
        said: Said::of(&src),
        format: src.format(),
        start: src.offset(),
    };
    if tx.send(Msg::Opened(Ok(opened))).is_ok() {
        frame_blocks(src, tx, pool);
    }
}

/// Frames `src` to its end, sending each block with its frames as the
/// source leaves it; stops when the caller hangs up.
fn frame_blocks<R: Read>(src: FileSource<R>, tx: &SyncSender<Msg>, pool: &Receiver<Vec<Rec>>) {
    let mut f = Framer {
        changes: src.changes(),
        end: src.offset(),
        src,
        recs: Vec::new(),
        said: Vec::new(),
    };
    loop {
        let next = f.src.next_record();
        if let Some(buf) = f.src.take_retired() {
            if !f.hand_on(buf, tx) {
                return;
            }
            // Used lists come back (blocks go back to the spare ones).
            if let Ok(mut r) = pool.try_recv() {
                r.clear();
                f.recs = r;
            }
        }
        match next {
            Ok(Some((r, link))) => f.push(r, link),
            Ok(None) => return f.finish(None, tx),
            Err(e) => return f.finish(Some(e), tx),
        }
    }
}

/// The framing thread's state: the source and the current block's frames.
struct Framer<R> {
    src: FileSource<R>,
    recs: Vec<Rec>,
    said: Vec<(usize, Said)>,
    /// The source's change count when `said` was last brought up to date.
    changes: u32,
    /// Where in the file the last frame pushed ends.
    end: u64,
}

impl<R: Read> Framer<R> {
    /// Adds a frame, after what the file said since the last one.
    fn push(&mut self, r: Record, link: LinkType) {
        if self.src.changes() != self.changes {
            self.changes = self.src.changes();
            self.said.push((self.recs.len(), Said::of(&self.src)));
        }
        self.recs.push(Rec {
            start: r.start as u32,
            len: r.caplen as u32,
            wire_len: r.wire_len,
            iface: r.iface,
            ts: r.ts,
            link,
        });
        self.end = self.src.offset();
    }

    /// Sends `buf` with the frames so far; false if the caller hung up.
    fn hand_on(&mut self, buf: Buf, tx: &SyncSender<Msg>) -> bool {
        let batch = Batch {
            buf,
            recs: std::mem::take(&mut self.recs),
            said: std::mem::take(&mut self.said),
            end: self.end,
        };
        tx.send(Msg::Batch(batch)).is_ok()
    }

    /// Sends the last block and how the input ended.
    fn finish(mut self, error: Option<Error>, tx: &SyncSender<Msg>) {
        let buf = self.src.take_buffer();
        if self.hand_on(buf, tx) {
            let _ = tx.send(Msg::End {
                error,
                stats: self.src.stats(),
                said: Said::of(&self.src),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_framing_thread_gone_before_the_header_is_an_error_at_byte_0() {
        // Gone without a word (a bug), or never started (no thread left):
        // an error naming the capture, at its first byte.
        let (tx, rx) = sync_channel::<Msg>(DEPTH);
        let (back, _pool) = sync_channel(DEPTH + 2);
        drop(tx);
        let gone = Opening {
            name: "gone".into(),
            rx,
            back: back.clone(),
            failed: None,
        };
        let (_tx, rx) = sync_channel::<Msg>(DEPTH);
        let unborn = Opening {
            name: "unborn".into(),
            rx,
            back,
            failed: Some(std::io::Error::other("no threads")),
        };
        for (o, name, why) in [
            (gone, "gone", "the framing thread ended"),
            (unborn, "unborn", "no threads"),
        ] {
            match o.wait() {
                Err(Error::Read {
                    source_name,
                    offset,
                    source,
                }) => assert_eq!(
                    (source_name.as_str(), offset, source.to_string().as_str()),
                    (name, 0, why)
                ),
                Err(e) => panic!("{e}"),
                Ok(_) => panic!("a source without a header"),
            }
        }
    }

    #[test]
    fn a_framing_thread_that_ends_unannounced_is_an_error_after_its_last_frame() {
        // A block of two frames, ending at byte 1,234, then the thread is
        // gone (a bug: it panicked): both frames are read, then an error at
        // the byte after them, not at the start of the file.
        let (tx, rx) = sync_channel(DEPTH);
        let (back, _pool) = sync_channel(DEPTH + 2);
        let said = Said {
            interfaces: Vec::new(),
            producer: Producer::Unknown,
            application: None,
        };
        let rec = |start| Rec {
            start,
            len: 4,
            wire_len: 4,
            iface: 0,
            ts: Timestamp(0),
            link: LinkType::ETHERNET,
        };
        let batch = Batch {
            buf: Buf::from(vec![7; 8]),
            recs: vec![rec(0), rec(4)],
            said: Vec::new(),
            end: 1_234,
        };
        tx.send(Msg::Batch(batch)).unwrap();
        drop(tx);
        let mut src = FramedSource {
            name: "cut".into(),
            rx,
            back,
            batch: Batch::empty(24),
            at: 0,
            next_said: 0,
            said,
            format: FileFormat::Pcap,
            stats: SourceStats::default(),
            error: None,
            done: false,
        };
        for _ in 0..2 {
            assert_eq!(src.next_frame().unwrap().unwrap().data, &[7; 4]);
        }
        match src.next_frame() {
            Err(Error::Read { offset, .. }) => assert_eq!(offset, 1_234),
            other => panic!("{other:?}"),
        }
        assert_eq!(src.stats.frames, 2);
    }
}
