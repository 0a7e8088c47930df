//! Framed read-ahead gives exactly what a direct read gives:
//! the same frames (time, interface, link type, lengths, bytes), the same
//! interfaces and writer at each frame, the same truncation offset and the
//! same read error at the same offset, over inputs of many blocks whose
//! records straddle block boundaries, some longer than a block's headroom,
//! with interfaces declared between packets.

use std::io::{self, Cursor, Read};

use capture::{CaptureFile, FileSource, FramedSource, Interface, LinkType, PcapNgOut};

/// A deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A classic pcap (µs, Ethernet, snaplen 262144) of `n` records: mostly
/// small, one in 50 between 64 KiB and 200 KiB (longer than the headroom).
fn pcap(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0u8; 8]);
    out.extend(262_144u32.to_le_bytes());
    out.extend(1u32.to_le_bytes());
    for i in 0..n {
        let len = if rng.next().is_multiple_of(50) {
            65_536 + (rng.next() % 140_000) as usize
        } else {
            60 + (rng.next() % 1_450) as usize
        };
        out.extend((1_000 + i as u32).to_le_bytes());
        out.extend(((i * 7) as u32 % 1_000_000).to_le_bytes());
        out.extend((len as u32).to_le_bytes());
        out.extend((len as u32 + (i as u32 % 3)).to_le_bytes());
        out.extend((0..len).map(|k| (k as u64 ^ seed ^ i as u64) as u8));
    }
    out
}

/// A pcapng of the same kind, two interfaces, written by our writer.
fn pcapng(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut w = PcapNgOut::new("mem", Vec::new()).unwrap();
    let ifaces = [
        Interface::named(Some("eth0".into()), LinkType::ETHERNET, 262_144),
        Interface::named(Some("eth1".into()), LinkType::ETHERNET, 262_144),
        Interface::named(Some("wlan0".into()), LinkType::ETHERNET, 262_144),
    ];
    w.declare(&ifaces[..2]).unwrap();
    for i in 0..n {
        // A third interface declared between packets, deep in the file.
        if i == n / 2 {
            w.declare(&ifaces).unwrap();
        }
        let iface = if i > n / 2 { i % 3 } else { i % 2 };
        let len = if rng.next().is_multiple_of(40) {
            70_000 + (rng.next() % 100_000) as usize
        } else {
            60 + (rng.next() % 1_450) as usize
        };
        let data: Vec<u8> = (0..len).map(|k| (k as u64 ^ i as u64) as u8).collect();
        let f = capture::Frame {
            ts: capture::Timestamp(1_700_000_000_000_000_000 + i as i64 * 1_000),
            iface: capture::IfaceId(iface as u32),
            link: LinkType::ETHERNET,
            wire_len: len as u32,
            data: &data,
        };
        w.write(&f).unwrap();
    }
    w.finish().unwrap()
}

/// A reader that fails after `ok` bytes.
struct Failing {
    inner: Cursor<Vec<u8>>,
    ok: u64,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.ok.saturating_sub(self.inner.position());
        if left == 0 {
            return Err(io::Error::other("disk gone"));
        }
        let n = buf.len().min(left as usize).min(100_000);
        self.inner.read(&mut buf[..n])
    }
}

/// Everything a source yields: one line per frame (with the interfaces
/// and writer it knows of then), then how it ended.
fn read_all<F: CaptureFile>(mut src: F) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let line = match src.next_frame() {
            Ok(Some(f)) => format!(
                "{} {} {} {} {} {:016x}",
                f.ts.0,
                f.iface.0,
                f.link.0,
                f.wire_len,
                f.data.len(),
                f.data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
                })
            ),
            Ok(None) => break,
            Err(e) => {
                out.push(format!("error: {e}"));
                break;
            }
        };
        let names: Vec<_> = src.interfaces().iter().map(|i| i.name.clone()).collect();
        let said = format!("{names:?} {:?} {:?}", src.producer(), src.application());
        out.push(format!("{line} {said}"));
    }
    let s = src.stats();
    let names: Vec<_> = src.interfaces().iter().map(|i| i.name.clone()).collect();
    out.push(format!(
        "frames {} bytes {} truncated {:?} warnings {:?} interfaces {names:?} {:?}",
        s.frames,
        s.wire_bytes,
        s.truncated,
        s.warnings,
        src.producer()
    ));
    out
}

