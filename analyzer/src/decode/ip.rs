//! IPv4/IPv6 (etherparse lax slices) and the transport header fields we need.
//!
//! Transport fields are read here at fixed offsets rather than through
//! etherparse's `TcpSlice`: a snaplen-cut TCP header (options cut, as in a
//! 68-byte capture) is rejected whole by etherparse, yet its ports, which
//! are all a flow needs, are the first four bytes and tshark shows them.

use etherparse::err::ip::LaxHeaderSliceError;
use etherparse::{Ipv6ExtensionSlice, LaxIpSlice};

use super::{proto, Decoded, Fragment, Layer, NetBytes, PacketMeta, Stop, Stopped};

pub(crate) fn decode(net: NetBytes<'_>) -> Decoded<'_> {
    let ip = match ip_slice(&net) {
        Ok(ip) => ip,
        Err(stopped) => return Decoded::Stopped(stopped),
    };
    let (fragment, offset, more) = fragment_of(&ip);
    let payload = ip.payload();
    let (ip_id, ip_len) = id_and_len(&ip);
    let mut meta = PacketMeta {
        src: ip.source_addr(),
        dst: ip.destination_addr(),
        proto: payload.ip_number.0,
        sport: 0,
        dport: 0,
        tcp_flags: 0,
        vlans: net.vlans,
        vlan_count: net.vlan_count,
        ifindex: net.ifindex,
        fragment,
        icmp_quoted: None,
        payload: &[],
        payload_wire_len: 0,
        tcp_seq: 0,
        tcp_ack: 0,
        ip_id,
        ip_len,
        frag_offset: offset,
        frag_more: more,
        mpls: net.mpls,
        tunnel_hint: net.mpls,
    };
    // What the IP payload is on the wire: the header's length when the
    // snaplen cut it.
    let wire = if payload.incomplete {
        declared_len(&ip)
    } else {
        payload.payload.len()
    };
    if matches!(fragment, Fragment::Later { .. }) {
        meta.payload = payload.payload;
        meta.payload_wire_len = u32::try_from(wire).unwrap_or(u32::MAX);
        return Decoded::Packet(meta);
    }
    match transport(&mut meta, payload.payload, wire) {
        Ok(()) => Decoded::Packet(meta),
        Err(s) => Decoded::Stopped(s),
    }
}

/// The IP header (and IPv6 extension headers) of `net`, or why not.
#[inline(always)]
fn ip_slice<'a>(net: &NetBytes<'a>) -> Result<LaxIpSlice<'a>, Stopped> {
    let layer_of = |v: u8| if v == 6 { Layer::Ipv6 } else { Layer::Ipv4 };
    let stopped = |layer, reason| Stopped { layer, reason };
    let Some(first) = net.bytes.first() else {
        return Err(stopped(layer_of(net.version_hint), Stop::HeaderCut));
    };
    let version = first >> 4;
    if version != 4 && version != 6 {
        let why = Stop::Malformed("IP version is neither 4 nor 6");
        return Err(stopped(layer_of(net.version_hint), why));
    }
    let layer = layer_of(version);
    match LaxIpSlice::from_slice(net.bytes) {
        Ok((ip, None)) => Ok(ip),
        Ok((_, Some(_))) => Err(stopped(
            layer,
            Stop::Malformed("IPv6 extension header cut or invalid"),
        )),
        Err(LaxHeaderSliceError::Len(_)) => Err(stopped(layer, Stop::HeaderCut)),
        Err(LaxHeaderSliceError::Content(_)) => Err(stopped(
            layer,
            Stop::Malformed("impossible IP header field"),
        )),
    }
}

