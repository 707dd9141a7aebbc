//! Distances from the roots and retainer paths: the shortest chain of references that keeps a
//! node alive, rendered like the Retainers view of DevTools (`[812] in Array @4213 <- tasks in
//! Server @7 <- (global)`).
//!
//! One BFS, as in DevTools' `calculateDistances`: first from the *user roots* (the root's
//! non-synthetic children, i.e. the global objects, plus `(Document DOM trees)`), which get
//! distance 1; then from the root itself, so whatever only the `(GC roots)` subroots hold gets
//! a distance of [`SYSTEM_DISTANCE`] or more (DevTools shows those as `-`). Weak edges are not
//! followed, nor the edges DevTools filters out: a native context's `sloppy_function_map`, the
//! descriptor links of `(map descriptors)` arrays, and the first of the two edges V8 writes for
//! each WeakMap entry (so a value is as far as the farther of its key and its table).
//!
//! Memory: one parent edge per node (4 bytes) plus one bit, and while the BFS runs a queue of
//! two levels at most (4 bytes each). Distances are not stored: a node's distance is the
//! length of its parent chain, and the BFS reports each node's distance to a visitor as it
//! goes (see [`ShortestPaths::compute_with`]).

use std::collections::{HashSet, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::classes::ClassIndex;
use super::retaining::{BitSet, ephemeron_names, parse_ephemeron};
use crate::snapshot::{EdgeIndex, EdgeKind, EdgeName, HeapGraph, NodeIndex, NodeKind};

/// DevTools' `baseSystemDistance`: distances from this value up belong to nodes that only the
/// `(GC roots)` subroots reach, not the page or program.
pub const SYSTEM_DISTANCE: u32 = 100_000_000;

const NONE: u32 = u32::MAX;
const ROOT: u32 = u32::MAX - 1;

/// The first edge that reached each node in the BFS from the roots.
#[derive(Clone, Debug, Default)]
pub struct ShortestPaths {
    parent: Vec<u32>,
    system: BitSet,
    root: NodeIndex,
    has_user_roots: bool,
}

impl ShortestPaths {
    /// Runs the BFS.
    pub fn compute(graph: &HeapGraph) -> ShortestPaths {
        ShortestPaths::compute_with(graph, |_, _| {})
    }

    /// Runs the BFS and calls `visit(node, distance)` once per reached node, in order of
    /// nondecreasing distance (so the first node of a class seen carries the class's minimum).
    ///
    /// ```
    /// use leakcheck::analysis::ShortestPaths;
    /// use leakcheck::snapshot::{EdgeKind, GraphBuilder, NodeKind};
    /// let mut b = GraphBuilder::new();
    /// let root = b.node(NodeKind::Synthetic, "", 1, 0);
    /// let global = b.node(NodeKind::Object, "global", 3, 16);
    /// let list = b.node(NodeKind::Object, "Array", 5, 16);
    /// b.edge(root, EdgeKind::Shortcut, "1", global);
    /// b.edge(global, EdgeKind::Property, "tasks", list);
    /// let graph = b.build();
    /// let mut seen = Vec::new();
    /// let paths = ShortestPaths::compute_with(&graph, |node, d| seen.push((node, d)));
    /// assert_eq!(seen, [(global, 1), (list, 2), (root, leakcheck::analysis::SYSTEM_DISTANCE)]);
    /// assert_eq!(paths.distance(&graph, list), Some(2));
    /// ```
    pub fn compute_with(graph: &HeapGraph, visit: impl FnMut(NodeIndex, u32)) -> ShortestPaths {
        ShortestPaths::compute_in(graph, Vec::new(), visit)
    }

    /// [`ShortestPaths::compute_with`] in `buffer`'s memory (a spare one: see
    /// `analysis/spare.rs`).
    pub(crate) fn compute_in(
        graph: &HeapGraph,
        mut buffer: Vec<u32>,
        mut visit: impl FnMut(NodeIndex, u32),
    ) -> ShortestPaths {
        let n = graph.node_count();
        buffer.clear();
        buffer.resize(n, NONE);
        let mut paths = ShortestPaths {
            parent: buffer,
            system: BitSet::new(n),
            root: graph.root(),
            has_user_roots: false,
        };
        if n == 0 {
            return paths;
        }
        let root = graph.root();
        paths.parent[root as usize] = ROOT;
        // The queue holds at most two levels at a time, a fraction of the nodes.
        let mut queue = BlockQueue::default();
        for e in graph.edges(root) {
            let t = graph.edge_target(e);
            if is_user_root(graph, t) && paths.parent[t as usize] == NONE {
                paths.parent[t as usize] = e;
                queue.push_back(t);
                visit(t, 1);
            }
        }
        paths.has_user_roots = !queue.is_empty();
        let mut filter = Filter::new(graph);
        bfs(graph, &mut paths.parent, &mut queue, 1, &mut filter, &mut visit, None);
        let base = if paths.has_user_roots { SYSTEM_DISTANCE } else { 0 };
        visit(root, base);
        queue.push_back(root);
        // What only the root's other children reach is "system" when there are user roots.
        let system = if paths.has_user_roots {
            paths.system.set(root);
            Some(&mut paths.system)
        } else {
            None
        };
        bfs(graph, &mut paths.parent, &mut queue, base, &mut filter, &mut visit, system);
        paths
    }

    /// True when the BFS reached the node (over non-weak edges, from any root).
    pub fn is_reached(&self, node: NodeIndex) -> bool {
        self.parent[node as usize] != NONE
    }

    /// True when only the `(GC roots)` subroots reach the node, not the user roots (its
    /// distance is [`SYSTEM_DISTANCE`] or more). Counted as "system" in the statistics.
    pub fn is_system(&self, node: NodeIndex) -> bool {
        self.system.get(node)
    }

    /// The edge that first reached the node; `None` for the root and unreached nodes.
    pub fn parent_edge(&self, node: NodeIndex) -> Option<EdgeIndex> {
        match self.parent[node as usize] {
            NONE | ROOT => None,
            e => Some(e),
        }
    }

    /// The node's distance as DevTools computes it (user roots 1, system nodes from
    /// [`SYSTEM_DISTANCE`]); `None` when unreached. Walks the parent chain: O(distance).
    pub fn distance(&self, graph: &HeapGraph, node: NodeIndex) -> Option<u32> {
        if !self.is_reached(node) {
            return None;
        }
        let mut steps = 0;
        let mut x = node;
        while let Some(e) = self.parent_edge(x) {
            steps += 1;
            x = edge_source(graph, e);
        }
        let base = if self.is_system(node) || (node == self.root && self.has_user_roots) {
            SYSTEM_DISTANCE
        } else {
            0
        };
        Some(base + steps)
    }

    /// The retainer path of `node`, deepest step first, at most `max_steps` steps (the rest
    /// are counted in [`RetainerPath::elided`]).
    pub fn retainer_path(
        &self,
        graph: &HeapGraph,
        classes: &ClassIndex,
        node: NodeIndex,
        max_steps: usize,
    ) -> RetainerPath {
        let mut path = RetainerPath {
            node_id: graph.id(node),
            reached: self.is_reached(node),
            steps: Vec::new(),
            elided: 0,
            origin: None,
        };
        let mut x = node;
        while let Some(e) = self.parent_edge(x) {
            let holder = edge_source(graph, e);
            if graph.kind(holder) == NodeKind::Synthetic {
                path.origin = Some(if holder == self.root {
                    if is_user_root(graph, x) { "(global)".into() } else { "(root)".into() }
                } else {
                    graph.name(holder).to_owned()
                });
                break;
            }
            x = holder;
            // Past the cut a step is only counted: no label or class key to build.
            if path.elided > 0 {
                path.elided += 1;
                continue;
            }
            let step = self.step(graph, classes, e, holder);
            let kept = path.steps.len();
            match path.steps.last_mut() {
                // A chain through one structure (a rope of strings, a linked list of timers,
                // nested arrays) is one step and a count: otherwise a leaf deep in it spends
                // every kept step inside it and the path never shows what holds it.
                Some(last)
                    if last.edge_kind == step.edge_kind
                        && last.holder_class == step.holder_class =>
                {
                    last.repeat += 1;
                }
                _ if kept < max_steps => path.steps.push(step),
                _ => path.elided += 1,
            }
        }
        path
    }

    fn step(
        &self,
        graph: &HeapGraph,
        classes: &ClassIndex,
        edge: EdgeIndex,
        holder: NodeIndex,
    ) -> RetainerStep {
        let kind = graph.edge_kind(edge);
        let edge_name = match graph.edge_name(edge) {
            EdgeName::Index(i) => i.to_string(),
            EdgeName::Name(s) => s.to_owned(),
        };
        let mut label = match kind {
            EdgeKind::Element | EdgeKind::Hidden => format!("[{edge_name}]"),
            _ => edge_name.clone(),
        };
        if kind.has_index_name()
            && let Some(up) = self.parent_edge(holder)
            && matches!(graph.edge_kind(up), EdgeKind::Property | EdgeKind::Context)
            && graph.kind(edge_source(graph, up)) != NodeKind::Synthetic
            && let EdgeName::Name(holder_name) = graph.edge_name(up)
        {
            label = format!("{holder_name}{label}");
        }
        let holder_class = match graph.kind(holder) {
            NodeKind::Hidden | NodeKind::Synthetic => graph.name(holder).to_owned(),
            _ => classes.key_of(holder).to_owned(),
        };
        RetainerStep {
            edge_kind: kind.v8_name(),
            edge_name,
            label,
            holder_class,
            holder_id: graph.id(holder),
            repeat: 0,
        }
    }

    /// Bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.parent.capacity() * 4 + self.parent.capacity().div_ceil(8)
    }
}

