//! One online update plus a forecast per device: 5 steps of 5-minute CPU load for every model
//! (the boosted trees between refits), and a day ahead of hourly household load for the
//! day-ahead models and `auto`. The target is under 1 ms, so one coordinator can serve 10,000
//! devices per slot. The data come from `../shared/data` beside the repository, or from the
//! directory `POWERSLOT_DATA` names.

use criterion::{Criterion, criterion_group, criterion_main};
use powerslot_forecast::boost::BoostedConfig;
use powerslot_forecast::model::{FitOptions, FittedModel, ModelSpec};
use powerslot_forecast::series::{ReadOptions, read_csv};

/// A file of the benchmark data sets beside the repository (see the README, "Data"; the
/// crate's build script resolves `POWERSLOT_DATA`).
fn data(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("POWERSLOT_DATA_DIR")).join(rel)
}

fn bench(c: &mut Criterion) {
    let series = read_csv(
        &data("machines_nab_ec2_cpu/ec2_cpu_utilization_5f5533.csv"),
        &ReadOptions::new("timestamp", "value"),
    )
    .expect("NAB sample");
    let split = 3000;
    let train = series.slice(0, split);
    let mut group = c.benchmark_group("update_plus_5_step_forecast");
    for spec in [
        "persistence",
        "seasonal-naive",
        "ewma",
        "daily-median",
        "weekly-median",
        "ets",
        "mstl",
        "ridge",
        "quantile",
        "profile",
    ] {
        let spec = ModelSpec::parse(spec).expect("known model");
        let mut model = FittedModel::fit(&spec, &train, &FitOptions::new(5, 288)).expect("fits");
        let mut i = split;
        group.bench_function(spec.name(), |b| {
            b.iter(|| {
                model.update(series.values[i], &[]);
                i = if i + 1 == series.len() { split } else { i + 1 };
                std::hint::black_box(model.predict(5))
            })
        });
    }
    // The boosted trees between their refits (a refit costs seconds and is reported by the
    // backtest as fit time): one update plus 5 steps × 300 trees.
    let spec = ModelSpec::Boosted(BoostedConfig {
        refit_every: Some(usize::MAX),
        ..BoostedConfig::default()
    });
    let mut model = FittedModel::fit(&spec, &train, &FitOptions::new(5, 288)).expect("fits");
    let mut i = split;
    group.bench_function("boosted between refits", |b| {
        b.iter(|| {
            model.update(series.values[i], &[]);
            i = if i + 1 == series.len() { split } else { i + 1 };
            std::hint::black_box(model.predict(5))
        })
    });
    group.finish();

    // Day ahead on hourly household load (OPSD residential4's grid import, a year of
    // history): the seasonal ETS, MSTL, the weekly profile and `auto`, which updates all its
    // candidates and combines them.
    let mut read = ReadOptions::new("utc_timestamp", "DE_KN_residential4_grid_import");
    read.cumulative = true;
    let hourly = read_csv(
        &data("household_opsd_appliances_hourly/opsd_household_data_60min_residential4.csv"),
        &read,
    )
    .expect("OPSD sample");
    let split = 24 * 365;
    let train = hourly.slice(0, split);
    let mut group = c.benchmark_group("update_plus_24_step_forecast_hourly");
    for spec in ["ets", "mstl", "profile", "auto"] {
        let spec = ModelSpec::parse(spec).expect("known model");
        let mut model = FittedModel::fit(&spec, &train, &FitOptions::new(24, 24)).expect("fits");
        let mut i = split;
        group.bench_function(spec.name(), |b| {
            b.iter(|| {
                model.update(hourly.values[i], &[]);
                i = if i + 1 == hourly.len() { split } else { i + 1 };
                std::hint::black_box(model.predict(24))
            })
        });
    }
    group.finish();

    // Criterion's mean above includes the periodic refits only as far as its iterations happen
    // to cross them, so measure the amortised cost directly too: the wall time of
    // `AMORTISED_UPDATES` consecutive updates plus forecasts (the ETS forms are refitted every
    // 500 updates with this window and chosen again every fourth refit, so the run holds 4
    // refits and one choice of the form), divided by their number.
    for spec in ["ets", "mstl", "auto"] {
        let spec = ModelSpec::parse(spec).expect("known model");
        let mut model = FittedModel::fit(&spec, &train, &FitOptions::new(24, 24)).expect("fits");
        let started = std::time::Instant::now();
        for i in split..split + AMORTISED_UPDATES {
            model.update(hourly.values[i], &[]);
            std::hint::black_box(model.predict(24));
        }
        let micros = started.elapsed().as_secs_f64() * 1e6 / AMORTISED_UPDATES as f64;
        println!(
            "amortised over {AMORTISED_UPDATES} updates (refits included): {} {micros:.0} µs per update plus 24-step forecast",
            spec.name()
        );
    }
}

/// Consecutive updates timed for the amortised figure (four refits of the hourly models).
const AMORTISED_UPDATES: usize = 2000;

criterion_group!(benches, bench);
criterion_main!(benches);
