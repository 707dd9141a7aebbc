//! insta snapshots of every report format (`diff` and `summary`, text and JSON), built from
//! small synthetic heaps so they are byte-for-byte deterministic: node ids are fixed, and
//! nothing in the reports depends on time, paths or hashing order.
//!
//! The heaps model a server at three rungs of load, 100 requests apart: a `tasks` array that
//! keeps a `Task` (and its name, a `(string)`) per request, `Session`s that are replaced every
//! rung without growing (churn), and a `Config` cache that fills once and stops (warm-up).

use insta::assert_snapshot;
use leakcheck::analysis::compare::{Comparer, Digest, Thresholds};
use leakcheck::analysis::{Analysis, HeapSummary, analyse};
use leakcheck::report::diff::DiffReport;
use leakcheck::report::summary;
use leakcheck::snapshot::{EdgeKind, GraphBuilder, HeapGraph, NodeKind};
use leakcheck::style::Paint;

/// Requests between rungs.
const STEPS: f64 = 100.0;
/// Sessions alive at any time; every rung replaces all of them.
const SESSIONS: u32 = 50;
/// Config entries, all loaded between the first two rungs.
const CONFIGS: u32 = 20;

/// A V8-like object id: V8 numbers objects with odd ids from a counter, in the order the
/// snapshots first see them, so every object born in a later rung has a larger id.
fn v8_id(born: u32, slot: u32) -> u32 {
    1 + 2 * (born * 100_000 + slot)
}

/// The heap at `rung`, where `kept[r]` tasks are kept at rung `r`.
fn heap(rung: u32, kept: &[u32]) -> HeapGraph {
    let tasks = kept[rung as usize];
    let born = |k: u32| kept.iter().position(|&n| n > k).unwrap_or(0) as u32;
    let mut b = GraphBuilder::new();
    let root = b.node(NodeKind::Synthetic, "", v8_id(0, 0), 0);
    let global = b.node(NodeKind::Object, "global", v8_id(0, 1), 48);
    b.edge(root, EdgeKind::Shortcut, "1", global);

    let list = b.node(NodeKind::Object, "Array", v8_id(0, 2), 32);
    // As in V8, the backing store is reallocated (a new object, a new id) as the array grows.
    let store = b.node(NodeKind::Array, "", v8_id(rung, 10), 16 + 8 * tasks as u64);
    b.edge(global, EdgeKind::Property, "tasks", list);
    b.edge(list, EdgeKind::Internal, "elements", store);
    for k in 0..tasks {
        let task = b.node(NodeKind::Object, "Task", v8_id(born(k), 1_000 + 2 * k), 56);
        let name =
            b.node(NodeKind::String, &format!("task #{k}"), v8_id(born(k), 1_001 + 2 * k), 40);
        b.indexed_edge(store, EdgeKind::Element, k, task);
        b.edge(task, EdgeKind::Property, "name", name);
    }

    let sessions = b.node(NodeKind::Object, "Array", v8_id(0, 4), 32);
    b.edge(global, EdgeKind::Property, "sessions", sessions);
    for j in 0..SESSIONS {
        let session = b.node(NodeKind::Object, "Session", v8_id(rung, 50_000 + j), 64);
        b.indexed_edge(sessions, EdgeKind::Element, j, session);
    }

    let cache = b.node(NodeKind::Object, "Array", v8_id(0, 5), 32);
    b.edge(global, EdgeKind::Property, "config", cache);
    for j in 0..if rung == 0 { 0 } else { CONFIGS } {
        let config = b.node(NodeKind::Object, "Config", v8_id(1, 90_000 + j), 80);
        b.indexed_edge(cache, EdgeKind::Element, j, config);
    }
    b.build()
}

/// Compares one heap per rung, with `tasks[i]` tasks kept at rung `i`, as `leakcheck diff`
/// does.
fn diff(tasks: &[u32]) -> DiffReport {
    diff_forgetting(tasks, |_| false)
}

/// [`diff`], with the digests of the rungs `forget` picks made without their nodes
/// ([`Digest::forget_nodes`], as `leakcheck diff` makes every digest but the last).
fn diff_forgetting(tasks: &[u32], forget: impl Fn(usize) -> bool) -> DiffReport {
    let graphs: Vec<HeapGraph> = (0..tasks.len()).map(|rung| heap(rung as u32, tasks)).collect();
    let analyses: Vec<Analysis> = graphs.iter().map(analyse).collect();
    let mut comparer = Comparer::new();
    for (i, (graph, analysis)) in graphs.iter().zip(&analyses).enumerate() {
        let label = format!("s{i}.heapsnapshot");
        let (classes, dominators) = (&analysis.classes, &analysis.dominators);
        let mut digest = Digest::build(label, graph, classes, dominators, comparer.basis());
        if forget(i) {
            digest.forget_nodes();
        }
        comparer.push(digest, i as f64 * STEPS);
    }
    let (graph, analysis) = (graphs.last().unwrap(), analyses.last().unwrap());
    let mut comparison =
        comparer.finish(graph, &analysis.classes, &analysis.dominators, Thresholds::default());
    comparison.fill_paths(|node| analysis.retainer_path(graph, node, 8));
    DiffReport::new(comparison, "request", &[])
}

#[test]
fn diff_of_a_leak() {
    let report = diff(&[0, 100, 200]);
    assert_snapshot!("diff_leak_text", report.to_text(Paint::PLAIN, 15));
    assert_snapshot!("diff_leak_json", report.to_json());
}

/// The comparison reads the nodes of the last digest only: without the earlier ones' the
/// report is the same, and a last digest without its own is refused rather than compared.
#[test]
fn earlier_digests_compare_the_same_without_their_nodes() {
    let tasks = [0, 100, 200];
    let report = diff_forgetting(&tasks, |rung| rung + 1 < tasks.len());
    assert_eq!(report.to_json(), diff(&tasks).to_json());
    let last_forgotten = std::panic::catch_unwind(|| diff_forgetting(&tasks, |_| true));
    let message = *last_forgotten.expect_err("refused").downcast::<String>().unwrap();
    assert!(message.contains("the last digest compared keeps its nodes"), "{message}");
}

#[test]
fn diff_of_growth_that_needs_another_rung() {
    let report = diff(&[0, 100, 130]);
    assert_snapshot!("diff_unsure_text", report.to_text(Paint::PLAIN, 15));
}

#[test]
fn diff_without_a_leak() {
    let report = diff(&[0, 0, 0]);
    assert_snapshot!("diff_ok_text", report.to_text(Paint::PLAIN, 15));
}

#[test]
fn summary_of_one_snapshot() {
    let graph = heap(2, &[0, 100, 200]);
    let analysis = analyse(&graph);
    let summary = HeapSummary::new(&graph, &analysis, 10);
    assert_snapshot!("summary_text", summary::to_text(&summary, Paint::PLAIN));
    assert_snapshot!("summary_json", summary::to_json(&summary));
}
