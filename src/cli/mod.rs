//! The command line: clap definitions, resolution into library calls, and exit statuses.
//!
//! Exit statuses are part of the interface: 0 nothing found, 1 a leak found, 2 leakcheck could
//! not do its job (bad input or arguments). A closed pipe on standard output is not an error.

mod load;
mod merge;
mod report;
mod run;
mod test;

pub use crate::app::CliError;
use crate::app::print;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::analysis::HeapSummary;
use crate::analysis::compare::{Comparer, Thresholds};
use crate::leakspec::Requests;
use crate::report::diff::{DiffReport, Verdict};
use crate::report::summary;
use crate::style::Paint;

/// Retainer paths are cut after this many steps (the rest are counted).
const MAX_PATH_STEPS: usize = 8;

/// Exit status: nothing found.
pub const EXIT_OK: u8 = 0;
/// Exit status: a leak (linear growth) was found.
pub const EXIT_FOUND: u8 = 1;
/// Exit status: leakcheck could not do its job.
pub const EXIT_ERROR: u8 = 2;

const AFTER_HELP: &str = "\
Exit status:
  0  no leak found (run, diff), or the command succeeded
  1  a leak or a budget failure (run: also a target that crashed under load)
  2  leakcheck could not do its job: a bad spec, a target that never became ready,
     an unreadable or truncated snapshot, bad arguments

Examples:
  leakcheck run --junit leakcheck.xml
  leakcheck run --record            # write leakspec.lock: the budgets later runs hold
  leakcheck run --bless             # accept new figures into leakspec.lock
  leakcheck summary app.heapsnapshot --top 20
  leakcheck diff s0.heapsnapshot s1.heapsnapshot s2.heapsnapshot --steps 500 --unit request
  leakcheck diff s*.heapsnapshot --format json > growth.json
  leakcheck run --json leakcheck.json --html leakcheck.html
  leakcheck report leakcheck.json --html leakcheck.html   # render a saved report again";

