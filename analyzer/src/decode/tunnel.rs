//! Tunnels: what an outer IP packet encapsulates, one level at a time.
//!
//! etherparse reads Ethernet, VLAN tags and IP, but none of GRE, ERSPAN,
//! VXLAN or Geneve, so their headers are read here by hand: each is a fixed
//! layout (the RFC or draft section is at each reader) checked against the
//! bytes once. The inner frame or packet is then decoded by the same link
//! and IP code as any frame ([`inner`]).
//!
//! The bytes a level counts are its own wire length: the outer packet's
//! declared payload minus the tunnel headers, so a snaplen that cuts the
//! capture does not shrink them (as for every frame, `orig_len` counts).

use super::{link, proto, Decoded, Fragment, Layer, PacketMeta, Stop, Stopped};

/// IANA UDP port of VXLAN (RFC 7348 §5).
pub const VXLAN_PORT: u16 = 4789;
/// IANA UDP port of Geneve (RFC 8926 §3.3).
pub const GENEVE_PORT: u16 = 6081;
/// Most tunnels nested in one frame: deeper ones are counted `undecoded`,
/// so crafted input cannot make decoding loop.
pub const MAX_NESTING: usize = 4;

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const ETH_BRIDGING: u16 = 0x6558;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MULTICAST: u16 = 0x8848;
const ETH_ERSPAN_I_II: u16 = 0x88BE;
const ETH_ERSPAN_III: u16 = 0x22EB;

/// The kinds of tunnel lanecheck decodes.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum TunnelKind {
    /// An MPLS label stack in front of the IP header (no outer IP packet).
    Mpls,
    /// GRE carrying IP, MPLS or (transparent bridging) Ethernet.
    Gre,
    /// NVGRE (RFC 7637): GRE with a key, carrying Ethernet; id = VSID.
    Nvgre,
    /// ERSPAN type I: Ethernet right after a GRE header without sequence number.
    ErspanI,
    /// ERSPAN type II; id = session.
    ErspanII,
    /// ERSPAN type III; id = session.
    ErspanIII,
    /// VXLAN (RFC 7348); id = VNI.
    Vxlan,
    /// Geneve (RFC 8926); id = VNI.
    Geneve,
    /// IPv4 in IP (IP protocol 4), either outer family.
    Ipv4InIp,
    /// IPv6 in IP (IP protocol 41), either outer family.
    Ipv6InIp,
}

impl TunnelKind {
    /// The name in reports (`tunnel.type` in JSON).
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Mpls => "mpls",
            TunnelKind::Gre => "gre",
            TunnelKind::Nvgre => "nvgre",
            TunnelKind::ErspanI => "erspan-i",
            TunnelKind::ErspanII => "erspan-ii",
            TunnelKind::ErspanIII => "erspan-iii",
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Ipv4InIp => "ipv4-in-ip",
            TunnelKind::Ipv6InIp => "ipv6-in-ip",
        }
    }

    /// A mirror session's transport (ERSPAN): its outer packets are copies
    /// sent to a collector, not traffic of their own.
    pub fn is_mirror(self) -> bool {
        matches!(
            self,
            TunnelKind::ErspanI | TunnelKind::ErspanII | TunnelKind::ErspanIII
        )
    }
}

/// What a tunnel carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Carried {
    /// An Ethernet frame.
    Ethernet,
    /// An IP packet; 4 or 6, or 0 when its version nibble decides.
    Ip(u8),
}

/// The encapsulated frame or packet's captured bytes.
#[derive(Clone, Copy, Debug)]
pub struct Inner<'a> {
    /// Captured bytes (shorter than `Encap::wire_len` when cut by a snaplen).
    pub bytes: &'a [u8],
    /// What they start with.
    pub carried: Carried,
}

