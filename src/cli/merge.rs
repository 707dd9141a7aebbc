//! `leakcheck merge-reports`: the shards' JSON reports → one report (terminal, JSON, JUnit)
//! and one exit status, by the rules of `leakcheck run`.

use std::path::PathBuf;

use super::run::{exit_status, write_file};
use super::{CliError, EXIT_ERROR};
use crate::report::merge::{ShardReport, merge};
use crate::style::Paint;

/// Merges `reports`, writes `json` and `junit`, prints the whole run's report; returns the
/// exit status.
pub fn run(
    reports: &[PathBuf],
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
) -> Result<u8, CliError> {
    let cannot =
        |e: crate::report::merge::MergeError| CliError::new("could not merge the reports", e);
    let read = reports.iter().map(|p| ShardReport::read(p)).collect::<Result<Vec<_>, _>>();
    let read = read.map_err(cannot)?;
    let shards: Vec<String> = read
        .iter()
        .map(|r| match &r.shard {
            Some(s) => format!("{} (shard {})", r.path.display(), s.shard()),
            None => r.path.display().to_string(),
        })
        .collect();
    let merged = merge(read).map_err(cannot)?;
    if let Some(path) = &junit {
        write_file(path, merged.to_junit())?;
    }
    if let Some(path) = &json {
        write_file(path, merged.to_json())?;
    }
    let mut text = format!("merged {}\n", shards.join(", "));
    text += &merged.to_text(Paint::for_stdout());
    super::print(&text)?;
    // A shard cut short left routes unmeasured: the suite as a whole was not checked.
    if merged.interrupted.is_some() {
        return Ok(EXIT_ERROR);
    }
    Ok(exit_status(&merged))
}
