//! The paper's ant colony optimisation (placeholder body; being written).

use powerslot_core::Slot;

use crate::budget::Budget;
use crate::problem::Problem;

/// Parameters of the paper's ACO.
#[derive(Clone, Debug, PartialEq)]
pub struct AcoParams {
    /// Ants per iteration.
    pub ants: usize,
    /// Iterations.
    pub iterations: usize,
    /// Pheromone weight (eq. 1).
    pub alpha: f64,
    /// Heuristic weight (eq. 1).
    pub beta: f64,
    /// Evaporation rate (eq. 3, 4).
    pub rho: f64,
}

impl Default for AcoParams {
    fn default() -> Self {
        Self {
            ants: 10,
            iterations: 15,
            alpha: 1.0,
            beta: 1.0,
            rho: 0.1,
        }
    }
}

/// Runs the ACO.
pub fn run(p: &Problem<'_>, _params: &AcoParams, budget: &Budget, _seed: u64) -> Vec<Slot> {
    budget.spend_anyway(1);
    let mut sgs = crate::serial::SerialSgs::new(p);
    sgs.forward(p, &p.topo);
    sgs.starts
}
