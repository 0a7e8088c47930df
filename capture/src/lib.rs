//! # capture: where bytes come from
//!
//! The first layer of lanecheck. It turns capture files (classic pcap in
//! both byte orders, µs/ns resolution and the "modified" format; pcapng with
//! any number of sections and interfaces) into a stream of [`Frame`]s:
//! timestamp, capture interface, link type, original wire length and the
//! captured bytes. It does no decoding and knows nothing of policy.
//!
//! **Invariants**
//! - Streaming: a [`FileSource`] holds one read buffer whose size depends on
//!   the largest record, never on the file size.
//! - Nothing read is lost: a cut or corrupt tail ends the stream with
//!   `Ok(None)` and [`SourceStats::truncated`] names the byte offset of the
//!   first record that could not be read; every frame before it was yielded.
//! - End of input is `Ok(None)`, never an error. Errors are I/O failures and
//!   inputs that are not captures at all.
//! - No `unsafe`, no panics on any input (property-tested).
//!
//! ```
//! use capture::{FileSource, FrameSource};
//! let bytes = include_bytes!("../../fixtures/vlan_dpm.pcap");
//! let mut src = FileSource::new("vlan_dpm.pcap", &bytes[..], None).unwrap();
//! let mut n = 0;
//! while let Some(frame) = src.next_frame().unwrap() {
//!     assert!(frame.wire_len as usize >= frame.data.len());
//!     n += 1;
//! }
//! assert_eq!(n, src.stats().frames);
//! ```

mod blocks;
mod error;
mod file;
mod frame;
mod framed;
mod live;
mod memory;
mod pool;
mod producer;
mod source;
mod writer;

pub use error::Error;
pub use file::{FileFormat, FileSource};
pub use frame::{Frame, IfaceId, Interface, LinkType, OwnedFrame, Timestamp};
pub use framed::{FramedSource, Opening};
pub use live::{
    system_ifaces, LiveConfig, LiveNic, LiveSource, NicCounters, NicSlot, Poll, SystemIface,
};
pub use memory::MemorySource;
pub use producer::{etl2pcapng_ifindex, is_npf, Producer};
pub use source::{CaptureFile, FrameSource, SourceStats, Truncation};
pub use writer::PcapNgOut;
