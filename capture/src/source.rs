//! The one trait every source implements.

use crate::{Error, Frame, Interface};

/// A stream of frames. `Ok(None)` is the end of input; a truncated tail also
/// ends with `Ok(None)` and is reported in [`SourceStats::truncated`].
pub trait FrameSource {
    /// The next frame, borrowed until the next call.
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error>;
    /// The interfaces seen so far; a frame's `iface` indexes this table.
    fn interfaces(&self) -> &[Interface];
    /// Counters so far.
    fn stats(&self) -> SourceStats;
}

/// A capture file being read (directly, or framed on a thread of its
/// own): frames, and what the file says of its writer so far.
pub trait CaptureFile: FrameSource {
    /// The program that wrote the file, as far as it has said so far.
    fn producer(&self) -> crate::Producer;
    /// The first section's `shb_userappl`, verbatim.
    fn application(&self) -> Option<&str>;
}

/// Where and why a capture stopped early.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Truncation {
    /// Byte offset of the first record (or block) that could not be read.
    pub offset: u64,
    /// What was wrong there.
    pub reason: String,
}

/// Counters of a source.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SourceStats {
    /// Frames yielded.
    pub frames: u64,
    /// Sum of the yielded frames' wire lengths.
    pub wire_bytes: u64,
    /// Set when the input ended inside a record or held an impossible one.
    pub truncated: Option<Truncation>,
    /// Packets the kernel dropped (live sources; 0 for files).
    pub kernel_drops: u64,
    /// Packets the interface dropped (live sources; 0 for files).
    pub iface_drops: u64,
    /// Notes about odd but readable input (unknown block types, skipped records).
    pub warnings: Vec<String>,
}
