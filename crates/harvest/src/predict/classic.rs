//! The published predictors, exactly as published: persistence, yesterday, Kansal's EWMA and
//! Piorno et al.'s WCMA. They are the baselines the robust predictors must beat, so they keep
//! their weaknesses (WCMA's `GAP` divides by the same slot's history and explodes where that
//! history is near zero; every one of them reads the clock as solar time).

use alloc::vec;
use alloc::vec::Vec;

use super::SlotSeries;

/// The previous slot's value.
pub(super) fn persistence(x: &[Option<f64>]) -> Vec<Option<f64>> {
    (0..x.len())
        .map(|t| if t == 0 { None } else { x[t - 1] })
        .collect()
}

/// The same slot one day earlier.
pub(super) fn yesterday(x: &[Option<f64>], spd: usize) -> Vec<Option<f64>> {
    (0..x.len())
        .map(|t| if t < spd { None } else { x[t - spd] })
        .collect()
}

/// Kansal's per-slot EWMA across days, `E_d = α·E_{d−1} + (1 − α)·x_{d−1}` (day-ahead).
pub(super) fn ewma(series: &SlotSeries, alpha: f64) -> Vec<Option<f64>> {
    let spd = series.slots_per_day();
    let mut estimate: Vec<Option<f64>> = vec![None; spd];
    let mut out = Vec::with_capacity(series.values().len());
    for d in 0..series.days() {
        out.extend_from_slice(&estimate);
        for (e, obs) in estimate.iter_mut().zip(series.day(d)) {
            if let Some(o) = *obs {
                *e = Some(e.map_or(o, |e| alpha * e + (1.0 - alpha) * o));
            }
        }
    }
    out
}

/// WCMA: `α·x(t−1) + (1 − α)·M_D(t)·GAP_K(t)`.
pub(super) fn wcma(
    x: &[Option<f64>],
    spd: usize,
    alpha: f64,
    days: usize,
    k: usize,
) -> Vec<Option<f64>> {
    let mean = per_slot_mean(x, spd, days);
    (0..x.len())
        .map(|t| {
            let now = x[t.checked_sub(1)?]?;
            let profile = mean[t]?;
            let gap = weighted_ratio(x, &mean, t, k);
            Some(alpha * now + (1.0 - alpha) * profile * gap)
        })
        .collect()
}

/// `M_D(t)`: mean of the same slot over the previous `days` days (gaps skipped).
fn per_slot_mean(x: &[Option<f64>], spd: usize, days: usize) -> Vec<Option<f64>> {
    (0..x.len())
        .map(|t| {
            let (mut sum, mut n) = (0.0, 0usize);
            for d in 1..=days {
                if let Some(Some(v)) = t.checked_sub(d * spd).map(|s| x[s]) {
                    sum += v;
                    n += 1;
                }
            }
            (n > 0).then(|| sum / n as f64)
        })
        .collect()
}

/// WCMA's `GAP_K` for predicting slot `t`: ratios of the `k` slots before `t` to their reference,
/// weighted `1/k, 2/k, …, 1` towards the most recent; 1 when no slot has a positive reference.
/// Unbounded by design (the paper's): a reference of 0.05 W under an observation of 500 W gives
/// a ratio of 10,000.
fn weighted_ratio(x: &[Option<f64>], reference: &[Option<f64>], t: usize, k: usize) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for j in 1..=k {
        let Some(s) = t.checked_sub(k + 1 - j) else {
            continue;
        };
        if let (Some(v), Some(r)) = (x[s], reference[s])
            && r > 0.0
        {
            let w = j as f64 / k as f64;
            num += w * v / r;
            den += w;
        }
    }
    if den > 0.0 { num / den } else { 1.0 }
}
