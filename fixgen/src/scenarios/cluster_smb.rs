//! SMB between cluster nodes whose purpose only the TREE_CONNECT path tells:
//! `cluster_smb_shares` (a management copy to `\\CLUSTER\ClusterStorage$`, CSV redirected
//! I/O to a CSV-instance share, SMB live migration to `VMMigration$`, and a CSV stream whose
//! handshake happened before the capture began) and `cluster_fe80` (CSV SMB between IPv6
//! link-local node addresses, once on the right NIC and once on the wrong one, with neighbor
//! discovery beside it).
//!
//! In every flow with a handshake the TREE_CONNECT comes in a later one-second bin than the
//! TCP handshake, NEGOTIATE and SESSION_SETUP, so a reader that reclassifies a flow when it
//! sees the path must move bytes already counted under the provisional class.

use std::net::IpAddr;

use super::node;
use crate::capture::{ms, Capture, Seen, Spec};
use crate::conv::{Dgram, Kind, Side, Tcp};
use crate::payload;
use crate::smb::{self, Account, Ids, ShareType};
use crate::wire::Host;

/// A CSV-instance-style hidden share: INVENTED (no public source gives the real form,
/// protocol-facts §2).
const CSV_SHARE: &str = "7c1d2f3e-5d4b-4a1a-9d2c-0f1e2d3c4b5a-1073741824$";

/// One SMB connection as a scenario drives it: TCP, the next MessageId, the current ids,
/// the next file offset to write at.
struct SmbConn {
    tcp: Tcp,
    mid: u64,
    ids: Ids,
    offset: u64,
    /// Makes the GUIDs of one connection differ from the others'.
    seed: u8,
}

/// WRITEs at one time: (ms after the epoch, number of WRITEs, bytes each).
type Writes = (i64, u32, usize);

impl SmbConn {
    /// The TCP handshake at `start` ms; the session is set up by `handshake`.
    fn open(cap: &mut Capture, spec: Spec, start: i64) -> SmbConn {
        let seed = spec.sport as u8;
        SmbConn {
            tcp: Tcp::open(cap, spec, ms(start)),
            mid: 0,
            ids: Ids::NONE,
            offset: 0,
            seed,
        }
    }

    /// A connection on the 4-tuple of an earlier one (port reuse), `generation` apart.
    fn reopen(cap: &mut Capture, spec: Spec, start: i64, generation: u32) -> SmbConn {
        let seed = spec.sport as u8 ^ generation as u8;
        SmbConn {
            tcp: Tcp::reopen(cap, spec, ms(start), generation),
            mid: 0,
            ids: Ids::NONE,
            offset: 0,
            seed,
        }
    }

    /// A connection whose handshake, session setup and tree connect (`ids`) were before the
    /// capture; its MessageIds have reached 2000.
    fn midstream(cap: &mut Capture, spec: Spec, start: i64, ids: Ids) -> SmbConn {
        let seed = spec.sport as u8;
        SmbConn {
            tcp: Tcp::midstream(cap, spec, ms(start)),
            mid: 2000,
            ids,
            offset: 0x1_0000_0000,
            seed,
        }
    }

    fn exchange(&mut self, cap: &mut Capture, request: &[u8], response: &[u8]) {
        self.tcp.send(cap, Side::Client, request);
        self.tcp.send(cap, Side::Server, response);
        self.mid += 1;
    }

    /// NEGOTIATE (3.1.1 chosen) and SESSION_SETUP for `who`, which assigns `session`.
    fn handshake(&mut self, cap: &mut Capture, session: u64, who: Account) {
        self.handshake_to(cap, guid(self.seed ^ 0x80), session, who);
    }

    /// [`SmbConn::handshake`] with a server whose ServerGuid is `server_guid`.
    fn handshake_to(
        &mut self,
        cap: &mut Capture,
        server_guid: [u8; 16],
        session: u64,
        who: Account,
    ) {
        let client_guid = guid(self.seed);
        let (req, resp) = (
            smb::negotiate_request(self.mid, client_guid),
            smb::negotiate_response(self.mid, smb::DIALECT_311, server_guid),
        );
        self.exchange(cap, &req, &resp);
        let (req, resp) = (
            smb::session_setup_request(self.mid, who),
            smb::session_setup_response(self.mid, session),
        );
        self.exchange(cap, &req, &resp);
        self.ids = Ids { session, tree: 0 };
    }

