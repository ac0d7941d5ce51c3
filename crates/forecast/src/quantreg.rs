//! Direct multi-step median (least absolute deviation) regression.
//!
//! MAE is minimised by the conditional *median*, and minute-level household or device load is
//! spiky and skewed: a kettle or oven burst lifts the mean of what follows but rarely its
//! median, because most bursts end within minutes. Squared-loss models (ridge) and persistence
//! both carry a burst forward; a median regression learns how quickly the load falls back to
//! its base level. One linear model per horizon step k reads the state at the forecast origin:
//! the last `lags` values, running medians, means, minima and maxima over several windows,
//! the time of day of the target slot and the current exogenous readings (sub-meters,
//! reactive power …). It is fitted by iteratively reweighted least squares on the absolute
//! loss (each row weighted by the inverse of its current absolute residual).
//!
//! With `log_target` the values are modelled as `ln(y + c)`; the median commutes with a
//! monotone transform, so the back-transformed forecast is still a median. Coefficients are
//! fixed after fitting, so an online update only shifts the window of recent values: it costs
//! microseconds. Slow drift is absorbed by the error calibration every model shares
//! ([`crate::quantiles`]), which recentres the P50 on the median of recent errors.

use std::collections::VecDeque;

use crate::error::{ForecastError, Result};
use crate::model::{FitOptions, PointModel};
use crate::quantiles::quantile_sorted;
use crate::ridge::cholesky_solve;
use crate::series::TimeSeries;

/// Settings of the median regression.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantRegConfig {
    /// How many recent values are features.
    pub lags: usize,
    /// Most training rows (origins) used per step; longer histories are evenly thinned.
    pub max_rows: usize,
    /// Reweighting iterations of the least-absolute-deviation fit.
    pub iterations: usize,
    /// Model `ln(y + c)` when the training values are all non-negative.
    pub log_target: bool,
}

impl Default for QuantRegConfig {
    fn default() -> Self {
        Self {
            lags: 6,
            max_rows: 40_000,
            iterations: 40,
            log_target: true,
        }
    }
}

/// Windows (in slots) whose median is a feature.
const MEDIAN_WINDOWS: [usize; 4] = [5, 15, 30, 60];
/// Windows whose mean, minimum and maximum are features.
const SPREAD_WINDOWS: [usize; 2] = [10, 60];
/// Time-of-day harmonics of the target slot.
const HARMONICS: usize = 2;

pub(crate) struct QuantReg {
    config: QuantRegConfig,
    horizon: usize,
    step_seconds: i64,
    /// Time (seconds) of the last observed slot.
    last_time: i64,
    recent: VecDeque<f64>,
    keep: usize,
    exog: Vec<f64>,
    /// `coef[k]`: coefficients of step k+1.
    coef: Vec<Vec<f64>>,
    /// `Some(c)`: values are modelled as `ln(y + c)`.
    log_offset: Option<f64>,
}

impl QuantReg {
    pub(crate) fn fit(
        config: &QuantRegConfig,
        train: &TimeSeries,
        options: &FitOptions,
    ) -> Result<Self> {
        if config.lags == 0 || config.max_rows == 0 || config.iterations == 0 {
            return Err(ForecastError::InvalidParameter {
                name: "quantile".into(),
                message: format!(
                    "lags, max_rows and iterations must be ≥ 1 (got {}, {}, {})",
                    config.lags, config.max_rows, config.iterations
                ),
            });
        }
        let horizon = options.horizon;
        let log_offset = (config.log_target && train.values.iter().all(|v| *v >= 0.0)).then(|| {
            let mean = train.values.iter().sum::<f64>() / train.len().max(1) as f64;
            (0.1 * mean).max(1e-6)
        });
        let keep = config.lags.max(MEDIAN_WINDOWS[MEDIAN_WINDOWS.len() - 1]);
        let mut model = QuantReg {
            config: config.clone(),
            horizon,
            step_seconds: train.step_seconds,
            last_time: train.start - train.step_seconds,
            recent: VecDeque::with_capacity(keep + 1),
            keep,
            exog: vec![0.0; train.features.len()],
            coef: Vec::new(),
            log_offset,
        };
        let p = model.width();
        let n = train.len();
        // Origins whose window is full and whose every target is known.
        let origins = n.saturating_sub(keep - 1 + horizon);
        if origins < 4 * p {
            return Err(ForecastError::TooShort {
                what: format!("{} for model `quantile`", train.name),
                have: n,
                need: keep + horizon + 4 * p,
                why: format!("{p} coefficients per step need at least four training rows each"),
            });
        }
        let stride = origins.div_ceil(config.max_rows);
        let mut rows: Vec<(Vec<f64>, usize)> = Vec::with_capacity(origins / stride + 1);
        let mut feats = vec![0.0; train.features.len()];
        for i in 0..n - horizon {
            for (slot, (_, f)) in feats.iter_mut().zip(&train.features) {
                *slot = f[i];
            }
            model.observe(train.values[i], &feats);
            if model.recent.len() == keep && (n - horizon - 1 - i).is_multiple_of(stride) {
                rows.push((model.base_row(), i));
            }
        }
        let target = |i: usize| model.transform(train.values[i]);
        let mut coef = Vec::with_capacity(horizon);
        for k in 1..=horizon {
            let x: Vec<Vec<f64>> = rows
                .iter()
                .map(|(base, i)| model.full_row(base, train.time_of(*i + k)))
                .collect();
            let y: Vec<f64> = rows.iter().map(|(_, i)| target(i + k)).collect();
            coef.push(lad_fit(&x, &y, config.iterations));
        }
        model.coef = coef;
        // Bring the state up to the end of the history.
        for i in n - horizon..n {
            for (slot, (_, f)) in feats.iter_mut().zip(&train.features) {
                *slot = f[i];
            }
            model.observe(train.values[i], &feats);
        }
        Ok(model)
    }

