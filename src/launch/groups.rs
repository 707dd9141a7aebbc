//! The process-wide registry of live target process groups, so that a Ctrl-C or a SIGTERM
//! sent to leakcheck can take every target's whole process tree down with it.
//!
//! Each target runs in its own process group, which is what lets leakcheck kill a tree (npm →
//! sh → node, or wrangler → node, workerd, esbuild) with one signal. It is also why the
//! terminal's Ctrl-C does not reach the targets by itself: the terminal signals only
//! leakcheck's own (foreground) group. Hence [`install_signal_handlers`].

use std::collections::BTreeSet;
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

static LIVE: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn live() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Lists `pgid` as live, here and with the watchdog that ends it should leakcheck be killed.
pub(crate) fn register(pgid: u32) {
    live().insert(pgid);
    super::watchdog::watch(pgid);
}

/// Takes `pgid` off the lists once leakcheck has ended the group itself.
pub(crate) fn unregister(pgid: u32) {
    if live().remove(&pgid) {
        super::watchdog::forget(pgid);
    }
}

/// Sends `signal` to every process of group `pgid`. A group that is already gone is fine.
pub(crate) fn signal_group(pgid: u32, signal: Signal) {
    let _ = killpg(Pid::from_raw(pgid as i32), signal);
}

/// The process groups of the targets launched by this process and not yet shut down or
/// dropped.
pub fn live_target_groups() -> Vec<u32> {
    live().iter().copied().collect()
}

/// Sends SIGKILL to the process group of every live target, at once, and returns how many
/// groups were signalled. Synchronous and quick: meant for the moment leakcheck is told to
/// stop. The [`super::Target`]s stay valid: their `shutdown` then finds the groups gone and
/// reaps them.
pub fn kill_all_targets() -> usize {
    let groups = live_target_groups();
    for &pgid in &groups {
        signal_group(pgid, Signal::SIGKILL);
    }
    groups.len()
}

/// A signal that asks leakcheck to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (a CI runner cancelling the job).
    Terminate,
}

impl StopSignal {
    /// The conventional exit status after this signal: 128 + its number (130, 143).
    pub fn exit_code(self) -> u8 {
        match self {
            StopSignal::Interrupt => 130,
            StopSignal::Terminate => 143,
        }
    }

    /// `SIGINT` or `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }
}

/// Tells whether leakcheck has been asked to stop; see [`install_signal_handlers`]. Clone it
/// freely: every clone sees the same signal.
#[derive(Clone, Debug)]
pub struct StopSignals {
    rx: watch::Receiver<Option<StopSignal>>,
}

impl StopSignals {
    /// Resolves once SIGINT or SIGTERM has been received **and every target's process group
    /// has been killed**; at once if that already happened. Cancel safe, so it can sit in a
    /// `tokio::select!` next to the work it interrupts.
    pub async fn received(&mut self) -> StopSignal {
        match self.rx.wait_for(Option::is_some).await {
            Ok(signal) => signal.expect("waited for Some"),
            // The watcher task is gone (its runtime is shutting down): never resolve.
            Err(_) => std::future::pending().await,
        }
    }

    /// The signal received so far, if any.
    pub fn get(&self) -> Option<StopSignal> {
        *self.rx.borrow()
    }
}

/// Starts a task that waits for SIGINT and SIGTERM. On the first one it kills every live
/// target's process group ([`kill_all_targets`]) and then wakes every [`StopSignals`], so the
/// caller can stop its work, write the partial reports and exit with
/// [`StopSignal::exit_code`]:
///
/// ```no_run
/// # async fn run_everything() -> u8 { 0 }
/// # async fn demo() -> std::io::Result<u8> {
/// let mut stop = leakcheck::launch::install_signal_handlers()?;
/// tokio::select! {
///     code = run_everything() => Ok(code),
///     signal = stop.received() => {
///         // The targets are already dead: write what was measured, then leave.
///         Ok(signal.exit_code())
///     }
/// }
/// # }
/// ```
///
/// A second signal means the user insists: the task kills the groups again (targets launched
/// since) and exits the process at once with that signal's exit status, without waiting for
/// the run to wind down ([`install_signal_handlers_with`] runs a last step first: the CLI
/// writes the reports of what was measured). The same signal again within `REPEAT_WINDOW` (1 s) of the first is not a
/// second request but the first one delivered twice, and only kills the groups again: a terminal's
/// Ctrl-C reaches every process of the foreground group, so leakcheck gets it both from the
/// terminal and from a wrapper that passes signals on (npx, the npm package's launcher).
/// Must be called from within a tokio runtime; from then on these signals no longer end the
/// process by themselves.
pub fn install_signal_handlers() -> io::Result<StopSignals> {
    install_signal_handlers_with(|| {})
}

/// [`install_signal_handlers`], with `last_words` run on a second signal, after the groups
/// are killed and before the process exits: it must be quick and must not wait on the run
/// (the run may be what hangs).
pub fn install_signal_handlers_with(
    last_words: impl Fn() + Send + 'static,
) -> io::Result<StopSignals> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let mut first: Option<(StopSignal, Instant)> = None;
        loop {
            let received = tokio::select! {
                Some(()) = interrupt.recv() => StopSignal::Interrupt,
                Some(()) = terminate.recv() => StopSignal::Terminate,
                else => return,
            };
            kill_all_targets();
            match first {
                Some((signal, at)) if signal == received && at.elapsed() < REPEAT_WINDOW => {}
                Some(_) => {
                    last_words();
                    std::process::exit(received.exit_code().into())
                }
                None => {
                    first = Some((received, Instant::now()));
                    tx.send_replace(Some(received));
                }
            }
        }
    });
    Ok(StopSignals { rx })
}

/// How soon after a stop signal the same signal counts as the same request delivered again
/// (see [`install_signal_handlers`]). Copies passed on by wrappers arrive within milliseconds;
/// a person pressing Ctrl-C again to insist takes longer.
pub const REPEAT_WINDOW: Duration = Duration::from_secs(1);
