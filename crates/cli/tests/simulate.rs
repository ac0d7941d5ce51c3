//! `powerslot simulate --json` as a user meets it: the real binary on a small built-in
//! scenario prints one object with the fields the fleet simulator promises, every safe run
//! fits the central reference's model (no warning), and a ratio is given only where it means
//! something.

mod common;

use serde_json::Value;

#[test]
fn the_json_report_has_every_field_and_no_run_leaves_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::run(
        dir.path(),
        &[
            "simulate",
            "--scenario",
            "poe-switch",
            "--devices",
            "24",
            "--mechanisms",
            "uncoordinated,one-shot-market,powerslot",
            "--json",
            "--no-figures",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        !out.stderr.contains("warning:"),
        "a run left the reference's model: {}",
        out.stderr
    );
    let v: Value = serde_json::from_str(&out.stdout).expect("one JSON object");
    for key in ["scenario", "devices", "slots", "central", "mechanisms"] {
        assert!(v.get(key).is_some(), "no {key}: {v}");
    }
    let reference = v["central"]["welfare"]
        .as_f64()
        .expect("a reference welfare");
    // A feasible schedule lies at or below the reference: the optimum is between the two.
    let schedule = v["central"]["schedule_welfare"]
        .as_f64()
        .expect("a full-knowledge schedule");
    assert!(schedule <= reference + 1e-6, "{schedule} above {reference}");
    let kept = v["central"]["reserve_schedule_welfare"].as_f64().unwrap();
    assert!(kept <= reference + 1e-6, "{kept} above {reference}");
    let runs = v["mechanisms"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for r in runs {
        for key in [
            "name",
            "budget_violations",
            "max_overshoot_w",
            "peak_w",
            "energy_served_kwh",
            "unmet_kwh",
            "deadline_misses",
            "welfare",
            "welfare_ratio",
            "rounds_median",
            "rounds_p99",
            "messages_per_request_median",
            "messages_per_request_p99",
            "jain",
            "starts_per_device",
            "committed_moves",
            "coordinator_ms_per_round",
            "household_unserved_kwh",
        ] {
            assert!(r.get(key).is_some(), "{} has no {key}", r["name"]);
        }
        let welfare = r["welfare"].as_f64().unwrap();
        match r["welfare_ratio"].as_f64() {
            Some(x) => assert!((x - welfare / reference).abs() < 1e-9, "{r}"),
            None => assert!(welfare <= 0.0 || reference <= 0.0, "{r}"),
        }
        if r["name"] != "uncoordinated" {
            assert_eq!(r["budget_violations"], 0, "{r}");
            assert!(
                welfare <= reference + 1e-6,
                "{r} above the reference {reference}"
            );
        }
    }
}