    fn transform(&self, value: f64) -> f64 {
        // A value below the training range is clamped so the logarithm stays defined.
        match self.log_offset {
            Some(c) => (value.max(0.0) + c).ln(),
            None => value,
        }
    }

    fn width(&self) -> usize {
        1 + self.config.lags
            + MEDIAN_WINDOWS.len()
            + 3 * SPREAD_WINDOWS.len()
            + 2 * HARMONICS
            + self.exog.len()
    }

    /// Features that do not depend on the step (everything but the time of day).
    fn base_row(&self) -> Vec<f64> {
        let mut r = Vec::with_capacity(self.width());
        r.push(1.0);
        let n = self.recent.len();
        for lag in 0..self.config.lags {
            r.push(self.recent[n - 1 - lag.min(n - 1)]);
        }
        let mut sorted = Vec::with_capacity(self.keep);
        for w in MEDIAN_WINDOWS {
            sorted.clear();
            sorted.extend(self.recent.iter().rev().take(w.min(n)));
            sorted.sort_unstable_by(f64::total_cmp);
            r.push(quantile_sorted(&sorted, 0.5));
        }
        for w in SPREAD_WINDOWS {
            let take = w.min(n);
            let window = || self.recent.iter().rev().take(take).copied();
            r.push(window().sum::<f64>() / take as f64);
            r.push(window().fold(f64::INFINITY, f64::min));
            r.push(window().fold(f64::NEG_INFINITY, f64::max));
        }
        r.extend_from_slice(&self.exog);
        r
    }

    /// The base row plus the time-of-day harmonics of the target slot at `time`.
    fn full_row(&self, base: &[f64], time: i64) -> Vec<f64> {
        let mut r = base.to_vec();
        let day = time.rem_euclid(86_400) as f64 / 86_400.0;
        let tau = std::f64::consts::TAU;
        for h in 1..=HARMONICS {
            let a = tau * day * h as f64;
            r.push(a.sin());
            r.push(a.cos());
        }
        r
    }

    fn observe(&mut self, value: f64, features: &[f64]) {
        let value = self.transform(value);
        if self.recent.len() == self.keep {
            self.recent.pop_front();
        }
        self.recent.push_back(value);
        let e = self.exog.len().min(features.len());
        self.exog[..e].copy_from_slice(&features[..e]);
        self.last_time += self.step_seconds;
    }
}

impl PointModel for QuantReg {
    fn update(&mut self, value: f64, features: &[f64]) {
        self.observe(value, features);
    }

    fn forecast(&self, horizon: usize) -> Vec<f64> {
        let base = self.base_row();
        (1..=horizon)
            .map(|k| {
                let c = &self.coef[(k - 1).min(self.horizon - 1)];
                let row = self.full_row(&base, self.last_time + k as i64 * self.step_seconds);
                let z: f64 = row.iter().zip(c).map(|(x, b)| x * b).sum();
                match self.log_offset {
                    Some(off) => (z.min(700.0).exp() - off).max(0.0),
                    None => z,
                }
            })
            .collect()
    }
}

