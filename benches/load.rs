//! The load driver against autocannon, on a real Node service: `shop-api.js` from
//! `tests/fixtures/services/` (its router, JSON responses, logger and all), `GET
//! /api/products/:sku`, which only reads a catalogue built by the first request. In one run,
//! alternating `LOAD_BENCH_ROUNDS` times (default 3), with the same concurrency and count:
//!
//! - leakcheck with one fixed request (the plain route's fast path) and autocannon with the
//!   same request: is the driver at or above autocannon's rate?
//! - leakcheck with per-request values (`/api/products/SKU-10500?ref={seq}&r={rand:1..1000}`
//!   and an `x-request-id: {uuid}` header, through the flow driver, as the runner drives such
//!   a route), the same request with fixed values (the fast path), and autocannon with its own
//!   per-request ids (`-I`, `[<id>]` in the query and the header): what templating costs. The
//!   values land where the service does the same work whatever they are;
//! - leakcheck with a two-step flow per iteration (the product, its `sku` captured from the
//!   JSON, then the product again by the captured value): what flows cost per request;
//! - leakcheck with the fixed request through the flow driver (what a route with per-request
//!   values pays for the driver, apart from the values themselves);
//! - and, with no I/O, the templating alone: the templated route's path and header filled in
//!   and made into a URL and a header map, as the flow driver does per request, in a loop.
//!
//! Each is reported as its best and median rate over the rounds and as the median CPU time the
//! load generator spent per request (leakcheck's own process; autocannon's, as a child waited
//! for), from `/proc/self/stat`; costs compare medians. The service is
//! a single-threaded Node process, so on a small machine the rate is mostly the service's: the
//! CPU per request is what shows the driver's own cost.
//!
//! `cargo bench --bench load` (needs `node`, and autocannon from tests/fixtures: `cd
//! tests/fixtures && npm ci`). `LOAD_BENCH_REQUESTS` (default 20000),
//! `LOAD_BENCH_CONCURRENCY` (default 10) and `LOAD_BENCH_ROUNDS` change the batch.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leakcheck::load::{self, RequestTemplate, Work};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU seconds (user + system) of this process and of its children waited for, from
/// `/proc/self/stat` (clock ticks of 1/100 s).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |n: usize| rest.split_whitespace().nth(n).and_then(|v| v.parse::<f64>().ok());
    // utime, stime, cutime, cstime are fields 14-17 of proc(5); `rest` starts at field 3.
    let ticks = |a: usize, b: usize| (field(a).unwrap_or(0.0) + field(b).unwrap_or(0.0)) / 100.0;
    (ticks(11, 12), ticks(13, 14))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// One driver's rounds: requests per second and CPU microseconds per request.
#[derive(Default)]
struct Series {
    rates: Vec<f64>,
    cpu_us: Vec<f64>,
}

impl Series {
    fn add(&mut self, requests: u64, seconds: f64, cpu: f64) -> (f64, f64) {
        let (rate, us) = (requests as f64 / seconds, cpu * 1e6 / requests as f64);
        self.rates.push(rate);
        self.cpu_us.push(us);
        (rate, us)
    }

    fn best_rate(&self) -> f64 {
        self.rates.iter().copied().fold(0.0, f64::max)
    }

    fn median_rate(&self) -> f64 {
        median(&self.rates)
    }

