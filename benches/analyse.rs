//! End-to-end benchmark of one snapshot's analysis: parse, class aggregation, dominators and
//! retained sizes, distances; time, throughput and peak memory, as a Markdown table.
//!
//! `cargo bench --bench analyse` measures each snapshot named in `LEAKCHECK_BENCH_SNAPSHOTS`
//! (space-separated paths; by default the `bench/out/heap-*.heapsnapshot` files that exist,
//! made by `node bench/gen-snapshot.js`). Each measurement runs in a fresh child process (this
//! program again, told what to do by an environment variable) so the peak RSS is that of one
//! file and one kind of run alone. `LEAKCHECK_BENCH_RUNS` (default 3; 1 for files over
//! 500 MB) sets how many runs each time is the fastest of.
//!
//! Columns:
//! - *parse*: [`parse_file`], default threads.
//! - *parse+classes, 1 core*: parsing on the calling thread only, then [`ClassIndex::build`]
//!   and the count and self size of every class: the single-threaded aggregation figure.
//! - *analyse*: [`analyse`] on a parsed graph (classes, dominators, retained sizes, distances,
//!   aggregates); *full* is parse plus analyse, as `leakcheck summary` does.
//! - *peak RSS*: `VmHWM` of the full run; *analysis extra*: the peak while analysing less the
//!   resident size before, per node.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use leakcheck::analysis::{ClassIndex, analyse};
use leakcheck::snapshot::{HeapGraph, ParseOptions, parse_file, parse_with};

/// Set in a child: `<mode> <path>`.
const CHILD: &str = "LEAKCHECK_BENCH_CHILD";

fn main() -> ExitCode {
    if let Ok(task) = std::env::var(CHILD) {
        let (mode, path) = task.split_once(' ').expect("mode and path");
        child(mode, Path::new(path));
        return ExitCode::SUCCESS;
    }
    let files = snapshots();
    if files.is_empty() {
        println!(
            "analyse bench: no snapshot found (set LEAKCHECK_BENCH_SNAPSHOTS, or make some with \
             `node bench/gen-snapshot.js`); skipped"
        );
        return ExitCode::SUCCESS;
    }
    println!(
        "| snapshot | size | nodes | edges | parse | parse+classes, 1 core | analyse | full \
         (parse+analyse) | peak RSS | RSS / size | analysis extra |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for file in files {
        match measure(&file) {
            Ok(row) => println!("{row}"),
            Err(e) => println!("| {} | failed: {e} |", file.display()),
        }
    }
    ExitCode::SUCCESS
}

/// The snapshots to measure: `LEAKCHECK_BENCH_SNAPSHOTS`, or the generated ones that exist.
fn snapshots() -> Vec<PathBuf> {
    match std::env::var("LEAKCHECK_BENCH_SNAPSHOTS") {
        Ok(list) => list.split_whitespace().map(PathBuf::from).filter(|p| p.is_file()).collect(),
        Err(_) => {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/out");
            ["heap-20", "heap-200", "heap-1000"]
                .iter()
                .map(|n| dir.join(format!("{n}.heapsnapshot")))
                .filter(|p| p.is_file())
                .collect()
        }
    }
}

