//! One DNS message (a UDP datagram's payload) through `dns::fact` and what
//! reports do with an answer (CNAME resolution, type and rcode names).
#![no_main]

use analyzer::evidence::{dns, Fact};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(Fact::Dns(a)) = dns::fact(data) {
        let _ = a.resolve();
        let _ = dns::rcode_name(a.rcode);
        for r in &a.records {
            let _ = dns::type_name(r.rtype);
            let _ = r.data.to_string();
        }
    }
});
