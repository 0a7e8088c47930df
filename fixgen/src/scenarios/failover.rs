//! Site failover, after the Site Recovery document "Set up IP addressing to connect after
//! failover to a secondary site": apps run in 192.168.1.0/24 at the primary site and are
//! reached from a third site (client 10.30.0.50, DNS server 10.30.0.10, 10.30.0.0/24).
//!
//! - Changed addresses: after the failover the apps live in 172.16.1.0/24 at the recovery
//!   site; DNS must answer the new addresses with low TTLs ("Use low TTL values for intranet
//!   applications") and nothing may reach the old subnet any more. Captured at the third site
//!   on one interface, `wan0`.
//! - Retained addresses (a subnet failover): 192.168.1.0/24 moves as a whole, and only the
//!   VLAN tells the sites apart (110 primary, 120 recovery) on a SPAN of a trunk port.

use super::lookup::Lookup;
use crate::capture::{ms, Capture, Seen, Spec};
use crate::conv::{Side, Tcp};
use crate::dns::{self, Reply, Rr};
use crate::payload;
use crate::wire::Host;

/// The third site's capture interface, its only one.
const WAN0: u32 = 0;
const PRIMARY_VLAN: u16 = 110;
const RECOVERY_VLAN: u16 = 120;

fn client() -> Host {
    Host::new("10.30.0.50")
}

fn resolver() -> Host {
    Host::new("10.30.0.10")
}

/// One app as the third site sees it: its name's A answer, and where the client then connects.
struct App {
    /// `<label>.apps.contoso.com`
    name: String,
    answers: Vec<Rr>,
    /// The address connected to on 443, and the network (subnet) it belongs to.
    addr: &'static str,
    network: &'static str,
}

fn fqdn(label: &str) -> String {
    format!("{label}.apps.contoso.com")
}

/// app1: a CNAME into the recovery zone (TTL 60), whose A record is in the recovery subnet
/// (TTL 300).
fn app1() -> App {
    let (name, target) = (fqdn("app1"), "app1.recovery.contoso.com");
    App {
        answers: vec![
            Rr::cname(&name, 60, target),
            Rr::a(target, 300, "172.16.1.10"),
        ],
        name,
        addr: "172.16.1.10",
        network: "recovery",
    }
}

/// An app answered with one A record.
fn app(label: &str, addr: &'static str, ttl: u32, network: &'static str) -> App {
    let name = fqdn(label);
    App {
        answers: vec![Rr::a(&name, ttl, addr)],
        name,
        addr,
        network,
    }
}

/// A client session on 443 from `start` ms: TLS records of a few KB each way in two
/// exchanges a second apart, closed two seconds after the start.
fn https(cap: &mut Capture, spec: Spec, start: i64) {
    let mut c = Tcp::open(cap, spec, ms(start));
    c.send(cap, Side::Client, &payload::tls_record(1200));
    c.send(cap, Side::Server, &payload::tls_record(2900));
    c.at(cap, ms(start + 1000));
    c.send(cap, Side::Client, &payload::tls_record(1800));
    c.send(cap, Side::Server, &payload::tls_record(3600));
    c.at(cap, ms(start + 2000));
    c.close(cap);
}

/// A lookup over UDP from the client (source port `sport`) at `at_ms`, on `wan0`.
fn lookup(cap: &mut Capture, sport: u16, reply: Reply, at_ms: i64) {
    Lookup {
        client: client(),
        sport,
        server: resolver(),
        seen: Seen::on(WAN0),
        network: "third",
        reply,
    }
    .udp(cap, ms(at_ms));
}

/// The third site's capture: the client looks up app k (k = 1, 2, …) at +k×100 ms, then each
/// name of `others`, 100 ms apart; from +1 s it opens one 443 session per app, 100 ms apart,
/// to the address the app's name answered.
fn third_site(name: &'static str, apps: &[App], others: Vec<Reply>) -> Capture {
    let mut cap = Capture::pcapng(name, &["wan0"]);
    let mut at = 0;
    for (k, app) in (0u16..).zip(apps) {
        at += 100;
        let reply = Reply::new(0x3001 + k, &app.name, dns::A, app.answers.clone());
        lookup(&mut cap, 53001 + k, reply, at);
    }
    for (k, reply) in (0u16..).zip(others) {
        at += 100;
        lookup(&mut cap, 53101 + k, reply, at);
    }
    for (k, app) in (0u16..).zip(apps) {
        let (server, seen) = (Host::new(app.addr), Seen::on(WAN0));
        let spec = Spec::new(
            client(),
            50001 + k,
            server,
            443,
            seen,
            app.network,
            "client",
        );
        https(&mut cap, spec, 1000 + 100 * i64::from(k));
    }
    cap
}

/// Changed addresses, done wrong twice: app2's name still answers its old primary-site
/// address (and the client follows it into the retired subnet), app3's TTL is an hour. Two
/// names outside `apps.contoso.com` are also looked up: `wpad.contoso.com` (NXDOMAIN) and the
/// AAAA of `portal.contoso.com` (TTL 3600).
pub(crate) fn failover_changed() -> Capture {
    let apps = [
        app1(),
        app("app2", "192.168.1.11", 300, "primary"),
        app("app3", "172.16.1.12", 3600, "recovery"),
    ];
    let portal = "portal.contoso.com";
    let others = vec![
        Reply::nxdomain(0x3101, "wpad.contoso.com", dns::A),
        Reply::new(
            0x3102,
            portal,
            dns::AAAA,
            vec![Rr::aaaa(portal, 3600, "fd00:30::80")],
        ),
    ];
    third_site("failover_changed", &apps, others)
}

/// Changed addresses, done right (the document's example): every app name answers a
/// 172.16.1.0/24 address with a TTL of at most 300 s, and the client reaches only those.
pub(crate) fn failover_seed002() -> Capture {
    let apps = [
        app1(),
        app("app2", "172.16.1.11", 300, "recovery"),
        app("app3", "172.16.1.12", 60, "recovery"),
    ];
    third_site("failover_seed002", &apps, Vec::new())
}

/// Retained addresses: the apps keep 192.168.1.0/24 and now answer from the recovery site's
/// VLAN, except one session to 192.168.1.11 still seen on the primary site's VLAN.
pub(crate) fn failover_kept_vlan() -> Capture {
    let mut cap = Capture::pcap("failover_kept_vlan");
    let sessions = [
        ("192.168.1.10", RECOVERY_VLAN, "recovery"),
        ("192.168.1.11", RECOVERY_VLAN, "recovery"),
        ("192.168.1.11", PRIMARY_VLAN, "primary"),
    ];
    for (k, (addr, vlan, network)) in (0u16..).zip(sessions) {
        let (server, seen) = (Host::new(addr), Seen::vlan(&[vlan]));
        let spec = Spec::new(client(), 50011 + k, server, 443, seen, network, "client");
        https(&mut cap, spec, 200 + 100 * i64::from(k));
    }
    cap
}
