//! SMB1/SMB2/SMB3 dissector: passive, per flow, bounded.
//!
//! Each direction is cut into NetBIOS session messages by a [`Framer`]
//! (RFC 1002 §4.3; MS-SMB2 §2.1 for direct TCP on 445) that keeps the first
//! [`KEEP`] bytes of each. A session message holds one SMB2 message or a
//! compound chain (MS-SMB2 §2.2.1), a transform header (§2.2.41), a
//! compression transform (§2.2.42, skipped) or one SMB1 message with its
//! AndX chain (MS-CIFS §2.2.3). What it proves: the negotiated dialect,
//! session ids, tree-connect paths, and which sessions sign or encrypt.
//!
//! **Invariant:** state per flow is bounded (two record prefixes, a table
//! of [`MAX_SEEN`] session facts, [`MAX_DIALECTS`] SMB1 dialect names); a
//! field that lies outside the kept prefix is simply not reported.

use super::framer::{Framer, Header};
use super::{Dialect, Dir, Dissector, Fact, GiveUp, Start, Uuid};

/// Bytes kept of each session message; larger messages are skipped past.
const KEEP: usize = 4096;
/// Session facts remembered per flow (oldest forgotten first).
const MAX_SEEN: usize = 64;
/// SMB1 negotiate dialect names remembered, and their longest length.
const MAX_DIALECTS: usize = 16;
const MAX_DIALECT_LEN: usize = 32;
/// Most messages followed in one SMB2 compound or SMB1 AndX chain.
const MAX_CHAIN: usize = 32;

const BAD_FRAMING: GiveUp = GiveUp("not SMB: bad NetBIOS session header");

const SMB1: &[u8; 4] = b"\xffSMB";
const SMB2: &[u8; 4] = b"\xfeSMB";
const TRANSFORM: &[u8; 4] = b"\xfdSMB";
const COMPRESSION: &[u8; 4] = b"\xfcSMB";

/// SMB2 header flags (MS-SMB2 §2.2.1.2).
const FLAG_RESPONSE: u32 = 0x1;
const FLAG_ASYNC: u32 = 0x2;
const FLAG_RELATED: u32 = 0x4;
const FLAG_SIGNED: u32 = 0x8;
/// SMB2 commands (MS-SMB2 §2.2.1.2).
const NEGOTIATE: u16 = 0;
const SESSION_SETUP: u16 = 1;
const TREE_CONNECT: u16 = 3;
/// The commands that work inside a tree (CREATE to SET_INFO, MS-SMB2
/// §2.2.1.2), but not CANCEL (12) and ECHO (13), which name no tree's use:
/// a connection's class follows the trees these are sent to.
const TREE_DATA: std::ops::RangeInclusive<u16> = 5..=17;
const CANCEL: u16 = 12;
const ECHO: u16 = 13;
/// Trees remembered per flow (TreeId → path), and tree connects awaiting
/// their response (MessageId → path).
const MAX_TREES: usize = 16;
const MAX_PENDING_TREES: usize = 8;
/// The give-up of a TREE_CONNECT request whose path the snaplen cut: the
/// share, which decides the class, is lost (counted in `evidence_gave_up`).
pub const TREE_PATH_CUT: &str = "tree connect path cut by the snaplen";
const STATUS_MORE_PROCESSING_REQUIRED: u32 = 0xC000_0016;
/// The status of an interim response (MS-SMB2 §3.3.4.2): the request was
/// received and its final response, with the same MessageId, comes later.
const STATUS_PENDING: u32 = 0x0000_0103;
/// SMB2 TREE_CONNECT request flag (MS-SMB2 §2.2.9).
const TREE_CONNECT_EXTENSION_PRESENT: u16 = 0x4;

