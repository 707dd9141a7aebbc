//! Growth that has stopped: no FAIL on a structure that filled up.
//!
//! Two rules keep a bounded structure (an LRU cache still filling at the baseline, a table that
//! resized once) from being taken for a leak:
//! - **Deceleration**: when something grows linearly but the program's data as a whole, or a
//!   growing holder, grew sharply slower in the last interval than in the one before
//!   ([`DECELERATION`]), the verdict waits for more rungs ([`decelerating`]).
//! - **Re-shuffling**: a class that grows in step with the load while the program's data as a
//!   whole did not grow in the last intervals ([`RESHUFFLE_SHARE`]) is moving inside a
//!   structure that stopped growing: entries of one class replaced by another in a full cache,
//!   a table's backing store replaced. It is marked [`Trend::Reshuffled`], not a leak
//!   ([`mark_reshuffled`]). Memory that really leaks raises the total by what it adds.

use serde::{Deserialize, Serialize};

use super::compare::{ClassGrowth, Comparison, is_runtime_class};
use super::growth::Trend;

/// The last interval's growth rate below this share of the one before counts as a sharp
/// slowdown. A leak's intervals agree within a factor of two (the classifier's evenness ratio),
/// so a third is beyond its noise.
pub const DECELERATION: f64 = 1.0 / 3.0;

/// In each of the last two intervals (the last one, with only one), the program's data grew by
/// less than this share of what the linearly growing classes added: they moved, they did not
/// accumulate.
pub const RESHUFFLE_SHARE: f64 = 0.25;

/// Marks [`Trend::Reshuffled`] the program-data classes whose bytes grow "linearly" but, in the
/// last two intervals, only in steps (one of them did not clear `bytes_floor`) while their
/// object count stayed within `objects_floor`: one object replaced by a larger one now and then, a hash
/// table or backing store resized. Whether the structure itself grows is for its holder (its
/// retained size) to say. Returns true when it marked any.
pub fn mark_resized(classes: &mut [ClassGrowth], bytes_floor: f64, objects_floor: f64) -> bool {
    let mut any = false;
    for class in classes.iter_mut() {
        if class.bytes_fit.trend != Trend::Linear
            || class.count_fit.trend == Trend::Linear
            || is_runtime_class(&class.key)
        {
            continue;
        }
        let step = |v: &[u64], i: usize| v[i] as f64 - v[i - 1] as f64;
        // The last two intervals (the last one, with only one): the structure may have filled
        // before, its objects coming in with the load.
        let n = class.bytes.len();
        let last = n.saturating_sub(2).max(1)..n;
        let in_steps = last.clone().any(|i| step(&class.bytes, i) < bytes_floor);
        let same_objects = last.clone().all(|i| step(&class.counts, i).abs() < objects_floor);
        if in_steps && same_objects {
            class.bytes_fit.trend = Trend::Reshuffled;
            any = true;
        }
    }
    any
}

/// A series that slowed down sharply in the last interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deceleration {
    /// What slowed: "the program's data" or a holder's name.
    pub what: String,
    /// Bytes per request in the interval before the last.
    pub before: f64,
    /// Bytes per request in the last interval.
    pub last: f64,
}

/// Marks the linearly growing program-data classes [`Trend::Reshuffled`] when, in the last two
/// intervals (the last one, with only one), the program's data (`program`, one total per
/// snapshot) grew by less than [`RESHUFFLE_SHARE`] of what those classes added. Returns true
/// when it marked any.
pub fn mark_reshuffled(classes: &mut [ClassGrowth], program: &[f64]) -> bool {
    let k = program.len().saturating_sub(1);
    let linear: Vec<usize> = (0..classes.len())
        .filter(|&c| classes[c].trend() == Trend::Linear && !is_runtime_class(&classes[c].key))
        .collect();
    if k == 0 || linear.is_empty() {
        return false;
    }
    for i in k + 1 - k.min(2)..=k {
        let added: f64 = linear
            .iter()
            .map(|&c| (classes[c].bytes[i] as f64 - classes[c].bytes[i - 1] as f64).max(0.0))
            .sum();
        if added <= 0.0 || program[i] - program[i - 1] >= RESHUFFLE_SHARE * added {
            return false;
        }
    }
    for &c in &linear {
        for fit in [&mut classes[c].count_fit, &mut classes[c].bytes_fit] {
            if fit.trend == Trend::Linear {
                fit.trend = Trend::Reshuffled;
            }
        }
    }
    true
}

