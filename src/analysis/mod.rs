//! Analysis of heap graphs: class keys, dominators, retained sizes, retainer paths, and the
//! comparison of snapshots of one process. Synchronous and pure.
//!
//! [`analyse`] computes everything one snapshot needs, once, in an order that keeps the
//! extra memory near 18 bytes per node at peak (16 once done): class keys, alongside the
//! dominator tree, then retained sizes per node and per class, then distances.

pub mod allocations;
mod by_id;
mod callbacks;
pub mod classes;
pub mod compare;
mod digest;
pub mod dominators;
mod explain;
pub mod growth;
pub mod idle;
pub mod noise;
pub mod paths;
mod retained;
mod retaining;
pub mod runtime;
pub mod sizing;
mod spare;
pub mod stopped;
pub mod summary;

pub use callbacks::callback;
pub use classes::{ClassId, ClassIndex, MAX_SHAPE_PROPERTIES};
pub use dominators::Dominators;
pub use explain::listener_table;
pub use paths::{RetainerPath, RetainerStep, SYSTEM_DISTANCE, ShortestPaths};
pub use spare::Spare;
pub use summary::{ClassStats, HeapSummary, Statistics};

use crate::snapshot::{HeapGraph, NodeIndex};
use runtime::DataRetained;

/// Everything computed for one snapshot.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// The class key of every node.
    pub classes: ClassIndex,
    /// Dominator tree and retained sizes.
    pub dominators: Dominators,
    /// Shortest paths from the roots, for distances and retainer paths.
    pub paths: ShortestPaths,
    /// Aggregates per class, indexed by [`ClassId`].
    pub class_stats: Vec<ClassStats>,
    /// Heap totals.
    pub statistics: Statistics,
}

impl Analysis {
    /// The retainer path of a node, at most `max_steps` steps long.
    pub fn retainer_path(
        &self,
        graph: &HeapGraph,
        node: crate::snapshot::NodeIndex,
        max_steps: usize,
    ) -> RetainerPath {
        self.paths.retainer_path(graph, &self.classes, node, max_steps)
    }

    /// Bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.classes.heap_bytes() + self.dominators.heap_bytes() + self.paths.heap_bytes()
    }
}

/// Analyses one snapshot: classes, dominators, retained sizes, distances, aggregates.
///
/// ```
/// use leakcheck::analysis::analyse;
/// use leakcheck::snapshot::{EdgeKind, GraphBuilder, NodeKind};
/// let mut b = GraphBuilder::new();
/// let root = b.node(NodeKind::Synthetic, "", 1, 0);
/// let global = b.node(NodeKind::Object, "global", 3, 16);
/// let list = b.node(NodeKind::Object, "Array", 5, 16);
/// b.edge(root, EdgeKind::Shortcut, "1", global);
/// b.edge(global, EdgeKind::Property, "tasks", list);
/// let graph = b.build();
/// let a = analyse(&graph);
/// assert_eq!(a.statistics.total, 32);
/// assert_eq!(a.retainer_path(&graph, list, 8).to_string(), "tasks in global @3 <- (global)");
/// ```
pub fn analyse(graph: &HeapGraph) -> Analysis {
    // The class keys and then the distances are found on a second thread while the dominator
    // tree is built, the longest step, on this one. Both are kept, so the cost in memory is
    // that the distances' 4-byte parent per node is held beside the tree's temporaries (12
    // bytes per node) rather than after them: 11 MB more at peak on a 214 MB snapshot of 2.7M
    // nodes, for a third less time in the analysis (see docs/speed.md). Without a thread to
    // spare (a failed spawn), one after the other.
    let ((classes, (paths, min_distance)), tree) = beside(
        "classes, distances",
        || {
            let classes = ClassIndex::build(graph);
            let distances = distances(graph, &classes);
            (classes, distances)
        },
        || dominators::Tree::build(graph),
    );
    let (dominators, retained) = tree.finish(graph, Some(&classes));
    let class_stats = summary::class_stats(graph, &classes, retained, &min_distance);
    let statistics = summary::statistics(graph, &dominators, &paths);
    Analysis { classes, dominators, paths, class_stats, statistics }
}

