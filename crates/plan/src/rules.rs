//! Schedule generation schemes with priority rules (placeholder body; being written).

use powerslot_core::Slot;

use crate::budget::Budget;
use crate::problem::Problem;

/// Serial or parallel schedule generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Task by task, each at its earliest feasible start.
    Serial,
    /// Slot by slot, starting eligible tasks while they fit.
    Parallel,
}

impl Scheme {
    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Serial => "serial",
            Scheme::Parallel => "parallel",
        }
    }
}

/// Classic priority rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriorityRule {
    /// Latest finish time first.
    Lft,
    /// Latest start time first.
    Lst,
    /// Most total successors.
    Mts,
    /// Greatest rank positional weight.
    Grpw,
    /// Uniform random sampling.
    Random,
}

impl PriorityRule {
    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            PriorityRule::Lft => "lft",
            PriorityRule::Lst => "lst",
            PriorityRule::Mts => "mts",
            PriorityRule::Grpw => "grpw",
            PriorityRule::Random => "random",
        }
    }
}

/// Runs the scheme with the rule.
pub fn run(
    p: &Problem<'_>,
    _scheme: Scheme,
    _rule: PriorityRule,
    budget: &Budget,
    _seed: u64,
) -> Vec<Slot> {
    budget.spend_anyway(1);
    let mut sgs = crate::serial::SerialSgs::new(p);
    sgs.forward(p, &p.topo);
    sgs.starts
}
