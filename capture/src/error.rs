use std::io;

/// Errors of a capture source. End of input is not an error (`Ok(None)`),
/// and neither is a truncated tail (see [`crate::SourceStats::truncated`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input does not start with a pcap or pcapng magic number.
    #[error("{source_name}: not a capture file (neither pcap nor pcapng; first bytes {magic})")]
    UnknownFormat {
        /// The source's label (path or `-`).
        source_name: String,
        /// The first bytes, in hex, for the message.
        magic: String,
    },
    /// The input ends (or is unreadable) before a complete file header.
    #[error("{source_name}: not a capture file ({reason})")]
    BadHeader {
        /// The source's label.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// Opening a live interface was refused for lack of privileges.
    #[error("{device}: permission denied: live capture needs CAP_NET_RAW and CAP_NET_ADMIN; run as root or grant them once with `sudo setcap cap_net_raw,cap_net_admin=eip $(command -v lanecheck)`")]
    Permission {
        /// The interface.
        device: String,
    },
    /// A live interface could not be opened or read.
    #[error("{device}: {message}")]
    Live {
        /// The interface.
        device: String,
        /// libpcap's message.
        message: String,
    },
    /// Writing a capture file failed.
    #[error("{path}: write failed: {message}")]
    Write {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
    /// Reading failed.
    #[error("{source_name}: read failed at byte {offset}")]
    Read {
        /// The source's label.
        source_name: String,
        /// Absolute byte offset where the read was attempted.
        offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}
