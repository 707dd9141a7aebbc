//! Which edges of a heap graph retain their target, as DevTools' `isEssentialEdge` decides:
//! the dominator tree and the distances are built over these edges only.
//!
//! - weak edges and self edges never do;
//! - `shortcut` edges only from the root (there they mark the global objects);
//! - when the root has shortcut edges, nodes reachable from their targets are "page owned" and
//!   an edge from a node that is not page owned to one that is does not retain (so debugger and
//!   handle-scope references do not steal the page's objects);
//! - the WeakMap table's edge to a value does not retain; the key's edge to it does.
//!

use crate::snapshot::{EdgeIndex, EdgeKind, HeapGraph, NodeIndex, NodeKind};

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

    /// Unsets every bit.
    pub(crate) fn clear(&mut self) {
        self.words.fill(0);
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

/// Which edges keep their target alive (see the module docs), decided edge by edge as the
/// walks reach them, so no per-edge table is needed.
pub(crate) struct Retaining {
    /// Page-owned nodes: those reachable from the root's shortcut targets.
    page: BitSet,
    any_page: bool,
    /// Nodes whose id some WeakMap entry's edge name gives as its table: only their internal
    /// edges need their names read (a random read per node otherwise).
    tables: BitSet,
    root: NodeIndex,
}

impl Retaining {
    /// Marks the page-owned nodes; `scratch` is used as a stack and left empty.
    pub(crate) fn new(graph: &HeapGraph, scratch: &mut Vec<u32>) -> Retaining {
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
                        graph.kind(t) == NodeKind::Synthetic
                            && graph.name(t) == "(Document DOM trees)"
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
        Retaining { page, any_page, tables: weakmap_tables(graph), root }
    }

    /// What the rule needs to know about an edge's source, computed once per source.
    #[inline]
    pub(crate) fn source(&self, v: NodeIndex) -> Source {
        let from_root = v == self.root;
        Source {
            v,
            from_root,
            cross_checked: !from_root && self.any_page && !self.page.get(v),
            table: self.tables.get(v),
        }
    }

    /// True when edge `e` of `source` keeps its target alive.
    #[inline]
    pub(crate) fn retains(&self, graph: &HeapGraph, source: Source, e: EdgeIndex) -> bool {
        let t = graph.edge_target(e);
        let keep = match graph.edge_kind(e) {
            EdgeKind::Weak => false,
            _ if t == source.v => false,
            _ if source.from_root => true,
            EdgeKind::Shortcut => false,
            EdgeKind::Internal if source.table => !is_own_weakmap_value(graph, source.v, e),
            _ => true,
        };
        // A node that is not page owned does not retain one that is.
        keep && !(source.cross_checked && self.page.get(t))
    }
}

/// An edge source as [`Retaining::retains`] sees it.
#[derive(Clone, Copy)]
pub(crate) struct Source {
    v: NodeIndex,
    from_root: bool,
    /// The source is not page owned while some nodes are: its edges to page-owned nodes do
    /// not retain.
    cross_checked: bool,
    /// Some WeakMap entry names the source as its table.
    table: bool,
}

/// True when `e`, an internal edge of `v`, is a WeakMap table's edge to one of its values.
#[inline(never)]
fn is_own_weakmap_value(graph: &HeapGraph, v: NodeIndex, e: EdgeIndex) -> bool {
    parse_ephemeron(graph.strings().get(graph.edge_name_or_index(e)))
        .is_some_and(|(_, table)| table == graph.id(v))
}

/// The strings that parse as ephemeron edge names (see [`parse_ephemeron`]), one bit per
/// string index; `None` when there are none. One look at every string: most fail at their
/// last byte.
pub(crate) fn ephemeron_names(graph: &HeapGraph) -> Option<BitSet> {
    let strings = graph.strings();
    let mut names: Option<BitSet> = None;
    for s in 0..strings.len() as u32 {
        if parse_ephemeron(strings.get(s)).is_some() {
            names.get_or_insert_with(|| BitSet::new(strings.len())).set(s);
        }
    }
    names
}

/// The nodes whose id an ephemeron edge name gives as its table.
fn weakmap_tables(graph: &HeapGraph) -> BitSet {
    let mut tables = BitSet::new(graph.node_count());
    if let Some(names) = ephemeron_names(graph) {
        let strings = graph.strings();
        let ids: std::collections::HashSet<u32> = (0..strings.len() as u32)
            .filter(|&s| names.get(s))
            .filter_map(|s| parse_ephemeron(strings.get(s)).map(|(_, table)| table))
            .collect();
        for v in graph.nodes() {
            if ids.contains(&graph.id(v)) {
                tables.set(v);
            }
        }
    }
    tables
}

/// One bit per edge, set when the edge retains: the rule above as a table, for tests.
#[cfg(test)]
pub(crate) struct RetainingEdges {
    pub(crate) bits: BitSet,
}

#[cfg(test)]
pub(crate) fn retaining_edges(graph: &HeapGraph, scratch: &mut Vec<u32>) -> RetainingEdges {
    let rule = Retaining::new(graph, scratch);
    let mut bits = BitSet::new(graph.edge_count());
    for v in graph.nodes() {
        let source = rule.source(v);
        for e in graph.edges(v) {
            if rule.retains(graph, source, e) {
                bits.set(e);
            }
        }
    }
    RetainingEdges { bits }
}
