//! Snapshots of what a real `leakcheck run` writes: the terminal report (stdout, no colour),
//! the progress lines on stderr (as in a CI log), the JUnit XML and the JSON, from one small
//! run of `tests/fixtures/specs/report.toml` (ai-gateway: `chat-stream` passes, `access-log`
//! leaks one string that grows, its `authorization` header redacted).
//!
//! What changes from run to run is redacted: sizes and rates (heap sizes wobble by a few KiB),
//! object counts, heap object ids (`@12345`), array indices on retainer paths, timings, the pid,
//! the port, the temporary folder, the wall-clock timestamps and the blocks of the heap
//! sparklines (their number, one per snapshot, stays). What stays is the structure and the
//! wording, which is what these snapshots are for.
//!
//! Skipped (with a message) when `node` is not on the PATH.

mod common;

use std::sync::OnceLock;

use serde_json::Value;

/// The outputs of the one run all tests here share, with the run's folder already replaced by
/// `[tmp]` (the folder itself is gone).
struct Outputs {
    stdout: String,
    stderr: String,
    json: Value,
    junit: String,
    code: i32,
}

/// Runs `report.toml` once for all the tests of this file.
fn outputs() -> &'static Outputs {
    static OUTPUTS: OnceLock<Outputs> = OnceLock::new();
    OUTPUTS.get_or_init(|| {
        // Sampled allocation sites differ from run to run: tests/run_allocations.rs checks them.
        let run = common::run_spec(&common::spec("report"), &["--allocations", "off"]);
        let tmp = run.dir.path().display().to_string();
        let specs = common::spec("report").parent().unwrap().display().to_string();
        let local = |text: &str| text.replace(&tmp, "[tmp]").replace(&specs, "[specs]");
        let json = run.json().to_string();
        Outputs {
            stdout: local(&run.stdout()),
            stderr: local(&run.stderr()),
            json: serde_json::from_str(&local(&json)).unwrap(),
            junit: local(run.junit()),
            code: run.code(),
        }
    })
}

/// Replaces the numbers that change between runs by placeholders, by what follows or precedes
/// them: `4.2 MiB` → `[size]`, `0.5 s` → `[secs]`, `@94257` → `@[id]`, `12,571 objects` →
/// `[n] objects`, `[106]` → `[i]`, `pid 123` → `pid [pid]`, `127.0.0.1:4100` →
/// `127.0.0.1:[port]`. Request counts, rung numbers and "1 passed" stay.
fn redact(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let word_before = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        // A sparkline's blocks follow the heap, which wobbles: their count (one per snapshot)
        // stays.
        if ('▁'..='█').contains(&c) {
            out.push('▒');
            i += 1;
            continue;
        }
        if !c.is_ascii_digit() || word_before {
            out.push(c);
            i += 1;
            continue;
        }
        // A number: digits with `,` or `.` between digits.
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || (matches!(chars[i], ',' | '.')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            i += 1;
        }
        let number: String = chars[start..i].iter().collect();
        let rest: String = chars[i..chars.len().min(i + 12)].iter().collect();
        let before: String = chars[start.saturating_sub(10)..start].iter().collect();
        let followed_by_word = |w: &str| {
            rest.starts_with(w) && !rest[w.len()..].starts_with(|c: char| c.is_alphanumeric())
        };
        let placeholder = if before.ends_with('@') {
            "[id]"
        } else if before.ends_with("pid ") {
            "[pid]"
        } else if before.ends_with("127.0.0.1:") {
            "[port]"
        } else if before.ends_with('[') && rest.starts_with(']') {
            "i"
        } else if [" B", " KiB", " MiB", " GiB"].iter().any(|u| followed_by_word(u)) {
            "[size]"
        } else if followed_by_word(" s") {
            "[secs]"
        } else if [" object", " objects", " nodes", " more", " →"]
            .iter()
            .any(|w| followed_by_word(w))
        {
            "[n]"
        } else {
            &number
        };
        out += placeholder;
        // A size's unit goes with its number.
        if placeholder == "[size]" {
            let unit =
                rest[1..].find(|c: char| !c.is_ascii_alphabetic()).map_or(rest.len(), |n| n + 1);
            i += unit;
        } else if placeholder == "[secs]" {
            i += 2;
        }
    }
    out
}

/// The value of every `attr="..."` in `xml` replaced by `[placeholder]`.
fn redact_attr(xml: &str, attr: &str, placeholder: &str) -> String {
    let key = format!(" {attr}=\"");
    let mut out = String::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&key) {
        out += &rest[..at + key.len()];
        rest = &rest[at + key.len()..];
        let end = rest.find('"').expect("attribute values are quoted");
        out += placeholder;
        rest = &rest[end..];
    }
    out + rest
}

