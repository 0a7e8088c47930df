//! The first pass's journal of flow numbers, and the second pass that
//! reads it (`audit --violations-pcap`).
//!
//! Every analyzer of the first pass (the one analyzer, each capture's in
//! parallel, or each share of the flows) writes, for every frame it takes,
//! the number of the flow the frame joined (0 for none) to its journal:
//! four bytes a frame, on an unnamed temporary file of its own while it
//! reads, copied when it finishes to the end of the audit's one journal
//! store ([`Store`]): an unnamed temporary file in FILE's directory (the
//! disk the result goes to, not a RAM-backed /tmp), or the temporary
//! directory when FILE's cannot hold one. Unnamed files leave nothing on
//! disk however the audit ends (Ctrl-C included), and a thousand captures
//! read in parallel hold one open store, not a thousand journals. A share
//! writes 0 for the frames another share takes, so every journal of a set
//! of shares is indexed by the frame's place in the captures: four bytes a
//! frame for each share.
//! Numbers are each analyzer's own; [`FirstPass`] offsets each by the
//! flows numbered before it, as [`Wanted::absorb`] does the wanted ones.
//!
//! The second pass needs no analyzer: it reads the captures again with a
//! bare reader, exactly the frames the first pass read of each, beside the
//! journals, and hands each frame its number ([`replay`]). It costs a read
//! of the captures and the writing, not a second analysis, and holds no
//! flow table. A journal that could not be written or read, or a capture
//! that changed between the passes, is a warning, and the file's count
//! then differs from the report's, which [`super::mismatch`] says too.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use anyhow::{Context, Result};

use analyzer::flow::Slot;
use analyzer::state::FlowState;
use analyzer::Analyzer;
use capture::{FileSource, Frame, FrameSource};

use super::{shifted, FlowNumbers, PacketWriter, Wanted};
use crate::pipeline::{self, CaptureSpec, Tap};
use crate::progress::Progress;

/// Journal buffers: large enough that writing one costs a syscall per
/// 16,384 frames.
const BUFFER: usize = 64 << 10;

/// The journals of an audit, one after another on one unnamed temporary
/// file, each copied there when its analyzer finishes.
pub struct Store {
    dir: PathBuf,
    /// The file, and where its end is.
    file: Mutex<(File, u64)>,
}

/// Where one journal is in the store.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    start: u64,
    len: u64,
}

impl Store {
    /// The store for `--violations-pcap FILE`: in FILE's directory, else
    /// the temporary directory; an error, before anything is read, when
    /// neither can hold one.
    pub fn new(file: &Path) -> Result<Self> {
        let dir = crate::paths::scratch_dir(file)
            .context("--violations-pcap keeps a journal of flow numbers while it reads")?;
        let f = tempfile::tempfile_in(&dir).with_context(|| {
            format!(
                "cannot keep the journal of flow numbers in {}",
                dir.display()
            )
        })?;
        Ok(Store {
            dir,
            file: Mutex::new((f, 0)),
        })
    }

    /// Where the journals are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store's file and end. A writer that panicked mid-copy (a bug)
    /// left the end where it was: the journals before it are whole.
    fn locked(&self) -> std::sync::MutexGuard<'_, (File, u64)> {
        self.file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets every journal kept: an attempt (captures in parallel, or
    /// in shares) that fell back leaves nothing for the next one to copy
    /// after.
    pub fn clear(&self) {
        let mut store = self.locked();
        let (file, end) = &mut *store;
        if file.set_len(0).is_ok() {
            *end = 0;
        }
    }

    /// Copies a finished journal to the store's end.
    fn keep(&self, mut journal: File) -> Result<Segment, String> {
        let failed = |e: std::io::Error| format!("keeping the journal of flow numbers: {e}");
        journal.seek(SeekFrom::Start(0)).map_err(failed)?;
        let mut store = self.locked();
        let (file, end) = &mut *store;
        file.seek(SeekFrom::Start(*end)).map_err(failed)?;
        let len = std::io::copy(&mut journal, file).map_err(failed)?;
        let start = *end;
        *end += len;
        Ok(Segment { start, len })
    }
}

/// One journal of the store, read from its start (positioned reads: the
/// journals of a set of shares are read in step from one file).
struct At<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = usize::try_from(self.end - self.pos).unwrap_or(usize::MAX);
        let n = buf.len().min(left);
        if n == 0 {
            return Ok(0);
        }
        let got = self.file.read_at(&mut buf[..n], self.pos)?;
        self.pos += got as u64;
        Ok(got)
    }
}

