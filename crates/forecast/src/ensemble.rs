//! How `auto` combines its candidates: a weighted mean chosen on their recent, already resolved
//! errors by greedy ensemble selection, with intervals from the combination's own errors.
//!
//! Every candidate's [`crate::quantiles::Calibrator`] keeps, per step ahead, the errors of its
//! recent forecasts. All candidates are fitted on the same history and take the same samples,
//! so their windows are *aligned*: the j-th error of step k belongs to the same forecast origin
//! and target slot for every candidate. The error of a weighted mean of forecasts (weights
//! summing to 1) is then the same weighted mean of their errors, so any weighting can be scored
//! on the past without refitting anything.
//!
//! The weights come from greedy forward selection with replacement (Caruana et al., "Ensemble
//! selection from libraries of models", 2004): start from the candidate with the lowest error,
//! then [`ROUNDS`] times add (again) the candidate whose addition makes the equally weighted
//! mean of the selection best; a candidate's weight is its share of the selection. Each score is
//! the mean absolute error after the per-step median bias correction that the P50 applies, so
//! the weights are chosen for what is scored. Selection with replacement cannot produce
//! negative or extreme weights, which is why it overfits a short, autocorrelated window less
//! than unconstrained stacking, and it beats inverse-error weighting of the best few when two
//! candidates make the same errors (it takes one of them) or when a weaker one errs the other
//! way (it takes it anyway).
//!
//! The weighted mean is then scaled by a factor chosen the same way ([`choose_scale`]): the
//! values behind the errors are known, so the errors a scaled mean would have made are too.

use std::collections::VecDeque;

use crate::quantiles::{QuantileForecast, quantile_sorted};

/// Additions after the first pick: the weights are multiples of 1 / (ROUNDS + 1).
pub const ROUNDS: usize = 15;

/// One candidate's recent errors (actual − point forecast), one window per step ahead.
pub type ErrorWindows = [VecDeque<f64>];

/// Candidates whose windows can be compared with the first usable one: the same number of
/// errors at every step, all finite, at least one.
fn usable(errors: &[&ErrorWindows]) -> Vec<bool> {
    let shape = |e: &ErrorWindows| e.iter().map(VecDeque::len).collect::<Vec<_>>();
    let finite = |e: &ErrorWindows| {
        e.iter().flatten().all(|v| v.is_finite()) && e.iter().any(|w| !w.is_empty())
    };
    let reference = errors.iter().find(|e| finite(e)).map(|e| shape(e));
    errors
        .iter()
        .map(|e| finite(e) && reference.as_ref() == Some(&shape(e)))
        .collect()
}

/// Mean absolute error of `combined` (errors of all steps, step after step, `lens[k]` of step
/// k) after subtracting each step's median; `scratch` is reused.
fn corrected_mae(combined: &[f64], lens: &[usize], scratch: &mut Vec<f64>) -> f64 {
    let (mut total, mut from) = (0.0, 0);
    for &len in lens {
        let part = &combined[from..from + len];
        from += len;
        if len == 0 {
            continue;
        }
        scratch.clear();
        scratch.extend_from_slice(part);
        let (_, median, _) = scratch.select_nth_unstable_by(len / 2, f64::total_cmp);
        let median = *median;
        total += part.iter().map(|e| (e - median).abs()).sum::<f64>();
    }
    total / from.max(1) as f64
}

