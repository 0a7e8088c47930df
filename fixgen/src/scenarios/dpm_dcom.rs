//! `dpm_dcom_learned`: DPM control on dynamic DCE/RPC ports that a passive observer can only
//! learn from the payload: a DCOM activation reply on 135 whose OXID bindings name
//! `ps[49750]` (on every address of ps, including the backup one), and an endpoint-mapper
//! reply announcing 49755. The same learned port 49750 is also used by a host that is not a
//! DPM server, with bytes that are not DCE/RPC at all.

use std::net::Ipv4Addr;

use super::{
    dns, dpm_backup, dpm_data_closed, dpm_primary, ip4, ps_backup, ps_primary, ETH0, ETH1,
};
use crate::capture::{ms, Capture, Seen, Spec};
use crate::conv::{Side, Tcp};
use crate::dcom::{self, Activation, Exporter};
use crate::payload;
use crate::rpc::{self, Syntax};
use crate::wire::Host;

/// The DPM agent's control interface: INVENTED for the fixture (DPMRA's real interface is not
/// public, protocol-facts §7). The activation asks for it; the client binds to it on 49750.
const DPM_CONTROL_IF: &str = "5d2a4e9c-0b7f-4c31-9e86-d1f0a3b2c4e5";
/// The class the DPM server activates on ps: INVENTED.
const DPMRA_CLSID: &str = "c8d4e2f1-7a39-4b05-8e6d-2f1a0b9c8d7e";
/// The interface the endpoint mapper maps to port 49755: INVENTED.
const EPM_MAPPED_IF: &str = "3f6e1b8a-92c4-4d7e-b150-6a7c8d9e0f12";

/// The dynamic port ps's DCOM exporter listens on, and the one the endpoint mapper announces.
const DCOM_PORT: u16 = 49750;
const EPM_PORT: u16 = 49755;

fn syntax(uuid: &str) -> Syntax {
    Syntax {
        uuid: rpc::uuid(uuid),
        major: 1,
        minor: 0,
    }
}

/// A host on the primary network that is not a DPM server, and its backup address.
fn ws_backup() -> Host {
    Host::new("192.168.1.70")
}

/// (a) DCOM activation on 135: bind to the activator, RemoteCreateInstance, and the reply
/// whose OXID bindings carry the dynamic port on all three names of ps.
fn activation(cap: &mut Capture, rel: i64) {
    let spec = Spec::new(
        dpm_primary(),
        49701,
        ps_primary(),
        135,
        Seen::on(ETH0),
        "primary",
        "dpm-control",
    );
    let mut c = Tcp::open(cap, spec, rel);
    let req = dcom::create_instance_request(&Activation {
        clsid: rpc::uuid(DPMRA_CLSID),
        iid: rpc::uuid(DPM_CONTROL_IF),
        server: "PS",
        cid: rpc::uuid("7e1f0c2d-3b4a-4c5d-8e6f-708192a3b4c5"),
    });
    let resp = dcom::create_instance_response(&Exporter {
        iid: rpc::uuid(DPM_CONTROL_IF),
        oxid: 0x3c7a_51e0_9d24_6b18,
        resolver: &["PS", "10.10.12.90", "192.168.1.24"],
        bindings: &["PS[49750]", "10.10.12.90[49750]", "192.168.1.24[49750]"],
        principal: "host/ps.x.y.com",
    });
    c.send(cap, Side::Client, &rpc::bind(1, &rpc::ACTIVATOR));
    c.send(cap, Side::Server, &rpc::bind_ack(1, 135));
    c.send(
        cap,
        Side::Client,
        &rpc::request(2, rpc::REMOTE_CREATE_INSTANCE, &req),
    );
    c.send(cap, Side::Server, &rpc::response(2, &resp));
    c.close(cap);
}

/// DCE/RPC traffic on a dynamic port.
struct RpcSession {
    /// Interface bound to.
    iface: &'static str,
    /// ms after the epoch: the TCP handshake and the bind.
    start: i64,
    /// One call each: (ms after the epoch, opnum, request stub bytes, response stub bytes).
    calls: &'static [(i64, u16, usize, usize)],
}

/// A DCE/RPC client on a dynamic port: bind, then the calls; closed 300 ms after the last.
fn rpc_calls(cap: &mut Capture, spec: Spec, s: &RpcSession) {
    let (port, start, calls) = (spec.dport, s.start, s.calls);
    let mut c = Tcp::open(cap, spec, ms(start));
    c.send(cap, Side::Client, &rpc::bind(1, &syntax(s.iface)));
    c.send(cap, Side::Server, &rpc::bind_ack(1, port));
    for (call_id, &(at, opnum, req, resp)) in (2..).zip(calls) {
        c.at(cap, ms(at));
        let seed = call_id as u8;
        c.send(
            cap,
            Side::Client,
            &rpc::request(call_id, opnum, &payload::pattern(req, seed)),
        );
        c.send(
            cap,
            Side::Server,
            &rpc::response(call_id, &payload::pattern(resp, seed)),
        );
    }
    let last = calls.last().map_or(start, |c| c.0);
    c.at(cap, ms(last + 300));
    c.close(cap);
}

