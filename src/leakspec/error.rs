//! Errors in a spec, rendered the way rustc, cargo and ruff render theirs:
//! `file:line:column: message`, the source line with a caret under the offending text, then a
//! `help:` line saying what to write instead.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a spec file, located to the line and column when it has a place in the file.
///
/// Its `Display` is the full rendering:
///
/// ```text
/// leakspec.toml:12:1: unknown key `requsts` in [[target.route]]
///    |
/// 12 | requsts = 1000
///    | ^^^^^^^
/// help: did you mean `requests`?
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The spec file, as the user named it.
    pub path: PathBuf,
    /// 1-based line; `None` when the error is about the file as a whole (no target at all) or
    /// about a command-line override (`--target` naming no target).
    pub line: Option<usize>,
    /// 1-based column, counted in characters; `None` exactly when `line` is.
    pub column: Option<usize>,
    /// What is wrong, a lowercase fragment ("unknown key `requsts` in [[target.route]]").
    pub message: String,
    /// What to write instead, when there is something useful to say.
    pub help: Option<String>,
    /// The source line and the caret under the span, for the rendering.
    snippet: Option<Box<Snippet>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Snippet {
    text: String,
    caret_start: usize,
    caret_len: usize,
}

impl SpecError {
    /// An error about the file as a whole or about a command-line override: no line, no caret.
    pub fn whole_file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            line: None,
            column: None,
            message: message.into(),
            help: None,
            snippet: None,
        }
    }

    /// An error at byte range `span` of `source`.
    pub(crate) fn at(source: &Source<'_>, span: Range<usize>, message: impl Into<String>) -> Self {
        let text = source.text;
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line_text = text[line_start..line_end].trim_end_matches('\r');
        let line = text[..start].matches('\n').count() + 1;
        let column = text[line_start..start].chars().count() + 1;
        // The caret covers the span, cut at the end of its first line; tabs become four spaces
        // so the caret stays under the text it points at.
        let end = floor_char_boundary(text, span.end.clamp(start, line_start + line_text.len()));
        let expand = |s: &str| s.replace('\t', "    ");
        let caret_start = expand(&text[line_start..start]).chars().count();
        let caret_len = expand(&text[start..end]).chars().count().max(1);
        Self {
            path: source.path.to_path_buf(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
            help: None,
            snippet: Some(Box::new(Snippet { text: expand(line_text), caret_start, caret_len })),
        }
    }

    /// The same error with a `help:` line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}", self.message)?;
        if let (Some(snippet), Some(line)) = (&self.snippet, self.line) {
            let number = line.to_string();
            let gutter = " ".repeat(number.len());
            write!(
                f,
                "\n{gutter} |\n{number} | {}\n{gutter} | {}{}",
                snippet.text,
                " ".repeat(snippet.caret_start),
                "^".repeat(snippet.caret_len)
            )?;
        }
        if let Some(help) = &self.help {
            write!(f, "\nhelp: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

/// Every problem found in a spec, in the order they appear in the file (never empty).
///
/// Problems are found in stages (TOML syntax; unknown keys, missing keys and wrong types; then
/// values), and a stage reports all it finds; a later stage runs only when the earlier ones
/// found nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErrors(Vec<SpecError>);

impl SpecErrors {
    /// Wraps a non-empty list of errors, sorted by position.
    pub(crate) fn new(mut errors: Vec<SpecError>) -> Self {
        assert!(!errors.is_empty(), "SpecErrors must hold at least one error");
        errors.sort_by_key(|e| (e.line, e.column));
        errors.dedup();
        Self(errors)
    }

    /// The errors, first in the file first.
    pub fn errors(&self) -> &[SpecError] {
        &self.0
    }

    /// The first error in the file.
    pub fn first(&self) -> &SpecError {
        &self.0[0]
    }
}

impl From<SpecError> for SpecErrors {
    fn from(error: SpecError) -> Self {
        Self(vec![error])
    }
}

impl IntoIterator for SpecErrors {
    type Item = SpecError;
    type IntoIter = std::vec::IntoIter<SpecError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for SpecErrors {
    /// Each error rendered in full, separated by a blank line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

/// The text of a spec and the name to show in errors.
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) path: &'a Path,
    pub(crate) text: &'a str,
}

/// The closest of `candidates` to `word`, if close enough to be a likely typo: same words up to
/// case and `-`/`_`, or few edits apart (the cargo rule: a third of the length).
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let normal = |s: &str| s.to_ascii_lowercase().replace(['-', ' '], "_");
    let word_n = normal(word);
    let limit = word.chars().count().max(3) / 3;
    candidates
        .into_iter()
        .map(|c| {
            let distance = if normal(c) == word_n {
                0
            } else {
                strsim::damerau_levenshtein(&word_n, &normal(c))
            };
            (distance, c)
        })
        .filter(|&(distance, _)| distance <= limit)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_a_compiler() {
        let text = "[defaults]\nwarmup = 5\n\trequsts = 1000\n";
        let source = Source { path: Path::new("leakspec.toml"), text };
        let start = text.find("requsts").unwrap();
        let error = SpecError::at(&source, start..start + 7, "unknown key `requsts` in [defaults]")
            .with_help("did you mean `requests`?");
        assert_eq!((error.line, error.column), (Some(3), Some(2)));
        assert_eq!(
            error.to_string(),
            "leakspec.toml:3:2: unknown key `requsts` in [defaults]\n  |\n3 |     requsts = 1000\n  |     ^^^^^^^\nhelp: did you mean `requests`?"
        );
    }

    #[test]
    fn suggestions() {
        let keys = ["warmup", "requests", "concurrency", "route"];
        assert_eq!(did_you_mean("requsts", keys), Some("requests"));
        assert_eq!(did_you_mean("Requests", keys), Some("requests"));
        assert_eq!(did_you_mean("routes", keys), Some("route"));
        assert_eq!(did_you_mean("concurency", keys), Some("concurrency"));
        assert_eq!(did_you_mean("timeout", keys), None);
        assert_eq!(did_you_mean("max-rungs", ["max_rungs"]), Some("max_rungs"));
    }
}
