//! Helpers shared by the CLI integration tests: run an engine fixture (a real Node service that
//! writes heap snapshots of itself) into a temporary directory, and run the real `leakcheck`
//! binary on the result.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// The snapshots one fixture run wrote. The directory is removed when this is dropped.
pub struct FixtureRun {
    /// `s0.heapsnapshot` .. `s<K>.heapsnapshot`, absolute, in the order they were taken.
    pub snapshots: Vec<PathBuf>,
    /// Requests between consecutive snapshots.
    pub steps: u64,
    /// The temporary directory holding them.
    pub dir: TempDir,
}

/// What a fixture prints on stdout: one JSON line.
#[derive(serde::Deserialize)]
struct FixtureLine {
    snapshots: Vec<PathBuf>,
    steps: u64,
}

/// True when `node` can be started. Tests that need it skip (with a message) without it, as
/// `tests/oracle.rs` does.
pub fn node_available() -> bool {
    Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Returns early from a test, with a message, when `node` is not on the PATH.
#[macro_export]
macro_rules! require_node {
    () => {
        if !common::node_available() {
            eprintln!("skipped: node is not on the PATH");
            return;
        }
    };
}

/// Path of an engine fixture script.
pub fn fixture_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/engine").join(format!("{name}.js"))
}

/// Runs `tests/fixtures/engine/<name>.js` with `--steps steps --rungs rungs` into a fresh
/// temporary directory and returns the snapshots it wrote.
pub fn run_fixture(name: &str, steps: u64, rungs: u32) -> FixtureRun {
    let dir = tempfile::Builder::new().prefix(&format!("leakcheck-{name}-")).tempdir().unwrap();
    let out = Command::new("node")
        .arg("--expose-gc")
        .arg(fixture_script(name))
        .arg("--out")
        .arg(dir.path())
        .args(["--steps", &steps.to_string(), "--rungs", &rungs.to_string()])
        .output()
        .expect("node starts");
    assert!(
        out.status.success(),
        "fixture {name} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line: FixtureLine = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "fixture {name} printed no JSON line ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(line.steps, steps, "fixture {name} ran a different number of steps");
    assert_eq!(line.snapshots.len(), rungs as usize + 1, "fixture {name}: one snapshot per rung");
    FixtureRun { snapshots: line.snapshots, steps, dir }
}

/// The `leakcheck` binary built for these tests, with colour decisions left to the test.
pub fn leakcheck() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leakcheck"));
    // Tests read the output as text: never colour it, whatever the environment says.
    cmd.env_remove("CLICOLOR_FORCE").env_remove("FORCE_COLOR").env("NO_COLOR", "1");
    cmd
}

/// Runs `leakcheck` with `args` and returns its output.
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    leakcheck().args(args).output().expect("leakcheck starts")
}

/// The exit status, which every leakcheck run has (it is never killed by a signal here).
pub fn code(out: &Output) -> i32 {
    out.status.code().expect("leakcheck exited, not killed by a signal")
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `leakcheck diff <snapshots> --steps N --unit request --format FORMAT`.
pub fn diff(snapshots: &[PathBuf], steps: u64, format: &str) -> Output {
    let mut args: Vec<&OsStr> = snapshots.iter().map(|p| p.as_os_str()).collect();
    let steps = steps.to_string();
    let tail = ["--steps", &steps, "--unit", "request", "--format", format];
    args.extend(tail.iter().map(OsStr::new));
    leakcheck().arg("diff").args(args).output().expect("leakcheck starts")
}
