//! `powerslot paper`: reruns the smart-device power allocation study (seed 001)
//! — three scenarios, the paper's methods, the project's best planner — prints
//! the paper's Table 2 beside the reproduced one and draws the paper's figures.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use powerslot_core::Schedule;
use powerslot_core::formats::native::NativeInstance;
use powerslot_sim::plot_data::daily_points;
use powerslot_sim::study::{MethodSummary, ScenarioRun, paper_delta_min};
use powerslot_sim::{
    Method, Scenario, ScenarioParams, Study, StudyConfig, Table, curves, run_study, summarize,
    validation,
};

use super::figure::{finished_chart, timeline, usage_charts};
use crate::plot::{Axis, Chart, Series, Style};

/// Arguments of `powerslot paper`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Number of seeds per scenario (the paper used 100).
    #[arg(long, default_value_t = 100)]
    runs: usize,
    /// Seed of the first run; run r uses seed + r.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory for figures (SVG and PNG) and instances.
    #[arg(long, default_value = "out/paper")]
    out: PathBuf,
    /// Worker threads (each solve is single-threaded; results do not depend on this).
    #[arg(long)]
    threads: Option<usize>,
    /// Print one JSON object instead of the table (figures are still written).
    #[arg(long)]
    json: bool,
    /// Slot length in minutes (must divide 1440).
    #[arg(long, default_value_t = 1)]
    slot_minutes: u32,
    /// Ants per ACO iteration (the paper does not say; it used 5 for validation).
    #[arg(long, default_value_t = 10)]
    ants: usize,
    /// Schedules the best planner may generate per instance.
    #[arg(long, default_value_t = 5_000)]
    best_schedules: u64,
    /// Also write run 0's three instances as native JSON into OUT/instances.
    #[arg(long)]
    write_instances: bool,
    /// Skip the figures.
    #[arg(long)]
    no_figures: bool,
}

/// Runs the command.
pub(crate) fn run(args: Args) -> Result<()> {
    let threads = super::threads(args.threads)?;
    let cfg = StudyConfig {
        params: ScenarioParams {
            slot_minutes: args.slot_minutes,
            ..ScenarioParams::default()
        },
        runs: args.runs,
        seed: args.seed,
        ants: args.ants,
        best_schedules: args.best_schedules,
        threads,
        ..StudyConfig::default()
    };
    let started = std::time::Instant::now();
    // One step per instance: each run seeds one instance of every scenario.
    let bar = crate::progress::bar((args.runs * Scenario::ALL.len()) as u64, "instances");
    let study = run_study(&cfg, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let table = summarize(&study);
    let mut files = Vec::new();
    if args.write_instances {
        files.extend(write_instances(&study, &args.out.join("instances"))?);
    }
    if !args.no_figures {
        files.extend(figures(&study, &args.out)?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&table)?);
        if !files.is_empty() {
            eprintln!("wrote {} files into {}", files.len(), args.out.display());
        }
    } else {
        print_table(&cfg, &table);
        println!(
            "\n{} runs × 3 scenarios on {threads} threads in {:.1} s",
            args.runs,
            elapsed.as_secs_f64()
        );
        for f in &files {
            println!("wrote {}", f.display());
        }
    }
    Ok(())
}

fn cell(m: Option<&MethodSummary>) -> String {
    match m.and_then(|m| m.delta_vs_aco_mean_min.zip(m.delta_vs_aco_ci95_min)) {
        Some((d, ci)) if ci.is_finite() => format!("{d:+.1} ± {ci:.1}"),
        Some((d, _)) => format!("{d:+.1}"),
        None => "–".into(),
    }
}

