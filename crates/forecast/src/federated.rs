//! Federated averaging of the per-device LSTM, with secure aggregation and optional
//! differential privacy, and the cold-start study that shows what it buys.
//!
//! [`run`] takes one series per device (devices must share the feature columns, so their
//! networks share a shape), holds out the last part of each for testing, and trains three ways:
//! - **local**: every device alone on its own history;
//! - **federated**: FedAvg rounds — each device trains the current global weights for a few
//!   local epochs and sends its update masked ([`secure`]); the aggregator only sees the sum and
//!   averages weighted by training windows (with [`privacy`] on, clipped changes plus noise);
//! - **federated + fine-tuned**: each device then trains the federated weights a little more on
//!   its own data (personalisation; nothing leaves the device);
//! - **central**: one network on everybody's windows pooled (what a data centre would do).
//!
//! One device (`cold_device`) only keeps its most recent `cold_history` slots, as if it had just
//! joined: that is where the federated model should beat training alone. Errors are MAE in the
//! series' units on every test window and step; persistence is the reference.
//!
//! One cold device is an anecdote, so [`sweep`] repeats the study with each device in turn as
//! the cold one and counts where federating beats training alone. Every report also carries
//! what a figure needs: the global model's test MAE after each round (a learning curve, for
//! reporting only — no round or model is chosen by it) and the cold device's held-out forecasts
//! under each way of training ([`ForecastTrace`]).

pub mod privacy;
pub mod secure;

use std::fmt;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::{ForecastError, Result};
use crate::lstm::{Encoder, LstmConfig, LstmWeights, Windows};
use crate::series::TimeSeries;

pub use privacy::DpConfig;

/// Settings of a federated study.
#[derive(Debug, Clone)]
pub struct FederatedOptions {
    /// Steps ahead each network predicts.
    pub horizon: usize,
    /// Network shape and optimiser (`epochs` is not used: see `rounds` and `local_epochs`).
    pub lstm: LstmConfig,
    /// Federated rounds; local and central training get `rounds × local_epochs` epochs too.
    pub rounds: usize,
    /// Epochs each device trains per round.
    pub local_epochs: usize,
    /// Epochs each device fine-tunes the final federated weights on its own data (0: none).
    pub finetune_epochs: usize,
    /// Index of the device that has only recent history.
    pub cold_device: usize,
    /// Slots of history the cold device keeps (0: two days, or 48 slots without a daily clock).
    pub cold_history: usize,
    /// Share of each series held out for testing (at the end).
    pub test_fraction: f64,
    /// Differential privacy (clipping and noise) or none.
    pub dp: Option<DpConfig>,
    /// Probability that a device drops out of a round after the masks were set up.
    pub dropout: f64,
    /// Seed of initialisation, batch order, dropouts, masks and noise.
    pub seed: u64,
}

impl Default for FederatedOptions {
    fn default() -> Self {
        Self {
            horizon: 6,
            lstm: LstmConfig {
                max_windows: 1000,
                ..LstmConfig::default()
            },
            rounds: 8,
            local_epochs: 1,
            finetune_epochs: 2,
            cold_device: 0,
            cold_history: 0,
            test_fraction: 0.2,
            dp: None,
            dropout: 0.0,
            seed: 42,
        }
    }
}

/// Test errors of one device under each way of training.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceScore {
    /// Series name.
    pub name: String,
    /// Slots the device trained on.
    pub train_slots: usize,
    /// Test windows scored (each `horizon` steps).
    pub test_windows: usize,
    /// MAE of repeating the last value.
    pub persistence_mae: f64,
    /// MAE of the device's own network.
    pub local_mae: f64,
    /// MAE of the federated network.
    pub federated_mae: f64,
    /// MAE of the federated network after the device fine-tuned it on its own data.
    pub finetuned_mae: f64,
    /// MAE of the network trained on all devices' data pooled.
    pub central_mae: f64,
}

