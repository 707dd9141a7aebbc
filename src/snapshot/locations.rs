//! Where a function's source is: V8's `locations` section (`object_index, script_id, line,
//! column`, 0-based), kept for closures only, and the edges from a closure to its script's
//! name (`shared` → `script_or_debug_info` → `name`).
//!
//! Memory: 8 bytes per closure that has a location (its node and a code) plus 12 per distinct
//! position; closures made by one function literal share a position, so a leak of a million
//! listeners costs 8 MB, not 16. V8 also writes a location for objects (their constructor's);
//! those are not kept.

use std::collections::HashMap;

use super::graph::{EdgeKind, HeapGraph, NodeIndex};

/// A function's place in its script, as V8 writes it: the script's id, and the 0-based line
/// and column where the function starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourcePosition {
    /// V8's script id (as in `Debugger.scriptParsed`).
    pub script_id: u32,
    /// 0-based line.
    pub line: u32,
    /// 0-based column.
    pub column: u32,
}

/// The closures' positions, sorted by node.
#[derive(Clone, Debug, Default)]
pub(crate) struct Locations {
    /// `(node, index into positions)`, ascending by node.
    nodes: Vec<(NodeIndex, u32)>,
    positions: Vec<SourcePosition>,
}

impl Locations {
    fn get(&self, node: NodeIndex) -> Option<SourcePosition> {
        let i = self.nodes.binary_search_by_key(&node, |&(n, _)| n).ok()?;
        Some(self.positions[self.nodes[i].1 as usize])
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * 8 + self.positions.capacity() * 12
    }

    /// Every kept location, ascending by node (for the writer).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (NodeIndex, SourcePosition)> + '_ {
        self.nodes.iter().map(|&(n, p)| (n, self.positions[p as usize]))
    }
}

/// Builds [`Locations`] one entry at a time, in any order (Node 20 does not write them in
/// node order: measured on `events-hub.js`).
#[derive(Default)]
pub(crate) struct LocationsBuilder {
    locations: Locations,
    code_of: HashMap<SourcePosition, u32>,
}

impl LocationsBuilder {
    pub(crate) fn push(&mut self, node: NodeIndex, position: SourcePosition) {
        let next = self.locations.positions.len() as u32;
        let code = *self.code_of.entry(position).or_insert(next);
        if code == next {
            self.locations.positions.push(position);
        }
        self.locations.nodes.push((node, code));
    }

    pub(crate) fn finish(self) -> Locations {
        let mut l = self.locations;
        // Stable: a node listed twice keeps the position listed first.
        l.nodes.sort_by_key(|&(n, _)| n);
        l.nodes.dedup_by_key(|&mut (n, _)| n);
        l.nodes.shrink_to_fit();
        l.positions.shrink_to_fit();
        l
    }
}

impl HeapGraph {
    /// Where the function `node` starts in its script, from the snapshot's `locations`
    /// (`None` for other nodes, and for functions V8 gave no location, such as builtins).
    pub fn location(&self, node: NodeIndex) -> Option<SourcePosition> {
        self.locations.get(node)
    }

    /// The name of the script a function's code is in: its URL (`file:///…`, `node:events`)
    /// or, for CommonJS in Node, its absolute path. Read off the graph: the closure's internal
    /// `shared` edge leads to its SharedFunctionInfo, whose `script_or_debug_info` (newer V8:
    /// `script`) leads to the script, whose `name` is the URL's string. `None` when an edge is
    /// missing or the name is empty (code from `eval`).
    pub fn script_name(&self, node: NodeIndex) -> Option<&str> {
        let name = self.named_target(self.script_node(node)?, EdgeKind::Internal, &["name"])?;
        Some(self.name(name)).filter(|s| self.kind(name).is_string() && !s.is_empty())
    }

