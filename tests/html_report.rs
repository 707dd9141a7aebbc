//! The HTML report in a real browser: `leakcheck run --html` on a real fixture service whose
//! class names and retainer paths carry markup (`tests/fixtures/services/experiments.js`), the
//! page loaded from `file://` in headless Chromium over the DevTools protocol (leakcheck's own
//! CDP client), and checked there: no console error, no exception, no network request, every
//! measured route with its chart and one point per snapshot, the hostile names shown as text
//! and nothing of them run, links that reach the kept snapshots, the dark theme applied. A
//! screenshot of each theme and a PDF print go to `target/html-report/` for the CI log.
//!
//! `leakcheck report RUN.json --html` renders the saved report to the same page.
//!
//! Skipped (with a message) without `node` or without Chromium (`chromium`, `chromium-browser`,
//! `google-chrome`, or `$CHROMIUM`); under `CI` a missing Chromium fails instead (`.ci/run`
//! installs it).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use leakcheck::inspector::{Event, Inspector};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(30);

/// The Chromium binary, if there is one.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
        .iter()
        .find(|name| Command::new(name).arg("--version").output().is_ok_and(|o| o.status.success()))
        .map(PathBuf::from)
}

/// A headless Chromium in its own process group and profile, killed (group and all) on drop.
struct Browser {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(bin: &Path) -> Browser {
        use std::os::unix::process::CommandExt;
        let profile = tempfile::Builder::new().prefix("leakcheck-chromium-").tempdir().unwrap();
        let mut child = Command::new(bin)
            .args([
                "--headless",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                // Root in a CI container has no user namespace for the sandbox.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1200,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("chromium starts");
        // `DevToolsActivePort` in the profile holds the port once it listens; stderr says
        // `DevTools listening on ws://...` too, and keeps the reason when it fails to start.
        let stderr = child.stderr.take().unwrap();
        let lines = std::thread::spawn(move || {
            BufReader::new(stderr).lines().map_while(Result::ok).take(200).collect::<Vec<_>>()
        });
        let file = profile.path().join("DevToolsActivePort");
        let start = Instant::now();
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&file)
                .ok()
                .and_then(|text| text.lines().next().and_then(|l| l.trim().parse::<u16>().ok()))
            {
                break port;
            }
            if start.elapsed() > TIMEOUT || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not open its DevTools port: {:?}", lines.join().unwrap());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Browser { child, port, _profile: profile }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// The standard base64 alphabet, decoded (CDP sends screenshots and PDFs so).
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=' && !c.is_ascii_whitespace()) {
        acc = (acc << 6) | value(c) as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The folder for artifacts of the test: `target/html-report/`.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("html-report");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the page showed and did.
struct Visit {
    /// Every event of the visit, in order.
    events: Vec<Event>,
    /// What the DOM queries returned.
    dom: Value,
    /// The root's background colour with the dark theme asked for.
    dark_background: String,
    /// The heights of the retainer paths in collapsed `<details>`, in print.
    printed_paths: Vec<f64>,
}

/// The DOM queries, as one expression returning JSON.
const QUERY: &str = r#"(() => {
  const routes = [...document.querySelectorAll('section.route')].map((s) => {
    const heap = s.querySelector('svg.chart.heap');
    return {
      heading: s.querySelector('h2').textContent,
      heap_points: heap ? heap.querySelectorAll('circle.pt').length : null,
      heap_title: heap && heap.querySelector(':scope > title') ? heap.querySelector(':scope > title').textContent : null,
      point_titles: heap ? [...heap.querySelectorAll('circle.pt > title')].map((t) => t.textContent) : [],
      class_charts: [...s.querySelectorAll('svg.chart.objects, svg.chart.bytes')].map((c) => c.querySelectorAll('circle.pt').length),
      leaks: [...s.querySelectorAll('article.leak code.class')].map((c) => c.textContent),
      culprits: [...s.querySelectorAll('code.culprit')].map((c) => c.textContent),
      snapshot_links: [...s.querySelectorAll('.snapshots a')].map((a) => a.href),
      causes: s.querySelectorAll('article.cause').length,
      sites: [...s.querySelectorAll('article.cause ul.sites > li > code.site')].map((c) => c.textContent),
      limit: s.querySelector('p.limit') ? s.querySelector('p.limit').textContent : null,
      memory_rows: [...s.querySelectorAll('table.memory tbody th')].map((t) => t.textContent),
    };
  });
  return JSON.stringify({
    title: document.title,
    routes,
    overview_rows: document.querySelectorAll('section.overview tbody tr').length,
    active: document.querySelectorAll('script, img, iframe, object, embed, link, [onload], [onerror], [onclick]').length,
    body_text: document.body.textContent,
  });
})()"#;

async fn visit(browser: &Browser, page: &Path) -> Visit {
    let client = reqwest::Client::new();
    let list: Value = client
        .get(format!("http://127.0.0.1:{}/json/list", browser.port))
        .send()
        .await
        .expect("chromium answers /json/list")
        .json()
        .await
        .unwrap();
    let ws = list
        .as_array()
        .and_then(|targets| targets.iter().find(|t| t["type"] == "page"))
        .and_then(|t| t["webSocketDebuggerUrl"].as_str())
        .unwrap_or_else(|| panic!("no page target in {list}"))
        .to_owned();
    let cdp = Inspector::connect(&ws, TIMEOUT).await.expect("connects to the page");
    let mut events = cdp.subscribe_all();
    for domain in ["Page", "Network", "Runtime", "Log"] {
        cdp.call(&format!("{domain}.enable"), json!({}), TIMEOUT).await.unwrap();
    }
    let url = format!("file://{}", page.display());
    let nav = cdp.call("Page.navigate", json!({ "url": url }), TIMEOUT).await.unwrap();
    assert!(nav.get("errorText").is_none(), "navigation failed: {nav}");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("the page loads")
            .expect("the connection stays open");
        let loaded = event.method == "Page.loadEventFired";
        seen.push(event);
        if loaded {
            break;
        }
    }
    // Anything the page would do after its load event (it has no script: nothing) shows here.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let eval = |expression: &str| {
        let params = json!({ "expression": expression, "returnByValue": true });
        cdp.call("Runtime.evaluate", params, TIMEOUT)
    };
    let dom = eval(QUERY).await.unwrap();
    let dom: Value = serde_json::from_str(dom["result"]["value"].as_str().expect("JSON text"))
        .expect("the query returns JSON");

    let out = artifacts();
    let metrics = cdp.call("Page.getLayoutMetrics", json!({}), TIMEOUT).await.unwrap();
    let height =
        metrics["cssContentSize"]["height"].as_f64().unwrap_or(900.0).clamp(600.0, 12000.0);
    let viewport = json!({ "width": 1200, "height": height.ceil() as u64, "deviceScaleFactor": 1, "mobile": false });
    cdp.call("Emulation.setDeviceMetricsOverride", viewport, TIMEOUT).await.unwrap();
    let shot = |name: &'static str| {
        let cdp = &cdp;
        let out = out.clone();
        async move {
            let png = cdp
                .call("Page.captureScreenshot", json!({ "format": "png" }), TIMEOUT)
                .await
                .unwrap();
            let bytes = base64(png["data"].as_str().expect("screenshot data"));
            assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
            let path = out.join(name);
            std::fs::write(&path, bytes).unwrap();
            eprintln!("screenshot: {}", path.display());
        }
    };
    shot("report-light.png").await;
    let dark = json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] });
    cdp.call("Emulation.setEmulatedMedia", dark, TIMEOUT).await.unwrap();
    let background = "getComputedStyle(document.documentElement).backgroundColor";
    let dark_background =
        eval(background).await.unwrap()["result"]["value"].as_str().unwrap_or_default().to_owned();
    shot("report-dark.png").await;
    // Printed, collapsed retainer paths show (their content is laid out, not hidden).
    let print = json!({ "media": "print", "features": [] });
    cdp.call("Emulation.setEmulatedMedia", print, TIMEOUT).await.unwrap();
    let collapsed = "JSON.stringify([...document.querySelectorAll('details:not([open]) ol.path')].map((e) => e.getBoundingClientRect().height))";
    let printed_paths: Vec<f64> =
        serde_json::from_str(eval(collapsed).await.unwrap()["result"]["value"].as_str().unwrap())
            .unwrap();
    shot("report-print.png").await;
    let reset = json!({ "media": "", "features": [] });
    cdp.call("Emulation.setEmulatedMedia", reset, TIMEOUT).await.unwrap();
    let pdf = cdp
        .call("Page.printToPDF", json!({ "printBackground": false }), Duration::from_secs(60))
        .await
        .unwrap();
    let pdf = base64(pdf["data"].as_str().expect("PDF data"));
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    std::fs::write(out.join("report.pdf"), pdf).unwrap();

    while let Some(event) = events.try_recv() {
        seen.push(event);
    }
    cdp.close().await;
    Visit { events: seen, dom, dark_background, printed_paths }
}

