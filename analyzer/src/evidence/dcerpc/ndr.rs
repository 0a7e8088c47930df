//! A bounds-checked NDR reader (C706 §14): integers, UUIDs and counts in
//! one byte order, NDR64 sizes where asked.

use super::Uuid;

/// A bounds-checked cursor over bytes in one byte order; every read past
/// the end is `None`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ndr<'a> {
    b: &'a [u8],
    pub(super) pos: usize,
    le: bool,
}

impl<'a> Ndr<'a> {
    pub(super) fn at(b: &'a [u8], pos: usize, le: bool) -> Self {
        Ndr { b, pos, le }
    }

    pub(super) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub(super) fn skip(&mut self, n: usize) -> Option<()> {
        self.bytes(n).map(|_| ())
    }

    pub(super) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    pub(super) fn u16(&mut self) -> Option<u16> {
        let a = self.array()?;
        Some(if self.le {
            u16::from_le_bytes(a)
        } else {
            u16::from_be_bytes(a)
        })
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        let a = self.array()?;
        Some(if self.le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    }

    /// A size or pointer: u32, or u64 aligned to 8 in NDR64 (MS-RPCE §2.2.5).
    pub(super) fn count(&mut self, ndr64: bool) -> Option<u64> {
        if !ndr64 {
            self.align(4);
            return self.u32().map(u64::from);
        }
        self.align(8);
        let a = self.array()?;
        Some(if self.le {
            u64::from_le_bytes(a)
        } else {
            u64::from_be_bytes(a)
        })
    }

    /// A UUID: DCE mixed-endian when little-endian, plain big-endian otherwise.
    pub(super) fn uuid(&mut self) -> Option<Uuid> {
        let a = self.array()?;
        Some(if self.le {
            Uuid::from_bytes_le(a)
        } else {
            Uuid::from_bytes(a)
        })
    }

    /// NDR alignment, relative to the start of the bytes (C706 §14.2.2).
    pub(super) fn align(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n - 1) / n * n;
    }
}
