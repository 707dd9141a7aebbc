//! Dominator tree and retained sizes: what would be freed if a node were gone.
//!
//! Built without predecessor lists, to stay near 16 bytes per node at peak. A BFS from the
//! root over retaining edges numbers the nodes; a dominator is on every path to a node, so on
//! its shortest one, so it always has a smaller number than the nodes it dominates. That is
//! the order property the Cooper–Harvey–Kennedy `intersect` needs, used here in *push* form:
//! each node, in BFS order, narrows the dominator of each successor to the nearest common
//! ancestor of itself and the current one. This is a chaotic iteration of the monotone
//! dominance equations, so it reaches the same fixpoint as the usual pull form in reverse
//! postorder; a property test checks it against a naive reference.
//!
//! Nodes with a single retainer (most of a heap) are settled when first reached; only edges
//! into nodes with several retainers are kept, in a compact stream, for the later passes,
//! which run until one changes nothing. (A DFS for reverse postorder plus full passes over
//! every edge took 7 s on a 10M-node graph, mostly cache misses; this takes far less.)
//!
//! Which edges retain (DevTools' `isEssentialEdge`):
//! - weak edges and self edges never do;
//! - `shortcut` edges only from the root (there they mark the global objects);
//! - when the root has shortcut edges, nodes reachable from their targets are "page owned" and
//!   an edge from a node that is not page owned to one that is does not retain (so debugger and
//!   handle-scope references do not steal the page's objects);
//! - the WeakMap table's edge to a value does not retain; the key's edge to it does.
//!
//! Deviation from DevTools: nodes not reachable from the root over retaining edges get no
//! dominator and keep their self size as retained size, and are left out of the root's total.
//! DevTools hangs them under the root (after logging them as a problem).

use std::collections::HashMap;

use crate::snapshot::{EdgeKind, HeapGraph, NodeIndex, NodeKind};

const NONE: u32 = u32::MAX;
/// Marks a source entry in the stream of edges still to push.
const MARK: u32 = 1 << 31;

/// A fixed-size set of small integers, one bit each.
#[derive(Clone, Debug, Default)]
pub(crate) struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    pub(crate) fn new(len: usize) -> BitSet {
        BitSet { words: vec![0; len.div_ceil(64)] }
    }

    #[inline]
    pub(crate) fn get(&self, i: u32) -> bool {
        self.words[(i >> 6) as usize] & (1 << (i & 63)) != 0
    }

    #[inline]
    pub(crate) fn set(&mut self, i: u32) {
        self.words[(i >> 6) as usize] |= 1 << (i & 63);
    }
}

/// Splits a V8 ephemeron edge name, `"<n> / part of key (K @1) -> value (V @2) pair in WeakMap
/// (table @3)"`, into the part shared by the key's and the table's edge, and the table's id.
pub(crate) fn parse_ephemeron(name: &str) -> Option<(&str, u32)> {
    if !name.ends_with(')') {
        return None;
    }
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &name[digits..];
    if digits == 0 || !rest.starts_with(" / part of key (") {
        return None;
    }
    let marker = ") pair in WeakMap (table @";
    let at = rest.rfind(marker)?;
    let id = &rest[at + marker.len()..rest.len() - 1];
    if !rest[..at].contains(" -> value (") {
        return None;
    }
    Some((rest, id.parse().ok()?))
}

/// Which edges keep their target alive (see the module docs), and which nodes have more than
/// one such edge.
pub(crate) struct RetainingEdges {
    /// One bit per edge: set when the edge retains.
    pub(crate) bits: BitSet,
    /// One bit per node: set when two or more retaining edges point to it.
    pub(crate) multi: BitSet,
}

