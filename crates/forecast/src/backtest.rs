//! Rolling-origin backtests: fit once before the first origin, then walk forward feeding every
//! slot through the models' online update, forecasting `horizon` slots at each origin.
//!
//! The `auto` model combines, at each origin, the candidates with weights chosen on their
//! forecasts made *and already resolved* before that origin ([`crate::ensemble`]), exactly as
//! the online model does, so its score uses no information from the future and is as honest as
//! the others'.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use rayon::prelude::*;

use crate::ensemble::{ErrorWindows, choose_scale, combine_scaled, heaviest, selection_weights};
use crate::error::{ForecastError, Result};
use crate::model::{FitOptions, FittedModel, ModelSpec};
use crate::quantiles::QuantileForecast;
use crate::series::TimeSeries;

/// How to run a backtest.
#[derive(Debug, Clone)]
pub struct BacktestOptions {
    /// Forecast origins (evenly spaced, the last one `horizon` slots before the end).
    pub origins: usize,
    /// Slots between origins; `None`: spread the origins over the last quarter of the series
    /// (at most 20,000 slots), at least `horizon` apart.
    pub spacing: Option<usize>,
    /// Most recent slots before the first origin used for fitting; `None`: all.
    pub max_train: Option<usize>,
    /// Fitting options (horizon, season, calibration, seed …).
    pub fit: FitOptions,
}

impl BacktestOptions {
    /// 100 origins with the default spacing for `fit`.
    pub fn new(fit: FitOptions) -> Self {
        Self {
            origins: 100,
            spacing: None,
            max_train: None,
            fit,
        }
    }
}

/// Scores of one model over all origins and steps.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelScore {
    /// Model name.
    pub name: String,
    /// Mean absolute error of the P50 forecast.
    pub mae: f64,
    /// Root mean squared error of the point forecast.
    pub rmse: f64,
    /// MAE divided by the MAE of the seasonal naive forecast (the value one season earlier)
    /// on the same held-out points: below 1 means better than seasonal naive.
    pub mase: f64,
    /// MAE divided by the in-sample (training) MAE of seasonal naive: Hyndman's MASE, which
    /// also moves when the test period is harder than the training period.
    pub mase_in_sample: f64,
    /// Share of actual values inside [P10, P90] (target 0.8).
    pub coverage_p10_p90: f64,
    /// Mean pinball loss over the 0.1, 0.5 and 0.9 quantiles.
    pub pinball: f64,
    /// Fit time in milliseconds (including calibration; for `auto`, all candidates).
    pub fit_ms: f64,
    /// Mean time per forecast in milliseconds (update cost excluded).
    pub predict_ms: f64,
    /// MAE of the P50 per step ahead (index 0 is one step ahead).
    pub mae_by_step: Vec<f64>,
    /// For `auto`: at how many origins each candidate had the largest weight.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub chosen: BTreeMap<String, usize>,
}

/// The forecasts a model issued at each origin (for plots).
#[derive(Debug, Clone)]
pub struct Trace {
    /// Model name.
    pub name: String,
    /// One forecast per origin, in origin order.
    pub forecasts: Vec<QuantileForecast>,
}

/// The outcome of a backtest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BacktestReport {
    /// Series name.
    pub series: String,
    /// Steps ahead.
    pub horizon: usize,
    /// Number of origins.
    pub origins: usize,
    /// Slot index of each origin (the first slot forecast).
    #[serde(skip)]
    pub origin_slots: Vec<usize>,
    /// Slots between origins.
    pub spacing: usize,
    /// Time of the first origin (`YYYY-MM-DDTHH:MM:SS`, as the series' timestamps are read),
    /// so another tool can forecast from the same origins.
    pub first_origin: String,
    /// Season length in slots used by seasonal naive and MASE.
    pub season: usize,
    /// Slots used to fit before the first origin.
    pub train_slots: usize,
    /// The MASE denominator: seasonal naive MAE on the held-out points.
    pub mase_scale: f64,
    /// Hyndman's MASE denominator: in-sample seasonal naive MAE on the training slots.
    pub mase_scale_in_sample: f64,
    /// Scores, in the order the models were given (`auto` last).
    pub models: Vec<ModelScore>,
    /// Models that could not be fitted, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Forecasts per model (not serialised).
    #[serde(skip)]
    pub traces: Vec<Trace>,
}

struct Run {
    name: String,
    fit_seconds: f64,
    predict_seconds: f64,
    forecasts: Vec<QuantileForecast>,
    /// The model's recent errors per step as known at each origin (for `auto`).
    errors: Vec<Vec<VecDeque<f64>>>,
}

