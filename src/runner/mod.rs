//! Running a plan: for each target, start it under the inspector, keep one inspector session
//! for its whole life (node ids are only stable within one), and for each route in turn: warm
//! up, snapshot the baseline, then rungs of N requests each followed by a snapshot, with extra
//! rungs while the verdict is unclear; compare, and hand the measurements to [`crate::judge`].
//!
//! A target that crashes is reported on the route it crashed in, with its exit status and
//! stderr; its remaining routes are skipped and the other targets still run. A stop signal
//! ends the run between steps with what was measured so far.

mod allocations;
mod drive;
mod memory;
pub mod progress;
pub mod secrets;
mod series;
pub mod snapshot;
pub mod sourcemaps;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::analysis::compare::{Comparer, Comparison, Thresholds};
use crate::analysis::growth::Trend;
use crate::inspector::Inspector;
use crate::launch::{self, LaunchSpec, StopSignals, Target};
use crate::leakspec::{Allocations, Runtime};
use crate::load::{self, Captured, Driver, LoadStats};
use crate::model::{Outcome, RouteReport, RunReport, Rung, TargetReport, Timings};
use crate::plan::{Plan, RoutePlan, TargetPlan};
use drive::RouteLoad;
use progress::{Event, Progress};

/// How the run treats snapshot files and reports progress.
pub struct RunOptions {
    /// Keep every snapshot here (`TARGET/ROUTE/sN.heapsnapshot`).
    pub keep_snapshots: Option<PathBuf>,
    /// Where the snapshots of failing routes are kept when `keep_snapshots` is not set.
    pub failure_snapshots: PathBuf,
    /// Receives progress events.
    pub progress: Arc<dyn Progress>,
    /// When set, kept up to date with the report of what was measured so far (after each
    /// route, scrubbed of secrets), for a caller that must write it without waiting for the
    /// run: `leakcheck run` on a second Ctrl-C.
    pub partial: Option<Arc<std::sync::Mutex<RunReport>>>,
}

/// Retainer paths are cut after this many steps.
const PATH_STEPS: usize = 8;

/// Runs every target of the plan in order. Stops early, with a partial report, when `stop`
/// fires.
pub async fn run_plan(plan: &Plan, options: &RunOptions, stop: &mut StopSignals) -> RunReport {
    let started = Instant::now();
    let mut report = RunReport {
        format: crate::model::RUN_FORMAT,
        spec: plan.spec_path.clone(),
        ..RunReport::default()
    };
    publish(options, |partial| *partial = report.clone());
    for target in &plan.targets {
        if let Some(signal) = stop.get() {
            report.interrupted = Some(format!("stopped by {}", signal.name()));
            report.targets.push(skipped_target(target, "the run was interrupted"));
            continue;
        }
        // The target checks the signal itself, so the routes it measured before it stay.
        report.targets.push(run_target(target, options, stop.clone()).await);
        publish(options, |partial| *partial = report.clone());
        if let Some(signal) = stop.get() {
            report.interrupted = Some(format!("stopped by {}", signal.name()));
        }
    }
    report.elapsed = started.elapsed();
    report.peak_rss = peak_rss();
    report
}

/// Updates the caller's copy of the report of what was measured so far, if it keeps one.
fn publish(options: &RunOptions, update: impl FnOnce(&mut RunReport)) {
    if let Some(partial) = &options.partial
        && let Ok(mut partial) = partial.lock()
    {
        update(&mut partial);
    }
}

/// Puts a target's report so far, scrubbed of secrets, in the caller's copy: in place of the
/// one published for it before, if any.
fn publish_target(options: &RunOptions, secrets: &secrets::Secrets, mut copy: TargetReport) {
    secrets.scrub_report(&mut copy);
    publish(options, |partial| match partial.targets.last_mut() {
        Some(last) if last.name == copy.name => *last = copy,
        _ => partial.targets.push(copy),
    });
}

/// This process's peak resident memory (Linux: `VmHWM` in /proc/self/status).
fn peak_rss() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}

/// A memory figure of this process from `/proc/self/status` (Linux only).
pub(crate) fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn skipped_target(t: &TargetPlan, why: &str) -> TargetReport {
    TargetReport {
        name: t.name.clone(),
        runtime: t.runtime,
        routes: t.routes.iter().map(|r| not_run(r, why)).collect(),
        ..TargetReport::default()
    }
}

