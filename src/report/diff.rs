//! The report of `leakcheck diff`: what grew between snapshots of one process, whether it grows
//! linearly with load, who holds it, as aligned text for a person and as versioned JSON.

use serde::Serialize;

use crate::analysis::RetainerPath;
use crate::analysis::compare::{ClassGrowth, Comparison, Holder, is_runtime_class};
use crate::analysis::growth::Trend;
use crate::format::{bytes, bytes_rate, count_rate, plural, signed, signed_bytes, thousands};
use crate::style::Paint;

/// Version of the JSON document; bumped on any incompatible change.
pub const DIFF_FORMAT: &str = "leakcheck-diff/1";

/// The overall answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Something grows linearly with load.
    Leak,
    /// Something grows, but unevenly: more snapshots are needed to tell.
    Ambiguous,
    /// Nothing grows linearly.
    NoLeak,
}

/// A comparison with the options that shaped its verdict.
#[derive(Clone, Debug, Serialize)]
pub struct DiffReport {
    /// Always [`DIFF_FORMAT`].
    pub format: &'static str,
    /// The overall answer.
    pub verdict: Verdict,
    /// What one step of load is, for the rates ("request", or "step" when unknown).
    pub step_unit: String,
    /// Class keys left out of the verdict (`--ignore`).
    pub ignored: Vec<String>,
    /// The comparison itself.
    #[serde(flatten)]
    pub comparison: Comparison,
}

impl DiffReport {
    /// Builds the report and its verdict. `ignore` lists class keys never counted.
    pub fn new(mut comparison: Comparison, step_unit: &str, ignore: &[String]) -> DiffReport {
        let ignored = |c: &ClassGrowth| ignore.iter().any(|k| k == &c.key);
        // Keep every class that moved at all; the unchanged ones say nothing.
        comparison.classes.retain(|c| {
            c.counts.windows(2).any(|w| w[0] != w[1])
                || c.bytes.windows(2).any(|w| w[0] != w[1])
                || c.intervals.iter().any(|i| i.new > 0 || i.deleted > 0)
        });
        let leak = comparison.classes.iter().any(|c| !ignored(c) && c.trend() == Trend::Linear)
            || comparison.holders.iter().any(|h| h.fit.trend == Trend::Linear);
        // V8's code and metadata warming up unevenly is expected and says nothing about leaks.
        let ambiguous = comparison
            .classes
            .iter()
            .any(|c| !ignored(c) && c.trend() == Trend::Irregular && !is_runtime_class(&c.key));
        let verdict = if leak {
            Verdict::Leak
        } else if ambiguous {
            Verdict::Ambiguous
        } else {
            Verdict::NoLeak
        };
        DiffReport {
            format: DIFF_FORMAT,
            verdict,
            step_unit: step_unit.to_owned(),
            ignored: ignore.to_vec(),
            comparison,
        }
    }

    fn is_ignored(&self, class: &ClassGrowth) -> bool {
        self.ignored.iter().any(|k| k == &class.key)
    }

    /// Classes that grow linearly and count for the verdict, largest growth in bytes first.
    pub fn leaks(&self) -> Vec<&ClassGrowth> {
        let mut v: Vec<&ClassGrowth> = self
            .comparison
            .classes
            .iter()
            .filter(|c| !self.is_ignored(c) && c.trend() == Trend::Linear)
            .collect();
        v.sort_by(|a, b| b.bytes_fit.per_step.total_cmp(&a.bytes_fit.per_step));
        v
    }

