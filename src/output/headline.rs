//! The verdict and its one-line reason, computed once so that the text
//! report's first line, the HTML banner and the JSON `summary` say the
//! same thing. A failing run is summarised by (class, place) pairs with
//! their flow counts, the pairs with the most bytes first, at most
//! [`PLACES_SHOWN`] of them: a capture with a thousand violating flows
//! still gets a short line.

use std::collections::BTreeMap;

use analyzer::report::{Verdict, Violation};

use super::model::Document;

/// (class, place) pairs named in a failing summary; the rest are counted.
pub const PLACES_SHOWN: usize = 3;

/// The verdict and why, in one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headline {
    /// `PASS`, `FAIL`, `INCONCLUSIVE` or `ERROR`.
    pub word: &'static str,
    /// The verdict (`None` for ERROR: nothing could be read).
    pub verdict: Option<Verdict>,
    /// The reason: `2 violations (2 × dpm on primary)`.
    pub summary: String,
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Where a violation broke the policy, as the summary names it.
pub fn place(x: &Violation) -> String {
    match (x.vlan, &x.interface, x.by_address) {
        (Some(v), _, false) => format!("{} on VLAN {v}", x.class),
        (None, Some(i), false) => format!("{} on interface {i}", x.class),
        _ => format!("{} on {}", x.class, x.network),
    }
}

/// `2 × dpm on primary, client on unknown, 7 more in 3 other places`.
fn places(violations: &[Violation]) -> Vec<String> {
    let mut groups: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    for x in violations {
        let g = groups.entry(place(x)).or_default();
        g.0 += 1;
        g.1 += x.bytes;
    }
    let mut groups: Vec<(String, (usize, u64))> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(&b.0)));
    let mut out: Vec<String> = groups
        .iter()
        .take(PLACES_SHOWN)
        .map(|(what, (n, _))| match n {
            1 => what.clone(),
            n => format!("{n} × {what}"),
        })
        .collect();
    let rest = &groups[groups.len().min(PLACES_SHOWN)..];
    if !rest.is_empty() {
        let flows: usize = rest.iter().map(|(_, (n, _))| n).sum();
        out.push(format!(
            "{flows} more in {} other place{}",
            rest.len(),
            plural(rest.len())
        ));
    }
    out
}

impl Document {
    /// The JSON spelling of the verdict: `pass`, `fail`, `inconclusive`, `error`.
    pub fn verdict_name(&self) -> &'static str {
        match self.error {
            Some(_) => "error",
            None => self.verdict.as_str(),
        }
    }

    /// The verdict and its one-line reason.
    pub fn headline(&self) -> Headline {
        if let Some(e) = &self.error {
            return Headline {
                word: "ERROR",
                verdict: None,
                summary: e.clone(),
            };
        }
        let (word, summary) = match self.verdict {
            Verdict::Fail => ("FAIL", self.fail_summary()),
            Verdict::Inconclusive => ("INCONCLUSIVE", self.reasons.join("; ")),
            Verdict::Pass if self.warnings.is_empty() => (
                "PASS",
                "every class stayed on its allowed networks".to_string(),
            ),
            Verdict::Pass => (
                "PASS",
                format!(
                    "no violation, {} warning{}",
                    self.warnings.len(),
                    plural(self.warnings.len())
                ),
            ),
        };
        Headline {
            word,
            verdict: Some(self.verdict),
            summary,
        }
    }

    /// DNS answers that broke a rule, those past the cap a report keeps
    /// included.
    fn dns_violation_count(&self) -> usize {
        let dropped = usize::try_from(self.dns_violations_dropped).unwrap_or(usize::MAX);
        self.dns_violations.len().saturating_add(dropped)
    }

    /// Every violation the verdict counts: one per violating flow and one
    /// per DNS answer breaking a rule. The banner and every other count of
    /// a report (the HTML overview line) say this number.
    pub fn violation_count(&self) -> usize {
        self.violations
            .len()
            .saturating_add(self.dns_violation_count())
    }

    /// `3 violations (2 × dpm on primary, 1 DNS answer breaking a rule)`.
    fn fail_summary(&self) -> String {
        let mut what = places(&self.violations);
        let dns = self.dns_violation_count();
        if dns > 0 {
            what.push(format!("{dns} DNS answer{} breaking a rule", plural(dns)));
        }
        let n = self.violation_count();
        format!("{n} violation{} ({})", plural(n), what.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(class: &str, network: &str, iface: Option<&str>, bytes: u64) -> Violation {
        Violation {
            class: class.into(),
            reasons: vec![],
            network: network.into(),
            interface: iface.map(str::to_string),
            vlan: None,
            by_address: iface.is_none(),
            proto: 6,
            src: [10, 0, 0, 1].into(),
            sport: 1,
            dst: [10, 0, 0, 2].into(),
            dport: 2,
            bytes,
            packets: 1,
            first_seen: capture::Timestamp(0),
            last_seen: capture::Timestamp(0),
            community_id: String::new(),
            class_reason: String::new(),
            evidence: vec![],
            explanation: None,
            tunnel: vec![],
            series: Default::default(),
        }
    }

    #[test]
    fn many_violating_flows_make_a_short_line() {
        let mut v: Vec<Violation> = (0..500)
            .map(|i| violation("client", "unknown", None, 100 + i))
            .collect();
        v.push(violation("dpm", "primary", None, 1_000_000));
        v.push(violation("dpm", "primary", None, 1_000_000));
        v.push(violation("dpm", "backup", Some("eth0"), 10));
        v.push(violation("cluster", "lm", None, 5));
        v.push(violation("iscsi", "lm", None, 4));
        assert_eq!(
            places(&v),
            [
                "2 × dpm on primary",
                "500 × client on unknown",
                "dpm on interface eth0",
                "2 more in 2 other places"
            ]
        );
    }
}
