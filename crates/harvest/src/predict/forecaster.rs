//! The online solar forecaster behind the default predictor: robust candidates, a clock that may
//! move, and a rolling-origin choice among the candidates on the past only.
//!
//! Feed it one slot at a time ([`SolarForecaster::update`]) and ask for the next slots
//! ([`SolarForecaster::forecast`]). What makes it hold on any trace:
//!
//! - **No unit.** Every scale it uses comes from the trace itself: the shrinkage pseudo-count is a
//!   fraction of the day's reference peak, the sunrise/sunset threshold and the scoring floor are
//!   fractions of the *level* (the 90th percentile of the daily maxima of the last year seen).
//!   Multiplying a trace by 1,000 multiplies every forecast by 1,000 and changes nothing else.
//! - **Ratios that cannot explode.** The clear-sky index (and WCMA's `GAP`) is a ratio of
//!   weighted sums, not a mean of ratios, with a pseudo-count that pulls it to its prior where the
//!   reference is small (dawn, dusk, a cloudy history), and it is bounded ([`MAX_INDEX`],
//!   [`MAX_GAP`]). At night the reference is zero and so is the forecast.
//! - **A clock that moves.** Past days are read through the clock offset found for each of them
//!   (the `clock` module: both sunrise and sunset jumping by the same whole hours), so after a
//!   daylight-saving change the envelope lines up with today's sun again from the day after the
//!   change (the change itself is only seen once that day is complete).
//! - **Gaps.** A missing slot is skipped in every sum; a forecast needs only the reference profile
//!   of the slot (any of the last `days` days) and falls back to the last observation without one.
//! - **An honest choice.** Each candidate's next-slot forecasts are scored against what then
//!   happened (absolute percentage error over slots above a tenth of the level) over the last
//!   [`SCORE_DAYS`] days; the forecaster uses the candidate with the lowest score. Forecasts
//!   further ahead relax to the day-ahead source with the lowest error of whole-day forecasts
//!   made at midnight (the candidates' profiles, or Kansal's EWMA read through the clock).
//!   Nothing is fitted on data the forecasts are then scored on.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::clock::{Clock, ClockShift};
use super::quantile;
use crate::error::{HarvestError, Result};

/// Highest clear-sky index a forecast uses: the envelope is the best of recent days, and cloud
/// edges rarely lift a slot mean half as high again.
pub const MAX_INDEX: f64 = 1.5;
/// Highest `GAP` (ratio to the mean profile) a forecast uses: a clear day after a week of cloud.
pub const MAX_GAP: f64 = 3.0;
/// Pseudo-count of the shrunk ratios, as a fraction of the reference's peak of the day: where
/// the weighted references sum to this much, the ratio sits half-way between what was observed
/// and its prior.
const SHRINK: f64 = 0.1;
/// Time constant (hours) over which a forecast further ahead relaxes from the current index to
/// its prior.
const RELAX_HOURS: f64 = 3.0;
/// Days over which the candidates' errors are compared.
pub const SCORE_DAYS: usize = 28;
/// Errors are scored on slots whose observation is above this fraction of the level.
const SCORE_FLOOR: f64 = 0.1;
/// Sunrise and sunset are where the trace crosses this fraction of the level.
const EDGE_FRACTION: f64 = 0.01;
/// Daily maxima kept for the level: one year.
const LEVEL_DAYS: usize = 365;

/// A candidate of the default forecaster.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    /// Clear-sky-index persistence: the envelope of the next slot (the highest value of that
    /// clock-aligned slot over the last `days` days) times the clear-sky index of the last `k`
    /// slots (observations over envelope, weighted `1/k … 1` towards the most recent), shrunk to
    /// the recent days' mean index where the envelope is small and bounded by [`MAX_INDEX`].
    ClearSky {
        /// Days in the envelope.
        days: usize,
        /// Slots in the index.
        k: usize,
    },
    /// WCMA made robust: `α·x(t−1) + (1 − α)·M(t)·GAP`, with the clock-aligned mean `M` of the
    /// last `days` days and `GAP` over the last `k` slots shrunk to 1 where `M` is small and
    /// bounded by [`MAX_GAP`].
    Profile {
        /// Weight of the last observation.
        alpha: f64,
        /// Days in the mean profile.
        days: usize,
        /// Slots in `GAP`.
        k: usize,
    },
}