    /// The JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises") + "\n"
    }

    /// The text report; `paint` decides about colour.
    pub fn to_text(&self, paint: Paint, top: usize) -> String {
        let mut out = String::new();
        let c = &self.comparison;
        let unit = &self.step_unit;
        let n = c.snapshots.len() as u64;
        let steps_apart = c.snapshots.get(1).map_or(0.0, |s| s.steps - c.snapshots[0].steps);
        out += &format!(
            "Compared {} of one process, {} apart\n\n",
            plural(n, "snapshot"),
            plural(steps_apart as u64, unit)
        );
        let label_w = c.snapshots.iter().map(|s| s.label.len()).max().unwrap_or(8).max(8);
        out += &paint.dim(&format!(
            "  {:<label_w$}  {:>10}  {:>10}  {:>11}\n",
            "snapshot", "nodes", "self size", "change"
        ));
        for (i, s) in c.snapshots.iter().enumerate() {
            let change = if i == 0 {
                String::new()
            } else {
                signed_bytes(s.bytes as i64 - c.snapshots[i - 1].bytes as i64)
            };
            out += &format!(
                "  {:<label_w$}  {:>10}  {:>10}  {:>11}\n",
                s.label,
                thousands(s.nodes as u64),
                bytes(s.bytes),
                change
            );
        }
        out.push('\n');

        let leaks = self.leaks();
        for class in &leaks {
            out += &self.leak_text(class, paint);
        }
        let holders: Vec<&Holder> =
            c.holders.iter().filter(|h| h.fit.trend == Trend::Linear).collect();
        if !holders.is_empty() {
            out += &paint.bold("Growing holders");
            out += " (persistent objects whose retained data grows with load):\n";
            for h in holders {
                out += &holder_text(h, unit);
            }
            out.push('\n');
        }
        let irregular = |runtime: bool| -> Vec<&str> {
            c.classes
                .iter()
                .filter(|c| !self.is_ignored(c) && c.trend() == Trend::Irregular)
                .filter(|c| is_runtime_class(&c.key) == runtime)
                .map(|c| c.key.as_str())
                .collect()
        };
        let list = |names: &[&str]| {
            let shown: Vec<&str> = names.iter().take(6).copied().collect();
            format!("{}{}", shown.join(", "), if names.len() > shown.len() { ", ..." } else { "" })
        };
        let unsure = irregular(false);
        if !unsure.is_empty() {
            out += &format!(
                "{} {} grew unevenly ({}): take more snapshots to tell warm-up from a leak.\n\n",
                paint.yellow("Unsure:"),
                plural(unsure.len() as u64, "class"),
                list(&unsure)
            );
        }
        let warming = irregular(true);
        if !warming.is_empty() {
            out += &format!(
                "V8's own code and metadata are still warming up ({}); not counted as a leak unless three intervals agree.\n\n",
                list(&warming)
            );
        }

        out += &self.class_table(top, paint);
        out.push('\n');
        out += &match self.verdict {
            Verdict::Leak => format!(
                "{} {} linearly with load\n",
                paint.red_bold("LEAK:"),
                if leaks.is_empty() {
                    "retained data grows".to_owned()
                } else {
                    format!("{} {}", plural(leaks.len() as u64, "class"), grow_verb(leaks.len()))
                }
            ),
            Verdict::Ambiguous => format!(
                "{} nothing grows linearly, but some classes grow unevenly: take more snapshots\n",
                paint.yellow("UNSURE:")
            ),
            Verdict::NoLeak => format!("{} nothing grows linearly with load\n", paint.green("OK:")),
        };
        trim_line_ends(&out)
    }

    fn leak_text(&self, class: &ClassGrowth, paint: Paint) -> String {
        let unit = &self.step_unit;
        let mut out = String::new();
        let first = class.counts[0];
        let last = *class.counts.last().unwrap_or(&0);
        let count_rate_text = if class.count_fit.trend == Trend::Linear {
            let rate = count_rate(class.count_fit.per_step);
            let word = if rate == "1" { "object" } else { "objects" };
            format!("+{rate} {word} and ")
        } else {
            String::new()
        };
        out += &format!(
            "{} {}: {}+{} per {unit}\n",
            paint.red_bold("LEAK"),
            paint.bold(&crate::format::printable(&class.key)),
            count_rate_text,
            bytes_rate(class.bytes_fit.per_step),
        );
        out += &format!(
            "  {} → {} objects, {} → {}",
            thousands(first),
            thousands(last),
            bytes(class.bytes[0]),
            bytes(*class.bytes.last().unwrap_or(&0))
        );
        // The last interval's objects have no later snapshot to survive into.
        let kept = &class.survivors[..class.survivors.len().saturating_sub(1)];
        match kept {
            [] => {}
            [one] => {
                out += &format!(
                    "; {} allocated in the first interval still alive at the end",
                    thousands(*one)
                )
            }
            many => {
                let list: Vec<String> = many.iter().map(|&s| thousands(s)).collect();
                out += &format!(
                    "; allocated in intervals 1-{} and still alive at the end: {}",
                    many.len(),
                    list.join(", ")
                );
            }
        }
        out.push('\n');
        for cluster in &class.clusters {
            let holder = match (&cluster.anchor, &cluster.culprit) {
                (Some(a), Some(name)) => format!(
                    "held by {} ({} @{})",
                    paint.bold(&format!("`{name}`")),
                    cluster.anchor_class.as_deref().unwrap_or("?"),
                    a.id
                ),
                (Some(a), None) => {
                    format!("held by {} @{}", cluster.anchor_class.as_deref().unwrap_or("?"), a.id)
                }
                (None, _) => "not reachable from the roots".to_owned(),
            };
            out += &format!(
                "  {} — {}, {}\n",
                holder,
                plural(cluster.objects, "object"),
                bytes(cluster.bytes)
            );
            if let Some(hint) = &cluster.hint {
                out += &format!("    looks like: {hint}\n");
            }
            if let Some(f) = &cluster.callback {
                out += &format!(
                    "    callback: `{}` ({}:{}:{})\n",
                    crate::format::printable(&f.function),
                    crate::format::printable(&super::explain::display_file(&f.file)),
                    f.line,
                    f.column
                );
            }
            if let Some(path) = &cluster.path {
                out += &format!("    {}\n", short_path(path));
            }
        }
        out.push('\n');
        out
    }

    fn class_table(&self, top: usize, paint: Paint) -> String {
        let c = &self.comparison;
        let mut rows: Vec<&ClassGrowth> = c.classes.iter().collect();
        rows.sort_by(|a, b| {
            let d = |c: &ClassGrowth| {
                (*c.bytes.last().unwrap_or(&0) as i64 - c.bytes[0] as i64).unsigned_abs()
            };
            d(b).cmp(&d(a)).then_with(|| a.key.cmp(&b.key))
        });
        rows.truncate(top);
        if rows.is_empty() {
            return "No class changed.\n".into();
        }
        let shown: Vec<String> =
            rows.iter().map(|c| crate::format::printable(&c.key).into_owned()).collect();
        let key_w = shown.iter().map(|k| k.chars().count().min(48)).max().unwrap_or(5).max(5);
        let mut out = paint.bold("Classes that changed most (first to last snapshot):\n");
        out += &paint.dim(&format!(
            "  {:<key_w$}  {:>9}  {:>8}  {:>8}  {:>8}  {:>10}  {:>10}  {}\n",
            "class", "objects", "Δ", "new", "deleted", "self size", "Δ size", "trend"
        ));
        for (row, shown) in rows.iter().zip(&shown) {
            let last = *row.counts.last().unwrap_or(&0);
            let new: u64 = row.intervals.iter().map(|i| i.new).sum();
            let deleted: u64 = row.intervals.iter().map(|i| i.deleted).sum();
            let last_bytes = *row.bytes.last().unwrap_or(&0);
            let key: String = if shown.chars().count() > 48 {
                shown.chars().take(47).chain(['…']).collect()
            } else {
                shown.clone()
            };
            let trend = row.trend();
            let trend_text = match trend {
                Trend::Linear if self.is_ignored(row) => "linear (ignored)".to_owned(),
                Trend::Linear => paint.red(trend.label()),
                Trend::Irregular => paint.yellow(trend.label()),
                t => t.label().to_owned(),
            };
            out += &format!(
                "  {:<key_w$}  {:>9}  {:>8}  {:>8}  {:>8}  {:>10}  {:>10}  {}\n",
                key,
                thousands(last),
                signed(last as i64 - row.counts[0] as i64),
                thousands(new),
                thousands(deleted),
                bytes(last_bytes),
                signed_bytes(last_bytes as i64 - row.bytes[0] as i64),
                trend_text
            );
        }
        out
    }
}

