//! `leakcheck merge-reports`: the JSON reports of the shards of one run (`--shard K/N`, one
//! job of a CI matrix each) read back and combined into the report one unsharded run would
//! have written, from which the terminal text, the JSON, the JUnit and the exit status follow
//! as for `leakcheck run`.
//!
//! A sharded run's JSON is a `leakcheck-run/1` document with one more key, `shard`: which job
//! it was and which of the plan's targets it ran. With it the merge checks that every shard is
//! there exactly once and puts the targets back in the spec's order.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::RunReport;
use crate::shard::ShardRun;

/// Why shard reports could not be merged. Every message names the file(s) at fault.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A report could not be read.
    #[error("could not read the report `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A report is not a `leakcheck-run/1` document.
    #[error("`{}` is not a leakcheck-run/1 report: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why it does not parse.
        source: serde_json::Error,
    },
    /// The reports do not fit together.
    #[error("{0}")]
    Mismatch(String),
}

/// One report read from disk.
#[derive(Debug)]
pub struct ShardReport {
    /// Where it was read from.
    pub path: PathBuf,
    /// The run's report.
    pub report: RunReport,
    /// Which shard it was, when the run was sharded.
    pub shard: Option<ShardRun>,
}

#[derive(Serialize)]
struct Written<'a> {
    #[serde(flatten)]
    report: &'a RunReport,
    shard: &'a ShardRun,
}

#[derive(Deserialize)]
struct Read {
    #[serde(flatten)]
    report: RunReport,
    #[serde(default)]
    shard: Option<ShardRun>,
}

/// The JSON of a sharded run: [`RunReport::to_json`] with a `shard` key added.
pub fn sharded_json(report: &RunReport, shard: &ShardRun) -> String {
    serde_json::to_string_pretty(&Written { report, shard }).expect("report serialises") + "\n"
}

impl ShardReport {
    /// Reads a report written by `leakcheck run --json` (sharded or not).
    pub fn read(path: &Path) -> Result<ShardReport, MergeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| MergeError::Read { path: path.to_owned(), source })?;
        ShardReport::parse(path, &text)
    }

    /// Parses the text of a report; `path` is only for messages.
    pub fn parse(path: &Path, text: &str) -> Result<ShardReport, MergeError> {
        let read: Read = serde_json::from_str(text)
            .map_err(|source| MergeError::Parse { path: path.to_owned(), source })?;
        Ok(ShardReport { path: path.to_owned(), report: read.report, shard: read.shard })
    }

    fn name(&self) -> String {
        match &self.shard {
            Some(s) => format!("`{}` (shard {})", self.path.display(), s.shard()),
            None => format!("`{}`", self.path.display()),
        }
    }
}

/// Combines the reports of the shards of one run, in the spec's order when they are shard
/// reports (in the order given otherwise). Fails when they come from different specs, when a
/// shard is missing or given twice, or when two reports hold the same target.
pub fn merge(mut reports: Vec<ShardReport>) -> Result<RunReport, MergeError> {
    let mismatch = |s: String| Err(MergeError::Mismatch(s));
    let Some(first) = reports.first() else {
        return mismatch("no report to merge".into());
    };
    if let Some(other) = reports.iter().find(|r| r.report.spec != first.report.spec) {
        return mismatch(format!(
            "{} ran the spec `{}` but {} ran `{}`",
            first.name(),
            first.report.spec.display(),
            other.name(),
            other.report.spec.display()
        ));
    }
    let sharded = reports.iter().filter(|r| r.shard.is_some()).count();
    if sharded > 0 && sharded < reports.len() {
        let (with, without) = (
            reports.iter().find(|r| r.shard.is_some()).expect("counted"),
            reports.iter().find(|r| r.shard.is_none()).expect("counted"),
        );
        return mismatch(format!(
            "{} is the report of a whole run, not of a shard like {}",
            without.name(),
            with.name()
        ));
    }
    let spec = first.report.spec.clone();
    if sharded > 0 {
        check_shards(&reports)?;
        reports.sort_by_key(|r| r.shard.as_ref().map(|s| s.index));
    }

    let mut merged = RunReport { format: crate::model::RUN_FORMAT, spec, ..RunReport::default() };
    let mut placed: Vec<(usize, &Path, crate::model::TargetReport)> = Vec::new();
    let mut interrupted = Vec::new();
    for r in &reports {
        for (i, target) in r.report.targets.iter().enumerate() {
            if let Some((_, path, _)) = placed.iter().find(|(_, _, t)| t.name == target.name) {
                return mismatch(format!(
                    "target `{}` is in both `{}` and `{}`",
                    target.name,
                    path.display(),
                    r.path.display()
                ));
            }
            let position = r.shard.as_ref().map_or(placed.len(), |s| s.positions[i]);
            placed.push((position, &r.path, target.clone()));
        }
        if let Some(why) = &r.report.interrupted {
            interrupted.push(format!("{}: {why}", r.name()));
        }
        merged.elapsed = merged.elapsed.max(r.report.elapsed);
        merged.peak_rss = merged.peak_rss.max(r.report.peak_rss);
    }
    placed.sort_by_key(|(position, _, _)| *position);
    merged.targets = placed.into_iter().map(|(_, _, t)| t).collect();
    merged.interrupted = (!interrupted.is_empty()).then(|| interrupted.join("; "));
    Ok(merged)
}

