//! Copies that differ in size: a TCP packet whose bytes were already counted
//! within the window by other packets of the same direction.
//!
//! Where a host coalesces received segments above the layer that logged
//! them (vSwitch receive-segment coalescing, Windows Server 2019+), or
//! segments a large send in software below the layer that logged it, one
//! capture holds both the segments and the super-frame: their transport
//! headers differ, so no content key matches, yet the bytes are the same.
//! A retransmission inside the window looks alike. Neither can be told
//! apart from the capture, so such a packet is counted and flagged.

use std::collections::VecDeque;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::WINDOW_NS;
use crate::decode::{proto, PacketMeta};

/// Ranges remembered per direction.
const RANGES: usize = 32;
/// Directions remembered before the stale ones are dropped.
pub const MAX_DIRECTIONS: usize = 1 << 14;

type Direction = (IpAddr, u16, IpAddr, u16);

/// Recently counted sequence ranges, per TCP direction.
#[derive(Debug, Default)]
pub(super) struct Overlap {
    dirs: FxHashMap<Direction, VecDeque<(u32, u32, i64)>>,
    /// Most directions held at once.
    peak: usize,
}

impl Overlap {
    /// Most directions held at once (how close they came to the cap).
    pub(super) fn peak(&self) -> usize {
        self.peak
    }

    /// Records the counted TCP packet `m` at `ts`; true when its payload
    /// repeats bytes counted within the window.
    pub(super) fn repeats(&mut self, ts: i64, m: &PacketMeta<'_>) -> bool {
        if m.proto != proto::TCP || m.payload_wire_len == 0 {
            return false;
        }
        if self.dirs.len() >= MAX_DIRECTIONS {
            let deadline = ts.saturating_sub(WINDOW_NS);
            self.dirs
                .retain(|_, r| r.back().is_some_and(|x| x.2 >= deadline));
            if self.dirs.len() >= MAX_DIRECTIONS {
                self.dirs.clear();
            }
        }
        let ranges = self
            .dirs
            .entry((m.src, m.sport, m.dst, m.dport))
            .or_default();
        let (seq, len) = (m.tcp_seq, m.payload_wire_len);
        let covered: u64 = ranges
            .iter()
            .filter(|r| ts.abs_diff(r.2) <= WINDOW_NS as u64)
            .map(|&(lo, hi, _)| overlap(seq, len, lo, hi))
            .sum();
        if ranges.len() == RANGES {
            ranges.pop_front();
        }
        ranges.push_back((seq, seq.wrapping_add(len), ts));
        self.peak = self.peak.max(self.dirs.len());
        covered > 0
    }
}

/// Bytes of `[seq, seq + len)` inside `[lo, hi)`, in sequence space
/// (RFC 9293 §3.4: comparisons modulo 2^32, relative to `seq`).
fn overlap(seq: u32, len: u32, lo: u32, hi: u32) -> u64 {
    let start = i64::from(lo.wrapping_sub(seq) as i32);
    let end = start + i64::from(hi.wrapping_sub(lo));
    let (a, b) = (start.max(0), end.min(i64::from(len)));
    u64::try_from(b - a).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::overlap;

    #[test]
    fn overlaps_in_sequence_space() {
        assert_eq!(overlap(1000, 100, 1000, 1100), 100);
        assert_eq!(overlap(1000, 100, 1050, 1200), 50);
        assert_eq!(overlap(1000, 100, 1100, 1200), 0);
        assert_eq!(overlap(1000, 100, 900, 1000), 0);
        // Across the wrap of the 32-bit sequence space.
        assert_eq!(overlap(u32::MAX - 9, 20, u32::MAX - 4, 5), 10);
        assert_eq!(overlap(5, 10, u32::MAX - 4, 10), 5);
    }
}
