//! Baselines every other model must beat: persistence, seasonal naive and EWMA.

use std::collections::VecDeque;

use crate::model::PointModel;

/// The last value, repeated.
pub(crate) struct Persistence {
    last: f64,
}

impl Persistence {
    pub(crate) fn fit(values: &[f64]) -> Self {
        Self {
            last: values.last().copied().unwrap_or(0.0),
        }
    }
}

impl PointModel for Persistence {
    fn update(&mut self, value: f64, _features: &[f64]) {
        self.last = value;
    }
    fn forecast(&self, horizon: usize) -> Vec<f64> {
        vec![self.last; horizon]
    }
}

/// The value one season earlier (repeating the last season for longer horizons).
pub(crate) struct SeasonalNaive {
    season: VecDeque<f64>,
}

impl SeasonalNaive {
    pub(crate) fn fit(values: &[f64], season: usize) -> Self {
        let start = values.len().saturating_sub(season);
        Self {
            season: values[start..].iter().copied().collect(),
        }
    }
}

impl PointModel for SeasonalNaive {
    fn update(&mut self, value: f64, _features: &[f64]) {
        self.season.pop_front();
        self.season.push_back(value);
    }
    fn forecast(&self, horizon: usize) -> Vec<f64> {
        let m = self.season.len();
        (0..horizon)
            .map(|k| if m == 0 { 0.0 } else { self.season[k % m] })
            .collect()
    }
}

/// Exponentially weighted moving average with the smoothing that fits the history best.
pub(crate) struct Ewma {
    alpha: f64,
    level: f64,
}

impl Ewma {
    pub(crate) fn fit(values: &[f64]) -> Self {
        // A grid search on one-step squared error is cheap and cannot fail to converge.
        let sse = |alpha: f64| {
            let mut level = values[0];
            values[1..].iter().fold(0.0, |acc, &y| {
                let e = y - level;
                level += alpha * e;
                acc + e * e
            })
        };
        let alpha = (1..20)
            .map(|i| f64::from(i) * 0.05)
            .min_by(|a, b| sse(*a).total_cmp(&sse(*b)))
            .unwrap_or(0.3);
        let level = values.iter().fold(values[0], |l, &y| l + alpha * (y - l));
        Self { alpha, level }
    }
}

impl PointModel for Ewma {
    fn update(&mut self, value: f64, _features: &[f64]) {
        self.level += self.alpha * (value - self.level);
    }
    fn forecast(&self, horizon: usize) -> Vec<f64> {
        vec![self.level; horizon]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonal_naive_repeats_the_last_season() {
        let mut m = SeasonalNaive::fit(&[9.0, 1.0, 2.0, 3.0], 3);
        assert_eq!(m.forecast(4), vec![1.0, 2.0, 3.0, 1.0]);
        m.update(4.0, &[]);
        assert_eq!(m.forecast(2), vec![2.0, 3.0]);
    }

    #[test]
    fn ewma_tracks_a_constant_exactly() {
        let m = Ewma::fit(&[5.0; 20]);
        assert_eq!(m.forecast(2), vec![5.0, 5.0]);
    }
}
