//! A watchdog process that outlives leakcheck and takes every target's process group down when
//! leakcheck dies without being able to do it itself (SIGKILL, the OOM killer, a CI runner
//! that cancels the job with `kill -9`).
//!
//! Signal handlers cannot help there: SIGKILL is never delivered to the process it kills. A
//! parent-death signal (`PR_SET_PDEATHSIG`) would reach only the process leakcheck spawned,
//! not what it spawned in turn (under `npm start`, npm dies and sh and node live on), and
//! setting it needs code between `fork` and `exec`, which this crate keeps free of `unsafe`.
//! So leakcheck starts one small `/bin/sh` per process, in a process group of its own (a kill
//! of leakcheck's group spares it), ignoring the usual stop signals, and tells it on a pipe
//! which groups are live (`+PGID`, `-PGID`). The pipe is leakcheck's alone (close-on-exec, so
//! no target inherits it): when leakcheck dies, for whatever reason, the kernel closes it, the
//! watchdog reads the end of input and sends SIGTERM, then a second later SIGKILL, to every
//! group still listed. When leakcheck exits normally, no group is listed and it just exits.
//!
//! A shell script rather than leakcheck itself re-executed: the library runs inside other
//! programs (test binaries, `cargo test` harnesses) whose executable is not leakcheck.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

/// The watchdog's program: reads `+PGID` and `-PGID` lines until the end of input, then ends
/// the groups still listed. Quoted parts of a pattern match literally in POSIX sh.
const SCRIPT: &str = r#"trap '' HUP INT TERM QUIT PIPE
g=' '
while IFS= read -r l; do
  case $l in
    +*) g="$g${l#+} " ;;
    -*) p=${l#-}; case $g in *" $p "*) g="${g%%" $p "*} ${g#*" $p "}" ;; esac ;;
  esac
done
[ -z "${g# }" ] && exit 0
for p in $g; do kill -TERM "-$p" 2>/dev/null; done
sleep 1
for p in $g; do kill -KILL "-$p" 2>/dev/null; done
"#;

struct Watchdog {
    stdin: ChildStdin,
    // Kept so the process is not waited for (and the pipe stays open) until leakcheck ends.
    _child: Child,
}

/// `None` until the first target starts; `Some(None)` once starting it failed (then every
/// later call is a no-op: the targets still die with leakcheck's signal handlers and drops).
static WATCHDOG: Mutex<Option<Option<Watchdog>>> = Mutex::new(None);

fn start() -> Option<Watchdog> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Nothing of leakcheck's environment: only what `sleep` needs.
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        .process_group(0)
        .spawn()
        .ok()?;
    let stdin = child.stdin.take()?;
    Some(Watchdog { stdin, _child: child })
}

fn tell(line: String) {
    let mut slot = WATCHDOG.lock().unwrap_or_else(|e| e.into_inner());
    let watchdog = slot.get_or_insert_with(start);
    if let Some(w) = watchdog
        && w.stdin.write_all(line.as_bytes()).is_err()
    {
        // The watchdog is gone (killed by someone): no use writing to it again.
        *watchdog = None;
    }
}

/// Tells the watchdog (starting it on first use) that process group `pgid` is live.
pub(crate) fn watch(pgid: u32) {
    tell(format!("+{pgid}\n"));
}

/// Tells the watchdog that process group `pgid` has been ended by leakcheck itself.
pub(crate) fn forget(pgid: u32) {
    tell(format!("-{pgid}\n"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// The script itself, on a group of its own: `sleep` processes in a new group, listed
    /// and unlisted, then the end of input.
    #[test]
    fn the_script_ends_the_groups_still_listed_at_the_end_of_input() {
        let spawn_group =
            || Command::new("sleep").arg("60").process_group(0).spawn().expect("sleep starts");
        let (mut kept, mut dropped) = (spawn_group(), spawn_group());
        let mut dog = Command::new("/bin/sh")
            .arg("-c")
            .arg(SCRIPT)
            .stdin(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut stdin = dog.stdin.take().unwrap();
        writeln!(stdin, "+{}\n+{}\n+12345678\n-{}", kept.id(), dropped.id(), dropped.id()).unwrap();
        drop(stdin);
        let start = Instant::now();
        let status = kept.wait().unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(15));
        dog.wait().unwrap();
        assert!(dropped.try_wait().unwrap().is_none(), "an unlisted group was killed");
        dropped.kill().unwrap();
        dropped.wait().unwrap();
    }
}
