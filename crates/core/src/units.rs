//! Units as types: power in integer milliwatts, time as slots on a [`TimeGrid`].
//!
//! Integer power makes "never above the budget" an exact check; energy is derived
//! from power and slot length only where a report needs it.

use core::fmt;
use serde::{Deserialize, Serialize};

/// Power in integer milliwatts. Negative values are allowed in arithmetic
/// (a deficit), but never as a device demand or a capacity read from a file.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Milliwatts(pub i64);

impl Milliwatts {
    /// From kilowatts, rounded to the nearest milliwatt.
    pub fn from_kw(kw: f64) -> Self {
        Self(round_to_i64(kw * 1e6))
    }
    /// From watts, rounded to the nearest milliwatt.
    pub fn from_w(w: f64) -> Self {
        Self(round_to_i64(w * 1e3))
    }
    /// The value in kilowatts.
    pub fn kw(self) -> f64 {
        self.0 as f64 / 1e6
    }
    /// The value in watts.
    pub fn w(self) -> f64 {
        self.0 as f64 / 1e3
    }
}

/// Rounds half away from zero without `std` (`f64::round` lives in `std`); the cast saturates
/// and sends NaN to 0.
fn round_to_i64(x: f64) -> i64 {
    if x >= 0.0 {
        (x + 0.5) as i64
    } else {
        (x - 0.5) as i64
    }
}

impl fmt::Display for Milliwatts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mw = self.0;
        if mw.abs() >= 1_000_000 {
            write!(f, "{:.3} kW", self.kw())
        } else if mw.abs() >= 1_000 {
            write!(f, "{:.3} W", self.w())
        } else {
            write!(f, "{mw} mW")
        }
    }
}

/// A slot index on a [`TimeGrid`]: slot `s` covers `[origin + s·len, origin + (s+1)·len)`.
pub type Slot = u32;

/// The time grid: how long one slot lasts and where slot 0 starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeGrid {
    /// Length of one slot in seconds (at least 1).
    pub slot_seconds: u32,
    /// Start of slot 0 in seconds after local midnight of day 0 (used to place
    /// daily curves; 0 means the plan starts at midnight).
    #[serde(default)]
    pub origin_seconds: i64,
}

impl Default for TimeGrid {
    fn default() -> Self {
        Self {
            slot_seconds: 60,
            origin_seconds: 0,
        }
    }
}

impl TimeGrid {
    /// A grid of `minutes`-long slots starting at midnight.
    pub fn minutes(minutes: u32) -> Self {
        Self {
            slot_seconds: minutes * 60,
            origin_seconds: 0,
        }
    }
    /// Slot length in minutes (fractional for sub-minute slots).
    pub fn slot_minutes(&self) -> f64 {
        self.slot_seconds as f64 / 60.0
    }
    /// Number of slots in one day (rounded down).
    pub fn slots_per_day(&self) -> u32 {
        86_400 / self.slot_seconds.max(1)
    }
    /// Seconds after midnight of day 0 at which `slot` starts.
    pub fn start_seconds(&self, slot: Slot) -> i64 {
        // Saturating: an origin near the end of i64 must not wrap into the past.
        self.origin_seconds
            .saturating_add(i64::from(slot) * i64::from(self.slot_seconds))
    }
    /// Energy in milliwatt-hours of `power` held for `slots` slots.
    pub fn energy_mwh(&self, power: Milliwatts, slots: u32) -> f64 {
        power.0 as f64 * f64::from(slots) * f64::from(self.slot_seconds) / 3600.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip() {
        assert_eq!(Milliwatts::from_kw(2.5), Milliwatts(2_500_000));
        assert_eq!(Milliwatts::from_w(0.0015), Milliwatts(2));
        assert_eq!(Milliwatts(2_500_000).to_string(), "2.500 kW");
        assert_eq!(Milliwatts(999).to_string(), "999 mW");
    }

    #[test]
    fn grid_energy_and_clock() {
        let g = TimeGrid::minutes(15);
        assert_eq!(g.slots_per_day(), 96);
        assert_eq!(g.start_seconds(4), 3600);
        // 1 W for four 15-minute slots is 1 Wh.
        assert!((g.energy_mwh(Milliwatts(1000), 4) - 1000.0).abs() < 1e-9);
    }
}
