//! Where objects are allocated: the CDP calls of V8's sampling heap profiler
//! (`HeapProfiler.startSampling` / `getSamplingProfile`), of allocation tracking
//! (`HeapProfiler.startTrackingHeapObjects` with `trackAllocations`), and the scripts the
//! debugger reports (`Debugger.scriptParsed`: each script's URL and `sourceMapURL`), so that
//! frames of transpiled or bundled code can be mapped back to their source.
//!
//! The replies are handed on as JSON; `analysis::allocations` reads them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::{Inspector, InspectorError};

/// A script the target has loaded that names a source map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedScript {
    /// The script's URL (`file:///...`, a bare path, or what the runtime calls it).
    pub url: String,
    /// Its `sourceMappingURL`: a `data:` URL or a URL/path relative to `url`.
    pub source_map_url: String,
}

/// The scripts that name a source map, by `scriptId`, collected from `Debugger.scriptParsed`
/// events for as long as the watch lives (scripts loaded later, on a first request, count too).
#[derive(Debug)]
pub struct ScriptWatch {
    scripts: Arc<Mutex<HashMap<String, MappedScript>>>,
    task: JoinHandle<()>,
}

impl ScriptWatch {
    /// The scripts seen so far that name a source map.
    pub fn mapped_scripts(&self) -> HashMap<String, MappedScript> {
        self.scripts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for ScriptWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Inspector {
    /// `HeapProfiler.startSampling`: from now on V8 records the stack of about one allocation
    /// per `interval` bytes, and keeps the samples whose objects are still alive.
    pub async fn start_sampling(
        &self,
        interval: u64,
        timeout: Duration,
    ) -> Result<(), InspectorError> {
        let params = json!({
            "samplingInterval": interval,
            "includeObjectsCollectedByMajorGC": false,
            "includeObjectsCollectedByMinorGC": false,
        });
        self.call("HeapProfiler.startSampling", params, timeout).await.map(drop)
    }

    /// `HeapProfiler.getSamplingProfile`: the tree of allocation stacks with the samples still
    /// alive (the `profile` object of the reply). Sampling goes on.
    pub async fn sampling_profile(&self, timeout: Duration) -> Result<Value, InspectorError> {
        let mut reply = self.call("HeapProfiler.getSamplingProfile", json!({}), timeout).await?;
        match reply.get_mut("profile") {
            Some(profile) => Ok(profile.take()),
            None => Err(InspectorError::Unexpected(
                "HeapProfiler.getSamplingProfile answered without a profile".into(),
            )),
        }
    }

    /// `HeapProfiler.stopSampling` (its reply, the final profile, is not needed).
    pub async fn stop_sampling(&self, timeout: Duration) -> Result<(), InspectorError> {
        self.call("HeapProfiler.stopSampling", json!({}), timeout).await.map(drop)
    }

    /// `HeapProfiler.startTrackingHeapObjects {trackAllocations: true}`: every allocation
    /// records its stack, and the next snapshot carries a `trace_node_id` per object with the
    /// stacks in `trace_function_infos` and `trace_tree`. Costly: every allocation leaves V8's
    /// fast path.
    pub async fn start_tracking(&self, timeout: Duration) -> Result<(), InspectorError> {
        let params = json!({"trackAllocations": true});
        self.call("HeapProfiler.startTrackingHeapObjects", params, timeout).await.map(drop)
    }

    /// `HeapProfiler.stopTrackingHeapObjects`, without the snapshot it can take.
    pub async fn stop_tracking(&self, timeout: Duration) -> Result<(), InspectorError> {
        let params = json!({"reportProgress": false});
        self.call("HeapProfiler.stopTrackingHeapObjects", params, timeout).await.map(drop)
    }

    /// Enables the debugger to learn each script's source map, never pausing
    /// (`Debugger.setSkipAllPauses`, so a `debugger;` statement in the service does not stop
    /// it). The scripts loaded so far are reported at once, later ones as they load.
    pub async fn watch_scripts(&self, timeout: Duration) -> Result<ScriptWatch, InspectorError> {
        let mut events = self.subscribe("Debugger.scriptParsed");
        let scripts: Arc<Mutex<HashMap<String, MappedScript>>> = Arc::default();
        let into = Arc::clone(&scripts);
        let task = tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let Some((id, script)) = mapped_script(&event.params) {
                    into.lock().unwrap_or_else(|e| e.into_inner()).insert(id, script);
                }
            }
        });
        let watch = ScriptWatch { scripts, task };
        self.call("Debugger.enable", json!({}), timeout).await?;
        self.call("Debugger.setSkipAllPauses", json!({"skip": true}), timeout).await?;
        Ok(watch)
    }
}

/// The script id and source map of a `Debugger.scriptParsed` event, when it names one.
fn mapped_script(params: &Value) -> Option<(String, MappedScript)> {
    let map = params.get("sourceMapURL")?.as_str()?;
    if map.is_empty() {
        return None;
    }
    let id = params.get("scriptId")?.as_str()?.to_owned();
    let url = params.get("url").and_then(Value::as_str).unwrap_or("").to_owned();
    Some((id, MappedScript { url, source_map_url: map.to_owned() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scripts_with_a_source_map_are_kept() {
        let with = json!({"scriptId": "7", "url": "file:///a/b.ts", "sourceMapURL": "data:x"});
        let (id, script) = mapped_script(&with).unwrap();
        assert_eq!(id, "7");
        assert_eq!(script.url, "file:///a/b.ts");
        assert_eq!(script.source_map_url, "data:x");
        assert!(mapped_script(&json!({"scriptId": "8", "url": "x", "sourceMapURL": ""})).is_none());
        assert!(mapped_script(&json!({"scriptId": "9", "url": "x"})).is_none());
    }
}
