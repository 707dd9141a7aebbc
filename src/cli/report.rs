//! `leakcheck report RUN.json`: a saved `--json` report (one run, a shard's, or the result of
//! `merge-reports`) rendered again after the fact, as text and as an HTML page; and the run
//! report that `leakcheck diff --html` renders.

use std::path::{Path, PathBuf};

use super::{CliError, EXIT_OK};
use crate::judge::budgets::{Limits, judge};
use crate::model::{Outcome, RUN_FORMAT, RouteReport, RunReport, Rung, TargetReport};
use crate::report::diff::DiffReport;
use crate::report::html::{run_title, write_page};
use crate::report::merge::ShardReport;
use crate::style::Paint;

/// Renders the saved report `path`: the terminal report on stdout, and the HTML page when
/// asked. Exits 0: rendering judges nothing (the run's own exit status did).
pub fn run(path: &Path, html: Option<PathBuf>) -> Result<u8, CliError> {
    let read =
        ShardReport::read(path).map_err(|e| CliError::new("could not render the report", e))?;
    if let Some(file) = &html {
        let mut title = run_title("run", &read.report);
        if let Some(shard) = &read.shard {
            title += &format!(" (shard {})", shard.shard());
        }
        write_page(&read.report, file, title, "request").map_err(|e| CliError::from_error(&e))?;
    }
    super::print(&read.report.to_text(Paint::for_stdout()))?;
    Ok(EXIT_OK)
}

/// The comparison of `leakcheck diff` as a run report of one route, so that the HTML page shows
/// it as it shows a route: the snapshots as rungs (their total self size as the heap), the
/// leaking classes per snapshot, what holds them, and links to the files.
pub(crate) fn diff_as_run(diff: &DiffReport, files: &[PathBuf]) -> RunReport {
    let comparison = &diff.comparison;
    let verdict =
        judge(comparison, &Limits { ignore: diff.ignored.clone(), ..Limits::default() }, None);
    let rungs = comparison
        .snapshots
        .iter()
        .zip(files)
        .map(|(s, file)| Rung {
            requests: s.steps.round() as u64,
            heap_used: s.bytes,
            nodes: s.nodes as u64,
            snapshot_bytes: std::fs::metadata(file).map_or(0, |m| m.len()),
            kept: Some(file.clone()),
            ..Rung::default()
        })
        .collect();
    let label = |p: Option<&PathBuf>| {
        p.and_then(|p| p.file_name()).map_or(String::new(), |n| n.to_string_lossy().into_owned())
    };
    let route = RouteReport {
        outcome: if verdict.pass { Outcome::Pass } else { Outcome::Fail },
        verdict: Some(verdict),
        rungs,
        ..RouteReport::skipped(
            &format!("{} … {}", label(files.first()), label(files.last())),
            "",
            "",
            "",
        )
    };
    RunReport {
        format: RUN_FORMAT,
        targets: vec![TargetReport {
            name: "snapshots".into(),
            routes: vec![RouteReport { error: None, ..route }],
            ..TargetReport::default()
        }],
        ..RunReport::default()
    }
}
