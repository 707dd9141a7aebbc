//! Arbitrary bytes into the snapshot parser: it must return `Ok` or `Err`, never panic, and a
//! graph it accepts must be usable and survive a write/parse round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(graph) = leakcheck::snapshot::parse(data) {
        leakcheck_fuzz::check_accepted(&graph);
    }
});
