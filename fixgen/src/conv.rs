//! Conversations: a TCP connection with consistent sequence/acknowledgement numbers, and a
//! UDP (or ICMP echo) exchange, each stamping its frames on its own timing phase.

use etherparse::{TcpHeader, TcpOptionElement};

use crate::capture::{Capture, FlowId, Spec, EPOCH_NS, GRID_NS};
use crate::wire::{Host, L4};

/// Spacing of consecutive frames of one conversation.
pub(crate) const STEP_NS: i64 = GRID_NS;
pub(crate) const MSS: usize = 1460;
/// Advertised window; constant so that no frame looks like a window update.
const WINDOW: u16 = 64240;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    /// The initiator (SYN sender).
    Client = 0,
    Server = 1,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// A TCP connection. Every segment carries ACK (after the SYN) with the peer's next sequence
/// number; the receiver of data answers every second full segment with a pure ACK, and any
/// leftover is acknowledged by the peer's next segment or by `flush` (a delayed ACK). Pure
/// ACKs are only sent when they acknowledge new data, so there are no duplicate ACKs; in-flight
/// data never exceeds two segments, far below the window.
pub(crate) struct Tcp {
    id: FlowId,
    hosts: [Host; 2],
    ports: [u16; 2],
    /// Next sequence number each side will send.
    nxt: [u32; 2],
    /// Data segments from each side not yet acknowledged by the other.
    unacked: [u32; 2],
    t: i64,
    phase: i64,
    dest_opts_next: bool,
}

/// A deterministic initial sequence number per flow and side.
fn isn(port: u16, salt: u32) -> u32 {
    (u32::from(port).wrapping_mul(2_654_435_761)) ^ salt.wrapping_mul(0x9e37_79b9)
}

impl Tcp {
    /// Registers the flow and performs the three-way handshake starting at `start` (ns after
    /// the epoch, a multiple of `GRID_NS`).
    pub fn open(cap: &mut Capture, spec: Spec, start: i64) -> Tcp {
        Tcp::midstream(cap, spec, start).handshake(cap)
    }

    /// [`Tcp::open`] on a 4-tuple an earlier connection used (port reuse): both initial
    /// sequence numbers differ from that one's by `generation`.
    pub fn reopen(cap: &mut Capture, spec: Spec, start: i64, generation: u32) -> Tcp {
        let mut c = Tcp::midstream(cap, spec, start);
        c.nxt = c.nxt.map(|n| n ^ generation.wrapping_mul(0x0100_0193));
        c.handshake(cap)
    }

    fn handshake(mut self, cap: &mut Capture) -> Tcp {
        let c = &mut self;
        let mss = [TcpOptionElement::MaximumSegmentSize(MSS as u16)];
        let mut syn = c.header(Side::Client);
        syn.syn = true;
        syn.set_options(&mss).expect("MSS option fits");
        c.emit(cap, Side::Client, syn, &[]);
        c.nxt[0] = c.nxt[0].wrapping_add(1);
        let mut synack = c.header(Side::Server);
        synack.syn = true;
        synack.ack = true;
        synack.acknowledgment_number = c.nxt[0];
        synack.set_options(&mss).expect("MSS option fits");
        c.emit(cap, Side::Server, synack, &[]);
        c.nxt[1] = c.nxt[1].wrapping_add(1);
        let ack = c.ack_header(Side::Client);
        c.emit(cap, Side::Client, ack, &[]);
        self
    }

    /// A connection already established when the capture started (no handshake).
    pub fn midstream(cap: &mut Capture, spec: Spec, start: i64) -> Tcp {
        let (hosts, ports) = ([spec.src, spec.dst], [spec.sport, spec.dport]);
        let id = cap.flow("tcp", spec);
        let phase = cap.phase();
        let mut c = Tcp {
            id,
            hosts,
            ports,
            nxt: [isn(ports[0], 0x5eed), isn(ports[1], u32::from(ports[0]))],
            unacked: [0, 0],
            t: 0,
            phase,
            dest_opts_next: false,
        };
        c.at(cap, start);
        c
    }

    fn header(&self, from: Side) -> TcpHeader {
        let f = from as usize;
        TcpHeader::new(self.ports[f], self.ports[1 - f], self.nxt[f], WINDOW)
    }

    fn ack_header(&self, from: Side) -> TcpHeader {
        let mut h = self.header(from);
        h.ack = true;
        h.acknowledgment_number = self.nxt[from.other() as usize];
        h
    }

