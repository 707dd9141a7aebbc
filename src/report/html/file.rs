//! Writing a page to a file, for `--html FILE` on `leakcheck run`, `leakcheck test` (and a
//! cargo-test harness), `leakcheck diff` and `leakcheck report`: the page rendered with its
//! snapshot links relative to the folder it is written to, that folder created first.

use std::path::{Path, PathBuf};

use super::{HtmlOptions, render};
use crate::model::RunReport;

/// Why a page could not be written: the folder or the file, and the I/O error.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The page's folder could not be created.
    #[error("could not create `{}`", dir.display())]
    Create {
        /// The folder.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The page itself could not be written.
    #[error("could not write `{}`", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The heading of a run's page: `leakcheck run: leakspec.toml`.
pub fn run_title(command: &str, report: &RunReport) -> String {
    format!("leakcheck {command}: {}", report.spec.display())
}

/// Writes `report` as a page titled `title` to `path` (creating its folder), the load named
/// `unit` (`request`).
pub fn write_page(
    report: &RunReport,
    path: &Path,
    title: String,
    unit: &str,
) -> Result<(), PageError> {
    let mut options = HtmlOptions::new(title).written_to(path);
    options.unit = unit.to_owned();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|source| PageError::Create { dir: dir.to_owned(), source })?;
    }
    std::fs::write(path, render(report, &options))
        .map_err(|source| PageError::Write { path: path.to_owned(), source })
}

/// Writes the page of a run of `leakcheck COMMAND` (its requests as the load).
pub fn write_run_page(report: &RunReport, path: &Path, command: &str) -> Result<(), PageError> {
    write_page(report, path, run_title(command, report), "request")
}
