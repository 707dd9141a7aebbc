//! Tests of the HTML report: a snapshot of the page for the run report the text and JUnit
//! snapshots use, and proof that markup in every name a snapshot, a spec or a service can put
//! into a report comes out as text.

use std::path::PathBuf;

use super::*;
use crate::analysis::allocations::{
    AllocationReport, AllocationSite, CodeLocation, LibraryFrame, SiteSummary,
};
use crate::analysis::idle::{Idle, IdleClass};
use crate::analysis::paths::{RetainerPath, RetainerStep};
use crate::model::causes::{Cause, CauseClass};
use crate::model::verdict::IdleVerdict;
use crate::report::run::tests::report;

fn options() -> HtmlOptions {
    HtmlOptions {
        title: "leakcheck run: leakspec.toml".into(),
        base: Some(PathBuf::from("/ci/out")),
        unit: "request".into(),
    }
}

/// The page with what changes between machines and runs replaced: times (`<span
/// class="time">`), heap object ids (`@123`) and the style sheet (tested by the browser test,
/// not worth a snapshot of its own).
fn redacted(page: &str) -> String {
    let untimed: String = page
        .split("<span class=\"time\">")
        .enumerate()
        .map(|(i, part)| match i {
            0 => part.to_owned(),
            _ => format!("<span class=\"time\">[time]{}", &part[part.find("</span>").unwrap()..]),
        })
        .collect();
    let mut out = String::with_capacity(untimed.len());
    let mut chars = untimed.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '@' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push_str("[id]");
        }
    }
    let (start, end) = (out.find("<style>").unwrap(), out.find("</style>").unwrap());
    out.replace_range(start + "<style>".len()..end, "[style]");
    // One element per line, so that a change shows as a readable diff.
    out.replace("><", ">\n<")
}

fn place(function: &str, file: &str, line: u32) -> CodeLocation {
    CodeLocation { function: function.into(), file: file.into(), line, column: 9, generated: None }
}

/// The snapshot test's report, its failing route's snapshots kept under `/ci/snaps`, its leak
/// grouped into a cause with an allocation site (inside a library, with its stack), the route
/// with an idle control interval that grew, and the target's `(idle)` line for it.
fn report_with_snapshots() -> RunReport {
    let mut report = report();
    let t = &mut report.targets[0];
    let chat = &mut t.routes[0];
    for (i, rung) in chat.rungs.iter_mut().enumerate() {
        rung.kept = Some(PathBuf::from(format!("/ci/snaps/ai-proxy/chat/s{i}.heapsnapshot")));
    }
    let v = chat.verdict.as_mut().unwrap();
    let holder = v.leaks[0].holders[0].clone();
    let site = AllocationSite {
        site: place("enqueue", "/srv/app/jobs.js", 41),
        library: Some(LibraryFrame {
            package: "p-queue".into(),
            frame: place("add", "/srv/app/node_modules/p-queue/dist/index.js", 120),
        }),
        via: None,
        registers: Vec::new(),
        stack: vec![
            place("add", "/srv/app/node_modules/p-queue/dist/index.js", 120),
            place("enqueue", "/srv/app/jobs.js", 41),
            place("handleChat", "/srv/app/routes/chat.js", 17),
        ],
        objects: 200.0,
        bytes: 12_800.0,
        objects_per_request: 1.0,
        bytes_per_request: 64.0,
        share: 0.93,
        samples: 40,
    };
    chat.causes = vec![Cause {
        culprit: holder.culprit.clone(),
        holder: holder.holder.clone(),
        bytes_per_request: v.bytes_per_request,
        share: 1.0,
        classes: vec![CauseClass {
            class: v.leaks[0].class.clone(),
            objects_per_request: v.leaks[0].objects_per_request,
            bytes_per_request: v.leaks[0].bytes_per_request,
        }],
        hint: None,
        callback: None,
        path: holder.path.clone(),
        sites: vec![site.clone()],
    }];
    chat.allocations = Some(AllocationReport {
        mechanism: "sampling".into(),
        interval: Some(4096),
        requests: 200,
        summary: SiteSummary {
            samples: 43,
            bytes: 13_700.0,
            runtime_bytes: 900.0,
            sites: vec![site],
        },
        unavailable: None,
    });
    // The process's figures the runner fits: external memory grows with the array buffers.
    v.memory.external = Some(crate::analysis::growth::Fit {
        trend: crate::analysis::growth::Trend::Linear,
        per_step: 18_450.0,
        r_squared: 1.0,
        total: 7_380_000.0,
    });
    v.idle = Some(IdleVerdict {
        pass: false,
        limit: None,
        growth: Idle {
            seconds: 5.0,
            program_bytes: 2_048,
            bytes_per_minute: 24_576.0,
            grows: true,
            classes: vec![IdleClass {
                key: "Timeout".into(),
                objects_per_minute: 120.0,
                bytes_per_minute: 24_576.0,
            }],
            holders: Vec::new(),
        },
    });
    let line = crate::judge::budgets::idle_line(&t.routes).expect("the idle interval failed");
    t.routes.push(line);
    t.memory_note = None;
    report
}

