//! How much a run's heap moves between rungs when nothing leaks, and from that the run's
//! **detection limit**: the smallest linear growth per request it would have flagged.
//!
//! A leak is flagged when every interval's growth of its class (or of a holder's retained size)
//! clears the noise floor and the intervals agree within [`super::growth`]'s evenness ratio.
//! Noise moves a series both ways: a leak adding `A` per interval is measured anywhere between
//! `A - σ` and `A + σ`, where `σ` is how far a class that does not grow moves between two
//! snapshots. So a leak is certain to be flagged when `A - σ` clears the floor and
//! `A - σ >= ½ (A + σ)`, that is `A >= max(floor + σ, 3σ)`; divided by the interval's requests,
//! that is the limit. `σ` is measured on this run: the movement of the program-data classes that
//! did not grow (see [`Noise`]).

use serde::{Deserialize, Serialize};

use super::classes::CODE_CLASS;
use super::compare::{ClassGrowth, is_runtime_class};
use super::growth::{NoiseFloor, Trend};

/// The movement that counts as a run's noise: this quantile of the non-growing classes'
/// largest movement between two snapshots. Not the largest one: a single class that fills and
/// drains (a buffer pool) would otherwise set the limit for all the others, while a leak
/// almost always has a class of its own or joins a common one (`(string)`, `(array)`) whose
/// movement is below this quantile.
pub const NOISE_QUANTILE: f64 = 0.9;

/// How much one run's heap moves between rungs apart from growth.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Noise {
    /// Bytes a class that does not grow moves between two snapshots ([`NOISE_QUANTILE`] of
    /// the program-data classes that moved at all).
    pub class_bytes: f64,
    /// Objects a class that does not grow moves between two snapshots, likewise.
    pub class_objects: f64,
    /// How far the program-data total (V8's code and metadata left out) strays, between two
    /// snapshots, from the straight line through all of them, in bytes. With two intervals
    /// that is half the difference of their growths.
    pub total_bytes: f64,
    /// Program-data classes that moved and were measured.
    pub classes: usize,
}

/// The smallest linear growth one run would have flagged (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DetectionLimit {
    /// Bytes per request added to one class, or to one holder's retained size.
    pub bytes_per_request: f64,
    /// Objects of one class per request.
    pub objects_per_request: f64,
}

/// Measures the noise of a comparison's classes (already classified) and of its program-data
/// total (one figure per snapshot).
///
/// A drop in an interval where V8's compiled code shrank is left out: V8 discards the bytecode
/// of functions that have not run for several collections (those of a route checked before
/// this one), and the strings and arrays only that code held fall with it. Such a one-way
/// release says nothing about how far the program's data jitters, and taken as jitter it
/// would raise every class's floor (one such release, 252 strings, once raised a run's floor
/// from 16 objects per interval to 504 and let a leak of one object per request pass). Rises,
/// and drops in other intervals, still count.
pub fn measure(classes: &[ClassGrowth], program_total: &[f64]) -> Noise {
    let code_released: Vec<bool> = classes
        .iter()
        .find(|c| c.key == CODE_CLASS)
        .map(|code| code.bytes.windows(2).map(|w| w[1] < w[0]).collect())
        .unwrap_or_default();
    let released = |interval: usize| code_released.get(interval).copied().unwrap_or(false);
    let mut bytes = Vec::new();
    let mut objects = Vec::new();
    for class in classes {
        if is_runtime_class(&class.key) {
            continue;
        }
        // The intervals in which the class did not grow: all of them for a class that does
        // not grow, the last one of a class that grew and stopped.
        let from = match class.trend() {
            Trend::Noise | Trend::Shrinking => 0,
            Trend::Stopped | Trend::Reshuffled => class.counts.len().saturating_sub(2),
            Trend::Linear | Trend::Irregular => continue,
        };
        let moved = |v: &[u64]| {
            v.windows(2)
                .enumerate()
                .skip(from)
                .filter(|(i, w)| !(w[1] < w[0] && released(*i)))
                .map(|(_, w)| (w[1] as f64 - w[0] as f64).abs())
                .fold(0.0, f64::max)
        };
        let (b, o) = (moved(&class.bytes), moved(&class.counts));
        if b > 0.0 || o > 0.0 {
            bytes.push(b);
            objects.push(o);
        }
    }
    Noise {
        class_bytes: quantile(&mut bytes, NOISE_QUANTILE),
        class_objects: quantile(&mut objects, NOISE_QUANTILE),
        total_bytes: residual(program_total),
        classes: bytes.len(),
    }
}

/// The floors raised to the measured noise: a class that moves `σ` each way between snapshots
/// must not clear the floor by noise alone in every interval, so the floor is at least
/// [`NOISE_MULTIPLE`] times `σ`.
pub fn raised(floor: NoiseFloor, sigma: f64) -> NoiseFloor {
    NoiseFloor { per_interval: floor.per_interval.max(NOISE_MULTIPLE * sigma), ..floor }
}

/// How many times the measured noise the floor per interval is at least (see [`raised`]).
pub const NOISE_MULTIPLE: f64 = 2.0;

