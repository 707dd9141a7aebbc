//! A failed route's leaks grouped by root cause: by what holds the growth (the holder the
//! leaked objects hang from), ranked by its share of the route's growth per request, with the
//! classes it accumulates, one retainer path and the allocation sites. One root cause that
//! leaks five classes (the object, its strings, its numbers, its shape) is one cause, not five
//! blocks. Pure: from a verdict and the route's allocation sites.

use crate::analysis::allocations::{AllocationReport, is_registration};
use crate::analysis::paths::RetainerPath;
use crate::model::causes::{Cause, CauseClass};
use crate::model::verdict::{Leak, RouteVerdict};

/// The causes of `verdict`'s growth, largest first. Each leak's rate is split over its holders
/// in proportion to the bytes each holds; growing holders no leak was attributed to are
/// causes of their own. `sites` go to the first cause.
pub fn causes(verdict: &RouteVerdict, sites: Option<&AllocationReport>) -> Vec<Cause> {
    let mut out: Vec<Cause> = Vec::new();
    for leak in &verdict.leaks {
        attribute(&mut out, leak);
    }
    for h in &verdict.holders {
        let key = format!("{} @{}", h.class, h.node.id);
        if let Some(c) = out.iter_mut().find(|c| c.holder.as_deref() == Some(key.as_str())) {
            c.bytes_per_request = c.bytes_per_request.max(h.fit.per_step);
            if c.culprit.is_none() {
                c.culprit = h.culprit.clone();
            }
            continue;
        }
        // A holder on another cause's path (it holds that cause's holder) is counted there;
        // one apart from every leak is a cause of its own.
        if out.iter().any(|c| path_passes(c.path.as_ref(), h.node.id)) {
            continue;
        }
        out.push(Cause {
            culprit: h.culprit.clone(),
            holder: Some(key),
            bytes_per_request: h.fit.per_step,
            share: 0.0,
            classes: Vec::new(),
            hint: None,
            callback: None,
            path: h.path.clone(),
            sites: Vec::new(),
        });
    }
    out.sort_by(|a, b| {
        b.bytes_per_request.total_cmp(&a.bytes_per_request).then_with(|| a.holder.cmp(&b.holder))
    });
    let total: f64 = out.iter().map(|c| c.bytes_per_request.max(0.0)).sum();
    // A sliver of a class under some other holder (one object on a socket, a code cache) is
    // not a cause: the per-class view in `verdict.leaks` still shows it.
    if total > 0.0 {
        let mut first = true;
        out.retain(|c| std::mem::take(&mut first) || c.bytes_per_request >= MIN_SHARE * total);
    }
    let total: f64 = out.iter().map(|c| c.bytes_per_request.max(0.0)).sum();
    for c in &mut out {
        c.share = if total > 0.0 { c.bytes_per_request.max(0.0) / total } else { 0.0 };
        c.classes.sort_by(|a, b| {
            b.bytes_per_request.total_cmp(&a.bytes_per_request).then_with(|| a.class.cmp(&b.class))
        });
    }
    if let (Some(first), Some(report)) = (out.first_mut(), sites) {
        first.sites = report.summary.sites.clone();
        // A registration (a timer, a listener) holds what else the route allocated: first.
        first.sites.sort_by_key(|s| !s.via.as_deref().is_some_and(is_registration));
    }
    out
}

/// Causes below this share of the route's growth are left out (the largest always stays).
pub const MIN_SHARE: f64 = 0.05;

/// True when `path` runs through the object with heap id `id`.
fn path_passes(path: Option<&RetainerPath>, id: u32) -> bool {
    path.is_some_and(|p| p.steps.iter().any(|s| s.holder_id == id))
}

fn attribute(out: &mut Vec<Cause>, leak: &Leak) {
    let held: u64 = leak.holders.iter().map(|h| h.bytes).sum();
    let n = leak.holders.len().max(1) as f64;
    for h in &leak.holders {
        let part = if held > 0 { h.bytes as f64 / held as f64 } else { 1.0 / n };
        let key = h.holder.clone();
        let holder_id = key.as_deref().and_then(heap_id);
        let at = match out.iter().position(|c| c.holder == key) {
            Some(at) => at,
            None => {
                out.push(Cause {
                    culprit: None,
                    holder: key,
                    bytes_per_request: 0.0,
                    share: 0.0,
                    classes: Vec::new(),
                    hint: None,
                    callback: None,
                    path: None,
                    sites: Vec::new(),
                });
                out.len() - 1
            }
        };
        let c = &mut out[at];
        c.bytes_per_request += leak.bytes_per_request * part;
        c.classes.push(CauseClass {
            class: leak.class.clone(),
            objects_per_request: leak.objects_per_request * part,
            bytes_per_request: leak.bytes_per_request * part,
        });
        if c.culprit.is_none() {
            c.culprit = h.culprit.clone();
        }
        if c.hint.is_none() {
            c.hint = h.hint.clone();
        }
        if c.callback.is_none() {
            c.callback = h.callback.clone();
        }
        // The path of the class with the most bytes under the holder (leaks come largest
        // first, so the first path seen), unless it is cut before it reaches the holder and a
        // later one is not: a leaf deep in a string rope or a linked list spends every kept
        // step inside its own structure and never shows what holds it.
        let shows_holder =
            |p: Option<&RetainerPath>| holder_id.is_some_and(|id| path_passes(p, id));
        if c.path.is_none() || (!shows_holder(c.path.as_ref()) && shows_holder(h.path.as_ref())) {
            c.path = h.path.clone();
        }
    }
}

