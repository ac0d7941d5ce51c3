//! Direct multi-step ridge regression on exogenous features.
//!
//! One linear model per horizon step k, all reading the same state at the forecast origin:
//! the last `lags` values, the value one season before the target, the mean of the last
//! season, time of day and weekend of the target slot, and the current exogenous readings
//! (CPU %, network, sensors …), plus means of the last 4, 16 and 64 values. A non-negative
//! target (power, energy) is modelled as `ln(y + c)`: its errors are far closer to symmetric
//! there, so the back-transformed forecast sits near the median, which is what MAE rewards.
//! Training only accumulates `XᵀX` and `Xᵀy`, so fitting and
//! online updating are the same code path and the state cannot drift from what was trained.

use std::collections::VecDeque;

use crate::error::{ForecastError, Result};
use crate::model::{FitOptions, PointModel};
use crate::series::TimeSeries;

/// Settings of the ridge regression.
#[derive(Debug, Clone, PartialEq)]
pub struct RidgeConfig {
    /// How many recent values are features.
    pub lags: usize,
    /// Penalty, relative to each feature's variance times the number of training rows.
    pub lambda: f64,
    /// Re-solve the normal equations after this many online updates.
    pub resolve_every: usize,
    /// Model `ln(y + c)` when the training values are all non-negative.
    pub log_target: bool,
}

impl Default for RidgeConfig {
    fn default() -> Self {
        Self {
            lags: 24,
            lambda: 1e-4,
            resolve_every: 60,
            log_target: true,
        }
    }
}

pub(crate) struct Ridge {
    config: RidgeConfig,
    season: usize,
    horizon: usize,
    step_seconds: i64,
    /// Time (seconds) of the last observed slot.
    last_time: i64,
    recent: VecDeque<f64>,
    keep: usize,
    exog: Vec<f64>,
    /// Feature rows of the latest origins (newest first), one row per step.
    pending: VecDeque<Vec<Vec<f64>>>,
    xtx: Vec<Vec<f64>>,
    xty: Vec<Vec<f64>>,
    rows: Vec<usize>,
    coef: Vec<Vec<f64>>,
    penalty: Vec<f64>,
    since_solve: usize,
    /// `Some(c)`: values are modelled as `ln(y + c)`.
    log_offset: Option<f64>,
}

/// Windows (in slots) whose recent means are features.
const MEAN_WINDOWS: [usize; 3] = [4, 16, 64];

impl Ridge {
    pub(crate) fn fit(
        config: &RidgeConfig,
        train: &TimeSeries,
        options: &FitOptions,
    ) -> Result<Self> {
        if config.lags == 0 || config.lambda.is_nan() || config.lambda < 0.0 {
            return Err(ForecastError::InvalidParameter {
                name: "ridge".into(),
                message: format!(
                    "lags must be ≥ 1 and lambda ≥ 0 (got {} and {})",
                    config.lags, config.lambda
                ),
            });
        }
        let season = if options.season >= 2 {
            options.season
        } else {
            0
        };
        let horizon = options.horizon;
        let p = 1
            + config.lags
            + if season > 0 { 2 } else { 0 }
            + MEAN_WINDOWS.len()
            + 5
            + train.features.len();
        let log_offset = (config.log_target && train.values.iter().all(|v| *v >= 0.0)).then(|| {
            let mean = train.values.iter().sum::<f64>() / train.len().max(1) as f64;
            (0.1 * mean).max(1e-6)
        });
        let mut model = Ridge {
            config: config.clone(),
            season,
            horizon,
            step_seconds: train.step_seconds,
            last_time: train.start - train.step_seconds,
            recent: VecDeque::new(),
            keep: config
                .lags
                .max(season)
                .max(MEAN_WINDOWS[MEAN_WINDOWS.len() - 1]),
            exog: vec![0.0; train.features.len()],
            pending: VecDeque::new(),
            xtx: vec![vec![0.0; p * p]; horizon],
            xty: vec![vec![0.0; p]; horizon],
            rows: vec![0; horizon],
            coef: vec![vec![0.0; p]; horizon],
            penalty: vec![0.0; p],
            since_solve: 0,
            log_offset,
        };
        let mut row = vec![0.0; train.features.len()];
        for i in 0..train.len() {
            for (slot, (_, f)) in row.iter_mut().zip(&train.features) {
                *slot = f[i];
            }
            model.observe(train.values[i], &row);
        }
        if model.rows[horizon - 1] < p {
            return Err(ForecastError::TooShort {
                what: format!("{} for model `ridge`", train.name),
                have: train.len(),
                need: model.keep + horizon + p,
                why: format!("{p} coefficients per step need at least as many training rows"),
            });
        }
        // Penalise each coefficient in proportion to its feature's spread, so the penalty does
        // not depend on units (kW or W, % or fraction).
        for k in 0..horizon {
            let n = model.rows[k] as f64;
            for j in 1..p {
                let mean = model.xtx[k][j] / n;
                let var = (model.xtx[k][j * p + j] / n - mean * mean).max(1e-12);
                model.penalty[j] = model.penalty[j].max(config.lambda * var * n);
            }
        }
        model.solve();
        Ok(model)
    }

