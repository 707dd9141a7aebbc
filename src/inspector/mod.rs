//! A small Chrome DevTools Protocol client over one WebSocket: id-correlated calls, events, and
//! the heap snapshot chunk stream.
//!
//! One reader task owns the receiving half of the socket. Replies are routed by `id` to the
//! call waiting for them; ids come from one process-wide counter, so they never repeat within a
//! run, and replies with ids nobody waits for are dropped (wrangler's inspector proxy injects
//! its own commands, and late replies of earlier sessions have been seen on new ones). Events
//! go to the subscribers whose method matches. When the connection is lost, every pending call
//! fails with [`InspectorError::Closed`] and every subscription ends.
//!
//! Keep one [`Inspector`] for the whole life of a target: V8 forgets its heap object ids when
//! the session closes, and ids that stay stable across snapshots are what make them comparable.
//!
//! ```no_run
//! # async fn demo(ws_url: &str) -> Result<(), leakcheck::inspector::InspectorError> {
//! use std::time::Duration;
//! use leakcheck::inspector::Inspector;
//!
//! let inspector = Inspector::connect(ws_url, Duration::from_secs(5)).await?;
//! let usage = inspector.heap_usage(Duration::from_secs(5)).await?;
//! println!("{} of {} bytes used", usage.used, usage.total);
//! let expression = serde_json::json!({"expression": "1 + 1"});
//! let two = inspector.call("Runtime.evaluate", expression, Duration::from_secs(5)).await?;
//! assert_eq!(two["result"]["value"], 2);
//! # Ok(()) }
//! ```

mod chunks;
mod snapshot;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use chunks::{ChunkReader, ChunkSender, chunk_channel};
pub use snapshot::{SNAPSHOT_CAP_FACTOR, SnapshotTransfer};

/// Largest WebSocket message accepted. Snapshot chunks are at most 1 MiB of text (newer V8),
/// escaped once more inside a JSON string; 256 MiB leaves room for any other reply.
const MAX_MESSAGE: usize = 256 << 20;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Reply = Result<Value, InspectorError>;

/// Ids of calls: unique within the whole process, so a late reply to an abandoned call can
/// never be mistaken for the reply to a new one, and starting at a random point of each run, so
/// that neither can a stale reply to an earlier run forwarded by a proxy (wrangler's forwards
/// them). V8 reads ids as 32-bit integers; wrangler's own calls use ids from 100,000,001, so a
/// run starts below 80,000,000 and has millions of ids before it gets near them.
fn next_id() -> u64 {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let start = *START.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        1 + h.finish() % 79_000_000
    });
    start + COUNT.fetch_add(1, Ordering::Relaxed)
}

/// Why a CDP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum InspectorError {
    /// The WebSocket could not be opened.
    #[error("connect to the inspector at {url}: {message}")]
    Connect {
        /// The `ws://` URL.
        url: String,
        /// What the WebSocket library said.
        message: String,
    },
    /// The WebSocket was not open within the connect timeout.
    #[error("connect to the inspector at {url}: no answer within {after:?}")]
    ConnectTimeout {
        /// The `ws://` URL.
        url: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The connection was lost (the target exited, or closed the session) before the reply.
    #[error("the inspector connection closed")]
    Closed,
    /// No reply (or, for a snapshot, no chunk) arrived in time.
    #[error("{method}: no reply within {after:?}")]
    Timeout {
        /// The CDP method called.
        method: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The target answered with a CDP error.
    #[error("the inspector answered with error {code}: {message}")]
    Protocol {
        /// The JSON-RPC error code (-32601 is "method not found").
        code: i64,
        /// The error message.
        message: String,
    },
    /// A reply or event did not have the expected shape.
    #[error("unexpected message from the inspector: {0}")]
    Unexpected(String),
    /// The sink given to [`Inspector::take_heap_snapshot`] failed.
    #[error("write the snapshot: {0}")]
    Sink(#[source] std::io::Error),
}

/// A CDP event: a message with a `method` and no `id`.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// For example `HeapProfiler.addHeapSnapshotChunk`.
    pub method: String,
    /// The event's parameters (`null` when absent).
    pub params: Value,
}

/// The V8 heap's size, from `Runtime.getHeapUsage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapUsage {
    /// Bytes used by live and not yet collected objects.
    pub used: u64,
    /// Bytes the heap has reserved.
    pub total: u64,
    /// Bytes of ArrayBuffer backing stores (`backingStorageSize`), outside the heap: newer V8
    /// only (Deno 2, workerd); Node 20 does not send it.
    pub backing_storage: Option<u64>,
}

