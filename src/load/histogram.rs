//! A latency histogram of fixed size, shared by the request tasks of one batch: a count per
//! bucket, not a list of every latency, so a rung of any size costs the same 18 KiB. Buckets
//! are exact below 128 µs and then 64 per power of two, so a percentile is within 1/64 (1.6%)
//! of the exact one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Values below this many microseconds get a bucket each.
const EXACT: u64 = 128;
/// Buckets per power of two above [`EXACT`] (the top 6 bits below the leading one).
const SUB: u64 = 64;
/// Latencies are kept up to 2^40 µs (12 days); longer ones count as that.
const MAX_EXPONENT: u32 = 40;
const BUCKETS: usize = (EXACT + (MAX_EXPONENT as u64 - 6) * SUB) as usize;

/// Latencies in microseconds, counted in log-linear buckets; safe to share between tasks.
pub struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect() }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram").field("count", &self.count()).finish()
    }
}

fn bucket(micros: u64) -> usize {
    let v = micros.min((1 << MAX_EXPONENT) - 1);
    if v < EXACT {
        return v as usize;
    }
    let exponent = 63 - v.leading_zeros() as u64; // >= 7
    let top = v >> (exponent - 6); // 64..128
    (EXACT + (exponent - 7) * SUB + (top - SUB)) as usize
}

/// The middle of bucket `index`, in microseconds.
fn value(index: usize) -> u64 {
    let i = index as u64;
    if i < EXACT {
        return i;
    }
    let exponent = (i - EXACT) / SUB + 7;
    let top = (i - EXACT) % SUB + SUB;
    let width = 1u64 << (exponent - 6);
    top * width + width / 2
}

impl Histogram {
    /// Counts one latency.
    pub fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket(micros)].fetch_add(1, Ordering::Relaxed);
    }

    /// Latencies counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The latency at quantile `q` (0.5 for the median): the value at rank
    /// `round((count - 1) × q)` in sorted order, to within its bucket. Zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        let n = self.count();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = ((n - 1) as f64 * q.clamp(0.0, 1.0)).round() as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen > rank {
                return Duration::from_micros(value(i));
            }
        }
        Duration::from_micros(value(BUCKETS - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_values_fall_inside_them() {
        let mut last = 0;
        for micros in (0..5000).chain([1 << 20, 123_456_789, (1 << 40) - 1, u64::MAX]) {
            let b = bucket(micros);
            assert!(b >= last || micros > 5000, "{micros}");
            assert!(b < BUCKETS);
            last = b;
            let back = value(b);
            let v = micros.min((1 << MAX_EXPONENT) - 1);
            assert!(back.abs_diff(v) as f64 <= v as f64 / 64.0 + 0.5, "{micros} -> {back}");
        }
    }

    #[test]
    fn quantiles_match_the_sorted_list_within_a_bucket() {
        let h = Histogram::default();
        let mut all: Vec<u64> = (0..10_000u64).map(|i| (i * 7919) % 50_000 + 3).collect();
        for &v in &all {
            h.record(Duration::from_micros(v));
        }
        all.sort_unstable();
        for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
            let exact = all[((all.len() - 1) as f64 * q).round() as usize];
            let got = h.quantile(q).as_micros() as u64;
            assert!(
                got.abs_diff(exact) as f64 <= exact as f64 / 64.0 + 1.0,
                "q {q}: {got} vs {exact}"
            );
        }
        assert_eq!(h.count(), 10_000);
        assert_eq!(Histogram::default().quantile(0.5), Duration::ZERO);
    }
}
