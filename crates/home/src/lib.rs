//! Planning a home's day: when each deferrable load runs, and what the battery does, so that
//! the bill (or the grid import, the peak, the makespan) is lowest under the connection limit.
//!
//! This is the ground of EMHASS (a mixed-integer programme over CVXPY and HiGHS); the day
//! instance is read in the EMHASS driver's format (`../shared/tools/emhass`, EMHASS's own
//! vocabulary), so an EMHASS user can bring their setup.
//!
//! - [`instance`] reads a day ([`read_day`], [`parse_day`]) into the model of [`day`]: PV and
//!   base-load forecasts, import/export prices, grid limits, a [`Battery`], and [`Load`]s whose
//!   needs are the negotiation protocol's [`Demand`](powerslot_protocol::device::Demand)s.
//! - [`plan_day`] plans it. Every day first gets the LP relaxation (a proven lower bound), then
//!   the project's heuristic ([`heuristic`](crate::heuristic): round, local search, LP
//!   completion), then the exact MILP warm-started from the heuristic's plan for whatever time
//!   is left. The answer says which plan won, its bound and its gap.
//! - Never a silent relaxation: a day that cannot be planned gets its binding constraint named
//!   and the best feasible plan of the loads that fit, with the dropped loads listed.
//! - [`check`] costs a plan and checks it by the rules of the day, independently of the solver,
//!   the way the driver's `--check-plan` does; [`Plan`] serialises to that shape.
//!
//! ```
//! use powerslot_home::{Objective, Options, Status, parse_day, plan_day};
//!
//! // Two hours, one 2 kW load for one hour, import cheaper in the second hour.
//! let day = parse_day(r#"{
//!     "step_minutes": 60, "n_steps": 2,
//!     "pv_w": [0, 0], "base_load_w": [100, 100],
//!     "import_price": [0.30, 0.10], "export_price": [0, 0],
//!     "grid_import_limit_w": 6000,
//!     "loads": [{"name": "washer", "power_w": 2000, "steps": 1,
//!                "semi_continuous": true, "single_block": true}]
//! }"#, "doc").unwrap();
//! let out = plan_day(&day, &Options::default()).unwrap();
//! assert_eq!(out.status, Status::Optimal);
//! assert_eq!(out.plan.loads[0].1, vec![0.0, 2000.0]);
//! assert!((out.figures.bill - (0.1 * 0.3 + 2.1 * 0.1)).abs() < 1e-9);
//! ```

pub mod check;
pub mod day;
mod error;
mod heuristic;
pub mod instance;
mod milp;
mod objective;

use std::time::{Duration, Instant};

pub use check::{Figures, Plan, figures, violations};
pub use day::{Battery, Day, Group, Kind, Load, SoftDeadline};
pub use error::HomeError;
pub use instance::{parse_day, read_day};
pub use objective::Objective;

use milp::Build;

/// Which path plans the day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Method {
    /// Heuristic first, then the exact search in the time left (the default).
    #[default]
    Auto,
    /// The exact MILP only (still bounded by the time limit).
    Exact,
    /// The heuristic only, with the LP relaxation's bound.
    Heuristic,
}

/// Which MILP solver runs the programmes (relaxation, completions, exact search).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Solver {
    /// microlp: pure Rust, always built.
    MicroLp,
    /// HiGHS: the exact search of choice, built with the `highs` feature (needs cmake).
    Highs,
}

impl Default for Solver {
    /// HiGHS when this build has it, microlp otherwise.
    fn default() -> Self {
        if HIGHS { Self::Highs } else { Self::MicroLp }
    }
}

/// Whether this build has HiGHS (the `highs` feature).
pub const HIGHS: bool = cfg!(feature = "highs");

