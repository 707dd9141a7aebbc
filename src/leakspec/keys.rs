//! The shape check: walks the parsed TOML tree (every key and value with its span) and reports
//! unknown keys with a "did you mean", keys in the wrong table, missing required keys and values
//! of the wrong type, all at once. Only a spec that passes reaches serde, so serde never has to
//! produce (poorer) errors of its own.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{Source, SpecError, did_you_mean};

/// The tables of a spec. Each knows its header (for messages) and its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Root,
    Defaults,
    DefaultsBudget,
    Target,
    TargetBudget,
    Route,
    RouteBudget,
    Step,
    Setup,
    Load,
}

/// What a key's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A whole number.
    Count,
    /// Any number.
    Number,
    /// A size string or an integer of bytes.
    Size,
    /// A size string or any number of bytes.
    Rate,
    /// A humantime string.
    Duration,
    /// A regression tolerance string (`"25% + 32B"`).
    Tolerance,
    /// `true`/`false`, or a reason (`ignored`).
    FlagOrReason,
    /// `true` or `false`.
    Bool,
    /// A whole number, or a percentage string (`max_failed_requests`).
    CountOrShare,
    /// A status, a status string, or an array of them (`expect_status`).
    Status,
    /// A string.
    Str,
    /// An array of strings.
    StrArray,
    /// A table of strings with free keys (`env`, `headers`).
    StrTable,
    /// A table of this kind.
    Table(Table),
    /// An array of tables of this kind (`[[target]]`).
    Tables(Table),
}

use Kind::*;

const BUDGET_KEYS: &[(&str, Kind)] = &[
    ("max_bytes_per_request", Rate),
    ("max_objects_per_request", Number),
    ("max_heap_growth", Size),
    ("memory_limit", Size),
    ("requests_to_limit", Count),
    ("max_peak_heap", Size),
    ("max_external_per_request", Rate),
    ("max_rss_growth", Rate),
    ("max_idle_growth", Size),
    ("max_failed_requests", CountOrShare),
    ("ignore", StrArray),
    ("regression_tolerance", Tolerance),
];

const STEP_KEYS: &[(&str, Kind)] = &[
    ("name", Str),
    ("method", Str),
    ("path", Str),
    ("headers", StrTable),
    ("body", Str),
    ("capture", StrTable),
    ("abort", Str),
    ("expect_status", Status),
    ("websocket", Str),
    ("send", StrArray),
    ("receive", Count),
    ("sse", Str),
    ("events", Count),
];

impl Table {
    const ALL: [Table; 10] = [
        Table::Root,
        Table::Defaults,
        Table::DefaultsBudget,
        Table::Target,
        Table::TargetBudget,
        Table::Route,
        Table::RouteBudget,
        Table::Step,
        Table::Setup,
        Table::Load,
    ];

