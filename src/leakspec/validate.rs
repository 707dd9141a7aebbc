//! From the raw spec to the validated model: parses sizes, durations and runtimes, checks every
//! value (counts in range, names unique, paths and methods well-formed, `{port}` spelt right) and
//! collects every problem with its span.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use toml::Spanned;

use super::error::{Source, SpecError, did_you_mean};
use super::model::{
    Allocations, Ignored, Requests, Route, Runtime, Settings, Spec, Target, Worker,
};
use super::raw::{
    RawBudget, RawCount, RawDefaults, RawIgnored, RawRate, RawRoute, RawSize, RawSpec, RawTarget,
};
use super::units::{ByteSize, BytesPerRequest, UnitError, parse_duration};

/// The one placeholder leakcheck fills, in `command`, `env` and `url`.
pub const PORT_PLACEHOLDER: &str = "{port}";

/// The most requests a rung (`requests`, `--requests`) or a warm-up (`warmup`, `--warmup`) may
/// take: 100 million, about an hour at leakcheck's rate against a trivial service. More is
/// taken for a typo (an extra `000`), not a plan; leakcheck's memory per request is bounded
/// either way.
pub const MAX_REQUESTS: u64 = 100_000_000;
/// The most requests in flight at once (`concurrency`, `--concurrency`).
pub const MAX_CONCURRENCY: u64 = 10_000;
/// The most load intervals (`rungs`, `max_rungs` and their flags).
pub const MAX_RUNGS: u64 = 50;

mod budget;

use budget::{budget, budget_chain};

pub(super) struct Cx<'a> {
    source: Source<'a>,
    errors: Vec<SpecError>,
}

