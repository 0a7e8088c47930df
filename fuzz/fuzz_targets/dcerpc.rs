//! `dcerpc::DceRpc` over one connection's payload in the `chunks` scheme
//! (directions, segment starts, snaplen gaps): never panics.
#![no_main]

use analyzer::evidence::dcerpc::DceRpc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lanecheck_fuzz::dissect(data, |starts| Box::new(DceRpc::new(starts)));
});
