//! Capture files: classic pcap and pcapng, streamed from any `Read`.
//!
//! File and block *headers* (pcap global header, pcapng section header and
//! interface description blocks with their options) are parsed with
//! `pcap-parser`. Per-packet records are read here, by hand, for two reasons:
//! an impossible record length must be caught *before* we try to buffer it
//! (so the byte offset we report is exact and memory stays bounded), and
//! pcap-parser's Enhanced Packet Block parser allocates an options `Vec` for
//! every packet, which halves throughput on pcapng (see
//! `shared/reference/engineering-notes.md`). A packet record is a handful of
//! fixed-offset integers, so the hand-written fast path is small.

use std::io::{self, Read};

use pcap_parser::pcapng::{
    parse_enhancedpacketblock_be, parse_enhancedpacketblock_le, parse_interfacedescriptionblock_be,
    parse_interfacedescriptionblock_le, parse_sectionheaderblock, InterfaceDescriptionBlock,
};

use crate::blocks::{BlockReader, Chunk, HEADROOM};
use crate::pool::Buf;
use crate::producer::{Fingerprint, Producer};
use crate::{
    Error, Frame, FrameSource, IfaceId, Interface, LinkType, SourceStats, Timestamp, Truncation,
};

/// Read buffer size: large reads amortise syscalls; see engineering notes
/// (streaming `read()` with a large buffer beats mmap here).
const BUF_SIZE: usize = 1 << 20;
/// Where the next packet's bytes are in the buffer, and its metadata.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Record {
    pub(crate) start: usize,
    pub(crate) caplen: usize,
    pub(crate) wire_len: u32,
    pub(crate) ts: Timestamp,
    pub(crate) iface: u32,
}

/// A classic-pcap record longer than this (and than the file's snaplen) is
/// impossible: libpcap and Wireshark use the same 256 KiB ceiling.
const MAX_STANDARD_CAPLEN: usize = 262_144;
/// Hard ceiling for any record or block, whatever the headers claim.
const MAX_BLOCK: usize = 64 << 20;

const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
const PCAPNG_IDB: u32 = 1;
const PCAPNG_PB: u32 = 2;
const PCAPNG_SPB: u32 = 3;
const PCAPNG_EPB: u32 = 6;
const PCAPNG_BOM: u32 = 0x1A2B_3C4D;
/// Packet blocks whose options are read for the producer fingerprint
/// (etl2pcapng comments and packet ids): the first few only, off the hot path.
const SNIFFED_PACKETS: u8 = 16;

/// The container format of a file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FileFormat {
    /// Classic libpcap format (any byte order, µs or ns, or "modified").
    Pcap,
    /// pcapng.
    PcapNg,
}

/// A pcapng packet block's fields.
#[derive(Clone, Copy, Debug)]
struct Packet {
    btype: u32,
    if_id: u32,
    ticks: u64,
    /// Where its data starts in the block.
    data_off: usize,
    caplen: usize,
    wire_len: u32,
}

/// The interface id and timestamp of an Enhanced or obsolete Packet Block
/// whose first 20 bytes are `block` (the obsolete block's id is 16 bits).
#[inline(always)]
fn stamp(btype: u32, be: bool, block: &[u8]) -> (u32, u64) {
    let if_id = if btype == PCAPNG_EPB {
        rd32(be, block, 8)
    } else {
        let w = [block[8], block[9]];
        u32::from(if be {
            u16::from_be_bytes(w)
        } else {
            u16::from_le_bytes(w)
        })
    };
    let ticks = (u64::from(rd32(be, block, 12)) << 32) | u64::from(rd32(be, block, 16));
    (if_id, ticks)
}

/// The 32-bit word at `i` of `b` in the section's byte order.
#[inline(always)]
fn rd32(be: bool, b: &[u8], i: usize) -> u32 {
    let w = [b[i], b[i + 1], b[i + 2], b[i + 3]];
    if be {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    }
}

/// Per-section state of one pcapng interface.
#[derive(Clone, Copy, Debug)]
struct NgIface {
    global: u32,
    units_per_sec: u64,
    offset_secs: i64,
    snaplen: u32,
}

