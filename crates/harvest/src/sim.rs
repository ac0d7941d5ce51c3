//! A node over a whole trace: predict each day, plan it, run it slot by slot on the real harvest.
//!
//! Each day the planner gets the day-ahead prediction per planning slot — by default from the
//! default solar forecaster ([`SolarForecaster`], fed every trace slot as it happens), or
//! Kansal's per-slot EWMA ([`SimPredictor`]) — the battery level at midnight and an end-of-day
//! target (the midnight level, raised to a reserve when the prediction allows). Inside the day
//! the DP follows its policy table at the battery's actual level (read to the nearest quantised
//! level, matching the gains' rounding), and on a day it could not plan it re-plans the
//! remaining slots from the measured battery until it can; Kansal re-plans the remaining slots
//! whenever the battery leaves its planned trajectory by more than 1 % of the usable capacity
//! (his dynamic adaptation). Re-plans use the freshest forecast of the rest of the day. A slot
//! whose task would take the battery below `B_min` falls back to the cheapest task, and if even
//! that fails the node is off for the slot (downtime, no utility, no load).
//!
//! Gaps in the trace follow [`GapPolicy`].

use jiff::civil::Date;

use crate::battery::Battery;
use crate::dp::{GainRounding, Quantizer, TaskScheduler};
use crate::error::{HarvestError, Result};
use crate::kansal::KansalPlanner;
use crate::linear::{DutyCycleModel, Task};
use crate::neutrality::{NeutralityReport, check};
use crate::predict::{SlotSeries, SolarForecaster};

/// Which scheduler runs the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulerKind {
    /// Kansal's duty-cycle algorithm with dynamic adaptation.
    Kansal,
    /// The exact task DP with its policy table.
    Dp,
}

/// What a missing sample means to the simulated node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GapPolicy {
    /// No harvest in a gap (pessimistic: a sensor outage counts as darkness).
    Zero,
    /// The gap harvests what the day-ahead prediction expected (the node's own estimate).
    Predicted,
}

/// What the node plans on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SimPredictor {
    /// The default solar forecaster (the crate's default predictor): its forecast of the day at
    /// midnight, and of the rest of the day when a planner re-plans.
    Default,
    /// Kansal's EWMA of each planning slot across days, with weight `ewma_alpha` (day-ahead only).
    Ewma,
}

/// The simulated node. The trace is irradiance (W/m²); energies are Wh, powers W.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct NodeConfig {
    /// Panel area, m².
    pub panel_area: f64,
    /// Panel (and converter) efficiency, 0..1.
    pub panel_efficiency: f64,
    /// `B_min`, Wh.
    pub battery_min: f64,
    /// `B_max`, Wh.
    pub battery_max: f64,
    /// Charging efficiency η.
    pub charge_efficiency: f64,
    /// Leakage power, W.
    pub leakage: f64,
    /// Battery energy at the start, Wh.
    pub start: f64,
    /// The end-of-day target is raised to this level (Wh) when the prediction allows.
    pub reserve: f64,
    /// Load model (powers in W).
    pub load: DutyCycleModel,
    /// Duty-cycle levels (tasks) both schedulers choose from.
    pub tasks: usize,
    /// Battery levels of the DP.
    pub levels: u32,
    /// What the planners plan on.
    pub predictor: SimPredictor,
    /// Weight α of the day-ahead EWMA (with [`SimPredictor::Ewma`]).
    pub ewma_alpha: f64,
    /// Gap policy.
    pub gaps: GapPolicy,
}

impl NodeConfig {
    /// A sensor node sized for the NREL Golden trace: 10 × 10 cm panel at 15 %, a 2 Ah 3.7 V
    /// Li-ion (7.4 Wh, floor 10 %), η = 0.9, 0.1 mW leakage, load 20..300 mW for duty cycles
    /// 10..100 % with utility 1..10, 5 duty levels, 1,024 battery levels, the default predictor.
    pub fn golden_default() -> Self {
        Self {
            panel_area: 0.01,
            panel_efficiency: 0.15,
            battery_min: 0.74,
            battery_max: 7.4,
            charge_efficiency: 0.9,
            leakage: 0.0001,
            start: 3.7,
            reserve: 3.7,
            load: DutyCycleModel {
                dc_min: 0.1,
                dc_max: 1.0,
                u_min: 1.0,
                u_max: 10.0,
                p_min: 0.02,
                p_max: 0.3,
            },
            tasks: 5,
            levels: 1024,
            predictor: SimPredictor::Default,
            ewma_alpha: 0.5,
            gaps: GapPolicy::Zero,
        }
    }