/// What an outer packet encapsulates.
#[derive(Clone, Copy, Debug)]
pub struct Encap<'a> {
    /// The tunnel.
    pub kind: TunnelKind,
    /// VNI, GRE key, NVGRE VSID or ERSPAN session, when the header has one.
    pub id: Option<u32>,
    /// The encapsulated frame's or packet's own length on the wire.
    pub wire_len: u32,
    /// Its bytes, or why they cannot be decoded.
    pub inner: Result<Inner<'a>, Stopped>,
}

/// UDP to the VXLAN or Geneve port may carry a tunnel.
#[inline(always)]
pub(crate) fn on_tunnel_port(dport: u16) -> bool {
    dport == VXLAN_PORT || dport == GENEVE_PORT
}

/// What `m` encapsulates, if it is a tunnel's outer packet: GRE, IP in IP,
/// or UDP to the VXLAN or Geneve port (`PacketMeta::tunnel_hint` rules out
/// every other packet with one test). A later IP fragment carries no tunnel
/// header (it stays in its outer flow); a first fragment's inner packet is
/// not reassembled.
pub fn encapsulated<'a>(m: &PacketMeta<'a>) -> Option<Encap<'a>> {
    let maybe = match m.proto {
        proto::GRE | proto::IPIP | proto::IPV6_ENCAP => true,
        proto::UDP => on_tunnel_port(m.dport),
        _ => false,
    };
    if !maybe || matches!(m.fragment, Fragment::Later { .. }) {
        return None;
    }
    Some(decapsulate(m))
}

/// Decodes an encapsulated frame or packet as the next level.
pub fn inner<'a>(e: &Encap<'a>) -> Decoded<'a> {
    let inner = match e.inner {
        Ok(i) => i,
        Err(s) => return Decoded::Stopped(s),
    };
    let net = match inner.carried {
        Carried::Ethernet => match link::ethernet(inner.bytes) {
            Ok(n) => n,
            Err(d) => return d,
        },
        Carried::Ip(hint) => link::raw(inner.bytes, hint),
    };
    super::ip::decode(net)
}

#[cold]
#[inline(never)]
fn decapsulate<'a>(m: &PacketMeta<'a>) -> Encap<'a> {
    let (b, wire) = (m.payload, m.payload_wire_len);
    let mut e = match m.proto {
        proto::GRE => gre(b, wire),
        proto::IPIP => ip_in_ip(TunnelKind::Ipv4InIp, b, wire, 4),
        proto::IPV6_ENCAP => ip_in_ip(TunnelKind::Ipv6InIp, b, wire, 6),
        _ if m.dport == VXLAN_PORT => vxlan(b, wire),
        _ => geneve(b, wire),
    };
    if matches!(m.fragment, Fragment::First { .. }) {
        e.inner = Err(Stopped {
            layer: layer_of(e.kind),
            reason: Stop::NotDecoded("outer IP packet fragmented (not reassembled)"),
        });
    }
    e
}

fn layer_of(kind: TunnelKind) -> Layer {
    match kind {
        TunnelKind::Mpls => Layer::Mpls,
        TunnelKind::Gre | TunnelKind::Nvgre | TunnelKind::ErspanI => Layer::Gre,
        TunnelKind::ErspanII | TunnelKind::ErspanIII => Layer::Erspan,
        TunnelKind::Vxlan => Layer::Vxlan,
        TunnelKind::Geneve => Layer::Geneve,
        TunnelKind::Ipv4InIp | TunnelKind::Ipv6InIp => Layer::IpInIp,
    }
}

/// An encapsulation whose header was read: what follows `header` bytes.
fn carrying(kind: TunnelKind, id: Option<u32>, b: &[u8], wire: u32, header: usize) -> Encap<'_> {
    Encap {
        kind,
        id,
        wire_len: wire.saturating_sub(u32::try_from(header).unwrap_or(u32::MAX)),
        inner: Ok(Inner {
            bytes: b.get(header..).unwrap_or_default(),
            carried: Carried::Ethernet,
        }),
    }
}

/// An encapsulation that stops here, counted under its layer.
fn stopped(kind: TunnelKind, id: Option<u32>, reason: Stop) -> Encap<'static> {
    Encap {
        kind,
        id,
        wire_len: 0,
        inner: Err(Stopped {
            layer: layer_of(kind),
            reason,
        }),
    }
}