/// The flow number of every frame an analyzer takes, in frame order, on a
/// temporary file: frame `i`'s number is the four bytes at `4 i`. A number
/// may be corrected after its frame ([`Journal::late`]): a later IP
/// fragment is journalled without a flow when it comes before its first
/// fragment, and gets its flow's number when the analyzer counts it there.
pub struct Journal {
    out: Option<File>,
    /// The numbers of the frames after `written`, not yet in the file.
    buf: Vec<u8>,
    /// Frames whose numbers are in the file.
    written: u64,
    /// Frames journalled so far.
    frames: u64,
    error: Option<String>,
}

impl Journal {
    /// A journal in `dir`; one that cannot be made says why when finished.
    pub fn create(dir: &Path) -> Self {
        let (out, error) = match tempfile::tempfile_in(dir) {
            Ok(f) => (Some(f), None),
            Err(e) => (
                None,
                Some(format!(
                    "cannot keep the journal of flow numbers in {}: {e}",
                    dir.display()
                )),
            ),
        };
        Journal {
            out,
            buf: Vec::with_capacity(BUFFER),
            written: 0,
            frames: 0,
            error,
        }
    }

    /// Journals one frame's flow number (0: none).
    #[inline]
    pub fn put(&mut self, n: u32) {
        self.frames += 1;
        if self.out.is_none() {
            return;
        }
        self.buf.extend_from_slice(&n.to_le_bytes());
        if self.buf.len() >= BUFFER {
            self.flush();
        }
    }

    /// Frame `index`, journalled before, is of flow `n` after all. A frame
    /// not journalled (`verify` stopped spooling) is passed over.
    pub fn late(&mut self, index: u64, n: u32) {
        let Some(out) = &self.out else { return };
        if index >= self.frames {
            return;
        }
        let bytes = n.to_le_bytes();
        match index.checked_sub(self.written) {
            // Still in the buffer: the usual case (the first fragment came
            // within microseconds).
            Some(i) => {
                let at = usize::try_from(i * 4).unwrap_or(usize::MAX);
                if let Some(b) = self.buf.get_mut(at..at + 4) {
                    b.copy_from_slice(&bytes);
                }
            }
            None => {
                if let Err(e) = out.write_all_at(&bytes, index * 4) {
                    self.failed(&e);
                }
            }
        }
    }

    /// Writes the buffered numbers to the file.
    fn flush(&mut self) {
        let Some(out) = &mut self.out else { return };
        match out.write_all(&self.buf) {
            Ok(()) => {
                self.written += (self.buf.len() / 4) as u64;
                self.buf.clear();
            }
            Err(e) => self.failed(&e),
        }
    }

    /// A write failed: the journal is given up, and says why when finished.
    fn failed(&mut self, e: &std::io::Error) {
        self.error = Some(format!("writing the journal of flow numbers: {e}"));
        self.out = None;
        self.buf = Vec::new();
    }

    /// The journal's file, every number flushed to it, or why there is
    /// none.
    fn into_file(mut self) -> Result<File, String> {
        self.flush();
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out
            .ok_or_else(|| "no journal of flow numbers".to_string())
    }

    /// The journal, to be read from its first number, or why there is
    /// none (`verify`, which reads its one journal beside its spool).
    pub(super) fn into_reader(self) -> Result<BufReader<File>, String> {
        let mut file = self.into_file()?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| format!("reading the journal of flow numbers: {e}"))?;
        Ok(BufReader::with_capacity(BUFFER, file))
    }

    /// The journal, copied into `store` (its own file closed), or why
    /// there is none.
    fn finish(self, store: &Store) -> Result<Segment, String> {
        store.keep(self.into_file()?)
    }
}

