//! Day-ahead load from its weekly shape: direct multi-step median regression on what the same
//! slot looked like on the recent days and weeks.
//!
//! A household's load a day ahead is mostly "what this hour usually is", and which usual:
//! the last few days (routines drift with the season), the same hour of last week (weekday
//! against weekend), or a longer, steadier memory. Spiky, skewed load punishes means — one
//! evening with the oven lifts a mean for a week but not a median — and MAE is minimised by the
//! median. So one least-absolute-deviation regression per step k ahead ([`crate::quantreg`]'s
//! IRLS fit) weighs, for the target slot t = origin + k:
//! - the median, mean, minimum and maximum of the same slot over the last `days` days, the
//!   latest of them alone, and the median over `long_days` days;
//! - the same slot one week earlier and its mean over `weeks` weeks;
//! - the level of the last day and week and the last value and the mean of the last three
//!   (what is on right now still matters a few steps ahead);
//! - the time of day (two harmonics) and whether the target falls on a weekend.
//!
//! Values are modelled as `ln(y + c)` when the history is non-negative (the median commutes
//! with the transform). Online: an update appends to the history, a forecast reads the
//! features from it; the coefficients are refitted on the history kept every `refit_every`
//! slots (four weeks of slots by default), which is the only costly step.

use rayon::prelude::*;

use crate::error::{ForecastError, Result};
use crate::model::{FitOptions, PointModel};
use crate::quantreg::lad_fit;
use crate::series::TimeSeries;

/// Settings of the weekly-profile median regression.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileConfig {
    /// Recent days of the same slot whose median, mean, minimum and maximum are features.
    pub days: usize,
    /// Days behind the long median of the same slot.
    pub long_days: usize,
    /// Weeks of the same slot of the week whose mean is a feature.
    pub weeks: usize,
    /// Most training rows per step (newest kept, evenly thinned). 1,500 (was 3,000) halves the
    /// refit cost; `auto` on the 13 day-ahead benchmark houses kept its geometric mean (0.822).
    pub max_rows: usize,
    /// Reweighting iterations of the least-absolute-deviation fit.
    pub iterations: usize,
    /// Slots between refits; `None`: four weeks of slots (a refit is 24 least-absolute-deviation
    /// fits on up to `max_rows` rows; weekly on 3,000 rows it cost 2.4 ms per hourly update
    /// amortised, four-weekly on 1,500 rows ~0.3 ms).
    pub refit_every: Option<usize>,
    /// Most slots of history kept for refits.
    pub max_history: usize,
    /// Model `ln(y + c)` when the history is non-negative.
    pub log_target: bool,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        Self {
            days: 7,
            long_days: 28,
            weeks: 4,
            max_rows: 1500,
            iterations: 25,
            refit_every: None,
            max_history: 20_000,
            log_target: true,
        }
    }
}

/// Harmonics of the time of day among the features.
const HARMONICS: usize = 2;
/// Features per row: intercept, 4 day statistics, latest day, long median, last week, weekly
/// mean, day and week level, last value, mean of the last three, harmonics, weekend.
const WIDTH: usize = 13 + 2 * HARMONICS + 1;

pub(crate) struct Profile {
    config: ProfileConfig,
    /// Slots per day (the season).
    season: usize,
    horizon: usize,
    step_seconds: i64,
    /// Time (seconds) of `values[0]`.
    first_time: i64,
    /// The history, transformed.
    values: Vec<f64>,
    /// `coef[k]`: coefficients of step k+1.
    coef: Vec<Vec<f64>>,
    log_offset: Option<f64>,
    refit_every: usize,
    since_refit: usize,
}

impl Profile {
    pub(crate) fn fit(
        config: &ProfileConfig,
        train: &TimeSeries,
        options: &FitOptions,
    ) -> Result<Self> {
        let m = options.season;
        if m < 2 {
            return Err(ForecastError::InvalidParameter {
                name: "profile".into(),
                message: format!("needs a season of at least 2 slots (got {m})"),
            });
        }
        if config.days == 0 || config.weeks == 0 || config.max_rows == 0 || config.iterations == 0 {
            return Err(ForecastError::InvalidParameter {
                name: "profile".into(),
                message: "days, weeks, max_rows and iterations must be at least 1".into(),
            });
        }
        let need = Self::min_points(m, options.horizon);
        if train.len() < need {
            return Err(ForecastError::TooShort {
                what: format!("{} for model `profile`", train.name),
                have: train.len(),
                need,
                why: format!(
                    "the features read a week back ({} slots) and each step needs {} rows",
                    7 * m,
                    4 * WIDTH
                ),
            });
        }
        let log_offset = (config.log_target && train.values.iter().all(|v| *v >= 0.0)).then(|| {
            let mean = train.values.iter().sum::<f64>() / train.len() as f64;
            (0.1 * mean).max(1e-6)
        });
        let keep = train.len().min(config.max_history.max(need));
        let from = train.len() - keep;
        let mut model = Profile {
            config: config.clone(),
            season: m,
            horizon: options.horizon,
            step_seconds: train.step_seconds,
            first_time: train.time_of(from),
            values: Vec::with_capacity(keep),
            coef: Vec::new(),
            log_offset,
            refit_every: config.refit_every.unwrap_or(28 * m).max(1),
            since_refit: 0,
        };
        model.values = train.values[from..]
            .iter()
            .map(|&v| model.transform(v))
            .collect();
        model.refit();
        Ok(model)
    }

