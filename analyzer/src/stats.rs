//! Throughput over time: wire bytes per bin (bins aligned to the Unix
//! epoch), percentiles over every bin from the first active one to the
//! last, idle bins included, with HdrHistogram at 3 significant digits.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use capture::Timestamp;

/// Bytes per bin for one (class, scope).
#[derive(Clone, Debug)]
pub struct Series {
    bin_ns: i64,
    /// The bin being filled (packets mostly arrive in time order).
    current: Option<(i64, u64)>,
    bins: BTreeMap<i64, u64>,
    /// Packets counted.
    pub packets: u64,
    /// Wire bytes counted.
    pub bytes: u64,
}

/// Percentiles of a series' per-bin throughput, in bits per second.
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
            packets: 0,
            bytes: 0,
        }
    }

    /// Counts one packet.
    #[inline]
    pub fn add(&mut self, ts: Timestamp, wire_len: u32) {
        let bin = ts.0.div_euclid(self.bin_ns);
        self.packets += 1;
        self.bytes += u64::from(wire_len);
        match &mut self.current {
            Some((b, n)) if *b == bin => *n += u64::from(wire_len),
            cur => {
                if let Some((b, n)) = cur.take() {
                    *self.bins.entry(b).or_insert(0) += n;
                }
                *cur = Some((bin, u64::from(wire_len)));
            }
        }
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
        let bins = self.bins();
        let bin_ms = (self.bin_ns / 1_000_000).max(0) as u64;
        let (Some((&first, _)), Some((&last, _))) = (bins.first_key_value(), bins.last_key_value())
        else {
            return Throughput {
                bin_ms,
                ..Throughput::default()
            };
        };
        let span = (last - first + 1) as u64;
        let bps = |bytes: u64| -> u64 {
            (u128::from(bytes) * 8 * 1_000_000_000 / self.bin_ns as u128).min(u128::from(u64::MAX))
                as u64
        };
        let mut h = match Histogram::<u64>::new(3) {
            Ok(h) => h,
            Err(_) => return Throughput::default(),
        };
        let mut max = 0;
        for &bytes in bins.values() {
            let v = bps(bytes);
            max = max.max(v);
            if h.record(v).is_err() {
                h.saturating_record(v);
            }
        }
        let idle = span - bins.len() as u64;
        if idle > 0 {
            let _ = h.record_n(0, idle);
        }
        Throughput {
            bin_ms,
            bins: span,
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            max,
        }
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
        assert_eq!(t.p90, h3(24_000));
        assert_eq!(s.bytes, 4000);
    }

    /// HdrHistogram reports the highest value equivalent to v at 3 digits.
    fn h3(v: u64) -> u64 {
        let mut h = Histogram::<u64>::new(3).unwrap();
        h.record(v).unwrap();
        h.value_at_quantile(1.0)
    }
}
