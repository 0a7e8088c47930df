//! `lanecheck policy derive`'s export parsers (`src/derive/`), compiled in
//! by path as the binary compiles them, and the `derive` target's run.
//!
//! `json.rs` and `table.rs` read the PowerShell exports; `source.rs`
//! decodes the bytes as Windows writes them; `inputs.rs` holds the types
//! they fill, and it names the `--os` and `--lm-transport` enums of
//! `src/flags.rs`, which is why the crate root compiles that file too.

#[path = "../../src/derive/inputs.rs"]
#[allow(dead_code)]
pub mod inputs;
#[path = "../../src/derive/json.rs"]
pub mod json;
#[path = "../../src/derive/source.rs"]
#[allow(dead_code)]
pub mod source;
#[path = "../../src/derive/table.rs"]
pub mod table;

use inputs::{ClusterNet, METRIC_MAX};
use source::{InputError, Source};

/// The `derive` target: `data` decoded as an input file (UTF-8, or UTF-8
/// or UTF-16 with a BOM), then through every export parser in turn: the
/// cluster networks as JSON and as a `Format-Table` table, the cluster
/// network interfaces, the live-migration settings. Errors are rendered
/// as the CLI prints them; what parsed is checked against what the rules
/// after the parsers rely on.
pub fn exports(data: &[u8]) {
    let Ok(text) = source::decode(data) else {
        return;
    };
    let src = Source {
        path: "fuzz".into(),
        text,
    };
    for nets in [json::networks(&src), table::networks(&src)] {
        match nets {
            Ok(nets) => nets.iter().for_each(check_net),
            Err(e) => rendered(&e),
        }
    }
    match json::interfaces(&src) {
        Ok(ifaces) => {
            std::hint::black_box(ifaces);
        }
        Err(e) => rendered(&e),
    }
    match json::migration(&src) {
        Ok(m) => {
            std::hint::black_box(m);
        }
        Err(e) => rendered(&e),
    }
}

/// What `layout`, `lint` and `write` take for granted of a parsed network.
fn check_net(n: &ClusterNet) {
    assert!(!n.name.is_empty(), "a network without a name: {n:?}");
    assert!(
        u64::from(n.metric) <= METRIC_MAX,
        "metric out of range: {n:?}"
    );
    assert!(n.role.number() <= 3, "role out of range: {n:?}");
    std::hint::black_box((n.role.name(), n.automatic(), n.role.client()));
}

/// An error as `lanecheck` prints it: `PLACE: MESSAGE`, both non-empty.
fn rendered(e: &InputError) {
    assert!(!e.place.is_empty() && !e.message.is_empty(), "{e:?}");
    std::hint::black_box(e.to_string());
}
