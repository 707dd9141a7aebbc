//! The gate refuses what it cannot do before it starts anything (issue 10): counts past the
//! maximum, a missing `cwd` or program of any target, report files that cannot be written,
//! `nan` budgets, a route above its target, a `url` without a port, an inspector flag of the
//! user's own; and what comes from outside (class names from a snapshot, self sizes) cannot
//! break its output. Every run here is the real binary; the targets are real Node services,
//! and the marker service records whether it was started at all. The faults are listed in
//! `tests/README.md`.

mod common;

use std::path::{Path, PathBuf};

use common::{run_spec, services_dir};

fn write_spec(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new().prefix("leakcheck-gate-").tempdir().unwrap();
    let path = dir.path().join("leakspec.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// A spec with the marker service first (it appends its pid to `marker` when started) and
/// `second` as the second target's text.
fn marker_first(dir: &Path, second: &str) -> String {
    format!(
        r#"[defaults]
warmup = 5
requests = 20

[[target]]
name = "marker"
command = ["node", "marker.js"]
cwd = "{services}"
env = {{ STARTED_MARKER = "{marker}" }}
ready = "/health"

[[target.route]]
name = "ping"
path = "/api/ping"

{second}
"#,
        services = services_dir().display(),
        marker = dir.join("marker").display()
    )
}

fn never_started(dir: &Path) {
    assert!(!dir.join("marker").exists(), "the first target was started");
}

#[test]
fn a_huge_count_is_refused_with_its_line_and_column() {
    let (_dir, path) = write_spec(
        "[defaults]\nrequests = 1000000000000\n\n[[target]]\nname = \"api\"\ncommand = [\"node\", \"x.js\"]\n\n[[target.route]]\nname = \"home\"\npath = \"/\"\nwarmup = 200000000\n",
    );
    let run = run_spec(&path, &[]);
    let err = run.stderr();
    assert_eq!(run.code(), 2, "{err}");
    assert!(err.contains(":2:12: `requests` must be at most 100000000"), "{err}");
    assert!(err.contains(":11:10: `warmup` must be at most 100000000"), "{err}");
}

#[test]
fn a_huge_count_on_the_command_line_is_refused() {
    require_node!();
    let dir = tempfile::tempdir().unwrap();
    let (_spec_dir, path) = write_spec(&marker_first(dir.path(), ""));
    for flag in ["--requests", "--warmup"] {
        let run = run_spec(&path, &[flag, "1000000000000"]);
        assert_eq!(run.code(), 2, "{}", run.output_text());
        assert!(
            run.stderr().contains(&format!("`{flag}` must be at most 100000000")),
            "{}",
            run.output_text()
        );
        never_started(dir.path());
    }
}

#[test]
fn a_missing_cwd_or_program_of_the_last_target_fails_before_the_first_starts() {
    require_node!();
    let dir = tempfile::tempdir().unwrap();
    for (second, words) in [
        (
            "[[target]]\nname = \"gone\"\ncommand = [\"node\", \"x.js\"]\ncwd = \"no/such/folder\"\n\n[[target.route]]\nname = \"a\"\npath = \"/\"\n",
            "working directory",
        ),
        (
            "[[target]]\nname = \"typo\"\ncommand = [\"nodee\", \"server.js\"]\n\n[[target.route]]\nname = \"a\"\npath = \"/\"\n",
            "command `nodee` not found",
        ),
    ] {
        let (_spec_dir, path) = write_spec(&marker_first(dir.path(), second));
        let run = run_spec(&path, &[]);
        let err = run.stderr();
        assert_eq!(run.code(), 2, "{}", run.output_text());
        assert!(err.contains(words), "{err}");
        assert!(err.contains("leakspec.toml:16:1"), "the target's line: {err}");
        never_started(dir.path());
    }
}

#[test]
fn an_unwritable_report_fails_before_the_first_target_starts() {
    require_node!();
    let dir = tempfile::tempdir().unwrap();
    let (_spec_dir, path) = write_spec(&marker_first(dir.path(), ""));
    // A folder where a file is: nothing can be created under it.
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let junit = blocker.join("leakcheck.xml");
    let out = common::leakcheck()
        .args(["run", "--spec", path.to_str().unwrap(), "--junit", junit.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(common::code(&out), 2, "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("could not create"), "{}", common::stderr(&out));
    never_started(dir.path());

    // The step summary on GitHub Actions.
    let tag = common::unique_tag("summary");
    let out = common::run_command(&path, dir.path(), &tag)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", blocker.join("summary.md"))
        .output()
        .unwrap();
    common::assert_nothing_left(&tag, "summary check");
    assert_eq!(common::code(&out), 2, "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("could not create"), "{}", common::stderr(&out));
    never_started(dir.path());
}

/// A `--json` path in folders that do not exist yet: they are created (as test runners do
/// for their reports), before the run, and the report is written there.
#[test]
fn report_folders_are_created() {
    require_node!();
    let dir = tempfile::tempdir().unwrap();
    let (_spec_dir, path) = write_spec(&marker_first(dir.path(), ""));
    let json = dir.path().join("reports/leak/leakcheck.json");
    let out = common::leakcheck()
        .args(["run", "--spec", path.to_str().unwrap(), "--json", json.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    let text = std::fs::read_to_string(&json).unwrap();
    assert!(text.contains("\"leakcheck-run/2\""), "{text}");
}

#[test]
fn bad_budgets_urls_and_inspector_flags_get_clear_messages() {
    let services = services_dir();
    let cases = [
        (
            "[[target.route]]\nname = \"r\"\npath = \"/\"\n\n[[target]]\nname = \"api\"\ncommand = [\"node\", \"x.js\"]\n",
            "1:1: `[[target.route]]` before any `[[target]]`",
        ),
        (
            "[[target]]\nname = \"api\"\ncommand = [\"node\", \"x.js\"]\nbudget = { max_objects_per_request = nan }\n\n[[target.route]]\nname = \"r\"\npath = \"/\"\n",
            "`max_objects_per_request` must be a finite number, found `NaN`",
        ),
        (
            "[[target]]\nname = \"api\"\ncommand = [\"node\", \"x.js\"]\nbudget = { max_bytes_per_request = inf }\n\n[[target.route]]\nname = \"r\"\npath = \"/\"\n",
            "`max_bytes_per_request` must be a finite number, found `inf`",
        ),
        (
            "[[target]]\nname = \"api\"\ncommand = [\"node\", \"x.js\"]\nurl = \"http://127.0.0.1\"\n\n[[target.route]]\nname = \"r\"\npath = \"/\"\n",
            "4:7: `url` has no port: `http://127.0.0.1` means port 80",
        ),
        (
            "[[target]]\nname = \"api\"\ncommand = [\"node\", \"--inspect=0.0.0.0:0\", \"x.js\"]\n\n[[target.route]]\nname = \"r\"\npath = \"/\"\n",
            "3:20: `--inspect=0.0.0.0:0`: leakcheck starts the inspector itself",
        ),
        (
            "[[target]]\nname = \"api\"\ncommand = [\"npm\", \"start\"]\nenv = { NODE_OPTIONS = \"--max-old-space-size=512 --inspect-brk=0.0.0.0:9229\" }\n\n[[target.route]]\nname = \"r\"\npath = \"/\"\n",
            "`--inspect-brk=0.0.0.0:9229`: leakcheck starts the inspector itself",
        ),
    ];
    for (text, words) in cases {
        let text = text.replace("x.js", &services.join("marker.js").display().to_string());
        let (_dir, path) = write_spec(&text);
        let run = run_spec(&path, &[]);
        assert_eq!(run.code(), 2, "{text}\n{}", run.output_text());
        assert!(run.stderr().contains(words), "{words:?} not in:\n{}", run.stderr());
    }
}

/// `NODE_OPTIONS=--inspect=0.0.0.0:0` in leakcheck's own environment (a developer's shell):
/// dropped, so the target's only inspector is leakcheck's, on loopback, and the run works.
#[test]
fn an_inherited_inspector_flag_is_dropped() {
    require_node!();
    let dir = tempfile::tempdir().unwrap();
    let (_spec_dir, path) = write_spec(&marker_first(dir.path(), ""));
    let tag = common::unique_tag("inherited");
    let out = common::run_command(&path, dir.path(), &tag)
        .env("NODE_OPTIONS", "--inspect=0.0.0.0:0")
        .output()
        .unwrap();
    common::assert_nothing_left(&tag, "inherited --inspect");
    let text = format!("{}{}", common::stdout(&out), common::stderr(&out));
    assert_eq!(common::code(&out), 0, "{text}");
    assert!(text.contains("PASS   marker › ping"), "{text}");
}

/// Class names come from the service: one named after request data, with an escape sequence
/// and a line break, must print as escapes, never raw (a terminal would obey it; a CI log
/// would show a fake line).
#[test]
fn class_names_with_control_characters_print_escaped() {
    require_node!();
    let (_dir, path) = write_spec(&format!(
        r#"[defaults]
warmup = 20
requests = 200

[[target]]
name = "inventory"
command = ["node", "inventory.js"]
cwd = "{services}"
env = {{ LOG_LEVEL = "warn" }}
ready = "/health"

[[target.route]]
name = "events"
method = "POST"
path = "/api/events"
headers = {{ content-type = "application/json" }}
body = '{{"type": "OrderPlaced\u001b[2J\nPASS   inventory › events", "payload": {{"sku": "SKU-1"}}}}'
"#,
        services = services_dir().display()
    ));
    let run = run_spec(&path, &[]);
    let stdout = run.stdout();
    assert_eq!(run.code(), 1, "{}", run.output_text());
    assert!(!stdout.contains('\u{1b}'), "a raw escape reached the terminal:\n{stdout}");
    assert!(stdout.contains("OrderPlaced\\u{1b}[2J\\nPASS   inventory › events}"), "{stdout}");
    assert!(!stdout.lines().any(|l| l.starts_with("PASS   inventory › events")), "{stdout}");
    assert!(!run.junit().contains('\u{1b}'), "{}", run.junit());
}

/// Five objects of 2^64 - 1 bytes each (a corrupt snapshot): the sizes are capped and their
/// sum saturates instead of wrapping round to a small figure.
#[test]
fn huge_self_sizes_do_not_wrap_round() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.heapsnapshot");
    let max = u64::MAX;
    let mut nodes = String::from("9,1,1,0,5,0,0");
    let mut edges = Vec::new();
    for i in 1..=5 {
        nodes += &format!(",3,2,{},{max},0,0,0", 2 * i + 1);
        edges.push(format!("1,{i},{}", i * 7));
    }
    let text = format!(
        r#"{{"snapshot":{{"meta":{{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"string","number","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"],"trace_function_info_fields":[],"trace_node_fields":[],"sample_fields":[],"location_fields":[]}},"node_count":6,"edge_count":5,"trace_function_count":0}},"nodes":[{nodes}],"edges":[{}],"trace_function_infos":[],"trace_tree":[],"samples":[],"locations":[],"strings":["<dummy>","","Huge"]}}"#,
        edges.join(",")
    );
    std::fs::write(&file, text).unwrap();
    let out = common::run(["summary".as_ref(), file.as_os_str()]);
    let stdout = common::stdout(&out);
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Huge"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("5.0 TiB"), "{line}");
}
