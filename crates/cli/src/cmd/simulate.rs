//! `powerslot simulate`: the fleet simulator — every mechanism on the same real traces, side
//! by side, with the central reference, a table, JSON and figures.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args as ClapArgs;
use powerslot_protocol::Priority;
use powerslot_sim::fleet::central::{Central, CentralKind, central};
use powerslot_sim::fleet::engine::{self, Foresight, MechResult, Mechanism, RunConfig};
use powerslot_sim::fleet::model::{Fleet, NetConfig, SimKind};
use powerslot_sim::fleet::population::{self, BuildOptions, ScenarioKind};
use powerslot_sim::fleet::scenario_file;
use powerslot_sim::fleet::traces::DataSource;
use rayon::prelude::*;
use serde_json::json;

use crate::plot::{Chart, Series, Style};
use crate::progress;

/// Simulate a fleet of devices under every negotiation mechanism, on real traces.
#[derive(ClapArgs)]
pub(crate) struct Args {
    /// A scenario file (TOML) describing your own site; without it, `--scenario`.
    scenario_file: Option<PathBuf>,
    /// A built-in scenario.
    #[arg(long, default_value = "neighbourhood", value_parser = ["neighbourhood", "poe-switch", "sensor-field"])]
    scenario: String,
    /// Devices (the scenario's mix is scaled to this many) [default: 200, or the file's].
    #[arg(long)]
    devices: Option<usize>,
    /// Days simulated, 1 to 366 [default: 1, or the file's].
    #[arg(long)]
    days: Option<u32>,
    /// Mechanisms to run, comma-separated (uncoordinated, seed-rule, one-shot-market,
    /// powerslot, powerslot-peer).
    #[arg(
        long,
        default_value = "uncoordinated,seed-rule,one-shot-market,powerslot,powerslot-peer"
    )]
    mechanisms: String,
    /// Probability that a message is lost (0 to 0.9).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Probability that a message is delivered twice (0 to 0.9).
    #[arg(long, default_value_t = 0.0)]
    duplication: f64,
    /// One-way network latency, ms (jitter adds up to as much again).
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// A partition: from minute START of the run, for MINUTES minutes, nothing crosses.
    #[arg(long, value_name = "START_MIN:MINUTES")]
    partition: Option<String>,
    /// Fraction of devices that go offline once, for one to three hours (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    churn: f64,
    /// Seed of the fleet, the network and the forecasters [default: 1, or the file's].
    #[arg(long)]
    seed: Option<u64>,
    /// The forecaster of uncontrollable loads (a `powerslot forecast` model name).
    #[arg(long, default_value = "seasonal-naive")]
    forecaster: String,
    /// A diagnostic: what the mechanisms know of the future. `forecasts`: every forecast is
    /// the real future (households, elastic loads, appliances' cycles, solar); `full`: also
    /// every job asked as soon as its window fits the horizon. Against the central reference
    /// it shows how much of a mechanism's gap is information and how much its rules.
    #[arg(long, default_value = "none", value_parser = ["none", "forecasts", "full"])]
    foresight: String,
    /// The central reference: exact MILP on small fleets, a proven upper bound beyond (`auto`:
    /// the smaller of the LP relaxation, solved up to some 2,000 homes, and the Lagrangian
    /// bound), or `none`.
    #[arg(long, default_value = "auto", value_parser = ["auto", "none"])]
    central: String,
    /// Data directory laid out like ../shared/data (default: the samples shipped in the binary).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Where figures go.
    #[arg(long, default_value = "out/simulate")]
    out: PathBuf,
    /// Skip the figures.
    #[arg(long)]
    no_figures: bool,
}

fn fraction(name: &str, v: f64, max: f64) -> Result<f64> {
    if !(0.0..=max).contains(&v) || !v.is_finite() {
        bail!("--{name} must be between 0 and {max}, got {v}");
    }
    Ok(v)
}

