//! DNS responses, parsed with hickory-proto (names, compression, record
//! types), turned into [`DnsAnswer`]s. Over UDP each datagram (reassembled
//! when fragmented) is one message; over TCP messages carry a 2-byte length
//! prefix (RFC 1035 §4.2.2) and may span segments, so [`DnsTcp`] frames them.

use hickory_proto::op::{Header as DnsHeader, Message, Query};
use hickory_proto::rr::{RData, Record};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::framer::{Framer, Header};
use super::{Dir, Dissector, DnsAnswer, DnsRecord, Fact, GiveUp, RecordData, Start};

/// RCODE 3, "Name Error": the name does not exist (RFC 1035 §4.1.1).
pub const NXDOMAIN: u16 = 3;

/// Address families: which an answer can hold, which a network has
/// prefixes of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Families {
    /// IPv4 (A records).
    pub v4: bool,
    /// IPv6 (AAAA records).
    pub v6: bool,
}

impl Families {
    /// Neither family.
    pub const NONE: Families = Families {
        v4: false,
        v6: false,
    };
    /// Both families.
    pub const ALL: Families = Families { v4: true, v6: true };
    /// IPv4 only.
    pub const V4: Families = Families {
        v4: true,
        v6: false,
    };
    /// IPv6 only.
    pub const V6: Families = Families {
        v4: false,
        v6: true,
    };

    /// The families a question of type `qtype` asks for: A (1) IPv4,
    /// AAAA (28) IPv6, ANY (255) both, any other type none.
    pub fn asked(qtype: u16) -> Families {
        match qtype {
            1 => Families::V4,
            28 => Families::V6,
            255 => Families::ALL,
            _ => Families::NONE,
        }
    }

    /// Each family held, alone.
    pub fn each(self) -> impl Iterator<Item = Families> {
        [Families::V4, Families::V6]
            .into_iter()
            .filter(move |f| f.and(self).any())
    }

    /// The record types that carry these families (`A`, `AAAA`, `A or AAAA`).
    pub fn types(self) -> &'static str {
        match (self.v4, self.v6) {
            (true, false) => "A",
            (false, true) => "AAAA",
            _ => "A or AAAA",
        }
    }

    /// The families of these prefixes.
    pub fn of_prefixes<'a>(prefixes: impl IntoIterator<Item = &'a ipnet::IpNet>) -> Families {
        prefixes.into_iter().fold(Families::NONE, |f, p| Families {
            v4: f.v4 || matches!(p, ipnet::IpNet::V4(_)),
            v6: f.v6 || matches!(p, ipnet::IpNet::V6(_)),
        })
    }

    /// The families both hold.
    pub fn and(self, other: Families) -> Families {
        Families {
            v4: self.v4 && other.v4,
            v6: self.v6 && other.v6,
        }
    }

    /// Whether it holds either family.
    pub fn any(self) -> bool {
        self.v4 || self.v6
    }

    /// Whether `ip`'s family is one of these.
    pub fn holds(self, ip: std::net::IpAddr) -> bool {
        if ip.is_ipv4() {
            self.v4
        } else {
            self.v6
        }
    }
}

/// Lower case, without the trailing dot.
fn name(n: &hickory_proto::rr::Name) -> String {
    let mut s = n.to_ascii();
    if s.len() > 1 && s.ends_with('.') {
        s.pop();
    }
    s.make_ascii_lowercase();
    s
}

fn record(r: &Record) -> DnsRecord {
    let data = match &r.data {
        RData::A(a) => RecordData::A(a.0),
        RData::AAAA(a) => RecordData::Aaaa(a.0),
        RData::CNAME(c) => RecordData::Cname(name(&c.0)),
        other => RecordData::Other(other.to_string()),
    };
    DnsRecord {
        name: name(&r.name),
        rtype: u16::from(r.record_type()),
        ttl: r.ttl,
        data,
    }
}

/// The answer in one DNS message, if it is a well-formed response.
pub fn parse(msg: &[u8]) -> Option<DnsAnswer> {
    // QR bit (RFC 1035 §4.1.1): only responses carry answers.
    if msg.get(2).is_none_or(|b| b & 0x80 == 0) {
        return None;
    }
    let m = Message::from_bytes(msg).ok()?;
    Some(DnsAnswer {
        id: m.metadata.id,
        rcode: u16::from(m.metadata.response_code),
        query: m
            .queries
            .first()
            .map(|q| (name(&q.name), u16::from(q.query_type))),
        records: m.answers.iter().map(record).collect(),
        truncated: m.metadata.truncation,
    })
}

