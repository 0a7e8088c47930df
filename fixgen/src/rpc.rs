//! Connection-oriented DCE/RPC PDUs over TCP (C706 §12.6; MS-RPCE): bind, bind_ack, request,
//! response, and the endpoint mapper's `ept_map` (C706 appendix L; tower floors as in
//! protocol-facts §7). Little-endian NDR, one fragment per PDU (stubs stay below max_xmit).

use std::net::Ipv4Addr;

use crate::payload::pattern;

/// An interface or transfer syntax: UUID and version (p_syntax_id_t).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Syntax {
    /// In NDR byte order (the first three groups little-endian).
    pub uuid: [u8; 16],
    pub major: u16,
    pub minor: u16,
}

/// A UUID in NDR byte order from its text form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub(crate) fn uuid(text: &str) -> [u8; 16] {
    let hex: Vec<u8> = text
        .split('-')
        .flat_map(|g| {
            (0..g.len())
                .step_by(2)
                .map(move |i| u8::from_str_radix(&g[i..i + 2], 16).expect("hex UUID"))
        })
        .collect();
    assert_eq!(hex.len(), 16, "{text}: a UUID has 16 bytes");
    let mut out = [0u8; 16];
    out.copy_from_slice(&hex);
    out[0..4].reverse();
    out[4..6].reverse();
    out[6..8].reverse();
    out
}

const NDR_UUID: [u8; 16] = [
    0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60,
];
/// NDR transfer syntax 8a885d04-1ceb-11c9-9fe8-08002b104860 v2.
const NDR: Syntax = Syntax {
    uuid: NDR_UUID,
    major: 2,
    minor: 0,
};

/// IRemoteSCMActivator / ISystemActivator 000001a0-0000-0000-c000-000000000046 v0.0, which
/// DCOM activation binds to on TCP 135.
pub(crate) const ACTIVATOR: Syntax = Syntax {
    uuid: [0xa0, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46],
    major: 0,
    minor: 0,
};

/// The endpoint mapper e1af8308-5d1f-11c9-91a4-08002b14a0fa v3.0.
pub(crate) fn epm() -> Syntax {
    Syntax {
        uuid: uuid("e1af8308-5d1f-11c9-91a4-08002b14a0fa"),
        major: 3,
        minor: 0,
    }
}

/// `ept_map` is operation 3 of the endpoint mapper.
pub(crate) const EPT_MAP: u16 = 3;
/// `RemoteCreateInstance` is operation 4 of IRemoteSCMActivator.
pub(crate) const REMOTE_CREATE_INSTANCE: u16 = 4;

const MAX_FRAG: u16 = 5840;

fn pdu(ptype: u8, call_id: u32, body: &[u8]) -> Vec<u8> {
    let frag_len = 16 + body.len() as u16;
    let mut v = vec![5, 0, ptype, 0x03, 0x10, 0, 0, 0]; // first+last frag, little-endian
    v.extend_from_slice(&frag_len.to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes());
    v.extend_from_slice(&call_id.to_le_bytes());
    v.extend_from_slice(body);
    v
}

fn syntax_bytes(s: &Syntax, out: &mut Vec<u8>) {
    out.extend_from_slice(&s.uuid);
    out.extend_from_slice(&s.major.to_le_bytes());
    out.extend_from_slice(&s.minor.to_le_bytes());
}

/// bind (PTYPE 11) with one presentation context: `iface` over NDR.
pub(crate) fn bind(call_id: u32, iface: &Syntax) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&MAX_FRAG.to_le_bytes()); // max_xmit_frag
    b.extend_from_slice(&MAX_FRAG.to_le_bytes()); // max_recv_frag
    b.extend_from_slice(&0u32.to_le_bytes()); // assoc_group_id
    b.extend_from_slice(&[1, 0, 0, 0]); // one context
    b.extend_from_slice(&0u16.to_le_bytes()); // context id
    b.extend_from_slice(&[1, 0]); // one transfer syntax
    syntax_bytes(iface, &mut b);
    syntax_bytes(&NDR, &mut b);
    pdu(11, call_id, &b)
}

/// bind_ack (PTYPE 12) accepting NDR; `port` is the secondary address (the server's port,
/// as text).
pub(crate) fn bind_ack(call_id: u32, port: u16) -> Vec<u8> {
    let addr = format!("{port}\0");
    let mut b = Vec::new();
    b.extend_from_slice(&MAX_FRAG.to_le_bytes());
    b.extend_from_slice(&MAX_FRAG.to_le_bytes());
    b.extend_from_slice(&0x0001_2345u32.to_le_bytes()); // assoc_group_id
    b.extend_from_slice(&(addr.len() as u16).to_le_bytes());
    b.extend_from_slice(addr.as_bytes());
    // The result list is 4-byte aligned from the start of the PDU (16-byte header).
    b.resize((16 + b.len()).next_multiple_of(4) - 16, 0);
    b.extend_from_slice(&[1, 0, 0, 0]); // one result
    b.extend_from_slice(&[0, 0, 0, 0]); // acceptance
    syntax_bytes(&NDR, &mut b);
    pdu(12, call_id, &b)
}

