//! workerd, started by leakcheck itself: from a config it generates from the spec (`main`,
//! compatibility date and flags, text bindings) or from the user's own `config.capnp`, with
//! `--inspector-addr=127.0.0.1:0 --control-fd=3`. workerd writes the ports it really bound to
//! fd 3 as JSON lines (`{"event":"listen-inspector","port":…}`, `{"event":"listen",
//! "socket":"http","port":…}`), which is how leakcheck learns them, as miniflare does.
//!
//! Its inspector lists one target per service (`/json/list`, `id` = the service name) and
//! allows one session per isolate: leakcheck opens exactly one, on the user's worker.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

use super::runtime::{self, ListedTarget};
use super::{LaunchSpec, MIN_INSPECTOR_WAIT, Target, TargetError, exited, wait_ready, with_tail};
use crate::leakspec::Worker;

/// The service of the config leakcheck generates.
const SERVICE: &str = "main";
/// Its HTTP socket.
const SOCKET: &str = "http";

/// What [`launch_workerd`] needs beyond a [`LaunchSpec`].
#[derive(Clone, Debug)]
pub struct WorkerdLaunch {
    /// `argv` is the workerd program and extra arguments (empty: find workerd in
    /// `node_modules`); `port` is ignored (workerd reports its own) and `{port}` in `url` is
    /// filled in once known.
    pub spec: LaunchSpec,
    /// `main` (absolute) or `config` (absolute), and the rest.
    pub worker: Worker,
}

/// A port workerd reported on its control fd.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Control {
    Inspector(u16),
    Socket(String, u16),
}

/// One line of workerd's control fd; anything else is ignored.
fn parse_control(line: &str) -> Option<Control> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let port = u16::try_from(value["port"].as_u64()?).ok()?;
    match value["event"].as_str()? {
        "listen-inspector" => Some(Control::Inspector(port)),
        "listen" => Some(Control::Socket(value["socket"].as_str().unwrap_or("").to_owned(), port)),
        _ => None,
    }
}

/// A Cap'n Proto text literal.
fn capnp_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `to` relative to the folder `from` (both absolute), with `..` as needed: Cap'n Proto's
/// `embed` resolves paths against the config file's folder.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to[common..] {
        out.push(part);
    }
    out
}

/// The modules of a worker whose main module is `main`: `main` first, then every `.js` and
/// `.mjs` file under its folder (sorted, `node_modules` and dot-folders skipped), each named by
/// its path relative to that folder, so relative imports resolve as on disk.
fn modules(main: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let root = main.parent().unwrap_or(Path::new("/"));
    let name =
        |path: &Path| path.strip_prefix(root).unwrap_or(path).to_string_lossy().replace('\\', "/");
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if file_name != "node_modules" && !file_name.starts_with('.') {
                    stack.push(path);
                }
            } else if (file_name.ends_with(".js") || file_name.ends_with(".mjs")) && path != main {
                found.push(path);
            }
        }
    }
    found.sort();
    let mut out = vec![(name(main), main.to_path_buf())];
    out.extend(found.into_iter().map(|p| (name(&p), p)));
    Ok(out)
}

/// The text of a `config.capnp` serving the worker described by `worker` (whose `main` is
/// absolute) as service `main` on socket `http` at 127.0.0.1, port 0; written to `config_dir`.
fn config_text(worker: &Worker, config_dir: &Path) -> std::io::Result<String> {
    let main = worker.main.as_deref().expect("a generated config has a main module");
    let mut modules_text = Vec::new();
    for (name, path) in modules(main)? {
        let embed = relative(config_dir, &path);
        modules_text.push(format!(
            "    (name = {}, esModule = embed {})",
            capnp_string(&name),
            capnp_string(&embed.to_string_lossy())
        ));
    }
    let bindings: Vec<String> = worker
        .bindings
        .iter()
        .map(|(name, value)| {
            format!("    (name = {}, text = {})", capnp_string(name), capnp_string(value))
        })
        .collect();
    let flags: Vec<String> = worker.compatibility_flags.iter().map(|f| capnp_string(f)).collect();
    let date = worker.compatibility_date.as_deref().unwrap_or("2024-09-23");
    Ok(format!(
        "# Generated by leakcheck for one run; removed once workerd has read it.\n\
         using Workerd = import \"/workerd/workerd.capnp\";\n\
         const config :Workerd.Config = (\n  \
           services = [ (name = \"{SERVICE}\", worker = .mainWorker) ],\n  \
           sockets = [ (name = \"{SOCKET}\", address = \"127.0.0.1:0\", http = (), service = \"{SERVICE}\") ]\n\
         );\n\
         const mainWorker :Workerd.Worker = (\n  \
           modules = [\n{}\n  ],\n  \
           bindings = [\n{}\n  ],\n  \
           compatibilityDate = {},\n  \
           compatibilityFlags = [{}]\n\
         );\n",
        modules_text.join(",\n"),
        bindings.join(",\n"),
        capnp_string(date),
        flags.join(", ")
    ))
}