    /// Fewest points of history a fit needs with season `m` and `horizon` steps: a week of
    /// lookback, the horizon and four rows per coefficient.
    pub(crate) fn min_points(m: usize, horizon: usize) -> usize {
        7 * m.max(1) + horizon + 4 * WIDTH
    }

    fn transform(&self, v: f64) -> f64 {
        match self.log_offset {
            // A value below the training range is clamped so the logarithm stays defined.
            Some(c) => (v.max(0.0) + c).ln(),
            None => v,
        }
    }

    fn back(&self, z: f64) -> f64 {
        match self.log_offset {
            Some(c) => (z.min(700.0).exp() - c).max(0.0),
            None => z,
        }
    }

    /// The features of step `k` (0-based) from origin `o` (the first slot not known yet) into
    /// `row`; reads only `values[..o]`.
    fn features(&self, o: usize, k: usize, row: &mut Vec<f64>) {
        let (m, v) = (self.season, &self.values);
        let week = 7 * m;
        let t = o + k;
        row.clear();
        row.push(1.0);
        // Same slot on earlier days: the first day back that is known at the origin.
        let d0 = k / m + 1;
        let days = |count: usize| {
            (d0..d0 + count)
                .map_while(|d| t.checked_sub(d * m))
                .map(|i| v[i])
        };
        let mut recent: Vec<f64> = days(self.config.days).collect();
        let latest = recent[0];
        let mean = recent.iter().sum::<f64>() / recent.len() as f64;
        recent.sort_unstable_by(f64::total_cmp);
        row.extend([
            median_sorted(&recent),
            mean,
            recent[0],
            recent[recent.len() - 1],
            latest,
        ]);
        let mut long: Vec<f64> = days(self.config.long_days).collect();
        long.sort_unstable_by(f64::total_cmp);
        row.push(median_sorted(&long));
        let e0 = k / week + 1;
        let weeks: Vec<f64> = (e0..e0 + self.config.weeks)
            .map_while(|e| t.checked_sub(e * week))
            .map(|i| v[i])
            .collect();
        row.push(weeks[0]);
        row.push(weeks.iter().sum::<f64>() / weeks.len() as f64);
        let level = |w: usize| v[o - w.min(o)..o].iter().sum::<f64>() / w.min(o) as f64;
        row.extend([level(m), level(week), v[o - 1], level(3)]);
        let time = self.first_time + t as i64 * self.step_seconds;
        let day = time.rem_euclid(86_400) as f64 / 86_400.0;
        for h in 1..=HARMONICS {
            let a = std::f64::consts::TAU * day * h as f64;
            row.extend([a.sin(), a.cos()]);
        }
        // 1970-01-01 was a Thursday: day index 2 and 3 after it are Saturday and Sunday.
        let weekday = time.div_euclid(86_400).rem_euclid(7);
        row.push(f64::from(u8::from(weekday == 2 || weekday == 3)));
    }

    /// Refits every step's coefficients on the history kept.
    fn refit(&mut self) {
        self.since_refit = 0;
        let n = self.values.len();
        let h = self.horizon;
        let first = 7 * self.season;
        if n < first + h + 4 * WIDTH {
            return;
        }
        let count = n - h + 1 - first;
        let stride = count.div_ceil(self.config.max_rows).max(1);
        // Origins o (first unknown slot) with a week of lookback and all h targets known,
        // the newest one kept.
        let origins: Vec<usize> = (first..=n - h).rev().step_by(stride).collect();
        let coef: Vec<Vec<f64>> = (0..h)
            .into_par_iter()
            .map(|k| {
                let mut row = Vec::with_capacity(WIDTH);
                let x: Vec<Vec<f64>> = origins
                    .iter()
                    .map(|&o| {
                        self.features(o, k, &mut row);
                        row.clone()
                    })
                    .collect();
                let y: Vec<f64> = origins.iter().map(|&o| self.values[o + k]).collect();
                lad_fit(&x, &y, self.config.iterations)
            })
            .collect();
        self.coef = coef;
    }
}

/// The median of sorted, non-empty data.
fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }
}

