//! `powerslot plot SCHEDULE.json --instance FILE`: draws one schedule — who runs
//! when (a per-device timeline under the power it adds up to), power (or each
//! resource) in use against the capacity, and tasks finished over time. Also holds
//! the figure builders `powerslot paper` shares.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use powerslot_core::{Instance, Schedule, Slot, TaskId, read_instance, validate};
use powerslot_sim::plot_data::{
    finished_points, profile_points, resource_scale, time_label, usage_points,
};

use crate::plot::{Axis, Bar, Chart, Series, Style, Timeline};

/// Arguments of `powerslot plot`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The schedule: the JSON object `powerslot plan --json` prints.
    schedule: PathBuf,
    /// The instance the schedule belongs to (.sm, .rcp or .json).
    #[arg(long)]
    instance: PathBuf,
    /// Directory for the SVG and PNG files.
    #[arg(long, default_value = "out/plot")]
    out: PathBuf,
}

/// The part of `powerslot plan --json` this command reads.
#[derive(serde::Deserialize)]
struct PlanOutput {
    #[serde(default)]
    solver: Option<String>,
    tasks: Vec<PlannedTask>,
}

#[derive(serde::Deserialize)]
struct PlannedTask {
    id: serde_json::Value,
    start: Slot,
    #[serde(default)]
    finish: Option<Slot>,
}

