use std::net::Ipv4Addr;

use super::epm::tower;
use super::*;
use crate::evidence::SNAPLEN_CUT;

/// An interface of the tests, and a second one.
const IF_A: Uuid = Uuid::from_u128(0x367abb81_9844_35f1_ad32_98f038001003);
const IF_B: Uuid = Uuid::from_u128(0x12345778_1234_abcd_ef00_0123456789ab);
/// The NDR (version 2) transfer syntax.
const NDR: Uuid = Uuid::from_u128(0x8a885d04_1ceb_11c9_9fe8_08002b104860);
const TO_SERVER: Dir = Dir::ToServer;
const TO_CLIENT: Dir = Dir::ToClient;

/// Writes integers and UUIDs in one byte order.
struct W {
    b: Vec<u8>,
    le: bool,
}

impl W {
    fn new(le: bool) -> Self {
        W { b: Vec::new(), le }
    }
    fn u8(&mut self, v: u8) -> &mut Self {
        self.b.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        let a = if self.le {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        self.b.extend_from_slice(&a);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        let a = if self.le {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        self.b.extend_from_slice(&a);
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        let a = if self.le {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        self.b.extend_from_slice(&a);
        self
    }
    fn uuid(&mut self, u: Uuid) -> &mut Self {
        let a = if self.le {
            u.to_bytes_le()
        } else {
            *u.as_bytes()
        };
        self.b.extend_from_slice(&a);
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.b.extend_from_slice(b);
        self
    }
    fn align(&mut self, n: usize) -> &mut Self {
        while !self.b.len().is_multiple_of(n) {
            self.b.push(0);
        }
        self
    }
}

/// A PDU: common header, body, and (with `auth`) pad bytes, sec_trailer
/// and credentials: (auth_level, auth_pad_length).
fn pdu(
    ptype: u8,
    flags: u8,
    le: bool,
    call_id: u32,
    body: &[u8],
    auth: Option<(u8, u8)>,
) -> Vec<u8> {
    let cred = [0xa5u8; 16];
    let tail = auth.map_or(0, |(_, pad)| usize::from(pad) + 8 + cred.len());
    let mut w = W::new(le);
    w.bytes(&[5, 0, ptype, flags, if le { 0x10 } else { 0 }, 0, 0, 0]);
    w.u16((16 + body.len() + tail) as u16);
    w.u16(if auth.is_some() { cred.len() as u16 } else { 0 });
    w.u32(call_id).bytes(body);
    if let Some((level, pad)) = auth {
        w.bytes(&vec![0; pad.into()]);
        w.bytes(&[10, level, pad, 0]).u32(7).bytes(&cred);
    }
    w.b
}

fn whole(ptype: u8, le: bool, call_id: u32, body: &[u8]) -> Vec<u8> {
    pdu(
        ptype,
        PFC_FIRST_FRAG | PFC_LAST_FRAG,
        le,
        call_id,
        body,
        None,
    )
}

/// bind body: contexts (id, interface, if_version, transfer syntax).
fn bind_body(le: bool, ctxs: &[(u16, Uuid, u32, Uuid)]) -> Vec<u8> {
    let mut w = W::new(le);
    w.u16(5840)
        .u16(5840)
        .u32(0)
        .u8(ctxs.len() as u8)
        .u8(0)
        .u16(0);
    for &(id, interface, version, syntax) in ctxs {
        w.u16(id).u8(1).u8(0).uuid(interface).u32(version);
        w.uuid(syntax).u32(2);
    }
    w.b
}

/// bind_ack body: results (result, transfer syntax).
fn bind_ack_body(le: bool, results: &[(u16, Uuid)]) -> Vec<u8> {
    let mut w = W::new(le);
    w.u16(5840).u16(5840).u32(0x86f).u16(4).bytes(b"135\0");
    w.align(4).u8(results.len() as u8).u8(0).u16(0);
    for &(result, syntax) in results {
        w.u16(result).u16(0).uuid(syntax).u32(2);
    }
    w.b
}

fn request_body(le: bool, ctx: u16, opnum: u16) -> Vec<u8> {
    let mut w = W::new(le);
    w.u32(0).u16(ctx).u16(opnum).bytes(&[0; 8]);
    w.b
}

fn response_body(le: bool, stub: &[u8]) -> Vec<u8> {
    let mut w = W::new(le);
    w.u32(stub.len() as u32).u16(0).u8(0).u8(0).bytes(stub);
    w.b
}

/// A tower of floors (lhs, rhs), little-endian whatever the drep.
fn make_tower(floors: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut w = W::new(true);
    w.u16(floors.len() as u16);
    for (lhs, rhs) in floors {
        w.u16(lhs.len() as u16)
            .bytes(lhs)
            .u16(rhs.len() as u16)
            .bytes(rhs);
    }
    w.b
}

fn uuid_floor(u: Uuid, major: u16) -> (Vec<u8>, Vec<u8>) {
    let mut w = W::new(true);
    w.u8(0x0d).uuid(u).u16(major);
    (w.b, vec![0, 0])
}

/// Interface A over TCP 49163 at 10.0.0.5; interface B over UDP 1034.
fn two_towers() -> Vec<Vec<u8>> {
    let tcp = make_tower(&[
        uuid_floor(IF_A, 2),
        uuid_floor(NDR, 2),
        (vec![0x0b], vec![0, 0]),
        (vec![0x07], 49163u16.to_be_bytes().to_vec()),
        (vec![0x09], vec![10, 0, 0, 5]),
    ]);
    let udp = make_tower(&[
        uuid_floor(IF_B, 1),
        uuid_floor(NDR, 2),
        (vec![0x0a], vec![0, 0]),
        (vec![0x08], 1034u16.to_be_bytes().to_vec()),
    ]);
    vec![tcp, udp]
}

fn two_endpoints() -> Vec<Fact> {
    vec![
        Fact::RpcEndpoint {
            interface: IF_A,
            proto: 6,
            port: 49163,
            addr: Some(Ipv4Addr::new(10, 0, 0, 5)),
        },
        Fact::RpcEndpoint {
            interface: IF_B,
            proto: 17,
            port: 1034,
            addr: None,
        },
    ]
}

/// An ept_map reply stub: handle, num_towers, pointer array, towers, status.
fn ept_map_stub(le: bool, ndr64: bool, towers: &[Vec<u8>]) -> Vec<u8> {
    let mut w = W::new(le);
    let count = |w: &mut W, v: u64| {
        if ndr64 {
            w.align(8).u64(v);
        } else {
            w.align(4).u32(v as u32);
        }
    };
    w.bytes(&[0; 20]).u32(towers.len() as u32);
    count(&mut w, 4);
    count(&mut w, 0);
    count(&mut w, towers.len() as u64);
    for i in 0..towers.len() {
        count(&mut w, i as u64 + 3);
    }
    for t in towers {
        count(&mut w, t.len() as u64);
        w.u32(t.len() as u32).bytes(t);
    }
    w.align(4).u32(0);
    w.b
}

/// The PDUs of a call on a fresh connection: bind `interface` as
/// context 0 over `syntax`, its ack, then request `opnum`; the
/// response carrying `stub` is left to the caller.
fn call_setup(le: bool, interface: Uuid, syntax: Uuid, opnum: u16) -> Vec<(Dir, Vec<u8>)> {
    vec![
        (
            TO_SERVER,
            whole(
                ptype::BIND,
                le,
                1,
                &bind_body(le, &[(0, interface, 3, syntax)]),
            ),
        ),
        (
            TO_CLIENT,
            whole(ptype::BIND_ACK, le, 1, &bind_ack_body(le, &[(0, syntax)])),
        ),
        (
            TO_SERVER,
            whole(ptype::REQUEST, le, 2, &request_body(le, 0, opnum)),
        ),
    ]
}

fn beginning() -> DceRpc {
    DceRpc::new([Start::Beginning; 2])
}

/// Feeds each (direction, segment) as a whole segment.
fn run(d: &mut DceRpc, segs: &[(Dir, Vec<u8>)]) -> Result<Vec<Fact>, GiveUp> {
    let mut out = Vec::new();
    for (dir, seg) in segs {
        d.feed(*dir, seg, true, &mut out)?;
    }
    Ok(out)
}

/// The facts of a call whose reply stub is `stub`.
fn reply_facts(le: bool, interface: Uuid, opnum: u16, stub: &[u8]) -> Vec<Fact> {
    let mut segs = call_setup(le, interface, NDR, opnum);
    segs.push((
        TO_CLIENT,
        whole(ptype::RESPONSE, le, 2, &response_body(le, stub)),
    ));
    let facts = run(&mut beginning(), &segs).unwrap();
    facts
        .into_iter()
        .filter(|f| !matches!(f, Fact::RpcBind { .. }))
        .collect()
}

#[test]
fn bind_lists_each_context_once_in_either_byte_order() {
    for le in [true, false] {
        // Version 3.1 (minor in the high half), 2.0, and A again.
        let body = bind_body(
            le,
            &[
                (0, IF_A, 0x0001_0003, NDR),
                (1, IF_B, 2, NDR),
                (2, IF_A, 0x0001_0003, NDR64),
            ],
        );
        let facts = run(
            &mut beginning(),
            &[(TO_SERVER, whole(ptype::BIND, le, 1, &body))],
        )
        .unwrap();
        assert_eq!(
            facts,
            vec![
                Fact::RpcBind {
                    interface: IF_A,
                    version: 3
                },
                Fact::RpcBind {
                    interface: IF_B,
                    version: 2
                },
            ],
            "little-endian: {le}"
        );
    }
}

#[test]
fn alter_context_binds_too() {
    let body = bind_body(true, &[(1, IF_B, 0, NDR)]);
    let facts = run(
        &mut beginning(),
        &[(TO_SERVER, whole(ptype::ALTER_CONTEXT, true, 1, &body))],
    )
    .unwrap();
    assert_eq!(
        facts,
        vec![Fact::RpcBind {
            interface: IF_B,
            version: 0
        }]
    );
}

#[test]
fn ept_map_reply_gives_tcp_and_udp_endpoints_in_either_byte_order() {
    for le in [true, false] {
        let stub = ept_map_stub(le, false, &two_towers());
        assert_eq!(
            reply_facts(le, EPM, 3, &stub),
            two_endpoints(),
            "little-endian: {le}"
        );
        // ept_lookup (opnum 2) replies are not read.
        assert_eq!(reply_facts(le, EPM, 2, &stub), vec![]);
    }
}

#[test]
fn ept_map_reply_in_ndr64() {
    let stub = ept_map_stub(true, true, &two_towers());
    let mut segs = call_setup(true, EPM, NDR64, 3);
    segs.push((
        TO_CLIENT,
        whole(ptype::RESPONSE, true, 2, &response_body(true, &stub)),
    ));
    let facts = run(&mut beginning(), &segs).unwrap();
    assert_eq!(facts[1..], two_endpoints()[..]);
}

#[test]
fn a_response_split_across_two_fragments_is_reassembled() {
    let stub = ept_map_stub(true, false, &two_towers());
    let (a, b) = stub.split_at(50);
    let mut d = beginning();
    run(&mut d, &call_setup(true, EPM, NDR, 3)).unwrap();
    let first = pdu(
        ptype::RESPONSE,
        PFC_FIRST_FRAG,
        true,
        2,
        &response_body(true, a),
        None,
    );
    let last = pdu(
        ptype::RESPONSE,
        PFC_LAST_FRAG,
        true,
        2,
        &response_body(true, b),
        None,
    );
    assert_eq!(run(&mut d, &[(TO_CLIENT, first)]).unwrap(), vec![]);
    assert_eq!(run(&mut d, &[(TO_CLIENT, last)]).unwrap(), two_endpoints());
}

#[test]
fn auth_verifier_integrity_is_read_and_privacy_skipped() {
    let stub = ept_map_stub(true, false, &two_towers());
    for (level, pad, expect) in [
        (5, 4, two_endpoints()),
        (5, 0, two_endpoints()),
        (6, 4, vec![]),
    ] {
        let mut d = beginning();
        run(&mut d, &call_setup(true, EPM, NDR, 3)).unwrap();
        let flags = PFC_FIRST_FRAG | PFC_LAST_FRAG;
        let reply = pdu(
            ptype::RESPONSE,
            flags,
            true,
            2,
            &response_body(true, &stub),
            Some((level, pad)),
        );
        assert_eq!(
            run(&mut d, &[(TO_CLIENT, reply)]).unwrap(),
            expect,
            "level {level}"
        );
    }
}

#[test]
fn a_bind_with_an_auth_verifier_still_lists_its_contexts() {
    let body = bind_body(true, &[(0, IF_A, 1, NDR)]);
    let bind = pdu(ptype::BIND, 3, true, 1, &body, Some((6, 0)));
    let facts = run(&mut beginning(), &[(TO_SERVER, bind)]).unwrap();
    assert_eq!(
        facts,
        vec![Fact::RpcBind {
            interface: IF_A,
            version: 1
        }]
    );
}

/// A DUALSTRINGARRAY: string bindings (tower, address), security
/// bindings (authn service, principal).
fn dsa(le: bool, strings: &[(u16, &str)], security: &[(u16, &str)]) -> Vec<u8> {
    let mut words = Vec::new();
    for (tower, s) in strings {
        words.push(*tower);
        words.extend(s.encode_utf16());
        words.push(0);
    }
    words.push(0);
    let offset = words.len() as u16;
    for (authn, s) in security {
        words.extend([*authn, 0xffff]);
        words.extend(s.encode_utf16());
        words.push(0);
    }
    words.push(0);
    let mut w = W::new(le);
    w.u16(words.len() as u16).u16(offset);
    for x in words {
        w.u16(x);
    }
    w.b
}

fn bindings(list: &[(u16, &str)]) -> Vec<Fact> {
    list.iter()
        .map(|&(tower, b)| Fact::DcomBinding {
            tower,
            binding: b.to_string(),
        })
        .collect()
}

const HOST: &[(u16, &str)] = &[(7, "NODE1[49718]"), (7, "10.0.0.9[49718]"), (0x1f, "NODE1")];
const SECURITY: &[(u16, &str)] = &[(10, "NT AUTHORITY\\SYSTEM"), (16, "host/node1.example")];

/// ResolveOxid2 reply (MS-DCOM §3.1.2.5.1.5): a unique pointer, then
/// the conformant DUALSTRINGARRAY, IPID, authn hint, COMVERSION, HRESULT.
fn resolve_oxid2_stub(le: bool, array: &[u8]) -> Vec<u8> {
    let mut w = W::new(le);
    let n = Ndr::at(array, 0, le).u16().unwrap();
    w.u32(0x0002_0000).u32(n.into()).bytes(array).align(4);
    w.bytes(&[0x11; 16]).u32(4).u16(5).u16(7).u32(0);
    w.b
}

#[test]
fn resolve_oxid_replies_give_their_string_bindings() {
    for le in [true, false] {
        let stub = resolve_oxid2_stub(le, &dsa(le, HOST, SECURITY));
        for opnum in [0, 4] {
            assert_eq!(
                reply_facts(le, OBJECT_EXPORTER, opnum, &stub),
                bindings(HOST)
            );
        }
        // ServerAlive2 (opnum 5) is not read.
        assert_eq!(reply_facts(le, OBJECT_EXPORTER, 5, &stub), vec![]);
    }
}

/// An OBJREF_STANDARD: signature, flags, IID, STDOBJREF, saResAddr.
fn objref(array: &[u8]) -> Vec<u8> {
    let mut w = W::new(true);
    w.bytes(b"MEOW").u32(1).uuid(IF_A);
    w.u32(0)
        .u32(5)
        .u64(0x1189_f948_559b_4a41)
        .u64(0x277f_c1c2_cc06_1724)
        .uuid(IF_B);
    w.bytes(array);
    w.b
}

#[test]
fn remote_create_instance_reply_gives_objref_and_scm_bindings_once_each() {
    let resolver = [(7, "NODE1"), (7, "10.0.0.9")];
    let mut w = W::new(true);
    // ORPCTHAT, a pointer, then a blob at an odd offset holding an
    // OBJREF and (as ScmReplyInfoData does) an NDR array: its max
    // count, then the array, whose first binding repeats the OBJREF's.
    w.u32(0).u32(0).u32(0x0002_0000).bytes(&[0xcc; 3]);
    w.bytes(&objref(&dsa(true, &resolver, &[(9, "")])));
    w.bytes(&[0x41, 0x4a, 0x9b]).u32(0x0002_0004);
    let scm = dsa(
        true,
        &[(7, "NODE1"), (7, "NODE1[49718]"), (7, "10.0.0.9[49718]")],
        SECURITY,
    );
    w.u32(Ndr::at(&scm, 0, true).u16().unwrap().into())
        .bytes(&scm)
        .u32(0);
    for opnum in [3, 4] {
        assert_eq!(
            reply_facts(true, SCM_ACTIVATOR, opnum, &w.b),
            bindings(&[
                (7, "NODE1"),
                (7, "10.0.0.9"),
                (7, "NODE1[49718]"),
                (7, "10.0.0.9[49718]")
            ])
        );
    }
}

#[test]
fn the_dualstringarray_scan_rejects_near_misses() {
    let good = dsa(true, HOST, SECURITY);
    let n = u32::from(Ndr::at(&good, 0, true).u16().unwrap());
    let stub = |count: u32, array: &[u8]| {
        let mut w = W::new(true);
        w.u32(0x0002_0000).u32(count).bytes(array).u32(0);
        w.b
    };
    let mut control = good.clone();
    control[6] = 0x07; // "N" of NODE1 becomes BEL
    let mut unterminated = good.clone();
    let last = unterminated.len() - 2;
    unterminated[last] = 0x41;
    let mut bad_offset = good.clone();
    bad_offset[2] = 3;
    let no_strings = dsa(true, &[], SECURITY);
    let cases = [
        ("max count differs", stub(n + 1, &good)),
        ("control character", stub(n, &control)),
        ("no final terminator", stub(n, &unterminated)),
        ("security offset off", stub(n, &bad_offset)),
        (
            "no string binding",
            stub(
                u32::from(Ndr::at(&no_strings, 0, true).u16().unwrap()),
                &no_strings,
            ),
        ),
        (
            "truncated",
            stub(n, &good[..good.len() - 4])[..good.len() + 4].to_vec(),
        ),
    ];
    for (what, s) in cases {
        assert_eq!(reply_facts(true, SCM_ACTIVATOR, 4, &s), vec![], "{what}");
    }
    assert_eq!(
        reply_facts(true, SCM_ACTIVATOR, 4, &stub(n, &good)),
        bindings(HOST)
    );
}

#[test]
fn a_rejected_context_is_not_followed() {
    let le = true;
    let stub = ept_map_stub(le, false, &two_towers());
    let segs = [
        (
            TO_SERVER,
            whole(ptype::BIND, le, 1, &bind_body(le, &[(0, EPM, 3, NDR)])),
        ),
        // Provider rejection (2).
        (
            TO_CLIENT,
            whole(
                ptype::BIND_ACK,
                le,
                1,
                &bind_ack_body(le, &[(2, Uuid::nil())]),
            ),
        ),
        (
            TO_SERVER,
            whole(ptype::REQUEST, le, 2, &request_body(le, 0, 3)),
        ),
        (
            TO_CLIENT,
            whole(ptype::RESPONSE, le, 2, &response_body(le, &stub)),
        ),
    ];
    let facts = run(&mut beginning(), &segs).unwrap();
    assert_eq!(
        facts,
        vec![Fact::RpcBind {
            interface: EPM,
            version: 3
        }]
    );
}

#[test]
fn a_fault_or_an_unknown_call_id_gives_nothing() {
    let le = true;
    let stub = ept_map_stub(le, false, &two_towers());
    let mut segs = call_setup(le, EPM, NDR, 3);
    segs.push((TO_CLIENT, whole(ptype::FAULT, le, 2, &[0; 16])));
    segs.push((
        TO_CLIENT,
        whole(ptype::RESPONSE, le, 2, &response_body(le, &stub)),
    ));
    segs.push((
        TO_CLIENT,
        whole(ptype::RESPONSE, le, 9, &response_body(le, &stub)),
    ));
    assert_eq!(run(&mut beginning(), &segs).unwrap().len(), 1);
}

#[test]
fn a_midway_stream_resyncs_at_a_segment_that_starts_with_a_header() {
    let mut d = DceRpc::new([Start::Midway; 2]);
    let bind = whole(ptype::BIND, true, 1, &bind_body(true, &[(0, IF_A, 1, NDR)]));
    let stub = ept_map_stub(true, false, &two_towers());
    let reply = whole(ptype::RESPONSE, true, 2, &response_body(true, &stub));
    let mut out = Vec::new();
    // The tail of a PDU, then a header that does not start a segment.
    d.feed(TO_CLIENT, &reply[40..], true, &mut out).unwrap();
    d.feed(TO_SERVER, &bind, false, &mut out).unwrap();
    // A reply to a request that came before the capture: no call known.
    d.feed(TO_CLIENT, &reply, true, &mut out).unwrap();
    assert_eq!(out, vec![]);
    let (head, rest) = bind.split_at(20);
    d.feed(TO_SERVER, head, true, &mut out).unwrap();
    d.feed(TO_SERVER, rest, false, &mut out).unwrap();
    assert_eq!(
        out,
        vec![Fact::RpcBind {
            interface: IF_A,
            version: 1
        }]
    );
}

#[test]
fn garbage_gives_up_with_a_reason() {
    let bind = whole(ptype::BIND, true, 1, &bind_body(true, &[(0, IF_A, 1, NDR)]));
    let mut too_short = bind.clone();
    too_short[8] = 12;
    let mut big_auth = bind.clone();
    big_auth[10] = 0xf0;
    let cases: [(&[u8], &str); 5] = [
        (b"GET / HTTP/1.1\r\n\r\n", "not DCE/RPC: rpc_vers is not 5"),
        (&[5, 2, 0, 3], "not DCE/RPC: rpc_vers_minor is not 0 or 1"),
        (&[5, 0, 20, 3], "not DCE/RPC: unknown PTYPE"),
        (&too_short, "not DCE/RPC: frag_length below the header size"),
        (&big_auth, "not DCE/RPC: auth_length exceeds the fragment"),
    ];
    for (seg, why) in cases {
        let mut d = beginning();
        let mut out = Vec::new();
        // A good PDU first: the stream is DCE/RPC until it is not.
        d.feed(TO_SERVER, &bind, true, &mut out).unwrap();
        assert_eq!(d.feed(TO_SERVER, seg, true, &mut out), Err(GiveUp(why)));
    }
    let mut d = beginning();
    let drep = [5, 0, 11, 3, 0x20, 0, 0, 0];
    assert_eq!(
        d.feed(TO_SERVER, &drep, true, &mut Vec::new()),
        Err(GiveUp("not DCE/RPC: bad data representation"))
    );
}

/// A whole association: bind, ack, ept_map call, then a DCOM call on
/// the same connection in two fragments, big-endian bind in between.
fn conversation() -> Vec<(Dir, Vec<u8>)> {
    let mut segs = call_setup(true, EPM, NDR, 3);
    let ept = ept_map_stub(true, false, &two_towers());
    segs.push((
        TO_CLIENT,
        whole(ptype::RESPONSE, true, 2, &response_body(true, &ept)),
    ));
    let alter = bind_body(true, &[(1, OBJECT_EXPORTER, 0, NDR)]);
    segs.push((TO_SERVER, whole(ptype::ALTER_CONTEXT, true, 3, &alter)));
    segs.push((
        TO_CLIENT,
        whole(
            ptype::ALTER_CONTEXT_RESP,
            true,
            3,
            &bind_ack_body(true, &[(0, NDR)]),
        ),
    ));
    segs.push((
        TO_SERVER,
        whole(ptype::REQUEST, true, 4, &request_body(true, 1, 4)),
    ));
    let oxid = resolve_oxid2_stub(true, &dsa(true, HOST, SECURITY));
    let (a, b) = oxid.split_at(21);
    segs.push((
        TO_CLIENT,
        pdu(
            ptype::RESPONSE,
            PFC_FIRST_FRAG,
            true,
            4,
            &response_body(true, a),
            Some((5, 3)),
        ),
    ));
    segs.push((
        TO_CLIENT,
        pdu(
            ptype::RESPONSE,
            PFC_LAST_FRAG,
            true,
            4,
            &response_body(true, b),
            Some((5, 0)),
        ),
    ));
    segs
}

#[test]
fn one_byte_segments_give_the_same_facts() {
    let segs = conversation();
    let whole_segments = run(&mut beginning(), &segs).unwrap();
    let mut expect = vec![Fact::RpcBind {
        interface: EPM,
        version: 3,
    }];
    expect.extend(two_endpoints());
    expect.push(Fact::RpcBind {
        interface: OBJECT_EXPORTER,
        version: 0,
    });
    expect.extend(bindings(HOST));
    assert_eq!(whole_segments, expect);
    let bytes: Vec<(Dir, Vec<u8>)> = segs
        .iter()
        .flat_map(|(dir, s)| s.iter().map(|&b| (*dir, vec![b])))
        .collect();
    assert_eq!(run(&mut beginning(), &bytes).unwrap(), expect);
    // All PDUs of a direction in one segment.
    let mut d = beginning();
    let mut out = Vec::new();
    for (dir, s) in &segs {
        d.feed(*dir, s, true, &mut out).unwrap();
    }
    assert_eq!(out, expect);
}

/// Feeds each (direction, segment) as a capture with a snaplen of
/// `keep` payload bytes would: the first `keep` bytes, then a hole.
fn run_cut(d: &mut DceRpc, segs: &[(Dir, Vec<u8>)], keep: usize) -> Result<Vec<Fact>, GiveUp> {
    let mut out = Vec::new();
    for (dir, seg) in segs {
        let kept = seg.len().min(keep);
        d.feed(*dir, &seg[..kept], true, &mut out)?;
        d.gap(*dir, seg.len() - kept, &mut out)?;
    }
    Ok(out)
}

#[test]
fn a_cut_ept_map_reply_gives_the_towers_captured_then_gives_up() {
    let towers = two_towers();
    let stub = ept_map_stub(true, false, &towers);
    let mut segs = call_setup(true, EPM, NDR, 3);
    // Bind and request cut too: their headers and fields are in.
    let ept = whole(ptype::RESPONSE, true, 2, &response_body(true, &stub));
    let second = stub
        .windows(towers[1].len())
        .position(|w| w == towers[1].as_slice())
        .unwrap();
    // The snaplen keeps the first tower whole and half of the second.
    let keep = 24 + second + towers[1].len() / 2;
    let mut expect = vec![Fact::RpcBind {
        interface: EPM,
        version: 3,
    }];
    let bind_len = segs[0].1.len();
    assert!(keep >= bind_len && keep < ept.len());
    segs.push((TO_CLIENT, ept));
    let mut d = beginning();
    let mut out = Vec::new();
    for (dir, seg) in &segs {
        let kept = seg.len().min(keep);
        d.feed(*dir, &seg[..kept], true, &mut out).unwrap();
        let hole = d.gap(*dir, seg.len() - kept, &mut out);
        if dir == &TO_CLIENT && seg.len() > keep {
            assert_eq!(hole, Err(GiveUp(SNAPLEN_CUT)));
        } else {
            hole.unwrap();
        }
    }
    expect.push(two_endpoints()[0].clone());
    assert_eq!(out, expect);
}

#[test]
fn a_cut_request_is_read_and_the_whole_reply_after_it_too() {
    // The request's stub is cut (its header and opnum are in); the reply
    // comes whole: a hole ending a fragment leaves the framing intact.
    let stub = ept_map_stub(true, false, &two_towers());
    let mut segs = call_setup(true, EPM, NDR, 3);
    segs[2].1 = whole(ptype::REQUEST, true, 2, &{
        let mut b = request_body(true, 0, 3);
        b.extend([0x55; 300]);
        b
    });
    let reply = whole(ptype::RESPONSE, true, 2, &response_body(true, &stub));
    let keep = reply.len();
    segs.push((TO_CLIENT, reply));
    let out = run_cut(&mut beginning(), &segs, keep).unwrap();
    let mut expect = vec![Fact::RpcBind {
        interface: EPM,
        version: 3,
    }];
    expect.extend(two_endpoints());
    assert_eq!(out, expect);
}

#[test]
fn a_cut_reply_whose_sec_trailer_was_not_captured_is_not_read() {
    // Its stub may be encrypted (packet privacy): nothing is read, and
    // the snaplen is the reason the reply was lost.
    let stub = ept_map_stub(true, false, &two_towers());
    let mut segs = call_setup(true, EPM, NDR, 3);
    let flags = PFC_FIRST_FRAG | PFC_LAST_FRAG;
    let body = response_body(true, &stub);
    let reply = pdu(ptype::RESPONSE, flags, true, 2, &body, Some((5, 0)));
    let keep = reply.len() - 20;
    segs.push((TO_CLIENT, reply));
    assert_eq!(
        run_cut(&mut beginning(), &segs, keep),
        Err(GiveUp(SNAPLEN_CUT))
    );
}

#[test]
fn tables_stay_bounded() {
    let le = true;
    let many: Vec<_> = (0..200u16).map(|i| (i, IF_A, 1, NDR)).collect();
    let mut segs = vec![(TO_SERVER, whole(ptype::BIND, le, 1, &bind_body(le, &many)))];
    // Context 0, one of those kept, now names the endpoint mapper.
    let epm = bind_body(le, &[(0, EPM, 3, NDR)]);
    segs.push((TO_SERVER, whole(ptype::BIND, le, 1, &epm)));
    let request = request_body(le, 0, 3);
    segs.extend((0..500).map(|c| (TO_SERVER, whole(ptype::REQUEST, le, c, &request))));
    let mut d = beginning();
    run(&mut d, &segs).unwrap();
    assert_eq!(d.conn.contexts.len(), MAX_CONTEXTS);
    assert_eq!(d.conn.offered.len(), 1);
    assert_eq!(d.conn.calls.len(), MAX_CALLS);
    // A reply bigger than the stub cap is dropped, not kept.
    let body = response_body(le, &[0; 16 * 1024]);
    let frag = |flags| (TO_CLIENT, pdu(ptype::RESPONSE, flags, le, 499, &body, None));
    run(&mut d, &[frag(PFC_FIRST_FRAG), frag(0), frag(0), frag(0)]).unwrap();
    assert!(d
        .conn
        .stub
        .as_ref()
        .is_some_and(|s| s.bytes.len() == 4 * 16 * 1024));
    run(&mut d, &[frag(0)]).unwrap();
    assert!(d.conn.stub.is_none());
}

/// Conformance with tshark 4.0.17 over the shared corpus of real captures.
mod corpus {
    use super::*;
    use crate::evidence::testkit::{corpus_file, dissect_file, Found};
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet, HashSet};
    use std::net::IpAddr;
    use std::path::{Path, PathBuf};

    /// A capture known to be in the corpus, to find its root.
    const ANCHOR: &str = "zeek+zeek/testing/btest/Traces/dce-rpc/mapi.pcap";

    type Endpoint = (IpAddr, u16);

    /// What one capture gave: facts, give-ups, the flows dissected.
    struct Run {
        found: Vec<Found>,
        gave_up: Vec<(u64, GiveUp)>,
        flows: HashSet<(Endpoint, Endpoint)>,
    }

    impl Run {
        /// The flow of (a, b), either way round, was dissected.
        fn dissected(&self, a: Endpoint, b: Endpoint) -> bool {
            self.flows.contains(&(a, b)) || self.flows.contains(&(b, a))
        }
    }

    /// A flow's two ends in a fixed order.
    fn flow(a: Endpoint, b: Endpoint) -> (Endpoint, Endpoint) {
        (a.min(b), a.max(b))
    }

    /// Reports a test skipped for want of the corpus, as the
    /// project's tests do (`tests/util.rs`): a `*** SKIPPED` line that
    /// `scripts/test-summary.sh` counts, or a failure under `CI=true`.
    fn skip(test: &str, why: &str) {
        crate::evidence::testkit::skip(&format!("dcerpc::{test}"), why);
    }

    /// `groundtruth/` of the corpus, or `None` (skipped) when absent.
    fn groundtruth(test: &str) -> Option<PathBuf> {
        let dir = corpus_file(ANCHOR).and_then(|anchor| {
            let depth = Path::new(ANCHOR).components().count() + 1;
            Some(anchor.ancestors().nth(depth)?.join("groundtruth"))
        });
        match dir {
            Some(dir) if dir.is_dir() => Some(dir),
            _ => {
                skip(
                    test,
                    "the shared corpus (../shared/pcaps or $LANECHECK_CORPUS) is missing",
                );
                None
            }
        }
    }

    /// Rows of a tab-separated file with a header line, by column name.
    fn tsv(path: &Path) -> Vec<BTreeMap<String, String>> {
        let text = std::fs::read_to_string(path).expect("read ground truth");
        let mut lines = text.lines();
        let head: Vec<&str> = lines.next().expect("header").split('\t').collect();
        lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let cells = l.split('\t').chain(std::iter::repeat(""));
                head.iter()
                    .zip(cells)
                    .map(|(h, c)| (h.to_string(), c.to_string()))
                    .collect()
            })
            .collect()
    }