/// What one DNS message proves: an answer, or a query's name and type.
pub fn fact(msg: &[u8]) -> Option<Fact> {
    if msg.get(2)? & 0x80 != 0 {
        return parse(msg).map(Fact::Dns);
    }
    let m = Message::from_bytes(msg).ok()?;
    let q = m.queries.first()?;
    Some(Fact::DnsQuery {
        name: name(&q.name),
        qtype: u16::from(q.query_type),
        id: m.metadata.id,
    })
}

/// What the first bytes of a response the snaplen cut still say: its
/// transaction id and question, when both were captured; none for a query
/// (QR = 0) or a cut before the question's end.
pub fn cut_response(msg: &[u8]) -> Option<Fact> {
    if msg.get(2)? & 0x80 == 0 {
        return None;
    }
    let mut d = BinDecoder::new(msg);
    let header = DnsHeader::read(&mut d).ok()?;
    if header.counts.queries == 0 {
        return None;
    }
    let q = Query::read(&mut d).ok()?;
    Some(Fact::DnsCut {
        name: name(&q.name),
        qtype: u16::from(q.query_type),
        id: header.metadata.id,
    })
}

/// A record type's mnemonic (`A`, `CNAME`, `AAAA`, or `TYPE65` style).
pub fn type_name(t: u16) -> String {
    hickory_proto::rr::RecordType::from(t).to_string()
}

/// A response code's mnemonic (RFC 1035 §4.1.1, RFC 2136 §2.2).
pub fn rcode_name(code: u16) -> String {
    const NAMES: [&str; 11] = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
        "NXRRSET", "NOTAUTH", "NOTZONE",
    ];
    NAMES
        .get(usize::from(code))
        .map_or_else(|| format!("RCODE{code}"), |n| (*n).to_string())
}

/// Largest DNS-over-TCP message kept (the 2-byte length allows 65 535).
const KEEP: usize = 65_537;

/// DNS over TCP: length-prefixed messages, framed per direction.
#[derive(Debug)]
pub struct DnsTcp {
    framers: [Framer; 2],
    /// A response the snaplen cut was met: the flow is counted once, as
    /// over UDP, and reading goes on (each message stands alone).
    cut: bool,
}

impl DnsTcp {
    /// A dissector for a flow whose directions (to server, to client) start as given.
    pub fn new(start: [Start; 2]) -> Self {
        DnsTcp {
            framers: [Framer::new(start[0], KEEP), Framer::new(start[1], KEEP)],
            cut: false,
        }
    }
}

fn length_prefix(b: &[u8]) -> Header {
    match b {
        [hi, lo, ..] => match usize::from(u16::from_be_bytes([*hi, *lo])) {
            // A DNS header is 12 bytes: shorter is not DNS.
            n if n < 12 => Header::Bad,
            n => Header::Len(n + 2),
        },
        _ => Header::NeedMore,
    }
}

impl Dissector for DnsTcp {
    fn feed(
        &mut self,
        dir: Dir,
        data: &[u8],
        segment_start: bool,
        out: &mut Vec<Fact>,
    ) -> Result<(), GiveUp> {
        self.framers[dir.index()].feed(
            data,
            segment_start,
            length_prefix,
            |rec, _| {
                if let Some(f) = rec.get(2..).and_then(fact) {
                    out.push(f);
                }
                Ok(())
            },
            GiveUp("not DNS: message shorter than a DNS header"),
        )
    }

    fn gap(&mut self, dir: Dir, missing: usize, out: &mut Vec<Fact>) -> Result<(), GiveUp> {
        // A cut message is not parsed (hickory-proto wants it whole); a
        // cut response gives what its first bytes say, as over UDP.
        let cut = &mut self.cut;
        let on_cut = |rec: &[u8], _| {
            let msg = rec.get(2..).unwrap_or_default();
            if msg.get(2).is_some_and(|b| b & 0x80 != 0) {
                out.extend(cut_response(msg));
                *cut = true;
            }
            Ok(())
        };
        self.framers[dir.index()].skip(missing, on_cut, GiveUp(super::SNAPLEN_CUT))
    }

