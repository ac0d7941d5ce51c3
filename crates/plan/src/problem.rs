//! A flat, cache-friendly view of an [`Instance`] for the planners' hot loops.

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
        let (capacity, run_out) = instance
            .resources()
            .iter()
            .enumerate()
            .map(|(k, r)| {
                lift_run_out(
                    &r.capacity,
                    tasks.iter().map(|t| t.demand[k]),
                    total_duration,
                )
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

/// A capacity that holds, from slot `from` on, at a `level` below some task's
/// demand. Such a task must finish before `from`; whether all of them can is not
/// known before planning (it is a packing problem). Planners see the real tail for
/// another `Σ durations` slots and then a tail lifted above every demand: they
/// always terminate, a schedule that needs the lift is longer than any schedule
/// that fits the real capacity (an active schedule never ends later than
/// `from + Σ durations`), and `solve` turns one that uses the lift into a clear
/// error instead of an endless search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOut {
    /// First slot of the held tail.
    pub from: Slot,
    /// The held capacity.
    pub level: i64,
}

fn lift_run_out(
    cap: &CapacityProfile,
    demands: impl Iterator<Item = i64>,
    total_duration: usize,
) -> (CapacityProfile, Option<RunOut>) {
    let (mut max_demand, mut total) = (0i64, 0i64);
    for q in demands {
        max_demand = max_demand.max(q);
        total = total.saturating_add(q);
    }
    let level = *cap.values().last().expect("profiles are never empty");
    if cap.tail() != Tail::Hold || level >= max_demand {
        return (cap.clone(), None);
    }
    let from = cap.values().len();
    let mut values = cap.values().to_vec();
    values.resize(from + total_duration + 1, level);
    values.push(level.saturating_add(total));
    let lifted = CapacityProfile::new(values, Tail::Hold).expect("values stay non-negative");
    (
        lifted,
        Some(RunOut {
            from: from as Slot,
            level,
        }),
    )
}
