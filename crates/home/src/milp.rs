//! The day as a mixed-integer linear programme (good_lp over microlp).
//!
//! Variables: a start binary per possible start of each one-block load (the tight
//! "time-indexed" form: its power at `t` is `P × Σ starts covering t`); an on binary per step
//! of each interruptible on/off load; a power per step of each modulating load (with an on
//! binary only when a rule needs one: a least power, starts, a group's exclusion,
//! precedence, makespan); battery charge and discharge; grid import and export. Starts are
//! counted by `y_t ≥ on_t − on_{t−1}`, which also carries min on / min off.
//!
//! The same builder gives three programmes: the LP relaxation (a proven lower bound), the
//! exact MILP (warm-started from the heuristic's plan), and the completion of a heuristic's
//! on/off decisions (binaries fixed, the battery and modulating loads left to the LP).
//! With `drop` every load gets a "served" binary whose loss costs far more than any bill:
//! the plan then serves as many loads as the day allows and says which it dropped.

use good_lp::{
    Expression, ResolutionError, Solution, SolutionStatus, SolverModel, Variable,
    WithInitialSolution, WithMipGap, WithTimeLimit, constraint, microlp, variable, variables,
};

use crate::Solver;
use crate::check::{Plan, TOL_W};
use crate::day::{Day, Kind};
use crate::error::HomeError;
use crate::objective::Objective;

/// Weight of the bill added to a non-money objective, so that among plans with the same
/// import, peak or makespan the cheapest is chosen (the stated way objectives combine).
pub(crate) const TIE_BREAK: f64 = 1e-3;

/// Gap HiGHS is run at when asked to prove optimality: relative, and absolute in currency
/// (its default relative gap, 10⁻⁴, would stop short of the optimum on a bill of tens).
#[cfg(feature = "highs")]
const HIGHS_GAP: f64 = 1e-6;

/// Why HiGHS cannot be asked for.
#[cfg(not(feature = "highs"))]
pub(crate) const NO_HIGHS: &str =
    "this build has no HiGHS (build powerslot-home with `--features highs`; it needs cmake)";

/// Cost of dropping one load of priority 0 in the `drop` programme: above any bill of a
/// home's day.
pub(crate) const DROP_COST: f64 = 1e4;

/// Cost of dropping load `l`: [`DROP_COST`] per priority level above the lowest, plus one.
pub(crate) fn drop_cost(l: &crate::day::Load) -> f64 {
    DROP_COST * (1.0 + f64::from(l.priority))
}

/// One load's discrete decisions: which steps it is on (an empty vector = no decision,
/// the programme chooses; `served = false` = the load is dropped).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Decision {
    pub(crate) on: Vec<bool>,
    pub(crate) served: bool,
}

/// What to build.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Build<'a> {
    pub(crate) objective: Objective,
    /// Binaries continuous in [0, 1].
    pub(crate) relax: bool,
    /// Every load may be dropped at [`drop_cost`].
    pub(crate) drop: bool,
    /// Fix these decisions (completion of a heuristic plan).
    pub(crate) fixed: Option<&'a [Decision]>,
    /// Hint these decisions (warm start of the exact search).
    pub(crate) hint: Option<&'a [Decision]>,
    /// Forbid charging and discharging, importing and exporting, in the same step.
    pub(crate) strict: bool,
    /// Time limit, seconds.
    pub(crate) time_limit: Option<f64>,
    /// Relative gap at which the search may stop.
    pub(crate) gap: f64,
    /// Which solver.
    pub(crate) solver: Solver,
}

impl Build<'_> {
    /// The exact programme for `objective` on `solver`: nothing fixed, hinted or relaxed, no
    /// limits.
    pub(crate) fn new(objective: Objective, solver: Solver) -> Self {
        Self {
            objective,
            relax: false,
            drop: false,
            fixed: None,
            hint: None,
            strict: false,
            time_limit: None,
            gap: 0.0,
            solver,
        }
    }
}

/// A solved programme.
#[derive(Clone, Debug)]
pub(crate) struct Solved {
    pub(crate) plan: Plan,
    /// Loads not served.
    pub(crate) dropped: Vec<usize>,
    /// The programme's objective value.
    pub(crate) objective: f64,
    /// Best proven lower bound on the objective (equal to it when proven optimal).
    pub(crate) bound: f64,
    /// Fractional on-values of the discrete loads (for the heuristic's rounding).
    pub(crate) on_values: Vec<Vec<f64>>,
    /// Whether some step both charges and discharges, or imports and exports.
    pub(crate) simultaneous: bool,
}