impl Tap for Journal {
    /// Frames another share took before this one: none of this one's flows.
    #[inline]
    fn at(&mut self, index: u64) {
        while self.frames < index {
            self.put(0);
        }
    }

    /// The frame's flow number; 0 for a copy met at another place (the
    /// flow's packets count each packet once, and so does the file).
    #[inline]
    fn frame(&mut self, _: u32, _: &Frame<'_>, slot: Option<&mut Slot<FlowState>>) {
        self.put(slot.filter(|s| !s.ext.copy).map_or(0, |s| s.ext.mark));
    }

    /// The frame's flow number after all (a copy keeps its 0).
    fn late(&mut self, _: u32, index: u64, slot: &mut Slot<FlowState>) {
        if !slot.ext.copy {
            Journal::late(self, index, slot.ext.mark);
        }
    }
}

/// A first-pass analyzer's tap: numbers its flows and journals the number
/// of each frame's.
pub struct Numbering<'a> {
    numbers: FlowNumbers,
    journal: Journal,
    store: &'a Store,
}

impl<'a> Numbering<'a> {
    /// Numbering, its journal kept in `store` when finished.
    pub fn new(store: &'a Store) -> Self {
        Numbering {
            numbers: FlowNumbers::default(),
            journal: Journal::create(store.dir()),
            store,
        }
    }

    /// What the analyzer `an` this numbered leaves the second pass.
    pub fn finish(self, an: &Analyzer) -> Numbered {
        Numbered {
            wanted: Wanted::from_analyzer(an),
            count: self.numbers.count(),
            journal: self.journal.finish(self.store),
        }
    }
}

impl Tap for Numbering<'_> {
    #[inline]
    fn at(&mut self, index: u64) {
        self.journal.at(index);
    }

    #[inline]
    fn frame(&mut self, source: u32, frame: &Frame<'_>, mut slot: Option<&mut Slot<FlowState>>) {
        self.numbers.frame(source, frame, slot.as_deref_mut());
        self.journal.frame(source, frame, slot);
    }

    fn late(&mut self, source: u32, index: u64, slot: &mut Slot<FlowState>) {
        self.numbers.late(source, index, slot);
        Tap::late(&mut self.journal, source, index, slot);
    }
}

/// One first-pass analyzer's violating flows, how many flows it numbered,
/// and its journal.
pub struct Numbered {
    wanted: Wanted,
    count: u32,
    journal: Result<Segment, String>,
}

/// What the first pass leaves the second: the violating flows under one
/// numbering, and the journals that number each frame.
#[derive(Default)]
pub struct FirstPass {
    pub wanted: Wanted,
    /// Flows numbered so far.
    numbered: u32,
    pub journals: Journals,
}

/// Where each frame's flow number is, capture by capture.
#[derive(Default)]
pub struct Journals(Vec<Run>);

/// Captures read by one analyzer, or by the shares of their flows, with
/// each analyzer's journal and the offset of its numbers.
struct Run {
    captures: Range<usize>,
    journals: Vec<(Result<Segment, String>, u32)>,
}

impl FirstPass {
    /// Adds the analyzers that read `captures` (one, or each share of
    /// them), their flows numbered after every flow before.
    pub fn add(&mut self, captures: Range<usize>, parts: Vec<Numbered>) {
        let mut journals = Vec::with_capacity(parts.len());
        for p in parts {
            let offset = self.numbered;
            self.wanted.absorb(p.wanted, offset);
            self.numbered = self.numbered.saturating_add(p.count);
            journals.push((p.journal, offset));
        }
        self.journals.0.push(Run { captures, journals });
    }
}

/// The journals of one run, read in step: a frame's number is the one
/// journal that has one (shares take disjoint frames).
struct Readers<'a> {
    readers: Vec<(Option<BufReader<At<'a>>>, u32)>,
    warnings: Vec<String>,
}

impl<'a> Readers<'a> {
    fn new(journals: Vec<(Result<Segment, String>, u32)>, store: &'a File) -> Self {
        let mut warnings = Vec::new();
        let readers = journals
            .into_iter()
            .map(|(journal, offset)| match journal {
                Ok(Segment { start, len }) => {
                    let at = At {
                        file: store,
                        pos: start,
                        end: start + len,
                    };
                    (Some(BufReader::with_capacity(BUFFER, at)), offset)
                }
                Err(e) => {
                    warnings.push(format!("--violations-pcap: {e}"));
                    (None, offset)
                }
            })
            .collect();
        Readers { readers, warnings }
    }

