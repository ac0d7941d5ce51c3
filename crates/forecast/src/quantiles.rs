//! Turning point forecasts into P10/P50/P90 from the model's own recent errors.
//!
//! Every model is wrapped the same way: after each update the wrapper remembers the point
//! forecast it would have issued, and when the truth arrives it stores the error per horizon
//! step. Quantiles of the last `window` errors of step k, added to the point forecast of step
//! k, give the interval. This is split-conformal in spirit: it needs no distributional
//! assumption, adapts online, and treats all models alike, so their coverage is comparable.

use std::collections::VecDeque;

/// A forecast of the next slots: point (mean-like) plus P10, P50 and P90.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QuantileForecast {
    /// The model's own point forecast, one per step.
    pub point: Vec<f64>,
    /// 10 % quantile per step.
    pub p10: Vec<f64>,
    /// Median per step (used for MAE, which the median minimises).
    pub p50: Vec<f64>,
    /// 90 % quantile per step.
    pub p90: Vec<f64>,
}

/// Recent forecast errors per horizon step.
#[derive(Debug, Clone)]
pub(crate) struct Calibrator {
    horizon: usize,
    window: usize,
    /// Forecasts issued after the most recent updates, newest first.
    pending: VecDeque<Vec<f64>>,
    /// `errors[k]`: recent (actual - forecast) for step k+1, oldest first.
    errors: Vec<VecDeque<f64>>,
}

impl Calibrator {
    pub(crate) fn new(horizon: usize, window: usize) -> Self {
        Self {
            horizon,
            window: window.max(1),
            pending: VecDeque::with_capacity(horizon + 1),
            errors: vec![VecDeque::with_capacity(window); horizon],
        }
    }

    /// Records the errors that the newly arrived `actual` reveals.
    pub(crate) fn observe(&mut self, actual: f64) {
        for (k, f) in self.pending.iter().enumerate() {
            if let Some(&p) = f.get(k) {
                let buf = &mut self.errors[k];
                if buf.len() == self.window {
                    buf.pop_front();
                }
                buf.push_back(actual - p);
            }
        }
    }

    /// Remembers the forecast issued now (for `horizon` steps).
    pub(crate) fn issue(&mut self, forecast: Vec<f64>) {
        self.pending.push_front(forecast);
        self.pending.truncate(self.horizon);
    }

    /// The recorded errors, one window per step ahead, oldest first.
    pub(crate) fn errors(&self) -> &[VecDeque<f64>] {
        &self.errors
    }

    /// Mean absolute error of the recorded errors over all steps (for model choice).
    pub(crate) fn recent_mae(&self) -> f64 {
        let (s, n) = self
            .errors
            .iter()
            .flatten()
            .fold((0.0, 0usize), |(s, n), e| (s + e.abs(), n + 1));
        if n == 0 { f64::INFINITY } else { s / n as f64 }
    }

    /// Adds the error quantiles to a point forecast.
    pub(crate) fn quantiles(&self, point: Vec<f64>) -> QuantileForecast {
        let mut p10 = Vec::with_capacity(point.len());
        let mut p50 = Vec::with_capacity(point.len());
        let mut p90 = Vec::with_capacity(point.len());
        let mut sorted: Vec<f64> = Vec::with_capacity(self.window);
        for (k, &p) in point.iter().enumerate() {
            // Steps beyond the calibrated horizon borrow the last calibrated step's spread.
            let buf = &self.errors[k.min(self.horizon.saturating_sub(1))];
            sorted.clear();
            sorted.extend(buf.iter().copied());
            sorted.sort_unstable_by(f64::total_cmp);
            p10.push(p + quantile_sorted(&sorted, 0.1));
            p50.push(p + quantile_sorted(&sorted, 0.5));
            p90.push(p + quantile_sorted(&sorted, 0.9));
        }
        QuantileForecast {
            point,
            p10,
            p50,
            p90,
        }
    }
}

/// Linear-interpolated quantile of sorted data; 0 for empty data.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let pos = q * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_matched_to_the_step_that_produced_them() {
        let mut c = Calibrator::new(2, 10);
        c.issue(vec![1.0, 2.0]);
        c.observe(1.5); // step 1 of the forecast above: error 0.5
        c.issue(vec![3.0, 4.0]);
        c.observe(5.0); // step 2 of the first (2.0 → 3.0), step 1 of the second (3.0 → 2.0)
        assert_eq!(c.errors[0], [0.5, 2.0]);
        assert_eq!(c.errors[1], [3.0]);
        let q = c.quantiles(vec![0.0, 0.0]);
        assert_eq!(q.p50, vec![1.25, 3.0]);
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&v, 0.5), 2.0);
        assert!((quantile_sorted(&v, 0.1) - 0.4).abs() < 1e-12);
    }
}
