//! The routes of a leakspec.toml as tests of a [libtest-mimic] harness: `leakcheck test`, and
//! `cargo test` / `cargo nextest run` in a Rust project that adds a test target
//!
//! ```toml
//! [[test]]
//! name = "leaks"
//! harness = false
//! ```
//!
//! with `tests/leaks.rs`:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     leakcheck::harness::main("leakspec.toml")
//! }
//! ```
//!
//! Each route is a trial named `TARGET::ROUTE`, so the flags of `cargo test -- ...` apply:
//! a filter (which also matches the kind a flow, a WebSocket or SSE cycle or a load command
//! is marked with: `[flow] TARGET::ROUTE`), `--exact`, `--skip`, `--list`, `--ignored`, `--include-ignored`,
//! `--format pretty|terse|json`, `--test-threads`. Routes the spec marks `ignored` (on the route
//! or its target) are ignored tests, shown as `ignored (REASON)`; `--ignored` runs only them,
//! `--include-ignored` all. Only the targets of the routes left after filtering are started;
//! each is started once for all its selected routes, which it measures in the spec's order
//! (node ids only hold within one inspector session), and `--test-threads` targets run at once. A
//! failing trial's message is the route's explanation, the text `leakcheck run` prints.
//! `--nocapture` adds the run's progress on stderr. Besides libtest's flags, `--spec FILE`
//! names another spec and `--shard K/N` keeps one shard's targets (see [`crate::shard`]).
//!
//! Under `cargo nextest run` every trial runs in a process of its own (`--exact NAME`): each
//! route then has a launch of its target to itself, which costs a start-up per route but
//! measures the same thing.
//!
//! [libtest-mimic]: https://docs.rs/libtest-mimic

mod engine;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use libtest_mimic::{Arguments, Completion, Conclusion, Failed, Trial};

use crate::app::CliError;
use crate::launch::StopSignal;
use crate::leakspec::traffic::{Action, Traffic};
use crate::leakspec::{Ignored, Requests};
use crate::model::{Outcome, RunReport, TargetReport};
use crate::plan::{Overrides, Plan, RoutePlan, TargetPlan};
use crate::shard::Shard;
use crate::style::Paint;
use engine::{Engine, Slot, Slots, Verdict};

/// What the harness runs, besides libtest's own flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// The spec.
    pub spec: PathBuf,
    /// Only this shard's targets.
    pub shard: Option<Shard>,
    /// Where failing routes keep their snapshots.
    pub failure_snapshots: PathBuf,
    /// `--requests`: the requests per rung of every route, over the spec's.
    pub requests: Option<Requests>,
    /// `--warmup`: the warm-up requests of every route, over the spec's.
    pub warmup: Option<Requests>,
}

/// How a harness run ended.
#[derive(Debug)]
pub struct Finished {
    /// libtest-mimic's counts.
    pub conclusion: Conclusion,
    /// The report of the targets that ran (none after `--list`), as `leakcheck run --json`
    /// would have written it for the selected routes.
    pub report: RunReport,
    /// The stop signal received, if any.
    pub signal: Option<StopSignal>,
}

/// The entry point of a `harness = false` test target: runs the routes of `spec` (relative to
/// the package's folder, `CARGO_MANIFEST_DIR`, when relative) with the test binary's
/// arguments. Exits 0 when every selected route passes and 101 otherwise, as libtest does.
/// Failing routes keep their snapshots in `leakcheck-snapshots/` of the target directory.
pub fn main(spec: impl AsRef<Path>) -> ExitCode {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let in_package = |p: &Path| match &manifest_dir {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_owned(),
    };
    let result = split_args(std::env::args_os().skip(1)).and_then(|(ours, libtest)| {
        let options = Options {
            spec: in_package(ours.spec.as_deref().unwrap_or(spec.as_ref())),
            shard: ours.shard,
            failure_snapshots: target_dir(manifest_dir.as_deref()).join("leakcheck-snapshots"),
            requests: ours.requests,
            warmup: ours.warmup,
        };
        if ours.help {
            print_help("a leak check test binary");
        }
        let finished = run(&options, &parse_libtest(libtest))?;
        if let Some(path) = &ours.html {
            crate::report::html::write_run_page(&finished.report, path, "test")
                .map_err(|e| CliError::from_error(&e))?;
        }
        Ok(finished)
    });
    match result {
        Ok(finished) => finished.conclusion.exit_code(),
        Err(err) => {
            err.print();
            ExitCode::from(101)
        }
    }
}

