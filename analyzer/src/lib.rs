//! # analyzer: what the traffic means
//!
//! The pipeline: [`decode`] (link → IP → transport fields) → [`flow`]
//! (bidirectional, bounded flow table) → classification, policy and
//! statistics (later layers) → plain-data reports.
//!
//! **Invariants**
//! - Pure: no I/O, no wall clock. Packet time drives expiry, so the same
//!   frames in the same order always give the same result.
//! - Every frame is accounted for: its innermost level is in a flow,
//!   counted as non-IP, or counted as undecoded under a `layer: reason` key;
//!   a tunnel's outer levels are counted besides (an overlay's in its
//!   `tunnel` flow, ERSPAN's as mirror transport). A later IP fragment that
//!   came before its first fragment is held (at most 30 s of packet time,
//!   [`HELD_CAP`] at once) and counted once, in that flow or, given up, as
//!   an orphan; [`Analyzer::end_of_input`] gives up those still held.
//! - Byte counts are original wire lengths, whatever the snaplen.
//!
//! ```
//! use analyzer::{Analyzer, AnalyzerConfig};
//! use capture::{FileSource, FrameSource};
//! let bytes = include_bytes!("../../fixtures/vlan_dpm.pcap");
//! let mut src = FileSource::new("vlan_dpm.pcap", &bytes[..], None).unwrap();
//! let mut an = Analyzer::new(AnalyzerConfig::default());
//! let cap = an.add_capture("vlan_dpm.pcap");
//! while let Some(frame) = src.next_frame().unwrap() {
//!     an.observe(&frame, cap, None);
//! }
//! an.end_of_input(&mut ()); // later IP fragments still held for their first
//! let flows: u64 = an.flows().map(|f| f.total_packets()).sum();
//! assert!(flows <= src.stats().frames);
//! ```

mod analyzer;
pub mod class;
pub mod classify;
pub mod decode;
pub mod dedup;
pub mod evidence;
pub mod findings;
pub mod flow;
mod merge;
mod nics;
pub mod policy;
pub mod report;
pub mod size;
pub mod state;
pub mod stats;

pub use analyzer::{
    describe, Analyzer, AnalyzerConfig, CaptureCounters, CaptureId, IfaceRef, Late, LateFrame,
    Reach, Retained, DNS_VIOLATIONS_CAP, FRAGMENT_CAP, HELD_CAP, SYN_CAP,
};
pub use nics::{NicFindings, NicKeyFinding};
pub use report::Report;
pub use stats::Scope;
