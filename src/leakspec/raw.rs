//! The spec as written: serde types mirroring the TOML, every value with its span so
//! validation can point at it. Their doc comments are the descriptions in the published JSON
//! Schema (`leakspec.schema.json`).
//!
//! Serde's `flatten` would lose the spans, so the inheritable settings are repeated in
//! [`RawDefaults`], [`RawTarget`] and [`RawRoute`]; `keys.rs` lists the same keys and a test
//! checks the two agree.

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use toml::Spanned;

type S<T> = Spanned<T>;

/// A `leakspec.toml`: the services leakcheck starts, the routes it loads, and the budgets that
/// decide pass or fail.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields, title = "leakspec.toml")]
pub(crate) struct RawSpec {
    /// Settings and budget every target and route inherits unless it sets its own.
    #[serde(default)]
    pub defaults: RawDefaults,
    /// A service to start and test: `[[target]]`, once per service.
    #[serde(default)]
    #[schemars(with = "Vec<RawTarget>", length(min = 1))]
    pub target: Vec<S<RawTarget>>,
}

/// Settings every target and route inherits (route > target > defaults > built-in default).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields, rename = "Defaults")]
pub(crate) struct RawDefaults {
    /// Requests sent before the baseline snapshot, so caches and JIT settle (default 50); or
    /// "auto": in steps of 50 until V8's code and metadata stop growing (at most 2,000).
    #[serde(default)]
    #[schemars(schema_with = "warmup_schema")]
    pub warmup: Option<S<RawCount>>,
    /// N: requests per rung; snapshots are taken at baseline, after N, after 2N, ... (default 500);
    /// or "auto": start small and grow N until the detection limit meets `sensitivity`.
    #[serde(default)]
    #[schemars(schema_with = "requests_schema")]
    pub requests: Option<S<RawCount>>,
    /// Requests in flight at once (default 4).
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 1, max = 10000))]
    pub concurrency: Option<S<i64>>,
    /// Load intervals of N requests each, so `rungs + 1` snapshots (default 2, at least 2).
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 2, max = 50))]
    pub rungs: Option<S<i64>>,
    /// Most load intervals a route may take in all when its verdict is ambiguous: up to
    /// `max_rungs - rungs` extra rungs (default 5; never fewer than `rungs`).
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 2, max = 50))]
    pub max_rungs: Option<S<i64>>,
    /// Where allocation sites come from: "sampling" (default; V8's sampling heap profiler
    /// during the rungs) or "off".
    #[serde(default)]
    #[schemars(schema_with = "allocations_schema")]
    pub allocations: Option<S<String>>,
    /// How long to wait for the target to be ready, e.g. "30s" (default "30s").
    #[serde(default)]
    #[schemars(schema_with = "duration_schema")]
    pub ready_timeout: Option<S<String>>,
    /// How long one request may take, e.g. "10s" (default "10s").
    #[serde(default)]
    #[schemars(schema_with = "duration_schema")]
    pub request_timeout: Option<S<String>>,
    /// How long one heap snapshot may take, transfer included, e.g. "120s" (default "120s").
    #[serde(default)]
    #[schemars(schema_with = "duration_schema")]
    pub snapshot_timeout: Option<S<String>>,
    /// How long the target may take to exit after SIGTERM before it is killed (default "5s").
    #[serde(default)]
    #[schemars(schema_with = "duration_schema")]
    pub shutdown_timeout: Option<S<String>>,
    /// Pass/fail limits every route inherits, key by key.
    #[serde(default)]
    pub budget: RawBudget,
}

