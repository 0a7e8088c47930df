//! Arbitrary bytes as a capture file: `FileSource` never panics, and what it
//! yields keeps its invariants (each frame's interface is described, the
//! counters match the frames, a truncation lies inside the input); the
//! producer fingerprint (section, interfaces, packet options) and what the
//! report says of it are read at the end. Framed read-ahead
//! (`FramedSource`) yields the same frames, interfaces, writer and end.
#![no_main]

use capture::{CaptureFile, FileSource, FrameSource, FramedSource};
use libfuzzer_sys::fuzz_target;

/// Every frame with what the source knew then, and how it ended.
fn trace<F: CaptureFile>(mut src: F) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let f = match src.next_frame() {
            Ok(Some(f)) => format!("{} {} {} {:?} {}", f.ts.0, f.iface.0, f.wire_len, f.data, f.link.0),
            Ok(None) => break,
            Err(e) => {
                out.push(e.to_string());
                break;
            }
        };
        out.push(format!("{f} {} {:?}", src.interfaces().len(), src.producer()));
    }
    out.push(format!("{:?} {:?} {:?}", src.stats(), src.producer(), src.application()));
    out
}

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
    let direct = trace(FileSource::new("fuzz", data, None).unwrap());
    let framed = FramedSource::start("fuzz", std::io::Cursor::new(data.to_vec()), None);
    assert_eq!(direct, trace(framed.unwrap()));
});