/// SMB1 commands (MS-CIFS §2.2.2.1) and the AndX ones that may chain.
const SMB1_NEGOTIATE: u8 = 0x72;
const SMB1_TREE_CONNECT_ANDX: u8 = 0x75;
const SMB1_ANDX: [u8; 8] = [0x24, 0x2d, 0x2e, 0x2f, 0x73, 0x74, 0x75, 0xa2];
/// SMB1 header: Flags reply bit, Flags2 Unicode bit (MS-CIFS §2.2.3.1).
const SMB1_REPLY: u8 = 0x80;
const SMB1_UNICODE: u16 = 0x8000;
const SMB1_HEADER_LEN: usize = 32;

/// SMB over NetBIOS session service (TCP 139) or direct TCP (445).
#[derive(Debug)]
pub struct Smb {
    framers: [Framer; 2],
    state: State,
    /// Segments seen per direction while looking for a record boundary.
    unsynced: [u16; 2],
}

/// Segments per direction a mid-way stream may take to show a record
/// boundary. SMB answers are small, so the server's direction of a real
/// SMB conversation resynchronises at once; a stream where neither
/// direction does within this many segments is not SMB.
const RESYNC_SEGMENTS: u16 = 32;

impl Smb {
    /// A dissector for a flow whose directions (to server, to client) start as given.
    pub fn new(start: [Start; 2]) -> Self {
        let [to_server, to_client] = start;
        Smb {
            framers: [Framer::new(to_server, KEEP), Framer::new(to_client, KEEP)],
            state: State::default(),
            unsynced: [0; 2],
        }
    }
}

impl Dissector for Smb {
    fn feed(
        &mut self,
        dir: Dir,
        data: &[u8],
        segment_start: bool,
        out: &mut Vec<Fact>,
    ) -> Result<(), GiveUp> {
        let Smb {
            framers,
            state,
            unsynced,
        } = self;
        let framer = &mut framers[dir.index()];
        let resync = !framer.synced();
        if resync && segment_start {
            let n = &mut unsynced[dir.index()];
            *n = n.saturating_add(1);
            if unsynced.iter().all(|n| *n > RESYNC_SEGMENTS) {
                return Err(GiveUp(
                    "not SMB: no record boundary in either direction (joined mid-way)",
                ));
            }
        }
        // Joined mid-way: only a segment that starts with a session
        // message or NetBIOS control record can resynchronise.
        if resync && (!segment_start || !matches!(data.first(), Some(0x00 | 0x81..=0x85))) {
            return Ok(());
        }
        framer.feed(
            data,
            segment_start,
            |b| session_header(b, resync),
            |record, len| state.record(record, len, out),
            BAD_FRAMING,
        )
    }

    fn gap(&mut self, dir: Dir, missing: usize, out: &mut Vec<Fact>) -> Result<(), GiveUp> {
        let Smb { framers, state, .. } = self;
        framers[dir.index()].skip(
            missing,
            |record, len| state.record(record, len, out),
            GiveUp(super::SNAPLEN_CUT),
        )
    }
}

/// Reads a NetBIOS session service header (RFC 1002 §4.3.1): a type byte
/// and a 3-byte big-endian length (MS-SMB2 §2.1 reads the same 24 bits on
/// 445). A session message (type 0) must carry an SMB protocol id; the
/// other types must have their RFC 1002 lengths. When `resync` (joining a
/// stream mid-way) an empty session message does not count as a header.
fn session_header(b: &[u8], resync: bool) -> Header {
    let [kind, l0, l1, l2, rest @ ..] = b else {
        return Header::NeedMore;
    };
    let body = usize::from(*l0) << 16 | usize::from(*l1) << 8 | usize::from(*l2);
    let ok = match (*kind, body) {
        (0x00, 0) => !resync,
        (0x00, 1..=3) => false,
        (0x00, _) => match rest.get(..4) {
            None => return Header::NeedMore,
            Some(id) => [SMB1, SMB2, TRANSFORM, COMPRESSION]
                .iter()
                .any(|m| id == *m),
        },
        // Session request (two encoded NetBIOS names), positive response,
        // negative response (error code), retarget (IP + port), keepalive.
        (0x81, 1..) | (0x82, 0) | (0x83, 1) | (0x84, 6) | (0x85, 0) => true,
        _ => false,
    };
    if !ok {
        return Header::Bad;
    }
    match smb2_bulk(rest, body) {
        None => Header::NeedMore,
        Some(true) => Header::LenKeep(body + 4, 4 + 64),
        Some(false) => Header::Len(body + 4),
    }
}

