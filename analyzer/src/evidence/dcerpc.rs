//! DCE/RPC, connection-oriented, directly over TCP (`ncacn_ip_tcp`): what
//! a passive observer learns about RPC interfaces and their dynamic ports.
//!
//! * **Binds.** Each presentation context of a `bind` or `alter_context`
//!   (C706 §12.6.4.1, §12.6.4.3) is a [`Fact::RpcBind`]. Context ids are
//!   remembered so that a request's `p_cont_id` names its interface.
//! * **Endpoint-mapper replies.** An `ept_map` reply (C706 Appendix O,
//!   opnum 3) carries protocol towers (C706 Appendix L) whose TCP or UDP
//!   floor announces a dynamic port: [`Fact::RpcEndpoint`].
//! * **DCOM replies.** `IRemoteSCMActivator` RemoteGetClassObject (opnum 3)
//!   and RemoteCreateInstance (opnum 4), and `IObjectExporter` ResolveOxid
//!   (opnum 0) and ResolveOxid2 (opnum 4) replies carry DUALSTRINGARRAYs
//!   (MS-DCOM §2.2.19) whose string bindings name the object exporter,
//!   `host[port]`: [`Fact::DcomBinding`].
//!
//! Each direction is cut into fragments by a [`Framer`] reading the
//! `frag_length` of the 16-byte common header (C706 §12.6.3.1). A fragment
//! is at most 65 535 bytes, so keeping whole fragments bounds that buffer.
//! A request is tied to its reply by `call_id`; only calls whose reply is
//! read are remembered (at most 64), and a reply's stub is reassembled
//! across fragments up to 64 KiB. A call protected at authentication level
//! 6 (packet privacy, MS-RPCE §2.2.1.1.8) is skipped: its stub is
//! encrypted. Integers and UUIDs are read in the byte order of the PDU's
//! data representation (C706 §14.1: `drep[0]` high nibble 1 =
//! little-endian, 0 = big-endian, where a UUID is big-endian too), except
//! tower octets, which are little-endian by definition (C706 Appendix L).
//! A context whose bind_ack accepted NDR64 (MS-RPCE §2.2.5) has its
//! replies read with 8-byte sizes and pointers. PDU types play the same
//! role whichever way they travel, so a stream whose initiator was guessed
//! wrong (joined mid-way) still reads; contexts bound before the capture
//! began are unknown, and calls on them are not followed.
//!
//! State per flow: two framer buffers of at most one fragment each, one
//! reply stub (64 KiB), 64 contexts and 64 calls.
//!
//! The parsing is written by hand from byte slices: the `dcerpc` crate is
//! an RPC *client* stack (tokio transports, NTLMSSP, SMB) and no maintained
//! crate dissects DCE/RPC passively from a partial stream. RPC over SMB
//! named pipes (`ncacn_np`) is not read here.

use std::cell::Cell;
use std::collections::VecDeque;
use std::net::Ipv4Addr;

use super::framer::{Framer, Header};
use super::{Dir, Dissector, Fact, GiveUp, Start, Uuid};

/// Largest fragment: `frag_length` is a u16 (C706 §12.6.3.1).
const MAX_FRAG: usize = u16::MAX as usize;
/// Presentation contexts remembered per connection.
const MAX_CONTEXTS: usize = 64;
/// Calls awaiting a reply that will be read.
const MAX_CALLS: usize = 64;
/// Bytes of one reply stub reassembled across fragments.
const MAX_STUB: usize = 64 * 1024;
/// Towers read from one `ept_map` reply.
const MAX_TOWERS: usize = 64;
/// String bindings taken from one DCOM reply.
const MAX_BINDINGS: usize = 64;
/// DUALSTRINGARRAY words examined per stub byte, over all candidates: keeps
/// the scan linear whatever a hostile stub holds.
const SCAN_WORDS_PER_BYTE: usize = 8;

/// PTYPE values (C706 §12.6.4).
mod ptype {
    pub const REQUEST: u8 = 0;
    pub const RESPONSE: u8 = 2;
    pub const FAULT: u8 = 3;
    pub const BIND: u8 = 11;
    pub const BIND_ACK: u8 = 12;
    pub const BIND_NAK: u8 = 13;
    pub const ALTER_CONTEXT: u8 = 14;
    pub const ALTER_CONTEXT_RESP: u8 = 15;
    /// The highest type C706 defines (orphaned).
    pub const LAST: u8 = 19;
}

/// `pfc_flags` bits (C706 §12.6.3.1).
const PFC_FIRST_FRAG: u8 = 0x01;
const PFC_LAST_FRAG: u8 = 0x02;

/// `auth_level` of packet privacy: the stub is encrypted (MS-RPCE §2.2.1.1.8).
const AUTH_LEVEL_PKT_PRIVACY: u8 = 6;

/// The endpoint mapper (C706 Appendix O).
const EPM: Uuid = Uuid::from_u128(0xe1af8308_5d1f_11c9_91a4_08002b14a0fa);
/// `IRemoteSCMActivator` / ISystemActivator (MS-DCOM §1.9).
const SCM_ACTIVATOR: Uuid = Uuid::from_u128(0x000001a0_0000_0000_c000_000000000046);
/// `IObjectExporter` (MS-DCOM §1.9).
const OBJECT_EXPORTER: Uuid = Uuid::from_u128(0x99fcfec4_5260_101b_bbcb_00aa0021347a);
/// The NDR64 transfer syntax (MS-RPCE §2.2.5).
const NDR64: Uuid = Uuid::from_u128(0x71710533_beba_4937_8319_b5dbef9ccc36);

/// The give-up reason when the framer rejects a header for no recorded cause.
const BAD_HEADER: &str = "not DCE/RPC: bad PDU header";

/// A bounds-checked cursor over bytes in one byte order; every read past
/// the end is `None`.
#[derive(Clone, Copy, Debug)]
struct Ndr<'a> {
    b: &'a [u8],
    pos: usize,
    le: bool,
}

impl<'a> Ndr<'a> {
    fn at(b: &'a [u8], pos: usize, le: bool) -> Self {
        Ndr { b, pos, le }
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.bytes(n).map(|_| ())
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Option<u16> {
        let a = self.array()?;
        Some(if self.le {
            u16::from_le_bytes(a)
        } else {
            u16::from_be_bytes(a)
        })
    }

    fn u32(&mut self) -> Option<u32> {
        let a = self.array()?;
        Some(if self.le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    }

    /// A size or pointer: u32, or u64 aligned to 8 in NDR64 (MS-RPCE §2.2.5).
    fn count(&mut self, ndr64: bool) -> Option<u64> {
        if !ndr64 {
            self.align(4);
            return self.u32().map(u64::from);
        }
        self.align(8);
        let a = self.array()?;
        Some(if self.le {
            u64::from_le_bytes(a)
        } else {
            u64::from_be_bytes(a)
        })
    }

    /// A UUID: DCE mixed-endian when little-endian, plain big-endian otherwise.
    fn uuid(&mut self) -> Option<Uuid> {
        let a = self.array()?;
        Some(if self.le {
            Uuid::from_bytes_le(a)
        } else {
            Uuid::from_bytes(a)
        })
    }

    /// NDR alignment, relative to the start of the bytes (C706 §14.2.2).
    fn align(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n - 1) / n * n;
    }
}

/// Reads a fragment's length from the first bytes of its common header
/// (C706 §12.6.3.1: rpc_vers u8 = 5, rpc_vers_minor u8, PTYPE u8,
/// pfc_flags u8, drep[4], frag_length u16, auth_length u16, call_id u32),
/// checking each field as soon as it is there.
fn frag_len(b: &[u8]) -> Result<Header, &'static str> {
    let byte = |i: usize| b.get(i).copied();
    if byte(0).is_some_and(|v| v != 5) {
        return Err("not DCE/RPC: rpc_vers is not 5");
    }
    if byte(1).is_some_and(|v| v > 1) {
        return Err("not DCE/RPC: rpc_vers_minor is not 0 or 1");
    }
    if byte(2).is_some_and(|v| v > ptype::LAST) {
        return Err("not DCE/RPC: unknown PTYPE");
    }
    // drep[0]: integers in the high nibble, characters (ASCII/EBCDIC) in
    // the low one, each 0 or 1 (C706 §14.1).
    if byte(4).is_some_and(|v| v & 0xee != 0) {
        return Err("not DCE/RPC: bad data representation");
    }
    let (Some(drep), Some(_)) = (byte(4), byte(9)) else {
        return Ok(Header::NeedMore);
    };
    match Ndr::at(b, 8, drep >> 4 == 1).u16() {
        Some(len) if len >= 16 => Ok(Header::Len(len.into())),
        _ => Err("not DCE/RPC: frag_length below the header size"),
    }
}

/// One whole fragment, its header read.
#[derive(Clone, Copy, Debug)]
struct Pdu<'a> {
    ptype: u8,
    flags: u8,
    le: bool,
    call_id: u32,
    /// After the common header, up to the auth padding (or the end).
    body: &'a [u8],
    /// `auth_level` of the sec_trailer when there is an auth verifier.
    auth_level: Option<u8>,
}

