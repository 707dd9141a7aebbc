//! `leakcheck test`: the routes of a spec as libtest trials (see [`crate::harness`]), with
//! leakcheck's exit statuses rather than libtest's.

use std::ffi::OsString;
use std::path::PathBuf;

use super::run::exit_status;
use super::{CliError, EXIT_FOUND, EXIT_OK};
use crate::harness::{self, Options};

/// Runs `leakcheck test ARGS...`; returns the exit status.
pub fn run(args: Vec<OsString>) -> Result<u8, CliError> {
    let (ours, libtest) = harness::split_args(args)?;
    if ours.help {
        harness::print_help("leakcheck test");
    }
    let options = Options {
        spec: ours.spec.unwrap_or_else(|| PathBuf::from("leakspec.toml")),
        shard: ours.shard,
        failure_snapshots: PathBuf::from("leakcheck-snapshots"),
        requests: ours.requests,
        warmup: ours.warmup,
    };
    let finished = harness::run(&options, &harness::parse_libtest(libtest))?;
    if let Some(path) = &ours.html {
        crate::report::html::write_run_page(&finished.report, path, "test")
            .map_err(|e| CliError::from_error(&e))?;
    }
    if let Some(signal) = finished.signal {
        return Ok(signal.exit_code());
    }
    // A target that could not be measured is leakcheck's failure (2) before it is a route's.
    let status = exit_status(&finished.report);
    if status == EXIT_OK && finished.conclusion.has_failed() {
        return Ok(EXIT_FOUND);
    }
    Ok(status)
}
