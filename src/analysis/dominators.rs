//! Dominator tree and retained sizes: what would be freed if a node were gone.
//!
//! Built without predecessor lists, in 12 bytes per node at peak. A BFS
//! from the root over retaining edges numbers the nodes; a dominator is on every path to a
//! node, so on its shortest one, so it always has a smaller number than the nodes it
//! dominates. That is the order property the Cooper–Harvey–Kennedy `intersect` needs, used
//! here in *push* form: each node, in BFS order, narrows the dominator of each successor to the
//! nearest common ancestor of itself and the current one. This is a chaotic iteration of the
//! monotone dominance equations, so it reaches the same fixpoint as the usual pull form in
//! reverse postorder; a property test checks it against a naive reference.
//!
//! The BFS does the first pass. A node's pushes can only be out of date if a dominator on its
//! path moved after it pushed, and that is known when it happens: the moved node has a smaller
//! BFS number than the node pushing. Later passes push again from those nodes and their
//! subtrees only, found by one sweep in BFS order, until none are left. On a 14M-node heap the
//! BFS leaves about 0.5% of the nodes to push again, then a few hundred, so the passes cost
//! about what reading the dominator array does. (Earlier versions kept every edge into a node
//! with several retainers in a side stream for full passes: 9 more bytes per node.)
//!
//! Retained sizes are summed up the tree in `analysis/retained.rs`, in the BFS buffers.
//!
//! Which edges retain follows DevTools' `isEssentialEdge`: see `analysis/retaining.rs`.
//!
//! Deviation from DevTools: nodes not reachable from the root over retaining edges get no
//! dominator and keep their self size as retained size, and are left out of the root's total.
//! DevTools hangs them under the root (after logging them as a problem).

use super::retaining::{BitSet, Retaining};
use super::spare::Spare;
use crate::snapshot::{HeapGraph, NodeIndex};

/// No node, no number: unreachable nodes' slots.
pub(super) const NONE: u32 = u32::MAX;

/// Immediate dominators and retained sizes of every node of one graph.
#[derive(Clone, Debug, Default)]
pub struct Dominators {
    /// Immediate dominator per node; the root points to itself, unreachable nodes hold `NONE`.
    pub(super) idom: Vec<u32>,
    /// Retained size per node; `u32::MAX` means "look in `big_retained`".
    pub(super) retained: Vec<u32>,
    /// Retained sizes that do not fit in `u32`, sorted by node (only nodes near the root).
    pub(super) big_retained: Vec<(NodeIndex, u64)>,
    pub(super) reachable: usize,
    pub(super) root: NodeIndex,
    pub(super) passes: u32,
}

impl Dominators {
    /// Computes the dominator tree and retained sizes.
    ///
    /// ```
    /// use leakcheck::analysis::Dominators;
    /// use leakcheck::snapshot::{EdgeKind, GraphBuilder, NodeKind};
    /// let mut b = GraphBuilder::new();
    /// let root = b.node(NodeKind::Synthetic, "", 1, 0);
    /// let list = b.node(NodeKind::Object, "Array", 3, 16);
    /// let item = b.node(NodeKind::Object, "Task", 5, 32);
    /// b.edge(root, EdgeKind::Property, "tasks", list);
    /// b.indexed_edge(list, EdgeKind::Element, 0, item);
    /// let dom = Dominators::compute(&b.build());
    /// assert_eq!(dom.idom(item), Some(list));
    /// assert_eq!(dom.retained_size(list), 48);
    /// assert_eq!(dom.retained_size(root), 48);
    /// ```
    pub fn compute(graph: &HeapGraph) -> Dominators {
        Tree::build(graph).finish(graph, None).0
    }
    /// The node's immediate dominator; `None` for the root and for nodes the root does not
    /// reach over retaining edges.
    pub fn idom(&self, node: NodeIndex) -> Option<NodeIndex> {
        match self.idom[node as usize] {
            NONE => None,
            d if node == self.root => {
                debug_assert_eq!(d, node);
                None
            }
            d => Some(d),
        }
    }

    /// True when the root reaches the node over retaining edges.
    pub fn is_reachable(&self, node: NodeIndex) -> bool {
        self.idom[node as usize] != NONE
    }