/// What happened in one federated round.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoundReport {
    /// Round number, from 1.
    pub round: usize,
    /// Devices that set up masks.
    pub participants: usize,
    /// Devices that dropped out before sending.
    pub dropped: Vec<String>,
    /// Pairwise masks the aggregator removed with the survivors' help.
    pub recovered_masks: usize,
    /// Largest difference between the securely aggregated sum and the plain sum (fixed-point
    /// rounding only; a broken protocol shows values of order 1e18).
    pub max_sum_error: f64,
    /// Mean L2 norm of the devices' weight changes this round (before any clipping).
    pub mean_update_norm: f64,
    /// Test MAE of the global weights after this round on each device, in device order
    /// (series units; measured for the learning curve only, never used to steer training).
    pub test_mae: Vec<f64>,
}

/// Held-out forecasts of one device under each way of training, in series units (for plots).
///
/// Forecast `j` is issued right after `actual[j]` is observed and covers
/// `actual[j + 1..=j + horizon]`; `actual[0]` is the last training slot.
#[derive(Debug, Clone, Default)]
pub struct ForecastTrace {
    /// Series name.
    pub name: String,
    /// Timestamp (seconds) of `actual[0]`.
    pub start: i64,
    /// Slot length in seconds.
    pub step_seconds: i64,
    /// The last training slot followed by the whole test part.
    pub actual: Vec<f64>,
    /// Per way of training (`local`, `federated`, `fed+tuned`, `central`), one path of
    /// `horizon` values per test window.
    pub forecasts: Vec<(String, Vec<Vec<f64>>)>,
}

/// Result of [`run`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct FederatedReport {
    /// Steps ahead.
    pub horizon: usize,
    /// Name of the cold-start device.
    pub cold_device: String,
    /// Slots of history the cold-start device had.
    pub cold_history: usize,
    /// Per-device test errors.
    pub devices: Vec<DeviceScore>,
    /// Per-round protocol facts.
    pub rounds: Vec<RoundReport>,
    /// The privacy settings, when on.
    pub dp: Option<DpConfig>,
    /// ε spent over all rounds for `dp.delta`, when privacy is on.
    pub epsilon: Option<f64>,
    /// Seconds spent training every local network.
    pub local_seconds: f64,
    /// Seconds spent in federated rounds (training, masking, aggregation) and fine-tuning.
    pub federated_seconds: f64,
    /// Seconds spent training the central network.
    pub central_seconds: f64,
    /// The cold device's held-out forecasts (not serialised: thousands of numbers).
    #[serde(skip)]
    pub cold_trace: ForecastTrace,
}

impl FederatedReport {
    /// The cold-start device's scores.
    pub fn cold(&self) -> Option<&DeviceScore> {
        self.devices.iter().find(|d| d.name == self.cold_device)
    }
}

impl fmt::Display for FederatedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "test MAE, {} steps ahead (series units; * = cold start with {} slots)",
            self.horizon, self.cold_history
        )?;
        writeln!(
            f,
            "{:>2} {:<34} {:>7} {:>12} {:>12} {:>12} {:>12} {:>12}",
            "#", "device", "train", "persistence", "local", "federated", "fed+tuned", "central"
        )?;
        for (i, d) in self.devices.iter().enumerate() {
            let mark = if d.name == self.cold_device { "*" } else { " " };
            writeln!(
                f,
                "{i:>2} {:<33}{mark} {:>7} {:>12.4} {:>12.4} {:>12.4} {:>12.4} {:>12.4}",
                d.name,
                d.train_slots,
                d.persistence_mae,
                d.local_mae,
                d.federated_mae,
                d.finetuned_mae,
                d.central_mae
            )?;
        }
        let mean = |g: fn(&DeviceScore) -> f64| {
            self.devices
                .iter()
                .map(|d| g(d) / d.persistence_mae.max(1e-12))
                .sum::<f64>()
                / self.devices.len().max(1) as f64
        };
        writeln!(
            f,
            "mean MAE / persistence MAE: local {:.3}, federated {:.3}, fed+tuned {:.3}, central {:.3}",
            mean(|d| d.local_mae),
            mean(|d| d.federated_mae),
            mean(|d| d.finetuned_mae),
            mean(|d| d.central_mae)
        )?;
        let dropped: usize = self.rounds.iter().map(|r| r.dropped.len()).sum();
        let recovered: usize = self.rounds.iter().map(|r| r.recovered_masks).sum();
        let worst = self
            .rounds
            .iter()
            .map(|r| r.max_sum_error)
            .fold(0.0, f64::max);
        writeln!(
            f,
            "secure aggregation: {} rounds, {dropped} dropouts, {recovered} masks recovered, \
             largest masked-vs-plain sum difference {worst:.2e}",
            self.rounds.len()
        )?;
        match (self.dp, self.epsilon) {
            (Some(dp), Some(eps)) => writeln!(
                f,
                "differential privacy: clip {}, noise multiplier {}, ε = {eps:.2} at δ = {:e} (device level, all rounds)",
                dp.clip, dp.noise_multiplier, dp.delta
            )?,
            _ => writeln!(f, "differential privacy: off")?,
        }
        write!(
            f,
            "training time: local {:.1} s, federated {:.1} s, central {:.1} s",
            self.local_seconds, self.federated_seconds, self.central_seconds
        )
    }
}

