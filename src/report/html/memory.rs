//! The process's side of a route in the HTML report: its own memory figures at each snapshot
//! (V8 heap, array buffers, external memory, resident set) with their growth per request and
//! peaks under load, the smallest growth the run would have flagged (its detection limit), and
//! what grew in the idle control interval; and the target's own `(idle)` line.

use maud::{Markup, html};

use super::chart::sparkline;
use crate::analysis::growth::{Fit, Trend};
use crate::format::{bytes, bytes_rate, count_rate};
use crate::model::verdict::{Failure, RouteVerdict};
use crate::model::{RouteReport, Rung, TargetReport};

/// The detection limit in bytes per request, when the run can state one: traffic that failed
/// measured nothing, so it has none.
fn stated_limit(v: &RouteVerdict) -> Option<f64> {
    let failed = v.failures.iter().any(|f| matches!(f, Failure::FailedRequests { .. }));
    let limit = v.detection_limit.bytes_per_request;
    (limit > 0.0 && !failed).then_some(limit)
}

/// `≥ 120 B/request`: the detection limit as the overview says it (`—` when the run could not
/// state one).
pub(super) fn detection_cell(v: &RouteVerdict, unit: &str) -> String {
    match stated_limit(v) {
        Some(limit) => format!("≥ {}/{unit}", bytes_rate(limit)),
        None => "—".into(),
    }
}

/// What this run could have seen, in words.
pub(super) fn detection_limit(v: &RouteVerdict, unit: &str) -> Markup {
    let l = v.detection_limit;
    html! {
        @if stated_limit(v).is_some() {
            p class="limit" {
                "Detection limit: this run would have flagged linear growth from "
                strong { (bytes_rate(l.bytes_per_request)) " per " (unit) }
                @if l.objects_per_request > 0.0 {
                    " or " (count_rate(l.objects_per_request)) " objects of one class per " (unit)
                }
                " (from its measured noise and its " (unit) "s per snapshot); less would pass unseen."
            }
        }
    }
}

/// One figure's row: its name, its value at each snapshot, a sparkline, its growth per
/// request when linear, its peak during load.
struct Row {
    name: &'static str,
    values: Vec<u64>,
    fit: Option<Fit>,
    peak: Option<u64>,
}

/// The process's memory at each snapshot, a row per figure the runtime gives; what it cannot
/// give is said, not shown as zero.
pub(super) fn memory_table(
    t: &TargetReport,
    r: &RouteReport,
    v: &RouteVerdict,
    unit: &str,
) -> Markup {
    let series = |get: &dyn Fn(&Rung) -> Option<u64>| -> Option<Vec<u64>> {
        let values: Option<Vec<u64>> = r.rungs.iter().map(get).collect();
        values.filter(|v| !v.is_empty())
    };
    let m = &v.memory;
    let mut rows = Vec::new();
    let process = [
        ("Array buffers", series(&|g| g.array_buffers), m.array_buffers, None),
        ("External", series(&|g| g.external), m.external, r.peak_external),
        ("Resident set (RSS)", series(&|g| g.rss), m.rss, r.peak_rss),
    ];
    let has_process = process.iter().any(|p| p.1.is_some());
    if let Some(values) = series(&|g| Some(g.heap_used)) {
        rows.push(Row { name: "V8 heap used", values, fit: None, peak: r.peak_heap });
    }
    for (name, values, fit, peak) in process {
        if let Some(values) = values {
            rows.push(Row { name, values, fit, peak });
        }
    }
    html! {
        @if has_process || t.memory_note.is_some() || !m.unchecked.is_empty() {
            div class="memory" {
                h3 { "Process memory at each snapshot" }
                @if has_process {
                    table class="memory" {
                        thead { tr {
                            th scope="col" { "Figure" }
                            @for i in 0..r.rungs.len() { th scope="col" class="num" { "s" (i) } }
                            th scope="col" { "" }
                            th scope="col" class="num" { "Growth per " (unit) }
                            th scope="col" class="num" { "Peak during load" }
                        } }
                        tbody {
                            @for row in &rows {
                                tr {
                                    th scope="row" { (row.name) }
                                    @for value in &row.values { td class="num" { (bytes(*value)) } }
                                    td { (sparkline(&row.values)) }
                                    td class="num" {
                                        @match row.fit.as_ref().filter(|f| f.trend == Trend::Linear) {
                                            Some(f) => { "+" (bytes_rate(f.per_step)) }
                                            None => { span class="dim" { "—" } }
                                        }
                                    }
                                    td class="num" { (row.peak.map_or_else(|| "—".into(), bytes)) }
                                }
                            }
                        }
                    }
                }
                @if let Some(note) = &t.memory_note { p class="dim" { (note) } }
                @for note in &m.unchecked { p class="dim" { (note) } }
            }
        }
    }
}

/// What grew while no request ran, when the route measured an idle control interval.
pub(super) fn idle(v: &RouteVerdict) -> Markup {
    html! {
        @if let Some(idle) = &v.idle {
            @let g = &idle.growth;
            p class={ "idle " @if idle.pass { "good" } @else { "bad" } } {
                "Idle control interval: " (format!("{:.1}", g.seconds)) " s with no requests, program data "
                (per_minute(g.bytes_per_minute))
                @if let Some(limit) = idle.limit { " (" code { "max_idle_growth" } " " (bytes(limit)) " per minute)" }
                @if idle.pass {
                    "; the route's requests are judged without it."
                } @else {
                    ": the target grows with time (its own " code { "(idle)" } " line)."
                }
                @for c in &g.classes {
                    br; code { (c.key) } " " (per_minute(c.bytes_per_minute))
                }
            }
        }
    }
}

fn per_minute(b: f64) -> String {
    let sign = if b < 0.0 { "-" } else { "+" };
    format!("{sign}{} per minute", bytes(b.abs().round() as u64))
}

/// The target's own line for growth with time (`(idle)`): no requests, no snapshots of its
/// own; its text says how fast and what grows.
pub(super) fn idle_line(t: &TargetReport, r: &RouteReport, id: &str) -> Markup {
    html! {
        section class="route fail idle-line" id=(id) aria-labelledby={ (id) "-h" } {
            h2 id={ (id) "-h" } {
                (super::badge(r.outcome)) " " (t.name) " › " (r.name)
            }
            p class="facts" { "Growth with time, measured with no requests: the target's, not a route's." }
            @if let Some(text) = &r.error { pre class="text" { (text) } }
        }
    }
}
