//! The report of `leakcheck run`: one entry per target and route, rendered for a terminal (one
//! line per route, then an explanation of each failure), as versioned JSON, and as JUnit XML
//! (one `<testsuite>` per target, one `<testcase>` per route) for CI systems.

use std::time::Duration;

use super::explain::{explain_route, stderr_block};
use crate::format::{bytes, bytes_rate, plural, thousands};
use crate::model::lock::Status as LockStatus;
use crate::model::verdict::Failure;
use crate::model::{Outcome, RouteReport, RunReport, TargetReport};
use crate::style::Paint;

impl TargetReport {
    /// What `leakcheck run`'s report prints for one of this target's routes when it fails: a
    /// header (`FAIL target › route (METHOD path)`) and the full explanation (what grows, who
    /// holds it, budgets, the target's exit and stderr). For a route that was not run, why.
    pub fn explain(&self, route: &RouteReport, paint: Paint) -> String {
        let mut out = paint.bold(&format!(
            "{} {} › {} ({} {})",
            outcome_word(route.outcome),
            self.name,
            route.name,
            route.method,
            route.path
        ));
        out.push('\n');
        out += &explain_route(route, self, paint);
        out
    }

    /// The report's block for a target that could not be measured at all (it never became
    /// ready, its inspector did not answer ...): `None` when its routes were measured.
    pub fn explain_error(&self, paint: Paint) -> Option<String> {
        let err = self.error.as_ref()?;
        if !self.routes.iter().all(|r| r.outcome == Outcome::Skipped) {
            return None;
        }
        let mut out = paint.bold(&format!("ERROR {}", self.name));
        out += &format!("\n  {}\n", err.replace('\n', "\n  "));
        if let Some(tail) = &self.stderr_tail {
            out += &stderr_block(tail);
        }
        Some(out)
    }
}

impl RunReport {
    /// The lock file's name (`leakspec.lock` next to `leakspec.toml`), as reports say it.
    pub fn lock_name(&self) -> String {
        crate::record::lock_path(&self.spec)
            .file_name()
            .map_or_else(|| "leakspec.lock".to_owned(), |n| n.to_string_lossy().into_owned())
    }

    /// The full explanation of a route (leaks with holders and paths, budgets, errors, the
    /// diff against the lock), as the text and JUnit reports give it.
    pub fn explain(&self, t: &TargetReport, r: &RouteReport, paint: Paint) -> String {
        explain_route(r, t, paint) + &self.lock_text(r, paint)
    }

    /// A route's comparison with the lock, as a diff table (empty when there is none).
    fn lock_text(&self, r: &RouteReport, paint: Paint) -> String {
        match r.verdict.as_ref().and_then(|v| v.lock.as_ref()) {
            Some(check) => check.to_text(&self.lock_name(), paint),
            None => String::new(),
        }
    }

    /// What the lock says of passing routes: improved, not recorded, (re)recorded.
    fn lock_notes(&self, paint: Paint) -> String {
        let mut notes = String::new();
        for t in &self.targets {
            for r in t.routes.iter().filter(|r| r.outcome == Outcome::Pass) {
                let Some(check) = r.verdict.as_ref().and_then(|v| v.lock.as_ref()) else {
                    continue;
                };
                if let Some(weaker) = &check.weaker_detection_limit {
                    let what = weaker.sentence(&self.lock_name());
                    notes += &format!(
                        "  {} › {}: {}: {what}\n",
                        t.name,
                        r.name,
                        paint.yellow("warning")
                    );
                }
                let what = match check.status {
                    LockStatus::Within | LockStatus::Regressed => continue,
                    LockStatus::Improved => format!(
                        "{}: {}; `leakcheck run --bless` records it",
                        paint.green("improved"),
                        check.summary()
                    ),
                    LockStatus::NotRecorded => {
                        "not recorded; `leakcheck run --record` records it".to_owned()
                    }
                    LockStatus::Recorded => "recorded".to_owned(),
                    LockStatus::Blessed if check.summary().is_empty() => {
                        "blessed (no figure changed)".to_owned()
                    }
                    LockStatus::Blessed => format!("blessed: {}", check.summary()),
                };
                notes += &format!("  {} › {}: {what}\n", t.name, r.name);
            }
        }
        if notes.is_empty() {
            return notes;
        }
        format!("\n{}\n{notes}", paint.bold(&self.lock_name()))
    }

