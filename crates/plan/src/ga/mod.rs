//! The project's best planner: a bi-population genetic algorithm with peak
//! crossover on start-time keys, in the line of Debels & Vanhoucke's
//! decomposition-based GA and Valls et al.'s hybrid GA.
//!
//! * Two populations: left-justified and right-justified schedules. Every
//!   generation takes parents from one and decodes the children in the other
//!   direction, so each decoding pass is also a justification pass of the
//!   inherited material (one schedule per child with constant capacity, two
//!   with time-varying capacity, where time cannot be mirrored); the
//!   justified start slots are the chromosome, so the improvement is written
//!   back.
//! * The first population comes from regret-based biased random sampling with
//!   latest finish times; children come from a window crossover (half the time
//!   the father's most densely loaded window, Valls et al.'s peak crossover,
//!   otherwise a random one) and a small key mutation; each population keeps
//!   its best distinct members (elitist, duplicates dropped). When the search
//!   stalls, both populations are re-seeded by fresh sampling, keeping the
//!   best schedule.
//! * The population grows with the schedule limit (see [`population_for`]).
//! * Children of a generation are decoded in parallel on a rayon pool of
//!   `threads` threads; every child's randomness is derived from (seed,
//!   generation, child index) and the coordinating thread reserves the whole
//!   generation's schedules before decoding, so the result depends on the seed
//!   only, never on the thread count.
//!
//! Works with time-varying capacity; stops at the schedule or time limit or as
//! soon as the makespan meets the lower bound.

mod decode;
mod operators;
mod rng;

use powerslot_core::Slot;
use rayon::prelude::*;

use crate::budget::Budget;
use crate::parallel::ParallelSgs;
use crate::problem::Problem;
use crate::queue::QueueMethod;
use crate::rules::PriorityRule;
use crate::serial::list_by_key;

use decode::{Ctx, Decoder, Individual, Side};
use rng::Rng;

/// Tuning knobs of the genetic algorithm.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Individuals kept in each of the two populations (also children per
    /// generation); `None` scales it with the schedule limit (see
    /// [`population_for`]).
    pub population: Option<usize>,
    /// Expected number of tasks whose key a child's mutation moves.
    pub mutation: f64,
    /// Length of the crossover's peak window as a fraction of the father's
    /// makespan, drawn uniformly from this range.
    pub window: (f64, f64),
    /// Share of crossovers that take the father's densest window; the others
    /// take a window at a random position.
    pub peak: f64,
    /// Exponent of the regret-based biased sampling of the first population.
    pub alpha: f64,
    /// Tournament size for choosing the father (the mother uses two).
    pub pressure: usize,
    /// Generations without a new best (per 32 tasks: larger instances improve
    /// more slowly) after which both populations are re-seeded by sampling,
    /// keeping only the best schedule (0 = never). Restarts pay off on small
    /// instances, where the populations converge long before the limit.
    pub restart: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            population: None,
            mutation: 3.5,
            window: (0.1, 0.6),
            peak: 0.5,
            alpha: 0.5,
            pressure: 1,
            restart: 20,
        }
    }
}

/// The population size for a limit of `schedules`: larger budgets afford
/// larger, more diverse populations (60 at 5,000 schedules, about 300 at 50,000;
/// 100 when only time is limited).
pub fn population_for(schedules: Option<u64>) -> usize {
    match schedules {
        Some(n) => (60.0 * (n as f64 / 5000.0).powf(0.7))
            .round()
            .clamp(8.0, 1000.0) as usize,
        None => 100,
    }
}

/// Runs the genetic algorithm with the default [`Params`].
pub fn run(
    p: &Problem<'_>,
    budget: &Budget,
    seed: u64,
    threads: usize,
    lower_bound: Slot,
) -> Vec<Slot> {
    run_with(p, budget, seed, threads, lower_bound, &Params::default())
}

/// Runs the genetic algorithm with explicit parameters (for tuning).
pub fn run_with(
    p: &Problem<'_>,
    budget: &Budget,
    seed: u64,
    threads: usize,
    lower_bound: Slot,
    params: &Params,
) -> Vec<Slot> {
    let pool = if threads > 1 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .ok()
    } else {
        None
    };
    let limit = (budget.remaining() != u64::MAX).then(|| budget.remaining());
    let population = params
        .population
        .unwrap_or_else(|| population_for(limit))
        .max(2);
    let mut ga = Ga::new(p, params, population, seed);
    match &pool {
        Some(pool) => pool.install(|| ga.evolve(budget, lower_bound, true)),
        None => ga.evolve(budget, lower_bound, false),
    }
    ga.best.starts
}

