//! The npm packages, as a user gets them: `scripts/npm-pack.sh` builds the tarballs (from the
//! binary these tests already built, so no release build here), a fresh npm project installs
//! them **offline** from the tarball files, and `npx leakcheck` then runs a fixture spec with
//! the expected verdict and exit status, prints the crate's version, and passes SIGTERM on to
//! leakcheck. Also runs the launcher's own unit tests (`npm/test/`) and checks that the release
//! workflow builds every platform the launcher knows.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn npm_available() -> bool {
    Command::new("npm").arg("--version").output().is_ok_and(|o| o.status.success())
}

fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The platform keys of the launcher's table, read through Node from the table itself.
fn platform_rows() -> Vec<(String, String)> {
    let out = Command::new("node")
        .arg("-e")
        .arg("for (const p of require(process.argv[1]).PLATFORMS) console.log(p.key, p.target)")
        .arg(root().join("npm/leakcheck/lib/platforms.js"))
        .output()
        .expect("node starts");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (key, target) = l.split_once(' ').unwrap();
            (key.to_owned(), target.to_owned())
        })
        .collect()
}

#[test]
fn launcher_unit_tests_pass() {
    require_node!();
    let out = Command::new("node")
        .args(["--test", "npm/test/"])
        .current_dir(root())
        .output()
        .expect("node starts");
    assert!(out.status.success(), "node --test npm/test/ failed:\n{}", text(&out));
}

#[test]
fn the_release_workflow_builds_every_platform_of_the_launcher() {
    require_node!();
    let workflow = std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    for (key, target) in platform_rows() {
        let row = format!("{{ key: {key}, target: {target}");
        assert!(workflow.contains(&row), "release.yml has no matrix row `{row}, ... }}`");
    }
}

/// A fresh npm project with the packages installed from the tarballs, offline. Made once
/// for the tests of this file, which run in their own subdirectories of it at once.
struct Project {
    dir: PathBuf,
    platform: String,
}

static PROJECT: OnceLock<Project> = OnceLock::new();

/// The shared project, made on first use. Under `CARGO_TARGET_TMPDIR` (target/tmp), replaced
/// on each run of these tests.
fn project() -> &'static Project {
    PROJECT.get_or_init(install)
}

