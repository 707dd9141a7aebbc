//! A failed route of `leakcheck run` in words: each leak with what holds it and one retainer
//! path, growing holders, budgets broken, the projection to the memory limit, load problems,
//! and errors with the tail of the target's stderr. The terminal report, the JUnit failure
//! texts and the test harness all use it.

use crate::analysis::allocations::{
    AllocationSite, is_listener_registration, is_timer_registration,
};
use crate::analysis::growth::{Fit, Trend};
use crate::format::{bytes, bytes_rate, count_rate, plural, printable, signed_bytes, thousands};
use crate::model::causes::Cause;
use crate::model::verdict::{Failure, Leak, RouteVerdict};
use crate::model::{RouteReport, Rung, TargetReport};
use crate::style::Paint;

/// The full explanation of a route: leaks with holders and paths, budgets, projection, load
/// problems, errors with the target's stderr.
pub(super) fn explain_route(r: &RouteReport, t: &TargetReport, paint: Paint) -> String {
    let mut out = String::new();
    if let Some(err) = &r.error {
        out += &format!("  {}\n", err.replace('\n', "\n  "));
        if let Some(exit) = &t.exit {
            out += &format!("  the target {exit}\n");
        }
        if let Some(tail) = &t.stderr_tail {
            out += &stderr_block(tail);
        }
    }
    if let Some(v) = &r.verdict {
        if r.causes.is_empty() {
            for leak in &v.leaks {
                out += &leak_text(leak, paint, r.unit());
            }
        } else {
            out += &causes_text(r, v, paint);
        }
        out += &sites_unavailable(r);
        for h in v.holders.iter().filter(|_| r.causes.is_empty()) {
            out += &format!(
                "  growing holder {}{} @{}: retains +{} per {}\n",
                h.culprit.as_ref().map_or(String::new(), |c| format!("`{}` ", printable(c))),
                printable(&h.class),
                h.node.id,
                bytes_rate(h.fit.per_step),
                r.unit()
            );
        }
        for f in &v.failures {
            match f {
                Failure::HeapGrowth { grew, limit } => {
                    out += &format!(
                        "  heap grew {} from the baseline, over the budget of {}\n",
                        bytes(*grew),
                        bytes(*limit)
                    );
                }
                Failure::PeakHeap { peak, limit, concurrency } => {
                    out += &format!(
                        "  the heap peaked at {} with {} in flight, over the budget of {}: memory held per request in flight, not a leak\n",
                        bytes(*peak),
                        plural(*concurrency as u64, "request"),
                        bytes(*limit)
                    );
                }
                Failure::ExternalGrowth { bytes_per_request, limit } => {
                    out += &format!(
                        "  external memory grows +{} per request, over the budget of {} (max_external_per_request)\n",
                        bytes_rate(*bytes_per_request),
                        bytes_rate(*limit)
                    );
                }
                Failure::RssGrowth { bytes_per_request, limit } => {
                    out += &format!(
                        "  RSS grows +{} per request, over the budget of {} (max_rss_growth)\n",
                        bytes_rate(*bytes_per_request),
                        bytes_rate(*limit)
                    );
                }
                Failure::SensitivityNotReached {
                    sensitivity,
                    detection_limit,
                    requests_per_rung,
                    unreachable_below,
                } => {
                    out += &format!(
                        "  {}: a leak that small could have slipped through, so this is no PASS\n",
                        super::run::sensitivity_text(
                            *sensitivity,
                            *detection_limit,
                            *requests_per_rung,
                            *unreachable_below,
                            r.unit(),
                        )
                    );
                }
                // Said with the load's failures below.
                Failure::FailedRequests { .. } => {}
                // Said with the projection below.
                Failure::ReachesLimit { .. } => {}
                _ => {}
            }
        }
        if let Some(p) = &v.projection {
            let allowed = v.failures.iter().find_map(|f| match f {
                Failure::ReachesLimit { allowed, .. } => Some(*allowed),
                _ => None,
            });
            out += &match p.requests {
                Some(n) => format!(
                    "  at {} per {} this {} reaches {} after about {}{}\n",
                    bytes_rate(p.bytes_per_request),
                    r.unit(),
                    t.runtime.instance(),
                    bytes(p.limit),
                    plural(n, r.unit()),
                    allowed.map_or(String::new(), |a| format!(
                        "; the budget asks for at least {}",
                        thousands(a)
                    ))
                ),
                None => format!(
                    "  nothing grows linearly: no projection to the {} limit\n",
                    bytes(p.limit)
                ),
            };
        }
        // A route stopped in its warm-up (its traffic failed) has no heap figure.
        if !r.rungs.is_empty() {
            out += &format!(
                "  heap {} → {} ({}) over {}",
                bytes(v.heap.0),
                bytes(v.heap.1),
                signed_bytes(v.heap.1 as i64 - v.heap.0 as i64),
                plural(r.requests(), r.unit())
            );
            if let Some(peak) = r.peak_heap {
                out += &format!(", peak {}", bytes(peak));
            }
            out.push('\n');
        }
        out += &memory_line(r, t);
        for note in &v.memory.unchecked {
            out += &format!("  {note}\n");
        }
        if !v.unsure.is_empty() {
            out +=
                &format!("  still growing unevenly after the last rung: {}\n", v.unsure.join(", "));
        }
    }
    if r.load.failed() > 0 {
        let load = &r.load;
        let other = load.transport_errors.saturating_sub(load.timeouts);
        out += &format!(
            "  {} of {} failed: {}\n",
            thousands(load.failed()),
            plural(load.sent, r.unit()),
            super::run::failure_kinds(&load.statuses, load.timeouts, other, r.unit())
        );
        if let Some(Failure::FailedRequests { allowed, .. }) = super::run::traffic_failure(r) {
            let tolerated = match allowed {
                0 => "none tolerated".to_owned(),
                n => format!("{} tolerated", thousands(*n)),
            };
            out += &format!(
                "    {tolerated} (`max_failed_requests`): traffic that fails measures nothing, so the route cannot pass\n"
            );
        }
        if let Some(e) = &r.load.first_error {
            out += &format!("    first error: {e}\n");
        }
        for step in r.load.steps.iter().filter(|s| s.ok < s.sent) {
            let timed_out = match step.timeouts {
                0 => String::new(),
                n => format!(" ({} timed out)", thousands(n)),
            };
            out += &format!(
                "    step `{}`: {} of {} succeeded{timed_out}\n",
                step.name,
                thousands(step.ok),
                thousands(step.sent)
            );
        }
        if let Some(command) = &r.load.command {
            out += &format!("    the load command {}: {}\n", command.exit, command.argv.join(" "));
            for line in command.output_tail.lines() {
                out += &format!("      | {line}\n");
            }
        }
    }
    let kept: Vec<String> =
        r.rungs.iter().filter_map(|g| g.kept.as_ref()).map(|p| p.display().to_string()).collect();
    if !kept.is_empty() {
        out +=
            &format!("  snapshots (open in Chrome DevTools → Memory → Load): {}\n", kept.join(" "));
    }
    out
}