/// The detection limit of a run whose snapshots were taken after `xs` requests, with these
/// floors (already raised) and this noise.
///
/// ```
/// use leakcheck::analysis::growth::NoiseFloor;
/// use leakcheck::analysis::noise::{Noise, detection_limit};
/// // Three snapshots 500 requests apart, a quiet run: 8 KiB per interval over 500 requests.
/// let quiet = Noise::default();
/// let limit = detection_limit(&[0.0, 500.0, 1000.0], NoiseFloor::BYTES, NoiseFloor::OBJECTS, &quiet);
/// assert!((limit.bytes_per_request - 16.384).abs() < 1e-9);
/// assert!((limit.objects_per_request - 0.032).abs() < 1e-9);
/// ```
pub fn detection_limit(
    xs: &[f64],
    bytes: NoiseFloor,
    objects: NoiseFloor,
    noise: &Noise,
) -> DetectionLimit {
    let limit = |floor: NoiseFloor, sigma: f64| {
        xs.windows(2)
            .map(|w| {
                let steps = (w[1] - w[0]).max(1.0);
                (floor.for_interval(steps) + sigma).max(3.0 * sigma) / steps
            })
            .fold(0.0, f64::max)
    };
    DetectionLimit {
        bytes_per_request: limit(bytes, noise.class_bytes),
        objects_per_request: limit(objects, noise.class_objects),
    }
}

/// The `q` quantile (nearest rank) of the values; 0 when there are none.
fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// The largest distance of an interval's growth from the mean growth per step, times the
/// interval's steps, assuming equal intervals (the runner's are): how unevenly the series grew.
fn residual(ys: &[f64]) -> f64 {
    if ys.len() < 3 {
        return 0.0;
    }
    let deltas: Vec<f64> = ys.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = deltas.iter().sum::<f64>() / deltas.len() as f64;
    deltas.iter().map(|d| (d - mean).abs()).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::growth::test_class as class;

    #[test]
    fn noise_is_a_high_quantile_of_non_growing_classes() {
        let mut classes: Vec<ClassGrowth> = (0..9)
            .map(|i| class(&format!("C{i}"), &[10, 11, 10], &[1000, 1000 + 100 * i, 1000]))
            .collect();
        // The one class that fills and drains does not set the noise for all.
        classes.push(class("Pool", &[10, 400, 12], &[1000, 90_000, 1200]));
        // A leak and V8's code are not noise.
        classes.push(class("Job", &[0, 500, 1000], &[0, 32_000, 64_000]));
        classes.push(class("(compiled code)", &[0, 30, 31], &[0, 300_000, 310_000]));
        let noise = measure(&classes, &[1e6, 1.1e6, 1.2e6]);
        assert_eq!(noise.classes, 10);
        assert_eq!(noise.class_bytes, 800.0);
        assert_eq!(noise.class_objects, 1.0);
        assert_eq!(noise.total_bytes, 0.0);
    }

    #[test]
    fn drops_when_v8_discards_code_are_not_noise() {
        // As measured on a route checked after another (html.toml's `assign`): V8 flushed the
        // first route's bytecode in the last interval, and 252 strings went with it.
        let classes = [
            class("(compiled code)", &[16_467, 16_519, 14_921], &[1_861_864, 1_874_440, 1_715_160]),
            class("(string)", &[11_933, 11_933, 11_681], &[435_888, 435_888, 426_768]),
            class("(array)", &[1177, 1177, 1178], &[717_288, 718_760, 719_880]),
            class("Object", &[544, 544, 545], &[32_400, 32_400, 32_464]),
        ];
        let noise = measure(&classes, &[0.0, 0.0, 0.0]);
        assert_eq!((noise.class_objects, noise.class_bytes), (1.0, 1472.0));
        // The same drop while the code grew is the program's own, and counts.
        let mut grown = classes.clone();
        grown[0] =
            class("(compiled code)", &[16_467, 16_519, 16_600], &[1_861_864, 1_874_440, 1_880_000]);
        let noise = measure(&grown, &[0.0, 0.0, 0.0]);
        assert_eq!((noise.class_objects, noise.class_bytes), (252.0, 9120.0));
        // A class that rose before it fell still counts its rise.
        let mut rising = classes.clone();
        rising[1] = class("(string)", &[11_933, 12_185, 11_933], &[435_888, 445_008, 435_888]);
        assert_eq!(measure(&rising, &[0.0, 0.0, 0.0]).class_objects, 252.0);
    }

    #[test]
    fn a_stopped_class_counts_with_its_last_interval_only() {
        let classes = [class("Cache", &[0, 1000, 1003], &[0, 64_000, 64_192])];
        let noise = measure(&classes, &[0.0, 64_000.0, 64_192.0]);
        assert_eq!((noise.class_bytes, noise.class_objects), (192.0, 3.0));
        assert!((noise.total_bytes - 31_904.0).abs() < 1e-9);
    }

    #[test]
    fn the_limit_rises_with_noise_and_falls_with_requests() {
        let quiet = Noise::default();
        let noisy = Noise { class_bytes: 6000.0, class_objects: 40.0, ..Noise::default() };
        let at = |n: f64, noise: &Noise| {
            let xs = [0.0, n, 2.0 * n];
            let floor = |f, s| raised(f, s);
            detection_limit(
                &xs,
                floor(NoiseFloor::BYTES, noise.class_bytes),
                floor(NoiseFloor::OBJECTS, noise.class_objects),
                noise,
            )
        };
        assert!(at(500.0, &noisy).bytes_per_request > at(500.0, &quiet).bytes_per_request);
        // 2 x 6000 raised the floor to 12,000; plus the 6000 of noise: 36 B over 500 requests.
        assert!((at(500.0, &noisy).bytes_per_request - 36.0).abs() < 1e-9);
        assert!((at(500.0, &noisy).objects_per_request - 0.24).abs() < 1e-9);
        // Ten times the requests: the per-request floor (2 B) is what is left.
        assert!((at(5000.0, &quiet).bytes_per_request - 2.0).abs() < 1e-9);
        assert!(at(5000.0, &noisy).bytes_per_request < at(500.0, &noisy).bytes_per_request);
    }
}
