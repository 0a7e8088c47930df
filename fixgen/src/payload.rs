//! Application payloads. Only their sizes matter to the bookkeeping; where a dissector would
//! look (DNS, SMB2, DCE/RPC, iSCSI, TLS, RDP), the first bytes are well-formed so tools that
//! read the fixtures see plausible protocols rather than noise.

use std::net::Ipv4Addr;

/// `len` deterministic filler bytes.
pub(crate) fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Generator of opaque bulk data (DPM 5718/5719, live migration 6600): one message of the
/// requested size, a 16-byte counter header then filler.
pub(crate) fn opaque(seed: u8) -> impl FnMut(usize) -> Vec<u8> {
    let mut n: u64 = 0;
    move |len| {
        n += 1;
        let mut v = pattern(len, seed);
        let hdr = [&n.to_be_bytes()[..], &(len as u64).to_be_bytes()[..]].concat();
        let k = hdr.len().min(len);
        v[..k].copy_from_slice(&hdr[..k]);
        v
    }
}

fn dns_name(name: &str, out: &mut Vec<u8>) {
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// A standard recursive query for the A records of `name`.
pub(crate) fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; 1 question
    dns_name(name, &mut v);
    v.extend_from_slice(&[0, 1, 0, 1]); // A, IN
    v
}

/// The answer to `dns_query(id, name)` with one A record per address (TTL 1200).
pub(crate) fn dns_answer(id: u16, name: &str, addrs: &[Ipv4Addr]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&[0x85, 0x80, 0, 1]); // QR AA RD RA; 1 question
    v.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0]);
    dns_name(name, &mut v);
    v.extend_from_slice(&[0, 1, 0, 1]);
    for a in addrs {
        v.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x04, 0xb0, 0, 4]);
        v.extend_from_slice(&a.octets());
    }
    v
}

fn nbss(body: Vec<u8>) -> Vec<u8> {
    let len = body.len() as u32;
    let mut v = Vec::with_capacity(body.len() + 4);
    v.push(0);
    v.extend_from_slice(&len.to_be_bytes()[1..]);
    v.extend(body);
    v
}

fn smb2_header(command: u16, message_id: u64, response: bool) -> Vec<u8> {
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(b"\xfeSMB");
    h.extend_from_slice(&64u16.to_le_bytes()); // StructureSize
    h.extend_from_slice(&1u16.to_le_bytes()); // CreditCharge
    h.extend_from_slice(&0u32.to_le_bytes()); // Status
    h.extend_from_slice(&command.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // Credits
    h.extend_from_slice(&u32::from(response).to_le_bytes()); // Flags: SERVER_TO_REDIR
    h.extend_from_slice(&0u32.to_le_bytes()); // NextCommand
    h.extend_from_slice(&message_id.to_le_bytes());
    h.extend_from_slice(&0xfeffu32.to_le_bytes()); // Reserved (ProcessId)
    h.extend_from_slice(&1u32.to_le_bytes()); // TreeId
    h.extend_from_slice(&0x4000_0000_0001u64.to_le_bytes()); // SessionId
    h.extend_from_slice(&[0; 16]); // Signature
    h
}

const SMB2_WRITE: u16 = 0x0009;

/// NBSS-framed SMB2 WRITE request carrying `data_len` bytes at `offset` (CSV redirected I/O).
pub(crate) fn smb2_write(message_id: u64, offset: u64, data_len: usize) -> Vec<u8> {
    let mut v = smb2_header(SMB2_WRITE, message_id, false);
    v.extend_from_slice(&49u16.to_le_bytes()); // StructureSize
    v.extend_from_slice(&(64u16 + 48).to_le_bytes()); // DataOffset
    v.extend_from_slice(&(data_len as u32).to_le_bytes());
    v.extend_from_slice(&offset.to_le_bytes());
    v.extend_from_slice(&[0x11; 16]); // FileId
    v.extend_from_slice(&[0; 4 + 4 + 2 + 2 + 4]); // Channel, Remaining, WCI offset/len, Flags
    v.extend(pattern(data_len, message_id as u8));
    nbss(v)
}

/// NBSS-framed SMB2 WRITE response acknowledging `count` bytes.
pub(crate) fn smb2_write_response(message_id: u64, count: usize) -> Vec<u8> {
    let mut v = smb2_header(SMB2_WRITE, message_id, true);
    v.extend_from_slice(&17u16.to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes());
    v.extend_from_slice(&(count as u32).to_le_bytes());
    v.extend_from_slice(&[0; 4 + 2 + 2 + 1]);
    nbss(v)
}

const NDR_UUID: [u8; 16] = [
    0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60,
];
/// IRemoteSCMActivator 000001a0-0000-0000-c000-000000000046, as DCOM activation binds to.
const ACTIVATOR_UUID: [u8; 16] = [0xa0, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46];

fn dcerpc(ptype: u8, call_id: u32, body: &[u8]) -> Vec<u8> {
    let frag_len = 16 + body.len() as u16;
    let mut v = vec![5, 0, ptype, 0x03, 0x10, 0, 0, 0];
    v.extend_from_slice(&frag_len.to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes());
    v.extend_from_slice(&call_id.to_le_bytes());
    v.extend_from_slice(body);
    v
}

/// DCE/RPC bind to the DCOM activator (the start of the DCOM control exchange on TCP 135).
pub(crate) fn dcerpc_bind(call_id: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&5840u16.to_le_bytes());
    b.extend_from_slice(&5840u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&[1, 0, 0, 0]); // one context
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&[1, 0]); // one transfer syntax
    b.extend_from_slice(&ACTIVATOR_UUID);
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&NDR_UUID);
    b.extend_from_slice(&2u32.to_le_bytes());
    dcerpc(11, call_id, &b)
}

