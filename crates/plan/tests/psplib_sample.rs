//! A sample of the shared PSPLIB files: every planner's schedule is feasible,
//! no bound exceeds the known optimum, and the best planner reaches it.
//!
//! These tests read `../shared/data/psplib` (see the README, "Data"); without it they are
//! listed as ignored, with the reason (`build/shared_data.rs` decides).

use std::path::PathBuf;

use powerslot_core::read_instance;
use powerslot_plan::{AcoParams, Options, PriorityRule, QueueMethod, Scheme, Solver, solve};

fn data(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("POWERSLOT_DATA_DIR"), "/psplib")).join(rel)
}

/// Ten j30 instances spread over the parameter classes, with their optima.
fn j30_sample() -> Vec<(PathBuf, u32)> {
    let csv = std::fs::read_to_string(data("solutions/bounds.csv")).expect("bounds.csv");
    let wanted: Vec<String> = [1, 6, 11, 16, 21, 26, 31, 36, 41, 46]
        .iter()
        .enumerate()
        .map(|(i, par)| format!("j30{par}_{}", i + 1))
        .collect();
    let mut out = Vec::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if wanted.iter().any(|w| w == f[1]) {
            assert_eq!(f[8], "1", "{} is closed", f[1]);
            out.push((data(&format!("j30/{}.sm", f[1])), f[7].parse().unwrap()));
        }
    }
    assert_eq!(out.len(), wanted.len());
    out
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (see README: Data)")]
fn every_planner_is_feasible_and_bounds_hold_on_j30() {
    let solvers = [
        Solver::Queue(QueueMethod::Simple),
        Solver::Queue(QueueMethod::DescendingDuration),
        Solver::Queue(QueueMethod::DescendingChain),
        Solver::Rule {
            scheme: Scheme::Serial,
            rule: PriorityRule::Lft,
        },
        Solver::Rule {
            scheme: Scheme::Parallel,
            rule: PriorityRule::Random,
        },
        Solver::AcoPaper(AcoParams::default()),
    ];
    let opts = Options {
        schedules: Some(500),
        ..Options::default()
    };
    for (file, opt) in j30_sample() {
        let inst = read_instance(&file).unwrap();
        for solver in &solvers {
            let sol = solve(&inst, solver, &opts).unwrap();
            assert!(
                sol.makespan >= opt,
                "{}: {} below the optimum",
                inst.name(),
                solver.name()
            );
            assert!(
                sol.bounds.best() <= opt,
                "{}: bound {:?} above {opt}",
                inst.name(),
                sol.bounds
            );
        }
    }
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (see README: Data)")]
fn sampling_improves_on_the_single_rule() {
    let file = data("j30/j3013_1.sm");
    let inst = read_instance(&file).unwrap();
    let rule = Solver::Rule {
        scheme: Scheme::Serial,
        rule: PriorityRule::Lft,
    };
    let one = solve(
        &inst,
        &rule,
        &Options {
            schedules: Some(1),
            ..Options::default()
        },
    )
    .unwrap();
    let many = solve(
        &inst,
        &rule,
        &Options {
            schedules: Some(1000),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!((one.schedules, many.schedules), (1, 1000));
    assert!(many.makespan <= one.makespan);
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (see README: Data)")]
fn aco_is_feasible_on_j120() {
    let inst = read_instance(&data("j120/j12046_3.sm")).unwrap();
    let sol = solve(
        &inst,
        &Solver::AcoPaper(AcoParams::default()),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(sol.schedules, 150);
    assert!(sol.makespan >= sol.bounds.best());
}

/// Depends on the best planner (the genetic algorithm).
#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (see README: Data)")]
fn best_reaches_the_optimum_on_j30_at_5000_schedules() {
    for (file, opt) in j30_sample() {
        let inst = read_instance(&file).unwrap();
        let sol = solve(&inst, &Solver::Best, &Options::default()).unwrap();
        assert_eq!(sol.makespan, opt, "{}", inst.name());
        assert!(sol.schedules <= 5_000);
    }
}