/// A service: how to start it, where it listens and which routes to load.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields, rename = "Target")]
pub(crate) struct RawTarget {
    /// Unique name of the target (letters, digits, `-`, `_`, `.`); used in reports and file names.
    #[schemars(with = "String", length(min = 1))]
    pub name: S<String>,
    /// What runs the service (default "node"): "node", "deno", "workerd" (leakcheck starts
    /// workerd itself, from `main` or `config`) or "wrangler" (`wrangler dev`, offline).
    #[serde(default)]
    #[schemars(schema_with = "runtime_schema")]
    pub runtime: Option<S<String>>,
    /// The program and its arguments, run without a shell; `{port}` is replaced by the port
    /// leakcheck picks. Required for "node" and "deno"; for "workerd" the workerd binary (default:
    /// the one in `node_modules`), for "wrangler" the `wrangler dev` command (default
    /// `["wrangler", "dev"]` from `node_modules`).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>", length(min = 1))]
    pub command: Option<S<Vec<S<String>>>>,
    /// Working directory, relative to the spec file's folder (default: that folder).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub cwd: Option<S<String>>,
    /// Extra environment variables; `{port}` in a value is replaced by the port. `PORT` is
    /// always set by leakcheck.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub env: BTreeMap<S<String>, S<String>>,
    /// Base URL of the service (default "http://127.0.0.1:{port}"); route paths are appended.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url: Option<S<String>>,
    /// Path polled until it answers 2xx, e.g. "/health"; without it, leakcheck waits until the
    /// port accepts connections.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = r"^/"))]
    pub ready: Option<S<String>>,
    /// workerd: the worker's main module, relative to `cwd` (e.g. "src/index.js"); every
    /// `.js`/`.mjs` file under its folder is loaded as a module too.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub main: Option<S<String>>,
    /// workerd with `main`: the compatibility date, "YYYY-MM-DD" (required with `main`).
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub compatibility_date: Option<S<String>>,
    /// workerd with `main`: compatibility flags, e.g. ["nodejs_compat"].
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub compatibility_flags: Option<S<Vec<S<String>>>>,
    /// workerd with `main`: plain-text bindings (`env.NAME` in the worker).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub bindings: BTreeMap<S<String>, S<String>>,
    /// workerd: your own `config.capnp`, relative to `cwd`, instead of `main`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub config: Option<S<String>>,
    /// workerd with `config`: the service (worker) to inspect when the config has several.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub service: Option<S<String>>,
    /// Leave all this target's routes out of runs unless asked for (`leakcheck run
    /// --include-ignored`, `leakcheck test --ignored`): `true`, or the reason, e.g. "needs the
    /// staging database". A route's own `ignored` wins over this one.
    #[serde(default)]
    #[schemars(schema_with = "ignored_schema")]
    pub ignored: Option<S<RawIgnored>>,
    /// Requests sent before the baseline snapshot (overrides [defaults]), or "auto".
    #[serde(default)]
    #[schemars(schema_with = "warmup_schema")]
    pub warmup: Option<S<RawCount>>,
    /// Requests per rung (overrides [defaults]), or "auto".
    #[serde(default)]
    #[schemars(schema_with = "requests_schema")]
    pub requests: Option<S<RawCount>>,
    /// Requests in flight at once (overrides [defaults]).
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 1, max = 10000))]
    pub concurrency: Option<S<i64>>,
    /// Load intervals per route (overrides [defaults]).
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 2, max = 50))]
    pub rungs: Option<S<i64>>,
    /// Most load intervals when the verdict is ambiguous (overrides [defaults]).
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 2, max = 50))]
    pub max_rungs: Option<S<i64>>,
    /// Where allocation sites come from: "sampling" (default; V8's sampling heap profiler
    /// during the rungs) or "off".
    #[serde(default)]
    #[schemars(schema_with = "allocations_schema")]
    pub allocations: Option<S<String>>,
    /// How long to wait for this target to be ready (overrides [defaults]).
    #[serde(default)]
    #[schemars(schema_with = "duration_schema")]
    pub ready_timeout: Option<S<String>>,
    /// How long one request may take (overrides [defaults]).
    #[serde(default)]
    #[schemars(schema_with = "duration_schema")]
    pub request_timeout: Option<S<String>>,
    /// How long one heap snapshot may take (overrides [defaults]).
    #[serde(default)]
    #[schemars(schema_with = "duration_schema")]
    pub snapshot_timeout: Option<S<String>>,
    /// How long this target may take to exit before it is killed (overrides [defaults]).
    #[serde(default)]
    #[schemars(schema_with = "duration_schema")]
    pub shutdown_timeout: Option<S<String>>,
    /// Pass/fail limits for this target's routes, merged key by key over [defaults.budget].
    #[serde(default)]
    pub budget: RawBudget,
    /// Steps run once after the target is ready, before any route (log in, create
    /// fixtures): `[[target.setup]]`. Their captures are available to every route.
    #[serde(default)]
    #[schemars(with = "Vec<RawStep>")]
    pub setup: Vec<S<RawStep>>,
    /// A route to load: `[[target.route]]`, once per route.
    #[serde(default)]
    #[schemars(with = "Vec<RawRoute>", length(min = 1))]
    pub route: Vec<S<RawRoute>>,
}

