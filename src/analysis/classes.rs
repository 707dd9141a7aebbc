//! Class keys: the name each node is grouped under, the way users know it from the Summary view
//! of Chrome DevTools. Computed once per graph, in one pass, as one `u32` per node.
//!
//! # Key scheme
//!
//! | node type | class key |
//! |---|---|
//! | `object`, `native` | the node name (the constructor name for JS objects); an HTML-like name `<div id="a">` is shortened to `<div>`, `Detached <div id="a">` to `Detached <div>` |
//! | `object` named `Object` | its **shape**: `{id, prompt, timestamp}`, the names of its `property` edges in edge (insertion) order, without `__proto__`; internal and element edges are ignored |
//! | `closure` | `(closure)` |
//! | `code` | `(compiled code)` |
//! | `hidden` | `(system)` |
//! | `regexp` | `RegExp` |
//! | anything else | the V8 type in parentheses: `(string)`, `(concatenated string)`, `(sliced string)`, `(array)`, `(number)`, `(symbol)`, `(bigint)`, `(object shape)`, `(synthetic)`, ... |
//!
//! A plain `Object` keeps the key `Object` when it has no properties, more than
//! [`MAX_SHAPE_PROPERTIES`] properties (most likely a dictionary), or a shape no other object
//! in the snapshot shares.
//!
//! # Backing stores
//!
//! The bytes behind an `ArrayBuffer` (every Node `Buffer`, typed array and `Uint8Array` body
//! chunk has one) live outside the V8 heap, and V8 writes them as a node of their own: a
//! `native` node named `system / JSArrayBufferData` whose self size is the buffer's byte
//! length, reached from the `ArrayBuffer` over an internal `backing_store` edge (Node 20,
//! Deno 2 and workerd alike). A backing store is *folded* into the object that owns it: it
//! takes its owner's class, and adds its bytes to that class but no object, so `ArrayBuffer`
//! counts one object per buffer at the buffer's real size. A store no object owns keeps the
//! key `system / JSArrayBufferData`.
//!
//! Deviations from DevTools (`calculateObjectNames`, `inferInterfaceDefinitions`):
//! - DevTools calls closures `Function`; leakcheck keeps the older `(closure)`.
//! - DevTools names a shape after the most common property lists (up to 1000 of them, names up
//!   to 120 characters) and files an object under the largest listed *subset* of its sorted
//!   properties. leakcheck uses the exact property list, in order, which is cheaper and stable
//!   between snapshots, and still needs two objects to share a shape before naming it.
//! - Property names are used as written; DevTools quotes names containing `,'"{}`.

use std::collections::HashMap;

use crate::snapshot::{EdgeKind, HeapGraph, NodeIndex, NodeKind};

/// Index of a class key in a [`ClassIndex`].
pub type ClassId = u32;

/// The class key of V8's compiled code (bytecode, machine code and their tables).
pub const CODE_CLASS: &str = "(compiled code)";

/// The name V8 gives the node of an `ArrayBuffer`'s backing store (its self size is the
/// buffer's byte length).
pub const BACKING_STORE: &str = "system / JSArrayBufferData";

/// The internal edge from an `ArrayBuffer` to its backing store.
const BACKING_STORE_EDGE: &str = "backing_store";

/// Set in [`ClassIndex`]'s per-node class when the node is a backing store folded into its
/// owner (class ids stay far below it).
const FOLDED: u32 = 1 << 31;

/// Plain objects with more properties than this are most likely used as dictionaries, so they
/// stay `Object` rather than get a shape of their own.
pub const MAX_SHAPE_PROPERTIES: usize = 8;

const UNSET: u32 = u32::MAX;

/// The class key of every node of one graph.
#[derive(Clone, Debug, Default)]
pub struct ClassIndex {
    keys: Vec<String>,
    of_node: Vec<ClassId>,
}