/// The process's own memory at each rung: V8 heap used, array buffers, external memory and
/// RSS, with the growth per request of those that grow linearly, and the peaks under load; what
/// the runtime cannot give is said, not shown as zero.
fn memory_line(r: &RouteReport, t: &TargetReport) -> String {
    let Some(v) = &r.verdict else { return String::new() };
    let series = |get: &dyn Fn(&Rung) -> Option<u64>, fit: Option<&Fit>| -> Option<String> {
        let values: Option<Vec<u64>> = r.rungs.iter().map(get).collect();
        let values = values.filter(|v| !v.is_empty())?;
        let text: Vec<String> = values.iter().map(|&b| bytes(b)).collect();
        let mut out = text.join(" → ");
        if let Some(fit) = fit.filter(|f| f.trend == Trend::Linear) {
            out += &format!(" (+{} per {})", bytes_rate(fit.per_step), r.unit());
        }
        Some(out)
    };
    let m = &v.memory;
    let mut parts = Vec::new();
    if let Some(s) = series(&|g| Some(g.heap_used), None) {
        parts.push(format!("V8 heap {s}"));
    }
    if let Some(s) = series(&|g| g.array_buffers, m.array_buffers.as_ref()) {
        parts.push(format!("array buffers {s}"));
    }
    if let Some(s) = series(&|g| g.external, m.external.as_ref()) {
        parts.push(format!("external {s}"));
    }
    if let Some(s) = series(&|g| g.rss, m.rss.as_ref()) {
        parts.push(format!("RSS {s}"));
    }
    if parts.is_empty() {
        return String::new();
    }
    let mut out = format!("  process memory at each rung: {}", parts.join(", "));
    let peaks: Vec<String> = [("external", r.peak_external), ("RSS", r.peak_rss)]
        .iter()
        .filter_map(|(what, peak)| peak.map(|p| format!("{what} {}", bytes(p))))
        .collect();
    if !peaks.is_empty() {
        out += &format!("; peak during load: {}", peaks.join(", "));
    }
    out.push('\n');
    if let Some(note) = &t.memory_note {
        out += &format!("  ({note})\n");
    }
    out
}

