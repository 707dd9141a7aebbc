//! Comparing snapshots S0, S1, ... Sk of one process, taken at increasing load.
//!
//! Node ids are stable across snapshots of one inspector session and never reused, so an object
//! present in S0 and Sk was alive all along, and an id absent from S(i-1) but present in S(i) was
//! allocated in between. From that this module derives, per class key: counts and bytes at every
//! rung, DevTools' Comparison view (new, deleted, deltas), **survivors** (objects allocated in an
//! interval and still alive at the end, memlab's idea), and a growth verdict; and, per persistent
//! object, whether its retained size grows at every rung: the **growing holders** (a Map, an
//! array, a dictionary object, a closure context) that name the culprit variable.
//!
//! Each snapshot is reduced to a [`Digest`] as soon as it is analysed, so only the last
//! snapshot's graph has to stay in memory, for the explanations.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::allocations::CodeLocation;
use super::classes::ClassIndex;
pub use super::digest::{Basis, Digest, max_object_id};
use super::digest::{IdCheck, IdSample, IdValues, check_ids, is_native_id};
use super::dominators::Dominators;
use super::explain::{
    continued, culprit, is_runtime_list, is_variable_container, pattern_hint, user_name_above,
};
use super::growth::{Fit, NoiseFloor, Trend, as_f64, classify, classify_class, may_grow};
use super::idle::{Idle, IdleSnapshot};
use super::noise::{self, DetectionLimit, Noise};
use super::paths::RetainerPath;
pub use super::runtime::{data_retained_sizes, is_runtime_class, is_runtime_node};
use super::stopped;
use crate::snapshot::{HeapGraph, NodeIndex, NodeKind};

/// Index of a class key shared by all snapshots of a comparison.
pub type GlobalClass = u32;

/// Noise floors for the growth verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Thresholds {
    /// Floor for object counts.
    pub objects: NoiseFloor,
    /// Floor for bytes (class self sizes, holder retained sizes).
    pub bytes: NoiseFloor,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { objects: NoiseFloor::OBJECTS, bytes: NoiseFloor::BYTES }
    }
}

/// What the comparison keeps of one snapshot.
struct Rung {
    label: String,
    steps: f64,
    node_count: usize,
    total_bytes: u64,
    max_id: u32,
    /// Native nodes: `(id, shared class, self size)`, ascending by id.
    natives: Vec<(u32, GlobalClass, u64)>,
    /// Objects and self bytes per shared class key.
    count: Vec<u64>,
    bytes: Vec<u64>,
    /// Data retained sizes of baseline objects that retain more than themselves.
    retained: IdValues,
}

/// What [`Finisher::compare_classes`] finds, for the comparison.
struct ComparedClasses {
    classes: Vec<ClassGrowth>,
    program: Vec<f64>,
    noise: Noise,
    thresholds: Thresholds,
    detection_limit: DetectionLimit,
}

/// Collects snapshots of one process, in order, and compares them.
///
/// Each snapshot is folded in as a [`Digest`] of a few bytes per object that retains others
/// (see `analysis/digest.rs`), so only the last snapshot's graph has to stay in memory, for the
/// explanations.
#[derive(Default)]
pub struct Comparer {
    keys: Vec<String>,
    by_key: HashMap<String, GlobalClass>,
    rungs: Vec<Rung>,
    /// Per interval, per shared class key: new and deleted objects.
    intervals: Vec<Vec<IntervalChange>>,
    /// The last snapshot's class keys mapped to shared ones.
    last_to_global: Vec<GlobalClass>,
    /// The last snapshot's nodes of its `retained` entries.
    last_retained_nodes: Vec<NodeIndex>,
    last_sample: IdSample,
    id_checks: Vec<IdCheck>,
}

impl Comparer {
    /// An empty comparison.
    pub fn new() -> Comparer {
        Comparer::default()
    }

    /// Number of snapshots added so far.
    pub fn len(&self) -> usize {
        self.rungs.len()
    }

    /// True before the first snapshot.
    pub fn is_empty(&self) -> bool {
        self.rungs.is_empty()
    }

