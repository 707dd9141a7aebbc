//! Allocation sites end to end: `leakcheck run` on real services (`tests/fixtures/specs/
//! allocations.toml`) must name, for every leaking route, the function and `file:line` that
//! allocates what leaks, through V8's sampling heap profiler: timers and listeners by the
//! function that registered them, a library's cache by the handler that feeds it with the
//! library's frame beside it, transpiled TypeScript (tsx) and a wrangler bundle by the
//! original `.ts` line; the first cause names the service's variable.

mod common;

use common::{ensure_runtimes, run_spec, spec};
use serde_json::Value;

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

/// The failing route's first three sites include `function` at `file` (a path suffix) and
/// `line`; returns that site.
fn assert_site<'a>(
    run: &'a common::SpecRun,
    target: &str,
    route: &str,
    function: &str,
    file: &str,
    line: u64,
) -> &'a Value {
    let r = run.route(target, route);
    assert_eq!(r["outcome"], "fail", "{target} › {route}:\n{}", pretty(r));
    let a = &r["allocations"];
    assert_eq!(a["mechanism"], "sampling", "{}", pretty(a));
    let sites = a["sites"].as_array().unwrap_or_else(|| panic!("no sites: {}", pretty(a)));
    sites
        .iter()
        .take(3)
        .find(|s| {
            let at = &s["site"];
            at["function"] == function
                && at["file"].as_str().is_some_and(|f| f.ends_with(file))
                && at["line"] == line
        })
        .unwrap_or_else(|| {
            panic!("{target} › {route}: no site {function} ({file}:{line}) among\n{}", pretty(a))
        })
}

