//! Secret values leakcheck sends, scrubbed from everything a target's report carries before any
//! report is written. A service that logs its request headers and then crashes would otherwise
//! put the `authorization`, `cookie` and API-key values of the spec into the terminal, JUnit,
//! the step summary, the `::error` annotation and the JSON `stderr_tail`.
//!
//! Two nets: every secret value leakcheck knows it sent (secret-named headers, secret query
//! parameters, secret-named environment variables, values the target's setup captured for
//! those places) is replaced wherever it appears; and any value written after a secret name
//! (`authorization: Bearer …`, `"cookie":"sid=…"`, `?access_token=…`) is replaced too, which
//! covers the tokens a flow captures anew on every iteration.
//!
//! ```
//! use leakcheck::runner::secrets::Secrets;
//! let mut s = Secrets::default();
//! s.add("sk-live-4242424242");
//! assert_eq!(
//!     s.scrub(r#"headers={"authorization":"Bearer abc.def","x-trace":"t1"} key sk-live-4242424242"#),
//!     r#"headers={"authorization":"<redacted>","x-trace":"t1"} key <redacted>"#
//! );
//! ```

use crate::leakspec::traffic::{Action, Traffic};
use crate::model::TargetReport;
use crate::plan::TargetPlan;

/// What replaces a secret.
const REDACTED: &str = "<redacted>";
/// Known values shorter than this are not replaced on their own (a `1` would blank every digit);
/// the name net still catches them after their name.
const SHORTEST: usize = 4;

/// The secret values of one target, and the scrubbing of text against them.
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    values: Vec<String>,
}

pub use crate::leakspec::is_secret_name;

impl Secrets {
    /// The secrets of a target's plan: secret-named headers (of plain routes and of flow and
    /// setup steps, where written literally), secret query parameters in paths, the values of
    /// secret-named environment variables, and the values inside cookies and after an auth
    /// scheme (`Bearer xyz` adds `xyz` too).
    pub fn of_target(t: &TargetPlan) -> Secrets {
        let mut s = Secrets::default();
        for (name, value) in &t.env {
            if is_secret_name(name) {
                s.add_header(name, value);
            }
        }
        let flows = t.routes.iter().filter_map(|r| r.traffic.flow()).chain(t.setup.as_ref());
        for flow in flows {
            for step in &flow.steps {
                for (name, value) in &step.headers {
                    if is_secret_name(name) {
                        s.add_header(name, &value.source());
                    }
                }
                if let Action::Http { path, .. } = &step.action {
                    s.add_query(&path.source());
                }
            }
        }
        for route in &t.routes {
            for header in &route.headers {
                if header.is_secret() {
                    s.add_header(&header.name, &header.value);
                }
            }
            s.add_query(&route.path);
            if let Traffic::Command(command) = &route.traffic {
                for (i, arg) in command.argv.iter().enumerate() {
                    // `-H "authorization: Bearer x"`, `--token x`.
                    if let Some((name, value)) = arg.split_once(':')
                        && is_secret_name(name.trim())
                    {
                        s.add_header(name.trim(), value.trim());
                    }
                    if i > 0
                        && command.argv[i - 1].starts_with('-')
                        && is_secret_name(&command.argv[i - 1])
                    {
                        s.add(arg);
                    }
                }
                command.argv.iter().for_each(|arg| s.add_query(arg));
            }
        }
        s
    }

    /// Adds the values the target's setup captured (`{NAME}`) that its steps send in a
    /// secret-named header or a query string.
    pub fn add_captured(&mut self, t: &TargetPlan, captured: &[(String, String)]) {
        let mut used: Vec<&str> = Vec::new();
        let flows = t.routes.iter().filter_map(|r| r.traffic.flow()).chain(t.setup.as_ref());
        for step in flows.flat_map(|f| &f.steps) {
            for (name, value) in &step.headers {
                if is_secret_name(name) {
                    used.extend(value.vars());
                }
            }
            if let Action::Http { path, .. } = &step.action
                && path.source().contains('?')
            {
                used.extend(path.vars());
            }
        }
        for (name, value) in captured {
            if used.contains(&name.as_str()) {
                self.add(value);
            }
        }
    }

    /// Adds one secret value.
    pub fn add(&mut self, value: &str) {
        let value = value.trim();
        if value.len() >= SHORTEST && !self.values.iter().any(|v| v == value) {
            self.values.push(value.to_owned());
            // Longest first, so a value containing another is replaced whole.
            self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// A header's value, its token after an auth scheme, and each cookie's value.
    fn add_header(&mut self, name: &str, value: &str) {
        if value.contains('{') {
            return;
        }
        self.add(value);
        if let Some((_scheme, token)) = value.trim().split_once(' ') {
            self.add(token);
        }
        if name.to_ascii_lowercase().contains("cookie") {
            for pair in value.split(';') {
                if let Some((_, v)) = pair.split_once('=') {
                    self.add(v);
                }
            }
        }
    }

    /// The values of secret-named query parameters of a path (`?access_token=…&sig=…`).
    fn add_query(&mut self, path: &str) {
        let Some((_, query)) = path.split_once('?') else { return };
        for pair in query.split('&') {
            if let Some((name, value)) = pair.split_once('=')
                && is_secret_name(name)
                && !value.contains('{')
            {
                self.add(value);
            }
        }
    }

    /// `text` with every known secret value, and every value written after a secret name,
    /// replaced by `<redacted>`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), REDACTED);
            }
        }
        scrub_named(&out)
    }

    /// Scrubs every text of a target's report: its error and stderr tail, the command lines
    /// of processes it left, and per route the error, the path, the load's first errors and
    /// the load command's arguments and output.
    pub fn scrub_report(&self, report: &mut TargetReport) {
        let scrub = |text: &mut String| *text = self.scrub(text);
        report.error.iter_mut().for_each(scrub);
        report.stderr_tail.iter_mut().for_each(scrub);
        report.exit.iter_mut().for_each(scrub);
        for escaped in &mut report.escaped {
            scrub(&mut escaped.command);
        }
        for route in &mut report.routes {
            scrub(&mut route.path);
            route.error.iter_mut().for_each(scrub);
            route.load.first_error.iter_mut().for_each(scrub);
            for step in &mut route.load.steps {
                step.first_error.iter_mut().for_each(scrub);
            }
            if let Some(command) = &mut route.load.command {
                command.argv.iter_mut().for_each(scrub);
                scrub(&mut command.output_tail);
            }
            if let Some(verdict) = &mut route.verdict {
                for failure in &mut verdict.failures {
                    if let crate::model::verdict::Failure::FailedRequests { first_error, .. } =
                        failure
                    {
                        first_error.iter_mut().for_each(scrub);
                    }
                }
            }
        }
    }
}

