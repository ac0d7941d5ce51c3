//! A small LSTM trained per device (burn, CPU backend with autodiff).
//!
//! The network reads the last `window` slots — the value relative to the latest one, the
//! exogenous features and the time of day, standardised with statistics of the device's own
//! history — and emits the next `horizon` values at once (direct multi-step), as changes from
//! the last value in units of the history's standard deviation, trained with a Huber loss.
//! Working in changes keeps an untrained network close to persistence instead of somewhere
//! arbitrary, and makes it indifferent to the level, so devices of different sizes can share it.
//!
//! The weights live in a flat `Vec<f32>` between trainings ([`LstmWeights`]), which is what the
//! federated rounds average; [`Lstm`] is the online forecaster built on them: each new sample
//! shifts the input window, and every `finetune_every` samples one small gradient step on the
//! most recent windows follows the drift of the device.

use std::collections::VecDeque;
use std::sync::Mutex;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::nn::loss::{HuberLossConfig, Reduction};
use burn::nn::{Linear, LinearConfig, LstmConfig as BurnLstmConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{ForecastError, Result};
use crate::model::{FitOptions, PointModel};
use crate::series::TimeSeries;

/// Settings of the per-device LSTM.
#[derive(Debug, Clone, PartialEq)]
pub struct LstmConfig {
    /// Past slots the network reads.
    pub window: usize,
    /// Hidden units of the LSTM layer.
    pub hidden: usize,
    /// Passes over the training windows.
    pub epochs: usize,
    /// Windows per gradient step.
    pub batch_size: usize,
    /// Adam step size.
    pub learning_rate: f64,
    /// Most recent training windows used (older history is skipped to bound training time).
    pub max_windows: usize,
    /// Samples between two online fine-tuning steps (0 turns online fine-tuning off).
    pub finetune_every: usize,
}

impl Default for LstmConfig {
    fn default() -> Self {
        Self {
            window: 24,
            hidden: 16,
            epochs: 8,
            batch_size: 64,
            learning_rate: 5e-3,
            max_windows: 8000,
            finetune_every: 0,
        }
    }
}

impl LstmConfig {
    fn check(&self) -> Result<()> {
        let bad = |message: String| ForecastError::InvalidParameter {
            name: "lstm".into(),
            message,
        };
        if self.window == 0 || self.hidden == 0 || self.batch_size == 0 || self.max_windows == 0 {
            return Err(bad(format!(
                "window, hidden, batch_size and max_windows must be at least 1 (got {}, {}, {}, {})",
                self.window, self.hidden, self.batch_size, self.max_windows
            )));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(bad(format!(
                "learning_rate must be positive, got {}",
                self.learning_rate
            )));
        }
        Ok(())
    }
}

/// The network: one LSTM layer and a linear head on its last hidden state.
#[derive(Module, Debug)]
struct Net {
    lstm: burn::nn::Lstm,
    head: Linear,
}

impl Net {
    fn new(inputs: usize, hidden: usize, horizon: usize, device: &Device) -> Self {
        Self {
            lstm: BurnLstmConfig::new(inputs, hidden, true).init(device),
            head: LinearConfig::new(hidden, horizon).init(device),
        }
    }

    /// `[batch, window, inputs]` → `[batch, horizon]`.
    fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let (_, state) = self.lstm.forward(x, None);
        self.head.forward(state.hidden)
    }
}

/// burn seeds weight initialisation per device (and possibly globally), so seeding and
/// initialising must not interleave between threads.
static INIT_LOCK: Mutex<()> = Mutex::new(());

fn cpu() -> Device {
    // ndarray is the CPU backend this workspace builds (no cmake, no GPU); burn 0.22 marks it
    // deprecated in favour of its newer `flex` backend, which is not enabled here.
    #[allow(deprecated)]
    Device::ndarray()
}

fn init_net(inputs: usize, hidden: usize, horizon: usize, device: &Device, seed: u64) -> Net {
    let _guard = INIT_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    Net::new(inputs, hidden, horizon, device)
}

/// Collects every float parameter, in the module's fixed visiting order.
struct Flatten(Vec<f32>);

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let data = param.val().into_data_as::<f32>();
        if let Ok(values) = data.as_slice::<f32>() {
            self.0.extend_from_slice(values);
        }
    }
}

