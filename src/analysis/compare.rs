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
//! Each snapshot is reduced to a [`Digest`] (16 bytes per node) as soon as it is analysed, so
//! only the last snapshot's graph has to stay in memory, for the explanations.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::classes::ClassIndex;
use super::dominators::Dominators;
use super::explain::{culprit, is_variable_container, pattern_hint, user_name_above};
use super::growth::{Fit, NoiseFloor, Trend, classify};
use super::paths::RetainerPath;
pub use super::runtime::{data_retained_sizes, is_runtime_class, is_runtime_node};
use crate::snapshot::{HeapGraph, NodeIndex, NodeKind};

/// Index of a class key shared by all snapshots of a comparison.
pub type GlobalClass = u32;

/// One snapshot reduced to what comparison needs once its graph is gone.
#[derive(Clone, Debug)]
pub struct Digest {
    label: String,
    node_count: usize,
    /// Class keys of the snapshot's own [`ClassIndex`], until [`Comparer::push`] maps them to
    /// the comparison's shared keys.
    local_keys: Vec<String>,
    /// Objects and self bytes per class.
    class_count: Vec<u64>,
    class_bytes: Vec<u64>,
    /// Node ids in ascending order, with each node's class, self size (saturated) and index.
    ids: Vec<u32>,
    classes: Vec<GlobalClass>,
    sizes: Vec<u32>,
    nodes: Vec<NodeIndex>,
    /// `(id, data retained size)` of nodes that retain more than themselves, by id (see
    /// [`data_retained_sizes`]).
    retained: Vec<(u32, u64)>,
    total_bytes: u64,
}

impl Digest {
    /// Reduces an analysed snapshot to what comparison needs (16 bytes per node while it is the
    /// last snapshot, 12 once another follows).
    pub fn build(
        label: impl Into<String>,
        graph: &HeapGraph,
        classes: &ClassIndex,
        dominators: &Dominators,
    ) -> Digest {
        let n = graph.node_count();
        let mut class_count = vec![0u64; classes.len()];
        let mut class_bytes = vec![0u64; classes.len()];
        let mut order: Vec<u64> = Vec::with_capacity(n);
        let mut total_bytes = 0u64;
        for node in graph.nodes() {
            order.push(((graph.id(node) as u64) << 32) | node as u64);
            let class = classes.class_of(node) as usize;
            let size = graph.self_size(node);
            class_count[class] += 1;
            class_bytes[class] += size;
            total_bytes += size;
        }
        order.sort_unstable();
        let data_retained = data_retained_sizes(graph, dominators);
        let mut ids = Vec::with_capacity(n);
        let mut local_classes = Vec::with_capacity(n);
        let mut sizes = Vec::with_capacity(n);
        let mut nodes = Vec::with_capacity(n);
        let mut retained = Vec::new();
        for key in order {
            let node = key as u32;
            let id = (key >> 32) as u32;
            let size = graph.self_size(node);
            ids.push(id);
            local_classes.push(classes.class_of(node));
            sizes.push(size.min(u32::MAX as u64) as u32);
            nodes.push(node);
            let kept = data_retained[node as usize];
            if kept > size {
                retained.push((id, kept));
            }
        }
        Digest {
            label: label.into(),
            node_count: n,
            local_keys: classes.keys().to_vec(),
            class_count,
            class_bytes,
            ids,
            classes: local_classes,
            sizes,
            nodes,
            retained,
            total_bytes,
        }
    }

    /// The label given when the snapshot was added (a file name, or a rung name).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Number of nodes in the snapshot.
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    fn position(&self, id: u32) -> Option<usize> {
        self.ids.binary_search(&id).ok()
    }

    fn retained_of(&self, id: u32) -> u64 {
        match self.retained.binary_search_by_key(&id, |&(i, _)| i) {
            Ok(p) => self.retained[p].1,
            Err(_) => self.position(id).map_or(0, |p| self.sizes[p] as u64),
        }
    }
}

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

/// Collects snapshots of one process, in order, and compares them.
#[derive(Default)]
pub struct Comparer {
    keys: Vec<String>,
    by_key: HashMap<String, GlobalClass>,
    digests: Vec<Digest>,
    steps: Vec<f64>,
}

impl Comparer {
    /// An empty comparison.
    pub fn new() -> Comparer {
        Comparer::default()
    }