    /// `3 passed, 1 failed` (errors and skipped routes only when there are some).
    pub fn counts_line(&self) -> String {
        let (pass, fail, error, skipped) = self.counts();
        let mut parts = vec![format!("{pass} passed"), format!("{fail} failed")];
        if error > 0 {
            parts.push(format!("{error} errors"));
        }
        if skipped > 0 {
            parts.push(format!("{skipped} skipped"));
        }
        parts.join(", ")
    }

    /// The JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises") + "\n"
    }

    /// The terminal report: a line per route, then each failure explained.
    pub fn to_text(&self, paint: Paint) -> String {
        let mut out = String::new();
        let routes: usize = self.targets.iter().map(|t| t.routes.len()).sum();
        out += &format!(
            "leakcheck run: {}, {}, {}\n\n",
            self.spec.display(),
            plural(self.targets.len() as u64, "target"),
            plural(routes as u64, "route")
        );
        let name_w = self
            .targets
            .iter()
            .flat_map(|t| t.routes.iter().map(move |r| t.name.len() + r.name.len() + 3))
            .max()
            .unwrap_or(10);
        let spark_w = self
            .targets
            .iter()
            .flat_map(|t| t.routes.iter().map(|r| heap_sparkline(r).chars().count()))
            .max()
            .unwrap_or(0);
        for t in &self.targets {
            if let Some(err) = &t.error
                && t.routes.iter().all(|r| r.outcome == Outcome::Skipped)
            {
                out += &format!("  {}  {}: {}\n", paint.red_bold("ERROR"), t.name, first_line(err));
            }
            for r in &t.routes {
                let label = format!("{} › {}", t.name, r.name);
                let spark = match spark_w {
                    0 => String::new(),
                    w => format!("{:<w$}  ", heap_sparkline(r)),
                };
                out += &format!(
                    "  {}  {:<name_w$}  {spark}{}\n",
                    outcome_tag(r.outcome, paint),
                    label,
                    summary_line(r)
                );
            }
        }
        for t in &self.targets {
            for r in t.routes.iter().filter(|r| matches!(r.outcome, Outcome::Fail | Outcome::Error))
            {
                out.push('\n');
                out += &t.explain(r, paint);
                out += &self.lock_text(r, paint);
            }
            if let Some(text) = t.explain_error(paint) {
                out.push('\n');
                out += &text;
            }
            if !t.escaped.is_empty() {
                out += &format!(
                    "\n{} {}: processes it started outside its process group were still running after its shutdown; leakcheck killed them:\n",
                    paint.yellow("Left running:"),
                    t.name
                );
                for e in &t.escaped {
                    out += &format!("  pid {} `{}`\n", e.pid, crate::format::printable(&e.command));
                }
            }
        }
        out += &self.lock_notes(paint);
        if let Some(why) = &self.interrupted {
            out += &format!(
                "\n{} {why}; the report holds what was measured until then.\n",
                paint.yellow("Interrupted:")
            );
        }
        out += &format!("\n{}\n", self.counts_line());
        super::diff::trim_line_ends(&out)
    }

    /// The JUnit XML document: one `<testsuite>` per target, one `<testcase name="ROUTE"
    /// classname="TARGET">` per route; a failure's message names the leaking groups and its
    /// text holds the full explanation with retainer paths.
    pub fn to_junit(&self) -> String {
        use junit_report::{
            Duration as JDuration, ReportBuilder, TestCaseBuilder, TestSuiteBuilder,
        };
        let mut report = ReportBuilder::new();
        for t in &self.targets {
            let mut suite = TestSuiteBuilder::new(&t.name);
            let cases: Vec<(String, Outcome, Option<String>, String, Duration, bool)> =
                if t.routes.is_empty() {
                    let mut text = format!("  {}\n", t.error.as_deref().unwrap_or("not run"));
                    if let Some(tail) = &t.stderr_tail {
                        text += &stderr_block(tail);
                    }
                    vec![(
                        "(start)".into(),
                        Outcome::Error,
                        t.error.clone(),
                        text,
                        Duration::ZERO,
                        false,
                    )]
                } else {
                    t.routes
                        .iter()
                        .map(|r| match &t.error {
                            // A target that never started fails each of its routes, saying why.
                            Some(error) if r.outcome == Outcome::Skipped && !r.ignored => {
                                let mut text = format!("  {error}\n");
                                if let Some(tail) = &t.stderr_tail {
                                    text += &stderr_block(tail);
                                }
                                (
                                    r.name.clone(),
                                    Outcome::Error,
                                    Some(error.clone()),
                                    text,
                                    Duration::ZERO,
                                    false,
                                )
                            }
                            _ => (
                                r.name.clone(),
                                r.outcome,
                                failure_message(r),
                                self.explain(t, r, Paint::PLAIN),
                                r.timings.wall,
                                r.ignored,
                            ),
                        })
                        .collect()
                };
            for (name, outcome, message, text, wall, ignored) in cases {
                let time = JDuration::seconds_f64(wall.as_secs_f64());
                let message = message.unwrap_or_default();
                let mut case = match outcome {
                    Outcome::Pass => TestCaseBuilder::success(&name, time),
                    Outcome::Fail => TestCaseBuilder::failure(&name, time, "leak", &message),
                    Outcome::Error => TestCaseBuilder::error(&name, time, "error", &message),
                    // An ignored route says so, and why: `<skipped type="ignored" message=..>`.
                    Outcome::Skipped if ignored => {
                        TestCaseBuilder::skipped_with_cause(&name, "ignored", &message)
                    }
                    Outcome::Skipped => TestCaseBuilder::skipped(&name),
                };
                case.set_classname(&t.name);
                if matches!(outcome, Outcome::Fail | Outcome::Error) {
                    case.set_trace(&text);
                } else if outcome == Outcome::Pass {
                    case.set_system_out(&text);
                }
                suite.add_testcase(case.build());
            }
            report.add_testsuite(suite.build());
        }
        let mut out = Vec::new();
        report.build().write_xml(&mut out).expect("writing to memory cannot fail");
        let mut xml = String::from_utf8(out).expect("junit-report writes UTF-8") + "\n";
        // Each measured route says what it could have seen: its detection limit.
        for t in &self.targets {
            for r in &t.routes {
                if let Some(v) = &r.verdict {
                    let l = v.detection_limit;
                    let props = [
                        (
                            "detection_limit.bytes_per_request",
                            format!("{:.1}", l.bytes_per_request),
                        ),
                        (
                            "detection_limit.objects_per_request",
                            format!("{:.3}", l.objects_per_request),
                        ),
                    ];
                    xml = super::junit_properties::add(&xml, &t.name, &r.name, &props);
                }
            }
        }
        xml
    }
}

