//! The paper's ant colony optimisation (seed 001, section II.B), as written.
//!
//! Algorithm 1: for each iteration, each ant builds a schedule by stepping
//! through time; at time step `i` it forms the eligible set ε (devices not yet
//! started whose predecessors have finished and whose demand fits for their whole
//! duration from `i`), and while ε is not empty chooses a device `j` with
//! probability (eq. 1)
//!
//! ```text
//! p_ij = (Σ_{k≤i} τ_kj)^α · η_ij^β / Σ_{h∈ε} (Σ_{k≤i} τ_kh)^α · η_ih^β
//! ```
//!
//! with the heuristic (eq. 2) `η_ij = d_j + Σ_{s∈S_j} d_s − min_{k∈ε}(d_k + Σ_{s∈S_k} d_s) + 1`
//! (`S_j` the direct successors of `j`), starts it at `i`, and updates the power
//! curve and ε. After all ants of an iteration, every pheromone evaporates
//! (eq. 3, `τ ← (1 − ρ) τ`) and the (time step, device) pairs of the best
//! solution found so far receive `ρ · 1/(2T*)` (eq. 4), `T*` its makespan.
//!
//! Time steps where ε is empty involve no choice and are skipped (the schedule is
//! the same as visiting them). The pheromone matrix (time step × device) is kept
//! sparsely: entries never reinforced all hold the same value, so only the
//! reinforced ones are stored, per device with running sums over time refreshed
//! once per iteration; a choice costs one binary search per eligible device, and
//! memory does not grow with the makespan.
//!
//! **Initial pheromone** (the paper does not state it): `τ₀ = 1/(2·CP)` with CP
//! the critical-path length. `1/(2T)` is the value eqs. (3) and (4) drive an
//! entry of the best solution towards when `T* = T`; starting every entry at the
//! value the best imaginable solution would settle at makes the first
//! iteration's choices depend on the heuristic alone (all summed pheromones of a
//! time step are equal), and lets reinforced entries pull ahead as unused ones
//! evaporate.
//!
//! One schedule per ant; the run stops early when the budget is spent.

use powerslot_core::Slot;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::budget::Budget;
use crate::parallel::ParallelSgs;
use crate::problem::Problem;

/// Parameters of the paper's ACO.
#[derive(Clone, Debug, PartialEq)]
pub struct AcoParams {
    /// Ants per iteration.
    pub ants: usize,
    /// Iterations.
    pub iterations: usize,
    /// Pheromone weight (eq. 1).
    pub alpha: f64,
    /// Heuristic weight (eq. 1).
    pub beta: f64,
    /// Evaporation rate (eq. 3, 4).
    pub rho: f64,
}

impl Default for AcoParams {
    fn default() -> Self {
        Self {
            ants: 10,
            iterations: 15,
            alpha: 1.0,
            beta: 1.0,
            rho: 0.1,
        }
    }
}

/// Pheromone per (time step, device), stored sparsely: every entry never
/// reinforced has the same value (`untouched`, which only evaporates), so only the
/// reinforced entries are kept, per device in time order with running sums. Memory
/// is one entry per device and iteration at most, whatever the makespan; the sums
/// are those of the dense matrix (up to rounding in the last bits).
struct Pheromone {
    /// Value of every entry never reinforced.
    untouched: f64,
    /// Per device: reinforced time steps, increasing.
    steps: Vec<Vec<Slot>>,
    /// Per device: pheromone above `untouched` at those steps, in units of `scale`.
    extra: Vec<Vec<f64>>,
    /// Per device: running sums of `extra`.
    prefix: Vec<Vec<f64>>,
    /// Common factor of every `extra`: evaporation multiplies it, not each entry.
    scale: f64,
}

impl Pheromone {
    fn new(n: usize, tau0: f64) -> Self {
        Self {
            untouched: tau0,
            steps: vec![Vec::new(); n],
            extra: vec![Vec::new(); n],
            prefix: vec![Vec::new(); n],
            scale: 1.0,
        }
    }

    /// `Σ_{k≤i} τ_kj`.
    #[inline]
    fn summed(&self, i: Slot, j: usize) -> f64 {
        let k = self.steps[j].partition_point(|&s| s <= i);
        let extra = if k == 0 { 0.0 } else { self.prefix[j][k - 1] };
        f64::from(i + 1) * self.untouched + self.scale * extra
    }

    /// Eq. (3) on every entry, then eq. (4) on the best solution's pairs.
    fn update(&mut self, rho: f64, best_starts: &[Slot], best_makespan: Slot) {
        self.untouched *= 1.0 - rho;
        self.scale *= 1.0 - rho;
        if self.scale < 1e-150 {
            // Fold the factor in before it underflows.
            for e in self.extra.iter_mut().flatten() {
                *e *= self.scale;
            }
            self.scale = 1.0;
        }
        let deposit = rho / (2.0 * f64::from(best_makespan)) / self.scale;
        for (j, &s) in best_starts.iter().enumerate() {
            match self.steps[j].binary_search(&s) {
                Ok(k) => self.extra[j][k] += deposit,
                Err(k) => {
                    self.steps[j].insert(k, s);
                    self.extra[j].insert(k, deposit);
                }
            }
            let mut sum = 0.0;
            self.prefix[j].clear();
            self.prefix[j].extend(self.extra[j].iter().map(|e| {
                sum += e;
                sum
            }));
        }
    }
}

