//! Per-slot prediction of harvested energy, in any unit, at any site, on a clock that may move.
//!
//! A [`SlotSeries`] is a day-by-slot grid of observations with gaps. Every [`Predictor`] walks it
//! forward and predicts each slot from earlier slots only (next-slot) or from earlier days only
//! (day-ahead); [`evaluate`] scores them on the same slots by MAPE and MAE.
//!
//! - The published predictors, as published (the baselines): persistence, yesterday, Kansal's
//!   EWMA, Piorno et al.'s WCMA.
//! - The robust ones ([`Model`]): a clear-sky index and a WCMA whose ratios are shrunk and
//!   bounded, read through a clock that may shift (daylight saving), with no unit anywhere.
//! - **The default** ([`Predictor::DEFAULT`], [`SolarForecaster`]): a rolling-origin choice
//!   among the robust candidates on the past only. `harvest simulate` plans on it; other crates
//!   get it from [`default_for`] (a forecaster that has seen a past trace) and then call
//!   [`SolarForecaster::update`] and [`SolarForecaster::forecast`] slot by slot.
//!
//! ```
//! use powerslot_harvest::predict::{SlotSeries, default_for};
//!
//! // Three days of 4-slot data (W), the last one cloudier.
//! let past = SlotSeries::new(4, [0.0, 50.0, 80.0, 0.0, 0.0, 48.0, 82.0, 0.0, 0.0, 20.0, 30.0, 0.0]
//!     .map(Some).to_vec()).unwrap();
//! let mut f = default_for(&past).unwrap();
//! let tomorrow = f.forecast(4);
//! assert_eq!(tomorrow.len(), 4);
//! assert_eq!(tomorrow[0], 0.0); // night stays night
//! f.update(Some(0.0)); // tomorrow's first slot arrives
//! assert_eq!(f.forecast(3).len(), 3);
//! ```

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{HarvestError, Result};

mod classic;
mod clock;
mod forecaster;

pub use clock::ClockShift;
pub use forecaster::{MAX_GAP, MAX_INDEX, Model, SCORE_DAYS, SolarForecaster};

/// Observations on a regular grid: `days × slots_per_day` values, `None` for gaps.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotSeries {
    slots_per_day: usize,
    values: Vec<Option<f64>>,
}

impl SlotSeries {
    /// A series from `values` (whole days, row-major); values must be finite and ≥ 0.
    pub fn new(slots_per_day: usize, values: Vec<Option<f64>>) -> Result<Self> {
        if slots_per_day == 0 || !values.len().is_multiple_of(slots_per_day) {
            return Err(HarvestError::BadInput {
                what: "slot series",
                reason: alloc::format!(
                    "{} values is not a whole number of {slots_per_day}-slot days",
                    values.len()
                ),
            });
        }
        if let Some(i) = values
            .iter()
            .position(|v| v.is_some_and(|x| !(x.is_finite() && x >= 0.0)))
        {
            return Err(HarvestError::BadInput {
                what: "slot series",
                reason: alloc::format!("slot {i} is {:?} (need finite, >= 0, or a gap)", values[i]),
            });
        }
        Ok(Self {
            slots_per_day,
            values,
        })
    }

    /// Slots per day.
    pub fn slots_per_day(&self) -> usize {
        self.slots_per_day
    }

    /// Number of days.
    pub fn days(&self) -> usize {
        self.values.len() / self.slots_per_day
    }

    /// All values, day after day.
    pub fn values(&self) -> &[Option<f64>] {
        &self.values
    }

    /// The slots of day `d`.
    pub fn day(&self, d: usize) -> &[Option<f64>] {
        &self.values[d * self.slots_per_day..(d + 1) * self.slots_per_day]
    }

    /// Days `from..to` as a new series.
    pub fn slice_days(&self, from: usize, to: usize) -> Self {
        let to = to.min(self.days());
        let from = from.min(to);
        Self {
            slots_per_day: self.slots_per_day,
            values: self.values[from * self.slots_per_day..to * self.slots_per_day].to_vec(),
        }
    }

    /// Largest observed value (0 if there is none).
    pub fn peak(&self) -> f64 {
        self.values.iter().flatten().copied().fold(0.0, f64::max)
    }

    /// Number of gaps.
    pub fn gaps(&self) -> usize {
        self.values.iter().filter(|v| v.is_none()).count()
    }

