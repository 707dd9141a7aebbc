//! The GitHub Action's steps (scripts/action/, called by action.yml), run here as a runner
//! would: with the action's inputs in the environment and GITHUB_OUTPUT / GITHUB_PATH files.
//! `install: none` finds this build's leakcheck; `run.sh` passes each input on as its flag
//! (`--html` only when set), records leakcheck's exit status without failing, and lists the
//! reports and kept snapshots to upload. `install: npm` and `install: release` download from
//! registries that have no leakcheck yet: not tested here (tests/npm_package.rs installs the
//! npm package from its tarballs).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/action").join(name)
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        common::stdout(out),
        common::stderr(out)
    )
}

/// A runner's view: a working directory, a PATH holding this build's leakcheck, and the files
/// GitHub reads a step's outputs and PATH additions from.
struct Runner {
    dir: TempDir,
    bin: PathBuf,
}

impl Runner {
    fn new() -> Runner {
        let dir = tempfile::Builder::new().prefix("leakcheck-action-").tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_leakcheck"), bin.join("leakcheck")).unwrap();
        Runner { dir, bin }
    }

    fn step(&self, name: &str, env: &[(&str, &str)]) -> Output {
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap_or_default());
        Command::new("bash")
            .arg(script(name))
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("GITHUB_OUTPUT", self.dir.path().join("github-output"))
            .env("GITHUB_PATH", self.dir.path().join("github-path"))
            .env("RUNNER_TEMP", self.dir.path().join("runner-temp"))
            .env("ACTION_PATH", env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .output()
            .expect("bash starts")
    }

    /// GITHUB_OUTPUT parsed: `name=value` lines and `name<<DELIMITER` blocks.
    fn outputs(&self) -> HashMap<String, String> {
        let text = std::fs::read_to_string(self.dir.path().join("github-output")).unwrap();
        let mut outputs = HashMap::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if let Some((name, delimiter)) = line.split_once("<<") {
                let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
                outputs.insert(name.to_owned(), value.join("\n"));
            } else if let Some((name, value)) = line.split_once('=') {
                outputs.insert(name.to_owned(), value.to_owned());
            }
        }
        outputs
    }
}

#[test]
fn install_none_puts_the_projects_leakcheck_on_the_path() {
    let runner = Runner::new();
    let out = runner.step("install.sh", &[("INSTALL", "none")]);
    assert!(out.status.success(), "{}", text(&out));
    let added = std::fs::read_to_string(runner.dir.path().join("github-path")).unwrap();
    assert_eq!(added.trim_end(), runner.bin.to_str().unwrap());
    assert!(common::stdout(&out).starts_with(&format!("leakcheck {}", env!("CARGO_PKG_VERSION"))));

    let out = runner.step("install.sh", &[("INSTALL", "brew")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(common::stdout(&out).contains("install must be npm, release or none, not `brew`"));
}

#[test]
fn run_passes_the_inputs_on_and_records_the_exit_status_and_the_files() {
    require_node!();
    let runner = Runner::new();
    let spec = common::spec("ignored");
    let tag = common::unique_tag("action");
    let out = runner.step(
        "run.sh",
        &[
            ("SPEC", spec.to_str().unwrap()),
            ("JUNIT", "reports/leakcheck.xml"),
            ("JSON", "reports/leakcheck.json"),
            ("SHARD", "1/1"),
            ("ARGS", "--include-ignored --route stock --route ping"),
            (common::TAG_VAR, &tag),
        ],
    );
    common::assert_nothing_left(&tag, "the action's run step");
    // The step itself succeeds: the last step of action.yml fails the job, after the upload.
    assert!(out.status.success(), "{}", text(&out));
    let said = format!(
        "leakcheck run --spec {} --junit reports/leakcheck.xml --json reports/leakcheck.json \
         --shard 1/1 --include-ignored --route stock --route ping\n",
        spec.display()
    );
    assert!(common::stdout(&out).starts_with(&said), "{}", text(&out));

    let outputs = runner.outputs();
    // stock leaks (and is run: --include-ignored): exit status 1.
    assert_eq!(outputs["exit-code"], "1", "{}", text(&out));
    assert_eq!(outputs["artifact-name"], "leakcheck-shard-1-of-1");
    let dir = runner.dir.path().canonicalize().unwrap();
    let json = dir.join("reports/leakcheck.json");
    assert_eq!(outputs["json"], json.to_str().unwrap());
    let paths: Vec<&str> = outputs["paths"].lines().collect();
    let expected = [dir.join("reports/leakcheck.xml"), json, dir.join("leakcheck-snapshots")];
    assert_eq!(paths, expected.iter().map(|p| p.to_str().unwrap()).collect::<Vec<_>>());
    assert!(dir.join("leakcheck-snapshots/shop-api/stock/s0.heapsnapshot").is_file());
}

#[test]
fn run_passes_html_only_when_asked_and_names_the_default_artifact() {
    let runner = Runner::new();
    let missing = runner.dir.path().join("missing.toml");
    let missing = missing.to_str().unwrap();
    let out = runner.step("run.sh", &[("SPEC", missing), ("HTML", "report.html")]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        common::stdout(&out)
            .starts_with(&format!("leakcheck run --spec {missing} --html report.html\n")),
        "{}",
        text(&out)
    );
    let outputs = runner.outputs();
    assert_eq!(outputs["exit-code"], "2", "a spec that is not there\n{}", text(&out));
    assert_eq!(outputs["artifact-name"], "leakcheck-reports");
    assert_eq!(outputs["paths"], "");
    assert_eq!(outputs["json"], "");

    std::fs::remove_file(runner.dir.path().join("github-output")).unwrap();
    let out = runner.step("run.sh", &[("SPEC", missing), ("JSON", "")]);
    assert!(common::stdout(&out).starts_with(&format!("leakcheck run --spec {missing}\n")));
    assert!(!common::stdout(&out).contains("--html"));
}
