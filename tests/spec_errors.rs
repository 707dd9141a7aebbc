//! Broken specs and the errors leakcheck prints for them, snapshot-tested: each names file, line
//! and column, shows the line with a caret, and says what to write instead.

use std::path::Path;

use leakcheck::leakspec::Spec;

/// The rendered errors for a spec text, as `leakcheck run` prints them.
fn errors(text: &str) -> String {
    match Spec::parse(text, Path::new("leakspec.toml")) {
        Ok(_) => panic!("the spec was accepted:\n{text}"),
        Err(errors) => errors.to_string(),
    }
}

/// A valid target header for cases that break a route or a budget.
const TARGET: &str = r#"[[target]]
name = "api"
command = ["node", "server.js"]
"#;

macro_rules! case {
    ($name:ident, $text:expr) => {
        #[test]
        fn $name() {
            let text: &str = &$text;
            // The spec itself heads the snapshot file, so a reviewer sees input and output.
            insta::with_settings!({ description => text, omit_expression => true }, {
                insta::assert_snapshot!(errors(text));
            });
        }
    };
}

case!(
    unknown_key_with_suggestion,
    format!(
        "{TARGET}
[[target.route]]
name = \"chat\"
path = \"/api/chat\"
requsts = 1000
"
    )
);

case!(
    unknown_key_lists_valid_keys,
    r#"[defaults]
speed = "fast"
"#
);

case!(
    unknown_key_of_a_neighbouring_table,
    format!(
        "{TARGET}
[[target.route]]
name = \"chat\"
path = \"/api/chat\"
max_heap_grwoth = \"5MiB\"
"
    )
);

case!(
    budget_key_outside_the_budget,
    format!(
        "{TARGET}max_heap_growth = \"5MiB\"

[[target.route]]
name = \"chat\"
path = \"/api/chat\"
"
    )
);

case!(
    target_setting_on_a_route,
    format!(
        "{TARGET}
[[target.route]]
name = \"chat\"
path = \"/api/chat\"
ready_timeout = \"60s\"
"
    )
);

case!(
    wrong_type_quoted_count,
    format!(
        "[defaults]
requests = \"500\"

{TARGET}
[[target.route]]
name = \"chat\"
path = \"/\"
"
    )
);

case!(
    wrong_type_duration_as_integer,
    format!(
        "{TARGET}request_timeout = 10

[[target.route]]
name = \"chat\"
path = \"/\"
"
    )
);

case!(
    command_as_a_string,
    r#"[[target]]
name = "api"
command = "node server.js --port {port}"

[[target.route]]
name = "home"
path = "/"
"#
);

case!(
    regression_tolerance_of_the_wrong_type_or_table,
    format!(
        "[defaults.budget]
regression_tolerance = 25

{TARGET}
[[target.route]]
name = \"models\"
path = \"/models\"
regression_tolerance = \"10%\"
"
    )
);

case!(
    bad_regression_tolerance,
    format!(
        "{TARGET}
[target.budget]
regression_tolerance = \"25 + 32B\"

[[target.route]]
name = \"chat\"
path = \"/\"

[target.route.budget]
regression_tolerance = \"-5%\"
"
    )
);

case!(
    bad_size_unit,
    format!(
        "{TARGET}
[target.budget]
max_heap_growth = \"5M\"

[[target.route]]
name = \"chat\"
path = \"/\"
"
    )
);

case!(
    size_without_unit,
    format!(
        "[defaults.budget]
memory_limit = \"128\"

{TARGET}
[[target.route]]
name = \"chat\"
path = \"/\"
"
    )
);

case!(
    bad_duration,
    format!(
        "[defaults]
snapshot_timeout = \"2 minuts\"

{TARGET}
[[target.route]]
name = \"chat\"
path = \"/\"
"
    )
);

case!(
    counts_out_of_range,
    format!(
        "[defaults]
requests = 0
concurrency = -4
rungs = 1

{TARGET}
[[target.route]]
name = \"chat\"
path = \"/\"
"
    )
);

case!(
    duplicate_route,
    format!(
        "{TARGET}
[[target.route]]
name = \"chat\"
path = \"/api/chat\"

[[target.route]]
name = \"chat\"
method = \"POST\"
path = \"/api/chat\"
"
    )
);

case!(
    duplicate_target,
    r#"[[target]]
name = "api"
command = ["node", "a.js"]
[[target.route]]
name = "home"
path = "/"

[[target]]
name = "api"
command = ["node", "b.js"]
[[target.route]]
name = "home"
path = "/"
"#
);

case!(
    empty_command,
    r#"[[target]]
name = "api"
command = []

[[target.route]]
name = "home"
path = "/"
"#
);

case!(
    command_with_spaces_in_the_program,
    r#"[[target]]
name = "api"
command = ["npm start"]

[[target.route]]
name = "home"
path = "/"
"#
);

