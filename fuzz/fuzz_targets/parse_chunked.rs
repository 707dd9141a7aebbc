//! The parser fed through a reader that splits the input anywhere, as CDP chunks do, and on
//! its parallel path with tiny blocks: the outcome must be the same as for the whole input on
//! one thread. The first 4 bytes choose the chunk sizes (1..=64 each), the 5th the parallel
//! block size (1..=64); the rest is the snapshot text.
#![no_main]

use leakcheck::snapshot::{ParseOptions, parse, parse_with};
use leakcheck_fuzz::{Chunked, assert_same_outcome, check_accepted};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let (head, text) = data.split_at(5);
    let sizes: Vec<usize> = head[..4].iter().map(|&b| (b % 64) as usize + 1).collect();
    let whole = parse(text);
    let chunked = parse(Chunked { data: text, sizes: &sizes, next: 0 });
    assert_same_outcome(&whole, &chunked);
    let options = ParseOptions {
        workers: 2,
        parallel_min_values: 0,
        block_size: (head[4] % 64) as usize + 1,
        keep_ids: true,
    };
    let parallel = parse_with(Chunked { data: text, sizes: &sizes, next: 0 }, &options);
    assert_same_outcome(&whole, &parallel);
    if let Ok(graph) = &whole {
        check_accepted(graph);
    }
});
