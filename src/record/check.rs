//! A route held against its record in `leakspec.lock`: every figure compared with a tolerance
//! that is relative plus absolute ([`RegressionTolerance`]), a regression failing the route with
//! a diff of recorded against measured, an improvement said (the route passes).
//!
//! The record is also the route's growth budget: linear growth of a class the lock records, up
//! to its recorded rate plus the tolerance, is accepted as it stands, unless the spec sets
//! `max_bytes_per_request` or `max_objects_per_request` for the route (written budgets always
//! hold). A class growing that the lock does not record still fails as a leak.

use serde::{Deserialize, Serialize};

use super::Recorded;
use crate::leakspec::RegressionTolerance;
use crate::plan::RoutePlan;
use crate::report::format::{bytes, bytes_rate, signed_bytes};
use crate::report::style::Paint;
use crate::runner::verdict::{Failure, RouteVerdict};

/// What a route is held against, set on the plan from the lock and the flags.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Baseline {
    /// There is no lock: nothing to compare.
    #[default]
    None,
    /// The lock exists but does not record this route.
    NotRecorded,
    /// The route's record.
    Recorded(Box<Recorded>),
    /// This run records the route (`--record` for a route not yet recorded, `--bless` for
    /// every route); `previous` is what the lock held before, shown as a diff.
    Record {
        /// The record being replaced.
        previous: Option<Box<Recorded>>,
    },
}

/// How a route compares with its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every figure within the tolerance of its record.
    Within,
    /// A figure rose past its record by more than the tolerance: the route fails.
    Regressed,
    /// A figure fell below its record by more than the tolerance (or a recorded class stopped
    /// growing), and none regressed: `--bless` would record the gain.
    Improved,
    /// The lock has no record of the route.
    NotRecorded,
    /// This run recorded the route for the first time.
    Recorded,
    /// This run replaced the route's record (`--bless`).
    Blessed,
}

/// What changed in one figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Within the tolerance.
    Same,
    /// Above the allowed value.
    Regressed,
    /// Below the record by more than the tolerance.
    Improved,
    /// A class growing that the record does not have (within the tolerance if not regressed).
    New,
    /// A recorded class that no longer grows.
    Gone,
}

/// The unit of a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Bytes per request.
    BytesPerRequest,
    /// Bytes.
    Bytes,
    /// A change in bytes, shown with its sign.
    Growth,
}

/// One row of the diff: a figure recorded against measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// `growth per request`, `heap growth`, `peak heap` or `class KEY`.
    pub name: String,
    /// Its unit.
    pub unit: Unit,
    /// The recorded value (heap growth scaled to the requests measured this time).
    pub recorded: Option<f64>,
    /// The measured value (rounded as the lock would keep it).
    pub measured: Option<f64>,
    /// The highest measured value that passes.
    pub allowed: Option<f64>,
    /// The verdict on this figure.
    pub change: Change,
}

/// A route compared with `leakspec.lock`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockCheck {
    /// The outcome of the comparison.
    pub status: Status,
    /// The tolerance used, as written (`25% + 32B`).
    pub tolerance: String,
    /// Recorded against measured, figure by figure (empty when there was no record).
    pub figures: Vec<Figure>,
}

impl LockCheck {
    /// The figures that regressed.
    pub fn regressed(&self) -> impl Iterator<Item = &Figure> {
        self.figures.iter().filter(|f| f.change == Change::Regressed)
    }

