//! The serial schedule generation scheme, forward and backward, and double
//! justification (forward-backward improvement, Valls et al. 2005).
//!
//! All passes honour time-varying capacity: a task starts at the earliest (or,
//! backwards, latest) slot where its demand fits for its whole duration.

use powerslot_core::Slot;

use crate::problem::Problem;
use crate::resources::Availability;

/// Reusable buffers for serial passes over one problem.
#[derive(Clone, Debug)]
pub struct SerialSgs {
    avail: Availability,
    /// Start of each task in the last schedule built.
    pub starts: Vec<Slot>,
    order: Vec<usize>,
}

impl SerialSgs {
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
            order: Vec::with_capacity(p.n),
        }
    }

    /// Forward serial SGS: schedules the tasks of `list` (which must be
    /// precedence-feasible: every predecessor listed earlier) one by one at their
    /// earliest feasible start. Returns the makespan; starts are in `self.starts`.
    pub fn forward(&mut self, p: &Problem<'_>, list: &[usize]) -> Slot {
        self.avail.reset();
        let mut makespan = 0;
        for &j in list {
            let es = p.preds[j]
                .iter()
                .map(|&q| self.starts[q] + p.duration[q])
                .max()
                .unwrap_or(0)
                .max(p.release[j]);
            let s = self.avail.earliest_fit(&p.demand[j], p.duration[j], es);
            self.avail.reserve(&p.demand[j], s, p.duration[j]);
            self.starts[j] = s;
            makespan = makespan.max(s + p.duration[j]);
        }
        makespan
    }

    /// Right justification of the schedule in `self.starts`: tasks in order of
    /// non-increasing finish are moved as late as possible without passing the
    /// makespan or a successor. Never increases the makespan; one schedule.
    pub fn justify_right(&mut self, p: &Problem<'_>) -> Slot {
        let makespan = p.makespan(&self.starts);
        self.order.clear();
        self.order.extend(0..p.n);
        let (starts, dur) = (&self.starts, &p.duration);
        // Later finish first; among equal finishes, later start first (stable tie-break).
        self.order.sort_unstable_by(|&a, &b| {
            (starts[b] + dur[b], starts[b], b).cmp(&(starts[a] + dur[a], starts[a], a))
        });
        self.avail.reset();
        for idx in 0..p.n {
            let j = self.order[idx];
            let lf = p.succs[j]
                .iter()
                .map(|&s| self.starts[s])
                .min()
                .unwrap_or(makespan)
                .min(makespan);
            let old = self.starts[j];
            // The current position stays feasible (see the module docs of FBI), so a
            // fit at or after it always exists; keep it if the search finds nothing.
            let s = self
                .avail
                .latest_fit(&p.demand[j], p.duration[j], old.max(p.release[j]), lf)
                .unwrap_or(old);
            self.avail.reserve(&p.demand[j], s, p.duration[j]);
            self.starts[j] = s;
        }
        makespan
    }

    /// Left justification: tasks in order of non-decreasing start are moved as
    /// early as possible. Never increases the makespan; one schedule.
    pub fn justify_left(&mut self, p: &Problem<'_>) -> Slot {
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend(0..p.n);
        let starts = &self.starts;
        order.sort_unstable_by_key(|&j| (starts[j], j));
        let m = self.forward(p, &order);
        self.order = order;
        m
    }

    /// Double justification (right then left): two schedules. Returns the makespan.
    pub fn double_justify(&mut self, p: &Problem<'_>) -> Slot {
        self.justify_right(p);
        self.justify_left(p)
    }
}

/// A precedence-feasible list that takes, among the tasks whose predecessors are
/// all listed, the one with the smallest `key` (ties by index).
pub fn list_by_key<K: PartialOrd + Copy>(p: &Problem<'_>, key: &[K]) -> Vec<usize> {
    let mut missing: Vec<usize> = p.preds.iter().map(Vec::len).collect();
    let mut eligible: Vec<usize> = (0..p.n).filter(|&j| missing[j] == 0).collect();
    let mut list = Vec::with_capacity(p.n);
    while !eligible.is_empty() {
        let mut best = 0;
        for i in 1..eligible.len() {
            let (a, b) = (eligible[i], eligible[best]);
            if key[a] < key[b] || (key[a] == key[b] && a < b) {
                best = i;
            }
        }
        let j = eligible.swap_remove(best);
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

#[cfg(test)]
mod tests {
    use super::*;
    use powerslot_core::{Instance, Schedule, validate};

    fn inst() -> Instance {
        crate::test_support::dip()
    }

    #[test]
    fn forward_respects_the_dip_and_justification_never_hurts() {
        let i = inst();
        let p = Problem::new(&i);
        let mut sgs = SerialSgs::new(&p);
        for list in [vec![0, 1, 2, 3], vec![1, 0, 3, 2], vec![1, 3, 0, 2]] {
            let m = sgs.forward(&p, &list);
            validate(&i, &Schedule::new(sgs.starts.clone())).unwrap();
            let r = sgs.justify_right(&p);
            assert_eq!(r, m);
            validate(&i, &Schedule::new(sgs.starts.clone())).unwrap();
            let l = sgs.justify_left(&p);
            validate(&i, &Schedule::new(sgs.starts.clone())).unwrap();
            assert!(l <= m, "{list:?}: {l} > {m}");
        }
    }

    #[test]
    fn list_by_key_is_precedence_feasible() {
        let i = inst();
        let p = Problem::new(&i);
        let list = list_by_key(&p, &[3.0, 2.0, 0.0, 1.0]);
        assert_eq!(list, vec![1, 3, 0, 2]);
    }
}
