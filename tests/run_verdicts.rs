//! `leakcheck run` end to end on the fixture services (`tests/fixtures/services/README.md`):
//! each spec runs through the real binary against real Node servers, and every route's verdict,
//! the class that grows and the named culprit must match the README's table. Also: a leaking
//! and a clean route in one process, header secrets kept out of every output, failing routes'
//! snapshots kept, nothing left running, and the README's one command.
//!
//! Skipped (with a message) when `node` is not on the PATH.

mod common;

use std::path::Path;

use common::{SpecRun, route_of, run_spec, spec};
use serde_json::Value;

/// Who must be blamed for a leak.
enum Culprit {
    /// A holder of the leaking class has this `culprit` (a variable or property name).
    Var(&'static str),
    /// One of these variables.
    AnyOf(&'static [&'static str]),
    /// A holder's `hint` contains these words (Node's own structures: timers, listeners).
    Hint(&'static str),
}

/// The verdict the README expects for one route.
enum Expect {
    Pass,
    /// Fails, with this class key among the leaks, held by this culprit.
    Fail(&'static str, Culprit),
}

use Culprit::{AnyOf, Hint, Var};
use Expect::{Fail, Pass};

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

/// Checks one route of `run` against `expect`; failures print the route's JSON.
fn check_route(run: &SpecRun, target: &str, name: &str, expect: &Expect) {
    let route = run.route(target, name);
    let dump = || format!("{target} › {name}:\n{}", pretty(route));
    match expect {
        Pass => {
            assert_eq!(route["outcome"], "pass", "expected pass; {}", dump());
            assert_eq!(route["verdict"]["pass"], true, "{}", dump());
            assert_eq!(route["verdict"]["leaks"].as_array().map(Vec::len), Some(0), "{}", dump());
        }
        Fail(class, culprit) => {
            assert_eq!(route["outcome"], "fail", "expected FAIL; {}", dump());
            assert_eq!(route["verdict"]["pass"], false, "{}", dump());
            let leaks = route["verdict"]["leaks"].as_array().expect("leaks is an array");
            let keys: Vec<&str> = leaks.iter().filter_map(|l| l["class"].as_str()).collect();
            let leak = leaks.iter().find(|l| l["class"] == *class).unwrap_or_else(|| {
                panic!("`{class}` is not among the leaking classes {keys:?}; {}", dump())
            });
            let holders = leak["holders"].as_array().expect("holders is an array");
            let named = |var: &str| holders.iter().any(|h| h["culprit"] == var);
            let blamed = match culprit {
                Var(var) => named(var),
                AnyOf(vars) => vars.iter().any(|v| named(v)),
                Hint(words) => holders
                    .iter()
                    .any(|h| h["hint"].as_str().is_some_and(|hint| hint.contains(words))),
            };
            let who: Vec<(&Value, &Value)> =
                holders.iter().map(|h| (&h["culprit"], &h["hint"])).collect();
            assert!(blamed, "`{class}` is held by {who:?}, not the expected culprit; {}", dump());
            check_kept(run.dir.path(), route, &dump());
        }
    }
}

/// A failing route's snapshots are always kept (here: under the run's working directory), one
/// per rung, where the report says.
fn check_kept(cwd: &Path, route: &Value, dump: &str) {
    let rungs = route["rungs"].as_array().expect("rungs is an array");
    assert!(rungs.len() >= 3, "at least three snapshots; {dump}");
    for rung in rungs {
        let kept = rung["kept"].as_str().unwrap_or_else(|| panic!("a snapshot not kept; {dump}"));
        let path = cwd.join(kept);
        assert!(path.is_file(), "{} does not exist; {dump}", path.display());
    }
}

/// Runs `spec_name` with `args` and checks the exit status and every route listed.
fn check_spec(spec_name: &str, args: &[&str], target: &str, routes: &[(&str, Expect)]) -> SpecRun {
    let run = run_spec(&spec(spec_name), args);
    let json = run.json();
    assert_eq!(json["format"], "leakcheck-run/2");
    assert!(json["interrupted"].is_null(), "{}", run.output_text());
    for (name, expect) in routes {
        check_route(&run, target, name, expect);
    }
    let in_report = json["targets"][0]["routes"].as_array().map_or(0, Vec::len);
    assert_eq!(in_report, routes.len(), "every route of the spec is in the report");
    let expected_code = if routes.iter().any(|(_, e)| matches!(e, Fail(..))) { 1 } else { 0 };
    assert_eq!(run.code(), expected_code, "exit status\n{}", run.output_text());
    // One line per route in the terminal report.
    for (name, expect) in routes {
        let tag = if matches!(expect, Pass) { "PASS " } else { "FAIL " };
        let line = format!("{tag}  {target} › {name} ");
        assert!(run.stdout().contains(&line), "no line {line:?}\n{}", run.output_text());
    }
    run
}

/// A leaking and a clean route in the same process: the leak is pinned on the route that
/// causes it, and the clean route is not blamed for it.
fn check_route_specific(run: &SpecRun, target: &str, leaking: &str, clean: &str) {
    let json = run.json();
    let (bad, good) = (route_of(json, target, leaking), route_of(json, target, clean));
    assert_eq!((bad["outcome"].as_str(), good["outcome"].as_str()), (Some("fail"), Some("pass")));
    let snapshots = |r: &Value| r["rungs"].as_array().map_or(0, Vec::len);
    assert!(snapshots(bad) >= 3 && snapshots(good) >= 3, "both measured in full");
    assert_eq!(good["verdict"]["leaks"].as_array().map(Vec::len), Some(0));
}

#[test]
fn shop_api() {
    require_node!();
    let run = check_spec(
        "shop-api",
        &[],
        "shop-api",
        &[
            ("catalogue", Pass),
            ("search", Pass),
            ("login", Pass),
            ("stock", Fail("AuditEntry", Var("auditTrail"))),
            ("carts", Fail("{tenant, lines, currency}", Var("openCarts"))),
        ],
    );
    // The route-specific leak: `stock` leaks, `catalogue` (before it) and `login` do not.
    check_route_specific(&run, "shop-api", "stock", "catalogue");
    check_route_specific(&run, "shop-api", "carts", "login");
}

/// The secrets of `ai-gateway.toml`: its `authorization` header (and the token in it), and the
/// `x-api-key` of `embeddings`.
const SECRETS: [&str; 3] =
    ["Bearer test-admin-token", "test-admin-token", "sk-test-embeddings-0001"];

#[test]
fn ai_gateway() {
    require_node!();
    let run = check_spec(
        "ai-gateway",
        &[],
        "ai-gateway",
        &[
            ("chat", Fail("{id, prompt}", Var("promptLog"))),
            ("chat-stream", Pass),
            ("embeddings", Fail("(closure)", Var("retryQueue"))),
            ("access-log", Fail("(string)", Var("adminAccessLog"))),
        ],
    );
    check_route_specific(&run, "ai-gateway", "chat", "chat-stream");

    // Header values such as `authorization` never appear in any output.
    let outputs = [
        ("stdout", run.stdout()),
        ("stderr", run.stderr()),
        ("JSON", run.json().to_string()),
        ("JUnit", run.junit().to_owned()),
    ];
    for (what, text) in &outputs {
        for secret in SECRETS {
            assert!(!text.contains(secret), "{what} contains the secret {secret:?}:\n{text}");
        }
    }
    // ... and the JSON says they were sent, redacted.
    let headers = |route: &str| run.route("ai-gateway", route)["headers"].clone();
    let header = |route: &str, name: &str| {
        let headers = headers(route);
        let found = headers.as_array().unwrap().iter().find(|h| h[0] == name).cloned();
        found.unwrap_or_else(|| panic!("{route}: no {name} header in {headers}"))[1].clone()
    };
    assert_eq!(header("access-log", "authorization"), "<redacted>");
    assert_eq!(header("embeddings", "x-api-key"), "<redacted>");
    // Headers that are not secrets are shown as sent.
    assert_eq!(header("chat", "content-type"), "application/json");
}

#[test]
fn events_hub() {
    require_node!();
    // `publish` keeps its 2,000 requests: one object every tenth request needs them.
    check_spec(
        "events-hub",
        &[],
        "events-hub",
        &[
            ("publish", Fail("{topic, subscriber, error, messageId}", Var("failedDeliveries"))),
            ("wait", Fail("(closure)", Hint("listeners"))),
            ("presence", Fail("Timeout", Hint("timers"))),
            ("topic-info", Pass),
            ("replay", Pass),
        ],
    );
}

#[test]
fn npm_app() {
    require_node!();
    // npm -> sh -> node: the inspector must be the one of the process serving the port, or the
    // webhook leak is invisible. `run_spec` checks that npm, sh and node are all gone after.
    let run = check_spec(
        "npm-app",
        &[],
        "npm-app",
        &[("quote", Pass), ("webhook", Fail("WebhookDelivery", Var("deliveryLog")))],
    );
    check_route_specific(&run, "npm-app", "webhook", "quote");
}

/// The README's one command: `leakcheck run --spec leakspec.toml.example` (from a scratch
/// folder, so that the failing route's snapshots land there and not in the repository).
#[test]
fn readme_command_on_the_example() {
    require_node!();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("leakspec.toml.example");
    let run = run_spec(&example, &[]);
    check_route(
        &run,
        "ai-proxy",
        "chat",
        &Fail("BufferedResponse", AnyOf(&["bufferedResponses", "requestLogs"])),
    );
    check_route(&run, "ai-proxy", "chat-fixed", &Pass);
    assert_eq!(run.code(), 1, "{}", run.output_text());
    assert!(run.stdout().contains("1 passed, 1 failed"), "{}", run.output_text());
}
