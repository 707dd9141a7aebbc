//! GitHub Actions: `::error` / `::warning` workflow commands that annotate the spec line of each
//! route (shown on the run's page and in pull-request diffs), and a Markdown summary for
//! `$GITHUB_STEP_SUMMARY` (a table of routes, then each failure explained).
//!
//! Messages and properties are escaped as `@actions/core` does (`toCommandValue`,
//! `escapeData`, `escapeProperty`): `%`, CR and LF everywhere, and `:` and `,` in properties.
//!
//! ```
//! use leakcheck::report::github::{escape_data, escape_property};
//! assert_eq!(escape_data("100% of\nrequests"), "100%25 of%0Arequests");
//! assert_eq!(escape_property("api › chat: {id, prompt}"), "api › chat%3A {id%2C prompt}");
//! ```

use super::lock::status_word;
use super::run::failure_message;
use crate::format::{bytes_rate, plural, signed_bytes, thousands};
use crate::model::lock::{LockCheck, Status};
use crate::model::{Outcome, RouteReport, RunReport, TargetReport};
use crate::plan::Plan;
use crate::style::Paint;

/// Escapes a message (the text after `::`).
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a property value (`file=`, `title=` ...).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One workflow command: `::LEVEL file=F,line=L,col=C,title=T::MESSAGE`.
fn command(
    level: &str,
    file: &str,
    at: Option<(usize, usize)>,
    title: &str,
    message: &str,
) -> String {
    let mut props = vec![format!("file={}", escape_property(file))];
    if let Some((line, col)) = at {
        props.push(format!("line={line}"));
        props.push(format!("col={col}"));
    }
    props.push(format!("title={}", escape_property(title)));
    format!("::{level} {}::{}\n", props.join(","), escape_data(message.trim_end()))
}

/// Where the plan puts a target's or a route's header: (line, column).
fn position(plan: &Plan, target: &str, route: Option<&str>) -> Option<(usize, usize)> {
    let t = plan.targets.iter().find(|t| t.name == target)?;
    match route {
        None => Some((t.line, t.column)),
        Some(route) => t.routes.iter().find(|r| r.name == route).map(|r| (r.line, r.column)),
    }
}

/// The lines an annotation shows of a long explanation.
const MESSAGE_LINES: usize = 12;

fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    // Reports indent by two: drop that, keep the rest (tables stay aligned).
    let mut out = lines
        .iter()
        .take(n)
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    if lines.len() > n {
        out += &format!(
            "\n… {} more in the job log and the step summary",
            plural((lines.len() - n) as u64, "line")
        );
    }
    out
}

/// The workflow commands for a run: an `::error` per failing or erroring route (and per target
/// that could not start), a `::warning` per route the lock reports improved or not recorded.
/// `file` is the spec as the workspace names it.
pub fn annotations(report: &RunReport, plan: &Plan, file: &str) -> String {
    let mut out = String::new();
    for t in &report.targets {
        if let Some(error) = &t.error
            && t.routes.iter().all(|r| r.outcome == Outcome::Skipped)
        {
            let title = format!("leakcheck: {} could not be measured", t.name);
            out += &command("error", file, position(plan, &t.name, None), &title, error);
            continue;
        }
        for r in &t.routes {
            let at = position(plan, &t.name, Some(&r.name));
            let label = format!("{} › {}", t.name, r.name);
            let lock = r.verdict.as_ref().and_then(|v| v.lock.as_ref());
            match r.outcome {
                Outcome::Fail | Outcome::Error => {
                    let word =
                        if r.outcome == Outcome::Fail { "fails" } else { "could not be measured" };
                    let headline = failure_message(r).unwrap_or_default();
                    let detail = report.explain(t, r, Paint::PLAIN);
                    let detail = first_lines(&detail, MESSAGE_LINES);
                    // An error's explanation starts with the error itself.
                    let message = if detail.starts_with(&headline) {
                        detail
                    } else {
                        format!("{headline}\n{detail}")
                    };
                    out += &command(
                        "error",
                        file,
                        at,
                        &format!("leakcheck: {label} {word}"),
                        &message,
                    );
                }
                Outcome::Pass => {
                    if let Some(check) =
                        lock.filter(|c| matches!(c.status, Status::Improved | Status::NotRecorded))
                    {
                        let title = format!("leakcheck: {label} {}", status_word(check.status));
                        out += &command(
                            "warning",
                            file,
                            at,
                            &title,
                            &lock_advice(check, &report.lock_name()),
                        );
                    }
                }
                Outcome::Skipped => {}
            }
        }
    }
    out
}

