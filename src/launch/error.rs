//! Why a target could not be started (or was lost), with what the user needs to act on it:
//! the stderr and stdout tails, the ports it listens on, the inspectors it could have been.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Bytes of stderr's last line shown in an error message (the error keeps the whole tail).
const LAST_LINE_SHOWN: usize = 300;

/// An inspector that could have been the target's, and its process id (or why it is unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The `ws://` URL from its `Debugger listening on` line.
    pub url: String,
    /// Its `process.pid`, or why that could not be asked.
    pub pid: Result<u32, String>,
}

/// Why a target could not be started. Every message reads after "failed to".
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The command is empty.
    #[error("start target `{name}`: the command is empty")]
    EmptyCommand {
        /// The target.
        name: String,
    },
    /// The working directory does not exist.
    #[error("start target `{name}`: working directory {} does not exist", cwd.display())]
    NoCwd {
        /// The target.
        name: String,
        /// The directory.
        cwd: PathBuf,
    },
    /// The program is not on the `PATH` (or not at the path given).
    #[error(
        "start target `{name}`: command `{program}` not found (is it installed and on the PATH?)"
    )]
    CommandNotFound {
        /// The target.
        name: String,
        /// `argv[0]`.
        program: String,
    },
    /// The process could not be started for another reason.
    #[error("start target `{name}`: could not run `{program}`: {source}")]
    Spawn {
        /// The target.
        name: String,
        /// `argv[0]`.
        program: String,
        /// The system's reason.
        #[source]
        source: io::Error,
    },
    /// The process ended before it was ready.
    #[error(
        "start target `{name}`: it exited ({status}) before it was ready{}",
        shown_tail(stderr_tail)
    )]
    ExitedBeforeReady {
        /// The target.
        name: String,
        /// How it ended.
        status: ExitStatus,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
    /// It did not become ready in time.
    #[error(
        "start target `{name}`: not ready after {after:?} ({polled}){}",
        shown_tail(stderr_tail)
    )]
    NeverReady {
        /// The target.
        name: String,
        /// The ready timeout.
        after: Duration,
        /// What was polled and what the last attempt gave, such as
        /// `GET http://127.0.0.1:8080/health: connection refused`.
        polled: String,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
    /// No process printed `Debugger listening on ws://…`.
    #[error(
        "start target `{name}`: no inspector announced on stderr within {after:?} (is it a Node process? does it start Node with --inspect of its own?){}",
        shown_tail(stderr_tail)
    )]
    NoInspector {
        /// The target.
        name: String,
        /// How long leakcheck waited.
        after: Duration,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
    /// A Workers or Deno runtime's program is not installed where leakcheck looks.
    #[error("start target `{name}`: {what}")]
    RuntimeNotFound {
        /// The target.
        name: String,
        /// What was looked for where, and how to install it.
        what: String,
    },
    /// The workerd config could not be generated or read.
    #[error("start target `{name}`: {message}")]
    Config {
        /// The target.
        name: String,
        /// What went wrong, naming the file.
        message: String,
    },
    /// The runtime started but its inspector, or the worker's inspector target, was not found.
    #[error("start target `{name}`: {message}{}", shown_tail(stderr_tail))]
    WorkerInspector {
        /// The target.
        name: String,
        /// What was asked and what came back.
        message: String,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
    /// Several inspectors were announced and none belongs to the process serving the port.
    #[error(
        "start target `{name}`: none of its inspectors belongs to the process listening on port {port} ({}); inspectors: {}",
        listeners_text(listeners),
        candidates_text(candidates)
    )]
    InspectorNotFound {
        /// The target.
        name: String,
        /// The port it serves on.
        port: u16,
        /// The processes found listening on it (empty when `/proc` showed none).
        listeners: Vec<u32>,
        /// Every inspector announced.
        candidates: Vec<Candidate>,
    },
}

impl TargetError {
    /// The last lines of the target's stderr, when the error has them.
    pub fn stderr_tail(&self) -> Option<&str> {
        match self {
            TargetError::ExitedBeforeReady { stderr_tail, .. }
            | TargetError::NeverReady { stderr_tail, .. }
            | TargetError::WorkerInspector { stderr_tail, .. }
            | TargetError::NoInspector { stderr_tail, .. } => Some(stderr_tail),
            _ => None,
        }
    }
}

/// The end of an error message: the last non-blank line of stderr, on the same line, so the
/// message stays one line (the whole tail is in the error's `stderr_tail`).
fn shown_tail(tail: &str) -> String {
    let Some(last) = tail.lines().rev().map(str::trim).find(|l| !l.is_empty()) else {
        return "; its stderr was empty".to_owned();
    };
    let mut cut = last.len().min(LAST_LINE_SHOWN);
    while !last.is_char_boundary(cut) {
        cut -= 1;
    }
    let more = if cut < last.len() { "…" } else { "" };
    format!("; its stderr ends with: {}{more}", &last[..cut])
}

fn listeners_text(listeners: &[u32]) -> String {
    match listeners {
        [] => "no listening process found in /proc".to_owned(),
        _ => {
            let pids: Vec<String> = listeners.iter().map(u32::to_string).collect();
            format!("pid {}", pids.join(", "))
        }
    }
}

fn candidates_text(candidates: &[Candidate]) -> String {
    let parts: Vec<String> = candidates
        .iter()
        .map(|c| match &c.pid {
            Ok(pid) => format!("{} (pid {pid})", c.url),
            Err(why) => format!("{} (pid unknown: {why})", c.url),
        })
        .collect();
    parts.join(", ")
}