    /// How the table is written in the file.
    pub(crate) fn header(self) -> &'static str {
        match self {
            Table::Root => "the top level",
            Table::Defaults => "[defaults]",
            Table::DefaultsBudget => "[defaults.budget]",
            Table::Target => "[[target]]",
            Table::TargetBudget => "[target.budget]",
            Table::Route => "[[target.route]]",
            Table::RouteBudget => "[target.route.budget]",
            Table::Step => "[[target.route.step]]",
            Table::Setup => "[[target.setup]]",
            Table::Load => "`load`",
        }
    }

    /// The keys the table accepts and what each holds.
    pub(crate) fn keys(self) -> &'static [(&'static str, Kind)] {
        match self {
            Table::Root => {
                &[("defaults", Table(Table::Defaults)), ("target", Tables(Table::Target))]
            }
            Table::Defaults => &[
                ("warmup", Count),
                ("requests", Count),
                ("concurrency", Count),
                ("rungs", Count),
                ("max_rungs", Count),
                ("allocations", Str),
                ("ready_timeout", Duration),
                ("request_timeout", Duration),
                ("snapshot_timeout", Duration),
                ("shutdown_timeout", Duration),
                ("budget", Table(Table::DefaultsBudget)),
            ],
            Table::Target => &[
                ("name", Str),
                ("runtime", Str),
                ("command", StrArray),
                ("cwd", Str),
                ("env", StrTable),
                ("url", Str),
                ("ready", Str),
                ("main", Str),
                ("compatibility_date", Str),
                ("compatibility_flags", StrArray),
                ("bindings", StrTable),
                ("config", Str),
                ("service", Str),
                ("ignored", FlagOrReason),
                ("warmup", Count),
                ("requests", Count),
                ("concurrency", Count),
                ("rungs", Count),
                ("max_rungs", Count),
                ("allocations", Str),
                ("ready_timeout", Duration),
                ("request_timeout", Duration),
                ("snapshot_timeout", Duration),
                ("shutdown_timeout", Duration),
                ("budget", Table(Table::TargetBudget)),
                ("setup", Tables(Table::Setup)),
                ("route", Tables(Table::Route)),
            ],
            Table::Route => &[
                ("name", Str),
                ("method", Str),
                ("path", Str),
                ("headers", StrTable),
                ("body", Str),
                ("websocket", Str),
                ("send", StrArray),
                ("receive", Count),
                ("sse", Str),
                ("events", Count),
                ("abort", Str),
                ("expect_status", Status),
                ("data", Str),
                ("cookies", Bool),
                ("step", Tables(Table::Step)),
                ("load", Table(Table::Load)),
                ("ignored", FlagOrReason),
                ("warmup", Count),
                ("requests", Count),
                ("concurrency", Count),
                ("rungs", Count),
                ("max_rungs", Count),
                ("allocations", Str),
                ("request_timeout", Duration),
                ("budget", Table(Table::RouteBudget)),
            ],
            Table::DefaultsBudget | Table::TargetBudget | Table::RouteBudget => BUDGET_KEYS,
            Table::Step | Table::Setup => STEP_KEYS,
            Table::Load => &[("command", StrArray)],
        }
    }

    fn required(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Table::Target => {
                &[("name", "name = \"api\""), ("command", "command = [\"node\", \"server.js\"]")]
            }
            Table::Route => &[("name", "name = \"chat\"")],
            Table::Load => {
                &[("command", "command = [\"node\", \"load.js\", \"{requests}\", \"{url}\"]")]
            }
            _ => &[],
        }
    }

    fn is_budget(self) -> bool {
        matches!(self, Table::DefaultsBudget | Table::TargetBudget | Table::RouteBudget)
    }

    /// The budget table under this one, or the one this budget table sits in.
    fn budget_pair(self) -> Table {
        match self {
            Table::Root | Table::Defaults => Table::DefaultsBudget,
            Table::Target => Table::TargetBudget,
            Table::Route | Table::Step | Table::Load => Table::RouteBudget,
            Table::Setup => Table::TargetBudget,
            Table::DefaultsBudget => Table::Defaults,
            Table::TargetBudget => Table::Target,
            Table::RouteBudget => Table::Route,
        }
    }

    fn kind_of(self, key: &str) -> Option<Kind> {
        self.keys().iter().find(|(k, _)| *k == key).map(|&(_, kind)| kind)
    }
}

/// Checks the whole document; returns every problem found.
pub(crate) fn check(source: &Source<'_>, root: &Spanned<DeTable<'_>>) -> Vec<SpecError> {
    let mut errors = Vec::new();
    check_table(source, Table::Root, root.get_ref(), root.span(), &mut errors);
    errors
}

fn check_table(
    source: &Source<'_>,
    table: Table,
    value: &DeTable<'_>,
    span: Range<usize>,
    errors: &mut Vec<SpecError>,
) {
    for (key, value) in value.iter() {
        let name = key.get_ref().as_ref();
        match table.kind_of(name) {
            Some(kind) => check_value(source, name, kind, value, errors),
            None => errors.push(unknown_key(source, table, name, key.span())),
        }
    }
    for (key, example) in table.required() {
        if *key == "command" && starts_its_own_command(value) {
            continue;
        }
        if !value.contains_key(*key) {
            // The span of a table from `[[target]]` is its header; point at the header alone.
            let header_end =
                source.text[span.clone()].find('\n').map_or(span.end, |i| span.start + i);
            errors.push(
                SpecError::at(
                    source,
                    span.start..header_end,
                    format!("missing key `{key}` in {}", table.header()),
                )
                .with_help(format!("add e.g. `{example}`")),
            );
        }
    }
    let one_of: &[&str] = match table {
        Table::Route => &["path", "websocket", "sse", "step", "load"],
        Table::Step | Table::Setup => &["path", "websocket", "sse"],
        _ => &[],
    };
    if !one_of.is_empty() && !one_of.iter().any(|k| value.contains_key(*k)) {
        let header_end = source.text[span.clone()].find('\n').map_or(span.end, |i| span.start + i);
        let others = if table == Table::Route {
            "a `websocket` or `sse` path, `[[target.route.step]]`s or a `load` command"
        } else {
            "a `websocket` or `sse` path"
        };
        errors.push(
            SpecError::at(
                source,
                span.start..header_end,
                format!("missing key `path` in {}", table.header()),
            )
            .with_help(format!("add e.g. `path = \"/api/chat\"`, or {others}")),
        );
    }
}