/// An `::error` at the allocation site of each cause of a failing route, so that the pull
/// request shows the leak on the line of code that allocates it (for a timer or listener leak
/// no sampled site registered, at its callback's line instead). Sites are named relative to
/// `workspace` (the repository's checkout); sites outside it (a runtime's or a dependency's
/// code outside the checkout) get none.
pub fn site_annotations(report: &RunReport, workspace: &std::path::Path) -> String {
    let mut out = String::new();
    for t in &report.targets {
        for r in t.routes.iter().filter(|r| r.outcome == Outcome::Fail) {
            for c in &r.causes {
                // A timer or listener no sampled site registered: at its callback's code.
                if let Some(f) = super::explain::headline_callback(c, r.verdict.as_ref())
                    && let Ok(file) = std::path::Path::new(&f.file).strip_prefix(workspace)
                {
                    let message = format!(
                        "{} › {} leaks +{} per {}: {}.",
                        t.name,
                        r.name,
                        bytes_rate(c.bytes_per_request),
                        r.unit(),
                        super::explain::cause_headline(c, r.verdict.as_ref())
                    );
                    out += &command(
                        "error",
                        &file.display().to_string(),
                        Some((f.line as usize, f.column as usize)),
                        &format!("leakcheck: {} › {} leaks through this callback", t.name, r.name),
                        &message,
                    );
                }
                for s in c.sites.iter().take(SITES_ANNOTATED) {
                    let Ok(file) = std::path::Path::new(&s.site.file).strip_prefix(workspace)
                    else {
                        continue;
                    };
                    let who = match (&c.culprit, &c.holder) {
                        // Timers and listeners: who registered them, into what.
                        _ if super::explain::held_by_runtime_list(c, r.verdict.as_ref()) => {
                            super::explain::cause_headline(c, r.verdict.as_ref())
                        }
                        (Some(culprit), _) => format!("held by `{culprit}`"),
                        (None, Some(holder)) => format!("held by {holder}"),
                        (None, None) => "held by nothing reachable from the roots".into(),
                    };
                    let message = format!(
                        "{} › {} leaks +{} per {}, {who}.\n{}",
                        t.name,
                        r.name,
                        bytes_rate(c.bytes_per_request),
                        r.unit(),
                        super::explain::site_text(s, r.unit())
                    );
                    out += &command(
                        "error",
                        &file.display().to_string(),
                        Some((s.site.line as usize, s.site.column as usize)),
                        &format!("leakcheck: {} › {} leaks objects allocated here", t.name, r.name),
                        &message,
                    );
                }
            }
        }
    }
    out
}

/// Allocation sites annotated per cause.
const SITES_ANNOTATED: usize = 2;

fn lock_advice(check: &LockCheck, lock: &str) -> String {
    match check.status {
        Status::Improved => format!(
            "{} against {lock}. Run `leakcheck run --bless` and commit {lock} to keep the gain.",
            check.summary()
        ),
        _ => format!(
            "{lock} has no figures for this route. Run `leakcheck run --record` and commit {lock}."
        ),
    }
}

/// A table cell: pipes escaped, line breaks flattened.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

fn verdict_cell(r: &RouteReport) -> &'static str {
    match r.outcome {
        Outcome::Pass => "✅ pass",
        Outcome::Fail => "❌ **FAIL**",
        Outcome::Error => "❌ **ERROR**",
        Outcome::Skipped => "⏭️ skipped",
    }
}

/// A fenced block that no line of `text` can close early.
fn fenced(text: &str) -> String {
    let mut fence = "```".to_owned();
    while text.contains(&fence) {
        fence.push('`');
    }
    format!("{fence}text\n{}\n{fence}\n", text.trim_end())
}