    /// What the digest of the next snapshot needs to know about those added so far.
    pub fn basis(&self) -> Basis {
        Basis {
            previous_max_id: self.rungs.last().map(|r| r.max_id),
            baseline_max_id: self.rungs.first().map(|r| r.max_id),
        }
    }

    /// Adds the next snapshot, taken after `steps` units of load (requests, iterations) since
    /// the first. Steps must increase. Shorthand for [`Digest::build`] then [`Comparer::push`].
    pub fn add(
        &mut self,
        label: impl Into<String>,
        steps: f64,
        graph: &HeapGraph,
        classes: &ClassIndex,
        dominators: &Dominators,
    ) {
        let digest = Digest::build(label, graph, classes, dominators, self.basis());
        self.push(digest, steps);
    }

    /// Adds the digest of the next snapshot, taken after `steps` units of load since the first.
    /// The digest must have been built with this comparer's current [`Comparer::basis`].
    pub fn push(&mut self, digest: Digest, steps: f64) {
        if let Some(last) = self.rungs.last() {
            assert!(steps > last.steps, "snapshots must be added in order of load");
        }
        assert_eq!(
            digest.basis,
            self.basis(),
            "the digest was built for another place in the order"
        );
        let to_global: Vec<GlobalClass> =
            digest.local_keys.iter().map(|k| self.intern(k)).collect();
        let classes = self.keys.len();
        let global = |local: &[u64]| {
            let mut out = vec![0u64; classes];
            for (l, &g) in to_global.iter().enumerate() {
                out[g as usize] += local[l];
            }
            out
        };
        let (count, bytes) = (global(&digest.count), global(&digest.bytes));
        let natives: Vec<(u32, GlobalClass, u64)> =
            digest.natives.iter().map(|&(id, c, size)| (id, to_global[c as usize], size)).collect();
        if let Some(previous) = self.rungs.last() {
            let (mut old_count, mut old_bytes) =
                (global(&digest.old_count), global(&digest.old_bytes));
            for &(id, class, size) in &natives {
                if previous.natives.binary_search_by_key(&id, |n| n.0).is_ok() {
                    old_count[class as usize] += 1;
                    old_bytes[class as usize] += size;
                }
            }
            let before = |v: &[u64], c: usize| v.get(c).copied().unwrap_or(0);
            let changes = (0..classes)
                .map(|c| IntervalChange {
                    new: count[c] - old_count[c],
                    new_bytes: bytes[c] - old_bytes[c],
                    // Objects that changed class (a plain object that gained a property has
                    // another shape) leave one class without being deleted.
                    deleted: before(&previous.count, c).saturating_sub(old_count[c]),
                    deleted_bytes: before(&previous.bytes, c).saturating_sub(old_bytes[c]),
                })
                .collect();
            self.intervals.push(changes);
            self.id_checks.push(check_ids(&self.last_sample, &digest.sample, &digest.label));
        }
        let mut retained = digest.retained;
        retained.shrink_to_fit();
        self.rungs.push(Rung {
            label: digest.label,
            steps,
            node_count: digest.node_count,
            total_bytes: digest.total_bytes,
            max_id: digest.max_id,
            natives,
            count,
            bytes,
            retained,
        });
        self.last_to_global = to_global;
        self.last_retained_nodes = digest.retained_nodes;
        self.last_sample = digest.sample;
    }

    /// Measures an idle interval: `digest` is of a snapshot taken `seconds` after the last one
    /// added, with no load in between, built with this comparer's current basis. Nothing can
    /// be added after it; hand the result to [`Comparison::apply_idle`].
    pub fn idle(&self, digest: &Digest, seconds: f64) -> IdleSnapshot {
        let last = self.rungs.last().expect("an idle interval follows a rung");
        assert_eq!(digest.basis, self.basis(), "the digest was built for another place");
        let at = |key: &str| {
            self.by_key.get(key).map_or((0, 0), |&c| {
                let c = c as usize;
                (last.count.get(c).copied().unwrap_or(0), last.bytes.get(c).copied().unwrap_or(0))
            })
        };
        IdleSnapshot::build(digest, seconds, at, &self.keys)
    }