/// The leaks grouped by root cause: a headline naming what holds the growth and its share,
/// where it was allocated, one retainer path, then the classes it accumulates.
fn causes_text(r: &RouteReport, v: &RouteVerdict, paint: Paint) -> String {
    let unit = r.unit();
    let mut out = String::new();
    let several = r.causes.len() > 1;
    for (n, c) in r.causes.iter().enumerate() {
        let which =
            if several { format!(" {} of {}", n + 1, r.causes.len()) } else { String::new() };
        out += &format!(
            "  {}{which}: {} — +{} per {unit}, {:.0}% of the growth\n",
            paint.red_bold("CAUSE"),
            printable(&cause_headline(c, Some(v))),
            bytes_rate(c.bytes_per_request),
            c.share * 100.0
        );
        for s in c.sites.iter().take(SITES_SHOWN) {
            out += &format!("    {}\n", site_text(s, unit));
        }
        let who = match (&c.culprit, &c.holder) {
            // The runtime's list holds it; the headline names the service's variable.
            (_, Some(holder)) if registration(c, Some(v)).is_some() => holder.clone(),
            (Some(culprit), Some(holder)) => format!("`{culprit}` ({holder})"),
            (None, Some(holder)) => holder.clone(),
            (Some(culprit), None) => format!("`{culprit}`"),
            (None, None) => "nothing reachable from the roots".into(),
        };
        out += &format!("    held by {}\n", printable(&who));
        if let Some(hint) = &c.hint {
            out += &format!("      looks like: {}\n", printable(hint));
        }
        if let Some(path) = &c.path {
            let mut short = path.clone();
            if short.steps.len() > 5 {
                short.elided += short.steps.len() - 5;
                short.steps.truncate(5);
            }
            out += &format!("      {short}\n");
        }
        for class in &c.classes {
            if let Some(leak) = v.leaks.iter().find(|l| l.class == class.class) {
                out += &format!("  {}", leak_line(leak, paint, unit));
            }
        }
        for h in v
            .holders
            .iter()
            .filter(|h| c.holder.as_deref() == Some(&format!("{} @{}", h.class, h.node.id)))
        {
            out += &format!(
                "    growing holder: retains +{} per {unit}\n",
                bytes_rate(h.fit.per_step)
            );
        }
    }
    out
}

/// Allocation sites shown per cause (the JSON report has up to five).
const SITES_SHOWN: usize = 3;

/// What a cause is called: the variable of the service that holds it; for timers and
/// listeners (held by the runtime's lists) the function that registered them and the
/// service's variable among what holds them (the emitter's, or the one the timer's callback
/// captured); else the code that allocates it, else its holder.
pub(super) fn cause_headline(c: &Cause, v: Option<&RouteVerdict>) -> String {
    match registration(c, v) {
        Some((Registered::Listeners { emitter, event }, s)) => {
            let on = match &c.culprit {
                Some(culprit) => format!("`{culprit}` ({emitter})"),
                None => emitter,
            };
            let event = event.map_or(String::new(), |e| format!(" for `{e}`"));
            return match s {
                Some(s) => format!(
                    "listeners{event} added to {on} with `{}` in `{}` ({}:{}), never removed",
                    registered_with(s, is_listener_registration),
                    s.site.function,
                    display_file(&s.site.file),
                    s.site.line,
                ),
                None => format!(
                    "listeners{event} added to {on}, never removed{}",
                    callback_text(c, "listener")
                ),
            };
        }
        Some((Registered::Timers, Some(s))) => {
            let held = match (&c.culprit, &c.holder) {
                (Some(culprit), _) => format!("their callbacks holding `{culprit}`"),
                (None, Some(holder)) => format!("held by the runtime's {holder}"),
                (None, None) => "held by the runtime".to_owned(),
            };
            return format!(
                "timers registered with `{}` in `{}` ({}:{}), never cleared, {held}",
                registered_with(s, is_timer_registration),
                s.site.function,
                display_file(&s.site.file),
                s.site.line,
            );
        }
        // No sampled site registered them: the callback, read from the snapshot, names the
        // code.
        Some((Registered::Timers, None)) if c.callback.is_some() => {
            let held = match &c.culprit {
                Some(culprit) => format!(", their callbacks holding `{culprit}`"),
                None => String::new(),
            };
            return format!("timers never cleared{held}{}", callback_text(c, "callback"));
        }
        _ => {}
    }
    if let Some(culprit) = &c.culprit {
        return match &c.holder {
            Some(holder) => format!("`{culprit}` ({holder})"),
            None => format!("`{culprit}`"),
        };
    }
    if let Some(s) = c.sites.first() {
        let what = match s.via.as_deref() {
            Some(via) if crate::analysis::allocations::is_registration(via) => {
                format!("callbacks registered with `{via}`")
            }
            _ => "objects".to_owned(),
        };
        return format!(
            "{what} from `{}` ({}:{}){}",
            s.site.function,
            display_file(&s.site.file),
            s.site.line,
            c.holder.as_ref().map_or(String::new(), |h| format!(", held by {h}"))
        );
    }
    c.holder.clone().unwrap_or_else(|| "objects not reachable from the roots".into())
}