/// The Markdown summary: counts, a table of every route (target, route, verdict, growth per
/// request, heap growth, lock), then each failure with its explanation and retainer paths in a
/// `<details>` block.
pub fn step_summary(report: &RunReport) -> String {
    let (_, fail, error, _) = report.counts();
    let icon = if fail + error > 0 { "❌" } else { "✅" };
    let mut out = format!("## {icon} leakcheck: {}\n\n", report.counts_line());
    out += &format!("Spec `{}`", report.spec.display());
    let locked = report
        .targets
        .iter()
        .flat_map(|t| &t.routes)
        .any(|r| r.verdict.as_ref().is_some_and(|v| v.lock.is_some()));
    if locked {
        out += &format!(", recorded figures `{}`", report.lock_name());
    }
    if let Some(why) = &report.interrupted {
        out += &format!(". **Interrupted** ({why}): the table holds what was measured until then");
    }
    out += ".\n\n";
    out += "| target | route | verdict | growth per request | detection limit | heap growth | recorded figures |\n";
    out += "|---|---|---|---:|---:|---:|---|\n";
    for t in &report.targets {
        if t.routes.is_empty() {
            out += &format!("| {} | — | ❌ **ERROR** | | | | |\n", cell(&t.name));
        }
        for r in &t.routes {
            let traffic =
                super::run::traffic_failure(r).and_then(|f| super::run::traffic_counts(r, f));
            // Failed traffic measured nothing, so it has no detection limit either.
            let limit = match (&r.verdict, &traffic) {
                (Some(v), None) => {
                    format!("{}/request", bytes_rate(v.detection_limit.bytes_per_request))
                }
                _ => String::new(),
            };
            let (growth, heap) = match &r.verdict {
                // Bad traffic measured nothing: its counts stand where the growth would.
                Some(v) if let Some(counts) = traffic => (
                    counts,
                    match r.rungs.is_empty() {
                        true => String::new(),
                        false => signed_bytes(v.heap.1 as i64 - v.heap.0 as i64),
                    },
                ),
                Some(v) => (
                    if v.bytes_per_request > 0.0 {
                        format!("+{}", bytes_rate(v.bytes_per_request))
                    } else {
                        "none".to_owned()
                    },
                    format!(
                        "{} over {} requests",
                        signed_bytes(v.heap.1 as i64 - v.heap.0 as i64),
                        thousands(r.requests())
                    ),
                ),
                None => (String::new(), String::new()),
            };
            let lock = r
                .verdict
                .as_ref()
                .and_then(|v| v.lock.as_ref())
                .map_or("", |c| status_word(c.status));
            out += &format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                cell(&t.name),
                cell(&r.name),
                verdict_cell(r),
                growth,
                limit,
                heap,
                lock
            );
        }
    }
    for t in &report.targets {
        out += &target_failures(report, t);
    }
    out
}

fn target_failures(report: &RunReport, t: &TargetReport) -> String {
    let mut out = String::new();
    if let Some(error) = &t.error
        && t.routes.iter().all(|r| r.outcome == Outcome::Skipped)
    {
        out += &format!("\n### ❌ {} could not be measured\n\n", t.name);
        let mut text = error.clone();
        if let Some(tail) = &t.stderr_tail {
            text += &format!("\n\nstderr (last lines):\n{tail}");
        }
        out += &fenced(&text);
    }
    for r in t.routes.iter().filter(|r| matches!(r.outcome, Outcome::Fail | Outcome::Error)) {
        let word = if r.outcome == Outcome::Fail { "FAIL" } else { "ERROR" };
        out += &format!("\n### ❌ {word} {} › {} (`{} {}`)\n\n", t.name, r.name, r.method, r.path);
        if let Some(message) = failure_message(r) {
            out += &format!("{}\n\n", message.trim_end());
        }
        out += "<details><summary>Explanation and retainer paths</summary>\n\n";
        out += &fenced(&report.explain(t, r, Paint::PLAIN));
        out += "\n</details>\n";
    }
    out
}

