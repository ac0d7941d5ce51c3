//! Kansal's sufficient conditions for energy-neutral operation, checked on a trace.
//!
//! The harvest is characterised by a rate `ρ_s` and a burstiness `σ` such that every window of
//! `T` slots produces at least `ρ_s·T − σ`; the load by `ρ_c` and `δ` such that every window
//! consumes at most `ρ_c·T + δ`. The node is energy-neutral if `η·ρ_s ≥ ρ_c + p_leak`,
//! `B_0 ≥ η·σ + δ` and `B_max ≥ B_0`. The tightest `σ` and `δ` over all windows take one pass each
//! (a running minimum of the prefix sums), not one per window.

use alloc::vec::Vec;

use crate::battery::Battery;
use crate::error::{HarvestError, Result};

/// One of Kansal's three conditions, with both sides.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
pub struct Condition {
    /// The inequality, as written.
    pub name: &'static str,
    /// Left-hand side.
    pub lhs: f64,
    /// Right-hand side.
    pub rhs: f64,
    /// Whether `lhs ≥ rhs`.
    pub holds: bool,
}

/// The fitted envelope parameters and the three conditions.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
pub struct NeutralityReport {
    /// Production rate per slot `ρ_s`: the smallest that satisfies `η·ρ_s ≥ ρ_c + p_leak` when the
    /// mean production allows it (it gives the smallest σ), else the mean production.
    pub rho_s: f64,
    /// Largest shortfall of any window's production below `ρ_s·T`.
    pub sigma: f64,
    /// Mean consumption per slot `ρ_c`.
    pub rho_c: f64,
    /// Largest excess of any window's consumption above `ρ_c·T`.
    pub delta: f64,
    /// The three conditions in the order above.
    pub conditions: Vec<Condition>,
}

impl NeutralityReport {
    /// Whether all three conditions hold (sufficient, not necessary, for neutrality).
    pub fn neutral(&self) -> bool {
        self.conditions.iter().all(|c| c.holds)
    }

    /// The first condition that fails, if any.
    pub fn first_failure(&self) -> Option<&Condition> {
        self.conditions.iter().find(|c| !c.holds)
    }
}

/// `max over windows (rate·T − Σ window)`, the deepest dip of the sums below the rate line.
fn max_shortfall(values: &[f64], rate: f64) -> f64 {
    // Window (a, b]: rate·(b − a) − (S_b − S_a) = (rate·b − S_b) − (rate·a − S_a).
    let (mut prefix, mut best, mut lowest) = (0.0, 0.0f64, 0.0f64);
    for (i, &v) in values.iter().enumerate() {
        prefix += v;
        let g = rate * (i + 1) as f64 - prefix;
        best = best.max(g - lowest);
        lowest = lowest.min(g);
    }
    best
}

