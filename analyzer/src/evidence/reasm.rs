//! IP reassembly of one UDP datagram at a time, for the flows a dissector
//! reads (a large DNS answer arrives as IPv6 or IPv4 fragments). Bounded:
//! one datagram in progress per direction, at most 65 535 bytes; a new
//! datagram id replaces an unfinished one.

/// Most bytes of one reassembled datagram (an IP payload cannot be longer).
const MAX: usize = 65_535;

/// The fragments of one datagram gathered so far.
#[derive(Debug, Default)]
pub struct Reassembly {
    id: u32,
    buf: Vec<u8>,
    /// Byte ranges received, merged.
    have: Vec<(usize, usize)>,
    /// Length, once the last fragment has arrived.
    total: Option<usize>,
}

impl Reassembly {
    /// Adds `bytes` at `offset` of datagram `id` (`more`: more fragments
    /// follow); returns the whole datagram once every byte from offset 0 is in.
    pub fn add(&mut self, id: u32, offset: u32, more: bool, bytes: &[u8]) -> Option<Vec<u8>> {
        if id != self.id || (self.buf.is_empty() && self.have.is_empty()) {
            *self = Reassembly {
                id,
                ..Reassembly::default()
            };
        }
        let start = offset as usize;
        let end = start + bytes.len();
        if end > MAX {
            *self = Reassembly::default();
            return None;
        }
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        self.buf[start..end].copy_from_slice(bytes);
        self.have.push((start, end));
        self.have.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(self.have.len());
        for &(a, b) in &self.have {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.have = merged;
        if !more {
            self.total = Some(end);
        }
        let total = self.total?;
        if self.have.first() == Some(&(0, total))
            || self.have.first().is_some_and(|r| r.0 == 0 && r.1 >= total)
        {
            let mut out = std::mem::take(&mut self.buf);
            out.truncate(total);
            *self = Reassembly::default();
            return Some(out);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_fragments_complete_a_datagram() {
        let mut r = Reassembly::default();
        assert_eq!(r.add(9, 8, false, b"89"), None);
        assert_eq!(r.add(9, 0, true, b"0123"), None);
        assert_eq!(r.add(9, 4, true, b"4567"), Some(b"0123456789".to_vec()));
        // A new id replaces an unfinished datagram.
        assert_eq!(r.add(1, 0, true, b"ab"), None);
        assert_eq!(r.add(2, 2, false, b"cd"), None);
        assert_eq!(r.add(2, 0, true, b"xy"), Some(b"xycd".to_vec()));
    }
}
