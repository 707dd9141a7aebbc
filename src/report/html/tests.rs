//! Tests of the HTML report: a snapshot of the page for the run report the text and JUnit
//! snapshots use, and proof that markup in every name a snapshot, a spec or a service can put
//! into a report comes out as text.

use std::path::PathBuf;

use super::*;
use crate::analysis::paths::{RetainerPath, RetainerStep};
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

/// The snapshot test's report, its failing route's snapshots kept under `/ci/snaps`.
fn report_with_snapshots() -> RunReport {
    let mut report = report();
    for (i, rung) in report.targets[0].routes[0].rungs.iter_mut().enumerate() {
        rung.kept = Some(PathBuf::from(format!("/ci/snaps/ai-proxy/chat/s{i}.heapsnapshot")));
    }
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
