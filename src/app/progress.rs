//! Progress on stderr for the commands that run targets: a live bar on a terminal, one line
//! per phase in a CI log or a pipe (`leakcheck run`, and `leakcheck test --nocapture`).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::format::{bytes, thousands};
use crate::model::Outcome;
use crate::runner::progress::{Event, Progress};

/// Progress on stderr: a bar with the current phase on a terminal; in a CI log (or a pipe),
/// one line per phase and none per request.
pub struct StderrProgress {
    bar: Option<ProgressBar>,
    last_load: Mutex<(String, u64)>,
}

impl StderrProgress {
    /// One line per phase, never a bar: for output shared with other writers.
    pub fn lines() -> StderrProgress {
        StderrProgress { bar: None, last_load: Mutex::new((String::new(), 0)) }
    }

    /// A live bar on a terminal (unless `CI` is set); one line per phase otherwise.
    pub fn auto() -> StderrProgress {
        let live = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let bar = live.then(|| {
            let bar = ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{bar:25}] {pos}/{len}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        StderrProgress { bar, last_load: Mutex::new((String::new(), 0)) }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

impl Drop for StderrProgress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for StderrProgress {
    fn event(&self, event: &Event<'_>) {
        match *event {
            Event::Starting { target } => {
                self.line(format!("{target}: starting"));
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("{target}: starting"));
                }
            }
            Event::Ready { target, pid, after } => {
                self.line(format!("{target}: ready after {:.1} s (pid {pid})", after.as_secs_f64()))
            }
            Event::Load { target, route, rung, done, total } => {
                if let Some(bar) = &self.bar {
                    let mut last = self.last_load.lock().expect("no panics while held");
                    let phase = match rung {
                        None => format!("{target} › {route}: warm-up"),
                        Some(r) => format!("{target} › {route}: rung {r}"),
                    };
                    if last.0 != phase || last.1 != total {
                        bar.set_message(phase.clone());
                        bar.set_length(total);
                        *last = (phase, total);
                    }
                    bar.set_position(done);
                } else if done == total {
                    let phase = match rung {
                        None => "warm-up".to_owned(),
                        Some(r) => format!("rung {r}"),
                    };
                    eprintln!("{target} › {route}: {phase}: {} requests sent", thousands(total));
                }
            }
            Event::Snapshot { target, route, rung } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("{target} › {route}: heap snapshot {rung}"));
                }
            }
            Event::SnapshotDone { target, route, rung, bytes: size, nodes, v8_time } => {
                self.line(format!(
                    "{target} › {route}: snapshot {rung}: {} nodes, {} in {:.1} s",
                    thousands(nodes),
                    bytes(size),
                    v8_time.as_secs_f64()
                ));
            }
            Event::ExtraRung { target, route, why } => self.line(format!(
                "{target} › {route}: unclear ({}), taking another rung",
                why.join(", ")
            )),
            Event::Resize { target, route, limit, sensitivity, requests } => {
                self.line(format!(
                    "{target} › {route}: detection limit {}/request, sensitivity {}/request: a new series of {} per rung",
                    crate::format::bytes_rate(limit),
                    crate::format::bytes_rate(sensitivity),
                    crate::format::plural(requests, "request")
                ))
            }
            Event::WarmupUnsettled { target, route, requests, still_growing } => {
                self.line(format!(
                    "{target} › {route}: warm-up stopped at its cap of {} with V8's {} still growing",
                    crate::format::plural(requests, "request"),
                    still_growing.join(" and ")
                ))
            }
            Event::Idle { target, route, seconds } => self.line(format!(
                "{target} › {route}: idle for {seconds:.1} s (growth with time, not requests?)"
            )),
            Event::RouteDone { target, route, outcome } => {
                let word = match outcome {
                    Outcome::Pass => "pass",
                    Outcome::Fail => "FAIL",
                    Outcome::Error => "ERROR",
                    Outcome::Skipped => "skipped",
                };
                self.line(format!("{target} › {route}: {word}"));
            }
            Event::Stopped { target, how, after, escaped } => {
                self.line(format!("{target}: {how} in {:.1} s", after.as_secs_f64()));
                for (pid, command) in escaped {
                    self.line(format!(
                        "{target}: pid {pid} `{}` had left the target's process group and was still running: killed",
                        crate::format::printable(command)
                    ));
                }
            }
        }
    }
}
