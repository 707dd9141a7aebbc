//! The lock's data as the run uses it: a route's recorded figures ([`Recorded`]), what the plan
//! holds a route against ([`Baseline`]), and the comparison of measured against recorded
//! ([`LockCheck`]: a status and one row per figure). `record/` reads and writes the file,
//! the judge compares ([`crate::judge`]), `report/` renders the diff.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::verdict::RouteVerdict;
use crate::format::{bytes, bytes_rate, signed_bytes};

/// What one route measured, as recorded: rounded, so that the file changes only when a figure
/// does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// Requests measured after the baseline (heap growth is over these).
    pub requests: u64,
    /// Linear growth of all leaking classes together (or, when no class grows linearly, of the
    /// fastest growing holder), bytes per request; 0 for a clean route.
    pub bytes_per_request: f64,
    /// Heap (sum of self sizes) from the baseline snapshot to the last one, bytes.
    pub heap_growth: i64,
    /// Highest V8 heap use sampled while requests ran, bytes.
    pub peak_heap: Option<u64>,
    /// The run's detection limit, bytes per request: the smallest linear growth it would have
    /// flagged (what "no growth" meant when this was recorded). `None` in locks written before
    /// leakcheck stated it.
    pub detection_limit: Option<f64>,
    /// The sensitivity the route was held to, bytes per request: its budget's `sensitivity`,
    /// or the default of `requests = "auto"`. `None` when it had none (or in locks written
    /// before leakcheck recorded it).
    pub sensitivity: Option<f64>,
    /// Bytes per request of each class growing linearly (the classes above the noise floor).
    pub classes: BTreeMap<String, f64>,
}

impl Recorded {
    /// The figures of a judged route, rounded as the lock keeps them.
    pub fn measure(verdict: &RouteVerdict, requests: u64, peak_heap: Option<u64>) -> Recorded {
        // The report's growth per request: the leaking classes together, or, when no class
        // grows linearly, the fastest growing holder.
        let rate = match verdict.holders.first() {
            Some(h) if verdict.leaks.is_empty() => h.fit.per_step,
            _ => verdict.bytes_per_request,
        };
        Recorded {
            requests,
            bytes_per_request: round_rate(rate),
            heap_growth: round_sig(verdict.heap.1 as f64 - verdict.heap.0 as f64) as i64,
            detection_limit: Some(round_rate(verdict.detection_limit.bytes_per_request)),
            sensitivity: verdict.budget.sensitivity,
            peak_heap: peak_heap.map(|p| round_sig(p as f64) as u64),
            classes: verdict
                .leaks
                .iter()
                .map(|l| (l.class.clone(), round_rate(l.bytes_per_request)))
                .collect(),
        }
    }
}

/// Three significant digits: 155,128 → 155,000.
pub(crate) fn round_sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return 0.0;
    }
    let digits = x.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits - 2);
    let r = (x / scale).round() * scale;
    // Whole numbers above 100 stay whole (no 155000.00000000003).
    if digits >= 2 { r.round() } else { r }
}

/// A rate to three significant digits and at most one decimal: 32.27 → 32.3, 1234.5 → 1230.
pub(crate) fn round_rate(x: f64) -> f64 {
    let r = (round_sig(x) * 10.0).round() / 10.0;
    if r == 0.0 { 0.0 } else { r }
}

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
    /// This run's detection limit is weaker than the recorded one (by more than the relative
    /// part of the tolerance): its PASS promises less than the record's did. Said, not failed
    /// (a `sensitivity` is the budget that fails a route on its limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weaker_detection_limit: Option<WeakerLimit>,
}

/// A detection limit weaker than the one recorded, bytes per request.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeakerLimit {
    /// The limit recorded in the lock.
    pub recorded: f64,
    /// This run's limit.
    pub measured: f64,
}

impl WeakerLimit {
    /// One line for reports: what the weaker limit means.
    pub fn sentence(&self, lock_name: &str) -> String {
        format!(
            "detection limit weaker than recorded: no linear growth above {}/request now, {}/request when {lock_name} was written; a leak in between would pass (longer rungs or `requests = \"auto\"` with a `sensitivity` restore it; `--bless` accepts it)",
            bytes_rate(self.measured),
            bytes_rate(self.recorded)
        )
    }
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
}

/// A figure in its unit: `64 B/req`, `+12.5 KiB`, `5.2 MiB`.
pub(crate) fn value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::BytesPerRequest => format!("{}/req", bytes_rate(v)),
        Unit::Growth => signed_bytes(v as i64),
        Unit::Bytes => bytes(v.max(0.0) as u64),
    }
}
