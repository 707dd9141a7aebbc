//! One iteration of a flow: its steps in order (HTTP requests, aborted requests, WebSocket
//! and SSE cycles), per-request values filled in, captures taken from responses for later
//! steps, a cookie jar when the route asks for one. The first step that fails ends the
//! iteration; the failure names the step.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::render::{Compiled, Escape, Iteration, Rng, Scope};
use crate::leakspec::data::DataTable;
use crate::leakspec::traffic::{
    Abort, Action, Capture, CaptureFrom, Flow, JsonKey, StatusSet, Step,
};

/// A flow compiled for one target: URLs resolved, templates compiled, captures numbered.
#[derive(Debug)]
pub struct Driver {
    pub(crate) steps: Vec<CompiledStep>,
    pub(crate) data: Option<Arc<DataTable>>,
    cookies: bool,
    /// Capture slots: the setup's values first, then this flow's captures.
    slots: Vec<String>,
    /// The setup's values, by slot.
    preset: Vec<Option<String>>,
    /// `http://host:port`, without a trailing `/`.
    pub(crate) base: String,
    pub(crate) timeout: Duration,
}

#[derive(Debug)]
pub(crate) struct CompiledStep {
    pub(crate) name: String,
    /// "POST /api/login", for messages.
    what: String,
    pub(crate) action: CompiledAction,
    /// Headers that are the same for every request.
    fixed_headers: HeaderMap,
    /// Headers with placeholders.
    headers: Vec<(HeaderName, Compiled)>,
    captures: Vec<(usize, CaptureFrom, String)>,
    pub(crate) abort: Option<Abort>,
    pub(crate) expect: StatusSet,
}

impl CompiledStep {
    /// "GET", "POST", "WebSocket", "SSE", with the step's abort if any.
    pub(crate) fn describe(&self) -> String {
        match self.abort {
            Some(abort) => format!("{}, abort {abort}", self.what),
            None => self.what.clone(),
        }
    }
}

#[derive(Debug)]
pub(crate) enum CompiledAction {
    Http { method: reqwest::Method, path: Compiled, body: Option<Compiled> },
    WebSocket { path: Compiled, send: Vec<Compiled>, receive: u64 },
    Sse { path: Compiled, events: u64 },
}

/// Values captured by the target's setup, by name.
pub type Captured = Vec<(String, String)>;

/// Why one step failed: its status or what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepError {
    /// A status the step does not accept.
    Status(u16),
    /// No response, a capture that matched nothing, a value that could not be sent...
    Other(String),
    /// No answer (or not all of it) within `request_timeout`.
    Timeout(String),
}

impl StepError {
    /// A reqwest error: a timeout, or another failure.
    pub(crate) fn from_reqwest(error: &reqwest::Error, timeout: Duration) -> StepError {
        if error.is_timeout() {
            StepError::Timeout(super::timeout_text(timeout))
        } else {
            StepError::Other(super::error_text(error))
        }
    }
}

impl Driver {
    /// Compiles `flow` against the target at `base` (`http://127.0.0.1:PORT`). `setup` holds
    /// the values the target's setup captured. Reads the data file.
    pub fn new(
        flow: &Flow,
        base: &str,
        timeout: Duration,
        setup: &Captured,
    ) -> Result<Driver, String> {
        let data = match &flow.data {
            Some(file) => Some(Arc::new(DataTable::read(&file.path)?)),
            None => None,
        };
        let mut slots: Vec<String> = setup.iter().map(|(n, _)| n.clone()).collect();
        let preset: Vec<Option<String>> = setup.iter().map(|(_, v)| Some(v.clone())).collect();
        for step in &flow.steps {
            for c in &step.captures {
                if !slots.contains(&c.name) {
                    slots.push(c.name.clone());
                }
            }
        }
        let mut steps = Vec::new();
        for step in &flow.steps {
            let scope = Scope { data: data.as_deref(), slots: &slots };
            steps.push(compile_step(step, &scope).map_err(|e| format!("{}: {e}", step.name))?);
        }
        if steps.is_empty() {
            return Err("the flow has no steps".into());
        }
        Ok(Driver {
            steps,
            data,
            cookies: flow.cookies,
            slots,
            preset,
            base: base.trim_end_matches('/').to_owned(),
            timeout,
        })
    }

