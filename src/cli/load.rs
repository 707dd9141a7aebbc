//! Loading snapshot files for the commands: parse with a progress bar on a terminal, analyse,
//! and for `diff` reduce every snapshot but the last to a digest, parsing the next file while
//! analysing one.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::CliError;
use crate::analysis::compare::{Basis, Comparer, Digest};
use crate::analysis::runtime::DataRetained;
use crate::analysis::{self, Analysis, ClassIndex, Spare};
use crate::snapshot::{self, HeapGraph};

/// One snapshot, parsed and fully analysed.
pub struct Loaded {
    pub graph: HeapGraph,
    pub analysis: Analysis,
}

/// Reads and fully analyses one snapshot file. `keep_ids`: comparing snapshots needs the node
/// ids, a summary does not (4 bytes per node saved).
pub fn analyse(path: &Path, keep_ids: bool) -> Result<Loaded, CliError> {
    let graph = read(path, &snapshot::ParseOptions { keep_ids, ..Default::default() })?;
    let analysis = analysis::analyse(&graph);
    Ok(Loaded { graph, analysis })
}

fn read(path: &Path, options: &snapshot::ParseOptions) -> Result<HeapGraph, CliError> {
    let what = || format!("could not read snapshot `{}`", path.display());
    if path.is_dir() {
        return Err(CliError::new(what(), "it is a directory"));
    }
    let file = File::open(path).map_err(|e| CliError::new(what(), e))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("reading {}", path.display()));
    let result =
        snapshot::parse_with(bar.wrap_read(BufReader::with_capacity(1 << 16, file)), options);
    bar.finish_and_clear();
    result.map_err(|e| CliError::new(what(), e))
}

/// Short, unique labels for files: their names, or their paths when names collide.
pub fn labels(files: &[PathBuf]) -> Vec<String> {
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.file_name().map_or_else(|| f.display().to_string(), |n| n.to_string_lossy().into())
        })
        .collect();
    let unique = names.iter().collect::<std::collections::HashSet<_>>().len() == names.len();
    if unique { names } else { files.iter().map(|f| f.display().to_string()).collect() }
}

/// Digests of every file in order, plus the full analysis of the last one. A second thread
/// parses the files one after the other (each parse tokenises on both cores) while this one
/// analyses the file before, so at most two graphs are alive: the one analysed, whose edges
/// are dropped once its dominator tree is built, and the next one, still growing. The
/// handover is a rendezvous: the parser starts a file only once the one before is taken.
/// (Reading two files at once, then analysing both, held two whole graphs and their
/// dominator temporaries at the same time: 430 MiB at peak for three 305 MB snapshots, 291
/// MiB this way.)
pub fn digests(files: &[PathBuf], labels: &[String]) -> Result<(Vec<Digest>, Loaded), CliError> {
    let (parsed, graphs) = std::sync::mpsc::sync_channel::<Result<HeapGraph, CliError>>(0);
    std::thread::scope(|scope| {
        // Dropped when this closure returns or unwinds, before the scope waits for the parser,
        // which then stops at its next handover.
        let graphs = graphs;
        std::thread::Builder::new()
            .name("parse".into())
            .spawn_scoped(scope, move || {
                // Each block in flight holds its text, its values (8 bytes each, up to 4
                // bytes per byte of text) and its records: parsing a 305 MB snapshot beside
                // another's analysis, the default 1 MiB blocks peaked 41 MiB above the
                // finished graph, 256 KiB blocks 15 MiB, in the same time. (A summary keeps
                // the default: its blocks are then mapped and unmapped, not left in the heap.)
                let options = snapshot::ParseOptions { block_size: 1 << 18, ..Default::default() };
                for file in files {
                    let graph = read(file, &options);
                    let failed = graph.is_err();
                    // A closed channel means the analysis stopped at an error.
                    if parsed.send(graph).is_err() || failed {
                        break;
                    }
                }
            })
            .map_err(|e| CliError::new("could not start the thread that parses snapshots", e))?;
        let mut digests: Vec<Digest> = Vec::with_capacity(files.len());
        let last = files.len() - 1;
        // Node-sized buffers each analysis leaves to the next: as many as the next takes as
        // it starts, so none waits, resident and unused, through its peak.
        let mut spare = Spare::new();
        for (i, graph) in graphs.iter().enumerate() {
            let graph = graph?;
            // The largest ids of the first and the previous snapshot, from their digests.
            let basis = Basis {
                previous_max_id: digests.last().map(Digest::max_id),
                baseline_max_id: digests.first().map(Digest::max_id),
            };
            let label = labels[i].clone();
            if i != last {
                let digest = |g: &HeapGraph, c: &ClassIndex, d: &DataRetained| {
                    let mut digest = Digest::from_data(label, g, c, d, basis);
                    digest.forget_nodes();
                    digest
                };
                digests.push(analysis::analyse_for_digest(graph, &mut spare, digest));
                spare.keep(if i + 1 == last {
                    analysis::LAST_TAKES
                } else {
                    analysis::DIGEST_TAKES
                });
                continue;
            }
            // Only the last snapshot is explained, so only it needs paths.
            let (analysis, digest) =
                analysis::analyse_last_for_comparison(&graph, label, basis, &mut spare);
            digests.push(digest);
            return Ok((digests, Loaded { graph, analysis }));
        }
        unreachable!("the parser sends every file unless one failed, which returns above")
    })
}

/// Node ids are only stable within one inspector session. Snapshots of unrelated processes
/// share few ids, and two runs of the same program share many id numbers (V8 numbers objects
/// in allocation order) but not the objects behind them: comparing either would report noise.
pub fn check_same_session(comparer: &Comparer) -> Result<(), CliError> {
    for (label, shared, same_class) in comparer.shared_id_fractions() {
        let why = if shared < 0.2 {
            format!(
                "only {:.0}% of the earlier snapshot's object ids are found in it",
                shared * 100.0
            )
        } else if same_class < 0.8 {
            format!(
                "{:.0}% of the object ids it shares with the earlier snapshot belong to objects of another class",
                (1.0 - same_class) * 100.0
            )
        } else {
            continue;
        };
        return Err(CliError::with_causes(
            format!("`{label}` does not look like the same process as the snapshot before it"),
            vec![
                why,
                "objects are matched by id, and ids are stable only across snapshots of one process taken in one inspector session".into(),
            ],
        ));
    }
    Ok(())
}