/// A folder for the generated config, removed when dropped.
struct ConfigDir(PathBuf);

impl ConfigDir {
    fn create(name: &str) -> std::io::Result<ConfigDir> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "leakcheck-workerd-{}-{}-{}",
            name.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>(),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(ConfigDir(dir))
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The inspector target of the worker: `wanted` (the service name) when given, else the only
/// one, else the one named `main`.
fn choose(listed: &[ListedTarget], wanted: Option<&str>) -> Result<String, String> {
    let ids = || listed.iter().map(|t| format!("`{}`", t.id)).collect::<Vec<_>>().join(", ");
    if let Some(wanted) = wanted {
        return listed.iter().find(|t| t.id == wanted).map(|t| t.url.clone()).ok_or_else(|| {
            format!("workerd's inspector has no service `{wanted}` (it lists {})", ids())
        });
    }
    match listed {
        [only] => Ok(only.url.clone()),
        _ => listed.iter().find(|t| t.id == SERVICE).map(|t| t.url.clone()).ok_or_else(|| {
            format!(
                "workerd runs several services ({}); set `service` to the worker to inspect",
                ids()
            )
        }),
    }
}

/// Starts workerd for `launch` and returns once it serves requests and the worker's inspector
/// is known. Everything started is killed on error; the generated config is removed once
/// workerd has read it.
pub async fn launch_workerd(launch: &WorkerdLaunch) -> Result<Target, TargetError> {
    let spec = &launch.spec;
    let name = spec.name.clone();
    let (program, extra) = match spec.argv.split_first() {
        Some((program, extra)) => (runtime::resolve_bare(program, &spec.cwd), extra.to_vec()),
        None => match runtime::find_workerd(&spec.cwd) {
            Some(path) => (path.to_string_lossy().into_owned(), Vec::new()),
            None if runtime::on_path("workerd") => ("workerd".to_owned(), Vec::new()),
            None => {
                return Err(TargetError::RuntimeNotFound {
                    name,
                    what: format!(
                        "workerd not found in the node_modules of {} or its parent folders, nor on the PATH (install it with `npm install --save-dev workerd`, or give its path in `command`)",
                        spec.cwd.display()
                    ),
                });
            }
        },
    };

    let (config_dir, config, service) = match (&launch.worker.config, &launch.worker.main) {
        (Some(config), _) => {
            if !config.is_file() {
                return Err(TargetError::Config {
                    name,
                    message: format!("workerd config {} does not exist", config.display()),
                });
            }
            (None, config.clone(), launch.worker.service.clone())
        }
        (None, Some(main)) => {
            if !main.is_file() {
                return Err(TargetError::Config {
                    name,
                    message: format!("the worker's main module {} does not exist", main.display()),
                });
            }
            let failed = |e: std::io::Error| TargetError::Config {
                name: name.clone(),
                message: format!("could not write the workerd config: {e}"),
            };
            let dir = ConfigDir::create(&name).map_err(failed)?;
            let text = config_text(&launch.worker, &dir.0).map_err(failed)?;
            let path = dir.0.join("config.capnp");
            std::fs::write(&path, text).map_err(failed)?;
            (Some(dir), path, Some(SERVICE.to_owned()))
        }
        (None, None) => {
            return Err(TargetError::Config {
                name,
                message: "a workerd target needs `main` or `config`".into(),
            });
        }
    };

    let mut args = vec!["serve".to_owned(), config.to_string_lossy().into_owned()];
    args.push("--inspector-addr=127.0.0.1:0".into());
    args.push("--control-fd=3".into());
    args.extend(extra);
    let (sender, receiver) = tokio::net::unix::pipe::pipe().map_err(|source| {
        TargetError::Spawn { name: name.clone(), program: program.clone(), source }
    })?;
    let write_end = sender.into_blocking_fd().map_err(|source| TargetError::Spawn {
        name: name.clone(),
        program: program.clone(),
        source,
    })?;
    let (mut target, _announced) = super::spawn(spec, &program, &args, &[], Some(write_end))?;

    let start = Instant::now();
    let deadline = start + spec.ready_timeout;
    let mut lines = BufReader::new(receiver).lines();
    let (mut inspector_port, mut sockets) = (None, BTreeMap::new());
    let ports = loop {
        let want_socket = if service.as_deref() == Some(SERVICE) && config_dir.is_some() {
            sockets.get(SOCKET).copied()
        } else {
            sockets.values().next().copied()
        };
        if let (Some(i), Some(s)) = (inspector_port, want_socket) {
            break Ok((i, s));
        }
        let line = tokio::select! {
            line = lines.next_line() => line,
            status = target.child.wait() => break Err(exited(&mut target, status)),
            _ = tokio::time::sleep_until(deadline) => break Err(TargetError::NeverReady {
                name: name.clone(),
                after: spec.ready_timeout,
                polled: "waited for workerd to report its ports on --control-fd".into(),
                stderr_tail: String::new(),
            }),
        };
        match line {
            Ok(Some(line)) => match parse_control(&line) {
                Some(Control::Inspector(port)) => inspector_port = Some(port),
                Some(Control::Socket(socket, port)) => {
                    sockets.insert(socket, port);
                }
                None => {}
            },
            // The pipe closed: workerd is exiting (it reports why on stderr).
            Ok(None) | Err(_) => {
                let status = target.child.wait().await;
                break Err(exited(&mut target, status));
            }
        }
    };
    // workerd has read the config (it only binds its sockets afterwards).
    drop(config_dir);
    let (inspector_port, port) = match ports {
        Ok(ports) => ports,
        Err(e) => {
            target.kill().await;
            return Err(with_tail(e, &target));
        }
    };
    // workerd may write to the control fd again (a reload): keep reading it until it closes,
    // so it never meets a closed pipe.
    target
        .drains
        .push(tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} }));

    let mut ready_spec = spec.clone();
    ready_spec.port = port;
    ready_spec.url = spec.url.replace(crate::leakspec::PORT_PLACEHOLDER, &port.to_string());
    target.base_url = ready_spec.url.trim_end_matches('/').to_owned();
    if let Err(e) = wait_ready(&mut target, &ready_spec, deadline).await {
        target.kill().await;
        return Err(with_tail(e, &target));
    }
    let wait = deadline.saturating_duration_since(Instant::now()).max(MIN_INSPECTOR_WAIT);
    let listed = runtime::json_list(inspector_port, Instant::now() + wait).await;
    match listed.and_then(|listed| choose(&listed, service.as_deref())) {
        Ok(url) => {
            target.inspector_url = url;
            target.inspected_pid = Some(target.pid);
            Ok(target)
        }
        Err(message) => {
            target.kill().await;
            Err(with_tail(
                TargetError::WorkerInspector { name, message, stderr_tail: String::new() },
                &target,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_lines() {
        assert_eq!(
            parse_control(r#"{"event":"listen-inspector","port":33193}"#),
            Some(Control::Inspector(33193))
        );
        assert_eq!(
            parse_control(r#"{"event":"listen","socket":"http","port":37903}"#),
            Some(Control::Socket("http".into(), 37903))
        );
        assert_eq!(parse_control(r#"{"event":"reload"}"#), None);
        assert_eq!(parse_control("not json"), None);
    }

    #[test]
    fn capnp_strings_are_escaped() {
        assert_eq!(capnp_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(capnp_string("x\ny\u{1}"), r#""x\ny\x01""#);
    }

    #[test]
    fn embed_paths_are_relative_to_the_config() {
        assert_eq!(
            relative(Path::new("/tmp/cfg"), Path::new("/work/w/src/index.js")),
            Path::new("../../work/w/src/index.js")
        );
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b/c.js")), Path::new("c.js"));
    }

    #[test]
    fn generated_config_lists_every_module_main_first() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("lib")).unwrap();
        std::fs::create_dir_all(src.join("node_modules/x")).unwrap();
        for file in ["index.js", "lib/a.mjs", "lib/b.js", "node_modules/x/y.js", "notes.txt"] {
            std::fs::write(src.join(file), "").unwrap();
        }
        let worker = Worker {
            main: Some(src.join("index.js")),
            compatibility_date: Some("2024-09-23".into()),
            compatibility_flags: vec!["nodejs_compat".into()],
            bindings: [("MODEL".to_owned(), "gpt \"4\"".to_owned())].into(),
            ..Worker::default()
        };
        let text = config_text(&worker, &dir.path().join("cfg")).unwrap();
        let index = text.find(r#"(name = "index.js", esModule = embed "../src/index.js")"#);
        let a = text.find(r#"(name = "lib/a.mjs", esModule = embed "../src/lib/a.mjs")"#);
        let b = text.find(r#"(name = "lib/b.js""#);
        assert!(index.is_some() && a.is_some() && b.is_some(), "{text}");
        assert!(index < a && a < b, "{text}");
        assert!(!text.contains("node_modules") && !text.contains("notes"), "{text}");
        assert!(text.contains(r#"(name = "MODEL", text = "gpt \"4\"")"#), "{text}");
        assert!(text.contains(r#"compatibilityFlags = ["nodejs_compat"]"#), "{text}");
    }

    #[test]
    fn the_user_worker_is_chosen() {
        let t = |id: &str| ListedTarget { id: id.into(), url: format!("ws://h/{id}") };
        assert_eq!(choose(&[t("main")], None).unwrap(), "ws://h/main");
        assert_eq!(choose(&[t("api")], None).unwrap(), "ws://h/api");
        assert_eq!(choose(&[t("assets"), t("main")], None).unwrap(), "ws://h/main");
        assert_eq!(choose(&[t("assets"), t("api")], Some("api")).unwrap(), "ws://h/api");
        let e = choose(&[t("assets"), t("api")], None).unwrap_err();
        assert!(e.contains("`assets`, `api`") && e.contains("`service`"), "{e}");
        assert!(choose(&[t("assets")], Some("api")).unwrap_err().contains("no service `api`"));
    }
}
