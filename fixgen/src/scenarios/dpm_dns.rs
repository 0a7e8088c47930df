//! DPM scenarios whose verdict rests on name resolution. The backup-network document's first
//! step: "the name resolution of the protected server on the DPM server can resolve the backup
//! address of the protected server and vice versa". The DPM server (10.10.12.89) looks up
//! `ps.x.y.com` over UDP and the protected server (10.10.12.90) looks up `dpm.x.y.com` over TCP,
//! both at the DNS server 10.10.12.10 on the primary network.

use std::net::Ipv4Addr;

use super::lookup::Lookup;
use super::{
    arp_pair, dc, dpm_backup, dpm_data_closed, dpm_primary, ip4, primary_preamble, ps_backup,
    ps_primary, two_nics, DPM_BURSTS, ETH0, ETH1, PS_NAME,
};
use crate::capture::{ms, Capture, Seen, Spec};
use crate::dns::{self, Reply};
use crate::wire::Host;

const DPM_NAME: &str = "dpm.x.y.com";

/// ps asks for `dpm.x.y.com` over TCP at +60 ms and hears both of its addresses.
fn ps_resolves_dpm(cap: &mut Capture) {
    let both = [ip4("192.168.1.23"), ip4("10.10.12.89")];
    Lookup {
        client: ps_primary(),
        sport: 51101,
        server: dc(),
        seen: Seen::on(ETH0),
        network: "primary",
        reply: Reply::addresses(0x2001, DPM_NAME, &both, dns::DPM_TTL),
    }
    .tcp(cap, ms(60));
}

/// The DPM data flow (5719, `DPM_BURSTS`) between `dpm` and `ps`, seen on `iface`.
fn data(cap: &mut Capture, (dpm, ps): (Host, Host), iface: u32, net: &'static str) {
    let spec = Spec::new(dpm, 49703, ps, 5719, Seen::on(iface), net, "dpm");
    dpm_data_closed(cap, spec, 1000, DPM_BURSTS);
}

/// `client` asks for `name`'s AAAA over UDP at `rel` and hears NOERROR with no address: the
/// answer Windows gets on an IPv4-only network for the AAAA it asks beside every A.
fn aaaa_no_data(cap: &mut Capture, client: Host, (sport, id): (u16, u16), name: &str, rel: i64) {
    Lookup {
        client,
        sport,
        server: dc(),
        seen: Seen::on(ETH0),
        network: "primary",
        reply: Reply::new(id, name, dns::AAAA, Vec::new()),
    }
    .udp(cap, rel);
}

pub(crate) fn dpm_dns_ok() -> Capture {
    let mut cap = two_nics("dpm_dns_ok");
    arp_pair(&mut cap, ETH1, &[], dpm_backup(), ps_backup(), 0);
    primary_preamble(&mut cap, &[ip4("192.168.1.24"), ip4("10.10.12.90")]);
    ps_resolves_dpm(&mut cap);
    data(&mut cap, (dpm_backup(), ps_backup()), ETH1, "backup");
    cap
}

pub(crate) fn dpm_dns_wrong() -> Capture {
    let mut cap = two_nics("dpm_dns_wrong");
    arp_pair(&mut cap, ETH0, &[], dpm_primary(), ps_primary(), 0);
    // ps's name lacks its backup address, so DPM's data follows the primary one.
    let primary_only: [Ipv4Addr; 1] = [ip4("10.10.12.90")];
    primary_preamble(&mut cap, &primary_only);
    ps_resolves_dpm(&mut cap);
    // The DPM server asks again over TCP; the DNS server acknowledges but never answers.
    Lookup {
        client: dpm_primary(),
        sport: 51102,
        server: dc(),
        seen: Seen::on(ETH0),
        network: "primary",
        reply: Reply::new(0x1003, PS_NAME, dns::A, Vec::new()),
    }
    .tcp_unanswered(&mut cap, ms(300), ms(2000));
    data(&mut cap, (dpm_primary(), ps_primary()), ETH0, "primary");
    cap
}

/// `dpm_fallback` with one difference: the lookup at +4 s still answers ps's backup address,
/// so the fallback to the primary network at +5 s was not caused by name resolution.
pub(crate) fn dpm_fallback_despite_dns() -> Capture {
    super::fallback(
        "dpm_fallback_despite_dns",
        &[ip4("192.168.1.24"), ip4("10.10.12.90")],
    )
}

/// `dpm_dns_ok` as Windows resolves: the DPM server's A lookup of ps (+50 ms) is followed by
/// an AAAA one answered with no address (+52 ms); ps's UDP lookup of `dpm.x.y.com` (+57 ms)
/// comes back truncated (TC=1, no records), and ps asks again over TCP (+60 ms) and hears both
/// addresses. Every answer that could hold a backup address holds one.
pub(crate) fn dpm_dns_dual_stack() -> Capture {
    dual_stack("dpm_dns_dual_stack", true)
}

/// `dpm_dns_dual_stack` with no TCP retry in the capture (taken with `udp port 53`, say):
/// the truncated answer is the only one ps's lookup of `dpm.x.y.com` got.
pub(crate) fn dpm_dns_truncated() -> Capture {
    dual_stack("dpm_dns_truncated", false)
}

/// The dual-stack lookups; ps's retry over TCP only when `retry`.
fn dual_stack(name: &'static str, retry: bool) -> Capture {
    let mut cap = two_nics(name);
    arp_pair(&mut cap, ETH1, &[], dpm_backup(), ps_backup(), 0);
    primary_preamble(&mut cap, &[ip4("192.168.1.24"), ip4("10.10.12.90")]);
    aaaa_no_data(&mut cap, dpm_primary(), (51003, 0x1004), PS_NAME, ms(52));
    let both = [ip4("192.168.1.23"), ip4("10.10.12.89")];
    Lookup {
        client: ps_primary(),
        sport: 51102,
        server: dc(),
        seen: Seen::on(ETH0),
        network: "primary",
        reply: Reply::addresses(0x2002, DPM_NAME, &both, dns::DPM_TTL).truncated(),
    }
    .udp(&mut cap, ms(57));
    if retry {
        ps_resolves_dpm(&mut cap);
    }
    data(&mut cap, (dpm_backup(), ps_backup()), ETH1, "backup");
    cap
}

/// `dpm_fallback_despite_dns` with the AAAA lookup Windows makes beside the A one: 10 ms after
/// the A answer that still holds ps's backup address comes an AAAA answer with no address.
pub(crate) fn dpm_fallback_despite_dns_aaaa() -> Capture {
    let mut cap = super::fallback(
        "dpm_fallback_despite_dns_aaaa",
        &[ip4("192.168.1.24"), ip4("10.10.12.90")],
    );
    aaaa_no_data(&mut cap, dpm_primary(), (51003, 0x1005), PS_NAME, ms(4010));
    cap
}
