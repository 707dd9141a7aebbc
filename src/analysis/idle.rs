//! Time versus load: an idle control interval tells growth with time from growth with requests.
//!
//! After the last rung the runner waits, with no requests, as long as a rung took, and takes one
//! more snapshot. What grew in that interval grew with time: a timer appending to an array, a
//! poller, a background job. A class or holder that grew at least the floor while idle has its
//! growth per second taken out of its series (`y - rate × t`, `t` the seconds since the
//! baseline) before it is judged against the requests, so a route is judged on what grows with
//! its requests only; the target is told about the rest on its own line ([`Idle`]).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::compare::{Comparison, is_runtime_class};
use super::digest::Digest;
use super::growth::{NoiseFloor, Trend, classify, classify_class};

/// What one idle snapshot holds, relative to the last rung's (built by
/// [`super::compare::Comparer::idle`]).
#[derive(Clone, Debug, Default)]
pub struct IdleSnapshot {
    /// Seconds from the last rung's snapshot to the idle one, with no requests between.
    pub seconds: f64,
    /// Per class key: objects and bytes then minus at the last rung (classes that changed).
    pub classes: Vec<(String, i64, i64)>,
    /// Data retained size of the baseline objects that retain more than themselves, by id.
    pub retained: HashMap<u32, u64>,
}

impl IdleSnapshot {
    /// Reduces `digest` against the last rung's counts and bytes, given per class key by `last`.
    pub(super) fn build(
        digest: &Digest,
        seconds: f64,
        mut last: impl FnMut(&str) -> (u64, u64),
        last_keys: &[String],
    ) -> IdleSnapshot {
        let mut now: HashMap<&str, (u64, u64)> = HashMap::new();
        for (i, key) in digest.local_keys.iter().enumerate() {
            let e = now.entry(key.as_str()).or_default();
            e.0 += digest.count[i];
            e.1 += digest.bytes[i];
        }
        let mut classes = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for key in digest.local_keys.iter().chain(last_keys) {
            if !seen.insert(key.as_str()) {
                continue;
            }
            let (c1, b1) = now.get(key.as_str()).copied().unwrap_or_default();
            let (c0, b0) = last(key);
            let (dc, db) = (c1 as i64 - c0 as i64, b1 as i64 - b0 as i64);
            if dc != 0 || db != 0 {
                classes.push((key.clone(), dc, db));
            }
        }
        IdleSnapshot { seconds, classes, retained: digest.retained.iter().collect() }
    }
}

/// Growth while no requests ran, as the report carries it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Idle {
    /// Length of the idle interval, in seconds.
    pub seconds: f64,
    /// Growth of the program's data (V8's code and metadata left out) in that interval.
    pub program_bytes: i64,
    /// The same, per minute.
    pub bytes_per_minute: f64,
    /// True when something grew with time: a class or holder grew at least the noise floor
    /// while idle, and the program's data too.
    pub grows: bool,
    /// The classes that grew at least the floor while idle, most bytes first: key, objects and
    /// bytes per minute.
    pub classes: Vec<IdleClass>,
    /// The growing holders whose retained size grew at least the floor while idle.
    pub holders: Vec<IdleHolder>,
}

/// A class that grew with time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdleClass {
    /// The class key.
    pub key: String,
    /// Objects per minute while idle.
    pub objects_per_minute: f64,
    /// Bytes per minute while idle.
    pub bytes_per_minute: f64,
}

/// A holder that grew with time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdleHolder {
    /// The holder's culprit (variable or property) or class and id.
    pub name: String,
    /// Retained bytes per minute while idle.
    pub bytes_per_minute: f64,
}

/// The share of the growth time explains per interval that is still put on time, not on the
/// requests: a timer runs a little faster or slower under load than idle.
const TIME_MARGIN: f64 = 0.25;

/// Most classes listed on [`Idle::classes`].
const MAX_IDLE_CLASSES: usize = 5;

