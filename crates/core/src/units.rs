//! Units as types: power in integer milliwatts, time as slots on a [`TimeGrid`].
//!
//! Integer power makes "never above the budget" an exact check; energy is derived
//! from power and slot length only where a report needs it. At the edges people
//! write quantities with their unit ("2 kW", "800 W", "1 h 30 min"):
//! [`Milliwatts::parse`] and [`parse_seconds`] read them exactly, without floats.

use core::fmt;
use serde::{Deserialize, Serialize};

use crate::clock::ClockStart;

/// Why a quantity written with its unit could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Not a number followed by a known unit.
    #[error("'{text}' is not {what}: write e.g. {example}")]
    Syntax {
        /// The text as written.
        text: String,
        /// What was expected ("a power", "a length of time").
        what: &'static str,
        /// A correct example.
        example: &'static str,
    },
    /// A negative quantity where only zero or more makes sense.
    #[error("'{text}' is negative")]
    Negative {
        /// The text as written.
        text: String,
    },
    /// More decimals than the internal unit holds (milliwatts, seconds).
    #[error("'{text}' is finer than one {unit}")]
    TooFine {
        /// The text as written.
        text: String,
        /// The internal unit.
        unit: &'static str,
    },
    /// Too large to hold.
    #[error("'{text}' is too large")]
    TooLarge {
        /// The text as written.
        text: String,
    },
}

/// Reads `number unit (number unit)*` exactly: each unit's factor (in internal units)
/// comes from `unit_factor`; the sum must be a whole number of internal units.
fn parse_quantity(
    text: &str,
    what: &'static str,
    example: &'static str,
    internal: &'static str,
    unit_factor: impl Fn(&str) -> Option<i128>,
) -> Result<i64, UnitError> {
    let syntax = || UnitError::Syntax {
        text: text.to_string(),
        what,
        example,
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(syntax());
    }
    if rest.starts_with('-') {
        return Err(UnitError::Negative {
            text: text.to_string(),
        });
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
        if whole.is_empty() && frac.is_empty() || frac.contains('.') || frac.len() > 18 {
            return Err(syntax());
        }
        let factor = unit_factor(unit).ok_or_else(syntax)?;
        let digits = format!("{whole}{frac}");
        let mantissa: i128 = digits.parse().map_err(|_| UnitError::TooLarge {
            text: text.to_string(),
        })?;
        let scale = 10i128.pow(frac.len() as u32);
        let scaled = mantissa
            .checked_mul(factor)
            .ok_or_else(|| UnitError::TooLarge {
                text: text.to_string(),
            })?;
        if scaled % scale != 0 {
            return Err(UnitError::TooFine {
                text: text.to_string(),
                unit: internal,
            });
        }
        total += scaled / scale;
        if total > i128::from(i64::MAX) {
            return Err(UnitError::TooLarge {
                text: text.to_string(),
            });
        }
        rest = after.trim_start();
    }
    Ok(total as i64)
}

/// A length of time in words that [`parse_seconds`] reads back: `1 h 30 min`, `45 min`, `90 s`.
pub fn seconds_text(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s} s"));
    }
    parts.join(" ")
}

/// Reads a length of time written with units — `s`, `min`, `h` (also `sec`, `m`,
/// `hour(s)`), summed: `"15 min"`, `"1.5 h"`, `"2 h 30 min"` — as whole seconds.
pub fn parse_seconds(text: &str) -> Result<u64, UnitError> {
    let seconds = parse_quantity(
        text,
        "a length of time",
        "\"90 min\", \"1.5 h\" or \"2 h 30 min\"",
        "second",
        |unit| match unit.to_ascii_lowercase().as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => Some(1),
            "m" | "min" | "mins" | "minute" | "minutes" => Some(60),
            "h" | "hr" | "hrs" | "hour" | "hours" => Some(3600),
            _ => None,
        },
    )?;
    Ok(seconds as u64)
}

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

    /// Reads a power written with its unit, `W` or `kW` (any case, space optional):
    /// `"2 kW"`, `"1.8kW"`, `"800 W"`, `"0.5 W"`. Exact: `"1.8 kW"` is 1,800,000 mW.
    pub fn parse(text: &str) -> Result<Self, UnitError> {
        parse_quantity(
            text,
            "a power",
            "\"2 kW\" or \"800 W\"",
            "milliwatt",
            |unit| match unit.to_ascii_lowercase().as_str() {
                "w" => Some(1_000),
                "kw" => Some(1_000_000),
                _ => None,
            },
        )
        .map(Self)
    }

    /// Short exact text for tables and files: kW at and above 1 kW, W below, with only
    /// the decimals needed (`2 kW`, `1.85 kW`, `800 W`, `0.5 W`); [`Milliwatts::parse`]
    /// reads it back to the same value.
    pub fn short(self) -> String {
        let (unit, per) = if self.0.abs() >= 1_000_000 {
            ("kW", 1_000_000)
        } else {
            ("W", 1_000)
        };
        let sign = if self.0 < 0 { "-" } else { "" };
        let (whole, frac) = (self.0.abs() / per, self.0.abs() % per);
        if frac == 0 {
            format!("{sign}{whole} {unit}")
        } else {
            let width = per.ilog10() as usize;
            let frac = format!("{frac:0width$}");
            format!("{sign}{whole}.{} {unit}", frac.trim_end_matches('0'))
        }
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
pub use crate::Slot;

/// The time grid: how long one slot lasts and where slot 0 starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeGrid {
    /// Length of one slot in seconds (at least 1).
    pub slot_seconds: u32,
    /// Start of slot 0 in seconds after local midnight of day 0 (used to place
    /// daily curves; 0 means the plan starts at midnight).
    #[serde(default)]
    pub origin_seconds: i64,
    /// Where slot 0 sits on the calendar, when the instance says (then
    /// `origin_seconds` is its time of day); reports show clock times from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<ClockStart>,
}