/// What one iteration of load does, sent over and over while its memory cost is measured: one
/// HTTP request (`path`), a WebSocket or SSE cycle, a flow of steps, or your own load command.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields, rename = "Route")]
pub(crate) struct RawRoute {
    /// Name of the route, unique within its target (letters, digits, `-`, `_`, `.`).
    #[schemars(with = "String", length(min = 1))]
    pub name: S<String>,
    /// HTTP method (default "GET").
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub method: Option<S<String>>,
    /// Request path, starting with `/`, query string allowed; appended to the target's `url`.
    /// May hold per-request values: `{seq}`, `{uuid}`, `{rand:A..B}`, `{row.COLUMN}`. A route
    /// has a `path`, a `websocket`, an `sse`, `[[target.route.step]]`s or a `load` command.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = r"^/"))]
    pub path: Option<S<String>>,
    /// Request headers (values may hold per-request values). Values of `authorization`,
    /// `cookie`, `proxy-authorization` and `x-api-key` never appear in reports.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<S<String>, S<String>>,
    /// Request body (may hold per-request values; in a JSON body they are escaped so it stays
    /// valid JSON).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub body: Option<S<String>>,
    /// A WebSocket connection cycle per iteration: connect to this path, send `send`, wait for
    /// `receive` messages, close.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = r"^/"))]
    pub websocket: Option<S<String>>,
    /// With `websocket`: text messages to send after the handshake, in order.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub send: Option<S<Vec<S<String>>>>,
    /// With `websocket`: messages to wait for (within `request_timeout`) before closing
    /// (default 0).
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 0))]
    pub receive: Option<S<i64>>,
    /// A Server-Sent Events cycle per iteration: GET this path, read `events` events, close.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = r"^/"))]
    pub sse: Option<S<String>>,
    /// With `sse`: events to read before closing (default 1).
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 0))]
    pub events: Option<S<i64>>,
    /// Close the connection early: "first-byte" (as the response starts) or "after:50ms".
    #[serde(default)]
    #[schemars(schema_with = "abort_schema")]
    pub abort: Option<S<String>>,
    /// Statuses that count as success (default 2xx and 3xx; 101 for a WebSocket handshake):
    /// a status, a class or a range, or a list of them, e.g. `[200, "3xx"]`.
    #[serde(default)]
    #[schemars(schema_with = "status_schema")]
    pub expect_status: Option<S<RawStatus>>,
    /// A CSV file with a header row (relative to the spec's folder): `{row.COLUMN}` takes the
    /// iteration's row, rows cycled.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub data: Option<S<String>>,
    /// A cookie jar per iteration: cookies a step's response sets are sent by later steps of
    /// the same iteration (default false).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub cookies: Option<S<bool>>,
    /// A flow: `[[target.route.step]]`, run in order as one iteration.
    #[serde(default)]
    #[schemars(with = "Vec<RawStep>")]
    pub step: Vec<S<RawStep>>,
    /// Your own load: `load = { command = ["npx", "autocannon", "-a", "{requests}", "{url}/api"] }`,
    /// run for the warm-up and each rung.
    #[serde(default)]
    #[schemars(with = "Option<RawLoad>")]
    pub load: Option<S<RawLoad>>,
    /// Leave this route out of runs unless asked for (`leakcheck run --include-ignored`,
    /// `leakcheck test --ignored`), like `#[ignore]`: `true`, or the reason, e.g. "leaks until
    /// issue 42 is fixed". `false` runs it even when its target is ignored.
    #[serde(default)]
    #[schemars(schema_with = "ignored_schema")]
    pub ignored: Option<S<RawIgnored>>,
    /// Requests sent before the baseline snapshot (overrides the target and [defaults]), or
    /// "auto".
    #[serde(default)]
    #[schemars(schema_with = "warmup_schema")]
    pub warmup: Option<S<RawCount>>,
    /// Requests per rung (overrides the target and [defaults]), or "auto".
    #[serde(default)]
    #[schemars(schema_with = "requests_schema")]
    pub requests: Option<S<RawCount>>,
    /// Requests in flight at once (overrides the target and [defaults]).
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 1, max = 10000))]
    pub concurrency: Option<S<i64>>,
    /// Load intervals (overrides the target and [defaults]).
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 2, max = 50))]
    pub rungs: Option<S<i64>>,
    /// Most load intervals when the verdict is ambiguous (overrides the target and [defaults]).
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 2, max = 50))]
    pub max_rungs: Option<S<i64>>,
    /// Where allocation sites come from: "sampling" (default; V8's sampling heap profiler
    /// during the rungs) or "off".
    #[serde(default)]
    #[schemars(schema_with = "allocations_schema")]
    pub allocations: Option<S<String>>,
    /// How long one request of this route may take (overrides the target and [defaults]).
    #[serde(default)]
    #[schemars(schema_with = "duration_schema")]
    pub request_timeout: Option<S<String>>,
    /// Pass/fail limits for this route, merged key by key over the target's and [defaults]'.
    #[serde(default)]
    pub budget: RawBudget,
}