/// `; the listener is `onMessage` (events-hub.js:181:21)`: the cause's callback as the
/// headline names it when no sampled site registered it; empty when it is not known.
fn callback_text(c: &Cause, what: &str) -> String {
    match &c.callback {
        Some(f) => format!(
            "; the {what} is `{}` ({}:{}:{})",
            f.function,
            display_file(&f.file),
            f.line,
            f.column
        ),
        None => String::new(),
    }
}

/// The callback a cause's headline names (a timer or listener leak no sampled site
/// registered), for an annotation at its line.
pub(super) fn headline_callback<'c>(
    c: &'c Cause,
    v: Option<&RouteVerdict>,
) -> Option<&'c crate::analysis::allocations::CodeLocation> {
    match registration(c, v) {
        Some((_, None)) => c.callback.as_ref(),
        _ => None,
    }
}

/// True when the runtime's list (a timer list, an emitter's listener table) holds the cause:
/// its headline then names who registered into it.
pub(super) fn held_by_runtime_list(c: &Cause, v: Option<&RouteVerdict>) -> bool {
    registration(c, v).is_some()
}

/// What a cause's retainer path runs through first: an emitter's listener table or a timer.
enum Registered {
    /// Listeners in the `_events` table of `emitter` (`EventEmitter @91997`), for `event`.
    Listeners { emitter: String, event: Option<String> },
    /// Timers on the runtime's timer list.
    Timers,
}

/// The runtime's list that holds a cause, read off its path and its holder's (the nearer to
/// the leaked object when both an emitter and a timer are on one), and the site that
/// registered into it.
fn registration<'c>(
    c: &'c Cause,
    v: Option<&RouteVerdict>,
) -> Option<(Registered, Option<&'c AllocationSite>)> {
    // The pattern is recognised near the leaked objects (`hint`): far up, every path of a
    // server runs through its own request listeners and timers.
    c.hint.as_ref()?;
    // A cause's path is cut after a few steps; its holder's starts at the holder.
    let holder_path = v.and_then(|v| {
        v.holders
            .iter()
            .find(|h| c.holder.as_deref() == Some(&format!("{} @{}", h.class, h.node.id)))
            .and_then(|h| h.path.as_ref())
    });
    let timers = c.holder.as_deref().is_some_and(|h| h.starts_with("TimersList "));
    let registered = [c.path.as_ref(), holder_path].into_iter().flatten().find_map(|path| {
        let timer = path
            .steps
            .iter()
            .position(|s| matches!(s.edge_name.as_str(), "_idleNext" | "_idlePrev" | "_onTimeout"));
        let events = path.steps.iter().position(|s| s.edge_name == "_events");
        match (events, timer) {
            (Some(e), t) if t.is_none_or(|t| e < t) && !timers => {
                let (emitter, event) = crate::analysis::listener_table(path)?;
                Some(Registered::Listeners { emitter, event })
            }
            (_, Some(_)) => Some(Registered::Timers),
            _ => None,
        }
    });
    let registered = registered.or(timers.then_some(Registered::Timers))?;
    let kind: fn(&str) -> bool = match registered {
        Registered::Listeners { .. } => is_listener_registration,
        Registered::Timers => is_timer_registration,
    };
    let site = c
        .sites
        .iter()
        .find(|s| s.via.as_deref().is_some_and(kind) || s.registers.iter().any(|r| kind(r)));
    Some((registered, site))
}