/// Workers runtimes need no `command`: leakcheck starts workerd, or `wrangler dev`, itself.
fn starts_its_own_command(target: &DeTable<'_>) -> bool {
    matches!(
        target.get("runtime").map(|v| v.get_ref()),
        Some(DeValue::String(r)) if r == "workerd" || r == "wrangler"
    )
}

fn unknown_key(source: &Source<'_>, table: Table, key: &str, span: Range<usize>) -> SpecError {
    // A key that belongs in another table: say where it goes.
    let homes: Vec<Table> = Table::ALL.into_iter().filter(|t| t.kind_of(key).is_some()).collect();
    if !homes.is_empty() {
        let home = if homes.iter().any(|t| t.is_budget()) && !table.is_budget() {
            table.budget_pair().header().to_owned()
        } else if table.is_budget() {
            format!("{} (above the budget table)", table.budget_pair().header())
        } else {
            let headers: Vec<&str> = homes.iter().map(|t| t.header()).collect();
            headers.join(" or ")
        };
        return SpecError::at(source, span, format!("`{key}` can't be set in {}", table.header()))
            .with_help(format!("move it to {home}"));
    }
    let error = SpecError::at(source, span, format!("unknown key `{key}` in {}", table.header()));
    let here = table.keys().iter().map(|(k, _)| *k);
    if let Some(suggestion) = did_you_mean(key, here) {
        return error.with_help(format!("did you mean `{suggestion}`?"));
    }
    // A misspelt key of a neighbouring table.
    for other in [table.budget_pair(), Table::Target, Table::Defaults] {
        if let Some(suggestion) = did_you_mean(key, other.keys().iter().map(|(k, _)| *k)) {
            return error.with_help(format!(
                "did you mean `{suggestion}`? (it goes in {})",
                other.header()
            ));
        }
    }
    let valid: Vec<String> = table.keys().iter().map(|(k, _)| format!("`{k}`")).collect();
    error.with_help(format!("valid keys here: {}", valid.join(", ")))
}

