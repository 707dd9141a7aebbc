//! A failed route's growth grouped by root cause: what holds it, its share, the classes it
//! accumulates, one retainer path and the allocation sites (computed by
//! [`crate::judge::causes`]).

use serde::{Deserialize, Serialize};

use crate::analysis::allocations::{AllocationSite, CodeLocation};
use crate::analysis::paths::RetainerPath;

/// One root cause of a route's growth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cause {
    /// The variable or property of the service's code that holds the growth, when the
    /// retainer path names one.
    pub culprit: Option<String>,
    /// The holder's class and id, e.g. `Array @100165` (`None`: not reachable from the roots).
    pub holder: Option<String>,
    /// Growth per request attributed to this cause: its classes' share, or the holder's own
    /// retained growth when that is larger.
    pub bytes_per_request: f64,
    /// Its share of the route's growth per request (0 to 1).
    pub share: f64,
    /// The classes it accumulates, most bytes first.
    pub classes: Vec<CauseClass>,
    /// A pattern recognised on the path (timers, listeners).
    pub hint: Option<String>,
    /// For a timer or listener leak, the callback registered (the leaked listener, the
    /// timer's callback) and where its code is, read from the last snapshot: names the code
    /// when no sampled site registered it. Written only when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<CodeLocation>,
    /// One retainer path to what it holds.
    pub path: Option<RetainerPath>,
    /// Where what it holds was allocated. The sampling profiler cannot tell which holder an
    /// object went to, so a route with several causes lists its sites under the first.
    pub sites: Vec<AllocationSite>,
}

/// A class under a cause.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CauseClass {
    /// The class key.
    pub class: String,
    /// Objects per request it adds under this cause.
    pub objects_per_request: f64,
    /// Bytes per request it adds under this cause.
    pub bytes_per_request: f64,
}
