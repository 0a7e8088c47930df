//! Application payloads. Only their sizes matter to the bookkeeping; where a dissector would
//! look (iSCSI, TLS, RDP, cluster heartbeats), the first bytes are well-formed so tools
//! that read the fixtures see plausible protocols rather than noise. SMB2 lives in `smb`,
//! DCE/RPC in `rpc`, DCOM activation in `dcom` and DNS in `dns`.

use std::net::{Ipv4Addr, Ipv6Addr};

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

/// Neighbor discovery body (RFC 4861 §4.3, §4.4): the target address, then one link-layer
/// address option for `mac`: source (type 1) in a solicitation, target (type 2) in an
/// advertisement.
pub(crate) fn neighbor(target: Ipv6Addr, advert: bool, mac: [u8; 6]) -> Vec<u8> {
    let mut v = target.octets().to_vec();
    v.push(if advert { 2 } else { 1 });
    v.push(1); // option length in units of 8 bytes
    v.extend_from_slice(&mac);
    v
}
