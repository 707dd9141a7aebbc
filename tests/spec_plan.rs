//! `plan()`: a spec exercising inheritance at all three levels (defaults, target, route),
//! resolved into the plan `leakcheck run` follows, snapshot-tested; plus the overrides, the
//! filters, the port template and header redaction.

use std::path::{Path, PathBuf};

use leakcheck::leakspec::{ByteSize, Ignored, Requests, Spec};
use leakcheck::plan::{Overrides, Plan, Readiness, plan};

const SPEC: &str = r#"
[defaults]
warmup = 20
requests = 400
request_timeout = "5s"
snapshot_timeout = "3m"

[defaults.budget]
max_heap_growth = "8MiB"
memory_limit = "512MiB"
ignore = ["(compiled code)"]
regression_tolerance = "20% + 16B"

[[target]]
name = "ai-proxy"
command = ["node", "server.js", "--listen", "127.0.0.1:{port}"]
cwd = "examples/./ai-proxy"
env = { LOG_LEVEL = "warn", SELF_URL = "http://127.0.0.1:{port}" }
ready = "/health"
concurrency = 8
rungs = 3
ready_timeout = "1m"

[target.budget]
max_bytes_per_request = "256B"
memory_limit = "128MiB"
ignore = ["(system)"]

[[target.route]]
name = "chat"
method = "post"
path = "/api/chat"
headers = { content-type = "application/json", Authorization = "Bearer sk-secret", cookie = "session=abc" }
body = '{"prompt": "Write a long story"}'
requests = 1000
max_rungs = 6
request_timeout = "30s"

[target.route.budget]
max_objects_per_request = 0.05
requests_to_limit = 1_000_000
ignore = ["(system)", "Buffer"]
regression_tolerance = "50%"

[[target.route]]
name = "models"
path = "/api/models?limit=10"

[[target]]
name = "static"
command = ["node", "static.js"]
url = "http://localhost:{port}/v1/"
warmup = 0

[[target.route]]
name = "index"
path = "/"
rungs = 7
"#;