pub(crate) fn dcerpc_bind_ack(call_id: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&5840u16.to_le_bytes());
    b.extend_from_slice(&5840u16.to_le_bytes());
    b.extend_from_slice(&0x0001_2345u32.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(b"135\0");
    b.extend_from_slice(&[0, 0]); // align to 4
    b.extend_from_slice(&[1, 0, 0, 0]); // one result
    b.extend_from_slice(&[0, 0, 0, 0]); // acceptance
    b.extend_from_slice(&NDR_UUID);
    b.extend_from_slice(&2u32.to_le_bytes());
    dcerpc(12, call_id, &b)
}

/// DCE/RPC request (`response == false`) or response with an opaque stub.
pub(crate) fn dcerpc_call(call_id: u32, opnum: u16, stub_len: usize, response: bool) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(stub_len as u32).to_le_bytes()); // alloc hint
    b.extend_from_slice(&0u16.to_le_bytes()); // context id
    if response {
        b.extend_from_slice(&[0, 0]); // cancel count, reserved
    } else {
        b.extend_from_slice(&opnum.to_le_bytes());
    }
    b.extend(pattern(stub_len, opnum as u8));
    dcerpc(if response { 2 } else { 0 }, call_id, &b)
}

/// iSCSI PDU: 48-byte basic header segment with `opcode`, then `data_len` bytes of data.
pub(crate) fn iscsi_pdu(opcode: u8, itt: u32, data_len: usize) -> Vec<u8> {
    let mut v = vec![0u8; 48];
    v[0] = opcode;
    v[1] = 0x80; // Final
    v[5..8].copy_from_slice(&(data_len as u32).to_be_bytes()[1..]);
    v[16..20].copy_from_slice(&itt.to_be_bytes());
    v.extend(pattern(data_len, itt as u8));
    v
}

/// TLS 1.2 application-data record with `len` bytes of ciphertext.
pub(crate) fn tls_record(len: usize) -> Vec<u8> {
    let mut v = vec![0x17, 0x03, 0x03];
    v.extend_from_slice(&(len as u16).to_be_bytes());
    v.extend(pattern(len, 0x17));
    v
}

/// RDP over TPKT (RFC 1006) with `len` bytes of body.
pub(crate) fn tpkt(len: usize) -> Vec<u8> {
    let mut v = vec![0x03, 0x00];
    v.extend_from_slice(&((len + 4) as u16).to_be_bytes());
    v.extend(pattern(len, 0x03));
    v
}

/// Cluster heartbeat (Route Control Protocol on UDP 3343): a request (`response == false`)
/// or the matching response for sequence number `seq`, 92 bytes of payload, so a 134-byte
/// frame over IPv4/Ethernet. Layout as Wireshark's MSRCP dissector reads it: identifier,
/// version, reserved, type (0 request, 1 response), next header (1 = IPv4 pair), total length,
/// sequence number, then an extension header with the two addresses, zero padded.
pub(crate) fn heartbeat(seq: u32, response: bool, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    const LEN: usize = 92;
    let mut v = vec![0x55, 0x55, 0x55, 0x55, 1, 0];
    v.extend_from_slice(&u16::from(response).to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&(LEN as u16).to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes()); // extension: next header none
    v.extend_from_slice(&40u16.to_le_bytes()); // extension length
    v.extend_from_slice(&0u32.to_le_bytes());
    let mut pair = [0u8; 32];
    pair[..4].copy_from_slice(&src.octets());
    pair[16..20].copy_from_slice(&dst.octets());
    v.extend_from_slice(&pair);
    v.resize(LEN, 0);
    v
}
