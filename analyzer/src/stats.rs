//! Throughput over time: wire bytes per bin (bins aligned to the Unix
//! epoch), percentiles over every bin from the first active one to the
//! last, idle bins included, with HdrHistogram at 3 significant digits.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use rustc_hash::FxHashMap;

use capture::Timestamp;

use crate::class::ClassId;
use crate::policy::NetId;
use crate::IfaceRef;

/// Bytes per bin for one (class, scope).
#[derive(Clone, Debug)]
pub struct Series {
    bin_ns: i64,
    /// The bin being filled (packets mostly arrive in time order).
    current: Option<(i64, u64)>,
    bins: BTreeMap<i64, u64>,
}

/// Percentiles of a series' per-bin throughput, in bits per second.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Throughput {
    /// Bin length in milliseconds.
    pub bin_ms: u64,
    /// Bins from the first active to the last, idle ones included.
    pub bins: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Busiest bin (exact).
    pub max: u64,
}

impl Series {
    /// An empty series with bins of `bin_ns` nanoseconds.
    pub fn new(bin_ns: i64) -> Self {
        Series {
            bin_ns: bin_ns.max(1),
            current: None,
            bins: BTreeMap::new(),
        }
    }

    /// Counts one packet.
    #[inline]
    pub fn add(&mut self, ts: Timestamp, wire_len: u32) {
        self.add_bin(ts.0.div_euclid(self.bin_ns), u64::from(wire_len));
    }

    /// Counts `bytes` in bin `bin`.
    #[inline]
    pub fn add_bin(&mut self, bin: i64, bytes: u64) {
        match &mut self.current {
            Some((b, n)) if *b == bin => *n += bytes,
            cur => {
                if let Some((b, n)) = cur.take() {
                    *self.bins.entry(b).or_insert(0) += n;
                }
                *cur = Some((bin, bytes));
            }
        }
    }

    /// Takes back what [`Series::add_bin`] counted (a flow that changed
    /// class); a bin left empty is gone, as if never filled.
    pub fn sub_bin(&mut self, bin: i64, bytes: u64) {
        if let Some((b, n)) = self.current.take() {
            *self.bins.entry(b).or_insert(0) += n;
        }
        if let Some(n) = self.bins.get_mut(&bin) {
            *n = n.saturating_sub(bytes);
            if *n == 0 {
                self.bins.remove(&bin);
            }
        }
    }

    /// The bin holding `ts`.
    pub fn bin_of(&self, ts: Timestamp) -> i64 {
        ts.0.div_euclid(self.bin_ns)
    }

    /// Bytes per active bin, by bin index (bin start = index × bin length).
    pub fn bins(&self) -> BTreeMap<i64, u64> {
        let mut all = self.bins.clone();
        if let Some((b, n)) = self.current {
            *all.entry(b).or_insert(0) += n;
        }
        all
    }

    /// Percentiles of bits per second over the active span.
    pub fn throughput(&self) -> Throughput {
        let bins: Vec<(i64, u64)> = self.bins().into_iter().collect();
        throughput(self.bin_ns, &bins)
    }
}

/// Percentiles of bits per second of bins of `bin_ns`, given the active
/// ones in order, over every bin from the first to the last.
pub fn throughput(bin_ns: i64, active: &[(i64, u64)]) -> Throughput {
    let bin_ms = (bin_ns / 1_000_000).max(0) as u64;
    let (Some(&(first, _)), Some(&(last, _))) = (active.first(), active.last()) else {
        return Throughput {
            bin_ms,
            ..Throughput::default()
        };
    };
    // Saturating: a merged summary's bins come from a file.
    let span = u64::try_from(i128::from(last) - i128::from(first) + 1).unwrap_or(1);
    let bps = |bytes: u64| -> u64 {
        (u128::from(bytes) * 8 * 1_000_000_000 / bin_ns.max(1) as u128).min(u128::from(u64::MAX))
            as u64
    };
    let mut h = match Histogram::<u64>::new(3) {
        Ok(h) => h,
        Err(_) => return Throughput::default(),
    };
    let mut max = 0;
    for &(_, bytes) in active {
        let v = bps(bytes);
        max = max.max(v);
        if h.record(v).is_err() {
            h.saturating_record(v);
        }
    }
    let idle = span.saturating_sub(active.len() as u64);
    if idle > 0 {
        let _ = h.record_n(0, idle);
    }
    // HdrHistogram reports the highest value equivalent to the true one
    // at 3 digits, which can lie above the busiest bin: never report a
    // percentile above the exact max.
    let q = |p: f64| h.value_at_quantile(p).min(max);
    Throughput {
        bin_ms,
        bins: span,
        p50: q(0.50),
        p90: q(0.90),
        p95: q(0.95),
        p99: q(0.99),
        max,
    }
}