impl<'a> Pdu<'a> {
    /// Reads a fragment whose header [`frag_len`] accepted.
    fn parse(rec: &'a [u8]) -> Result<Self, &'static str> {
        let le = rec.get(4).is_some_and(|d| d >> 4 == 1);
        let (Some(&ptype), Some(&flags)) = (rec.get(2), rec.get(3)) else {
            return Err(BAD_HEADER);
        };
        let mut r = Ndr::at(rec, 8, le);
        let (Some(frag_len), Some(auth_len), Some(call_id)) = (r.u16(), r.u16(), r.u32()) else {
            return Err(BAD_HEADER);
        };
        let rec = rec.get(..usize::from(frag_len)).ok_or(BAD_HEADER)?;
        let (end, auth_level) = if auth_len == 0 {
            (rec.len(), None)
        } else {
            // MS-RPCE §2.2.2.11: auth_pad_length pad bytes, the 8-byte
            // sec_trailer (auth_type, auth_level, auth_pad_length,
            // auth_reserved u8, auth_context_id u32), then auth_length
            // bytes of credentials end the PDU.
            let trailer = rec
                .len()
                .checked_sub(usize::from(auth_len) + 8)
                .filter(|&t| t >= 16)
                .ok_or("not DCE/RPC: auth_length exceeds the fragment")?;
            let [_, level, pad] = Ndr::at(rec, trailer, le).array().ok_or(BAD_HEADER)?;
            (trailer.saturating_sub(pad.into()).max(16), Some(level))
        };
        Ok(Pdu {
            ptype,
            flags,
            le,
            call_id,
            body: rec.get(16..end).unwrap_or_default(),
            auth_level,
        })
    }
}

/// DCE/RPC over TCP.
#[derive(Debug)]
pub struct DceRpc {
    /// To server, to client.
    framers: [Framer; 2],
    conn: Conn,
}

impl DceRpc {
    /// A dissector for a flow whose directions (to server, to client) start as given.
    pub fn new(start: [Start; 2]) -> Self {
        DceRpc {
            framers: start.map(|s| Framer::new(s, MAX_FRAG)),
            conn: Conn::default(),
        }
    }

    /// True when `payload` (the first payload of a TCP stream) starts like a
    /// DCE/RPC PDU: Zeek's DPD signature `^\x05[\x00\x01][\x00-\x13]\x03`.
    pub fn signature(payload: &[u8]) -> bool {
        matches!(payload, [5, 0 | 1, 0..=0x13, 3, ..])
    }
}

impl Dissector for DceRpc {
    fn feed(
        &mut self,
        dir: Dir,
        data: &[u8],
        segment_start: bool,
        out: &mut Vec<Fact>,
    ) -> Result<(), GiveUp> {
        // The framer has one give-up reason for a bad header; keep the
        // precise one the header check gave.
        let why = Cell::new(BAD_HEADER);
        let header = |b: &[u8]| {
            frag_len(b).unwrap_or_else(|e| {
                why.set(e);
                Header::Bad
            })
        };
        let conn = &mut self.conn;
        self.framers[dir.index()]
            .feed(
                data,
                segment_start,
                header,
                |pdu, _| conn.pdu(pdu, out),
                GiveUp(BAD_HEADER),
            )
            .map_err(|e| match e {
                GiveUp(BAD_HEADER) => GiveUp(why.get()),
                e => e,
            })
    }

    fn gap(&mut self, dir: Dir, missing: usize, out: &mut Vec<Fact>) -> Result<(), GiveUp> {
        let conn = &mut self.conn;
        self.framers[dir.index()].skip(
            missing,
            |pdu, _| conn.pdu(pdu, out),
            GiveUp(super::SNAPLEN_CUT),
        )
    }
}

/// A reply worth reading.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    /// `ept_map`: towers.
    EptMap,
    /// A DCOM activation or OXID resolution: DUALSTRINGARRAYs.
    Dcom,
}

impl Op {
    fn of(interface: Uuid, opnum: u16) -> Option<Op> {
        match (interface, opnum) {
            (EPM, 3) => Some(Op::EptMap),
            (SCM_ACTIVATOR, 3 | 4) | (OBJECT_EXPORTER, 0 | 4) => Some(Op::Dcom),
            _ => None,
        }
    }
}

/// A presentation context of the association.
#[derive(Clone, Copy, Debug)]
struct Context {
    id: u16,
    interface: Uuid,
    /// The bind_ack accepted the NDR64 transfer syntax.
    ndr64: bool,
}

/// A call whose reply will be read.
#[derive(Clone, Copy, Debug)]
struct Call {
    call_id: u32,
    op: Op,
    ndr64: bool,
}

/// A reply stub being reassembled.
#[derive(Debug)]
struct Stub {
    call: Call,
    le: bool,
    bytes: Vec<u8>,
}

/// What one connection's PDUs have set up.
#[derive(Debug, Default)]
struct Conn {
    contexts: Vec<Context>,
    /// Context ids of the last bind/alter_context, in order: the result
    /// list of its ack follows that order (C706 §12.6.4.4).
    offered: Vec<u16>,
    /// Oldest first.
    calls: VecDeque<Call>,
    stub: Option<Stub>,
}

impl Conn {
    fn pdu(&mut self, rec: &[u8], out: &mut Vec<Fact>) -> Result<(), GiveUp> {
        let pdu = Pdu::parse(rec).map_err(GiveUp)?;
        match pdu.ptype {
            ptype::BIND | ptype::ALTER_CONTEXT => self.bind(&pdu, out),
            ptype::BIND_ACK | ptype::ALTER_CONTEXT_RESP => self.bind_ack(&pdu),
            ptype::BIND_NAK => {
                for id in std::mem::take(&mut self.offered) {
                    self.contexts.retain(|c| c.id != id);
                }
            }
            ptype::REQUEST => self.request(&pdu),
            ptype::RESPONSE => self.response(&pdu, out),
            ptype::FAULT => {
                self.take_call(pdu.call_id);
            }
            _ => {}
        }
        Ok(())
    }

    /// bind / alter_context (C706 §12.6.4.1, §12.6.4.3): max_xmit_frag
    /// u16, max_recv_frag u16, assoc_group_id u32, then p_cont_list_t:
    /// n_context_elem u8, reserved u8, reserved2 u16, and n_context_elem
    /// elements (see [`context_elem`]).
    fn bind(&mut self, pdu: &Pdu, out: &mut Vec<Fact>) {
        self.offered.clear();
        let mut r = Ndr::at(pdu.body, 0, pdu.le);
        let Some(n) = r.skip(8).and_then(|()| r.u8()) else {
            return;
        };
        let _ = r.skip(3);
        let first = out.len();
        for _ in 0..n {
            let Some((id, interface, version, ndr64)) = context_elem(&mut r) else {
                break;
            };
            self.offer(Context {
                id,
                interface,
                ndr64,
            });
            let fact = Fact::RpcBind { interface, version };
            if !out[first..].contains(&fact) {
                out.push(fact);
            }
        }
    }

    fn offer(&mut self, ctx: Context) {
        if let Some(c) = self.contexts.iter_mut().find(|c| c.id == ctx.id) {
            *c = ctx;
        } else if self.contexts.len() < MAX_CONTEXTS {
            self.contexts.push(ctx);
        }
        if self.offered.len() < MAX_CONTEXTS {
            self.offered.push(ctx.id);
        }
    }

    /// bind_ack / alter_context_resp (C706 §12.6.4.2, §12.6.4.4): a
    /// context whose result is not acceptance (0) is dropped; an accepted
    /// one notes whether its transfer syntax is NDR64.
    fn bind_ack(&mut self, pdu: &Pdu) {
        let offered = std::mem::take(&mut self.offered);
        let mut r = Ndr::at(pdu.body, 0, pdu.le);
        let Some(n) = result_count(&mut r) else {
            return;
        };
        for &id in offered.iter().take(n.into()) {
            let Some((result, syntax)) = result_elem(&mut r) else {
                break;
            };
            if result == 0 {
                if let Some(c) = self.contexts.iter_mut().find(|c| c.id == id) {
                    c.ndr64 = syntax == NDR64;
                }
            } else {
                self.contexts.retain(|c| c.id != id);
            }
        }
    }

    /// request (C706 §12.6.4.9): alloc_hint u32, p_cont_id u16, opnum u16
    /// (then an object UUID when PFC_OBJECT_UUID is set, then the stub).
    /// The first fragment names the call.
    fn request(&mut self, pdu: &Pdu) {
        if pdu.flags & PFC_FIRST_FRAG == 0 {
            return;
        }
        let mut r = Ndr::at(pdu.body, 4, pdu.le);
        let Some((ctx, opnum)) = r.u16().zip(r.u16()) else {
            return;
        };
        self.take_call(pdu.call_id);
        let Some(c) = self.contexts.iter().find(|c| c.id == ctx) else {
            return;
        };
        if let Some(op) = Op::of(c.interface, opnum) {
            if self.calls.len() == MAX_CALLS {
                self.calls.pop_front();
            }
            self.calls.push_back(Call {
                call_id: pdu.call_id,
                op,
                ndr64: c.ndr64,
            });
        }
    }