impl NgIface {
    /// The time of a packet stamped `ticks` on this interface.
    fn time(&self, ticks: u64) -> Timestamp {
        let ns = u128::from(ticks) * 1_000_000_000 / u128::from(self.units_per_sec);
        Timestamp(
            (ns.min(i64::MAX as u128) as i64)
                .saturating_add(self.offset_secs.saturating_mul(1_000_000_000)),
        )
    }
}

/// How far past an early Simple Packet Block a timestamp is looked for.
const LOOK_AHEAD: usize = 1 << 20;

#[derive(Debug)]
enum Kind {
    Pcap {
        be: bool,
        nanos: bool,
        modified: bool,
        max_caplen: usize,
        /// A record's fraction of a second was out of range (said once).
        bad_fraction: bool,
    },
    Ng {
        be: bool,
        /// Interfaces of the current section by id; `None` for an
        /// interface block that could not be read (ids stay aligned).
        section: Vec<Option<NgIface>>,
        /// Time of the last timestamped packet (Simple Packet Blocks have none).
        last_ts: Timestamp,
        /// A timestamped packet was read (`last_ts` is one).
        dated: bool,
    },
}

/// Where a [`FileSource`]'s bytes come from.
enum Input<R> {
    /// Read by the caller's thread, into the source's own buffer.
    Direct(R),
    /// Read by the caller's thread into blocks, each handed on with its
    /// frames once the source has moved to the next (`framed.rs`).
    Blocks(BlockReader<R>),
}

/// A pcap or pcapng file read as a stream.
pub struct FileSource<R> {
    name: String,
    input: Input<R>,
    buf: Buf,
    pos: usize,
    end: usize,
    /// Absolute offset of `buf[0]` in the input (negative while a
    /// read-ahead block's headroom is in front).
    base: i64,
    eof: bool,
    done: bool,
    kind: Kind,
    format: FileFormat,
    interfaces: Vec<Interface>,
    /// Name given on the command line (`PATH=NAME`) for unnamed interfaces.
    default_iface: Option<String>,
    stats: SourceStats,
    /// What the file says about its writer.
    fingerprint: Fingerprint,
    /// Packet blocks still to read options from.
    sniff: u8,
    /// Times the interfaces or what the file says of its writer changed.
    changes: u32,
    /// A Simple Packet Block was left at the epoch (said once).
    undated_spb: bool,
    /// An interface named by the file kept its name over `PATH=NAME`
    /// (said once).
    named_over_default: bool,
}

impl<R: Read> FileSource<R> {
    /// Opens a capture from `rd`. `name` labels errors and reports;
    /// `default_iface` names interfaces the file leaves unnamed.
    pub fn new(name: &str, rd: R, default_iface: Option<String>) -> Result<Self, Error> {
        Self::with_input(name, Input::Direct(rd), Buf::new(BUF_SIZE), default_iface)
    }

    /// Like [`FileSource::new`], reading into blocks that leave the source
    /// with their frames ([`FileSource::take_retired`]; `framed.rs`).
    pub(crate) fn in_blocks(
        name: &str,
        rd: R,
        default_iface: Option<String>,
    ) -> Result<Self, Error> {
        let blocks = Input::Blocks(BlockReader::new(rd));
        Self::with_input(name, blocks, Buf::default(), default_iface)
    }

    /// The block the frames returned so far lie in, once the source has
    /// moved past it (`in_blocks` only).
    pub(crate) fn take_retired(&mut self) -> Option<Buf> {
        match &mut self.input {
            Input::Blocks(b) => b.retired.take(),
            _ => None,
        }
    }

    /// The current block (at the end of the input).
    pub(crate) fn take_buffer(&mut self) -> Buf {
        std::mem::take(&mut self.buf)
    }

    /// How many times the interfaces or the writer's fingerprint changed.
    pub(crate) fn changes(&self) -> u32 {
        self.changes
    }

    fn with_input(
        name: &str,
        input: Input<R>,
        buf: Buf,
        default_iface: Option<String>,
    ) -> Result<Self, Error> {
        let mut src = FileSource {
            name: name.to_string(),
            input,
            buf,
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
            done: false,
            kind: Kind::Ng {
                be: false,
                section: Vec::new(),
                last_ts: Timestamp(0),
                dated: false,
            },
            format: FileFormat::PcapNg,
            interfaces: Vec::new(),
            default_iface,
            stats: SourceStats::default(),
            fingerprint: Fingerprint::default(),
            sniff: SNIFFED_PACKETS,
            changes: 0,
            undated_spb: false,
            named_over_default: false,
        };
        src.open()?;
        Ok(src)
    }

