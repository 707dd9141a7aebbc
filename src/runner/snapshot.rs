//! One heap snapshot of a running target: taken over the inspector, streamed straight into the
//! parser on a blocking thread while the chunks arrive (never held whole as text), optionally
//! written to a file as it goes, then analysed and reduced to a digest.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::analysis::compare::{Basis, Digest};
use crate::analysis::{Analysis, analyse};
use crate::inspector::{Inspector, chunk_channel};
use crate::snapshot::{self, HeapGraph};

/// A snapshot, analysed.
pub struct Taken {
    /// The graph (kept only for the latest rung: explanations point into it).
    pub graph: HeapGraph,
    /// Its analysis.
    pub analysis: Analysis,
    /// Bytes of JSON received.
    pub bytes: u64,
    /// V8's time: from the request to the last chunk.
    pub v8_time: Duration,
    /// leakcheck's own time after the last chunk (parse tail, analysis, digest).
    pub analysis_time: Duration,
    /// When the last chunk arrived: V8 holds the target's JavaScript while it writes a
    /// snapshot, so its timers run again from here, not from when the analysis ends.
    pub resumed: Instant,
    /// Where the text was written, if it was.
    pub file: Option<PathBuf>,
    /// Resident memory of leakcheck once the graph was built, before the analysis.
    pub rss_after_streaming: Option<u64>,
    /// Bytes of the compact graph alone.
    pub compact_graph_bytes: u64,
}

/// Takes a snapshot and analyses it; returns it with its digest, which the comparison keeps
/// (`basis` from the comparer it goes to).
/// `file`, when given, receives the snapshot's text as it arrives (openable in Chrome
/// DevTools).
pub async fn take(
    inspector: &Inspector,
    label: String,
    timeout: Duration,
    file: Option<PathBuf>,
    basis: Basis,
) -> Result<(Taken, Digest), String> {
    let (sender, reader) = chunk_channel();
    let parse = tokio::task::spawn_blocking(move || {
        let graph = snapshot::parse(reader).map_err(|e| format!("the snapshot is broken: {e}"))?;
        let rss = super::proc_status_bytes("VmRSS:");
        let analysis = analyse(&graph);
        let digest = Digest::build(label, &graph, &analysis.classes, &analysis.dominators, basis);
        Ok::<_, String>((graph, analysis, digest, rss))
    });
    // The text goes to `sN.heapsnapshot.<pid>.partial` and takes its name only once complete;
    // the guard removes the partial file on every other way out (an error, a timeout, the
    // future dropped by an interrupt), so no truncated or empty snapshot is ever left to open.
    // The pid keeps two runs sharing a folder (two test processes on one route) from removing
    // each other's file mid-write.
    let mut partial = None;
    let mut writer = match &file {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("could not create `{}`: {e}", dir.display()))?;
            }
            let guard = Partial::new(path);
            let f = File::create(&guard.path)
                .map_err(|e| format!("could not write `{}`: {e}", guard.path.display()))?;
            partial = Some(guard);
            Some(BufWriter::with_capacity(1 << 20, f))
        }
        None => None,
    };
    let started = Instant::now();
    let transfer = inspector
        .take_heap_snapshot(
            &mut |chunk| {
                if let Some(w) = writer.as_mut() {
                    w.write_all(chunk)?;
                }
                sender.send(chunk)
            },
            timeout,
        )
        .await;
    drop(sender);
    let v8_time = started.elapsed();
    if let Some(mut w) = writer {
        w.flush().map_err(|e| format!("could not write the snapshot file: {e}"))?;
    }
    let resumed = Instant::now();
    let after = resumed;
    let parsed = parse.await.map_err(|e| format!("the snapshot analysis failed: {e}"))?;
    // A transfer error explains a parse error (a cut stream), so it goes first.
    let transfer = transfer.map_err(|e| format!("could not take a heap snapshot: {e}"))?;
    let (graph, analysis, digest, rss_after_streaming) = parsed?;
    if let (Some(partial), Some(path)) = (partial, &file) {
        partial.finish(path)?;
    }
    let taken = Taken {
        rss_after_streaming,
        compact_graph_bytes: graph.heap_bytes() as u64,
        graph,
        analysis,
        bytes: transfer.bytes,
        v8_time,
        analysis_time: after.elapsed(),
        resumed,
        file,
    };
    Ok((taken, digest))
}

