//! Oracle test: a real Node heap snapshot, analysed by leakcheck and by an independent reader
//! (`tests/fixtures/oracle/classes.js`, plain `JSON.parse` and its own class-key code), must
//! agree on every class's count and self size, and on the total reachable size.
//!
//! Skipped (with a message) when `node` is not on the PATH.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use leakcheck::analysis::analyse;
use leakcheck::snapshot::parse_file;

#[derive(serde::Deserialize)]
struct Oracle {
    node_count: usize,
    reachable_self_size: u64,
    classes: BTreeMap<String, OracleClass>,
}

#[derive(serde::Deserialize, Debug, PartialEq, Eq)]
struct OracleClass {
    count: u64,
    self_size: u64,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oracle")
}

fn node(args: &[&Path]) -> Option<std::process::Output> {
    let out = Command::new("node").args(args).output().ok()?;
    assert!(out.status.success(), "node failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(out)
}

#[test]
fn classes_and_totals_match_an_independent_reader() {
    let dir = std::env::temp_dir().join(format!("leakcheck-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let snapshot = dir.join("oracle.heapsnapshot");
    let Some(_) = node(&[&fixtures().join("make.js"), &snapshot]) else {
        eprintln!("skipped: node is not on the PATH");
        return;
    };
    let out = node(&[&fixtures().join("classes.js"), &snapshot]).unwrap();
    let oracle: Oracle = serde_json::from_slice(&out.stdout).unwrap();

    let graph = parse_file(&snapshot).unwrap();
    let analysis = analyse(&graph);
    assert_eq!(graph.node_count(), oracle.node_count);

    let ours: BTreeMap<String, OracleClass> = analysis
        .class_stats
        .iter()
        .filter(|c| c.count > 0)
        .map(|c| (c.class.clone(), OracleClass { count: c.count, self_size: c.self_size }))
        .collect();
    let mismatches: Vec<_> = oracle
        .classes
        .keys()
        .chain(ours.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| oracle.classes.get(*k) != ours.get(*k))
        .map(|k| format!("{k}: oracle {:?}, leakcheck {:?}", oracle.classes.get(k), ours.get(k)))
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} classes differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );

    // The heap the fixture built.
    let class = |k: &str| ours.get(k).map(|c| c.count).unwrap_or(0);
    assert_eq!(class("Task"), 1000);
    assert_eq!(class("Session"), 300);
    assert!(class("{id, prompt, timestamp}") >= 500);
    assert!(class("(closure)") >= 300);
    assert!(class("RegExp") >= 2);

    // Everything reachable over non-weak edges is retained by the root, once.
    assert_eq!(analysis.statistics.total, oracle.reachable_self_size);
    assert_eq!(
        analysis.dominators.retained_size(graph.root()),
        oracle.reachable_self_size,
        "root retained size"
    );

    // A retainer path of a task reads from its array up to the global object.
    let task = graph.nodes().find(|&n| analysis.classes.key_of(n) == "Task").unwrap();
    let path = analysis.retainer_path(&graph, task, 12).to_string();
    eprintln!("retainer path of a Task: {path}");
    assert!(path.contains("in Array @"), "{path}");
    assert!(path.contains("tasks in Object @") || path.contains("tasks in {"), "{path}");
    assert!(path.ends_with("(global)"), "{path}");

    std::fs::remove_dir_all(&dir).ok();
}

/// Timing of each analysis phase on a real snapshot:
/// `LEAKCHECK_SNAPSHOT=big.heapsnapshot cargo test --release --test oracle -- --ignored --nocapture`
#[test]
#[ignore = "needs LEAKCHECK_SNAPSHOT; run in release mode"]
fn analysis_timing_on_a_real_snapshot() {
    use leakcheck::analysis::{ClassIndex, Dominators, HeapSummary, ShortestPaths};
    use std::time::Instant;
    let path = std::env::var("LEAKCHECK_SNAPSHOT").expect("LEAKCHECK_SNAPSHOT");
    let t = Instant::now();
    let graph = parse_file(Path::new(&path)).unwrap();
    eprintln!(
        "parse: {:?} ({} nodes, {} edges, graph {} MB)",
        t.elapsed(),
        graph.node_count(),
        graph.edge_count(),
        graph.heap_bytes() >> 20
    );
    // The machine may be shared: report the fastest of three runs, and the CPU time.
    let mut best = std::time::Duration::MAX;
    let mut d = Dominators::default();
    let cpu = cpu_ns();
    for _ in 0..3 {
        let t = Instant::now();
        d = Dominators::compute(&graph);
        best = best.min(t.elapsed());
    }
    eprintln!(
        "dominators: {best:?} (fastest of 3; {} ms CPU each; {} passes)",
        (cpu_ns() - cpu) / 3_000_000,
        d.passes()
    );
    let t = Instant::now();
    let c = ClassIndex::build(&graph);
    eprintln!("classes: {:?} ({} classes)", t.elapsed(), c.len());
    let t = Instant::now();
    let p = ShortestPaths::compute(&graph);
    eprintln!("paths: {:?}", t.elapsed());
    drop((d, c, p));
    let mut best = std::time::Duration::MAX;
    let mut a = analyse(&graph);
    let cpu = cpu_ns();
    for _ in 0..3 {
        let t = Instant::now();
        a = analyse(&graph);
        best = best.min(t.elapsed());
    }
    eprintln!(
        "analyse (all): {best:?} (fastest of 3; {} ms CPU each), holds {} B/node",
        (cpu_ns() - cpu) / 3_000_000,
        a.heap_bytes() / graph.node_count().max(1)
    );
    let s = HeapSummary::new(&graph, &a, 5);
    eprintln!("{}", serde_json::to_string_pretty(&s).unwrap());
}

/// CPU time of this thread in nanoseconds (Linux `schedstat`; 0 elsewhere).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