/// Catch JavaScript memory leaks from V8 heap snapshots.
///
/// Take snapshots of one process at increasing load (a baseline, after N requests, after 2N
/// ...), then `leakcheck diff` them: it groups objects the way Chrome DevTools does, flags the
/// groups that grow linearly with load, and shows who holds them.
#[derive(Debug, Parser)]
#[command(name = "leakcheck", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the leak checks of a leakspec.toml: the CI gate.
    ///
    /// For each target: start it (its own process group, the V8 inspector on loopback, a free
    /// port exported as PORT), wait until ready, and for each route: warm up, take a baseline
    /// heap snapshot, send N requests, snapshot, N more, snapshot (more rungs while the verdict
    /// is unclear). A route fails when something grows linearly with the requests beyond its
    /// budget, when the heap grows past max_heap_growth, or when it would reach memory_limit
    /// too soon. Each failure names what grows, how fast, and who holds it.
    ///
    /// Exit status: 0 all routes pass; 1 a route failed (a leak, a budget, a target that
    /// crashed under load); 2 leakcheck could not do its job (a bad spec, a target that never
    /// became ready, an inspector that did not answer); 130/143 after Ctrl-C/SIGTERM, with the
    /// reports of what was measured written all the same.
    Run(RunArgs),
    /// Summarise one snapshot: the classes that retain the most memory.
    ///
    /// Like the Summary and Statistics views of Chrome DevTools: per class key (constructor
    /// name, `(closure)`, `(string)`, `{id, prompt}` for plain objects of that shape ...) the
    /// object count, shallow size, retained size and distance from the GC roots; then totals
    /// for code, strings, arrays, system and native memory.
    Summary(SummaryArgs),
    /// Compare snapshots of one process and find what grows linearly with load.
    ///
    /// Give two or more snapshots of ONE process, taken in ONE inspector session (node ids are
    /// only stable within it), in the order they were taken, with the same load between each
    /// pair (e.g. a baseline, after 500 requests, after 1000). For every class key it reports
    /// counts and sizes, new and deleted objects, objects allocated in each interval that are
    /// still alive at the end, and a verdict: linear growth (a leak), growth that stopped
    /// (warm-up, a cache that filled), noise or shrinking. Growing classes are explained by the
    /// persistent objects that hold them (a Map, an array, a closure context ...) with their
    /// retainer paths from the GC roots.
    ///
    /// Three snapshots are the minimum for a verdict you can trust; with two, any growth looks
    /// linear. Exits 1 when something grows linearly, so it can gate CI.
    Diff(DiffArgs),
    /// Run the routes of a leakspec.toml as tests, with cargo test's flags.
    ///
    /// Each route is a test named TARGET::ROUTE ([flow], [websocket], [sse] or [load] before
    /// it for routes that are more than one request per iteration). Filters, --exact, --skip, --list, --ignored,
    /// --include-ignored, --format pretty|terse|json and --test-threads work as with `cargo
    /// test -- ...` (routes marked `ignored` in the spec are ignored tests); only the targets
    /// of the routes left after filtering are started, each once for all its routes (in the
    /// spec's order), and --test-threads targets run at once. A failing test's message is the
    /// route's explanation, as `leakcheck run` prints it. --nocapture shows progress on stderr.
    ///
    /// Exit status: 0 all passed; 1 a route failed; 2 leakcheck could not do its job (a bad
    /// spec, a target that never became ready).
    #[command(disable_help_flag = true)]
    Test(TestArgs),
    /// Combine the --json reports of the shards of one run (--shard K/N) into one report.
    ///
    /// Prints the terminal report of the whole run and writes its JSON and JUnit, in the
    /// spec's order, as one unsharded `leakcheck run` would have. Fails (status 2) when a
    /// report is missing, unreadable or not a leakcheck-run/2 report, when a shard is missing
    /// or given twice, or when the reports come from different specs.
    ///
    /// Exit status: as `leakcheck run`'s over all shards: 0 all routes pass; 1 a route failed;
    /// 2 leakcheck could not do its job in some shard (or a shard was interrupted), or the
    /// reports cannot be merged.
    MergeReports(MergeArgs),
    /// Render a saved --json report again: as text, and as an HTML page with --html.
    ///
    /// Takes the report of `leakcheck run --json` (a shard's too) or of `merge-reports
    /// --json`, so a CI job can render the page after the fact. Links to kept snapshots are
    /// made relative to the page, from the snapshot paths as the report holds them (relative
    /// to the folder the run ran in: run this from there).
    ///
    /// Exit status: 0 rendered (whatever the run's verdict); 2 the report could not be read.
    Report(ReportArgs),
}

#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// A report written by `leakcheck run --json` or `leakcheck merge-reports --json`.
    #[arg(value_name = "RUN.json")]
    report: PathBuf,
    /// Write the report as one self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct TestArgs {
    /// The spec file (default: leakspec.toml), --shard K/N, -h/--help, and the test flags of
    /// `cargo test -- --help`; in any order.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    args: Vec<std::ffi::OsString>,
}

