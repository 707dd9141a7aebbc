//! A route's verdict as the report carries it: whether it passed, each failure (linear growth,
//! a growing holder, a budget broken, the memory limit too near, a regression against the lock)
//! and the leaking classes explained with their holders and one retainer path each. Data only;
//! the judge ([`crate::judge`]) builds it and `report/` renders it.

use serde::{Deserialize, Serialize};

use super::lock::LockCheck;
use crate::analysis::compare::Holder;
use crate::analysis::growth::Fit;
use crate::analysis::idle::Idle;
use crate::analysis::noise::DetectionLimit;
use crate::analysis::paths::RetainerPath;

/// Why a route failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// Classes grow linearly with requests, above the budget.
    LinearGrowth {
        /// The classes, largest growth first.
        classes: Vec<String>,
        /// Their bytes per request together.
        bytes_per_request: f64,
        /// The largest objects-per-request rate among them.
        objects_per_request: f64,
    },
    /// Persistent objects' retained data grows linearly though no single class does.
    GrowingHolder {
        /// The holder's name (variable or property) or class.
        holder: String,
        /// Its growth in bytes per request.
        bytes_per_request: f64,
    },
    /// The heap grew more than `max_heap_growth`.
    HeapGrowth {
        /// Growth from the baseline to the last snapshot.
        grew: u64,
        /// The budget.
        limit: u64,
    },
    /// The heap peaked above `max_peak_heap` while requests ran: too much held per request
    /// in flight, even if it is all freed afterwards.
    PeakHeap {
        /// The highest heap use sampled.
        peak: u64,
        /// The budget.
        limit: u64,
        /// Requests in flight at once when it was measured.
        concurrency: usize,
    },
    /// The process's external memory (`process.memoryUsage().external`) grows linearly above
    /// `max_external_per_request`, whatever the heap does.
    ExternalGrowth {
        /// Its growth per request (least squares over the rungs).
        bytes_per_request: f64,
        /// The budget.
        limit: f64,
    },
    /// The process's resident set grows linearly above `max_rss_growth` per request.
    RssGrowth {
        /// Its growth per request (least squares over the rungs after the first).
        bytes_per_request: f64,
        /// The budget.
        limit: f64,
    },
    /// At the measured rate the process reaches `memory_limit` too soon.
    ReachesLimit {
        /// Projected requests until the limit.
        requests: u64,
        /// The fewest allowed (`requests_to_limit`).
        allowed: u64,
    },
    /// Iterations failed (an unexpected status, no response, a capture that matched nothing):
    /// traffic that does not do what the spec says measures nothing, so it can't pass.
    FailedRequests {
        /// Iterations that failed.
        failed: u64,
        /// Iterations sent.
        sent: u64,
        /// Unexpected statuses, by status code.
        statuses: std::collections::BTreeMap<u16, u64>,
        /// Iterations that got no answer within `request_timeout`.
        #[serde(default)]
        timeouts: u64,
        /// Iterations that failed otherwise (no response, a capture that matched nothing).
        #[serde(default)]
        other: u64,
        /// Failed iterations tolerated (`max_failed_requests`; 0 by default).
        #[serde(default)]
        allowed: u64,
        /// The first failure, as text (naming the step in a flow).
        first_error: Option<String>,
    },
    /// No leak was proven, but the run's detection limit stayed above the route's
    /// `sensitivity` (its own, or the default of `requests = "auto"`): a leak of that size
    /// could have slipped through, so this is no PASS.
    SensitivityNotReached {
        /// The smallest leak that matters, bytes per request.
        sensitivity: f64,
        /// What the run can promise, bytes per request.
        detection_limit: f64,
        /// Requests per rung of the series judged.
        requests_per_rung: u64,
        /// The floor per request, when the sensitivity is at or below it: no run of any
        /// length reaches it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unreachable_below: Option<f64>,
    },
    /// A figure rose past its record in `leakspec.lock` by more than the tolerance (the diff
    /// is in [`RouteVerdict::lock`]).
    Regression {
        /// The figures that regressed, recorded → measured.
        summary: String,
    },
}

/// One leaking class, explained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Leak {
    /// The class key.
    pub class: String,
    /// Objects added per request (0 when only the bytes grow, e.g. a string getting longer).
    pub objects_per_request: f64,
    /// Bytes added per request.
    pub bytes_per_request: f64,
    /// Objects of the class at the baseline and at the last snapshot.
    pub objects: (u64, u64),
    /// Self bytes of the class at the baseline and at the last snapshot.
    pub bytes: (u64, u64),
    /// Objects of the class at every snapshot, in order (the route's rungs); empty in reports
    /// written before they were recorded.
    #[serde(default)]
    pub objects_per_rung: Vec<u64>,
    /// Self bytes of the class at every snapshot, in order.
    #[serde(default)]
    pub bytes_per_rung: Vec<u64>,
    /// Where the new objects live: up to three holders, each with its culprit and one path.
    pub holders: Vec<LeakHolder>,
}

