//! The target's stdout and stderr: drained continuously into bounded tails (for error
//! reports), with stderr scanned for the inspector's `Debugger listening on ws://…` lines.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Lines kept per stream.
const MAX_LINES: usize = 200;
/// Bytes kept per stream (a single longer line is cut to this).
const MAX_BYTES: usize = 64 * 1024;

/// What Node writes once per process when its inspector starts. It also writes `Debugger
/// ending on ws://…` when a client detaches, which must not be taken for a new inspector.
const LISTENING: &str = "Debugger listening on ";

/// What Node writes when its program has ended (`process.exit`, an uncaught exception, the
/// event loop running dry) while a debugger is attached: the process then lingers, serving
/// nothing, until the inspector session closes.
const WAITING_FOR_DEBUGGER: &str = "Waiting for the debugger to disconnect";

/// What `wrangler dev` prints once its worker serves requests:
/// `[wrangler:info] Ready on http://127.0.0.1:8787`.
const WRANGLER_READY: &str = "Ready on http";

/// The last lines of one stream.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    lines: VecDeque<String>,
    bytes: usize,
    /// Node said its program ended and it waits for the debugger to go.
    pub(crate) program_ended: bool,
    /// wrangler said its worker is ready.
    pub(crate) wrangler_ready: bool,
}

impl Tail {
    pub(crate) fn push(&mut self, mut line: String) {
        if line.len() > MAX_BYTES {
            let mut cut = MAX_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
        }
        self.bytes += line.len();
        self.lines.push_back(line);
        while self.lines.len() > MAX_LINES || self.bytes > MAX_BYTES {
            let Some(old) = self.lines.pop_front() else { break };
            self.bytes -= old.len();
        }
    }

    pub(crate) fn text(&self) -> String {
        let mut out = String::with_capacity(self.bytes + self.lines.len());
        for line in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// A tail shared between the draining task and the [`super::Target`].
pub(crate) type SharedTail = Arc<Mutex<Tail>>;

pub(crate) fn tail_text(tail: &SharedTail) -> String {
    tail.lock().unwrap_or_else(|e| e.into_inner()).text()
}

/// The inspector URL announced on `line`, if it is a `Debugger listening on ws://…` line.
/// Found anywhere in the line, so a wrapper's prefix (`[api] …`) does not hide it.
pub(crate) fn inspector_url(line: &str) -> Option<&str> {
    let at = line.find(LISTENING)?;
    let url = line[at + LISTENING.len()..].split_whitespace().next()?;
    url.starts_with("ws://").then_some(url)
}

/// Reads `stream` line by line into `tail` until end of input. With `inspectors`, each new
/// inspector URL found is appended to the watched list (once: a process announces its
/// inspector once, and a URL seen twice is the same process).
pub(crate) fn drain<R>(
    stream: R,
    tail: SharedTail,
    inspectors: Option<watch::Sender<Vec<String>>>,
) -> JoinHandle<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            let line = String::from_utf8_lossy(&buf).into_owned();
            if let Some(tx) = &inspectors
                && let Some(url) = inspector_url(&line)
            {
                tx.send_if_modified(|urls| {
                    let new = !urls.iter().any(|u| u == url);
                    if new {
                        urls.push(url.to_owned());
                    }
                    new
                });
            }
            let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
            if line.contains(WAITING_FOR_DEBUGGER) {
                tail.program_ended = true;
            }
            if line.contains(WRANGLER_READY) {
                tail.wrangler_ready = true;
            }
            tail.push(line);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_listening_lines() {
        assert_eq!(
            inspector_url("Debugger listening on ws://127.0.0.1:37999/cc01e2ad-2605"),
            Some("ws://127.0.0.1:37999/cc01e2ad-2605")
        );
        assert_eq!(
            inspector_url("[api] Debugger listening on ws://127.0.0.1:1/x  "),
            Some("ws://127.0.0.1:1/x")
        );
        assert_eq!(inspector_url("Debugger ending on ws://127.0.0.1:37999/cc"), None);
        assert_eq!(inspector_url("For help, see: https://nodejs.org/en/docs/inspector"), None);
        assert_eq!(inspector_url("Debugger attached."), None);
    }

    #[test]
    fn tail_keeps_the_last_lines_and_bytes() {
        let mut tail = Tail::default();
        for i in 0..500 {
            tail.push(format!("line {i}"));
        }
        let text = tail.text();
        assert_eq!(text.lines().count(), MAX_LINES);
        assert!(text.ends_with("line 499\n"));
        tail.push("é".repeat(MAX_BYTES));
        assert!(tail.bytes <= MAX_BYTES);
        assert_eq!(tail.lines.len(), 1);
    }

    #[tokio::test]
    async fn drain_collects_lines_and_distinct_inspectors() {
        let input: &[u8] = b"Debugger listening on ws://127.0.0.1:1/a\r\nFor help\nDebugger listening on ws://127.0.0.1:2/b\nDebugger listening on ws://127.0.0.1:1/a\nno newline";
        let tail = SharedTail::default();
        let (tx, rx) = watch::channel(Vec::new());
        drain(input, tail.clone(), Some(tx)).await.unwrap();
        assert_eq!(*rx.borrow(), ["ws://127.0.0.1:1/a", "ws://127.0.0.1:2/b"]);
        assert!(tail_text(&tail).ends_with("For help\nDebugger listening on ws://127.0.0.1:2/b\nDebugger listening on ws://127.0.0.1:1/a\nno newline\n"));
    }
}
