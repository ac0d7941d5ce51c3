//! The HTTP API conforms to the OpenAPI document it serves: every operation is called on a
//! running coordinator (with an agent feeding it), with good and bad input; each answer's
//! status must be one the document lists for that operation, and each JSON body must
//! validate against the documented schema. Bad input gets a 4xx with a reason, never a 5xx.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::TestSite;
use http_body_util::BodyExt;
use powerslot_protocol::agent::Need;
use powerslot_protocol::{Demand, PowerValue, Priority, SlotClock};
use powerslot_server::agent::{self, Job, Source};
use powerslot_server::api::{self, OPENAPI};
use serde_json::{Value, json};
use tokio::sync::watch;
use tower::ServiceExt;

struct Call {
    method: &'static str,
    path: String,
    token: bool,
    body: Option<String>,
    content_type: &'static str,
    expect: u16,
}

fn call(method: &'static str, path: &str, expect: u16) -> Call {
    Call {
        method,
        path: path.into(),
        token: false,
        body: None,
        content_type: "application/json",
        expect,
    }
}

impl Call {
    fn token(mut self) -> Self {
        self.token = true;
        self
    }
    fn json(mut self, v: Value) -> Self {
        self.body = Some(v.to_string());
        self
    }
    fn raw(mut self, body: &str, content_type: &'static str) -> Self {
        self.body = Some(body.into());
        self.content_type = content_type;
        self
    }
}

/// The document's path template matching a concrete path (query stripped).
fn template<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let path = path.split('?').next().unwrap();
    let segs: Vec<&str> = path.split('/').collect();
    doc["paths"].as_object()?.keys().find_map(|t| {
        let ts: Vec<&str> = t.split('/').collect();
        (ts.len() == segs.len()
            && ts
                .iter()
                .zip(&segs)
                .all(|(a, b)| a.starts_with('{') || a == b))
        .then_some(t.as_str())
    })
}

