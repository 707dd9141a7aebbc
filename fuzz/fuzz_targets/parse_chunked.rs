//! The parser fed through a reader that splits the input anywhere, as CDP chunks do: the
//! outcome must be the same as for the whole input. The first 4 bytes choose the chunk sizes
//! (1..=64 each); the rest is the snapshot text.
#![no_main]

use leakcheck::snapshot::parse;
use leakcheck_fuzz::{Chunked, assert_same_outcome, check_accepted};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (head, text) = data.split_at(4);
    let sizes: Vec<usize> = head.iter().map(|&b| (b % 64) as usize + 1).collect();
    let whole = parse(text);
    let chunked = parse(Chunked { data: text, sizes: &sizes, next: 0 });
    assert_same_outcome(&whole, &chunked);
    if let Ok(graph) = &whole {
        check_accepted(graph);
    }
});
