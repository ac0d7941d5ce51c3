//! Baselines every other model must beat: persistence, seasonal naive and EWMA; and the
//! seasonal median, the robust cousin of seasonal naive.

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

/// The median of the same phase over the last `count` periods (a period is a whole number of
/// seasons: a day, or a week for the weekday pattern), repeating that profile for longer
/// horizons. On spiky load one evening with the oven moves a mean but not a median, and the
/// median is what minimises absolute error, which makes it a cheap, robust candidate for `auto`.
pub(crate) struct SeasonalMedian {
    period: usize,
    count: usize,
    /// The last `period · count` values, oldest first.
    recent: VecDeque<f64>,
}

impl SeasonalMedian {
    /// Fewest values it needs: one full period (fewer periods than `count` take the median of
    /// those there are).
    pub(crate) fn min_points(period: usize) -> usize {
        period.max(1)
    }

    pub(crate) fn fit(values: &[f64], period: usize, count: usize) -> Self {
        let period = period.max(1);
        let count = count.max(1);
        let start = values.len().saturating_sub(period * count);
        Self {
            period,
            count,
            recent: values[start..].iter().copied().collect(),
        }
    }
}

impl PointModel for SeasonalMedian {
    fn update(&mut self, value: f64, _features: &[f64]) {
        if self.recent.len() == self.period * self.count {
            self.recent.pop_front();
        }
        self.recent.push_back(value);
    }

    fn forecast(&self, horizon: usize) -> Vec<f64> {
        let n = self.recent.len();
        let periods = n / self.period;
        let mut same = Vec::with_capacity(periods);
        (0..horizon)
            .map(|k| {
                // The phase of step k in the last full period, then the periods before it.
                let phase = n - periods * self.period + k % self.period;
                same.clear();
                same.extend((0..periods).map(|d| self.recent[phase + d * self.period]));
                same.sort_unstable_by(f64::total_cmp);
                match same.len() {
                    0 => self.recent.back().copied().unwrap_or(0.0),
                    len if len % 2 == 1 => same[len / 2],
                    len => 0.5 * (same[len / 2 - 1] + same[len / 2]),
                }
            })
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
    fn seasonal_median_ignores_one_odd_period() {
        // Three periods of 2: [1, 5], [1, 5], [9, 5] (a burst at phase 0 of the last one).
        let mut m = SeasonalMedian::fit(&[0.0, 1.0, 5.0, 1.0, 5.0, 9.0, 5.0], 2, 3);
        assert_eq!(m.forecast(3), vec![1.0, 5.0, 1.0]);
        // One more value starts a new period; the phases still line up with the full ones.
        m.update(2.0, &[]);
        assert_eq!(m.forecast(2), vec![5.0, 2.0]);
        // With fewer than `count` periods it takes those there are (even count: the mean of the
        // middle two).
        let m = SeasonalMedian::fit(&[1.0, 5.0, 3.0, 7.0], 2, 4);
        assert_eq!(m.forecast(2), vec![2.0, 6.0]);
    }

    #[test]
    fn ewma_tracks_a_constant_exactly() {
        let m = Ewma::fit(&[5.0; 20]);
        assert_eq!(m.forecast(2), vec![5.0, 5.0]);
    }
}
