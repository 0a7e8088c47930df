//! Merging reports of captures audited apart (`lanecheck merge`): class
//! totals and their per-bin series add up, percentiles are computed again
//! from the summed series, lists are concatenated in the order the parts
//! are given and capped as one run caps them, findings merge before they
//! become warnings. Every step is what one run over all the captures, in
//! the same order, computes, as long as no flow, learned endpoint or DNS
//! query spans two parts (see docs/deployment.md).

use std::collections::BTreeMap;

use crate::analyzer::DNS_VIOLATIONS_CAP;
use crate::evidence::learned::HISTORY_CAP;
use crate::report::{Bins, ClassSummary, Share, Verdict, Violation};
use crate::stats::throughput;
use crate::{CaptureId, Report};

impl Report {
    /// The report of all `parts` together; each part comes with the number
    /// of captures it read (its DNS violations' capture ids are offset by
    /// the captures of the parts before it).
    pub fn merge(parts: Vec<(Report, u32)>) -> Report {
        let mut parts = parts.into_iter();
        let Some((mut all, mut captures)) = parts.next() else {
            return Report::empty();
        };
        for (part, n) in parts {
            all.absorb(part, captures);
            captures += n;
        }
        all.finish();
        all
    }

    fn empty() -> Report {
        Report {
            verdict: Verdict::Pass,
            classes: Vec::new(),
            violations: Vec::new(),
            warnings: Vec::new(),
            findings: Default::default(),
            learned_endpoints: Vec::new(),
            gave_up: Vec::new(),
            dns_violations: Vec::new(),
            dns_violations_dropped: 0,
        }
    }

    /// Adds a later part, whose captures are numbered from `offset`.
    fn absorb(&mut self, part: Report, offset: u32) {
        for c in part.classes {
            match self.classes.iter_mut().find(|x| x.class == c.class) {
                Some(mine) => add_class(mine, c),
                None => self.classes.push(c),
            }
        }
        self.violations.extend(part.violations);
        self.findings.absorb(part.findings);
        self.learned_endpoints.extend(part.learned_endpoints);
        self.learned_endpoints.truncate(HISTORY_CAP);
        let mut gave_up: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (p, r, n) in self.gave_up.drain(..).chain(part.gave_up) {
            let g = gave_up.entry((p, r)).or_default();
            *g = g.saturating_add(n);
        }
        self.gave_up = gave_up.into_iter().map(|((p, r), n)| (p, r, n)).collect();
        self.dns_violations_dropped = self
            .dns_violations_dropped
            .saturating_add(part.dns_violations_dropped);
        for mut d in part.dns_violations {
            if self.dns_violations.len() < DNS_VIOLATIONS_CAP {
                d.capture = CaptureId(d.capture.0.saturating_add(offset));
                self.dns_violations.push(d);
            } else {
                self.dns_violations_dropped = self.dns_violations_dropped.saturating_add(1);
            }
        }
    }

    /// Orders what was concatenated as one run orders it, and words the
    /// merged findings.
    fn finish(&mut self) {
        self.violations.sort_by(Violation::order);
        self.classes
            .sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.class.cmp(&b.class)));
        self.warnings = self.findings.warnings();
        self.verdict = if self.violations.is_empty() && self.dns_violations.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
    }
}

fn add_class(mine: &mut ClassSummary, c: ClassSummary) {
    // Saturating: the parts come from files.
    mine.flows = mine.flows.saturating_add(c.flows);
    mine.packets = mine.packets.saturating_add(c.packets);
    mine.bytes = mine.bytes.saturating_add(c.bytes);
    mine.super_frames = mine.super_frames.saturating_add(c.super_frames);
    mine.possible_copy_bytes = mine
        .possible_copy_bytes
        .saturating_add(c.possible_copy_bytes);
    mine.twice_bytes = mine.twice_bytes.saturating_add(c.twice_bytes);
    add_bins(&mut mine.series, c.series);
    if !mine.series.active.is_empty() {
        mine.throughput = throughput(mine.series.bin_ns, &mine.series.active);
    }
    add_shares(&mut mine.networks, c.networks);
    add_shares(&mut mine.interfaces, c.interfaces);
    add_shares(&mut mine.vlans, c.vlans);
    let by_bytes = |a: &Share, b: &Share| b.bytes.cmp(&a.bytes).then(a.name.cmp(&b.name));
    mine.networks.sort_by(by_bytes);
    mine.interfaces.sort_by(by_bytes);
    // VLANs in id order, as a report lists them.
    mine.vlans.sort_by_key(|s| s.name.parse::<u16>().ok());
}

