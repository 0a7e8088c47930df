//! The progress bar of long audits: on stderr, only when stderr is a
//! terminal and the captures are large; bytes read of the total, packets
//! per second and the time left. A pipe or a file never gets one, so logs
//! and CI output stay clean.

use std::io::{IsTerminal, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A progress bar, or nothing. Cheap to feed: the bar advances with each
/// read of the file (about 1 MiB), and packets are counted in batches.
pub struct Progress {
    bar: Option<ProgressBar>,
    packets: Arc<AtomicU64>,
}

impl Progress {
    /// No bar.
    pub fn hidden() -> Self {
        Progress {
            bar: None,
            packets: Arc::default(),
        }
    }

    /// A bar over `total` bytes, shown when stderr is a terminal and
    /// `total` reaches `threshold`; `None` (size unknown, e.g. standard
    /// input) never shows one.
    pub fn for_input(what: &str, total: Option<u64>, threshold: u64) -> Self {
        match total {
            Some(t) if t >= threshold && std::io::stderr().is_terminal() => Self::bar(what, t),
            _ => Self::hidden(),
        }
    }

    fn bar(what: &str, total: u64) -> Self {
        let packets: Arc<AtomicU64> = Arc::default();
        let counted = Arc::clone(&packets);
        let style = ProgressStyle::with_template(
            "{prefix} [{wide_bar}] {binary_bytes}/{binary_total_bytes}, {packets}, ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "packets",
            move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let n = counted.load(Ordering::Relaxed);
                let secs = s.elapsed().as_secs_f64().max(0.001);
                let _ = write!(w, "{n} packets, {:.0} packets/s", n as f64 / secs);
            },
        )
        .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_prefix(what.to_string());
        // Drawn once now (a bar with a ticker is drawn only by the ticker,
        // which might not run before a short read ends), then kept fresh
        // (ETA, rates) by the ticker, also while a read is slow.
        bar.tick();
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar: Some(bar),
            packets,
        }
    }

    /// `rd`, advancing the bar by the bytes read through it.
    pub fn wrap(&self, rd: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
        match &self.bar {
            Some(b) => Box::new(b.wrap_read(rd)),
            None => rd,
        }
    }

    /// Counts `n` more packets.
    #[inline]
    pub fn packets(&self, n: u64) {
        if self.bar.is_some() {
            self.packets.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Starts the bar again from zero (the captures are read a second time).
    pub fn restart(&self) {
        if let Some(b) = &self.bar {
            b.set_position(0);
        }
        self.packets.store(0, Ordering::Relaxed);
    }

    /// Removes the bar, so the report that follows starts on a clean line.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The total size of `paths` when every one is a regular file (a pipe or
/// standard input has no size to measure progress against).
pub fn total_size<'a>(paths: impl IntoIterator<Item = &'a str>) -> Option<u64> {
    paths.into_iter().try_fold(0u64, |sum, p| {
        let m = std::fs::metadata(p)
            .ok()
            .filter(|m| m.is_file() && p != "-")?;
        Some(sum + m.len())
    })
}