fn validate(doc: &Value, schema: &Value, instance: &Value, what: &str) {
    let mut root = schema.clone();
    root["components"] = doc["components"].clone();
    let v = jsonschema::draft202012::new(&root)
        .unwrap_or_else(|e| panic!("{what}: the documented schema does not compile: {e}"));
    let errors: Vec<String> = v.iter_errors(instance).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{what}: the answer does not match the document: {errors:?}\n{instance:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_conforms_to_the_openapi_document() {
    let site = TestSite::new("api", 5_000, &["a", "b"]);
    let running = powerslot_server::service::start(site.opts.clone())
        .await
        .unwrap();
    let grid = SlotClock::new(powerslot_protocol::Instant(0), common::SLOT_MS);
    let first = grid.slot_at(site.clock.now()) + 1;
    // Device a has a meter (telemetry, forecasts) and two jobs, so every table has rows.
    let mut a = site.agent(&running, "a");
    a.source = Source::Trace {
        values_w: (0..300).map(|i| 300.0 + (i % 5) as f64 * 50.0).collect(),
        start: 50,
    };
    a.jobs = (0..2u32)
        .map(|k| Job {
            at: first + k,
            need: Need {
                priority: Priority::Normal,
                earliest_start: first + k + 1,
                deadline: first + k + 20,
                demand: Demand::PowerProfile {
                    profile: vec![PowerValue::exact(2_000_000); 3],
                    interruptible: false,
                    min_on_slots: 0,
                    min_off_slots: 0,
                },
                bid_per_mille: 1000,
                accept_until: first + k + 20,
            },
        })
        .collect();
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(agent::run(a, stop_rx, None));
    // Let a few slots pass (one per second).
    tokio::time::sleep(Duration::from_secs(5)).await;

    let doc: Value = serde_json::from_str(OPENAPI).expect("the document is JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let app = api::router(running.handle.clone());
    let token = running.handle.token.clone();
    let now = grid.slot_at(site.clock.now());
    let calls = vec![
        call("GET", "/api/health", 200),
        call("GET", "/api/openapi.json", 200),
        call("GET", "/api/devices", 200),
        call("POST", "/api/devices", 401).json(json!({"id": "c"})),
        call("POST", "/api/devices", 201)
            .token()
            .json(json!({"id": "c", "max_priority": "low"})),
        call("POST", "/api/devices", 409)
            .token()
            .json(json!({"id": "c"})),
        call("POST", "/api/devices", 400)
            .token()
            .json(json!({"id": "not an id"})),
        call("POST", "/api/devices", 400)
            .token()
            .raw("{not json", "application/json"),
        call("POST", "/api/devices", 415)
            .token()
            .raw("id=c", "text/plain"),
        call("POST", "/api/devices", 422)
            .token()
            .json(json!({"id": "d", "colour": "red"})),
        call("POST", "/api/devices/a/priority", 200)
            .token()
            .json(json!({"priority": "high"})),
        call("POST", "/api/devices/zz/priority", 404)
            .token()
            .json(json!({"priority": "high"})),
        call("POST", "/api/devices/a/priority", 422)
            .token()
            .json(json!({"priority": "urgent"})),
        call("POST", "/api/devices/b/pause", 401),
        call("POST", "/api/devices/b/pause", 200).token(),
        call("POST", "/api/devices/b/resume", 200).token(),
        call("POST", "/api/devices/a/requests/123/deadline", 422)
            .token()
            .json(json!({"deadline_slot": now + 50})),
        call("POST", "/api/devices/a/requests/x/deadline", 400)
            .token()
            .json(json!({"deadline_slot": 5})),
        call("POST", "/api/circuits/site/limit", 200)
            .token()
            .json(json!({"from_slot": now + 30, "limit_mw": 4_500_000})),
        call("POST", "/api/circuits/nope/limit", 404)
            .token()
            .json(json!({"limit_mw": 1})),
        call("POST", "/api/circuits/site/limit", 400)
            .token()
            .json(json!({"limit_mw": -5})),
        call("GET", "/api/allocations", 200),
        call(
            "GET",
            &format!("/api/allocations?from={now}&to={}", now + 10),
            200,
        ),
        call("GET", "/api/allocations?from=10&to=5", 400),
        call("GET", "/api/allocations?from=abc", 400),
        call("GET", "/api/waiting", 200),
        call("GET", "/api/budget", 200),
        call("GET", "/api/budget?circuit=site&from=0&to=5", 200),
        call("GET", "/api/budget?circuit=nope", 404),
        call("GET", "/api/budget?colour=red", 400),
        call("POST", "/api/budget", 200)
            .token()
            .json(json!({"from_slot": now + 40, "values_mw": [4_000_000, 5_000_000]})),
        call("POST", "/api/budget", 200).token().json(json!({
            "from_slot": now + 40,
            "values_mw": [4_000_000],
            "class_budgets": [{"class": "low", "values_mw": [1_000_000]}]
        })),
        call("POST", "/api/budget", 400).token().json(json!({
            "from_slot": now + 40,
            "values_mw": [4_000_000],
            "class_budgets": [{"class": "high", "values_mw": [1_000_000]}]
        })),
        call("POST", "/api/budget", 422).token().json(json!({
            "from_slot": now + 40,
            "values_mw": [4_000_000],
            "class_budgets": [{"class": "low", "values_mw": [-1]}]
        })),
        call("POST", "/api/budget", 400)
            .token()
            .json(json!({"from_slot": now, "values_mw": []})),
        call("POST", "/api/budget", 404)
            .token()
            .json(json!({"circuit": "nope", "from_slot": now, "values_mw": [1]})),
        call("POST", "/api/budget", 422)
            .token()
            .json(json!({"from_slot": now, "values_mw": [-1]})),
        call("GET", "/api/forecasts", 200),
        call("GET", "/api/forecasts?device=a", 200),
        call("GET", "/api/forecasts?device=not%20an%20id", 400),
        call("GET", "/api/log", 200),
        call("GET", "/api/log?device=a&limit=5&after=1", 200),
        call("GET", "/api/log?limit=0", 400),
        call("GET", "/metrics", 200),
        call("GET", "/api/log?tail=true&limit=3", 200),
        call("GET", "/api/log?tail=true&after=3", 400),
        call("GET", "/api/circuits", 200),
        call("GET", "/api/circuits/site/series", 200),
        call(
            "GET",
            &format!("/api/circuits/site/series?from={}&to={}", now - 4, now + 4),
            200,
        ),
        call("GET", "/api/circuits/site/series?from=10&to=5", 400),
        call("GET", "/api/circuits/site/series?from=0&to=5000", 400),
        call("GET", "/api/circuits/nope/series", 404),
        call("GET", "/api/devices/a/series", 200),
        call("GET", "/api/devices/zz/series", 404),
        call("GET", "/api/devices/not%20an%20id/series", 400),
        call("GET", "/api/awards", 200),
        call("GET", "/api/awards?from=abc", 400),
        call("GET", "/api/accuracy", 200),
        call("GET", "/api/accuracy?window=0", 400),
    ];
    let mut covered = std::collections::BTreeSet::new();
    let mut saw_forecast = false;
    let mut bodies = std::collections::BTreeMap::new();
    for c in calls {
        let mut req = Request::builder().method(c.method).uri(&c.path);
        if c.token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        if c.body.is_some() {
            req = req.header("content-type", c.content_type);
        }
        let req = req
            .body(Body::from(c.body.clone().unwrap_or_default()))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let what = format!("{} {} -> {status}", c.method, c.path);
        assert_eq!(status.as_u16(), c.expect, "{what}: {text}");
        assert!(
            !status.is_server_error() || c.path == "/api/health",
            "{what}"
        );
        let t = template(&doc, &c.path).unwrap_or_else(|| panic!("{what}: not in the document"));
        let op = &doc["paths"][t][c.method.to_ascii_lowercase()];
        assert!(op.is_object(), "{what}: method not documented");
        covered.insert((t.to_string(), c.method));
        let documented = &op["responses"][status.as_str()];
        assert!(
            documented.is_object(),
            "{what}: status not documented for this operation"
        );
        if let Some(schema) = documented["content"]["application/json"]["schema"].as_object() {
            assert!(ctype.starts_with("application/json"), "{what}: {ctype}");
            let body: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
            validate(&doc, &Value::Object(schema.clone()), &body, &what);
            if c.path == "/api/forecasts?device=a" {
                saw_forecast = body.as_array().is_some_and(|a| !a.is_empty());
            }
            bodies.insert(c.path.clone(), body.clone());
            if status.is_client_error() {
                assert!(!body["error"].as_str().unwrap_or("").is_empty(), "{what}");
            }
        } else if documented["content"]["text/plain"].is_object() {
            assert!(ctype.starts_with("text/plain"), "{what}: {ctype}");
            assert!(text.contains("powerslot_frames_received_total"));
        }
    }
    assert!(saw_forecast, "the agent's forecasts reached the ledger");
    // The series hold what happened: the past slots the coordinator ran through, the
    // measured load of device a on the circuit and on its own, its awards on the timeline.
    let site_series = &bodies["/api/circuits/site/series"];
    let past: Vec<&Value> = site_series["slots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["slot"].as_u64().unwrap() < site_series["now_slot"].as_u64().unwrap())
        .collect();
    assert!(
        past.iter().any(|s| s["capacity_mw"].is_i64()),
        "past slots were recorded: {site_series:#}"
    );
    assert!(
        past.iter()
            .any(|s| s["measured_mw"].as_i64().is_some_and(|v| v > 0)),
        "the circuit's measured load comes from device a's telemetry: {site_series:#}"
    );
    let a_series = &bodies["/api/devices/a/series"];
    assert!(
        a_series["slots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["measured_mw"].as_i64().is_some_and(|v| v >= 300_000)),
        "{a_series:#}"
    );
    assert!(
        bodies["/api/awards"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["device"] == "a"),
        "device a's jobs are on the timeline: {:#}",
        bodies["/api/awards"]
    );
    let circuits = &bodies["/api/circuits"];
    assert_eq!(circuits[0]["name"], "site");
    assert!(circuits[0]["devices"].as_array().unwrap().len() >= 2);

    // The event stream: its first event says hello; a change (an operator's action) follows.
    let resp = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/api/events")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    assert!(
        doc["paths"]["/api/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
            .is_object()
    );
    covered.insert(("/api/events".to_string(), "GET"));
    let mut body = resp.into_body();
    let mut next_event = async || -> String {
        let mut text = String::new();
        while !text.contains("\n\n") {
            let frame = body.frame().await.expect("the stream stays open").unwrap();
            if let Ok(data) = frame.into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
        }
        text
    };
    let hello = next_event().await;
    assert!(
        hello.contains("event: change") && hello.contains("hello"),
        "{hello}"
    );
    let pause = Request::builder()
        .method("POST")
        .uri("/api/devices/b/pause")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.clone().oneshot(pause).await.unwrap().status(),
        StatusCode::OK
    );
    // Telemetry and slots keep coming; the operator's action is announced among them (a
    // minute is far more than it takes; without the bound a lost notice would hang the test).
    let mut seen = String::new();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    while !seen.contains("operator") {
        assert!(
            tokio::time::Instant::now() < give_up,
            "no notice of the operator's action: {seen}"
        );
        let e = next_event().await;
        // Keep-alive comments carry no data.
        let Some(data) = e.lines().find_map(|l| l.strip_prefix("data: ")) else {
            continue;
        };
        let notice: Value = serde_json::from_str(data).unwrap();
        validate(
            &doc,
            &doc["components"]["schemas"]["Notice"],
            &notice,
            "an event's notice",
        );
        seen.push_str(data);
    }
    // Every documented operation was called.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let m = method.to_ascii_uppercase();
            assert!(
                covered.iter().any(|(p, cm)| p == path && *cm == m),
                "{m} {path} is documented but was not exercised"
            );
        }
    }
    // An unknown endpoint: 404 with a reason.
    let resp = app
        .clone()
        .oneshot(Request::builder().uri("/nope").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let _ = stop_tx.send(true);
    task.await.unwrap().unwrap();
    running.shutdown().await.unwrap();
}