impl Cx<'_> {
    pub(super) fn error(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> &mut SpecError {
        let error = SpecError::at(&self.source, span, message);
        self.errors.push(error);
        self.errors.last_mut().expect("just pushed")
    }

    pub(super) fn line(&self, offset: usize) -> usize {
        self.source.text[..offset.min(self.source.text.len())].matches('\n').count() + 1
    }

    /// 1-based column (in characters) of a byte offset.
    pub(super) fn column(&self, offset: usize) -> usize {
        let before = &self.source.text[..offset.min(self.source.text.len())];
        before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1
    }

    /// The span of a table's header line (`[[target]]`), for errors about the whole table.
    pub(super) fn header(&self, span: Range<usize>) -> Range<usize> {
        let text = &self.source.text[span.clone()];
        span.start..text.find('\n').map_or(span.end, |i| span.start + i)
    }

    pub(super) fn count(
        &mut self,
        value: Option<&Spanned<i64>>,
        key: &str,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let value = value?;
        let n = *value.get_ref();
        if n < min {
            let error =
                self.error(value.span(), format!("`{key}` must be at least {min}, found {n}"));
            if key == "rungs" || key == "max_rungs" {
                error.help =
                    Some("it takes two load intervals to tell steady growth from a one-off".into());
            }
            None
        } else if n > max {
            let error =
                self.error(value.span(), format!("`{key}` must be at most {max}, found {n}"));
            if key == "requests" || key == "warmup" {
                error.help = Some(format!(
                    "{} requests would take hours; a leak shows in thousands",
                    crate::format::thousands(n as u64)
                ));
            }
            None
        } else {
            Some(n)
        }
    }

    fn unit<T>(&mut self, span: Range<usize>, parsed: Result<T, UnitError>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(e) => {
                let error = self.error(span, e.message);
                error.help = e.help;
                None
            }
        }
    }

    fn duration(&mut self, value: Option<&Spanned<String>>) -> Option<Duration> {
        let value = value?;
        self.unit(value.span(), parse_duration(value.get_ref()))
    }

    fn size(&mut self, value: Option<&Spanned<RawSize>>, key: &str) -> Option<ByteSize> {
        let value = value?;
        match value.get_ref() {
            RawSize::Text(text) => self.unit(value.span(), ByteSize::from_str(text)),
            RawSize::Bytes(n) => match u64::try_from(*n) {
                Ok(n) => Some(ByteSize::new(n)),
                Err(_) => {
                    self.error(value.span(), format!("`{key}` can't be negative"));
                    None
                }
            },
        }
    }

    fn rate(&mut self, value: Option<&Spanned<RawRate>>, key: &str) -> Option<BytesPerRequest> {
        let value = value?;
        let parsed = match value.get_ref() {
            RawRate::Text(text) => BytesPerRequest::from_str(text),
            RawRate::Bytes(n) => BytesPerRequest::new(*n)
                .ok_or_else(|| UnitError { message: not_a_rate(key, *n), help: None }),
        };
        self.unit(value.span(), parsed)
    }

    /// `ignored = true | false | "reason"`; a reason must say something.
    fn ignored(&mut self, value: Option<&Spanned<RawIgnored>>) -> Option<Ignored> {
        let value = value?;
        Some(match value.get_ref() {
            RawIgnored::Flag(false) => Ignored::No,
            RawIgnored::Flag(true) => Ignored::Yes { reason: None },
            RawIgnored::Text(reason) if reason.trim().is_empty() => {
                self.error(value.span(), "`ignored` holds an empty reason").help =
                    Some("write `ignored = true`, or say why the route is left out".into());
                Ignored::Yes { reason: None }
            }
            RawIgnored::Text(reason) => Ignored::Yes { reason: Some(reason.trim().to_owned()) },
        })
    }

    /// A name used in reports, file names and `--target`/`--route` filters.
    fn name(&mut self, value: &Spanned<String>, what: &str) -> String {
        let name = value.get_ref();
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if name.is_empty() {
            self.error(value.span(), format!("{what} name is empty"));
        } else if !name.chars().all(valid) {
            let slug = name
                .split(|c: char| !valid(c))
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join("-");
            self.error(
                value.span(),
                format!("{what} name `{name}` may only hold letters, digits, `-`, `_` and `.`"),
            )
            .help = Some(format!(
                "names become file names and filter arguments; write e.g. `name = \"{slug}\"`"
            ));
        }
        name.clone()
    }

    /// Checks the `{...}` placeholders and `$PORT` in a string: `{port}` where it is replaced,
    /// nothing that looks like a misspelling of it.
    fn placeholders(&mut self, value: &Spanned<String>, port_allowed: bool) {
        let text = value.get_ref();
        for (open, _) in text.match_indices('{') {
            let Some(len) = text[open + 1..].find('}') else {
                continue;
            };
            let inner = &text[open + 1..open + 1 + len];
            let word = inner.trim();
            if word.is_empty() || !word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue; // Not a placeholder: `{}`, JSON, JavaScript...
            }
            let found = &text[open..open + len + 2];
            let span = self.sub_span(value, found);
            if inner == "port" {
                if !port_allowed {
                    self.error(span, "`{port}` is only replaced in `command`, `env` and `url`");
                }
            } else if strsim::osa_distance(&word.to_ascii_lowercase(), "port") <= 1 {
                self.error(span, format!("unknown placeholder `{found}`")).help =
                    Some(if port_allowed {
                        "did you mean `{port}`?".into()
                    } else {
                        "`{port}` is only replaced in `command`, `env` and `url`".into()
                    });
            }
        }
        for shell in ["${PORT}", "$PORT"] {
            if let Some(at) = text.find(shell) {
                let span = self.sub_span(value, &text[at..at + shell.len()]);
                self.error(span, format!("`{shell}` is not expanded: no shell runs here")).help =
                    Some("write `{port}` for the port leakcheck picks".into());
                break;
            }
        }
    }

    /// A method as written: upper-cased when standard, checked to be one word otherwise.
    pub(super) fn method(&mut self, method: &Spanned<String>) -> String {
        let text = method.get_ref();
        let upper = text.to_ascii_uppercase();
        if METHODS.contains(&upper.as_str()) {
            return upper;
        }
        if !is_token(text) {
            self.error(method.span(), format!("`{text}` is not an HTTP method")).help =
                Some(match did_you_mean(&upper, METHODS.iter().copied()) {
                    Some(m) => format!("did you mean `{m}`?"),
                    None => "a method is one word of letters, e.g. `GET` or `POST`".into(),
                });
        }
        text.clone()
    }

    /// A route's or step's `path`, `websocket` or `sse`: starts with `/`, no spaces.
    pub(super) fn check_path_text(&mut self, path: &Spanned<String>, key: &str) {
        let text = path.get_ref();
        if !text.starts_with('/') {
            let error =
                self.error(path.span(), format!("`{key}` must start with `/`, found `{text}`"));
            error.help = Some(
                if text.starts_with("http://")
                    || text.starts_with("https://")
                    || text.starts_with("ws://")
                {
                    "give the path only; the target's `url` says where the service is".into()
                } else {
                    format!("write `{key} = \"/{}\"`", text.trim_start_matches('/'))
                },
            );
        } else if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.error(path.span(), format!("`{key}` can't hold spaces or control characters"))
                .help = Some("percent-encode them, e.g. `%20` for a space".into());
        }
    }

    /// The span of `needle` inside the value at `span`, or all of it.
    pub(super) fn sub_span_str(&self, span: Range<usize>, needle: &str) -> Range<usize> {
        match self.source.text[span.clone()].find(needle) {
            Some(at) => span.start + at..span.start + at + needle.len(),
            None => span,
        }
    }

    /// The span of `needle` inside a string value, or the whole value when escapes make the
    /// source differ from the string.
    pub(super) fn sub_span(&self, value: &Spanned<String>, needle: &str) -> Range<usize> {
        let span = value.span();
        match self.source.text[span.clone()].find(needle) {
            Some(at) => span.start + at..span.start + at + needle.len(),
            None => span,
        }
    }
}