    /// The trace's own scale, in its unit: the 90th percentile of its daily maxima (days with at
    /// least one observation; 0 without any). Clear days set it, a sensor spike on fewer than a
    /// tenth of the days does not, and it does not care whether the trace is W, kW or W/m².
    pub fn level(&self) -> f64 {
        let mut maxima: Vec<f64> = (0..self.days())
            .filter_map(|d| self.day(d).iter().flatten().copied().reduce(f64::max))
            .collect();
        maxima.sort_by(f64::total_cmp);
        quantile(&maxima, 0.9)
    }
}

/// How far ahead a predictor looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
pub enum Horizon {
    /// Slot `t` predicted at the end of slot `t − 1`.
    #[cfg_attr(feature = "std", serde(rename = "next-slot"))]
    NextSlot,
    /// Every slot of day `d` predicted at the end of day `d − 1`.
    #[cfg_attr(feature = "std", serde(rename = "day-ahead"))]
    DayAhead,
}

impl Horizon {
    /// `next-slot` or `day-ahead`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NextSlot => "next-slot",
            Self::DayAhead => "day-ahead",
        }
    }
}

/// The predictors of this crate, with their parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Predictor {
    /// The previous slot's value (next-slot).
    Persistence,
    /// The same slot yesterday (day-ahead).
    Yesterday,
    /// Kansal's per-slot EWMA across days, `E_d = α·E_{d−1} + (1 − α)·x_{d−1}` (day-ahead).
    Ewma {
        /// Weight of the old estimate.
        alpha: f64,
    },
    /// Piorno et al.'s weather-conditioned moving average as published (next-slot):
    /// `α·x(t) + (1 − α)·M_D(t+1)·GAP_K(t)`, `GAP_K` a weighted mean of unbounded ratios.
    Wcma {
        /// Weight of the current observation.
        alpha: f64,
        /// Days in the per-slot mean `M_D`.
        days: usize,
        /// Slots in the weighted ratio `GAP_K`.
        k: usize,
    },
    /// One robust model on its own (next-slot).
    Robust(Model),
    /// The default: the rolling-origin choice among [`Model::CANDIDATES`] (next-slot).
    Auto,
    /// The default forecaster's forecast of each whole day, made at the end of the day before.
    AutoDayAhead,
}

impl Predictor {
    /// The predictor `harvest simulate` and other crates use unless told otherwise.
    pub const DEFAULT: Predictor = Predictor::Auto;

    /// Short name with parameters, e.g. `wcma(a=0.7,D=4,K=3)`.
    pub fn name(&self) -> String {
        match *self {
            Self::Persistence => "persistence".into(),
            Self::Yesterday => "yesterday".into(),
            Self::Ewma { alpha } => alloc::format!("ewma(a={alpha})"),
            Self::Wcma { alpha, days, k } => alloc::format!("wcma(a={alpha},D={days},K={k})"),
            Self::Robust(m) => m.name(),
            Self::Auto => "auto".into(),
            Self::AutoDayAhead => "auto-day-ahead".into(),
        }
    }

    /// Its horizon.
    pub fn horizon(&self) -> Horizon {
        match self {
            Self::Persistence | Self::Wcma { .. } | Self::Robust(_) | Self::Auto => {
                Horizon::NextSlot
            }
            Self::Yesterday | Self::Ewma { .. } | Self::AutoDayAhead => Horizon::DayAhead,
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::Ewma { alpha } | Self::Wcma { alpha, .. } if !(0.0..=1.0).contains(&alpha) => {
                Err(HarvestError::InvalidParameter {
                    name: "alpha",
                    value: alpha,
                    reason: "must be in [0, 1]",
                })
            }
            Self::Wcma { days, k, .. } if days == 0 || k == 0 => {
                Err(HarvestError::InvalidParameter {
                    name: "D/K",
                    value: days.min(k) as f64,
                    reason: "D and K must be at least 1",
                })
            }
            Self::Robust(m) => m.validate(),
            _ => Ok(()),
        }
    }

