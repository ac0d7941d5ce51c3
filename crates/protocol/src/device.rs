//! Devices: who they are, how urgent they are, and how flexible their demand is.
//!
//! The kinds of flexibility follow the S2 standard (EN 50491-12-2) where it has a name for
//! them: a fixed **power profile** run once (PPBC: washer, dishwasher), an **energy target**
//! between arrival and departure (an EV), a **power envelope** of any power between a minimum
//! and a maximum in each slot (PEBC: heat pump, EV charge current, a PoE device's class, a
//! sensor node's duty cycle), and a **power forecast** of load nobody controls, which is taken
//! off the budget.
//!
//! Every power is an integer number of milliwatts, so that "never above the budget" is an
//! exact check; forecasts (`f64`) enter through [`PowerValue::from_forecast`], which rounds up
//! and refuses NaN, infinities and negative values.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::limits;

/// A device's identity: 1 to 64 ASCII letters, digits, `-`, `_`, `.` or `:` (so that it can
/// be an MQTT topic level and a file name as it is).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceId(String);

impl DeviceId {
    /// Checks and wraps an id.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidId> {
        let id = id.into();
        if id.is_empty() || id.len() > limits::MAX_ID_BYTES {
            return Err(InvalidId::Length(id.len()));
        }
        if let Some(c) = id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
        {
            return Err(InvalidId::Character(c));
        }
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DeviceId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, InvalidId> {
        Self::new(s)
    }
}

impl From<DeviceId> for String {
    fn from(d: DeviceId) -> String {
        d.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a text is not a device id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidId {
    /// Empty or longer than 64 bytes.
    #[error("a device id has 1 to 64 characters, this one has {0}")]
    Length(usize),
    /// A character outside letters, digits and `-_.:`.
    #[error("a device id may only hold letters, digits and - _ . : (found {0:?})")]
    Character(char),
}

/// Priority classes, as PoE switches use them. A higher class is never refused or shed while a
/// lower one draws on the same circuit (see the crate overview for the exceptions).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Runs when nothing else wants the power.
    Low,
    /// The default class.
    #[default]
    Normal,
    /// Comfort and production loads.
    High,
    /// Life, safety and the network itself; may cut even a running job.
    Critical,
}

impl Priority {
    /// Every class, lowest first.
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Critical,
    ];

    /// Welfare weight of one kWh served in this class: 1, 10, 100, 1000. The factor of ten
    /// between classes makes the welfare optimum respect the classes almost always, which is
    /// what the priority rule promises users.
    pub fn weight(self) -> i64 {
        match self {
            Priority::Low => 1,
            Priority::Normal => 10,
            Priority::High => 100,
            Priority::Critical => 1000,
        }
    }

    /// The class's name (`low`, `normal`, `high`, `critical`).
    pub fn name(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }

