//! The lock's diff rendered: a route's figures recorded against measured as a table headed by
//! what it compares, and the status in a word for one-line summaries.

use crate::model::lock::{Change, Figure, LockCheck, Status, value};
use crate::style::Paint;

impl LockCheck {
    /// The diff as a table, indented for a report, headed by what it compares.
    pub fn to_text(&self, lock_name: &str, paint: Paint) -> String {
        let head = match self.status {
            Status::Within => format!("within the figures recorded in {lock_name}"),
            Status::Regressed => format!("{} against {lock_name}", paint.red_bold("REGRESSION")),
            Status::Improved => format!(
                "{} on {lock_name}: run `leakcheck run --bless` to record the gain",
                paint.green("improved")
            ),
            Status::NotRecorded => {
                format!("not recorded in {lock_name}: `leakcheck run --record` records it")
            }
            Status::Recorded => format!("recorded in {lock_name}"),
            Status::Blessed => format!("blessed: these figures replace the record in {lock_name}"),
        };
        let mut out = format!("  {head} (tolerance {})\n", self.tolerance);
        if let Some(weaker) = &self.weaker_detection_limit {
            out += &format!("  {}: {}\n", paint.yellow("warning"), weaker.sentence(lock_name));
        }
        if self.figures.is_empty() {
            return out;
        }
        let name_w = self.figures.iter().map(|f| f.name.chars().count()).max().unwrap_or(0);
        let cell = |f: &Figure, v: Option<f64>| v.map_or("—".to_owned(), |v| value(f.unit, v));
        out += &paint.dim(&format!(
            "    {:<name_w$}  {:>12}  {:>12}  {:>12}",
            "", "recorded", "measured", "allowed"
        ));
        out.push('\n');
        for f in &self.figures {
            let change = match f.change {
                Change::Same => String::new(),
                Change::Regressed => paint.red_bold("regressed"),
                Change::Improved => paint.green("improved"),
                Change::New => "new".to_owned(),
                Change::Gone => paint.green("gone"),
            };
            let row = format!(
                "    {:<name_w$}  {:>12}  {:>12}  {:>12}  {change}",
                f.name,
                cell(f, f.recorded),
                cell(f, f.measured),
                cell(f, f.allowed)
            );
            out += row.trim_end();
            out.push('\n');
        }
        out
    }
}

/// The status in a word or two, for one-line summaries.
pub fn status_word(status: Status) -> &'static str {
    match status {
        Status::Within => "within the record",
        Status::Regressed => "regressed",
        Status::Improved => "improved",
        Status::NotRecorded => "not recorded",
        Status::Recorded => "recorded",
        Status::Blessed => "blessed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::lock::compare;
    use crate::leakspec::RegressionTolerance;
    use crate::model::lock::Recorded;

    fn record(rate: f64, classes: &[(&str, f64)]) -> Recorded {
        Recorded {
            requests: 200,
            bytes_per_request: rate,
            heap_growth: (rate * 200.0) as i64,
            detection_limit: None,
            sensitivity: None,
            peak_heap: None,
            classes: classes.iter().map(|(c, r)| (c.to_string(), *r)).collect(),
        }
    }

    #[test]
    fn diff_text() {
        let rec = Recorded {
            peak_heap: Some(5_000_000),
            ..record(64.0, &[("Job", 64.0), ("(string)", 32.0)])
        };
        let now = Recorded {
            requests: 200,
            bytes_per_request: 350.0,
            heap_growth: 70_000,
            detection_limit: None,
            sensitivity: None,
            peak_heap: Some(6_000_000),
            classes: [("Job".to_owned(), 64.0), ("Receipt".to_owned(), 286.0)].into(),
        };
        let check = compare(&rec, &now, RegressionTolerance::DEFAULT);
        insta::assert_snapshot!(check.to_text("leakspec.lock", Paint::PLAIN));
    }
}
