//! DCOM activation stubs (MS-DCOM): `IRemoteSCMActivator::RemoteCreateInstance` request and
//! response. The response carries what a passive observer learns the dynamic port from: the
//! OXID bindings (a DUALSTRINGARRAY of `host[port]` string bindings, MS-DCOM §2.2.19) in
//! ScmReplyInfoData (§2.2.22.2.8). Both stubs are complete activation property sets
//! (§2.2.22), laid out like the ones Windows sends, so Wireshark decodes them to the last
//! string binding.

use crate::rpc::uuid;

/// MS-DCOM §1.9 well-known GUIDs: all `000001xx/000003xx-0000-0000-c000-000000000046`.
fn com_guid(n: u16) -> [u8; 16] {
    let mut g = [0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46];
    g[..2].copy_from_slice(&n.to_le_bytes());
    g
}
const IID_ACT_PROPERTIES_IN: u16 = 0x01a2;
const IID_ACT_PROPERTIES_OUT: u16 = 0x01a3;
const CLSID_ACT_PROPERTIES_IN: u16 = 0x0338;
const CLSID_ACT_PROPERTIES_OUT: u16 = 0x0339;
const CLSID_INSTANTIATION_INFO: u16 = 0x01ab;
const CLSID_SECURITY_INFO: u16 = 0x01a6;
const CLSID_LOCATION_INFO: u16 = 0x01a4;
const CLSID_SCM_REQUEST_INFO: u16 = 0x01aa;
const CLSID_PROPS_OUT_INFO: u16 = 0x0339;
const CLSID_SCM_REPLY_INFO: u16 = 0x01b6;

/// NDR writer with alignment relative to the start of the buffer and unique-pointer
/// referent ids numbered the way Windows numbers them (0x00020000, +4, ...).
#[derive(Default)]
struct Ndr {
    b: Vec<u8>,
    next_ref: u32,
}

