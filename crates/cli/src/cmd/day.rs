//! `powerslot day`: plan a home's day (deferrable loads, PV, battery, prices) and print each
//! load's on-times in clock time with the bill, import, peak, bound and gap — or, with
//! `--json`, the plan in the EMHASS driver's `--check-plan` shape beside its figures.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::ValueEnum;
use powerslot_home::{Day, DayPlan, Method, Objective, Options, plan_day, read_day};

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
    /// Print one JSON object: the plan (`loads`, `battery_w`, for `--check-plan`) and its figures.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> Result<()> {
    if !(args.time_limit.is_finite() && args.time_limit > 0.0) {
        return Err(anyhow!("option --time-limit: {} is not a positive number of seconds", args.time_limit));
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
    };
    let out = plan_day(&day, &options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json(&out))?);
    } else {
        print_text(&day, &out);
    }
    Ok(())
}

fn json(out: &DayPlan) -> serde_json::Value {
    let mut doc = out.plan.to_check_json();
    let finite = |x: f64| x.is_finite().then_some(x);
    doc["status"] = format!("{:?}", out.status).into();
    doc["found_by"] = out.found_by.into();
    doc["figures"] = serde_json::to_value(out.figures).unwrap_or_default();
    doc["objective"] = finite(out.objective).into();
    doc["bound"] = finite(out.bound).into();
    doc["gap"] = finite(out.gap).into();
    doc["dropped"] = out.dropped.clone().into();
    doc["binding"] = out.binding.clone().into();
    doc["binaries"] = out.binaries.into();
    doc["seconds"] = out.seconds.into();
    doc
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
        let (lo, hi) = p[a..t].iter().fold((f64::MAX, 0.0f64), |(l, h), x| (l.min(*x), h.max(*x)));
        let w = if hi - lo < 1.0 { format!("{hi:.0} W") } else { format!("{lo:.0}-{hi:.0} W") };
        out.push(format!("{}-{} ({w})", day.clock(a), day.clock(t)));
    }
    if out.is_empty() { "not run".into() } else { out.join(", ") }
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
        println!("optional loads not worth running: {}", out.dropped.join(", "));
    }
    let width = day.loads.iter().map(|l| l.name.len()).max().unwrap_or(4).max(7);
    for (name, p) in &out.plan.loads {
        println!("  {name:>width$}  {}", spans(day, p));
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
        println!("objective {:.6}  bound {:.6}  gap {:.4} %", out.objective, out.bound, 100.0 * out.gap);
    }
}