/// Removes spaces left at line ends by empty table cells.
pub(crate) fn trim_line_ends(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        out.push_str(body.trim_end());
        out.push_str(newline);
    }
    out
}

/// Steps of a retainer path shown in text; the JSON keeps the longer path.
const TEXT_PATH_STEPS: usize = 5;

/// A retainer path cut to [`TEXT_PATH_STEPS`] for a terminal line.
fn short_path(path: &RetainerPath) -> String {
    let mut short = path.clone();
    if short.steps.len() > TEXT_PATH_STEPS {
        short.elided += short.steps.len() - TEXT_PATH_STEPS;
        short.steps.truncate(TEXT_PATH_STEPS);
    }
    short.to_string()
}

fn grow_verb(n: usize) -> &'static str {
    if n == 1 { "grows" } else { "grow" }
}

fn holder_text(h: &Holder, unit: &str) -> String {
    let name = h.culprit.as_ref().map_or_else(String::new, |c| format!("`{c}` "));
    let mut out = format!(
        "  {name}{} @{}: {} → {}, +{} per {unit}",
        h.class,
        h.node.id,
        bytes(h.retained[0]),
        bytes(*h.retained.last().unwrap_or(&0)),
        bytes_rate(h.fit.per_step)
    );
    if let Some(child) = &h.largest_child {
        out += &format!(", mostly in `{}`", child.name);
    }
    out.push('\n');
    if let Some(path) = &h.path {
        out += &format!("    {}\n", short_path(path));
    }
    out
}
