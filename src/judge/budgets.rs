//! A route judged against its budgets: the comparison of its snapshots and the heap's peak under
//! load held against the limits resolved from the spec. Pure, so it is tested without starting
//! anything.
//!
//! A route fails when something grows linearly with the requests above the budget (by default,
//! above the classifier's noise floor), when the heap grows more than `max_heap_growth`, or
//! when the projected number of requests until `memory_limit` is below `requests_to_limit`,
//! or when the heap peaks above `max_peak_heap` while requests run at the route's concurrency
//! (memory held per request in flight, which is not a leak but kills a Worker just the same).

use serde::Serialize;

use crate::analysis::compare::{ClassGrowth, Comparison, Holder};
use crate::analysis::growth::Trend;
use crate::model::verdict::{
    Failure, IdleVerdict, Leak, LeakHolder, MemoryGrowth, Projection, RouteVerdict,
};
use crate::plan::RoutePlan;

pub use crate::model::verdict::Limits;

/// The highest heap use sampled while requests ran, and at what concurrency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Peak {
    /// Bytes of V8 heap used (`Runtime.getHeapUsage`).
    pub heap: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
}

/// The limits of a route, from its budget (route > target > defaults, resolved by the plan).
pub fn limits(route: &RoutePlan) -> Limits {
    let b = &route.budget;
    Limits {
        max_bytes_per_request: b.max_bytes_per_request.map(|v| v.bytes()),
        max_objects_per_request: b.max_objects_per_request.map(|v| v.objects()),
        max_heap_growth: b.max_heap_growth.map(|s| s.bytes()),
        memory_limit: b.memory_limit.map(|s| s.bytes()),
        requests_to_limit: b.requests_to_limit,
        max_peak_heap: b.max_peak_heap.map(|s| s.bytes()),
        max_external_per_request: b.max_external_per_request.map(|v| v.bytes()),
        max_rss_growth: b.max_rss_growth.map(|v| v.bytes()),
        max_idle_growth: b.max_idle_growth.map(|s| s.bytes()),
        sensitivity: b
            .sensitivity
            .map(|v| v.bytes())
            .or(route.requests_auto.then_some(crate::plan::defaults::AUTO_SENSITIVITY)),
        ignore: b.ignore.clone(),
    }
}

/// Failed iterations a route tolerates out of `sent` (`max_failed_requests`; none by default).
pub fn allowed_failures(route: &RoutePlan, sent: u64) -> u64 {
    route.budget.max_failed_requests.map_or(0, |m| m.allowed(sent))
}

/// The failure of a route's traffic, when more of its iterations failed than `allowed`: bad
/// traffic measures nothing, so it cannot pass.
pub fn failed_requests(load: &crate::model::LoadStats, allowed: u64) -> Option<Failure> {
    (load.failed() > allowed).then(|| Failure::FailedRequests {
        failed: load.failed(),
        sent: load.sent,
        statuses: load.statuses.clone(),
        timeouts: load.timeouts,
        other: load.transport_errors.saturating_sub(load.timeouts),
        allowed,
        first_error: load.first_error.clone(),
    })
}

/// Fails `verdict` when more iterations of its load failed than `allowed`.
pub fn hold_failed_requests(
    verdict: &mut RouteVerdict,
    load: &crate::model::LoadStats,
    allowed: u64,
) {
    if let Some(failure) = failed_requests(load, allowed) {
        verdict.failures.insert(0, failure);
        verdict.pass = false;
    }
}

/// The verdict of a route stopped for its failed iterations before its rungs were done:
/// only that failure, and the heap as far as it was measured (`heap`: first and last).
pub fn traffic_only(failure: Failure, heap: (u64, u64)) -> RouteVerdict {
    RouteVerdict {
        pass: false,
        failures: vec![failure],
        bytes_per_request: 0.0,
        heap,
        leaks: Vec::new(),
        holders: Vec::new(),
        projection: None,
        unsure: Vec::new(),
        lock: None,
        memory: MemoryGrowth::default(),
        // Failed traffic measured nothing: no limit is stated.
        detection_limit: Default::default(),
        idle: None,
        budget: Limits::default(),
    }
}

/// Fails `verdict` when it proved no leak and its detection limit is above the route's
/// `sensitivity`: a leak of that size could have slipped through. `requests_per_rung` are
/// those of the series judged.
pub fn hold_sensitivity(verdict: &mut RouteVerdict, limits: &Limits, requests_per_rung: u64) {
    let Some(sensitivity) = limits.sensitivity else { return };
    let limit = verdict.detection_limit.bytes_per_request;
    let leak = verdict
        .failures
        .iter()
        .any(|f| matches!(f, Failure::LinearGrowth { .. } | Failure::GrowingHolder { .. }));
    if leak || limit <= sensitivity {
        return;
    }
    let floor = crate::analysis::growth::NoiseFloor::BYTES.per_step;
    verdict.failures.push(Failure::SensitivityNotReached {
        sensitivity,
        detection_limit: limit,
        requests_per_rung,
        unreachable_below: (sensitivity <= floor).then_some(floor),
    });
    verdict.pass = false;
}

