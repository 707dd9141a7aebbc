//! The spec and the command-line overrides resolved into exactly what `leakcheck run` will do:
//! every setting inherited (flag > route > target > defaults > built-in default), paths made
//! absolute, budgets merged. Pure, so it is snapshot-tested without starting anything.
//!
//! `{port}` stays a template until launch, when [`TargetPlan::resolve_port`] fills it in.
//!
//! ```
//! use std::path::Path;
//! use leakcheck::plan::{plan, Overrides, Readiness};
//! use leakcheck::leakspec::Spec;
//!
//! let spec = Spec::parse(r#"
//!     [defaults]
//!     requests = 200
//!     [[target]]
//!     name = "api"
//!     command = ["node", "server.js", "--port", "{port}"]
//!     ready = "/health"
//!     [[target.route]]
//!     name = "home"
//!     path = "/"
//!     concurrency = 8
//! "#, Path::new("/srv/app/leakspec.toml")).unwrap();
//! let plan = plan(&spec, &Overrides::default()).unwrap();
//! let target = &plan.targets[0];
//! assert_eq!(target.ready, Readiness::Http("/health".into()));
//! assert_eq!((target.routes[0].requests, target.routes[0].concurrency), (200, 8));
//!
//! let launch = target.resolve_port(41234);
//! assert_eq!(launch.argv, ["node", "server.js", "--port", "41234"]);
//! assert_eq!(launch.env["PORT"], "41234");
//! assert_eq!(launch.route_url(&target.routes[0]), "http://127.0.0.1:41234/");
//! ```

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::leakspec::traffic::{Flow, Traffic};
use crate::leakspec::{
    Budget, ByteSize, Header, Ignored, PORT_PLACEHOLDER, Requests, Route, Runtime, Settings, Spec,
    SpecError, Target, Worker,
};

/// The built-in defaults, used when neither flags, route, target nor `[defaults]` set a value.
pub mod defaults {
    use std::time::Duration;

    /// Requests before the baseline snapshot.
    pub const WARMUP: u64 = 50;
    /// Requests per rung.
    pub const REQUESTS: u64 = 500;
    /// With `warmup = "auto"`: requests between two probes of the heap.
    pub const AUTO_WARMUP_STEP: u64 = 50;
    /// With `warmup = "auto"`: the most warm-up requests.
    pub const AUTO_WARMUP_MAX: u64 = 2_000;
    /// With `warmup = "auto"`: growth of V8's compiled code, and of its metadata, between two
    /// probes under which the warm-up is done (V8's code and metadata floor per interval).
    pub const AUTO_WARMUP_SETTLED: u64 = 32 << 10;
    /// With `requests = "auto"`: requests per rung of the first, small series.
    pub const AUTO_FIRST_REQUESTS: u64 = 100;
    /// With `requests = "auto"` and no `sensitivity`: the detection limit to reach, bytes per
    /// request (a few small objects a request; two string slots of a cache entry).
    pub const AUTO_SENSITIVITY: f64 = 16.0;
    /// Requests in flight.
    pub const CONCURRENCY: usize = 4;
    /// Load intervals: 3 snapshots.
    pub const RUNGS: u32 = 2;
    /// Most load intervals when the verdict is ambiguous (never fewer than the route's rungs).
    pub const MAX_RUNGS: u32 = 5;
    /// Wait for readiness.
    pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
    /// Wait for one request.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    /// Wait for one heap snapshot.
    pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(120);
    /// Wait for the target to exit after SIGTERM, before SIGKILL.
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
    /// HTTP method.
    pub const METHOD: &str = "GET";
    /// `memory_limit` of Workers targets (workerd, wrangler): the isolate's hard limit.
    pub const WORKERS_MEMORY_LIMIT: u64 = 128 << 20;
    /// Base URL of a target; `{port}` is the port leakcheck picks.
    pub const URL: &str = "http://127.0.0.1:{port}";
}