impl ClassIndex {
    /// Computes the class of every node in one pass over nodes and their property edges.
    ///
    /// ```
    /// use leakcheck::analysis::ClassIndex;
    /// use leakcheck::snapshot::{EdgeKind, GraphBuilder, NodeKind};
    /// let mut b = GraphBuilder::new();
    /// let root = b.node(NodeKind::Synthetic, "", 1, 0);
    /// let task = b.node(NodeKind::Object, "Task", 3, 32);
    /// b.edge(root, EdgeKind::Property, "task", task);
    /// let classes = ClassIndex::build(&b.build());
    /// assert_eq!(classes.key_of(task), "Task");
    /// assert_eq!(classes.key_of(root), "(synthetic)");
    /// ```
    pub fn build(graph: &HeapGraph) -> ClassIndex {
        ClassIndex::build_in(graph, Vec::new())
    }

    /// [`ClassIndex::build`] in `buffer`'s memory (a spare one: see `analysis/spare.rs`).
    pub(crate) fn build_in(graph: &HeapGraph, mut of_node: Vec<ClassId>) -> ClassIndex {
        let mut b = Builder {
            graph,
            keys: Vec::new(),
            by_key: HashMap::new(),
            by_name: vec![UNSET; graph.strings().len()],
            by_shape: HashMap::new(),
            shape_counts: Vec::new(),
            shape_scratch: Vec::new(),
        };
        let mut by_kind = [UNSET; 17];
        of_node.clear();
        of_node.reserve_exact(graph.node_count());
        // (backing store, owner), in the owners' order.
        let mut stores: Vec<(NodeIndex, NodeIndex)> = Vec::new();
        for node in graph.nodes() {
            let kind = graph.kind(node);
            let class = match kind {
                NodeKind::Object => {
                    if let Some(store) = backing_store(graph, node) {
                        stores.push((store, node));
                    }
                    b.named(node, kind)
                }
                NodeKind::Native => b.named(node, kind),
                _ => {
                    let slot = &mut by_kind[kind as usize];
                    if *slot == UNSET {
                        *slot = b.intern(&kind_key(kind));
                    }
                    *slot
                }
            };
            of_node.push(class);
        }
        b.unshare_singletons(&mut of_node);
        for (store, owner) in stores {
            // The first owner keeps it (a store is owned once; an odd snapshot that shares one
            // must not count it twice).
            if of_node[store as usize] & FOLDED == 0 {
                of_node[store as usize] = of_node[owner as usize] | FOLDED;
            }
        }
        ClassIndex { keys: b.keys, of_node }
    }

    /// The buffer of the classes by node, for the next snapshot's (see `analysis/spare.rs`).
    pub(crate) fn into_buffer(self) -> Vec<ClassId> {
        self.of_node
    }

    /// The class of `node`. A backing store owned by an `ArrayBuffer` has its owner's class
    /// (see [the module docs](self)).
    pub fn class_of(&self, node: NodeIndex) -> ClassId {
        self.of_node[node as usize] & !FOLDED
    }

    /// True when `node` is a backing store folded into its owner's class: its bytes count for
    /// the class, but it is not an object of its own.
    ///
    /// ```
    /// use leakcheck::analysis::ClassIndex;
    /// use leakcheck::snapshot::{EdgeKind, GraphBuilder, NodeKind};
    /// let mut b = GraphBuilder::new();
    /// let root = b.node(NodeKind::Synthetic, "", 1, 0);
    /// let buffer = b.node(NodeKind::Object, "ArrayBuffer", 3, 80);
    /// let store = b.node(NodeKind::Native, "system / JSArrayBufferData", 5, 65536);
    /// b.edge(root, EdgeKind::Property, "upload", buffer);
    /// b.edge(buffer, EdgeKind::Internal, "backing_store", store);
    /// let classes = ClassIndex::build(&b.build());
    /// assert_eq!(classes.key_of(store), "ArrayBuffer");
    /// assert!(classes.is_folded(store) && !classes.is_folded(buffer));
    /// ```
    pub fn is_folded(&self, node: NodeIndex) -> bool {
        self.of_node[node as usize] & FOLDED != 0
    }

