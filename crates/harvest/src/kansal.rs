//! Kansal's energy-neutral duty-cycle algorithm.
//!
//! Start from the natural plan (sun slots, where the predicted production covers `p_max`, at
//! `dc_max`; dark slots at `dc_min`) and look at the end-of-day balance `B(k+1) − target`.
//! A surplus raises dark slots to `dc_max` one by one (lowest index first) and the last one as far
//! as the remainder allows; a deficit lowers every sun slot by the same power until the balance is
//! restored, and is infeasible when that would take them below `p_min`. Balances are computed on
//! the real battery (capacity cap and efficiency included), so the plan stays neutral when the
//! battery fills up. Dynamic adaptation re-runs the same algorithm on the slots that remain, from
//! the measured battery level ([`KansalPlanner::plan`] on a suffix).

use alloc::vec;
use alloc::vec::Vec;

use crate::battery::Battery;
use crate::error::{HarvestError, Result};
use crate::linear::DutyCycleModel;

/// Which branch of the algorithm produced a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
pub enum KansalCase {
    /// The natural plan ended above the target; dark slots were raised.
    Surplus,
    /// The natural plan ended below the target; sun slots were lowered.
    Deficit,
    /// The natural plan ended exactly on the target.
    Balanced,
}

/// A duty-cycle plan for one day (or the rest of one).
#[derive(Debug, Clone, PartialEq)]
pub struct KansalPlan {
    /// Duty cycle per slot.
    pub duty_cycles: Vec<f64>,
    /// Whether each slot is a sun slot (predicted production ≥ `p_max`).
    pub sun: Vec<bool>,
    /// Predicted battery energy at each slot boundary (`k + 1` values).
    pub levels: Vec<f64>,
    /// Total utility `Σ u(dc_i)`.
    pub utility: f64,
    /// Which case applied.
    pub case: KansalCase,
}