    /// response (C706 §12.6.4.10): alloc_hint u32, p_cont_id u16,
    /// cancel_count u8, reserved u8, then the stub, gathered from the
    /// FIRST_FRAG fragment to the LAST_FRAG one.
    fn response(&mut self, pdu: &Pdu, out: &mut Vec<Fact>) {
        if pdu.flags & PFC_FIRST_FRAG != 0 {
            self.stub = self.take_call(pdu.call_id).map(|call| Stub {
                call,
                le: pdu.le,
                bytes: Vec::new(),
            });
        }
        let Some(stub) = self.stub.as_mut().filter(|s| s.call.call_id == pdu.call_id) else {
            return;
        };
        let part = pdu.body.get(8..).unwrap_or_default();
        if pdu.auth_level == Some(AUTH_LEVEL_PKT_PRIVACY)
            || stub.bytes.len() + part.len() > MAX_STUB
        {
            self.stub = None;
            return;
        }
        stub.bytes.extend_from_slice(part);
        if pdu.flags & PFC_LAST_FRAG != 0 {
            if let Some(s) = self.stub.take() {
                s.read(out);
            }
        }
    }

    fn take_call(&mut self, call_id: u32) -> Option<Call> {
        let i = self.calls.iter().position(|c| c.call_id == call_id)?;
        self.calls.remove(i)
    }
}

/// p_cont_elem_t (C706 §12.6.3.1): p_cont_id u16, n_transfer_syn u8,
/// reserved u8, abstract_syntax (if_uuid, if_version u32), then
/// n_transfer_syn transfer syntaxes (uuid, version u32). Returns the
/// context id, interface, major version (the low 16 bits of if_version,
/// as Wireshark reads it) and whether NDR64 is the only transfer syntax.
fn context_elem(r: &mut Ndr) -> Option<(u16, Uuid, u16, bool)> {
    let id = r.u16()?;
    let n_transfer = r.u8()?;
    r.skip(1)?;
    let interface = r.uuid()?;
    let version = (r.u32()? & 0xffff) as u16;
    let mut ndr64 = n_transfer > 0;
    for _ in 0..n_transfer {
        ndr64 &= r.uuid()? == NDR64;
        r.skip(4)?;
    }
    Some((id, interface, version, ndr64))
}

/// The start of bind_ack's result list: max_xmit_frag, max_recv_frag,
/// assoc_group_id, sec_addr (port_any_t: length u16, that many bytes),
/// align 4, then n_results u8, reserved u8, reserved2 u16 (C706 §12.6.4.4).
fn result_count(r: &mut Ndr) -> Option<u8> {
    r.skip(8)?;
    let sec_addr = r.u16()?;
    r.skip(sec_addr.into())?;
    // The body starts at PDU offset 16, so alignment is the same.
    r.align(4);
    let n = r.u8()?;
    r.skip(3)?;
    Some(n)
}

/// p_result_t: result u16, reason u16, transfer_syntax (uuid, version).
fn result_elem(r: &mut Ndr) -> Option<(u16, Uuid)> {
    let result = r.u16()?;
    r.skip(2)?;
    let syntax = r.uuid()?;
    r.skip(4)?;
    Some((result, syntax))
}

impl Stub {
    fn read(&self, out: &mut Vec<Fact>) {
        match self.call.op {
            Op::EptMap => {
                ept_map_reply(&self.bytes, self.le, self.call.ndr64, out);
            }
            Op::Dcom => dcom_reply(&self.bytes, self.le, self.call.ndr64, out),
        }
    }
}

/// ept_map reply (C706 Appendix O, opnum 3): entry_handle (context handle,
/// 20 bytes), num_towers u32, then `towers`: a conformant-varying array of
/// tower pointers (max_count, offset, actual_count, then actual_count
/// referent ids), each non-null one followed by its twr_t (conformant
/// max_count, tower_length u32, tower octets), then status u32. Sizes and
/// pointers are u32, or u64 aligned to 8 in NDR64.
fn ept_map_reply(stub: &[u8], le: bool, ndr64: bool, out: &mut Vec<Fact>) -> Option<()> {
    let mut r = Ndr::at(stub, 24, le);
    let _max_count = r.count(ndr64)?;
    let _offset = r.count(ndr64)?;
    let actual = r.count(ndr64)?;
    let mut towers = 0usize;
    // Each referent takes 4 or 8 bytes: the stub's length bounds the loop.
    for _ in 0..actual {
        if r.count(ndr64)? != 0 {
            towers += 1;
        }
    }
    for _ in 0..towers.min(MAX_TOWERS) {
        let _conformance = r.count(ndr64)?;
        let len = r.u32()?;
        tower(r.bytes(usize::try_from(len).ok()?)?, out);
    }
    Some(())
}

/// A protocol tower (C706 Appendix L, little-endian whatever the drep):
/// floor_count u16, then floors of lhs_len u16, lhs (protocol id u8, then
/// its data), rhs_len u16, rhs. Floor 1 is the interface (0x0d: UUID,
/// version u16); a TCP (0x07) or UDP (0x08) floor holds a big-endian port,
/// an IP floor (0x09) a big-endian IPv4 address (C706 Appendix I).
fn tower(octets: &[u8], out: &mut Vec<Fact>) -> Option<()> {
    let mut r = Ndr::at(octets, 0, true);
    let floors = r.u16()?;
    let (mut interface, mut tcp, mut udp, mut addr) = (None, None, None, None);
    for i in 0..floors {
        let lhs_len = r.u16()?;
        let lhs = r.bytes(lhs_len.into())?;
        let rhs_len = r.u16()?;
        let rhs = r.bytes(rhs_len.into())?;
        match lhs.first() {
            Some(0x0d) if i == 0 => interface = Some(Ndr::at(lhs, 1, true).uuid()?),
            Some(0x07) => tcp = Some(u16::from_be_bytes(rhs.try_into().ok()?)),
            Some(0x08) => udp = Some(u16::from_be_bytes(rhs.try_into().ok()?)),
            Some(0x09) => addr = Some(Ipv4Addr::from(<[u8; 4]>::try_from(rhs).ok()?)),
            _ => {}
        }
    }
    let interface = interface?;
    for (proto, port) in [(6, tcp), (17, udp)] {
        if let Some(port) = port {
            out.push(Fact::RpcEndpoint {
                interface,
                proto,
                port,
                addr,
            });
        }
    }
    Some(())
}

/// Emits the string bindings of every DUALSTRINGARRAY in a DCOM reply
/// stub, deduplicated.
///
/// ResolveOxid/ResolveOxid2 return theirs as an NDR parameter, but
/// RemoteCreateInstance and RemoteGetClassObject bury theirs in an
/// activation-properties blob (MS-DCOM §2.2.22: ScmReplyInfoData →
/// customREMOTE_REPLY_SCM_INFO.pdsaOxidBindings, and the OBJREFs of
/// PropsOutInfo) that is type-serialized with its own alignment base
/// (MS-RPCE §2.2.6). Rather than walk every structure, the stub is
/// scanned, and an array is taken only behind one of two anchors:
///
/// * NDR-marshalled (MS-DCOM §2.2.19.2: `pdsaOxidBindings`,
///   `ppdsaOxidBindings`): its conformant max count (u32, u64 in NDR64)
///   sits immediately before it and equals its wNumEntries;
/// * inside an OBJREF (MS-DCOM §2.2.18, a byte array in little-endian
///   order): the signature `MEOW` with flags 1 (OBJREF_STANDARD,
///   §2.2.18.4), 2 (OBJREF_HANDLER, §2.2.18.5) or 8 (OBJREF_EXTENDED,
///   §2.2.18.7, with its 0x4E535956 signature) puts `saResAddr` at a fixed
///   offset.
///
/// Behind the anchor, [`dual_string_array`] must accept the whole array:
/// 4 ≤ wSecurityOffset < wNumEntries, the array inside the stub, every
/// string binding a one-byte tower id, a non-empty UTF-16 string without
/// control characters and its NUL, the list's 0 word exactly at
/// wSecurityOffset − 1, then security bindings that reach their own 0
/// word, and a last word of 0.
///
/// Why this does not invent bindings: an anchor is already unlikely in
/// binary data (a 32-bit count whose high half is zero and whose low half
/// repeats the next 16 bits, or a 4-byte magic with a valid flags word),
/// and what follows must then parse as text-like UTF-16 whose lengths,
/// NULs and terminators all land where the two header words say. OXIDs,
/// IPIDs, GUIDs and counts break that within a few words; UTF-16 names
/// elsewhere in the stub (principal names, class names) carry no header
/// words that agree with them. Only the four reply kinds that carry
/// bindings are scanned, and a well-formed array found there is one the
/// server sent. The work is bounded (a word budget per stub byte, at most
/// 64 bindings per reply).
fn dcom_reply(stub: &[u8], le: bool, ndr64: bool, out: &mut Vec<Fact>) {
    let first = out.len();
    let mut budget = stub.len().saturating_mul(SCAN_WORDS_PER_BYTE);
    for i in 0..stub.len() {
        let anchors = [ndr_array_at(stub, i, le, ndr64), objref_array_at(stub, i)];
        for (at, le) in anchors.into_iter().flatten() {
            let Some(bindings) = dual_string_array(stub, at, le, &mut budget) else {
                continue;
            };
            for (tower, binding) in bindings {
                let fact = Fact::DcomBinding { tower, binding };
                if out.len() - first >= MAX_BINDINGS {
                    return;
                }
                if !out[first..].contains(&fact) {
                    out.push(fact);
                }
            }
        }
    }
}

