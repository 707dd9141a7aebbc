//! Finding a runtime's program the way `npx` does: in the `node_modules/.bin` of the target's
//! folder or of any folder above it, before the `PATH`. workerd, wrangler and deno all come as
//! npm packages with their binary inside, so a project pins them in its `package.json`.

use std::path::{Path, PathBuf};

/// The first of `relative` (paths inside a `node_modules` folder, in order of preference) that
/// exists in `dir/node_modules` or the `node_modules` of an ancestor of `dir`, nearest first.
///
/// ```
/// # use leakcheck::launch::find_in_node_modules;
/// let dir = tempfile::tempdir().unwrap();
/// let bin = dir.path().join("node_modules/.bin");
/// std::fs::create_dir_all(&bin).unwrap();
/// std::fs::write(bin.join("deno"), "").unwrap();
/// let nested = dir.path().join("app/src");
/// std::fs::create_dir_all(&nested).unwrap();
/// assert_eq!(find_in_node_modules(&nested, &[".bin/deno"]), Some(bin.join("deno")));
/// assert_eq!(find_in_node_modules(&nested, &[".bin/wrangler"]), None);
/// ```
pub fn find_in_node_modules(dir: &Path, relative: &[&str]) -> Option<PathBuf> {
    dir.ancestors().find_map(|folder| {
        let modules = folder.join("node_modules");
        relative.iter().map(|r| modules.join(r)).find(|p| p.is_file())
    })
}

/// `program` as given when it is a path or when no `node_modules` above `cwd` has it; else the
/// path of `node_modules/.bin/<program>` (a bare name such as `deno` or `wrangler`).
pub(crate) fn resolve_bare(program: &str, cwd: &Path) -> String {
    if program.contains('/') {
        return program.to_owned();
    }
    match find_in_node_modules(cwd, &[&format!(".bin/{program}")]) {
        Some(path) => path.to_string_lossy().into_owned(),
        None => program.to_owned(),
    }
}

/// Where the `workerd` npm package puts its binary, most direct first: the platform package's
/// own binary, then the copy (or launcher) the `workerd` package installs.
pub(crate) fn workerd_candidates() -> Vec<String> {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "64",
    };
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    vec![
        format!("@cloudflare/workerd-{os}-{arch}/bin/workerd"),
        "workerd/bin/workerd".to_owned(),
        ".bin/workerd".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_prefer_node_modules_paths_stay() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("node_modules/.bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("wrangler"), "").unwrap();
        let cwd = dir.path().join("worker");
        std::fs::create_dir_all(&cwd).unwrap();
        assert_eq!(resolve_bare("wrangler", &cwd), bin.join("wrangler").to_string_lossy());
        assert_eq!(resolve_bare("./wrangler", &cwd), "./wrangler");
        assert_eq!(resolve_bare("deno", &cwd), "deno");
    }

    #[test]
    fn workerd_platform_binary_comes_first() {
        let candidates = workerd_candidates();
        assert!(candidates[0].starts_with("@cloudflare/workerd-"), "{candidates:?}");
        assert_eq!(candidates.last().map(String::as_str), Some(".bin/workerd"));
    }
}

/// The workerd binary in the `node_modules` of `dir` or an ancestor, if any.
pub(crate) fn find_workerd(dir: &Path) -> Option<PathBuf> {
    let candidates = workerd_candidates();
    let candidates: Vec<&str> = candidates.iter().map(String::as_str).collect();
    find_in_node_modules(dir, &candidates)
}

/// One inspector target from `/json/list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListedTarget {
    /// `id`: workerd's service name, or a uuid.
    pub id: String,
    /// `webSocketDebuggerUrl`.
    pub url: String,
}

/// Reads `/json/list` of the inspector at `127.0.0.1:port`, retrying until it answers with
/// at least one target or `deadline` passes (the last failure is returned).
pub(crate) async fn json_list(
    port: u16,
    deadline: tokio::time::Instant,
) -> Result<Vec<ListedTarget>, String> {
    let client = reqwest::Client::builder().no_proxy().build().unwrap_or_default();
    let url = format!("http://127.0.0.1:{port}/json/list");
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let attempt = client.get(&url).timeout(left.max(std::time::Duration::from_millis(50)));
        let last = match attempt.send().await {
            Ok(response) => match response.json::<serde_json::Value>().await {
                Ok(value) => match parse_json_list(&value) {
                    Ok(list) if !list.is_empty() => return Ok(list),
                    Ok(_) => format!("GET {url} listed no targets"),
                    Err(e) => format!("GET {url}: {e}"),
                },
                Err(e) => format!("GET {url}: {e}"),
            },
            Err(e) => format!("GET {url}: {e}"),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The targets of a `/json/list` answer.
pub(crate) fn parse_json_list(value: &serde_json::Value) -> Result<Vec<ListedTarget>, String> {
    let items = value.as_array().ok_or_else(|| format!("expected a JSON array, got {value}"))?;
    Ok(items
        .iter()
        .filter_map(|item| {
            let url = item["webSocketDebuggerUrl"].as_str()?;
            let id = item["id"].as_str().unwrap_or("").to_owned();
            Some(ListedTarget { id, url: url.to_owned() })
        })
        .collect())
}

/// True when an executable file named `program` is in a folder of the `PATH`.
pub(crate) fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}
