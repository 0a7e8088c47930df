//! A flow's evidence state: which dissector reads it, its in-order stream,
//! and the facts found so far (bounded).

use capture::Timestamp;

use super::dcerpc::DceRpc;
use super::dns::{self, DnsTcp};
use super::reasm::Reassembly;
use super::smb::Smb;
use super::stream::{Accept, TcpStream};
use super::{Dir, Dissector, Fact, GiveUp, Uuid};
use crate::decode::{proto, Fragment, PacketMeta};

/// Why a dissector gives up on a hole in a stream: a segment never came
/// while the flow lasted, or came too far out of order for the reorder
/// buffer ([`super::stream::HELD_SEGMENTS`], [`super::stream::HELD_BYTES`]).
pub const OUT_OF_ORDER: &str = "a segment is missing or out of order";

/// Most facts kept per flow (further ones are counted, not kept).
pub const FACTS_PER_FLOW: usize = 64;

/// The protocol a flow's dissector reads.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Proto {
    /// SMB1/2/3 on TCP 445 or 139.
    Smb,
    /// DCE/RPC on any TCP port (by its header signature).
    DceRpc,
    /// DNS on UDP or TCP 53.
    Dns,
}

impl Proto {
    /// Name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Smb => "smb",
            Proto::DceRpc => "dce-rpc",
            Proto::Dns => "dns",
        }
    }

    /// The dissector for a flow, chosen at its first payload: by port for
    /// SMB and DNS, by the DCE/RPC header signature on any TCP port.
    pub fn choose(ip_proto: u8, ports: [u16; 2], first_payload: &[u8]) -> Option<Proto> {
        let on = |p: u16| ports.contains(&p);
        match ip_proto {
            proto::TCP if on(445) || on(139) => Some(Proto::Smb),
            proto::TCP | proto::UDP if on(53) => Some(Proto::Dns),
            proto::TCP if DceRpc::signature(first_payload) => Some(Proto::DceRpc),
            _ => None,
        }
    }
}

/// A fact and the packet time it was found at.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// Packet time of the packet that completed it.
    pub time: Timestamp,
    /// What was found.
    pub fact: Fact,
    /// How it reached this flow when another flow proved it (a share path
    /// seen in clear on another channel of the same SMB session).
    pub via: Option<Box<str>>,
}

/// The evidence state of one flow with a dissector.
#[derive(Debug)]
pub struct FlowEvidence {
    /// The protocol read.
    pub proto: Proto,
    stream: TcpStream,
    tcp: bool,
    dissector: Option<Box<dyn Dissector>>,
    reasm: Option<Box<Reassembly>>,
    /// Why the dissector stopped, if it did.
    pub gave_up: Option<GiveUp>,
    /// Facts found, in order (at most [`FACTS_PER_FLOW`]).
    pub facts: Vec<Evidence>,
    /// Facts found beyond the cap.
    pub dropped: u32,
    /// The SMB server's ServerGuid, once its NEGOTIATE response was read.
    pub smb_server: Option<Uuid>,
    /// A DNS response over UDP was cut by the snaplen (counted once per
    /// flow; later datagrams are still read).
    cut_counted: bool,
}

impl FlowEvidence {
    /// The state of a flow read as `proto`, created at its first payload;
    /// `handshake_seen` when the flow's SYN was seen (its streams start at
    /// their first byte).
    pub fn new(proto: Proto, ip_proto: u8, handshake_seen: bool) -> Self {
        let stream = TcpStream::new(handshake_seen);
        let starts = [stream.start(Dir::ToServer), stream.start(Dir::ToClient)];
        let tcp = ip_proto == proto::TCP;
        let dissector: Option<Box<dyn Dissector>> = match (proto, tcp) {
            (Proto::Smb, _) => Some(Box::new(Smb::new(starts))),
            (Proto::DceRpc, _) => Some(Box::new(DceRpc::new(starts))),
            (Proto::Dns, true) => Some(Box::new(DnsTcp::new(starts))),
            (Proto::Dns, false) => None,
        };
        FlowEvidence {
            proto,
            stream,
            tcp,
            dissector,
            reasm: None,
            gave_up: None,
            facts: Vec::new(),
            dropped: 0,
            smb_server: None,
            cut_counted: false,
        }
    }

    /// Still reading (not given up).
    pub fn reading(&self) -> bool {
        self.gave_up.is_none()
    }

    /// The reason this flow counts under in the report's give-ups now, if
    /// any: its dissector's, once it gave up; [`OUT_OF_ORDER`] while a
    /// hole is open (segments are held beyond it: the count goes if the
    /// hole fills, and stays if the flow ends first); a DNS response the
    /// snaplen cut, over UDP or TCP (once per flow: it goes on reading).
    pub fn counted(&self) -> Option<GiveUp> {
        let cut = || self.cut_counted || self.dissector.as_ref().is_some_and(|d| d.cut());
        self.gave_up
            .or_else(|| self.stream.holding().then_some(GiveUp(OUT_OF_ORDER)))
            .or_else(|| cut().then_some(GiveUp(super::SNAPLEN_CUT)))
    }

