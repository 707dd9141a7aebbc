//! Your own load: `load = { command = [...] }` runs a program (autocannon, k6, a script) for
//! the warm-up and for each rung, with `{requests}` and `{url}` (and `{port}`) filled in and
//! `LEAKCHECK_REQUESTS` / `LEAKCHECK_URL` in its environment. leakcheck trusts it to send
//! that many iterations; its exit status and the tail of its output are reported, and a
//! non-zero exit fails the route.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::LoadStats;

/// Lines of output kept.
const TAIL_LINES: usize = 20;

pub use crate::model::CommandRun;

/// Fills `{requests}`, `{url}` and `{port}` in each argument.
pub fn fill(argv: &[String], requests: u64, url: &str, port: u16) -> Vec<String> {
    argv.iter()
        .map(|a| {
            a.replace("{requests}", &requests.to_string())
                .replace("{url}", url)
                .replace("{port}", &port.to_string())
        })
        .collect()
}

/// Runs the command for `requests` iterations against `url`, in `cwd`; ends it early (killed)
/// when `stop` resolves. The statistics count `requests` sent, and all answered when it
/// exits with status 0.
pub async fn run(
    argv: &[String],
    requests: u64,
    url: &str,
    port: u16,
    cwd: &Path,
    stop: impl std::future::Future<Output = ()>,
) -> (LoadStats, bool) {
    let started = Instant::now();
    let argv = fill(argv, requests, url, port);
    let mut stats = LoadStats { sent: requests, ..LoadStats::default() };
    let mut child = match tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(cwd)
        .env("LEAKCHECK_REQUESTS", requests.to_string())
        .env("LEAKCHECK_URL", url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            stats.transport_errors = requests;
            stats.first_error =
                Some(format!("could not start the load command `{}`: {e}", argv[0]));
            stats.command =
                Some(CommandRun { argv, exit: "did not start".into(), ..CommandRun::default() });
            stats.elapsed = started.elapsed();
            return (stats, false);
        }
    };
    let (mut out, mut err) =
        (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let output = std::sync::Mutex::new(Vec::<u8>::new());
    let pump = |mut pipe: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
        let output = &output;
        async move {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = pipe.read(&mut buf).await {
                let mut all = output.lock().expect("not poisoned");
                all.extend_from_slice(&buf[..n]);
                // Keep the tail only: the last 64 KiB hold far more than 20 lines.
                if all.len() > 128 << 10 {
                    let cut = all.len() - (64 << 10);
                    all.drain(..cut);
                }
            }
        }
    };
    let finished = async {
        let (_, _, status) =
            tokio::join!(pump(Box::new(&mut out)), pump(Box::new(&mut err)), child.wait());
        status
    };
    let (status, stopped) = tokio::select! {
        status = finished => (status.ok(), false),
        () = stop => (None, true),
    };
    if stopped {
        if let Some(pid) = child.id() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
    }
    let text = String::from_utf8_lossy(&output.lock().expect("not poisoned")).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let output_tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    let (exit, success) = match status {
        Some(s) if s.success() => ("exited with status 0".to_owned(), true),
        Some(s) => (describe(s), false),
        None if stopped => ("killed: the run was stopped".to_owned(), false),
        None => ("its status could not be read".to_owned(), false),
    };
    if success {
        stats.ok = requests;
    } else {
        stats.transport_errors = requests;
        stats.first_error = Some(format!("the load command {exit}"));
    }
    stats.command = Some(CommandRun { argv, exit, success, output_tail });
    stats.elapsed = started.elapsed();
    (stats, stopped)
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => format!("ended ({status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_with_the_count_and_url_and_keeps_the_tail() {
        let argv: Vec<String> =
            ["sh", "-c", "echo n=$LEAKCHECK_REQUESTS u=$LEAKCHECK_URL a={requests}; exit 3"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let (stats, stopped) =
            run(&argv, 7, "http://127.0.0.1:1", 1, Path::new("."), std::future::pending()).await;
        assert!(!stopped);
        let run = stats.command.unwrap();
        assert_eq!(run.exit, "exited with status 3");
        assert!(!run.success);
        assert_eq!(run.output_tail, "n=7 u=http://127.0.0.1:1 a=7");
        assert_eq!((stats.sent, stats.ok), (7, 0));
    }
}
