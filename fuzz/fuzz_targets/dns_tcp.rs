//! `dns::DnsTcp` over one connection's payload in the `chunks` scheme
//! (directions, segment starts, snaplen gaps): never panics.
#![no_main]

use analyzer::evidence::dns::DnsTcp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lanecheck_fuzz::dissect(data, |starts| Box::new(DnsTcp::new(starts)));
});
