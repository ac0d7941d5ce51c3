//! Boosted trees: direct multi-step median forecasts from the device's recent behaviour.
//!
//! Minute-level load is a sum of appliances switching on and off. When one switches on, nothing
//! in the past announces it; but once it is on, how long it stays on and what the load falls
//! back to are learnable — a kettle jump of 2 kW two minutes ago is nearly over, a water
//! heater that has drawn 1 kW for ten minutes is not. Linear models cannot express "how long
//! since the last jump, and how big was it", trees can. So one boosted ensemble per step k
//! ahead ([`trees::Booster`], pinball loss at the median, since MAE is what we score) predicts
//! the *change* `x[t+k] − x[t]` from:
//! - the last ten values, and the mean, minimum and maximum over 5, 15, 60 and 240 slots;
//! - how long the load has been steady (no step above the 80th percentile of one-slot changes)
//!   and the level before; the age and size of the last large rise (above the 95th
//!   percentile) and the age of the last large fall;
//! - each exogenous feature (CPU %, sub-meters, network …): now, one and five slots ago, its
//!   change over those, its 15-slot mean, 60-slot maximum and how long it has been steady;
//! - the time of day and day of week of the origin, the maximum over the last season, and the
//!   value one season and one week of seasons before the target (when the history reaches
//!   back that far).
//!
//! Online: every update appends to the device's history (capped at `max_history` slots), so
//! features are always computed by the same code from the same buffer, in training and in
//! service. Whenever the history has grown by a sixteenth since the last fit (or every
//! `refit_every` slots) the ensembles are refitted on the history so far — the model keeps
//! learning the device's appliances as months pass — and that refit is the only expensive step
//! (seconds); between refits an update costs microseconds.

mod trees;

pub use trees::{BoostConfig, Booster};

use rayon::prelude::*;

use crate::error::{ForecastError, Result};
use crate::model::{FitOptions, PointModel};
use crate::series::TimeSeries;

/// Settings of the boosted-trees forecaster.
#[derive(Debug, Clone, PartialEq)]
pub struct BoostedConfig {
    /// The ensemble of each step.
    pub ensemble: BoostConfig,
    /// Most training rows per step; longer histories are evenly thinned (newest row kept).
    pub max_rows: usize,
    /// Slots between refits; `None`: a sixteenth of the history kept at the last fit (at least
    /// 1,000 slots) — about weekly for six months of minute data.
    pub refit_every: Option<usize>,
    /// Most slots of history kept for refits.
    pub max_history: usize,
}

impl Default for BoostedConfig {
    fn default() -> Self {
        Self {
            ensemble: BoostConfig {
                trees: 300,
                learning_rate: 0.05,
                min_leaf: 100,
                ..BoostConfig::default()
            },
            max_rows: 150_000,
            refit_every: None,
            max_history: 250_000,
        }
    }
}

/// Slots of history the features read (the longest window).
const LOOKBACK: usize = 240;
/// Longest steady run or jump age counted (slots).
const MAX_RUN: usize = 720;
/// Fewest training rows per step.
const MIN_ROWS: usize = 300;

/// Quantile levels of the absolute one-slot change that count as a change and as a jump.
const STEADY_QUANTILE: f64 = 0.8;
const JUMP_QUANTILE: f64 = 0.95;

pub(crate) struct Boosted {
    config: BoostedConfig,
    horizon: usize,
    season: usize,
    step_seconds: i64,
    /// Time (seconds) of `values[0]`.
    first_time: i64,
    values: Vec<f64>,
    /// `exog[j]`: history of exogenous feature j, aligned with `values`.
    exog: Vec<Vec<f64>>,
    /// One-slot change that breaks a steady run, and one that counts as a jump.
    steady: f64,
    jump: f64,
    /// Per exogenous feature, the change that breaks its steady run.
    exog_steady: Vec<f64>,
    /// `steps[k]`: ensemble for k+1 slots ahead.
    steps: Vec<Booster>,
    refit_every: usize,
    since_refit: usize,
    seed: u64,
}

