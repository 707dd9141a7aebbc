//! The function a listener or timer leak registered: the callback closure that an emitter's
//! listener table or a timer holds, named with its file, line and column from the snapshot's
//! `locations`. It names the service's code when no sampled allocation site does (sampling
//! missed the registration, `--allocations off`, `leakcheck diff` of snapshot files).

use super::allocations::{CodeLocation, file_of};
use super::compare::Comparison;
use super::paths::{ShortestPaths, edge_source};
use crate::snapshot::{EdgeKind, EdgeName, HeapGraph, NodeIndex, NodeKind};

/// Steps followed up from a leaked object to find the listener table or the timer. A
/// retainer path is shown 8 steps long; the table lies within a few steps above the holder,
/// which is usually within this.
const MAX_STEPS: usize = 24;

impl Comparison {
    /// Names the callback of every cluster recognised as a timer or listener leak (one with a
    /// hint): see [`callback`]. `paths` are the last snapshot's shortest paths.
    pub fn fill_callbacks(&mut self, graph: &HeapGraph, paths: &ShortestPaths) {
        for class in &mut self.classes {
            for cluster in &mut class.clusters {
                if cluster.hint.is_some() {
                    cluster.callback = callback(graph, paths, cluster.sample.index);
                }
            }
        }
    }
}

/// The callback a leaked object hangs from, and where its code is: walking up the shortest
/// path from `node`, the first timer met (a `Timeout`, whose `_onTimeout` is its callback) or
/// emitter's listener table (`_events`: the listener is the closure on the path just below the
/// event's key, or the table's last listener for that event when the path stops above it). A
/// `once` wrapper gives way to the listener it wraps (its `listener` property). `None` when
/// neither is met, or V8 gave the function no location (builtins, bound functions).
pub fn callback(graph: &HeapGraph, paths: &ShortestPaths, node: NodeIndex) -> Option<CodeLocation> {
    let mut chain = vec![node];
    let mut x = node;
    for _ in 0..MAX_STEPS {
        if is_timer(graph, x) {
            let callback = graph.named_target(x, EdgeKind::Property, &["_onTimeout"])?;
            return located(graph, callback);
        }
        let e = paths.parent_edge(x)?;
        if graph.edge_name(e) == EdgeName::Name("_events") {
            // chain: ..., listener?, event's value, the table (x).
            let value = chain.len().checked_sub(2).map(|i| chain[i])?;
            let listener = match chain.len().checked_sub(3).map(|i| chain[i]) {
                Some(below) if graph.kind(value) != NodeKind::Closure => below,
                _ => value,
            };
            let listener = if graph.kind(listener) == NodeKind::Closure {
                listener
            } else {
                last_listener(graph, value)?
            };
            return located(graph, unwrap_once(graph, listener));
        }
        x = edge_source(graph, e);
        chain.push(x);
    }
    None
}

/// True for Node's timer objects.
fn is_timer(graph: &HeapGraph, node: NodeIndex) -> bool {
    graph.kind(node) == NodeKind::Object && graph.name(node) == "Timeout"
}

/// The last function among an array's elements: the most recently added listener.
fn last_listener(graph: &HeapGraph, array: NodeIndex) -> Option<NodeIndex> {
    graph
        .edges(array)
        .filter(|&e| graph.edge_kind(e) == EdgeKind::Element)
        .map(|e| graph.edge_target(e))
        .rfind(|&t| graph.kind(t) == NodeKind::Closure)
}

/// The listener a `once` wrapper wraps (Node keeps it as the wrapper's `listener`).
fn unwrap_once(graph: &HeapGraph, f: NodeIndex) -> NodeIndex {
    graph
        .named_target(f, EdgeKind::Property, &["listener"])
        .filter(|&l| graph.kind(l) == NodeKind::Closure)
        .unwrap_or(f)
}