    /// 1 for a node that counts as an object of its class, 0 for a folded backing store.
    #[inline]
    pub fn object_count(&self, node: NodeIndex) -> u64 {
        (self.of_node[node as usize] & FOLDED == 0) as u64
    }

    /// The key of a class, e.g. `Task`, `(string)` or `{id, prompt}`.
    pub fn key(&self, class: ClassId) -> &str {
        &self.keys[class as usize]
    }

    /// The key of the class of `node`.
    pub fn key_of(&self, node: NodeIndex) -> &str {
        self.key(self.class_of(node))
    }

    /// All class keys, indexed by [`ClassId`].
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// Number of distinct classes.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the graph had no nodes.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The class with this key, if any node has it (a linear scan: for lookups, not loops).
    pub fn find(&self, key: &str) -> Option<ClassId> {
        self.keys.iter().position(|k| k == key).map(|i| i as ClassId)
    }

    /// Bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.of_node.capacity() * 4 + self.keys.iter().map(|k| k.capacity() + 24).sum::<usize>()
    }
}

/// The backing store an object owns: the target of its internal `backing_store` edge, when
/// that is a native node.
fn backing_store(graph: &HeapGraph, node: NodeIndex) -> Option<NodeIndex> {
    graph.edges(node).find_map(|e| {
        let target = graph.edge_target(e);
        (graph.edge_kind(e) == EdgeKind::Internal
            && graph.kind(target) == NodeKind::Native
            && graph.strings().get(graph.edge_name_or_index(e)) == BACKING_STORE_EDGE)
            .then_some(target)
    })
}

/// The key of every kind that is not named after the node.
fn kind_key(kind: NodeKind) -> String {
    match kind {
        NodeKind::Closure => "(closure)".into(),
        NodeKind::Code => CODE_CLASS.into(),
        NodeKind::Hidden => "(system)".into(),
        NodeKind::RegExp => "RegExp".into(),
        other => format!("({})", other.v8_name()),
    }
}

/// `<div id="a">` becomes `<div>`, `Detached <div id="a">` becomes `Detached <div>`, as
/// DevTools does; other names are kept.
fn short_name(name: &str) -> std::borrow::Cow<'_, str> {
    let from = if name.starts_with('<') {
        0
    } else if name.starts_with("Detached <") {
        10
    } else {
        return name.into();
    };
    match name[from..].find(' ') {
        Some(space) => format!("{}>", &name[..from + space]).into(),
        None => name.into(),
    }
}

struct Builder<'g> {
    graph: &'g HeapGraph,
    keys: Vec<String>,
    by_key: HashMap<String, ClassId>,
    /// Class per node-name string index: a flat memo, so naming costs one array read per node.
    by_name: Vec<ClassId>,
    /// Class per property list (string indices), so shapes are looked up without allocating.
    by_shape: HashMap<Box<[u32]>, ClassId>,
    /// How many objects have each shape class (indexed by class id; 0 for non-shape classes).
    shape_counts: Vec<u32>,
    shape_scratch: Vec<u32>,
}