case!(
    port_placeholder_typo,
    r#"[[target]]
name = "api"
command = ["node", "server.js", "--port", "{prot}"]
url = "http://127.0.0.1:$PORT"

[[target.route]]
name = "home"
path = "/"
"#
);

case!(
    unsupported_runtime,
    r#"[[target]]
name = "worker"
runtime = "bun"
command = ["bun", "server.ts"]

[[target.route]]
name = "home"
path = "/"

[[target]]
name = "api"
runtime = "nodejs"
command = ["node", "server.js"]

[[target.route]]
name = "home"
path = "/"
"#
);

case!(
    worker_keys,
    r#"[[target]]
name = "no-entry"
runtime = "workerd"

[[target.route]]
name = "home"
path = "/"

[[target]]
name = "both"
runtime = "workerd"
main = "src/index.js"
config = "config.capnp"
compatibility_date = "2024-9-23"
bindings = { "bad-name" = "x" }

[[target.route]]
name = "home"
path = "/"

[[target]]
name = "wrangled"
runtime = "wrangler"
compatibility_date = "2024-09-23"

[[target.route]]
name = "home"
path = "/"

[[target]]
name = "api"
command = ["node", "server.js"]
main = "server.js"

[[target.route]]
name = "home"
path = "/"
"#
);

case!(
    deno_needs_a_command,
    r#"[[target]]
name = "deno"
runtime = "deno"

[[target.route]]
name = "home"
path = "/"
"#
);

case!(
    missing_required_keys,
    r#"[[target]]
cwd = "app"

[[target.route]]
method = "POST"
"#
);

case!(
    route_path_and_method,
    format!(
        "{TARGET}
[[target.route]]
name = \"chat\"
method = \"PO ST\"
path = \"api/chat\"

[[target.route]]
name = \"full-url\"
path = \"http://127.0.0.1:3000/health\"
"
    )
);

case!(
    single_bracket_target,
    r#"[target]
name = "api"
command = ["node", "server.js"]
"#
);

case!(
    requests_to_limit_without_memory_limit,
    format!(
        "{TARGET}
[[target.route]]
name = \"chat\"
path = \"/\"

[target.route.budget]
requests_to_limit = 100000
"
    )
);

case!(
    env_and_url_mistakes,
    r#"[[target]]
name = "api"
command = ["node", "server.js"]
env = { PORT = "8080" }
url = "https://localhost:{port}"

[[target.route]]
name = "home"
path = "/"
"#
);

