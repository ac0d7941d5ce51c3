//! Lower bounds on the optimal makespan (placeholder: critical path only; being written).

use powerslot_core::Slot;

use crate::problem::Problem;

/// Lower bounds on the optimal makespan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bounds {
    /// Longest precedence chain (releases included).
    pub critical_path: Slot,
    /// Resource (energy) bound.
    pub resource: Slot,
    /// Cumulative bound for time-varying capacity.
    pub cumulative: Slot,
}

impl Bounds {
    /// The strongest of the bounds.
    pub fn best(&self) -> Slot {
        self.critical_path.max(self.resource).max(self.cumulative)
    }
}

/// Computes every bound.
pub fn compute(p: &Problem<'_>) -> Bounds {
    let cp = p
        .earliest_starts()
        .iter()
        .zip(&p.duration)
        .map(|(s, d)| s + d)
        .max()
        .unwrap_or(0);
    Bounds {
        critical_path: cp,
        resource: 0,
        cumulative: 0,
    }
}
