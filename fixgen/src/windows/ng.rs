//! pcapng blocks as the Windows tools write them, through `pcap-file`: microsecond
//! timestamps (no `if_tsresol`), section and interface options, packet options.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness};

use crate::capture::io_err;

pub(super) type Writer = PcapNgWriter<BufWriter<File>>;

/// A file starting with a section header carrying `options` (code, text): 2 shb_hardware,
/// 3 shb_os, 4 shb_userappl.
pub(super) fn create(path: &Path, options: &[(u16, &str)]) -> io::Result<Writer> {
    let options = options
        .iter()
        .map(|(code, text)| {
            let t = Cow::Owned((*text).to_string());
            match code {
                2 => SectionHeaderOption::Hardware(t),
                3 => SectionHeaderOption::OS(t),
                _ => SectionHeaderOption::UserApplication(t),
            }
        })
        .collect();
    let shb = SectionHeaderBlock {
        endianness: Endianness::Little,
        major_version: 1,
        minor_version: 0,
        section_length: -1,
        options,
    };
    let out = BufWriter::with_capacity(1 << 16, File::create(path)?);
    PcapNgWriter::with_section_header(out, shb).map_err(io_err)
}

/// An Ethernet interface block with `options`, no `if_tsresol` (microseconds).
pub(super) fn interface(
    w: &mut Writer,
    snaplen: u32,
    options: Vec<InterfaceDescriptionOption<'static>>,
) -> io::Result<()> {
    let idb = InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen,
        options,
    };
    w.write_pcapng_block(idb).map(|_| ()).map_err(io_err)
}

/// A text interface option.
pub(super) fn text(code: u8, value: &str) -> InterfaceDescriptionOption<'static> {
    let v = Cow::Owned(value.to_string());
    match code {
        2 => InterfaceDescriptionOption::IfName(v),
        3 => InterfaceDescriptionOption::IfDescription(v),
        12 => InterfaceDescriptionOption::IfOs(v),
        _ => InterfaceDescriptionOption::IfHardware(v),
    }
}

/// An enhanced packet block at `ts_ns` (written in microseconds), whole frame captured.
///
/// pcap-file writes the `Duration`'s nanoseconds as the raw 64-bit timestamp; an interface
/// without `if_tsresol` is read in microseconds, so the `Duration` passed holds the time in
/// microseconds as if they were nanoseconds.
pub(super) fn packet(
    w: &mut Writer,
    iface: u32,
    ts_ns: i64,
    data: &[u8],
    options: Vec<EnhancedPacketOption<'static>>,
) -> io::Result<()> {
    assert_eq!(ts_ns % 1000, 0, "Windows tools write whole microseconds");
    let epb = EnhancedPacketBlock {
        interface_id: iface,
        timestamp: Duration::from_nanos(u64::try_from(ts_ns / 1000).expect("after 1970")),
        original_len: data.len() as u32,
        data: Cow::Borrowed(data),
        options,
    };
    w.write_pcapng_block(epb).map(|_| ()).map_err(io_err)
}

/// Flushes and closes the file.
pub(super) fn close(w: Writer) -> io::Result<()> {
    w.into_inner()
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
}

/// An Ethernet frame as an 802.11 data frame with RFC 1042 LLC/SNAP: sent by the host
/// (To-DS, 24-byte header) or received (QoS data, From-DS, 26 bytes), as a Wi-Fi miniport
/// and the filters below the native-802.11 layer log it.
pub(super) fn as_80211(eth: &[u8], sent: bool, seq: u16) -> Vec<u8> {
    const BSSID: [u8; 6] = [0x02, 0x4c, 0xff, 0x00, 0x00, 0x01];
    let (dst, src) = (&eth[0..6], &eth[6..12]);
    let mut f = Vec::with_capacity(eth.len() + 20);
    if sent {
        f.extend([0x08, 0x01, 0x2c, 0x00]);
        f.extend(BSSID);
        f.extend(src);
        f.extend(dst);
    } else {
        f.extend([0x88, 0x02, 0x2c, 0x00]);
        f.extend(dst);
        f.extend(BSSID);
        f.extend(src);
    }
    f.extend((seq << 4).to_le_bytes());
    if !sent {
        f.extend([0x00, 0x00]);
    }
    f.extend([0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00]);
    f.extend(&eth[12..]);
    f
}