fn add_shares(mine: &mut Vec<Share>, theirs: Vec<Share>) {
    for s in theirs {
        match mine.iter_mut().find(|x| x.name == s.name) {
            Some(x) => {
                x.packets = x.packets.saturating_add(s.packets);
                x.bytes = x.bytes.saturating_add(s.bytes);
                x.status = x.status.max(s.status);
                add_bins(&mut x.series, s.series);
                if !x.series.active.is_empty() {
                    x.throughput = throughput(x.series.bin_ns, &x.series.active);
                }
            }
            None => mine.push(s),
        }
    }
}

/// Sums two series of the same bins (in bin order, each bin once, even
/// when a part's file lists them otherwise).
fn add_bins(mine: &mut Bins, theirs: Bins) {
    if theirs.active.is_empty() {
        return;
    }
    if mine.active.is_empty() {
        mine.bin_ns = theirs.bin_ns;
    }
    let mut sum: BTreeMap<i64, u64> = BTreeMap::new();
    for (bin, bytes) in mine.active.drain(..).chain(theirs.active) {
        let b = sum.entry(bin).or_default();
        *b = b.saturating_add(bytes);
    }
    mine.active = sum.into_iter().collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Status;
    use crate::stats::Throughput;

    fn share(name: &str, bytes: u64, status: Status, bins: &[(i64, u64)]) -> Share {
        let series = Bins {
            bin_ns: 1_000_000_000,
            active: bins.to_vec(),
        };
        Share {
            name: name.into(),
            packets: 1,
            bytes,
            status,
            throughput: throughput(series.bin_ns, &series.active),
            series,
        }
    }

    fn part(shares: Vec<Share>, vlans: Vec<Share>) -> Report {
        let mut r = Report::empty();
        r.classes.push(ClassSummary {
            class: "dpm".into(),
            flows: 1,
            packets: 1,
            bytes: shares.iter().map(|s| s.bytes).sum(),
            networks: shares,
            interfaces: Vec::new(),
            vlans,
            throughput: Throughput::default(),
            series: Bins::default(),
            super_frames: 0,
            possible_copy_bytes: 0,
            twice_bytes: 0,
        });
        r
    }

    #[test]
    fn shares_of_one_place_add_up_with_the_worst_status() {
        let a = part(
            vec![share("backup", 100, Status::Violation, &[(10, 100)])],
            vec![share("30", 5, Status::Preferred, &[(10, 5)])],
        );
        let b = part(
            vec![
                share("backup", 300, Status::Preferred, &[(10, 50), (12, 250)]),
                share("primary", 500, Status::Fallback, &[(11, 500)]),
            ],
            vec![share("4", 7, Status::Preferred, &[(12, 7)])],
        );
        let m = Report::merge(vec![(a, 1), (b, 1)]);
        let c = &m.classes[0];
        let names: Vec<&str> = c.networks.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["primary", "backup"], "by bytes");
        let backup = &c.networks[1];
        assert_eq!((backup.bytes, backup.status), (400, Status::Violation));
        assert_eq!(backup.series.active, [(10, 150), (12, 250)]);
        assert_eq!(backup.throughput.bins, 3);
        assert_eq!(backup.throughput.max, 2_000);
        let vlans: Vec<&str> = c.vlans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(vlans, ["4", "30"], "by id");
        assert_eq!((c.flows, c.bytes), (2, 900));
    }
}
