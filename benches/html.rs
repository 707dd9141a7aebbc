//! The HTML report's cost: a run of 10 routes rendered to one page, timed over many renders,
//! with the page's size. The routes are heavier than typical: half of them fail with 4 leaking
//! classes of 3 holders each (8-step retainer paths), 3 growing holders and a lock diff of 8
//! figures, 3 causes with 3 allocation sites of 8-frame stacks each, the process's memory
//! figures, over 6 snapshots; the others pass.
//!
//! `cargo bench --bench html` (`HTML_BENCH_ROUTES`, default 10, changes the route count).

use std::time::{Duration, Instant};

use leakcheck::model::RunReport;
use leakcheck::report::html::{HtmlOptions, render};
use serde_json::{Value, json};

fn path(seed: u64) -> Value {
    let steps: Vec<Value> = (0..8)
        .map(|i| {
            json!({ "edge_kind": "property", "edge_name": format!("field{i}"),
                    "label": format!("field{i}[{seed}]"), "holder_class": "system / Context",
                    "holder_id": 10_000 + seed * 10 + i })
        })
        .collect();
    json!({ "node_id": seed, "reached": true, "steps": steps, "elided": 5, "origin": "(global)" })
}

fn route(i: u64, rungs: u64) -> Value {
    let fail = i.is_multiple_of(2);
    let rung = |k: u64| {
        json!({ "requests": k * 500, "heap_used": 5_000_000 + k * 180_000 * u64::from(fail) + (k * 7919) % 30_000,
                "nodes": 50_000 + k * 800, "snapshot_bytes": 6_000_000 + k * 90_000, "snapshot_time": 0.4,
                "kept": format!("leakcheck-snapshots/api/route-{i}/s{k}.heapsnapshot"),
                "graph_bytes": 3_000_000, "compact_graph_bytes": 2_000_000, "rss_after_streaming": null,
                "array_buffers": 150_000 + k * 4_096, "external": 1_900_000 + k * 8_192, "rss": 52_000_000 + k * 65_536 })
    };
    let leaks: Vec<Value> = if fail {
        (0..4)
            .map(|c| {
                let per = 1 + c;
                json!({ "class": format!("{{id, prompt, model, user{c}}}"), "objects_per_request": per as f64,
                        "bytes_per_request": 48.0 * per as f64, "objects": [100, 100 + per * 500 * (rungs - 1)],
                        "bytes": [4800, 4800 + 48 * per * 500 * (rungs - 1)],
                        "objects_per_rung": (0..rungs).map(|k| 100 + per * 500 * k).collect::<Vec<_>>(),
                        "bytes_per_rung": (0..rungs).map(|k| 4800 + 48 * per * 500 * k).collect::<Vec<_>>(),
                        "holders": (0..3).map(|h| json!({ "culprit": format!("requestLog{h}"), "holder": format!("Map @{}", 900 + h),
                            "objects": 500, "bytes": 24_000, "hint": null, "path": path(i * 100 + c * 10 + h) })).collect::<Vec<_>>() })
            })
            .collect()
    } else {
        Vec::new()
    };
    let holders: Vec<Value> = if fail {
        (0..3)
            .map(|h| {
                json!({ "node": { "id": 700 + h }, "class": "Map", "culprit": format!("cache{h}"),
                        "retained": (0..rungs).map(|k| 1000 + k * 96_000).collect::<Vec<_>>(),
                        "fit": { "trend": "linear", "per_step": 192.0, "r_squared": 1.0, "total": 480_000.0 },
                        "largest_child": null, "path": path(5000 + h) })
            })
            .collect()
    } else {
        Vec::new()
    };
    let frame = |f: u64| {
        json!({ "function": format!("handler{f}"), "file": format!("/srv/app/src/routes/route{i}.js"),
                "line": 10 + f, "column": 5 })
    };
    let site = |s: u64| {
        json!({ "site": frame(s), "library": { "package": "lru-cache", "frame": frame(40 + s) },
                "via": null, "stack": (0..8).map(|f| frame(s * 10 + f)).collect::<Vec<_>>(),
                "objects": 2_500.0, "bytes": 120_000.0, "objects_per_request": 1.0,
                "bytes_per_request": 48.0, "share": 0.3, "samples": 40 })
    };
    // The leaks grouped under 3 causes, each with 3 allocation sites of 8-frame stacks.
    let causes: Vec<Value> = if fail {
        (0..3)
            .map(|c| {
                json!({ "culprit": format!("requestLog{c}"), "holder": format!("Map @{}", 900 + c),
                        "bytes_per_request": 160.0, "share": 0.33,
                        "classes": (0..2).map(|k| json!({ "class": format!("{{id, prompt, model, user{k}}}"),
                            "objects_per_request": 1.0, "bytes_per_request": 48.0 })).collect::<Vec<_>>(),
                        "hint": null, "path": path(i * 100 + c), "sites": (0..3).map(site).collect::<Vec<_>>() })
            })
            .collect()
    } else {
        Vec::new()
    };
    let figures: Vec<Value> = (0..8)
        .map(|f| {
            json!({ "name": format!("class C{f}"), "unit": "bytes_per_request", "recorded": 48.0,
                         "measured": 48.0 + f as f64, "allowed": 92.0, "change": "same" })
        })
        .collect();
    json!({
        "name": format!("route-{i}"), "method": "POST", "path": format!("/api/v1/route/{i}"),
        "headers": [["content-type", "application/json"]], "outcome": if fail { "fail" } else { "pass" },
        "error": null, "rungs": (0..rungs).map(rung).collect::<Vec<_>>(), "warmup": 100,
        "load": { "sent": 2500, "ok": 2500, "statuses": {}, "transport_errors": 0, "first_error": null,
                  "body_bytes": 100_000, "elapsed": 2.0, "p50": 0.001, "p99": 0.01 },
        "peak_heap": 6_500_000, "timings": { "wall": 9.0, "snapshots": 3.0, "requests": 5.0, "gc": 0.2, "analysis": 0.4 },
        "line": 10 + i, "peak_external": 2_500_000, "peak_rss": 60_000_000, "causes": causes,
        "allocations": { "mechanism": "sampling", "interval": 32_768, "requests": 2500, "samples": 400,
                         "bytes": 1_200_000.0, "runtime_bytes": 40_000.0, "sites": (0..3).map(site).collect::<Vec<_>>() },
        "verdict": {
            "pass": !fail,
            "failures": if fail { json!([{ "kind": "linear_growth", "classes": ["{id, prompt}"], "bytes_per_request": 480.0, "objects_per_request": 4.0 }]) } else { json!([]) },
            "bytes_per_request": if fail { 480.0 } else { 0.0 }, "heap": [5_000_000, 5_900_000],
            "leaks": leaks, "holders": holders,
            "projection": { "limit": 134_217_728, "bytes_per_request": 480.0, "requests": 270_000 },
            "unsure": [], "detection_limit": { "bytes_per_request": 41.0, "objects_per_request": 0.2 },
            "memory": { "array_buffers": null, "rss": null,
                        "external": { "trend": "linear", "per_step": 16.4, "r_squared": 0.99, "total": 40_960.0 } },
            "lock": { "status": "within", "tolerance": "25% + 32B", "figures": figures },
            "budget": { "memory_limit": 134_217_728, "max_heap_growth": 8_388_608, "ignore": ["(compiled code)"] }
        }
    })
}

fn main() {
    let routes: u64 =
        std::env::var("HTML_BENCH_ROUTES").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let doc = json!({
        "format": leakcheck::model::RUN_FORMAT, "spec": "leakspec.toml", "interrupted": null, "elapsed": 95.0,
        "peak_rss": null,
        "targets": [{ "name": "api", "runtime": "node", "error": null, "exit": null, "stderr_tail": null,
                      "routes": (0..routes).map(|i| route(i, 6)).collect::<Vec<_>>() }]
    });
    let report = RunReport::from_json(&doc.to_string()).expect("a leakcheck-run report");
    let options = HtmlOptions::new("leakcheck run: leakspec.toml");
    let page = render(&report, &options);
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 200 && start.elapsed() < Duration::from_secs(10) {
        let t = Instant::now();
        let page = render(&report, &options);
        times.push(t.elapsed());
        std::hint::black_box(page);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "html: {routes} routes → {:.1} KiB page; render median {:.2} ms, fastest {:.2} ms, slowest {:.2} ms ({} renders)",
        page.len() as f64 / 1024.0,
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len()
    );
}
