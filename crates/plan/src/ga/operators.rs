//! Genetic operators on priority keys: peak crossover, key mutation and the
//! regret-based biased random sampling that seeds the first population.

use crate::problem::Problem;

use super::rng::Rng;

/// Peak crossover (after Valls et al. 2008 and Debels & Vanhoucke 2007): the
/// child inherits the father's keys for the tasks he starts inside his most
/// densely loaded time window of random length, and the mother's keys for the
/// others — so the father's well-packed stretch survives while the rest is
/// rearranged around it. `father`/`mother` are start slots in the decoding
/// frame; `makespan` is the father's.
#[allow(clippy::too_many_arguments)]
pub(crate) fn peak_crossover(
    rng: &mut Rng,
    load: &[f64],
    duration: &[u32],
    father: &[i64],
    makespan: i64,
    mother: &[i64],
    window: (f64, f64),
    peak: f64,
    usage: &mut Vec<f64>,
    child: &mut Vec<i64>,
) {
    let horizon = makespan.max(1) as usize;
    usage.clear();
    usage.resize(horizon + 1, 0.0);
    for (j, &s) in father.iter().enumerate() {
        let s = s as usize;
        let e = (s + duration[j] as usize).min(horizon);
        for u in &mut usage[s.min(horizon)..e] {
            *u += load[j];
        }
    }
    let frac = window.0 + (window.1 - window.0) * rng.unit();
    let len = ((horizon as f64 * frac).round() as usize).clamp(1, horizon);
    if rng.unit() >= peak {
        let a = rng.below(horizon - len + 1) as i64;
        return inherit(father, mother, a, a + len as i64, child);
    }
    // Sliding window sum; ties keep the earliest window.
    let mut sum: f64 = usage[..len].iter().sum();
    let (mut best, mut best_at) = (sum, 0usize);
    for a in 1..=horizon - len {
        sum += usage[a + len - 1] - usage[a - 1];
        if sum > best + 1e-9 {
            best = sum;
            best_at = a;
        }
    }
    inherit(
        father,
        mother,
        best_at as i64,
        (best_at + len) as i64,
        child,
    );
}

/// The father's keys inside `[lo, hi)`, the mother's elsewhere.
fn inherit(father: &[i64], mother: &[i64], lo: i64, hi: i64, child: &mut Vec<i64>) {
    child.clear();
    child.extend(
        father
            .iter()
            .zip(mother)
            .map(|(&f, &m)| if f >= lo && f < hi { f } else { m }),
    );
}

/// Moves each key, with probability `rate`, by up to the task's duration (plus
/// one) either way, then spreads ties at random.
pub(crate) fn mutate_and_break_ties(rng: &mut Rng, duration: &[u32], rate: f64, keys: &mut [i64]) {
    for (j, k) in keys.iter_mut().enumerate() {
        if rate > 0.0 && rng.unit() < rate {
            let w = i64::from(duration[j]) + 1;
            *k += rng.below(2 * w as usize + 1) as i64 - w;
        }
        *k = (*k << 16) | (rng.next_u64() & 0xFFFF) as i64;
    }
}

/// Regret-based biased random sampling with latest finish times: among the
/// eligible tasks, each is drawn with probability proportional to
/// `(1 + LFT_max - LFT_j)^alpha`. Returns a precedence-feasible list.
pub(crate) fn regret_sample(p: &Problem<'_>, lft: &[i64], alpha: f64, rng: &mut Rng) -> Vec<usize> {
    let mut missing: Vec<usize> = p.preds.iter().map(Vec::len).collect();
    let mut eligible: Vec<usize> = (0..p.n).filter(|&j| missing[j] == 0).collect();
    let mut weights = Vec::with_capacity(p.n);
    let mut list = Vec::with_capacity(p.n);
    while !eligible.is_empty() {
        let worst = eligible.iter().map(|&j| lft[j]).max().unwrap_or(0);
        weights.clear();
        weights.extend(
            eligible
                .iter()
                .map(|&j| ((worst - lft[j] + 1) as f64).powf(alpha)),
        );
        let total: f64 = weights.iter().sum();
        let mut r = rng.unit() * total;
        let mut pick = eligible.len() - 1;
        for (i, w) in weights.iter().enumerate() {
            if r < *w {
                pick = i;
                break;
            }
            r -= w;
        }
        let j = eligible.swap_remove(pick);
        list.push(j);
        for &s in &p.succs[j] {
            missing[s] -= 1;
            if missing[s] == 0 {
                eligible.push(s);
            }
        }
    }
    list
}

/// Latest finish of each task from precedence alone against the critical path.
pub(crate) fn latest_finish(p: &Problem<'_>) -> Vec<i64> {
    let tails = p.tails();
    let cp = tails.iter().copied().max().unwrap_or(0);
    (0..p.n)
        .map(|j| i64::from(cp) - i64::from(tails[j]) + i64::from(p.duration[j]))
        .collect()
}
