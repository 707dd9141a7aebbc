//! Streaming `.heapsnapshot` parser: reads the JSON text once, from any [`Read`], straight into
//! a [`HeapGraph`], never holding the text whole.
//!
//! The bulk of a snapshot is two arrays of unsigned integers (`nodes`, `edges`) and one array of
//! strings, so the parser is a small hand-written scanner with a tight loop for integer arrays;
//! only the small `snapshot` header goes through serde_json. Field layouts are read from
//! `snapshot.meta`, never assumed (Node 20 writes 7 node fields, newer V8 6). Top-level keys are
//! expected in V8's order (`snapshot` before `nodes` and `edges`), which every runtime writes;
//! unknown keys are skipped.

use super::bulk::is_space;
use super::graph::{EdgeKind, EdgeNamesEncoder, HeapGraph, MAX_NODES, NodeKind, SnapshotInfo};
use super::locations::{LocationsBuilder, SourcePosition};
use super::records::{EdgeFormat, EdgeSink, NodeFormat, NodeSink, exact_div};
use super::scanner::{MAX_FIELDS, Scanner};
use serde::Deserialize;
use std::io::{self, Read};
use std::path::Path;

/// A snapshot that could not be read: what is wrong and the byte offset where it was found.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The reader failed.
    #[error("could not read the snapshot: {0}")]
    Io(#[from] io::Error),
    /// The input has no text at all (an empty file, or nothing was sent).
    #[error("the snapshot is empty")]
    Empty,
    /// The text is not a well-formed heap snapshot.
    #[error("{message} at byte {offset}")]
    Syntax {
        /// Byte offset into the snapshot text.
        offset: u64,
        /// What is wrong, e.g. "unexpected end of input (the snapshot is truncated)".
        message: String,
    },
}

impl ParseError {
    /// The byte offset of a syntax error, if this is one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            ParseError::Syntax { offset, .. } => Some(*offset),
            ParseError::Empty => Some(0),
            ParseError::Io(_) => None,
        }
    }
}

/// Parses a snapshot from any reader (a file, or the concatenated chunks of a CDP stream).
///
/// The reader is buffered internally; passing a `BufReader` is harmless but not needed.
pub fn parse<R: Read>(reader: R) -> Result<HeapGraph, ParseError> {
    parse_with(reader, &ParseOptions::default())
}

/// How the parser may use threads. The defaults suit every caller; tests use tiny blocks to
/// exercise the parallel path on small inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// Threads that turn the integer arrays' text into numbers, besides the reading thread.
    /// 0 reads everything on the calling thread.
    pub workers: usize,
    /// Arrays with fewer values than this (by the header's counts) are read on the calling
    /// thread: there the workers' blocks cost more memory than they save time.
    pub parallel_min_values: u64,
    /// Bytes per block handed to a worker.
    pub block_size: usize,
    /// Keep the node ids. Only comparing snapshots needs them; a summary of one snapshot
    /// saves 4 bytes per node without them ([`HeapGraph::id`] then answers 0).
    pub keep_ids: bool,
}

impl ParseOptions {
    /// The options for the parallel path, if an array of `values` values should take it.
    fn bulk_for(&self, values: u64) -> Option<&ParseOptions> {
        (self.workers > 0 && values >= self.parallel_min_values).then_some(self)
    }
}

impl Default for ParseOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ParseOptions {
            workers: if cores > 1 { cores.min(3) } else { 0 },
            // 8M values, about 30 MB of text: the 21 MB snapshot's 2.8M edge values took 0.07 s
            // either way, but its peak RSS was 28 MiB with two workers' blocks (4 of 1 MiB of
            // text and 2.5 MiB of values) against 19.5 MiB on one thread.
            parallel_min_values: 1 << 23,
            block_size: 1 << 20,
            keep_ids: true,
        }
    }
}

/// [`parse`] with explicit threading options.
pub fn parse_with<R: Read>(reader: R, options: &ParseOptions) -> Result<HeapGraph, ParseError> {
    Parser::new(reader, options.clone()).run()
}

/// Parses a snapshot file.
pub fn parse_file(path: &Path) -> Result<HeapGraph, ParseError> {
    let file = std::fs::File::open(path)?;
    parse(file)
}

/// Upper bound on what the header's counts may pre-reserve, so a corrupt header claiming
/// billions of nodes cannot make us allocate before the data proves it.
const MAX_RESERVE: usize = 1 << 24;

/// `snapshot` as V8 writes it; only the parts leakcheck needs.
#[derive(Deserialize)]
struct RawHeader {
    meta: RawMeta,
    node_count: u64,
    edge_count: u64,
    #[serde(default)]
    root_index: Option<u64>,
    #[serde(default)]
    extra_native_bytes: Option<u64>,
}

