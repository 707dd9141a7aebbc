//! `--shard K/N` and `leakcheck merge-reports`: the four targets of
//! `tests/fixtures/specs/shards.toml` run as shards 1/2 and 2/2 (at the same time, as the jobs
//! of a CI matrix would) and as one unsharded run; the merged shards must give the same
//! verdicts, the same report order, the same JUnit cases and the same exit status. Then the
//! cases merge-reports must refuse, each naming the file at fault.

mod common;

use std::path::Path;

use common::{SpecRun, code, run, run_spec, spec, stderr, stdout};
use serde_json::Value;

/// (target, route, outcome) of every route of a `leakcheck-run/2` report, in its order.
fn verdicts(report: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for t in report["targets"].as_array().expect("targets") {
        for r in t["routes"].as_array().expect("routes") {
            let s = |v: &Value| v.as_str().expect("a string").to_owned();
            out.push((s(&t["name"]), s(&r["name"]), s(&r["outcome"])));
        }
    }
    out
}

/// (classname, name, failed) of every JUnit test case, in order.
fn junit_cases(xml: &str) -> Vec<(String, String, bool)> {
    let attr = |case: &str, name: &str| {
        let start = case.find(&format!(" {name}=\"")).expect("attribute") + name.len() + 3;
        case[start..start + case[start..].find('"').expect("closing quote")].to_owned()
    };
    xml.split("<testcase")
        .skip(1)
        .map(|case| {
            let case = &case[..case.find("</testcase>").unwrap_or(case.len())];
            (attr(case, "classname"), attr(case, "name"), case.contains("<failure"))
        })
        .collect()
}

#[test]
fn shards_merged_give_the_verdicts_of_one_run() {
    require_node!();
    let shards = spec("shards");
    let (whole, one, two) = std::thread::scope(|s| {
        let whole = s.spawn(|| run_spec(&shards, &[]));
        let one = s.spawn(|| run_spec(&shards, &["--shard", "1/2"]));
        let two = s.spawn(|| run_spec(&shards, &["--shard", "2/2"]));
        (whole.join().unwrap(), one.join().unwrap(), two.join().unwrap())
    });

    let expected = [
        ("shop-api", "catalogue", "pass"),
        ("shop-api", "stock", "fail"),
        ("ai-gateway", "access-log", "fail"),
        ("events-hub", "topic-info", "pass"),
        ("slow-start", "classify", "pass"),
    ]
    .map(|(t, r, o)| (t.to_owned(), r.to_owned(), o.to_owned()));
    assert_eq!(verdicts(whole.json()), expected, "{}", whole.output_text());
    assert_eq!(whole.code(), 1, "{}", whole.output_text());

    // Each shard says which targets it runs and runs only those.
    let first_line = |run: &SpecRun| run.stdout().lines().next().unwrap_or_default().to_owned();
    assert_eq!(first_line(&one), "shard 1/2: 2 of 4 targets: shop-api, slow-start");
    assert_eq!(first_line(&two), "shard 2/2: 2 of 4 targets: ai-gateway, events-hub");
    let names = |run: &SpecRun| verdicts(run.json()).into_iter().map(|v| v.0).collect::<Vec<_>>();
    assert_eq!(names(&one), ["shop-api", "shop-api", "slow-start"], "{}", one.output_text());
    assert_eq!(names(&two), ["ai-gateway", "events-hub"], "{}", two.output_text());
    assert_eq!(one.json()["shard"]["positions"], serde_json::json!([0, 3]));
    assert_eq!((one.code(), two.code()), (1, 1));

    let out = tempfile::tempdir().unwrap();
    let report = |run: &SpecRun| run.dir.path().join("report.json");
    let (json, junit) = (out.path().join("merged.json"), out.path().join("merged.xml"));
    // Given in the "wrong" order: the merge puts the targets back in the spec's.
    let merged = run([
        "merge-reports".as_ref(),
        report(&two).as_os_str(),
        report(&one).as_os_str(),
        "--json".as_ref(),
        json.as_os_str(),
        "--junit".as_ref(),
        junit.as_os_str(),
    ]);
    let dump = format!("{}\n{}", stdout(&merged), stderr(&merged));
    assert_eq!(code(&merged), whole.code(), "{dump}");
    let merged_json: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(verdicts(&merged_json), verdicts(whole.json()), "{dump}");
    assert!(merged_json.get("shard").is_none(), "the merged report is a whole run's");
    let merged_xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(junit_cases(&merged_xml), junit_cases(whole.junit()));
    assert_eq!(junit_cases(&merged_xml).iter().filter(|c| c.2).count(), 2);
    // The terminal report: the same route lines and failures as the unsharded run's.
    let route_lines = |text: &str| -> Vec<String> {
        let mut lines = Vec::new();
        for line in text.lines() {
            if line.starts_with("  PASS") || line.starts_with("  FAIL") {
                // `  PASS   shop-api › catalogue   no linear growth ...`: the tag and the route.
                lines.push(line.split_whitespace().take(4).collect::<Vec<_>>().join(" "));
            } else if line.starts_with("FAIL ") {
                lines.push(line.to_owned());
            }
        }
        lines
    };
    assert_eq!(route_lines(&stdout(&merged)), route_lines(&whole.stdout()), "{dump}");
    assert!(stdout(&merged).ends_with("3 passed, 2 failed\n"), "{dump}");
}

