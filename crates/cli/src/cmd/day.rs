//! `powerslot day`: plan a home's day (deferrable loads, PV, battery, prices) and print each
//! load's on-times in clock time with the bill, import, peak, bound and gap — or, with
//! `--json`, the plan in the EMHASS driver's `--check-plan` shape beside its figures.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::ValueEnum;
use powerslot_home::check::state_of_charge;
use powerslot_home::{Day, DayPlan, Method, Objective, Options, Solver, plan_day, read_day};

use super::day_inputs::{
    InputReport, LoadSource, PvSource, base_load_forecast, instance_start, parse_as_of,
    pv_forecast, value_column,
};
use crate::plot::{Axis, Bar, Chart, Series, Style, Timeline};

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
    /// timeline of each load's runs inside its window) and day-battery (state of charge and
    /// prices), each .svg and .png.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Forecast the day's PV from this solar trace (CSV of irradiance or PV power, any unit)
    /// with the harvesting node's solar forecaster, in place of the instance's pv_w.
    #[arg(long, value_name = "CSV", help_heading = "Forecast inputs")]
    pv_from: Option<PathBuf>,
    /// Timestamp column of --pv-from.
    #[arg(long, default_value = "timestamp", help_heading = "Forecast inputs")]
    pv_time_column: String,
    /// Value column of --pv-from (default: its only other column).
    #[arg(long, help_heading = "Forecast inputs")]
    pv_column: Option<String>,
    /// The array's output in W at the trace's level (the 90th percentile of its daily maxima;
    /// default: the peak of the instance's pv_w).
    #[arg(long, value_name = "W", help_heading = "Forecast inputs")]
    pv_peak_w: Option<f64>,
    /// Forecast the day's base load from this meter history (CSV) with `powerslot forecast`'s
    /// models, in place of the instance's base_load_w.
    #[arg(long, value_name = "CSV", help_heading = "Forecast inputs")]
    base_load_from: Option<PathBuf>,
    /// Timestamp column of --base-load-from.
    #[arg(long, default_value = "timestamp", help_heading = "Forecast inputs")]
    base_load_time_column: String,
    /// Value column of --base-load-from (default: its only other column).
    #[arg(long, help_heading = "Forecast inputs")]
    base_load_column: Option<String>,
    /// Only the rows whose COLUMN holds VALUE (one household of a long-format file).
    #[arg(long, value_name = "COLUMN=VALUE", value_parser = super::forecast::parse_select, help_heading = "Forecast inputs")]
    base_load_select: Option<(String, String)>,
    /// The base-load column is a cumulative meter reading.
    #[arg(long, help_heading = "Forecast inputs")]
    base_load_cumulative: bool,
    /// W per unit of the base-load column (1 for W, 1000 for kW, 2000 for kWh per half hour).
    #[arg(long, default_value_t = 1.0, help_heading = "Forecast inputs")]
    base_load_scale: f64,
    /// Model of the base-load forecast (any of `powerslot forecast backtest --models`).
    #[arg(long, default_value = "auto", help_heading = "Forecast inputs")]
    base_load_model: String,
    /// When the forecasts are made (default: the instance's start if the histories cover it,
    /// else the end of each history); only data before it is seen.
    #[arg(long, value_name = "TIME", help_heading = "Forecast inputs")]
    as_of: Option<String>,
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
    let mut day = read_day(&args.instance)?;
    let inputs = forecast_inputs(&args, &mut day)?;
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
        let (power, battery) = charts(&day, &out);
        power.save(dir, "day-power")?;
        load_timeline(&day, &out, &power).save(dir, "day-loads")?;
        battery.save(dir, "day-battery")?;
    }
    if args.json {
        let mut doc = out.to_json();
        if !inputs.is_empty() {
            doc["forecast_inputs"] = serde_json::to_value(&inputs)?;
            // The forecasts the plan stands on, so that it can be checked on the same inputs.
            doc["pv_w"] = serde_json::to_value(&day.pv_w)?;
            doc["base_load_w"] = serde_json::to_value(&day.base_load_w)?;
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for r in &inputs {
            println!("{}", r.line());
        }
        print_text(&day, &out);
    }
    Ok(())
}

