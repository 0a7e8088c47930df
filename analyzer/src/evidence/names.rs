//! What names resolved to, from the DNS answers seen: by name (the last few
//! answers, with their times) and by address (the names that resolved to
//! it), and which names were queried and answered. DNS rules warn about
//! names never answered; a fallback is explained by what its server's name
//! resolved to just before. Bounded: a table that fills is cleared.
//!
//! The names are read only when a report is made. Analyzers that each read
//! a part of the traffic (`audit --shard`, captures audited in parallel)
//! keep a [`Journal`] of what changed them, stamped with the frame that
//! did; the journals replayed in the one order of those frames
//! ([`Names::replay`]) give the names one analyzer of all the traffic ends
//! with, and each part reports with those.

use std::collections::VecDeque;
use std::net::IpAddr;

use capture::Timestamp;
use rustc_hash::{FxHashMap, FxHashSet};

use super::dns::Families;

/// Most names (and addresses) remembered.
pub const NAMES_CAP: usize = 65_536;
/// Answers remembered per name, and names per address.
const PER_NAME: usize = 8;
const PER_ADDR: usize = 4;

/// One answer for a name: when, the address families it speaks for
/// ([`super::DnsAnswer::families`]), and the addresses it resolved to.
pub type Resolution = (Timestamp, Families, Vec<IpAddr>);

/// What an answer says of its name's addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The families it speaks for ([`super::DnsAnswer::families`]).
    pub families: Families,
    /// The addresses, CNAMEs followed.
    pub addrs: Vec<IpAddr>,
    /// TC=1: cut to fit a datagram; the client should ask again over TCP.
    pub truncated: bool,
    /// The question's type (1 = A, 28 = AAAA…): only a full answer to the
    /// same question stands for a truncated one.
    pub qtype: u16,
    /// The capture's snaplen cut the answer (the cut frame's captured
    /// length): its records are unknown. It waits for a full answer to the
    /// same question, as a truncated one does.
    pub snaplen: Option<u32>,
}

/// Most changes a [`Journal`] keeps before it gives up (and its analyzer's
/// part of the traffic is reported by one analyzer after all).
pub const JOURNAL_CAP: usize = 1 << 19;

/// One change to the names: a query, or an answer with the addresses its
/// name resolved to, as [`Names::query`] and [`Names::answer`] were given
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameEvent {
    pub name: Box<str>,
    pub id: u16,
    pub client: IpAddr,
    pub ts: Timestamp,
    /// An answer's families and addresses; none for a query.
    pub answer: Option<Reply>,
}

/// The changes to one analyzer's names, each with the frame that made it
/// (the analyzer's count of frames read, set by [`Names::stamp`]).
#[derive(Clone, Debug, Default)]
pub struct Journal {
    at: u64,
    /// (frame, change), in the order they were made.
    pub events: Vec<(u64, NameEvent)>,
    /// More than [`JOURNAL_CAP`] changes: the journal is incomplete.
    pub overflowed: bool,
}

impl Journal {
    fn push(&mut self, e: NameEvent) {
        if self.events.len() < JOURNAL_CAP {
            self.events.push((self.at, e));
        } else {
            self.overflowed = true;
        }
    }
}

/// Names and the addresses they resolved to.
#[derive(Clone, Debug, Default)]
pub struct Names {
    by_name: FxHashMap<Box<str>, VecDeque<Resolution>>,
    by_addr: FxHashMap<IpAddr, Vec<Box<str>>>,
    queried: FxHashSet<Box<str>>,
    answered: FxHashSet<Box<str>>,
    /// Queries not answered yet: (name, id, client) → when asked.
    pending: FxHashMap<(Box<str>, u16, IpAddr), Timestamp>,
    /// Truncated answers (or answers the snaplen cut) no full answer to
    /// the same client followed yet (its retry over TCP): (name, question
    /// type, client) → (when, transaction id, the snaplen if it cut it).
    cut: FxHashMap<(Box<str>, u16, IpAddr), Waiting>,
    /// What changed the names, when kept.
    journal: Option<Box<Journal>>,
}

/// A cut answer waiting for a full one: when, its transaction id, and the
/// snaplen when the capture cut it (none: truncated, TC=1).
type Waiting = (Timestamp, u16, Option<u32>);