/// One step of a flow (`[[target.route.step]]`) or of a target's `[[target.setup]]`: an HTTP
/// request (`path`), a WebSocket cycle (`websocket`) or an SSE read (`sse`).
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields, rename = "Step")]
pub(crate) struct RawStep {
    /// Name of the step in messages (default "step N").
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub name: Option<S<String>>,
    /// HTTP method (default "GET").
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub method: Option<S<String>>,
    /// Request path (may hold `{seq}`, `{uuid}`, `{rand:A..B}`, `{row.COLUMN}` and captured
    /// `{NAME}`s).
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = r"^/"))]
    pub path: Option<S<String>>,
    /// Request headers (values may hold placeholders).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<S<String>, S<String>>,
    /// Request body (may hold placeholders; JSON bodies stay valid JSON).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub body: Option<S<String>>,
    /// Values for later steps: `{ token = "json:$.token", csrf = "header:x-csrf-token", sid =
    /// "cookie:sid" }`. A capture that matches nothing fails the iteration.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub capture: BTreeMap<S<String>, S<String>>,
    /// Close the connection early: "first-byte" or "after:50ms".
    #[serde(default)]
    #[schemars(schema_with = "abort_schema")]
    pub abort: Option<S<String>>,
    /// Statuses that count as success (default 2xx and 3xx; 101 for a WebSocket handshake).
    #[serde(default)]
    #[schemars(schema_with = "status_schema")]
    pub expect_status: Option<S<RawStatus>>,
    /// A WebSocket connection cycle: connect to this path, send `send`, wait for `receive`
    /// messages, close.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = r"^/"))]
    pub websocket: Option<S<String>>,
    /// With `websocket`: text messages to send, in order (may hold placeholders).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub send: Option<S<Vec<S<String>>>>,
    /// With `websocket`: messages to wait for before closing (default 0).
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 0))]
    pub receive: Option<S<i64>>,
    /// A Server-Sent Events read: GET this path, read `events` events, close.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = r"^/"))]
    pub sse: Option<S<String>>,
    /// With `sse`: events to read before closing (default 1).
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 0))]
    pub events: Option<S<i64>>,
}

/// `load = { command = [...] }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields, rename = "Load")]
pub(crate) struct RawLoad {
    /// The program and its arguments, run without a shell in the target's `cwd`; `{requests}`
    /// (the iterations to send) and `{url}` (the target's base URL) are filled in, and set as
    /// `LEAKCHECK_REQUESTS` and `LEAKCHECK_URL` in its environment. A non-zero exit fails the
    /// route.
    #[schemars(with = "Vec<String>", length(min = 1))]
    pub command: S<Vec<S<String>>>,
}

/// `expect_status` as written: a status, a string (`"2xx"`, `"200-204"`), or a list of them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawStatus {
    Code(i64),
    Text(String),
    List(Vec<RawStatus>),
}

impl<'de> Deserialize<'de> for RawStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawStatus;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a status such as 200 or \"2xx\", or a list of them")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawStatus, E> {
                Ok(RawStatus::Code(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawStatus, E> {
                Ok(RawStatus::Code(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawStatus, E> {
                Ok(RawStatus::Text(v.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawStatus, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<RawStatus>()? {
                    items.push(item);
                }
                Ok(RawStatus::List(items))
            }
        }
        d.deserialize_any(V)
    }
}

fn status_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            { "type": "integer", "minimum": 100, "maximum": 599 },
            { "type": "string", "pattern": r"^\s*([1-5]xx|[1-5][0-9][0-9](-[1-5][0-9][0-9])?)\s*$", "examples": ["2xx", "200-204"] },
            { "type": "array", "items": { "anyOf": [
                { "type": "integer", "minimum": 100, "maximum": 599 },
                { "type": "string", "pattern": r"^\s*([1-5]xx|[1-5][0-9][0-9](-[1-5][0-9][0-9])?)\s*$" }
            ] }, "minItems": 1 }
        ]
    })
}

fn abort_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": r"^\s*(first-byte|after:\s*([0-9]+\s*[a-zµ]+\s*)+)$",
        "examples": ["first-byte", "after:50ms"]
    })
}