#[test]
fn page() {
    let page = render(&report_with_snapshots(), &options());
    // Snapshot links relative to the page's folder.
    assert!(page.contains("href=\"../snaps/ai-proxy/chat/s2.heapsnapshot\""), "{page}");
    insta::assert_snapshot!(redacted(&page));
}

#[test]
fn the_page_is_the_same_on_every_render() {
    let report = report_with_snapshots();
    assert_eq!(render(&report, &options()), render(&report, &options()));
}

/// Every `<` of the page opens one of the page's own elements: nothing from the report made
/// an element of its own.
fn tags(page: &str) -> std::collections::BTreeSet<String> {
    page.match_indices('<')
        .map(|(i, _)| {
            let rest = &page[i + 1..];
            let end = rest.find(|c: char| c.is_whitespace() || c == '>').unwrap_or(rest.len());
            rest[..end].trim_start_matches('/').to_ascii_lowercase()
        })
        .collect()
}

const OWN_TAGS: &[&str] = &[
    "!doctype",
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "header",
    "h1",
    "h2",
    "h3",
    "h4",
    "p",
    "span",
    "strong",
    "main",
    "section",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "a",
    "svg",
    "polyline",
    "g",
    "line",
    "text",
    "circle",
    "desc",
    "figure",
    "figcaption",
    "article",
    "code",
    "details",
    "summary",
    "ol",
    "li",
    "ul",
    "pre",
    "div",
    "dl",
    "dt",
    "dd",
    "kbd",
    "em",
    "br",
    "footer",
];