/// A query no answer matched: name, transaction id, client, when.
pub type Unanswered<'a> = (&'a str, u16, IpAddr, Timestamp);

fn bounded<K: std::hash::Hash + Eq, V>(m: &mut FxHashMap<K, V>, k: &K) {
    if m.len() >= NAMES_CAP && !m.contains_key(k) {
        m.clear();
    }
}

impl Names {
    /// An answer (transaction `id`, to `client`) for `name` at `ts`,
    /// speaking for `reply`'s families and resolving to its addresses. An
    /// answer that speaks for no family (truncated, or to a question for
    /// no address) answers its query but is not kept as a resolution; a
    /// truncated one waits for a full answer to the same client.
    pub fn answer(&mut self, (name, id, client): (&str, u16, IpAddr), ts: Timestamp, reply: Reply) {
        let key: Box<str> = name.into();
        self.pending.remove(&(key.clone(), id, client));
        if self.answered.len() >= NAMES_CAP {
            self.answered.clear();
        }
        self.answered.insert(key.clone());
        let cut = (key.clone(), reply.qtype, client);
        if reply.truncated || reply.snaplen.is_some() {
            bounded(&mut self.cut, &cut);
            self.cut.insert(cut, (ts, id, reply.snaplen));
        } else {
            self.cut.remove(&cut);
        }
        if reply.families.any() {
            self.resolved(key, ts, &reply);
        }
        self.note((name, id, client), ts, Some(reply));
    }

    /// Keeps a resolution of `key`, by name and by address.
    fn resolved(&mut self, key: Box<str>, ts: Timestamp, reply: &Reply) {
        let (families, addrs) = (reply.families, &reply.addrs);
        bounded(&mut self.by_name, &key);
        let list = self.by_name.entry(key.clone()).or_default();
        if list.len() == PER_NAME {
            list.pop_front();
        }
        list.push_back((ts, families, addrs.clone()));
        for a in addrs {
            bounded(&mut self.by_addr, a);
            let names = self.by_addr.entry(*a).or_default();
            if names.len() < PER_ADDR && !names.contains(&key) {
                names.push(key.clone());
            }
        }
    }

    /// A query for `name` (transaction `id`, from `client`) at `ts`.
    pub fn query(&mut self, (name, id, client): (&str, u16, IpAddr), ts: Timestamp) {
        self.note((name, id, client), ts, None);
        if self.queried.len() >= NAMES_CAP {
            self.queried.clear();
        }
        self.queried.insert(name.into());
        let key = (name.into(), id, client);
        bounded(&mut self.pending, &key);
        self.pending.entry(key).or_insert(ts);
    }

    /// Journals a query or (with its addresses) an answer, if kept.
    fn note(
        &mut self,
        (name, id, client): (&str, u16, IpAddr),
        ts: Timestamp,
        answer: Option<Reply>,
    ) {
        if let Some(j) = &mut self.journal {
            j.push(NameEvent {
                name: name.into(),
                id,
                client,
                ts,
                answer,
            });
        }
    }

    /// From now on, keep a [`Journal`] of every change.
    pub fn keep_journal(&mut self) {
        self.journal.get_or_insert_with(Box::default);
    }

    /// The changes from now on are made by frame `frame` (a no-op without
    /// a journal).
    #[inline]
    pub fn stamp(&mut self, frame: u64) {
        if let Some(j) = &mut self.journal {
            j.at = frame;
        }
    }

    /// Whether the journal kept has given up ([`JOURNAL_CAP`]).
    pub fn journal_full(&self) -> bool {
        self.journal.as_ref().is_some_and(|j| j.overflowed)
    }

    /// Hands over the journal kept so far (none if none is kept); the
    /// journal goes on, empty (the next frame read stamps it).
    pub fn take_journal(&mut self) -> Option<Journal> {
        self.journal.as_mut().map(|j| std::mem::take(&mut **j))
    }