/// A conformant max count at `i` equal to the wNumEntries after it: the
/// array starts after the count.
fn ndr_array_at(stub: &[u8], i: usize, le: bool, ndr64: bool) -> Option<(usize, bool)> {
    let mut r = Ndr::at(stub, i, le);
    let conformance = if ndr64 {
        let a = r.array()?;
        if le {
            u64::from_le_bytes(a)
        } else {
            u64::from_be_bytes(a)
        }
    } else {
        u64::from(r.u32()?)
    };
    let entries = Ndr::at(stub, r.pos, le).u16()?;
    (conformance == u64::from(entries)).then_some((r.pos, le))
}

/// An OBJREF at `i` (signature, flags u32, iid, then STDOBJREF of 40 bytes,
/// MS-DCOM §2.2.18.1) whose kind carries a `saResAddr`.
fn objref_array_at(stub: &[u8], i: usize) -> Option<(usize, bool)> {
    if stub.get(i..i.checked_add(4)?)? != b"MEOW" {
        return None;
    }
    let at = match Ndr::at(stub, i + 4, true).u32()? {
        1 => i + 64,
        2 => i + 80,
        8 if Ndr::at(stub, i + 64, true).u32()? == 0x4e53_5956 => i + 68,
        _ => return None,
    };
    Some((at, true))
}

/// DUALSTRINGARRAY at `at` (MS-DCOM §2.2.19.1, §2.2.19.2): wNumEntries u16,
/// wSecurityOffset u16, then wNumEntries u16 words: STRINGBINDINGs
/// (§2.2.19.3) up to a 0 word at wSecurityOffset − 1, then SECURITYBINDINGs
/// (§2.2.19.4) up to another 0 word. Returns (tower id, network address)
/// of each string binding, or `None` unless the whole array is well formed.
fn dual_string_array(
    stub: &[u8],
    at: usize,
    le: bool,
    budget: &mut usize,
) -> Option<Vec<(u16, String)>> {
    let mut r = Ndr::at(stub, at, le);
    let n = usize::from(r.u16()?);
    let security = usize::from(r.u16()?);
    // At least one binding: tower id, one character, NUL, terminator.
    if security < 4 || security >= n {
        return None;
    }
    let raw = r.bytes(2 * n)?;
    let word = |k: usize| Ndr::at(raw, 2 * k, le).u16();
    // Cheap checks first: both NULs before the security offset, and the
    // last word (the security bindings' terminator) are zero.
    if word(security - 1)? != 0 || word(security - 2)? != 0 || word(n - 1)? != 0 {
        return None;
    }
    *budget = budget.checked_sub(n)?;
    let words: Vec<u16> = (0..n).filter_map(word).collect();
    let (strings, security) = words.split_at_checked(security)?;
    security_bindings(security)?;
    string_bindings(strings)
}

/// STRINGBINDINGs: wTowerId u16 (a protocol id, C706 Appendix I: one
/// byte), then aNetworkAddr, NUL-terminated; a 0 word ends the list, and
/// must be the last word.
fn string_bindings(mut words: &[u16]) -> Option<Vec<(u16, String)>> {
    let mut found = Vec::new();
    loop {
        match words {
            [0] => return Some(found),
            [tower @ 1..=0xff, tail @ ..] => {
                let nul = tail.iter().position(|&w| w == 0).filter(|&n| n > 0)?;
                let name = String::from_utf16(tail.get(..nul)?).ok()?;
                if name.chars().any(char::is_control) {
                    return None;
                }
                found.push((*tower, name));
                words = tail.get(nul + 1..)?;
            }
            _ => return None,
        }
    }
}

