//! Choosing a free port for a target.
//!
//! A port handed out by binding port 0 comes from the kernel's ephemeral range, the same range
//! every `--inspect=127.0.0.1:0` inspector and every outgoing connection draws from. Between
//! the moment leakcheck lets go of it and the moment the target binds it, another process's
//! inspector can take it; readiness then passes against the wrong server. This was seen in
//! the tests, with several Node processes starting at once. So the port is chosen below the
//! ephemeral range, where nothing binds by accident.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lowest port considered: above the well-known and most registered service ports.
const LOWEST: u16 = 15000;
/// Ports tried before falling back to one from the ephemeral range.
const ATTEMPTS: usize = 64;

/// The first port of the kernel's ephemeral range (`ip_local_port_range`), 32768 by default.
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// A pseudo-random number, different on every call and in every process.
fn random() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// A TCP port that is free on 127.0.0.1 now, chosen at random below the ephemeral range
/// (falls back to binding port 0 when that range is too small or full). Another process can
/// still take it before the target does; that shows as a target that fails with
/// `EADDRINUSE` or never becomes ready.
pub fn free_port() -> io::Result<u16> {
    let end = ephemeral_start();
    if end > LOWEST + 1000 {
        let span = u64::from(end - LOWEST);
        for _ in 0..ATTEMPTS {
            let port = LOWEST + (random() % span) as u16;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_below_the_ephemeral_range_and_vary() {
        let ports: Vec<u16> = (0..20).map(|_| free_port().unwrap()).collect();
        for &port in &ports {
            assert!(port >= LOWEST && port < ephemeral_start(), "{port}");
            TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
        let mut distinct = ports.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 10, "{ports:?}");
    }
}
