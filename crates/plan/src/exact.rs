//! Exact search for small instances: depth-first branch and bound over the
//! activity lists of the serial schedule generation scheme.
//!
//! Why it is exact, also with capacity that changes slot by slot: left-shifting
//! one task to an earlier feasible position never breaks a schedule, so some
//! optimal schedule is *active* (no task can start earlier alone). The serial
//! scheme fed with an active schedule's tasks in order of (start, index)
//! rebuilds it: if it placed a task `i` earlier than in the schedule, the tasks
//! after `i` in the list all start at or after `i`'s original start, where `i`
//! moved earlier only frees capacity, so `i` could have been left-shifted alone
//! — a contradiction. Hence it suffices to branch, at each node, over the tasks
//! whose predecessors are all scheduled, place each at its earliest feasible
//! start, and keep only branches whose (start, index) exceeds the previous
//! one's: every active schedule is still reached exactly once by its sorted list.
//!
//! A node is pruned when `max(current makespan, max_j (head_j + tail_j))` over the
//! unscheduled tasks (heads from the scheduled predecessors' finishes, releases
//! and the last start; tails from chains of durations) cannot beat the incumbent.
//! The search stops as soon as the incumbent meets the instance's lower bound.

use powerslot_core::Slot;

use crate::bounds;
use crate::problem::Problem;
use crate::resources::Availability;
use crate::rules::PriorityRule;
use crate::serial::{SerialSgs, list_by_key};

/// An optimal schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Optimum {
    /// Start slot per task.
    pub starts: Vec<Slot>,
    /// Its makespan, the optimum.
    pub makespan: Slot,
    /// Search nodes visited.
    pub nodes: u64,
}

/// Finds an optimal schedule, or `None` if more than `node_limit` nodes would
/// be needed (practical up to about a dozen tasks).
pub fn optimum(p: &Problem<'_>, node_limit: u64) -> Option<Optimum> {
    if p.n == 0 {
        return Some(Optimum {
            starts: Vec::new(),
            makespan: 0,
            nodes: 0,
        });
    }
    let lft = PriorityRule::Lft.keys(p).expect("LFT has keys");
    let mut sgs = SerialSgs::new(p);
    let makespan = sgs.forward(p, &list_by_key(p, &lft));
    let mut search = Search {
        p,
        tails: p.tails(),
        lower_bound: bounds::compute(p).best(),
        avail: Availability::new(p, p.duration.iter().map(|&d| d as usize).sum()),
        starts: vec![0; p.n],
        scheduled: vec![false; p.n],
        missing: vec![0; p.n],
        best: sgs.starts.clone(),
        best_makespan: makespan,
        nodes: 0,
        node_limit,
        heads: vec![0; p.n],
    };
    for succs in &p.succs {
        for &s in succs {
            search.missing[s] += 1;
        }
    }
    if search.best_makespan > search.lower_bound {
        search.dfs(0, (0, 0), 0)?;
    }
    Some(Optimum {
        starts: search.best,
        makespan: search.best_makespan,
        nodes: search.nodes,
    })
}

struct Search<'p, 'a> {
    p: &'p Problem<'a>,
    tails: Vec<Slot>,
    lower_bound: Slot,
    avail: Availability,
    starts: Vec<Slot>,
    scheduled: Vec<bool>,
    missing: Vec<usize>,
    best: Vec<Slot>,
    best_makespan: Slot,
    nodes: u64,
    node_limit: u64,
    heads: Vec<Slot>,
}

impl Search<'_, '_> {
    /// Explores below a node with `count` tasks scheduled, the last one placed
    /// at `last = (start, index)`. `None` when the node limit is hit.
    fn dfs(&mut self, count: usize, last: (Slot, usize), makespan: Slot) -> Option<()> {
        let p = self.p;
        if count == p.n {
            if makespan < self.best_makespan {
                self.best_makespan = makespan;
                self.best.copy_from_slice(&self.starts);
            }
            return Some(());
        }
        self.nodes += 1;
        if self.nodes > self.node_limit {
            return None;
        }
        if self.bound(last.0).max(makespan) >= self.best_makespan {
            return Some(());
        }
        let mut children: Vec<(Slot, usize)> = Vec::new();
        for j in 0..p.n {
            if self.scheduled[j] || self.missing[j] > 0 {
                continue;
            }
            let es = p.preds[j]
                .iter()
                .map(|&q| self.starts[q] + p.duration[q])
                .max()
                .unwrap_or(0)
                .max(p.release[j]);
            let s = self.avail.earliest_fit(&p.demand[j], p.duration[j], es);
            if count == 0 || (s, j) > last {
                children.push((s, j));
            }
        }
        children.sort_unstable_by_key(|&(s, j)| (s, std::cmp::Reverse(self.tails[j]), j));
        for (s, j) in children {
            if s + self.tails[j] >= self.best_makespan {
                continue;
            }
            self.avail.reserve(&p.demand[j], s, p.duration[j]);
            self.starts[j] = s;
            self.scheduled[j] = true;
            for &x in &p.succs[j] {
                self.missing[x] -= 1;
            }
            let r = self.dfs(count + 1, (s, j), makespan.max(s + p.duration[j]));
            for &x in &p.succs[j] {
                self.missing[x] += 1;
            }
            self.scheduled[j] = false;
            self.avail.unreserve(&p.demand[j], s, p.duration[j]);
            r?;
            if self.best_makespan <= self.lower_bound {
                return Some(());
            }
        }
        Some(())
    }

    /// `max_j (head_j + tail_j)` over unscheduled tasks, every one starting no
    /// earlier than `last_start`.
    fn bound(&mut self, last_start: Slot) -> Slot {
        let p = self.p;
        let mut bound = 0;
        for &j in &p.topo {
            if self.scheduled[j] {
                continue;
            }
            let head = p.preds[j]
                .iter()
                .map(|&q| {
                    if self.scheduled[q] {
                        self.starts[q] + p.duration[q]
                    } else {
                        self.heads[q] + p.duration[q]
                    }
                })
                .max()
                .unwrap_or(0)
                .max(p.release[j])
                .max(last_start);
            self.heads[j] = head;
            bound = bound.max(head + self.tails[j]);
        }
        bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use powerslot_core::{Schedule, Tail, validate};

    #[test]
    fn finds_the_optimum_that_needs_a_delay() {
        // Capacity 3, dipping to 1 in every fourth slot: only some orders avoid
        // stretching over the dips. Checked against brute force.
        let i = crate::test_support::instance(
            &[3, 3, 3, 1],
            Tail::Repeat,
            &[
                (1, 1, 2, &[]),
                (2, 3, 2, &[]),
                (3, 2, 1, &[]),
                (4, 1, 3, &[0]),
            ],
        );
        let p = Problem::new(&i);
        let opt = optimum(&p, 1_000_000).unwrap();
        validate(&i, &Schedule::new(opt.starts.clone())).unwrap();
        assert_eq!(opt.makespan, p.makespan(&opt.starts));
        // Brute force over all starts below 12.
        let mut best = Slot::MAX;
        for code in 0..12u32.pow(4) {
            let s: Vec<Slot> = (0..4).map(|k| code / 12u32.pow(k) % 12).collect();
            if validate(&i, &Schedule::new(s.clone())).is_ok() {
                best = best.min(p.makespan(&s));
            }
        }
        assert_eq!(opt.makespan, best);
    }
}
