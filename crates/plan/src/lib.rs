//! # powerslot-plan
//!
//! Offline planners for [`powerslot_core`] instances: which slot each task starts
//! in, so that all tasks finish as early as possible inside capacity that may
//! change slot by slot (a power budget curve minus a baseline load, or PSPLIB's
//! constant resources).
//!
//! * [`queue`] — the paper's three queue methods (seed 001): Simple Queue,
//!   Descending Duration, Descending Chain Duration.
//! * [`rules`] — serial and parallel schedule generation schemes with the classic
//!   priority rules (LFT, LST, MTS, GRPW, random sampling).
//! * [`aco`] — the paper's ant colony optimisation, exactly as written.
//! * [`ga`] — the project's best planner, a genetic algorithm with double
//!   justification, multi-threaded with rayon.
//! * [`bounds`] — lower bounds (critical path, resource energy, cumulative with
//!   time-varying capacity); every [`Solution`] carries them.
//! * [`exact`] — branch and bound for small instances (the reference in tests).
//! * [`serial`] and [`parallel`] — the two schedule generation schemes every
//!   planner builds on; [`benchmark`] — per-set summaries against published bounds.
//!
//! Every planner is deterministic for a given seed and thread count and stops at
//! a schedule limit or a time limit with the best schedule so far. [`solve`]
//! validates every schedule before returning it.
//!
//! ```
//! use powerslot_core::formats::native;
//! use powerslot_core::Instance;
//! use powerslot_plan::{solve, Options, Solver};
//!
//! let json = r#"{"capacity_mw": 5000,
//!   "devices": [{"id": "a", "power_mw": 3000, "duration_slots": 2},
//!               {"id": "b", "power_mw": 3000, "duration_slots": 2},
//!               {"id": "c", "power_mw": 2000, "duration_slots": 4}]}"#;
//! let inst = Instance::new(native::parse(json, "tiny").unwrap()).unwrap();
//! let sol = solve(&inst, &Solver::Best, &Options::default()).unwrap();
//! assert_eq!(sol.makespan, 4); // a then b beside c
//! assert!(sol.makespan >= sol.bounds.best());
//! ```

pub mod aco;
pub mod benchmark;
pub mod bounds;
pub mod budget;
pub mod exact;
pub mod ga;
pub mod parallel;
pub mod problem;
pub mod queue;
pub mod resources;
pub mod rules;
pub mod serial;
#[cfg(test)]
mod test_support;

use std::time::{Duration, Instant};

use powerslot_core::{Instance, Schedule, Slot, Violation, validate};

pub use aco::AcoParams;
pub use bounds::Bounds;
pub use budget::Budget;
pub use problem::Problem;
pub use queue::QueueMethod;
pub use rules::{PriorityRule, Scheme};

/// Which planner to run.
#[derive(Clone, Debug, PartialEq)]
pub enum Solver {
    /// One of the paper's queue methods (one schedule).
    Queue(QueueMethod),
    /// A schedule generation scheme with a priority rule (random sampling draws
    /// schedules until the limit; deterministic rules make one).
    Rule {
        /// Serial or parallel scheme.
        scheme: Scheme,
        /// The priority rule.
        rule: PriorityRule,
    },
    /// The paper's ant colony optimisation.
    AcoPaper(AcoParams),
    /// The project's best planner.
    Best,
}

impl Solver {
    /// The name used on the command line and in reports.
    pub fn name(&self) -> String {
        match self {
            Solver::Queue(q) => q.name().to_string(),
            Solver::Rule { scheme, rule } => format!("sgs-{}-{}", scheme.name(), rule.name()),
            Solver::AcoPaper(_) => "aco-paper".into(),
            Solver::Best => "best".into(),
        }
    }
}

/// Limits, seed and threads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Stop after this many schedules (each forward or backward pass counts one).
    pub schedules: Option<u64>,
    /// Stop after this much wall-clock time.
    pub time_limit: Option<Duration>,
    /// Seed for every random choice.
    pub seed: u64,
    /// Worker threads (1 = run on the calling thread).
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            schedules: Some(5_000),
            time_limit: None,
            seed: 1,
            threads: 1,
        }
    }
}

/// A validated schedule with its bounds and effort.
#[derive(Clone, Debug, PartialEq)]
pub struct Solution {
    /// Start slot per task.
    pub schedule: Schedule,
    /// Its makespan in slots.
    pub makespan: Slot,
    /// Lower bounds on the optimal makespan.
    pub bounds: Bounds,
    /// Complete schedules generated.
    pub schedules: u64,
    /// Wall-clock time spent.
    pub elapsed: Duration,
}

impl Solution {
    /// Whether the makespan equals a lower bound, i.e. is optimal.
    pub fn proven_optimal(&self) -> bool {
        self.makespan <= self.bounds.best()
    }
}

