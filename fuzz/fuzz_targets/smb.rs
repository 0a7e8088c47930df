//! `smb::Smb` over one connection's payload in the `chunks` scheme
//! (directions, segment starts, snaplen gaps): never panics.
#![no_main]

use analyzer::evidence::smb::Smb;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lanecheck_fuzz::dissect(data, |starts| Box::new(Smb::new(starts)));
});
