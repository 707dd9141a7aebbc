//! The judge: a route's measurements held against its limits and its record in the lock,
//! returning the verdict the report carries. Pure functions over data (no I/O, no async), so
//! the runner only measures and `leakcheck diff`-style offline tools can reuse the rules.
//!
//! - [`budgets`]: linear growth, growing holders, `max_heap_growth`, `max_peak_heap`, and
//!   `requests_to_limit` (the projection to `memory_limit`).
//! - [`lock`]: the comparison with `leakspec.lock`, a regression failing the route.

pub mod budgets;
pub mod causes;
pub mod lock;
pub mod memory;

use crate::analysis::compare::Comparison;
use crate::model::RouteReport;
use crate::model::verdict::RouteVerdict;
use crate::plan::RoutePlan;
use budgets::{Peak, judge, limits};

/// Judges a measured route: its comparison (with paths filled) and its peak heap
/// ([`RouteReport::peak`], with the compared snapshots' heaps) against the route's budgets,
/// then against its record in the lock.
pub fn route(comparison: &Comparison, route: &RoutePlan, measured: &RouteReport) -> RouteVerdict {
    let first = comparison.snapshots.first().map_or(0, |s| s.bytes);
    let last = comparison.snapshots.last().map_or(0, |s| s.bytes);
    let highest = measured.peak().into_iter().chain([first, last]).filter(|&b| b > 0).max();
    let peak = highest.map(|heap| Peak {
        heap,
        concurrency: measured.burst.map_or(route.concurrency, |b| b.concurrency),
    });
    let limits = limits(route);
    let mut v = judge(comparison, &limits, peak);
    memory::judge_memory(&mut v, &memory::MemorySeries::of(&measured.rungs), &limits);
    lock::hold(&mut v, route, measured.requests(), highest);
    let allowed = budgets::allowed_failures(route, measured.load.sent);
    budgets::hold_failed_requests(&mut v, &measured.load, allowed);
    v
}
