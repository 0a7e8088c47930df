//! Arbitrary bytes as a capture file: `FileSource` never panics, and what it
//! yields keeps its invariants (each frame's interface is described, the
//! counters match the frames, a truncation lies inside the input); the
//! producer fingerprint (section, interfaces, packet options) and what the
//! report says of it are read at the end.
#![no_main]

use capture::{FileSource, FrameSource};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut src) = FileSource::new("fuzz", data, None) else {
        return;
    };
    let (mut frames, mut wire) = (0u64, 0u64);
    while let Ok(Some(f)) = src.next_frame() {
        assert!(f.data.len() <= data.len());
        frames += 1;
        wire += u64::from(f.wire_len);
        assert!((f.iface.0 as usize) < src.interfaces().len());
    }
    let st = src.stats();
    assert_eq!(st.frames, frames);
    assert_eq!(st.wire_bytes, wire);
    if let Some(t) = st.truncated {
        assert!(t.offset <= data.len() as u64);
    }
    let p = src.producer();
    std::hint::black_box((p.as_str(), p.describe(), src.application()));
    for i in src.interfaces() {
        if let Some(name) = i.name.as_deref() {
            std::hint::black_box((capture::is_npf(name), capture::etl2pcapng_ifindex(name)));
        }
    }
});