/// SECURITYBINDINGs: wAuthnSvc u16 (non-zero), Reserved u16, aPrincName
/// NUL-terminated; a 0 word ends the list.
fn security_bindings(mut words: &[u16]) -> Option<()> {
    loop {
        match words {
            [0, ..] => return Some(()),
            [_, _, tail @ ..] => {
                let nul = tail.iter().position(|&w| w == 0)?;
                words = tail.get(nul + 1..)?;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An interface of the tests, and a second one.
    const IF_A: Uuid = Uuid::from_u128(0x367abb81_9844_35f1_ad32_98f038001003);
    const IF_B: Uuid = Uuid::from_u128(0x12345778_1234_abcd_ef00_0123456789ab);
    /// The NDR (version 2) transfer syntax.
    const NDR: Uuid = Uuid::from_u128(0x8a885d04_1ceb_11c9_9fe8_08002b104860);
    const TO_SERVER: Dir = Dir::ToServer;
    const TO_CLIENT: Dir = Dir::ToClient;

    /// Writes integers and UUIDs in one byte order.
    struct W {
        b: Vec<u8>,
        le: bool,
    }

    impl W {
        fn new(le: bool) -> Self {
            W { b: Vec::new(), le }
        }
        fn u8(&mut self, v: u8) -> &mut Self {
            self.b.push(v);
            self
        }
        fn u16(&mut self, v: u16) -> &mut Self {
            let a = if self.le {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            self.b.extend_from_slice(&a);
            self
        }
        fn u32(&mut self, v: u32) -> &mut Self {
            let a = if self.le {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            self.b.extend_from_slice(&a);
            self
        }
        fn u64(&mut self, v: u64) -> &mut Self {
            let a = if self.le {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            self.b.extend_from_slice(&a);
            self
        }
        fn uuid(&mut self, u: Uuid) -> &mut Self {
            let a = if self.le {
                u.to_bytes_le()
            } else {
                *u.as_bytes()
            };
            self.b.extend_from_slice(&a);
            self
        }
        fn bytes(&mut self, b: &[u8]) -> &mut Self {
            self.b.extend_from_slice(b);
            self
        }
        fn align(&mut self, n: usize) -> &mut Self {
            while !self.b.len().is_multiple_of(n) {
                self.b.push(0);
            }
            self
        }
    }

    /// A PDU: common header, body, and (with `auth`) pad bytes, sec_trailer
    /// and credentials: (auth_level, auth_pad_length).
    fn pdu(
        ptype: u8,
        flags: u8,
        le: bool,
        call_id: u32,
        body: &[u8],
        auth: Option<(u8, u8)>,
    ) -> Vec<u8> {
        let cred = [0xa5u8; 16];
        let tail = auth.map_or(0, |(_, pad)| usize::from(pad) + 8 + cred.len());
        let mut w = W::new(le);
        w.bytes(&[5, 0, ptype, flags, if le { 0x10 } else { 0 }, 0, 0, 0]);
        w.u16((16 + body.len() + tail) as u16);
        w.u16(if auth.is_some() { cred.len() as u16 } else { 0 });
        w.u32(call_id).bytes(body);
        if let Some((level, pad)) = auth {
            w.bytes(&vec![0; pad.into()]);
            w.bytes(&[10, level, pad, 0]).u32(7).bytes(&cred);
        }
        w.b
    }

    fn whole(ptype: u8, le: bool, call_id: u32, body: &[u8]) -> Vec<u8> {
        pdu(
            ptype,
            PFC_FIRST_FRAG | PFC_LAST_FRAG,
            le,
            call_id,
            body,
            None,
        )
    }

    /// bind body: contexts (id, interface, if_version, transfer syntax).
    fn bind_body(le: bool, ctxs: &[(u16, Uuid, u32, Uuid)]) -> Vec<u8> {
        let mut w = W::new(le);
        w.u16(5840)
            .u16(5840)
            .u32(0)
            .u8(ctxs.len() as u8)
            .u8(0)
            .u16(0);
        for &(id, interface, version, syntax) in ctxs {
            w.u16(id).u8(1).u8(0).uuid(interface).u32(version);
            w.uuid(syntax).u32(2);
        }
        w.b
    }

    /// bind_ack body: results (result, transfer syntax).
    fn bind_ack_body(le: bool, results: &[(u16, Uuid)]) -> Vec<u8> {
        let mut w = W::new(le);
        w.u16(5840).u16(5840).u32(0x86f).u16(4).bytes(b"135\0");
        w.align(4).u8(results.len() as u8).u8(0).u16(0);
        for &(result, syntax) in results {
            w.u16(result).u16(0).uuid(syntax).u32(2);
        }
        w.b
    }

    fn request_body(le: bool, ctx: u16, opnum: u16) -> Vec<u8> {
        let mut w = W::new(le);
        w.u32(0).u16(ctx).u16(opnum).bytes(&[0; 8]);
        w.b
    }

    fn response_body(le: bool, stub: &[u8]) -> Vec<u8> {
        let mut w = W::new(le);
        w.u32(stub.len() as u32).u16(0).u8(0).u8(0).bytes(stub);
        w.b
    }

    /// A tower of floors (lhs, rhs), little-endian whatever the drep.
    fn make_tower(floors: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut w = W::new(true);
        w.u16(floors.len() as u16);
        for (lhs, rhs) in floors {
            w.u16(lhs.len() as u16)
                .bytes(lhs)
                .u16(rhs.len() as u16)
                .bytes(rhs);
        }
        w.b
    }

    fn uuid_floor(u: Uuid, major: u16) -> (Vec<u8>, Vec<u8>) {
        let mut w = W::new(true);
        w.u8(0x0d).uuid(u).u16(major);
        (w.b, vec![0, 0])
    }

    /// Interface A over TCP 49163 at 10.0.0.5; interface B over UDP 1034.
    fn two_towers() -> Vec<Vec<u8>> {
        let tcp = make_tower(&[
            uuid_floor(IF_A, 2),
            uuid_floor(NDR, 2),
            (vec![0x0b], vec![0, 0]),
            (vec![0x07], 49163u16.to_be_bytes().to_vec()),
            (vec![0x09], vec![10, 0, 0, 5]),
        ]);
        let udp = make_tower(&[
            uuid_floor(IF_B, 1),
            uuid_floor(NDR, 2),
            (vec![0x0a], vec![0, 0]),
            (vec![0x08], 1034u16.to_be_bytes().to_vec()),
        ]);
        vec![tcp, udp]
    }

    fn two_endpoints() -> Vec<Fact> {
        vec![
            Fact::RpcEndpoint {
                interface: IF_A,
                proto: 6,
                port: 49163,
                addr: Some(Ipv4Addr::new(10, 0, 0, 5)),
            },
            Fact::RpcEndpoint {
                interface: IF_B,
                proto: 17,
                port: 1034,
                addr: None,
            },
        ]
    }

    /// An ept_map reply stub: handle, num_towers, pointer array, towers, status.
    fn ept_map_stub(le: bool, ndr64: bool, towers: &[Vec<u8>]) -> Vec<u8> {
        let mut w = W::new(le);
        let count = |w: &mut W, v: u64| {
            if ndr64 {
                w.align(8).u64(v);
            } else {
                w.align(4).u32(v as u32);
            }
        };
        w.bytes(&[0; 20]).u32(towers.len() as u32);
        count(&mut w, 4);
        count(&mut w, 0);
        count(&mut w, towers.len() as u64);
        for i in 0..towers.len() {
            count(&mut w, i as u64 + 3);
        }
        for t in towers {
            count(&mut w, t.len() as u64);
            w.u32(t.len() as u32).bytes(t);
        }
        w.align(4).u32(0);
        w.b
    }

    /// The PDUs of a call on a fresh connection: bind `interface` as
    /// context 0 over `syntax`, its ack, then request `opnum`; the
    /// response carrying `stub` is left to the caller.
    fn call_setup(le: bool, interface: Uuid, syntax: Uuid, opnum: u16) -> Vec<(Dir, Vec<u8>)> {
        vec![
            (
                TO_SERVER,
                whole(
                    ptype::BIND,
                    le,
                    1,
                    &bind_body(le, &[(0, interface, 3, syntax)]),
                ),
            ),
            (
                TO_CLIENT,
                whole(ptype::BIND_ACK, le, 1, &bind_ack_body(le, &[(0, syntax)])),
            ),
            (
                TO_SERVER,
                whole(ptype::REQUEST, le, 2, &request_body(le, 0, opnum)),
            ),
        ]
    }

    fn beginning() -> DceRpc {
        DceRpc::new([Start::Beginning; 2])
    }

    /// Feeds each (direction, segment) as a whole segment.
    fn run(d: &mut DceRpc, segs: &[(Dir, Vec<u8>)]) -> Result<Vec<Fact>, GiveUp> {
        let mut out = Vec::new();
        for (dir, seg) in segs {
            d.feed(*dir, seg, true, &mut out)?;
        }
        Ok(out)
    }

    /// The facts of a call whose reply stub is `stub`.
    fn reply_facts(le: bool, interface: Uuid, opnum: u16, stub: &[u8]) -> Vec<Fact> {
        let mut segs = call_setup(le, interface, NDR, opnum);
        segs.push((
            TO_CLIENT,
            whole(ptype::RESPONSE, le, 2, &response_body(le, stub)),
        ));
        let facts = run(&mut beginning(), &segs).unwrap();
        facts
            .into_iter()
            .filter(|f| !matches!(f, Fact::RpcBind { .. }))
            .collect()
    }

    #[test]
    fn bind_lists_each_context_once_in_either_byte_order() {
        for le in [true, false] {
            // Version 3.1 (minor in the high half), 2.0, and A again.
            let body = bind_body(
                le,
                &[
                    (0, IF_A, 0x0001_0003, NDR),
                    (1, IF_B, 2, NDR),
                    (2, IF_A, 0x0001_0003, NDR64),
                ],
            );
            let facts = run(
                &mut beginning(),
                &[(TO_SERVER, whole(ptype::BIND, le, 1, &body))],
            )
            .unwrap();
            assert_eq!(
                facts,
                vec![
                    Fact::RpcBind {
                        interface: IF_A,
                        version: 3
                    },
                    Fact::RpcBind {
                        interface: IF_B,
                        version: 2
                    },
                ],
                "little-endian: {le}"
            );
        }
    }

    #[test]
    fn alter_context_binds_too() {
        let body = bind_body(true, &[(1, IF_B, 0, NDR)]);
        let facts = run(
            &mut beginning(),
            &[(TO_SERVER, whole(ptype::ALTER_CONTEXT, true, 1, &body))],
        )
        .unwrap();
        assert_eq!(
            facts,
            vec![Fact::RpcBind {
                interface: IF_B,
                version: 0
            }]
        );
    }

    #[test]
    fn ept_map_reply_gives_tcp_and_udp_endpoints_in_either_byte_order() {
        for le in [true, false] {
            let stub = ept_map_stub(le, false, &two_towers());
            assert_eq!(
                reply_facts(le, EPM, 3, &stub),
                two_endpoints(),
                "little-endian: {le}"
            );
            // ept_lookup (opnum 2) replies are not read.
            assert_eq!(reply_facts(le, EPM, 2, &stub), vec![]);
        }
    }

    #[test]
    fn ept_map_reply_in_ndr64() {
        let stub = ept_map_stub(true, true, &two_towers());
        let mut segs = call_setup(true, EPM, NDR64, 3);
        segs.push((
            TO_CLIENT,
            whole(ptype::RESPONSE, true, 2, &response_body(true, &stub)),
        ));
        let facts = run(&mut beginning(), &segs).unwrap();
        assert_eq!(facts[1..], two_endpoints()[..]);
    }

    #[test]
    fn a_response_split_across_two_fragments_is_reassembled() {
        let stub = ept_map_stub(true, false, &two_towers());
        let (a, b) = stub.split_at(50);
        let mut d = beginning();
        run(&mut d, &call_setup(true, EPM, NDR, 3)).unwrap();
        let first = pdu(
            ptype::RESPONSE,
            PFC_FIRST_FRAG,
            true,
            2,
            &response_body(true, a),
            None,
        );
        let last = pdu(
            ptype::RESPONSE,
            PFC_LAST_FRAG,
            true,
            2,
            &response_body(true, b),
            None,
        );
        assert_eq!(run(&mut d, &[(TO_CLIENT, first)]).unwrap(), vec![]);
        assert_eq!(run(&mut d, &[(TO_CLIENT, last)]).unwrap(), two_endpoints());
    }

    #[test]
    fn auth_verifier_integrity_is_read_and_privacy_skipped() {
        let stub = ept_map_stub(true, false, &two_towers());
        for (level, pad, expect) in [
            (5, 4, two_endpoints()),
            (5, 0, two_endpoints()),
            (6, 4, vec![]),
        ] {
            let mut d = beginning();
            run(&mut d, &call_setup(true, EPM, NDR, 3)).unwrap();
            let flags = PFC_FIRST_FRAG | PFC_LAST_FRAG;
            let reply = pdu(
                ptype::RESPONSE,
                flags,
                true,
                2,
                &response_body(true, &stub),
                Some((level, pad)),
            );
            assert_eq!(
                run(&mut d, &[(TO_CLIENT, reply)]).unwrap(),
                expect,
                "level {level}"
            );
        }
    }

    #[test]
    fn a_bind_with_an_auth_verifier_still_lists_its_contexts() {
        let body = bind_body(true, &[(0, IF_A, 1, NDR)]);
        let bind = pdu(ptype::BIND, 3, true, 1, &body, Some((6, 0)));
        let facts = run(&mut beginning(), &[(TO_SERVER, bind)]).unwrap();
        assert_eq!(
            facts,
            vec![Fact::RpcBind {
                interface: IF_A,
                version: 1
            }]
        );
    }

    /// A DUALSTRINGARRAY: string bindings (tower, address), security
    /// bindings (authn service, principal).
    fn dsa(le: bool, strings: &[(u16, &str)], security: &[(u16, &str)]) -> Vec<u8> {
        let mut words = Vec::new();
        for (tower, s) in strings {
            words.push(*tower);
            words.extend(s.encode_utf16());
            words.push(0);
        }
        words.push(0);
        let offset = words.len() as u16;
        for (authn, s) in security {
            words.extend([*authn, 0xffff]);
            words.extend(s.encode_utf16());
            words.push(0);
        }
        words.push(0);
        let mut w = W::new(le);
        w.u16(words.len() as u16).u16(offset);
        for x in words {
            w.u16(x);
        }
        w.b
    }

    fn bindings(list: &[(u16, &str)]) -> Vec<Fact> {
        list.iter()
            .map(|&(tower, b)| Fact::DcomBinding {
                tower,
                binding: b.to_string(),
            })
            .collect()
    }

    const HOST: &[(u16, &str)] = &[(7, "NODE1[49718]"), (7, "10.0.0.9[49718]"), (0x1f, "NODE1")];
    const SECURITY: &[(u16, &str)] = &[(10, "NT AUTHORITY\\SYSTEM"), (16, "host/node1.example")];

    /// ResolveOxid2 reply (MS-DCOM §3.1.2.5.1.5): a unique pointer, then
    /// the conformant DUALSTRINGARRAY, IPID, authn hint, COMVERSION, HRESULT.
    fn resolve_oxid2_stub(le: bool, array: &[u8]) -> Vec<u8> {
        let mut w = W::new(le);
        let n = Ndr::at(array, 0, le).u16().unwrap();
        w.u32(0x0002_0000).u32(n.into()).bytes(array).align(4);
        w.bytes(&[0x11; 16]).u32(4).u16(5).u16(7).u32(0);
        w.b
    }

    #[test]
    fn resolve_oxid_replies_give_their_string_bindings() {
        for le in [true, false] {
            let stub = resolve_oxid2_stub(le, &dsa(le, HOST, SECURITY));
            for opnum in [0, 4] {
                assert_eq!(
                    reply_facts(le, OBJECT_EXPORTER, opnum, &stub),
                    bindings(HOST)
                );
            }
            // ServerAlive2 (opnum 5) is not read.
            assert_eq!(reply_facts(le, OBJECT_EXPORTER, 5, &stub), vec![]);
        }
    }

    /// An OBJREF_STANDARD: signature, flags, IID, STDOBJREF, saResAddr.
    fn objref(array: &[u8]) -> Vec<u8> {
        let mut w = W::new(true);
        w.bytes(b"MEOW").u32(1).uuid(IF_A);
        w.u32(0)
            .u32(5)
            .u64(0x1189_f948_559b_4a41)
            .u64(0x277f_c1c2_cc06_1724)
            .uuid(IF_B);
        w.bytes(array);
        w.b
    }

    #[test]
    fn remote_create_instance_reply_gives_objref_and_scm_bindings_once_each() {
        let resolver = [(7, "NODE1"), (7, "10.0.0.9")];
        let mut w = W::new(true);
        // ORPCTHAT, a pointer, then a blob at an odd offset holding an
        // OBJREF and (as ScmReplyInfoData does) an NDR array: its max
        // count, then the array, whose first binding repeats the OBJREF's.
        w.u32(0).u32(0).u32(0x0002_0000).bytes(&[0xcc; 3]);
        w.bytes(&objref(&dsa(true, &resolver, &[(9, "")])));
        w.bytes(&[0x41, 0x4a, 0x9b]).u32(0x0002_0004);
        let scm = dsa(
            true,
            &[(7, "NODE1"), (7, "NODE1[49718]"), (7, "10.0.0.9[49718]")],
            SECURITY,
        );
        w.u32(Ndr::at(&scm, 0, true).u16().unwrap().into())
            .bytes(&scm)
            .u32(0);
        for opnum in [3, 4] {
            assert_eq!(
                reply_facts(true, SCM_ACTIVATOR, opnum, &w.b),
                bindings(&[
                    (7, "NODE1"),
                    (7, "10.0.0.9"),
                    (7, "NODE1[49718]"),
                    (7, "10.0.0.9[49718]")
                ])
            );
        }
    }

    #[test]
    fn the_dualstringarray_scan_rejects_near_misses() {
        let good = dsa(true, HOST, SECURITY);
        let n = u32::from(Ndr::at(&good, 0, true).u16().unwrap());
        let stub = |count: u32, array: &[u8]| {
            let mut w = W::new(true);
            w.u32(0x0002_0000).u32(count).bytes(array).u32(0);
            w.b
        };
        let mut control = good.clone();
        control[6] = 0x07; // "N" of NODE1 becomes BEL
        let mut unterminated = good.clone();
        let last = unterminated.len() - 2;
        unterminated[last] = 0x41;
        let mut bad_offset = good.clone();
        bad_offset[2] = 3;
        let no_strings = dsa(true, &[], SECURITY);
        let cases = [
            ("max count differs", stub(n + 1, &good)),
            ("control character", stub(n, &control)),
            ("no final terminator", stub(n, &unterminated)),
            ("security offset off", stub(n, &bad_offset)),
            (
                "no string binding",
                stub(
                    u32::from(Ndr::at(&no_strings, 0, true).u16().unwrap()),
                    &no_strings,
                ),
            ),
            (
                "truncated",
                stub(n, &good[..good.len() - 4])[..good.len() + 4].to_vec(),
            ),
        ];
        for (what, s) in cases {
            assert_eq!(reply_facts(true, SCM_ACTIVATOR, 4, &s), vec![], "{what}");
        }
        assert_eq!(
            reply_facts(true, SCM_ACTIVATOR, 4, &stub(n, &good)),
            bindings(HOST)
        );
    }

    #[test]
    fn a_rejected_context_is_not_followed() {
        let le = true;
        let stub = ept_map_stub(le, false, &two_towers());
        let segs = [
            (
                TO_SERVER,
                whole(ptype::BIND, le, 1, &bind_body(le, &[(0, EPM, 3, NDR)])),
            ),
            // Provider rejection (2).
            (
                TO_CLIENT,
                whole(
                    ptype::BIND_ACK,
                    le,
                    1,
                    &bind_ack_body(le, &[(2, Uuid::nil())]),
                ),
            ),
            (
                TO_SERVER,
                whole(ptype::REQUEST, le, 2, &request_body(le, 0, 3)),
            ),
            (
                TO_CLIENT,
                whole(ptype::RESPONSE, le, 2, &response_body(le, &stub)),
            ),
        ];
        let facts = run(&mut beginning(), &segs).unwrap();
        assert_eq!(
            facts,
            vec![Fact::RpcBind {
                interface: EPM,
                version: 3
            }]
        );
    }

    #[test]
    fn a_fault_or_an_unknown_call_id_gives_nothing() {
        let le = true;
        let stub = ept_map_stub(le, false, &two_towers());
        let mut segs = call_setup(le, EPM, NDR, 3);
        segs.push((TO_CLIENT, whole(ptype::FAULT, le, 2, &[0; 16])));
        segs.push((
            TO_CLIENT,
            whole(ptype::RESPONSE, le, 2, &response_body(le, &stub)),
        ));
        segs.push((
            TO_CLIENT,
            whole(ptype::RESPONSE, le, 9, &response_body(le, &stub)),
        ));
        assert_eq!(run(&mut beginning(), &segs).unwrap().len(), 1);
    }

    #[test]
    fn a_midway_stream_resyncs_at_a_segment_that_starts_with_a_header() {
        let mut d = DceRpc::new([Start::Midway; 2]);
        let bind = whole(ptype::BIND, true, 1, &bind_body(true, &[(0, IF_A, 1, NDR)]));
        let stub = ept_map_stub(true, false, &two_towers());
        let reply = whole(ptype::RESPONSE, true, 2, &response_body(true, &stub));
        let mut out = Vec::new();
        // The tail of a PDU, then a header that does not start a segment.
        d.feed(TO_CLIENT, &reply[40..], true, &mut out).unwrap();
        d.feed(TO_SERVER, &bind, false, &mut out).unwrap();
        // A reply to a request that came before the capture: no call known.
        d.feed(TO_CLIENT, &reply, true, &mut out).unwrap();
        assert_eq!(out, vec![]);
        let (head, rest) = bind.split_at(20);
        d.feed(TO_SERVER, head, true, &mut out).unwrap();
        d.feed(TO_SERVER, rest, false, &mut out).unwrap();
        assert_eq!(
            out,
            vec![Fact::RpcBind {
                interface: IF_A,
                version: 1
            }]
        );
    }

    #[test]
    fn garbage_gives_up_with_a_reason() {
        let bind = whole(ptype::BIND, true, 1, &bind_body(true, &[(0, IF_A, 1, NDR)]));
        let mut too_short = bind.clone();
        too_short[8] = 12;
        let mut big_auth = bind.clone();
        big_auth[10] = 0xf0;
        let cases: [(&[u8], &str); 5] = [
            (b"GET / HTTP/1.1\r\n\r\n", "not DCE/RPC: rpc_vers is not 5"),
            (&[5, 2, 0, 3], "not DCE/RPC: rpc_vers_minor is not 0 or 1"),
            (&[5, 0, 20, 3], "not DCE/RPC: unknown PTYPE"),
            (&too_short, "not DCE/RPC: frag_length below the header size"),
            (&big_auth, "not DCE/RPC: auth_length exceeds the fragment"),
        ];
        for (seg, why) in cases {
            let mut d = beginning();
            let mut out = Vec::new();
            // A good PDU first: the stream is DCE/RPC until it is not.
            d.feed(TO_SERVER, &bind, true, &mut out).unwrap();
            assert_eq!(d.feed(TO_SERVER, seg, true, &mut out), Err(GiveUp(why)));
        }
        let mut d = beginning();
        let drep = [5, 0, 11, 3, 0x20, 0, 0, 0];
        assert_eq!(
            d.feed(TO_SERVER, &drep, true, &mut Vec::new()),
            Err(GiveUp("not DCE/RPC: bad data representation"))
        );
    }

    /// A whole association: bind, ack, ept_map call, then a DCOM call on
    /// the same connection in two fragments, big-endian bind in between.
    fn conversation() -> Vec<(Dir, Vec<u8>)> {
        let mut segs = call_setup(true, EPM, NDR, 3);
        let ept = ept_map_stub(true, false, &two_towers());
        segs.push((
            TO_CLIENT,
            whole(ptype::RESPONSE, true, 2, &response_body(true, &ept)),
        ));
        let alter = bind_body(true, &[(1, OBJECT_EXPORTER, 0, NDR)]);
        segs.push((TO_SERVER, whole(ptype::ALTER_CONTEXT, true, 3, &alter)));
        segs.push((
            TO_CLIENT,
            whole(
                ptype::ALTER_CONTEXT_RESP,
                true,
                3,
                &bind_ack_body(true, &[(0, NDR)]),
            ),
        ));
        segs.push((
            TO_SERVER,
            whole(ptype::REQUEST, true, 4, &request_body(true, 1, 4)),
        ));
        let oxid = resolve_oxid2_stub(true, &dsa(true, HOST, SECURITY));
        let (a, b) = oxid.split_at(21);
        segs.push((
            TO_CLIENT,
            pdu(
                ptype::RESPONSE,
                PFC_FIRST_FRAG,
                true,
                4,
                &response_body(true, a),
                Some((5, 3)),
            ),
        ));
        segs.push((
            TO_CLIENT,
            pdu(
                ptype::RESPONSE,
                PFC_LAST_FRAG,
                true,
                4,
                &response_body(true, b),
                Some((5, 0)),
            ),
        ));
        segs
    }

    #[test]
    fn one_byte_segments_give_the_same_facts() {
        let segs = conversation();
        let whole_segments = run(&mut beginning(), &segs).unwrap();
        let mut expect = vec![Fact::RpcBind {
            interface: EPM,
            version: 3,
        }];
        expect.extend(two_endpoints());
        expect.push(Fact::RpcBind {
            interface: OBJECT_EXPORTER,
            version: 0,
        });
        expect.extend(bindings(HOST));
        assert_eq!(whole_segments, expect);
        let bytes: Vec<(Dir, Vec<u8>)> = segs
            .iter()
            .flat_map(|(dir, s)| s.iter().map(|&b| (*dir, vec![b])))
            .collect();
        assert_eq!(run(&mut beginning(), &bytes).unwrap(), expect);
        // All PDUs of a direction in one segment.
        let mut d = beginning();
        let mut out = Vec::new();
        for (dir, s) in &segs {
            d.feed(*dir, s, true, &mut out).unwrap();
        }
        assert_eq!(out, expect);
    }

    #[test]
    fn tables_stay_bounded() {
        let le = true;
        let many: Vec<_> = (0..200u16).map(|i| (i, IF_A, 1, NDR)).collect();
        let mut segs = vec![(TO_SERVER, whole(ptype::BIND, le, 1, &bind_body(le, &many)))];
        // Context 0, one of those kept, now names the endpoint mapper.
        let epm = bind_body(le, &[(0, EPM, 3, NDR)]);
        segs.push((TO_SERVER, whole(ptype::BIND, le, 1, &epm)));
        let request = request_body(le, 0, 3);
        segs.extend((0..500).map(|c| (TO_SERVER, whole(ptype::REQUEST, le, c, &request))));
        let mut d = beginning();
        run(&mut d, &segs).unwrap();
        assert_eq!(d.conn.contexts.len(), MAX_CONTEXTS);
        assert_eq!(d.conn.offered.len(), 1);
        assert_eq!(d.conn.calls.len(), MAX_CALLS);
        // A reply bigger than the stub cap is dropped, not kept.
        let body = response_body(le, &[0; 16 * 1024]);
        let frag = |flags| (TO_CLIENT, pdu(ptype::RESPONSE, flags, le, 499, &body, None));
        run(&mut d, &[frag(PFC_FIRST_FRAG), frag(0), frag(0), frag(0)]).unwrap();
        assert!(d
            .conn
            .stub
            .as_ref()
            .is_some_and(|s| s.bytes.len() == 4 * 16 * 1024));
        run(&mut d, &[frag(0)]).unwrap();
        assert!(d.conn.stub.is_none());
    }

    /// Conformance with tshark 4.0.17 over the shared corpus of real captures.
    mod corpus {
        use super::*;
        use crate::evidence::testkit::{corpus_file, dissect_file, Found};
        use std::cell::RefCell;
        use std::collections::{BTreeMap, BTreeSet, HashSet};
        use std::net::IpAddr;
        use std::path::{Path, PathBuf};

        /// A capture known to be in the corpus, to find its root.
        const ANCHOR: &str = "zeek+zeek/testing/btest/Traces/dce-rpc/mapi.pcap";

        type Endpoint = (IpAddr, u16);

        /// What one capture gave: facts, give-ups, the flows dissected.
        struct Run {
            found: Vec<Found>,
            gave_up: Vec<(u64, GiveUp)>,
            flows: HashSet<(Endpoint, Endpoint)>,
        }

        impl Run {
            /// The flow of (a, b), either way round, was dissected.
            fn dissected(&self, a: Endpoint, b: Endpoint) -> bool {
                self.flows.contains(&(a, b)) || self.flows.contains(&(b, a))
            }
        }

        /// A flow's two ends in a fixed order.
        fn flow(a: Endpoint, b: Endpoint) -> (Endpoint, Endpoint) {
            (a.min(b), a.max(b))
        }

        /// Reports a test skipped for want of the corpus, as the
        /// project's tests do (`tests/util.rs`): a `*** SKIPPED` line that
        /// `scripts/test-summary.sh` counts, or a failure under `CI=true`.
        fn skip(test: &str, why: &str) {
            let msg = format!("SKIPPED dcerpc::{test}: {why}");
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{msg} (CI=true: a skip is a failure)");
            }
            eprintln!("*** {msg} ***");
        }

        /// `groundtruth/` of the corpus, or `None` (skipped) when absent.
        fn groundtruth(test: &str) -> Option<PathBuf> {
            let dir = corpus_file(ANCHOR).and_then(|anchor| {
                let depth = Path::new(ANCHOR).components().count() + 1;
                Some(anchor.ancestors().nth(depth)?.join("groundtruth"))
            });
            match dir {
                Some(dir) if dir.is_dir() => Some(dir),
                _ => {
                    skip(
                        test,
                        "the shared corpus (../shared/pcaps or $LANECHECK_CORPUS) is missing",
                    );
                    None
                }
            }
        }

        /// Rows of a tab-separated file with a header line, by column name.
        fn tsv(path: &Path) -> Vec<BTreeMap<String, String>> {
            let text = std::fs::read_to_string(path).expect("read ground truth");
            let mut lines = text.lines();
            let head: Vec<&str> = lines.next().expect("header").split('\t').collect();
            lines
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let cells = l.split('\t').chain(std::iter::repeat(""));
                    head.iter()
                        .zip(cells)
                        .map(|(h, c)| (h.to_string(), c.to_string()))
                        .collect()
                })
                .collect()
        }

        /// Runs a [`DceRpc`] over every TCP flow whose first payload has the
        /// signature. `file` is as the ground truth names it (`files/…`).
        fn dissect(file: &str) -> Option<Run> {
            let Some(path) = corpus_file(file.strip_prefix("files/").unwrap_or(file)) else {
                skip(file, "a capture the ground truth names is missing");
                return None;
            };
            let flows = RefCell::new(HashSet::new());
            let (found, gave_up) = dissect_file(&path, |client, server, payload, starts| {
                if !DceRpc::signature(payload) {
                    return None;
                }
                flows.borrow_mut().insert((client, server));
                Some(Box::new(DceRpc::new(starts)) as Box<dyn Dissector>)
            });
            for (frame, why) in &gave_up {
                eprintln!("{file}: frame {frame}: gave up: {why}");
            }
            let flows = flows.into_inner();
            Some(Run {
                found,
                gave_up,
                flows,
            })
        }

        fn col<'a>(row: &'a BTreeMap<String, String>, name: &str) -> &'a str {
            row.get(name).unwrap_or_else(|| panic!("no column {name}"))
        }

        fn num<T: std::str::FromStr>(row: &BTreeMap<String, String>, name: &str) -> T {
            col(row, name)
                .parse()
                .unwrap_or_else(|_| panic!("{name}: not a number"))
        }

        /// Ground-truth rows grouped by capture.
        fn by_file(
            rows: Vec<BTreeMap<String, String>>,
        ) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
            let mut files = BTreeMap::<_, Vec<_>>::new();
            for row in rows {
                files
                    .entry(col(&row, "file").to_string())
                    .or_default()
                    .push(row);
            }
            files
        }

        #[test]
        fn epm_endpoints_match_tshark() {
            let Some(gt) = groundtruth("epm_endpoints_match_tshark") else {
                return;
            };
            let files = by_file(tsv(&gt.join("_corpus/epm_map_responses_all.tsv")));
            assert!(!files.is_empty());
            for (file, rows) in files {
                let Some(run) = dissect(&file) else { continue };
                let expect: BTreeSet<_> = rows
                    .iter()
                    .map(|r| {
                        let interface = col(r, "epm.uuid(interface,transfer-syntax)")
                            .split(',')
                            .next();
                        let addr = col(r, "epm.proto.ip");
                        (
                            num::<u64>(r, "frame"),
                            interface
                                .and_then(|u| u.parse::<Uuid>().ok())
                                .expect("a uuid"),
                            6u8,
                            num::<u16>(r, "dynamic_tcp_port"),
                            (!addr.is_empty())
                                .then(|| addr.parse::<Ipv4Addr>().expect("an address")),
                        )
                    })
                    .collect();
                let got: BTreeSet<_> = run
                    .found
                    .iter()
                    .filter_map(|f| match f.fact {
                        Fact::RpcEndpoint {
                            interface,
                            proto,
                            port,
                            addr,
                        } => Some((f.frame, interface, proto, port, addr)),
                        _ => None,
                    })
                    .collect();
                let count = run
                    .found
                    .iter()
                    .filter(|f| matches!(f.fact, Fact::RpcEndpoint { .. }))
                    .count();
                assert_eq!(got, expect, "{file}");
                assert_eq!(count, expect.len(), "{file}: duplicate endpoints");
                assert_eq!(run.gave_up, vec![], "{file}");
            }
        }

        #[test]
        fn dcom_string_bindings_match_tshark() {
            let Some(gt) = groundtruth("dcom_string_bindings_match_tshark") else {
                return;
            };
            let files = by_file(tsv(&gt.join("_corpus/dcom_string_bindings_all.tsv")));
            assert!(!files.is_empty());
            for (file, rows) in files {
                let Some(run) = dissect(&file) else { continue };
                let mut expect = BTreeMap::<u64, BTreeSet<String>>::new();
                for r in &rows {
                    let list = col(r, "string_bindings").split('|').map(str::to_string);
                    expect.entry(num(r, "frame")).or_default().extend(list);
                }
                let mut got = BTreeMap::<u64, Vec<String>>::new();
                for f in &run.found {
                    if let Fact::DcomBinding { binding, .. } = &f.fact {
                        got.entry(f.frame).or_default().push(binding.clone());
                    }
                }
                let got_sets: BTreeMap<u64, BTreeSet<String>> = got
                    .iter()
                    .map(|(k, v)| (*k, v.iter().cloned().collect()))
                    .collect();
                assert_eq!(got_sets, expect, "{file}");
                for (frame, list) in &got {
                    assert_eq!(
                        list.len(),
                        expect[frame].len(),
                        "{file}: frame {frame}: duplicates"
                    );
                }
                assert_eq!(run.gave_up, vec![], "{file}");
            }
        }

        /// Bind rows as (frame, flow, interface, version) for the flows
        /// dissected, and how many rows were left (each over SMB: 139/445).
        type Bind = (u64, (Endpoint, Endpoint), Uuid, u16);
        fn expected_binds(folder: &Path, file: &str, run: &Run) -> (BTreeSet<Bind>, usize) {
            let (mut expect, mut smb) = (BTreeSet::new(), 0);
            for r in tsv(&folder.join("dcerpc_binds.tsv")) {
                let a = (num::<IpAddr>(&r, "ip.src"), num::<u16>(&r, "tcp.srcport"));
                let b = (num::<IpAddr>(&r, "ip.dst"), num::<u16>(&r, "tcp.dstport"));
                if !run.dissected(a, b) {
                    let over_smb = [a.1, b.1].iter().any(|p| [139, 445].contains(p));
                    assert!(over_smb, "{file}: {r:?}");
                    smb += 1;
                    continue;
                }
                let frame: u64 = num(&r, "frame.number");
                let uuids = col(&r, "dcerpc.cn_bind_to_uuid").split(',');
                let versions = col(&r, "dcerpc.cn_bind_if_ver").split(',');
                for (u, v) in uuids.zip(versions) {
                    let interface = u.parse::<Uuid>().expect("a uuid");
                    let version = v.parse::<u16>().expect("a version");
                    expect.insert((frame, flow(a, b), interface, version));
                }
            }
            (expect, smb)
        }

        /// `dcerpc_binds.tsv` lists each bind or alter_context PDU tshark
        /// saw (over TCP or SMB pipes), its interfaces and major versions
        /// as comma-separated lists. Rows of the flows dissected here must
        /// equal the RpcBind facts; the others must be RPC over SMB
        /// (139/445), which this dissector does not read.
        #[test]
        fn binds_match_tshark() {
            let Some(gt) = groundtruth("binds_match_tshark") else {
                return;
            };
            let mut folders: Vec<PathBuf> = std::fs::read_dir(&gt)
                .expect("list ground truth")
                .map(|e| e.expect("entry").path())
                .filter(|p| p.join("dcerpc_binds.tsv").is_file())
                .collect();
            folders.sort();
            assert!(!folders.is_empty());
            let (mut matched, mut smb) = (0, 0);
            for folder in folders {
                let source =
                    std::fs::read_to_string(folder.join("SOURCE.txt")).expect("SOURCE.txt");
                let file = source.lines().next().expect("a path").trim().to_string();
                let Some(run) = dissect(&file) else { continue };
                let (expect, not_tcp) = expected_binds(&folder, &file, &run);
                smb += not_tcp;
                let got: Vec<_> = run
                    .found
                    .iter()
                    .filter_map(|f| match f.fact {
                        Fact::RpcBind { interface, version } => {
                            Some((f.frame, flow(f.client, f.server), interface, version))
                        }
                        _ => None,
                    })
                    .collect();
                assert_eq!(
                    got.iter().copied().collect::<BTreeSet<_>>(),
                    expect,
                    "{file}"
                );
                assert_eq!(got.len(), expect.len(), "{file}: duplicate binds");
                assert_eq!(run.gave_up, vec![], "{file}");
                matched += got.len();
            }
            eprintln!("binds: {matched} matched over TCP, {smb} ground-truth rows over SMB pipes not read");
        }

        /// The `_all` extractions cover every capture of the corpus: no
        /// endpoint or DCOM binding may appear in a capture they do not
        /// list, whatever flow opens like DCE/RPC.
        #[test]
        fn no_endpoint_or_binding_outside_the_ground_truth() {
            let Some(gt) = groundtruth("no_endpoint_or_binding_outside_the_ground_truth") else {
                return;
            };
            let manifest = gt.parent().expect("corpus root").join("MANIFEST.tsv");
            let listed = |name: &str| -> BTreeSet<String> {
                tsv(&gt.join("_corpus").join(name))
                    .iter()
                    .map(|r| col(r, "file").to_string())
                    .collect()
            };
            let (epm, dcom) = (
                listed("epm_map_responses_all.tsv"),
                listed("dcom_string_bindings_all.tsv"),
            );
            let (mut files, mut flows, mut facts, mut gave_up) = (0, 0, 0, 0);
            for row in tsv(&manifest) {
                let file = col(&row, "local_path");
                let Some(run) = dissect(file) else { continue };
                for f in &run.found {
                    match f.fact {
                        Fact::RpcEndpoint { .. } => assert!(epm.contains(file), "{file}: {f:?}"),
                        Fact::DcomBinding { .. } => assert!(dcom.contains(file), "{file}: {f:?}"),
                        _ => {}
                    }
                }
                files += 1;
                flows += run.flows.len();
                facts += run.found.len();
                gave_up += run.gave_up.len();
            }
            eprintln!(
                "swept {files} captures: {flows} DCE/RPC flows, {facts} facts, {gave_up} give-ups"
            );
            assert!(files > 0 && flows > 0);
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {

            /// Arbitrary segments either way, half of them opening like a
            /// PDU of their own length, from the start or mid-way.
            #[test]
            fn arbitrary_streams_never_panic(
                segs in proptest::collection::vec(
                    (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)),
                    0..24,
                ),
                midway in any::<bool>(),
            ) {
                let start = if midway { Start::Midway } else { Start::Beginning };
                let mut d = DceRpc::new([start; 2]);
                let mut out = Vec::new();
                for (to_server, mut s) in segs {
                    if s.len() >= 16 && s[0] % 2 == 0 {
                        let len = (s.len() as u16).to_le_bytes();
                        let head = [5, 0, s[2] % 20, s[3], 0x10];
                        s[..5].copy_from_slice(&head);
                        s[8..10].copy_from_slice(&len);
                    }
                    let dir = if to_server { TO_SERVER } else { TO_CLIENT };
                    if d.feed(dir, &s, true, &mut out).is_err() {
                        break;
                    }
                }
            }
            /// Any bytes after a plausible header, cut anywhere, never panic.
            #[test]
            fn feeding_never_panics(
                ptype in 0u8..20,
                flags in any::<u8>(),
                body in proptest::collection::vec(any::<u8>(), 0..600),
                cut in 1usize..64,
            ) {
                let mut d = beginning();
                let mut out = Vec::new();
                let mut segs = call_setup(true, SCM_ACTIVATOR, NDR, 4);
                segs.push((TO_CLIENT, pdu(ptype, flags, true, 2, &body, None)));
                for (dir, s) in &segs {
                    for piece in s.chunks(cut) {
                        if d.feed(*dir, piece, true, &mut out).is_err() {
                            break;
                        }
                    }
                }
                // A random stub for each reply kind.
                let mut w = W::new(true);
                w.bytes(&body);
                let _ = ept_map_reply(&w.b, true, ptype % 2 == 0, &mut out);
                dcom_reply(&w.b, flags % 2 == 0, ptype % 3 == 0, &mut out);
                let _ = tower(&w.b, &mut out);
            }
        }
    }
}
