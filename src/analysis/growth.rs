//! The growth classifier: given how much of something (objects of a class, bytes a holder
//! retains) there was at each rung of load, say whether it grows linearly with the load, grew
//! once and stopped, is noise, or shrinks.
//!
//! A leak is growth that keeps pace with the load: every interval adds about the same amount per
//! step, above a noise floor. Warm-up (JIT code, a cache filling, lazy init) adds a lot early and
//! then less; noise moves both ways; a bounded structure stops. With only two intervals (the
//! default three snapshots) the evidence can be ambiguous, and the classifier says so
//! ([`Trend::Irregular`]) rather than guess, so the runner can take another rung.

use serde::{Deserialize, Serialize};

/// What a series does as the load grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// Grows by about the same amount per step in every interval: a leak.
    Linear,
    /// Grows in every interval but unevenly: more rungs are needed to tell a leak from warm-up.
    Irregular,
    /// Grew, then stopped: lazy initialisation, a cache that filled, JIT warm-up.
    Stopped,
    /// Moves less than the noise floor, or both ways.
    Noise,
    /// Shrinks over the run.
    Shrinking,
    /// Grew in step with the load while the program's data as a whole stopped growing: objects
    /// moving inside a structure that is full (a bounded cache whose entries change class, a
    /// table resized), not a leak. Set by the comparison, never by [`classify`] alone.
    Reshuffled,
}

impl Trend {
    /// Short human label.
    pub fn label(self) -> &'static str {
        match self {
            Trend::Linear => "linear growth",
            Trend::Irregular => "irregular growth",
            Trend::Stopped => "grew, then stopped",
            Trend::Noise => "noise",
            Trend::Shrinking => "shrinking",
            Trend::Reshuffled => "moved inside a structure that stopped growing",
        }
    }
}

/// Thresholds below which movement counts as noise.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct NoiseFloor {
    /// Smallest growth per interval that can count, whatever the interval's length (objects or
    /// bytes, depending on the series). Residue of churn does not scale with load, so an
    /// absolute floor filters it.
    pub per_interval: f64,
    /// Smallest growth per step that can count.
    pub per_step: f64,
}

impl NoiseFloor {
    /// Default floor for object counts: 16 objects per interval, and 0.02 objects per request
    /// (a leak of one object every tenth request, 0.1, stands well above it).
    pub const OBJECTS: NoiseFloor = NoiseFloor { per_interval: 16.0, per_step: 0.02 };
    /// Default floor for bytes: 8 KiB per interval, and 2 bytes per request.
    pub const BYTES: NoiseFloor = NoiseFloor { per_interval: 8192.0, per_step: 2.0 };

    /// The floor for one interval of `steps` steps: the larger of the two.
    pub fn for_interval(&self, steps: f64) -> f64 {
        self.per_interval.max(self.per_step * steps)
    }
}

/// The verdict on one series, with the fitted rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    /// What the series does.
    pub trend: Trend,
    /// Least-squares slope across all rungs, per step (units of the series per step).
    pub per_step: f64,
    /// Coefficient of determination of the linear fit (1 for a perfect line); 0 when flat.
    pub r_squared: f64,
    /// Change from the first rung to the last.
    pub total: f64,
}

/// Below this ratio of the smallest to the largest interval rate, growth is not "about the same
/// in every interval". A linear leak with GC and scheduling noise stays near 1.
const EVEN_RATIO: f64 = 0.5;
/// Below this ratio, growth clearly levelled off.
const STOPPED_RATIO: f64 = 0.2;

/// False when [`classify`] cannot call a series from `first` to `last` growth (linear or
/// irregular): its total change is under the floor of the whole run. Cheaper than classifying
/// (no allocation), to screen many series; the same arithmetic as [`classify`].
///
/// ```
/// use leakcheck::analysis::growth::{may_grow, NoiseFloor};
/// let xs = [0.0, 500.0, 1000.0];
/// assert!(may_grow(&xs, 100.0, 1100.0, NoiseFloor::OBJECTS));
/// assert!(!may_grow(&xs, 100.0, 105.0, NoiseFloor::OBJECTS));
/// ```
pub fn may_grow(xs: &[f64], first: f64, last: f64, floor: NoiseFloor) -> bool {
    xs.len() >= 2 && last - first >= floor.for_interval(xs[xs.len() - 1] - xs[0])
}