/// Runs the ACO; one schedule per ant, stopping early when the budget is spent.
pub fn run(p: &Problem<'_>, params: &AcoParams, budget: &Budget, seed: u64) -> Vec<Slot> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cp = p.makespan(&p.earliest_starts()).max(1);
    let mut pheromone = Pheromone::new(p.n, 1.0 / (2.0 * f64::from(cp)));
    // d_j + Σ_{s∈S_j} d_s of eq. (2).
    let weight: Vec<f64> = (0..p.n)
        .map(|j| {
            f64::from(p.duration[j])
                + p.succs[j]
                    .iter()
                    .map(|&s| f64::from(p.duration[s]))
                    .sum::<f64>()
        })
        .collect();
    let mut sgs = ParallelSgs::new(p);
    let mut best: Option<(Slot, Vec<Slot>)> = None;
    let mut scores = Vec::with_capacity(p.n);
    let mut first = true;
    'iterations: for _ in 0..params.iterations.max(1) {
        for _ in 0..params.ants.max(1) {
            if first {
                budget.spend_anyway(1);
                first = false;
            } else if !budget.try_spend(1) {
                break 'iterations;
            }
            let ph = &pheromone;
            let makespan = sgs.run(p, |i, eligible| {
                let min_w = eligible
                    .iter()
                    .map(|&k| weight[k])
                    .fold(f64::INFINITY, f64::min);
                scores.clear();
                let mut total = 0.0;
                for &j in eligible {
                    let eta = weight[j] - min_w + 1.0;
                    let s = pow(ph.summed(i, j), params.alpha) * pow(eta, params.beta);
                    total += s;
                    scores.push(s);
                }
                let mut r = rng.random::<f64>() * total;
                for (pos, s) in scores.iter().enumerate() {
                    r -= s;
                    if r < 0.0 {
                        return pos;
                    }
                }
                eligible.len() - 1
            });
            if best.as_ref().is_none_or(|(m, _)| makespan < *m) {
                best = Some((makespan, sgs.starts.clone()));
            }
            // A schedule past the horizon: the capacity leaves no room within it.
            if makespan > powerslot_core::limits::horizon_for(p.m) {
                break 'iterations;
            }
        }
        let (m, starts) = best.as_ref().expect("at least one ant ran");
        pheromone.update(params.rho, starts, *m);
    }
    best.expect("at least one ant ran").1
}

#[inline]
fn pow(x: f64, e: f64) -> f64 {
    if e == 1.0 { x } else { x.powf(e) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use powerslot_core::{Instance, Schedule, Tail, validate};

    fn inst() -> Instance {
        crate::test_support::instance(
            &[5, 5, 3, 3, 5, 5],
            Tail::Repeat,
            &[
                (1, 2, 3, &[]),
                (2, 3, 2, &[]),
                (3, 1, 4, &[0]),
                (4, 2, 2, &[1]),
                (5, 4, 1, &[]),
                (6, 1, 3, &[2, 3]),
            ],
        )
    }

    #[test]
    fn pheromone_sums_evaporates_and_deposits() {
        let mut ph = Pheromone::new(2, 0.5);
        assert_eq!(ph.summed(2, 0), 1.5);
        assert_eq!(ph.summed(4, 1), 2.5);
        ph.update(0.5, &[4, 0], 2);
        // τ = 0.25 everywhere; deposit 0.5/(2·2) = 0.125 on (4, 0) and (0, 1).
        assert_eq!(ph.summed(3, 0), 4.0 * 0.25);
        assert_eq!(ph.summed(4, 0), 5.0 * 0.25 + 0.125);
        assert_eq!(ph.summed(0, 1), 0.375);
        assert_eq!(ph.summed(6, 1), 7.0 * 0.25 + 0.125);
        // The deposit evaporates with everything else.
        ph.update(0.5, &[4, 0], 2);
        assert_eq!(ph.summed(4, 0), 5.0 * 0.125 + 0.0625 + 0.125);
        // A far start costs one entry, not a row per time step.
        ph.update(0.5, &[4_000_000, 0], 2);
        assert_eq!(ph.steps[0], vec![4, 4_000_000]);
    }

    #[test]
    fn feasible_deterministic_and_within_budget() {
        let i = inst();
        let p = Problem::new(&i);
        let params = AcoParams {
            ants: 5,
            iterations: 8,
            ..AcoParams::default()
        };
        let budget = Budget::new(Some(1000), None);
        let a = run(&p, &params, &budget, 3);
        assert_eq!(budget.used(), 40);
        validate(&i, &Schedule::new(a.clone())).unwrap();
        assert_eq!(a, run(&p, &params, &Budget::new(Some(1000), None), 3));
        let small = Budget::new(Some(7), None);
        let b = run(&p, &params, &small, 3);
        assert_eq!(small.used(), 7);
        validate(&i, &Schedule::new(b)).unwrap();
    }
}