/// How a programme ended.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    /// A plan (optimal or not, see [`Solved::proven`]).
    Solved(Solved),
    /// Proven to have no solution.
    Infeasible,
    /// The time ran out before any solution.
    OutOfTime,
    /// The solver gave up on this programme (microlp's LU factorisation can meet a singular
    /// basis on a sub-problem). A search step skips it; a relaxation the bound rests on
    /// reports it ([`Outcome::relaxed`]).
    Failed(String),
}

impl Outcome {
    /// The solution, if any (a failed solve is one that found none).
    pub(crate) fn solved(self) -> Option<Solved> {
        match self {
            Self::Solved(s) => Some(s),
            _ => None,
        }
    }

    /// For a relaxation: its solution, `None` when proven infeasible, an error when the
    /// solver failed (no bound can be claimed from it).
    pub(crate) fn relaxed(self) -> Result<Option<Solved>, HomeError> {
        match self {
            Self::Failed(m) => Err(HomeError::Solver(m)),
            other => Ok(other.solved()),
        }
    }
}

/// Size of the exact programme: number of binaries.
pub(crate) fn binaries(day: &Day, objective: Objective) -> usize {
    day.loads
        .iter()
        .enumerate()
        .map(|(k, l)| match l.kind() {
            Kind::Block { steps, .. } => l.window.len() + 1 - steps,
            Kind::Steps { .. } => l.window.len(),
            Kind::Energy { .. } if needs_on(day, k, objective) => l.window.len(),
            Kind::Energy { .. } => 0,
        })
        .sum()
}

/// Whether a modulating load needs on binaries.
fn needs_on(day: &Day, k: usize, objective: Objective) -> bool {
    let l = &day.loads[k];
    let min_w = matches!(l.kind(), Kind::Energy { min_w, .. } if min_w > 0.0);
    min_w
        || l.due.is_some()
        || l.max_starts > 0
        || l.startup_penalty > 0.0
        || objective == Objective::Makespan
        || !l.after.is_empty()
        || day.loads.iter().any(|o| o.after.contains(&k))
        || day
            .groups
            .iter()
            .any(|g| g.mutual_exclusion && g.loads.contains(&k))
}

struct LoadVars {
    /// Power per step of the horizon, W.
    power: Vec<Expression>,
    /// On indicator per step (constant 0 outside the window), when the load has one.
    on: Option<Vec<Expression>>,
    /// What carries the decision (a binary, or the constant a fixed decision makes it), with
    /// the step it stands for (start or on step).
    decision: Vec<(usize, Expression)>,
    /// The decision binaries left free.
    #[cfg_attr(
        not(feature = "highs"),
        expect(
            dead_code,
            reason = "only HiGHS is told which binaries a hint leaves undecided"
        )
    )]
    free: Vec<Variable>,
    served: Option<Variable>,
}

