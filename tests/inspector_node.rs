//! `leakcheck::inspector` against a real Node process: calls, the heap helpers, a snapshot
//! streamed into the parser while it arrives, timeouts, and a target killed mid-call.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use leakcheck::inspector::{Inspector, InspectorError, chunk_channel};
use leakcheck::launch::{LaunchSpec, Readiness, Target, free_port, launch};
use leakcheck::snapshot::{HeapGraph, NodeKind};
use serde_json::json;

const T: Duration = Duration::from_secs(10);

fn node_available() -> bool {
    std::process::Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success())
}

async fn start_server() -> Target {
    let port = free_port().unwrap();
    let spec = LaunchSpec {
        name: "inspected".into(),
        argv: vec!["node".into(), "server.js".into()],
        cwd: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/target"),
        env: vec![("PORT".into(), port.to_string())],
        port,
        url: format!("http://127.0.0.1:{port}"),
        ready: Readiness::Http("/health".into()),
        ready_timeout: Duration::from_secs(20),
        shutdown_timeout: Duration::from_secs(5),
    };
    launch(&spec).await.unwrap()
}

/// The snapshot pattern the runner uses: chunks → channel → parser on a blocking thread.
async fn snapshot(inspector: &Inspector) -> (HeapGraph, leakcheck::inspector::SnapshotTransfer) {
    let (tx, reader) = chunk_channel();
    let parsing = tokio::task::spawn_blocking(move || leakcheck::snapshot::parse(reader));
    let transfer = inspector.take_heap_snapshot(&mut |chunk| tx.send(chunk), T).await;
    drop(tx);
    let graph = parsing.await.unwrap();
    let transfer = transfer.unwrap();
    (graph.unwrap(), transfer)
}

fn marker_id(graph: &HeapGraph) -> u32 {
    let mut ids = graph
        .nodes()
        .filter(|&n| graph.kind(n) == NodeKind::Object && graph.name(n) == "LeakcheckMarker")
        .map(|n| graph.id(n));
    let id = ids.next().expect("the marker object is in the snapshot");
    assert_eq!(ids.next(), None, "one marker");
    id
}

