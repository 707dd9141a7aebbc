//! `leakcheck run`: spec → plan → runner → reports and exit status, with progress on stderr
//! (a live bar on a terminal, one line per phase in a CI log).

use std::path::PathBuf;
use std::sync::Arc;

use super::{CliError, EXIT_ERROR, EXIT_FOUND, EXIT_OK};
use crate::app::{StderrProgress, load_spec_and_plan, print, shard_line};
use crate::leakspec::Spec;
use crate::model::{Outcome, RunReport};
use crate::plan::{self, Overrides};
use crate::record;
use crate::runner::progress::Progress;
use crate::runner::{RunOptions, run_plan};
use crate::shard::{Shard, ShardRun};
use crate::style::Paint;

/// The resolved arguments of `leakcheck run`.
pub struct RunArgs {
    pub spec: PathBuf,
    pub overrides: Overrides,
    pub keep_snapshots: Option<PathBuf>,
    pub failure_snapshots: PathBuf,
    pub junit: Option<PathBuf>,
    pub json: Option<PathBuf>,
    /// Write the HTML page here.
    pub html: Option<PathBuf>,
    pub quiet: bool,
    /// Run only this shard's targets (`--shard K/N`).
    pub shard: Option<Shard>,
    /// What to do with `leakspec.lock`.
    pub lock: record::Mode,
}

/// Runs the spec and returns the exit status.
pub fn run(args: RunArgs) -> Result<u8, CliError> {
    let (spec, plan) = load_spec_and_plan(&args.spec, &args.overrides)?;
    if plan.targets.is_empty() {
        return Err(CliError::new(
            "nothing to run",
            "no target matches the --target and --route filters",
        ));
    }
    let (mut plan, shard) = match args.shard {
        Some(shard) => {
            let (plan, run) = shard.select(plan);
            print(&shard_line(&run, &plan))?;
            (plan, Some(run))
        }
        None => (plan, None),
    };
    // Everything that can be checked is checked before the first target starts: a report that
    // cannot be written, or a target that cannot be started, must not cost the whole run.
    check_outputs(&args)?;
    preflight(&plan)?;
    if plan.targets.is_empty() {
        // Still write the reports: merge-reports needs every shard's, empty or not.
        let report = RunReport {
            format: crate::model::RUN_FORMAT,
            spec: plan.spec_path.clone(),
            ..RunReport::default()
        };
        write_reports(&report, shard.as_ref(), &args)?;
        return Ok(EXIT_OK);
    }
    let lock_path = record::lock_path(&args.spec);
    let lock = record::Lock::load(&lock_path)
        .map_err(|e| CliError::new("could not use the recorded figures", e))?;
    record::attach(&mut plan, lock.as_ref(), args.lock);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new("could not start the async runtime", e))?;
    let progress: Arc<dyn Progress> = if args.quiet {
        Arc::new(crate::runner::progress::Silent)
    } else {
        Arc::new(StderrProgress::auto())
    };
    let partial = Arc::new(std::sync::Mutex::new(RunReport::default()));
    let options = RunOptions {
        keep_snapshots: args.keep_snapshots.clone(),
        failure_snapshots: args.failure_snapshots.clone(),
        progress: progress.clone(),
        partial: Some(partial.clone()),
    };
    // A second Ctrl-C ends leakcheck at once; the JSON and JUnit reports still get what was
    // measured until then (routes finished before the first signal, and the one under way).
    // Whoever writes the reports first (the run's end, or a second signal) writes them whole;
    // the other leaves them alone.
    let written = Arc::new(std::sync::Mutex::new(false));
    let last_words = {
        let (junit, json, shard) = (args.junit.clone(), args.json.clone(), shard.clone());
        let written = written.clone();
        move || {
            let mut written = written.lock().unwrap_or_else(|p| p.into_inner());
            if *written {
                return;
            }
            // The runner holds the lock only to copy a report in: wait for it a moment.
            let report = (0..100).find_map(|_| match partial.try_lock() {
                Ok(r) => Some(r.clone()),
                Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner().clone()),
                Err(std::sync::TryLockError::WouldBlock) => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    None
                }
            });
            let Some(mut report) = report else { return };
            report.interrupted = Some(
                "stopped by a second signal: the report holds the routes finished before the first, \
                 and the one under way with what it had measured"
                    .into(),
            );
            if let Some(path) = &junit {
                let _ = write_file(path, report.to_junit());
            }
            if let Some(path) = &json {
                let text = match &shard {
                    Some(shard) => crate::report::merge::sharded_json(&report, shard),
                    None => report.to_json(),
                };
                let _ = write_file(path, text);
            }
            *written = true;
            eprintln!(
                "leakcheck: stopped at once by a second signal; the reports hold what was measured until the first"
            );
        }
    };
    let report = runtime.block_on(async {
        let mut stop = crate::launch::install_signal_handlers_with(last_words)
            .map_err(|e| CliError::new("could not install signal handlers", e))?;
        let report = run_plan(&plan, &options, &mut stop).await;
        Ok::<_, CliError>((report, stop.get()))
    });
    drop(progress);
    let (report, signal) = report?;
    {
        let mut written = written.lock().unwrap_or_else(|p| p.into_inner());
        if *written {
            // A second signal wrote them and is ending the process with its own status: let it.
            drop(written);
            std::thread::sleep(std::time::Duration::from_secs(5));
            return Ok(signal.map_or(EXIT_OK, |s| s.exit_code()));
        }
        write_reports(&report, shard.as_ref(), &args)?;
        *written = true;
    }
    if args.lock != record::Mode::Compare {
        write_lock(lock.unwrap_or_default(), &lock_path, &plan, &spec, &report, args.quiet)?;
    }
    print(&report.to_text(Paint::for_stdout()))?;
    if std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true") {
        github(&report, &plan, &args.spec, args.html.as_deref())?;
    }
    if let Some(signal) = signal {
        return Ok(signal.exit_code());
    }
    Ok(exit_status(&report))
}