pub(crate) fn solve(day: &Day, b: Build<'_>) -> Result<Outcome, HomeError> {
    let n = day.n_steps;
    let h = day.step_h();
    let mut vars = variables!();
    let mut cons: Vec<good_lp::Constraint> = Vec::new();
    let bin = |vars: &mut good_lp::ProblemVariables| {
        vars.add(if b.relax {
            variable().min(0.0).max(1.0)
        } else {
            variable().binary()
        })
    };
    let mut hints: Vec<(Variable, f64)> = Vec::new();
    let mut penalty = Expression::from(0.0);
    let mut lv: Vec<LoadVars> = Vec::with_capacity(day.loads.len());
    // Direction binaries of the strict programme (the others are in `lv`).
    let mut directions: Vec<Variable> = Vec::new();

    for (k, l) in day.loads.iter().enumerate() {
        let fixed = b.fixed.map(|f| &f[k]);
        let hint = b.hint.map(|f| &f[k]);
        let optional = l.value.is_some() || b.drop;
        let served = match fixed {
            // A completion keeps the decision: served or dropped as the heuristic chose.
            Some(d) if optional || !d.served => {
                let v = f64::from(u8::from(d.served));
                Some(vars.add(variable().min(v).max(v)))
            }
            Some(_) => None,
            None if optional => {
                let r = bin(&mut vars);
                if let Some(d) = hint {
                    hints.push((r, f64::from(u8::from(d.served))));
                }
                Some(r)
            }
            None => None,
        };
        if let Some(r) = served {
            if let Some(v) = l.value {
                penalty -= v * r;
            }
            if b.drop && l.value.is_none() {
                penalty += drop_cost(l) * (1.0 - r);
            }
        }
        let serve: Expression = served.map_or(Expression::from(1.0), Expression::from);
        // A decision binary, or the constant a fixed decision makes it: a completion or a
        // neighbourhood keeps variables only for what it leaves free, which keeps it small.
        let decide = |vars: &mut good_lp::ProblemVariables,
                      value: Option<bool>|
         -> (Expression, Option<Variable>) {
            match value {
                Some(v) => (Expression::from(f64::from(u8::from(v))), None),
                None => {
                    let x = bin(vars);
                    (x.into(), Some(x))
                }
            }
        };
        let bit = |v: bool| f64::from(u8::from(v));
        let zero = || Expression::from(0.0);
        let w = l.window.clone();
        let mut decision = Vec::new();
        let mut free = Vec::new();
        let (power, on) = match l.kind() {
            Kind::Block { power_w, steps } => {
                let mut on: Vec<Expression> = (0..n).map(|_| zero()).collect();
                let mut sum = zero();
                for s in w.start..=w.end - steps {
                    let starts = |d: &Decision| d.on[s] && (s == 0 || !d.on[s - 1]);
                    let fix = fixed.filter(|d| !d.on.is_empty()).map(starts);
                    let (x, var) = decide(&mut vars, fix);
                    if let (Some(v), Some(d)) = (var, hint.filter(|d| !d.on.is_empty())) {
                        hints.push((v, bit(starts(d))));
                    }
                    free.extend(var);
                    sum += x.clone();
                    for o in &mut on[s..s + steps] {
                        *o += x.clone();
                    }
                    if l.startup_penalty > 0.0 {
                        penalty += l.startup_penalty * power_w * h / 1000.0
                            * day.import_price[s]
                            * x.clone();
                    }
                    if let Some(d) = l.due {
                        // A start fixes the finish: its lateness is exact per start.
                        let late = (s + steps).saturating_sub(d.step);
                        penalty += d.cost_per_step * late as f64 * x.clone();
                    }
                    decision.push((s, x));
                }
                if !free.is_empty() {
                    cons.push(constraint!(sum == serve.clone()));
                }
                let power = on.iter().map(|o| power_w * o.clone()).collect();
                (power, Some(on))
            }
            Kind::Steps { power_w, steps, .. } => {
                let mut on: Vec<Expression> = (0..n).map(|_| zero()).collect();
                let mut sum = zero();
                for t in w.clone() {
                    let fix = fixed.filter(|d| !d.on.is_empty()).map(|d| d.on[t]);
                    let (x, var) = decide(&mut vars, fix);
                    if let (Some(v), Some(d)) = (var, hint.filter(|d| !d.on.is_empty())) {
                        hints.push((v, bit(d.on[t])));
                    }
                    free.extend(var);
                    sum += x.clone();
                    decision.push((t, x.clone()));
                    on[t] = x;
                }
                if !free.is_empty() {
                    cons.push(constraint!(sum == steps as f64 * serve.clone()));
                }
                let power = on.iter().map(|o| power_w * o.clone()).collect();
                (power, Some(on))
            }
            Kind::Energy {
                energy_wh,
                min_w,
                max_w,
            } => {
                let mut power: Vec<Expression> = (0..n).map(|_| zero()).collect();
                let mut on = needs_on(day, k, b.objective)
                    .then(|| (0..n).map(|_| zero()).collect::<Vec<_>>());
                let mut sum = zero();
                for t in w.clone() {
                    let p = vars.add(variable().min(0.0).max(max_w));
                    if let Some(on) = &mut on {
                        let fix = fixed.filter(|d| !d.on.is_empty()).map(|d| d.on[t]);
                        let (x, var) = decide(&mut vars, fix);
                        free.extend(var);
                        cons.push(constraint!(p <= max_w * x.clone()));
                        cons.push(constraint!(p >= min_w * x.clone()));
                        decision.push((t, x.clone()));
                        on[t] = x;
                    }
                    sum += p;
                    power[t] = p.into();
                }
                match l.extra {
                    // At least the need, at most the need and the extra; what the extra is
                    // worth comes off the objective (as in `Objective::value`).
                    Some(x) => {
                        cons.push(constraint!(h * sum.clone() >= energy_wh * serve.clone()));
                        cons.push(constraint!(
                            h * sum.clone() <= (energy_wh + x.wh) * serve.clone()
                        ));
                        penalty -= x.value_per_kwh / 1000.0 * (h * sum - energy_wh * serve.clone());
                    }
                    None => cons.push(constraint!(h * sum == energy_wh * serve.clone())),
                }
                (power, on)
            }
        };
        lv.push(LoadVars {
            power,
            on,
            decision,
            free,
            served,
        });
    }

    // Starts, runs and pauses of loads with on indicators.
    for (k, l) in day.loads.iter().enumerate() {
        let (min_on, min_off) = match l.kind() {
            Kind::Steps {
                min_on, min_off, ..
            } => (min_on, min_off),
            Kind::Block { .. } => continue, // one start by construction
            Kind::Energy { .. } => (0, 0),
        };
        let Some(on) = &lv[k].on else { continue };
        if l.max_starts == 0 && min_on <= 1 && min_off == 0 && l.startup_penalty == 0.0 {
            continue;
        }
        let mut starts = Expression::from(0.0);
        for t in l.window.clone() {
            let prev = if t == 0 {
                Expression::from(0.0)
            } else {
                on[t - 1].clone()
            };
            let y = vars.add(variable().min(0.0).max(1.0));
            cons.push(constraint!(y >= on[t].clone() - prev.clone()));
            starts += y;
            if l.startup_penalty > 0.0 {
                penalty +=
                    l.startup_penalty * l.max_power_w() * h / 1000.0 * day.import_price[t] * y;
            }
            // A run started at t lasts min_on steps (or to the end of the day).
            for o in on.iter().take((t + min_on).min(n)).skip(t + 1) {
                cons.push(constraint!(o.clone() >= y));
            }
            if min_off > 0 && t > 0 {
                let z = vars.add(variable().min(0.0).max(1.0));
                cons.push(constraint!(z >= prev - on[t].clone()));
                for o in on.iter().take((t + min_off).min(n)).skip(t) {
                    cons.push(constraint!(o.clone() + z <= 1.0));
                }
            }
        }
        if l.max_starts > 0 {
            cons.push(constraint!(starts <= l.max_starts as f64));
        }
    }

    // Precedence: the start of a load is after the end of each load it follows.
    for (k, l) in day.loads.iter().enumerate() {
        for &a in &l.after {
            let (Some(on_b), Some(on_a)) = (&lv[k].on, &lv[a].on) else {
                continue;
            };
            let end_a = vars.add(variable().min(0.0).max(n as f64));
            let start_b = vars.add(variable().min(0.0).max(n as f64));
            for t in day.loads[a].window.clone() {
                cons.push(constraint!(end_a >= (t + 1) as f64 * on_a[t].clone()));
            }
            for t in l.window.clone() {
                cons.push(constraint!(
                    start_b <= t as f64 + n as f64 * (1.0 - on_b[t].clone())
                ));
            }
            cons.push(constraint!(start_b >= end_a));
        }
    }

    // Soft deadlines of loads that may run in several pieces: the lateness is at least how far
    // past the deadline any on step ends (blocks carry theirs per start).
    for (k, l) in day.loads.iter().enumerate() {
        let (Some(d), Some(on)) = (l.due, &lv[k].on) else {
            continue;
        };
        if matches!(l.kind(), Kind::Block { .. }) {
            continue;
        }
        let late = vars.add(variable().min(0.0));
        for t in l.window.clone().filter(|&t| t >= d.step) {
            cons.push(constraint!(late >= (t + 1 - d.step) as f64 * on[t].clone()));
        }
        penalty += d.cost_per_step * late;
    }

    // Groups.
    for g in &day.groups {
        for t in 0..n {
            if let Some(m) = g.max_power_w {
                let sum: Expression = g.loads.iter().map(|&k| lv[k].power[t].clone()).sum();
                cons.push(constraint!(sum <= m));
            }
            if g.mutual_exclusion {
                let sum: Expression = g
                    .loads
                    .iter()
                    .filter_map(|&k| lv[k].on.as_ref().map(|on| on[t].clone()))
                    .sum();
                cons.push(constraint!(sum <= 1.0));
            }
        }
    }

    // Battery.
    let mut batt: Vec<(Variable, Variable)> = Vec::new();
    if let Some(bt) = &day.battery {
        let mut soc = Expression::from(bt.soc_init * bt.capacity_wh);
        for _ in 0..n {
            let c = vars.add(variable().min(0.0).max(bt.charge_w));
            let d = vars.add(variable().min(0.0).max(bt.discharge_w));
            if b.strict && !b.relax {
                let dir = vars.add(variable().binary());
                directions.push(dir);
                cons.push(constraint!(c <= bt.charge_w * dir));
                cons.push(constraint!(d <= bt.discharge_w * (1.0 - dir)));
            }
            soc += h * (bt.eff_charge * c - d / bt.eff_discharge);
            cons.push(constraint!(soc.clone() >= bt.soc_min * bt.capacity_wh));
            cons.push(constraint!(soc.clone() <= bt.soc_max * bt.capacity_wh));
            batt.push((c, d));
        }
        cons.push(constraint!(soc >= bt.soc_final * bt.capacity_wh));
    }

    // Grid and the objective.
    let mut bill = Expression::from(0.0);
    let mut imports = Expression::from(0.0);
    let peak = vars.add(variable().min(0.0));
    let makespan = vars.add(variable().min(0.0).max(n as f64));
    let mut grid = Vec::with_capacity(n);
    for t in 0..n {
        let load: Expression = lv.iter().map(|v| v.power[t].clone()).sum();
        let cap = |x: f64| if x.is_finite() { x } else { 1e7 };
        let imp = vars.add(variable().min(0.0).max(cap(day.grid_import_limit_w[t])));
        let exp = vars.add(variable().min(0.0).max(cap(day.grid_export_limit_w[t])));
        let (c, d) = batt
            .get(t)
            .map_or((Expression::from(0.0), Expression::from(0.0)), |&(c, d)| {
                (c.into(), d.into())
            });
        cons.push(constraint!(
            imp - exp == day.base_load_w[t] - day.pv_w[t] + load + c - d
        ));
        // Import and export in one step would earn the spread when export pays more.
        if b.strict && !b.relax && day.export_price[t] > day.import_price[t] {
            let dir = vars.add(variable().binary());
            directions.push(dir);
            cons.push(constraint!(imp <= cap(day.grid_import_limit_w[t]) * dir));
            cons.push(constraint!(
                exp <= cap(day.grid_export_limit_w[t]) * (1.0 - dir)
            ));
        }
        bill += h / 1000.0 * (day.import_price[t] * imp - day.export_price[t] * exp);
        imports += h / 1000.0 * imp;
        cons.push(constraint!(peak >= imp));
        grid.push((imp, exp));
        if b.objective == Objective::Makespan {
            for v in &lv {
                if let Some(on) = &v.on {
                    cons.push(constraint!(makespan >= (t + 1) as f64 * on[t].clone()));
                }
            }
        }
    }
    let goal = match b.objective {
        Objective::Cost => bill.clone(),
        Objective::Import => imports + TIE_BREAK * bill.clone(),
        Objective::Peak => peak / 1000.0 + TIE_BREAK * bill.clone(),
        Objective::Makespan => makespan + TIE_BREAK * bill.clone(),
    } + penalty;

    let problem = vars.minimise(goal.clone());
    match b.solver {
        Solver::MicroLp => {
            let model = configure(problem.using(microlp), &b, hints, cons)?;
            ended(model.solve(), |sol| {
                let mut read = read(day, b.relax, &lv, &batt, &grid, &goal, &sol);
                read.bound = match sol.status() {
                    SolutionStatus::Optimal if b.gap == 0.0 => read.objective,
                    _ => sol
                        .into_inner()
                        .stats()
                        .best_bound
                        .unwrap_or(f64::NEG_INFINITY),
                }
                .min(read.objective);
                read
            })
        }
        #[cfg(feature = "highs")]
        Solver::Highs => {
            // HiGHS completes a partial assignment itself (an LP over the continuous
            // variables): binaries the hint does not decide are marked undefined.
            let mut hints = hints;
            if !hints.is_empty() {
                let hinted: std::collections::HashSet<Variable> =
                    hints.iter().map(|h| h.0).collect();
                let binaries = lv
                    .iter()
                    .flat_map(|v| v.free.iter().copied().chain(v.served))
                    .chain(directions);
                hints.extend(
                    binaries
                        .filter(|v| !hinted.contains(v))
                        .map(|v| (v, f64::INFINITY)),
                );
            }
            let gap = b.gap.max(HIGHS_GAP);
            let model = configure(
                good_lp::solvers::highs::highs(problem),
                &Build { gap, ..b },
                hints,
                cons,
            )?;
            ended(model.solve(), |sol| {
                let mut read = read(day, b.relax, &lv, &batt, &grid, &goal, &sol);
                // HiGHS stops within its relative gap or its absolute one (10⁻⁶); `Optimal`
                // and `GapLimit` both mean that, and it does not hand back its bound.
                read.bound = match sol.status() {
                    SolutionStatus::TimeLimit => f64::NEG_INFINITY,
                    _ => read.objective - (gap * read.objective.abs()).max(HIGHS_GAP),
                };
                read
            })
        }
        #[cfg(not(feature = "highs"))]
        Solver::Highs => Err(HomeError::Solver(NO_HIGHS.into())),
    }
}