    /// TREE_CONNECT to `path` at `at` ms; the server assigns `tree`, and later WRITEs use it.
    fn tree_connect(&mut self, cap: &mut Capture, at: i64, path: &str, tree: Tree) {
        self.tcp.at(cap, ms(at));
        let req = smb::tree_connect_request(self.mid, self.ids.session, path, tree.extension);
        self.ids = self.ids.with_tree(tree.id);
        let resp = smb::tree_connect_response(self.mid, self.ids, tree.share);
        self.exchange(cap, &req, &resp);
    }

    /// WRITE request/response pairs at the scheduled times, at increasing file offsets.
    fn writes(&mut self, cap: &mut Capture, schedule: &[Writes]) {
        for &(at, count, size) in schedule {
            self.tcp.at(cap, ms(at));
            for _ in 0..count {
                let req = smb::write(self.ids, self.mid, self.offset, size);
                let resp = smb::write_response(self.ids, self.mid, size);
                self.exchange(cap, &req, &resp);
                self.offset += size as u64;
            }
        }
    }

    /// Closes the connection 400 ms after the last WRITE time.
    fn close_after(mut self, cap: &mut Capture, schedule: &[Writes]) {
        let last = schedule.last().map_or(0, |w| w.0);
        self.tcp.at(cap, ms(last + 400));
        self.tcp.close(cap);
    }
}

/// What TREE_CONNECT asks for and gets.
#[derive(Clone, Copy)]
struct Tree {
    /// TreeId the server assigns.
    id: u32,
    share: ShareType,
    /// Send the 3.1.1 TREE_CONNECT request extension.
    extension: bool,
}

fn disk(id: u32) -> Tree {
    Tree {
        id,
        share: ShareType::Disk,
        extension: false,
    }
}

fn guid(seed: u8) -> [u8; 16] {
    let mut g = [0u8; 16];
    g.copy_from_slice(&payload::pattern(16, seed));
    g
}

const NODE_NAMES: [&str; 4] = ["", "NODE1", "NODE2", "NODE3"];

/// The cluster's local account, which CSV-instance SMB authenticates as (protocol-facts §2).
fn cliusr(n: u8) -> Account {
    let name = NODE_NAMES[usize::from(n)];
    Account {
        domain: name,
        user: "CLIUSR",
        workstation: name,
    }
}

fn csv_spec(from: u8, sport: u16, class: &'static str) -> Spec {
    Spec::new(
        node("csv", from),
        sport,
        node("csv", 1),
        445,
        Seen::on(0),
        "csv",
        class,
    )
}

/// (a) node2 copies a VHDX into `\\CLUSTER\ClusterStorage$`: management, not CSV I/O.
fn management_copy(cap: &mut Capture) {
    const WRITES: &[Writes] = &[
        (1010, 3, 8192),
        (2010, 1, 8192),
        (3010, 4, 8192),
        (4010, 2, 8192),
    ];
    let mut c = SmbConn::open(cap, csv_spec(2, 49911, "client"), 500);
    let admin = Account {
        domain: "X",
        user: "Administrator",
        workstation: "NODE2",
    };
    c.handshake(cap, 0x0000_3000_0000_0015, admin);
    c.tree_connect(cap, 1000, r"\\CLUSTER\ClusterStorage$", disk(1));
    c.writes(cap, WRITES);
    c.close_after(cap, WRITES);
}

/// (b) node3's redirected I/O to the coordinator node1: IPC$ first, then the CSV share.
fn redirected_io(cap: &mut Capture) {
    const WRITES: &[Writes] = &[
        (1110, 5, 4096),
        (2110, 2, 4096),
        (3110, 7, 4096),
        (4110, 3, 4096),
    ];
    let mut c = SmbConn::open(cap, csv_spec(3, 49912, "smb-redirected"), 600);
    c.handshake(cap, 0x0000_3000_0000_0019, cliusr(3));
    let ipc = Tree {
        id: 1,
        share: ShareType::Pipe,
        extension: false,
    };
    c.tree_connect(cap, 700, r"\\NODE1\IPC$", ipc);
    c.tree_connect(cap, 1100, &format!(r"\\NODE1\{CSV_SHARE}"), disk(5));
    c.writes(cap, WRITES);
    c.close_after(cap, WRITES);
}

/// (c) SMB live migration node1 → node3 on lm, tree connect with the 3.1.1 extension.
fn smb_live_migration(cap: &mut Capture) {
    const WRITES: &[Writes] = &[(2060, 2, 16384), (3060, 3, 16384), (4060, 1, 16384)];
    let spec = Spec::new(
        node("lm", 1),
        50011,
        node("lm", 3),
        445,
        Seen::on(1),
        "lm",
        "smb-live-migration",
    );
    let mut c = SmbConn::open(cap, spec, 1500);
    let machine = Account {
        domain: "X",
        user: "NODE1$",
        workstation: "NODE1",
    };
    c.handshake(cap, 0x0000_5000_0000_0021, machine);
    let tree = Tree {
        id: 9,
        share: ShareType::Disk,
        extension: true,
    };
    c.tree_connect(cap, 2050, r"\\NODE3\VMMigration$", tree);
    c.writes(cap, WRITES);
    c.close_after(cap, WRITES);
}

