//! The validation case (the paper's Figure 3): a problem small enough that its
//! optimum is found by enumeration, on which the paper's ACO with five ants
//! must find that optimum within five iterations.

use powerslot_core::{
    CapacityProfile, Instance, InstanceSpec, Milliwatts, Resource, ResourceUnit, Schedule, Slot,
    Tail, Task, TaskId, TimeGrid, validate,
};
use powerslot_plan::{AcoParams, Options, Problem, Solver, serial::SerialSgs, solve};

use crate::SimError;

/// Largest instance [`brute_force_optimum`] accepts (8! = 40,320 orders).
pub const BRUTE_FORCE_MAX_TASKS: usize = 8;

/// The validation problem: seven devices (kW, hours) in one-hour slots under a
/// capacity that repeats every 8 h — 6, 6, 8, 10, 10, 10, 8, 6 kW — a small
/// version of the paper's daily curve. The optimum is 11 h; Simple Queue
/// takes 13 h and Descending Duration 12 h, so greedy orders do not find it.
pub fn validation_instance() -> Instance {
    let devices: [(&str, f64, u32); 7] = [
        ("kettle", 4.0, 1),
        ("washer", 3.0, 4),
        ("ev-charger", 5.0, 4),
        ("heat-pump", 5.0, 4),
        ("oven", 4.0, 2),
        ("pool-pump", 2.0, 4),
        ("dishwasher", 2.0, 2),
    ];
    let capacity_kw = [6.0, 6.0, 8.0, 10.0, 10.0, 10.0, 8.0, 6.0];
    let tasks = devices
        .iter()
        .map(|&(id, kw, h)| Task {
            id: TaskId::Name(id.into()),
            duration: h,
            demand: vec![Milliwatts::from_kw(kw).0],
            predecessors: Vec::new(),
            release: 0,
            deadline: None,
        })
        .collect();
    let spec = InstanceSpec {
        name: "validation".into(),
        resources: vec![Resource {
            name: "power".into(),
            unit: ResourceUnit::Milliwatts,
            capacity: CapacityProfile::new(
                capacity_kw
                    .iter()
                    .map(|&kw| Milliwatts::from_kw(kw).0)
                    .collect(),
                Tail::Repeat,
            )
            .expect("non-negative capacity"),
        }],
        tasks,
        grid: Some(TimeGrid::minutes(60)),
        power_curves: None,
    };
    Instance::new(spec).expect("the validation case is well formed")
}

/// The optimal makespan and a schedule reaching it, by running the serial
/// schedule generation scheme on every precedence-feasible order: every
/// active schedule is the serial scheme's output for some order, and an
/// optimal schedule can always be left-shifted into an active one.
pub fn brute_force_optimum(inst: &Instance) -> Result<(Slot, Schedule), SimError> {
    let n = inst.len();
    if n > BRUTE_FORCE_MAX_TASKS {
        return Err(SimError::BadParameter(format!(
            "brute force handles at most {BRUTE_FORCE_MAX_TASKS} tasks, not {n}"
        )));
    }
    let p = Problem::new(inst);
    let mut sgs = SerialSgs::new(&p);
    let mut order: Vec<usize> = (0..n).collect();
    let mut best: Option<(Slot, Vec<Slot>)> = None;
    let mut visit = |order: &[usize], sgs: &mut SerialSgs| {
        let feasible = order
            .iter()
            .enumerate()
            .all(|(pos, &j)| p.preds[j].iter().all(|q| order[..pos].contains(q)));
        if !feasible {
            return;
        }
        let ms = sgs.forward(&p, order);
        if best.as_ref().is_none_or(|(b, _)| ms < *b) {
            best = Some((ms, sgs.starts.clone()));
        }
    };
    // Heap's algorithm, iterative.
    let mut c = vec![0usize; n];
    visit(&order, &mut sgs);
    let mut i = 0;
    while i < n {
        if c[i] < i {
            let k = if i % 2 == 0 { 0 } else { c[i] };
            order.swap(k, i);
            visit(&order, &mut sgs);
            c[i] += 1;
            i = 0;
        } else {
            c[i] = 0;
            i += 1;
        }
    }
    let (ms, starts) = best.unwrap_or_default();
    let schedule = Schedule::new(starts);
    debug_assert!(validate(inst, &schedule).is_ok());
    Ok((ms, schedule))
}

/// The paper's ACO on the validation case: best makespan after 1, 2, ...,
/// `iterations` iterations of `ants` ants (each a separate run with `seed`).
pub fn aco_convergence(
    inst: &Instance,
    ants: usize,
    iterations: usize,
    seed: u64,
) -> Result<Vec<(usize, Slot, Schedule)>, SimError> {
    (1..=iterations)
        .map(|it| {
            let solver = Solver::AcoPaper(AcoParams {
                ants,
                iterations: it,
                ..AcoParams::default()
            });
            let opts = Options {
                schedules: None,
                time_limit: None,
                seed,
                threads: 1,
            };
            let sol = solve(inst, &solver, &opts).map_err(|source| SimError::Plan {
                instance: inst.name().to_string(),
                method: "ACO (paper)",
                source: Box::new(source),
            })?;
            Ok((it, sol.makespan, sol.schedule))
        })
        .collect()
}