    /// The node's retained size: its own size plus that of every node it dominates. For the
    /// root, the total size of all reachable nodes.
    pub fn retained_size(&self, node: NodeIndex) -> u64 {
        let small = self.retained[node as usize];
        if small != u32::MAX {
            return small as u64;
        }
        match self.big_retained.binary_search_by_key(&node, |&(n, _)| n) {
            Ok(i) => self.big_retained[i].1,
            Err(_) => small as u64,
        }
    }

    /// Number of nodes reachable from the root over retaining edges (the root included).
    pub fn reachable_count(&self) -> usize {
        self.reachable
    }

    /// How many passes the iteration needed: the BFS, then one per round of pushing again
    /// from the nodes whose dominators moved after they pushed.
    pub fn passes(&self) -> u32 {
        self.passes
    }

    /// The immediate dominator of every node, indexed by node; the root holds itself and
    /// unreachable nodes `u32::MAX`. For walks over the whole tree.
    pub fn idoms(&self) -> &[NodeIndex] {
        &self.idom
    }

    /// Bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        (self.idom.capacity() + self.retained.capacity()) * 4 + self.big_retained.capacity() * 16
    }
}

/// Asks for what the BFS will read at random a few nodes ahead in its queue, so that those
/// loads overlap the work on the current node: the edge range of the node 12 places ahead,
/// the edges of the one 6 ahead, and the BFS numbers of the targets of the one 2 ahead
/// (`num` is 4 bytes per node, far past the caches). The BFS alone: 233 -> 213 ms, 8 of 8
/// runs faster, on a 3.9M-node snapshot, side by side; the pipelined form beat asking for the
/// current node's targets only. Hints only: nothing here changes a result.
#[inline(always)]
fn prefetch_ahead(graph: &HeapGraph, order: &[u32], head: usize, num: &[u32]) {
    if let Some(&ahead) = order.get(head + 12) {
        prefetch(graph.first_edge.as_ptr().wrapping_add(ahead as usize));
    }
    if let Some(&ahead) = order.get(head + 6) {
        let first = graph.edges(ahead).start as usize;
        prefetch(graph.edge_targets.as_ptr().wrapping_add(first));
    }
    if let Some(&ahead) = order.get(head + 2) {
        for e in graph.edges(ahead) {
            prefetch(num.as_ptr().wrapping_add(graph.edge_target(e) as usize));
        }
    }
}

/// A prefetch of `p`'s cache line, where the processor has the instruction.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: `prefetcht0` is a hint: it reads nothing into the program and faults on no
    // address, so any pointer will do (these are in bounds or one past the end anyway).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Nearest common ancestor of two nodes, by BFS number, in the current tree. Any dominator
/// candidate of a node was reached before it, so it has a smaller number: walk up whichever
/// side is larger.
#[inline]
fn intersect(idom: &[u32], mut a: u32, mut b: u32) -> u32 {
    while a != b {
        while a > b {
            a = idom[a as usize];
        }
        while b > a {
            b = idom[b as usize];
        }
    }
    a
}

/// The dominator tree of a graph, before retained sizes (summed in [`super::retained`]): the
/// immediate dominators in BFS numbers, and the maps between numbers and nodes.
#[derive(Default)]
pub(crate) struct Tree {
    /// BFS number per node; `NONE` for nodes the root does not reach.
    pub(super) num: Vec<u32>,
    /// Node per BFS number: the reachable nodes in BFS order, the root first.
    pub(super) order: Vec<u32>,
    /// Immediate dominator's BFS number per BFS number: smaller than the number itself, but
    /// for the root's, which is 0.
    pub(super) idom: Vec<u32>,
    pub(super) root: NodeIndex,
    pub(super) passes: u32,
}

impl Tree {
    /// Finds the immediate dominators (12 bytes per node at peak, all of it kept in the tree).
    pub(crate) fn build(graph: &HeapGraph) -> Tree {
        Tree::build_in(graph, &mut Spare::new())
    }