#[derive(Debug, clap::Args)]
struct MergeArgs {
    /// The shards' --json reports (every shard of the run, in any order).
    #[arg(required = true, value_name = "REPORT")]
    reports: Vec<PathBuf>,
    /// Write the merged JUnit XML report.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the merged JSON report (format leakcheck-run/2).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The spec file.
    #[arg(long, default_value = "leakspec.toml", value_name = "FILE")]
    spec: PathBuf,
    /// Run only this target (repeatable).
    #[arg(long = "target", value_name = "NAME")]
    targets: Vec<String>,
    /// Run only this route, in every target that has it (repeatable).
    #[arg(long = "route", value_name = "NAME")]
    routes: Vec<String>,
    /// Run the routes the spec marks `ignored` too (without it they are reported skipped, with
    /// their reason, and a target whose routes are all ignored is not started).
    #[arg(long)]
    include_ignored: bool,
    /// Override N, the requests per rung, for every route; `auto` sizes the rungs to the
    /// route's sensitivity (as `requests = "auto"` in the spec).
    #[arg(long, value_name = "N|auto", value_parser = requests_value)]
    requests: Option<Requests>,
    /// Override the warm-up requests sent before the baseline; `auto` warms up until V8's
    /// code and metadata stop growing (as `warmup = "auto"` in the spec).
    #[arg(long, value_name = "N|auto", value_parser = requests_value)]
    warmup: Option<Requests>,
    /// Override the requests in flight at once.
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// Override the number of load intervals (snapshots = rungs + 1).
    #[arg(long, value_name = "N")]
    rungs: Option<u32>,
    /// Override the most intervals taken when the verdict is unclear.
    #[arg(long, value_name = "N")]
    max_rungs: Option<u32>,
    /// How allocation sites are recorded: sampling (default; V8's sampling heap profiler
    /// during the rungs) or off.
    #[arg(long, value_name = "MODE", value_parser = ["sampling", "off"])]
    allocations: Option<String>,
    /// Keep every snapshot in DIR (TARGET/ROUTE/sN.heapsnapshot, openable in Chrome DevTools).
    /// Without it, only the snapshots of failing routes are kept, in ./leakcheck-snapshots.
    #[arg(long, value_name = "DIR")]
    keep_snapshots: Option<PathBuf>,
    /// Write a JUnit XML report (one testsuite per target, one testcase per route).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the whole report as JSON (format leakcheck-run/2).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the report as one self-contained HTML page: charts of the heap per snapshot,
    /// retainer paths, budgets, links to the kept snapshots. Opens from file://, no network.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// No progress on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Run only the K-th of N parts of the targets, e.g. 2/4 (for the jobs of a CI matrix;
    /// combine their --json reports with `leakcheck merge-reports`).
    #[arg(long, value_name = "K/N")]
    shard: Option<crate::shard::Shard>,
    /// Record what each route not yet in the lock (leakspec.lock next to the spec) measured;
    /// recorded routes are compared as usual. Creates the lock when there is none.
    #[arg(long)]
    record: bool,
    /// Accept the figures of every route run: replace their records in the lock (like
    /// `cargo insta accept`).
    #[arg(long, conflicts_with = "record")]
    bless: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Aligned text for a person (colour on a terminal; NO_COLOR honoured).
    Text,
    /// Versioned JSON (see the README for the schema).
    Json,
}

#[derive(Debug, clap::Args)]
struct SummaryArgs {
    /// The .heapsnapshot file.
    file: PathBuf,
    /// How many classes to list, largest retained size first.
    #[arg(long, default_value_t = 25, value_name = "N")]
    top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, clap::Args)]
