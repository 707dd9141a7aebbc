//! One route of the HTML report: what was sent, the heap chart, each leaking class with its
//! series and fitted lines and what holds it (retainer paths in `<details>`), growing holders,
//! budgets and what broke them, the lock's diff, load problems, errors, and the kept snapshots.

use maud::{Markup, html};

use super::chart::{Chart, Quantity, sparkline};
use super::{HtmlOptions, badge, relative_link, stderr};
use super::{causes, memory};
use crate::analysis::paths::RetainerPath;
use crate::format::{bytes, bytes_rate, count_rate, plural, signed_bytes, thousands};
use crate::judge::budgets::IDLE_LINE;
use crate::model::lock::{Change, Figure, LockCheck, Status as LockStatus, Unit};
use crate::model::verdict::{Failure, Leak, LeakHolder, Limits, RouteVerdict};
use crate::model::{RouteReport, RunReport, TargetReport};

/// The section of one route.
pub(super) fn section(
    report: &RunReport,
    t: &TargetReport,
    r: &RouteReport,
    id: &str,
    options: &HtmlOptions,
) -> Markup {
    let unit = options.unit.as_str();
    let class = super::outcome_word(r.outcome).1;
    if r.name == IDLE_LINE && r.rungs.is_empty() && r.verdict.is_none() {
        return memory::idle_line(t, r, id);
    }
    html! {
        section class={ "route " (class) } id=(id) aria-labelledby={ (id) "-h" } {
            h2 id={ (id) "-h" } {
                (badge(r.outcome)) " " (t.name) " › " (r.name)
                @if !r.method.is_empty() || !r.path.is_empty() {
                    " " code class="request" { (r.method) " " (r.path) }
                }
            }
            p class="facts" {
                (plural(r.requests(), unit)) " measured"
                @if r.warmup > 0 { " after " (thousands(r.warmup)) " of warm-up" }
                ", " (plural(r.rungs.len() as u64, "snapshot"))
                @if !r.timings.wall.is_zero() {
                    span class="time" { ", " (format!("{:.1}", r.timings.wall.as_secs_f64())) " s" }
                }
                @if t.runtime != Default::default() { " · " (t.runtime.as_str()) }
            }
            @if let Some(err) = &r.error {
                pre class="text error-text" { (err) }
                (stderr(t))
            }
            @if let Some(v) = &r.verdict { (failures(v, t, unit)) }
            @if let Some(v) = &r.verdict { (memory::detection_limit(v, unit)) }
            @if !r.rungs.is_empty() { (heap_chart(t, r, unit)) }
            @if let Some(v) = &r.verdict {
                (causes::causes(r, v, id, unit))
                @for (i, leak) in v.leaks.iter().enumerate() {
                    (leak_block(r, leak, &format!("{id}-leak-{i}"), unit))
                }
                (holders(v, unit))
                @if !v.unsure.is_empty() {
                    p class="unsure" {
                        "Still growing unevenly after the last snapshot (not counted as leaks; more rungs would tell): "
                        @for (i, class) in v.unsure.iter().enumerate() {
                            @if i > 0 { ", " }
                            code { (class) }
                        }
                    }
                }
                (memory::memory_table(t, r, v, unit))
                (memory::idle(v))
                (budget(&v.budget, unit))
                @if let Some(lock) = &v.lock { (lock_table(lock, &report.lock_name())) }
            }
            (load_problems(r))
            (snapshots(r, options))
        }
    }
}

/// Why the route failed, each failure in words with its budget; the projection to the memory
/// limit when one is set.
fn failures(v: &RouteVerdict, t: &TargetReport, unit: &str) -> Markup {
    let allowed = v.failures.iter().find_map(|f| match f {
        Failure::ReachesLimit { allowed, .. } => Some(*allowed),
        _ => None,
    });
    html! {
        @if !v.failures.is_empty() {
            ul class="failures" {
                @for f in &v.failures { li { (failure(f, unit)) } }
            }
        }
        @if let Some(p) = &v.projection {
            p class="projection" {
                @match p.requests {
                    Some(n) => {
                        "At " (bytes_rate(p.bytes_per_request)) " per " (unit) " this " (t.runtime.instance())
                        " reaches " (bytes(p.limit)) " after about " (thousands(n)) " " (unit) "s"
                        @if let Some(a) = allowed { "; the budget asks for at least " (thousands(a)) }
                        "."
                    }
                    None => { "Nothing grows linearly: no projection to the " (bytes(p.limit)) " limit." }
                }
            }
        }
    }
}