impl Model {
    /// The default forecaster's candidates, fixed before any trace was scored: one and two weeks
    /// of history, the last slot alone or the paper's three, each for both forms.
    pub const CANDIDATES: [Model; 8] = [
        Model::ClearSky { days: 14, k: 1 },
        Model::ClearSky { days: 14, k: 3 },
        Model::ClearSky { days: 7, k: 1 },
        Model::ClearSky { days: 7, k: 3 },
        Model::Profile {
            alpha: 0.5,
            days: 14,
            k: 1,
        },
        Model::Profile {
            alpha: 0.5,
            days: 14,
            k: 3,
        },
        Model::Profile {
            alpha: 0.5,
            days: 7,
            k: 1,
        },
        Model::Profile {
            alpha: 0.5,
            days: 7,
            k: 3,
        },
    ];

    /// Short name with parameters, e.g. `clearsky(D=14,K=1)`.
    pub fn name(&self) -> String {
        match *self {
            Self::ClearSky { days, k } => alloc::format!("clearsky(D={days},K={k})"),
            Self::Profile { alpha, days, k } => {
                alloc::format!("wcma-robust(a={alpha},D={days},K={k})")
            }
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        let (days, k) = match *self {
            Self::ClearSky { days, k } => (days, k),
            Self::Profile { alpha, days, k } => {
                if !(0.0..=1.0).contains(&alpha) {
                    return Err(HarvestError::InvalidParameter {
                        name: "alpha",
                        value: alpha,
                        reason: "must be in [0, 1]",
                    });
                }
                (days, k)
            }
        };
        if days == 0 || k == 0 {
            return Err(HarvestError::InvalidParameter {
                name: "D/K",
                value: days.min(k) as f64,
                reason: "D and K must be at least 1",
            });
        }
        Ok(())
    }

    fn days(&self) -> usize {
        match *self {
            Self::ClearSky { days, .. } | Self::Profile { days, .. } => days,
        }
    }

    fn k(&self) -> usize {
        match *self {
            Self::ClearSky { k, .. } | Self::Profile { k, .. } => k,
        }
    }
}

/// Today's reference profiles for one history length, read through the clock.
#[derive(Debug, Clone)]
struct Refs {
    envelope: Vec<Option<f64>>,
    mean: Vec<Option<f64>>,
    envelope_peak: f64,
    mean_peak: f64,
    /// Mean clear-sky index of those days (their observations over the envelope).
    prior_index: f64,
}

/// Absolute percentage errors of one forecaster over the last [`SCORE_DAYS`] days.
#[derive(Debug, Clone, Default)]
struct Window {
    /// Sum of absolute percentage errors and scored slots, per day, the most recent last.
    past: VecDeque<(f64, usize)>,
    today: (f64, usize),
}

impl Window {
    fn add(&mut self, forecast: f64, observed: f64) {
        self.today.0 += (forecast - observed).abs() / observed;
        self.today.1 += 1;
    }

    fn end_of_day(&mut self) {
        self.past.push_back(core::mem::take(&mut self.today));
        if self.past.len() > SCORE_DAYS {
            self.past.pop_front();
        }
    }