impl Project {
    /// A fresh working directory for one test, inside the project.
    fn workdir(&self, name: &str) -> PathBuf {
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `npx --offline leakcheck`, run in `cwd` (inside the project, so npx finds it).
    fn npx(&self, cwd: &Path) -> Command {
        let mut cmd = Command::new("npx");
        cmd.current_dir(cwd)
            .arg("--offline")
            .arg("leakcheck")
            .env("npm_config_cache", self.dir.join(".npm-cache"))
            .env("npm_config_update_notifier", "false")
            .env("NO_COLOR", "1")
            .env("CI", "1");
        cmd
    }

    /// The launcher npm links into node_modules/.bin, without npx in between.
    fn bin(&self) -> PathBuf {
        self.dir.join("node_modules/.bin/leakcheck")
    }
}

/// `scripts/npm-pack.sh --binary <this build's leakcheck, stripped>` into a temporary
/// directory, then `npm install --offline` of both tarballs into a fresh project. The debug
/// binary is ~100 MB with its debug info; stripped (when `strip` is there) it packs and
/// unpacks in a fraction of the time.
fn install() -> Project {
    let work = tempfile::Builder::new().prefix("leakcheck-npm-").tempdir().unwrap();
    let binary = work.path().join("leakcheck");
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&binary)
        .arg(env!("CARGO_BIN_EXE_leakcheck"))
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(env!("CARGO_BIN_EXE_leakcheck"), &binary).unwrap();
    }
    let tarballs = work.path().join("tarballs");
    let out = Command::new("bash")
        .arg(root().join("scripts/npm-pack.sh"))
        .arg("--binary")
        .arg(&binary)
        .arg(&tarballs)
        .output()
        .expect("bash starts");
    assert!(out.status.success(), "scripts/npm-pack.sh failed:\n{}", text(&out));
    let paths: Vec<PathBuf> =
        String::from_utf8(out.stdout.clone()).unwrap().lines().map(PathBuf::from).collect();
    assert_eq!(paths.len(), 2, "one platform and one launcher tarball:\n{}", text(&out));
    let main = tarballs.join(format!("leakcheck-{VERSION}.tgz"));
    assert!(paths.contains(&main), "no {}:\n{}", main.display(), text(&out));
    let platform_tgz = paths.iter().find(|p| **p != main).unwrap();
    let platform = platform_tgz
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("leakcheck-"))
        .and_then(|n| n.strip_suffix(&format!("-{VERSION}.tgz")))
        .unwrap_or_else(|| panic!("unexpected tarball name {}", platform_tgz.display()))
        .to_owned();

    let project = Path::new(env!("CARGO_TARGET_TMPDIR")).join("npm-package");
    if project.exists() {
        std::fs::remove_dir_all(&project).unwrap();
    }
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        r#"{ "name": "shop", "version": "1.0.0", "private": true }"#,
    )
    .unwrap();
    // Both tarballs by path: the platform package cannot come from a registry offline, and
    // the launcher's optionalDependencies edge to it is then met by the installed one.
    let out = Command::new("npm")
        .current_dir(&project)
        .args(["install", "--offline", "--no-audit", "--no-fund", "--save-dev"])
        .arg(&main)
        .arg(platform_tgz)
        .env("npm_config_cache", project.join(".npm-cache"))
        .env("npm_config_update_notifier", "false")
        .output()
        .expect("npm starts");
    assert!(out.status.success(), "npm install --offline of the tarballs failed:\n{}", text(&out));
    drop(work);

    let manifest = |path: &str| -> serde_json::Value {
        let file = project.join("node_modules").join(path).join("package.json");
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
    };
    let launcher = manifest("leakcheck");
    assert_eq!(launcher["version"], VERSION);
    let optional = launcher["optionalDependencies"].as_object().unwrap();
    assert_eq!(optional.len(), platform_rows().len(), "{launcher:#}");
    assert!(optional.values().all(|v| v == VERSION), "{launcher:#}");
    let installed = manifest(&format!("@leakcheck/{platform}"));
    assert_eq!(installed["version"], VERSION);
    assert!(installed["os"].is_array() && installed["cpu"].is_array(), "{installed:#}");
    Project { dir: project, platform }
}

#[test]
fn npx_leakcheck_from_the_tarballs_runs_a_spec_offline() {
    require_node!();
    if !npm_available() {
        eprintln!("skipped: npm is not on the PATH");
        return;
    }
    let project = project();
    assert!(project.platform.starts_with(std::env::consts::OS), "{}", project.platform);
    let dir = project.workdir("run");

    let out = project.npx(&dir).arg("--version").output().expect("npx starts");
    assert_eq!(common::code(&out), 0, "{}", text(&out));
    assert_eq!(common::stdout(&out), format!("leakcheck {VERSION}\n"));

    // Exit status 2 passes through: the tool could not do its job.
    let out = project.npx(&dir).args(["run", "--spec", "missing.toml"]).output().unwrap();
    assert_eq!(common::code(&out), 2, "{}", text(&out));
    assert!(common::stderr(&out).contains("`missing.toml` is not a valid spec"), "{}", text(&out));

    // A real run: exit status 1, the verdicts of tests/fixtures/specs/report.toml.
    let tag = common::unique_tag("npm");
    let out = project
        .npx(&dir)
        .env(common::TAG_VAR, &tag)
        .args(["run", "--spec"])
        .arg(common::spec("report"))
        .args(["--json", "report.json", "--junit", "report.xml"])
        .output()
        .unwrap();
    common::assert_nothing_left(&tag, "npx leakcheck run");
    assert_eq!(common::code(&out), 1, "a route leaks\n{}", text(&out));
    let (json, junit) = common::read_reports(&dir);
    let json = json.unwrap_or_else(|| panic!("no report.json\n{}", text(&out)));
    let outcome = |route: &str| common::route_of(&json, "ai-gateway", route)["outcome"].clone();
    assert_eq!(outcome("chat-stream"), "pass", "{}", text(&out));
    assert_eq!(outcome("access-log"), "fail", "{}", text(&out));
    assert!(junit.is_some_and(|j| j.contains("<testsuite")));
    let kept = dir.join("leakcheck-snapshots/ai-gateway/access-log");
    assert!(kept.join("s0.heapsnapshot").is_file(), "the failing route's snapshots are kept");
}

