//! Recorded regression budgets: `leakspec.lock`, the figures each route measured (growth per
//! request by class, heap growth, peak heap), written by `leakcheck run --record` / `--bless`
//! next to the spec and committed like an insta snapshot. Later runs hold each route against
//! its record ([`crate::judge::lock`]).
//!
//! The file is deterministic and made for review: sorted by target and route, figures rounded
//! to three significant digits (rates to 0.1 B), no timestamps, a version line.
//!
//! ```
//! use leakcheck::record::{Lock, Recorded};
//!
//! let mut lock = Lock::default();
//! lock.insert("api", "chat", Recorded {
//!     requests: 1000,
//!     bytes_per_request: 64.0,
//!     heap_growth: 70_000,
//!     detection_limit: None,
//!     sensitivity: None,
//!     peak_heap: Some(5_300_000),
//!     classes: [("Job".to_owned(), 64.0)].into(),
//! });
//! let text = lock.to_toml();
//! assert!(text.contains("version = 1\n"));
//! let back = Lock::parse(&text, "leakspec.lock".as_ref()).unwrap();
//! assert_eq!(back, lock);
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::format::{bytes, bytes_rate, signed_bytes};
use crate::model::lock::Baseline;
pub use crate::model::lock::Recorded;
use crate::model::{Outcome, RunReport};
use crate::plan::Plan;

/// Version of the lock format; bumped on any incompatible change.
pub const LOCK_VERSION: u32 = 1;

/// The lock of a spec: the same path with the extension `.lock` (`leakspec.toml` →
/// `leakspec.lock`).
///
/// ```
/// use std::path::Path;
/// assert_eq!(leakcheck::record::lock_path(Path::new("ci/leakspec.toml")), Path::new("ci/leakspec.lock"));
/// ```
pub fn lock_path(spec: &Path) -> PathBuf {
    spec.with_extension("lock")
}

/// The recorded figures of every route, keyed by (target, route).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lock {
    routes: BTreeMap<(String, String), Recorded>,
}

/// A lock file leakcheck cannot use.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The file exists but could not be read.
    #[error("could not read `{path}`: {source}")]
    Read {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a lock of this version, or not TOML of the right shape.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The lock file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    version: u32,
    #[serde(default)]
    route: Vec<toml::Spanned<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    target: String,
    route: String,
    requests: u64,
    bytes_per_request: f64,
    heap_growth: i64,
    peak_heap: Option<u64>,
    #[serde(default)]
    detection_limit: Option<f64>,
    #[serde(default)]
    sensitivity: Option<f64>,
    #[serde(default)]
    classes: BTreeMap<String, f64>,
}

