//! What the commands that run a spec share, below both front ends: `leakcheck run` (in
//! [`crate::cli`]) and `leakcheck test` / `cargo test` (in [`crate::harness`]). Loading and
//! resolving a spec into a plan, progress on stderr, the error a command prints, writing to
//! stdout, the first line of a sharded run. The harness never imports the CLI; both import
//! this.

mod error;
mod progress;

use std::io::Write;
use std::path::Path;

pub use error::CliError;
pub use progress::StderrProgress;

use crate::leakspec::Spec;
use crate::plan::{self, Overrides, Plan};
use crate::shard::ShardRun;

/// Reads the spec and resolves it with the command line's overrides: the plan every command
/// that runs targets starts from.
pub fn load_plan(spec: &Path, overrides: &Overrides) -> Result<Plan, CliError> {
    load_spec_and_plan(spec, overrides).map(|(_, plan)| plan)
}

/// [`load_plan`], with the spec it came from.
pub(crate) fn load_spec_and_plan(
    spec: &Path,
    overrides: &Overrides,
) -> Result<(Spec, Plan), CliError> {
    let invalid = |cause: String| {
        CliError::new(format!("`{}` is not a valid spec", spec.display()), cause.trim_end())
    };
    let loaded = Spec::load(spec).map_err(|errors| invalid(errors.to_string()))?;
    let plan = plan::plan(&loaded, overrides).map_err(|e| invalid(e.to_string()))?;
    Ok((loaded, plan))
}

/// The first line of a sharded run: which targets it runs, or that it has none (a pass).
pub fn shard_line(run: &ShardRun, plan: &Plan) -> String {
    let of = crate::format::plural(run.plan_targets as u64, "target");
    if plan.targets.is_empty() {
        return format!(
            "shard {}: no targets fall in this shard ({of} in {} shards); nothing to run, which passes\n",
            run.shard(),
            run.total
        );
    }
    let names: Vec<&str> = plan.targets.iter().map(|t| t.name.as_str()).collect();
    format!("shard {}: {} of {of}: {}\n", run.shard(), names.len(), names.join(", "))
}

/// Writes to standard output; a closed pipe (`| head`) ends quietly.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = anstream::stdout();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::new("could not write the report", e)),
    }
}