/// Runs the command.
pub(crate) fn run(args: Args) -> Result<()> {
    let inst = read_instance(&args.instance)?;
    let text = std::fs::read_to_string(&args.schedule)
        .with_context(|| format!("cannot read {}", args.schedule.display()))?;
    let plan: PlanOutput = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not the JSON object `powerslot plan --json` prints",
            args.schedule.display()
        )
    })?;
    let schedule = schedule_from(&inst, &plan.tasks)
        .with_context(|| format!("{}", args.schedule.display()))?;
    if let Err(v) = validate(&inst, &schedule) {
        bail!(
            "{}: the schedule is infeasible for {}: {v}",
            args.schedule.display(),
            args.instance.display()
        );
    }
    let stem = args
        .schedule
        .file_stem()
        .map_or_else(|| "schedule".into(), |s| s.to_string_lossy().into_owned());
    let label = plan.solver.unwrap_or_else(|| "schedule".into());
    let mut files = Vec::new();
    let title = format!("{} — {label}", inst.name());
    let who = timeline(&inst, &schedule, &format!("{title}: who runs when"));
    files.extend(who.save(&args.out, &format!("{stem}_timeline"))?);
    for (suffix, chart) in usage_charts(&inst, &[(label.as_str(), &schedule)], &title) {
        files.extend(chart.save(&args.out, &format!("{stem}_{suffix}"))?);
    }
    let finished = finished_chart(
        &inst,
        &[(label.as_str(), &schedule)],
        &format!("{title}: tasks finished over time"),
    );
    files.extend(finished.save(&args.out, &format!("{stem}_finished"))?);
    println!(
        "makespan {} slots; wrote {}",
        schedule.makespan(&inst),
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// Canonical text of an id: a job number or a device id, as users write it.
fn id_key(id: &TaskId) -> String {
    match id {
        TaskId::Number(n) => n.to_string(),
        TaskId::Name(s) => s.clone(),
    }
}

fn schedule_from(inst: &Instance, tasks: &[PlannedTask]) -> Result<Schedule> {
    let index: HashMap<String, usize> = inst
        .tasks()
        .iter()
        .enumerate()
        .map(|(j, t)| (id_key(&t.id), j))
        .collect();
    let mut starts: Vec<Option<Slot>> = vec![None; inst.len()];
    for (row, t) in tasks.iter().enumerate() {
        let key = match &t.id {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            other => bail!("tasks[{row}]: id {other} is neither a string nor a number"),
        };
        let Some(&j) = index.get(&key) else {
            bail!(
                "tasks[{row}]: unknown task id '{key}' (not in the instance '{}')",
                inst.name()
            );
        };
        if starts[j].is_some() {
            bail!("tasks[{row}]: task '{key}' is listed twice");
        }
        let duration = inst.tasks()[j].duration;
        if let Some(f) = t.finish
            && f != t.start + duration
        {
            bail!(
                "tasks[{row}]: task '{key}' starts at {} and finishes at {f}, but it lasts {duration} slots",
                t.start
            );
        }
        starts[j] = Some(t.start);
    }
    let starts = starts
        .iter()
        .enumerate()
        .map(|(j, s)| {
            s.ok_or_else(|| {
                anyhow::anyhow!(
                    "task '{}' of the instance has no start in the schedule",
                    id_key(&inst.tasks()[j].id)
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Schedule::new(starts))
}

/// Time axis length: the longest makespan plus a margin.
fn horizon(inst: &Instance, schedules: &[(&str, &Schedule)]) -> Slot {
    let ms = schedules
        .iter()
        .map(|(_, s)| s.makespan(inst))
        .max()
        .unwrap_or(1);
    ms + (ms / 50).max(1)
}

/// Charts of resource use against capacity, one per resource, each with a
/// file-name suffix. For device problems with curves the first chart shows the
/// total power drawn (baseline + devices) against the maximum allowable power.
pub(crate) fn usage_charts(
    inst: &Instance,
    schedules: &[(&str, &Schedule)],
    title: &str,
) -> Vec<(String, Chart)> {
    let len = horizon(inst, schedules);
    (0..inst.resources().len())
        .map(|k| {
            let res = &inst.resources()[k];
            let (scale, unit) = resource_scale(inst, k);
            let curves = inst.power_curves().filter(|_| k == 0);
            let what = if curves.is_some() {
                "total power drawn"
            } else {
                "in use"
            };
            let heading = if curves.is_some() {
                title.to_string()
            } else {
                format!("{title} — {} {what}", res.name)
            };
            let mut chart = Chart::new(heading, time_label(inst), format!("{} ({unit})", res.name));
            for (i, (label, s)) in schedules.iter().enumerate() {
                chart = chart.with(
                    Series::new(
                        format!("{what}, {label}"),
                        usage_points(inst, s, k, len, curves.is_some()),
                        Style::Step,
                    )
                    .color(i),
                );
            }
            chart = match curves {
                Some(c) => chart
                    .with(
                        Series::new(
                            "maximum allowable power",
                            profile_points(inst, &c.budget_mw, scale, len),
                            Style::DashedStep,
                        )
                        .color(7),
                    )
                    .with(
                        Series::new(
                            "baseline (non-smart load)",
                            profile_points(inst, &c.baseline_mw, scale, len),
                            Style::Area,
                        )
                        .color(2),
                    ),
                None => chart.with(
                    Series::new(
                        "capacity",
                        profile_points(inst, &res.capacity, scale, len),
                        Style::DashedStep,
                    )
                    .color(7),
                ),
            };
            let suffix = if k == 0 && inst.resources().len() == 1 {
                "power".to_string()
            } else {
                format!("resource_{}", res.name)
            };
            (suffix, chart)
        })
        .collect()
}

/// The per-device timeline of one schedule: a bar per task from its start to its
/// finish, behind it the window it had to keep, in order of start; above, the power
/// panel of [`usage_charts`] (total power drawn against the budget for device
/// problems, else the first resource against its capacity). On a time grid the x
/// axis reads clock times (hours since midnight of day 0), otherwise slots.
pub(crate) fn timeline(inst: &Instance, schedule: &Schedule, title: &str) -> Timeline {
    let grid = inst.grid();
    let hours = |slot: f64| match grid {
        Some(g) => (g.origin_seconds as f64 + slot * f64::from(g.slot_seconds)) / 3600.0,
        None => slot,
    };
    // The usage chart's x is minutes since slot 0 (or slots); move it onto this axis.
    let minutes_per_slot = grid.map_or(1.0, |g| g.slot_minutes());
    let (_, usage) = usage_charts(inst, &[("plan", schedule)], title)
        .into_iter()
        .next()
        .expect("an instance has at least one resource");
    let power = usage
        .series
        .into_iter()
        .map(|mut s| {
            for p in &mut s.points {
                p.0 = hours(p.0 / minutes_per_slot);
            }
            s.name = s.name.trim_end_matches(", plan").to_string();
            s
        })
        .collect();
    let mut order: Vec<usize> = (0..inst.len()).collect();
    order.sort_by_key(|&j| (schedule.starts[j], j));
    let bars = order
        .iter()
        .map(|&j| {
            let t = &inst.tasks()[j];
            let window = (t.release > 0 || t.deadline.is_some()).then(|| {
                let end = t.deadline.map_or(f64::INFINITY, |d| hours(f64::from(d)));
                (hours(f64::from(t.release)), end)
            });
            Bar {
                label: match &t.id {
                    TaskId::Name(s) => s.clone(),
                    TaskId::Number(n) => format!("job {n}"),
                },
                start: hours(f64::from(schedule.starts[j])),
                finish: hours(f64::from(schedule.finish(inst, j))),
                window,
            }
        })
        .collect();
    let x_label = match grid {
        Some(g) => match g.start {
            Some(start) => format!(
                "time of day (plan starts {} {})",
                g.clock(0),
                start.offset()
            ),
            None => "time of day (from midnight of day 0)".into(),
        },
        None => "time (slots)".into(),
    };
    let (_, unit) = resource_scale(inst, 0);
    Timeline {
        title: title.to_string(),
        x_label,
        x_axis: if grid.is_some() {
            Axis::Clock
        } else {
            Axis::Real
        },
        power_label: format!("{} ({unit})", inst.resources()[0].name),
        power,
        bars,
    }
}

/// Tasks (devices) finished by each time, one line per schedule.
pub(crate) fn finished_chart(
    inst: &Instance,
    schedules: &[(&str, &Schedule)],
    title: &str,
) -> Chart {
    let len = horizon(inst, schedules);
    let mut chart = Chart::new(title, time_label(inst), "tasks finished (count)");
    for (i, (label, s)) in schedules.iter().enumerate() {
        chart =
            chart.with(Series::new(*label, finished_points(inst, s, len), Style::Step).color(i));
    }
    chart.y_range = Some((0.0, inst.len() as f64 * 1.05));
    chart.y_axis = Axis::Count;
    chart
}

#[cfg(test)]
mod tests {
    use super::*;
    use powerslot_core::formats::native;

    fn inst() -> Instance {
        let json = r#"{"capacity_mw": 5000, "devices": [
            {"id": "a", "power_mw": 3000, "duration_slots": 2},
            {"id": "b", "power_mw": 3000, "duration_slots": 1, "predecessors": ["a"]}]}"#;
        Instance::new(native::parse(json, "t").unwrap()).unwrap()
    }

    fn tasks(json: &str) -> Vec<PlannedTask> {
        serde_json::from_str::<PlanOutput>(json).unwrap().tasks
    }

    #[test]
    fn reads_a_plan_and_names_what_is_wrong() {
        let inst = inst();
        let ok =
            tasks(r#"{"tasks": [{"id": "b", "start": 2, "finish": 3}, {"id": "a", "start": 0}]}"#);
        assert_eq!(schedule_from(&inst, &ok).unwrap().starts, vec![0, 2]);
        let unknown = tasks(r#"{"tasks": [{"id": "c", "start": 0}]}"#);
        let e = schedule_from(&inst, &unknown).unwrap_err().to_string();
        assert!(e.contains("unknown task id 'c'"), "{e}");
        let missing = tasks(r#"{"tasks": [{"id": "a", "start": 0}]}"#);
        let e = schedule_from(&inst, &missing).unwrap_err().to_string();
        assert!(e.contains("'b'") && e.contains("no start"), "{e}");
        let wrong =
            tasks(r#"{"tasks": [{"id": "a", "start": 0, "finish": 5}, {"id": "b", "start": 2}]}"#);
        let e = schedule_from(&inst, &wrong).unwrap_err().to_string();
        assert!(e.contains("lasts 2 slots"), "{e}");
        let twice = tasks(r#"{"tasks": [{"id": "a", "start": 0}, {"id": "a", "start": 1}]}"#);
        assert!(
            schedule_from(&inst, &twice)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }

    #[test]
    fn charts_show_power_and_finished_tasks() {
        let inst = inst();
        let s = Schedule::new(vec![0, 2]);
        let charts = usage_charts(&inst, &[("x", &s)], "t");
        assert_eq!(charts.len(), 1);
        assert_eq!(charts[0].0, "power");
        let usage = &charts[0].1.series[0].points;
        assert_eq!(usage[0], (0.0, 0.003));
        let fin = finished_chart(&inst, &[("x", &s)], "t");
        assert_eq!(fin.series[0].points.last().unwrap().1, 2.0);
    }

    #[test]
    fn the_timeline_shows_each_device_in_clock_time() {
        let json = r#"{"start": "2026-06-01T18:00+02:00", "slot": "30 min", "capacity": "5 kW",
            "devices": [
              {"id": "a", "power": "3 kW", "duration": "1 h"},
              {"id": "b", "power": "3 kW", "duration": "30 min", "predecessors": ["a"],
               "deadline": "20:00"}]}"#;
        let inst = Instance::new(native::parse(json, "t").unwrap()).unwrap();
        let t = timeline(&inst, &Schedule::new(vec![0, 2]), "t");
        assert_eq!(t.x_axis, Axis::Clock);
        assert!(
            t.x_label.contains("2026-06-01 18:00 +02:00"),
            "{}",
            t.x_label
        );
        let b = &t.bars[1];
        assert_eq!((b.label.as_str(), b.start, b.finish), ("b", 19.0, 19.5));
        assert_eq!(b.window, Some((18.0, 20.0)));
        assert_eq!(t.bars[0].window, None);
        // The power panel shares the axis: capacity and power in use from 18:00.
        assert_eq!(t.power[0].name, "in use");
        assert_eq!(t.power[0].points[0], (18.0, 3.0));
        assert_eq!(t.power_label, "power (kW)");
    }
}
