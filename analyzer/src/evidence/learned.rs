//! What one flow's payload teaches about others: RPC endpoints announced by
//! endpoint-mapper and DCOM replies (a later connection to that server and
//! port is that RPC service), and SMB session ids whose share paths were
//! seen in clear (another channel of the same session, e.g. an SMB
//! Multichannel connection, encrypted or not, uses those shares). A server
//! numbers its own sessions, and Windows' ids repeat across servers
//! (0x0000040000000005 is common), so a session is known by its server:
//! the ServerGuid of the connection's NEGOTIATE response (the same on
//! every address of a server), else the server's address.
//!
//! Both tables are bounded; an endpoint lives for [`ENDPOINT_TTL_NS`] of
//! packet time after its last announcement, as Zeek's scheduled analyzers
//! did (5 min there; DCOM clients connect right after activation).

use std::net::IpAddr;

use capture::Timestamp;
use rustc_hash::FxHashMap;

use super::{Uuid, Via};

/// Who numbered an SMB session id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SmbServer {
    /// The ServerGuid of the connection's NEGOTIATE response.
    Guid(Uuid),
    /// The server's address (the NEGOTIATE was not seen, or as well).
    Addr(IpAddr),
}

/// An SMB session: its server and its id.
pub type SessionKey = (SmbServer, u64);

/// How long a learned endpoint classifies new connections (packet time).
pub const ENDPOINT_TTL_NS: i64 = 10 * 60 * 1_000_000_000;
/// Most endpoints remembered at once.
pub const ENDPOINT_CAP: usize = 65_536;
/// Most announcements listed in a report.
pub const HISTORY_CAP: usize = 10_000;
/// Most SMB sessions remembered, and paths per session.
const SESSION_CAP: usize = 65_536;
const PATHS_PER_SESSION: usize = 8;

/// An endpoint announced in an RPC reply.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The server the endpoint belongs to.
    pub server: IpAddr,
    /// 6 (TCP) or 17 (UDP).
    pub proto: u8,
    /// The port (`None` for a DCOM binding without one: the object
    /// resolver itself, on 135).
    pub port: Option<u16>,
    /// Endpoint mapper or DCOM.
    pub via: Via,
    /// The interface (endpoint mapper towers name it).
    pub interface: Option<Uuid>,
    /// The DCOM string binding as sent.
    pub binding: Option<String>,
    /// The server that sent the reply.
    pub announced_by: IpAddr,
    /// Packet time of the reply.
    pub learned_at: Timestamp,
}

/// Endpoints and SMB sessions learned so far.
#[derive(Debug, Default)]
pub struct Knowledge {
    live: FxHashMap<(IpAddr, u8, u16), Endpoint>,
    history: Vec<Endpoint>,
    /// The frame (the analyzer's count of frames read) each announcement
    /// of `history` came in.
    history_frames: Vec<u64>,
    /// The frame being read ([`Knowledge::stamp`]).
    frame: u64,
    keep_history: bool,
    /// Announcements not listed because the history was full.
    pub history_dropped: u64,
    /// Endpoints not remembered because the table was full.
    pub endpoints_dropped: u64,
    sessions: FxHashMap<SessionKey, Vec<Box<str>>>,
    /// The path of each (session, TreeId) a tree connect response granted:
    /// a later connection of the session (resumed after an idle expiry,
    /// joined mid-stream, another channel) names only the TreeId.
    trees: FxHashMap<(SessionKey, u32), Box<str>>,
    /// Sessions whose paths another channel looked up (at most
    /// `SESSION_CAP`), and whether any were forgotten (either table full).
    smb_lookups: rustc_hash::FxHashSet<SessionKey>,
    smb_forgot: bool,
    /// What names resolved to.
    pub names: super::names::Names,
}

impl Knowledge {
    /// Empty; `keep_history` lists every announcement for reports (an audit),
    /// a daemon keeps only the live table.
    pub fn new(keep_history: bool) -> Self {
        Knowledge {
            keep_history,
            ..Knowledge::default()
        }
    }

    /// The frame being read from now on (what is learned is stamped with
    /// it, and what names resolve to: [`super::names::Names::stamp`]).
    pub fn stamp(&mut self, frame: u64) {
        self.frame = frame;
        self.names.stamp(frame);
    }

    /// Records an announcement.
    pub fn learn(&mut self, e: Endpoint) {
        if self.keep_history {
            if self.history.len() < HISTORY_CAP {
                self.history.push(e.clone());
                self.history_frames.push(self.frame);
            } else {
                self.history_dropped += 1;
            }
        }
        let Some(port) = e.port else { return };
        let key = (e.server, e.proto, port);
        if self.live.len() >= ENDPOINT_CAP && !self.live.contains_key(&key) {
            let now = e.learned_at.0;
            self.live
                .retain(|_, v| now.saturating_sub(v.learned_at.0) <= ENDPOINT_TTL_NS);
            if self.live.len() >= ENDPOINT_CAP {
                self.endpoints_dropped += 1;
                return;
            }
        }
        self.live.insert(key, e);
    }

    /// The endpoint a new connection to `(server, proto, port)` at `now` reaches, if learned.
    pub fn endpoint(
        &self,
        server: IpAddr,
        proto: u8,
        port: u16,
        now: Timestamp,
    ) -> Option<&Endpoint> {
        self.live
            .get(&(server, proto, port))
            .filter(|e| now.0.saturating_sub(e.learned_at.0) <= ENDPOINT_TTL_NS)
    }

    /// Every announcement, in order (audits only).
    pub fn history(&self) -> &[Endpoint] {
        &self.history
    }