/// The process's own view of its memory: Node's and Deno's `process.memoryUsage()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessMemoryUsage {
    /// Resident set size of the whole process.
    pub rss: u64,
    /// V8 heap used.
    pub heap_used: u64,
    /// Memory of C++ objects bound to JavaScript objects, managed by V8 (Node: includes
    /// `arrayBuffers`; Deno: does not).
    pub external: u64,
    /// ArrayBuffer and SharedArrayBuffer backing stores (Node; Deno always says 0).
    #[serde(default)]
    pub array_buffers: u64,
}

/// What [`Inspector::process_memory_usage`] evaluates: `null` where there is no
/// `process.memoryUsage` (workerd without `nodejs_compat`, browsers).
const MEMORY_USAGE: &str = "(typeof process === 'object' && process !== null && \
    typeof process.memoryUsage === 'function') ? process.memoryUsage() : null";

/// Events delivered to one subscriber, in arrival order. Ends (`recv` returns `None`) when the
/// connection closes. Dropping it unsubscribes.
pub struct EventStream {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl EventStream {
    /// The next event, or `None` once the connection has closed.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is already queued.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

/// Subscribers and pending calls, shared with the reader task.
#[derive(Default)]
struct Routes {
    /// Set once the reader has stopped; nothing is added after that.
    closed: bool,
    pending: HashMap<u64, oneshot::Sender<Reply>>,
    /// (method filter, sender); `None` receives every event.
    subscribers: Vec<(Option<String>, mpsc::UnboundedSender<Event>)>,
}

struct Shared {
    routes: Mutex<Routes>,
}

impl Shared {
    fn routes(&self) -> MutexGuard<'_, Routes> {
        // A panic while holding this lock cannot leave the maps inconsistent, so go on.
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One CDP session over one WebSocket. Calls may be made concurrently from several tasks.
///
/// Dropping it closes the connection (the reader task is aborted); [`Inspector::close`] does
/// so politely.
pub struct Inspector {
    url: String,
    shared: Arc<Shared>,
    sink: tokio::sync::Mutex<SplitSink<Socket, Message>>,
    reader: JoinHandle<()>,
    /// Chunk events carry no id, so two snapshots at once would interleave: one at a time.
    snapshot_lock: tokio::sync::Mutex<()>,
}

impl Inspector {
    /// Opens a WebSocket to `ws_url` (a `ws://` URL from `Debugger listening on` or
    /// `/json/list`) within `timeout`.
    pub async fn connect(ws_url: &str, timeout: Duration) -> Result<Inspector, InspectorError> {
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let connect = tokio_tungstenite::connect_async_with_config(ws_url, Some(config), true);
        let (socket, _response) = match tokio::time::timeout(timeout, connect).await {
            Err(_) => {
                return Err(InspectorError::ConnectTimeout {
                    url: ws_url.to_owned(),
                    after: timeout,
                });
            }
            Ok(Err(e)) => {
                return Err(InspectorError::Connect {
                    url: ws_url.to_owned(),
                    message: e.to_string(),
                });
            }
            Ok(Ok(ok)) => ok,
        };
        let (sink, stream) = socket.split();
        let shared = Arc::new(Shared { routes: Mutex::new(Routes::default()) });
        let reader = tokio::spawn(read_loop(stream, Arc::clone(&shared)));
        Ok(Inspector {
            url: ws_url.to_owned(),
            shared,
            sink: tokio::sync::Mutex::new(sink),
            reader,
            snapshot_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The URL this session is connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// True once the connection has been lost.
    pub fn is_closed(&self) -> bool {
        self.shared.routes().closed
    }

    /// Sends `method` with `params` and waits up to `timeout` for its reply's `result`.
    ///
    /// A reply carrying `error` becomes [`InspectorError::Protocol`]. A reply with neither
    /// (workerd echoes some commands back) gives `Value::Null`. After a timeout the call is
    /// forgotten: its late reply, if any, is ignored.
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, InspectorError> {
        let (id, rx) = self.send(method, params).await?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(InspectorError::Closed),
            Err(_) => {
                self.shared.routes().pending.remove(&id);
                Err(InspectorError::Timeout { method: method.to_owned(), after: timeout })
            }
        }
    }

    /// Registers a pending reply, then sends the command. Returns its id and the reply channel.
    async fn send(
        &self,
        method: &str,
        params: Value,
    ) -> Result<(u64, oneshot::Receiver<Reply>), InspectorError> {
        let id = next_id();
        let (tx, rx) = oneshot::channel();
        {
            let mut routes = self.shared.routes();
            if routes.closed {
                return Err(InspectorError::Closed);
            }
            routes.pending.insert(id, tx);
        }
        let text = json!({"id": id, "method": method, "params": params}).to_string();
        let sent = self.sink.lock().await.send(Message::text(text)).await;
        if sent.is_err() {
            self.shared.routes().pending.remove(&id);
            return Err(InspectorError::Closed);
        }
        Ok((id, rx))
    }

    /// Receives every event whose method is `method`, from now on.
    ///
    /// Events are queued without bound until read (the reader task never waits for a slow
    /// subscriber, so replies keep flowing): read the stream, or drop it when done.
    pub fn subscribe(&self, method: &str) -> EventStream {
        self.add_subscriber(Some(method.to_owned()))
    }

    /// Receives every event, from now on. Snapshot chunks are events too, so a stream left
    /// unread during a snapshot holds a copy of it: drop it when done.
    pub fn subscribe_all(&self) -> EventStream {
        self.add_subscriber(None)
    }

    fn add_subscriber(&self, filter: Option<String>) -> EventStream {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut routes = self.shared.routes();
        // Once closed, dropping `tx` here makes the stream end at once.
        if !routes.closed {
            routes.subscribers.push((filter, tx));
        }
        EventStream { rx }
    }

    /// `HeapProfiler.enable`. Heap object ids stay stable across snapshots from here on, for as
    /// long as this session lives.
    pub async fn enable_heap_profiler(&self, timeout: Duration) -> Result<(), InspectorError> {
        self.call("HeapProfiler.enable", json!({}), timeout).await.map(drop)
    }

    /// `HeapProfiler.collectGarbage`: a full GC. Not needed before a snapshot (taking one
    /// collects garbage itself), only before [`Inspector::heap_usage`]. On workerd it does not
    /// answer until the isolate next serves a request.
    pub async fn collect_garbage(&self, timeout: Duration) -> Result<(), InspectorError> {
        self.call("HeapProfiler.collectGarbage", json!({}), timeout).await.map(drop)
    }

    /// `Runtime.getHeapUsage` (works without `Runtime.enable`).
    pub async fn heap_usage(&self, timeout: Duration) -> Result<HeapUsage, InspectorError> {
        let reply = self.call("Runtime.getHeapUsage", json!({}), timeout).await?;
        let field = |name: &str| {
            reply[name].as_f64().map(|v| v as u64).ok_or_else(|| {
                InspectorError::Unexpected(format!("Runtime.getHeapUsage without {name}: {reply}"))
            })
        };
        Ok(HeapUsage {
            used: field("usedSize")?,
            total: field("totalSize")?,
            backing_storage: reply["backingStorageSize"].as_f64().map(|v| v as u64),
        })
    }

    /// `process.memoryUsage()` through `Runtime.evaluate`, in the target's main context.
    /// `Ok(None)` when the runtime has none: no `process.memoryUsage` function, no context to
    /// evaluate in (workerd outside a request: "Cannot find default execution context"), or
    /// figures that cannot be real (an RSS of 0).
    pub async fn process_memory_usage(
        &self,
        timeout: Duration,
    ) -> Result<Option<ProcessMemoryUsage>, InspectorError> {
        let value = match self.evaluate(MEMORY_USAGE, timeout).await {
            Ok(value) => value,
            Err(InspectorError::Protocol { .. } | InspectorError::Unexpected(_)) => {
                return Ok(None);
            }
            Err(other) => return Err(other),
        };
        if value.is_null() {
            return Ok(None);
        }
        let usage: ProcessMemoryUsage = serde_json::from_value(value.clone()).map_err(|e| {
            InspectorError::Unexpected(format!("process.memoryUsage() returned {value}: {e}"))
        })?;
        Ok((usage.rss > 0).then_some(usage))
    }

    /// `Runtime.evaluate` of `expression` with `returnByValue`, returning the value. A thrown
    /// exception becomes [`InspectorError::Unexpected`] with its description.
    pub async fn evaluate(
        &self,
        expression: &str,
        timeout: Duration,
    ) -> Result<Value, InspectorError> {
        let mut reply = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
                timeout,
            )
            .await?;
        if let Some(details) = reply.get("exceptionDetails") {
            let text = details["exception"]["description"]
                .as_str()
                .or(details["text"].as_str())
                .unwrap_or("exception");
            return Err(InspectorError::Unexpected(format!(
                "evaluating `{expression}` threw: {text}"
            )));
        }
        Ok(reply["result"]["value"].take())
    }

    /// Closes the WebSocket politely and stops the reader.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let mut sink = self.sink.lock().await;
            let _ = sink.send(Message::Close(None)).await;
            let _ = sink.close().await;
        })
        .await;
        // Drop aborts the reader.
    }
}

impl Drop for Inspector {
    fn drop(&mut self) {
        self.reader.abort();
        close_routes(&self.shared);
    }
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector").field("url", &self.url).finish()
    }
}

