//! Recording where a route's surviving objects were allocated: V8's sampling heap profiler
//! runs from the baseline snapshot to the last one, and its live samples (what the rungs
//! allocated and the last snapshot's GC did not free) become the route's allocation sites,
//! with frames of transpiled code mapped through the target's source maps.

use std::path::PathBuf;
use std::time::Duration;

use crate::analysis::allocations::{AllocationReport, SamplingProfile, sampled_sites};
use crate::inspector::{Inspector, ScriptWatch};
use crate::leakspec::Allocations;

use super::sourcemaps::SourceMaps;

/// Bytes between samples of the sampling heap profiler. V8's default (32 KiB) leaves a leak of
/// 64 B per request over 1,000 requests with two samples; at 1 KiB it gets about 60, and
/// the profiler's cost stays small next to a snapshot's (see the README's measurements).
pub const SAMPLING_INTERVAL: u64 = 1024;

/// What every route of a target shares: the scripts the debugger reported (or why they are
/// unknown), and where relative script paths are found.
pub struct TargetSites {
    /// The scripts that name a source map; `Err` says why the debugger could not tell
    /// (empty when no route records allocations).
    pub scripts: Result<ScriptWatch, String>,
    /// The target's working directory.
    pub cwd: PathBuf,
    /// Where its relative script URLs are found besides `cwd`: the folder of a Worker's
    /// main module (workerd names modules by their path from there).
    pub script_dirs: Vec<PathBuf>,
    /// wrangler bundles into `.wrangler/tmp/dev-*/` under `cwd`, a folder made at start.
    pub wrangler: bool,
}

impl TargetSites {
    /// The folders relative script URLs are looked for in, now.
    fn bases(&self) -> Vec<PathBuf> {
        let mut bases = self.script_dirs.clone();
        if self.wrangler
            && let Some(dir) = newest_dev_bundle(&self.cwd.join(".wrangler/tmp"))
        {
            bases.push(dir);
        }
        bases.push(self.cwd.clone());
        bases
    }
}

/// wrangler's newest `dev-*` bundle folder under `tmp`.
fn newest_dev_bundle(tmp: &std::path::Path) -> Option<PathBuf> {
    std::fs::read_dir(tmp)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("dev-"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, path)| path)
}

enum State {
    Idle,
    Sampling,
    Unavailable(String),
}

/// One route's recording.
pub struct RouteSites<'a> {
    target: &'a TargetSites,
    mode: Allocations,
    state: State,
}

impl<'a> RouteSites<'a> {
    /// A recording in `mode`, not yet started.
    pub fn new(target: &'a TargetSites, mode: Allocations) -> RouteSites<'a> {
        RouteSites { target, mode, state: State::Idle }
    }

    /// Starts recording (after the baseline snapshot). A runtime that refuses is noted, and
    /// the route goes on without sites.
    pub async fn start(&mut self, inspector: &Inspector, timeout: Duration) {
        self.state = match self.mode {
            Allocations::Off => State::Idle,
            Allocations::Sampling => {
                match inspector.start_sampling(SAMPLING_INTERVAL, timeout).await {
                    Ok(()) => State::Sampling,
                    Err(e) => State::Unavailable(format!(
                        "the runtime gave no allocation stacks (HeapProfiler.startSampling: {e})"
                    )),
                }
            }
        };
    }

    /// Stops recording (after the last snapshot, whose GC left only the survivors) and
    /// reads the sites; `requests` is the load since the baseline.
    pub async fn finish(
        &mut self,
        inspector: &Inspector,
        requests: u64,
        timeout: Duration,
    ) -> Option<AllocationReport> {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Idle => None,
            State::Unavailable(why) => Some(AllocationReport {
                mechanism: self.mode.to_string(),
                requests,
                unavailable: Some(why),
                ..AllocationReport::default()
            }),
            State::Sampling => {
                let profile = inspector.sampling_profile(timeout).await;
                let _ = inspector.stop_sampling(timeout).await;
                let report = |summary, unavailable| AllocationReport {
                    mechanism: Allocations::Sampling.to_string(),
                    interval: Some(SAMPLING_INTERVAL),
                    requests,
                    summary,
                    unavailable,
                };
                let profile = match profile.map_err(|e| e.to_string()).and_then(|v| {
                    serde_json::from_value::<SamplingProfile>(v).map_err(|e| e.to_string())
                }) {
                    Ok(p) => p,
                    Err(e) => {
                        let why = format!("the sampling heap profile could not be read: {e}");
                        return Some(report(Default::default(), Some(why)));
                    }
                };
                let scripts = match &self.target.scripts {
                    Ok(watch) => watch.mapped_scripts(),
                    Err(_) => Default::default(),
                };
                let maps = SourceMaps::new(scripts, self.target.bases());
                // Grouping walks a tree of a few thousand frames: no need for a thread.
                let summary = sampled_sites(&profile, SAMPLING_INTERVAL, requests, &maps);
                Some(report(summary, None))
            }
        }
    }

    /// Stops a recording the route left running (it failed before its last snapshot), so
    /// that the next route starts clean.
    pub async fn abandon(&mut self, inspector: &Inspector, timeout: Duration) {
        if let State::Sampling = std::mem::replace(&mut self.state, State::Idle) {
            let _ = inspector.stop_sampling(timeout.min(Duration::from_secs(5))).await;
        }
    }
}
