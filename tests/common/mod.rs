//! Helpers shared by the CLI integration tests: run an engine fixture (a real Node service that
//! writes heap snapshots of itself) into a temporary directory, run the real `leakcheck` binary
//! on the result, and run `leakcheck run` on a fixture spec with every process it starts tagged,
//! so that a test can tell whether any of them outlived the run.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
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

/// The environment variable that tags every process a `leakcheck run` of a test starts: the
/// targets inherit leakcheck's environment, so `/proc/PID/environ` tells them apart from the
/// fixture services other tests (or other people) run at the same time.
pub const TAG_VAR: &str = "LEAKCHECK_TEST_TAG";

/// Path of a spec under `tests/fixtures/specs/`.
pub fn spec(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/specs").join(format!("{name}.toml"))
}

/// The folder of the fixture services, for specs a test writes itself.
pub fn services_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/services")
}

/// A value for [`TAG_VAR`] no other run shares.
pub fn unique_tag(label: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{label}-{}-{}-{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One finished `leakcheck run`: its output and the reports it wrote.
pub struct SpecRun {
    /// What leakcheck printed and how it exited.
    pub out: Output,
    /// The `--json` report, if leakcheck wrote one.
    pub json: Option<Value>,
    /// The `--junit` report, if leakcheck wrote one.
    pub junit: Option<String>,
    /// Its working directory (failing routes keep their snapshots in `leakcheck-snapshots/`
    /// here); removed when this is dropped.
    pub dir: TempDir,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl SpecRun {
    /// The exit status.
    pub fn code(&self) -> i32 {
        code(&self.out)
    }

    /// Standard output as text.
    pub fn stdout(&self) -> String {
        stdout(&self.out)
    }

    /// Standard error as text.
    pub fn stderr(&self) -> String {
        stderr(&self.out)
    }

    /// The JSON report; panics with leakcheck's output when there is none.
    pub fn json(&self) -> &Value {
        self.json
            .as_ref()
            .unwrap_or_else(|| panic!("no JSON report written\n{}", self.output_text()))
    }

    /// The JUnit report; panics with leakcheck's output when there is none.
    pub fn junit(&self) -> &str {
        self.junit
            .as_deref()
            .unwrap_or_else(|| panic!("no JUnit report written\n{}", self.output_text()))
    }

    /// Standard output and standard error, for assertion messages.
    pub fn output_text(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout(), self.stderr())
    }

    /// The report of route `route` of target `target`; panics with the targets it has.
    pub fn route(&self, target: &str, route: &str) -> &Value {
        route_of(self.json(), target, route)
    }
}

/// The report of route `route` of target `target` in a `leakcheck-run/1` document.
pub fn route_of<'a>(json: &'a Value, target: &str, route: &str) -> &'a Value {
    target_of(json, target)["routes"]
        .as_array()
        .expect("routes is an array")
        .iter()
        .find(|r| r["name"] == route)
        .unwrap_or_else(|| panic!("no route {target} › {route} in the report"))
}

/// The report of target `target` in a `leakcheck-run/1` document.
pub fn target_of<'a>(json: &'a Value, target: &str) -> &'a Value {
    json["targets"]
        .as_array()
        .expect("targets is an array")
        .iter()
        .find(|t| t["name"] == target)
        .unwrap_or_else(|| panic!("no target {target} in the report"))
}

/// `leakcheck run --spec SPEC --json report.json --junit report.xml ARGS...` in a fresh
/// temporary working directory, every process it starts tagged with a unique [`TAG_VAR`].
/// Asserts that none of them is left running afterwards, whatever the run's outcome.
pub fn run_spec(spec: &Path, args: &[&str]) -> SpecRun {
    let dir = tempfile::Builder::new().prefix("leakcheck-run-").tempdir().unwrap();
    let tag = unique_tag("run");
    let start = Instant::now();
    let out = run_command(spec, dir.path(), &tag).args(args).output().expect("leakcheck starts");
    let elapsed = start.elapsed();
    assert_nothing_left(&tag, &format!("leakcheck run --spec {} {args:?}", spec.display()));
    let (json, junit) = read_reports(dir.path());
    SpecRun { out, json, junit, dir, elapsed }
}

/// The command [`run_spec`] runs, for tests that need to drive the process themselves
/// (signals): `leakcheck run --spec SPEC` with the reports going to `dir`, run in `dir`.
pub fn run_command(spec: &Path, dir: &Path, tag: &str) -> Command {
    let mut cmd = leakcheck();
    cmd.current_dir(dir)
        .env(TAG_VAR, tag)
        // Plain progress lines, as in a CI log, whatever the test runner's environment.
        .env("CI", "1")
        .arg("run")
        .arg("--spec")
        .arg(spec)
        .arg("--json")
        .arg(dir.join("report.json"))
        .arg("--junit")
        .arg(dir.join("report.xml"));
    cmd
}

