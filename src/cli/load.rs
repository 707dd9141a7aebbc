//! Loading snapshot files for the commands: parse with a progress bar on a terminal, analyse,
//! and for `diff` reduce every snapshot but the last to a digest, two files at a time.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::CliError;
use crate::analysis::compare::{Basis, Comparer, Digest, max_object_id};
use crate::analysis::{self, Analysis, ClassIndex, Dominators};
use crate::snapshot::{self, HeapGraph};

/// One snapshot, parsed and fully analysed.
pub struct Loaded {
    pub graph: HeapGraph,
    pub analysis: Analysis,
}

/// Reads and fully analyses one snapshot file. `keep_ids`: comparing snapshots needs the node
/// ids, a summary does not (4 bytes per node saved).
pub fn analyse(path: &Path, keep_ids: bool) -> Result<Loaded, CliError> {
    let graph = read(path, keep_ids)?;
    let analysis = analysis::analyse(&graph);
    Ok(Loaded { graph, analysis })
}

fn read(path: &Path, keep_ids: bool) -> Result<HeapGraph, CliError> {
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
    let options = snapshot::ParseOptions { keep_ids, ..Default::default() };
    let result =
        snapshot::parse_with(bar.wrap_read(BufReader::with_capacity(1 << 16, file)), &options);
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

/// Digests of every file in order, plus the full analysis of the last one. Files are read two
/// at a time (the machine's cores permitting): parsing dominates, and each file's graph is
/// dropped as soon as its digest is built, so at most two graphs are alive at once. A digest
/// needs the largest ids of the first and the previous snapshot, which each file publishes as
/// soon as it is parsed.
pub fn digests(files: &[PathBuf], labels: &[String]) -> Result<(Vec<Digest>, Loaded), CliError> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 2);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Digest, CliError>>>> =
        Mutex::new((0..files.len()).map(|_| None).collect());
    let max_ids = MaxIds::new(files.len());
    let last_loaded: Mutex<Option<Loaded>> = Mutex::new(None);
    let last = files.len() - 1;
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= files.len() {
                        break;
                    }
                    let outcome = read(&files[i], true).and_then(|graph| {
                        max_ids.publish(i, Some(max_object_id(&graph)));
                        let digest = |c: &ClassIndex, d: &Dominators| {
                            Ok(Digest::build(labels[i].clone(), &graph, c, d, max_ids.basis(i)?))
                        };
                        if i != last {
                            let classes = ClassIndex::build(&graph);
                            return digest(&classes, &Dominators::compute(&graph));
                        }
                        // Only the last snapshot is explained, so only it needs paths; they
                        // are found while its digest is built.
                        let (analysis, digest) = analysis::analyse_for_comparison(&graph, digest);
                        *last_loaded.lock().expect("no panics while held") =
                            Some(Loaded { graph, analysis });
                        digest
                    });
                    let failed = outcome.is_err();
                    if failed {
                        max_ids.publish(i, None);
                    }
                    results.lock().expect("no panics while held")[i] = Some(outcome);
                    if failed {
                        // Stop handing out files; the first error is reported.
                        next.store(files.len(), Ordering::SeqCst);
                    }
                }
            });
        }
    });
    let mut digests = Vec::with_capacity(files.len());
    for outcome in results.into_inner().expect("threads joined") {
        match outcome {
            Some(Ok(d)) => digests.push(d),
            Some(Err(e)) => return Err(e),
            None => unreachable!("every file is read unless one failed first"),
        }
    }
    let last = last_loaded.into_inner().expect("threads joined").expect("last file analysed");
    Ok((digests, last))
}

/// The largest id of each file, published by the thread that parsed it.
struct MaxIds {
    /// `None` until parsed; `Some(None)` when the file could not be read.
    slots: Mutex<Vec<Option<Option<u32>>>>,
    published: Condvar,
}

impl MaxIds {
    fn new(files: usize) -> MaxIds {
        MaxIds { slots: Mutex::new(vec![None; files]), published: Condvar::new() }
    }

    fn publish(&self, file: usize, max_id: Option<u32>) {
        let mut slots = self.slots.lock().expect("no panics while held");
        slots[file].get_or_insert(max_id);
        self.published.notify_all();
    }

    /// Waits for the first and the previous file. Files are handed out in order and publish
    /// before they wait, so the wait ends.
    fn basis(&self, file: usize) -> Result<Basis, CliError> {
        if file == 0 {
            return Ok(Basis::default());
        }
        let slots = self
            .published
            .wait_while(self.slots.lock().expect("no panics while held"), |s| {
                s[0].is_none() || s[file - 1].is_none()
            })
            .expect("no panics while held");
        match (slots[0], slots[file - 1]) {
            (Some(Some(first)), Some(Some(previous))) => {
                Ok(Basis { previous_max_id: Some(previous), baseline_max_id: Some(first) })
            }
            // An earlier file failed; its error is the one reported.
            _ => Err(CliError::with_causes("an earlier snapshot could not be read", vec![])),
        }
    }
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
