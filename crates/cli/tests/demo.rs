//! `powerslot demo` end to end: the binary runs briefly on free loopback ports; while it runs,
//! the test reads its HTTP API and checks that awards were made and that, slot by slot and on
//! every circuit, what the coordinator granted fits the budget it was given beside what it
//! holds for load nobody controls; at the
//! end, the demo's own summary must agree (no budget violation, awards made) and its report
//! and figure must be written.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use powerslot_server::mqtt::free_port;
use powerslot_server::probe;

/// A child process killed when the test ends, however it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let r = probe::get(addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("GET {path}: {e}: {}", r.body))
}

#[test]
fn the_demo_awards_within_the_budget_and_says_so() {
    let http = SocketAddr::from(([127, 0, 0, 1], free_port("127.0.0.1").unwrap()));
    let mqtt = format!("127.0.0.1:{}", free_port("127.0.0.1").unwrap());
    let out = std::env::temp_dir().join(format!("powerslot-demo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let child = Command::new(env!("CARGO_BIN_EXE_powerslot"))
        .args(["demo", "--devices", "12", "--duration", "14", "--json"])
        .args(["--http", &http.to_string(), "--mqtt", &mqtt])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("powerslot demo starts");
    let mut child = Proc(child);

    // The API comes up with the coordinator.
    let started = Instant::now();
    while probe::get(http, "/api/health").is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the demo's API did not come up on {http}"
        );
        if let Some(st) = child.0.try_wait().unwrap() {
            panic!("powerslot demo exited during start-up: {st}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let health = get_json(http, "/api/health");
    let first = health["slot"].as_u64().unwrap();
    let devices = get_json(http, "/api/devices");
    let devices = devices.as_array().unwrap();
    let n = devices.len();
    assert_eq!(n, 12, "the demo was asked for 12 devices: {devices:?}");

    // Let a few hours of protocol time pass (a slot is 0.625 s at the default speed), then
    // read what was granted and the budget, on every circuit.
    std::thread::sleep(Duration::from_secs(7));
    let now = get_json(http, "/api/health")["slot"].as_u64().unwrap();
    assert!(
        now > first + 4,
        "protocol time did not run: {first} → {now}"
    );
    let alloc = get_json(
        http,
        &format!("/api/allocations?from={first}&to={}", now + 8),
    );
    let granted: usize = alloc
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["grants"].as_array().unwrap().len())
        .sum();
    assert!(
        granted > 0,
        "no grant in slots {first}..{}: {alloc}",
        now + 8
    );
    let mut circuits = vec!["site".to_string()];
    for d in devices {
        let c = d["circuit"].as_str().unwrap().to_string();
        if !circuits.contains(&c) {
            circuits.push(c);
        }
    }
    assert!(circuits.len() > 2, "the houses' circuits: {circuits:?}");
    for c in &circuits {
        let b = get_json(http, &format!("/api/budget?circuit={c}&from={now}"));
        let cap = b["capacity_mw"].as_array().unwrap();
        let committed = b["committed_mw"].as_array().unwrap();
        let reserved = b["reserved_mw"].as_array().unwrap();
        assert!(!cap.is_empty());
        for (k, ((cap, com), res)) in cap.iter().zip(committed).zip(reserved).enumerate() {
            let (cap, com, res) = (
                cap.as_i64().unwrap(),
                com.as_i64().unwrap(),
                res.as_i64().unwrap(),
            );
            // Grants fit what the load nobody controls leaves; where that load alone is
            // over the capacity, nothing is granted.
            assert!(
                com <= cap.max(res),
                "circuit {c}, slot {}: {com} mW committed ({res} mW held for load nobody \
                 controls) over {cap} mW",
                now + k as u64
            );
        }
    }
    // The site's budget comes from the solar-and-battery publisher, which is fed what the
    // coordinator expects the households to draw: it varies over the horizon, or stays at
    // the inverter's rating where the battery can carry that all day.
    let site = get_json(http, &format!("/api/budget?circuit=site&from={now}"));
    let ints = |k: &str| -> Vec<i64> {
        site[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect()
    };
    let (caps, expected) = (ints("capacity_mw"), ints("expected_mw"));
    let rating = site["rating_mw"].as_i64().unwrap();
    assert_eq!(caps.len(), expected.len());
    assert!(
        expected.iter().any(|&e| e > 0),
        "no household load is expected on the site: {expected:?}"
    );
    assert!(
        caps.iter().all(|&c| (0..=rating).contains(&c))
            && (caps.iter().min() < caps.iter().max() || caps[0] == rating),
        "the site's capacity is neither a curve nor its rating ({rating} mW): {caps:?}"
    );
    let status = get_json(http, "/api/health");
    assert!(status["stats"]["awards"].as_u64().unwrap() > 0);

    // The demo ends by itself after --duration and prints its result.
    let stdout = child.0.stdout.take().unwrap();
    let mut last = String::new();
    for line in BufReader::new(stdout).lines() {
        last = line.unwrap();
    }
    let st = child.0.wait().unwrap();
    assert!(st.success(), "powerslot demo failed: {st}");
    let r: serde_json::Value = serde_json::from_str(&last).expect("one JSON object");
    for key in [
        "devices",
        "slots",
        "budget_violations",
        "peak_w",
        "uncoordinated_peak_w",
        "deadline_misses",
        "energy_served_kwh",
        "awards",
        "messages",
    ] {
        assert!(r.get(key).is_some(), "no {key} in {r}");
    }
    assert_eq!(r["devices"].as_u64().unwrap() as usize, n);
    assert_eq!(r["budget_violations"], 0, "{r}");
    assert!(r["awards"].as_u64().unwrap() > 0, "{r}");
    assert!(r["slots"].as_u64().unwrap() >= 8, "{r}");
    assert!(r["messages"].as_u64().unwrap() > 0, "{r}");
    assert!(r["peak_w"].as_f64().unwrap() > 0.0, "{r}");
    // Every miss is told by why the coordinator last refused it, and they add up.
    let by_reason = r["misses_by_reason"].as_object().expect("misses by reason");
    let told: u64 = by_reason.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(told, r["deadline_misses"].as_u64().unwrap(), "{r}");
    // The report on disk is the printed one, and the figure is there.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(saved["awards"], r["awards"]);
    for f in ["site.svg", "site.png"] {
        let len = std::fs::metadata(out.join(f)).map_or(0, |m| m.len());
        assert!(len > 1000, "{f} missing or empty in {}", out.display());
    }
    let _ = std::fs::remove_dir_all(&out);
}
