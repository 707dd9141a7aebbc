//! The service under test as a process: start it in its own process group with the V8
//! inspector on loopback, wait until it is ready, find its inspector, and take the whole
//! process tree down afterwards, whatever happens.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use leakcheck::launch::{LaunchSpec, Readiness, free_port, launch};
//!
//! let port = free_port()?;
//! let spec = LaunchSpec {
//!     name: "api".into(),
//!     argv: vec!["node".into(), "server.js".into()],
//!     cwd: "examples/api".into(),
//!     env: vec![("PORT".into(), port.to_string())],
//!     port,
//!     url: format!("http://127.0.0.1:{port}"),
//!     ready: Readiness::Http("/health".into()),
//!     ready_timeout: Duration::from_secs(30),
//!     shutdown_timeout: Duration::from_secs(5),
//! };
//! let target = launch(&spec).await?;
//! println!("inspector at {}", target.inspector_url());
//! let report = target.shutdown().await;
//! println!("{report}");
//! # Ok(()) }
//! ```
//!
//! Nothing outlives leakcheck: [`Target::shutdown`] ends the whole group (SIGTERM, then
//! SIGKILL), dropping a [`Target`] SIGKILLs it, a failed [`launch`] kills what it started,
//! [`install_signal_handlers`] kills every group on Ctrl-C or SIGTERM, and a watchdog process
//! kills every group within about a second when leakcheck itself is killed (SIGKILL, the OOM
//! killer). A process that leaves the group (`setsid`, a daemon) is still found after the
//! shutdown by the variable [`TARGET_ID_VAR`] that every target inherits, reported in
//! [`ShutdownReport::escaped`] and killed.

mod deno;
mod error;
mod groups;
mod node;
mod output;
mod port;
mod procfs;
mod runtime;
mod watchdog;
mod workerd;
mod wrangler;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use error::{Candidate, TargetError};
pub use groups::{
    StopSignal, StopSignals, install_signal_handlers, install_signal_handlers_with,
    kill_all_targets, live_target_groups,
};
use output::{SharedTail, tail_text};
pub use port::free_port;
pub use runtime::find_in_node_modules;
pub use workerd::{WorkerdLaunch, launch_workerd};
pub use wrangler::launch_wrangler;

/// The variable leakcheck puts in every target's environment, with a value unique to that
/// target: its descendants inherit it even when they leave the process group, which is how
/// the processes a target left behind are found after its shutdown.
pub const TARGET_ID_VAR: &str = "LEAKCHECK_TARGET_ID";

/// Longest wait for the output pipes to reach end of input after the process has exited.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// How long SIGKILLed processes get to disappear before they are reported as survivors.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// How often the process group is checked while waiting for it to end.
const GROUP_POLL: Duration = Duration::from_millis(20);
/// The least time left to find the inspector once the target is ready.
const MIN_INSPECTOR_WAIT: Duration = Duration::from_secs(2);

/// How to tell that the target is ready for requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// `GET` of the base URL + this path answers 2xx.
    Http(String),
    /// The port accepts a TCP connection on 127.0.0.1 (or `::1`).
    Port,
}

/// Everything needed to start one target; the runner fills it from the plan once it has
/// chosen the port.
#[derive(Clone, Debug)]
pub struct LaunchSpec {
    /// The target's name, for messages.
    pub name: String,
    /// The command, run without a shell. `argv[0]` is looked up on the `PATH`.
    pub argv: Vec<String>,
    /// The working directory.
    pub cwd: PathBuf,
    /// Variables added to leakcheck's own environment (`PORT` among them, usually).
    pub env: Vec<(String, String)>,
    /// The port the target serves on.
    pub port: u16,
    /// The base URL of the service, such as `http://127.0.0.1:8080`.
    pub url: String,
    /// How to tell it is ready.
    pub ready: Readiness,
    /// How long it may take to become ready (and to announce its inspector).
    pub ready_timeout: Duration,
    /// How long it gets to exit after SIGTERM before it is killed.
    pub shutdown_timeout: Duration,
}

