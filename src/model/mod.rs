//! The run-report model: what `leakcheck run` (and `leakcheck test`) measured and decided, one
//! entry per target and route, as versioned serde data. The runner fills it, the judge's
//! verdicts go into it, `record` reads its figures, and every reporter in `report/` renders it;
//! nothing here renders.

pub mod causes;
pub mod load;
pub mod lock;
pub mod verdict;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::leakspec::Runtime;
pub use load::{CommandRun, LoadStats, StepStats};
pub use lock::{Baseline, Change, Figure, LockCheck, Recorded, Status, Unit};
pub use verdict::{Failure, Leak, LeakHolder, MemoryGrowth, Projection, RouteVerdict};

/// Version of the JSON document; bumped on any incompatible change.
pub const RUN_FORMAT: &str = "leakcheck-run/2";

/// `&'static str` under another name, so that serde's derive does not take the field for a
/// string borrowed from its input (it reads it with [`run_format`]).
type StaticName = &'static str;

/// A `warmup = "auto"` that stopped at its cap with V8 still compiling (see
/// [`RouteReport::warmup_unsettled`]): what grew between its last two probes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmupUnsettled {
    /// What kept the warm-up going: `"code"`, `"metadata"`, or both, in that order.
    pub still_growing: Vec<String>,
    /// Growth of compiled code between the last two probes, bytes (negative: shrank).
    pub code_bytes: i64,
    /// Growth of V8's other metadata (hidden classes, feedback, `(system)`) between the last
    /// two probes, bytes.
    pub metadata_bytes: i64,
    /// Requests between those two probes.
    pub requests: u64,
}

/// The whole run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunReport {
    /// Always [`RUN_FORMAT`]; a document with another format is not read.
    #[serde(deserialize_with = "run_format")]
    pub format: StaticName,
    /// The spec file the run followed.
    pub spec: PathBuf,
    /// One entry per target, in the spec's order.
    pub targets: Vec<TargetReport>,
    /// Set when the run was cut short (Ctrl-C, SIGTERM): what was measured until then is here.
    pub interrupted: Option<String>,
    /// Wall time of the run.
    #[serde(serialize_with = "secs", deserialize_with = "secs_from")]
    pub elapsed: Duration,
    /// leakcheck's own peak memory (resident set) over the run, where the system tells it.
    pub peak_rss: Option<u64>,
}

/// One target (one service process).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TargetReport {
    /// The target's name.
    pub name: String,
    /// What ran it: `node`, `deno`, `workerd` or `wrangler`.
    pub runtime: Runtime,
    /// Why the target could not be measured at all (never ready, no inspector ...).
    pub error: Option<String>,
    /// The routes, in the spec's order; routes not reached are marked as such.
    pub routes: Vec<RouteReport>,
    /// How the process ended, if it ended on its own during the run.
    pub exit: Option<String>,
    /// The last lines the process wrote to stderr, when something went wrong.
    pub stderr_tail: Option<String>,
    /// Which of the process's own memory figures (`external`, `rss` of each rung) the runtime
    /// cannot give, and why (workerd and wrangler have no `process.memoryUsage()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_note: Option<String>,
    /// Processes the target started outside its process group (daemons, detached children)
    /// still running after its shutdown; leakcheck killed them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escaped: Vec<Escaped>,
}

/// A process a target left running outside its process group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escaped {
    /// Its process id.
    pub pid: u32,
    /// Its command line.
    pub command: String,
}

/// The outcome of one route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing grows beyond the budget.
    Pass,
    /// A leak or a budget was exceeded.
    Fail,
    /// The route could not be measured: the target crashed, a snapshot failed ...
    Error,
    /// Not run (an earlier failure of the target, a filter, an interruption).
    Skipped,
}

