//! The task-based scheduler: exact dynamic programming over quantised battery levels.
//!
//! The battery is seen through `L` levels spanning `[B_min, B_max]` (level 0 is `B_min`, level
//! `L − 1` is `B_max`), as an ADC would report it. Each (slot, task) pair moves the battery by an
//! integer number of levels, its *gain*; the level after a slot is `min(L − 1, b + gain)` and must
//! stay ≥ 0. [`DpScheduler`] fills, backwards over the slots, the best utility reachable from every
//! level, and keeps the best task per (slot, level): `k·L` bytes. That table is also a closed-loop
//! policy, so a node that finds its battery elsewhere than planned just looks up its actual level.
//! Among tasks of equal total utility the DP picks the one that spends more now (see `beats` for the
//! reasoning): the model cannot tell them apart, a real day with more sun than predicted can.

use alloc::vec::Vec;

use crate::battery::Battery;
use crate::error::{HarvestError, Result};
use crate::linear::Task;
use crate::num::{floor, round};

/// Marks a (slot, level) from which no task leads to a feasible end.
const NONE: u8 = u8::MAX;

/// The most tasks one table entry can name (one byte per entry, `u8::MAX` means "none").
pub const MAX_TASKS: usize = 255;

/// Whether a task worth `value` in total (`utility` now) should replace the best so far.
///
/// Many assignments tie in the model (utility and power are both linear in the duty cycle), and
/// the tie decides *when* energy is spent. Among equal totals the task with more utility now wins:
/// energy spent now cannot be wasted later by a battery that a sunnier-than-predicted day fills,
/// whereas the model, which knows only the prediction, values both the same. This is the order
/// Kansal's algorithm spends a surplus in (dark slots raised from the first). The tolerance only
/// absorbs rounding in the sums, so the total stays optimal to ~1e-12 relative per slot.
fn beats(value: f64, utility: f64, best: f64, best_utility: f64) -> bool {
    let tolerance = 1e-12 * (1.0 + best.abs());
    value > best + tolerance || (value >= best - tolerance && utility > best_utility)
}

/// An integer instance of the scheduling problem.
#[derive(Debug, Clone, Copy)]
pub struct DpInput<'a> {
    /// Utility of each of the `n` tasks.
    pub utilities: &'a [f64],
    /// Battery change, in levels, of task `j` in slot `i` at `gains[i·n + j]`.
    pub gains: &'a [i32],
    /// Highest level `L − 1` (the battery is full).
    pub top: u32,
    /// Level at the start of slot 1, `B(1)`.
    pub start: u32,
    /// The end level must satisfy `B(k+1) ≥ target` (energy neutrality when `target = start`).
    pub target: u32,
}

/// An optimal assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct DpPlan {
    /// Task chosen for each slot.
    pub assignment: Vec<usize>,
    /// Battery level (0..=top) at the start of each slot, then at the end: `k + 1` values.
    pub levels: Vec<u32>,
    /// Total utility.
    pub utility: f64,
}

/// Reusable DP state: the policy table and two rows of values. Allocated once, grown on demand.
#[derive(Debug, Default, Clone)]
pub struct DpScheduler {
    choice: Vec<u8>,
    next: Vec<f64>,
    current: Vec<f64>,
    slots: usize,
    levels: usize,
}

impl DpScheduler {
    /// An empty scheduler; buffers grow on the first solve.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes the tables need for `slots` slots and `levels` levels: one policy byte per
    /// (slot, level) plus two `f64` rows of values.
    pub fn table_bytes(slots: usize, levels: usize) -> usize {
        slots * levels + 2 * levels * core::mem::size_of::<f64>()
    }

    /// Bytes currently allocated by this scheduler's buffers.
    pub fn allocated_bytes(&self) -> usize {
        self.choice.capacity()
            + (self.next.capacity() + self.current.capacity()) * core::mem::size_of::<f64>()
    }