fn failure(f: &Failure, unit: &str) -> Markup {
    html! {
        @match f {
            Failure::LinearGrowth { classes, bytes_per_request, objects_per_request } => {
                "Linear growth of " (plural(classes.len() as u64, "class")) ": +" (bytes_rate(*bytes_per_request))
                " per " (unit)
                @if *objects_per_request > 0.0 {
                    @let rate = count_rate(*objects_per_request);
                    ", up to " (rate) " " (if rate == "1" { "object" } else { "objects" }) " of one class per " (unit)
                }
                "."
            }
            Failure::GrowingHolder { holder, bytes_per_request } => {
                code { (holder) } " retains +" (bytes_rate(*bytes_per_request)) " more per " (unit) "."
            }
            Failure::HeapGrowth { grew, limit } => {
                "The heap grew " (bytes(*grew)) " from the baseline, over the budget of " (bytes(*limit))
                " (" code { "max_heap_growth" } ")."
            }
            Failure::PeakHeap { peak, limit, concurrency } => {
                "The heap peaked at " (bytes(*peak)) " with " (plural(*concurrency as u64, unit)) " in flight, over the budget of "
                (bytes(*limit)) " (" code { "max_peak_heap" } "): memory held per " (unit) " in flight, not a leak."
            }
            Failure::ExternalGrowth { bytes_per_request, limit } => {
                "The process's external memory grows +" (bytes_rate(*bytes_per_request)) " per " (unit)
                ", over the budget of " (bytes_rate(*limit)) " (" code { "max_external_per_request" } ")."
            }
            Failure::RssGrowth { bytes_per_request, limit } => {
                "The process's resident set grows +" (bytes_rate(*bytes_per_request)) " per " (unit)
                ", over the budget of " (bytes_rate(*limit)) " (" code { "max_rss_growth" } ")."
            }
            Failure::ReachesLimit { requests, allowed } => {
                "Reaches the memory limit after about " (thousands(*requests)) " " (unit) "s; "
                code { "requests_to_limit" } " asks for " (thousands(*allowed)) "."
            }
            Failure::FailedRequests { failed, sent, statuses, timeouts, other, allowed, first_error } => {
                (thousands(*failed)) " of " (thousands(*sent)) " " (unit) "s failed"
                @for (i, (code, n)) in statuses.iter().enumerate() {
                    (if i == 0 { ": " } else { ", " }) (thousands(*n)) " × " (code)
                }
                @if *timeouts > 0 {
                    (if statuses.is_empty() { ": " } else { ", " }) (thousands(*timeouts)) " timed out"
                }
                @if *other > 0 {
                    (if statuses.is_empty() && *timeouts == 0 { ": " } else { ", " }) (thousands(*other)) " without a response"
                }
                @if *allowed > 0 {
                    "; " code { "max_failed_requests" } " tolerates " (thousands(*allowed))
                }
                "."
                @if let Some(e) = first_error { " First: " code { (e) } }
            }
            Failure::Regression { summary } => {
                "Regressed against the recorded figures: " (summary) "."
            }
            Failure::SensitivityNotReached { sensitivity, detection_limit, requests_per_rung, unreachable_below } => {
                (crate::report::run::sensitivity_text(*sensitivity, *detection_limit, *requests_per_rung, *unreachable_below, unit)) "."
            }
        }
    }
}

