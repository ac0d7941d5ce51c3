//! The paper's three scenarios as seeded generators of [`Instance`]s.

use powerslot_core::{
    CapacityProfile, Instance, InstanceSpec, Milliwatts, Resource, ResourceUnit, Task, TaskId,
};
use rand::seq::index;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::SimError;
use crate::curves::{self, Baseline};
use crate::params::{DeviceParams, ScenarioParams};

/// One of the paper's three scenarios (section III.B).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// 200 devices, no precedence.
    Standard,
    /// 200 devices in two-element chains.
    WithPrecedence,
    /// 100 devices in two-element chains, 90 % of them at a tenth of their
    /// power, under the strict baseline. The chains are kept because the paper's
    /// Table 2 reports Descending Chain Duration apart from Descending Duration
    /// for this scenario, which only chains can cause.
    Strict,
}

impl Scenario {
    /// All three, in the paper's column order.
    pub const ALL: [Scenario; 3] = [
        Scenario::Standard,
        Scenario::WithPrecedence,
        Scenario::Strict,
    ];

    /// Short name used in file names and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Standard => "standard",
            Scenario::WithPrecedence => "with-precedence",
            Scenario::Strict => "strict",
        }
    }

    /// The paper's column title.
    pub fn title(self) -> &'static str {
        match self {
            Scenario::Standard => "Standard",
            Scenario::WithPrecedence => "With Precedence",
            Scenario::Strict => "Strict Resource Constraints",
        }
    }

    /// Whether devices come in two-element chains.
    pub fn has_chains(self) -> bool {
        !matches!(self, Scenario::Standard)
    }

    fn index(self) -> u64 {
        match self {
            Scenario::Standard => 0,
            Scenario::WithPrecedence => 1,
            Scenario::Strict => 2,
        }
    }
}

/// A generated device before it becomes a [`Task`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    /// Constant power while running.
    pub power: Milliwatts,
    /// Run time in slots.
    pub duration_slots: u32,
}

/// Mixes a seed with a stream number (SplitMix64), so that each scenario and
/// each solver of a run draws from its own independent stream.
pub fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Draws `n` devices: power uniform in integer milliwatts, duration by Table 1
/// (a bin by its probability, then uniform within the bin, in whole slots).
pub fn draw_devices(
    params: &DeviceParams,
    slot_minutes: u32,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Device>, SimError> {
    check_devices(params)?;
    let lo = Milliwatts::from_kw(params.power_min_kw).0;
    let hi = Milliwatts::from_kw(params.power_max_kw).0;
    let total: f64 = params.durations.iter().map(|b| b.probability).sum();
    let slots = |h: f64| ((h * 60.0) / f64::from(slot_minutes)).round().max(1.0) as u32;
    (0..n)
        .map(|_| {
            let power = Milliwatts(rng.random_range(lo..=hi));
            let mut u = rng.random::<f64>() * total;
            let bin = params
                .durations
                .iter()
                .find(|b| {
                    u -= b.probability;
                    u < 0.0
                })
                .unwrap_or_else(|| params.durations.last().expect("checked non-empty"));
            let (a, b) = (slots(bin.from_h), slots(bin.to_h));
            let duration_slots = if b > a { rng.random_range(a..b) } else { a };
            Ok(Device {
                power,
                duration_slots,
            })
        })
        .collect()
}

fn check_devices(p: &DeviceParams) -> Result<(), SimError> {
    let range_ok = p.power_min_kw.is_finite()
        && p.power_max_kw.is_finite()
        && p.power_min_kw > 0.0
        && p.power_min_kw <= p.power_max_kw;
    if !range_ok {
        return Err(SimError::BadParameter(format!(
            "device power range {}-{} kW must satisfy 0 < min <= max",
            p.power_min_kw, p.power_max_kw
        )));
    }
    if p.durations.is_empty() {
        return Err(SimError::BadParameter("no duration bins".into()));
    }
    for b in &p.durations {
        let bin_ok = b.probability.is_finite()
            && b.probability >= 0.0
            && b.from_h.is_finite()
            && b.to_h.is_finite()
            && b.from_h > 0.0
            && b.from_h <= b.to_h;
        if !bin_ok {
            return Err(SimError::BadParameter(format!(
                "duration bin {}-{} h with probability {} is not valid",
                b.from_h, b.to_h, b.probability
            )));
        }
    }
    if p.durations.iter().map(|b| b.probability).sum::<f64>() <= 0.0 {
        return Err(SimError::BadParameter(
            "the duration probabilities sum to zero".into(),
        ));
    }
    Ok(())
}

/// Generates `scenario` for `seed` with the device count of `params`.
pub fn generate(
    scenario: Scenario,
    params: &ScenarioParams,
    seed: u64,
) -> Result<Instance, SimError> {
    let n = match scenario {
        Scenario::Standard => params.standard_devices,
        Scenario::WithPrecedence => params.precedence_devices,
        Scenario::Strict => params.strict_devices,
    };
    generate_with(scenario, params, n, seed)
}

/// Generates `scenario` for `seed` with `n` devices.
pub fn generate_with(
    scenario: Scenario,
    params: &ScenarioParams,
    n: usize,
    seed: u64,
) -> Result<Instance, SimError> {
    params.curves.check()?;
    let grid = curves::grid(params.slot_minutes)?;
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, scenario.index()));
    let mut devices = draw_devices(&params.devices, params.slot_minutes, n, &mut rng)?;
    let baseline = if scenario == Scenario::Strict {
        if !(0.0..=1.0).contains(&params.strict_reduced_share) || params.strict_power_divisor < 1 {
            return Err(SimError::BadParameter(
                "strict_reduced_share must be in 0-1 and strict_power_divisor at least 1".into(),
            ));
        }
        let reduced = (params.strict_reduced_share * n as f64).round() as usize;
        for i in index::sample(&mut rng, n, reduced.min(n)) {
            let d = &mut devices[i];
            d.power = Milliwatts((d.power.0 / params.strict_power_divisor).max(1));
        }
        Baseline::Strict
    } else {
        Baseline::Standard
    };
    let curves = curves::power_curves(&params.curves, grid, baseline);
    let capacity = CapacityProfile::difference(&curves.budget_mw, &curves.baseline_mw)
        .map_err(|e| SimError::BadParameter(format!("power curves: {e}")))?;
    let width = n.max(1).to_string().len();
    let tasks = devices
        .iter()
        .enumerate()
        .map(|(i, d)| Task {
            id: TaskId::Name(format!("d{:0width$}", i + 1)),
            duration: d.duration_slots,
            demand: vec![d.power.0],
            // Chains pair devices in generation order: d1 → d2, d3 → d4, ...
            predecessors: if scenario.has_chains() && i % 2 == 1 {
                vec![i - 1]
            } else {
                Vec::new()
            },
            release: 0,
            deadline: None,
        })
        .collect();
    let spec = InstanceSpec {
        name: format!("paper-{}-seed{seed}", scenario.name()),
        resources: vec![Resource {
            name: "power".into(),
            unit: ResourceUnit::Milliwatts,
            capacity,
        }],
        tasks,
        grid: Some(grid),
        power_curves: Some(curves),
    };
    Ok(Instance::new(spec)?)
}
