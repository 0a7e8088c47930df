//! Writing what was captured: one pcapng, one interface block per NIC
//! (`verify --write`), or the packets of chosen flows with a comment on
//! some of them (`--violations-pcap`).

use std::borrow::Cow;
use std::io::Write;
use std::time::Duration;

use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness};

use crate::{Error, Frame, Interface};

/// A pcapng writer whose interface ids are the source's interface indexes.
pub struct PcapNgOut<W: Write> {
    path: String,
    w: PcapNgWriter<W>,
    declared: usize,
}

impl<W: Write> PcapNgOut<W> {
    /// Starts a pcapng (section header) on `out`; `path` labels errors.
    /// The section names lanecheck as its application (`shb_userappl`), so a
    /// later read fingerprints the file as lanecheck's own.
    pub fn new(path: &str, out: W) -> Result<Self, Error> {
        let shb = SectionHeaderBlock {
            endianness: Endianness::Little,
            major_version: 1,
            minor_version: 0,
            section_length: -1,
            options: vec![SectionHeaderOption::UserApplication(Cow::Owned(format!(
                "lanecheck {}",
                env!("CARGO_PKG_VERSION")
            )))],
        };
        let w = PcapNgWriter::with_section_header(out, shb).map_err(|e| Error::Write {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        Ok(PcapNgOut {
            path: path.to_string(),
            w,
            declared: 0,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::Write {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Declares interfaces up to the source's table (names kept), so that a
    /// frame's `iface` is its interface id in this file.
    pub fn declare(&mut self, ifaces: &[Interface]) -> Result<(), Error> {
        while self.declared < ifaces.len() {
            self.add_interface(&ifaces[self.declared], None)?;
        }
        Ok(())
    }

    /// Declares one more interface (its `if_name` kept, `description`, else
    /// its own description, as `if_description`) and returns its id in this file. pcap-file writes
    /// timestamps in nanoseconds whatever `if_tsresol` says, so every
    /// interface declares `if_tsresol = 9`.
    pub fn add_interface(
        &mut self,
        i: &Interface,
        description: Option<&str>,
    ) -> Result<u32, Error> {
        let mut options = Vec::with_capacity(3);
        if let Some(n) = &i.name {
            options.push(InterfaceDescriptionOption::IfName(Cow::Owned(n.clone())));
        }
        if let Some(d) = description.or(i.description.as_deref()) {
            options.push(InterfaceDescriptionOption::IfDescription(Cow::Owned(
                d.to_string(),
            )));
        }
        options.push(InterfaceDescriptionOption::IfTsResol(9));
        let idb = InterfaceDescriptionBlock {
            linktype: DataLink::from(u32::from(i.link.0)),
            snaplen: i.snaplen,
            options,
        };
        self.w.write_pcapng_block(idb).map_err(|e| self.err(e))?;
        let id = u32::try_from(self.declared).map_err(|e| self.err(e))?;
        self.declared += 1;
        Ok(id)
    }

    /// Writes one frame (its interface must be declared).
    pub fn write(&mut self, f: &Frame<'_>) -> Result<(), Error> {
        self.write_as(f, f.iface.0, None)
    }

    /// Writes one frame as a packet of interface `id` (declared with
    /// [`PcapNgOut::add_interface`]), original timestamp and length kept,
    /// with `comment` as its `opt_comment` (Wireshark's packet comment).
    pub fn write_as(&mut self, f: &Frame<'_>, id: u32, comment: Option<&str>) -> Result<(), Error> {
        let epb = EnhancedPacketBlock {
            interface_id: id,
            timestamp: Duration::from_nanos(u64::try_from(f.ts.0).unwrap_or(0)),
            original_len: f.wire_len,
            data: Cow::Borrowed(f.data),
            options: comment
                .map(|c| EnhancedPacketOption::Comment(Cow::Borrowed(c)))
                .into_iter()
                .collect(),
        };
        self.w.write_pcapng_block(epb).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Flushes and returns the inner writer.
    pub fn finish(self) -> Result<W, Error> {
        let path = self.path.clone();
        let mut w = self.w.into_inner();
        w.flush().map_err(|e| Error::Write {
            path,
            message: e.to_string(),
        })?;
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileSource, FrameSource, IfaceId, LinkType, Timestamp};

    #[test]
    fn round_trip_keeps_names_times_and_lengths() {
        let ifaces = vec![
            Interface::named(Some("eth0".into()), LinkType::ETHERNET, 256),
            Interface::named(Some("eth1".into()), LinkType::ETHERNET, 256),
        ];
        let mut out = PcapNgOut::new("mem", Vec::new()).unwrap();
        out.declare(&ifaces).unwrap();
        let data = [7u8; 60];
        let frames = [
            Frame {
                ts: Timestamp(1_700_000_000_123_456_789),
                iface: IfaceId(1),
                link: LinkType::ETHERNET,
                wire_len: 1514,
                data: &data,
            },
            Frame {
                ts: Timestamp(1_700_000_001_000_000_001),
                iface: IfaceId(0),
                link: LinkType::ETHERNET,
                wire_len: 60,
                data: &data,
            },
        ];
        for f in &frames {
            out.write(f).unwrap();
        }
        let bytes = out.finish().unwrap();
        let mut src = FileSource::new("mem", &bytes[..], None).unwrap();
        let mut got = Vec::new();
        while let Some(f) = src.next_frame().unwrap() {
            got.push((f.ts, f.iface, f.wire_len, f.data.len()));
        }
        assert_eq!(
            got,
            vec![
                (frames[0].ts, IfaceId(1), 1514, 60),
                (frames[1].ts, IfaceId(0), 60, 60)
            ]
        );
        let names: Vec<_> = src
            .interfaces()
            .iter()
            .map(|i| i.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["eth0", "eth1"]);
        assert_eq!(src.producer(), crate::Producer::Lanecheck);
    }
}