/// Why a number is no rate: negative, or not a number at all (`nan`, `inf`).
fn not_a_rate(key: &str, value: f64) -> String {
    if value.is_finite() {
        format!("`{key}` can't be negative")
    } else {
        format!("`{key}` must be a finite number, found `{value}`")
    }
}

/// Validates a raw spec; every problem found is returned.
pub(crate) fn validate(
    source: Source<'_>,
    raw: RawSpec,
    dir: PathBuf,
) -> Result<Spec, Vec<SpecError>> {
    let mut cx = Cx { source, errors: Vec::new() };
    let defaults = defaults_settings(&mut cx, &raw.defaults);
    if raw.target.is_empty() {
        cx.errors.push(
            SpecError::whole_file(source.path, "no targets").with_help(
                "add a `[[target]]` with a `name`, a `command` and a `[[target.route]]`",
            ),
        );
    }
    let mut targets: Vec<Target> = Vec::new();
    let mut target_lines: BTreeMap<String, usize> = BTreeMap::new();
    for raw_target in &raw.target {
        let target = target(&mut cx, raw_target);
        if let Some(first) = target_lines.get(&target.name) {
            let first = *first;
            cx.error(
                raw_target.get_ref().name.span(),
                format!("duplicate target name `{}`", target.name),
            )
            .help = Some(format!("the first target of that name is on line {first}"));
        } else {
            target_lines.insert(target.name.clone(), target.line);
        }
        budget_chain(&mut cx, &raw.defaults.budget, raw_target.get_ref());
        targets.push(target);
    }
    if cx.errors.is_empty() {
        Ok(Spec { path: source.path.to_path_buf(), dir, defaults, targets })
    } else {
        Err(cx.errors)
    }
}

