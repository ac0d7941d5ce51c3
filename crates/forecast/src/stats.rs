//! ETS and MSTL through `augurs`, made online.
//!
//! augurs fits and forecasts but has no incremental update, and refitting on every sample would
//! cost milliseconds. So a fit produces a forecast *path* long enough to last until the next
//! refit; each new sample moves one step along the path and nudges a level correction by a
//! share of the surprise (as a local-level model would). The model refits itself on its recent
//! history once per `refit_every` samples (one season, at least 24), which amortises the cost.

use std::collections::VecDeque;

use augurs::{Fit, Predict, ets::AutoETS, mstl::MSTLModel};

use crate::error::{ForecastError, Result};
use crate::model::{FitOptions, PointModel};

/// Which augurs model produces the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathKind {
    Ets,
    Mstl,
}

/// Share of each surprise absorbed into the level correction.
const CORRECTION_GAIN: f64 = 0.5;

pub(crate) struct PathModel {
    kind: PathKind,
    season: usize,
    history: VecDeque<f64>,
    max_points: usize,
    refit_every: usize,
    max_horizon: usize,
    path: Vec<f64>,
    step: usize,
    since_refit: usize,
    correction: f64,
}

impl PathModel {
    pub(crate) fn fit(kind: PathKind, values: &[f64], options: &FitOptions) -> Result<Self> {
        let start = values.len().saturating_sub(options.max_fit_points);
        let refit_every = options.season.max(24);
        let mut model = PathModel {
            kind,
            season: options.season,
            history: values[start..].iter().copied().collect(),
            max_points: options.max_fit_points,
            refit_every,
            max_horizon: options.horizon,
            path: Vec::new(),
            step: 0,
            since_refit: 0,
            correction: 0.0,
        };
        model.path = model.compute_path()?;
        Ok(model)
    }

    fn compute_path(&self) -> Result<Vec<f64>> {
        let y: Vec<f64> = self.history.iter().copied().collect();
        let len = self.refit_every + self.max_horizon.max(1) * 4;
        let name = match self.kind {
            PathKind::Ets => "ets",
            PathKind::Mstl => "mstl",
        };
        let err = |e: &dyn std::fmt::Display| ForecastError::Model {
            model: name.into(),
            message: e.to_string(),
        };
        let m = self.season;
        let point = match self.kind {
            PathKind::Ets => {
                let auto = if (2..=48).contains(&m) && y.len() >= 2 * m + 10 {
                    AutoETS::new(m, "ZZZ").map_err(|e| err(&e))?
                } else {
                    AutoETS::non_seasonal()
                };
                let fitted = auto.fit(&y).map_err(|e| err(&e))?;
                fitted.predict(len, None).map_err(|e| err(&e))?.point
            }
            PathKind::Mstl => {
                if m < 2 || y.len() < 2 * m + 1 {
                    return Err(ForecastError::TooShort {
                        what: "mstl".into(),
                        have: y.len(),
                        need: 2 * m.max(2) + 1,
                        why: "MSTL needs two full seasons".into(),
                    });
                }
                let mut periods = vec![m];
                if y.len() > 2 * 7 * m {
                    periods.push(7 * m);
                }
                let trend = AutoETS::non_seasonal().into_trend_model();
                let fitted = MSTLModel::new(periods, trend)
                    .fit(&y)
                    .map_err(|e| err(&e))?;
                fitted.predict(len, None).map_err(|e| err(&e))?.point
            }
        };
        if point.iter().any(|v| !v.is_finite()) {
            return Err(err(&"the fitted model forecasts non-finite values"));
        }
        Ok(point)
    }

    fn path_at(&self, k: usize) -> f64 {
        self.path
            .get(k)
            .or(self.path.last())
            .copied()
            .unwrap_or(0.0)
    }
}

impl PointModel for PathModel {
    fn update(&mut self, value: f64, _features: &[f64]) {
        let surprise = value - (self.path_at(self.step) + self.correction);
        self.correction += CORRECTION_GAIN * surprise;
        self.step += 1;
        self.since_refit += 1;
        if self.history.len() == self.max_points {
            self.history.pop_front();
        }
        self.history.push_back(value);
        if self.since_refit >= self.refit_every {
            self.since_refit = 0;
            // A failed refit keeps the old path (extended flat) rather than losing the device.
            if let Ok(path) = self.compute_path() {
                self.path = path;
                self.step = 0;
                self.correction = 0.0;
            }
        }
    }

    fn forecast(&self, horizon: usize) -> Vec<f64> {
        (0..horizon)
            .map(|k| self.path_at(self.step + k) + self.correction)
            .collect()
    }
}