    /// Walk-forward predictions for every slot of `series` (`None` where the predictor has no basis).
    pub fn predict(&self, series: &SlotSeries) -> Result<Vec<Option<f64>>> {
        self.validate()?;
        let x = series.values();
        let spd = series.slots_per_day();
        Ok(match *self {
            Self::Persistence => classic::persistence(x),
            Self::Yesterday => classic::yesterday(x, spd),
            Self::Ewma { alpha } => classic::ewma(series, alpha),
            Self::Wcma { alpha, days, k } => classic::wcma(x, spd, alpha, days, k),
            Self::Robust(m) => walk(series, &[m], Horizon::NextSlot)?,
            Self::Auto => walk(series, &Model::CANDIDATES, Horizon::NextSlot)?,
            Self::AutoDayAhead => walk(series, &Model::CANDIDATES, Horizon::DayAhead)?,
        })
    }
}

/// Runs a forecaster over `series`, taking its forecast of each slot before showing it the slot.
fn walk(series: &SlotSeries, models: &[Model], horizon: Horizon) -> Result<Vec<Option<f64>>> {
    let spd = series.slots_per_day();
    let mut f = SolarForecaster::with_models(spd, models)?;
    let mut out = Vec::with_capacity(series.values().len());
    let mut day: Vec<f64> = Vec::new();
    for (t, &v) in series.values().iter().enumerate() {
        match horizon {
            Horizon::NextSlot => out.push(f.next()),
            Horizon::DayAhead => {
                if t % spd == 0 {
                    day = if f.has_history() {
                        f.forecast(spd)
                    } else {
                        Vec::new()
                    };
                }
                out.push(day.get(t % spd).copied());
            }
        }
        f.update(v);
    }
    Ok(out)
}

/// The default forecaster after it has seen every slot of `past`: call
/// [`SolarForecaster::forecast`] for the next slots, [`SolarForecaster::update`] as they arrive.
pub fn default_for(past: &SlotSeries) -> Result<SolarForecaster> {
    let mut f = SolarForecaster::new(past.slots_per_day())?;
    for &v in past.values() {
        f.update(v);
    }
    Ok(f)
}

/// Accuracy of one predictor.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
pub struct Score {
    /// Predictor name with parameters.
    pub name: String,
    /// Its horizon.
    pub horizon: Horizon,
    /// Whether it is [`Predictor::DEFAULT`].
    pub default: bool,
    /// Mean absolute percentage error (%) over scored slots whose observation exceeds the floor.
    pub mape: f64,
    /// Mean absolute error over all scored slots, in the trace's unit.
    pub mae: f64,
    /// Slots in the MAPE.
    pub mape_slots: usize,
    /// Slots in the MAE.
    pub mae_slots: usize,
}

/// Scores `predictors` on `series` over the same slots: those with an observation where every
/// predictor has a prediction. MAPE counts only slots whose observation is above `floor` (in the
/// trace's unit; see [`SlotSeries::level`] for a floor relative to the trace).
pub fn evaluate(series: &SlotSeries, predictors: &[Predictor], floor: f64) -> Result<Vec<Score>> {
    if !(floor.is_finite() && floor >= 0.0) {
        return Err(HarvestError::InvalidParameter {
            name: "MAPE floor",
            value: floor,
            reason: "must be a finite number >= 0",
        });
    }
    if series.days() < 2 {
        return Err(HarvestError::TooLittleData {
            what: "prediction scoring",
            needed: 2,
            got: series.days(),
        });
    }
    let predictions = predictors
        .iter()
        .map(|p| p.predict(series))
        .collect::<Result<Vec<_>>>()?;
    let x = series.values();
    let common: Vec<usize> = (0..x.len())
        .filter(|&t| x[t].is_some() && predictions.iter().all(|p| p[t].is_some()))
        .collect();
    if common.is_empty() {
        return Err(HarvestError::TooLittleData {
            what: "prediction scoring (slots every predictor covers)",
            needed: 1,
            got: 0,
        });
    }
    Ok(predictors
        .iter()
        .zip(&predictions)
        .map(|(p, pred)| {
            let (mut ape, mut na, mut ae) = (0.0, 0usize, 0.0);
            for &t in &common {
                let (o, f) = (x[t].unwrap_or(0.0), pred[t].unwrap_or(0.0));
                ae += (f - o).abs();
                if o > floor && o > 0.0 {
                    ape += (f - o).abs() / o;
                    na += 1;
                }
            }
            Score {
                name: p.name(),
                horizon: p.horizon(),
                default: *p == Predictor::DEFAULT,
                mape: if na > 0 {
                    100.0 * ape / na as f64
                } else {
                    f64::NAN
                },
                mae: ae / common.len() as f64,
                mape_slots: na,
                mae_slots: common.len(),
            }
        })
        .collect())
}