#[derive(Deserialize)]
struct RawMeta {
    node_fields: Vec<String>,
    node_types: Vec<serde_json::Value>,
    edge_fields: Vec<String>,
    edge_types: Vec<serde_json::Value>,
    #[serde(default)]
    location_fields: Vec<String>,
}

/// What each node field is used for.
#[derive(Clone, Copy, PartialEq)]
enum NodeField {
    Type,
    Name,
    Id,
    SelfSize,
    EdgeCount,
    Ignored,
}

#[derive(Clone, Copy, PartialEq)]
enum EdgeField {
    Type,
    NameOrIndex,
    ToNode,
    Ignored,
}

/// The resolved layout from `snapshot.meta`.
struct Layout {
    node_fields: Vec<NodeField>,
    edge_fields: Vec<EdgeField>,
    node_kinds: Vec<NodeKind>,
    edge_kinds: Vec<EdgeKind>,
    node_count: u64,
    edge_count: u64,
    root_index: u64,
    /// Positions of `object_index`, `script_id`, `line` and `column` in a `locations` record,
    /// and the record's length; `None` when the meta lacks one of them.
    location_fields: Option<([usize; 4], usize)>,
}

fn type_names(types: &[serde_json::Value], what: &str) -> Result<Vec<String>, String> {
    let Some(serde_json::Value::Array(list)) = types.first() else {
        return Err(format!("snapshot.meta.{what} must start with a list of type names"));
    };
    list.iter()
        .map(|v| {
            v.as_str().map(str::to_owned).ok_or_else(|| format!("a {what} entry is not a string"))
        })
        .collect()
}

impl Layout {
    fn from_header(header: RawHeader, info: &mut SnapshotInfo) -> Result<Layout, String> {
        let meta = header.meta;
        let node_types = type_names(&meta.node_types, "node_types")?;
        let edge_types = type_names(&meta.edge_types, "edge_types")?;
        let node_fields: Vec<NodeField> = meta
            .node_fields
            .iter()
            .map(|f| match f.as_str() {
                "type" => NodeField::Type,
                "name" => NodeField::Name,
                "id" => NodeField::Id,
                "self_size" => NodeField::SelfSize,
                "edge_count" => NodeField::EdgeCount,
                _ => NodeField::Ignored,
            })
            .collect();
        let edge_fields: Vec<EdgeField> = meta
            .edge_fields
            .iter()
            .map(|f| match f.as_str() {
                "type" => EdgeField::Type,
                "name_or_index" => EdgeField::NameOrIndex,
                "to_node" => EdgeField::ToNode,
                _ => EdgeField::Ignored,
            })
            .collect();
        // A field named twice would push two values per node into one column.
        for (i, field) in node_fields.iter().enumerate() {
            if *field != NodeField::Ignored && node_fields[..i].contains(field) {
                return Err(format!(
                    "snapshot.meta.node_fields names {:?} twice",
                    meta.node_fields[i]
                ));
            }
        }
        for required in [NodeField::Type, NodeField::Name, NodeField::Id, NodeField::SelfSize] {
            if !node_fields.contains(&required) {
                return Err("snapshot.meta.node_fields lacks type, name, id or self_size".into());
            }
        }
        if !node_fields.contains(&NodeField::EdgeCount) {
            return Err("snapshot.meta.node_fields lacks edge_count".into());
        }
        for required in [EdgeField::Type, EdgeField::NameOrIndex, EdgeField::ToNode] {
            if !edge_fields.contains(&required) {
                return Err("snapshot.meta.edge_fields lacks type, name_or_index or to_node".into());
            }
        }
        if node_fields.len() > MAX_FIELDS || edge_fields.len() > MAX_FIELDS {
            return Err(format!("snapshot.meta lists more than {MAX_FIELDS} node or edge fields"));
        }
        if header.node_count as usize > MAX_NODES {
            return Err(format!(
                "snapshot has {} nodes, more than leakcheck supports",
                header.node_count
            ));
        }
        if header.edge_count > u32::MAX as u64 {
            return Err(format!(
                "snapshot has {} edges, more than leakcheck supports",
                header.edge_count
            ));
        }
        let root_index = header.root_index.unwrap_or(0);
        let nf = node_fields.len() as u64;
        if header.node_count > 0
            && (!root_index.is_multiple_of(nf) || root_index / nf >= header.node_count)
        {
            return Err(format!("snapshot.root_index {root_index} is not a node"));
        }
        let at = |name: &str| meta.location_fields.iter().position(|f| f == name);
        let location_fields = match (at("object_index"), at("script_id"), at("line"), at("column"))
        {
            (Some(o), Some(s), Some(l), Some(c)) if meta.location_fields.len() <= MAX_FIELDS => {
                Some(([o, s, l, c], meta.location_fields.len()))
            }
            _ => None,
        };
        let layout = Layout {
            location_fields,
            node_kinds: node_types.iter().map(|t| NodeKind::from_v8_name(t)).collect(),
            edge_kinds: edge_types.iter().map(|t| EdgeKind::from_v8_name(t)).collect(),
            node_fields,
            edge_fields,
            node_count: header.node_count,
            edge_count: header.edge_count,
            root_index: root_index / nf,
        };
        *info = SnapshotInfo {
            node_fields: meta.node_fields,
            edge_fields: meta.edge_fields,
            node_types,
            edge_types,
            extra_native_bytes: header.extra_native_bytes,
        };
        Ok(layout)
    }
}

