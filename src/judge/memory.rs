//! The process's own memory figures held against `max_external_per_request` and
//! `max_rss_growth`: the rungs' `external` and `rss` (from `process.memoryUsage()`, where the
//! runtime has it) fitted against the requests with the growth classifier. A budget fails only
//! growth that is linear over the rungs, even when the heap is flat (native memory the snapshot
//! does not see); a budget whose figure the runtime cannot give is listed as unchecked, never
//! judged against zeros.

use crate::analysis::growth::{Fit, NoiseFloor, Trend, classify};
use crate::model::Rung;
use crate::model::verdict::{Failure, RouteVerdict};

use super::budgets::Limits;

/// RSS moves in pages, allocator arenas and V8's heap reservations: growth under 1 MiB per
/// interval, or under 64 bytes per request, is noise.
pub const RSS_FLOOR: NoiseFloor = NoiseFloor { per_interval: 1048576.0, per_step: 64.0 };

/// The process's own memory figures at every rung, as the judge reads them: `None` where the
/// runtime cannot tell.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemorySeries {
    /// Requests before each rung.
    pub requests: Vec<f64>,
    /// ArrayBuffer backing stores at each rung.
    pub array_buffers: Vec<Option<u64>>,
    /// External memory at each rung.
    pub external: Vec<Option<u64>>,
    /// Resident set at each rung.
    pub rss: Vec<Option<u64>>,
}

impl MemorySeries {
    /// The figures of a route's rungs.
    pub fn of(rungs: &[Rung]) -> MemorySeries {
        MemorySeries {
            requests: rungs.iter().map(|r| r.requests as f64).collect(),
            array_buffers: rungs.iter().map(|r| r.array_buffers).collect(),
            external: rungs.iter().map(|r| r.external).collect(),
            rss: rungs.iter().map(|r| r.rss).collect(),
        }
    }
}

/// Records the growth of the process's figures in `v.memory` and adds a failure for each
/// budget they break.
///
/// ```
/// use leakcheck::judge::budgets::Limits;
/// use leakcheck::judge::memory::{MemorySeries, judge_memory};
/// use leakcheck::model::{Failure, RouteVerdict};
/// # fn verdict() -> RouteVerdict { serde_json::from_value(serde_json::json!({"pass": true,
/// #   "failures": [], "bytes_per_request": 0.0, "heap": [0, 0], "leaks": [], "holders": [],
/// #   "projection": null, "unsure": [], "lock": null})).unwrap() }
/// let mb = |v: f64| Some((v * 1048576.0) as u64);
/// let series = MemorySeries {
///     requests: vec![0.0, 200.0, 400.0, 600.0],
///     array_buffers: vec![mb(0.1), mb(7.1), mb(14.1), mb(21.1)],
///     external: vec![mb(2.0), mb(9.0), mb(16.0), mb(23.0)],
///     rss: vec![None; 4], // a runtime without process.memoryUsage()
/// };
/// let limits = Limits { max_external_per_request: Some(16384.0),
///     max_rss_growth: Some(8192.0), ..Limits::default() };
/// let mut v = verdict();
/// judge_memory(&mut v, &series, &limits);
/// assert!(matches!(v.failures[0], Failure::ExternalGrowth { .. }));
/// assert!(v.memory.unchecked[0].starts_with("max_rss_growth: not checked"));
/// assert!(!v.pass);
/// ```
pub fn judge_memory(v: &mut RouteVerdict, series: &MemorySeries, limits: &Limits) {
    let fit = |ys: &[Option<u64>], floor: NoiseFloor, from: usize| -> Option<Fit> {
        let ys: Option<Vec<f64>> = ys.iter().map(|y| y.map(|y| y as f64)).collect();
        let ys = ys?;
        (ys.len() >= from + 2 && ys.len() == series.requests.len())
            .then(|| classify(&series.requests[from..], &ys[from..], floor))
    };
    v.memory.array_buffers = fit(&series.array_buffers, NoiseFloor::BYTES, 0);
    v.memory.external = fit(&series.external, NoiseFloor::BYTES, 0);
    // RSS from the first rung on: taking the baseline snapshot makes V8 allocate far more than
    // the heap in the target, and the allocator keeps it and hands it out again during the
    // next load, so the baseline's RSS is low against every later one (measured on Node 20:
    // 92.9 → 95.1 → 102.7 MiB with 7 MiB of buffers kept per rung).
    v.memory.rss = fit(&series.rss, RSS_FLOOR, 1);
    let checks = [
        (
            "max_external_per_request",
            "external memory",
            limits.max_external_per_request,
            v.memory.external,
            true,
        ),
        ("max_rss_growth", "RSS", limits.max_rss_growth, v.memory.rss, false),
    ];
    for (key, what, limit, fit, external) in checks {
        let Some(limit) = limit else { continue };
        let Some(fit) = fit else {
            let why = if series.requests.len() < 3 && !external {
                "it needs at least two rungs after the baseline".to_owned()
            } else {
                format!("the runtime does not report its {what} (no process.memoryUsage())")
            };
            v.memory.unchecked.push(format!("{key}: not checked, {why}"));
            continue;
        };
        if fit.trend == Trend::Linear && fit.per_step > limit {
            let bytes_per_request = fit.per_step;
            v.failures.push(if external {
                Failure::ExternalGrowth { bytes_per_request, limit }
            } else {
                Failure::RssGrowth { bytes_per_request, limit }
            });
        }
    }
    v.pass = v.failures.is_empty();
}
