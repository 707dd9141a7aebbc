//! Sizing a run to a sensitivity (`requests = "auto"`): from one series' measured noise, how
//! many requests per rung the next series needs for its detection limit to meet the route's
//! `sensitivity`, or that no number of requests can.
//!
//! The limit of a series of rungs of `N` requests ([`super::noise::detection_limit`]) is
//! `max(max(F, f·N) + σ, 3σ) / N`, with `F` the floor per interval (raised to `2σ`), `f` the
//! floor per request and `σ` the run's noise. It meets a sensitivity `s` when
//! `N ≥ (F + σ) / s`, `N ≥ σ / (s − f)` and `N ≥ 3σ / s`; with `s ≤ f` it never does: below
//! the floor per request nothing is ever flagged, however long the run.

use super::growth::NoiseFloor;
use super::noise::{NOISE_MULTIPLE, Noise};

/// Head room on the predicted requests: the next series measures its own noise, which may be
/// a little larger than this one's.
pub const MARGIN: f64 = 1.25;

/// The next series grows the requests per rung at most this many times: noise measured on a
/// short series is a rough guide, so the run gets there in steps rather than in one long jump.
pub const MAX_GROWTH: f64 = 8.0;

/// What the next series should do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Next {
    /// The limit meets the sensitivity: stop.
    Reached,
    /// Run another series with this many requests per rung.
    Grow(u64),
    /// No number of requests per rung meets the sensitivity: it is at or below the floor per
    /// request (`floor`, bytes per request).
    Unreachable {
        /// The floor per request, bytes.
        floor: f64,
    },
}

/// The requests per rung for which a series with this noise states a bytes limit of at most
/// `sensitivity` (bytes per request); `None` when none does.
///
/// ```
/// use leakcheck::analysis::growth::NoiseFloor;
/// use leakcheck::analysis::noise::Noise;
/// use leakcheck::analysis::sizing::requests_for;
/// // A quiet run: the 8 KiB floor per interval over 16 B/request takes 512 requests.
/// assert_eq!(requests_for(16.0, NoiseFloor::BYTES, &Noise::default()), Some(512.0));
/// // Below the floor per request (2 B) nothing is ever flagged.
/// assert_eq!(requests_for(2.0, NoiseFloor::BYTES, &Noise::default()), None);
/// ```
pub fn requests_for(sensitivity: f64, floor: NoiseFloor, noise: &Noise) -> Option<f64> {
    if sensitivity.is_nan() || sensitivity <= floor.per_step {
        return None;
    }
    let sigma = noise.class_bytes;
    let per_interval = floor.per_interval.max(NOISE_MULTIPLE * sigma);
    let n = ((per_interval + sigma) / sensitivity)
        .max(sigma / (sensitivity - floor.per_step))
        .max(3.0 * sigma / sensitivity);
    Some(n)
}

/// After a series of rungs of `requests` each that stated `limit` (bytes per request) with
/// this noise and proved no leak: stop, or the requests per rung of the next series (at most
/// `cap`; never fewer than twice these, so each series is worth its time).
///
/// ```
/// use leakcheck::analysis::growth::NoiseFloor;
/// use leakcheck::analysis::noise::Noise;
/// use leakcheck::analysis::sizing::{Next, next};
/// let quiet = Noise::default();
/// // 100 requests per rung state 82 B/request; 16 B asks for 512 (plus the margin): 640.
/// assert_eq!(next(16.0, 81.92, 100, NoiseFloor::BYTES, &quiet, 100_000), Next::Grow(640));
/// assert_eq!(next(100.0, 81.92, 100, NoiseFloor::BYTES, &quiet, 100_000), Next::Reached);
/// assert_eq!(next(0.01, 81.92, 100, NoiseFloor::BYTES, &quiet, 100_000), Next::Unreachable { floor: 2.0 });
/// ```
pub fn next(
    sensitivity: f64,
    limit: f64,
    requests: u64,
    floor: NoiseFloor,
    noise: &Noise,
    cap: u64,
) -> Next {
    if limit <= sensitivity {
        return Next::Reached;
    }
    let Some(needed) = requests_for(sensitivity, floor, noise) else {
        return Next::Unreachable { floor: floor.per_step };
    };
    let now = requests.max(1) as f64;
    let wanted = (needed * MARGIN).ceil().clamp(2.0 * now, MAX_GROWTH * now);
    Next::Grow((wanted as u64).min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::noise::{detection_limit, raised};

    fn limit_at(n: f64, noise: &Noise) -> f64 {
        let floor = raised(NoiseFloor::BYTES, noise.class_bytes);
        let objects = raised(NoiseFloor::OBJECTS, noise.class_objects);
        detection_limit(&[0.0, n, 2.0 * n], floor, objects, noise).bytes_per_request
    }

    #[test]
    fn the_predicted_requests_state_the_sensitivity() {
        for sigma in [0.0, 500.0, 6000.0, 40_000.0] {
            let noise = Noise { class_bytes: sigma, ..Noise::default() };
            for s in [2.5, 4.0, 16.0, 100.0] {
                let n = requests_for(s, NoiseFloor::BYTES, &noise).unwrap().ceil();
                assert!(limit_at(n, &noise) <= s + 1e-9, "σ {sigma}, s {s}: {n}");
                // And not many more than needed.
                assert!(limit_at((n - 2.0).max(1.0), &noise) > s, "σ {sigma}, s {s}: {n}");
            }
        }
    }

    #[test]
    fn growth_is_stepped_and_capped() {
        let noisy = Noise { class_bytes: 40_000.0, ..Noise::default() };
        // Needs far more than eight times the requests: eight times it is.
        assert_eq!(next(2.5, 1200.0, 100, NoiseFloor::BYTES, &noisy, 100_000), Next::Grow(800));
        // The cap holds.
        assert_eq!(next(2.5, 1200.0, 100, NoiseFloor::BYTES, &noisy, 300), Next::Grow(300));
        // Just above: at least twice the requests.
        let quiet = Noise::default();
        assert_eq!(next(80.0, 81.92, 100, NoiseFloor::BYTES, &quiet, 100_000), Next::Grow(200));
    }
}