/// Classifies a series `ys` measured after `xs` steps (ascending, at least two rungs).
///
/// ```
/// use leakcheck::analysis::growth::{classify, NoiseFloor, Trend};
/// let xs = [0.0, 500.0, 1000.0];
/// assert_eq!(classify(&xs, &[100.0, 600.0, 1100.0], NoiseFloor::OBJECTS).trend, Trend::Linear);
/// assert_eq!(classify(&xs, &[100.0, 900.0, 905.0], NoiseFloor::OBJECTS).trend, Trend::Stopped);
/// assert_eq!(classify(&xs, &[100.0, 103.0, 99.0], NoiseFloor::OBJECTS).trend, Trend::Noise);
/// ```
pub fn classify(xs: &[f64], ys: &[f64], floor: NoiseFloor) -> Fit {
    assert_eq!(xs.len(), ys.len(), "one value per rung");
    let (per_step, r_squared) = least_squares(xs, ys);
    let total = ys.last().copied().unwrap_or(0.0) - ys.first().copied().unwrap_or(0.0);
    let fit = |trend| Fit { trend, per_step, r_squared, total };
    if xs.len() < 2 {
        return fit(Trend::Noise);
    }
    // Interval rates, and whether each interval cleared the floor.
    let mut rates = Vec::with_capacity(xs.len() - 1);
    let mut cleared = Vec::with_capacity(xs.len() - 1);
    let mut below_negative = 0;
    for i in 1..xs.len() {
        let steps = (xs[i] - xs[i - 1]).max(f64::MIN_POSITIVE);
        let delta = ys[i] - ys[i - 1];
        let floor_here = floor.for_interval(steps);
        cleared.push(delta >= floor_here);
        if delta < floor_here && delta <= -floor_here {
            below_negative += 1;
        }
        rates.push(delta / steps);
    }
    let above = cleared.iter().filter(|&&c| c).count();
    let intervals = rates.len();
    let whole_floor = floor.for_interval(xs[xs.len() - 1] - xs[0]);
    if total <= -whole_floor {
        return fit(Trend::Shrinking);
    }
    if above == 0 || total < whole_floor {
        return fit(Trend::Noise);
    }
    let max = rates.iter().copied().fold(f64::MIN, f64::max);
    let min = rates.iter().copied().fold(f64::MAX, f64::min);
    let last = rates[intervals - 1];
    if above == intervals && min >= EVEN_RATIO * max {
        return fit(Trend::Linear);
    }
    // Growth that has come to a halt in the latest interval(s).
    if last < STOPPED_RATIO * max && rates[0] >= max * EVEN_RATIO.min(1.0) {
        return fit(Trend::Stopped);
    }
    if below_negative > 0 && above < intervals {
        // Up and down: a structure that fills and drains.
        return fit(Trend::Noise);
    }
    if intervals >= 3 && above == intervals && r_squared >= 0.98 {
        // Many rungs on a straight line, even if one interval was slower.
        return fit(Trend::Linear);
    }
    if above < intervals && intervals >= 3 && periodic_above(&rates, &cleared, floor, xs) {
        return fit(Trend::Linear);
    }
    fit(Trend::Irregular)
}

/// With many rungs, a leak that happens rarely (once per batch of requests) can skip an
/// interval; it is still linear if the overall slope holds and the misses are few. `cleared`
/// says, per interval, whether its growth reached the floor.
fn periodic_above(rates: &[f64], cleared: &[bool], floor: NoiseFloor, xs: &[f64]) -> bool {
    let steps = xs[xs.len() - 1] - xs[0];
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    let misses = rates.iter().filter(|&&r| r <= 0.0).count();
    // Growth that only ever slows down, to a fraction of its first rate, is a structure
    // filling up, not a rare leak (those come back).
    let slowing = rates.windows(2).all(|w| w[1] <= w[0])
        && rates[rates.len() - 1] < crate::analysis::stopped::DECELERATION * rates[0];
    // Nor is growth that cleared the floor only in its first intervals and never again:
    // code compiling lazily under the first requests (+22, +24, +8, +6 objects). A rare leak
    // clears it again after a miss; until it does, the class is unclear and takes more rungs.
    let first_miss = cleared.iter().position(|&c| !c).unwrap_or(cleared.len());
    let came_back = cleared[first_miss..].iter().any(|&c| c);
    mean * steps >= floor.for_interval(steps) && misses * 4 <= rates.len() && !slowing && came_back
}

/// Slope and R² of the least-squares line through the points.
fn least_squares(xs: &[f64], ys: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    if xs.len() < 2 {
        return (0.0, 0.0);
    }
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&x, &y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx == 0.0 {
        return (0.0, 0.0);
    }
    let slope = sxy / sxx;
    let r2 = if syy == 0.0 { 0.0 } else { (sxy * sxy) / (sxx * syy) };
    (slope, r2)
}

