//! Bytes as an input file of `lanecheck policy derive` (`src/derive/`):
//! decoded as Windows writes text, then through the cluster networks JSON
//! and `Format-Table` parsers, the cluster network interfaces JSON and the
//! live-migration JSON; errors rendered as the CLI prints them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lanecheck_fuzz::derive::exports(data));
