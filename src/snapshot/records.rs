//! The `nodes` and `edges` records into the graph's columns, with their checks.
//!
//! Each record is checked and converted by one function ([`NodeFormat::node`],
//! [`EdgeFormat::edge`]) used two ways: record by record on the reading thread ([`Sink::record`])
//! and, in the parallel path, a block of whole records at a time on the workers
//! ([`Convert::convert`]), after which the reading thread only appends the batch and checks
//! what spans blocks (the record count, the running edge total). While the reading thread did
//! this work itself it set the pace of parsing (see docs/speed.md). Both ways give the same
//! graph and the same errors: a block whose batch cannot be appended goes record by record.

use super::graph::{EdgeKind, EdgeNamesEncoder, HeapGraph, NodeKind};
use super::prefault::{Ahead, Ranges};
use super::sink::{Convert, Sink};

/// Where the fields of a node record are, and what its type numbers mean.
pub(super) struct NodeFormat {
    /// Values per record.
    pub(super) fields: usize,
    pub(super) type_at: usize,
    pub(super) name_at: usize,
    pub(super) id_at: usize,
    pub(super) size_at: usize,
    pub(super) edges_at: usize,
    pub(super) kinds: Vec<NodeKind>,
    pub(super) keep_ids: bool,
}

/// One node record, checked.
struct Node {
    kind: NodeKind,
    name: u32,
    id: u32,
    size: u64,
    edges: u64,
}

impl NodeFormat {
    #[inline(always)]
    fn node(&self, r: &[u64]) -> Result<Node, &'static str> {
        let kind = *self.kinds.get(r[self.type_at] as usize).ok_or("node type out of range")?;
        let name = u32::try_from(r[self.name_at]).map_err(|_| "node name index too large")?;
        let id = u32::try_from(r[self.id_at]).map_err(|_| "node id too large")?;
        Ok(Node { kind, name, id, size: r[self.size_at], edges: r[self.edges_at] })
    }
}

/// A block's records as columns of `u32` in one allocation, each column `capacity` long.
///
/// One allocation, not one per column: with the default blocks it is over 1 MiB, which the
/// binary's allocator maps and unmaps (see `main.rs`), so the batches are given back when an
/// array is read. Columns allocated apart came from the heap and left 3 MB resident through
/// the analysis of a 214 MB snapshot.
pub(super) struct Columns<const N: usize> {
    data: Vec<u32>,
    capacity: usize,
    len: usize,
}

impl<const N: usize> Columns<N> {
    fn new(capacity: usize) -> Self {
        Columns { data: vec![0; N * capacity], capacity, len: 0 }
    }

    /// Appends a row; false when the batch is full (a block longer than expected), which
    /// sends the block record by record instead.
    #[inline(always)]
    fn push(&mut self, row: [u32; N]) -> bool {
        if self.len == self.capacity {
            return false;
        }
        for (column, value) in row.into_iter().enumerate() {
            self.data[column * self.capacity + self.len] = value;
        }
        self.len += 1;
        true
    }

    fn column(&self, column: usize) -> &[u32] {
        &self.data[column * self.capacity..][..self.len]
    }
}

/// A block's nodes, converted on a worker: type number, name, id, self size, edge count.
pub(super) struct NodeBatch {
    columns: Columns<5>,
    /// The sum of the edge counts.
    edge_sum: u64,
    /// The largest name index.
    max_name: u32,
}

impl Convert for NodeFormat {
    type Batch = NodeBatch;

    fn batch(&self, records: usize) -> NodeBatch {
        NodeBatch { columns: Columns::new(records), edge_sum: 0, max_name: 0 }
    }

    fn convert(&self, values: &[u64], b: &mut NodeBatch) -> bool {
        b.columns.len = 0;
        let mut edge_sum = 0u64;
        let mut max_name = 0;
        for r in values.chunks_exact(self.fields) {
            let Ok(node) = self.node(r) else { return false };
            // A count past u32 overflows the running total anyway, and no object of a real
            // heap is 4 GiB: the record path takes those.
            let (Ok(edges), Ok(size)) = (u32::try_from(node.edges), u32::try_from(node.size))
            else {
                return false;
            };
            let kind = r[self.type_at] as u32; // checked by `node`
            if !b.columns.push([kind, node.name, node.id, size, edges]) {
                return false;
            }
            edge_sum += edges as u64;
            max_name = max_name.max(node.name);
        }
        b.edge_sum = edge_sum;
        b.max_name = max_name;
        true
    }
}

/// Appends nodes to the graph, counting them and their edges.
pub(super) struct NodeSink<'a> {
    pub(super) format: &'a NodeFormat,
    pub(super) graph: &'a mut HeapGraph,
    /// `snapshot.node_count`: no more nodes are taken.
    pub(super) node_count: u64,
    pub(super) nodes_seen: u64,
    /// The edges of the nodes so far, which is where the next node's edges start.
    pub(super) edge_total: u64,
    /// The largest name index so far: the names are checked against the strings, which come
    /// last, only if it is past them (see [`EdgeSink::max_name`]).
    pub(super) max_name: u32,
    /// How far ahead of the appends the columns' pages were asked for.
    pub(super) ahead: Ahead,
}