impl PointModel for Profile {
    fn update(&mut self, value: f64, _features: &[f64]) {
        let v = self.transform(value);
        self.values.push(v);
        // Drop old history in chunks of a tenth, so the shift is amortised.
        let cap = self
            .config
            .max_history
            .max(Self::min_points(self.season, self.horizon));
        if self.values.len() > cap + cap / 10 {
            let drop = self.values.len() - cap;
            self.values.drain(..drop);
            self.first_time += drop as i64 * self.step_seconds;
        }
        self.since_refit += 1;
        if self.since_refit >= self.refit_every {
            self.refit();
        }
    }

    fn forecast(&self, horizon: usize) -> Vec<f64> {
        let o = self.values.len();
        let mut row = Vec::with_capacity(WIDTH);
        (0..horizon)
            .map(|k| {
                let c = &self.coef[k.min(self.horizon - 1)];
                self.features(o, k, &mut row);
                self.back(row.iter().zip(c).map(|(x, b)| x * b).sum())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hourly load with a weekday and a weekend profile and a burst at 19:00 on about one
    /// evening in five, on days drawn by a hash. The bursts must be irregular: on a fixed
    /// period the recent maximum and mean tell exactly when the next one comes, and the
    /// regression rightly learns to forecast part of it.
    fn weekly_load(days: usize) -> Vec<f64> {
        let burst_day =
            |day: usize| ((day as f64 * 12.9898).sin() * 43_758.545_3).fract().abs() < 0.2;
        (0..days * 24)
            .map(|i| {
                let (day, hour) = (i / 24, i % 24);
                let weekend = matches!(day % 7, 2 | 3);
                let base = if weekend { 0.8 } else { 0.3 };
                let evening = if (18..22).contains(&hour) { 1.0 } else { 0.0 };
                let burst = if burst_day(day) && hour == 19 {
                    3.0
                } else {
                    0.0
                };
                base + evening + burst
            })
            .collect()
    }

    #[test]
    fn forecasts_the_usual_day_and_tells_weekends_apart() {
        let s = TimeSeries::from_values("load", 0, 3600, weekly_load(70)).unwrap();
        // The history ends at the last hour of day 64, a Friday (day 64 % 7 = 1).
        let n = 65 * 24;
        let m = Profile::fit(
            &ProfileConfig::default(),
            &s.slice(0, n),
            &FitOptions::new(24, 24),
        )
        .unwrap();
        let f = m.forecast(48);
        // Saturday (day 65) is a weekend day: base 0.8; its 19:00 is 1.8 (day 65 has a burst in
        // the data, which the median must ignore).
        for (k, want) in [(3, 0.8), (19, 1.8), (24 + 3, 0.8)] {
            assert!((f[k] - want).abs() < 0.1, "step {k}: {} vs {want}", f[k]);
        }
    }

    #[test]
    fn online_updates_follow_the_history() {
        let values = weekly_load(60);
        let s = TimeSeries::from_values("load", 0, 3600, values.clone()).unwrap();
        let mut m = Profile::fit(
            &ProfileConfig::default(),
            &s.slice(0, 40 * 24),
            &FitOptions::new(24, 24),
        )
        .unwrap();
        for &v in &values[40 * 24..55 * 24] {
            m.update(v, &[]);
        }
        // Day 55 is a Wednesday (55 % 7 = 6): base 0.3.
        let f = m.forecast(24);
        assert!((f[3] - 0.3).abs() < 0.1, "{f:?}");
    }

    /// A refit costs ~0.4 s on a long hourly history, so by default it comes every four weeks
    /// of updates, not every week (which cost 2.4 ms per update amortised).
    #[test]
    fn refits_every_four_weeks_by_default() {
        let values = weekly_load(100);
        let s = TimeSeries::from_values("load", 0, 3600, values.clone()).unwrap();
        let mut m = Profile::fit(
            &ProfileConfig::default(),
            &s.slice(0, 40 * 24),
            &FitOptions::new(24, 24),
        )
        .unwrap();
        let fitted = m.coef.clone();
        for &v in &values[40 * 24..68 * 24 - 1] {
            m.update(v, &[]);
        }
        assert_eq!(m.coef, fitted, "refitted before four weeks of updates");
        m.update(values[68 * 24 - 1], &[]);
        assert_ne!(m.coef, fitted, "no refit after four weeks of updates");
    }

    #[test]
    fn needs_a_season_and_a_week() {
        let s = TimeSeries::from_values("load", 0, 3600, weekly_load(5)).unwrap();
        let r = Profile::fit(&ProfileConfig::default(), &s, &FitOptions::new(24, 24));
        assert!(matches!(r, Err(ForecastError::TooShort { .. })));
        let r = Profile::fit(&ProfileConfig::default(), &s, &FitOptions::new(24, 0));
        assert!(matches!(r, Err(ForecastError::InvalidParameter { .. })));
    }
}
