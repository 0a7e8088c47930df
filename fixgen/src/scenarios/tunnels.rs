//! Tunnel scenarios: the DPM backup transfer (`dpm_backup_lan`, or
//! `ipv6_dpm` for IPv6 in IPv4) seen through each encapsulation. Hosts on
//! the DPM server's side sit behind the first tunnel end, everyone else
//! (ps, the DNS server) behind the second.

use std::net::IpAddr;

use super::{dpm_backup_lan, dpm_primary_lan, ipv6_dpm};
use crate::capture::Capture;
use crate::tunnel::{Encap, Wrap};
use crate::wire::Host;

fn dpm_side() -> Vec<IpAddr> {
    ["10.10.12.89", "192.168.1.23", "fd00:b::23", "fd00:a::200"]
        .iter()
        .map(|a| a.parse().expect("literal"))
        .collect()
}

/// Provider-network tunnel ends (VTEPs, GRE endpoints).
fn ends_v4() -> (Host, Host) {
    (Host::new("10.99.0.1"), Host::new("10.99.0.2"))
}

fn ends_v6() -> (Host, Host) {
    (Host::new("fd00:99::1"), Host::new("fd00:99::2"))
}

fn overlay(name: &'static str, encap: Encap, id: u32) -> Capture {
    dpm_backup_lan().wrapped_in(name, Wrap::new(encap, id, dpm_side(), ends_v4()))
}

/// The switch mirrors eth0's port in session 5 and eth1's in session 7,
/// to a collector capturing on `mon0`.
fn mirrored(base: Capture, name: &'static str, encap: Encap) -> Capture {
    let mut w = Wrap::new(
        encap,
        0,
        dpm_side(),
        (Host::new("10.99.0.10"), Host::new("10.99.0.20")),
    );
    w.sessions = &[5, 7];
    base.wrapped_in(name, w)
}

pub(crate) fn tunnel_mpls() -> Capture {
    overlay("tunnel_mpls", Encap::Mpls, 0)
}

pub(crate) fn tunnel_gre() -> Capture {
    overlay("tunnel_gre", Encap::Gre, 0x1234)
}

pub(crate) fn tunnel_nvgre() -> Capture {
    overlay("tunnel_nvgre", Encap::Nvgre, 6001)
}

pub(crate) fn tunnel_vxlan() -> Capture {
    overlay("tunnel_vxlan", Encap::Vxlan, 5001)
}

pub(crate) fn tunnel_vxlan_leak() -> Capture {
    let w = Wrap::new(Encap::Vxlan, 5001, dpm_side(), ends_v4());
    dpm_primary_lan().wrapped_in("tunnel_vxlan_leak", w)
}

pub(crate) fn tunnel_geneve() -> Capture {
    overlay("tunnel_geneve", Encap::Geneve, 7001)
}

pub(crate) fn tunnel_erspan2() -> Capture {
    mirrored(dpm_backup_lan(), "tunnel_erspan2", Encap::ErspanII)
}

pub(crate) fn tunnel_erspan3() -> Capture {
    mirrored(dpm_backup_lan(), "tunnel_erspan3", Encap::ErspanIII)
}

pub(crate) fn tunnel_erspan2_leak() -> Capture {
    mirrored(dpm_primary_lan(), "tunnel_erspan2_leak", Encap::ErspanII)
}

pub(crate) fn tunnel_ipip() -> Capture {
    let w = Wrap::new(Encap::Ipv4InIpv6, 0, dpm_side(), ends_v6());
    dpm_backup_lan().wrapped_in("tunnel_ipip", w)
}

pub(crate) fn tunnel_ip6ip() -> Capture {
    let w = Wrap::new(Encap::Ipv6InIpv4, 0, dpm_side(), ends_v4());
    ipv6_dpm().wrapped_in("tunnel_ip6ip", w)
}
