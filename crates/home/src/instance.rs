//! Reading the day-instance format of the EMHASS driver (`../shared/tools/emhass`).
//!
//! The format speaks EMHASS's vocabulary (`semi_continuous`, `single_block`, `min_on_steps`,
//! `max_cost`...) so that an EMHASS user can bring their setup unchanged. Every field is
//! checked; a bad value names the field and, inside `loads`, the load.

use powerslot_protocol::device::{Demand, PowerValue};
use serde::Deserialize;

use crate::day::{Battery, Day, ExtraEnergy, Group, Load, SoftDeadline};
use crate::error::HomeError;

/// A power that is one number or one number per step.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum PerStep {
    One(f64),
    Each(Vec<f64>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDay {
    #[serde(default)]
    start: Option<String>,
    // Kept for EMHASS's sake (the driver localises the index); the plan is on the step grid.
    #[serde(default)]
    #[allow(dead_code)]
    time_zone: Option<String>,
    step_minutes: u32,
    n_steps: usize,
    pv_w: Vec<f64>,
    base_load_w: Vec<f64>,
    import_price: Vec<f64>,
    export_price: Vec<f64>,
    grid_import_limit_w: PerStep,
    #[serde(default)]
    grid_export_limit_w: Option<PerStep>,
    // EMHASS's objective name; the planner's objective is chosen by the caller.
    #[serde(default)]
    #[allow(dead_code)]
    costfun: Option<String>,
    #[serde(default)]
    battery: Option<RawBattery>,
    loads: Vec<RawLoad>,
    #[serde(default)]
    groups: Vec<RawGroup>,
    // EMHASS's solver settings (gap, time limit, threads); ours come from the caller.
    #[serde(default)]
    #[allow(dead_code)]
    solver: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBattery {
    capacity_wh: f64,
    charge_w: f64,
    discharge_w: f64,
    eff_charge: f64,
    eff_discharge: f64,
    soc_min: f64,
    soc_max: f64,
    soc_init: f64,
    #[serde(default)]
    soc_final: Option<f64>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoad {
    name: String,
    power_w: f64,
    steps: usize,
    #[serde(default)]
    start: usize,
    #[serde(default)]
    end: usize,
    // EMHASS pads a missing flag with `true`.
    #[serde(default = "yes")]
    semi_continuous: bool,
    #[serde(default)]
    single_block: bool,
    #[serde(default)]
    min_power_w: f64,
    #[serde(default)]
    max_starts: u32,
    #[serde(default)]
    min_on_steps: u32,
    #[serde(default)]
    min_off_steps: u32,
    #[serde(default)]
    startup_penalty: f64,
    #[serde(default)]
    max_cost: f64,
    #[serde(default)]
    after: Vec<String>,
    // Not EMHASS's: a soft deadline (step index, end exclusive) and the cost of each step late.
    #[serde(default)]
    due: Option<usize>,
    #[serde(default)]
    tardiness_cost: f64,
    // Not EMHASS's: loads of lower priority are dropped first when the day does not fit.
    #[serde(default)]
    priority: u32,
    // Not EMHASS's: a modulating load needs at least its energy and may take this much more,
    // each kWh of it worth `extra_energy_value`.
    #[serde(default)]
    extra_energy_wh: f64,
    #[serde(default)]
    extra_energy_value: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    loads: Vec<String>,
    #[serde(default)]
    max_power_w: Option<f64>,
    #[serde(default)]
    mutual_exclusion: bool,
}

/// Reads a day instance from a file.
pub fn read_day(path: &std::path::Path) -> Result<Day, HomeError> {
    let text = std::fs::read_to_string(path).map_err(|source| HomeError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_day(&text, &path.display().to_string())
}

/// Parses a day instance; `origin` names the input in messages.
pub fn parse_day(text: &str, origin: &str) -> Result<Day, HomeError> {
    let raw: RawDay = serde_json::from_str(text).map_err(|e| HomeError::Json {
        path: origin.to_string(),
        line: e.line(),
        column: e.column(),
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or("")
            .to_string(),
    })?;
    build(raw)
}

fn field(field: &str, message: impl Into<String>) -> HomeError {
    HomeError::Field {
        field: field.to_string(),
        message: message.into(),
    }
}

fn series(name: &str, v: Vec<f64>, n: usize, non_negative: bool) -> Result<Vec<f64>, HomeError> {
    if v.len() != n {
        return Err(field(
            name,
            format!("has {} values, n_steps is {n}", v.len()),
        ));
    }
    if let Some(t) = v
        .iter()
        .position(|x| !x.is_finite() || (non_negative && *x < 0.0))
    {
        let want = if non_negative {
            "a finite value >= 0"
        } else {
            "a finite value"
        };
        return Err(field(name, format!("step {t} is {}, needs {want}", v[t])));
    }
    Ok(v)
}

fn per_step(name: &str, v: Option<PerStep>, n: usize) -> Result<Vec<f64>, HomeError> {
    match v {
        None => Ok(vec![f64::INFINITY; n]),
        Some(PerStep::One(x)) if x >= 0.0 => Ok(vec![x; n]),
        Some(PerStep::One(x)) => Err(field(name, format!("is {x}, needs a power >= 0"))),
        Some(PerStep::Each(v)) => series(name, v, n, true),
    }
}

fn parse_start_minute(start: Option<&str>) -> Result<u32, HomeError> {
    let Some(s) = start else { return Ok(0) };
    // "2025-06-21T00:00" or "...T00:00:00[+02:00]": the clock part after 'T'.
    let clock = s.split_once('T').map_or(s, |(_, c)| c);
    let mut it = clock.split(':');
    let h = it.next().and_then(|h| h.parse::<u32>().ok());
    let m = it.next().and_then(|m| m.get(..2)?.parse::<u32>().ok());
    match (h, m) {
        (Some(h), Some(m)) if h < 24 && m < 60 => Ok(h * 60 + m),
        _ => Err(field(
            "start",
            format!("`{s}` is not a date-time like 2025-06-21T00:00"),
        )),
    }
}

fn build(raw: RawDay) -> Result<Day, HomeError> {
    let n = raw.n_steps;
    if n == 0 {
        return Err(field("n_steps", "must be at least 1"));
    }
    if raw.step_minutes == 0 || raw.step_minutes > 1440 {
        return Err(field(
            "step_minutes",
            format!("is {}, needs 1..=1440", raw.step_minutes),
        ));
    }
    let step_h = f64::from(raw.step_minutes) / 60.0;
    let mut day = Day {
        start_minute: parse_start_minute(raw.start.as_deref())?,
        step_minutes: raw.step_minutes,
        n_steps: n,
        pv_w: series("pv_w", raw.pv_w, n, true)?,
        base_load_w: series("base_load_w", raw.base_load_w, n, true)?,
        import_price: series("import_price", raw.import_price, n, false)?,
        export_price: series("export_price", raw.export_price, n, false)?,
        grid_import_limit_w: per_step("grid_import_limit_w", Some(raw.grid_import_limit_w), n)?,
        grid_export_limit_w: per_step("grid_export_limit_w", raw.grid_export_limit_w, n)?,
        battery: raw.battery.map(battery).transpose()?,
        loads: Vec::with_capacity(raw.loads.len()),
        groups: Vec::new(),
    };
    for (i, l) in raw.loads.iter().enumerate() {
        if raw.loads[..i].iter().any(|o| o.name == l.name) {
            return Err(load_err(l, i, "name", "appears twice"));
        }
        day.loads.push(load(l, i, n, step_h)?);
    }
    for (i, l) in raw.loads.iter().enumerate() {
        for a in &l.after {
            match day.load_index(a) {
                Some(j) if j != i => day.loads[i].after.push(j),
                Some(_) => return Err(load_err(l, i, "after", "names the load itself")),
                None => {
                    return Err(load_err(
                        l,
                        i,
                        "after",
                        format!("names `{a}`, no such load"),
                    ));
                }
            }
        }
    }
    let mut grouped = vec![false; day.loads.len()];
    for (g, rg) in raw.groups.into_iter().enumerate() {
        let mut loads = Vec::new();
        for name in &rg.loads {
            let Some(j) = day.load_index(name) else {
                return Err(field(
                    &format!("groups[{g}].loads"),
                    format!("`{name}` is no load"),
                ));
            };
            if std::mem::replace(&mut grouped[j], true) {
                return Err(field(
                    &format!("groups[{g}].loads"),
                    format!("`{name}` is already in a group (EMHASS allows one)"),
                ));
            }
            loads.push(j);
        }
        if let Some(p) = rg.max_power_w.filter(|p| p.is_nan() || *p < 0.0) {
            return Err(field(
                &format!("groups[{g}].max_power_w"),
                format!("is {p}"),
            ));
        }
        day.groups.push(Group {
            loads,
            max_power_w: rg.max_power_w.filter(|p| *p > 0.0),
            mutual_exclusion: rg.mutual_exclusion,
        });
    }
    Ok(day)
}

fn battery(b: RawBattery) -> Result<Battery, HomeError> {
    let f = |name: &str, v: f64, ok: bool, want: &str| {
        if ok && v.is_finite() {
            Ok(v)
        } else {
            Err(field(
                &format!("battery.{name}"),
                format!("is {v}, needs {want}"),
            ))
        }
    };
    let unit = |v: f64| (0.0..=1.0).contains(&v);
    let eff = |v: f64| v > 0.0 && v <= 1.0;
    let soc_min = f("soc_min", b.soc_min, unit(b.soc_min), "0..=1")?;
    let soc_max = f(
        "soc_max",
        b.soc_max,
        unit(b.soc_max) && b.soc_max >= soc_min,
        "soc_min..=1",
    )?;
    let in_band = |v: f64| v >= soc_min && v <= soc_max;
    Ok(Battery {
        capacity_wh: f("capacity_wh", b.capacity_wh, b.capacity_wh > 0.0, "> 0")?,
        charge_w: f("charge_w", b.charge_w, b.charge_w >= 0.0, ">= 0")?,
        discharge_w: f("discharge_w", b.discharge_w, b.discharge_w >= 0.0, ">= 0")?,
        eff_charge: f(
            "eff_charge",
            b.eff_charge,
            eff(b.eff_charge),
            "0 < eff <= 1",
        )?,
        eff_discharge: f(
            "eff_discharge",
            b.eff_discharge,
            eff(b.eff_discharge),
            "0 < eff <= 1",
        )?,
        soc_min,
        soc_max,
        soc_init: f(
            "soc_init",
            b.soc_init,
            in_band(b.soc_init),
            "soc_min..=soc_max",
        )?,
        soc_final: match b.soc_final {
            None => soc_min,
            Some(v) => f("soc_final", v, in_band(v), "soc_min..=soc_max")?,
        },
    })
}

fn load_err(l: &RawLoad, index: usize, field: &str, message: impl Into<String>) -> HomeError {
    HomeError::Load {
        load: l.name.clone(),
        index,
        field: field.to_string(),
        message: message.into(),
    }
}

fn load(l: &RawLoad, i: usize, n: usize, step_h: f64) -> Result<Load, HomeError> {
    let err = |f: &str, m: String| load_err(l, i, f, m);
    if !(l.power_w.is_finite() && l.power_w > 0.0) {
        return Err(err(
            "power_w",
            format!("is {}, needs a power > 0", l.power_w),
        ));
    }
    if l.steps == 0 {
        // EMHASS silently deactivates such a load; say so instead.
        return Err(err(
            "steps",
            "is 0: the load would never run (remove it instead)".into(),
        ));
    }
    // EMHASS's window convention: end 0 = open to the end of the horizon.
    let end = if l.end == 0 { n } else { l.end };
    if end > n {
        return Err(err(
            "end",
            format!("is {end}, past the {n} steps of the day"),
        ));
    }
    if l.start >= end {
        return Err(err(
            "start",
            format!("is {}, not before end {end}", l.start),
        ));
    }
    if l.steps > end - l.start {
        return Err(err(
            "steps",
            format!(
                "{} steps do not fit the window [{}, {end}) of {} steps",
                l.steps,
                l.start,
                end - l.start
            ),
        ));
    }
    for (name, v) in [
        ("min_power_w", l.min_power_w),
        ("startup_penalty", l.startup_penalty),
        ("extra_energy_wh", l.extra_energy_wh),
        ("extra_energy_value", l.extra_energy_value),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(err(name, format!("is {v}, needs a finite value >= 0")));
        }
    }
    if !(l.max_cost.is_finite() && l.max_cost >= 0.0) {
        return Err(err("max_cost", format!("is {}, needs >= 0", l.max_cost)));
    }
    if l.min_power_w > l.power_w {
        return Err(err(
            "min_power_w",
            format!("{} is above power_w {}", l.min_power_w, l.power_w),
        ));
    }
    if !(l.tardiness_cost.is_finite() && l.tardiness_cost >= 0.0) {
        return Err(err(
            "tardiness_cost",
            format!("is {}, needs a finite value >= 0", l.tardiness_cost),
        ));
    }
    let due = match l.due {
        None if l.tardiness_cost > 0.0 => {
            return Err(err(
                "tardiness_cost",
                "is set without `due`, the step the load should have finished by".into(),
            ));
        }
        None => None,
        Some(d) if d < l.start + l.steps || d > end => {
            return Err(err(
                "due",
                format!(
                    "is {d}, needs a step in [{}, {end}]: the earliest finish to the window's end",
                    l.start + l.steps
                ),
            ));
        }
        Some(_) if l.tardiness_cost == 0.0 => {
            return Err(err(
                "due",
                "needs `tardiness_cost` > 0, the cost of each step late".into(),
            ));
        }
        Some(step) => Some(SoftDeadline {
            step,
            cost_per_step: l.tardiness_cost,
        }),
    };
    let mw = |w: f64| (w * 1000.0).round() as i64;
    if l.semi_continuous && (l.extra_energy_wh > 0.0 || l.extra_energy_value > 0.0) {
        return Err(err(
            "extra_energy_wh",
            "needs a modulating load (semi_continuous: false): an on/off run has a fixed energy"
                .into(),
        ));
    }
    if l.extra_energy_value > 0.0 && l.extra_energy_wh == 0.0 {
        return Err(err(
            "extra_energy_value",
            "is set without extra_energy_wh, the most energy beyond the need".into(),
        ));
    }
    let demand = if l.semi_continuous {
        if l.min_on_steps as usize > l.steps && !l.single_block {
            return Err(err(
                "min_on_steps",
                format!(
                    "{} is longer than the whole run of {} steps",
                    l.min_on_steps, l.steps
                ),
            ));
        }
        Demand::PowerProfile {
            profile: vec![PowerValue::exact(mw(l.power_w)); l.steps],
            interruptible: !l.single_block,
            // EMHASS does not apply min on/off to single blocks, and a block needs none.
            min_on_slots: if l.single_block { 0 } else { l.min_on_steps },
            min_off_slots: if l.single_block { 0 } else { l.min_off_steps },
        }
    } else {
        if l.single_block || l.min_on_steps > 0 || l.min_off_steps > 0 {
            return Err(err(
                "semi_continuous",
                "single_block / min_on_steps / min_off_steps need an on/off load (semi_continuous: true) here".into(),
            ));
        }
        let room =
            l.power_w * (end - l.start) as f64 * step_h - l.power_w * l.steps as f64 * step_h;
        if l.extra_energy_wh > room + 1e-9 {
            return Err(err(
                "extra_energy_wh",
                format!(
                    "is {} Wh, more than the window leaves at power_w ({room:.0} Wh beyond the need)",
                    l.extra_energy_wh
                ),
            ));
        }
        Demand::EnergyTarget {
            energy_mwh: (l.power_w * l.steps as f64 * step_h * 1000.0).round() as i64,
            min_mw: mw(l.min_power_w),
            max_mw: mw(l.power_w),
        }
    };
    Ok(Load {
        name: l.name.clone(),
        demand,
        window: l.start..end,
        max_starts: if l.single_block { 1 } else { l.max_starts },
        startup_penalty: l.startup_penalty,
        value: (l.max_cost > 0.0).then_some(l.max_cost),
        after: Vec::new(),
        due,
        priority: l.priority,
        extra: (l.extra_energy_wh > 0.0).then_some(ExtraEnergy {
            wh: l.extra_energy_wh,
            value_per_kwh: l.extra_energy_value,
        }),
    })
}