fn print_table(cfg: &StudyConfig, table: &Table) {
    let find = |s: usize, name: &str| table.scenarios[s].methods.iter().find(|m| m.name == name);
    println!(
        "Table 2 — allocation time minus ACO (mean over {} runs, minutes; ± is the 95 % t-interval half-width of the paired differences)",
        cfg.runs
    );
    println!(
        "ACO: {} ants × {} iterations ({} against Descending Chain Duration with precedence); best planner: {} schedules; {}-minute slots\n",
        cfg.ants,
        cfg.aco_iterations,
        cfg.aco_long_iterations,
        cfg.best_schedules,
        cfg.params.slot_minutes
    );
    print!("{:<28}", "method");
    for s in Scenario::ALL {
        print!(" | {:^30}", s.title());
    }
    println!();
    print!("{:<28}", "");
    for _ in Scenario::ALL {
        print!(" | {:>7} {:>15} {:>6}", "paper", "reproduced", "sign");
    }
    println!();
    let rows = [
        Method::SimpleQueue,
        Method::DescendingDuration,
        Method::DescendingChain,
        Method::Best,
    ];
    let mut matched = 0;
    let mut total = 0;
    for method in rows {
        let label = if method == Method::Best {
            "Best planner (extra row)"
        } else {
            method.name()
        };
        print!("{label:<28}");
        for (i, s) in Scenario::ALL.iter().enumerate() {
            let m = find(i, method.name());
            let paper = paper_delta_min(*s, method).map_or("–".into(), |p| format!("{p:+.1}"));
            let sign = match m.and_then(|m| m.sign_matches) {
                Some(true) => {
                    matched += 1;
                    total += 1;
                    "ok"
                }
                Some(false) => {
                    total += 1;
                    "DIFF"
                }
                None => "",
            };
            print!(" | {paper:>7} {:>15} {sign:>6}", cell(m));
        }
        println!();
    }
    print!("{:<28}", "Best planner gap to LB (%)");
    for s in &table.scenarios {
        print!(
            " | {:>7} {:>15} {:>6}",
            "–",
            format!("{:.2} %", s.best_gap_to_lower_bound_pct),
            ""
        );
    }
    println!();
    println!("\nsigns matching the paper: {matched} of {total}");
    println!("\nmean allocation time per method (minutes) and mean solve time:");
    for s in &table.scenarios {
        println!(
            "  {} (lower bound {:.1} min):",
            s.name, s.lower_bound_mean_min
        );
        for m in &s.methods {
            let vs =
                m.vs.as_deref()
                    .map_or(String::new(), |v| format!(", vs {v}"));
            println!(
                "    {:<28} {:>8.1} min  ({:.3} s per solve{vs})",
                m.name, m.mean_makespan_min, m.mean_elapsed_s
            );
        }
    }
}