    /// For each snapshot after the first: its label, the fraction of the previous snapshot's
    /// objects it still has (by id), and the fraction of those that kept their class, measured
    /// on a sample of ids. Snapshots of one process in one inspector session share most ids,
    /// and a shared id is the same object, so its class stays; two runs of the same program
    /// also share most id *numbers* (V8 numbers objects in allocation order), but the objects
    /// behind them differ. Too small a sample to tell counts as a match.
    pub fn shared_id_fractions(&self) -> Vec<(&str, f64, f64)> {
        self.id_checks.iter().map(|c| (c.label.as_str(), c.shared, c.same_class)).collect()
    }

    fn intern(&mut self, key: &str) -> GlobalClass {
        if let Some(&c) = self.by_key.get(key) {
            return c;
        }
        let c = self.keys.len() as GlobalClass;
        self.keys.push(key.to_owned());
        self.by_key.insert(key.to_owned(), c);
        c
    }

    /// Compares all snapshots added so far. `last` must be the graph (with its analysis) of the
    /// last snapshot added: the explanations point into it. More snapshots can be added
    /// afterwards and compared again (the runner does, when a verdict is ambiguous).
    pub fn finish(
        &self,
        last: &HeapGraph,
        last_classes: &ClassIndex,
        last_dominators: &Dominators,
        thresholds: Thresholds,
    ) -> Comparison {
        assert!(self.rungs.len() >= 2, "a comparison needs at least two snapshots");
        let last_rung = &self.rungs[self.rungs.len() - 1];
        assert_eq!(
            self.last_retained_nodes.len(),
            last_rung.retained.len(),
            "the last digest compared keeps its nodes (see Digest::forget_nodes)"
        );
        Finisher { c: self, last, classes: last_classes, doms: last_dominators, thresholds }.run()
    }
}

/// How one class changed between two consecutive snapshots (DevTools' Comparison view).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IntervalChange {
    /// Objects present in the later snapshot and not in the earlier one.
    pub new: u64,
    /// Objects present in the earlier snapshot and gone from the later one.
    pub deleted: u64,
    /// Self bytes of the new objects.
    pub new_bytes: u64,
    /// Self bytes of the deleted objects.
    pub deleted_bytes: u64,
}

/// A group of a class's objects born after the baseline and kept alive by one persistent
/// object: where a leak lives.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cluster {
    /// The nearest object on the dominator tree that existed at the baseline (in the last
    /// snapshot). `None` when the objects are not reachable from the roots.
    pub anchor: Option<NodeRef>,
    /// The anchor's class key.
    pub anchor_class: Option<String>,
    /// The variable or property that holds the objects, read off the retainer path: the
    /// variable inside a closure context or global, else the name the anchor is held under
    /// (filled by [`Comparison::fill_paths`]).
    pub culprit: Option<String>,
    /// What the retainer path says about the pattern, e.g. listeners on an EventEmitter.
    pub hint: Option<String>,
    /// For a timer or listener leak, the callback it registered and where its code is
    /// (filled by [`Comparison::fill_callbacks`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<CodeLocation>,
    /// Objects of the class in the cluster.
    pub objects: u64,
    /// Their self bytes.
    pub bytes: u64,
    /// A representative object of the cluster (the largest), to show a retainer path for.
    pub sample: NodeRef,
    /// The sample's retainer path from the GC roots (filled by [`Comparison::fill_paths`]).
    pub path: Option<RetainerPath>,
}

/// A node of the last snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRef {
    /// Index in the last snapshot's graph.
    #[serde(skip)]
    pub index: NodeIndex,
    /// V8 heap object id (as `@id` in DevTools).
    pub id: u32,
}

/// Everything measured about one class key.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassGrowth {
    /// The class key.
    pub key: String,
    /// Objects at each rung.
    pub counts: Vec<u64>,
    /// Self bytes at each rung.
    pub bytes: Vec<u64>,
    /// Per interval: new and deleted objects.
    pub intervals: Vec<IntervalChange>,
    /// Per interval: objects allocated in that interval and still alive in the last snapshot.
    pub survivors: Vec<u64>,
    /// Verdict on the object count.
    pub count_fit: Fit,
    /// Verdict on the bytes.
    pub bytes_fit: Fit,
    /// Where the objects born after the baseline live (only for growing classes), largest first.
    pub clusters: Vec<Cluster>,
}