/// Tells whether a target's program has ended, from any task, without owning the target.
#[derive(Clone, Debug)]
pub struct ExitWatch {
    pid: u32,
    stderr: SharedTail,
}

impl ExitWatch {
    /// True when Node said its program ended (it lingers only for the attached debugger), or
    /// when the main process is gone or a zombie waiting to be reaped.
    pub fn ended(&self) -> bool {
        if self.stderr.lock().unwrap_or_else(|e| e.into_inner()).program_ended {
            return true;
        }
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            // The state follows the command name, which is in parentheses and may hold spaces.
            Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
            Err(_) => true,
        }
    }

    /// Resolves once [`ExitWatch::ended`] is true, checking every 50 ms.
    pub async fn until_ended(&self) {
        while !self.ended() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A running target. Dropping it SIGKILLs its whole process group; [`Target::shutdown`] ends
/// it gracefully.
pub struct Target {
    name: String,
    child: Child,
    pid: u32,
    inspector_url: String,
    inspected_pid: Option<u32>,
    base_url: String,
    stdout: SharedTail,
    stderr: SharedTail,
    drains: Vec<JoinHandle<()>>,
    shutdown_timeout: Duration,
    status: Option<ExitStatus>,
    /// `TARGET_ID_VAR=value`, as found in the environment of its processes.
    id_entry: String,
    /// The group has been ended and unregistered; drop has nothing to do.
    finished: bool,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .field("inspector_url", &self.inspector_url)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// How a target ended in [`Target::shutdown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Its main process had already exited before shutdown began (a crash, if unexpected).
    AlreadyExited,
    /// The whole group ended after SIGTERM.
    Terminated,
    /// It was still running after the shutdown timeout and got SIGKILL.
    Killed,
}

/// What [`Target::shutdown`] did.
#[derive(Clone, Debug)]
pub struct ShutdownReport {
    /// The target.
    pub name: String,
    /// How it ended.
    pub ending: Ending,
    /// The main process's exit status (`None` if it could not be reaped).
    pub status: Option<ExitStatus>,
    /// How long the shutdown took.
    pub elapsed: Duration,
    /// Processes of the group still alive after SIGKILL (should be empty).
    pub survivors: Vec<u32>,
    /// Processes the target started that had left its process group (a daemon, a detached
    /// child with `setsid`) and were still running once the group had ended: pid and command
    /// line. They have been sent SIGKILL.
    pub escaped: Vec<(u32, String)>,
    /// The last lines of its stdout.
    pub stdout_tail: String,
    /// The last lines of its stderr.
    pub stderr_tail: String,
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.ending {
            Ending::AlreadyExited => "had already exited",
            Ending::Terminated => "ended on SIGTERM",
            Ending::Killed => "was killed (SIGKILL) after the shutdown timeout",
        };
        write!(f, "target `{}` {how}", self.name)?;
        if let Some(status) = self.status {
            write!(f, " ({status})")?;
        }
        if !self.survivors.is_empty() {
            write!(f, "; processes still alive: {:?}", self.survivors)?;
        }
        if !self.escaped.is_empty() {
            let list: Vec<String> =
                self.escaped.iter().map(|(pid, cmd)| format!("{pid} `{cmd}`")).collect();
            write!(f, "; processes that left its group, killed: {}", list.join(", "))?;
        }
        Ok(())
    }
}

impl Target {
    /// The `ws://` URL of the inspector of the process serving the port.
    pub fn inspector_url(&self) -> &str {
        &self.inspector_url
    }

    /// The pid of the process leakcheck started, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The pid of the process behind [`Target::inspector_url`], when it was looked up (the
    /// command was a wrapper, or it had several inspectors).
    pub fn inspected_pid(&self) -> Option<u32> {
        self.inspected_pid
    }