/// Computes [`RetainingEdges`]; `scratch` is used as a stack and left empty.
pub(crate) fn retaining_edges(graph: &HeapGraph, scratch: &mut Vec<u32>) -> RetainingEdges {
    let n = graph.node_count();
    let root = graph.root();
    let mut page = BitSet::new(n);
    let mut any_page = false;
    scratch.clear();
    if n > 0 {
        for e in graph.edges(root) {
            let t = graph.edge_target(e);
            let seed = match graph.edge_kind(e) {
                EdgeKind::Shortcut => true,
                EdgeKind::Element => {
                    graph.kind(t) == NodeKind::Synthetic && graph.name(t) == "(Document DOM trees)"
                }
                _ => false,
            };
            if seed && !page.get(t) {
                page.set(t);
                scratch.push(t);
                any_page = true;
            }
        }
    }
    while let Some(v) = scratch.pop() {
        for e in graph.edges(v) {
            let t = graph.edge_target(e);
            if graph.edge_kind(e) != EdgeKind::Weak && !page.get(t) {
                page.set(t);
                scratch.push(t);
            }
        }
    }
    let mut bits = BitSet::new(graph.edge_count());
    let mut once = BitSet::new(n);
    let mut multi = BitSet::new(n);
    for v in graph.nodes() {
        let from_root = v == root;
        let v_page = page.get(v);
        for e in graph.edges(v) {
            let t = graph.edge_target(e);
            let keep = match graph.edge_kind(e) {
                EdgeKind::Weak => false,
                _ if t == v => false,
                _ if from_root => true,
                EdgeKind::Shortcut => false,
                EdgeKind::Internal => {
                    parse_ephemeron(graph.strings().get(graph.edge_name_or_index(e)))
                        .is_none_or(|(_, table)| table != graph.id(v))
                }
                _ => true,
            };
            let keep = keep && (from_root || !any_page || v_page || !page.get(t));
            if keep {
                bits.set(e);
                if once.get(t) {
                    multi.set(t);
                } else {
                    once.set(t);
                }
            }
        }
    }
    RetainingEdges { bits, multi }
}

/// Immediate dominators and retained sizes of every node of one graph.
#[derive(Clone, Debug, Default)]
pub struct Dominators {
    /// Immediate dominator per node; the root points to itself, unreachable nodes hold `NONE`.
    idom: Vec<u32>,
    /// Retained size per node; `u32::MAX` means "look in `big_retained`".
    retained: Vec<u32>,
    /// Retained sizes that do not fit in `u32`, sorted by node (only nodes near the root).
    big_retained: Vec<(NodeIndex, u64)>,
    reachable: usize,
    root: NodeIndex,
    passes: u32,
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
        let n = graph.node_count();
        if n == 0 {
            return Dominators::default();
        }
        assert!(n < (NONE >> 1) as usize, "too many nodes");
        let root = graph.root();
        // `order` is the page-owned walk's stack, then the BFS queue: number -> node.
        let mut order: Vec<u32> = Vec::with_capacity(n);
        let RetainingEdges { bits: retaining, multi } = retaining_edges(graph, &mut order);

        // 1. BFS over retaining edges, numbering nodes in visit order (`num[node]`), and the
        //    first push pass at the same time. A node's first retainer becomes its dominator;
        //    each later one narrows it to the nearest common ancestor. Edges into nodes with
        //    a single retainer are final right away; the others go to `stream` for later
        //    passes: `v | MARK` for the source, then the targets' numbers.
        let mut num = vec![NONE; n];
        let mut idom: Vec<u32> = Vec::with_capacity(n);
        let mut stream: Vec<u32> = Vec::new();
        order.clear();
        order.push(root);
        num[root as usize] = 0;
        idom.push(0);
        let mut head = 0usize;
        while head < order.len() {
            let i = head as u32;
            let v = order[head];
            head += 1;
            let mut marked = false;
            for e in graph.edges(v) {
                if !retaining.get(e) {
                    continue;
                }
                let w = graph.edge_target(e);
                let nw = num[w as usize];
                if nw == NONE {
                    num[w as usize] = order.len() as u32;
                    order.push(w);
                    idom.push(i);
                    if !multi.get(w) {
                        continue;
                    }
                } else {
                    let current = idom[nw as usize];
                    if current == 0 || nw == 0 {
                        // Final already: the root dominates it directly (or it is the root).
                        continue;
                    }
                    idom[nw as usize] = intersect(&idom, i, current);
                }
                if !marked {
                    stream.push(i | MARK);
                    marked = true;
                }
                stream.push(num[w as usize]);
            }
        }
        drop(retaining);
        drop(multi);
        let reachable = order.len();

