//! A capacity that ends in a held value below some demand: planners must stop and
//! say so, and still find the schedule when one fits before the capacity runs out.

use powerslot_core::{Instance, formats::native};
use powerslot_plan::{
    AcoParams, Options, PlanError, PriorityRule, QueueMethod, Scheme, Solver, solve,
};

fn solvers() -> Vec<Solver> {
    vec![
        Solver::Queue(QueueMethod::Simple),
        Solver::Queue(QueueMethod::DescendingDuration),
        Solver::Rule {
            scheme: Scheme::Serial,
            rule: PriorityRule::Lft,
        },
        Solver::Rule {
            scheme: Scheme::Parallel,
            rule: PriorityRule::Random,
        },
        Solver::AcoPaper(AcoParams {
            ants: 5,
            iterations: 5,
            ..AcoParams::default()
        }),
        Solver::Best,
    ]
}

fn opts() -> Options {
    Options {
        schedules: Some(200),
        ..Options::default()
    }
}

#[test]
fn impossible_packing_is_reported_not_searched_forever() {
    let json = r#"{"capacity_mw": [5000, 5000, 1000], "devices": [
        {"id": "a", "power_mw": 5000, "duration_slots": 2},
        {"id": "b", "power_mw": 5000, "duration_slots": 2}]}"#;
    let inst = Instance::new(native::parse(json, "runout").unwrap()).unwrap();
    for solver in solvers() {
        match solve(&inst, &solver, &opts()) {
            Err(e @ PlanError::CapacityRunsOut { from, .. }) => {
                // The capacity drops to 1 W at slot 2, and the message says so.
                assert_eq!(from, 2, "{}", solver.name());
                assert!(
                    e.to_string()
                        .contains("from slot 2 on, power holds at 1000 mW"),
                    "{e}"
                );
            }
            other => panic!("{}: expected CapacityRunsOut, got {other:?}", solver.name()),
        }
    }
}

#[test]
fn a_schedule_that_fits_before_the_run_out_is_found() {
    let json = r#"{"capacity_mw": [5000, 5000, 5000, 5000, 1000], "devices": [
        {"id": "a", "power_mw": 5000, "duration_slots": 2},
        {"id": "b", "power_mw": 5000, "duration_slots": 2},
        {"id": "c", "power_mw": 500, "duration_slots": 6}]}"#;
    let inst = Instance::new(native::parse(json, "fits").unwrap()).unwrap();
    let sol = solve(&inst, &Solver::Best, &opts()).unwrap();
    assert_eq!(sol.makespan, 10);
}

#[test]
fn open_ended_search_needs_a_limit() {
    let json =
        r#"{"capacity_mw": 5, "devices": [{"id": "a", "power_mw": 1, "duration_slots": 1}]}"#;
    let inst = Instance::new(native::parse(json, "x").unwrap()).unwrap();
    let unlimited = Options {
        schedules: None,
        time_limit: None,
        ..Options::default()
    };
    assert!(matches!(
        solve(&inst, &Solver::Best, &unlimited),
        Err(PlanError::BadOption(_))
    ));
    assert!(solve(&inst, &Solver::Queue(QueueMethod::Simple), &unlimited).is_ok());
}

#[test]
fn a_repeating_tail_too_low_for_a_task_ends_too() {
    // 5 W for the first two slots, then a pattern of 1 W and 0 W: only one of the
    // two 5 W devices fits, and the planners must say so instead of searching the
    // repeating tail for ever.
    let json = r#"{"capacity_mw": {"values": [5000, 5000, 1000, 0], "after": "repeat", "period": 2},
        "devices": [
        {"id": "a", "power_mw": 5000, "duration_slots": 2},
        {"id": "b", "power_mw": 5000, "duration_slots": 2}]}"#;
    let inst = Instance::new(native::parse(json, "repeat").unwrap()).unwrap();
    for solver in solvers() {
        match solve(&inst, &solver, &opts()) {
            Err(e @ PlanError::CapacityRunsOut { from, .. }) => {
                assert_eq!(from, 2, "{}", solver.name());
                assert!(e.to_string().contains("repeats a pattern"), "{e}");
            }
            other => panic!("{}: expected CapacityRunsOut, got {other:?}", solver.name()),
        }
    }
}

/// `devices` devices of 3 W under capacity that offers 5 W in one slot of every million.
fn once_per_million(devices: usize) -> Instance {
    let mut values = vec![0i64; 1_000_000];
    values[0] = 5000;
    let devices: Vec<String> = (0..devices)
        .map(|i| format!(r#"{{"id": "d{i}", "power_mw": 3000, "duration_slots": 1}}"#))
        .collect();
    let json = format!(
        r#"{{"capacity_mw": {{"values": {values:?}, "after": "repeat"}}, "devices": [{}]}}"#,
        devices.join(",")
    );
    Instance::new(native::parse(&json, "sparse").unwrap()).unwrap()
}

#[test]
fn capacity_that_leaves_no_room_within_the_horizon_is_an_error_not_a_hang() {
    // The twentieth device would start past the longest supported horizon.
    let few = Options {
        schedules: Some(10),
        ..Options::default()
    };
    let e = solve(&once_per_million(20), &Solver::Best, &few).unwrap_err();
    assert!(matches!(e, PlanError::HorizonExceeded { .. }), "{e}");
    assert!(e.to_string().contains("4,194,304"), "{e}");
    // Four devices fit within it, one per million slots.
    let sol = solve(&once_per_million(4), &Solver::Best, &few).unwrap();
    assert_eq!(sol.makespan, 3_000_001);
}