/// The report of a route that is not run: because the spec marks it `ignored` (saying so,
/// with the reason), else for `why`.
fn not_run(route: &RoutePlan, why: &str) -> RouteReport {
    if route.ignored.is_ignored() {
        let reason = route.ignored.to_string();
        RouteReport {
            ignored: true,
            line: Some(route.line),
            ..RouteReport::skipped(&route.name, &route.method, &route.path, &reason)
        }
    } else {
        RouteReport::skipped(&route.name, &route.method, &route.path, why)
    }
}

/// Runs one target: start, routes in order, shut down. A stop signal ends the route under way
/// (its targets are already killed) and skips the rest. Routes marked ignored are skipped; a
/// target whose routes are all ignored is not started.
/// Every secret value leakcheck sent (and any value after a secret name) is scrubbed from
/// the report's texts before it is returned, so no report can write one ([`secrets`]).
pub async fn run_target(t: &TargetPlan, options: &RunOptions, stop: StopSignals) -> TargetReport {
    let mut secrets = secrets::Secrets::of_target(t);
    let mut report = measure_target(t, options, stop, &mut secrets).await;
    secrets.scrub_report(&mut report);
    report
}

async fn measure_target(
    t: &TargetPlan,
    options: &RunOptions,
    stop: StopSignals,
    secrets: &mut secrets::Secrets,
) -> TargetReport {
    if t.routes.iter().all(|r| r.ignored.is_ignored()) {
        return skipped_target(t, "ignored");
    }
    let progress = options.progress.as_ref();
    progress.event(&Event::Starting { target: &t.name });
    let started = Instant::now();
    let mut report = TargetReport {
        name: t.name.clone(),
        runtime: t.runtime,
        memory_note: memory::missing_note(t.runtime),
        ..TargetReport::default()
    };
    let fail = |mut report: TargetReport, error: String, stderr: Option<String>| {
        report.error = Some(error);
        report.stderr_tail = stderr.filter(|s| !s.trim().is_empty());
        report.routes = skipped_target(t, "the target did not start").routes;
        report
    };
    let port = match launch::free_port() {
        Ok(p) => p,
        Err(e) => return fail(report, format!("could not find a free port: {e}"), None),
    };
    let launch = t.resolve_port(port);
    let mut spec = LaunchSpec {
        name: t.name.clone(),
        argv: launch.argv,
        cwd: launch.cwd,
        env: launch.env.into_iter().collect(),
        port,
        url: launch.url,
        ready: match &t.ready {
            crate::plan::Readiness::Http(path) => launch::Readiness::Http(path.clone()),
            crate::plan::Readiness::Port => launch::Readiness::Port,
        },
        ready_timeout: t.timeouts.ready,
        shutdown_timeout: t.timeouts.shutdown,
    };
    if t.runtime == Runtime::Workerd {
        // workerd picks its own port and reports it; `{port}` is filled in then.
        spec.port = 0;
        spec.url = t.url.clone();
    }
    let start = async {
        match t.runtime {
            Runtime::Node => launch::launch(&spec).await,
            Runtime::Deno => launch::launch_deno(&spec).await,
            Runtime::Workerd => {
                let launch = launch::WorkerdLaunch { spec: spec.clone(), worker: t.worker.clone() };
                launch::launch_workerd(&launch).await
            }
            Runtime::Wrangler => launch::launch_wrangler(&spec).await,
        }
    };
    let mut stop_launch = stop.clone();
    let launched = tokio::select! {
        launched = start => launched,
        signal = stop_launch.received() => {
            let why = format!("the run was interrupted by {}", signal.name());
            return TargetReport { name: t.name.clone(), routes: skipped_target(t, &why).routes, ..report };
        }
    };
    let mut target = match launched {
        Ok(target) => target,
        Err(e) => {
            let tail = e.stderr_tail().map(str::to_owned);
            return fail(report, e.to_string(), tail);
        }
    };
    let mut inspector = match Inspector::connect(target.inspector_url(), t.timeouts.ready).await {
        Ok(i) => Some(i),
        Err(e) => {
            let tail = target.stderr_tail();
            target.shutdown().await;
            return fail(report, format!("could not connect to the inspector: {e}"), Some(tail));
        }
    };
    let session = inspector.as_ref().expect("just connected");
    if let Err(e) = session.enable_heap_profiler(t.timeouts.snapshot).await {
        let tail = target.stderr_tail();
        target.shutdown().await;
        return fail(report, format!("the inspector refused the heap profiler: {e}"), Some(tail));
    }
    // Source maps of the scripts, for allocation sites in transpiled or bundled code.
    let wants_sites = t.routes.iter().any(|r| r.allocations != Allocations::Off);
    let scripts = match wants_sites {
        true => session.watch_scripts(t.timeouts.snapshot).await.map_err(|e| e.to_string()),
        false => Err(String::new()),
    };
    let sites = allocations::TargetSites {
        scripts,
        cwd: spec.cwd.clone(),
        script_dirs: t.worker.main.iter().filter_map(|m| m.parent().map(Into::into)).collect(),
        wrangler: t.runtime == Runtime::Wrangler,
    };
    progress.event(&Event::Ready { target: &t.name, pid: target.pid(), after: started.elapsed() });

    let concurrency = t.routes.iter().map(|r| r.concurrency).max().unwrap_or(1);
    let client = load::client(concurrency);
    let setup = match &t.setup {
        Some(flow) => match run_setup(flow, target.base_url(), &client, t).await {
            Ok(captured) => captured,
            Err(error) => {
                let tail = target.stderr_tail();
                if let Some(session) = inspector.take() {
                    session.close().await;
                }
                target.shutdown().await;
                return fail(report, format!("the target's setup failed: {error}"), Some(tail));
            }
        },
        None => Captured::new(),
    };
    secrets.add_captured(t, &setup);
    let mut dead = false;
    for route in &t.routes {
        if route.ignored.is_ignored() {
            report.routes.push(not_run(route, "ignored"));
            continue;
        }
        if let Some(signal) = stop.get() {
            let why = format!("the run was interrupted by {}", signal.name());
            report.routes.push(RouteReport::skipped(&route.name, &route.method, &route.path, &why));
            continue;
        }
        if dead {
            report.routes.push(RouteReport::skipped(
                &route.name,
                &route.method,
                &route.path,
                "the target exited earlier",
            ));
            continue;
        }
        let session = inspector.as_ref().expect("open while the target lives");
        // The route under way goes into the second-signal report too, with what it measured.
        let on_progress = options.partial.is_some().then(|| {
            let (base, secrets) = (report.clone(), secrets.clone());
            Box::new(move |r: &RouteReport, phase: &str| {
                let mut copy = base.clone();
                copy.routes.push(under_way(r, phase));
                publish_target(options, &secrets, copy);
            }) as ProgressSink<'_>
        });
        let r = run_route(
            t,
            route,
            &mut target,
            session,
            &client,
            &setup,
            options,
            &sites,
            stop.clone(),
            on_progress,
        )
        .await;
        // After a stop signal leakcheck killed the target itself: that is no crash.
        if r.outcome == Outcome::Error && stop.get().is_none() && target.has_ended() {
            dead = true;
            // Node lingers after its program ends while a debugger is attached: let it go.
            if let Some(session) = inspector.take() {
                session.close().await;
            }
            report.exit = Some(match target.wait_exit(Duration::from_secs(3)).await {
                Some(status) => describe_exit(status),
                None => "ended its program but did not exit".into(),
            });
            report.stderr_tail = Some(target.stderr_tail());
        }
        progress.event(&Event::RouteDone {
            target: &t.name,
            route: &route.name,
            outcome: r.outcome,
        });
        report.routes.push(r);
        // What this target measured so far, for a report written on a second Ctrl-C.
        if options.partial.is_some() {
            publish_target(options, secrets, report.clone());
        }
    }
    // Growth with time is the target's, on a line of its own.
    if let Some(line) = crate::judge::budgets::idle_line(&report.routes) {
        report.routes.push(line);
    }
    if report.exit.is_none()
        && stop.get().is_none()
        && let Some(status) = target.try_exit_status()
    {
        report.exit = Some(describe_exit(status));
        report.stderr_tail = Some(target.stderr_tail());
    }
    if let Some(session) = inspector.take() {
        session.close().await;
    }
    // The load's keep-alive connections go first: workerd (and a Node server that closes
    // gracefully) waits for open connections to end after SIGTERM, which otherwise costs the
    // whole shutdown timeout and a SIGKILL.
    drop(client);
    let ended = target.shutdown().await;
    let how = match ended.ending {
        launch::Ending::AlreadyExited => "had already exited",
        launch::Ending::Terminated => "ended on SIGTERM",
        launch::Ending::Killed => "was killed (SIGKILL) after the shutdown timeout",
    };
    progress.event(&Event::Stopped {
        target: &t.name,
        how,
        after: ended.elapsed,
        escaped: &ended.escaped,
    });
    if !ended.survivors.is_empty() {
        report.error =
            Some(format!("processes {:?} of the target survived SIGKILL", ended.survivors));
    }
    report.escaped = ended
        .escaped
        .into_iter()
        .map(|(pid, command)| crate::model::Escaped { pid, command })
        .collect();
    report
}

