//! A route's verdict as the report carries it: whether it passed, each failure (linear growth,
//! a growing holder, a budget broken, the memory limit too near, a regression against the lock)
//! and the leaking classes explained with their holders and one retainer path each. Data only;
//! the judge ([`crate::judge`]) builds it and `report/` renders it.

use serde::{Deserialize, Serialize};

use super::lock::LockCheck;
use crate::analysis::compare::Holder;
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
}