/// Least-absolute-deviation regression of `y` on the rows of `x` (the first column is the
/// intercept) by iteratively reweighted least squares, starting from least squares.
pub(crate) fn lad_fit(x: &[Vec<f64>], y: &[f64], iterations: usize) -> Vec<f64> {
    let p = x[0].len();
    let n = x.len() as f64;
    // A tiny ridge, scaled by each feature's second moment, keeps collinear windows (a
    // running minimum that never moves, say) solvable without depending on units.
    let penalty: Vec<f64> = (0..p)
        .map(|j| {
            let second = x.iter().map(|r| r[j] * r[j]).sum::<f64>() / n;
            1e-6 * second.max(1e-12) * n
        })
        .collect();
    let spread = {
        let mean = y.iter().sum::<f64>() / n;
        y.iter().map(|v| (v - mean).abs()).sum::<f64>() / n
    };
    // Residuals below this count as this, so exact fits cannot get infinite weight.
    let floor = (1e-4 * spread).max(1e-12);
    let mut weights = vec![1.0; x.len()];
    let mut coef = vec![0.0; p];
    coef[0] = y.iter().sum::<f64>() / n;
    for _ in 0..iterations {
        let mut a = vec![0.0; p * p];
        let mut b = vec![0.0; p];
        for ((r, &t), &w) in x.iter().zip(y).zip(&weights) {
            for i in 0..p {
                let wi = w * r[i];
                b[i] += wi * t;
                let line = &mut a[i * p..=i * p + i];
                for (cell, rj) in line.iter_mut().zip(r) {
                    *cell += wi * rj;
                }
            }
        }
        for i in 0..p {
            for j in 0..i {
                a[j * p + i] = a[i * p + j];
            }
            a[i * p + i] += penalty[i];
        }
        let Some(next) = cholesky_solve(&mut a, &b, p) else {
            break;
        };
        coef = next;
        for ((r, &t), w) in x.iter().zip(y).zip(weights.iter_mut()) {
            let fit: f64 = r.iter().zip(&coef).map(|(a, b)| a * b).sum();
            *w = 1.0 / (t - fit).abs().max(floor);
        }
    }
    coef
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean absolute error of `coef` on (x, y).
    fn mae(x: &[Vec<f64>], y: &[f64], coef: &[f64]) -> f64 {
        x.iter()
            .zip(y)
            .map(|(r, t)| (t - r.iter().zip(coef).map(|(a, b)| a * b).sum::<f64>()).abs())
            .sum::<f64>()
            / y.len() as f64
    }

    #[test]
    fn lad_ignores_rare_large_outliers_that_pull_least_squares() {
        // y = 1 + 2x, with every tenth point lifted by 50 (a "burst"): the median line is
        // the clean one, while a least-squares line would be shifted up by about 5.
        let x: Vec<Vec<f64>> = (0..200).map(|i| vec![1.0, f64::from(i) / 20.0]).collect();
        let y: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, r)| 1.0 + 2.0 * r[1] + if i % 10 == 3 { 50.0 } else { 0.0 })
            .collect();
        let c = lad_fit(&x, &y, 50);
        assert!(
            (c[0] - 1.0).abs() < 0.05 && (c[1] - 2.0).abs() < 0.01,
            "{c:?}"
        );
        assert!(mae(&x, &y, &c) < mae(&x, &y, &[6.0, 2.0]));
    }

    #[test]
    fn forecasts_the_base_load_after_a_burst() {
        // A base load of 0.5 with 3-slot bursts to 4.0 every 40 slots: after a burst has
        // started, the median 5 slots ahead is the base load, not the burst.
        let values: Vec<f64> = (0..6000)
            .map(|i| if i % 40 < 3 { 4.0 } else { 0.5 })
            .collect();
        let s = TimeSeries::from_values("load", 0, 60, values).unwrap();
        let train = s.slice(0, 4001); // ends on the first slot of a burst
        let m = QuantReg::fit(&QuantRegConfig::default(), &train, &FitOptions::new(5, 0)).unwrap();
        let f = m.forecast(5);
        assert!((f[4] - 0.5).abs() < 0.05, "{f:?}");
        assert!(f[0] > 2.0, "one step ahead the burst is still on: {f:?}");
    }

    #[test]
    fn too_little_history_is_an_error() {
        let s = TimeSeries::from_values("short", 0, 60, vec![1.0; 80]).unwrap();
        let r = QuantReg::fit(&QuantRegConfig::default(), &s, &FitOptions::new(5, 0));
        assert!(matches!(r, Err(ForecastError::TooShort { .. })));
    }
}
