//! Address → network by longest-prefix match.

use std::net::IpAddr;

use ipnet::IpNet;

use super::NetId;

/// Prefixes of every named network, longest first.
#[derive(Clone, Debug, Default)]
pub struct Subnets {
    entries: Vec<(IpNet, NetId)>,
}

impl Subnets {
    /// Builds the table from (prefix, network) pairs.
    pub fn new(mut entries: Vec<(IpNet, NetId)>) -> Self {
        entries.sort_by(|a, b| b.0.prefix_len().cmp(&a.0.prefix_len()).then(a.0.cmp(&b.0)));
        Subnets { entries }
    }

    /// The network holding `addr` (longest prefix wins), if any.
    /// IPv4-mapped IPv6 addresses match IPv4 prefixes.
    pub fn lookup(&self, addr: IpAddr) -> Option<NetId> {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        self.entries
            .iter()
            .find(|(net, _)| net.contains(&addr))
            .map(|(_, id)| *id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        let s = Subnets::new(vec![
            ("10.0.0.0/8".parse().unwrap(), NetId(0)),
            ("10.10.12.0/24".parse().unwrap(), NetId(1)),
            ("fd00:b::/64".parse().unwrap(), NetId(2)),
        ]);
        assert_eq!(s.lookup("10.10.12.7".parse().unwrap()), Some(NetId(1)));
        assert_eq!(s.lookup("10.9.0.1".parse().unwrap()), Some(NetId(0)));
        assert_eq!(
            s.lookup("::ffff:10.10.12.7".parse().unwrap()),
            Some(NetId(1))
        );
        assert_eq!(s.lookup("fd00:b::24".parse().unwrap()), Some(NetId(2)));
        assert_eq!(s.lookup("192.0.2.1".parse().unwrap()), None);
    }
}
