//! `powerslot plan`: plan one instance and print the schedule — a summary and a
//! table of every device (start and finish as clock times and slots, power), or
//! one JSON object.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use powerslot_core::{Instance, Milliwatts, ResourceUnit, Slot, TaskId, read_instance};
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
    /// Worker threads of the planner (only the best planner uses more than one; the
    /// result does not depend on it) [default: all cores; at most the machine's cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Print exactly one JSON object instead of the summary and table.
    #[arg(long)]
    json: bool,
    /// Also write the JSON object to this file (read by `powerslot plot`).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs the command.
pub(crate) fn run(args: Args) -> Result<()> {
    let solver = args.solver.solver()?;
    let opts = args.solver.options(super::threads(args.threads)?)?;
    let inst = read_instance(&args.file)?;
    let sol = powerslot_plan::solve(&inst, &solver, &opts)?;
    let doc = solution_json(&inst, &solver, &sol);
    if let Some(out) = &args.out {
        // Like every other output folder of the CLI, the file's folder is made when missing.
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(out, format!("{doc}\n"))
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    if args.json {
        emit(&format!("{doc}\n"))
    } else {
        emit(&(summary(&inst, &solver, &sol) + "\n" + &table(&inst, &sol)))
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
    /// Slot length, for instances on a time grid.
    #[serde(skip_serializing_if = "Option::is_none")]
    slot_seconds: Option<u32>,
    /// When slot 0 starts and every task is done, for instances with a dated start.
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_time: Option<String>,
    tasks: Vec<TaskDoc<'a>>,
}

/// One task of a [`SolutionDoc`]: `id` is the job number (PSPLIB) or device id.
#[derive(Serialize)]
struct TaskDoc<'a> {
    id: &'a TaskId,
    start: Slot,
    finish: Slot,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_time: Option<String>,
}

/// The JSON object of one solution, fields in this order: `{"instance", "solver",
/// "makespan", "lower_bound", "schedules", "elapsed_s", ["slot_seconds"],
/// ["start_time", "finish_time"], "tasks": [{"id", "start", "finish", ["start_time",
/// "finish_time"]}]}`; the bracketed fields appear when the instance has a time grid
/// (`slot_seconds`) and a dated start (the times, ISO 8601 in the start's offset).
pub(crate) fn solution_json(inst: &Instance, solver: &Solver, sol: &Solution) -> String {
    let grid = inst.grid();
    let iso = |slot: Slot| grid.and_then(|g| g.iso(slot));
    let doc = SolutionDoc {
        instance: inst.name(),
        solver: solver.name(),
        makespan: sol.makespan,
        lower_bound: sol.bounds.best(),
        schedules: sol.schedules,
        elapsed_s: sol.elapsed.as_secs_f64(),
        slot_seconds: grid.map(|g| g.slot_seconds),
        start_time: iso(0),
        finish_time: iso(sol.makespan),
        tasks: inst
            .tasks()
            .iter()
            .enumerate()
            .map(|(j, t)| {
                let (start, finish) = (sol.schedule.starts[j], sol.schedule.finish(inst, j));
                TaskDoc {
                    id: &t.id,
                    start,
                    finish,
                    start_time: iso(start),
                    finish_time: iso(finish),
                }
            })
            .collect(),
    };
    serde_json::to_string(&doc).expect("a solution always serialises")
}

fn summary(inst: &Instance, solver: &Solver, sol: &Solution) -> String {
    let b = &sol.bounds;
    let lb = b.best();
    // Device problems live on a time grid; PSPLIB-style instances have jobs and resources.
    let (tasks, every) = if inst.grid().is_some() {
        ("devices", "every device")
    } else {
        ("tasks", "every task")
    };
    let resources = match inst.resources().len() {
        1 => "1 resource".to_string(),
        n => format!("{n} resources"),
    };
    let mut s = format!(
        "instance   {} ({} {tasks}, {resources}{})\n",
        inst.name(),
        inst.len(),
        if inst.has_constant_capacity() {
            ""
        } else {
            ", capacity varies by slot"
        }
    );
    s += &format!("solver     {}\n", solver.name());
    s += &match inst.grid() {
        Some(grid) => {
            let offset = grid
                .start
                .map_or(String::new(), |c| format!(" ({})", c.offset()));
            format!(
                "start      {}{offset}, slots of {}\n\
                 makespan   {} slots = {}: {every} done by {}\n",
                grid.clock(0),
                grid.duration_text(1),
                sol.makespan,
                grid.duration_text(sol.makespan),
                grid.clock(sol.makespan)
            )
        }
        None => format!("makespan   {} slots\n", sol.makespan),
    };
    let lb_time = inst
        .grid()
        .map_or(String::new(), |g| format!(" = {}", g.duration_text(lb)));
    s += &format!(
        "bounds     critical path {}, resource {}, cumulative {} → lower bound {lb}{lb_time}\n",
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

/// A table of every task in order of start: its demand of each resource (power with
/// its unit for device problems), start and finish as clock times (for instances on
/// a time grid) and as slots (finish exclusive), and the window it had to keep.
fn table(inst: &Instance, sol: &Solution) -> String {
    let grid = inst.grid();
    let mut header: Vec<String> = vec![if grid.is_some() { "device" } else { "task" }.into()];
    header.extend(inst.resources().iter().map(|r| r.name.clone()));
    if grid.is_some() {
        header.extend(["start".into(), "finish".into()]);
    }
    header.push("slots".into());
    let windows = inst
        .tasks()
        .iter()
        .any(|t| t.release > 0 || t.deadline.is_some());
    if windows {
        header.push("window".into());
    }
    let amount = |k: usize, v: i64| match inst.resources()[k].unit {
        ResourceUnit::Milliwatts => Milliwatts(v).short(),
        ResourceUnit::Units => v.to_string(),
    };
    let mut order: Vec<usize> = (0..inst.len()).collect();
    order.sort_by_key(|&j| (sol.schedule.starts[j], j));
    let rows: Vec<Vec<String>> = order
        .iter()
        .map(|&j| {
            let t = &inst.tasks()[j];
            let (start, finish) = (sol.schedule.starts[j], sol.schedule.finish(inst, j));
            let mut row = vec![match &t.id {
                TaskId::Name(s) => s.clone(),
                TaskId::Number(n) => n.to_string(),
            }];
            row.extend(t.demand.iter().enumerate().map(|(k, &v)| amount(k, v)));
            if let Some(g) = grid {
                row.extend([g.clock(start), g.clock(finish)]);
            }
            row.push(format!("{start}–{finish}"));
            if windows {
                let at = |slot: Slot| grid.map_or(format!("slot {slot}"), |g| g.clock(slot));
                let mut w = Vec::new();
                if t.release > 0 {
                    w.push(format!("from {}", at(t.release)));
                }
                if let Some(d) = t.deadline {
                    w.push(format!("by {}", at(d)));
                }
                row.push(w.join(", "));
            }
            row
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            std::iter::once(&header)
                .chain(&rows)
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Text columns are aligned left, quantities right.
    let numeric = |c: usize| c > 0 && c <= inst.resources().len();
    let line = |r: &[String]| {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, v)| {
                let pad = " ".repeat(widths[c] - v.chars().count());
                if numeric(c) {
                    pad + v
                } else {
                    v.clone() + &pad
                }
            })
            .collect();
        cells.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(&header);
    for r in &rows {
        out += &line(r);
    }
    out
}
