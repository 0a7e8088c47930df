//! The tunnels flows were carried in, interned so a flow key holds a small
//! id rather than the tunnel's addresses.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::TunnelId;
use crate::decode::TunnelKind;

/// Most distinct tunnels tracked: beyond it, a new tunnel's inner frames are
/// counted `undecoded` (`tunnel: …`), so crafted VNIs or sessions cannot grow
/// memory without bound.
pub const MAX_TUNNELS: usize = 65_536;

/// One tunnel: its kind, id and outer endpoints, and the tunnel its own
/// outer packets were carried in (nested tunnels).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Tunnel {
    /// Kind.
    pub kind: TunnelKind,
    /// VNI, GRE key, NVGRE VSID or ERSPAN session.
    pub id: Option<u32>,
    /// Outer source and destination of the first packet seen in it (none
    /// for MPLS, which has no outer IP header).
    pub outer: Option<(IpAddr, IpAddr)>,
    /// The tunnel that carried the outer packets.
    pub parent: TunnelId,
}

impl Tunnel {
    /// The key: the outer endpoints unordered, so both directions of a
    /// VXLAN or GRE tunnel are one tunnel.
    fn key(&self) -> Tunnel {
        let outer = self
            .outer
            .map(|(a, b)| if a <= b { (a, b) } else { (b, a) });
        Tunnel { outer, ..*self }
    }
}

/// Interned tunnels; id `n` is entry `n - 1` (0 is "no tunnel").
#[derive(Debug, Default)]
pub struct Tunnels {
    list: Vec<Tunnel>,
    index: FxHashMap<Tunnel, TunnelId>,
}

impl Tunnels {
    /// Every tunnel interned, in order.
    pub fn all(&self) -> &[Tunnel] {
        &self.list
    }

    /// The id of `t`, interning it; `None` once [`MAX_TUNNELS`] are tracked.
    pub fn intern(&mut self, t: Tunnel) -> Option<TunnelId> {
        let key = t.key();
        if let Some(id) = self.index.get(&key) {
            return Some(*id);
        }
        if self.list.len() >= MAX_TUNNELS {
            return None;
        }
        self.list.push(t);
        let id = TunnelId(u32::try_from(self.list.len()).ok()?);
        self.index.insert(key, id);
        Some(id)
    }

    /// The tunnel of an id (`None` for [`TunnelId::NONE`]).
    pub fn get(&self, id: TunnelId) -> Option<&Tunnel> {
        let i = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.list.get(i)
    }

    /// How many are tracked.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// None tracked.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_are_one_tunnel_and_ids_differ() {
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let vni = |id, outer| Tunnel {
            kind: TunnelKind::Vxlan,
            id: Some(id),
            outer: Some(outer),
            parent: TunnelId::NONE,
        };
        let mut t = Tunnels::default();
        let x = t.intern(vni(5001, (a, b))).unwrap();
        assert_eq!(t.intern(vni(5001, (b, a))), Some(x));
        assert_ne!(t.intern(vni(5002, (a, b))), Some(x));
        // The first packet's direction is what is shown.
        assert_eq!(t.get(x).unwrap().outer, Some((a, b)));
        assert!(t.get(TunnelId::NONE).is_none());
        assert_eq!(t.len(), 2);
    }
}
