//! The one interface every forecaster shares: a [`ModelSpec`] is fitted into a
//! [`FittedModel`], which takes new samples one slot at a time and predicts P10/P50/P90.

use std::time::Instant;

use crate::baseline::{Ewma, Persistence, SeasonalNaive};
use crate::boost::{Boosted, BoostedConfig};
use crate::error::{ForecastError, Result};
use crate::profile::{Profile, ProfileConfig};
use crate::quantiles::{Calibrator, QuantileForecast};
use crate::quantreg::{QuantReg, QuantRegConfig};
use crate::ridge::{Ridge, RidgeConfig};
use crate::series::TimeSeries;
use crate::stats::{PathKind, PathModel};

/// What a fitted point forecaster must do; intervals are added by [`FittedModel`].
pub(crate) trait PointModel: Send {
    /// Takes the value (and exogenous features) of the next slot.
    fn update(&mut self, value: f64, features: &[f64]);
    /// Point forecasts of the next `horizon` slots.
    fn forecast(&self, horizon: usize) -> Vec<f64>;
}

/// Settings shared by all models when fitting.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Steps ahead the intervals are calibrated for (and the model is tuned for).
    pub horizon: usize,
    /// Season length in slots (e.g. one day); 0 or 1 for none.
    pub season: usize,
    /// How many recent errors per step make the P10/P90 (the last part of the history is
    /// replayed through online updates to collect them).
    pub calibration: usize,
    /// Most recent points the statistical (augurs) models are fitted on.
    pub max_fit_points: usize,
    /// Seed for every randomised step (network initialisation, batch order).
    pub seed: u64,
}

impl FitOptions {
    /// Defaults for `horizon` steps and a season of `season` slots.
    pub fn new(horizon: usize, season: usize) -> Self {
        Self {
            horizon,
            season,
            calibration: 200,
            max_fit_points: 5000,
            seed: 42,
        }
    }
}

/// A model to fit: the baselines, the statistical models, the regression, the network,
/// or the automatic combination of several.
#[derive(Debug, Clone)]
pub enum ModelSpec {
    /// The last value, repeated.
    Persistence,
    /// The value one season earlier.
    SeasonalNaive,
    /// Exponentially weighted moving average; smoothing chosen on the history.
    Ewma,
    /// Exponential smoothing: augurs' AutoETS without a season, or ETS(A,·,A) with one,
    /// whichever has the lower AIC.
    Ets,
    /// MSTL decomposition with an AutoETS trend (augurs), daily and, with enough data, weekly.
    Mstl,
    /// Direct multi-step ridge regression on lags, time of day and exogenous features.
    Ridge(RidgeConfig),
    /// Direct multi-step median (least absolute deviation) regression on lags, running
    /// medians, time of day and exogenous features: aimed at MAE on spiky load.
    Quantile(QuantRegConfig),
    /// Direct multi-step boosted trees (median loss) on the device's recent behaviour — how
    /// long since the last jump and how big it was — and exogenous features; refitted online.
    Boosted(BoostedConfig),
    /// Direct multi-step median regression on the weekly shape of the load: the same slot on
    /// recent days and weeks, the current level, time of day and weekend.
    Profile(ProfileConfig),
    /// A small LSTM trained per device (burn, CPU).
    Lstm(crate::lstm::LstmConfig),
    /// A weighted mean of the candidates with the lowest recent errors.
    Auto(Vec<ModelSpec>),
}

