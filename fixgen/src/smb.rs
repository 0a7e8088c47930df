//! SMB2/3 messages, each in its own NetBIOS session service frame (MS-SMB2 §2.1: a zero byte,
//! then the message length as 3 bytes big-endian). Only what a passive reader looks at is
//! meaningful (dialects, session and tree ids, share paths, WRITE lengths); everything else is
//! well-formed enough for Wireshark to dissect the message without complaint.
//!
//! Offsets inside a message (PathOffset, SecurityBufferOffset, NegotiateContextOffset) count
//! from the start of the 64-byte SMB2 header, which is where each builder starts its buffer;
//! the NBSS prefix is added last.

use crate::payload::pattern;

/// The session and tree a message belongs to (header SessionId and TreeId).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ids {
    pub session: u64,
    pub tree: u32,
}

impl Ids {
    /// The ids of the fixtures that show no handshake (their bytes must not change).
    pub const FIXED: Ids = Ids {
        session: 0x4000_0000_0001,
        tree: 1,
    };
    /// Before SESSION_SETUP has assigned a session.
    pub const NONE: Ids = Ids {
        session: 0,
        tree: 0,
    };
    /// The same session, another tree.
    pub fn with_tree(self, tree: u32) -> Ids {
        Ids { tree, ..self }
    }
}

/// SMB2 command codes (MS-SMB2 §2.2.1.2).
const NEGOTIATE: u16 = 0x0000;
const SESSION_SETUP: u16 = 0x0001;
const TREE_CONNECT: u16 = 0x0003;
const WRITE: u16 = 0x0009;

/// Every dialect a Windows 10 / Server 2016+ client offers, oldest first.
const DIALECTS: [u16; 5] = [0x0202, 0x0210, 0x0300, 0x0302, 0x0311];
pub(crate) const DIALECT_311: u16 = 0x0311;

/// TREE_CONNECT request flag SMB2_TREE_CONNECT_FLAG_EXTENSION_PRESENT (MS-SMB2 §2.2.9).
const TREE_CONNECT_EXTENSION_PRESENT: u16 = 0x0004;

/// SMB2 TREE_CONNECT response ShareType (MS-SMB2 §2.2.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShareType {
    Disk = 1,
    Pipe = 2,
}

fn nbss(body: Vec<u8>) -> Vec<u8> {
    let len = body.len() as u32;
    let mut v = Vec::with_capacity(body.len() + 4);
    v.push(0);
    v.extend_from_slice(&len.to_be_bytes()[1..]);
    v.extend(body);
    v
}

