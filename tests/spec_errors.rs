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
