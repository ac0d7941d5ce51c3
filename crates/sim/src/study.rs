//! The paper's comparison (its Table 2), rerun: every scenario, every method,
//! many seeds, in parallel, with paired differences against the ACO.

use std::time::Duration;

use powerslot_core::{Instance, Schedule, Slot};
use powerslot_plan::{AcoParams, Options, QueueMethod, Solver, solve};
use rayon::prelude::*;
use serde::Serialize;

use crate::SimError;
use crate::params::ScenarioParams;
use crate::scenario::{Scenario, derive_seed, generate};
use crate::stats;

/// A planner compared in the study.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The paper's Simple Queue.
    SimpleQueue,
    /// The paper's Descending Duration queue.
    DescendingDuration,
    /// The paper's Descending Chain Duration queue.
    DescendingChain,
    /// The paper's ACO with [`StudyConfig::aco_iterations`] iterations.
    Aco,
    /// The paper's ACO with [`StudyConfig::aco_long_iterations`] iterations (the
    /// paper's reference for Descending Chain Duration with precedence).
    AcoLong,
    /// The project's best planner with [`StudyConfig::best_schedules`] schedules.
    Best,
}

impl Method {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::SimpleQueue => "Simple Queue",
            Method::DescendingDuration => "Descending Duration",
            Method::DescendingChain => "Descending Chain Duration",
            Method::Aco => "ACO (paper)",
            Method::AcoLong => "ACO (paper, long)",
            Method::Best => "Best planner",
        }
    }

    /// Short name for files.
    pub fn slug(self) -> &'static str {
        match self {
            Method::SimpleQueue => "simple-queue",
            Method::DescendingDuration => "descending-duration",
            Method::DescendingChain => "descending-chain",
            Method::Aco => "aco",
            Method::AcoLong => "aco-long",
            Method::Best => "best",
        }
    }

    /// The methods run on `scenario`: the long ACO only where the paper used it.
    pub fn for_scenario(scenario: Scenario) -> Vec<Method> {
        let mut m = vec![
            Method::SimpleQueue,
            Method::DescendingDuration,
            Method::DescendingChain,
            Method::Aco,
        ];
        if scenario == Scenario::WithPrecedence {
            m.push(Method::AcoLong);
        }
        m.push(Method::Best);
        m
    }

    /// The ACO a method is compared with on `scenario` (`None` for the ACOs
    /// themselves). As in the paper, Descending Chain Duration with precedence
    /// faces the long ACO; the best planner faces the strongest ACO run.
    pub fn reference(self, scenario: Scenario) -> Option<Method> {
        let long = scenario == Scenario::WithPrecedence;
        match self {
            Method::Aco | Method::AcoLong => None,
            Method::DescendingChain | Method::Best if long => Some(Method::AcoLong),
            _ => Some(Method::Aco),
        }
    }

    fn stream(self) -> u64 {
        match self {
            Method::SimpleQueue => 10,
            Method::DescendingDuration => 11,
            Method::DescendingChain => 12,
            Method::Aco => 13,
            Method::AcoLong => 14,
            Method::Best => 15,
        }
    }
}

/// The paper's Table 2: minutes of `method` minus ACO on `scenario` (`None`
/// where the paper has no entry).
pub fn paper_delta_min(scenario: Scenario, method: Method) -> Option<f64> {
    let col = match scenario {
        Scenario::Standard => 0,
        Scenario::WithPrecedence => 1,
        Scenario::Strict => 2,
    };
    let row: [Option<f64>; 3] = match method {
        Method::SimpleQueue => [Some(154.2), Some(265.3), Some(123.9)],
        Method::DescendingDuration => [Some(6.5), Some(192.2), Some(85.4)],
        Method::DescendingChain => [None, Some(2.1), Some(33.2)],
        _ => [None; 3],
    };
    row[col]
}

/// What to run.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyConfig {
    /// Scenario parameters (curves, devices, slot length).
    pub params: ScenarioParams,
    /// Number of seeds (the paper used 100).
    pub runs: usize,
    /// Seed of run 0; run `r` uses `seed + r`.
    pub seed: u64,
    /// Ants per ACO iteration.
    pub ants: usize,
    /// ACO iterations (the paper: 15).
    pub aco_iterations: usize,
    /// ACO iterations against Descending Chain Duration with precedence (the paper: 100).
    pub aco_long_iterations: usize,
    /// Schedules the best planner may generate per instance.
    pub best_schedules: u64,
    /// Worker threads over runs (each solve itself is single-threaded).
    pub threads: usize,
}

