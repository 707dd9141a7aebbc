//! `leakcheck::launch` against real Node processes (tests/fixtures/target): readiness, startup
//! failures, the inspector of wrapped commands, and that no process of a target survives.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use leakcheck::inspector::Inspector;
use leakcheck::launch::{Ending, LaunchSpec, Readiness, Target, TargetError, free_port, launch};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/target")
}

fn node_available() -> bool {
    std::process::Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success())
}

macro_rules! require {
    ($program:literal) => {
        if std::process::Command::new($program).arg("--version").output().is_err() {
            eprintln!("skipped: `{}` is not on the PATH", $program);
            return;
        }
    };
}

fn spec(name: &str, argv: &[&str], ready: Readiness) -> LaunchSpec {
    let port = free_port().unwrap();
    LaunchSpec {
        name: name.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        cwd: fixtures(),
        env: vec![("PORT".into(), port.to_string())],
        port,
        url: format!("http://127.0.0.1:{port}/"),
        ready,
        ready_timeout: Duration::from_secs(20),
        shutdown_timeout: Duration::from_secs(5),
    }
}

fn health() -> Readiness {
    Readiness::Http("/health".into())
}

/// Live (not zombie) processes of process group `pgid`, read from `/proc`.
fn group_members(pgid: u32) -> Vec<u32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().collect();
        if fields[2].parse() == Ok(pgid) && !matches!(fields[0], "Z" | "X") {
            members.push(pid);
        }
    }
    members
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !matches!(stat[stat.rfind(')').unwrap() + 2..].chars().next(), Some('Z' | 'X'))
    })
}

/// Waits up to 3 s for a group to disappear (SIGKILL is asynchronous), then asserts.
async fn assert_group_gone(pgid: u32) {
    let start = Instant::now();
    while !group_members(pgid).is_empty() && start.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(group_members(pgid), Vec::<u32>::new(), "processes of group {pgid} remain");
}

async fn get(target: &Target, path: &str) -> String {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    client.get(format!("{}{path}", target.base_url())).send().await.unwrap().text().await.unwrap()
}

async fn inspected_process_pid(target: &Target) -> u32 {
    let inspector =
        Inspector::connect(target.inspector_url(), Duration::from_secs(5)).await.unwrap();
    let pid = inspector.evaluate("process.pid", Duration::from_secs(5)).await.unwrap();
    inspector.close().await;
    pid.as_u64().unwrap() as u32
}

#[tokio::test]
async fn ready_via_http_path_and_clean_shutdown() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    let spec = spec("api", &["node", "server.js"], health());
    let target = launch(&spec).await.unwrap();
    assert!(target.inspector_url().starts_with("ws://127.0.0.1:"), "{}", target.inspector_url());
    assert_eq!(target.base_url(), format!("http://127.0.0.1:{}", spec.port));
    assert_eq!(get(&target, "/health").await, "ok");
    // Launched as `node …`, the inspector is the one of the process we started.
    assert_eq!(inspected_process_pid(&target).await, target.pid());
    assert_eq!(get(&target, "/pid").await, target.pid().to_string());
    let pgid = target.pid();
    let report = target.shutdown().await;
    assert_eq!(report.ending, Ending::Terminated, "{report}");
    assert!(report.survivors.is_empty());
    assert!(report.stdout_tail.contains("listening on"), "{}", report.stdout_tail);
    assert!(report.stderr_tail.contains("Debugger listening on ws://127.0.0.1:"));
    assert_group_gone(pgid).await;
}

#[tokio::test]
async fn ready_via_port() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    let spec = spec("tcp", &["node", "tcp.js"], Readiness::Port);
    let target = launch(&spec).await.unwrap();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", spec.port)).await.unwrap();
    let mut hello = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut hello).await.unwrap();
    assert_eq!(hello, "hello\n");
    target.shutdown().await;
}

#[tokio::test]
async fn crash_at_startup_reports_status_and_stderr() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    let start = Instant::now();
    let err = launch(&spec("crashy", &["node", "crash.js"], health())).await.unwrap_err();
    // Fails as soon as the process exits, not at the ready timeout.
    assert!(start.elapsed() < Duration::from_secs(10));
    match &err {
        TargetError::ExitedBeforeReady { status, stderr_tail, .. } => {
            assert_eq!(status.code(), Some(3));
            assert!(stderr_tail.contains("cannot connect to postgres"), "{stderr_tail}");
        }
        other => panic!("unexpected error: {other}"),
    }
    let text = err.to_string();
    assert!(text.starts_with("start target `crashy`: it exited (exit status: 3)"), "{text}");
    assert!(
        text.ends_with(
            "; its stderr ends with: fatal: cannot connect to postgres://db:5432 (ECONNREFUSED)"
        ),
        "{text}"
    );
    assert!(!text.contains('\n'), "one line: {text}");
}

#[tokio::test]
async fn never_ready_times_out_and_leaves_no_process() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    let mut spec = spec("slow", &["node", "never_ready.js"], health());
    spec.ready_timeout = Duration::from_secs(3);
    let start = Instant::now();
    let err = launch(&spec).await.unwrap_err();
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_secs(3) && elapsed < Duration::from_secs(10), "{elapsed:?}");
    let TargetError::NeverReady { polled, stderr_tail, after, .. } = &err else {
        panic!("unexpected error: {err}");
    };
    assert_eq!(*after, Duration::from_secs(3));
    assert!(polled.contains("/health") && polled.contains("HTTP 503"), "{polled}");
    assert!(stderr_tail.contains("waiting for the cache"), "{stderr_tail}");
    // The group is gone: its pgid was the first process's pid, which the error does not
    // give, so look for the helper among all processes whose command line names the fixture.
    // Simpler and exact: no process with our unique PORT in its environment remains.
    let port = spec.port.to_string();
    let leftovers: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| alive(*pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|&b| b == 0).any(|kv| kv == format!("PORT={port}").as_bytes())
            })
        })
        .collect();
    assert!(leftovers.is_empty(), "processes of the failed target remain: {leftovers:?}");
}

