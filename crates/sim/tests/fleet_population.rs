//! The scenario builders on the shipped samples: deterministic per seed, exact device counts,
//! every device valid for the protocol, budgets that make coordination matter.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use powerslot_protocol::{CircuitTree, DeviceId, Priority};
use powerslot_sim::fleet::budget::BatteryPhysics;
use powerslot_sim::fleet::model::{BudgetSource, Fleet, SimKind, Work};
use powerslot_sim::fleet::population::{
    BuildOptions, INVERTER_W_PER_HOUSE, ScenarioKind, check, neighbourhood, poe_switch,
    sensor_field, summarize, uncoordinated_mw,
};
use powerslot_sim::fleet::traces::{DataError, DataSource, Library, Pool};
use proptest::prelude::*;

fn samples() -> &'static Library {
    static LIB: OnceLock<Library> = OnceLock::new();
    LIB.get_or_init(|| {
        DataSource::Samples
            .load(&Pool::ALL)
            .expect("the samples load")
    })
}

fn opts(devices: usize, days: u32, seed: u64) -> BuildOptions {
    BuildOptions {
        devices,
        days,
        seed,
        ..BuildOptions::default()
    }
}

fn build(kind: ScenarioKind, o: &BuildOptions) -> Fleet {
    let lib = samples();
    match kind {
        ScenarioKind::Neighbourhood => neighbourhood(lib, o),
        ScenarioKind::PoeSwitch => poe_switch(lib, o),
        ScenarioKind::SensorField => sensor_field(lib, o),
    }
    .unwrap_or_else(|e| panic!("{} {o:?}: {e}", kind.name()))
}

/// Every rule a fleet must keep, checked here on its own (not only through `check`).
fn assert_valid(f: &Fleet) {
    check(f).unwrap_or_else(|e| panic!("{}: {e}", f.name));
    let slots = f.slots;
    let tree = CircuitTree::new(f.circuits.clone()).expect("a valid tree");
    let names: HashSet<&str> = f.circuits.iter().map(|c| c.name.as_str()).collect();
    let mut ids = HashSet::new();
    for d in &f.devices {
        assert!(ids.insert(d.id.clone()), "{} twice", d.id);
        assert_eq!(DeviceId::new(d.id.as_str()).as_ref(), Ok(&d.id));
        assert!(names.contains(d.circuit.as_str()), "{}", d.id);
        assert!(d.port >= 1);
        match &d.kind {
            SimKind::Base {
                actual_mw,
                history_mw,
            } => {
                assert_eq!(actual_mw.len(), slots as usize);
                assert!(actual_mw.iter().chain(history_mw).all(|&p| p >= 0));
            }
            SimKind::Elastic {
                min_mw,
                max_mw,
                desired_mw,
                history_mw,
            } => {
                assert!(0 <= *min_mw && min_mw <= max_mw && *max_mw > 0, "{}", d.id);
                assert_eq!(desired_mw.len(), slots as usize);
                assert!(
                    desired_mw
                        .iter()
                        .chain(history_mw)
                        .all(|&p| (0..=*max_mw).contains(&p))
                );
            }
            SimKind::Jobs(jobs) => {
                assert!(!jobs.is_empty(), "{} has no job", d.id);
                let mut last_deadline = 0;
                for j in jobs {
                    assert!(j.arrival <= j.earliest, "{}: {j:?}", d.id);
                    assert!(j.earliest < j.deadline && j.deadline <= j.accept_until);
                    assert!(j.accept_until <= slots, "{} ends after the run", d.id);
                    let window = i64::from(j.deadline - j.earliest);
                    match &j.work {
                        Work::Cycle {
                            actual_mw,
                            past_runs,
                            ..
                        } => {
                            assert!(window >= actual_mw.len() as i64, "{}: {j:?}", d.id);
                            assert!(actual_mw.iter().all(|&p| p >= 0));
                            assert!(!past_runs.is_empty());
                        }
                        Work::Energy {
                            energy_mwh,
                            min_mw,
                            max_mw,
                        } => {
                            assert!(*energy_mwh >= 100_000 && 0 < *min_mw && min_mw < max_mw);
                            let most =
                                i128::from(*max_mw) * i128::from(window) * i128::from(f.slot_ms)
                                    / 3_600_000;
                            assert!(i128::from(*energy_mwh) <= most, "{}: {j:?}", d.id);
                            // A car is in one place at a time.
                            assert!(j.earliest >= last_deadline, "{}: overlapping", d.id);
                            last_deadline = j.deadline;
                        }
                    }
                }
            }
        }
    }
    for (name, b) in &f.budgets {
        assert!(tree.index_of(name).is_some());
        match b {
            BudgetSource::Fixed => {}
            BudgetSource::Curve(c) => assert!(c.iter().all(|&v| v >= 0)),
            BudgetSource::SolarBattery(s) => {
                assert_eq!(s.production_mw.len(), slots as usize);
                assert!(s.production_mw.iter().chain(&s.history_mw).all(|&p| p >= 0));
                assert!(0 <= s.reserve_mwh && s.reserve_mwh <= s.initial_mwh);
                assert!(s.initial_mwh <= s.battery_mwh && s.inverter_mw > 0);
                assert!(s.history_mw.iter().any(|&p| p > 0), "the sun rose before");
            }
        }
    }
}