    /// The service's base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The target's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The last lines (up to 200, 64 KiB) of its stderr, each ending in `\n`.
    pub fn stderr_tail(&self) -> String {
        tail_text(&self.stderr)
    }

    /// The last lines (up to 200, 64 KiB) of its stdout, each ending in `\n`.
    pub fn stdout_tail(&self) -> String {
        tail_text(&self.stdout)
    }

    /// A handle that tells, without `&mut`, whether the target's program has ended: for
    /// watching it while requests run.
    pub fn exit_watch(&self) -> ExitWatch {
        ExitWatch { pid: self.pid, stderr: self.stderr.clone() }
    }

    /// True when the main process has exited, or when Node said its program ended and it only
    /// lingers because a debugger is attached (close the inspector to let it exit).
    pub fn has_ended(&mut self) -> bool {
        self.try_exit_status().is_some() || self.exit_watch().ended()
    }

    /// Waits up to `wait` for the main process to exit (after its program ended and the
    /// inspector was closed, say) and returns its status if it did.
    pub async fn wait_exit(&mut self, wait: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(status) = self.try_exit_status() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(GROUP_POLL).await;
        }
    }

    /// The main process's exit status if it has exited, without waiting.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Ends the target: SIGTERM to its whole process group, up to the shutdown timeout for
    /// every process of the group to exit, then SIGKILL to the group; reaps the main process
    /// and collects the rest of its output.
    pub async fn shutdown(mut self) -> ShutdownReport {
        let start = Instant::now();
        let already = self.try_exit_status().is_some();
        groups::signal_group(self.pid, Signal::SIGTERM);
        let mut ending = if already { Ending::AlreadyExited } else { Ending::Terminated };
        if !self.wait_group_gone(start + self.shutdown_timeout).await {
            groups::signal_group(self.pid, Signal::SIGKILL);
            if ending == Ending::Terminated {
                ending = Ending::Killed;
            }
            self.wait_group_gone(Instant::now() + KILL_GRACE).await;
        }
        let report = self.finish(ending, start).await;
        // Nothing left for drop to do.
        self.finished = true;
        report
    }

    /// SIGKILLs the group, waits for it to go and reaps; for failed launches.
    async fn kill(&mut self) {
        groups::signal_group(self.pid, Signal::SIGKILL);
        self.wait_group_gone(Instant::now() + KILL_GRACE).await;
        self.finish(Ending::Killed, Instant::now()).await;
        self.finished = true;
    }

    async fn finish(&mut self, ending: Ending, start: Instant) -> ShutdownReport {
        if self.status.is_none() {
            self.status =
                tokio::time::timeout(KILL_GRACE, self.child.wait()).await.ok().and_then(Result::ok);
        }
        self.await_drains().await;
        groups::unregister(self.pid);
        let survivors = group_alive(self.pid);
        let escaped = self.kill_escaped(&survivors);
        ShutdownReport {
            name: self.name.clone(),
            ending,
            status: self.status,
            elapsed: start.elapsed(),
            survivors,
            escaped,
            stdout_tail: self.stdout_tail(),
            stderr_tail: self.stderr_tail(),
        }
    }

    /// SIGKILLs the processes of the target outside its group (found by [`TARGET_ID_VAR`])
    /// and returns them.
    fn kill_escaped(&self, survivors: &[u32]) -> Vec<(u32, String)> {
        let mut escaped = procfs::with_environment(&self.id_entry);
        escaped.retain(|(pid, _)| !survivors.contains(pid));
        for (pid, _) in &escaped {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid as i32), Signal::SIGKILL);
        }
        escaped
    }

    /// Waits until no process of the group is left (reaping the main one on the way) or
    /// `deadline`; true if the group is gone.
    async fn wait_group_gone(&mut self, deadline: Instant) -> bool {
        loop {
            self.try_exit_status();
            if self.status.is_some() && group_alive(self.pid).is_empty() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(GROUP_POLL).await;
        }
    }

    /// Lets the output tasks reach end of input (the pipes close when the last process
    /// holding them exits), so the tails are complete; gives up after a short grace.
    async fn await_drains(&mut self) {
        let deadline = Instant::now() + DRAIN_GRACE;
        for drain in &mut self.drains {
            let _ = tokio::time::timeout_at(deadline, drain).await;
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if !self.finished {
            groups::signal_group(self.pid, Signal::SIGKILL);
            groups::unregister(self.pid);
            self.kill_escaped(&[]);
            // The main process is reaped by tokio's orphan reaper.
        }
        for drain in &self.drains {
            drain.abort();
        }
    }
}