/// Replaces the value written after each secret name: `authorization: Bearer x`,
/// `"x-api-key":"k"`, `'cookie': 'a=1; b=2'`, `access_token=t&…`, `AUTHORIZATION=Basic x`.
fn scrub_named(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    while i < bytes.len() {
        if !is_word(bytes[i]) || (i > 0 && is_word(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_word(bytes[i]) {
            i += 1;
        }
        let name = &text[start..i];
        if !is_secret_name(name) {
            continue;
        }
        // After the name: an optional closing quote, spaces, `:` or `=`, spaces, a quote.
        let mut j = i;
        if j < bytes.len() && (bytes[j] == b'"' || bytes[j] == b'\'') {
            j += 1;
        }
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        if j >= bytes.len() || (bytes[j] != b':' && bytes[j] != b'=') {
            continue;
        }
        j += 1;
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        let quote = (j < bytes.len() && (bytes[j] == b'"' || bytes[j] == b'\'')).then(|| bytes[j]);
        if quote.is_some() {
            j += 1;
        }
        let value_start = j;
        let cookie = name.to_ascii_lowercase().contains("cookie");
        let mut words = 0;
        while j < bytes.len() {
            let b = bytes[j];
            let ends = match quote {
                // JSON escapes a quote inside as `\"`.
                Some(q) => b == q && bytes[j - 1] != b'\\',
                None if cookie => b == b'\n' || b == b'"' || b == b',',
                None => {
                    b == b'\n'
                        || b == b'&'
                        || b == b','
                        || b == b'"'
                        || b == b'\''
                        || b == b'}'
                        || b == b')'
                        || (b == b' ' && {
                            // `Bearer xyz`: a scheme and its credentials are one value.
                            words += 1;
                            words > 1 || !is_scheme(&text[value_start..j])
                        })
                }
            };
            if ends {
                break;
            }
            j += 1;
        }
        if j > value_start {
            out.push_str(&text[copied..value_start]);
            out.push_str(REDACTED);
            copied = j;
        }
        i = j.max(i);
    }
    out.push_str(&text[copied..]);
    out
}

/// An HTTP auth scheme written before credentials.
fn is_scheme(word: &str) -> bool {
    ["bearer", "basic", "token", "digest", "apikey", "hoba", "negotiate"]
        .contains(&word.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_after_secret_names_go_in_every_shape() {
        let cases = [
            (
                "2026-12-02T16:00:00Z WARN  inventory: order request headers={\"authorization\":\"Bearer eyJh.x.y\",\"cookie\":\"sid=abc; theme=dark\",\"x-api-key\":\"k-123\",\"x-auth-token\":\"t-9\",\"host\":\"127.0.0.1:3000\"}",
                "2026-12-02T16:00:00Z WARN  inventory: order request headers={\"authorization\":\"<redacted>\",\"cookie\":\"<redacted>\",\"x-api-key\":\"<redacted>\",\"x-auth-token\":\"<redacted>\",\"host\":\"127.0.0.1:3000\"}",
            ),
            (
                "{ authorization: 'Bearer abc', 'x-csrf-token': 'c1' }",
                "{ authorization: '<redacted>', 'x-csrf-token': '<redacted>' }",
            ),
            ("Authorization: Bearer abc.def ghi", "Authorization: <redacted> ghi"),
            ("Cookie: sid=1; theme=dark", "Cookie: <redacted>"),
            (
                "GET /api/orders?access_token=qs-1&page=2 HTTP/1.1",
                "GET /api/orders?access_token=<redacted>&page=2 HTTP/1.1",
            ),
            ("API_KEY=abcdef node server.js", "API_KEY=<redacted> node server.js"),
            ("no secrets here: key=SKU-1, sku: 42", "no secrets here: key=SKU-1, sku: 42"),
            ("the token expired", "the token expired"),
        ];
        for (text, want) in cases {
            assert_eq!(scrub_named(text), want, "{text}");
        }
    }

    #[test]
    fn known_values_go_anywhere_longest_first() {
        let mut s = Secrets::default();
        s.add_header("cookie", "sid=s3cr3t-session; theme=dark");
        s.add_header("Authorization", "Bearer sk-live-1234");
        s.add("x");
        let text = "crashed: session s3cr3t-session for sk-live-1234 (Bearer sk-live-1234)";
        assert_eq!(s.scrub(text), "crashed: session <redacted> for <redacted> (<redacted>)");
        assert!(!s.values.contains(&"x".to_owned()), "too short to replace alone");
    }
}