/// Runs the target's `[[target.setup]]` steps once; returns what they captured.
async fn run_setup(
    flow: &crate::leakspec::traffic::Flow,
    base_url: &str,
    client: &reqwest::Client,
    t: &TargetPlan,
) -> Result<Captured, String> {
    let timeout =
        t.routes.iter().map(|r| r.request_timeout).max().unwrap_or(Duration::from_secs(10));
    let driver = Driver::new(flow, base_url, timeout, &Captured::new())?;
    let (captured, stats) = load::run_once(client, &driver).await;
    match captured {
        Some(captured) => Ok(captured),
        None => Err(stats.first_error.unwrap_or_else(|| {
            let statuses: Vec<String> = stats.statuses.keys().map(u16::to_string).collect();
            format!("status {}", statuses.join(", "))
        })),
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => format!("ended ({status})"),
    }
}

/// What to say when the target's program ended during a route.
fn ended_message(run: &RouteRun<'_>, target: &mut Target) -> String {
    let how = match target.try_exit_status() {
        Some(status) => describe_exit(status),
        None => "ended its program".to_owned(),
    };
    format!(
        "the target {how} during {} ({} of {} requests answered)",
        run.phase,
        crate::format::thousands(run.report.load.ok),
        crate::format::thousands(run.report.load.sent)
    )
}

