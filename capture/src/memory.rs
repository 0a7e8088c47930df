//! Frames from memory, for tests and fuzzing.

use crate::{Error, Frame, FrameSource, Interface, OwnedFrame, SourceStats};

/// Yields the frames it was given, in order.
#[derive(Debug, Default)]
pub struct MemorySource {
    frames: Vec<OwnedFrame>,
    interfaces: Vec<Interface>,
    next: usize,
    stats: SourceStats,
}

impl MemorySource {
    /// A source over `frames`, whose `iface` fields index `interfaces`.
    pub fn new(frames: Vec<OwnedFrame>, interfaces: Vec<Interface>) -> Self {
        Self {
            frames,
            interfaces,
            next: 0,
            stats: SourceStats::default(),
        }
    }
}

impl FrameSource for MemorySource {
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error> {
        let Some(f) = self.frames.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        self.stats.frames += 1;
        self.stats.wire_bytes += u64::from(f.wire_len);
        Ok(Some(f.as_frame()))
    }
    fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }
    fn stats(&self) -> SourceStats {
        self.stats.clone()
    }
}