    /// Mean absolute percentage error over the window (∞ before anything was scored).
    fn score(&self) -> f64 {
        let (s, n) = self
            .past
            .iter()
            .fold(self.today, |(s, n), &(a, b)| (s + a, n + b));
        if n == 0 { f64::INFINITY } else { s / n as f64 }
    }
}

#[derive(Debug, Clone)]
struct Candidate {
    model: Model,
    refs: usize,
    /// Errors of its next-slot forecasts.
    next_errors: Window,
    /// Errors of its forecasts of whole days, made at midnight.
    day_errors: Window,
    /// Its forecast of the coming slot.
    next: Option<f64>,
}

/// Kansal's per-slot EWMA across days, read through the clock: the published day-ahead predictor,
/// a day-ahead candidate beside the models' profiles.
#[derive(Debug, Clone)]
struct Ewma {
    /// Estimates on the first day's clock (slot `t` of a day at offset `o` is entry `t − o`).
    estimate: Vec<Option<f64>>,
    errors: Window,
}

/// Kansal's weight of the old estimate.
const EWMA_ALPHA: f64 = 0.5;

/// Which forecaster makes the day-ahead part of a forecast.
#[derive(Debug, Clone, Copy, PartialEq)]
enum DaySource {
    Model(usize),
    Ewma,
}

/// One slot at a time in, the next slots out: the default solar forecaster (module docs).
///
/// ```
/// use powerslot_harvest::predict::SolarForecaster;
///
/// // Hourly slots; ten days of a clear sky from 06:00 to 18:00, in kW.
/// let day: Vec<f64> = (0..24)
///     .map(|h| if (6..18).contains(&h) { 2.0 * (1.0 - ((h as f64 - 11.5) / 6.0).powi(2)) } else { 0.0 })
///     .collect();
/// let mut f = SolarForecaster::new(24).unwrap();
/// for _ in 0..10 {
///     for &v in &day {
///         f.update(Some(v));
///     }
/// }
/// let tomorrow = f.forecast(24);
/// assert!((tomorrow[12] - day[12]).abs() < 1e-9);
/// assert_eq!(tomorrow[2], 0.0); // night
/// ```
#[derive(Debug, Clone)]
pub struct SolarForecaster {
    spd: usize,
    /// Per-slot factor by which a forecast further ahead relaxes towards the prior index.
    relax: f64,
    candidates: Vec<Candidate>,
    refs: Vec<Refs>,
    /// The last complete days, the most recent last; their clock offsets are the clock's.
    past: VecDeque<Vec<Option<f64>>>,
    history_days: usize,
    today: Vec<Option<f64>>,
    /// The previous slot's value, across midnight.
    last: Option<f64>,
    clock: Clock,
    maxima: VecDeque<f64>,
    level: f64,
    ewma: Ewma,
    /// Every day-ahead source's forecast of today, made at midnight (models first, then the EWMA).
    day_forecasts: Vec<Vec<f64>>,
}

impl SolarForecaster {
    /// The default forecaster ([`Model::CANDIDATES`]) for a grid of `slots_per_day` slots.
    pub fn new(slots_per_day: usize) -> Result<Self> {
        Self::with_models(slots_per_day, &Model::CANDIDATES)
    }

    /// A forecaster choosing among `models` (one model: no choice).
    pub fn with_models(slots_per_day: usize, models: &[Model]) -> Result<Self> {
        if slots_per_day == 0 || models.is_empty() {
            return Err(HarvestError::BadInput {
                what: "solar forecaster",
                reason: alloc::format!(
                    "needs at least one slot per day and one model (got {slots_per_day} slots, {} models)",
                    models.len()
                ),
            });
        }
        for m in models {
            m.validate()?;
        }
        let mut windows: Vec<usize> = models.iter().map(Model::days).collect();
        windows.sort_unstable();
        windows.dedup();
        let candidates = models
            .iter()
            .map(|&model| Candidate {
                model,
                refs: windows.iter().position(|&d| d == model.days()).unwrap_or(0),
                next_errors: Window::default(),
                day_errors: Window::default(),
                next: None,
            })
            .collect();
        let slot_hours = 24.0 / slots_per_day as f64;
        let history_days = windows.last().copied().unwrap_or(1);
        Ok(Self {
            spd: slots_per_day,
            relax: (1.0 - slot_hours / RELAX_HOURS).max(0.0),
            candidates,
            refs: Vec::new(),
            history_days,
            past: VecDeque::new(),
            today: Vec::with_capacity(slots_per_day),
            last: None,
            clock: Clock::new(slots_per_day, history_days),
            maxima: VecDeque::with_capacity(LEVEL_DAYS + 1),
            level: 0.0,
            ewma: Ewma {
                estimate: vec![None; slots_per_day],
                errors: Window::default(),
            },
            day_forecasts: Vec::new(),
        })
    }

    /// Slots per day.
    pub fn slots_per_day(&self) -> usize {
        self.spd
    }

    /// Whether at least one complete day has been seen (before that, forecasts repeat the last
    /// observation).
    pub fn has_history(&self) -> bool {
        !self.refs.is_empty()
    }

    /// The trace's level so far: the 90th percentile of the daily maxima of the last year.
    pub fn level(&self) -> f64 {
        self.level
    }

