//! What a route sends, validated: a flow of steps (a plain route is a flow of one HTTP step),
//! each an HTTP request, a WebSocket connection cycle or an SSE read, with per-request values,
//! captures, aborts and expected statuses; or the user's own load command. Also the small
//! text formats these keys use (`abort = "after:50ms"`, `capture = { t = "json:$.token" }`,
//! `expect_status = ["2xx", 404]`), parsed here so errors carry the spec's line and column.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::template::Template;

/// What one iteration of a route does.
#[derive(Debug, Clone, PartialEq)]
pub enum Traffic {
    /// Steps run in order, once per iteration, by leakcheck's own driver.
    Flow(Flow),
    /// `load = { command = [...] }`: the user's program sends the load.
    Command(LoadCommand),
}

impl Traffic {
    /// The flow, unless the route runs a load command.
    pub fn flow(&self) -> Option<&Flow> {
        match self {
            Traffic::Flow(f) => Some(f),
            Traffic::Command(_) => None,
        }
    }
}

/// A route's (or a target's `setup`) steps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Flow {
    /// At least one step, run in order.
    pub steps: Vec<Step>,
    /// `data = "users.csv"`: rows for `{row.COLUMN}`, one per iteration, cycled.
    pub data: Option<DataFile>,
    /// `cookies = true`: a cookie jar per iteration (off by default).
    pub cookies: bool,
}

impl Flow {
    /// True for a route written the old way: one plain HTTP request with no per-request
    /// value, capture, abort or data file.
    pub fn is_plain(&self) -> bool {
        self.data.is_none()
            && !self.cookies
            && self.steps.len() == 1
            && self.steps[0].captures.is_empty()
            && self.steps[0].abort.is_none()
            && self.steps[0].is_static()
            && matches!(self.steps[0].action, Action::Http { .. })
    }
}

/// A CSV file with a header row, relative to the spec's folder until the plan resolves it.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFile {
    /// The path as written (made absolute by the plan).
    pub path: PathBuf,
    /// Byte range of the value in the spec's text, for errors found when the file is read.
    pub span: std::ops::Range<usize>,
    /// 1-based line of the `data` key.
    pub line: usize,
    /// 1-based column of the `data` value.
    pub column: usize,
}

/// One step of a flow. Its `Debug` hides the values of secret headers.
#[derive(Clone, PartialEq)]
pub struct Step {
    /// How messages name it: its `name`, else "step N".
    pub name: String,
    /// What it does.
    pub action: Action,
    /// Request headers (name as written, value a template), sorted by name.
    pub headers: Vec<(String, Template)>,
    /// Values taken from the response for later steps, in order.
    pub captures: Vec<Capture>,
    /// Close the connection early.
    pub abort: Option<Abort>,
    /// Which statuses count as success; `None` for the default (2xx and 3xx; 101 for a
    /// WebSocket handshake).
    pub expect_status: Option<StatusSet>,
    /// 1-based line of the step's table (the route's, for a route with no steps).
    pub line: usize,
    /// 1-based column of it.
    pub column: usize,
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<super::Header> = self
            .headers
            .iter()
            .map(|(name, value)| super::Header { name: name.clone(), value: value.source() })
            .collect();
        f.debug_struct("Step")
            .field("name", &self.name)
            .field("action", &self.action)
            .field("headers", &headers)
            .field("captures", &self.captures)
            .field("abort", &self.abort)
            .field("expect_status", &self.expect_status)
            .field("line", &self.line)
            .field("column", &self.column)
            .finish()
    }
}

impl Step {
    /// True when no template of the step holds a placeholder.
    pub fn is_static(&self) -> bool {
        self.headers.iter().all(|(_, v)| v.is_static())
            && match &self.action {
                Action::Http { path, body, .. } => {
                    path.is_static() && body.as_ref().is_none_or(Template::is_static)
                }
                Action::WebSocket { path, send, .. } => {
                    path.is_static() && send.iter().all(Template::is_static)
                }
                Action::Sse { path, .. } => path.is_static(),
            }
    }

    /// Every template of the step, for checks.
    pub fn templates(&self) -> Vec<&Template> {
        let mut all: Vec<&Template> = self.headers.iter().map(|(_, v)| v).collect();
        match &self.action {
            Action::Http { path, body, .. } => {
                all.push(path);
                all.extend(body.iter());
            }
            Action::WebSocket { path, send, .. } => {
                all.push(path);
                all.extend(send.iter());
            }
            Action::Sse { path, .. } => all.push(path),
        }
        all
    }

