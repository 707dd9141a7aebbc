//! Validation of what a route sends: the one shape it takes (`path`, `websocket`, `sse`,
//! `[[target.route.step]]` or `load`), its steps, templates, captures, aborts and expected
//! statuses, and the target's `[[target.setup]]`. Every placeholder must be known where it is
//! used: a `{NAME}` needs a capture in an earlier step (or the setup), a `{row.COLUMN}` a `data`
//! file.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;

use super::error::did_you_mean;
use super::model::Header;
use super::raw::{RawRoute, RawStatus, RawStep, RawTarget};
use super::template::{BUILTINS, Piece, Template};
use super::traffic::{
    Action, Capture, DataFile, Flow, LoadCommand, StatusSet, Step, Traffic, parse_abort,
    parse_capture,
};
use super::validate::{Cx, is_token};

/// What a validated route sends, and how reports show it.
pub(super) struct RouteTraffic {
    pub traffic: Traffic,
    pub method: Option<String>,
    pub path: String,
    pub headers: Vec<Header>,
    pub body: Option<String>,
}

/// The names `setup` captures, available to every route of the target.
pub(super) fn setup(cx: &mut Cx<'_>, raw: &RawTarget) -> (Option<Flow>, Vec<String>) {
    if raw.setup.is_empty() {
        return (None, Vec::new());
    }
    let mut known = Known::default();
    let mut steps = Vec::new();
    for (i, spanned) in raw.setup.iter().enumerate() {
        known.later = captured_from(&raw.setup[i..], i);
        if let Some(step) = step(cx, spanned, i, &mut known, false, None) {
            steps.push(step);
        }
    }
    (Some(Flow { steps, data: None, cookies: false }), known.now)
}