    /// The clock shifts found so far.
    pub fn clock_shifts(&self) -> &[ClockShift] {
        self.clock.shifts()
    }

    /// The candidate of the next slots: the lowest mean absolute percentage error of next-slot
    /// forecasts over the last [`SCORE_DAYS`] days (the first candidate before anything was
    /// scored).
    pub fn chosen(&self) -> Model {
        self.candidates[self.chosen_index()].model
    }

    /// The source of forecasts further ahead (the rest of today, tomorrow): the lowest error of
    /// whole-day forecasts made at midnight, among the candidates' profiles and Kansal's EWMA.
    pub fn chosen_day_ahead(&self) -> String {
        match self.day_source() {
            DaySource::Model(i) => self.candidates[i].model.name(),
            DaySource::Ewma => alloc::format!("ewma(a={EWMA_ALPHA})"),
        }
    }

    /// Every candidate with its mean absolute percentage error (%) of next-slot forecasts over
    /// the scoring window.
    pub fn scores(&self) -> Vec<(Model, f64)> {
        self.candidates
            .iter()
            .map(|c| (c.model, 100.0 * c.next_errors.score()))
            .collect()
    }

    fn chosen_index(&self) -> usize {
        let mut best = 0;
        for (i, c) in self.candidates.iter().enumerate() {
            if c.next_errors.score() < self.candidates[best].next_errors.score() {
                best = i;
            }
        }
        best
    }

    fn day_source(&self) -> DaySource {
        let mut best = (DaySource::Model(0), self.candidates[0].day_errors.score());
        for (i, c) in self.candidates.iter().enumerate().skip(1) {
            if c.day_errors.score() < best.1 {
                best = (DaySource::Model(i), c.day_errors.score());
            }
        }
        if self.ewma.errors.score() < best.1 {
            best.0 = DaySource::Ewma;
        }
        best.0
    }

    /// Takes the next slot's observation (`None`, NaN or a negative value: a gap).
    pub fn update(&mut self, value: Option<f64>) {
        let value = value.filter(|v| v.is_finite() && *v >= 0.0);
        let floor = SCORE_FLOOR * self.level;
        if let Some(o) = value
            && floor > 0.0
            && o > floor
        {
            let t = self.today.len();
            for (i, c) in self.candidates.iter_mut().enumerate() {
                if let Some(f) = c.next {
                    c.next_errors.add(f, o);
                }
                if let Some(f) = self.day_forecasts.get(i) {
                    c.day_errors.add(f[t], o);
                }
            }
            if let Some(f) = self.day_forecasts.get(self.candidates.len()) {
                self.ewma.errors.add(f[t], o);
            }
        }
        self.today.push(value);
        self.last = value;
        if self.today.len() == self.spd {
            self.end_of_day();
        }
        for i in 0..self.candidates.len() {
            let next = self.has_history().then(|| {
                let c = &self.candidates[i];
                self.model_forecast(c.model, &self.refs[c.refs], 1)[0]
            });
            self.candidates[i].next = next;
        }
    }

    /// The chosen candidate's forecast of the next slot (`None` before the first complete day).
    pub fn next(&self) -> Option<f64> {
        self.candidates[self.chosen_index()].next
    }

    /// Forecasts of the next `horizon` slots (after the first day; before it, the last
    /// observation repeated): the chosen candidate's, relaxing with a 3-hour time constant to the
    /// chosen day-ahead source's.
    pub fn forecast(&self, horizon: usize) -> Vec<f64> {
        if !self.has_history() {
            return vec![self.last.unwrap_or(0.0); horizon];
        }
        let c = &self.candidates[self.chosen_index()];
        let near = self.model_forecast(c.model, &self.refs[c.refs], horizon);
        let t = self.today.len();
        let far = self.day_profile(self.day_source());
        let mut w = 1.0;
        near.iter()
            .enumerate()
            .map(|(i, &n)| {
                let v = w * n + (1.0 - w) * far[(t + i) % self.spd];
                w *= self.relax;
                v
            })
            .collect()
    }

