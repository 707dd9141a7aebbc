//! The HTML report: one self-contained file (no script, no font, no request of any kind, its
//! Content-Security-Policy forbids them) that opens from `file://` or a CI artifact, follows the
//! reader's light or dark theme and prints well. An overview of every route, then each route
//! with a chart of its heap at each snapshot against the load (and the peak sampled while it
//! ran), the leaking classes per snapshot with their fitted lines, what holds them with retainer
//! paths, budgets, the lock's diff and links to the kept snapshots.
//!
//! Everything from a snapshot or a spec (class names, property names, paths, stderr) is
//! untrusted text: maud escapes every value, and the page runs no script that it could reach.
//!
//! ```
//! use leakcheck::report::html::{HtmlOptions, render};
//! use leakcheck::model::{RunReport, RUN_FORMAT};
//! let report = RunReport { format: RUN_FORMAT, ..RunReport::default() };
//! let page = render(&report, &HtmlOptions::new("leakcheck run: leakspec.toml"));
//! assert!(page.starts_with("<!DOCTYPE html>"));
//! ```

mod causes;
mod chart;
mod file;
mod links;
mod memory;
mod route;

use maud::{DOCTYPE, Markup, PreEscaped, html};

pub use file::{PageError, run_title, write_page, write_run_page};

use super::lock::status_word;
use crate::format::{bytes, bytes_rate, plural, signed_bytes};
use crate::model::lock::Status as LockStatus;
use crate::model::{Outcome, RouteReport, RunReport, TargetReport};
use chart::sparkline;
pub use links::relative_link;

/// The page's style sheet, inlined into every report.
const STYLE: &str = include_str!("style.css");

/// The policy the page holds itself to: nothing is loaded and nothing runs; only its own inline
/// style applies. A value from a snapshot that got past the escaping still could not fetch or
/// execute anything.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

/// How to render a report.
#[derive(Clone, Debug)]
pub struct HtmlOptions {
    /// The page's heading and title, e.g. `leakcheck run: leakspec.toml`.
    pub title: String,
    /// The folder the page is written to (absolute): links to snapshot files are made relative
    /// to it. Without it, links are the paths as the report holds them.
    pub base: Option<std::path::PathBuf>,
    /// What one unit of load is called (`request`; `leakcheck diff --unit`).
    pub unit: String,
}

impl HtmlOptions {
    /// Options for a page titled `title`, with links as the report holds them, per request.
    pub fn new(title: impl Into<String>) -> HtmlOptions {
        HtmlOptions { title: title.into(), base: None, unit: "request".into() }
    }

    /// Links relative to the folder of `file`, the page being written (relative paths are
    /// taken from the current directory).
    pub fn written_to(mut self, file: &std::path::Path) -> HtmlOptions {
        let dir = file.parent().unwrap_or(std::path::Path::new(""));
        self.base = std::path::absolute(if dir.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            dir
        })
        .ok();
        self
    }
}

/// The report as one HTML document.
pub fn render(report: &RunReport, options: &HtmlOptions) -> String {
    let (pass, fail, error, skipped) = report.counts();
    let routes: usize = report.targets.iter().map(|t| t.routes.len()).sum();
    let lock_name = report.lock_name();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(POLICY);
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta name="generator" content={ "leakcheck " (env!("CARGO_PKG_VERSION")) };
                title { (options.title) " — " (report.counts_line()) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (options.title) }
                    p class="meta" {
                        (plural(report.targets.len() as u64, "target")) ", "
                        (plural(routes as u64, "route"))
                        @if !report.elapsed.is_zero() {
                            span class="time" { ", " (format!("{:.1}", report.elapsed.as_secs_f64())) " s" }
                        }
                    }
                    p class="counts" {
                        span class="badge pass" { (pass) " passed" }
                        " " span class={ "badge " @if fail > 0 { "fail" } @else { "none" } } { (fail) " failed" }
                        @if error > 0 { " " span class="badge error" { (error) " errors" } }
                        @if skipped > 0 { " " span class="badge skip" { (skipped) " skipped" } }
                    }
                    @if let Some(why) = &report.interrupted {
                        p class="interrupted" {
                            strong { "Interrupted: " } (why) "; the report holds what was measured until then."
                        }
                    }
                }
                main {
                    (overview(report, &lock_name, options))
                    @for (ti, t) in report.targets.iter().enumerate() {
                        @if let Some(err) = target_error(t) {
                            section class="route error" id={ "target-" (ti) } {
                                h2 { span class="badge error" { "ERROR" } " " (t.name) }
                                pre class="text" { (err) }
                                (stderr(t))
                            }
                        }
                        @for (ri, r) in t.routes.iter().enumerate() {
                            @if r.outcome != Outcome::Skipped || !r.rungs.is_empty() {
                                (route::section(report, t, r, &route_id(ti, ri), options))
                            }
                        }
                    }
                }
                footer {
                    "Written by leakcheck " (env!("CARGO_PKG_VERSION")) " from a "
                    code { (report.format) } " report"
                    @if !report.spec.as_os_str().is_empty() {
                        " of " code { (report.spec.display()) }
                    }
                    ". Heap snapshots open in Chrome DevTools (Memory → Load); "
                    code { "leakcheck report RUN.json --html FILE" } " renders a saved report again."
                }
            }
        }
    };
    page.into_string()
}

