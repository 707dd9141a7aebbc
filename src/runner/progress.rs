//! What the runner tells the outside while it works, so the command line can show progress:
//! a live bar on a terminal, a line per phase in a CI log.

use std::time::Duration;

use crate::model::Outcome;

/// A step of the run.
#[derive(Clone, Debug)]
pub enum Event<'a> {
    /// A target is being started.
    Starting {
        /// The target.
        target: &'a str,
    },
    /// The target answers and its inspector is connected.
    Ready {
        /// The target.
        target: &'a str,
        /// Its process id.
        pid: u32,
        /// How long it took.
        after: Duration,
    },
    /// Requests are being sent.
    Load {
        /// The target.
        target: &'a str,
        /// The route.
        route: &'a str,
        /// `None` during warm-up, else the rung being loaded (1-based).
        rung: Option<usize>,
        /// Requests done so far in this batch.
        done: u64,
        /// Requests in this batch.
        total: u64,
    },
    /// A heap snapshot is being taken (after a forced GC).
    Snapshot {
        /// The target.
        target: &'a str,
        /// The route.
        route: &'a str,
        /// 0 for the baseline.
        rung: usize,
    },
    /// A snapshot has arrived and been analysed.
    SnapshotDone {
        /// The target.
        target: &'a str,
        /// The route.
        route: &'a str,
        /// 0 for the baseline.
        rung: usize,
        /// Bytes of JSON.
        bytes: u64,
        /// Nodes in it.
        nodes: u64,
        /// V8's time to produce it.
        v8_time: Duration,
    },
    /// The verdict is unclear: another rung will be taken.
    ExtraRung {
        /// The target.
        target: &'a str,
        /// The route.
        route: &'a str,
        /// The classes growing unevenly.
        why: &'a [String],
    },
    /// `requests = "auto"`: the series measured states a detection limit above the
    /// sensitivity and proved no leak, so a new series starts (a new baseline), with more
    /// requests per rung; the requests so far count as warm-up.
    Resize {
        /// The target.
        target: &'a str,
        /// The route.
        route: &'a str,
        /// The limit the last series stated, bytes per request.
        limit: f64,
        /// The sensitivity, bytes per request.
        sensitivity: f64,
        /// Requests per rung of the new series.
        requests: u64,
    },
    /// `warmup = "auto"` reached its most requests with V8's code or metadata still growing
    /// between its last two probes; the baseline is taken all the same.
    WarmupUnsettled {
        /// The target.
        target: &'a str,
        /// The route.
        route: &'a str,
        /// Warm-up requests sent.
        requests: u64,
        /// What still grew: `"code"`, `"metadata"`.
        still_growing: &'a [String],
    },
    /// The idle control interval starts: no requests for this long, then a snapshot.
    Idle {
        /// The target.
        target: &'a str,
        /// The route.
        route: &'a str,
        /// How long, in seconds.
        seconds: f64,
    },
    /// A route is done.
    RouteDone {
        /// The target.
        target: &'a str,
        /// The route.
        route: &'a str,
        /// How it ended.
        outcome: Outcome,
    },
    /// A target has been shut down.
    Stopped {
        /// The target.
        target: &'a str,
        /// How: `"ended on SIGTERM"`, `"was killed (SIGKILL) after the shutdown timeout"` ...
        how: &'a str,
        /// How long the shutdown took.
        after: Duration,
        /// Processes it started outside its process group that were still running and were
        /// killed: pid and command line.
        escaped: &'a [(u32, String)],
    },
}

/// Receives the runner's events. Implementations must be cheap: `Load` events come per request.
pub trait Progress: Send + Sync {
    /// Called for every event, in order.
    fn event(&self, event: &Event<'_>);
}

/// Discards every event.
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _: &Event<'_>) {}
}