    /// True when every step is an HTTP request.
    pub(crate) fn is_http(&self) -> bool {
        self.steps.iter().all(|s| matches!(s.action, CompiledAction::Http { .. }))
    }

    /// The values of iteration `seq` before its first step.
    pub(crate) fn iteration(&self, seq: u64, rng: &mut Rng) -> Iteration {
        let mut vars = self.preset.clone();
        vars.resize(self.slots.len(), None);
        Iteration { seq, uuid: rng.uuid(), row: seq as usize, vars }
    }

    /// The captured values of a finished iteration, by name (for the setup).
    pub(crate) fn captured(&self, it: &Iteration) -> Captured {
        self.slots
            .iter()
            .zip(&it.vars)
            .filter_map(|(n, v)| v.as_ref().map(|v| (n.clone(), v.clone())))
            .collect()
    }

    /// Runs one iteration; on failure, the index of the failing step and why. `bytes` counts
    /// response bytes read.
    pub(crate) async fn run(
        &self,
        client: &reqwest::Client,
        it: &mut Iteration,
        rng: &mut Rng,
        done_steps: &mut usize,
        bytes: &mut u64,
    ) -> Result<(), (usize, StepError)> {
        let mut jar: Vec<(String, String)> = Vec::new();
        let data = self.data.as_deref();
        for (i, step) in self.steps.iter().enumerate() {
            let fail = |e: StepError| (i, e);
            let mut headers = step.fixed_headers.clone();
            let mut buf = String::new();
            for (name, value) in &step.headers {
                buf.clear();
                value
                    .render(it, data, rng, &mut buf)
                    .map_err(|e| fail(StepError::Other(format!("header `{name}`: {e}"))))?;
                let value = HeaderValue::from_str(&buf).map_err(|_| {
                    fail(StepError::Other(format!("header `{name}`: {buf:?} is not valid in HTTP")))
                })?;
                headers.insert(name.clone(), value);
            }
            if self.cookies && !jar.is_empty() {
                let mut cookie =
                    jar.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
                if let Some(own) =
                    headers.get(reqwest::header::COOKIE).and_then(|v| v.to_str().ok())
                {
                    cookie = format!("{own}; {cookie}");
                }
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    headers.insert(reqwest::header::COOKIE, v);
                }
            }
            let mut path = String::new();
            let outcome = match &step.action {
                CompiledAction::Http { method, path: p, body } => {
                    p.render(it, data, rng, &mut path)
                        .map_err(|e| fail(StepError::Other(format!("path: {e}"))))?;
                    let body = match body {
                        Some(b) => {
                            let mut text = String::new();
                            b.render(it, data, rng, &mut text)
                                .map_err(|e| fail(StepError::Other(format!("body: {e}"))))?;
                            Some(text)
                        }
                        None => None,
                    };
                    let url = format!("{}{path}", self.base);
                    if let Some(abort) = step.abort {
                        super::abort::send(
                            &url,
                            method,
                            &headers,
                            body.as_deref(),
                            abort,
                            self.timeout,
                            &step.expect,
                            bytes,
                        )
                        .await
                    } else {
                        self.http(client, step, method, &url, headers, body, it, &mut jar, bytes)
                            .await
                    }
                }
                CompiledAction::WebSocket { path: p, send, receive } => {
                    p.render(it, data, rng, &mut path)
                        .map_err(|e| fail(StepError::Other(format!("path: {e}"))))?;
                    let mut messages = Vec::with_capacity(send.len());
                    for m in send {
                        let mut text = String::new();
                        m.render(it, data, rng, &mut text)
                            .map_err(|e| fail(StepError::Other(format!("send: {e}"))))?;
                        messages.push(text);
                    }
                    let url = format!("ws{}{path}", self.base.trim_start_matches("http"));
                    super::connections::websocket(
                        &url,
                        headers,
                        &messages,
                        *receive,
                        self.timeout,
                        &step.expect,
                        bytes,
                    )
                    .await
                }
                CompiledAction::Sse { path: p, events } => {
                    p.render(it, data, rng, &mut path)
                        .map_err(|e| fail(StepError::Other(format!("path: {e}"))))?;
                    let url = format!("{}{path}", self.base);
                    super::connections::sse(
                        client,
                        &url,
                        headers,
                        *events,
                        self.timeout,
                        &step.expect,
                        bytes,
                    )
                    .await
                }
            };
            outcome.map_err(fail)?;
            *done_steps = i + 1;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn http(
        &self,
        client: &reqwest::Client,
        step: &CompiledStep,
        method: &reqwest::Method,
        url: &str,
        headers: HeaderMap,
        body: Option<String>,
        it: &mut Iteration,
        jar: &mut Vec<(String, String)>,
        bytes: &mut u64,
    ) -> Result<(), StepError> {
        let mut builder =
            client.request(method.clone(), url).headers(headers).timeout(self.timeout);
        if let Some(body) = body {
            builder = builder.body(body);
        }
        let mut response =
            builder.send().await.map_err(|e| StepError::from_reqwest(&e, self.timeout))?;
        let status = response.status().as_u16();
        if self.cookies {
            for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
                if let Some((name, value, delete)) = value.to_str().ok().and_then(set_cookie) {
                    jar.retain(|(n, _)| *n != name);
                    if !delete {
                        jar.push((name, value));
                    }
                }
            }
        }
        let needs_body =
            step.captures.iter().any(|(_, from, _)| matches!(from, CaptureFrom::Json(_)));
        let mut found: Vec<(usize, Option<String>)> = Vec::new();
        for (slot, from, _) in &step.captures {
            match from {
                CaptureFrom::Header(name) => found.push((
                    *slot,
                    response
                        .headers()
                        .get(name.as_str())
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                )),
                CaptureFrom::Cookie(name) => found.push((
                    *slot,
                    response
                        .headers()
                        .get_all(reqwest::header::SET_COOKIE)
                        .iter()
                        .filter_map(|v| v.to_str().ok().and_then(set_cookie))
                        .find(|(n, _, _)| n == name)
                        .map(|(_, v, _)| v),
                )),
                CaptureFrom::Json(_) => {}
            }
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    *bytes += chunk.len() as u64;
                    if needs_body {
                        body.extend_from_slice(&chunk);
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(StepError::from_reqwest(&e, self.timeout)),
            }
        }
        if !step.expect.accepts(status) {
            return Err(StepError::Status(status));
        }
        if needs_body {
            let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
            for (slot, from, _) in &step.captures {
                if let CaptureFrom::Json(path) = from {
                    found.push((*slot, json.as_ref().and_then(|j| json_value(j, path))));
                }
            }
        }
        for (slot, value) in found {
            match value {
                Some(v) => it.vars[slot] = Some(v),
                None => {
                    let (_, from, name) = step
                        .captures
                        .iter()
                        .find(|(s, _, _)| *s == slot)
                        .expect("a capture of this step");
                    let what = if needs_body
                        && matches!(from, CaptureFrom::Json(_))
                        && serde_json::from_slice::<serde_json::Value>(&body).is_err()
                    {
                        " (the body is not JSON)"
                    } else {
                        ""
                    };
                    return Err(StepError::Other(format!(
                        "capture `{name}` = \"{from}\" matched nothing in the {status} response{what}"
                    )));
                }
            }
        }
        Ok(())
    }
}

