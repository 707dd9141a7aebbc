//! `wrangler dev`, run fully offline: local mode on loopback at the port leakcheck chose, its
//! inspector proxy at another, no metrics, error reports, banner (whose update check goes to
//! the npm registry) or `Request.cf` fetch. Ready once it prints `Ready on http://…`.
//!
//! Wrangler runs a proxy workerd (serving the port and the inspector) and the runtime workerd;
//! leakcheck talks only to the proxy's inspector (`ws://127.0.0.1:PORT/ws`): a second session
//! on the runtime's own inspector would disconnect the proxy's. The proxy injects its own CDP
//! calls (ids from 100,000,001) and forwards their replies; [`crate::inspector`] ignores ids
//! it did not send.

use tokio::time::Instant;

use super::runtime;
use super::{
    LaunchSpec, MIN_INSPECTOR_WAIT, Target, TargetError, exited, free_port, wait_ready, with_tail,
};

/// Environment that keeps wrangler off the network and quiet. Wrangler reads the first three
/// (`getEnvironmentVariableFactory` in wrangler-dist/cli.js); miniflare reads
/// `CLOUDFLARE_CF_FETCH_ENABLED` (else it tries workers.cloudflare.com for `Request.cf`).
pub const OFFLINE_ENV: &[(&str, &str)] = &[
    ("WRANGLER_SEND_METRICS", "false"),
    ("WRANGLER_SEND_ERROR_REPORTS", "false"),
    // The banner is where wrangler checks the registry for a newer version.
    ("WRANGLER_HIDE_BANNER", "true"),
    ("CLOUDFLARE_CF_FETCH_ENABLED", "false"),
    // Non-interactive: no prompts, no hotkeys, no port probing.
    ("CI", "true"),
    ("FORCE_COLOR", "0"),
];

/// The arguments after `wrangler` (or the user's command): `dev` unless the command has its
/// own, then local mode on loopback at `port` with the inspector at `inspector_port`.
fn dev_args(rest: &[String], port: u16, inspector_port: u16) -> Vec<String> {
    let mut args: Vec<String> = if rest.is_empty() { vec!["dev".into()] } else { rest.to_vec() };
    for arg in [
        "--local",
        "--ip",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--inspector-ip",
        "127.0.0.1",
        "--inspector-port",
        &inspector_port.to_string(),
        "--show-interactive-dev-session=false",
    ] {
        args.push(arg.to_owned());
    }
    args
}

/// Starts `wrangler dev` for `spec` (`argv` empty: `wrangler dev` from `node_modules`; else
/// the user's command, to which the flags are appended) and returns once its worker serves
/// requests and the inspector proxy lists it.
pub async fn launch_wrangler(spec: &LaunchSpec) -> Result<Target, TargetError> {
    let name = spec.name.clone();
    let (program, rest) = match spec.argv.split_first() {
        Some((program, rest)) => (runtime::resolve_bare(program, &spec.cwd), rest.to_vec()),
        None => match runtime::find_in_node_modules(&spec.cwd, &[".bin/wrangler"]) {
            Some(path) => (path.to_string_lossy().into_owned(), Vec::new()),
            None if runtime::on_path("wrangler") => ("wrangler".to_owned(), Vec::new()),
            None => {
                return Err(TargetError::RuntimeNotFound {
                    name,
                    what: format!(
                        "wrangler not found in the node_modules of {} or its parent folders, nor on the PATH (install it with `npm install --save-dev wrangler`, or give the command in `command`)",
                        spec.cwd.display()
                    ),
                });
            }
        },
    };
    let inspector_port = free_port().map_err(|source| TargetError::Spawn {
        name: name.clone(),
        program: program.clone(),
        source,
    })?;
    let args = dev_args(&rest, spec.port, inspector_port);
    let extra: Vec<(String, String)> =
        OFFLINE_ENV.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let (mut target, _announced) = super::spawn(spec, &program, &args, &extra, None)?;

    let deadline = Instant::now() + spec.ready_timeout;
    let announced = async {
        loop {
            let ready =
                |t: &super::SharedTail| t.lock().unwrap_or_else(|e| e.into_inner()).wrangler_ready;
            if ready(&target.stdout) || ready(&target.stderr) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    let waited = tokio::select! {
        () = announced => Ok(()),
        status = target.child.wait() => Err(exited(&mut target, status)),
        _ = tokio::time::sleep_until(deadline) => Err(TargetError::NeverReady {
            name: name.clone(),
            after: spec.ready_timeout,
            polled: "waited for wrangler's `Ready on http://…` line".into(),
            stderr_tail: String::new(),
        }),
    };
    if let Err(e) = waited {
        target.kill().await;
        return Err(with_tail(e, &target));
    }
    if let Err(e) = wait_ready(&mut target, spec, deadline).await {
        target.kill().await;
        return Err(with_tail(e, &target));
    }
    let wait = deadline.saturating_duration_since(Instant::now()).max(MIN_INSPECTOR_WAIT);
    match runtime::json_list(inspector_port, Instant::now() + wait).await {
        // The proxy lists one target, the user's worker.
        Ok(listed) => {
            target.inspector_url = listed[0].url.clone();
            Ok(target)
        }
        Err(message) => {
            target.kill().await;
            Err(with_tail(
                TargetError::WorkerInspector {
                    name,
                    message: format!(
                        "wrangler's inspector proxy did not list the worker: {message}"
                    ),
                    stderr_tail: String::new(),
                },
                &target,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_runs_local_on_loopback_with_the_chosen_ports() {
        let args = dev_args(&[], 8787, 9229);
        assert_eq!(args[0], "dev");
        let joined = args.join(" ");
        assert!(joined.contains("--local --ip 127.0.0.1 --port 8787"), "{joined}");
        assert!(joined.contains("--inspector-ip 127.0.0.1 --inspector-port 9229"), "{joined}");
        assert!(joined.ends_with("--show-interactive-dev-session=false"), "{joined}");
        let own = dev_args(&["dev".into(), "-c".into(), "wrangler.staging.toml".into()], 1, 2);
        assert_eq!(&own[..3], ["dev", "-c", "wrangler.staging.toml"]);
    }
}