/// Holds a comparison (with paths filled) and the heap's peak during load (if sampled) against
/// a route's limits.
pub fn judge(comparison: &Comparison, limits: &Limits, peak: Option<Peak>) -> RouteVerdict {
    let ignored = |c: &ClassGrowth| limits.ignore.iter().any(|k| k == &c.key);
    let mut linear: Vec<&ClassGrowth> =
        comparison.classes.iter().filter(|c| !ignored(c) && c.trend() == Trend::Linear).collect();
    linear.sort_by(|a, b| b.bytes_fit.per_step.total_cmp(&a.bytes_fit.per_step));
    let bytes_rate: f64 = linear.iter().map(|c| c.bytes_fit.per_step.max(0.0)).sum();
    let objects_rate = linear
        .iter()
        .filter(|c| c.count_fit.trend == Trend::Linear)
        .map(|c| c.count_fit.per_step)
        .fold(0.0, f64::max);
    let holders: Vec<Holder> =
        comparison.holders.iter().filter(|h| h.fit.trend == Trend::Linear).cloned().collect();

    let mut failures = Vec::new();
    let over_budget = match (limits.max_bytes_per_request, limits.max_objects_per_request) {
        (None, None) => !linear.is_empty(),
        (bytes, objects) => {
            bytes.is_some_and(|max| bytes_rate > max)
                || objects.is_some_and(|max| objects_rate > max)
        }
    };
    if over_budget && !linear.is_empty() {
        failures.push(Failure::LinearGrowth {
            classes: linear.iter().map(|c| c.key.clone()).collect(),
            bytes_per_request: bytes_rate,
            objects_per_request: objects_rate,
        });
    }
    // Growth spread thinly over many classes still shows in its holder.
    if linear.is_empty()
        && let Some(h) = holders.first()
        && limits.max_bytes_per_request.is_none_or(|max| h.fit.per_step > max)
    {
        failures.push(Failure::GrowingHolder {
            holder: h.culprit.clone().unwrap_or_else(|| format!("{} @{}", h.class, h.node.id)),
            bytes_per_request: h.fit.per_step,
        });
    }

    let first = comparison.snapshots.first().map_or(0, |s| s.bytes);
    let last = comparison.snapshots.last().map_or(0, |s| s.bytes);
    if let Some(limit) = limits.max_heap_growth
        && last > first
        && last - first > limit
    {
        failures.push(Failure::HeapGrowth { grew: last - first, limit });
    }

    if let (Some(limit), Some(peak)) = (limits.max_peak_heap, peak)
        && peak.heap > limit
    {
        failures.push(Failure::PeakHeap { peak: peak.heap, limit, concurrency: peak.concurrency });
    }

    let growth_rate = bytes_rate.max(holders.first().map_or(0.0, |h| h.fit.per_step));
    let projection = limits.memory_limit.map(|limit| Projection {
        limit,
        bytes_per_request: growth_rate,
        requests: (growth_rate > 0.0)
            .then(|| (limit.saturating_sub(last) as f64 / growth_rate).floor() as u64),
    });
    if let (Some(Projection { requests: Some(requests), .. }), Some(allowed)) =
        (projection, limits.requests_to_limit)
        && requests < allowed
    {
        failures.push(Failure::ReachesLimit { requests, allowed });
    }

    let leaks = linear.iter().map(|c| explain(c)).collect();
    let unsure = comparison
        .classes
        .iter()
        .filter(|c| !ignored(c) && c.trend() == Trend::Irregular)
        .filter(|c| !crate::analysis::compare::is_runtime_class(&c.key))
        .map(|c| c.key.clone())
        .collect();
    RouteVerdict {
        pass: failures.is_empty(),
        failures,
        bytes_per_request: bytes_rate,
        heap: (first, last),
        leaks,
        holders,
        projection,
        unsure,
        lock: None,
        memory: MemoryGrowth::default(),
        detection_limit: comparison.detection_limit,
        idle: comparison.idle.as_ref().map(|idle| IdleVerdict {
            pass: match limits.max_idle_growth {
                Some(limit) => idle.bytes_per_minute <= limit as f64,
                None => !idle.grows,
            },
            limit: limits.max_idle_growth,
            growth: idle.clone(),
        }),
        budget: limits.clone(),
    }
}

/// The route name of a target's own line for growth with time.
pub const IDLE_LINE: &str = "(idle)";

