//! Schedule generation schemes with the classic priority rules
//! (Kolisch 1996; Kolisch & Hartmann 1999).
//!
//! * The **serial** scheme picks the next task among those whose predecessors are
//!   all scheduled and puts it at its earliest feasible start
//!   ([`SerialSgs`]); the **parallel** scheme steps through time and starts
//!   eligible tasks while they fit ([`ParallelSgs`]).
//! * Rules (smaller key first): LFT — latest finish time, LST — latest start
//!   time (both from the backward critical-path pass), MTS — most total
//!   (transitive) successors, GRPW — greatest rank positional weight (own duration
//!   plus the durations of the direct successors). Ties go to the smaller index.
//!
//! A deterministic rule yields its one schedule first. When the budget allows
//! more schedules, the remaining ones are drawn by *regret-based biased random
//! sampling* (Drexl 1991; Kolisch & Hartmann's "RBRS" with α = ε = 1): among the
//! eligible tasks, task `j` is chosen with probability proportional to
//! `max_i key_i − key_j + 1`, so the rule's favourite is most likely but every
//! task has a chance; the best schedule is kept. With a limit of one schedule
//! the pure rule is returned. `Random` draws every choice uniformly among the
//! eligible tasks (classic random sampling) until the budget is spent.

use powerslot_core::Slot;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::budget::Budget;
use crate::parallel::ParallelSgs;
use crate::problem::Problem;
use crate::serial::{SerialSgs, list_by_key};

/// Serial or parallel schedule generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Task by task, each at its earliest feasible start.
    Serial,
    /// Slot by slot, starting eligible tasks while they fit.
    Parallel,
}

impl Scheme {
    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Serial => "serial",
            Scheme::Parallel => "parallel",
        }
    }
}

/// Classic priority rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriorityRule {
    /// Latest finish time first.
    Lft,
    /// Latest start time first.
    Lst,
    /// Most total successors.
    Mts,
    /// Greatest rank positional weight.
    Grpw,
    /// Uniform random sampling.
    Random,
}

impl PriorityRule {
    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            PriorityRule::Lft => "lft",
            PriorityRule::Lst => "lst",
            PriorityRule::Mts => "mts",
            PriorityRule::Grpw => "grpw",
            PriorityRule::Random => "random",
        }
    }

    /// The rule's key per task (smaller goes first); `None` for `Random`.
    pub fn keys(self, p: &Problem<'_>) -> Option<Vec<f64>> {
        let tails = p.tails();
        Some(match self {
            // LF_j = T − (tail_j − d_j) and LS_j = T − tail_j for any horizon T.
            PriorityRule::Lft => (0..p.n)
                .map(|j| -f64::from(tails[j] - p.duration[j]))
                .collect(),
            PriorityRule::Lst => tails.iter().map(|&t| -f64::from(t)).collect(),
            PriorityRule::Mts => total_successors(p)
                .into_iter()
                .map(|c| -(c as f64))
                .collect(),
            PriorityRule::Grpw => (0..p.n)
                .map(|j| {
                    let w: u64 = p.succs[j].iter().map(|&s| u64::from(p.duration[s])).sum();
                    -((w + u64::from(p.duration[j])) as f64)
                })
                .collect(),
            PriorityRule::Random => return None,
        })
    }
}

/// Number of tasks that (transitively) follow each task.
pub fn total_successors(p: &Problem<'_>) -> Vec<usize> {
    let words = p.n.div_ceil(64);
    let mut reach = vec![0u64; p.n * words];
    for &j in p.topo.iter().rev() {
        for &s in &p.succs[j] {
            reach[j * words + s / 64] |= 1 << (s % 64);
            for w in 0..words {
                let v = reach[s * words + w];
                reach[j * words + w] |= v;
            }
        }
    }
    (0..p.n)
        .map(|j| {
            reach[j * words..(j + 1) * words]
                .iter()
                .map(|w| w.count_ones() as usize)
                .sum()
        })
        .collect()
}

/// Position in `eligible` drawn by regret-based biased random sampling.
fn regret_choice(eligible: &[usize], key: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let worst = eligible
        .iter()
        .map(|&j| key[j])
        .fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = eligible.iter().map(|&j| worst - key[j] + 1.0).sum();
    let mut r = rng.random::<f64>() * total;
    for (i, &j) in eligible.iter().enumerate() {
        r -= worst - key[j] + 1.0;
        if r < 0.0 {
            return i;
        }
    }
    eligible.len() - 1
}