/// One child to make: parents from `source`, decoded towards `source.other()`.
struct Job {
    rng: Rng,
}

struct Ga<'a, 'i> {
    ctx: Ctx<'a, 'i>,
    params: Params,
    population: usize,
    seed: u64,
    pops: [Vec<Individual>; 2],
    best: Individual,
    scratch: Scratch,
}

fn slot(side: Side) -> usize {
    match side {
        Side::Left => 0,
        Side::Right => 1,
    }
}

/// Reserves up to `want` units of `unit` schedules; returns how many units.
fn spend_up_to(budget: &Budget, want: usize, unit: u64) -> usize {
    let k = (want as u64).min(budget.remaining() / unit) as usize;
    if k > 0 && budget.try_spend(k as u64 * unit) {
        k
    } else {
        0
    }
}

/// Per-worker scratch for making children.
struct Scratch {
    dec: Decoder,
    father: Vec<i64>,
    mother: Vec<i64>,
    child: Vec<i64>,
    usage: Vec<f64>,
}

impl<'a, 'i> Ga<'a, 'i> {
    fn new(p: &'a Problem<'i>, params: &Params, population: usize, seed: u64) -> Self {
        let ctx = Ctx::new(p);
        let mut dec = Decoder::new(&ctx);
        let lft = operators::latest_finish(p);
        let first = dec.decode_given(&ctx, &list_by_key(p, &lft), Side::Left);
        Self {
            params: params.clone(),
            population,
            seed,
            pops: [vec![first.clone()], Vec::new()],
            best: first,
            scratch: Scratch::new(dec),
            ctx,
        }
    }

    fn evolve(&mut self, budget: &Budget, lower_bound: Slot, parallel: bool) {
        // The LFT schedule built in `new` must exist whatever the budget.
        budget.spend_anyway(1);
        if self.best.makespan <= lower_bound {
            return;
        }
        let lft = operators::latest_finish(self.ctx.p);
        self.seed_from_parallel_rules(budget);
        self.sample(budget, &lft, 0, parallel);
        let mut source = Side::Left;
        let mut stall = 0;
        let mut epoch_best = self.best.makespan;
        for generation in 1u64.. {
            if self.best.makespan <= lower_bound {
                break;
            }
            if self.params.restart > 0 && stall * 32 >= self.params.restart * self.ctx.p.n {
                stall = 0;
                self.pops = [vec![self.best.clone()], Vec::new()];
                if !self.sample(budget, &lft, generation, parallel) {
                    break;
                }
                epoch_best = self.pops[0][0].makespan;
                source = Side::Left;
                continue;
            }
            let target = source.other();
            let k = spend_up_to(budget, self.population, self.ctx.cost(target));
            if k == 0 {
                break;
            }
            let jobs = self.jobs(generation, k);
            let pop = &self.pops[slot(source)];
            let params = &self.params;
            let children = map(
                &self.ctx,
                &mut self.scratch,
                jobs,
                parallel,
                |ctx, s, mut job| {
                    let rng = &mut job.rng;
                    let f = tournament(rng, pop, params.pressure);
                    let mut m = tournament(rng, pop, 2);
                    if m == f && pop.len() > 1 {
                        m = (f + 1 + rng.below(pop.len() - 1)) % pop.len();
                    }
                    let anchor = pop[f].makespan;
                    ctx.frame_starts(&pop[f], target, anchor, &mut s.father);
                    ctx.frame_starts(&pop[m], target, anchor, &mut s.mother);
                    operators::peak_crossover(
                        rng,
                        &ctx.load,
                        &ctx.p.duration,
                        &s.father,
                        i64::from(pop[f].makespan),
                        &s.mother,
                        params.window,
                        params.peak,
                        &mut s.usage,
                        &mut s.child,
                    );
                    operators::mutate_and_break_ties(
                        rng,
                        &ctx.p.duration,
                        params.mutation / ctx.p.n as f64,
                        &mut s.child,
                    );
                    s.dec.decode(ctx, &s.child, target)
                },
            );
            self.merge(target, children);
            source = target;
            let now = self.pops[slot(target)][0].makespan;
            stall = if now < epoch_best {
                epoch_best = now;
                0
            } else {
                stall + 1
            };
        }
    }