/// Most points a flow's own series keeps (see [`FlowSeries`]).
pub const FLOW_POINTS: usize = 64;

/// A flow's own bytes over time, for the small chart of a violation: at
/// most [`FLOW_POINTS`] points. A point is `2^shift` report bins, aligned to
/// the Unix epoch like them (point `j` holds bins `j << shift ..
/// (j + 1) << shift`); when a packet falls outside the points' reach the
/// points merge in pairs (`shift + 1`) until it fits, so memory per flow is
/// bounded whatever its length and a short flow keeps the report's bins.
#[derive(Clone, Debug, Default)]
pub struct FlowSeries {
    shift: u8,
    /// Index of the first point (in units of `2^shift` bins).
    first: i64,
    points: smallvec::SmallVec<[u64; 2]>,
}

impl FlowSeries {
    /// Counts `bytes` in report bin `bin`.
    #[inline]
    pub fn add(&mut self, bin: i64, bytes: u64) {
        if self.points.is_empty() {
            self.first = bin >> self.shift;
        }
        while self.span_with(bin >> self.shift) > FLOW_POINTS as i64 {
            self.coarsen();
        }
        self.place(bin >> self.shift, bytes);
    }

    /// Points from the first to the last, point `j` included.
    #[inline]
    fn span_with(&self, j: i64) -> i64 {
        let last = self.first + self.points.len() as i64 - 1;
        j.max(last) - j.min(self.first) + 1
    }

    /// Points merge in pairs: each covers twice the bins.
    fn coarsen(&mut self) {
        let first = self.first >> 1;
        let mut merged = smallvec::SmallVec::new();
        for (i, b) in self.points.iter().enumerate() {
            let k = (((self.first + i as i64) >> 1) - first) as usize;
            if merged.len() <= k {
                merged.resize(k + 1, 0);
            }
            merged[k] += b;
        }
        self.first = first;
        self.points = merged;
        self.shift = (self.shift + 1).min(62);
    }

    /// Adds a point index `j` known to fit within [`FLOW_POINTS`] of the others.
    fn place(&mut self, j: i64, bytes: u64) {
        if j < self.first {
            let pad = (self.first - j) as usize;
            self.points.insert_many(0, std::iter::repeat_n(0, pad));
            self.first = j;
        }
        let i = (j - self.first) as usize;
        if i >= self.points.len() {
            self.points.resize(i + 1, 0);
        }
        self.points[i] += bytes;
    }

    /// Report bins per point, as a power of two.
    pub fn shift(&self) -> u8 {
        self.shift
    }

    /// (point index, bytes) of every point with bytes, in order; point `j`
    /// starts at bin `j << shift`.
    pub fn active(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.points
            .iter()
            .enumerate()
            .filter(|(_, b)| **b > 0)
            .map(|(i, b)| (self.first + i as i64, *b))
    }
}

/// What a throughput series aggregates, within one class.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Scope {
    /// The whole class.
    Class,
    /// One network of the class (`None` = `unknown`).
    Network(Option<NetId>),
    /// One capture interface of the class (`None` = unnamed).
    Interface(Option<IfaceRef>),
    /// One 802.1Q VLAN id of the class.
    Vlan(u16),
}

/// Most (bin, interface) entries a flow keeps while its class may change;
/// beyond it the class is fixed (see `Analyzer`).
pub const PENDING_CAP: usize = 4096;