/// The combination weights of the candidates from their aligned recent errors (see the module
/// notes). Candidates without errors yet, or whose windows do not line up with the others',
/// get weight 0; with no usable candidate at all, the first one takes all the weight.
pub fn selection_weights(errors: &[&ErrorWindows]) -> Vec<f64> {
    let mut weights = vec![0.0; errors.len()];
    let ok = usable(errors);
    let Some(first) = ok.iter().position(|&u| u) else {
        if let Some(w) = weights.first_mut() {
            *w = 1.0;
        }
        return weights;
    };
    let lens: Vec<usize> = errors[first].iter().map(VecDeque::len).collect();
    let flat: Vec<Option<Vec<f64>>> = errors
        .iter()
        .zip(&ok)
        .map(|(e, &u)| u.then(|| e.iter().flatten().copied().collect()))
        .collect();
    let n: usize = lens.iter().sum();
    let mut scratch = Vec::with_capacity(n);
    let mut sum = vec![0.0; n];
    let mut trial = vec![0.0; n];
    let mut counts = vec![0usize; errors.len()];
    for round in 0..=ROUNDS {
        let mut best: Option<(f64, usize)> = None;
        for (i, e) in flat.iter().enumerate() {
            let Some(e) = e else { continue };
            let r = round as f64;
            for ((t, s), v) in trial.iter_mut().zip(&sum).zip(e) {
                *t = (s + v) / (r + 1.0);
            }
            let score = corrected_mae(&trial, &lens, &mut scratch);
            if best.is_none_or(|(b, _)| score < b) {
                best = Some((score, i));
            }
        }
        let Some((_, pick)) = best else { break };
        counts[pick] += 1;
        if let Some(e) = &flat[pick] {
            sum.iter_mut().zip(e).for_each(|(s, v)| *s += v);
        }
    }
    let total: usize = counts.iter().sum();
    for (w, c) in weights.iter_mut().zip(&counts) {
        *w = *c as f64 / total.max(1) as f64;
    }
    weights
}

/// Index of the largest weight.
pub fn heaviest(weights: &[f64]) -> Option<usize> {
    weights
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
}

/// The weighted mean of the candidates' point forecasts `points`, with P10/P50/P90 from the
/// quantiles of the same weighted mean of their aligned errors, step by step (so the P50 is the
/// combination's own bias-corrected median, as each single model's is). Candidates of weight 0
/// are not read. Steps beyond the error windows borrow the last window's spread.
pub fn combine(points: &[&[f64]], errors: &[&ErrorWindows], weights: &[f64]) -> QuantileForecast {
    combine_scaled(points, errors, weights, 1.0, &[])
}

/// [`combine`] with the weighted mean scaled by `scale` (see [`choose_scale`]): the point is
/// `scale` × the mean, and the quantiles come from the errors the scaled mean would have made,
/// y − scale·(y − e) = (1 − scale)·y + scale·e for an actual y and a combined error e. `recent`
/// are the values the errors were made on, the last one the slot just before the origin; with
/// too few of them (or scale 1) the combined errors are used as they are.
pub fn combine_scaled(
    points: &[&[f64]],
    errors: &[&ErrorWindows],
    weights: &[f64],
    scale: f64,
    recent: &[f64],
) -> QuantileForecast {
    let chosen: Vec<usize> = (0..points.len().min(weights.len()))
        .filter(|&i| weights[i] > 0.0)
        .collect();
    let horizon = chosen.iter().map(|&i| points[i].len()).min().unwrap_or(0);
    let longest = chosen
        .iter()
        .filter_map(|&i| errors.get(i))
        .flat_map(|e| e.iter().map(VecDeque::len))
        .max()
        .unwrap_or(0);
    let scale = if recent.len() >= longest && recent.iter().all(|v| v.is_finite()) {
        scale
    } else {
        1.0
    };
    let point: Vec<f64> = (0..horizon)
        .map(|k| {
            scale
                * chosen
                    .iter()
                    .map(|&i| weights[i] * points[i][k])
                    .sum::<f64>()
        })
        .collect();
    let windows = chosen
        .first()
        .and_then(|&i| errors.get(i))
        .map_or(0, |e| e.len());
    let mut out = QuantileForecast {
        p10: Vec::with_capacity(horizon),
        p50: Vec::with_capacity(horizon),
        p90: Vec::with_capacity(horizon),
        point,
    };
    let mut combined = Vec::new();
    for k in 0..horizon {
        combined.clear();
        if windows > 0 {
            let step = k.min(windows - 1);
            let len = chosen
                .iter()
                .map(|&i| {
                    errors
                        .get(i)
                        .and_then(|e| e.get(step))
                        .map_or(0, VecDeque::len)
                })
                .min()
                .unwrap_or(0);
            combined.extend((0..len).map(|j| {
                let e = chosen
                    .iter()
                    .map(|&i| {
                        let w = &errors[i][step];
                        weights[i] * w[w.len() - len + j]
                    })
                    .sum::<f64>();
                if scale == 1.0 {
                    e
                } else {
                    (1.0 - scale) * recent[recent.len() - len + j] + scale * e
                }
            }));
        }
        combined.sort_unstable_by(f64::total_cmp);
        let p = out.point[k];
        out.p10.push(p + quantile_sorted(&combined, 0.1));
        out.p50.push(p + quantile_sorted(&combined, 0.5));
        out.p90.push(p + quantile_sorted(&combined, 0.9));
    }
    out
}