#[test]
fn the_report_loads_in_chromium_with_a_chart_per_route_and_hostile_names_as_text() {
    require_node!();
    let Some(bin) = chromium() else {
        assert!(std::env::var_os("CI").is_none(), "Chromium is missing (.ci/run installs it)");
        eprintln!("skipped: no chromium (set CHROMIUM to its path)");
        return;
    };
    let run = common::run_spec(
        &common::spec("html"),
        &["--html", "out/report.html", "--keep-snapshots", "snaps"],
    );
    assert_eq!(run.code(), 1, "the assign route leaks\n{}", run.output_text());
    let page = run.dir.path().join("out/report.html");
    let html = std::fs::read_to_string(&page).expect("the page was written");
    std::fs::write(artifacts().join("report.html"), &html).unwrap();

    let browser = Browser::start(&bin);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let visit = runtime.block_on(visit(&browser, &page));
    drop(browser);

    // Quiet: no console message of level error or warning, no exception, no log error (a
    // blocked resource or a policy violation would be one), and no request but the page's own.
    for e in &visit.events {
        match e.method.as_str() {
            "Runtime.exceptionThrown" => panic!("exception: {}", e.params),
            "Runtime.consoleAPICalled" => {
                assert!(
                    !matches!(e.params["type"].as_str(), Some("error" | "warning" | "assert")),
                    "console: {}",
                    e.params
                )
            }
            "Log.entryAdded" => {
                assert_ne!(e.params["entry"]["level"], "error", "log: {}", e.params)
            }
            "Network.requestWillBeSent" => {
                let url = e.params["request"]["url"].as_str().unwrap_or_default();
                assert_eq!(url, format!("file://{}", page.display()), "a request: {}", e.params);
            }
            _ => {}
        }
    }
    let requests = visit.events.iter().filter(|e| e.method == "Network.requestWillBeSent").count();
    assert!(requests <= 1, "only the page itself is requested");

    // Every measured route has its chart, one point per snapshot, named for screen readers.
    let dom = &visit.dom;
    let json = run.json();
    let routes: Vec<&Value> = json["targets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["routes"].as_array().unwrap())
        .collect();
    let shown = dom["routes"].as_array().unwrap();
    assert_eq!(shown.len(), routes.len(), "{dom:#}");
    assert_eq!(dom["overview_rows"], routes.len(), "{dom:#}");
    for (route, section) in routes.iter().zip(shown) {
        let rungs = route["rungs"].as_array().unwrap().len();
        assert!(rungs >= 3, "{route}");
        assert_eq!(section["heap_points"], rungs, "{section:#}");
        let title = section["heap_title"].as_str().unwrap();
        assert!(title.starts_with("Heap of experiments › "), "{title}");
        assert_eq!(section["point_titles"].as_array().unwrap().len(), rungs);
        assert_eq!(section["snapshot_links"].as_array().unwrap().len(), rungs, "{section:#}");
        for link in section["snapshot_links"].as_array().unwrap() {
            let file = link.as_str().unwrap().strip_prefix("file://").expect("a file link");
            assert!(Path::new(file).is_file(), "the link reaches the snapshot: {file}");
        }
        for points in section["class_charts"].as_array().unwrap() {
            assert_eq!(points, rungs, "{section:#}");
        }
        // What the model holds beside the heap: the detection limit, the causes with their
        // allocation sites, the process's own memory figures (node gives them all).
        let limit = route["verdict"]["detection_limit"]["bytes_per_request"].as_f64().unwrap();
        let failed = route["verdict"]["failures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "failed_requests");
        assert_eq!(section["limit"].is_string(), limit > 0.0 && !failed, "{section:#}");
        let causes = route["causes"].as_array().map_or(0, Vec::len);
        assert_eq!(section["causes"], causes, "{section:#}");
        let sites: Vec<&str> = route["causes"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["sites"].as_array().unwrap())
            .map(|s| s["site"]["function"].as_str().unwrap())
            .collect();
        assert_eq!(section["sites"].as_array().unwrap(), &sites, "{section:#}");
        assert_eq!(
            section["memory_rows"],
            json!(["V8 heap used", "Array buffers", "External", "Resident set (RSS)"]),
            "{section:#}"
        );
    }
    let assign = &shown[1];
    assert!(assign["heading"].as_str().unwrap().contains("FAIL"), "{assign:#}");
    assert!(assign["causes"].as_u64().unwrap() >= 1, "the leak's cause: {assign:#}");
    assert!(!assign["sites"].as_array().unwrap().is_empty(), "where it was allocated: {assign:#}");

    // The hostile names are text: shown as written, and nothing of them became an element.
    assert_eq!(dom["active"], 0, "no script, image, frame or handler on the page");
    assert!(!dom["title"].as_str().unwrap().contains("pwned"), "{}", dom["title"]);
    let leaks = assign["leaks"].as_array().unwrap();
    let class = r#"{<script>document.title="pwned"</script>, <img src=x onerror=alert(1)>, checkout & "express" <b>pay</b>}"#;
    assert!(leaks.iter().any(|l| l == class), "the class name as text: {leaks:?}");
    let culprits = assign["culprits"].as_array().unwrap();
    assert!(culprits.iter().any(|c| c == "<svg onload=alert(2)>"), "{culprits:?}");
    let text = dom["body_text"].as_str().unwrap();
    assert!(text.contains("<svg onload=alert(2)> in Object"), "the retainer path as text");
    assert!(!html.contains("<script"), "no script element in the source");

    assert_eq!(visit.dark_background, "rgb(13, 17, 23)", "the dark theme applies");
    assert!(!visit.printed_paths.is_empty(), "the growing holder's path starts collapsed");
    assert!(visit.printed_paths.iter().all(|&h| h > 0.0), "printed: {:?}", visit.printed_paths);

    // The saved report renders to the same page, times aside.
    let again = run.dir.path().join("again.html");
    let out = common::leakcheck()
        .current_dir(run.dir.path())
        .args(["report", "report.json", "--html"])
        .arg(&again)
        .output()
        .unwrap();
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    assert!(
        common::stdout(&out).contains("FAIL   experiments › assign"),
        "{}",
        common::stdout(&out)
    );
    let untimed = |page: &str| {
        page.split("<span class=\"time\">")
            .enumerate()
            .map(|(i, part)| if i == 0 { part } else { &part[part.find("</span>").unwrap()..] })
            .collect::<String>()
    };
    let rendered = std::fs::read_to_string(&again).unwrap();
    // The page in `out/` links `../snaps/...`, the one beside the snapshots `./snaps/...`.
    assert_eq!(untimed(&rendered.replace("\"./snaps/", "\"../snaps/")), untimed(&html));
}

/// `leakcheck diff --html`: the comparison of snapshot files as one route, linked to the files.
#[test]
fn diff_writes_the_comparison_as_a_page() {
    require_node!();
    let fixture = common::run_fixture("map-records", 500, 2);
    let page = fixture.dir.path().join("diff.html");
    let out = common::leakcheck()
        .arg("diff")
        .args(&fixture.snapshots)
        .args(["--steps", "500", "--unit", "request", "--html"])
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(common::code(&out), 1, "a leak: {}", common::stderr(&out));
    let html = std::fs::read_to_string(&page).expect("the page was written");
    assert!(html.contains("<h1>leakcheck diff: 3 snapshots, 500 requests apart</h1>"), "{html}");
    assert!(html.contains("class=\"chart heap\""), "{html}");
    assert!(html.contains("data-points=\"3\""), "{html}");
    assert!(html.contains("<code class=\"class\">{id, prompt}</code>"), "the leaking class");
    assert!(html.contains("<code class=\"culprit\">requestLog</code>"), "its culprit");
    for i in 0..3 {
        assert!(html.contains(&format!("href=\"./s{i}.heapsnapshot\"")), "a link to s{i}");
    }
}

/// `leakcheck test --html`: the routes the harness ran, on one page.
#[test]
fn test_writes_the_page_of_the_routes_it_ran() {
    require_node!();
    let dir = tempfile::Builder::new().prefix("leakcheck-test-html-").tempdir().unwrap();
    let out = common::leakcheck()
        .current_dir(dir.path())
        .arg("test")
        .arg("--spec")
        .arg(common::spec("html"))
        .args(["--exact", "experiments::catalogue", "--html", "page.html"])
        .output()
        .unwrap();
    assert_eq!(common::code(&out), 0, "{}{}", common::stdout(&out), common::stderr(&out));
    let html = std::fs::read_to_string(dir.path().join("page.html")).expect("the page");
    assert!(html.contains("<h1>leakcheck test: "), "{html}");
    assert_eq!(html.matches("<section class=\"route pass\"").count(), 1, "{html}");
    assert!(html.contains("experiments › catalogue"), "{html}");
}
