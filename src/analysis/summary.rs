//! Per-class aggregates (DevTools' Summary view) and heap statistics (its Statistics view),
//! in the serialisable form the `summary` command prints.
//!
//! Per class, as DevTools' `buildAggregates` and `calculateClassesRetainedSize` do:
//! - `count` and `self_size` over the class's nodes with a non-zero self size (DevTools skips
//!   zero-size nodes, such as the synthetic roots, entirely); sizes are exactly as V8 wrote
//!   them. Deviation: DevTools first moves the size of `(array)` and `(system)` nodes that one
//!   object owns into that object (`calculateShallowSizes`); leakcheck does not.
//! - `retained_size`: the retained sizes of the class's nodes that no other node of the same
//!   class dominates, so nothing is counted twice. Nodes the root does not reach (see
//!   [`Dominators`]) add their self size.
//! - `distance`: the smallest distance of the class's nodes from the user roots; `None` when
//!   only the `(GC roots)` subroots reach them (DevTools shows `-`), or nothing does.

use serde::Serialize;

use super::Analysis;
use super::classes::ClassIndex;
use super::dominators::Dominators;
use super::paths::{SYSTEM_DISTANCE, ShortestPaths};
use super::retaining::BitSet;
use crate::snapshot::{EdgeKind, HeapGraph, NodeIndex, NodeKind};

#[cfg(test)]
const NONE: u32 = u32::MAX;

/// Aggregates of one class.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClassStats {
    /// The class key, e.g. `Task`, `(string)`, `{id, prompt}` (`name` in JSON).
    #[serde(rename = "name")]
    pub class: String,
    /// Number of nodes (with a non-zero self size).
    pub count: u64,
    /// Sum of the nodes' self sizes, in bytes.
    pub self_size: u64,
    /// Bytes freed if every node of the class were gone.
    pub retained_size: u64,
    /// Smallest distance from a user root; `None` when only system roots reach the class.
    pub distance: Option<u32>,
}

/// Heap totals like DevTools' Statistics view (`calculateStatistics`), in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Statistics {
    /// Retained size of the root: everything reachable over retaining edges.
    pub total: u64,
    /// `total` minus `native`.
    pub v8_heap: u64,
    /// Native (embedder) nodes the user roots reach.
    pub native: u64,
    /// Of `native`: ArrayBuffer backing stores (`system / JSArrayBufferData`).
    pub typed_arrays: u64,
    /// Compiled code.
    pub code: u64,
    /// Flat, concatenated and sliced strings.
    pub strings: u64,
    /// JS arrays (objects named `Array`) plus their `elements` store when only they hold it.
    pub js_arrays: u64,
    /// Nodes only the `(GC roots)` subroots reach (distance from [`SYSTEM_DISTANCE`] up).
    pub system: u64,
    /// Nodes the root does not reach over retaining edges; not part of `total`. DevTools
    /// counts them in its total.
    pub unreachable: u64,
}

/// What the `summary` command prints: totals, then classes by retained size.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HeapSummary {
    /// Number of nodes in the snapshot.
    pub node_count: u64,
    /// Number of edges in the snapshot.
    pub edge_count: u64,
    /// Heap totals.
    pub statistics: Statistics,
    /// Number of classes (with at least one node of non-zero size).
    pub class_count: u64,
    /// The classes with the largest retained sizes, largest first.
    pub classes: Vec<ClassStats>,
}

impl HeapSummary {
    /// The summary with the `top` classes by retained size (ties by self size, then key).
    pub fn new(graph: &HeapGraph, analysis: &Analysis, top: usize) -> HeapSummary {
        let mut classes: Vec<&ClassStats> =
            analysis.class_stats.iter().filter(|c| c.count > 0).collect();
        let class_count = classes.len() as u64;
        classes.sort_by(|a, b| {
            (b.retained_size, b.self_size)
                .cmp(&(a.retained_size, a.self_size))
                .then(a.class.cmp(&b.class))
        });
        HeapSummary {
            node_count: graph.node_count() as u64,
            edge_count: graph.edge_count() as u64,
            statistics: analysis.statistics.clone(),
            class_count,
            classes: classes.into_iter().take(top).cloned().collect(),
        }
    }
}