impl Builder<'_> {
    fn intern(&mut self, key: &str) -> ClassId {
        if let Some(&id) = self.by_key.get(key) {
            return id;
        }
        let id = self.keys.len() as ClassId;
        self.keys.push(key.to_owned());
        self.by_key.insert(key.to_owned(), id);
        id
    }

    fn by_name(&mut self, name_index: u32) -> ClassId {
        let slot = name_index as usize;
        if let Some(&id) = self.by_name.get(slot)
            && id != UNSET
        {
            return id;
        }
        let graph = self.graph;
        let id = self.intern(&short_name(graph.strings().get(name_index)));
        if let Some(s) = self.by_name.get_mut(slot) {
            *s = id;
        }
        id
    }

    fn named(&mut self, node: NodeIndex, kind: NodeKind) -> ClassId {
        let graph = self.graph;
        let name_index = graph.name_index(node);
        if kind == NodeKind::Object
            && graph.name(node) == "Object"
            && let Some(shape) = self.shape(node)
        {
            return shape;
        }
        self.by_name(name_index)
    }

    /// The shape class of a plain object, or `None` when it has no shape (no properties, or
    /// too many).
    fn shape(&mut self, node: NodeIndex) -> Option<ClassId> {
        let graph = self.graph;
        self.shape_scratch.clear();
        for edge in graph.edges(node) {
            if graph.edge_kind(edge) != EdgeKind::Property {
                continue;
            }
            let name = graph.edge_name_or_index(edge);
            if graph.strings().get(name) == "__proto__" {
                continue;
            }
            if self.shape_scratch.len() == MAX_SHAPE_PROPERTIES {
                return None;
            }
            self.shape_scratch.push(name);
        }
        if self.shape_scratch.is_empty() {
            return None;
        }
        let id = match self.by_shape.get(self.shape_scratch.as_slice()) {
            Some(&id) => id,
            None => {
                let mut key = String::from("{");
                for (i, &name) in self.shape_scratch.iter().enumerate() {
                    if i > 0 {
                        key.push_str(", ");
                    }
                    key.push_str(graph.strings().get(name));
                }
                key.push('}');
                let id = self.intern(&key);
                self.by_shape.insert(self.shape_scratch.as_slice().into(), id);
                id
            }
        };
        if self.shape_counts.len() <= id as usize {
            self.shape_counts.resize(id as usize + 1, 0);
        }
        self.shape_counts[id as usize] += 1;
        Some(id)
    }

    /// Shapes only one object has are not worth a row of their own (DevTools needs two objects
    /// per interface too): move those objects back to `Object`.
    fn unshare_singletons(&mut self, of_node: &mut [ClassId]) {
        if !self.shape_counts.contains(&1) {
            return;
        }
        let object = self.intern("Object");
        let counts = &self.shape_counts;
        for class in of_node.iter_mut() {
            if counts.get(*class as usize) == Some(&1) {
                *class = object;
            }
        }
        // The singleton keys stay in `keys` with no nodes; harmless, and ids stay stable.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::GraphBuilder;

    #[test]
    fn kinds_map_to_devtools_keys() {
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", 1, 0);
        let cases = [
            (NodeKind::Closure, "run", "(closure)"),
            (NodeKind::Code, "foo", "(compiled code)"),
            (NodeKind::Hidden, "system / Context", "(system)"),
            (NodeKind::RegExp, "/a+/", "RegExp"),
            (NodeKind::String, "hello", "(string)"),
            (NodeKind::ConsString, "ab", "(concatenated string)"),
            (NodeKind::SlicedString, "b", "(sliced string)"),
            (NodeKind::Array, "(object elements)", "(array)"),
            (NodeKind::Number, "heap number", "(number)"),
            (NodeKind::ObjectShape, "x", "(object shape)"),
            (NodeKind::Object, "Task", "Task"),
            (NodeKind::Native, "<div id=\"a\" class=\"b\">", "<div>"),
            (NodeKind::Native, "Detached <div id=\"a\">", "Detached <div>"),
            (NodeKind::Native, "<br>", "<br>"),
        ];
        let nodes: Vec<_> = cases
            .iter()
            .enumerate()
            .map(|(i, (kind, name, _))| b.node(*kind, name, 3 + 2 * i as u32, 8))
            .collect();
        let g = b.build();
        let c = ClassIndex::build(&g);
        assert_eq!(c.key_of(root), "(synthetic)");
        for (node, (_, _, want)) in nodes.iter().zip(cases) {
            assert_eq!(c.key_of(*node), want);
        }
    }

    #[test]
    fn plain_objects_are_grouped_by_shape() {
        let mut b = GraphBuilder::new();
        let _root = b.node(NodeKind::Synthetic, "", 1, 0);
        let proto = b.node(NodeKind::Object, "Object", 3, 16);
        let s = b.node(NodeKind::String, "x", 5, 16);
        let mk = |b: &mut GraphBuilder, id: u32, props: &[&str]| {
            let o = b.node(NodeKind::Object, "Object", id, 24);
            b.edge(o, EdgeKind::Property, "__proto__", proto);
            b.edge(o, EdgeKind::Internal, "map", s);
            for p in props {
                b.edge(o, EdgeKind::Property, p, s);
            }
            b.indexed_edge(o, EdgeKind::Element, 0, s);
            o
        };
        let a1 = mk(&mut b, 7, &["id", "prompt", "timestamp"]);
        let a2 = mk(&mut b, 9, &["id", "prompt", "timestamp"]);
        let other_order = mk(&mut b, 11, &["prompt", "id", "timestamp"]);
        let many: Vec<String> = (0..9).map(|i| format!("k{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let dict1 = mk(&mut b, 13, &many);
        let dict2 = mk(&mut b, 15, &many);
        let empty = mk(&mut b, 17, &[]);
        let g = b.build();
        let c = ClassIndex::build(&g);
        assert_eq!(c.key_of(a1), "{id, prompt, timestamp}");
        assert_eq!(c.class_of(a1), c.class_of(a2));
        // A shape only one object has is not named.
        assert_eq!(c.key_of(other_order), "Object");
        assert_eq!(c.key_of(dict1), "Object");
        assert_eq!(c.key_of(dict2), "Object");
        assert_eq!(c.key_of(empty), "Object");
        assert_eq!(c.key_of(proto), "Object");
    }

    #[test]
    fn backing_stores_count_with_their_array_buffer() {
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", 1, 0);
        // The store comes before its owner in node order, as it can in a real snapshot.
        let s1 = b.node(NodeKind::Native, BACKING_STORE, 3, 100_000);
        let a1 = b.node(NodeKind::Object, "ArrayBuffer", 5, 80);
        let a2 = b.node(NodeKind::Object, "ArrayBuffer", 7, 80);
        let s2 = b.node(NodeKind::Native, BACKING_STORE, 9, 4096);
        let lone = b.node(NodeKind::Native, BACKING_STORE, 11, 512);
        let other = b.node(NodeKind::Native, "Node / TCPWrap", 13, 64);
        for (n, a) in [(0, a1), (1, a2)] {
            b.indexed_edge(root, EdgeKind::Element, n, a);
        }
        b.edge(a1, EdgeKind::Internal, "map", other);
        b.edge(a1, EdgeKind::Internal, "backing_store", s1);
        b.edge(a2, EdgeKind::Internal, "backing_store", s2);
        // A second claim on a store does not move it.
        b.edge(other, EdgeKind::Internal, "backing_store", s2);
        let g = b.build();
        let c = ClassIndex::build(&g);
        assert_eq!(c.key_of(s1), "ArrayBuffer");
        assert_eq!(c.class_of(s2), c.class_of(a2));
        assert!(c.is_folded(s1) && c.is_folded(s2));
        assert_eq!((c.object_count(s1), c.object_count(a1)), (0, 1));
        assert_eq!(c.key_of(lone), BACKING_STORE);
        assert!(!c.is_folded(lone) && !c.is_folded(other));
        assert_eq!(c.key_of(other), "Node / TCPWrap");
    }

    #[test]
    fn same_key_from_different_sources_is_one_class() {
        let mut b = GraphBuilder::new();
        let _root = b.node(NodeKind::Synthetic, "", 1, 0);
        let a = b.node(NodeKind::Object, "RegExp", 3, 8);
        let r = b.node(NodeKind::RegExp, "/x/", 5, 8);
        let g = b.build();
        let c = ClassIndex::build(&g);
        assert_eq!(c.class_of(a), c.class_of(r));
        assert_eq!(c.find("RegExp"), Some(c.class_of(r)));
    }
}