impl Boosted {
    pub(crate) fn fit(
        config: &BoostedConfig,
        train: &TimeSeries,
        options: &FitOptions,
    ) -> Result<Self> {
        let e = &config.ensemble;
        let bad = |message: String| ForecastError::InvalidParameter {
            name: "boosted".into(),
            message,
        };
        if e.trees == 0 || e.depth == 0 || e.min_leaf == 0 || config.max_rows < MIN_ROWS {
            return Err(bad(format!(
                "trees, depth and min_leaf must be ≥ 1 and max_rows ≥ {MIN_ROWS} (got {}, {}, {}, {})",
                e.trees, e.depth, e.min_leaf, config.max_rows
            )));
        }
        let unit = |v: f64| v > 0.0 && v <= 1.0; // false for NaN too
        if !(unit(e.learning_rate) && unit(e.subsample) && e.quantile > 0.0 && e.quantile < 1.0) {
            return Err(bad(format!(
                "learning_rate and subsample must be in (0, 1] and quantile in (0, 1) (got {}, {}, {})",
                e.learning_rate, e.subsample, e.quantile
            )));
        }
        let n = train.len();
        let need = Self::min_points(options.horizon);
        if n < need {
            return Err(ForecastError::TooShort {
                what: format!("{} for model `boosted`", train.name),
                have: n,
                need,
                why: format!(
                    "the features read {LOOKBACK} slots back and each step needs {MIN_ROWS} \
                     training rows"
                ),
            });
        }
        let season = options.season;
        let keep = n.min(config.max_history);
        let mut model = Boosted {
            config: config.clone(),
            horizon: options.horizon,
            season,
            step_seconds: train.step_seconds,
            first_time: train.time_of(n - keep),
            values: train.values[n - keep..].to_vec(),
            exog: train
                .features
                .iter()
                .map(|(_, f)| f[n - keep..].to_vec())
                .collect(),
            steady: 0.0,
            jump: 0.0,
            exog_steady: Vec::new(),
            steps: Vec::new(),
            refit_every: 0,
            since_refit: 0,
            seed: options.seed,
        };
        model.refit();
        Ok(model)
    }

    /// Fewest points of history a fit needs for `horizon` steps.
    pub(crate) fn min_points(horizon: usize) -> usize {
        LOOKBACK + horizon + MIN_ROWS
    }

    /// Refits the thresholds and every step's ensemble on the whole history kept.
    fn refit(&mut self) {
        self.steady = change_quantile(&self.values, STEADY_QUANTILE);
        self.jump = change_quantile(&self.values, JUMP_QUANTILE).max(self.steady);
        self.exog_steady = self
            .exog
            .iter()
            .map(|f| change_quantile(f, STEADY_QUANTILE))
            .collect();
        let n = self.values.len();
        let h = self.horizon;
        // Origins t with a full lookback whose every target is known.
        let origins: Vec<usize> = if n > LOOKBACK + h {
            let count = n - h - LOOKBACK;
            let stride = count.div_ceil(self.config.max_rows).max(1);
            let mut o: Vec<usize> = (LOOKBACK..n - h).rev().step_by(stride).collect();
            o.reverse();
            o
        } else {
            Vec::new()
        };
        if origins.len() < MIN_ROWS {
            // Too little history yet: keep the current ensembles, try again later.
            self.since_refit = 0;
            self.refit_every = self.config.refit_every.unwrap_or(1000).max(1);
            return;
        }
        let width = self.width();
        let base: Vec<f64> = origins
            .par_iter()
            .flat_map_iter(|&t| {
                let mut row = Vec::with_capacity(width);
                self.base_row(t, &mut row);
                row
            })
            .collect();
        let base_width = base.len() / origins.len();
        self.steps = (1..=h)
            .into_par_iter()
            .map(|k| {
                let mut x = Vec::with_capacity(origins.len() * width);
                for (r, &t) in origins.iter().enumerate() {
                    x.extend_from_slice(&base[r * base_width..(r + 1) * base_width]);
                    self.step_columns(t, k, &mut x);
                }
                let y: Vec<f64> = origins
                    .iter()
                    .map(|&t| self.values[t + k] - self.values[t])
                    .collect();
                let config = BoostConfig {
                    seed: self.seed ^ (k as u64).wrapping_mul(0x9E37_79B9),
                    ..self.config.ensemble.clone()
                };
                Booster::fit(&x, width, &y, &config)
            })
            .collect();
        self.since_refit = 0;
        self.refit_every = self.config.refit_every.unwrap_or((n / 16).max(1000)).max(1);
    }

