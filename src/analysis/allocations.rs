//! Where the objects that outlived the load were allocated: the samples of V8's sampling heap
//! profiler still alive at the end of a route, grouped by the frame a person can act on.
//!
//! V8 samples about one allocation per `interval` bytes and records its stack; samples of
//! collected objects are dropped, so after the last snapshot (which collects garbage) the
//! profile holds the allocations of the rungs that survived them: the growth. An object of
//! `s` bytes is sampled with probability `1 - e^(-s/interval)`, so each sample stands for
//! `1 / (1 - e^(-s/interval))` such objects; the inspector reports a sample's size already
//! scaled that way (V8's `AllocationProfile::Sample` size × count), so the object's own size is
//! found by inverting the scaling.
//!
//! A frame is **user** code (the service's own files), a **library** (under `node_modules`)
//! or the **runtime** (`node:` modules, Deno's `ext:`, workerd's built-ins, V8's builtins). A
//! site names the first user frame from the top of the stack; when the allocation happened
//! inside a library it also names the library's frame, and when the user code called the
//! runtime (`setInterval`, `EventEmitter.on`) the runtime function it called, so that a timer
//! or a listener is attributed to the function that registered it.
//!
//! Frames carry the position of the function's start (V8 records functions, not statements),
//! 0-based as V8 gives them; [`CodeLocation`] holds them 1-based, as editors count.
//! Frames of transpiled or bundled code are mapped back through a [`FrameMapper`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// A frame of an allocation stack as the inspector reports it (`Runtime.CallFrame`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallFrame {
    /// The function's name (empty for anonymous functions).
    #[serde(default)]
    pub function_name: String,
    /// The script's id within the session.
    #[serde(default)]
    pub script_id: String,
    /// The script's URL (empty for V8's own frames).
    #[serde(default)]
    pub url: String,
    /// 0-based line of the function's start.
    #[serde(default)]
    pub line_number: i64,
    /// 0-based column of the function's start.
    #[serde(default)]
    pub column_number: i64,
}

/// One node of the profile's tree of stacks (`HeapProfiler.SamplingHeapProfileNode`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileNode {
    /// The frame.
    pub call_frame: CallFrame,
    /// The node's id, which samples refer to.
    pub id: u64,
    /// Its callees.
    #[serde(default)]
    pub children: Vec<ProfileNode>,
}

/// One sample: an allocation still alive (`HeapProfiler.SamplingHeapProfileSample`).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// The bytes the sample stands for: the object's size times the objects it represents
    /// (never less than the sampling interval).
    pub size: f64,
    /// The profile node of its stack (a node of the tree, not a heap object id).
    pub node_id: u64,
}

/// A sampling heap profile (`HeapProfiler.SamplingHeapProfile`).
#[derive(Clone, Debug, Deserialize)]
pub struct SamplingProfile {
    /// The root of the tree of stacks.
    pub head: ProfileNode,
    /// The samples still alive.
    #[serde(default)]
    pub samples: Vec<Sample>,
}

/// A place in the code, as people count: 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CodeLocation {
    /// The function (`(anonymous)` when it has no name).
    pub function: String,
    /// The file: a path when the script is a file, else the script's URL.
    pub file: String,
    /// 1-based line of the function's start (0 when unknown).
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// Where the code ran when `file` was read from a source map: the generated script's
    /// `file:line:column`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<String>,
}

impl std::fmt::Display for CodeLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}:{}:{})", self.function, self.file, self.line, self.column)
    }
}

/// A position in original source, from a source map: file, 0-based line and column, and the
/// original name at that position when the map has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Original {
    /// The original file (absolute path or URL).
    pub file: String,
    /// 0-based line.
    pub line: u32,
    /// 0-based column.
    pub column: u32,
    /// The name the map gives the token, if any.
    pub name: Option<String>,
}

/// Maps a frame of generated code to its original source.
pub trait FrameMapper {
    /// The original position of `frame`, or `None` when its script has no source map (or the
    /// map does not cover the position).
    fn original(&self, frame: &CallFrame) -> Option<Original>;
}

/// A mapper that maps nothing.
pub struct NoMaps;

impl FrameMapper for NoMaps {
    fn original(&self, _: &CallFrame) -> Option<Original> {
        None
    }
}

/// Whose code a frame is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The service's own code.
    User,
    /// A package under `node_modules`, with its name.
    Library(String),
    /// The runtime (Node's, Deno's or workerd's built-in modules) or V8 itself.
    Runtime,
}