/// Runs `node_modules/.bin/leakcheck run --spec report.toml` (the launcher, without npx) in
/// its own process group, calls `deliver` with the launcher's pid once the second route is
/// under load, and returns the exit status, the partial JSON report and the output.
fn interrupted_run(
    name: &str,
    deliver: impl FnOnce(u32),
) -> (Option<i32>, serde_json::Value, String) {
    let project = project();
    let dir = project.workdir(name);
    let tag = common::unique_tag(name);
    let mut child = Command::new(project.bin())
        .current_dir(&dir)
        .process_group(0)
        .env(common::TAG_VAR, &tag)
        .env("CI", "1")
        .env("NO_COLOR", "1")
        .args(["run", "--spec"])
        .arg(common::spec("report"))
        .args(["--json", "report.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the launcher starts");
    let (lines, stdout) = common::capture_output(&mut child);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains("ai-gateway › access-log: warm-up");
                seen.push(line);
                if found {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                common::assert_nothing_left(&tag, "the launcher killed");
                panic!("the run never reached access-log; stderr:\n{}", seen.join("\n"));
            }
        }
    }
    deliver(child.id());
    let status = child.wait().unwrap();
    let stdout = stdout.join().unwrap();
    seen.extend(lines.try_iter());
    let context = format!("{status}\n--- stdout\n{stdout}--- stderr\n{}", seen.join("\n"));
    common::assert_nothing_left(&tag, &format!("{name}: after the signal"));
    let (json, _) = common::read_reports(&dir);
    let json = json.unwrap_or_else(|| panic!("no partial report\n{context}"));
    assert_eq!(
        common::route_of(&json, "ai-gateway", "chat-stream")["outcome"],
        "pass",
        "{context}"
    );
    (status.code(), json, context)
}

#[test]
fn the_npm_launcher_passes_sigterm_on_and_exits_as_leakcheck_did() {
    require_node!();
    if !npm_available() {
        eprintln!("skipped: npm is not on the PATH");
        return;
    }
    // SIGTERM to the launcher alone, as a CI runner cancelling a job sends it: leakcheck
    // hears of it only through the launcher, stops its target, writes the partial report and
    // exits 143; the launcher exits with that status.
    let (code, json, context) = interrupted_run("sigterm", |pid| {
        kill(Pid::from_raw(pid as i32), Signal::SIGTERM).unwrap();
    });
    assert_eq!(code, Some(143), "{context}");
    assert!(json["interrupted"].as_str().unwrap_or_default().contains("SIGTERM"), "{json:#}");
}

#[test]
fn ctrl_c_through_the_npm_launcher_stops_leakcheck_once() {
    require_node!();
    if !npm_available() {
        eprintln!("skipped: npm is not on the PATH");
        return;
    }
    // A terminal's Ctrl-C: SIGINT to the whole foreground group, so leakcheck gets it from
    // the terminal and again from the launcher. That is one request, not a second one that
    // would make it exit at once without its report.
    let (code, json, context) = interrupted_run("ctrl-c", |pid| {
        killpg(Pid::from_raw(pid as i32), Signal::SIGINT).unwrap();
    });
    assert_eq!(code, Some(130), "{context}");
    assert!(json["interrupted"].as_str().unwrap_or_default().contains("SIGINT"), "{json:#}");
}