/// Everything one route accumulates while it runs.
struct RouteRun<'a> {
    t: &'a TargetPlan,
    route: &'a RoutePlan,
    report: RouteReport,
    comparer: Comparer,
    last: Option<snapshot::Taken>,
    sent: u64,
    /// Seconds the program ran (snapshots left out: they stop it) up to each snapshot, from
    /// the baseline; and when the last snapshot ended.
    clock: Vec<f64>,
    ran_until: Option<Instant>,
    /// `{seq}` of the next iteration: warm-up, rungs and burst never repeat one.
    seq: u64,
    /// The target's setup captures.
    setup: &'a Captured,
    /// The target's base URL (for a load command's `{url}`).
    base_url: String,
    dir: PathBuf,
    /// What the route is doing, for messages: "warm-up", "the load of rung 2", ...
    phase: String,
    /// The target's scripts and the recording of allocation sites under way.
    sites: allocations::RouteSites<'a>,
    /// Set when the route stopped because more iterations failed than it tolerates.
    bad_traffic: bool,
    /// Hands what the route measured so far to the report a second stop signal writes.
    on_progress: Option<ProgressSink<'a>>,
}

/// Takes the route's report so far and the step it just finished.
type ProgressSink<'a> = Box<dyn Fn(&RouteReport, &str) + Send + Sync + 'a>;