/// Whose code the script at `url` is.
pub fn owner(url: &str) -> Owner {
    const RUNTIME_SCHEMES: [&str; 7] =
        ["node:", "internal/", "ext:", "deno:", "cloudflare:", "workerd:", "wasm:"];
    if url.is_empty() || RUNTIME_SCHEMES.iter().any(|s| url.starts_with(s)) {
        return Owner::Runtime;
    }
    if let Some(at) = url.rfind("/node_modules/") {
        let rest = &url[at + "/node_modules/".len()..];
        let mut parts = rest.split('/');
        let first = parts.next().unwrap_or("");
        let name = match (first.starts_with('@'), parts.next()) {
            (true, Some(second)) => format!("{first}/{second}"),
            _ => first.to_owned(),
        };
        return Owner::Library(name);
    }
    Owner::User
}

/// Where a group of surviving objects was allocated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllocationSite {
    /// The frame to act on: the first frame of the service's own code from the top of the
    /// stack (the library's frame when no user frame is on the stack).
    pub site: CodeLocation,
    /// The library frame that allocated, when the allocation happened inside one, and its
    /// package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<LibraryFrame>,
    /// The runtime function the site called to allocate (`setInterval`, `addListener`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Every runtime call through which the site registered a timer or a listener whose
    /// allocations survived, most bytes first (`via` shows one way; a handler that adds a
    /// listener and sets a timeout registers both).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registers: Vec<String>,
    /// The stack, allocating frame first, at most [`STACK_FRAMES`] frames.
    pub stack: Vec<CodeLocation>,
    /// Objects estimated alive at the end.
    pub objects: f64,
    /// Their bytes, estimated.
    pub bytes: f64,
    /// Objects per request measured.
    pub objects_per_request: f64,
    /// Bytes per request measured.
    pub bytes_per_request: f64,
    /// Share of the surviving bytes allocated by the service's JavaScript (0 to 1).
    pub share: f64,
    /// Samples behind the estimate (few samples: a rough estimate).
    pub samples: u64,
}

/// A library's frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LibraryFrame {
    /// The package (`express`, `@scope/name`).
    pub package: String,
    /// The frame.
    pub frame: CodeLocation,
}

/// Frames kept per stack in reports.
pub const STACK_FRAMES: usize = 8;
/// Sites listed per route.
pub const MAX_SITES: usize = 5;
/// Sites with less than this share of the surviving bytes are left out.
pub const MIN_SITE_SHARE: f64 = 0.03;

/// The allocation sites of what survived a route's load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SiteSummary {
    /// Samples still alive.
    pub samples: u64,
    /// Bytes they stand for, estimated, in JavaScript frames.
    pub bytes: f64,
    /// Bytes of samples without a JavaScript frame (V8's code, feedback and other metadata).
    pub runtime_bytes: f64,
    /// The sites, most bytes first.
    pub sites: Vec<AllocationSite>,
}

/// A route's allocation sites, as reported.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AllocationReport {
    /// How they were recorded: `sampling` or `tracking`.
    pub mechanism: String,
    /// The sampling interval in bytes (sampling only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    /// Requests of the load the sites come from (the rungs, after the baseline).
    pub requests: u64,
    /// The sites and totals.
    #[serde(flatten)]
    pub summary: SiteSummary,
    /// Why there are no sites, when the runtime could not give them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// Groups the live samples of `profile` by site. `requests` is the load the samples come
