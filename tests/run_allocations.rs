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

#[test]
fn allocations_off_records_nothing() {
    let run = run_spec(&spec("allocations"), &["--allocations", "off", "--route", "presence"]);
    assert_eq!(run.code(), 1, "{}", run.output_text());
    let r = run.route("events-hub", "presence");
    assert!(r.get("allocations").is_none(), "{}", pretty(r));
}
