//! Durations as policies and flags spell them. A file of its own, with
//! nothing but `anyhow` and `humantime`, so the policy parser that uses it
//! (`config.rs`) can be compiled into the fuzz targets by path.

use anyhow::{bail, Context, Result};

/// Parses a duration: `500ms`, `60s`, `2m`, `1h`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(std::time::Duration::from_secs_f64(secs));
        }
        bail!("invalid duration {s:?}: must be a non-negative number of seconds");
    }
    humantime::parse_duration(t)
        .with_context(|| format!("invalid duration {s:?} (examples: 500ms, 60s, 2m, 1h)"))
}
