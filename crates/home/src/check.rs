//! A plan, its bill, and an independent check of it by the rules of the day.
//!
//! The check reads only the plan's powers, never the solver's variables, and follows the
//! same rules as the EMHASS driver's `--check-plan` (energy, windows, on/off power, starts,
//! runs and pauses, precedence, groups, grid limits, battery power and state of charge), so
//! a plan that passes here passes there, and a solver bug cannot hide behind its own model.

use serde::{Deserialize, Serialize};

use crate::day::{Day, Kind};

/// Power tolerance of the check, W (the driver's).
pub const TOL_W: f64 = 1.0;

/// A day's plan: every load's power per step and the battery's (`+` = discharge), W.
/// Serialised, it is the driver's `--check-plan` shape.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Power per step of each load, by name, in the day's load order.
    pub loads: Vec<(String, Vec<f64>)>,
    /// Battery power per step, `+` = discharge; empty without a battery.
    pub battery_w: Vec<f64>,
}

impl Plan {
    /// The plan as the driver's JSON: `{"loads": {name: [W]}, "battery_w": [W]}`.
    pub fn to_check_json(&self) -> serde_json::Value {
        let loads: serde_json::Map<String, serde_json::Value> = self
            .loads
            .iter()
            .map(|(n, p)| (n.clone(), serde_json::json!(p)))
            .collect();
        // The driver wants a battery power per step even without a battery.
        let n = self.loads.first().map_or(0, |(_, p)| p.len());
        let battery = if self.battery_w.is_empty() {
            vec![0.0; n]
        } else {
            self.battery_w.clone()
        };
        serde_json::json!({ "loads": loads, "battery_w": battery })
    }

    /// Net grid exchange per step, `+` = import: base + loads − PV − battery.
    pub fn grid_w(&self, day: &Day) -> Vec<f64> {
        (0..day.n_steps)
            .map(|t| {
                day.base_load_w[t] + self.loads.iter().map(|(_, p)| p[t]).sum::<f64>()
                    - day.pv_w[t]
                    - self.battery_w.get(t).copied().unwrap_or(0.0)
            })
            .collect()
    }
}

/// What a plan costs and draws, computed the same way for every planner (the driver's way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Import × import price − export × export price, currency.
    pub bill: f64,
    /// Energy imported, kWh.
    pub import_kwh: f64,
    /// Energy exported, kWh.
    pub export_kwh: f64,
    /// Highest import, W.
    pub peak_import_w: f64,
    /// End of the last step any load runs in (steps from the start of the day).
    pub makespan: usize,
}

/// The figures of a plan.
pub fn figures(day: &Day, plan: &Plan) -> Figures {
    let h = day.step_h();
    let mut f = Figures::default();
    for (t, g) in plan.grid_w(day).into_iter().enumerate() {
        if g > 0.0 {
            f.bill += g * day.import_price[t] * h / 1000.0;
            f.import_kwh += g * h / 1000.0;
            f.peak_import_w = f.peak_import_w.max(g);
        } else {
            f.bill += g * day.export_price[t] * h / 1000.0;
            f.export_kwh -= g * h / 1000.0;
        }
    }
    f.makespan = plan
        .loads
        .iter()
        .filter_map(|(_, p)| p.iter().rposition(|x| *x > TOL_W))
        .map(|t| t + 1)
        .max()
        .unwrap_or(0);
    f
}