/// Live processes of group `pgid`. Without `/proc`, asks the kernel whether the group exists
/// (which then counts zombies too).
fn group_alive(pgid: u32) -> Vec<u32> {
    match procfs::group_members(pgid) {
        Some(members) => members,
        None => {
            let exists = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid as i32), None);
            if exists.is_ok() { vec![pgid] } else { Vec::new() }
        }
    }
}

/// Starts the target described by `spec` and returns once it is ready and its inspector is
/// known.
///
/// The command runs without a shell, in its own process group, with stdin closed and its
/// stdout and stderr drained into bounded tails. The inspector is switched on with
/// `--inspect=127.0.0.1:0` right after `argv[0]` when that is `node` (or a path ending in
/// `/node`), and otherwise through `NODE_OPTIONS` (appended to any value in `spec.env` or in
/// leakcheck's environment), which starts an inspector in every Node process of the tree: `npm
/// start`, `npx tsx server.ts`, `yarn dev`, a shell script.
///
/// Readiness is polled until `spec.ready_timeout`: `GET url + path` until it answers 2xx
/// (one-second tries, 50 to 200 ms apart), or a TCP connect to the port. If the process exits
/// meanwhile, the launch fails at once with its exit status and the tail of its stderr.
///
/// Then the inspector is chosen among the `Debugger listening on ws://…` lines of stderr (the
/// first of each process): with `node` and a single line, that one; otherwise the one whose
/// `process.pid` listens on `spec.port` (see `/proc/net/tcp`). Failing that, the error names
/// every candidate and its pid.
///
/// On any error everything started is killed before returning.
pub async fn launch(spec: &LaunchSpec) -> Result<Target, TargetError> {
    let Some(program) = spec.argv.first() else {
        return Err(TargetError::EmptyCommand { name: spec.name.clone() });
    };
    let existing = spec
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "NODE_OPTIONS")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("NODE_OPTIONS").ok());
    // An inspector flag inherited in NODE_OPTIONS (a developer's shell) would open a second
    // inspector, or move leakcheck's off loopback: the spec's own are refused when it is read,
    // inherited ones are dropped here.
    let cleaned = existing.as_deref().map(|o| {
        o.split_whitespace()
            .filter(|w| !crate::leakspec::is_inspect_flag(w))
            .collect::<Vec<_>>()
            .join(" ")
    });
    let stripped = cleaned.is_some() && existing.as_deref().map(str::trim) != cleaned.as_deref();
    let (args, node_options) = node::with_inspector(&spec.argv, cleaned.as_deref());
    let direct = node_options.is_none();
    let node_options = match node_options {
        None if stripped => cleaned,
        other => other,
    };
    let extra: Vec<(String, String)> =
        node_options.into_iter().map(|o| ("NODE_OPTIONS".to_owned(), o)).collect();
    launch_announced(spec, program, &args, &extra, direct).await
}