fn outcome_tag(outcome: Outcome, paint: Paint) -> String {
    match outcome {
        Outcome::Pass => paint.green("PASS "),
        Outcome::Fail => paint.red_bold("FAIL "),
        Outcome::Error => paint.red_bold("ERROR"),
        Outcome::Skipped => paint.dim("SKIP "),
    }
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "PASS",
        Outcome::Fail => "FAIL",
        Outcome::Error => "ERROR",
        Outcome::Skipped => "SKIP",
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// The heap at each snapshot of a route as a sparkline, one block per snapshot (`▁▂▄█`); empty
/// for a route with fewer than two. The blocks' full height is the heap's range, but at least
/// 1% of the heap and the growth the run could have detected over its load, so that the wobble
/// of a route that does not grow stays low instead of filling the scale.
pub fn heap_sparkline(r: &RouteReport) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let heap: Vec<f64> = r.rungs.iter().map(|g| g.heap_used as f64).collect();
    if heap.len() < 2 {
        return String::new();
    }
    let lo = heap.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = heap.iter().copied().fold(0.0, f64::max);
    let detectable = r
        .verdict
        .as_ref()
        .map_or(0.0, |v| v.detection_limit.bytes_per_request * r.requests() as f64);
    let span = (hi - lo).max(lo / 100.0).max(detectable);
    heap.iter()
        .map(|&h| match span > 0.0 {
            true => BLOCKS[(((h - lo) / span) * 7.0).round().clamp(0.0, 7.0) as usize],
            false => BLOCKS[0],
        })
        .collect()
}

