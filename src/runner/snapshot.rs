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
    let mut writer = match &file {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("could not create `{}`: {e}", dir.display()))?;
            }
            let f = File::create(path)
                .map_err(|e| format!("could not write `{}`: {e}", path.display()))?;
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
    let after = Instant::now();
    let parsed = parse.await.map_err(|e| format!("the snapshot analysis failed: {e}"))?;
    // A transfer error explains a parse error (a cut stream), so it goes first.
    let transfer = transfer.map_err(|e| format!("could not take a heap snapshot: {e}"))?;
    let (graph, analysis, digest, rss_after_streaming) = parsed?;
    let taken = Taken {
        rss_after_streaming,
        compact_graph_bytes: graph.heap_bytes() as u64,
        graph,
        analysis,
        bytes: transfer.bytes,
        v8_time,
        analysis_time: after.elapsed(),
        file,
    };
    Ok((taken, digest))
}