/// from (to give rates per request), `interval` the sampling interval in bytes.
pub fn sampled_sites(
    profile: &SamplingProfile,
    interval: u64,
    requests: u64,
    mapper: &dyn FrameMapper,
) -> SiteSummary {
    // The tree flattened: per node id, its frame and its parent.
    let mut frames: Vec<&CallFrame> = Vec::new();
    let mut parent: Vec<usize> = Vec::new();
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut stack = vec![(&profile.head, usize::MAX)];
    while let Some((node, up)) = stack.pop() {
        let at = frames.len();
        frames.push(&node.call_frame);
        parent.push(up);
        index.insert(node.id, at);
        stack.extend(node.children.iter().map(|c| (c, at)));
    }
    let interval = interval.max(1) as f64;
    let mut summary = SiteSummary::default();
    let mut groups: HashMap<CodeLocation, Group> = HashMap::new();
    let mut cache: HashMap<usize, Option<SiteKey>> = HashMap::new();
    for sample in &profile.samples {
        summary.samples += 1;
        let bytes = sample.size;
        let objects = bytes / object_size(bytes, interval);
        let Some(&leaf) = index.get(&sample.node_id) else {
            summary.runtime_bytes += bytes;
            continue;
        };
        let key =
            cache.entry(leaf).or_insert_with(|| site_key(leaf, &frames, &parent, mapper)).clone();
        let Some(key) = key else {
            summary.runtime_bytes += bytes;
            continue;
        };
        summary.bytes += bytes;
        let g = groups.entry(key.site).or_insert_with(|| Group { leaf, ..Group::default() });
        g.objects += objects;
        g.bytes += bytes;
        g.samples += 1;
        // The stack, library frame and runtime call shown are those of the most bytes.
        let way = g.ways.entry((key.library, key.via)).or_insert((0.0, leaf));
        way.0 += bytes;
    }
    let per = |v: f64| if requests > 0 { v / requests as f64 } else { 0.0 };
    let total = summary.bytes;
    let mut sites: Vec<AllocationSite> = groups
        .into_iter()
        .map(|(site, g)| {
            // A registration (a timer, a listener) holds whatever else the site allocated:
            // it wins over the way of the most bytes. Then a library: what the site's own
            // code allocated is at the site's line already, what it allocated inside a
            // library (a cache's tables) is not.
            let rank = |way: &(Option<LibraryFrame>, Option<String>), bytes: f64| {
                let registers = way.1.as_deref().is_some_and(is_registration);
                (registers, way.0.is_some(), bytes)
            };
            let mut registers: Vec<(&String, f64)> = g
                .ways
                .iter()
                .filter_map(|((_, via), (bytes, _))| {
                    via.as_ref().filter(|v| is_registration(v)).map(|v| (v, *bytes))
                })
                .collect();
            registers.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            let mut registers: Vec<String> =
                registers.into_iter().map(|(v, _)| v.clone()).collect();
            registers.dedup();
            let ((library, via), leaf) = g
                .ways
                .into_iter()
                .max_by(|a, b| {
                    let (ra, rb) = (rank(&a.0, a.1.0), rank(&b.0, b.1.0));
                    ra.0.cmp(&rb.0).then(ra.1.cmp(&rb.1)).then(ra.2.total_cmp(&rb.2))
                })
                .map(|(way, (_, leaf))| (way, leaf))
                .unwrap_or(((None, None), g.leaf));
            (site, library, via, registers, leaf, g.objects, g.bytes, g.samples)
        })
        .map(|(site, library, via, registers, leaf, objects, bytes, samples)| AllocationSite {
            site,
            library,
            via,
            registers,
            stack: stack_of(leaf, &frames, &parent, mapper),
            objects,
            bytes,
            objects_per_request: per(objects),
            bytes_per_request: per(bytes),
            share: if total > 0.0 { bytes / total } else { 0.0 },
            samples,
        })
        .filter(|s| s.share >= MIN_SITE_SHARE)
        .collect();
    sites.sort_by(|a, b| {
        b.bytes
            .total_cmp(&a.bytes)
            .then_with(|| a.site.file.cmp(&b.site.file))
            .then_with(|| a.site.line.cmp(&b.site.line))
    });
    sites.truncate(MAX_SITES);
    summary.sites = sites;
    summary
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SiteKey {
    site: CodeLocation,
    library: Option<LibraryFrame>,
    via: Option<String>,
}

impl Eq for LibraryFrame {}
impl std::hash::Hash for LibraryFrame {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.package.hash(state);
        self.frame.hash(state);
    }
}

#[derive(Default)]
struct Group {
    leaf: usize,
    objects: f64,
    bytes: f64,
    samples: u64,
    /// Bytes and a stack per (library frame, runtime call) through which the site allocated.
    ways: HashMap<(Option<LibraryFrame>, Option<String>), (f64, usize)>,
}

/// Runtime functions that register a callback the runtime then holds: a timer or a listener.
pub fn is_registration(function: &str) -> bool {
    is_timer_registration(function) || is_listener_registration(function)
}

/// Runtime functions that start a timer.
pub fn is_timer_registration(function: &str) -> bool {
    matches!(function, "setInterval" | "setTimeout" | "setImmediate")
}

/// Runtime functions that add a listener to an emitter or an event target.
pub fn is_listener_registration(function: &str) -> bool {
    matches!(
        function,
        "addListener"
            | "on"
            | "once"
            | "prependListener"
            | "prependOnceListener"
            | "_addListener"
            | "addEventListener"
    )
}

