//! `HeapProfiler.takeHeapSnapshot`: send the command, hand each chunk's text to a sink in
//! order, finish when the reply arrives.

use std::io;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Event, Inspector, InspectorError};

/// The overall cap on one snapshot transfer, as a multiple of its inactivity timeout.
pub const SNAPSHOT_CAP_FACTOR: u32 = 4;

const TAKE: &str = "HeapProfiler.takeHeapSnapshot";
const CHUNK: &str = "HeapProfiler.addHeapSnapshotChunk";

/// What one snapshot transfer cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotTransfer {
    /// Bytes of snapshot JSON handed to the sink.
    pub bytes: u64,
    /// Chunk events received.
    pub chunks: u64,
    /// From sending the command to its reply.
    pub elapsed: Duration,
    /// From sending the command to the first chunk: roughly the time V8 spends building the
    /// snapshot before it starts serialising. Equal to `elapsed` when no chunk came.
    pub first_chunk_after: Duration,
}

impl Inspector {
    /// Takes a heap snapshot and feeds its JSON text to `sink`, chunk by chunk, in order.
    ///
    /// Chunk boundaries fall anywhere, even inside numbers and strings: the sink must treat
    /// its input as one byte stream (write it to a file, or to a [`super::ChunkSender`] whose
    /// [`super::ChunkReader`] a parser reads on a blocking thread).
    ///
    /// The transfer completes when the reply to the command arrives, which comes after the
    /// last chunk. Any message with the command's id counts as the reply: workerd echoes the
    /// command back instead of sending a `result`.
    ///
    /// **Timeouts.** `timeout` is an inactivity timeout: the transfer fails with
    /// [`InspectorError::Timeout`] when nothing (no chunk, no reply) arrives for that long.
    /// The first chunk only comes once V8 has built the snapshot (about 7 s for a 72 MB heap
    /// on Node 20, 38 s for 390 MB), so choose it with that in mind. On top of that the whole
    /// transfer is capped at [`SNAPSHOT_CAP_FACTOR`] × `timeout`. After a timeout or a sink
    /// error, V8 goes on sending the rest of the snapshot, which this session then drops; do
    /// not take another snapshot on it until that would have finished (in practice: treat the
    /// target as failed).
    ///
    /// Only one snapshot runs at a time per session: chunk events carry no id, so a second
    /// call waits for the first to finish.
    pub async fn take_heap_snapshot(
        &self,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
        timeout: Duration,
    ) -> Result<SnapshotTransfer, InspectorError> {
        let _one_at_a_time = self.snapshot_lock.lock().await;
        // Subscribe before sending, so the first chunk cannot be missed.
        let mut chunks = self.subscribe(CHUNK);
        let start = Instant::now();
        let cap = start + timeout * SNAPSHOT_CAP_FACTOR;
        let (id, mut reply) =
            self.send(TAKE, json!({"reportProgress": false, "captureNumericValue": false})).await?;
        let mut transfer = SnapshotTransfer {
            bytes: 0,
            chunks: 0,
            elapsed: Duration::ZERO,
            first_chunk_after: Duration::ZERO,
        };
        let mut feed = |event: Event, transfer: &mut SnapshotTransfer| {
            let Some(text) = event.params["chunk"].as_str() else {
                return Err(InspectorError::Unexpected(format!("{CHUNK} without a chunk string")));
            };
            if transfer.chunks == 0 {
                transfer.first_chunk_after = start.elapsed();
            }
            transfer.chunks += 1;
            transfer.bytes += text.len() as u64;
            sink(text.as_bytes()).map_err(InspectorError::Sink)
        };
        let mut idle_deadline = Instant::now() + timeout;
        let outcome = loop {
            let deadline = idle_deadline.min(cap);
            tokio::select! {
                // Chunks first: they were all sent before the reply.
                biased;
                event = chunks.recv() => match event {
                    Some(event) => {
                        if let Err(e) = feed(event, &mut transfer) {
                            break Err(e);
                        }
                        idle_deadline = Instant::now() + timeout;
                    }
                    // Closed. The reply may have come just before: then it is complete.
                    None => break match reply.try_recv() {
                        Ok(result) => result.map(drop),
                        Err(_) => Err(InspectorError::Closed),
                    },
                },
                result = &mut reply => {
                    // The reader queued every chunk before routing the reply: drain them.
                    let mut drained = Ok(());
                    while let Some(event) = chunks.try_recv() {
                        drained = feed(event, &mut transfer);
                        if drained.is_err() {
                            break;
                        }
                    }
                    break drained.and(match result {
                        Ok(result) => result.map(drop),
                        Err(_) => Err(InspectorError::Closed),
                    });
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let after = if deadline >= cap { timeout * SNAPSHOT_CAP_FACTOR } else { timeout };
                    break Err(InspectorError::Timeout { method: TAKE.to_owned(), after });
                }
            }
        };
        if outcome.is_err() {
            self.shared.routes().pending.remove(&id);
        }
        outcome?;
        transfer.elapsed = start.elapsed();
        if transfer.chunks == 0 {
            transfer.first_chunk_after = transfer.elapsed;
        }
        Ok(transfer)
    }
}