/// One table row for `file`, from one child process per run and kind of run.
fn measure(file: &Path) -> Result<String, String> {
    let size = std::fs::metadata(file).map_err(|e| e.to_string())?.len();
    warm_page_cache(file).map_err(|e| e.to_string())?;
    let runs = std::env::var("LEAKCHECK_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if size > 500_000_000 { 1 } else { 3 })
        .max(1);
    let mut best: [Option<Report>; 2] = [None, None];
    for _ in 0..runs {
        for (slot, mode) in best.iter_mut().zip(["single", "full"]) {
            let r = run_child(mode, file)?;
            *slot = Some(match slot.take() {
                None => r,
                Some(b) => b.best_of(r),
            });
        }
    }
    let [Some(single), Some(full)] = best else { unreachable!("at least one run") };
    let mb = size as f64 / 1e6;
    let rate = |d: Duration| format!("{:.2} s, {:.0} MB/s", d.as_secs_f64(), mb / d.as_secs_f64());
    let name =
        file.file_name().map_or_else(|| file.display().to_string(), |n| n.display().to_string());
    Ok(format!(
        "| {name} | {mb:.0} MB | {:.2}M | {:.2}M | {} | {} | {:.2} s | {} | {} MB | {:.2} | {:.1} B/node |",
        full.nodes as f64 / 1e6,
        full.edges as f64 / 1e6,
        rate(full.parse),
        rate(single.parse + single.classes),
        full.analyse.as_secs_f64(),
        rate(full.parse + full.analyse),
        full.peak_kb / 1000,
        full.peak_kb as f64 * 1000.0 / size as f64,
        (full.analyse_peak_kb.saturating_sub(full.parsed_rss_kb)) as f64 * 1000.0
            / full.nodes.max(1) as f64,
    ))
}

/// Reads the file once so no run pays for the disk.
fn warm_page_cache(file: &Path) -> std::io::Result<()> {
    use std::io::Read;
    let mut f = std::fs::File::open(file)?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

/// What a child measured.
#[derive(Clone, Copy, Debug, Default)]
struct Report {
    nodes: u64,
    edges: u64,
    parse: Duration,
    classes: Duration,
    analyse: Duration,
    /// Resident size after parsing, before analysing.
    parsed_rss_kb: u64,
    /// Peak resident size while analysing (the high-water mark reset after parsing).
    analyse_peak_kb: u64,
    /// Peak resident size of the whole child.
    peak_kb: u64,
}

impl Report {
    /// Fastest times, largest memory figures.
    fn best_of(self, o: Report) -> Report {
        Report {
            nodes: o.nodes,
            edges: o.edges,
            parse: self.parse.min(o.parse),
            classes: self.classes.min(o.classes),
            analyse: self.analyse.min(o.analyse),
            parsed_rss_kb: self.parsed_rss_kb.max(o.parsed_rss_kb),
            analyse_peak_kb: self.analyse_peak_kb.max(o.analyse_peak_kb),
            peak_kb: self.peak_kb.max(o.peak_kb),
        }
    }

    fn to_line(self) -> String {
        format!(
            "{} {} {} {} {} {} {} {}",
            self.nodes,
            self.edges,
            self.parse.as_nanos(),
            self.classes.as_nanos(),
            self.analyse.as_nanos(),
            self.parsed_rss_kb,
            self.analyse_peak_kb,
            self.peak_kb
        )
    }

    fn from_line(line: &str) -> Option<Report> {
        let v: Vec<u64> = line.split_whitespace().map(|s| s.parse().ok()).collect::<Option<_>>()?;
        let ns = |i: usize| Duration::from_nanos(v[i]);
        (v.len() == 8).then(|| Report {
            nodes: v[0],
            edges: v[1],
            parse: ns(2),
            classes: ns(3),
            analyse: ns(4),
            parsed_rss_kb: v[5],
            analyse_peak_kb: v[6],
            peak_kb: v[7],
        })
    }
}

fn run_child(mode: &str, file: &Path) -> Result<Report, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .env(CHILD, format!("{mode} {}", file.display()))
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("{mode} run: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Report::from_line(text.trim()).ok_or_else(|| format!("{mode} run printed {text:?}"))
}

/// In the child: one run of `mode`, printed as a [`Report`] line.
fn child(mode: &str, path: &Path) {
    let mut r = Report::default();
    let t = Instant::now();
    let graph: HeapGraph = match mode {
        "single" => {
            let options = ParseOptions { workers: 0, ..ParseOptions::default() };
            parse_with(std::fs::File::open(path).expect("open"), &options).expect("parse")
        }
        _ => parse_file(path).expect("parse"),
    };
    r.parse = t.elapsed();
    r.nodes = graph.node_count() as u64;
    r.edges = graph.edge_count() as u64;
    r.parsed_rss_kb = status_kb("VmRSS");
    reset_peak();
    if mode == "single" {
        let t = Instant::now();
        let classes = ClassIndex::build(&graph);
        let mut per_class = vec![(0u64, 0u64); classes.len()];
        for v in graph.nodes() {
            let size = graph.self_size(v);
            if size > 0 {
                let c = &mut per_class[classes.class_of(v) as usize];
                c.0 += 1;
                c.1 += size;
            }
        }
        r.classes = t.elapsed();
        std::hint::black_box(per_class);
    } else {
        let t = Instant::now();
        let analysis = analyse(&graph);
        r.analyse = t.elapsed();
        std::hint::black_box(&analysis);
    }
    r.analyse_peak_kb = status_kb("VmHWM");
    r.peak_kb = r.analyse_peak_kb.max(PARSE_PEAK_KB.with(|p| p.get()));
    println!("{}", r.to_line());
}

thread_local! {
    /// The high-water mark before [`reset_peak`] cleared it.
    static PARSE_PEAK_KB: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Starts a new high-water mark (`/proc/self/clear_refs`), remembering the old one.
fn reset_peak() {
    PARSE_PEAK_KB.with(|p| p.set(status_kb("VmHWM")));
    // Without it (not Linux, or not allowed) the later reading is the whole run's peak.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A `kB` field of `/proc/self/status`; 0 where there is none.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