    /// Runs a [`DceRpc`] over every TCP flow whose first payload has the
    /// signature. `file` is as the ground truth names it (`files/…`).
    fn dissect(file: &str) -> Option<Run> {
        let Some(path) = corpus_file(file.strip_prefix("files/").unwrap_or(file)) else {
            skip(file, "a capture the ground truth names is missing");
            return None;
        };
        let flows = RefCell::new(HashSet::new());
        let (found, gave_up) = dissect_file(&path, |client, server, payload, starts| {
            if !DceRpc::signature(payload) {
                return None;
            }
            flows.borrow_mut().insert((client, server));
            Some(Box::new(DceRpc::new(starts)) as Box<dyn Dissector>)
        });
        for (frame, why) in &gave_up {
            eprintln!("{file}: frame {frame}: gave up: {why}");
        }
        let flows = flows.into_inner();
        Some(Run {
            found,
            gave_up,
            flows,
        })
    }

    fn col<'a>(row: &'a BTreeMap<String, String>, name: &str) -> &'a str {
        row.get(name).unwrap_or_else(|| panic!("no column {name}"))
    }

    fn num<T: std::str::FromStr>(row: &BTreeMap<String, String>, name: &str) -> T {
        col(row, name)
            .parse()
            .unwrap_or_else(|_| panic!("{name}: not a number"))
    }

    /// Ground-truth rows grouped by capture.
    fn by_file(
        rows: Vec<BTreeMap<String, String>>,
    ) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
        let mut files = BTreeMap::<_, Vec<_>>::new();
        for row in rows {
            files
                .entry(col(&row, "file").to_string())
                .or_default()
                .push(row);
        }
        files
    }

    #[test]
    fn epm_endpoints_match_tshark() {
        let Some(gt) = groundtruth("epm_endpoints_match_tshark") else {
            return;
        };
        let files = by_file(tsv(&gt.join("_corpus/epm_map_responses_all.tsv")));
        assert!(!files.is_empty());
        for (file, rows) in files {
            let Some(run) = dissect(&file) else { continue };
            let expect: BTreeSet<_> = rows
                .iter()
                .map(|r| {
                    let interface = col(r, "epm.uuid(interface,transfer-syntax)")
                        .split(',')
                        .next();
                    let addr = col(r, "epm.proto.ip");
                    (
                        num::<u64>(r, "frame"),
                        interface
                            .and_then(|u| u.parse::<Uuid>().ok())
                            .expect("a uuid"),
                        6u8,
                        num::<u16>(r, "dynamic_tcp_port"),
                        (!addr.is_empty()).then(|| addr.parse::<Ipv4Addr>().expect("an address")),
                    )
                })
                .collect();
            let got: BTreeSet<_> = run
                .found
                .iter()
                .filter_map(|f| match f.fact {
                    Fact::RpcEndpoint {
                        interface,
                        proto,
                        port,
                        addr,
                    } => Some((f.frame, interface, proto, port, addr)),
                    _ => None,
                })
                .collect();
            let count = run
                .found
                .iter()
                .filter(|f| matches!(f.fact, Fact::RpcEndpoint { .. }))
                .count();
            assert_eq!(got, expect, "{file}");
            assert_eq!(count, expect.len(), "{file}: duplicate endpoints");
            assert_eq!(run.gave_up, vec![], "{file}");
        }
    }

    #[test]
    fn dcom_string_bindings_match_tshark() {
        let Some(gt) = groundtruth("dcom_string_bindings_match_tshark") else {
            return;
        };
        let files = by_file(tsv(&gt.join("_corpus/dcom_string_bindings_all.tsv")));
        assert!(!files.is_empty());
        for (file, rows) in files {
            let Some(run) = dissect(&file) else { continue };
            let mut expect = BTreeMap::<u64, BTreeSet<String>>::new();
            for r in &rows {
                let list = col(r, "string_bindings").split('|').map(str::to_string);
                expect.entry(num(r, "frame")).or_default().extend(list);
            }
            let mut got = BTreeMap::<u64, Vec<String>>::new();
            for f in &run.found {
                if let Fact::DcomBinding { binding, .. } = &f.fact {
                    got.entry(f.frame).or_default().push(binding.clone());
                }
            }
            let got_sets: BTreeMap<u64, BTreeSet<String>> = got
                .iter()
                .map(|(k, v)| (*k, v.iter().cloned().collect()))
                .collect();
            assert_eq!(got_sets, expect, "{file}");
            for (frame, list) in &got {
                assert_eq!(
                    list.len(),
                    expect[frame].len(),
                    "{file}: frame {frame}: duplicates"
                );
            }
            assert_eq!(run.gave_up, vec![], "{file}");
        }
    }

    /// Bind rows as (frame, flow, interface, version) for the flows
    /// dissected, and how many rows were left (each over SMB: 139/445).
    type Bind = (u64, (Endpoint, Endpoint), Uuid, u16);
    fn expected_binds(folder: &Path, file: &str, run: &Run) -> (BTreeSet<Bind>, usize) {
        let (mut expect, mut smb) = (BTreeSet::new(), 0);
        for r in tsv(&folder.join("dcerpc_binds.tsv")) {
            let a = (num::<IpAddr>(&r, "ip.src"), num::<u16>(&r, "tcp.srcport"));
            let b = (num::<IpAddr>(&r, "ip.dst"), num::<u16>(&r, "tcp.dstport"));
            if !run.dissected(a, b) {
                let over_smb = [a.1, b.1].iter().any(|p| [139, 445].contains(p));
                assert!(over_smb, "{file}: {r:?}");
                smb += 1;
                continue;
            }
            let frame: u64 = num(&r, "frame.number");
            let uuids = col(&r, "dcerpc.cn_bind_to_uuid").split(',');
            let versions = col(&r, "dcerpc.cn_bind_if_ver").split(',');
            for (u, v) in uuids.zip(versions) {
                let interface = u.parse::<Uuid>().expect("a uuid");
                let version = v.parse::<u16>().expect("a version");
                expect.insert((frame, flow(a, b), interface, version));
            }
        }
        (expect, smb)
    }

    /// `dcerpc_binds.tsv` lists each bind or alter_context PDU tshark
    /// saw (over TCP or SMB pipes), its interfaces and major versions
    /// as comma-separated lists. Rows of the flows dissected here must
    /// equal the RpcBind facts; the others must be RPC over SMB
    /// (139/445), which this dissector does not read.
    #[test]
    fn binds_match_tshark() {
        let Some(gt) = groundtruth("binds_match_tshark") else {
            return;
        };
        let mut folders: Vec<PathBuf> = std::fs::read_dir(&gt)
            .expect("list ground truth")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.join("dcerpc_binds.tsv").is_file())
            .collect();
        folders.sort();
        assert!(!folders.is_empty());
        let (mut matched, mut smb) = (0, 0);
        for folder in folders {
            let source = std::fs::read_to_string(folder.join("SOURCE.txt")).expect("SOURCE.txt");
            let file = source.lines().next().expect("a path").trim().to_string();
            let Some(run) = dissect(&file) else { continue };
            let (expect, not_tcp) = expected_binds(&folder, &file, &run);
            smb += not_tcp;
            let got: Vec<_> = run
                .found
                .iter()
                .filter_map(|f| match f.fact {
                    Fact::RpcBind { interface, version } => {
                        Some((f.frame, flow(f.client, f.server), interface, version))
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(
                got.iter().copied().collect::<BTreeSet<_>>(),
                expect,
                "{file}"
            );
            assert_eq!(got.len(), expect.len(), "{file}: duplicate binds");
            assert_eq!(run.gave_up, vec![], "{file}");
            matched += got.len();
        }
        eprintln!(
            "binds: {matched} matched over TCP, {smb} ground-truth rows over SMB pipes not read"
        );
    }

    /// The `_all` extractions cover every capture of the corpus: no
    /// endpoint or DCOM binding may appear in a capture they do not
    /// list, whatever flow opens like DCE/RPC.
    #[test]
    fn no_endpoint_or_binding_outside_the_ground_truth() {
        let Some(gt) = groundtruth("no_endpoint_or_binding_outside_the_ground_truth") else {
            return;
        };
        let manifest = gt.parent().expect("corpus root").join("MANIFEST.tsv");
        let listed = |name: &str| -> BTreeSet<String> {
            tsv(&gt.join("_corpus").join(name))
                .iter()
                .map(|r| col(r, "file").to_string())
                .collect()
        };
        let (epm, dcom) = (
            listed("epm_map_responses_all.tsv"),
            listed("dcom_string_bindings_all.tsv"),
        );
        let (mut files, mut flows, mut facts, mut gave_up) = (0, 0, 0, 0);
        for row in tsv(&manifest) {
            let file = col(&row, "local_path");
            let Some(run) = dissect(file) else { continue };
            for f in &run.found {
                match f.fact {
                    Fact::RpcEndpoint { .. } => assert!(epm.contains(file), "{file}: {f:?}"),
                    Fact::DcomBinding { .. } => assert!(dcom.contains(file), "{file}: {f:?}"),
                    _ => {}
                }
            }
            files += 1;
            flows += run.flows.len();
            facts += run.found.len();
            gave_up += run.gave_up.len();
        }
        eprintln!(
            "swept {files} captures: {flows} DCE/RPC flows, {facts} facts, {gave_up} give-ups"
        );
        assert!(files > 0 && flows > 0);
    }
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {

        /// Arbitrary segments either way, half of them opening like a
        /// PDU of their own length, from the start or mid-way.
        #[test]
        fn arbitrary_streams_never_panic(
            segs in proptest::collection::vec(
                (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)),
                0..24,
            ),
            midway in any::<bool>(),
        ) {
            let start = if midway { Start::Midway } else { Start::Beginning };
            let mut d = DceRpc::new([start; 2]);
            let mut out = Vec::new();
            for (to_server, mut s) in segs {
                if s.len() >= 16 && s[0] % 2 == 0 {
                    let len = (s.len() as u16).to_le_bytes();
                    let head = [5, 0, s[2] % 20, s[3], 0x10];
                    s[..5].copy_from_slice(&head);
                    s[8..10].copy_from_slice(&len);
                }
                let dir = if to_server { TO_SERVER } else { TO_CLIENT };
                if d.feed(dir, &s, true, &mut out).is_err() {
                    break;
                }
            }
        }
        /// A valid conversation whose segments a snaplen cuts (one
        /// segment, or every one, after `keep` bytes) never panics and is
        /// never called "not DCE/RPC": the only give-up is the snaplen's.
        #[test]
        fn snaplen_cuts_are_never_bad_headers(
            which in 0usize..9,
            keep in 0usize..400,
            every in any::<bool>(),
        ) {
            let segs = conversation();
            let mut d = beginning();
            let mut out = Vec::new();
            for (i, (dir, seg)) in segs.iter().enumerate() {
                let kept = if every || i == which { seg.len().min(keep) } else { seg.len() };
                let fed = d.feed(*dir, &seg[..kept], true, &mut out)
                    .and_then(|()| d.gap(*dir, seg.len() - kept, &mut out));
                if let Err(e) = fed {
                    prop_assert_eq!(e, GiveUp(SNAPLEN_CUT));
                    break;
                }
            }
        }

        /// Any bytes after a plausible header, cut anywhere, never panic.
        #[test]
        fn feeding_never_panics(
            ptype in 0u8..20,
            flags in any::<u8>(),
            body in proptest::collection::vec(any::<u8>(), 0..600),
            cut in 1usize..64,
        ) {
            let mut d = beginning();
            let mut out = Vec::new();
            let mut segs = call_setup(true, SCM_ACTIVATOR, NDR, 4);
            segs.push((TO_CLIENT, pdu(ptype, flags, true, 2, &body, None)));
            for (dir, s) in &segs {
                for piece in s.chunks(cut) {
                    if d.feed(*dir, piece, true, &mut out).is_err() {
                        break;
                    }
                }
            }
            // A random stub for each reply kind.
            let mut w = W::new(true);
            w.bytes(&body);
            let _ = ept_map_reply(&w.b, true, ptype % 2 == 0, &mut out);
            dcom_reply(&w.b, flags % 2 == 0, ptype % 3 == 0, &mut out);
            let _ = tower(&w.b, &mut out);
        }
    }
}