/// The one-line summary of a route: growth per request, heap before and after, requests.
fn summary_line(r: &RouteReport) -> String {
    match (&r.verdict, r.outcome) {
        (_, Outcome::Skipped) => r.error.clone().unwrap_or_else(|| "not run".into()),
        (None, _) => r.error.as_deref().map(first_line).unwrap_or("no verdict").to_owned(),
        // Bad traffic measured nothing: its counts, not "no linear growth".
        (Some(_), _)
            if let Some(counts) = traffic_failure(r).and_then(|f| traffic_counts(r, f)) =>
        {
            counts
        }
        (Some(v), _) => {
            let limit = v.detection_limit.bytes_per_request;
            let growth = if v.bytes_per_request > 0.0 {
                format!("+{}/{}", bytes_rate(v.bytes_per_request), r.unit())
            } else if limit > 0.0 {
                format!("no linear growth above {}/{}", bytes_rate(limit), r.unit())
            } else {
                "no linear growth".to_owned()
            };
            let heap = format!("heap {} → {}", bytes(v.heap.0), bytes(v.heap.1));
            let mut line = format!("{growth:<18}  {heap:<26}  {}", plural(r.requests(), r.unit()));
            // Failures within `max_failed_requests` are still said.
            if r.load.failed() > 0 {
                line += &format!("  ({} failed, tolerated)", thousands(r.load.failed()));
            }
            match v.lock.as_ref().map(|l| l.status) {
                None | Some(LockStatus::Within) => line,
                Some(status) => format!("{line}  ({})", super::lock::status_word(status)),
            }
        }
    }
}

