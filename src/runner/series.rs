//! One route's measurement: warm-up (with `warmup = "auto"`, in steps until V8's compiled code
//! and its metadata both stop growing between two probes), then a **series** (a baseline snapshot and rungs of N
//! requests, each followed by a snapshot, with extra rungs while the verdict is unclear), then
//! the idle interval and the burst when they apply.
//!
//! With `requests = "auto"` the first series is small ([`defaults::AUTO_FIRST_REQUESTS`] per
//! rung). When it proves no leak and its detection limit is above the route's sensitivity,
//! another series starts from a new baseline with more requests per rung
//! ([`crate::analysis::sizing::next`]); the requests of the earlier series count as warm-up. It
//! stops when the limit meets the sensitivity, a leak is proven, no number of requests can
//! reach it, or the next series would not fit in [`AUTO_TIME_BUDGET`]. The limit is a maximum
//! over intervals, so the series judged must have equal rungs: growing N inside one series
//! would leave its first, short intervals setting the limit.

use std::time::{Duration, Instant};

use super::progress::Event;
use super::{RouteLoad, RouteRun, RunOptions, grows, snapshot, unclear_classes};
use crate::analysis::compare::{Comparer, Comparison};
use crate::analysis::growth::NoiseFloor;
use crate::analysis::runtime::RuntimeBytes;
use crate::analysis::sizing::{self, Next};
use crate::inspector::Inspector;
use crate::launch::Target;
use crate::model::WarmupUnsettled;
use crate::plan::defaults;

/// With `requests = "auto"`: the most time one route's series may take together (snapshots
/// and idle interval included, warm-up and burst not). A next series that would not fit is
/// shortened to what fits, and skipped when that is not more requests than the last one.
pub const AUTO_TIME_BUDGET: Duration = Duration::from_secs(300);

/// With `requests = "auto"`: the most requests per rung a series may take.
pub const AUTO_MAX_REQUESTS: u64 = 1_000_000;

/// `warmup = "auto"`: `None` once V8's compiled code and its metadata each grew less than
/// [`defaults::AUTO_WARMUP_SETTLED`] from one probe to the next (or shrank), else what still
/// grew over the `step` requests between them. The program's own data is left out: a cache
/// still filling is for the deceleration rule to recognise, and a leak must not keep the
/// warm-up going until its cap.
fn unsettled(before: RuntimeBytes, now: RuntimeBytes, step: u64) -> Option<WarmupUnsettled> {
    let code = now.code as i64 - before.code as i64;
    let metadata = now.metadata as i64 - before.metadata as i64;
    let settled = defaults::AUTO_WARMUP_SETTLED as i64;
    let still_growing: Vec<String> = [("code", code), ("metadata", metadata)]
        .iter()
        .filter(|(_, grew)| *grew >= settled)
        .map(|(what, _)| (*what).to_owned())
        .collect();
    (!still_growing.is_empty()).then_some(WarmupUnsettled {
        still_growing,
        code_bytes: code,
        metadata_bytes: metadata,
        requests: step,
    })
}

/// How long a series took, and how much of that was spent sending requests.
#[derive(Clone, Copy)]
struct Pace {
    took: Duration,
    requests: Duration,
}

