//! What the `auto_combination` and `auto_dev` examples share: the peer benchmark's series and
//! their origins (on the past only, or the benchmark's own), and each candidate walked online
//! through those origins, as `powerslot forecast backtest` does.

use std::collections::VecDeque;

use powerslot_forecast::backtest::{BacktestOptions, origin_slots};
use powerslot_forecast::model::{FitOptions, FittedModel, ModelSpec};
use powerslot_forecast::series::{ReadOptions, TimeSeries, read_csv};

/// A candidate's error windows, one per step ahead.
pub(crate) type Windows = Vec<VecDeque<f64>>;

/// Mean absolute error of `p50` against `actual`.
pub(crate) fn mae(p50: &[f64], actual: &[f64]) -> f64 {
    p50.iter()
        .zip(actual)
        .map(|(p, a)| (p - a).abs())
        .sum::<f64>()
        / actual.len() as f64
}

/// The `timestamp,value` series in `file` and the origins to score at. `dev`: only the past
/// of the benchmark — everything before its first origin (its 8 origins, or
/// `BENCH_ORIGINS`, are spread over the last quarter), with origins every 25 slots over the
/// last 40 % of that past. Otherwise the benchmark's own origins on the whole series.
pub(crate) fn series_and_origins(
    file: &str,
    horizon: usize,
    dev: bool,
) -> (TimeSeries, Vec<usize>) {
    let series = read_csv(
        std::path::Path::new(file),
        &ReadOptions::new("timestamp", "value"),
    )
    .expect("series");
    let mut opts = BacktestOptions::new(FitOptions::new(horizon, 24));
    // The peer benchmark's default; `BENCH_ORIGINS=30` matches `peer_benchmark.sh --origins 30`.
    opts.origins = std::env::var("BENCH_ORIGINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let (test, _) = origin_slots(series.len(), horizon, &opts).expect("origins");
    if !dev {
        return (series, test);
    }
    let past = series.slice(0, test[0]);
    let n = past.len();
    let span = n * 2 / 5;
    let count = (span - horizon) / 25 + 1;
    let first = n - horizon - (count - 1) * 25;
    (past, (0..count).map(|i| first + i * 25).collect())
}

/// `spec` fitted once on what lies before the first origin and updated online through the
/// rest: at each origin its point forecast for `horizon` slots and its error windows. `None`
/// when it cannot be fitted.
pub(crate) fn walk(
    spec: &ModelSpec,
    series: &TimeSeries,
    origins: &[usize],
    fit: &FitOptions,
    horizon: usize,
) -> Option<Vec<(Vec<f64>, Windows)>> {
    let train = series.slice(0, origins[0]);
    let mut m = FittedModel::fit(spec, &train, fit).ok()?;
    let mut pos = origins[0];
    let mut out = Vec::new();
    for &o in origins {
        for i in pos..o {
            m.update(series.values[i], &[]);
        }
        pos = o;
        out.push((m.predict(horizon).point, m.recent_errors().to_vec()));
    }
    Some(out)
}
