//! Points for figures: curves, power in use and tasks finished, in display units
//! (kW for milliwatt resources, minutes or slots on the time axis). The CLI
//! turns them into charts; keeping the arithmetic here makes it testable.

use powerslot_core::{CapacityProfile, Instance, ResourceUnit, Schedule, Slot, TimeGrid};

/// A series of (x, y) points.
pub type Points = Vec<(f64, f64)>;

/// Display scale and unit of resource `k`: kW for milliwatts, units otherwise.
pub fn resource_scale(inst: &Instance, k: usize) -> (f64, &'static str) {
    match inst.resources()[k].unit {
        ResourceUnit::Milliwatts => (1e-6, "kW"),
        ResourceUnit::Units => (1.0, "units"),
    }
}

/// X of slot `s`: minutes since slot 0 if the instance has a grid, else the slot index.
pub fn slot_x(inst: &Instance, s: Slot) -> f64 {
    match inst.grid() {
        Some(g) => f64::from(s) * g.slot_minutes(),
        None => f64::from(s),
    }
}

/// Label of the time axis matching [`slot_x`].
pub fn time_label(inst: &Instance) -> &'static str {
    if inst.grid().is_some() {
        "time since start (min)"
    } else {
        "time (slots)"
    }
}

fn steps(inst: &Instance, values: impl Iterator<Item = f64>, len: Slot) -> Points {
    let mut pts: Points = values
        .take(len as usize)
        .enumerate()
        .map(|(s, v)| (slot_x(inst, s as Slot), v))
        .collect();
    if let Some(&(_, last)) = pts.last() {
        pts.push((slot_x(inst, len), last));
    }
    pts
}

/// A profile over slots `0..len`, scaled, as step points.
pub fn profile_points(inst: &Instance, profile: &CapacityProfile, scale: f64, len: Slot) -> Points {
    steps(inst, (0..len).map(|s| profile.at(s) as f64 * scale), len)
}

/// Usage of resource `k` by `schedule` over `0..len` slots, scaled; with
/// `plus_baseline`, the instance's baseline is added (total power drawn).
pub fn usage_points(
    inst: &Instance,
    schedule: &Schedule,
    k: usize,
    len: Slot,
    plus_baseline: bool,
) -> Points {
    let (scale, _) = resource_scale(inst, k);
    let usage = schedule.usage(inst, k);
    let base = inst.power_curves().filter(|_| plus_baseline);
    steps(
        inst,
        (0..len).map(|s| {
            let u = usage.get(s as usize).copied().unwrap_or(0);
            let b = base.map_or(0, |c| c.baseline_mw.at(s));
            (u + b) as f64 * scale
        }),
        len,
    )
}

/// Number of tasks finished by the end of each slot, up to `len`.
pub fn finished_points(inst: &Instance, schedule: &Schedule, len: Slot) -> Points {
    let done = schedule.finished_over_time(inst);
    let total = inst.len() as f64;
    let mut pts: Points = vec![(0.0, 0.0)];
    pts.extend((0..len).map(|s| {
        let v = done.get(s as usize).map_or(total, |&c| c as f64);
        (slot_x(inst, s + 1), v)
    }));
    pts
}

/// A daily profile over `days` days against the hour of day (0, 24, 48, ...), kW.
pub fn daily_points(profile: &CapacityProfile, grid: TimeGrid, days: u32) -> Points {
    let len = grid.slots_per_day() * days;
    (0..=len)
        .map(|s| {
            let h = grid.start_seconds(s) as f64 / 3600.0;
            (h, profile.at(s.min(len.saturating_sub(1))) as f64 * 1e-6)
        })
        .collect()
}
