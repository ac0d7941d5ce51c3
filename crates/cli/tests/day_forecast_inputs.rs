//! `powerslot day` with its PV and base load forecast by the project (`--pv-from`,
//! `--base-load-from`): the forecasts replace the instance's arrays, see only data before
//! their origin, are checked against what happened where the history goes on, and bad options
//! are refused with the option named.

mod common;

use std::path::{Path, PathBuf};

use common::{Files, case, case_args, check_all, run};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The EMHASS driver's example day (48 × 30 min from 2025-06-21T00:00, 4 loads).
fn instance() -> String {
    repo()
        .join("crates/home/tests/data/emhass_example.json")
        .display()
        .to_string()
}

/// One month of a real PV site's irradiance (15-minute samples, September 20 to October 31
/// 2021), shipped with the simulator.
fn pv_trace() -> String {
    repo()
        .join("crates/sim/data/pvdaq_system15_2021-10.csv")
        .display()
        .to_string()
}

/// A meter history in W on 30-minute slots, `days` days from 2024-01-01: every day draws
/// `(slot of the day)` W, but January 4th 1,000 W more.
fn meter(files: &Files, days: usize) -> String {
    let mut csv = String::from("timestamp,power_w\n");
    for d in 0..days {
        for s in 0..48 {
            let (h, m) = (s / 2, 30 * (s % 2));
            csv.push_str(&format!(
                "2024-01-{:02}T{h:02}:{m:02}:00,{}\n",
                d + 1,
                s + if d == 3 { 1000 } else { 0 }
            ));
        }
    }
    files.write("meter.csv", csv)
}

/// Runs `powerslot day` on the example day with `options` (split on spaces) and requires it
/// to succeed.
fn day(files: &Files, options: &str) -> common::Outcome {
    let mut args = vec!["day".to_string(), instance()];
    args.extend(
        options
            .split(' ')
            .filter(|a| !a.is_empty())
            .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(files.path(), &args);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    o
}

/// [`day`] with `--json`, parsed.
fn day_json(files: &Files, options: &str) -> serde_json::Value {
    let o = day(files, &format!("{options} --json"));
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", o.stdout))
}

fn numbers(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

#[test]
fn the_pv_forecast_replaces_the_instance_and_is_checked_against_the_day_that_followed() {
    let files = Files::new();
    let doc = day_json(
        &files,
        &format!(
            "--pv-from {} --pv-peak-w 5000 --as-of 2021-10-10",
            pv_trace()
        ),
    );
    let pv = numbers(&doc["pv_w"]);
    assert_eq!(pv.len(), 48);
    // Night is night, the day has sun, and no hour is over the array's output by far.
    assert!(pv[..8].iter().all(|w| *w == 0.0), "{pv:?}");
    assert!(pv[20..32].iter().any(|w| *w > 500.0), "{pv:?}");
    assert!(pv.iter().all(|w| *w <= 1.5 * 5000.0), "{pv:?}");
    let input = &doc["forecast_inputs"][0];
    assert_eq!(input["field"], "pv_w");
    assert_eq!(input["day_starts"], "2021-10-10T00:00:00");
    assert_eq!(input["origin_rule"], "--as-of");
    // The trace goes on past October 10th: the forecast is scored against it.
    assert!(input["mae_w"].as_f64().is_some(), "{input}");
    assert!(input["actual_mean_w"].as_f64().unwrap() > 0.0, "{input}");
    // The plan stands on the forecast: the loads are planned, their energy kept.
    assert!(doc["loads"]["washer"].is_array(), "{doc}");
}

#[test]
fn a_seasonal_naive_base_load_repeats_the_days_before_and_sees_nothing_after_its_origin() {
    let files = Files::new();
    let meter = meter(&files, 6);
    let doc = day_json(
        &files,
        &format!(
            "--base-load-from {meter} --base-load-model seasonal-naive --base-load-scale 2 \
             --as-of 2024-01-04"
        ),
    );
    // The days before, doubled by the scale: January 4th itself is not seen.
    let expected: Vec<f64> = (0..48).map(|s| 2.0 * f64::from(s)).collect();
    assert_eq!(numbers(&doc["base_load_w"]), expected);
    let input = &doc["forecast_inputs"][0];
    assert_eq!(input["model"], "seasonal-naive");
    assert_eq!(input["history_slots"], 3 * 48);
    // What January 4th drew, doubled: the forecast is 2,000 W under all day.
    assert_eq!(input["mae_w"].as_f64(), Some(2000.0));
}

#[test]
fn without_a_covered_start_the_forecast_is_for_the_day_after_the_history() {
    let files = Files::new();
    let meter = meter(&files, 4);
    let o = day(
        &files,
        &format!("--base-load-from {meter} --base-load-model seasonal-naive"),
    );
    let first = o.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("base_load_w forecast by seasonal-naive from 192 slots")
            && first.contains("for the day from 2024-01-05T00:00:00")
            && first.contains("the history does not cover the instance's start"),
        "{}",
        o.stdout
    );
}

#[test]
fn auto_leaves_out_the_models_four_days_of_history_are_too_short_for() {
    let files = Files::new();
    let meter = meter(&files, 4);
    let doc = day_json(&files, &format!("--base-load-from {meter}"));
    let model = doc["forecast_inputs"][0]["model"]
        .as_str()
        .unwrap_or_default();
    assert!(
        model.starts_with("auto (without ") && model.contains("weekly-median"),
        "{model}"
    );
    let load = numbers(&doc["base_load_w"]);
    assert!(load.iter().all(|w| w.is_finite() && *w >= 0.0), "{load:?}");
}

#[test]
fn bad_forecast_options_are_refused_with_the_option_named() {
    let files = Files::new();
    let meter = meter(&files, 4);
    let wide = files.write(
        "wide.csv",
        "timestamp,a,b\n2024-01-01T00:00:00,1,2\n2024-01-01T00:30:00,1,2\n",
    );
    let day = instance();
    let cases = vec![
        case(
            &format!("day {day} --as-of 2024-01-03"),
            &["--as-of needs --pv-from or --base-load-from"],
        ),
        case(
            &format!("day {day} --base-load-from {meter} --as-of 2023-12-01"),
            &["--as-of", "not inside the history", "2024-01-01T00:00:00"],
        ),
        case(
            &format!("day {day} --base-load-from {meter} --as-of yesterday"),
            &["--as-of", "\"yesterday\" is not a time"],
        ),
        case(
            &format!("day {day} --base-load-from {wide}"),
            &["--base-load-column", "a, b"],
        ),
        case(
            &format!("day {day} --base-load-from {meter} --base-load-scale 0"),
            &["--base-load-scale", "not a positive"],
        ),
        case(
            &format!("day {day} --base-load-from {meter} --base-load-model oracle"),
            &["--base-load-model", "oracle"],
        ),
        case(
            &format!("day {day} --pv-from {} --pv-peak-w=-5", pv_trace()),
            &["--pv-peak-w", "-5"],
        ),
        case_args(
            vec![
                "day".into(),
                day.clone(),
                "--pv-from".into(),
                files.path().join("missing.csv").display().to_string(),
                "--pv-column".into(),
                "x".into(),
            ],
            &["--pv-from", "missing.csv"],
        ),
    ];
    assert_eq!(check_all(files.path(), &cases), cases.len());
}
