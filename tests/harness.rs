//! The library harness in a real Rust project: `tests/fixtures/harness-project` declares
//! `[[test]] name = "leaks" harness = false` with a `main` that calls
//! `leakcheck::harness::main("leakspec.toml")`; these tests run `cargo test --test leaks` and
//! `cargo nextest run` in it and read which route passed and which failed.
//!
//! The nested cargo builds into `<this target dir>/harness-fixture`, so a second run of the
//! suite finds it built, and it is `--locked` to the project's committed Cargo.lock (a clean
//! CI machine cannot build `--offline`). The first build compiles leakcheck and its
//! dependencies once more: about two and a half minutes on the busy 2-core machine here.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{TAG_VAR, assert_nothing_left, unique_tag};

fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/harness-project")
}

/// `cargo ARGS` in the fixture project, building into this build's target directory (the one
/// holding the leakcheck binary under test), every process tagged with `tag`.
fn cargo(args: &[&str], tag: &str) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_leakcheck"));
    let target = bin.parent().and_then(Path::parent).expect("target/<profile>/leakcheck");
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(project())
        .args(args)
        .env("CARGO_TARGET_DIR", target.join("harness-fixture"))
        .env(TAG_VAR, tag)
        .env("NO_COLOR", "1")
        .env("CARGO_TERM_COLOR", "never");
    // When this suite itself runs under nextest, its settings must not leak into the nested one.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("NEXTEST") {
            cmd.env_remove(name);
        }
    }
    let out = cmd.output().expect("cargo starts");
    assert_nothing_left(tag, &format!("cargo {}", args.join(" ")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("--locked was passed"),
        "leakcheck's dependencies changed: refresh the fixture's lock file with \
         `cargo tree > /dev/null` in tests/fixtures/harness-project, and commit it\n{stderr}"
    );
    out
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn cargo_test_runs_each_route_as_a_test() {
    require_node!();
    let tag = unique_tag("harness-cargo-test");

    let list = cargo(&["test", "--locked", "--test", "leaks", "--", "--list"], &tag);
    let stdout = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "{}", text(&list));
    let listed: Vec<&str> = stdout.lines().filter(|l| l.ends_with(": test")).collect();
    assert_eq!(listed, ["shop-api::catalogue: test", "shop-api::stock: test"], "{}", text(&list));

    let all = cargo(&["test", "--locked", "--test", "leaks"], &tag);
    let stdout = String::from_utf8_lossy(&all.stdout);
    // libtest's status for failed tests, which cargo passes on.
    assert_eq!(all.status.code(), Some(101), "{}", text(&all));
    assert!(stdout.contains("test shop-api::catalogue ... ok"), "{}", text(&all));
    assert!(stdout.contains("test shop-api::stock     ... FAILED"), "{}", text(&all));
    assert!(stdout.contains("1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out"));
    // The failure message is the route's explanation, as `leakcheck run` words it.
    let message = stdout.split("---- shop-api::stock ----\n").nth(1).expect("a failure section");
    assert!(
        message.starts_with("FAIL shop-api › stock (PUT /api/products/SKU-10042/stock)\n"),
        "{message}"
    );
    assert!(message.contains("LEAK AuditEntry: +1 object and +64 B per request"), "{message}");
    assert!(message.contains("held by `auditTrail`"), "{message}");

    // A filter: only the clean route runs, and the leaking one is never measured.
    let one =
        cargo(&["test", "--locked", "--test", "leaks", "--", "catalogue", "--nocapture"], &tag);
    let (stdout, stderr) =
        (String::from_utf8_lossy(&one.stdout), String::from_utf8_lossy(&one.stderr));
    assert!(one.status.success(), "{}", text(&one));
    assert!(stdout.contains("1 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out"));
    assert!(stderr.contains("shop-api › catalogue: pass"), "{}", text(&one));
    assert!(!stderr.contains("shop-api › stock"), "the filtered-out route ran:\n{}", text(&one));
}

#[test]
fn nextest_runs_each_route_in_a_process_of_its_own() {
    require_node!();
    let version = Command::new("cargo").args(["nextest", "--version"]).output();
    if !version.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: cargo-nextest is not installed");
        return;
    }
    let tag = unique_tag("harness-nextest");
    let out = cargo(&["nextest", "run", "--locked", "--no-fail-fast", "--color", "never"], &tag);
    let all = text(&out);
    // nextest's status for failed tests.
    assert_eq!(out.status.code(), Some(100), "{all}");
    let status_of = |test: &str| {
        all.lines()
            .map(str::trim_start)
            .filter(|l| l.ends_with(&format!(" leaks-fixture::leaks {test}")))
            .find_map(|l| l.split_whitespace().next().filter(|w| ["PASS", "FAIL"].contains(w)))
    };
    assert_eq!(status_of("shop-api::catalogue"), Some("PASS"), "{all}");
    assert_eq!(status_of("shop-api::stock"), Some("FAIL"), "{all}");
    // Each process measured its own route only (nextest runs `--exact NAME`).
    assert!(all.contains("1 failed; 0 ignored; 0 measured; 1 filtered out"), "{all}");
    assert!(all.contains("LEAK AuditEntry"), "{all}");
}
