//! Endpoint-mapper `ept_map` replies and their protocol towers.

use std::net::Ipv4Addr;

use super::ndr::Ndr;
use super::{Fact, MAX_TOWERS};

/// ept_map reply (C706 Appendix O, opnum 3): entry_handle (context handle,
/// 20 bytes), num_towers u32, then `towers`: a conformant-varying array of
/// tower pointers (max_count, offset, actual_count, then actual_count
/// referent ids), each non-null one followed by its twr_t (conformant
/// max_count, tower_length u32, tower octets), then status u32. Sizes and
/// pointers are u32, or u64 aligned to 8 in NDR64.
pub(super) fn ept_map_reply(stub: &[u8], le: bool, ndr64: bool, out: &mut Vec<Fact>) -> Option<()> {
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
pub(super) fn tower(octets: &[u8], out: &mut Vec<Fact>) -> Option<()> {
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