struct Parser<R> {
    scan: Scanner<R>,
    options: ParseOptions,
    graph: HeapGraph,
    /// The edges' names, coded as they are read; moved into the graph at the end.
    edge_names: EdgeNamesEncoder,
    /// The largest string index a node names, and an edge (see [`EdgeSink::max_name`]).
    max_names: (u32, u32),
    layout: Option<Layout>,
    seen_nodes: bool,
    seen_edges: bool,
    seen_locations: bool,
    seen_strings: bool,
}

impl<R: Read> Parser<R> {
    fn new(reader: R, options: ParseOptions) -> Self {
        Parser {
            scan: Scanner::new(reader),
            options,
            graph: HeapGraph::default(),
            edge_names: EdgeNamesEncoder::default(),
            max_names: (0, 0),
            layout: None,
            seen_nodes: false,
            seen_edges: false,
            seen_locations: false,
            seen_strings: false,
        }
    }

    fn run(mut self) -> Result<HeapGraph, ParseError> {
        // Reader errors (a directory, a dead stream) are reported as they are; only true end
        // of input means the snapshot is empty.
        loop {
            match self.scan.peek()? {
                None => return Err(ParseError::Empty),
                Some(b) if is_space(b) => self.scan.pos += 1,
                Some(_) => break,
            }
        }
        self.scan.expect(b'{')?;
        let mut key = String::new();
        if self.scan.peek_token()? != b'}' {
            loop {
                key.clear();
                self.scan.read_string(&mut key)?;
                self.scan.expect(b':')?;
                match key.as_str() {
                    "snapshot" => self.read_header()?,
                    "nodes" => self.read_nodes()?,
                    "edges" => self.read_edges()?,
                    "locations" => self.read_locations()?,
                    "strings" => self.read_strings()?,
                    _ => self.scan.skip_value(None)?,
                }
                if !self.scan.comma_or(b'}')? {
                    break;
                }
            }
        } else {
            self.scan.pos += 1;
        }
        if self.scan.peek_token().is_ok() {
            return self.scan.error("unexpected text after the end of the snapshot");
        }
        self.finish()
    }

    fn read_header(&mut self) -> Result<(), ParseError> {
        if self.layout.is_some() {
            // A second header could change the counts the nodes were checked against.
            return self.scan.error("`snapshot` appears twice");
        }
        let start = self.scan.offset();
        let mut text = Vec::new();
        self.scan.skip_value(Some(&mut text))?;
        let header: RawHeader = serde_json::from_slice(&text).map_err(|e| ParseError::Syntax {
            offset: start,
            message: format!("invalid snapshot header: {e}"),
        })?;
        let layout = Layout::from_header(header, &mut self.graph.info)
            .map_err(|message| ParseError::Syntax { offset: start, message })?;
        let g = &mut self.graph;
        let nodes = (layout.node_count as usize).min(MAX_RESERVE);
        let edges = (layout.edge_count as usize).min(MAX_RESERVE * 4);
        g.kinds.reserve_exact(nodes);
        g.names.reserve_exact(nodes);
        if self.options.keep_ids {
            // Not reserved to be dropped: freeing a large block makes glibc raise its mmap
            // threshold, and the block buffers of the parallel path (the scanner's
            // `BlockPool`), allocated next, would come from heaps it keeps after they are freed
            // rather than from `mmap`. With both fixed, 24 MB less stays resident after
            // parsing the 214 MB snapshot.
            g.ids.reserve_exact(nodes);
        }
        g.self_sizes.reserve_exact(nodes);
        g.first_edge.reserve_exact(nodes + 1);
        g.edge_targets.reserve_exact(edges);
        self.edge_names = EdgeNamesEncoder::new(edges);
        g.root = layout.root_index as u32;
        self.layout = Some(layout);
        Ok(())
    }

