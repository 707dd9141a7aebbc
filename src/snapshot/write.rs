//! Writing a [`HeapGraph`] back out as `.heapsnapshot` JSON, in the exact shape V8 writes it
//! (key order, record separators, string escapes), for test inputs, fuzz seeds and synthetic
//! benchmark snapshots.
//!
//! The graph keeps only what analysis needs, so `trace_node_id` and `detachedness` are written
//! as 0, `trace_function_infos`, `trace_tree` and `samples` as empty arrays, and `locations`
//! with the closures' entries only (V8 also lists objects, at their constructor's).

use super::graph::{EdgeKind, HeapGraph, NodeKind};
use std::io::{self, Write};

/// Which V8 version's snapshot layout [`write_snapshot`] produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layout {
    /// Node 20 (V8 11.3): 7 node fields (with `trace_node_id` and `detachedness`), 16 node
    /// types (with `wasm object`), and a newline after every node, edge and string record.
    Node20,
    /// Newer V8, byte for byte as Deno 2.9 (V8 15.0) writes it: 6 node fields (no
    /// `trace_node_id`), 15 node types, `extra_native_bytes` in the header, 5
    /// `location_fields`, and no newlines inside the arrays. workerd 2026 writes the same
    /// node and edge layout.
    Modern,
}

use super::graph::{V8_EDGE_TYPES as EDGE_TYPES, V8_NODE_TYPES as NODE_TYPES};

impl Layout {
    fn node_types(self) -> &'static [&'static str] {
        match self {
            Layout::Node20 => &NODE_TYPES,
            Layout::Modern => &NODE_TYPES[..15],
        }
    }

    fn node_field_count(self) -> u64 {
        match self {
            Layout::Node20 => 7,
            Layout::Modern => 6,
        }
    }

    /// What ends each node and edge record, and precedes each string after the first.
    fn record_end(self) -> &'static [u8] {
        match self {
            Layout::Node20 => b"\n",
            Layout::Modern => b"",
        }
    }
}

/// Flush the staging buffer to the writer once it holds this much.
const FLUSH_AT: usize = 64 * 1024;