    fn width(&self) -> usize {
        self.coef[0].len()
    }

    fn row(&self, k: usize) -> Vec<f64> {
        let mut r = Vec::with_capacity(self.width());
        r.push(1.0);
        let n = self.recent.len();
        for lag in 0..self.config.lags {
            r.push(self.recent[n - 1 - lag.min(n - 1)]);
        }
        if self.season > 0 {
            let m = self.season;
            let back = m * k.div_ceil(m);
            let idx = (n + k).saturating_sub(back + 1).min(n - 1);
            r.push(self.recent[idx]);
            let take = m.min(n);
            r.push(self.recent.iter().rev().take(take).sum::<f64>() / take as f64);
        }
        for w in MEAN_WINDOWS {
            let take = w.min(n);
            r.push(self.recent.iter().rev().take(take).sum::<f64>() / take as f64);
        }
        let t = self.last_time + k as i64 * self.step_seconds;
        let day = t.rem_euclid(86_400) as f64 / 86_400.0;
        let tau = std::f64::consts::TAU;
        r.extend([
            (tau * day).sin(),
            (tau * day).cos(),
            (2.0 * tau * day).sin(),
            (2.0 * tau * day).cos(),
        ]);
        // 1970-01-01 was a Thursday: day index 2 and 3 after it are Saturday and Sunday.
        let weekday = t.div_euclid(86_400).rem_euclid(7);
        r.push(if weekday == 2 || weekday == 3 {
            1.0
        } else {
            0.0
        });
        r.extend_from_slice(&self.exog);
        r
    }

    /// Takes a sample: credits pending rows with their target, then forms the new origin's rows.
    fn observe(&mut self, value: f64, features: &[f64]) {
        // A value below the training range (e.g. export on a meter seen only importing) is
        // clamped so the logarithm stays defined.
        let value = match self.log_offset {
            Some(c) => (value.max(0.0) + c).ln(),
            None => value,
        };
        let p = self.width();
        for (k, rows) in self.pending.iter().enumerate() {
            let r = &rows[k];
            let (xtx, xty) = (&mut self.xtx[k], &mut self.xty[k]);
            for i in 0..p {
                let ri = r[i];
                xty[i] += ri * value;
                let line = &mut xtx[i * p..(i + 1) * p];
                for (cell, rj) in line.iter_mut().zip(r) {
                    *cell += ri * rj;
                }
            }
            self.rows[k] += 1;
        }
        if self.recent.len() == self.keep {
            self.recent.pop_front();
        }
        self.recent.push_back(value);
        let e = self.exog.len().min(features.len());
        self.exog[..e].copy_from_slice(&features[..e]);
        self.last_time += self.step_seconds;
        if self.recent.len() == self.keep {
            let rows: Vec<Vec<f64>> = (1..=self.horizon).map(|k| self.row(k)).collect();
            self.pending.push_front(rows);
            self.pending.truncate(self.horizon);
        }
    }

