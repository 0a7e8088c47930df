//! What a run must have seen to say PASS: the `--expect`ed classes with
//! `--min-bytes` each, and at least one packet judged (an IP packet of a
//! flow). A verifier never says PASS about traffic it did not see.

use analyzer::class::ClassId;
use analyzer::policy::Policy;
use analyzer::report::{Report, Verdict};
use anyhow::{Context, Result};

use crate::flags::ExpectArgs;
use crate::pipeline::parse_size;

/// The expected classes (validated against the policy) and the byte floor.
pub struct Expect {
    classes: Vec<ClassId>,
    min_bytes: u64,
}

impl Expect {
    /// Reads `--expect` and `--min-bytes`.
    pub fn new(args: &ExpectArgs, policy: &Policy) -> Result<Expect> {
        let mut classes = args
            .expect
            .iter()
            .map(|c| {
                policy.class_id(c).with_context(|| {
                    let names: Vec<&str> = policy.classes.iter().map(|c| c.name.as_str()).collect();
                    format!(
                        "--expect {c}: no such class (classes: {})",
                        names.join(", ")
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        classes.sort();
        classes.dedup();
        let min_bytes = parse_size(&args.min_bytes).context("--min-bytes")?;
        Ok(Expect { classes, min_bytes })
    }

    /// The expected classes.
    pub fn classes(&self) -> &[ClassId] {
        &self.classes
    }

    /// What a PASS would not prove, whatever the traffic: a policy that
    /// judges nothing (no class networks, retired network or DNS rule:
    /// nothing can break it), an expected class the
    /// policy does not restrict (seen, but anywhere), and (`verify`) no
    /// `--expect` at all (nothing had to be seen).
    pub fn caveats(&self, policy: &Policy, verify: bool) -> Vec<String> {
        let mut out = Vec::new();
        let restricted = |c: &&ClassId| {
            policy
                .classes
                .get(usize::from(c.0))
                .is_some_and(|c| c.networks.is_some())
        };
        let judges = policy.classes.iter().any(|c| c.networks.is_some())
            || !policy.retired.is_empty()
            || !policy.dns.is_empty();
        if !judges {
            out.push(
                "the policy restricts no class (no [classes.NAME] networks, no retired network, no [[dns]] rule): no traffic can break it".to_string(),
            );
        } else {
            for c in self.classes.iter().filter(|c| !restricted(c)) {
                out.push(format!(
                    "--expect {0}: the policy does not restrict {0} (no [classes.{0}] networks): it must be seen, on any network",
                    policy.class_name(*c)
                ));
            }
        }
        if verify && self.classes.is_empty() {
            out.push(
                "no --expect: a PASS says no traffic seen broke the policy, not that the job's traffic was seen (name its class with --expect)".to_string(),
            );
        }
        out
    }

    /// Why the run is inconclusive: expected classes not seen with enough
    /// bytes, no packet at all (`packets` read in all), or none that
    /// carried traffic the policy judges.
    pub fn missing(&self, report: &Report, policy: &Policy, packets: u64) -> Vec<String> {
        let mut reasons = Vec::new();
        let judged: u64 = report.classes.iter().map(|c| c.packets).sum();
        if packets == 0 {
            reasons.push("no packet was read: nothing to verify".to_string());
        } else if judged == 0 {
            reasons.push(format!(
                "none of the {packets} packets read was an IP packet lanecheck could decode: nothing to verify (see each capture's undecoded and non-IP counts)"
            ));
        }
        for class in &self.classes {
            let name = policy.class_name(*class);
            let (seen, unsure, twice) = report
                .classes
                .iter()
                .find(|c| c.class == name)
                .map_or((0, 0, 0), |c| {
                    (c.bytes, c.possible_copy_bytes, c.twice_bytes)
                });
            let certain = seen.saturating_sub(unsure).saturating_sub(twice);
            if seen < self.min_bytes {
                reasons.push(format!(
                    "expected class {name} was not seen with at least {} bytes (saw {seen})",
                    self.min_bytes
                ));
            } else if seen.saturating_sub(unsure) < self.min_bytes {
                // The copies that could not be told from new bytes decide.
                reasons.push(format!(
                    "expected class {name} reached {} bytes only counting {unsure} bytes that may be copies of packets already counted (saw {seen}, certain {certain})",
                    self.min_bytes,
                ));
            } else if certain < self.min_bytes {
                // A conversation captured at two places counted twice.
                reasons.push(format!(
                    "expected class {name} reached {} bytes only counting {twice} bytes of TCP connections captured twice (their SYN was in an earlier capture; saw {seen}, certain {certain})",
                    self.min_bytes,
                ));
            }
        }
        reasons
    }
}

/// A proven violation wins; otherwise any reason makes the run inconclusive.
pub fn verdict(report: &Report, reasons: &[String]) -> Verdict {
    match (report.verdict, reasons.is_empty()) {
        (Verdict::Fail, _) => Verdict::Fail,
        (_, false) => Verdict::Inconclusive,
        _ => Verdict::Pass,
    }
}