/// Where the origins go for a series of `n` slots.
pub fn origin_slots(
    n: usize,
    horizon: usize,
    options: &BacktestOptions,
) -> Result<(Vec<usize>, usize)> {
    if options.origins == 0 || horizon == 0 {
        return Err(ForecastError::InvalidParameter {
            name: "origins/horizon".into(),
            message: "need at least one origin and a horizon of at least 1".into(),
        });
    }
    let spacing = options
        .spacing
        .unwrap_or_else(|| (n / 4).min(20_000) / options.origins)
        .max(horizon)
        .max(1);
    let span = (options.origins - 1) * spacing + horizon;
    let first = n
        .checked_sub(span)
        .filter(|&f| f >= 2)
        .ok_or_else(|| ForecastError::TooShort {
            what: "backtest".into(),
            have: n,
            need: span + 2,
            why: format!(
                "{} origins {} slots apart, horizon {}, plus history",
                options.origins, spacing, horizon
            ),
        })?;
    Ok((
        (0..options.origins).map(|i| first + i * spacing).collect(),
        spacing,
    ))
}

/// Runs `specs` over `series`. `auto` in `specs` is evaluated from the other single models in
/// the list ([`ModelSpec::auto_candidates`] are added if `auto` is the only one asked for).
/// `tick` is called once per model and origin, from worker threads.
pub fn backtest(
    series: &TimeSeries,
    specs: &[ModelSpec],
    options: &BacktestOptions,
    tick: &(dyn Fn() + Sync),
) -> Result<BacktestReport> {
    let horizon = options.fit.horizon;
    let (origins, spacing) = origin_slots(series.len(), horizon, options)?;
    let first = origins[0];
    let train_from = options.max_train.map_or(0, |m| first.saturating_sub(m));
    let train = series.slice(train_from, first);
    let want_auto = specs.iter().any(|s| matches!(s, ModelSpec::Auto(_)));
    let mut singles: Vec<ModelSpec> = specs
        .iter()
        .filter(|s| !matches!(s, ModelSpec::Auto(_)))
        .cloned()
        .collect();
    let hidden_candidates = if want_auto && singles.is_empty() {
        singles = ModelSpec::auto_candidates();
        true
    } else {
        false
    };

    let results: Vec<std::result::Result<Run, (String, String)>> = singles
        .par_iter()
        .map(|spec| run_model(spec, series, &train, &origins, options, want_auto, tick))
        .collect();
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for r in results {
        match r {
            Ok(run) => runs.push(run),
            Err(s) => skipped.push(s),
        }
    }
    if runs.is_empty() {
        let why = skipped
            .iter()
            .map(|(n, e)| format!("{n}: {e}"))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ForecastError::Model {
            model: "all".into(),
            message: why,
        });
    }
    let season = options.fit.season.max(1);
    let mase_scale_in_sample = seasonal_scale(&train.values, season);
    let mase_scale = held_out_seasonal_scale(&series.values, &origins, horizon, season);
    let scales = (mase_scale, mase_scale_in_sample);
    let mut models: Vec<ModelScore> = Vec::new();
    let mut traces = Vec::new();
    for run in &runs {
        if !hidden_candidates {
            models.push(score(series, &origins, run, scales, BTreeMap::new()));
            traces.push(Trace {
                name: run.name.clone(),
                forecasts: run.forecasts.clone(),
            });
        }
    }
    if want_auto {
        let mut chosen = BTreeMap::new();
        let forecasts: Vec<QuantileForecast> = (0..origins.len())
            .map(|i| {
                let errors: Vec<&ErrorWindows> =
                    runs.iter().map(|r| r.errors[i].as_slice()).collect();
                let weights = selection_weights(&errors);
                // The values behind the errors: those before the origin, as fed to the models.
                let keep = options.fit.error_window();
                let recent = &series.values[origins[i].saturating_sub(keep)..origins[i]];
                let scale = choose_scale(&errors, &weights, recent);
                let best = heaviest(&weights).unwrap_or(0);
                *chosen.entry(runs[best].name.clone()).or_insert(0) += 1;
                let points: Vec<&[f64]> = runs
                    .iter()
                    .map(|r| r.forecasts[i].point.as_slice())
                    .collect();
                combine_scaled(&points, &errors, &weights, scale, recent)
            })
            .collect();
        let auto = Run {
            name: "auto".into(),
            fit_seconds: runs.iter().map(|r| r.fit_seconds).sum(),
            predict_seconds: runs.iter().map(|r| r.predict_seconds).sum(),
            forecasts,
            errors: Vec::new(),
        };
        models.push(score(series, &origins, &auto, scales, chosen));
        traces.push(Trace {
            name: "auto".into(),
            forecasts: auto.forecasts,
        });
    }
    Ok(BacktestReport {
        series: series.name.clone(),
        horizon,
        origins: origins.len(),
        first_origin: crate::series::format_time(series.time_of(origins[0])),
        origin_slots: origins,
        spacing,
        season,
        train_slots: train.len(),
        mase_scale,
        mase_scale_in_sample,
        models,
        skipped,
        traces,
    })
}