/// One device's data, split and encoded with its own statistics.
struct DeviceData {
    name: String,
    train_slots: usize,
    train: Windows,
    test: Windows,
    sd: f64,
    /// Timestamp of `test_actual[0]` and the slot length.
    test_start: i64,
    step_seconds: i64,
    /// The last training slot and the test part, raw: the bases the predicted changes are
    /// added to when forecasts are turned back into series units.
    test_actual: Vec<f64>,
}

fn check(devices: &[TimeSeries], o: &FederatedOptions) -> Result<()> {
    let bad = |name: &str, message: String| {
        Err(ForecastError::InvalidParameter {
            name: name.into(),
            message,
        })
    };
    if devices.len() < 2 {
        return bad(
            "devices",
            format!(
                "federated averaging needs at least 2 devices, got {}",
                devices.len()
            ),
        );
    }
    if o.cold_device >= devices.len() {
        return bad(
            "cold_device",
            format!("index {} but only {} devices", o.cold_device, devices.len()),
        );
    }
    if o.horizon == 0 || o.rounds == 0 || o.local_epochs == 0 {
        return bad(
            "rounds",
            "horizon, rounds and local epochs must be at least 1".into(),
        );
    }
    if !(o.test_fraction > 0.0 && o.test_fraction < 1.0) {
        return bad(
            "test_fraction",
            format!("must be in (0, 1), got {}", o.test_fraction),
        );
    }
    if !(0.0..1.0).contains(&o.dropout) {
        return bad("dropout", format!("must be in [0, 1), got {}", o.dropout));
    }
    if let Some(dp) = &o.dp {
        dp.check()?;
    }
    // One grid for all: a 60 s series and a 900 s one would mix minutes and quarter hours.
    let step = devices[0].step_seconds;
    if let Some(d) = devices.iter().find(|d| d.step_seconds != step) {
        return bad(
            "devices",
            format!(
                "`{}` has slots of {} s and `{}` of {step} s: federated devices must share one \
                 slot length (resample them, or give --step)",
                d.name, d.step_seconds, devices[0].name
            ),
        );
    }
    if o.cold_history > 0 {
        let cold = &devices[o.cold_device];
        let train = cold.len() - (cold.len() as f64 * o.test_fraction) as usize;
        if o.cold_history > train {
            return bad(
                "cold-history",
                format!(
                    "{} slots, but the cold device `{}` has only {train} slots before its test part \
                     (give 1 to {train}, or 0 for two days)",
                    o.cold_history, cold.name
                ),
            );
        }
    }
    let features = devices[0].features.len();
    if let Some(d) = devices.iter().find(|d| d.features.len() != features) {
        return Err(ForecastError::Federated {
            round: 0,
            message: format!(
                "`{}` has {} feature columns and `{}` has {features}: networks must share a shape",
                d.name,
                d.features.len(),
                devices[0].name
            ),
        });
    }
    Ok(())
}