/// A function as people read it: its name (`(anonymous)` when it has none), its script as a
/// file, 1-based line and column.
fn located(graph: &HeapGraph, f: NodeIndex) -> Option<CodeLocation> {
    if graph.kind(f) != NodeKind::Closure {
        return None;
    }
    let at = graph.location(f)?;
    let name = graph.name(f);
    Some(CodeLocation {
        function: if name.is_empty() { "(anonymous)".into() } else { name.to_owned() },
        file: graph.script_name(f).map_or_else(|| format!("(script {})", at.script_id), file_of),
        line: at.line + 1,
        column: at.column + 1,
        generated: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::GraphBuilder;

    /// A closure with its SharedFunctionInfo and script, as Node 20 writes them.
    fn function(b: &mut GraphBuilder, name: &str, id: u32, line: u32) -> NodeIndex {
        let f = b.node(NodeKind::Closure, name, id, 32);
        let shared = b.node(NodeKind::Code, name, id + 1, 40);
        let script = b.node(NodeKind::Code, "/srv/hub.js", id + 2, 80);
        let url = b.node(NodeKind::String, "file:///srv/hub.js", id + 3, 40);
        b.edge(f, EdgeKind::Internal, "shared", shared);
        b.edge(shared, EdgeKind::Internal, "script_or_debug_info", script);
        b.edge(script, EdgeKind::Internal, "name", url);
        b.location(f, 81, line, 20);
        f
    }

    #[test]
    fn a_listener_is_the_closure_below_the_events_key_or_the_tables_last() {
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", 1, 0);
        let global = b.node(NodeKind::Object, "global", 3, 16);
        let bus = b.node(NodeKind::Object, "EventEmitter", 5, 16);
        let table = b.node(NodeKind::Object, "Object", 7, 16);
        let list = b.node(NodeKind::Object, "Array", 9, 16);
        let first = function(&mut b, "onMessage", 100, 180);
        let second = function(&mut b, "", 200, 190);
        let held = b.node(NodeKind::Object, "ServerResponse", 11, 64);
        b.edge(root, EdgeKind::Shortcut, "1", global);
        b.edge(global, EdgeKind::Property, "topicBus", bus);
        b.edge(bus, EdgeKind::Property, "_events", table);
        b.edge(table, EdgeKind::Property, "message", list);
        b.indexed_edge(list, EdgeKind::Element, 0, first);
        b.indexed_edge(list, EdgeKind::Element, 1, second);
        b.edge(first, EdgeKind::Property, "res", held);
        let g = b.build();
        let paths = ShortestPaths::compute(&g);
        let at = callback(&g, &paths, held).expect("the listener holding the response");
        assert_eq!(at.to_string(), "onMessage (/srv/hub.js:181:21)");
        // The array itself leaks: its last listener.
        let at = callback(&g, &paths, list).unwrap();
        assert_eq!(at.to_string(), "(anonymous) (/srv/hub.js:191:21)");
        // Nothing of an emitter or timer above: no callback.
        assert_eq!(callback(&g, &paths, bus), None);
    }

    #[test]
    fn a_timer_is_named_by_its_callback() {
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", 1, 0);
        let global = b.node(NodeKind::Object, "global", 3, 16);
        let timer = b.node(NodeKind::Object, "Timeout", 5, 120);
        let tick = function(&mut b, "", 100, 80);
        let beat = b.node(NodeKind::Object, "{client}", 7, 32);
        b.edge(root, EdgeKind::Shortcut, "1", global);
        b.edge(global, EdgeKind::Property, "timer", timer);
        b.edge(timer, EdgeKind::Property, "_onTimeout", tick);
        b.edge(tick, EdgeKind::Context, "beat", beat);
        let g = b.build();
        let paths = ShortestPaths::compute(&g);
        for leaked in [timer, beat] {
            let at = callback(&g, &paths, leaked).expect("the timer's callback");
            assert_eq!(at.to_string(), "(anonymous) (/srv/hub.js:81:21)");
        }
    }
}