pub(crate) fn run(a: Args) -> Result<()> {
    let mechanisms: Vec<Mechanism> = a
        .mechanisms
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            Mechanism::parse(s).ok_or_else(|| {
                anyhow!(
                    "--mechanisms: unknown mechanism '{}' (known: uncoordinated, seed-rule, one-shot-market, powerslot, powerslot-peer)",
                    s.trim()
                )
            })
        })
        .collect::<Result<_>>()?;
    if mechanisms.is_empty() {
        bail!("--mechanisms: name at least one mechanism");
    }
    let devices = a.devices.unwrap_or(200);
    if devices == 0 || devices > 1_000_000 {
        bail!("--devices must be between 1 and 1000000, got {devices}");
    }
    let days = a.days.unwrap_or(1);
    if days == 0 || days > 366 {
        bail!("--days must be between 1 and 366, got {days}");
    }
    let seed = a.seed.unwrap_or(1);
    if a.latency_ms > 60_000 {
        bail!("--latency-ms must be at most 60000, got {}", a.latency_ms);
    }
    let partition = match &a.partition {
        None => None,
        Some(p) => {
            let (s, l) = p
                .split_once(':')
                .ok_or_else(|| anyhow!("--partition must be START_MIN:MINUTES, got '{p}'"))?;
            let s: u64 = s
                .trim()
                .parse()
                .map_err(|_| anyhow!("--partition: start '{s}' is not a number of minutes"))?;
            let l: u64 = l
                .trim()
                .parse()
                .map_err(|_| anyhow!("--partition: length '{l}' is not a number of minutes"))?;
            Some((s, l))
        }
    };
    let net = NetConfig {
        latency_ms: a.latency_ms,
        loss: fraction("loss", a.loss, 0.9)?,
        duplication: fraction("duplication", a.duplication, 0.9)?,
        partition,
        churn: fraction("churn", a.churn, 1.0)?,
    };
    let source = match &a.data {
        Some(d) => DataSource::Dir(d.clone()),
        None => DataSource::Samples,
    };
    let opts = BuildOptions {
        devices,
        days,
        seed,
        ..BuildOptions::default()
    };
    let overrides = scenario_file::Overrides {
        devices: a.devices,
        days: a.days,
        seed: a.seed,
    };
    let fleet: Fleet = match &a.scenario_file {
        Some(path) => scenario_file::load(path, &overrides)
            .with_context(|| format!("scenario file {}", path.display()))?,
        None => {
            let kind = ScenarioKind::parse(&a.scenario)
                .ok_or_else(|| anyhow!("--scenario: unknown '{}'", a.scenario))?;
            population::build(kind, &source, &opts)?
        }
    };
    let cfg = RunConfig {
        net,
        seed,
        forecaster: a.forecaster.clone(),
        foresight: Foresight::parse(&a.foresight)
            .ok_or_else(|| anyhow!("--foresight: unknown '{}'", a.foresight))?,
        ..RunConfig::default()
    };
    if !a.json {
        eprintln!(
            "simulate: {} — {} devices, {} slots of {} min, mechanisms {}",
            fleet.name,
            fleet.devices.len(),
            fleet.slots,
            fleet.slot_ms / 60_000,
            mechanisms
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let bar = progress::bar(
        u64::from(fleet.slots) * mechanisms.len() as u64,
        "simulating",
    );
    let results: Vec<Result<MechResult, _>> = mechanisms
        .par_iter()
        .map(|&m| {
            let bar = bar.clone();
            let mut last = 0;
            engine::run(&fleet, m, &cfg, &mut |done| {
                bar.inc(u64::from(done - last));
                last = done;
            })
        })
        .collect();
    bar.finish_and_clear();
    let results: Vec<MechResult> = results.into_iter().collect::<Result<_, _>>()?;
    let reference = if a.central == "none" {
        None
    } else {
        let room = powerslot_sim::fleet::central::room_of_runs(&fleet, &results);
        let floors = powerslot_sim::fleet::central::battery_floors_of_runs(&fleet, &results);
        // The reference bounds a run only if the run fits its model; say where one does not.
        for r in results.iter().filter(|r| r.budget_violations == 0) {
            let a = powerslot_sim::fleet::central::audit(
                &fleet,
                &room,
                &floors,
                &r.credited_mw,
                &r.household_unserved_mw,
            )?;
            if let Some((c, s, kw)) = a.over_room.first() {
                eprintln!(
                    "warning: {} drew more than the reference's room in {} circuit-slots (first: {c}, slot {s}, {kw:.2} kW over); its ratio is not against a bound",
                    r.name,
                    a.over_room.len()
                );
            }
            if let Some((c, from, to, kwh)) =
                a.over_energy.iter().max_by(|x, y| x.3.total_cmp(&y.3))
            {
                eprintln!(
                    "warning: {} drew more energy than the reference allows in {} intervals (worst: {c}, slots {from}..={to}, {kwh:.2} kWh over); its ratio is not against a bound",
                    r.name,
                    a.over_energy.len()
                );
            }
        }
        let spin = progress::spinner("central reference (exact programme or its bounds)");
        let c = central(&fleet, &room, &[], 4, &floors);
        spin.finish_and_clear();
        Some(c?)
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(
                &fleet,
                &results,
                reference.as_ref(),
                cfg.foresight
            ))?
        );
    } else {
        print_table(&fleet, &results, reference.as_ref(), cfg.foresight);
    }
    if !a.no_figures {
        // Per mechanism and slot, the controllable loads' credited power by class (the class
        // figures and `slots.csv` both show it).
        let by_class: Vec<Vec<[f64; 4]>> = results
            .iter()
            .map(|r| fleet.controllable_by_class(&r.credited_mw))
            .collect();
        let mut files = figures(&fleet, &results, &by_class, reference.as_ref(), &a.out)?;
        files.push(write_device_outcomes(
            &fleet,
            &results,
            reference.as_ref(),
            &a.out,
        )?);
        files.push(write_slot_outcomes(
            &fleet,
            &results,
            &by_class,
            reference.as_ref(),
            &a.out,
        )?);
        if !a.json {
            eprintln!("figures: {}", files.join(", "));
        }
    }
    Ok(())
}

