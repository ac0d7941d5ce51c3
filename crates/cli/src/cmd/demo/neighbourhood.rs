//! The demo's neighbourhood: a fleet of the simulator's model, seeded.
//!
//! Houses on 15-minute slots from noon (the evening peak, the night on the battery and the
//! next morning's sun fall in one day), each on its own 63 A circuit (14.49 kW) under the
//! site's inverter, with:
//!
//! * its household load (critical: nobody controls it) — a day of base load, a morning and
//!   an evening peak, kettle and oven spikes, with three days of history for its forecaster;
//! * a washer (normal, not interruptible: wet laundry) whose programme — heating, washing,
//!   rinsing, spinning — the user starts in the afternoon or evening and wants done within
//!   4–10 hours;
//! * in every other house a dishwasher (normal, interruptible: its phases already pause)
//!   started after dinner, wanted by the next morning;
//! * in about half the houses an electric car (normal) plugged in in the evening with an
//!   energy target by its plug-out the next morning, charging at 1.4–7.4 kW;
//! * in every other house a heat pump (high) that can run anywhere from 0.9 to 3 kW and wants
//!   more at night;
//!
//! under a solar array with a battery behind the inverter and a weak grid connection
//! ([`SolarBattery`]): 3 kWp and 20 kWh per house, a 3 kW connection per house.
//!
//! The powers are those of typical appliance programmes and household curves, drawn per
//! house around them; the fleet simulator's trace-driven neighbourhood (real household load,
//! appliance cycles, EV sessions and irradiance shipped with the repository) replaces this
//! model as soon as it is on the main branch.