/// The step summary's line on the HTML report (`--html FILE`): where the page is and, when the
/// run's page is known (`$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID`), a
/// link to the run's artifacts, where the workflow uploads it (`ci/leakcheck.yml`).
///
/// ```
/// use leakcheck::report::github::html_note;
/// let note = html_note("leakcheck.html", Some("https://github.com/o/r/actions/runs/7"));
/// assert_eq!(note, "\nThe HTML report, with a chart of the heap of every route, is `leakcheck.html` in [this run's artifacts](https://github.com/o/r/actions/runs/7#artifacts).\n\n");
/// ```
pub fn html_note(file: &str, run_url: Option<&str>) -> String {
    let what = "The HTML report, with a chart of the heap of every route, is";
    match run_url {
        Some(url) => format!(
            "\n{what} `{}` in [this run's artifacts]({url}#artifacts).\n\n",
            file.replace('`', "'")
        ),
        None => format!("\n{what} `{}`.\n\n", file.replace('`', "'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::run::tests::report;

    fn plan() -> Plan {
        let spec = crate::leakspec::Spec::parse(
            r#"[[target]]
name = "ai-proxy"
command = ["node", "server.js"]

[[target.route]]
name = "chat"
path = "/api/chat"

[[target.route]]
name = "chat-fixed"
path = "/api/chat-fixed"

[[target]]
name = "crashy"
command = ["node", "crashy.js"]

[[target.route]]
name = "boom"
path = "/boom"

[[target.route]]
name = "after"
path = "/after"

[[target]]
name = "sleepy"
command = ["node", "sleepy.js"]

  [[target.route]]
  name = "nap"
  path = "/"
"#,
            std::path::Path::new("leakspec.toml"),
        )
        .unwrap();
        crate::plan::plan(&spec, &Default::default()).unwrap()
    }

    #[test]
    fn escaping_follows_actions_core() {
        assert_eq!(escape_data("a%b\r\nc"), "a%25b%0D%0Ac");
        assert_eq!(escape_property("x:y,z%\n"), "x%3Ay%2Cz%25%0A");
        let line = command("error", "ci/leak spec.toml", Some((3, 1)), "t › r: a, b", "50%\nnext");
        assert_eq!(
            line,
            "::error file=ci/leak spec.toml,line=3,col=1,title=t › r%3A a%2C b::50%25%0Anext\n"
        );
    }

    #[test]
    fn annotations() {
        insta::assert_snapshot!(super::annotations(&report(), &plan(), "services/leakspec.toml"));
    }

    #[test]
    fn step_summary() {
        insta::assert_snapshot!(super::step_summary(&report()));
    }
}

#[cfg(test)]
mod site_tests {
    use super::*;
    use crate::analysis::allocations::{AllocationSite, CodeLocation};
    use crate::model::TargetReport;
    use crate::model::causes::Cause;

    fn site(file: &str, line: u32) -> AllocationSite {
        AllocationSite {
            site: CodeLocation {
                function: "recordPriceChange".into(),
                file: file.into(),
                line,
                column: 17,
                generated: None,
            },
            library: None,
            via: None,
            registers: Vec::new(),
            stack: Vec::new(),
            objects: 600.0,
            bytes: 285_000.0,
            objects_per_request: 1.0,
            bytes_per_request: 475.0,
            share: 0.82,
            samples: 300,
        }
    }

    #[test]
    fn failing_routes_are_annotated_at_their_allocation_sites_inside_the_workspace() {
        let mut route = RouteReport::skipped("reprice", "POST", "/api/prices/1", "");
        route.outcome = Outcome::Fail;
        route.causes = vec![Cause {
            culprit: Some("priceHistory".into()),
            holder: Some("Array @7".into()),
            bytes_per_request: 458.0,
            share: 1.0,
            classes: Vec::new(),
            hint: None,
            callback: None,
            path: None,
            sites: vec![site("/ws/src/audit.ts", 14), site("/usr/lib/node/x.js", 3)],
        }];
        let report = RunReport {
            targets: vec![TargetReport {
                name: "ts-api".into(),
                routes: vec![route],
                ..TargetReport::default()
            }],
            ..RunReport::default()
        };
        let out = site_annotations(&report, std::path::Path::new("/ws"));
        assert_eq!(out.lines().count(), 1, "only the site inside the workspace: {out}");
        assert!(
            out.starts_with("::error file=src/audit.ts,line=14,col=17,title=leakcheck%3A ts-api › reprice leaks objects allocated here::ts-api › reprice leaks +458 B per request, held by `priceHistory`.%0Aallocated in recordPriceChange (/ws/src/audit.ts:14:17)"),
            "{out}"
        );
    }

    #[test]
    fn a_listener_leak_no_site_registered_is_annotated_at_its_callback() {
        use crate::analysis::{RetainerPath, RetainerStep};
        let step = RetainerStep::named;
        let mut route = RouteReport::skipped("wait", "GET", "/wait", "");
        route.outcome = Outcome::Fail;
        route.causes = vec![Cause {
            culprit: Some("topicBus".into()),
            holder: Some("Array @7".into()),
            bytes_per_request: 2048.0,
            share: 1.0,
            classes: Vec::new(),
            hint: Some("listeners for `message` added to a long-lived EventEmitter".into()),
            callback: Some(CodeLocation {
                function: "onMessage".into(),
                file: "/ws/hub.js".into(),
                line: 181,
                column: 21,
                generated: None,
            }),
            path: Some(RetainerPath {
                node_id: 9,
                reached: true,
                steps: vec![
                    step("element", "3", "Array", 7),
                    step("property", "message", "Object", 6),
                    step("property", "_events", "EventEmitter", 5),
                    step("context", "topicBus", "system / Context", 4),
                ],
                elided: 0,
                origin: None,
            }),
            sites: Vec::new(),
        }];
        let report = RunReport {
            targets: vec![TargetReport {
                name: "hub".into(),
                routes: vec![route],
                ..TargetReport::default()
            }],
            ..RunReport::default()
        };
        let out = site_annotations(&report, std::path::Path::new("/ws"));
        assert_eq!(
            out,
            "::error file=hub.js,line=181,col=21,title=leakcheck%3A hub › wait leaks through this callback::hub › wait leaks +2.0 KiB per request: listeners for `message` added to `topicBus` (EventEmitter @5), never removed; the listener is `onMessage` (/ws/hub.js:181:21).\n"
        );
        // Outside the workspace: no annotation.
        assert_eq!(site_annotations(&report, std::path::Path::new("/elsewhere")), "");
    }
}