/// Builds a precedence-feasible list, `choose` picking among the tasks whose
/// predecessors are all listed.
pub(crate) fn sample_list<F>(p: &Problem<'_>, list: &mut Vec<usize>, mut choose: F)
where
    F: FnMut(&[usize]) -> usize,
{
    let mut missing = vec![0usize; p.n];
    for succs in &p.succs {
        for &s in succs {
            missing[s] += 1;
        }
    }
    let mut eligible: Vec<usize> = (0..p.n).filter(|&j| missing[j] == 0).collect();
    list.clear();
    while !eligible.is_empty() {
        let j = eligible.swap_remove(choose(&eligible));
        list.push(j);
        for &s in &p.succs[j] {
            missing[s] -= 1;
            if missing[s] == 0 {
                eligible.push(s);
            }
        }
    }
}

/// How one schedule is built.
enum Builder {
    Serial(SerialSgs, Vec<usize>),
    Parallel(ParallelSgs),
}

impl Builder {
    fn starts(&self) -> &[Slot] {
        match self {
            Builder::Serial(s, _) => &s.starts,
            Builder::Parallel(s) => &s.starts,
        }
    }

    /// The pure rule (or, without keys, one random sample).
    fn deterministic(&mut self, p: &Problem<'_>, key: &[f64]) -> Slot {
        match self {
            Builder::Serial(sgs, _) => sgs.forward(p, &list_by_key(p, key)),
            Builder::Parallel(sgs) => sgs.run_by_rank(p, key),
        }
    }

    fn sample<F: FnMut(&[usize]) -> usize>(&mut self, p: &Problem<'_>, mut choose: F) -> Slot {
        match self {
            Builder::Serial(sgs, list) => {
                sample_list(p, list, &mut choose);
                sgs.forward(p, list)
            }
            Builder::Parallel(sgs) => sgs.run(p, |_, eligible| choose(eligible)),
        }
    }
}

/// Runs the scheme with the rule; see the module docs for how the budget is used.
pub fn run(
    p: &Problem<'_>,
    scheme: Scheme,
    rule: PriorityRule,
    budget: &Budget,
    seed: u64,
) -> Vec<Slot> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut builder = match scheme {
        Scheme::Serial => Builder::Serial(SerialSgs::new(p), Vec::with_capacity(p.n)),
        Scheme::Parallel => Builder::Parallel(ParallelSgs::new(p)),
    };
    let keys = rule.keys(p);
    let one = |b: &mut Builder, rng: &mut ChaCha8Rng| match &keys {
        Some(key) => b.sample(p, |e| regret_choice(e, key, rng)),
        None => b.sample(p, |e| rng.random_range(0..e.len())),
    };
    budget.spend_anyway(1);
    let mut best = match &keys {
        Some(key) => builder.deterministic(p, key),
        None => one(&mut builder, &mut rng),
    };
    let mut best_starts = builder.starts().to_vec();
    // A first schedule past the horizon: the capacity leaves no room within it.
    if best > powerslot_core::limits::horizon_for(p.m) {
        return best_starts;
    }
    while budget.try_spend(1) {
        let m = one(&mut builder, &mut rng);
        if m < best {
            best = m;
            best_starts.copy_from_slice(builder.starts());
        }
    }
    best_starts
}

#[cfg(test)]
mod tests {
    use super::*;
    use powerslot_core::{Instance, Schedule, Tail, validate};

    fn inst() -> Instance {
        crate::test_support::instance(
            &[4, 4, 2, 2, 4],
            Tail::Repeat,
            &[
                (1, 2, 3, &[]),
                (2, 3, 2, &[]),
                (3, 1, 4, &[0]),
                (4, 2, 2, &[1]),
                (5, 1, 1, &[2, 3]),
            ],
        )
    }

    #[test]
    fn keys_follow_the_definitions() {
        let i = inst();
        let p = Problem::new(&i);
        assert_eq!(total_successors(&p), vec![2, 2, 1, 1, 0]);
        // tails: 1 → 2+1+1, 2 → 3+2+1, 3 → 1+1, 4 → 2+1, 5 → 1.
        assert_eq!(
            PriorityRule::Lst.keys(&p).unwrap(),
            vec![-4.0, -6.0, -2.0, -3.0, -1.0]
        );
        assert_eq!(
            PriorityRule::Lft.keys(&p).unwrap(),
            vec![-2.0, -3.0, -1.0, -1.0, 0.0]
        );
        assert_eq!(
            PriorityRule::Grpw.keys(&p).unwrap(),
            vec![-3.0, -5.0, -2.0, -3.0, -1.0]
        );
        assert!(PriorityRule::Random.keys(&p).is_none());
    }

    #[test]
    fn every_rule_and_scheme_is_feasible_and_sampling_never_hurts() {
        let i = inst();
        let p = Problem::new(&i);
        for scheme in [Scheme::Serial, Scheme::Parallel] {
            for rule in [
                PriorityRule::Lft,
                PriorityRule::Lst,
                PriorityRule::Mts,
                PriorityRule::Grpw,
                PriorityRule::Random,
            ] {
                let one = run(&p, scheme, rule, &Budget::new(Some(1), None), 7);
                validate(&i, &Schedule::new(one.clone())).unwrap();
                let budget = Budget::new(Some(50), None);
                let many = run(&p, scheme, rule, &budget, 7);
                validate(&i, &Schedule::new(many.clone())).unwrap();
                assert_eq!(budget.used(), 50);
                if rule != PriorityRule::Random {
                    assert!(p.makespan(&many) <= p.makespan(&one), "{scheme:?} {rule:?}");
                }
                assert_eq!(many, run(&p, scheme, rule, &Budget::new(Some(50), None), 7));
            }
        }
    }
}