    /// Parses a class name.
    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.name() == s)
    }

    /// The seed's numeric priority (1 = low … 4 = critical), used by the seed's bid rule.
    pub fn level(self) -> i64 {
        match self {
            Priority::Low => 1,
            Priority::Normal => 2,
            Priority::High => 3,
            Priority::Critical => 4,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One slot of a forecast power profile: the median and the 90th percentile, in milliwatts
/// (S2: a power forecast value with its quantiles). Grants are made on the P90 so that a
/// device drawing within its band never pushes a circuit over its capacity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PowerValue {
    /// Median power, mW.
    pub p50_mw: i64,
    /// 90th-percentile power, mW (at least the median).
    pub p90_mw: i64,
}

impl PowerValue {
    /// A value whose median and P90 are the same.
    pub fn exact(mw: i64) -> Self {
        Self {
            p50_mw: mw,
            p90_mw: mw,
        }
    }

    /// From a forecast in watts, rounded up to whole milliwatts. Refuses NaN, infinities,
    /// negative values, a P90 below the median and values above the protocol's maximum.
    pub fn from_forecast(p50_w: f64, p90_w: f64) -> Result<Self, InvalidDemand> {
        let conv = |w: f64, what: PowerField| -> Result<i64, InvalidDemand> {
            if !w.is_finite() {
                return Err(InvalidDemand::NotFinite { what });
            }
            if w < 0.0 {
                return Err(InvalidDemand::NegativePower { what, slot: 0 });
            }
            let mw = w * 1000.0;
            if mw > limits::MAX_POWER_MW as f64 {
                return Err(InvalidDemand::TooMuchPower { what, slot: 0 });
            }
            let whole = mw as i64; // truncates towards zero, mw ≥ 0
            Ok(if (whole as f64) < mw {
                whole + 1
            } else {
                whole
            })
        };
        let v = Self {
            p50_mw: conv(p50_w, PowerField::P50)?,
            p90_mw: conv(p90_w, PowerField::P90)?,
        };
        if v.p90_mw < v.p50_mw {
            return Err(InvalidDemand::BandInverted { slot: 0 });
        }
        Ok(v)
    }
}

/// How flexible a request is. Every power is in milliwatts; windows are in the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Demand {
    /// A power profile run once, one value per slot (S2 PPBC: washer, dishwasher). Granted on
    /// its P90. `interruptible` jobs may be paused by a higher class and resumed later;
    /// `min_on_slots` / `min_off_slots` keep relays from chattering.
    PowerProfile {
        /// Power per slot of the run.
        profile: Vec<PowerValue>,
        /// Whether the run may be paused and resumed.
        #[serde(default)]
        interruptible: bool,
        /// Shortest run once switched on.
        #[serde(default)]
        min_on_slots: u32,
        /// Shortest pause once switched off.
        #[serde(default)]
        min_off_slots: u32,
    },
    /// At least `energy_mwh` inside the window at a power between `min_mw` and `max_mw`
    /// (an EV between plug-in and plug-out). It may be granted less power than its maximum
    /// for longer, which is the "less power" a counter-offer proposes.
    EnergyTarget {
        /// Energy needed, mWh.
        energy_mwh: i64,
        /// Lowest power it can draw when on, mW.
        min_mw: i64,
        /// Highest power it can draw, mW.
        max_mw: i64,
    },
    /// Any power between `min_mw` and `max_mw` in every slot of the window, or nothing when
    /// shed (S2 PEBC: heat pump, EV charge current, a PoE class, a sensor's duty cycle).
    PowerEnvelope {
        /// Lowest useful power when on, mW.
        min_mw: i64,
        /// Power wanted, mW.
        max_mw: i64,
    },
    /// Load nobody controls, measured and forecast, one value per slot from the window's
    /// start; its P90 is taken off the budget (S2 power forecast).
    PowerForecast {
        /// Forecast power per slot.
        profile: Vec<PowerValue>,
    },
}

