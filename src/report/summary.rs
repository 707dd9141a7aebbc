//! The report of `leakcheck summary`: DevTools' Statistics totals, then the classes that
//! retain the most, as aligned text or versioned JSON.

use serde::Serialize;

use crate::analysis::HeapSummary;
use crate::format::{bytes, plural, thousands};
use crate::style::Paint;

/// Version of the JSON document; bumped on any incompatible change.
pub const SUMMARY_FORMAT: &str = "leakcheck-summary/1";

#[derive(Serialize)]
struct Document<'a> {
    format: &'static str,
    #[serde(flatten)]
    summary: &'a HeapSummary,
}

/// The JSON document: `{"format": "leakcheck-summary/1", "node_count", "edge_count",
/// "statistics": {...}, "class_count", "classes": [{"name", "count", "self_size",
/// "retained_size", "distance"}]}`.
pub fn to_json(summary: &HeapSummary) -> String {
    serde_json::to_string_pretty(&Document { format: SUMMARY_FORMAT, summary })
        .expect("summary serialises")
        + "\n"
}

/// The text report.
pub fn to_text(summary: &HeapSummary, paint: Paint) -> String {
    let s = &summary.statistics;
    let mut out = format!(
        "{} {}, {}, {} reachable from the roots\n\n",
        paint.bold("Heap:"),
        plural(summary.node_count, "node"),
        plural(summary.edge_count, "edge"),
        bytes(s.total)
    );
    // Typed arrays' backing stores are native memory: a line of their own inside `native`,
    // so the shares add up to 100%.
    let rows = [
        ("code", s.code),
        ("strings", s.strings),
        ("JS arrays", s.js_arrays),
        ("system", s.system),
        ("native", s.native),
        ("  typed arrays", s.typed_arrays),
        ("other", s.total.saturating_sub(s.code + s.strings + s.js_arrays + s.system + s.native)),
    ];
    for (name, value) in rows {
        let share = if s.total > 0 { value as f64 * 100.0 / s.total as f64 } else { 0.0 };
        out += &format!("  {name:<15} {:>10}  {share:>5.1}%\n", bytes(value));
    }
    if s.unreachable > 0 {
        out +=
            &format!("  {:<13} {:>10}  (not counted above)\n", "unreachable", bytes(s.unreachable));
    }
    out.push('\n');
    let key_w =
        summary.classes.iter().map(|c| c.class.chars().count().min(50)).max().unwrap_or(5).max(5);
    out += &paint.bold(&format!(
        "Top {} of {} by retained size:\n",
        summary.classes.len(),
        plural(summary.class_count, "class")
    ));
    out += &paint.dim(&format!(
        "  {:<key_w$}  {:>10}  {:>12}  {:>12}  {:>8}\n",
        "class", "count", "shallow size", "retained", "distance"
    ));
    for c in &summary.classes {
        let shown = crate::format::printable(&c.class);
        let key: String = if shown.chars().count() > 50 {
            shown.chars().take(49).chain(['…']).collect()
        } else {
            shown.into_owned()
        };
        out += &format!(
            "  {key:<key_w$}  {:>10}  {:>12}  {:>12}  {:>8}\n",
            thousands(c.count),
            bytes(c.self_size),
            bytes(c.retained_size),
            c.distance.map_or_else(|| "-".to_owned(), |d| d.to_string())
        );
    }
    super::diff::trim_line_ends(&out)
}