/// Overwrites every float parameter from a flat vector, in the same order as [`Flatten`].
struct Unflatten<'a> {
    values: &'a [f32],
    at: usize,
}

impl ModuleMapper for Unflatten<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let values = self.values;
        let at = &mut self.at;
        param.map(|tensor| {
            let shape = tensor.shape();
            let n = shape.num_elements();
            let device = tensor.device();
            let slice = values[*at..*at + n].to_vec();
            *at += n;
            let fresh = Tensor::<D>::from_data(TensorData::new(slice, shape), &device);
            if tensor.is_require_grad() {
                fresh.require_grad()
            } else {
                fresh
            }
        })
    }
}

fn flatten(net: &Net) -> Vec<f32> {
    let mut f = Flatten(Vec::new());
    net.visit(&mut f);
    f.0
}

fn load(net: Net, weights: &[f32]) -> Net {
    let mut u = Unflatten {
        values: weights,
        at: 0,
    };
    net.map(&mut u)
}

/// Standardisation of one input channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scale {
    pub(crate) mean: f64,
    pub(crate) sd: f64,
}

impl Scale {
    pub(crate) fn of(values: &[f64]) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let sd = var.sqrt();
        Self {
            mean,
            sd: if sd > 1e-9 && sd.is_finite() { sd } else { 1.0 },
        }
    }
    fn apply(&self, v: f64) -> f32 {
        ((v - self.mean) / self.sd) as f32
    }
}

/// How one device's raw slots become network inputs: scales per channel and the clock.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Encoder {
    pub(crate) value: Scale,
    pub(crate) features: Vec<Scale>,
    /// Seconds since 1970 of slot 0 and the slot length, for the time-of-day inputs.
    pub(crate) start: i64,
    pub(crate) step: i64,
}

impl Encoder {
    pub(crate) fn of(series: &TimeSeries) -> Self {
        Self {
            value: Scale::of(&series.values),
            features: series.features.iter().map(|(_, v)| Scale::of(v)).collect(),
            start: series.start,
            step: series.step_seconds,
        }
    }

    /// Inputs per slot: value, features, sin and cos of the time of day.
    pub(crate) fn inputs(&self) -> usize {
        1 + self.features.len() + 2
    }

    fn encode(&self, index: i64, value: f64, features: &[f64], out: &mut Vec<f32>) {
        out.push(self.value.apply(value));
        out.extend(self.features.iter().zip(features).map(|(s, &f)| s.apply(f)));
        let seconds = (self.start + index * self.step).rem_euclid(86_400) as f64;
        let angle = std::f64::consts::TAU * seconds / 86_400.0;
        out.push(angle.sin() as f32);
        out.push(angle.cos() as f32);
    }
}

/// Shifts the value channel of a window so the last slot reads 0: the network sees the shape
/// of the recent past, not its level, which keeps it valid after level shifts and lets devices
/// with different levels share one network.
fn relative_to_last(window: &mut [f32], inputs: usize) {
    let last = window.len().checked_sub(inputs).map_or(0.0, |i| window[i]);
    window.iter_mut().step_by(inputs).for_each(|v| *v -= last);
}

/// Huber transition (in standard deviations of the series): close to absolute error, which
/// the forecasts are judged by, so rare spikes do not dominate training.
const HUBER_DELTA: f32 = 0.25;

/// Training windows of one device: inputs `[n, window, inputs]` and targets `[n, horizon]`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Windows {
    pub(crate) inputs: Vec<f32>,
    pub(crate) targets: Vec<f32>,
    pub(crate) count: usize,
}