impl ModelSpec {
    /// The model's short name (`persistence`, `seasonal-naive`, `ewma`, `ets`, `mstl`,
    /// `ridge`, `quantile`, `boosted`, `profile`, `lstm`, `auto`).
    pub fn name(&self) -> &'static str {
        match self {
            ModelSpec::Persistence => "persistence",
            ModelSpec::SeasonalNaive => "seasonal-naive",
            ModelSpec::Ewma => "ewma",
            ModelSpec::Ets => "ets",
            ModelSpec::Mstl => "mstl",
            ModelSpec::Ridge(_) => "ridge",
            ModelSpec::Quantile(_) => "quantile",
            ModelSpec::Boosted(_) => "boosted",
            ModelSpec::Profile(_) => "profile",
            ModelSpec::Lstm(_) => "lstm",
            ModelSpec::Auto(_) => "auto",
        }
    }

    /// Parses a model name; `auto` combines the others.
    pub fn parse(name: &str) -> Result<ModelSpec> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "persistence" | "naive" => ModelSpec::Persistence,
            "seasonal-naive" | "snaive" => ModelSpec::SeasonalNaive,
            "ewma" => ModelSpec::Ewma,
            "ets" => ModelSpec::Ets,
            "mstl" => ModelSpec::Mstl,
            "ridge" => ModelSpec::Ridge(RidgeConfig::default()),
            "quantile" | "lad" => ModelSpec::Quantile(QuantRegConfig::default()),
            "boosted" | "gbdt" | "trees" => ModelSpec::Boosted(BoostedConfig::default()),
            "profile" | "weekly" => ModelSpec::Profile(ProfileConfig::default()),
            "lstm" => ModelSpec::Lstm(crate::lstm::LstmConfig::default()),
            "auto" => ModelSpec::Auto(Self::all_single()),
            other => {
                return Err(ForecastError::InvalidParameter {
                    name: "model".into(),
                    message: format!(
                        "unknown model `{other}` (known: persistence, seasonal-naive, ewma, ets, \
                         mstl, ridge, quantile, boosted, profile, lstm, auto)"
                    ),
                });
            }
        })
    }

    /// Every single (non-auto) model with default settings, except `boosted`: its refits cost
    /// seconds per step ahead, which a day-ahead horizon multiplies by 24, so it joins `auto`
    /// only when named (`--models persistence,quantile,boosted,auto`).
    pub fn all_single() -> Vec<ModelSpec> {
        vec![
            ModelSpec::Persistence,
            ModelSpec::SeasonalNaive,
            ModelSpec::Ewma,
            ModelSpec::Ets,
            ModelSpec::Mstl,
            ModelSpec::Ridge(RidgeConfig::default()),
            ModelSpec::Quantile(QuantRegConfig::default()),
            ModelSpec::Profile(ProfileConfig::default()),
            ModelSpec::Lstm(crate::lstm::LstmConfig::default()),
        ]
    }

    /// Fewest points this model needs to fit with `options` (before calibration).
    fn min_points(&self, options: &FitOptions) -> usize {
        let m = options.season.max(1);
        match self {
            ModelSpec::Persistence | ModelSpec::Ewma => 2,
            ModelSpec::SeasonalNaive => m,
            ModelSpec::Ets => 10,
            ModelSpec::Mstl => 2 * m + 1,
            // The lag window, then at least as many rows as coefficients.
            ModelSpec::Ridge(c) => c.lags.max(m).max(64) + options.horizon + c.lags + 16,
            ModelSpec::Quantile(c) => c.lags.max(60) + options.horizon + 200,
            ModelSpec::Boosted(_) => Boosted::min_points(options.horizon),
            ModelSpec::Profile(_) => Profile::min_points(m, options.horizon),
            ModelSpec::Lstm(c) => c.window + options.horizon + 16,
            ModelSpec::Auto(c) => c.iter().map(|s| s.min_points(options)).min().unwrap_or(2),
        }
    }

    fn fit_point(&self, train: &TimeSeries, options: &FitOptions) -> Result<Box<dyn PointModel>> {
        Ok(match self {
            ModelSpec::Persistence => Box::new(Persistence::fit(&train.values)),
            ModelSpec::SeasonalNaive => {
                Box::new(SeasonalNaive::fit(&train.values, options.season.max(1)))
            }
            ModelSpec::Ewma => Box::new(Ewma::fit(&train.values)),
            ModelSpec::Ets => Box::new(PathModel::fit(PathKind::Ets, &train.values, options)?),
            ModelSpec::Mstl => Box::new(PathModel::fit(PathKind::Mstl, &train.values, options)?),
            ModelSpec::Ridge(c) => Box::new(Ridge::fit(c, train, options)?),
            ModelSpec::Quantile(c) => Box::new(QuantReg::fit(c, train, options)?),
            ModelSpec::Boosted(c) => Box::new(Boosted::fit(c, train, options)?),
            ModelSpec::Profile(c) => Box::new(Profile::fit(c, train, options)?),
            ModelSpec::Lstm(c) => Box::new(crate::lstm::Lstm::fit(c, train, options)?),
            ModelSpec::Auto(_) => unreachable!("auto is fitted by FittedModel::fit"),
        })
    }
}

/// A fitted model: takes samples slot by slot and predicts with intervals.
pub struct FittedModel {
    name: String,
    kind: Kind,
    horizon: usize,
    fit_seconds: f64,
}