#[test]
fn an_empty_shard_passes_and_still_writes_its_report() {
    // One target, two shards: shard 2/2 has nothing to run and starts nothing (node is not
    // needed; run_spec checks that no process was left).
    let run = run_spec(&spec("never-ready"), &["--shard", "2/2"]);
    assert_eq!(run.code(), 0, "{}", run.output_text());
    assert_eq!(
        run.stdout(),
        "shard 2/2: no targets fall in this shard (1 target in 2 shards); nothing to run, which passes\n"
    );
    assert_eq!(run.json()["targets"], serde_json::json!([]));
    assert_eq!(
        run.json()["shard"],
        serde_json::json!({"index": 2, "total": 2, "positions": [], "plan_targets": 1})
    );
    assert!(run.junit().contains("<testsuites"), "{}", run.junit());

    // Alone, it is not the whole run: shard 1/2 is missing.
    let path = run.dir.path().join("report.json");
    let out = common::run(["merge-reports".as_ref(), path.as_os_str()]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let expected = format!(
        "error: could not merge the reports\n  cause: no report for shard 1/2 (given: `{}` (shard 2/2))",
        path.display()
    );
    assert!(stderr(&out).starts_with(&expected), "{}", stderr(&out));
}

#[test]
fn merge_reports_names_the_file_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("shard-3.json");
    let out = common::run(["merge-reports".as_ref(), missing.as_os_str()]);
    assert_eq!(code(&out), 2);
    let message = format!("could not read the report `{}`: No such file", missing.display());
    assert!(stderr(&out).contains(&message), "{}", stderr(&out));

    let corrupt = dir.path().join("shard-1.json");
    std::fs::write(&corrupt, "{\"format\": \"leakcheck-run/2\",\n  \"targets\": [\n").unwrap();
    let out = common::run(["merge-reports".as_ref(), corrupt.as_os_str()]);
    assert_eq!(code(&out), 2);
    let message =
        format!("`{}` is not a leakcheck-run/2 report: EOF while parsing", corrupt.display());
    assert!(stderr(&out).contains(&message), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 3"), "{}", stderr(&out));

    let other = dir.path().join("other.json");
    std::fs::write(&other, "{\"format\": \"leakcheck-diff/1\"}").unwrap();
    let out = common::run(["merge-reports".as_ref(), other.as_os_str()]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("format `leakcheck-diff/1` is not `leakcheck-run/2`"),
        "{}",
        stderr(&out)
    );
    assert!(Path::new(&other).exists());
}

#[test]
fn a_bad_shard_is_a_usage_error() {
    let out = run(["run", "--spec", "leakspec.toml", "--shard", "3/2"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("the shard must be between 1 and 2"), "{}", stderr(&out));
}
