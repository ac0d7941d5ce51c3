//! The validation case and a tiny rerun of the study.

use powerslot_core::validate;
use powerslot_plan::{Options, Problem, QueueMethod, Solver, exact, solve};
use powerslot_sim::study::{Method, StudyConfig, run_study, summarize};
use powerslot_sim::validation::{aco_convergence, brute_force_optimum, validation_instance};
use powerslot_sim::{Scenario, ScenarioParams};

#[test]
fn validation_optimum_is_confirmed_by_exact_search() {
    let inst = validation_instance();
    let (opt, schedule) = brute_force_optimum(&inst).unwrap();
    validate(&inst, &schedule).unwrap();
    assert_eq!(schedule.makespan(&inst), opt);
    assert_eq!(opt, 11);
    for q in [QueueMethod::Simple, QueueMethod::DescendingDuration] {
        let sol = solve(&inst, &Solver::Queue(q), &Options::default()).unwrap();
        assert!(
            sol.makespan > opt,
            "{q:?} is not expected to find the optimum"
        );
    }
    let exact = exact::optimum(&Problem::new(&inst), 10_000_000).expect("small enough");
    assert_eq!(exact.makespan, opt);
}

#[test]
fn aco_with_five_ants_finds_the_optimum_within_five_iterations() {
    let inst = validation_instance();
    let (opt, _) = brute_force_optimum(&inst).unwrap();
    for seed in 1..=5 {
        let conv = aco_convergence(&inst, 5, 5, seed).unwrap();
        assert_eq!(conv.len(), 5);
        let (_, best, schedule) = conv.last().unwrap();
        validate(&inst, schedule).unwrap();
        assert_eq!(*best, opt, "seed {seed}: {conv:?}");
    }
}

#[test]
fn tiny_study_is_valid_and_independent_of_threads() {
    let cfg = StudyConfig {
        params: ScenarioParams {
            standard_devices: 12,
            precedence_devices: 12,
            strict_devices: 10,
            slot_minutes: 15,
            ..ScenarioParams::default()
        },
        runs: 2,
        seed: 5,
        ants: 3,
        aco_iterations: 2,
        aco_long_iterations: 3,
        best_schedules: 60,
        threads: 1,
    };
    let count = std::sync::atomic::AtomicUsize::new(0);
    let study = run_study(&cfg, &|| {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(count.into_inner(), 6);
    assert_eq!(study.runs.len(), 6);
    for r in study.runs.iter().filter(|r| r.run == 0) {
        assert_eq!(r.methods.len(), Method::for_scenario(r.scenario).len());
        for m in &r.methods {
            validate(&r.instance, &m.schedule).unwrap();
            assert_eq!(m.schedule.makespan(&r.instance), m.makespan);
            assert!(
                m.makespan >= r.lower_bound,
                "{:?} below the bound",
                m.method
            );
        }
    }
    let table = summarize(&study);
    assert_eq!(table.scenarios.len(), 3);
    let prec = &table.scenarios[1];
    assert_eq!(prec.name, "with-precedence");
    let dcd = prec
        .methods
        .iter()
        .find(|m| m.name == Method::DescendingChain.name())
        .unwrap();
    assert_eq!(dcd.vs.as_deref(), Some(Method::AcoLong.name()));
    assert_eq!(dcd.paper_delta_min, Some(2.1));
    let two = run_study(&StudyConfig { threads: 2, ..cfg }, &|| {}).unwrap();
    let makespans = |s: &powerslot_sim::Study| -> Vec<u32> {
        s.runs
            .iter()
            .flat_map(|r| r.methods.iter().map(|m| m.makespan))
            .collect()
    };
    assert_eq!(makespans(&study), makespans(&two));
    assert!(
        Scenario::ALL
            .iter()
            .all(|s| two.runs.iter().any(|r| r.scenario == *s))
    );
}

#[test]
fn study_rejects_zero_runs() {
    let cfg = StudyConfig {
        runs: 0,
        ..StudyConfig::default()
    };
    assert!(run_study(&cfg, &|| {}).is_err());
}