/// Whether a session message is one lone SMB2 message whose command this
/// dissector does not read (READ, WRITE, IOCTL…): then only its 64-byte
/// header (signing, session) matters and the rest is skipped unkept.
/// `None` until the header's command and NextCommand are in.
fn smb2_bulk(rest: &[u8], body: usize) -> Option<bool> {
    if rest.get(..4) != Some(&SMB2[..]) || body < 64 {
        return Some(false);
    }
    let command = u16::from_le_bytes([*rest.get(12)?, *rest.get(13)?]);
    let next = rest.get(20..24)?;
    let read = matches!(command, NEGOTIATE | SESSION_SETUP | TREE_CONNECT);
    Some(!read && next == [0; 4])
}

/// What a flow has told so far.
#[derive(Debug, Default)]
struct State {
    /// Facts already reported: (fact kind, session id, tree id), FIFO.
    seen: Vec<(u8, u64, u32)>,
    /// Where the next entry of `seen` goes once it is full.
    seen_next: usize,
    /// The dialect names of the last SMB1 NEGOTIATE request (`None` for
    /// one too long to keep, so that indices still line up).
    smb1_dialects: Vec<Option<String>>,
    /// TREE_CONNECT requests awaiting their response: (MessageId, path).
    asked: Vec<(u64, Box<str>)>,
    /// Trees the server granted on this connection: (session, tree, path),
    /// oldest forgotten first.
    trees: Vec<(u64, u32, Box<str>)>,
    /// Paths granted by a final response in the async header form, which
    /// has no TreeId (MS-SMB2 §2.2.1.1): (session, path), until data of
    /// the session uses a tree no response named.
    unnamed: Vec<(u64, Box<str>)>,
}

/// Kinds of once-per-session facts, for [`State::first`].
const SEEN_SESSION: u8 = 0;
const SEEN_ENCRYPTED: u8 = 1;
const SEEN_SIGNED: u8 = 2;
const SEEN_TREE_USE: u8 = 3;

impl State {
    /// True the first time (`kind`, `session_id`, `tree_id`) is seen on this
    /// flow. The table is capped; past [`MAX_SEEN`] entries the oldest is
    /// forgotten (and could be reported again) rather than memory growing.
    fn first(&mut self, kind: u8, session_id: u64, tree_id: u32) -> bool {
        let key = (kind, session_id, tree_id);
        if self.seen.contains(&key) {
            return false;
        }
        if self.seen.len() < MAX_SEEN {
            self.seen.push(key);
        } else if let Some(slot) = self.seen.get_mut(self.seen_next) {
            *slot = key;
            self.seen_next = (self.seen_next + 1) % MAX_SEEN;
        }
        true
    }

    /// One session message's kept prefix (NetBIOS header included) of a
    /// message `len` bytes long. A prefix shorter than what was to be kept
    /// was cut by the snaplen: it is read for what it holds, and a
    /// TREE_CONNECT whose path it lost gives up ([`TREE_PATH_CUT`]).
    fn record(&mut self, record: &[u8], len: usize, out: &mut Vec<Fact>) -> Result<(), GiveUp> {
        // Only session messages (type 0) carry SMB.
        let Some((0, rest)) = record.split_first() else {
            return Ok(());
        };
        let cut = record.len() < len.min(KEEP);
        let msg = rest.get(3..).unwrap_or_default();
        match msg.get(..4) {
            Some(id) if id == SMB2 => self.smb2_chain(msg, cut, out),
            Some(id) if id == TRANSFORM => {
                self.transform(msg, out);
                Ok(())
            }
            Some(id) if id == SMB1 => self.smb1(msg, cut, out),
            // A compression transform hides its message: nothing to learn.
            _ => Ok(()),
        }
    }