/// Noise floors for V8's own code and metadata: tiering keeps compiling and optimising for
/// thousands of requests at a fraction of an object per request, while code that really leaks
/// (a fresh `new Function` or `vm.Script` per request) adds at least one object per request.
const RUNTIME_OBJECTS: NoiseFloor = NoiseFloor { per_interval: 64.0, per_step: 1.0 };
const RUNTIME_BYTES: NoiseFloor = NoiseFloor { per_interval: 32768.0, per_step: 256.0 };

/// [`classify`], with runtime classes held to a higher floor and three agreeing intervals
/// (see [`super::compare::is_runtime_class`]).
pub(super) fn classify_class(
    xs: &[f64],
    ys: &[u64],
    floor: NoiseFloor,
    runtime: bool,
    objects: bool,
) -> Fit {
    let floor = match (runtime, objects) {
        (false, _) => floor,
        (true, true) => NoiseFloor {
            per_interval: floor.per_interval.max(RUNTIME_OBJECTS.per_interval),
            per_step: floor.per_step.max(RUNTIME_OBJECTS.per_step),
        },
        (true, false) => NoiseFloor {
            per_interval: floor.per_interval.max(RUNTIME_BYTES.per_interval),
            per_step: floor.per_step.max(RUNTIME_BYTES.per_step),
        },
    };
    let mut fit = classify(xs, &as_f64(ys), floor);
    if runtime && fit.trend == Trend::Linear && xs.len() < 4 {
        fit.trend = Trend::Irregular;
    }
    fit
}