/// Pass/fail limits. All optional; without any, a route fails on linear growth above the noise
/// floor. Each key overrides the same key of the enclosing level; `ignore` lists add up.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields, rename = "Budget")]
pub(crate) struct RawBudget {
    /// Tolerated linear heap growth per request, e.g. "256B" (fractions allowed).
    #[serde(default)]
    #[schemars(schema_with = "rate_schema")]
    pub max_bytes_per_request: Option<S<RawRate>>,
    /// Tolerated growth in live objects per request, e.g. 0.05 (one object every 20 requests).
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 0))]
    pub max_objects_per_request: Option<S<f64>>,
    /// Most the heap may grow from the baseline snapshot to the last one, e.g. "5MiB".
    #[serde(default)]
    #[schemars(schema_with = "size_schema")]
    pub max_heap_growth: Option<S<RawSize>>,
    /// Memory the service may use in production, e.g. "128MiB": the report projects how many
    /// requests it takes to get there.
    #[serde(default)]
    #[schemars(schema_with = "size_schema")]
    pub memory_limit: Option<S<RawSize>>,
    /// Fail when the projected requests until `memory_limit` are fewer than this.
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 1))]
    pub requests_to_limit: Option<S<i64>>,
    /// Most the heap may reach at any moment during load, e.g. "256MiB".
    #[serde(default)]
    #[schemars(schema_with = "size_schema")]
    pub max_peak_heap: Option<S<RawSize>>,
    /// Tolerated linear growth of the memory the process keeps outside the V8 heap, per
    /// request, e.g. "1KiB": `process.memoryUsage().external` at every snapshot (Node, Deno;
    /// on Node it includes Buffers and ArrayBuffers).
    #[serde(default)]
    #[schemars(schema_with = "rate_schema")]
    pub max_external_per_request: Option<S<RawRate>>,
    /// Tolerated linear growth of the process's resident set (RSS), per request, e.g. "4KiB":
    /// `process.memoryUsage().rss` before every snapshot after the first (Node, Deno; the
    /// baseline snapshot itself leaves the allocator holding memory). RSS moves in pages and
    /// allocator arenas, so only growth of at least 1 MiB in every interval counts.
    #[serde(default)]
    #[schemars(schema_with = "rate_schema")]
    pub max_rss_growth: Option<S<RawRate>>,
    /// Most the program's data may grow per minute while no requests run (timers, polling,
    /// background jobs), e.g. "64KiB"; without it, any growth with time above the noise floor
    /// fails the target.
    #[serde(default)]
    #[schemars(schema_with = "size_schema")]
    pub max_idle_growth: Option<S<RawSize>>,
    /// The smallest leak that matters, per request, e.g. "16B": the route fails
    /// (`sensitivity_not_reached`) unless its detection limit is at most this or a leak is
    /// proven; `requests = "auto"` grows the rungs until it is met (default for "auto": 16B).
    #[serde(default)]
    #[schemars(schema_with = "rate_schema")]
    pub sensitivity: Option<S<RawRate>>,
    /// Iterations of the route that may fail (a status `expect_status` does not accept, no
    /// answer within `request_timeout`, no response) before the route fails: a number, e.g. 5,
    /// or a share of those sent, e.g. "1%". Default 0: any failed request fails the route.
    #[serde(default)]
    #[schemars(schema_with = "failed_schema")]
    pub max_failed_requests: Option<S<RawSize>>,
    /// Class keys never counted, e.g. ["(compiled code)"]; added to the lists of the enclosing
    /// levels.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub ignore: Vec<S<String>>,
    /// How far a route may exceed the figures recorded in `leakspec.lock` (by `leakcheck run
    /// --record` or `--bless`) before it fails as a regression: a percentage of the recorded
    /// figure plus a size per request (times the requests measured, for heap growth),
    /// e.g. "25% + 32B" (the default).
    #[serde(default)]
    #[schemars(schema_with = "tolerance_schema")]
    pub regression_tolerance: Option<S<String>>,
}

