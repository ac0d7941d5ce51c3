//! The generators: deterministic per seed, devices as the paper describes them,
//! curves as documented, native JSON round trip.

use powerslot_core::formats::native::{self, NativeInstance};
use powerslot_core::{Instance, Tail};
use powerslot_sim::curves::{self, Baseline};
use powerslot_sim::scenario::generate_with;
use powerslot_sim::{PaperCurves, Scenario, ScenarioParams, generate};
use proptest::prelude::*;

fn params() -> ScenarioParams {
    ScenarioParams::default()
}

#[test]
fn same_seed_same_instance_other_seed_other_devices() {
    let p = params();
    for s in Scenario::ALL {
        let a = generate(s, &p, 7).unwrap();
        assert_eq!(a, generate(s, &p, 7).unwrap(), "{s:?}");
        assert_ne!(a.tasks(), generate(s, &p, 8).unwrap().tasks(), "{s:?}");
    }
}

#[test]
fn scenario_sizes_and_chains() {
    let p = params();
    let std = generate(Scenario::Standard, &p, 1).unwrap();
    assert_eq!(std.len(), 200);
    assert!(std.tasks().iter().all(|t| t.predecessors.is_empty()));
    for s in [Scenario::WithPrecedence, Scenario::Strict] {
        let inst = generate(s, &p, 1).unwrap();
        assert_eq!(inst.len(), if s == Scenario::Strict { 100 } else { 200 });
        for (i, t) in inst.tasks().iter().enumerate() {
            // Two-element chains: every odd device follows the one before it, and
            // nothing follows an odd device.
            let expect: Vec<usize> = if i % 2 == 1 { vec![i - 1] } else { vec![] };
            assert_eq!(t.predecessors, expect, "{s:?} device {i}");
            assert_eq!(
                inst.successors(i).len(),
                usize::from(i % 2 == 0),
                "{s:?} {i}"
            );
        }
    }
}

#[test]
fn devices_follow_the_paper_distributions() {
    let p = params();
    let mut durations = Vec::new();
    let mut powers = Vec::new();
    for seed in 0..20 {
        let inst = generate(Scenario::Standard, &p, seed).unwrap();
        for t in inst.tasks() {
            durations.push(t.duration);
            powers.push(t.demand[0]);
        }
    }
    assert!(
        durations.iter().all(|&d| (60..360).contains(&d)),
        "1-6 h in minutes"
    );
    assert!(
        powers
            .iter()
            .all(|&w| (1_000_000..=10_000_000).contains(&w))
    );
    let n = durations.len() as f64;
    let share =
        |lo: u32, hi: u32| durations.iter().filter(|&&d| (lo..hi).contains(&d)).count() as f64 / n;
    // 4,000 draws: each share within ~4 standard errors of Table 1.
    for (lo, prob) in [(60, 0.35), (120, 0.25), (180, 0.2), (240, 0.1), (300, 0.1)] {
        let got = share(lo, lo + 60);
        assert!((got - prob).abs() < 0.035, "{lo} min: {got} vs {prob}");
    }
    let mean_kw = powers.iter().map(|&w| w as f64 / 1e6).sum::<f64>() / n;
    assert!((mean_kw - 5.5).abs() < 0.2, "mean power {mean_kw}");
}

#[test]
fn strict_devices_ninety_percent_at_a_tenth() {
    let p = params();
    for seed in 0..5 {
        let inst = generate(Scenario::Strict, &p, seed).unwrap();
        let small = inst
            .tasks()
            .iter()
            .filter(|t| t.demand[0] <= 1_000_000)
            .count();
        let large = inst
            .tasks()
            .iter()
            .filter(|t| t.demand[0] >= 1_000_000)
            .count();
        // 90 devices were divided by ten (at most 1 kW); the other 10 are 1-10 kW.
        assert!(small >= 90, "seed {seed}: {small} small devices");
        assert!(large >= 10, "seed {seed}: {large} large devices");
        assert!(inst.tasks().iter().all(|t| t.demand[0] >= 100_000));
    }
}