#[tokio::test]
async fn command_not_found_names_it() {
    let err = launch(&spec("x", &["leakcheck-no-such-command", "a"], health())).await.unwrap_err();
    assert!(
        matches!(err, TargetError::CommandNotFound { ref program, .. } if program == "leakcheck-no-such-command")
    );
    assert!(err.to_string().contains("command `leakcheck-no-such-command` not found"), "{err}");
    let mut bad_cwd = spec("x", &["node"], health());
    bad_cwd.cwd = fixtures().join("no-such-dir");
    assert!(matches!(launch(&bad_cwd).await.unwrap_err(), TargetError::NoCwd { .. }));
}

#[tokio::test]
async fn shutdown_ends_the_whole_tree() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    let mut spec = spec("tree", &["node", "server.js"], health());
    spec.env.push(("SPAWN_CHILD".into(), "1".into()));
    let target = launch(&spec).await.unwrap();
    let helper: u32 = get(&target, "/child-pid").await.parse().unwrap();
    let pgid = target.pid();
    assert!(group_members(pgid).contains(&helper));
    let report = target.shutdown().await;
    assert!(report.survivors.is_empty(), "{report}");
    assert_group_gone(pgid).await;
    assert!(!alive(helper));
}

#[tokio::test]
async fn drop_kills_the_whole_tree() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    let mut spec = spec("dropped", &["node", "server.js"], health());
    spec.env.push(("SPAWN_CHILD".into(), "1".into()));
    let target = launch(&spec).await.unwrap();
    let helper: u32 = get(&target, "/child-pid").await.parse().unwrap();
    let pgid = target.pid();
    drop(target);
    assert_group_gone(pgid).await;
    assert!(!alive(helper));
}

#[tokio::test]
async fn sigterm_ignored_means_sigkill_after_the_timeout() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    let mut spec = spec("stubborn", &["node", "server.js"], health());
    spec.env.push(("IGNORE_TERM".into(), "1".into()));
    spec.shutdown_timeout = Duration::from_millis(300);
    let target = launch(&spec).await.unwrap();
    let pgid = target.pid();
    let report = target.shutdown().await;
    assert_eq!(report.ending, Ending::Killed, "{report}");
    assert_eq!(
        report.status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s)),
        Some(9)
    );
    assert!(report.elapsed >= Duration::from_millis(300));
    assert!(report.stderr_tail.contains("SIGTERM ignored"), "{}", report.stderr_tail);
    assert_group_gone(pgid).await;
}

#[tokio::test]
async fn exit_mid_run_is_seen_without_blocking() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    let mut target = launch(&spec("dies", &["node", "server.js"], health())).await.unwrap();
    assert_eq!(target.try_exit_status(), None);
    assert_eq!(get(&target, "/exit?code=7").await, "bye");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = target.try_exit_status() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "still running");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(status.code(), Some(7));
    let report = target.shutdown().await;
    assert_eq!(report.ending, Ending::AlreadyExited);
    assert_eq!(report.status.and_then(|s| s.code()), Some(7));
}

#[tokio::test]
async fn wrapper_through_node_options_picks_the_serving_process() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    // sh → node launcher.js → node server.js: two inspectors, only the second serves PORT.
    let target =
        launch(&spec("wrapped", &["sh", "-c", "node launcher.js"], health())).await.unwrap();
    let server_pid: u32 = get(&target, "/pid").await.parse().unwrap();
    assert_ne!(server_pid, target.pid());
    assert_eq!(target.inspected_pid(), Some(server_pid));
    assert_eq!(inspected_process_pid(&target).await, server_pid);
    let announced = target.stderr_tail().matches("Debugger listening on").count();
    assert_eq!(announced, 2, "{}", target.stderr_tail());
    let pgid = target.pid();
    target.shutdown().await;
    assert_group_gone(pgid).await;
}

#[tokio::test]
async fn npm_start_picks_the_server_not_npm() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    require!("npm");
    let mut spec = spec("npm", &["npm", "start", "--silent"], health());
    // npm must not reach the network or write outside the fixture.
    spec.env.push(("npm_config_update_notifier".into(), "false".into()));
    spec.env.push(("npm_config_fund".into(), "false".into()));
    let target = launch(&spec).await.unwrap();
    let server_pid: u32 = get(&target, "/pid").await.parse().unwrap();
    assert_eq!(target.inspected_pid(), Some(server_pid));
    assert_eq!(inspected_process_pid(&target).await, server_pid);
    let pgid = target.pid();
    let report = target.shutdown().await;
    assert!(report.survivors.is_empty(), "{report}");
    assert_group_gone(pgid).await;
}

#[tokio::test]
async fn no_inspector_is_a_clear_error() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    // The wrapper clears NODE_OPTIONS, so the server runs without an inspector.
    let mut spec = spec("blind", &["sh", "-c", "NODE_OPTIONS= exec node server.js"], health());
    spec.ready_timeout = Duration::from_secs(3);
    let start = Instant::now();
    let err = launch(&spec).await.unwrap_err();
    assert!(matches!(err, TargetError::NoInspector { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(err.to_string().contains("no inspector announced"), "{err}");
}
