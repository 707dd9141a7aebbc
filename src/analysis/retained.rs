//! Retained sizes, summed up a dominator tree ([`Tree`]): of every node, of program data, and
//! of every class.
//!
//! Per node they need no walk. A node's dominator has a smaller BFS number than the node, so
//! going through the numbers from the last to the first adds every node into its dominator
//! after all of the node's own children were added into it. The arrays by number are read
//! and written in order, but for gathering the own sizes and scattering the sums back by node.
//! (A walk down the tree, threaded through first-child and next-sibling links, visits the nodes
//! in an order unrelated to where they are in memory: a cache miss per node and per link, 7% of
//! `diff`'s CPU time when every sum went that way.)
//!
//! A class's retained size does need that walk: a class counts only its top-most nodes on each
//! path, and only a walk down the tree sees the path. So [`Tree::finish`] walks when it is given
//! the classes (a summary) and sums by number when not (a comparison's snapshots).

use std::collections::HashMap;

use super::classes::ClassIndex;
use super::dominators::{Dominators, NONE, Tree};
use super::retaining::BitSet;
use super::runtime::{DataRetained, RuntimeNames};
use super::spare::Spare;
use crate::snapshot::{HeapGraph, NodeIndex};

impl Tree {
    /// Retained sizes, and given the class of every node, the retained size of every class as
    /// well (see [`super::summary`]): the walk that sums up retained sizes passes every
    /// class's top-most nodes on the way, so this costs one array per class, not another walk.
    /// Without classes the class list is empty.
    pub(crate) fn finish(
        self,
        graph: &HeapGraph,
        classes: Option<&ClassIndex>,
    ) -> (Dominators, Vec<u64>) {
        match classes {
            Some(classes) => walk(self, graph, classes),
            None => (self.sum(graph, false, &mut Spare::new()).0, Vec::new()),
        }
    }

    /// Retained sizes, and by the same sums the retained sizes of program data that a
    /// comparison's digest needs ([`super::runtime::data_retained_sizes`], without a pass of
    /// its own). The sums are gathered in spare buffers where there are some (see
    /// `analysis/spare.rs`).
    pub(crate) fn finish_with_data_in(
        self,
        graph: &HeapGraph,
        spare: &mut Spare,
    ) -> (Dominators, DataRetained) {
        let (dominators, data) = self.sum(graph, true, spare);
        (dominators, data.expect("asked for"))
    }

    /// Only the retained sizes of program data, for a comparison's earlier snapshots, whose
    /// dominators are not kept: the node-to-number map is not needed, and its buffer holds the
    /// sums by number, so this takes no array per node beyond the tree's (a bit per node
    /// says which are runtime). The buffers it is done with go to `spare`.
    pub(crate) fn data_retained(self, graph: &HeapGraph, spare: &mut Spare) -> DataRetained {
        let Tree { num, order, idom, .. } = self;
        let runtime = RuntimeNames::new(graph).node_bits(graph);
        let own = |v| own_data(&runtime, graph, v);
        let mut by_number = Sizes::gather(num, &order, own);
        by_number.sum_up(&idom);
        let (data, by_number) = by_number.scatter(&order, idom, graph.node_count(), own);
        spare.give(by_number);
        spare.give(order);
        DataRetained::from_parts(data.small, data.big)
    }