    /// With capacity that changes over time (a power budget), the parallel scheme
    /// — fill each slot with what fits — often beats serial sampling, so the
    /// first population also gets the parallel schedules of the queue and
    /// priority-rule heuristics (two schedules each: the parallel pass and its
    /// serial re-decoding in start order, which never lengthens it). The search
    /// then starts no worse than the best of them.
    fn seed_from_parallel_rules(&mut self, budget: &Budget) {
        let p = self.ctx.p;
        if p.instance.has_constant_capacity() {
            return;
        }
        let mut sgs = ParallelSgs::new(p);
        let mut seeds = Vec::new();
        let ranks: Vec<Vec<f64>> = [
            QueueMethod::DescendingChain,
            QueueMethod::DescendingDuration,
        ]
        .into_iter()
        .map(|q| q.ranks(p).into_iter().map(|r| r as f64).collect())
        .chain(
            [PriorityRule::Lft, PriorityRule::Grpw]
                .into_iter()
                .filter_map(|r| r.keys(p)),
        )
        .collect();
        for rank in &ranks {
            if !budget.try_spend(2) {
                break;
            }
            sgs.run_by_rank(p, rank);
            let starts = &sgs.starts;
            let mut order: Vec<usize> = (0..p.n).collect();
            order.sort_by_key(|&j| (starts[j], j));
            seeds.push(self.scratch.dec.decode_given(&self.ctx, &order, Side::Left));
        }
        self.merge(Side::Left, seeds);
    }

    /// Fills the left population up with regret-based samples; `false` if the
    /// budget allowed none.
    fn sample(&mut self, budget: &Budget, lft: &[i64], generation: u64, parallel: bool) -> bool {
        let want = self.population.saturating_sub(self.pops[0].len());
        let k = spend_up_to(budget, want, 1);
        let jobs = self.jobs(generation, k);
        let alpha = self.params.alpha;
        let sampled = map(
            &self.ctx,
            &mut self.scratch,
            jobs,
            parallel,
            |ctx, s, mut job| {
                let list = operators::regret_sample(ctx.p, lft, alpha, &mut job.rng);
                s.dec.decode_given(ctx, &list, Side::Left)
            },
        );
        self.merge(Side::Left, sampled);
        k > 0
    }

    fn jobs(&self, generation: u64, k: usize) -> Vec<Job> {
        (0..k as u64)
            .map(|i| Job {
                rng: Rng::from_parts(&[self.seed, generation, i]),
            })
            .collect()
    }

    /// Elitist replacement: the population keeps its best distinct members,
    /// newcomers first among equals so the search drifts across plateaus.
    fn merge(&mut self, side: Side, children: Vec<Individual>) {
        for c in &children {
            if c.makespan < self.best.makespan {
                self.best = c.clone();
            }
        }
        let pop = &mut self.pops[slot(side)];
        let mut all = children;
        all.append(pop);
        all.sort_by_key(|i| i.makespan);
        let mut seen = std::collections::HashSet::with_capacity(all.len());
        all.retain(|i| seen.insert(i.hash));
        all.truncate(self.population);
        *pop = all;
    }
}

impl Scratch {
    fn new(dec: Decoder) -> Self {
        Self {
            dec,
            father: Vec::new(),
            mother: Vec::new(),
            child: Vec::new(),
            usage: Vec::new(),
        }
    }
}

/// Makes one individual per job, in parallel if asked; the order is kept.
fn map<F>(
    ctx: &Ctx<'_, '_>,
    scratch: &mut Scratch,
    jobs: Vec<Job>,
    parallel: bool,
    make: F,
) -> Vec<Individual>
where
    F: Fn(&Ctx<'_, '_>, &mut Scratch, Job) -> Individual + Sync,
{
    if parallel {
        jobs.into_par_iter()
            .map_init(
                || Scratch::new(Decoder::new(ctx)),
                |s, job| make(ctx, s, job),
            )
            .collect()
    } else {
        jobs.into_iter()
            .map(|job| make(ctx, scratch, job))
            .collect()
    }
}

