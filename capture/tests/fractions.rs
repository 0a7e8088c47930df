//! A classic nanosecond pcap whose second record's fraction of a second is
//! out of range (as tcpdump's timestamp_invalid_nano.pcap has): its time
//! carries the excess into the seconds and the reader says so once, naming
//! the record's byte. Every expected value is written by the test itself.

use capture::{FileSource, FrameSource, Timestamp};

fn record(secs: u32, frac: u32, data: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    for w in [secs, frac, data.len() as u32, data.len() as u32] {
        r.extend(w.to_le_bytes());
    }
    r.extend(data);
    r
}

#[test]
fn a_fraction_of_a_second_or_more_is_carried_and_said_once() {
    // Nanosecond magic, version 2.4, snaplen 65535, Ethernet.
    let mut file = 0xa1b2_3c4d_u32.to_le_bytes().to_vec();
    file.extend(2u16.to_le_bytes());
    file.extend(4u16.to_le_bytes());
    file.extend([0; 8]);
    file.extend(65535u32.to_le_bytes());
    file.extend(1u32.to_le_bytes());
    file.extend(record(100, 999_999_999, &[0xaa; 60]));
    let second = file.len() as u64;
    file.extend(record(100, 1_000_000_000, &[0xbb; 60]));
    file.extend(record(100, 2_500_000_000, &[0xcc; 60]));
    let mut src = FileSource::new("fractions.pcap", &file[..], None).unwrap();
    let mut times = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        times.push(f.ts);
    }
    assert_eq!(
        times,
        [
            Timestamp(100_999_999_999),
            Timestamp(101_000_000_000),
            Timestamp(102_500_000_000)
        ]
    );
    assert_eq!(
        src.stats().warnings,
        [format!("record at byte {second}: a fraction of a second of 1000000000 nanoseconds is a second or more (invalid); its time carries the excess into the seconds, as do later such records")]
    );
}
