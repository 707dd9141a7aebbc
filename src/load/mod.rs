//! The request driver: sends N copies of one request with a fixed number in flight, consumes
//! every response body (a service that streams must finish its work), and counts what came
//! back. Loopback only, so no TLS, one pooled keep-alive client per target.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub mod histogram;

/// One request, ready to send many times.
#[derive(Clone, Debug)]
pub struct RequestTemplate {
    /// HTTP method.
    pub method: reqwest::Method,
    /// Full URL (base URL of the target plus the route's path).
    pub url: String,
    /// Request headers.
    pub headers: reqwest::header::HeaderMap,
    /// Request body, if any (cheap to clone: every request shares the bytes).
    pub body: Option<bytes::Bytes>,
    /// Per-request timeout.
    pub timeout: Duration,
}

pub use crate::model::LoadStats;

/// A client for one target: pooled keep-alive connections, no proxy, no TLS.
pub fn client(concurrency: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency.max(1))
        .tcp_nodelay(true)
        .build()
        .expect("a plain HTTP client builds")
}

/// Sends `count` requests with `concurrency` in flight; `progress` is called with the number
/// completed so far (from the tasks, so keep it cheap).
pub async fn drive(
    client: &reqwest::Client,
    request: &RequestTemplate,
    count: u64,
    concurrency: usize,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> LoadStats {
    drive_until(client, request, count, concurrency, progress, std::future::pending()).await.0
}

/// [`drive`], stopped early when `stop` resolves (the target died, a signal came): requests in
/// flight are abandoned and the counts so far are returned, with `true`.
pub async fn drive_until(
    client: &reqwest::Client,
    request: &RequestTemplate,
    count: u64,
    concurrency: usize,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
    stop: impl std::future::Future<Output = ()>,
) -> (LoadStats, bool) {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    // One fixed-size histogram for the batch: per-request state stays bounded whatever `count`.
    let latencies = Arc::new(histogram::Histogram::default());
    let workers = (concurrency.max(1) as u64).min(count.max(1)) as usize;
    // Dropping the set aborts its tasks: nothing keeps sending after a stop.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (client, request) = (client.clone(), request.clone());
        let (next, done, answered, progress, latencies) =
            (next.clone(), done.clone(), answered.clone(), progress.clone(), latencies.clone());
        tasks.spawn(async move {
            let mut stats = LoadStats::default();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let sent_at = Instant::now();
                let ok_before = stats.ok;
                send_one(&client, &request, &mut stats).await;
                latencies.record(sent_at.elapsed());
                answered.fetch_add(stats.ok - ok_before, Ordering::Relaxed);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            }
            stats
        });
    }
    let mut total = LoadStats::default();
    let collect = async {
        while let Some(joined) = tasks.join_next().await {
            total.absorb(&joined.expect("request tasks do not panic"));
        }
    };
    let stopped = tokio::select! {
        () = collect => false,
        () = stop => true,
    };
    if stopped {
        tasks.abort_all();
        let sent = done.load(Ordering::Relaxed);
        let ok = answered.load(Ordering::Relaxed);
        let partial = LoadStats {
            sent,
            ok,
            transport_errors: sent - ok,
            first_error: Some(
                "stopped: the target's program ended or leakcheck was told to stop".into(),
            ),
            elapsed: started.elapsed(),
            ..LoadStats::default()
        };
        return (partial, true);
    }
    total.p50 = latencies.quantile(0.5);
    total.p99 = latencies.quantile(0.99);
    total.elapsed = started.elapsed();
    (total, false)
}

async fn send_one(client: &reqwest::Client, request: &RequestTemplate, stats: &mut LoadStats) {
    stats.sent += 1;
    let mut builder = client
        .request(request.method.clone(), &request.url)
        .headers(request.headers.clone())
        .timeout(request.timeout);
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let response = match builder.send().await {
        Ok(r) => r,
        Err(e) => return transport_error(stats, e),
    };
    let status = response.status();
    // Read the body to the end: a streaming route does its work while it is read.
    let mut response = response;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => stats.body_bytes += chunk.len() as u64,
            Ok(None) => break,
            Err(e) => return transport_error(stats, e),
        }
    }
    if status.is_success() || status.is_redirection() {
        stats.ok += 1;
    } else {
        *stats.statuses.entry(status.as_u16()).or_default() += 1;
    }
}

fn transport_error(stats: &mut LoadStats, error: reqwest::Error) {
    stats.transport_errors += 1;
    if stats.first_error.is_none() {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        stats.first_error = Some(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny HTTP server on loopback answering every request with `status` and a body.
    async fn server(status: u16) -> (String, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let n = match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                            continue;
                        }
                        let reply = format!(
                            "HTTP/1.1 {status} X\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\nhello"
                        );
                        if socket.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, handle)
    }

    fn get(url: &str) -> RequestTemplate {
        RequestTemplate {
            method: reqwest::Method::GET,
            url: url.to_owned(),
            headers: Default::default(),
            body: None,
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn sends_exactly_count_requests_and_reads_bodies() {
        let (url, _server) = server(200).await;
        let seen = Arc::new(AtomicU64::new(0));
        let s = seen.clone();
        let stats = drive(
            &client(4),
            &get(&url),
            103,
            4,
            Arc::new(move |n| {
                s.fetch_max(n, Ordering::Relaxed);
            }),
        )
        .await;
        assert_eq!(stats.sent, 103);
        assert_eq!(stats.ok, 103);
        assert_eq!(stats.body_bytes, 5 * 103);
        assert_eq!(seen.load(Ordering::Relaxed), 103);
        assert!(stats.p50 <= stats.p99);
    }

    #[tokio::test]
    async fn a_stop_ends_the_load_early_with_the_counts_so_far() {
        let (url, _server) = server(200).await;
        let stop = tokio::time::sleep(Duration::from_millis(1));
        let (stats, stopped) =
            drive_until(&client(2), &get(&url), 10_000_000, 2, Arc::new(|_| {}), stop).await;
        assert!(stopped);
        assert!(stats.sent < 10_000_000);
        assert!(stats.ok <= stats.sent);
    }

    #[tokio::test]
    async fn counts_error_statuses_and_refused_connections() {
        let (url, _server) = server(503).await;
        let stats = drive(&client(2), &get(&url), 10, 2, Arc::new(|_| {})).await;
        assert_eq!(stats.ok, 0);
        assert_eq!(stats.statuses.get(&503), Some(&10));
        let closed = format!("http://{}", {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        });
        let stats = drive(&client(2), &get(&closed), 3, 2, Arc::new(|_| {})).await;
        assert_eq!(stats.transport_errors, 3);
        assert!(stats.first_error.is_some());
    }
}
