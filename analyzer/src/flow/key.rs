//! The canonical flow key.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;

/// Which way a packet goes relative to the canonical key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Direction {
    /// From `lo` to `hi`.
    LoToHi = 0,
    /// From `hi` to `lo`.
    HiToLo = 1,
}

impl Direction {
    /// The other direction.
    pub fn reverse(self) -> Self {
        match self {
            Direction::LoToHi => Direction::HiToLo,
            Direction::HiToLo => Direction::LoToHi,
        }
    }
    /// Array index of this direction.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The tunnel a flow was carried in (an index into the analyzer's tunnel
/// table); [`TunnelId::NONE`] for a flow seen outside any tunnel.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Default)]
pub struct TunnelId(pub u32);

impl TunnelId {
    /// Not in a tunnel.
    pub const NONE: TunnelId = TunnelId(0);
}

/// A bidirectional 5-tuple: the (address, port) pair that sorts first is
/// `lo`, so both directions of a conversation share one key. For ICMP the
/// ports hold the Community ID type/code mapping (see `decode`). The tunnel
/// is part of the key: the same 5-tuple in two tunnels (two VNIs, two
/// mirror sessions) is two flows.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub struct FlowKey {
    /// IP protocol number.
    pub proto: u8,
    /// Lower endpoint address.
    pub lo: IpAddr,
    /// Lower endpoint port.
    pub lo_port: u16,
    /// Higher endpoint address.
    pub hi: IpAddr,
    /// Higher endpoint port.
    pub hi_port: u16,
    /// The tunnel that carried it.
    pub tunnel: TunnelId,
}

/// Hashed as two words for IPv4 (protocol, ports and tunnel packed in
/// one; both addresses in the other) rather than field by field: the table
/// hashes every packet's key, and this is a third of the derived hash's
/// rounds. Equal keys have equal fields, so they hash equally.
impl Hash for FlowKey {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(
            u64::from(self.proto)
                | u64::from(self.lo_port) << 8
                | u64::from(self.hi_port) << 24
                | u64::from(self.tunnel.0) << 40,
        );
        match (self.lo, self.hi) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                h.write_u64(u64::from(a.to_bits()) << 32 | u64::from(b.to_bits()))
            }
            (a, b) => {
                h.write_u128(bits(a));
                h.write_u128(bits(b));
            }
        }
    }
}

fn bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(v4.to_bits()),
        IpAddr::V6(v6) => v6.to_bits(),
    }
}

impl FlowKey {
    /// The key of a packet from `(src, sport)` to `(dst, dport)` and the
    /// packet's direction relative to it.
    #[inline]
    pub fn new(proto: u8, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> (Self, Direction) {
        // The tuples' order, as one integer comparison for IPv4 (an
        // address's bits order as its octets do).
        let lo_first = match (src, dst) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                (u64::from(a.to_bits()) << 16 | u64::from(sport))
                    <= (u64::from(b.to_bits()) << 16 | u64::from(dport))
            }
            _ => (src, sport) <= (dst, dport),
        };
        if lo_first {
            let key = FlowKey {
                proto,
                lo: src,
                lo_port: sport,
                hi: dst,
                hi_port: dport,
                tunnel: TunnelId::NONE,
            };
            (key, Direction::LoToHi)
        } else {
            let key = FlowKey {
                proto,
                lo: dst,
                lo_port: dport,
                hi: src,
                hi_port: sport,
                tunnel: TunnelId::NONE,
            };
            (key, Direction::HiToLo)
        }
    }

    /// The same key in tunnel `t`.
    #[inline]
    pub fn in_tunnel(self, t: TunnelId) -> Self {
        FlowKey { tunnel: t, ..self }
    }

    /// The sending endpoint of a packet going `dir`.
    pub fn sender(&self, dir: Direction) -> (IpAddr, u16) {
        match dir {
            Direction::LoToHi => (self.lo, self.lo_port),
            Direction::HiToLo => (self.hi, self.hi_port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_share_a_key() {
        let a: IpAddr = "10.10.12.89".parse().unwrap();
        let b: IpAddr = "10.10.12.90".parse().unwrap();
        let (k1, d1) = FlowKey::new(6, b, 5719, a, 50000);
        let (k2, d2) = FlowKey::new(6, a, 50000, b, 5719);
        assert_eq!(k1, k2);
        assert_eq!(d1, d2.reverse());
        assert_eq!(k1.sender(d2), (a, 50000));
    }

    proptest::proptest! {
        /// The IPv4 shortcut orders as the (address, port) tuples do, the
        /// same port or address included.
        #[test]
        fn lower_endpoint_is_the_lower_tuple(
            a in 0u32..8, b in 0u32..8, p in 0u16..4, q in 0u16..4, hi in proptest::bool::ANY,
        ) {
            let bits = |x: u32| if hi { x.rotate_right(3) } else { x };
            let (x, y) = (IpAddr::from(bits(a).to_be_bytes()), IpAddr::from(bits(b).to_be_bytes()));
            let (k, d) = FlowKey::new(6, x, p, y, q);
            let want = if (x, p) <= (y, q) { Direction::LoToHi } else { Direction::HiToLo };
            proptest::prop_assert_eq!(d, want);
            proptest::prop_assert!((k.lo, k.lo_port) <= (k.hi, k.hi_port));
        }
    }
}