fn spec_in(dir: &Path) -> Spec {
    Spec::parse(SPEC, &dir.join("leakspec.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn redacted(plan: &Plan, dir: &Path) -> String {
    format!("{plan:#?}").replace(&dir.display().to_string(), "[SPEC_DIR]")
}

#[test]
fn inheritance_at_three_levels() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(&spec_in(dir.path()), &Overrides::default()).unwrap();
    insta::assert_snapshot!(redacted(&plan, dir.path()));

    let chat = &plan.targets[0].routes[0];
    assert_eq!(chat.budget.memory_limit, Some(ByteSize::new(128 << 20)), "target beats defaults");
    assert_eq!(chat.budget.max_heap_growth, Some(ByteSize::new(8 << 20)), "from defaults");
    assert_eq!(chat.budget.ignore, ["(compiled code)", "(system)", "Buffer"], "lists add up");
    let tolerance =
        |r: &leakcheck::plan::RoutePlan| r.budget.regression_tolerance.map(|t| t.to_string());
    assert_eq!(tolerance(chat).as_deref(), Some("50%"), "route beats defaults");
    let models = &plan.targets[0].routes[1];
    assert_eq!(tolerance(models).as_deref(), Some("20% + 16B"), "from defaults");
    assert_eq!(plan.targets[0].cwd, dir.path().join("examples/ai-proxy"));
    assert_eq!(plan.targets[0].ready, Readiness::Http("/health".into()));
    assert_eq!(plan.targets[1].ready, Readiness::Port);
    // `rungs = 7` on a route lifts the default `max_rungs = 5` with it.
    assert_eq!((plan.targets[1].routes[0].rungs, plan.targets[1].routes[0].max_rungs), (7, 7));
}

#[test]
fn secret_headers_are_redacted_for_display_and_debug() {
    let plan = plan(&spec_in(Path::new("/srv")), &Overrides::default()).unwrap();
    let chat = &plan.targets[0].routes[0];
    assert_eq!(
        chat.display_headers(),
        [
            ("Authorization".to_owned(), "<redacted>".to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
            ("cookie".to_owned(), "<redacted>".to_owned()),
        ]
    );
    let debug = format!("{plan:?}");
    assert!(!debug.contains("sk-secret") && !debug.contains("session=abc"), "{debug}");
    // The request itself still carries the real value.
    assert_eq!(chat.headers[0].value, "Bearer sk-secret");
}

#[test]
fn the_port_is_filled_at_launch() {
    let plan = plan(&spec_in(Path::new("/srv/app")), &Overrides::default()).unwrap();
    let launch = plan.targets[0].resolve_port(40123);
    assert_eq!(launch.argv, ["node", "server.js", "--listen", "127.0.0.1:40123"]);
    assert_eq!(launch.env["PORT"], "40123");
    assert_eq!(launch.env["SELF_URL"], "http://127.0.0.1:40123");
    assert_eq!(launch.env["LOG_LEVEL"], "warn");
    assert_eq!(launch.cwd, PathBuf::from("/srv/app/examples/ai-proxy"));
    assert_eq!(launch.url, "http://127.0.0.1:40123");
    assert_eq!(
        launch.route_url(&plan.targets[0].routes[1]),
        "http://127.0.0.1:40123/api/models?limit=10"
    );

    let other = plan.targets[1].resolve_port(40124);
    assert_eq!(other.route_url(&plan.targets[1].routes[0]), "http://localhost:40124/v1/");
    assert_eq!(other.cwd, PathBuf::from("/srv/app"));
}

#[test]
fn flags_beat_every_level_and_filters_pick() {
    let spec = spec_in(Path::new("/srv"));
    let overrides = Overrides {
        requests: Some(Requests::Fixed(50)),
        concurrency: Some(2),
        rungs: Some(4),
        routes: vec!["ai-proxy/chat".into(), "index".into()],
        ..Overrides::default()
    };
    let plan = plan(&spec, &overrides).unwrap();
    let routes: Vec<(&str, &str, u64, usize, u32, u32)> = plan
        .targets
        .iter()
        .flat_map(|t| {
            t.routes.iter().map(move |r| {
                (t.name.as_str(), r.name.as_str(), r.requests, r.concurrency, r.rungs, r.max_rungs)
            })
        })
        .collect();
    assert_eq!(routes, [("ai-proxy", "chat", 50, 2, 4, 6), ("static", "index", 50, 2, 4, 5)]);

    let only_static = Overrides { targets: vec!["static".into()], ..Overrides::default() };
    let plan_static = leakcheck::plan::plan(&spec, &only_static).unwrap();
    assert_eq!(plan_static.targets.len(), 1);
    assert_eq!(plan_static.targets[0].name, "static");
}

/// `--requests auto` / `--warmup auto` (issue 13) beat a fixed number in the spec as any flag
/// does, and a fixed flag beats `"auto"` in the spec.
#[test]
fn auto_flags_beat_the_spec_and_fixed_flags_beat_auto() {
    let spec = Spec::parse(
        "[defaults]\nwarmup = 30\nrequests = 400\n[[target]]\nname = \"api\"\n\
         command = [\"node\", \"server.js\"]\n[[target.route]]\nname = \"home\"\npath = \"/\"\n\
         [[target.route]]\nname = \"sized\"\npath = \"/\"\nrequests = \"auto\"\nwarmup = \"auto\"\n",
        Path::new("leakspec.toml"),
    )
    .unwrap();
    let resolved = |overrides: Overrides| {
        let plan = plan(&spec, &overrides).unwrap();
        let routes = &plan.targets[0].routes;
        routes
            .iter()
            .map(|r| (r.requests, r.requests_auto, r.warmup, r.warmup_auto))
            .collect::<Vec<_>>()
    };
    assert_eq!(resolved(Overrides::default()), [(400, false, 30, false), (100, true, 50, true)]);
    let auto = Overrides {
        requests: Some(Requests::Auto),
        warmup: Some(Requests::Auto),
        ..Overrides::default()
    };
    assert_eq!(resolved(auto), [(100, true, 50, true), (100, true, 50, true)]);
    let fixed = Overrides {
        requests: Some(Requests::Fixed(200)),
        warmup: Some(Requests::Fixed(10)),
        ..Overrides::default()
    };
    assert_eq!(resolved(fixed), [(200, false, 10, false), (200, false, 10, false)]);
}

#[test]
fn filters_and_flags_that_match_nothing_are_errors() {
    let spec = spec_in(Path::new("/srv"));
    let error = |overrides: Overrides| plan(&spec, &overrides).unwrap_err().to_string();
    assert_eq!(
        error(Overrides { targets: vec!["ai-proxi".into()], ..Overrides::default() }),
        "/srv/leakspec.toml: `--target ai-proxi` matches nothing in the spec\n\
         help: did you mean `ai-proxy`?"
    );
    assert_eq!(
        error(Overrides {
            targets: vec!["static".into()],
            routes: vec!["chat".into()],
            ..Overrides::default()
        }),
        "/srv/leakspec.toml: `--route chat` matches nothing in the spec\nhelp: choose from `index`"
    );
    assert_eq!(
        error(Overrides { rungs: Some(1), ..Overrides::default() }),
        "/srv/leakspec.toml: `--rungs` must be at least 2, found 1"
    );
}

#[test]
fn built_in_defaults() {
    let spec = Spec::parse(
        "[[target]]\nname = \"api\"\ncommand = [\"node\", \"server.js\"]\n\
         [[target.route]]\nname = \"home\"\npath = \"/\"\n",
        Path::new("leakspec.toml"),
    )
    .unwrap();
    insta::assert_snapshot!(format!("{:#?}", plan(&spec, &Overrides::default()).unwrap()));
}

/// Annotations point at the route's `[[target.route]]` header: its line and column.
#[test]
fn routes_know_their_line_and_column() {
    let text = "[[target]]\nname = \"a\"\ncommand = [\"node\"]\n\n  [[target.route]]\n  name = \"r\"\n  path = \"/\"\n";
    let spec = Spec::parse(text, Path::new("leakspec.toml")).unwrap();
    let plan = plan(&spec, &Overrides::default()).unwrap();
    let (target, route) = (&plan.targets[0], &plan.targets[0].routes[0]);
    assert_eq!((target.line, target.column), (1, 1));
    assert_eq!((route.line, route.column), (5, 3));
}

/// `ignored` on a route, or on its target for every route that does not set its own (`false`
/// included); `--include-ignored` runs them all.
#[test]
fn ignored_routes_inherit_from_their_target() {
    let spec = Spec::parse(
        r#"
        [[target]]
        name = "api"
        command = ["node", "api.js"]
        [[target.route]]
        name = "home"
        path = "/"
        [[target.route]]
        name = "export"
        path = "/export"
        ignored = "  nightly only "
        [[target.route]]
        name = "slow"
        path = "/slow"
        ignored = true

        [[target]]
        name = "batch"
        command = ["node", "batch.js"]
        ignored = "needs the staging database"
        [[target.route]]
        name = "run"
        path = "/run"
        [[target.route]]
        name = "status"
        path = "/status"
        ignored = false
        [[target.route]]
        name = "report"
        path = "/report"
        ignored = "too slow for CI"
        "#,
        Path::new("/srv/leakspec.toml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let marks = |overrides: &Overrides| -> Vec<String> {
        plan(&spec, overrides)
            .unwrap()
            .targets
            .iter()
            .flat_map(|t| {
                t.routes.iter().map(move |r| format!("{}/{}: {}", t.name, r.name, r.ignored))
            })
            .collect()
    };
    assert_eq!(
        marks(&Overrides::default()),
        [
            "api/home: ",
            "api/export: ignored: nightly only",
            "api/slow: ignored",
            "batch/run: ignored: needs the staging database",
            "batch/status: ",
            "batch/report: ignored: too slow for CI",
        ]
    );
    let all = Overrides { include_ignored: true, ..Overrides::default() };
    assert!(marks(&all).iter().all(|m| m.ends_with(": ")), "{:?}", marks(&all));
    let batch = &spec.targets[1];
    assert_eq!(
        batch.ignored,
        Some(Ignored::Yes { reason: Some("needs the staging database".into()) })
    );
    assert_eq!(batch.routes[1].ignored, Some(Ignored::No));
    assert_eq!(batch.routes[0].ignored, None);
}
