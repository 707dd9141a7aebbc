//! The work behind the trials: the targets of the routes left after filtering, started as
//! `leakcheck run` starts them (one launch and one inspector session per target, its routes
//! in the spec's order), several targets at once, each route's outcome handed to the trial
//! that waits for it.
//!
//! libtest-mimic calls a trial's closure on one of its threads and wants its outcome back;
//! a target, though, measures all its routes in one launch. So the targets run on their own
//! (`threads` worker threads, one target each at a time) as soon as the selection is known, and each
//! trial only waits: for its route's `RouteDone` event when it passed, or for its target's
//! whole report when it did not (the explanation needs the target's exit and stderr).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

use futures_util::FutureExt;

use crate::launch::{StopSignal, StopSignals};
use crate::model::{Outcome, TargetReport};
use crate::plan::{Plan, TargetPlan};
use crate::runner::progress::{Event, Progress};
use crate::runner::{RunOptions, run_target};

/// What a trial learns about its route.
pub(super) enum Verdict {
    /// The route passed (its target may still be running).
    Passed,
    /// The target is done: its whole report, to explain the route from.
    Done(Arc<TargetReport>),
}

/// One target's results, filled by the engine and read by the trials of its routes.
#[derive(Default)]
pub(super) struct Slot {
    state: Mutex<SlotState>,
    changed: Condvar,
}

#[derive(Default)]
struct SlotState {
    passed: BTreeSet<String>,
    report: Option<Arc<TargetReport>>,
}

impl Slot {
    /// Blocks until route `route` has passed or the target is done.
    pub(super) fn wait(&self, route: &str) -> Verdict {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state.passed.contains(route) {
                return Verdict::Passed;
            }
            if let Some(report) = &state.report {
                return Verdict::Done(report.clone());
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn update(&self, f: impl FnOnce(&mut SlotState)) {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_all();
    }
}

/// The slots of every target of a plan, by name.
pub(super) type Slots = BTreeMap<String, Arc<Slot>>;

/// Tells each slot when one of its routes passed, and forwards events to `inner`.
struct Relay {
    slots: Slots,
    inner: Arc<dyn Progress>,
}

impl Progress for Relay {
    fn event(&self, event: &Event<'_>) {
        if let Event::RouteDone { target, route, outcome: Outcome::Pass } = *event
            && let Some(slot) = self.slots.get(target)
        {
            slot.update(|s| {
                s.passed.insert(route.to_owned());
            });
        }
        self.inner.event(event);
    }
}

/// The runs under way; [`Engine::finish`] waits for every target to be shut down.
pub(super) struct Engine {
    runtime: tokio::runtime::Runtime,
    workers: Vec<std::thread::JoinHandle<()>>,
    reports: Arc<Mutex<Vec<Option<TargetReport>>>>,
    stop: StopSignals,
}

impl Engine {
    /// Starts the targets of `plan` (already narrowed to the selected routes), at most
    /// `threads` at once, in the plan's order, filling `slots` as routes pass and targets
    /// finish.
    ///
    /// A target's run is not `Send` (the snapshot stream borrows a sink across awaits), so each
    /// worker is a thread of its own that drives one target at a time on the shared runtime
    /// with `Handle::block_on`; the runtime's threads serve the tasks the run spawns.
    pub(super) fn start(
        plan: Plan,
        slots: &Slots,
        threads: usize,
        failure_snapshots: PathBuf,
        progress: Arc<dyn Progress>,
    ) -> std::io::Result<Engine> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let options = Arc::new(RunOptions {
            keep_snapshots: None,
            failure_snapshots,
            progress: Arc::new(Relay { slots: slots.clone(), inner: progress }),
            partial: None,
        });
        let stop = runtime.block_on(async { crate::launch::install_signal_handlers() })?;
        let count = plan.targets.len();
        let queue =
            Arc::new(Mutex::new(plan.targets.into_iter().enumerate().collect::<VecDeque<_>>()));
        let reports = Arc::new(Mutex::new(vec![None; count]));
        // Targets on a port of their own choosing (no `{port}` in their URL) could clash: they
        // take turns.
        let fixed_port = Arc::new(Mutex::new(()));
        let mut workers = Vec::new();
        for _ in 0..threads.clamp(1, count.max(1)) {
            let (queue, reports, fixed_port) = (queue.clone(), reports.clone(), fixed_port.clone());
            let (options, stop, slots) = (options.clone(), stop.clone(), slots.clone());
            let handle = runtime.handle().clone();
            workers.push(std::thread::spawn(move || {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let Some((position, target)) = next else { break };
                    let _turn = uses_fixed_port(&target)
                        .then(|| fixed_port.lock().unwrap_or_else(|e| e.into_inner()));
                    let run = AssertUnwindSafe(run_target(&target, &options, stop.clone()));
                    let report = match handle.block_on(run.catch_unwind()) {
                        Ok(report) => report,
                        // The trials of the target must not wait forever.
                        Err(panic) => panicked(&target, panic),
                    };
                    if let Some(slot) = slots.get(&target.name) {
                        let shared = Arc::new(report.clone());
                        slot.update(|s| s.report = Some(shared));
                    }
                    reports.lock().unwrap_or_else(|e| e.into_inner())[position] = Some(report);
                }
            }));
        }
        Ok(Engine { runtime, workers, reports, stop })
    }

    /// Waits until every target has been shut down; returns their reports in the plan's order
    /// and the stop signal received, if any.
    pub(super) fn finish(self) -> (Vec<TargetReport>, Option<StopSignal>) {
        for worker in self.workers {
            let _ = worker.join();
        }
        let reports = std::mem::take(&mut *self.reports.lock().unwrap_or_else(|e| e.into_inner()));
        let signal = self.stop.get();
        drop(self.runtime);
        (reports.into_iter().flatten().collect(), signal)
    }
}

/// The report of a target whose run panicked: every route not run, saying why.
fn panicked(target: &TargetPlan, panic: Box<dyn std::any::Any + Send>) -> TargetReport {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("no message");
    let why = format!("leakcheck itself failed while running this target (panic: {what})");
    TargetReport {
        name: target.name.clone(),
        routes: target
            .routes
            .iter()
            .map(|r| crate::model::RouteReport::skipped(&r.name, &r.method, &r.path, &why))
            .collect(),
        error: Some(why),
        ..TargetReport::default()
    }
}

fn uses_fixed_port(target: &TargetPlan) -> bool {
    !target.url.contains(crate::leakspec::PORT_PLACEHOLDER)
}
