//! The dashboard in a real browser: a coordinator with three agents, `chromedriver` started
//! here on a free port, headless Chromium driven over WebDriver (loopback only).
//!
//! It checks that the page loads without errors; that its chart and its device table show
//! the numbers the API gives; that an award made through the protocol shows on the page
//! within two seconds; that a class changed on the page reaches the ledger and the next
//! negotiation; that the page reconnects by itself after the coordinator restarts and that an
//! action there (a circuit's limit) shows. It writes screenshots at desktop and phone widths
//! and prints where.
//!
//! Without `chromedriver` and Chromium the test is skipped with a message, except under CI
//! (`CI=true`), where `.ci/run` installs them and their absence fails it.
//!
//! The WebDriver protocol is JSON over HTTP; the few commands needed are spoken here
//! directly (through [`probe`]), so the test adds no dependency.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestSite;
use powerslot_protocol::agent::Need;
use powerslot_protocol::{Demand, PowerValue, Priority, SlotClock};
use powerslot_server::agent::{self, AgentEvent, Job, Source};
use powerslot_server::probe;
use powerslot_server::service::{self, BrokerChoice};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

/// The first of `names` found on the PATH (or in /usr/bin, /usr/lib/chromium).
fn find_program(names: &[&str]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push("/usr/bin".into());
    dirs.push("/usr/lib/chromium".into());
    names
        .iter()
        .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
        .find(|p| p.is_file())
}