/// Validates the traffic keys of a route. `setup_vars` are the target's `setup` captures.
pub(super) fn route(
    cx: &mut Cx<'_>,
    spanned: &Spanned<RawRoute>,
    setup_vars: &[String],
) -> RouteTraffic {
    let raw = spanned.get_ref();
    let header = cx.header(spanned.span());
    let shapes: Vec<(&str, Range<usize>)> = [
        ("path", raw.path.as_ref().map(|v| v.span())),
        ("websocket", raw.websocket.as_ref().map(|v| v.span())),
        ("sse", raw.sse.as_ref().map(|v| v.span())),
        ("step", raw.step.first().map(|s| cx.header(s.span()))),
        ("load", raw.load.as_ref().map(|v| v.span())),
    ]
    .into_iter()
    .filter_map(|(k, s)| s.map(|s| (k, s)))
    .collect();
    let empty = RouteTraffic {
        traffic: Traffic::Flow(Flow::default()),
        method: None,
        path: String::new(),
        headers: Vec::new(),
        body: None,
    };
    match shapes.as_slice() {
        [] => {
            cx.error(header, format!("route `{}` says nothing to send", raw.name.get_ref())).help =
                Some("give a `path`, a `websocket` or `sse` path, `[[target.route.step]]`s or a `load = { command = [...] }`".into());
            return empty;
        }
        [_, (second, span), ..] => {
            let first = shapes[0].0;
            cx.error(span.clone(), format!("a route has one of `path`, `websocket`, `sse`, `step` and `load`; this one has `{first}` and `{second}`")).help =
                Some("make each a route of its own, or a step of a flow".into());
            return empty;
        }
        [_] => {}
    }
    let data = raw.data.as_ref().map(|d| {
        if d.get_ref().trim().is_empty() {
            cx.error(d.span(), "`data` is empty").help =
                Some("name a CSV file with a header row, e.g. `data = \"users.csv\"`".into());
        }
        DataFile {
            path: PathBuf::from(d.get_ref()),
            span: d.span(),
            line: cx.line(d.span().start),
            column: cx.column(d.span().start),
        }
    });
    let cookies = raw.cookies.as_ref().is_some_and(|c| *c.get_ref());
    let route_status = raw.expect_status.as_ref().and_then(|s| status(cx, s));

    if let Some(load) = &raw.load {
        let extra: Vec<(&str, Option<Range<usize>>)> = vec![
            ("method", raw.method.as_ref().map(|v| v.span())),
            ("headers", raw.headers.keys().next().map(|k| k.span())),
            ("body", raw.body.as_ref().map(|v| v.span())),
            ("abort", raw.abort.as_ref().map(|v| v.span())),
            ("expect_status", raw.expect_status.as_ref().map(|v| v.span())),
            ("data", raw.data.as_ref().map(|v| v.span())),
            ("cookies", raw.cookies.as_ref().map(|v| v.span())),
            ("send", raw.send.as_ref().map(|v| v.span())),
            ("receive", raw.receive.as_ref().map(|v| v.span())),
            ("events", raw.events.as_ref().map(|v| v.span())),
        ];
        for (key, span) in extra {
            if let Some(span) = span {
                cx.error(span, format!("`{key}` has no effect with `load`")).help =
                    Some("the load command sends the requests; pass it what it needs".into());
            }
        }
        let command = load.get_ref().command.get_ref();
        if command.is_empty() || command[0].get_ref().trim().is_empty() {
            cx.error(load.get_ref().command.span(), "the `load` command is empty").help = Some(
                "give the program and its arguments, e.g. `command = [\"node\", \"load.js\", \"{requests}\", \"{url}\"]`".into(),
            );
        }
        for arg in command {
            command_placeholders(cx, arg);
        }
        let argv: Vec<String> = command.iter().map(|a| a.get_ref().clone()).collect();
        return RouteTraffic {
            path: argv.join(" "),
            traffic: Traffic::Command(LoadCommand { argv }),
            method: Some("LOAD".into()),
            headers: Vec::new(),
            body: None,
        };
    }

    let mut known = Known { now: setup_vars.to_vec(), later: Vec::new() };
    let row = data.as_ref().map(|_| ());
    if !raw.step.is_empty() {
        for (key, span) in [
            ("method", raw.method.as_ref().map(|v| v.span())),
            ("headers", raw.headers.keys().next().map(|k| k.span())),
            ("body", raw.body.as_ref().map(|v| v.span())),
            ("abort", raw.abort.as_ref().map(|v| v.span())),
            ("send", raw.send.as_ref().map(|v| v.span())),
            ("receive", raw.receive.as_ref().map(|v| v.span())),
            ("events", raw.events.as_ref().map(|v| v.span())),
        ] {
            if let Some(span) = span {
                cx.error(span, format!("`{key}` of a route with steps belongs in a step")).help =
                    Some("move it into the `[[target.route.step]]` it applies to".into());
            }
        }
        let mut steps = Vec::new();
        for (i, spanned) in raw.step.iter().enumerate() {
            known.later = captured_from(&raw.step[i..], i);
            if let Some(mut s) = step(cx, spanned, i, &mut known, true, row) {
                if s.expect_status.is_none() {
                    s.expect_status.clone_from(&route_status);
                }
                steps.push(s);
            }
        }
        let path = steps.iter().map(Step::describe).collect::<Vec<_>>().join(" → ");
        return RouteTraffic {
            traffic: Traffic::Flow(Flow { steps, data, cookies }),
            method: Some("FLOW".into()),
            path,
            headers: Vec::new(),
            body: None,
        };
    }

    // One step written on the route itself.
    let as_step = RawStep {
        name: None,
        method: raw.method.clone(),
        path: raw.path.clone(),
        headers: raw.headers.clone(),
        body: raw.body.clone(),
        capture: BTreeMap::new(),
        abort: raw.abort.clone(),
        expect_status: raw.expect_status.clone(),
        websocket: raw.websocket.clone(),
        send: raw.send.clone(),
        receive: raw.receive.clone(),
        sse: raw.sse.clone(),
        events: raw.events.clone(),
    };
    let spanned_step = Spanned::new(spanned.span(), as_step);
    let Some(step) = step(cx, &spanned_step, 0, &mut known, true, row) else {
        return empty;
    };
    let (method, path, body) = match &step.action {
        Action::Http { method, path, body } => (
            raw.method.as_ref().map(|_| method.clone()),
            path.source(),
            body.as_ref().map(Template::source),
        ),
        Action::WebSocket { path, .. } => (Some("WS".into()), path.source(), None),
        Action::Sse { path, .. } => (Some("SSE".into()), path.source(), None),
    };
    let headers =
        step.headers.iter().map(|(n, v)| Header { name: n.clone(), value: v.source() }).collect();
    RouteTraffic {
        traffic: Traffic::Flow(Flow { steps: vec![step], data, cookies }),
        method,
        path,
        headers,
        body,
    }
}

