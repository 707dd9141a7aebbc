//! `kill_all_targets` and the signal handlers, in a test binary of their own: they act on
//! every target of the process, so they must not share one with other tests.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use leakcheck::launch::{
    LaunchSpec, Readiness, StopSignal, free_port, install_signal_handlers, kill_all_targets,
    launch, live_target_groups,
};

fn spec(name: &str) -> LaunchSpec {
    let port = free_port().unwrap();
    LaunchSpec {
        name: name.into(),
        argv: vec!["node".into(), "server.js".into()],
        cwd: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/target"),
        env: vec![("PORT".into(), port.to_string()), ("SPAWN_CHILD".into(), "1".into())],
        port,
        url: format!("http://127.0.0.1:{port}"),
        ready: Readiness::Http("/health".into()),
        ready_timeout: Duration::from_secs(20),
        shutdown_timeout: Duration::from_secs(5),
    }
}

/// True while process group `pgid` has a process that is not a zombie.
fn group_alive(pgid: u32) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().collect();
        fields[2].parse() == Ok(pgid) && !matches!(fields[0], "Z" | "X")
    })
}

async fn wait_gone(pgids: &[u32]) {
    let start = Instant::now();
    while pgids.iter().any(|&g| group_alive(g)) {
        assert!(start.elapsed() < Duration::from_secs(3), "groups {pgids:?} still alive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn kill_all_and_the_signal_handlers_end_every_group() {
    if std::process::Command::new("node").arg("--version").output().is_err() {
        return eprintln!("skipped: node is not on the PATH");
    }
    // kill_all_targets: two targets, each with a helper child.
    let (spec_a, spec_b) = (spec("a"), spec("b"));
    let (a, b) = tokio::join!(launch(&spec_a), launch(&spec_b));
    let (a, b) = (a.unwrap(), b.unwrap());
    let groups = [a.pid(), b.pid()];
    let mut live = live_target_groups();
    live.sort();
    let mut expected = groups.to_vec();
    expected.sort();
    assert_eq!(live, expected);
    assert_eq!(kill_all_targets(), 2);
    wait_gone(&groups).await;
    // The targets are still valid and shut down cleanly, reporting the kill.
    for target in [a, b] {
        let report = target.shutdown().await;
        assert!(report.survivors.is_empty(), "{report}");
        let signal = report.status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s));
        assert_eq!(signal, Some(9), "{report}");
    }
    assert!(live_target_groups().is_empty());

    // SIGTERM to this process, with the handlers installed: the groups die, the caller is told,
    // and the test process itself lives on.
    let mut stop = install_signal_handlers().unwrap();
    assert_eq!(stop.get(), None);
    let c = launch(&spec("c")).await.unwrap();
    let pgid = c.pid();
    nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGTERM).unwrap();
    let signal = tokio::time::timeout(Duration::from_secs(5), stop.received()).await.unwrap();
    assert_eq!(signal, StopSignal::Terminate);
    assert_eq!(signal.exit_code(), 143);
    assert_eq!(stop.get(), Some(StopSignal::Terminate));
    // received() resolves again at once for a late waiter.
    assert_eq!(stop.clone().received().await, StopSignal::Terminate);
    wait_gone(&[pgid]).await;
    drop(c);
}