/// Checks Kansal's conditions for per-slot `production` and `consumption` (same length, finite,
/// ≥ 0) on `battery` starting at `b0`. Leakage is the battery's per-slot leakage.
pub fn check(
    production: &[f64],
    consumption: &[f64],
    battery: &Battery,
    b0: f64,
) -> Result<NeutralityReport> {
    if production.len() != consumption.len() || production.is_empty() {
        return Err(HarvestError::BadInput {
            what: "neutrality trace",
            reason: alloc::format!(
                "production ({}) and consumption ({}) must have the same non-zero length",
                production.len(),
                consumption.len()
            ),
        });
    }
    for (what, xs) in [("production", production), ("consumption", consumption)] {
        if let Some(i) = xs.iter().position(|x| !(x.is_finite() && *x >= 0.0)) {
            return Err(HarvestError::BadInput {
                what: "neutrality trace",
                reason: alloc::format!("{what} at slot {i} is {} (need finite, >= 0)", xs[i]),
            });
        }
    }
    let n = production.len() as f64;
    let mean_s = production.iter().sum::<f64>() / n;
    let rho_c = consumption.iter().sum::<f64>() / n;
    let eta = battery.efficiency;
    // σ grows with ρ_s, so the tightest test uses the smallest rate the first condition allows
    // (the mean itself when even that is too low).
    let needed = (rho_c + battery.leakage) / eta;
    let rho_s = if mean_s >= needed { needed } else { mean_s };
    let sigma = max_shortfall(production, rho_s);
    // The load's excess above its rate is the shortfall of its negation.
    let neg: Vec<f64> = consumption.iter().map(|c| -c).collect();
    let delta = max_shortfall(&neg, -rho_c);
    let conditions = alloc::vec![
        Condition {
            name: "eta*rho_s >= rho_c + p_leak",
            lhs: eta * rho_s,
            rhs: rho_c + battery.leakage,
            holds: eta * rho_s >= rho_c + battery.leakage,
        },
        Condition {
            name: "B0 >= eta*sigma + delta",
            lhs: b0,
            rhs: eta * sigma + delta,
            holds: b0 >= eta * sigma + delta
        },
        Condition {
            name: "B_max >= B0",
            lhs: battery.max,
            rhs: b0,
            holds: battery.max >= b0
        },
    ];
    Ok(NeutralityReport {
        rho_s,
        sigma,
        rho_c,
        delta,
        conditions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_shortfall(values: &[f64], rate: f64) -> f64 {
        let mut best = 0.0f64;
        for a in 0..values.len() {
            let mut s = 0.0;
            for (t, v) in values[a..].iter().enumerate() {
                s += v;
                best = best.max(rate * (t + 1) as f64 - s);
            }
        }
        best
    }

    #[test]
    fn shortfall_matches_all_windows() {
        let v = [0.0, 0.0, 5.0, 9.0, 1.0, 0.0, 0.0, 0.0, 7.0, 3.0];
        let rate = v.iter().sum::<f64>() / v.len() as f64;
        assert!((max_shortfall(&v, rate) - brute_shortfall(&v, rate)).abs() < 1e-12);
    }

    #[test]
    fn day_night_cycle() {
        // 12 dark slots then 12 sunny ones producing 4; constant load 1.
        let prod: Vec<f64> = (0..48)
            .map(|i| if i % 24 < 12 { 0.0 } else { 4.0 })
            .collect();
        let cons = alloc::vec![1.0; 48];
        let battery = Battery::new(0.0, 100.0, 0.9, 0.1).unwrap();
        // Mean production 2 exceeds the needed (1 + 0.1)/0.9, so rho_s = 11/9 and sigma is one
        // night at that rate, 12·11/9; delta = 0.
        let r = check(&prod, &cons, &battery, 30.0).unwrap();
        assert!((r.rho_s - 11.0 / 9.0).abs() < 1e-12);
        assert!((r.sigma - 12.0 * 11.0 / 9.0).abs() < 1e-9);
        assert!(r.delta.abs() < 1e-12);
        assert!(r.neutral());
        let r = check(&prod, &cons, &battery, 10.0).unwrap();
        assert_eq!(r.first_failure().unwrap().name, "B0 >= eta*sigma + delta");
        let heavy = alloc::vec![1.9; 48];
        let r = check(&prod, &heavy, &battery, 30.0).unwrap();
        assert_eq!(
            r.first_failure().unwrap().name,
            "eta*rho_s >= rho_c + p_leak"
        );
        let r = check(&prod, &cons, &battery, 120.0).unwrap();
        assert_eq!(r.first_failure().unwrap().name, "B_max >= B0");
    }

    #[test]
    fn rejects_bad_traces() {
        let b = Battery::ideal();
        assert!(check(&[1.0], &[1.0, 2.0], &b, 0.0).is_err());
        assert!(check(&[f64::NAN], &[1.0], &b, 0.0).is_err());
        assert!(check(&[-1.0], &[1.0], &b, 0.0).is_err());
    }
}