/// The size `s` of an object whose sample stands for `scaled` bytes at `interval`: the
/// inverse of `s / (1 - e^(-s/interval))`, which grows with `s` from `interval` (at 0) towards
/// `s`; found by bisection.
pub fn object_size(scaled: f64, interval: f64) -> f64 {
    let scale = |s: f64| s / -(-s / interval).exp_m1();
    if scaled <= interval {
        return 1.0;
    }
    let (mut lo, mut hi) = (0.0f64, scaled);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if scale(mid) < scaled { lo = mid } else { hi = mid }
    }
    ((lo + hi) / 2.0).max(1.0)
}

/// The frames of the stack ending at `leaf`, allocating frame first, without V8's synthetic
/// `(root)` frame.
fn chain<'a>(leaf: usize, frames: &[&'a CallFrame], parent: &[usize]) -> Vec<&'a CallFrame> {
    let mut out = Vec::new();
    let mut at = leaf;
    while at != usize::MAX {
        let f = frames[at];
        if !(f.url.is_empty() && f.function_name.starts_with('(')) {
            out.push(f);
        }
        at = parent[at];
    }
    out
}

/// The site of the stack ending at `leaf`, or `None` when it has no JavaScript frame of the
/// service or a library (V8's own allocations, runtime internals alone).
fn site_key(
    leaf: usize,
    frames: &[&CallFrame],
    parent: &[usize],
    mapper: &dyn FrameMapper,
) -> Option<SiteKey> {
    let chain = chain(leaf, frames, parent);
    // Whose code a frame is follows its original file: a bundle mixes the service's code
    // with its libraries'.
    let locations: Vec<CodeLocation> = chain.iter().map(|f| location(f, mapper)).collect();
    let owners: Vec<Owner> = chain
        .iter()
        .zip(&locations)
        .map(|(f, l)| if f.url.is_empty() { Owner::Runtime } else { owner(&l.file) })
        .collect();
    let user = owners.iter().position(|o| *o == Owner::User);
    let library = owners.iter().position(|o| matches!(o, Owner::Library(_)));
    let (site_at, library) = match (user, library) {
        (Some(u), Some(l)) if l < u => (u, Some(l)),
        (Some(u), _) => (u, None),
        (None, Some(l)) => (l, None),
        (None, None) => return None,
    };
    // The runtime function the site called: the runtime frame just below it, when the
    // allocation happened in the runtime.
    let via = (site_at > 0 && owners[site_at - 1] == Owner::Runtime && library.is_none())
        .then(|| display_name(chain[site_at - 1]))
        .filter(|name| name != "(anonymous)");
    let library = library.map(|l| LibraryFrame {
        package: match &owners[l] {
            Owner::Library(name) => name.clone(),
            _ => unreachable!("a library frame"),
        },
        frame: locations[l].clone(),
    });
    Some(SiteKey { site: locations[site_at].clone(), library, via })
}

fn stack_of(
    leaf: usize,
    frames: &[&CallFrame],
    parent: &[usize],
    mapper: &dyn FrameMapper,
) -> Vec<CodeLocation> {
    chain(leaf, frames, parent)
        .into_iter()
        .take(STACK_FRAMES)
        .map(|f| location(f, mapper))
        .collect()
}

fn display_name(f: &CallFrame) -> String {
    if f.function_name.is_empty() { "(anonymous)".to_owned() } else { f.function_name.clone() }
}

/// The frame as a location people read: the original source when a map covers it.
pub fn location(f: &CallFrame, mapper: &dyn FrameMapper) -> CodeLocation {
    let (line, column) = (f.line_number.max(-1) + 1, f.column_number.max(-1) + 1);
    let generated = CodeLocation {
        function: display_name(f),
        file: file_of(&f.url),
        line: line as u32,
        column: column as u32,
        generated: None,
    };
    match mapper.original(f) {
        Some(o) => CodeLocation {
            function: match (&o.name, f.function_name.is_empty()) {
                (Some(name), true) => name.clone(),
                _ => generated.function.clone(),
            },
            file: file_of(&o.file),
            line: o.line + 1,
            column: o.column + 1,
            generated: Some(format!("{}:{}:{}", generated.file, line, column)),
        },
        None => generated,
    }
}