#[tokio::test]
async fn calls_and_heap_helpers() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    let target = start_server().await;
    let inspector = Inspector::connect(target.inspector_url(), T).await.unwrap();
    assert_eq!(inspector.evaluate("6 * 7", T).await.unwrap(), json!(42));
    let reply = inspector.call("Runtime.evaluate", json!({"expression": "'a' + 'b'"}), T).await;
    assert_eq!(reply.unwrap()["result"]["value"], "ab");
    inspector.enable_heap_profiler(T).await.unwrap();
    inspector.collect_garbage(T).await.unwrap();
    let usage = inspector.heap_usage(T).await.unwrap();
    assert!(usage.used > 1_000_000 && usage.total >= usage.used, "{usage:?}");
    match inspector.call("Leakcheck.noSuchMethod", json!({}), T).await {
        Err(InspectorError::Protocol { code, message }) => {
            assert_eq!(code, -32601);
            assert!(message.contains("Leakcheck.noSuchMethod"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let thrown = inspector.evaluate("null.x", T).await.unwrap_err();
    assert!(thrown.to_string().contains("TypeError"), "{thrown}");
    inspector.close().await;
    target.shutdown().await;
}

/// `process.memoryUsage()` in the target, beside `Runtime.getHeapUsage`: a Buffer kept by the
/// program shows in `arrayBuffers` and `external`, at its size.
#[tokio::test]
async fn process_memory_usage() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    let target = start_server().await;
    let inspector = Inspector::connect(target.inspector_url(), T).await.unwrap();
    let before = inspector.process_memory_usage(T).await.unwrap().expect("Node has it");
    assert!(before.rss > before.heap_used && before.external >= before.array_buffers, "{before:?}");
    inspector.evaluate("globalThis.kept = Buffer.alloc(4 << 20, 1); 0", T).await.unwrap();
    let after = inspector.process_memory_usage(T).await.unwrap().unwrap();
    let grew = after.array_buffers - before.array_buffers;
    assert!((4 << 20..(4 << 20) + 65536).contains(&grew), "{before:?} -> {after:?}");
    assert!(after.external - before.external >= 4 << 20, "{before:?} -> {after:?}");
    assert!(
        after.rss - before.rss >= 3 << 20,
        "filled pages are resident: {before:?} -> {after:?}"
    );
    // Node 20's V8 does not send backingStorageSize.
    assert_eq!(inspector.heap_usage(T).await.unwrap().backing_storage, None);
    // A context without `process` (a runtime that has none) answers `None`, not zeros.
    inspector
        .evaluate("globalThis.savedProcess = globalThis.process; delete globalThis.process; 0", T)
        .await
        .unwrap();
    assert_eq!(inspector.process_memory_usage(T).await.unwrap(), None);
    inspector.evaluate("globalThis.process = globalThis.savedProcess; 0", T).await.unwrap();
    inspector.close().await;
    target.shutdown().await;
}

#[tokio::test]
async fn snapshot_streams_into_the_parser() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    let target = start_server().await;
    let inspector = Inspector::connect(target.inspector_url(), T).await.unwrap();
    inspector.enable_heap_profiler(T).await.unwrap();
    inspector
        .evaluate("globalThis.__marker = new (class LeakcheckMarker {})(); 1", T)
        .await
        .unwrap();
    let (first, transfer) = snapshot(&inspector).await;
    assert!(first.node_count() > 1000, "{} nodes", first.node_count());
    assert!(transfer.chunks >= 2, "{transfer:?}");
    assert!(transfer.bytes > 1_000_000, "{transfer:?}");
    assert!(transfer.first_chunk_after <= transfer.elapsed);
    // A second snapshot on the same session: the same object keeps its id (PROTOCOL.md §1).
    let (second, _) = snapshot(&inspector).await;
    assert_eq!(marker_id(&first), marker_id(&second));
    // The sink sees exactly the bytes counted, in order, forming one JSON document.
    let mut raw = Vec::new();
    let counted = inspector
        .take_heap_snapshot(
            &mut |chunk| {
                raw.extend_from_slice(chunk);
                Ok(())
            },
            T,
        )
        .await
        .unwrap();
    assert_eq!(raw.len() as u64, counted.bytes);
    let parsed: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(parsed["snapshot"]["node_count"].as_u64().unwrap() as usize, {
        leakcheck::snapshot::parse(&raw[..]).unwrap().node_count()
    });
    inspector.close().await;
    target.shutdown().await;
}

#[tokio::test]
async fn a_failing_sink_ends_the_transfer() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    let target = start_server().await;
    let inspector = Inspector::connect(target.inspector_url(), T).await.unwrap();
    let err = inspector
        .take_heap_snapshot(&mut |_| Err(std::io::Error::other("disk full")), T)
        .await
        .unwrap_err();
    assert!(matches!(err, InspectorError::Sink(ref e) if e.to_string() == "disk full"), "{err}");
    target.shutdown().await;
}

#[tokio::test]
async fn call_timeout_leaves_the_session_usable() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    let target = start_server().await;
    let inspector = Inspector::connect(target.inspector_url(), T).await.unwrap();
    let never = json!({"expression": "new Promise(() => {})", "awaitPromise": true});
    let start = Instant::now();
    let err = inspector.call("Runtime.evaluate", never, Duration::from_millis(200)).await;
    match err {
        Err(InspectorError::Timeout { method, after }) => {
            assert_eq!(method, "Runtime.evaluate");
            assert_eq!(after, Duration::from_millis(200));
        }
        other => panic!("{other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(inspector.evaluate("1 + 1", T).await.unwrap(), json!(2));
    inspector.close().await;
    target.shutdown().await;
}

#[tokio::test]
async fn killed_target_fails_pending_calls_at_once() {
    if !node_available() {
        return eprintln!("skipped: node is not on the PATH");
    }
    let target = start_server().await;
    let inspector = Inspector::connect(target.inspector_url(), T).await.unwrap();
    let mut events = inspector.subscribe_all();
    let never = json!({"expression": "new Promise(() => {})", "awaitPromise": true});
    let pending = inspector.call("Runtime.evaluate", never, Duration::from_secs(60));
    let kill = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(target); // SIGKILL to the group
    };
    let start = Instant::now();
    let (result, ()) = tokio::join!(pending, kill);
    assert!(matches!(result, Err(InspectorError::Closed)), "{result:?}");
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert!(inspector.is_closed());
    assert!(matches!(inspector.heap_usage(T).await, Err(InspectorError::Closed)));
    assert_eq!(events.recv().await, None);
}
