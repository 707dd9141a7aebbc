//! A failed route of `leakcheck run` in words: each leak with what holds it and one retainer
//! path, growing holders, budgets broken, the projection to the memory limit, load problems,
//! and errors with the tail of the target's stderr. The terminal report, the JUnit failure
//! texts and the test harness all use it.

use crate::format::{bytes, bytes_rate, count_rate, plural, printable, signed_bytes, thousands};
use crate::model::verdict::{Failure, Leak};
use crate::model::{RouteReport, TargetReport};
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
        for leak in &v.leaks {
            out += &leak_text(leak, paint, r.unit());
        }
        for h in &v.holders {
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
                    "  at {} per request this {} reaches {} after about {} requests{}\n",
                    bytes_rate(p.bytes_per_request),
                    t.runtime.instance(),
                    bytes(p.limit),
                    thousands(n),
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
            out += &format!(
                "    step `{}`: {} of {} succeeded\n",
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