/// What the command line changes: counts beat every level of the spec, filters pick targets
/// and routes. `Default` changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--warmup`: requests before the baseline snapshot (or `auto`), for every route.
    pub warmup: Option<Requests>,
    /// `--requests`: requests per rung (or `auto`), for every route.
    pub requests: Option<Requests>,
    /// `--concurrency`: requests in flight, for every route.
    pub concurrency: Option<usize>,
    /// `--rungs`: load intervals, for every route (at least 2).
    pub rungs: Option<u32>,
    /// `--max-rungs`: most load intervals when ambiguous, for every route.
    pub max_rungs: Option<u32>,
    /// `--allocations`: how allocation sites are recorded, for every route.
    pub allocations: Option<crate::leakspec::Allocations>,
    /// `--target NAME` (repeatable): only these targets; empty means all.
    pub targets: Vec<String>,
    /// `--route NAME` or `--route TARGET/NAME` (repeatable): only these routes; empty means all.
    /// A target left with no route is skipped.
    pub routes: Vec<String>,
    /// `--include-ignored`: run the routes the spec marks `ignored` too.
    pub include_ignored: bool,
}

/// Everything `leakcheck run` will do, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The spec file, as the user named it.
    pub spec_path: PathBuf,
    /// The targets to run, in spec order (at least one).
    pub targets: Vec<TargetPlan>,
}

/// One service to start, and its routes.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetPlan {
    /// Unique name.
    pub name: String,
    /// What runs it.
    pub runtime: Runtime,
    /// Program and arguments; may hold `{port}`. Empty for a workerd or wrangler target that
    /// leaves it to leakcheck.
    pub command: Vec<String>,
    /// workerd settings, with `main` and `config` resolved against `cwd`.
    pub worker: Worker,
    /// Absolute working directory (when the spec's folder is absolute).
    pub cwd: PathBuf,
    /// Extra environment variables (`PORT` is added at launch); values may hold `{port}`.
    pub env: BTreeMap<String, String>,
    /// Base URL without a trailing `/`; may hold `{port}`.
    pub url: String,
    /// How to tell the service is ready.
    pub ready: Readiness,
    /// Waits of this target.
    pub timeouts: Timeouts,
    /// `[[target.setup]]`: run once after the target is ready, before the first route.
    pub setup: Option<Flow>,
    /// Routes, in spec order (at least one).
    pub routes: Vec<RoutePlan>,
    /// 1-based line of the `[[target]]` header in the spec.
    pub line: usize,
    /// 1-based column of the `[[target]]` header, for annotations.
    pub column: usize,
}

/// How leakcheck decides a started target is ready for load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// `GET` this path (from `ready`) until it answers 2xx.
    Http(String),
    /// Connect to the port until it accepts (no `ready` in the spec).
    Port,
}

/// The waits of one target; each ends in an error naming what was awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From start to ready.
    pub ready: Duration,
    /// One heap snapshot, transfer included.
    pub snapshot: Duration,
    /// From SIGTERM to exit, before SIGKILL.
    pub shutdown: Duration,
}

/// One route, fully resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutePlan {
    /// Name, unique within the target.
    pub name: String,
    /// HTTP method.
    pub method: String,
    /// Path and query, starting with `/`.
    pub path: String,
    /// Request headers, sorted by name; `Debug` hides secret values.
    pub headers: Vec<Header>,
    /// Request body.
    pub body: Option<String>,
    /// What one iteration does (a plain route is a flow of one step); a `data` file's path
    /// is absolute here.
    pub traffic: Traffic,
    /// Whether the route is left out of the run (reported skipped, with the reason): the
    /// route's `ignored`, else its target's; [`Ignored::No`] with `--include-ignored`.
    pub ignored: Ignored,
    /// Requests before the baseline snapshot; with `warmup = "auto"`, those of one step.
    pub warmup: u64,
    /// `warmup = "auto"` (and no `--warmup`): warm up in steps until the heap used after a
    /// GC stops growing between two probes (V8's code and metadata settled), at most
    /// [`defaults::AUTO_WARMUP_MAX`] requests.
    pub warmup_auto: bool,
    /// Requests per rung (N); with `requests = "auto"`, those of the first series.
    pub requests: u64,
    /// `requests = "auto"` (and no `--requests`): the runner grows the rungs until the
    /// detection limit meets the route's sensitivity or a leak is proven.
    pub requests_auto: bool,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Load intervals, each followed by a snapshot.
    pub rungs: u32,
    /// Most load intervals when the verdict is ambiguous; at least `rungs`.
    pub max_rungs: u32,
    /// How allocation sites are recorded during the rungs.
    pub allocations: crate::leakspec::Allocations,
    /// Wait for one request.
    pub request_timeout: Duration,
    /// Limits, merged route over target over defaults.
    pub budget: Budget,
    /// 1-based line of the `[[target.route]]` header in the spec.
    pub line: usize,
    /// 1-based column of the `[[target.route]]` header, for annotations.
    pub column: usize,
    /// What `leakspec.lock` says of the route; `record::attach` sets it from the lock.
    pub baseline: crate::model::lock::Baseline,
}