#[test]
fn every_leaking_route_names_the_function_and_line_that_allocates() {
    ensure_runtimes();
    let run = run_spec(&spec("allocations"), &[]);
    assert_eq!(run.code(), 1, "{}", run.output_text());

    // A timer: the function that called setInterval, not Node's timer list, heads the cause,
    // with the variable its callback captured (the heartbeat it holds) as the culprit.
    let timer = assert_site(&run, "events-hub", "presence", "watchHeartbeat", "events-hub.js", 80);
    assert_eq!(timer["via"], "setInterval", "{}", pretty(timer));
    let presence = run.route("events-hub", "presence");
    assert_eq!(presence["causes"][0]["sites"][0], *timer, "{}", pretty(presence));
    assert_eq!(presence["causes"][0]["culprit"], "beat", "{}", pretty(presence));
    assert!(
        run.stdout().contains("timers registered with `setInterval` in `watchHeartbeat` (")
            && run
                .stdout()
                .contains("events-hub.js:80), never cleared, their callbacks holding `beat`"),
        "{}",
        run.stdout()
    );
    // A listener: the handler that registers it, and the variable holding the emitter (not the
    // event's key in the emitter's listener table).
    let listener = assert_site(&run, "events-hub", "wait", "(anonymous)", "events-hub.js", 174);
    let registers: Vec<&str> = listener["registers"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(registers.iter().any(|r| r.contains("Listener") || *r == "on"), "{}", pretty(listener));
    let wait = run.route("events-hub", "wait");
    assert_eq!(wait["causes"][0]["culprit"], "topicBus", "{}", pretty(wait));
    // The snapshot names the callbacks too (the headline uses them only without a site).
    let at = function_at("events-hub.js", "setInterval(", "() =>");
    assert_callback(&presence["causes"][0], "(anonymous)", "events-hub.js", at);
    let at = function_at("events-hub.js", "const onMessage = ", "(message)");
    assert_callback(&wait["causes"][0], "onMessage", "events-hub.js", at);
    assert!(
        run.stdout().contains("listeners for `message` added to `topicBus` (EventEmitter @"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains("in `(anonymous)` (")
            && run.stdout().contains("events-hub.js:174), never removed"),
        "{}",
        run.stdout()
    );
    // A library cache fed from a handler: the handler that stores into it, the library's frame
    // beside it, and the user's variable holding the cache (not the library's private field).
    let cached = assert_site(&run, "shipping", "rates", "quoteRates", "shipping.js", 72);
    assert_eq!(cached["library"]["package"], "lru-cache", "{}", pretty(cached));
    let rates = run.route("shipping", "rates");
    assert_eq!(rates["causes"][0]["culprit"], "quoteCache", "{}", pretty(rates));
    assert_eq!(run.route("shipping", "carriers")["outcome"], "pass");
    // Closures in an array: the callback that pushes the retry closure.
    assert_site(&run, "ai-gateway", "embeddings", "(anonymous)", "ai-gateway.js", 75);
    // A string grown by concatenation: its bytes are allocated where the route reads the log
    // (`slice` flattens the rope into one new string each time), the variable is named.
    assert_site(&run, "ai-gateway", "access-log", "(anonymous)", "ai-gateway.js", 150);
    let access = run.route("ai-gateway", "access-log");
    assert_eq!(access["causes"][0]["culprit"], "adminAccessLog", "{}", pretty(access));
    // TypeScript run with tsx: the original .ts file and line, the generated one kept.
    let ts = assert_site(&run, "ts-api", "reprice", "recordPriceChange", "src/audit.ts", 14);
    assert!(ts["site"]["generated"].is_string(), "{}", pretty(ts));
    // A worker bundled by wrangler: the original .ts file and line.
    let bundled = assert_site(&run, "rate-limit", "check", "checkLimit", "src/limiter.ts", 18);
    assert!(bundled["site"]["generated"].is_string(), "{}", pretty(bundled));

    // Passing routes record their survivors too, but nothing there is a leak.
    assert_eq!(run.route("ts-api", "price")["outcome"], "pass");
    // One cause per holder, not one block per class: the TypeScript service's five classes.
    let reprice = run.route("ts-api", "reprice");
    assert_eq!(reprice["causes"].as_array().map(Vec::len), Some(1), "{}", pretty(reprice));
    assert_eq!(reprice["causes"][0]["culprit"], "priceHistory");
    // The JUnit failure text carries the site too.
    assert!(run.junit().contains("allocated in recordPriceChange ("), "{}", run.junit());

    // The HTML page, rendered from the JSON report, heads timer and listener causes as the
    // terminal does: who registered them, into what.
    let (json, page) = (run.dir.path().join("report.json"), run.dir.path().join("page.html"));
    let out = common::leakcheck().arg("report").arg(&json).arg("--html").arg(&page).output();
    let out = out.expect("leakcheck report starts");
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let html = std::fs::read_to_string(&page).expect("the page was written");
    for heading in [
        "timers registered with `setInterval` in `watchHeartbeat` (",
        "never cleared, their callbacks holding `beat`",
        "listeners for `message` added to `topicBus` (EventEmitter @",
        "events-hub.js:174), never removed",
    ] {
        let h4 =
            html.split("<h4>").skip(1).find(|h| h.split("</h4>").next().unwrap().contains(heading));
        assert!(h4.is_some(), "no cause heading with `{heading}` in the page");
    }
}

/// Where the function whose code starts at `start` on the first line of `file` (under the
/// fixture services) containing `line_with` is: `(line, column)`, 1-based, as V8 counts a
/// function's start (an arrow function starts at its parameter list).
fn function_at(file: &str, line_with: &str, start: &str) -> (u64, u64) {
    let path = common::services_dir().join(file);
    let source = std::fs::read_to_string(&path).expect("the fixture is readable");
    let (i, text) = source
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(line_with))
        .unwrap_or_else(|| panic!("no line with {line_with:?} in {}", path.display()));
    let column = text.find(start).unwrap_or_else(|| panic!("no {start:?} in {text:?}"));
    (i as u64 + 1, column as u64 + 1)
}

/// Asserts a cause's `callback` is `function` at `file:line:column`.
fn assert_callback(cause: &Value, function: &str, file: &str, (line, column): (u64, u64)) {
    let f = &cause["callback"];
    assert_eq!(f["function"], function, "{}", pretty(cause));
    assert!(f["file"].as_str().is_some_and(|p| p.ends_with(file)), "{}", pretty(cause));
    assert_eq!((&f["line"], &f["column"]), (&line.into(), &column.into()), "{}", pretty(cause));
}

/// Without sampling no site names the code, and the snapshot's own `locations` do: a timer
/// leak names its callback (the arrow given to `setInterval`), a listener leak the listener
/// left on the emitter (`onMessage`), with file, line and column, in the terminal and in
/// JSON; `leakcheck diff` of the kept snapshots names them too.
#[test]
fn allocations_off_records_nothing_and_names_the_callbacks_from_the_snapshot() {
    let keep = tempfile::tempdir().unwrap();
    let keep_arg = keep.path().to_str().unwrap();
    let args = ["--allocations", "off", "--target", "events-hub", "--keep-snapshots", keep_arg];
    let run = run_spec(&spec("allocations"), &args);
    assert_eq!(run.code(), 1, "{}", run.output_text());
    let r = run.route("events-hub", "presence");
    assert!(r.get("allocations").is_none(), "{}", pretty(r));

    let timer = function_at("events-hub.js", "setInterval(", "() =>");
    assert_callback(&r["causes"][0], "(anonymous)", "events-hub.js", timer);
    let listener = function_at("events-hub.js", "const onMessage = ", "(message)");
    let wait = run.route("events-hub", "wait");
    assert_callback(&wait["causes"][0], "onMessage", "events-hub.js", listener);
    let out = run.stdout();
    for (named, at) in [
        ("never cleared, their callbacks holding `beat`; the callback is `(anonymous)` (", timer),
        ("never removed; the listener is `onMessage` (", listener),
    ] {
        // The file is shown from the current directory when under it, else in full.
        let file_line = format!("events-hub.js:{}:{}) — ", at.0, at.1);
        let found = out
            .lines()
            .any(|l| l.contains("CAUSE: ") && l.contains(named) && l.contains(&file_line));
        assert!(found, "no headline with {named:?} and {file_line:?}:\n{out}");
    }

    // `leakcheck diff` of the kept snapshots: the same callbacks, in text and JSON.
    for (route, function, at) in
        [("presence", "(anonymous)", timer), ("wait", "onMessage", listener)]
    {
        let dir = keep.path().join("events-hub").join(route);
        let snapshots: Vec<_> = (0..3).map(|i| dir.join(format!("s{i}.heapsnapshot"))).collect();
        let text = common::stdout(&common::diff(&snapshots, 300, "text"));
        let line = format!("callback: `{function}` (");
        let shown = text.lines().any(|l| {
            l.contains(&line) && l.ends_with(&format!("events-hub.js:{}:{})", at.0, at.1))
        });
        assert!(shown, "{route}: no {line:?} at {at:?} in\n{text}");
        let json: Value = serde_json::from_slice(&common::diff(&snapshots, 300, "json").stdout)
            .expect("diff writes JSON");
        let cluster = json["classes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["clusters"].as_array().unwrap())
            .find(|c| c.get("callback").is_some())
            .unwrap_or_else(|| panic!("{route}: no cluster with a callback"));
        assert_callback(cluster, function, "events-hub.js", at);
    }
}