/// Tournament of `size` on makespan.
fn tournament(rng: &mut Rng, pop: &[Individual], size: usize) -> usize {
    let mut best = rng.below(pop.len());
    for _ in 1..size {
        let c = rng.below(pop.len());
        if pop[c].makespan < pop[best].makespan {
            best = c;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use powerslot_core::{Instance, Schedule, Tail, read_instance, validate};

    /// A PSPLIB j30 instance shipped in `examples/psplib/` (see its SOURCE.md).
    fn psplib(name: &str) -> Instance {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/psplib/");
        read_instance(std::path::Path::new(&format!("{path}{name}"))).unwrap()
    }

    fn solve(inst: &Instance, schedules: u64, seed: u64, threads: usize) -> (Vec<Slot>, u64) {
        let p = Problem::new(inst);
        let budget = Budget::new(Some(schedules), None);
        let starts = run(
            &p,
            &budget,
            seed,
            threads,
            crate::bounds::compute(&p).best(),
        );
        validate(inst, &Schedule::new(starts.clone())).unwrap();
        (starts, budget.used())
    }

    /// A dip in capacity that the optimum must work around: 4 units, then 2
    /// in slots 2..6, then 4 again.
    fn dip() -> Instance {
        crate::test_support::instance(
            &[4, 4, 2, 2, 2, 2, 4],
            Tail::Hold,
            &[
                (1, 2, 3, &[]),
                (2, 3, 2, &[]),
                (3, 2, 3, &[0]),
                (4, 2, 2, &[1]),
                (5, 1, 4, &[]),
                (6, 3, 1, &[2]),
            ],
        )
    }

    #[test]
    fn reaches_the_optimum_of_a_psplib_instance_within_budget() {
        let inst = psplib("j301_1.sm");
        let (starts, used) = solve(&inst, 5000, 1, 1);
        // Optimum 43 (PSPLIB j30opt); the run stops as soon as it meets the
        // critical-path bound or spends the budget.
        assert_eq!(Problem::new(&inst).makespan(&starts), 43);
        assert!(used <= 5000);
    }

    #[test]
    fn same_seed_same_schedule_for_any_thread_count() {
        let inst = psplib("j3013_1.sm");
        let a = solve(&inst, 1500, 7, 1);
        assert_eq!(a, solve(&inst, 1500, 7, 1));
        assert_eq!(a, solve(&inst, 1500, 7, 2));
        assert_eq!(a.1, 1500);
    }

    #[test]
    fn time_varying_capacity_is_respected_and_solved() {
        let inst = dip();
        let p = Problem::new(&inst);
        assert!(Ctx::new(&p).rev.is_none(), "a dip must not be mirrored");
        // Brute force over all task orders of the serial scheme (which reaches
        // an optimal schedule for regular objectives) gives the reference.
        let mut sgs = crate::serial::SerialSgs::new(&p);
        let mut best = Slot::MAX;
        let mut perm: Vec<usize> = (0..p.n).collect();
        permute(&mut perm, 0, &mut |list| {
            let ok = list
                .iter()
                .enumerate()
                .all(|(i, &j)| p.preds[j].iter().all(|q| list[..i].contains(q)));
            if ok {
                best = best.min(sgs.forward(&p, list));
            }
        });
        let (starts, _) = solve(&inst, 400, 3, 1);
        assert_eq!(p.makespan(&starts), best);
    }

    fn permute(v: &mut Vec<usize>, k: usize, f: &mut impl FnMut(&[usize])) {
        if k == v.len() {
            f(v);
            return;
        }
        for i in k..v.len() {
            v.swap(k, i);
            permute(v, k + 1, f);
            v.swap(k, i);
        }
    }

    #[test]
    fn a_budget_of_one_still_gives_a_schedule() {
        let inst = psplib("j3013_1.sm");
        let (_, used) = solve(&inst, 1, 1, 1);
        assert_eq!(used, 1);
    }

    #[test]
    fn population_grows_with_the_budget() {
        assert_eq!(population_for(Some(5000)), 60);
        assert!(population_for(Some(50_000)) > 250);
        assert!(population_for(Some(10)) >= 8);
    }
}
