//! Read buffers reused across captures.
//!
//! Every capture read needs a buffer of about 1 MiB (a direct read's, or
//! the blocks of a framed read-ahead). A fresh one costs its pages: the
//! allocator maps new memory, and the kernel zeroes and faults in each page
//! at its first write. A week of rotated captures, a thousand files read
//! one after another, paid that for every file: with 509 files of 2 MiB,
//! two threads spent more time faulting in buffers than reading
//! (`/usr/bin/time`: 0.79 s of system time against 0.20 s on one thread).
//!
//! So a buffer that is dropped goes to a short list of spare ones, and a
//! buffer of the same length is taken from it before a new one is made.
//! The list is the process's, like the allocator's own caches: passing a
//! pool to every reader would thread a parameter through every caller for
//! what is only a cache. It holds the newest [`KEEP`] buffers dropped, of
//! at most [`MAX_KEPT`] bytes, and only buffers still of the length they
//! were made with (a block grown for a long record is freed). Nothing is
//! zeroed on reuse: a source reads only the bytes it has read into a
//! buffer.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// Most spare buffers kept.
const KEEP: usize = 16;
/// Larger buffers (grown for one huge record) are not kept.
const MAX_KEPT: usize = 2 << 20;

static SPARE: Mutex<Spare> = Mutex::new(Spare(Vec::new()));

/// The spare buffers.
struct Spare(Vec<Vec<u8>>);

impl Spare {
    /// A spare buffer of `len` bytes, if there is one.
    fn take(&mut self, len: usize) -> Option<Vec<u8>> {
        let i = self.0.iter().position(|b| b.len() == len)?;
        // `remove`, not `swap_remove`: the list stays oldest first, so a
        // full list gives up its oldest buffer (16 moves at most).
        Some(self.0.remove(i))
    }

    /// Keeps `v` if it is worth keeping, in place of the oldest spare one
    /// when the list is full.
    fn keep(&mut self, v: Vec<u8>) {
        if v.is_empty() || v.len() > MAX_KEPT {
            return;
        }
        if self.0.len() >= KEEP {
            self.0.remove(0);
        }
        self.0.push(v);
    }
}

/// A read buffer that becomes a spare one when dropped, if it still has
/// the length it was made with (one grown for a long record, at a length
/// nobody asks for, is freed).
#[derive(Clone, Debug, Default)]
pub(crate) struct Buf {
    v: Vec<u8>,
    /// The length [`Buf::new`] gave it (0: not the pool's).
    made: usize,
}

impl Buf {
    /// A buffer of `len` bytes: a spare one of that length, else a new one
    /// of zeros.
    pub(crate) fn new(len: usize) -> Self {
        let spare = SPARE.lock().ok().and_then(|mut s| s.take(len));
        Buf {
            v: spare.unwrap_or_else(|| vec![0; len]),
            made: len,
        }
    }
}

impl From<Vec<u8>> for Buf {
    /// A buffer that is not the pool's (never kept).
    fn from(v: Vec<u8>) -> Self {
        Buf { v, made: 0 }
    }
}

impl Deref for Buf {
    type Target = Vec<u8>;

    #[inline]
    fn deref(&self) -> &Vec<u8> {
        &self.v
    }
}

impl DerefMut for Buf {
    #[inline]
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.v
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.v);
        if self.made == 0 || v.len() != self.made {
            return;
        }
        if let Ok(mut s) = SPARE.lock() {
            s.keep(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_buffer_is_the_next_of_its_length() {
        let mut s = Spare(Vec::new());
        let mut a = vec![0; 1000];
        a[0] = 42;
        let at = a.as_ptr();
        s.keep(a);
        assert!(s.take(999).is_none());
        let b = s.take(1000).unwrap();
        assert_eq!((b.as_ptr(), b[0]), (at, 42));
        assert!(s.take(1000).is_none());
    }

    #[test]
    fn empty_and_huge_buffers_are_not_kept_and_the_newest_are() {
        let mut s = Spare(Vec::new());
        s.keep(Vec::new());
        s.keep(vec![0; MAX_KEPT + 1]);
        assert!(s.0.is_empty());
        for i in 0..KEEP + 3 {
            s.keep(vec![i as u8; 10]);
        }
        // Full: each new one took the place of the oldest.
        assert_eq!(s.0.len(), KEEP);
        assert_eq!((s.0[0][0], s.0[KEEP - 1][0]), (3, KEEP as u8 + 2));
    }

    #[test]
    fn a_buffer_taken_leaves_the_rest_oldest_first() {
        let mut s = Spare(Vec::new());
        s.keep(vec![7; 20]);
        for i in 0..KEEP - 1 {
            s.keep(vec![i as u8; 10]);
        }
        // The oldest taken; the next two kept push out the oldest left (0),
        // never the newest (KEEP - 2).
        assert_eq!(s.take(20).map(|v| v.len()), Some(20));
        s.keep(vec![99; 10]);
        s.keep(vec![100; 10]);
        let firsts: Vec<u8> = s.0.iter().map(|v| v[0]).collect();
        assert_eq!(firsts[0], 1, "{firsts:?}");
        assert!(firsts.contains(&(KEEP as u8 - 2)), "{firsts:?}");
    }

    #[test]
    fn a_dropped_buf_goes_to_the_process_list_unless_it_changed_length() {
        // Lengths no other test uses (the list is the process's, and the
        // newest buffer dropped is always kept).
        drop(Buf::new(12_345));
        assert_eq!(
            SPARE.lock().unwrap().take(12_345).map(|v| v.len()),
            Some(12_345)
        );
        let mut grown = Buf::new(12_346);
        grown.resize(12_347, 0);
        drop(grown);
        drop(Buf::from(vec![1; 12_348]));
        let mut s = SPARE.lock().unwrap();
        assert!(s.take(12_347).is_none() && s.take(12_348).is_none());
    }
}
