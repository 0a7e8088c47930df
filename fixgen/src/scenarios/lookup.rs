//! DNS lookups as the scenarios write them: a query and its response over UDP, or in a TCP
//! connection of their own, or a TCP query that is never answered. Every response, and every
//! query left unanswered, goes into the bookkeeping (`CaptureTruth::dns`, `dns_unanswered`).

use crate::capture::{ms, Capture, DnsNote, Seen, Spec};
use crate::conv::{Dgram, Side, Tcp, MSS};
use crate::dns::{self, Reply};
use crate::wire::Host;

/// Who asks which server (port 53), where the frames are seen, and what the answer is.
pub(crate) struct Lookup {
    pub client: Host,
    pub sport: u16,
    pub server: Host,
    pub seen: Seen,
    pub network: &'static str,
    pub reply: Reply,
}

impl Lookup {
    fn spec(&self) -> Spec {
        let (client, server, seen) = (self.client, self.server, self.seen.clone());
        Spec::new(client, self.sport, server, 53, seen, self.network, "dns")
    }

    /// Over UDP: the query at `rel` (ns after the epoch), the response 1 ms later.
    pub fn udp(self, cap: &mut Capture, rel: i64) {
        let mut d = Dgram::udp(cap, self.spec());
        d.send(cap, rel, Side::Client, &self.reply.query());
        let response = self.reply.response();
        cap.note_dns(DnsNote {
            transport: "udp",
            reply: self.reply,
            response: true,
        });
        d.send(cap, rel + ms(1), Side::Server, &response);
    }

    /// Over TCP, in a connection of its own: the handshake at `rel`, the query, at once the
    /// response (one segment each), then 1 ms later the client's ACK and the close.
    pub fn tcp(self, cap: &mut Capture, rel: i64) {
        let mut c = Tcp::open(cap, self.spec(), rel);
        c.send(cap, Side::Client, &dns::tcp_framed(&self.reply.query()));
        let response = dns::tcp_framed(&self.reply.response());
        // The bookkeeping's time is the response's one segment.
        assert!(
            response.len() <= MSS,
            "a DNS response over TCP fits one segment"
        );
        cap.note_dns(DnsNote {
            transport: "tcp",
            reply: self.reply,
            response: true,
        });
        c.send(cap, Side::Server, &response);
        c.at(cap, rel + ms(1));
        c.close(cap);
    }

    /// Over TCP, never answered: the handshake at `rel`, the query, the server's ACK; the
    /// client gives up and closes the connection at `rel + wait`.
    pub fn tcp_unanswered(self, cap: &mut Capture, rel: i64, wait: i64) {
        let mut c = Tcp::open(cap, self.spec(), rel);
        let query = dns::tcp_framed(&self.reply.query());
        cap.note_dns(DnsNote {
            transport: "tcp",
            reply: self.reply,
            response: false,
        });
        c.send(cap, Side::Client, &query);
        c.at(cap, rel + wait);
        c.close(cap);
    }
}