/// Per-class count and self size, with the retained sizes from [`class_retained`] and the
/// minimum distances the BFS visitor recorded.
pub(crate) fn class_stats(
    graph: &HeapGraph,
    classes: &ClassIndex,
    retained: Vec<u64>,
    min_distance: &[u32],
) -> Vec<ClassStats> {
    let mut stats: Vec<ClassStats> = classes
        .keys()
        .iter()
        .zip(min_distance)
        .map(|(k, &d)| ClassStats {
            class: k.clone(),
            distance: (d < SYSTEM_DISTANCE).then_some(d),
            ..ClassStats::default()
        })
        .collect();
    for v in graph.nodes() {
        let size = graph.self_size(v);
        if size == 0 {
            continue;
        }
        let s = &mut stats[classes.class_of(v) as usize];
        s.count += classes.object_count(v);
        s.self_size = s.self_size.saturating_add(size);
    }
    for (s, r) in stats.iter_mut().zip(retained) {
        s.retained_size = r;
    }
    stats
}

/// Retained size per class, counting only the top-most node of a class on each dominator
/// path. One walk over the dominator tree, which is threaded through first-child and
/// next-sibling links (8 bytes per node, freed on return) so the walk needs no stack: O(n).
///
/// [`super::analyse`] gets the same figures from the walk that sums up retained sizes
/// (`retained.rs`); this is the reference for tests.
#[cfg(test)]
pub(crate) fn class_retained(
    graph: &HeapGraph,
    classes: &ClassIndex,
    dominators: &Dominators,
) -> Vec<u64> {
    let n = graph.node_count();
    let mut retained = vec![0u64; classes.len()];
    if n == 0 {
        return retained;
    }
    let root = graph.root();
    let idoms = dominators.idoms();
    let mut first_child = vec![NONE; n];
    let mut next_sibling = vec![NONE; n];
    for v in (0..n as u32).rev() {
        let p = idoms[v as usize];
        if v == root || p == NONE {
            if v != root && graph.self_size(v) > 0 {
                retained[classes.class_of(v) as usize] += dominators.retained_size(v);
            }
            continue;
        }
        next_sibling[v as usize] = first_child[p as usize];
        first_child[p as usize] = v;
    }
    // The node of each class currently counted on the path from the root, if any.
    let mut owner = vec![NONE; classes.len()];
    let mut enter = |v: NodeIndex, owner: &mut [u32]| {
        let c = classes.class_of(v) as usize;
        if owner[c] == NONE && graph.self_size(v) > 0 {
            owner[c] = v;
            retained[c] += dominators.retained_size(v);
        }
    };
    let mut v = root;
    enter(v, &mut owner);
    'walk: loop {
        let child = first_child[v as usize];
        if child != NONE {
            v = child;
            enter(v, &mut owner);
            continue;
        }
        loop {
            let c = classes.class_of(v) as usize;
            if owner[c] == v {
                owner[c] = NONE;
            }
            if v == root {
                break 'walk;
            }
            let sibling = next_sibling[v as usize];
            if sibling != NONE {
                v = sibling;
                enter(v, &mut owner);
                break;
            }
            v = idoms[v as usize];
        }
    }
    retained
}