    /// A day-ahead source's forecast of every slot of a day on today's clock.
    fn day_profile(&self, source: DaySource) -> Vec<f64> {
        match source {
            DaySource::Model(i) => {
                let c = &self.candidates[i];
                let refs = &self.refs[c.refs];
                (0..self.spd)
                    .map(|t| match c.model {
                        Model::ClearSky { .. } => {
                            refs.envelope[t].map_or(0.0, |e| e * refs.prior_index)
                        }
                        Model::Profile { .. } => refs.mean[t].unwrap_or(0.0),
                    })
                    .collect()
            }
            DaySource::Ewma => {
                let now = self.clock.offset();
                (0..self.spd)
                    .map(|t| {
                        usize::try_from(t as i64 - i64::from(now))
                            .ok()
                            .and_then(|j| self.ewma.estimate.get(j).copied().flatten())
                            .unwrap_or(0.0)
                    })
                    .collect()
            }
        }
    }

    fn model_forecast(&self, model: Model, refs: &Refs, horizon: usize) -> Vec<f64> {
        let t = self.today.len();
        let k = model.k();
        // Ratio of weighted sums over the last k slots of today: num/den.
        let reference = match model {
            Model::ClearSky { .. } => &refs.envelope,
            Model::Profile { .. } => &refs.mean,
        };
        let (mut num, mut den) = (0.0, 0.0);
        for j in 1..=k.min(t) {
            if let (Some(x), Some(r)) = (self.today[t - j], reference[t - j]) {
                let w = (k + 1 - j) as f64 / k as f64;
                num += w * x;
                den += w * r;
            }
        }
        let mut out = Vec::with_capacity(horizon);
        let mut decay = 1.0;
        match model {
            Model::ClearSky { .. } => {
                let prior = refs.prior_index;
                let c = SHRINK * refs.envelope_peak;
                let index = if den + c > 0.0 {
                    ((num + c * prior) / (den + c)).clamp(0.0, MAX_INDEX)
                } else {
                    prior
                };
                for i in 0..horizon {
                    let slot = (t + i) % self.spd;
                    let k_i = prior + (index - prior) * decay;
                    out.push(refs.envelope[slot].map_or(self.last.unwrap_or(0.0), |e| e * k_i));
                    decay *= self.relax;
                }
            }
            Model::Profile { alpha, .. } => {
                let c = SHRINK * refs.mean_peak;
                let gap = if den + c > 0.0 {
                    ((num + c) / (den + c)).clamp(0.0, MAX_GAP)
                } else {
                    1.0
                };
                for i in 0..horizon {
                    let slot = (t + i) % self.spd;
                    let g = 1.0 + (gap - 1.0) * decay;
                    let profile = refs.mean[slot].map(|m| m * g);
                    out.push(match (self.last, profile) {
                        (Some(a), Some(p)) => alpha * decay * a + (1.0 - alpha * decay) * p,
                        (None, Some(p)) => p,
                        (Some(a), None) => a,
                        (None, None) => 0.0,
                    });
                    decay *= self.relax;
                }
            }
        }
        out
    }

    fn end_of_day(&mut self) {
        let values = core::mem::replace(&mut self.today, Vec::with_capacity(self.spd));
        let day_max = values.iter().flatten().copied().reduce(f64::max);
        let scale = if self.level > 0.0 {
            self.level
        } else {
            day_max.unwrap_or(0.0)
        };
        self.clock.end_of_day(&values, EDGE_FRACTION * scale);
        self.past.push_back(values);
        if self.past.len() > self.history_days {
            self.past.pop_front();
        }
        if let Some(m) = day_max {
            self.maxima.push_back(m);
            if self.maxima.len() > LEVEL_DAYS {
                self.maxima.pop_front();
            }
            let mut sorted: Vec<f64> = self.maxima.iter().copied().collect();
            sorted.sort_by(f64::total_cmp);
            self.level = quantile(&sorted, 0.9);
        }
        for c in &mut self.candidates {
            c.next_errors.end_of_day();
            c.day_errors.end_of_day();
        }
        self.ewma.errors.end_of_day();
        let offset = self.clock.offsets().back().copied().unwrap_or(0);
        let day = self.past.back().expect("the day just pushed");
        for (t, v) in day.iter().enumerate() {
            let slot = usize::try_from(t as i64 - i64::from(offset))
                .ok()
                .and_then(|j| self.ewma.estimate.get_mut(j));
            if let (Some(v), Some(e)) = (*v, slot) {
                *e = Some(e.map_or(v, |e| EWMA_ALPHA * e + (1.0 - EWMA_ALPHA) * v));
            }
        }
        self.rebuild_refs();
        self.day_forecasts = (0..self.candidates.len())
            .map(DaySource::Model)
            .chain([DaySource::Ewma])
            .map(|s| self.day_profile(s))
            .collect();
    }

