//! What a plan is judged by, and how the objectives combine.
//!
//! One objective is minimised; the others are reported. A non-money objective carries the
//! bill at a small weight ([`crate::milp`]'s `TIE_BREAK`), so among plans with the same
//! import, peak or makespan the cheapest wins. Start-up penalties and the value of optional
//! loads are added to every objective the way EMHASS adds them to its own, and so is the cost
//! of finishing past a soft deadline (tardiness, which EMHASS cannot express); the value of
//! energy a modulating load takes beyond its need ([`crate::day::ExtraEnergy`]) is taken off.

use std::str::FromStr;

use crate::check::{Figures, Plan, TOL_W};
use crate::day::Day;
use crate::milp::{TIE_BREAK, drop_cost};

/// The objective to minimise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Objective {
    /// The bill: import × import price − export × export price (EMHASS's `profit`).
    #[default]
    Cost,
    /// Energy drawn from the grid, kWh (self-consumption).
    Import,
    /// Highest grid import, kW.
    Peak,
    /// End of the last step any load runs in.
    Makespan,
}

impl FromStr for Objective {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cost" | "profit" => Ok(Self::Cost),
            "import" | "self-consumption" => Ok(Self::Import),
            "peak" => Ok(Self::Peak),
            "makespan" => Ok(Self::Makespan),
            _ => Err(format!(
                "unknown objective `{s}` (cost, import, peak, makespan)"
            )),
        }
    }
}

impl Objective {
    /// The value the programme minimises, computed from a plan's powers.
    pub(crate) fn value(
        self,
        day: &Day,
        plan: &Plan,
        f: &Figures,
        dropped: &[usize],
        drop: bool,
    ) -> f64 {
        let main = match self {
            Self::Cost => 0.0,
            Self::Import => f.import_kwh,
            Self::Peak => f.peak_import_w / 1000.0,
            Self::Makespan => f.makespan as f64,
        };
        let weight = if self == Self::Cost { 1.0 } else { TIE_BREAK };
        let mut v = main + weight * f.bill;
        for (k, l) in day.loads.iter().enumerate() {
            if dropped.contains(&k) {
                v += if drop && l.value.is_none() {
                    drop_cost(l)
                } else {
                    0.0
                };
                continue;
            }
            v -= l.value.unwrap_or(0.0);
            v -= l.extra_value(&plan.loads[k].1, day.step_h());
            v += l.tardiness_cost(&plan.loads[k].1);
            if l.startup_penalty > 0.0 {
                let p = &plan.loads[k].1;
                for t in 0..day.n_steps {
                    if p[t] > TOL_W && (t == 0 || p[t - 1] <= TOL_W) {
                        v += l.startup_penalty * l.max_power_w() * day.step_h() / 1000.0
                            * day.import_price[t];
                    }
                }
            }
        }
        v
    }
}
