//! `leakcheck run` on Deno, end to end: the `deno` npm package's binary (installed by
//! [`common::ensure_runtimes`]) runs `tests/fixtures/deno/server.ts` with the inspector after
//! its subcommand. The login route keeps every session in a Map (a leak blamed on `sessions`,
//! with the requests until the spec's 512 MiB), the quote route keeps nothing.

mod common;

use common::{assert_projection, ensure_runtimes, run_spec, spec};

#[test]
fn deno_leak_and_clean_route() {
    ensure_runtimes();
    let run = run_spec(&spec("workers"), &["--target", "deno-api"]);
    assert_eq!(run.code(), 1, "{}", run.output_text());
    assert_eq!(run.json()["targets"][0]["runtime"], "deno");

    let login = run.route("deno-api", "login");
    assert_eq!(login["outcome"], "fail", "{login:#}");
    let leaks = login["verdict"]["leaks"].as_array().unwrap();
    let session = leaks.iter().find(|l| l["class"] == "Session").expect("Session leaks");
    assert!((session["objects_per_request"].as_f64().unwrap() - 1.0).abs() < 0.05, "{session:#}");
    assert!(session["holders"].as_array().unwrap().iter().any(|h| h["culprit"] == "sessions"));
    let requests = assert_projection(&run, "deno-api", "login", "process");
    assert!(requests > 100_000, "{requests}");

    let quote = run.route("deno-api", "quote");
    assert_eq!(quote["outcome"], "pass", "{quote:#}");
    assert_eq!(quote["verdict"]["leaks"].as_array().map(Vec::len), Some(0));
}