    /// Today's envelope, mean and prior index for each history length, every past day read
    /// through the clock: today's slot `t` is slot `t − (offset now − offset then)` of that day.
    fn rebuild_refs(&mut self) {
        let mut windows: Vec<usize> = self.candidates.iter().map(|c| c.model.days()).collect();
        windows.sort_unstable();
        windows.dedup();
        let now = self.clock.offset();
        let spd = self.spd;
        // The past days with their offsets, the most recent first.
        let days: Vec<(&[Option<f64>], i32)> = self
            .past
            .iter()
            .rev()
            .zip(self.clock.offsets().iter().rev())
            .map(|(v, &o)| (v.as_slice(), o))
            .collect();
        let aligned = |(values, offset): (&[Option<f64>], i32), t: usize| -> Option<f64> {
            let s = t as i64 - i64::from(now - offset);
            usize::try_from(s)
                .ok()
                .filter(|&s| s < spd)
                .and_then(|s| values[s])
        };
        self.refs = windows
            .iter()
            .map(|&window| {
                let recent = &days[..days.len().min(window)];
                let mut envelope = vec![None; spd];
                let mut mean = vec![None; spd];
                for t in 0..spd {
                    let (mut max, mut sum, mut n) = (None::<f64>, 0.0, 0usize);
                    for &p in recent {
                        if let Some(v) = aligned(p, t) {
                            max = Some(max.map_or(v, |m| m.max(v)));
                            sum += v;
                            n += 1;
                        }
                    }
                    envelope[t] = max;
                    mean[t] = (n > 0).then(|| sum / n as f64);
                }
                let (mut num, mut den) = (0.0, 0.0);
                for &p in recent {
                    for (t, e) in envelope.iter().enumerate() {
                        if let (Some(v), Some(e)) = (aligned(p, t), *e) {
                            num += v;
                            den += e;
                        }
                    }
                }
                let peak = |v: &[Option<f64>]| v.iter().flatten().copied().fold(0.0, f64::max);
                Refs {
                    envelope_peak: peak(&envelope),
                    mean_peak: peak(&mean),
                    prior_index: if den > 0.0 {
                        (num / den).clamp(0.0, MAX_INDEX)
                    } else {
                        1.0
                    },
                    envelope,
                    mean,
                }
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::clear_day;

    /// `days` days of clear sky (06:00–18:00), dimmed by `cloud(d, i)` per slot.
    fn feed(f: &mut SolarForecaster, days: usize, rise: f64, cloud: impl Fn(usize, usize) -> f64) {
        let spd = f.slots_per_day();
        let sun = clear_day(spd, rise, rise + 12.0, 800.0);
        for d in 0..days {
            for (i, s) in sun.iter().enumerate() {
                f.update(Some(s * cloud(d, i)));
            }
        }
    }

    #[test]
    fn a_clear_sky_is_forecast_exactly_and_night_is_dark() {
        let mut f = SolarForecaster::new(48).unwrap();
        feed(&mut f, 10, 6.0, |_, _| 1.0);
        let sun = clear_day(48, 6.0, 18.0, 800.0);
        let ahead = f.forecast(48);
        for (a, s) in ahead.iter().zip(&sun) {
            assert!((a - s).abs() < 1e-9, "{a} vs {s}");
        }
        assert_eq!(f.chosen(), Model::ClearSky { days: 14, k: 1 });
        assert!(f.clock_shifts().is_empty());
    }

    #[test]
    fn ratios_stay_bounded_where_the_reference_is_near_zero() {
        // History: a dark dawn slot reading a standby 1e-9 W. Today that slot reads 500 W.
        let spd = 24;
        let mut f = SolarForecaster::with_models(
            spd,
            &[
                Model::ClearSky { days: 7, k: 1 },
                Model::Profile {
                    alpha: 0.5,
                    days: 7,
                    k: 1,
                },
            ],
        )
        .unwrap();
        let mut day = clear_day(spd, 6.0, 18.0, 800.0);
        day[5] = 1e-9;
        for _ in 0..7 {
            for &v in &day {
                f.update(Some(v));
            }
        }
        for &v in &day[..5] {
            f.update(Some(v));
        }
        f.update(Some(500.0));
        let envelope_next = day[6];
        let peak = 800.0;
        for (model, _) in f.scores() {
            let c = &f.candidates.iter().find(|c| c.model == model).unwrap();
            let next = c.next.unwrap();
            // The paper's ratio would be 5e11; the shrunk one is bounded.
            assert!(next <= MAX_GAP * peak, "{} forecast {next}", model.name());
            assert!(
                next >= envelope_next * 0.5,
                "{} forecast {next}",
                model.name()
            );
        }
    }

    #[test]
    fn a_daylight_saving_shift_is_followed_from_the_next_day() {
        let spd = 96;
        let mut f = SolarForecaster::new(spd).unwrap();
        feed(&mut f, 10, 6.0, |_, _| 1.0);
        // Spring forward: the same sun an hour later on the clock. The next day is already
        // forecast on the new clock; the day after confirms the shift.
        feed(&mut f, 1, 7.0, |_, _| 1.0);
        let shifted = clear_day(spd, 7.0, 19.0, 800.0);
        for (a, s) in f.forecast(spd).iter().zip(&shifted) {
            assert!((a - s).abs() < 1e-6, "{a} vs {s}");
        }
        assert!(f.clock_shifts().is_empty(), "not confirmed yet");
        feed(&mut f, 1, 7.0, |_, _| 1.0);
        assert_eq!(f.clock_shifts(), &[ClockShift { day: 10, slots: 4 }]);
    }

    #[test]
    fn forecasts_scale_with_the_unit() {
        let cloud = |d: usize, i: usize| 0.3 + 0.7 * (((d * 7 + i * 3) % 11) as f64 / 10.0);
        let mut w = SolarForecaster::new(24).unwrap();
        let mut kw = SolarForecaster::new(24).unwrap();
        let sun = clear_day(24, 6.0, 18.0, 800.0);
        for d in 0..30 {
            for (i, s) in sun.iter().enumerate() {
                let v = s * cloud(d, i);
                w.update(Some(v));
                kw.update(Some(v / 1000.0));
                assert_eq!(w.chosen(), kw.chosen());
            }
        }
        for (a, b) in w.forecast(30).iter().zip(kw.forecast(30)) {
            assert!(
                (a / 1000.0 - b).abs() <= 1e-9 * a.max(1.0),
                "{a} W vs {b} kW"
            );
        }
    }

    #[test]
    fn gaps_do_not_stop_the_forecasts() {
        let mut f = SolarForecaster::new(24).unwrap();
        feed(&mut f, 3, 6.0, |_, _| 1.0);
        for _ in 0..12 {
            f.update(None);
        }
        assert!(f.next().is_some_and(|v| v > 0.0));
        assert!(f.forecast(3).iter().all(|v| v.is_finite() && *v >= 0.0));
        // NaN and negative readings are gaps too.
        f.update(Some(f64::NAN));
        f.update(Some(-3.0));
        assert!(f.next().is_some_and(f64::is_finite));
    }

    #[test]
    fn the_choice_follows_the_past_errors() {
        // A sky whose cloudiness holds for a day: the index of the last slot (k = 1) says most.
        let cloud = |d: usize, _: usize| if d.is_multiple_of(3) { 0.3 } else { 1.0 };
        let mut f = SolarForecaster::new(24).unwrap();
        feed(&mut f, 40, 6.0, cloud);
        let scores = f.scores();
        let best = scores.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        assert_eq!(f.chosen(), best.0);
        assert!(scores.iter().all(|s| s.1.is_finite()));
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(SolarForecaster::new(0).is_err());
        assert!(SolarForecaster::with_models(24, &[]).is_err());
        assert!(SolarForecaster::with_models(24, &[Model::ClearSky { days: 0, k: 1 }]).is_err());
        let bad_alpha = Model::Profile {
            alpha: 1.5,
            days: 7,
            k: 1,
        };
        assert!(SolarForecaster::with_models(24, &[bad_alpha]).is_err());
    }
}