/// Serialises `graph` as V8 `.heapsnapshot` JSON in the given layout.
///
/// Strings are written in string-table order, so every name index survives a round trip
/// through [`parse`](super::parse), and the output is pure ASCII, escaped as V8 escapes it
/// (`\uXXXX` with upper-case hex for control and non-ASCII characters). One deliberate
/// difference: V8 cuts characters outside the Basic Multilingual Plane to their low 16 bits,
/// where this writes a proper surrogate pair, so the text reads back unchanged.
///
/// Node and edge kinds the layout has no name for (`wasm object` in [`Layout::Modern`], or an
/// unknown kind) are appended to the type list, so the output still parses back to the same
/// kinds. A root other than node 0 is written as `snapshot.root_index`, which V8 never writes
/// but DevTools reads.
///
/// The output goes to `out` in 64 KiB writes; no extra buffering is needed.
///
/// ```
/// use leakcheck::snapshot::{EdgeKind, GraphBuilder, Layout, NodeKind, parse, write_snapshot};
///
/// let mut b = GraphBuilder::new();
/// let root = b.node(NodeKind::Synthetic, "", 1, 0);
/// let task = b.node(NodeKind::Object, "Task", 3, 32);
/// b.edge(root, EdgeKind::Property, "tasks", task);
/// let graph = b.build();
///
/// let mut json = Vec::new();
/// write_snapshot(&graph, &mut json, Layout::Modern)?;
/// let text = String::from_utf8(json.clone()).unwrap();
/// assert!(text.starts_with(r#"{"snapshot":{"meta":{"node_fields":["type","name","id","#));
/// assert!(text.contains("\n\"nodes\":[9,0,1,0,1,0,3,1,3,32,0,0],\n"));
///
/// let back = parse(json.as_slice())?;
/// assert_eq!(back.name(task), "Task");
/// assert_eq!(back.edge_target(0), task);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_snapshot(graph: &HeapGraph, mut out: impl Write, layout: Layout) -> io::Result<()> {
    let mut w = Staging { buf: Vec::with_capacity(FLUSH_AT + 256), out: &mut out };

    // Type lists: the layout's own, plus any kind present that it has no name for.
    let mut node_types: Vec<&str> = layout.node_types().to_vec();
    let mut node_type_of = [u32::MAX; NodeKind::Unknown as usize + 1];
    for (i, name) in node_types.iter().enumerate() {
        node_type_of[NodeKind::from_v8_name(name) as usize] = i as u32;
    }
    for &kind in &graph.kinds {
        if node_type_of[kind as usize] == u32::MAX {
            node_type_of[kind as usize] = node_types.len() as u32;
            node_types.push(kind.v8_name());
        }
    }
    let mut edge_types: Vec<&str> = EDGE_TYPES.to_vec();
    let mut edge_type_of = [u32::MAX; EdgeKind::Unknown as usize + 1];
    for (i, name) in edge_types.iter().enumerate() {
        edge_type_of[EdgeKind::from_v8_name(name) as usize] = i as u32;
    }
    for e in 0..graph.edge_count() as u32 {
        let kind = graph.edge_kind(e);
        if edge_type_of[kind as usize] == u32::MAX {
            edge_type_of[kind as usize] = edge_types.len() as u32;
            edge_types.push(kind.v8_name());
        }
    }

    w.raw(br#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","#);
    w.raw(match layout {
        Layout::Node20 => br#""trace_node_id","detachedness"],"node_types":[["#,
        Layout::Modern => br#""detachedness"],"node_types":[["#,
    });
    w.name_list(&node_types);
    w.raw(match layout {
        Layout::Node20 => br#"],"string","number","number","number","number","number"],"#,
        Layout::Modern => br#"],"string","number","number","number","number"],"#,
    });
    w.raw(br#""edge_fields":["type","name_or_index","to_node"],"edge_types":[["#);
    w.name_list(&edge_types);
    w.raw(br#"],"string_or_number","node"],"#);
    w.raw(br#""trace_function_info_fields":["function_id","name","script_name","script_id","#);
    w.raw(br#""line","column"],"trace_node_fields":["id","function_info_index","count","#);
    w.raw(br#""size","children"],"sample_fields":["timestamp_us","last_assigned_id"],"#);
    w.raw(match layout {
        Layout::Node20 => br#""location_fields":["object_index","script_id","line","column"]}"#,
        Layout::Modern => {
            br#""location_fields":["object_index","script_id","script_object_index","line","column"]}"#
        }
    });
    w.raw(br#","node_count":"#);
    w.number(graph.node_count() as u64);
    w.raw(br#","edge_count":"#);
    w.number(graph.edge_count() as u64);
    w.raw(br#","trace_function_count":0"#);
    if layout == Layout::Modern {
        w.raw(br#","extra_native_bytes":"#);
        w.number(graph.info.extra_native_bytes.unwrap_or(0));
    }
    let nf = layout.node_field_count();
    if graph.root != 0 {
        w.raw(br#","root_index":"#);
        w.number(graph.root as u64 * nf);
    }
    w.raw(b"},\n\"nodes\":[");

    let end = layout.record_end();
    for node in graph.nodes() {
        if node != 0 {
            w.raw(b",");
        }
        w.number(node_type_of[graph.kind(node) as usize] as u64);
        w.raw(b",");
        w.number(graph.name_index(node) as u64);
        w.raw(b",");
        w.number(graph.id(node) as u64);
        w.raw(b",");
        w.number(graph.self_size(node));
        w.raw(b",");
        w.number(graph.edges(node).len() as u64);
        match layout {
            Layout::Node20 => w.raw(b",0,0"),
            Layout::Modern => w.raw(b",0"),
        }
        w.raw(end);
        w.flush_if_full()?;
    }
    w.raw(b"],\n\"edges\":[");
    for e in 0..graph.edge_count() as u32 {
        if e != 0 {
            w.raw(b",");
        }
        w.number(edge_type_of[graph.edge_kind(e) as usize] as u64);
        w.raw(b",");
        w.number(graph.edge_name_or_index(e) as u64);
        w.raw(b",");
        w.number(graph.edge_target(e) as u64 * nf);
        w.raw(end);
        w.flush_if_full()?;
    }
    w.raw(b"],\n\"trace_function_infos\":[],\n\"trace_tree\":[],\n\"samples\":[],\n");
    w.raw(b"\"locations\":[");
    for (i, (node, at)) in graph.locations.iter().enumerate() {
        if i != 0 {
            w.raw(b",");
        }
        w.number(node as u64 * nf);
        w.raw(b",");
        w.number(at.script_id as u64);
        if layout == Layout::Modern {
            w.raw(b",");
            w.number(graph.script_node(node).unwrap_or(0) as u64 * nf);
        }
        w.raw(b",");
        w.number(at.line as u64);
        w.raw(b",");
        w.number(at.column as u64);
        w.raw(end);
        w.flush_if_full()?;
    }
    w.raw(b"],\n\"strings\":[");
    for i in 0..graph.strings.len() as u32 {
        if i != 0 {
            w.raw(b",");
            w.raw(end);
        }
        w.string(graph.strings.get(i));
        w.flush_if_full()?;
    }
    w.raw(b"]}");
    w.flush()?;
    out.flush()
}

/// A staging buffer in front of the caller's writer: records are assembled here and handed
/// over in large writes, so an unbuffered `File` costs no more than a `BufWriter`.
struct Staging<'a, W: Write> {
    buf: Vec<u8>,
    out: &'a mut W,
}

impl<W: Write> Staging<'_, W> {
    fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn number(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[i..]);
    }

    fn name_list(&mut self, names: &[&str]) {
        for (i, name) in names.iter().enumerate() {
            if i != 0 {
                self.raw(b",");
            }
            self.string(name);
        }
    }

    /// A JSON string escaped as V8's `SerializeString` does: short escapes for `\b \f \n \r
    /// \t " \\`, `\u00XX` for other control characters, printable ASCII and DEL as is, and
    /// everything else as upper-case `\uXXXX` UTF-16 units.
    fn string(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        self.buf.push(b'"');
        for c in s.chars() {
            match c {
                '"' => self.raw(b"\\\""),
                '\\' => self.raw(b"\\\\"),
                '\u{8}' => self.raw(b"\\b"),
                '\u{c}' => self.raw(b"\\f"),
                '\n' => self.raw(b"\\n"),
                '\r' => self.raw(b"\\r"),
                '\t' => self.raw(b"\\t"),
                ' '..='\u{7f}' => self.buf.push(c as u8),
                _ => {
                    let mut units = [0u16; 2];
                    for &unit in c.encode_utf16(&mut units).iter() {
                        self.raw(b"\\u");
                        for shift in [12, 8, 4, 0] {
                            self.buf.push(HEX[(unit >> shift) as usize & 0xF]);
                        }
                    }
                }
            }
        }
        self.buf.push(b'"');
    }

    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT { self.flush() } else { Ok(()) }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{GraphBuilder, parse};

    fn write(graph: &HeapGraph, layout: Layout) -> String {
        let mut out = Vec::new();
        write_snapshot(graph, &mut out, layout).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn small() -> HeapGraph {
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "<dummy>", 1, 0);
        let a = b.node(NodeKind::Object, "Task", 3, 32);
        let s = b.node(NodeKind::String, "h\u{e9}\"\\\u{1f}\u{7f}\u{1F600}", 5, 16);
        b.edge(root, EdgeKind::Property, "tasks", a);
        b.indexed_edge(a, EdgeKind::Element, 0, s);
        b.build()
    }

    #[test]
    fn node20_layout_has_a_newline_after_every_record() {
        let text = write(&small(), Layout::Node20);
        assert!(text.contains(r#""edge_count","trace_node_id","detachedness"]"#));
        assert!(text.contains(r#""object shape","wasm object"],"string","#));
        assert!(text.contains("\"nodes\":[9,0,1,0,1,0,0\n,3,1,3,32,1,0,0\n,2,2,5,16,0,0,0\n],\n"));
        assert!(text.contains("\"edges\":[2,3,7\n,1,0,14\n],\n"));
        assert!(text.contains(r#""trace_function_count":0},"#));
        assert!(text.ends_with(
            "\"strings\":[\"<dummy>\",\n\"Task\",\n\"h\\u00E9\\\"\\\\\\u001F\u{7f}\\uD83D\\uDE00\",\n\"tasks\"]}"
        ));
    }

    #[test]
    fn modern_layout_is_compact() {
        let text = write(&small(), Layout::Modern);
        assert!(text.contains(r#""edge_count","detachedness"],"node_types":[["#));
        assert!(text.contains(r#""object shape"],"string","number","number","number","number"]"#));
        assert!(text.contains("\"nodes\":[9,0,1,0,1,0,3,1,3,32,1,0,2,2,5,16,0,0],\n"));
        assert!(text.contains("\"edges\":[2,3,6,1,0,12],\n"));
        assert!(text.contains(r#""trace_function_count":0,"extra_native_bytes":0},"#));
        let strings = "\"strings\":[\"<dummy>\",\"Task\",\"h\\u00E9\\\"\\\\\\u001F\u{7f}\\uD83D\\uDE00\",\"tasks\"]}";
        assert!(text.ends_with(strings), "{text}");
        assert_eq!(text.matches('\n').count(), 7);
    }

    #[test]
    fn kinds_the_layout_cannot_name_are_appended() {
        let mut b = GraphBuilder::new();
        let root = b.node(NodeKind::Synthetic, "", 1, 0);
        let w = b.node(NodeKind::WasmObject, "Module", 3, 8);
        let u = b.node(NodeKind::Unknown, "?", 5, 8);
        b.edge(root, EdgeKind::Unknown, "x", w);
        b.edge(root, EdgeKind::Weak, "y", u);
        let g = b.build();
        let text = write(&g, Layout::Modern);
        assert!(text.contains(r#""object shape","wasm object","unknown"],"#), "{text}");
        assert!(text.contains(r#""weak","unknown"],"#), "{text}");
        let back = parse(text.as_bytes()).unwrap();
        assert_eq!(back.kind(w), NodeKind::WasmObject);
        assert_eq!(back.kind(u), NodeKind::Unknown);
        assert_eq!(back.edge_kind(0), EdgeKind::Unknown);
        assert_eq!(back.edge_kind(1), EdgeKind::Weak);
    }

    #[test]
    fn a_root_other_than_node_zero_survives() {
        let mut g = small();
        g.root = 2;
        for layout in [Layout::Node20, Layout::Modern] {
            let back = parse(write(&g, layout).as_bytes()).unwrap();
            assert_eq!(back.root(), 2);
        }
    }

    #[test]
    fn an_empty_graph_writes_but_is_refused_on_reading() {
        // V8 always writes the root; a snapshot without nodes has nothing to analyse.
        let g = GraphBuilder::new().build();
        for layout in [Layout::Node20, Layout::Modern] {
            let err = parse(write(&g, layout).as_bytes()).unwrap_err();
            assert!(err.to_string().contains("no nodes"), "{err}");
        }
    }
}