/// Takes a spawned child's piped stderr and stdout: stderr line by line as it comes (a test
/// waits for a progress line before it signals), stdout whole once the child closes it.
pub fn capture_output(
    child: &mut std::process::Child,
) -> (std::sync::mpsc::Receiver<String>, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader, Read};
    let (tx, lines) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().expect("stderr is piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = child.stdout.take().expect("stdout is piped");
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    (lines, stdout)
}

/// The JSON (parsed) and JUnit reports in `dir`, where [`run_command`] has them written.
pub fn read_reports(dir: &Path) -> (Option<Value>, Option<String>) {
    let json = std::fs::read_to_string(dir.join("report.json")).ok().map(|text| {
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("report.json is not JSON ({e}):\n{text}"))
    });
    let junit = std::fs::read_to_string(dir.join("report.xml")).ok();
    (json, junit)
}

/// Live processes (not zombies) whose environment holds `TAG_VAR=tag`: pid and command line.
/// Empty where there is no `/proc`.
pub fn tagged_processes(tag: &str) -> Vec<(u32, String)> {
    let needle = format!("{TAG_VAR}={tag}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if !environ.split(|&b| b == 0).any(|var| var == needle.as_bytes()) {
            continue;
        }
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|stat| {
            stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next().map(str::to_owned))
        });
        if matches!(state.as_deref(), Some("Z" | "X") | None) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        found.push((pid, cmdline.trim_end().to_owned()));
    }
    found
}

/// Panics when a process tagged `tag` is still alive a second after the run ended (a process
/// killed with SIGKILL takes a moment to go). The survivors are killed first, so that a failing
/// test does not leave them behind either.
pub fn assert_nothing_left(tag: &str, what: &str) {
    let start = Instant::now();
    loop {
        let left = tagged_processes(tag);
        if left.is_empty() {
            return;
        }
        if start.elapsed() > Duration::from_secs(1) {
            for (pid, _) in &left {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(*pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            panic!("{what}: processes left running after leakcheck exited: {left:#?}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// `tests/fixtures`, whose `package.json` pins workerd, wrangler and deno.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Installs the runtimes pinned in `tests/fixtures/package-lock.json` with `npm ci` (or `npm
/// install --no-save` from the same lock when `npm ci` refuses it), as
/// `.ci/run` does first, unless `node_modules` is already up to date with the lock file; so a
/// plain `cargo test` on a fresh machine with npm sets them up too. Only the npm registry is
/// needed: the binaries are inside the registry packages.
pub fn ensure_runtimes() {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = fixtures_dir();
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let installed = modified(&dir.join("node_modules/.package-lock.json"));
    let locked = modified(&dir.join("package-lock.json"));
    let binaries = ["node_modules/.bin/wrangler", "node_modules/.bin/deno"]
        .iter()
        .all(|b| dir.join(b).is_file());
    if binaries && installed.is_some() && installed >= locked {
        return;
    }
    let npm = |args: &[&str]| {
        Command::new("npm")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("npm starts (the Workers and Deno tests install their runtimes with it)")
    };
    let mut out = npm(&["ci", "--no-audit", "--no-fund"]);
    if !out.status.success() {
        // A registry mirror without the other platforms' optional packages leaves them out of
        // the lock, which `npm ci` then calls out of sync (see .ci/run).
        out = npm(&["install", "--no-save", "--no-audit", "--no-fund"]);
    }
    assert!(
        out.status.success(),
        "installing the runtimes with npm in {} failed:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checks that a route's `requests until the limit` follows from its measured growth:
/// (limit - heap at the last snapshot) / bytes per request, and that the terminal report says
/// it for `instance` ("isolate", "process"). Returns the projected requests.
pub fn assert_projection(run: &SpecRun, target: &str, route: &str, instance: &str) -> u64 {
    let r = run.route(target, route);
    let verdict = &r["verdict"];
    let p = &verdict["projection"];
    let limit = p["limit"].as_u64().expect("a projection with a limit");
    let rate = p["bytes_per_request"].as_f64().unwrap();
    let last = verdict["heap"][1].as_u64().unwrap();
    let requests = p["requests"].as_u64().unwrap_or_else(|| panic!("no projection: {r:#}"));
    // The rate is the measured linear growth: at least that of the leaking classes together.
    let classes = verdict["bytes_per_request"].as_f64().unwrap();
    assert!(rate > 0.0 && rate >= classes - 1e-6, "rate {rate} vs classes {classes}");
    let expected = (limit - last) as f64 / rate;
    assert!(
        (requests as f64 - expected).abs() <= 1.0,
        "projected {requests} requests, but ({limit} - {last}) / {rate} = {expected}"
    );
    let said = format!(
        "this {instance} reaches {} after about {} requests",
        format_mib(limit),
        thousands(requests)
    );
    assert!(run.stdout().contains(&said), "`{said}` not in the report:\n{}", run.stdout());
    requests
}

fn format_mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// `1234567` → `1,234,567`, as the reports write counts.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
