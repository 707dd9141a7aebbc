//! `leakspec.toml`: the declarative description of what `leakcheck run` starts, loads and
//! judges. Raw serde types with spans are checked and turned into the validated [`Spec`];
//! [`crate::plan`] then resolves inheritance and defaults.
//!
//! Every problem is a [`SpecError`] naming file, line and column, with the source line, a caret
//! and a hint:
//!
//! ```
//! use std::path::Path;
//! use leakcheck::leakspec::Spec;
//!
//! let text = r#"
//! [[target]]
//! name = "api"
//! command = ["node", "server.js"]
//!
//! [[target.route]]
//! name = "chat"
//! path = "/api/chat"
//! requsts = 1000
//! "#;
//! let errors = Spec::parse(text, Path::new("leakspec.toml")).unwrap_err();
//! assert_eq!(errors.to_string(), "\
//! leakspec.toml:9:1: unknown key `requsts` in [[target.route]]
//!   |
//! 9 | requsts = 1000
//!   | ^^^^^^^
//! help: did you mean `requests`?");
//! ```
//!
//! The JSON Schema of the format, for editors, is [`json_schema`] (committed as
//! `leakspec.schema.json`).

pub mod data;
mod error;
mod flows;
mod keys;
mod model;
mod raw;
pub mod template;
pub mod traffic;
mod units;
mod validate;

use std::path::{Path, PathBuf};

pub use error::{SpecError, SpecErrors};
pub use model::{
    Allocations, Budget, FailedRequests, Header, Ignored, Route, Runtime, SECRET_HEADERS, Settings,
    Spec, Target, Worker, is_secret_name,
};
pub use units::{
    ByteSize, BytesPerRequest, ObjectsPerRequest, RegressionTolerance, UnitError, format_duration,
    parse_duration,
};
pub use validate::{MAX_CONCURRENCY, MAX_REQUESTS, MAX_RUNGS, PORT_PLACEHOLDER, is_inspect_flag};

use error::Source;
pub(crate) use error::did_you_mean;

impl Spec {
    /// Reads and validates the spec at `path`. Relative `cwd`s resolve against the file's folder,
    /// made absolute here.
    pub fn load(path: &Path) -> Result<Spec, SpecErrors> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SpecError::whole_file(path, format!("could not read the spec: {e}")))?;
        let mut spec = Spec::parse(&text, path)?;
        if let Ok(dir) = std::path::absolute(&spec.dir) {
            spec.dir = dir;
        }
        data::check_files(&spec, &Source { path, text: &text }).map_err(SpecErrors::new)?;
        Ok(spec)
    }

    /// Validates spec text; `path` names the file in errors and its folder is [`Spec::dir`]
    /// (as given: pass an absolute path for an absolute `dir`). Reads nothing from disk.
    pub fn parse(text: &str, path: &Path) -> Result<Spec, SpecErrors> {
        let source = Source { path, text };
        let document = toml::de::DeTable::parse(text).map_err(|e| {
            // TOML's own word for a route above every target is "duplicate key", which says
            // nothing of the cause: name it.
            match route_before_target(text) {
                Some(span) => SpecErrors::from(
                    SpecError::at(&source, span, "`[[target.route]]` before any `[[target]]`")
                        .with_help(
                            "a route belongs to the `[[target]]` above it: start with a `[[target]]` (its `name` and `command`), then its routes",
                        ),
                ),
                None => toml_error(&source, &e),
            }
        })?;
        let errors = keys::check(&source, &document);
        if !errors.is_empty() {
            return Err(SpecErrors::new(errors));
        }
        // The shape check passed, so serde meets only values of the right type.
        let raw: raw::RawSpec = toml::from_str(text).map_err(|e| toml_error(&source, &e))?;
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        validate::validate(source, raw, dir).map_err(SpecErrors::new)
    }
}

/// The span of a `[[target.route]]` (or `[target.*]`) header that comes before every
/// `[[target]]` header, if one does. Lines inside multi-line strings are not told apart: only
/// asked once TOML has refused the file.
fn route_before_target(text: &str) -> Option<std::ops::Range<usize>> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        let at = start + (line.len() - trimmed.len());
        let header: String = trimmed
            .split('#')
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if header == "[[target]]" {
            return None;
        }
        if header.starts_with("[[target.") || header.starts_with("[target.") {
            return Some(at..at + trimmed.trim_end().len());
        }
    }
    None
}

fn toml_error(source: &Source<'_>, error: &toml::de::Error) -> SpecErrors {
    let message = error.message().trim_end().to_owned();
    match error.span() {
        Some(span) => SpecError::at(source, span, message).into(),
        None => SpecError::whole_file(source.path, message).into(),
    }
}

/// The JSON Schema (draft-07, which most editors read) of `leakspec.toml`, pretty-printed with
/// a trailing newline; committed at the top of the repository as `leakspec.schema.json`.
///
/// ```
/// let schema = leakcheck::leakspec::json_schema();
/// assert!(schema.contains("\"max_bytes_per_request\""));
/// ```
pub fn json_schema() -> String {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<raw::RawSpec>();
    let mut value = schema.to_value();
    drop_null(&mut value);
    // Defaulted for serde (so the shape check can report them missing with a hint), yet
    // required by the format.
    value["required"] = serde_json::json!(["target"]);
    if let Some(required) = value["definitions"]["Target"]["required"].as_array_mut() {
        required.push("route".into());
    }
    let mut text = serde_json::to_string_pretty(&value).expect("a schema serialises");
    text.push('\n');
    text
}

/// TOML has no null: an optional key is simply left out. Removes the `"null"` type and the
/// `"default": null` that schemars gives `Option` fields.
fn drop_null(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if map.get("default").is_some_and(Value::is_null) {
                map.remove("default");
            }
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            map.values_mut().for_each(drop_null);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::keys::Table;

    /// The shape check's key lists and the serde types (through the schema) must agree.
    #[test]
    fn key_lists_match_the_schema() {
        let schema: serde_json::Value = serde_json::from_str(&super::json_schema()).unwrap();
        let props = |definition: Option<&str>| -> Vec<String> {
            let node = match definition {
                None => &schema,
                Some(name) => &schema["definitions"][name],
            };
            let mut keys: Vec<String> = node["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("no properties in {definition:?}"))
                .keys()
                .cloned()
                .collect();
            keys.sort();
            keys
        };
        for (table, definition) in [
            (Table::Root, None),
            (Table::Defaults, Some("Defaults")),
            (Table::Target, Some("Target")),
            (Table::Route, Some("Route")),
            (Table::TargetBudget, Some("Budget")),
            (Table::Step, Some("Step")),
            (Table::Setup, Some("Step")),
            (Table::Load, Some("Load")),
        ] {
            let mut keys: Vec<String> = table.keys().iter().map(|(k, _)| k.to_string()).collect();
            keys.sort();
            assert_eq!(keys, props(definition), "{table:?}");
        }
    }
}
