//! The validated spec: every value checked and typed, nothing yet inherited or defaulted
//! (that is [`crate::plan`]'s job), so `None` means "not written here".

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::units::{ByteSize, BytesPerRequest, ObjectsPerRequest, RegressionTolerance};

/// A validated `leakspec.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The spec file, as the user named it (used in messages).
    pub path: PathBuf,
    /// The folder relative `cwd`s resolve against: the spec file's folder (absolute when the
    /// spec came from [`Spec::load`]).
    pub dir: PathBuf,
    /// `[defaults]`.
    pub defaults: Settings,
    /// `[[target]]` tables, in file order (at least one).
    pub targets: Vec<Target>,
}

/// The settings that inherit route > target > defaults > built-in default. Each is `None` when
/// not written at this level.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// Requests sent before the baseline snapshot, or until V8's code and metadata stop
    /// growing (`"auto"`).
    pub warmup: Option<Requests>,
    /// Requests per rung (N), or sized by the run (`"auto"`).
    pub requests: Option<Requests>,
    /// Requests in flight at once.
    pub concurrency: Option<usize>,
    /// Load intervals, each followed by a snapshot.
    pub rungs: Option<u32>,
    /// Most load intervals when the verdict is ambiguous.
    pub max_rungs: Option<u32>,
    /// How allocation sites are recorded.
    pub allocations: Option<Allocations>,
    /// Wait for readiness (defaults and targets only).
    pub ready_timeout: Option<Duration>,
    /// Wait for one request.
    pub request_timeout: Option<Duration>,
    /// Wait for one heap snapshot (defaults and targets only).
    pub snapshot_timeout: Option<Duration>,
    /// Wait for the target to exit after SIGTERM (defaults and targets only).
    pub shutdown_timeout: Option<Duration>,
    /// The budget written at this level.
    pub budget: Budget,
}

/// How many requests each rung (or the warm-up) sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requests {
    /// This many, every rung.
    Fixed(u64),
    /// `"auto"`: start small and grow the rungs until the run's detection limit meets the
    /// route's `sensitivity` or a leak is proven (see docs/detection.md).
    Auto,
}

/// The value of `--requests` and `--warmup`: a whole number, or `auto`.
impl std::str::FromStr for Requests {
    type Err = String;

    fn from_str(text: &str) -> Result<Requests, String> {
        match text {
            "auto" => Ok(Requests::Auto),
            n => n
                .parse()
                .map(Requests::Fixed)
                .map_err(|_| format!("expected a whole number of requests or `auto`, got `{n}`")),
        }
    }
}

/// Pass/fail limits of a route. Every limit is optional; [`Budget::inherit`] merges levels.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Budget {
    /// Tolerated linear heap growth per request.
    pub max_bytes_per_request: Option<BytesPerRequest>,
    /// Tolerated growth in live objects per request.
    pub max_objects_per_request: Option<ObjectsPerRequest>,
    /// Most the heap may grow from the baseline snapshot to the last.
    pub max_heap_growth: Option<ByteSize>,
    /// Production memory limit; the report projects requests until it is reached.
    pub memory_limit: Option<ByteSize>,
    /// Fail when the projected requests until `memory_limit` are fewer than this.
    pub requests_to_limit: Option<u64>,
    /// Most the heap may reach during load.
    pub max_peak_heap: Option<ByteSize>,
    /// Tolerated linear growth of the process's external memory per request.
    pub max_external_per_request: Option<BytesPerRequest>,
    /// Tolerated linear growth of the process's resident set per request.
    pub max_rss_growth: Option<BytesPerRequest>,
    /// Most the program's data may grow per minute with no requests (timers, polling,
    /// background jobs); without it, any growth with time above the noise floor fails.
    pub max_idle_growth: Option<ByteSize>,
    /// The smallest leak per request that matters: a route whose detection limit is above it
    /// and that proved no leak does not pass.
    pub sensitivity: Option<BytesPerRequest>,
    /// Failed iterations tolerated before the route fails (`None`: none).
    pub max_failed_requests: Option<FailedRequests>,
    /// Class keys never counted.
    pub ignore: Vec<String>,
    /// How far the figures recorded in `leakspec.lock` may be exceeded.
    pub regression_tolerance: Option<RegressionTolerance>,
}