use anyhow::Result;
use powerslot_core::Slot;
use powerslot_protocol::circuit::CircuitSpec;
use powerslot_protocol::{DeviceId, Priority};
use powerslot_sim::fleet::model::{
    BudgetSource, Fleet, SimDevice, SimJob, SimKind, SolarBattery, Work,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Slots per day on the demo's 15-minute grid.
const PER_DAY: usize = 96;
/// Days of history before the run (forecasters, the solar predictor).
const HISTORY_DAYS: usize = 3;
/// The run starts at noon.
const START_S: u32 = 12 * 3600;
/// A house's circuit: 63 A at 230 V.
const HOUSE_MW: i64 = 14_490_000;

/// Hour of the day of slot `k` of the run (or of the history, which starts at noon too).
fn hour(k: usize) -> f64 {
    (12.0 + k as f64 * 0.25) % 24.0
}

/// One house's load for `n` slots from noon, mW.
fn household(rng: &mut ChaCha8Rng, n: usize) -> Vec<i64> {
    let base = rng.random_range(180.0..420.0);
    let morning = rng.random_range(600.0..1_500.0);
    let evening = rng.random_range(1_000.0..2_400.0);
    let day = rng.random_range(150.0..600.0);
    (0..n)
        .map(|k| {
            let h = hour(k);
            let mut w = base;
            if (6.5..8.75).contains(&h) {
                w += morning;
            }
            if (9.0..17.0).contains(&h) {
                w += day;
            }
            if (17.0..22.5).contains(&h) {
                // Cooking peaks around 18:30 and fades towards bedtime.
                w += evening * (1.0 - (h - 18.5).abs() / 4.5).max(0.3);
            }
            if !(0.5..6.0).contains(&h) && rng.random_bool(0.06) {
                w += rng.random_range(800.0..2_000.0); // kettle, oven, hair dryer
            }
            w *= rng.random_range(0.85..1.15);
            (w * 1000.0) as i64
        })
        .collect()
}

/// A washing programme, 15-minute means, W: heating, washing, rinsing, spinning.
const WASHER_W: [f64; 8] = [2_050.0, 1_950.0, 300.0, 180.0, 220.0, 150.0, 480.0, 350.0];
/// A dishwasher programme: heating the wash, a pause, heating the rinse, drying.
const DISHWASHER_W: [f64; 7] = [1_900.0, 1_850.0, 90.0, 60.0, 1_800.0, 1_650.0, 50.0];

fn programme(rng: &mut ChaCha8Rng, shape: &[f64]) -> Vec<i64> {
    let scale = rng.random_range(0.9..1.1);
    shape
        .iter()
        .map(|w| (w * scale * rng.random_range(0.95..1.05) * 1000.0) as i64)
        .collect()
}

fn cycle_job(
    rng: &mut ChaCha8Rng,
    shape: &[f64],
    arrival: Slot,
    within: std::ops::Range<u32>,
    interruptible: bool,
    slots: Slot,
) -> Option<SimJob> {
    let actual = programme(rng, shape);
    let len = actual.len() as Slot;
    let deadline = (arrival + rng.random_range(within).max(len)).min(slots);
    if deadline < arrival + len {
        return None;
    }
    let past_runs = (0..3).map(|_| programme(rng, shape)).collect();
    Some(SimJob {
        arrival,
        earliest: arrival,
        deadline,
        accept_until: (deadline + rng.random_range(0..=16)).min(slots),
        work: Work::Cycle {
            actual_mw: actual,
            past_runs,
            interruptible,
        },
    })
}

/// Solar production for `days` days from noon, mW, for an array of `peak_mw`: sunrise at
/// 07:00, sunset at 18:00 (an autumn day), each day with its own cloudiness.
fn solar(rng: &mut ChaCha8Rng, peak_mw: f64, n: usize) -> Vec<i64> {
    let mut clear: f64 = 1.0;
    (0..n)
        .map(|k| {
            if k % PER_DAY == 0 {
                clear = rng.random_range(0.55..1.0);
            }
            let h = hour(k) + 0.125;
            if !(7.0..18.0).contains(&h) {
                return 0;
            }
            let x = std::f64::consts::PI * (h - 7.0) / 11.0;
            let cloud = (clear * rng.random_range(0.75..1.1)).min(1.0);
            (peak_mw * x.sin().powf(1.3) * cloud) as i64
        })
        .collect()
}

/// The neighbourhood of `houses` houses on `slot_ms` slots (15 minutes) for `slots` slots.
pub(super) fn build(houses: usize, seed: u64, slot_ms: u64, slots: Slot) -> Result<Fleet> {
    anyhow::ensure!(
        slot_ms == 900_000,
        "the demo's neighbourhood is on 15-minute slots"
    );
    let n = slots as usize;
    let hist = HISTORY_DAYS * PER_DAY;
    let mut circuits = vec![CircuitSpec {
        name: "site".into(),
        parent: None,
        rating_mw: 0,
    }];
    let mut devices = Vec::new();
    let mut port = 0;
    let mut add = |devices: &mut Vec<SimDevice>, id: String, circuit: &str, p: Priority, kind| {
        port += 1;
        devices.push(SimDevice {
            id: DeviceId::new(id).expect("demo ids are valid"),
            circuit: circuit.into(),
            priority: p,
            port,
            kind,
            source: "modelled".into(),
        });
    };
    for h in 1..=houses {
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(h as u64));
        let circuit = format!("house-{h}");
        circuits.push(CircuitSpec {
            name: circuit.clone(),
            parent: Some("site".into()),
            rating_mw: HOUSE_MW,
        });
        let load = household(&mut rng, hist + n);
        add(
            &mut devices,
            format!("house-{h}-load"),
            &circuit,
            Priority::Critical,
            SimKind::Base {
                history_mw: load[..hist].to_vec(),
                actual_mw: load[hist..].to_vec(),
            },
        );
        // The washer starts between 13:00 and 20:00.
        let at = rng.random_range(4..=32);
        if let Some(j) = cycle_job(&mut rng, &WASHER_W, at, 16..40, false, slots) {
            add(
                &mut devices,
                format!("house-{h}-washer"),
                &circuit,
                Priority::Normal,
                SimKind::Jobs(vec![j]),
            );
        }
        if h % 2 == 0 {
            // After dinner, wanted by the next morning.
            let at = rng.random_range(28..=40);
            if let Some(j) = cycle_job(&mut rng, &DISHWASHER_W, at, 32..56, true, slots) {
                add(
                    &mut devices,
                    format!("house-{h}-dishwasher"),
                    &circuit,
                    Priority::Normal,
                    SimKind::Jobs(vec![j]),
                );
            }
        }
        if h % 2 == 1 || h % 3 == 0 {
            // Plugged in between 17:00 and 20:00, leaves between 06:30 and 08:00.
            let at: Slot = rng.random_range(20..=32);
            let leave: Slot = rng.random_range(74..=80).min(slots);
            let max_mw = 7_400_000i64;
            let hours = f64::from(leave - at) * 0.25;
            let kwh = rng.random_range(6.0..18.0f64).min(hours * 7.4);
            add(
                &mut devices,
                format!("house-{h}-ev"),
                &circuit,
                Priority::Normal,
                SimKind::Jobs(vec![SimJob {
                    arrival: at,
                    earliest: at,
                    deadline: leave,
                    accept_until: leave,
                    work: Work::Energy {
                        energy_mwh: (kwh * 1e6) as i64,
                        min_mw: 1_400_000,
                        max_mw,
                    },
                }]),
            );
        }
        if h % 2 == 1 {
            let night = rng.random_range(2_200.0..2_800.0);
            let day = rng.random_range(1_000.0..1_500.0);
            let desired = (0..n)
                .map(|k| {
                    let hr = hour(k);
                    let w = if (7.0..17.0).contains(&hr) {
                        day
                    } else {
                        night
                    };
                    (w * rng.random_range(0.9..1.1) * 1000.0) as i64
                })
                .collect();
            add(
                &mut devices,
                format!("house-{h}-heatpump"),
                &circuit,
                Priority::High,
                SimKind::Elastic {
                    min_mw: 900_000,
                    max_mw: 3_000_000,
                    desired_mw: desired,
                },
            );
        }
    }
    let houses_mw = houses as i64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0050_17a7);
    let pv = solar(&mut rng, 3_000_000.0 * houses as f64, hist + n);
    let inverter_mw = 5_000_000 * houses_mw;
    let grid_mw = 3_000_000 * houses_mw;
    circuits[0].rating_mw = inverter_mw + grid_mw;
    let sb = SolarBattery {
        production_mw: pv[hist..].to_vec(),
        history_mw: pv[..hist].to_vec(),
        battery_mwh: 20_000_000 * houses_mw,
        reserve_mwh: 2_000_000 * houses_mw,
        initial_mwh: 14_000_000 * houses_mw,
        inverter_mw,
        grid_mw,
    };
    Ok(Fleet {
        name: "demo-neighbourhood".into(),
        slot_ms,
        slots,
        start_of_day_s: START_S,
        circuits,
        budgets: vec![("site".into(), BudgetSource::SolarBattery(sb))],
        devices,
        owners: Vec::new(),
        provenance: vec!["modelled household curves and appliance programmes".into()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_builds_the_same_neighbourhood() {
        let a = build(4, 7, 900_000, 96).unwrap();
        let b = build(4, 7, 900_000, 96).unwrap();
        assert_eq!(a.devices.len(), b.devices.len());
        assert_eq!(format!("{:?}", a.devices), format!("{:?}", b.devices));
        // Every kind is there: load, washer, dishwasher, car, heat pump.
        for kind in ["load", "washer", "dishwasher", "ev", "heatpump"] {
            assert!(
                a.devices.iter().any(|d| d.id.as_str().ends_with(kind)),
                "no {kind}"
            );
        }
        assert_eq!(a.circuits.len(), 5);
    }
}