/// The 64-byte sync header: status SUCCESS, one credit charged and granted, no signature.
fn header(command: u16, message_id: u64, response: bool, ids: Ids) -> Vec<u8> {
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(b"\xfeSMB");
    h.extend_from_slice(&64u16.to_le_bytes()); // StructureSize
    h.extend_from_slice(&1u16.to_le_bytes()); // CreditCharge
    h.extend_from_slice(&0u32.to_le_bytes()); // Status
    h.extend_from_slice(&command.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // Credits
    h.extend_from_slice(&u32::from(response).to_le_bytes()); // Flags: SERVER_TO_REDIR
    h.extend_from_slice(&0u32.to_le_bytes()); // NextCommand
    h.extend_from_slice(&message_id.to_le_bytes());
    h.extend_from_slice(&0xfeffu32.to_le_bytes()); // Reserved (ProcessId)
    h.extend_from_slice(&ids.tree.to_le_bytes());
    h.extend_from_slice(&ids.session.to_le_bytes());
    h.extend_from_slice(&[0; 16]); // Signature
    h
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Pads `v` with zeros to a multiple of 8 bytes (negotiate contexts are 8-byte aligned).
fn pad8(v: &mut Vec<u8>) {
    v.resize(v.len().next_multiple_of(8), 0);
}

/// SMB2 negotiate contexts (MS-SMB2 §2.2.3.1): preauthentication integrity (SHA-512 with a
/// 32-byte salt) and encryption (the given ciphers; 1 = AES-128-CCM, 2 = AES-128-GCM).
fn negotiate_contexts(v: &mut Vec<u8>, salt_seed: u8, ciphers: &[u16]) {
    let mut preauth = Vec::new();
    preauth.extend_from_slice(&1u16.to_le_bytes()); // HashAlgorithmCount
    preauth.extend_from_slice(&32u16.to_le_bytes()); // SaltLength
    preauth.extend_from_slice(&1u16.to_le_bytes()); // SHA-512
    preauth.extend(pattern(32, salt_seed));
    let mut cipher = (ciphers.len() as u16).to_le_bytes().to_vec();
    cipher.extend(ciphers.iter().flat_map(|c| c.to_le_bytes()));
    for (i, (kind, data)) in [(1u16, preauth), (2, cipher)].into_iter().enumerate() {
        if i > 0 {
            pad8(v);
        }
        v.extend_from_slice(&kind.to_le_bytes());
        v.extend_from_slice(&(data.len() as u16).to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend(data);
    }
}

/// NEGOTIATE request offering 2.0.2 to 3.1.1 (MS-SMB2 §2.2.3), with the 3.1.1 contexts.
pub(crate) fn negotiate_request(message_id: u64, client_guid: [u8; 16]) -> Vec<u8> {
    let mut v = header(NEGOTIATE, message_id, false, Ids::NONE);
    v.extend_from_slice(&36u16.to_le_bytes()); // StructureSize
    v.extend_from_slice(&(DIALECTS.len() as u16).to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes()); // SecurityMode: signing enabled
    v.extend_from_slice(&0u16.to_le_bytes());
    v.extend_from_slice(&0x7fu32.to_le_bytes()); // Capabilities: DFS .. ENCRYPTION
    v.extend_from_slice(&client_guid);
    let ctx_at = (v.len() + 8 + 2 * DIALECTS.len()).next_multiple_of(8);
    v.extend_from_slice(&(ctx_at as u32).to_le_bytes()); // NegotiateContextOffset
    v.extend_from_slice(&2u16.to_le_bytes()); // NegotiateContextCount
    v.extend_from_slice(&0u16.to_le_bytes());
    v.extend(DIALECTS.iter().flat_map(|d| d.to_le_bytes()));
    pad8(&mut v);
    negotiate_contexts(&mut v, 0x31, &[2, 1]);
    nbss(v)
}

/// NEGOTIATE response choosing `dialect` (MS-SMB2 §2.2.4): StructureSize 65, an empty
/// security buffer, and for 3.1.1 the chosen preauthentication hash and cipher.
pub(crate) fn negotiate_response(message_id: u64, dialect: u16, server_guid: [u8; 16]) -> Vec<u8> {
    /// 2023-11-14T22:13:20Z as a FILETIME (100 ns units since 1601).
    const SYSTEM_TIME: u64 = (1_700_000_000 + 11_644_473_600) * 10_000_000;
    let v311 = dialect == DIALECT_311;
    let mut v = header(NEGOTIATE, message_id, true, Ids::NONE);
    v.extend_from_slice(&65u16.to_le_bytes()); // StructureSize
    v.extend_from_slice(&1u16.to_le_bytes()); // SecurityMode: signing enabled
    v.extend_from_slice(&dialect.to_le_bytes());
    v.extend_from_slice(&(if v311 { 2u16 } else { 0 }).to_le_bytes());
    v.extend_from_slice(&server_guid);
    v.extend_from_slice(&0x2fu32.to_le_bytes()); // DFS LEASING LARGE_MTU MULTI_CHANNEL DIR_LEASING
    for _ in 0..3 {
        v.extend_from_slice(&0x0080_0000u32.to_le_bytes()); // MaxTransact/Read/WriteSize
    }
    v.extend_from_slice(&SYSTEM_TIME.to_le_bytes());
    v.extend_from_slice(&0u64.to_le_bytes()); // ServerStartTime
    v.extend_from_slice(&128u16.to_le_bytes()); // SecurityBufferOffset: right after this
    v.extend_from_slice(&0u16.to_le_bytes()); // SecurityBufferLength
    v.extend_from_slice(&(if v311 { 128u32 } else { 0 }).to_le_bytes());
    if v311 {
        negotiate_contexts(&mut v, 0x53, &[2]);
    }
    nbss(v)
}

/// Who authenticates in SESSION_SETUP.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Account {
    pub domain: &'static str,
    pub user: &'static str,
    pub workstation: &'static str,
}

/// A raw NTLMSSP AUTHENTICATE message (MS-NLMP §2.2.1.3) naming `domain\user` from
/// `workstation`, with empty challenge responses: enough for a dissector to show who.
fn ntlm_authenticate(who: Account) -> Vec<u8> {
    const FIXED: usize = 64;
    let fields = [
        Vec::new(),
        Vec::new(),
        utf16(who.domain),
        utf16(who.user),
        utf16(who.workstation),
    ];
    let mut v = b"NTLMSSP\0".to_vec();
    v.extend_from_slice(&3u32.to_le_bytes()); // MessageType: AUTHENTICATE
    let mut at = FIXED;
    for f in fields.iter().chain([&Vec::new()]) {
        v.extend_from_slice(&(f.len() as u16).to_le_bytes()); // Len
        v.extend_from_slice(&(f.len() as u16).to_le_bytes()); // MaxLen
        v.extend_from_slice(&(at as u32).to_le_bytes()); // BufferOffset
        at += f.len();
    }
    // NegotiateFlags: 56, 128, EXTENDED_SESSIONSECURITY, ALWAYS_SIGN, NTLM, REQUEST_TARGET,
    // UNICODE; not VERSION, so no Version field follows.
    v.extend_from_slice(&0xa008_8205u32.to_le_bytes());
    debug_assert_eq!(v.len(), FIXED);
    v.extend(fields.concat());
    v
}

/// SESSION_SETUP request (MS-SMB2 §2.2.5) carrying an NTLMSSP AUTHENTICATE for `who`.
pub(crate) fn session_setup_request(message_id: u64, who: Account) -> Vec<u8> {
    let blob = ntlm_authenticate(who);
    let mut v = header(SESSION_SETUP, message_id, false, Ids::NONE);
    v.extend_from_slice(&25u16.to_le_bytes()); // StructureSize
    v.push(0); // Flags
    v.push(1); // SecurityMode: signing enabled
    v.extend_from_slice(&1u32.to_le_bytes()); // Capabilities: DFS
    v.extend_from_slice(&0u32.to_le_bytes()); // Channel
    v.extend_from_slice(&88u16.to_le_bytes()); // SecurityBufferOffset: 64 + 24
    v.extend_from_slice(&(blob.len() as u16).to_le_bytes());
    v.extend_from_slice(&0u64.to_le_bytes()); // PreviousSessionId
    v.extend(blob);
    nbss(v)
}

/// SESSION_SETUP response (MS-SMB2 §2.2.6), status SUCCESS: the header assigns `session`.
pub(crate) fn session_setup_response(message_id: u64, session: u64) -> Vec<u8> {
    let ids = Ids { session, tree: 0 };
    let mut v = header(SESSION_SETUP, message_id, true, ids);
    v.extend_from_slice(&9u16.to_le_bytes()); // StructureSize
    v.extend_from_slice(&0u16.to_le_bytes()); // SessionFlags
    v.extend_from_slice(&72u16.to_le_bytes()); // SecurityBufferOffset: 64 + 8
    v.extend_from_slice(&0u16.to_le_bytes()); // SecurityBufferLength
    nbss(v)
}

/// TREE_CONNECT request for `path` (`\\server\share`, sent as UTF-16LE) in `session`
/// (MS-SMB2 §2.2.9). Plain: the path starts right after the fixed part, PathOffset 0x48.
/// With `extension` (3.1.1 only): flag EXTENSION_PRESENT and a TREE_CONNECT request
/// extension (§2.2.9.1, no contexts) in front of the path, so PathOffset is 0x58.
pub(crate) fn tree_connect_request(
    message_id: u64,
    session: u64,
    path: &str,
    extension: bool,
) -> Vec<u8> {
    let name = utf16(path);
    let mut v = header(TREE_CONNECT, message_id, false, Ids { session, tree: 0 });
    v.extend_from_slice(&9u16.to_le_bytes()); // StructureSize
    let (flags, ext_len) = if extension {
        (TREE_CONNECT_EXTENSION_PRESENT, 16u16)
    } else {
        (0, 0)
    };
    v.extend_from_slice(&flags.to_le_bytes());
    v.extend_from_slice(&(0x48 + ext_len).to_le_bytes()); // PathOffset
    v.extend_from_slice(&(name.len() as u16).to_le_bytes()); // PathLength
    if extension {
        v.extend_from_slice(&0u32.to_le_bytes()); // TreeConnectContextOffset: none
        v.extend_from_slice(&0u16.to_le_bytes()); // TreeConnectContextCount
        v.extend_from_slice(&[0; 10]); // Reserved
    }
    v.extend(name);
    nbss(v)
}

/// TREE_CONNECT response (MS-SMB2 §2.2.10): the header assigns `ids.tree`.
pub(crate) fn tree_connect_response(message_id: u64, ids: Ids, share: ShareType) -> Vec<u8> {
    let mut v = header(TREE_CONNECT, message_id, true, ids);
    v.extend_from_slice(&16u16.to_le_bytes()); // StructureSize
    v.push(share as u8);
    v.push(0);
    let share_flags: u32 = match share {
        ShareType::Disk => 0x0000_0000, // manual caching
        ShareType::Pipe => 0x0000_0030, // no caching
    };
    v.extend_from_slice(&share_flags.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes()); // Capabilities
    v.extend_from_slice(&0x001f_01ffu32.to_le_bytes()); // MaximalAccess: full control
    nbss(v)
}

/// SMB2 header flags (MS-SMB2 §2.2.1.2): SERVER_TO_REDIR, ASYNC_COMMAND.
const FLAGS_RESPONSE: u32 = 0x1;
const FLAGS_ASYNC: u32 = 0x2;
/// STATUS_PENDING (MS-ERREF 2.3.1), the status of an interim response.
const STATUS_PENDING: u32 = 0x0000_0103;

/// The 64-byte async header of a response (MS-SMB2 §2.2.1.1): SERVER_TO_REDIR and
/// ASYNC_COMMAND set, and the 8-byte AsyncId at offset 32, where the sync header
/// (§2.2.1.2) has ProcessId and TreeId: an async response names no tree.
fn async_header(command: u16, message_id: u64, status: u32, async_id: u64, ids: Ids) -> Vec<u8> {
    let mut h = header(command, message_id, true, ids);
    h[8..12].copy_from_slice(&status.to_le_bytes());
    // §3.3.4.2 grants credits in the interim response; §3.3.4.3 sets the final one's to 0.
    let credits = u16::from(status == STATUS_PENDING);
    h[14..16].copy_from_slice(&credits.to_le_bytes());
    h[16..20].copy_from_slice(&(FLAGS_RESPONSE | FLAGS_ASYNC).to_le_bytes());
    h[32..40].copy_from_slice(&async_id.to_le_bytes());
    h
}

/// The interim response to a request the server processes asynchronously (MS-SMB2
/// §3.3.4.2): status STATUS_PENDING, the async header with `async_id`, and an SMB2 ERROR
/// Response (§2.2.2: StructureSize 9, no error contexts, ByteCount 0, so one ErrorData byte).
pub(crate) fn interim_response(
    command: u16,
    message_id: u64,
    session: u64,
    async_id: u64,
) -> Vec<u8> {
    let ids = Ids { session, tree: 0 };
    let mut v = async_header(command, message_id, STATUS_PENDING, async_id, ids);
    v.extend_from_slice(&9u16.to_le_bytes()); // StructureSize
    v.push(0); // ErrorContextCount
    v.push(0); // Reserved
    v.extend_from_slice(&0u32.to_le_bytes()); // ByteCount
    v.push(0); // ErrorData
    nbss(v)
}

/// The final TREE_CONNECT response to a request that went async (MS-SMB2 §3.3.4.3): status
/// SUCCESS in the async header with `async_id`, so no TreeId is on the wire; the body as
/// [`tree_connect_response`]'s.
pub(crate) fn tree_connect_response_async(
    message_id: u64,
    session: u64,
    async_id: u64,
    share: ShareType,
) -> Vec<u8> {
    let ids = Ids { session, tree: 0 };
    let sync = tree_connect_response(message_id, ids, share);
    let mut v = async_header(TREE_CONNECT, message_id, 0, async_id, ids);
    v.extend_from_slice(sync.get(4 + 64..).unwrap_or_default());
    nbss(v)
}

/// WRITE request carrying `data_len` bytes at `offset` in tree `ids` (MS-SMB2 §2.2.21).
pub(crate) fn write(ids: Ids, message_id: u64, offset: u64, data_len: usize) -> Vec<u8> {
    let mut v = header(WRITE, message_id, false, ids);
    v.extend_from_slice(&49u16.to_le_bytes()); // StructureSize
    v.extend_from_slice(&(64u16 + 48).to_le_bytes()); // DataOffset
    v.extend_from_slice(&(data_len as u32).to_le_bytes());
    v.extend_from_slice(&offset.to_le_bytes());
    v.extend_from_slice(&[0x11; 16]); // FileId
    v.extend_from_slice(&[0; 4 + 4 + 2 + 2 + 4]); // Channel, Remaining, WCI offset/len, Flags
    v.extend(pattern(data_len, message_id as u8));
    nbss(v)
}

/// WRITE response acknowledging `count` bytes (MS-SMB2 §2.2.22).
pub(crate) fn write_response(ids: Ids, message_id: u64, count: usize) -> Vec<u8> {
    let mut v = header(WRITE, message_id, true, ids);
    v.extend_from_slice(&17u16.to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes());
    v.extend_from_slice(&(count as u32).to_le_bytes());
    v.extend_from_slice(&[0; 4 + 2 + 2 + 1]);
    nbss(v)
}

/// An encrypted message of `session` (MS-SMB2 §2.2.41): the 52-byte transform header
/// (Flags 1: encrypted), then `len` opaque bytes standing for the ciphertext.
pub(crate) fn transform(session: u64, len: usize, seed: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(52 + len);
    v.extend_from_slice(b"\xfdSMB");
    v.extend(pattern(16, seed)); // Signature
    v.extend(pattern(16, seed ^ 0x5a)); // Nonce
    v.extend_from_slice(&(len as u32).to_le_bytes()); // OriginalMessageSize
    v.extend_from_slice(&0u16.to_le_bytes()); // Reserved
    v.extend_from_slice(&1u16.to_le_bytes()); // Flags: encrypted
    v.extend_from_slice(&session.to_le_bytes());
    v.extend(pattern(len, seed));
    nbss(v)
}

/// WRITE request of the fixtures that show no handshake (CSV redirected I/O).
pub(crate) fn smb2_write(message_id: u64, offset: u64, data_len: usize) -> Vec<u8> {
    write(Ids::FIXED, message_id, offset, data_len)
}

/// WRITE response of the fixtures that show no handshake.
pub(crate) fn smb2_write_response(message_id: u64, count: usize) -> Vec<u8> {
    write_response(Ids::FIXED, message_id, count)
}