/// Time limit, gap, warm start and constraints on a solver's model.
fn configure<M>(
    mut model: M,
    b: &Build<'_>,
    hints: Vec<(Variable, f64)>,
    cons: Vec<good_lp::Constraint>,
) -> Result<M, HomeError>
where
    M: SolverModel + WithTimeLimit + WithMipGap + WithInitialSolution,
{
    if let Some(s) = b.time_limit {
        model = model.with_time_limit(s.max(0.01));
    }
    if b.gap > 0.0 {
        model = model
            .with_mip_gap(b.gap as f32)
            .map_err(|e| HomeError::Solver(e.to_string()))?;
    }
    if !hints.is_empty() && !b.relax {
        model = model.with_initial_solution(hints);
    }
    for c in cons {
        model.add_constraint(c);
    }
    Ok(model)
}

/// A solver's answer: the programme solved (`read` on the solution), or how it ended without one.
fn ended<S>(
    result: Result<S, ResolutionError>,
    read: impl FnOnce(S) -> Solved,
) -> Result<Outcome, HomeError> {
    match result {
        Ok(s) => Ok(Outcome::Solved(read(s))),
        Err(ResolutionError::Infeasible) => Ok(Outcome::Infeasible),
        // Time ran out before any plan: the caller keeps the heuristic's.
        Err(ResolutionError::Other(m)) if m.contains("Time limit") || m == "NoSolutionFound" => {
            Ok(Outcome::OutOfTime)
        }
        Err(e) => Ok(Outcome::Failed(e.to_string())),
    }
}