impl Lock {
    /// Reads the lock at `path`; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<Lock>, LockError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Lock::parse(&text, path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LockError::Read { path: path.to_owned(), source }),
        }
    }

    /// Parses lock text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Lock, LockError> {
        let invalid = |offset: usize, message: String| {
            let before = &text[..offset.min(text.len())];
            LockError::Invalid {
                path: path.to_owned(),
                line: before.matches('\n').count() + 1,
                column: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
                message,
            }
        };
        let raw: RawLock = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            invalid(offset, e.message().trim_end().to_owned())
        })?;
        if raw.version != LOCK_VERSION {
            let at = text.find("version").unwrap_or(0);
            return Err(invalid(
                at,
                format!(
                    "lock format version {} is not supported (this leakcheck writes version {LOCK_VERSION}); re-record it with `leakcheck run --bless`",
                    raw.version
                ),
            ));
        }
        let mut lock = Lock::default();
        for entry in raw.route {
            let span = entry.span();
            let e = entry.into_inner();
            let key = (e.target, e.route);
            if lock.routes.contains_key(&key) {
                return Err(invalid(
                    span.start,
                    format!("route `{}` of target `{}` is recorded twice", key.1, key.0),
                ));
            }
            let recorded = Recorded {
                requests: e.requests,
                bytes_per_request: e.bytes_per_request,
                heap_growth: e.heap_growth,
                detection_limit: e.detection_limit,
                sensitivity: e.sensitivity,
                peak_heap: e.peak_heap,
                classes: e.classes,
            };
            lock.routes.insert(key, recorded);
        }
        Ok(lock)
    }

    /// The record of a route.
    pub fn get(&self, target: &str, route: &str) -> Option<&Recorded> {
        self.routes.get(&(target.to_owned(), route.to_owned()))
    }

    /// Records (or replaces) the figures of a route.
    pub fn insert(&mut self, target: &str, route: &str, recorded: Recorded) {
        self.routes.insert((target.to_owned(), route.to_owned()), recorded);
    }

    /// Drops the records of routes `keep` says no longer exist; returns how many went.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) -> usize {
        let before = self.routes.len();
        self.routes.retain(|(t, r), _| keep(t, r));
        before - self.routes.len()
    }

    /// Number of routes recorded.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when no route is recorded.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The file's text: a header saying what it is, `version = 1`, then one `[[route]]` per
    /// route sorted by target and route, each figure with its human-readable size in a comment.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# Recorded by leakcheck: what each route measured, written by `leakcheck run --record` (routes\n\
             # not yet recorded) and `leakcheck run --bless` (every route run). Commit it and review\n\
             # its changes like code: later runs fail a route whose figures rise past these by more\n\
             # than its `regression_tolerance` (default \"25% + 32B\"). Bytes; rates per request.\n",
        );
        out += &format!("version = {LOCK_VERSION}\n");
        for ((target, route), r) in &self.routes {
            out += "\n[[route]]\n";
            out += &format!("target = {}\n", quote(target));
            out += &format!("route = {}\n", quote(route));
            out += &format!("requests = {}\n", r.requests);
            out += &commented(
                format!("bytes_per_request = {}", float(r.bytes_per_request)),
                &format!("{}/request", bytes_rate(r.bytes_per_request)),
            );
            out += &commented(
                format!("heap_growth = {}", r.heap_growth),
                &signed_bytes(r.heap_growth),
            );
            if let Some(peak) = r.peak_heap {
                out += &commented(format!("peak_heap = {peak}"), &bytes(peak));
            }
            if let Some(limit) = r.detection_limit {
                out += &commented(
                    format!("detection_limit = {}", float(limit)),
                    &format!("no linear growth above {}/request would pass", bytes_rate(limit)),
                );
            }
            if let Some(sensitivity) = r.sensitivity {
                out += &commented(
                    format!("sensitivity = {}", float(sensitivity)),
                    &format!("held to catch {}/request", bytes_rate(sensitivity)),
                );
            }
            if !r.classes.is_empty() {
                out += "\n[route.classes]  # bytes per request of each class growing linearly\n";
                for (class, rate) in &r.classes {
                    out += &format!("{} = {}\n", quote(class), float(*rate));
                }
            }
        }
        out
    }
}

/// A TOML basic string (class keys hold quotes, braces and commas).
fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A float as TOML writes it, always with a decimal point.
fn float(x: f64) -> String {
    let x = if x == 0.0 { 0.0 } else { x };
    let s = format!("{x}");
    if s.contains(['.', 'e', 'i', 'N']) { s } else { format!("{s}.0") }
}

/// `key = value` with a trailing comment aligned at column 28.
fn commented(line: String, comment: &str) -> String {
    format!("{line:<27} # {comment}\n")
}

/// What `leakcheck run` does with the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Compare with the lock when it exists; never write it.
    Compare,
    /// `--record`: compare recorded routes, record the others.
    Record,
    /// `--bless`: record every route run, replacing what was recorded.
    Bless,
}

/// Sets each route's [`Baseline`] in the plan from the lock (if any) and the mode.
pub fn attach(plan: &mut Plan, lock: Option<&Lock>, mode: Mode) {
    for target in &mut plan.targets {
        for route in &mut target.routes {
            let recorded = lock.and_then(|l| l.get(&target.name, &route.name)).cloned();
            route.baseline = match (mode, recorded) {
                (Mode::Bless, previous) => Baseline::Record { previous: previous.map(Box::new) },
                (_, Some(recorded)) => Baseline::Recorded(Box::new(recorded)),
                (Mode::Record, None) => Baseline::Record { previous: None },
                (Mode::Compare, None) if lock.is_some() => Baseline::NotRecorded,
                (Mode::Compare, None) => Baseline::None,
            };
        }
    }
}

/// What [`update`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Update {
    /// Routes recorded for the first time.
    pub recorded: Vec<String>,
    /// Routes whose record was replaced.
    pub blessed: Vec<String>,
    /// Records dropped because their route is no longer in the spec.
    pub dropped: usize,
}

