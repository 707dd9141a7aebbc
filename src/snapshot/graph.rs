//! The compact in-memory heap graph: node and edge fields as flat columns (struct of arrays),
//! edges in CSR form, all strings interned once. Built by the streaming parser, or by hand
//! through [`GraphBuilder`] in tests.
//!
//! Memory per node is 15 bytes (11 without ids) plus about 6 per edge (a target with the kind in
//! its top bits, and a two-byte name code: see [`EdgeNames`]), against about 80 bytes of JSON
//! text per node in a typical V8 snapshot, which is what lets a 1 GB snapshot fit well under its
//! own size.

use std::ops::Range;

/// Index of a node in the graph (its ordinal in the snapshot's `nodes` array).
pub type NodeIndex = u32;
/// Index of an edge in the graph (its ordinal in the snapshot's `edges` array).
pub type EdgeIndex = u32;

/// A node's type, normalised from the snapshot's own `node_types` list (which differs between
/// V8 versions), so analysis never depends on a particular layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum NodeKind {
    /// V8-internal objects (`hidden`); DevTools shows them as `(system)`.
    Hidden,
    /// Internal arrays such as backing stores (`array`).
    Array,
    /// Flat strings.
    String,
    /// JavaScript objects; the name is the constructor name.
    Object,
    /// Compiled code, bytecode and related (`code`).
    Code,
    /// JavaScript functions (`closure`); the name is the function name.
    Closure,
    /// Regular expressions.
    RegExp,
    /// Heap numbers.
    Number,
    /// Embedder (native) objects, e.g. Node's C++ wrappers.
    Native,
    /// Synthetic nodes such as the root and `(GC roots)`.
    Synthetic,
    /// Cons strings (`concatenated string`).
    ConsString,
    /// Sliced strings.
    SlicedString,
    /// Symbols.
    Symbol,
    /// BigInts.
    BigInt,
    /// Hidden-class descriptors (`object shape`).
    ObjectShape,
    /// WebAssembly objects.
    WasmObject,
    /// A type this version of leakcheck does not know.
    Unknown,
}

impl NodeKind {
    /// Maps a type name from `snapshot.meta.node_types[0]` to a kind.
    pub fn from_v8_name(name: &str) -> NodeKind {
        match name {
            "hidden" => NodeKind::Hidden,
            "array" => NodeKind::Array,
            "string" => NodeKind::String,
            "object" => NodeKind::Object,
            "code" => NodeKind::Code,
            "closure" => NodeKind::Closure,
            "regexp" => NodeKind::RegExp,
            "number" => NodeKind::Number,
            "native" => NodeKind::Native,
            "synthetic" => NodeKind::Synthetic,
            "concatenated string" => NodeKind::ConsString,
            "sliced string" => NodeKind::SlicedString,
            "symbol" => NodeKind::Symbol,
            "bigint" => NodeKind::BigInt,
            "object shape" => NodeKind::ObjectShape,
            "wasm object" => NodeKind::WasmObject,
            _ => NodeKind::Unknown,
        }
    }

    /// The name V8 uses for this kind in `node_types`.
    pub fn v8_name(self) -> &'static str {
        match self {
            NodeKind::Hidden => "hidden",
            NodeKind::Array => "array",
            NodeKind::String => "string",
            NodeKind::Object => "object",
            NodeKind::Code => "code",
            NodeKind::Closure => "closure",
            NodeKind::RegExp => "regexp",
            NodeKind::Number => "number",
            NodeKind::Native => "native",
            NodeKind::Synthetic => "synthetic",
            NodeKind::ConsString => "concatenated string",
            NodeKind::SlicedString => "sliced string",
            NodeKind::Symbol => "symbol",
            NodeKind::BigInt => "bigint",
            NodeKind::ObjectShape => "object shape",
            NodeKind::WasmObject => "wasm object",
            NodeKind::Unknown => "unknown",
        }
    }

    /// True for the three string representations.
    pub fn is_string(self) -> bool {
        matches!(self, NodeKind::String | NodeKind::ConsString | NodeKind::SlicedString)
    }
}