#[test]
fn every_scenario_is_deterministic_per_seed_and_valid() {
    for kind in ScenarioKind::ALL {
        let a = build(kind, &opts(300, 1, 7));
        let b = build(kind, &opts(300, 1, 7));
        let c = build(kind, &opts(300, 1, 8));
        assert_valid(&a);
        assert_valid(&c);
        let show = |f: &Fleet| format!("{:?} {:?} {:?}", f.devices, f.budgets, f.circuits);
        assert_eq!(show(&a), show(&b), "{}", kind.name());
        assert_ne!(
            show(&a),
            show(&c),
            "{}: another seed, another fleet",
            kind.name()
        );
    }
}

#[test]
fn device_counts_are_exact() {
    for kind in ScenarioKind::ALL {
        for n in [1, 2, 25, 77, 1_001] {
            assert_eq!(
                build(kind, &opts(n, 1, 1)).devices.len(),
                n,
                "{}",
                kind.name()
            );
        }
    }
}

#[test]
fn a_larger_fleet_starts_with_the_same_houses() {
    let small = build(ScenarioKind::Neighbourhood, &opts(200, 1, 3));
    let large = build(ScenarioKind::Neighbourhood, &opts(400, 1, 3));
    let first = |f: &Fleet| format!("{:?}", &f.devices[..150]);
    assert_eq!(first(&small), first(&large));
}

#[test]
fn multi_day_runs_replay_following_days() {
    for kind in ScenarioKind::ALL {
        let f = build(kind, &opts(150, 7, 5));
        assert_valid(&f);
        assert_eq!(f.slots as u64 * f.slot_ms, 7 * 86_400_000);
    }
    // Over a week, some cars and machines come back on later days.
    let f = build(ScenarioKind::Neighbourhood, &opts(300, 7, 5));
    let repeat = f
        .devices
        .iter()
        .filter(|d| matches!(&d.kind, SimKind::Jobs(j) if j.len() > 1))
        .count();
    assert!(repeat > 50, "{repeat}");
}