/// The VLAN tags of a packet (outer first), as a pending entry keeps them.
pub type Tags = ([u16; 3], u8);

/// Where a pending count was counted: a packet counts in its class and
/// networks, its interface and its VLANs; a later copy of a packet seen on
/// another NIC or with another tag (`place_only`) in that NIC or VLAN only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// Capture interface (`None` = unnamed; for a copy, none credited).
    pub iface: Option<IfaceRef>,
    /// VLAN tags counted.
    pub tags: Tags,
    /// A later copy: not in the class and network totals.
    pub place_only: bool,
}

/// A flow's own bytes per (bin, interface, VLAN tags), kept only while its
/// class may still change, so that a change moves exactly what was counted.
#[derive(Clone, Debug, Default)]
pub struct Pending {
    entries: Vec<(i64, Counted, u64)>,
}

impl Pending {
    /// Counts a packet; false when the cap is reached (nothing counted).
    pub fn add(&mut self, bin: i64, what: Counted, bytes: u64) -> bool {
        // Packets of one flow arrive in time order: the last entry is the
        // usual one (a flow seen on two NICs alternates between two).
        let tail = self.entries.len().saturating_sub(2);
        if let Some(e) = self.entries[tail..]
            .iter_mut()
            .rev()
            .find(|e| e.0 == bin && e.1 == what)
        {
            e.2 += bytes;
            return true;
        }
        if self.entries.len() >= PENDING_CAP {
            return false;
        }
        self.entries.push((bin, what, bytes));
        true
    }

    /// Entries kept (bounded by [`PENDING_CAP`]).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Every throughput series, by (class, scope). Bins are epoch-aligned so
/// that captures of several files and hosts line up.
#[derive(Debug)]
pub struct Stats {
    bin_ns: i64,
    enabled: bool,
    series: Vec<Series>,
    index: FxHashMap<(ClassId, Scope), u32>,
}

impl Stats {
    /// Series of `bin_ns` bins; a disabled `Stats` (the daemon) keeps none.
    pub fn new(bin_ns: i64, enabled: bool) -> Self {
        Stats {
            bin_ns: bin_ns.max(1),
            enabled,
            series: Vec::new(),
            index: FxHashMap::default(),
        }
    }

    /// Bin length in nanoseconds.
    pub fn bin_ns(&self) -> i64 {
        self.bin_ns
    }

    /// Whether series are kept.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The bin holding `ts`.
    pub fn bin_of(&self, ts: Timestamp) -> i64 {
        ts.0.div_euclid(self.bin_ns)
    }

    /// The id of the series of (class, scope), created on first use.
    pub fn id(&mut self, class: ClassId, scope: Scope) -> u32 {
        let (series, bin_ns) = (&mut self.series, self.bin_ns);
        *self.index.entry((class, scope)).or_insert_with(|| {
            series.push(Series::new(bin_ns));
            series.len() as u32 - 1
        })
    }

    /// Counts a packet in series `id`.
    #[inline]
    pub fn add(&mut self, id: u32, bin: i64, wire_len: u32) {
        if let Some(s) = self.series.get_mut(id as usize) {
            s.add_bin(bin, u64::from(wire_len));
        }
    }

    /// Moves a flow's counts from class `from` to class `to`, in the same
    /// bins, for its networks, interfaces and VLANs.
    pub fn move_flow(&mut self, from: ClassId, to: ClassId, nets: &[Option<NetId>], p: &Pending) {
        let mut scopes: Vec<Scope> = vec![Scope::Class];
        scopes.extend(nets.iter().map(|n| Scope::Network(*n)));
        for &(bin, what, bytes) in &p.entries {
            let (tags, n) = what.tags;
            let vlans = tags[..usize::from(n)].iter().map(|v| Scope::Vlan(*v));
            let totals = if what.place_only {
                &[][..]
            } else {
                &scopes[..]
            };
            let iface = match (what.place_only, what.iface) {
                (true, None) => None,
                (_, i) => Some(Scope::Interface(i)),
            };
            for scope in totals.iter().copied().chain(iface).chain(vlans) {
                let old = self.id(from, scope);
                self.series[old as usize].sub_bin(bin, bytes);
                let new = self.id(to, scope);
                self.series[new as usize].add_bin(bin, bytes);
            }
        }
    }