/// A run's welfare as a share of the reference's, where both are positive: with lost load
/// paid for, welfare can be negative, and a ratio of negative welfares means nothing.
fn ratio_to(welfare: f64, reference: Option<&Central>) -> Option<f64> {
    reference
        .filter(|c| c.welfare > 0.0 && welfare > 0.0)
        .map(|c| welfare / c.welfare)
}

/// A run's welfare as a share of the full-knowledge schedule's, where both are positive.
fn ratio_to_schedule(welfare: f64, reference: Option<&Central>) -> Option<f64> {
    reference
        .filter(|c| c.schedule_welfare > 0.0 && welfare > 0.0)
        .map(|c| welfare / c.schedule_welfare)
}

fn median_p99(v: &[u32]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let q = |p: f64| f64::from(s[((s.len() - 1) as f64 * p).round() as usize]);
    (q(0.5), q(0.99))
}

fn to_json(
    fleet: &Fleet,
    results: &[MechResult],
    reference: Option<&Central>,
    foresight: Foresight,
) -> serde_json::Value {
    let mechanisms: Vec<_> = results
        .iter()
        .map(|r| {
            let (rm, rp) = median_p99(&r.rounds);
            let (mm, mp) = median_p99(&r.messages_per_request);
            json!({
                "name": r.name,
                "budget_violations": r.budget_violations,
                "max_overshoot_w": r.max_overshoot_w,
                "peak_w": r.peak_w,
                "energy_served_kwh": r.energy_served_kwh,
                "granted_not_drawn_kwh": r.granted_not_drawn_kwh,
                "unmet_kwh": r.unmet_kwh,
                "deadline_misses": r.deadline_misses,
                "jobs": r.jobs,
                "welfare": r.welfare,
                "welfare_by_class": Priority::ALL
                    .iter()
                    .map(|&p| (p.name().to_string(), json!(r.welfare_by_class[p as usize])))
                    .collect::<serde_json::Map<_, _>>(),
                "welfare_ratio": ratio_to(r.welfare, reference),
                "welfare_ratio_to_schedule": ratio_to_schedule(r.welfare, reference),
                "rounds_median": rm,
                "rounds_p99": rp,
                "messages_per_request_median": mm,
                "messages_per_request_p99": mp,
                "messages_total": r.messages_total,
                "jain": r.jain,
                "starts_per_device": r.starts_per_device,
                "committed_moves": r.committed_moves,
                "jobs_cut": r.jobs_cut,
                "coordinator_ms_per_round": r.coordinator_ms_per_round,
                "rounds_run": r.batches,
                "spare_handouts": r.spare_handouts,
                "unstored_announcements": r.unstored_announcements,
                "fallbacks": r.fallbacks,
                "blackout_slots": r.blackout_slots,
                "unserved_kwh": r.unserved_kwh,
                "household_unserved_kwh": r.household_unserved_kwh,
            })
        })
        .collect();
    json!({
        "scenario": fleet.name,
        "devices": fleet.devices.len(),
        "slots": fleet.slots,
        "slot_minutes": fleet.slot_ms as f64 / 60_000.0,
        "foresight": foresight.name(),
        "central": reference.map(|c| json!({
            "welfare": c.welfare,
            "kind": c.kind.name(),
            "seconds": c.seconds,
            "binaries": c.binaries,
            "lagrangian_welfare": c.lagrangian_welfare,
            "schedule_welfare": c.schedule_welfare,
            "reserve_schedule_welfare": c.reserve_schedule_welfare,
            "battery_floors": c.battery_floors.iter().map(|f| json!({
                "circuit": f.circuit,
                "lowest_kwh": f.lowest_mwh / 1e6,
                "end_kwh": f.end_mwh / 1e6,
            })).collect::<Vec<_>>(),
            "schedule_value_by_class": {
                "critical": c.schedule_value_by_class[3],
                "high": c.schedule_value_by_class[2],
                "normal": c.schedule_value_by_class[1],
                "low": c.schedule_value_by_class[0],
            },
        })),
        "mechanisms": mechanisms,
        "data": fleet.provenance,
    })
}