/// DevTools' `isUserRoot`: the root's children that are not synthetic (global objects), and
/// the synthetic `(Document DOM trees)`.
fn is_user_root(graph: &HeapGraph, node: NodeIndex) -> bool {
    graph.kind(node) != NodeKind::Synthetic || graph.name(node) == "(Document DOM trees)"
}

/// The node an edge belongs to (edges are grouped by source, so a binary search).
pub fn edge_source(graph: &HeapGraph, edge: EdgeIndex) -> NodeIndex {
    let n = graph.node_count() as u32;
    let (mut lo, mut hi) = (0u32, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if graph.edges(mid).end <= edge {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The edges DevTools' distance BFS skips (`JSHeapSnapshot.calculateDistances`).
struct Filter<'g> {
    /// WeakMap entries whose first edge was seen (and skipped) but not the second.
    pending: HashSet<&'g str>,
    /// The nodes with an internal edge named like a WeakMap entry's; `None` when none has.
    ephemeron_sources: Option<BitSet>,
}

impl<'g> Filter<'g> {
    fn new(graph: &HeapGraph) -> Filter<'g> {
        let ephemeron_sources = ephemeron_names(graph).map(|names| {
            let mut sources = BitSet::new(graph.node_count());
            for v in graph.nodes() {
                let named = graph.edges(v).any(|e| {
                    graph.edge_kind(e) == EdgeKind::Internal
                        && names.get(graph.edge_name_or_index(e))
                });
                if named {
                    sources.set(v);
                }
            }
            sources
        });
        Filter { pending: HashSet::new(), ephemeron_sources }
    }

    /// False when [`Filter::keep`] keeps every edge of `v` and changes nothing (most nodes),
    /// so the BFS reads no edge names for them.
    #[inline]
    fn applies_to(&self, graph: &HeapGraph, v: NodeIndex) -> bool {
        self.ephemeron_sources.as_ref().is_some_and(|s| s.get(v))
            || match graph.kind(v) {
                NodeKind::Hidden => graph.name(v) == "system / NativeContext",
                NodeKind::Array => graph.name(v) == "(map descriptors)",
                _ => false,
            }
    }

    fn keep(&mut self, graph: &'g HeapGraph, v: NodeIndex, e: EdgeIndex) -> bool {
        let kind = graph.edge_kind(e);
        match graph.kind(v) {
            NodeKind::Hidden
                if graph.edge_name(e) == EdgeName::Name("sloppy_function_map")
                    && graph.name(v) == "system / NativeContext" =>
            {
                return false;
            }
            NodeKind::Array if graph.name(v) == "(map descriptors)" => {
                let index = match graph.edge_name(e) {
                    EdgeName::Index(i) => Some(i),
                    EdgeName::Name(s) => leading_number(s),
                };
                if let Some(i) = index {
                    return i < 2 || i % 3 != 1;
                }
            }
            _ => {}
        }
        if kind == EdgeKind::Internal
            && let EdgeName::Name(name) = graph.edge_name(e)
            && let Some((shared, _)) = parse_ephemeron(name)
            && !self.pending.remove(shared)
        {
            self.pending.insert(shared);
            return false;
        }
        true
    }
}

/// JavaScript's `parseInt` on a decimal prefix.
fn leading_number(s: &str) -> Option<u32> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    s[..digits].parse().ok()
}

