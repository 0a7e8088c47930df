//! A hand-built pcapng with two sections of opposite byte order, interface
//! options (if_name, if_tsresol, if_tsoffset) and all three packet block
//! types. Every expected value is written by the test itself.

use capture::{FileSource, FrameSource, LinkType, Timestamp};
use fixgen::NgWriter;

/// An interface of link type `link` named `name`, with its time
/// resolution and offset.
fn interface(w: &mut NgWriter, link: u16, name: &str, tsresol: u8, tsoffset: i64) {
    let off = match w.be {
        true => tsoffset.to_be_bytes(),
        false => tsoffset.to_le_bytes(),
    };
    w.interface(link, &[(2, name.as_bytes()), (9, &[tsresol]), (14, &off)]);
}

/// A Simple Packet Block.
fn spb(w: &mut NgWriter, data: &[u8]) {
    let mut b = w.u32(data.len() as u32).to_vec();
    b.extend(data);
    w.block(3, &b);
}

/// The obsolete Packet Block.
fn obsolete_pb(w: &mut NgWriter, iface: u16, ticks: u64, data: &[u8]) {
    let mut b = w.u16(iface).to_vec();
    b.extend(w.u16(0));
    b.extend(w.u32((ticks >> 32) as u32));
    b.extend(w.u32(ticks as u32));
    b.extend(w.u32(data.len() as u32));
    b.extend(w.u32(data.len() as u32));
    b.extend(data);
    w.block(2, &b);
}

#[test]
fn two_sections_opposite_byte_orders_all_block_types() {
    let mut w = NgWriter::new(false);
    w.section(&[]);
    // Milliseconds, offset 100 s.
    interface(&mut w, 1, "eth0", 3, 100);
    interface(&mut w, 101, "raw0", 9, 0);
    w.epb(0, 1_500, &[0xaa; 60], 1514, &[]);
    w.epb(1, 2_000_000_123, &[0x45; 20], 20, &[]);
    let mut be = NgWriter::new(true);
    be.section(&[]);
    // Binary resolution 2^-10 s and a 5 s offset, in a big-endian section:
    // ids restart at 0.
    interface(&mut be, 1, "eth1", 0x80 | 10, 5);
    spb(&mut be, &[0xbb; 64]);
    obsolete_pb(&mut be, 0, 3 * 1024 + 512, &[0xcc; 42]);
    let mut file = w.out;
    file.extend(be.out);

    let mut src = FileSource::new("hand.pcapng", &file[..], None).unwrap();
    let mut got = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        got.push((f.ts, f.iface.0, f.link, f.wire_len, f.data.len()));
    }
    assert_eq!(
        got,
        vec![
            (Timestamp(101_500_000_000), 0, LinkType::ETHERNET, 1514, 60),
            (Timestamp(2_000_000_123), 1, LinkType::RAW, 20, 20),
            // A Simple Packet Block has no time: it takes the last one seen.
            (Timestamp(2_000_000_123), 2, LinkType::ETHERNET, 64, 64),
            (Timestamp(8_500_000_000), 2, LinkType::ETHERNET, 42, 42),
        ]
    );
    let names: Vec<_> = src
        .interfaces()
        .iter()
        .map(|i| i.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["eth0", "raw0", "eth1"]);
    let st = src.stats();
    assert_eq!(
        (st.frames, st.wire_bytes, st.truncated),
        (4, 1514 + 20 + 64 + 42, None)
    );
}

#[test]
fn a_cut_block_reports_its_offset() {
    let mut w = NgWriter::new(false);
    w.section(&[]);
    interface(&mut w, 1, "eth0", 6, 0);
    w.epb(0, 1, &[1; 40], 40, &[]);
    let cut_at = w.out.len();
    w.epb(0, 2, &[2; 40], 40, &[]);
    let file = &w.out[..w.out.len() - 10];
    let mut src = FileSource::new("cut.pcapng", file, None).unwrap();
    let mut n = 0;
    while src.next_frame().unwrap().is_some() {
        n += 1;
    }
    let t = src.stats().truncated.unwrap();
    assert_eq!((n, t.offset), (1, cut_at as u64));
    assert!(t.reason.starts_with("block cut"), "{}", t.reason);
}