    /// The next frame's number, in the one numbering.
    #[inline]
    fn next(&mut self) -> u32 {
        let mut n = 0;
        for (slot, offset) in &mut self.readers {
            let Some(r) = slot else { continue };
            let mut b = [0u8; 4];
            match r.read_exact(&mut b) {
                Ok(()) => {
                    let v = u32::from_le_bytes(b);
                    if v != 0 && n == 0 {
                        n = shifted(v, *offset);
                    }
                }
                // A share's journal ends at the last frame it took.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => *slot = None,
                Err(e) => {
                    let w = format!("--violations-pcap: reading the journal of flow numbers: {e}");
                    self.warnings.push(w);
                    *slot = None;
                }
            }
        }
        n
    }
}

/// The second pass: reads `specs` again, of capture `i` the `read[i]`
/// frames the first pass read (none when it could not open it), and hands
/// each frame its flow's number from the `journals`. Warnings for the
/// report.
pub fn replay<W: Write>(
    specs: &[CaptureSpec],
    read: &[Option<u64>],
    (journals, store): (Journals, &Store),
    writer: &mut PacketWriter<W>,
    progress: &Progress,
) -> Vec<String> {
    let store = store.locked();
    let mut warnings = Vec::new();
    for run in journals.0 {
        let mut readers = Readers::new(run.journals, &store.0);
        for i in run.captures {
            let (Some(spec), Some(Some(frames))) = (specs.get(i), read.get(i)) else {
                continue;
            };
            let source = u32::try_from(i).unwrap_or(u32::MAX);
            let mut used = 0u64;
            let mut next = || {
                used += 1;
                readers.next()
            };
            if let Err(e) = capture(spec, source, *frames, &mut next, writer, progress) {
                warnings.push(format!("--violations-pcap: {e}"));
            }
            // A capture that changed stopped early: its numbers are passed
            // over, so the next capture's frames meet their own.
            for _ in used..*frames {
                readers.next();
            }
        }
        warnings.append(&mut readers.warnings);
    }
    warnings
}