/// Runs the routes of `options.spec` as trials under libtest's `args`.
pub fn run(options: &Options, args: &Arguments) -> Result<Finished, CliError> {
    let overrides =
        Overrides { requests: options.requests, warmup: options.warmup, ..Overrides::default() };
    let plan = crate::app::load_plan(&options.spec, &overrides)?;
    let plan = match options.shard {
        Some(shard) => {
            let (plan, run) = shard.select(plan);
            // On stderr: stdout may be libtest's JSON.
            eprint!("{}", crate::app::shard_line(&run, &plan));
            plan
        }
        None => plan,
    };
    let slots: Slots =
        plan.targets.iter().map(|t| (t.name.clone(), Arc::new(Slot::default()))).collect();
    let paint = Paint::for_stdout();
    let mut trials = Vec::new();
    for t in &plan.targets {
        for r in &t.routes {
            let (slot, route) = (slots[&t.name].clone(), r.name.clone());
            let (name, kind) = (trial_name(t, r), trial_kind(r));
            let trial = match &r.ignored {
                // An ignored route libtest will not run. libtest-mimic 0.8 prints no reason
                // for a trial flagged ignored up front, only for one that ignores itself when
                // run; so this trial does that, at once (it starts nothing), and libtest counts
                // and shows it as ignored all the same: `ignored (REASON)`.
                Ignored::Yes { reason } if !(args.ignored || args.include_ignored) => {
                    let reason = reason.clone();
                    Trial::ignorable_test(name, move || Ok(Completion::Ignored { reason }))
                        .with_kind(kind)
                }
                // Flagged, so that `--ignored` keeps it and `--list --ignored` lists it.
                ignored => Trial::test(name, move || outcome(&slot.wait(&route), &route, paint))
                    .with_kind(kind)
                    .with_ignored_flag(ignored.is_ignored()),
            };
            trials.push(trial);
        }
    }
    let selected = selection(&plan, args);
    let engine = match args.list || selected.targets.is_empty() {
        true => None,
        false => {
            let progress: Arc<dyn crate::runner::progress::Progress> = match args.nocapture {
                true => Arc::new(crate::app::StderrProgress::lines()),
                false => Arc::new(crate::runner::progress::Silent),
            };
            let threads = args.test_threads.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            });
            let failure_snapshots = options.failure_snapshots.clone();
            Some(
                Engine::start(selected, &slots, threads, failure_snapshots, progress)
                    .map_err(|e| CliError::new("could not start the runtime", e))?,
            )
        }
    };
    let conclusion = libtest_mimic::run(args, trials);
    let (targets, signal) = engine.map(Engine::finish).unwrap_or_default();
    let report = RunReport {
        format: crate::model::RUN_FORMAT,
        spec: plan.spec_path.clone(),
        targets,
        interrupted: signal.map(|s| format!("stopped by {}", s.name())),
        ..RunReport::default()
    };
    Ok(Finished { conclusion, report, signal })
}

/// The plan narrowed to the routes libtest will run: a trial filtered out or ignored never
/// starts anything. The routes kept run even when the spec marks them ignored (`--ignored`,
/// `--include-ignored`).
fn selection(plan: &Plan, args: &Arguments) -> Plan {
    // libtest's own decision, asked of a trial flagged as the spec says.
    let runs = |t: &TargetPlan, r: &RoutePlan| {
        let probe = Trial::test(trial_name(t, r), || Ok(()))
            .with_kind(trial_kind(r))
            .with_ignored_flag(r.ignored.is_ignored());
        !args.is_filtered_out(&probe) && !args.is_ignored(&probe)
    };
    let mut selected = plan.clone();
    for t in &mut selected.targets {
        let keep: Vec<bool> = t.routes.iter().map(|r| runs(t, r)).collect();
        let mut keep = keep.into_iter();
        t.routes.retain(|_| keep.next().expect("one flag per route"));
        for r in &mut t.routes {
            r.ignored = Ignored::No;
        }
    }
    selected.targets.retain(|t| !t.routes.is_empty());
    selected
}

/// `TARGET::ROUTE`.
fn trial_name(target: &TargetPlan, route: &RoutePlan) -> String {
    format!("{}::{}", target.name, route.name)
}

