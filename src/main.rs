//! The `leakcheck` command: a thin wrapper over the library.
fn main() {}