    /// A transform header (MS-SMB2 §2.2.41): 52 bytes, SessionId at 44;
    /// the encrypted message after it is opaque.
    fn transform(&mut self, msg: &[u8], out: &mut Vec<Fact>) {
        if let Some(session_id) = u64_at(msg, 44).filter(|&s| s != 0) {
            if self.first(SEEN_ENCRYPTED, session_id, 0) {
                out.push(Fact::SmbEncrypted { session_id });
            }
        }
    }

    /// SMB2 messages chained by NextCommand (MS-SMB2 §3.2.4.1.4): each
    /// offset is from the start of the previous header. A related message
    /// may carry SessionId 0xFFFF… and TreeId 0xFFFFFFFF for "the previous
    /// one's".
    fn smb2_chain(&mut self, msg: &[u8], cut: bool, out: &mut Vec<Fact>) -> Result<(), GiveUp> {
        let (mut at, mut previous) = (0usize, (0u64, 0u32));
        for _ in 0..MAX_CHAIN {
            let Some(m) = msg.get(at..) else {
                return Ok(());
            };
            let Some(mut h) = Smb2Header::parse(m, cut) else {
                return Ok(());
            };
            if h.flags & FLAG_RELATED != 0 {
                if h.session_id == u64::MAX {
                    h.session_id = previous.0;
                }
                if h.tree_id == u32::MAX {
                    h.tree_id = previous.1;
                }
            }
            let next = usize::try_from(h.next).unwrap_or(usize::MAX);
            let m = if next == 0 {
                m
            } else {
                m.get(..next).unwrap_or(m)
            };
            self.smb2(&h, m, cut, out)?;
            if next < 64 {
                return Ok(());
            }
            previous = (h.session_id, h.tree_id);
            at = at.saturating_add(next);
        }
        Ok(())
    }

    /// One SMB2 message (`m` starts at its header).
    fn smb2(
        &mut self,
        h: &Smb2Header,
        m: &[u8],
        cut: bool,
        out: &mut Vec<Fact>,
    ) -> Result<(), GiveUp> {
        let response = h.flags & FLAG_RESPONSE != 0;
        let session_id = h.session_id;
        match (h.command, response) {
            // NEGOTIATE response (MS-SMB2 §2.2.4): StructureSize 65,
            // DialectRevision at body offset 4. An error response has 9.
            // ServerGuid at body offset 8 (a zero one names no server).
            (NEGOTIATE, true) if u16_at(m, 64) == Some(65) => {
                if let Some(code) = u16_at(m, 68) {
                    out.push(Fact::SmbDialect(Dialect::Smb2(code)));
                }
                let guid = m.get(72..88).and_then(|g| <[u8; 16]>::try_from(g).ok());
                if let Some(g) = guid.map(Uuid::from_bytes_le).filter(|g| !g.is_nil()) {
                    out.push(Fact::SmbServer { guid: g });
                }
            }
            // SESSION_SETUP response (MS-SMB2 §2.2.6): the session id is
            // the server's from the first (MORE_PROCESSING) answer on.
            (SESSION_SETUP, true) => {
                let ok = matches!(h.status, 0 | STATUS_MORE_PROCESSING_REQUIRED);
                if ok && session_id != 0 && self.first(SEEN_SESSION, session_id, 0) {
                    out.push(Fact::SmbSession { session_id });
                }
            }
            (TREE_CONNECT, false) => self.tree_connect(h, m, cut, out)?,
            (TREE_CONNECT, true) => self.tree_granted(h, out),
            (CANCEL | ECHO, false) => {}
            (c, false) if TREE_DATA.contains(&c) => self.tree_use(h, out),
            _ => {}
        }
        let sessionless = session_id == 0 || session_id == u64::MAX;
        if h.flags & FLAG_SIGNED != 0 && !sessionless && self.first(SEEN_SIGNED, session_id, 0) {
            out.push(Fact::SmbSigned { session_id });
        }
        Ok(())
    }

