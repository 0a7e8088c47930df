//! Record framing over one direction of a TCP stream: NetBIOS session
//! messages (SMB), DCE/RPC fragments and length-prefixed DNS all carry
//! their length in a short header. A [`Framer`] cuts the stream into
//! records and hands each record's first bytes (at most `keep`) to the
//! dissector, skipping the rest without copying it: a 1 MiB SMB WRITE
//! costs a counter, not a buffer.

use super::{GiveUp, Start};

/// What a record header says about the bytes gathered so far.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Header {
    /// Not enough bytes yet to read the length.
    NeedMore,
    /// The whole record (header included) is this long.
    Len(usize),
    /// The record is this long, and only its first bytes (the second
    /// number) can matter: the rest is skipped without being kept.
    LenKeep(usize, usize),
    /// Not a header of this protocol.
    Bad,
}

/// Cuts one direction's stream into records.
#[derive(Clone, Debug)]
pub struct Framer {
    synced: bool,
    keep: usize,
    /// First bytes of the current record.
    buf: Vec<u8>,
    /// Its total length, once the header has been read.
    len: Option<usize>,
    /// Bytes of the current record consumed (kept or skipped).
    seen: usize,
    /// The prefix of the current record was handed over already.
    delivered: bool,
    /// Bytes of the current record to keep (at most `keep`).
    want: usize,
}

impl Framer {
    /// A framer keeping at most `keep` bytes of each record.
    pub fn new(start: Start, keep: usize) -> Self {
        Framer {
            synced: start == Start::Beginning,
            keep: keep.max(1),
            buf: Vec::new(),
            len: None,
            seen: 0,
            delivered: false,
            want: keep.max(1),
        }
    }

    /// True once records are aligned (always, for a stream seen from its start).
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// Feeds one segment's bytes. `header` reads a record's length from its
    /// first bytes; `on_record(prefix, len)` receives each record's first
    /// `min(len, keep)` bytes as soon as they are in. A stream joined
    /// mid-way is skipped until a segment starts with a valid header.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        segment_start: bool,
        header: impl Fn(&[u8]) -> Header,
        mut on_record: impl FnMut(&[u8], usize) -> Result<(), GiveUp>,
        bad: GiveUp,
    ) -> Result<(), GiveUp> {
        if !self.synced {
            if !segment_start || !matches!(header(data), Header::Len(_) | Header::LenKeep(..)) {
                return Ok(());
            }
            self.synced = true;
        }
        while !data.is_empty() {
            if self.len.is_none() {
                let used = self.read_header(data, &header, bad)?;
                data = &data[used..];
                if self.len.is_none() {
                    continue;
                }
            }
            let used = self.body(data, &mut on_record)?;
            data = &data[used..];
        }
        Ok(())
    }

    /// Reads the next record's header from `data` (joined to what earlier
    /// segments left in `buf`); returns how many bytes of `data` it took.
    fn read_header(
        &mut self,
        data: &[u8],
        header: &impl Fn(&[u8]) -> Header,
        bad: GiveUp,
    ) -> Result<usize, GiveUp> {
        if self.buf.is_empty() {
            // The usual case: a record starts here with its header whole;
            // read it in place, copy only what is kept.
            if let h @ (Header::Len(l) | Header::LenKeep(l, _)) = header(data) {
                if l > 0 {
                    self.start(l, h);
                    return Ok(0);
                }
            }
        }
        let take = data
            .len()
            .min(self.keep.saturating_sub(self.buf.len()).max(1));
        self.buf.extend_from_slice(&data[..take]);
        let h = header(&self.buf);
        match h {
            Header::NeedMore if self.buf.len() < self.keep => {
                self.seen = self.buf.len();
                Ok(take)
            }
            Header::NeedMore | Header::Bad | Header::Len(0) | Header::LenKeep(0, _) => Err(bad),
            Header::Len(l) | Header::LenKeep(l, _) => {
                // Give back what belongs to the next record.
                let extra = self.buf.len().saturating_sub(l);
                self.buf.truncate(self.buf.len() - extra);
                self.start(l, h);
                self.seen = self.buf.len();
                Ok(take - extra)
            }
        }
    }

    /// A record of `len` bytes starts; `h` says how much of it to keep.
    fn start(&mut self, len: usize, h: Header) {
        self.want = match h {
            Header::LenKeep(_, k) => k.min(self.keep),
            _ => self.keep,
        };
        self.len = Some(len);
        self.seen = 0;
    }

    /// Takes record body bytes from `data`: kept up to the prefix, skipped
    /// after it; hands the prefix over once complete. Returns bytes taken.
    fn body(
        &mut self,
        data: &[u8],
        on_record: &mut impl FnMut(&[u8], usize) -> Result<(), GiveUp>,
    ) -> Result<usize, GiveUp> {
        let Some(len) = self.len else { return Ok(0) };
        let want = len.min(self.want);
        let used = if self.buf.len() < want {
            let take = (want - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            take
        } else {
            (len - self.seen).min(data.len())
        };
        self.seen += used;
        if self.buf.len() >= want && !self.delivered {
            self.delivered = true;
            on_record(&self.buf, len)?;
        }
        if self.seen >= len {
            self.next_record();
        }
        Ok(used)
    }

    /// Ready for the next record's header.
    fn next_record(&mut self) {
        self.buf.clear();
        self.len = None;
        self.seen = 0;
        self.delivered = false;
    }
}