fn run_model(
    spec: &ModelSpec,
    series: &TimeSeries,
    train: &TimeSeries,
    origins: &[usize],
    options: &BacktestOptions,
    want_errors: bool,
    tick: &(dyn Fn() + Sync),
) -> std::result::Result<Run, (String, String)> {
    let name = spec.name().to_string();
    let mut fitted =
        FittedModel::fit(spec, train, &options.fit).map_err(|e| (name.clone(), e.to_string()))?;
    let mut pos = origins[0];
    let mut row = vec![0.0; series.features.len()];
    let mut forecasts = Vec::with_capacity(origins.len());
    let mut errors = Vec::with_capacity(origins.len());
    let mut predict_seconds = 0.0;
    for &o in origins {
        for i in pos..o {
            for (slot, (_, f)) in row.iter_mut().zip(&series.features) {
                *slot = f[i];
            }
            fitted.update(series.values[i], &row);
        }
        pos = o;
        let started = Instant::now();
        forecasts.push(fitted.predict(options.fit.horizon));
        predict_seconds += started.elapsed().as_secs_f64();
        if want_errors {
            errors.push(fitted.recent_errors().to_vec());
        }
        tick();
    }
    Ok(Run {
        name,
        fit_seconds: fitted.fit_seconds(),
        predict_seconds,
        forecasts,
        errors,
    })
}

/// Mean |y_t − y_{t−m}| (the in-sample seasonal naive error); 1 if undefined or zero.
pub fn seasonal_scale(values: &[f64], season: usize) -> f64 {
    let m = season.max(1);
    if values.len() <= m {
        return 1.0;
    }
    let s = values
        .windows(m + 1)
        .map(|w| (w[m] - w[0]).abs())
        .sum::<f64>()
        / (values.len() - m) as f64;
    if s > 0.0 { s } else { 1.0 }
}

/// Mean |y_t − y_{t−m}| over the slots the origins forecast (1 if undefined or zero).
fn held_out_seasonal_scale(
    values: &[f64],
    origins: &[usize],
    horizon: usize,
    season: usize,
) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for &o in origins {
        for t in (o..o + horizon).filter(|&t| t >= season && t < values.len()) {
            s += (values[t] - values[t - season]).abs();
            n += 1;
        }
    }
    if n > 0 && s > 0.0 { s / n as f64 } else { 1.0 }
}

/// Pinball (quantile) loss of forecasting `q`-quantile `f` when `y` happened.
pub fn pinball(y: f64, f: f64, q: f64) -> f64 {
    if y >= f {
        q * (y - f)
    } else {
        (1.0 - q) * (f - y)
    }
}

