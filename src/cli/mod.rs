//! The command line: clap definitions, resolution into library calls, and exit statuses.
//!
//! Exit statuses are part of the interface: 0 nothing found, 1 a leak found, 2 leakcheck could
//! not do its job (bad input or arguments). A closed pipe on standard output is not an error.

mod load;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::analysis::HeapSummary;
use crate::analysis::compare::{Comparer, Thresholds};
use crate::report::diff::{DiffReport, Verdict};
use crate::report::style::Paint;
use crate::report::summary;

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
  0  nothing grows linearly (diff), or the command succeeded
  1  linear growth found: a leak (diff)
  2  leakcheck could not do its job: unreadable or truncated snapshot, bad arguments

Examples:
  leakcheck summary app.heapsnapshot --top 20
  leakcheck diff s0.heapsnapshot s1.heapsnapshot s2.heapsnapshot --steps 500 --unit request
  leakcheck diff s*.heapsnapshot --format json > growth.json";

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
}

/// Something that stopped leakcheck from doing its job: a message and its causes.
#[derive(Debug)]
pub struct CliError {
    message: String,
    causes: Vec<String>,
}

impl CliError {
    fn new(message: impl Into<String>, cause: impl std::fmt::Display) -> CliError {
        CliError { message: message.into(), causes: vec![cause.to_string()] }
    }
}

/// Runs leakcheck with the process's arguments and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let mut stderr = anstream::stderr();
            let paint = Paint::for_stdout();
            let _ = writeln!(stderr, "{} {}", paint.red_bold("error:"), err.message);
            for cause in &err.causes {
                let _ = writeln!(stderr, "  {} {cause}", paint.bold("cause:"));
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Runs a parsed command line; returns the exit status.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Summary(args) => summary(args),
        Command::Diff(args) => diff(args),
    }
}

fn summary(args: SummaryArgs) -> Result<u8, CliError> {
    let loaded = load::analyse(&args.file)?;
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
    let mut comparison = comparer.finish(&last.graph, &analysis.dominators, Thresholds::default());
    comparison.fill_paths(|node| analysis.retainer_path(&last.graph, node, MAX_PATH_STEPS));
    let report = DiffReport::new(comparison, &args.unit, &args.ignore);
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

/// Writes to standard output; a closed pipe (`| head`) ends quietly.
fn print(text: &str) -> Result<(), CliError> {
    let mut out = anstream::stdout();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::new("could not write the report", e)),
    }
}