fn compile_step(step: &Step, scope: &Scope<'_>) -> Result<CompiledStep, String> {
    let mut fixed_headers = HeaderMap::new();
    let mut headers = Vec::new();
    let mut content_type = None;
    for (name, value) in &step.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a valid header name"))?;
        let compiled = Compiled::new(value, Escape::Header, scope)?;
        if header == reqwest::header::CONTENT_TYPE {
            content_type = Some(value.source().to_ascii_lowercase());
        }
        match compiled.fixed() {
            Some(text) => {
                let v = HeaderValue::from_str(text)
                    .map_err(|_| format!("the value of header `{name}` is not valid in HTTP"))?;
                fixed_headers.append(header, v);
            }
            None => headers.push((header, compiled)),
        }
    }
    let action = match &step.action {
        Action::Http { method, path, body } => {
            let method = reqwest::Method::from_bytes(method.as_bytes())
                .map_err(|_| format!("`{method}` is not an HTTP method"))?;
            let body_escape = |text: &str| match content_type.as_deref() {
                Some(ct) if ct.contains("json") => Escape::JsonValue,
                Some(ct) if ct.contains("x-www-form-urlencoded") => Escape::Form,
                Some(_) => Escape::Raw,
                None if matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'[')) => {
                    Escape::JsonValue
                }
                None => Escape::Raw,
            };
            let body = match body {
                Some(b) => Some(Compiled::new(b, body_escape(&b.source()), scope)?),
                None => None,
            };
            CompiledAction::Http { method, path: Compiled::new(path, Escape::Path, scope)?, body }
        }
        Action::WebSocket { path, send, receive } => CompiledAction::WebSocket {
            path: Compiled::new(path, Escape::Path, scope)?,
            send: send
                .iter()
                .map(|m| {
                    let escape = if matches!(
                        m.source().trim_start().as_bytes().first(),
                        Some(b'{' | b'[')
                    ) {
                        Escape::JsonValue
                    } else {
                        Escape::Raw
                    };
                    Compiled::new(m, escape, scope)
                })
                .collect::<Result<_, _>>()?,
            receive: *receive,
        },
        Action::Sse { path, events } => {
            CompiledAction::Sse { path: Compiled::new(path, Escape::Path, scope)?, events: *events }
        }
    };
    let captures = step
        .captures
        .iter()
        .map(|Capture { name, from }| {
            let slot =
                scope.slots.iter().position(|s| s == name).expect("every capture has a slot");
            (slot, from.clone(), name.clone())
        })
        .collect();
    let expect = step.expect_status.clone().unwrap_or_else(|| match step.action {
        Action::WebSocket { .. } => StatusSet::switching(),
        _ => StatusSet::success(),
    });
    Ok(CompiledStep {
        name: step.name.clone(),
        what: step.describe(),
        action,
        fixed_headers,
        headers,
        captures,
        abort: step.abort,
        expect,
    })
}

