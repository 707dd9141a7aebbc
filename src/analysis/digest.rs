//! One snapshot reduced to what comparing it with the others needs, once its graph is gone.
//!
//! V8 numbers heap objects when a snapshot first sees them, from a counter that only goes up
//! (odd numbers, in steps of 2), and keeps the numbers for the whole inspector session. So an
//! object of snapshot S(i) with an id above the largest id of S(i-1) was allocated after
//! S(i-1), and one at or below it was already there. That makes per-node tables unnecessary:
//! the largest id of each snapshot says when every object was born. The embedder's native
//! nodes (`Node / ...`) are the exception: their ids are even numbers made from addresses, in
//! no order, so they are few enough to be kept one by one. DevTools' Comparison view (new, deleted) follows from counting,
//! per class, the objects born before the previous snapshot; survivors follow from the last
//! graph alone.
//!
//! What does need per-object memory is the growing-holder search: the retained size of every
//! baseline object at every rung. A digest keeps it only for objects that retain more than
//! themselves, ascending by id, delta- and varint-coded (about 3 bytes an object). The rest of
//! a digest is per class, plus a small sample of ids to check that the snapshots come from
//! one process.

use std::hash::{DefaultHasher, Hash, Hasher};

use super::by_id::sort_by_id;
use super::classes::ClassIndex;
use super::dominators::Dominators;
use super::runtime::{DataRetained, data_retained_sizes};
use crate::snapshot::{HeapGraph, NodeIndex};

/// What a digest needs to know about the snapshots before it: the largest ids of the previous
/// snapshot and of the first (the baseline). Get it from [`super::compare::Comparer::basis`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Basis {
    /// Largest id of the snapshot before; `None` for the first.
    pub previous_max_id: Option<u32>,
    /// Largest id of the first snapshot; `None` for the first itself.
    pub baseline_max_id: Option<u32>,
}

/// One snapshot reduced to what comparison needs once its graph is gone.
#[derive(Clone, Debug)]
pub struct Digest {
    pub(super) label: String,
    pub(super) node_count: usize,
    pub(super) total_bytes: u64,
    /// The largest id of a V8 heap object (odd ids; natives are left out).
    pub(super) max_id: u32,
    pub(super) basis: Basis,
    /// Class keys of the snapshot's own [`ClassIndex`]; the per-class columns below are indexed
    /// by them until [`super::compare::Comparer::push`] maps them to shared keys.
    pub(super) local_keys: Vec<String>,
    /// Objects and self bytes per class.
    pub(super) count: Vec<u64>,
    pub(super) bytes: Vec<u64>,
    /// Of those, the V8 heap objects already there at the previous snapshot (id at most its
    /// largest).
    pub(super) old_count: Vec<u64>,
    pub(super) old_bytes: Vec<u64>,
    /// Native nodes (even ids): `(id, class, self size)`, ascending by id.
    pub(super) natives: Vec<(u32, u32, u64)>,
    /// Data retained size of every baseline object that retains more than itself.
    pub(super) retained: IdValues,
    /// The nodes of `retained`'s entries, in this snapshot's graph, while it is the last one.
    pub(super) retained_nodes: Vec<NodeIndex>,
    /// `(id, hash of the class key)` of the objects whose id is in the sample, ascending.
    pub(super) sample: IdSample,
}

impl Digest {
    /// Reduces an analysed snapshot to what comparison needs. `basis` comes from the comparer
    /// the digest will be pushed to.
    pub fn build(
        label: impl Into<String>,
        graph: &HeapGraph,
        classes: &ClassIndex,
        dominators: &Dominators,
        basis: Basis,
    ) -> Digest {
        Digest::from_data(label, graph, classes, &data_retained_sizes(graph, dominators), basis)
    }

    /// [`Digest::build`], given the retained sizes of program data (which the dominator
    /// tree's retained sizes are summed with: see [`super::analyse_for_digest`]).
    pub fn from_data(
        label: impl Into<String>,
        graph: &HeapGraph,
        classes: &ClassIndex,
        data: &DataRetained,
        basis: Basis,
    ) -> Digest {
        // The list of retained sizes is built on a second thread while this one counts.
        let ((retained, retained_nodes), mut d) = super::beside(
            "retained sizes",
            || retained_list(graph, data, basis, false),
            || Digest::count(label.into(), graph, classes, basis),
        );
        d.retained = retained;
        d.retained_nodes = retained_nodes;
        d
    }