    fn cut(&self) -> bool {
        self.cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ps.x.y.com` A → CNAME to itself-free chain: www → ps, ps A 192.168.1.24.
    fn response() -> Vec<u8> {
        let mut v = vec![0x12, 0x34, 0x85, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        for l in ["www", "x", "y", "com"] {
            v.push(l.len() as u8);
            v.extend(l.as_bytes());
        }
        v.extend([0, 0, 1, 0, 1]);
        // www.x.y.com CNAME ps.x.y.com (ps + pointer to x.y.com at 16)
        v.extend([
            0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 60, 0, 5, 2, b'p', b's', 0xc0, 16,
        ]);
        // ps.x.y.com A 192.168.1.24, TTL 1200 (name = pointer to the CNAME data)
        let ps = 12 + 17 + 12;
        v.extend([
            0xc0, ps as u8, 0, 1, 0, 1, 0, 0, 4, 0xb0, 0, 4, 192, 168, 1, 24,
        ]);
        v
    }

    #[test]
    fn cname_chain_and_ttls() {
        let a = parse(&response()).unwrap();
        assert_eq!(a.id, 0x1234);
        assert_eq!(a.query, Some(("www.x.y.com".into(), 1)));
        let got: Vec<(String, u16, u32, String)> = a
            .records
            .iter()
            .map(|r| (r.name.clone(), r.rtype, r.ttl, r.data.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("www.x.y.com".into(), 5, 60, "ps.x.y.com".into()),
                ("ps.x.y.com".into(), 1, 1200, "192.168.1.24".into()),
            ]
        );
        // A query (QR = 0) is not an answer.
        let mut q = response();
        q[2] = 0x01;
        assert_eq!(parse(&q), None);
    }

    #[test]
    fn tcp_messages_split_across_segments() {
        let msg = response();
        let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
        framed.extend(&msg);
        framed.extend(&framed.clone());
        let mut d = DnsTcp::new([Start::Beginning; 2]);
        let mut out = Vec::new();
        for (i, chunk) in framed.chunks(7).enumerate() {
            d.feed(Dir::ToClient, chunk, i == 0, &mut out).unwrap();
        }
        assert_eq!(out.len(), 2);
        let query = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x02ps\x01x\x01y\x03com\x00\x00\x01\x00\x01";
        assert_eq!(
            fact(query),
            Some(Fact::DnsQuery {
                name: "ps.x.y.com".into(),
                qtype: 1,
                id: 1
            })
        );
        assert!(matches!(&out[0], Fact::Dns(a) if a.records.len() == 2));
    }

    #[test]
    fn a_tcp_response_cut_by_the_snaplen_is_counted_and_reading_goes_on() {
        let msg = response();
        let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
        framed.extend(&msg);
        let mut d = DnsTcp::new([Start::Beginning; 2]);
        let mut out = Vec::new();
        // Length prefix, header and question (12 + 17 bytes) captured.
        let kept = 2 + 12 + 17;
        d.feed(Dir::ToClient, &framed[..kept], true, &mut out)
            .unwrap();
        assert!(!d.cut());
        d.gap(Dir::ToClient, framed.len() - kept, &mut out).unwrap();
        let cut = Fact::DnsCut {
            name: "www.x.y.com".into(),
            qtype: 1,
            id: 0x1234,
        };
        assert_eq!(out, vec![cut]);
        assert!(d.cut());
        // The next message is read whole.
        d.feed(Dir::ToClient, &framed, true, &mut out).unwrap();
        assert!(matches!(&out[1], Fact::Dns(a) if a.records.len() == 2));
        // A query the snaplen cut is not an answer lost.
        let mut q = framed.clone();
        q[4] = 0x01;
        let mut d = DnsTcp::new([Start::Beginning; 2]);
        let mut out = Vec::new();
        d.feed(Dir::ToServer, &q[..kept], true, &mut out).unwrap();
        d.gap(Dir::ToServer, q.len() - kept, &mut out).unwrap();
        assert_eq!((out.len(), d.cut()), (0, false));
    }
}