impl Ndr {
    fn align(&mut self, n: usize) {
        self.b.resize(self.b.len().next_multiple_of(n), 0);
    }
    fn u16(&mut self, v: u16) {
        self.align(2);
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.align(4);
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.align(8);
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    fn guid(&mut self, g: [u8; 16]) {
        self.align(4);
        self.b.extend_from_slice(&g);
    }
    /// A non-null unique pointer.
    fn ptr(&mut self) {
        self.u32(0x0002_0000 + 4 * self.next_ref);
        self.next_ref += 1;
    }
    /// MInterfacePointer (MS-DCOM §2.2.14): conformance, ulCntData, the OBJREF bytes.
    fn interface_pointer(&mut self, objref: &[u8]) {
        self.u32(objref.len() as u32);
        self.u32(objref.len() as u32);
        self.b.extend_from_slice(objref);
    }
}

/// One property (or the custom header) in NDR type serialization version 1 (MS-RPCE
/// §2.2.6): common header, private header with the 8-aligned body length, body.
fn serialized(body: Ndr) -> Vec<u8> {
    let mut b = body.b;
    b.resize(b.len().next_multiple_of(8), 0);
    let mut v = vec![0x01, 0x10, 0x08, 0x00, 0xcc, 0xcc, 0xcc, 0xcc];
    v.extend_from_slice(&(b.len() as u32).to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend(b);
    v
}

/// ActivationPropertiesBlob (MS-DCOM §2.2.22): dwSize, reserved, CustomHeader, properties.
fn activation_blob(props: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let n = props.len();
    // With an odd count the header body needs 4 bytes of padding, which Wireshark 4.0 does
    // not skip (it reads the first property 4 bytes early). Windows sends 6 in, 2 out.
    assert!(
        n.is_multiple_of(2),
        "an even number of activation properties"
    );
    // The header's own size is part of it: 16 bytes of headers plus a fixed NDR layout.
    let header_size = 16 + (48 + 4 + 16 * n + 4 + 4 * n).next_multiple_of(8);
    let total = header_size + props.iter().map(|p| p.1.len()).sum::<usize>();
    let mut h = Ndr::default();
    h.u32(total as u32);
    h.u32(header_size as u32);
    h.u32(0); // dwReserved
    h.u32(2); // destCtx: MSHCTX_DIFFERENTMACHINE
    h.u32(n as u32); // cIfs
    h.guid([0; 16]); // classInfoClsid
    h.ptr(); // pclsid
    h.ptr(); // pSizes
    h.u32(0); // pdwReserved: null
    h.u32(n as u32);
    props.iter().for_each(|p| h.guid(com_guid(p.0)));
    h.u32(n as u32);
    props.iter().for_each(|p| h.u32(p.1.len() as u32));
    let header = serialized(h);
    assert_eq!(header.len(), header_size);
    let mut v = Vec::with_capacity(8 + total);
    v.extend_from_slice(&(total as u32).to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend(header);
    props.iter().for_each(|p| v.extend_from_slice(&p.1));
    v
}

/// OBJREF_CUSTOM (MS-DCOM §2.2.18.6) wrapping an activation property blob.
fn objref_custom(iid: u16, clsid: u16, blob: &[u8]) -> Vec<u8> {
    let mut v = b"MEOW".to_vec();
    v.extend_from_slice(&4u32.to_le_bytes()); // OBJREF_CUSTOM
    v.extend_from_slice(&com_guid(iid));
    v.extend_from_slice(&com_guid(clsid));
    v.extend_from_slice(&0u32.to_le_bytes()); // cbExtension
                                              // reserved ("any value"): Windows writes the blob size plus 8.
    v.extend_from_slice(&(blob.len() as u32 + 8).to_le_bytes());
    v.extend_from_slice(blob);
    v
}

/// A security binding of a DUALSTRINGARRAY: authentication service, authorization service
/// 0xffff (MS-DCOM §2.2.19.4 "Reserved"), principal name.
type SecurityBinding = (u16, &'static str);

/// The bindings Windows' SCM answers with: Kerberos with a host principal, then NTLM.
fn security_bindings(principal: &'static str) -> [SecurityBinding; 2] {
    [(0x0010, principal), (0x000a, "")]
}

/// DUALSTRINGARRAY entries (MS-DCOM §2.2.19.1): wNumEntries, wSecurityOffset, then in
/// 16-bit units: each string binding (wTowerId 7 = ncacn_ip_tcp, UTF-16 `host[port]`, NUL),
/// a NUL, each security binding (ids, UTF-16 principal, NUL), a NUL.
fn dual_string_array(bindings: &[&str], security: &[SecurityBinding]) -> Vec<u16> {
    let mut a: Vec<u16> = Vec::new();
    for b in bindings {
        a.push(0x0007);
        a.extend(b.encode_utf16());
        a.push(0);
    }
    a.push(0);
    let security_offset = a.len() as u16;
    for (authn, principal) in security {
        a.extend([*authn, 0xffff]);
        a.extend(principal.encode_utf16());
        a.push(0);
    }
    a.push(0);
    let mut v = vec![a.len() as u16, security_offset];
    v.extend(a);
    v
}

fn u16s(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// What the DCOM server exporting the object answers with.
pub(crate) struct Exporter {
    /// The interface the client asked for and gets a pointer to.
    pub iid: [u8; 16],
    pub oxid: u64,
    /// The OXID resolver's addresses (no port: the resolver listens on 135).
    pub resolver: &'static [&'static str],
    /// The object exporter's string bindings, `host[port]`: the dynamic port to learn.
    pub bindings: &'static [&'static str],
    /// Kerberos principal of the exporter (`host/ps.x.y.com`).
    pub principal: &'static str,
}

/// OBJREF_STANDARD (MS-DCOM §2.2.18.4) for the activated object: STDOBJREF, then the
/// resolver's DUALSTRINGARRAY (hand-marshaled, no NDR conformance).
fn objref_standard(e: &Exporter) -> Vec<u8> {
    let mut v = b"MEOW".to_vec();
    v.extend_from_slice(&1u32.to_le_bytes()); // OBJREF_STANDARD
    v.extend_from_slice(&e.iid);
    v.extend_from_slice(&0u32.to_le_bytes()); // flags
    v.extend_from_slice(&5u32.to_le_bytes()); // cPublicRefs
    v.extend_from_slice(&e.oxid.to_le_bytes());
    v.extend_from_slice(&(e.oxid ^ 0x5a5a).to_le_bytes()); // OID
    v.extend_from_slice(&uuid("0000a01c-0d90-0000-5a6c-8e2d41b7c3f0")); // IPID
    let dsa = dual_string_array(e.resolver, &security_bindings(e.principal));
    v.extend(u16s(&dsa));
    v
}

/// PropsOutInfo (MS-DCOM §2.2.22.2.9): one interface, S_OK, its OBJREF.
fn props_out_info(e: &Exporter) -> Vec<u8> {
    let mut n = Ndr::default();
    n.u32(1); // cIfs
    n.ptr(); // piid
    n.ptr(); // phresults
    n.ptr(); // ppIntfData
    n.u32(1);
    n.guid(e.iid);
    n.u32(1);
    n.u32(0); // S_OK
    n.u32(1);
    n.ptr();
    n.interface_pointer(&objref_standard(e));
    serialized(n)
}

/// ScmReplyInfoData (MS-DCOM §2.2.22.2.8): the remote reply with OXID, the OXID bindings
/// as an NDR conformant DUALSTRINGARRAY (max count = wNumEntries first), IRemUnknown IPID,
/// authentication hint and COM version 5.7.
fn scm_reply_info(e: &Exporter) -> Vec<u8> {
    let mut n = Ndr::default();
    n.u32(0); // pdwReserved: null
    n.ptr(); // remoteReply
    n.u64(e.oxid);
    n.ptr(); // pdsaOxidBindings
    n.guid(uuid("0000b41c-0d90-0000-1f2e-3d4c5b6a7988")); // ipidRemUnknown
    n.u32(4); // authnHint: RPC_C_AUTHN_LEVEL_PKT
    n.u16(5);
    n.u16(7);
    let dsa = dual_string_array(e.bindings, &security_bindings(e.principal));
    n.u32(u32::from(dsa[0])); // conformance = wNumEntries
    dsa.iter().for_each(|w| n.u16(*w));
    serialized(n)
}

/// RemoteCreateInstance response stub: ORPCTHAT, the ActivationPropertiesOut interface
/// pointer (PropsOutInfo + ScmReplyInfo), HRESULT S_OK.
pub(crate) fn create_instance_response(e: &Exporter) -> Vec<u8> {
    let props = [
        (CLSID_PROPS_OUT_INFO, props_out_info(e)),
        (CLSID_SCM_REPLY_INFO, scm_reply_info(e)),
    ];
    let blob = activation_blob(&props);
    let mut n = Ndr::default();
    n.u32(0); // ORPCTHAT.flags
    n.u32(0); // ORPCTHAT.extensions: null
    n.ptr(); // ppActProperties
    n.interface_pointer(&objref_custom(
        IID_ACT_PROPERTIES_OUT,
        CLSID_ACT_PROPERTIES_OUT,
        &blob,
    ));
    n.u32(0); // HRESULT
    n.b
}

/// What the client asks the remote SCM to create.
pub(crate) struct Activation {
    pub clsid: [u8; 16],
    pub iid: [u8; 16],
    /// The server's name as the client wrote it (`PS`).
    pub server: &'static str,
    /// ORPCTHIS causality id.
    pub cid: [u8; 16],
}

/// InstantiationInfoData (MS-DCOM §2.2.22.2.1): class, CLSCTX_LOCAL_SERVER |
/// CLSCTX_REMOTE_SERVER, one interface, COM version 5.7.
fn instantiation_info(a: &Activation) -> Vec<u8> {
    const SIZE: u32 = 88; // this property serialized: 16 + 72
    let mut n = Ndr::default();
    n.guid(a.clsid);
    n.u32(0x14); // classCtx
    n.u32(0); // actvflags
    n.u32(0); // fIsSurrogate
    n.u32(1); // cIID
    n.u32(0); // instFlag
    n.ptr(); // pIID
    n.u32(SIZE); // thisSize
    n.u16(5);
    n.u16(7);
    n.u32(1);
    n.guid(a.iid);
    let v = serialized(n);
    assert_eq!(v.len() as u32, SIZE);
    v
}

/// SecurityInfoData (MS-DCOM §2.2.22.2.7): COSERVERINFO naming the server.
fn security_info(a: &Activation) -> Vec<u8> {
    let name: Vec<u16> = a.server.encode_utf16().chain([0]).collect();
    let mut n = Ndr::default();
    n.u32(0); // dwAuthnFlags
    n.ptr(); // pServerInfo
    n.u32(0); // pdwReserved: null
    n.u32(0); // dwReserved1
    n.ptr(); // pwszName
    n.u32(0); // pdwReserved (COAUTHINFO): null
    n.u32(0); // dwReserved2
    n.u32(name.len() as u32); // max count
    n.u32(0); // offset
    n.u32(name.len() as u32); // actual count
    name.iter().for_each(|c| n.u16(*c));
    serialized(n)
}

/// LocationInfoData (MS-DCOM §2.2.22.2.6): no machine name, process, apartment or context.
fn location_info() -> Vec<u8> {
    let mut n = Ndr::default();
    (0..4).for_each(|_| n.u32(0));
    serialized(n)
}

/// ScmRequestInfoData (MS-DCOM §2.2.22.2.4): impersonation level identify, one protocol
/// sequence, ncacn_ip_tcp.
fn scm_request_info() -> Vec<u8> {
    let mut n = Ndr::default();
    n.u32(0); // pdwReserved: null
    n.ptr(); // remoteRequest
    n.u32(2); // ClientImpLevel: identify
    n.u16(1); // cRequestedProtseqs
    n.ptr(); // pRequestedProtseqs
    n.u32(1);
    n.u16(7);
    serialized(n)
}

/// RemoteCreateInstance request stub: ORPCTHIS (COM 5.7), no outer unknown, the
/// ActivationPropertiesIn interface pointer.
pub(crate) fn create_instance_request(a: &Activation) -> Vec<u8> {
    let props = [
        (CLSID_INSTANTIATION_INFO, instantiation_info(a)),
        (CLSID_SECURITY_INFO, security_info(a)),
        (CLSID_LOCATION_INFO, location_info()),
        (CLSID_SCM_REQUEST_INFO, scm_request_info()),
    ];
    let blob = activation_blob(&props);
    let mut n = Ndr::default();
    n.u16(5); // ORPCTHIS.version
    n.u16(7);
    n.u32(0); // flags
    n.u32(0); // reserved1
    n.guid(a.cid);
    n.u32(0); // extensions: null
    n.u32(0); // pUnkOuter: null
    n.ptr(); // pActProperties
    n.interface_pointer(&objref_custom(
        IID_ACT_PROPERTIES_IN,
        CLSID_ACT_PROPERTIES_IN,
        &blob,
    ));
    n.b
}