/// Starts a Deno target: like [`launch`], with `--inspect=127.0.0.1:0` right after Deno's
/// subcommand (`deno run --inspect=… --allow-net main.ts`). A bare `deno` is looked up in the
/// `node_modules/.bin` of `spec.cwd` and its ancestors (the `deno` npm package), then on the
/// `PATH`.
pub async fn launch_deno(spec: &LaunchSpec) -> Result<Target, TargetError> {
    if spec.argv.is_empty() {
        return Err(TargetError::EmptyCommand { name: spec.name.clone() });
    }
    let program = runtime::resolve_bare(&spec.argv[0], &spec.cwd);
    let args = deno::with_inspector(&spec.argv);
    let extra: Vec<(String, String)> =
        deno::OFFLINE_ENV.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    launch_announced(spec, &program, &args, &extra, true).await
}

/// Spawns `program args` (with `extra` variables on top of `spec.env`), waits until ready, then
/// picks the inspector among those announced on stderr.
async fn launch_announced(
    spec: &LaunchSpec,
    program: &str,
    args: &[String],
    extra: &[(String, String)],
    direct: bool,
) -> Result<Target, TargetError> {
    let (mut target, announced) = spawn(spec, program, args, extra, None)?;
    let start = Instant::now();
    let ready_deadline = start + spec.ready_timeout;
    if let Err(e) = wait_ready(&mut target, spec, ready_deadline).await {
        target.kill().await;
        return Err(with_tail(e, &target));
    }
    let wait = ready_deadline.saturating_duration_since(Instant::now()).max(MIN_INSPECTOR_WAIT);
    let chosen = tokio::select! {
        chosen = node::choose_inspector(
            &target.name, announced, spec.port, direct, Instant::now() + wait, wait,
        ) => chosen,
        status = target.child.wait() => Err(exited(&mut target, status)),
    };
    match chosen {
        Ok((url, inspected)) => {
            target.inspector_url = url;
            target.inspected_pid = inspected;
            Ok(target)
        }
        Err(e) => {
            target.kill().await;
            Err(with_tail(e, &target))
        }
    }
}

/// Starts `program args` without a shell in its own process group, registered for cleanup,
/// with stdin closed and its output drained; `control` becomes the child's fd 3. Returns the
/// target (not yet ready, without an inspector) and the inspectors announced on its stderr.
fn spawn(
    spec: &LaunchSpec,
    program: &str,
    args: &[String],
    extra: &[(String, String)],
    control: Option<std::os::fd::OwnedFd>,
) -> Result<(Target, watch::Receiver<Vec<String>>), TargetError> {
    let name = spec.name.clone();
    if !spec.cwd.is_dir() {
        return Err(TargetError::NoCwd { name, cwd: spec.cwd.clone() });
    }
    let id = next_target_id();
    let pipes = output::pipe().and_then(|out| Ok((out, output::pipe()?)));
    let ((out_reader, out_writer), (err_reader, err_writer)) = pipes.map_err(|source| {
        TargetError::Spawn { name: name.clone(), program: program.to_owned(), source }
    })?;
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .envs(extra.iter().map(|(k, v)| (k, v)))
        .env(TARGET_ID_VAR, &id)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out_writer))
        .stderr(Stdio::from(err_writer))
        .process_group(0);
    if let Some(fd) = control {
        use command_fds::{CommandFdExt, FdMapping};
        command
            .fd_mappings(vec![FdMapping { parent_fd: fd, child_fd: 3 }])
            .expect("a single mapping cannot collide");
    }
    let spawned = command.spawn();
    // The command holds the parent's copies of the write ends (and of the control pipe): close
    // them now, so the readers see the end of input when the child exits.
    drop(command);
    let child = spawned.map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            TargetError::CommandNotFound { name: name.clone(), program: program.to_owned() }
        } else {
            TargetError::Spawn { name: name.clone(), program: program.to_owned(), source }
        }
    })?;
    let pid = child.id().expect("a just-spawned child has a pid");
    groups::register(pid);

    let stdout = SharedTail::default();
    let stderr = SharedTail::default();
    let (announce, announced) = watch::channel(Vec::new());
    let drains = vec![
        output::drain(out_reader, stdout.clone(), None),
        output::drain(err_reader, stderr.clone(), Some(announce)),
    ];
    let target = Target {
        name,
        child,
        pid,
        inspector_url: String::new(),
        inspected_pid: None,
        base_url: spec.url.trim_end_matches('/').to_owned(),
        stdout,
        stderr,
        drains,
        shutdown_timeout: spec.shutdown_timeout,
        status: None,
        id_entry: format!("{TARGET_ID_VAR}={id}"),
        finished: false,
    };
    Ok((target, announced))
}