/// A FIFO queue of node indices in blocks of 64Ki, drained blocks kept for reuse: it holds
/// about its longest length, where a ring buffer that doubles holds up to twice that.
#[derive(Default)]
struct BlockQueue {
    /// Full blocks, oldest first.
    full: VecDeque<Vec<u32>>,
    /// The block being filled.
    tail: Vec<u32>,
    len: usize,
    spare: Vec<Vec<u32>>,
}

impl BlockQueue {
    const BLOCK: usize = 1 << 16;

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn push_back(&mut self, v: u32) {
        if self.tail.len() == self.tail.capacity() {
            let fresh = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(Self::BLOCK));
            let filled = std::mem::replace(&mut self.tail, fresh);
            if !filled.is_empty() {
                self.full.push_back(filled);
            }
        }
        self.tail.push(v);
        self.len += 1;
    }

    /// Takes the oldest block out of the queue, to be read as a slice and then given back
    /// through [`BlockQueue::recycle`].
    fn take_front(&mut self) -> Option<Vec<u32>> {
        let block = match self.full.pop_front() {
            Some(block) => block,
            None if !self.tail.is_empty() => std::mem::take(&mut self.tail),
            None => return None,
        };
        self.len -= block.len();
        Some(block)
    }

    fn recycle(&mut self, mut block: Vec<u32>) {
        block.clear();
        self.spare.push(block);
    }
}