/// The line-up `harvest predict` scores: the published predictors (WCMA with Piorno et al.'s
/// parameters α = 0.7, D = 4, K = 3), every robust candidate, and the default next-slot and
/// day-ahead.
pub fn default_predictors() -> Vec<Predictor> {
    let mut v = vec![
        Predictor::Persistence,
        Predictor::Yesterday,
        Predictor::Ewma { alpha: 0.5 },
        Predictor::Wcma {
            alpha: 0.7,
            days: 4,
            k: 3,
        },
    ];
    v.extend(Model::CANDIDATES.map(Predictor::Robust));
    v.extend([Predictor::Auto, Predictor::AutoDayAhead]);
    v
}

/// The `q`-quantile (0..=1) of sorted values, interpolated linearly (0 for none).
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = crate::num::floor(pos) as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        }
    }
}

/// A clear day of `spd` slots with daylight from `rise` to `set` (hours): a parabola peaking at
/// `peak`, sampled at slot centres.
#[cfg(test)]
pub(crate) fn clear_day(spd: usize, rise: f64, set: f64, peak: f64) -> Vec<f64> {
    (0..spd)
        .map(|i| {
            let h = (i as f64 + 0.5) * 24.0 / spd as f64;
            let x = (h - rise) / (set - rise);
            if (0.0..=1.0).contains(&x) {
                peak * 4.0 * x * (1.0 - x)
            } else {
                0.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series() -> SlotSeries {
        // Three 4-slot days, the second cloudy at noon, one gap.
        let v = [0.0, 5.0, 10.0, 0.0, 0.0, 5.0, 2.0, 0.0, 0.0, 6.0, 10.0, 0.0];
        let mut values: Vec<Option<f64>> = v.iter().map(|&x| Some(x)).collect();
        values[9] = None;
        SlotSeries::new(4, values).unwrap()
    }

    #[test]
    fn ewma_is_kansals_recursion() {
        let p = Predictor::Ewma { alpha: 0.5 }.predict(&series()).unwrap();
        assert_eq!(&p[..4], &[None, None, None, None]);
        assert_eq!(p[6], Some(10.0));
        assert_eq!(p[10], Some(6.0));
        // Slot 1 of day 3: the gap on day 3 does not matter, days 1 and 2 gave 5 and 5.
        assert_eq!(p[9], Some(5.0));
    }

    #[test]
    fn wcma_formula() {
        let s = series();
        let p = Predictor::Wcma {
            alpha: 0.5,
            days: 1,
            k: 1,
        }
        .predict(&s)
        .unwrap();
        // t = 6: x(5) = 5, M_1(6) = 10, GAP_1 = x(5)/M_1(5) = 5/5 = 1 → 0.5·5 + 0.5·10 = 7.5.
        assert_eq!(p[6], Some(7.5));
        assert_eq!(p[10], None, "the previous slot is a gap");
    }

    #[test]
    fn persistence_and_yesterday() {
        let s = series();
        assert_eq!(Predictor::Persistence.predict(&s).unwrap()[2], Some(5.0));
        assert_eq!(Predictor::Yesterday.predict(&s).unwrap()[6], Some(10.0));
    }

    #[test]
    fn scoring_counts_common_slots() {
        let s = series();
        let scores = evaluate(&s, &[Predictor::Persistence, Predictor::Yesterday], 0.1).unwrap();
        assert_eq!(scores[0].mae_slots, scores[1].mae_slots);
        assert!(scores.iter().all(|s| s.mae.is_finite()));
        let perfect = evaluate(
            &SlotSeries::new(1, vec![Some(3.0); 5]).unwrap(),
            &[Predictor::Yesterday],
            0.1,
        )
        .unwrap();
        assert_eq!(perfect[0].mape, 0.0);
    }

    #[test]
    fn rejects_bad_series() {
        assert!(SlotSeries::new(4, vec![Some(1.0); 5]).is_err());
        assert!(SlotSeries::new(1, vec![Some(f64::NAN)]).is_err());
        assert!(SlotSeries::new(1, vec![Some(-1.0)]).is_err());
        assert!(Predictor::Ewma { alpha: 2.0 }.predict(&series()).is_err());
        assert!(evaluate(&series().slice_days(0, 1), &[Predictor::Persistence], 0.1).is_err());
    }
}
