//! Utility and power as linear functions of the duty cycle between `dc_min` and `dc_max`.

use alloc::vec::Vec;

use crate::error::{HarvestError, Result, check_at_least};

/// The node's load model: utility `u(dc) = α·dc + β` and average power `p(dc) = ρ·dc + σ` for
/// `dc_min ≤ dc ≤ dc_max`; below `dc_min` the node does nothing useful (`u = 0`), above `dc_max`
/// utility saturates at `u_max`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
pub struct DutyCycleModel {
    /// Minimum useful duty cycle, in (0, 1].
    pub dc_min: f64,
    /// Maximum useful duty cycle, in (dc_min, 1].
    pub dc_max: f64,
    /// Utility at `dc_min`.
    pub u_min: f64,
    /// Utility at `dc_max`.
    pub u_max: f64,
    /// Average power at `dc_min`.
    pub p_min: f64,
    /// Average power at `dc_max`.
    pub p_max: f64,
}

/// One choice a scheduler can make for a slot: run at some duty cycle / task for the whole slot.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
pub struct Task {
    /// Utility earned by running it for one slot.
    pub utility: f64,
    /// Energy it consumes in one slot.
    pub cost: f64,
}

impl DutyCycleModel {
    /// Checks `0 < dc_min < dc_max ≤ 1`, `0 ≤ u_min ≤ u_max`, `0 ≤ p_min ≤ p_max`.
    pub fn new(
        dc_min: f64,
        dc_max: f64,
        u_min: f64,
        u_max: f64,
        p_min: f64,
        p_max: f64,
    ) -> Result<Self> {
        if !(dc_min > 0.0 && dc_min < dc_max && dc_max <= 1.0) {
            return Err(HarvestError::InvalidParameter {
                name: "dc_min",
                value: dc_min,
                reason: "need 0 < dc_min < dc_max <= 1",
            });
        }
        check_at_least("u_min", u_min, 0.0)?;
        check_at_least("u_max", u_max, u_min)?;
        check_at_least("p_min", p_min, 0.0)?;
        check_at_least("p_max", p_max, p_min)?;
        Ok(Self {
            dc_min,
            dc_max,
            u_min,
            u_max,
            p_min,
            p_max,
        })
    }

    /// Slope α = (u_M − u_m)/(dc_max − dc_min).
    pub fn alpha(&self) -> f64 {
        (self.u_max - self.u_min) / (self.dc_max - self.dc_min)
    }

    /// Intercept β = u_m − α·dc_min.
    pub fn beta(&self) -> f64 {
        self.u_min - self.alpha() * self.dc_min
    }

    /// Slope ρ = (p_max − p_min)/(dc_max − dc_min).
    pub fn rho(&self) -> f64 {
        (self.p_max - self.p_min) / (self.dc_max - self.dc_min)
    }

    /// Intercept σ = p_min − ρ·dc_min.
    pub fn sigma(&self) -> f64 {
        self.p_min - self.rho() * self.dc_min
    }

    /// Utility at duty cycle `dc` (piecewise: 0, linear, saturated).
    pub fn utility(&self, dc: f64) -> f64 {
        if dc < self.dc_min {
            0.0
        } else if dc > self.dc_max {
            self.u_max
        } else {
            self.alpha() * dc + self.beta()
        }
    }

    /// Average power at duty cycle `dc`, clamped into `[dc_min, dc_max]`.
    pub fn power(&self, dc: f64) -> f64 {
        let dc = dc.clamp(self.dc_min, self.dc_max);
        self.rho() * dc + self.sigma()
    }

    /// The duty cycle that draws average power `p` (clamped into `[dc_min, dc_max]`).
    pub fn duty_cycle_for_power(&self, p: f64) -> f64 {
        if self.p_max == self.p_min {
            return if p >= self.p_max {
                self.dc_max
            } else {
                self.dc_min
            };
        }
        ((p - self.sigma()) / self.rho()).clamp(self.dc_min, self.dc_max)
    }

    /// The `n` duty cycles evenly spaced from `dc_min` to `dc_max` (n ≥ 2), cheapest first.
    pub fn duty_levels(&self, n: usize) -> Result<Vec<f64>> {
        if n < 2 {
            return Err(HarvestError::InvalidParameter {
                name: "tasks",
                value: n as f64,
                reason: "need at least 2 duty-cycle levels (dc_min and dc_max)",
            });
        }
        let step = (self.dc_max - self.dc_min) / (n - 1) as f64;
        Ok((0..n)
            .map(|i| {
                if i + 1 == n {
                    self.dc_max
                } else {
                    self.dc_min + step * i as f64
                }
            })
            .collect())
    }

    /// The `n` evenly spaced duty cycles as tasks for the DP scheduler, for slots of
    /// `slot_length` (power × slot_length = energy per slot), cheapest first.
    pub fn tasks(&self, n: usize, slot_length: f64) -> Result<Vec<Task>> {
        check_at_least("slot length", slot_length, 0.0)?;
        Ok(self
            .duty_levels(n)?
            .into_iter()
            .map(|dc| Task {
                utility: self.utility(dc),
                cost: self.power(dc) * slot_length,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_utility_example() {
        // u_m = 10, u_M = 100, dc in [50 %, 90 %].
        let m = DutyCycleModel::new(0.5, 0.9, 10.0, 100.0, 1.0, 5.0).unwrap();
        assert!((m.alpha() - 225.0).abs() < 1e-9);
        assert!((m.beta() - (10.0 - 225.0 * 0.5)).abs() < 1e-9);
        assert_eq!(m.utility(0.4), 0.0);
        assert!((m.utility(0.5) - 10.0).abs() < 1e-9);
        assert!((m.utility(0.7) - 55.0).abs() < 1e-9);
        assert!((m.utility(0.9) - 100.0).abs() < 1e-9);
        assert_eq!(m.utility(0.95), 100.0);
        assert!((m.power(0.5) - 1.0).abs() < 1e-9);
        assert!((m.power(0.9) - 5.0).abs() < 1e-9);
        assert!((m.duty_cycle_for_power(3.0) - 0.7).abs() < 1e-9);
        let tasks = m.tasks(3, 2.0).unwrap();
        assert_eq!(tasks.len(), 3);
        assert!((tasks[1].cost - 6.0).abs() < 1e-9);
        assert!((tasks[2].utility - 100.0).abs() < 1e-9);
    }

    #[test]
    fn rejects_bad_models() {
        assert!(DutyCycleModel::new(0.9, 0.5, 0.0, 1.0, 0.0, 1.0).is_err());
        assert!(DutyCycleModel::new(0.1, 0.5, 2.0, 1.0, 0.0, 1.0).is_err());
        assert!(DutyCycleModel::new(0.1, 0.5, 0.0, 1.0, f64::NAN, 1.0).is_err());
        assert!(
            DutyCycleModel::new(0.1, 0.5, 0.0, 1.0, 0.0, 1.0)
                .unwrap()
                .duty_levels(1)
                .is_err()
        );
    }
}