    /// Sums by number: retained sizes, and with `with_data` those of program data, the two
    /// on two threads (the last snapshot of a comparison has nothing else to do by then).
    /// The sums are gathered in spare buffers where there are some.
    fn sum(
        self,
        graph: &HeapGraph,
        with_data: bool,
        spare: &mut Spare,
    ) -> (Dominators, Option<DataRetained>) {
        let Tree { mut num, order, idom, root, passes } = self;
        let n = num.len();
        let own_size = |v| graph.self_size(v);
        let buffer = spare.take(order.len());
        let retained = || {
            let mut retained = Sizes::gather(buffer, &order, own_size);
            retained.sum_up(&idom);
            retained
        };
        let (data, retained) = if with_data {
            let buffer = super::buffer_for_another_thread(spare.take(order.len()));
            let data = || {
                let runtime = RuntimeNames::new(graph).node_bits(graph);
                let mut data = Sizes::gather(buffer(), &order, |v| own_data(&runtime, graph, v));
                data.sum_up(&idom);
                (data, runtime)
            };
            let (data, retained) = super::beside("data sizes", data, retained);
            (Some(data), retained)
        } else {
            (None, retained())
        };
        idoms_by_node(&mut num, &order, &idom);
        let (retained, free) = retained.scatter(&order, idom, n, own_size);
        let data = data.map(|(data, runtime)| {
            let (data, _) = data.scatter(&order, free, n, |v| own_data(&runtime, graph, v));
            DataRetained::from_parts(data.small, data.big)
        });
        let (retained, big_retained) = retained.finish();
        let reachable = order.len();
        let dominators = Dominators { idom: num, retained, big_retained, reachable, root, passes };
        (dominators, data)
    }
}

/// Immediate dominators by node, written over the BFS numbers of `num` (unreachable nodes
/// keep `NONE`), from the dominators by number.
fn idoms_by_node(num: &mut [u32], order: &[u32], idom: &[u32]) {
    for slot in num.iter_mut() {
        if *slot != NONE {
            *slot = order[idom[*slot as usize] as usize];
        }
    }
}

/// A node's own size as program data: none for V8's code and metadata (`runtime` holds the
/// nodes that are, from [`RuntimeNames::node_bits`]).
#[inline]
fn own_data(runtime: &BitSet, graph: &HeapGraph, v: NodeIndex) -> u64 {
    if runtime.get(v) { 0 } else { graph.self_size(v) }
}

/// Sizes as `u32` with a side table for the few that do not fit, so a 13M-node heap needs
/// 4 bytes per node here, not 8. Indexed by node or by BFS number.
struct Sizes {
    small: Vec<u32>,
    big: HashMap<u32, u64>,
}

impl Sizes {
    /// The own sizes of the nodes in `order`, by number, in `buffer`'s memory.
    fn gather(mut buffer: Vec<u32>, order: &[u32], own: impl Fn(NodeIndex) -> u64) -> Sizes {
        buffer.clear();
        buffer.reserve_exact(order.len());
        let mut sizes = Sizes { small: buffer, big: HashMap::new() };
        for &v in order {
            sizes.push(own(v));
        }
        sizes
    }

    /// Adds every number's sum into its dominator's, from the last number to the first (see
    /// the module docs); `idom` by number, as in [`Tree`].
    fn sum_up(&mut self, idom: &[u32]) {
        for i in (1..idom.len()).rev() {
            let total = self.get(i as u32);
            self.add(idom[i], total);
        }
    }

    /// These sums by number, put back by node in `buffer`'s memory; nodes that are not in
    /// `order` (unreachable) keep their own size. Returns this one's buffer for reuse.
    fn scatter(
        self,
        order: &[u32],
        mut buffer: Vec<u32>,
        n: usize,
        own: impl Fn(NodeIndex) -> u64,
    ) -> (Sizes, Vec<u32>) {
        buffer.clear();
        buffer.reserve_exact(n);
        let mut by_node = Sizes { small: buffer, big: HashMap::new() };
        // Every node's own size first, in order; the reachable ones are written over below.
        for v in 0..n as NodeIndex {
            by_node.push(own(v));
        }
        for (i, &v) in order.iter().enumerate() {
            by_node.set(v, self.get(i as u32));
        }
        (by_node, self.small)
    }

    /// Appends the size of the next index.
    #[inline]
    fn push(&mut self, size: u64) {
        if size >= u32::MAX as u64 {
            self.big.insert(self.small.len() as u32, size);
        }
        self.small.push(size.min(u32::MAX as u64) as u32);
    }

    #[inline]
    fn set(&mut self, v: u32, size: u64) {
        if size >= u32::MAX as u64 {
            self.small[v as usize] = u32::MAX;
            self.big.insert(v, size);
        } else {
            self.small[v as usize] = size as u32;
        }
    }