    /// "GET /path", "WebSocket /ws", "SSE /events": what the step does, for reports.
    pub fn describe(&self) -> String {
        match &self.action {
            Action::Http { method, path, .. } => format!("{method} {}", path.source()),
            Action::WebSocket { path, .. } => format!("WebSocket {}", path.source()),
            Action::Sse { path, .. } => format!("SSE {}", path.source()),
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// One HTTP request.
    Http {
        /// The method, upper-cased when standard.
        method: String,
        /// Path and query.
        path: Template,
        /// Request body.
        body: Option<Template>,
    },
    /// `websocket = "/ws"`: connect, send each of `send`, wait for `receive` messages, close.
    WebSocket {
        /// Path of the upgrade request.
        path: Template,
        /// Text messages sent after the handshake, in order.
        send: Vec<Template>,
        /// Messages to wait for (within the request timeout) before closing.
        receive: u64,
    },
    /// `sse = "/events"`: GET the stream, read `events` events, close the connection.
    Sse {
        /// Path of the stream.
        path: Template,
        /// Events to read before closing.
        events: u64,
    },
}

/// `NAME = "json:$.a.b"`, `"header:x-csrf-token"` or `"cookie:sid"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The name later steps use, `{NAME}`.
    pub name: String,
    /// Where the value comes from.
    pub from: CaptureFrom,
}

/// Where a captured value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureFrom {
    /// A value of the JSON response body: `json:$.user.id`, `json:$.items[0].sku`.
    Json(Vec<JsonKey>),
    /// A response header, by case-insensitive name.
    Header(String),
    /// A cookie the response sets (`set-cookie`), by name.
    Cookie(String),
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonKey {
    /// `.name` or `["name"]`.
    Field(String),
    /// `[3]`.
    Index(usize),
}

impl fmt::Display for CaptureFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureFrom::Json(path) => {
                f.write_str("json:$")?;
                for key in path {
                    match key {
                        JsonKey::Field(name) => write!(f, ".{name}")?,
                        JsonKey::Index(i) => write!(f, "[{i}]")?,
                    }
                }
                Ok(())
            }
            CaptureFrom::Header(name) => write!(f, "header:{name}"),
            CaptureFrom::Cookie(name) => write!(f, "cookie:{name}"),
        }
    }
}

/// A text-format problem: message and help, placed by the caller.
pub type TextError = (String, Option<String>);

/// Parses a capture source such as `json:$.token`.
///
/// ```
/// use leakcheck::leakspec::traffic::{parse_capture, CaptureFrom, JsonKey};
/// assert_eq!(parse_capture("json:$.user.ids[2]").unwrap(), CaptureFrom::Json(vec![
///     JsonKey::Field("user".into()), JsonKey::Field("ids".into()), JsonKey::Index(2)]));
/// assert_eq!(parse_capture("header:X-CSRF-Token").unwrap(), CaptureFrom::Header("x-csrf-token".into()));
/// assert!(parse_capture("body:token").is_err());
/// ```
pub fn parse_capture(text: &str) -> Result<CaptureFrom, TextError> {
    let help = || Some("write `json:$.path.to.value`, `header:NAME` or `cookie:NAME`".to_owned());
    let Some((kind, rest)) = text.split_once(':') else {
        return Err((format!("`{text}` does not say where to capture from"), help()));
    };
    let rest = rest.trim();
    match kind.trim() {
        "json" => json_path(rest).map(CaptureFrom::Json),
        "header" if !rest.is_empty() => Ok(CaptureFrom::Header(rest.to_ascii_lowercase())),
        "cookie" if !rest.is_empty() => Ok(CaptureFrom::Cookie(rest.to_owned())),
        "header" | "cookie" => Err((format!("`{text}` names no {kind}"), help())),
        other => Err((format!("unknown capture source `{other}`"), help())),
    }
}

fn json_path(text: &str) -> Result<Vec<JsonKey>, TextError> {
    let bad = |why: &str| {
        Err((
            format!("`{text}` is not a JSON path: {why}"),
            Some("write e.g. `json:$.token` or `json:$.items[0].id`".to_owned()),
        ))
    };
    let Some(mut rest) = text.strip_prefix('$') else { return bad("it starts with `$`") };
    let mut keys = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return bad("a `.` is followed by no name");
            }
            keys.push(JsonKey::Field(after[..end].to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let Some(end) = after.find(']') else { return bad("a `[` is not closed") };
            let inner = after[..end].trim();
            if let Ok(i) = inner.parse::<usize>() {
                keys.push(JsonKey::Index(i));
            } else if inner.len() >= 2
                && (inner.starts_with('"') && inner.ends_with('"')
                    || inner.starts_with('\'') && inner.ends_with('\''))
            {
                keys.push(JsonKey::Field(inner[1..inner.len() - 1].to_owned()));
            } else {
                return bad("brackets hold an index or a quoted name");
            }
            rest = &after[end + 1..];
        } else {
            return bad("expected `.name` or `[index]`");
        }
    }
    Ok(keys)
}

/// `abort = "first-byte"` or `"after:50ms"`: when the client closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    /// As soon as the first byte of the response arrives.
    FirstByte,
    /// This long after the request was sent, answered or not.
    After(Duration),
}

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Abort::FirstByte => f.write_str("first-byte"),
            Abort::After(d) => write!(f, "after:{}", super::format_duration(*d)),
        }
    }
}