    /// One line for messages: `growth per request 80 B → 350 B (allowed 132 B); class
    /// `Receipt` new at 270 B`.
    pub fn summary(&self) -> String {
        let shown: Vec<&Figure> = match self.status {
            Status::Regressed => self.regressed().collect(),
            _ => self.figures.iter().filter(|f| f.change != Change::Same).collect(),
        };
        shown
            .iter()
            .map(|f| {
                let allowed = match (self.status, f.allowed) {
                    (Status::Regressed, Some(a)) => format!(" (allowed {})", value(f.unit, a)),
                    _ => String::new(),
                };
                match (f.recorded, f.measured) {
                    (None, Some(m)) => format!("{} new at {}{allowed}", f.name, value(f.unit, m)),
                    (Some(r), None) if f.change == Change::Gone => {
                        format!("{} no longer grows (was {})", f.name, value(f.unit, r))
                    }
                    (r, m) => format!(
                        "{} {} → {}{allowed}",
                        f.name,
                        r.map_or("—".into(), |v| value(f.unit, v)),
                        m.map_or("—".into(), |v| value(f.unit, v)),
                    ),
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

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

fn value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::BytesPerRequest => format!("{}/req", bytes_rate(v)),
        Unit::Growth => signed_bytes(v as i64),
        Unit::Bytes => bytes(v.max(0.0) as u64),
    }
}

/// Compares measured figures with a record.
pub fn compare(record: &Recorded, now: &Recorded, tolerance: RegressionTolerance) -> LockCheck {
    let mut figures = Vec::new();
    let requests = now.requests as f64;
    let mut row = |name: String, unit: Unit, rec: Option<f64>, meas: Option<f64>, over: f64| {
        let (change, allowed) = match (rec, meas) {
            // The peak is sampled every 100 ms under load and depends on when the collector
            // ran: one build gave 3.8 MiB and 5.3 MiB in two runs. It is shown for review,
            // never held (`max_peak_heap` is the hard limit).
            _ if unit == Unit::Bytes => (Change::Same, None),
            (Some(r), Some(m)) => {
                let allowed = tolerance.allowed(r, over);
                let change = if m > allowed {
                    Change::Regressed
                } else if tolerance.allowed(m, over) < r {
                    Change::Improved
                } else {
                    Change::Same
                };
                (change, Some(allowed))
            }
            (None, Some(m)) if unit == Unit::BytesPerRequest => {
                let allowed = tolerance.allowed(0.0, over);
                (if m > allowed { Change::Regressed } else { Change::New }, Some(allowed))
            }
            (Some(_), None) if unit == Unit::BytesPerRequest => (Change::Gone, None),
            _ => (Change::Same, None),
        };
        figures.push(Figure { name, unit, recorded: rec, measured: meas, allowed, change });
    };
    row(
        "growth per request".into(),
        Unit::BytesPerRequest,
        Some(record.bytes_per_request),
        Some(now.bytes_per_request),
        1.0,
    );
    // The number of rungs may differ between runs (extra rungs when unclear): heap growth is
    // held against the record scaled to the requests measured now.
    let scale = if record.requests > 0 { requests / record.requests as f64 } else { 1.0 };
    row(
        "heap growth".into(),
        Unit::Growth,
        Some((record.heap_growth as f64 * scale).round()),
        Some(now.heap_growth as f64),
        requests,
    );
    if record.peak_heap.is_some() || now.peak_heap.is_some() {
        row(
            "peak heap".into(),
            Unit::Bytes,
            record.peak_heap.map(|p| p as f64),
            now.peak_heap.map(|p| p as f64),
            requests,
        );
    }
    let mut classes: Vec<&String> = record.classes.keys().chain(now.classes.keys()).collect();
    classes.sort();
    classes.dedup();
    for class in classes {
        row(
            format!("class {class}"),
            Unit::BytesPerRequest,
            record.classes.get(class).copied(),
            now.classes.get(class).copied(),
            1.0,
        );
    }
    let any = |c: Change| figures.iter().any(|f| f.change == c);
    let status = if any(Change::Regressed) {
        Status::Regressed
    } else if any(Change::Improved) || any(Change::Gone) {
        Status::Improved
    } else {
        Status::Within
    };
    LockCheck { status, tolerance: tolerance.to_string(), figures }
}

/// Holds a judged route against its baseline: sets `verdict.lock`, adds a
/// [`Failure::Regression`] when a figure regressed, and lets the record stand in for the
/// implicit "no linear growth" budget (see the module comment). `requests` and `peak_heap` are
/// the route's.
pub fn hold(verdict: &mut RouteVerdict, route: &RoutePlan, requests: u64, peak_heap: Option<u64>) {
    let tolerance = route.budget.regression_tolerance.unwrap_or_default();
    let now = Recorded::measure(verdict, requests, peak_heap);
    let (check, accepted) = match &route.baseline {
        Baseline::None => return,
        Baseline::NotRecorded => (
            LockCheck {
                status: Status::NotRecorded,
                tolerance: tolerance.to_string(),
                figures: Vec::new(),
            },
            None,
        ),
        Baseline::Recorded(record) => (compare(record, &now, tolerance), Some(&**record)),
        Baseline::Record { previous } => {
            let mut check = match previous {
                Some(previous) => compare(previous, &now, tolerance),
                None => compare(&now, &now, tolerance),
            };
            check.status = if previous.is_some() { Status::Blessed } else { Status::Recorded };
            // What is being recorded is, by definition, what the record allows.
            (check, Some(&now))
        }
    };
    let written_rate_budget = route.budget.max_bytes_per_request.is_some()
        || route.budget.max_objects_per_request.is_some();
    if let Some(record) = accepted
        && !written_rate_budget
    {
        accept_recorded_growth(verdict, record, tolerance);
    }
    if check.status == Status::Regressed {
        verdict.failures.push(Failure::Regression { summary: check.summary() });
    }
    verdict.pass = verdict.failures.is_empty();
    verdict.lock = Some(check);
}

/// Removes from the linear-growth failures what the record accepts: classes it records, each
/// up to its rate plus the tolerance, and a growing holder up to the recorded growth.
fn accept_recorded_growth(v: &mut RouteVerdict, record: &Recorded, tolerance: RegressionTolerance) {
    let accepted = |class: &str, rate: f64| {
        record.classes.get(class).is_some_and(|r| rate <= tolerance.allowed(*r, 1.0))
    };
    let leaks = &v.leaks;
    let rate_of =
        |class: &str| leaks.iter().find(|l| l.class == class).map_or(0.0, |l| l.bytes_per_request);
    let objects_of = |class: &str| {
        leaks.iter().find(|l| l.class == class).map_or(0.0, |l| l.objects_per_request)
    };
    v.failures.retain_mut(|f| match f {
        Failure::LinearGrowth { classes, bytes_per_request, objects_per_request } => {
            classes.retain(|c| !accepted(c, rate_of(c)));
            *bytes_per_request = classes.iter().map(|c| rate_of(c).max(0.0)).sum();
            *objects_per_request = classes.iter().map(|c| objects_of(c)).fold(0.0, f64::max);
            !classes.is_empty()
        }
        Failure::GrowingHolder { bytes_per_request, .. } => {
            record.bytes_per_request <= 0.0
                || *bytes_per_request > tolerance.allowed(record.bytes_per_request, 1.0)
        }
        _ => true,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::verdict::tests::compare as rungs;
    use crate::runner::verdict::{Limits, judge};
    use std::collections::BTreeMap;

    fn plan_route(baseline: Baseline) -> RoutePlan {
        let spec = crate::leakspec::Spec::parse(
            "[[target]]\nname = \"t\"\ncommand = [\"node\"]\n[[target.route]]\nname = \"r\"\npath = \"/\"\n",
            std::path::Path::new("leakspec.toml"),
        )
        .unwrap();
        let mut plan = crate::plan::plan(&spec, &Default::default()).unwrap();
        let mut route = plan.targets.remove(0).routes.remove(0);
        route.baseline = baseline;
        route
    }

    fn record(rate: f64, classes: &[(&str, f64)]) -> Recorded {
        Recorded {
            requests: 200,
            bytes_per_request: rate,
            heap_growth: (rate * 200.0) as i64,
            peak_heap: None,
            classes: classes.iter().map(|(c, r)| (c.to_string(), *r)).collect(),
        }
    }

    /// `Job`s kept at the given counts after 0, 100 and 200 requests: 64 B per job.
    fn judged(kept: [u32; 3]) -> RouteVerdict {
        judge(&rungs(kept), &Limits::default(), None)
    }

    #[test]
    fn a_recorded_leak_passes_until_it_grows() {
        let baseline = Baseline::Recorded(Box::new(record(64.0, &[("Job", 64.0)])));
        let route = plan_route(baseline);
        let mut v = judged([0, 100, 200]);
        assert!(!v.pass, "without the record, linear growth fails");
        hold(&mut v, &route, 200, None);
        assert!(v.pass, "{:?}", v.failures);
        assert_eq!(v.lock.as_ref().unwrap().status, Status::Within);

        // Three jobs per request: 192 B > 64 × 1.25 + 32.
        let mut v = judged([0, 300, 600]);
        hold(&mut v, &route, 200, None);
        assert!(!v.pass);
        let check = v.lock.as_ref().unwrap();
        assert_eq!(check.status, Status::Regressed);
        assert!(v.failures.iter().any(|f| matches!(f, Failure::Regression { .. })));
        // The class's own row regressed, and the LinearGrowth failure stands for it.
        assert!(check.regressed().any(|f| f.name == "class Job"));
        assert!(v.failures.iter().any(|f| matches!(f, Failure::LinearGrowth { .. })));
        assert!(
            check.summary().contains("class Job 64 B/req → 192 B/req (allowed 112 B/req)"),
            "{}",
            check.summary()
        );
    }

    #[test]
    fn a_new_class_still_fails_as_a_leak() {
        let route = plan_route(Baseline::Recorded(Box::new(record(0.0, &[]))));
        let mut v = judged([0, 100, 200]);
        hold(&mut v, &route, 200, None);
        assert!(!v.pass);
        let check = v.lock.as_ref().unwrap();
        let job = check.figures.iter().find(|f| f.name == "class Job").unwrap();
        assert_eq!((job.change, job.recorded, job.measured), (Change::Regressed, None, Some(64.0)));
    }

    #[test]
    fn written_budgets_still_hold() {
        let mut route = plan_route(Baseline::Recorded(Box::new(record(64.0, &[("Job", 64.0)]))));
        route.budget.max_objects_per_request = crate::leakspec::ObjectsPerRequest::new(0.5);
        let limits = Limits { max_objects_per_request: Some(0.5), ..Limits::default() };
        let mut v = judge(&rungs([0, 100, 200]), &limits, None);
        hold(&mut v, &route, 200, None);
        assert!(!v.pass, "max_objects_per_request = 0.5 is exceeded");
        assert_eq!(v.lock.as_ref().unwrap().status, Status::Within);
    }

    #[test]
    fn improvements_and_missing_records_are_said() {
        let route = plan_route(Baseline::Recorded(Box::new(record(64.0, &[("Job", 64.0)]))));
        let mut v = judged([50, 50, 50]);
        hold(&mut v, &route, 200, None);
        assert!(v.pass);
        let check = v.lock.as_ref().unwrap();
        assert_eq!(check.status, Status::Improved);
        assert_eq!(
            check.summary(),
            "growth per request 64 B/req → 0.0 B/req; heap growth +12.5 KiB → 0 B; \
             class Job no longer grows (was 64 B/req)"
        );

        let mut v = judged([50, 50, 50]);
        hold(&mut v, &plan_route(Baseline::NotRecorded), 200, None);
        assert_eq!(v.lock.as_ref().unwrap().status, Status::NotRecorded);
        let mut v = judged([50, 50, 50]);
        hold(&mut v, &plan_route(Baseline::None), 200, None);
        assert_eq!(v.lock, None);
    }

    #[test]
    fn recording_accepts_what_it_records() {
        let route = plan_route(Baseline::Record { previous: None });
        let mut v = judged([0, 100, 200]);
        hold(&mut v, &route, 200, None);
        assert!(v.pass);
        assert_eq!(v.lock.as_ref().unwrap().status, Status::Recorded);
        let previous = Some(Box::new(record(0.0, &[])));
        let mut v = judged([0, 100, 200]);
        hold(&mut v, &plan_route(Baseline::Record { previous }), 200, None);
        assert!(v.pass);
        assert_eq!(v.lock.as_ref().unwrap().status, Status::Blessed);
    }

    #[test]
    fn clean_route_noise_does_not_flap() {
        // Heap growth of a clean route varies by tens of KiB between runs; peaks by ~15%.
        let rec = Recorded {
            requests: 1000,
            bytes_per_request: 0.0,
            heap_growth: 75_600,
            peak_heap: Some(5_430_000),
            classes: BTreeMap::new(),
        };
        let now = Recorded { heap_growth: 92_800, peak_heap: Some(6_360_000), ..rec.clone() };
        assert_eq!(compare(&rec, &now, RegressionTolerance::DEFAULT).status, Status::Within);
        let worse = Recorded { heap_growth: 400_000, ..rec.clone() };
        assert_eq!(compare(&rec, &worse, RegressionTolerance::DEFAULT).status, Status::Regressed);
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
            peak_heap: Some(6_000_000),
            classes: [("Job".to_owned(), 64.0), ("Receipt".to_owned(), 286.0)].into(),
        };
        let check = compare(&rec, &now, RegressionTolerance::DEFAULT);
        insta::assert_snapshot!(check.to_text("leakspec.lock", Paint::PLAIN));
    }
}