impl Budget {
    /// This (more specific) budget over `parent`: each limit set here wins, the others come from
    /// `parent`; `ignore` lists are concatenated, parent first, without duplicates.
    ///
    /// ```
    /// use leakcheck::leakspec::{Budget, ByteSize};
    /// let defaults = Budget { max_heap_growth: Some(ByteSize::new(1 << 20)),
    ///     ignore: vec!["(compiled code)".into()], ..Budget::default() };
    /// let route = Budget { memory_limit: Some(ByteSize::new(1 << 27)),
    ///     ignore: vec!["Buffer".into()], ..Budget::default() };
    /// let merged = route.inherit(&defaults);
    /// assert_eq!(merged.max_heap_growth, Some(ByteSize::new(1 << 20)));
    /// assert_eq!(merged.memory_limit, Some(ByteSize::new(1 << 27)));
    /// assert_eq!(merged.ignore, ["(compiled code)", "Buffer"]);
    /// ```
    pub fn inherit(&self, parent: &Budget) -> Budget {
        let mut ignore = parent.ignore.clone();
        for key in &self.ignore {
            if !ignore.contains(key) {
                ignore.push(key.clone());
            }
        }
        Budget {
            max_bytes_per_request: self.max_bytes_per_request.or(parent.max_bytes_per_request),
            max_objects_per_request: self
                .max_objects_per_request
                .or(parent.max_objects_per_request),
            max_heap_growth: self.max_heap_growth.or(parent.max_heap_growth),
            memory_limit: self.memory_limit.or(parent.memory_limit),
            requests_to_limit: self.requests_to_limit.or(parent.requests_to_limit),
            max_peak_heap: self.max_peak_heap.or(parent.max_peak_heap),
            max_external_per_request: self
                .max_external_per_request
                .or(parent.max_external_per_request),
            max_rss_growth: self.max_rss_growth.or(parent.max_rss_growth),
            max_idle_growth: self.max_idle_growth.or(parent.max_idle_growth),
            sensitivity: self.sensitivity.or(parent.sensitivity),
            max_failed_requests: self.max_failed_requests.or(parent.max_failed_requests),
            ignore,
            regression_tolerance: self.regression_tolerance.or(parent.regression_tolerance),
        }
    }
}

/// Whether a route is left out of runs unless asked for, like a test marked `#[ignore]`:
/// `ignored = true` or `ignored = "reason"` on a route or a target.
///
/// ```
/// use leakcheck::leakspec::Ignored;
/// let slow = Ignored::Yes { reason: Some("needs the staging database".into()) };
/// assert_eq!(slow.to_string(), "ignored: needs the staging database");
/// assert_eq!(Ignored::Yes { reason: None }.to_string(), "ignored");
/// assert!(!Ignored::No.is_ignored());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Ignored {
    /// Run as usual (`ignored = false`, or nothing written).
    #[default]
    No,
    /// Left out unless asked for (`ignored = true`, or a reason).
    Yes {
        /// Why, when the spec says.
        reason: Option<String>,
    },
}

impl Ignored {
    /// True for [`Ignored::Yes`].
    pub fn is_ignored(&self) -> bool {
        matches!(self, Ignored::Yes { .. })
    }

    /// The reason given, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Ignored::Yes { reason } => reason.as_deref(),
            Ignored::No => None,
        }
    }
}

/// `ignored`, or `ignored: REASON`, as reports say why a route was not run; empty for
/// [`Ignored::No`].
impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ignored::No => Ok(()),
            Ignored::Yes { reason: None } => f.write_str("ignored"),
            Ignored::Yes { reason: Some(reason) } => write!(f, "ignored: {reason}"),
        }
    }
}