/// Why planning failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A planner produced a schedule the validator rejects. This is a defect in
    /// powerslot, never in the input; the violation says where.
    #[error(
        "planner {solver} produced an infeasible schedule for {instance}: {violation} (please report this)"
    )]
    Infeasible {
        /// The planner.
        solver: String,
        /// The instance.
        instance: String,
        /// What the validator found.
        violation: Violation,
    },
    /// A task misses its deadline in the best schedule found.
    #[error("no schedule meeting every deadline was found for {instance}: {violation}")]
    DeadlineMissed {
        /// The instance.
        instance: String,
        /// The first missed deadline.
        violation: Violation,
    },
    /// The capacity's tail is too low for some task after a slot, and no schedule
    /// was found that finishes those tasks before it.
    #[error(
        "no schedule found for {instance} that fits the capacity: from slot {from} on, {resource} {tail}, too little for some task, and the best schedule found still needs more ({violation})"
    )]
    CapacityRunsOut {
        /// The instance.
        instance: String,
        /// The resource.
        resource: String,
        /// First slot of the low tail.
        from: Slot,
        /// The tail described, e.g. `holds at 1000 mW`.
        tail: String,
        /// The first slot where the best schedule exceeds it.
        violation: Box<Violation>,
    },
    /// Every schedule found runs past the longest horizon the planners keep
    /// (see `powerslot_core::limits`).
    #[error("no schedule found for {instance} within the longest supported horizon: {violation}")]
    HorizonExceeded {
        /// The instance.
        instance: String,
        /// The task that would finish past the horizon.
        violation: Violation,
    },
    /// The options make no sense (e.g. zero threads).
    #[error("invalid option: {0}")]
    BadOption(String),
}

/// Plans `inst` with `solver` under `opts`; the schedule is validated.
pub fn solve(inst: &Instance, solver: &Solver, opts: &Options) -> Result<Solution, PlanError> {
    if opts.threads == 0 {
        return Err(PlanError::BadOption("threads must be at least 1".into()));
    }
    if opts.schedules == Some(0) {
        return Err(PlanError::BadOption(
            "the schedule limit must be at least 1".into(),
        ));
    }
    // Rules keep sampling (regret-biased) while the budget lasts; ACO and queues are finite.
    let open_ended = matches!(solver, Solver::Best | Solver::Rule { .. });
    if open_ended && opts.schedules.is_none() && opts.time_limit.is_none() {
        return Err(PlanError::BadOption(format!(
            "{} searches until a limit: give a schedule limit or a time limit",
            solver.name()
        )));
    }
    let started = Instant::now();
    let p = Problem::new(inst);
    let bounds = bounds::compute(&p);
    let budget = Budget::new(opts.schedules, opts.time_limit);
    let starts = match solver {
        Solver::Queue(q) => queue::run(&p, *q, &budget),
        Solver::Rule { scheme, rule } => rules::run(&p, *scheme, *rule, &budget, opts.seed),
        Solver::AcoPaper(params) => aco::run(&p, params, &budget, opts.seed),
        Solver::Best => ga::run(&p, &budget, opts.seed, opts.threads, bounds.best()),
    };
    let schedule = Schedule::new(starts);
    if let Err(violation) = validate(inst, &schedule) {
        // A capacity violation past a run-out point comes from the lifted tail
        // (see `problem::RunOut`): no schedule within the real capacity was found.
        let run_out = match &violation {
            Violation::Capacity { resource, slot, .. } => inst
                .resources()
                .iter()
                .position(|r| &r.name == resource)
                .and_then(|k| p.run_out[k].filter(|r| *slot >= r.from).map(|r| (k, r))),
            _ => None,
        };
        return Err(match (violation, run_out) {
            (violation @ Violation::BeyondHorizon { .. }, _) => PlanError::HorizonExceeded {
                instance: inst.name().into(),
                violation,
            },
            (violation, Some((k, r))) => PlanError::CapacityRunsOut {
                instance: inst.name().into(),
                resource: inst.resources()[k].name.clone(),
                from: r.from,
                tail: if r.repeats {
                    format!(
                        "repeats a pattern of at most {} with no long enough window",
                        inst.resources()[k].fmt_amount(r.level)
                    )
                } else {
                    format!("holds at {}", inst.resources()[k].fmt_amount(r.level))
                },
                violation: Box::new(violation),
            },
            (violation @ Violation::AfterDeadline { .. }, None) => PlanError::DeadlineMissed {
                instance: inst.name().into(),
                violation,
            },
            (violation, None) => PlanError::Infeasible {
                solver: solver.name(),
                instance: inst.name().into(),
                violation,
            },
        });
    }
    Ok(Solution {
        makespan: schedule.makespan(inst),
        schedule,
        bounds,
        schedules: budget.used().max(1),
        elapsed: started.elapsed(),
    })
}
