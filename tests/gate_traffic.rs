//! A route whose requests fail never passes (issue 10, hole 1), against the real inventory
//! service (`tests/fixtures/services/inventory.js`): a report whose dependency is down (every
//! request 500), a mistyped path (every request 404) and a sync that never answers (every
//! request times out) each FAIL, with exit status 1, in the terminal, the JUnit file, the JSON
//! report, the GitHub step summary and its `::error` annotation, each with the counts of what
//! the requests got. A route that tolerates its failures (`max_failed_requests`) is judged on
//! its heap. The faults are listed in `tests/README.md`.
//!
//! Skipped (with a message) when `node` is not on the PATH.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A spec for `inventory.js` with these routes.
fn inventory(routes: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new().prefix("leakcheck-traffic-").tempdir().unwrap();
    let path = dir.path().join("leakspec.toml");
    let text = format!(
        r#"
[defaults]
warmup = 20
requests = 100
concurrency = 4
request_timeout = "1s"

[[target]]
name = "inventory"
command = ["node", "inventory.js"]
cwd = "{services}"
env = {{ LOG_LEVEL = "warn", WAREHOUSE_URL = "postgres://warehouse.internal:5432/stock" }}
ready = "/health"
{routes}
"#,
        services = common::services_dir().display()
    );
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// What one run wrote: exit status, terminal, JSON, JUnit, step summary, annotations.
struct Outputs {
    code: i32,
    terminal: String,
    json: Value,
    junit: String,
    summary: String,
    took: Duration,
}

fn run(spec: &std::path::Path) -> Outputs {
    let dir = tempfile::Builder::new().prefix("leakcheck-run-").tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let tag = common::unique_tag("traffic");
    let started = Instant::now();
    let out = common::run_command(spec, dir.path(), &tag)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .expect("leakcheck runs");
    let took = started.elapsed();
    common::assert_nothing_left(&tag, "after the run");
    let (json, junit) = common::read_reports(dir.path());
    Outputs {
        code: out.status.code().unwrap_or(-1),
        terminal: format!("{}{}", common::stdout(&out), common::stderr(&out)),
        json: json.expect("the JSON report is written"),
        junit: junit.expect("the JUnit report is written"),
        summary: std::fs::read_to_string(&summary).expect("the step summary is written"),
        took,
    }
}

/// Checks that `route` FAILED in every output with `counts` (e.g. "× 500") said in each.
fn assert_fails_everywhere(o: &Outputs, route: &str, counts: &str) {
    let all = format!(
        "--- terminal\n{}\n--- junit\n{}\n--- summary\n{}\n--- json\n{:#}",
        o.terminal, o.junit, o.summary, o.json
    );
    assert_eq!(o.code, 1, "a failing route exits 1\n{all}");

    // Terminal: the summary line says FAIL with the counts, not "no linear growth".
    let line = o
        .terminal
        .lines()
        .find(|l| l.contains(&format!("inventory › {route} ")) && !l.contains('('))
        .unwrap_or_else(|| panic!("no summary line for {route}\n{all}"));
    assert!(line.contains("FAIL"), "{line}\n{all}");
    assert!(line.contains(" failed: ") && line.contains(counts), "{line}\n{all}");
    assert!(!line.contains("no linear growth"), "{line}\n{all}");
    assert!(o.terminal.contains("none tolerated (`max_failed_requests`)"), "{all}");

    // JSON: outcome fail, a failed_requests failure with the counts, `load` counting them.
    let r = common::route_of(&o.json, "inventory", route);
    assert_eq!(r["outcome"], "fail", "{all}");
    let failure = r["verdict"]["failures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "failed_requests")
        .unwrap_or_else(|| panic!("no failed_requests failure\n{all}"))
        .clone();
    let sent = r["load"]["sent"].as_u64().unwrap();
    assert!(sent > 0, "{all}");
    assert_eq!(failure["failed"], sent, "every request failed\n{all}");
    assert_eq!(failure["sent"], sent, "{all}");
    assert_eq!(failure["allowed"], 0, "{all}");
    assert_eq!(r["load"]["ok"], 0, "{all}");

    // JUnit: a <failure> on the route's testcase, its message with the counts.
    let case = o
        .junit
        .split("<testcase ")
        .find(|c| c.starts_with(&format!("name=\"{route}\"")))
        .unwrap_or_else(|| panic!("no testcase {route}\n{all}"));
    let case = case.split("</testcase>").next().unwrap();
    assert!(case.contains("<failure"), "{case}\n{all}");
    assert!(case.contains(" failed: ") && case.contains(counts), "{case}\n{all}");

    // Step summary: the route's row says FAIL and the counts stand where the growth would.
    let row = o
        .summary
        .lines()
        .find(|l| l.starts_with("| inventory | ") && l.contains(&format!("| {route} |")))
        .unwrap_or_else(|| panic!("no summary row for {route}\n{all}"));
    assert!(row.contains("FAIL"), "{row}\n{all}");
    assert!(row.contains(" failed: ") && row.contains(counts), "{row}\n{all}");
    assert!(!row.contains("| none |"), "{row}\n{all}");
    assert!(o.summary.starts_with("## ❌"), "{all}");

    // The `::error` annotation in the log names the failure too.
    assert!(
        o.terminal.lines().any(|l| l.starts_with("::error") && l.contains(counts)),
        "no ::error annotation with the counts\n{all}"
    );
}

#[test]
fn a_route_answered_500_every_time_fails() {
    if !common::node_available() {
        eprintln!("skipped: node is not on the PATH");
        return;
    }
    let (_dir, spec) = inventory(
        r#"
[[target.route]]
name = "daily-report"
path = "/api/reports/daily"
"#,
    );
    let o = run(&spec);
    assert_fails_everywhere(&o, "daily-report", "× 500");
    let r = common::route_of(&o.json, "inventory", "daily-report");
    let sent = r["load"]["sent"].as_u64().unwrap();
    assert_eq!(r["load"]["statuses"]["500"], sent, "{:#}", o.json);
    // It stopped at the first failures instead of running its rungs: nothing to measure.
    assert!(sent < 20 + 100, "stopped early: {sent} sent");
    assert!(o.terminal.contains("status 500"), "{}", o.terminal);
}

#[test]
fn a_mistyped_path_answered_404_fails() {
    if !common::node_available() {
        eprintln!("skipped: node is not on the PATH");
        return;
    }
    // `itmes`: the router answers 404 for a path it does not know.
    let (_dir, spec) = inventory(
        r#"
[[target.route]]
name = "item"
path = "/api/itmes/SKU-000042"
"#,
    );
    let o = run(&spec);
    assert_fails_everywhere(&o, "item", "× 404");
    let r = common::route_of(&o.json, "inventory", "item");
    assert_eq!(r["load"]["statuses"]["404"], r["load"]["sent"], "{:#}", o.json);
}

#[test]
fn a_service_that_never_answers_fails_on_its_timeouts() {
    if !common::node_available() {
        eprintln!("skipped: node is not on the PATH");
        return;
    }
    let (_dir, spec) = inventory(
        r#"
[[target.route]]
name = "stock-sync"
path = "/api/stock/sync"

[[target.route]]
name = "item-then-sync"

[[target.route.step]]
name = "item"
path = "/api/items/SKU-000042"

[[target.route.step]]
name = "sync"
path = "/api/stock/sync"
"#,
    );
    let o = run(&spec);
    assert_fails_everywhere(&o, "stock-sync", "timed out");
    assert_fails_everywhere(&o, "item-then-sync", "timed out");
    // In a flow, the step that hangs is the one counted as timing out.
    let flow = common::route_of(&o.json, "inventory", "item-then-sync");
    let steps = &flow["load"]["steps"];
    let sent = flow["load"]["sent"].as_u64().unwrap();
    let counts =
        |step: &Value| (step["name"].clone(), step["ok"].as_u64(), step["timeouts"].as_u64());
    assert_eq!(counts(&steps[0]), ("item".into(), Some(sent), Some(0)), "{steps:#}");
    assert_eq!(counts(&steps[1]), ("sync".into(), Some(0), Some(sent)), "{steps:#}");
    let line = format!("step `sync`: 0 of {sent} succeeded ({sent} timed out)");
    assert!(o.terminal.contains(&line), "no `{line}` in\n{}", o.terminal);
    let r = common::route_of(&o.json, "inventory", "stock-sync");
    let sent = r["load"]["sent"].as_u64().unwrap();
    assert_eq!(r["load"]["timeouts"], sent, "every request timed out\n{:#}", o.json);
    assert_eq!(r["load"]["transport_errors"], sent, "{:#}", o.json);
    let failure = &r["verdict"]["failures"][0];
    assert_eq!(failure["timeouts"], sent, "{failure:#}");
    assert!(
        o.terminal.contains("no response within 1s (`request_timeout`)"),
        "the first error says it timed out\n{}",
        o.terminal
    );
    // The first timeouts stop the route: 4 in flight time out together after 1 s, nothing
    // more is sent (not 120 requests × 1 s / 4 in flight).
    assert_eq!(sent, 4, "{:#}", r["load"]);
    assert!(o.took < Duration::from_secs(60), "took {:?}", o.took);
}

#[test]
fn tolerated_failures_leave_the_verdict_to_the_heap() {
    if !common::node_available() {
        eprintln!("skipped: node is not on the PATH");
        return;
    }
    // A health probe of a missing item: 404 is what it gets, and the spec says it may fail.
    let (_dir, spec) = inventory(
        r#"
[[target.route]]
name = "missing-item"
path = "/api/items/SKU-999999"

[target.route.budget]
max_failed_requests = "100%"
"#,
    );
    let o = run(&spec);
    let r = common::route_of(&o.json, "inventory", "missing-item");
    assert_eq!(r["outcome"], "pass", "{}\n{:#}", o.terminal, o.json);
    let sent = r["load"]["sent"].as_u64().unwrap();
    assert_eq!(sent, 20 + 2 * 100, "warm-up and both rungs ran");
    assert_eq!(r["load"]["statuses"]["404"], sent);
    assert_eq!(o.code, 0, "{}", o.terminal);
    // The failures are still said.
    let line = o.terminal.lines().find(|l| l.contains("inventory › missing-item")).unwrap();
    assert!(
        line.contains("PASS") && line.contains(&format!("({sent} failed, tolerated)")),
        "{line}"
    );
}
