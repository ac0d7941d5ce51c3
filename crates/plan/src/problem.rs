//! A flat, cache-friendly view of an [`Instance`] for the planners' hot loops.

use powerslot_core::limits::horizon_for;
use powerslot_core::{CapacityProfile, Instance, Slot, Tail};

/// The instance as planners read it: durations, demands (only the non-zero ones
/// per task), precedence lists and capacity profiles, indexed by task.
#[derive(Clone, Debug)]
pub struct Problem<'a> {
    /// The instance this view was built from.
    pub instance: &'a Instance,
    /// Number of tasks.
    pub n: usize,
    /// Number of resources.
    pub m: usize,
    /// Duration of each task in slots.
    pub duration: Vec<u32>,
    /// Non-zero demands of each task as `(resource, amount)`.
    pub demand: Vec<Vec<(usize, i64)>>,
    /// Predecessors of each task.
    pub preds: Vec<Vec<usize>>,
    /// Successors of each task.
    pub succs: Vec<Vec<usize>>,
    /// Release slot of each task.
    pub release: Vec<Slot>,
    /// Capacity profile of each resource as planners see it: the instance's, except
    /// that a held tail too low for some task is lifted (see [`RunOut`]).
    pub capacity: Vec<CapacityProfile>,
    /// Per resource, where its capacity runs out for good, if it does.
    pub run_out: Vec<Option<RunOut>>,
    /// A topological order of the tasks.
    pub topo: Vec<usize>,
}

impl<'a> Problem<'a> {
    /// Builds the view.
    pub fn new(instance: &'a Instance) -> Self {
        let tasks = instance.tasks();
        let n = tasks.len();
        let total_duration = tasks.iter().map(|t| t.duration as usize).sum::<usize>();
        let limit = horizon_for(instance.resources().len());
        let (capacity, run_out) = instance
            .resources()
            .iter()
            .enumerate()
            .map(|(k, r)| {
                let needs: Vec<(u32, i64)> = tasks
                    .iter()
                    .map(|t| (t.duration, t.demand[k]))
                    .filter(|&(_, q)| q > 0)
                    .collect();
                lift_run_out(&r.capacity, &needs, total_duration, limit)
            })
            .unzip();
        Self {
            instance,
            n,
            m: instance.resources().len(),
            duration: tasks.iter().map(|t| t.duration).collect(),
            demand: tasks
                .iter()
                .map(|t| {
                    t.demand
                        .iter()
                        .enumerate()
                        .filter(|(_, q)| **q > 0)
                        .map(|(k, &q)| (k, q))
                        .collect()
                })
                .collect(),
            preds: tasks.iter().map(|t| t.predecessors.clone()).collect(),
            succs: (0..n).map(|j| instance.successors(j).to_vec()).collect(),
            release: tasks.iter().map(|t| t.release).collect(),
            capacity,
            run_out,
            topo: instance.topological_order().to_vec(),
        }
    }

    /// Makespan of a start vector.
    pub fn makespan(&self, starts: &[Slot]) -> Slot {
        starts
            .iter()
            .zip(&self.duration)
            .map(|(s, d)| s + d)
            .max()
            .unwrap_or(0)
    }

    /// Length of the longest chain of durations from each task to the end of the
    /// project, the task's own duration included (the "tail" used by LST/LFT rules).
    pub fn tails(&self) -> Vec<u32> {
        let mut tail = vec![0u32; self.n];
        for &j in self.topo.iter().rev() {
            tail[j] = self.duration[j] + self.succs[j].iter().map(|&s| tail[s]).max().unwrap_or(0);
        }
        tail
    }

    /// Earliest start of each task from precedence and release alone.
    pub fn earliest_starts(&self) -> Vec<Slot> {
        let mut es = vec![0; self.n];
        for &j in &self.topo {
            es[j] = self.preds[j]
                .iter()
                .map(|&p| es[p] + self.duration[p])
                .max()
                .unwrap_or(0)
                .max(self.release[j]);
        }
        es
    }
}

/// A capacity whose tail, from slot `from` on, can never carry some task: it holds
/// at a `level` below the task's demand, or it repeats a pattern with no window of
/// the task's duration at its demand. Such a task must finish before the tail;
/// whether all of them can is not known before planning (it is a packing problem).
/// Planners see the real capacity up to where no active schedule that fits it can
/// still be running (`from` plus every duration, plus one period per task for a
/// repeating tail, at most the horizon) and a capacity lifted above every demand
/// after it: they always terminate, a schedule that needs the lift is longer than
/// any that fits the real capacity, and `solve` turns one that uses the lift into a
/// clear error instead of an endless search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOut {
    /// First slot of the tail (for a held tail, where the held value starts).
    pub from: Slot,
    /// The held capacity, or the largest capacity of the repeating pattern.
    pub level: i64,
    /// Whether the tail repeats a pattern (else it holds `level`).
    pub repeats: bool,
}