/// An edge's type, normalised from `snapshot.meta.edge_types[0]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum EdgeKind {
    /// A variable in a function context (closure scope); the name is the variable name.
    Context = 0,
    /// An indexed element (`arr[3]`); the name is the index.
    Element = 1,
    /// A named property; the name is the property name.
    Property = 2,
    /// A V8-internal reference with a name (`map`, `elements`, `table` ...).
    Internal = 3,
    /// A V8-internal reference without a name; the name is an index.
    Hidden = 4,
    /// A shortcut that skips intermediate objects (e.g. root to global object).
    Shortcut = 5,
    /// A weak reference: it does not keep its target alive.
    Weak = 6,
    /// A type this version of leakcheck does not know.
    Unknown = 7,
}

impl EdgeKind {
    /// Maps a type name from `snapshot.meta.edge_types[0]` to a kind.
    pub fn from_v8_name(name: &str) -> EdgeKind {
        match name {
            "context" => EdgeKind::Context,
            "element" => EdgeKind::Element,
            "property" => EdgeKind::Property,
            "internal" => EdgeKind::Internal,
            "hidden" => EdgeKind::Hidden,
            "shortcut" => EdgeKind::Shortcut,
            "weak" => EdgeKind::Weak,
            _ => EdgeKind::Unknown,
        }
    }

    /// The name V8 uses for this kind in `edge_types`.
    pub fn v8_name(self) -> &'static str {
        match self {
            EdgeKind::Context => "context",
            EdgeKind::Element => "element",
            EdgeKind::Property => "property",
            EdgeKind::Internal => "internal",
            EdgeKind::Hidden => "hidden",
            EdgeKind::Shortcut => "shortcut",
            EdgeKind::Weak => "weak",
            EdgeKind::Unknown => "unknown",
        }
    }

    /// True when the edge's `name_or_index` is a numeric index rather than a string index
    /// (V8's `SerializeEdge`: element and hidden edges carry indices).
    pub fn has_index_name(self) -> bool {
        matches!(self, EdgeKind::Element | EdgeKind::Hidden)
    }

    fn from_bits(bits: u32) -> EdgeKind {
        match bits {
            0 => EdgeKind::Context,
            1 => EdgeKind::Element,
            2 => EdgeKind::Property,
            3 => EdgeKind::Internal,
            4 => EdgeKind::Hidden,
            5 => EdgeKind::Shortcut,
            6 => EdgeKind::Weak,
            _ => EdgeKind::Unknown,
        }
    }
}

/// The name of an edge: a numeric index for elements and hidden edges, a string otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeName<'a> {
    /// `arr[3]`-style index.
    Index(u32),
    /// Property, variable or internal field name.
    Name(&'a str),
}

/// All strings of a snapshot, stored once, back to back.
#[derive(Clone, Debug, Default)]
pub struct StringTable {
    text: String,
    ends: Vec<u32>,
}

impl StringTable {
    /// Appends a string and returns its index.
    pub fn push(&mut self, s: &str) -> u32 {
        self.text.push_str(s);
        self.ends.push(u32::try_from(self.text.len()).expect("string table over 4 GiB"));
        (self.ends.len() - 1) as u32
    }

    /// The underlying buffer, for the parser to append decoded text to directly.
    pub(crate) fn text_mut(&mut self) -> &mut String {
        &mut self.text
    }

    /// Marks the end of a string appended through [`StringTable::text_mut`].
    pub(crate) fn close_string(&mut self) -> bool {
        match u32::try_from(self.text.len()) {
            Ok(end) => {
                self.ends.push(end);
                true
            }
            Err(_) => false,
        }
    }

    /// The string at `index`; empty for an index out of range.
    pub fn get(&self, index: u32) -> &str {
        let i = index as usize;
        let Some(&end) = self.ends.get(i) else { return "" };
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start as usize..end as usize]
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there are no strings.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * 4
    }
}

/// What the snapshot's header said about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// `snapshot.meta.node_fields`, as written.
    pub node_fields: Vec<String>,
    /// `snapshot.meta.edge_fields`, as written.
    pub edge_fields: Vec<String>,
    /// `snapshot.meta.node_types[0]`, as written.
    pub node_types: Vec<String>,
    /// `snapshot.meta.edge_types[0]`, as written.
    pub edge_types: Vec<String>,
    /// `snapshot.extra_native_bytes` (newer V8 only).
    pub extra_native_bytes: Option<u64>,
}