#[test]
fn markup_in_names_is_text() {
    let evil = |what: &str| {
        format!(
            "<script>alert('{what}')</script><img src=x onerror=alert(1)>\" onmouseover=\"alert(2)"
        )
    };
    let mut report = report_with_snapshots();
    report.spec = PathBuf::from(evil("spec"));
    report.interrupted = Some(evil("interrupted"));
    let t = &mut report.targets[0];
    t.name = evil("target");
    t.stderr_tail = Some(evil("stderr"));
    t.exit = Some(evil("exit"));
    let r = &mut t.routes[0];
    r.name = evil("route");
    r.path = evil("path");
    r.error = Some(evil("error"));
    r.load.first_error = Some(evil("first error"));
    r.load.sent += 10;
    r.rungs[0].kept = Some(PathBuf::from(evil("file")));
    let v = r.verdict.as_mut().unwrap();
    v.unsure = vec![evil("unsure")];
    v.budget.ignore = vec![evil("ignore")];
    v.failures.push(crate::model::verdict::Failure::GrowingHolder {
        holder: evil("failure"),
        bytes_per_request: 3.0,
    });
    let leak = &mut v.leaks[0];
    leak.class = evil("class");
    let h = &mut leak.holders[0];
    h.culprit = Some(evil("culprit"));
    h.holder = Some(evil("holder"));
    h.hint = Some(evil("hint"));
    h.path = Some(RetainerPath {
        node_id: 1,
        reached: true,
        steps: vec![RetainerStep {
            edge_kind: "property",
            edge_name: evil("edge"),
            label: evil("label"),
            holder_class: evil("holder class"),
            holder_id: 7,
            repeat: 0,
        }],
        elided: 0,
        origin: Some(evil("origin")),
    });
    // A growing holder, as a report read back from JSON has it.
    v.holders.push(
        serde_json::from_value(serde_json::json!({
            "node": { "id": 9 }, "class": evil("holder-class"), "retained": [100, 5000, 9900],
            "fit": { "trend": "linear", "per_step": 49.0, "r_squared": 1.0, "total": 9800.0 },
            "largest_child": null, "path": null, "culprit": evil("holder-culprit"),
        }))
        .expect("a holder"),
    );
    v.memory.unchecked = vec![evil("unchecked")];
    if let Some(idle) = v.idle.as_mut() {
        idle.growth.classes[0].key = evil("idle class");
    }
    let evil_place = |what: &str| CodeLocation {
        function: evil(&format!("{what} function")),
        file: evil(&format!("{what} file")),
        line: 3,
        column: 1,
        generated: Some(evil(&format!("{what} generated"))),
    };
    let c = &mut r.causes[0];
    c.culprit = Some(evil("cause culprit"));
    c.holder = Some(evil("cause holder"));
    c.hint = Some(evil("cause hint"));
    c.classes[0].class = evil("cause class");
    c.path.as_mut().unwrap().steps[0].label = evil("cause label");
    let s = &mut c.sites[0];
    s.site = evil_place("site");
    s.via = Some(evil("via"));
    s.library = Some(LibraryFrame { package: evil("package"), frame: evil_place("library") });
    s.stack[2] = evil_place("stack");
    // A route without causes lists the allocation sites, and says why there are none.
    let mut loose = r.clone();
    loose.name = "loose".into();
    loose.causes.clear();
    loose.allocations.as_mut().unwrap().summary.sites[0].site = evil_place("loose");
    let mut none = loose.clone();
    none.name = "none".into();
    none.allocations.as_mut().unwrap().unavailable = Some(evil("unavailable"));
    t.memory_note = Some(evil("memory note"));
    t.routes.push(loose);
    t.routes.push(none);
    let v = t.routes[0].verdict.as_mut().unwrap();
    if let Some(lock) = v.lock.as_mut() {
        lock.tolerance = evil("tolerance");
        lock.figures[0].name = evil("figure");
    }
    report.targets[2].name = evil("sleepy");
    report.targets[2].error = Some(evil("never ready"));

    let page = render(&report, &HtmlOptions { title: evil("title"), ..options() });
    let foreign: Vec<String> =
        tags(&page).into_iter().filter(|t| !OWN_TAGS.contains(&t.as_str())).collect();
    assert!(foreign.is_empty(), "elements from the report's text: {foreign:?}");
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("onmouseover=\""), "an attribute from the report's text");
    // Shown, escaped, wherever they were.
    for what in [
        "spec",
        "interrupted",
        "target",
        "stderr",
        "exit",
        "route",
        "path",
        "error",
        "first error",
        "unsure",
        "ignore",
        "failure",
        "class",
        "culprit",
        "holder",
        "hint",
        "label",
        "holder class",
        "origin",
        "holder-class",
        "holder-culprit",
        "tolerance",
        "figure",
        "unchecked",
        "idle class",
        "cause culprit",
        "cause holder",
        "cause hint",
        "cause class",
        "cause label",
        "site function",
        "site file",
        "site generated",
        "via",
        "package",
        "library function",
        "library file",
        "stack function",
        "stack file",
        "loose function",
        "loose file",
        "unavailable",
        "memory note",
        "sleepy",
        "never ready",
        "title",
    ] {
        let shown = format!(
            "&lt;script&gt;alert('{what}')&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&quot; onmouseover=&quot;alert(2)"
        );
        assert!(page.contains(&shown), "{what} is not shown as text:\n{page}");
    }
    // A file name is a link, percent-encoded and relative: never a scheme, never markup.
    let file = "%3Cscript%3Ealert(%27file%27)%3C/script%3E%3Cimg%20src=x%20onerror=alert(1)%3E%22%20onmouseover=%22alert(2)\"";
    assert!(page.contains(file), "{page}");
}

/// Traffic that failed measured nothing: no detection limit is stated for it, on the overview
/// or in its section; the other routes keep theirs.
#[test]
fn failed_traffic_states_no_detection_limit() {
    let mut report = report();
    let v = report.targets[0].routes[0].verdict.as_mut().unwrap();
    v.failures = vec![crate::model::verdict::Failure::FailedRequests {
        failed: 40,
        sent: 40,
        statuses: [(500, 40)].into(),
        timeouts: 0,
        other: 0,
        allowed: 0,
        first_error: Some("status 500".into()),
    }];
    let page = render(&report, &options());
    assert_eq!(page.matches("<p class=\"limit\">").count(), 1, "only chat-fixed's");
    assert!(page.contains("<td class=\"num\">≥ 82 B/request</td>"), "{page}");
    assert!(!page.contains("≥ 90 B/request"), "{page}");
}
