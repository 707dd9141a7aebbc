//! The target's own view of its memory, beside the snapshots: V8's heap use
//! (`Runtime.getHeapUsage`), and where the runtime has it `process.memoryUsage()` through
//! `Runtime.evaluate` (Node, Deno): external memory, ArrayBuffer backing stores and the
//! process's resident set. Sampled after the GC before every snapshot and every 100 ms while
//! requests run.
//!
//! What each runtime gives (measured; see `docs/memory.md`):
//! - Node 20: `process.memoryUsage()` in full (`external` includes `arrayBuffers`);
//!   `getHeapUsage` has no `backingStorageSize`.
//! - Deno 2: `process.memoryUsage()` with `arrayBuffers` always 0 and an `external` that leaves
//!   ArrayBuffers out, so array buffers come from `getHeapUsage`'s `backingStorageSize`.
//! - workerd, wrangler: no `process.memoryUsage()` (no context to evaluate in outside a
//!   request, and no process of its own per isolate); array buffers from
//!   `backingStorageSize`, external and RSS unknown.

use std::time::Duration;

use crate::inspector::{HeapUsage, Inspector, InspectorError, ProcessMemoryUsage};
use crate::leakspec::Runtime;

/// One sample of the target's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Sample {
    /// `Runtime.getHeapUsage`.
    pub(super) heap: HeapUsage,
    /// `process.memoryUsage()`, where the runtime has it.
    pub(super) usage: Option<ProcessMemoryUsage>,
}

impl Sample {
    /// ArrayBuffer backing stores: V8's own count where it sends one (newer V8), else Node's.
    pub(super) fn array_buffers(&self) -> Option<u64> {
        self.heap.backing_storage.or(self.usage.map(|u| u.array_buffers))
    }

    /// External memory as the process reports it.
    pub(super) fn external(&self) -> Option<u64> {
        self.usage.map(|u| u.external)
    }

    /// The process's resident set.
    pub(super) fn rss(&self) -> Option<u64> {
        self.usage.map(|u| u.rss)
    }
}

/// Whether `process.memoryUsage()` is asked for at all: not on Workers, whose isolates have no
/// process of their own (workerd answers "Cannot find default execution context").
pub(super) fn asks_process(runtime: Runtime) -> bool {
    !runtime.is_workers()
}

/// Why a runtime's report has no external and RSS figures, for the report.
pub(super) fn missing_note(runtime: Runtime) -> Option<String> {
    (!asks_process(runtime)).then(|| {
        format!(
            "external memory and RSS are not available on {runtime}: an isolate has no \
             process.memoryUsage(); array buffers come from Runtime.getHeapUsage"
        )
    })
}

/// Takes one sample: the heap use, then `process.memoryUsage()` when `ask_process`.
pub(super) async fn sample(
    inspector: &Inspector,
    ask_process: bool,
    timeout: Duration,
) -> Result<Sample, InspectorError> {
    let heap = inspector.heap_usage(timeout).await?;
    let usage = if ask_process { inspector.process_memory_usage(timeout).await? } else { None };
    Ok(Sample { heap, usage })
}

/// The highest figures sampled while requests ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Peaks {
    /// V8 heap used.
    pub(super) heap: u64,
    /// External memory, when the process reports it.
    pub(super) external: Option<u64>,
    /// Resident set, when the process reports it.
    pub(super) rss: Option<u64>,
    /// How many samples were folded in.
    pub(super) samples: u32,
}

impl Peaks {
    /// Folds a sample in.
    pub(super) fn add(&mut self, s: &Sample) {
        let max = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.heap = self.heap.max(s.heap.used);
        self.external = max(self.external, s.external());
        self.rss = max(self.rss, s.rss());
        self.samples += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(backing: Option<u64>, usage: Option<(u64, u64, u64)>) -> Sample {
        Sample {
            heap: HeapUsage { used: 4 << 20, total: 8 << 20, backing_storage: backing },
            usage: usage.map(|(rss, external, array_buffers)| ProcessMemoryUsage {
                rss,
                heap_used: 4 << 20,
                external,
                array_buffers,
            }),
        }
    }

    #[test]
    fn array_buffers_come_from_v8_where_it_counts_them() {
        // Node 20: only process.memoryUsage().
        assert_eq!(sample(None, Some((50, 20, 12))).array_buffers(), Some(12));
        // Deno: its arrayBuffers is always 0; V8's backingStorageSize is right.
        assert_eq!(sample(Some(300), Some((50, 20, 0))).array_buffers(), Some(300));
        // workerd: V8's figure, nothing else.
        let w = sample(Some(300), None);
        assert_eq!((w.array_buffers(), w.external(), w.rss()), (Some(300), None, None));
    }

    #[test]
    fn peaks_keep_the_highest_and_know_what_is_missing() {
        let mut p = Peaks::default();
        p.add(&sample(None, Some((50, 20, 12))));
        p.add(&sample(None, Some((40, 30, 12))));
        assert_eq!((p.external, p.rss), (Some(30), Some(50)));
        let mut w = Peaks::default();
        w.add(&sample(Some(1), None));
        assert_eq!((w.heap, w.external, w.rss), (4 << 20, None, None));
        assert!(missing_note(Runtime::Workerd).unwrap().contains("workerd"));
        assert_eq!(missing_note(Runtime::Node), None);
    }
}