fn print_table(
    fleet: &Fleet,
    results: &[MechResult],
    reference: Option<&Central>,
    foresight: Foresight,
) {
    println!(
        "{}: {} devices, {} slots of {} min",
        fleet.name,
        fleet.devices.len(),
        fleet.slots,
        fleet.slot_ms / 60_000
    );
    if foresight != Foresight::None {
        println!(
            "foresight: {} (a diagnostic: the mechanisms were told the future)",
            foresight.name()
        );
    }
    if let Some(c) = reference {
        let lagrangian = match (c.kind, c.lagrangian_welfare) {
            (CentralKind::LpRelaxation, Some(l)) => format!("; the Lagrangian bound {l:.1}"),
            _ => String::new(),
        };
        println!(
            "central reference: welfare {:.1} ({}, {} binaries, {:.1} s{lagrangian}); a feasible full-knowledge schedule reaches {:.1}{}",
            c.welfare,
            c.kind.name(),
            c.binaries,
            c.seconds,
            c.schedule_welfare,
            ratio_to(c.schedule_welfare, reference)
                .map_or_else(String::new, |x| format!(" ({x:.3})"))
        );
        let v = &c.schedule_value_by_class;
        println!(
            "  that schedule serves value crit / high / norm / low {:.0}/{:.0}/{:.0}/{:.0}; kept above the batteries' reserve it reaches {:.1}",
            v[3], v[2], v[1], v[0], c.reserve_schedule_welfare
        );
        for f in &c.battery_floors {
            println!(
                "  battery behind {} kept as the safe runs kept it: never below {:.1} kWh, {:.1} kWh at the end",
                f.circuit,
                f.lowest_mwh / 1e6,
                f.lowest_mwh.max(f.end_mwh) / 1e6
            );
        }
    }
    type Row<'a> = (&'static str, Box<dyn Fn(&MechResult) -> String + 'a>);
    let ratio = move |r: &MechResult| {
        ratio_to(r.welfare, reference).map_or_else(|| "-".into(), |x| format!("{x:.3}"))
    };
    let rows: Vec<Row> = vec![
        (
            "budget violations (circuit-slots)",
            Box::new(|r| r.budget_violations.to_string()),
        ),
        (
            "max overshoot, measured (W)",
            Box::new(|r| format!("{:.0}", r.max_overshoot_w)),
        ),
        (
            "peak at the root (W)",
            Box::new(|r| format!("{:.0}", r.peak_w)),
        ),
        (
            "energy served (kWh)",
            Box::new(|r| format!("{:.1}", r.energy_served_kwh)),
        ),
        (
            "granted, not drawn (kWh)",
            Box::new(|r| {
                if r.name == Mechanism::Uncoordinated.name() {
                    "–".to_string()
                } else {
                    format!("{:.1}", r.granted_not_drawn_kwh)
                }
            }),
        ),
        ("unmet (kWh)", Box::new(|r| format!("{:.1}", r.unmet_kwh))),
        (
            "deadline misses / jobs",
            Box::new(|r| format!("{} / {}", r.deadline_misses, r.jobs)),
        ),
        ("welfare", Box::new(|r| format!("{:.1}", r.welfare))),
        ("welfare ÷ central", Box::new(ratio)),
        (
            "welfare ÷ full-knowledge schedule",
            Box::new(move |r| {
                ratio_to_schedule(r.welfare, reference)
                    .map_or_else(|| "-".into(), |x| format!("{x:.3}"))
            }),
        ),
        (
            "value served crit / high / norm / low",
            Box::new(|r| {
                let w = &r.welfare_by_class;
                format!("{:.0}/{:.0}/{:.0}/{:.0}", w[3], w[2], w[1], w[0])
            }),
        ),
        (
            "rounds median / p99",
            Box::new(|r| {
                let (m, p) = median_p99(&r.rounds);
                format!("{m:.0} / {p:.0}")
            }),
        ),
        (
            "messages/request median / p99",
            Box::new(|r| {
                let (m, p) = median_p99(&r.messages_per_request);
                format!("{m:.0} / {p:.0}")
            }),
        ),
        (
            "messages in all",
            Box::new(|r| r.messages_total.to_string()),
        ),
        (
            "in-slot top-ups from the spare",
            Box::new(|r| r.spare_handouts.to_string()),
        ),
        (
            "Jain (elastic loads)",
            Box::new(|r| format!("{:.3}", r.jain)),
        ),
        (
            "starts per device",
            Box::new(|r| format!("{:.2}", r.starts_per_device)),
        ),
        (
            "committed moves / jobs cut",
            Box::new(|r| format!("{} / {}", r.committed_moves, r.jobs_cut)),
        ),
        (
            "coordinator ms per round",
            Box::new(|r| format!("{:.2}", r.coordinator_ms_per_round)),
        ),
        (
            "blackout slots (battery empty)",
            Box::new(|r| r.blackout_slots.to_string()),
        ),
        (
            "households' load lost (kWh)",
            Box::new(|r| format!("{:.1}", r.household_unserved_kwh)),
        ),
    ];
    // Columns as wide as their widest cell, so that no figure runs into the next.
    let cells: Vec<(&str, Vec<String>)> = rows
        .into_iter()
        .map(|(label, f)| (label, results.iter().map(&f).collect()))
        .collect();
    let label_w = cells
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let col_w = cells
        .iter()
        .flat_map(|(_, v)| v.iter().map(|c| c.chars().count()))
        .chain(results.iter().map(|r| r.name.len()))
        .max()
        .unwrap_or(0)
        .max(15)
        + 2;
    let mut header = format!("{:<label_w$}", "");
    for r in results {
        header += &format!("{:>col_w$}", r.name);
    }
    println!("{header}");
    for (label, values) in cells {
        let mut line = format!("{label:<label_w$}");
        for v in values {
            line += &format!("{v:>col_w$}");
        }
        println!("{line}");
    }
}

