//! Checks shared by the fuzz targets: what must hold for any graph the parser accepts.

use leakcheck::snapshot::{HeapGraph, Layout, ParseError, parse, write_snapshot};
use std::io::{self, Read};

/// Calls every accessor on every node and edge (an accepted graph must never make one panic),
/// then writes the graph in both layouts and checks it parses back identical.
pub fn check_accepted(g: &HeapGraph) {
    if g.node_count() > 0 {
        let _ = g.kind(g.root());
    }
    for n in g.nodes() {
        let _ = (g.kind(n), g.name(n), g.name_index(n), g.id(n), g.self_size(n));
        for e in g.edges(n) {
            let to = g.edge_target(e);
            let _ = (g.kind(to), g.edge_kind(e), g.edge_name(e), g.edge_name_or_index(e));
        }
    }
    for layout in [Layout::Node20, Layout::Modern] {
        let mut text = Vec::new();
        write_snapshot(g, &mut text, layout).unwrap();
        let back = parse(text.as_slice()).expect("a written graph must parse");
        assert_same_graph(g, &back);
    }
}

/// Panics unless the two graphs agree on every accessor.
pub fn assert_same_graph(a: &HeapGraph, b: &HeapGraph) {
    assert_eq!(a.node_count(), b.node_count());
    assert_eq!(a.edge_count(), b.edge_count());
    assert_eq!(a.root(), b.root());
    for n in a.nodes() {
        assert_eq!(a.kind(n), b.kind(n));
        assert_eq!(a.name(n), b.name(n));
        assert_eq!(a.name_index(n), b.name_index(n));
        assert_eq!(a.id(n), b.id(n));
        assert_eq!(a.self_size(n), b.self_size(n));
        assert_eq!(a.edges(n), b.edges(n));
    }
    for e in 0..a.edge_count() as u32 {
        assert_eq!(a.edge_target(e), b.edge_target(e));
        assert_eq!(a.edge_kind(e), b.edge_kind(e));
        assert_eq!(a.edge_name_or_index(e), b.edge_name_or_index(e));
    }
    assert_eq!(a.strings().len(), b.strings().len());
    for i in 0..a.strings().len() as u32 {
        assert_eq!(a.strings().get(i), b.strings().get(i));
    }
}

/// Panics unless two parses of the same bytes agree: the same graph, or the same error.
pub fn assert_same_outcome(a: &Result<HeapGraph, ParseError>, b: &Result<HeapGraph, ParseError>) {
    match (a, b) {
        (Ok(a), Ok(b)) => assert_same_graph(a, b),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!("one parse gave Ok, the other Err: {:?} / {:?}", a.is_ok(), b.is_ok()),
    }
}

/// A reader handing out the text in chunks of the given sizes (cycled), like CDP's
/// `addHeapSnapshotChunk` events.
pub struct Chunked<'a> {
    /// What is left to hand out.
    pub data: &'a [u8],
    /// Chunk sizes, each at least 1.
    pub sizes: &'a [usize],
    /// Index of the next size.
    pub next: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        let n = size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