/// Runs the BFS from the nodes in `queue`, which are at `first_distance`, until it is empty;
/// `reached`, if given, gets a bit for every node the BFS reaches.
fn bfs<'g>(
    graph: &'g HeapGraph,
    parent: &mut [u32],
    queue: &mut BlockQueue,
    first_distance: u32,
    filter: &mut Filter<'g>,
    visit: &mut impl FnMut(NodeIndex, u32),
    mut reached: Option<&mut BitSet>,
) {
    let mut distance = first_distance;
    // Nodes of the current level still to take from the queue.
    let mut level_left = queue.len();
    while let Some(block) = queue.take_front() {
        for (k, &v) in block.iter().enumerate() {
            if level_left == 0 {
                distance += 1;
                level_left = block.len() - k + queue.len();
            }
            level_left -= 1;
            let filtered = filter.applies_to(graph, v);
            for e in graph.edges(v) {
                let t = graph.edge_target(e);
                if graph.edge_kind(e) == EdgeKind::Weak || parent[t as usize] != NONE {
                    continue;
                }
                if filtered && !filter.keep(graph, v, e) {
                    continue;
                }
                parent[t as usize] = e;
                queue.push_back(t);
                if let Some(reached) = reached.as_deref_mut() {
                    reached.set(t);
                }
                visit(t, distance + 1);
            }
        }
        queue.recycle(block);
    }
}