enum Kind {
    Single {
        model: Box<dyn PointModel>,
        calibrator: Calibrator,
        /// The forecast issued after the last update (reused by `predict`).
        last: Vec<f64>,
    },
    Auto(Vec<FittedModel>),
}

impl std::fmt::Debug for FittedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FittedModel")
            .field("name", &self.name)
            .field("horizon", &self.horizon)
            .finish()
    }
}

impl FittedModel {
    /// Fits `spec` on `history`. The last `options.calibration` points (at most a third) are
    /// replayed through [`FittedModel::update`] to collect the errors behind the intervals.
    pub fn fit(
        spec: &ModelSpec,
        history: &TimeSeries,
        options: &FitOptions,
    ) -> Result<FittedModel> {
        if options.horizon == 0 {
            return Err(ForecastError::InvalidParameter {
                name: "horizon".into(),
                message: "must be at least 1".into(),
            });
        }
        let started = Instant::now();
        if let ModelSpec::Auto(candidates) = spec {
            let fitted = candidates
                .iter()
                .map(|c| FittedModel::fit(c, history, options))
                .collect::<Result<Vec<_>>>()?;
            return Ok(FittedModel {
                name: "auto".into(),
                kind: Kind::Auto(fitted),
                horizon: options.horizon,
                fit_seconds: started.elapsed().as_secs_f64(),
            });
        }
        let n = history.len();
        let calibration = options.calibration.min(n / 3);
        let need = spec.min_points(options);
        if n - calibration < need {
            return Err(ForecastError::TooShort {
                what: format!("{} for model `{}`", history.name, spec.name()),
                have: n,
                need: need + calibration.max(need / 2),
                why: format!(
                    "the model needs {need} points (season {} slots, horizon {}) plus a third \
                     of the history to calibrate its intervals",
                    options.season, options.horizon
                ),
            });
        }
        let split = n - calibration;
        let model = spec.fit_point(&history.slice(0, split), options)?;
        let last = model.forecast(options.horizon);
        let mut fitted = FittedModel {
            name: spec.name().to_string(),
            kind: Kind::Single {
                model,
                calibrator: Calibrator::new(options.horizon, options.calibration.max(50)),
                last: Vec::new(),
            },
            horizon: options.horizon,
            fit_seconds: 0.0,
        };
        if let Kind::Single {
            calibrator,
            last: l,
            ..
        } = &mut fitted.kind
        {
            calibrator.issue(last.clone());
            *l = last;
        }
        let mut row = vec![0.0; history.features.len()];
        for i in split..n {
            for (slot, (_, f)) in row.iter_mut().zip(&history.features) {
                *slot = f[i];
            }
            fitted.update(history.values[i], &row);
        }
        fitted.fit_seconds = started.elapsed().as_secs_f64();
        Ok(fitted)
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Seconds the fit took (including calibration).
    pub fn fit_seconds(&self) -> f64 {
        self.fit_seconds
    }

    /// Takes the observed value (and exogenous features, in the fitted column order) of the
    /// next slot. Non-finite values are ignored so one bad reading cannot poison the state.
    pub fn update(&mut self, value: f64, features: &[f64]) {
        if !value.is_finite() || features.iter().any(|f| !f.is_finite()) {
            return;
        }
        match &mut self.kind {
            Kind::Single {
                model,
                calibrator,
                last,
            } => {
                calibrator.observe(value);
                model.update(value, features);
                *last = model.forecast(self.horizon);
                calibrator.issue(last.clone());
            }
            Kind::Auto(candidates) => candidates
                .iter_mut()
                .for_each(|c| c.update(value, features)),
        }
    }

    /// Forecast of the next `horizon` slots with P10/P50/P90.
    pub fn predict(&self, horizon: usize) -> QuantileForecast {
        match &self.kind {
            Kind::Single {
                model,
                calibrator,
                last,
            } => {
                let point = if horizon <= last.len() {
                    last[..horizon].to_vec()
                } else {
                    model.forecast(horizon)
                };
                calibrator.quantiles(point)
            }
            Kind::Auto(candidates) => {
                let recent: Vec<f64> = candidates.iter().map(FittedModel::recent_mae).collect();
                let forecasts: Vec<QuantileForecast> =
                    candidates.iter().map(|c| c.predict(horizon)).collect();
                combine(&forecasts, &combination_weights(&recent))
            }
        }
    }

    /// Mean absolute error of this model's recent forecasts (all steps), known so far.
    pub fn recent_mae(&self) -> f64 {
        match &self.kind {
            Kind::Single { calibrator, .. } => calibrator.recent_mae(),
            Kind::Auto(c) => self
                .chosen()
                .map(|i| c[i].recent_mae())
                .unwrap_or(f64::INFINITY),
        }
    }

    /// For `auto`: the index of the candidate with the largest weight now.
    pub fn chosen(&self) -> Option<usize> {
        match &self.kind {
            Kind::Single { .. } => None,
            Kind::Auto(c) => {
                let recent: Vec<f64> = c.iter().map(FittedModel::recent_mae).collect();
                heaviest(&combination_weights(&recent))
            }
        }
    }

    /// For `auto`: the candidates.
    pub fn candidates(&self) -> &[FittedModel] {
        match &self.kind {
            Kind::Single { .. } => &[],
            Kind::Auto(c) => c,
        }
    }
}

/// How many candidates `auto` combines: those with the lowest recent errors.
pub const COMBINE_TOP: usize = 3;

/// The weights `auto` gives its candidates from their recent mean absolute errors: the
/// [`COMBINE_TOP`] lowest finite ones get weights proportional to 1/MAE (summing to 1), the
/// others 0. Averaging a few good forecasts cancels part of their separate errors, which
/// picking the single recent best cannot do, while leaving the poor ones out keeps them from
/// dragging the mean. A candidate with a recent MAE of 0 takes all the weight; with no finite
/// MAE yet, the first candidate does.
pub fn combination_weights(recent: &[f64]) -> Vec<f64> {
    let mut weights = vec![0.0; recent.len()];
    let mut order: Vec<usize> = (0..recent.len())
        .filter(|&i| recent[i].is_finite())
        .collect();
    order.sort_by(|&a, &b| recent[a].total_cmp(&recent[b]));
    order.truncate(COMBINE_TOP);
    match order.first() {
        None => {
            if let Some(w) = weights.first_mut() {
                *w = 1.0;
            }
        }
        Some(&best) if recent[best] <= 0.0 => weights[best] = 1.0,
        Some(_) => {
            let total: f64 = order.iter().map(|&i| 1.0 / recent[i]).sum();
            for &i in &order {
                weights[i] = 1.0 / recent[i] / total;
            }
        }
    }
    weights
}

/// Index of the largest weight.
pub fn heaviest(weights: &[f64]) -> Option<usize> {
    weights
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
}

/// The weighted mean of `forecasts`, quantile by quantile (weights as from
/// [`combination_weights`]; forecasts with weight 0 are not read).
pub fn combine(forecasts: &[QuantileForecast], weights: &[f64]) -> QuantileForecast {
    let h = forecasts.first().map_or(0, |f| f.point.len());
    let mut out = QuantileForecast {
        point: vec![0.0; h],
        p10: vec![0.0; h],
        p50: vec![0.0; h],
        p90: vec![0.0; h],
    };
    for (f, &w) in forecasts.iter().zip(weights).filter(|(_, w)| **w > 0.0) {
        for (acc, part) in [
            (&mut out.point, &f.point),
            (&mut out.p10, &f.p10),
            (&mut out.p50, &f.p50),
            (&mut out.p90, &f.p90),
        ] {
            acc.iter_mut().zip(part).for_each(|(a, v)| *a += w * v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_favour_the_recently_best_few() {
        let w = combination_weights(&[2.0, 1.0, f64::INFINITY, 4.0, 1.0]);
        assert_eq!(w[2], 0.0);
        assert_eq!(w[3], 0.0, "only the three best get weight: {w:?}");
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(
            (w[1] - 0.4).abs() < 1e-12 && (w[0] - 0.2).abs() < 1e-12,
            "{w:?}"
        );
        assert_eq!(
            combination_weights(&[f64::INFINITY, f64::NAN]),
            vec![1.0, 0.0]
        );
        assert_eq!(combination_weights(&[0.5, 0.0]), vec![0.0, 1.0]);
    }

    #[test]
    fn combination_is_the_weighted_mean_of_each_quantile() {
        let f = |v: f64| QuantileForecast {
            point: vec![v],
            p10: vec![v - 1.0],
            p50: vec![v],
            p90: vec![v + 1.0],
        };
        let c = combine(&[f(1.0), f(3.0), f(100.0)], &[0.25, 0.75, 0.0]);
        assert_eq!(c.p50, vec![2.5]);
        assert_eq!(c.p10, vec![1.5]);
        assert_eq!(c.p90, vec![3.5]);
    }
}