/// What runs a target.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Runtime {
    /// Node.js, started with `--inspect=127.0.0.1:0` (through `NODE_OPTIONS` for wrappers such as
    /// `npm start`).
    #[default]
    Node,
    /// Deno, started with `--inspect=127.0.0.1:0` after its subcommand (`deno run ...`).
    Deno,
    /// Cloudflare's workerd, started by leakcheck from a config it generates (or the user's
    /// `config.capnp`), with its ports read from `--control-fd`.
    Workerd,
    /// `wrangler dev`, offline on loopback, through wrangler's inspector proxy.
    Wrangler,
}

/// How a route records where the objects that outlive its load were allocated
/// (`allocations = "sampling" | "off"`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Allocations {
    /// V8's sampling heap profiler during the rungs: about one allocation stack per
    /// `samplingInterval` bytes, cheap enough to leave on.
    #[default]
    Sampling,
    /// No allocation sites.
    Off,
}

impl Allocations {
    /// The values as written in a spec.
    pub const NAMES: &[&str] = &["sampling", "off"];

    /// The name as written in a spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Allocations::Sampling => "sampling",
            Allocations::Off => "off",
        }
    }

    /// The mode named `name`, as written in a spec or on the command line.
    pub fn from_name(name: &str) -> Option<Allocations> {
        match name {
            "sampling" => Some(Allocations::Sampling),
            "off" => Some(Allocations::Off),
            _ => None,
        }
    }
}

impl std::fmt::Display for Allocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Runtime {
    /// Runtimes leakcheck can drive today, as written in a spec.
    pub const SUPPORTED: &[&str] = &["node", "deno", "workerd", "wrangler"];
    /// Runtimes that are planned but refused for now.
    pub const PLANNED: &[&str] = &["bun"];

    /// The name as written in a spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Node => "node",
            Runtime::Deno => "deno",
            Runtime::Workerd => "workerd",
            Runtime::Wrangler => "wrangler",
        }
    }

    /// True for Cloudflare Workers runtimes, whose isolates have a 128 MiB limit.
    pub fn is_workers(self) -> bool {
        matches!(self, Runtime::Workerd | Runtime::Wrangler)
    }

    /// What one running instance is called in reports: "isolate" for Workers, else "process".
    pub fn instance(self) -> &'static str {
        if self.is_workers() { "isolate" } else { "process" }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How leakcheck configures a workerd target (`runtime = "workerd"`); empty for other runtimes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Worker {
    /// The main module, relative to the target's `cwd`: leakcheck generates the config.
    pub main: Option<PathBuf>,
    /// Compatibility date, `YYYY-MM-DD` (with `main`).
    pub compatibility_date: Option<String>,
    /// Compatibility flags (with `main`).
    pub compatibility_flags: Vec<String>,
    /// Plain-text bindings (with `main`).
    pub bindings: BTreeMap<String, String>,
    /// The user's own `config.capnp`, relative to the target's `cwd`.
    pub config: Option<PathBuf>,
    /// The service to inspect (with `config`).
    pub service: Option<String>,
}

/// A `[[target]]`: a service to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Unique name.
    pub name: String,
    /// What runs it; `None` when not written.
    pub runtime: Option<Runtime>,
    /// Program and arguments; may hold `{port}`. Non-empty for Node and Deno; empty when not
    /// written for workerd and wrangler (leakcheck finds them in `node_modules`).
    pub command: Vec<String>,
    /// The workerd settings (`main`, `compatibility_date`, ...).
    pub worker: Worker,
    /// Working directory as written (relative to the spec's folder unless absolute).
    pub cwd: Option<PathBuf>,
    /// Extra environment variables; values may hold `{port}`.
    pub env: BTreeMap<String, String>,
    /// Base URL as written; may hold `{port}`.
    pub url: Option<String>,
    /// Readiness path, e.g. `/health`.
    pub ready: Option<String>,
    /// `ignored` as written on the target (it applies to every route that does not set its
    /// own); `None` when not written.
    pub ignored: Option<Ignored>,
    /// Settings written on the target.
    pub settings: Settings,
    /// `[[target.setup]]`: steps run once after the target is ready, before any route.
    pub setup: Option<super::traffic::Flow>,
    /// `[[target.route]]` tables, in file order (at least one).
    pub routes: Vec<Route>,
    /// 1-based line of the `[[target]]` header.
    pub line: usize,
    /// 1-based column of the `[[target]]` header.
    pub column: usize,
}