    fn read_nodes(&mut self) -> Result<(), ParseError> {
        if self.seen_nodes {
            return self.scan.error("`nodes` appears twice");
        }
        self.seen_nodes = true;
        let Some(layout) = &self.layout else {
            return self.scan.error("`nodes` comes before the `snapshot` header");
        };
        let at = |f: NodeField| layout.node_fields.iter().position(|&x| x == f).expect("checked");
        let format = NodeFormat {
            fields: layout.node_fields.len(),
            type_at: at(NodeField::Type),
            name_at: at(NodeField::Name),
            id_at: at(NodeField::Id),
            size_at: at(NodeField::SelfSize),
            edges_at: at(NodeField::EdgeCount),
            kinds: layout.node_kinds.clone(),
            keep_ids: self.options.keep_ids,
        };
        let nf = format.fields;
        let node_count = layout.node_count;
        self.graph.first_edge.push(0);
        let parallel = self.options.bulk_for(node_count * nf as u64);
        let mut sink = NodeSink::new(&format, &mut self.graph, node_count);
        let values = self.scan.read_records(nf, parallel, &mut sink)?;
        let edge_total = sink.edge_total;
        self.max_names.0 = sink.max_name;
        if values != node_count * nf as u64 {
            return self.scan.error(format!(
                "`nodes` has {values} values but snapshot.node_count {node_count} × {nf} fields = {}",
                node_count * nf as u64
            ));
        }
        if edge_total != layout.edge_count {
            return self.scan.error(format!(
                "the nodes' edge counts add up to {edge_total} but snapshot.edge_count is {}",
                layout.edge_count
            ));
        }
        Ok(())
    }

    fn read_edges(&mut self) -> Result<(), ParseError> {
        if self.seen_edges {
            return self.scan.error("`edges` appears twice");
        }
        self.seen_edges = true;
        let Some(layout) = &self.layout else {
            return self.scan.error("`edges` comes before the `snapshot` header");
        };
        let at = |f: EdgeField| layout.edge_fields.iter().position(|&x| x == f).expect("checked");
        let format = EdgeFormat {
            fields: layout.edge_fields.len(),
            type_at: at(EdgeField::Type),
            name_at: at(EdgeField::NameOrIndex),
            to_at: at(EdgeField::ToNode),
            kinds: layout.edge_kinds.clone(),
            node_fields: layout.node_fields.len() as u64,
            node_count: layout.node_count,
        };
        let (ef, edge_count) = (format.fields, layout.edge_count);
        let parallel = self.options.bulk_for(edge_count * ef as u64);
        let targets = &mut self.graph.edge_targets;
        let mut sink = EdgeSink::new(&format, targets, &mut self.edge_names, edge_count);
        let values = self.scan.read_records(ef, parallel, &mut sink)?;
        self.max_names.1 = sink.max_name;
        if values != edge_count * ef as u64 {
            return self.scan.error(format!(
                "`edges` has {values} values but snapshot.edge_count {edge_count} × {ef} fields = {}",
                edge_count * ef as u64
            ));
        }
        Ok(())
    }

    /// Keeps the positions of the closures (V8 lists other objects too: their constructor's).
    /// Read after `nodes`, as V8 writes them, so each entry's node kind is known; skipped when
    /// the nodes or the meta's `location_fields` are missing.
    fn read_locations(&mut self) -> Result<(), ParseError> {
        if self.seen_locations {
            return self.scan.error("`locations` appears twice");
        }
        self.seen_locations = true;
        let Some((layout, ([object_at, script_at, line_at, column_at], lf))) =
            self.layout.as_ref().and_then(|l| Some((l, l.location_fields?)))
        else {
            return self.scan.skip_value(None);
        };
        if !self.seen_nodes {
            return self.scan.skip_value(None);
        }
        let nf = layout.node_fields.len() as u64;
        // V8 writes no count of locations (about one per ten nodes): they take the workers
        // when the nodes did, whose blocks are in the pool by then, so it costs no memory. A
        // 305 MB snapshot's 9.4 MB of locations took 0.03 s on the reading thread alone.
        let parallel = self.options.bulk_for(layout.node_count * nf);
        let kinds = &self.graph.kinds;
        let mut locations = LocationsBuilder::default();
        let values = self.scan.read_records(lf, parallel, &mut |r: &[u64]| {
            let node = match exact_div(r[object_at], nf) {
                Some(ordinal) if ordinal < kinds.len() as u64 => ordinal as u32,
                _ => return Err("location object_index is not a node"),
            };
            if kinds[node as usize] != NodeKind::Closure {
                return Ok(());
            }
            let field = |at: usize| u32::try_from(r[at]).map_err(|_| "location value too large");
            let (script_id, line, column) = (field(script_at)?, field(line_at)?, field(column_at)?);
            locations.push(node, SourcePosition { script_id, line, column });
            Ok(())
        })?;
        if values % lf as u64 != 0 {
            return self.scan.error(format!(
                "`locations` has {values} values, not a multiple of its {lf} fields"
            ));
        }
        self.graph.locations = locations.finish();
        Ok(())
    }