#[test]
fn a_packet_naming_an_unknown_interface_is_skipped_with_a_warning() {
    let mut w = NgWriter::new(false);
    w.section(&[]);
    interface(&mut w, 1, "eth0", 6, 0);
    w.epb(3, 1, &[1; 40], 40, &[]);
    w.epb(0, 2, &[2; 40], 40, &[]);
    let mut src = FileSource::new("x.pcapng", &w.out[..], None).unwrap();
    let mut n = 0;
    while src.next_frame().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 1);
    assert_eq!(src.stats().warnings.len(), 1);
}

#[test]
fn an_unreadable_interface_keeps_the_ids_of_the_others() {
    let mut w = NgWriter::new(false);
    w.section(&[]);
    // Too short to hold a snaplen: pcap-parser rejects it.
    w.block(1, &[1, 0, 0, 0]);
    interface(&mut w, 1, "eth1", 6, 0);
    w.epb(0, 1, &[1; 40], 40, &[]);
    w.epb(1, 2, &[2; 40], 40, &[]);
    // A packet block too short to be one.
    w.block(6, &[0; 8]);
    let mut src = FileSource::new("x.pcapng", &w.out[..], None).unwrap();
    let mut got = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        got.push((f.iface.0, f.data[0]));
    }
    // Only eth1's packet, on eth1.
    assert_eq!(got, vec![(0, 2)]);
    let names: Vec<_> = src
        .interfaces()
        .iter()
        .map(|i| i.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["eth1"]);
    let warnings = src.stats().warnings;
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(
        warnings[0].contains("interface description at byte 28 unreadable"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains("whose description was unreadable"),
        "{warnings:?}"
    );
    assert!(
        warnings[2].contains("is only 20 bytes long"),
        "{warnings:?}"
    );
}

#[test]
fn a_huge_snaplen_does_not_allocate_a_huge_buffer() {
    // snaplen 0xffffffff and one record claiming 60 MiB that is not there:
    // the buffer grows only to what the record needs, then the cut is reported.
    let mut f = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0,
        0, 0,
    ];
    f.extend([0u8; 8]);
    f.extend((60u32 << 20).to_le_bytes());
    f.extend((60u32 << 20).to_le_bytes());
    f.extend([0u8; 100]);
    let mut src = FileSource::new("big.pcap", &f[..], None).unwrap();
    assert!(src.next_frame().unwrap().is_none());
    let t = src.stats().truncated.unwrap();
    assert_eq!(t.offset, 24);
    assert!(t.reason.starts_with("record cut"), "{}", t.reason);
}

/// A Simple Packet Block before any timestamped packet takes the time of
/// the first one after it; with none, it stays at the epoch and the reader
/// says so once.
#[test]
fn an_early_simple_packet_block_takes_the_next_packets_time() {
    let mut w = NgWriter::new(false);
    w.section(&[]);
    interface(&mut w, 1, "eth0", 6, 0);
    spb(&mut w, &[0xaa; 60]);
    spb(&mut w, &[0xab; 60]);
    w.epb(0, 1_700_000_000_250_000, &[0xbb; 60], 60, &[]);
    spb(&mut w, &[0xcc; 60]);
    w.epb(0, 1_700_000_001_000_000, &[0xdd; 60], 60, &[]);
    let file = w.out;
    let mut src = FileSource::new("early.pcapng", &file[..], None).unwrap();
    let mut times = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        times.push(f.ts);
    }
    let (t1, t2) = (
        Timestamp(1_700_000_000_250_000_000),
        Timestamp(1_700_000_001_000_000_000),
    );
    assert_eq!(times, [t1, t1, t1, t1, t2]);
    assert!(src.stats().warnings.is_empty());

    let mut w = NgWriter::new(false);
    w.section(&[]);
    interface(&mut w, 1, "eth0", 6, 0);
    let first = w.out.len();
    spb(&mut w, &[0xaa; 60]);
    spb(&mut w, &[0xab; 60]);
    let file = w.out;
    let mut src = FileSource::new("undated.pcapng", &file[..], None).unwrap();
    let mut times = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        times.push(f.ts);
    }
    assert_eq!(times, [Timestamp(0), Timestamp(0)]);
    assert_eq!(
        src.stats().warnings,
        [format!("simple packet block at byte {first} comes before any timestamped packet, and none follows it closely: it and any like it are dated at the epoch (1970)")]
    );
}