/// (c) The learned port used by a host that is not a DPM server: request/response pairs of
/// opaque bytes (a counter header, so the first byte is 0, not a DCE/RPC version 5).
fn not_rpc(cap: &mut Capture, rel: i64) {
    let spec = Spec::new(
        ws_backup(),
        49770,
        ps_backup(),
        DCOM_PORT,
        Seen::on(ETH1),
        "backup",
        "client",
    );
    let mut c = Tcp::open(cap, spec, rel);
    let mut gen = payload::opaque(0x70);
    for (k, (req, resp)) in [(240, 1100), (180, 2300), (320, 700)]
        .into_iter()
        .enumerate()
    {
        c.at(cap, rel + ms(100 + 1000 * k as i64));
        c.send(cap, Side::Client, &gen(req));
        c.send(cap, Side::Server, &gen(resp));
    }
    c.at(cap, rel + ms(2400));
    c.close(cap);
}

/// (e) Endpoint mapper on 135: bind to EPM v3, `ept_map` for `EPM_MAPPED_IF`, and the reply
/// with one tower: that interface at 10.10.12.90, TCP `EPM_PORT`.
fn endpoint_mapper(cap: &mut Capture, rel: i64) {
    let spec = Spec::new(
        dpm_primary(),
        49705,
        ps_primary(),
        135,
        Seen::on(ETH0),
        "primary",
        "dpm-control",
    );
    let iface = syntax(EPM_MAPPED_IF);
    let mut c = Tcp::open(cap, spec, rel);
    c.send(cap, Side::Client, &rpc::bind(1, &rpc::epm()));
    c.send(cap, Side::Server, &rpc::bind_ack(1, 135));
    let req = rpc::ept_map_request(&iface);
    c.send(cap, Side::Client, &rpc::request(2, rpc::EPT_MAP, &req));
    let reply = rpc::ept_map_reply(&iface, EPM_PORT, ip4("10.10.12.90"));
    c.send(cap, Side::Server, &rpc::response(2, &reply));
    c.close(cap);
}

/// (b) The DPM control channel on the port learned from (a), over the backup network.
fn control_on_learned_port(cap: &mut Capture) {
    let spec = Spec::new(
        dpm_backup(),
        49760,
        ps_backup(),
        DCOM_PORT,
        Seen::on(ETH1),
        "backup",
        "dpm-control",
    );
    let session = RpcSession {
        iface: DPM_CONTROL_IF,
        start: 400,
        calls: &[
            (1000, 0, 620, 3000),
            (2000, 2, 410, 5200),
            (3000, 1, 880, 1800),
        ],
    };
    rpc_calls(cap, spec, &session);
}

/// (f) The port the endpoint mapper announced in (e), on the primary network.
fn control_on_announced_port(cap: &mut Capture) {
    let spec = Spec::new(
        dpm_primary(),
        49706,
        ps_primary(),
        EPM_PORT,
        Seen::on(ETH0),
        "primary",
        "dpm-control",
    );
    let session = RpcSession {
        iface: EPM_MAPPED_IF,
        start: 4300,
        calls: &[
            (4400, 3, 300, 1400),
            (5000, 3, 260, 2600),
            (5600, 4, 120, 900),
        ],
    };
    rpc_calls(cap, spec, &session);
}

pub(crate) fn dpm_dcom_learned() -> Capture {
    let mut cap = super::two_nics("dpm_dcom_learned");
    let both: [Ipv4Addr; 2] = [ip4("192.168.1.24"), ip4("10.10.12.90")];
    let eth0 = Seen::on(ETH0);
    dns(&mut cap, eth0, dpm_primary(), 51001, 0x1001, &both, ms(50));
    activation(&mut cap, ms(100));
    control_on_learned_port(&mut cap);
    not_rpc(&mut cap, ms(1500));
    let data = Spec::new(
        dpm_backup(),
        49703,
        ps_backup(),
        5719,
        Seen::on(ETH1),
        "backup",
        "dpm",
    );
    dpm_data_closed(&mut cap, data, 1000, &[(1010, 8), (2010, 14), (3010, 5)]);
    endpoint_mapper(&mut cap, ms(4000));
    control_on_announced_port(&mut cap);
    cap
}
