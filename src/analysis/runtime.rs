//! V8's own code and metadata against the program's data. Code, hidden classes and feedback
//! grow while the JIT warms up, not with load, so the comparison holds them to a higher bar and
//! measures holders by the program data they retain.

use std::collections::HashMap;

use super::classes::{BACKING_STORE, CODE_CLASS};
use super::dominators::Dominators;
use super::retaining::BitSet;
use crate::snapshot::{HeapGraph, NodeIndex, NodeKind};

/// True for class keys of V8 runtime metadata rather than program data: code, hidden classes,
/// feedback, `(system)` internals. Closure contexts (`system / Context`) are data: they hold
/// the variables closures capture; so are ArrayBuffer backing stores
/// (`system / JSArrayBufferData`): the bytes of every Buffer and typed array.
///
/// These grow while the JIT warms up (new code paths compiled, optimised, deoptimised), often
/// for longer than the first interval, so two intervals cannot tell their warm-up from a leak:
/// their growth counts as linear only when at least three intervals agree.
pub fn is_runtime_class(key: &str) -> bool {
    matches!(key, CODE_CLASS | "(system)" | "(object shape)")
        || (key.starts_with("system / ") && !is_data_system_name(key))
}

/// `system / ...` names that are program data, not V8 metadata.
fn is_data_system_name(name: &str) -> bool {
    name == "system / Context" || name == BACKING_STORE
}

/// True for nodes that are V8 runtime metadata (see [`is_runtime_class`]). Hidden nodes are
/// metadata except `system / PropertyArray`, the out-of-line properties of fast-mode objects.
pub fn is_runtime_node(graph: &HeapGraph, node: NodeIndex) -> bool {
    is_runtime_kind(graph.kind(node), || name_flags(graph.name(node)))
}

/// The rule of [`is_runtime_node`], given the node's kind and the [`name_flags`] of its name
/// (asked for only where the kind leaves it open).
#[inline]
fn is_runtime_kind(kind: NodeKind, flags: impl FnOnce() -> u8) -> bool {
    match kind {
        NodeKind::Code | NodeKind::ObjectShape => true,
        NodeKind::Hidden => flags() & PROPERTY_ARRAY == 0,
        NodeKind::Object | NodeKind::Native => flags() & SYSTEM_METADATA != 0,
        _ => false,
    }
}

/// What [`is_runtime_kind`] needs to know of a name.
fn name_flags(name: &str) -> u8 {
    let mut flags = 0;
    if name.starts_with("system / ") && !is_data_system_name(name) {
        flags |= SYSTEM_METADATA;
    }
    if name == "system / PropertyArray" {
        flags |= PROPERTY_ARRAY;
    }
    flags
}

/// [`is_runtime_node`] for the nodes of one graph, with each name looked at once rather than
/// once per node: a flag per string of the snapshot.
pub(crate) struct RuntimeNames {
    flags: Vec<u8>,
}

/// The string is a `system / ...` name of metadata (not [`is_data_system_name`]).
const SYSTEM_METADATA: u8 = 1;
/// The string is `system / PropertyArray`.
const PROPERTY_ARRAY: u8 = 2;

impl RuntimeNames {
    pub(crate) fn new(graph: &HeapGraph) -> RuntimeNames {
        let strings = graph.strings();
        RuntimeNames {
            flags: (0..strings.len() as u32).map(|i| name_flags(strings.get(i))).collect(),
        }
    }

    /// The same as [`is_runtime_node`] (an index past the strings names the empty string).
    #[inline]
    pub(crate) fn is_runtime(&self, graph: &HeapGraph, node: NodeIndex) -> bool {
        is_runtime_kind(graph.kind(node), || {
            self.flags.get(graph.name_index(node) as usize).copied().unwrap_or(0)
        })
    }

    /// [`RuntimeNames::is_runtime`] of every node, a bit each, in one pass in node order: for
    /// passes that meet the nodes in another order (an eighth of a byte per node, read where a
    /// look at the node's kind and name would be two or three cache misses).
    pub(crate) fn node_bits(&self, graph: &HeapGraph) -> BitSet {
        let mut bits = BitSet::new(graph.node_count());
        for v in graph.nodes() {
            if self.is_runtime(graph, v) {
                bits.set(v);
            }
        }
        bits
    }
}

