//! A flat, cache-friendly view of an [`Instance`] for the planners' hot loops.

use powerslot_core::{CapacityProfile, Instance, Slot};

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
    /// Capacity profile of each resource.
    pub capacity: Vec<CapacityProfile>,
    /// A topological order of the tasks.
    pub topo: Vec<usize>,
}

impl<'a> Problem<'a> {
    /// Builds the view.
    pub fn new(instance: &'a Instance) -> Self {
        let tasks = instance.tasks();
        let n = tasks.len();
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
            capacity: instance
                .resources()
                .iter()
                .map(|r| r.capacity.clone())
                .collect(),
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
