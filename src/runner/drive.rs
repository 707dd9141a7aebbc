//! Driving a route's requests: the traffic each iteration runs, a batch of requests with the
//! target's heap sampled while it runs, the burst at full concurrency for `max_peak_heap`, and
//! the forced GC before every snapshot (with the nudge workerd needs).

use std::sync::Arc;
use std::time::Duration;

use super::progress::Event;
use super::{RouteRun, RunOptions, memory};
use crate::inspector::Inspector;
use crate::launch::{self, Target};
use crate::leakspec::traffic::{StatusSet, Traffic};
use crate::load::{self, Driver, LoadStats, RequestTemplate, Work};
use crate::model::Burst;

/// How often the heap is sampled while requests run.
const HEAP_SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// How often the heap is sampled during a burst at full concurrency: back to back, since the
/// peak lasts only while requests are in flight (a few milliseconds on a fast Worker).
const BURST_SAMPLE_EVERY: Duration = Duration::ZERO;
/// A burst sends rounds of `concurrency` requests, this many at a time...
const BURST_ROUNDS: u64 = 4;
/// ...and more until this many heap samples were taken while they were in flight: a burst
/// over before the sampler saw it would report the idle heap as its peak.
const BURST_MIN_SAMPLES: u32 = 48;
/// The most rounds one burst sends, however slow the samples are.
const BURST_MAX_ROUNDS: u64 = 64;
/// How long a forced GC on workerd may go unanswered before a request nudges the isolate.
const GC_NUDGE_AFTER: Duration = Duration::from_millis(200);

/// What a route's iterations run.
pub(super) enum RouteLoad {
    /// leakcheck's own driver.
    Work(Work),
    /// The user's load command (argv with placeholders).
    Command(Vec<String>),
}