/// V8's node type names in its own order (Node 20's `snapshot.meta.node_types[0]`; newer V8
/// writes the first 15).
pub const V8_NODE_TYPES: [&str; 16] = [
    "hidden",
    "array",
    "string",
    "object",
    "code",
    "closure",
    "regexp",
    "number",
    "native",
    "synthetic",
    "concatenated string",
    "sliced string",
    "symbol",
    "bigint",
    "object shape",
    "wasm object",
];

/// V8's edge type names in its own order (`snapshot.meta.edge_types[0]`).
pub const V8_EDGE_TYPES: [&str; 7] =
    ["context", "element", "property", "internal", "hidden", "shortcut", "weak"];

/// Self sizes in two bytes each: heap objects of 64 KiB and more live in V8's large-object
/// space and are rare (hundreds in millions), so they go to a side table sorted by node, and
/// their slot holds `u16::MAX`. This saves 2 bytes per node against `u32`.
#[derive(Clone, Debug, Default)]
pub(crate) struct SelfSizes {
    small: Vec<u16>,
    big: Vec<(NodeIndex, u64)>,
}

/// The largest self size kept (1 TiB); larger values in a snapshot are taken as this.
pub const MAX_SELF_SIZE: u64 = 1 << 40;

impl SelfSizes {
    pub(crate) fn push(&mut self, size: u64) {
        // No object of a real heap comes near 1 TiB; a snapshot that says so is corrupt, and
        // capping here keeps every sum of sizes below u64's range (16 million such objects).
        let size = size.min(MAX_SELF_SIZE);
        if size >= u16::MAX as u64 {
            self.big.push((self.small.len() as NodeIndex, size));
            self.small.push(u16::MAX);
        } else {
            self.small.push(size as u16);
        }
    }

    /// The column of sizes below 64 KiB, for the parse to have its pages populated ahead.
    pub(crate) fn small_column(&self) -> &Vec<u16> {
        &self.small
    }

    pub(crate) fn extend(&mut self, sizes: &[u32]) {
        for &size in sizes {
            self.push(size as u64);
        }
    }

    #[inline]
    pub(crate) fn get(&self, node: NodeIndex) -> u64 {
        let small = self.small[node as usize];
        if small != u16::MAX {
            return small as u64;
        }
        match self.big.binary_search_by_key(&node, |&(n, _)| n) {
            Ok(i) => self.big[i].1,
            Err(_) => small as u64,
        }
    }

    pub(crate) fn reserve_exact(&mut self, nodes: usize) {
        self.small.reserve_exact(nodes);
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.small.shrink_to_fit();
        self.big.shrink_to_fit();
    }

    fn heap_bytes(&self) -> usize {
        self.small.capacity() * 2 + self.big.capacity() * 16
    }
}

/// Edge names (`name_or_index`) in two bytes each, not four.
///
/// A snapshot's edges use few distinct names: `map`, `elements`, property names, small
/// element indices. The raw values are string indices, though, and the strings an edge names
/// are often numbered past 65,535 (V8 numbers strings as it first writes them, node names
/// first). So each edge holds a code into a dictionary of the values in the order they first
/// appear, and the values that come after the dictionary is full (or are too large to look up
/// cheaply while parsing) are *escaped*: the code is [`ESCAPE`] and the value sits in a side
/// list in edge order. An escaped edge finds its place in that list from a count of escapes
/// per block of [`RANK_BLOCK`] edges and a scan of its own block.
///
/// On the 214 MB snapshot (9.2M edges, 319k strings) 85k edges (0.9%) are escaped, on the
/// 1.1 GB one (47M edges, 1.5M strings) 757k (1.6%); with the raw values in two bytes and
/// escapes above that, 8.7% of the 214 MB snapshot's would have been (`elements`, the name of
/// 370k of its edges, is string 239,178 there).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct EdgeNames {
    /// Per edge: the dictionary code of its name, or [`ESCAPE`].
    codes: Vec<u16>,
    /// Code to value.
    dictionary: Vec<u32>,
    /// The values of the escaped edges, in edge order.
    escaped: Vec<u32>,
    /// Per block of [`RANK_BLOCK`] edges: how many edges before it are escaped.
    escaped_before: Vec<u32>,
}