/// The inheritable settings of any level, borrowed from its raw table.
#[derive(Default)]
struct RawSettings<'a> {
    warmup: Option<&'a Spanned<RawCount>>,
    requests: Option<&'a Spanned<RawCount>>,
    concurrency: Option<&'a Spanned<i64>>,
    rungs: Option<&'a Spanned<i64>>,
    max_rungs: Option<&'a Spanned<i64>>,
    allocations: Option<&'a Spanned<String>>,
    ready_timeout: Option<&'a Spanned<String>>,
    request_timeout: Option<&'a Spanned<String>>,
    snapshot_timeout: Option<&'a Spanned<String>>,
    shutdown_timeout: Option<&'a Spanned<String>>,
    budget: Option<&'a RawBudget>,
}

fn defaults_settings(cx: &mut Cx<'_>, raw: &RawDefaults) -> Settings {
    settings(
        cx,
        RawSettings {
            warmup: raw.warmup.as_ref(),
            requests: raw.requests.as_ref(),
            concurrency: raw.concurrency.as_ref(),
            rungs: raw.rungs.as_ref(),
            max_rungs: raw.max_rungs.as_ref(),
            allocations: raw.allocations.as_ref(),
            ready_timeout: raw.ready_timeout.as_ref(),
            request_timeout: raw.request_timeout.as_ref(),
            snapshot_timeout: raw.snapshot_timeout.as_ref(),
            shutdown_timeout: raw.shutdown_timeout.as_ref(),
            budget: Some(&raw.budget),
        },
    )
}

fn settings(cx: &mut Cx<'_>, raw: RawSettings<'_>) -> Settings {
    let rungs = cx.count(raw.rungs, "rungs", 2, MAX_RUNGS as i64);
    let max_rungs = cx.count(raw.max_rungs, "max_rungs", 2, MAX_RUNGS as i64);
    if let (Some(rungs), Some(max), Some(span)) = (rungs, max_rungs, raw.max_rungs)
        && max < rungs
    {
        cx.error(span.span(), format!("`max_rungs` ({max}) is less than `rungs` ({rungs})")).help =
            Some(format!(
                "`max_rungs` counts all load intervals, extra ones included: write `max_rungs = {rungs}` for no extra rungs"
            ));
    }
    Settings {
        warmup: raw.warmup.and_then(|v| requests(cx, v, "warmup", 0)),
        requests: raw.requests.and_then(|v| requests(cx, v, "requests", 1)),
        concurrency: cx
            .count(raw.concurrency, "concurrency", 1, MAX_CONCURRENCY as i64)
            .map(|n| n as usize),
        rungs: rungs.map(|n| n as u32),
        max_rungs: max_rungs.map(|n| n as u32),
        allocations: raw.allocations.and_then(|v| allocations(cx, v)),
        ready_timeout: cx.duration(raw.ready_timeout),
        request_timeout: cx.duration(raw.request_timeout),
        snapshot_timeout: cx.duration(raw.snapshot_timeout),
        shutdown_timeout: cx.duration(raw.shutdown_timeout),
        budget: raw.budget.map(|b| budget(cx, b)).unwrap_or_default(),
    }
}

/// `requests` or `warmup` (`key`): a whole number from `min`, or `"auto"`.
fn requests(cx: &mut Cx<'_>, value: &Spanned<RawCount>, key: &str, min: i64) -> Option<Requests> {
    match value.get_ref() {
        RawCount::Number(n) => {
            let n = Spanned::new(value.span(), *n);
            cx.count(Some(&n), key, min, MAX_REQUESTS as i64).map(|n| Requests::Fixed(n as u64))
        }
        RawCount::Text(text) if text.trim() == "auto" => Some(Requests::Auto),
        RawCount::Text(text) => {
            cx.error(
                value.span(),
                format!("`{key}` must be a whole number or \"auto\", found \"{text}\""),
            );
            None
        }
    }
}

fn allocations(cx: &mut Cx<'_>, value: &Spanned<String>) -> Option<Allocations> {
    let name = value.get_ref().as_str();
    if let Some(mode) = Allocations::from_name(name) {
        return Some(mode);
    }
    let error = cx.error(value.span(), format!("unknown allocations mode `{name}`"));
    error.help = Some(match did_you_mean(name, Allocations::NAMES.iter().copied()) {
        Some(mode) => format!("did you mean `{mode}`?"),
        None => "write \"sampling\" or \"off\"".to_owned(),
    });
    None
}