fn prepare(series: &TimeSeries, cold: Option<usize>, o: &FederatedOptions) -> Result<DeviceData> {
    let n = series.len();
    let window = o.lstm.window;
    let test_len = ((n as f64) * o.test_fraction) as usize;
    let split = n - test_len;
    let from = cold.map_or(0, |keep| split.saturating_sub(keep));
    let need = window + o.horizon + 1;
    if split - from < need || test_len < o.horizon + 1 {
        return Err(ForecastError::TooShort {
            what: series.name.clone(),
            have: if split - from < need {
                split - from
            } else {
                test_len
            },
            need: if split - from < need {
                need
            } else {
                o.horizon + 1
            },
            why: format!(
                "training needs one window of {window} slots plus the horizon {}, testing needs \
                 more than the horizon ({} of the series is held out)",
                o.horizon, o.test_fraction
            ),
        });
    }
    let train = series.slice(from, split);
    let encoder = Encoder::of(&train);
    let test_stretch = series.slice(split - window, n);
    Ok(DeviceData {
        name: series.name.clone(),
        train_slots: split - from,
        train: Windows::build(&train, &encoder, window, o.horizon, o.lstm.max_windows),
        test: Windows::build(&test_stretch, &encoder, window, o.horizon, usize::MAX),
        sd: encoder.value.sd,
        test_start: series.time_of(split - 1),
        step_seconds: series.step_seconds,
        test_actual: series.values[split - 1..].to_vec(),
    })
}

/// The test forecasts of `weights` in series units, one `horizon` path per test window.
fn forecast_paths(weights: &LstmWeights, d: &DeviceData) -> Vec<Vec<f64>> {
    let h = weights.horizon.max(1);
    weights
        .predict(&d.test)
        .chunks(h)
        .zip(&d.test_actual)
        .map(|(changes, &base)| {
            changes
                .iter()
                .map(|&c| base + d.sd * f64::from(c))
                .collect()
        })
        .collect()
}

/// MAE in series units: predictions and targets are changes in standard deviations.
fn mae(weights: &LstmWeights, d: &DeviceData) -> f64 {
    let predicted = weights.predict(&d.test);
    let n = predicted.len().max(1) as f64;
    d.sd * predicted
        .iter()
        .zip(&d.test.targets)
        .map(|(p, t)| f64::from((p - t).abs()))
        .sum::<f64>()
        / n
}

fn persistence_mae(d: &DeviceData) -> f64 {
    let n = d.test.targets.len().max(1) as f64;
    d.sd * d
        .test
        .targets
        .iter()
        .map(|t| f64::from(t.abs()))
        .sum::<f64>()
        / n
}

