//! `powerslot plan`: plan one instance and print the schedule, as a summary or
//! as one JSON object.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use powerslot_core::{Instance, Slot, TaskId, read_instance};
use powerslot_plan::{AcoParams, Options, PriorityRule, QueueMethod, Scheme, Solution, Solver};
use serde::Serialize;

/// The planners on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SolverName {
    /// The paper's Simple Queue (generation order).
    SimpleQueue,
    /// The paper's Descending Duration queue.
    DescendingDuration,
    /// The paper's Descending Chain Duration queue.
    DescendingChain,
    /// A schedule generation scheme with a priority rule (see --scheme, --rule).
    Sgs,
    /// The paper's ant colony optimisation (see --ants ... --rho).
    AcoPaper,
    /// The project's best planner.
    Best,
}

/// Command-line form of [`Scheme`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SchemeName {
    /// Serial: task by task at the earliest feasible start.
    Serial,
    /// Parallel: slot by slot, starting eligible tasks while they fit.
    Parallel,
}

/// Command-line form of [`PriorityRule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum RuleName {
    /// Latest finish time.
    Lft,
    /// Latest start time.
    Lst,
    /// Most total successors.
    Mts,
    /// Greatest rank positional weight.
    Grpw,
    /// Random sampling.
    Random,
}

/// Longest `--time-limit`: 10⁷ s, so the deadline always fits the clock.
const MAX_TIME_LIMIT_S: f64 = 1e7;

/// Which planner to run and its limits (shared by `plan` and `bench`).
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct SolverArgs {
    /// The planner.
    #[arg(long, value_enum, default_value_t = SolverName::Best)]
    solver: SolverName,
    /// Schedule generation scheme for --solver sgs.
    #[arg(long, value_enum, default_value_t = SchemeName::Serial)]
    scheme: SchemeName,
    /// Priority rule for --solver sgs (deterministic rules make their one schedule
    /// first, then regret-based biased random sampling while the budget lasts).
    #[arg(long, value_enum, default_value_t = RuleName::Lft)]
    rule: RuleName,
    /// ACO: ants per iteration.
    #[arg(long, default_value_t = AcoParams::default().ants)]
    ants: usize,
    /// ACO: iterations [default: schedule limit / ants, or until the time limit].
    #[arg(long)]
    iterations: Option<usize>,
    /// ACO: pheromone weight α (eq. 1).
    #[arg(long, default_value_t = AcoParams::default().alpha)]
    alpha: f64,
    /// ACO: heuristic weight β (eq. 1).
    #[arg(long, default_value_t = AcoParams::default().beta)]
    beta: f64,
    /// ACO: evaporation rate ρ (eqs. 3, 4), between 0 and 1.
    #[arg(long, default_value_t = AcoParams::default().rho)]
    rho: f64,
    /// Stop after this many schedules (each forward or backward pass counts one)
    /// [default: 5000, or no limit when only --time-limit is given].
    #[arg(long)]
    schedules: Option<u64>,
    /// Stop after this many seconds (per instance).
    #[arg(long)]
    time_limit: Option<f64>,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl SolverArgs {
    /// The schedule limit in force.
    fn schedule_limit(&self) -> Option<u64> {
        match (self.schedules, self.time_limit) {
            (Some(n), _) => Some(n),
            (None, Some(_)) => None,
            (None, None) => Some(5_000),
        }
    }

    /// The planner described by the arguments.
    pub(crate) fn solver(&self) -> Result<Solver> {
        Ok(match self.solver {
            SolverName::SimpleQueue => Solver::Queue(QueueMethod::Simple),
            SolverName::DescendingDuration => Solver::Queue(QueueMethod::DescendingDuration),
            SolverName::DescendingChain => Solver::Queue(QueueMethod::DescendingChain),
            SolverName::Sgs => Solver::Rule {
                scheme: match self.scheme {
                    SchemeName::Serial => Scheme::Serial,
                    SchemeName::Parallel => Scheme::Parallel,
                },
                rule: match self.rule {
                    RuleName::Lft => PriorityRule::Lft,
                    RuleName::Lst => PriorityRule::Lst,
                    RuleName::Mts => PriorityRule::Mts,
                    RuleName::Grpw => PriorityRule::Grpw,
                    RuleName::Random => PriorityRule::Random,
                },
            },
            SolverName::AcoPaper => {
                super::in_range("--ants", self.ants, 1, 1_000_000)?;
                if !(self.rho > 0.0 && self.rho < 1.0) {
                    bail!(
                        "--rho must be between 0 and 1 (exclusive), got {}",
                        self.rho
                    );
                }
                super::finite_in("--alpha", self.alpha, 0.0, 100.0)?;
                super::finite_in("--beta", self.beta, 0.0, 100.0)?;
                let iterations = match (self.iterations, self.schedule_limit()) {
                    (Some(0), _) => bail!("--iterations must be at least 1"),
                    (Some(i), _) => i,
                    (None, Some(n)) => (n as usize).div_ceil(self.ants),
                    (None, None) => usize::MAX,
                };
                Solver::AcoPaper(AcoParams {
                    ants: self.ants,
                    iterations,
                    alpha: self.alpha,
                    beta: self.beta,
                    rho: self.rho,
                })
            }
            SolverName::Best => Solver::Best,
        })
    }

    /// Limits and seed, with `threads` worker threads per solve.
    pub(crate) fn options(&self, threads: usize) -> Result<Options> {
        let time_limit = match self.time_limit {
            None => None,
            Some(s) if s.is_finite() && s > 0.0 && s <= MAX_TIME_LIMIT_S => {
                Some(Duration::from_secs_f64(s))
            }
            Some(s) => bail!(
                "--time-limit must be a number of seconds above 0 and at most {MAX_TIME_LIMIT_S:e} (about 116 days), got {s}"
            ),
        };
        if self.schedules == Some(0) {
            bail!("--schedules must be at least 1");
        }
        Ok(Options {
            schedules: self.schedule_limit(),
            time_limit,
            seed: self.seed,
            threads,
        })
    }
}

/// Arguments of `powerslot plan`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Instance file: PSPLIB .sm, Patterson .rcp or native JSON (see the README).
    file: PathBuf,
    #[command(flatten)]
    solver: SolverArgs,
    /// Worker threads of the planner (only the best planner uses more than one; at
    /// most the machine's cores).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print exactly one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
    /// Also write the JSON object to this file (read by `powerslot plot`).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs the command.
pub(crate) fn run(args: Args) -> Result<()> {
    let solver = args.solver.solver()?;
    let opts = args.solver.options(super::threads(Some(args.threads))?)?;
    let inst = read_instance(&args.file)?;
    let sol = powerslot_plan::solve(&inst, &solver, &opts)?;
    let doc = solution_json(&inst, &solver, &sol);
    if let Some(out) = &args.out {
        std::fs::write(out, format!("{doc}\n"))
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    if args.json {
        emit(&format!("{doc}\n"))
    } else {
        emit(&summary(&inst, &solver, &sol))
    }
}

/// Writes to stdout; a closed pipe (e.g. `| head`) is not an error.
pub(crate) fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to standard output")
        }
        _ => Ok(()),
    }
}