impl Default for StudyConfig {
    fn default() -> Self {
        Self {
            params: ScenarioParams::default(),
            runs: 100,
            seed: 1,
            ants: 10,
            aco_iterations: 15,
            aco_long_iterations: 100,
            best_schedules: 5_000,
            threads: 1,
        }
    }
}

impl StudyConfig {
    /// The planner and options used for `method` in a run with `run_seed`.
    pub fn solver(&self, method: Method, run_seed: u64) -> (Solver, Options) {
        let aco = |iterations| {
            Solver::AcoPaper(AcoParams {
                ants: self.ants,
                iterations,
                ..AcoParams::default()
            })
        };
        let (solver, schedules) = match method {
            Method::SimpleQueue => (Solver::Queue(QueueMethod::Simple), Some(1)),
            Method::DescendingDuration => (Solver::Queue(QueueMethod::DescendingDuration), Some(1)),
            Method::DescendingChain => (Solver::Queue(QueueMethod::DescendingChain), Some(1)),
            // The iteration count is the ACO's limit, as in the paper.
            Method::Aco => (aco(self.aco_iterations), None),
            Method::AcoLong => (aco(self.aco_long_iterations), None),
            Method::Best => (Solver::Best, Some(self.best_schedules)),
        };
        let opts = Options {
            schedules,
            time_limit: None,
            seed: derive_seed(run_seed, method.stream()),
            threads: 1,
        };
        (solver, opts)
    }
}

/// One method's result on one instance.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodRun {
    /// The method.
    pub method: Method,
    /// The validated schedule.
    pub schedule: Schedule,
    /// Its makespan in slots.
    pub makespan: Slot,
    /// Wall-clock time of the solve.
    pub elapsed: Duration,
}

/// All methods on one scenario of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioRun {
    /// Run number (0-based).
    pub run: usize,
    /// The run's seed.
    pub seed: u64,
    /// The scenario.
    pub scenario: Scenario,
    /// The generated instance.
    pub instance: Instance,
    /// The strongest lower bound on the optimal makespan, slots.
    pub lower_bound: Slot,
    /// One entry per method of [`Method::for_scenario`].
    pub methods: Vec<MethodRun>,
}

impl ScenarioRun {
    /// The result of `method`, if it was run.
    pub fn get(&self, method: Method) -> Option<&MethodRun> {
        self.methods.iter().find(|m| m.method == method)
    }
}

/// Generates and solves one scenario of one run with every method.
pub fn run_one(cfg: &StudyConfig, run: usize, scenario: Scenario) -> Result<ScenarioRun, SimError> {
    let seed = cfg.seed.wrapping_add(run as u64);
    let instance = generate(scenario, &cfg.params, seed)?;
    let mut lower_bound = 0;
    let mut methods = Vec::new();
    for method in Method::for_scenario(scenario) {
        let (solver, opts) = cfg.solver(method, seed);
        let sol = solve(&instance, &solver, &opts).map_err(|source| SimError::Plan {
            instance: instance.name().to_string(),
            method: method.name(),
            source: Box::new(source),
        })?;
        lower_bound = lower_bound.max(sol.bounds.best());
        methods.push(MethodRun {
            method,
            makespan: sol.makespan,
            schedule: sol.schedule,
            elapsed: sol.elapsed,
        });
    }
    Ok(ScenarioRun {
        run,
        seed,
        scenario,
        instance,
        lower_bound,
        methods,
    })
}

/// Every run of every scenario, ordered by run, then scenario.
#[derive(Clone, Debug)]
pub struct Study {
    /// What was run.
    pub config: StudyConfig,
    /// The results; only run 0 keeps its instances and schedules (for figures).
    pub runs: Vec<ScenarioRun>,
}