/// The target's own line when it grows with time beyond `max_idle_growth` (by default: at all):
/// a failing entry named [`IDLE_LINE`] whose message says how fast and what grows, from the
/// route whose idle interval showed the most growth. `None` when no idle interval failed.
pub fn idle_line(routes: &[crate::model::RouteReport]) -> Option<crate::model::RouteReport> {
    use crate::format::bytes;
    let (route, idle) = routes
        .iter()
        .filter_map(|r| Some((r, r.verdict.as_ref()?.idle.as_ref()?)))
        .filter(|(_, idle)| !idle.pass)
        .max_by(|a, b| a.1.growth.bytes_per_minute.total_cmp(&b.1.growth.bytes_per_minute))?;
    let g = &idle.growth;
    let per_minute = |b: f64| {
        let sign = if b < 0.0 { "-" } else { "+" };
        format!("{sign}{} per minute", bytes(b.abs().round() as u64))
    };
    let mut text = format!(
        "grows {} with no requests: timers, polling, background jobs",
        per_minute(g.bytes_per_minute)
    );
    if let Some(limit) = idle.limit {
        text += &format!(" (max_idle_growth {} per minute)", bytes(limit));
    }
    text += &format!(
        "\nmeasured over {:.1} s without requests after the rungs of `{}`; its requests are judged without it",
        g.seconds, route.name
    );
    for c in &g.classes {
        text += &format!(
            "\n  {}: {:+.0} objects, {}",
            c.key,
            c.objects_per_minute,
            per_minute(c.bytes_per_minute)
        );
    }
    for h in &g.holders {
        text +=
            &format!("\n  growing holder `{}`: retains {}", h.name, per_minute(h.bytes_per_minute));
    }
    let mut line = crate::model::RouteReport::skipped(IDLE_LINE, "-", "", &text);
    line.outcome = crate::model::Outcome::Fail;
    Some(line)
}