/// Runs the local, federated and central trainings and scores every device on its test part.
pub fn run(devices: &[TimeSeries], options: &FederatedOptions) -> Result<FederatedReport> {
    check(devices, options)?;
    let cold_history = if options.cold_history > 0 {
        options.cold_history
    } else {
        2 * devices[options.cold_device].slots_per_day().unwrap_or(24)
    };
    let data = devices
        .iter()
        .enumerate()
        .map(|(i, s)| {
            prepare(
                s,
                (i == options.cold_device).then_some(cold_history),
                options,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let inputs = 1 + devices[0].features.len() + 2;
    let cfg = &options.lstm;
    let epochs = options.rounds * options.local_epochs;
    let initial = LstmWeights::init(inputs, cfg.hidden, options.horizon, options.seed);

    let started = Instant::now();
    let local: Vec<LstmWeights> = data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            initial.train(
                &d.train,
                epochs,
                cfg.batch_size,
                cfg.learning_rate,
                options.seed + i as u64,
            )
        })
        .collect();
    let local_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let (global, rounds, rho) = federate(&data, &initial, options)?;
    let federated_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut pooled = Windows::default();
    data.iter().for_each(|d| pooled.extend(&d.train));
    let central = initial.train(
        &pooled,
        epochs,
        cfg.batch_size,
        cfg.learning_rate,
        options.seed,
    );
    let central_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let tuned: Vec<LstmWeights> = data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let seed = options.seed.wrapping_add(7_000 + i as u64);
            global.train(
                &d.train,
                options.finetune_epochs,
                cfg.batch_size,
                cfg.learning_rate,
                seed,
            )
        })
        .collect();
    let federated_seconds = federated_seconds + started.elapsed().as_secs_f64();

    let cold = &data[options.cold_device];
    let cold_trace = ForecastTrace {
        name: cold.name.clone(),
        start: cold.test_start,
        step_seconds: cold.step_seconds,
        actual: cold.test_actual.clone(),
        forecasts: [
            ("local", &local[options.cold_device]),
            ("federated", &global),
            ("fed+tuned", &tuned[options.cold_device]),
            ("central", &central),
        ]
        .into_iter()
        .map(|(mode, w)| (mode.to_string(), forecast_paths(w, cold)))
        .collect(),
    };
    let scores = data
        .iter()
        .zip(local.iter().zip(&tuned))
        .map(|(d, (own, tuned))| DeviceScore {
            name: d.name.clone(),
            train_slots: d.train_slots,
            test_windows: d.test.count,
            persistence_mae: persistence_mae(d),
            local_mae: mae(own, d),
            federated_mae: mae(&global, d),
            finetuned_mae: mae(tuned, d),
            central_mae: mae(&central, d),
        })
        .collect();
    Ok(FederatedReport {
        horizon: options.horizon,
        cold_device: devices[options.cold_device].name.clone(),
        cold_history,
        devices: scores,
        rounds,
        dp: options.dp,
        epsilon: options.dp.map(|dp| privacy::epsilon(rho, dp.delta)),
        local_seconds,
        federated_seconds,
        central_seconds,
        cold_trace,
    })
}

/// The cold-start study repeated with each device in turn as the cold one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SweepReport {
    /// Steps ahead.
    pub horizon: usize,
    /// One study per device: in `runs[i]` device `i` is the cold one.
    pub runs: Vec<FederatedReport>,
}

impl SweepReport {
    /// The cold device's scores of each run, in device order.
    pub fn cold_scores(&self) -> Vec<&DeviceScore> {
        self.runs.iter().filter_map(FederatedReport::cold).collect()
    }

    /// On how many cold devices `mode` has a lower test MAE than training alone.
    pub fn cold_wins(&self, mode: fn(&DeviceScore) -> f64) -> usize {
        self.cold_scores()
            .iter()
            .filter(|d| mode(d) < d.local_mae)
            .count()
    }

    /// Geometric mean over the cold devices of `mode`'s MAE divided by the MAE alone
    /// (a ratio per device, so devices in different units weigh alike).
    pub fn cold_ratio(&self, mode: fn(&DeviceScore) -> f64) -> f64 {
        let cold = self.cold_scores();
        let logs: f64 = cold
            .iter()
            .map(|d| (mode(d).max(1e-12) / d.local_mae.max(1e-12)).ln())
            .sum();
        (logs / cold.len().max(1) as f64).exp()
    }

