//! The real binary on bad input and on the edges of its interface: every way leakcheck cannot
//! do its job exits 2 and says which file and why; `--help` documents the exit statuses; the
//! `summary` JSON holds together.
//!
//! Tests that need a real snapshot run the `churn` engine fixture (one short rung, about half a
//! second) and skip, with a message, when `node` is not on the PATH.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::{code, run, stderr, stdout};
use leakcheck::snapshot::{EdgeKind, GraphBuilder, Layout, NodeKind, parse_file, write_snapshot};
use serde_json::Value;

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Two small real snapshots of one process, ten requests apart.
fn real_snapshots() -> common::FixtureRun {
    common::run_fixture("churn", 10, 1)
}

/// Asserts a run failed with exit status 2 and an error that names `file` (by its path, or by
/// its name where `diff` labels snapshots); returns stderr.
fn fails_naming(out: &std::process::Output, file: &Path) -> String {
    let err = stderr(out);
    assert_eq!(code(out), 2, "stderr: {err}");
    assert_eq!(stdout(out), "", "nothing on stdout when the command fails");
    let path = file.display().to_string();
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains(&format!("`{path}`")) || err.contains(&format!("`{name}`")),
        "the error names {path}: {err}"
    );
    err
}

#[test]
fn a_truncated_snapshot_names_the_file_and_the_byte_where_it_ends() {
    require_node!();
    let fixture = real_snapshots();
    let whole = std::fs::read(&fixture.snapshots[0]).unwrap();
    let half = whole.len() / 2;
    let cut = fixture.dir.path().join("cut.heapsnapshot");
    std::fs::write(&cut, &whole[..half]).unwrap();

    let err = fails_naming(&run([os("summary"), cut.as_os_str()]), &cut);
    assert!(err.contains("truncated"), "{err}");
    assert!(err.contains(&format!("at byte {half}")), "the offset where the input ends: {err}");

    // In `diff`, whichever file is cut is the one named: first, between or last (the files
    // are parsed one after the other while the one before is analysed).
    let whole = fixture.snapshots[0].as_os_str();
    for files in [[cut.as_os_str(), whole, whole], [whole, cut.as_os_str(), whole]] {
        let args = [os("diff"), files[0], files[1], files[2]];
        let err = fails_naming(&run(args), &cut);
        assert!(err.contains("truncated"), "{err}");
    }
    let args = [os("diff"), whole, cut.as_os_str()];
    let err = fails_naming(&run(args), &cut);
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.heapsnapshot");
    fails_naming(&run([os("summary"), missing.as_os_str()]), &missing);

    let other = dir.path().join("other.heapsnapshot");
    std::fs::write(&other, synthetic_snapshot(0)).unwrap();
    let args = [os("diff"), other.as_os_str(), missing.as_os_str()];
    fails_naming(&run(args), &missing);
}

#[test]
fn files_that_are_not_snapshots_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in
        [("notes.txt", "hello world\n"), ("other.json", "{\"a\": 1}\n"), ("empty.heapsnapshot", "")]
    {
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        fails_naming(&run([os("summary"), file.as_os_str()]), &file);
    }
    fails_naming(&run([os("summary"), dir.path().as_os_str()]), dir.path());
}

/// A small heap: the root, a global and a `tasks` array of three `Task`s, with node ids from
/// `first_id` up. Ids from two calls with ranges far apart share nothing, as snapshots of
/// unrelated processes (or of one process across inspector sessions) may not.
fn synthetic_snapshot(first_id: u32) -> Vec<u8> {
    let mut b = GraphBuilder::new();
    let id = |k: u32| first_id + 2 * k + 1;
    let root = b.node(NodeKind::Synthetic, "", id(0), 0);
    let global = b.node(NodeKind::Object, "global", id(1), 32);
    let tasks = b.node(NodeKind::Object, "Array", id(2), 32);
    b.edge(root, EdgeKind::Shortcut, "1", global);
    b.edge(global, EdgeKind::Property, "tasks", tasks);
    for k in 0..3 {
        let task = b.node(NodeKind::Object, "Task", id(3 + k), 56);
        b.indexed_edge(tasks, EdgeKind::Element, k, task);
    }
    let mut out = Vec::new();
    write_snapshot(&b.build(), &mut out, Layout::Node20).unwrap();
    out
}