/// Runs the study on a pool of `cfg.threads` threads, calling `progress` after
/// each (run, scenario). Results do not depend on the thread count.
pub fn run_study(cfg: &StudyConfig, progress: &(dyn Fn() + Sync)) -> Result<Study, SimError> {
    if cfg.runs == 0 || cfg.threads == 0 || cfg.ants == 0 {
        return Err(SimError::BadParameter(
            "runs, threads and ants must be at least 1".into(),
        ));
    }
    if cfg.aco_iterations == 0 || cfg.aco_long_iterations == 0 || cfg.best_schedules == 0 {
        return Err(SimError::BadParameter(
            "ACO iterations and best-planner schedules must be at least 1".into(),
        ));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()
        .map_err(|e| SimError::ThreadPool(e.to_string()))?;
    let jobs: Vec<(usize, Scenario)> = (0..cfg.runs)
        .flat_map(|r| Scenario::ALL.map(|s| (r, s)))
        .collect();
    let runs = pool.install(|| {
        jobs.par_iter()
            .map(|&(r, s)| {
                let mut out = run_one(cfg, r, s)?;
                if r > 0 {
                    // Keep memory flat over 100 runs: later runs only need makespans.
                    for m in &mut out.methods {
                        m.schedule = Schedule::default();
                    }
                }
                progress();
                Ok(out)
            })
            .collect::<Result<Vec<_>, SimError>>()
    })?;
    Ok(Study {
        config: cfg.clone(),
        runs,
    })
}

/// One row of the reproduced Table 2.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MethodSummary {
    /// Method name.
    pub name: String,
    /// The ACO it is compared with (`null` for the ACOs).
    pub vs: Option<String>,
    /// Mean makespan, minutes.
    pub mean_makespan_min: f64,
    /// Mean of (method − reference ACO), minutes.
    pub delta_vs_aco_mean_min: Option<f64>,
    /// Half-width of the 95 % t-interval of the paired differences, minutes
    /// (the interval is mean ± this).
    pub delta_vs_aco_ci95_min: Option<f64>,
    /// The paper's Table 2 entry, minutes.
    pub paper_delta_min: Option<f64>,
    /// Whether the reproduced mean has the paper's sign.
    pub sign_matches: Option<bool>,
    /// Mean wall-clock seconds per solve.
    pub mean_elapsed_s: f64,
}

/// One scenario (column) of the reproduced Table 2.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScenarioSummary {
    /// Scenario name.
    pub name: String,
    /// Number of runs.
    pub runs: usize,
    /// Mean lower bound, minutes.
    pub lower_bound_mean_min: f64,
    /// One entry per method.
    pub methods: Vec<MethodSummary>,
    /// Mean over runs of (best − lower bound) / lower bound, percent.
    pub best_gap_to_lower_bound_pct: f64,
}

/// The reproduced Table 2.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Table {
    /// One entry per scenario, in the paper's column order.
    pub scenarios: Vec<ScenarioSummary>,
}

/// Aggregates a study into the reproduced Table 2.
pub fn summarize(study: &Study) -> Table {
    let minutes = f64::from(study.config.params.slot_minutes);
    let scenarios = Scenario::ALL
        .iter()
        .map(|&scenario| {
            let runs: Vec<&ScenarioRun> = study
                .runs
                .iter()
                .filter(|r| r.scenario == scenario)
                .collect();
            let of = |m: Method| -> Vec<f64> {
                runs.iter()
                    .filter_map(|r| r.get(m))
                    .map(|x| f64::from(x.makespan) * minutes)
                    .collect()
            };
            let methods = Method::for_scenario(scenario)
                .into_iter()
                .map(|method| {
                    let values = of(method);
                    let elapsed: Vec<f64> = runs
                        .iter()
                        .filter_map(|r| r.get(method))
                        .map(|x| x.elapsed.as_secs_f64())
                        .collect();
                    let reference = method.reference(scenario);
                    let deltas: Option<Vec<f64>> =
                        reference.map(|rm| values.iter().zip(of(rm)).map(|(a, b)| a - b).collect());
                    let delta_mean = deltas.as_deref().map(stats::mean);
                    let paper = paper_delta_min(scenario, method);
                    MethodSummary {
                        name: method.name().to_string(),
                        vs: reference.map(|r| r.name().to_string()),
                        mean_makespan_min: stats::mean(&values),
                        delta_vs_aco_mean_min: delta_mean,
                        delta_vs_aco_ci95_min: deltas.as_deref().map(stats::ci95_half_width),
                        paper_delta_min: paper,
                        sign_matches: paper.zip(delta_mean).map(|(p, d)| (p > 0.0) == (d > 0.0)),
                        mean_elapsed_s: stats::mean(&elapsed),
                    }
                })
                .collect();
            let gaps: Vec<f64> = runs
                .iter()
                .filter_map(|r| {
                    let best = f64::from(r.get(Method::Best)?.makespan);
                    let lb = f64::from(r.lower_bound.max(1));
                    Some(100.0 * (best - lb) / lb)
                })
                .collect();
            ScenarioSummary {
                name: scenario.name().to_string(),
                runs: runs.len(),
                lower_bound_mean_min: stats::mean(
                    &runs
                        .iter()
                        .map(|r| f64::from(r.lower_bound) * minutes)
                        .collect::<Vec<_>>(),
                ),
                methods,
                best_gap_to_lower_bound_pct: stats::mean(&gaps),
            }
        })
        .collect();
    Table { scenarios }
}