    /// The series of a (class, scope), if any packet fed it.
    pub fn series(&self, class: ClassId, scope: Scope) -> Option<&Series> {
        self.index
            .get(&(class, scope))
            .and_then(|i| self.series.get(*i as usize))
    }

    /// Every (class, scope) with a series.
    pub fn keys(&self) -> impl Iterator<Item = &(ClassId, Scope)> {
        self.index.keys()
    }

    /// Bins held over all series (bounded memory checks).
    pub fn retained_bins(&self) -> usize {
        self.series.iter().map(|s| s.bins.len() + 1).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_bins_inside_the_span_count() {
        let mut s = Series::new(1_000_000_000);
        // 1000 bytes in second 10, nothing in 11..=13, 3000 bytes in second 14.
        s.add(Timestamp(10_000_000_000), 600);
        s.add(Timestamp(10_500_000_000), 400);
        s.add(Timestamp(14_999_999_999), 3000);
        let t = s.throughput();
        assert_eq!((t.bins, t.bin_ms, t.max), (5, 1000, 24_000));
        // Sorted bps: 0, 0, 0, 8000, 24000 → nearest rank.
        assert_eq!(t.p50, 0);
        // HdrHistogram would say 24 015 (above the max): clamped.
        assert_eq!((h3(24_000), t.p90), (24_015, 24_000));
        assert_eq!(s.bins().values().sum::<u64>(), 4000);
    }

    #[test]
    fn percentiles_never_exceed_the_max() {
        // One busy second: 403 474 480 bit/s, which HdrHistogram at 3 digits
        // would report as 403 701 759 (seen in an audit).
        let mut s = Series::new(1_000_000_000);
        s.add(Timestamp(0), 403_474_480 / 8);
        let t = s.throughput();
        assert_eq!(t.max, 403_474_480);
        assert_eq!(h3(t.max), 403_701_759);
        assert_eq!((t.p50, t.p99), (t.max, t.max));
    }

    fn points(s: &FlowSeries) -> Vec<(i64, u64)> {
        s.active().collect()
    }

    #[test]
    fn a_short_flow_keeps_the_report_bins() {
        let mut s = FlowSeries::default();
        for (bin, bytes) in [(100, 5), (100, 7), (103, 1), (99, 2)] {
            s.add(bin, bytes);
        }
        assert_eq!(s.shift(), 0);
        assert_eq!(points(&s), [(99, 2), (100, 12), (103, 1)]);
    }

    #[test]
    fn a_long_flow_merges_points_in_pairs_aligned_to_the_epoch() {
        let mut s = FlowSeries::default();
        // One byte in each of bins 10..=209: 200 bins need 4 bins a point
        // (points 2..=52, the first and last half full).
        for bin in 10..210 {
            s.add(bin, 1);
        }
        assert_eq!(s.shift(), 2);
        let p = points(&s);
        assert!(p.len() <= FLOW_POINTS);
        assert_eq!(p.first(), Some(&(2, 2)));
        assert_eq!(p.last(), Some(&(52, 2)));
        assert!(p[1..p.len() - 1].iter().all(|(_, b)| *b == 4));
        assert_eq!(p.iter().map(|(_, b)| b).sum::<u64>(), 200);
        // A packet far earlier (another capture of the same flow) still fits.
        s.add(-1000, 9);
        assert!(s.active().count() <= FLOW_POINTS);
        assert_eq!(s.active().map(|(_, b)| b).sum::<u64>(), 209);
        assert_eq!(s.active().next(), Some((-1000 >> s.shift(), 9)));
    }

    /// HdrHistogram reports the highest value equivalent to v at 3 digits.
    fn h3(v: u64) -> u64 {
        let mut h = Histogram::<u64>::new(3).unwrap();
        h.record(v).unwrap();
        h.value_at_quantile(1.0)
    }
}
