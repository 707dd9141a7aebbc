//! Node specifics: how the inspector is switched on (a flag after `node`, or `NODE_OPTIONS`
//! for wrappers such as `npm start`), and which of several inspectors belongs to the process
//! that serves the port.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{Candidate, TargetError, procfs};
use crate::inspector::Inspector;

/// Loopback only, and port 0: the kernel picks a free port, and Node prints it.
pub(crate) const INSPECT_FLAG: &str = "--inspect=127.0.0.1:0";

/// How long to wait for a candidate's `process.pid`.
const ASK_TIMEOUT: Duration = Duration::from_secs(3);

/// True when `program` is Node itself (`node`, `/usr/bin/node`), so the flag can go on its
/// command line.
pub(crate) fn is_node(program: &str) -> bool {
    program == "node" || program.ends_with("/node")
}

/// The arguments to run and, for a wrapper, the `NODE_OPTIONS` value to set: `existing` (from
/// the spec's env, else leakcheck's own environment) with the inspect flag appended, so every
/// Node process of the tree starts an inspector.
pub(crate) fn with_inspector(
    argv: &[String],
    existing: Option<&str>,
) -> (Vec<String>, Option<String>) {
    if is_node(&argv[0]) {
        let mut args = Vec::with_capacity(argv.len());
        args.push(INSPECT_FLAG.to_owned());
        args.extend_from_slice(&argv[1..]);
        (args, None)
    } else {
        let options = match existing.map(str::trim) {
            Some(existing) if !existing.is_empty() => format!("{existing} {INSPECT_FLAG}"),
            _ => INSPECT_FLAG.to_owned(),
        };
        (argv[1..].to_vec(), Some(options))
    }
}

/// Asks the inspector at `url` for its process id (connect, evaluate, disconnect).
async fn ask_pid(url: &str) -> Result<u32, String> {
    let inspector = Inspector::connect(url, ASK_TIMEOUT).await.map_err(|e| e.to_string())?;
    let pid = inspector.evaluate("process.pid", ASK_TIMEOUT).await;
    inspector.close().await;
    let pid = pid.map_err(|e| e.to_string())?;
    pid.as_u64().and_then(|p| u32::try_from(p).ok()).ok_or_else(|| format!("process.pid is {pid}"))
}

/// Picks the inspector of the target, once the target is ready.
///
/// - Launched as `node …` (`direct`), with a single inspector announced: that one, without
///   asking anything.
/// - Otherwise: the processes listening on `port` are looked up in `/proc`, every announced
///   inspector is asked for its `process.pid`, and the one whose pid listens wins. Inspectors
///   announced later (the server's line may still be in the pipe) are asked as they come.
/// - When `/proc` shows no listener (not Linux, or the socket belongs to a process leakcheck
///   may not inspect) and exactly one inspector was announced, that one.
/// - When nothing matches by `deadline`: [`TargetError::NoInspector`] if no inspector was
///   announced at all, else [`TargetError::InspectorNotFound`] listing every candidate with
///   its pid (or why it could not be asked) and the listening pids, so the user can see, for
///   instance, that the server is not a Node process or was started with `--inspect` of its
///   own.
///
/// Returns the URL and, when known, the pid behind it.
pub(crate) async fn choose_inspector(
    name: &str,
    mut announced: watch::Receiver<Vec<String>>,
    port: u16,
    direct: bool,
    deadline: Instant,
    wait: Duration,
) -> Result<(String, Option<u32>), TargetError> {
    let mut asked: HashMap<String, Result<u32, String>> = HashMap::new();
    let mut listeners = Vec::new();
    let mut stream_open = true;
    loop {
        let candidates = announced.borrow_and_update().clone();
        if direct && candidates.len() == 1 {
            return Ok((candidates[0].clone(), None));
        }
        if !candidates.is_empty() {
            listeners = procfs::listening_pids(port);
            for url in &candidates {
                if !asked.contains_key(url) {
                    asked.insert(url.clone(), ask_pid(url).await);
                }
            }
            let matching = candidates
                .iter()
                .find(|url| matches!(asked[*url], Ok(pid) if listeners.contains(&pid)));
            if let Some(url) = matching {
                return Ok((url.clone(), asked[url].as_ref().ok().copied()));
            }
            if listeners.is_empty() && candidates.len() == 1 {
                return Ok((candidates[0].clone(), asked[&candidates[0]].clone().ok()));
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::select! {
            changed = announced.changed(), if stream_open => {
                // stderr closed: no new inspector can be announced; still wait for the
                // listener in /proc until the deadline, polling.
                stream_open = changed.is_ok();
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
    let candidates = announced.borrow().clone();
    if candidates.is_empty() {
        return Err(TargetError::NoInspector {
            name: name.to_owned(),
            after: wait,
            stderr_tail: String::new(),
        });
    }
    Err(TargetError::InspectorNotFound {
        name: name.to_owned(),
        port,
        listeners,
        candidates: candidates
            .into_iter()
            .map(|url| {
                let pid = asked.remove(&url).unwrap_or_else(|| Err("not asked".into()));
                Candidate { url, pid }
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn node_gets_the_flag_after_it() {
        let (args, options) = with_inspector(&argv(&["node", "server.js", "--x"]), Some("--a"));
        assert_eq!(args, ["--inspect=127.0.0.1:0", "server.js", "--x"]);
        assert_eq!(options, None);
        let (args, _) = with_inspector(&argv(&["/usr/local/bin/node", "s.js"]), None);
        assert_eq!(args, ["--inspect=127.0.0.1:0", "s.js"]);
    }

    #[test]
    fn wrappers_get_node_options_appended() {
        let (args, options) = with_inspector(&argv(&["npm", "start"]), None);
        assert_eq!(args, ["start"]);
        assert_eq!(options.as_deref(), Some("--inspect=127.0.0.1:0"));
        let (_, options) =
            with_inspector(&argv(&["npx", "tsx", "s.ts"]), Some(" --max-old-space-size=512 "));
        assert_eq!(options.as_deref(), Some("--max-old-space-size=512 --inspect=127.0.0.1:0"));
        assert!(!is_node("nodemon"));
        assert!(!is_node("./node_modules/.bin/tsx"));
    }
}