/// Every shard 1..=N once, each report's targets matching its positions, and together every
/// target of the plan once.
fn check_shards(reports: &[ShardReport]) -> Result<(), MergeError> {
    let mismatch = |s: String| Err(MergeError::Mismatch(s));
    let shard = |r: &ShardReport| r.shard.clone().expect("only shard reports here");
    let first = shard(&reports[0]);
    for r in reports {
        let s = shard(r);
        if (s.total, s.plan_targets) != (first.total, first.plan_targets) {
            return mismatch(format!(
                "{} splits {} targets into {} shards but {} splits {} into {}: were they run with the same spec and flags?",
                reports[0].name(),
                first.plan_targets,
                first.total,
                r.name(),
                s.plan_targets,
                s.total
            ));
        }
        if s.positions.len() != r.report.targets.len()
            || s.positions.iter().any(|&p| p >= s.plan_targets)
        {
            return mismatch(format!(
                "{} lists {} target positions for {} targets: the file was changed after the run",
                r.name(),
                s.positions.len(),
                r.report.targets.len()
            ));
        }
        if let Some(twin) =
            reports.iter().find(|o| !std::ptr::eq(*o, r) && shard(o).index == s.index)
        {
            return mismatch(format!(
                "`{}` and `{}` are both shard {}",
                r.path.display(),
                twin.path.display(),
                s.shard()
            ));
        }
    }
    let missing: Vec<String> = (1..=first.total)
        .filter(|k| !reports.iter().any(|r| shard(r).index == *k))
        .map(|k| format!("{k}/{}", first.total))
        .collect();
    if !missing.is_empty() {
        let given: Vec<String> = reports.iter().map(ShardReport::name).collect();
        return mismatch(format!(
            "no report for shard {} (given: {}): did a job of the matrix fail before writing its report?",
            missing.join(", "),
            given.join(", ")
        ));
    }
    let mut covered = vec![0; first.plan_targets];
    for r in reports {
        for &p in &shard(r).positions {
            covered[p] += 1;
        }
    }
    if covered.iter().any(|&n| n != 1) {
        return mismatch(
            "the shards do not add up to the plan's targets, each once: were they run with the same spec and flags?"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Outcome, RouteReport, TargetReport};

    fn target(name: &str, outcome: Outcome) -> TargetReport {
        let mut route = RouteReport::skipped("r", "GET", "/", "");
        route.outcome = outcome;
        TargetReport { name: name.into(), routes: vec![route], ..TargetReport::default() }
    }

    fn shard(index: usize, total: usize, targets: &[(&str, usize)], of: usize) -> ShardReport {
        let report = RunReport {
            format: crate::model::RUN_FORMAT,
            spec: "leakspec.toml".into(),
            targets: targets.iter().map(|(n, _)| target(n, Outcome::Pass)).collect(),
            ..RunReport::default()
        };
        let run = ShardRun {
            index,
            total,
            positions: targets.iter().map(|(_, p)| *p).collect(),
            plan_targets: of,
        };
        let path = PathBuf::from(format!("shard-{index}.json"));
        ShardReport::parse(&path, &sharded_json(&report, &run)).unwrap()
    }

    fn names(r: &RunReport) -> Vec<&str> {
        r.targets.iter().map(|t| t.name.as_str()).collect()
    }

    fn error(reports: Vec<ShardReport>) -> String {
        merge(reports).unwrap_err().to_string()
    }

    #[test]
    fn shards_merge_in_plan_order() {
        let a = shard(1, 2, &[("a", 0), ("c", 2)], 4);
        let b = shard(2, 2, &[("b", 1), ("d", 3)], 4);
        assert_eq!(a.shard.as_ref().unwrap().positions, [0, 2]);
        let merged = merge(vec![b, a]).unwrap();
        assert_eq!(names(&merged), ["a", "b", "c", "d"]);
        // The merged report is a whole run's: it has no shard key.
        assert!(!merged.to_json().contains("\"shard\""));
    }

    #[test]
    fn an_empty_shard_counts() {
        let a = shard(1, 3, &[("a", 0)], 2);
        let b = shard(2, 3, &[("b", 1)], 2);
        let c = shard(3, 3, &[], 2);
        assert_eq!(names(&merge(vec![a, b, c]).unwrap()), ["a", "b"]);
        let a = shard(1, 3, &[("a", 0)], 2);
        let b = shard(2, 3, &[("b", 1)], 2);
        let err = error(vec![a, b]);
        assert!(
            err.starts_with("no report for shard 3/3 (given: `shard-1.json` (shard 1/3)"),
            "{err}"
        );
    }

    #[test]
    fn mismatches_name_the_files() {
        let err = error(vec![shard(1, 2, &[("a", 0)], 2), shard(1, 2, &[("b", 1)], 2)]);
        assert_eq!(err, "`shard-1.json` and `shard-1.json` are both shard 1/2");
        let err = error(vec![shard(1, 2, &[("a", 0)], 2), shard(2, 3, &[("b", 1)], 2)]);
        assert!(
            err.contains(
                "splits 2 targets into 2 shards but `shard-2.json` (shard 2/3) splits 2 into 3"
            ),
            "{err}"
        );
        let err = error(vec![shard(1, 2, &[("a", 0)], 2), shard(2, 2, &[("a", 1)], 2)]);
        assert_eq!(err, "target `a` is in both `shard-1.json` and `shard-2.json`");
        let err = error(vec![shard(1, 2, &[("a", 0)], 3), shard(2, 2, &[("b", 1)], 3)]);
        assert!(err.starts_with("the shards do not add up"), "{err}");

        let mut whole = shard(1, 1, &[("x", 0)], 1);
        whole.shard = None;
        whole.path = "whole.json".into();
        let err = error(vec![shard(1, 2, &[("a", 0)], 2), whole]);
        assert!(err.contains("`whole.json` is the report of a whole run, not of a shard like `shard-1.json` (shard 1/2)"), "{err}");

        let mut other = shard(2, 2, &[("b", 1)], 2);
        other.report.spec = "other.toml".into();
        let err = error(vec![shard(1, 2, &[("a", 0)], 2), other]);
        assert!(
            err.contains(
                "ran the spec `leakspec.toml` but `shard-2.json` (shard 2/2) ran `other.toml`"
            ),
            "{err}"
        );
    }

    #[test]
    fn corrupt_reports_name_the_file_and_the_place() {
        let err = ShardReport::parse(
            Path::new("s.json"),
            "{\"format\": \"leakcheck-run/1\",\n \"spec\": 3}",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("`s.json` is not a leakcheck-run/1 report: "), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err = ShardReport::read(Path::new("/nonexistent/s.json")).unwrap_err().to_string();
        assert!(err.starts_with("could not read the report `/nonexistent/s.json`: "), "{err}");
    }

    #[test]
    fn interruptions_and_totals_carry_over() {
        let mut a = shard(1, 2, &[("a", 0)], 2);
        a.report.interrupted = Some("stopped by SIGTERM".into());
        a.report.elapsed = std::time::Duration::from_secs(7);
        a.report.peak_rss = Some(10);
        let mut b = shard(2, 2, &[("b", 1)], 2);
        b.report.elapsed = std::time::Duration::from_secs(9);
        b.report.peak_rss = Some(5);
        let merged = merge(vec![a, b]).unwrap();
        assert_eq!(
            merged.interrupted.as_deref(),
            Some("`shard-1.json` (shard 1/2): stopped by SIGTERM")
        );
        assert_eq!(merged.elapsed, std::time::Duration::from_secs(9));
        assert_eq!(merged.peak_rss, Some(10));
    }
}