fn explain(class: &ClassGrowth) -> Leak {
    let first_last = |v: &[u64]| (v.first().copied().unwrap_or(0), v.last().copied().unwrap_or(0));
    Leak {
        class: class.key.clone(),
        objects_per_request: if class.count_fit.trend == Trend::Linear {
            class.count_fit.per_step
        } else {
            0.0
        },
        bytes_per_request: class.bytes_fit.per_step,
        objects: first_last(&class.counts),
        bytes: first_last(&class.bytes),
        objects_per_rung: class.counts.clone(),
        bytes_per_rung: class.bytes.clone(),
        holders: class
            .clusters
            .iter()
            .map(|c| LeakHolder {
                culprit: c.culprit.clone(),
                holder: c
                    .anchor
                    .map(|a| format!("{} @{}", c.anchor_class.as_deref().unwrap_or("?"), a.id)),
                objects: c.objects,
                bytes: c.bytes,
                hint: c.hint.clone(),
                callback: c.callback.clone(),
                path: c.path.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::analyse;
    use crate::analysis::compare::{Comparer, Thresholds};
    use crate::snapshot::{EdgeKind, GraphBuilder, HeapGraph, NodeKind};

    /// A V8-like id: odd, from a counter, in the order snapshots first see the objects.
    fn v8_id(born: u32, slot: u32) -> u32 {
        1 + 2 * (born * 100_000 + slot)
    }

    /// A heap at `rung` keeping `kept_at[rung]` 64-byte `Job`s in a global `queue` array.
    pub(crate) fn heap(rung: u32, kept_at: &[u32]) -> HeapGraph {
        let kept = kept_at[rung as usize];
        let born = |k: u32| kept_at.iter().position(|&n| n > k).unwrap_or(0) as u32;
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", v8_id(0, 0), 0);
        let global = b.node(NodeKind::Object, "global", v8_id(0, 1), 48);
        b.edge(root, EdgeKind::Shortcut, "1", global);
        let queue = b.node(NodeKind::Object, "Array", v8_id(0, 2), 32);
        let store = b.node(NodeKind::Array, "", v8_id(rung, 10), 16 + 8 * kept as u64);
        b.edge(global, EdgeKind::Property, "queue", queue);
        b.edge(queue, EdgeKind::Internal, "elements", store);
        for k in 0..kept {
            let job = b.node(NodeKind::Object, "Job", v8_id(born(k), 1_000 + k), 64);
            b.indexed_edge(store, EdgeKind::Element, k, job);
        }
        b.build()
    }

    /// The comparison of three rungs 100 requests apart keeping `kept[i]` jobs.
    pub(crate) fn compare(kept: [u32; 3]) -> Comparison {
        let graphs: Vec<HeapGraph> = (0..kept.len()).map(|i| heap(i as u32, &kept)).collect();
        let mut comparer = Comparer::new();
        let mut last = None;
        for (i, g) in graphs.iter().enumerate() {
            let a = analyse(g);
            comparer.add(format!("s{i}"), i as f64 * 100.0, g, &a.classes, &a.dominators);
            last = Some(a);
        }
        let (g, a) = (graphs.last().unwrap(), last.unwrap());
        let mut c = comparer.finish(g, &a.classes, &a.dominators, Thresholds::default());
        c.fill_paths(|n| a.retainer_path(g, n, 8));
        c
    }

    fn judge_at(c: &Comparison, limits: &Limits) -> RouteVerdict {
        judge(c, limits, None)
    }

    #[test]
    fn failed_requests_fail_beyond_the_tolerance() {
        use crate::leakspec::FailedRequests;
        let load = crate::model::LoadStats {
            sent: 1000,
            ok: 990,
            statuses: [(500, 4)].into(),
            transport_errors: 6,
            timeouts: 5,
            ..Default::default()
        };
        let mut v = judge_at(&compare([50, 50, 50]), &Limits::default());
        hold_failed_requests(&mut v, &load, 10);
        assert!(v.pass, "10 failures, 10 tolerated");
        hold_failed_requests(&mut v, &load, FailedRequests::Share(0.005).allowed(load.sent));
        assert!(!v.pass);
        assert!(matches!(
            &v.failures[0],
            Failure::FailedRequests { failed: 10, sent: 1000, timeouts: 5, other: 1, allowed: 5, statuses, .. }
                if statuses[&500] == 4
        ));
    }

    #[test]
    fn peak_heap_budget() {
        let limits = Limits { max_peak_heap: Some(10 << 20), ..Limits::default() };
        let peak = |mib: u64| Some(Peak { heap: mib << 20, concurrency: 16 });
        assert!(judge(&compare([50, 50, 50]), &limits, peak(9)).pass);
        let v = judge(&compare([50, 50, 50]), &limits, peak(11));
        assert!(matches!(
            v.failures[0],
            Failure::PeakHeap { limit, peak, concurrency: 16 } if limit == 10 << 20 && peak == 11 << 20
        ));
        // No sample, no verdict on the peak.
        assert!(judge(&compare([50, 50, 50]), &limits, None).pass);
    }

    #[test]
    fn linear_growth_fails_by_default_and_names_the_culprit() {
        let v = judge_at(&compare([0, 100, 200]), &Limits::default());
        assert!(!v.pass);
        assert!(
            matches!(&v.failures[0], Failure::LinearGrowth { classes, .. } if classes[0] == "Job")
        );
        let job = &v.leaks[0];
        assert_eq!(job.class, "Job");
        assert!((job.objects_per_request - 1.0).abs() < 1e-9);
        assert!((job.bytes_per_request - 64.0).abs() < 1e-9);
        assert_eq!(job.holders[0].culprit.as_deref(), Some("queue"));
    }

    #[test]
    fn growth_within_the_budget_passes() {
        let limits = Limits { max_bytes_per_request: Some(100.0), ..Limits::default() };
        assert!(judge_at(&compare([0, 100, 200]), &limits).pass);
        let limits = Limits { max_objects_per_request: Some(0.5), ..Limits::default() };
        assert!(!judge_at(&compare([0, 100, 200]), &limits).pass);
        let ignore = Limits { ignore: vec!["Job".into()], ..Limits::default() };
        let v = judge_at(&compare([0, 100, 200]), &ignore);
        assert!(v.leaks.is_empty());
    }

    #[test]
    fn a_flat_heap_passes() {
        let v = judge_at(&compare([50, 50, 50]), &Limits::default());
        assert!(v.pass, "{:?}", v.failures);
        assert!(v.leaks.is_empty());
    }

    #[test]
    fn heap_growth_and_memory_limit_budgets() {
        let limits = Limits { max_heap_growth: Some(1024), ..Limits::default() };
        let v = judge_at(&compare([0, 100, 200]), &limits);
        assert!(v.failures.iter().any(|f| matches!(f, Failure::HeapGrowth { .. })));

        let limits = Limits {
            max_bytes_per_request: Some(1e9),
            memory_limit: Some(1 << 20),
            requests_to_limit: Some(1_000_000),
            ..Limits::default()
        };
        let v = judge_at(&compare([0, 100, 200]), &limits);
        let p = v.projection.unwrap();
        // (1 MiB - heap) at 64 B per request: the job. Its 8 B array slot grows 800 B per
        // interval, under the noise floor.
        assert_eq!(p.bytes_per_request, 64.0);
        assert!(p.requests.unwrap() > 15_000 && p.requests.unwrap() < 16_384, "{p:?}");
        assert!(matches!(v.failures[0], Failure::ReachesLimit { allowed: 1_000_000, .. }));
    }
}