/// One row per device: its circuit, class and kind, and per mechanism the energy it asked,
/// what counted and its welfare — where a mechanism won or lost, device by device.
fn write_device_outcomes(
    fleet: &Fleet,
    results: &[MechResult],
    reference: Option<&Central>,
    out: &std::path::Path,
) -> Result<String> {
    use std::fmt::Write as _;
    let mut csv = String::from("device,circuit,class,kind,asked_kwh");
    for r in results {
        let _ = write!(csv, ",{0}_served_kwh,{0}_welfare,{0}_misses", r.name);
    }
    // The full-knowledge schedule beside them: what a mechanism left on the table, device
    // by device (its energy is what it books: a job's P90 profile).
    let schedule = reference.map(|c| &c.schedule_by_device);
    if schedule.is_some() {
        csv.push_str(",schedule_booked_kwh,schedule_welfare");
    }
    csv.push('\n');
    for (d, dev) in fleet.devices.iter().enumerate() {
        let kind = match dev.kind {
            SimKind::Base { .. } => "uncontrollable",
            SimKind::Jobs(_) => "jobs",
            SimKind::Elastic { .. } => "elastic",
        };
        let asked = results
            .first()
            .and_then(|r| r.devices.get(d))
            .map_or(0.0, |o| o.asked_kwh);
        let _ = write!(
            csv,
            "{},{},{},{kind},{asked:.3}",
            dev.id.as_str(),
            dev.circuit,
            dev.priority.name()
        );
        for r in results {
            let o = r.devices.get(d).copied().unwrap_or_default();
            let _ = write!(
                csv,
                ",{:.3},{:.1},{}",
                o.served_kwh, o.welfare, o.deadline_misses
            );
        }
        if let Some(v) = schedule {
            let (kwh, value) = v.get(d).copied().unwrap_or_default();
            let _ = write!(csv, ",{kwh:.3},{value:.1}");
        }
        csv.push('\n');
    }
    let path = out.join("devices.csv");
    std::fs::write(&path, csv).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path.display().to_string())
}

