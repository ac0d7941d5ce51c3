//! powerslot-forecast: the Predictive Analytics Module. Each device predicts its own demand for
//! the next slots (1–5 minutes, or a day ahead) with P10/P50/P90, learns online, and can improve
//! its model by privacy-preserving federated averaging with other devices.
//!
//! How the pieces fit:
//! - [`series`] reads a CSV into a regular [`series::TimeSeries`] (gaps, daylight-saving
//!   duplicates and irregular sampling each follow a stated policy) with optional exogenous
//!   features (CPU %, network, sensors) on the same grid.
//! - [`model::ModelSpec`] names a model — persistence, seasonal naive, EWMA, ETS and MSTL
//!   (through `augurs`, with an online state update), direct ridge regression on features,
//!   direct median (LAD) regression for spiky load, median-loss boosted trees ([`boost`]) that
//!   learn when a switched-on appliance switches off, a small LSTM (`burn`), or `auto` —
//!   and [`model::FittedModel::fit`] turns it into a fitted model that takes one sample per slot
//!   ([`model::FittedModel::update`]) and predicts a [`quantiles::QuantileForecast`]. Intervals
//!   come from each model's own recent errors, so every model gets calibrated P10/P90 alike.
//! - [`backtest`] scores models by rolling origin (MAE, RMSE, MASE, coverage, pinball, timings);
//!   `auto` weighs its candidates at each origin using only errors already known there
//!   ([`ensemble`]: greedy ensemble selection on the candidates' aligned recent errors).
//! - [`federated`] trains the LSTM across devices with FedAvg, secure aggregation (pairwise
//!   masks, dropout recovery) and optional differential privacy.
//!
//! ```
//! use powerslot_forecast::model::{FitOptions, FittedModel, ModelSpec};
//! use powerslot_forecast::series::TimeSeries;
//!
//! // Three days of a device that draws 2 kW from 08:00 to 18:00 and 0.5 kW otherwise.
//! let values: Vec<f64> = (0..72).map(|h| if (8..18).contains(&(h % 24)) { 2.0 } else { 0.5 }).collect();
//! let series = TimeSeries::from_values("heater", 0, 3600, values).unwrap();
//! let mut model = FittedModel::fit(&ModelSpec::SeasonalNaive, &series, &FitOptions::new(3, 24)).unwrap();
//! model.update(0.5, &[]); // 00:00 of day four arrives
//! let f = model.predict(3);
//! assert_eq!(f.p50, vec![0.5, 0.5, 0.5]);
//! assert!(f.p10[0] <= f.p50[0] && f.p50[0] <= f.p90[0]);
//! ```

pub mod backtest;
mod baseline;
pub mod boost;
pub mod ensemble;
pub mod error;
pub mod federated;
pub mod lstm;
pub mod model;
pub mod profile;
pub mod quantiles;
pub mod quantreg;
pub mod ridge;
pub mod series;
mod stats;

pub use error::{ForecastError, Result};