impl RoutePlan {
    /// The headers as reports may show them: the values of secret headers (`authorization`,
    /// `cookie`, `proxy-authorization`, `x-api-key`, any case) replaced by `"<redacted>"`.
    pub fn display_headers(&self) -> Vec<(String, String)> {
        self.headers.iter().map(|h| (h.name.clone(), h.display_value().to_owned())).collect()
    }
}

/// A target's command with the port filled in, ready to spawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchCommand {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Variables to add to the inherited environment, `PORT` included.
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Base URL without a trailing `/`.
    pub url: String,
}

impl LaunchCommand {
    /// The full URL of a route: the base URL followed by its path.
    pub fn route_url(&self, route: &RoutePlan) -> String {
        format!("{}{}", self.url, route.path)
    }
}

impl TargetPlan {
    /// Fills `{port}` in the command, the environment and the URL, and exports `PORT`.
    pub fn resolve_port(&self, port: u16) -> LaunchCommand {
        let port = port.to_string();
        let fill = |s: &String| s.replace(PORT_PLACEHOLDER, &port);
        let mut env: BTreeMap<String, String> =
            self.env.iter().map(|(k, v)| (k.clone(), fill(v))).collect();
        env.insert("PORT".to_owned(), port.clone());
        LaunchCommand {
            argv: self.command.iter().map(fill).collect(),
            env,
            cwd: self.cwd.clone(),
            url: fill(&self.url),
        }
    }
}

/// Resolves `spec` and the command-line `overrides` into a [`Plan`].
///
/// Fails (with an error naming the flag) when an override is out of range or a `--target` or
/// `--route` filter matches nothing.
pub fn plan(spec: &Spec, overrides: &Overrides) -> Result<Plan, SpecError> {
    let flag_error = |message: String| SpecError::whole_file(&spec.path, message);
    use crate::leakspec::{MAX_CONCURRENCY, MAX_REQUESTS, MAX_RUNGS};
    let flags = [
        (fixed(overrides.requests), "--requests", 1, MAX_REQUESTS),
        (fixed(overrides.warmup), "--warmup", 0, MAX_REQUESTS),
        (overrides.concurrency.map(|n| n as i128), "--concurrency", 1, MAX_CONCURRENCY),
        (overrides.rungs.map(i128::from), "--rungs", 2, MAX_RUNGS),
        (overrides.max_rungs.map(i128::from), "--max-rungs", 2, MAX_RUNGS),
    ];
    for (value, flag, min, max) in flags {
        check_flag(value, flag, min, max.into()).map_err(flag_error)?;
    }

    for wanted in &overrides.targets {
        if !spec.targets.iter().any(|t| &t.name == wanted) {
            let names = spec.targets.iter().map(|t| t.name.as_str());
            return Err(unmatched(spec, "--target", wanted, names));
        }
    }
    let selected: Vec<&Target> = spec
        .targets
        .iter()
        .filter(|t| overrides.targets.is_empty() || overrides.targets.contains(&t.name))
        .collect();
    let route_selected = |target: &Target, route: &Route| {
        overrides.routes.is_empty()
            || overrides
                .routes
                .iter()
                .any(|f| f == &route.name || f == &format!("{}/{}", target.name, route.name))
    };
    for wanted in &overrides.routes {
        let matched = selected.iter().any(|t| {
            t.routes
                .iter()
                .any(|r| wanted == &r.name || wanted == &format!("{}/{}", t.name, r.name))
        });
        if !matched {
            let names = selected.iter().flat_map(|t| t.routes.iter().map(|r| r.name.as_str()));
            return Err(unmatched(spec, "--route", wanted, names));
        }
    }

    let targets = selected
        .into_iter()
        .map(|target| {
            let routes = target
                .routes
                .iter()
                .filter(|route| route_selected(target, route))
                .map(|route| route_plan(&spec.dir, &spec.defaults, target, route, overrides))
                .collect();
            target_plan(spec, target, routes)
        })
        .filter(|t| !t.routes.is_empty())
        .collect();
    Ok(Plan { spec_path: spec.path.clone(), targets })
}