/// JSON keys whose numbers change between runs.
const WOBBLY: &[&str] = &[
    "heap_used",
    "nodes",
    "snapshot_bytes",
    "graph_bytes",
    "compact_graph_bytes",
    "rss_after_streaming",
    "snapshot_time",
    "elapsed",
    "p50",
    "p99",
    "peak_heap",
    "peak_rss",
    "timings",
    "heap",
    "bytes",
    "objects",
    "bytes_per_rung",
    "objects_per_rung",
    "retained",
    "per_step",
    "r_squared",
    "total",
    "id",
    "node_id",
    "holder_id",
    "bytes_per_request",
    "objects_per_request",
    "body_bytes",
    "idle",
    "array_buffers",
    "external",
    "rss",
    "peak_external",
];

/// Steps of a retainer path kept in the JSON snapshot. Further from the leak, where the path
/// reaches Node's own objects, V8 breaks ties between equally short paths differently from run
/// to run (`process._events.SIGINT` or `.SIGTERM`, `process` or `_process`: dictionary order
/// follows the per-process hash seed), so the rest is cut.
const PATH_STEPS: usize = 3;

/// The process's own memory line with its rates taken out: whether RSS (moving in allocator
/// pages) or external memory grows linearly over three rungs varies from run to run.
fn steady_memory_line(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.contains("process memory at each rung") {
                line.replace(" (+[size] per request)", "")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if text.ends_with('\n') { "\n" } else { "" }
}

/// Redacts the JSON: numbers under [`WOBBLY`] keys become `"[n]"`, strings go through
/// [`redact`], an edge name that is an array index becomes `"[i]"`, and retainer paths keep
/// their first [`PATH_STEPS`] steps.
fn redact_json(value: &mut Value, wobbly: bool) {
    if let Some(steps) = value.get_mut("steps").and_then(Value::as_array_mut)
        && steps.len() > PATH_STEPS
    {
        steps.truncate(PATH_STEPS);
        steps.push(Value::from("[...]"));
        value["elided"] = Value::from("[n]");
    }
    match value {
        Value::Number(_) if wobbly => *value = Value::from("[n]"),
        Value::String(s) if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() => {
            *value = Value::from("[i]")
        }
        Value::String(s) => *s = redact(s),
        Value::Array(items) => items.iter_mut().for_each(|v| redact_json(v, wobbly)),
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                redact_json(v, wobbly || WOBBLY.contains(&key.as_str()));
            }
        }
        _ => {}
    }
}

/// The leaked string of `access-log` is appended to, then read (which flattens it), per request.
/// V8's GC may or may not have replaced the flattened cons string by its flat first half when
/// the snapshot is taken (it depends on which collections ran), so a path may start with that
/// extra `first in (concatenated string)` step or not. It is taken out of the outputs, and the
/// text's paths (cut at five steps by the report) keep their first four steps.
const FLATTENED_CONS_STEP: &str = "first in (concatenated string) @[id]";

/// Every retainer path line of a redacted text report without [`FLATTENED_CONS_STEP`], cut to
/// its first four steps (the report cuts at five, so one more step of the root's side shows
/// when the cons string's is not there).
fn drop_flattened_cons_text(text: &str) -> String {
    let line = |line: &str| {
        let body = line.trim_start();
        if !body.contains(" <- ") || !body.ends_with("(global)") {
            return line.to_owned();
        }
        let indent = &line[..line.len() - body.len()];
        let all: Vec<&str> = body.split(" <- ").collect();
        let steps: Vec<&str> = all
            .iter()
            .copied()
            .filter(|s| *s != FLATTENED_CONS_STEP && !s.starts_with("...") && *s != "(global)")
            .collect();
        let cut = steps.len() > 4 || all.iter().any(|s| s.starts_with("..."));
        let shown = steps[..steps.len().min(4)].join(" <- ");
        format!("{indent}{shown}{} <- (global)", if cut { " <- ..." } else { "" })
    };
    text.split('\n').map(line).collect::<Vec<_>>().join("\n")
}

/// [`FLATTENED_CONS_STEP`] in the JSON: a path's first step through a cons string's `first`.
fn drop_flattened_cons_step(value: &mut Value) {
    if let Some(steps) = value.get_mut("steps").and_then(Value::as_array_mut)
        && steps.first().is_some_and(|step| {
            step["edge_name"] == "first" && step["holder_class"] == "(concatenated string)"
        })
    {
        steps.remove(0);
    }
    match value {
        Value::Array(items) => items.iter_mut().for_each(drop_flattened_cons_step),
        Value::Object(map) => map.values_mut().for_each(drop_flattened_cons_step),
        _ => {}
    }
}