    /// A TREE_CONNECT request: its path, remembered until the response
    /// names the tree. A path the snaplen cut is reported as far as it was
    /// captured, and ends the reading of the flow: the share is lost.
    fn tree_connect(
        &mut self,
        h: &Smb2Header,
        m: &[u8],
        cut: bool,
        out: &mut Vec<Fact>,
    ) -> Result<(), GiveUp> {
        let session_id = h.session_id;
        match smb2_tree_path(m) {
            TreePath::Whole(path) => {
                if self.asked.len() >= MAX_PENDING_TREES {
                    self.asked.remove(0);
                }
                self.asked.push((h.message_id, path.as_str().into()));
                out.push(Fact::SmbTreeConnect { path, session_id });
            }
            TreePath::Part(path) if cut => {
                out.push(Fact::SmbTreeConnectCut { path, session_id });
                return Err(GiveUp(TREE_PATH_CUT));
            }
            TreePath::Part(_) | TreePath::Malformed => {}
        }
        Ok(())
    }

    /// A TREE_CONNECT response: a successful one grants its request's
    /// path (matched by MessageId) the TreeId of its header. An interim
    /// response (STATUS_PENDING, async header: MS-SMB2 §3.3.4.2) grants
    /// nothing and leaves the request waiting for its final response. A
    /// final response in the async form (§3.3.4.3: the request went
    /// async) has an AsyncId where the sync header has ProcessId and
    /// TreeId (§2.2.1.1): its tree is named by the first data of the
    /// session on a tree no response named ([`State::tree_path`]).
    fn tree_granted(&mut self, h: &Smb2Header, out: &mut Vec<Fact>) {
        if h.status == STATUS_PENDING {
            return;
        }
        let Some(i) = self.asked.iter().position(|(mid, _)| *mid == h.message_id) else {
            return;
        };
        let (_, path) = self.asked.remove(i);
        if h.status != 0 {
            return;
        }
        if h.flags & FLAG_ASYNC != 0 {
            if self.unnamed.len() >= MAX_PENDING_TREES {
                self.unnamed.remove(0);
            }
            self.unnamed.push((h.session_id, path));
        } else if h.tree_id != 0 {
            self.grant(h.session_id, h.tree_id, path, out);
        }
    }

    /// Tree `tree_id` of `session_id` is `path` on this connection, and
    /// for later connections of the session ([`Fact::SmbTree`]).
    fn grant(&mut self, session_id: u64, tree_id: u32, path: Box<str>, out: &mut Vec<Fact>) {
        if self.trees.len() >= MAX_TREES {
            self.trees.remove(0);
        }
        self.trees.push((session_id, tree_id, path.clone()));
        out.push(Fact::SmbTree {
            session_id,
            tree_id,
            path: path.into(),
        });
    }

    /// A request working inside a tree (READ, WRITE, IOCTL…): the first of
    /// each (session, tree) on this flow is reported, with the tree's path
    /// when this connection's tree connect named it.
    fn tree_use(&mut self, h: &Smb2Header, out: &mut Vec<Fact>) {
        let (session_id, tree_id) = (h.session_id, h.tree_id);
        let unnamed = tree_id == 0 || tree_id == u32::MAX || session_id == 0;
        if h.flags & FLAG_ASYNC != 0 || unnamed || !self.first(SEEN_TREE_USE, session_id, tree_id) {
            return;
        }
        let path = self
            .tree_path(session_id, tree_id, out)
            .or_else(|| self.only_unanswered());
        out.push(Fact::SmbTreeUse {
            session_id,
            tree_id,
            path,
        });
    }

