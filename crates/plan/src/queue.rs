//! The paper's queue methods (placeholder body; being written).

use powerslot_core::Slot;

use crate::budget::Budget;
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
}

/// Runs a queue method; one schedule.
pub fn run(p: &Problem<'_>, _method: QueueMethod, budget: &Budget) -> Vec<Slot> {
    budget.spend_anyway(1);
    let mut sgs = crate::serial::SerialSgs::new(p);
    sgs.forward(p, &p.topo);
    sgs.starts
}