/// A size as written: a string with a unit, or an integer of bytes. (A hand-written visitor
/// rather than `serde(untagged)`, whose errors say nothing useful.)
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawSize {
    Text(String),
    Bytes(i64),
}

/// A per-request size as written: a string with a unit, or a number of bytes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawRate {
    Text(String),
    Bytes(f64),
}

/// `requests` or `warmup` as written: a whole number, or a string (only `"auto"` is valid;
/// the shape check has said so already).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawCount {
    Text(String),
    Number(i64),
}

/// `ignored` as written: a flag, or a reason (which means `true`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawIgnored {
    Text(String),
    Flag(bool),
}

macro_rules! string_or_number {
    ($ty:ident, $expecting:literal, $($visit:ident: $arg:ty => $make:expr),*) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        Ok($ty::Text(v.to_owned()))
                    }
                    $(fn $visit<E: serde::de::Error>(self, v: $arg) -> Result<$ty, E> {
                        #[allow(clippy::redundant_closure_call)]
                        Ok(($make)(v))
                    })*
                }
                d.deserialize_any(V)
            }
        }
    };
}

string_or_number!(RawSize, "a size such as \"5MiB\" or an integer of bytes",
    visit_i64: i64 => RawSize::Bytes,
    visit_u64: u64 => |v: u64| RawSize::Bytes(i64::try_from(v).unwrap_or(i64::MAX)));
string_or_number!(RawRate, "a size such as \"256B\" or a number of bytes",
    visit_i64: i64 => |v: i64| RawRate::Bytes(v as f64),
    visit_u64: u64 => |v: u64| RawRate::Bytes(v as f64),
    visit_f64: f64 => RawRate::Bytes);
string_or_number!(RawCount, "a whole number or \"auto\"",
    visit_i64: i64 => RawCount::Number,
    visit_u64: u64 => |v: u64| RawCount::Number(i64::try_from(v).unwrap_or(i64::MAX)));
string_or_number!(RawIgnored, "true, false or a reason such as \"needs the staging database\"",
    visit_bool: bool => RawIgnored::Flag);

const SIZE_PATTERN: &str = r"^\s*[0-9]*\.?[0-9]+\s*([kKmMgGtT][iI]?)?[bB]\s*$";

fn failed_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            { "type": "integer", "minimum": 0 },
            { "type": "string", "pattern": r"^\s*[0-9]*\.?[0-9]+\s*%\s*$", "examples": ["1%", "0.5%"] }
        ]
    })
}

fn size_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            { "type": "string", "pattern": SIZE_PATTERN, "examples": ["256B", "1.5KiB", "5MiB", "10MB"] },
            { "type": "integer", "minimum": 0 }
        ]
    })
}

fn rate_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            { "type": "string", "pattern": SIZE_PATTERN, "examples": ["256B", "0.5KiB"] },
            { "type": "number", "minimum": 0 }
        ]
    })
}

fn requests_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            { "type": "integer", "minimum": 1 },
            { "type": "string", "const": "auto" }
        ]
    })
}

fn warmup_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            { "type": "integer", "minimum": 0 },
            { "type": "string", "const": "auto" }
        ]
    })
}

fn tolerance_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": r"^\s*(([0-9]*\.?[0-9]+\s*%)|([0-9]*\.?[0-9]+\s*([kKmMgGtT][iI]?)?[bB]))\s*(\+\s*(([0-9]*\.?[0-9]+\s*%)|([0-9]*\.?[0-9]+\s*([kKmMgGtT][iI]?)?[bB]))\s*)?$",
        "examples": ["25% + 32B", "10%", "64B"]
    })
}

fn ignored_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            { "type": "boolean" },
            { "type": "string", "minLength": 1, "examples": ["leaks until issue 42 is fixed"] }
        ]
    })
}

fn duration_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": r"^\s*([0-9]+\s*[a-zµ]+\s*)+$",
        "examples": ["500ms", "30s", "2m", "1m 30s"]
    })
}

fn runtime_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": ["node", "deno", "workerd", "wrangler"] })
}

fn allocations_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "enum": ["sampling", "off"]
    })
}