#[test]
fn curves_repeat_daily_and_capacity_is_budget_minus_baseline() {
    let p = params();
    for s in Scenario::ALL {
        let inst = generate(s, &p, 3).unwrap();
        let curves = inst
            .power_curves()
            .expect("paper instances keep their curves");
        let cap = &inst.resources()[0].capacity;
        assert_eq!(cap.tail(), Tail::Repeat);
        assert_eq!(cap.period(), 1440, "{s:?}: one day of one-minute slots");
        for slot in (0..3 * 1440).step_by(7) {
            let want = (curves.budget_mw.at(slot) - curves.baseline_mw.at(slot)).max(0);
            assert_eq!(cap.at(slot), want, "{s:?} slot {slot}");
            assert!(cap.at(slot) >= 0);
            assert_eq!(cap.at(slot), cap.at(slot + 1440));
        }
    }
}

#[test]
fn documented_levels() {
    let grid = curves::grid(1).unwrap();
    let c = PaperCurves::default();
    let std = curves::power_curves(&c, grid, Baseline::Standard);
    let kw = |v: i64| v as f64 / 1e6;
    // Maximum: 120 kW battery at night, 240 kW at noon.
    assert!((kw(std.budget_mw.at(3 * 60)) - 120.0).abs() < 1e-6);
    assert!((kw(std.budget_mw.max()) - 240.0).abs() < 0.01);
    // Baseline: 15-45 kW, peak at 10:30.
    assert!((kw(std.baseline_mw.max()) - 45.0).abs() < 0.01);
    assert!((kw(std.baseline_mw.min()) - 15.0).abs() < 0.01);
    let peak = (0..1440).max_by_key(|&s| std.baseline_mw.at(s)).unwrap();
    assert!((629..=631).contains(&peak), "baseline peaks at slot {peak}");
    // Strict: 6 kW left in the evening, baseline flat from 10:30 to midnight.
    let strict = curves::power_curves(&c, grid, Baseline::Strict);
    let cap = powerslot_core::CapacityProfile::difference(&strict.budget_mw, &strict.baseline_mw)
        .unwrap();
    assert!((kw(cap.min()) - 6.0).abs() < 0.01);
    assert_eq!(
        strict.baseline_mw.at(14 * 60),
        strict.baseline_mw.at(23 * 60)
    );
    assert!((kw(cap.at(20 * 60)) - 6.0).abs() < 0.01);
}

#[test]
fn coarser_slots_scale_durations() {
    let p = ScenarioParams {
        slot_minutes: 15,
        ..params()
    };
    let inst = generate(Scenario::Standard, &p, 1).unwrap();
    assert!(inst.tasks().iter().all(|t| (4..24).contains(&t.duration)));
    assert_eq!(inst.resources()[0].capacity.period(), 96);
    assert!(
        generate(
            Scenario::Standard,
            &ScenarioParams {
                slot_minutes: 7,
                ..params()
            },
            1
        )
        .is_err()
    );
}

#[test]
fn bad_levels_are_reported() {
    let mut p = params();
    p.curves.baseline_mean_kw = f64::NAN;
    let e = generate(Scenario::Standard, &p, 1).unwrap_err();
    assert!(e.to_string().contains("baseline_mean_kw"), "{e}");
    // A baseline above the maximum leaves no capacity: the instance cannot be built.
    let mut p = params();
    p.curves.baseline_mean_kw = 400.0;
    assert!(generate(Scenario::Standard, &p, 1).is_err());
}

#[test]
fn instances_round_trip_through_native_json() {
    let p = params();
    for s in Scenario::ALL {
        let inst = generate(s, &p, 11).unwrap();
        let json = serde_json::to_string(&NativeInstance::from_instance(&inst).unwrap()).unwrap();
        let back = Instance::new(native::parse(&json, "x").unwrap()).unwrap();
        assert_eq!(back, inst, "{s:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn any_seed_gives_schedulable_devices(seed in any::<u64>(), n in 1usize..40) {
        let p = params();
        for s in Scenario::ALL {
            let inst = generate_with(s, &p, n, seed).unwrap();
            prop_assert_eq!(inst.len(), n);
            let cap = &inst.resources()[0].capacity;
            prop_assert!(cap.min() >= 0);
            for t in inst.tasks() {
                prop_assert!(t.demand[0] > 0 && t.demand[0] <= cap.max());
            }
        }
    }
}