/// `needs` are the (duration, demand) pairs with a positive demand on this resource.
fn lift_run_out(
    cap: &CapacityProfile,
    needs: &[(u32, i64)],
    total_duration: usize,
    limit: Slot,
) -> (CapacityProfile, Option<RunOut>) {
    let values = cap.values();
    let total: i64 = needs.iter().map(|&(_, q)| q).fold(0, i64::saturating_add);
    let (from, reach, level, repeats) = match cap.tail() {
        Tail::Hold => {
            let level = *values.last().expect("profiles are never empty");
            if needs.iter().all(|&(_, q)| q <= level) {
                return (cap.clone(), None);
            }
            // The held run starts where the values last changed.
            let from = values
                .iter()
                .rposition(|&v| v != level)
                .map_or(0, |i| i + 1);
            (from, total_duration, level, false)
        }
        Tail::Repeat => {
            let pattern = &values[cap.settle()..];
            let best =
                best_window_minimum(pattern, needs.iter().map(|&(d, _)| d).max().unwrap_or(1));
            let Some(best) = best else {
                // Too long a pattern to check cheaply: no lift; the horizon bound in
                // `Availability` still ends every pass.
                return (cap.clone(), None);
            };
            if needs.iter().all(|&(d, q)| q <= best[d as usize]) {
                return (cap.clone(), None);
            }
            let reach = total_duration.saturating_add(needs.len().saturating_mul(pattern.len()));
            (cap.settle(), reach, cap.max(), true)
        }
    };
    let lift_at = from
        .saturating_add(reach)
        .saturating_add(1)
        .min(limit as usize + 1);
    let mut lifted: Vec<i64> = (0..lift_at.max(values.len()))
        .map(|s| cap.at(s as Slot))
        .collect();
    lifted.truncate(lift_at.max(1));
    lifted.push(cap.max().saturating_add(total));
    let lifted = CapacityProfile::new(lifted, Tail::Hold).expect("values stay non-negative");
    (
        lifted,
        Some(RunOut {
            from: from as Slot,
            level,
            repeats,
        }),
    )
}

/// For a repeating `pattern`, `best[d]` is the largest capacity some window of `d`
/// consecutive slots offers throughout (for `d` in `1..=longest`), found with the
/// all-window-sizes stack method over two periods; `None` when the pattern is too
/// long to check in bounded memory.
fn best_window_minimum(pattern: &[i64], longest: u32) -> Option<Vec<i64>> {
    const PATTERN_LIMIT: usize = 1 << 20;
    let p = pattern.len();
    if p > PATTERN_LIMIT {
        return None;
    }
    let longest = longest as usize;
    let global_min = pattern.iter().copied().min().unwrap_or(0);
    // Windows longer than a period see every value; shorter ones fit in two periods.
    let c: Vec<i64> = pattern.iter().chain(pattern).copied().collect();
    let n = c.len();
    let mut best = vec![global_min; n + 2];
    let (mut left, mut right) = (vec![0usize; n], vec![n; n]);
    let mut stack: Vec<usize> = Vec::new();
    for i in 0..n {
        while stack.last().is_some_and(|&j| c[j] >= c[i]) {
            stack.pop();
        }
        left[i] = stack.last().map_or(0, |&j| j + 1);
        stack.push(i);
    }
    stack.clear();
    for i in (0..n).rev() {
        while stack.last().is_some_and(|&j| c[j] >= c[i]) {
            stack.pop();
        }
        right[i] = stack.last().copied().unwrap_or(n);
        stack.push(i);
    }
    for i in 0..n {
        let w = right[i] - left[i];
        best[w] = best[w].max(c[i]);
    }
    for w in (1..=n).rev() {
        best[w - 1] = best[w - 1].max(best[w]);
    }
    let mut out = vec![global_min; longest + 1];
    for (d, v) in out.iter_mut().enumerate().take(longest.min(p) + 1) {
        *v = best[d];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_minimum_over_a_repeating_pattern() {
        // Pattern 5 0 3 3 repeating: windows of 2 reach 3, of 3 wrap to 3 3 5 → 3.
        let best = best_window_minimum(&[5, 0, 3, 3], 6).unwrap();
        assert_eq!(best[1], 5);
        assert_eq!(best[2], 3);
        assert_eq!(best[3], 3);
        assert_eq!(best[4], 0);
        assert_eq!(best[6], 0);
    }

    #[test]
    fn a_held_run_starts_where_the_value_drops() {
        let cap = CapacityProfile::new(vec![5, 5, 1, 1, 1], Tail::Hold).unwrap();
        let (lifted, r) = lift_run_out(&cap, &[(1, 5), (1, 1)], 2, 1000);
        let r = r.unwrap();
        assert_eq!((r.from, r.level, r.repeats), (2, 1, false));
        assert_eq!(lifted.at(4), 1);
        assert!(lifted.at(100) >= 5);
    }

    #[test]
    fn a_repeating_tail_too_low_for_a_task_is_lifted() {
        let cap = CapacityProfile::with_period(vec![9, 9, 9, 4, 0], Tail::Repeat, 2).unwrap();
        let (lifted, r) = lift_run_out(&cap, &[(2, 9)], 2, 1000);
        assert!(r.unwrap().repeats);
        assert_eq!((lifted.at(3), lifted.at(4), lifted.at(5)), (4, 0, 4));
        assert!(lifted.at(1000) >= 9);
        let (_, none) = lift_run_out(&cap, &[(1, 4)], 1, 1000);
        assert!(none.is_none());
    }
}
