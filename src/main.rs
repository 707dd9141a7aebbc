//! The `leakcheck` command: a thin wrapper over the library (see `leakcheck --help`).
fn main() -> std::process::ExitCode {
    keep_large_blocks_mapped();
    leakcheck::cli::main()
}

/// glibc's malloc serves blocks above its mmap threshold with their own mappings, returned to
/// the system when freed, and raises that threshold (up to 32 MiB) each time such a block is
/// freed. So once the first snapshot's graph is dropped, the next graphs' multi-megabyte
/// columns come from the heap arenas, where freed memory stays resident and fragments across
/// rungs and threads. A fixed 1 MiB threshold keeps them mapped. Measured on this 2-core
/// machine (peak RSS, same time): `summary` of the 214 MB snapshot 164–169 MiB → 153.5 MiB,
/// `diff` of three 300 MB snapshots 502 → 470–479 MiB, `run` on bench/big-heap.toml (454 MiB
/// snapshots) 555 → 462 MiB. The library leaves the allocator to the program that embeds it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn keep_large_blocks_mapped() {
    // SAFETY: mallopt only sets a tunable of glibc's allocator; it runs first thing in `main`,
    // before any other thread exists.
    unsafe {
        nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_large_blocks_mapped() {}
