//! Inline SVG charts for the HTML report, drawn by leakcheck itself: the heap at each snapshot
//! against the load with the peak sampled while it ran, one series per leaking class with its
//! fitted line, and sparklines. Deterministic (coordinates rounded to 0.1), styled only through
//! CSS classes so that the page's light and dark themes apply, and labelled for screen readers
//! (`role="img"`, a `<title>` per chart and per point).

use maud::{Markup, html};

use crate::format::{bytes, thousands};

/// Height of a chart's drawing area in SVG user units (the SVG scales to its box); the width
/// is the chart's own, so that small charts keep legible labels.
const HEIGHT: f64 = 240.0;
/// Margins for the axes' labels.
const LEFT: f64 = 78.0;
const RIGHT: f64 = 18.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 40.0;

/// What a chart's values are: bytes get KiB/MiB labels, counts thousands separators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Quantity {
    /// Bytes.
    Bytes,
    /// A count of objects.
    Objects,
}

impl Quantity {
    fn value(self, v: f64) -> String {
        match self {
            Quantity::Bytes => bytes(v.max(0.0).round() as u64),
            Quantity::Objects => thousands(v.max(0.0).round() as u64),
        }
    }
}

/// One chart: points at (load, value), optionally a fitted line and horizontal marks.
pub(super) struct Chart<'a> {
    /// The accessible name, also shown as a tooltip.
    pub title: String,
    /// Longer description for screen readers.
    pub desc: String,
    /// Extra CSS class (`heap`, `objects`, `bytes`): tests and styles find charts by it.
    pub class: &'static str,
    /// What the values are.
    pub quantity: Quantity,
    /// Width in SVG user units: 640 for a full-width chart, less for charts side by side.
    pub width: f64,
    /// What one unit of load is called (`request`).
    pub unit: &'a str,
    /// (load, value) for each snapshot, in order.
    pub points: Vec<(f64, f64)>,
    /// Labels of the points (`s0`, `s1` ...), one per point.
    pub labels: Vec<String>,
    /// The fitted line through the points: slope per unit of load (least squares, so it runs
    /// through the points' mean).
    pub slope: Option<f64>,
    /// Horizontal marks across the load's range: (value, label), e.g. the peak during load.
    pub marks: Vec<(f64, String)>,
}