/// One row per slot: per mechanism what the root was given, reserved, allocated and really
/// drew, the battery, and the controllable loads' power by class; beside them the room the
/// reference had and what its full-knowledge schedule served by class — when a mechanism
/// won or lost, slot by slot (all kW, the battery kWh). `by_class` is per mechanism (in
/// `results`' order) and slot, mW.
fn write_slot_outcomes(
    fleet: &Fleet,
    results: &[MechResult],
    by_class: &[Vec<[f64; 4]>],
    reference: Option<&Central>,
    out: &std::path::Path,
) -> Result<String> {
    use std::fmt::Write as _;
    const CLASSES: [Priority; 4] = [
        Priority::Critical,
        Priority::High,
        Priority::Normal,
        Priority::Low,
    ];
    let mut csv = String::from("slot,time");
    for r in results {
        let _ = write!(
            csv,
            ",{0}_capacity_kw,{0}_reserved_kw,{0}_allocated_kw,{0}_measured_kw,{0}_battery_kwh",
            r.name
        );
        for p in CLASSES {
            let _ = write!(csv, ",{}_{}_kw", r.name, p.name());
        }
    }
    if reference.is_some() {
        csv.push_str(",reference_room_kw");
        for p in CLASSES {
            let _ = write!(csv, ",schedule_{}_kw", p.name());
        }
    }
    csv.push('\n');
    let kw = |v: Option<f64>| v.map_or(String::new(), |x| format!("{:.3}", x / 1e6));
    for s in 0..fleet.slots as usize {
        let secs = u64::from(fleet.start_of_day_s) + s as u64 * fleet.slot_ms / 1000;
        let _ = write!(csv, "{s},{:02}:{:02}", secs / 3600 % 24, secs / 60 % 60);
        for (r, classes) in results.iter().zip(by_class) {
            let w = |v: &[f64]| v.get(s).map(|x| x * 1e3);
            let _ = write!(
                csv,
                ",{},{},{},{},{}",
                kw(w(&r.series.capacity_w)),
                kw(r.reserved_mw
                    .first()
                    .and_then(|v| v.get(s))
                    .map(|&x| x as f64)),
                kw(w(&r.series.allocated_w)),
                kw(w(&r.series.measured_w)),
                kw(w(&r.series.battery_wh)),
            );
            for p in CLASSES {
                let _ = write!(csv, ",{}", kw(classes.get(s).map(|c| c[p as usize])));
            }
        }
        if let Some(c) = reference {
            let _ = write!(csv, ",{}", kw(c.root_room_mw.get(s).map(|&x| x as f64)));
            for p in CLASSES {
                let _ = write!(
                    csv,
                    ",{}",
                    kw(c.schedule_by_slot.get(s).map(|v| v[p as usize]))
                );
            }
        }
        csv.push('\n');
    }
    let path = out.join("slots.csv");
    std::fs::write(&path, csv).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path.display().to_string())
}