/// Replaces the instance's PV and base load by forecasts where asked.
fn forecast_inputs(args: &Args, day: &mut Day) -> Result<Vec<InputReport>> {
    if args.pv_from.is_none() && args.base_load_from.is_none() {
        if args.as_of.is_some() {
            return Err(anyhow!(
                "option --as-of needs --pv-from or --base-load-from"
            ));
        }
        return Ok(Vec::new());
    }
    let explicit = args.as_of.as_deref().map(parse_as_of).transpose()?;
    let instance = instance_start(&args.instance)?;
    let mut reports = Vec::new();
    if let Some(file) = &args.pv_from {
        let source = PvSource {
            file: file.clone(),
            value_column: value_column(
                file,
                &args.pv_time_column,
                args.pv_column.as_deref(),
                "--pv-column",
            )?,
            time_column: args.pv_time_column.clone(),
            peak_w: args.pv_peak_w,
        };
        let (pv, report) = pv_forecast(&source, day, explicit, instance)?;
        day.pv_w = pv;
        reports.push(report);
    }
    if let Some(file) = &args.base_load_from {
        let source = LoadSource {
            file: file.clone(),
            value_column: value_column(
                file,
                &args.base_load_time_column,
                args.base_load_column.as_deref(),
                "--base-load-column",
            )?,
            time_column: args.base_load_time_column.clone(),
            select: args.base_load_select.clone(),
            cumulative: args.base_load_cumulative,
            scale: args.base_load_scale,
            model: args.base_load_model.clone(),
        };
        let (load, report) = base_load_forecast(&source, day, explicit, instance)?;
        day.base_load_w = load;
        reports.push(report);
    }
    Ok(reports)
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
        let extra = l.extra.map_or(String::new(), |_| {
            let e = p.iter().sum::<f64>() * day.step_h() / 1000.0;
            let need = l.energy_wh(day.step_h()) / 1000.0;
            format!("  [{e:.2} kWh: {:.2} beyond the need]", e - need)
        });
        println!("  {name:>width$}  {}{due}{extra}", spans(day, p));
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

/// The power and the battery-and-prices figures of a planned day. The x axis is the clock hour.
fn charts(day: &Day, out: &DayPlan) -> (Chart, Chart) {
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
    let cents = |v: &[f64]| -> Vec<f64> { v.iter().map(|x| 100.0 * x).collect() };
    let soc: Vec<f64> = state_of_charge(day, &out.plan.battery_w)
        .iter()
        .map(|s| 100.0 * s)
        .collect();
    // Without a battery the chart is the prices alone, and says so.
    let (title, y) = if soc.is_empty() {
        ("Prices", "price (cent/kWh)")
    } else {
        (
            "Battery and prices",
            "state of charge (%) / price (cent/kWh)",
        )
    };
    let mut battery = Chart::new(title, "hour", y)
        .with(Series::new(
            "import price (cent/kWh)",
            steps(&cents(&day.import_price)),
            Style::Step,
        ))
        .with(Series::new(
            "export price (cent/kWh)",
            steps(&cents(&day.export_price)),
            Style::Dashed,
        ));
    if !soc.is_empty() {
        battery = battery.with(Series::new(
            "state of charge after the step (%)",
            steps(&soc),
            Style::Line,
        ));
    }
    (power, battery)
}

/// When each load runs: one bar per run (an interruptible load has several) over its window,
/// under the day's power curves.
fn load_timeline(day: &Day, out: &DayPlan, power: &Chart) -> Timeline {
    let hour =
        |t: usize| (f64::from(day.start_minute) + (t as f64) * f64::from(day.step_minutes)) / 60.0;
    let mut bars = Vec::new();
    for (load, (name, p)) in day.loads.iter().zip(&out.plan.loads) {
        let on = |t: usize| p[t] > powerslot_home::check::TOL_W;
        let window = Some((hour(load.window.start), hour(load.window.end)));
        let runs: Vec<(usize, usize)> = {
            let mut runs = Vec::new();
            let mut t = 0;
            while t < p.len() {
                if on(t) {
                    let a = t;
                    while t < p.len() && on(t) {
                        t += 1;
                    }
                    runs.push((a, t));
                } else {
                    t += 1;
                }
            }
            runs
        };
        if runs.is_empty() {
            // Not run (dropped, or an optional load not worth it): its window alone.
            bars.push(Bar {
                label: format!("{name} (not run)"),
                start: hour(load.window.start),
                finish: hour(load.window.start),
                window,
            });
        }
        let n = runs.len();
        for (k, (a, b)) in runs.into_iter().enumerate() {
            bars.push(Bar {
                label: if n == 1 {
                    name.clone()
                } else {
                    format!("{name} {}/{n}", k + 1)
                },
                start: hour(a),
                finish: hour(b),
                window,
            });
        }
    }
    Timeline {
        title: "When each load runs (bars) inside its window (shaded)".into(),
        x_label: "time of day".into(),
        x_axis: Axis::Clock,
        power_label: "power (W)".into(),
        power: power.series.clone(),
        bars,
    }
}