impl Windows {
    /// Every window of `series` whose targets lie inside it, the most recent `max` of them.
    pub(crate) fn build(
        series: &TimeSeries,
        encoder: &Encoder,
        window: usize,
        horizon: usize,
        max: usize,
    ) -> Self {
        let n = series.len();
        let mut out = Windows::default();
        if n < window + horizon {
            return out;
        }
        // Window ending at slot t (inclusive) predicts t+1..=t+horizon.
        let last_end = n - horizon - 1;
        let first_end = (window - 1).max((last_end + 1).saturating_sub(max));
        // The clock inputs count slots from the encoder's origin, wherever this stretch starts.
        let offset = (series.start - encoder.start) / encoder.step.max(1);
        let mut row = vec![0.0; series.features.len()];
        let mut slot = Vec::with_capacity(encoder.inputs());
        for end in first_end..=last_end {
            for i in end + 1 - window..=end {
                for (r, (_, f)) in row.iter_mut().zip(&series.features) {
                    *r = f[i];
                }
                slot.clear();
                encoder.encode(offset + i as i64, series.values[i], &row, &mut slot);
                out.inputs.extend_from_slice(&slot);
            }
            let from = out.inputs.len() - window * encoder.inputs();
            relative_to_last(&mut out.inputs[from..], encoder.inputs());
            let base = series.values[end];
            out.targets.extend(
                (1..=horizon).map(|k| ((series.values[end + k] - base) / encoder.value.sd) as f32),
            );
            out.count += 1;
        }
        out
    }

    /// Appends another device's windows (central training pools them).
    pub(crate) fn extend(&mut self, other: &Windows) {
        self.inputs.extend_from_slice(&other.inputs);
        self.targets.extend_from_slice(&other.targets);
        self.count += other.count;
    }
}

/// A network's shape and weights, detached from any device: what devices train, send and
/// receive in federated rounds.
#[derive(Debug, Clone, PartialEq)]
pub struct LstmWeights {
    /// Inputs per slot.
    pub inputs: usize,
    /// Hidden units.
    pub hidden: usize,
    /// Steps predicted at once.
    pub horizon: usize,
    /// Every parameter, flattened in the network's fixed order.
    pub values: Vec<f32>,
}

impl LstmWeights {
    /// Freshly initialised weights (seeded).
    pub(crate) fn init(inputs: usize, hidden: usize, horizon: usize, seed: u64) -> Self {
        let net = init_net(inputs, hidden, horizon, &cpu(), seed);
        Self {
            inputs,
            hidden,
            horizon,
            values: flatten(&net),
        }
    }

    /// True when both describe the same network shape (so they can be averaged).
    pub fn same_shape(&self, other: &LstmWeights) -> bool {
        self.inputs == other.inputs
            && self.hidden == other.hidden
            && self.horizon == other.horizon
            && self.values.len() == other.values.len()
    }

    fn net(&self, device: &Device) -> Net {
        // The initial values are overwritten at once; the seed only fixes the parameter ids.
        load(
            init_net(self.inputs, self.hidden, self.horizon, device, 0),
            &self.values,
        )
    }

    /// Trains from these weights on `windows` for `epochs` passes; returns the new weights.
    pub(crate) fn train(
        &self,
        windows: &Windows,
        epochs: usize,
        batch_size: usize,
        learning_rate: f64,
        seed: u64,
    ) -> LstmWeights {
        if windows.count == 0 || epochs == 0 {
            return self.clone();
        }
        let device = cpu().autodiff();
        let mut net = self.net(&device);
        let mut optimizer = AdamConfig::new().init();
        let mut order: Vec<usize> = (0..windows.count).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let per_input = windows.inputs.len() / windows.count;
        let window = per_input / self.inputs;
        let mut xs = Vec::with_capacity(batch_size * per_input);
        let mut ys = Vec::with_capacity(batch_size * self.horizon);
        for _ in 0..epochs {
            order.shuffle(&mut rng);
            for batch in order.chunks(batch_size.max(1)) {
                xs.clear();
                ys.clear();
                for &i in batch {
                    xs.extend_from_slice(&windows.inputs[i * per_input..(i + 1) * per_input]);
                    ys.extend_from_slice(
                        &windows.targets[i * self.horizon..(i + 1) * self.horizon],
                    );
                }
                let b = batch.len();
                let x = Tensor::<3>::from_data(
                    TensorData::new(xs.clone(), [b, window, self.inputs]),
                    &device,
                );
                let y =
                    Tensor::<2>::from_data(TensorData::new(ys.clone(), [b, self.horizon]), &device);
                let loss = HuberLossConfig::new(HUBER_DELTA).init().forward(
                    net.forward(x),
                    y,
                    Reduction::Mean,
                );
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optimizer.step(learning_rate, net, grads);
            }
        }
        LstmWeights {
            values: flatten(&net.valid()),
            ..self.clone()
        }
    }

