//! A capture file through the whole analyzer (decode, flows, evidence,
//! classes, policy, stats) and `report()`; the first byte picks a policy
//! and table limits (`lanecheck_fuzz::opts`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lanecheck_fuzz::analyze(data));