fn score(
    series: &TimeSeries,
    origins: &[usize],
    run: &Run,
    (scale, scale_in_sample): (f64, f64),
    chosen: BTreeMap<String, usize>,
) -> ModelScore {
    let h = run.forecasts.first().map_or(0, |f| f.point.len());
    let (mut abs, mut sq, mut inside, mut pin, mut n) = (0.0, 0.0, 0usize, 0.0, 0usize);
    let mut by_step = vec![0.0; h];
    for (&o, f) in origins.iter().zip(&run.forecasts) {
        for (k, step) in by_step.iter_mut().enumerate() {
            let y = series.values[o + k];
            let e = (y - f.p50[k]).abs();
            abs += e;
            *step += e;
            sq += (y - f.point[k]).powi(2);
            inside += usize::from(f.p10[k] <= y && y <= f.p90[k]);
            pin +=
                (pinball(y, f.p10[k], 0.1) + pinball(y, f.p50[k], 0.5) + pinball(y, f.p90[k], 0.9))
                    / 3.0;
            n += 1;
        }
    }
    let nf = n.max(1) as f64;
    let origins_f = origins.len().max(1) as f64;
    ModelScore {
        name: run.name.clone(),
        mae: abs / nf,
        rmse: (sq / nf).sqrt(),
        mase: abs / nf / scale,
        mase_in_sample: abs / nf / scale_in_sample,
        coverage_p10_p90: inside as f64 / nf,
        pinball: pin / nf,
        fit_ms: run.fit_seconds * 1e3,
        predict_ms: run.predict_seconds * 1e3 / origins_f,
        mae_by_step: by_step.into_iter().map(|s| s / origins_f).collect(),
        chosen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seasonal_series(n: usize) -> TimeSeries {
        let values = (0..n)
            .map(|i| 5.0 + 2.0 * ((i % 24) as f64 / 24.0 * std::f64::consts::TAU).sin())
            .collect();
        TimeSeries::from_values("s", 0, 3600, values).unwrap()
    }

    #[test]
    fn auto_alone_leaves_out_ets_persistence_and_mstl() {
        let Ok(ModelSpec::Auto(candidates)) = ModelSpec::parse("auto") else {
            panic!("auto parses into a combination");
        };
        let names: Vec<&str> = candidates.iter().map(ModelSpec::name).collect();
        assert!(
            !names.contains(&"ets") && !names.contains(&"persistence") && !names.contains(&"mstl"),
            "{names:?}"
        );
        assert_eq!(
            names.len(),
            ModelSpec::all_single().len() - 3 + 2,
            "{names:?}"
        );
        // Every candidate has a name of its own that parses back into it.
        for spec in &candidates {
            let again = ModelSpec::parse(spec.name()).unwrap();
            assert_eq!(again.name(), spec.name());
            assert_eq!(names.iter().filter(|n| **n == spec.name()).count(), 1);
        }
        let auto_only: Vec<&str> = ModelSpec::auto_candidates()
            .iter()
            .map(ModelSpec::name)
            .collect();
        assert_eq!(names, auto_only);
    }

    #[test]
    fn origins_end_one_horizon_before_the_end() {
        let mut o = BacktestOptions::new(FitOptions::new(3, 24));
        o.origins = 4;
        o.spacing = Some(10);
        let (slots, spacing) = origin_slots(100, 3, &o).unwrap();
        assert_eq!(spacing, 10);
        assert_eq!(slots, vec![67, 77, 87, 97]);
        o.origins = 20;
        assert!(origin_slots(100, 3, &o).is_err());
    }

    #[test]
    fn seasonal_naive_is_exact_on_a_pure_season_and_auto_finds_it() {
        let s = seasonal_series(24 * 30);
        let mut o = BacktestOptions::new(FitOptions::new(6, 24));
        o.origins = 10;
        let specs = [
            ModelSpec::Persistence,
            ModelSpec::SeasonalNaive,
            ModelSpec::Auto(vec![]),
        ];
        let r = backtest(&s, &specs, &o, &|| {}).unwrap();
        let by_name = |n: &str| r.models.iter().find(|m| m.name == n).unwrap();
        assert!(by_name("seasonal-naive").mae < 1e-9);
        assert!(by_name("persistence").mae > 0.1);
        assert!(by_name("auto").mae < 1e-9, "{:?}", by_name("auto"));
        assert_eq!(by_name("auto").chosen.get("seasonal-naive"), Some(&10));
    }

    #[test]
    fn backtest_auto_is_the_online_auto() {
        // A daily cycle with a weekly bump and deterministic noise, so no candidate is exact.
        let values: Vec<f64> = (0..24 * 40)
            .map(|i| {
                let noise = ((i as f64 * 12.9898).sin() * 43_758.545_3).fract();
                5.0 + 2.0 * ((i % 24) as f64 / 24.0 * std::f64::consts::TAU).sin()
                    + if (i / 24) % 7 == 3 { 1.5 } else { 0.0 }
                    + noise
            })
            .collect();
        let s = TimeSeries::from_values("s", 0, 3600, values).unwrap();
        let mut o = BacktestOptions::new(FitOptions::new(24, 24));
        o.origins = 3;
        let candidates = vec![
            ModelSpec::Persistence,
            ModelSpec::SeasonalNaive,
            ModelSpec::Ewma,
            ModelSpec::DAILY_MEDIAN,
        ];
        let mut specs = candidates.clone();
        specs.push(ModelSpec::Auto(Vec::new()));
        let r = backtest(&s, &specs, &o, &|| {}).unwrap();
        let first = r.origin_slots[0];
        // Fitted on the same history, the online `auto` chose its weights at the first origin
        // from the same errors, and forecasts the same.
        let online =
            FittedModel::fit(&ModelSpec::Auto(candidates), &s.slice(0, first), &o.fit).unwrap();
        assert!(online.weights().iter().filter(|w| **w > 0.0).count() >= 1);
        let auto = r.traces.iter().find(|t| t.name == "auto").unwrap();
        assert_eq!(auto.forecasts[0], online.predict(24));
    }

    #[test]
    fn pinball_penalises_the_wrong_side_more() {
        assert!((pinball(10.0, 8.0, 0.9) - 1.8).abs() < 1e-12);
        assert!((pinball(8.0, 10.0, 0.9) - 0.2).abs() < 1e-12);
    }
}