/// One rung: the state after a number of requests.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Rung {
    /// Requests sent on the route before this snapshot (0 for the baseline).
    pub requests: u64,
    /// V8 heap used after GC (`Runtime.getHeapUsage`).
    pub heap_used: u64,
    /// Nodes in the snapshot.
    pub nodes: u64,
    /// Snapshot size, in bytes of JSON.
    pub snapshot_bytes: u64,
    /// Time V8 took to produce the snapshot (first chunk to last).
    #[serde(serialize_with = "secs", deserialize_with = "secs_from")]
    pub snapshot_time: Duration,
    /// Where the snapshot was kept, if it was.
    pub kept: Option<PathBuf>,
    /// Memory of its compact graph and analysis in leakcheck.
    pub graph_bytes: u64,
    /// Memory of its compact graph alone.
    #[serde(default)]
    pub compact_graph_bytes: u64,
    /// leakcheck's resident memory once the snapshot had streamed in (graph built, not yet
    /// analysed): the graph, what the comparison keeps of earlier rungs, and the process.
    #[serde(default)]
    pub rss_after_streaming: Option<u64>,
    /// The target's ArrayBuffer backing stores after the GC before the snapshot: V8's
    /// `backingStorageSize` where it sends one (Deno, workerd), else Node's
    /// `process.memoryUsage().arrayBuffers`.
    #[serde(default)]
    pub array_buffers: Option<u64>,
    /// The target's external memory (`process.memoryUsage().external`; Node, Deno); `null`
    /// where the runtime cannot tell (see [`TargetReport::memory_note`]).
    #[serde(default)]
    pub external: Option<u64>,
    /// The target process's resident set (`process.memoryUsage().rss`; Node, Deno).
    #[serde(default)]
    pub rss: Option<u64>,
}

/// One route's measurements and verdict.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RouteReport {
    /// The route's name.
    pub name: String,
    /// HTTP method.
    pub method: String,
    /// Path requested.
    pub path: String,
    /// Request headers as sent, with secrets (authorization, cookies, API keys) redacted.
    pub headers: Vec<(String, String)>,
    /// The outcome.
    pub outcome: Outcome,
    /// What went wrong when the outcome is `error`; why the route was not run when it is
    /// `skipped`.
    pub error: Option<String>,
    /// Skipped because the spec marks the route `ignored` (`error` says `ignored` or
    /// `ignored: REASON`); written only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignored: bool,
    /// The verdict, when snapshots could be compared.
    pub verdict: Option<RouteVerdict>,
    /// Every snapshot taken, in order.
    pub rungs: Vec<Rung>,
    /// Requests sent during warm-up.
    pub warmup: u64,
    /// With `warmup = "auto"`: the warm-up reached its most requests while V8's code or
    /// metadata still grew between its last two probes; written only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_unsettled: Option<WarmupUnsettled>,
    /// The load's statistics over the warm-up and all rungs.
    pub load: LoadStats,
    /// The route's peak heap, the one figure every report gives (see [`RouteReport::peak`]).
    pub peak_heap: Option<u64>,
    /// Highest external memory of the target seen while the load ran (sampled with the heap;
    /// Node, Deno).
    #[serde(default)]
    pub peak_external: Option<u64>,
    /// Highest resident set of the target seen while the load ran (Node, Deno).
    #[serde(default)]
    pub peak_rss: Option<u64>,
    /// The burst at the route's concurrency that measured the peak, when the route has a
    /// `max_peak_heap` budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<Burst>,
    /// Time spent by V8 producing snapshots, sending requests, and by leakcheck itself.
    pub timings: Timings,
    /// The spec line of the route, for annotations.
    pub line: Option<usize>,
    /// Where the objects that outlived the rungs were allocated (absent with
    /// `allocations = "off"` and on routes that did not get that far).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocations: Option<crate::analysis::allocations::AllocationReport>,
    /// The leaks grouped by root cause, largest share first (the per-class view is
    /// `verdict.leaks`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<causes::Cause>,
}

/// A burst of requests all in flight at once, sampled closely for the heap's peak.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Burst {
    /// Requests in flight at once (the route's concurrency).
    pub concurrency: usize,
    /// Requests sent.
    pub requests: u64,
    /// Highest V8 heap use sampled during the burst.
    pub peak_heap: u64,
}