#[test]
fn neighbourhood_follows_its_stated_model() {
    let f = build(ScenarioKind::Neighbourhood, &opts(1_000, 1, 1));
    assert_eq!(
        (f.slot_ms, f.slots, f.start_of_day_s),
        (900_000, 96, 12 * 3_600)
    );
    let houses = f
        .circuits
        .iter()
        .filter(|c| c.name.starts_with("house-"))
        .count();
    assert_eq!(
        f.circuits[0].rating_mw,
        (INVERTER_W_PER_HOUSE * houses as f64 * 1e3) as i64
    );
    let mut per_feeder: HashMap<&str, usize> = HashMap::new();
    for c in f.circuits.iter().filter(|c| c.name.starts_with("house-")) {
        *per_feeder.entry(c.parent.as_deref().unwrap()).or_default() += 1;
    }
    assert!(per_feeder.values().all(|&n| n <= 40));
    let priority = |kind: &str| {
        let ps: HashSet<Priority> = f
            .devices
            .iter()
            .filter(|d| d.id.as_str().ends_with(&format!(".{kind}")))
            .map(|d| d.priority)
            .collect();
        assert_eq!(ps.len(), 1, "{kind}");
        ps.into_iter().next().unwrap()
    };
    assert_eq!(priority("base"), Priority::Critical);
    assert_eq!(priority("medical"), Priority::Critical);
    assert_eq!(priority("water-heater"), Priority::High);
    assert_eq!(priority("ev"), Priority::Normal);
    assert_eq!(priority("washer"), Priority::Normal);
    assert_eq!(priority("dishwasher"), Priority::Normal);
    assert_eq!(priority("pool-pump"), Priority::Low);
    for d in &f.devices {
        if let SimKind::Jobs(jobs) = &d.kind {
            for j in jobs {
                match &j.work {
                    Work::Energy { .. } => assert_eq!(j.accept_until, j.deadline, "the car leaves"),
                    Work::Cycle { interruptible, .. } => {
                        assert_eq!(*interruptible, d.id.as_str().ends_with(".dishwasher"))
                    }
                }
            }
        }
    }
    // The heaters carry the days before the run where their trace holds them (the site's
    // usual day of the high class is learnt from them), one value per slot of those days.
    let days_before = BuildOptions::default().history_days as usize * 96;
    let heaters: Vec<&Vec<i64>> = f
        .devices
        .iter()
        .filter(|d| d.id.as_str().ends_with(".water-heater"))
        .filter_map(|d| match &d.kind {
            SimKind::Elastic { history_mw, .. } => Some(history_mw),
            _ => None,
        })
        .collect();
    assert!(
        heaters
            .iter()
            .all(|h| h.is_empty() || h.len() == days_before)
    );
    let with = heaters.iter().filter(|h| !h.is_empty()).count();
    assert!(
        with * 2 > heaters.len(),
        "{with} of {} heaters",
        heaters.len()
    );
    let tree = CircuitTree::new(f.circuits.clone()).unwrap();
    let usual = f.high_history_under(&tree, 0);
    assert_eq!(usual.len(), days_before);
    assert!(usual.iter().any(|&p| p > 0));
    let BudgetSource::SolarBattery(s) = &f.budgets[0].1 else {
        panic!("the site runs on solar and a battery")
    };
    assert_eq!(s.grid_mw, 0, "off-grid");
    // Coordination matters: the uncontrollable load fits under the inverter, everything
    // started at once does not.
    let slots = f.slots as usize;
    let mut base = vec![0i64; slots];
    for d in f
        .devices
        .iter()
        .filter(|d| matches!(d.kind, SimKind::Base { .. }))
    {
        for (b, p) in base
            .iter_mut()
            .zip(uncoordinated_mw(&d.kind, slots, f.slot_ms))
        {
            *b += p;
        }
    }
    let sum = summarize(&f).unwrap();
    let rating = f.circuits[0].rating_mw;
    assert!(
        base.iter().all(|&b| b < rating),
        "the household load alone fits"
    );
    assert!(sum.uncoordinated_peak_kw * 1e6 > rating as f64, "{sum}");
    assert!(sum.circuits_over_rating.0 >= 2, "{sum}");
    assert!(sum.asked_kwh_per_day > 0.5 * sum.solar_kwh_per_day);
}

/// The street is sized so that its households' own load (with the critical loads: oxygen
/// concentrators) crosses every night of the samples on the sun it gets, with nothing else
/// running: then no lost load is forced on any mechanism or on the reference, and a ratio of
/// welfare to the optimum means something. With a battery of half a day (the rule before)
/// the households alone went without on 1,000 devices.
#[test]
fn the_street_s_battery_carries_its_households_through_the_night() {
    for (devices, days, seed) in [(1000, 1, 1), (1000, 1, 2), (1000, 1, 3), (200, 3, 1)] {
        let f = build(ScenarioKind::Neighbourhood, &opts(devices, days, seed));
        let BudgetSource::SolarBattery(sb) = &f.budgets[0].1 else {
            panic!("the site runs on solar and a battery")
        };
        let slots = f.slots as usize;
        let mut own = vec![0i64; slots];
        for d in f
            .devices
            .iter()
            .filter(|d| matches!(d.kind, SimKind::Base { .. }) || d.priority == Priority::Critical)
        {
            for (b, p) in own
                .iter_mut()
                .zip(uncoordinated_mw(&d.kind, slots, f.slot_ms))
            {
                *b += p;
            }
        }
        let mut battery = BatteryPhysics::new(sb, f.slot_ms);
        for (s, &load) in own.iter().enumerate() {
            battery.step(s as u32, load);
        }
        assert_eq!(
            battery.blackout_slots,
            0,
            "{devices} devices, {days} days, seed {seed}: {:.1} kWh of the households' own load lost",
            battery.unserved_mwh / 1e6
        );
    }
}