/// Steps for axis ticks: 1, 2, 2.5, 5 times a power of ten.
fn nice_step(range: f64, ticks: f64) -> f64 {
    let raw = (range / ticks).max(f64::MIN_POSITIVE);
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 2.5 {
        2.5
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// The unit in which byte ticks are labelled (so that ticks fall on round KiB or MiB).
fn byte_unit(max: f64) -> (f64, &'static str) {
    match max {
        m if m >= (1u64 << 30) as f64 => ((1u64 << 30) as f64, "GiB"),
        m if m >= (1u64 << 20) as f64 => ((1u64 << 20) as f64, "MiB"),
        m if m >= 1024.0 => (1024.0, "KiB"),
        _ => (1.0, "B"),
    }
}

/// Ticks covering `[lo, hi]`: (the range actually shown, tick values, tick labels).
fn ticks(lo: f64, hi: f64, quantity: Quantity) -> ((f64, f64), Vec<f64>, Vec<String>) {
    let (scale, unit) = match quantity {
        Quantity::Bytes => byte_unit(hi.abs().max(lo.abs())),
        Quantity::Objects => (1.0, ""),
    };
    let (lo, hi) = (lo / scale, hi / scale);
    let (lo, hi) = if hi - lo < 1e-9 {
        // A flat series: give it some room around its value.
        let pad = (hi.abs() * 0.05).max(if quantity == Quantity::Objects { 1.0 } else { 0.5 });
        (lo - pad, hi + pad)
    } else {
        (lo, hi)
    };
    let mut step = nice_step(hi - lo, 4.0);
    if quantity == Quantity::Objects {
        step = step.max(1.0);
    }
    let start = (lo / step).floor() * step;
    let end = (hi / step).ceil() * step;
    // As many decimals as the step needs: 0.5 → 1, 0.25 → 2.
    let decimals = (0..4)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(4);
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut v = start;
    while v <= end + step * 1e-6 && values.len() < 20 {
        values.push(v * scale);
        let text = format!("{v:.decimals$}");
        labels.push(match quantity {
            Quantity::Bytes => format!("{text} {unit}"),
            Quantity::Objects => thousands_f(v),
        });
        v += step;
    }
    ((start * scale, end * scale), values, labels)
}

fn thousands_f(v: f64) -> String {
    if v < 0.0 {
        format!("-{}", thousands((-v).round() as u64))
    } else {
        thousands(v.round() as u64)
    }
}

/// A coordinate, rounded so that the SVG text is the same on every run and platform.
fn c(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() { format!("{r:.0}") } else { format!("{r:.1}") }
}

impl Chart<'_> {
    /// The chart as an `<svg>` element.
    pub fn render(&self) -> Markup {
        let width = self.width;
        let xmax = self.points.iter().map(|p| p.0).fold(0.0, f64::max).max(1.0);
        let values = self.points.iter().map(|p| p.1).chain(self.marks.iter().map(|m| m.0));
        let (lo, hi) =
            values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
        let ((ylo, yhi), yticks, ylabels) = ticks(lo, hi, self.quantity);
        let (_, xticks, _) = ticks(0.0, xmax, Quantity::Objects);
        let xticks: Vec<f64> = xticks.into_iter().filter(|&x| x <= xmax + 1e-9).collect();
        let x = |v: f64| LEFT + (v / xmax) * (width - LEFT - RIGHT);
        let y = |v: f64| TOP + (1.0 - (v - ylo) / (yhi - ylo)) * (HEIGHT - TOP - BOTTOM);
        let fitted = self.slope.filter(|s| s.is_finite()).map(|slope| {
            let n = self.points.len().max(1) as f64;
            let mx = self.points.iter().map(|p| p.0).sum::<f64>() / n;
            let my = self.points.iter().map(|p| p.1).sum::<f64>() / n;
            let at = |load: f64| my + slope * (load - mx);
            (at(0.0), at(xmax))
        });
        let line: Vec<String> =
            self.points.iter().map(|&(px, py)| format!("{},{}", c(x(px)), c(y(py)))).collect();
        html! {
            svg class={ "chart " (self.class) } viewBox={ "0 0 " (width) " " (HEIGHT) }
                role="img" data-points=(self.points.len()) {
                title { (self.title) }
                desc { (self.desc) }
                g class="grid" {
                    @for (v, label) in yticks.iter().zip(&ylabels) {
                        line x1=(c(LEFT)) x2=(c(width - RIGHT)) y1=(c(y(*v))) y2=(c(y(*v))) {}
                        text class="ylabel" x=(c(LEFT - 6.0)) y=(c(y(*v) + 4.0)) { (label) }
                    }
                    @for v in &xticks {
                        text class="xlabel" x=(c(x(*v))) y=(c(HEIGHT - BOTTOM + 16.0)) { (thousands_f(*v)) }
                    }
                    text class="xtitle" x=(c(LEFT + (width - LEFT - RIGHT) / 2.0)) y=(c(HEIGHT - 6.0)) {
                        (self.unit) "s sent"
                    }
                }
                @for (value, label) in &self.marks {
                    g class="mark" {
                        title { (label) }
                        line x1=(c(x(0.0))) x2=(c(x(xmax))) y1=(c(y(*value))) y2=(c(y(*value))) {}
                        text x=(c(x(xmax) - 4.0)) y=(c(y(*value) - 5.0)) { (label) }
                    }
                }
                polyline class="series" points=(line.join(" ")) {}
                @if let Some((a, b)) = fitted {
                    line class="fit" x1=(c(x(0.0))) y1=(c(y(a))) x2=(c(x(xmax))) y2=(c(y(b))) {
                        title { "fitted line: " (self.quantity.value(self.slope.unwrap_or(0.0).abs().max(0.0))) " per " (self.unit) }
                    }
                }
                @for (i, &(px, py)) in self.points.iter().enumerate() {
                    circle class="pt" cx=(c(x(px))) cy=(c(y(py))) r="4" {
                        title {
                            (self.labels.get(i).map_or("", String::as_str)) ": "
                            (self.quantity.value(py)) " after " (thousands(px.round() as u64)) " " (self.unit) "s"
                        }
                    }
                }
            }
        }
    }
}

/// A small line of the values, for the overview table (decorative: the numbers are beside it).
pub(super) fn sparkline(values: &[u64]) -> Markup {
    let (w, h) = (96.0, 22.0);
    let lo = values.iter().copied().min().unwrap_or(0) as f64;
    let hi = values.iter().copied().max().unwrap_or(0) as f64;
    let n = values.len().saturating_sub(1).max(1) as f64;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let yv = if hi > lo { (v as f64 - lo) / (hi - lo) } else { 0.5 };
            format!("{},{}", c(2.0 + i as f64 / n * (w - 4.0)), c(h - 3.0 - yv * (h - 6.0)))
        })
        .collect();
    html! {
        svg class="spark" viewBox={ "0 0 " (w) " " (h) } aria-hidden="true" {
            polyline points=(points.join(" ")) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_units() {
        let (_, _, labels) = ticks(4.0 * 1048576.0, 9.3 * 1048576.0, Quantity::Bytes);
        assert_eq!(labels, ["4 MiB", "6 MiB", "8 MiB", "10 MiB"]);
        let (_, _, labels) = ticks(0.0, 1200.0, Quantity::Objects);
        assert_eq!(labels, ["0", "500", "1,000", "1,500"]);
        // A flat series still gets an axis.
        let ((lo, hi), _, _) = ticks(50.0, 50.0, Quantity::Objects);
        assert!(lo < 50.0 && hi > 50.0);
    }

    #[test]
    fn one_point_per_value_and_a_fitted_line() {
        let chart = Chart {
            title: "t".into(),
            desc: "d".into(),
            class: "objects",
            quantity: Quantity::Objects,
            width: 400.0,
            unit: "request",
            points: vec![(0.0, 150.0), (300.0, 450.0), (600.0, 750.0)],
            labels: vec!["s0".into(), "s1".into(), "s2".into()],
            slope: Some(1.0),
            marks: vec![],
        }
        .render()
        .into_string();
        assert_eq!(chart.matches("<circle").count(), 3, "{chart}");
        assert!(chart.contains("data-points=\"3\""));
        assert!(chart.contains("s1: 450 after 300 requests"), "{chart}");
        // The fitted line runs through the points: from 150 at 0 to 750 at 600.
        assert!(chart.contains("class=\"fit\""), "{chart}");
        assert_eq!(c(12.345), "12.3");
        assert_eq!(c(12.0), "12");
        let (_, _, labels) = ticks(3.6 * 1048576.0, 5.3 * 1048576.0, Quantity::Bytes);
        assert_eq!(labels, ["3.5 MiB", "4.0 MiB", "4.5 MiB", "5.0 MiB", "5.5 MiB"]);
    }
}
