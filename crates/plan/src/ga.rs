//! The project's best planner (placeholder body; being written).

use powerslot_core::Slot;

use crate::budget::Budget;
use crate::problem::Problem;

/// Runs the genetic algorithm.
pub fn run(
    p: &Problem<'_>,
    budget: &Budget,
    _seed: u64,
    _threads: usize,
    _lower_bound: Slot,
) -> Vec<Slot> {
    budget.spend_anyway(1);
    let mut sgs = crate::serial::SerialSgs::new(p);
    sgs.forward(p, &p.topo);
    sgs.starts
}
