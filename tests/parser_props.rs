//! Property tests for the snapshot parser and writer: random graphs survive write → parse in
//! both layouts, under any chunking and on the parallel path with tiny blocks; truncations and
//! corruptions fail cleanly with an offset; and a real Node 20 snapshot writes back byte for
//! byte.

use leakcheck::snapshot::{
    EdgeKind, GraphBuilder, HeapGraph, Layout, NodeKind, ParseError, ParseOptions, parse,
    parse_with, write_snapshot,
};
use proptest::prelude::*;
use std::io::{self, Read};

const NODE_KINDS: [NodeKind; 17] = [
    NodeKind::Hidden,
    NodeKind::Array,
    NodeKind::String,
    NodeKind::Object,
    NodeKind::Code,
    NodeKind::Closure,
    NodeKind::RegExp,
    NodeKind::Number,
    NodeKind::Native,
    NodeKind::Synthetic,
    NodeKind::ConsString,
    NodeKind::SlicedString,
    NodeKind::Symbol,
    NodeKind::BigInt,
    NodeKind::ObjectShape,
    NodeKind::WasmObject,
    NodeKind::Unknown,
];

const EDGE_KINDS: [EdgeKind; 8] = [
    EdgeKind::Context,
    EdgeKind::Element,
    EdgeKind::Property,
    EdgeKind::Internal,
    EdgeKind::Hidden,
    EdgeKind::Shortcut,
    EdgeKind::Weak,
    EdgeKind::Unknown,
];

const LAYOUTS: [Layout; 2] = [Layout::Node20, Layout::Modern];

/// A node: kind, name, id, self size.
type NodeSpec = (NodeKind, String, u32, u64);
/// An edge: from, kind, name (used unless the kind takes an index), index, to.
type EdgeSpec = (usize, EdgeKind, String, u32, usize);

/// Names that stress the string escaper: quotes, backslashes, control characters, DEL,
/// non-ASCII, characters outside the BMP, and anything `char` can be.
fn name() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        "",
        "\"",
        "\\",
        "\\\"",
        "\u{0}",
        "\u{1f}",
        "\u{7f}",
        "\u{8}\u{c}\n\r\t",
        "é",
        "😀",
        "\u{fffd}",
        "\u{ffff}",
        "\u{10ffff}",
        "<dummy>",
        "(GC roots)",
        "a\\u0041",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        3 => "[ -~]{0,10}",
        2 => special,
        2 => prop::collection::vec(any::<char>(), 0..6).prop_map(String::from_iter),
        1 => prop::collection::vec(prop::sample::select(vec!['"', '\\', '\u{1}', 'ü', '😀', 'x']), 0..8)
            .prop_map(String::from_iter),
    ]
}

fn self_size() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0..4096u64,
        1 => (u32::MAX as u64 - 2)..=(u32::MAX as u64 + 2),
        1 => any::<u64>(),
    ]
}

fn graph_spec() -> impl Strategy<Value = (Vec<NodeSpec>, Vec<EdgeSpec>)> {
    let node = (prop::sample::select(NODE_KINDS.to_vec()), name(), any::<u32>(), self_size());
    prop::collection::vec(node, 1..16).prop_flat_map(|nodes| {
        let n = nodes.len();
        let edge = (
            0..n,
            prop::sample::select(EDGE_KINDS.to_vec()),
            name(),
            prop_oneof![0..16u32, any::<u32>()],
            0..n,
        );
        (Just(nodes), prop::collection::vec(edge, 0..40))
    })
}

fn build((nodes, edges): &(Vec<NodeSpec>, Vec<EdgeSpec>)) -> HeapGraph {
    let mut b = GraphBuilder::new();
    for (kind, name, id, size) in nodes {
        b.node(*kind, name, *id, *size);
    }
    for (from, kind, name, index, to) in edges {
        if kind.has_index_name() {
            b.indexed_edge(*from as u32, *kind, *index, *to as u32);
        } else {
            b.edge(*from as u32, *kind, name, *to as u32);
        }
    }
    b.build()
}