    /// The path of a tree of this connection: granted by a response, or
    /// else the one path of the session an async final response granted
    /// without naming its tree. A client uses only TreeIds a response
    /// gave it, so a tree of the session that no response here named,
    /// used while exactly one such grant waits, is that grant's (with two
    /// waiting, which is which is unknown). The tree is then granted as
    /// if its response had named it.
    fn tree_path(&mut self, session_id: u64, tree_id: u32, out: &mut Vec<Fact>) -> Option<String> {
        let mut granted = self.trees.iter().rev();
        if let Some((_, _, p)) = granted.find(|(s, t, _)| (*s, *t) == (session_id, tree_id)) {
            return Some(p.to_string());
        }
        let of_session = self.unnamed.iter().enumerate();
        let mut waiting = of_session
            .filter(|(_, (s, _))| *s == session_id)
            .map(|(i, _)| i);
        let (Some(i), None) = (waiting.next(), waiting.next()) else {
            return None;
        };
        let (_, path) = self.unnamed.remove(i);
        self.grant(session_id, tree_id, path.clone(), out);
        Some(path.into())
    }

    /// The path of this connection's one tree connect, when no response
    /// granted any tree here and it is the only one asked: a capture of
    /// the client's direction only (a SPAN of one direction, asymmetric
    /// routing) never shows the TreeId, and the data that follows can only
    /// be in that tree.
    fn only_unanswered(&self) -> Option<String> {
        match (self.trees.is_empty(), self.asked.as_slice()) {
            (true, [(_, path)]) => Some(path.to_string()),
            _ => None,
        }
    }