    fn battery(&self, slot_hours: f64) -> Result<Battery> {
        let leak = crate::error::check_at_least("leakage", self.leakage, 0.0)?;
        Battery::new(
            self.battery_min,
            self.battery_max,
            self.charge_efficiency,
            leak * slot_hours,
        )
    }

    fn validate(&self) -> Result<()> {
        crate::error::check_at_least("panel area", self.panel_area, 0.0)?;
        if !(self.panel_efficiency > 0.0 && self.panel_efficiency <= 1.0) {
            return Err(HarvestError::InvalidParameter {
                name: "panel efficiency",
                value: self.panel_efficiency,
                reason: "must be in (0, 1]",
            });
        }
        if !(self.start >= self.battery_min && self.start <= self.battery_max) {
            return Err(HarvestError::InvalidParameter {
                name: "battery start",
                value: self.start,
                reason: "must lie within [B_min, B_max]",
            });
        }
        crate::error::check_at_least("reserve", self.reserve, 0.0)?;
        if !(0.0..=1.0).contains(&self.ewma_alpha) {
            return Err(HarvestError::InvalidParameter {
                name: "ewma alpha",
                value: self.ewma_alpha,
                reason: "must be in [0, 1]",
            });
        }
        let m = self.load;
        DutyCycleModel::new(m.dc_min, m.dc_max, m.u_min, m.u_max, m.p_min, m.p_max)?;
        Ok(())
    }
}

/// Utility and battery over one calendar month (all years of that month pooled).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MonthStat {
    /// Month number 1..=12.
    pub month: u8,
    /// Days simulated in that month.
    pub days: usize,
    /// Mean daily utility as a fraction of running every slot at `dc_max`.
    pub utility_fraction: f64,
    /// Mean battery level at the end of the day, Wh.
    pub mean_battery: f64,
}

/// The DP's plan against Kansal's for the same prediction, start and target, each day.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlanCheck {
    /// Days on which both planned (the DP ran).
    pub days: usize,
    /// Days on which Kansal's plan is feasible in the DP's quantised model (so the DP must match or beat it).
    pub kansal_feasible: usize,
    /// Of those, days on which the DP planned less utility than Kansal (should be 0).
    pub dp_worse: usize,
    /// Days on which Kansal reported infeasibility.
    pub kansal_infeasible: usize,
    /// Total planned utility of the DP.
    pub dp_planned_utility: f64,
    /// Total planned utility of Kansal (infeasible days count its all-`dc_min` fallback).
    pub kansal_planned_utility: f64,
}

/// One day's planning inputs.
struct Day<'a> {
    predicted: &'a [f64],
    start: f64,
    target: f64,
}

impl PlanCheck {
    /// Plans the day with Kansal (on the DP's task levels) and checks the DP's claim: whenever
    /// Kansal's plan is feasible in the DP's quantised model, the DP's utility is at least as high.
    fn add(
        &mut self,
        day: &Day<'_>,
        dp_utility: f64,
        kansal: &KansalPlanner,
        quantizer: &Quantizer,
        tasks: &[Task],
        duty: &[f64],
    ) {
        self.days += 1;
        self.dp_planned_utility += dp_utility;
        let plan = match kansal.plan(day.predicted, day.start, day.target) {
            Ok(plan) => plan,
            Err(_) => {
                self.kansal_infeasible += 1;
                self.kansal_planned_utility +=
                    kansal.model.utility(kansal.model.dc_min) * day.predicted.len() as f64;
                return;
            }
        };
        self.kansal_planned_utility += plan.utility;
        let assignment: Vec<usize> = plan
            .duty_cycles
            .iter()
            .map(|&d| nearest_task(duty, d))
            .collect();
        let gains = quantizer.gains(&kansal.battery, day.predicted, tasks, GainRounding::Nearest);
        let n = tasks.len();
        let Some(mut level) = quantizer.level(day.start).map(i64::from) else {
            return;
        };
        let target = if day.target <= day.start {
            i64::from(quantizer.level_at_least(day.target)).min(level)
        } else {
            i64::from(quantizer.level_at_least(day.target))
        };
        for (i, &j) in assignment.iter().enumerate() {
            level += i64::from(gains[i * n + j]);
            if level < 0 {
                return;
            }
            level = level.min(i64::from(quantizer.top()));
        }
        if level >= target {
            self.kansal_feasible += 1;
            let utility: f64 = assignment.iter().map(|&j| tasks[j].utility).sum();
            if dp_utility + 1e-9 < utility {
                self.dp_worse += 1;
            }
        }
    }
}

