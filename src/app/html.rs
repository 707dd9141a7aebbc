//! The `--html FILE` writer that `leakcheck run`, `leakcheck test` (and a cargo-test harness),
//! `leakcheck diff` and `leakcheck report` share: the page rendered with its snapshot links
//! relative to the folder it is written to.

use std::path::Path;

use super::CliError;
use crate::model::RunReport;
use crate::report::html::{HtmlOptions, render};

/// The heading of a run's page: `leakcheck run: leakspec.toml`.
pub fn run_title(command: &str, report: &RunReport) -> String {
    format!("leakcheck {command}: {}", report.spec.display())
}

/// Writes `report` as an HTML page titled `title` to `path` (creating its folder), the load
/// named `unit` (`request`).
pub fn write_html(
    report: &RunReport,
    path: &Path,
    title: String,
    unit: &str,
) -> Result<(), CliError> {
    let mut options = HtmlOptions::new(title).written_to(path);
    options.unit = unit.to_owned();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::new(format!("could not create `{}`", dir.display()), e))?;
    }
    std::fs::write(path, render(report, &options))
        .map_err(|e| CliError::new(format!("could not write `{}`", path.display()), e))
}

/// Writes the page of a run of `leakcheck COMMAND` (its requests as the load).
pub fn write_run_html(report: &RunReport, path: &Path, command: &str) -> Result<(), CliError> {
    write_html(report, path, run_title(command, report), "request")
}