impl ClassGrowth {
    /// The stronger of the two verdicts: linear beats irregular beats the rest.
    pub fn trend(&self) -> Trend {
        let rank = |t: Trend| match t {
            Trend::Linear => 0,
            Trend::Irregular => 1,
            Trend::Stopped => 2,
            Trend::Reshuffled => 3,
            Trend::Shrinking => 4,
            Trend::Noise => 5,
        };
        let (a, b) = (self.count_fit.trend, self.bytes_fit.trend);
        if rank(a) <= rank(b) { a } else { b }
    }
}

/// A persistent object whose retained size grows with the load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    /// The object, in the last snapshot.
    pub node: NodeRef,
    /// Its class key.
    pub class: String,
    /// Its retained size at each rung, counting program data only (V8's code and metadata
    /// are left out: they grow with warm-up, not with load).
    pub retained: Vec<u64>,
    /// The verdict on its retained size.
    pub fit: Fit,
    /// The child (on the dominator tree) that retains most of what the holder retains, when
    /// one does: the edge name from the holder, e.g. `accessLog` in a closure context.
    pub largest_child: Option<Child>,
    /// The holder's retainer path from the GC roots (filled by [`Comparison::fill_paths`]).
    pub path: Option<RetainerPath>,
    /// The variable or property the growth hangs from: the holder's own name, or for a
    /// variable container (closure context, global) the variable inside it that grows.
    pub culprit: Option<String>,
}

/// The part of a holder that retains most of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Child {
    /// The edge name from the holder: a property, variable or V8 field (`table`, `elements`).
    pub name: String,
    /// The child object.
    pub node: NodeRef,
    /// Its share of the holder's retained size in the last snapshot (0 to 1).
    pub share: f64,
}

/// A snapshot's totals.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SnapshotTotals {
    /// The label the snapshot was added with.
    pub label: String,
    /// Steps of load before it was taken.
    pub steps: f64,
    /// Number of nodes.
    pub nodes: usize,
    /// Sum of all self sizes.
    pub bytes: u64,
}

/// The result of comparing snapshots of one process.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// The snapshots, in order.
    pub snapshots: Vec<SnapshotTotals>,
    /// Every class key seen, most grown (bytes) first.
    pub classes: Vec<ClassGrowth>,
    /// Persistent objects whose retained size grows linearly (or irregularly), largest first,
    /// already reduced to the deepest ones that account for the growth.
    pub holders: Vec<Holder>,
    /// Verdict on the total heap size.
    pub total_fit: Fit,
    /// Bytes of program data (V8's code and metadata left out) at each snapshot.
    pub program_bytes: Vec<f64>,
    /// The floors used: the defaults, raised to the run's noise.
    pub thresholds: Thresholds,
    /// How much the heap moved between snapshots apart from growth.
    pub noise: Noise,
    /// The smallest linear growth per request this comparison would have flagged.
    pub detection_limit: DetectionLimit,
    /// What grew in an idle interval after the last rung, when one was measured
    /// ([`Comparison::apply_idle`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<Idle>,
}

impl Comparison {
    /// Classes whose count or bytes grow linearly.
    pub fn leaking_classes(&self) -> impl Iterator<Item = &ClassGrowth> {
        self.classes.iter().filter(|c| c.trend() == Trend::Linear)
    }

    /// True when some class or holder grows unevenly: another rung would settle it.
    pub fn is_ambiguous(&self) -> bool {
        self.classes.iter().any(|c| c.trend() == Trend::Irregular)
            || self.holders.iter().any(|h| h.fit.trend == Trend::Irregular)
    }

    /// Attaches retainer paths to the clusters of growing classes and to the holders, computed
    /// by `path_of` on the last snapshot.
    pub fn fill_paths(&mut self, mut path_of: impl FnMut(NodeIndex) -> RetainerPath) {
        for class in &mut self.classes {
            for cluster in &mut class.clusters {
                let path = path_of(cluster.sample.index);
                let whole =
                    cluster.anchor.and_then(|a| continued(&path, a.id, || path_of(a.index)));
                let named = whole.as_ref().unwrap_or(&path);
                cluster.culprit = cluster.anchor.and_then(|a| {
                    culprit(named, a.id, cluster.anchor_class.as_deref().unwrap_or(""))
                });
                cluster.hint = cluster
                    .anchor
                    .and_then(|a| pattern_hint(named, a.id, cluster.anchor_class.as_deref()));
                cluster.path = Some(path);
            }
        }
        for holder in &mut self.holders {
            let path = path_of(holder.node.index);
            let inside = holder.largest_child.as_ref().map(|c| c.name.clone());
            holder.culprit = if is_runtime_list(&holder.class) {
                // Node's timer list for one duration: its variables are Node's.
                None
            } else if is_variable_container(&holder.class) {
                inside
            } else {
                user_name_above(&path, 0).or(inside)
            };
            holder.path = Some(path);
        }
    }