    /// Standardised change predictions for every window, `[count * horizon]`.
    pub(crate) fn predict(&self, windows: &Windows) -> Vec<f32> {
        if windows.count == 0 {
            return Vec::new();
        }
        let plain = Plain::new(self);
        let per_input = windows.inputs.len() / windows.count;
        let mut out = Vec::with_capacity(windows.count * self.horizon);
        for x in windows.inputs.chunks(per_input) {
            out.extend(
                plain
                    .forward(x.chunks(self.inputs))
                    .into_iter()
                    .map(|v| v as f32),
            );
        }
        out
    }
}

/// The trained network evaluated in plain Rust: burn's per-operation overhead dominates a
/// batch-of-one forward pass, and forecasting after every sample must stay cheap.
#[derive(Debug, Clone)]
struct Plain {
    inputs: usize,
    hidden: usize,
    horizon: usize,
    /// Input, forget, output and cell gates: (input weights `[inputs][hidden]`, input bias,
    /// hidden weights `[hidden][hidden]`, hidden bias), burn's parameter order.
    gates: Vec<[Vec<f64>; 4]>,
    head_weight: Vec<f64>,
    head_bias: Vec<f64>,
}

impl Plain {
    fn new(w: &LstmWeights) -> Self {
        let (n, h, m) = (w.inputs, w.hidden, w.horizon);
        let mut at = 0;
        let mut take = |len: usize| {
            let part: Vec<f64> = w.values[at..at + len]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            at += len;
            part
        };
        let gates = (0..4)
            .map(|_| [take(n * h), take(h), take(h * h), take(h)])
            .collect();
        let head_weight = take(h * m);
        let head_bias = take(m);
        Self {
            inputs: n,
            hidden: h,
            horizon: m,
            gates,
            head_weight,
            head_bias,
        }
    }