/// The code of an edge whose name is in [`EdgeNames::escaped`].
const ESCAPE: u16 = u16::MAX;
/// Edges per entry of [`EdgeNames::escaped_before`]: 0.5 bits per edge, and a lookup of an
/// escaped name scans at most 63 codes (two cache lines).
const RANK_BLOCK: usize = 64;
/// The most values the encoder looks up in a flat table (two bytes each, grown as values
/// appear, so up to 8 MiB while parsing); larger ones are escaped. The table also stays below
/// one entry per edge (see [`EdgeNamesEncoder::new`]). String indices of real snapshots and
/// element indices of all but huge sparse arrays stay below both.
const DIRECT_VALUES: usize = 1 << 22;

impl EdgeNames {
    /// The name of edge `e`.
    #[inline]
    pub(crate) fn get(&self, e: EdgeIndex) -> u32 {
        let code = self.codes[e as usize];
        if code != ESCAPE {
            return self.dictionary[code as usize];
        }
        self.escaped[self.escape_rank(e as usize)]
    }

    /// How many edges before `e` are escaped.
    #[cold]
    fn escape_rank(&self, e: usize) -> usize {
        let block = e / RANK_BLOCK;
        let before = &self.codes[block * RANK_BLOCK..e];
        self.escaped_before[block] as usize + before.iter().filter(|&&c| c == ESCAPE).count()
    }

    /// Every edge's name, in edge order (cheaper than [`EdgeNames::get`] for each).
    pub(crate) fn values(&self) -> impl Iterator<Item = u32> + '_ {
        let mut escaped = self.escaped.iter();
        self.codes.iter().map(move |&code| match code {
            ESCAPE => *escaped.next().expect("one escaped value per escape"),
            code => self.dictionary[code as usize],
        })
    }

    fn heap_bytes(&self) -> usize {
        self.codes.capacity() * 2
            + (self.dictionary.capacity()
                + self.escaped.capacity()
                + self.escaped_before.capacity())
                * 4
    }
}

/// Builds [`EdgeNames`] one edge at a time.
#[derive(Debug)]
pub(crate) struct EdgeNamesEncoder {
    names: EdgeNames,
    /// Value to code, for values below `direct_limit`; [`ESCAPE`] when the value has none.
    code_of: Vec<u16>,
    direct_limit: usize,
}

impl Default for EdgeNamesEncoder {
    fn default() -> Self {
        EdgeNamesEncoder::new(0)
    }
}

impl EdgeNamesEncoder {
    /// An encoder with room for `edges` edges, allocated once. Its lookup table holds no more
    /// entries than there are edges (at least 64Ki), so a large element index early in a small
    /// snapshot cannot make it the largest thing parsing allocates.
    pub(crate) fn new(edges: usize) -> EdgeNamesEncoder {
        let mut names = EdgeNames::default();
        names.codes.reserve_exact(edges);
        names.escaped_before.reserve_exact(edges.div_ceil(RANK_BLOCK));
        EdgeNamesEncoder {
            names,
            code_of: Vec::new(),
            direct_limit: edges.clamp(1 << 16, DIRECT_VALUES),
        }
    }

    /// The column of codes, for the parse to have its pages populated ahead.
    pub(crate) fn codes_column(&self) -> &Vec<u16> {
        &self.names.codes
    }

    /// Appends the name of the next edge.
    #[inline]
    pub(crate) fn push(&mut self, value: u32) {
        if self.names.codes.len().is_multiple_of(RANK_BLOCK) {
            self.names.escaped_before.push(self.names.escaped.len() as u32);
        }
        let code = match self.code_of.get(value as usize) {
            Some(&code) if code != ESCAPE => code,
            _ => self.assign(value),
        };
        let names = &mut self.names;
        names.codes.push(code);
        if code == ESCAPE {
            names.escaped.push(value);
        }
    }

    /// A code for a value seen for the first time, while the dictionary has room.
    #[cold]
    fn assign(&mut self, value: u32) -> u16 {
        let v = value as usize;
        let names = &mut self.names;
        if names.dictionary.len() == ESCAPE as usize || v >= self.direct_limit {
            return ESCAPE;
        }
        if v >= self.code_of.len() {
            let len = (v + 1).next_power_of_two().clamp(1024, self.direct_limit);
            self.code_of.resize(len, ESCAPE);
        }
        let code = names.dictionary.len() as u16;
        names.dictionary.push(value);
        self.code_of[v] = code;
        code
    }