/// A value of [`TARGET_ID_VAR`] no other target shares: leakcheck's pid, a count, and a
/// time, so that runs that follow each other with the same pid do not share one either.
fn next_target_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{n}-{nanos}", std::process::id())
}

/// Fills in the stderr tail of an error built before the output was complete.
fn with_tail(mut error: TargetError, target: &Target) -> TargetError {
    match &mut error {
        TargetError::ExitedBeforeReady { stderr_tail, .. }
        | TargetError::NeverReady { stderr_tail, .. }
        | TargetError::WorkerInspector { stderr_tail, .. }
        | TargetError::NoInspector { stderr_tail, .. } => *stderr_tail = target.stderr_tail(),
        _ => {}
    }
    error
}

/// Polls readiness until `deadline`, failing early when the process exits. Errors come
/// without their stderr tail; the caller adds it once the output is complete.
async fn wait_ready(
    target: &mut Target,
    spec: &LaunchSpec,
    deadline: Instant,
) -> Result<(), TargetError> {
    let mut probe = Probe::new(spec);
    let mut pause = Duration::from_millis(50);
    loop {
        let per_try = deadline
            .saturating_duration_since(Instant::now())
            .min(FULL_TRY)
            .max(Duration::from_millis(10));
        let ready = tokio::select! {
            ready = probe.once(per_try) => ready,
            status = target.child.wait() => return Err(exited(target, status)),
        };
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(TargetError::NeverReady {
                name: target.name.clone(),
                after: spec.ready_timeout,
                polled: probe.describe(),
                stderr_tail: String::new(),
            });
        }
        let nap = pause.min(deadline.saturating_duration_since(Instant::now()));
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            status = target.child.wait() => return Err(exited(target, status)),
        }
        pause = (pause * 3 / 2).min(Duration::from_millis(200));
    }
}

fn exited(target: &mut Target, status: io::Result<ExitStatus>) -> TargetError {
    match status {
        Ok(status) => {
            target.status = Some(status);
            TargetError::ExitedBeforeReady {
                name: target.name.clone(),
                status,
                stderr_tail: String::new(),
            }
        }
        Err(source) => {
            TargetError::Spawn { name: target.name.clone(), program: "wait".into(), source }
        }
    }
}

/// The time one readiness check may take, unless the deadline is closer.
const FULL_TRY: Duration = Duration::from_secs(1);
const NO_ATTEMPT: &str = "no attempt finished";

/// One readiness check, and what the last one gave.
struct Probe {
    kind: ProbeKind,
    last: String,
}

enum ProbeKind {
    Http { client: reqwest::Client, url: String },
    Port(u16),
}

impl Probe {
    fn new(spec: &LaunchSpec) -> Probe {
        let kind = match &spec.ready {
            Readiness::Http(path) => {
                let base = spec.url.trim_end_matches('/');
                let url = if path.starts_with('/') {
                    format!("{base}{path}")
                } else {
                    format!("{base}/{path}")
                };
                // No proxy: the target is on loopback, whatever HTTP_PROXY says.
                let client = reqwest::Client::builder().no_proxy().build().unwrap_or_default();
                ProbeKind::Http { client, url }
            }
            Readiness::Port => ProbeKind::Port(spec.port),
        };
        Probe { kind, last: "no attempt finished".into() }
    }

