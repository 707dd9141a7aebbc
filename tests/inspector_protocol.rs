//! Protocol edges of `leakcheck::inspector` that real Node does not produce, against a tiny
//! fake CDP server: foreign reply ids (wrangler's proxy), workerd's echoed snapshot reply,
//! inactivity timeouts and a connection dropped mid-snapshot.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use leakcheck::inspector::{Inspector, InspectorError};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

const T: Duration = Duration::from_secs(5);

type Ws = WebSocketStream<tokio::net::TcpStream>;

/// Serves one WebSocket connection with `script`, which gets each request and the socket.
/// Returns the `ws://` URL.
async fn fake<F, Fut>(script: F) -> String
where
    F: FnOnce(Ws) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/fake", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        script(ws).await;
    });
    url
}

async fn next_request(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("client went away: {other:?}"),
        }
    }
}

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

#[tokio::test]
async fn foreign_ids_are_ignored_and_events_delivered() {
    let url = fake(|mut ws| async move {
        let request = next_request(&mut ws).await;
        let id = request["id"].as_u64().unwrap();
        assert_eq!(request["method"], "Runtime.getHeapUsage");
        // What wrangler's proxy does: replies to its own commands (ids from 1e8+1) reach us.
        send(&mut ws, json!({"id": 100_000_001u64, "result": {"id": "isolate"}})).await;
        send(&mut ws, json!({"id": id + 1_000_000, "error": {"code": 1, "message": "not yours"}}))
            .await;
        send(&mut ws, json!({"method": "Runtime.executionContextCreated", "params": {"n": 1}}))
            .await;
        send(&mut ws, json!({"id": id, "result": {"usedSize": 10.0, "totalSize": 20}})).await;
        // Keep the connection open until the client closes it.
        while ws.next().await.is_some() {}
    })
    .await;
    let inspector = Inspector::connect(&url, T).await.unwrap();
    let mut all = inspector.subscribe_all();
    let mut contexts = inspector.subscribe("Runtime.executionContextCreated");
    let mut other = inspector.subscribe("Debugger.paused");
    let usage = inspector.heap_usage(T).await.unwrap();
    assert_eq!((usage.used, usage.total), (10, 20));
    assert_eq!(all.recv().await.unwrap().params, json!({"n": 1}));
    assert_eq!(contexts.recv().await.unwrap().method, "Runtime.executionContextCreated");
    assert!(other.try_recv().is_none());
    inspector.close().await;
}

#[tokio::test]
async fn workerd_style_echo_completes_the_snapshot() {
    let document =
        r#"{"snapshot":{"meta":{},"node_count":0},"nodes":[1234,5],"strings":["<dummy>","é"]}"#;
    let url = fake(move |mut ws| async move {
        let request = next_request(&mut ws).await;
        assert_eq!(request["method"], "HeapProfiler.takeHeapSnapshot");
        assert_eq!(
            request["params"],
            json!({"reportProgress": false, "captureNumericValue": false})
        );
        // Boundaries inside a number and inside a string.
        for part in [&document[..45], &document[45..47], &document[47..]] {
            let event =
                json!({"method": "HeapProfiler.addHeapSnapshotChunk", "params": {"chunk": part}});
            send(&mut ws, event).await;
        }
        // workerd echoes the command instead of answering with a result.
        let mut echo = request.clone();
        echo["params"] = json!({});
        send(&mut ws, echo).await;
        while ws.next().await.is_some() {}
    })
    .await;
    let inspector = Inspector::connect(&url, T).await.unwrap();
    let mut received = Vec::new();
    let transfer = inspector
        .take_heap_snapshot(
            &mut |chunk| {
                received.extend_from_slice(chunk);
                Ok(())
            },
            T,
        )
        .await
        .unwrap();
    assert_eq!(String::from_utf8(received).unwrap(), document);
    assert_eq!(transfer.chunks, 3);
    assert_eq!(transfer.bytes, document.len() as u64);
}

#[tokio::test]
async fn snapshot_inactivity_timeout() {
    let url = fake(|mut ws| async move {
        next_request(&mut ws).await;
        let chunk =
            json!({"method": "HeapProfiler.addHeapSnapshotChunk", "params": {"chunk": "{\"snap"}});
        send(&mut ws, chunk).await;
        // ... then silence, as from a stalled target.
        while ws.next().await.is_some() {}
    })
    .await;
    let inspector = Inspector::connect(&url, T).await.unwrap();
    let start = Instant::now();
    let mut bytes = 0;
    let err = inspector
        .take_heap_snapshot(
            &mut |chunk| {
                bytes += chunk.len();
                Ok(())
            },
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, InspectorError::Timeout { ref method, after }
        if method == "HeapProfiler.takeHeapSnapshot" && after == Duration::from_millis(300)),
        "{err}"
    );
    assert_eq!(bytes, 6);
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn snapshot_overall_cap_despite_steady_chunks() {
    let url = fake(|mut ws| async move {
        next_request(&mut ws).await;
        // A chunk every 50 ms, forever: never idle, but never done.
        loop {
            let chunk =
                json!({"method": "HeapProfiler.addHeapSnapshotChunk", "params": {"chunk": "1,"}});
            if ws.send(Message::text(chunk.to_string())).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let inspector = Inspector::connect(&url, T).await.unwrap();
    let start = Instant::now();
    let err = inspector
        .take_heap_snapshot(&mut |_| Ok(()), Duration::from_millis(150))
        .await
        .unwrap_err();
    let cap = Duration::from_millis(150) * leakcheck::inspector::SNAPSHOT_CAP_FACTOR;
    assert!(matches!(err, InspectorError::Timeout { after, .. } if after == cap), "{err}");
    assert!(start.elapsed() >= cap && start.elapsed() < cap + Duration::from_secs(2));
}

#[tokio::test]
async fn connection_dropped_mid_snapshot() {
    let url = fake(|mut ws| async move {
        next_request(&mut ws).await;
        let chunk =
            json!({"method": "HeapProfiler.addHeapSnapshotChunk", "params": {"chunk": "{"}});
        send(&mut ws, chunk).await;
        drop(ws); // the target died
    })
    .await;
    let inspector = Inspector::connect(&url, T).await.unwrap();
    let err = inspector.take_heap_snapshot(&mut |_| Ok(()), T).await.unwrap_err();
    assert!(matches!(err, InspectorError::Closed), "{err}");
}

#[tokio::test]
async fn protocol_error_reply() {
    let url = fake(|mut ws| async move {
        let request = next_request(&mut ws).await;
        let id = request["id"].clone();
        send(&mut ws, json!({"id": id, "error": {"code": -32000, "message": "Not allowed"}})).await;
        while ws.next().await.is_some() {}
    })
    .await;
    let inspector = Inspector::connect(&url, T).await.unwrap();
    let err = inspector.collect_garbage(T).await.unwrap_err();
    assert!(
        matches!(err, InspectorError::Protocol { code: -32000, ref message } if message == "Not allowed"),
        "{err}"
    );
}

#[tokio::test]
async fn connect_errors() {
    // Nothing listens on a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = Inspector::connect(&format!("ws://127.0.0.1:{port}/x"), T).await.unwrap_err();
    assert!(matches!(err, InspectorError::Connect { .. }), "{err}");
    // A server that accepts TCP but never completes the WebSocket handshake.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/x", listener.local_addr().unwrap());
    let err = Inspector::connect(&url, Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(err, InspectorError::ConnectTimeout { .. }), "{err}");
    drop(listener);
}