/// The shape of a route's traffic when an iteration is more than one HTTP request: `flow`
/// (steps, `[[target.route.step]]`), `websocket`, `sse` or `load` (a load command), after the
/// spec key that gives the route that shape. libtest shows a trial's kind before its name
/// (`[flow] accounts::session`) in its progress lines and in `--list`, and a filter matches
/// it, so `leakcheck test flow` selects every flow; `--exact` takes the name with or without
/// it (`cargo nextest run` passes what `--list` printed). A route of one HTTP request (with or
/// without per-request values or `abort`) has no kind, so its name reads as before.
fn trial_kind(route: &RoutePlan) -> &'static str {
    let flow = match &route.traffic {
        Traffic::Command(_) => return "load",
        Traffic::Flow(flow) => flow,
    };
    match flow.steps.as_slice() {
        [one] => match one.action {
            Action::Http { .. } => "",
            Action::WebSocket { .. } => "websocket",
            Action::Sse { .. } => "sse",
        },
        _ => "flow",
    }
}

/// A trial's outcome from what its route's target reported.
fn outcome(verdict: &Verdict, route: &str, paint: Paint) -> Result<(), Failed> {
    let target: &TargetReport = match verdict {
        Verdict::Passed => return Ok(()),
        Verdict::Done(target) => target,
    };
    let Some(r) = target.routes.iter().find(|r| r.name == route) else {
        return Err(format!("{} reported nothing for route {route}", target.name).into());
    };
    match r.outcome {
        Outcome::Pass => Ok(()),
        Outcome::Fail | Outcome::Error => Err(target.explain(r, paint).trim_end().into()),
        Outcome::Skipped => {
            let why = target.explain_error(paint).unwrap_or_else(|| {
                format!("not run: {}", r.error.as_deref().unwrap_or("no reason given"))
            });
            Err(why.trim_end().into())
        }
    }
}

/// The harness's own flags, taken out of the arguments; the rest are libtest's.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct OwnArgs {
    pub(crate) spec: Option<PathBuf>,
    pub(crate) shard: Option<Shard>,
    pub(crate) html: Option<PathBuf>,
    pub(crate) requests: Option<Requests>,
    pub(crate) warmup: Option<Requests>,
    pub(crate) help: bool,
}

/// Takes `--spec FILE`, `--shard K/N`, `--html FILE`, `--requests N|auto`, `--warmup N|auto`
/// (also as `--flag=value`) and `-h`/`--help` out of `args`, wherever they are.
pub(crate) fn split_args(
    args: impl IntoIterator<Item = OsString>,
) -> Result<(OwnArgs, Vec<OsString>), CliError> {
    let mut ours = OwnArgs::default();
    let mut rest = Vec::new();
    let mut args = args.into_iter();
    let bad = |flag: &str, why: String| CliError::new(format!("invalid value for {flag}"), why);
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        let (flag, inline) = match text.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.into())),
            _ => (text.clone(), None),
        };
        let mut value = |flag: &str| {
            inline.clone().or_else(|| args.next()).ok_or_else(|| {
                CliError::new(
                    format!("{flag} needs a value"),
                    "e.g. --spec leakspec.toml --shard 1/2",
                )
            })
        };
        match flag.as_str() {
            "--spec" => ours.spec = Some(PathBuf::from(value("--spec")?)),
            "--html" => ours.html = Some(PathBuf::from(value("--html")?)),
            "--shard" => {
                let v = value("--shard")?.to_string_lossy().into_owned();
                ours.shard = Some(v.parse().map_err(|e| bad("--shard", e))?);
            }
            "--requests" => {
                let v = value("--requests")?.to_string_lossy().into_owned();
                ours.requests = Some(v.parse().map_err(|e| bad("--requests", e))?);
            }
            "--warmup" => {
                let v = value("--warmup")?.to_string_lossy().into_owned();
                ours.warmup = Some(v.parse().map_err(|e| bad("--warmup", e))?);
            }
            "-h" | "--help" => ours.help = true,
            _ => rest.push(arg),
        }
    }
    Ok((ours, rest))
}

/// libtest's flags, parsed as libtest-mimic does (exits with status 2 on a bad flag).
pub(crate) fn parse_libtest(args: Vec<OsString>) -> Arguments {
    Arguments::from_iter(std::iter::once(OsString::from("leakcheck test")).chain(args))
}