/// One solution as written by `--json` and `--out`.
#[derive(Serialize)]
struct SolutionDoc<'a> {
    instance: &'a str,
    solver: String,
    makespan: Slot,
    lower_bound: Slot,
    schedules: u64,
    elapsed_s: f64,
    tasks: Vec<TaskDoc<'a>>,
}

/// One task of a [`SolutionDoc`]: `id` is the job number (PSPLIB) or device id.
#[derive(Serialize)]
struct TaskDoc<'a> {
    id: &'a TaskId,
    start: Slot,
    finish: Slot,
}

/// The JSON object of one solution, fields in this order: `{"instance", "solver",
/// "makespan", "lower_bound", "schedules", "elapsed_s", "tasks": [{"id", "start",
/// "finish"}]}`.
pub(crate) fn solution_json(inst: &Instance, solver: &Solver, sol: &Solution) -> String {
    let doc = SolutionDoc {
        instance: inst.name(),
        solver: solver.name(),
        makespan: sol.makespan,
        lower_bound: sol.bounds.best(),
        schedules: sol.schedules,
        elapsed_s: sol.elapsed.as_secs_f64(),
        tasks: inst
            .tasks()
            .iter()
            .enumerate()
            .map(|(j, t)| TaskDoc {
                id: &t.id,
                start: sol.schedule.starts[j],
                finish: sol.schedule.finish(inst, j),
            })
            .collect(),
    };
    serde_json::to_string(&doc).expect("a solution always serialises")
}

fn summary(inst: &Instance, solver: &Solver, sol: &Solution) -> String {
    let b = &sol.bounds;
    let lb = b.best();
    let mut s = format!(
        "instance   {} ({} tasks, {} resources{})\n",
        inst.name(),
        inst.len(),
        inst.resources().len(),
        if inst.has_constant_capacity() {
            ""
        } else {
            ", capacity varies by slot"
        }
    );
    s += &format!("solver     {}\n", solver.name());
    s += &match inst.grid() {
        Some(grid) => format!(
            "makespan   {} slots = {:.1} min\n",
            sol.makespan,
            f64::from(sol.makespan) * grid.slot_minutes()
        ),
        None => format!("makespan   {}\n", sol.makespan),
    };
    s += &format!(
        "bounds     critical path {}, resource {}, cumulative {} → lower bound {lb}\n",
        b.critical_path, b.resource, b.cumulative
    );
    if sol.proven_optimal() {
        s += "optimal    yes (the makespan meets the lower bound)\n";
    } else {
        let gap = 100.0 * f64::from(sol.makespan - lb) / f64::from(lb.max(1));
        s += &format!("optimal    not proven (gap to the lower bound {gap:.2} %)\n");
    }
    s += &format!(
        "effort     {} schedules in {:.3} s\n",
        sol.schedules,
        sol.elapsed.as_secs_f64()
    );
    s
}