/// request (PTYPE 0) for `opnum` on context 0.
pub(crate) fn request(call_id: u32, opnum: u16, stub: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + stub.len());
    b.extend_from_slice(&(stub.len() as u32).to_le_bytes()); // alloc_hint
    b.extend_from_slice(&0u16.to_le_bytes()); // context id
    b.extend_from_slice(&opnum.to_le_bytes());
    b.extend_from_slice(stub);
    pdu(0, call_id, &b)
}

/// response (PTYPE 2) on context 0.
pub(crate) fn response(call_id: u32, stub: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + stub.len());
    b.extend_from_slice(&(stub.len() as u32).to_le_bytes()); // alloc_hint
    b.extend_from_slice(&0u16.to_le_bytes()); // context id
    b.extend_from_slice(&[0, 0]); // cancel count, reserved
    b.extend_from_slice(stub);
    pdu(2, call_id, &b)
}

/// DCE/RPC bind to the DCOM activator (the start of the DCOM control exchange on TCP 135).
pub(crate) fn dcerpc_bind(call_id: u32) -> Vec<u8> {
    bind(call_id, &ACTIVATOR)
}

/// The bind_ack on TCP 135.
pub(crate) fn dcerpc_bind_ack(call_id: u32) -> Vec<u8> {
    bind_ack(call_id, 135)
}

/// DCE/RPC request (`response == false`) or response with an opaque stub of `stub_len`
/// filler bytes.
pub(crate) fn dcerpc_call(call_id: u32, opnum: u16, stub_len: usize, response: bool) -> Vec<u8> {
    let stub = pattern(stub_len, opnum as u8);
    if response {
        self::response(call_id, &stub)
    } else {
        request(call_id, opnum, &stub)
    }
}

/// Tower protocol identifiers (C706 appendix I; protocol-facts §7).
const FLOOR_UUID: u8 = 0x0d;
const FLOOR_RPC_CO: u8 = 0x0b;
const FLOOR_TCP: u8 = 0x07;
const FLOOR_IP: u8 = 0x09;

fn floor(lhs: &[u8], rhs: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(lhs.len() as u16).to_le_bytes());
    out.extend_from_slice(lhs);
    out.extend_from_slice(&(rhs.len() as u16).to_le_bytes());
    out.extend_from_slice(rhs);
}

fn uuid_floor(s: &Syntax, out: &mut Vec<u8>) {
    let mut lhs = vec![FLOOR_UUID];
    lhs.extend_from_slice(&s.uuid);
    lhs.extend_from_slice(&s.major.to_le_bytes());
    floor(&lhs, &s.minor.to_le_bytes(), out);
}

/// An ncacn_ip_tcp tower: interface, NDR, connection-oriented RPC, TCP port and IPv4
/// address (both big-endian, the only big-endian fields in an NDR stub).
fn tcp_tower(iface: &Syntax, port: u16, addr: Ipv4Addr) -> Vec<u8> {
    let mut t = 5u16.to_le_bytes().to_vec(); // floor count
    uuid_floor(iface, &mut t);
    uuid_floor(&NDR, &mut t);
    floor(&[FLOOR_RPC_CO], &0u16.to_le_bytes(), &mut t);
    floor(&[FLOOR_TCP], &port.to_be_bytes(), &mut t);
    floor(&[FLOOR_IP], &addr.octets(), &mut t);
    t
}

/// twr_t: tower_length, then the tower as a conformant byte array, padded to 4.
fn twr(tower: &[u8], out: &mut Vec<u8>) {
    let len = (tower.len() as u32).to_le_bytes();
    out.extend_from_slice(&len); // tower_length
    out.extend_from_slice(&len); // conformance (max count)
    out.extend_from_slice(tower);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// `ept_map` request stub: no object, a map tower for `iface` over TCP (port 135, address
/// 0.0.0.0, as Windows sends it), a null entry handle, up to 4 towers.
pub(crate) fn ept_map_request(iface: &Syntax) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&1u32.to_le_bytes()); // object: unique pointer
    s.extend_from_slice(&[0; 16]); // nil UUID
    s.extend_from_slice(&2u32.to_le_bytes()); // map_tower: unique pointer
    twr(&tcp_tower(iface, 135, Ipv4Addr::UNSPECIFIED), &mut s);
    s.extend_from_slice(&[0; 20]); // entry_handle
    s.extend_from_slice(&4u32.to_le_bytes()); // max_towers
    s
}

/// `ept_map` reply stub announcing one endpoint: `iface` at `addr`:`port` over TCP.
pub(crate) fn ept_map_reply(iface: &Syntax, port: u16, addr: Ipv4Addr) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&[0; 20]); // entry_handle
    s.extend_from_slice(&1u32.to_le_bytes()); // num_towers
    s.extend_from_slice(&4u32.to_le_bytes()); // towers: max count
    s.extend_from_slice(&0u32.to_le_bytes()); // offset
    s.extend_from_slice(&1u32.to_le_bytes()); // actual count
    s.extend_from_slice(&3u32.to_le_bytes()); // the tower pointer
    twr(&tcp_tower(iface, port, addr), &mut s);
    s.extend_from_slice(&0u32.to_le_bytes()); // status: success
    s
}
