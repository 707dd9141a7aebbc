//! Per-request values in a route's `path`, `headers` and `body` (and a WebSocket step's `send`):
//! the text of a value split into literal pieces and placeholders. `{seq}`, `{uuid}`,
//! `{rand:A..B}`, `{row.COLUMN}` (a row of the route's `data` file) and `{NAME}` (a value a
//! `capture` made). Braces around anything that is not a placeholder's shape (JSON, `{}`) are
//! plain text. Parsing is pure; [`crate::load`] renders a template for each request.
//!
//! ```
//! use leakcheck::leakspec::template::{Piece, Template};
//! let t = Template::parse("/users/{seq}?sku={rand:1..9}&v={token}").unwrap();
//! assert_eq!(t.pieces()[1], Piece::Seq);
//! assert_eq!(t.pieces()[3], Piece::Rand(1, 9));
//! assert_eq!(t.pieces()[5], Piece::Var("token".into()));
//! assert!(Template::parse(r#"{"a": {"b": 1}}"#).unwrap().is_static());
//! ```

use std::ops::Range;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text sent as written.
    Text(String),
    /// `{seq}`: the iteration's number, 0, 1, 2, ... across the whole route (warm-up
    /// included), never repeating.
    Seq,
    /// `{uuid}`: a random version-4 UUID, one per iteration.
    Uuid,
    /// `{rand:A..B}`: an integer from A to B (both included), drawn at each use.
    Rand(i64, i64),
    /// `{row.COLUMN}`: the column of the iteration's row of the `data` file (rows cycled).
    Row(String),
    /// `{NAME}`: a value captured by an earlier step or the target's `setup`.
    Var(String),
}

/// A string with placeholders, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// A malformed placeholder: where it is in the string (byte range) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceholderError {
    /// Byte range of the placeholder, braces included, within the string.
    pub range: Range<usize>,
    /// What is wrong, a fragment such as "`{rand:9..1}` ends below its start".
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

/// The placeholders every route knows, for "did you mean" hints.
pub const BUILTINS: &[&str] = &["seq", "uuid", "rand:A..B", "row.COLUMN"];

fn is_name(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Template {
    /// Splits `text` into pieces. Errors name each malformed placeholder.
    pub fn parse(text: &str) -> Result<Template, Vec<PlaceholderError>> {
        let mut pieces = Vec::new();
        let mut errors = Vec::new();
        let mut literal = String::new();
        let mut rest = 0;
        let mut at = 0;
        while let Some(open) = text[at..].find('{').map(|i| at + i) {
            let Some(len) = text[open + 1..].find(['}', '{', '"', '\n']) else { break };
            let close = open + 1 + len;
            if text.as_bytes()[close] != b'}' {
                at = close;
                continue;
            }
            let inner = &text[open + 1..close];
            let piece = match inner {
                "seq" => Some(Ok(Piece::Seq)),
                "uuid" => Some(Ok(Piece::Uuid)),
                _ if inner.starts_with("rand:") => Some(rand(&inner[5..])),
                _ if inner.starts_with("row.") => {
                    let column = &inner[4..];
                    if column.is_empty() || column.contains(['{', '}']) {
                        Some(Err(("a `{row.…}` placeholder names a column".to_owned(), None)))
                    } else {
                        Some(Ok(Piece::Row(column.to_owned())))
                    }
                }
                "row" => Some(Err((
                    "`{row}` needs a column".to_owned(),
                    Some("write `{row.COLUMN}`, e.g. `{row.email}`".to_owned()),
                ))),
                _ if is_name(inner) => Some(Ok(Piece::Var(inner.to_owned()))),
                _ => None, // Not a placeholder's shape: JSON, `{}`, `{ a }`...
            };
            match piece {
                None => {}
                Some(Ok(piece)) => {
                    literal.push_str(&text[rest..open]);
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(piece);
                    rest = close + 1;
                }
                Some(Err((message, help))) => {
                    errors.push(PlaceholderError { range: open..close + 1, message, help });
                }
            }
            at = close + 1;
        }
        literal.push_str(&text[rest..]);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        if errors.is_empty() { Ok(Template { pieces }) } else { Err(errors) }
    }

    /// A template of plain text.
    pub fn text(text: &str) -> Template {
        let pieces = if text.is_empty() { vec![] } else { vec![Piece::Text(text.to_owned())] };
        Template { pieces }
    }

    /// The pieces, in order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// True when the template holds no placeholder: every request sends the same text.
    pub fn is_static(&self) -> bool {
        self.pieces.iter().all(|p| matches!(p, Piece::Text(_)))
    }

    /// The names of the captured values it uses (`{NAME}`), in order.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// The data-file columns it uses (`{row.COLUMN}`), in order.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Row(column) => Some(column.as_str()),
            _ => None,
        })
    }

    /// The template as written (placeholders in braces).
    pub fn source(&self) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Seq => out.push_str("{seq}"),
                Piece::Uuid => out.push_str("{uuid}"),
                Piece::Rand(a, b) => out.push_str(&format!("{{rand:{a}..{b}}}")),
                Piece::Row(c) => out.push_str(&format!("{{row.{c}}}")),
                Piece::Var(n) => out.push_str(&format!("{{{n}}}")),
            }
        }
        out
    }
}

fn rand(range: &str) -> Result<Piece, (String, Option<String>)> {
    let help = || Some("write two integers, e.g. `{rand:1..1000}`".to_owned());
    let Some((a, b)) = range.split_once("..") else {
        return Err((format!("`{{rand:{range}}}` is not a range"), help()));
    };
    let (Ok(a), Ok(b)) = (a.trim().parse::<i64>(), b.trim().parse::<i64>()) else {
        return Err((format!("`{{rand:{range}}}` is not a range of integers"), help()));
    };
    if b < a {
        return Err((
            format!("`{{rand:{range}}}` ends below its start"),
            Some(format!("write `{{rand:{b}..{a}}}`")),
        ));
    }
    Ok(Piece::Rand(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_placeholders_and_keeps_json_braces() {
        let t = Template::parse(r#"{"id": {seq}, "email": "{row.email}", "x": {"y": "{uuid}"}}"#)
            .unwrap();
        assert_eq!(
            t.pieces(),
            [
                Piece::Text(r#"{"id": "#.into()),
                Piece::Seq,
                Piece::Text(r#", "email": ""#.into()),
                Piece::Row("email".into()),
                Piece::Text(r#"", "x": {"y": ""#.into()),
                Piece::Uuid,
                Piece::Text(r#""}}"#.into()),
            ]
        );
        assert_eq!(t.source(), r#"{"id": {seq}, "email": "{row.email}", "x": {"y": "{uuid}"}}"#);
        assert!(Template::parse("{}").unwrap().is_static());
        assert!(Template::parse("{ a }").unwrap().is_static());
        assert!(Template::parse("a{b").unwrap().is_static());
    }

    #[test]
    fn malformed_placeholders_are_errors_with_their_range() {
        let errors = Template::parse("/x/{rand:9..1}/{row}").unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].range, 3..14);
        assert!(errors[0].message.contains("ends below its start"), "{errors:?}");
        assert_eq!(errors[1].range, 15..20);
        assert!(Template::parse("{rand:a..b}").is_err());
        assert_eq!(Template::parse("{rand:-5..5}").unwrap().pieces(), [Piece::Rand(-5, 5)]);
    }
}
