//! Backtests and bad-input handling on small samples of the real data sets.
//!
//! The data tests read `../shared/data` (see the README, "Data"); without it they are listed
//! as ignored, with the reason (`build/shared_data.rs` decides).

use std::path::{Path, PathBuf};

use powerslot_forecast::backtest::{BacktestOptions, backtest};
use powerslot_forecast::model::{FitOptions, ModelSpec};
use powerslot_forecast::series::{ReadOptions, read_csv, read_csv_from};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("POWERSLOT_DATA_DIR")).join(rel)
}

/// The first `rows` lines of a data file (so tests stay fast).
fn head(rel: &str, rows: usize) -> String {
    let text = std::fs::read_to_string(data(rel)).expect("shared data is present");
    text.lines().take(rows + 1).collect::<Vec<_>>().join("\n")
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (see README: Data)")]
fn nab_cpu_backtest_ranks_models_and_calibrates_intervals() {
    let s = read_csv(
        &data("machines_nab_ec2_cpu/ec2_cpu_utilization_5f5533.csv"),
        &ReadOptions::new("timestamp", "value"),
    )
    .unwrap();
    assert_eq!(s.step_seconds, 300);
    assert_eq!(s.len(), 4032);
    let mut o = BacktestOptions::new(FitOptions::new(3, 288));
    o.origins = 60;
    o.spacing = Some(10);
    let specs = [
        ModelSpec::Persistence,
        ModelSpec::SeasonalNaive,
        ModelSpec::Ewma,
        ModelSpec::Auto(vec![]),
    ];
    let r = backtest(&s, &specs, &o, &|| {}).unwrap();
    assert_eq!(r.models.len(), 4);
    for m in &r.models {
        assert!(m.mae.is_finite() && m.mae > 0.0, "{m:?}");
        assert!((0.5..=1.0).contains(&m.coverage_p10_p90), "{m:?}");
    }
    let auto = r.models.iter().find(|m| m.name == "auto").unwrap();
    assert_eq!(auto.chosen.values().sum::<usize>(), 60);
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (see README: Data)")]
fn uci_sample_reads_with_features_and_ridge_beats_seasonal_naive() {
    let text = head(
        "household_uci_1min/uci_household_power_2007H1_1min.csv",
        4 * 1440,
    );
    let mut ro = ReadOptions::new("timestamp", "global_active_power");
    ro.feature_columns = vec!["sub_metering_3".into()];
    let s = read_csv_from(text.as_bytes(), Path::new("uci"), &ro).unwrap();
    assert_eq!(s.len(), 4 * 1440);
    assert_eq!(s.features.len(), 1);
    let mut fit = FitOptions::new(5, 1440);
    fit.calibration = 300;
    let mut o = BacktestOptions::new(fit);
    o.origins = 40;
    o.spacing = Some(15);
    let specs = [ModelSpec::SeasonalNaive, ModelSpec::parse("ridge").unwrap()];
    let r = backtest(&s, &specs, &o, &|| {}).unwrap();
    assert!(r.models[1].mae < r.models[0].mae, "{:?}", r.models);
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (see README: Data)")]
fn opsd_cumulative_meter_becomes_hourly_energy() {
    let text = head(
        "household_opsd_appliances_hourly/opsd_household_data_60min_residential4.csv",
        24 * 40,
    );
    let mut ro = ReadOptions::new("utc_timestamp", "DE_KN_residential4_freezer");
    ro.cumulative = true;
    let s = read_csv_from(text.as_bytes(), Path::new("opsd"), &ro).unwrap();
    assert_eq!(s.step_seconds, 3600);
    assert!(
        s.values.iter().all(|v| *v >= 0.0 && *v < 5.0),
        "kWh per hour of a freezer"
    );
}

#[test]
fn bad_input_gets_a_clear_error() {
    let err = |text: &str, ro: &ReadOptions| {
        read_csv_from(text.as_bytes(), Path::new("x.csv"), ro)
            .unwrap_err()
            .to_string()
    };
    let ro = ReadOptions::new("timestamp", "value");
    assert!(err("", &ro).contains("x.csv"));
    assert!(err("timestamp,value\n", &ro).contains("no data rows"));
    assert!(
        err("timestamp,watts\n2014-02-14 14:30:00,1\n", &ro).contains("no column named `value`")
    );
    assert!(
        err(
            "timestamp,value\n2014-02-14 14:30:00,1\n2014-02-14 14:35:00,x\n",
            &ro
        )
        .contains("line 3")
    );
    assert!(err("timestamp,value\n2014-02-14 14:30:00,nan\n", &ro).contains("no numeric value"));
    let missing = read_csv(Path::new("/nonexistent/file.csv"), &ro)
        .unwrap_err()
        .to_string();
    assert!(missing.contains("/nonexistent/file.csv"), "{missing}");
    // Fewer points than a season: a clear error, not a panic.
    let short = (0..30)
        .map(|i| format!("2014-02-14 {:02}:{:02}:00,{i}", i / 12, (i % 12) * 5))
        .collect::<Vec<_>>();
    let s = read_csv_from(
        format!("timestamp,value\n{}", short.join("\n")).as_bytes(),
        Path::new("x.csv"),
        &ro,
    )
    .unwrap();
    let mut o = BacktestOptions::new(FitOptions::new(2, 288));
    o.origins = 3;
    let e = backtest(&s, &[ModelSpec::SeasonalNaive], &o, &|| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("seasonal-naive") && e.contains("288"), "{e}");
}