fn write_instances(study: &Study, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    study
        .runs
        .iter()
        .filter(|r| r.run == 0)
        .map(|r| {
            let native = NativeInstance::from_instance(&r.instance)
                .context("a paper instance has one resource")?;
            let path = dir.join(format!("{}.json", r.instance.name()));
            std::fs::write(&path, serde_json::to_string(&native)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(path)
        })
        .collect()
}

fn first(study: &Study, scenario: Scenario) -> Option<&ScenarioRun> {
    study
        .runs
        .iter()
        .find(|r| r.run == 0 && r.scenario == scenario)
}

fn sched(run: &ScenarioRun, m: Method) -> Option<(&'static str, &Schedule)> {
    run.get(m).map(|x| (m.name(), &x.schedule))
}

fn compare(run: &ScenarioRun, a: Method, b: Method, title: &str) -> Option<Chart> {
    let pair = [sched(run, a)?, sched(run, b)?];
    let (_, chart) = usage_charts(&run.instance, &pair, title)
        .into_iter()
        .next()?;
    Some(chart)
}

fn figures(study: &Study, out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let params = &study.config.params;
    let grid = curves::grid(params.slot_minutes)?;
    let std_curves = curves::power_curves(&params.curves, grid, curves::Baseline::Standard);
    let strict = curves::power_curves(&params.curves, grid, curves::Baseline::Strict);
    let fig2 = Chart::new(
        "Figure 2 — baseline and maximum power curves (two days)",
        "time of day (h, from midnight of day 0)",
        "power (kW)",
    )
    .with(
        Series::new(
            "maximum allowable power",
            daily_points(&std_curves.budget_mw, grid, 2),
            Style::Step,
        )
        .color(7),
    )
    .with(
        Series::new(
            "baseline (non-smart load)",
            daily_points(&std_curves.baseline_mw, grid, 2),
            Style::Step,
        )
        .color(0),
    )
    .with(
        Series::new(
            "strict scenario baseline",
            daily_points(&strict.baseline_mw, grid, 2),
            Style::Dashed,
        )
        .color(1),
    );
    files.extend(fig2.save(out, "fig2_curves")?);

    files.extend(validation_figures(out)?);

    let pairs: [(&str, Scenario, Method, Method, &str); 5] = [
        (
            "fig4a_standard_simple_queue_vs_aco",
            Scenario::Standard,
            Method::SimpleQueue,
            Method::Aco,
            "Figure 4a — standard: Simple Queue vs ACO",
        ),
        (
            "fig5_standard_descending_duration_vs_aco",
            Scenario::Standard,
            Method::DescendingDuration,
            Method::Aco,
            "Figure 5 — standard: Descending Duration vs ACO",
        ),
        (
            "fig6a_precedence_descending_duration_vs_aco",
            Scenario::WithPrecedence,
            Method::DescendingDuration,
            Method::Aco,
            "Figure 6a — with precedence: Descending Duration vs ACO",
        ),
        (
            "fig6b_precedence_descending_chain_vs_aco_long",
            Scenario::WithPrecedence,
            Method::DescendingChain,
            Method::AcoLong,
            "Figure 6b — with precedence: Descending Chain Duration vs ACO (long)",
        ),
        (
            "fig7_strict_descending_chain_vs_aco",
            Scenario::Strict,
            Method::DescendingChain,
            Method::Aco,
            "Figure 7 — strict: Descending Chain Duration vs ACO",
        ),
    ];
    for (stem, scenario, a, b, title) in pairs {
        if let Some(chart) = first(study, scenario).and_then(|r| compare(r, a, b, title)) {
            files.extend(chart.save(out, stem)?);
        }
    }
    if let Some(run) = first(study, Scenario::Standard)
        && let (Some(a), Some(b)) = (sched(run, Method::SimpleQueue), sched(run, Method::Aco))
    {
        let chart = finished_chart(
            &run.instance,
            &[a, b],
            "Figure 4b — standard: devices finished over time",
        );
        files.extend(chart.save(out, "fig4b_standard_devices_finished")?);
    }
    for scenario in Scenario::ALL {
        let reference = Method::Best.reference(scenario).unwrap_or(Method::Aco);
        let title = format!(
            "Extra — {}: best planner vs {}",
            scenario.name(),
            reference.name()
        );
        if let Some(chart) =
            first(study, scenario).and_then(|r| compare(r, Method::Best, reference, &title))
        {
            files.extend(chart.save(out, &format!("fig8_{}_best_vs_aco", scenario.name()))?);
        }
        // Who runs when in the best planner's schedule of run 0.
        if let Some((run, (_, best))) =
            first(study, scenario).and_then(|r| Some((r, sched(r, Method::Best)?)))
        {
            let title = format!(
                "Extra — {}: the best planner's schedule, device by device",
                scenario.name()
            );
            files.extend(
                timeline(&run.instance, best, &title)
                    .save(out, &format!("fig9_{}_best_timeline", scenario.name()))?,
            );
        }
    }
    Ok(files)
}

fn validation_figures(out: &Path) -> Result<Vec<PathBuf>> {
    let inst = validation::validation_instance();
    let (optimum, _) = validation::brute_force_optimum(&inst)?;
    let conv = validation::aco_convergence(&inst, 5, 5, 1)?;
    let mut files = Vec::new();
    let hours =
        |slots: u32| f64::from(slots) * inst.grid().map_or(1.0, |g| g.slot_minutes() / 60.0);
    let mut a = Chart::new(
        "Figure 3a — validation: ACO (5 ants) best allocation time per iteration",
        "iterations",
        "allocation time (h)",
    )
    .with(Series::new(
        "ACO best so far",
        conv.iter()
            .map(|(it, ms, _)| (*it as f64, hours(*ms)))
            .collect(),
        Style::Line,
    ))
    .with(
        Series::new(
            "optimum (enumeration)",
            vec![(1.0, hours(optimum)), (conv.len() as f64, hours(optimum))],
            Style::Dashed,
        )
        .color(1),
    );
    a.y_range = Some((0.0, hours(optimum) * 1.5));
    a.x_range = Some((0.8, conv.len() as f64 + 0.2));
    a.x_axis = Axis::Count;
    files.extend(a.save(out, "fig3a_validation_convergence")?);

    // Figure 3b: the ACO's final schedule as stacked device power under the
    // capacity; each line adds one device, in order of start.
    if let Some((_, ms, schedule)) = conv.last() {
        let len = *ms + 1;
        let capacity = &inst.resources()[0].capacity;
        let mut order: Vec<usize> = (0..inst.len()).collect();
        order.sort_by_key(|&j| (schedule.starts[j], j));
        let mut stacked = vec![0.0f64; len as usize];
        let mut b = Chart::new(
            format!(
                "Figure 3b — validation: ACO schedule (allocation time {} h, optimum {} h)",
                hours(*ms),
                hours(optimum)
            ),
            "time (h)",
            "stacked device power (kW)",
        );
        for (i, &j) in order.iter().enumerate() {
            let t = &inst.tasks()[j];
            for s in schedule.starts[j]..schedule.starts[j] + t.duration {
                stacked[s as usize] += t.demand[0] as f64 * 1e-6;
            }
            let mut pts: Vec<(f64, f64)> = stacked
                .iter()
                .enumerate()
                .map(|(s, v)| (hours(s as u32), *v))
                .collect();
            pts.push((hours(len), *stacked.last().unwrap_or(&0.0)));
            let name = format!("+ {}", t.id.to_string().trim_matches('\''));
            b = b.with(Series::new(name, pts, Style::Step).color(i));
        }
        // Capacity is constant within a slot: draw it as a staircase.
        let cap_pts: Vec<(f64, f64)> = (0..len)
            .flat_map(|s| {
                let v = capacity.at(s) as f64 * 1e-6;
                [(hours(s), v), (hours(s + 1), v)]
            })
            .collect();
        b = b.with(Series::new("capacity", cap_pts, Style::Dashed).color(7));
        b.y_range = Some((0.0, capacity.max() as f64 * 1e-6 * 1.35));
        files.extend(b.save(out, "fig3b_validation_schedule")?);
        let who = timeline(
            &inst,
            schedule,
            "Figure 3b, device by device — validation: the ACO's schedule",
        );
        files.extend(who.save(out, "fig3c_validation_timeline")?);
    }
    Ok(files)
}
