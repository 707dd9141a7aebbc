//! The budget keys (`[defaults.budget]`, `[target.budget]`, a route's `budget`): rates, sizes,
//! counts and shares checked one by one, and the one rule across levels (`requests_to_limit`
//! needs a `memory_limit` somewhere in the chain).

use std::str::FromStr;

use toml::Spanned;

use super::{Cx, not_a_rate};
use crate::leakspec::model::{Budget, FailedRequests};
use crate::leakspec::raw::{RawBudget, RawSize, RawTarget};
use crate::leakspec::units::{ObjectsPerRequest, RegressionTolerance};

/// A budget's keys, validated.
pub(super) fn budget(cx: &mut Cx<'_>, raw: &RawBudget) -> Budget {
    let objects = raw.max_objects_per_request.as_ref().and_then(|v| {
        let parsed = ObjectsPerRequest::new(*v.get_ref());
        if parsed.is_none() {
            cx.error(v.span(), not_a_rate("max_objects_per_request", *v.get_ref()));
        }
        parsed
    });
    let mut ignore = Vec::new();
    for key in &raw.ignore {
        if key.get_ref().is_empty() {
            cx.error(key.span(), "empty class key in `ignore`");
        } else {
            ignore.push(key.get_ref().clone());
        }
    }
    Budget {
        max_bytes_per_request: cx.rate(raw.max_bytes_per_request.as_ref(), "max_bytes_per_request"),
        max_objects_per_request: objects,
        max_heap_growth: cx.size(raw.max_heap_growth.as_ref(), "max_heap_growth"),
        memory_limit: cx.size(raw.memory_limit.as_ref(), "memory_limit"),
        requests_to_limit: cx
            .count(raw.requests_to_limit.as_ref(), "requests_to_limit", 1, i64::MAX)
            .map(|n| n as u64),
        max_peak_heap: cx.size(raw.max_peak_heap.as_ref(), "max_peak_heap"),
        max_external_per_request: cx
            .rate(raw.max_external_per_request.as_ref(), "max_external_per_request"),
        max_rss_growth: cx.rate(raw.max_rss_growth.as_ref(), "max_rss_growth"),
        max_idle_growth: cx.size(raw.max_idle_growth.as_ref(), "max_idle_growth"),
        sensitivity: cx.rate(raw.sensitivity.as_ref(), "sensitivity"),
        max_failed_requests: raw.max_failed_requests.as_ref().and_then(|v| failed_requests(cx, v)),
        ignore,
        regression_tolerance: raw
            .regression_tolerance
            .as_ref()
            .and_then(|t| cx.unit(t.span(), RegressionTolerance::from_str(t.get_ref()))),
    }
}

/// `max_failed_requests`: a number of iterations, or a percentage of those sent.
fn failed_requests(cx: &mut Cx<'_>, value: &Spanned<RawSize>) -> Option<FailedRequests> {
    const HELP: &str = "write a number of requests (`max_failed_requests = 5`) or a share of those sent (`\"1%\"`)";
    match value.get_ref() {
        RawSize::Bytes(n) if *n >= 0 => Some(FailedRequests::Count(*n as u64)),
        RawSize::Bytes(n) => {
            cx.error(value.span(), format!("`max_failed_requests` can't be negative, found {n}"));
            None
        }
        RawSize::Text(text) => {
            let share = text.trim().strip_suffix('%').and_then(|p| p.trim().parse::<f64>().ok());
            match share {
                Some(p) if p.is_finite() && (0.0..=100.0).contains(&p) => {
                    Some(FailedRequests::Share(p / 100.0))
                }
                Some(_) => {
                    cx.error(
                        value.span(),
                        format!("`max_failed_requests` must be from 0% to 100%, found `{text}`"),
                    );
                    None
                }
                None => {
                    cx.error(value.span(), format!("invalid `max_failed_requests` `{text}`"))
                        .help = Some(HELP.into());
                    None
                }
            }
        }
    }
}

/// `requests_to_limit` needs a `memory_limit` somewhere in the route's chain of levels (Workers
/// targets default to 128 MiB).
pub(super) fn budget_chain(cx: &mut Cx<'_>, defaults: &RawBudget, target: &RawTarget) {
    // Workers targets have one already: the isolate's 128 MiB.
    if target
        .runtime
        .as_ref()
        .is_some_and(|r| ["workerd", "wrangler"].contains(&r.get_ref().as_str()))
    {
        return;
    }
    for route in &target.route {
        let chain = [defaults, &target.budget, &route.get_ref().budget];
        if chain.iter().any(|b| b.memory_limit.is_some()) {
            continue;
        }
        // The most specific `requests_to_limit` is the one that applies.
        if let Some(rtl) = chain.iter().rev().find_map(|b| b.requests_to_limit.as_ref()) {
            cx.error(rtl.span(), "`requests_to_limit` without a `memory_limit`").help = Some(
                format!(
                    "add a `memory_limit` (e.g. `memory_limit = \"128MiB\"`) to this budget or an enclosing one (route `{}`)",
                    route.get_ref().name.get_ref()
                ),
            );
        }
    }
}