/// The failure message for JUnit: the leaking groups, or the error's first line.
pub(crate) fn failure_message(r: &RouteReport) -> Option<String> {
    let unit = r.unit();
    match (&r.verdict, r.outcome) {
        (Some(v), Outcome::Fail) => Some(
            v.failures
                .iter()
                .map(|f| match f {
                    Failure::LinearGrowth { classes, bytes_per_request, .. } => format!(
                        "linear growth of {} (+{} per {unit})",
                        classes
                            .iter()
                            .take(4)
                            .map(|c| crate::format::printable(c).into_owned())
                            .collect::<Vec<_>>()
                            .join(", "),
                        bytes_rate(*bytes_per_request)
                    ),
                    Failure::GrowingHolder { holder, bytes_per_request } => {
                        format!(
                            "{} grows by {} per {unit}",
                            crate::format::printable(holder),
                            bytes_rate(*bytes_per_request)
                        )
                    }
                    Failure::HeapGrowth { grew, limit } => {
                        format!("heap grew {} (budget {})", bytes(*grew), bytes(*limit))
                    }
                    Failure::PeakHeap { peak, limit, concurrency } => {
                        format!(
                            "heap peaked at {} with {} in flight (budget {})",
                            bytes(*peak),
                            plural(*concurrency as u64, "request"),
                            bytes(*limit)
                        )
                    }
                    Failure::ExternalGrowth { bytes_per_request, limit } => format!(
                        "external memory grows {} per {unit} (budget {})",
                        bytes_rate(*bytes_per_request),
                        bytes_rate(*limit)
                    ),
                    Failure::RssGrowth { bytes_per_request, limit } => format!(
                        "RSS grows {} per {unit} (budget {})",
                        bytes_rate(*bytes_per_request),
                        bytes_rate(*limit)
                    ),
                    Failure::ReachesLimit { requests, allowed } => format!(
                        "reaches the memory limit after about {} requests (budget {})",
                        thousands(*requests),
                        thousands(*allowed)
                    ),
                    Failure::Regression { summary } => {
                        format!("regression against the recorded figures: {summary}")
                    }
                    Failure::SensitivityNotReached {
                        sensitivity,
                        detection_limit,
                        requests_per_rung,
                        unreachable_below,
                    } => sensitivity_text(
                        *sensitivity,
                        *detection_limit,
                        *requests_per_rung,
                        *unreachable_below,
                        r.unit(),
                    ),
                    Failure::FailedRequests { .. } => failed_requests(r, f),
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => r.error.as_deref().map(|e| first_line(e).to_owned()),
    }
}

/// "sensitivity not reached: no linear growth above 41 B/request is all 400 requests per rung
/// can promise; the sensitivity is 16 B/request".
pub(crate) fn sensitivity_text(
    sensitivity: f64,
    limit: f64,
    per_rung: u64,
    unreachable_below: Option<f64>,
    unit: &str,
) -> String {
    // A sensitivity under a byte keeps its digits ("0.01 B"), where sizes round to one.
    let sensitivity = match sensitivity < 1.0 {
        true => format!("{sensitivity} B"),
        false => bytes_rate(sensitivity),
    };
    let mut text = format!(
        "sensitivity not reached: no linear growth above {}/{unit} is all {} per rung can promise; the sensitivity is {sensitivity}/{unit}",
        bytes_rate(limit),
        plural(per_rung, unit),
    );
    if let Some(floor) = unreachable_below {
        text += &format!(
            " (at or below the floor of {}/{unit}, which no run of any length goes under)",
            bytes_rate(floor)
        );
    }
    text
}

/// "3 of 500 iterations failed: 3 × 401: step `use` (GET): status 401 (expected 2xx, 3xx)".
pub(crate) fn failed_requests(r: &RouteReport, failure: &Failure) -> String {
    let mut text = traffic_counts(r, failure).unwrap_or_default();
    if let Failure::FailedRequests { first_error: Some(e), .. } = failure {
        text += &format!(": {}", first_line(e));
    }
    text
}

/// "40 of 40 requests failed: 40 × 500" (or "3 timed out", "1 without a response"), from a
/// `failed_requests` failure; `None` for any other.
pub(crate) fn traffic_counts(r: &RouteReport, failure: &Failure) -> Option<String> {
    let Failure::FailedRequests { failed, sent, statuses, timeouts, other, allowed, .. } = failure
    else {
        return None;
    };
    let mut text = format!(
        "{} of {} failed: {}",
        thousands(*failed),
        plural(*sent, r.unit()),
        failure_kinds(statuses, *timeouts, *other, r.unit())
    );
    if *allowed > 0 {
        text += &format!(" ({} tolerated)", thousands(*allowed));
    }
    Some(text)
}

/// "40 × 500, 3 timed out, 1 without a response".
pub(crate) fn failure_kinds(
    statuses: &std::collections::BTreeMap<u16, u64>,
    timeouts: u64,
    other: u64,
    unit: &str,
) -> String {
    let mut what: Vec<String> =
        statuses.iter().map(|(code, n)| format!("{} × {code}", thousands(*n))).collect();
    if timeouts > 0 {
        what.push(format!("{} timed out", thousands(timeouts)));
    }
    if other > 0 {
        let how = if unit == "iteration" { "failing otherwise" } else { "without a response" };
        what.push(format!("{} {how}", thousands(other)));
    }
    what.join(", ")
}

/// The route's `failed_requests` failure, if it has one.
pub(crate) fn traffic_failure(r: &RouteReport) -> Option<&Failure> {
    r.verdict.as_ref()?.failures.iter().find(|f| matches!(f, Failure::FailedRequests { .. }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::judge::budgets::tests::compare;
    use crate::judge::budgets::{Limits, judge};
    use crate::model::lock::{LockCheck, Recorded, Status};
    use crate::model::verdict::RouteVerdict;
    use crate::model::{LoadStats, RUN_FORMAT, Rung, Timings};

    fn route(name: &str, outcome: Outcome, verdict: Option<RouteVerdict>) -> RouteReport {
        RouteReport {
            name: name.into(),
            method: "POST".into(),
            path: format!("/api/{name}"),
            headers: vec![("authorization".into(), "<redacted>".into())],
            outcome,
            error: None,
            ignored: false,
            verdict,
            rungs: (0..3)
                .map(|i| Rung {
                    requests: i * 100,
                    heap_used: 4_000_000 + i * 7_200,
                    nodes: 50_000,
                    snapshot_bytes: 5_000_000,
                    snapshot_time: Duration::from_millis(400),
                    kept: None,
                    graph_bytes: 3_000_000,
                    compact_graph_bytes: 2_200_000,
                    rss_after_streaming: None,
                    array_buffers: Some(150_000 + i * 3_686_400),
                    external: Some(1_900_000 + i * 3_690_000),
                    rss: Some(52_000_000 + i * 3_800_000),
                })
                .collect(),
            warmup: 10,
            warmup_unsettled: None,
            load: LoadStats { sent: 200, ok: 200, ..LoadStats::default() },
            peak_heap: Some(4_400_000),
            peak_external: Some(9_600_000),
            peak_rss: Some(60_000_000),
            burst: None,
            timings: Timings { wall: Duration::from_millis(2500), ..Timings::default() },
            line: Some(12),
            allocations: None,
            causes: Vec::new(),
        }
    }

    /// A run of three targets: a leak that also regressed against its record and a clean route
    /// the lock does not record; a crash; a target that never became ready.
    pub(crate) fn report() -> RunReport {
        let mut leak = judge(
            &compare([0, 100, 200]),
            &Limits { memory_limit: Some(128 << 20), ..Limits::default() },
            None,
        );
        let recorded = Recorded {
            requests: 200,
            bytes_per_request: 16.0,
            heap_growth: 3_300,
            detection_limit: None,
            sensitivity: None,
            peak_heap: Some(4_300_000),
            classes: [("Job".to_owned(), 16.0)].into(),
        };
        let now = Recorded::measure(&leak, 200, Some(4_400_000));
        let check = crate::judge::lock::compare(&recorded, &now, Default::default());
        leak.failures.push(Failure::Regression { summary: check.summary() });
        leak.lock = Some(check);
        let mut clean = judge(&compare([50, 50, 50]), &Limits::default(), None);
        clean.lock = Some(LockCheck {
            status: Status::NotRecorded,
            tolerance: "25% + 32B".into(),
            figures: Vec::new(),
            weaker_detection_limit: None,
        });
        let mut crashed = route("boom", Outcome::Error, None);
        crashed.error =
            Some("the target exited during the load of rung 1 (82 of 100 requests)".into());
        crashed.load.transport_errors = 18;
        crashed.load.ok = 82;
        crashed.load.sent = 100;
        crashed.load.first_error = Some("error sending request: connection refused".into());
        RunReport {
            format: RUN_FORMAT,
            spec: "leakspec.toml".into(),
            targets: vec![
                TargetReport {
                    name: "ai-proxy".into(),
                    routes: vec![route("chat", Outcome::Fail, Some(leak)), route("chat-fixed", Outcome::Pass, Some(clean))],
                    ..TargetReport::default()
                },
                TargetReport {
                    name: "crashy".into(),
                    routes: vec![crashed, RouteReport::skipped("after", "GET", "/after", "the target exited earlier")],
                    exit: Some("exited with status 3".into()),
                    stderr_tail: Some("listening on 127.0.0.1:4000\nError: boom\n    at handler (crashy.js:20:11)".into()),
                    ..TargetReport::default()
                },
                TargetReport {
                    name: "sleepy".into(),
                    error: Some("never became ready: GET http://127.0.0.1:4100/health answered 503 for 30s".into()),
                    ..TargetReport::default()
                },
            ],
            interrupted: None,
            elapsed: Duration::from_secs(12),
            peak_rss: None,
        }
    }

    #[test]
    fn terminal_report() {
        insta::assert_snapshot!(report().to_text(Paint::PLAIN));
    }

    /// One block per snapshot, climbing with a heap that grows; the wobble of a heap that does
    /// not grow (under 1% of it, or under what the run could detect) stays low.
    #[test]
    fn heap_sparkline_follows_growth_not_wobble() {
        let with_heap = |heap: &[u64], limit: f64| {
            let mut r = route(
                "r",
                Outcome::Pass,
                Some(judge(&compare([0, 0, 0]), &Limits::default(), None)),
            );
            r.rungs = heap
                .iter()
                .enumerate()
                .map(|(i, &h)| Rung { requests: i as u64 * 100, heap_used: h, ..Rung::default() })
                .collect();
            r.verdict.as_mut().unwrap().detection_limit.bytes_per_request = limit;
            heap_sparkline(&r)
        };
        let mib = 1u64 << 20;
        assert_eq!(with_heap(&[4 * mib, 5 * mib, 6 * mib, 7 * mib], 0.0), "▁▃▆█");
        // 20 KiB of wobble on 4 MiB: under 1% of the heap.
        assert_eq!(with_heap(&[4 * mib, 4 * mib + 20_000, 4 * mib], 0.0), "▁▄▁");
        assert_eq!(with_heap(&[4 * mib, 4 * mib + 4_000, 4 * mib], 0.0), "▁▂▁");
        // What the run could detect over its 200 requests (200 × 1 KiB) sets the scale.
        assert_eq!(with_heap(&[4 * mib, 4 * mib + 20_000, 4 * mib + 40_000], 1024.0), "▁▂▂");
        assert_eq!(with_heap(&[4 * mib], 0.0), "");
        assert_eq!(with_heap(&[4 * mib, 4 * mib], 0.0), "▁▁");
    }

    #[test]
    fn junit_report() {
        // Timestamps are the wall clock; everything else is deterministic.
        let xml = report().to_junit();
        let redacted: Vec<String> = xml
            .split("timestamp=\"")
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part.to_owned()
                } else {
                    format!("[time]{}", &part[part.find('"').unwrap()..])
                }
            })
            .collect();
        insta::assert_snapshot!(redacted.join("timestamp=\""));
    }

    /// quick-junit (nextest's JUnit crate, a different XML stack from junit-report's writer)
    /// reads the report back: counts, names, kinds and texts as written.
    #[test]
    fn junit_reads_back_with_an_independent_reader() {
        use quick_junit::{NonSuccessKind, TestCaseStatus};
        let report = quick_junit::Report::deserialize_from_str(&report().to_junit())
            .expect("quick-junit reads leakcheck's JUnit");
        let suites: Vec<(&str, usize, usize, usize)> = report
            .test_suites
            .iter()
            .map(|s| (s.name.as_str(), s.tests, s.failures, s.errors))
            .collect();
        assert_eq!(suites, [("ai-proxy", 2, 1, 0), ("crashy", 2, 0, 1), ("sleepy", 1, 0, 1)]);
        let cases: Vec<(&str, Option<&str>)> = report
            .test_suites
            .iter()
            .flat_map(|s| &s.test_cases)
            .map(|c| (c.name.as_str(), c.classname.as_ref().map(|c| c.as_str())))
            .collect();
        assert_eq!(
            cases,
            [
                ("chat", Some("ai-proxy")),
                ("chat-fixed", Some("ai-proxy")),
                ("boom", Some("crashy")),
                ("after", Some("crashy")),
                ("(start)", Some("sleepy")),
            ]
        );
        let chat = &report.test_suites[0].test_cases[0];
        let TestCaseStatus::NonSuccess { kind, message, description, .. } = &chat.status else {
            panic!("chat is a failure: {:?}", chat.status);
        };
        assert_eq!(*kind, NonSuccessKind::Failure);
        let message = message.as_ref().unwrap().as_str();
        assert!(message.starts_with("linear growth of Job (+64 B per request); regression against the recorded figures: growth per request 16 B/req → 64 B/req"), "{message}");
        let text = description.as_ref().unwrap().as_str();
        assert!(text.contains("held by `queue` (Array @5)"), "{text}");
        assert!(
            text.contains(
                "class Job               16 B/req      64 B/req      52 B/req  regressed"
            ),
            "{text}"
        );
        let boom = &report.test_suites[1].test_cases[0];
        assert!(
            matches!(&boom.status, TestCaseStatus::NonSuccess { kind: NonSuccessKind::Error, message: Some(m), .. } if m.as_str().starts_with("the target exited during the load of rung 1"))
        );
        assert!(matches!(
            report.test_suites[1].test_cases[1].status,
            TestCaseStatus::Skipped { .. }
        ));
        assert!(matches!(
            report.test_suites[0].test_cases[1].status,
            TestCaseStatus::Success { .. }
        ));
    }

    /// Routes the spec marks ignored: skipped with their reason in the terminal report, the
    /// JSON and the JUnit (`<skipped type="ignored" message=..>`), also in a target that could
    /// not start (where the other routes are errors).
    #[test]
    fn ignored_routes_say_why_in_every_format() {
        let ignored = |name: &str, why: &str| RouteReport {
            ignored: true,
            ..RouteReport::skipped(name, "GET", &format!("/{name}"), why)
        };
        let report = RunReport {
            format: RUN_FORMAT,
            spec: "leakspec.toml".into(),
            targets: vec![
                TargetReport {
                    name: "api".into(),
                    routes: vec![
                        route("home", Outcome::Pass, None),
                        ignored("export", "ignored: nightly only"),
                    ],
                    ..TargetReport::default()
                },
                TargetReport {
                    name: "sleepy".into(),
                    error: Some("never became ready".into()),
                    routes: vec![
                        RouteReport::skipped("up", "GET", "/up", "the target did not start"),
                        ignored("slow", "ignored"),
                    ],
                    ..TargetReport::default()
                },
            ],
            ..RunReport::default()
        };

        let text = report.to_text(Paint::PLAIN);
        // The sparkline's column (the home route's three snapshots) is left blank.
        assert!(text.contains("SKIP   api › export        ignored: nightly only\n"), "{text}");
        assert!(text.contains("SKIP   sleepy › slow       ignored\n"), "{text}");
        assert!(text.lines().any(|l| l.contains("api › home") && l.contains("  ▁▂▄  ")), "{text}");
        assert!(text.ends_with("1 passed, 0 failed, 3 skipped\n"), "{text}");

        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        let export = &json["targets"][0]["routes"][1];
        assert_eq!((&export["outcome"], &export["ignored"]), (&"skipped".into(), &true.into()));
        assert_eq!(export["error"], "ignored: nightly only");
        // Written only when true, so reports of runs without ignored routes are unchanged.
        assert!(json["targets"][0]["routes"][0].get("ignored").is_none(), "{json}");
        assert!(json["targets"][1]["routes"][0].get("ignored").is_none(), "{json}");
        assert!(RunReport::from_json(&report.to_json()).unwrap().targets[1].routes[1].ignored);

        let junit = quick_junit::Report::deserialize_from_str(&report.to_junit()).unwrap();
        let skip =
            |suite: usize, case: usize| match &junit.test_suites[suite].test_cases[case].status {
                quick_junit::TestCaseStatus::Skipped { message, ty, .. } => Some((
                    ty.as_ref().map(|t| t.as_str().to_owned()),
                    message.as_ref().map(|m| m.as_str().to_owned()),
                )),
                _ => None,
            };
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(skip(0, 1), Some((some("ignored"), some("ignored: nightly only"))));
        assert_eq!(skip(1, 1), Some((some("ignored"), some("ignored"))));
        // The route the target's failure left unmeasured is an error, the ignored one is not.
        assert_eq!(skip(1, 0), None);
        assert_eq!(junit.test_suites[1].errors, 1);
    }

    #[test]
    fn json_reads_back() {
        let text = report().to_json();
        let back = RunReport::from_json(&text).unwrap();
        assert_eq!(back.to_json(), text);
        assert_eq!(back.to_text(Paint::PLAIN), report().to_text(Paint::PLAIN));
        let other = text.replace(RUN_FORMAT, "leakcheck-run/9");
        let err = RunReport::from_json(&other).unwrap_err().to_string();
        assert!(err.contains("format `leakcheck-run/9` is not `leakcheck-run/2`"), "{err}");
    }

    #[test]
    fn json_report() {
        let json: serde_json::Value = serde_json::from_str(&report().to_json()).unwrap();
        assert_eq!(json["format"], RUN_FORMAT);
        assert_eq!(json["targets"][0]["routes"][0]["outcome"], "fail");
        assert_eq!(json["targets"][0]["routes"][0]["verdict"]["leaks"][0]["class"], "Job");
        assert_eq!(json["targets"][0]["routes"][0]["headers"][0][1], "<redacted>");
        let lock = &json["targets"][0]["routes"][0]["verdict"]["lock"];
        assert_eq!(lock["status"], "regressed");
        assert_eq!(lock["tolerance"], "25% + 32B");
        let job = lock["figures"].as_array().unwrap().iter().find(|f| f["name"] == "class Job");
        let job = job.expect("the class's row");
        assert_eq!((job["recorded"].as_f64(), job["measured"].as_f64()), (Some(16.0), Some(64.0)));
        assert_eq!(job["change"], "regressed");
        assert_eq!(json["targets"][0]["routes"][1]["verdict"]["lock"]["status"], "not_recorded");
        insta::assert_json_snapshot!(json["targets"][0]["routes"][0]["verdict"]["failures"]);
    }
}