/// `chromedriver` on a port of its own; killed (by its process id) when dropped.
struct Driver {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_driver(program: &Path) -> Driver {
    let port = free_port();
    let child = Command::new(program)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", program.display()));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut d = Driver { child, addr };
    for _ in 0..200 {
        if probe::get(addr, "/status").is_ok_and(|r| r.status == 200) {
            return d;
        }
        if let Ok(Some(status)) = d.child.try_wait() {
            panic!("{} ended at start: {status}", program.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} did not answer on port {port}", program.display());
}

/// A WebDriver session with headless Chromium (W3C WebDriver, the commands this test needs).
struct Browser {
    driver: SocketAddr,
    session: String,
}

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn webdriver(driver: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Value {
    let body = body.map(|b| b.to_string());
    let r = tokio::task::block_in_place(|| {
        probe::request_waiting(
            driver,
            method,
            path,
            None,
            body.as_deref(),
            Duration::from_secs(60),
        )
    })
    .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
    let v: Value = serde_json::from_str(&r.body)
        .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}: {}", r.body));
    assert_eq!(r.status, 200, "WebDriver {method} {path}: {v}");
    v["value"].clone()
}

impl Browser {
    fn start(driver: SocketAddr, chromium: &Path) -> Self {
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-extensions", "--window-size=1280,800",
                         "--hide-scrollbars"],
            }
        }}});
        let v = webdriver(driver, "POST", "/session", Some(caps));
        Self {
            driver,
            session: v["sessionId"].as_str().expect("a session id").to_string(),
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        webdriver(self.driver, method, &path, body)
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element '{css}': {v}"))
            .to_string()
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    fn type_in(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn set_window_size(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    fn screenshot(&self) -> Vec<u8> {
        let v = self.cmd("GET", "/screenshot", None);
        base64_decode(v.as_str().expect("a base64 PNG"))
    }

    fn close(self) {
        webdriver(
            self.driver,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

/// Standard base64 (the screenshot's encoding).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .map(value)
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | (u32::from(d) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

fn api(http: SocketAddr, path: &str) -> Value {
    let r = probe::get(http, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    serde_json::from_str(&r.body).unwrap()
}

/// Polls `check` every 50 ms until it gives `Some`, at most `tries` times.
async fn until<T, F: AsyncFnMut() -> Option<T>>(what: &str, tries: u32, mut check: F) -> T {
    for _ in 0..tries {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting: {what}");
}

fn no_errors(c: &Browser, when: &str) {
    let errors = c.js("return window.__powerslotErrors || ['the page did not start'];");
    assert_eq!(errors, json!([]), "errors on the page {when}");
}

/// A job of `kw` for `slots` slots that the agent asks for at slot `at`.
fn job(at: u32, kw: i64, slots: usize, priority: Priority) -> Job {
    Job {
        at,
        need: Need {
            priority,
            earliest_start: at + 1,
            deadline: at + 30,
            demand: Demand::PowerProfile {
                profile: vec![PowerValue::exact(kw * 1_000_000); slots],
                interruptible: false,
                min_on_slots: 0,
                min_off_slots: 0,
            },
            bid_per_mille: 1000,
            accept_until: at + 30,
        },
    }
}

/// The page's chart of circuit `site` as the API would give it: per series the values
/// joined by commas (empty for none).
const CHART_JS: &str = r#"
const svg = document.querySelector('[data-circuit="site"] svg');
if (!svg) return null;
const s = (n) => svg.querySelector(`path[data-series="${n}"]`).dataset.mw;
return { from: +svg.dataset.from, to: +svg.dataset.to,
         capacity: s('capacity'), committed: s('committed'), measured: s('measured') };
"#;

const TABLE_JS: &str = r#"
return [...document.querySelectorAll('#devices tbody tr[data-device]')].map((tr) => ({
  id: tr.dataset.device,
  state: tr.querySelector('[data-field="state"]').dataset.state,
  priority: tr.querySelector('select').dataset.priority,
  measured_mw: tr.querySelector('[data-field="measured_mw"]').dataset.mw,
}));
"#;

fn joined(slots: &Value, field: &str) -> String {
    slots
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[field].as_i64().map(|v| v.to_string()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_api_live_in_a_browser() {
    let driver_bin = find_program(&["chromedriver"]);
    let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"]);
    let (Some(driver_bin), Some(chromium)) = (driver_bin, chromium) else {
        let why = "chromedriver and Chromium are not installed (Debian: apt-get install chromium chromium-driver)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{why}: under CI the browser test must run");
        }
        eprintln!("skipped: {why}");
        return;
    };

    // A 6 kW site: a and c report their load (a also runs jobs), b runs a job every 4 slots.
    let mut site = TestSite::new("dash", 6_000, &["a", "b", "c"]);
    site.opts.http = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    let running = service::start(site.opts.clone()).await.unwrap();
    let http = running.http.unwrap();
    let grid = SlotClock::new(powerslot_protocol::Instant(0), common::SLOT_MS);
    let first = grid.slot_at(site.clock.now()) + 1;
    let trace = |base: f64| Source::Trace {
        values_w: (0..400).map(|i| base + (i % 7) as f64 * 40.0).collect(),
        start: 60,
    };
    let mut a = site.agent(&running, "a");
    a.source = trace(400.0);
    a.jobs = (0..20)
        .map(|k| job(first + 1 + 5 * k, 2, 3, Priority::Normal))
        .collect();
    let mut b = site.agent(&running, "b");
    b.jobs = (0..40)
        .map(|k| job(first + 4 * k, 1, 2, Priority::High))
        .collect();
    let mut c = site.agent(&running, "c");
    c.source = trace(250.0);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ev_tx, mut events) = mpsc::unbounded_channel();
    let agents: Vec<_> = [a, b, c]
        .into_iter()
        .map(|o| tokio::spawn(agent::run(o, stop_rx.clone(), Some(ev_tx.clone()))))
        .collect();
    drop(ev_tx);

    let driver = start_driver(&driver_bin);
    let client = Browser::start(driver.addr, &chromium);
    // Let a few slots pass so that the charts have a past.
    tokio::time::sleep(Duration::from_secs(4)).await;

    // 1. The page loads, goes live, shows every device, without errors.
    let url = format!("http://{http}/");
    let t0 = Instant::now();
    client.goto(&url);
    until("the page is live with three devices", 200, async || {
        let v = client.js("return document.querySelector('#live').textContent === 'live' && document.querySelectorAll('#devices tbody tr').length === 3 && !!document.querySelector('[data-circuit=\"site\"] svg');",
        );
        (v == json!(true)).then_some(())
    })
    .await;
    let ready = t0.elapsed();
    let nav = client.js("const n = performance.getEntriesByType('navigation')[0]; return [n.domContentLoadedEventEnd, n.loadEventEnd];",
    );
    println!(
        "page load: DOMContentLoaded {} ms, load {} ms (navigation timing); live with data after {} ms",
        nav[0],
        nav[1],
        ready.as_millis()
    );
    no_errors(&client, "after loading");
    let csp = probe::get(http, "/").unwrap();
    assert_eq!(csp.status, 200);
    assert!(
        !csp.body.contains(&running.handle.token),
        "the token is never in the page"
    );

    // 2. The chart shows the numbers of the API (for the very window it drew).
    let (chart, series) = until("the chart to match the API", 100, async || {
        let chart = client.js(CHART_JS);
        if chart.is_null() {
            return None;
        }
        let path = format!(
            "/api/circuits/site/series?from={}&to={}",
            chart["from"], chart["to"]
        );
        let series = api(http, &path);
        let slots = &series["slots"];
        let same = chart["capacity"] == joined(slots, "capacity_mw")
            && chart["committed"] == joined(slots, "committed_mw")
            && chart["measured"] == joined(slots, "measured_mw");
        same.then_some((chart, series))
    })
    .await;
    assert!(
        chart["measured"]
            .as_str()
            .unwrap()
            .split(',')
            .any(|v| !v.is_empty()),
        "measured load is drawn: {chart}"
    );
    assert!(
        series["slots"].as_array().unwrap().len() >= 90,
        "past and planned slots: {series}"
    );

    // 3. The device table shows the API's devices: state, class, measured power.
    until("the device table to match the API", 100, async || {
        let table = client.js(TABLE_JS);
        let devices = api(http, "/api/devices");
        let expect: Vec<Value> = devices
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                json!({
                    "id": d["id"],
                    "state": d["state"],
                    "priority": d["priority"],
                    "measured_mw": d["measured_mw"].as_i64().map(|v| v.to_string()).unwrap_or_default(),
                })
            })
            .collect();
        (table == Value::Array(expect)).then_some(())
    })
    .await;

    // 4. An award made through the protocol is on the page within two seconds: the first
    // award b receives from now on.
    while events.try_recv().is_ok() {}
    let (request, awarded_at) = loop {
        match events.recv().await.expect("the agents run") {
            AgentEvent::Awarded {
                device, request, ..
            } if device.as_str() == "b" => break (request, Instant::now()),
            _ => {}
        }
    };
    let bar = format!(
        "return !!document.querySelector('#gantt rect[data-device=\"b\"][data-request=\"{request}\"]');"
    );
    until("the award on the page", 200, async || {
        (client.js(&bar) == json!(true)).then_some(())
    })
    .await;
    let shown = awarded_at.elapsed();
    println!(
        "event latency: award {request} of b on the page {} ms after the agent received it",
        shown.as_millis()
    );
    assert!(
        shown < Duration::from_secs(2),
        "the award took {shown:?} to show"
    );

    // 5. A class changed on the page reaches the ledger and the next negotiation.
    client.type_in("#token", &running.handle.token);
    client.click("#token-form button[type=submit]");
    client.click("#prio-b option[value=low]");
    let operator_id = until("the class change in the ledger", 200, async || {
        let log = api(http, "/api/log?tail=true&limit=1000");
        log.as_array().unwrap().iter().find_map(|e| {
            (e["event"] == "operator"
                && e["detail"]["operator"]["what"] == "priority of b set to low")
                .then(|| e["id"].as_i64().unwrap())
        })
    })
    .await;
    let devices = api(http, "/api/devices");
    assert_eq!(
        devices
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == "b")
            .unwrap()["priority"],
        "low"
    );
    // b's next request is negotiated in its new class (b asks as "high"; the operator wins).
    let next = until("b's next request after the change", 400, async || {
        let log = api(
            http,
            &format!("/api/log?after={operator_id}&device=b&limit=1000"),
        );
        log.as_array()
            .unwrap()
            .iter()
            .find(|e| e["event"] == "request")
            .cloned()
    })
    .await;
    assert_eq!(next["detail"]["request"]["priority"], "low", "{next}");
    let row = format!(
        "return !!document.querySelector('#log tr[data-log=\"{}\"]');",
        next["id"]
    );
    until("the new request in the page's log", 200, async || {
        (client.js(&row) == json!(true)).then_some(())
    })
    .await;
    let class_shown = client.js("return document.querySelector('#prio-b').value + ' ' + document.querySelector('#message').textContent;",
    );
    assert!(
        class_shown.as_str().unwrap().starts_with("low "),
        "{class_shown}"
    );
    no_errors(&client, "after the actions");

    // 6. Screenshots at desktop and phone widths; no sideways scrolling on a phone.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, w, h) in [("desktop", 1280u32, 800u32), ("phone", 390, 844)] {
        client.set_window_size(w, h);
        let fits = format!(
            "return window.innerWidth <= {w} && document.querySelector('#gantt svg').getAttribute('width') <= window.innerWidth;"
        );
        until("the page to lay out again", 100, async || {
            (client.js(&fits) == json!(true)).then_some(())
        })
        .await;
        // A new render after the resize (the page re-reads 150 ms after one), from the top.
        tokio::time::sleep(Duration::from_millis(600)).await;
        client.js("document.activeElement.blur(); window.scrollTo(0, 0);");
        let overflow =
            client.js("return document.documentElement.scrollWidth - window.innerWidth;");
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "{name}: the page scrolls sideways by {overflow} px"
        );
        std::fs::write(dir.join(format!("{name}.png")), client.screenshot()).unwrap();
        let full = client.js("return document.documentElement.scrollHeight;");
        client.set_window_size(w, full.as_u64().unwrap().clamp(h.into(), 6000) as u32);
        tokio::time::sleep(Duration::from_millis(600)).await;
        std::fs::write(dir.join(format!("{name}-full.png")), client.screenshot()).unwrap();
    }
    println!("screenshots: {}", dir.display());
    client.set_window_size(1280, 800);

    // 7. The coordinator restarts: the page reconnects by itself, and an action there shows.
    running.shutdown().await.unwrap();
    until("the page to notice", 200, async || {
        (client.js("return document.querySelector('#live').textContent;") != json!("live"))
            .then_some(())
    })
    .await;
    let mut again = site.opts.clone();
    again.http = Some(http);
    // The old embedded broker lives as long as the process; the new one takes another port.
    again.broker = BrokerChoice::Embedded(SocketAddr::from(([127, 0, 0, 1], 0)));
    let running = service::start(again).await.unwrap();
    until("the page to reconnect", 200, async || {
        (client.js("return document.querySelector('#live').textContent;") == json!("live"))
            .then_some(())
    })
    .await;
    client.type_in("#limit-site", "4.5");
    client.click("[data-circuit=\"site\"] form button");
    until("the new limit on the page", 200, async || {
        let v = client
            .js("return document.querySelector('[data-now-field=\"capacity_mw\"]').dataset.mw;");
        (v == json!("4500000")).then_some(())
    })
    .await;
    no_errors(&client, "after the restart");

    client.close();
    drop(driver);
    let _ = stop_tx.send(true);
    for t in agents {
        t.await.unwrap().unwrap();
    }
    running.shutdown().await.unwrap();
}