/// The working folder and program of every target that will start: found, or an error naming
/// the target, its line in the spec, and what is missing.
fn preflight(plan: &plan::Plan) -> Result<(), CliError> {
    let mut causes = Vec::new();
    for t in &plan.targets {
        if t.routes.iter().all(|r| r.ignored.is_ignored()) {
            continue;
        }
        if let Err(e) = crate::launch::preflight(&t.name, t.runtime, &t.command, &t.cwd) {
            causes.push(format!("{}:{}:{}: {e}", plan.spec_path.display(), t.line, t.column));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(CliError::with_causes("a target cannot be started; nothing was run", causes))
    }
}

/// The report files can be written: `--junit` and `--json` (their missing folders are
/// created, as test runners do for their reports), `--keep-snapshots`, and on GitHub Actions
/// the step summary. A file that did not exist is removed again after the check.
fn check_outputs(args: &RunArgs) -> Result<(), CliError> {
    for path in [&args.junit, &args.json].into_iter().flatten() {
        check_writable(path, false)?;
    }
    if let Some(dir) = &args.keep_snapshots {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::new(format!("could not create `{}`", dir.display()), e))?;
    }
    if std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true")
        && let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty())
    {
        check_writable(&PathBuf::from(path), true)?;
    }
    Ok(())
}

/// Opens `path` for writing without changing it (creating its folder), as the report will.
fn check_writable(path: &std::path::Path, append: bool) -> Result<(), CliError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::new(format!("could not create `{}`", dir.display()), e))?;
    }
    let existed = path.exists();
    let opened = std::fs::OpenOptions::new().append(true).create(true).open(path);
    if let Err(e) = opened {
        let what = if append { "append to" } else { "write" };
        return Err(CliError::new(format!("could not {what} `{}`", path.display()), e));
    }
    if !existed && !append {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// 2 when leakcheck could not measure something (a target never ready, an inspector that did
/// not answer), else 1 when a route failed or its target crashed, else 0.
pub fn exit_status(report: &RunReport) -> u8 {
    let mut status = EXIT_OK;
    for t in &report.targets {
        if t.error.is_some() {
            return EXIT_ERROR;
        }
        for r in &t.routes {
            match r.outcome {
                Outcome::Fail => status = EXIT_FOUND,
                // A target that crashed under load is the service's failure, not leakcheck's.
                Outcome::Error if t.exit.is_some() => status = EXIT_FOUND,
                Outcome::Error => return EXIT_ERROR,
                Outcome::Pass | Outcome::Skipped => {}
            }
        }
    }
    status
}

fn write_reports(
    report: &RunReport,
    shard: Option<&ShardRun>,
    args: &RunArgs,
) -> Result<(), CliError> {
    if let Some(path) = &args.junit {
        write_file(path, report.to_junit())?;
    }
    if let Some(path) = &args.json {
        let json = match shard {
            Some(shard) => crate::report::merge::sharded_json(report, shard),
            None => report.to_json(),
        };
        write_file(path, json)?;
    }
    if let Some(path) = &args.html {
        let mut title = crate::report::html::run_title("run", report);
        if let Some(shard) = shard {
            title += &format!(" (shard {})", shard.shard());
        }
        crate::report::html::write_page(report, path, title, "request")
            .map_err(|e| CliError::from_error(&e))?;
    }
    Ok(())
}

/// Writes a report file, creating its folder.
pub(crate) fn write_file(path: &std::path::Path, text: String) -> Result<(), CliError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::new(format!("could not create `{}`", dir.display()), e))?;
    }
    std::fs::write(path, text)
        .map_err(|e| CliError::new(format!("could not write `{}`", path.display()), e))
}