    /// Feeds one packet going `dir`; facts found are appended to `out`.
    /// The caller counts the flow by [`FlowEvidence::counted`], before and
    /// after: a dissector that gives up stops ([`FlowEvidence::reading`]
    /// is false); a segment held beyond a hole counts the flow until the
    /// hole fills.
    #[inline]
    pub fn packet(&mut self, dir: Dir, m: &PacketMeta<'_>, out: &mut Vec<Fact>) {
        if self.gave_up.is_some() {
            return;
        }
        if !self.tcp {
            return self.udp_packet(m, out);
        }
        if let Err(e) = self.tcp_packet(dir, m, out) {
            self.stop(e);
        }
    }

    /// The dissector stops for good, for `why`; held segments are freed.
    fn stop(&mut self, why: GiveUp) {
        self.gave_up = Some(why);
        self.dissector = None;
        self.stream.release();
    }

    /// The flow ended (expired, evicted, or its port reused): a hole still
    /// open will never fill, so the dissector gives up on it
    /// ([`OUT_OF_ORDER`], counted since the hole opened) and the held
    /// segments are freed. Returns whether it gave up.
    pub fn end(&mut self) -> bool {
        let open = self.gave_up.is_none() && self.stream.holding();
        if open {
            self.stop(GiveUp(OUT_OF_ORDER));
        }
        open
    }

    fn tcp_packet(
        &mut self,
        dir: Dir,
        m: &PacketMeta<'_>,
        out: &mut Vec<Fact>,
    ) -> Result<(), GiveUp> {
        let Some(d) = self.dissector.as_mut() else {
            return Ok(());
        };
        if m.fragment != Fragment::None {
            return Err(GiveUp("an IP-fragmented TCP segment"));
        }
        let s = &mut self.stream;
        let accepted = s.accept(dir, m.tcp_seq, m.tcp_flags, m.payload, m.payload_wire_len);
        deliver(d.as_mut(), dir, accepted, out)?;
        // The segments held beyond a hole it filled, in order.
        while let Some(held) = s.reached(dir) {
            let accepted = s.accept(dir, held.seq, 0, &held.data, held.wire_len);
            deliver(d.as_mut(), dir, accepted, out)?;
        }
        Ok(())
    }

    /// A UDP datagram (reassembled when fragmented) is one DNS message. A
    /// response the snaplen cut (whole, or in its first fragment) gives
    /// what its first bytes say ([`dns::cut_response`]) and is counted,
    /// once per flow.
    fn udp_packet(&mut self, m: &PacketMeta<'_>, out: &mut Vec<Fact>) {
        if m.payload_cut() {
            // A cut fragment spoils its datagram; the next id starts afresh.
            let first = matches!(m.fragment, Fragment::None | Fragment::First { .. });
            let response = m.payload.get(2).is_some_and(|b| b & 0x80 != 0);
            if first && response {
                out.extend(dns::cut_response(m.payload));
                self.cut_counted = true;
            }
            return;
        }
        let whole;
        let msg = match m.fragment {
            Fragment::First { id } | Fragment::Later { id } => {
                // Offsets relative to the UDP payload (after its 8-byte header).
                let offset = m.frag_offset.saturating_sub(8);
                whole = self.reasm.get_or_insert_with(Box::default).add(
                    id,
                    offset,
                    m.frag_more,
                    m.payload,
                );
                let Some(whole) = whole.as_deref() else {
                    return;
                };
                whole
            }
            Fragment::None => m.payload,
        };
        out.extend(dns::fact(msg));
    }

    /// Keeps a fact (or counts it past the cap).
    pub fn keep(&mut self, e: Evidence) {
        if self.facts.len() < FACTS_PER_FLOW {
            self.facts.push(e);
        } else {
            self.dropped += 1;
        }
    }
}

/// Hands one accepted segment to the dissector.
fn deliver(
    d: &mut dyn Dissector,
    dir: Dir,
    accepted: Accept<'_>,
    out: &mut Vec<Fact>,
) -> Result<(), GiveUp> {
    match accepted {
        Accept::Nothing | Accept::Held => Ok(()),
        Accept::Gap => Err(GiveUp(OUT_OF_ORDER)),
        Accept::Bytes {
            data,
            segment_start,
            missing,
        } => {
            d.feed(dir, data, segment_start, out)?;
            d.gap(dir, missing as usize, out)
        }
    }
}