/// When something grows linearly (a FAIL in the making) while the program's data or a growing
/// holder slowed down sharply in the last interval: what slowed. The runner then takes another
/// rung instead of deciding.
pub fn decelerating(c: &Comparison) -> Option<Deceleration> {
    let leaking = c.classes.iter().any(|k| k.trend() == Trend::Linear && !is_runtime_class(&k.key))
        || c.holders.iter().any(|h| h.fit.trend == Trend::Linear);
    let xs: Vec<f64> = c.snapshots.iter().map(|s| s.steps).collect();
    if !leaking || xs.len() < 3 {
        return None;
    }
    let floor = c.thresholds.bytes;
    let slowed = |what: String, ys: &[f64]| {
        let k = ys.len() - 1;
        let steps = |i: usize| (xs[i] - xs[i - 1]).max(1.0);
        let before = (ys[k - 1] - ys[k - 2]) / steps(k - 1);
        let last = (ys[k] - ys[k - 1]) / steps(k);
        (before * steps(k - 1) >= floor.for_interval(steps(k - 1)) && last < DECELERATION * before)
            .then_some(Deceleration { what, before, last })
    };
    slowed("the program's data".into(), &c.program_bytes).or_else(|| {
        c.holders.iter().find_map(|h| {
            let name = h.culprit.clone().unwrap_or_else(|| format!("{} @{}", h.class, h.node.id));
            let ys: Vec<f64> = h.retained.iter().map(|&v| v as f64).collect();
            slowed(name, &ys)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::growth::{NoiseFloor, classify, test_class as class};

    fn total(classes: &[ClassGrowth]) -> Vec<f64> {
        let n = classes[0].bytes.len();
        (0..n).map(|i| classes.iter().map(|c| c.bytes[i] as f64).sum()).collect()
    }

    #[test]
    fn entries_changing_class_in_a_full_cache_are_reshuffled() {
        // A full cache of 2,000 entries: new entries are `Fresh`, the evicted ones `Stale`.
        let mut classes = vec![
            class("Fresh", &[0, 500, 1000, 1500], &[0, 32_000, 64_000, 96_000]),
            class("Stale", &[2000, 1500, 1000, 500], &[128_000, 96_000, 64_000, 32_000]),
        ];
        let program = total(&classes);
        assert_eq!(classes[0].trend(), Trend::Linear);
        assert!(mark_reshuffled(&mut classes, &program));
        assert_eq!(classes[0].trend(), Trend::Reshuffled);
    }

    #[test]
    fn a_table_replaced_by_a_larger_one_now_and_then_is_resized_not_leaked() {
        let xs = [0.0, 200.0, 400.0, 600.0, 800.0, 1000.0];
        let mut table = class(
            "(array)",
            &[1265, 1405, 1522, 1547, 1547, 1551],
            &[782_912, 797_848, 812_504, 814_104, 814_104, 829_048],
        );
        table.bytes_fit = classify(
            &xs,
            &table.bytes.iter().map(|&b| b as f64).collect::<Vec<_>>(),
            NoiseFloor::BYTES,
        );
        assert_eq!(table.bytes_fit.trend, Trend::Linear);
        // A string that grows every interval is a leak, even with one object.
        let log = class("(string)", &[10, 10, 10], &[1000, 40_000, 79_000]);
        let mut classes = vec![table, log];
        assert!(mark_resized(&mut classes, 8192.0, 16.0));
        assert_eq!(classes[0].bytes_fit.trend, Trend::Reshuffled);
        assert_ne!(classes[0].trend(), Trend::Linear);
        assert_eq!(classes[1].trend(), Trend::Linear);
    }

    #[test]
    fn a_leak_raises_the_total_and_stays_a_leak() {
        let mut classes = vec![
            class("Job", &[0, 500, 1000], &[0, 32_000, 64_000]),
            class("Other", &[100, 110, 100], &[6400, 7040, 6400]),
        ];
        let program = total(&classes);
        assert!(!mark_reshuffled(&mut classes, &program));
        assert_eq!(classes[0].trend(), Trend::Linear);
    }

    #[test]
    fn a_cache_still_filling_in_the_second_to_last_interval_is_not_yet_reshuffled() {
        // Interval 1 fills the cache (the total grows); interval 2 only reshuffles: one flat
        // interval is not enough when there are two, more rungs decide.
        let mut classes = vec![
            class("Fresh", &[0, 500, 1000], &[0, 32_000, 64_000]),
            class("Stale", &[600, 1200, 700], &[38_400, 76_800, 44_800]),
        ];
        let program = total(&classes);
        assert!(!mark_reshuffled(&mut classes, &program));
    }
}