/// The heap id of a holder key (`Array @812`).
fn heap_id(key: &str) -> Option<u32> {
    key.rsplit_once(" @").and_then(|(_, id)| id.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::allocations::{AllocationSite, CodeLocation, SiteSummary};
    use crate::model::verdict::LeakHolder;

    fn leak(class: &str, bytes: f64, holders: &[(&str, Option<&str>, u64)]) -> Leak {
        Leak {
            class: class.into(),
            objects_per_request: 1.0,
            bytes_per_request: bytes,
            objects: (0, 100),
            bytes: (0, 1000),
            objects_per_rung: Vec::new(),
            bytes_per_rung: Vec::new(),
            holders: holders
                .iter()
                .map(|&(holder, culprit, bytes)| LeakHolder {
                    culprit: culprit.map(Into::into),
                    holder: Some(holder.into()),
                    objects: 10,
                    bytes,
                    hint: None,
                    callback: None,
                    path: None,
                })
                .collect(),
        }
    }

    fn verdict(leaks: Vec<Leak>) -> RouteVerdict {
        RouteVerdict {
            pass: false,
            failures: Vec::new(),
            bytes_per_request: leaks.iter().map(|l| l.bytes_per_request).sum(),
            heap: (0, 0),
            leaks,
            holders: Vec::new(),
            projection: None,
            unsure: Vec::new(),
            lock: None,
            memory: Default::default(),
            detection_limit: Default::default(),
            idle: None,
            budget: Default::default(),
        }
    }

    #[test]
    fn one_holder_of_five_classes_is_one_cause() {
        let v = verdict(vec![
            leak("(string)", 224.0, &[("Array @7", Some("priceHistory"), 900)]),
            leak("(number)", 32.0, &[("Array @7", Some("priceHistory"), 90)]),
            leak("{sku, at}", 72.0, &[("Array @7", None, 70)]),
        ]);
        let c = causes(&v, None);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].culprit.as_deref(), Some("priceHistory"));
        assert_eq!(c[0].bytes_per_request, 328.0);
        assert_eq!(c[0].share, 1.0);
        let classes: Vec<&str> = c[0].classes.iter().map(|k| k.class.as_str()).collect();
        assert_eq!(classes, ["(string)", "{sku, at}", "(number)"]);
    }

    fn path(holders: &[(&str, u32)], elided: usize) -> RetainerPath {
        RetainerPath {
            node_id: 1,
            reached: true,
            steps: holders
                .iter()
                .map(|&(class, id)| {
                    crate::analysis::paths::RetainerStep::named("internal", "first", class, id)
                })
                .collect(),
            elided,
            origin: Some("(global)".into()),
        }
    }

    #[test]
    fn the_cause_shows_a_path_that_reaches_its_holder() {
        // As measured on a timer leak: the largest class is a rope of strings whose kept steps
        // never leave the rope; the response's path runs through the timer list.
        let mut ropes = leak("(concatenated string)", 608.0, &[("TimersList @9", None, 900)]);
        ropes.holders[0].path = Some(path(&[("(concatenated string)", 5); 8], 130));
        let mut responses = leak("ServerResponse", 376.0, &[("TimersList @9", None, 500)]);
        let through =
            [("system / Context", 6), ("(closure)", 7), ("Timeout", 8), ("TimersList", 9)];
        responses.holders[0].path = Some(path(&through, 3));
        let c = causes(&verdict(vec![ropes.clone(), responses.clone()]), None);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].path.as_ref().unwrap().steps[3].holder_id, 9);
        // When the largest class's path shows the holder, it stays.
        ropes.holders[0].path = Some(path(&[("(concatenated string)", 5), ("TimersList", 9)], 3));
        let c = causes(&verdict(vec![ropes, responses]), None);
        assert_eq!(c[0].path.as_ref().unwrap().steps[0].holder_id, 5);
    }

    #[test]
    fn a_class_shared_by_two_holders_is_split_and_causes_are_ranked() {
        let v = verdict(vec![
            leak(
                "(string)",
                300.0,
                &[("Array @1", Some("logs"), 100), ("Array @2", Some("buffered"), 200)],
            ),
            leak("Buffered", 48.0, &[("Array @2", Some("buffered"), 48)]),
        ]);
        let sites = AllocationReport {
            summary: SiteSummary {
                sites: vec![AllocationSite {
                    site: CodeLocation {
                        function: "chat".into(),
                        file: "/srv/a.js".into(),
                        line: 3,
                        column: 1,
                        generated: None,
                    },
                    library: None,
                    via: None,
                    registers: Vec::new(),
                    stack: Vec::new(),
                    objects: 1.0,
                    bytes: 1.0,
                    objects_per_request: 1.0,
                    bytes_per_request: 1.0,
                    share: 1.0,
                    samples: 1,
                }],
                ..SiteSummary::default()
            },
            ..AllocationReport::default()
        };
        let c = causes(&v, Some(&sites));
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].culprit.as_deref(), Some("buffered"));
        assert_eq!(c[0].bytes_per_request, 248.0);
        assert_eq!(c[1].bytes_per_request, 100.0);
        assert!((c[0].share - 248.0 / 348.0).abs() < 1e-12);
        assert_eq!(c[0].sites.len(), 1);
        assert!(c[1].sites.is_empty());
    }
}