/// The heap at each snapshot against the load, with the peak sampled while it ran.
fn heap_chart(t: &TargetReport, r: &RouteReport, unit: &str) -> Markup {
    let mut marks = Vec::new();
    if let Some(peak) = r.peak_heap {
        marks.push((peak as f64, format!("peak during load {}", bytes(peak))));
    }
    if let Some(b) = r.burst {
        marks.push((
            b.peak_heap as f64,
            format!(
                "peak with {} in flight {}",
                plural(b.concurrency as u64, unit),
                bytes(b.peak_heap)
            ),
        ));
    }
    let first = r.rungs.first().map_or(0, |g| g.heap_used);
    let last = r.rungs.last().map_or(0, |g| g.heap_used);
    let chart = Chart {
        title: format!("Heap of {} › {} at each snapshot", t.name, r.name),
        desc: format!(
            "{}: heap after garbage collection, {} at the baseline, {} after {} {unit}s{}.",
            plural(r.rungs.len() as u64, "snapshot"),
            bytes(first),
            bytes(last),
            thousands(r.requests()),
            r.peak_heap.map_or(String::new(), |p| format!(", peak {} during load", bytes(p)))
        ),
        class: "heap",
        quantity: Quantity::Bytes,
        width: 640.0,
        unit,
        points: r.rungs.iter().map(|g| (g.requests as f64, g.heap_used as f64)).collect(),
        labels: (0..r.rungs.len()).map(|i| format!("s{i}")).collect(),
        slope: None,
        marks,
    };
    html! {
        figure class="heap-figure" {
            (chart.render())
            figcaption {
                "Heap at each snapshot (after garbage collection) against " (unit) "s sent"
                @if r.peak_heap.is_some() || r.burst.is_some() { "; dashed: the highest heap sampled while the load ran" }
                "."
            }
        }
    }
}

/// One leaking class: its rates, its objects and bytes per snapshot with the fitted lines, and
/// what holds it.
fn leak_block(r: &RouteReport, leak: &Leak, id: &str, unit: &str) -> Markup {
    let loads: Vec<f64> = r.rungs.iter().map(|g| g.requests as f64).collect();
    let series = |values: &[u64]| -> Vec<(f64, f64)> {
        loads.iter().zip(values).map(|(&x, &y)| (x, y as f64)).collect()
    };
    // Series recorded for every snapshot; older reports have only the first and the last.
    let aligned = leak.objects_per_rung.len() == loads.len() && !loads.is_empty();
    let labels: Vec<String> = (0..loads.len()).map(|i| format!("s{i}")).collect();
    let objects = Chart {
        title: format!("Objects of {} at each snapshot", leak.class),
        desc: format!(
            "{} → {} objects; fitted: {} per {unit}",
            thousands(leak.objects.0),
            thousands(leak.objects.1),
            count_rate(leak.objects_per_request)
        ),
        class: "objects",
        quantity: Quantity::Objects,
        width: 400.0,
        unit,
        points: series(&leak.objects_per_rung),
        labels: labels.clone(),
        slope: (leak.objects_per_request > 0.0).then_some(leak.objects_per_request),
        marks: Vec::new(),
    };
    let sizes = Chart {
        title: format!("Bytes of {} at each snapshot", leak.class),
        desc: format!(
            "{} → {}; fitted: {} per {unit}",
            bytes(leak.bytes.0),
            bytes(leak.bytes.1),
            bytes_rate(leak.bytes_per_request)
        ),
        class: "bytes",
        quantity: Quantity::Bytes,
        width: 400.0,
        unit,
        points: series(&leak.bytes_per_rung),
        labels,
        slope: Some(leak.bytes_per_request),
        marks: Vec::new(),
    };
    html! {
        article class="leak" id=(id) {
            h3 {
                span class="tag" { "LEAK" } " " code class="class" { (leak.class) }
            }
            p {
                @if leak.objects_per_request > 0.0 {
                    "+" (count_rate(leak.objects_per_request)) " "
                    (if count_rate(leak.objects_per_request) == "1" { "object" } else { "objects" }) " and "
                }
                "+" (bytes_rate(leak.bytes_per_request)) " per " (unit)
                " (" (thousands(leak.objects.0)) " → " (thousands(leak.objects.1)) " objects, "
                (bytes(leak.bytes.0)) " → " (bytes(leak.bytes.1)) ")"
            }
            @if aligned {
                div class="pair" {
                    figure { (objects.render()) figcaption { "Objects per snapshot, with the fitted line." } }
                    figure { (sizes.render()) figcaption { "Bytes per snapshot, with the fitted line." } }
                }
            }
            // The first holder's path open: the answer to "who keeps them" at a glance.
            @for (i, h) in leak.holders.iter().enumerate() { (holder(h, i == 0)) }
        }
    }
}