/// The runtime call of `kind` through which `s` registered.
fn registered_with(s: &AllocationSite, kind: fn(&str) -> bool) -> &str {
    s.via
        .as_deref()
        .filter(|v| kind(v))
        .or_else(|| s.registers.iter().map(String::as_str).find(|r| kind(r)))
        .unwrap_or_default()
}

/// One allocation site: the function, its file and line, how much of what survived it
/// allocated; the library frame and the runtime call when there are.
pub(super) fn site_text(s: &AllocationSite, unit: &str) -> String {
    let mut out = format!(
        "allocated in {} ({}:{}:{}) — about {} per {unit}, {:.0}% of the surviving bytes sampled",
        printable(&s.site.function),
        printable(&display_file(&s.site.file)),
        s.site.line,
        s.site.column,
        bytes_rate(s.bytes_per_request),
        s.share * 100.0
    );
    if let Some(via) = &s.via {
        out += &format!(", through `{}`", printable(via));
    }
    if let Some(lib) = &s.library {
        out += &format!(
            "\n      inside {}: {} ({}:{})",
            printable(&lib.package),
            printable(&lib.frame.function),
            printable(&display_file(&lib.frame.file)),
            lib.frame.line
        );
    }
    out
}

/// A file as people read it: relative to the current directory when under it.
pub(super) fn display_file(file: &str) -> String {
    let path = std::path::Path::new(file);
    match std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
    {
        Some(relative) => relative,
        None => file.to_owned(),
    }
}

/// Says so when the runtime gave no allocation stacks.
fn sites_unavailable(r: &RouteReport) -> String {
    match r.allocations.as_ref().and_then(|a| a.unavailable.as_ref()) {
        Some(why) if r.outcome == crate::model::Outcome::Fail => {
            format!("  allocation sites: none ({why})\n")
        }
        _ => String::new(),
    }
}

/// The one line of a leaking class.
fn leak_line(leak: &Leak, paint: Paint, unit: &str) -> String {
    let count = if leak.objects_per_request > 0.0 {
        let rate = count_rate(leak.objects_per_request);
        format!("+{rate} {} and ", if rate == "1" { "object" } else { "objects" })
    } else {
        String::new()
    };
    format!(
        "  {} {}: {count}+{} per {unit} ({} → {} objects, {} → {})\n",
        paint.red_bold("LEAK"),
        paint.bold(&printable(&leak.class)),
        bytes_rate(leak.bytes_per_request),
        thousands(leak.objects.0),
        thousands(leak.objects.1),
        bytes(leak.bytes.0),
        bytes(leak.bytes.1),
    )
}

fn leak_text(leak: &Leak, paint: Paint, unit: &str) -> String {
    let mut out = String::new();
    let count = if leak.objects_per_request > 0.0 {
        let rate = count_rate(leak.objects_per_request);
        format!("+{rate} {} and ", if rate == "1" { "object" } else { "objects" })
    } else {
        String::new()
    };
    out += &format!(
        "  {} {}: {count}+{} per {unit} ({} → {} objects, {} → {})\n",
        paint.red_bold("LEAK"),
        paint.bold(&printable(&leak.class)),
        bytes_rate(leak.bytes_per_request),
        thousands(leak.objects.0),
        thousands(leak.objects.1),
        bytes(leak.bytes.0),
        bytes(leak.bytes.1),
    );
    for h in &leak.holders {
        let who = match (&h.culprit, &h.holder) {
            (Some(c), Some(holder)) => format!("`{}` ({})", printable(c), printable(holder)),
            (None, Some(holder)) => printable(holder).into_owned(),
            (Some(c), None) => format!("`{}`", printable(c)),
            (None, None) => "nothing reachable from the roots".into(),
        };
        out +=
            &format!("    held by {who} — {}, {}\n", plural(h.objects, "object"), bytes(h.bytes));
        if let Some(hint) = &h.hint {
            out += &format!("      looks like: {}\n", printable(hint));
        }
        if let Some(path) = &h.path {
            let mut short = path.clone();
            if short.steps.len() > 5 {
                short.elided += short.steps.len() - 5;
                short.steps.truncate(5);
            }
            out += &format!("      {short}\n");
        }
    }
    out
}

pub(super) fn stderr_block(tail: &str) -> String {
    let lines: Vec<&str> = tail.lines().collect();
    let start = lines.len().saturating_sub(20);
    let mut out = String::from("  stderr (last lines):\n");
    for line in &lines[start..] {
        out += &format!("    | {line}\n");
    }
    out
}