/// The names a step's templates may use (`now`: captured by the setup or an earlier step), and,
/// for the help of an error only, those this step or a later one captures, with the step.
#[derive(Default)]
struct Known {
    now: Vec<String>,
    later: Vec<(String, String)>,
}

/// What `steps` capture, each with how messages name its step (`first` is the index of
/// `steps[0]` in its flow).
fn captured_from(steps: &[Spanned<RawStep>], first: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let raw = step.get_ref();
        let label = match &raw.name {
            Some(n) if !n.get_ref().trim().is_empty() => format!("step `{}`", n.get_ref()),
            _ => format!("step {}", first + i + 1),
        };
        out.extend(raw.capture.keys().map(|k| (k.get_ref().clone(), label.clone())));
    }
    out
}

/// Validates one step; `known` holds the capture names available so far and gets this step's.
fn step(
    cx: &mut Cx<'_>,
    spanned: &Spanned<RawStep>,
    index: usize,
    known: &mut Known,
    in_route: bool,
    data: Option<()>,
) -> Option<Step> {
    let raw = spanned.get_ref();
    let header = cx.header(spanned.span());
    let name = match &raw.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            cx.error(n.span(), "step name is empty");
            format!("step {}", index + 1)
        }
        Some(n) => n.get_ref().clone(),
        None => format!("step {}", index + 1),
    };
    let shapes: Vec<(&str, &Spanned<String>)> =
        [("path", &raw.path), ("websocket", &raw.websocket), ("sse", &raw.sse)]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .collect();
    let (kind, path_value) = match shapes.as_slice() {
        [] => {
            cx.error(header, format!("{name} says nothing to send")).help =
                Some("give it a `path` (HTTP), a `websocket` or an `sse` path".into());
            return None;
        }
        [(kind, value)] => (*kind, *value),
        [(first, _), (second, value), ..] => {
            cx.error(value.span(), format!("a step has one of `path`, `websocket` and `sse`; {name} has `{first}` and `{second}`")).help =
                Some("make each a step of its own".into());
            return None;
        }
    };
    cx.check_path_text(path_value, kind);
    let path = template(cx, path_value, known, data, in_route);

    let only = |cx: &mut Cx<'_>, key: &str, span: Option<Range<usize>>, with: &str| {
        if let Some(span) = span {
            cx.error(span, format!("`{key}` only applies with `{with}`"));
        }
    };
    if kind != "path" {
        only(cx, "method", raw.method.as_ref().map(|v| v.span()), "path");
        only(cx, "body", raw.body.as_ref().map(|v| v.span()), "path");
        only(cx, "abort", raw.abort.as_ref().map(|v| v.span()), "path");
        if let Some((k, _)) = raw.capture.iter().next() {
            cx.error(k.span(), "`capture` only applies to HTTP steps (`path`)");
        }
    }
    if kind != "websocket" {
        only(cx, "send", raw.send.as_ref().map(|v| v.span()), "websocket");
        only(cx, "receive", raw.receive.as_ref().map(|v| v.span()), "websocket");
    }
    if kind != "sse" {
        only(cx, "events", raw.events.as_ref().map(|v| v.span()), "sse");
    }

    let headers = headers(cx, &raw.headers, known, data, in_route);
    let abort = raw.abort.as_ref().and_then(|a| match parse_abort(a.get_ref()) {
        Ok(abort) => Some(abort),
        Err((message, help)) => {
            cx.error(a.span(), message).help = help;
            None
        }
    });
    let expect_status = raw.expect_status.as_ref().and_then(|s| status(cx, s));
    let action = match kind {
        "path" => {
            let method = raw.method.as_ref().map_or_else(|| "GET".to_owned(), |m| cx.method(m));
            let body = raw.body.as_ref().map(|b| template(cx, b, known, data, in_route));
            Action::Http { method, path, body }
        }
        "websocket" => {
            let send = raw.send.as_ref().map_or_else(Vec::new, |s| {
                s.get_ref().iter().map(|m| template(cx, m, known, data, in_route)).collect()
            });
            let receive = cx.count(raw.receive.as_ref(), "receive", 0, 1_000_000).unwrap_or(0);
            Action::WebSocket { path, send, receive: receive as u64 }
        }
        _ => {
            let events = cx.count(raw.events.as_ref(), "events", 0, 1_000_000).unwrap_or(1);
            Action::Sse { path, events: events as u64 }
        }
    };

    // Captures become known after the step: a step can't use its own.
    let mut captures = Vec::new();
    for (key, value) in &raw.capture {
        let n = key.get_ref();
        let builtin = ["seq", "uuid", "row", "rand", "port"].contains(&n.as_str());
        if !n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            cx.error(
                key.span(),
                format!("capture name `{n}` may only hold letters, digits, `_` and `-`"),
            );
        } else if builtin {
            cx.error(key.span(), format!("`{n}` is a built-in placeholder")).help =
                Some("give the captured value another name".into());
        }
        match parse_capture(value.get_ref()) {
            Ok(from) => captures.push(Capture { name: n.clone(), from }),
            Err((message, help)) => cx.error(value.span(), message).help = help,
        }
        if !known.now.contains(n) {
            known.now.push(n.clone());
        }
    }
    Some(Step {
        name,
        action,
        headers,
        captures,
        abort,
        expect_status,
        line: cx.line(spanned.span().start),
        column: cx.column(spanned.span().start),
    })
}

