//! One online update plus a 5-step forecast per device, for the statistical models (and the
//! boosted trees between refits).
//! The target is under 1 ms, so one coordinator can serve 10,000 devices per slot.

use criterion::{Criterion, criterion_group, criterion_main};
use powerslot_forecast::boost::BoostedConfig;
use powerslot_forecast::model::{FitOptions, FittedModel, ModelSpec};
use powerslot_forecast::series::{ReadOptions, read_csv};

fn bench(c: &mut Criterion) {
    // From the benchmark data sets beside the repository (see the README, "Data").
    let path = concat!(
        env!("POWERSLOT_DATA_DIR"),
        "/machines_nab_ec2_cpu/ec2_cpu_utilization_5f5533.csv"
    );
    let series = read_csv(
        std::path::Path::new(path),
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
        "ets",
        "mstl",
        "ridge",
        "quantile",
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
