//! `powerslot harvest`: score solar predictors on a trace, and run a harvesting node over it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use powerslot_harvest::predict::{default_for, default_predictors, evaluate};
use powerslot_harvest::sim::{
    GapPolicy, NodeConfig, SchedulerKind, SimPredictor, SimReport, simulate,
};
use powerslot_harvest::trace::{Clip, Trace, TraceOptions, read_trace};
use powerslot_harvest::{DpScheduler, DutyCycleModel};

use crate::plot::{Chart, Series, Style};

/// Subcommands of `powerslot harvest`.
#[derive(Subcommand)]
pub(crate) enum Harvest {
    /// Score every predictor (persistence, EWMA, WCMA, the robust ones, the default) on a trace.
    Predict(PredictArgs),
    /// Run a solar node over a whole trace with Kansal's algorithm or the DP scheduler.
    Simulate(Box<SimulateArgs>),
}

/// Which trace to read and how.
#[derive(Args)]
pub(crate) struct TraceArgs {
    /// CSV file with a time column and a value column (any unit for `predict`; irradiance in
    /// W/m² for `simulate`).
    #[arg(long)]
    trace: PathBuf,
    /// Time column: ISO 8601 (local clock, offset ignored), `...Z` or Unix seconds.
    #[arg(long, default_value = "timestamp")]
    time_column: String,
    /// Value column.
    #[arg(long, default_value = "poa_irradiance_w_m2")]
    value_column: String,
    /// Slot length of the grid, minutes (must divide 1440).
    #[arg(long, default_value_t = 15)]
    slot_minutes: u32,
    /// Values above this are clipped to it (sensor errors): `auto` (1.5 x the trace's level, the
    /// 90th percentile of its daily maxima), `none`, a level in the trace's unit (`1500`), or a
    /// multiple of the trace's level (`2x`).
    #[arg(long, default_value = "auto", value_parser = parse_clip, allow_hyphen_values = true)]
    clip: Clip,
}

fn parse_clip(s: &str) -> std::result::Result<Clip, String> {
    let positive = |v: &str| match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!(
            "{s:?} is not auto, none, a finite level > 0 in the trace's unit, or a factor like 1.5x"
        )),
    };
    match s.trim() {
        "auto" => Ok(Clip::AUTO),
        "none" => Ok(Clip::None),
        t => match t.strip_suffix('x') {
            Some(f) => positive(f).map(Clip::Relative),
            None => positive(t).map(Clip::Above),
        },
    }
}

fn parse_fraction(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        _ => Err(format!("{s:?} is not a fraction in [0, 1)")),
    }
}

impl TraceArgs {
    fn read(&self) -> Result<Trace> {
        let options = TraceOptions {
            time_column: self.time_column.clone(),
            value_column: self.value_column.clone(),
            slot_minutes: self.slot_minutes,
            clip: self.clip,
        };
        Ok(read_trace(&self.trace, &options)?)
    }
}