    fn emit(&mut self, cap: &mut Capture, from: Side, h: TcpHeader, payload: &[u8]) {
        let f = from as usize;
        let opts = self.dest_opts_next && !payload.is_empty();
        if opts {
            self.dest_opts_next = false;
        }
        cap.ip_frame(
            self.id,
            self.t,
            self.hosts[f],
            self.hosts[1 - f],
            opts,
            L4::Tcp(h, payload),
        );
        self.t += STEP_NS;
    }

    /// Moves this conversation's clock to `rel` ns after the epoch (plus its phase), after
    /// sending any pending delayed ACK at the current time.
    pub fn at(&mut self, cap: &mut Capture, rel: i64) {
        assert_eq!(rel % GRID_NS, 0, "times are on the 100 µs grid");
        self.flush(cap);
        let t = EPOCH_NS + rel + self.phase;
        assert!(t >= self.t, "conversation clock goes backwards");
        self.t = t;
    }

    /// The next data segment carries an IPv6 Destination Options header.
    pub fn dest_opts_on_next_data(&mut self) {
        self.dest_opts_next = true;
    }

    /// Sends `data` from `from`, segmented at the MSS.
    pub fn send(&mut self, cap: &mut Capture, from: Side, data: &[u8]) {
        let f = from as usize;
        let n = data.len().div_ceil(MSS);
        for (i, chunk) in data.chunks(MSS).enumerate() {
            let mut h = self.ack_header(from);
            h.psh = i + 1 == n;
            self.emit(cap, from, h, chunk);
            self.nxt[f] = self.nxt[f].wrapping_add(chunk.len() as u32);
            // Sending acknowledged everything the peer had sent.
            self.unacked[1 - f] = 0;
            self.unacked[f] += 1;
            if self.unacked[f] == 2 {
                self.pure_ack(cap, from.other());
            }
        }
    }

    /// Sends `data` from `from` in one segment whose IP packet a path too
    /// small for it splits into `pieces` fragments, sent last first (as
    /// Windows hosts and some offloads send them): the fragment carrying
    /// the TCP header comes last.
    pub fn send_fragmented(&mut self, cap: &mut Capture, from: Side, data: &[u8], pieces: usize) {
        let f = from as usize;
        let mut h = self.ack_header(from);
        h.psh = true;
        let times = last_first(self.t, pieces);
        let ends = (self.hosts[f], self.hosts[1 - f]);
        cap.ip_fragments(self.id, &times, ends, L4::Tcp(h, data));
        self.t += pieces as i64 * STEP_NS;
        self.nxt[f] = self.nxt[f].wrapping_add(data.len() as u32);
        self.unacked[1 - f] = 0;
        self.unacked[f] += 1;
        if self.unacked[f] == 2 {
            self.pure_ack(cap, from.other());
        }
    }

    fn pure_ack(&mut self, cap: &mut Capture, from: Side) {
        let f = from as usize;
        debug_assert!(
            self.unacked[1 - f] > 0,
            "a pure ACK must acknowledge new data"
        );
        let h = self.ack_header(from);
        self.emit(cap, from, h, &[]);
        self.unacked[1 - f] = 0;
    }

    /// Acknowledges whatever is outstanding (a delayed ACK firing).
    pub fn flush(&mut self, cap: &mut Capture) {
        for from in [Side::Client, Side::Server] {
            if self.unacked[from as usize] > 0 {
                self.pure_ack(cap, from.other());
            }
        }
    }

    /// Orderly close: FIN from the client, FIN from the server, last ACK.
    pub fn close(&mut self, cap: &mut Capture) {
        for from in [Side::Client, Side::Server] {
            let f = from as usize;
            let mut h = self.ack_header(from);
            h.fin = true;
            self.emit(cap, from, h, &[]);
            self.nxt[f] = self.nxt[f].wrapping_add(1);
            self.unacked = [0, 0];
        }
        let h = self.ack_header(Side::Client);
        self.emit(cap, Side::Client, h, &[]);
    }

    /// Sends bursts: at each `(rel_ms, bytes)` the conversation moves to that time and `from`
    /// sends `bytes` generated by `gen`, then the burst is fully acknowledged.
    pub fn bursts(
        &mut self,
        cap: &mut Capture,
        from: Side,
        schedule: &[(i64, usize)],
        gen: &mut dyn FnMut(usize) -> Vec<u8>,
    ) {
        for &(rel, bytes) in schedule {
            self.at(cap, rel);
            let data = gen(bytes);
            self.send(cap, from, &data);
            self.flush(cap);
        }
    }
}