    /// The frame each announcement of [`Knowledge::history`] came in:
    /// analyzers that each read a share of a capture's frames list their
    /// announcements in one analyzer's order by it.
    pub fn history_frames(&self) -> &[u64] {
        &self.history_frames
    }

    /// Endpoints in the live table (bounded).
    pub fn live_endpoints(&self) -> usize {
        self.live.len()
    }

    /// Records a tree-connect path of an SMB session.
    pub fn smb_path(&mut self, session: SessionKey, path: &str) {
        if session.1 == 0 {
            return;
        }
        if self.sessions.len() >= SESSION_CAP && !self.sessions.contains_key(&session) {
            // Forget everything rather than grow: an old session's paths
            // only matter to a channel opened later, which is rare.
            self.sessions.clear();
            self.smb_forgot = true;
        }
        let paths = self.sessions.entry(session).or_default();
        if paths.len() < PATHS_PER_SESSION && !paths.iter().any(|p| p.eq_ignore_ascii_case(path)) {
            paths.push(path.into());
        }
    }

    /// Records the path of a tree a session was granted. Bounded as the
    /// sessions are: past [`SESSION_CAP`] trees all are forgotten.
    pub fn smb_tree(&mut self, session: SessionKey, tree: u32, path: &str) {
        if session.1 == 0 {
            return;
        }
        let key = (session, tree);
        if self.trees.len() >= SESSION_CAP && !self.trees.contains_key(&key) {
            self.trees.clear();
            self.smb_forgot = true;
        }
        self.trees.insert(key, path.into());
    }

    /// The path of a session's tree, if its tree connect was seen.
    pub fn smb_tree_path(&self, session: SessionKey, tree: u32) -> Option<&str> {
        self.trees.get(&(session, tree)).map(|p| &**p)
    }

    /// The paths a session connected to, as seen in clear.
    pub fn smb_paths(&self, session: SessionKey) -> &[Box<str>] {
        self.sessions.get(&session).map_or(&[], Vec::as_slice)
    }

    /// Notes that another channel of `session` looked up its paths.
    pub fn note_smb_lookup(&mut self, session: SessionKey) {
        if self.smb_lookups.len() < SESSION_CAP {
            self.smb_lookups.insert(session);
        } else if !self.smb_lookups.contains(&session) {
            self.smb_forgot = true;
        }
    }

    /// Sessions with paths remembered, sessions looked up, and whether
    /// either list lost any (what a parallel audit checks).
    pub fn smb_reach(&self) -> (Vec<SessionKey>, rustc_hash::FxHashSet<SessionKey>, bool) {
        (
            self.sessions.keys().copied().collect(),
            self.smb_lookups.clone(),
            !self.smb_forgot,
        )
    }

    /// SMB sessions remembered (bounded).
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(server: &str, port: u16, at_s: i64) -> Endpoint {
        Endpoint {
            server: server.parse().unwrap(),
            proto: 6,
            port: Some(port),
            via: Via::Dcom,
            interface: None,
            binding: None,
            announced_by: server.parse().unwrap(),
            learned_at: Timestamp(at_s * 1_000_000_000),
        }
    }

    #[test]
    fn announcements_are_listed_with_the_frame_they_came_in() {
        let mut k = Knowledge::new(true);
        k.stamp(7);
        k.learn(ep("192.168.0.2", 1032, 100));
        k.learn(ep("192.168.0.2", 1033, 100));
        k.stamp(12);
        k.learn(ep("192.168.0.3", 1032, 101));
        assert_eq!(k.history().len(), 3);
        assert_eq!(k.history_frames(), &[7, 7, 12]);
        // A daemon lists none.
        let mut d = Knowledge::new(false);
        d.stamp(3);
        d.learn(ep("192.168.0.2", 1032, 100));
        assert!(d.history().is_empty() && d.history_frames().is_empty());
    }

    #[test]
    fn an_endpoint_is_bound_to_its_server_and_expires() {
        let mut k = Knowledge::new(true);
        k.learn(ep("192.168.0.2", 1032, 100));
        let a: IpAddr = "192.168.0.2".parse().unwrap();
        let b: IpAddr = "192.168.0.116".parse().unwrap();
        assert!(k.endpoint(a, 6, 1032, Timestamp(101_000_000_000)).is_some());
        // The same port on another host is not that endpoint (mapi.pcap).
        assert!(k.endpoint(b, 6, 1032, Timestamp(101_000_000_000)).is_none());
        assert!(k
            .endpoint(a, 17, 1032, Timestamp(101_000_000_000))
            .is_none());
        let late = Timestamp(100_000_000_000 + ENDPOINT_TTL_NS + 1);
        assert!(k.endpoint(a, 6, 1032, late).is_none());
        assert_eq!(k.history().len(), 1);
    }

    #[test]
    fn session_paths_are_bounded_and_deduplicated() {
        let mut k = Knowledge::new(false);
        let server = SmbServer::Addr("10.0.0.1".parse().unwrap());
        for i in 0..20 {
            k.smb_path((server, 7), &format!("\\\\s\\share{}", i % 10));
            k.smb_path((server, 7), "\\\\S\\SHARE0");
        }
        assert_eq!(k.smb_paths((server, 7)).len(), PATHS_PER_SESSION);
        assert!(k.smb_paths((server, 8)).is_empty());
        // The same id at another server is another session.
        let other = SmbServer::Addr("10.0.0.2".parse().unwrap());
        assert!(k.smb_paths((other, 7)).is_empty());
    }
}