fn runtime(cx: &mut Cx<'_>, value: &Spanned<String>) -> Option<Runtime> {
    let supported = || {
        let names: Vec<String> = Runtime::SUPPORTED.iter().map(|r| format!("`{r}`")).collect();
        format!("supported runtimes: {}", names.join(", "))
    };
    match value.get_ref().as_str() {
        "node" => Some(Runtime::Node),
        "deno" => Some(Runtime::Deno),
        "workerd" => Some(Runtime::Workerd),
        "wrangler" => Some(Runtime::Wrangler),
        planned if Runtime::PLANNED.contains(&planned) => {
            cx.error(value.span(), format!("runtime `{planned}` is not supported yet")).help =
                Some(supported());
            None
        }
        other => {
            let candidates = Runtime::SUPPORTED.iter().chain(Runtime::PLANNED).copied();
            let error = cx.error(value.span(), format!("unknown runtime `{other}`"));
            error.help = Some(match did_you_mean(other, candidates) {
                Some(name) if Runtime::SUPPORTED.contains(&name) => {
                    format!("did you mean `{name}`?")
                }
                _ => supported(),
            });
            None
        }
    }
}

/// The workerd keys (`main`, `compatibility_date`, ...): checked against the runtime, which
/// needs either `main` or `config`.
fn worker(
    cx: &mut Cx<'_>,
    raw: &RawTarget,
    runtime: Option<Runtime>,
    header: Range<usize>,
) -> Worker {
    let mut worker = Worker::default();
    let written: Vec<(&str, Range<usize>)> = [
        ("main", raw.main.as_ref().map(|v| v.span())),
        ("compatibility_date", raw.compatibility_date.as_ref().map(|v| v.span())),
        ("compatibility_flags", raw.compatibility_flags.as_ref().map(|v| v.span())),
        ("bindings", raw.bindings.keys().next().map(|k| k.span())),
        ("config", raw.config.as_ref().map(|v| v.span())),
        ("service", raw.service.as_ref().map(|v| v.span())),
    ]
    .into_iter()
    .filter_map(|(key, span)| span.map(|s| (key, s)))
    .collect();
    let Some(Runtime::Workerd) = runtime else {
        for (key, span) in written {
            let help = match runtime {
                Some(Runtime::Wrangler) => {
                    "`wrangler dev` reads it from your wrangler.toml; set it there".to_owned()
                }
                _ => "set `runtime = \"workerd\"` to have leakcheck start workerd".to_owned(),
            };
            cx.error(span, format!("`{key}` only applies to `runtime = \"workerd\"`")).help =
                Some(help);
        }
        return worker;
    };
    let path = |cx: &mut Cx<'_>, value: &Spanned<String>, key: &str| {
        if value.get_ref().trim().is_empty() {
            cx.error(value.span(), format!("`{key}` is empty"));
        }
        PathBuf::from(value.get_ref())
    };
    worker.main = raw.main.as_ref().map(|m| path(cx, m, "main"));
    worker.config = raw.config.as_ref().map(|c| path(cx, c, "config"));
    match (&raw.main, &raw.config) {
        (None, None) => {
            cx.error(header, "`runtime = \"workerd\"` needs `main` or `config`").help = Some(
                "give the worker's entry module, e.g. `main = \"src/index.js\"` with `compatibility_date = \"2024-09-23\"`, or your own `config = \"config.capnp\"`".into(),
            );
        }
        (Some(_), Some(config)) => {
            cx.error(config.span(), "`main` and `config` can't both be set").help = Some(
                "leakcheck generates the config from `main`; with your own `config.capnp`, leave `main` out".into(),
            );
        }
        _ => {}
    }
    let main_only = |cx: &mut Cx<'_>, key: &str, span: Range<usize>| {
        cx.error(span, format!("`{key}` only applies with `main`")).help =
            Some("with your own `config`, set it in the config".into());
    };
    if let Some(date) = &raw.compatibility_date {
        let d = date.get_ref();
        let well_formed = d.len() == 10
            && d.char_indices()
                .all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() });
        if !well_formed {
            cx.error(
                date.span(),
                format!("`compatibility_date` must be a date like \"2024-09-23\", found `{d}`"),
            );
        }
        if raw.main.is_none() {
            main_only(cx, "compatibility_date", date.span());
        }
        worker.compatibility_date = Some(d.clone());
    } else if let Some(main) = &raw.main {
        cx.error(main.span(), "`main` needs a `compatibility_date`").help = Some(
            "add e.g. `compatibility_date = \"2024-09-23\"` (the one in your wrangler.toml)".into(),
        );
    }
    if let Some(flags) = &raw.compatibility_flags {
        if raw.main.is_none() {
            main_only(cx, "compatibility_flags", flags.span());
        }
        worker.compatibility_flags = flags.get_ref().iter().map(|f| f.get_ref().clone()).collect();
    }
    for (name, value) in &raw.bindings {
        if raw.main.is_none() {
            main_only(cx, "bindings", name.span());
            break;
        }
        let n = name.get_ref();
        let valid = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            cx.error(name.span(), format!("`{n}` is not a valid binding name")).help =
                Some("binding names are JavaScript identifiers: letters, digits and `_`".into());
        }
        worker.bindings.insert(n.clone(), value.get_ref().clone());
    }
    if let Some(service) = &raw.service {
        if raw.config.is_none() {
            cx.error(service.span(), "`service` only applies with `config`").help =
                Some("the config leakcheck generates from `main` has one service".into());
        }
        worker.service = Some(service.get_ref().clone());
    }
    worker
}