fn write(graph: &HeapGraph, layout: Layout) -> Vec<u8> {
    let mut out = Vec::new();
    write_snapshot(graph, &mut out, layout).expect("writing to a Vec cannot fail");
    out
}

/// Compares two graphs through every public accessor.
fn assert_same_graph(a: &HeapGraph, b: &HeapGraph) {
    assert_eq!(a.node_count(), b.node_count(), "node count");
    assert_eq!(a.edge_count(), b.edge_count(), "edge count");
    assert_eq!(a.root(), b.root(), "root");
    assert_eq!(a.nodes(), b.nodes());
    for n in a.nodes() {
        assert_eq!(a.kind(n), b.kind(n), "kind of node {n}");
        assert_eq!(a.name(n), b.name(n), "name of node {n}");
        assert_eq!(a.name_index(n), b.name_index(n), "name index of node {n}");
        assert_eq!(a.id(n), b.id(n), "id of node {n}");
        assert_eq!(a.self_size(n), b.self_size(n), "self size of node {n}");
        assert_eq!(a.edges(n), b.edges(n), "edges of node {n}");
    }
    for e in 0..a.edge_count() as u32 {
        assert_eq!(a.edge_target(e), b.edge_target(e), "target of edge {e}");
        assert_eq!(a.edge_kind(e), b.edge_kind(e), "kind of edge {e}");
        assert_eq!(a.edge_name_or_index(e), b.edge_name_or_index(e), "name of edge {e}");
        assert_eq!(a.edge_name(e), b.edge_name(e), "name of edge {e}");
    }
    assert_eq!(a.strings().len(), b.strings().len(), "string count");
    for i in 0..a.strings().len() as u32 {
        assert_eq!(a.strings().get(i), b.strings().get(i), "string {i}");
    }
}

/// The header lists a parsed snapshot must report for each layout.
fn assert_layout_info(g: &HeapGraph, layout: Layout) {
    let info = g.info();
    let fields = match layout {
        Layout::Node20 => 7,
        _ => 6,
    };
    assert_eq!(info.node_fields.len(), fields);
    assert_eq!(info.edge_fields, ["type", "name_or_index", "to_node"]);
    assert!(info.node_types.len() >= fields + 8);
    assert_eq!(info.extra_native_bytes, (layout != Layout::Node20).then_some(0));
}

/// Calls every accessor on every node and edge: a graph the parser accepted must never make
/// them panic.
fn touch_everything(g: &HeapGraph) {
    let mut sum = 0u64;
    if g.node_count() > 0 {
        let _ = g.kind(g.root());
    }
    for n in g.nodes() {
        sum += g.name(n).len() as u64 + g.id(n) as u64 + g.self_size(n) % 7;
        let _ = (g.kind(n), g.name_index(n));
        for e in g.edges(n) {
            let to = g.edge_target(e);
            let _ = (g.kind(to), g.edge_kind(e), g.edge_name(e), g.edge_name_or_index(e));
        }
    }
    std::hint::black_box(sum);
}

/// A reader handing out the text in chunks of the given sizes (cycled), the way CDP's
/// `addHeapSnapshotChunk` events split it anywhere, inside numbers, strings and escapes.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: &'a [usize],
    next: usize,
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

fn parse_chunked(data: &[u8], sizes: &[usize]) -> Result<HeapGraph, ParseError> {
    parse(Chunked { data, sizes, next: 0 })
}

/// The parallel path for the integer arrays, forced onto small inputs: blocks of
/// `block_size` bytes, so block edges fall inside numbers and records.
fn parse_parallel(
    data: &[u8],
    sizes: &[usize],
    block_size: usize,
) -> Result<HeapGraph, ParseError> {
    let options = ParseOptions { workers: 2, parallel_min_values: 0, block_size, keep_ids: true };
    parse_with(Chunked { data, sizes, next: 0 }, &options)
}