    /// Solves `input` exactly; `Infeasible` if no assignment keeps every level ≥ 0 and ends ≥ target.
    pub fn solve(&mut self, input: &DpInput<'_>) -> Result<DpPlan> {
        let n = input.utilities.len();
        if n == 0 || n > MAX_TASKS {
            return Err(HarvestError::BadInput {
                what: "tasks",
                reason: alloc::format!("need 1..={MAX_TASKS} tasks, got {n}"),
            });
        }
        if !input.gains.len().is_multiple_of(n) {
            return Err(HarvestError::BadInput {
                what: "gains",
                reason: alloc::format!(
                    "{} gains is not a multiple of {n} tasks",
                    input.gains.len()
                ),
            });
        }
        if input.utilities.iter().any(|u| !u.is_finite()) {
            return Err(HarvestError::BadInput {
                what: "tasks",
                reason: "a utility is not finite".into(),
            });
        }
        if input.start > input.top || input.target > input.top {
            return Err(HarvestError::BadInput {
                what: "battery levels",
                reason: alloc::format!(
                    "start {} and target {} must be within 0..={}",
                    input.start,
                    input.target,
                    input.top
                ),
            });
        }
        let k = input.gains.len() / n;
        let levels = input.top as usize + 1;
        self.fill(input, k, levels, n);
        self.extract(input, k, n)
    }

    fn fill(&mut self, input: &DpInput<'_>, k: usize, levels: usize, n: usize) {
        self.slots = k;
        self.levels = levels;
        self.choice.clear();
        self.choice.resize(k * levels, NONE);
        self.next.clear();
        self.next.resize(levels, f64::NEG_INFINITY);
        self.current.clear();
        self.current.resize(levels, f64::NEG_INFINITY);
        for v in &mut self.next[input.target as usize..] {
            *v = 0.0;
        }
        let top = i64::from(input.top);
        for i in (0..k).rev() {
            let gains = &input.gains[i * n..(i + 1) * n];
            let row = &mut self.choice[i * levels..(i + 1) * levels];
            for (b, (value_out, arg_out)) in self.current.iter_mut().zip(row.iter_mut()).enumerate()
            {
                let mut best = f64::NEG_INFINITY;
                let mut arg = NONE;
                for (j, (&g, &u)) in gains.iter().zip(input.utilities).enumerate() {
                    let after = b as i64 + i64::from(g);
                    if after < 0 {
                        continue;
                    }
                    let value = u + self.next[after.min(top) as usize];
                    if value == f64::NEG_INFINITY {
                        continue;
                    }
                    if arg == NONE || beats(value, u, best, input.utilities[usize::from(arg)]) {
                        best = value;
                        arg = j as u8;
                    }
                }
                *value_out = best;
                *arg_out = arg;
            }
            core::mem::swap(&mut self.current, &mut self.next);
        }
    }

    fn extract(&self, input: &DpInput<'_>, k: usize, n: usize) -> Result<DpPlan> {
        let mut b = input.start;
        let mut assignment = Vec::with_capacity(k);
        let mut levels = Vec::with_capacity(k + 1);
        levels.push(b);
        let mut utility = 0.0;
        for i in 0..k {
            let Some(j) = self.policy(i, b) else {
                return Err(HarvestError::Infeasible {
                    reason: alloc::format!(
                        "no task sequence from level {} keeps the battery >= B_min over {k} slots and ends >= level {}",
                        input.start,
                        input.target
                    ),
                });
            };
            let after =
                (i64::from(b) + i64::from(input.gains[i * n + j])).min(i64::from(input.top));
            b = after as u32;
            assignment.push(j);
            levels.push(b);
            utility += input.utilities[j];
        }
        Ok(DpPlan {
            assignment,
            levels,
            utility,
        })
    }

    /// The optimal task for `slot` when the battery is at `level`, from the last solve; `None`
    /// if the end target cannot be reached from there (or the indices are out of range).
    pub fn policy(&self, slot: usize, level: u32) -> Option<usize> {
        let level = level as usize;
        if slot >= self.slots || level >= self.levels {
            return None;
        }
        match self.choice[slot * self.levels + level] {
            NONE => None,
            j => Some(usize::from(j)),
        }
    }
}

/// How a slot's energy change becomes an integer number of levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
pub enum GainRounding {
    /// Round down: the quantised battery never exceeds the real one, so a plan that is feasible
    /// on the levels is feasible on the real battery (for the predicted production).
    Conservative,
    /// Round to the nearest level: unbiased, errors of ±½ level per slot.
    Nearest,
}

/// Maps battery energy onto `L` levels spanning `[B_min, B_max]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantizer {
    min: f64,
    quantum: f64,
    top: u32,
}

impl Quantizer {
    /// `levels` (2..=2^24) levels over the battery's `[B_min, B_max]` (which must be finite).
    pub fn new(battery: &Battery, levels: u32) -> Result<Self> {
        if !(2..=1 << 24).contains(&levels) {
            return Err(HarvestError::InvalidParameter {
                name: "levels",
                value: f64::from(levels),
                reason: "need 2..=16777216 battery levels",
            });
        }
        if !battery.max.is_finite() {
            return Err(HarvestError::InvalidParameter {
                name: "B_max",
                value: battery.max,
                reason: "the DP needs a finite battery capacity",
            });
        }
        let top = levels - 1;
        Ok(Self {
            min: battery.min,
            quantum: battery.usable() / f64::from(top),
            top,
        })
    }