impl Framer {
    /// `n` bytes of the stream are missing right after what was fed (a
    /// payload cut by the snaplen). Harmless inside a record's body past
    /// its kept prefix; a prefix still being gathered is handed over as it
    /// is (shorter than `min(len, keep)`: parsers read it with bounds
    /// checks and can tell it was cut) and closed, so the bytes after the
    /// hole are skipped as the rest of the record, not joined to the prefix
    /// as if they followed it. A hole in a header, or one that runs into
    /// the next record, loses the framing: `Err(lost)`. Before the stream
    /// is synchronised nothing is lost.
    pub fn skip(
        &mut self,
        n: usize,
        mut on_record: impl FnMut(&[u8], usize) -> Result<(), GiveUp>,
        lost: GiveUp,
    ) -> Result<(), GiveUp> {
        if n == 0 || !self.synced {
            return Ok(());
        }
        let Some(len) = self.len else {
            return Err(lost);
        };
        if self.seen + n > len {
            return Err(lost);
        }
        if !self.delivered {
            self.delivered = true;
            // Nothing more is kept of this record: what follows the hole
            // is not what followed the prefix.
            self.want = self.buf.len();
            on_record(&self.buf, len)?;
        }
        self.seen += n;
        if self.seen >= len {
            self.next_record();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy protocol: one length byte (the whole record's length), then data.
    fn toy(b: &[u8]) -> Header {
        match b.first() {
            None => Header::NeedMore,
            Some(0) => Header::Bad,
            Some(&n) => Header::Len(usize::from(n)),
        }
    }

    fn run(f: &mut Framer, segs: &[&[u8]]) -> Result<Vec<(Vec<u8>, usize)>, GiveUp> {
        let mut got = Vec::new();
        for s in segs {
            f.feed(
                s,
                true,
                toy,
                |p, l| {
                    got.push((p.to_vec(), l));
                    Ok(())
                },
                GiveUp("bad"),
            )?;
        }
        Ok(got)
    }

    #[test]
    fn records_split_and_joined_across_segments() {
        let mut f = Framer::new(Start::Beginning, 3);
        let got = run(&mut f, &[&[2, 9, 5], &[1, 2, 8], &[7, 7, 4, 4, 2], &[6]]).unwrap();
        // Records: [2,9] [5,1,2,8,7] [7,4,4,2,6]... 7 is a length of 7.
        assert_eq!(
            got,
            vec![(vec![2, 9], 2), (vec![5, 1, 2], 5), (vec![7, 4, 4], 7)]
        );
    }

    #[test]
    fn midway_streams_resync_at_a_segment_that_starts_with_a_header() {
        let mut f = Framer::new(Start::Midway, 8);
        let mut got = Vec::new();
        for (seg, start) in [
            (&[0u8, 0][..], true),
            (&[3, 1, 1][..], false),
            (&[2, 5][..], true),
        ] {
            f.feed(
                seg,
                start,
                toy,
                |p, l| {
                    got.push((p.to_vec(), l));
                    Ok(())
                },
                GiveUp("bad"),
            )
            .unwrap();
        }
        assert_eq!(got, vec![(vec![2, 5], 2)]);
    }

    /// The records a framer keeping `keep` bytes hands over when fed
    /// `before`, then told of a hole of `missing` bytes, then fed `after`
    /// (a segment start).
    fn holed(keep: usize, before: &[u8], missing: usize, after: &[u8]) -> Vec<(Vec<u8>, usize)> {
        let mut f = Framer::new(Start::Beginning, keep);
        let mut got = Vec::new();
        let mut take = |p: &[u8], l: usize| {
            got.push((p.to_vec(), l));
            Ok(())
        };
        f.feed(before, true, toy, &mut take, GiveUp("bad")).unwrap();
        f.skip(missing, &mut take, GiveUp("lost")).unwrap();
        f.feed(after, true, toy, &mut take, GiveUp("bad")).unwrap();
        got
    }

    #[test]
    fn holes_inside_a_record_body_are_skipped() {
        // A 9-byte record: 2 bytes fed, 5 missing (prefix handed over
        // short), 2 fed; then a 2-byte record.
        let got = holed(3, &[9, 1], 5, &[7, 7, 2, 4]);
        assert_eq!(got, vec![(vec![9, 1], 9), (vec![2, 4], 2)]);
        // A hole that runs into the next header loses the framing.
        let mut f = Framer::new(Start::Beginning, 3);
        f.feed(&[3, 1], true, toy, |_, _| Ok(()), GiveUp("bad"))
            .unwrap();
        assert_eq!(
            f.skip(2, |_, _| Ok(()), GiveUp("lost")),
            Err(GiveUp("lost"))
        );
    }

    #[test]
    fn a_hole_in_a_kept_prefix_then_a_whole_record() {
        // Whole records are kept (as DCE/RPC keeps fragments): a 9-byte
        // record cut after 2 bytes, its last 2 bytes in the next segment
        // with a whole 3-byte record after them.
        let got = holed(64, &[9, 1], 5, &[7, 7, 3, 4, 5]);
        // The bytes after the hole end the cut record; the next one is
        // read from its own header, whole.
        assert_eq!(got, vec![(vec![9, 1], 9), (vec![3, 4, 5], 3)]);
        // The same when the hole ends the cut record exactly.
        let got = holed(64, &[9, 1, 2], 6, &[2, 8]);
        assert_eq!(got, vec![(vec![9, 1, 2], 9), (vec![2, 8], 2)]);
    }

    #[test]
    fn a_bad_header_once_synced_gives_up() {
        let mut f = Framer::new(Start::Beginning, 8);
        assert_eq!(run(&mut f, &[&[2, 1, 0, 3]]), Err(GiveUp("bad")));
    }
}
