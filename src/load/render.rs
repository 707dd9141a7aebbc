//! Filling templates for one request: each placeholder resolved against the iteration (its
//! `{seq}`, `{uuid}`, data row and captured values) and escaped for where it lands: percent-
//! encoded in a path, JSON-escaped inside a JSON string (a JSON value outside one), form-encoded
//! in a form body, checked for line breaks in a header. The hot path of templated load: one
//! pass over precomputed parts into a reused buffer, no parsing per request.

use std::fmt::Write as _;

use crate::leakspec::data::DataTable;
use crate::leakspec::template::{Piece, Template};

/// How a substituted value is written where it lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// As is (a plain-text body).
    Raw,
    /// Percent-encoded: everything but `A-Z a-z 0-9 - . _ ~` (paths and queries).
    Path,
    /// Inside a JSON string: `"`, `\` and control characters escaped.
    JsonString,
    /// A JSON value outside a string: numbers as they are, anything else as a JSON string.
    JsonValue,
    /// `application/x-www-form-urlencoded`: percent-encoded, space as `+`.
    Form,
    /// A header value: as is, but a line break or NUL fails the request.
    Header,
}

/// Where a value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Seq,
    Uuid,
    Rand(i64, i64),
    Row(usize),
    Var(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Value(Source, Escape),
}

/// A template compiled for one place: columns and captured names resolved to indices, each
/// placeholder's escaping decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    parts: Vec<Part>,
    /// The text, when no placeholder needs filling.
    fixed: Option<String>,
}

/// The values of one iteration.
#[derive(Debug, Clone, Default)]
pub struct Iteration {
    /// `{seq}`.
    pub seq: u64,
    /// `{uuid}`.
    pub uuid: String,
    /// The data row's index.
    pub row: usize,
    /// Captured values by slot (setup's first); `None` until captured.
    pub vars: Vec<Option<String>>,
}

/// What compiling needs to know: the data file and the names of the capture slots.
pub struct Scope<'a> {
    /// The route's data file.
    pub data: Option<&'a DataTable>,
    /// Capture names, by slot.
    pub slots: &'a [String],
}

impl Compiled {
    /// Compiles `template` with every value escaped by `escape` (in a JSON body, pass
    /// [`Escape::JsonValue`]: each placeholder then gets [`Escape::JsonString`] inside a
    /// string literal). Errors name an unknown column or capture.
    pub fn new(template: &Template, escape: Escape, scope: &Scope<'_>) -> Result<Compiled, String> {
        let mut parts = Vec::new();
        let mut in_string = false;
        let mut escaped = false;
        for piece in template.pieces() {
            let source = match piece {
                Piece::Text(text) => {
                    if escape == Escape::JsonValue {
                        for c in text.chars() {
                            match (c, escaped) {
                                (_, true) => escaped = false,
                                ('\\', false) if in_string => escaped = true,
                                ('"', false) => in_string = !in_string,
                                _ => {}
                            }
                        }
                    }
                    parts.push(Part::Lit(text.clone()));
                    continue;
                }
                Piece::Seq => Source::Seq,
                Piece::Uuid => Source::Uuid,
                Piece::Rand(a, b) => Source::Rand(*a, *b),
                Piece::Row(column) => {
                    let data = scope
                        .data
                        .ok_or_else(|| format!("`{{row.{column}}}` needs a `data` file"))?;
                    Source::Row(data.column(column).ok_or_else(|| {
                        format!(
                            "the data file has no column `{column}` (columns: {})",
                            data.columns.join(", ")
                        )
                    })?)
                }
                Piece::Var(name) => Source::Var(
                    scope
                        .slots
                        .iter()
                        .position(|s| s == name)
                        .ok_or_else(|| format!("nothing captures `{{{name}}}`"))?,
                ),
            };
            let escape = match (escape, in_string) {
                (Escape::JsonValue, true) => Escape::JsonString,
                (e, _) => e,
            };
            parts.push(Part::Value(source, escape));
        }
        let fixed = template.is_static().then(|| template.source());
        Ok(Compiled { parts, fixed })
    }

    /// The text, when every request sends the same.
    pub fn fixed(&self) -> Option<&str> {
        self.fixed.as_deref()
    }