    /// The container format.
    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// The program that wrote the file, as far as it has said so far
    /// (section header, interfaces, the first packets' options).
    pub fn producer(&self) -> Producer {
        self.fingerprint.producer()
    }

    /// The first section's `shb_userappl`, verbatim.
    pub fn application(&self) -> Option<&str> {
        self.fingerprint.userappl.as_deref()
    }

    fn bad_header(&self, reason: impl Into<String>) -> Error {
        Error::BadHeader {
            source_name: self.name.clone(),
            reason: reason.into(),
        }
    }

    fn open(&mut self) -> Result<(), Error> {
        let avail = self.fill(24)?;
        if avail < 4 {
            return Err(self.bad_header(format!("only {avail} bytes long")));
        }
        let head = &self.buf[self.pos..self.pos + avail.min(24)];
        let magic = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        match magic {
            0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 | 0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1 => {
                self.open_pcap(avail)
            }
            PCAPNG_SHB => {
                self.format = FileFormat::PcapNg;
                if avail < 12 {
                    return Err(self.bad_header("pcapng section header cut short"));
                }
                let bom = u32::from_le_bytes(head[8..12].try_into().unwrap_or_default());
                if bom != PCAPNG_BOM && bom != PCAPNG_BOM.swap_bytes() {
                    return Err(self.bad_header(format!(
                        "pcapng byte-order magic is {bom:#010x}, expected 0x1a2b3c4d"
                    )));
                }
                Ok(())
            }
            _ => Err(Error::UnknownFormat {
                source_name: self.name.clone(),
                magic: head[..4].iter().map(|b| format!("{b:02x}")).collect(),
            }),
        }
    }

    fn open_pcap(&mut self, avail: usize) -> Result<(), Error> {
        if avail < 24 {
            return Err(self.bad_header(format!("pcap file header cut at {avail} of 24 bytes")));
        }
        let head: [u8; 24] = self.buf[self.pos..self.pos + 24]
            .try_into()
            .map_err(|_| self.bad_header("short header"))?;
        let (be, nanos, modified, snaplen, network) =
            match pcap_parser::pcap::parse_pcap_header(&head) {
                Ok((_, h)) => (
                    h.is_bigendian(),
                    h.is_nanosecond_precision(),
                    h.is_modified_format(),
                    h.snaplen,
                    h.network.0 as u32,
                ),
                // pcap-parser does not know the byte-swapped "modified" magic.
                Err(_) => (
                    true,
                    false,
                    true,
                    u32::from_be_bytes([head[16], head[17], head[18], head[19]]),
                    u32::from_be_bytes([head[20], head[21], head[22], head[23]]),
                ),
            };
        // The low 16 bits are the link type; the upper bits carry FCS flags.
        let link = LinkType((network & 0xffff) as u16);
        self.pos += 24;
        self.format = FileFormat::Pcap;
        self.kind = Kind::Pcap {
            be,
            nanos,
            modified,
            max_caplen: (snaplen as usize).clamp(MAX_STANDARD_CAPLEN, MAX_BLOCK - 24),
            bad_fraction: false,
        };
        self.interfaces
            .push(Interface::named(self.default_iface.clone(), link, snaplen));
        self.fingerprint = Fingerprint::classic();
        Ok(())
    }