#[test]
fn both_shapes_of_the_flattened_string_read_the_same() {
    let with = "      first in (concatenated string) @[id] <- adminAccessLog in system / Context @[id] <- context in (closure) @[id] <- onClose in system / Context @[id] <- previous in system / Context @[id] <- ... [n] more <- (global)";
    let without = "      adminAccessLog in system / Context @[id] <- context in (closure) @[id] <- onClose in system / Context @[id] <- previous in system / Context @[id] <- context in (closure) @[id] <- ... [n] more <- (global)";
    assert_eq!(drop_flattened_cons_text(with), drop_flattened_cons_text(without));
    let short = "    tasks[[i]] in Array @[id] <- tasks in global @[id] <- (global)";
    assert_eq!(drop_flattened_cons_text(short), short);
}

#[test]
fn redaction_keeps_the_wording() {
    let line =
        "  LEAK (string): +77 B per request (12,571 → 12,571 objects, 443.8 KiB → 473.9 KiB)";
    assert_eq!(
        redact(line),
        "  LEAK (string): +[size] per request ([n] → [n] objects, [size] → [size])"
    );
    assert_eq!(
        redact("auditTrail[106] in Array @86553 <- ... 7 more <- (global), 400 requests"),
        "auditTrail[i] in Array @[id] <- ... [n] more <- (global), 400 requests"
    );
    assert_eq!(
        redact("api: ready after 0.5 s (pid 23663) at http://127.0.0.1:4100/health, s0"),
        "api: ready after [secs] (pid [pid]) at http://127.0.0.1:[port]/health, s0"
    );
    assert_eq!(redact("+2.3 KiB/request, tiny-1-chat"), "+[size]/request, tiny-1-chat");
    assert_eq!(redact("chat  ▁▄█  +64 B/request"), "chat  ▒▒▒  +[size]/request");
}

#[test]
fn exit_status_of_the_report_run() {
    require_node!();
    assert_eq!(outputs().code, 1, "access-log leaks:\n{}", outputs().stdout);
}

#[test]
fn terminal_report() {
    require_node!();
    // The growing holder of `access-log` is a closure context, named after its largest child
    // (`adminAccessLog`) only when that child holds more than half of it; here it holds about
    // half, so the name comes and goes between runs and is taken out.
    let text = redact(&outputs().stdout).replace(
        "growing holder `adminAccessLog` system / Context",
        "growing holder system / Context",
    );
    let text = steady_memory_line(&drop_flattened_cons_text(&text));
    insta::assert_snapshot!("terminal", text);
}

#[test]
fn progress_lines() {
    require_node!();
    insta::assert_snapshot!("progress", redact(&outputs().stderr));
}

#[test]
fn junit_report() {
    require_node!();
    let xml = redact_attr(&outputs().junit, "timestamp", "[timestamp]");
    let xml = redact_attr(&xml, "time", "[secs]");
    // Detection limits follow each run's noise.
    let xml = redact_attr(&xml, "value", "[n]");
    let xml = redact(&xml).replace(
        "growing holder `adminAccessLog` system / Context",
        "growing holder system / Context",
    );
    let xml = steady_memory_line(&drop_flattened_cons_text(&xml));
    // One element per line, so that a change shows as a readable diff.
    insta::assert_snapshot!("junit", xml.replace("><", ">\n<"));
}

#[test]
fn json_report() {
    require_node!();
    let mut json = outputs().json.clone();
    drop_flattened_cons_step(&mut json);
    redact_json(&mut json, false);
    // As in the text: whether the growing holder (a closure context) names its largest child
    // depends on that child's share of it, which sits at 50% here and varies from run to run.
    for route in json["targets"][0]["routes"].as_array_mut().unwrap() {
        // Which of the process's own figures grow linearly over three rungs (RSS moves in
        // allocator pages) varies from run to run; tests/run_offheap.rs checks them.
        if let Some(memory) = route["verdict"].get_mut("memory") {
            *memory = Value::from("[varies]");
        }
        for holder in route["verdict"]["holders"].as_array_mut().into_iter().flatten() {
            if let Some(h) = holder.as_object_mut() {
                for key in ["largest_child", "culprit"] {
                    if h.contains_key(key) {
                        h.insert(key.into(), Value::from("[varies]"));
                    }
                }
            }
        }
    }
    insta::assert_json_snapshot!("json", json);
}