/// `held by `culprit` (Map @12)` with the retainer path of one of its objects, collapsed.
fn holder(h: &LeakHolder, open: bool) -> Markup {
    html! {
        details class="holder" open[open] {
            summary {
                "held by "
                @match (&h.culprit, &h.holder) {
                    (Some(c), Some(holder)) => { code class="culprit" { (c) } " (" (holder) ")" }
                    (None, Some(holder)) => { (holder) }
                    (Some(c), None) => { code class="culprit" { (c) } }
                    (None, None) => { "nothing reachable from the roots" }
                }
                " — " (plural(h.objects, "object")) ", " (bytes(h.bytes))
            }
            @if let Some(hint) = &h.hint { p { "Looks like: " (hint) } }
            @match &h.path {
                Some(path) => (retainer_path(path)),
                None => p class="dim" { "No retainer path recorded." },
            }
        }
    }
}

/// A retainer path, from the object's holder up to the root.
pub(super) fn retainer_path(path: &RetainerPath) -> Markup {
    html! {
        @if !path.reached {
            p class="dim" { "Unreachable from the roots (only weak references hold it)." }
        } @else {
            ol class="path" {
                @for step in &path.steps {
                    li {
                        code { (step.label) } " in " (step.holder_class) " "
                        span class="id" { "@" (step.holder_id) }
                    }
                    @if step.repeat > 0 {
                        li class="dim" {
                            "… " (plural(step.repeat as u64, "more step")) " through " (step.holder_class)
                        }
                    }
                }
                @if path.elided > 0 { li class="dim" { "… " (plural(path.elided as u64, "more step")) } }
                @if let Some(origin) = &path.origin { li { code { (origin) } } }
            }
        }
    }
}