case!(secret_free_header_checks, format!("{TARGET}
[[target.route]]
name = \"chat\"
path = \"/\"
headers = {{ Content-Type = \"application/json\", content-type = \"text/plain\", \"bad header\" = \"x\" }}
"));

case!(
    env_value_not_a_string,
    r#"[[target]]
name = "api"
command = ["node", "server.js"]

[target.env]
WORKERS = 2

[[target.route]]
name = "home"
path = "/"
"#
);

case!(
    toml_syntax_error,
    r#"[[target]]
name = "api
command = ["node", "server.js"]
"#
);

case!(no_targets, "[defaults]\nrequests = 100\n");

case!(
    names_that_cannot_be_file_names,
    r#"[[target]]
name = "my api"
command = ["node", "server.js"]

[[target.route]]
name = "POST /chat"
path = "/chat"
"#
);

// `ignored` (leave a route out of runs) against the budget's `ignore` (class keys never
// counted): each in the other's table is told where it goes, and `ignored` takes a flag or a
// reason that says something.
case!(
    ignored_mistakes,
    format!(
        "[defaults]
ignored = true

{TARGET}ignored = 1

[[target.route]]
name = \"chat\"
path = \"/api/chat\"

[target.route.budget]
ignored = true

[[target.route]]
name = \"models\"
path = \"/api/models\"
ignore = [\"(system)\"]
"
    )
);

case!(
    ignored_with_an_empty_reason,
    format!(
        "{TARGET}
[[target.route]]
name = \"chat\"
path = \"/api/chat\"
ignored = \"  \"
"
    )
);

#[test]
fn unknown_allocations_mode_suggests_one() {
    let text = format!(
        "{TARGET}allocations = \"sampled\"\n\n[[target.route]]\nname = \"r\"\npath = \"/\"\n"
    );
    let err = errors(&text);
    assert!(err.contains("unknown allocations mode `sampled`"), "{err}");
    assert!(err.contains(r#"help: write "sampling" or "off""#), "{err}");
    let typo = errors(&text.replace("sampled", "samplng"));
    assert!(typo.contains("did you mean `sampling`?"), "{typo}");
    let ok =
        format!("{TARGET}allocations = \"off\"\n\n[[target.route]]\nname = \"r\"\npath = \"/\"\n");
    assert!(Spec::parse(&ok, Path::new("leakspec.toml")).is_ok());
}

// Realistic traffic (issue 11): a placeholder nothing defines, a capture used before the step
// that makes it, `{row.*}` without a data file, a step that says nothing to send, two shapes in
// one route, malformed capture, abort and status strings, a load command's placeholder.
case!(
    traffic_unknown_and_early_placeholders,
    format!(
        "{TARGET}
[[target.route]]
name = \"session\"

[[target.route.step]]
name = \"me\"
path = \"/api/me?user={{row.email}}\"
headers = {{ authorization = \"Bearer {{token}}\" }}

[[target.route.step]]
name = \"login\"
method = \"POST\"
path = \"/api/login\"
capture = {{ token = \"json:$.token\" }}

[[target.route.step]]
name = \"logout\"
method = \"POST\"
path = \"/api/logout/{{seqq}}\"
headers = {{ authorization = \"Bearer {{tokne}}\" }}
"
    )
);

// Each of these stops at the shape check, so one spec each.
case!(
    traffic_flow_without_steps,
    format!(
        "{TARGET}
[[target.route]]
name = \"session\"
step = []
"
    )
);

case!(
    traffic_two_shapes_in_one_route,
    format!(
        "{TARGET}
[[target.route]]
name = \"feed\"
path = \"/api/feed\"
sse = \"/events\"
"
    )
);

case!(
    traffic_step_that_sends_nothing,
    format!(
        "{TARGET}
[[target.route]]
name = \"session\"

[[target.route.step]]
name = \"nothing\"
headers = {{ accept = \"application/json\" }}
"
    )
);

case!(
    traffic_load_command_placeholder,
    format!(
        "{TARGET}
[[target.route]]
name = \"bulk\"
load = {{ command = [\"npx\", \"autocannon\", \"-a\", \"{{reqests}}\", \"{{url}}/api\"] }}
"
    )
);

case!(
    traffic_malformed_capture_abort_and_status,
    format!(
        "{TARGET}
[[target.route]]
name = \"login\"
abort = \"later\"

[[target.route.step]]
method = \"POST\"
path = \"/api/login\"
capture = {{ token = \"xml:/session/token\", sid = \"cookie:\" }}
expect_status = [\"6xx\", 99]
abort = \"after:soon\"
"
    )
);

/// The errors `Spec::load` gives for a spec in a folder holding `files` (name, contents): the
/// data files a route names are read then. The folder's path is replaced by `<dir>`.
fn load_errors(spec: &str, files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("leakspec.toml"), spec).unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    match Spec::load(&dir.path().join("leakspec.toml")) {
        Ok(_) => panic!("the spec was accepted:\n{spec}"),
        Err(errors) => errors.to_string().replace(&dir.path().display().to_string(), "<dir>"),
    }
}

#[test]
fn traffic_data_files_missing_empty_or_without_the_column() {
    let route = |name: &str, data: &str| {
        format!(
            "[[target.route]]\nname = \"{name}\"\ndata = \"{data}\"\nmethod = \"POST\"\npath = \"/api/login\"\nbody = '{{\"email\": \"{{row.email}}\"}}'\n"
        )
    };
    let text = format!(
        "{TARGET}\n{}\n{}\n{}\n{}",
        route("missing", "users.csv"),
        route("empty", "empty.csv"),
        route("header-only", "header.csv"),
        route("no-column", "names.csv"),
    );
    let files = [("empty.csv", ""), ("header.csv", "email\n"), ("names.csv", "name\nada\n")];
    insta::with_settings!({ description => &text, omit_expression => true }, {
        insta::assert_snapshot!(load_errors(&text, &files));
    });
}

// `max_failed_requests` (issue 10): a number or a percentage of the iterations sent.
case!(
    max_failed_requests_a_float,
    format!(
        "[defaults.budget]
max_failed_requests = 1.5

{TARGET}
[[target.route]]
name = \"a\"
path = \"/\"
"
    )
);

case!(
    max_failed_requests_malformed,
    format!(
        "{TARGET}
[target.budget]
max_failed_requests = \"150%\"

[[target.route]]
name = \"a\"
path = \"/\"

[target.route.budget]
max_failed_requests = -2

[[target.route]]
name = \"b\"
path = \"/\"

[target.route.budget]
max_failed_requests = \"a few\"
"
    )
);

#[test]
fn max_failed_requests_is_a_count_or_a_share_inherited_like_any_budget_key() {
    use leakcheck::leakspec::FailedRequests;
    let spec = Spec::parse(
        &format!(
            "[defaults.budget]
max_failed_requests = \"0.5%\"

{TARGET}
[[target.route]]
name = \"a\"
path = \"/\"

[[target.route]]
name = \"b\"
path = \"/\"

[target.route.budget]
max_failed_requests = 3
"
        ),
        Path::new("leakspec.toml"),
    )
    .unwrap();
    let plan = leakcheck::plan::plan(&spec, &Default::default()).unwrap();
    let routes = &plan.targets[0].routes;
    assert_eq!(routes[0].budget.max_failed_requests, Some(FailedRequests::Share(0.005)));
    assert_eq!(routes[1].budget.max_failed_requests, Some(FailedRequests::Count(3)));
}