    /// Ensures `need` unread bytes are buffered if the input has them.
    /// Returns how many unread bytes are buffered (less than `need` only at
    /// end of input).
    fn fill(&mut self, need: usize) -> Result<usize, Error> {
        if self.end - self.pos >= need || self.eof {
            return Ok(self.end - self.pos);
        }
        if !matches!(self.input, Input::Direct(_)) {
            return self.fill_blocks(need);
        }
        self.make_room(need);
        let Input::Direct(rd) = &mut self.input else {
            return Ok(self.end - self.pos);
        };
        while self.end - self.pos < need {
            match rd.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::Read {
                        source_name: self.name.clone(),
                        offset: (self.base + self.end as i64) as u64,
                        source: e,
                    })
                }
            }
        }
        Ok(self.end - self.pos)
    }

    /// Moves the unread bytes to the front of the buffer if `need` of them
    /// would not fit after `pos`, growing it if `need` exceeds its size.
    fn make_room(&mut self, need: usize) {
        if self.buf.len() - self.pos < need {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as i64;
            self.end -= self.pos;
            self.pos = 0;
            if self.buf.len() < need {
                // Exactly what the record needs: its length was already
                // checked against the format's limit.
                self.buf.resize(need, 0);
            }
        }
    }

    /// [`FileSource::fill`] in blocks (framed read-ahead): each block becomes the
    /// buffer, with the unread tail of the last one copied into its
    /// headroom; a tail larger than the headroom (a record longer than
    /// that) is completed by copying blocks onto it instead.
    #[cold]
    fn fill_blocks(&mut self, need: usize) -> Result<usize, Error> {
        while self.end - self.pos < need && !self.eof {
            let chunk = match &mut self.input {
                Input::Blocks(blocks) => blocks.next(),
                Input::Direct(_) => break,
            };
            let (block, len) = match chunk {
                Chunk::Data { buf, len } => (buf, len),
                Chunk::End => {
                    self.eof = true;
                    break;
                }
                Chunk::Failed { error, at } => {
                    return Err(Error::Read {
                        source_name: self.name.clone(),
                        offset: at,
                        source: error,
                    })
                }
            };
            self.take_block(block, len);
        }
        Ok(self.end - self.pos)
    }

    /// Makes `block` (data at `HEADROOM..HEADROOM + len`) the next bytes.
    fn take_block(&mut self, mut block: Buf, len: usize) {
        let tail = self.end - self.pos;
        let data = HEADROOM..HEADROOM + len;
        if tail > HEADROOM {
            if let Input::Blocks(b) = &mut self.input {
                // Rare (a record longer than the headroom): the frames so
                // far leave in a copy, as the buffer is about to move.
                b.retire(self.buf.clone());
            }
            self.make_room(tail + len);
            self.buf[self.end..self.end + len].copy_from_slice(&block[data]);
            self.end += len;
            return;
        }
        let start = HEADROOM - tail;
        block[start..HEADROOM].copy_from_slice(&self.buf[self.pos..self.end]);
        self.base += self.pos as i64 - start as i64;
        let old = std::mem::replace(&mut self.buf, block);
        if let Input::Blocks(b) = &mut self.input {
            b.retire(old);
        }
        self.pos = start;
        self.end = data.end;
    }

    /// Where in the file the next record starts.
    pub(crate) fn offset(&self) -> u64 {
        (self.base + self.pos as i64) as u64
    }

    fn truncate(&mut self, reason: String) {
        let offset = self.offset();
        log::debug!("{}: truncated at byte {offset}: {reason}", self.name);
        self.stats.truncated = Some(Truncation { offset, reason });
        self.done = true;
    }

    /// Says (once) that `PATH=NAME` did not name an interface the file
    /// names itself (`name`): an operator's mapping is never dropped
    /// without a word.
    fn name_kept_over_default(&mut self, name: Option<String>) {
        let Some(given) = self.default_iface.clone() else {
            return;
        };
        let Some(own) = name.filter(|n| *n != given) else {
            return;
        };
        if !self.named_over_default {
            self.named_over_default = true;
            let msg = format!(
                "interface at byte {} is named {own:?} by the file, which wins over the {given:?} of PATH=NAME (that names only interfaces a file leaves unnamed): its packets are judged as {own:?}",
                self.offset()
            );
            self.warn(msg);
        }
    }

    fn warn(&mut self, msg: String) {
        log::debug!("{}: {msg}", self.name);
        if self.stats.warnings.len() < 100 {
            self.stats.warnings.push(msg);
        }
    }

    /// A record whose fraction of a second is a second or more: its time
    /// carries the excess into the seconds (as libpcap's readers add the
    /// two); said once per capture, at the first such record.
    #[cold]
    fn bad_fraction(&mut self, frac: u32, nanos: bool) {
        if let Kind::Pcap { bad_fraction, .. } = &mut self.kind {
            if std::mem::replace(bad_fraction, true) {
                return;
            }
        }
        let unit = if nanos { "nanoseconds" } else { "microseconds" };
        let msg = format!(
            "record at byte {}: a fraction of a second of {frac} {unit} is a second or more (invalid); its time carries the excess into the seconds, as do later such records",
            self.offset()
        );
        self.warn(msg);
    }

    /// Next classic-pcap record.
    #[inline]
    fn next_pcap(&mut self) -> Result<Option<Record>, Error> {
        let Kind::Pcap {
            be,
            nanos,
            modified,
            max_caplen,
            ..
        } = self.kind
        else {
            return Ok(None);
        };
        let hdr = if modified { 24 } else { 16 };
        let avail = self.fill(hdr)?;
        if avail < hdr {
            if avail > 0 {
                self.truncate(format!("record header cut after {avail} of {hdr} bytes"));
            } else {
                self.done = true;
            }
            return Ok(None);
        }
        let h = &self.buf[self.pos..self.pos + 16];
        let word = |i: usize| {
            let b = [h[i], h[i + 1], h[i + 2], h[i + 3]];
            if be {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (secs, frac, caplen, wire_len) = (word(0), word(4), word(8) as usize, word(12));
        if caplen > max_caplen {
            self.truncate(format!(
                "impossible record length {caplen} (limit {max_caplen})"
            ));
            return Ok(None);
        }
        let total = hdr + caplen;
        let avail = self.fill(total)?;
        if avail < total {
            self.truncate(format!(
                "record cut: {} of {caplen} captured bytes present",
                avail - hdr
            ));
            return Ok(None);
        }
        let nanos_part = if nanos {
            i64::from(frac)
        } else {
            i64::from(frac) * 1000
        };
        if nanos_part >= 1_000_000_000 {
            self.bad_fraction(frac, nanos);
        }
        let start = self.pos + hdr;
        self.pos += total;
        Ok(Some(Record {
            start,
            caplen,
            wire_len,
            ts: Timestamp::from_parts(i64::from(secs), nanos_part),
            iface: 0,
        }))
    }

    /// Next pcapng packet (Enhanced, Simple or obsolete Packet Block).
    #[inline]
    fn next_ng(&mut self) -> Result<Option<Record>, Error> {
        loop {
            let Some((btype, blen, be)) = self.next_block()? else {
                return Ok(None);
            };
            let fields = match btype {
                PCAPNG_EPB | PCAPNG_PB | PCAPNG_SPB => self.packet_fields(btype, blen, be),
                PCAPNG_SHB => {
                    self.on_section(be, blen)?;
                    continue;
                }
                PCAPNG_IDB => {
                    self.on_interface(be, blen);
                    continue;
                }
                _ => {
                    self.pos += blen;
                    continue;
                }
            };
            let mut record = fields.and_then(|f| self.place(f));
            if let (Ok(r), PCAPNG_SPB) = (&mut record, btype) {
                self.date_early_spb(r, blen);
            }
            let start = self.pos;
            self.pos += blen;
            match record {
                Ok(r) => {
                    return Ok(Some(Record {
                        start: start + r.start,
                        ..r
                    }))
                }
                Err(msg) => self.warn(msg),
            }
        }
    }

    /// The next whole block, checked (type, length, byte order), buffered
    /// at `pos`; `None` at the end of the input or where it is cut.
    #[inline(always)]
    fn next_block(&mut self) -> Result<Option<(u32, usize, bool)>, Error> {
        let avail = self.fill(12)?;
        if avail < 12 {
            if avail > 0 {
                self.truncate(format!("block header cut after {avail} bytes"));
            } else {
                self.done = true;
            }
            return Ok(None);
        }
        let p = self.pos;
        let raw_type = u32::from_le_bytes(self.buf[p..p + 4].try_into().unwrap_or_default());
        let be = if raw_type == PCAPNG_SHB {
            let bom = u32::from_le_bytes(self.buf[p + 8..p + 12].try_into().unwrap_or_default());
            bom != PCAPNG_BOM
        } else {
            matches!(self.kind, Kind::Ng { be: true, .. })
        };
        let btype = rd32(be, &self.buf, p);
        let blen = rd32(be, &self.buf, p + 4) as usize;
        if blen < 12 || !blen.is_multiple_of(4) || blen > MAX_BLOCK {
            self.truncate(format!(
                "impossible block length {blen} (block type {btype:#x})"
            ));
            return Ok(None);
        }
        let avail = self.fill(blen)?;
        if avail < blen {
            self.truncate(format!("block cut: {avail} of {blen} bytes present"));
            return Ok(None);
        }
        let trailer = rd32(be, &self.buf, self.pos + blen - 4) as usize;
        if trailer != blen {
            self.truncate(format!(
                "block length {blen} does not match its trailing copy {trailer}"
            ));
            return Ok(None);
        }
        Ok(Some((btype, blen, be)))
    }

    /// What a packet block at `pos` says of its packet, or why it is
    /// skipped.
    #[inline(always)]
    fn packet_fields(&mut self, btype: u32, blen: usize, be: bool) -> Result<Packet, String> {
        let block = &self.buf[self.pos..self.pos + blen];
        let rd = |i: usize| rd32(be, block, i);
        match btype {
            PCAPNG_EPB | PCAPNG_PB if blen >= 32 => {
                let (if_id, ticks) = stamp(btype, be, block);
                let packet = Packet {
                    btype,
                    if_id,
                    ticks,
                    data_off: 28,
                    caplen: rd(20) as usize,
                    wire_len: rd(24),
                };
                if btype == PCAPNG_EPB && self.sniff > 0 {
                    self.sniff -= 1;
                    self.changes += 1;
                    sniff_packet(&mut self.fingerprint, block, be);
                }
                if packet.data_off + packet.caplen > blen - 4 {
                    return Err(format!(
                        "packet block at byte {} claims {} captured bytes in a {blen}-byte block; skipped",
                        self.offset(),
                        packet.caplen
                    ));
                }
                Ok(packet)
            }
            PCAPNG_SPB if blen >= 16 => {
                let wire_len = rd(8);
                let snap = match &self.kind {
                    Kind::Ng { section, .. } => {
                        section.first().copied().flatten().map_or(0, |i| i.snaplen)
                    }
                    Kind::Pcap { .. } => 0,
                };
                let mut caplen = (blen - 16).min(wire_len as usize);
                if snap > 0 {
                    caplen = caplen.min(snap as usize);
                }
                // Simple Packet Blocks carry no timestamp, and interface 0.
                Ok(Packet {
                    btype,
                    if_id: 0,
                    ticks: 0,
                    data_off: 12,
                    caplen,
                    wire_len,
                })
            }
            _ => Err(format!(
                "packet block at byte {} is only {blen} bytes long; skipped",
                self.offset()
            )),
        }
    }

    /// The record of `packet` (its start relative to its block): its
    /// interface in the section and its time; or why it is skipped.
    #[inline(always)]
    fn place(&mut self, packet: Packet) -> Result<Record, String> {
        let Kind::Ng {
            section,
            last_ts,
            dated,
            ..
        } = &mut self.kind
        else {
            return Err("packet block outside a pcapng section".into());
        };
        let iface = match section.get(packet.if_id as usize) {
            Some(Some(iface)) => *iface,
            Some(None) => {
                return Err(format!(
                    "packet at byte {} is on interface {}, whose description was unreadable; skipped",
                    self.base + self.pos as i64,
                    packet.if_id
                ))
            }
            None => {
                return Err(format!(
                    "packet at byte {} names interface {}, which its section does not describe; skipped",
                    self.base + self.pos as i64,
                    packet.if_id
                ))
            }
        };
        // A Simple Packet Block has no timestamp: it takes the time of
        // the last timestamped packet, so it does not land in 1970 (one
        // before any is dated by `next_ng`).
        if packet.btype != PCAPNG_SPB {
            *last_ts = iface.time(packet.ticks);
            *dated = true;
        }
        Ok(Record {
            start: packet.data_off,
            caplen: packet.caplen,
            wire_len: packet.wire_len,
            ts: *last_ts,
            iface: iface.global,
        })
    }

    /// A Simple Packet Block before any timestamped packet takes the time
    /// of the first one after it in the buffered bytes of its section (in
    /// practice the next block); with none there it stays at the epoch and
    /// the capture's warnings say so (once).
    fn date_early_spb(&mut self, r: &mut Record, blen: usize) {
        let Kind::Ng {
            dated: false, be, ..
        } = self.kind
        else {
            return;
        };
        match self.time_ahead(self.pos + blen, be) {
            Some(ts) => r.ts = ts,
            None if !std::mem::replace(&mut self.undated_spb, true) => {
                let msg = format!(
                    "simple packet block at byte {} comes before any timestamped packet, and none follows it closely: it and any like it are dated at the epoch (1970)",
                    self.offset()
                );
                self.warn(msg);
            }
            None => {}
        }
    }

    /// The time of the first Enhanced (or obsolete) Packet Block from `q`
    /// within the buffered bytes of the current section, at most
    /// `LOOK_AHEAD` bytes on.
    fn time_ahead(&self, mut q: usize, be: bool) -> Option<Timestamp> {
        let Kind::Ng { section, .. } = &self.kind else {
            return None;
        };
        let end = self.end.min(q.saturating_add(LOOK_AHEAD));
        while q + 28 <= end {
            let (btype, blen) = (rd32(be, &self.buf, q), rd32(be, &self.buf, q + 4) as usize);
            if btype == PCAPNG_SHB || blen < 12 || q + blen > end {
                return None;
            }
            if btype == PCAPNG_EPB || btype == PCAPNG_PB {
                let (if_id, ticks) = stamp(btype, be, &self.buf[q..q + 20]);
                let iface = section.get(if_id as usize).copied().flatten();
                return iface.map(|i| i.time(ticks));
            }
            q += blen;
        }
        None
    }

    fn on_section(&mut self, be: bool, blen: usize) -> Result<(), Error> {
        let p = self.pos;
        match parse_sectionheaderblock(&self.buf[p..p + blen]) {
            Ok((_, shb)) => {
                self.changes += 1;
                self.fingerprint
                    .section(text(shb.shb_userappl()), text(shb.shb_os()));
            }
            Err(e) => {
                let msg = format!(
                    "section header at byte {} unreadable ({e:?})",
                    self.offset()
                );
                self.warn(msg);
            }
        }
        let (last_ts, dated) = match self.kind {
            Kind::Ng { last_ts, dated, .. } => (last_ts, dated),
            Kind::Pcap { .. } => (Timestamp(0), false),
        };
        self.kind = Kind::Ng {
            be,
            section: Vec::new(),
            last_ts,
            dated,
        };
        self.pos += blen;
        Ok(())
    }

    fn on_interface(&mut self, be: bool, blen: usize) {
        let p = self.pos;
        let block = &self.buf[p..p + blen];
        let parsed = if be {
            parse_interfacedescriptionblock_be(block)
        } else {
            parse_interfacedescriptionblock_le(block)
        };
        let (iface, units, offset_secs) = match parsed {
            Ok((_, idb)) => {
                let iface = described(&idb, self.default_iface.as_ref());
                self.fingerprint
                    .interface(text(idb.if_name()).filter(|n| !n.is_empty()), iface.link.0);
                let units = ts_units_per_sec(idb.if_tsresol);
                (iface, units, ts_offset(&idb.options, be))
            }
            Err(e) => {
                let msg = format!(
                    "interface description at byte {} unreadable ({e:?}); its packets are skipped",
                    self.offset()
                );
                self.warn(msg);
                if let Kind::Ng { section, .. } = &mut self.kind {
                    section.push(None);
                }
                self.pos += blen;
                return;
            }
        };
        self.name_kept_over_default(iface.name.clone());
        let units_per_sec = units.unwrap_or_else(|| {
            let msg = format!(
                "interface at byte {}: invalid if_tsresol, using microseconds",
                self.offset()
            );
            self.warn(msg);
            1_000_000
        });
        let global = self.interfaces.len() as u32;
        let snaplen = iface.snaplen;
        self.interfaces.push(iface);
        self.changes += 1;
        if let Kind::Ng { section, .. } = &mut self.kind {
            section.push(Some(NgIface {
                global,
                units_per_sec,
                offset_secs,
                snaplen,
            }));
        }
        self.pos += blen;
    }
}

/// An option's text, when present and valid UTF-8.
fn text<E>(o: Option<Result<&str, E>>) -> Option<&str> {
    o.and_then(Result::ok)
}

/// An interface as its description block names it: `if_name` (else the
/// `PATH=NAME` given for the file), `if_description`, `if_hardware`
/// (option 15, which pcap-parser 0.17 has no accessor for) and `if_MACaddr`.
fn described(idb: &InterfaceDescriptionBlock<'_>, default: Option<&String>) -> Interface {
    let owned = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
    let hardware = idb
        .options
        .iter()
        .find(|o| o.code.0 == 15)
        .and_then(|o| std::str::from_utf8(o.value()).ok())
        .map(|s| s.trim_end_matches('\0'));
    Interface {
        name: owned(text(idb.if_name())).or_else(|| default.cloned()),
        description: owned(text(idb.if_description())),
        hardware: owned(hardware),
        mac: idb
            .if_macaddr()
            .and_then(Result::ok)
            .and_then(|m| <[u8; 6]>::try_from(m).ok()),
        link: LinkType(idb.linktype.0 as u16),
        snaplen: idb.snaplen,
    }
}

/// Reads one Enhanced Packet Block's options into the fingerprint: a
/// comment, a packet id (option 5), a process/thread id (option 8).
fn sniff_packet(f: &mut Fingerprint, block: &[u8], be: bool) {
    let parsed = if be {
        parse_enhancedpacketblock_be(block)
    } else {
        parse_enhancedpacketblock_le(block)
    };
    let Ok((_, epb)) = parsed else { return };
    let has = |code: u16| epb.options.iter().any(|o| o.code.0 == code);
    let comment = epb
        .options
        .iter()
        .find(|o| o.code.0 == 1)
        .and_then(|o| o.as_str().ok());
    f.packet(comment, has(5), has(8));
}

/// `if_tsoffset` (option 14, seconds) in the section's byte order:
/// pcap-parser 0.17 always reads it little-endian.
fn ts_offset(options: &[pcap_parser::pcapng::PcapNGOption<'_>], be: bool) -> i64 {
    options
        .iter()
        .find(|o| o.code.0 == 14)
        .and_then(|o| <[u8; 8]>::try_from(o.value.get(..8)?).ok())
        .map_or(0, |b| {
            if be {
                i64::from_be_bytes(b)
            } else {
                i64::from_le_bytes(b)
            }
        })
}

/// Timestamp units per second for an `if_tsresol` value: bit 7 clear =
/// 10^-n s, set = 2^-n s. Computed here because pcap-parser 0.17's
/// `ts_resolution()` compares the unmasked byte against 63 and so rejects
/// every binary resolution.
fn ts_units_per_sec(tsresol: u8) -> Option<u64> {
    let n = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(n)
    } else {
        1u64.checked_shl(n).filter(|_| n < 64)
    }
}

impl<R: Read> FileSource<R> {
    /// The next record (where its bytes are in the buffer) and its link
    /// type, counted.
    #[inline]
    pub(crate) fn next_record(&mut self) -> Result<Option<(Record, LinkType)>, Error> {
        if self.done {
            return Ok(None);
        }
        let next = match self.format {
            FileFormat::Pcap => self.next_pcap()?,
            FileFormat::PcapNg => self.next_ng()?,
        };
        let Some(r) = next else {
            return Ok(None);
        };
        self.stats.frames += 1;
        self.stats.wire_bytes += u64::from(r.wire_len);
        let link = self
            .interfaces
            .get(r.iface as usize)
            .map_or(LinkType::ETHERNET, |i| i.link);
        Ok(Some((r, link)))
    }
}

impl<R: Read> crate::CaptureFile for FileSource<R> {
    fn producer(&self) -> Producer {
        self.fingerprint.producer()
    }

    fn application(&self) -> Option<&str> {
        self.fingerprint.userappl.as_deref()
    }
}

impl<R: Read> FrameSource for FileSource<R> {
    // `#[inline]` here and on `next_pcap`/`next_ng`: the per-packet path,
    // meant to be inlined into the caller's loop. Left to the inliner, a
    // larger analyzer tipped it out of line (+4% instructions per packet
    // under callgrind on the bench capture).
    #[inline]
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error> {
        let Some((r, link)) = self.next_record()? else {
            return Ok(None);
        };
        Ok(Some(Frame {
            ts: r.ts,
            iface: IfaceId(r.iface),
            link,
            wire_len: r.wire_len,
            data: &self.buf[r.start..r.start + r.caplen],
        }))
    }

    fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    fn stats(&self) -> SourceStats {
        self.stats.clone()
    }
}