    /// One window (slots oldest first, each `inputs` values) → `horizon` outputs.
    fn forward<'a>(&self, slots: impl Iterator<Item = &'a [f32]>) -> Vec<f64> {
        let h = self.hidden;
        let mut hidden = vec![0.0; h];
        let mut cell = vec![0.0; h];
        let mut z = vec![[0.0f64; 4]; h];
        for x in slots {
            for (g, [wx, bx, wh, bh]) in self.gates.iter().enumerate() {
                for j in 0..h {
                    let mut sum = bx[j] + bh[j];
                    for (k, &xk) in x.iter().enumerate().take(self.inputs) {
                        sum += f64::from(xk) * wx[k * h + j];
                    }
                    for (k, &hk) in hidden.iter().enumerate() {
                        sum += hk * wh[k * h + j];
                    }
                    z[j][g] = sum;
                }
            }
            for j in 0..h {
                let [i, f, o, c] = z[j];
                cell[j] = sigmoid(f) * cell[j] + sigmoid(i) * c.tanh();
                hidden[j] = sigmoid(o) * cell[j].tanh();
            }
        }
        (0..self.horizon)
            .map(|m| {
                self.head_bias[m]
                    + hidden
                        .iter()
                        .enumerate()
                        .map(|(j, hj)| hj * self.head_weight[j * self.horizon + m])
                        .sum::<f64>()
            })
            .collect()
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The online LSTM forecaster of one device.
pub(crate) struct Lstm {
    config: LstmConfig,
    encoder: Encoder,
    weights: LstmWeights,
    /// Inference copy of the network, rebuilt when the weights change.
    plain: Plain,
    /// The last `window` encoded slots, oldest first.
    recent: VecDeque<Vec<f32>>,
    last_value: f64,
    /// Index of the next slot (for the clock inputs).
    next_index: i64,
    /// Recent raw slots kept for fine-tuning: (value, features).
    tail: VecDeque<(f64, Vec<f64>)>,
    since_finetune: usize,
    finetunes: u64,
    seed: u64,
}

impl Lstm {
    pub(crate) fn fit(
        config: &LstmConfig,
        train: &TimeSeries,
        options: &FitOptions,
    ) -> Result<Self> {
        config.check()?;
        let horizon = options.horizon.max(1);
        let need = config.window + horizon + 16;
        if train.len() < need {
            return Err(ForecastError::TooShort {
                what: format!("{} for model `lstm`", train.name),
                have: train.len(),
                need,
                why: format!(
                    "a window of {} slots, the horizon {horizon} and 16 training windows",
                    config.window
                ),
            });
        }
        let encoder = Encoder::of(train);
        let windows = Windows::build(train, &encoder, config.window, horizon, config.max_windows);
        let initial = LstmWeights::init(encoder.inputs(), config.hidden, horizon, options.seed);
        let weights = initial.train(
            &windows,
            config.epochs,
            config.batch_size,
            config.learning_rate,
            options.seed,
        );
        Ok(Self::from_weights(
            config.clone(),
            encoder,
            weights,
            train,
            options.seed,
        ))
    }

    /// An online forecaster from trained weights, primed with the end of `history`.
    pub(crate) fn from_weights(
        config: LstmConfig,
        encoder: Encoder,
        weights: LstmWeights,
        history: &TimeSeries,
        seed: u64,
    ) -> Self {
        let plain = Plain::new(&weights);
        let mut model = Self {
            encoder,
            plain,
            weights,
            recent: VecDeque::with_capacity(config.window + 1),
            last_value: 0.0,
            next_index: 0,
            tail: VecDeque::new(),
            since_finetune: 0,
            finetunes: 0,
            seed,
            config,
        };
        // Slot indices continue the history's clock, whatever its start.
        let offset = (history.start - model.encoder.start) / model.encoder.step.max(1);
        let from = history.len().saturating_sub(model.tail_capacity());
        model.next_index = offset + from as i64;
        let mut row = vec![0.0; history.features.len()];
        for i in from..history.len() {
            for (r, (_, f)) in row.iter_mut().zip(&history.features) {
                *r = f[i];
            }
            model.push(history.values[i], &row);
        }
        model
    }

    fn tail_capacity(&self) -> usize {
        if self.config.finetune_every == 0 {
            self.config.window
        } else {
            self.config.window + self.weights.horizon + self.config.batch_size
        }
    }

    fn push(&mut self, value: f64, features: &[f64]) {
        let mut slot = Vec::with_capacity(self.encoder.inputs());
        self.encoder
            .encode(self.next_index, value, features, &mut slot);
        self.next_index += 1;
        self.recent.push_back(slot);
        while self.recent.len() > self.config.window {
            self.recent.pop_front();
        }
        self.last_value = value;
        if self.config.finetune_every > 0 {
            self.tail.push_back((value, features.to_vec()));
            while self.tail.len() > self.tail_capacity() {
                self.tail.pop_front();
            }
        }
    }

    /// One short training pass on the most recent windows, so the weights follow drift.
    fn finetune(&mut self) {
        let n = self.tail.len();
        let mut series = TimeSeries {
            name: String::new(),
            start: self.encoder.start + (self.next_index - n as i64) * self.encoder.step,
            step_seconds: self.encoder.step,
            values: self.tail.iter().map(|(v, _)| *v).collect(),
            features: Vec::new(),
            regularisation: Default::default(),
        };
        for k in 0..self.encoder.features.len() {
            series
                .features
                .push((String::new(), self.tail.iter().map(|(_, f)| f[k]).collect()));
        }
        let windows = Windows::build(
            &series,
            &self.encoder,
            self.config.window,
            self.weights.horizon,
            self.config.batch_size,
        );
        self.finetunes += 1;
        self.weights = self.weights.train(
            &windows,
            1,
            self.config.batch_size,
            self.config.learning_rate * 0.2,
            self.seed.wrapping_add(self.finetunes),
        );
        self.plain = Plain::new(&self.weights);
    }
}

impl PointModel for Lstm {
    fn update(&mut self, value: f64, features: &[f64]) {
        self.push(value, features);
        if self.config.finetune_every > 0 {
            self.since_finetune += 1;
            if self.since_finetune >= self.config.finetune_every {
                self.since_finetune = 0;
                self.finetune();
            }
        }
    }

    fn forecast(&self, horizon: usize) -> Vec<f64> {
        if self.recent.len() < self.config.window {
            return vec![self.last_value; horizon];
        }
        let mut flat: Vec<f32> = self.recent.iter().flatten().copied().collect();
        let inputs = self.encoder.inputs();
        relative_to_last(&mut flat, inputs);
        let steps = self.plain.forward(flat.chunks(inputs));
        let sd = self.encoder.value.sd;
        (0..horizon)
            .map(|k| {
                // Beyond the trained horizon the last predicted step is held.
                let change = steps
                    .get(k.min(steps.len().saturating_sub(1)))
                    .copied()
                    .unwrap_or(0.0);
                self.last_value + change * sd
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(n: usize) -> TimeSeries {
        let values = (0..n)
            .map(|i| 5.0 + 2.0 * (i as f64 * std::f64::consts::TAU / 12.0).sin())
            .collect();
        TimeSeries::from_values("sine", 0, 3600, values).expect("finite")
    }

    fn tiny() -> LstmConfig {
        LstmConfig {
            window: 12,
            hidden: 8,
            epochs: 25,
            batch_size: 32,
            max_windows: 200,
            ..Default::default()
        }
    }

    #[test]
    fn weights_round_trip_through_the_network() {
        let w = LstmWeights::init(3, 4, 2, 7);
        let again = LstmWeights {
            values: flatten(&w.net(&cpu())),
            ..w.clone()
        };
        assert_eq!(w, again);
        // 4 gates × (input and hidden transforms with bias) + head.
        assert_eq!(w.values.len(), 4 * (3 * 4 + 4 + 4 * 4 + 4) + 4 * 2 + 2);
    }

    #[test]
    fn plain_inference_matches_burn() {
        let w = LstmWeights::init(3, 5, 2, 11);
        let x: Vec<f32> = (0..4 * 3)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 4.0)
            .collect();
        let burn_out = w
            .net(&cpu())
            .forward(Tensor::<3>::from_data(
                TensorData::new(x.clone(), [1, 4, 3]),
                &cpu(),
            ))
            .into_data_as::<f32>();
        let plain_out = Plain::new(&w).forward(x.chunks(3));
        for (b, p) in burn_out
            .as_slice::<f32>()
            .expect("f32")
            .iter()
            .zip(&plain_out)
        {
            assert!((f64::from(*b) - p).abs() < 1e-5, "{b} vs {p}");
        }
    }

    #[test]
    fn initialisation_is_seeded() {
        assert_eq!(LstmWeights::init(3, 4, 2, 1), LstmWeights::init(3, 4, 2, 1));
        assert_ne!(
            LstmWeights::init(3, 4, 2, 1).values,
            LstmWeights::init(3, 4, 2, 2).values
        );
    }

    #[test]
    fn learns_a_cycle_better_than_persistence() {
        let series = sine(260);
        let options = FitOptions::new(3, 12);
        let mut model = Lstm::fit(&tiny(), &series.slice(0, 200), &options).expect("fits");
        let (mut lstm_err, mut naive_err) = (0.0, 0.0);
        for i in 200..257 {
            let f = model.forecast(3);
            lstm_err += (f[2] - series.values[i + 2]).abs();
            naive_err += (series.values[i - 1] - series.values[i + 2]).abs();
            model.update(series.values[i], &[]);
        }
        assert!(
            lstm_err < 0.6 * naive_err,
            "lstm {lstm_err} vs persistence {naive_err}"
        );
    }

    #[test]
    fn online_fine_tuning_moves_the_weights() {
        let series = sine(140);
        let config = LstmConfig {
            finetune_every: 10,
            epochs: 2,
            ..tiny()
        };
        let mut model =
            Lstm::fit(&config, &series.slice(0, 100), &FitOptions::new(3, 12)).expect("fits");
        let before = model.weights.clone();
        for i in 100..125 {
            model.update(series.values[i], &[]);
        }
        assert_eq!(model.finetunes, 2);
        assert_ne!(model.weights, before);
        assert!(model.forecast(3).iter().all(|v| v.is_finite()));
    }

    #[test]
    fn too_short_history_is_an_error() {
        let err = Lstm::fit(&tiny(), &sine(20), &FitOptions::new(3, 12))
            .err()
            .expect("too short");
        assert!(matches!(err, ForecastError::TooShort { .. }), "{err}");
    }
}
