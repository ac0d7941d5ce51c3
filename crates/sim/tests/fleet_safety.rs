//! The invariants of the negotiation, checked on random fleets under random networks: no
//! circuit is ever granted more than its capacity (grants plus reservations for
//! uncontrollable load), nothing is announced before it is stored, higher classes are not
//! starved by lower ones — for every mechanism that promises it, under loss, duplication,
//! reordering, partitions and churn. A failing case prints its seed.

use powerslot_protocol::{CircuitSpec, DeviceId, Priority};
use powerslot_sim::fleet::central;
use powerslot_sim::fleet::engine::{MechResult, Mechanism, RunConfig, run};
use powerslot_sim::fleet::model::{
    BudgetSource, Fleet, NetConfig, SimDevice, SimJob, SimKind, SolarBattery, Work,
};
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SLOT_MS: u64 = 900_000; // 15 minutes

/// A random site: a root of `root_kw`, two feeders, houses under them; washers, EVs,
/// heat pumps (elastic) and base loads.
fn random_fleet(seed: u64, devices: usize, slots: u32) -> Fleet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let houses = devices.div_ceil(3).max(2);
    let mut circuits = vec![
        CircuitSpec {
            name: "site".into(),
            parent: None,
            rating_mw: rng.random_range(8..20) * 1_000_000,
        },
        CircuitSpec {
            name: "feeder-a".into(),
            parent: Some("site".into()),
            rating_mw: rng.random_range(5..12) * 1_000_000,
        },
        CircuitSpec {
            name: "feeder-b".into(),
            parent: Some("site".into()),
            rating_mw: rng.random_range(5..12) * 1_000_000,
        },
    ];
    for h in 0..houses {
        circuits.push(CircuitSpec {
            name: format!("house-{h}"),
            parent: Some(if h % 2 == 0 { "feeder-a" } else { "feeder-b" }.into()),
            rating_mw: rng.random_range(4..9) * 1_000_000,
        });
    }
    let mut list = Vec::new();
    for i in 0..devices {
        let house = format!("house-{}", i % houses);
        let priority = [
            Priority::Low,
            Priority::Normal,
            Priority::Normal,
            Priority::High,
        ][rng.random_range(0..4)];
        let kind = match rng.random_range(0..4) {
            0 => {
                let actual: Vec<i64> = (0..slots)
                    .map(|_| rng.random_range(100..900) * 1_000)
                    .collect();
                let history: Vec<i64> = (0..192)
                    .map(|_| rng.random_range(100..900) * 1_000)
                    .collect();
                SimKind::Base {
                    actual_mw: actual,
                    history_mw: history,
                }
            }
            1 => SimKind::Elastic {
                min_mw: 500_000,
                max_mw: 2_500_000,
                desired_mw: (0..slots)
                    .map(|_| rng.random_range(0..2_500) * 1_000)
                    .collect(),
                history_mw: vec![],
            },
            2 => {
                let arrival = rng.random_range(0..slots - 8);
                let energy = rng.random_range(2_000..9_000) * 1_000;
                SimKind::Jobs(vec![SimJob {
                    arrival,
                    earliest: arrival,
                    deadline: (arrival + rng.random_range(6..24)).min(slots),
                    accept_until: slots,
                    work: Work::Energy {
                        energy_mwh: energy,
                        min_mw: 1_400_000,
                        max_mw: 3_700_000,
                    },
                }])
            }
            _ => {
                let arrival = rng.random_range(0..slots - 8);
                let len = rng.random_range(2..6);
                let actual: Vec<i64> = (0..len)
                    .map(|_| rng.random_range(200..2_200) * 1_000)
                    .collect();
                let past: Vec<Vec<i64>> = (0..3)
                    .map(|_| {
                        (0..len)
                            .map(|_| rng.random_range(200..2_400) * 1_000)
                            .collect()
                    })
                    .collect();
                SimKind::Jobs(vec![SimJob {
                    arrival,
                    earliest: arrival,
                    deadline: (arrival + len + rng.random_range(0..16)).min(slots),
                    accept_until: (arrival + len + 24).min(slots),
                    work: Work::Cycle {
                        actual_mw: actual,
                        past_runs: past,
                        interruptible: rng.random_range(0..3) == 0,
                    },
                }])
            }
        };
        list.push(SimDevice {
            id: DeviceId::new(format!("dev-{i}")).unwrap(),
            circuit: house,
            priority,
            port: i as u32 + 1,
            kind,
            source: "random".into(),
        });
    }
    // A budget that changes while the system runs: a curve with a dip.
    let curve: Vec<i64> = (0..slots)
        .map(|s| {
            let base = circuits[0].rating_mw;
            if (slots / 3..slots / 2).contains(&s) {
                base / 2
            } else {
                base
            }
        })
        .collect();
    Fleet {
        name: format!("random-{seed}"),
        slot_ms: SLOT_MS,
        slots,
        start_of_day_s: 0,
        circuits,
        budgets: vec![("site".into(), BudgetSource::Curve(curve))],
        devices: list,
        owners: vec![],
        provenance: vec![],
    }
}