    /// Adds the list of retained sizes to a digest made by [`Digest::count`], given the
    /// retained sizes of program data.
    pub(super) fn add_retained(&mut self, graph: &HeapGraph, data: &DataRetained) {
        (self.retained, self.retained_nodes) = retained_list(graph, data, self.basis, true);
    }

    /// Everything but the list of retained sizes: objects, bytes and natives per class, the
    /// largest id, the sample of ids.
    pub(super) fn count(
        label: String,
        graph: &HeapGraph,
        classes: &ClassIndex,
        basis: Basis,
    ) -> Digest {
        let all = 0..graph.node_count() as NodeIndex;
        Digest::count_nodes(label, graph, classes, basis, all).counted(classes)
    }

    /// [`Digest::count`] of some of the nodes, before [`Digest::counted`]: counts of two
    /// ranges add up with [`Digest::add_counts`] (for two threads to share the work).
    pub(super) fn count_nodes(
        label: String,
        graph: &HeapGraph,
        classes: &ClassIndex,
        basis: Basis,
        nodes: std::ops::Range<NodeIndex>,
    ) -> Digest {
        // Class keys are hashed as the sample meets them: most classes (shapes) have a few
        // objects, none of them sampled.
        let mut key_hash: Vec<Option<u64>> = vec![None; classes.len()];
        let mut hash_of = |class: usize| {
            *key_hash[class].get_or_insert_with(|| {
                let mut h = DefaultHasher::new();
                classes.keys()[class].hash(&mut h);
                h.finish()
            })
        };
        let previous = basis.previous_max_id.unwrap_or(0);
        let mut d = Digest {
            label,
            node_count: graph.node_count(),
            total_bytes: 0,
            max_id: 0,
            basis,
            // Set once, by `counted`: two ranges' counts need them once.
            local_keys: Vec::new(),
            count: vec![0; classes.len()],
            bytes: vec![0; classes.len()],
            old_count: vec![0; classes.len()],
            old_bytes: vec![0; classes.len()],
            natives: Vec::new(),
            retained: IdValues::default(),
            retained_nodes: Vec::new(),
            sample: IdSample { all: graph.node_count() < SAMPLE_ALL_BELOW, ids: Vec::new() },
        };
        for node in nodes {
            let class = classes.class_of(node) as usize;
            let size = graph.self_size(node);
            let id = graph.id(node);
            // A folded backing store adds its bytes to its owner's class, not an object.
            let object = classes.object_count(node);
            d.count[class] += object;
            d.bytes[class] += size;
            d.total_bytes += size;
            if is_native_id(id) {
                d.natives.push((id, class as u32, size));
            } else {
                d.max_id = d.max_id.max(id);
                if id <= previous && basis.previous_max_id.is_some() {
                    d.old_count[class] += object;
                    d.old_bytes[class] += size;
                }
            }
            if d.sample.all || in_sample(id) {
                d.sample.ids.push((id, hash_of(class)));
            }
        }
        d
    }

    /// The counts of another range of the same snapshot's nodes added to these.
    pub(super) fn add_counts(mut self, other: Digest) -> Digest {
        let add = |mine: &mut Vec<u64>, theirs: Vec<u64>| {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m += t;
            }
        };
        add(&mut self.count, other.count);
        add(&mut self.bytes, other.bytes);
        add(&mut self.old_count, other.old_count);
        add(&mut self.old_bytes, other.old_bytes);
        self.total_bytes += other.total_bytes;
        self.max_id = self.max_id.max(other.max_id);
        self.natives.extend(other.natives);
        self.sample.ids.extend(other.sample.ids);
        self
    }

    /// The counts made whole: the class keys (`classes`, those counted with), natives and
    /// sampled ids in order.
    pub(super) fn counted(mut self, classes: &ClassIndex) -> Digest {
        self.local_keys = classes.keys().to_vec();
        self.sample.ids.sort_unstable();
        self.natives.sort_unstable();
        self
    }

    /// The label given when the snapshot was added (a file name, or a rung name).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Number of nodes in the snapshot.
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// The largest object id in the snapshot.
    pub fn max_id(&self) -> u32 {
        self.max_id
    }

    /// Drops the nodes behind the list of retained sizes, for a digest that will not be the
    /// last one compared: a comparison reads the last snapshot's only, and `diff` keeps the
    /// earlier digests while it analyses the last (4 bytes an entry: 7.8 MB on a 3.9M-node
    /// snapshot, held through the next one's dominator tree, the peak).
    pub fn forget_nodes(&mut self) {
        self.retained_nodes = Vec::new();
    }

    /// Bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.retained.bytes.capacity()
            + self.retained_nodes.capacity() * 4
            + self.sample.ids.capacity() * 16
            + self.count.capacity() * 32
            + self.natives.capacity() * 16
    }
}

