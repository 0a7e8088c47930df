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

mod dcom;
mod epm;
mod ndr;

use dcom::dcom_reply;
use epm::ept_map_reply;
use ndr::Ndr;

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

/// One fragment, its header read: whole, or cut by the snaplen (the
/// framer hands over what was captured of it).
#[derive(Clone, Copy, Debug)]
struct Pdu<'a> {
    ptype: u8,
    flags: u8,
    le: bool,
    call_id: u32,
    /// After the common header, up to the auth padding (or the end), as
    /// far as it was captured.
    body: &'a [u8],
    /// What the sec_trailer says of the stub's protection.
    auth: Auth,
    /// The capture kept less than `frag_length` bytes.
    cut: bool,
}

/// The `auth_level` of a fragment's sec_trailer (MS-RPCE §2.2.2.11).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Auth {
    /// No auth verifier.
    None,
    /// Its level.
    Level(u8),
    /// There is a verifier, but the snaplen cut the fragment before its
    /// sec_trailer: the stub may be encrypted.
    Unseen,
}

impl<'a> Pdu<'a> {
    /// Reads a fragment whose header [`frag_len`] accepted, from its first
    /// bytes: all `frag_length` of them, or fewer when the snaplen cut it
    /// (the header, then whatever fields were captured). A fragment cut
    /// inside its 16-byte header has no call id to read: `SNAPLEN_CUT`.
    fn parse(rec: &'a [u8]) -> Result<Self, &'static str> {
        let le = rec.get(4).is_some_and(|d| d >> 4 == 1);
        let (Some(&ptype), Some(&flags)) = (rec.get(2), rec.get(3)) else {
            return Err(super::SNAPLEN_CUT);
        };
        let mut r = Ndr::at(rec, 8, le);
        let (Some(frag_len), Some(auth_len), Some(call_id)) = (r.u16(), r.u16(), r.u32()) else {
            return Err(super::SNAPLEN_CUT);
        };
        let frag_len = usize::from(frag_len);
        let cut = rec.len() < frag_len;
        let rec = rec.get(..frag_len).unwrap_or(rec);
        let (end, auth) = if auth_len == 0 {
            (rec.len(), Auth::None)
        } else {
            // MS-RPCE §2.2.2.11: auth_pad_length pad bytes, the 8-byte
            // sec_trailer (auth_type, auth_level, auth_pad_length,
            // auth_reserved u8, auth_context_id u32), then auth_length
            // bytes of credentials end the PDU.
            let trailer = frag_len
                .checked_sub(usize::from(auth_len) + 8)
                .filter(|&t| t >= 16)
                .ok_or("not DCE/RPC: auth_length exceeds the fragment")?;
            match Ndr::at(rec, trailer, le).array() {
                Some([_, level, pad]) => {
                    let end = trailer.saturating_sub(pad.into()).max(16);
                    (end.min(rec.len()), Auth::Level(level))
                }
                None if cut => (rec.len(), Auth::Unseen),
                None => return Err(BAD_HEADER),
            }
        };
        Ok(Pdu {
            ptype,
            flags,
            le,
            call_id,
            body: rec.get(16..end).unwrap_or_default(),
            auth,
            cut,
        })
    }

    /// Whether its stub may be read: not encrypted (auth level 6, packet
    /// privacy), nor possibly so (a cut fragment's unseen sec_trailer).
    fn clear(&self) -> bool {
        !matches!(
            self.auth,
            Auth::Level(AUTH_LEVEL_PKT_PRIVACY) | Auth::Unseen
        )
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
            ptype::RESPONSE => return self.response(&pdu, out),
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
    /// FIRST_FRAG fragment to the LAST_FRAG one. A fragment of a reply
    /// being read that the snaplen cut ends it: what was captured is read
    /// (the towers or string bindings that made it in), and the dissector
    /// gives up, since the rest of the reply is lost.
    fn response(&mut self, pdu: &Pdu, out: &mut Vec<Fact>) -> Result<(), GiveUp> {
        if pdu.flags & PFC_FIRST_FRAG != 0 {
            self.stub = self.take_call(pdu.call_id).map(|call| Stub {
                call,
                le: pdu.le,
                bytes: Vec::new(),
            });
        }
        let Some(stub) = self.stub.as_mut().filter(|s| s.call.call_id == pdu.call_id) else {
            return Ok(());
        };
        let part = pdu.body.get(8..).unwrap_or_default();
        if !pdu.clear() || stub.bytes.len() + part.len() > MAX_STUB {
            self.stub = None;
            return match pdu.auth {
                Auth::Unseen => Err(GiveUp(super::SNAPLEN_CUT)),
                _ => Ok(()),
            };
        }
        stub.bytes.extend_from_slice(part);
        if pdu.cut || pdu.flags & PFC_LAST_FRAG != 0 {
            if let Some(s) = self.stub.take() {
                s.read(out);
            }
        }
        match pdu.cut {
            true => Err(GiveUp(super::SNAPLEN_CUT)),
            false => Ok(()),
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

#[cfg(test)]
mod tests;