    async fn once(&mut self, timeout: Duration) -> bool {
        match &self.kind {
            ProbeKind::Http { client, url } => {
                match client.get(url.as_str()).timeout(timeout).send().await {
                    Ok(response) if response.status().is_success() => true,
                    Ok(response) => {
                        self.last = format!("HTTP {}", response.status());
                        false
                    }
                    Err(e) if e.is_timeout() => {
                        // A try cut short by the deadline says less than the answer before.
                        if timeout >= FULL_TRY || self.last == NO_ATTEMPT {
                            self.last = format!("no answer within {timeout:?}");
                        }
                        false
                    }
                    Err(e) if e.is_connect() => {
                        self.last = "connection refused".into();
                        false
                    }
                    Err(e) => {
                        self.last = e.to_string();
                        false
                    }
                }
            }
            &ProbeKind::Port(port) => {
                let attempt = async {
                    match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                        Ok(_) => Ok(()),
                        Err(_) => tokio::net::TcpStream::connect(("::1", port)).await.map(drop),
                    }
                };
                match tokio::time::timeout(timeout, attempt).await {
                    Ok(Ok(())) => true,
                    Ok(Err(e)) => {
                        self.last = e.to_string();
                        false
                    }
                    Err(_) => {
                        if timeout >= FULL_TRY || self.last == NO_ATTEMPT {
                            self.last = format!("no answer within {timeout:?}");
                        }
                        false
                    }
                }
            }
        }
    }

    fn describe(&self) -> String {
        match &self.kind {
            ProbeKind::Http { url, .. } => format!("polled GET {url}; last: {}", self.last),
            ProbeKind::Port(port) => {
                format!("polled TCP connect to 127.0.0.1:{port}; last: {}", self.last)
            }
        }
    }
}

/// Checks, without starting anything, that a target can be started: its working directory
/// exists and its program is found where [`launch`] (or the Workers and Deno launchers) will
/// look for it. `leakcheck run` asks this of every target before the first one starts, so a
/// typo in the last target's `cwd` fails the run in its first second, not after the others.
pub fn preflight(
    name: &str,
    runtime: crate::leakspec::Runtime,
    argv: &[String],
    cwd: &std::path::Path,
) -> Result<(), TargetError> {
    use crate::leakspec::Runtime;
    let name = name.to_owned();
    if !cwd.is_dir() {
        return Err(TargetError::NoCwd { name, cwd: cwd.to_path_buf() });
    }
    let found = |program: &str| {
        if program.contains('/') {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(cwd.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        } else {
            runtime::on_path(program)
        }
    };
    match (runtime, argv.first()) {
        (Runtime::Node, None) => Err(TargetError::EmptyCommand { name }),
        (Runtime::Node, Some(program)) if !found(program) => {
            Err(TargetError::CommandNotFound { name, program: program.clone() })
        }
        (Runtime::Deno | Runtime::Workerd | Runtime::Wrangler, Some(program))
            if !found(&runtime::resolve_bare(program, cwd)) =>
        {
            Err(TargetError::CommandNotFound { name, program: program.clone() })
        }
        (Runtime::Workerd, None)
            if runtime::find_workerd(cwd).is_none() && !runtime::on_path("workerd") =>
        {
            Err(TargetError::RuntimeNotFound {
                name,
                what: format!(
                    "workerd not found in a node_modules above {} nor on the PATH (install it with `npm install --save-dev workerd`)",
                    cwd.display()
                ),
            })
        }
        (Runtime::Wrangler, None)
            if find_in_node_modules(cwd, &[".bin/wrangler"]).is_none()
                && !runtime::on_path("wrangler") =>
        {
            Err(TargetError::RuntimeNotFound {
                name,
                what: format!(
                    "wrangler not found in a node_modules above {} nor on the PATH (install it with `npm install --save-dev wrangler`)",
                    cwd.display()
                ),
            })
        }
        _ => Ok(()),
    }
}