/// Whole and chunked parses of the same bytes must agree: the same graph, or the same error
/// at the same offset.
fn assert_same_outcome(
    whole: &Result<HeapGraph, ParseError>,
    chunked: &Result<HeapGraph, ParseError>,
) {
    match (whole, chunked) {
        (Ok(a), Ok(b)) => assert_same_graph(a, b),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!("whole parse gave {:?}, chunked gave {:?}", a.is_ok(), b.is_ok()),
    }
}

/// `cases` per property, or `PROPTEST_CASES` for a longer run.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn write_then_parse_gives_the_same_graph(spec in graph_spec()) {
        let graph = build(&spec);
        for layout in LAYOUTS {
            let text = write(&graph, layout);
            prop_assert!(text.is_ascii(), "V8 snapshots are pure ASCII");
            let back = parse(text.as_slice()).unwrap();
            assert_same_graph(&graph, &back);
            assert_layout_info(&back, layout);
            // Writing the parsed graph again reproduces the text exactly.
            prop_assert!(write(&back, layout) == text, "second write differs");
        }
    }

    #[test]
    fn any_chunking_gives_the_same_graph(
        spec in graph_spec(),
        sizes in prop::collection::vec(1..=64usize, 1..32),
        block_size in 1..=48usize,
    ) {
        let graph = build(&spec);
        for layout in LAYOUTS {
            let text = write(&graph, layout);
            let back = parse_chunked(&text, &sizes).unwrap();
            assert_same_graph(&graph, &back);
            let back = parse_parallel(&text, &sizes, block_size).unwrap();
            assert_same_graph(&graph, &back);
        }
    }

    /// Text re-serialised by a JSON library (`JSON.stringify`, serde_json) has raw UTF-8
    /// where V8 writes `\uXXXX`; a chunk boundary inside a multi-byte character must not
    /// change what is read.
    #[test]
    fn raw_utf8_survives_any_chunking(
        spec in graph_spec(),
        sizes in prop::collection::vec(1..=16usize, 1..16),
    ) {
        let graph = build(&spec);
        let text = write(&graph, Layout::Modern);
        // Re-serialise the strings section (always last) as serde_json would: raw UTF-8.
        let at = text.windows(11).position(|w| w == b"\"strings\":[").unwrap() + 10;
        let strings: Vec<String> = serde_json::from_slice(&text[at..text.len() - 1]).unwrap();
        let mut raw = text[..at].to_vec();
        raw.extend(serde_json::to_vec(&strings).unwrap());
        raw.push(b'}');
        let back = parse_chunked(&raw, &sizes).unwrap();
        assert_same_graph(&graph, &back);
    }

    #[test]
    fn truncations_fail_with_an_offset_before_the_cut(
        spec in graph_spec(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 1..24),
        sizes in prop::collection::vec(1..=64usize, 1..8),
        layout in prop::sample::select(LAYOUTS.to_vec()),
        block_size in 1..=48usize,
    ) {
        let text = write(&build(&spec), layout);
        for cut in cuts {
            let cut = cut.index(text.len());
            let t = &text[..cut];
            for result in
                [parse(t), parse_chunked(t, &sizes), parse_parallel(t, &sizes, block_size)]
            {
                let err = result.err().unwrap_or_else(|| panic!("cut at {cut} parsed"));
                let offset = err.offset().unwrap_or_else(|| panic!("not a syntax error: {err}"));
                prop_assert!(offset <= cut as u64, "offset {} past the cut {}: {}", offset, cut, err);
            }
        }
    }

    #[test]
    fn corrupted_snapshots_never_panic(
        spec in graph_spec(),
        layout in prop::sample::select(LAYOUTS.to_vec()),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..6),
        sizes in prop::collection::vec(1..=64usize, 1..8),
        block_size in 1..=48usize,
    ) {
        let mut text = write(&build(&spec), layout);
        for (at, byte, op) in edits {
            let i = at.index(text.len());
            match op {
                0 => text[i] = byte,
                1 => text.insert(i, byte),
                _ => {
                    text.remove(i);
                }
            }
        }
        let whole = parse(text.as_slice());
        if let Ok(g) = &whole {
            touch_everything(g);
        }
        assert_same_outcome(&whole, &parse_chunked(&text, &sizes));
        assert_same_outcome(&whole, &parse_parallel(&text, &sizes, block_size));
    }
}