/// (d) node2 → node1 WRITEs on a connection set up before the capture began.
fn late_capture(cap: &mut Capture) {
    const WRITES: &[Writes] = &[(300, 2, 8192), (1300, 4, 8192), (2300, 1, 8192)];
    let ids = Ids {
        session: 0x0000_3000_0000_000d,
        tree: 0x0d,
    };
    let mut c = SmbConn::midstream(cap, csv_spec(2, 49920, "smb-redirected"), 300, ids);
    c.writes(cap, WRITES);
    c.close_after(cap, WRITES);
}

/// Encrypted messages of the session, one every ms from `at`.
fn encrypted(c: &mut SmbConn, cap: &mut Capture, at: i64, sizes: &[usize]) {
    c.tcp.at(cap, ms(at));
    for (i, &len) in sizes.iter().enumerate() {
        let seed = c.seed ^ i as u8;
        c.tcp
            .send(cap, Side::Client, &smb::transform(c.ids.session, len, seed));
        c.tcp.send(
            cap,
            Side::Server,
            &smb::transform(c.ids.session, len / 4, !seed),
        );
    }
}

/// Session ids repeat across servers; a session is its server's. A workstation's session
/// with node3 and an encrypted CSV session node2 → node1 share the id 0x0000040000000005;
/// node3 → node1 opens a session on csv whose tree connect is a management copy to
/// `\\CLUSTER\ClusterStorage$`, and a second channel of it to node1's host-access address
/// (same ServerGuid, SMB Multichannel) binds to the session and writes, signed, in clear,
/// with no tree connect of its own.
pub(crate) fn cluster_smb_sessions() -> Capture {
    const SHARED_ID: u64 = 0x0000_0400_0000_0005;
    const MULTI: u64 = 0x0000_1000_0000_0041;
    const WRITES: &[Writes] = &[(1500, 4, 8192), (2500, 2, 8192)];
    let (guid1, guid3) = (guid(0x11), guid(0x33));
    let mut cap = Capture::pcapng("cluster_smb_sessions", &["csv", "hostaccess"]);
    let admin = Account {
        domain: "X",
        user: "Administrator",
        workstation: "WS1",
    };
    let ws = Spec::new(
        Host::new("10.20.0.50"),
        50001,
        node("hostaccess", 3),
        445,
        Seen::on(1),
        "hostaccess",
        "client",
    );
    let mut a = SmbConn::open(&mut cap, ws, 100);
    a.handshake_to(&mut cap, guid3, SHARED_ID, admin);
    a.tree_connect(&mut cap, 200, r"\\NODE3\ClusterStorage$", disk(1));
    a.close_after(&mut cap, &[(300, 0, 0)]);
    let mut b = SmbConn::open(&mut cap, csv_spec(2, 50002, "smb-redirected"), 1000);
    b.handshake_to(&mut cap, guid1, SHARED_ID, cliusr(2));
    encrypted(&mut b, &mut cap, 1100, &[1400, 1400, 900]);
    b.close_after(&mut cap, &[(1200, 0, 0)]);
    let mut c = SmbConn::open(&mut cap, csv_spec(3, 50003, "client"), 1200);
    c.handshake_to(&mut cap, guid1, MULTI, admin);
    c.tree_connect(&mut cap, 1300, r"\\CLUSTER\ClusterStorage$", disk(7));
    c.writes(&mut cap, WRITES);
    let spec = Spec::new(
        node("hostaccess", 3),
        50004,
        node("hostaccess", 1),
        445,
        Seen::on(1),
        "hostaccess",
        "client",
    );
    let mut d = SmbConn::open(&mut cap, spec, 1400);
    d.handshake_to(&mut cap, guid1, MULTI, admin);
    d.ids = d.ids.with_tree(7);
    d.writes(&mut cap, WRITES);
    c.close_after(&mut cap, WRITES);
    d.close_after(&mut cap, WRITES);
    cap
}

