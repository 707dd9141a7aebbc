//! Reading V8 `.heapsnapshot` files: a streaming parser into a compact graph.
//!
//! Synchronous and self-contained: this module imports no other module of the crate, so it can
//! be fuzzed, benchmarked and reused on its own.

mod bulk;
mod chunks;
mod graph;
mod locations;
mod parse;
mod prefault;
mod records;
mod scanner;
mod sink;
mod write;

pub use graph::{
    EdgeIndex, EdgeKind, EdgeName, GraphBuilder, HeapGraph, MAX_NODES, NodeIndex, NodeKind,
    SnapshotInfo, StringTable,
};
pub use locations::SourcePosition;
pub use parse::{ParseError, ParseOptions, parse, parse_file, parse_with};
pub use write::{Layout, write_snapshot};

/// A seeded xorshift generator, for tests that need varied but repeatable input.
#[cfg(test)]
pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
