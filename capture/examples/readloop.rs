//! The bare read loop of `make bench`: frames only, no decoding.
//! Prints `FRAMES WIRE_BYTES` for each file given.

use std::fs::File;
use std::io::Write;

use capture::{FileSource, FrameSource};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut out = std::io::stdout().lock();
    for path in std::env::args().skip(1) {
        let mut src = FileSource::new(&path, File::open(&path)?, None)?;
        let mut frames = 0u64;
        let mut bytes = 0u64;
        while let Some(f) = src.next_frame()? {
            frames += 1;
            bytes += u64::from(f.wire_len);
        }
        writeln!(out, "{frames} {bytes}")?;
    }
    Ok(())
}