/// Where a route's time went.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Timings {
    /// Wall time of the route.
    #[serde(serialize_with = "secs", deserialize_with = "secs_from")]
    pub wall: Duration,
    /// Time in `takeHeapSnapshot` (V8's own cost).
    #[serde(serialize_with = "secs", deserialize_with = "secs_from")]
    pub snapshots: Duration,
    /// Time sending requests (warm-up included).
    #[serde(serialize_with = "secs", deserialize_with = "secs_from")]
    pub requests: Duration,
    /// Time in forced garbage collections.
    #[serde(serialize_with = "secs", deserialize_with = "secs_from")]
    pub gc: Duration,
    /// leakcheck's own time after each snapshot's last chunk (the parse's tail, analysis,
    /// digest) and comparing: what a run costs beyond what V8 and the service spend.
    #[serde(serialize_with = "secs", deserialize_with = "secs_from")]
    pub analysis: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Reads back a duration written as seconds.
pub(crate) fn secs_from<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| serde::de::Error::custom(format!("{secs} is not a duration in seconds")))
}

/// Accepts only [`RUN_FORMAT`], so that a report of another version is refused by name rather
/// than half read.
fn run_format<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let format = String::deserialize(d)?;
    if format == RUN_FORMAT {
        Ok(RUN_FORMAT)
    } else {
        Err(serde::de::Error::custom(format!("format `{format}` is not `{RUN_FORMAT}`")))
    }
}

impl RouteReport {
    /// A route that was not run.
    pub fn skipped(name: &str, method: &str, path: &str, why: &str) -> RouteReport {
        RouteReport {
            name: name.to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            outcome: Outcome::Skipped,
            error: Some(why.to_owned()),
            ignored: false,
            verdict: None,
            rungs: Vec::new(),
            warmup: 0,
            warmup_unsettled: None,
            load: LoadStats::default(),
            peak_heap: None,
            peak_external: None,
            peak_rss: None,
            burst: None,
            timings: Timings::default(),
            line: None,
            allocations: None,
            causes: Vec::new(),
        }
    }

    /// The route's peak heap: the highest V8 heap use measured on it, in the samples taken
    /// while requests ran (rungs and burst), at every snapshot, and in the verdict's baseline
    /// and last heap. The one definition of peak: the JSON's `peak_heap`, the terminal's
    /// "peak", the `max_peak_heap` budget and the lock all give this figure, so no report
    /// shows a peak below the route's start or final heap. `None` when nothing was measured.
    ///
    /// ```
    /// use leakcheck::model::{Burst, RouteReport, Rung};
    /// let mut r = RouteReport::skipped("r", "GET", "/", "");
    /// assert_eq!(r.peak(), None);
    /// r.peak_heap = Some(4_000);
    /// r.burst = Some(Burst { concurrency: 4, requests: 40, peak_heap: 7_000 });
    /// r.rungs.push(Rung { heap_used: 9_000, ..Rung::default() });
    /// assert_eq!(r.peak(), Some(9_000));
    /// ```
    pub fn peak(&self) -> Option<u64> {
        let heaps = self.verdict.iter().flat_map(|v| [v.heap.0, v.heap.1]);
        self.peak_heap
            .into_iter()
            .chain(self.burst.map(|b| b.peak_heap))
            .chain(self.rungs.iter().map(|r| r.heap_used))
            .chain(heaps)
            .filter(|&bytes| bytes > 0)
            .max()
    }

    /// Requests sent after the baseline (iterations, for a flow).
    pub fn requests(&self) -> u64 {
        self.rungs.last().map_or(0, |r| r.requests)
    }

    /// What one unit of load is called in reports: "iteration" for a flow, a connection
    /// cycle or a load command (`method` FLOW, WS, SSE or LOAD), else "request".
    pub fn unit(&self) -> &'static str {
        if ["FLOW", "WS", "SSE", "LOAD"].contains(&self.method.as_str()) {
            "iteration"
        } else {
            "request"
        }
    }
}

impl RunReport {
    /// Reads a report written by [`RunReport::to_json`] (the `--json` of `leakcheck run`).
    /// Durations come back rounded to the millisecond, as written.
    pub fn from_json(text: &str) -> Result<RunReport, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Counts of routes by outcome: (passed, failed, errors, skipped).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for t in &self.targets {
            if t.error.is_some() && t.routes.is_empty() {
                c.2 += 1;
            }
            for r in &t.routes {
                match r.outcome {
                    Outcome::Pass => c.0 += 1,
                    Outcome::Fail => c.1 += 1,
                    Outcome::Error => c.2 += 1,
                    Outcome::Skipped => c.3 += 1,
                }
            }
        }
        c
    }
}