fn target(cx: &mut Cx<'_>, spanned: &Spanned<RawTarget>) -> Target {
    let raw = spanned.get_ref();
    let name = cx.name(&raw.name, "target");
    let runtime = raw.runtime.as_ref().and_then(|r| runtime(cx, r));

    let header = cx.header(spanned.span());
    let worker = worker(cx, raw, runtime, header);
    // The shape check has required `command` unless the runtime starts its own.
    let no_command = Vec::new();
    let command = raw.command.as_ref().map_or(&no_command, |c| c.get_ref());
    if let Some(written) = &raw.command
        && command.is_empty()
    {
        cx.error(written.span(), "`command` is empty").help = Some(
            "give the program and its arguments, e.g. `command = [\"node\", \"server.js\"]`".into(),
        );
    } else if command.is_empty() {
        // A Workers runtime without a command: leakcheck finds workerd or wrangler itself.
    } else if command[0].get_ref().trim().is_empty() {
        cx.error(command[0].span(), "the program in `command` is empty");
    } else {
        let program = command[0].get_ref();
        if program.contains(' ') && !program.contains(['/', '\\']) {
            let words: Vec<String> = program
                .split_whitespace()
                .chain(command[1..].iter().map(|a| a.get_ref().as_str()))
                .map(|w| format!("{w:?}"))
                .collect();
            cx.error(
                command[0].span(),
                format!("no program is named `{program}`: `command` runs without a shell"),
            )
            .help =
                Some(format!("give each argument separately: `command = [{}]`", words.join(", ")));
        }
    }
    for arg in command {
        cx.placeholders(arg, true);
        if is_inspect_flag(arg.get_ref()) {
            own_inspector(cx, arg.span(), arg.get_ref());
        }
    }

    let cwd = raw.cwd.as_ref().map(|cwd| {
        if cwd.get_ref().is_empty() {
            cx.error(cwd.span(), "`cwd` is empty").help =
                Some("leave it out to run in the spec file's folder".into());
        }
        PathBuf::from(cwd.get_ref())
    });

    let mut env = BTreeMap::new();
    for (key, value) in &raw.env {
        let k = key.get_ref();
        if k == "PORT" {
            cx.error(key.span(), "`PORT` is set by leakcheck")
                .help = Some("leakcheck picks a free port and exports it as `PORT`; use `{port}` to pass it elsewhere".into());
        } else if k.is_empty() || k.contains(['=', '\0']) {
            cx.error(key.span(), format!("invalid environment variable name `{k}`"));
        }
        if value.get_ref().contains('\0') {
            cx.error(value.span(), "environment values can't hold NUL bytes");
        }
        cx.placeholders(value, true);
        if k == "NODE_OPTIONS"
            && let Some(flag) = value.get_ref().split_whitespace().find(|w| is_inspect_flag(w))
        {
            let span = cx.sub_span(value, flag);
            own_inspector(cx, span, flag);
        }
        env.insert(k.clone(), value.get_ref().clone());
    }

    let url = raw.url.as_ref().map(|url| {
        let before = cx.errors.len();
        cx.placeholders(url, true);
        if cx.errors.len() == before {
            check_url(cx, url);
        }
        url.get_ref().trim_end_matches('/').to_owned()
    });
    let ready = raw.ready.as_ref().map(|ready| {
        check_path(cx, ready, "ready");
        ready.get_ref().clone()
    });
    let ignored = cx.ignored(raw.ignored.as_ref());

    let settings = settings(
        cx,
        RawSettings {
            warmup: raw.warmup.as_ref(),
            requests: raw.requests.as_ref(),
            concurrency: raw.concurrency.as_ref(),
            rungs: raw.rungs.as_ref(),
            max_rungs: raw.max_rungs.as_ref(),
            allocations: raw.allocations.as_ref(),
            ready_timeout: raw.ready_timeout.as_ref(),
            request_timeout: raw.request_timeout.as_ref(),
            snapshot_timeout: raw.snapshot_timeout.as_ref(),
            shutdown_timeout: raw.shutdown_timeout.as_ref(),
            budget: Some(&raw.budget),
        },
    );

    let line = cx.line(spanned.span().start);
    if raw.route.is_empty() {
        let header = cx.header(spanned.span());
        cx.error(header, format!("target `{name}` has no routes")).help =
            Some("add a `[[target.route]]` with a `name` and a `path`".into());
    }
    let (setup, setup_vars) = super::flows::setup(cx, raw);
    let mut routes: Vec<Route> = Vec::new();
    for raw_route in &raw.route {
        let route = route(cx, raw_route, &setup_vars);
        if let Some(first) = routes.iter().find(|r| r.name == route.name) {
            let first = first.line;
            cx.error(
                raw_route.get_ref().name.span(),
                format!("duplicate route name `{}` in target `{name}`", route.name),
            )
            .help = Some(format!("the first route of that name is on line {first}"));
        }
        routes.push(route);
    }

    Target {
        name,
        runtime,
        command: command.iter().map(|a| a.get_ref().clone()).collect(),
        worker,
        cwd,
        env,
        url,
        ready,
        ignored,
        settings,
        setup,
        routes,
        line,
        column: cx.column(spanned.span().start),
    }
}

