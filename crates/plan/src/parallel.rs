//! The parallel (time-stepped) schedule generation scheme.
//!
//! Time advances from slot 0; at each visited slot `t` the *eligible* tasks are
//! those not yet started whose predecessors have all finished by `t`, whose
//! release is reached, and whose demand fits in every slot of `[t, t + duration)`
//! given the tasks already started (capacity may differ slot by slot). A chooser
//! picks one eligible task, it starts at `t`, the eligible set shrinks to the
//! tasks that still fit, and so on until it is empty; then time moves on.
//!
//! The queue methods, the parallel priority rules and the paper's ACO all use
//! this one engine and differ only in the chooser.
//!
//! Only slots where something can happen are visited: for every waiting task the
//! engine keeps a lower bound on the slot it could start in (the earliest fit
//! under the current reservations; reservations only grow, so the bound stays
//! valid) and jumps to the smallest one. The schedule is the same as visiting
//! every slot, since nothing can start in the slots skipped.

use powerslot_core::Slot;

use crate::problem::Problem;
use crate::resources::Availability;

/// Reusable buffers for time-stepped passes over one problem.
#[derive(Clone, Debug)]
pub struct ParallelSgs {
    avail: Availability,
    /// Start of each task in the last schedule built.
    pub starts: Vec<Slot>,
    missing: Vec<usize>,
    waiting: Vec<usize>,
    /// Position of each waiting task in `waiting` (so removing one is O(1)).
    place: Vec<usize>,
    next_possible: Vec<Slot>,
    eligible: Vec<usize>,
}

impl ParallelSgs {
    /// Buffers for `p`.
    pub fn new(p: &Problem<'_>) -> Self {
        let hint = p
            .duration
            .iter()
            .map(|&d| d as usize)
            .sum::<usize>()
            .min(1 << 16);
        Self {
            avail: Availability::new(p, hint),
            starts: vec![0; p.n],
            missing: vec![0; p.n],
            waiting: Vec::with_capacity(p.n),
            place: vec![0; p.n],
            next_possible: vec![0; p.n],
            eligible: Vec::with_capacity(p.n),
        }
    }

    /// Builds one schedule. `choose(t, eligible)` returns the position in
    /// `eligible` (never empty) of the task to start at slot `t`. Returns the
    /// makespan; starts are in `self.starts`.
    pub fn run<F>(&mut self, p: &Problem<'_>, choose: F) -> Slot
    where
        F: FnMut(Slot, &[usize]) -> usize,
    {
        self.run_until(p, choose, &|| false)
            .expect("a pass that is never stopped completes")
    }

    /// Like [`ParallelSgs::run`], but asks `stop` at every visited slot and gives
    /// up (`None`, starts incomplete) once it says so: an optional pass on a large
    /// instance must not overrun a time limit.
    pub fn run_until<F>(
        &mut self,
        p: &Problem<'_>,
        mut choose: F,
        stop: &dyn Fn() -> bool,
    ) -> Option<Slot>
    where
        F: FnMut(Slot, &[usize]) -> usize,
    {
        self.avail.reset();
        self.missing.iter_mut().for_each(|m| *m = 0);
        for succs in &p.succs {
            for &s in succs {
                self.missing[s] += 1;
            }
        }
        self.waiting.clear();
        for j in 0..p.n {
            if self.missing[j] == 0 {
                self.place[j] = self.waiting.len();
                self.waiting.push(j);
                self.next_possible[j] = p.release[j];
            }
        }
        let mut makespan = 0;
        while let Some(t) = self.waiting.iter().map(|&j| self.next_possible[j]).min() {
            if stop() {
                return None;
            }
            self.eligible.clear();
            for &j in &self.waiting {
                if self.next_possible[j] <= t {
                    let e = self.avail.earliest_fit(&p.demand[j], p.duration[j], t);
                    if e == t {
                        self.eligible.push(j);
                    } else {
                        self.next_possible[j] = e;
                    }
                }
            }
            while !self.eligible.is_empty() {
                let pick = choose(t, &self.eligible);
                let j = self.eligible.swap_remove(pick);
                self.avail.reserve(&p.demand[j], t, p.duration[j]);
                self.starts[j] = t;
                let finish = t + p.duration[j];
                makespan = makespan.max(finish);
                let w = self.place[j];
                self.waiting.swap_remove(w);
                if let Some(&moved) = self.waiting.get(w) {
                    self.place[moved] = w;
                }
                for &s in &p.succs[j] {
                    self.missing[s] -= 1;
                    if self.missing[s] == 0 {
                        let ready = p.preds[s]
                            .iter()
                            .map(|&q| self.starts[q] + p.duration[q])
                            .max()
                            .unwrap_or(0);
                        self.next_possible[s] = ready.max(p.release[s]);
                        self.place[s] = self.waiting.len();
                        self.waiting.push(s);
                    }
                }
                let (avail, next) = (&mut self.avail, &mut self.next_possible);
                self.eligible.retain(|&k| {
                    let e = avail.earliest_fit(&p.demand[k], p.duration[k], t);
                    next[k] = e;
                    e == t
                });
            }
        }
        Some(makespan)
    }

    /// Builds one schedule starting, at each slot, the eligible task with the
    /// smallest `rank` first (ties by index). Returns the makespan.
    pub fn run_by_rank<K: PartialOrd + Copy>(&mut self, p: &Problem<'_>, rank: &[K]) -> Slot {
        self.run(p, |_, eligible| best_by_rank(eligible, rank))
    }
}

/// Position in `eligible` of the task with the smallest rank (ties by index).
pub(crate) fn best_by_rank<K: PartialOrd + Copy>(eligible: &[usize], rank: &[K]) -> usize {
    let mut best = 0;
    for i in 1..eligible.len() {
        let (a, b) = (eligible[i], eligible[best]);
        if rank[a] < rank[b] || (rank[a] == rank[b] && a < b) {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use powerslot_core::{Instance, Schedule, validate};

    fn inst() -> Instance {
        crate::test_support::dip()
    }

    #[test]
    fn starts_by_rank_and_waits_for_capacity() {
        let i = inst();
        let p = Problem::new(&i);
        let mut sgs = ParallelSgs::new(&p);
        // Task 1 first: it fits in slots 0-1 (capacity 4); task 2 (2 units for 3
        // slots) would hit the dip beside it, so it waits until slot 2, where it
        // fits (2 ≤ 2) for slots 2-4; task 3 (4 units) waits for slot 5, and
        // task 4 then for slot 6.
        let m = sgs.run_by_rank(&p, &[0, 1, 2, 3]);
        assert_eq!(sgs.starts, vec![0, 2, 5, 6]);
        assert_eq!(m, 8);
        validate(&i, &Schedule::new(sgs.starts.clone())).unwrap();
        let m = sgs.run_by_rank(&p, &[1, 0, 2, 3]);
        validate(&i, &Schedule::new(sgs.starts.clone())).unwrap();
        assert_eq!(sgs.starts[1], 0);
        assert!(m >= 5);
    }
}