impl Default for TimeGrid {
    fn default() -> Self {
        Self {
            slot_seconds: 60,
            origin_seconds: 0,
            start: None,
        }
    }
}

impl TimeGrid {
    /// A grid of `minutes`-long slots starting at midnight.
    pub fn minutes(minutes: u32) -> Self {
        Self {
            slot_seconds: minutes * 60,
            ..Self::default()
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
        self.origin_seconds + i64::from(slot) * i64::from(self.slot_seconds)
    }
    /// The clock time at which `slot` starts: `YYYY-MM-DD HH:MM` when the grid has a
    /// dated start, else `day N HH:MM` counted from midnight of day 0.
    pub fn clock(&self, slot: Slot) -> String {
        let offset = i64::from(slot) * i64::from(self.slot_seconds);
        match self.start {
            Some(start) => start.local(offset),
            None => {
                let t = self.start_seconds(slot);
                let (day, of_day) = (t.div_euclid(86_400), t.rem_euclid(86_400));
                let hm = format!("{:02}:{:02}", of_day / 3600, of_day % 3600 / 60);
                if of_day % 60 == 0 {
                    format!("day {day} {hm}")
                } else {
                    format!("day {day} {hm}:{:02}", of_day % 60)
                }
            }
        }
    }

    /// The instant at which `slot` starts as ISO 8601 text, if the grid has a dated start.
    pub fn iso(&self, slot: Slot) -> Option<String> {
        self.start
            .map(|s| s.iso(i64::from(slot) * i64::from(self.slot_seconds)))
    }

    /// A length of `slots` slots in words (see [`seconds_text`]).
    pub fn duration_text(&self, slots: u32) -> String {
        seconds_text(u64::from(slots) * u64::from(self.slot_seconds))
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
    fn powers_read_exactly_with_their_unit() {
        let p = |t: &str| Milliwatts::parse(t).map(|m| m.0);
        assert_eq!(p("2 kW"), Ok(2_000_000));
        assert_eq!(p("1.8kW"), Ok(1_800_000));
        assert_eq!(p(" 800 W "), Ok(800_000));
        assert_eq!(p("0.5 w"), Ok(500));
        assert_eq!(p("0.001 W"), Ok(1));
        let e = |t: &str| Milliwatts::parse(t).unwrap_err().to_string();
        assert!(e("2000").contains("'2000' is not a power"), "{}", e("2000"));
        assert!(e("2 kWh").contains("\"2 kW\""), "{}", e("2 kWh"));
        assert!(e("-3 kW").contains("negative"));
        assert!(e("0.0001 W").contains("finer than one milliwatt"));
        assert!(e("1.2.3 kW").contains("not a power"));
        assert!(e("99999999999999999999 kW").contains("too large"));
        assert!(e("").contains("not a power"));
        for mw in [0, 1, 500, 800_000, 1_800_000, 2_000_000, 2_345_678] {
            let text = Milliwatts(mw).short();
            assert_eq!(p(&text), Ok(mw), "{text}");
        }
        assert_eq!(Milliwatts(1_850_000).short(), "1.85 kW");
        assert_eq!(Milliwatts(800_000).short(), "800 W");
    }

    #[test]
    fn lengths_of_time_read_as_seconds() {
        assert_eq!(parse_seconds("15 min"), Ok(900));
        assert_eq!(parse_seconds("1.5 h"), Ok(5400));
        assert_eq!(parse_seconds("2 h 30 min"), Ok(9000));
        assert_eq!(parse_seconds("45s"), Ok(45));
        assert!(parse_seconds("15").is_err());
        assert!(
            parse_seconds("0.5 s")
                .unwrap_err()
                .to_string()
                .contains("second")
        );
        assert!(parse_seconds("1 day").is_err());
        let g = TimeGrid::minutes(15);
        assert_eq!(g.duration_text(6), "1 h 30 min");
        assert_eq!(g.duration_text(0), "0 s");
    }

    #[test]
    fn clock_times_of_slots() {
        let mut g = TimeGrid::minutes(15);
        g.origin_seconds = 23 * 3600;
        assert_eq!(g.clock(0), "day 0 23:00");
        assert_eq!(g.clock(6), "day 1 00:30");
        assert_eq!(g.iso(0), None);
        g.start = Some(ClockStart::parse("2026-06-01T23:00+02:00").unwrap());
        assert_eq!(g.clock(6), "2026-06-02 00:30");
        assert_eq!(g.iso(6).as_deref(), Some("2026-06-02T00:30+02:00"));
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