/// Writes into `lock` the figures of every route the plan asked to record and the run
/// measured (routes that errored keep their old record); drops records of routes that are no
/// longer in the spec (`exists`).
pub fn update(
    lock: &mut Lock,
    plan: &Plan,
    report: &RunReport,
    exists: impl FnMut(&str, &str) -> bool,
) -> Update {
    let mut done = Update::default();
    for (t, tr) in plan.targets.iter().zip(&report.targets) {
        for (r, rr) in t.routes.iter().zip(&tr.routes) {
            let Baseline::Record { previous } = &r.baseline else {
                continue;
            };
            let (Some(v), Outcome::Pass | Outcome::Fail) = (&rr.verdict, rr.outcome) else {
                continue;
            };
            lock.insert(&t.name, &r.name, Recorded::measure(v, rr.requests(), rr.peak_heap));
            let name = format!("{} › {}", t.name, r.name);
            if previous.is_some() { done.blessed.push(name) } else { done.recorded.push(name) }
        }
    }
    done.dropped = lock.retain(exists);
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::lock::{round_rate, round_sig};

    pub(crate) fn sample() -> Lock {
        let mut lock = Lock::default();
        lock.insert(
            "shop-api",
            "stock",
            Recorded {
                requests: 1000,
                bytes_per_request: 128.0,
                heap_growth: 155_000,
                detection_limit: None,
                sensitivity: None,
                peak_heap: Some(5_430_000),
                classes: [("AuditEntry".to_owned(), 64.0), ("(string)".to_owned(), 64.0)].into(),
            },
        );
        lock.insert(
            "ai-gateway",
            "chat",
            Recorded {
                requests: 1000,
                bytes_per_request: 231.0,
                heap_growth: 262_000,
                detection_limit: None,
                sensitivity: None,
                peak_heap: Some(6_100_000),
                classes: [
                    ("{id, prompt}".to_owned(), 48.0),
                    ("(string)".to_owned(), 128.0),
                    ("(array)".to_owned(), 55.2),
                ]
                .into(),
            },
        );
        lock.insert(
            "shop-api",
            "catalogue",
            Recorded {
                requests: 1000,
                bytes_per_request: 0.0,
                heap_growth: -2_050,
                detection_limit: None,
                sensitivity: None,
                peak_heap: None,
                classes: BTreeMap::new(),
            },
        );
        lock
    }

    #[test]
    fn lock_format() {
        insta::assert_snapshot!(sample().to_toml());
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let text = sample().to_toml();
        let back = Lock::parse(&text, Path::new("leakspec.lock")).unwrap();
        assert_eq!(back, sample());
        assert_eq!(back.to_toml(), text);
    }

    /// The limit and the sensitivity a route was held to are written beside each other and
    /// read back; a lock written before either existed still reads (issue 13).
    #[test]
    fn detection_limit_and_sensitivity_round_trip_and_old_locks_read() {
        let mut lock = sample();
        let mut held = lock.get("shop-api", "catalogue").unwrap().clone();
        held.detection_limit = Some(12.8);
        held.sensitivity = Some(16.0);
        lock.insert("shop-api", "catalogue", held.clone());
        let text = lock.to_toml();
        assert!(text.contains("detection_limit = 12.8"), "{text}");
        assert!(
            text.contains("sensitivity = 16.0          # held to catch 16 B/request"),
            "{text}"
        );
        let back = Lock::parse(&text, Path::new("leakspec.lock")).unwrap();
        assert_eq!(back.get("shop-api", "catalogue"), Some(&held));
        let old = "version = 1\n\n[[route]]\ntarget = \"a\"\nroute = \"b\"\nrequests = 600\n\
                   bytes_per_request = 0.0\nheap_growth = 70900\npeak_heap = 5020000\n";
        let old = Lock::parse(old, Path::new("leakspec.lock")).unwrap();
        let b = old.get("a", "b").unwrap();
        assert_eq!((b.detection_limit, b.sensitivity), (None, None));
    }

    #[test]
    fn figures_are_rounded() {
        assert_eq!(round_sig(155_128.0), 155_000.0);
        assert_eq!(round_sig(-2_047.0), -2_050.0);
        assert_eq!(round_sig(4_710_624.0), 4_710_000.0);
        assert_eq!(round_rate(32.27), 32.3);
        assert_eq!(round_rate(1234.5), 1230.0);
        assert_eq!(round_rate(0.012), 0.0);
        assert_eq!(round_rate(-0.0), 0.0);
        assert_eq!(float(-0.0), "0.0");
        assert_eq!(float(48.0), "48.0");
    }

    #[test]
    fn bad_locks_say_where() {
        let err =
            |text: &str| Lock::parse(text, Path::new("leakspec.lock")).unwrap_err().to_string();
        assert_eq!(
            err("version = 2\n"),
            "leakspec.lock:1:1: lock format version 2 is not supported (this leakcheck writes version 1); re-record it with `leakcheck run --bless`"
        );
        let text = "version = 1\n\n[[route]]\ntarget = \"a\"\nroute = \"b\"\nrequests = 1\nbytes_per_request = 0.0\nheap_growth = 0\n";
        let twice = format!("{text}\n{}", &text[13..]);
        assert_eq!(err(&twice), "leakspec.lock:10:1: route `b` of target `a` is recorded twice");
        let unknown = text.replace("requests", "reqests");
        assert!(
            err(&unknown).starts_with("leakspec.lock:6:1: unknown field `reqests`"),
            "{}",
            err(&unknown)
        );
    }
}