/// The shortest paths from the roots, and the smallest distance of any node with a size in
/// each class.
fn distances(graph: &HeapGraph, classes: &ClassIndex) -> (ShortestPaths, Vec<u32>) {
    let mut min_distance = vec![u32::MAX; classes.len()];
    let paths = ShortestPaths::compute_with(graph, |node, distance| {
        if graph.self_size(node) > 0 {
            let d = &mut min_distance[classes.class_of(node) as usize];
            *d = (*d).min(distance);
        }
    });
    (paths, min_distance)
}

/// Class keys and the dominator tree, for a comparison's earlier snapshots. The class keys are
/// built on a second thread while the tree is: they are needed anyway, so this adds no memory
/// at peak. Without a thread to spare (a failed spawn), one after the other.
fn classes_and_tree(graph: &HeapGraph, spare: &mut Spare) -> (ClassIndex, dominators::Tree) {
    let buffer = buffer_for_another_thread(spare.take(graph.node_count()));
    let classes = || ClassIndex::build_in(graph, buffer());
    beside("class keys", classes, || dominators::Tree::build_in(graph, spare))
}

/// A buffer for a closure that [`beside`] may run on another thread (it is `Fn`, so the
/// buffer is moved out of a lock, once).
fn buffer_for_another_thread(buffer: Vec<u32>) -> impl Fn() -> Vec<u32> + Sync {
    let buffer = std::sync::Mutex::new(buffer);
    move || std::mem::take(&mut *buffer.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Runs `second` on a thread named `name` while `here` runs on this one, and returns both
/// results. Without a thread to spare (a failed spawn), `second` runs after `here`, which is
/// why it is `Fn`. A panic on the second thread is resumed on this one.
fn beside<A: Send, B>(
    name: &str,
    second: impl Fn() -> A + Sync,
    here: impl FnOnce() -> B,
) -> (A, B) {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new().name(name.into()).spawn_scoped(scope, &second);
        let b = here();
        let a = match worker {
            Ok(worker) => worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => second(),
        };
        (a, b)
    })
}

/// What comparing snapshots needs of an earlier one (not the last): class keys and the
/// retained sizes of program data, handed with the graph to `digest` (typically
/// [`compare::Digest::from_data`]). Consumes the graph: its edges are dropped once the
/// dominator tree and the class keys are built, and the tree once the sizes are summed, so
/// the digest is made beside the nodes only (on a 305 MB snapshot, 53 MiB of edge targets
/// and 27 MiB of edge names fewer while it is).
///
/// ```
/// use leakcheck::analysis::{Spare, analyse_for_digest};
/// use leakcheck::snapshot::{EdgeKind, GraphBuilder, NodeKind};
/// let mut b = GraphBuilder::new();
/// let root = b.node(NodeKind::Synthetic, "", 1, 0);
/// let list = b.node(NodeKind::Object, "Array", 3, 16);
/// b.edge(root, EdgeKind::Property, "tasks", list);
/// let mut spare = Spare::new();
/// let (edges, retained) = analyse_for_digest(b.build(), &mut spare, |graph, _, data| {
///     (graph.edge_count(), data.get(root))
/// });
/// assert_eq!((edges, retained), (0, 16));
/// ```
///
/// Its node-sized buffers go to `spare` at the end, for the next snapshot's analysis (see
/// [`Spare`]), and it takes its own from there.
pub fn analyse_for_digest<T>(
    mut graph: HeapGraph,
    spare: &mut Spare,
    digest: impl FnOnce(&HeapGraph, &ClassIndex, &DataRetained) -> T,
) -> T {
    let (classes, tree) = classes_and_tree(&graph, spare);
    spare.give(graph.forget_edges());
    let data = tree.data_retained(&graph, spare);
    let result = digest(&graph, &classes, &data);
    spare.give(data.into_buffer());
    spare.give(classes.into_buffer());
    spare.give_graph(graph);
    result
}

/// How many spare buffers [`analyse_for_digest`] takes as it starts (the class keys' and the
/// dominator tree's): keep no more for it (see [`Spare::keep`]).
pub const DIGEST_TAKES: usize = 4;
/// How many spare buffers [`analyse_last_for_comparison`] takes before its memory peaks (the
/// class keys', the shortest paths', the dominator tree's and the two sums').
pub const LAST_TAKES: usize = 7;