/// The values as `f64`, for the fits.
pub(super) fn as_f64(v: &[u64]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// A class with these counts and bytes per snapshot, 500 requests apart, fitted with the
/// default floors: for the tests of the rules that read a comparison's classes.
#[cfg(test)]
pub(crate) fn test_class(key: &str, counts: &[u64], bytes: &[u64]) -> super::compare::ClassGrowth {
    let xs: Vec<f64> = (0..counts.len()).map(|i| i as f64 * 500.0).collect();
    let f = |v: &[u64], floor| classify(&xs, &as_f64(v), floor);
    super::compare::ClassGrowth {
        key: key.into(),
        counts: counts.to_vec(),
        bytes: bytes.to_vec(),
        intervals: vec![super::compare::IntervalChange::default(); counts.len() - 1],
        survivors: vec![0; counts.len() - 1],
        count_fit: f(counts, NoiseFloor::OBJECTS),
        bytes_fit: f(bytes, NoiseFloor::BYTES),
        clusters: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const X3: [f64; 3] = [0.0, 500.0, 1000.0];

    fn trend(ys: &[f64]) -> Trend {
        classify(&X3, ys, NoiseFloor::OBJECTS).trend
    }

    #[test]
    fn the_screen_lets_through_every_series_classify_calls_growth() {
        let floors = [NoiseFloor::OBJECTS, NoiseFloor::BYTES];
        let xs_list: [&[f64]; 3] = [&[0.0, 1.0], &X3, &[0.0, 100.0, 300.0, 600.0, 1000.0]];
        let mut next = crate::snapshot::xorshift(0x9E37_79B9_7F4A_7C15);
        let (mut grew, mut screened) = (0, 0);
        for _ in 0..20_000 {
            let rng = next();
            let xs = xs_list[rng as usize % 3];
            let floor = floors[(rng >> 2) as usize % 2];
            let scale = [10.0, 100.0, 10_000.0, 1e6][(rng >> 4) as usize % 4];
            let ys: Vec<f64> = (0..xs.len())
                .map(|i| ((rng >> (8 + 5 * i)) % 1000) as f64 / 1000.0 * scale * (i + 1) as f64)
                .collect();
            let fit = classify(xs, &ys, floor);
            let may = may_grow(xs, ys[0], ys[ys.len() - 1], floor);
            if matches!(fit.trend, Trend::Linear | Trend::Irregular) {
                assert!(may, "{xs:?} {ys:?} is {:?}", fit.trend);
                grew += 1;
            } else if !may {
                screened += 1;
            }
        }
        assert!(grew > 1000 && screened > 1000, "{grew} grew, {screened} screened out");
    }

    #[test]
    fn a_steady_leak_is_linear_with_its_rate() {
        let fit = classify(&X3, &[1000.0, 1500.0, 2001.0], NoiseFloor::OBJECTS);
        assert_eq!(fit.trend, Trend::Linear);
        assert!((fit.per_step - 1.001).abs() < 1e-9);
        assert!(fit.r_squared > 0.99);
    }

    #[test]
    fn one_object_every_tenth_step_is_linear_at_2000_steps() {
        let xs = [0.0, 2000.0, 4000.0];
        let fit = classify(&xs, &[5000.0, 5200.0, 5400.0], NoiseFloor::OBJECTS);
        assert_eq!(fit.trend, Trend::Linear);
        assert!((fit.per_step - 0.1).abs() < 1e-9);
    }

    #[test]
    fn small_wobbles_are_noise() {
        assert_eq!(trend(&[1000.0, 1012.0, 1003.0]), Trend::Noise);
        assert_eq!(trend(&[1000.0, 1010.0, 1020.0]), Trend::Noise);
        assert_eq!(trend(&[1000.0, 990.0, 1000.0]), Trend::Noise);
    }

    #[test]
    fn warm_up_that_stops_is_not_linear() {
        assert_eq!(trend(&[1000.0, 3000.0, 3010.0]), Trend::Stopped);
        assert_eq!(trend(&[1000.0, 3000.0, 3100.0]), Trend::Stopped);
    }

    #[test]
    fn uneven_growth_is_ambiguous_not_a_verdict() {
        assert_eq!(trend(&[1000.0, 3000.0, 3600.0]), Trend::Irregular);
    }

    #[test]
    fn more_rungs_settle_ambiguity() {
        let xs = [0.0, 500.0, 1000.0, 1500.0, 2000.0];
        let warm = classify(&xs, &[1000.0, 3000.0, 3600.0, 3620.0, 3610.0], NoiseFloor::OBJECTS);
        assert_eq!(warm.trend, Trend::Stopped);
        let leak = classify(&xs, &[1000.0, 1500.0, 1800.0, 2400.0, 2900.0], NoiseFloor::OBJECTS);
        assert_eq!(leak.trend, Trend::Linear);
    }

    #[test]
    fn a_full_ring_buffer_that_cycles_is_noise() {
        assert_eq!(trend(&[2000.0, 1950.0, 2040.0]), Trend::Noise);
    }

    #[test]
    fn growth_that_only_slows_down_is_not_a_rare_leak() {
        let xs = [0.0, 500.0, 1000.0, 1500.0];
        let slowing = classify(&xs, &[0.0, 94.0, 142.0, 168.0], NoiseFloor::OBJECTS);
        assert_ne!(slowing.trend, Trend::Linear);
        let xs = [0.0, 500.0, 1000.0, 1500.0, 2000.0];
        let rare = classify(&xs, &[0.0, 40.0, 40.0, 80.0, 120.0], NoiseFloor::OBJECTS);
        assert_eq!(rare.trend, Trend::Linear);
    }

    #[test]
    fn growth_that_clears_the_floor_only_at_first_is_not_a_rare_leak() {
        // Seen with `requests = "auto"` on a route whose serializers compile lazily: +22 and
        // +24 objects, then +8 and +6, under the 16-object floor, at 100 requests per rung.
        let xs = [0.0, 100.0, 200.0, 300.0, 400.0];
        let warming = classify(&xs, &[125.0, 147.0, 171.0, 179.0, 185.0], NoiseFloor::OBJECTS);
        assert_ne!(warming.trend, Trend::Linear);
        // The same start, then growth that comes back: a leak that skipped one interval.
        let rare = classify(&xs, &[125.0, 147.0, 171.0, 179.0, 201.0], NoiseFloor::OBJECTS);
        assert_eq!(rare.trend, Trend::Linear);
    }

    #[test]
    fn shrinking_is_its_own_verdict() {
        assert_eq!(trend(&[5000.0, 4000.0, 3000.0]), Trend::Shrinking);
    }

    #[test]
    fn bytes_floor_scales_with_steps() {
        // 1 byte per step over 10,000 steps is under the 2 B/step floor.
        let xs = [0.0, 10_000.0, 20_000.0];
        let fit = classify(&xs, &[1e6, 1e6 + 10_000.0, 1e6 + 20_000.0], NoiseFloor::BYTES);
        assert_eq!(fit.trend, Trend::Noise);
        let fit = classify(&xs, &[1e6, 1e6 + 400_000.0, 1e6 + 800_000.0], NoiseFloor::BYTES);
        assert_eq!(fit.trend, Trend::Linear);
    }

    /// The growing holders' walk screens with the caller's floor before the run's noise
    /// raises it (`compare.rs`): that keeps every series the raised floor keeps.
    #[test]
    fn a_raised_floor_passes_no_series_a_lower_one_stops() {
        let mut next = crate::snapshot::xorshift(3);
        for _ in 0..2000 {
            let mut r = |scale: u64| (next() % scale) as f64;
            let xs = [0.0, r(1000) + 1.0, r(1000) + 1002.0];
            let (first, last) = (r(1 << 20), r(1 << 20));
            let base = NoiseFloor { per_interval: r(1 << 14), per_step: r(8) };
            let raised = super::super::noise::raised(base, r(1 << 15));
            if may_grow(&xs, first, last, raised) {
                assert!(may_grow(&xs, first, last, base), "{first} -> {last}, {base:?}");
            }
        }
    }
}