fn headers(
    cx: &mut Cx<'_>,
    raw: &BTreeMap<Spanned<String>, Spanned<String>>,
    known: &Known,
    data: Option<()>,
    in_route: bool,
) -> Vec<(String, Template)> {
    let mut headers: Vec<(String, Template)> = Vec::new();
    for (key, value) in raw {
        let name = key.get_ref();
        if !is_token(name) {
            cx.error(key.span(), format!("`{name}` is not a valid header name"));
        } else if name.eq_ignore_ascii_case("content-length") {
            cx.error(key.span(), "`content-length` is set from `body`").help =
                Some("remove it".into());
        } else if let Some((first, _)) = headers.iter().find(|(h, _)| h.eq_ignore_ascii_case(name))
        {
            let first = first.clone();
            cx.error(key.span(), format!("header `{name}` is set twice (also as `{first}`)"))
                .help = Some("header names are case-insensitive; keep one".into());
        }
        if value.get_ref().contains(['\r', '\n', '\0']) {
            cx.error(value.span(), format!("header `{name}` holds a line break or NUL"));
        }
        let t = template(cx, value, known, data, in_route);
        headers.push((name.clone(), t));
    }
    headers
}

/// Parses a template and checks every placeholder is known here.
fn template(
    cx: &mut Cx<'_>,
    value: &Spanned<String>,
    known: &Known,
    data: Option<()>,
    in_route: bool,
) -> Template {
    let text = value.get_ref();
    let t = match Template::parse(text) {
        Ok(t) => t,
        Err(errors) => {
            for e in errors {
                let span = cx.sub_span(value, &text[e.range.clone()]);
                cx.error(span, e.message).help = e.help;
            }
            return Template::text(text);
        }
    };
    for piece in t.pieces() {
        match piece {
            Piece::Row(column) if data.is_none() => {
                let span = cx.sub_span(value, &format!("{{row.{column}}}"));
                cx.error(span, format!("`{{row.{column}}}` without a `data` file")).help = Some(
                    if in_route {
                        "add e.g. `data = \"users.csv\"` (a CSV file with a header row) to the route".into()
                    } else {
                        "setup runs once and has no data file; use the value itself".into()
                    },
                );
            }
            Piece::Var(name) if name == "port" => {
                let span = cx.sub_span(value, "{port}");
                cx.error(span, "`{port}` is only replaced in `command`, `env` and `url`");
            }
            Piece::Var(name) if !known.now.contains(name) => {
                let found = format!("{{{name}}}");
                let span = cx.sub_span(value, &found);
                let mut candidates: Vec<&str> = BUILTINS.to_vec();
                candidates.extend(known.now.iter().map(String::as_str));
                let later = known.later.iter().find(|(n, _)| n == name);
                let help = match (later, did_you_mean(name, candidates.iter().copied())) {
                    (Some((_, step)), _) => format!(
                        "`{name}` is captured by {step}, not by a step before this one: a step can use only what an earlier step captured"
                    ),
                    (None, Some(c)) => format!("did you mean `{{{c}}}`?"),
                    (None, None) if known.now.is_empty() => format!(
                        "placeholders are `{{seq}}`, `{{uuid}}`, `{{rand:A..B}}`, `{{row.COLUMN}}` and the names an earlier step's `capture` sets; nothing captures `{name}`"
                    ),
                    (None, None) => format!(
                        "captured so far: {}; built in: `{{seq}}`, `{{uuid}}`, `{{rand:A..B}}`, `{{row.COLUMN}}`",
                        known
                            .now
                            .iter()
                            .map(|k| format!("`{{{k}}}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                cx.error(span, format!("unknown placeholder `{found}`")).help = Some(help);
            }
            _ => {}
        }
    }
    t
}

/// `{requests}`, `{url}` and `{port}` in a load command; nothing that looks like a misspelling.
fn command_placeholders(cx: &mut Cx<'_>, value: &Spanned<String>) {
    let Ok(t) = Template::parse(value.get_ref()) else { return };
    for name in t.vars() {
        if ["requests", "url", "port"].contains(&name) {
            continue;
        }
        let found = format!("{{{name}}}");
        let span = cx.sub_span(value, &found);
        let help = match did_you_mean(name, ["requests", "url", "port"]) {
            Some(c) => format!("did you mean `{{{c}}}`?"),
            None => "a load command gets `{requests}`, `{url}` and `{port}`".into(),
        };
        cx.error(span, format!("unknown placeholder `{found}` in the load command")).help =
            Some(help);
    }
}

fn status(cx: &mut Cx<'_>, value: &Spanned<RawStatus>) -> Option<StatusSet> {
    let mut ranges = Vec::new();
    let mut ok = true;
    let mut one = |cx: &mut Cx<'_>, item: &RawStatus| match item {
        RawStatus::Code(c) => match StatusSet::parse_item(&c.to_string()) {
            Ok(r) => ranges.push(r),
            Err((m, h)) => {
                ok = false;
                cx.error(value.span(), m).help = h;
            }
        },
        RawStatus::Text(t) => match StatusSet::parse_item(t) {
            Ok(r) => ranges.push(r),
            Err((m, h)) => {
                ok = false;
                let span = cx.sub_span_str(value.span(), t);
                cx.error(span, m).help = h;
            }
        },
        RawStatus::List(_) => {
            ok = false;
            cx.error(value.span(), "`expect_status` lists can't be nested");
        }
    };
    match value.get_ref() {
        RawStatus::List(items) => items.iter().for_each(|i| one(cx, i)),
        single => one(cx, single),
    }
    (ok && !ranges.is_empty()).then(|| StatusSet::new(ranges))
}