    /// Number of snapshots added so far.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// True before the first snapshot.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
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
        self.push(Digest::build(label, graph, classes, dominators), steps);
    }

    /// Adds the digest of the next snapshot, taken after `steps` units of load since the first.
    /// Digests are independent of each other, so they can be built on other threads.
    pub fn push(&mut self, mut digest: Digest, steps: f64) {
        if let Some(&last) = self.steps.last() {
            assert!(steps > last, "snapshots must be added in order of load");
        }
        let local_to_global: Vec<GlobalClass> =
            digest.local_keys.iter().map(|k| self.intern(k)).collect();
        for class in &mut digest.classes {
            *class = local_to_global[*class as usize];
        }
        let mut count = vec![0u64; self.keys.len()];
        let mut bytes = vec![0u64; self.keys.len()];
        for (local, &global) in local_to_global.iter().enumerate() {
            count[global as usize] += digest.class_count[local];
            bytes[global as usize] += digest.class_bytes[local];
        }
        digest.class_count = count;
        digest.class_bytes = bytes;
        digest.local_keys = Vec::new();
        // Node indices point into a graph; only the last snapshot's graph is explained.
        if let Some(previous) = self.digests.last_mut() {
            previous.nodes = Vec::new();
        }
        self.digests.push(digest);
        self.steps.push(steps);
    }

    /// For each snapshot after the first: its label, the fraction of the previous snapshot's
    /// objects it still has (by id), and the fraction of those that kept their class. Snapshots
    /// of one process in one inspector session share most ids, and a shared id is the same
    /// object, so its class stays; two runs of the same program also share most id *numbers*
    /// (V8 numbers objects in allocation order), but the objects behind them differ.
    pub fn shared_id_fractions(&self) -> Vec<(&str, f64, f64)> {
        self.digests
            .windows(2)
            .map(|pair| {
                let (a, b) = (&pair[0], &pair[1]);
                let (mut i, mut j, mut shared, mut same_class) = (0, 0, 0usize, 0usize);
                while i < a.ids.len() && j < b.ids.len() {
                    match a.ids[i].cmp(&b.ids[j]) {
                        std::cmp::Ordering::Less => i += 1,
                        std::cmp::Ordering::Greater => j += 1,
                        std::cmp::Ordering::Equal => {
                            shared += 1;
                            same_class += (a.classes[i] == b.classes[j]) as usize;
                            i += 1;
                            j += 1;
                        }
                    }
                }
                (
                    b.label.as_str(),
                    shared as f64 / a.ids.len().max(1) as f64,
                    same_class as f64 / shared.max(1) as f64,
                )
            })
            .collect()
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
        last_dominators: &Dominators,
        thresholds: Thresholds,
    ) -> Comparison {
        assert!(self.digests.len() >= 2, "a comparison needs at least two snapshots");
        Finisher { c: self, last, doms: last_dominators, thresholds }.run()
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
            Trend::Shrinking => 3,
            Trend::Noise => 4,
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
    /// The floors used.
    pub thresholds: Thresholds,
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
                cluster.culprit = cluster.anchor.and_then(|a| {
                    culprit(&path, a.id, cluster.anchor_class.as_deref().unwrap_or(""))
                });
                cluster.hint = cluster
                    .anchor
                    .and_then(|a| pattern_hint(&path, a.id, cluster.anchor_class.as_deref()));
                cluster.path = Some(path);
            }
        }
        for holder in &mut self.holders {
            let path = path_of(holder.node.index);
            let inside = holder.largest_child.as_ref().map(|c| c.name.clone());
            holder.culprit = if is_variable_container(&holder.class) {
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
/// Marks a node of the last snapshot that existed at the baseline.
const BASELINE: u8 = 0;
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
    doms: &'a Dominators,
    thresholds: Thresholds,
}

impl Finisher<'_> {
    fn run(&self) -> Comparison {
        let digests = &self.c.digests;
        let k = digests.len() - 1;
        let classes_total = self.c.keys.len();
        let xs = &self.c.steps;
        let last = &digests[k];

        let intervals = self.interval_changes(classes_total);
        let birth = self.birth_of_last();

        // Survivors per class and interval of birth (1..=k).
        let mut survivors = vec![vec![0u64; k]; classes_total];
        for (p, &b) in birth.iter().enumerate() {
            if b != BASELINE {
                survivors[last.classes[p] as usize][b as usize - 1] += 1;
            }
        }

        let mut classes = Vec::with_capacity(classes_total);
        for class in 0..classes_total {
            let counts: Vec<u64> =
                digests.iter().map(|d| d.class_count.get(class).copied().unwrap_or(0)).collect();
            let bytes: Vec<u64> =
                digests.iter().map(|d| d.class_bytes.get(class).copied().unwrap_or(0)).collect();
            let runtime = is_runtime_class(&self.c.keys[class]);
            let count_fit = classify_class(xs, &counts, self.thresholds.objects, runtime, true);
            let bytes_fit = classify_class(xs, &bytes, self.thresholds.bytes, runtime, false);
            classes.push(ClassGrowth {
                key: self.c.keys[class].clone(),
                counts,
                bytes,
                intervals: intervals.iter().map(|per| per[class]).collect(),
                survivors: survivors[class].clone(),
                count_fit,
                bytes_fit,
                clusters: Vec::new(),
            });
        }

        let growing: Vec<usize> = (0..classes_total)
            .filter(|&c| matches!(classes[c].trend(), Trend::Linear | Trend::Irregular))
            .collect();
        if !growing.is_empty() {
            let clusters = self.clusters(&birth, &growing);
            for (c, list) in growing.iter().zip(clusters) {
                classes[*c].clusters = list;
            }
        }
        classes.sort_by(|a, b| {
            let grow = |c: &ClassGrowth| c.bytes_fit.total;
            grow(b).total_cmp(&grow(a)).then_with(|| a.key.cmp(&b.key))
        });

        let totals: Vec<f64> = digests.iter().map(|d| d.total_bytes as f64).collect();
        Comparison {
            snapshots: digests
                .iter()
                .zip(xs)
                .map(|(d, &steps)| SnapshotTotals {
                    label: d.label.clone(),
                    steps,
                    nodes: d.node_count,
                    bytes: d.total_bytes,
                })
                .collect(),
            classes,
            holders: self.holders(&birth),
            total_fit: classify(xs, &totals, self.thresholds.bytes),
            thresholds: self.thresholds,
        }
    }

    /// New and deleted objects per class, for each pair of consecutive snapshots.
    fn interval_changes(&self, classes_total: usize) -> Vec<Vec<IntervalChange>> {
        let digests = &self.c.digests;
        let mut out = Vec::with_capacity(digests.len() - 1);
        for pair in digests.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let mut per = vec![IntervalChange::default(); classes_total];
            let (mut i, mut j) = (0, 0);
            while i < a.ids.len() || j < b.ids.len() {
                let ai = a.ids.get(i).copied().unwrap_or(u32::MAX);
                let bj = b.ids.get(j).copied().unwrap_or(u32::MAX);
                if i < a.ids.len() && (j >= b.ids.len() || ai < bj) {
                    let ch = &mut per[a.classes[i] as usize];
                    ch.deleted += 1;
                    ch.deleted_bytes += a.sizes[i] as u64;
                    i += 1;
                } else if j < b.ids.len() && (i >= a.ids.len() || bj < ai) {
                    let ch = &mut per[b.classes[j] as usize];
                    ch.new += 1;
                    ch.new_bytes += b.sizes[j] as u64;
                    j += 1;
                } else {
                    i += 1;
                    j += 1;
                }
            }
            out.push(per);
        }
        out
    }

    /// For each node of the last snapshot (in id order): the index of the first snapshot that
    /// has it (0 = the baseline). Ids are never reused, so present in S(b) and in Sk means
    /// alive all along from S(b).
    fn birth_of_last(&self) -> Vec<u8> {
        let digests = &self.c.digests;
        let k = digests.len() - 1;
        let last = &digests[k];
        let mut birth = vec![k.min(u8::MAX as usize) as u8; last.ids.len()];
        for (s, d) in digests[..k].iter().enumerate().rev() {
            let (mut i, mut j) = (0, 0);
            while i < d.ids.len() && j < last.ids.len() {
                match d.ids[i].cmp(&last.ids[j]) {
                    std::cmp::Ordering::Less => i += 1,
                    std::cmp::Ordering::Greater => j += 1,
                    std::cmp::Ordering::Equal => {
                        birth[j] = s.min(u8::MAX as usize) as u8;
                        i += 1;
                        j += 1;
                    }
                }
            }
        }
        birth
    }

    /// For each growing class: its post-baseline objects grouped by their nearest persistent
    /// dominator.
    fn clusters(&self, birth: &[u8], growing: &[usize]) -> Vec<Vec<Cluster>> {
        let last = &self.c.digests[self.c.digests.len() - 1];
        let n = self.last.node_count();
        let mut persistent = vec![false; n];
        for (p, &b) in birth.iter().enumerate() {
            if b == BASELINE {
                persistent[last.nodes[p] as usize] = true;
            }
        }
        let mut slot_of_class = vec![usize::MAX; self.c.keys.len()];
        for (slot, &c) in growing.iter().enumerate() {
            slot_of_class[c] = slot;
        }
        // (anchor, objects, bytes, sample, sample bytes) per growing class and anchor.
        let mut groups: Vec<HashMap<u32, (u64, u64, NodeIndex, u64)>> =
            vec![HashMap::new(); growing.len()];
        let mut anchor = vec![NONE; n];
        let mut stack = Vec::new();
        for (p, &b) in birth.iter().enumerate() {
            if b == BASELINE {
                continue;
            }
            let slot = slot_of_class[last.classes[p] as usize];
            if slot == usize::MAX {
                continue;
            }
            let node = last.nodes[p];
            let a = self.anchor_of(node, &persistent, &mut anchor, &mut stack);
            let size = self.last.self_size(node);
            let e = groups[slot].entry(a).or_insert((0, 0, node, 0));
            e.0 += 1;
            e.1 += size;
            if size > e.3 {
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

    fn class_key_of(&self, node: NodeIndex) -> String {
        let last = &self.c.digests[self.c.digests.len() - 1];
        match last.position(self.last.id(node)) {
            Some(p) => self.c.keys[last.classes[p] as usize].clone(),
            None => String::new(),
        }
    }

    /// The nearest dominator of `node` that existed at the baseline (memoised with path
    /// compression, so a leaked linked list costs linear time, not quadratic).
    fn anchor_of(
        &self,
        node: NodeIndex,
        persistent: &[bool],
        anchor: &mut [u32],
        stack: &mut Vec<NodeIndex>,
    ) -> u32 {
        stack.clear();
        let mut cur = node;
        let found = loop {
            if anchor[cur as usize] != NONE {
                break anchor[cur as usize];
            }
            stack.push(cur);
            match self.doms.idom(cur) {
                None => break NONE,
                Some(up) if persistent[up as usize] || up == cur => break up,
                Some(up) => cur = up,
            }
        };
        for &s in stack.iter() {
            anchor[s as usize] = found;
        }
        found
    }

    /// Persistent objects whose retained size grows, reduced to the deepest ones that carry
    /// the growth.
    fn holders(&self, birth: &[u8]) -> Vec<Holder> {
        let digests = &self.c.digests;
        let k = digests.len() - 1;
        let last = &digests[k];
        let xs = &self.c.steps;
        // Candidates: persistent objects that retain more than themselves now.
        let mut candidates: HashMap<NodeIndex, (Vec<u64>, Fit, usize)> = HashMap::new();
        for &(id, _) in &last.retained {
            let Some(p) = last.position(id) else { continue };
            if birth[p] != BASELINE || self.last.kind(last.nodes[p]) == NodeKind::Synthetic {
                continue;
            }
            let series: Vec<u64> = digests.iter().map(|d| d.retained_of(id)).collect();
            let fit = classify(xs, &as_f64(&series), self.thresholds.bytes);
            if matches!(fit.trend, Trend::Linear | Trend::Irregular) {
                candidates.insert(last.nodes[p], (series, fit, p));
            }
        }
        // A candidate is explained away when its nearest growing descendants on the dominator
        // tree carry most of its growth.
        let mut explained: HashMap<NodeIndex, f64> = HashMap::new();
        for (&node, (_, fit, _)) in &candidates {
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
            .filter(|(node, (_, fit, _))| {
                explained.get(node).copied().unwrap_or(0.0) < EXPLAINED_SHARE * fit.total
            })
            .map(|(node, (retained, fit, p))| Holder {
                node: NodeRef { index: node, id: last.ids[p] },
                class: self.c.keys[last.classes[p] as usize].clone(),
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

/// Noise floors for V8's own code and metadata: tiering keeps compiling and optimising for
/// thousands of requests at a fraction of an object per request, while code that really leaks
/// (a fresh `new Function` or `vm.Script` per request) adds at least one object per request.
const RUNTIME_OBJECTS: NoiseFloor = NoiseFloor { per_interval: 64.0, per_step: 1.0 };
const RUNTIME_BYTES: NoiseFloor = NoiseFloor { per_interval: 32768.0, per_step: 256.0 };

/// [`classify`], with runtime classes held to a higher floor and three agreeing intervals
/// (see [`is_runtime_class`]).
fn classify_class(xs: &[f64], ys: &[u64], floor: NoiseFloor, runtime: bool, objects: bool) -> Fit {
    let floor = match (runtime, objects) {
        (false, _) => floor,
        (true, true) => NoiseFloor {
            per_interval: floor.per_interval.max(RUNTIME_OBJECTS.per_interval),
            per_step: floor.per_step.max(RUNTIME_OBJECTS.per_step),
        },
        (true, false) => NoiseFloor {
            per_interval: floor.per_interval.max(RUNTIME_BYTES.per_interval),
            per_step: floor.per_step.max(RUNTIME_BYTES.per_step),
        },
    };
    let mut fit = classify(xs, &as_f64(ys), floor);
    if runtime && fit.trend == Trend::Linear && xs.len() < 4 {
        fit.trend = Trend::Irregular;
    }
    fit
}

fn as_f64(v: &[u64]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}