/// Persistent objects whose retained size grows linearly.
fn holders(v: &RouteVerdict, unit: &str) -> Markup {
    html! {
        @if !v.holders.is_empty() {
            h3 { "Growing holders" }
            table class="holders" {
                thead { tr {
                    th scope="col" { "Holder" }
                    th scope="col" class="num" { "Retains more per " (unit) }
                    th scope="col" { "Retained at each snapshot" }
                } }
                tbody {
                    @for h in &v.holders {
                        tr {
                            td {
                                details class="holder" {
                                    summary {
                                        @if let Some(c) = &h.culprit { code class="culprit" { (c) } " " }
                                        (h.class) " " span class="id" { "@" (h.node.id) }
                                    }
                                    @match &h.path {
                                        Some(path) => (retainer_path(path)),
                                        None => p class="dim" { "No retainer path recorded." },
                                    }
                                }
                            }
                            td class="num" { "+" (bytes_rate(h.fit.per_step)) }
                            td {
                                (sparkline(&h.retained)) " "
                                (h.retained.first().map_or(String::new(), |b| bytes(*b))) " → "
                                (h.retained.last().map_or(String::new(), |b| bytes(*b)))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The budget the route was held to, as the spec's keys say it.
fn budget(limits: &Limits, unit: &str) -> Markup {
    let mut rows: Vec<(&str, String)> = Vec::new();
    if let Some(v) = limits.max_bytes_per_request {
        rows.push(("max_bytes_per_request", format!("{}/{unit}", bytes_rate(v))));
    }
    if let Some(v) = limits.max_objects_per_request {
        rows.push(("max_objects_per_request", format!("{}/{unit}", count_rate(v))));
    }
    if let Some(v) = limits.max_heap_growth {
        rows.push(("max_heap_growth", bytes(v)));
    }
    if let Some(v) = limits.memory_limit {
        rows.push(("memory_limit", bytes(v)));
    }
    if let Some(v) = limits.requests_to_limit {
        rows.push(("requests_to_limit", thousands(v)));
    }
    if let Some(v) = limits.max_peak_heap {
        rows.push(("max_peak_heap", bytes(v)));
    }
    html! {
        div class="budget" {
            h3 { "Budget" }
            @if rows.is_empty() {
                p { "No budget set: any linear growth above the noise floor fails the route." }
            } @else {
                dl {
                    @for (key, value) in &rows { dt { code { (key) } } dd { (value) } }
                }
            }
            @if !limits.ignore.is_empty() {
                p { "Never counted: "
                    @for (i, class) in limits.ignore.iter().enumerate() {
                        @if i > 0 { ", " }
                        code { (class) }
                    }
                }
            }
        }
    }
}

fn figure_value(f: &Figure, v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) => match f.unit {
            Unit::BytesPerRequest => format!("{}/req", bytes_rate(v)),
            Unit::Growth => signed_bytes(v as i64),
            Unit::Bytes => bytes(v.max(0.0) as u64),
        },
    }
}

/// The route against its record in the lock: a table of recorded, measured and allowed.
fn lock_table(lock: &LockCheck, lock_name: &str) -> Markup {
    let head = match lock.status {
        LockStatus::Within => "Within the figures recorded in",
        LockStatus::Regressed => "Regression against",
        LockStatus::Improved => "Improved on",
        LockStatus::NotRecorded => "Not recorded in",
        LockStatus::Recorded => "Recorded in",
        LockStatus::Blessed => "Blessed into",
    };
    html! {
        div class="lock" {
            h3 { (head) " " code { (lock_name) } " " span class="dim" { "(tolerance " (lock.tolerance) ")" } }
            @if lock.status == LockStatus::Improved { p { code { "leakcheck run --bless" } " records the gain." } }
            @if lock.status == LockStatus::NotRecorded { p { code { "leakcheck run --record" } " records it." } }
            @if !lock.figures.is_empty() {
                table {
                    thead { tr {
                        th scope="col" { "Figure" } th scope="col" class="num" { "Recorded" }
                        th scope="col" class="num" { "Measured" } th scope="col" class="num" { "Allowed" }
                        th scope="col" { "" }
                    } }
                    tbody {
                        @for f in &lock.figures {
                            tr class=[change_class(f.change)] {
                                th scope="row" { (f.name) }
                                td class="num" { (figure_value(f, f.recorded)) }
                                td class="num" { (figure_value(f, f.measured)) }
                                td class="num" { (figure_value(f, f.allowed)) }
                                td { (change_word(f.change)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn change_class(c: Change) -> Option<&'static str> {
    match c {
        Change::Regressed => Some("bad"),
        Change::Improved | Change::Gone => Some("good"),
        Change::Same | Change::New => None,
    }
}

fn change_word(c: Change) -> &'static str {
    match c {
        Change::Same => "",
        Change::Regressed => "regressed",
        Change::Improved => "improved",
        Change::New => "new",
        Change::Gone => "gone",
    }
}

/// Requests that failed during the load.
fn load_problems(r: &RouteReport) -> Markup {
    let failed = r.load.failed();
    html! {
        @if failed > 0 {
            p class="load-problems" {
                (thousands(failed)) " of " (thousands(r.load.sent)) " requests failed: "
                @for (i, (code, n)) in r.load.statuses.iter().enumerate() {
                    @if i > 0 { ", " }
                    (thousands(*n)) " × " (code)
                }
                @if r.load.transport_errors > 0 {
                    @if !r.load.statuses.is_empty() { ", " }
                    (thousands(r.load.transport_errors)) " without a response"
                }
                @if let Some(e) = &r.load.first_error { br; "First error: " code { (e) } }
            }
        }
    }
}

/// Links to the snapshots kept, relative to the page, with how to open them.
fn snapshots(r: &RouteReport, options: &HtmlOptions) -> Markup {
    let kept: Vec<(usize, &std::path::Path)> =
        r.rungs.iter().enumerate().filter_map(|(i, g)| Some((i, g.kept.as_deref()?))).collect();
    html! {
        @if !kept.is_empty() {
            div class="snapshots" {
                h3 { "Heap snapshots" }
                ul {
                    @for (i, path) in &kept {
                        @let rung = &r.rungs[*i];
                        li {
                            a href=(relative_link(path, options.base.as_deref())) { (path.display()) }
                            span class="dim" {
                                " — s" (i) ", after " (thousands(rung.requests)) " " (options.unit) "s, "
                                (bytes(rung.snapshot_bytes)) ", " (thousands(rung.nodes)) " nodes"
                            }
                        }
                    }
                }
                p class="howto" {
                    "Open them in Chrome DevTools: " kbd { "Memory" } " → " kbd { "Load profile" }
                    ", one file after another (they stay beside this page in the artifact); select the last and pick "
                    em { "Comparison" } " with s0 to see what the load added."
                }
            }
        }
    }
}