    /// Energy of one level.
    pub fn quantum(&self) -> f64 {
        self.quantum
    }

    /// Highest level `L − 1`.
    pub fn top(&self) -> u32 {
        self.top
    }

    /// The level read for `energy` (rounded down, clamped to `0..=top`); `None` below `B_min`.
    pub fn level(&self, energy: f64) -> Option<u32> {
        if energy.is_nan() || energy < self.min {
            return None;
        }
        let x = floor((energy - self.min) / self.quantum + 1e-9);
        Some(if x >= f64::from(self.top) {
            self.top
        } else {
            x as u32
        })
    }

    /// The level nearest to `energy` (clamped to `0..=top`); `None` below `B_min`. Reading the
    /// real battery this way matches [`GainRounding::Nearest`]: rounding down on every look-up
    /// would bias a closed-loop controller half a level low each slot.
    pub fn nearest_level(&self, energy: f64) -> Option<u32> {
        if energy.is_nan() || energy < self.min {
            return None;
        }
        self.level(energy + 0.5 * self.quantum)
    }

    /// The smallest level whose energy is at least `energy` (clamped to `0..=top`).
    pub fn level_at_least(&self, energy: f64) -> u32 {
        let x = crate::num::ceil((energy - self.min) / self.quantum - 1e-9);
        if x <= 0.0 {
            0
        } else if x >= f64::from(self.top) {
            self.top
        } else {
            x as u32
        }
    }

    /// Energy of `level`.
    pub fn energy(&self, level: u32) -> f64 {
        self.min + self.quantum * f64::from(level)
    }

    /// The gain of every (slot, task): row-major `k × n`.
    pub fn gains(
        &self,
        battery: &Battery,
        production: &[f64],
        tasks: &[Task],
        rounding: GainRounding,
    ) -> Vec<i32> {
        let mut out = Vec::with_capacity(production.len() * tasks.len());
        let bound = f64::from(i32::MAX / 2);
        for &p in production {
            for t in tasks {
                let x = battery.net_change(p, t.cost) / self.quantum;
                let g = match rounding {
                    GainRounding::Conservative => floor(x),
                    GainRounding::Nearest => round(x),
                };
                out.push(g.clamp(-bound, bound) as i32);
            }
        }
        out
    }
}

/// The task scheduler on real units: a battery, its quantisation and a task set.
#[derive(Debug, Clone)]
pub struct TaskScheduler {
    battery: Battery,
    quantizer: Quantizer,
    tasks: Vec<Task>,
    utilities: Vec<f64>,
    rounding: GainRounding,
    dp: DpScheduler,
    gains: Vec<i32>,
}

/// A plan in real units.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPlan {
    /// Task index per slot.
    pub assignment: Vec<usize>,
    /// Planned battery energy at each slot boundary (`k + 1` values, quantised).
    pub levels: Vec<f64>,
    /// Total utility.
    pub utility: f64,
}

impl TaskScheduler {
    /// A scheduler over `levels` battery levels for `tasks` (1..=255 tasks with finite, non-negative costs).
    pub fn new(
        battery: Battery,
        levels: u32,
        tasks: Vec<Task>,
        rounding: GainRounding,
    ) -> Result<Self> {
        let quantizer = Quantizer::new(&battery, levels)?;
        if tasks.is_empty() || tasks.len() > MAX_TASKS {
            return Err(HarvestError::BadInput {
                what: "tasks",
                reason: alloc::format!("need 1..={MAX_TASKS} tasks, got {}", tasks.len()),
            });
        }
        if let Some(t) = tasks
            .iter()
            .find(|t| !(t.cost.is_finite() && t.cost >= 0.0 && t.utility.is_finite()))
        {
            return Err(HarvestError::InvalidParameter {
                name: "task cost",
                value: t.cost,
                reason: "task costs and utilities must be finite, costs >= 0",
            });
        }
        let utilities = tasks.iter().map(|t| t.utility).collect();
        Ok(Self {
            battery,
            quantizer,
            tasks,
            utilities,
            rounding,
            dp: DpScheduler::new(),
            gains: Vec::new(),
        })
    }