#[allow(clippy::too_many_arguments)]
async fn run_route(
    t: &TargetPlan,
    route: &RoutePlan,
    target: &mut Target,
    inspector: &Inspector,
    client: &reqwest::Client,
    setup: &Captured,
    options: &RunOptions,
    sites: &allocations::TargetSites,
    mut stop: StopSignals,
    on_progress: Option<ProgressSink<'_>>,
) -> RouteReport {
    let started = Instant::now();
    let dir = options
        .keep_snapshots
        .clone()
        .unwrap_or_else(|| options.failure_snapshots.clone())
        .join(file_name(&t.name))
        .join(file_name(&route.name));
    // Snapshots of an earlier run (more rungs, another process) must not sit beside these.
    snapshot::clear_route_folder(&dir);
    let mut run = RouteRun {
        t,
        route,
        report: RouteReport {
            name: route.name.clone(),
            method: route.method.clone(),
            path: route.path.clone(),
            headers: route.display_headers(),
            outcome: Outcome::Error,
            error: None,
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
            line: Some(route.line),
            allocations: None,
            causes: Vec::new(),
        },
        comparer: Comparer::new(),
        last: None,
        sent: 0,
        clock: Vec::new(),
        ran_until: None,
        seq: 0,
        setup,
        base_url: String::new(),
        dir,
        phase: String::from("start"),
        sites: allocations::RouteSites::new(sites, route.allocations),
        bad_traffic: false,
        on_progress,
    };
    run.publish_progress();
    let watch = target.exit_watch();
    let result = tokio::select! {
        result = run.measure(target, inspector, client, options) => result,
        // A program that ends mid-snapshot leaves V8 unable to answer: stop waiting for it.
        // During a load, the load itself stops and reports its counts; this waits a moment
        // so that it can.
        () = async {
            watch.until_ended().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        } => Err(String::new()),
        signal = stop.received() => Err(format!("interrupted by {}", signal.name())),
    };
    let result = match (result, stop.get()) {
        // A stop signal kills the target at once, so whatever failed after it (a snapshot cut
        // short, a load without answers) is the interruption, not the target's end.
        (Err(_), Some(signal)) => {
            Err(format!("interrupted by {} during {}", signal.name(), run.phase))
        }
        (Err(e), None) if e.is_empty() || watch.ended() => Err(ended_message(&run, target)),
        (other, _) => other,
    };
    if !target.has_ended() {
        run.sites.abandon(inspector, t.timeouts.snapshot).await;
    }
    run.report.timings.wall = started.elapsed();
    match result {
        // Stopped for its failed iterations (and not for a signal or the target's end, which
        // the errors above say): the route FAILS with the counts, it is no error of leakcheck's.
        Err(_) if run.bad_traffic && stop.get().is_none() && !watch.ended() => {
            let allowed = crate::judge::budgets::allowed_failures(route, run.planned());
            let failure = crate::judge::budgets::failed_requests(&run.report.load, allowed)
                .expect("stopped for its failed iterations");
            let heap = (
                run.report.rungs.first().map_or(0, |g| g.heap_used),
                run.report.rungs.last().map_or(0, |g| g.heap_used),
            );
            run.report.outcome = Outcome::Fail;
            run.report.verdict = Some(crate::judge::budgets::traffic_only(failure, heap));
        }
        Ok(comparison) => {
            let v = crate::judge::route(&comparison, route, &run.report);
            run.report.outcome = if v.pass { Outcome::Pass } else { Outcome::Fail };
            run.report.causes = crate::judge::causes::causes(&v, run.report.allocations.as_ref());
            run.report.verdict = Some(v);
        }
        Err(error) => {
            run.report.outcome = Outcome::Error;
            run.report.error = Some(error);
        }
    }
    // One peak for every report: the highest heap measured, the snapshots' included.
    run.report.peak_heap = run.report.peak();
    // Snapshots are written while they stream in; only failures (or --keep-snapshots) keep them.
    if options.keep_snapshots.is_none() && run.report.outcome == Outcome::Pass {
        for rung in &mut run.report.rungs {
            if let Some(path) = rung.kept.take() {
                let _ = std::fs::remove_file(path);
            }
        }
        let _ = std::fs::remove_dir(&run.dir);
        if let Some(parent) = run.dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
        let _ = std::fs::remove_dir(&options.failure_snapshots);
    }
    run.report
}

/// The route under way as a report written on a second stop signal shows it: an error (no
/// verdict was reached) with the snapshots and requests measured so far.
fn under_way(r: &RouteReport, phase: &str) -> RouteReport {
    let mut r = r.clone();
    r.outcome = Outcome::Error;
    r.error = Some(if r.rungs.is_empty() {
        "stopped by a second signal before the baseline snapshot: no verdict".to_owned()
    } else {
        format!(
            "stopped by a second signal after {phase}, before a verdict: {} snapshots measured",
            r.rungs.len()
        )
    });
    r.peak_heap = r.peak();
    r
}

/// A name safe as one path component.
fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
        .collect()
}

