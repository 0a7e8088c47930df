//! What names resolved to, from the DNS answers seen: by name (the last few
//! answers, with their times) and by address (the names that resolved to
//! it), and which names were queried and answered. DNS rules warn about
//! names never answered; a fallback is explained by what its server's name
//! resolved to just before. Bounded: a table that fills is cleared.

use std::collections::VecDeque;
use std::net::IpAddr;

use capture::Timestamp;
use rustc_hash::{FxHashMap, FxHashSet};

/// Most names (and addresses) remembered.
pub const NAMES_CAP: usize = 65_536;
/// Answers remembered per name, and names per address.
const PER_NAME: usize = 8;
const PER_ADDR: usize = 4;

/// One answer for a name: when, and the addresses it resolved to.
pub type Resolution = (Timestamp, Vec<IpAddr>);

/// Names and the addresses they resolved to.
#[derive(Debug, Default)]
pub struct Names {
    by_name: FxHashMap<Box<str>, VecDeque<Resolution>>,
    by_addr: FxHashMap<IpAddr, Vec<Box<str>>>,
    queried: FxHashSet<Box<str>>,
    answered: FxHashSet<Box<str>>,
    /// Queries not answered yet: (name, id, client) → when asked.
    pending: FxHashMap<(Box<str>, u16, IpAddr), Timestamp>,
}

/// A query no answer matched: name, transaction id, client, when.
pub type Unanswered<'a> = (&'a str, u16, IpAddr, Timestamp);

fn bounded<K: std::hash::Hash + Eq, V>(m: &mut FxHashMap<K, V>, k: &K) {
    if m.len() >= NAMES_CAP && !m.contains_key(k) {
        m.clear();
    }
}

impl Names {
    /// An answer (transaction `id`, to `client`) for `name` at `ts`
    /// resolving to `addrs` (CNAMEs followed).
    pub fn answer(
        &mut self,
        (name, id, client): (&str, u16, IpAddr),
        ts: Timestamp,
        addrs: &[IpAddr],
    ) {
        let key: Box<str> = name.into();
        self.pending.remove(&(key.clone(), id, client));
        if self.answered.len() >= NAMES_CAP {
            self.answered.clear();
        }
        self.answered.insert(key.clone());
        bounded(&mut self.by_name, &key);
        let list = self.by_name.entry(key.clone()).or_default();
        if list.len() == PER_NAME {
            list.pop_front();
        }
        list.push_back((ts, addrs.to_vec()));
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
        if self.queried.len() >= NAMES_CAP {
            self.queried.clear();
        }
        self.queried.insert(name.into());
        let key = (name.into(), id, client);
        bounded(&mut self.pending, &key);
        self.pending.entry(key).or_insert(ts);
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

    /// The names that resolved to `addr`.
    pub fn names_of(&self, addr: IpAddr) -> &[Box<str>] {
        self.by_addr.get(&addr).map_or(&[], Vec::as_slice)
    }

    /// The last answer for `name` at or before `ts`.
    pub fn before(&self, name: &str, ts: Timestamp) -> Option<&Resolution> {
        self.by_name.get(name)?.iter().rev().find(|(t, _)| *t <= ts)
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
    }

    /// Nothing remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        n.answer(("ps.x.y.com", 1, c), Timestamp(10), &[b, p]);
        n.answer(("ps.x.y.com", 3, c), Timestamp(40), &[p]);
        assert_eq!(&*n.names_of(p)[0], "ps.x.y.com");
        assert_eq!(n.before("ps.x.y.com", Timestamp(39)).unwrap().1, vec![b, p]);
        assert_eq!(n.before("ps.x.y.com", Timestamp(40)).unwrap().1, vec![p]);
        assert!(n.before("ps.x.y.com", Timestamp(9)).is_none());
        // Query 2 got no answer (answer 3 is another transaction).
        assert_eq!(n.unanswered(), vec![("ps.x.y.com", 2, c, Timestamp(39))]);
        n.query(("dpm.x.y.com", 9, c), Timestamp(50));
        assert!(n.queried().any(|q| q == "dpm.x.y.com") && !n.answered("dpm.x.y.com"));
    }
}