    fn read_strings(&mut self) -> Result<(), ParseError> {
        if self.seen_strings {
            return self.scan.error("`strings` appears twice");
        }
        self.seen_strings = true;
        self.scan.expect(b'[')?;
        if self.scan.peek_token()? == b']' {
            self.scan.pos += 1;
            return Ok(());
        }
        loop {
            let text = self.graph.strings.text_mut();
            if !self.scan.plain_string(text) {
                self.scan.read_string(text)?;
            }
            if !self.graph.strings.close_string() {
                return self.scan.error("strings add up to more than 4 GiB");
            }
            if !self.scan.comma_or(b']')? {
                return Ok(());
            }
        }
    }

    /// Checks what can only be checked once everything is read: sections present, and every
    /// name index resolving to a string.
    fn finish(mut self) -> Result<HeapGraph, ParseError> {
        let end = self.scan.offset();
        let fail = |message: String| Err(ParseError::Syntax { offset: end, message });
        if self.layout.is_none() {
            return fail("the snapshot has no `snapshot` header".into());
        }
        if !self.seen_nodes || !self.seen_edges {
            return fail("the snapshot has no `nodes` or `edges` section".into());
        }
        if !self.seen_strings {
            return fail("the snapshot has no `strings` section".into());
        }
        let g = &mut self.graph;
        if g.kinds.is_empty() {
            // V8 always writes at least the root; without it no analysis has a start.
            return fail("the snapshot has no nodes".into());
        }
        g.edge_names = std::mem::take(&mut self.edge_names).finish();
        let strings = g.strings.len() as u32;
        let (node_names, edge_names) = self.max_names;
        // Which name is past the strings, only looked for when the largest is.
        if node_names >= strings
            && let Some(n) = g.names.iter().position(|&s| s >= strings)
        {
            return fail(format!("node {n} names string {} of {strings}", g.names[n]));
        }
        if edge_names >= strings {
            for (e, name) in g.edge_names.values().enumerate() {
                if name >= strings && !g.edge_kind(e as u32).has_index_name() {
                    return fail(format!("edge {e} names string {name} of {strings}"));
                }
            }
        }
        g.kinds.shrink_to_fit();
        g.names.shrink_to_fit();
        g.ids.shrink_to_fit();
        g.self_sizes.shrink_to_fit();
        g.first_edge.shrink_to_fit();
        g.edge_targets.shrink_to_fit();
        Ok(self.graph)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::bulk::eight_digits;
    use super::*;

    pub(crate) const TINY: &str = r#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"string","number","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"]},"node_count":3,"edge_count":2,"trace_function_count":0},
"nodes":[9,0,1,0,1,0,0
,3,1,3,32,1,0,0
,2,2,5,16,0,0,0],
"edges":[2,3,7
,1,0,14],
"trace_function_infos":[],"trace_tree":[],"samples":[],"locations":[],
"strings":["","Task","hello \"w\" \u00e9\ud83d\ude00","tasks"]}"#;

    fn parse_str(s: &str) -> Result<HeapGraph, ParseError> {
        parse(s.as_bytes())
    }

    #[test]
    fn parses_a_small_snapshot() {
        let g = parse_str(TINY).unwrap();
        assert_eq!(g.node_count(), 3);
        assert_eq!(g.edge_count(), 2);
        assert_eq!(g.kind(1), NodeKind::Object);
        assert_eq!(g.name(1), "Task");
        assert_eq!(g.id(2), 5);
        assert_eq!(g.self_size(1), 32);
        assert_eq!(g.edges(0), 0..1);
        assert_eq!(g.edge_target(0), 1);
        assert_eq!(g.edge_kind(0), EdgeKind::Property);
        assert_eq!(g.edge_name(0), super::super::EdgeName::Name("tasks"));
        assert_eq!(g.edge_kind(1), EdgeKind::Element);
        assert_eq!(g.edge_name(1), super::super::EdgeName::Index(0));
        assert_eq!(g.name(2), "hello \"w\" é😀");
    }

