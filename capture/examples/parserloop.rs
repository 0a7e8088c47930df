//! pcap-parser's own read loop, the reference the throughput issue quotes:
//! `create_reader` over the file, every block parsed and consumed, nothing
//! decoded. Prints `FRAMES WIRE_BYTES` for each file given.

use std::fs::File;
use std::io::Write;

use pcap_parser::pcapng::Block;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

/// pcap-parser's buffer at creation; it never grows by itself: a block
/// larger than it is `BufferTooSmall`, and the loop doubles it (up to
/// `MAX_BUFFER`, lanecheck's own ceiling for a block).
const BUFFER: usize = 1 << 20;
const MAX_BUFFER: usize = 64 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut out = std::io::stdout().lock();
    for path in std::env::args().skip(1) {
        let mut reader = create_reader(BUFFER, File::open(&path)?)?;
        let mut size = BUFFER;
        let mut frames = 0u64;
        let mut bytes = 0u64;
        loop {
            match reader.next() {
                Ok((offset, block)) => {
                    if let Some(wire) = wire_len(&block) {
                        frames += 1;
                        bytes += u64::from(wire);
                    }
                    reader.consume(offset);
                }
                Err(PcapError::Eof) => break,
                Err(PcapError::BufferTooSmall) if size < MAX_BUFFER => {
                    size *= 2;
                    reader.grow(size);
                    if let Err(e) = reader.refill() {
                        return Err(format!("{path}: {:?}", e.to_owned_vec()).into());
                    }
                }
                Err(PcapError::Incomplete(_)) => {
                    if let Err(e) = reader.refill() {
                        return Err(format!("{path}: {:?}", e.to_owned_vec()).into());
                    }
                }
                Err(e) => return Err(format!("{path}: {:?}", e.to_owned_vec()).into()),
            }
        }
        writeln!(out, "{frames} {bytes}")?;
    }
    Ok(())
}

fn wire_len(block: &PcapBlockOwned<'_>) -> Option<u32> {
    match block {
        PcapBlockOwned::Legacy(b) => Some(b.origlen),
        PcapBlockOwned::NG(Block::EnhancedPacket(b)) => Some(b.origlen),
        PcapBlockOwned::NG(Block::SimplePacket(b)) => Some(b.origlen),
        _ => None,
    }
}