    fn median_cpu(&self) -> f64 {
        median(&self.cpu_us)
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// A route of `bench.toml` compiled by the flow driver, as the runner compiles it.
fn driver(route: &str, base: &str) -> Arc<load::Driver> {
    let text = format!("[[target]]\nname = \"b\"\ncommand = [\"node\"]\n{route}");
    let spec = leakcheck::leakspec::Spec::parse(&text, Path::new("bench.toml"))
        .unwrap_or_else(|e| panic!("the bench spec parses: {e:?}"));
    let flow = spec.targets[0].routes[0].traffic.flow().expect("a flow").clone();
    Arc::new(
        load::Driver::new(&flow, base, Duration::from_secs(10), &Vec::new()).expect("compiles"),
    )
}

/// autocannon's rate over `requests`, from its JSON (`duration` is rounded to the second;
/// the start and finish timestamps are exact to the millisecond).
fn autocannon_seconds(json: &serde_json::Value) -> f64 {
    let millis = |key: &str| {
        json[key].as_str().and_then(|t| {
            let (_, time) = t.trim_end_matches('Z').split_once('T')?;
            let mut parts = time.split(':');
            let h: f64 = parts.next()?.parse().ok()?;
            let m: f64 = parts.next()?.parse().ok()?;
            let s: f64 = parts.next()?.parse().ok()?;
            Some(((h * 60.0 + m) * 60.0 + s) * 1000.0)
        })
    };
    match (millis("start"), millis("finish")) {
        (Some(a), Some(b)) if b > a => (b - a) / 1000.0,
        _ => json["duration"].as_f64().unwrap_or(f64::NAN),
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let autocannon = root.join("tests/fixtures/node_modules/.bin/autocannon");
    let service = root.join("tests/fixtures/services/shop-api.js");
    if Command::new("node").arg("--version").output().is_err() || !autocannon.exists() {
        eprintln!("skipped: needs node and autocannon (cd tests/fixtures && npm ci)");
        return;
    }
    let requests = env_or("LOAD_BENCH_REQUESTS", 20_000);
    let concurrency = env_or("LOAD_BENCH_CONCURRENCY", 10) as usize;
    let rounds = env_or("LOAD_BENCH_ROUNDS", 3);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!("{cores} cores, load average {} at the start", load_average());

    let port = leakcheck::launch::free_port().expect("a free port");
    let mut server = Command::new("node")
        .arg(&service)
        .env("PORT", port.to_string())
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("node starts");
    let base = format!("http://127.0.0.1:{port}");
    let fixed = format!("{base}/api/products/SKU-10042");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let request = RequestTemplate {
        method: reqwest::Method::GET,
        url: fixed.clone(),
        headers: Default::default(),
        body: None,
        timeout: Duration::from_secs(10),
        expect: leakcheck::leakspec::traffic::StatusSet::success(),
    };
    // The templated route's request with one value each, sent as is: the same shape (path,
    // query, header), so the service does the same work per request as for the templated one.
    let mut same_shape = request.clone();
    same_shape.url = format!("{base}/api/products/SKU-10500?ref=123456&r=500");
    same_shape.headers.insert(
        "x-request-id",
        reqwest::header::HeaderValue::from_static("0b7e2f7c-2a4e-4c4b-9a57-4f1f2d9b8a61"),
    );
    let templated = driver(&templated_route(), &base);
    let fixed_by_flow = driver(
        "[[target.route]]\nname = \"s\"\n[[target.route.step]]\npath = \"/api/products/SKU-10042\"\n",
        &base,
    );
    let flow = driver(
        "[[target.route]]\nname = \"f\"\n[[target.route.step]]\npath = \"/api/products/SKU-{rand:10000..10999}\"\ncapture = { sku = \"json:$.sku\" }\n[[target.route.step]]\npath = \"/api/products/{sku}?ref={seq}\"\n",
        &base,
    );
    let client = load::client(concurrency);
    let quiet = || Arc::new(|_| {}) as Arc<dyn Fn(u64) + Send + Sync>;
    runtime.block_on(async {
        // Wait for the service, then warm both sides up (JIT, connection pools, the catalogue).
        let deadline = Instant::now() + Duration::from_secs(20);
        while !client
            .get(format!("{base}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "shop-api did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        load::drive(&client, &request, 2_000, concurrency, quiet()).await;
        let work = Work::Flow { driver: flow.clone(), first_seq: 0 };
        load::drive_work(
            &client,
            &work,
            1_000,
            concurrency,
            u64::MAX,
            quiet(),
            std::future::pending(),
        )
        .await;
    });

    // Runs `work` once and returns (requests, seconds, CPU seconds of this process).
    let ours = |work: &Work, iterations: u64, per_iteration: u64| {
        let before = cpu_seconds().0;
        let (stats, _) = runtime.block_on(load::drive_work(
            &client,
            work,
            iterations,
            concurrency,
            u64::MAX,
            quiet(),
            std::future::pending(),
        ));
        let cpu = cpu_seconds().0 - before;
        assert_eq!(stats.ok, iterations, "every iteration succeeded: {:?}", stats.first_error);
        (iterations * per_iteration, stats.elapsed.as_secs_f64(), cpu)
    };
    let theirs = |url: &str, ids: bool| {
        let before = cpu_seconds().1;
        let mut cmd = Command::new(&autocannon);
        cmd.args(["-c", &concurrency.to_string(), "-a", &requests.to_string(), "-j"]);
        if ids {
            // autocannon's argument parser (subarg) takes an argument that ends in `]` for the
            // end of a list of sub-arguments: the placeholder must not come last.
            cmd.args(["-I", "-H", "x-request-id=[<id>]-1"]);
        }
        let out = cmd.arg(url).stderr(Stdio::null()).output().expect("autocannon runs");
        let cpu = cpu_seconds().1 - before;
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("autocannon's JSON");
        let total = json["requests"]["total"].as_u64().unwrap_or(0);
        assert_eq!(json["non2xx"].as_u64(), Some(0), "autocannon got errors: {json}");
        (total, autocannon_seconds(&json), cpu)
    };

    let names = [
        "leakcheck, fixed request",
        "autocannon 8.0.0, fixed request",
        "leakcheck, fixed path, query and header of the templated shape",
        "leakcheck, templated path, query and header",
        "autocannon 8.0.0, `-I` ids in query and header",
        "leakcheck, 2-step flow with a JSON capture",
        "leakcheck, fixed request through the flow driver",
    ];
    let mut series: Vec<Series> = names.iter().map(|_| Series::default()).collect();
    for round in 1..=rounds {
        let first_seq = 1_000 + round * requests;
        let runs = [
            ours(&Work::Plain(request.clone()), requests, 1),
            theirs(&fixed, false),
            ours(&Work::Plain(same_shape.clone()), requests, 1),
            ours(&Work::Flow { driver: templated.clone(), first_seq }, requests, 1),
            theirs(&format!("{base}/api/products/SKU-10500?ref=[<id>]&r=500"), true),
            ours(&Work::Flow { driver: flow.clone(), first_seq }, requests / 2, 2),
            ours(&Work::Flow { driver: fixed_by_flow.clone(), first_seq }, requests, 1),
        ];
        for ((name, s), (sent, seconds, cpu)) in names.iter().zip(&mut series).zip(runs) {
            let (rate, us) = s.add(sent, seconds, cpu);
            eprintln!("round {round}: {name}: {rate:.0} req/s, {us:.1} µs CPU per request");
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    eprintln!("load average {} at the end", load_average());

    println!(
        "| driver ({requests} requests, concurrency {concurrency}, {rounds} rounds) | best rate (req/s) | median rate (req/s) | load generator's CPU per request (median) |"
    );
    println!("|---|---|---|---|");
    for (name, s) in names.iter().zip(&series) {
        let (best, median, cpu) = (s.best_rate(), s.median_rate(), s.median_cpu());
        println!("| {name} | {best:.0} | {median:.0} | {cpu:.1} µs |");
    }
    let [plain, cannon, shape, templ, cannon_ids, flows, by_flow] = &series[..] else {
        unreachable!()
    };
    // Medians: the rounds of each driver alternate, so each median saw the same machine.
    let cost = |s: &Series, base: &Series| {
        (
            100.0 * (1.0 - s.median_rate() / base.median_rate()),
            100.0 * (s.median_cpu() / base.median_cpu() - 1.0),
        )
    };
    println!(
        "\nleakcheck sends at {:.0}% of autocannon's rate (best {:.0}%; {:.0}% with per-request values), with {:.0}% of its CPU per request",
        100.0 * plain.median_rate() / cannon.median_rate(),
        100.0 * plain.best_rate() / cannon.best_rate(),
        100.0 * templ.median_rate() / cannon_ids.median_rate(),
        100.0 * plain.median_cpu() / cannon.median_cpu()
    );
    let lines = [
        ("templating, against the same request with fixed values", cost(templ, shape)),
        ("templating, against the plain fixed request", cost(templ, plain)),
        ("a 2-step flow with a capture, per request", cost(flows, plain)),
        ("the fixed request through the flow driver", cost(by_flow, plain)),
    ];
    for (what, (rate, cpu)) in lines {
        println!("{what}: costs {rate:.1}% of the rate, {cpu:+.1}% CPU per request");
    }
    let ns = render_ns(&templated_route());
    println!(
        "filling in the templated path and header alone: {ns:.0} ns per request, {:.2}% of the fixed request's {:.1} µs of CPU",
        ns / 10.0 / plain.median_cpu(),
        plain.median_cpu()
    );
}

/// The templated route of the comparison.
fn templated_route() -> String {
    "[[target.route]]\nname = \"t\"\npath = \"/api/products/SKU-10500?ref={seq}&r={rand:1..1000}\"\nheaders = { x-request-id = \"{uuid}\" }\n".into()
}

/// Nanoseconds per request to fill in `route`'s path and headers and make them a URL and a
/// header map, as the flow driver does before it sends: the cost of templating with no I/O,
/// in CPU time (to 1/100 s over a million requests).
fn render_ns(route: &str) -> f64 {
    use leakcheck::leakspec::traffic::Action;
    use leakcheck::load::render::{Compiled, Escape, Iteration, Rng, Scope};
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

    let text = format!("[[target]]\nname = \"b\"\ncommand = [\"node\"]\n{route}");
    let spec = leakcheck::leakspec::Spec::parse(&text, Path::new("bench.toml")).expect("parses");
    let step = &spec.targets[0].routes[0].traffic.flow().expect("a flow").steps[0];
    let scope = Scope { data: None, slots: &[] };
    let Action::Http { path, .. } = &step.action else { panic!("an HTTP step") };
    let path = Compiled::new(path, Escape::Path, &scope).expect("compiles");
    let headers: Vec<(HeaderName, Compiled)> = step
        .headers
        .iter()
        .map(|(n, t)| {
            let name = HeaderName::from_bytes(n.as_bytes()).expect("a header name");
            (name, Compiled::new(t, Escape::Header, &scope).expect("compiles"))
        })
        .collect();
    let base = "http://127.0.0.1:40000";
    let mut rng = Rng::new(1);
    // CPU time, not wall time: other work on the machine takes turns with this loop.
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let n = 1_000_000u64;
        let started = cpu_seconds().0;
        let mut total = 0usize;
        for seq in 0..n {
            let it = Iteration { seq, uuid: rng.uuid(), row: 0, vars: Vec::new() };
            let mut map = HeaderMap::new();
            let mut buf = String::new();
            for (name, value) in &headers {
                buf.clear();
                value.render(&it, None, &mut rng, &mut buf).expect("renders");
                map.insert(name.clone(), HeaderValue::from_str(&buf).expect("a header value"));
            }
            let mut p = String::new();
            path.render(&it, None, &mut rng, &mut p).expect("renders");
            let url = format!("{base}{p}");
            total += std::hint::black_box(url).len() + std::hint::black_box(map).len();
        }
        std::hint::black_box(total);
        best = best.min((cpu_seconds().0 - started) * 1e9 / n as f64);
    }
    best
}
