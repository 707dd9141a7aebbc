//! The judge: a route's measurements held against its limits and its record in the lock,
//! returning the verdict the report carries. Pure functions over data (no I/O, no async), so
//! the runner only measures and `leakcheck diff`-style offline tools can reuse the rules.
//!
//! - [`budgets`]: linear growth, growing holders, `max_heap_growth`, `max_peak_heap`, and
//!   `requests_to_limit` (the projection to `memory_limit`).
//! - [`lock`]: the comparison with `leakspec.lock`, a regression failing the route.

pub mod budgets;
pub mod lock;

use crate::analysis::compare::Comparison;
use crate::model::RouteReport;
use crate::model::verdict::RouteVerdict;
use crate::plan::RoutePlan;
use budgets::{Peak, judge, limits};

/// Judges a measured route: its comparison (with paths filled) and the heap's peak under load
/// (from the burst at the route's concurrency and the samples taken while the load ran, as
/// `measured` holds them) against the route's budgets, then against its record in the lock.
pub fn route(comparison: &Comparison, route: &RoutePlan, measured: &RouteReport) -> RouteVerdict {
    let peak = match (measured.burst, measured.peak_heap) {
        (Some(b), during) => {
            Some(Peak { heap: b.peak_heap.max(during.unwrap_or(0)), concurrency: b.concurrency })
        }
        (None, Some(heap)) => Some(Peak { heap, concurrency: route.concurrency }),
        (None, None) => None,
    };
    let mut v = judge(comparison, &limits(route), peak);
    lock::hold(&mut v, route, measured.requests(), measured.peak_heap);
    let allowed = budgets::allowed_failures(route, measured.load.sent);
    budgets::hold_failed_requests(&mut v, &measured.load, allowed);
    v
}