    #[inline]
    fn get(&self, v: u32) -> u64 {
        match self.small[v as usize] {
            u32::MAX => self.big[&v],
            s => s as u64,
        }
    }

    #[inline]
    fn add(&mut self, v: u32, amount: u64) {
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

/// Retained sizes per node and per class, in one walk down the tree with no stack: the tree
/// is threaded through first-child and next-sibling links, in the buffers of the BFS order
/// and of the dominators by number, and the links and the dominators lead back up. A node's
/// first-child slot becomes its running total once it is entered; a node's total goes to its
/// dominator when it is left. On the way, the first node of each class entered on the current
/// path is the top-most one, whose retained size counts for the class.
fn walk(tree: Tree, graph: &HeapGraph, classes: &ClassIndex) -> (Dominators, Vec<u64>) {
    let Tree { num, order, idom, root, passes } = tree;
    let n = num.len();
    let reachable = order.len();
    let mut class_retained = vec![0u64; classes.len()];
    if n == 0 {
        return (Dominators::default(), class_retained);
    }
    let mut idom_node = num;
    idoms_by_node(&mut idom_node, &order, &idom);
    // The links, in the buffers of the BFS order and of the dominators by number.
    let mut first_child = order;
    first_child.clear();
    first_child.resize(n, NONE);
    let mut next_sibling = idom;
    next_sibling.clear();
    next_sibling.resize(n, NONE);
    for v in (0..n as u32).rev() {
        let p = idom_node[v as usize];
        if p != NONE && v != root {
            next_sibling[v as usize] = first_child[p as usize];
            first_child[p as usize] = v;
        }
    }
    let mut walk = Walk {
        graph,
        classes,
        sizes: Sizes { small: first_child, big: HashMap::new() },
        owner: vec![NONE; class_retained.len()],
    };
    let mut v = root;
    let mut down = walk.enter(v);
    'walk: loop {
        if down != NONE {
            v = down;
            down = walk.enter(v);
            continue;
        }
        loop {
            let total = walk.sizes.get(v);
            let c = classes.class_of(v) as usize;
            if walk.owner[c] == v {
                walk.owner[c] = NONE;
                class_retained[c] += total;
            }
            if v == root {
                break 'walk;
            }
            let p = idom_node[v as usize];
            walk.sizes.add(p, total);
            let sibling = next_sibling[v as usize];
            if sibling != NONE {
                v = sibling;
                down = walk.enter(v);
                break;
            }
            v = p;
        }
    }
    drop(next_sibling);
    // Nodes the root does not reach keep their self size, and count for their class.
    let mut sizes = walk.sizes;
    for (v, &p) in idom_node.iter().enumerate() {
        if p == NONE {
            let v = v as NodeIndex;
            let size = graph.self_size(v);
            sizes.set(v, size);
            if size > 0 {
                class_retained[classes.class_of(v) as usize] += size;
            }
        }
    }
    let (retained, big_retained) = sizes.finish();
    let dominators =
        Dominators { idom: idom_node, retained, big_retained, reachable, root, passes };
    (dominators, class_retained)
}

/// The state of the walk down the dominator tree in [`walk`].
struct Walk<'a> {
    graph: &'a HeapGraph,
    classes: &'a ClassIndex,
    /// First child per node until the node is entered, its running retained size after.
    sizes: Sizes,
    /// Per class, the node of that class entered first on the current path, if any.
    owner: Vec<u32>,
}