    /// Over every run and every device that is not cold in it: (pairs where `mode` beats
    /// training alone, pairs). Shows what federating costs the devices with full history.
    pub fn warm_wins(&self, mode: fn(&DeviceScore) -> f64) -> (usize, usize) {
        let warm = || {
            self.runs
                .iter()
                .flat_map(|r| r.devices.iter().filter(move |d| d.name != r.cold_device))
        };
        (
            warm().filter(|d| mode(d) < d.local_mae).count(),
            warm().count(),
        )
    }
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cold = self.cold_scores();
        let n = cold.len();
        writeln!(
            f,
            "cold-start sweep: each device in turn keeps only its most recent slots (column \
             `train`), the others their full history; test MAE {} steps ahead (series units)",
            self.horizon
        )?;
        writeln!(
            f,
            "{:>2} {:<34} {:>6} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10}",
            "#",
            "cold device",
            "train",
            "persistence",
            "alone",
            "federated",
            "fed+tuned",
            "central",
            "fed/alone"
        )?;
        for (i, d) in cold.iter().enumerate() {
            writeln!(
                f,
                "{i:>2} {:<34} {:>6} {:>12.4} {:>12.4} {:>12.4} {:>12.4} {:>12.4} {:>10.3}",
                d.name,
                d.train_slots,
                d.persistence_mae,
                d.local_mae,
                d.federated_mae,
                d.finetuned_mae,
                d.central_mae,
                d.federated_mae / d.local_mae.max(1e-12)
            )?;
        }
        let fed = |d: &DeviceScore| d.federated_mae;
        let tuned = |d: &DeviceScore| d.finetuned_mae;
        let central = |d: &DeviceScore| d.central_mae;
        let persistence = |d: &DeviceScore| d.persistence_mae;
        writeln!(
            f,
            "federated beats alone on {} of {n} cold devices (fed+tuned {} of {n}, central {} of \
             {n}, persistence {} of {n})",
            self.cold_wins(fed),
            self.cold_wins(tuned),
            self.cold_wins(central),
            self.cold_wins(persistence)
        )?;
        writeln!(
            f,
            "cold devices, geometric mean of MAE / MAE alone: federated {:.3}, fed+tuned {:.3}, \
             central {:.3}, persistence {:.3}",
            self.cold_ratio(fed),
            self.cold_ratio(tuned),
            self.cold_ratio(central),
            self.cold_ratio(persistence)
        )?;
        let (fed_warm, pairs) = self.warm_wins(fed);
        let (tuned_warm, _) = self.warm_wins(tuned);
        write!(
            f,
            "devices with full history (all runs): federated beats alone on {fed_warm} of {pairs}, \
             fed+tuned on {tuned_warm} of {pairs}"
        )
    }
}

