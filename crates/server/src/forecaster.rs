//! A device's online forecaster: its measured power, slot by slot, in; P50/P90 of the next
//! slots out, in milliwatts, ready for a request or a telemetry message.
//!
//! It wraps a [`powerslot_forecast`] model: until the history is long enough to fit it, the
//! forecast is the last value (persistence) with no spread; then the model is fitted once on
//! what was seen and updated online with every new slot (the models' own online updates, a
//! few microseconds each), and its intervals come from its own recent errors.

use powerslot_forecast::model::{FitOptions, FittedModel, ModelSpec};
use powerslot_forecast::series::TimeSeries;
use powerslot_protocol::PowerValue;

/// The forecaster of one device.
pub struct Forecaster {
    spec: ModelSpec,
    options: FitOptions,
    slot_seconds: i64,
    history: Vec<f64>,
    model: Option<FittedModel>,
    /// History length at which the next fit is tried.
    next_fit: usize,
}

impl std::fmt::Debug for Forecaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forecaster")
            .field("spec", &self.spec.name())
            .field("history", &self.history.len())
            .field("fitted", &self.model.is_some())
            .finish()
    }
}

/// Most history kept (older values only matter for a refit, which happens once).
const MAX_HISTORY: usize = 20_000;

impl Forecaster {
    /// A forecaster of `spec` for `horizon` slots of `slot_seconds`, with a season of
    /// `season` slots (0 for none).
    pub fn new(spec: ModelSpec, horizon: usize, season: usize, slot_seconds: i64) -> Self {
        let mut options = FitOptions::new(horizon.max(1), season);
        // A device fits once on what it has; keep that cheap.
        options.calibration = 96;
        options.max_fit_points = 2_000;
        Self {
            spec,
            options,
            slot_seconds: slot_seconds.max(1),
            history: Vec::new(),
            model: None,
            next_fit: 0,
        }
    }

    /// Feeds past values (watts) at once, e.g. the meter's history before the agent started.
    pub fn warm_up(&mut self, values_w: &[f64]) {
        for &v in values_w {
            self.push(v);
        }
        self.try_fit();
    }

    fn push(&mut self, w: f64) {
        if !w.is_finite() {
            return;
        }
        let w = w.max(0.0);
        self.history.push(w);
        if self.history.len() > MAX_HISTORY {
            self.history.drain(..self.history.len() - MAX_HISTORY);
        }
        if let Some(m) = &mut self.model {
            m.update(w, &[]);
        }
    }

    fn try_fit(&mut self) {
        if self.model.is_some() || self.history.len() < self.next_fit.max(8) {
            return;
        }
        let series =
            match TimeSeries::from_values("device", 0, self.slot_seconds, self.history.clone()) {
                Ok(s) => s,
                Err(_) => return,
            };
        match FittedModel::fit(&self.spec, &series, &self.options) {
            Ok(m) => self.model = Some(m),
            // Too short (or the model failed on this data): try again once the history has
            // grown by half.
            Err(_) => self.next_fit = self.history.len() + self.history.len() / 2 + 1,
        }
    }

    /// Takes the measured power of the slot that just ended, watts.
    pub fn observe(&mut self, w: f64) {
        self.push(w);
        self.try_fit();
    }

    /// Whether the model is fitted (before that, forecasts are persistence).
    pub fn fitted(&self) -> bool {
        self.model.is_some()
    }

    /// The model's name.
    pub fn model_name(&self) -> &str {
        self.model.as_ref().map_or("persistence", |m| m.name())
    }

    /// P50 and P90 of the next `slots` slots, milliwatts (rounded up, never negative, P90 at
    /// least P50).
    pub fn forecast(&self, slots: usize) -> Vec<PowerValue> {
        let (p50, p90) = match &self.model {
            Some(m) => {
                let f = m.predict(slots);
                (f.p50, f.p90)
            }
            None => {
                let last = self.history.last().copied().unwrap_or(0.0);
                (vec![last; slots], vec![last; slots])
            }
        };
        p50.iter()
            .zip(&p90)
            .map(|(&a, &b)| {
                let a = if a.is_finite() { a.max(0.0) } else { 0.0 };
                let b = if b.is_finite() { b.max(a) } else { a };
                PowerValue::from_forecast(a, b).unwrap_or(PowerValue::exact(0))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persistence_until_fitted_then_the_model_with_a_band() {
        let mut f = Forecaster::new(ModelSpec::SeasonalNaive, 4, 24, 3600);
        f.observe(500.0);
        assert!(!f.fitted());
        assert_eq!(f.forecast(2), vec![PowerValue::exact(500_000); 2]);
        // Three days of a daily pattern with noise: enough to fit.
        let day: Vec<f64> = (0..24)
            .map(|h| if (8..18).contains(&h) { 2000.0 } else { 500.0 })
            .collect();
        for d in 0..4 {
            for (h, v) in day.iter().enumerate() {
                f.observe(v + ((d * 24 + h) % 7) as f64 * 10.0);
            }
        }
        assert!(f.fitted(), "{f:?}");
        let fc = f.forecast(30);
        assert_eq!(fc.len(), 30);
        assert!(fc.iter().all(|v| v.p90_mw >= v.p50_mw && v.p50_mw >= 0));
        // Hour 8 of the next day is a 2 kW hour.
        assert!(fc[8].p50_mw > 1_500_000, "{:?}", fc[8]);
    }
}