/// `name=value; Path=/; Max-Age=0` → the name, the value, and whether it deletes the cookie.
fn set_cookie(header: &str) -> Option<(String, String, bool)> {
    let mut parts = header.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let delete = parts.any(|attr| {
        let attr = attr.trim().to_ascii_lowercase();
        attr.strip_prefix("max-age=").is_some_and(|v| v.trim().parse::<i64>().is_ok_and(|n| n <= 0))
            || attr.starts_with("expires=thu, 01 jan 1970")
    });
    Some((name.trim().to_owned(), value.trim().trim_matches('"').to_owned(), delete))
}

/// The value at `path`: strings as they are, numbers and booleans as text, objects and
/// arrays as compact JSON; `null` and missing keys are nothing.
fn json_value(json: &serde_json::Value, path: &[JsonKey]) -> Option<String> {
    let mut at = json;
    for key in path {
        at = match key {
            JsonKey::Field(name) => at.get(name)?,
            JsonKey::Index(i) => at.get(*i)?,
        };
    }
    match at {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_json_paths() {
        assert_eq!(
            set_cookie("sid=abc; Path=/; HttpOnly"),
            Some(("sid".into(), "abc".into(), false))
        );
        assert_eq!(set_cookie("sid=; Max-Age=0"), Some(("sid".into(), "".into(), true)));
        let json: serde_json::Value = serde_json::json!({"a": {"b": [1, {"c": "x"}]}, "n": null});
        let path = |p: &[JsonKey]| json_value(&json, p);
        use JsonKey::{Field as F, Index as I};
        assert_eq!(path(&[F("a".into()), F("b".into()), I(1), F("c".into())]), Some("x".into()));
        assert_eq!(path(&[F("a".into()), F("b".into()), I(0)]), Some("1".into()));
        assert_eq!(path(&[F("n".into())]), None);
        assert_eq!(path(&[F("zz".into())]), None);
    }
}