/// What a simulation found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SimReport {
    /// The scheduler.
    pub scheduler: SchedulerKind,
    /// Planning slots per day.
    pub slots: usize,
    /// Days simulated.
    pub days: usize,
    /// Total utility.
    pub utility: f64,
    /// Utility as a fraction of every slot at `dc_max`.
    pub utility_fraction: f64,
    /// Slots in which the node was off (battery at `B_min`).
    pub downtime_slots: usize,
    /// Days with at least one downtime slot.
    pub downtime_days: usize,
    /// Energy harvested, Wh.
    pub harvested: f64,
    /// Energy consumed by the load, Wh.
    pub consumed: f64,
    /// Energy wasted because the battery was full, Wh.
    pub wasted: f64,
    /// Days ending at or above their starting level.
    pub neutral_days: usize,
    /// Days whose plan was infeasible even with the target lowered to the midnight level.
    pub infeasible_days: usize,
    /// Battery at the end of each day, Wh.
    pub battery_end_of_day: Vec<f64>,
    /// Lowest battery level of each day, Wh.
    pub battery_min_of_day: Vec<f64>,
    /// Utility fraction of each day.
    pub daily_utility_fraction: Vec<f64>,
    /// Per calendar month.
    pub months: Vec<MonthStat>,
    /// DP against Kansal on each day's plan (DP runs only).
    pub plan_check: Option<PlanCheck>,
    /// Kansal's sufficient conditions for this harvest with the load held at `dc_min` and at
    /// `dc_max` (per planning slot, starting from the initial battery level).
    pub neutrality: [NeutralityReport; 2],
}

fn empty_neutrality() -> NeutralityReport {
    NeutralityReport {
        rho_s: 0.0,
        sigma: 0.0,
        rho_c: 0.0,
        delta: 0.0,
        conditions: Vec::new(),
    }
}

/// Per-day energies (Wh) of the planning slots, and how many trace slots of each were gaps.
fn day_energy(
    series: &SlotSeries,
    day: usize,
    slots: usize,
    wh_per_unit: f64,
) -> (Vec<f64>, Vec<usize>) {
    let group = series.slots_per_day() / slots;
    let values = series.day(day);
    let mut energy = vec![0.0; slots];
    let mut gaps = vec![0; slots];
    for (s, v) in values.iter().enumerate() {
        match v {
            Some(x) => energy[s / group] += x * wh_per_unit,
            None => gaps[s / group] += 1,
        }
    }
    (energy, gaps)
}

fn nearest_task(levels: &[f64], dc: f64) -> usize {
    let mut best = 0;
    for (i, l) in levels.iter().enumerate() {
        if (l - dc).abs() < (levels[best] - dc).abs() {
            best = i;
        }
    }
    best
}