/// A flag's number of requests, for the range check (`auto` has none).
fn fixed(value: Option<Requests>) -> Option<i128> {
    match value? {
        Requests::Fixed(n) => Some(n.into()),
        Requests::Auto => None,
    }
}

fn check_flag(value: Option<i128>, flag: &str, min: i128, max: i128) -> Result<(), String> {
    match value {
        Some(n) if n < min => Err(format!("`{flag}` must be at least {min}, found {n}")),
        Some(n) if n > max => Err(format!("`{flag}` must be at most {max}, found {n}")),
        _ => Ok(()),
    }
}

fn unmatched<'a>(
    spec: &Spec,
    flag: &str,
    wanted: &str,
    names: impl Iterator<Item = &'a str> + Clone,
) -> SpecError {
    let error =
        SpecError::whole_file(&spec.path, format!("`{flag} {wanted}` matches nothing in the spec"));
    let suggestion = crate::leakspec::did_you_mean(wanted, names.clone());
    match suggestion {
        Some(name) => error.with_help(format!("did you mean `{name}`?")),
        None => {
            let all: Vec<String> = names.map(|n| format!("`{n}`")).collect();
            error.with_help(format!("choose from {}", all.join(", ")))
        }
    }
}

fn target_plan(spec: &Spec, target: &Target, routes: Vec<RoutePlan>) -> TargetPlan {
    let (d, t) = (&spec.defaults, &target.settings);
    let cwd = match &target.cwd {
        Some(cwd) => normalize(&spec.dir.join(cwd)),
        None => spec.dir.clone(),
    };
    let mut worker = target.worker.clone();
    worker.main = worker.main.map(|m| normalize(&cwd.join(m)));
    worker.config = worker.config.map(|c| normalize(&cwd.join(c)));
    TargetPlan {
        name: target.name.clone(),
        runtime: target.runtime.unwrap_or_default(),
        command: target.command.clone(),
        worker,
        cwd,
        env: target.env.clone(),
        url: target.url.clone().unwrap_or_else(|| defaults::URL.to_owned()),
        ready: match &target.ready {
            Some(path) => Readiness::Http(path.clone()),
            None => Readiness::Port,
        },
        timeouts: Timeouts {
            ready: t.ready_timeout.or(d.ready_timeout).unwrap_or(defaults::READY_TIMEOUT),
            snapshot: t
                .snapshot_timeout
                .or(d.snapshot_timeout)
                .unwrap_or(defaults::SNAPSHOT_TIMEOUT),
            shutdown: t
                .shutdown_timeout
                .or(d.shutdown_timeout)
                .unwrap_or(defaults::SHUTDOWN_TIMEOUT),
        },
        setup: target.setup.clone(),
        routes,
        line: target.line,
        column: target.column,
    }
}