fn with_carried(mut e: Encap<'_>, carried: Carried) -> Encap<'_> {
    if let Ok(i) = &mut e.inner {
        i.carried = carried;
    }
    e
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// IP protocol 4 or 41: the payload is the inner IP packet itself.
fn ip_in_ip(kind: TunnelKind, b: &[u8], wire: u32, version: u8) -> Encap<'_> {
    with_carried(carrying(kind, None, b, wire, 0), Carried::Ip(version))
}

/// The GRE header (RFC 2784 §2.1, key and sequence number RFC 2890 §2):
/// C(1) R(1) K(1) S(1) s(1) Recur(3) | Flags(5) Ver(3) | Protocol Type(16),
/// then checksum + reserved (C, or R in RFC 1701), key (K), sequence (S).
fn gre(b: &[u8], wire: u32) -> Encap<'_> {
    let [flags, ver, ..] = *b else {
        return stopped(TunnelKind::Gre, None, Stop::HeaderCut);
    };
    let (csum, routing, has_key, has_seq) = (
        flags & 0x80 != 0,
        flags & 0x40 != 0,
        flags & 0x20 != 0,
        flags & 0x10 != 0,
    );
    match ver & 0x07 {
        0 => {}
        // RFC 2637 enhanced GRE: PPP frames of a PPTP session.
        1 => {
            return stopped(
                TunnelKind::Gre,
                None,
                Stop::NotDecoded("version 1 (PPTP) not decoded"),
            )
        }
        _ => {
            return stopped(
                TunnelKind::Gre,
                None,
                Stop::Malformed("GRE version above 1"),
            )
        }
    }
    if routing {
        let why = Stop::NotDecoded("source routing (RFC 1701) not decoded");
        return stopped(TunnelKind::Gre, None, why);
    }
    let len = 4 + 4 * (usize::from(csum) + usize::from(has_key) + usize::from(has_seq));
    if b.len() < len {
        return stopped(TunnelKind::Gre, None, Stop::HeaderCut);
    }
    let key = has_key.then(|| u32_at(b, 4 + 4 * usize::from(csum)));
    let gre_proto = u16_at(b, 2);
    let plain = |carried| with_carried(carrying(TunnelKind::Gre, key, b, wire, len), carried);
    match gre_proto {
        ETH_IPV4 => plain(Carried::Ip(4)),
        ETH_IPV6 => plain(Carried::Ip(6)),
        // RFC 7637 §3.2: NVGRE sets K, clears C and S; key = VSID(24) FlowID(8).
        ETH_BRIDGING if has_key && !csum && !has_seq => {
            carrying(TunnelKind::Nvgre, key.map(|k| k >> 8), b, wire, len)
        }
        ETH_BRIDGING => plain(Carried::Ethernet),
        ETH_MPLS | ETH_MPLS_MULTICAST => gre_mpls(key, b, wire, len),
        // Type I has no sequence number (nor ERSPAN header); type II has both.
        ETH_ERSPAN_I_II if !has_seq => carrying(TunnelKind::ErspanI, None, b, wire, len),
        ETH_ERSPAN_I_II => erspan(
            TunnelKind::ErspanII,
            &b[len..],
            wire.saturating_sub(len as u32),
        ),
        ETH_ERSPAN_III => erspan(
            TunnelKind::ErspanIII,
            &b[len..],
            wire.saturating_sub(len as u32),
        ),
        other => stopped(TunnelKind::Gre, key, Stop::UnknownType(other)),
    }
}

/// MPLS over GRE (RFC 4023): a label stack, then IP.
fn gre_mpls(key: Option<u32>, b: &[u8], wire: u32, len: usize) -> Encap<'_> {
    match link::mpls_stack(&b[len..]) {
        Ok(ip) => {
            let header = b.len() - ip.len();
            with_carried(
                carrying(TunnelKind::Gre, key, b, wire, header),
                Carried::Ip(0),
            )
        }
        Err(s) => stopped(TunnelKind::Gre, key, s.reason),
    }
}