/// DevTools' Statistics view.
pub(crate) fn statistics(
    graph: &HeapGraph,
    dominators: &Dominators,
    paths: &ShortestPaths,
) -> Statistics {
    let mut st =
        Statistics { total: dominators.retained_size(graph.root()), ..Statistics::default() };
    let mut arrays: Vec<(NodeIndex, NodeIndex)> = Vec::new();
    for v in graph.nodes() {
        let size = graph.self_size(v);
        if !dominators.is_reachable(v) {
            st.unreachable = st.unreachable.saturating_add(size);
        }
        if paths.is_system(v) {
            st.system = st.system.saturating_add(size);
            continue;
        }
        match graph.kind(v) {
            NodeKind::Native => {
                st.native = st.native.saturating_add(size);
                if graph.name(v) == "system / JSArrayBufferData" {
                    st.typed_arrays = st.typed_arrays.saturating_add(size);
                }
            }
            NodeKind::Code => st.code = st.code.saturating_add(size),
            k if k.is_string() => st.strings = st.strings.saturating_add(size),
            _ if graph.name(v) == "Array" => {
                st.js_arrays = st.js_arrays.saturating_add(size);
                if let Some(elements) = graph.named_target(v, EdgeKind::Internal, &["elements"]) {
                    arrays.push((v, elements));
                }
            }
            _ => {}
        }
    }
    // An array's elements count with it only when nothing else points at them.
    if !arrays.is_empty() {
        let n = graph.node_count();
        let mut wanted = BitSet::new(n);
        for &(_, el) in &arrays {
            wanted.set(el);
        }
        let mut once = BitSet::new(n);
        let mut shared = BitSet::new(n);
        for e in 0..graph.edge_count() as u32 {
            let t = graph.edge_target(e);
            if wanted.get(t) {
                if once.get(t) {
                    shared.set(t);
                } else {
                    once.set(t);
                }
            }
        }
        for (_, el) in arrays {
            if !shared.get(el) {
                st.js_arrays = st.js_arrays.saturating_add(graph.self_size(el));
            }
        }
    }
    st.v8_heap = st.total.saturating_sub(st.native);
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::analyse;
    use crate::snapshot::GraphBuilder;

    /// root -> global -> list(Array) -> [Task, Task]; Task -> Task (a task holding a task);
    /// a (GC roots) subroot holds a code object and a string.
    fn graph() -> HeapGraph {
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", 1, 0);
        let gc = b.node(NodeKind::Synthetic, "(GC roots)", 3, 0);
        let global = b.node(NodeKind::Object, "global", 5, 100);
        let list = b.node(NodeKind::Object, "Array", 7, 16);
        let elements = b.node(NodeKind::Array, "(object elements)", 9, 40);
        let t1 = b.node(NodeKind::Object, "Task", 11, 24);
        let t2 = b.node(NodeKind::Object, "Task", 13, 24);
        let t3 = b.node(NodeKind::Object, "Task", 15, 24);
        let s = b.node(NodeKind::String, "hello", 17, 32);
        let code = b.node(NodeKind::Code, "f", 19, 200);
        let buf = b.node(NodeKind::Native, "system / JSArrayBufferData", 21, 1000);
        let _lone = b.node(NodeKind::Object, "Lone", 23, 8);
        b.indexed_edge(root, EdgeKind::Element, 1, gc);
        b.edge(root, EdgeKind::Shortcut, "1", global);
        b.edge(global, EdgeKind::Property, "list", list);
        b.edge(list, EdgeKind::Internal, "elements", elements);
        b.indexed_edge(elements, EdgeKind::Element, 0, t1);
        b.indexed_edge(elements, EdgeKind::Element, 1, t2);
        b.edge(t1, EdgeKind::Property, "child", t3);
        b.edge(t3, EdgeKind::Property, "name", s);
        b.edge(global, EdgeKind::Property, "buf", buf);
        b.indexed_edge(gc, EdgeKind::Element, 1, code);
        b.build()
    }

    #[test]
    fn class_aggregates_count_nested_instances_once() {
        let g = graph();
        let a = analyse(&g);
        let task = a.classes.find("Task").unwrap() as usize;
        let t = &a.class_stats[task];
        assert_eq!((t.count, t.self_size), (3, 72));
        // t3 is dominated by t1, so only t1 and t2 count: (24+24+32) + 24.
        assert_eq!(t.retained_size, 104);
        assert_eq!(t.distance, Some(4));
        let code = &a.class_stats[a.classes.find("(compiled code)").unwrap() as usize];
        assert_eq!(code.distance, None);
        let lone = &a.class_stats[a.classes.find("Lone").unwrap() as usize];
        assert_eq!((lone.count, lone.retained_size, lone.distance), (1, 8, None));
        let synthetic = &a.class_stats[a.classes.find("(synthetic)").unwrap() as usize];
        assert_eq!(synthetic.count, 0);
    }

    /// Class retained sizes from the walk in `retained.rs` agree with the
    /// separate walk of [`class_retained`], on random graphs with a few classes.
    /// The per-node sizes of that walk agree with the sums by BFS number of
    /// [`Dominators::compute`].
    fn check_class_retained(g: &HeapGraph) {
        let a = analyse(g);
        let summed = Dominators::compute(g);
        for v in g.nodes() {
            assert_eq!(a.dominators.retained_size(v), summed.retained_size(v), "node {v}");
        }
        let reference = class_retained(g, &a.classes, &summed);
        let ours: Vec<u64> = a.class_stats.iter().map(|c| c.retained_size).collect();
        assert_eq!(ours, reference);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]
        #[test]
        fn class_retained_matches_the_reference(
            nodes in proptest::collection::vec((0u8..5, 0u32..100), 1..30),
            edges in proptest::collection::vec((0u32..64, 0u32..64, proptest::bool::ANY), 0..80),
        ) {
            let mut b = GraphBuilder::new();
            for (i, &(class, size)) in nodes.iter().enumerate() {
                let name = ["A", "B", "C", "D", "E"][class as usize];
                let kind = if i == 0 { NodeKind::Synthetic } else { NodeKind::Object };
                b.node(kind, name, 1 + 2 * i as u32, size as u64);
            }
            let n = nodes.len() as u32;
            for &(from, to, weak) in &edges {
                let kind = if weak { EdgeKind::Weak } else { EdgeKind::Property };
                b.edge(from % n, kind, "p", to % n);
            }
            check_class_retained(&b.build());
        }
    }

    #[test]
    fn class_retained_on_a_deep_chain_of_alternating_classes() {
        let mut b = GraphBuilder::new();
        let n = 100_000u32;
        for i in 0..n {
            b.node(
                NodeKind::Object,
                ["A", "B", "C"][(i % 3) as usize],
                1 + 2 * i,
                1 + i as u64 % 5,
            );
        }
        for i in 0..n - 1 {
            b.edge(i, EdgeKind::Property, "next", i + 1);
            if i % 7 == 0 {
                b.edge(i, EdgeKind::Property, "skip", (i + 3).min(n - 1));
            }
        }
        check_class_retained(&b.build());
    }

    #[test]
    fn statistics_follow_devtools() {
        let g = graph();
        let a = analyse(&g);
        let st = &a.statistics;
        assert_eq!(st.total, 100 + 16 + 40 + 24 * 3 + 32 + 200 + 1000);
        assert_eq!(st.native, 1000);
        assert_eq!(st.typed_arrays, 1000);
        assert_eq!(st.v8_heap, st.total - 1000);
        assert_eq!(st.code, 0, "the code object is only reachable from (GC roots)");
        assert_eq!(st.system, 200);
        assert_eq!(st.strings, 32);
        assert_eq!(st.js_arrays, 16 + 40);
        assert_eq!(st.unreachable, 8);
    }

    #[test]
    fn summary_sorts_by_retained_and_serialises() {
        let g = graph();
        let a = analyse(&g);
        let s = HeapSummary::new(&g, &a, 3);
        assert_eq!(s.classes.len(), 3);
        assert_eq!(s.classes[0].class, "global");
        assert!(s.classes.windows(2).all(|w| w[0].retained_size >= w[1].retained_size));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["classes"][0]["name"], "global");
        assert_eq!(json["statistics"]["typed_arrays"], 1000);
    }
}