impl KansalPlan {
    /// Lowest predicted level over the day (Kansal does not enforce `B_min` inside the day).
    pub fn min_level(&self) -> f64 {
        self.levels.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// Kansal's planner for one node.
#[derive(Debug, Clone, Copy)]
pub struct KansalPlanner {
    /// The load model (powers in energy per unit of `slot_length`).
    pub model: DutyCycleModel,
    /// The battery.
    pub battery: Battery,
    /// Slot length: power × slot_length = energy of one slot.
    pub slot_length: f64,
    /// If set, duty cycles snap down onto this many evenly spaced levels (the DP's task set), so
    /// both schedulers choose from the same options.
    pub levels: Option<usize>,
}

/// Iterations of bisection; 2^-60 of the power range is far below any meaningful energy.
const BISECT: usize = 60;

impl KansalPlanner {
    fn energy(&self, dc: f64) -> f64 {
        self.model.power(dc) * self.slot_length
    }

    fn simulate(&self, production: &[f64], dcs: &[f64], start: f64) -> Vec<f64> {
        let mut levels = Vec::with_capacity(dcs.len() + 1);
        let mut b = start;
        levels.push(b);
        for (&p, &dc) in production.iter().zip(dcs) {
            b = self.battery.step(b, p, self.energy(dc)).level;
            levels.push(b);
        }
        levels
    }

    fn snap(&self, dc: f64) -> f64 {
        match self.levels {
            Some(n) if n >= 2 => {
                let step = (self.model.dc_max - self.model.dc_min) / (n - 1) as f64;
                let i = crate::num::floor((dc - self.model.dc_min) / step + 1e-9);
                (self.model.dc_min + step * i.max(0.0)).min(self.model.dc_max)
            }
            _ => dc,
        }
    }

    /// Plans `production` (predicted energy per slot) from battery energy `start` so that the
    /// battery ends at or above `target`. `Infeasible` in the deficit case when even `p_min` in
    /// every sun slot cannot restore the balance.
    pub fn plan(&self, production: &[f64], start: f64, target: f64) -> Result<KansalPlan> {
        if let Some(i) = production
            .iter()
            .position(|p| !(p.is_finite() && *p >= 0.0))
        {
            return Err(HarvestError::BadInput {
                what: "predicted production",
                reason: alloc::format!("slot {i} is {} (need finite, >= 0)", production[i]),
            });
        }
        if !(start.is_finite() && target.is_finite()) {
            return Err(HarvestError::BadInput {
                what: "battery levels",
                reason: "start and target must be finite".into(),
            });
        }
        let m = &self.model;
        let sun: Vec<bool> = production
            .iter()
            .map(|&p| p >= m.p_max * self.slot_length)
            .collect();
        let mut dcs: Vec<f64> = sun
            .iter()
            .map(|&s| if s { m.dc_max } else { m.dc_min })
            .collect();
        let end = |dcs: &[f64]| {
            *self
                .simulate(production, dcs, start)
                .last()
                .unwrap_or(&start)
        };
        let balance = end(&dcs) - target;
        let case = if balance > 0.0 {
            self.spend_surplus(production, &sun, &mut dcs, start, target);
            KansalCase::Surplus
        } else if balance < 0.0 {
            self.cover_deficit(production, &sun, &mut dcs, start, target, balance)?;
            KansalCase::Deficit
        } else {
            KansalCase::Balanced
        };
        let levels = self.simulate(production, &dcs, start);
        let utility = dcs.iter().map(|&dc| m.utility(dc)).sum();
        Ok(KansalPlan {
            duty_cycles: dcs,
            sun,
            levels,
            utility,
            case,
        })
    }

    /// Raises dark slots in index order; each raise costs at most its extra consumption, so the
    /// end level never drops below the target.
    fn spend_surplus(
        &self,
        production: &[f64],
        sun: &[bool],
        dcs: &mut [f64],
        start: f64,
        target: f64,
    ) {
        let m = self.model;
        // The cap may swallow part of a raise's cost, leaving surplus: a few passes collect it.
        for _ in 0..4 {
            let mut surplus = *self
                .simulate(production, dcs, start)
                .last()
                .unwrap_or(&start)
                - target;
            let mut changed = false;
            for i in 0..dcs.len() {
                if sun[i] || dcs[i] >= m.dc_max || surplus <= 0.0 {
                    continue;
                }
                let cost = |dc: f64| {
                    self.battery.net_change(production[i], self.energy(dcs[i]))
                        - self.battery.net_change(production[i], self.energy(dc))
                };
                let new = if cost(m.dc_max) <= surplus {
                    m.dc_max
                } else {
                    // The largest duty cycle whose extra cost fits the remaining surplus.
                    let (mut lo, mut hi) = (dcs[i], m.dc_max);
                    for _ in 0..BISECT {
                        let mid = 0.5 * (lo + hi);
                        if cost(mid) <= surplus {
                            lo = mid
                        } else {
                            hi = mid
                        }
                    }
                    self.snap(lo)
                };
                if new > dcs[i] {
                    surplus -= cost(new);
                    dcs[i] = new;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// Lowers all sun slots to one common duty cycle, the highest that restores the balance.
    fn cover_deficit(
        &self,
        production: &[f64],
        sun: &[bool],
        dcs: &mut [f64],
        start: f64,
        target: f64,
        balance: f64,
    ) -> Result<()> {
        let m = self.model;
        let n_sun = sun.iter().filter(|&&s| s).count();
        let with = |dcs: &mut [f64], dc: f64| {
            for (d, &s) in dcs.iter_mut().zip(sun) {
                if s {
                    *d = dc;
                }
            }
        };
        let end = |dcs: &[f64]| {
            *self
                .simulate(production, dcs, start)
                .last()
                .unwrap_or(&start)
        };
        with(dcs, m.dc_min);
        let best = end(dcs) - target;
        if n_sun == 0 || best < 0.0 {
            return Err(HarvestError::Infeasible {
                reason: alloc::format!(
                    "deficit of {:.6} at the end of the {} slots; {} sun slots at p_min still leave {:.6}",
                    -balance,
                    dcs.len(),
                    n_sun,
                    best
                ),
            });
        }
        // The end level falls as the common sun duty cycle rises: bisect for the highest that works.
        let (mut lo, mut hi) = (m.dc_min, m.dc_max);
        for _ in 0..BISECT {
            let mid = 0.5 * (lo + hi);
            with(dcs, mid);
            if end(dcs) >= target {
                lo = mid
            } else {
                hi = mid
            }
        }
        with(dcs, self.snap(lo));
        Ok(())
    }

    /// The duty cycles this planner can choose: the snapped levels, or just the two bounds.
    pub fn snapped_levels(&self) -> Vec<f64> {
        match self.levels {
            Some(n) if n >= 2 => self
                .model
                .duty_levels(n)
                .unwrap_or_else(|_| vec![self.model.dc_min, self.model.dc_max]),
            _ => vec![self.model.dc_min, self.model.dc_max],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planner() -> KansalPlanner {
        KansalPlanner {
            model: DutyCycleModel::new(0.1, 1.0, 1.0, 10.0, 1.0, 5.0).unwrap(),
            battery: Battery::new(0.0, 1000.0, 1.0, 0.0).unwrap(),
            slot_length: 1.0,
            levels: None,
        }
    }

    #[test]
    fn surplus_raises_dark_slots() {
        // Sun produces 20 per slot in 4 slots, 4 dark slots produce nothing.
        let p = [0.0, 0.0, 20.0, 20.0, 20.0, 20.0, 0.0, 0.0];
        let plan = planner().plan(&p, 100.0, 100.0).unwrap();
        assert_eq!(plan.case, KansalCase::Surplus);
        // Natural plan: sun slots store 15 each = 60, dark slots draw 1 each = 4: surplus 56;
        // raising a dark slot costs 4: all four raised (16), 40 left over and no slot to spend it.
        assert!(plan.duty_cycles.iter().all(|&d| (d - 1.0).abs() < 1e-9));
        assert!(*plan.levels.last().unwrap() >= 100.0 - 1e-9);
    }

    #[test]
    fn partial_raise_uses_the_remainder() {
        let p = [0.0, 0.0, 7.0, 0.0];
        let plan = planner().plan(&p, 100.0, 100.0).unwrap();
        // Sun slot stores 2, dark slots draw 1 each: deficit? 2 − 3 = −1 → deficit case.
        assert_eq!(plan.case, KansalCase::Deficit);
        let end = *plan.levels.last().unwrap();
        assert!((end - 100.0).abs() < 1e-6, "{end}");
        assert!(plan.duty_cycles[2] < 1.0 && plan.duty_cycles[2] > 0.1);
        let p = [0.0, 0.0, 9.0, 0.0];
        let plan = planner().plan(&p, 100.0, 100.0).unwrap();
        assert_eq!(plan.case, KansalCase::Surplus);
        // Surplus 4 − 3 = 1: raises slot 0 by 1 energy: power 2 → dc = 0.1 + 0.9/4.
        assert!((plan.duty_cycles[0] - (0.1 + 0.9 / 4.0)).abs() < 1e-6);
        assert!((plan.levels[4] - 100.0).abs() < 1e-6);
    }

    #[test]
    fn deficit_infeasible_is_reported() {
        let p = [0.0, 0.0, 5.0, 0.0, 0.0, 0.0];
        let err = planner().plan(&p, 100.0, 100.0).unwrap_err();
        assert!(matches!(err, HarvestError::Infeasible { .. }), "{err}");
        // The same day is fine if the battery may end 10 lower.
        assert!(planner().plan(&p, 100.0, 90.0).is_ok());
    }

    #[test]
    fn snapping_keeps_neutrality() {
        let mut k = planner();
        k.levels = Some(4);
        let p = [0.0, 0.0, 9.0, 0.0];
        let plan = k.plan(&p, 100.0, 100.0).unwrap();
        assert!(plan.levels[4] >= 100.0 - 1e-9);
        assert!(
            plan.duty_cycles
                .iter()
                .all(|d| k.snapped_levels().iter().any(|l| (l - d).abs() < 1e-9))
        );
    }
}