/// ERSPAN after its GRE header (draft-foschiano-erspan-03 §4.1, §4.2).
/// Both types start Ver(4) VLAN(12) COS(3) En/BSO(2) T(1) Session ID(10).
/// Type II: Reserved(12) Index(20); 8 bytes, then the mirrored Ethernet frame.
/// Type III: Timestamp(32), SGT(16) P(1) FT(5) Hw ID(6) D(1) Gra(2) O(1);
/// 12 bytes, 8 more when O announces a platform-specific subheader; then an
/// Ethernet frame (FT 0) or an IP packet (FT 2).
fn erspan(kind: TunnelKind, b: &[u8], wire: u32) -> Encap<'_> {
    let (len, want_ver) = match kind {
        TunnelKind::ErspanII => (8, 1),
        _ => (12, 2),
    };
    if b.len() < len {
        return stopped(kind, None, Stop::HeaderCut);
    }
    let session = u32::from(u16_at(b, 2) & 0x03ff);
    if b[0] >> 4 != want_ver {
        return stopped(
            kind,
            Some(session),
            Stop::Malformed("ERSPAN version does not match its GRE type"),
        );
    }
    if kind == TunnelKind::ErspanII {
        return carrying(kind, Some(session), b, wire, len);
    }
    let frame_type = (b[10] >> 2) & 0x1f;
    let len = if b[11] & 0x01 != 0 { len + 8 } else { len };
    if b.len() < len {
        return stopped(kind, Some(session), Stop::HeaderCut);
    }
    let e = carrying(kind, Some(session), b, wire, len);
    match frame_type {
        0 => e,
        2 => with_carried(e, Carried::Ip(0)),
        _ => stopped(
            kind,
            Some(session),
            Stop::NotDecoded("ERSPAN III frame type other than Ethernet or IP not decoded"),
        ),
    }
}

/// VXLAN (RFC 7348 §5): Flags(8, I = 0x08) Reserved(24) VNI(24) Reserved(8),
/// then the inner Ethernet frame.
fn vxlan(b: &[u8], wire: u32) -> Encap<'_> {
    if b.len() < 8 {
        return stopped(TunnelKind::Vxlan, None, Stop::HeaderCut);
    }
    let vni = u32_at(b, 4) >> 8;
    if b[0] & 0x08 == 0 {
        return stopped(
            TunnelKind::Vxlan,
            None,
            Stop::Malformed("VXLAN I flag clear"),
        );
    }
    carrying(TunnelKind::Vxlan, Some(vni), b, wire, 8)
}

/// Geneve (RFC 8926 §3.4): Ver(2) Opt Len(6) | O(1) C(1) Rsvd(6) | Protocol
/// Type(16) | VNI(24) Reserved(8), then Opt Len × 4 bytes of options.
fn geneve(b: &[u8], wire: u32) -> Encap<'_> {
    if b.len() < 8 {
        return stopped(TunnelKind::Geneve, None, Stop::HeaderCut);
    }
    let vni = Some(u32_at(b, 4) >> 8);
    if b[0] >> 6 != 0 {
        return stopped(
            TunnelKind::Geneve,
            vni,
            Stop::NotDecoded("version other than 0 not decoded"),
        );
    }
    let len = 8 + 4 * usize::from(b[0] & 0x3f);
    if b.len() < len {
        return stopped(TunnelKind::Geneve, vni, Stop::HeaderCut);
    }
    let e = carrying(TunnelKind::Geneve, vni, b, wire, len);
    match u16_at(b, 2) {
        ETH_BRIDGING => e,
        ETH_IPV4 => with_carried(e, Carried::Ip(4)),
        ETH_IPV6 => with_carried(e, Carried::Ip(6)),
        other => stopped(TunnelKind::Geneve, vni, Stop::UnknownType(other)),
    }
}

#[cfg(test)]
mod tests;
