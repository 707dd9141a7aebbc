//! Node-sized `u32` buffers that one snapshot's analysis leaves to the next one's, in a
//! comparison of several snapshots.
//!
//! Why: every analysis needs a handful of arrays with a `u32` per node (class of each node,
//! the dominator tree's BFS order, numbers and dominators, the sums of retained sizes,
//! shortest-path parents), and the one before has just freed as many, of about the same size.
//! Freed, they go back to the system; new, each page costs a fault when first written: 2.3 us
//! a page on the 2-core VM the benchmarks run on, against 0.2 us to write a page already
//! resident. Three 305 MB snapshots took 207,000 faults, 0.48 s of the 3 s of CPU.
//!
//! Memory stays where it was as long as a spare buffer is only kept until an analysis that
//! takes it at once: the caller decides how many to keep (see [`Spare::keep`]).

use crate::snapshot::HeapGraph;

/// Spare buffers, given back by one analysis and taken by the next (see the module docs).
#[derive(Debug, Default)]
pub struct Spare {
    buffers: Vec<Vec<u32>>,
}

/// Buffers smaller than this (in values) are not worth keeping: a snapshot that small
/// faults in a few pages.
const MIN_VALUES: usize = 1 << 16;

impl Spare {
    /// No buffers: every [`Spare::take`] allocates.
    pub fn new() -> Spare {
        Spare::default()
    }

    /// An empty buffer with room for `n` values: a spare one, grown in place when it is
    /// smaller (its pages stay resident), or a new one when none is left.
    pub(crate) fn take(&mut self, n: usize) -> Vec<u32> {
        let mut buffer = self.buffers.pop().unwrap_or_default();
        buffer.clear();
        buffer.reserve_exact(n);
        buffer
    }

    /// [`Spare::take`], filled with `n` times `value`.
    pub(crate) fn filled(&mut self, n: usize, value: u32) -> Vec<u32> {
        let mut buffer = self.take(n);
        buffer.resize(n, value);
        buffer
    }

    /// Keeps a buffer for a later [`Spare::take`]; small ones are dropped.
    pub(crate) fn give(&mut self, buffer: Vec<u32>) {
        if buffer.capacity() >= MIN_VALUES {
            self.buffers.push(buffer);
        }
    }

    /// Keeps the graph's node-sized `u32` columns (names and ids; the edge offsets are
    /// given by [`HeapGraph::forget_edges`]); the rest is dropped.
    pub(crate) fn give_graph(&mut self, graph: HeapGraph) {
        let HeapGraph { names, ids, .. } = graph;
        self.give(names);
        self.give(ids);
    }

    /// Drops all but the `count` largest buffers: what the next analysis takes as it starts,
    /// so that none is left over, resident and unused, while that analysis peaks.
    pub fn keep(&mut self, count: usize) {
        self.buffers.sort_by_key(|b| std::cmp::Reverse(b.capacity()));
        self.buffers.truncate(count);
        // Taken from the end: the largest last.
        self.buffers.reverse();
    }

    /// How many buffers are kept.
    pub fn len(&self) -> usize {
        self.buffers.len()
    }

    /// Whether no buffer is kept.
    pub fn is_empty(&self) -> bool {
        self.buffers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::compare::Basis;
    use crate::analysis::dominators::tests::synthetic_heap;
    use crate::analysis::runtime::DataRetained;
    use crate::analysis::{
        ClassIndex, DIGEST_TAKES, LAST_TAKES, analyse_for_digest, analyse_last_for_comparison,
    };

    /// What the analyses find is the same in spare buffers (stale values in them, larger or
    /// smaller than the graph) as in new ones.
    #[test]
    fn analyses_in_spare_buffers_find_what_they_find_in_new_ones() {
        let digest = |g: &HeapGraph, c: &ClassIndex, d: &DataRetained| -> Vec<(u32, u64)> {
            g.nodes().map(|v| (c.class_of(v), d.get(v))).collect()
        };
        let mut spare = Spare::new();
        for n in [80_000, 100_000, 70_000] {
            spare.keep(DIGEST_TAKES);
            let with = analyse_for_digest(synthetic_heap(n), &mut spare, digest);
            let without = analyse_for_digest(synthetic_heap(n), &mut Spare::new(), digest);
            assert_eq!(with, without, "{n} nodes");
            // It took every buffer kept for it, and gave back as many as the last takes.
            assert_eq!(spare.len(), LAST_TAKES, "{n} nodes");
        }
        spare.keep(LAST_TAKES);
        let graph = synthetic_heap(90_000);
        let (a, d) = analyse_last_for_comparison(&graph, "s", Basis::default(), &mut spare);
        assert!(spare.is_empty(), "the last analysis takes every buffer kept for it");
        let fresh = &mut Spare::new();
        let (b, e) = analyse_last_for_comparison(&graph, "s", Basis::default(), fresh);
        for v in graph.nodes() {
            assert_eq!(a.dominators.idom(v), b.dominators.idom(v));
            assert_eq!(a.dominators.retained_size(v), b.dominators.retained_size(v));
            assert_eq!(a.classes.class_of(v), b.classes.class_of(v));
            assert_eq!(a.paths.distance(&graph, v), b.paths.distance(&graph, v));
        }
        assert_eq!(format!("{d:?}"), format!("{e:?}"));
    }

    #[test]
    fn a_spare_buffer_is_taken_empty_and_grown_to_the_size_asked() {
        let mut spare = Spare::new();
        let mut old = vec![7u32; MIN_VALUES];
        old.truncate(10);
        spare.give(old);
        spare.give(vec![1u32; 10]);
        assert_eq!(spare.len(), 1, "small buffers are not kept");
        let taken = spare.filled(MIN_VALUES + 5, u32::MAX);
        assert_eq!(taken.len(), MIN_VALUES + 5);
        assert!(taken.iter().all(|&v| v == u32::MAX), "no stale value shows through");
        assert!(spare.is_empty());
        let fresh = spare.take(3);
        assert!(fresh.is_empty() && fresh.capacity() >= 3);
    }

    #[test]
    fn keep_drops_the_smallest_and_take_starts_with_the_largest() {
        let mut spare = Spare::new();
        for n in [2, 5, 3, 4] {
            spare.give(Vec::with_capacity(n * MIN_VALUES));
        }
        spare.keep(2);
        assert_eq!(spare.len(), 2);
        assert!(spare.take(1).capacity() >= 5 * MIN_VALUES);
        assert!(spare.take(1).capacity() >= 4 * MIN_VALUES);
        assert!(spare.take(1).capacity() < MIN_VALUES);
    }
}
