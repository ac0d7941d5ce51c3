//! A full ledger (here: its size capped at what it holds when the coordinator starts, as a
//! full disk would) turns into a clear error and a refusal to grant: from the first failed
//! commit on, no award is announced, the health endpoint says why, and the metrics count the
//! failures.

mod common;

use std::time::{Duration, Instant as WallInstant};

use common::{SLOT_MS, TestSite};
use powerslot_protocol::agent::Need;
use powerslot_protocol::{Demand, PowerValue, Priority, SlotClock};
use powerslot_server::agent::{self, AgentEvent, Job, Source};
use powerslot_server::ledger::Ledger;
use powerslot_server::service::{self, Command};
use tokio::sync::{mpsc, watch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_ledger_grants_nothing_and_says_why() {
    let mut site = TestSite::new("full", 20_000, &["meter", "washer"]);
    let size = Ledger::open(&site.opts.ledger_path())
        .unwrap()
        .size_bytes()
        .unwrap();
    site.opts.max_ledger_bytes = Some(size);
    let running = service::start(site.opts.clone()).await.unwrap();

    let grid = SlotClock::new(powerslot_protocol::Instant(0), SLOT_MS);
    let first = grid.slot_at(site.clock.now()) + 1;
    // The meter's telemetry, forecasts and log lines soon need a page the ledger cannot have.
    let mut meter = site.agent(&running, "meter");
    meter.source = Source::Trace {
        values_w: (0..400).map(|i| 500.0 + (i % 7) as f64 * 100.0).collect(),
        start: 100,
    };
    meter.horizon = 8;
    // The washer asks for a 1 kW cycle every second slot.
    let mut washer = site.agent(&running, "washer");
    washer.jobs = (0..30u32)
        .map(|k| {
            let at = first + 2 * k;
            Job {
                at,
                need: Need {
                    priority: Priority::Normal,
                    earliest_start: at + 1,
                    deadline: at + 4,
                    demand: Demand::PowerProfile {
                        profile: vec![PowerValue::exact(1_000_000)],
                        interruptible: false,
                        min_on_slots: 0,
                        min_off_slots: 0,
                    },
                    bid_per_mille: 1000,
                    accept_until: at + 4,
                },
            }
        })
        .collect();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let tasks = vec![
        tokio::spawn(agent::run(meter, stop_rx.clone(), Some(ev_tx.clone()))),
        tokio::spawn(agent::run(washer, stop_rx.clone(), Some(ev_tx.clone()))),
    ];
    drop(ev_tx);

    let metrics = running.handle.metrics.clone();
    let started = WallInstant::now();
    let mut failed_at: Option<WallInstant> = None;
    let mut requested_after = Vec::new();
    let mut awarded_after = Vec::new();
    while started.elapsed() < Duration::from_secs(50) {
        let ev = tokio::time::timeout(Duration::from_millis(100), ev_rx.recv()).await;
        if failed_at.is_none()
            && metrics
                .ledger_write_errors
                .load(std::sync::atomic::Ordering::Relaxed)
                > 0
        {
            failed_at = Some(WallInstant::now());
        }
        let Ok(Some(ev)) = ev else { continue };
        // Requests sent a moment after the first failure: nothing can be granted to them.
        let after = failed_at.is_some_and(|t| t.elapsed() > Duration::from_millis(300));
        match ev {
            AgentEvent::Requested { request, .. } if after => requested_after.push(request),
            AgentEvent::Awarded { request, .. } if requested_after.contains(&request) => {
                awarded_after.push(request)
            }
            _ => {}
        }
        if requested_after.len() >= 4 && failed_at.unwrap().elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    let failed_at = failed_at.expect("the capped ledger never filled up");
    assert!(
        requested_after.len() >= 3,
        "requests after the failure: {requested_after:?} (failed {:?} after start)",
        failed_at.duration_since(started)
    );
    assert!(
        awarded_after.is_empty(),
        "awards announced while the ledger could not store them: {awarded_after:?}"
    );
    let status = running
        .handle
        .ask(Command::Status)
        .await
        .expect("the loop answers");
    assert_eq!(status.status, "degraded");
    assert!(!status.ledger_ok);
    let why = status.ledger_error.unwrap_or_default();
    assert!(why.contains("full"), "{why}");
    let text = running.handle.metrics.render();
    assert!(text.contains("powerslot_ledger_ok 0"), "{text}");
    // The machine made the awards (its book holds them) but they were never stored.
    let ledger = Ledger::open_read_only(&site.opts.ledger_path()).unwrap();
    let stored: Vec<u64> = ledger
        .award_versions()
        .unwrap()
        .into_iter()
        .map(|v| v.1)
        .collect();
    for r in &requested_after {
        assert!(!stored.contains(r), "request {r} has a stored award");
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // Shutting down says the writes were not committed.
    assert!(running.shutdown().await.is_err());
}