    /// The finished column; the lookup table is freed.
    pub(crate) fn finish(self) -> EdgeNames {
        let mut names = self.names;
        names.codes.shrink_to_fit();
        names.dictionary.shrink_to_fit();
        names.escaped.shrink_to_fit();
        names.escaped_before.shrink_to_fit();
        names
    }
}

/// Edge targets carry the edge kind in their top bits, so an edge costs 8 bytes, not 9 or 12.
const KIND_SHIFT: u32 = 29;
const TARGET_MASK: u32 = (1 << KIND_SHIFT) - 1;
/// The largest node count the packed edge layout can address.
pub const MAX_NODES: usize = TARGET_MASK as usize;

/// A parsed heap snapshot as a compact graph.
#[derive(Clone, Debug, Default)]
pub struct HeapGraph {
    pub(crate) info: SnapshotInfo,
    pub(crate) kinds: Vec<NodeKind>,
    pub(crate) names: Vec<u32>,
    pub(crate) ids: Vec<u32>,
    pub(crate) self_sizes: SelfSizes,
    /// `first_edge[n]..first_edge[n + 1]` are node `n`'s edges; `node_count + 1` entries.
    pub(crate) first_edge: Vec<u32>,
    pub(crate) edge_targets: Vec<u32>,
    pub(crate) edge_names: EdgeNames,
    pub(crate) strings: StringTable,
    pub(crate) root: NodeIndex,
    /// Where the closures' code is (see [`HeapGraph::location`]).
    pub(crate) locations: super::locations::Locations,
}

impl HeapGraph {
    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.kinds.len()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.edge_targets.len()
    }

    /// The synthetic root node (node 0 unless `snapshot.root_index` says otherwise).
    pub fn root(&self) -> NodeIndex {
        self.root
    }

    /// What the snapshot header said (field and type lists as written).
    pub fn info(&self) -> &SnapshotInfo {
        &self.info
    }

    /// All nodes, in snapshot order.
    pub fn nodes(&self) -> Range<NodeIndex> {
        0..self.kinds.len() as NodeIndex
    }

    /// The node's type.
    pub fn kind(&self, node: NodeIndex) -> NodeKind {
        self.kinds[node as usize]
    }

    /// The node's name: constructor name for objects, function name for closures, the value
    /// for strings, and so on.
    pub fn name(&self, node: NodeIndex) -> &str {
        self.strings.get(self.names[node as usize])
    }

    /// Index of the node's name in the string table (cheap to compare and hash).
    pub fn name_index(&self, node: NodeIndex) -> u32 {
        self.names[node as usize]
    }

    /// The node's heap object id, stable across snapshots of one inspector session; 0 when
    /// the snapshot was parsed without ids (`ParseOptions::keep_ids`).
    pub fn id(&self, node: NodeIndex) -> u32 {
        self.ids.get(node as usize).copied().unwrap_or(0)
    }

    /// The node's own size in bytes, exactly as V8 wrote it.
    pub fn self_size(&self, node: NodeIndex) -> u64 {
        self.self_sizes.get(node)
    }

    /// The node's outgoing edges.
    pub fn edges(&self, node: NodeIndex) -> Range<EdgeIndex> {
        self.first_edge[node as usize]..self.first_edge[node as usize + 1]
    }

    /// The node an edge points to.
    pub fn edge_target(&self, edge: EdgeIndex) -> NodeIndex {
        self.edge_targets[edge as usize] & TARGET_MASK
    }

    /// The edge's type.
    pub fn edge_kind(&self, edge: EdgeIndex) -> EdgeKind {
        EdgeKind::from_bits(self.edge_targets[edge as usize] >> KIND_SHIFT)
    }

    /// The raw `name_or_index` field: an index for element and hidden edges, a string index
    /// otherwise.
    pub fn edge_name_or_index(&self, edge: EdgeIndex) -> u32 {
        self.edge_names.get(edge)
    }

    /// The edge's name, resolved.
    pub fn edge_name(&self, edge: EdgeIndex) -> EdgeName<'_> {
        let raw = self.edge_names.get(edge);
        if self.edge_kind(edge).has_index_name() {
            EdgeName::Index(raw)
        } else {
            EdgeName::Name(self.strings.get(raw))
        }
    }

    /// The target of `node`'s first edge of `kind` named one of `names`: how code that knows
    /// V8's or Node's layout reaches a part of an object (`shared`, `_onTimeout`, `elements`).
    #[inline]
    pub fn named_target(
        &self,
        node: NodeIndex,
        kind: EdgeKind,
        names: &[&str],
    ) -> Option<NodeIndex> {
        self.edges(node).find_map(|e| {
            let named = self.edge_kind(e) == kind
                && matches!(self.edge_name(e), EdgeName::Name(n) if names.contains(&n));
            named.then(|| self.edge_target(e))
        })
    }

    /// The interned strings.
    pub fn strings(&self) -> &StringTable {
        &self.strings
    }

    /// Drops every edge and keeps the nodes: afterwards every node has none. For a graph whose
    /// edges have served (the dominator tree and class keys are built) while its nodes still
    /// count, such as a comparison's earlier snapshot while its digest is made: the edges are
    /// two thirds of a graph. Returns the buffer of the edge offsets, one `u32` per node and
    /// one more, for reuse (see `analysis/spare.rs`).
    pub fn forget_edges(&mut self) -> Vec<u32> {
        // Zeroed memory from the allocator stays unmapped until written: no resident cost.
        let none = vec![0; self.node_count() + 1];
        let offsets = std::mem::replace(&mut self.first_edge, none);
        self.edge_targets = Vec::new();
        self.edge_names = EdgeNames::default();
        offsets
    }

    /// Bytes this graph holds on the heap, for memory accounting in benchmarks.
    pub fn heap_bytes(&self) -> usize {
        self.kinds.capacity()
            + (self.names.capacity()
                + self.ids.capacity()
                + self.first_edge.capacity()
                + self.edge_targets.capacity())
                * 4
            + self.edge_names.heap_bytes()
            + self.self_sizes.heap_bytes()
            + self.strings.heap_bytes()
            + self.locations.heap_bytes()
    }

    pub(crate) fn pack_target(kind: EdgeKind, target: NodeIndex) -> u32 {
        debug_assert!(target as usize <= MAX_NODES);
        ((kind as u32) << KIND_SHIFT) | target
    }
}