impl<'a> NodeSink<'a> {
    /// A sink for `node_count` nodes into `graph`'s columns.
    pub(super) fn new(format: &'a NodeFormat, graph: &'a mut HeapGraph, node_count: u64) -> Self {
        let (nodes_seen, edge_total, max_name) = (0, 0, 0);
        NodeSink {
            format,
            graph,
            node_count,
            nodes_seen,
            edge_total,
            max_name,
            ahead: Ahead::default(),
        }
    }
}

impl<'a> Sink for NodeSink<'a> {
    type Converter = &'a NodeFormat;

    fn converter(&self) -> &'a NodeFormat {
        self.format
    }

    #[inline(always)]
    fn record(&mut self, r: &[u64]) -> Result<(), &'static str> {
        if self.nodes_seen >= self.node_count {
            return Err("more nodes than snapshot.node_count");
        }
        self.nodes_seen += 1;
        let node = self.format.node(r)?;
        let g = &mut *self.graph;
        g.kinds.push(node.kind);
        g.names.push(node.name);
        self.max_name = self.max_name.max(node.name);
        if self.format.keep_ids {
            g.ids.push(node.id);
        }
        g.self_sizes.push(node.size);
        self.edge_total += node.edges;
        if self.edge_total > u32::MAX as u64 {
            return Err("edge counts overflow");
        }
        g.first_edge.push(self.edge_total as u32);
        Ok(())
    }

    fn append(&mut self, b: &NodeBatch) -> bool {
        let n = b.columns.len as u64;
        if self.nodes_seen + n > self.node_count || self.edge_total + b.edge_sum > u32::MAX as u64 {
            return false;
        }
        self.nodes_seen += n;
        self.max_name = self.max_name.max(b.max_name);
        let g = &mut *self.graph;
        let kinds = &self.format.kinds;
        g.kinds.extend(b.columns.column(0).iter().map(|&kind| kinds[kind as usize]));
        g.names.extend_from_slice(b.columns.column(1));
        if self.format.keep_ids {
            g.ids.extend_from_slice(b.columns.column(2));
        }
        g.self_sizes.extend(b.columns.column(3));
        let mut total = self.edge_total as u32;
        g.first_edge.extend(b.columns.column(4).iter().map(|&count| {
            total += count;
            total
        }));
        self.edge_total = total as u64;
        true
    }

    fn ahead(&mut self, out: &mut Ranges) {
        let g = &*self.graph;
        self.ahead.column(0, &g.kinds, out);
        self.ahead.column(1, &g.names, out);
        self.ahead.column(2, &g.ids, out);
        self.ahead.column(3, g.self_sizes.small_column(), out);
        self.ahead.column(4, &g.first_edge, out);
    }
}

/// Where the fields of an edge record are, what its type numbers mean, and what a `to_node`
/// may be.
pub(super) struct EdgeFormat {
    /// Values per record.
    pub(super) fields: usize,
    pub(super) type_at: usize,
    pub(super) name_at: usize,
    pub(super) to_at: usize,
    pub(super) kinds: Vec<EdgeKind>,
    /// Values per node record: `to_node` is a multiple of it.
    pub(super) node_fields: u64,
    pub(super) node_count: u64,
}

impl EdgeFormat {
    /// The edge's target packed with its kind, and its name.
    #[inline(always)]
    fn edge(&self, r: &[u64]) -> Result<(u32, u32), &'static str> {
        let kind = *self.kinds.get(r[self.type_at] as usize).ok_or("edge type out of range")?;
        let name = u32::try_from(r[self.name_at]).map_err(|_| "edge name index too large")?;
        let target = match exact_div(r[self.to_at], self.node_fields) {
            Some(ordinal) if ordinal < self.node_count => ordinal as u32,
            _ => return Err("edge to_node is not a node"),
        };
        Ok((HeapGraph::pack_target(kind, target), name))
    }
}

/// `v / n` when `v` is a multiple of `n`, else `None`. The field counts V8 writes (6 and 7
/// node fields) get constant divisors, which compile to multiplications: a division per edge
/// was a measurable share of parse time.
#[inline(always)]
pub(super) fn exact_div(v: u64, n: u64) -> Option<u64> {
    let q = match n {
        6 => v / 6,
        7 => v / 7,
        n => v / n,
    };
    (q * n == v).then_some(q)
}

/// A block's edges, converted on a worker: target packed with the kind, name; and the
/// largest name that is a string index (see [`EdgeSink::max_name`]).
pub(super) struct EdgeBatch(Columns<2>, u32);

impl Convert for EdgeFormat {
    type Batch = EdgeBatch;

    fn batch(&self, records: usize) -> EdgeBatch {
        EdgeBatch(Columns::new(records), 0)
    }

    fn convert(&self, values: &[u64], b: &mut EdgeBatch) -> bool {
        match self.node_fields {
            6 => self.convert_by::<6>(values, b),
            7 => self.convert_by::<7>(values, b),
            _ => self.convert_by::<0>(values, b),
        }
    }
}