#[test]
fn poe_switches_have_budgets_below_their_classes() {
    let f = build(ScenarioKind::PoeSwitch, &opts(200, 1, 1));
    assert_eq!((f.slot_ms, f.slots), (300_000, 288));
    let switches: Vec<_> = f
        .circuits
        .iter()
        .filter(|c| c.parent.as_deref() == Some("site"))
        .collect();
    assert_eq!(switches.len(), 9);
    for s in &switches {
        let ports: Vec<i64> = f
            .circuits
            .iter()
            .filter(|c| c.parent.as_deref() == Some(s.name.as_str()))
            .map(|c| c.rating_mw)
            .collect();
        // The last switch is part full (200 = 8 × 24 + 8) and has budget to spare.
        if ports.len() == 24 {
            assert!(s.rating_mw < ports.iter().sum::<i64>(), "{}", s.name);
        }
    }
    let mut dark_nights = 0;
    for d in &f.devices {
        let kind = d.id.as_str().rsplit('.').next().unwrap();
        let port = f.circuits.iter().find(|c| c.name == d.circuit).unwrap();
        assert!(port.name.contains(".port-"), "{}", d.id);
        let want = match kind {
            "phone" => Priority::Critical,
            "camera" => Priority::High,
            "ap" => Priority::Normal,
            _ => Priority::Low,
        };
        assert_eq!(d.priority, want, "{}", d.id);
        if let SimKind::Elastic { max_mw, .. } = &d.kind {
            assert!(*max_mw <= port.rating_mw, "{} fits its class", d.id);
        }
        if kind == "camera" {
            let SimKind::Base { actual_mw, .. } = &d.kind else {
                panic!("a camera is uncontrollable")
            };
            // Infrared at night; by day only when very dark.
            assert!(actual_mw[0] >= actual_mw[144], "{}", d.id);
            dark_nights += usize::from(actual_mw[0] > actual_mw[144]);
        }
    }
    assert!(dark_nights > 0);
    let sum = summarize(&f).unwrap();
    assert!(
        sum.circuits_over_rating.0 >= 1,
        "some switch budget binds: {sum}"
    );
}

#[test]
fn sensor_hubs_pool_their_nodes_panels_and_batteries() {
    let f = build(ScenarioKind::SensorField, &opts(60, 1, 1));
    assert_eq!(f.budgets.len(), 3);
    for (hub, b) in &f.budgets {
        let BudgetSource::SolarBattery(s) = b else {
            panic!("{hub}")
        };
        let nodes: Vec<_> = f.devices.iter().filter(|d| &d.circuit == hub).collect();
        let max: i64 = nodes
            .iter()
            .map(|d| match d.kind {
                SimKind::Elastic { max_mw, .. } => max_mw,
                _ => panic!("a node is elastic"),
            })
            .sum();
        assert_eq!(s.inverter_mw, max, "{hub}");
        assert_eq!(s.battery_mwh, 7_400 * nodes.len() as i64);
    }
    let relays: Vec<_> = f
        .devices
        .iter()
        .filter(|d| d.priority == Priority::Critical)
        .collect();
    for r in relays {
        let SimKind::Elastic { min_mw, max_mw, .. } = r.kind else {
            panic!()
        };
        assert!(min_mw * 2 > max_mw / 2, "relays keep half duty: {}", r.id);
    }
}

#[test]
fn options_out_of_range_are_refused_with_a_reason() {
    let lib = samples();
    let e = |r: Result<Fleet, DataError>| r.map(|_| ()).unwrap_err().to_string();
    assert!(e(neighbourhood(lib, &opts(0, 1, 1))).contains("devices"));
    let o = BuildOptions {
        slot_minutes: Some(7),
        ..opts(10, 1, 1)
    };
    assert!(e(neighbourhood(lib, &o)).contains("slot minutes"));
    assert!(e(sensor_field(lib, &opts(10, 0, 1))).contains("days"));
    let long = e(neighbourhood(lib, &opts(10, 40, 1)));
    assert!(long.contains("use a data directory"), "{long}");
    let none = e(neighbourhood(&Library::default(), &opts(10, 1, 1)));
    assert!(none.contains("household load"), "{none}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_size_and_seed_gives_a_valid_fleet(
        kind in 0usize..3,
        devices in 1usize..120,
        days in 1u32..4,
        seed in any::<u64>(),
    ) {
        let f = build(ScenarioKind::ALL[kind], &opts(devices, days, seed));
        prop_assert_eq!(f.devices.len(), devices);
        assert_valid(&f);
    }
}

#[test]
fn the_uncoordinated_load_of_a_run_cut_short_stops_where_the_run_does() {
    // A car plugged in at slot 2 until slot 10, 3 kWh at up to 7 kW on 15-minute slots,
    // measured over the first 3 slots only (a demo stopped early): no panic, and the car at
    // full power in the one slot that is inside.
    let kind = SimKind::Jobs(vec![powerslot_sim::fleet::model::SimJob {
        arrival: 2,
        earliest: 2,
        deadline: 10,
        accept_until: 10,
        work: powerslot_sim::fleet::model::Work::Energy {
            energy_mwh: 3_000_000,
            min_mw: 1_400_000,
            max_mw: 7_000_000,
        },
    }]);
    assert_eq!(uncoordinated_mw(&kind, 3, 900_000), vec![0, 0, 7_000_000]);
    // 1.75 kWh per slot at 7 kW: 1.75, then the 1.25 kWh left.
    assert_eq!(
        uncoordinated_mw(&kind, 6, 900_000),
        vec![0, 0, 7_000_000, 5_000_000, 0, 0]
    );
}