/// `powerslot harvest predict`.
#[derive(Args)]
pub(crate) struct PredictArgs {
    #[command(flatten)]
    trace: TraceArgs,
    /// MAPE counts slots whose observation is above this fraction of the trace's level (the 90th
    /// percentile of its daily maxima), in [0, 1).
    #[arg(long, default_value_t = 0.1, value_parser = parse_fraction, allow_hyphen_values = true)]
    threshold: f64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Scheduler choice on the command line.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum SchedulerArg {
    Kansal,
    Dp,
    /// Both, on the same trace and node.
    Both,
}

/// What `simulate` plans on.
#[derive(Clone, Copy, ValueEnum)]
enum PredictorArg {
    /// The default solar forecaster (as `harvest predict` marks it).
    Default,
    /// Kansal's day-ahead EWMA per planning slot (weight `--alpha`).
    Ewma,
}

/// Gap policy on the command line.
#[derive(Clone, Copy, ValueEnum)]
enum GapArg {
    /// A missing sample harvests nothing.
    Zero,
    /// A missing sample harvests what the prediction expected.
    Predicted,
}

/// `powerslot harvest simulate`.
#[derive(Args)]
pub(crate) struct SimulateArgs {
    #[command(flatten)]
    trace: TraceArgs,
    /// Scheduler.
    #[arg(long, value_enum, default_value = "dp")]
    scheduler: SchedulerArg,
    /// Planning slots per day; a comma-separated list runs each (each must divide the trace's slots per day).
    #[arg(long, value_delimiter = ',', default_value = "96")]
    slots: Vec<usize>,
    /// Panel area, m².
    #[arg(long, default_value_t = 0.01)]
    panel_area: f64,
    /// Panel efficiency (0..1).
    #[arg(long, default_value_t = 0.15)]
    efficiency: f64,
    /// Battery capacity B_max, Wh.
    #[arg(long, default_value_t = 7.4)]
    battery: f64,
    /// Battery floor B_min, Wh.
    #[arg(long, default_value_t = 0.74)]
    battery_min: f64,
    /// Battery level at the start, Wh (default: half of B_max).
    #[arg(long)]
    start: Option<f64>,
    /// End-of-day reserve the planners aim for when the prediction allows, Wh (default: half of B_max).
    #[arg(long)]
    reserve: Option<f64>,
    /// Charging efficiency η.
    #[arg(long, default_value_t = 0.9)]
    eta: f64,
    /// Battery leakage, W.
    #[arg(long, default_value_t = 0.0001)]
    leakage: f64,
    /// Load power at dc_min, W.
    #[arg(long, default_value_t = 0.02)]
    p_min: f64,
    /// Load power at dc_max, W.
    #[arg(long, default_value_t = 0.3)]
    p_max: f64,
    /// Minimum useful duty cycle.
    #[arg(long, default_value_t = 0.1)]
    dc_min: f64,
    /// Maximum useful duty cycle.
    #[arg(long, default_value_t = 1.0)]
    dc_max: f64,
    /// Utility at dc_min.
    #[arg(long, default_value_t = 1.0)]
    u_min: f64,
    /// Utility at dc_max.
    #[arg(long, default_value_t = 10.0)]
    u_max: f64,
    /// Duty-cycle levels (tasks) the schedulers choose from.
    #[arg(long, default_value_t = 5)]
    tasks: usize,
    /// Battery levels of the DP (an ADC's resolution).
    #[arg(long, default_value_t = 1024)]
    levels: u32,
    /// What the planners plan on.
    #[arg(long, value_enum, default_value = "default")]
    predictor: PredictorArg,
    /// Weight of the old estimate in the day-ahead EWMA (`--predictor ewma`).
    #[arg(long, default_value_t = 0.5)]
    alpha: f64,
    /// What a missing sample harvests.
    #[arg(long, value_enum, default_value = "zero")]
    gaps: GapArg,
    /// First day of the trace to simulate (0-based).
    #[arg(long, default_value_t = 0)]
    from_day: usize,
    /// Number of days to simulate (default: to the end).
    #[arg(long)]
    days: Option<usize>,
    /// Directory for the figures (SVG and PNG).
    #[arg(long, default_value = "out/harvest")]
    out: PathBuf,
    /// Print the reports as JSON (without the per-day series).
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub(crate) fn run(cmd: Harvest) -> Result<()> {
    match cmd {
        Harvest::Predict(args) => predict(&args),
        Harvest::Simulate(args) => simulate_cmd(&args),
    }
}

fn predict(args: &PredictArgs) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    let trace = args.trace.read()?;
    let series = &trace.series;
    let level = series.level();
    let floor = args.threshold * level;
    let scores = evaluate(series, &default_predictors(), floor)?;
    // The default forecaster after the whole trace: the clock shifts it found, its last choice.
    let forecaster = default_for(series)?;
    let s = &trace.summary;
    if args.json {
        let shifts: Vec<serde_json::Value> = forecaster
            .clock_shifts()
            .iter()
            .map(|c| serde_json::json!({ "day": trace.date(c.day).to_string(), "slots": c.slots }))
            .collect();
        let out = serde_json::json!({
            "slots_per_day": series.slots_per_day(),
            "days": series.days(),
            "level": level,
            "mape_floor": floor,
            "clipped": s.clipped,
            "clip_level": s.clip_level,
            "clip_rule": s.clip_rule,
            "clock_shifts": shifts,
            "default_choice": forecaster.chosen().name(),
            "default_day_ahead_source": forecaster.chosen_day_ahead(),
            "predictors": scores,
        });
        writeln!(stdout, "{}", serde_json::to_string_pretty(&out)?)?;
        return Ok(());
    }
    writeln!(
        stdout,
        "{}: {} rows, {} days x {} slots from {}; {} missing samples, {} negatives set to 0; {} gap slots",
        args.trace.trace.display(),
        s.rows,
        s.days,
        s.slots_per_day,
        s.first_day,
        s.missing,
        s.negatives_clamped,
        s.gap_slots
    )?;
    writeln!(stdout, "{} samples {}", s.clipped, s.clip_rule)?;
    let shift_list: Vec<String> = forecaster
        .clock_shifts()
        .iter()
        .map(|c| format!("{} {:+}", trace.date(c.day), c.slots))
        .collect();
    writeln!(
        stdout,
        "clock shifts found: {}",
        if shift_list.is_empty() {
            "none".to_string()
        } else {
            format!(
                "{} (first day on the new clock, slots)",
                shift_list.join(", ")
            )
        }
    )?;
    writeln!(
        stdout,
        "level {level:.4} (90th percentile of daily slot maxima); MAPE over slots above {floor:.4} ({:.0} % of it)",
        100.0 * args.threshold,
    )?;
    writeln!(
        stdout,
        "* = the default (harvest simulate plans on it); at the end it uses {} next-slot, {} further ahead",
        forecaster.chosen().name(),
        forecaster.chosen_day_ahead()
    )?;
    writeln!(
        stdout,
        "{:<34} {:>10} {:>9} {:>12} {:>9}",
        "predictor", "horizon", "MAPE %", "MAE", "slots"
    )?;
    for sc in &scores {
        let name = if sc.default {
            format!("* {}", sc.name)
        } else {
            format!("  {}", sc.name)
        };
        writeln!(
            stdout,
            "{:<34} {:>10} {:>9.2} {:>12.4} {:>9}",
            name,
            sc.horizon.as_str(),
            sc.mape,
            sc.mae,
            sc.mape_slots
        )?;
    }
    Ok(())
}

fn node(args: &SimulateArgs) -> Result<NodeConfig> {
    let load = DutyCycleModel::new(
        args.dc_min,
        args.dc_max,
        args.u_min,
        args.u_max,
        args.p_min,
        args.p_max,
    )?;
    Ok(NodeConfig {
        panel_area: args.panel_area,
        panel_efficiency: args.efficiency,
        battery_min: args.battery_min,
        battery_max: args.battery,
        charge_efficiency: args.eta,
        leakage: args.leakage,
        start: args.start.unwrap_or(args.battery / 2.0),
        reserve: args.reserve.unwrap_or(args.battery / 2.0),
        load,
        tasks: args.tasks,
        levels: args.levels,
        predictor: match args.predictor {
            PredictorArg::Default => SimPredictor::Default,
            PredictorArg::Ewma => SimPredictor::Ewma,
        },
        ewma_alpha: args.alpha,
        gaps: match args.gaps {
            GapArg::Zero => GapPolicy::Zero,
            GapArg::Predicted => GapPolicy::Predicted,
        },
    })
}

fn simulate_cmd(args: &SimulateArgs) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    let trace = args.trace.read()?;
    if args.from_day >= trace.series.days() {
        bail!(
            "--from-day {} is past the trace's {} days",
            args.from_day,
            trace.series.days()
        );
    }
    let to = args
        .days
        .map_or(trace.series.days(), |d| args.from_day.saturating_add(d));
    let trace = trace.slice_days(args.from_day, to);
    let (series, first) = (&trace.series, trace.first_day);
    let config = node(args)?;
    let kinds: Vec<SchedulerKind> = match args.scheduler {
        SchedulerArg::Kansal => vec![SchedulerKind::Kansal],
        SchedulerArg::Dp => vec![SchedulerKind::Dp],
        SchedulerArg::Both => vec![SchedulerKind::Kansal, SchedulerKind::Dp],
    };
    let mut slots = args.slots.clone();
    slots.sort_unstable();
    slots.dedup();
    let runs: Vec<(SchedulerKind, usize)> = kinds
        .iter()
        .flat_map(|&k| slots.iter().map(move |&s| (k, s)))
        .collect();
    let bar = crate::progress::bar(runs.len() as u64, "simulate");
    let mut reports = Vec::with_capacity(runs.len());
    for &(kind, k) in &runs {
        let started = std::time::Instant::now();
        let report = simulate(series, first, &config, kind, k)?;
        reports.push((report, started.elapsed().as_secs_f64()));
        bar.inc(1);
    }
    bar.finish_and_clear();

