//! UTF-8 text through `lanecheck`'s policy parser (`src/config.rs`): TOML,
//! then validation into a `Policy`; errors are rendered as the CLI prints them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = lanecheck_fuzz::config::parse(text, "fuzz.toml") {
        let _ = e.to_string();
    }
});
