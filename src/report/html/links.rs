//! Links from the HTML report to files beside it (the kept heap snapshots): paths made relative
//! to the page's folder, so that the page and its snapshots can move together (a CI artifact),
//! and written as URL paths (percent-encoded, never read as a scheme such as `javascript:`).

use std::path::{Component, Path, PathBuf};

/// Removes `.` and resolves `..` without touching the file system.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
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

/// `path` as seen from the folder `base` (both made absolute against the current directory),
/// e.g. `leakcheck-snapshots/api/chat/s2.heapsnapshot` from the folder that holds both.
pub fn relative_path(path: &Path, base: &Path) -> PathBuf {
    let absolute = |p: &Path| normalise(&std::path::absolute(p).unwrap_or_else(|_| p.to_owned()));
    let (path, base) = (absolute(path), absolute(base));
    let (p, b): (Vec<Component>, Vec<Component>) =
        (path.components().collect(), base.components().collect());
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for part in &p[common..] {
        out.push(part.as_os_str());
    }
    out
}

/// The `href` of a file: relative to `base` when given, percent-encoded, and starting with
/// `./`, `../` or `/` so that no part of it reads as a URL scheme.
///
/// ```
/// use std::path::Path;
/// use leakcheck::report::html::relative_link;
/// let base = Path::new("/ci/out");
/// assert_eq!(relative_link(Path::new("/ci/out/snaps/a b.heapsnapshot"), Some(base)), "./snaps/a%20b.heapsnapshot");
/// assert_eq!(relative_link(Path::new("/ci/snaps/s0.heapsnapshot"), Some(base)), "../snaps/s0.heapsnapshot");
/// assert_eq!(relative_link(Path::new("javascript:alert(1)"), None), "./javascript%3Aalert(1)");
/// ```
pub fn relative_link(path: &Path, base: Option<&Path>) -> String {
    let path = match base {
        Some(base) => relative_path(path, base),
        None => path.to_owned(),
    };
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len() + 2);
    if !(text.starts_with("./") || text.starts_with("../") || text.starts_with('/')) {
        out.push_str("./");
    }
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            b'(' | b')' | b'@' | b'+' | b',' | b'=' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_relative_to_the_page() {
        let rel = |p: &str, b: &str| relative_path(Path::new(p), Path::new(b));
        assert_eq!(rel("/a/b/c.txt", "/a"), Path::new("b/c.txt"));
        assert_eq!(rel("/a/b/c.txt", "/a/x/y"), Path::new("../../b/c.txt"));
        assert_eq!(rel("/a/./b/../b/c.txt", "/a/b/"), Path::new("c.txt"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(relative_path(Path::new("snaps/s0"), &cwd), Path::new("snaps/s0"));
        assert_eq!(relative_link(Path::new("snaps/<s0>\"'"), None), "./snaps/%3Cs0%3E%22%27");
    }
}
