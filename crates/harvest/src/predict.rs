//! Per-slot prediction of harvested energy: persistence, Kansal's EWMA, WCMA (Piorno et al.)
//! and a clear-sky-index predictor that beats WCMA, scored by MAPE and MAE.
//!
//! A [`SlotSeries`] is a day-by-slot grid of observations with gaps. Every predictor walks it
//! forward and predicts each slot from earlier slots only (next-slot) or from earlier days only
//! (day-ahead).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{HarvestError, Result};

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
    /// Piorno et al.'s weather-conditioned moving average (next-slot):
    /// `α·x(t) + (1 − α)·M_D(t+1)·GAP_K(t)`.
    Wcma {
        /// Weight of the current observation.
        alpha: f64,
        /// Days in the per-slot mean `M_D`.
        days: usize,
        /// Slots in the weighted ratio `GAP_K`.
        k: usize,
    },
    /// Clear-sky-index persistence (next-slot): the clear-sky envelope of the next slot (the
    /// highest value of that slot over the last `days` days) times the current clear-sky index
    /// (recent observations over their envelope, weighted as WCMA's GAP), blended with WCMA's
    /// profile term by `alpha`.
    ClearSky {
        /// Days in the envelope.
        days: usize,
        /// Slots in the weighted clear-sky index.
        k: usize,
        /// Weight of the envelope × index term (the rest is the observation-anchored WCMA term).
        alpha: f64,
    },
}

impl Predictor {
    /// Short name with parameters, e.g. `wcma(a=0.7,D=4,K=3)`.
    pub fn name(&self) -> String {
        match *self {
            Self::Persistence => "persistence".into(),
            Self::Yesterday => "yesterday".into(),
            Self::Ewma { alpha } => alloc::format!("ewma(a={alpha})"),
            Self::Wcma { alpha, days, k } => alloc::format!("wcma(a={alpha},D={days},K={k})"),
            Self::ClearSky { days, k, alpha } => {
                alloc::format!("clearsky(D={days},K={k},a={alpha})")
            }
        }
    }

    /// Its horizon.
    pub fn horizon(&self) -> Horizon {
        match self {
            Self::Persistence | Self::Wcma { .. } | Self::ClearSky { .. } => Horizon::NextSlot,
            Self::Yesterday | Self::Ewma { .. } => Horizon::DayAhead,
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        let bad = |name, value: f64, reason| {
            Err(HarvestError::InvalidParameter {
                name,
                value,
                reason,
            })
        };
        match *self {
            Self::Ewma { alpha } | Self::Wcma { alpha, .. } | Self::ClearSky { alpha, .. }
                if !(0.0..=1.0).contains(&alpha) =>
            {
                bad("alpha", alpha, "must be in [0, 1]")
            }
            Self::Wcma { days, k, .. } | Self::ClearSky { days, k, .. } if days == 0 || k == 0 => {
                bad("D/K", days.min(k) as f64, "D and K must be at least 1")
            }
            _ => Ok(()),
        }
    }

    /// Walk-forward predictions for every slot of `series` (`None` where the predictor has no basis).
    pub fn predict(&self, series: &SlotSeries) -> Result<Vec<Option<f64>>> {
        self.validate()?;
        let x = series.values();
        let spd = series.slots_per_day();
        Ok(match *self {
            Self::Persistence => (0..x.len())
                .map(|t| if t == 0 { None } else { x[t - 1] })
                .collect(),
            Self::Yesterday => (0..x.len())
                .map(|t| if t < spd { None } else { x[t - spd] })
                .collect(),
            Self::Ewma { alpha } => ewma(series, alpha),
            Self::Wcma { alpha, days, k } => {
                let mean = per_slot_mean(x, spd, days);
                (0..x.len())
                    .map(|t| {
                        let now = x[t.checked_sub(1)?]?;
                        let profile = mean[t]?;
                        let gap = weighted_ratio(x, &mean, t, k);
                        Some(alpha * now + (1.0 - alpha) * profile * gap)
                    })
                    .collect()
            }
            Self::ClearSky { days, k, alpha } => {
                let envelope = per_slot_max(x, spd, days);
                let mean = per_slot_mean(x, spd, days);
                (0..x.len())
                    .map(|t| {
                        let now = x[t.checked_sub(1)?]?;
                        let env = envelope[t]?;
                        // Index capped: an envelope from few clear days can sit below today's sky.
                        let index = weighted_ratio(x, &envelope, t, k).min(1.2);
                        let wcma = 0.5 * now + 0.5 * mean[t]? * weighted_ratio(x, &mean, t, k);
                        Some(alpha * env * index + (1.0 - alpha) * wcma)
                    })
                    .collect()
            }
        })
    }
}

fn ewma(series: &SlotSeries, alpha: f64) -> Vec<Option<f64>> {
    let spd = series.slots_per_day();
    let mut estimate: Vec<Option<f64>> = vec![None; spd];
    let mut out = Vec::with_capacity(series.values().len());
    for d in 0..series.days() {
        out.extend_from_slice(&estimate);
        for (e, obs) in estimate.iter_mut().zip(series.day(d)) {
            if let Some(o) = *obs {
                *e = Some(e.map_or(o, |e| alpha * e + (1.0 - alpha) * o));
            }
        }
    }
    out
}

/// `M_D(t)`: mean of the same slot over the previous `days` days (gaps skipped).
fn per_slot_mean(x: &[Option<f64>], spd: usize, days: usize) -> Vec<Option<f64>> {
    (0..x.len())
        .map(|t| {
            let (mut sum, mut n) = (0.0, 0usize);
            for d in 1..=days {
                if let Some(Some(v)) = t.checked_sub(d * spd).map(|s| x[s]) {
                    sum += v;
                    n += 1;
                }
            }
            (n > 0).then(|| sum / n as f64)
        })
        .collect()
}

/// The clear-sky envelope: highest value of the same slot over the previous `days` days.
fn per_slot_max(x: &[Option<f64>], spd: usize, days: usize) -> Vec<Option<f64>> {
    (0..x.len())
        .map(|t| {
            (1..=days)
                .filter_map(|d| t.checked_sub(d * spd).and_then(|s| x[s]))
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        })
        .collect()
}

/// WCMA's `GAP_K` for predicting slot `t`: ratios of the `k` slots before `t` to their reference,
/// weighted `1/k, 2/k, …, 1` towards the most recent; 1 when no slot has a positive reference.
fn weighted_ratio(x: &[Option<f64>], reference: &[Option<f64>], t: usize, k: usize) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for j in 1..=k {
        let Some(s) = t.checked_sub(k + 1 - j) else {
            continue;
        };
        if let (Some(v), Some(r)) = (x[s], reference[s])
            && r > 0.0
        {
            let w = j as f64 / k as f64;
            num += w * v / r;
            den += w;
        }
    }
    if den > 0.0 { num / den } else { 1.0 }
}