/// The IPv4 identification (0 for IPv6) and the IP packet's declared
/// length (0 for an IPv6 jumbogram or an IPv4 LSOv2 super-frame).
#[inline(always)]
fn id_and_len(ip: &LaxIpSlice<'_>) -> (u16, u32) {
    match ip {
        LaxIpSlice::Ipv4(v4) => (
            v4.header().identification(),
            u32::from(v4.header().total_len()),
        ),
        LaxIpSlice::Ipv6(v6) => match v6.header().payload_length() {
            0 => (0, 0),
            n => (0, 40 + u32::from(n)),
        },
    }
}

fn wire_len(l4: usize, header: usize) -> u32 {
    u32::try_from(l4.saturating_sub(header)).unwrap_or(u32::MAX)
}

/// The IP payload length the header declares (after IPv6 extension headers).
fn declared_len(ip: &LaxIpSlice<'_>) -> usize {
    match ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            usize::from(h.total_len()).saturating_sub(usize::from(h.ihl()) * 4)
        }
        LaxIpSlice::Ipv6(v6) => {
            usize::from(v6.header().payload_length()).saturating_sub(v6.extensions().slice().len())
        }
    }
}

/// The fragment kind, the fragment's byte offset and its more-fragments flag.
#[inline]
fn fragment_of(ip: &LaxIpSlice<'_>) -> (Fragment, u32, bool) {
    let (offset, more, id) = match ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            // Flags and fragment offset share one word (RFC 791): the usual
            // unfragmented packet is decided by one test.
            let s = h.slice();
            let word = u16::from_be_bytes([s[6], s[7]]);
            if word & 0x3fff == 0 {
                return (Fragment::None, 0, false);
            }
            (
                u32::from(word & 0x1fff) * 8,
                word & 0x2000 != 0,
                u32::from(h.identification()),
            )
        }
        LaxIpSlice::Ipv6(v6) => {
            let frag = v6
                .extensions()
                .clone()
                .into_iter()
                .find_map(|ext| match ext {
                    Ipv6ExtensionSlice::Fragment(f) => Some(f),
                    _ => None,
                });
            let Some(f) = frag else {
                return (Fragment::None, 0, false);
            };
            // RFC 8200 §4.5: offset(13 bits) | reserved(2) | M(1).
            // Read by hand: etherparse 0.19's `fragment_offset()` and
            // `more_fragments()` use the IPv4 bit layout here, which
            // turns a first fragment (offset 0, M=1) into offset 1.
            let s = f.slice();
            let word = u16::from_be_bytes([s[2], s[3]]);
            (u32::from(word >> 3) * 8, word & 1 == 1, f.identification())
        }
    };
    let kind = match (offset, more) {
        (0, false) => Fragment::None,
        (0, true) => Fragment::First { id },
        _ => Fragment::Later { id },
    };
    (kind, offset, more)
}

