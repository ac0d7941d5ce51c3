//! `powerslot day`: plan a home's day (deferrable loads, PV, battery, prices) and print each
//! load's on-times in clock time with the bill, import, peak, bound and gap — or, with
//! `--json`, the plan in the EMHASS driver's `--check-plan` shape beside its figures.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::ValueEnum;
use powerslot_home::check::state_of_charge;
use powerslot_home::{Day, DayPlan, Method, Objective, Options, Solver, plan_day, read_day};

use crate::plot::{Chart, Series, Style};

/// Objectives on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ObjectiveName {
    /// The bill: import cost minus export revenue.
    Cost,
    /// Energy drawn from the grid.
    Import,
    /// Highest grid import.
    Peak,
    /// End of the last load.
    Makespan,
}

/// Planning paths on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum MethodName {
    /// Heuristic, then the exact search in the time left.
    Auto,
    /// The exact MILP only.
    Exact,
    /// The heuristic only (with the LP bound).
    Heuristic,
}

/// Solvers on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SolverName {
    /// HiGHS if this build has it (the `highs` feature), microlp otherwise.
    Default,
    /// microlp (pure Rust).
    Microlp,
    /// HiGHS (only in a build with the `highs` feature).
    Highs,
}

/// Arguments of `powerslot day`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Day instance (JSON, the EMHASS driver's format: ../shared/tools/emhass/NOTES.md).
    instance: PathBuf,
    /// What to minimise; the bill breaks ties of the others.
    #[arg(long, value_enum, default_value_t = ObjectiveName::Cost)]
    objective: ObjectiveName,
    /// Which planner.
    #[arg(long, value_enum, default_value_t = MethodName::Auto)]
    method: MethodName,
    /// Time for the whole plan, seconds.
    #[arg(long, default_value_t = 10.0)]
    time_limit: f64,
    /// Relative gap at which the exact search may stop (0 = prove optimality).
    #[arg(long, default_value_t = 0.0)]
    gap: f64,
    /// MILP solver.
    #[arg(long, value_enum, default_value_t = SolverName::Default)]
    solver: SolverName,
    /// Print one JSON object: the plan (`loads`, `battery_w`, for `--check-plan`) and its figures.
    #[arg(long)]
    json: bool,
    /// Draw the day into DIR: day-power (PV, base load, loads, grid, battery), day-loads (a
    /// timeline) and day-battery (state of charge and import price), each .svg and .png.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Result<()> {
    if !(args.time_limit.is_finite() && args.time_limit > 0.0) {
        return Err(anyhow!(
            "option --time-limit: {} is not a positive number of seconds",
            args.time_limit
        ));
    }
    if !(args.gap.is_finite() && (0.0..1.0).contains(&args.gap)) {
        return Err(anyhow!("option --gap: {} is not in [0, 1)", args.gap));
    }
    let day = read_day(&args.instance)?;
    let options = Options {
        objective: match args.objective {
            ObjectiveName::Cost => Objective::Cost,
            ObjectiveName::Import => Objective::Import,
            ObjectiveName::Peak => Objective::Peak,
            ObjectiveName::Makespan => Objective::Makespan,
        },
        method: match args.method {
            MethodName::Auto => Method::Auto,
            MethodName::Exact => Method::Exact,
            MethodName::Heuristic => Method::Heuristic,
        },
        time_limit_s: args.time_limit,
        gap: args.gap,
        solver: match args.solver {
            SolverName::Default => Solver::default(),
            SolverName::Microlp => Solver::MicroLp,
            SolverName::Highs => Solver::Highs,
        },
    };
    let out = plan_day(&day, &options)?;
    if let Some(dir) = &args.plot {
        for chart in charts(&day, &out) {
            let stem = chart.0;
            chart.1.save(dir, stem)?;
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out.to_json())?);
    } else {
        print_text(&day, &out);
    }
    Ok(())
}

/// Runs of a power series as clock-time spans, e.g. `10:00-12:00 (1500 W)`.
fn spans(day: &Day, p: &[f64]) -> String {
    let mut out = Vec::new();
    let mut t = 0;
    while t < p.len() {
        if p[t] <= powerslot_home::check::TOL_W {
            t += 1;
            continue;
        }
        let a = t;
        while t < p.len() && p[t] > powerslot_home::check::TOL_W {
            t += 1;
        }
        let (lo, hi) = p[a..t]
            .iter()
            .fold((f64::MAX, 0.0f64), |(l, h), x| (l.min(*x), h.max(*x)));
        let w = if hi - lo < 1.0 {
            format!("{hi:.0} W")
        } else {
            format!("{lo:.0}-{hi:.0} W")
        };
        out.push(format!("{}-{} ({w})", day.clock(a), day.clock(t)));
    }
    if out.is_empty() {
        "not run".into()
    } else {
        out.join(", ")
    }
}