/// Headers that are well-formed JSON but describe an inconsistent graph must be rejected: the
/// parser's `Ok` promises that every accessor works on every node and edge.
#[test]
fn inconsistent_headers_are_errors_not_broken_graphs() {
    let mut b = GraphBuilder::new();
    let root = b.node(NodeKind::Synthetic, "", 1, 0);
    let obj = b.node(NodeKind::Object, "Obj", 3, 8);
    b.edge(root, EdgeKind::Property, "p", obj);
    let text = String::from_utf8(write(&b.build(), Layout::Modern)).unwrap();
    let header_end = text.find("},\n\"nodes\"").unwrap() + 1;
    let header = &text[..header_end];
    let cases = [
        (
            "a node field named twice",
            text.replace(r#""node_fields":["type","#, r#""node_fields":["type","type","#)
                .replace("[9,0,1,0,1,0,3,1,3,8,0,0]", "[9,9,0,1,0,1,0,3,3,1,3,8,0,0]")
                .replace("[2,2,6]", "[2,2,7]"),
        ),
        (
            "edge_count named twice",
            text.replace(r#""edge_count","detachedness"]"#, r#""edge_count","edge_count"]"#),
        ),
        (
            "a second snapshot header after the nodes",
            text.replace(
                ",\n\"edges\":[2,2,6]",
                &format!(",{},\n\"edges\":[2,2,48]", &header[1..].replace(":2,", ":9,")),
            ),
        ),
    ];
    for (what, bad) in cases {
        assert_ne!(bad, text, "{what}: the edit did not apply");
        match parse(bad.as_bytes()) {
            Err(e) => assert!(e.offset().is_some(), "{what}: {e}"),
            Ok(g) => {
                touch_everything(&g);
                panic!("{what}: accepted\n{bad}");
            }
        }
    }
}

/// Every cut of one snapshot (not a sample), in both layouts.
#[test]
fn every_truncation_of_a_small_snapshot_fails() {
    let mut b = GraphBuilder::new();
    let root = b.node(NodeKind::Synthetic, "", 1, 0);
    let obj = b.node(NodeKind::Object, "Q\"\\é😀\u{1}", 3, u32::MAX as u64 + 9);
    b.edge(root, EdgeKind::Property, "p", obj);
    b.indexed_edge(obj, EdgeKind::Hidden, 7, root);
    let graph = b.build();
    for layout in LAYOUTS {
        let text = write(&graph, layout);
        for cut in 0..text.len() {
            let err = parse(&text[..cut]).expect_err("a truncated snapshot must fail");
            assert!(err.offset().is_some_and(|o| o <= cut as u64), "cut {cut}: {err}");
        }
    }
}

/// A real snapshot from this machine's Node writes back byte for byte, apart from what the
/// graph does not keep: `trace_node_id` and `detachedness` (written as 0) and the `locations`
/// of objects other than functions (the functions' are written, in node order). Also runs against Deno's newer layout when `deno` is on PATH.
#[test]
fn a_real_node_snapshot_writes_back_byte_for_byte() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("parser_props_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("node.heapsnapshot");
    let script = format!(
        "globalThis.keep = ['h\\u00e9llo \\u{{1F600}}', 'tab\\there', '\\u0001', 'q\"b\\\\'];\
         require('v8').writeHeapSnapshot({:?})",
        path.to_str().unwrap()
    );
    let status = std::process::Command::new("node")
        .args(["-e", &script])
        .status()
        .expect("node must be on PATH for this test");
    assert!(status.success(), "node failed to write a snapshot");
    check_real_snapshot(&path, Layout::Node20, 7);

    let deno = std::process::Command::new("deno")
        .args(["eval", &script.replace("require('v8')", "(await import('node:v8'))")])
        .env("DENO_NO_UPDATE_CHECK", "1")
        .status();
    match deno {
        Ok(status) if status.success() => check_real_snapshot(&path, Layout::Modern, 6),
        _ => eprintln!("deno not available: skipped the newer-V8 layout"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn check_real_snapshot(path: &std::path::Path, layout: Layout, node_fields: usize) {
    let input = std::fs::read(path).unwrap();
    let graph = parse(input.as_slice()).unwrap();
    assert!(graph.node_count() > 10_000, "suspiciously small snapshot");
    // Too small for the parallel path by default; force it, with blocks that split records.
    let options =
        ParseOptions { workers: 2, parallel_min_values: 0, block_size: 4093, keep_ids: true };
    assert_same_graph(&graph, &parse_with(input.as_slice(), &options).unwrap());
    let output = write(&graph, layout);
    let expected = forget_what_the_graph_drops(&input, node_fields);
    if let Some(at) = expected.iter().zip(&output).position(|(a, b)| a != b) {
        let around = |t: &[u8]| {
            String::from_utf8_lossy(&t[at.saturating_sub(60)..])
                .chars()
                .take(120)
                .collect::<String>()
        };
        panic!(
            "differs at byte {at}:\nexpected {:?}\n     got {:?}",
            around(&expected),
            around(&output)
        );
    }
    assert_eq!(expected.len(), output.len(), "same prefix, different lengths");
}

/// The input with the node fields after `edge_count` zeroed and `locations` cut to the
/// closures' (node type 5 in both layouts), in node order, each record ended as the nodes'.
fn forget_what_the_graph_drops(input: &[u8], node_fields: usize) -> Vec<u8> {
    let text = std::str::from_utf8(input).expect("V8 writes ASCII");
    let start = text.find("\"nodes\":[").unwrap() + "\"nodes\":[".len();
    let end = text.find("],\n\"edges\":[").unwrap();
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    let numbers = |t: &str| -> Vec<u64> {
        t.split(|c: char| !c.is_ascii_digit())
            .filter(|d| !d.is_empty())
            .map(|d| d.parse().unwrap())
            .collect()
    };
    let node_types: Vec<u64> =
        numbers(&text[start..end]).into_iter().step_by(node_fields).collect();
    let mut field = 0;
    let mut rest = &text[start..end];
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            out.push_str(&rest[..1]);
            rest = &rest[1..];
            continue;
        }
        out.push_str(if field % node_fields >= 5 { "0" } else { &rest[..digits] });
        field += 1;
        rest = &rest[digits..];
    }
    let tail = &text[end..];
    let loc = tail.find("\"locations\":[").unwrap() + "\"locations\":[".len();
    let loc_end = loc + tail[loc..].find(']').unwrap();
    out.push_str(&tail[..loc]);
    let (location_fields, record_end) = if node_fields == 7 { (4, "\n") } else { (5, "") };
    let mut closures: Vec<Vec<u64>> = numbers(&tail[loc..loc_end])
        .chunks(location_fields)
        .filter(|r| node_types[r[0] as usize / node_fields] == 5)
        .map(<[u64]>::to_vec)
        .collect();
    closures.sort_by_key(|r| r[0]);
    closures.dedup_by_key(|r| r[0]);
    let records: Vec<String> = closures
        .iter()
        .map(|r| r.iter().map(u64::to_string).collect::<Vec<_>>().join(",") + record_end)
        .collect();
    out.push_str(&records.join(","));
    out.push_str(&tail[loc_end..]);
    out.into_bytes()
}