        // 2. More passes over the edges into multi-retained nodes until nothing changes.
        //    The queue is not needed meanwhile; it is rebuilt from `num` afterwards.
        drop(order);
        stream.shrink_to_fit();
        let mut passes = 1;
        loop {
            passes += 1;
            let mut changed = false;
            let mut v = 0;
            // Nodes the root dominates directly are final (dominators only move rootwards),
            // so their entries are dropped as the pass goes: hubs such as maps and prototypes
            // have huge in-degrees and settle there early.
            let mut kept = 0;
            let mut source_at = usize::MAX;
            for at in 0..stream.len() {
                let x = stream[at];
                if x & MARK != 0 {
                    v = x & !MARK;
                    source_at = usize::MAX;
                    continue;
                }
                let current = idom[x as usize];
                if current == 0 {
                    continue;
                }
                let new = intersect(&idom, v, current);
                if new != current {
                    idom[x as usize] = new;
                    changed = true;
                }
                if new != 0 {
                    if source_at == usize::MAX {
                        source_at = kept;
                        stream[kept] = v | MARK;
                        kept += 1;
                    }
                    stream[kept] = x;
                    kept += 1;
                }
            }
            stream.truncate(kept);
            if !changed {
                break;
            }
        }
        drop(stream);
        let mut order = vec![0u32; reachable];
        for (v, &k) in num.iter().enumerate() {
            if k != NONE {
                order[k as usize] = v as u32;
            }
        }

        // 3. Retained sizes: every node adds its total to its dominator, deepest first (a
        //    dominator is always nearer the root, so it has a smaller BFS number).
        let mut sizes = Sizes::new(graph);
        for i in (1..reachable).rev() {
            let v = order[i];
            let parent = order[idom[i] as usize];
            let total = sizes.get(v);
            sizes.add(parent, total);
        }

        // 4. Immediate dominators by node, written over the BFS numbers.
        for slot in num.iter_mut() {
            if *slot != NONE {
                *slot = order[idom[*slot as usize] as usize];
            }
        }
        let (retained, big_retained) = sizes.finish();
        Dominators { idom: num, retained, big_retained, reachable, root, passes }
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

    /// How many passes the iteration needed (the last one confirms nothing changed).
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

/// Sizes as `u32` with a side table for the few that do not fit, so a 13M-node heap needs
/// 4 bytes per node here, not 8.
struct Sizes {
    small: Vec<u32>,
    big: HashMap<NodeIndex, u64>,
}

impl Sizes {
    fn new(graph: &HeapGraph) -> Sizes {
        let mut big = HashMap::new();
        let small = graph
            .nodes()
            .map(|v| {
                let s = graph.self_size(v);
                if s >= u32::MAX as u64 {
                    big.insert(v, s);
                    u32::MAX
                } else {
                    s as u32
                }
            })
            .collect();
        Sizes { small, big }
    }

    #[inline]
    fn get(&self, v: NodeIndex) -> u64 {
        match self.small[v as usize] {
            u32::MAX => self.big[&v],
            s => s as u64,
        }
    }

    #[inline]
    fn add(&mut self, v: NodeIndex, amount: u64) {
        let slot = &mut self.small[v as usize];
        if *slot != u32::MAX {
            let sum = *slot as u64 + amount;
            if sum < u32::MAX as u64 {
                *slot = sum as u32;
                return;
            }
            *slot = u32::MAX;
            self.big.insert(v, sum);
            return;
        }
        *self.big.get_mut(&v).expect("big size recorded") += amount;
    }

    fn finish(self) -> (Vec<u32>, Vec<(NodeIndex, u64)>) {
        let mut big: Vec<_> = self.big.into_iter().collect();
        big.sort_unstable();
        (self.small, big)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::snapshot::GraphBuilder;
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
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
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