/// The help of the harness's flags and libtest's, then exits 0.
pub(crate) fn print_help(what: &str) -> ! {
    use clap::CommandFactory;
    let libtest = Arguments::command().render_help();
    let _ = crate::app::print(&format!(
        "Runs the routes of a leakspec.toml as tests named TARGET::ROUTE ({what}).\n\n\
         leakcheck's options:\n      \
         --spec <FILE>        The spec (default: leakspec.toml)\n      \
         --shard <K/N>        Only the K-th of N parts of the targets\n      \
         --html <FILE>        Write the report as one self-contained HTML page\n      \
         --requests <N|auto>  Requests per rung of every route (`auto`: sized to its sensitivity)\n      \
         --warmup <N|auto>    Warm-up requests of every route (`auto`: until V8's code settles)\n      \
         --nocapture          Show the run's progress on stderr\n\n\
         libtest's options (those of `cargo test -- ...`):\n{libtest}\n"
    ));
    std::process::exit(0)
}

/// The Cargo target directory of the running test binary: `CARGO_TARGET_DIR` when set, else
/// the folder above `<profile>/deps/` where Cargo puts test binaries, else `target/` in the
/// package.
fn target_dir(manifest_dir: Option<&Path>) -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return match manifest_dir {
            Some(package) if dir.is_relative() => package.join(dir),
            _ => dir,
        };
    }
    let exe = std::env::current_exe().ok();
    let deps = exe.as_deref().and_then(Path::parent).filter(|d| d.ends_with("deps"));
    if let Some(target) = deps.and_then(Path::parent).and_then(Path::parent) {
        return target.to_owned();
    }
    manifest_dir.map_or_else(|| PathBuf::from("target"), |d| d.join("target"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(args: &[&str]) -> Result<(OwnArgs, Vec<String>), String> {
        split_args(args.iter().map(OsString::from))
            .map(|(o, rest)| (o, rest.into_iter().map(|a| a.into_string().unwrap()).collect()))
            .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn own_flags_come_out_wherever_they_are() {
        let (ours, rest) =
            split(&["--exact", "--spec", "x.toml", "api::home", "--shard=2/3", "--list"]).unwrap();
        assert_eq!(ours.spec.as_deref(), Some(Path::new("x.toml")));
        assert_eq!(ours.shard, Some(Shard { index: 2, total: 3 }));
        assert_eq!(rest, ["--exact", "api::home", "--list"]);
        let (ours, rest) = split(&["--spec=a.toml", "-h"]).unwrap();
        assert_eq!((ours.spec.as_deref(), ours.help), (Some(Path::new("a.toml")), true));
        assert!(rest.is_empty());
        assert!(split(&["--spec"]).unwrap_err().contains("--spec needs a value"));
        assert!(split(&["--shard", "5/4"]).unwrap_err().contains("between 1 and 4"));
        let (ours, rest) = split(&["--requests", "auto", "--warmup=40", "api::"]).unwrap();
        assert_eq!((ours.requests, ours.warmup), (Some(Requests::Auto), Some(Requests::Fixed(40))));
        assert_eq!(rest, ["api::"]);
        assert!(split(&["--warmup", "-3"]).unwrap_err().contains("whole number"));
    }

    fn plan() -> Plan {
        let spec = crate::leakspec::Spec::parse(
            r#"
            target = [
              { name = "api", command = ["node", "api.js"],
                route = [{ name = "home", path = "/" }, { name = "cart", path = "/cart" },
                         { name = "slow", path = "/slow", ignored = true }] },
              { name = "admin", command = ["node", "admin.js"],
                route = [{ name = "home", path = "/" }] },
              { name = "batch", command = ["node", "batch.js"], ignored = "nightly only",
                route = [{ name = "export", path = "/export" }] },
            ]
            "#,
            Path::new("/srv/leakspec.toml"),
        )
        .unwrap();
        crate::plan::plan(&spec, &Overrides::default()).unwrap()
    }

    fn names(plan: &Plan) -> Vec<String> {
        let routes = |t: &TargetPlan| t.routes.iter().map(|r| trial_name(t, r)).collect::<Vec<_>>();
        plan.targets.iter().flat_map(routes).collect()
    }

    fn selected(args: &[&str]) -> Vec<String> {
        let args = parse_libtest(args.iter().map(OsString::from).collect());
        let selected = selection(&plan(), &args);
        // What is selected runs, ignored in the spec or not.
        assert!(selected.targets.iter().flat_map(|t| &t.routes).all(|r| !r.ignored.is_ignored()));
        names(&selected)
    }

    #[test]
    fn only_the_routes_libtest_runs_are_selected() {
        assert_eq!(selected(&[]), ["api::home", "api::cart", "admin::home"]);
        assert_eq!(selected(&["home"]), ["api::home", "admin::home"]);
        assert_eq!(selected(&["--exact", "api::home"]), ["api::home"]);
        assert_eq!(selected(&["--skip", "api::"]), ["admin::home"]);
        assert_eq!(selected(&["admin"]), ["admin::home"]);
        assert!(selected(&["nothing-matches"]).is_empty());
        // A route marked ignored, and the routes of a target marked ignored.
        assert_eq!(selected(&["--ignored"]), ["api::slow", "batch::export"]);
        assert_eq!(selected(&["--ignored", "api"]), ["api::slow"]);
        assert_eq!(
            selected(&["--include-ignored"]),
            ["api::home", "api::cart", "api::slow", "admin::home", "batch::export"]
        );
        assert_eq!(selected(&["--include-ignored", "--exact", "batch::export"]), ["batch::export"]);
        assert!(selected(&["--exact", "batch::export"]).is_empty());
    }

    /// A spec with a route of every shape, as `leakcheck test` lists it.
    fn traffic_plan() -> Plan {
        let spec = crate::leakspec::Spec::parse(
            r#"
            [[target]]
            name = "shop"
            command = ["node", "shop.js"]

            [[target.route]]
            name = "item"
            path = "/items/{seq}"
            abort = "first-byte"

            [[target.route]]
            name = "checkout"
            [[target.route.step]]
            name = "login"
            method = "POST"
            path = "/login"
            capture = { token = "json:$.token" }
            [[target.route.step]]
            path = "/cart"
            headers = { authorization = "Bearer {token}" }

            [[target.route]]
            name = "chat"
            websocket = "/ws"
            send = ["hello"]
            receive = 1

            [[target.route]]
            name = "feed"
            sse = "/events"
            events = 2

            [[target.route]]
            name = "bulk"
            load = { command = ["npx", "autocannon", "-a", "{requests}", "{url}/items"] }

            [[target.route]]
            name = "one-step"
            [[target.route.step]]
            path = "/one"
            "#,
            Path::new("/srv/leakspec.toml"),
        )
        .unwrap();
        crate::plan::plan(&spec, &Overrides::default()).unwrap()
    }

    /// `(kind, name)` of the trials libtest would run under `args`.
    fn kinds(args: &[&str]) -> Vec<(&'static str, String)> {
        let args = parse_libtest(args.iter().map(OsString::from).collect());
        let selected = selection(&traffic_plan(), &args);
        let trials = |t: &TargetPlan| -> Vec<(&'static str, String)> {
            t.routes.iter().map(|r| (trial_kind(r), trial_name(t, r))).collect()
        };
        selected.targets.iter().flat_map(trials).collect()
    }

    #[test]
    fn every_shape_of_traffic_is_a_trial_marked_with_its_kind() {
        let kind = |k: &'static str, n: &str| (k, format!("shop::{n}"));
        assert_eq!(
            kinds(&[]),
            [
                kind("", "item"),
                kind("flow", "checkout"),
                kind("websocket", "chat"),
                kind("sse", "feed"),
                kind("load", "bulk"),
                kind("", "one-step"),
            ]
        );
        // A filter matches the kind as it matches the name.
        assert_eq!(kinds(&["flow"]), [kind("flow", "checkout")]);
        assert_eq!(kinds(&["websocket"]), [kind("websocket", "chat")]);
        assert_eq!(kinds(&["--skip", "load"]).len(), 5);
        assert_eq!(kinds(&["checkout"]), [kind("flow", "checkout")]);
        // `--exact` takes the name alone, or as `--list` prints it (what nextest passes back).
        assert_eq!(kinds(&["--exact", "shop::checkout"]), [kind("flow", "checkout")]);
        assert_eq!(kinds(&["--exact", "[flow] shop::checkout"]), [kind("flow", "checkout")]);
        assert_eq!(kinds(&["--exact", "[sse] shop::feed"]), [kind("sse", "feed")]);
        assert!(kinds(&["--exact", "[flow] shop::feed"]).is_empty());
    }
}
