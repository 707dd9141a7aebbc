//! Secret values leakcheck sends never reach a report (issue 10, hole 3), against the real
//! inventory service (`tests/fixtures/services/inventory.js`) with `DEBUG_DUMP_HEADERS=1`: it
//! logs each order's request headers (authorization, cookie, x-api-key, x-auth-token, the
//! query string's token) and then crashes. The terminal, JUnit, JSON (`stderr_tail`, errors),
//! the GitHub step summary and the `::error` annotation all hold the log line, with every
//! secret value replaced by `<redacted>`. The faults are listed in `tests/README.md`.
//!
//! Skipped (with a message) when `node` is not on the PATH.

mod common;

const SECRETS: &[&str] = &[
    "sk-live-51HxQ7bE2eZvKYlo2C",
    "s3ss10n-9f8e7d6c5b4a",
    "pk-inv-7f3a9c2e11",
    "tok-ab12cd34ef56",
    "qs-token-0c0ffee0",
    // Upper and lower case: the spec writes `Authorization`, node logs it lower-cased.
    "SK-LIVE-51HXQ7BE2EZVKYLO2C",
];

#[test]
fn secrets_sent_never_reach_a_report_through_the_services_stderr() {
    if !common::node_available() {
        eprintln!("skipped: node is not on the PATH");
        return;
    }
    let dir = tempfile::Builder::new().prefix("leakcheck-secrets-").tempdir().unwrap();
    let spec = dir.path().join("leakspec.toml");
    std::fs::write(
        &spec,
        format!(
            r#"
[defaults]
warmup = 5
requests = 50
concurrency = 1

[[target]]
name = "inventory"
command = ["node", "inventory.js"]
cwd = "{services}"
env = {{ LOG_LEVEL = "warn", DEBUG_DUMP_HEADERS = "1", WAREHOUSE_TOKEN = "wh-env-secret-77" }}
ready = "/health"

[[target.route]]
name = "order"
method = "POST"
path = "/api/orders?access_token=qs-token-0c0ffee0&source=checkout"
headers = {{ content-type = "application/json", Authorization = "Bearer sk-live-51HxQ7bE2eZvKYlo2C", cookie = "sid=s3ss10n-9f8e7d6c5b4a; theme=dark", x-api-key = "pk-inv-7f3a9c2e11", x-auth-token = "tok-ab12cd34ef56" }}
body = '{{"sku": "CRASH", "qty": 1}}'
"#,
            services = common::services_dir().display()
        ),
    )
    .unwrap();
    let out_dir = tempfile::Builder::new().prefix("leakcheck-run-").tempdir().unwrap();
    let summary = out_dir.path().join("summary.md");
    let tag = common::unique_tag("secrets");
    let out = common::run_command(&spec, out_dir.path(), &tag)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .expect("leakcheck runs");
    common::assert_nothing_left(&tag, "after the run");
    let terminal = format!("{}{}", common::stdout(&out), common::stderr(&out));
    let json = std::fs::read_to_string(out_dir.path().join("report.json")).expect("JSON written");
    let junit = std::fs::read_to_string(out_dir.path().join("report.xml")).expect("JUnit written");
    let summary = std::fs::read_to_string(&summary).expect("step summary written");
    let all = format!(
        "--- terminal\n{terminal}\n--- junit\n{junit}\n--- summary\n{summary}\n--- json\n{json}"
    );

    // The crash is reported with the service's log line: the test sees what a leak would be.
    assert_eq!(common::code(&out), 1, "a crash under load fails the route\n{all}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let tail = report["targets"][0]["stderr_tail"].as_str().unwrap_or_default();
    assert!(tail.contains("order request"), "the header dump is in the tail\n{all}");
    assert!(tail.contains("\"authorization\":\"<redacted>\""), "{all}");
    assert!(tail.contains("\"x-api-key\":\"<redacted>\""), "{all}");
    assert!(tail.contains("order pipeline corrupted"), "the crash is kept\n{all}");
    for (name, text) in
        [("terminal", &terminal), ("JUnit", &junit), ("step summary", &summary), ("JSON", &json)]
    {
        for secret in SECRETS.iter().chain(&["wh-env-secret-77"]) {
            assert!(!text.contains(secret), "{secret} in the {name}\n{all}");
        }
        assert!(text.contains("<redacted>"), "the {name} shows where a secret was\n{all}");
    }
    assert!(
        terminal.lines().any(|l| l.starts_with("::error") && l.contains("<redacted>")),
        "the annotation carries the scrubbed tail\n{all}"
    );
}