/// Builds a [`HeapGraph`] by hand: for unit tests and for tools that synthesise graphs.
///
/// ```
/// use leakcheck::snapshot::{GraphBuilder, NodeKind, EdgeKind};
/// let mut b = GraphBuilder::new();
/// let root = b.node(NodeKind::Synthetic, "", 1, 0);
/// let list = b.node(NodeKind::Object, "Array", 3, 16);
/// b.edge(root, EdgeKind::Property, "tasks", list);
/// let graph = b.build();
/// assert_eq!(graph.node_count(), 2);
/// assert_eq!(graph.name(list), "Array");
/// ```
#[derive(Default)]
pub struct GraphBuilder {
    graph: HeapGraph,
    string_index: std::collections::HashMap<String, u32>,
    edges: Vec<(NodeIndex, EdgeKind, u32, NodeIndex)>,
    locations: super::locations::LocationsBuilder,
}

impl GraphBuilder {
    /// An empty builder. The first node added is the root.
    pub fn new() -> GraphBuilder {
        GraphBuilder::default()
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.string_index.get(s) {
            return i;
        }
        let i = self.graph.strings.push(s);
        self.string_index.insert(s.to_owned(), i);
        i
    }

    /// Adds a node and returns its index.
    pub fn node(&mut self, kind: NodeKind, name: &str, id: u32, self_size: u64) -> NodeIndex {
        let name = self.intern(name);
        let g = &mut self.graph;
        let index = g.kinds.len() as NodeIndex;
        g.kinds.push(kind);
        g.names.push(name);
        g.ids.push(id);
        g.self_sizes.push(self_size);
        index
    }

    /// Adds a named edge (property, context, internal, shortcut, weak).
    pub fn edge(&mut self, from: NodeIndex, kind: EdgeKind, name: &str, to: NodeIndex) {
        let name = self.intern(name);
        self.edges.push((from, kind, name, to));
    }

    /// Adds an indexed edge (element, hidden).
    pub fn indexed_edge(&mut self, from: NodeIndex, kind: EdgeKind, index: u32, to: NodeIndex) {
        self.edges.push((from, kind, index, to));
    }

