//! Recorded budgets end to end on a real service (`tests/fixtures/services/billing.js`, whose
//! `invoices` route keeps a small `LedgerLine` per request, and with `RECEIPT_CACHE=unbounded`
//! also a rendered `Receipt`): record; no change passes; the new leak fails with a diff of
//! recorded against measured in the text, JSON and JUnit reports (read back with quick-junit),
//! with GitHub annotations and step summary; `--bless` accepts it; the next run passes.
//!
//! Skipped (with a message) when `node` is not on the PATH.

mod common;

use std::path::Path;

use common::{SpecRun, assert_nothing_left, read_reports, run_command, run_spec, services_dir};
use leakcheck::record::Lock;
use serde_json::Value;

/// The spec, with the regression switched on or off by the service's environment.
fn spec_text(leak: bool) -> String {
    let env = if leak { r#", RECEIPT_CACHE = "unbounded""# } else { "" };
    format!(
        r#"# billing: one route with a known, recorded leak, and a clean one.
[defaults]
warmup = 30
requests = 300
concurrency = 4

[[target]]
name = "billing"
command = ["node", "billing.js"]
cwd = {cwd:?}
env = {{ LOG_LEVEL = "warn"{env} }}
ready = "/health"

[[target.route]]
name = "invoices"
method = "POST"
path = "/api/invoices"
headers = {{ content-type = "application/json" }}
body = '{{"customer": "Acme GmbH", "currency": "EUR", "lines": [{{"cents": 12900}}, {{"cents": 4500}}]}}'

[[target.route]]
name = "rates"
path = "/api/rates?base=USD"
"#,
        cwd = services_dir().display().to_string()
    )
}

fn lock(dir: &Path) -> Lock {
    let path = dir.join("leakspec.lock");
    let text = std::fs::read_to_string(&path).expect("the lock was written");
    Lock::parse(&text, &path).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn status<'a>(run: &'a SpecRun, route: &str) -> &'a Value {
    &run.route("billing", route)["verdict"]["lock"]["status"]
}