#[test]
fn snapshots_that_share_no_objects_are_not_compared() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.heapsnapshot");
    let b = dir.path().join("b.heapsnapshot");
    std::fs::write(&a, synthetic_snapshot(0)).unwrap();
    std::fs::write(&b, synthetic_snapshot(1_000_000)).unwrap();

    let err = fails_naming(&run([os("diff"), a.as_os_str(), b.as_os_str()]), &b);
    assert!(err.contains("does not look like the same process"), "{err}");
    assert!(err.contains("one inspector session"), "the cause explains why: {err}");

    // The same file twice is one process (no growth, so exit 0).
    let out = run([os("diff"), a.as_os_str(), a.as_os_str()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn snapshots_of_two_real_processes_are_not_compared() {
    require_node!();
    let one = common::run_fixture("churn", 10, 1);
    let other = common::run_fixture("cache-once", 10, 1);
    let (a, b) = (&one.snapshots[0], &other.snapshots[1]);
    let err = fails_naming(&run([os("diff"), a.as_os_str(), b.as_os_str()]), b);
    assert!(err.contains("same process"), "{err}");
}

#[test]
fn steps_must_be_a_positive_number() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.heapsnapshot");
    std::fs::write(&a, synthetic_snapshot(0)).unwrap();
    for steps in ["0", "-1", "nan", "inf"] {
        let flag = format!("--steps={steps}");
        let out = run([os("diff"), a.as_os_str(), a.as_os_str(), os(&flag)]);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "--steps {steps}: {err}");
        assert!(err.contains("--steps must be a positive number"), "--steps {steps}: {err}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = run(["diff", "only-one.heapsnapshot"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = run(["summary", "x.heapsnapshot", "--format", "xml"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = run(["frobnicate"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    // `--requests` and `--warmup` take a number or `auto`, nothing else.
    for flag in ["--requests", "--warmup"] {
        let out = run(["run", flag, "lots"]);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{flag}: {err}");
        assert!(err.contains("a whole number of requests or `auto`"), "{flag}: {err}");
    }
}

#[test]
fn help_documents_exit_statuses_and_three_snapshots() {
    let out = run(["--help"]);
    assert_eq!(code(&out), 0);
    let help = stdout(&out);
    assert!(help.contains("Exit status:"), "{help}");
    for line in ["  0  no leak found", "  1  a leak or a budget failure", "  2  leakcheck could"] {
        assert!(help.contains(line), "`{line}` in\n{help}");
    }

    let out = run(["run", "--help"]);
    assert_eq!(code(&out), 0);
    let help = stdout(&out);
    for needle in ["Usage: leakcheck run", "--junit", "--keep-snapshots", "130/143"] {
        assert!(help.contains(needle), "`{needle}` in\n{help}");
    }

    let out = run(["diff", "--help"]);
    assert_eq!(code(&out), 0);
    let help = stdout(&out);
    assert!(help.contains("Three snapshots are the minimum"), "{help}");
    assert!(help.contains("Exits 1 when something grows linearly"), "{help}");
    assert!(help.contains("Usage: leakcheck diff"), "{help}");
}

#[test]
fn summary_json_lists_classes_that_add_up_to_the_heap() {
    require_node!();
    let fixture = real_snapshots();
    let file: &PathBuf = &fixture.snapshots[0];
    let out = run([os("summary"), file.as_os_str(), os("--format"), os("json")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("well-formed JSON");
    assert_eq!(doc["format"], "leakcheck-summary/1");
    let classes = doc["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 25, "--top defaults to 25");
    let top = &classes[0];
    for field in ["count", "self_size", "retained_size"] {
        assert!(top[field].as_u64().is_some_and(|n| n > 0), "top class {field}: {top}");
    }
    assert!(top["name"].as_str().is_some_and(|n| !n.is_empty()), "{top}");
    let retained: Vec<u64> = classes.iter().map(|c| c["retained_size"].as_u64().unwrap()).collect();
    assert!(retained.windows(2).all(|w| w[0] >= w[1]), "largest retained first: {retained:?}");

    // With every class listed, their self sizes add up to every node's self size.
    let args =
        [os("summary"), file.as_os_str(), os("--format"), os("json"), os("--top"), os("1000000")];
    let doc: Value = serde_json::from_slice(&run(args).stdout).unwrap();
    let classes = doc["classes"].as_array().unwrap();
    assert_eq!(doc["class_count"].as_u64(), Some(classes.len() as u64));
    let listed: u64 = classes.iter().map(|c| c["self_size"].as_u64().unwrap()).sum();
    let graph = parse_file(file).unwrap();
    let nodes: u64 = graph.nodes().map(|n| graph.self_size(n)).sum();
    assert_eq!(listed, nodes);
    let stats = &doc["statistics"];
    let reachable = stats["total"].as_u64().unwrap() + stats["unreachable"].as_u64().unwrap();
    assert_eq!(listed, reachable, "reachable and unreachable bytes partition the heap");
    assert_eq!(doc["node_count"].as_u64(), Some(graph.node_count() as u64));
}