/// One step of a retainer path: `label in holder_class @holder_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetainerStep {
    /// The V8 edge type: `property`, `element`, `context`, `internal`, ...
    #[serde(deserialize_with = "edge_kind_name")]
    pub edge_kind: StaticName,
    /// The edge name as written: a property or variable name, or an element index.
    pub edge_name: String,
    /// The edge as shown: `tasks`, `[812]`, or `tasks[812]` when the holder itself was
    /// reached through a named edge.
    pub label: String,
    /// The holder's class key, or its name for V8 internals (`system / Context`).
    pub holder_class: String,
    /// The holder's heap object id.
    pub holder_id: u32,
    /// Further steps of the same kind through holders of the same class right above this one,
    /// folded into it (a rope of strings, a linked list): the path goes on from the last.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeat: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[cfg(test)]
impl RetainerStep {
    /// A step whose label is its edge's name, folding nothing (for tests).
    pub(crate) fn named(edge_kind: StaticName, name: &str, holder_class: &str, id: u32) -> Self {
        RetainerStep {
            edge_kind,
            edge_name: name.into(),
            label: name.into(),
            holder_class: holder_class.into(),
            holder_id: id,
            repeat: 0,
        }
    }
}

/// `&'static str` under another name, so that serde's derive does not take the field for a
/// string borrowed from its input (it reads it with [`edge_kind_name`]).
type StaticName = &'static str;

/// Reads an edge type back as V8's name for it (a report read from JSON); a name this
/// version does not know reads as `unknown`.
fn edge_kind_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let name = String::deserialize(d)?;
    Ok(crate::snapshot::EdgeKind::from_v8_name(&name).v8_name())
}

/// The shortest chain of references from a root to a node, deepest step first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetainerPath {
    /// The heap object id of the node the path leads to.
    pub node_id: u32,
    /// False when no root reaches the node (only weak references hold it, if any).
    pub reached: bool,
    /// The steps, from the node's holder up towards the roots.
    pub steps: Vec<RetainerStep>,
    /// Steps left out after the display limit.
    pub elided: usize,
    /// Where the path starts: `(global)` for a global object, or a `(GC roots)` subroot such
    /// as `(Handle scope)`.
    pub origin: Option<String>,
}

/// A name from the snapshot as it may be shown on one line: control characters (escape
/// sequences, line breaks) written as escapes, so a property or class name cannot drive a
/// terminal or fake a line of a CI log.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for RetainerStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {} @{}", Shown(&self.label), Shown(&self.holder_class), self.holder_id)?;
        if self.repeat > 0 {
            let steps = if self.repeat == 1 { "step" } else { "steps" };
            write!(f, " <- [{} more {steps} through {}]", self.repeat, Shown(&self.holder_class))?;
        }
        Ok(())
    }
}