    /// A reader that hands out one byte at a time, like the worst possible chunking.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn chunk_boundaries_anywhere_give_the_same_graph() {
        let whole = parse_str(TINY).unwrap();
        let trickled = parse(Trickle(TINY.as_bytes())).unwrap();
        assert_eq!(whole.ids, trickled.ids);
        assert_eq!(whole.edge_targets, trickled.edge_targets);
        assert_eq!(whole.name(2), trickled.name(2));
    }

    /// Plain strings whole in the buffer take a short path; cut, escaped or invalid ones not.
    #[test]
    fn strings_read_the_same_on_both_paths() {
        let strings = b"[\"\", \"plain\",\n\"\xc3\xa9\xf0\x9f\x98\x80\",\"a\\\"b\",\"\xff!\"]}";
        let head = TINY.split("\"strings\":").next().unwrap().as_bytes();
        let text = [head, b"\"strings\":", strings].concat();
        let (whole, trickled) = (parse(&text[..]).unwrap(), parse(Trickle(&text)).unwrap());
        let all = |g: &HeapGraph| -> Vec<String> {
            (0..g.strings().len() as u32).map(|i| g.strings().get(i).into()).collect()
        };
        assert_eq!(all(&whole), ["", "plain", "é😀", "a\"b", "\u{fffd}!"]);
        assert_eq!(all(&whole), all(&trickled));
    }

    #[test]
    fn every_truncation_is_an_error_with_an_offset() {
        for cut in 0..TINY.len() - 1 {
            let err = parse_str(&TINY[..cut]).expect_err("truncated snapshot must fail");
            let offset = err.offset().expect("syntax error");
            assert!(offset <= cut as u64, "offset {offset} past the cut {cut}");
        }
    }

    #[test]
    fn counts_that_disagree_are_errors() {
        let bad = TINY.replace("\"node_count\":3", "\"node_count\":4");
        let err = parse_str(&bad).unwrap_err().to_string();
        assert!(err.contains("node_count"), "{err}");
        let bad = TINY.replace(",1,0,14]", ",1,0,15]");
        let err = parse_str(&bad).unwrap_err().to_string();
        assert!(err.contains("to_node"), "{err}");
    }

    #[test]
    fn garbage_in_numbers_is_an_error_at_its_byte() {
        let bad = TINY.replace("[9,0,1", "[9,x,1");
        let err = parse_str(&bad).unwrap_err();
        assert_eq!(err.offset(), Some(bad.find("x,1").unwrap() as u64));
    }

    /// Options that send even the smallest arrays through the parallel path, in tiny blocks.
    pub(crate) fn tiny_blocks(block_size: usize) -> ParseOptions {
        ParseOptions { workers: 2, parallel_min_values: 0, block_size, keep_ids: true }
    }

    #[test]
    fn ids_can_be_left_out() {
        let options = ParseOptions { keep_ids: false, ..ParseOptions::default() };
        let g = parse_with(TINY.as_bytes(), &options).unwrap();
        assert_eq!(g.node_count(), 3);
        assert_eq!(g.id(2), 0);
        assert_eq!(g.self_size(1), 32);
        assert!(g.heap_bytes() < parse_str(TINY).unwrap().heap_bytes());
    }

    #[test]
    fn the_parallel_path_gives_the_same_graph() {
        let whole = parse_str(TINY).unwrap();
        for block in [1, 2, 3, 5, 8, 64, 4096] {
            let g = parse_with(TINY.as_bytes(), &tiny_blocks(block)).unwrap();
            assert_eq!(whole.ids, g.ids, "block {block}");
            assert_eq!(whole.kinds, g.kinds);
            assert_eq!(whole.first_edge, g.first_edge);
            assert_eq!(whole.edge_targets, g.edge_targets);
            assert_eq!(whole.edge_names, g.edge_names);
            assert_eq!(whole.name(2), g.name(2));
            let trickled = parse_with(Trickle(TINY.as_bytes()), &tiny_blocks(block)).unwrap();
            assert_eq!(whole.edge_targets, trickled.edge_targets);
        }
    }

    /// Names are checked against the strings at the end, only where the largest index is
    /// past them: both paths still name the first bad node or string-named edge, and an
    /// element's index is no string index.
    #[test]
    fn names_past_the_strings_are_errors_on_both_paths() {
        let cases = [
            (TINY.replace(",3,1,3,32", ",3,4,3,32"), Some("node 1 names string 4 of 4")),
            (TINY.replace("[2,3,7", "[2,9,7"), Some("edge 0 names string 9 of 4")),
            (TINY.replace(",1,0,14]", ",1,99,14]"), None),
        ];
        for (text, error) in cases {
            let paths = [1, 3, 16].map(|block| parse_with(text.as_bytes(), &tiny_blocks(block)));
            for got in std::iter::once(parse_str(&text)).chain(paths) {
                match error {
                    Some(error) => assert!(got.unwrap_err().to_string().contains(error)),
                    None => {
                        assert_eq!(got.unwrap().edge_name(1), super::super::EdgeName::Index(99))
                    }
                }
            }
        }
    }

    #[test]
    fn the_parallel_path_reports_the_same_errors() {
        for block in [1, 3, 16] {
            for cut in 0..TINY.len() - 1 {
                let err = parse_with(&TINY.as_bytes()[..cut], &tiny_blocks(block))
                    .expect_err("truncated snapshot must fail");
                let offset = err.offset().expect("syntax error");
                assert!(offset <= cut as u64, "offset {offset} past the cut {cut}");
            }
            let bad = TINY.replace("[9,0,1", "[9,x,1");
            let err = parse_with(bad.as_bytes(), &tiny_blocks(block)).unwrap_err();
            assert_eq!(err.offset(), Some(bad.find("x,1").unwrap() as u64), "block {block}");
            let bad = TINY.replace(",1,0,14]", ",1,0,15]");
            let err = parse_with(bad.as_bytes(), &tiny_blocks(block)).unwrap_err().to_string();
            assert!(err.contains("to_node"), "{err}");
        }
    }

    /// A snapshot of `n` nodes in a chain, written as V8 writes it (a record per line), so
    /// the parallel path's blocks start at records and the workers convert them.
    fn chain(n: usize) -> String {
        chain_with(n, 7)
    }

    /// [`chain`] with `node_fields` (5 or more) values per node record: V8's seven, newer
    /// V8's six, or more than the converters know.
    fn chain_with(n: usize, node_fields: usize) -> String {
        let head = TINY.split("\n\"nodes\"").next().unwrap();
        let head = head.replace("\"node_count\":3", &format!("\"node_count\":{n}"));
        let head = head.replace("\"edge_count\":2", &format!("\"edge_count\":{}", n - 1));
        let names =
            ["type", "name", "id", "self_size", "edge_count", "detachedness", "trace_node_id"];
        let mut fields: Vec<String> = names.iter().map(|f| format!("\"{f}\"")).collect();
        fields.resize_with(node_fields, || "\"extra\"".into());
        let head = head.replace(
            r#""type","name","id","self_size","edge_count","trace_node_id","detachedness""#,
            &fields.join(","),
        );
        let nodes: Vec<String> = (0..n)
            .map(|k| {
                let record = format!(
                    "{},1,{},{},{}",
                    if k == 0 { 9 } else { 3 },
                    2 * k + 1,
                    16 * k,
                    (k + 1 < n) as u8
                );
                record + &",0".repeat(node_fields - 5)
            })
            .collect();
        let edges: Vec<String> = (1..n).map(|k| format!("2,3,{}", node_fields * k)).collect();
        format!(
            "{head}\n\"nodes\":[{}],\n\"edges\":[{}],\n\"strings\":[\"\",\"Task\",\"x\",\"next\"]}}",
            nodes.join("\n,"),
            edges.join("\n,")
        )
    }

    /// The workers' edge conversion, compiled apart for six and seven node fields and for
    /// any other count, reads the same graph and reports the same errors as the sequential
    /// parser, for each.
    #[test]
    fn edges_converted_for_every_node_record_length() {
        for fields in [6, 7, 8, 9] {
            let text = chain_with(300, fields);
            let whole = parse_str(&text).unwrap();
            assert_eq!(whole.edge_target(150), 151, "{fields} fields");
            let edge = |to: usize| format!("\n,2,3,{to}\n");
            let at = edge(fields * 100);
            let broken = [
                text.replacen(&at, &edge(fields * 100 + 1), 1), // not a record's start
                text.replacen(&at, &edge(fields * 300), 1),     // past the last node
                text.replacen(&at, &format!("\n,2,4294967296,{}\n", fields * 100), 1), // name
                text.replacen(&at, &format!("\n,7,3,{}\n", fields * 100), 1), // edge type
            ];
            for block in [16, 100, 4096] {
                let g = parse_with(Trickle(text.as_bytes()), &tiny_blocks(block)).unwrap();
                assert_eq!(whole.edge_targets, g.edge_targets, "{fields} fields, block {block}");
                assert_eq!(whole.edge_names, g.edge_names);
                for (k, bad) in broken.iter().enumerate() {
                    assert_ne!(bad, &text, "{fields} fields, case {k}");
                    let want = parse_str(bad).expect_err(&format!("broken snapshot {k}"));
                    let got = parse_with(Trickle(bad.as_bytes()), &tiny_blocks(block)).unwrap_err();
                    assert_eq!(got.to_string(), want.to_string(), "{fields} fields, block {block}");
                    assert_eq!(got.offset(), want.offset(), "block {block}: {want}");
                }
            }
        }
    }

    #[test]
    fn records_converted_on_the_workers_give_the_same_graph_and_errors() {
        let text = chain(300);
        let whole = parse_str(&text).unwrap();
        let broken = [
            text.replacen("\n,3,1,", "\n,77,1,", 150), // node type out of range
            text.replacen(",1,599,", ",99999999999,599,", 1), // node name index too large
            text.replacen(",299,", ",4294967296,", 1), // node id too large
            text.replace("\"node_count\":300", "\"node_count\":200"), // more nodes
            text.replace("\"edge_count\":299", "\"edge_count\":250"), // more edges
            text.replacen("\n,2,3,700", "\n,2,3,701", 1), // to_node not a node
            text.replacen("\n,2,3,700", "\n,9,3,700", 1), // edge type out of range
            text.replacen(",1,0,0\n,3,1,101,", ",4294967295,0,0\n,3,1,101,", 1), // overflow
        ];
        for block in [16, 64, 100, 4096] {
            // Read a byte at a time, so the blocks are cut from the text as it comes rather
            // than from the scanner's buffer, which holds the whole of a small snapshot.
            let g = parse_with(Trickle(text.as_bytes()), &tiny_blocks(block)).unwrap();
            assert_eq!(whole.kinds, g.kinds, "block {block}");
            assert_eq!(whole.names, g.names);
            assert_eq!(whole.ids, g.ids);
            assert_eq!(whole.first_edge, g.first_edge);
            assert_eq!(whole.edge_targets, g.edge_targets);
            assert_eq!(whole.edge_names, g.edge_names);
            assert_eq!(
                (0..300).map(|n| whole.self_size(n)).sum::<u64>(),
                (0..300).map(|n| g.self_size(n)).sum::<u64>()
            );
            for (k, bad) in broken.iter().enumerate() {
                assert_ne!(bad, &text);
                let want = parse_str(bad).expect_err(&format!("broken snapshot {k}"));
                let got = parse_with(Trickle(bad.as_bytes()), &tiny_blocks(block)).unwrap_err();
                assert_eq!(got.to_string(), want.to_string(), "block {block}");
                assert_eq!(got.offset(), want.offset(), "block {block}: {want}");
            }
        }
    }

    #[test]
    fn eight_digits_reads_leading_digits() {
        assert_eq!(eight_digits(b"12345678"), (12_345_678, 8));
        assert_eq!(eight_digits(b"0,1,2,3,"), (0, 1));
        assert_eq!(eight_digits(b"907\n,3,4"), (907, 3));
        assert_eq!(eight_digits(b",1234567"), (0, 0));
        assert_eq!(eight_digits(b"9999999]"), (9_999_999, 7));
        for v in [0u64, 7, 42, 1000, 65535, 1_048_576, 99_999_999] {
            let mut text = v.to_string().into_bytes();
            text.resize(8, b',');
            assert_eq!(eight_digits(&text), (v, v.to_string().len()), "{v}");
        }
    }

    #[test]
    fn long_numbers_and_odd_spacing_parse_the_same() {
        let spaced = TINY.replace("[9,0,1,0,1,0,0", "[ 9 , 0 ,\t1,  0,1,0,0 ");
        let g = parse_str(&spaced).unwrap();
        assert_eq!(g.id(0), 1);
        let big = TINY.replace(",3,1,3,32,", ",3,1,3,0000000000000000032,");
        assert_eq!(parse_str(&big).unwrap().self_size(1), 32);
    }

    #[test]
    fn six_field_layout_of_newer_v8_is_read_from_meta() {
        let six = TINY
            .replace(
                r#""edge_count","trace_node_id","detachedness"]"#,
                r#""edge_count","detachedness"]"#,
            )
            .replace(
                "[9,0,1,0,1,0,0\n,3,1,3,32,1,0,0\n,2,2,5,16,0,0,0]",
                "[9,0,1,0,1,0,3,1,3,32,1,0,2,2,5,16,0,0]",
            )
            .replace("[2,3,7\n,1,0,14]", "[2,3,6,1,0,12]");
        let g = parse_str(&six).unwrap();
        assert_eq!(g.edge_target(0), 1);
        assert_eq!(g.edge_target(1), 2);
        assert_eq!(g.self_size(1), 32);
    }
}