fn print_text(day: &Day, out: &DayPlan) {
    println!(
        "{:?} plan of {} loads over {} x {} min (found by the {} in {:.2} s, {} binaries)",
        out.status,
        day.loads.len(),
        day.n_steps,
        day.step_minutes,
        out.found_by,
        out.seconds,
        out.binaries
    );
    if let Some(b) = &out.binding {
        println!("binding constraint: {b}");
        println!("dropped: {}", out.dropped.join(", "));
    } else if !out.dropped.is_empty() {
        println!(
            "optional loads not worth running: {}",
            out.dropped.join(", ")
        );
    }
    let width = day
        .loads
        .iter()
        .map(|l| l.name.len())
        .max()
        .unwrap_or(4)
        .max(7);
    for (l, (name, p)) in day.loads.iter().zip(&out.plan.loads) {
        let due = l.due.map_or(String::new(), |d| match l.lateness(p) {
            0 => format!("  [due {}: on time]", day.clock(d.step)),
            n => format!(
                "  [due {}: {n} step(s) late, {:.4}]",
                day.clock(d.step),
                l.tardiness_cost(p)
            ),
        });
        println!("  {name:>width$}  {}{due}", spans(day, p));
    }
    if !out.plan.battery_w.is_empty() {
        let charge: Vec<f64> = out.plan.battery_w.iter().map(|x| (-x).max(0.0)).collect();
        let discharge: Vec<f64> = out.plan.battery_w.iter().map(|x| x.max(0.0)).collect();
        println!("  {:>width$}  charge {}", "battery", spans(day, &charge));
        println!("  {:>width$}  discharge {}", "", spans(day, &discharge));
    }
    let f = &out.figures;
    println!(
        "bill {:.4}  import {:.3} kWh  export {:.3} kWh  peak import {:.0} W  last load ends {}",
        f.bill,
        f.import_kwh,
        f.export_kwh,
        f.peak_import_w,
        day.clock(f.makespan)
    );
    if out.bound.is_finite() {
        println!(
            "objective {:.6}  bound {:.6}  gap {:.4} %",
            out.objective,
            out.bound,
            100.0 * out.gap
        );
    }
}

/// The three figures of a planned day, with their file stems. The x axis is the clock hour.
fn charts(day: &Day, out: &DayPlan) -> Vec<(&'static str, Chart)> {
    let hour =
        |t: usize| (f64::from(day.start_minute) + (t as f64) * f64::from(day.step_minutes)) / 60.0;
    // A staircase needs the end of the last step too.
    let steps = |v: &[f64]| -> Vec<(f64, f64)> {
        let mut p: Vec<(f64, f64)> = v.iter().enumerate().map(|(t, y)| (hour(t), *y)).collect();
        if let Some(&last) = v.last() {
            p.push((hour(v.len()), last));
        }
        p
    };
    let loads: Vec<f64> = (0..day.n_steps)
        .map(|t| out.plan.loads.iter().map(|(_, p)| p[t]).sum())
        .collect();
    let mut power = Chart::new("The planned day", "hour", "power (W)")
        .with(Series::new("deferrable loads", steps(&loads), Style::Area))
        .with(Series::new("PV forecast", steps(&day.pv_w), Style::Step))
        .with(Series::new(
            "base load",
            steps(&day.base_load_w),
            Style::Step,
        ))
        .with(Series::new(
            "grid (+ import)",
            steps(&out.plan.grid_w(day)),
            Style::Step,
        ))
        .with(Series::new(
            "import limit",
            steps(&day.grid_import_limit_w),
            Style::Dashed,
        ));
    if !out.plan.battery_w.is_empty() {
        power = power.with(Series::new(
            "battery (+ discharge)",
            steps(&out.plan.battery_w),
            Style::Step,
        ));
    }
    let mut timeline = Chart::new("When each load runs (one row per load)", "hour", "load");
    for (k, (name, p)) in out.plan.loads.iter().enumerate() {
        let row: Vec<f64> = p
            .iter()
            .map(|x| k as f64 + if *x > 1.0 { 0.8 } else { 0.0 })
            .collect();
        timeline = timeline.with(Series::new(name.clone(), steps(&row), Style::Step));
    }
    let price: Vec<f64> = day.import_price.iter().map(|x| 100.0 * x).collect();
    let mut battery = Chart::new(
        "Battery and price",
        "hour",
        "state of charge (%) / import price (cent/kWh)",
    )
    .with(Series::new(
        "import price (cent/kWh)",
        steps(&price),
        Style::Step,
    ));
    let soc: Vec<f64> = state_of_charge(day, &out.plan.battery_w)
        .iter()
        .map(|s| 100.0 * s)
        .collect();
    if !soc.is_empty() {
        battery = battery.with(Series::new(
            "state of charge after the step (%)",
            steps(&soc),
            Style::Line,
        ));
    }
    vec![
        ("day-power", power),
        ("day-loads", timeline),
        ("day-battery", battery),
    ]
}