/// Scales [`choose_scale`] tries, 1 (no scaling) first so that it wins ties.
pub const SCALES: [f64; 15] = [
    1.0, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.05, 1.1, 1.15, 1.2,
];

/// The factor on the weighted mean of the candidates whose past forecasts, after the
/// per-step median correction, had the lowest mean absolute error: one of [`SCALES`], 1 when
/// `recent` (the values the errors were made on, the last one just before the origin) does
/// not cover the windows. Household load is mostly a low base with short spikes, and a mean
/// of forecasts smears the spikes into the base; its absolute-error-optimal reading is often a
/// damped one. On the day-ahead past origins of the peer benchmark this made the combination
/// better by 1.0 % (geometric mean over 13 houses, worst house +0.6 %); a factor per step or
/// per quarter of the day did no better (`auto_dev` example).
pub fn choose_scale(errors: &[&ErrorWindows], weights: &[f64], recent: &[f64]) -> f64 {
    let chosen: Vec<usize> = (0..errors.len().min(weights.len()))
        .filter(|&i| weights[i] > 0.0)
        .collect();
    let Some(&first) = chosen.first() else {
        return 1.0;
    };
    let lens: Vec<usize> = errors[first].iter().map(VecDeque::len).collect();
    let longest = lens.iter().copied().max().unwrap_or(0);
    let aligned = chosen
        .iter()
        .all(|&i| errors[i].iter().map(VecDeque::len).eq(lens.iter().copied()));
    if longest == 0 || !aligned || recent.len() < longest || !recent.iter().all(|v| v.is_finite()) {
        return 1.0;
    }
    let (mut combined, mut actual) = (Vec::new(), Vec::new());
    for (k, &len) in lens.iter().enumerate() {
        for j in 0..len {
            combined.push(
                chosen
                    .iter()
                    .map(|&i| weights[i] * errors[i][k][j])
                    .sum::<f64>(),
            );
            actual.push(recent[recent.len() - len + j]);
        }
    }
    let mut trial = vec![0.0; combined.len()];
    let mut scratch = Vec::with_capacity(longest);
    let mut best = (f64::INFINITY, 1.0);
    for a in SCALES {
        for ((t, e), y) in trial.iter_mut().zip(&combined).zip(&actual) {
            *t = (1.0 - a) * y + a * e;
        }
        let score = corrected_mae(&trial, &lens, &mut scratch);
        if score < best.0 {
            best = (score, a);
        }
    }
    best.1
}