/// On GitHub Actions: annotations on the spec's lines (workflow commands on stdout) and the
/// Markdown summary appended to `$GITHUB_STEP_SUMMARY`.
fn github(
    report: &RunReport,
    plan: &plan::Plan,
    spec: &std::path::Path,
    html: Option<&std::path::Path>,
) -> Result<(), CliError> {
    use crate::report::github;
    // Annotations name files relative to the workspace (the repository's checkout).
    let file = std::env::var_os("GITHUB_WORKSPACE")
        .and_then(|ws| {
            let spec = std::path::absolute(spec).ok()?;
            spec.strip_prefix(ws).ok().map(|p| p.display().to_string())
        })
        .unwrap_or_else(|| spec.display().to_string());
    print(&github::annotations(report, plan, &file))?;
    if let Some(workspace) = std::env::var_os("GITHUB_WORKSPACE").filter(|w| !w.is_empty()) {
        let workspace = std::path::absolute(std::path::Path::new(&workspace))
            .unwrap_or_else(|_| std::path::PathBuf::from(&workspace));
        print(&github::site_annotations(report, &workspace))?;
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        use std::io::Write;
        let path = PathBuf::from(path);
        let mut summary = github::step_summary(report);
        if let Some(html) = html {
            let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            let run =
                match (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
                    (Some(server), Some(repo), Some(id)) => {
                        Some(format!("{server}/{repo}/actions/runs/{id}"))
                    }
                    _ => None,
                };
            summary += &github::html_note(&html.display().to_string(), run.as_deref());
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(summary.as_bytes()))
            .map_err(|e| CliError::new(format!("could not append to `{}`", path.display()), e))?;
    }
    Ok(())
}

/// Records what the plan asked for into the lock and writes it (only when something changed).
fn write_lock(
    mut lock: record::Lock,
    path: &std::path::Path,
    plan: &plan::Plan,
    spec: &Spec,
    report: &RunReport,
    quiet: bool,
) -> Result<(), CliError> {
    let before = lock.to_toml();
    let exists = |t: &str, r: &str| {
        spec.targets
            .iter()
            .any(|target| target.name == t && target.routes.iter().any(|x| x.name == r))
    };
    let update = record::update(&mut lock, plan, report, exists);
    let after = lock.to_toml();
    if after != before || !path.exists() {
        std::fs::write(path, after)
            .map_err(|e| CliError::new(format!("could not write `{}`", path.display()), e))?;
    }
    if !quiet {
        let mut parts = Vec::new();
        if !update.recorded.is_empty() {
            parts.push(format!("recorded {}", update.recorded.join(", ")));
        }
        if !update.blessed.is_empty() {
            parts.push(format!("blessed {}", update.blessed.join(", ")));
        }
        if update.dropped > 0 {
            parts.push(format!(
                "dropped {} of routes no longer in the spec",
                crate::format::plural(update.dropped as u64, "record")
            ));
        }
        if parts.is_empty() {
            parts.push("nothing to record".to_owned());
        }
        eprintln!("{}: {}", path.display(), parts.join("; "));
    }
    Ok(())
}