    /// Gives a function node its place in a script (0-based line and column, as V8 writes
    /// them in `locations`).
    pub fn location(&mut self, node: NodeIndex, script_id: u32, line: u32, column: u32) {
        let position = super::locations::SourcePosition { script_id, line, column };
        self.locations.push(node, position);
    }

    /// Finishes the graph. Edges keep the order they were added in, per source node.
    pub fn build(mut self) -> HeapGraph {
        self.edges.sort_by_key(|&(from, ..)| from);
        let g = &mut self.graph;
        let n = g.kinds.len();
        g.first_edge = vec![0; n + 1];
        for &(from, ..) in &self.edges {
            g.first_edge[from as usize + 1] += 1;
        }
        for i in 0..n {
            g.first_edge[i + 1] += g.first_edge[i];
        }
        let mut names = EdgeNamesEncoder::new(self.edges.len());
        for &(_, kind, name, to) in &self.edges {
            g.edge_targets.push(HeapGraph::pack_target(kind, to));
            names.push(name);
        }
        g.edge_names = names.finish();
        g.locations = self.locations.finish();
        // As newer V8 writes them: Node 20's list adds `wasm object` at the end.
        g.info.node_types = V8_NODE_TYPES[..15].iter().map(|t| t.to_string()).collect();
        self.graph
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_sizes_round_trip_across_the_two_byte_boundary() {
        let sizes = [0, 1, 65_534, 65_535, 65_536, 7, u32::MAX as u64 + 9, 65_535, 40];
        let mut column = SelfSizes::default();
        for &s in &sizes {
            column.push(s);
        }
        for (node, &s) in sizes.iter().enumerate() {
            assert_eq!(column.get(node as NodeIndex), s, "node {node}");
        }
        assert_eq!(column.big.len(), 4);
    }

    /// Names of every sort: a few common ones, more distinct values than the dictionary
    /// holds, values too large for the encoder's table, runs of escapes across rank blocks.
    #[test]
    fn edge_names_round_trip_through_dictionary_and_escapes() {
        let mut next = crate::snapshot::xorshift(0x2545_F491_4F6C_DD1Du64);
        let mut values = Vec::new();
        for i in 0..300_000u32 {
            let r = next();
            values.push(match r % 10 {
                0..=4 => (r >> 8) as u32 % 50,
                5..=7 => i,
                8 => DIRECT_VALUES as u32 + (r >> 8) as u32 % 1000,
                _ => u32::MAX - (r >> 8) as u32 % 3,
            });
        }
        // A run of escapes longer than a rank block.
        values.extend((0..200).map(|i| 5_000_000 + i));
        let mut encoder = EdgeNamesEncoder::new(values.len());
        for &v in &values {
            encoder.push(v);
        }
        let names = encoder.finish();
        assert_eq!(names.dictionary.len(), ESCAPE as usize, "the dictionary fills up");
        assert!(!names.escaped.is_empty());
        for (e, &v) in values.iter().enumerate() {
            assert_eq!(names.get(e as EdgeIndex), v, "edge {e}");
        }
        assert!(names.values().eq(values.iter().copied()));
        // Common values never escape, even after the dictionary is full.
        assert!(names.escaped.iter().all(|&v| v >= 50));
    }

    #[test]
    fn a_small_snapshot_keeps_a_small_lookup_table() {
        let mut encoder = EdgeNamesEncoder::new(3);
        for v in [3_000_000, 7, 60_000] {
            encoder.push(v);
        }
        assert_eq!(encoder.code_of.len(), 1 << 16);
        let names = encoder.finish();
        assert_eq!(names.escaped, [3_000_000]);
        assert!(names.values().eq([3_000_000, 7, 60_000]));
    }

    #[test]
    fn graph_edge_names_keep_names_and_indices() {
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", 1, 0);
        let list = b.node(NodeKind::Object, "Array", 3, 16);
        b.edge(root, EdgeKind::Property, "tasks", list);
        b.indexed_edge(list, EdgeKind::Element, 4_000_000_000, root);
        b.edge(list, EdgeKind::Internal, "elements", root);
        let g = b.build();
        assert_eq!(g.edge_name(0), EdgeName::Name("tasks"));
        assert_eq!(g.edge_name(1), EdgeName::Index(4_000_000_000));
        assert_eq!(g.edge_name(2), EdgeName::Name("elements"));
        assert_eq!(g.edge_name_or_index(1), 4_000_000_000);
    }
}
