//! V8's own code and metadata against the program's data. Code, hidden classes and feedback
//! grow while the JIT warms up, not with load, so the comparison holds them to a higher bar and
//! measures holders by the program data they retain.

use super::dominators::Dominators;
use crate::snapshot::{HeapGraph, NodeIndex, NodeKind};

/// True for class keys of V8 runtime metadata rather than program data: code, hidden classes,
/// feedback, `(system)` internals. Closure contexts (`system / Context`) are data: they hold
/// the variables closures capture.
///
/// These grow while the JIT warms up (new code paths compiled, optimised, deoptimised), often
/// for longer than the first interval, so two intervals cannot tell their warm-up from a leak:
/// their growth counts as linear only when at least three intervals agree.
pub fn is_runtime_class(key: &str) -> bool {
    matches!(key, "(compiled code)" | "(system)" | "(object shape)")
        || (key.starts_with("system / ") && key != "system / Context")
}

/// True for nodes that are V8 runtime metadata (see [`is_runtime_class`]). Hidden nodes are
/// metadata except `system / PropertyArray`, the out-of-line properties of fast-mode objects.
pub fn is_runtime_node(graph: &HeapGraph, node: NodeIndex) -> bool {
    match graph.kind(node) {
        NodeKind::Code | NodeKind::ObjectShape => true,
        NodeKind::Hidden => graph.name(node) != "system / PropertyArray",
        NodeKind::Object | NodeKind::Native => {
            let name = graph.name(node);
            name.starts_with("system / ") && name != "system / Context"
        }
        _ => false,
    }
}

/// Retained sizes counting program data only: like [`Dominators::retained_size`], but the self
/// sizes of runtime nodes ([`is_runtime_node`]) count as zero. A closure context whose retained
/// size grows because a closure got optimised code is not a growing holder; one that holds an
/// ever longer string is.
pub fn data_retained_sizes(graph: &HeapGraph, dominators: &Dominators) -> Vec<u64> {
    let n = graph.node_count();
    let idom = dominators.idoms();
    let mut pending = vec![0u32; n];
    let mut sizes: Vec<u64> = graph
        .nodes()
        .map(|v| if is_runtime_node(graph, v) { 0 } else { graph.self_size(v) })
        .collect();
    for (v, &p) in idom.iter().enumerate() {
        if (p as usize) < n && p as usize != v {
            pending[p as usize] += 1;
        }
    }
    // Leaves first, then each parent once all its children have been added to it.
    let mut ready: Vec<u32> = (0..n as u32).filter(|&v| pending[v as usize] == 0).collect();
    while let Some(v) = ready.pop() {
        let p = idom[v as usize];
        if (p as usize) < n && p != v {
            sizes[p as usize] += sizes[v as usize];
            pending[p as usize] -= 1;
            if pending[p as usize] == 0 {
                ready.push(p);
            }
        }
    }
    sizes
}
