//! Every number of the paper's study in one place.
//!
//! The paper (seed 001, section II.C) fixes the device model — power uniform in
//! 1–10 kW, durations by its Table 1 — but leaves the levels of the two curves
//! open ("some liberty was taken in setting the mean power levels and
//! amplitudes ... to allow the allocation to finish over a reasonable time
//! frame"). The levels chosen here are the defaults of [`PaperCurves`]:
//!
//! | curve | shape | level (default) |
//! | --- | --- | --- |
//! | maximum allowable power | battery level all day, plus a solar half-sine between sunrise and sunset | battery 120 kW; solar peak +120 kW at 12:00 (sunrise 06:00, sunset 18:00), so 120–240 kW |
//! | baseline (non-smart load) | sine centred (peaking) at 10:30 | mean 30 kW, amplitude 15 kW, so 15–45 kW |
//! | strict baseline | the baseline raised, and flat from its 10:30 peak through afternoon and evening until midnight | raised until the smallest gap to the maximum is 6 kW (evening) |
//!
//! With 200 devices of mean power 5.5 kW and mean duration 2.85 h (≈ 3,100 kWh)
//! and a mean capacity of ≈ 128 kW (≈ 3,070 kWh a day), the standard scenario
//! takes a little more than a day, as the paper's allocation times suggest. The
//! strict baseline is raised by 69 kW (to 85–114 kW): it leaves 6 kW from
//! 18:00 to midnight and 15–35 kW before sunrise — the order of one large
//! device — while its 100 devices need ≈ 300 kWh, so most of the work is
//! squeezed into the first night and the allocation ends late in the morning
//! (≈ 11.5 h, against ≈ 25 h for the other two scenarios).
//!
//! Both curves repeat daily; slot 0 starts at midnight; slots last one minute by
//! default ([`ScenarioParams::slot_minutes`]).

use serde::{Deserialize, Serialize};

/// Levels and shapes of the maximum allowable power curve and the baseline.
/// Power in kW, times of day in hours after midnight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaperCurves {
    /// Nominal battery level: the maximum at night.
    pub battery_kw: f64,
    /// Solar contribution at noon, added to the battery level.
    pub solar_peak_kw: f64,
    /// Hour the solar contribution starts.
    pub sunrise_h: f64,
    /// Hour the solar contribution ends.
    pub sunset_h: f64,
    /// Mean of the baseline sine.
    pub baseline_mean_kw: f64,
    /// Amplitude of the baseline sine.
    pub baseline_amplitude_kw: f64,
    /// Hour at which the baseline sine peaks ("centred at 10:30").
    pub baseline_peak_h: f64,
    /// Strict scenario: hour from which the baseline stays flat until midnight.
    pub strict_flat_from_h: f64,
    /// Strict scenario: the smallest gap left between maximum and baseline.
    pub strict_headroom_kw: f64,
}

impl Default for PaperCurves {
    fn default() -> Self {
        Self {
            battery_kw: 120.0,
            solar_peak_kw: 120.0,
            sunrise_h: 6.0,
            sunset_h: 18.0,
            baseline_mean_kw: 30.0,
            baseline_amplitude_kw: 15.0,
            baseline_peak_h: 10.5,
            strict_flat_from_h: 10.5,
            strict_headroom_kw: 6.0,
        }
    }
}

/// One row of the paper's Table 1: durations uniform in `[from_h, to_h)` hours
/// with probability `probability`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DurationBin {
    /// Shortest duration of the bin, hours.
    pub from_h: f64,
    /// Longest duration of the bin (exclusive), hours.
    pub to_h: f64,
    /// Probability of the bin.
    pub probability: f64,
}

/// The device model (paper section II.C).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceParams {
    /// Smallest device power, kW.
    pub power_min_kw: f64,
    /// Largest device power, kW.
    pub power_max_kw: f64,
    /// The paper's Table 1.
    pub durations: Vec<DurationBin>,
}

impl Default for DeviceParams {
    fn default() -> Self {
        let bin = |from_h: f64, probability| DurationBin {
            from_h,
            to_h: from_h + 1.0,
            probability,
        };
        Self {
            power_min_kw: 1.0,
            power_max_kw: 10.0,
            durations: vec![
                bin(1.0, 0.35),
                bin(2.0, 0.25),
                bin(3.0, 0.2),
                bin(4.0, 0.1),
                bin(5.0, 0.1),
            ],
        }
    }
}

/// Everything a scenario generator reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioParams {
    /// The two curves.
    pub curves: PaperCurves,
    /// The device model.
    pub devices: DeviceParams,
    /// Slot length in minutes; must divide a day (1440).
    pub slot_minutes: u32,
    /// Devices of the standard scenario.
    pub standard_devices: usize,
    /// Devices of the scenario with precedence (in two-element chains).
    pub precedence_devices: usize,
    /// Devices of the strict scenario (also in two-element chains).
    pub strict_devices: usize,
    /// Share of the strict scenario's devices whose power is divided.
    pub strict_reduced_share: f64,
    /// Divisor of the reduced devices' power.
    pub strict_power_divisor: i64,
}

impl Default for ScenarioParams {
    fn default() -> Self {
        Self {
            curves: PaperCurves::default(),
            devices: DeviceParams::default(),
            slot_minutes: 1,
            standard_devices: 200,
            precedence_devices: 200,
            strict_devices: 100,
            strict_reduced_share: 0.9,
            strict_power_divisor: 10,
        }
    }
}