    /// The quantisation in use.
    pub fn quantizer(&self) -> &Quantizer {
        &self.quantizer
    }

    /// The tasks.
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// The DP state (policy table) of the last plan.
    pub fn dp(&self) -> &DpScheduler {
        &self.dp
    }

    /// Plans the slots with the given predicted production, from battery energy `start`, ending at
    /// or above `target`. Energies below `B_min` are rejected as infeasible.
    pub fn plan(&mut self, production: &[f64], start: f64, target: f64) -> Result<TaskPlan> {
        if let Some(i) = production
            .iter()
            .position(|p| !(p.is_finite() && *p >= 0.0))
        {
            return Err(HarvestError::BadInput {
                what: "predicted production",
                reason: alloc::format!("slot {i} is {} (need finite, >= 0)", production[i]),
            });
        }
        let Some(start_level) = self.quantizer.level(start) else {
            return Err(HarvestError::Infeasible {
                reason: alloc::format!("start energy {start} is below B_min {}", self.battery.min),
            });
        };
        // A target at or below the start must not round above the start's own level.
        let target_level = if target <= start {
            self.quantizer.level_at_least(target).min(start_level)
        } else {
            self.quantizer.level_at_least(target)
        };
        self.gains = self
            .quantizer
            .gains(&self.battery, production, &self.tasks, self.rounding);
        let plan = self.dp.solve(&DpInput {
            utilities: &self.utilities,
            gains: &self.gains,
            top: self.quantizer.top(),
            start: start_level,
            target: target_level,
        })?;
        Ok(TaskPlan {
            levels: plan
                .levels
                .iter()
                .map(|&l| self.quantizer.energy(l))
                .collect(),
            assignment: plan.assignment,
            utility: plan.utility,
        })
    }

    /// After [`plan`](Self::plan): the best task for `slot` given the battery's actual energy, or
    /// `None` when the end target is out of reach from there (or the battery is below `B_min`).
    /// The energy is read as the level the gains' rounding implies: rounded down under
    /// [`GainRounding::Conservative`] (so the plan stays safe), to the nearest level under
    /// [`GainRounding::Nearest`].
    pub fn policy(&self, slot: usize, energy: f64) -> Option<usize> {
        let level = match self.rounding {
            GainRounding::Conservative => self.quantizer.level(energy),
            GainRounding::Nearest => self.quantizer.nearest_level(energy),
        };
        level.and_then(|l| self.dp.policy(slot, l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_infeasible() {
        let utilities = [1.0];
        let gains = [-1, -1];
        let mut dp = DpScheduler::new();
        let err = dp.solve(&DpInput {
            utilities: &utilities,
            gains: &gains,
            top: 5,
            start: 1,
            target: 0,
        });
        assert!(matches!(err, Err(HarvestError::Infeasible { .. })));
    }

    #[test]
    fn ties_spend_energy_now() {
        // One level to spend in either of two slots: same total, so spend it in the first.
        let utilities = [0.0, 1.0];
        let gains = [0, -1, 0, -1];
        let mut dp = DpScheduler::new();
        let plan = dp
            .solve(&DpInput {
                utilities: &utilities,
                gains: &gains,
                top: 4,
                start: 1,
                target: 0,
            })
            .unwrap();
        assert_eq!(plan.utility, 1.0);
        assert_eq!(plan.assignment, [1, 0]);
    }

    #[test]
    fn nearest_level_rounds_to_the_closest() {
        let b = Battery::new(10.0, 20.0, 1.0, 0.0).unwrap();
        let q = Quantizer::new(&b, 11).unwrap();
        assert_eq!(q.nearest_level(9.9), None);
        assert_eq!(q.nearest_level(15.4), Some(5));
        assert_eq!(q.nearest_level(15.6), Some(6));
        assert_eq!(q.nearest_level(19.8), Some(10));
        assert_eq!(q.nearest_level(f64::NAN), None);
    }

    #[test]
    fn quantizer_rounds_down_and_clamps() {
        let b = Battery::new(10.0, 20.0, 1.0, 0.0).unwrap();
        let q = Quantizer::new(&b, 11).unwrap();
        assert_eq!(q.quantum(), 1.0);
        assert_eq!(q.level(9.0), None);
        assert_eq!(q.level(10.0), Some(0));
        assert_eq!(q.level(15.7), Some(5));
        assert_eq!(q.level(25.0), Some(10));
        assert_eq!(q.level_at_least(15.2), 6);
        assert_eq!(q.energy(3), 13.0);
    }
}
