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
            Err(PlanError::CapacityRunsOut { from, .. }) => {
                assert_eq!(from, 3, "{}", solver.name())
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