    /// Columns of a row: the base features plus the step-specific ones.
    fn width(&self) -> usize {
        let mut probe = Vec::new();
        // Any index with a full lookback gives the width; the layout does not depend on data.
        let t = LOOKBACK.min(self.values.len().saturating_sub(1));
        self.base_row(t, &mut probe);
        self.step_columns(t, 1, &mut probe);
        probe.len()
    }

    /// Features of origin `t` that do not depend on the step.
    fn base_row(&self, t: usize, row: &mut Vec<f64>) {
        let x = &self.values;
        let at = |l: usize| x[t.saturating_sub(l)];
        for l in 0..10 {
            row.push(at(l));
        }
        for w in [5usize, 15, 60, 240] {
            let window = &x[(t + 1).saturating_sub(w)..=t];
            row.push(window.iter().sum::<f64>() / window.len() as f64);
            row.push(window.iter().copied().fold(f64::INFINITY, f64::min));
            row.push(window.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        }
        let steady = run_length(x, t, |d| d.abs() > self.steady);
        row.push(steady as f64);
        row.push(at(steady + 1));
        let rise = run_length(x, t, |d| d > self.jump);
        row.push(rise as f64);
        row.push(at(rise) - at(rise + 1));
        row.push(run_length(x, t, |d| d < -self.jump) as f64);
        for (f, &threshold) in self.exog.iter().zip(&self.exog_steady) {
            let at = |l: usize| f[t.saturating_sub(l)];
            row.push(at(0));
            row.push(at(1));
            row.push(at(5));
            // Changes too: a tree splits on one column at a time and cannot subtract two.
            row.push(at(0) - at(1));
            row.push(at(0) - at(5));
            let w15 = &f[(t + 1).saturating_sub(15)..=t];
            row.push(w15.iter().sum::<f64>() / w15.len() as f64);
            let w60 = &f[(t + 1).saturating_sub(60)..=t];
            row.push(w60.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            row.push(run_length(f, t, |d| d.abs() > threshold) as f64);
        }
        if self.season >= 2 {
            let day = &x[(t + 1).saturating_sub(self.season)..=t];
            row.push(day.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        }
        let time = self.first_time + t as i64 * self.step_seconds;
        row.push(time.rem_euclid(86_400) as f64 / 3600.0);
        // 1970-01-01 was a Thursday: day 0 is Monday.
        row.push((time.div_euclid(86_400) + 3).rem_euclid(7) as f64);
    }

    /// The step-specific columns: the value one season and one week of seasons before the
    /// target (NaN when the history does not reach back that far; trees send NaN right).
    fn step_columns(&self, t: usize, k: usize, row: &mut Vec<f64>) {
        let m = self.season;
        for back in [m, 7 * m] {
            let v = if m >= 2 && t + k >= back {
                self.values[t + k - back]
            } else {
                f64::NAN
            };
            row.push(v);
        }
    }
}

/// Slots since the last one-slot change `d = x[i] − x[i−1]` with `hit(d)`, at most `MAX_RUN`.
fn run_length(x: &[f64], t: usize, hit: impl Fn(f64) -> bool) -> usize {
    let mut k = 0;
    while k < MAX_RUN && k < t && !hit(x[t - k] - x[t - k - 1]) {
        k += 1;
    }
    k
}

/// The q-quantile of the absolute one-slot changes of `x` (0 for fewer than two values).
fn change_quantile(x: &[f64], q: f64) -> f64 {
    let stride = x.len().div_ceil(100_000).max(1);
    let mut changes: Vec<f64> = x
        .windows(2)
        .step_by(stride)
        .map(|w| (w[1] - w[0]).abs())
        .filter(|d| d.is_finite())
        .collect();
    if changes.is_empty() {
        return 0.0;
    }
    let k = ((changes.len() - 1) as f64 * q).round() as usize;
    *changes.select_nth_unstable_by(k, f64::total_cmp).1
}

impl PointModel for Boosted {
    fn update(&mut self, value: f64, features: &[f64]) {
        if self.values.len() >= self.config.max_history {
            // Drop a quarter at once so trimming is amortised, not paid on every update.
            let drop = (self.config.max_history / 4).max(1);
            self.values.drain(..drop);
            self.exog.iter_mut().for_each(|f| {
                f.drain(..drop);
            });
            self.first_time += drop as i64 * self.step_seconds;
        }
        self.values.push(value);
        for (f, v) in self.exog.iter_mut().zip(features) {
            f.push(*v);
        }
        self.since_refit += 1;
        if self.since_refit >= self.refit_every {
            self.refit();
        }
    }

    fn forecast(&self, horizon: usize) -> Vec<f64> {
        let t = self.values.len() - 1;
        let last = self.values[t];
        let mut base = Vec::new();
        self.base_row(t, &mut base);
        (1..=horizon)
            .map(|k| match self.steps.get(k - 1).or(self.steps.last()) {
                Some(booster) => {
                    let mut row = base.clone();
                    self.step_columns(t, k, &mut row);
                    last + booster.predict(&row)
                }
                None => last,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_when_a_burst_ends() {
        // Base 0.5 kW with 3-slot bursts to 4 kW every 40 slots: two slots into a burst the
        // median three slots ahead is the base load, which persistence cannot know.
        let values: Vec<f64> = (0..8000)
            .map(|i| if i % 40 < 3 { 4.0 } else { 0.5 })
            .collect();
        let s = TimeSeries::from_values("load", 0, 60, values).unwrap();
        let train = s.slice(0, 6002); // ends on the second slot of a burst
        let m = Boosted::fit(&BoostedConfig::default(), &train, &FitOptions::new(3, 0)).unwrap();
        let f = m.forecast(3);
        assert!(f[0] > 3.0, "the burst lasts one more slot: {f:?}");
        assert!((f[2] - 0.5).abs() < 0.1, "then it is over: {f:?}");
    }

    #[test]
    fn exogenous_features_are_used() {
        // The load follows a feature with a lag of two slots: x[t] = 2·cpu[t−2] — the feature's
        // jump announces the load's, which the value history alone cannot.
        let mut state = 1u64;
        let mut cpu = Vec::new();
        let mut level = 1.0;
        for _ in 0..6000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if state >> 60 == 0 {
                level = ((state >> 40) % 10) as f64;
            }
            cpu.push(level);
        }
        let values: Vec<f64> = (0..6000usize)
            .map(|i| 2.0 * cpu[i.saturating_sub(2)])
            .collect();
        let mut s = TimeSeries::from_values("server", 0, 60, values.clone()).unwrap();
        s.features.push(("cpu".into(), cpu.clone()));
        let m = Boosted::fit(
            &BoostedConfig::default(),
            &s.slice(0, 4000),
            &FitOptions::new(2, 0),
        )
        .unwrap();
        let (mut with, mut persistence) = (0.0, 0.0);
        let mut m = m;
        for i in 4000..5998 {
            let f = m.forecast(2);
            with += (f[1] - values[i + 1]).abs();
            persistence += (values[i - 1] - values[i + 1]).abs();
            m.update(values[i], &[cpu[i]]);
        }
        assert!(persistence > 0.0);
        assert!(
            // Trees approximate the exact rule 2·cpu[t] piecewise, so not perfectly; the value
            // history alone could not beat persistence at all here.
            with < 0.5 * persistence,
            "{with} vs persistence {persistence}"
        );
    }

    #[test]
    fn refits_online_and_trims_the_history() {
        let values: Vec<f64> = (0..3000).map(|i| f64::from(i % 7)).collect();
        let s = TimeSeries::from_values("cycle", 0, 60, values).unwrap();
        let config = BoostedConfig {
            refit_every: Some(500),
            max_history: 1200,
            ensemble: BoostConfig {
                trees: 20,
                ..BoostConfig::default()
            },
            ..BoostedConfig::default()
        };
        let mut m = Boosted::fit(&config, &s.slice(0, 1000), &FitOptions::new(2, 0)).unwrap();
        for i in 1000..3000 {
            m.update(f64::from(i % 7), &[]);
            assert!(m.values.len() <= 1200);
        }
        assert!(m.since_refit < 500);
        let f = m.forecast(2);
        // The last value was 2999 % 7 = 3; the cycle continues with 4 and 5.
        assert!(
            (f[0] - 4.0).abs() < 0.2 && (f[1] - 5.0).abs() < 0.2,
            "{f:?}"
        );
    }

    #[test]
    fn too_little_history_is_an_error() {
        let s = TimeSeries::from_values("short", 0, 60, vec![1.0; 300]).unwrap();
        let r = Boosted::fit(&BoostedConfig::default(), &s, &FitOptions::new(5, 0));
        assert!(matches!(r, Err(ForecastError::TooShort { .. })));
    }
}