/// Runs the node over `series` (irradiance, W/m²) starting on `first_day`, with `slots` planning
/// slots per day (must divide the trace's slots per day).
pub fn simulate(
    series: &SlotSeries,
    first_day: Date,
    config: &NodeConfig,
    kind: SchedulerKind,
    slots: usize,
) -> Result<SimReport> {
    config.validate()?;
    let spd = series.slots_per_day();
    if slots == 0 || slots > spd || !spd.is_multiple_of(slots) {
        return Err(HarvestError::InvalidParameter {
            name: "slots",
            value: slots as f64,
            reason: "planning slots per day must divide the trace's slots per day",
        });
    }
    if series.days() == 0 {
        return Err(HarvestError::TooLittleData {
            what: "simulation (days of trace)",
            needed: 1,
            got: 0,
        });
    }
    let slot_hours = 24.0 / slots as f64;
    let trace_hours = 24.0 / spd as f64;
    let group = spd / slots;
    let wh_per_unit = config.panel_area * config.panel_efficiency * trace_hours;
    let battery = config.battery(slot_hours)?;
    let load = config.load;
    let duty = load.duty_levels(config.tasks)?;
    let tasks: Vec<Task> = load.tasks(config.tasks, slot_hours)?;
    let mut dp = TaskScheduler::new(battery, config.levels, tasks.clone(), GainRounding::Nearest)?;
    let quantizer = Quantizer::new(&battery, config.levels)?;
    let kansal = KansalPlanner {
        model: load,
        battery,
        slot_length: slot_hours,
        levels: Some(config.tasks),
    };
    let cheapest = 0usize;
    let max_day_utility = load.u_max * slots as f64;

    let mut estimate: Vec<Option<f64>> = vec![None; slots];
    let mut forecaster = match config.predictor {
        SimPredictor::Default => Some(SolarForecaster::new(spd)?),
        SimPredictor::Ewma => None,
    };
    // The forecaster's next `n` trace slots summed into planning slots, in Wh.
    let ahead = |f: &SolarForecaster, n: usize| -> Vec<f64> {
        if !f.has_history() {
            return vec![0.0; n / group];
        }
        f.forecast(n)
            .chunks(group)
            .map(|c| c.iter().sum::<f64>() * wh_per_unit)
            .collect()
    };
    let mut b = config.start;
    let adapt_threshold = 0.01 * battery.usable();
    let mut report = SimReport {
        scheduler: kind,
        slots,
        days: series.days(),
        utility: 0.0,
        utility_fraction: 0.0,
        downtime_slots: 0,
        downtime_days: 0,
        harvested: 0.0,
        consumed: 0.0,
        wasted: 0.0,
        neutral_days: 0,
        infeasible_days: 0,
        battery_end_of_day: Vec::with_capacity(series.days()),
        battery_min_of_day: Vec::with_capacity(series.days()),
        daily_utility_fraction: Vec::with_capacity(series.days()),
        months: Vec::new(),
        neutrality: [empty_neutrality(), empty_neutrality()],
        plan_check: (kind == SchedulerKind::Dp).then_some(PlanCheck {
            days: 0,
            kansal_feasible: 0,
            dp_worse: 0,
            kansal_infeasible: 0,
            dp_planned_utility: 0.0,
            kansal_planned_utility: 0.0,
        }),
    };
    let mut harvest_trace: Vec<f64> = Vec::with_capacity(series.days() * slots);
    let mut month_acc = [(0usize, 0.0f64, 0.0f64); 12];
    for day in 0..series.days() {
        let (mut actual, gaps) = day_energy(series, day, slots, wh_per_unit);
        let predicted: Vec<f64> = match &forecaster {
            Some(f) => ahead(f, spd),
            None => estimate.iter().map(|e| e.unwrap_or(0.0)).collect(),
        };
        // What the rest of the day from planning slot `i` looks like now.
        let rest = |f: &Option<SolarForecaster>, i: usize| -> Vec<f64> {
            match f {
                Some(f) => ahead(f, (slots - i) * group),
                None => predicted[i..].to_vec(),
            }
        };
        if config.gaps == GapPolicy::Predicted {
            for i in 0..slots {
                actual[i] += predicted[i] * gaps[i] as f64 / group as f64;
            }
        }
        let start = b;
        let reserve = config.reserve.min(battery.max);
        // Targets from the most to the least ambitious: a full battery at midnight cannot end the
        // day as full (the cap wastes the noon surplus), so neutrality falls back to the reserve.
        let targets = [start.max(reserve), start, start.min(reserve)];
        let mut day_utility = 0.0;
        let mut day_min = b;
        let mut day_down = false;

        // Plan the day.
        let mut dc_plan: Vec<f64> = vec![load.dc_min; slots];
        let mut planned_levels: Vec<f64> = vec![start; slots + 1];
        let mut dp_ok = true;
        let mut target = battery.min;
        match kind {
            SchedulerKind::Dp => {
                let planned = targets
                    .iter()
                    .find_map(|&t| dp.plan(&predicted, start, t).ok().map(|p| (p, t)));
                match planned {
                    Some((plan, t)) => {
                        target = t;
                        if let Some(check) = report.plan_check.as_mut() {
                            let day = Day {
                                predicted: &predicted,
                                start,
                                target,
                            };
                            check.add(&day, plan.utility, &kansal, &quantizer, &tasks, &duty);
                        }
                    }
                    None => {
                        dp_ok = false;
                        report.infeasible_days += 1;
                    }
                }
            }
            SchedulerKind::Kansal => {
                let planned = targets
                    .iter()
                    .find_map(|&t| kansal.plan(&predicted, start, t).ok().map(|p| (p, t)));
                match planned {
                    Some((p, t)) => {
                        dc_plan = p.duty_cycles;
                        planned_levels = p.levels;
                        target = t;
                    }
                    None => report.infeasible_days += 1,
                }
            }
        }

        // Run the day on the real harvest.
        let mut plan_offset = 0usize;
        for i in 0..slots {
            let choice = match kind {
                // The policy table is the DP's adaptation: the best task from the actual level.
                SchedulerKind::Dp => {
                    // No plan reached even the lowest target: like Kansal on such a day, re-plan the
                    // remaining slots from the measured battery (still aiming at that target, where
                    // Kansal settles for B_min) until a plan exists.
                    if !dp_ok && dp.plan(&rest(&forecaster, i), b, targets[2]).is_ok() {
                        dp_ok = true;
                        plan_offset = i;
                    }
                    if dp_ok {
                        dp.policy(i - plan_offset, b).unwrap_or(cheapest)
                    } else {
                        cheapest
                    }
                }
                SchedulerKind::Kansal => {
                    if (b - planned_levels[i - plan_offset]).abs() > adapt_threshold && i > 0 {
                        match kansal.plan(&rest(&forecaster, i), b, target) {
                            Ok(p) => {
                                dc_plan[i..].copy_from_slice(&p.duty_cycles);
                                planned_levels = p.levels;
                            }
                            Err(_) => {
                                dc_plan[i..].fill(load.dc_min);
                                planned_levels = vec![b; slots - i + 1];
                            }
                        }
                        plan_offset = i;
                    }
                    nearest_task(&duty, dc_plan[i])
                }
            };
            let produced = actual[i];
            harvest_trace.push(produced);
            let mut step = battery.step(b, produced, tasks[choice].cost);
            let mut ran = Some(choice);
            if step.depleted && choice != cheapest {
                step = battery.step(b, produced, tasks[cheapest].cost);
                ran = Some(cheapest);
            }
            if step.depleted {
                // Off for the slot: nothing consumed, harvest still charges.
                step = battery.step(b, produced, 0.0);
                ran = None;
                report.downtime_slots += 1;
                day_down = true;
            }
            if let Some(j) = ran {
                day_utility += tasks[j].utility;
                report.consumed += tasks[j].cost;
            }
            report.harvested += produced;
            report.wasted += step.wasted;
            // A battery cannot hold less than nothing; below B_min the node is simply off.
            b = step.level.max(0.0);
            day_min = day_min.min(b);
            if let Some(f) = forecaster.as_mut() {
                for &v in &series.day(day)[i * group..(i + 1) * group] {
                    f.update(v);
                }
            }
        }

        // Kansal's EWMA learns today's harvest for tomorrow (only slots fully observed).
        for i in 0..slots {
            if gaps[i] == 0 && config.predictor == SimPredictor::Ewma {
                estimate[i] = Some(estimate[i].map_or(actual[i], |e| {
                    config.ewma_alpha * e + (1.0 - config.ewma_alpha) * actual[i]
                }));
            }
        }
        if b + 1e-9 >= start {
            report.neutral_days += 1;
        }
        if day_down {
            report.downtime_days += 1;
        }
        report.utility += day_utility;
        let fraction = day_utility / max_day_utility;
        report.daily_utility_fraction.push(fraction);
        report.battery_end_of_day.push(b);
        report.battery_min_of_day.push(day_min);
        let date = first_day
            .checked_add(jiff::Span::new().days(day as i64))
            .unwrap_or(first_day);
        let m = &mut month_acc[date.month() as usize - 1];
        m.0 += 1;
        m.1 += fraction;
        m.2 += b;
    }
    let at = |p: f64| {
        check(
            &harvest_trace,
            &vec![p * slot_hours; harvest_trace.len()],
            &battery,
            config.start,
        )
    };
    report.neutrality = [at(load.p_min)?, at(load.p_max)?];
    report.utility_fraction = report.utility / (max_day_utility * series.days() as f64);
    report.months = month_acc
        .iter()
        .enumerate()
        .filter(|(_, m)| m.0 > 0)
        .map(|(i, m)| MonthStat {
            month: i as u8 + 1,
            days: m.0,
            utility_fraction: m.1 / m.0 as f64,
            mean_battery: m.2 / m.0 as f64,
        })
        .collect();
    Ok(report)
}