fn check_value(
    source: &Source<'_>,
    key: &str,
    kind: Kind,
    value: &Spanned<DeValue<'_>>,
    errors: &mut Vec<SpecError>,
) {
    let span = value.span();
    let found = value.get_ref();
    let wrong = |expected: &str| {
        SpecError::at(
            source,
            span.clone(),
            format!("`{key}` must be {expected}, found {}", article(found)),
        )
    };
    match (kind, found) {
        (Count, DeValue::Integer(_))
        | (Number, DeValue::Integer(_) | DeValue::Float(_))
        | (Size, DeValue::String(_) | DeValue::Integer(_))
        | (Rate, DeValue::String(_) | DeValue::Integer(_) | DeValue::Float(_))
        | (Duration | Str | Tolerance, DeValue::String(_))
        | (FlagOrReason | Bool, DeValue::Boolean(_))
        | (FlagOrReason, DeValue::String(_))
        | (Status, DeValue::Integer(_) | DeValue::String(_))
        | (CountOrShare, DeValue::Integer(_) | DeValue::String(_)) => {}
        (CountOrShare, _) => errors.push(wrong("a number of requests or a share").with_help(
            format!("write e.g. `{key} = 5` (requests) or `{key} = \"1%\"` (of those sent)"),
        )),
        (Bool, _) => errors.push(wrong("`true` or `false`")),
        (Status, DeValue::Array(items)) => {
            if items.is_empty() {
                errors.push(
                    wrong("a status or a non-empty list")
                        .with_help(format!("leave `{key}` out for the default (2xx and 3xx)")),
                );
            }
            for item in items.iter() {
                if !matches!(item.get_ref(), DeValue::Integer(_) | DeValue::String(_)) {
                    errors.push(SpecError::at(
                        source,
                        item.span(),
                        format!("`{key}` must hold statuses, found {}", article(item.get_ref())),
                    ));
                }
            }
        }
        (Status, _) => errors.push(wrong("a status").with_help(format!(
            "write e.g. `{key} = 200`, `{key} = \"2xx\"` or `{key} = [200, 404]`"
        ))),
        (Count, DeValue::String(s)) if s.trim().parse::<i64>().is_ok() => errors.push(
            wrong("a whole number").with_help(format!("remove the quotes: `{key} = {}`", s.trim())),
        ),
        (Count, _) => errors.push(wrong("a whole number")),
        (Number, _) => errors.push(wrong("a number")),
        (Size, _) => errors.push(
            wrong("a size").with_help(format!("write e.g. `{key} = \"5MiB\"` or `\"256B\"`")),
        ),
        (Rate, _) => errors
            .push(wrong("a size per request").with_help(format!("write e.g. `{key} = \"256B\"`"))),
        (Duration, DeValue::Integer(i)) => errors.push(wrong("a duration").with_help(format!(
            "durations are strings with a unit: `{key} = \"{}s\"`",
            i.as_str()
        ))),
        (Duration, _) => {
            errors.push(wrong("a duration").with_help(format!("write e.g. `{key} = \"30s\"`")))
        }
        (FlagOrReason, _) => errors.push(
            wrong("`true`, `false` or a reason")
                .with_help(format!("write `{key} = true` or `{key} = \"why it is left out\"`")),
        ),
        (Str, _) => errors.push(wrong("a string")),
        (Tolerance, _) => errors
            .push(wrong("a tolerance").with_help(format!("write e.g. `{key} = \"25% + 32B\"`"))),
        (StrArray, DeValue::Array(items)) => {
            for item in items.iter() {
                if !item.get_ref().is_str() {
                    errors.push(SpecError::at(
                        source,
                        item.span(),
                        format!("`{key}` must hold strings, found {}", article(item.get_ref())),
                    ));
                }
            }
        }
        (StrArray, DeValue::String(s)) if key == "command" => {
            let words: Vec<String> = s.split_whitespace().map(|w| format!("{w:?}")).collect();
            errors.push(wrong("an array of strings").with_help(format!(
                "commands run without a shell; give the program and each argument: `command = [{}]`",
                words.join(", ")
            )));
        }
        (StrArray, DeValue::String(s)) => errors.push(
            wrong("an array of strings").with_help(format!("write `{key} = [{:?}]`", s.as_ref())),
        ),
        (StrArray, _) => errors.push(wrong("an array of strings")),
        (StrTable, DeValue::Table(entries)) => {
            for (name, item) in entries.iter() {
                if !item.get_ref().is_str() {
                    let mut error = SpecError::at(
                        source,
                        item.span(),
                        format!(
                            "`{key}` values must be strings, found {} for `{}`",
                            article(item.get_ref()),
                            name.get_ref()
                        ),
                    );
                    if let DeValue::Integer(i) = item.get_ref() {
                        error = error.with_help(format!(
                            "write `{} = \"{}\"`",
                            name.get_ref(),
                            i.as_str()
                        ));
                    }
                    errors.push(error);
                }
            }
        }
        (StrTable, _) => errors.push(
            wrong("a table of strings")
                .with_help(format!("write e.g. `{key} = {{ NAME = \"value\" }}`")),
        ),
        (Table(inner), DeValue::Table(t)) => check_table(source, inner, t, span, errors),
        (Table(inner), _) => errors.push(wrong(&format!("a table ({})", inner.header()))),
        (Tables(inner), DeValue::Array(items)) => {
            for item in items.iter() {
                match item.get_ref() {
                    DeValue::Table(t) => check_table(source, inner, t, item.span(), errors),
                    other => errors.push(SpecError::at(
                        source,
                        item.span(),
                        format!("`{key}` must hold tables, found {}", article(other)),
                    )),
                }
            }
        }
        (Tables(inner), DeValue::Table(_)) => errors.push(
            SpecError::at(
                source,
                span,
                format!("`{key}` must be an array of tables, found a single table"),
            )
            .with_help(format!("write `{}` with double brackets, once per {key}", inner.header())),
        ),
        (Tables(inner), _) => errors.push(
            wrong("an array of tables").with_help(format!("write `{}` tables", inner.header())),
        ),
    }
}

fn article(value: &DeValue<'_>) -> String {
    let kind = value.type_str();
    let a = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{a} {kind}")
}