/// What comparing snapshots needs of the last one: class keys, dominators and retained sizes,
/// and shortest paths for the retainer paths, without a summary's per-class aggregates and heap
/// statistics (its [`Analysis::class_stats`] stays empty and its [`Analysis::statistics`] zero),
/// with its [`compare::Digest`] (what [`compare::Digest::from_data`] makes of it).
///
/// Made where it costs the least time, at the end of `diff`, where nothing else runs: as in
/// [`analyse`], the class keys and then the distances are found on a second thread while the
/// dominator tree is built on this one; the digest's counts need only the class keys, so they
/// are made in two halves, by whichever thread is free first, and the list of retained sizes,
/// which waits for the sums, is listed in two halves on two threads.
///
/// ```
/// use leakcheck::analysis::{Spare, analyse, analyse_last_for_comparison};
/// use leakcheck::analysis::compare::{Basis, Digest};
/// use leakcheck::snapshot::{EdgeKind, GraphBuilder, NodeKind};
/// let mut b = GraphBuilder::new();
/// let root = b.node(NodeKind::Synthetic, "", 1, 0);
/// let global = b.node(NodeKind::Object, "global", 3, 16);
/// let list = b.node(NodeKind::Object, "Array", 5, 16);
/// b.edge(root, EdgeKind::Shortcut, "1", global);
/// b.edge(global, EdgeKind::Property, "tasks", list);
/// let graph = b.build();
/// let mut spare = Spare::new();
/// let (analysis, digest) = analyse_last_for_comparison(&graph, "s2", Basis::default(), &mut spare);
/// assert_eq!((digest.label(), digest.node_count()), ("s2", 3));
/// assert_eq!(analysis.dominators.retained_size(root), 32);
/// assert_eq!(
///     analysis.retainer_path(&graph, list, 8).to_string(),
///     analyse(&graph).retainer_path(&graph, list, 8).to_string()
/// );
/// ```
pub fn analyse_last_for_comparison(
    graph: &HeapGraph,
    label: impl Into<String>,
    basis: compare::Basis,
    spare: &mut Spare,
) -> (Analysis, compare::Digest) {
    let label: String = label.into();
    let n = graph.node_count();
    let (for_classes, for_paths) =
        (buffer_for_another_thread(spare.take(n)), buffer_for_another_thread(spare.take(n)));
    // The digest's counts need only the class keys. The second thread counts the second half
    // of the nodes after the distances, and the first half goes to whichever thread is free
    // first once the class keys are built: the tree and the class keys with the distances
    // take about as long (0.13-0.22 s and 0.15-0.19 s on a 305 MB snapshot).
    let mid = (n / 2) as NodeIndex;
    let classes = std::sync::OnceLock::new();
    let first_half_taken = std::sync::atomic::AtomicBool::new(false);
    let take_first_half = || !first_half_taken.swap(true, std::sync::atomic::Ordering::AcqRel);
    let count = |classes: &ClassIndex, nodes: std::ops::Range<NodeIndex>| {
        compare::Digest::count_nodes(label.clone(), graph, classes, basis, nodes)
    };
    let ((paths, second_half, first_there), (tree, first_here)) = beside(
        "classes, distances",
        || {
            let built = classes.get_or_init(|| ClassIndex::build_in(graph, for_classes()));
            let paths = ShortestPaths::compute_in(graph, for_paths(), |_, _| {});
            let second_half = count(built, mid..n as NodeIndex);
            let first_half = take_first_half().then(|| count(built, 0..mid));
            (paths, second_half, first_half)
        },
        || {
            let tree = dominators::Tree::build_in(graph, spare);
            let first_half = match classes.get() {
                Some(built) if take_first_half() => Some(count(built, 0..mid)),
                _ => None,
            };
            (tree, first_half)
        },
    );
    let first_half = first_here.or(first_there).expect("one thread counts the first half");
    let classes = classes.into_inner().expect("built on the second thread");
    let mut digest = first_half.add_counts(second_half).counted(&classes);
    let (dominators, data) = tree.finish_with_data_in(graph, spare);
    digest.add_retained(graph, &data);
    (Analysis { classes, dominators, paths, ..Analysis::default() }, digest)
}
