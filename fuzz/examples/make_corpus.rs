//! Writes a seed corpus of small valid snapshots, in both layouts, for the fuzz targets:
//! `cargo run --example make_corpus` (from `fuzz/`) fills `corpus/parse` and
//! `corpus/parse_chunked`.

use leakcheck::snapshot::{EdgeKind, GraphBuilder, HeapGraph, Layout, NodeKind, write_snapshot};
use std::fs;

fn graphs() -> Vec<HeapGraph> {
    let mut out = Vec::new();
    out.push(GraphBuilder::new().build());

    let mut b = GraphBuilder::new();
    let root = b.node(NodeKind::Synthetic, "<dummy>", 1, 0);
    let gc = b.node(NodeKind::Synthetic, "(GC roots)", 3, 0);
    let task = b.node(NodeKind::Object, "Task", 5, 32);
    let text = b.node(NodeKind::String, "h\u{e9}llo \"w\" \\ \u{1}\u{1F600}", 7, 24);
    let arr = b.node(NodeKind::Array, "", 9, u32::MAX as u64 + 16);
    let f = b.node(NodeKind::Closure, "onRequest", 11, 64);
    let ctx = b.node(NodeKind::Hidden, "system / Context", 13, 40);
    b.indexed_edge(root, EdgeKind::Element, 1, gc);
    b.edge(root, EdgeKind::Shortcut, "global", task);
    b.edge(task, EdgeKind::Property, "name", text);
    b.edge(task, EdgeKind::Internal, "elements", arr);
    b.indexed_edge(arr, EdgeKind::Element, 0, task);
    b.indexed_edge(arr, EdgeKind::Hidden, 4_000_000_000, f);
    b.edge(f, EdgeKind::Internal, "context", ctx);
    b.edge(ctx, EdgeKind::Context, "cache", arr);
    b.edge(ctx, EdgeKind::Weak, "weak", task);
    out.push(b.build());

    let mut b = GraphBuilder::new();
    let root = b.node(NodeKind::Synthetic, "", 1, 0);
    for (i, kind) in [NodeKind::WasmObject, NodeKind::Unknown, NodeKind::BigInt, NodeKind::Symbol]
        .into_iter()
        .enumerate()
    {
        let n = b.node(kind, &format!("k{i}"), 3 + 2 * i as u32, i as u64);
        b.edge(root, EdgeKind::Unknown, "?", n);
    }
    out.push(b.build());
    out
}

fn main() {
    for dir in ["corpus/parse", "corpus/parse_chunked"] {
        fs::create_dir_all(dir).unwrap();
    }
    for (i, graph) in graphs().iter().enumerate() {
        for (name, layout) in [("node20", Layout::Node20), ("modern", Layout::Modern)] {
            let mut text = Vec::new();
            write_snapshot(graph, &mut text, layout).unwrap();
            fs::write(format!("corpus/parse/{i}-{name}.heapsnapshot"), &text).unwrap();
            // parse_chunked reads its chunk sizes and parallel block size from 5 bytes.
            let mut chunked = vec![0, 6, 17, 63, 9];
            chunked.extend_from_slice(&text);
            fs::write(format!("corpus/parse_chunked/{i}-{name}.heapsnapshot"), &chunked).unwrap();
        }
    }
}