/// V8's own code and metadata in one snapshot, in bytes: what `warmup = "auto"` probes between
/// two steps of warm-up (tiering compiles code; hidden classes, feedback and other metadata
/// follow new code paths), kept apart so the report can say which one kept growing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeBytes {
    /// Compiled code (`(compiled code)`).
    pub code: u64,
    /// The other runtime nodes ([`is_runtime_node`]): hidden classes, feedback, `(system)`.
    pub metadata: u64,
}

impl RuntimeBytes {
    /// Sums the self sizes of the graph's code and metadata nodes.
    pub fn of(graph: &HeapGraph) -> RuntimeBytes {
        let mut bytes = RuntimeBytes::default();
        for v in graph.nodes() {
            if graph.kind(v) == NodeKind::Code {
                bytes.code += graph.self_size(v);
            } else if is_runtime_node(graph, v) {
                bytes.metadata += graph.self_size(v);
            }
        }
        bytes
    }
}

/// Retained sizes counting program data only: like [`Dominators::retained_size`], but the self
/// sizes of runtime nodes ([`is_runtime_node`]) count as zero. A closure context whose retained
/// size grows because a closure got optimised code is not a growing holder; one that holds an
/// ever longer string is.
///
/// Takes 8 bytes per node while it runs and keeps 4: sizes in `u32`, the few that do not fit
/// (nodes near the root) in a side table.
pub fn data_retained_sizes(graph: &HeapGraph, dominators: &Dominators) -> DataRetained {
    const DONE: u32 = u32::MAX;
    let n = graph.node_count();
    let idom = dominators.idoms();
    let mut sizes = DataRetained { small: Vec::with_capacity(n), big: HashMap::new() };
    let runtime = RuntimeNames::new(graph);
    for v in graph.nodes() {
        let own = if runtime.is_runtime(graph, v) { 0 } else { graph.self_size(v) };
        sizes.small.push(0);
        sizes.add(v, own);
    }
    // Children left to add, per node.
    let mut pending = vec![0u32; n];
    for (v, &p) in idom.iter().enumerate() {
        if (p as usize) < n && p as usize != v {
            pending[p as usize] += 1;
        }
    }
    // Each node is added to its dominator once all its own children have been added to it:
    // leaves in index order, and from each the chain of dominators it completes.
    for v in 0..n {
        let mut cur = v;
        while pending[cur] == 0 {
            pending[cur] = DONE;
            let p = idom[cur] as usize;
            if p >= n || p == cur {
                break;
            }
            let amount = sizes.get(cur as NodeIndex);
            sizes.add(p as NodeIndex, amount);
            pending[p] -= 1;
            cur = p;
        }
    }
    sizes
}

/// Per-node retained sizes of program data, from [`data_retained_sizes`].
#[derive(Clone, Debug, Default)]
pub struct DataRetained {
    /// `u32::MAX` means "look in `big`".
    small: Vec<u32>,
    big: HashMap<NodeIndex, u64>,
}

impl DataRetained {
    /// Sizes as [`super::dominators`] sums them: `u32::MAX` in `small` means "in `big`".
    pub(super) fn from_parts(small: Vec<u32>, big: HashMap<NodeIndex, u64>) -> DataRetained {
        DataRetained { small, big }
    }

    /// The buffer of the sizes by node, for the next snapshot's (see `analysis/spare.rs`).
    pub(super) fn into_buffer(self) -> Vec<u32> {
        self.small
    }

    /// The node's retained size of program data.
    #[inline]
    pub fn get(&self, node: NodeIndex) -> u64 {
        match self.small[node as usize] {
            u32::MAX => self.big[&node],
            small => small as u64,
        }
    }

    fn add(&mut self, node: NodeIndex, amount: u64) {
        let slot = &mut self.small[node as usize];
        if *slot == u32::MAX {
            *self.big.get_mut(&node).expect("a big size is in the table") += amount;
            return;
        }
        let sum = *slot as u64 + amount;
        if sum >= u32::MAX as u64 {
            *slot = u32::MAX;
            self.big.insert(node, sum);
        } else {
            *slot = sum as u32;
        }
    }
}