fn check_url(cx: &mut Cx<'_>, url: &Spanned<String>) {
    let text = url.get_ref();
    if text.starts_with("https://") {
        cx.error(url.span(), "`https` URLs are not supported")
            .help = Some("leakcheck talks plain HTTP to the service it starts on this machine: write `http://127.0.0.1:{port}`".into());
        return;
    }
    if !text.starts_with("http://") {
        cx.error(url.span(), format!("`url` must start with `http://`, found `{text}`")).help =
            Some("write e.g. `url = \"http://127.0.0.1:{port}\"`".into());
        return;
    }
    match reqwest::Url::parse(&text.replace(PORT_PLACEHOLDER, "1")) {
        Ok(parsed) if parsed.query().is_some() || parsed.fragment().is_some() => {
            cx.error(url.span(), "`url` can't hold a query or fragment").help =
                Some("put the query in each route's `path`".into());
        }
        // Without a port the URL means port 80, where a service started by a user does not
        // listen (and which PORT does not say): readiness would poll it until the timeout.
        Ok(parsed) if !has_port(text) => {
            let host = parsed.host_str().unwrap_or("127.0.0.1");
            cx.error(url.span(), format!("`url` has no port: `{text}` means port 80")).help = Some(
                format!(
                    "write `http://{host}:{{port}}` for the free port leakcheck picks and exports as PORT, or the port your service listens on"
                ),
            );
        }
        Ok(_) => {}
        Err(e) => {
            cx.error(url.span(), format!("invalid `url`: {e}"));
        }
    }
}