/// The error of a target that could not be measured at all, when none of its routes ran.
fn target_error(t: &TargetReport) -> Option<&str> {
    let err = t.error.as_deref()?;
    t.routes.iter().all(|r| r.outcome == Outcome::Skipped).then_some(err)
}

fn route_id(ti: usize, ri: usize) -> String {
    format!("route-{ti}-{ri}")
}

/// The target's exit and the tail of its stderr, collapsed.
fn stderr(t: &TargetReport) -> Markup {
    html! {
        @if let Some(exit) = &t.exit { p { "The target " (exit) "." } }
        @if let Some(tail) = &t.stderr_tail {
            details class="stderr" {
                summary { "stderr of " (t.name) " (last lines)" }
                pre { (tail) }
            }
        }
    }
}

fn outcome_word(o: Outcome) -> (&'static str, &'static str) {
    match o {
        Outcome::Pass => ("PASS", "pass"),
        Outcome::Fail => ("FAIL", "fail"),
        Outcome::Error => ("ERROR", "error"),
        Outcome::Skipped => ("SKIP", "skip"),
    }
}

/// The badge of a route's outcome.
fn badge(o: Outcome) -> Markup {
    let (word, class) = outcome_word(o);
    html! { span class={ "badge " (class) } { (word) } }
}

/// A route's growth per request in words, as the overview says it.
fn growth(r: &RouteReport, unit: &str) -> String {
    match &r.verdict {
        Some(v) if v.bytes_per_request > 0.0 => {
            format!("+{}/{unit}", bytes_rate(v.bytes_per_request))
        }
        Some(_) => "no linear growth".into(),
        None => "—".into(),
    }
}

fn lock_cell(r: &RouteReport) -> Markup {
    match r.verdict.as_ref().and_then(|v| v.lock.as_ref()) {
        None => html! { span class="dim" { "—" } },
        Some(l) => {
            let class = match l.status {
                LockStatus::Regressed => Some("bad"),
                LockStatus::Improved => Some("good"),
                _ => None,
            };
            html! { span class=[class] { (status_word(l.status)) } }
        }
    }
}

/// The table of every route: verdict, growth, heap, peak, what the lock says.
fn overview(report: &RunReport, lock_name: &str, options: &HtmlOptions) -> Markup {
    html! {
        section class="overview" {
            h2 { "Routes" }
            table {
                thead {
                    tr {
                        th scope="col" { "Route" }
                        th scope="col" { "Verdict" }
                        th scope="col" class="num" { "Growth per " (options.unit) }
                        th scope="col" class="num" { "Detection limit" }
                        th scope="col" { "Heap, baseline → last snapshot" }
                        th scope="col" class="num" { "Peak under load" }
                        th scope="col" { (lock_name) }
                    }
                }
                tbody {
                    @for (ti, t) in report.targets.iter().enumerate() {
                        @if let Some(err) = target_error(t) {
                            tr class="error" {
                                th scope="row" { a href={ "#target-" (ti) } { (t.name) } }
                                td { (badge(Outcome::Error)) }
                                td colspan="5" { (err.lines().next().unwrap_or("")) }
                            }
                        }
                        @for (ri, r) in t.routes.iter().enumerate() {
                            tr class=(outcome_word(r.outcome).1) {
                                th scope="row" {
                                    @if r.outcome != Outcome::Skipped || !r.rungs.is_empty() {
                                        a href={ "#" (route_id(ti, ri)) } { (t.name) " › " (r.name) }
                                    } @else {
                                        (t.name) " › " (r.name)
                                    }
                                }
                                td { (badge(r.outcome)) }
                                @match (&r.verdict, r.outcome) {
                                    (Some(v), _) => {
                                        td class="num" { (growth(r, &options.unit)) }
                                        td class="num" { (memory::detection_cell(v, &options.unit)) }
                                        td {
                                            (sparkline(&r.rungs.iter().map(|g| g.heap_used).collect::<Vec<_>>()))
                                            " " (bytes(v.heap.0)) " → " (bytes(v.heap.1))
                                            " " span class="dim" { "(" (signed_bytes(v.heap.1 as i64 - v.heap.0 as i64)) ")" }
                                        }
                                        td class="num" { (peak_text(r)) }
                                        td { (lock_cell(r)) }
                                    }
                                    (None, _) => {
                                        td colspan="5" class="dim" {
                                            (r.error.as_deref().and_then(|e| e.lines().next()).unwrap_or("not run"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The highest heap sampled while the route's load (or its burst) ran.
fn peak_text(r: &RouteReport) -> String {
    let peak = match (r.peak_heap, r.burst) {
        (Some(p), Some(b)) => Some(p.max(b.peak_heap)),
        (p, b) => p.or(b.map(|b| b.peak_heap)),
    };
    peak.map_or_else(|| "—".into(), bytes)
}

#[cfg(test)]
mod tests;
