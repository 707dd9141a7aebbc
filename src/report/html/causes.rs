//! A failing route's causes in the HTML report: what holds the growth, its share, where it was
//! allocated (`function (file:line)`, with the stack collapsed), one retainer path in
//! `<details>`, and the classes it accumulates linked to their charts; the allocation sites of
//! a route without causes, and why there are none when the runtime could not record them.

use maud::{Markup, html};

use super::route::retainer_path;
use crate::analysis::allocations::{AllocationSite, CodeLocation};
use crate::format::{bytes_rate, count_rate, plural};
use crate::model::causes::Cause;
use crate::model::verdict::RouteVerdict;
use crate::model::{Outcome, RouteReport};
use crate::report::explain::display_file;

/// The route's causes, largest share first; or, without causes, the allocation sites of what
/// survived its load; or why the runtime gave none.
pub(super) fn causes(r: &RouteReport, v: &RouteVerdict, id: &str, unit: &str) -> Markup {
    let allocations = r.allocations.as_ref();
    let unavailable = allocations.and_then(|a| a.unavailable.as_deref());
    let loose_sites: &[AllocationSite] = match allocations {
        Some(a) if r.causes.is_empty() && r.outcome == Outcome::Fail => &a.summary.sites,
        _ => &[],
    };
    html! {
        @if !r.causes.is_empty() {
            h3 { "Causes" }
            @for (n, c) in r.causes.iter().enumerate() {
                (cause(c, n, r.causes.len(), v, id, unit))
            }
        }
        @if !loose_sites.is_empty() {
            div class="sites" {
                h3 { "Allocation sites of what survived the load" }
                (sites(loose_sites, unit))
            }
        }
        @if let (Some(why), Outcome::Fail) = (unavailable, r.outcome) {
            p class="dim" { "Allocation sites: none (" (why) ")." }
        }
    }
}

/// One cause: who holds it, its share, its allocation sites, a retainer path, its classes.
fn cause(c: &Cause, n: usize, of: usize, v: &RouteVerdict, id: &str, unit: &str) -> Markup {
    html! {
        article class="cause" id={ (id) "-cause-" (n) } {
            h4 {
                span class="tag" { "CAUSE" @if of > 1 { " " (n + 1) " of " (of) } } " "
                @if crate::report::explain::held_by_runtime_list(c, Some(v)) {
                    // Timers and listeners: who registered them, into what.
                    (crate::report::explain::cause_headline(c, Some(v)))
                } @else {
                @match (&c.culprit, &c.holder) {
                    (Some(culprit), Some(holder)) => { code class="culprit" { (culprit) } " (" (holder) ")" }
                    (None, Some(holder)) => { (holder) }
                    (Some(culprit), None) => { code class="culprit" { (culprit) } }
                    (None, None) => {
                        @match c.sites.first() {
                            Some(s) => { "objects from " (location(&s.site)) }
                            None => { "objects not reachable from the roots" }
                        }
                    }
                }
                }
            }
            p {
                "+" (bytes_rate(c.bytes_per_request)) " per " (unit) ", "
                (format!("{:.0}", c.share * 100.0)) "% of the route's growth"
            }
            @if let Some(hint) = &c.hint { p { "Looks like: " (hint) } }
            @if !c.sites.is_empty() {
                p class="sites-head" { "Allocated in:" }
                (sites(&c.sites, unit))
            }
            @if let Some(path) = &c.path {
                details class="holder" open[n == 0] {
                    summary { "Retainer path (" (plural(path.steps.len() as u64, "step")) ")" }
                    (retainer_path(path))
                }
            }
            @if !c.classes.is_empty() {
                p class="cause-classes" {
                    "Classes it accumulates: "
                    @for (i, class) in c.classes.iter().enumerate() {
                        @if i > 0 { ", " }
                        @match v.leaks.iter().position(|l| l.class == class.class) {
                            Some(at) => { a href={ "#" (id) "-leak-" (at) } { code { (class.class) } } }
                            None => { code { (class.class) } }
                        }
                        " +" (bytes_rate(class.bytes_per_request))
                        @if class.objects_per_request > 0.0 {
                            " (" (count_rate(class.objects_per_request)) " obj.)"
                        }
                    }
                }
            }
        }
    }
}

/// `function (file:line)` of a place in the code.
fn location(l: &CodeLocation) -> Markup {
    html! { code class="site" { (l.function) } " (" (display_file(&l.file)) ":" (l.line) ")" }
}

/// Allocation sites, each with its estimate, the runtime call and library frame when there
/// are, and its stack collapsed.
fn sites(sites: &[AllocationSite], unit: &str) -> Markup {
    html! {
        ul class="sites" {
            @for s in sites {
                li {
                    (location(&s.site))
                    " — about " (bytes_rate(s.bytes_per_request)) " per " (unit) ", "
                    (format!("{:.0}", s.share * 100.0)) "% of the surviving bytes sampled"
                    @if s.samples < 10 { " " span class="dim" { "(" (plural(s.samples, "sample")) ": rough)" } }
                    @if let Some(via) = &s.via { ", through " code { (via) } }
                    @if let Some(lib) = &s.library {
                        br; "inside " code { (lib.package) } ": " (location(&lib.frame))
                    }
                    @if let Some(generated) = &s.site.generated {
                        br; span class="dim" { "generated code: " (generated) }
                    }
                    @if s.stack.len() > 1 {
                        details class="stack" {
                            summary { "stack (" (plural(s.stack.len() as u64, "frame")) ")" }
                            ol class="path" {
                                @for frame in &s.stack {
                                    li { (location(frame)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
