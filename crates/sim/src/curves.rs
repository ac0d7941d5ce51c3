//! The maximum allowable power curve and the baselines, as daily repeating
//! [`CapacityProfile`]s in integer milliwatts.

use std::f64::consts::PI;

use powerslot_core::{CapacityProfile, Milliwatts, PowerCurves, Tail, TimeGrid};

use crate::SimError;
use crate::params::PaperCurves;

const DAY_H: f64 = 24.0;

impl PaperCurves {
    /// Maximum allowable power at `hour` (any real; the curve repeats daily), kW.
    pub fn maximum_kw(&self, hour: f64) -> f64 {
        let h = hour.rem_euclid(DAY_H);
        let solar = if h > self.sunrise_h && h < self.sunset_h {
            (PI * (h - self.sunrise_h) / (self.sunset_h - self.sunrise_h)).sin()
        } else {
            0.0
        };
        self.battery_kw + self.solar_peak_kw * solar
    }

    /// Baseline (non-smart load) at `hour`, kW: a daily sine peaking at
    /// [`PaperCurves::baseline_peak_h`].
    pub fn baseline_kw(&self, hour: f64) -> f64 {
        let phase = 2.0 * PI * (hour - self.baseline_peak_h) / DAY_H;
        self.baseline_mean_kw + self.baseline_amplitude_kw * phase.cos()
    }

    /// The strict scenario's baseline at `hour`, kW: the baseline, held flat
    /// from [`PaperCurves::strict_flat_from_h`] to midnight, then raised until
    /// its smallest gap to the maximum is [`PaperCurves::strict_headroom_kw`].
    pub fn strict_baseline_kw(&self, hour: f64) -> f64 {
        self.strict_shape_kw(hour) + self.strict_raise_kw()
    }

    fn strict_shape_kw(&self, hour: f64) -> f64 {
        let h = hour.rem_euclid(DAY_H);
        self.baseline_kw(h.min(self.strict_flat_from_h))
    }

    /// How far the strict baseline is raised above its shape, kW (found on a
    /// one-minute grid so it holds for any other shape parameters too).
    pub fn strict_raise_kw(&self) -> f64 {
        let gap = (0..1440)
            .map(|m| {
                let h = (f64::from(m) + 0.5) / 60.0;
                self.maximum_kw(h) - self.strict_shape_kw(h)
            })
            .fold(f64::INFINITY, f64::min);
        gap - self.strict_headroom_kw
    }

    /// Checks that the levels make sense (finite, non-negative, ordered hours).
    pub fn check(&self) -> Result<(), SimError> {
        let fields = [
            ("battery_kw", self.battery_kw),
            ("solar_peak_kw", self.solar_peak_kw),
            ("baseline_mean_kw", self.baseline_mean_kw),
            ("baseline_amplitude_kw", self.baseline_amplitude_kw),
            ("strict_headroom_kw", self.strict_headroom_kw),
        ];
        for (name, v) in fields {
            if !v.is_finite() || v < 0.0 {
                return Err(SimError::BadParameter(format!(
                    "{name} must be a non-negative number, not {v}"
                )));
            }
        }
        if self.baseline_amplitude_kw > self.baseline_mean_kw {
            return Err(SimError::BadParameter(
                "baseline_amplitude_kw above baseline_mean_kw would make the baseline negative"
                    .into(),
            ));
        }
        let hours_ok = |h: f64| h.is_finite() && (0.0..=DAY_H).contains(&h);
        if !(hours_ok(self.sunrise_h) && hours_ok(self.sunset_h) && self.sunrise_h < self.sunset_h)
        {
            return Err(SimError::BadParameter(
                "sunrise_h and sunset_h must satisfy 0 <= sunrise < sunset <= 24".into(),
            ));
        }
        if !hours_ok(self.baseline_peak_h) || !hours_ok(self.strict_flat_from_h) {
            return Err(SimError::BadParameter(
                "baseline_peak_h and strict_flat_from_h must be hours of the day (0-24)".into(),
            ));
        }
        Ok(())
    }
}

/// Which baseline a scenario uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baseline {
    /// The sine centred at 10:30.
    Standard,
    /// Flat in the afternoon and evening, raised toward the maximum.
    Strict,
}

/// The grid of `slot_minutes`-long slots from midnight; the length must divide a day.
pub fn grid(slot_minutes: u32) -> Result<TimeGrid, SimError> {
    if slot_minutes == 0 || 1440 % slot_minutes != 0 {
        return Err(SimError::BadParameter(format!(
            "the slot length must divide a day (1440 minutes), not {slot_minutes}"
        )));
    }
    Ok(TimeGrid::minutes(slot_minutes))
}

/// One day of `f` (kW at an hour), sampled at each slot's midpoint, repeating.
fn daily_profile(grid: TimeGrid, f: impl Fn(f64) -> f64) -> CapacityProfile {
    let per_day = grid.slots_per_day();
    let values = (0..per_day)
        .map(|s| {
            let mid_s = grid.start_seconds(s) as f64 + f64::from(grid.slot_seconds) / 2.0;
            Milliwatts::from_kw(f(mid_s / 3600.0).max(0.0)).0
        })
        .collect();
    CapacityProfile::new(values, Tail::Repeat).expect("one day of non-negative values")
}

/// Budget (maximum) and baseline profiles on `grid`.
pub fn power_curves(curves: &PaperCurves, grid: TimeGrid, baseline: Baseline) -> PowerCurves {
    let budget_mw = daily_profile(grid, |h| curves.maximum_kw(h));
    let baseline_mw = match baseline {
        Baseline::Standard => daily_profile(grid, |h| curves.baseline_kw(h)),
        Baseline::Strict => daily_profile(grid, |h| curves.strict_baseline_kw(h)),
    };
    PowerCurves {
        budget_mw,
        baseline_mw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_peaks_at_half_past_ten() {
        let c = PaperCurves::default();
        let peak = c.baseline_kw(10.5);
        assert!((peak - 45.0).abs() < 1e-9);
        assert!(c.baseline_kw(10.0) < peak && c.baseline_kw(11.0) < peak);
        assert!((c.baseline_kw(22.5) - 15.0).abs() < 1e-9);
    }

    #[test]
    fn maximum_is_battery_at_night_and_peaks_at_noon() {
        let c = PaperCurves::default();
        assert_eq!(c.maximum_kw(2.0), 120.0);
        assert_eq!(c.maximum_kw(20.0), 120.0);
        assert!((c.maximum_kw(12.0) - 240.0).abs() < 1e-9);
        assert_eq!(c.maximum_kw(36.0), c.maximum_kw(12.0));
    }

    #[test]
    fn strict_baseline_is_flat_after_its_peak_and_leaves_the_headroom() {
        let c = PaperCurves::default();
        assert_eq!(c.strict_baseline_kw(14.0), c.strict_baseline_kw(23.0));
        let gap = (0..1440)
            .map(|m| {
                let h = (f64::from(m) + 0.5) / 60.0;
                c.maximum_kw(h) - c.strict_baseline_kw(h)
            })
            .fold(f64::INFINITY, f64::min);
        assert!((gap - c.strict_headroom_kw).abs() < 1e-9);
    }

    #[test]
    fn rejects_slots_that_do_not_divide_a_day() {
        assert!(grid(7).is_err());
        assert!(grid(0).is_err());
        assert_eq!(grid(15).unwrap().slots_per_day(), 96);
    }
}