#[test]
fn record_compare_regress_bless() {
    require_node!();
    let dir = tempfile::Builder::new().prefix("leakcheck-record-").tempdir().unwrap();
    let spec = dir.path().join("leakspec.toml");
    std::fs::write(&spec, spec_text(false)).unwrap();

    // 1. Record the leaking route only: the lock holds its figures, and the run passes.
    let run = run_spec(&spec, &["--record", "--route", "invoices"]);
    assert_eq!(run.code(), 0, "{}", run.output_text());
    assert_eq!(status(&run, "invoices"), "recorded");
    let recorded = lock(dir.path());
    assert_eq!(recorded.len(), 1);
    let invoices = recorded.get("billing", "invoices").expect("invoices recorded");
    let ledger = invoices.classes.get("LedgerLine").copied();
    assert!(ledger.is_some_and(|r| (40.0..60.0).contains(&r)), "{invoices:?}");
    assert!(!invoices.classes.contains_key("Receipt"), "{invoices:?}");
    assert_eq!(invoices.requests, 600);

    // 2. No change: the recorded leak passes (it fails without the lock), the new route is
    //    reported as not recorded, and the lock is left alone.
    let before = std::fs::read_to_string(dir.path().join("leakspec.lock")).unwrap();
    let run = run_spec(&spec, &[]);
    assert_eq!(run.code(), 0, "{}", run.output_text());
    assert_eq!(run.route("billing", "invoices")["outcome"], "pass");
    assert_eq!(status(&run, "invoices"), "within", "{}", run.output_text());
    assert_eq!(status(&run, "rates"), "not_recorded");
    assert!(run.stdout().contains("billing › rates: not recorded"), "{}", run.stdout());
    assert_eq!(std::fs::read_to_string(dir.path().join("leakspec.lock")).unwrap(), before);

    // 3. The regression: receipts kept per request. Run as on GitHub Actions.
    std::fs::write(&spec, spec_text(true)).unwrap();
    let work = tempfile::Builder::new().prefix("leakcheck-run-").tempdir().unwrap();
    let summary = work.path().join("summary.md");
    let tag = common::unique_tag("record");
    let out = run_command(&spec, work.path(), &tag)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", dir.path())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .expect("leakcheck starts");
    assert_nothing_left(&tag, "leakcheck run (regression)");
    let (json, junit) = read_reports(work.path());
    let (json, junit) = (json.expect("JSON report"), junit.expect("JUnit report"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let text = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{text}");
    let route = common::route_of(&json, "billing", "invoices");
    assert_eq!(route["outcome"], "fail", "{text}");
    let check = &route["verdict"]["lock"];
    assert_eq!(check["status"], "regressed", "{text}");
    let figures = check["figures"].as_array().unwrap();
    let figure = |name: &str| figures.iter().find(|f| f["name"] == name).cloned();
    let receipt = figure("class Receipt").expect("a row for the new class");
    assert_eq!(
        (receipt["recorded"].clone(), receipt["change"].clone()),
        (Value::Null, "regressed".into())
    );
    assert_eq!(figure("growth per request").unwrap()["change"], "regressed", "{text}");
    assert_eq!(figure("class LedgerLine").unwrap()["change"], "same", "{text}");
    let failures = route["verdict"]["failures"].as_array().unwrap();
    assert!(failures.iter().any(|f| f["kind"] == "regression"), "{failures:?}");
    // The text report: the diff, recorded against measured.
    assert!(stdout.contains("REGRESSION against leakspec.lock (tolerance 25% + 32B)"), "{stdout}");
    let receipt_row = stdout.lines().find(|l| l.trim_start().starts_with("class Receipt"));
    assert!(receipt_row.is_some_and(|l| l.contains("—") && l.ends_with("regressed")), "{stdout}");
    // GitHub: an error at the route's line, a warning for the route not recorded, the summary.
    let line = spec_text(true).lines().position(|l| l == "[[target.route]]").unwrap() + 1;
    let error = format!(
        "::error file=leakspec.toml,line={line},col=1,title=leakcheck%3A billing › invoices fails::"
    );
    assert!(stdout.contains(&error), "no `{error}` in\n{stdout}");
    assert!(stdout.contains("title=leakcheck%3A billing › rates not recorded::"), "{stdout}");
    let md = std::fs::read_to_string(&summary).expect("the step summary was written");
    assert!(md.contains("| billing | invoices | ❌ **FAIL** |"), "{md}");
    assert!(md.contains("| billing | rates | ✅ pass |"), "{md}");
    assert!(md.contains("<details><summary>Explanation and retainer paths</summary>"), "{md}");
    assert!(md.contains("held by `receipts`"), "{md}");
    // JUnit, read by an independent reader.
    let report = quick_junit::Report::deserialize_from_str(&junit).expect("quick-junit reads it");
    let suite = &report.test_suites[0];
    assert_eq!(
        (suite.name.as_str(), suite.tests, suite.failures, suite.errors),
        ("billing", 2, 1, 0)
    );
    let case = suite.test_cases.iter().find(|c| c.name.as_str() == "invoices").unwrap();
    let quick_junit::TestCaseStatus::NonSuccess { message, description, .. } = &case.status else {
        panic!("invoices is not a failure in the JUnit report: {:?}", case.status);
    };
    let message = message.as_ref().map(|m| m.as_str()).unwrap_or_default();
    assert!(message.contains("regression against the recorded figures"), "{message}");
    assert!(message.contains("class Receipt new at"), "{message}");
    let description = description.as_ref().map(|d| d.as_str()).unwrap_or_default();
    assert!(description.contains("REGRESSION against leakspec.lock"), "{description}");

    // 4. Bless: the new figures replace the record, the unrecorded route is recorded, and the
    //    run passes.
    let run = run_spec(&spec, &["--bless"]);
    assert_eq!(run.code(), 0, "{}", run.output_text());
    assert_eq!(status(&run, "invoices"), "blessed");
    let blessed = lock(dir.path());
    assert_eq!(blessed.len(), 2);
    assert!(blessed.get("billing", "invoices").unwrap().classes.contains_key("Receipt"));
    assert!(blessed.get("billing", "rates").is_some());

    // 5. The same build again: within the new record.
    let run = run_spec(&spec, &[]);
    assert_eq!(run.code(), 0, "{}", run.output_text());
    assert_eq!(status(&run, "invoices"), "within", "{}", run.output_text());
    assert_eq!(status(&run, "rates"), "within", "{}", run.output_text());

    // 6. A quick rerun with a tenth of the requests: the heap's fixed growth (warm-up residue,
    //    code) is expected as recorded, not scaled down to a tenth, with the same slack.
    let run = run_spec(&spec, &["--route", "rates", "--requests", "30"]);
    assert_eq!(run.code(), 0, "{}", run.output_text());
    let figures = run.route("billing", "rates")["verdict"]["lock"]["figures"].clone();
    let heap = figures.as_array().unwrap().iter().find(|f| f["name"] == "heap growth").cloned();
    assert_ne!(heap.as_ref().unwrap()["change"], "regressed", "{}", run.output_text());
    assert_eq!(status(&run, "rates"), "within", "{}", run.output_text());
}

#[test]
fn a_broken_lock_is_an_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("leakspec.toml");
    std::fs::write(&spec, spec_text(false)).unwrap();
    std::fs::write(dir.path().join("leakspec.lock"), "version = 1\n\n[[route]]\ntarget = 3\n")
        .unwrap();
    // Nothing is started: the lock is read before any target.
    let out = common::run(["run", "--spec", spec.to_str().unwrap()]);
    assert_eq!(common::code(&out), 2, "{}", common::stderr(&out));
    let stderr = common::stderr(&out);
    assert!(stderr.contains("error: could not use the recorded figures"), "{stderr}");
    assert!(
        stderr.contains("leakspec.lock:4:10: invalid type: integer `3`, expected a string"),
        "{stderr}"
    );
}