/// A probe for `warmup = "auto"`: a snapshot (which collects garbage first) parsed only as far
/// as V8's code and metadata bytes, neither written nor analysed.
pub async fn probe_runtime(
    inspector: &Inspector,
    timeout: Duration,
) -> Result<crate::analysis::runtime::RuntimeBytes, String> {
    let (sender, reader) = chunk_channel();
    let parse = tokio::task::spawn_blocking(move || {
        let graph = snapshot::parse(reader).map_err(|e| format!("the snapshot is broken: {e}"))?;
        Ok::<_, String>(crate::analysis::runtime::RuntimeBytes::of(&graph))
    });
    let transfer = inspector.take_heap_snapshot(&mut |chunk| sender.send(chunk), timeout).await;
    drop(sender);
    let parsed = parse.await.map_err(|e| format!("the snapshot analysis failed: {e}"))?;
    transfer.map_err(|e| format!("could not take a heap snapshot: {e}"))?;
    parsed
}

/// A snapshot file being written: removed when dropped, unless [`Partial::finish`]ed.
struct Partial {
    path: PathBuf,
    done: bool,
}

impl Partial {
    fn new(file: &std::path::Path) -> Partial {
        let mut name = file.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{}{PARTIAL_SUFFIX}", std::process::id()));
        Partial { path: file.with_file_name(name), done: false }
    }

    /// Gives the complete file its name.
    fn finish(mut self, file: &std::path::Path) -> Result<(), String> {
        std::fs::rename(&self.path, file)
            .map_err(|e| format!("could not write `{}`: {e}", file.display()))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Added to a snapshot file's name while it is written.
const PARTIAL_SUFFIX: &str = ".partial";

/// Removes what an earlier run left in a route's snapshot folder (`sN.heapsnapshot`, and a
/// `.partial` one a killed run left), so that every snapshot there is from this run. A partial
/// file of a leakcheck still running (its pid alive, not ours) is being written and stays.
/// Other files are left alone.
pub fn clear_route_folder(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let (stem, writer) = match name.strip_suffix(PARTIAL_SUFFIX) {
            // `sN.heapsnapshot.<pid>.partial`, or the older `sN.heapsnapshot.partial`.
            Some(rest) => match rest.rsplit_once('.') {
                Some((stem, pid)) if pid.bytes().all(|b| b.is_ascii_digit()) => {
                    (stem, pid.parse::<u32>().ok())
                }
                _ => (rest, None),
            },
            None => (name, None),
        };
        let ours = stem
            .strip_prefix('s')
            .and_then(|rest| rest.strip_suffix(".heapsnapshot"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let being_written = writer.is_some_and(|pid| pid != std::process::id() && alive(pid));
        if ours && !being_written {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether a process with this pid exists (signal 0: checked, nothing sent).
fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearing_a_route_folder_removes_only_snapshots() {
        let dir = std::env::temp_dir().join(format!("leakcheck-clear-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let names = [
            "s0.heapsnapshot",
            "s12.heapsnapshot",
            "s3.heapsnapshot.partial",
            "s4.heapsnapshot.4294967295.partial",
            &format!("s5.heapsnapshot.{}.partial", std::process::id())[..],
            "s6.heapsnapshot.1.partial",
            "notes.txt",
            "s.heapsnapshot",
            "sx.heapsnapshot",
        ];
        for name in names {
            std::fs::write(dir.join(name), "x").unwrap();
        }
        clear_route_folder(&dir);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        // pid 1 is alive: that run is still writing its s6.
        assert_eq!(
            left,
            ["notes.txt", "s.heapsnapshot", "s6.heapsnapshot.1.partial", "sx.heapsnapshot"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_partial_file_goes_unless_finished() {
        let dir = std::env::temp_dir().join(format!("leakcheck-partial-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("s0.heapsnapshot");
        let partial = Partial::new(&file);
        std::fs::write(&partial.path, "{").unwrap();
        drop(partial);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let partial = Partial::new(&file);
        std::fs::write(&partial.path, "{}").unwrap();
        partial.finish(&file).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "{}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