/// The data retained size of every baseline object that retains more than itself, ascending
/// by id, with the objects' nodes. With `halves`, each half of the nodes is listed on a
/// thread of its own (the filter is most of the work; the order is found in two linear passes,
/// see `analysis/by_id.rs`), for the last snapshot, whose list is made with nothing else left
/// to run.
fn retained_list(
    graph: &HeapGraph,
    data: &DataRetained,
    basis: Basis,
    halves: bool,
) -> (IdValues, Vec<NodeIndex>) {
    // The first snapshot is its own baseline.
    let baseline = basis.baseline_max_id.unwrap_or_else(|| max_object_id(graph));
    // Node indices, put in id order afterwards (half the memory of (id, node) pairs, and the
    // sorted indices are the list's nodes). Each node is written at the list's end and kept
    // by moving the end past it: the test passes for about half of the nodes in no pattern a
    // branch could predict (as a filter, 12 ns a node). The list is allocated zeroed, so only
    // the pages written are touched.
    let listed = |nodes: std::ops::Range<NodeIndex>| -> Vec<NodeIndex> {
        let mut list = vec![0; nodes.len()];
        let mut len = 0;
        for v in nodes {
            let id = graph.id(v);
            let keep = (id <= baseline) | is_native_id(id);
            list[len] = v;
            len += (keep & (data.get(v) > graph.self_size(v))) as usize;
        }
        list.truncate(len);
        list
    };
    let n = graph.node_count() as NodeIndex;
    let nodes = if halves {
        let mid = n / 2;
        let (second, mut first) =
            super::beside("retained sizes", || listed(mid..n), || listed(0..mid));
        first.extend_from_slice(&second);
        first
    } else {
        listed(0..n)
    };
    let nodes = sort_by_id(graph, baseline, nodes);
    let mut retained = IdValues::default();
    for &node in &nodes {
        retained.push(graph.id(node), data.get(node));
    }
    (retained, nodes)
}

/// The largest id V8's counter gave an object of the graph (what [`Basis`] holds).
pub fn max_object_id(graph: &HeapGraph) -> u32 {
    graph.nodes().map(|v| graph.id(v)).filter(|&id| !is_native_id(id)).max().unwrap_or(0)
}

/// Even ids are the embedder's native nodes, numbered from addresses rather than by V8's
/// counter.
pub(super) fn is_native_id(id: u32) -> bool {
    id & 1 == 0
}

/// Snapshots of fewer nodes keep every id in their sample.
const SAMPLE_ALL_BELOW: usize = 8192;

/// Ids of a snapshot with the hash of their class key: every id of a small snapshot, else the
/// ids [`in_sample`] picks.
#[derive(Clone, Debug, Default)]
pub(super) struct IdSample {
    pub(super) all: bool,
    pub(super) ids: Vec<(u32, u64)>,
}

/// One id in 16 is sampled, chosen by a hash of the id so that every snapshot samples the
/// same ids.
pub(super) fn in_sample(id: u32) -> bool {
    id.wrapping_mul(0x9E37_79B1) >> 28 == 0
}

/// `(id, value)` pairs ascending by id, stored as varint-coded id gaps and values: a dense run
/// of V8 ids (they step by 2) and a small value take 2 to 4 bytes instead of 16.
#[derive(Clone, Debug, Default)]
pub(super) struct IdValues {
    bytes: Vec<u8>,
    len: usize,
    last_id: u32,
}

impl IdValues {
    fn push(&mut self, id: u32, value: u64) {
        debug_assert!(self.len == 0 || id > self.last_id, "ids ascend");
        let gap = if self.len == 0 { id } else { id - self.last_id };
        put_varint(&mut self.bytes, gap as u64);
        put_varint(&mut self.bytes, value);
        self.last_id = id;
        self.len += 1;
    }