impl Demand {
    /// The kind's name as it appears in JSON and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Demand::PowerProfile { .. } => "power_profile",
            Demand::EnergyTarget { .. } => "energy_target",
            Demand::PowerEnvelope { .. } => "power_envelope",
            Demand::PowerForecast { .. } => "power_forecast",
        }
    }

    /// Fewest slots the demand needs at full power on a grid of `slot_ms` milliseconds (the
    /// whole window for an envelope).
    pub fn min_duration(&self, window: u32, slot_ms: u64) -> u32 {
        match self {
            Demand::PowerProfile { profile, .. } | Demand::PowerForecast { profile } => {
                u32::try_from(profile.len()).unwrap_or(u32::MAX)
            }
            Demand::EnergyTarget {
                energy_mwh, max_mw, ..
            } => slots_for_energy(*energy_mwh, *max_mw, slot_ms),
            Demand::PowerEnvelope { .. } => window,
        }
    }

    /// The largest power the demand can ask for in any slot (its P90 for profiles).
    pub fn peak_mw(&self) -> i64 {
        match self {
            Demand::PowerProfile { profile, .. } | Demand::PowerForecast { profile } => {
                profile.iter().map(|v| v.p90_mw).max().unwrap_or(0)
            }
            Demand::EnergyTarget { max_mw, .. } | Demand::PowerEnvelope { max_mw, .. } => *max_mw,
        }
    }

    /// Checks every value against the protocol's limits and the window
    /// `[earliest_start, deadline)`; the error names the field and the slot.
    pub fn validate(
        &self,
        earliest_start: u32,
        deadline: u32,
        slot_ms: u64,
    ) -> Result<(), InvalidDemand> {
        if deadline <= earliest_start {
            return Err(InvalidDemand::DeadlineBeforeStart {
                earliest_start,
                deadline,
            });
        }
        let window = deadline - earliest_start;
        if window > limits::MAX_WINDOW_SLOTS {
            return Err(InvalidDemand::WindowTooLong {
                slots: window,
                max: limits::MAX_WINDOW_SLOTS,
            });
        }
        let check_power = |mw: i64, what: PowerField, slot: u32| {
            if mw < 0 {
                Err(InvalidDemand::NegativePower { what, slot })
            } else if mw > limits::MAX_POWER_MW {
                Err(InvalidDemand::TooMuchPower { what, slot })
            } else {
                Ok(())
            }
        };
        let check_profile = |profile: &[PowerValue]| -> Result<(), InvalidDemand> {
            if profile.is_empty() {
                return Err(InvalidDemand::EmptyProfile);
            }
            if profile.len() > limits::MAX_PROFILE_SLOTS {
                return Err(InvalidDemand::ProfileTooLong {
                    slots: profile.len(),
                    max: limits::MAX_PROFILE_SLOTS,
                });
            }
            for (k, v) in profile.iter().enumerate() {
                let slot = k as u32;
                check_power(v.p50_mw, PowerField::P50, slot)?;
                check_power(v.p90_mw, PowerField::P90, slot)?;
                if v.p90_mw < v.p50_mw {
                    return Err(InvalidDemand::BandInverted { slot });
                }
            }
            Ok(())
        };
        match self {
            Demand::PowerProfile {
                profile,
                min_on_slots,
                min_off_slots,
                ..
            } => {
                check_profile(profile)?;
                if *min_on_slots > window || *min_off_slots > window {
                    return Err(InvalidDemand::MinOnOffTooLong { window });
                }
                let needed = profile.len() as u32;
                if needed > window {
                    return Err(InvalidDemand::WindowTooShort { needed, window });
                }
            }
            Demand::PowerForecast { profile } => check_profile(profile)?,
            Demand::EnergyTarget {
                energy_mwh,
                min_mw,
                max_mw,
            } => {
                check_power(*min_mw, PowerField::Min, 0)?;
                check_power(*max_mw, PowerField::Max, 0)?;
                if *max_mw == 0 || min_mw > max_mw {
                    return Err(InvalidDemand::BadRange {
                        min_mw: *min_mw,
                        max_mw: *max_mw,
                    });
                }
                if *energy_mwh <= 0 || *energy_mwh > limits::MAX_ENERGY_MWH {
                    return Err(InvalidDemand::BadEnergy {
                        energy_mwh: *energy_mwh,
                    });
                }
                let needed = slots_for_energy(*energy_mwh, *max_mw, slot_ms);
                if needed > window {
                    return Err(InvalidDemand::WindowTooShort { needed, window });
                }
            }
            Demand::PowerEnvelope { min_mw, max_mw } => {
                check_power(*min_mw, PowerField::Min, 0)?;
                check_power(*max_mw, PowerField::Max, 0)?;
                if *max_mw == 0 || min_mw > max_mw {
                    return Err(InvalidDemand::BadRange {
                        min_mw: *min_mw,
                        max_mw: *max_mw,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Slots needed to deliver `energy_mwh` at `power_mw` on a grid of `slot_ms` (rounded up;
/// `u32::MAX` for no power).
pub fn slots_for_energy(energy_mwh: i64, power_mw: i64, slot_ms: u64) -> u32 {
    if power_mw <= 0 || energy_mwh <= 0 {
        return if energy_mwh <= 0 { 0 } else { u32::MAX };
    }
    // energy per slot in µWh·… kept exact in i128: mW · ms / 3.6e6 = mWh.
    let per_slot = i128::from(power_mw) * i128::from(slot_ms.max(1));
    let need = i128::from(energy_mwh) * 3_600_000;
    let slots = (need + per_slot - 1) / per_slot;
    u32::try_from(slots).unwrap_or(u32::MAX)
}

/// Which power figure of a demand a problem is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerField {
    /// The median of a profile slot.
    P50,
    /// The 90th percentile of a profile slot.
    P90,
    /// A range's minimum.
    Min,
    /// A range's maximum.
    Max,
}

impl fmt::Display for PowerField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PowerField::P50 => "P50",
            PowerField::P90 => "P90",
            PowerField::Min => "minimum",
            PowerField::Max => "maximum",
        })
    }
}

/// What is wrong with a demand; each names the field and, for profiles, the slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum InvalidDemand {
    /// The deadline is not after the earliest start.
    #[error(
        "the deadline (slot {deadline}) is not after the earliest start (slot {earliest_start})"
    )]
    DeadlineBeforeStart {
        /// Earliest start given.
        earliest_start: u32,
        /// Deadline given.
        deadline: u32,
    },
    /// The window is longer than the protocol allows.
    #[error("the window of {slots} slots is longer than the maximum of {max}")]
    WindowTooLong {
        /// Window length.
        slots: u32,
        /// The maximum.
        max: u32,
    },
    /// The demand cannot fit its own window.
    #[error("the demand needs {needed} slots but its window has only {window}")]
    WindowTooShort {
        /// Slots needed at full power.
        needed: u32,
        /// Slots in the window.
        window: u32,
    },
    /// A power below zero.
    #[error("negative {what} power at slot {slot} of the profile")]
    NegativePower {
        /// Which figure.
        what: PowerField,
        /// Slot of the profile (0 for scalars).
        slot: u32,
    },
    /// A power above the protocol's maximum.
    #[error("{what} power at slot {slot} is above the maximum of 1 GW")]
    TooMuchPower {
        /// Which figure.
        what: PowerField,
        /// Slot of the profile (0 for scalars).
        slot: u32,
    },
    /// NaN or an infinity in a forecast.
    #[error("the {what} forecast is not a finite number")]
    NotFinite {
        /// Which figure.
        what: PowerField,
    },
    /// P90 below P50.
    #[error("the P90 is below the P50 at slot {slot}")]
    BandInverted {
        /// Slot of the profile.
        slot: u32,
    },
    /// A profile with no slots.
    #[error("the power profile is empty")]
    EmptyProfile,
    /// A profile longer than the protocol allows.
    #[error("the power profile has {slots} slots, more than the maximum of {max}")]
    ProfileTooLong {
        /// Profile length.
        slots: usize,
        /// The maximum.
        max: usize,
    },
    /// Minimum on or off time longer than the window.
    #[error("minimum on/off time is longer than the window of {window} slots")]
    MinOnOffTooLong {
        /// Window length.
        window: u32,
    },
    /// Minimum above maximum, or no maximum.
    #[error("power range {min_mw}..{max_mw} mW is empty")]
    BadRange {
        /// Minimum given.
        min_mw: i64,
        /// Maximum given.
        max_mw: i64,
    },
    /// Energy target not positive or above the maximum.
    #[error("energy target {energy_mwh} mWh is not between 1 mWh and 10 GWh")]
    BadEnergy {
        /// Energy given.
        energy_mwh: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn ids_are_checked() {
        assert!(DeviceId::new("washer-3").is_ok());
        assert_eq!(DeviceId::new(""), Err(InvalidId::Length(0)));
        assert_eq!(DeviceId::new("a/b"), Err(InvalidId::Character('/')));
        assert!(DeviceId::new("x".repeat(65)).is_err());
    }

    #[test]
    fn forecasts_round_up_and_refuse_nonsense() {
        assert_eq!(
            PowerValue::from_forecast(1.0001, 2.0).unwrap(),
            PowerValue {
                p50_mw: 1001,
                p90_mw: 2000
            }
        );
        assert!(matches!(
            PowerValue::from_forecast(f64::NAN, 1.0),
            Err(InvalidDemand::NotFinite { .. })
        ));
        assert!(matches!(
            PowerValue::from_forecast(-1.0, 1.0),
            Err(InvalidDemand::NegativePower { .. })
        ));
        assert!(matches!(
            PowerValue::from_forecast(2.0, 1.0),
            Err(InvalidDemand::BandInverted { .. })
        ));
        assert!(matches!(
            PowerValue::from_forecast(1e300, 1e300),
            Err(InvalidDemand::TooMuchPower { .. })
        ));
    }

    #[test]
    fn demands_are_validated_against_their_window() {
        let job = Demand::PowerProfile {
            profile: vec![PowerValue::exact(1000); 3],
            interruptible: false,
            min_on_slots: 0,
            min_off_slots: 0,
        };
        assert!(job.validate(10, 13, 60_000).is_ok());
        assert_eq!(
            job.validate(10, 12, 60_000),
            Err(InvalidDemand::WindowTooShort {
                needed: 3,
                window: 2
            })
        );
        assert!(matches!(
            job.validate(10, 5, 60_000),
            Err(InvalidDemand::DeadlineBeforeStart { .. })
        ));
        let neg = Demand::PowerEnvelope {
            min_mw: -1,
            max_mw: 5,
        };
        assert!(matches!(
            neg.validate(0, 4, 60_000),
            Err(InvalidDemand::NegativePower { .. })
        ));
        // 7.4 kW for 2 h is 14.8 kWh: four 30-minute slots.
        let ev = Demand::EnergyTarget {
            energy_mwh: 14_800_000,
            min_mw: 1_400_000,
            max_mw: 7_400_000,
        };
        assert_eq!(ev.min_duration(48, 1_800_000), 4);
        assert!(ev.validate(0, 4, 1_800_000).is_ok());
        assert!(ev.validate(0, 3, 1_800_000).is_err());
    }
}
