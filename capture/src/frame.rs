//! The frame: what every source yields, borrowed from the source's buffer.

/// Link-layer type: an open newtype over the pcap LINKTYPE_ number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct LinkType(pub u16);

impl LinkType {
    /// BSD loopback: 4-byte address family in host byte order.
    pub const NULL: Self = Self(0);
    /// Ethernet II (and 802.3).
    pub const ETHERNET: Self = Self(1);
    /// Raw IP, the value some BSDs write (DLT_RAW = 12 / 14).
    pub const RAW_BSD12: Self = Self(12);
    /// Raw IP, OpenBSD's DLT_RAW value.
    pub const RAW_BSD14: Self = Self(14);
    /// Raw IPv4 or IPv6 (version nibble decides).
    pub const RAW: Self = Self(101);
    /// IEEE 802.11 without a radio header (etl2pcapng writes pktmon's
    /// Wi-Fi components so).
    pub const IEEE802_11: Self = Self(105);
    /// OpenBSD loopback: 4-byte address family in network byte order.
    pub const LOOP: Self = Self(108);
    /// Linux cooked capture v1 (16-byte header).
    pub const LINUX_SLL: Self = Self(113);
    /// Raw IPv4 only.
    pub const IPV4: Self = Self(228);
    /// Raw IPv6 only.
    pub const IPV6: Self = Self(229);
    /// Linux cooked capture v2 (20-byte header with interface index).
    pub const LINUX_SLL2: Self = Self(276);
}

impl std::fmt::Display for LinkType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match *self {
            Self::NULL => "NULL",
            Self::ETHERNET => "ETHERNET",
            Self::RAW_BSD12 | Self::RAW_BSD14 | Self::RAW => "RAW",
            Self::IEEE802_11 => "IEEE802_11",
            Self::LOOP => "LOOP",
            Self::LINUX_SLL => "LINUX_SLL",
            Self::IPV4 => "IPV4",
            Self::IPV6 => "IPV6",
            Self::LINUX_SLL2 => "LINUX_SLL2",
            _ => return write!(f, "linktype {}", self.0),
        };
        f.write_str(name)
    }
}

/// Packet time: nanoseconds since the Unix epoch (UTC).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From seconds and nanoseconds.
    pub fn from_parts(secs: i64, nanos: i64) -> Self {
        Self(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }
    /// Whole seconds (floor).
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }
    /// Nanoseconds within the second.
    pub fn subsec_nanos(self) -> u32 {
        self.0.rem_euclid(1_000_000_000) as u32
    }
}

/// RFC 3339 in UTC, with as many fractional digits as needed
/// (`2023-11-14T22:13:20.0001Z`).
impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0))
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            });
        match text {
            Some(t) => f.write_str(&t),
            None => write!(f, "@{}ns", self.0),
        }
    }
}

/// Index of a capture interface in its source's interface table
/// ([`crate::FrameSource::interfaces`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct IfaceId(pub u32);

/// A capture interface as the source describes it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Interface {
    /// Name: pcapng `if_name`, the `PATH=NAME` given for a classic pcap, or
    /// `None` (judged by addresses only).
    pub name: Option<String>,
    /// pcapng `if_description`: Npcap/dumpcap put the Windows friendly name
    /// there ("vEthernet (LM)"), etl2pcapng a component's description.
    pub description: Option<String>,
    /// pcapng `if_hardware`: the adapter's driver description.
    pub hardware: Option<String>,
    /// pcapng `if_MACaddr`.
    pub mac: Option<[u8; 6]>,
    /// Link type of every frame captured on it.
    pub link: LinkType,
    /// Snapshot length (0 = unlimited).
    pub snaplen: u32,
}

impl Interface {
    /// An interface known by its name only (classic pcap, live NICs).
    pub fn named(name: Option<String>, link: LinkType, snaplen: u32) -> Self {
        Interface {
            name,
            description: None,
            hardware: None,
            mac: None,
            link,
            snaplen,
        }
    }
}

/// One captured frame, borrowed from the source.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture time.
    pub ts: Timestamp,
    /// Capture interface (index into the source's table).
    pub iface: IfaceId,
    /// Link type of `data`.
    pub link: LinkType,
    /// Original length on the wire (pcap `orig_len`); counted in every byte total.
    pub wire_len: u32,
    /// Captured bytes (at most `wire_len` unless the file says otherwise).
    pub data: &'a [u8],
}

impl<'a> Frame<'a> {
    /// A frame for tests and fuzzing: interface 0, time 0, `wire_len` = `data.len()`.
    pub fn test(link: LinkType, data: &'a [u8]) -> Self {
        Frame {
            ts: Timestamp(0),
            iface: IfaceId(0),
            link,
            wire_len: data.len() as u32,
            data,
        }
    }

    /// Copies the bytes into an [`OwnedFrame`].
    pub fn to_owned(&self) -> OwnedFrame {
        OwnedFrame {
            ts: self.ts,
            iface: self.iface,
            link: self.link,
            wire_len: self.wire_len,
            data: self.data.to_vec(),
        }
    }
}

/// A frame that owns its bytes (for queues between threads and tests).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OwnedFrame {
    /// Capture time.
    pub ts: Timestamp,
    /// Capture interface.
    pub iface: IfaceId,
    /// Link type.
    pub link: LinkType,
    /// Original wire length.
    pub wire_len: u32,
    /// Captured bytes.
    pub data: Vec<u8>,
}

impl OwnedFrame {
    /// Borrows it as a [`Frame`].
    pub fn as_frame(&self) -> Frame<'_> {
        Frame {
            ts: self.ts,
            iface: self.iface,
            link: self.link,
            wire_len: self.wire_len,
            data: &self.data,
        }
    }
}