/// The first `frames` frames of one capture, each with the number `next`
/// gives; the interfaces told as the first pass told them (when a frame
/// names one not told yet, and those declared after the last frame).
fn capture<W: Write>(
    spec: &CaptureSpec,
    source: u32,
    frames: u64,
    next: &mut impl FnMut() -> u32,
    writer: &mut PacketWriter<W>,
    progress: &Progress,
) -> Result<(), String> {
    let changed = |why: &str| format!("{} changed since it was audited: {why}", spec.path);
    let rd = pipeline::open(spec).map_err(|e| format!("{}: cannot open: {e}", spec.path))?;
    let mut src = FileSource::new(&spec.path, progress.wrap(rd), spec.iface.clone())
        .map_err(|e| changed(&e.to_string()))?;
    let mut told = 0;
    for _ in 0..frames {
        let frame = match src.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => return Err(changed("it ends before the frames audited")),
            Err(e) => return Err(changed(&e.to_string())),
        };
        let n = next();
        if (frame.iface.0 as usize) < told {
            writer.numbered(source, &frame, n);
            continue;
        }
        let owned = frame.to_owned();
        writer.interfaces(source, &spec.path, src.interfaces());
        told = src.interfaces().len();
        writer.numbered(source, &owned.as_frame(), n);
    }
    if let Ok(Some(_)) = src.next_frame() {
        return Err(changed("it holds more frames than were audited"));
    }
    if src.interfaces().len() > told {
        writer.interfaces(source, &spec.path, src.interfaces());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_move_past_the_flows_numbered_before() {
        assert_eq!(shifted(1, 0), 1);
        assert_eq!(shifted(7, 10), 17);
        assert_eq!(shifted(u32::MAX, 0), u32::MAX);
        assert_eq!(shifted(u32::MAX - 1, 1), u32::MAX, "past the range");
        assert_eq!(shifted(5, u32::MAX - 3), u32::MAX);
    }

    /// A store in the temporary directory.
    fn store() -> Store {
        Store::new(&std::env::temp_dir().join("v.pcapng")).unwrap()
    }

    /// A journal of `numbers`, finished into `store`.
    fn journal(store: &Store, numbers: &[(u64, u32)]) -> Result<Segment, String> {
        let mut j = Journal::create(store.dir());
        for (at, n) in numbers {
            j.at(*at);
            j.put(*n);
        }
        j.finish(store)
    }

    #[test]
    fn shares_journals_read_in_step_give_one_numbering() {
        // Frames 0..6: share 0 took 1 (flow 1), 4 (flow 2), 5 (flow 1);
        // share 1 (2 flows before it... numbered after share 0's 2) took
        // 0 (its flow 1), 2 (no flow), 3 (its flow 2).
        let store = store();
        let a = journal(&store, &[(1, 1), (4, 2), (5, 1)]);
        let b = journal(&store, &[(0, 1), (2, 0), (3, 2)]);
        let file = store.file.lock().unwrap();
        let mut r = Readers::new(vec![(a, 0), (b, 2)], &file.0);
        let got: Vec<u32> = (0..8).map(|_| r.next()).collect();
        assert_eq!(got, vec![3, 1, 0, 4, 2, 1, 0, 0]);
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn a_late_number_replaces_its_frames_in_the_file_or_the_buffer() {
        let store = store();
        let mut j = Journal::create(store.dir());
        // Past two writes of the buffer, and three numbers in it.
        let frames = (BUFFER / 4 * 2 + 3) as u64;
        (0..frames).for_each(|_| j.put(0));
        j.late(1, 7);
        j.late(frames - 2, 9);
        j.late(frames, 5);
        let seg = j.finish(&store).unwrap();
        assert_eq!(seg.len, frames * 4, "a frame not journalled stays out");
        let file = store.locked();
        let mut r = Readers::new(vec![(Ok(seg), 3)], &file.0);
        let got: Vec<(u64, u32)> = (0..frames)
            .map(|i| (i, r.next()))
            .filter(|(_, n)| *n != 0)
            .collect();
        assert_eq!(
            got,
            [(1, 10), (frames - 2, 12)],
            "offset by the flows before"
        );
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn a_journal_that_cannot_be_kept_says_why() {
        let store = store();
        let j = Journal::create(Path::new("/nonexistent/dir"));
        let e = j.finish(&store).unwrap_err();
        assert!(e.contains("/nonexistent/dir"), "{e}");
        let file = store.file.lock().unwrap();
        let mut r = Readers::new(vec![(Err(e), 0)], &file.0);
        assert_eq!(r.next(), 0);
        assert_eq!(r.warnings.len(), 1);
    }

    /// A classic pcap of frames of lengths `lens` (Ethernet, 1 s apart).
    fn pcap(dir: &Path, name: &str, lens: &[usize]) -> CaptureSpec {
        // Magic, version 2.4, zone, accuracy, snaplen, Ethernet.
        let mut b = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
        b.extend([2, 0, 4, 0]);
        for v in [0u32, 0, 65_535, 1] {
            b.extend(v.to_le_bytes());
        }
        for (i, len) in lens.iter().enumerate() {
            let n = u32::try_from(*len).unwrap();
            for v in [1_700_000_000 + i as u32, 0, n, n] {
                b.extend(v.to_le_bytes());
            }
            b.extend(std::iter::repeat_n(i as u8, *len));
        }
        let path = dir.join(name);
        std::fs::write(&path, b).unwrap();
        CaptureSpec::parse(path.to_str().unwrap())
    }

    /// The second pass over `specs` with `journal`'s numbers (one
    /// analyzer's, every frame of captures `0..specs.len()`), flows 1 and
    /// 3 wanted: what was written, and the warnings.
    fn second(
        specs: &[CaptureSpec],
        read: &[Option<u64>],
        journal: &[u32],
    ) -> (super::super::Written, Vec<String>) {
        let store = store();
        let mut j = Journal::create(store.dir());
        journal.iter().for_each(|n| j.put(*n));
        let mut wanted = Wanted::default();
        wanted.comments.insert(1, "one".into());
        wanted.comments.insert(3, "three".into());
        let mut first = FirstPass::default();
        let numbered = Numbered {
            wanted,
            count: 3,
            journal: j.finish(&store),
        };
        first.add(0..specs.len(), vec![numbered]);
        let out = capture::PcapNgOut::new("t", Vec::new()).unwrap();
        let mut w = PacketWriter::new(out, first.wanted);
        let journals = (first.journals, &store);
        let warnings = replay(specs, read, journals, &mut w, &Progress::hidden());
        (w.finish().unwrap(), warnings)
    }

    #[test]
    fn the_second_pass_writes_the_wanted_flows_frames_by_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let a = pcap(dir.path(), "a.pcap", &[60, 70, 80]);
        let b = pcap(dir.path(), "b.pcap", &[90, 100]);
        let gone = CaptureSpec::parse(dir.path().join("gone.pcap").to_str().unwrap());
        // Frames: a: flows 1, 2, 0; (gone: never opened); b: 3, 1.
        let specs = [a, gone, b];
        let read = [Some(3), None, Some(2)];
        let (written, warnings) = second(&specs, &read, &[1, 2, 0, 3, 1]);
        assert!(warnings.is_empty(), "{warnings:?}");
        let expected = super::super::Written {
            flows: 2,
            packets: 3,
            bytes: 60 + 90 + 100,
        };
        assert_eq!(written, expected);
    }

    #[test]
    fn a_capture_changed_since_the_first_pass_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let a = pcap(dir.path(), "a.pcap", &[60, 70, 80]);
        let specs = [a];
        let (written, warnings) = second(&specs, &[Some(4)], &[1, 1, 1, 1]);
        assert_eq!(written.packets, 3, "the frames there were are written");
        assert!(
            warnings[0].contains("ends before the frames audited"),
            "{warnings:?}"
        );
        let (written, warnings) = second(&specs, &[Some(2)], &[1, 1]);
        assert_eq!(written.packets, 2);
        assert!(warnings[0].contains("holds more frames"), "{warnings:?}");
    }

    #[test]
    fn a_capture_that_shrank_leaves_the_next_ones_numbers_in_place() {
        let dir = tempfile::tempdir().unwrap();
        // The first pass read 4 frames of a (now 3) and 2 of b: b's frames
        // are flows 0 (90 bytes, not wanted) and 3 (100 bytes, wanted).
        let a = pcap(dir.path(), "a.pcap", &[60, 70, 80]);
        let b = pcap(dir.path(), "b.pcap", &[90, 100]);
        let (written, warnings) = second(&[a, b], &[Some(4), Some(2)], &[1, 1, 1, 1, 0, 3]);
        assert!(
            warnings[0].contains("ends before the frames audited"),
            "{warnings:?}"
        );
        assert_eq!(written.packets, 4, "a's three frames and b's second");
        assert_eq!(written.bytes, 60 + 70 + 80 + 100);
        assert_eq!(written.flows, 2);
    }

    #[test]
    fn journals_go_where_they_can_be_made() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v.pcapng");
        assert_eq!(Store::new(&file).unwrap().dir(), dir.path());
        assert_eq!(
            Store::new(Path::new("v.pcapng")).unwrap().dir(),
            Path::new(".")
        );
        // A FILE whose directory cannot hold one (standard output's).
        let fd = Store::new(Path::new("/dev/fd/1")).unwrap();
        assert_eq!(fd.dir(), std::env::temp_dir());
        // Nothing is left in FILE's directory: the store has no name.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn an_attempt_that_fell_back_leaves_nothing_in_the_store() {
        let store = store();
        journal(&store, &[(0, 7), (1, 7)]).unwrap();
        store.clear();
        let again = journal(&store, &[(0, 3)]).unwrap();
        assert_eq!((again.start, again.len), (0, 4));
        assert_eq!(store.locked().0.metadata().unwrap().len(), 4);
        let file = store.locked();
        let mut r = Readers::new(vec![(Ok(again), 0)], &file.0);
        assert_eq!((r.next(), r.next()), (3, 0));
    }
}