/// A script URL as a file: `file:///a/b.js` becomes `/a/b.js` (percent escapes decoded);
/// anything else stays as it is.
pub fn file_of(url: &str) -> String {
    match url.strip_prefix("file://") {
        Some(path) => percent_decode(path),
        None => url.to_owned(),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        if bytes[i] == b'%'
            && let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the inspector reports for one sampled object of `size` bytes at 1 KiB.
    fn scaled(size: f64) -> f64 {
        size / (1.0 - (-size / 1024.0).exp())
    }

    #[test]
    fn object_sizes_are_recovered_from_scaled_samples() {
        for size in [8.0, 56.0, 120.0, 1000.0, 70_000.0] {
            assert!((object_size(scaled(size), 1024.0) - size).abs() < 1e-6 * size.max(1.0));
        }
    }

    fn frame(name: &str, url: &str, line: i64) -> serde_json::Value {
        json!({"functionName": name, "scriptId": "1", "url": url, "lineNumber": line, "columnNumber": 4})
    }

    /// (root) -> handler (user) -> watch (user) -> setInterval (node:timers) -> Timeout
    /// (node:internal/timers); and (root) -> handler -> memoize (node_modules) -> cache.set.
    fn profile() -> SamplingProfile {
        let p = json!({
            "head": {"callFrame": frame("(root)", "", -1), "id": 1, "children": [
                {"callFrame": frame("", "file:///srv/app.js", 194), "id": 2, "children": [
                    {"callFrame": frame("watchHeartbeat", "file:///srv/app.js", 79), "id": 3, "children": [
                        {"callFrame": frame("setInterval", "node:timers", 200), "id": 4, "children": [
                            {"callFrame": frame("Timeout", "node:internal/timers", 160), "id": 5, "children": []}
                        ]}
                    ]},
                    {"callFrame": frame("memoized", "file:///srv/node_modules/@acme/memo/index.js", 9), "id": 6, "children": [
                        {"callFrame": frame("set", "file:///srv/node_modules/@acme/memo/lru.js", 30), "id": 7, "children": []}
                    ]}
                ]},
                {"callFrame": frame("(V8 API)", "", -1), "id": 8, "children": []}
            ]},
            "samples": [
                {"size": scaled(120.0), "nodeId": 5, "ordinal": 1},
                {"size": scaled(120.0), "nodeId": 5, "ordinal": 2},
                {"size": scaled(64.0), "nodeId": 7, "ordinal": 3},
                {"size": scaled(4000.0), "nodeId": 8, "ordinal": 4}
            ]
        });
        serde_json::from_value(p).unwrap()
    }

    #[test]
    fn owners_of_urls() {
        assert_eq!(owner("file:///srv/app.js"), Owner::User);
        assert_eq!(owner("node:internal/timers"), Owner::Runtime);
        assert_eq!(owner("ext:deno_http/00_serve.ts"), Owner::Runtime);
        assert_eq!(owner(""), Owner::Runtime);
        assert_eq!(
            owner("/a/node_modules/express/lib/router.js"),
            Owner::Library("express".into())
        );
        assert_eq!(
            owner("file:///a/node_modules/x/node_modules/@s/p/i.js"),
            Owner::Library("@s/p".into())
        );
    }

    #[test]
    fn timers_are_named_by_the_function_that_registered_them() {
        let s = sampled_sites(&profile(), 1024, 100, &NoMaps);
        assert_eq!(s.samples, 4);
        let timer = &s.sites[0];
        assert_eq!(timer.site.function, "watchHeartbeat");
        assert_eq!(
            (timer.site.file.as_str(), timer.site.line, timer.site.column),
            ("/srv/app.js", 80, 5)
        );
        assert_eq!(timer.via.as_deref(), Some("setInterval"));
        assert_eq!(timer.samples, 2);
        assert_eq!(timer.stack[0].function, "Timeout");
        assert_eq!(timer.stack.len(), 4, "(root) is not a frame");
        // Two samples of 120 B at 1 KiB stand for 2 / (1 - e^(-120/1024)) objects.
        let expected = 2.0 / (1.0 - (-120.0f64 / 1024.0).exp());
        assert!((timer.objects - expected).abs() < 1e-6);
        assert!((timer.bytes_per_request - expected * 120.0 / 100.0).abs() < 1e-6);
    }

    #[test]
    fn a_library_frame_comes_with_the_user_frame_that_called_it() {
        let s = sampled_sites(&profile(), 1024, 100, &NoMaps);
        let lib = s.sites.iter().find(|x| x.library.is_some()).unwrap();
        assert_eq!(lib.site.function, "(anonymous)");
        assert_eq!(lib.site.line, 195);
        let l = lib.library.as_ref().unwrap();
        assert_eq!(l.package, "@acme/memo");
        assert_eq!(l.frame.function, "set");
        assert_eq!(lib.via, None);
    }

    #[test]
    fn one_function_allocating_directly_and_through_the_runtime_is_one_site() {
        let mut p = profile();
        // watchHeartbeat also allocates its closure itself (node 3).
        p.samples.push(Sample { size: scaled(56.0), node_id: 3 });
        let s = sampled_sites(&p, 1024, 100, &NoMaps);
        let timer = &s.sites[0];
        assert_eq!(timer.site.function, "watchHeartbeat");
        assert_eq!(timer.samples, 3);
        assert_eq!(timer.via.as_deref(), Some("setInterval"), "the way of the most bytes");
    }

    #[test]
    fn a_library_way_is_shown_even_when_the_site_allocated_more_itself() {
        let mut p = profile();
        // The handler builds a large object itself (node 2) and stores it in the library's
        // cache (nodes 6 and 7): the cache's tables are what the line does not show.
        p.samples.push(Sample { size: scaled(4000.0), node_id: 2 });
        let s = sampled_sites(&p, 1024, 100, &NoMaps);
        let handler = s.sites.iter().find(|x| x.site.line == 195).unwrap();
        assert_eq!(handler.samples, 2);
        assert_eq!(handler.library.as_ref().map(|l| l.package.as_str()), Some("@acme/memo"));
    }

    #[test]
    fn every_registration_of_a_site_is_listed() {
        let mut p = profile();
        // The handler adds a listener (addListener -> _addListener, the listener array grows)
        // and sets a timeout.
        let events = |id, name: &str, line, children| json!({"callFrame": frame(name, "node:events", line), "id": id, "children": children});
        let listener =
            events(9, "addListener", 580, json!([events(10, "_addListener", 540, json!([]))]));
        let timeout =
            json!({"callFrame": frame("setTimeout", "node:timers", 138), "id": 11, "children": []});
        p.head.children[0].children.push(serde_json::from_value(listener).unwrap());
        p.head.children[0].children.push(serde_json::from_value(timeout).unwrap());
        p.samples.push(Sample { size: scaled(2000.0), node_id: 10 });
        p.samples.push(Sample { size: scaled(100.0), node_id: 11 });
        let s = sampled_sites(&p, 1024, 100, &NoMaps);
        let handler = s.sites.iter().find(|x| x.site.line == 195).unwrap();
        assert_eq!(handler.registers, ["addListener", "setTimeout"]);
        assert_eq!(handler.via.as_deref(), Some("addListener"));
    }

    #[test]
    fn v8s_own_allocations_are_not_sites() {
        let s = sampled_sites(&profile(), 1024, 100, &NoMaps);
        assert_eq!(s.sites.len(), 2);
        assert!(s.runtime_bytes > 4000.0);
        let shares: f64 = s.sites.iter().map(|x| x.share).sum();
        assert!((shares - 1.0).abs() < 1e-9);
    }

    struct Shift;
    impl FrameMapper for Shift {
        fn original(&self, f: &CallFrame) -> Option<Original> {
            (f.url.ends_with("app.js")).then(|| Original {
                file: "file:///srv/src/app.ts".into(),
                line: f.line_number as u32 + 10,
                column: 0,
                name: Some("mapped".into()),
            })
        }
    }

    #[test]
    fn mapped_frames_name_the_original_file_and_keep_the_generated_one() {
        let s = sampled_sites(&profile(), 1024, 100, &Shift);
        let timer = &s.sites[0];
        assert_eq!(timer.site.file, "/srv/src/app.ts");
        assert_eq!(timer.site.line, 90);
        assert_eq!(timer.site.function, "watchHeartbeat", "a named function keeps its name");
        assert_eq!(timer.site.generated.as_deref(), Some("/srv/app.js:80:5"));
        let anon = s.sites.iter().find(|x| x.library.is_some()).unwrap();
        assert_eq!(anon.site.function, "mapped", "an anonymous one takes the map's name");
    }

    #[test]
    fn file_urls_become_paths() {
        assert_eq!(file_of("file:///a%20b/c.js"), "/a b/c.js");
        assert_eq!(file_of("node:events"), "node:events");
    }

    #[test]
    fn no_samples_no_sites() {
        let mut p = profile();
        p.samples.clear();
        let s = sampled_sites(&p, 1024, 0, &NoMaps);
        assert!(s.sites.is_empty());
        assert_eq!(s.bytes, 0.0);
    }
}