/// Accuracy of one predictor.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
pub struct Score {
    /// Predictor name with parameters.
    pub name: String,
    /// Its horizon.
    pub horizon: Horizon,
    /// Mean absolute percentage error (%) over scored slots whose observation exceeds 10 % of peak.
    pub mape: f64,
    /// Mean absolute error over all scored slots, in the trace's unit.
    pub mae: f64,
    /// Slots in the MAPE.
    #[cfg_attr(feature = "std", serde(skip))]
    pub mape_slots: usize,
    /// Slots in the MAE.
    #[cfg_attr(feature = "std", serde(skip))]
    pub mae_slots: usize,
}

/// Scores `predictors` on `series` over the same slots: those with an observation where every
/// predictor has a prediction. MAPE counts only slots above `threshold` × the series' peak.
pub fn evaluate(
    series: &SlotSeries,
    predictors: &[Predictor],
    threshold: f64,
) -> Result<Vec<Score>> {
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
    let peak = series.peak();
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
                if o > threshold * peak && o > 0.0 {
                    ape += (f - o).abs() / o;
                    na += 1;
                }
            }
            Score {
                name: p.name(),
                horizon: p.horizon(),
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

/// The default line-up: persistence, yesterday, EWMA (α = 0.5), WCMA with Piorno's parameters
/// (α = 0.7, D = 4, K = 3) and with the best of a small grid on the NREL Golden trace
/// (α = 0.5, D = 7, K = 1), and the clear-sky-index predictor (D = 10, K = 1, α = 0.7, the best
/// of the same grid search).
pub fn default_predictors() -> Vec<Predictor> {
    vec![
        Predictor::Persistence,
        Predictor::Yesterday,
        Predictor::Ewma { alpha: 0.5 },
        Predictor::Wcma {
            alpha: 0.7,
            days: 4,
            k: 3,
        },
        Predictor::Wcma {
            alpha: 0.5,
            days: 7,
            k: 1,
        },
        Predictor::ClearSky {
            days: 10,
            k: 1,
            alpha: 0.7,
        },
    ]
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