struct DiffArgs {
    /// Snapshots of one process, in the order they were taken (at least two; three or more
    /// for a trustworthy verdict).
    #[arg(required = true, num_args = 2.., value_name = "SNAPSHOT")]
    files: Vec<PathBuf>,
    /// Units of load between consecutive snapshots (e.g. 500 requests); rates are given per
    /// unit. Without it, rates are per interval between snapshots.
    #[arg(long, value_name = "N", default_value_t = 1.0)]
    steps: f64,
    /// What one unit of load is called in the report.
    #[arg(long, value_name = "NAME", default_value = "step")]
    unit: String,
    /// A class key never counted towards the verdict; repeat for more. Example: --ignore Timeout
    #[arg(long, value_name = "CLASS")]
    ignore: Vec<String>,
    /// How many classes to list in the table of changes.
    #[arg(long, default_value_t = 15, value_name = "N")]
    top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also write the comparison as one self-contained HTML page (the heap and each leaking
    /// class per snapshot, retainer paths, links to the snapshot files).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

/// `--requests` and `--warmup`: a whole number, or `auto`.
fn requests_value(text: &str) -> Result<Requests, String> {
    text.parse()
}

/// Runs leakcheck with the process's arguments and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            err.print();
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Runs a parsed command line; returns the exit status.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Run(args) => run::run(run::RunArgs {
            spec: args.spec,
            overrides: crate::plan::Overrides {
                warmup: args.warmup,
                requests: args.requests,
                concurrency: args.concurrency,
                rungs: args.rungs,
                max_rungs: args.max_rungs,
                allocations: args
                    .allocations
                    .as_deref()
                    .and_then(crate::leakspec::Allocations::from_name),
                targets: args.targets,
                routes: args.routes,
                include_ignored: args.include_ignored,
            },
            keep_snapshots: args.keep_snapshots,
            failure_snapshots: PathBuf::from("leakcheck-snapshots"),
            junit: args.junit,
            json: args.json,
            html: args.html,
            quiet: args.quiet,
            shard: args.shard,
            lock: match (args.record, args.bless) {
                (_, true) => crate::record::Mode::Bless,
                (true, false) => crate::record::Mode::Record,
                (false, false) => crate::record::Mode::Compare,
            },
        }),
        Command::Summary(args) => summary(args),
        Command::Diff(args) => diff(args),
        Command::Test(args) => test::run(args.args),
        Command::MergeReports(args) => merge::run(&args.reports, args.json, args.junit),
        Command::Report(args) => report::run(&args.report, args.html),
    }
}

fn summary(args: SummaryArgs) -> Result<u8, CliError> {
    let loaded = load::analyse(&args.file, false)?;
    let summary = HeapSummary::new(&loaded.graph, &loaded.analysis, args.top);
    let text = match args.format {
        Format::Json => summary::to_json(&summary),
        Format::Text => summary::to_text(&summary, Paint::for_stdout()),
    };
    print(&text)?;
    Ok(EXIT_OK)
}

fn diff(args: DiffArgs) -> Result<u8, CliError> {
    if !(args.steps > 0.0 && args.steps.is_finite()) {
        return Err(CliError::new(
            format!("--steps must be a positive number, got {}", args.steps),
            "it is the load between consecutive snapshots, e.g. --steps 500 for 500 requests",
        ));
    }
    let labels = load::labels(&args.files);
    let (digests, last) = load::digests(&args.files, &labels)?;
    let mut comparer = Comparer::new();
    for (i, digest) in digests.into_iter().enumerate() {
        comparer.push(digest, i as f64 * args.steps);
    }
    load::check_same_session(&comparer)?;
    let analysis = &last.analysis;
    let mut comparison = comparer.finish(
        &last.graph,
        &analysis.classes,
        &analysis.dominators,
        Thresholds::default(),
    );
    comparison.fill_paths(|node| analysis.retainer_path(&last.graph, node, MAX_PATH_STEPS));
    comparison.fill_callbacks(&last.graph, &analysis.paths);
    let report = DiffReport::new(comparison, &args.unit, &args.ignore);
    if let Some(path) = &args.html {
        let title = format!(
            "leakcheck diff: {}, {} {} apart",
            crate::format::plural(args.files.len() as u64, "snapshot"),
            args.steps,
            if args.steps == 1.0 {
                args.unit.clone()
            } else {
                crate::format::plural_word(&args.unit)
            }
        );
        crate::report::html::write_page(
            &report::diff_as_run(&report, &args.files),
            path,
            title,
            &args.unit,
        )
        .map_err(|e| CliError::from_error(&e))?;
    }
    let text = match args.format {
        Format::Json => report.to_json(),
        Format::Text => report.to_text(Paint::for_stdout(), args.top),
    };
    print(&text)?;
    Ok(match report.verdict {
        Verdict::Leak => EXIT_FOUND,
        Verdict::Ambiguous | Verdict::NoLeak => EXIT_OK,
    })
}
