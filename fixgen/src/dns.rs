//! DNS messages (RFC 1035 §4.1): a recursive query, and its response, whose answer section
//! holds CNAME and A/AAAA records each with its own TTL, or which says NXDOMAIN. A response
//! writes each owner or CNAME target in full once and every repeat as a pointer to that first
//! occurrence (§4.1.4). Over TCP a message is preceded by its two-byte length (§4.2.2).
//!
//! Each response also gives its bookkeeping (`Reply::truth`), from the same values the bytes
//! were written from.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::DnsRecord;

/// Record and query types (RFC 1035 §3.2.2, RFC 3596 §2.1).
pub(crate) const A: u16 = 1;
pub(crate) const CNAME: u16 = 5;
pub(crate) const AAAA: u16 = 28;
/// RCODE 3, "Name Error": the name does not exist (RFC 1035 §4.1.1).
pub(crate) const NXDOMAIN: u8 = 3;
/// The TTL of the one-A-record-per-address answers the DPM scenarios write.
pub(crate) const DPM_TTL: u32 = 1200;

/// Class IN.
const IN: u16 = 1;

#[derive(Clone, Debug)]
pub(crate) enum Rdata {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
}

/// One resource record of an answer section.
#[derive(Clone, Debug)]
pub(crate) struct Rr {
    pub owner: String,
    pub ttl: u32,
    pub data: Rdata,
}

impl Rr {
    pub fn a(owner: &str, ttl: u32, addr: &str) -> Rr {
        Rr::new(owner, ttl, Rdata::A(addr.parse().expect("IPv4 literal")))
    }

    pub fn aaaa(owner: &str, ttl: u32, addr: &str) -> Rr {
        Rr::new(owner, ttl, Rdata::Aaaa(addr.parse().expect("IPv6 literal")))
    }

    pub fn cname(owner: &str, ttl: u32, target: &str) -> Rr {
        Rr::new(owner, ttl, Rdata::Cname(target.to_string()))
    }

    fn new(owner: &str, ttl: u32, data: Rdata) -> Rr {
        Rr {
            owner: owner.to_string(),
            ttl,
            data,
        }
    }

    fn rtype(&self) -> u16 {
        match self.data {
            Rdata::A(_) => A,
            Rdata::Aaaa(_) => AAAA,
            Rdata::Cname(_) => CNAME,
        }
    }

    /// The record data as text: a dotted quad, an RFC 5952 IPv6 address, or a name.
    fn value(&self) -> String {
        match &self.data {
            Rdata::A(a) => a.to_string(),
            Rdata::Aaaa(a) => a.to_string(),
            Rdata::Cname(n) => n.clone(),
        }
    }
}

/// A question (`name`, `qtype`, class IN) and the response to it.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub id: u16,
    /// Lower case, no trailing dot.
    pub name: String,
    pub qtype: u16,
    pub rcode: u8,
    /// In order: the CNAME chain, then the addresses.
    pub answers: Vec<Rr>,
    /// TC=1: cut to fit a UDP datagram (RFC 1035 §4.1.1); the client asks again over TCP.
    pub truncated: bool,
}

impl Reply {
    /// The `qtype` query for `name` answered with `answers` (rcode 0).
    pub fn new(id: u16, name: &str, qtype: u16, answers: Vec<Rr>) -> Reply {
        Reply {
            id,
            name: name.to_string(),
            qtype,
            rcode: 0,
            answers,
            truncated: false,
        }
    }

    /// The A query for `name` answered with one A record per address, all with `ttl`.
    pub fn addresses(id: u16, name: &str, addrs: &[Ipv4Addr], ttl: u32) -> Reply {
        let answers = addrs
            .iter()
            .map(|a| Rr::new(name, ttl, Rdata::A(*a)))
            .collect();
        Reply::new(id, name, A, answers)
    }

    /// A query for `name` answered "no such name".
    pub fn nxdomain(id: u16, name: &str, qtype: u16) -> Reply {
        Reply {
            rcode: NXDOMAIN,
            ..Reply::new(id, name, qtype, Vec::new())
        }
    }

    /// This response as a UDP server sends it when it does not fit: TC=1, the answer section
    /// dropped (RFC 2181 §9 lets it send none).
    pub fn truncated(self) -> Reply {
        Reply {
            truncated: true,
            answers: Vec::new(),
            ..self
        }
    }

