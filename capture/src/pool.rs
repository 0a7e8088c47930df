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
//! what is only a cache. It holds at most [`KEEP`] buffers of at most
//! [`MAX_KEPT`] bytes, so it never holds more than the readers used at
//! once. Nothing is zeroed on reuse: a source reads only the bytes it has
//! read into a buffer.

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
        Some(self.0.swap_remove(i))
    }

    /// Keeps `v` if it is worth keeping and there is room.
    fn keep(&mut self, v: Vec<u8>) {
        if !v.is_empty() && v.len() <= MAX_KEPT && self.0.len() < KEEP {
            self.0.push(v);
        }
    }
}

/// A read buffer that becomes a spare one when dropped.
#[derive(Clone, Debug, Default)]
pub(crate) struct Buf(Vec<u8>);

impl Buf {
    /// A buffer of `len` bytes: a spare one of that length, else a new one
    /// of zeros.
    pub(crate) fn new(len: usize) -> Self {
        let spare = SPARE.lock().ok().and_then(|mut s| s.take(len));
        Buf(spare.unwrap_or_else(|| vec![0; len]))
    }
}

impl From<Vec<u8>> for Buf {
    fn from(v: Vec<u8>) -> Self {
        Buf(v)
    }
}

impl Deref for Buf {
    type Target = Vec<u8>;

    #[inline]
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for Buf {
    #[inline]
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
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
    fn empty_huge_and_surplus_buffers_are_not_kept() {
        let mut s = Spare(Vec::new());
        s.keep(Vec::new());
        s.keep(vec![0; MAX_KEPT + 1]);
        assert!(s.0.is_empty());
        for _ in 0..KEEP + 3 {
            s.keep(vec![0; 10]);
        }
        assert_eq!(s.0.len(), KEEP);
    }

    #[test]
    fn a_dropped_buf_goes_to_the_process_list() {
        // A length no other test uses (the list is the process's; emptying
        // it costs other tests only fresh buffers).
        let len = 12_345;
        SPARE.lock().unwrap().0.clear();
        drop(Buf::new(len));
        let kept = SPARE.lock().unwrap().take(len);
        assert_eq!(kept.map(|v| v.len()), Some(len));
    }
}