impl Comparison {
    /// Takes an idle interval into account: `at` holds the seconds since the baseline at which
    /// each snapshot of the comparison was taken. Classes and holders that grew while idle are
    /// judged on their growth beyond the time rate; [`Comparison::idle`] says what grew.
    pub fn apply_idle(&mut self, idle: &IdleSnapshot, at: &[f64]) {
        assert_eq!(at.len(), self.snapshots.len(), "one time per snapshot");
        let seconds = idle.seconds.max(1e-3);
        let per_minute = 60.0 / seconds;
        let xs: Vec<f64> = self.snapshots.iter().map(|s| s.steps).collect();
        let (objects_floor, bytes_floor) =
            (self.thresholds.objects.per_interval, self.thresholds.bytes.per_interval);
        let by_key: HashMap<&str, (i64, i64)> =
            idle.classes.iter().map(|(k, c, b)| (k.as_str(), (*c, *b))).collect();
        let untimed = |ys: &[u64], rate: f64| -> Vec<u64> {
            ys.iter()
                .zip(at)
                .map(|(&y, &t)| (y as f64 - rate * t).max(0.0).round() as u64)
                .collect()
        };
        // Time explains `rate × seconds` per interval, give or take how evenly the target's
        // timers ran loaded and idle: a margin of that growth is not put on the requests.
        let longest = at.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        let widened = |floor: NoiseFloor, rate: f64| NoiseFloor {
            per_interval: floor.per_interval + TIME_MARGIN * rate * longest,
            ..floor
        };
        let mut grew = Vec::new();
        let mut program = 0i64;
        for class in &mut self.classes {
            let Some(&(dc, db)) = by_key.get(class.key.as_str()) else { continue };
            let runtime = is_runtime_class(&class.key);
            if !runtime {
                program += db;
            }
            let (timed_objects, timed_bytes) =
                (dc as f64 >= objects_floor, db as f64 >= bytes_floor);
            if timed_objects {
                let rate = dc as f64 / seconds;
                let ys = untimed(&class.counts, rate);
                let floor = widened(self.thresholds.objects, rate);
                class.count_fit = classify_class(&xs, &ys, floor, runtime, true);
            }
            if timed_bytes {
                let rate = db as f64 / seconds;
                let ys = untimed(&class.bytes, rate);
                let floor = widened(self.thresholds.bytes, rate);
                class.bytes_fit = classify_class(&xs, &ys, floor, runtime, false);
            }
            if (timed_objects || timed_bytes) && !runtime {
                grew.push(IdleClass {
                    key: class.key.clone(),
                    objects_per_minute: dc as f64 * per_minute,
                    bytes_per_minute: db as f64 * per_minute,
                });
            }
        }
        let mut holders = Vec::new();
        for holder in &mut self.holders {
            let Some(&now) = idle.retained.get(&holder.node.id) else { continue };
            let last = holder.retained.last().copied().unwrap_or(0);
            let delta = now as f64 - last as f64;
            if delta < bytes_floor {
                continue;
            }
            let ys = untimed(&holder.retained, delta / seconds);
            holder.fit = classify(
                &xs,
                &ys.iter().map(|&y| y as f64).collect::<Vec<_>>(),
                widened(self.thresholds.bytes, delta / seconds),
            );
            holders.push(IdleHolder {
                name: holder
                    .culprit
                    .clone()
                    .unwrap_or_else(|| format!("{} @{}", holder.class, holder.node.id)),
                bytes_per_minute: delta * per_minute,
            });
        }
        self.holders.retain(|h| matches!(h.fit.trend, Trend::Linear | Trend::Irregular));
        grew.sort_by(|a, b| b.bytes_per_minute.total_cmp(&a.bytes_per_minute));
        grew.truncate(MAX_IDLE_CLASSES);
        self.idle = Some(Idle {
            seconds,
            program_bytes: program,
            bytes_per_minute: program as f64 * per_minute,
            grows: (!grew.is_empty() || !holders.is_empty()) && program as f64 >= bytes_floor,
            classes: grew,
            holders,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::compare::SnapshotTotals;
    use crate::analysis::growth::test_class as class;

    /// Three snapshots 500 requests apart, taken after the program ran `at` seconds.
    fn comparison(classes: Vec<crate::analysis::compare::ClassGrowth>) -> Comparison {
        let snapshots = (0..3)
            .map(|i| SnapshotTotals {
                label: format!("s{i}"),
                steps: i as f64 * 500.0,
                nodes: 0,
                bytes: 0,
            })
            .collect();
        let total_fit = classes[0].count_fit;
        Comparison {
            snapshots,
            classes,
            holders: Vec::new(),
            total_fit,
            program_bytes: vec![0.0; 3],
            thresholds: Default::default(),
            noise: Default::default(),
            detection_limit: Default::default(),
            idle: None,
        }
    }

    fn idle(key: &str, objects: i64, bytes: i64) -> IdleSnapshot {
        IdleSnapshot {
            seconds: 1.0,
            classes: vec![(key.into(), objects, bytes)],
            retained: HashMap::new(),
        }
    }

    #[test]
    fn growth_a_timer_explains_within_its_margin_is_the_targets() {
        // 200 samples a second idle; loaded, the timer ran 10% faster: 220 per 1 s rung.
        let mut c = comparison(vec![class("{at, source}", &[40, 260, 480], &[0, 0, 0])]);
        assert_eq!(c.classes[0].trend(), Trend::Linear);
        c.apply_idle(&idle("{at, source}", 200, 0), &[0.0, 1.0, 2.0]);
        assert_ne!(c.classes[0].trend(), Trend::Linear);
        let idle = c.idle.as_ref().unwrap();
        assert!(idle.classes.iter().any(|k| k.key == "{at, source}"));
    }

    #[test]
    fn a_leak_beside_a_timer_still_grows_with_the_requests() {
        // The same timer, and a request leaking one object in five: 100 more per rung.
        let mut c = comparison(vec![class("{at, source}", &[40, 340, 640], &[0, 0, 0])]);
        c.apply_idle(&idle("{at, source}", 200, 0), &[0.0, 1.0, 2.0]);
        assert_eq!(c.classes[0].trend(), Trend::Linear);
        assert!((c.classes[0].count_fit.per_step - 0.2).abs() < 0.01);
    }
}
