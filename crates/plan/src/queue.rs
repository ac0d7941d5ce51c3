//! The paper's three manual allocation methods (seed 001, section III.B).
//!
//! Each method fixes a queue of devices once, then steps through time from
//! slot 0: at each step it walks the queue and starts every device that is not
//! yet started, whose predecessors have finished and whose release is reached,
//! and whose demand fits for its whole run beside the devices already running
//! (capacity may change slot by slot, so every slot of the run is checked);
//! devices that do not fit are skipped. Then the next time step.
//!
//! * **Simple Queue** — the order the devices were generated in.
//! * **Descending Duration** — longest duration first.
//! * **Descending Chain Duration** — longest total duration of the device's
//!   chain first. The paper's chains have two elements; for a general precedence
//!   graph the chain of a device is the longest path through it (longest chain
//!   of durations before it, its own duration, longest chain after it).
//!
//! Ties keep the generation order. One schedule each.

use powerslot_core::Slot;

use crate::budget::Budget;
use crate::parallel::ParallelSgs;
use crate::problem::Problem;

/// The three manual allocation methods of the paper (seed 001).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueMethod {
    /// Devices in the order they were generated.
    Simple,
    /// Devices by descending duration.
    DescendingDuration,
    /// Devices by descending duration of their chain.
    DescendingChain,
}

impl QueueMethod {
    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            QueueMethod::Simple => "simple-queue",
            QueueMethod::DescendingDuration => "descending-duration",
            QueueMethod::DescendingChain => "descending-chain",
        }
    }

    /// Position of each task in the queue (smaller goes first).
    pub fn ranks(self, p: &Problem<'_>) -> Vec<usize> {
        let mut order: Vec<usize> = (0..p.n).collect();
        match self {
            QueueMethod::Simple => {}
            QueueMethod::DescendingDuration => {
                order.sort_by_key(|&j| std::cmp::Reverse(p.duration[j]));
            }
            QueueMethod::DescendingChain => {
                let chain = chain_durations(p);
                order.sort_by_key(|&j| std::cmp::Reverse(chain[j]));
            }
        }
        let mut rank = vec![0; p.n];
        for (pos, &j) in order.iter().enumerate() {
            rank[j] = pos;
        }
        rank
    }
}

/// Duration of the longest precedence chain through each task, its own
/// duration included (releases ignored: a chain is a property of the devices).
pub fn chain_durations(p: &Problem<'_>) -> Vec<u64> {
    let mut head = vec![0u64; p.n];
    for &j in &p.topo {
        head[j] = p.preds[j]
            .iter()
            .map(|&q| head[q] + u64::from(p.duration[q]))
            .max()
            .unwrap_or(0);
    }
    let tails = p.tails();
    (0..p.n).map(|j| head[j] + u64::from(tails[j])).collect()
}

/// Runs a queue method; one schedule.
pub fn run(p: &Problem<'_>, method: QueueMethod, budget: &Budget) -> Vec<Slot> {
    budget.spend_anyway(1);
    let rank = method.ranks(p);
    let mut sgs = ParallelSgs::new(p);
    sgs.run_by_rank(p, &rank);
    sgs.starts
}

#[cfg(test)]
mod tests {
    use super::*;
    use powerslot_core::{
        CapacityProfile, Instance, InstanceSpec, Resource, ResourceUnit, Tail, Task, TaskId,
    };

    fn inst(cap: Vec<i64>, tasks: &[(u32, i64, Vec<usize>)]) -> Instance {
        Instance::new(InstanceSpec {
            name: "q".into(),
            resources: vec![Resource {
                name: "power".into(),
                unit: ResourceUnit::Milliwatts,
                capacity: CapacityProfile::new(cap, Tail::Hold).unwrap(),
            }],
            tasks: tasks
                .iter()
                .enumerate()
                .map(|(i, (d, q, preds))| Task {
                    id: TaskId::Name(format!("d{i}")),
                    duration: *d,
                    demand: vec![*q],
                    predecessors: preds.clone(),
                    release: 0,
                    deadline: None,
                })
                .collect(),
            grid: None,
            power_curves: None,
        })
        .unwrap()
    }

    fn plan(i: &Instance, m: QueueMethod) -> Vec<Slot> {
        let p = Problem::new(i);
        run(&p, m, &Budget::new(Some(1), None))
    }

    #[test]
    fn simple_queue_keeps_generation_order_and_skips_what_does_not_fit() {
        // Capacity 5: d0 (3) starts, d1 (3) does not fit and is skipped, d2 (2) fits.
        let i = inst(vec![5], &[(2, 3, vec![]), (1, 3, vec![]), (4, 2, vec![])]);
        assert_eq!(plan(&i, QueueMethod::Simple), vec![0, 2, 0]);
    }

    #[test]
    fn descending_duration_starts_the_longest_first() {
        let i = inst(vec![3], &[(1, 3, vec![]), (3, 3, vec![]), (2, 3, vec![])]);
        assert_eq!(plan(&i, QueueMethod::DescendingDuration), vec![5, 0, 3]);
    }

    #[test]
    fn descending_chain_follows_the_longest_chain() {
        // d0 (4 slots) alone vs the chain d1 → d2 (2 + 3 = 5 slots): the chain goes first.
        let i = inst(vec![3], &[(4, 3, vec![]), (2, 3, vec![]), (3, 3, vec![1])]);
        assert_eq!(plan(&i, QueueMethod::DescendingDuration), vec![0, 4, 6]);
        assert_eq!(plan(&i, QueueMethod::DescendingChain), vec![5, 0, 2]);
        let p = Problem::new(&i);
        assert_eq!(chain_durations(&p), vec![4, 5, 5]);
    }

    #[test]
    fn checks_every_slot_of_the_run_under_varying_capacity() {
        // The dip at slot 2 blocks a 3-slot run from slot 0 or 1; it starts at slot 3.
        let i = inst(vec![4, 4, 1, 4], &[(3, 2, vec![])]);
        assert_eq!(plan(&i, QueueMethod::Simple), vec![3]);
    }
}