/// The times of `pieces` fragments, in payload order, sent last first one
/// step apart from `t`.
fn last_first(t: i64, pieces: usize) -> Vec<i64> {
    (0..pieces)
        .map(|i| t + (pieces - 1 - i) as i64 * STEP_NS)
        .collect()
}

/// What a datagram exchange carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Udp,
    /// ICMP or ICMPv6 echo: the client requests, the server replies.
    Echo,
    /// ICMPv6 neighbor discovery: the client solicits, the server advertises.
    Neighbor,
    /// ICMP port unreachable: the client reports about a packet it quotes.
    Unreachable,
}

/// A datagram exchange (UDP, ICMP echo, ICMPv6 neighbor discovery) on its own timing phase.
pub(crate) struct Dgram {
    id: FlowId,
    hosts: [Host; 2],
    ports: [u16; 2],
    phase: i64,
    t: i64,
    kind: Kind,
    seq: u16,
}

impl Dgram {
    pub fn udp(cap: &mut Capture, spec: Spec) -> Dgram {
        let (hosts, ports) = ([spec.src, spec.dst], [spec.sport, spec.dport]);
        let id = cap.flow("udp", spec);
        let phase = cap.phase();
        Dgram {
            id,
            hosts,
            ports,
            phase,
            t: 0,
            kind: Kind::Udp,
            seq: 0,
        }
    }

    /// An ICMP (ICMPv6 for IPv6 hosts) flow of `kind` from `spec.src` to
    /// `spec.dst`: flow truth proto "icmp" ("icmpv6"), ports 0/0 (give the
    /// spec ports 0). Neighbor discovery's payloads come from
    /// `payload::neighbor`; an unreachable's payload is the packet it quotes.
    pub fn icmp(cap: &mut Capture, spec: Spec, kind: Kind) -> Dgram {
        let hosts = [spec.src, spec.dst];
        let proto = if spec.src.ip.is_ipv6() {
            "icmpv6"
        } else {
            "icmp"
        };
        let id = cap.flow(proto, spec);
        let phase = cap.phase();
        Dgram {
            id,
            hosts,
            ports: [0, 0],
            phase,
            t: 0,
            kind,
            seq: 0,
        }
    }

    /// Sends one UDP datagram from `from` at `rel` ns after the epoch (plus
    /// phase) in `pieces` IP fragments, sent last first a step apart.
    pub fn send_fragmented(
        &mut self,
        cap: &mut Capture,
        (rel, from): (i64, Side),
        payload: &[u8],
        pieces: usize,
    ) {
        assert_eq!(self.kind, Kind::Udp, "fragments of UDP datagrams");
        assert_eq!(rel % GRID_NS, 0, "times are on the 100 µs grid");
        let t = EPOCH_NS + rel + self.phase;
        assert!(t > self.t, "datagram clock goes backwards");
        let f = from as usize;
        let l4 = L4::Udp {
            sport: self.ports[f],
            dport: self.ports[1 - f],
            payload,
        };
        let times = last_first(t, pieces);
        self.t = times[0];
        cap.ip_fragments(self.id, &times, (self.hosts[f], self.hosts[1 - f]), l4);
    }

    /// Sends one datagram from `from` at `rel` ns after the epoch (plus phase).
    pub fn send(&mut self, cap: &mut Capture, rel: i64, from: Side, payload: &[u8]) {
        assert_eq!(rel % GRID_NS, 0, "times are on the 100 µs grid");
        let t = EPOCH_NS + rel + self.phase;
        assert!(t > self.t, "datagram clock goes backwards");
        self.t = t;
        let f = from as usize;
        let l4 = match self.kind {
            Kind::Echo => {
                if from == Side::Client {
                    self.seq += 1;
                }
                L4::Echo {
                    reply: from == Side::Server,
                    id: 0x4c43,
                    seq: self.seq,
                    payload,
                }
            }
            Kind::Unreachable => L4::Unreachable { payload },
            Kind::Neighbor => L4::Neighbor {
                advert: from == Side::Server,
                payload,
            },
            Kind::Udp => L4::Udp {
                sport: self.ports[f],
                dport: self.ports[1 - f],
                payload,
            },
        };
        cap.ip_frame(self.id, t, self.hosts[f], self.hosts[1 - f], false, l4);
    }
}