impl EdgeFormat {
    /// [`Convert::convert`] with the divisor of `to_node` known when compiled (`F`, or the
    /// header's when 0), in one loop without early exits: every edge's checks are combined
    /// and looked at once, at the end. (Checked and pushed one by one, with a return per
    /// check, converting took 6 ns per edge, a twentieth of a parse.)
    #[inline(always)]
    fn convert_by<const F: u64>(&self, values: &[u64], b: &mut EdgeBatch) -> bool {
        let records = values.len() / self.fields;
        let columns = &mut b.0;
        columns.len = 0;
        if records > columns.capacity || self.kinds.len() > KIND_CODES {
            return false;
        }
        let node_fields = if F == 0 { self.node_fields } else { F };
        // The kind's bits of a packed target, by type number (past the known ones: checked),
        // and a mask that keeps the names that are string indices.
        let mut codes = [0u32; KIND_CODES];
        let mut string_names = [0u32; KIND_CODES];
        for ((code, keep), &kind) in codes.iter_mut().zip(&mut string_names).zip(&self.kinds) {
            *code = HeapGraph::pack_target(kind, 0);
            *keep = if kind.has_index_name() { 0 } else { u32::MAX };
        }
        let (targets, names) = columns.data.split_at_mut(columns.capacity);
        let rows = values.chunks_exact(self.fields).zip(&mut targets[..records]);
        let mut ok = true;
        let mut max_name = 0;
        for ((r, target), name) in rows.zip(&mut names[..records]) {
            let (kind, to) = (r[self.type_at], r[self.to_at]);
            let ordinal = to / node_fields;
            ok &= (kind < self.kinds.len() as u64)
                & (r[self.name_at] <= u32::MAX as u64)
                & (ordinal * node_fields == to)
                & (ordinal < self.node_count);
            *target = codes[kind as usize % KIND_CODES] | ordinal as u32;
            *name = r[self.name_at] as u32;
            max_name = max_name.max(*name & string_names[kind as usize % KIND_CODES]);
        }
        columns.len = records;
        b.1 = max_name;
        ok
    }
}

/// Edge type numbers the batch conversion knows (V8 has 7); a header with more goes edge
/// by edge.
const KIND_CODES: usize = 16;

/// Appends edges to the graph, their names through the names' encoder (whose codes are
/// given in the order names first appear, so on this thread).
pub(super) struct EdgeSink<'a> {
    pub(super) format: &'a EdgeFormat,
    pub(super) targets: &'a mut Vec<u32>,
    pub(super) names: &'a mut EdgeNamesEncoder,
    /// `snapshot.edge_count`: no more edges are taken.
    pub(super) edge_count: u64,
    pub(super) edges_seen: u64,
    /// The largest name so far of an edge whose name is a string index. The strings come
    /// last, so the names are checked against them at the end; with this, only when one is
    /// past them (a look at every edge name took 0.03 s of a 300 MB snapshot's parse, on the
    /// reading thread).
    pub(super) max_name: u32,
    /// How far ahead of the appends the columns' pages were asked for.
    pub(super) ahead: Ahead,
}

impl<'a> EdgeSink<'a> {
    /// A sink for `edge_count` edges into the graph's targets and the names' encoder.
    pub(super) fn new(
        format: &'a EdgeFormat,
        targets: &'a mut Vec<u32>,
        names: &'a mut EdgeNamesEncoder,
        edge_count: u64,
    ) -> Self {
        let (edges_seen, max_name) = (0, 0);
        EdgeSink {
            format,
            targets,
            names,
            edge_count,
            edges_seen,
            max_name,
            ahead: Ahead::default(),
        }
    }
}

impl<'a> Sink for EdgeSink<'a> {
    type Converter = &'a EdgeFormat;

    fn converter(&self) -> &'a EdgeFormat {
        self.format
    }

    #[inline(always)]
    fn record(&mut self, r: &[u64]) -> Result<(), &'static str> {
        if self.edges_seen >= self.edge_count {
            return Err("more edges than snapshot.edge_count");
        }
        self.edges_seen += 1;
        let (target, name) = self.format.edge(r)?;
        self.targets.push(target);
        self.names.push(name);
        if !self.format.kinds[r[self.format.type_at] as usize].has_index_name() {
            self.max_name = self.max_name.max(name);
        }
        Ok(())
    }

    fn append(&mut self, b: &EdgeBatch) -> bool {
        let n = b.0.len as u64;
        if self.edges_seen + n > self.edge_count {
            return false;
        }
        self.edges_seen += n;
        self.max_name = self.max_name.max(b.1);
        self.targets.extend_from_slice(b.0.column(0));
        for &name in b.0.column(1) {
            self.names.push(name);
        }
        true
    }

    fn ahead(&mut self, out: &mut Ranges) {
        self.ahead.column(0, self.targets, out);
        self.ahead.column(1, self.names.codes_column(), out);
    }
}
