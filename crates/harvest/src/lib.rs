//! Energy-harvesting nodes: a battery fed by a solar panel, a load that can be modulated, and
//! the schedulers that keep the node energy-neutral while doing as much useful work as possible.
//!
//! - [`Battery`] is the energy buffer (ideal or with efficiency η, leakage, `B_min`, `B_max`);
//!   [`Adc`] turns a voltage reading into a battery level and says how many levels there are.
//! - [`DutyCycleModel`] makes utility and power linear in the duty cycle and turns duty cycles
//!   into [`Task`]s.
//! - [`predict`] holds the per-slot predictors of harvested energy and their scoring: the
//!   published ones (persistence, Kansal's EWMA, WCMA) and the default, a
//!   [`predict::SolarForecaster`] that holds in any unit, at any site and on a clock that shifts
//!   for daylight saving (shrunk, bounded clear-sky and WCMA ratios; clock shifts found from
//!   sunrise and sunset; the candidate chosen by rolling-origin errors on the past only). Other
//!   crates plan on it through [`predict::default_for`]: a forecaster that has seen a past
//!   [`predict::SlotSeries`], then `update(value)` per slot and `forecast(horizon)`.
//! - [`KansalPlanner`] is Kansal's duty-cycle algorithm; [`TaskScheduler`] (over [`DpScheduler`])
//!   is the exact dynamic programme over quantised battery levels; [`neutrality::check`] tests
//!   Kansal's sufficient conditions on a trace.
//! - With the `std` feature (default), [`trace`] reads CSV traces onto a slot grid and [`sim`]
//!   runs a node over a whole trace. Without it the crate is `no_std` + `alloc`.
//!
//! ```
//! use powerslot_harvest::{Battery, DutyCycleModel, GainRounding, TaskScheduler};
//!
//! // A 1 Wh battery usable from 0.2 Wh, η = 0.9; load 10..100 mW over 1-hour slots (energy in Wh).
//! let battery = Battery::new(0.2, 1.0, 0.9, 0.0).unwrap();
//! let load = DutyCycleModel::new(0.1, 1.0, 1.0, 10.0, 0.010, 0.100).unwrap();
//! let tasks = load.tasks(4, 1.0).unwrap();
//! let mut dp = TaskScheduler::new(battery, 256, tasks, GainRounding::Conservative).unwrap();
//! // 24 hourly slots: sun from 8 to 16.
//! let sun: Vec<f64> = (0..24).map(|h| if (8..16).contains(&h) { 0.25 } else { 0.0 }).collect();
//! let plan = dp.plan(&sun, 0.5, 0.5).unwrap();
//! assert_eq!(plan.assignment.len(), 24);
//! assert!(*plan.levels.last().unwrap() >= 0.5 - 1e-9); // energy-neutral over the day
//! assert!(plan.levels.iter().all(|&b| b >= 0.2)); // never below B_min
//! ```
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

mod adc;
mod battery;
mod dp;
mod error;
mod kansal;
mod linear;
pub mod neutrality;
mod num;
pub mod predict;
#[cfg(feature = "std")]
pub mod sim;
#[cfg(feature = "std")]
pub mod trace;

pub use adc::Adc;
pub use battery::{Battery, Step, Topology, estimate_production};
pub use dp::{
    DpInput, DpPlan, DpScheduler, GainRounding, MAX_TASKS, Quantizer, TaskPlan, TaskScheduler,
};
pub use error::{HarvestError, Result};
pub use kansal::{KansalCase, KansalPlan, KansalPlanner};
pub use linear::{DutyCycleModel, Task};