    /// The query this replies to: recursion desired, one question.
    pub fn query(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&self.id.to_be_bytes());
        v.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; 1 question
        put_name(&self.name, &mut v);
        v.extend_from_slice(&self.qtype.to_be_bytes());
        v.extend_from_slice(&IN.to_be_bytes());
        v
    }

    /// The response: authoritative, recursion desired and available, the question repeated,
    /// then the answer section; no authority or additional records.
    pub fn response(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&self.id.to_be_bytes());
        let tc = if self.truncated { 0x02 } else { 0 };
        v.extend_from_slice(&[0x85 | tc, 0x80 | self.rcode, 0, 1]); // QR AA (TC) RD RA; 1 question
        v.extend_from_slice(&(self.answers.len() as u16).to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 0]);
        let mut seen = BTreeMap::new();
        put_compressed(&self.name, &mut seen, &mut v);
        v.extend_from_slice(&self.qtype.to_be_bytes());
        v.extend_from_slice(&IN.to_be_bytes());
        for rr in &self.answers {
            put_compressed(&rr.owner, &mut seen, &mut v);
            v.extend_from_slice(&rr.rtype().to_be_bytes());
            v.extend_from_slice(&IN.to_be_bytes());
            v.extend_from_slice(&rr.ttl.to_be_bytes());
            let len_at = v.len();
            v.extend_from_slice(&[0, 0]);
            match &rr.data {
                Rdata::A(a) => v.extend_from_slice(&a.octets()),
                Rdata::Aaaa(a) => v.extend_from_slice(&a.octets()),
                Rdata::Cname(n) => put_compressed(n, &mut seen, &mut v),
            }
            let rdlen = (v.len() - len_at - 2) as u16;
            v[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
        }
        v
    }

    /// The answer section as bookkeeping: (owner, type, TTL, value as text), in order.
    pub fn truth(&self) -> Vec<DnsRecord> {
        self.answers
            .iter()
            .map(|rr| (rr.owner.clone(), rr.rtype(), rr.ttl, rr.value()))
            .collect()
    }
}

/// `name` as uncompressed labels.
fn put_name(name: &str, out: &mut Vec<u8>) {
    for label in name.split('.') {
        assert!(!label.is_empty() && label.len() < 64, "label of {name:?}");
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// `name` in full the first time (remembering where), as a pointer to that place after.
fn put_compressed(name: &str, seen: &mut BTreeMap<String, u16>, out: &mut Vec<u8>) {
    if let Some(&at) = seen.get(name) {
        out.extend_from_slice(&(0xc000 | at).to_be_bytes());
        return;
    }
    assert!(out.len() < 0x4000, "pointer offsets are 14 bits");
    seen.insert(name.to_string(), out.len() as u16);
    put_name(name, out);
}

/// A message as carried over TCP: its length, then the message.
pub(crate) fn tcp_framed(msg: &[u8]) -> Vec<u8> {
    let mut v = (msg.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes the DPM scenarios wrote before this module existed.
    fn old_answer(id: u16, name: &str, addrs: &[Ipv4Addr]) -> Vec<u8> {
        let mut v = id.to_be_bytes().to_vec();
        v.extend_from_slice(&[0x85, 0x80, 0, 1]);
        v.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 0]);
        put_name(name, &mut v);
        v.extend_from_slice(&[0, 1, 0, 1]);
        for a in addrs {
            v.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x04, 0xb0, 0, 4]);
            v.extend_from_slice(&a.octets());
        }
        v
    }

    #[test]
    fn address_answers_keep_their_old_bytes() {
        let addrs = [
            "192.168.1.24".parse().unwrap(),
            "10.10.12.90".parse().unwrap(),
        ];
        let r = Reply::addresses(0x1001, "ps.x.y.com", &addrs, DPM_TTL);
        assert_eq!(r.response(), old_answer(0x1001, "ps.x.y.com", &addrs));
    }

    #[test]
    fn a_cname_target_is_written_once_then_pointed_to() {
        let r = Reply::new(
            7,
            "app1.apps.contoso.com",
            A,
            vec![
                Rr::cname("app1.apps.contoso.com", 60, "app1.recovery.contoso.com"),
                Rr::a("app1.recovery.contoso.com", 300, "172.16.1.10"),
            ],
        );
        let v = r.response();
        let qname_len = "app1.apps.contoso.com".len() + 2;
        // Question ends at 12 + name + 4; the CNAME's owner is a pointer to 12; its RDATA
        // starts 10 bytes later and holds the target in full.
        let rr1 = 12 + qname_len + 4;
        assert_eq!(v[rr1..rr1 + 2], [0xc0, 12]);
        let target_at = rr1 + 12;
        let rr2 = target_at + "app1.recovery.contoso.com".len() + 2;
        assert_eq!(v[rr2..rr2 + 2], (0xc000 | target_at as u16).to_be_bytes());
        assert_eq!(v.len(), rr2 + 12 + 4);
        assert_eq!(
            r.truth()[1],
            (
                "app1.recovery.contoso.com".into(),
                A,
                300,
                "172.16.1.10".into()
            )
        );
    }

    #[test]
    fn truncated_sets_tc_and_drops_the_answers() {
        let ip = "192.168.1.24".parse().unwrap();
        let v = Reply::addresses(9, "ps.x.y.com", &[ip], DPM_TTL)
            .truncated()
            .response();
        assert_eq!(v[2], 0x87);
        assert_eq!(v[6..8], [0, 0]);
    }

    #[test]
    fn nxdomain_has_rcode_3_and_no_answer() {
        let v = Reply::nxdomain(9, "wpad.contoso.com", A).response();
        assert_eq!(v[3] & 0x0f, 3);
        assert_eq!(v[6..8], [0, 0]);
    }
}