/// A group of leaked objects under one persistent holder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeakHolder {
    /// The variable or property holding them, when the path names one.
    pub culprit: Option<String>,
    /// The holder's class and id, e.g. `Map @100281`.
    pub holder: Option<String>,
    /// Objects of the class under this holder.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// A pattern recognised on the path (timers, listeners).
    pub hint: Option<String>,
    /// For a timer or listener leak, the callback registered and where its code is, from
    /// the snapshot (written only when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<crate::analysis::allocations::CodeLocation>,
    /// The retainer path of one of them.
    pub path: Option<RetainerPath>,
}

/// How long until the memory limit, at the measured rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// The limit.
    pub limit: u64,
    /// Bytes per request the projection uses.
    pub bytes_per_request: f64,
    /// Requests until the limit from the last snapshot; `None` when nothing grows.
    pub requests: Option<u64>,
}

/// The verdict on one route.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteVerdict {
    /// True when no failure was found.
    pub pass: bool,
    /// Why it failed (empty when it passed).
    pub failures: Vec<Failure>,
    /// Linear growth of all leaking classes together, bytes per request.
    pub bytes_per_request: f64,
    /// Heap (sum of self sizes) at the baseline and at the last snapshot.
    pub heap: (u64, u64),
    /// The leaking classes, explained.
    pub leaks: Vec<Leak>,
    /// Growing holders (persistent objects whose retained data grows linearly).
    pub holders: Vec<Holder>,
    /// Requests until the memory limit, when one is set.
    pub projection: Option<Projection>,
    /// Classes still growing unevenly after the last rung (not counted as leaks).
    pub unsure: Vec<String>,
    /// The comparison with `leakspec.lock`, when there is one (see [`crate::record`]).
    pub lock: Option<LockCheck>,
    /// How the process's own memory figures grew over the rungs, where the runtime gives them.
    #[serde(default)]
    pub memory: MemoryGrowth,
    /// The smallest linear growth per request this run would have flagged, from its measured
    /// noise and its requests per rung (see [`crate::analysis::noise`]).
    #[serde(default)]
    pub detection_limit: DetectionLimit,
    /// What grew in the idle control interval, when one was measured: growth with time, which
    /// is the target's, not the route's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<IdleVerdict>,
    /// The budget the route was judged against (empty in reports written before it was
    /// recorded).
    #[serde(default)]
    pub budget: Limits,
}

/// The growth verdicts on the process's own memory figures (`process.memoryUsage()` and V8's
/// `backingStorageSize` at every rung).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryGrowth {
    /// ArrayBuffer backing stores.
    pub array_buffers: Option<Fit>,
    /// External memory.
    pub external: Option<Fit>,
    /// Resident set, from the first rung on.
    pub rss: Option<Fit>,
    /// Budgets that could not be checked, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchecked: Vec<String>,
}

/// Growth with time, held against `max_idle_growth`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdleVerdict {
    /// False when the target grows with time beyond its budget (by default: at all, above the
    /// noise floor).
    pub pass: bool,
    /// The budget, bytes per minute.
    pub limit: Option<u64>,
    /// What grew.
    #[serde(flatten)]
    pub growth: Idle,
}

/// The budget of one route, resolved from the spec (route > target > defaults).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Linear growth tolerated, in bytes per request (all growing classes together).
    pub max_bytes_per_request: Option<f64>,
    /// Linear growth tolerated, in objects per request (any one class).
    pub max_objects_per_request: Option<f64>,
    /// Growth of the heap from the baseline to the last snapshot tolerated, in bytes.
    pub max_heap_growth: Option<u64>,
    /// The memory the process may use (a container limit, the 128 MiB of a Worker).
    pub memory_limit: Option<u64>,
    /// Fewest requests the process must serve before reaching `memory_limit`.
    pub requests_to_limit: Option<u64>,
    /// Highest V8 heap use tolerated while requests run at the route's concurrency.
    pub max_peak_heap: Option<u64>,
    /// Linear growth of the process's external memory tolerated, bytes per request.
    pub max_external_per_request: Option<f64>,
    /// Linear growth of the process's resident set tolerated, bytes per request.
    pub max_rss_growth: Option<f64>,
    /// Growth of the program's data per minute tolerated with no requests.
    pub max_idle_growth: Option<u64>,
    /// The smallest leak that matters, bytes per request: without a leak proven, a detection
    /// limit above it fails the route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<f64>,
    /// Class keys never counted.
    pub ignore: Vec<String>,
}