fn figures(
    fleet: &Fleet,
    results: &[MechResult],
    by_class: &[Vec<[f64; 4]>],
    reference: Option<&Central>,
    out: &std::path::Path,
) -> Result<Vec<String>> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let hours = |s: usize| {
        (fleet.start_of_day_s as f64 + s as f64 * fleet.slot_ms as f64 / 1000.0) / 3600.0
    };
    let mut files = Vec::new();
    for (r, classes) in results.iter().zip(by_class) {
        let pts = |v: &[f64]| {
            v.iter()
                .enumerate()
                .map(|(s, &w)| (hours(s), w / 1000.0))
                .collect::<Vec<_>>()
        };
        let chart = Chart::new(
            format!(
                "{} — {} ({} devices)",
                fleet.name,
                r.name,
                fleet.devices.len()
            ),
            "hours from the start of the first day",
            "power at the site (kW)",
        )
        .with(Series::new("measured load", pts(&r.series.measured_w), Style::Area).color(1))
        .with(
            Series::new(
                "granted + reserved",
                pts(&r.series.allocated_w),
                Style::Step,
            )
            .color(2),
        )
        .with(Series::new("budget", pts(&r.series.capacity_w), Style::Dashed).color(0));
        for p in chart.save(out, &format!("load_{}", r.name))? {
            files.push(p.display().to_string());
        }
        // Where the room went, class by class, beside the full-knowledge schedule (the
        // picture of `slots.csv`): the high and normal classes, where mechanisms differ.
        if let Some(c) = reference
            && !matches!(r.name.as_str(), "uncoordinated")
        {
            let class_pts = |v: &[[f64; 4]], p: Priority| {
                v.iter()
                    .enumerate()
                    .map(|(s, c)| (hours(s), c[p as usize] / 1e6))
                    .collect::<Vec<_>>()
            };
            let mut chart = Chart::new(
                format!(
                    "{} — {}: power by class against the schedule",
                    fleet.name, r.name
                ),
                "hours from the start of the first day",
                "controllable power (kW)",
            );
            for (i, p) in [Priority::High, Priority::Normal].into_iter().enumerate() {
                chart = chart
                    .with(
                        Series::new(
                            format!("{} ({})", p.name(), r.name),
                            class_pts(classes, p),
                            Style::Step,
                        )
                        .color(i + 1),
                    )
                    .with(
                        Series::new(
                            format!("{} (schedule)", p.name()),
                            class_pts(&c.schedule_by_slot, p),
                            Style::DashedStep,
                        )
                        .color(i + 1),
                    );
            }
            for p in chart.save(out, &format!("classes_{}", r.name))? {
                files.push(p.display().to_string());
            }
        }
    }
    // On a solar-and-battery site: the battery's charge under every mechanism in one chart,
    // where a blackout shows as a line at zero.
    if results.iter().any(|r| !r.series.battery_wh.is_empty()) {
        let mut chart = Chart::new(
            format!("{} — the battery under each mechanism", fleet.name),
            "hours from the start of the first day",
            "stored at the end of the slot (kWh)",
        );
        for (i, r) in results.iter().enumerate() {
            let pts = r
                .series
                .battery_wh
                .iter()
                .enumerate()
                .map(|(s, &wh)| (hours(s + 1), wh / 1000.0))
                .collect();
            chart = chart.with(Series::new(r.name.clone(), pts, Style::Line).color(i));
        }
        for p in chart.save(out, "battery")? {
            files.push(p.display().to_string());
        }
    }
    Ok(files)
}
