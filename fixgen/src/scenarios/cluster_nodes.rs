//! One adapter name on two cluster nodes, each on its own network, captured on node1 (the
//! captures of `lanecheck audit --node`): node1's `Ethernet 2` is its live-migration NIC
//! (172.16.40.0/24) and its `Ethernet 3` its CSV NIC (172.16.30.0/24), while on node2 the
//! two names are the other way round; `Ethernet` is the host access NIC on both.
//!
//! `cluster_node1_csv_on_lm_nic`: CSV redirected SMB from node2 to node1 between their CSV
//! addresses, seen on node1's `Ethernet 2` (its live-migration NIC: the link it travelled,
//! network "lm"), live migration node1 → node2 on `Ethernet 2` as it should be, and a client
//! on `Ethernet`, so node1's addresses are an endpoint of every packet and node2's of fewer.
//! `cluster_pair_csv_on_lm_nic`: the CSV SMB alone: both nodes are an endpoint of every
//! packet, so no capture host can be inferred.

use super::node;
use crate::capture::{ms, Capture, Seen, Spec};
use crate::conv::{Side, Tcp, MSS};
use crate::payload;
use crate::smb;
use crate::wire::Host;

/// The capture interfaces of node1, in interface-block order.
const NICS: [&str; 3] = ["Ethernet", "Ethernet 2", "Ethernet 3"];
/// node1's live-migration NIC (node2's CSV NIC).
const LM_NIC: u32 = 1;
/// node1's host access NIC.
const CLIENT_NIC: u32 = 0;

pub(crate) fn cluster_node1_csv_on_lm_nic() -> Capture {
    let mut cap = Capture::pcapng("cluster_node1_csv_on_lm_nic", &NICS);
    csv_on_lm_nic(&mut cap);
    live_migration(&mut cap);
    client(&mut cap);
    cap
}

pub(crate) fn cluster_pair_csv_on_lm_nic() -> Capture {
    let mut cap = Capture::pcapng("cluster_pair_csv_on_lm_nic", &NICS);
    csv_on_lm_nic(&mut cap);
    cap
}

/// node2 writes through node1 over SMB between their CSV addresses, on node1's LM NIC.
fn csv_on_lm_nic(cap: &mut Capture) {
    let spec = Spec::new(
        node("csv", 2),
        49911,
        node("csv", 1),
        445,
        Seen::on(LM_NIC),
        "lm",
        "smb-redirected",
    );
    let mut c = Tcp::open(cap, spec, ms(300));
    let mut mid = 10u64;
    for (s, writes) in [(1, 3), (2, 2)] {
        c.at(cap, ms(s * 1000 + 30));
        for _ in 0..writes {
            mid += 1;
            c.send(cap, Side::Client, &smb::smb2_write(mid, mid * 8192, 8192));
            c.send(cap, Side::Server, &smb::smb2_write_response(mid, 8192));
        }
    }
    c.at(cap, ms(2600));
    c.close(cap);
}

/// node1 migrates a VM to node2 on its LM NIC.
fn live_migration(cap: &mut Capture) {
    let spec = Spec::new(
        node("lm", 1),
        50011,
        node("lm", 2),
        6600,
        Seen::on(LM_NIC),
        "lm",
        "live-migration",
    );
    let mut c = Tcp::open(cap, spec, ms(400));
    let mut gen = payload::opaque(0x67);
    c.bursts(cap, Side::Client, &[(ms(1040), 20 * MSS)], &mut gen);
    c.at(cap, ms(2700));
    c.close(cap);
}

/// A client of node1 on its host access NIC.
fn client(cap: &mut Capture) {
    let spec = Spec::new(
        Host::new("10.20.0.200"),
        52011,
        node("hostaccess", 1),
        443,
        Seen::on(CLIENT_NIC),
        "hostaccess",
        "client",
    );
    let mut c = Tcp::open(cap, spec, ms(500));
    for s in 0..3 {
        c.at(cap, ms(s * 700 + 520));
        c.send(cap, Side::Client, &payload::tls_record(300));
        c.send(cap, Side::Server, &payload::tls_record(2800));
    }
    c.at(cap, ms(2800));
    c.close(cap);
}
