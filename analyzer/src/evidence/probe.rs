//! A flow's evidence state: which dissector reads it, its in-order stream,
//! and the facts found so far (bounded).

use capture::Timestamp;

use super::dcerpc::DceRpc;
use super::dns::{self, DnsTcp};
use super::reasm::Reassembly;
use super::smb::Smb;
use super::stream::{Accept, Syns, TcpStream};
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
    /// their first byte), `syns` the SYNs seen before it (a direction's
    /// stream starts after its SYN, else at its first payload).
    pub fn new(proto: Proto, ip_proto: u8, handshake_seen: bool, syns: Syns) -> Self {
        let stream = TcpStream::new(handshake_seen, syns);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, Decoded};
    use capture::{Frame, LinkType};

    /// An IPv4 TCP segment of a DNS-over-TCP flow (client 10.0.0.1:40000,
    /// server 10.0.0.2:53).
    fn segment(to_server: bool, seq: u32, payload: &[u8]) -> Vec<u8> {
        let (c, s) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        let b = match to_server {
            true => etherparse::PacketBuilder::ipv4(c, s, 64).tcp(40000, 53, seq, 64240),
            false => etherparse::PacketBuilder::ipv4(s, c, 64).tcp(53, 40000, seq, 64240),
        };
        let mut v = Vec::new();
        b.ack(1).write(&mut v, payload).unwrap();
        v
    }

    /// Feeds one segment; the facts it gave.
    fn feed(ev: &mut FlowEvidence, dir: Dir, seq: u32, payload: &[u8]) -> Vec<Fact> {
        let bytes = segment(dir == Dir::ToServer, seq, payload);
        let Decoded::Packet(m) = decode(&Frame::test(LinkType::RAW, &bytes)) else {
            panic!("a TCP segment decodes");
        };
        let mut out = Vec::new();
        ev.packet(dir, &m, &mut out);
        out
    }

    /// `ps.x.y.com` A? with id 1, framed with its 2-byte length.
    fn query() -> Vec<u8> {
        let q = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x02ps\x01x\x01y\x03com\x00\x00\x01\x00\x01";
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend(q);
        framed
    }

    #[test]
    fn a_hole_counts_while_open_and_not_once_filled() {
        let q = query();
        let (a, b) = q.split_at(10);
        let mut ev = FlowEvidence::new(Proto::Dns, proto::TCP, false, Syns::default());
        let gap = Some(GiveUp(OUT_OF_ORDER));
        // The stream starts at the first payload: 1000.
        assert_eq!(feed(&mut ev, Dir::ToServer, 1000, &a[..4]), vec![]);
        assert_eq!(ev.counted(), None);
        assert_eq!(feed(&mut ev, Dir::ToServer, 1010, b), vec![]);
        assert_eq!(ev.counted(), gap);
        let found = feed(&mut ev, Dir::ToServer, 1004, &a[4..]);
        assert!(matches!(&found[..], [Fact::DnsQuery { id: 1, .. }]));
        assert_eq!(ev.counted(), None);
        assert!(ev.reading());
    }

    #[test]
    fn a_hole_open_when_the_flow_ends_or_another_give_up_comes() {
        let q = query();
        // The flow ends with the hole open: given up, counted as it was.
        let mut ev = FlowEvidence::new(Proto::Dns, proto::TCP, false, Syns::default());
        feed(&mut ev, Dir::ToServer, 1000, &q[..4]);
        feed(&mut ev, Dir::ToServer, 1010, &q[10..]);
        assert!(ev.end());
        assert_eq!(ev.counted(), Some(GiveUp(OUT_OF_ORDER)));
        assert!(!ev.reading());
        assert!(!ev.end(), "once");
        // The dissector gives up for another reason meanwhile (a stream
        // read from its start, where a short length is no DNS): counted
        // under that reason instead.
        let mut ev = FlowEvidence::new(Proto::Dns, proto::TCP, true, Syns::default());
        feed(&mut ev, Dir::ToServer, 1000, &q[..4]);
        feed(&mut ev, Dir::ToServer, 1010, &q[10..]);
        feed(&mut ev, Dir::ToClient, 7, &[0, 3, 1, 2, 3]);
        let short = GiveUp("not DNS: message shorter than a DNS header");
        assert_eq!(ev.counted(), Some(short));
        assert!(!ev.end());
    }
}