    /// The script node of a function (see [`HeapGraph::script_name`]).
    pub(crate) fn script_node(&self, node: NodeIndex) -> Option<NodeIndex> {
        let shared = self.named_target(node, EdgeKind::Internal, &["shared"])?;
        let script =
            self.named_target(shared, EdgeKind::Internal, &["script_or_debug_info", "script"])?;
        // A function with a debug info (breakpoints) points to that, which points on to the
        // script.
        match self.named_target(script, EdgeKind::Internal, &["name"]) {
            Some(_) => Some(script),
            None => self.named_target(script, EdgeKind::Internal, &["script"]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_shared_and_looked_up_by_node() {
        let mut b = LocationsBuilder::default();
        let p = |line| SourcePosition { script_id: 81, line, column: 4 };
        b.push(9, p(180));
        b.push(3, p(80));
        b.push(5, p(180));
        let l = b.finish();
        assert_eq!(l.positions.len(), 2, "one per distinct position");
        assert_eq!(l.get(5), Some(p(180)));
        assert_eq!(l.get(3), Some(p(80)));
        assert_eq!(l.get(4), None);
        assert_eq!(l.iter().map(|(n, _)| n).collect::<Vec<_>>(), [3, 5, 9]);
    }

    /// A closure with its SharedFunctionInfo and script, as Node 20 writes them, and a
    /// `locations` array that also lists an object (at its constructor's place), out of node
    /// order as V8 writes it.
    const WITH_LOCATIONS: &str = r#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"string","number","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"],"location_fields":["object_index","script_id","line","column"]},"node_count":6,"edge_count":4,"trace_function_count":0},
"nodes":[9,0,1,0,1,0,0
,5,1,3,32,1,0,0
,4,1,5,40,1,0,0
,4,2,7,80,1,0,0
,2,2,9,24,0,0,0
,3,6,11,16,0,0,0],
"edges":[1,1,7
,3,3,14
,3,4,21
,3,5,28],
"trace_function_infos":[],"trace_tree":[],"samples":[],"locations":[35,81,2,0,7,81,180,20],
"strings":["","onMessage","/srv/hub.js","shared","script_or_debug_info","name","Hub"]}"#;

    #[test]
    fn a_closure_has_its_position_and_its_scripts_name() {
        let g = super::super::parse(WITH_LOCATIONS.as_bytes()).unwrap();
        let at = SourcePosition { script_id: 81, line: 180, column: 20 };
        assert_eq!(g.location(1), Some(at));
        assert_eq!(g.script_name(1), Some("/srv/hub.js"));
        // The object's entry (its constructor's place) is not kept.
        assert_eq!(g.location(5), None);
        assert_eq!(g.script_name(5), None);
        for layout in [super::super::Layout::Node20, super::super::Layout::Modern] {
            let mut out = Vec::new();
            super::super::write_snapshot(&g, &mut out, layout).unwrap();
            let again = super::super::parse(out.as_slice()).unwrap();
            assert_eq!(again.location(1), Some(at), "{layout:?}");
            assert_eq!(again.script_name(1), Some("/srv/hub.js"));
        }
        // No `location_fields` in the meta: nothing is kept, nothing fails.
        let bare = WITH_LOCATIONS
            .replace(r#","location_fields":["object_index","script_id","line","column"]"#, "");
        assert_eq!(super::super::parse(bare.as_bytes()).unwrap().location(1), None);
        // An entry that is not a node is an error, like an edge's.
        let bad = WITH_LOCATIONS.replace("[35,81,2,0,", "[36,81,2,0,");
        let err = super::super::parse(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("object_index"), "{err}");
        // Read by the workers (as in a large snapshot), the same positions and the same error
        // at the same place.
        for block in [1, 3, 16] {
            let options = super::super::parse::tests::tiny_blocks(block);
            let g = super::super::parse_with(WITH_LOCATIONS.as_bytes(), &options).unwrap();
            assert_eq!((g.location(1), g.location(5)), (Some(at), None), "block {block}");
            let again = super::super::parse_with(bad.as_bytes(), &options).unwrap_err();
            assert_eq!(again.to_string(), err.to_string(), "block {block}");
        }
    }
}