/// Runs `[start, end)` of the steps where `p` is on.
fn runs(p: &[f64]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut open = None;
    for (t, x) in p.iter().enumerate() {
        match (open, *x > TOL_W) {
            (None, true) => open = Some(t),
            (Some(a), false) => {
                out.push((a, t));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(a) = open {
        out.push((a, p.len()));
    }
    out
}

/// Every rule the plan breaks, in words (empty = feasible). `dropped` loads (optional ones
/// not worth running, or loads an infeasible day had to shed) must not run at all.
pub fn violations(day: &Day, plan: &Plan, dropped: &[usize]) -> Vec<String> {
    let n = day.n_steps;
    let h = day.step_h();
    let mut out = Vec::new();
    if plan.loads.len() != day.loads.len() {
        out.push(format!(
            "plan has {} loads, the day {}",
            plan.loads.len(),
            day.loads.len()
        ));
        return out;
    }
    let mut spans = Vec::with_capacity(day.loads.len());
    for (k, load) in day.loads.iter().enumerate() {
        let (name, p) = &plan.loads[k];
        if name != &load.name || p.len() != n {
            out.push(format!(
                "{}: needs {n} powers under its own name",
                load.name
            ));
            return out;
        }
        let rs = runs(p);
        spans.push(rs.first().map(|r| r.0).zip(rs.last().map(|r| r.1)));
        let e = p.iter().sum::<f64>() * h;
        let skip = dropped.contains(&k);
        if skip {
            if e > TOL_W * h {
                out.push(format!("{}: dropped but runs", load.name));
            }
            continue;
        }
        let (need, most) = (load.energy_wh(h), load.max_energy_wh(h));
        let tol = (1e-3 * need).max(1.0);
        if e < need - tol || e > most + tol {
            out.push(if most > need {
                format!(
                    "{}: energy {e:.0} Wh, needs {need:.0} to {most:.0} Wh",
                    load.name
                )
            } else {
                format!("{}: energy {e:.0} Wh, needs {need:.0} Wh", load.name)
            });
        }
        if p.iter()
            .enumerate()
            .any(|(t, x)| !load.window.contains(&t) && *x > TOL_W)
        {
            out.push(format!(
                "{}: runs outside its window {}-{}",
                load.name,
                day.clock(load.window.start),
                day.clock(load.window.end)
            ));
        }
        if p.iter().any(|x| *x < -1e-9) {
            out.push(format!("{}: negative power", load.name));
        }
        let (on_w, min_w) = match load.kind() {
            Kind::Block { power_w, .. } | Kind::Steps { power_w, .. } => (Some(power_w), power_w),
            Kind::Energy { min_w, .. } => (None, min_w),
        };
        for x in p.iter().filter(|x| **x > TOL_W) {
            if on_w.is_some_and(|w| (x - w).abs() > TOL_W)
                || *x > load.max_power_w() + TOL_W
                || *x < min_w - TOL_W
            {
                out.push(format!(
                    "{}: draws {x:.0} W, outside its power rule",
                    load.name
                ));
                break;
            }
        }
        if load.max_starts > 0 && rs.len() > load.max_starts as usize {
            out.push(format!(
                "{}: {} starts, at most {}",
                load.name,
                rs.len(),
                load.max_starts
            ));
        }
        if let Kind::Steps {
            min_on, min_off, ..
        } = load.kind()
        {
            if let Some((a, b)) = rs.iter().find(|(a, b)| b - a < min_on && *b < n) {
                out.push(format!(
                    "{}: run {a}..{b} shorter than {min_on} steps",
                    load.name
                ));
            }
            if let Some(w) = rs.windows(2).find(|w| w[1].0 - w[0].1 < min_off) {
                out.push(format!(
                    "{}: pause {}..{} too short",
                    load.name, w[0].1, w[1].0
                ));
            }
        }
    }
    for (k, load) in day.loads.iter().enumerate() {
        for &a in &load.after {
            if let (Some((first, _)), Some((_, last))) = (spans[k], spans[a])
                && first < last
            {
                out.push(format!(
                    "{}: starts before {} has finished",
                    load.name, day.loads[a].name
                ));
            }
        }
    }
    for g in &day.groups {
        for t in 0..n {
            let ps = g.loads.iter().map(|&k| plan.loads[k].1[t]);
            if g.max_power_w
                .is_some_and(|m| ps.clone().sum::<f64>() > m + TOL_W)
            {
                out.push(format!("group over its {:?} W at step {t}", g.max_power_w));
                break;
            }
            if g.mutual_exclusion && ps.filter(|x| *x > TOL_W).count() > 1 {
                out.push(format!("group not mutually exclusive at step {t}"));
                break;
            }
        }
    }
    let grid = plan.grid_w(day);
    if let Some(t) = (0..n).find(|&t| grid[t] > day.grid_import_limit_w[t] + TOL_W) {
        out.push(format!(
            "import {:.0} W over the limit at {}",
            grid[t],
            day.clock(t)
        ));
    }
    if let Some(t) = (0..n).find(|&t| -grid[t] > day.grid_export_limit_w[t] + TOL_W) {
        out.push(format!(
            "export {:.0} W over the limit at {}",
            -grid[t],
            day.clock(t)
        ));
    }
    out.extend(battery_violations(day, &plan.battery_w));
    out
}

fn battery_violations(day: &Day, batt: &[f64]) -> Vec<String> {
    let Some(b) = &day.battery else {
        return match batt.iter().any(|x| x.abs() > TOL_W) {
            true => vec!["battery power without a battery".into()],
            false => vec![],
        };
    };
    if batt.len() != day.n_steps {
        return vec![format!("battery_w needs {} powers", day.n_steps)];
    }
    for (t, &x) in batt.iter().enumerate() {
        if x > b.discharge_w + TOL_W || -x > b.charge_w + TOL_W {
            return vec![format!(
                "battery power {x:.0} W beyond its limits at step {t}"
            )];
        }
    }
    let socs = state_of_charge(day, batt);
    if let Some(t) = socs
        .iter()
        .position(|s| *s < b.soc_min - 1e-4 || *s > b.soc_max + 1e-4)
    {
        return vec![format!(
            "state of charge {:.4} out of bounds after step {t}",
            socs[t]
        )];
    }
    let soc = socs.last().copied().unwrap_or(b.soc_init);
    if soc < b.soc_final - 1e-3 {
        return vec![format!(
            "final state of charge {soc:.4} below {}",
            b.soc_final
        )];
    }
    vec![]
}

/// State of charge (0..1) after each step of battery power `batt` (`+` = discharge); empty
/// without a battery.
pub fn state_of_charge(day: &Day, batt: &[f64]) -> Vec<f64> {
    let Some(b) = &day.battery else {
        return Vec::new();
    };
    let h = day.step_h();
    let mut soc = b.soc_init;
    batt.iter()
        .map(|&x| {
            soc += if x >= 0.0 {
                -x / b.eff_discharge * h / b.capacity_wh
            } else {
                -x * b.eff_charge * h / b.capacity_wh
            };
            soc
        })
        .collect()
}