impl RouteRun<'_> {
    /// What each iteration does: the prebuilt request of a plain route (the fast path), a
    /// compiled flow, or the load command.
    pub(super) fn traffic(&self, base_url: &str) -> Result<RouteLoad, String> {
        match &self.route.traffic {
            Traffic::Command(command) => Ok(RouteLoad::Command(command.argv.clone())),
            Traffic::Flow(flow) if flow.is_plain() => {
                let mut request = self.request(base_url)?;
                if let Some(expect) = &flow.steps[0].expect_status {
                    request.expect = expect.clone();
                }
                Ok(RouteLoad::Work(Work::Plain(request)))
            }
            Traffic::Flow(flow) => {
                let driver = Driver::new(flow, base_url, self.route.request_timeout, self.setup)?;
                Ok(RouteLoad::Work(Work::Flow { driver: Arc::new(driver), first_seq: 0 }))
            }
        }
    }

    pub(super) fn request(&self, base_url: &str) -> Result<RequestTemplate, String> {
        let method = reqwest::Method::from_bytes(self.route.method.as_bytes())
            .map_err(|_| format!("`{}` is not an HTTP method", self.route.method))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for header in &self.route.headers {
            let name = reqwest::header::HeaderName::from_bytes(header.name.as_bytes())
                .map_err(|_| format!("`{}` is not a valid header name", header.name))?;
            let value = reqwest::header::HeaderValue::from_str(&header.value)
                .map_err(|_| format!("the value of header `{name}` is not valid in HTTP"))?;
            headers.append(name, value);
        }
        Ok(RequestTemplate {
            method,
            url: format!("{}{}", base_url.trim_end_matches('/'), self.route.path),
            headers,
            body: self.route.body.clone().map(bytes::Bytes::from),
            timeout: self.route.request_timeout,
            expect: StatusSet::success(),
        })
    }

    /// Sends `count` requests while sampling the heap (and, where the runtime has it,
    /// `process.memoryUsage()`) every 100 ms; stops early if the program ends. Returns the
    /// load's statistics and the highest figures sampled (a heap of 0 when no sample came
    /// back).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn load(
        &mut self,
        request: &RouteLoad,
        count: u64,
        rung: Option<usize>,
        client: &reqwest::Client,
        inspector: &Inspector,
        options: &RunOptions,
        watch: &launch::ExitWatch,
    ) -> (LoadStats, memory::Peaks) {
        let concurrency = self.route.concurrency;
        self.load_sampled(
            request,
            count,
            concurrency,
            rung,
            HEAP_SAMPLE_EVERY,
            client,
            inspector,
            options,
            watch,
        )
        .await
    }

    /// [`RouteRun::load`] at a given concurrency and heap sampling interval.
    #[allow(clippy::too_many_arguments)]
    async fn load_sampled(
        &mut self,
        request: &RouteLoad,
        count: u64,
        concurrency: usize,
        rung: Option<usize>,
        sample_every: Duration,
        client: &reqwest::Client,
        inspector: &Inspector,
        options: &RunOptions,
        watch: &launch::ExitWatch,
    ) -> (LoadStats, memory::Peaks) {
        let progress = options.progress.clone();
        let (target, route) = (self.t.name.clone(), self.route.name.clone());
        let report = Arc::new(move |done: u64| {
            progress.event(&Event::Load {
                target: &target,
                route: &route,
                rung,
                done,
                total: count,
            });
        });
        let peaks = std::sync::Mutex::new(memory::Peaks::default());
        // During a burst only the heap is sampled: every few milliseconds, an evaluation in
        // the target would add load of its own.
        let ask_process = memory::asks_process(self.t.runtime) && sample_every >= HEAP_SAMPLE_EVERY;
        let sampler = async {
            loop {
                if let Ok(s) = memory::sample(inspector, ask_process, HEAP_SAMPLE_EVERY * 10).await
                {
                    peaks.lock().unwrap_or_else(|p| p.into_inner()).add(&s);
                }
                if sample_every.is_zero() {
                    tokio::task::yield_now().await;
                } else {
                    tokio::time::sleep(sample_every).await;
                }
            }
        };
        let first_seq = self.seq;
        self.seq += count;
        let tolerated = self.tolerated();
        let driven = async {
            match request {
                RouteLoad::Work(work) => {
                    // A flow numbers this batch's iterations on from the route's last.
                    let numbered;
                    let work = match work {
                        Work::Flow { driver, .. } => {
                            numbered = Work::Flow { driver: driver.clone(), first_seq };
                            &numbered
                        }
                        plain => plain,
                    };
                    load::drive_work(
                        client,
                        work,
                        count,
                        concurrency,
                        tolerated,
                        report,
                        watch.until_ended(),
                    )
                    .await
                }
                RouteLoad::Command(argv) => {
                    let url = self.base_url.clone();
                    let port = reqwest::Url::parse(&url).ok().and_then(|u| u.port()).unwrap_or(0);
                    report(0);
                    let ran = load::command::run(
                        argv,
                        count,
                        &url,
                        port,
                        &self.t.cwd,
                        watch.until_ended(),
                    )
                    .await;
                    report(count);
                    ran
                }
            }
        };
        let (stats, _stopped) = tokio::select! {
            done = driven => done,
            _ = sampler => unreachable!("the sampler loops until the load is done"),
        };
        let peaks = peaks.into_inner().unwrap_or_else(|p| p.into_inner());
        (stats, peaks)
    }

    /// The peak under concurrency: rounds of `concurrency` requests all in flight at once,
    /// the heap sampled back to back, and rounds added until enough samples were taken. A
    /// request that buffers a whole body holds it only while in flight, so the peak is the
    /// body times the requests in flight: a budget question (a Worker's isolate has 128 MiB
    /// for all of them), not a leak.
    pub(super) async fn burst(
        &mut self,
        request: &RouteLoad,
        client: &reqwest::Client,
        inspector: &Inspector,
        options: &RunOptions,
        target: &mut Target,
    ) -> Result<(), String> {
        self.phase = "the burst".into();
        let concurrency = self.route.concurrency;
        let batch = concurrency as u64 * BURST_ROUNDS;
        let watch = target.exit_watch();
        let (mut sent, mut peak, mut samples, mut rounds) = (0, 0, 0, 0);
        loop {
            let (stats, peaks) = self
                .load_sampled(
                    request,
                    batch,
                    concurrency,
                    None,
                    BURST_SAMPLE_EVERY,
                    client,
                    inspector,
                    options,
                    &watch,
                )
                .await;
            self.report.timings.requests += stats.elapsed;
            self.check_alive(target, &stats)?;
            sent += stats.sent;
            peak = peak.max(peaks.heap);
            samples += peaks.samples;
            rounds += BURST_ROUNDS;
            if samples >= BURST_MIN_SAMPLES || rounds >= BURST_MAX_ROUNDS || stats.sent < batch {
                break;
            }
        }
        self.report.burst = Some(Burst { concurrency, requests: sent, peak_heap: peak });
        Ok(())
    }

    /// A full GC before the heap is measured. workerd runs V8's GC task only when the isolate
    /// next serves a request, so on Workers a request to the target's base URL (its `ready`
    /// path, if any) nudges it whenever the GC has not answered for a moment.
    pub(super) async fn collect_garbage(
        &self,
        inspector: &Inspector,
        client: &reqwest::Client,
        base_url: &str,
        timeout: Duration,
    ) -> Result<(), crate::inspector::InspectorError> {
        let gc = inspector.collect_garbage(timeout);
        if !self.t.runtime.is_workers() {
            return gc.await;
        }
        tokio::pin!(gc);
        let path = match &self.t.ready {
            crate::plan::Readiness::Http(path) => path.clone(),
            crate::plan::Readiness::Port => "/".to_owned(),
        };
        let url = format!("{}{}", base_url.trim_end_matches('/'), path);
        loop {
            tokio::select! {
                done = &mut gc => return done,
                () = tokio::time::sleep(GC_NUDGE_AFTER) => {
                    let nudge = client.get(&url).timeout(GC_NUDGE_AFTER * 5).send();
                    tokio::select! {
                        done = &mut gc => return done,
                        _ = nudge => {}
                    }
                }
            }
        }
    }
}
