//! The load driver: runs N iterations of a route with a fixed number in flight, consumes every
//! response body (a service that streams must finish its work), and counts what came back.
//! An iteration is one request (a plain route: a prebuilt request sent as is, the fast path),
//! or a flow of steps with per-request values, captures, aborts and WebSocket/SSE cycles
//! ([`flow`]), or a run of the user's own load command ([`command`]). Loopback only, so no
//! TLS, one pooled keep-alive client per target.

mod abort;
pub mod command;
mod connections;
pub mod flow;
pub mod render;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub mod histogram;

use crate::leakspec::traffic::StatusSet;
pub use crate::model::{CommandRun, StepStats};
pub use flow::{Captured, Driver};

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
    /// Statuses that count as success.
    pub expect: StatusSet,
}

/// What one iteration of a route does, for [`drive_work`].
#[derive(Clone, Debug)]
pub enum Work {
    /// The same request every time (the fast path).
    Plain(RequestTemplate),
    /// A compiled flow; iteration `i` of this batch has `{seq}` = `first_seq + i`.
    Flow {
        /// The compiled flow.
        driver: Arc<Driver>,
        /// `{seq}` of the batch's first iteration.
        first_seq: u64,
    },
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

/// [`drive_until`] for one request.
pub async fn drive_until(
    client: &reqwest::Client,
    request: &RequestTemplate,
    count: u64,
    concurrency: usize,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
    stop: impl std::future::Future<Output = ()>,
) -> (LoadStats, bool) {
    let work = Work::Plain(request.clone());
    drive_work(client, &work, count, concurrency, u64::MAX, progress, stop).await
}

/// Runs `count` iterations of `work` with `concurrency` in flight, stopped early when `stop`
/// resolves (the target died, a signal came): iterations in flight are abandoned and the
/// counts so far are returned, with `true`. Once more than `tolerated` iterations failed, no
/// new one starts (those in flight finish and are counted): a route that fails anyway need
/// not wait out `request_timeout` for every request of a service that never answers.
pub async fn drive_work(
    client: &reqwest::Client,
    work: &Work,
    count: u64,
    concurrency: usize,
    tolerated: u64,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
    stop: impl std::future::Future<Output = ()>,
) -> (LoadStats, bool) {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    // One fixed-size histogram for the batch: per-request state stays bounded whatever `count`.
    let latencies = Arc::new(histogram::Histogram::default());
    let workers = (concurrency.max(1) as u64).min(count.max(1)) as usize;
    // Dropping the set aborts its tasks: nothing keeps sending after a stop.
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let (client, work) = (client.clone(), work.clone());
        let (next, done, answered, failed, progress, latencies) = (
            next.clone(),
            done.clone(),
            answered.clone(),
            failed.clone(),
            progress.clone(),
            latencies.clone(),
        );
        tasks.spawn(async move {
            let mut stats = LoadStats::default();
            let mut rng = render::Rng::new(worker as u64);
            if let Work::Flow { driver, .. } = &work
                && (driver.steps.len() > 1 || !driver.is_http())
            {
                stats.steps = driver
                    .steps
                    .iter()
                    .map(|s| StepStats { name: s.name.clone(), ..StepStats::default() })
                    .collect();
            }
            loop {
                if failed.load(Ordering::Relaxed) > tolerated {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let sent_at = Instant::now();
                let ok_before = stats.ok;
                match &work {
                    Work::Plain(request) => send_one(&client, request, &mut stats).await,
                    Work::Flow { driver, first_seq } => {
                        iterate(&client, driver, first_seq + i, &mut rng, &mut stats).await
                    }
                }
                latencies.record(sent_at.elapsed());
                let ok = stats.ok - ok_before;
                answered.fetch_add(ok, Ordering::Relaxed);
                failed.fetch_add(1 - ok, Ordering::Relaxed);
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
        Err(e) => return transport_error(stats, e, request.timeout),
    };
    let status = response.status();
    let accepted = request.expect.accepts(status.as_u16());
    // The start of the first unexpected answer's body says why (`no item SKU-1`).
    let mut excerpt = (!accepted && stats.first_error.is_none()).then(Vec::new);
    // Read the body to the end: a streaming route does its work while it is read.
    let mut response = response;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                stats.body_bytes += chunk.len() as u64;
                if let Some(excerpt) = excerpt.as_mut().filter(|e| e.len() < EXCERPT_BYTES) {
                    excerpt.extend_from_slice(&chunk[..chunk.len().min(EXCERPT_BYTES)]);
                }
            }
            Ok(None) => break,
            Err(e) => return transport_error(stats, e, request.timeout),
        }
    }
    if accepted {
        stats.ok += 1;
        return;
    }
    *stats.statuses.entry(status.as_u16()).or_default() += 1;
    if let Some(excerpt) = excerpt {
        let mut text = format!("status {} (expected {})", status.as_u16(), request.expect);
        let body = String::from_utf8_lossy(&excerpt[..excerpt.len().min(EXCERPT_BYTES)]);
        let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
        if !body.is_empty() {
            text += &format!(": {}", crate::format::printable(&body));
        }
        stats.first_error = Some(text);
    }
}

/// How much of an unexpected answer's body the first error quotes.
const EXCERPT_BYTES: usize = 200;

/// Runs one iteration of `driver` (`{seq}` 0): the target's setup. Returns what it captured
/// when it succeeded, and its counts.
pub async fn run_once(client: &reqwest::Client, driver: &Driver) -> (Option<Captured>, LoadStats) {
    let mut rng = render::Rng::new(0);
    let mut stats = LoadStats {
        steps: driver
            .steps
            .iter()
            .map(|s| StepStats { name: s.name.clone(), ..StepStats::default() })
            .collect(),
        ..LoadStats::default()
    };
    let mut it = driver.iteration(0, &mut rng);
    let mut done_steps = 0;
    let mut bytes = 0;
    let result = driver.run(client, &mut it, &mut rng, &mut done_steps, &mut bytes).await;
    stats.sent = 1;
    match result {
        Ok(()) => {
            stats.ok = 1;
            (Some(driver.captured(&it)), stats)
        }
        Err((i, error)) => {
            let step = &driver.steps[i];
            stats.first_error = Some(match error {
                flow::StepError::Status(code) => format!(
                    "step `{}` ({}): status {code} (expected {})",
                    step.name,
                    step.describe(),
                    step.expect
                ),
                flow::StepError::Other(message) | flow::StepError::Timeout(message) => {
                    format!("step `{}` ({}): {message}", step.name, step.describe())
                }
            });
            (None, stats)
        }
    }
}

/// One iteration of a flow, counted in `stats` (and per step).
async fn iterate(
    client: &reqwest::Client,
    driver: &Driver,
    seq: u64,
    rng: &mut render::Rng,
    stats: &mut LoadStats,
) {
    stats.sent += 1;
    let mut it = driver.iteration(seq, rng);
    let mut done_steps = 0;
    let mut bytes = 0;
    let result = driver.run(client, &mut it, rng, &mut done_steps, &mut bytes).await;
    stats.body_bytes += bytes;
    let steps = &mut stats.steps;
    let attempted = match &result {
        Ok(()) => done_steps,
        Err((i, _)) => i + 1,
    };
    for (i, step) in steps.iter_mut().enumerate().take(attempted) {
        step.sent += 1;
        if i < done_steps {
            step.ok += 1;
        }
    }
    let Err((i, error)) = result else {
        stats.ok += 1;
        return;
    };
    let step = &driver.steps[i];
    let is_timeout = matches!(error, flow::StepError::Timeout(_));
    let name = if driver.steps.len() > 1 {
        format!("step `{}` ({}): ", step.name, step.describe())
    } else {
        String::new()
    };
    match error {
        flow::StepError::Status(code) => {
            *stats.statuses.entry(code).or_default() += 1;
            if let Some(s) = steps.get_mut(i) {
                *s.statuses.entry(code).or_default() += 1;
            }
            if stats.first_error.is_none() && !name.is_empty() {
                stats.first_error = Some(format!("{name}status {code} (expected {})", step.expect));
            }
        }
        flow::StepError::Other(message) | flow::StepError::Timeout(message) => {
            stats.transport_errors += 1;
            if is_timeout {
                stats.timeouts += 1;
            }
            if let Some(s) = steps.get_mut(i) {
                s.errors += 1;
                s.timeouts += u64::from(is_timeout);
                if s.first_error.is_none() {
                    s.first_error = Some(message.clone());
                }
            }
            if stats.first_error.is_none() {
                stats.first_error = Some(format!("{name}{message}"));
            }
        }
    }
}

/// An error with its chain of causes, as one line.
pub(crate) fn error_text(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// What a request that got no answer in time says: `no response within 2 s (request_timeout)`.
pub(crate) fn timeout_text(timeout: Duration) -> String {
    format!("no response within {} (`request_timeout`)", crate::leakspec::format_duration(timeout))
}

fn transport_error(stats: &mut LoadStats, error: reqwest::Error, timeout: Duration) {
    stats.transport_errors += 1;
    if error.is_timeout() {
        stats.timeouts += 1;
    }
    if stats.first_error.is_none() {
        stats.first_error =
            Some(if error.is_timeout() { timeout_text(timeout) } else { error_text(&error) });
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
            expect: StatusSet::success(),
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
