//! leakcheck catches JavaScript memory leaks before they ship.
//!
//! The crate reads V8 heap snapshots into a compact graph ([`snapshot`]), analyses them
//! ([`analysis`]) and compares snapshots of one process to find what grows with load.
#![deny(missing_docs)]
// Denied, not forbidden, for two measured hot paths: the AVX2 tokeniser of the parse's workers
// (`snapshot/chunks.rs`): 6.5 ns per value against 10.5 in safe code when it came, and 6.1 ns
// against its first form's 8.8 since its windows start at values; the prefetch hints of
// the dominator tree's BFS (`analysis/dominators.rs`), 9% off it; and the parse's workers
// populating the pages of the growing columns ahead of the reading thread
// (`snapshot/prefault.rs`, `madvise`, which changes no byte), 3-5% off `diff` (docs/speed.md).
#![deny(unsafe_code)]

pub mod analysis;
pub mod app;
pub mod cli;
pub mod format;
pub mod harness;
pub mod inspector;
pub mod judge;
pub mod launch;
pub mod leakspec;
pub mod load;
pub mod model;
pub mod plan;
pub mod record;
pub mod report;
pub mod runner;
pub mod shard;
pub mod snapshot;
pub mod style;
