//! Property tests on small random instances with capacity that changes slot by
//! slot, releases and precedence: every planner's schedule is feasible, every
//! bound is at most the exact optimum, and the best planner finds the optimum.

use powerslot_core::{
    CapacityProfile, Instance, InstanceSpec, Resource, ResourceUnit, Schedule, Tail, Task, TaskId,
    validate,
};
use powerslot_plan::{
    AcoParams, Options, PriorityRule, Problem, QueueMethod, Scheme, Solver, bounds, exact, solve,
};
use proptest::prelude::*;

/// One random task: duration, demand per resource (scaled to the capacity),
/// release, and which earlier tasks precede it.
type RawTask = (u32, Vec<i64>, u32, Vec<bool>);

fn build(caps: Vec<Vec<i64>>, repeat: bool, raw: Vec<RawTask>) -> Option<Instance> {
    let resources: Vec<Resource> = caps
        .into_iter()
        .enumerate()
        .map(|(k, mut values)| {
            // A held tail must carry every demand, or a greedy schedule could
            // leave a task with no slot at all (see the report on `Hold` tails).
            let tail = if repeat {
                Tail::Repeat
            } else {
                let max = *values.iter().max().expect("non-empty");
                values.push(max);
                Tail::Hold
            };
            Resource {
                name: format!("R{k}"),
                unit: ResourceUnit::Units,
                capacity: CapacityProfile::new(values, tail).expect("values are positive"),
            }
        })
        .collect();
    let tasks = raw
        .into_iter()
        .enumerate()
        .map(|(j, (duration, demand, release, preds))| Task {
            id: TaskId::Number(j as u32 + 1),
            duration,
            demand: demand
                .iter()
                .zip(&resources)
                .map(|(q, r)| q * r.capacity.max() / 8)
                .collect(),
            predecessors: (0..j).filter(|&i| preds[i]).collect(),
            release: release.saturating_sub(2),
            deadline: None,
        })
        .collect();
    Instance::new(InstanceSpec {
        name: "random".into(),
        resources,
        tasks,
        grid: None,
        power_curves: None,
    })
    .ok()
}

fn instances(max_tasks: usize) -> impl Strategy<Value = Instance> {
    (1..=max_tasks, 1usize..=2)
        .prop_flat_map(|(n, m)| {
            (
                prop::collection::vec(prop::collection::vec(2i64..=10, 1..=6), m),
                any::<bool>(),
                prop::collection::vec(
                    (
                        1u32..=4,
                        prop::collection::vec(0i64..=8, m),
                        0u32..=5,
                        prop::collection::vec(prop::bool::weighted(0.25), n),
                    ),
                    n,
                ),
            )
        })
        .prop_filter_map("the instance must be valid", |(caps, repeat, raw)| {
            build(caps, repeat, raw)
        })
}

fn all_solvers() -> Vec<Solver> {
    let mut s = vec![
        Solver::Queue(QueueMethod::Simple),
        Solver::Queue(QueueMethod::DescendingDuration),
        Solver::Queue(QueueMethod::DescendingChain),
        Solver::AcoPaper(AcoParams {
            ants: 5,
            iterations: 10,
            ..AcoParams::default()
        }),
        Solver::Best,
    ];
    for scheme in [Scheme::Serial, Scheme::Parallel] {
        for rule in [
            PriorityRule::Lft,
            PriorityRule::Lst,
            PriorityRule::Mts,
            PriorityRule::Grpw,
            PriorityRule::Random,
        ] {
            s.push(Solver::Rule { scheme, rule });
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_planner_is_feasible_and_never_beats_the_optimum(inst in instances(7), seed in 0u64..1000) {
        let p = Problem::new(&inst);
        let opt = exact::optimum(&p, 5_000_000).expect("small instances are solved exactly");
        prop_assert!(validate(&inst, &Schedule::new(opt.starts.clone())).is_ok());
        let opts = Options { schedules: Some(200), seed, ..Options::default() };
        for solver in all_solvers() {
            let sol = solve(&inst, &solver, &opts);
            prop_assert!(sol.is_ok(), "{}: {:?}", solver.name(), sol.err());
            let sol = sol.unwrap();
            prop_assert!(sol.makespan >= opt.makespan, "{} beat the optimum", solver.name());
            prop_assert!(sol.schedules <= 200, "{} used {} schedules", solver.name(), sol.schedules);
        }
    }

    #[test]
    fn every_bound_is_at_most_the_optimum(inst in instances(8)) {
        let p = Problem::new(&inst);
        let opt = exact::optimum(&p, 5_000_000).expect("small instances are solved exactly");
        let b = bounds::compute(&p);
        prop_assert!(b.critical_path <= opt.makespan, "critical path {b:?} > {}", opt.makespan);
        prop_assert!(b.resource <= opt.makespan, "resource {b:?} > {}", opt.makespan);
        prop_assert!(b.cumulative <= opt.makespan, "cumulative {b:?} > {}", opt.makespan);
    }

    /// Depends on the best planner (the genetic algorithm).
    #[test]
    fn best_finds_the_exact_optimum(inst in instances(8), seed in 0u64..1000) {
        let p = Problem::new(&inst);
        let opt = exact::optimum(&p, 5_000_000).expect("small instances are solved exactly");
        let sol = solve(&inst, &Solver::Best, &Options { seed, ..Options::default() }).unwrap();
        prop_assert_eq!(sol.makespan, opt.makespan);
    }
}

#[test]
fn exact_matches_brute_force_on_tiny_instances() {
    // Independent check of the branch and bound: try every start vector.
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(40));
    runner
        .run(&instances(4), |inst| {
            let p = Problem::new(&inst);
            let opt = exact::optimum(&p, 1_000_000).unwrap();
            let horizon = 14u32;
            let n = inst.len() as u32;
            let mut best = u32::MAX;
            for code in 0..horizon.pow(n) {
                let s: Vec<u32> = (0..n).map(|k| code / horizon.pow(k) % horizon).collect();
                if p.makespan(&s) < best && validate(&inst, &Schedule::new(s.clone())).is_ok() {
                    best = p.makespan(&s);
                }
            }
            // Every start of a schedule ending by the horizon is inside the window.
            prop_assert!(opt.makespan <= best);
            if opt.makespan <= horizon {
                prop_assert_eq!(opt.makespan, best);
            }
            Ok(())
        })
        .unwrap();
}