/// True for Node's and Deno's flags that start or place an inspector (`--inspect`,
/// `--inspect=HOST:PORT`, `--inspect-brk`, `--inspect-wait`, `--inspect-port`).
pub fn is_inspect_flag(arg: &str) -> bool {
    let name = arg.split('=').next().unwrap_or(arg);
    matches!(name, "--inspect" | "--inspect-brk" | "--inspect-wait" | "--inspect-port")
}

/// The error for an inspector flag of the user's own: leakcheck starts the inspector itself,
/// on loopback, and a second one (on `0.0.0.0`, say) would expose the process and confuse
/// which inspector is the target's.
fn own_inspector(cx: &mut Cx<'_>, span: Range<usize>, flag: &str) {
    cx.error(span, format!("`{flag}`: leakcheck starts the inspector itself")).help = Some(
        "remove it: leakcheck adds `--inspect=127.0.0.1:0` (loopback, a free port) and connects to it; another inspector, on 0.0.0.0 especially, would be open to the network"
            .into(),
    );
}

/// True when an `http://` URL's authority names a port (`:80` included, which URL parsers
/// drop as the default).
fn has_port(url: &str) -> bool {
    let authority = url.trim_start_matches("http://").split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let after_ipv6 = host_port.rsplit_once(']').map_or(host_port, |(_, rest)| rest);
    after_ipv6.contains(':')
}

fn check_path(cx: &mut Cx<'_>, path: &Spanned<String>, key: &str) {
    let text = path.get_ref();
    if !text.starts_with('/') {
        let error = cx.error(path.span(), format!("`{key}` must start with `/`, found `{text}`"));
        error.help = Some(if text.starts_with("http://") || text.starts_with("https://") {
            "give the path only; the target's `url` says where the service is".into()
        } else {
            format!("write `{key} = \"/{}\"`", text.trim_start_matches('/'))
        });
    } else if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        cx.error(path.span(), format!("`{key}` can't hold spaces or control characters")).help =
            Some("percent-encode them, e.g. `%20` for a space".into());
    } else {
        cx.placeholders(path, false);
    }
}

/// `tchar` from RFC 9110: the characters of a method or a header name.
pub(super) fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"];

fn route(cx: &mut Cx<'_>, spanned: &Spanned<RawRoute>, setup_vars: &[String]) -> Route {
    let raw = spanned.get_ref();
    let name = cx.name(&raw.name, "route");
    let traffic = super::flows::route(cx, spanned, setup_vars);

    let settings = settings(
        cx,
        RawSettings {
            warmup: raw.warmup.as_ref(),
            requests: raw.requests.as_ref(),
            concurrency: raw.concurrency.as_ref(),
            rungs: raw.rungs.as_ref(),
            max_rungs: raw.max_rungs.as_ref(),
            allocations: raw.allocations.as_ref(),
            request_timeout: raw.request_timeout.as_ref(),
            budget: Some(&raw.budget),
            ..RawSettings::default()
        },
    );

    Route {
        name,
        method: traffic.method,
        path: traffic.path,
        headers: traffic.headers,
        body: traffic.body,
        traffic: traffic.traffic,
        ignored: cx.ignored(raw.ignored.as_ref()),
        settings,
        line: cx.line(spanned.span().start),
        column: cx.column(spanned.span().start),
    }
}
