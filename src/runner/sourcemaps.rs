//! Source maps of the scripts a target loaded, so that frames of transpiled or bundled code
//! (TypeScript run with `tsx`, a Worker bundled by wrangler or esbuild) name the original file
//! and line. Maps come from each script's `sourceMappingURL` as `Debugger.scriptParsed`
//! reports it: a `data:` URL (inline maps, as tsx writes them) or a URL or path relative to the
//! script (`index.js.map` next to a bundle). A script the debugger did not report (wrangler's
//! inspector proxy does not pass `Debugger.scriptParsed` on) is looked for on disk, by its URL
//! or, when the URL is relative (workerd names modules by path), in the target's script
//! folders, and its own `//# sourceMappingURL=` comment is read. Maps are read once per
//! script, lazily, and a map that cannot be read leaves its frames as they ran.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sourcemap::DecodedMap;

use crate::analysis::allocations::{CallFrame, FrameMapper, Original, file_of};
use crate::inspector::MappedScript;

/// The scripts of one target that name a source map, with their maps loaded on first use.
pub struct SourceMaps {
    scripts: HashMap<String, MappedScript>,
    /// Where relative script URLs (workerd names modules by their path in the config) are
    /// looked for, in order.
    bases: Vec<PathBuf>,
    /// Per script id (or URL, for scripts the debugger did not report).
    loaded: RefCell<HashMap<String, Option<Loaded>>>,
}

struct Loaded {
    map: DecodedMap,
    /// Relative `sources` are resolved against this directory.
    dir: Option<PathBuf>,
}

impl SourceMaps {
    /// Maps for `scripts` (by script id); relative script URLs are looked for in `bases`, in
    /// order.
    pub fn new(scripts: HashMap<String, MappedScript>, bases: Vec<PathBuf>) -> SourceMaps {
        SourceMaps { scripts, bases, loaded: RefCell::default() }
    }

    /// A script the debugger did not report: found on disk, with its own
    /// `sourceMappingURL` comment.
    fn load_from_disk(&self, url: &str) -> Option<Loaded> {
        let path = self.path_of(url)?;
        let text = std::fs::read(&path).ok()?;
        let reference = sourcemap::locate_sourcemap_reference_slice(&text).ok()??;
        let script = MappedScript {
            url: format!("file://{}", path.display()),
            source_map_url: reference.get_url().to_owned(),
        };
        self.load(&script)
    }

    fn load(&self, script: &MappedScript) -> Option<Loaded> {
        let script_path = self.path_of(&script.url);
        let script_dir = script_path.as_ref().and_then(|p| p.parent().map(Path::to_owned));
        let url = script.source_map_url.as_str();
        if url.starts_with("data:") {
            let map = sourcemap::decode_data_url(url).ok()?;
            return Some(Loaded { map, dir: script_dir });
        }
        if url.contains("://") && !url.starts_with("file://") {
            return None;
        }
        let written = PathBuf::from(file_of(url));
        let map_path = match written.is_absolute() {
            true => written,
            false => script_dir.as_ref()?.join(written),
        };
        let bytes = std::fs::read(&map_path).ok()?;
        let map = sourcemap::decode_slice(&bytes).ok()?;
        Some(Loaded { map, dir: map_path.parent().map(Path::to_owned) })
    }

    /// A script URL as a path on this machine, when it is one: absolute, or relative to the
    /// first base folder that has it.
    fn path_of(&self, url: &str) -> Option<PathBuf> {
        if url.is_empty() || url.contains(':') && !url.starts_with("file://") {
            return None;
        }
        let path = PathBuf::from(file_of(url));
        if path.is_absolute() {
            return Some(path);
        }
        let mut candidates = self.bases.iter().map(|b| b.join(&path));
        let first = self.bases.first().map(|b| b.join(&path));
        candidates.find(|p| p.is_file()).or(first)
    }
}

impl FrameMapper for SourceMaps {
    fn original(&self, frame: &CallFrame) -> Option<Original> {
        let mut loaded = self.loaded.borrow_mut();
        let entry = match self.scripts.get(&frame.script_id) {
            Some(script) => {
                loaded.entry(frame.script_id.clone()).or_insert_with(|| self.load(script))
            }
            None => loaded
                .entry(format!("url:{}", frame.url))
                .or_insert_with(|| self.load_from_disk(&frame.url)),
        };
        let loaded = entry.as_ref()?;
        let (line, column) =
            (u32::try_from(frame.line_number).ok()?, u32::try_from(frame.column_number).ok()?);
        let token = loaded.map.lookup_token(line, column)?;
        let source = token.get_source()?;
        Some(Original {
            file: resolve_source(source, loaded.dir.as_deref()),
            line: token.get_src_line(),
            column: token.get_src_col(),
            name: token.get_name().map(str::to_owned),
        })
    }
}