/// How to plan.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// What to minimise.
    pub objective: Objective,
    /// Which path.
    pub method: Method,
    /// Time for the whole plan, seconds.
    pub time_limit_s: f64,
    /// Relative gap at which the exact search stops (0 = prove optimality, to the solver's
    /// tolerance of 10⁻⁶).
    pub gap: f64,
    /// Which solver.
    pub solver: Solver,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            objective: Objective::Cost,
            method: Method::Auto,
            time_limit_s: 10.0,
            gap: 0.0,
            solver: Solver::default(),
        }
    }
}

/// How good the plan is known to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Proven optimal (within the gap asked for).
    Optimal,
    /// Feasible; the bound and gap say how far from optimal it can be.
    Feasible,
    /// Not every load fits: the plan serves the rest, [`DayPlan::binding`] says why.
    Infeasible,
}

/// The answer of [`plan_day`].
#[derive(Clone, Debug)]
pub struct DayPlan {
    /// The plan (every load's power and the battery's, W per step).
    pub plan: Plan,
    /// Its bill, import, export, peak and makespan.
    pub figures: Figures,
    /// Its objective value (with tie-break, penalties and rewards).
    pub objective: f64,
    /// Proven lower bound on the objective over all feasible plans of the whole day.
    pub bound: f64,
    /// `(objective − bound) / |objective|`.
    pub gap: f64,
    /// How good it is.
    pub status: Status,
    /// Names of loads not run: optional loads not worth their cost, or loads that did not fit.
    pub dropped: Vec<String>,
    /// For an infeasible day: the constraint that makes it so, in words.
    pub binding: Option<String>,
    /// Which path found the plan: `exact` or `heuristic`.
    pub found_by: &'static str,
    /// Binaries of the exact programme.
    pub binaries: usize,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl DayPlan {
    /// The plan in the EMHASS driver's `--check-plan` shape (`loads`, `battery_w`) with its
    /// figures, status, bound and gap beside it (the driver ignores the extra keys).
    pub fn to_json(&self) -> serde_json::Value {
        let mut doc = self.plan.to_check_json();
        let finite = |x: f64| x.is_finite().then_some(x);
        doc["status"] = format!("{:?}", self.status).into();
        doc["found_by"] = self.found_by.into();
        doc["figures"] = serde_json::to_value(self.figures).unwrap_or_default();
        doc["objective"] = finite(self.objective).into();
        doc["bound"] = finite(self.bound).into();
        doc["gap"] = finite(self.gap).into();
        doc["dropped"] = self.dropped.clone().into();
        doc["binding"] = self.binding.clone().into();
        doc["binaries"] = self.binaries.into();
        doc["seconds"] = self.seconds.into();
        doc
    }
}

/// A candidate plan before it is reported.
struct Candidate {
    plan: Plan,
    dropped: Vec<usize>,
    objective: f64,
    found_by: &'static str,
}

/// Plans a day.
pub fn plan_day(day: &Day, opt: &Options) -> Result<DayPlan, HomeError> {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(opt.time_limit_s.max(0.0));
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .as_secs_f64()
    };
    let base = Build {
        gap: opt.gap,
        ..Build::new(opt.objective, opt.solver)
    };
    let relaxed = milp::solve(
        day,
        Build {
            relax: true,
            ..base
        },
    )?
    .relaxed()?;
    // Proven: the relaxation has no solution, or the exact search says so.
    let mut proven_infeasible = relaxed.is_none();
    let mut bound = relaxed.as_ref().map_or(f64::INFINITY, |r| r.objective);
    let mut best: Option<Candidate> = None;
    let mut hint = None;
    // With the neighbourhood search to follow, the heuristic's own search (shaken packings)
    // gets a third of the time.
    let lns = opt.method == Method::Auto;
    let until = if lns {
        Instant::now() + Duration::from_secs_f64(left() / 3.0)
    } else {
        deadline
    };
    let found = if relaxed.is_some() && opt.method != Method::Exact {
        heuristic::run(
            day,
            opt.objective,
            opt.solver,
            relaxed.as_ref(),
            until,
            false,
        )?
    } else {
        None
    };
    let proven =
        |f: &heuristic::Found, bound: f64| f.objective - bound <= 1e-9 * f.objective.abs().max(1.0);
    let exact_allowed = relaxed.is_some() && opt.method != Method::Heuristic;
    let binaries = milp::binaries(day, opt.objective);
    let mut settled = found.as_ref().is_some_and(|f| proven(f, bound));
    let mut lns_from = None;
    if let Some(f) = found {
        best = Some(Candidate {
            plan: f.plan.clone(),
            dropped: f.dropped.clone(),
            objective: f.objective,
            found_by: "heuristic",
        });
        hint = Some(f.decisions.clone());
        lns_from = Some(f);
    }
    // On a small day microlp proves the optimum from the heuristic's plan in a fraction of
    // what one neighbourhood sweep costs (16 loads: 0.3–0.8 s against 2.6–5.6 s), so the exact
    // search gets a first, short turn; on a large one it runs out of that time and the
    // neighbourhoods take over.
    if lns && exact_allowed && !settled && lns_from.is_some() {
        let share = if binaries <= SMALL_DAY_BINARIES {
            SMALL_DAY_EXACT_SHARE
        } else {
            QUICK_EXACT_SHARE
        };
        let e = exact(day, opt, base, hint.as_deref(), left() * share)?;
        settled = e.settled;
        proven_infeasible |= e.infeasible;
        bound = bound.max(e.bound);
        keep_better(&mut best, e.plan);
    }
    // microlp rarely closes a large day's gap by itself: re-plan a few loads at a time first,
    // until that stops paying or for 85 % of the time left, and leave the rest to the exact
    // search. HiGHS gets the whole day at once.
    if let Some(f) = lns_from
        && lns
        && !settled
        && !proven(&f, bound)
    {
        let until = Instant::now() + Duration::from_secs_f64(left() * 0.85);
        let f = heuristic::neighbourhoods(day, opt.objective, opt.solver, f, until)?;
        settled = proven(&f, bound);
        hint = Some(f.decisions.clone());
        keep_better(
            &mut best,
            Some(Candidate {
                plan: f.plan,
                dropped: f.dropped,
                objective: f.objective,
                found_by: "heuristic",
            }),
        );
    }
    if exact_allowed && !settled && left() > 0.0 {
        let e = exact(day, opt, base, hint.as_deref(), left())?;
        proven_infeasible |= e.infeasible;
        bound = bound.max(e.bound);
        keep_better(&mut best, e.plan);
    }
    if let Some(c) = best {
        let f = figures(day, &c.plan);
        let bound = bound.min(c.objective);
        let gap = ((c.objective - bound) / c.objective.abs().max(1e-9)).max(0.0);
        return Ok(DayPlan {
            // Proven within the gap asked for, or within the solver's own tolerance (10⁻⁶,
            // relative on the objective or absolute in currency).
            status: if c.objective - bound
                <= (opt.gap.max(1e-6) * c.objective.abs()).max(1e-6) + 1e-12
            {
                Status::Optimal
            } else {
                Status::Feasible
            },
            dropped: c
                .dropped
                .iter()
                .map(|&k| day.loads[k].name.clone())
                .collect(),
            figures: f,
            objective: c.objective,
            bound,
            gap,
            plan: c.plan,
            binding: None,
            found_by: c.found_by,
            binaries,
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    infeasible(day, opt, t0, binaries, proven_infeasible, bound)
}

/// Share of the time left that the exact search gets before the neighbourhood search.
const QUICK_EXACT_SHARE: f64 = 0.1;

/// A day with at most this many binaries is small: microlp alone proved every such day of the
/// benchmark (16 loads, 107–112 binaries) in 0.06–1.8 s, where 64 blocks under a tight limit
/// (594 binaries) stay open after 30 s.
const SMALL_DAY_BINARIES: usize = 200;

/// Share of the time left the exact search gets first on a small day.
const SMALL_DAY_EXACT_SHARE: f64 = 0.5;

/// What one run of the exact programme gave.
struct Exact {
    /// Its plan, if it found one that keeps every rule.
    plan: Option<Candidate>,
    /// Its proven bound (−∞ when it has none).
    bound: f64,
    /// Proven infeasible.
    infeasible: bool,
    /// Nothing is left to search: optimal within the gap, or infeasible.
    settled: bool,
}

/// Runs the exact programme for up to `seconds`, warm-started from `hint`.
fn exact(
    day: &Day,
    opt: &Options,
    base: Build<'_>,
    hint: Option<&[milp::Decision]>,
    seconds: f64,
) -> Result<Exact, HomeError> {
    let mut out = Exact {
        plan: None,
        bound: f64::NEG_INFINITY,
        infeasible: false,
        settled: false,
    };
    for strict in [false, true] {
        let b = Build {
            hint,
            strict,
            time_limit: Some(seconds),
            ..base
        };
        let s = match milp::solve(day, b)? {
            milp::Outcome::Solved(s) => s,
            milp::Outcome::Infeasible => {
                out.infeasible = true;
                out.settled = true;
                break;
            }
            // Out of time, or the solver gave up: the heuristic's plan stands.
            milp::Outcome::OutOfTime | milp::Outcome::Failed(_) => break,
        };
        let fine = violations(day, &s.plan, &s.dropped).is_empty();
        if !fine && s.simultaneous && !strict {
            continue; // charged and discharged at once: again with direction binaries
        }
        out.bound = s.bound;
        if fine {
            let f = figures(day, &s.plan);
            let v = opt.objective.value(day, &s.plan, &f, &s.dropped, false);
            out.settled = v - s.bound <= (opt.gap.max(1e-6) * v.abs()).max(1e-6) + 1e-12;
            out.plan = Some(Candidate {
                plan: s.plan,
                dropped: s.dropped,
                objective: v,
                found_by: "exact",
            });
        }
        break;
    }
    Ok(out)
}

/// Keeps the cheaper of the best plan so far and a new one.
fn keep_better(best: &mut Option<Candidate>, new: Option<Candidate>) {
    if let Some(n) = new
        && best
            .as_ref()
            .is_none_or(|b| n.objective < b.objective - 1e-9)
    {
        *best = Some(n);
    }
}

/// The day does not fit: name why, and plan the loads that do.
fn infeasible(
    day: &Day,
    opt: &Options,
    t0: Instant,
    binaries: usize,
    proven: bool,
    bound: f64,
) -> Result<DayPlan, HomeError> {
    let binding = if proven {
        binding_constraint(day, opt)?
    } else {
        // Not proven, but the family whose loosening lets every load fit is still the one
        // to name (and the first tried, the grid import limit, costs one heuristic run).
        format!(
            "{} (infeasibility not proven: no plan serving every load was found in {} s; a \
             longer --time-limit may find one)",
            binding_constraint(day, opt)?,
            opt.time_limit_s
        )
    };
    let deadline = Instant::now() + Duration::from_secs_f64(opt.time_limit_s.max(1.0));
    let relaxed = milp::solve(
        day,
        Build {
            relax: true,
            drop: true,
            ..Build::new(opt.objective, opt.solver)
        },
    )?
    .relaxed()?;
    let found = heuristic::run(
        day,
        opt.objective,
        opt.solver,
        relaxed.as_ref(),
        deadline,
        true,
    )?;
    let (plan, dropped, objective) = match found {
        Some(f) => (f.plan, f.dropped, f.objective),
        None => {
            // Nothing at all fits (the base load alone breaks a limit): an empty plan.
            let plan = Plan {
                loads: day
                    .loads
                    .iter()
                    .map(|l| (l.name.clone(), vec![0.0; day.n_steps]))
                    .collect(),
                battery_w: if day.battery.is_some() {
                    vec![0.0; day.n_steps]
                } else {
                    vec![]
                },
            };
            (plan, (0..day.loads.len()).collect(), f64::INFINITY)
        }
    };
    // Shedding from another start may still serve every load: then the day is planned.
    let served_all = dropped.iter().all(|&k| day.loads[k].value.is_some()) && objective.is_finite();
    let bound = if served_all {
        bound.min(objective)
    } else {
        f64::NEG_INFINITY
    };
    Ok(DayPlan {
        figures: figures(day, &plan),
        plan,
        objective,
        bound,
        gap: if served_all {
            ((objective - bound) / objective.abs().max(1e-9)).max(0.0)
        } else {
            f64::INFINITY
        },
        status: if served_all {
            Status::Feasible
        } else {
            Status::Infeasible
        },
        dropped: dropped.iter().map(|&k| day.loads[k].name.clone()).collect(),
        binding: (!served_all).then_some(binding),
        found_by: "heuristic",
        binaries,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Loosens one family of constraints at a time; the first whose loosening makes the day
/// plannable is the binding one.
fn binding_constraint(day: &Day, opt: &Options) -> Result<String, HomeError> {
    let (objective, solver) = (opt.objective, opt.solver);
    let fits = |d: &Day| -> Result<Option<Plan>, HomeError> {
        let relaxed = milp::solve(
            d,
            Build {
                relax: true,
                ..Build::new(objective, solver)
            },
        )?
        .relaxed()?;
        if relaxed.is_none() {
            return Ok(None);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        Ok(
            heuristic::run(d, objective, solver, relaxed.as_ref(), deadline, false)?
                .map(|f| f.plan),
        )
    };
    let mut d = day.clone();
    d.grid_import_limit_w = vec![f64::INFINITY; day.n_steps];
    if let Some(p) = fits(&d)? {
        let grid = p.grid_w(day);
        let over: Vec<String> = (0..day.n_steps)
            .filter(|&t| grid[t] > day.grid_import_limit_w[t] + check::TOL_W)
            .map(|t| format!("{} ({:.0} W)", day.clock(t), grid[t]))
            .collect();
        let peak = grid.iter().cloned().fold(0.0, f64::max);
        // The cheapest plan without the limit need not be the one closest to it: list a few
        // steps, not a diagnosis of each.
        const SHOWN: usize = 6;
        let more = if over.len() > SHOWN {
            format!(" and {} more", over.len() - SHOWN)
        } else {
            String::new()
        };
        return Ok(format!(
            "grid import limit: with it lifted every load fits (the cheapest such plan draws up \
             to {peak:.0} W, over the limit at {}{more})",
            over[..over.len().min(SHOWN)].join(", ")
        ));
    }
    let mut d = day.clone();
    d.grid_export_limit_w = vec![f64::INFINITY; day.n_steps];
    if fits(&d)?.is_some() {
        return Ok(
            "grid export limit: PV surplus cannot be absorbed (no curtailment in this model)"
                .into(),
        );
    }
    if let Some(b) = &day.battery {
        let mut d = day.clone();
        if let Some(bb) = &mut d.battery {
            bb.soc_final = bb.soc_min;
        }
        if fits(&d)?.is_some() {
            return Ok(format!(
                "battery final state of charge {} cannot be reached",
                b.soc_final
            ));
        }
    }
    if !day.groups.is_empty() {
        let mut d = day.clone();
        d.groups.clear();
        if fits(&d)?.is_some() {
            return Ok("load groups: their shared budget or mutual exclusion".into());
        }
    }
    if day.loads.iter().any(|l| !l.after.is_empty()) {
        let mut d = day.clone();
        for l in &mut d.loads {
            l.after.clear();
        }
        if fits(&d)?.is_some() {
            return Ok(
                "precedence (`after`): a load cannot finish in time for the one after it".into(),
            );
        }
    }
    Ok("several constraints together (no single family loosened makes the day fit)".into())
}
