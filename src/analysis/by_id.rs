//! Nodes put in ascending order of their ids without a comparison sort.
//!
//! Why: every snapshot's digest lists about half of its nodes ascending by id (see
//! `digest::retained_list`), and the stable sort of 1.9M node indices by id took 0.07 s a
//! snapshot, an eighth of an earlier snapshot's analysis. V8 numbers its own objects with odd
//! ids from a counter that steps by 2, so below the largest id listed the ids are dense enough
//! for a bit per possible id: one pass marks the ids listed, and a node's place in the sorted
//! list is the number of marks before its own (a count per 32 ids, then a `popcnt` within
//! them). The embedder's natives (even ids made from addresses, a few thousand) are sorted
//! and merged in. Where the marks would take more memory than the stable sort's scratch (ids
//! spread far apart) or an id repeats, it is the stable sort, as before.

use super::digest::is_native_id;
use crate::snapshot::{HeapGraph, NodeIndex};

/// `nodes` ascending by id; nodes with the same id keep their order (as a stable sort).
/// `max_odd`: no odd id of `nodes` is larger (the largest id of V8's own objects listed).
pub(super) fn sort_by_id(
    graph: &HeapGraph,
    max_odd: u32,
    mut nodes: Vec<NodeIndex>,
) -> Vec<NodeIndex> {
    // 32 ids a slot: the marks in the low half, the number of marks in the slots before it
    // in the high half, so a node's place takes one load. 8 bytes a slot, at most half a
    // slot per node listed: no more than the stable sort's scratch, 4 bytes a node.
    let slots = (max_odd >> 1) as usize / 32 + 1;
    if nodes.len() < 64 || slots > nodes.len() / 2 {
        nodes.sort_by_key(|&v| graph.id(v));
        return nodes;
    }
    let slot = |id: u32| ((id >> 1) / 32) as usize;
    let bit = |id: u32| 1u64 << ((id >> 1) % 32);
    let mut table = vec![0u64; slots];
    let mut natives = Vec::new();
    for &v in &nodes {
        let id = graph.id(v);
        if is_native_id(id) {
            natives.push(v);
            continue;
        }
        match table.get_mut(slot(id)) {
            Some(entry) if *entry & bit(id) == 0 => *entry |= bit(id),
            // An id twice, or past the bound: the stable sort sorts it out.
            _ => {
                nodes.sort_by_key(|&v| graph.id(v));
                return nodes;
            }
        }
    }
    let mut count = 0u64;
    for entry in &mut table {
        let marks = *entry as u32;
        *entry |= count << 32;
        count += marks.count_ones() as u64;
    }
    let mut sorted = vec![0; count as usize];
    for &v in &nodes {
        let id = graph.id(v);
        if !is_native_id(id) {
            let entry = table[slot(id)];
            let below = (entry as u32 as u64 & (bit(id) - 1)).count_ones() as u64;
            sorted[((entry >> 32) + below) as usize] = v;
        }
    }
    if natives.is_empty() {
        return sorted;
    }
    natives.sort_by_key(|&v| graph.id(v));
    // Odd and even ids never tie.
    merge_by_id(graph, &sorted, &natives)
}

/// Two lists of nodes ascending by id as one, the first's node first on a tie. `second` is
/// the short one (the natives): each of its nodes finds its place in `first` by binary
/// search, and the runs of `first` between are copied whole (a merge that compared every
/// pair looked up two ids per node, at random: 8% of the list's time).
fn merge_by_id(graph: &HeapGraph, first: &[NodeIndex], second: &[NodeIndex]) -> Vec<NodeIndex> {
    let mut out = Vec::with_capacity(first.len() + second.len());
    let mut rest = first;
    for &v in second {
        let id = graph.id(v);
        let run = rest.partition_point(|&u| graph.id(u) <= id);
        out.extend_from_slice(&rest[..run]);
        out.push(v);
        rest = &rest[run..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{GraphBuilder, NodeKind};

    fn graph_with_ids(ids: &[u32]) -> HeapGraph {
        let mut b = GraphBuilder::new();
        for &id in ids {
            b.node(NodeKind::Object, "Item", id, 8);
        }
        b.build()
    }

    fn stable(graph: &HeapGraph, mut nodes: Vec<NodeIndex>) -> Vec<NodeIndex> {
        nodes.sort_by_key(|&v| graph.id(v));
        nodes
    }

    /// Dense odd ids in runs that ascend and descend, with natives among them, a few
    /// far-apart ids, repeated ids, and lists of every size around the thresholds: the
    /// order is the stable sort's, whichever way it is found.
    #[test]
    fn the_order_is_the_stable_sorts() {
        let mut next = crate::snapshot::xorshift(11);
        for round in 0..60u32 {
            let n = [0usize, 1, 2, 63, 64, 65, 100, 1000, 5000][round as usize % 9];
            let mut ids: Vec<u32> = (0..n as u32).map(|k| 2 * k + 1).collect();
            // Runs of ids in place, shuffled between runs.
            for run in ids.chunks_mut(7) {
                if next().is_multiple_of(3) {
                    run.reverse();
                }
            }
            for k in (1..ids.len()).rev() {
                if next().is_multiple_of(4) {
                    ids.swap(k, (next() % (k as u64 + 1)) as usize);
                }
            }
            if round % 5 == 1 {
                // Natives: even ids from addresses, anywhere in the range of u32.
                for k in 0..ids.len() / 10 {
                    ids[k * 10] = (next() as u32) & !1;
                }
            }
            if round % 5 == 2 && !ids.is_empty() {
                // One id far above the others: marks would outgrow the list.
                ids[0] = u32::MAX;
            }
            if round % 5 == 3 && ids.len() > 2 {
                // An id twice.
                let last = ids.len() - 1;
                ids[last] = ids[0];
            }
            let graph = graph_with_ids(&ids);
            // Every node, and a subset, in node order and in a scrambled order.
            let all: Vec<NodeIndex> = (0..ids.len() as NodeIndex).collect();
            let some: Vec<NodeIndex> = all.iter().copied().filter(|v| v % 3 != 1).collect();
            let mut scrambled = all.clone();
            scrambled.reverse();
            for nodes in [all, some, scrambled] {
                let mut max_odd = ids.iter().copied().filter(|id| id & 1 == 1).max().unwrap_or(0);
                if round % 5 == 4 {
                    // A bound one id too low: found, and sorted all the same.
                    max_odd = max_odd.saturating_sub(2);
                }
                let got = sort_by_id(&graph, max_odd, nodes.clone());
                assert_eq!(got, stable(&graph, nodes), "round {round}, {n} ids");
            }
        }
    }

    /// The merge keeps the first list's node first when two ids are equal.
    #[test]
    fn the_merge_takes_the_first_lists_node_on_a_tie() {
        let graph = graph_with_ids(&[3, 5, 5, 9]);
        assert_eq!(merge_by_id(&graph, &[0, 1, 3], &[2]), vec![0, 1, 2, 3]);
        assert_eq!(merge_by_id(&graph, &[2], &[0, 1, 3]), vec![0, 2, 1, 3]);
    }
}
