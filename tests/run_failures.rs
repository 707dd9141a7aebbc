//! `leakcheck run` when things go wrong: a target that crashes mid-route, a target that is
//! never ready, specs with mistakes, SIGTERM and Ctrl-C. In every case the reports of what was
//! measured are written, the exit status says what happened, and no process of any target is
//! left running (every process a run starts is tagged, see `common::run_spec`).
//!
//! Skipped (with a message) when `node` is not on the PATH.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{SpecRun, run_spec, spec};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

/// Writes `text` as `name` in a fresh temporary folder; returns both (the folder lives as long
/// as the returned guard).
fn write_spec(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new().prefix("leakcheck-spec-").tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn outcome<'a>(run: &'a SpecRun, target: &str, route: &str) -> &'a str {
    run.route(target, route)["outcome"].as_str().expect("an outcome")
}

/// What must hold of `crash.toml`'s healthy parts: `crashy › status` measured and passing
/// before the crash, and the second target run in full after it (chat-stream pass, chat FAIL
/// with `promptLog` named), with the JSON and JUnit reports written.
fn check_crash_survivors(run: &SpecRun) {
    let dump = || format!("{}\n{}", run.output_text(), pretty(run.json()));
    assert_eq!(outcome(run, "crashy", "status"), "pass", "{}", dump());
    assert_eq!(outcome(run, "crashy", "import"), "error", "{}", dump());
    assert_eq!(outcome(run, "ai-gateway", "chat-stream"), "pass", "{}", dump());
    assert_eq!(outcome(run, "ai-gateway", "chat"), "fail", "{}", dump());
    let chat = run.route("ai-gateway", "chat");
    let culprits: Vec<&Value> = chat["verdict"]["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["class"] == "{id, prompt}")
        .flat_map(|l| l["holders"].as_array().unwrap().iter().map(|h| &h["culprit"]))
        .collect();
    assert!(culprits.iter().any(|c| *c == "promptLog"), "{culprits:?}\n{}", pretty(chat));
    let junit = run.junit();
    for case in ["status", "import", "chat-stream", "chat"] {
        assert!(junit.contains(&format!("<testcase name=\"{case}\"")), "{case}:\n{junit}");
    }
    assert!(junit.contains("<error"), "the crashed route is an error in JUnit:\n{junit}");
}

/// `crash.toml` as written: the crashy target exits with status 3 on its 60th import, 40
/// requests into the first rung of `import`.
#[test]
fn crash_mid_route() {
    require_node!();
    let run = run_spec(&spec("crash"), &[]);
    check_crash_survivors(&run);
    let dump = || format!("{}\n{}", run.output_text(), pretty(run.json()));
    let crashy = common::target_of(run.json(), "crashy");
    let import = run.route("crashy", "import");
    // The route's report names the exit status and holds the tail of the target's stderr.
    let exit = crashy["exit"].as_str().unwrap_or_default();
    assert!(exit.contains('3'), "exit status 3 named: {exit:?}\n{}", dump());
    let tail = crashy["stderr_tail"].as_str().unwrap_or_default();
    assert!(tail.contains("fatal: import 60"), "stderr tail {tail:?}\n{}", dump());
    assert!(import["error"].is_string(), "{}", dump());
    assert!(run.stdout().contains("fatal: import 60"), "{}", dump());
    assert!(run.junit().contains("fatal: import 60"), "{}", run.junit());
    // A target that crashed under load is the service's failure: 1, not 2.
    assert_eq!(run.code(), 1, "{}", dump());
    // It must not take the default timeouts (30 s of requests, 120 s per snapshot) to notice.
    assert!(run.elapsed < Duration::from_secs(60), "took {:?}", run.elapsed);
}

/// `crash.toml` with short timeouts on the crashing target (so that a crash that goes unseen
/// costs seconds, not minutes) and a route after the crashing one.
fn crash_spec_with_short_timeouts() -> (tempfile::TempDir, PathBuf) {
    let services = common::services_dir();
    let text = format!(
        r#"
[defaults]
warmup = 20
requests = 200
concurrency = 4

[[target]]
name = "crashy"
command = ["node", "crashy.js"]
cwd = "{services}"
env = {{ LOG_LEVEL = "warn", CRASH_AFTER = "60", CRASH_MODE = "exit" }}
ready = "/health"
snapshot_timeout = "3s"
request_timeout = "200ms"

[[target.route]]
name = "status"
path = "/api/status"
request_timeout = "10s"

[[target.route]]
name = "import"
method = "POST"
path = "/api/import"
headers = {{ content-type = "application/json" }}
body = '{{"rows": [{{"sku": "SKU-1", "qty": 3}}]}}'

[[target.route]]
name = "after"
path = "/api/status"

[[target]]
name = "ai-gateway"
command = ["node", "ai-gateway.js"]
cwd = "{services}"
env = {{ LOG_LEVEL = "warn" }}
ready = "/health"

[[target.route]]
name = "chat-stream"
method = "POST"
path = "/v1/chat/stream"
headers = {{ content-type = "application/json" }}
body = '{{"model": "tiny-1-chat", "prompt": "Write a haiku about caches.", "max_tokens": 64}}'

[[target.route]]
name = "chat"
method = "POST"
path = "/v1/chat"
headers = {{ content-type = "application/json" }}
body = '{{"model": "tiny-1-chat", "prompt": "Summarise ticket 4711.", "max_tokens": 64}}'
"#,
        services = services.display()
    );
    write_spec("crash.toml", &text)
}

/// What already works of a crash, checked on every run: the second target still runs in full,
/// the reports are written, and no process is left (`run_spec` checks that).
#[test]
fn crash_mid_route_the_other_target_still_runs() {
    require_node!();
    let (_dir, path) = crash_spec_with_short_timeouts();
    let run = run_spec(&path, &[]);
    check_crash_survivors(&run);
    assert_ne!(run.code(), 0, "{}", run.output_text());
}

#[test]
fn crash_mid_route_skips_the_routes_after_it() {
    require_node!();
    let (_dir, path) = crash_spec_with_short_timeouts();
    let run = run_spec(&path, &[]);
    let dump = || format!("{}\n{}", run.output_text(), pretty(run.json()));
    assert_eq!(outcome(&run, "crashy", "after"), "skipped", "{}", dump());
    assert!(run.stdout().contains("SKIP   crashy › after"), "{}", dump());
    assert!(run.junit().contains("<skipped"), "{}", run.junit());
    assert_eq!(run.code(), 1, "{}", dump());
}

#[test]
fn never_ready() {
    require_node!();
    let run = run_spec(&spec("never-ready"), &[]);
    let dump =
        || format!("{}\n{}", run.output_text(), run.json.as_ref().map_or_else(String::new, pretty));
    assert_eq!(run.code(), 2, "{}", dump());
    // `ready_timeout = "3s"` is honoured: not the default 30 s.
    assert!(run.elapsed < Duration::from_secs(20), "took {:?}", run.elapsed);
    let target = common::target_of(run.json(), "never-ready");
    let error = target["error"].as_str().unwrap_or_else(|| panic!("no target error\n{}", dump()));
    // What was polled, for how long, and what it answered.
    for words in ["not ready after 3s", "GET http://127.0.0.1:", "/health", "503"] {
        assert!(error.contains(words), "{words:?} not in the error {error:?}");
    }
    let tail = target["stderr_tail"].as_str().unwrap_or_default();
    assert!(tail.contains("database not reachable yet"), "stderr tail {tail:?}");
    assert_eq!(run.route("never-ready", "items")["outcome"], "skipped");
    let stdout = run.stdout();
    assert!(
        stdout.contains("ERROR  never-ready: ") && stdout.contains("not ready after 3s"),
        "{}",
        dump()
    );
    assert!(stdout.contains("database not reachable yet"), "{}", dump());
    // The JUnit file is written all the same.
    assert!(run.junit().contains("<testsuite"), "{}", run.junit());
}

#[test]
fn never_ready_is_an_error_in_junit() {
    require_node!();
    let run = run_spec(&spec("never-ready"), &[]);
    let junit = run.junit();
    assert!(junit.contains("<error"), "no <error> element:\n{junit}");
    assert!(junit.contains("not ready after 3s"), "the error is not in JUnit:\n{junit}");
    assert!(!junit.contains("errors=\"0\""), "{junit}");
}

/// A spec that does not parse: exit 2, `file:line:column` and the line shown, nothing run.
#[test]
fn spec_with_a_syntax_error() {
    let (_dir, path) = write_spec(
        "broken.toml",
        "[defaults]\nwarmup = 50\nrequests = \n\n[[target]]\nname = \"api\"\n",
    );
    let run = run_spec(&path, &[]);
    let stderr = run.stderr();
    assert_eq!(run.code(), 2, "{}", run.output_text());
    let location = format!("{}:3:12", path.display());
    assert!(stderr.contains(&location), "no {location:?} in:\n{stderr}");
    assert!(stderr.contains("requests = "), "the line is shown:\n{stderr}");
    assert!(run.json.is_none(), "no report for a spec that was never run");
}

/// An unknown key: exit 2, `file:line:column` and a "did you mean".
#[test]
fn spec_with_an_unknown_key() {
    let (_dir, path) = write_spec(
        "typo.toml",
        "[defaults]\nwarmup = 50\n\n[[target]]\nname = \"api\"\ncommand = [\"node\", \"server.js\"]\n\
         reddy = \"/health\"\n\n[[target.route]]\nname = \"home\"\npath = \"/\"\n",
    );
    let run = run_spec(&path, &[]);
    let stderr = run.stderr();
    assert_eq!(run.code(), 2, "{}", run.output_text());
    let location = format!("{}:7:1", path.display());
    assert!(stderr.contains(&location), "no {location:?} in:\n{stderr}");
    assert!(stderr.contains("unknown key `reddy`"), "{stderr}");
    assert!(stderr.contains("did you mean `ready`?"), "{stderr}");
}

/// A `leakcheck run` driven by the test: stderr lines arrive on a channel as they are written.
struct Driven {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stdout: std::thread::JoinHandle<String>,
    dir: tempfile::TempDir,
    tag: String,
}

impl Driven {
    fn start(spec: &Path) -> Driven {
        let dir = tempfile::Builder::new().prefix("leakcheck-run-").tempdir().unwrap();
        let tag = common::unique_tag("signal");
        let mut child = common::run_command(spec, dir.path(), &tag)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("leakcheck starts");
        let (lines, stdout) = common::capture_output(&mut child);
        Driven { child, lines, seen: Vec::new(), stdout, dir, tag }
    }

    /// Waits (at most 60 s) for a stderr line containing `words`.
    fn wait_for_line(&mut self, words: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(words);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        panic!("no stderr line with {words:?}; stderr so far:\n{}", self.seen.join("\n"));
    }

    /// Sends `signal` to leakcheck (not to its targets) and waits at most `limit` for it to
    /// exit; returns its exit code, the time it took, and its stdout.
    fn signal(mut self, signal: Signal, limit: Duration) -> (i32, Duration, String, Ended) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
        let sent = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if sent.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                common::assert_nothing_left(&self.tag, "after leakcheck was killed");
                panic!("leakcheck still running {limit:?} after {signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = sent.elapsed();
        let stdout = self.stdout.join().unwrap();
        self.seen.extend(self.lines.try_iter());
        let code = status.code().unwrap_or_else(|| panic!("killed by a signal: {status}"));
        (code, took, stdout, Ended { dir: self.dir, tag: self.tag, stderr: self.seen.join("\n") })
    }
}

/// What is left of a driven run once it exited.
struct Ended {
    dir: tempfile::TempDir,
    tag: String,
    stderr: String,
}

/// Checks what an interrupted run left: the partial reports and no process.
fn check_interrupted(code: i32, expected: i32, stdout: &str, ended: &Ended, signal: &str) -> Value {
    let context = format!("--- stdout\n{stdout}--- stderr\n{}", ended.stderr);
    common::assert_nothing_left(&ended.tag, &format!("after {signal}"));
    assert_eq!(code, expected, "exit status after {signal}\n{context}");
    let (json, junit) = common::read_reports(ended.dir.path());
    let json = json.unwrap_or_else(|| panic!("no JSON report after {signal}\n{context}"));
    let junit = junit.unwrap_or_else(|| panic!("no JUnit report after {signal}\n{context}"));
    let why = json["interrupted"].as_str().unwrap_or_default();
    assert!(why.contains(signal), "interrupted: {why:?}\n{}", pretty(&json));
    assert!(junit.contains("<testsuite"), "{junit}");
    assert!(stdout.contains("Interrupted:"), "{context}");
    json
}

/// SIGTERM to leakcheck while it runs `shop-api`: `catalogue` measured in full, `search` in
/// the middle of its first rung. Returns the JSON report.
fn sigterm_mid_route() -> Value {
    let mut run = Driven::start(&spec("shop-api"));
    run.wait_for_line("shop-api › catalogue: pass");
    run.wait_for_line("shop-api › search: snapshot 0");
    let (code, took, stdout, ended) = run.signal(Signal::SIGTERM, Duration::from_secs(15));
    let json = check_interrupted(code, 143, &stdout, &ended, "SIGTERM");
    assert!(took < Duration::from_secs(10), "took {took:?} to stop after SIGTERM");
    let routes = json["targets"][0]["routes"].as_array().map_or(0, Vec::len);
    assert_eq!(routes, 5, "every route is listed\n{}", pretty(&json));
    json
}

#[test]
fn sigterm_mid_route_writes_the_partial_reports() {
    require_node!();
    let json = sigterm_mid_route();
    let route = |name: &str| common::route_of(&json, "shop-api", name)["outcome"].clone();
    for name in ["login", "stock", "carts"] {
        assert_eq!(route(name), "skipped", "{name}\n{}", pretty(&json));
    }
}

#[test]
fn sigterm_keeps_the_routes_measured_before_it() {
    require_node!();
    let json = sigterm_mid_route();
    let catalogue = common::route_of(&json, "shop-api", "catalogue");
    assert_eq!(catalogue["outcome"], "pass", "{}", pretty(catalogue));
    assert_eq!(catalogue["rungs"].as_array().map(Vec::len), Some(3), "{}", pretty(catalogue));
}

#[test]
fn sigint_after_ready_writes_the_reports() {
    require_node!();
    let mut run = Driven::start(&spec("shop-api"));
    run.wait_for_line("shop-api: ready after");
    // The tag finds the target: the check that nothing is left afterwards can be trusted.
    let up = common::tagged_processes(&run.tag);
    assert!(
        up.iter().any(|(_, cmd)| cmd.contains("shop-api.js")),
        "the target is not among the tagged processes {up:?}"
    );
    let (code, took, stdout, ended) = run.signal(Signal::SIGINT, Duration::from_secs(15));
    let json = check_interrupted(code, 130, &stdout, &ended, "SIGINT");
    assert!(took < Duration::from_secs(10), "took {took:?} to stop after SIGINT");
    assert_eq!(json["targets"][0]["name"], "shop-api", "{}", pretty(&json));
}
