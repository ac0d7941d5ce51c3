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

/// `slots.csv` beside the figures: one row per slot, and what it says adds up — the
/// full-knowledge schedule never goes above the room the reference gives the root, it is
/// the same energy `devices.csv` books per device, and no mechanism's loads are credited more
/// than it allocated above the reservations.
#[test]
fn the_slot_table_adds_up_to_the_device_table_and_stays_in_the_room() {
    let dir = tempfile::tempdir().unwrap();
    let figures = dir.path().join("figures");
    let out = common::run(
        dir.path(),
        &[
            "simulate",
            "--scenario",
            "poe-switch",
            "--devices",
            "24",
            "--mechanisms",
            "one-shot-market,powerslot",
            "--json",
            "--out",
            figures.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).expect("one JSON object");
    let slots = v["slots"].as_u64().unwrap() as usize;
    let slot_h = v["slot_minutes"].as_f64().unwrap() / 60.0;
    let table = std::fs::read_to_string(figures.join("slots.csv")).expect("slots.csv");
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
    };
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            l.split(',')
                .map(|x| x.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), slots);
    let classes = ["critical", "high", "normal", "low"];
    let mut scheduled_kwh = 0.0;
    for (s, row) in rows.iter().enumerate() {
        let room = row[col("reference_room_kw")].max(0.0);
        let placed: f64 = classes
            .iter()
            .map(|c| row[col(&format!("schedule_{c}_kw"))])
            .sum();
        assert!(
            placed <= room + 0.01,
            "slot {s}: schedule {placed} kW in {room} kW"
        );
        scheduled_kwh += placed * slot_h;
        for m in ["one-shot-market", "powerslot"] {
            let given =
                row[col(&format!("{m}_allocated_kw"))] - row[col(&format!("{m}_reserved_kw"))];
            let credited: f64 = classes
                .iter()
                .map(|c| row[col(&format!("{m}_{c}_kw"))])
                .sum();
            assert!(
                credited <= given.max(0.0) + 0.01,
                "slot {s}: {m} credited {credited} kW of {given} kW allocated"
            );
        }
    }
    // Its picture: per mechanism, the classes' power against the schedule's.
    for m in ["one-shot-market", "powerslot"] {
        for ext in ["svg", "png"] {
            let f = figures.join(format!("classes_{m}.{ext}"));
            assert!(f.exists(), "no {}", f.display());
        }
    }
    let devices = std::fs::read_to_string(figures.join("devices.csv")).expect("devices.csv");
    let mut dl = devices.lines();
    let dh: Vec<&str> = dl.next().unwrap().split(',').collect();
    let booked = dh.iter().position(|h| *h == "schedule_booked_kwh").unwrap();
    let per_device: f64 = dl
        .map(|l| l.split(',').nth(booked).unwrap().parse::<f64>().unwrap())
        .sum();
    assert!(scheduled_kwh > 0.0, "the schedule served nothing");
    assert!(
        (scheduled_kwh - per_device).abs() < 0.01 * scheduled_kwh.max(1.0),
        "slots.csv {scheduled_kwh} kWh against devices.csv {per_device} kWh"
    );
}