    fn solve(&mut self) {
        let p = self.width();
        for k in 0..self.horizon {
            let mut a = self.xtx[k].clone();
            for j in 0..p {
                a[j * p + j] += self.penalty[j] + 1e-9;
            }
            if let Some(c) = cholesky_solve(&mut a, &self.xty[k], p) {
                self.coef[k] = c;
            }
        }
        self.since_solve = 0;
    }
}

impl PointModel for Ridge {
    fn update(&mut self, value: f64, features: &[f64]) {
        self.observe(value, features);
        self.since_solve += 1;
        if self.since_solve >= self.config.resolve_every {
            self.solve();
        }
    }

    fn forecast(&self, horizon: usize) -> Vec<f64> {
        (1..=horizon)
            .map(|k| {
                let c = &self.coef[(k - 1).min(self.horizon - 1)];
                let z: f64 = self.row(k).iter().zip(c).map(|(x, b)| x * b).sum();
                match self.log_offset {
                    Some(off) => z.min(700.0).exp() - off,
                    None => z,
                }
            })
            .collect()
    }
}

/// Solves `a x = b` for symmetric positive definite `a` (row-major, `p`×`p`, overwritten).
pub(crate) fn cholesky_solve(a: &mut [f64], b: &[f64], p: usize) -> Option<Vec<f64>> {
    for j in 0..p {
        let mut d = a[j * p + j];
        for k in 0..j {
            d -= a[j * p + k] * a[j * p + k];
        }
        if d.is_nan() || d <= 0.0 {
            return None;
        }
        let d = d.sqrt();
        a[j * p + j] = d;
        for i in j + 1..p {
            let mut s = a[i * p + j];
            for k in 0..j {
                s -= a[i * p + k] * a[j * p + k];
            }
            a[i * p + j] = s / d;
        }
    }
    let mut y = b.to_vec();
    for i in 0..p {
        for k in 0..i {
            y[i] -= a[i * p + k] * y[k];
        }
        y[i] /= a[i * p + i];
    }
    for i in (0..p).rev() {
        for k in i + 1..p {
            y[i] -= a[k * p + i] * y[k];
        }
        y[i] /= a[i * p + i];
    }
    Some(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_small_system() {
        let mut a = vec![4.0, 2.0, 2.0, 3.0];
        let x = cholesky_solve(&mut a, &[6.0, 5.0], 2).unwrap();
        assert!(
            (x[0] - 1.0).abs() < 1e-12 && (x[1] - 1.0).abs() < 1e-12,
            "{x:?}"
        );
    }

    #[test]
    fn ridge_learns_a_linear_recurrence() {
        // y_t = 0.5 y_{t-1} + 1 + x_{t-1}: the exact law is inside the model class.
        let mut y = vec![0.0];
        // A pseudo-random input, so no feature is an exact combination of the others.
        let x: Vec<f64> = (0u64..400)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % 1000) as f64 / 1000.0)
            .collect();
        for i in 1..400 {
            y.push(0.5 * y[i - 1] + 1.0 + x[i - 1]);
        }
        let mut s = TimeSeries::from_values("y", 0, 60, y.clone()).unwrap();
        s.features.push(("x".into(), x.clone()));
        let cfg = RidgeConfig {
            lags: 2,
            lambda: 0.0,
            resolve_every: 10,
            log_target: false,
        };
        let m = Ridge::fit(&cfg, &s.slice(0, 300), &FitOptions::new(1, 0)).unwrap();
        let f = m.forecast(1)[0];
        let truth = 0.5 * y[299] + 1.0 + x[299];
        assert!((f - truth).abs() < 1e-4, "{f} vs {truth}");
    }
}