    /// One SMB1 message with its AndX chain (`m` starts at its header). A
    /// TREE_CONNECT_ANDX whose path the snaplen cut gives up, as SMB2's.
    fn smb1(&mut self, m: &[u8], cut: bool, out: &mut Vec<Fact>) -> Result<(), GiveUp> {
        let (Some(&command), Some(&flags), Some(flags2), Some(uid)) =
            (m.get(4), m.get(9), u16_at(m, 10), u16_at(m, 28))
        else {
            return Ok(());
        };
        let reply = flags & SMB1_REPLY != 0;
        match (command, reply) {
            (SMB1_NEGOTIATE, false) => self.smb1_dialects = smb1_dialects(m),
            // MS-CIFS §2.2.4.52.2: DialectIndex is the first parameter
            // word, an index into the request's list (0xFFFF: none).
            (SMB1_NEGOTIATE, true) if m.get(SMB1_HEADER_LEN) >= Some(&1) => {
                let index = u16_at(m, SMB1_HEADER_LEN + 1).map(usize::from);
                if let Some(Some(name)) = index.and_then(|i| self.smb1_dialects.get(i)) {
                    out.push(Fact::SmbDialect(Dialect::Smb1(name.clone())));
                }
            }
            (_, false) => {
                let unicode = flags2 & SMB1_UNICODE != 0;
                let session_id = u64::from(uid);
                match smb1_tree_path(m, command, unicode) {
                    Some(TreePath::Whole(path)) => {
                        out.push(Fact::SmbTreeConnect { path, session_id });
                    }
                    Some(TreePath::Part(path)) if cut => {
                        out.push(Fact::SmbTreeConnectCut { path, session_id });
                        return Err(GiveUp(TREE_PATH_CUT));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The fields of a 64-byte SMB2 header (MS-SMB2 §2.2.1) that matter here.
struct Smb2Header {
    command: u16,
    status: u32,
    flags: u32,
    next: u32,
    message_id: u64,
    /// TreeId (sync header; an async one has none: 0).
    tree_id: u32,
    session_id: u64,
}

impl Smb2Header {
    /// The header at the start of `m`. A message the snaplen `cut` may
    /// lose the Signature (48..64), which nothing here reads: its command
    /// still tells a TREE_CONNECT whose path was lost.
    fn parse(m: &[u8], cut: bool) -> Option<Self> {
        if m.get(..4)? != SMB2 || u16_at(m, 4)? != 64 || (m.len() < 64 && !cut) {
            return None;
        }
        Some(Smb2Header {
            status: u32_at(m, 8)?,
            command: u16_at(m, 12)?,
            flags: u32_at(m, 16)?,
            next: u32_at(m, 20)?,
            message_id: u64_at(m, 24)?,
            tree_id: match u32_at(m, 16)? & FLAG_ASYNC {
                0 => u32_at(m, 36)?,
                _ => 0,
            },
            session_id: u64_at(m, 40)?,
        })
    }
}

/// The path of an SMB2 TREE_CONNECT request (MS-SMB2 §2.2.9): after the
/// header, StructureSize 9, Flags, PathOffset (from the header start),
/// PathLength (bytes of UTF-16LE). With EXTENSION_PRESENT (SMB 3.1.1) the
/// Buffer opens with a 16-byte TREE_CONNECT_REQUEST_EXTENSION (§2.2.9.1)
/// and PathOffset points past it, at its PathName: Microsoft's protocol
/// test suite and RubySMB write Buffer + 16 there, and Wireshark reads the
/// path at PathOffset whatever the flags. An offset inside the extension
/// header is malformed and not reported.
///
/// A message cut short (the snaplen) gives the part of the path it holds
/// (`Part`, possibly empty); so does a malformed one, which the caller
/// tells apart by whether the message was cut.
fn smb2_tree_path(m: &[u8]) -> TreePath {
    let fields = (u16_at(m, 64), u16_at(m, 66), u16_at(m, 68), u16_at(m, 70));
    let (Some(9), Some(flags), Some(offset), Some(len)) = fields else {
        return TreePath::Part(String::new());
    };
    let (offset, len) = (usize::from(offset), usize::from(len));
    let buffer = 64 + 8;
    let first = if flags & TREE_CONNECT_EXTENSION_PRESENT != 0 {
        buffer + 16
    } else {
        buffer
    };
    if offset < first || len == 0 {
        return TreePath::Malformed;
    }
    match m.get(offset..offset + len) {
        Some(b) => TreePath::Whole(utf16(b).trim_end_matches('\0').to_owned()),
        None => TreePath::Part(utf16(m.get(offset..).unwrap_or_default())),
    }
}

/// What a TREE_CONNECT request says of its path.
enum TreePath {
    /// All of it.
    Whole(String),
    /// The message ends inside it (or before it): what there is.
    Part(String),
    /// Offset or length impossible.
    Malformed,
}

/// The dialect names of an SMB1 NEGOTIATE request (MS-CIFS §2.2.4.52.1):
/// WordCount 0, ByteCount, then `0x02 name 0x00` per dialect.
fn smb1_dialects(m: &[u8]) -> Vec<Option<String>> {
    let mut names = Vec::new();
    let Some(mut bytes) = smb1_bytes(m, SMB1_HEADER_LEN) else {
        return names;
    };
    while let [0x02, rest @ ..] = bytes {
        if names.len() == MAX_DIALECTS {
            break;
        }
        let Some(end) = rest.iter().position(|&b| b == 0) else {
            break;
        };
        let name = rest.get(..end).unwrap_or_default();
        names.push((name.len() <= MAX_DIALECT_LEN).then(|| ascii(name)));
        bytes = rest.get(end + 1..).unwrap_or_default();
    }
    names
}

/// The path of a TREE_CONNECT_ANDX request, found by following the AndX
/// chain from the first command block (MS-CIFS §2.2.4.55.1: a chained
/// TREE_CONNECT_ANDX after SESSION_SETUP_ANDX is allowed); `None` when the
/// chain names none (or is cut before it says which command comes next).
fn smb1_tree_path(m: &[u8], command: u8, unicode: bool) -> Option<TreePath> {
    let (mut command, mut at) = (command, SMB1_HEADER_LEN);
    for _ in 0..MAX_CHAIN {
        if command == SMB1_TREE_CONNECT_ANDX {
            return Some(smb1_tree_connect(m, at, unicode));
        }
        // AndX block (MS-CIFS §2.2.3.4): WordCount, AndXCommand,
        // AndXReserved, AndXOffset (from the header start).
        if !SMB1_ANDX.contains(&command) || *m.get(at)? < 2 {
            return None;
        }
        let next_command = *m.get(at + 1)?;
        let next_at = usize::from(u16_at(m, at + 3)?);
        if next_command == 0xff || next_at <= at {
            return None;
        }
        (command, at) = (next_command, next_at);
    }
    None
}

/// A TREE_CONNECT_ANDX request block at `at` (MS-CIFS §2.2.4.55.1):
/// WordCount 4 (AndX 4 bytes, Flags, PasswordLength), ByteCount, Password,
/// then Path: UTF-16LE aligned to 2 bytes from the header start when
/// Unicode, else OEM; null-terminated either way. A message that ends
/// before the terminator gives the part it holds (`Part`, possibly empty),
/// as [`smb2_tree_path`]: cut, or malformed when it was not cut.
fn smb1_tree_connect(m: &[u8], at: usize, unicode: bool) -> TreePath {
    match m.get(at) {
        Some(4) => {}
        Some(_) => return TreePath::Malformed,
        None => return TreePath::Part(String::new()),
    }
    let (Some(password), Some(bytes)) = (u16_at(m, at + 7), smb1_bytes(m, at)) else {
        return TreePath::Part(String::new());
    };
    let bytes_at = at + 1 + 8 + 2;
    let mut path_at = bytes_at + usize::from(password);
    if unicode {
        path_at += path_at % 2;
    }
    let s = bytes.get(path_at - bytes_at..).unwrap_or_default();
    if unicode {
        match s.chunks_exact(2).position(|c| c == [0, 0]) {
            Some(end) => TreePath::Whole(utf16(s.get(..end * 2).unwrap_or_default())),
            None => TreePath::Part(utf16(s)),
        }
    } else {
        match s.iter().position(|&b| b == 0) {
            Some(end) => TreePath::Whole(ascii(s.get(..end).unwrap_or_default())),
            None => TreePath::Part(ascii(s)),
        }
    }
}

/// The Bytes of an SMB1 block at `at` (WordCount, words, ByteCount,
/// Bytes), cut to what was kept.
fn smb1_bytes(m: &[u8], at: usize) -> Option<&[u8]> {
    let count_at = at + 1 + 2 * usize::from(*m.get(at)?);
    let count = usize::from(u16_at(m, count_at)?);
    let rest = m.get(count_at + 2..)?;
    Some(rest.get(..count).unwrap_or(rest))
}

/// UTF-16LE to a string, bad code units replaced (as Wireshark shows them).
fn utf16(b: &[u8]) -> String {
    let units = b
        .chunks_exact(2)
        .filter_map(|c| <[u8; 2]>::try_from(c).ok())
        .map(u16::from_le_bytes);
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// OEM bytes to a string: ASCII kept, anything else replaced (the code
/// page is not on the wire).
fn ascii(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if c.is_ascii() {
                char::from(c)
            } else {
                char::REPLACEMENT_CHARACTER
            }
        })
        .collect()
}

/// `N` bytes at `at`, if all were kept.
fn bytes<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    bytes(b, at).map(u16::from_le_bytes)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    bytes(b, at).map(u32::from_le_bytes)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    bytes(b, at).map(u64::from_le_bytes)
}

#[cfg(test)]
mod tests;