/// Reads the plan of a solution (its bound is filled in by the caller).
fn read<S: Solution>(
    day: &Day,
    relax: bool,
    lv: &[LoadVars],
    batt: &[(Variable, Variable)],
    grid: &[(Variable, Variable)],
    goal: &Expression,
    sol: &S,
) -> Solved {
    let n = day.n_steps;
    let objective = sol.eval(goal);
    // Read the plan; on/off loads at exactly their power so the on/off rule holds to the watt.
    let mut plan = Plan::default();
    let mut dropped = Vec::new();
    let mut on_values = Vec::with_capacity(day.loads.len());
    for (k, l) in day.loads.iter().enumerate() {
        let mut p: Vec<f64> = lv[k].power.iter().map(|e| sol.eval(e)).collect();
        if let Some(r) = lv[k].served
            && sol.value(r) < 0.5
        {
            dropped.push(k);
        }
        match l.kind() {
            Kind::Block { power_w, .. } | Kind::Steps { power_w, .. } if !relax => {
                for x in &mut p {
                    *x = if *x > power_w / 2.0 { power_w } else { 0.0 };
                }
            }
            _ => {
                for x in &mut p {
                    *x = x.clamp(0.0, l.max_power_w());
                    if *x < 1e-6 {
                        *x = 0.0;
                    }
                }
            }
        }
        let mut vals = vec![0.0; n];
        for (t, x) in &lv[k].decision {
            vals[*t] = sol.eval(x);
        }
        on_values.push(vals);
        plan.loads.push((l.name.clone(), p));
    }
    let mut simultaneous = false;
    if !batt.is_empty() {
        plan.battery_w = batt
            .iter()
            .map(|&(c, d)| {
                let (c, d) = (sol.value(c), sol.value(d));
                simultaneous |= c > TOL_W && d > TOL_W;
                let x = d - c;
                if x.abs() < 1e-6 { 0.0 } else { x }
            })
            .collect();
    }
    simultaneous |= grid
        .iter()
        .any(|&(i, e)| sol.value(i) > TOL_W && sol.value(e) > TOL_W);
    Solved {
        plan,
        dropped,
        objective,
        bound: f64::NEG_INFINITY,
        on_values,
        simultaneous,
    }
}