/// Runs [`run`] once per device with that device as the cold one (`options.cold_device` is
/// ignored); the runs are independent and seeded alike, so they go in parallel.
pub fn sweep(devices: &[TimeSeries], options: &FederatedOptions) -> Result<SweepReport> {
    check(
        devices,
        &FederatedOptions {
            cold_device: 0,
            ..options.clone()
        },
    )?;
    let runs = (0..devices.len())
        .into_par_iter()
        .map(|cold_device| {
            run(
                devices,
                &FederatedOptions {
                    cold_device,
                    ..options.clone()
                },
            )
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(SweepReport {
        horizon: options.horizon,
        runs,
    })
}

/// The FedAvg rounds; returns the global weights, the round reports and the zCDP ρ spent.
fn federate(
    data: &[DeviceData],
    initial: &LstmWeights,
    o: &FederatedOptions,
) -> Result<(LstmWeights, Vec<RoundReport>, f64)> {
    let cfg = &o.lstm;
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed ^ 0x5EC0_A66E);
    let mut global = initial.clone();
    let mut reports = Vec::with_capacity(o.rounds);
    let mut rho = 0.0;
    let everyone: Vec<usize> = (0..data.len()).collect();
    for round in 0..o.rounds {
        let masking = secure::MaskingRound::new(rng.next_u64(), everyone.clone());
        let mut survivors: Vec<usize> = everyone
            .iter()
            .copied()
            .filter(|_| rng.next_u64() as f64 / u64::MAX as f64 >= o.dropout)
            .collect();
        if survivors.is_empty() {
            // A round needs someone to finish; the first device stays.
            survivors.push(0);
        }
        let mut sent = Vec::with_capacity(survivors.len());
        let mut plain: Vec<f64> = vec![0.0; global.values.len() + 1];
        let mut norms = 0.0;
        for &i in &survivors {
            let seed = o.seed.wrapping_add(1000 * (round as u64 + 1) + i as u64);
            let trained = global.train(
                &data[i].train,
                o.local_epochs,
                cfg.batch_size,
                cfg.learning_rate,
                seed,
            );
            let mut change: Vec<f64> = trained
                .values
                .iter()
                .zip(&global.values)
                .map(|(a, b)| f64::from(a - b))
                .collect();
            norms += change.iter().map(|v| v * v).sum::<f64>().sqrt();
            let payload = match &o.dp {
                None => {
                    // FedAvg weighting by samples: send n·w and n, divide the sums.
                    let n = data[i].train.count as f64;
                    let mut p: Vec<f64> =
                        trained.values.iter().map(|&w| n * f64::from(w)).collect();
                    p.push(n);
                    p
                }
                Some(dp) => {
                    privacy::clip(&mut change, dp.clip);
                    // Each device adds its share so the sum carries the full noise.
                    let sd = dp.noise_multiplier * dp.clip / (everyone.len() as f64).sqrt();
                    change
                        .iter_mut()
                        .for_each(|v| *v += sd * privacy::standard_normal(&mut rng));
                    change.push(1.0);
                    change
                }
            };
            payload
                .iter()
                .zip(plain.iter_mut())
                .for_each(|(p, s)| *s += p);
            sent.push((i, masking.mask(i, &secure::encode(&payload)?)));
        }
        let aggregate =
            secure::aggregate(masking.participants(), &sent, |a, b| masking.reveal(a, b)).map_err(
                |e| match e {
                    ForecastError::Federated { message, .. } => ForecastError::Federated {
                        round: round + 1,
                        message,
                    },
                    other => other,
                },
            )?;
        let sum = secure::decode(&aggregate.sum);
        let max_sum_error = sum
            .iter()
            .zip(&plain)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let (total, count) = sum.split_at(sum.len() - 1);
        let count = count[0];
        if count <= 0.0 {
            return Err(ForecastError::Federated {
                round: round + 1,
                message: "no training windows in the sum".into(),
            });
        }
        global.values = match &o.dp {
            None => total.iter().map(|s| (s / count) as f32).collect(),
            Some(dp) => {
                let share = survivors.len() as f64 / everyone.len() as f64;
                rho += privacy::round_rho(dp.clip, dp.noise_multiplier * dp.clip * share.sqrt());
                global
                    .values
                    .iter()
                    .zip(total)
                    .map(|(w, s)| w + (s / survivors.len() as f64) as f32)
                    .collect()
            }
        };
        reports.push(RoundReport {
            round: round + 1,
            participants: everyone.len(),
            dropped: everyone
                .iter()
                .filter(|d| !survivors.contains(d))
                .map(|&d| data[d].name.clone())
                .collect(),
            recovered_masks: aggregate.recovered_masks,
            max_sum_error,
            mean_update_norm: norms / survivors.len() as f64,
            test_mae: data.iter().map(|d| mae(&global, d)).collect(),
        });
    }
    Ok((global, reports, rho))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Devices that share a daily shape at different levels, one hour per slot.
    fn fleet(n: usize, devices: usize) -> Vec<TimeSeries> {
        (0..devices)
            .map(|d| {
                let values = (0..n)
                    .map(|i| {
                        let phase = (i % 24) as f64 * std::f64::consts::TAU / 24.0;
                        let noise = ((i * 7919 + d * 104_729) % 97) as f64 / 97.0 - 0.5;
                        (1.0 + d as f64) * (2.0 + phase.sin()) + 0.2 * noise
                    })
                    .collect();
                TimeSeries::from_values(format!("device{d}"), 0, 3600, values).expect("finite")
            })
            .collect()
    }

    fn small() -> FederatedOptions {
        FederatedOptions {
            horizon: 3,
            lstm: LstmConfig {
                window: 12,
                hidden: 8,
                batch_size: 32,
                max_windows: 200,
                ..LstmConfig::default()
            },
            rounds: 4,
            local_epochs: 3,
            cold_history: 30,
            ..FederatedOptions::default()
        }
    }

    #[test]
    fn cold_start_device_gains_from_the_federation() {
        let report = run(&fleet(400, 3), &small()).expect("runs");
        let cold = report.cold().expect("cold device");
        assert_eq!(cold.train_slots, 30);
        assert!(cold.federated_mae < cold.local_mae, "{report}");
        assert!(
            report.rounds.iter().all(|r| r.max_sum_error < 1e-3),
            "{report}"
        );
    }

    #[test]
    fn dropouts_and_privacy_keep_the_round_going() {
        let options = FederatedOptions {
            dropout: 0.4,
            dp: Some(DpConfig {
                clip: 1.0,
                noise_multiplier: 1.0,
                delta: 1e-5,
            }),
            rounds: 3,
            local_epochs: 1,
            ..small()
        };
        let report = run(&fleet(300, 4), &options).expect("runs");
        let dropped: usize = report.rounds.iter().map(|r| r.dropped.len()).sum();
        assert!(dropped > 0, "seed 42 with 40 % dropout drops someone");
        assert!(report.rounds.iter().all(|r| r.max_sum_error < 1e-3));
        let eps = report.epsilon.expect("dp on");
        // Three rounds at ρ ≥ 0.5 each.
        assert!(eps > privacy::epsilon(1.5, 1e-5) - 1e-9, "{eps}");
        assert!(report.devices.iter().all(|d| d.federated_mae.is_finite()));
    }

    #[test]
    fn traces_and_learning_curve_match_the_scores() {
        let options = small();
        let report = run(&fleet(400, 3), &options).expect("runs");
        let cold = report.cold().expect("cold device");
        let trace = &report.cold_trace;
        assert_eq!(trace.name, cold.name);
        assert_eq!(trace.actual.len(), cold.test_windows + options.horizon);
        // The paths in series units give back the reported MAE.
        for (mode, mae) in [
            ("local", cold.local_mae),
            ("federated", cold.federated_mae),
            ("central", cold.central_mae),
        ] {
            let paths = &trace
                .forecasts
                .iter()
                .find(|(m, _)| m == mode)
                .expect(mode)
                .1;
            assert_eq!(paths.len(), cold.test_windows);
            let (mut sum, mut n) = (0.0, 0);
            for (j, path) in paths.iter().enumerate() {
                for (k, p) in path.iter().enumerate() {
                    sum += (trace.actual[j + 1 + k] - p).abs();
                    n += 1;
                }
            }
            let from_paths = sum / f64::from(n);
            assert!(
                (from_paths - mae).abs() < 1e-3 * mae.max(1e-3),
                "{mode}: {from_paths} vs {mae}"
            );
        }
        // After the last round the curve ends at the federated model's scores.
        let last = report.rounds.last().expect("rounds");
        assert_eq!(last.test_mae.len(), 3);
        for (m, d) in last.test_mae.iter().zip(&report.devices) {
            assert!(
                (m - d.federated_mae).abs() < 1e-9,
                "{m} vs {}",
                d.federated_mae
            );
        }
    }

    #[test]
    fn sweep_makes_every_device_cold_once() {
        let options = FederatedOptions {
            rounds: 2,
            local_epochs: 2,
            ..small()
        };
        let sweep = sweep(&fleet(300, 3), &options).expect("runs");
        let cold: Vec<&str> = sweep
            .cold_scores()
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(cold, ["device0", "device1", "device2"]);
        assert!(sweep.cold_scores().iter().all(|d| d.train_slots == 30));
        assert!(sweep.cold_wins(|d| d.federated_mae) <= 3);
        assert_eq!(sweep.warm_wins(|d| d.federated_mae).1, 6);
        let text = sweep.to_string();
        assert!(text.contains("federated beats alone on"), "{text}");
    }

    #[test]
    fn bad_settings_are_named() {
        let one = fleet(300, 1);
        assert!(matches!(
            run(&one, &small()),
            Err(ForecastError::InvalidParameter { .. })
        ));
        // Too short for the settings: named as a short series or as the setting it breaks.
        let short = fleet(15, 2);
        assert!(matches!(
            run(&short, &small()),
            Err(ForecastError::TooShort { .. } | ForecastError::InvalidParameter { .. })
        ));
    }
}