    /// True when something grows linearly.
    pub fn has_linear_growth(&self) -> bool {
        self.leaking_classes().next().is_some()
            || self.holders.iter().any(|h| h.fit.trend == Trend::Linear)
    }
}

const NONE: u32 = u32::MAX;
const MAX_CLUSTERS: usize = 3;
/// Clusters with less than this share of a class's post-baseline objects and bytes are
/// incidental.
const MIN_CLUSTER_SHARE: f64 = 0.05;
const MAX_HOLDERS: usize = 20;
/// A holder is explained by its growing children when they carry this share of its growth.
const EXPLAINED_SHARE: f64 = 0.8;

struct Finisher<'a> {
    c: &'a Comparer,
    last: &'a HeapGraph,
    classes: &'a ClassIndex,
    doms: &'a Dominators,
    thresholds: Thresholds,
}

impl Finisher<'_> {
    fn run(&self) -> Comparison {
        let rungs = &self.c.rungs;
        let xs: Vec<f64> = rungs.iter().map(|r| r.steps).collect();
        // The growing holders' walk over the last snapshot's list of retained sizes, the
        // longest step here, runs on a second thread while the classes are compared and the
        // growing ones' clusters found; it screens by the caller's floor, as the raised one
        // is known only once the classes are compared.
        let (series, compared) = super::beside(
            "growing holders",
            || self.holder_series(&xs, self.thresholds.bytes),
            || self.compare_classes(&xs),
        );
        let ComparedClasses { mut classes, program, noise, thresholds, detection_limit } = compared;
        let holders = self.holders(series, &xs, thresholds.bytes);
        classes.sort_by(|a, b| {
            let grow = |c: &ClassGrowth| c.bytes_fit.total;
            grow(b).total_cmp(&grow(a)).then_with(|| a.key.cmp(&b.key))
        });

        let totals: Vec<f64> = rungs.iter().map(|r| r.total_bytes as f64).collect();
        Comparison {
            snapshots: rungs
                .iter()
                .map(|r| SnapshotTotals {
                    label: r.label.clone(),
                    steps: r.steps,
                    nodes: r.node_count,
                    bytes: r.total_bytes,
                })
                .collect(),
            classes,
            holders,
            total_fit: classify(&xs, &totals, thresholds.bytes),
            program_bytes: program,
            thresholds,
            noise,
            detection_limit,
            idle: None,
        }
    }

    /// Every class compared across the rungs (counts, bytes, survivors, their fits against
    /// the floors raised by the run's own noise), the growing ones with their clusters.
    fn compare_classes(&self, xs: &[f64]) -> ComparedClasses {
        let rungs = &self.c.rungs;
        let k = rungs.len() - 1;
        let classes_total = self.c.keys.len();

        // Survivors per class and interval of birth (1..=k).
        let mut survivors = vec![vec![0u64; k]; classes_total];
        for node in self.last.nodes() {
            let born = self.birth(self.last.id(node));
            if born > 0 {
                survivors[self.global_class(node) as usize][born - 1] +=
                    self.classes.object_count(node);
            }
        }

        let mut classes = Vec::with_capacity(classes_total);
        for (class, survivors) in survivors.into_iter().enumerate() {
            let at = |v: &[u64]| v.get(class).copied().unwrap_or(0);
            let counts: Vec<u64> = rungs.iter().map(|r| at(&r.count)).collect();
            let bytes: Vec<u64> = rungs.iter().map(|r| at(&r.bytes)).collect();
            let runtime = is_runtime_class(&self.c.keys[class]);
            let count_fit = classify_class(xs, &counts, self.thresholds.objects, runtime, true);
            let bytes_fit = classify_class(xs, &bytes, self.thresholds.bytes, runtime, false);
            classes.push(ClassGrowth {
                key: self.c.keys[class].clone(),
                counts,
                bytes,
                intervals: self
                    .c
                    .intervals
                    .iter()
                    .map(|per| per.get(class).copied().unwrap_or_default())
                    .collect(),
                survivors,
                count_fit,
                bytes_fit,
                clusters: Vec::new(),
            });
        }

        // The run's own noise, measured on the classes that do not grow, raises the floors
        // (a class that moves that much both ways must not pass for a leak) and sets what the
        // run can promise: its detection limit.
        let program = program_totals(&classes);
        let noise = noise::measure(&classes, &program);
        let thresholds = Thresholds {
            objects: noise::raised(self.thresholds.objects, noise.class_objects),
            bytes: noise::raised(self.thresholds.bytes, noise.class_bytes),
        };
        if thresholds != self.thresholds {
            for class in &mut classes {
                let runtime = is_runtime_class(&class.key);
                class.count_fit =
                    classify_class(xs, &class.counts, thresholds.objects, runtime, true);
                class.bytes_fit =
                    classify_class(xs, &class.bytes, thresholds.bytes, runtime, false);
            }
        }
        let detection_limit =
            noise::detection_limit(xs, thresholds.bytes, thresholds.objects, &noise);
        stopped::mark_reshuffled(&mut classes, &program);
        stopped::mark_resized(
            &mut classes,
            thresholds.bytes.per_interval,
            thresholds.objects.per_interval,
        );

        let growing: Vec<usize> = (0..classes_total)
            .filter(|&c| matches!(classes[c].trend(), Trend::Linear | Trend::Irregular))
            .collect();
        if !growing.is_empty() {
            for (c, list) in growing.iter().zip(self.clusters(&growing)) {
                classes[*c].clusters = list;
            }
        }
        ComparedClasses { classes, program, noise, thresholds, detection_limit }
    }

    /// The index of the first snapshot that has the object (0 = the baseline): ids are
    /// handed out in increasing order and never reused, so an object is born in the first
    /// snapshot whose largest id is at least its own.
    /// Native nodes are looked up one by one.
    fn birth(&self, id: u32) -> usize {
        let rungs = &self.c.rungs;
        if is_native_id(id) {
            return rungs
                .iter()
                .position(|r| r.natives.binary_search_by_key(&id, |n| n.0).is_ok())
                .unwrap_or(rungs.len() - 1);
        }
        rungs.partition_point(|r| r.max_id < id).min(rungs.len() - 1)
    }

    fn is_baseline(&self, node: NodeIndex) -> bool {
        let id = self.last.id(node);
        let baseline = &self.c.rungs[0];
        if is_native_id(id) {
            baseline.natives.binary_search_by_key(&id, |n| n.0).is_ok()
        } else {
            id <= baseline.max_id
        }
    }

    fn global_class(&self, node: NodeIndex) -> GlobalClass {
        self.c.last_to_global[self.classes.class_of(node) as usize]
    }

    /// For each growing class: its post-baseline objects grouped by their nearest persistent
    /// dominator.
    fn clusters(&self, growing: &[usize]) -> Vec<Vec<Cluster>> {
        let n = self.last.node_count();
        let mut slot_of_class = vec![usize::MAX; self.c.keys.len()];
        for (slot, &c) in growing.iter().enumerate() {
            slot_of_class[c] = slot;
        }
        // (anchor, objects, bytes, sample, sample bytes) per growing class and anchor.
        let mut groups: Vec<HashMap<u32, (u64, u64, NodeIndex, u64)>> =
            vec![HashMap::new(); growing.len()];
        let mut anchor = vec![NONE; n];
        let mut stack = Vec::new();
        for node in self.last.nodes() {
            if self.is_baseline(node) {
                continue;
            }
            let slot = slot_of_class[self.global_class(node) as usize];
            if slot == usize::MAX {
                continue;
            }
            let a = self.anchor_of(node, &mut anchor, &mut stack);
            let size = self.last.self_size(node);
            let e = groups[slot].entry(a).or_insert((0, 0, node, 0));
            let object = self.classes.object_count(node);
            e.0 += object;
            e.1 += size;
            // The largest object, the oldest (lowest id) among equals: nodes come in heap
            // order, which differs from run to run, ids in allocation order. A backing store
            // is not an object of its own: its owner (as large, with it) is the sample.
            let id = self.last.id(node);
            let size = if object == 1 { size + self.store_bytes(node) } else { 0 };
            if object == 1
                && (self.classes.is_folded(e.2)
                    || size > e.3
                    || (size == e.3 && id < self.last.id(e.2)))
            {
                e.2 = node;
                e.3 = size;
            }
        }
        let node_ref = |index: NodeIndex| NodeRef { index, id: self.last.id(index) };
        groups
            .into_iter()
            .map(|g| {
                let mut list: Vec<Cluster> = g
                    .into_iter()
                    .map(|(a, (objects, bytes, sample, _))| Cluster {
                        anchor: (a != NONE).then(|| node_ref(a)),
                        anchor_class: (a != NONE).then(|| self.class_key_of(a)),
                        culprit: None,
                        hint: None,
                        callback: None,
                        objects,
                        bytes,
                        sample: node_ref(sample),
                        path: None,
                    })
                    .collect();
                list.sort_by(|a, b| {
                    (b.bytes, b.objects, b.sample.id).cmp(&(a.bytes, a.objects, a.sample.id))
                });
                // A handful of incidental objects (one on the stack, one in a code cache) are
                // not where a leak lives.
                let (objects, bytes) =
                    list.iter().fold((0, 0), |(o, b), c| (o + c.objects, b + c.bytes));
                list.retain(|c| {
                    c.objects as f64 >= MIN_CLUSTER_SHARE * objects as f64
                        && c.bytes as f64 >= MIN_CLUSTER_SHARE * bytes as f64
                });
                list.truncate(MAX_CLUSTERS);
                list
            })
            .collect()
    }

    /// The bytes of the backing stores folded into `node`'s class that it owns.
    fn store_bytes(&self, node: NodeIndex) -> u64 {
        let g = self.last;
        g.edges(node)
            .map(|e| g.edge_target(e))
            .filter(|&t| self.classes.is_folded(t) && self.doms.idom(t) == Some(node) && t != node)
            .map(|t| g.self_size(t))
            .sum()
    }

    fn class_key_of(&self, node: NodeIndex) -> String {
        self.c.keys[self.global_class(node) as usize].clone()
    }

    /// The nearest dominator of `node` that existed at the baseline (memoised with path
    /// compression, so a leaked linked list costs linear time, not quadratic).
    fn anchor_of(&self, node: NodeIndex, anchor: &mut [u32], stack: &mut Vec<NodeIndex>) -> u32 {
        stack.clear();
        let mut cur = node;
        let found = loop {
            if anchor[cur as usize] != NONE {
                break anchor[cur as usize];
            }
            stack.push(cur);
            match self.doms.idom(cur) {
                None => break NONE,
                Some(up) if self.is_baseline(up) || up == cur => break up,
                Some(up) => cur = up,
            }
        };
        for &s in stack.iter() {
            anchor[s as usize] = found;
        }
        found
    }

    /// The walk behind [`Finisher::holders`]: baseline objects that retain more than
    /// themselves now and may grow past `floor` (the caller's floor: the floor raised by the
    /// run's noise, known only once the classes are compared, is never lower, so this keeps
    /// every object the raised floor would), with their retained size at every rung.
    fn holder_series(&self, xs: &[f64], floor: NoiseFloor) -> Vec<(NodeIndex, Vec<u64>)> {
        let rungs = &self.c.rungs;
        let k = rungs.len() - 1;
        // All rungs list them ascending by id, so one merge walk finds each candidate's
        // earlier figures; one missing from a rung retained no more than itself then.
        let mut cursors: Vec<_> = rungs[..k].iter().map(|r| r.retained.iter().peekable()).collect();
        let mut found = Vec::new();
        let mut series = vec![0u64; k + 1];
        for ((id, now), &node) in rungs[k].retained.iter().zip(&self.c.last_retained_nodes) {
            let own = self.last.self_size(node);
            for (s, cursor) in cursors.iter_mut().enumerate() {
                while cursor.next_if(|&(i, _)| i < id).is_some() {}
                series[s] = cursor.next_if(|&(i, _)| i == id).map_or(own, |(_, v)| v);
            }
            series[k] = now;
            // Most retain about the same at every rung: screened before the fit allocates.
            let grows = may_grow(xs, series[0] as f64, now as f64, floor);
            if grows && self.last.kind(node) != NodeKind::Synthetic && self.is_baseline(node) {
                found.push((node, series.clone()));
            }
        }
        found
    }

    /// Persistent objects whose retained size grows, reduced to the deepest ones that carry
    /// the growth: of `series` (from [`Finisher::holder_series`]), those whose growth clears
    /// `floor` and fits a line (or grows irregularly).
    fn holders(
        &self,
        series: Vec<(NodeIndex, Vec<u64>)>,
        xs: &[f64],
        floor: NoiseFloor,
    ) -> Vec<Holder> {
        let mut candidates: HashMap<NodeIndex, (Vec<u64>, Fit)> = HashMap::new();
        for (node, series) in series {
            let (first, now) = (series[0] as f64, series[series.len() - 1] as f64);
            if !may_grow(xs, first, now, floor) {
                continue;
            }
            let fit = classify(xs, &as_f64(&series), floor);
            if matches!(fit.trend, Trend::Linear | Trend::Irregular) {
                candidates.insert(node, (series, fit));
            }
        }
        // A candidate is explained away when its nearest growing descendants on the dominator
        // tree carry most of its growth.
        let mut explained: HashMap<NodeIndex, f64> = HashMap::new();
        for (&node, (_, fit)) in &candidates {
            let mut cur = node;
            while let Some(up) = self.doms.idom(cur) {
                if up == cur {
                    break;
                }
                if candidates.contains_key(&up) {
                    *explained.entry(up).or_insert(0.0) += fit.total;
                    break;
                }
                cur = up;
            }
        }
        let mut holders: Vec<Holder> = candidates
            .into_iter()
            .filter(|(node, (_, fit))| {
                explained.get(node).copied().unwrap_or(0.0) < EXPLAINED_SHARE * fit.total
            })
            .map(|(node, (retained, fit))| Holder {
                node: NodeRef { index: node, id: self.last.id(node) },
                class: self.class_key_of(node),
                retained,
                fit,
                largest_child: self.largest_child(node),
                path: None,
                culprit: None,
            })
            .collect();
        holders.sort_by(|a, b| b.fit.total.total_cmp(&a.fit.total).then(a.node.id.cmp(&b.node.id)));
        holders.truncate(MAX_HOLDERS);
        holders
    }

    /// The holder's outgoing edge to the object it dominates with the largest retained size,
    /// when that object retains at least half of what the holder does.
    fn largest_child(&self, holder: NodeIndex) -> Option<Child> {
        let g = self.last;
        let mut best: Option<(u64, u32)> = None;
        for e in g.edges(holder) {
            let t = g.edge_target(e);
            if self.doms.idom(t) != Some(holder) || t == holder {
                continue;
            }
            let size = self.doms.retained_size(t);
            if best.is_none_or(|(s, _)| size > s) {
                best = Some((size, e));
            }
        }
        let (size, e) = best?;
        let share = size as f64 / self.doms.retained_size(holder).max(1) as f64;
        if share < 0.5 {
            return None;
        }
        let name = match g.edge_name(e) {
            crate::snapshot::EdgeName::Index(i) => format!("[{i}]"),
            crate::snapshot::EdgeName::Name(s) => s.to_owned(),
        };
        let t = g.edge_target(e);
        Some(Child { name, node: NodeRef { index: t, id: g.id(t) }, share })
    }
}

/// The program data (classes other than V8's code and metadata) at each snapshot, in bytes.
fn program_totals(classes: &[ClassGrowth]) -> Vec<f64> {
    let rungs = classes.first().map_or(0, |c| c.bytes.len());
    let mut total = vec![0.0; rungs];
    for class in classes.iter().filter(|c| !is_runtime_class(&c.key)) {
        for (t, &b) in total.iter_mut().zip(&class.bytes) {
            *t += b as f64;
        }
    }
    total
}