impl RouteRun<'_> {
    pub(super) async fn measure(
        &mut self,
        target: &mut Target,
        inspector: &Inspector,
        client: &reqwest::Client,
        options: &RunOptions,
    ) -> Result<Comparison, String> {
        self.base_url = target.base_url().to_owned();
        let request = self.traffic(target.base_url())?;

        // Warm-up: code paths compiled, caches filled, pools grown, before the baseline.
        self.report.warmup = 0;
        self.report.warmup_unsettled = None;
        let mut probed: Option<RuntimeBytes> = None;
        while self.report.warmup < self.warmup_cap() {
            let step = self.route.warmup.min(self.warmup_cap() - self.report.warmup);
            self.phase = "warm-up".into();
            let watch = target.exit_watch();
            let (stats, _) =
                self.load(&request, step, None, client, inspector, options, &watch).await;
            self.report.timings.requests += stats.elapsed;
            self.report.load.absorb(&stats);
            self.report.warmup += step;
            self.check_alive(target, &stats)?;
            self.check_traffic()?;
            if !self.route.warmup_auto {
                break;
            }
            // A probe: V8's code and metadata after a full GC (the snapshot collects first).
            let probe_started = Instant::now();
            let now = snapshot::probe_runtime(inspector, self.t.timeouts.snapshot)
                .await
                .map_err(|e| self.died(target, e))?;
            self.report.timings.snapshots += probe_started.elapsed();
            let Some(before) = probed.replace(now) else { continue };
            // Kept only when the cap ends the loop: what kept it going to the end.
            self.report.warmup_unsettled = unsettled(before, now, step);
            if self.report.warmup_unsettled.is_none() {
                break;
            }
        }
        if let Some(u) = &self.report.warmup_unsettled {
            options.progress.event(&Event::WarmupUnsettled {
                target: &self.t.name,
                route: &self.route.name,
                requests: self.report.warmup,
                still_growing: &u.still_growing,
            });
        }
        let started = Instant::now();
        let mut per_rung = self.route.requests;
        loop {
            let series_started = Instant::now();
            let requests_before = self.report.timings.requests;
            let comparison =
                self.series(per_rung, &request, target, inspector, client, options).await?;
            let pace = Pace {
                took: series_started.elapsed(),
                requests: self.report.timings.requests.saturating_sub(requests_before),
            };
            let next = match self.route.requests_auto {
                true => self.next_series(&comparison, per_rung, started, pace),
                false => None,
            };
            let Some(next) = next else {
                return self.finish(comparison, &request, target, inspector, client, options).await;
            };
            options.progress.event(&Event::Resize {
                target: &self.t.name,
                route: &self.route.name,
                limit: comparison.detection_limit.bytes_per_request,
                sensitivity: self.sensitivity(),
                requests: next,
            });
            self.restart(inspector).await;
            per_rung = next;
        }
    }

    /// The most warm-up requests: the route's `warmup`, or with `warmup = "auto"`
    /// [`defaults::AUTO_WARMUP_MAX`].
    fn warmup_cap(&self) -> u64 {
        match self.route.warmup_auto {
            true => defaults::AUTO_WARMUP_MAX.max(self.route.warmup),
            false => self.route.warmup,
        }
    }

    /// The route's sensitivity, bytes per request: its budget's, else the default of
    /// `requests = "auto"`.
    fn sensitivity(&self) -> f64 {
        self.route.budget.sensitivity.map_or(defaults::AUTO_SENSITIVITY, |s| s.bytes())
    }

    /// With `requests = "auto"`: the requests per rung of another series, or `None` to judge
    /// this one (limit reached, a leak proven, the sensitivity out of reach, no time left).
    fn next_series(
        &self,
        comparison: &Comparison,
        per_rung: u64,
        started: Instant,
        pace: Pace,
    ) -> Option<u64> {
        // A leak proven ends the search: its verdict does not depend on the limit.
        let limits = crate::judge::budgets::limits(self.route);
        let verdict = crate::judge::budgets::judge(comparison, &limits, None);
        let leak = verdict.failures.iter().any(|f| {
            use crate::model::verdict::Failure;
            matches!(f, Failure::LinearGrowth { .. } | Failure::GrowingHolder { .. })
        });
        if leak {
            return None;
        }
        let limit = comparison.detection_limit.bytes_per_request;
        let wanted = match sizing::next(
            self.sensitivity(),
            limit,
            per_rung,
            NoiseFloor::BYTES,
            &comparison.noise,
            AUTO_MAX_REQUESTS,
        ) {
            Next::Grow(n) => n,
            Next::Reached | Next::Unreachable { .. } => return None,
        };
        // What fits in the time left, at this series' pace: its snapshots (and GCs and
        // analysis) cost about the same again, its requests scale with N.
        let rungs = self.report.rungs.len().saturating_sub(1).max(1) as f64;
        let sent = (per_rung as f64 * rungs).max(1.0);
        let per_request = pace.requests.as_secs_f64() / sent;
        let overhead = pace.took.saturating_sub(pace.requests).as_secs_f64();
        let left = AUTO_TIME_BUDGET.saturating_sub(started.elapsed()).as_secs_f64() - overhead;
        let fits = if per_request > 0.0 { left / (per_request * rungs) } else { f64::MAX };
        let next = (wanted as f64).min(fits).floor() as u64;
        (next > per_rung).then_some(next)
    }

    /// One series: a baseline snapshot, then rungs of `per_rung` requests each followed by a
    /// snapshot, with extra rungs while the verdict is unclear (up to `max_rungs`).
    async fn series(
        &mut self,
        per_rung: u64,
        request: &RouteLoad,
        target: &mut Target,
        inspector: &Inspector,
        client: &reqwest::Client,
        options: &RunOptions,
    ) -> Result<Comparison, String> {
        let progress = options.progress.as_ref();
        let (tname, rname) = (self.t.name.as_str(), self.route.name.as_str());
        self.snapshot(0, target, inspector, client, options).await?;
        self.sites.start(inspector, self.t.timeouts.snapshot).await;
        let mut rung = 0;
        loop {
            rung += 1;
            self.phase = format!("the load of rung {rung}");
            let watch = target.exit_watch();
            let (stats, peak) =
                self.load(request, per_rung, Some(rung), client, inspector, options, &watch).await;
            if peak.heap > 0 {
                self.report.peak_heap = Some(self.report.peak_heap.unwrap_or(0).max(peak.heap));
            }
            self.report.peak_external = self.report.peak_external.max(peak.external);
            self.report.peak_rss = self.report.peak_rss.max(peak.rss);
            self.report.timings.requests += stats.elapsed;
            self.report.load.absorb(&stats);
            self.sent += per_rung;
            self.check_alive(target, &stats)?;
            self.check_traffic()?;
            self.snapshot(rung, target, inspector, client, options).await?;
            if rung < self.route.rungs as usize {
                continue;
            }
            let compared = Instant::now();
            let comparison = self.compare();
            self.report.timings.analysis += compared.elapsed();
            let unclear = unclear_classes(&comparison);
            if unclear.is_empty() || rung >= self.route.max_rungs.max(self.route.rungs) as usize {
                return Ok(comparison);
            }
            progress.event(&Event::ExtraRung { target: tname, route: rname, why: &unclear });
        }
    }

    /// The series judged is done: allocation sites, the idle interval when something grew,
    /// the burst when the budget has a peak.
    async fn finish(
        &mut self,
        mut comparison: Comparison,
        request: &RouteLoad,
        target: &mut Target,
        inspector: &Inspector,
        client: &reqwest::Client,
        options: &RunOptions,
    ) -> Result<Comparison, String> {
        let started = Instant::now();
        self.report.allocations =
            self.sites.finish(inspector, self.sent, self.t.timeouts.snapshot).await;
        self.report.timings.analysis += started.elapsed();
        if grows(&comparison) {
            self.idle(&mut comparison, target, inspector, client, options).await?;
        }
        if self.route.budget.max_peak_heap.is_some() {
            self.burst(request, client, inspector, options, target).await?;
        }
        Ok(comparison)
    }

    /// Forgets a series that is not judged: its requests become warm-up, its rungs, clock,
    /// snapshot files and allocation samples go, and the next series starts from a new
    /// baseline.
    async fn restart(&mut self, inspector: &Inspector) {
        self.sites.abandon(inspector, self.t.timeouts.snapshot).await;
        self.report.warmup += self.sent;
        self.sent = 0;
        self.report.rungs.clear();
        self.clock.clear();
        self.ran_until = None;
        self.last = None;
        self.comparer = Comparer::new();
        snapshot::clear_route_folder(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::{RuntimeBytes, unsettled};

    fn probe(code: u64, metadata: u64) -> RuntimeBytes {
        RuntimeBytes { code: code << 10, metadata: metadata << 10 }
    }

    #[test]
    fn warm_up_ends_when_code_and_metadata_stop_growing() {
        // Tiering compiles: hundreds of KiB of code between two probes.
        let u = unsettled(probe(800, 900), probe(1100, 910), 50).unwrap();
        assert_eq!(u.still_growing, ["code"]);
        assert_eq!((u.code_bytes, u.metadata_bytes, u.requests), (300 << 10, 10 << 10, 50));
        // Feedback and hidden classes for new paths, with the code already compiled.
        let u = unsettled(probe(800, 900), probe(790, 960), 50).unwrap();
        assert_eq!(u.still_growing, ["metadata"]);
        assert_eq!(unsettled(probe(0, 0), probe(40, 40), 50).unwrap().still_growing.len(), 2);
        // A few KiB each, or shrinking: settled.
        assert!(unsettled(probe(800, 900), probe(804, 931), 50).is_none());
        assert!(unsettled(probe(800, 900), probe(700, 800), 50).is_none());
    }
}