/// A map's `sources` entry as a path: URLs other than `file:` stay as they are, relative
/// paths are taken from the map's directory, and `..` steps are folded.
fn resolve_source(source: &str, dir: Option<&Path>) -> String {
    if source.contains("://") && !source.starts_with("file://") {
        return source.to_owned();
    }
    let path = PathBuf::from(file_of(source));
    let full = match (path.is_absolute(), dir) {
        (false, Some(dir)) => dir.join(path),
        _ => path,
    };
    normalize(&full).to_string_lossy().into_owned()
}

/// Folds `.` and `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `src/app.ts` line 3 (0-based 2), column 0 -> generated line 0, column 0; and
    /// generated line 1 column 4 -> line 5 column 2 named `handle`.
    const MAP: &str =
        r#"{"version":3,"sources":["../src/app.ts"],"names":["handle"],"mappings":"AAEA;IAEEA"}"#;

    fn frame(id: &str, line: i64, column: i64) -> CallFrame {
        CallFrame {
            function_name: String::new(),
            script_id: id.into(),
            url: "file:///w/dist/app.js".into(),
            line_number: line,
            column_number: column,
        }
    }

    #[test]
    fn inline_maps_name_the_original_file_line_and_name() {
        use std::io::Write;
        let mut b64 = Vec::new();
        {
            // The crate decodes; encode by hand with the same alphabet.
            let mut enc = Base64(&mut b64);
            enc.write_all(MAP.as_bytes()).unwrap();
        }
        let url = format!("data:application/json;base64,{}", String::from_utf8(b64).unwrap());
        let scripts = HashMap::from([(
            "5".to_owned(),
            MappedScript { url: "file:///w/dist/app.js".into(), source_map_url: url },
        )]);
        let maps = SourceMaps::new(scripts, vec![PathBuf::from("/w")]);
        let o = maps.original(&frame("5", 1, 4)).unwrap();
        assert_eq!(o.file, "/w/src/app.ts");
        assert_eq!((o.line, o.column), (4, 2));
        assert_eq!(o.name.as_deref(), Some("handle"));
        assert_eq!(maps.original(&frame("5", 0, 0)).unwrap().line, 2);
        assert!(maps.original(&frame("6", 0, 0)).is_none(), "a script not on disk, no map");
    }

    #[test]
    fn map_files_are_read_next_to_the_script_and_broken_ones_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let dist = dir.path().join("dist");
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::write(dist.join("app.js.map"), MAP).unwrap();
        std::fs::write(dist.join("bad.js.map"), "not a map").unwrap();
        let url = |f: &str| format!("file://{}", dist.join(f).display());
        let scripts = HashMap::from([
            (
                "1".to_owned(),
                MappedScript { url: url("app.js"), source_map_url: "app.js.map".into() },
            ),
            (
                "2".to_owned(),
                MappedScript { url: url("bad.js"), source_map_url: "bad.js.map".into() },
            ),
        ]);
        let maps = SourceMaps::new(scripts, vec![dir.path().to_owned()]);
        let o = maps.original(&frame("1", 1, 4)).unwrap();
        assert_eq!(o.file, dir.path().join("src/app.ts").to_string_lossy());
        assert!(maps.original(&frame("2", 1, 4)).is_none());
    }

    #[test]
    fn scripts_the_debugger_did_not_report_are_read_from_disk_by_their_comment() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join(".wrangler/tmp/dev-x");
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(bundle.join("index.js"), "a;\nb;\n//# sourceMappingURL=index.js.map\n")
            .unwrap();
        std::fs::write(bundle.join("index.js.map"), MAP).unwrap();
        let maps = SourceMaps::new(HashMap::new(), vec![dir.path().to_owned(), bundle.clone()]);
        let mut f = frame("9", 1, 4);
        f.url = "index.js".into();
        let o = maps.original(&f).unwrap();
        assert_eq!(o.file, dir.path().join(".wrangler/tmp/src/app.ts").to_string_lossy());
        f.url = "node:events".into();
        assert!(maps.original(&f).is_none());
    }

    #[test]
    fn sources_resolve_against_the_map() {
        assert_eq!(resolve_source("../src/a.ts", Some(Path::new("/w/dist"))), "/w/src/a.ts");
        assert_eq!(resolve_source("file:///x/a.ts", Some(Path::new("/w"))), "/x/a.ts");
        assert_eq!(resolve_source("webpack://app/a.ts", None), "webpack://app/a.ts");
        assert_eq!(resolve_source("a.ts", None), "a.ts");
    }

    /// A minimal standard base64 encoder for the test's data URL.
    struct Base64<'a>(&'a mut Vec<u8>);
    impl std::io::Write for Base64<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            for chunk in buf.chunks(3) {
                let n = chunk
                    .iter()
                    .enumerate()
                    .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
                for i in 0..4 {
                    if i <= chunk.len() {
                        self.0.push(A[(n >> (18 - 6 * i) & 63) as usize]);
                    } else {
                        self.0.push(b'=');
                    }
                }
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