impl RouteRun<'_> {
    /// Iterations the route plans: its warm-up and its rungs (more rungs may follow), or
    /// those sent so far when more.
    fn planned(&self) -> u64 {
        // With `"auto"` sizes the plan is only the start: what was sent counts once larger.
        let planned = self.route.warmup + self.route.requests * u64::from(self.route.rungs);
        planned.max(self.report.load.sent)
    }

    /// Failed iterations the route may still have before it fails anyway.
    fn tolerated(&self) -> u64 {
        let allowed = crate::judge::budgets::allowed_failures(self.route, self.planned());
        allowed.saturating_sub(self.report.load.failed())
    }

    /// Stops the route once more of its iterations failed than it tolerates: what follows
    /// would measure nothing (a service that never answers would cost `request_timeout` per
    /// request). The route then FAILS with the counts.
    fn check_traffic(&mut self) -> Result<(), String> {
        let allowed = crate::judge::budgets::allowed_failures(self.route, self.planned());
        if self.report.load.failed() > allowed {
            self.bad_traffic = true;
            return Err("stopped: more iterations failed than the route tolerates".into());
        }
        Ok(())
    }

    /// Fails the route when the target's program has ended, saying how and when.
    fn check_alive(&self, target: &mut Target, stats: &LoadStats) -> Result<(), String> {
        if !target.has_ended() {
            return Ok(());
        }
        let how = match target.try_exit_status() {
            Some(status) => describe_exit(status),
            None => "ended its program".to_owned(),
        };
        Err(format!(
            "the target {how} during {} ({} of {} requests answered)",
            self.phase,
            crate::format::thousands(stats.ok),
            crate::format::thousands(stats.sent)
        ))
    }
    async fn snapshot(
        &mut self,
        rung: usize,
        target: &mut Target,
        inspector: &Inspector,
        client: &reqwest::Client,
        options: &RunOptions,
    ) -> Result<(), String> {
        self.phase = format!("snapshot {rung}");
        let progress = options.progress.as_ref();
        let (tname, rname) = (self.t.name.as_str(), self.route.name.as_str());
        progress.event(&Event::Snapshot { target: tname, route: rname, rung });
        let timeout = self.t.timeouts.snapshot;
        let gc_started = Instant::now();
        // The snapshot collects garbage itself; this GC is for a settled heap-usage figure.
        let base_url = target.base_url().to_owned();
        self.collect_garbage(inspector, client, &base_url, timeout)
            .await
            .map_err(|e| self.died(target, e.to_string()))?;
        let measured = memory::sample(inspector, memory::asks_process(self.t.runtime), timeout)
            .await
            .map_err(|e| self.died(target, e.to_string()))?;
        self.report.timings.gc += gc_started.elapsed();
        let now = Instant::now();
        let ran = self.ran_until.map_or(0.0, |t| (now - t).as_secs_f64());
        self.clock.push(self.clock.last().copied().unwrap_or(0.0) + ran);
        // Only the newest snapshot is ever explained: the previous graph goes before the next
        // one is built, so one graph at a time is alive.
        self.last = None;
        let file = self.dir.join(format!("s{rung}.heapsnapshot"));
        let label = format!("{}/{}/s{rung}", self.t.name, self.route.name);
        let (taken, digest) =
            snapshot::take(inspector, label, timeout, Some(file), self.comparer.basis())
                .await
                .map_err(|e| self.died(target, e))?;
        self.report.timings.snapshots += taken.v8_time;
        self.report.timings.analysis += taken.analysis_time;
        progress.event(&Event::SnapshotDone {
            target: tname,
            route: rname,
            rung,
            bytes: taken.bytes,
            nodes: taken.graph.node_count() as u64,
            v8_time: taken.v8_time,
        });
        self.report.rungs.push(Rung {
            requests: self.sent,
            heap_used: measured.heap.used,
            nodes: taken.graph.node_count() as u64,
            snapshot_bytes: taken.bytes,
            snapshot_time: taken.v8_time,
            kept: taken.file.clone(),
            graph_bytes: (taken.graph.heap_bytes() + taken.analysis.heap_bytes()) as u64,
            compact_graph_bytes: taken.compact_graph_bytes,
            rss_after_streaming: taken.rss_after_streaming,
            array_buffers: measured.array_buffers(),
            external: measured.external(),
            rss: measured.rss(),
        });
        self.comparer.push(digest, self.sent as f64);
        // The clock runs from the end of V8's pause, not the end of leakcheck's analysis: the
        // target's timers ran meanwhile, and growth with time is judged on that clock.
        self.ran_until = Some(taken.resumed);
        self.last = Some(taken);
        self.publish_progress();
        Ok(())
    }

    /// What the route measured so far, for the report a second stop signal writes.
    fn publish_progress(&self) {
        if let Some(sink) = &self.on_progress {
            sink(&self.report, &self.phase);
        }
    }

    /// The idle control interval: no requests for as long as the last rung ran, then a
    /// snapshot; what grew meanwhile grew with time, and the comparison is told so
    /// ([`Comparison::apply_idle`]).
    async fn idle(
        &mut self,
        comparison: &mut Comparison,
        target: &mut Target,
        inspector: &Inspector,
        client: &reqwest::Client,
        options: &RunOptions,
    ) -> Result<(), String> {
        self.phase = "the idle interval".into();
        let k = self.clock.len() - 1;
        let rung_ran = (self.clock[k] - self.clock[k - 1]).max(0.0);
        let (tname, rname) = (self.t.name.as_str(), self.route.name.as_str());
        let progress = options.progress.as_ref();
        progress.event(&Event::Idle { target: tname, route: rname, seconds: rung_ran });
        // The explanations are made: the last rung's graph can go before the next one comes.
        self.last = None;
        tokio::time::sleep(Duration::from_secs_f64(rung_ran)).await;
        let timeout = self.t.timeouts.snapshot;
        let base_url = target.base_url().to_owned();
        self.collect_garbage(inspector, client, &base_url, timeout)
            .await
            .map_err(|e| self.died(target, e.to_string()))?;
        let seconds = self.ran_until.map_or(rung_ran, |t| t.elapsed().as_secs_f64());
        let label = format!("{}/{}/idle", self.t.name, self.route.name);
        let (taken, digest) =
            snapshot::take(inspector, label, timeout, None, self.comparer.basis())
                .await
                .map_err(|e| self.died(target, e))?;
        self.report.timings.snapshots += taken.v8_time;
        self.report.timings.analysis += taken.analysis_time;
        drop(taken);
        comparison.apply_idle(&self.comparer.idle(&digest, seconds), &self.clock);
        Ok(())
    }

    /// An inspector error, explained by the target's exit when it has exited.
    fn died(&self, target: &mut Target, error: String) -> String {
        match target.try_exit_status() {
            Some(status) => format!("the target {} ({error})", describe_exit(status)),
            None => error,
        }
    }

    fn compare(&self) -> Comparison {
        let last = self.last.as_ref().expect("compared after a snapshot");
        let a = &last.analysis;
        let mut c =
            self.comparer.finish(&last.graph, &a.classes, &a.dominators, Thresholds::default());
        c.fill_paths(|node| last.analysis.retainer_path(&last.graph, node, PATH_STEPS));
        c.fill_callbacks(&last.graph, &last.analysis.paths);
        c
    }
}