impl Walk<'_> {
    /// Enters `v`: returns its first child and starts its total at its self size.
    #[inline]
    fn enter(&mut self, v: NodeIndex) -> u32 {
        let child = self.sizes.small[v as usize];
        let size = self.graph.self_size(v);
        self.sizes.set(v, size);
        let c = self.classes.class_of(v) as usize;
        if self.owner[c] == NONE && size > 0 {
            self.owner[c] = v;
        }
        child
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::runtime::{data_retained_sizes, is_runtime_node};
    use crate::snapshot::{EdgeKind, GraphBuilder, NodeKind};

    /// Every kind of node that counts as runtime or as data, sizes past `u32` near the root,
    /// weak edges and nodes the root does not reach.
    fn mixed_heap() -> HeapGraph {
        let names = ["X", "system / Context", "system / Map", "system / PropertyArray", ""];
        let kinds = [NodeKind::Object, NodeKind::Hidden, NodeKind::Code, NodeKind::Native];
        let mut next = crate::snapshot::xorshift(0x2545_F491_4F6C_DD1Du64);
        let n = 3000u32;
        let mut b = GraphBuilder::new();
        b.node(NodeKind::Synthetic, "", 1, 0);
        for i in 1..n {
            let r = next();
            if i < 4 {
                b.node(NodeKind::Object, "X", 1 + 2 * i, u32::MAX as u64 + r % 100);
                continue;
            }
            b.node(kinds[r as usize % 4], names[(r >> 8) as usize % 5], 1 + 2 * i, r % 200);
        }
        for big in 1..4 {
            b.edge(0, EdgeKind::Property, "big", big);
        }
        for v in 0..n - 40 {
            for _ in 0..3 {
                let r = next();
                let kind = if r.is_multiple_of(7) { EdgeKind::Weak } else { EdgeKind::Property };
                let target =
                    if v < 8 { (r >> 16) as u32 % n } else { v + 1 + (r >> 16) as u32 % 50 };
                b.edge(v, kind, "p", target.min(n - 41));
            }
        }
        b.build()
    }

    #[test]
    fn sums_by_number_match_the_walk_and_the_own_pass() {
        let graph = mixed_heap();
        let classes = ClassIndex::build(&graph);
        let (walked, _) = Tree::build(&graph).finish(&graph, Some(&classes));
        let (with_data, data) = Tree::build(&graph).finish_with_data_in(&graph, &mut Spare::new());
        let (plain, none) = Tree::build(&graph).finish(&graph, None);
        let data_only = Tree::build(&graph).data_retained(&graph, &mut Spare::new());
        let own_pass = data_retained_sizes(&graph, &walked);
        assert!(none.is_empty());
        assert!(graph.nodes().any(|v| !plain.is_reachable(v)));
        let runtime = RuntimeNames::new(&graph);
        assert!(graph.nodes().all(|v| runtime.is_runtime(&graph, v) == is_runtime_node(&graph, v)));
        let bits = runtime.node_bits(&graph);
        assert!(graph.nodes().all(|v| bits.get(v) == is_runtime_node(&graph, v)));
        assert!(
            graph.nodes().any(|v| is_runtime_node(&graph, v) && graph.kind(v) == NodeKind::Hidden)
        );
        assert!(
            graph.nodes().any(|v| !is_runtime_node(&graph, v) && graph.kind(v) == NodeKind::Hidden)
        );
        assert!(own_pass.get(graph.root()) > u32::MAX as u64);
        assert!(walked.retained_size(graph.root()) > u32::MAX as u64);
        for v in graph.nodes() {
            for other in [&with_data, &plain] {
                assert_eq!(other.idom(v), walked.idom(v), "node {v}");
                assert_eq!(other.retained_size(v), walked.retained_size(v), "node {v}");
            }
            assert_eq!(data.get(v), own_pass.get(v), "node {v}");
            assert_eq!(data_only.get(v), own_pass.get(v), "node {v}");
        }
        assert_eq!(
            (plain.reachable_count(), plain.passes()),
            (walked.reachable_count(), walked.passes())
        );
    }

    #[test]
    fn empty_graph_has_no_sizes() {
        let graph = GraphBuilder::new().build();
        let (dominators, _) = Tree::build(&graph).finish_with_data_in(&graph, &mut Spare::new());
        assert_eq!(dominators.reachable_count(), 0);
        let (dominators, _) = Tree::build(&graph).finish(&graph, Some(&ClassIndex::build(&graph)));
        assert_eq!(dominators.reachable_count(), 0);
        Tree::build(&graph).data_retained(&graph, &mut Spare::new());
    }
}