    /// Appends the filled template to `out`. Errors when a value can't go where it lands (a
    /// line break in a header) or a capture is missing.
    pub fn render(
        &self,
        it: &Iteration,
        data: Option<&DataTable>,
        rng: &mut Rng,
        out: &mut String,
    ) -> Result<(), String> {
        if let Some(fixed) = &self.fixed {
            out.push_str(fixed);
            return Ok(());
        }
        let mut number = String::new();
        for part in &self.parts {
            let (source, escape) = match part {
                Part::Lit(text) => {
                    out.push_str(text);
                    continue;
                }
                Part::Value(source, escape) => (source, *escape),
            };
            let value: &str = match source {
                Source::Seq => {
                    number.clear();
                    let _ = write!(number, "{}", it.seq);
                    &number
                }
                Source::Rand(a, b) => {
                    number.clear();
                    let _ = write!(number, "{}", rng.between(*a, *b));
                    &number
                }
                Source::Uuid => &it.uuid,
                Source::Row(column) => {
                    let data = data.expect("compiled with a data file");
                    &data.rows[it.row % data.rows.len()][*column]
                }
                Source::Var(slot) => it
                    .vars
                    .get(*slot)
                    .and_then(|v| v.as_deref())
                    .ok_or("a captured value is missing")?,
            };
            push_escaped(out, value, escape)?;
        }
        Ok(())
    }
}

fn push_escaped(out: &mut String, value: &str, escape: Escape) -> Result<(), String> {
    match escape {
        Escape::Raw => out.push_str(value),
        Escape::Header => {
            if value.contains(['\r', '\n', '\0']) {
                return Err("a substituted value holds a line break or NUL".into());
            }
            out.push_str(value);
        }
        Escape::Path | Escape::Form => {
            for b in value.bytes() {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    out.push(b as char);
                } else if b == b' ' && escape == Escape::Form {
                    out.push('+');
                } else {
                    let _ = write!(out, "%{b:02X}");
                }
            }
        }
        Escape::JsonString => json_string_body(out, value),
        Escape::JsonValue => {
            if is_json_number(value) {
                out.push_str(value);
            } else {
                out.push('"');
                json_string_body(out, value);
                out.push('"');
            }
        }
    }
    Ok(())
}

fn json_string_body(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// A JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// SplitMix64: fast, small, good enough for test values (not for secrets).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from the clock and `stream` (one per worker).
    pub fn new(stream: u64) -> Rng {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng(now ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An integer from `a` to `b`, both included.
    pub fn between(&mut self, a: i64, b: i64) -> i64 {
        let span = (b as i128 - a as i128 + 1) as u128;
        (a as i128 + (self.next_u64() as u128 % span) as i128) as i64
    }

    /// A random version-4 UUID, lower-case.
    pub fn uuid(&mut self) -> String {
        let (hi, lo) = (self.next_u64(), self.next_u64());
        let hi = (hi & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
        let lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xFFFF,
            hi & 0xFFFF,
            lo >> 48,
            lo & 0xFFFF_FFFF_FFFF
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str, escape: Escape, data: Option<&DataTable>, slots: &[String]) -> Compiled {
        Compiled::new(&Template::parse(text).unwrap(), escape, &Scope { data, slots }).unwrap()
    }

    #[test]
    fn json_bodies_stay_valid_json() {
        let data = DataTable::parse("email,n\n\"a\"\"b\\\\c\n\",7\n").unwrap();
        let slots = vec!["token".to_owned()];
        let body = compile(
            r#"{"id": {seq}, "email": "{row.email}", "n": {row.n}, "t": {token}, "r": {rand:5..5}}"#,
            Escape::JsonValue,
            Some(&data),
            &slots,
        );
        let it = Iteration { seq: 42, vars: vec![Some("x\"y".into())], ..Iteration::default() };
        let mut out = String::new();
        body.render(&it, Some(&data), &mut Rng::new(1), &mut out).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(v["id"], 42);
        assert_eq!(v["email"], "a\"b\\\\c\n");
        assert_eq!(v["n"], 7);
        assert_eq!(v["t"], "x\"y");
        assert_eq!(v["r"], 5);
    }

    #[test]
    fn paths_are_percent_encoded_and_headers_refuse_line_breaks() {
        let slots = vec!["v".to_owned()];
        let path = compile("/u/{v}?q={seq}", Escape::Path, None, &slots);
        let it = Iteration { seq: 3, vars: vec![Some("a b/ü".into())], ..Iteration::default() };
        let mut out = String::new();
        path.render(&it, None, &mut Rng::new(1), &mut out).unwrap();
        assert_eq!(out, "/u/a%20b%2F%C3%BC?q=3");
        let header = compile("Bearer {v}", Escape::Header, None, &slots);
        let it = Iteration { vars: vec![Some("x\r\ny".into())], ..Iteration::default() };
        assert!(header.render(&it, None, &mut Rng::new(1), &mut String::new()).is_err());
        assert_eq!(compile("/fixed", Escape::Path, None, &[]).fixed(), Some("/fixed"));
    }

    #[test]
    fn random_values_stay_in_range_and_uuids_are_version_4() {
        let mut rng = Rng::new(7);
        for _ in 0..1000 {
            let v = rng.between(-3, 3);
            assert!((-3..=3).contains(&v));
        }
        let u = rng.uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]));
        assert!(
            is_json_number("-1.5e3")
                && is_json_number("0")
                && !is_json_number("01")
                && !is_json_number("1.")
        );
    }
}