/// True when a program-data class or a holder grows with the load: whether it grows with time
/// instead is worth an idle interval.
fn grows(c: &Comparison) -> bool {
    c.classes
        .iter()
        .any(|k| k.trend() == Trend::Linear && !crate::analysis::compare::is_runtime_class(&k.key))
        || c.holders.iter().any(|h| h.fit.trend == Trend::Linear)
}

/// Program-data classes (and holders) growing unevenly, or linear growth while the program's
/// data slowed down sharply: another rung would settle them. V8's
/// own code and metadata are left out: they never count as leaks before three intervals agree,
/// and waiting for their warm-up would only add rungs.
fn unclear_classes(c: &Comparison) -> Vec<String> {
    let mut v: Vec<String> = c
        .classes
        .iter()
        .filter(|k| k.trend() == Trend::Irregular)
        .filter(|k| !crate::analysis::compare::is_runtime_class(&k.key))
        .map(|k| k.key.clone())
        .collect();
    v.extend(
        c.holders
            .iter()
            .filter(|h| h.fit.trend == Trend::Irregular)
            .map(|h| h.culprit.clone().unwrap_or_else(|| format!("{} @{}", h.class, h.node.id))),
    );
    // Something grows linearly while the whole slowed down sharply: a structure filling up,
    // not a leak, until more rungs say otherwise.
    if let Some(d) = crate::analysis::stopped::decelerating(c) {
        v.push(format!("{} slowed from {:.1} to {:.1} B/request", d.what, d.before, d.last));
    }
    v
}