fn route_plan(
    spec_dir: &Path,
    spec_defaults: &Settings,
    target: &Target,
    route: &Route,
    overrides: &Overrides,
) -> RoutePlan {
    let levels = [&route.settings, &target.settings, spec_defaults];
    // The most specific level that sets a value wins.
    fn pick<T: Copy>(levels: &[&Settings; 3], get: impl Fn(&Settings) -> Option<T>) -> Option<T> {
        levels.iter().find_map(|s| get(s))
    }
    let rungs = overrides.rungs.or(pick(&levels, |s| s.rungs)).unwrap_or(defaults::RUNGS);
    let max_rungs = overrides
        .max_rungs
        .or(pick(&levels, |s| s.max_rungs))
        .unwrap_or(defaults::MAX_RUNGS)
        .max(rungs);
    // A flag beats every level, `auto` included.
    let warmup = overrides.warmup.or(pick(&levels, |s| s.warmup));
    let requests = overrides.requests.or(pick(&levels, |s| s.requests));
    RoutePlan {
        name: route.name.clone(),
        method: route.method.clone().unwrap_or_else(|| defaults::METHOD.to_owned()),
        path: route.path.clone(),
        headers: route.headers.clone(),
        body: route.body.clone(),
        traffic: {
            let mut traffic = route.traffic.clone();
            if let Traffic::Flow(Flow { data: Some(data), .. }) = &mut traffic {
                data.path = normalize(&spec_dir.join(&data.path));
            }
            traffic
        },
        ignored: match overrides.include_ignored {
            true => Ignored::No,
            false => route.ignored.clone().or_else(|| target.ignored.clone()).unwrap_or_default(),
        },
        warmup: match warmup {
            Some(Requests::Fixed(n)) => n,
            Some(Requests::Auto) => defaults::AUTO_WARMUP_STEP,
            None => defaults::WARMUP,
        },
        warmup_auto: warmup == Some(Requests::Auto),
        requests: match requests {
            Some(Requests::Fixed(n)) => n,
            Some(Requests::Auto) => defaults::AUTO_FIRST_REQUESTS,
            None => defaults::REQUESTS,
        },
        requests_auto: requests == Some(Requests::Auto),
        concurrency: overrides
            .concurrency
            .or(pick(&levels, |s| s.concurrency))
            .unwrap_or(defaults::CONCURRENCY),
        rungs,
        max_rungs,
        allocations: overrides.allocations.or(pick(&levels, |s| s.allocations)).unwrap_or_default(),
        request_timeout: pick(&levels, |s| s.request_timeout).unwrap_or(defaults::REQUEST_TIMEOUT),
        budget: {
            let mut budget = route
                .settings
                .budget
                .inherit(&target.settings.budget.inherit(&spec_defaults.budget));
            // A Worker's isolate dies at 128 MiB: always project to it unless told otherwise.
            if target.runtime.unwrap_or_default().is_workers() && budget.memory_limit.is_none() {
                budget.memory_limit = Some(ByteSize::new(defaults::WORKERS_MEMORY_LIMIT));
            }
            budget
        },
        line: route.line,
        column: route.column,
        baseline: Default::default(),
    }
}

/// `a/./b/../c` → `a/c`, without touching the disk (so symlinks are not resolved).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !matches!(out.components().next_back(), Some(Component::Normal(_))) || !out.pop()
                {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_get_the_isolate_limit_and_paths_from_cwd() {
        let spec = Spec::parse(
            r#"
            [[target]]
            name = "edge"
            runtime = "workerd"
            cwd = "worker"
            main = "./src/index.js"
            compatibility_date = "2024-09-23"
            [[target.route]]
            name = "home"
            path = "/"
            [[target.route]]
            name = "own-limit"
            path = "/x"
            budget = { memory_limit = "64MiB" }
            [[target]]
            name = "api"
            command = ["node", "server.js"]
            [[target.route]]
            name = "home"
            path = "/"
            "#,
            Path::new("/srv/app/leakspec.toml"),
        )
        .unwrap();
        let plan = plan(&spec, &Overrides::default()).unwrap();
        let (edge, api) = (&plan.targets[0], &plan.targets[1]);
        assert_eq!(edge.runtime, Runtime::Workerd);
        assert!(edge.command.is_empty());
        assert_eq!(edge.worker.main.as_deref(), Some(Path::new("/srv/app/worker/src/index.js")));
        let limit = |r: &RoutePlan| r.budget.memory_limit.map(|b| b.bytes());
        assert_eq!(limit(&edge.routes[0]), Some(128 << 20));
        assert_eq!(limit(&edge.routes[1]), Some(64 << 20));
        assert_eq!(limit(&api.routes[0]), None);
    }

    #[test]
    fn normalizes_lexically() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), Path::new("/a/c"));
        assert_eq!(normalize(Path::new("a/../../c")), Path::new("../c"));
        assert_eq!(normalize(Path::new("/a/b/")), Path::new("/a/b"));
    }
}