    /// The names after `events`, in order, from none (no journal kept).
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a NameEvent>) -> Names {
        let mut names = Names::default();
        names.apply(events);
        names
    }

    /// Makes the changes of `events`, in order.
    pub fn apply<'a>(&mut self, events: impl IntoIterator<Item = &'a NameEvent>) {
        for e in events {
            let asked = (&*e.name, e.id, e.client);
            match &e.answer {
                Some(reply) => self.answer(asked, e.ts, reply.clone()),
                None => self.query(asked, e.ts),
            }
        }
    }

    /// Queries no answer matched (by name, id and client), oldest first
    /// (then by id, name and client: a total order).
    pub fn unanswered(&self) -> Vec<Unanswered<'_>> {
        let mut v: Vec<Unanswered<'_>> = self
            .pending
            .iter()
            .map(|((n, id, c), t)| (&**n, *id, *c, *t))
            .collect();
        v.sort_by_key(|u| (u.3, u.1, u.0, u.2));
        v
    }

    /// Truncated answers no full answer to their client followed (the
    /// retry over TCP was not seen), in the order of [`Names::unanswered`]:
    /// name, transaction id, client, when.
    pub fn cut_short(&self) -> Vec<Unanswered<'_>> {
        self.cut_by(false).into_iter().map(|(u, _)| u).collect()
    }

    /// Answers the capture's snaplen cut that no full answer to their
    /// client followed, in the same order, each with the snaplen.
    pub fn snaplen_cut(&self) -> Vec<(Unanswered<'_>, u32)> {
        self.cut_by(true)
    }

    /// The cut answers waiting: truncated ones, or those the snaplen cut.
    fn cut_by(&self, snaplen: bool) -> Vec<(Unanswered<'_>, u32)> {
        let mut v: Vec<(Unanswered<'_>, u32)> = self
            .cut
            .iter()
            .filter(|(_, (_, _, n))| n.is_some() == snaplen)
            .map(|((n, _, c), (t, id, len))| ((&**n, *id, *c, *t), len.unwrap_or(0)))
            .collect();
        v.sort_by_key(|(u, _)| (u.3, u.1, u.0, u.2));
        v
    }

    /// The names that resolved to `addr`.
    pub fn names_of(&self, addr: IpAddr) -> &[Box<str>] {
        self.by_addr.get(&addr).map_or(&[], Vec::as_slice)
    }

    /// The last answer for `name` at or before `ts` that speaks for one
    /// of `families`.
    pub fn before(&self, name: &str, ts: Timestamp, families: Families) -> Option<&Resolution> {
        self.by_name
            .get(name)?
            .iter()
            .rev()
            .find(|(t, f, _)| *t <= ts && f.and(families).any())
    }

    /// Names queried so far.
    pub fn queried(&self) -> impl Iterator<Item = &str> {
        self.queried.iter().map(|n| &**n)
    }

    /// Whether `name` was ever answered.
    pub fn answered(&self, name: &str) -> bool {
        self.answered.contains(name)
    }

    /// Names answered so far.
    pub fn answered_names(&self) -> impl Iterator<Item = &str> {
        self.answered.iter().map(|n| &**n)
    }

    /// Entries held (bounded memory checks).
    pub fn len(&self) -> usize {
        self.by_name.len()
            + self.by_addr.len()
            + self.queried.len()
            + self.answered.len()
            + self.pending.len()
            + self.cut.len()
    }

    /// Nothing remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: Families = Families::V4;

    /// A full answer speaking for `families` with `addrs` (to an AAAA
    /// question when it speaks for IPv6 only, else to an A one).
    fn full(families: Families, addrs: Vec<IpAddr>) -> Reply {
        let qtype = if families == Families::asked(28) {
            28
        } else {
            1
        };
        Reply {
            families,
            addrs,
            truncated: false,
            qtype,
            snaplen: None,
        }
    }

    /// A truncated answer: it speaks for no family.
    fn cut() -> Reply {
        Reply {
            truncated: true,
            ..full(Families::NONE, vec![])
        }
    }

    #[test]
    fn answers_by_name_and_address() {
        let mut n = Names::default();
        let (b, p): (IpAddr, IpAddr) = (
            "192.168.1.24".parse().unwrap(),
            "10.10.12.90".parse().unwrap(),
        );
        let c: IpAddr = "10.10.12.89".parse().unwrap();
        n.query(("ps.x.y.com", 1, c), Timestamp(9));
        n.query(("ps.x.y.com", 2, c), Timestamp(39));
        n.answer(("ps.x.y.com", 1, c), Timestamp(10), full(V4, vec![b, p]));
        n.answer(("ps.x.y.com", 3, c), Timestamp(40), full(V4, vec![p]));
        assert_eq!(&*n.names_of(p)[0], "ps.x.y.com");
        let before = |t| n.before("ps.x.y.com", Timestamp(t), V4).unwrap().2.clone();
        assert_eq!(before(39), vec![b, p]);
        assert_eq!(before(40), vec![p]);
        assert!(n
            .before("ps.x.y.com", Timestamp(9), Families::ALL)
            .is_none());
        // Query 2 got no answer (answer 3 is another transaction).
        assert_eq!(n.unanswered(), vec![("ps.x.y.com", 2, c, Timestamp(39))]);
        n.query(("dpm.x.y.com", 9, c), Timestamp(50));
        assert!(n.queried().any(|q| q == "dpm.x.y.com") && !n.answered("dpm.x.y.com"));
    }

    /// Everything the names hold, compared.
    fn same(a: &Names, b: &Names) -> bool {
        a.by_name == b.by_name
            && a.by_addr == b.by_addr
            && a.queried == b.queried
            && a.answered == b.answered
            && a.pending == b.pending
            && a.cut == b.cut
    }

    /// Frame `f`'s change: a query or answer among a few names, clients
    /// and addresses (so answers match queries and lists fill).
    fn event(f: u64, kind: u8, name: u32, n: &mut Names) {
        let name = format!("h{name}.contoso.local");
        let client = IpAddr::from([10, 1, 0, (f % 7) as u8]);
        let addr = IpAddr::from([10, 10, 12, (f % 11) as u8]);
        let ts = Timestamp(f as i64);
        match kind % 3 {
            0 => n.query((&name, (f % 5) as u16, client), ts),
            1 => n.answer((&name, (f % 5) as u16, client), ts, full(V4, vec![addr])),
            // A truncated answer, or an AAAA one with no address.
            _ => {
                let reply = [cut(), full(Families::asked(28), vec![])][(f % 2) as usize].clone();
                n.answer((&name, (f % 5) as u16, client), ts, reply);
            }
        }
    }

    /// Frames dealt to `shares` analyzers by `owner`; their journals
    /// replayed in frame order against one analyzer reading every frame.
    fn replayed_equals_one(
        frames: &[(u8, u32)],
        shares: usize,
        owner: impl Fn(usize) -> usize,
    ) -> Names {
        let mut one = Names::default();
        let mut parts: Vec<Names> = (0..shares).map(|_| Names::default()).collect();
        parts.iter_mut().for_each(Names::keep_journal);
        for (i, (kind, name)) in frames.iter().enumerate() {
            let f = i as u64 + 1;
            event(f, *kind, *name, &mut one);
            let part = &mut parts[owner(i) % shares];
            part.stamp(f);
            event(f, *kind, *name, part);
        }
        let mut all: Vec<(u64, NameEvent)> = Vec::new();
        for p in &mut parts {
            let j = p.take_journal().unwrap();
            assert!(!j.overflowed);
            all.extend(j.events);
        }
        all.sort_by_key(|(f, _)| *f);
        let names = Names::replay(all.iter().map(|(_, e)| e));
        assert!(same(&names, &one));
        one
    }

    #[test]
    fn an_answer_counts_for_the_families_it_speaks_for() {
        let mut n = Names::default();
        let c: IpAddr = "10.10.12.89".parse().unwrap();
        let b: IpAddr = "192.168.1.24".parse().unwrap();
        n.query(("ps.x.y.com", 1, c), Timestamp(1));
        n.query(("ps.x.y.com", 2, c), Timestamp(2));
        n.query(("ps.x.y.com", 3, c), Timestamp(3));
        n.answer(("ps.x.y.com", 1, c), Timestamp(10), full(V4, vec![b]));
        // AAAA, no data: it speaks for IPv6 only.
        n.answer(
            ("ps.x.y.com", 2, c),
            Timestamp(20),
            full(Families::asked(28), vec![]),
        );
        // Truncated: it answers query 3 but speaks for no family.
        n.answer(("ps.x.y.com", 3, c), Timestamp(30), cut());
        assert_eq!(n.unanswered(), vec![]);
        // No full answer followed the truncated one.
        assert_eq!(n.cut_short(), vec![("ps.x.y.com", 3, c, Timestamp(30))]);
        let at = Timestamp(40);
        assert_eq!(
            n.before("ps.x.y.com", at, V4),
            Some(&(Timestamp(10), V4, vec![b]))
        );
        let v6 = Families::asked(28);
        assert_eq!(
            n.before("ps.x.y.com", at, v6),
            Some(&(Timestamp(20), v6, vec![]))
        );
        assert_eq!(n.by_name["ps.x.y.com"].len(), 2);
    }

    #[test]
    fn an_answer_the_snaplen_cut_answers_its_query_and_waits_for_a_full_one() {
        let mut n = Names::default();
        let c: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "192.168.1.24".parse().unwrap();
        let snapped = Reply {
            snaplen: Some(256),
            ..full(Families::NONE, vec![])
        };
        n.query(("dpm.x.y.com", 7, c), Timestamp(1));
        n.answer(("dpm.x.y.com", 7, c), Timestamp(2), snapped.clone());
        assert_eq!(n.unanswered(), vec![]);
        assert_eq!(n.cut_short(), vec![]);
        assert_eq!(
            n.snaplen_cut(),
            vec![(("dpm.x.y.com", 7, c, Timestamp(2)), 256)]
        );
        assert_eq!(n.before("dpm.x.y.com", Timestamp(3), V4), None);
        n.answer(("dpm.x.y.com", 9, c), Timestamp(3), full(V4, vec![b]));
        assert_eq!(n.snaplen_cut(), vec![]);
    }

    #[test]
    fn a_truncated_answer_waits_for_a_full_one_to_its_client() {
        let mut n = Names::default();
        let (c, d): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let b: IpAddr = "192.168.1.24".parse().unwrap();
        n.answer(("dpm.x.y.com", 7, c), Timestamp(1), cut());
        n.answer(("dpm.x.y.com", 8, d), Timestamp(2), cut());
        // The TCP retry to c (a new transaction id) answers in full.
        n.answer(("dpm.x.y.com", 9, c), Timestamp(3), full(V4, vec![b]));
        assert_eq!(n.cut_short(), vec![("dpm.x.y.com", 8, d, Timestamp(2))]);
        // Cut again after a full answer: waiting again.
        n.answer(("dpm.x.y.com", 10, c), Timestamp(4), cut());
        assert_eq!(n.cut_short().len(), 2);
        // A full answer to another question (the AAAA Windows asks beside
        // the A) does not stand for the truncated A one.
        n.answer(
            ("dpm.x.y.com", 11, c),
            Timestamp(5),
            full(Families::asked(28), vec![]),
        );
        assert_eq!(n.cut_short().len(), 2);
    }

    proptest::proptest! {
        #[test]
        fn journals_replayed_in_frame_order_are_one_analyzers_names(
            frames in proptest::collection::vec((0u8..3, 0u32..40), 0..300),
            owners in proptest::collection::vec(0usize..3, 300),
        ) {
            replayed_equals_one(&frames, 3, |i| owners[i]);
        }
    }

    #[test]
    fn replay_clears_a_full_table_as_one_analyzer_does() {
        // More names than NAMES_CAP: the tables clear at the same change.
        let frames: Vec<(u8, u32)> = (0..NAMES_CAP as u32 + 5_000).map(|i| (1, i)).collect();
        let one = replayed_equals_one(&frames, 2, |i| i % 2);
        assert!(one.by_name.len() <= 5_000, "the table never cleared");
    }

    #[test]
    fn a_journal_past_its_cap_says_so() {
        let mut n = Names::default();
        n.keep_journal();
        for i in 0..=JOURNAL_CAP as u64 {
            n.stamp(i);
            n.query(("a.b", 1, IpAddr::from([10, 0, 0, 1])), Timestamp(0));
        }
        assert!(n.journal_full());
        let j = n.take_journal().unwrap();
        assert!(j.overflowed && j.events.len() == JOURNAL_CAP);
        assert!(Names::default().take_journal().is_none());
    }
}