/// Mean absolute error of the weighted mean of the aligned errors (all steps): what the
/// combination's recent forecasts missed by, before bias correction.
pub fn combined_mae(errors: &[&ErrorWindows], weights: &[f64]) -> f64 {
    let chosen: Vec<usize> = (0..errors.len().min(weights.len()))
        .filter(|&i| weights[i] > 0.0)
        .collect();
    let Some(&first) = chosen.first() else {
        return f64::INFINITY;
    };
    let (mut total, mut n) = (0.0, 0usize);
    for (k, window) in errors[first].iter().enumerate() {
        for j in 0..window.len() {
            let e: f64 = chosen
                .iter()
                .map(|&i| weights[i] * errors[i].get(k).and_then(|w| w.get(j)).unwrap_or(&0.0))
                .sum();
            total += e.abs();
            n += 1;
        }
    }
    if n == 0 {
        f64::INFINITY
    } else {
        total / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(steps: &[&[f64]]) -> Vec<VecDeque<f64>> {
        steps.iter().map(|s| s.iter().copied().collect()).collect()
    }

    #[test]
    fn errors_of_opposite_sign_are_averaged_away() {
        // a and b miss by ±1 in turn, in opposite directions; c is always 0.8 off (after its
        // bias correction, 0). Half a and half b makes no error at all.
        let a = windows(&[&[1.0, -1.0, 1.0, -1.0], &[-1.0, 1.0, -1.0, 1.0]]);
        let b = windows(&[&[-1.0, 1.0, -1.0, 1.0], &[1.0, -1.0, 1.0, -1.0]]);
        let c = windows(&[&[0.8, -0.8, -0.8, 0.8], &[0.8, 0.8, -0.8, -0.8]]);
        let w = selection_weights(&[&a, &b, &c]);
        assert!(
            (w[0] - 0.5).abs() < 0.07 && (w[1] - 0.5).abs() < 0.07,
            "{w:?}"
        );
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(combined_mae(&[&a, &b, &c], &[0.5, 0.5, 0.0]) < 1e-12);
    }

    #[test]
    fn the_clearly_best_candidate_takes_the_weight_and_misaligned_ones_none() {
        let good = windows(&[&[0.1, -0.1, 0.1, -0.1]]);
        let bad = windows(&[&[3.0, -2.0, 5.0, -4.0]]);
        let short = windows(&[&[0.0, 0.0]]);
        let w = selection_weights(&[&bad, &good, &short]);
        assert_eq!(w, vec![0.0, 1.0, 0.0]);
        assert_eq!(heaviest(&w), Some(1));
        let empty = windows(&[&[]]);
        assert_eq!(selection_weights(&[&empty, &empty]), vec![1.0, 0.0]);
    }

    #[test]
    fn a_mean_that_doubles_every_value_is_scaled_back_by_half() {
        // Actuals 1, 3, 1, 3 …; the forecasts were twice the actual, so the errors are −y.
        // Half the forecast makes no error at all, and 1 (no scaling) is far from it.
        let recent: Vec<f64> = (0..8).map(|j| if j % 2 == 0 { 1.0 } else { 3.0 }).collect();
        let step: Vec<f64> = recent.iter().map(|y| -y).collect();
        let e = windows(&[&step, &step[1..]]);
        assert_eq!(choose_scale(&[&e], &[1.0], &recent), 0.5);
        let f = combine_scaled(&[&[10.0, 4.0]], &[&e], &[1.0], 0.5, &recent);
        assert_eq!(f.point, vec![5.0, 2.0]);
        assert_eq!(f.p50, vec![5.0, 2.0]);
        // Without the values behind every error there is nothing to choose on.
        assert_eq!(choose_scale(&[&e], &[1.0], &recent[..7]), 1.0);
        let unscaled = combine_scaled(&[&[10.0, 4.0]], &[&e], &[1.0], 0.5, &recent[..7]);
        assert_eq!(unscaled.point, vec![10.0, 4.0]);
    }

    #[test]
    fn combination_takes_its_quantiles_from_the_combined_errors() {
        let a = windows(&[&[1.0, 2.0, 3.0]]);
        let b = windows(&[&[3.0, 2.0, 1.0]]);
        let f = combine(&[&[10.0, 10.0], &[20.0, 20.0]], &[&a, &b], &[0.5, 0.5]);
        // Combined errors are all 2: the P50 is the mean 15 plus 2, for both steps (the
        // second borrows the first's window).
        assert_eq!(f.point, vec![15.0, 15.0]);
        assert_eq!(f.p50, vec![17.0, 17.0]);
        assert_eq!(f.p10, vec![17.0, 17.0]);
        let only_a = combine(&[&[10.0], &[20.0]], &[&a, &b], &[1.0, 0.0]);
        assert_eq!(only_a.p50, vec![12.0]);
        assert!((only_a.p10[0] - 11.2).abs() < 1e-12);
    }
}
