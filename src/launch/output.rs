//! The target's stdout and stderr: drained continuously into bounded tails (for error
//! reports), with stderr scanned for the inspector's `Debugger listening on ws://…` lines.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

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

/// Bytes read from a pipe at once.
const READ_SIZE: usize = 256 * 1024;
/// The pipe buffer asked for on Linux (`F_SETPIPE_SZ`; 1 MiB is the default most an
/// unprivileged process may ask for). A full pipe makes Node queue its writes in the stream's
/// `_writableState`, where they show up in heap snapshots as growth.
const PIPE_SIZE: i32 = 1 << 20;

/// A pipe for one of the child's output streams: the write end for the child, and the read
/// end, blocking, for [`drain`], with a pipe buffer as large as the system allows.
pub(crate) fn pipe() -> std::io::Result<(std::io::PipeReader, std::io::PipeWriter)> {
    let (reader, writer) = std::io::pipe()?;
    // Best effort: a smaller buffer only means less slack.
    let _ = nix::fcntl::fcntl(&reader, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
    Ok((reader, writer))
}

/// Reads `stream` into `tail` until end of input, on a thread of its own, and returns a task
/// that finishes when it has. With `inspectors`, each new inspector URL found is appended to
/// the watched list (once: a process announces its inspector once, and a URL seen twice is the
/// same process).
///
/// A thread, with large blocking reads, rather than a task of the async runtime: a service
/// that logs a lot must never wait for leakcheck, even while leakcheck's threads are busy
/// driving the load or parsing a snapshot. Memory stays bounded: a line is kept up to
/// [`MAX_BYTES`], and only the last [`MAX_LINES`] lines of each read are turned into text.
pub(crate) fn drain<R>(
    mut stream: R,
    tail: SharedTail,
    inspectors: Option<watch::Sender<Vec<String>>>,
) -> JoinHandle<()>
where
    R: std::io::Read + Send + 'static,
{
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let shared = tail.clone();
    let read = move || {
        let tail = shared;
        let mut buf = vec![0u8; READ_SIZE];
        let mut partial: Vec<u8> = Vec::new();
        let mut lines: Vec<Vec<u8>> = Vec::new();
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let mut rest = &buf[..n];
            while let Some(at) = memchr::memchr(b'\n', rest) {
                append_capped(&mut partial, &rest[..at]);
                lines.push(std::mem::take(&mut partial));
                rest = &rest[at + 1..];
            }
            append_capped(&mut partial, rest);
            take_lines(&mut lines, &tail, inspectors.as_ref());
        }
        if !partial.is_empty() {
            lines.push(partial);
            take_lines(&mut lines, &tail, inspectors.as_ref());
        }
        let _ = done.send(());
    };
    if let Err(e) = std::thread::Builder::new().name("leakcheck-output".into()).spawn(read) {
        tail.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("(leakcheck could not start a thread to read this stream: {e})"));
    }
    tokio::spawn(async move {
        let _ = finished.await;
    })
}

/// Appends to a line being read, up to [`MAX_BYTES`] (the rest of a longer line is dropped).
fn append_capped(line: &mut Vec<u8>, bytes: &[u8]) {
    let room = (MAX_BYTES + 4).saturating_sub(line.len());
    line.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// Moves the complete lines read so far into the tail, under one lock, looking at every line
/// for the markers and keeping the text of the last ones only.
fn take_lines(
    lines: &mut Vec<Vec<u8>>,
    tail: &SharedTail,
    inspectors: Option<&watch::Sender<Vec<String>>>,
) {
    if lines.is_empty() {
        return;
    }
    let finder =
        |needle: &str, line: &[u8]| memchr::memmem::find(line, needle.as_bytes()).is_some();
    let mut ended = false;
    let mut wrangler = false;
    for line in lines.iter_mut() {
        while matches!(line.last(), Some(b'\r')) {
            line.pop();
        }
        if let Some(tx) = inspectors
            && finder(LISTENING, line)
        {
            let text = String::from_utf8_lossy(line);
            if let Some(url) = inspector_url(&text) {
                tx.send_if_modified(|urls| {
                    let new = !urls.iter().any(|u| u == url);
                    if new {
                        urls.push(url.to_owned());
                    }
                    new
                });
            }
        }
        ended |= finder(WAITING_FOR_DEBUGGER, line);
        wrangler |= finder(WRANGLER_READY, line);
    }
    let keep = lines.len().saturating_sub(MAX_LINES);
    let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
    tail.program_ended |= ended;
    tail.wrangler_ready |= wrangler;
    for line in lines.drain(..).skip(keep) {
        tail.push(String::from_utf8_lossy(&line).into_owned());
    }
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

    #[tokio::test]
    async fn drain_keeps_the_last_lines_of_a_flood_and_cuts_long_lines() {
        let mut input = Vec::new();
        for i in 0..10_000 {
            input.extend_from_slice(format!("request {i} served\n").as_bytes());
        }
        input.extend_from_slice(&vec![b'x'; 3 * MAX_BYTES]);
        input.extend_from_slice(b"\nWaiting for the debugger to disconnect...\nlast");
        let tail = SharedTail::default();
        drain(std::io::Cursor::new(input), tail.clone(), None).await.unwrap();
        let text = tail_text(&tail);
        assert!(tail.lock().unwrap().program_ended);
        assert!(
            text.ends_with("Waiting for the debugger to disconnect...\nlast\n"),
            "{}",
            &text[text.len() - 80..]
        );
        assert!(text.len() <= MAX_BYTES + MAX_LINES, "{}", text.len());
    }
}