/// Parses `first-byte` or `after:DURATION`.
///
/// ```
/// use std::time::Duration;
/// use leakcheck::leakspec::traffic::{parse_abort, Abort};
/// assert_eq!(parse_abort("after:50ms").unwrap(), Abort::After(Duration::from_millis(50)));
/// assert_eq!(parse_abort("first-byte").unwrap(), Abort::FirstByte);
/// ```
pub fn parse_abort(text: &str) -> Result<Abort, TextError> {
    let help = || Some("write `abort = \"first-byte\"` or `abort = \"after:50ms\"`".to_owned());
    match text.trim() {
        "first-byte" => Ok(Abort::FirstByte),
        t if t.starts_with("after:") => match super::parse_duration(&t[6..]) {
            Ok(d) if !d.is_zero() => Ok(Abort::After(d)),
            Ok(_) => Err(("`abort` after no time at all".to_owned(), help())),
            Err(e) => Err((e.message, help())),
        },
        other => Err((format!("unknown abort point `{other}`"), help())),
    }
}

/// The statuses a step accepts: codes and ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    ranges: Vec<(u16, u16)>,
}

impl StatusSet {
    /// 2xx and 3xx: what every HTTP step accepts unless it says otherwise.
    pub fn success() -> StatusSet {
        StatusSet { ranges: vec![(200, 399)] }
    }

    /// 101 Switching Protocols: a WebSocket handshake's default.
    pub fn switching() -> StatusSet {
        StatusSet { ranges: vec![(101, 101)] }
    }

    /// Whether `status` is accepted.
    pub fn accepts(&self, status: u16) -> bool {
        self.ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&status))
    }

    /// Parses one item: `200`, `"2xx"` or `"200-204"`.
    pub fn parse_item(text: &str) -> Result<(u16, u16), TextError> {
        let help = || {
            Some("write a status such as `200`, a class such as `\"2xx\"` or a range such as `\"200-204\"`".to_owned())
        };
        let t = text.trim();
        let code = |s: &str| s.trim().parse::<u16>().ok().filter(|c| (100..=599).contains(c));
        if let Some(class) = t.strip_suffix("xx").or_else(|| t.strip_suffix("XX")) {
            if let Ok(d @ 1..=5) = class.parse::<u16>() {
                return Ok((d * 100, d * 100 + 99));
            }
        } else if let Some((a, b)) = t.split_once('-') {
            if let (Some(a), Some(b)) = (code(a), code(b))
                && a <= b
            {
                return Ok((a, b));
            }
        } else if let Some(c) = code(t) {
            return Ok((c, c));
        }
        Err((format!("`{t}` is not an HTTP status"), help()))
    }

    /// A set of the given ranges.
    pub fn new(ranges: Vec<(u16, u16)>) -> StatusSet {
        StatusSet { ranges }
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else if lo % 100 == 0 && hi == lo + 99 {
                write!(f, "{}xx", lo / 100)?;
            } else if lo == 200 && hi == 399 {
                f.write_str("2xx, 3xx")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// `load = { command = [...] }`: a program that sends the load itself.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadCommand {
    /// Program and arguments; `{requests}` and `{url}` are filled in for each run.
    pub argv: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets_parse_and_print() {
        assert_eq!(StatusSet::parse_item("2xx").unwrap(), (200, 299));
        assert_eq!(StatusSet::parse_item("200-204").unwrap(), (200, 204));
        assert_eq!(StatusSet::parse_item(" 404 ").unwrap(), (404, 404));
        assert!(StatusSet::parse_item("6xx").is_err());
        assert!(StatusSet::parse_item("204-200").is_err());
        assert!(StatusSet::parse_item("abc").is_err());
        let set = StatusSet::new(vec![(200, 299), (404, 404)]);
        assert!(set.accepts(204) && set.accepts(404) && !set.accepts(500));
        assert_eq!(set.to_string(), "2xx, 404");
        assert_eq!(StatusSet::success().to_string(), "2xx, 3xx");
    }

    #[test]
    fn json_paths_and_aborts() {
        assert_eq!(
            parse_capture(r#"json:$["a b"][0]"#).unwrap(),
            CaptureFrom::Json(vec![JsonKey::Field("a b".into()), JsonKey::Index(0)])
        );
        assert!(parse_capture("json:token").is_err());
        assert!(parse_capture("json:$.").is_err());
        assert!(parse_capture("cookie:").is_err());
        assert_eq!(parse_capture("json:$").unwrap(), CaptureFrom::Json(vec![]));
        assert!(parse_abort("after:0s").is_err());
        assert!(parse_abort("halfway").is_err());
        assert_eq!(Abort::After(Duration::from_millis(50)).to_string(), "after:50ms");
    }
}