    /// [`Tree::build`] in spare buffers where there are some (see `analysis/spare.rs`).
    pub(crate) fn build_in(graph: &HeapGraph, spare: &mut Spare) -> Tree {
        let n = graph.node_count();
        if n == 0 {
            return Tree::default();
        }
        assert!(n < NONE as usize, "too many nodes");
        let root = graph.root();
        // `order` is the page-owned walk's stack, then the BFS queue: number -> node.
        let mut order: Vec<u32> = spare.take(n);
        let rule = Retaining::new(graph, &mut order);

        // 1. BFS over retaining edges, numbering nodes in visit order (`num[node]`), and the
        //    first push pass at the same time. A node's first retainer becomes its dominator;
        //    each later one narrows it to the nearest common ancestor. A node whose dominator
        //    moves after it has pushed to its own successors (a smaller number than the
        //    current source) is marked `stale`: its subtree pushes again in the next pass.
        let mut num = spare.filled(n, NONE);
        let mut idom: Vec<u32> = spare.take(n);
        let mut stale = BitSet::new(n);
        let mut any_stale = false;
        order.clear();
        order.push(root);
        num[root as usize] = 0;
        idom.push(0);
        let mut head = 0usize;
        while head < order.len() {
            let i = head as u32;
            let v = order[head];
            head += 1;
            let source = rule.source(v);
            prefetch_ahead(graph, &order, head, &num);
            for e in graph.edges(v) {
                if !rule.retains(graph, source, e) {
                    continue;
                }
                let w = graph.edge_target(e);
                let x = num[w as usize];
                if x == NONE {
                    num[w as usize] = order.len() as u32;
                    order.push(w);
                    idom.push(i);
                    continue;
                }
                let current = idom[x as usize];
                if current == 0 || x == 0 {
                    // Final already: the root dominates it directly (or it is the root).
                    continue;
                }
                let new = intersect(&idom, i, current);
                if new != current {
                    idom[x as usize] = new;
                    if x < i {
                        stale.set(x);
                        any_stale = true;
                    }
                }
            }
        }
        let reachable = order.len();

        // 2. Passes in BFS order over the sources whose ancestry changed since they last
        //    pushed (a stale node and everything below it in the current tree; a node's
        //    dominator has a smaller number, so one sweep finds them), until none did.
        //    Dominators only move rootwards, so this ends; it reaches the same fixpoint as
        //    full passes, since a source whose ancestry did not change would push the same.
        let mut passes = 1;
        if any_stale {
            let mut next = BitSet::new(n);
            let mut below = BitSet::new(n);
            while any_stale {
                passes += 1;
                any_stale = false;
                for i in 1..reachable as u32 {
                    if !stale.get(i) && !below.get(idom[i as usize]) {
                        continue;
                    }
                    below.set(i);
                    let v = order[i as usize];
                    let source = rule.source(v);
                    for e in graph.edges(v) {
                        if !rule.retains(graph, source, e) {
                            continue;
                        }
                        let x = num[graph.edge_target(e) as usize];
                        let current = idom[x as usize];
                        if current == 0 || x == 0 {
                            continue;
                        }
                        let new = intersect(&idom, i, current);
                        if new != current {
                            idom[x as usize] = new;
                            if x < i {
                                next.set(x);
                                any_stale = true;
                            } else {
                                // Not reached in this pass yet: its subtree pushes in this one.
                                stale.set(x);
                            }
                        }
                    }
                }
                std::mem::swap(&mut stale, &mut next);
                next.clear();
                below.clear();
            }
        }
        drop(stale);
        drop(rule);
        Tree { num, order, idom, root, passes }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::retaining::{parse_ephemeron, retaining_edges};
    use crate::snapshot::GraphBuilder;
    use crate::snapshot::{EdgeKind, NodeKind};
    use proptest::prelude::*;

    /// Dominators by definition: `d` dominates `v` when removing `d` makes `v` unreachable.
    /// O(n·(n+e)); for small graphs only. Uses the same retaining-edge rule.
    pub(crate) fn naive_idoms(graph: &HeapGraph) -> Vec<Option<NodeIndex>> {
        let n = graph.node_count();
        let mut scratch = Vec::new();
        let retaining = retaining_edges(graph, &mut scratch).bits;
        let reach = |removed: Option<NodeIndex>| {
            let mut seen = vec![false; n];
            let root = graph.root();
            if removed == Some(root) {
                return seen;
            }
            seen[root as usize] = true;
            let mut stack = vec![root];
            while let Some(v) = stack.pop() {
                for e in graph.edges(v) {
                    let w = graph.edge_target(e);
                    if retaining.get(e) && Some(w) != removed && !seen[w as usize] {
                        seen[w as usize] = true;
                        stack.push(w);
                    }
                }
            }
            seen
        };
        let all = reach(None);
        // dominated_by[d][v]: d dominates v (strictly).
        let dominated_by: Vec<Vec<bool>> = (0..n as u32)
            .map(|d| {
                let r = reach(Some(d));
                (0..n).map(|v| all[v] && !r[v] && v != d as usize).collect()
            })
            .collect();
        (0..n)
            .map(|v| {
                if !all[v] || v == graph.root() as usize {
                    return None;
                }
                // The immediate dominator is the strict dominator dominated by all the others.
                let doms: Vec<u32> =
                    (0..n as u32).filter(|&d| dominated_by[d as usize][v]).collect();
                doms.iter()
                    .copied()
                    .find(|&d| doms.iter().all(|&o| o == d || dominated_by[o as usize][d as usize]))
            })
            .collect()
    }

    fn graph_from(nodes: usize, edges: &[(u32, u32, u8)], sizes: &[u32]) -> HeapGraph {
        let mut b = GraphBuilder::new();
        for i in 0..nodes {
            let kind = if i == 0 { NodeKind::Synthetic } else { NodeKind::Object };
            b.node(kind, "X", 1 + 2 * i as u32, sizes[i % sizes.len()] as u64);
        }
        for &(from, to, kind) in edges {
            let kind = match kind % 9 {
                0 => EdgeKind::Weak,
                8 => EdgeKind::Shortcut,
                1 => EdgeKind::Element,
                2 => EdgeKind::Internal,
                3 => EdgeKind::Context,
                _ => EdgeKind::Property,
            };
            let (from, to) = (from % nodes as u32, to % nodes as u32);
            if kind == EdgeKind::Element {
                b.indexed_edge(from, kind, to, to);
            } else {
                b.edge(from, kind, "p", to);
            }
        }
        b.build()
    }

    fn reachable_self_sizes(graph: &HeapGraph) -> u64 {
        let mut seen = vec![false; graph.node_count()];
        let mut stack = vec![graph.root()];
        seen[graph.root() as usize] = true;
        let mut total = 0;
        while let Some(v) = stack.pop() {
            total += graph.self_size(v);
            for e in graph.edges(v) {
                let w = graph.edge_target(e);
                if graph.edge_kind(e) != EdgeKind::Weak && !seen[w as usize] {
                    seen[w as usize] = true;
                    stack.push(w);
                }
            }
        }
        total
    }

    fn check(graph: &HeapGraph, has_shortcuts: bool) {
        let dom = Dominators::compute(graph);
        let naive = naive_idoms(graph);
        for v in graph.nodes() {
            assert_eq!(dom.idom(v), naive[v as usize], "idom of node {v}");
        }
        // Retained sizes: self plus retained of dominated children.
        let mut expect: Vec<u64> = graph.nodes().map(|v| graph.self_size(v)).collect();
        let mut by_depth: Vec<(usize, NodeIndex)> = graph
            .nodes()
            .filter(|&v| dom.idom(v).is_some())
            .map(|v| {
                let mut d = 0;
                let mut x = v;
                while let Some(p) = dom.idom(x) {
                    d += 1;
                    x = p;
                }
                (d, v)
            })
            .collect();
        by_depth.sort_unstable_by(|a, b| b.cmp(a));
        for (_, v) in by_depth {
            let p = dom.idom(v).unwrap();
            expect[p as usize] += expect[v as usize];
        }
        for v in graph.nodes() {
            assert_eq!(dom.retained_size(v), expect[v as usize], "retained of node {v}");
        }
        if !has_shortcuts {
            assert_eq!(dom.retained_size(graph.root()), reachable_self_sizes(graph));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn matches_naive_reference(
            nodes in 1usize..24,
            edges in prop::collection::vec((0u32..64, 0u32..64, 0u8..8), 0..70),
            sizes in prop::collection::vec(0u32..1000, 1..8),
        ) {
            check(&graph_from(nodes, &edges, &sizes), false);
        }

        /// With shortcut edges the page-ownership rule kicks in; still equal to the reference.
        #[test]
        fn matches_naive_reference_with_shortcuts(
            nodes in 1usize..20,
            edges in prop::collection::vec((0u32..64, 0u32..64, 0u8..9), 0..60),
        ) {
            check(&graph_from(nodes, &edges, &[7, 1, 30]), true);
        }
    }

    #[test]
    fn irreducible_loop_and_diamond() {
        // root -> a, root -> b, a <-> b (irreducible), both -> c, c -> d, b -> d
        let g = graph_from(
            5,
            &[
                (0, 1, 4),
                (0, 2, 4),
                (1, 2, 4),
                (2, 1, 4),
                (1, 3, 4),
                (2, 3, 4),
                (3, 4, 4),
                (2, 4, 4),
            ],
            &[10],
        );
        check(&g, false);
        let dom = Dominators::compute(&g);
        assert_eq!(dom.idom(3), Some(0));
        assert_eq!(dom.idom(4), Some(0));
    }

    #[test]
    fn weak_edges_do_not_retain_and_unreachable_nodes_stand_alone() {
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", 1, 0);
        let a = b.node(NodeKind::Object, "A", 3, 10);
        let weakly = b.node(NodeKind::Object, "B", 5, 20);
        let orphan = b.node(NodeKind::Object, "C", 7, 40);
        b.edge(root, EdgeKind::Property, "a", a);
        b.edge(a, EdgeKind::Weak, "w", weakly);
        b.edge(orphan, EdgeKind::Property, "x", a);
        let g = b.build();
        let dom = Dominators::compute(&g);
        assert_eq!(dom.idom(weakly), None);
        assert!(!dom.is_reachable(weakly));
        assert_eq!(dom.retained_size(weakly), 20);
        assert_eq!(dom.retained_size(orphan), 40);
        assert_eq!(dom.retained_size(root), 10);
        assert_eq!(dom.reachable_count(), 2);
    }

    #[test]
    fn shortcut_and_page_ownership_follow_devtools() {
        // root -shortcut-> global -> obj; root -element-> (GC roots) -> (Handle scope) -> obj.
        // The handle scope is not page owned and obj is, so obj stays under the global.
        // A shortcut from a non-root node does not retain, yet it makes `other` page owned, so
        // the handle scope's edge to it does not retain either: DevTools would hang `other`
        // under the root as an orphan; leakcheck leaves it unreachable.
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", 1, 0);
        let gc = b.node(NodeKind::Synthetic, "(GC roots)", 3, 0);
        let hs = b.node(NodeKind::Synthetic, "(Handle scope)", 5, 0);
        let global = b.node(NodeKind::Object, "global", 7, 100);
        let obj = b.node(NodeKind::Object, "Task", 9, 10);
        let other = b.node(NodeKind::Object, "Other", 11, 10);
        b.indexed_edge(root, EdgeKind::Element, 1, gc);
        b.edge(root, EdgeKind::Shortcut, "global", global);
        b.indexed_edge(gc, EdgeKind::Element, 1, hs);
        b.indexed_edge(hs, EdgeKind::Element, 1, obj);
        b.edge(global, EdgeKind::Property, "task", obj);
        b.edge(hs, EdgeKind::Property, "o", other);
        b.edge(global, EdgeKind::Shortcut, "s", other);
        let g = b.build();
        let dom = Dominators::compute(&g);
        assert_eq!(dom.idom(obj), Some(global));
        assert_eq!(dom.idom(global), Some(root));
        assert_eq!(dom.idom(other), None);
        assert_eq!(dom.idom(hs), Some(gc));
        assert_eq!(dom.retained_size(global), 110);
    }

    #[test]
    fn weakmap_table_edge_does_not_retain() {
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", 1, 0);
        let table = b.node(NodeKind::Array, "system / EphemeronHashTable", 3, 8);
        let key = b.node(NodeKind::Object, "Key", 5, 8);
        let value = b.node(NodeKind::Object, "Value", 7, 8);
        b.edge(root, EdgeKind::Property, "map", table);
        b.edge(root, EdgeKind::Property, "k", key);
        let name = "1 / part of key (Key @5) -> value (Value @7) pair in WeakMap (table @3)";
        b.edge(table, EdgeKind::Internal, name, value);
        b.edge(key, EdgeKind::Internal, name, value);
        let g = b.build();
        let dom = Dominators::compute(&g);
        assert_eq!(dom.idom(value), Some(key));
        assert_eq!(
            parse_ephemeron(name),
            Some((" / part of key (Key @5) -> value (Value @7) pair in WeakMap (table @3)", 3))
        );
        assert_eq!(parse_ephemeron("map"), None);
        assert_eq!(parse_ephemeron("(x)"), None);
    }

    #[test]
    fn deep_chain_does_not_overflow_the_stack() {
        let n = 200_000u32;
        let mut b = GraphBuilder::new();
        for i in 0..n {
            b.node(NodeKind::Object, "L", 1 + 2 * i, 1);
        }
        for i in 0..n - 1 {
            b.edge(i, EdgeKind::Property, "next", i + 1);
        }
        let g = b.build();
        let dom = Dominators::compute(&g);
        assert_eq!(dom.retained_size(0), n as u64);
        assert_eq!(dom.idom(n - 1), Some(n - 2));
    }

    #[test]
    fn big_retained_sizes_do_not_wrap() {
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", 1, 0);
        let a = b.node(NodeKind::Object, "A", 3, 3_000_000_000);
        let c = b.node(NodeKind::Object, "C", 5, 3_000_000_000);
        let d = b.node(NodeKind::Object, "D", 7, 5_000_000_000);
        b.edge(root, EdgeKind::Property, "a", a);
        b.edge(a, EdgeKind::Property, "c", c);
        b.edge(c, EdgeKind::Property, "d", d);
        let dom = Dominators::compute(&b.build());
        assert_eq!(dom.retained_size(root), 11_000_000_000);
        assert_eq!(dom.retained_size(a), 11_000_000_000);
        assert_eq!(dom.retained_size(c), 8_000_000_000);
        assert_eq!(dom.retained_size(d), 5_000_000_000);
    }

    /// A heap-shaped graph: a 4-ary spanning tree (distance ~11 at 10M nodes), plus a second
    /// retainer for 60% of the nodes, mostly from nearby nodes, and some weak edges.
    pub(crate) fn synthetic_heap(n: u32) -> HeapGraph {
        let mut b = GraphBuilder::new();
        let mut next = crate::snapshot::xorshift(0x9E37_79B9_7F4A_7C15u64);
        for i in 0..n {
            let kind = if i == 0 { NodeKind::Synthetic } else { NodeKind::Object };
            b.node(kind, "X", 1 + 2 * i, 16 + (i % 7) as u64 * 8);
        }
        for v in 0..n {
            for c in 4 * v as u64 + 1..=4 * v as u64 + 4 {
                if c < n as u64 {
                    b.edge(v, EdgeKind::Property, "p", c as u32);
                }
            }
            let r = next();
            if r % 10 < 6 {
                let w = if r % 100 < 48 {
                    (v as u64 + (r >> 32) % 2000).saturating_sub(1000) as u32 % n
                } else {
                    ((r >> 32) % n as u64) as u32
                };
                b.edge(v, EdgeKind::Internal, "q", w);
            }
            if r % 10 == 9 {
                b.edge(v, EdgeKind::Weak, "w", ((r >> 20) % n as u64) as u32);
            }
        }
        b.build()
    }

    /// `cargo test --release --lib -- --ignored --nocapture big_graph_timing`
    #[test]
    #[ignore = "timing run on a 10M-node graph; release mode"]
    fn big_graph_timing() {
        let n: u32 = std::env::var("LEAKCHECK_BIG_NODES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10_000_000);
        let t = std::time::Instant::now();
        let g = synthetic_heap(n);
        eprintln!("built {} nodes / {} edges in {:?}", g.node_count(), g.edge_count(), t.elapsed());
        let t = std::time::Instant::now();
        let dom = Dominators::compute(&g);
        eprintln!(
            "dominators: {:?}, {} passes, reachable {}, root retained {}",
            t.elapsed(),
            dom.passes(),
            dom.reachable_count(),
            dom.retained_size(0)
        );
    }
}
