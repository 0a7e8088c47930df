//! Property tests: no byte sequence makes a file source panic, and every
//! frame it yields lies inside the input. Run in `make test` (bounded cases).

use capture::{FileSource, FrameSource};
use proptest::prelude::*;

const PCAP_MAGICS: [[u8; 4]; 6] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x34, 0xcd, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xcd, 0x34],
];

/// Reads everything; checks the accounting invariants.
fn drain(bytes: &[u8]) {
    let Ok(mut src) = FileSource::new("prop", bytes, None) else {
        return;
    };
    let mut frames = 0u64;
    let mut wire = 0u64;
    while let Ok(Some(f)) = src.next_frame() {
        assert!(f.data.len() <= bytes.len());
        frames += 1;
        wire += u64::from(f.wire_len);
        let ix = f.iface.0 as usize;
        // Every frame names an interface the source has described.
        assert!(ix < src.interfaces().len());
    }
    let st = src.stats();
    assert_eq!(st.frames, frames);
    assert_eq!(st.wire_bytes, wire);
    if let Some(t) = st.truncated {
        assert!(t.offset <= bytes.len() as u64);
    }
}

fn pcap_header(magic: [u8; 4], snaplen: u32, link: u16) -> Vec<u8> {
    let le = magic[0] != 0xa1;
    let mut h = magic.to_vec();
    let put16 = |v: u16| if le { v.to_le_bytes() } else { v.to_be_bytes() };
    let put32 = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
    h.extend(put16(2));
    h.extend(put16(4));
    h.extend(put32(0));
    h.extend(put32(0));
    h.extend(put32(snaplen));
    h.extend(put32(u32::from(link)));
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        drain(&bytes);
    }

    #[test]
    fn pcap_with_random_records_never_panics(
        magic in prop::sample::select(PCAP_MAGICS.to_vec()),
        snaplen in any::<u32>(),
        body in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut file = pcap_header(magic, snaplen, 1);
        file.extend(body);
        drain(&file);
    }

    #[test]
    fn pcapng_with_random_blocks_never_panics(
        be in any::<bool>(),
        blocks in prop::collection::vec((prop::sample::select(vec![1u32, 2, 3, 5, 6, 0x0A0D0D0A, 99]), prop::collection::vec(any::<u8>(), 0..200)), 0..12),
    ) {
        let w = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut file = Vec::new();
        // A valid section header.
        file.extend(0x0A0D0D0Au32.to_le_bytes());
        file.extend(w(28));
        file.extend(w(0x1A2B3C4D));
        file.extend(if be { [0, 1, 0, 0] } else { [1, 0, 0, 0] });
        file.extend([0xff; 8]);
        file.extend(w(28));
        for (btype, mut body) in blocks {
            body.resize(body.len().div_ceil(4) * 4, 0);
            let len = 12 + body.len() as u32;
            file.extend(w(btype));
            file.extend(w(len));
            file.extend(&body);
            file.extend(w(len));
        }
        drain(&file);
    }
}