/// Marks the session closed: pending calls fail with `Closed`, subscriptions end.
fn close_routes(shared: &Shared) {
    let mut routes = shared.routes();
    routes.closed = true;
    for (_, tx) in routes.pending.drain() {
        let _ = tx.send(Err(InspectorError::Closed));
    }
    routes.subscribers.clear();
}

async fn read_loop(mut stream: SplitStream<Socket>, shared: Arc<Shared>) {
    while let Some(message) = stream.next().await {
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(bytes)) => match String::from_utf8(bytes.to_vec()) {
                Ok(text) => text.into(),
                Err(_) => continue,
            },
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        // A message that is not JSON cannot be routed; skip it rather than end the session.
        let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        dispatch(&shared, value);
    }
    close_routes(&shared);
}

/// Routes one message: anything with an `id` is a reply (to us, or to be ignored); anything
/// else with a `method` is an event.
fn dispatch(shared: &Shared, mut value: Value) {
    if let Some(id) = value.get("id") {
        let Some(id) = id.as_u64() else { return };
        let Some(tx) = shared.routes().pending.remove(&id) else {
            return;
        };
        let reply = if let Some(error) = value.get("error") {
            Err(InspectorError::Protocol {
                code: error["code"].as_i64().unwrap_or(0),
                message: error["message"].as_str().unwrap_or("").to_owned(),
            })
        } else {
            Ok(value["result"].take())
        };
        let _ = tx.send(reply);
        return;
    }
    let Some(method) = value.get("method").and_then(Value::as_str).map(str::to_owned) else {
        return;
    };
    let event = Event { method, params: value["params"].take() };
    let mut routes = shared.routes();
    // Deliver to every matching subscriber; forget the ones whose stream was dropped.
    let matching: Vec<usize> = routes
        .subscribers
        .iter()
        .enumerate()
        .filter(|(_, (filter, _))| filter.as_deref().is_none_or(|m| m == event.method))
        .map(|(i, _)| i)
        .collect();
    let mut event = Some(event);
    let mut gone = Vec::new();
    for (n, &i) in matching.iter().enumerate() {
        // The last one gets the event itself; the others a copy.
        let ev = if n + 1 == matching.len() {
            event.take().expect("event delivered once")
        } else {
            event.clone().expect("event present")
        };
        if routes.subscribers[i].1.send(ev).is_err() {
            gone.push(i);
        }
    }
    for i in gone.into_iter().rev() {
        routes.subscribers.swap_remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_increasing_and_below_wranglers() {
        let a = next_id();
        let b = next_id();
        assert!(b > a);
        assert!(
            (1..80_000_000).contains(&a),
            "{a}: V8 reads ids as i32, wrangler's start at 100000001"
        );
    }

    #[tokio::test]
    async fn dispatch_routes_replies_and_ignores_unknown_ids() {
        let shared = Shared { routes: Mutex::new(Routes::default()) };
        let (tx, rx) = oneshot::channel();
        shared.routes().pending.insert(7, tx);
        let (etx, mut erx) = mpsc::unbounded_channel();
        shared.routes().subscribers.push((Some("A.b".into()), etx));
        dispatch(&shared, json!({"id": 100000001, "result": {"x": 1}}));
        dispatch(&shared, json!({"id": "seven", "result": {}}));
        dispatch(&shared, json!({"method": "C.d", "params": {}}));
        dispatch(&shared, json!({"method": "A.b", "params": {"n": 1}}));
        dispatch(&shared, json!({"id": 7, "error": {"code": -32601, "message": "nope"}}));
        match rx.await.unwrap() {
            Err(InspectorError::Protocol { code, message }) => {
                assert_eq!(code, -32601);
                assert_eq!(message, "nope");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(erx.try_recv().unwrap().params, json!({"n": 1}));
        assert!(erx.try_recv().is_err());
    }
}