fn config(seed: u64, loss: f64, dup: f64, partition: Option<(u64, u64)>, churn: f64) -> RunConfig {
    RunConfig {
        net: NetConfig {
            latency_ms: 30,
            loss,
            duplication: dup,
            partition,
            churn,
        },
        seed,
        horizon_slots: 48,
        forecaster: "persistence".into(),
        ..RunConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    #[test]
    fn grants_never_exceed_any_circuit_under_a_hostile_network(
        seed in 0u64..1_000_000,
        loss in 0.0f64..0.4,
        dup in 0.0f64..0.3,
        part_start in 0u64..600,
        part_len in 0u64..120,
        churn in 0.0f64..0.2,
    ) {
        let mut fleet = random_fleet(seed, 14, 48);
        // Every other case behind a battery: the publisher's class budgets are live there.
        if seed % 2 == 0 {
            let sun = (0..48).map(|s| if s < 16 { 6_000_000 } else { 0 }).collect();
            fleet = behind_a_battery(fleet, sun, 20_000_000, 10_000_000);
        }
        let cfg = config(seed, loss, dup, Some((part_start, part_len)), churn);
        for mech in [Mechanism::Powerslot, Mechanism::PowerslotPeer, Mechanism::OneShotMarket] {
            let r = run(&fleet, mech, &cfg, &mut |_| {}).unwrap();
            prop_assert_eq!(r.budget_violations, 0, "{} seed {} loss {} dup {}", mech.name(), seed, loss, dup);
            prop_assert_eq!(r.unstored_announcements, 0, "{} seed {}", mech.name(), seed);
            prop_assert_eq!(r.audit_failures, 0, "{} seed {}", mech.name(), seed);
        }
    }
}

/// `extra` mechanisms, then the seed rule, the market and `powerslot`, on a perfect network.
fn run_all(fleet: &Fleet, extra: &[Mechanism], seed: u64) -> Vec<MechResult> {
    let cfg = config(seed, 0.0, 0.0, None, 0.0);
    extra
        .iter()
        .copied()
        .chain([
            Mechanism::SeedRule,
            Mechanism::OneShotMarket,
            Mechanism::Powerslot,
        ])
        .map(|m| run(fleet, m, &cfg, &mut |_| {}).unwrap())
        .collect()
}

#[test]
fn on_a_perfect_network_powerslot_serves_more_than_the_baselines_and_stays_inside_the_budget() {
    let fleet = random_fleet(42, 30, 96);
    let results = run_all(&fleet, &[Mechanism::Uncoordinated], 42);
    let by = |name: &str| results.iter().find(|r| r.name == name).unwrap();
    for r in &results {
        eprintln!(
            "{:>16}: welfare {:>8.1} served {:>6.1} kWh (elastic {:>6.1}) unmet {:>6.1} misses {}/{} violations {} peak {:.0} W",
            r.name,
            r.welfare,
            r.energy_served_kwh,
            r.elastic_served_kwh,
            r.unmet_kwh,
            r.deadline_misses,
            r.jobs,
            r.budget_violations,
            r.peak_w
        );
    }
    assert_eq!(by("powerslot").budget_violations, 0);
    assert_eq!(by("one-shot-market").budget_violations, 0);
    assert!(
        by("uncoordinated").budget_violations > 0,
        "the random site should be tight"
    );
    assert!(
        by("powerslot").welfare >= by("one-shot-market").welfare,
        "{} < {}",
        by("powerslot").welfare,
        by("one-shot-market").welfare
    );
    assert!(by("powerslot").welfare >= by("seed-rule").welfare);
    assert!(by("powerslot").peak_w <= by("uncoordinated").peak_w);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let fleet = random_fleet(7, 12, 48);
    let cfg = config(7, 0.2, 0.1, Some((60, 30)), 0.1);
    let a = run(&fleet, Mechanism::Powerslot, &cfg, &mut |_| {}).unwrap();
    let b = run(&fleet, Mechanism::Powerslot, &cfg, &mut |_| {}).unwrap();
    assert_eq!(a.welfare, b.welfare);
    assert_eq!(a.messages_total, b.messages_total);
    assert_eq!(a.series.measured_w, b.series.measured_w);
}

/// `fleet` with its site fed by `production_mw` (per slot) and a battery of `battery_mwh`
/// holding `initial_mwh` at the start (a tenth of it is the reserve), behind a 20 kW inverter.
fn behind_a_battery(
    mut fleet: Fleet,
    production_mw: Vec<i64>,
    battery_mwh: i64,
    initial_mwh: i64,
) -> Fleet {
    fleet.budgets = vec![(
        "site".into(),
        BudgetSource::SolarBattery(SolarBattery {
            production_mw,
            history_mw: vec![],
            battery_mwh,
            reserve_mwh: battery_mwh / 10,
            initial_mwh,
            inverter_mw: 20_000_000,
            grid_mw: 0,
        }),
    )];
    fleet
}

#[test]
fn energy_an_empty_battery_cannot_give_is_not_counted_as_served() {
    // The random fleet behind a 2 kWh battery with no sun: whatever anyone is granted or
    // draws, at most 2 kWh reach the devices.
    let fleet = behind_a_battery(random_fleet(42, 30, 96), vec![0; 96], 2_000_000, 2_000_000);
    let cfg = config(42, 0.0, 0.0, None, 0.0);
    let r = run(&fleet, Mechanism::Uncoordinated, &cfg, &mut |_| {}).unwrap();
    assert!(r.blackout_slots > 0);
    assert!(
        r.energy_served_kwh <= 2.0 + 1e-6,
        "{} kWh served from a 2 kWh battery",
        r.energy_served_kwh
    );
}

#[test]
fn the_central_reference_bounds_every_safe_run_behind_a_battery() {
    // The random fleet behind a small battery with an afternoon of sun: tight enough that
    // runs empty it. Every run without a violation must fit the reference's model (room per
    // slot, energy with lost load as its slack), and so score at most the reference.
    let sun = (0..96)
        .map(|s| if s < 24 { 8_000_000 } else { 0 })
        .collect();
    let fleet = behind_a_battery(random_fleet(42, 30, 96), sun, 20_000_000, 10_000_000);
    let results = run_all(&fleet, &[], 42);
    let room = central::room_of_runs(&fleet, &results);
    // The battery kept as the runs kept it: each run keeps these floors by construction, and
    // the audit below checks that the energy limits built on them still hold every run.
    let floors = central::battery_floors_of_runs(&fleet, &results);
    assert_eq!(floors.len(), 1, "{floors:?}");
    let reference = central::central(&fleet, &room, &[], 4, &floors).unwrap();
    // The full-knowledge schedule keeps the same model and lies below the bound: the optimum
    // is bracketed.
    let schedule = central::feasible_schedule(&fleet, &room, &[], 4, &floors, false).unwrap();
    let a = central::audit(
        &fleet,
        &room,
        &floors,
        &schedule.drawn_mw,
        &schedule.lost_mw,
    )
    .unwrap();
    assert!(a.over_room.is_empty(), "schedule: {:?}", a.over_room);
    assert!(a.over_energy.is_empty(), "schedule: {:?}", a.over_energy);
    assert!(schedule.drawn_mw.iter().flatten().sum::<f64>() > 0.0);
    assert!((schedule.welfare - reference.schedule_welfare).abs() < 1e-6);
    // Device by device, the value adds up to the classes'.
    let by_device: f64 = reference.schedule_by_device.iter().map(|d| d.1).sum();
    let by_class: f64 = schedule.value_by_class.iter().sum();
    assert_eq!(reference.schedule_by_device.len(), fleet.devices.len());
    assert!(
        (by_device - by_class).abs() < 1e-6,
        "{by_device} vs {by_class}"
    );
    assert!(
        schedule.welfare <= reference.welfare + 1e-6,
        "a feasible schedule {} above the bound {}",
        schedule.welfare,
        reference.welfare
    );
    eprintln!("full-knowledge schedule: {:.1}", schedule.welfare);
    // What it counts as lost is the households' load only: a controllable load the battery
    // could not serve is not credited either.
    let tree = powerslot_protocol::CircuitTree::new(fleet.circuits.clone()).unwrap();
    let mut households = vec![0.0f64; fleet.slots as usize];
    for (actual_mw, _) in fleet.uncontrolled_under(&tree, 0) {
        for (h, &p) in households.iter_mut().zip(actual_mw) {
            *h += p as f64;
        }
    }
    for (s, (&lost, &load)) in schedule.lost_mw.iter().zip(&households).enumerate() {
        assert!(lost <= load + 1.0, "slot {s}: {lost} mW lost of {load}");
    }
    for r in results.iter().filter(|r| r.budget_violations == 0) {
        // With all the knowledge, the schedule does at least as well as any run here.
        assert!(
            schedule.welfare >= r.welfare,
            "{}: {} above the full-knowledge schedule {}",
            r.name,
            r.welfare,
            schedule.welfare
        );
    }
    for r in results.iter().filter(|r| r.budget_violations == 0) {
        eprintln!(
            "{}: welfare {:.1}, households lost {:.1} kWh; reference {:.1}",
            r.name, r.welfare, r.household_unserved_kwh, reference.welfare
        );
        let a = central::audit(
            &fleet,
            &room,
            &floors,
            &r.credited_mw,
            &r.household_unserved_mw,
        )
        .unwrap();
        assert!(a.over_room.is_empty(), "{}: {:?}", r.name, a.over_room);
        assert!(a.over_energy.is_empty(), "{}: {:?}", r.name, a.over_energy);
        assert!(
            r.welfare <= reference.welfare + 1e-6,
            "{}: {} above the reference {}",
            r.name,
            r.welfare,
            reference.welfare
        );
    }
}