impl fmt::Display for RetainerPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.reached {
            return f.write_str("(unreachable)");
        }
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let s = if first { "" } else { " <- " };
            first = false;
            f.write_str(s)
        };
        for step in &self.steps {
            sep(f)?;
            write!(f, "{step}")?;
        }
        if self.elided > 0 {
            sep(f)?;
            write!(f, "... {} more", self.elided)?;
        }
        if let Some(origin) = &self.origin {
            sep(f)?;
            write!(f, "{}", Shown(origin))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::GraphBuilder;

    struct Heap {
        graph: HeapGraph,
        global: NodeIndex,
        list: NodeIndex,
        task: NodeIndex,
        handle: NodeIndex,
        held: NodeIndex,
        orphan: NodeIndex,
    }

    fn heap() -> Heap {
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", 1, 0);
        let gc = b.node(NodeKind::Synthetic, "(GC roots)", 3, 0);
        let hs = b.node(NodeKind::Synthetic, "(Handle scope)", 5, 0);
        let global = b.node(NodeKind::Object, "global", 7, 32);
        let list = b.node(NodeKind::Object, "Array", 9, 16);
        let elements = b.node(NodeKind::Array, "(object elements)", 11, 64);
        let task = b.node(NodeKind::Object, "Task", 13, 24);
        let ctx = b.node(NodeKind::Hidden, "system / Context", 15, 40);
        let handle = b.node(NodeKind::Object, "Handle", 17, 8);
        let held = b.node(NodeKind::Object, "Held", 19, 8);
        let orphan = b.node(NodeKind::Object, "Orphan", 21, 8);
        b.indexed_edge(root, EdgeKind::Element, 1, gc);
        b.edge(root, EdgeKind::Shortcut, "1", global);
        b.indexed_edge(gc, EdgeKind::Element, 1, hs);
        b.indexed_edge(hs, EdgeKind::Element, 1, handle);
        b.edge(handle, EdgeKind::Property, "held", held);
        b.edge(global, EdgeKind::Property, "tasks", list);
        b.edge(global, EdgeKind::Internal, "context", ctx);
        b.edge(list, EdgeKind::Internal, "elements", elements);
        b.indexed_edge(list, EdgeKind::Element, 812, task);
        b.edge(ctx, EdgeKind::Context, "current", task);
        b.edge(global, EdgeKind::Weak, "w", orphan);
        Heap { graph: b.build(), global, list, task, handle, held, orphan }
    }

    #[test]
    fn distances_follow_devtools() {
        let h = heap();
        let paths = ShortestPaths::compute(&h.graph);
        let g = &h.graph;
        assert_eq!(paths.distance(g, h.global), Some(1));
        assert_eq!(paths.distance(g, h.list), Some(2));
        assert_eq!(paths.distance(g, h.task), Some(3));
        assert_eq!(paths.distance(g, g.root()), Some(SYSTEM_DISTANCE));
        assert_eq!(paths.distance(g, h.handle), Some(SYSTEM_DISTANCE + 3));
        assert_eq!(paths.distance(g, h.held), Some(SYSTEM_DISTANCE + 4));
        assert!(paths.is_system(h.held));
        assert!(!paths.is_system(h.task));
        assert_eq!(paths.distance(g, h.orphan), None);
    }

    #[test]
    fn visitor_sees_nondecreasing_distances() {
        let h = heap();
        let mut seen = Vec::new();
        ShortestPaths::compute_with(&h.graph, |n, d| seen.push((n, d)));
        assert!(seen.windows(2).all(|w| w[0].1 <= w[1].1));
        assert_eq!(seen.len(), h.graph.node_count() - 1);
        let paths = ShortestPaths::compute(&h.graph);
        for (n, d) in seen {
            assert_eq!(paths.distance(&h.graph, n), Some(d));
        }
    }

    #[test]
    fn retainer_paths_read_like_devtools() {
        let h = heap();
        let classes = ClassIndex::build(&h.graph);
        let paths = ShortestPaths::compute(&h.graph);
        let p = paths.retainer_path(&h.graph, &classes, h.task, 10);
        assert_eq!(p.to_string(), "tasks[812] in Array @9 <- tasks in global @7 <- (global)");
        assert_eq!(p.steps[0].edge_kind, "element");
        assert_eq!(p.steps[0].edge_name, "812");
        let p = paths.retainer_path(&h.graph, &classes, h.held, 10);
        assert_eq!(p.to_string(), "held in Handle @17 <- (Handle scope)");
        let p = paths.retainer_path(&h.graph, &classes, h.task, 1);
        assert_eq!(p.to_string(), "tasks[812] in Array @9 <- ... 1 more <- (global)");
        let p = paths.retainer_path(&h.graph, &classes, h.orphan, 10);
        assert_eq!(p.to_string(), "(unreachable)");
        let p = paths.retainer_path(&h.graph, &classes, h.global, 10);
        assert_eq!(p.to_string(), "(global)");
    }

    #[test]
    fn a_chain_through_one_structure_is_one_step() {
        // timers (a global) -> 30 Timeouts linked by `_idleNext` -> a callback's response.
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", 1, 0);
        let global = b.node(NodeKind::Object, "global", 3, 8);
        let list = b.node(NodeKind::Object, "TimersList", 5, 8);
        b.edge(root, EdgeKind::Shortcut, "1", global);
        b.edge(global, EdgeKind::Property, "timers", list);
        let mut prev = list;
        for i in 0..30 {
            let timeout = b.node(NodeKind::Object, "Timeout", 7 + 2 * i, 8);
            b.edge(prev, EdgeKind::Property, "_idleNext", timeout);
            prev = timeout;
        }
        let res = b.node(NodeKind::Object, "ServerResponse", 101, 8);
        b.edge(prev, EdgeKind::Property, "res", res);
        let g = b.build();
        let classes = ClassIndex::build(&g);
        let paths = ShortestPaths::compute(&g);
        let p = paths.retainer_path(&g, &classes, res, 3);
        assert_eq!(
            p.to_string(),
            "res in Timeout @65 <- [29 more steps through Timeout] <- _idleNext in TimersList @5 \
             <- timers in global @3 <- (global)"
        );
        assert_eq!((p.steps.len(), p.steps[0].repeat, p.elided), (3, 29, 0));
        let p = paths.retainer_path(&g, &classes, res, 1);
        assert_eq!(
            p.to_string(),
            "res in Timeout @65 <- [29 more steps through Timeout] <- ... 2 more <- (global)"
        );
        // Read back from JSON as written; a step that folds nothing writes no `repeat`.
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json.matches("\"repeat\"").count(), 1);
        assert_eq!(serde_json::from_str::<RetainerPath>(&json).unwrap(), p);
    }

    #[test]
    fn weakmap_value_is_as_far_as_the_farther_retainer() {
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", 1, 0);
        let global = b.node(NodeKind::Object, "global", 3, 8);
        let table = b.node(NodeKind::Array, "system / EphemeronHashTable", 5, 8);
        let holder = b.node(NodeKind::Object, "Holder", 7, 8);
        let key = b.node(NodeKind::Object, "Key", 9, 8);
        let value = b.node(NodeKind::Object, "Value", 11, 8);
        b.edge(root, EdgeKind::Shortcut, "1", global);
        b.edge(global, EdgeKind::Internal, "table", table);
        b.edge(global, EdgeKind::Property, "h", holder);
        b.edge(holder, EdgeKind::Property, "key", key);
        let name = "1 / part of key (Key @9) -> value (Value @11) pair in WeakMap (table @5)";
        b.edge(table, EdgeKind::Internal, name, value);
        b.edge(key, EdgeKind::Internal, name, value);
        let g = b.build();
        let paths = ShortestPaths::compute(&g);
        assert_eq!(paths.distance(&g, value), Some(4));
    }

    #[test]
    fn block_queue_is_first_in_first_out_across_blocks() {
        let mut q = BlockQueue::default();
        let mut model = VecDeque::new();
        let mut next = 0u32;
        // Grow past several blocks, drain part way, grow again, then drain it all.
        for (push, take) in [(200_000, 3), (70_000, 1), (10, 4)] {
            for _ in 0..push {
                q.push_back(next);
                model.push_back(next);
                next += 1;
            }
            for _ in 0..take {
                let Some(block) = q.take_front() else { break };
                for &v in &block {
                    assert_eq!(Some(v), model.pop_front());
                }
                q.recycle(block);
                assert_eq!(q.len(), model.len());
            }
        }
        assert!(q.is_empty() && model.is_empty());
    }

    #[test]
    fn edge_source_finds_the_owner() {
        let h = heap();
        let g = &h.graph;
        for v in g.nodes() {
            for e in g.edges(v) {
                assert_eq!(edge_source(g, e), v);
            }
        }
    }
}