/// Fills ports, flags and payload from the L4 bytes.
fn transport<'a>(meta: &mut PacketMeta<'a>, l4: &'a [u8], l4_wire: usize) -> Result<(), Stopped> {
    let cut = |layer| Stopped {
        layer,
        reason: Stop::HeaderCut,
    };
    let ports = |layer| -> Result<(u16, u16), Stopped> {
        match l4 {
            [a, b, c, d, ..] => Ok((u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]))),
            _ => Err(cut(layer)),
        }
    };
    match meta.proto {
        proto::TCP => {
            (meta.sport, meta.dport) = ports(Layer::Tcp)?;
            meta.tcp_flags = l4.get(13).copied().unwrap_or(0);
            if let Some(seq) = l4.get(4..8) {
                meta.tcp_seq = u32::from_be_bytes([seq[0], seq[1], seq[2], seq[3]]);
            }
            if let Some(ack) = l4.get(8..12) {
                meta.tcp_ack = u32::from_be_bytes([ack[0], ack[1], ack[2], ack[3]]);
            }
            let data_offset = usize::from(l4.get(12).copied().unwrap_or(0) >> 4) * 4;
            if data_offset >= 20 && data_offset <= l4.len() {
                meta.payload = &l4[data_offset..];
            }
            if data_offset >= 20 {
                meta.payload_wire_len = wire_len(l4_wire.max(l4.len()), data_offset);
            }
        }
        proto::UDP => {
            (meta.sport, meta.dport) = ports(Layer::Udp)?;
            meta.tunnel_hint |= super::tunnel::on_tunnel_port(meta.dport);
            if l4.len() >= 8 {
                meta.payload = &l4[8..];
            }
            meta.payload_wire_len = wire_len(l4_wire.max(l4.len()), 8);
            // A first fragment's payload starts after its 8-byte UDP header.
            meta.frag_offset += 8;
        }
        proto::SCTP => (meta.sport, meta.dport) = ports(Layer::Sctp)?,
        // A tunnel's payload is what `decode::encapsulated` reads.
        proto::GRE | proto::IPIP | proto::IPV6_ENCAP => {
            meta.tunnel_hint = true;
            meta.payload = l4;
            meta.payload_wire_len = wire_len(l4_wire.max(l4.len()), 0);
        }
        proto::ICMP | proto::ICMPV6 => {
            let [icmp_type, code, ..] = *l4 else {
                return Err(cut(Layer::Icmp));
            };
            let v6 = meta.proto == proto::ICMPV6;
            let error = if v6 {
                icmp_type < 128
            } else {
                matches!(icmp_type, 3 | 4 | 5 | 11 | 12)
            };
            // After type, code, checksum and 4 bytes (MTU, pointer, unused).
            meta.icmp_quoted = error.then(|| l4.get(8..).unwrap_or_default());
            let (sport, dport) = icmp_ports(v6, icmp_type, code);
            (meta.sport, meta.dport) = (sport, dport);
        }
        _ => {}
    }
    Ok(())
}

/// Community ID v1 maps ICMP type and code onto the port fields: a type
/// that has a request/response counterpart gets the counterpart's type as
/// its "destination port", so both directions share one flow; any other
/// type keeps (type, code).
/// Spec: <https://github.com/corelight/community-id-spec> (§ ICMP).
pub(crate) fn icmp_ports(v6: bool, icmp_type: u8, code: u8) -> (u16, u16) {
    let counterpart = if v6 {
        match icmp_type {
            128 => Some(129),
            129 => Some(128),
            130 => Some(131),
            131 => Some(130),
            133 => Some(134),
            134 => Some(133),
            135 => Some(136),
            136 => Some(135),
            139 => Some(140),
            140 => Some(139),
            144 => Some(145),
            145 => Some(144),
            _ => None,
        }
    } else {
        match icmp_type {
            8 => Some(0),
            0 => Some(8),
            13 => Some(14),
            14 => Some(13),
            15 => Some(16),
            16 => Some(15),
            10 => Some(9),
            9 => Some(10),
            17 => Some(18),
            18 => Some(17),
            _ => None,
        }
    };
    (u16::from(icmp_type), u16::from(counterpart.unwrap_or(code)))
}

/// The 5-tuple of the packet an ICMP error quotes (RFC 792, RFC 4443: its
/// IP header and at least the first 8 bytes of its payload), with its
/// sender as `src`. Ports are read, as above, from the payload's first
/// four bytes (TCP, UDP, SCTP); a later fragment or another protocol has
/// ports 0. `None` when no IP header can be read.
pub fn quoted_tuple(quoted: &[u8]) -> Option<crate::classify::FlowTuple> {
    let (ip, _) = LaxIpSlice::from_slice(quoted).ok()?;
    let payload = ip.payload();
    let offset = fragment_of(&ip).1;
    let proto = payload.ip_number.0;
    let with_ports = matches!(proto, proto::TCP | proto::UDP | proto::SCTP) && offset == 0;
    let port = |at: usize| {
        payload
            .payload
            .get(at..at + 2)
            .filter(|_| with_ports)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    };
    Some(crate::classify::FlowTuple {
        proto,
        src: ip.source_addr(),
        sport: port(0),
        dst: ip.destination_addr(),
        dport: port(2),
    })
}