    if args.json {
        let out: Vec<serde_json::Value> = reports
            .iter()
            .map(|(r, secs)| {
                serde_json::json!({
                    "scheduler": r.scheduler, "slots": r.slots, "days": r.days, "utility": r.utility,
                    "utility_fraction": r.utility_fraction, "downtime_slots": r.downtime_slots,
                    "downtime_days": r.downtime_days, "harvested_wh": r.harvested, "consumed_wh": r.consumed,
                    "wasted_wh": r.wasted, "neutral_days": r.neutral_days, "kansal_conditions": r.neutrality, "infeasible_days": r.infeasible_days,
                    "months": r.months, "plan_check": r.plan_check, "seconds": secs,
                })
            })
            .collect();
        writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "node": config, "runs": out }))?
        )?;
    } else {
        writeln!(
            stdout,
            "{} days from {} ({} trace slots/day, {} gap slots); DP table for 96 slots x {} levels: {} bytes",
            series.days(),
            first,
            series.slots_per_day(),
            series.gaps(),
            config.levels,
            DpScheduler::table_bytes(96, config.levels as usize)
        )?;
        writeln!(
            stdout,
            "{:<7} {:>5} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>7}",
            "sched",
            "slots",
            "utility%",
            "down",
            "downdays",
            "wastedWh",
            "harvWh",
            "neutral",
            "infeasible",
            "secs"
        )?;
        for (r, secs) in &reports {
            writeln!(
                stdout,
                "{:<7} {:>5} {:>9.2} {:>8} {:>9} {:>9.1} {:>9.1} {:>9} {:>10} {:>7.2}",
                format!("{:?}", r.scheduler).to_lowercase(),
                r.slots,
                100.0 * r.utility_fraction,
                r.downtime_slots,
                r.downtime_days,
                r.wasted,
                r.harvested,
                format!("{}/{}", r.neutral_days, r.days),
                r.infeasible_days,
                secs
            )?;
            for (what, n) in ["dc_min", "dc_max"].iter().zip(&r.neutrality) {
                let verdict = match n.first_failure() {
                    None => "all hold".to_string(),
                    Some(c) => format!("fails {} ({:.3} < {:.3})", c.name, c.lhs, c.rhs),
                };
                writeln!(
                    stdout,
                    "        Kansal's conditions at {what}: rho_s {:.4} Wh/slot, sigma {:.2} Wh, rho_c {:.4} Wh/slot: {verdict}",
                    n.rho_s, n.sigma, n.rho_c
                )?;
            }
            if let Some(c) = &r.plan_check {
                writeln!(
                    stdout,
                    "        plans vs Kansal: {} days, Kansal feasible in the DP model on {}, DP worse on {}, Kansal infeasible on {}; planned utility DP {:.0} vs Kansal {:.0}",
                    c.days,
                    c.kansal_feasible,
                    c.dp_worse,
                    c.kansal_infeasible,
                    c.dp_planned_utility,
                    c.kansal_planned_utility
                )?;
            }
        }
    }
    plots(
        args,
        &config,
        &reports.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(),
    )
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn plots(args: &SimulateArgs, config: &NodeConfig, reports: &[SimReport]) -> Result<()> {
    let mut written = Vec::new();
    for kind in [SchedulerKind::Kansal, SchedulerKind::Dp] {
        let mine: Vec<&SimReport> = reports.iter().filter(|r| r.scheduler == kind).collect();
        if mine.is_empty() {
            continue;
        }
        let name = format!("{kind:?}").to_lowercase();
        let mut battery = Chart::new(
            format!("Battery at the end of each day ({name})"),
            "day",
            "battery (Wh)",
        );
        for (i, r) in mine.iter().enumerate() {
            let pts = r
                .battery_end_of_day
                .iter()
                .enumerate()
                .map(|(d, &b)| (d as f64, b))
                .collect();
            battery =
                battery.with(Series::new(format!("{} slots", r.slots), pts, Style::Line).color(i));
        }
        let days = mine[0].days as f64;
        battery = battery
            .with(
                Series::new(
                    "B_min",
                    vec![(0.0, config.battery_min), (days, config.battery_min)],
                    Style::Dashed,
                )
                .color(7),
            )
            .with(
                Series::new(
                    "B_max",
                    vec![(0.0, config.battery_max), (days, config.battery_max)],
                    Style::Dashed,
                )
                .color(6),
            );
        battery.y_range = Some((0.0, config.battery_max * 1.05));
        written.extend(battery.save(&args.out, &format!("battery_{name}"))?);

        let mut months = Chart::new(
            format!("Utility by month against the number of slots ({name})"),
            "slots per day",
            "utility (% of max)",
        );
        for m in 1..=12u8 {
            let pts: Vec<(f64, f64)> = mine
                .iter()
                .filter_map(|r| {
                    r.months
                        .iter()
                        .find(|s| s.month == m)
                        .map(|s| (r.slots as f64, 100.0 * s.utility_fraction))
                })
                .collect();
            if pts.is_empty() {
                continue;
            }
            let style = if mine.len() == 1 {
                Style::Points
            } else {
                Style::Line
            };
            months = months
                .with(Series::new(MONTHS[m as usize - 1], pts, style).color(usize::from(m - 1)));
        }
        months.y_range = Some((0.0, 105.0));
        written.extend(months.save(&args.out, &format!("utility_by_month_{name}"))?);
    }
    for p in written {
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_and_threshold_accept_only_what_they_say() {
        assert_eq!(parse_clip("auto"), Ok(Clip::AUTO));
        assert_eq!(parse_clip("none"), Ok(Clip::None));
        assert_eq!(parse_clip("1500"), Ok(Clip::Above(1500.0)));
        assert_eq!(parse_clip("2x"), Ok(Clip::Relative(2.0)));
        for bad in [
            "nan", "NaN", "-3", "0", "0x", "-1x", "infx", "inf", "1.5y", "",
        ] {
            assert!(parse_clip(bad).is_err(), "--clip {bad}");
        }
        assert_eq!(parse_fraction("0.1"), Ok(0.1));
        assert_eq!(parse_fraction("0"), Ok(0.0));
        for bad in ["1", "-0.1", "NaN", "inf", "x"] {
            assert!(parse_fraction(bad).is_err(), "--threshold {bad}");
        }
    }
}