/// A `[[target.route]]`: what one iteration of load sends, over and over.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Name, unique within the target.
    pub name: String,
    /// HTTP method, upper-cased when it is a standard one; `None` when not written. For
    /// other shapes, what reports show in its place: `WS`, `SSE`, `FLOW`, `LOAD`.
    pub method: Option<String>,
    /// Path starting with `/`, query allowed, placeholders as written; for a flow its steps
    /// (`POST /login → GET /me`), for a load command the command.
    pub path: String,
    /// Request headers of a one-request route, sorted by name (placeholders as written).
    pub headers: Vec<Header>,
    /// Request body of a one-request route (placeholders as written).
    pub body: Option<String>,
    /// What one iteration does, fully: steps, templates, captures, or the load command.
    pub traffic: super::traffic::Traffic,
    /// `ignored` as written on the route; `None` when not written.
    pub ignored: Option<Ignored>,
    /// Settings written on the route.
    pub settings: Settings,
    /// 1-based line of the `[[target.route]]` header.
    pub line: usize,
    /// 1-based column of the `[[target.route]]` header.
    pub column: usize,
}

/// Header names whose values are secret: they never appear in reports or `Debug` output.
pub const SECRET_HEADERS: &[&str] =
    &["authorization", "cookie", "proxy-authorization", "x-api-key"];

/// Whether a header, query parameter or field name carries a secret: `authorization`,
/// `cookie`, `set-cookie`, `x-api-key`, `x-auth-token`, `access_token`, `client_secret`,
/// `password`, `x-csrf-token`, `session`... (any case, `-` or `_`).
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('_', "-");
    const PARTS: &[&str] = &[
        "auth",
        "cookie",
        "token",
        "secret",
        "password",
        "passwd",
        "api-key",
        "apikey",
        "session",
        "credential",
        "signature",
        "private-key",
    ];
    PARTS.iter().any(|p| name.contains(p)) || SECRET_HEADERS.contains(&name.as_str())
}

/// A request header. Its `Debug` hides the value of a secret header.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    /// Name as written.
    pub name: String,
    /// Value as written.
    pub value: String,
}

impl Header {
    /// Whether the value must be redacted in output (see [`is_secret_name`]).
    pub fn is_secret(&self) -> bool {
        is_secret_name(&self.name)
    }

    /// The value to show in reports: `"<redacted>"` for a secret header.
    pub fn display_value(&self) -> &str {
        if self.is_secret() { "<redacted>" } else { &self.value }
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("name", &self.name)
            .field("value", &self.display_value())
            .finish()
    }
}

/// Failed iterations a route tolerates (`max_failed_requests`): a number, or a share of the
/// iterations sent.
///
/// ```
/// use leakcheck::leakspec::FailedRequests;
/// assert_eq!(FailedRequests::Count(3).allowed(1000), 3);
/// assert_eq!(FailedRequests::Share(0.01).allowed(1000), 10);
/// assert_eq!(FailedRequests::Share(0.01).allowed(99), 0);
/// assert_eq!(FailedRequests::Share(0.005).to_string(), "0.5%");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailedRequests {
    /// At most this many.
    Count(u64),
    /// At most this share (0 to 1) of the iterations sent.
    Share(f64),
}

impl FailedRequests {
    /// How many of `sent` iterations may fail.
    pub fn allowed(self, sent: u64) -> u64 {
        match self {
            FailedRequests::Count(n) => n,
            FailedRequests::Share(share) => (share * sent as f64 + 1e-9).floor() as u64,
        }
    }
}

impl fmt::Display for FailedRequests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailedRequests::Count(n) => write!(f, "{n}"),
            FailedRequests::Share(share) => write!(f, "{}%", (share * 1e6).round() / 1e4),
        }
    }
}
