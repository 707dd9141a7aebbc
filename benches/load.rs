//! The load driver against autocannon: the same trivial Node server, the same concurrency, the
//! same number of requests, alternating three times; the best rate of each is reported. Also
//! the driver with per-request values (`/items/{seq}?r={rand:1..1000}` and a templated
//! header, through the flow driver), to show what templating costs.
//!
//! `cargo bench --bench load` (needs `node`, and autocannon from `bench/`: `cd bench && npm
//! install`). `LOAD_BENCH_REQUESTS` (default 20000) and `LOAD_BENCH_CONCURRENCY` (default
//! 10) change the batch.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leakcheck::load::{self, RequestTemplate};

const SERVER: &str = "require('http').createServer((req, res) => { res.setHeader('content-type', 'text/plain'); res.end('ok'); }).listen(+process.env.PORT, '127.0.0.1', () => console.log('ready'));";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let autocannon = root.join("bench/node_modules/autocannon/autocannon.js");
    if Command::new("node").arg("--version").output().is_err() || !autocannon.exists() {
        eprintln!("skipped: needs node and autocannon (cd bench && npm install)");
        return;
    }
    let requests = env_or("LOAD_BENCH_REQUESTS", 20_000);
    let concurrency = env_or("LOAD_BENCH_CONCURRENCY", 10) as usize;
    let port = leakcheck::launch::free_port().expect("a free port");
    let mut server = Command::new("node")
        .args(["-e", SERVER])
        .env("PORT", port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node starts");
    let url = format!("http://127.0.0.1:{port}/");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let request = RequestTemplate {
        method: reqwest::Method::GET,
        url: url.clone(),
        headers: Default::default(),
        body: None,
        timeout: Duration::from_secs(10),
        expect: leakcheck::leakspec::traffic::StatusSet::success(),
    };
    let client = load::client(concurrency);
    runtime.block_on(async {
        // Wait for the server, then warm both sides up (JIT, connection pools).
        let deadline = Instant::now() + Duration::from_secs(10);
        while client.get(&url).send().await.is_err() {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        load::drive(&client, &request, 2_000, concurrency, Arc::new(|_| {})).await;
    });

    let spec = leakcheck::leakspec::Spec::parse(
        "[[target]]\nname = \"b\"\ncommand = [\"node\"]\n[[target.route]]\nname = \"t\"\npath = \"/items/{seq}?r={rand:1..1000}\"\nheaders = { x-request-id = \"{uuid}\" }\n",
        std::path::Path::new("bench.toml"),
    )
    .expect("the bench spec parses");
    let flow = spec.targets[0].routes[0].traffic.flow().expect("a flow").clone();
    let driver = Arc::new(
        load::Driver::new(&flow, &url, Duration::from_secs(10), &Vec::new()).expect("it compiles"),
    );
    let (mut ours, mut theirs, mut templated) = (0.0f64, 0.0f64, 0.0f64);
    for round in 1..=3 {
        let stats = runtime.block_on(load::drive(
            &client,
            &request,
            requests,
            concurrency,
            Arc::new(|_| {}),
        ));
        assert_eq!(stats.ok, requests, "every request answered");
        let rate = stats.rate();
        ours = ours.max(rate);

        let work = load::Work::Flow { driver: driver.clone(), first_seq: round * requests };
        let (stats, _) = runtime.block_on(load::drive_work(
            &client,
            &work,
            requests,
            concurrency,
            u64::MAX,
            Arc::new(|_| {}),
            std::future::pending(),
        ));
        assert_eq!(stats.ok, requests, "every templated request answered");
        templated = templated.max(stats.rate());

        let out = Command::new("node")
            .arg(&autocannon)
            .args(["-c", &concurrency.to_string(), "-a", &requests.to_string(), "-j", &url])
            .stderr(Stdio::null())
            .output()
            .expect("autocannon runs");
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("autocannon's JSON");
        let total = json["requests"]["total"].as_f64().unwrap_or(0.0);
        // `duration` is rounded; the start and finish timestamps are exact to the millisecond.
        let millis = |key: &str| {
            json[key].as_str().and_then(|t| {
                let t = t.trim_end_matches('Z');
                let (_, time) = t.split_once('T')?;
                let mut parts = time.split(':');
                let h: f64 = parts.next()?.parse().ok()?;
                let m: f64 = parts.next()?.parse().ok()?;
                let s: f64 = parts.next()?.parse().ok()?;
                Some(((h * 60.0 + m) * 60.0 + s) * 1000.0)
            })
        };
        let seconds = match (millis("start"), millis("finish")) {
            (Some(a), Some(b)) if b > a => (b - a) / 1000.0,
            _ => json["duration"].as_f64().unwrap_or(f64::NAN),
        };
        let theirs_rate = total / seconds;
        theirs = theirs.max(theirs_rate);
        eprintln!("round {round}: leakcheck {rate:.0} req/s, autocannon {theirs_rate:.0} req/s");
    }
    let _ = server.kill();
    let _ = server.wait();
    println!("| driver | requests | concurrency | best rate (req/s) |");
    println!("|---|---|---|---|");
    println!("| leakcheck | {requests} | {concurrency} | {ours:.0} |");
    println!("| autocannon 8.0.0 | {requests} | {concurrency} | {theirs:.0} |");
    println!(
        "| leakcheck, templated path and header | {requests} | {concurrency} | {templated:.0} |"
    );
    println!("\nleakcheck reaches {:.0}% of autocannon's rate", 100.0 * ours / theirs);
    println!("templating costs {:.1}% of the plain rate", 100.0 * (1.0 - templated / ours));
}