    /// How many ids it holds.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The pairs, in ascending id order.
    pub(super) fn iter(&self) -> IdValuesIter<'_> {
        IdValuesIter { bytes: &self.bytes, id: 0 }
    }

    pub(super) fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
    }
}

pub(super) struct IdValuesIter<'a> {
    bytes: &'a [u8],
    id: u32,
}

impl Iterator for IdValuesIter<'_> {
    type Item = (u32, u64);

    fn next(&mut self) -> Option<(u32, u64)> {
        if self.bytes.is_empty() {
            return None;
        }
        let gap = take_varint(&mut self.bytes);
        let value = take_varint(&mut self.bytes);
        self.id += gap as u32;
        Some((self.id, value))
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = bytes[0];
        *bytes = &bytes[1..];
        v |= ((b & 0x7f) as u64) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// How far the objects a snapshot shares (by id) with the one before match it.
pub(super) struct IdCheck {
    pub(super) label: String,
    pub(super) shared: f64,
    pub(super) same_class: f64,
}

/// Fewer sampled ids than this cannot tell two processes apart (unless the sample holds every
/// id of both snapshots).
const MIN_SAMPLE: usize = 32;

pub(super) fn check_ids(before: &IdSample, after: &IdSample, label: &str) -> IdCheck {
    // When either sample is partial, only the ids a partial sample picks count: an id missing
    // from the other sample is then missing from its snapshot.
    let exact = before.all && after.all;
    // Walked in place, both ascending: copying the picked ids first cost 16 MB of new pages
    // for two 3.9M-node snapshots, at the end of `diff`.
    fn picked(s: &IdSample, exact: bool) -> impl Iterator<Item = (u32, u64)> + '_ {
        s.ids.iter().copied().filter(move |&(id, _)| exact || in_sample(id))
    }
    let mut later = picked(after, exact).peekable();
    let (mut picked_before, mut shared, mut same_class) = (0usize, 0usize, 0usize);
    for (id, class) in picked(before, exact) {
        picked_before += 1;
        while later.next_if(|&(other, _)| other < id).is_some() {}
        if let Some((_, other_class)) = later.next_if(|&(other, _)| other == id) {
            shared += 1;
            same_class += (class == other_class) as usize;
        }
    }
    let enough = exact && picked_before > 0 || picked_before >= MIN_SAMPLE;
    IdCheck {
        label: label.to_owned(),
        shared: if enough { shared as f64 / picked_before as f64 } else { 1.0 },
        same_class: if enough && shared > 0 { same_class as f64 / shared as f64 } else { 1.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_values_round_trip() {
        let pairs = [(1u32, 0u64), (3, 127), (5, 128), (1001, u32::MAX as u64 + 7), (u32::MAX, 1)];
        let mut list = IdValues::default();
        for &(id, v) in &pairs {
            list.push(id, v);
        }
        assert_eq!(list.len, pairs.len());
        assert_eq!(list.iter().collect::<Vec<_>>(), pairs);
    }

    /// The list made in two halves is the list made in one go: a heap of chains
    /// whose ids run up and down (so both halves hold ids of all ranges), objects past the
    /// baseline, natives, and objects that retain only themselves.
    #[test]
    fn retained_list_in_halves_is_the_same_list() {
        use crate::snapshot::{EdgeKind, GraphBuilder, NodeKind};
        for n in [0u32, 1, 2, 7, 100, 1001] {
            let mut b = GraphBuilder::new();
            let root = b.node(NodeKind::Synthetic, "", 1, 0);
            let mut holder = root;
            for k in 0..n {
                // Unique odd ids (V8's objects) in a scrambled order, some past the
                // baseline's largest (3,000), and a few natives.
                let id = match k % 7 {
                    5 => 0x8000_0000u32 | (k << 1),
                    _ => 4 * ((k * 7919) % 1009) + 3,
                };
                let node = b.node(NodeKind::Object, "Item", id, 8 + k as u64 % 3);
                b.edge(holder, EdgeKind::Property, "next", node);
                holder = if k % 4 == 0 { root } else { node };
            }
            let graph = b.build();
            let data = data_retained_sizes(&graph, &Dominators::compute(&graph));
            let basis = Basis { previous_max_id: Some(4000), baseline_max_id: Some(3000) };
            let (one, one_nodes) = retained_list(&graph, &data, basis, false);
            let (two, two_nodes) = retained_list(&graph, &data, basis, true);
            assert_eq!(one_nodes, two_nodes, "{n} nodes");
            assert_eq!(one.iter().collect::<Vec<_>>(), two.iter().collect::<Vec<_>>());
            assert!(n < 100 || one.len() > 10, "{n} nodes gave {} entries", one.len());
        }
    }

    /// Counts of two ranges of nodes, added, are the counts of all the nodes, wherever the
    /// ranges split (natives, sampled ids and objects past the previous snapshot included).
    #[test]
    fn counts_of_two_ranges_add_up_to_the_count_of_all() {
        use crate::snapshot::{EdgeKind, GraphBuilder, NodeKind};
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", 1, 0);
        for k in 0..20_000u32 {
            let (class, id) = match k % 5 {
                0 => ("Node / Socket", 0x8000_0000 | (k * 2)),
                1 => ("Item", 2 * k + 3),
                _ => ("Array", 2 * ((k * 7919) % 20_000) + 40_003),
            };
            let node = b.node(NodeKind::Object, class, id, 8 + (k % 7) as u64);
            b.edge(root, EdgeKind::Property, "p", node);
        }
        let graph = b.build();
        let classes = ClassIndex::build(&graph);
        let basis = Basis { previous_max_id: Some(30_001), baseline_max_id: Some(20_001) };
        let whole = Digest::count("s".into(), &graph, &classes, basis);
        assert!(!whole.natives.is_empty() && whole.old_count.iter().sum::<u64>() > 0);
        let n = graph.node_count() as NodeIndex;
        for mid in [0, 1, n / 3, n / 2, n - 1, n] {
            let count = |nodes| Digest::count_nodes("s".into(), &graph, &classes, basis, nodes);
            let halves = count(mid..n).add_counts(count(0..mid)).counted(&classes);
            assert_eq!(format!("{halves:?}"), format!("{whole:?}"), "split at {mid}");
        }
    }

    #[test]
    fn the_sample_is_about_one_id_in_sixteen() {
        let hits = (0..160_000u32).step_by(2).filter(|&id| in_sample(id)).count();
        assert!((4_000..6_000).contains(&hits), "{hits} of 80000 ids sampled");
    }

    /// The shares of ids in common, and of those of the same class, by their definition:
    /// over the ids both samples would pick.
    fn shares_by_definition(before: &IdSample, after: &IdSample) -> (f64, f64) {
        let exact = before.all && after.all;
        let picked = |s: &IdSample| -> std::collections::BTreeMap<u32, u64> {
            s.ids.iter().copied().filter(|&(id, _)| exact || in_sample(id)).collect()
        };
        let (before, after) = (picked(before), picked(after));
        if !(exact && !before.is_empty() || before.len() >= MIN_SAMPLE) {
            return (1.0, 1.0);
        }
        let shared: Vec<bool> =
            before.iter().filter_map(|(id, c)| after.get(id).map(|o| o == c)).collect();
        let same = shared.iter().filter(|&&s| s).count();
        let same = if shared.is_empty() { 1.0 } else { same as f64 / shared.len() as f64 };
        (shared.len() as f64 / before.len() as f64, same)
    }

    #[test]
    fn id_checks_count_the_ids_both_samples_pick() {
        let mut next = crate::snapshot::xorshift(7);
        for round in 0..40 {
            let (all_before, all_after) = (round % 4 == 0, round % 3 != 2);
            let mut sample = |all: bool| {
                let mut ids: Vec<(u32, u64)> = (0..3_000u32)
                    .filter_map(|id| {
                        let r = next();
                        (!r.is_multiple_of(3)).then_some((id * 7 + round, r >> 32 & 3))
                    })
                    .filter(|&(id, _)| all || in_sample(id))
                    .collect();
                ids.sort_unstable();
                IdSample { all, ids }
            };
            let (before, after) = (sample(all_before), sample(all_after));
            let check = check_ids(&before, &after, "s");
            let expected = shares_by_definition(&before, &after);
            assert_eq!((check.shared, check.same_class), expected, "round {round}");
        }
    }
}
