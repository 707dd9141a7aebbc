//! `leakcheck run` end to end on realistic traffic (issue 11): fixture services whose leaks
//! show only under traffic that varies the way production traffic does (a value per request,
//! login → use → logout, clients that abort, WebSocket and SSE connection cycles, the user's
//! own load command). Each leaky route must FAIL with its holder named, each fixed twin must
//! PASS, and the leaky service driven the old way (one fixed request, sent over and over)
//! must PASS: that false PASS is why these kinds of traffic exist.
//!
//! Skipped (with a message) when `node` is not on the PATH.

mod common;

use common::{SpecRun, run_spec, spec};
use serde_json::Value;

/// The verdict expected for one route.
enum Expect {
    Pass,
    /// Fails, with this class key among the leaks, held by this variable.
    Fail(&'static str, &'static str),
}

use Expect::{Fail, Pass};

/// Runs `traffic.toml` for `routes` of `target` only, and checks each.
fn check(target: &str, routes: &[(&str, Expect)]) -> SpecRun {
    let mut args: Vec<String> = vec!["--target".into(), target.into()];
    for (name, _) in routes {
        args.push("--route".into());
        args.push(format!("{target}/{name}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_spec(&spec("traffic"), &args);
    for (name, expect) in routes {
        let route = run.route(target, name);
        let dump =
            || format!("{target} › {name}:\n{}", serde_json::to_string_pretty(route).unwrap());
        // Every iteration did what the spec says: the verdict is about memory alone.
        assert_eq!(route["load"]["ok"], route["load"]["sent"], "{}", dump());
        match expect {
            Pass => assert_eq!(route["outcome"], "pass", "expected PASS; {}", dump()),
            Fail(class, holder) => {
                assert_eq!(route["outcome"], "fail", "expected FAIL; {}", dump());
                let leaks = route["verdict"]["leaks"].as_array().expect("leaks");
                let leak = leaks.iter().find(|l| l["class"] == *class).unwrap_or_else(|| {
                    let keys: Vec<&Value> = leaks.iter().map(|l| &l["class"]).collect();
                    panic!("`{class}` is not among the leaking classes {keys:?}; {}", dump())
                });
                let held = leak["holders"]
                    .as_array()
                    .is_some_and(|h| h.iter().any(|h| h["culprit"] == *holder));
                assert!(held, "`{class}` is not held by `{holder}`; {}", dump());
            }
        }
    }
    let expected = if routes.iter().any(|(_, e)| matches!(e, Fail(..))) { 1 } else { 0 };
    assert_eq!(run.code(), expected, "{}", run.output_text());
    run
}

/// A cache keyed by the user id grows by one profile per distinct user. `{seq}` in the path
/// asks for a new user each time: FAIL. The same cache with one fixed id holds one profile,
/// made during the warm-up: PASS, though the route leaks in production. The LRU twin stays
/// at 64 profiles. A load command that varies the id finds the same leak: a node script, as a
/// user's own k6 script would be, and autocannon through npx with an id per request (`-I`).
#[test]
fn a_cache_keyed_by_a_request_value_leaks_only_when_the_value_varies() {
    require_node!();
    let run = check(
        "accounts",
        &[
            ("profile", Fail("Profile", "profileCache")),
            ("profile-v2", Pass),
            ("profile-fixed", Pass),
            ("profile-command", Fail("Profile", "profileCache")),
            ("profile-autocannon", Fail("Profile", "profileCache")),
        ],
    );
    let command = &run.route("accounts", "profile-command")["load"]["command"];
    assert_eq!(command["exit"], "exited with status 0", "{command}");
    assert!(command["output_tail"].as_str().unwrap_or("").contains("load-profiles: "), "{command}");
    assert_eq!(command["argv"][0], "node");
    assert!(
        command["argv"][3].as_str().unwrap_or("").starts_with("http://127.0.0.1:"),
        "{command}"
    );
    let command = &run.route("accounts", "profile-autocannon")["load"]["command"];
    assert_eq!(command["exit"], "exited with status 0", "{command}");
    assert_eq!(command["argv"][6], "300", "{{requests}} is the rung's count: {command}");
}

/// Per-session state that logout should free: every iteration logs in (a user per row of
/// `users.csv`, the token and CSRF token captured), uses the session through the cookie jar,
/// and logs out with both tokens. The activity record outlives the logout: FAIL; the fixed
/// logout: PASS. The old way, one fixed login sent over and over, reuses one session: PASS.
#[test]
fn session_state_leaks_only_with_login_use_logout() {
    require_node!();
    let run = check(
        "accounts",
        &[
            ("session", Fail("SessionActivity", "activity")),
            ("session-v2", Pass),
            ("login-fixed", Pass),
        ],
    );
    let steps =
        run.route("accounts", "session")["load"]["steps"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = steps.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["login", "me", "logout"]);
    for step in &steps {
        assert_eq!(step["ok"], step["sent"], "{step}");
    }
    // A flow is measured per iteration, in its explanation as on its summary line.
    let text = run.stdout();
    let explanation = text.split("FAIL accounts › session ").nth(1).expect("explained");
    let cause = explanation.lines().find(|l| l.contains("CAUSE")).expect("a cause");
    assert!(cause.contains(" per iteration, "), "{cause}");
    assert!(!explanation.split("\n\n").next().unwrap().contains("per request"), "{text}");
}

/// An export tracked until `finish` leaks when the client goes away as it starts (`close`
/// without `finish`): FAIL; untracked on `close`: PASS. Read to the end (the old way), every
/// export finishes: PASS.
#[test]
fn per_request_state_leaks_only_when_clients_abort() {
    require_node!();
    check(
        "accounts",
        &[
            ("export-abort", Fail("ExportJob", "activeExports")),
            ("export-abort-v2", Pass),
            ("export-full", Pass),
        ],
    );
}

/// Per-connection state: a WebSocket cycle per iteration (connect, join, say hello, read two
/// messages, close) leaves each member in the directory: FAIL; the fixed twin: PASS. An SSE
/// cycle (open, read two events, close) leaves each subscriber: FAIL; the fixed twin: PASS.
/// Plain requests to the same service open no connection the client closes: PASS.
#[test]
fn per_connection_state_leaks_per_websocket_and_sse_cycle() {
    require_node!();
    check(
        "live-hub",
        &[
            ("chat", Fail("Member", "directory")),
            ("chat-v2", Pass),
            ("feed", Fail("Subscriber", "subscribers")),
            ("feed-v2", Pass),
            ("rooms", Pass),
        ],
    );
}

/// Traffic that does not do what the spec says measures nothing, so it fails, saying which
/// step did what.
#[test]
fn traffic_that_fails_fails_the_route_naming_the_step() {
    require_node!();
    let run = run_spec(&spec("traffic-errors"), &[]);
    assert_eq!(run.code(), 1, "{}", run.output_text());
    let failure = |name: &str| {
        let route = run.route("accounts", name);
        assert_eq!(route["outcome"], "fail", "{name}: {route}");
        let failures = route["verdict"]["failures"].as_array().expect("failures");
        let failed = failures
            .iter()
            .find(|f| f["kind"] == "failed_requests")
            .unwrap_or_else(|| panic!("{name}: {route}"));
        assert_eq!(failed["failed"], route["load"]["sent"], "{name}: every iteration failed");
        failed["first_error"].as_str().unwrap_or_default().to_owned()
    };
    let capture = failure("capture-miss");
    assert!(
        capture.contains("step `login` (POST /api/login)")
            && capture.contains("capture `token` = \"json:$.session.id\" matched nothing"),
        "{capture}"
    );
    let status = failure("status-mismatch");
    assert!(
        status.contains("step `logout` (POST /api/logout): status 403 (expected 204)"),
        "{status}"
    );
    let command = failure("command-fails");
    assert!(command.contains("the load command exited with status 2"), "{command}");
    let tail = &run.route("accounts", "command-fails")["load"]["command"]["output_tail"];
    assert!(tail.as_str().unwrap_or("").contains("usage: node load-profiles.js"), "{tail}");
    // Each says so in the terminal too.
    let out = run.stdout();
    assert!(out.contains("matched nothing"), "{out}");
}

/// `leakcheck test` on the same specs: every shape is a test named `TARGET::ROUTE`, marked
/// with its kind (`[flow]`, `[websocket]`, `[sse]`, `[load]`; a route of one request has none),
/// so `--list` says what each is and a filter picks a kind as it picks a name. Only the routes
/// left after filtering run, and a failing flow's message names the step.
#[test]
fn leakcheck_test_lists_and_filters_every_shape_by_kind() {
    let tag = common::unique_tag("traffic-test");
    let test = |spec_name: &str, args: &[&str]| {
        let dir = tempfile::Builder::new().prefix("leakcheck-traffic-test-").tempdir().unwrap();
        let out = common::leakcheck()
            .current_dir(dir.path())
            .env(common::TAG_VAR, &tag)
            .env("CI", "1")
            .arg("test")
            .arg("--spec")
            .arg(spec(spec_name))
            .args(args)
            .output()
            .expect("leakcheck starts");
        common::assert_nothing_left(&tag, &format!("leakcheck test {spec_name} {args:?}"));
        let text = format!(
            "status {:?}\n--- stdout\n{}--- stderr\n{}",
            out.status.code(),
            common::stdout(&out),
            common::stderr(&out)
        );
        (out, text)
    };

    // `--list` starts nothing, so it needs no node.
    let (list, text) = test("traffic", &["--list"]);
    assert_eq!(common::code(&list), 0, "{text}");
    let listed: Vec<String> = common::stdout(&list)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        listed,
        [
            "accounts::profile",
            "accounts::profile-v2",
            "accounts::profile-fixed",
            "[flow] accounts::session",
            "[flow] accounts::session-v2",
            "accounts::login-fixed",
            "accounts::export-abort",
            "accounts::export-abort-v2",
            "accounts::export-full",
            "[load] accounts::profile-command",
            "[load] accounts::profile-autocannon",
            "[websocket] live-hub::chat",
            "[websocket] live-hub::chat-v2",
            "[sse] live-hub::feed",
            "[sse] live-hub::feed-v2",
            "live-hub::rooms",
        ],
        "{text}"
    );
    let (list, text) = test("traffic", &["--list", "sse"]);
    let listed: Vec<&str> = text.lines().filter(|l| l.ends_with(": test")).collect();
    assert_eq!(listed, ["[sse] live-hub::feed: test", "[sse] live-hub::feed-v2: test"], "{text}");
    assert_eq!(common::code(&list), 0, "{text}");

    require_node!();
    // Only the flows: the load command's route is filtered out and never runs.
    let (flows, text) = test("traffic-errors", &["flow", "--nocapture"]);
    assert_eq!(common::code(&flows), 1, "{text}");
    let stdout = common::stdout(&flows);
    let outcome = |name: &str| {
        stdout
            .lines()
            .filter_map(|l| l.strip_prefix("test ")?.split_once(" ... "))
            .find(|(trial, _)| trial.trim_end() == name)
            .map(|(_, outcome)| outcome.to_owned())
    };
    assert_eq!(outcome("[flow] accounts::capture-miss").as_deref(), Some("FAILED"), "{text}");
    assert_eq!(outcome("[flow] accounts::status-mismatch").as_deref(), Some("FAILED"), "{text}");
    assert_eq!(outcome("[load] accounts::command-fails"), None, "{text}");
    assert!(stdout.contains("0 passed; 2 failed; 0 ignored; 0 measured; 1 filtered out"), "{text}");
    assert!(!common::stderr(&flows).contains("command-fails"), "a filtered-out route ran:\n{text}");
    // The failure message is the route's explanation: it names the step that failed.
    let message = stdout
        .split("---- accounts::status-mismatch ----\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no failure section\n{text}"));
    assert!(
        message.contains("step `logout` (POST /api/logout): status 403 (expected 204)"),
        "{text}"
    );
}