/// A direct read and framed read-ahead.
fn both<R: Read + Send + 'static>(make: impl Fn() -> R) -> (Vec<String>, Vec<String>) {
    let direct = read_all(FileSource::new("t", make(), None).unwrap());
    let framed = read_all(FramedSource::start("t", make(), None).unwrap());
    (direct, framed)
}

#[test]
fn many_blocks_read_ahead_equal_a_direct_read() {
    for (bytes, frames) in [(pcap(3_000, 7), 3_000), (pcapng(2_500, 11), 2_500)] {
        assert!(
            bytes.len() > 5 << 20,
            "{} bytes: several blocks",
            bytes.len()
        );
        let (direct, ahead) = both(|| Cursor::new(bytes.clone()));
        assert_eq!(direct.len(), frames + 1);
        assert_eq!(direct, ahead);
    }
}

#[test]
fn a_cut_file_is_truncated_at_the_same_offset() {
    let bytes = pcap(2_000, 3);
    for cut in [bytes.len() - 1, bytes.len() / 2 + 12_345, (1 << 20) + 5, 30] {
        let part = bytes[..cut].to_vec();
        let (direct, ahead) = both(|| Cursor::new(part.clone()));
        assert!(
            direct.last().unwrap().contains("Some(Truncation"),
            "{direct:?}"
        );
        assert_eq!(direct, ahead, "cut at {cut}");
    }
}

#[test]
fn a_read_error_comes_after_the_same_frames_at_the_same_offset() {
    let bytes = pcapng(2_000, 5);
    for ok in [bytes.len() as u64 / 3, (2 << 20) + 77] {
        let (direct, ahead) = both(|| Failing {
            inner: Cursor::new(bytes.clone()),
            ok,
        });
        let err = &direct[direct.len() - 2];
        let at = format!("read failed at byte {ok}");
        assert!(err.starts_with("error:") && err.contains(&at), "{err}");
        assert_eq!(direct, ahead, "failing after {ok}");
    }
}

#[test]
fn a_file_that_is_no_capture_fails_as_a_direct_read_does() {
    for bytes in [
        b"not a capture, not even a header of one".to_vec(),
        Vec::new(),
        pcap(10, 1)[..20].to_vec(),
    ] {
        let direct = FileSource::new("t", Cursor::new(bytes.clone()), None).map(|_| ());
        let ahead = FramedSource::spawn("t", Cursor::new(bytes.clone()), None)
            .wait()
            .map(|_| ());
        let (direct, ahead) = (direct.unwrap_err(), ahead.unwrap_err());
        assert_eq!(direct.to_string(), ahead.to_string());
    }
}

#[test]
fn captures_spawned_at_once_read_as_each_alone() {
    // Every capture's thread opened and reading before the first is walked
    // (blocks waiting in each channel, buffers shared by the process's
    // spare list): each reads as it would alone.
    let files: Vec<Vec<u8>> = (0..4)
        .map(|i| pcap(1_500 + 100 * i, 20 + i as u64))
        .collect();
    let opening: Vec<_> = files
        .iter()
        .map(|b| FramedSource::spawn("t", Cursor::new(b.clone()), None))
        .collect();
    for (bytes, o) in files.iter().zip(opening) {
        let direct = read_all(FileSource::new("t", Cursor::new(bytes.clone()), None).unwrap());
        assert_eq!(read_all(o.wait().unwrap()), direct);
    }
}