/// node2 copies into `\\CLUSTER\ClusterStorage$` from port 49930 (client), closes, and
/// 20 s later opens CSV redirected I/O from the same port to the same node1 (Windows
/// reuses ephemeral ports): two flows of one 4-tuple, each with its own class.
pub(crate) fn cluster_port_reuse() -> Capture {
    const COPY: &[Writes] = &[(1010, 3, 8192)];
    const CSV: &[Writes] = &[(21_010, 4, 4096), (22_010, 2, 4096)];
    let mut cap = Capture::pcapng("cluster_port_reuse", &["csv"]);
    let mut c = SmbConn::open(&mut cap, csv_spec(2, 49930, "client"), 500);
    let admin = Account {
        domain: "X",
        user: "Administrator",
        workstation: "NODE2",
    };
    c.handshake(&mut cap, 0x0000_3000_0000_0031, admin);
    c.tree_connect(&mut cap, 1000, r"\\CLUSTER\ClusterStorage$", disk(1));
    c.writes(&mut cap, COPY);
    c.close_after(&mut cap, COPY);
    let mut d = SmbConn::reopen(&mut cap, csv_spec(2, 49930, "smb-redirected"), 20_500, 1);
    d.handshake(&mut cap, 0x0000_3000_0000_0035, cliusr(2));
    d.tree_connect(&mut cap, 21_000, &format!(r"\\NODE1\{CSV_SHARE}"), disk(5));
    d.writes(&mut cap, CSV);
    d.close_after(&mut cap, CSV);
    cap
}

pub(crate) fn cluster_smb_shares() -> Capture {
    let mut cap = Capture::pcapng("cluster_smb_shares", &["csv", "lm"]);
    management_copy(&mut cap);
    redirected_io(&mut cap);
    smb_live_migration(&mut cap);
    late_capture(&mut cap);
    cap
}

/// Node `n`'s IPv6 link-local address (fe80::1n, as the IPv4 host parts).
fn fe80(n: u8) -> Host {
    Host::new(&format!("fe80::{}", 10 + n))
}

/// One node's traffic to node1 over link-local addresses on one NIC.
struct LinkLocal {
    /// The node (2 or 3).
    from: u8,
    iface: u32,
    network: &'static str,
    /// When it checks node1's reachability (neighbor solicitation, ms after the epoch).
    nd: [i64; 2],
    /// CSV redirected WRITEs; the tree connect comes at the first time.
    writes: &'static [Writes],
}

/// Neighbor unreachability detection: the node solicits node1 by unicast, node1 advertises.
fn neighbors(cap: &mut Capture, l: &LinkLocal) {
    let (a, b) = (fe80(l.from), fe80(1));
    let IpAddr::V6(target) = b.ip else {
        unreachable!("fe80 is IPv6")
    };
    let spec = Spec::new(a, 0, b, 0, Seen::on(l.iface), l.network, "link-local");
    let mut d = Dgram::icmp(cap, spec, Kind::Neighbor);
    for rel in l.nd.map(ms) {
        d.send(
            cap,
            rel,
            Side::Client,
            &payload::neighbor(target, false, a.mac),
        );
        d.send(
            cap,
            rel + ms(1),
            Side::Server,
            &payload::neighbor(target, true, b.mac),
        );
    }
}

/// CSV redirected SMB from the node to node1.
fn link_local_smb(cap: &mut Capture, l: &LinkLocal) {
    let spec = Spec::new(
        fe80(l.from),
        49940 + u16::from(l.from),
        fe80(1),
        445,
        Seen::on(l.iface),
        l.network,
        "smb-redirected",
    );
    let mut c = SmbConn::open(cap, spec, 200 + 100 * i64::from(l.from));
    c.handshake(
        cap,
        0x0000_7000_0000_0001 + u64::from(l.from),
        cliusr(l.from),
    );
    let path = format!(r"\\NODE1\{CSV_SHARE}");
    // The tree connect just before the first WRITEs, in the same second.
    c.tree_connect(cap, l.writes[0].0 - 10, &path, disk(3));
    c.writes(cap, l.writes);
    c.close_after(cap, l.writes);
}

pub(crate) fn cluster_fe80() -> Capture {
    let mut cap = Capture::pcapng("cluster_fe80", &["csv", "hostaccess"]);
    let links = [
        // node2 reaches node1's link-local address through the host-access NIC (the leak) ...
        LinkLocal {
            from: 2,
            iface: 1,
            network: "hostaccess",
            nd: [100, 2600],
            writes: &[(1010, 3, 4096), (2010, 6, 4096), (3010, 2, 4096)],
        },
        // ... node3 through the CSV NIC.
        LinkLocal {
            from: 3,
            iface: 0,
            network: "csv",
            nd: [150, 2650],
            writes: &[(1060, 2, 8192), (2060, 1, 8192), (3060, 3, 8192)],
        },
    ];
    for l in &links {
        neighbors(&mut cap, l);
        link_local_smb(&mut cap, l);
    }
    cap
}
