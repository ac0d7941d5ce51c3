//! The model of one day: forecasts, prices, grid limits, a battery and the deferrable loads.
//!
//! Loads are described in the negotiation protocol's own vocabulary
//! ([`powerslot_protocol::device::Demand`]) so that a home's day and a fleet's negotiation talk
//! about the same devices: an on/off appliance run is a `PowerProfile` (one block when it is not
//! `interruptible`, otherwise on/off steps with `min_on_slots` / `min_off_slots`), a modulating
//! load with an energy need (an EV, EMHASS's non-semi-continuous load) is an `EnergyTarget`.
//! What the protocol does not carry — the window on this day's grid, a cap on starts,
//! precedence, a start-up penalty, the value of an optional load — sits beside it in [`Load`].
//! Powers are watts as `f64` here (the instance format's unit); the `Demand` keeps milliwatts.

use std::ops::Range;

use powerslot_protocol::device::Demand;

/// One day on a regular grid of `n_steps` steps of `step_minutes`.
#[derive(Clone, Debug, PartialEq)]
pub struct Day {
    /// Local clock time of step 0, minutes after midnight (for printing only).
    pub start_minute: u32,
    /// Step length, minutes.
    pub step_minutes: u32,
    /// Number of steps.
    pub n_steps: usize,
    /// PV forecast per step, W.
    pub pv_w: Vec<f64>,
    /// Base (non-deferrable) load per step, W.
    pub base_load_w: Vec<f64>,
    /// Import price per step, currency/kWh.
    pub import_price: Vec<f64>,
    /// Export price per step, currency/kWh (what exporting earns).
    pub export_price: Vec<f64>,
    /// Largest import per step, W.
    pub grid_import_limit_w: Vec<f64>,
    /// Largest export per step, W.
    pub grid_export_limit_w: Vec<f64>,
    /// The home battery, if any.
    pub battery: Option<Battery>,
    /// The deferrable loads.
    pub loads: Vec<Load>,
    /// Loads that share a power budget or exclude each other.
    pub groups: Vec<Group>,
}

/// A home battery. Power is `+` when discharging (the driver's sign convention).
#[derive(Clone, Debug, PartialEq)]
pub struct Battery {
    /// Usable capacity, Wh.
    pub capacity_wh: f64,
    /// Largest charging power, W.
    pub charge_w: f64,
    /// Largest discharging power, W.
    pub discharge_w: f64,
    /// Share of charged energy stored.
    pub eff_charge: f64,
    /// Share of stored energy delivered.
    pub eff_discharge: f64,
    /// Lowest state of charge (0..1).
    pub soc_min: f64,
    /// Highest state of charge (0..1).
    pub soc_max: f64,
    /// State of charge at the start of the day.
    pub soc_init: f64,
    /// Least state of charge at the end of the day (a hard target here).
    pub soc_final: f64,
}

/// One deferrable load.
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    /// Its name, unique in the day.
    pub name: String,
    /// What it needs, in the protocol's vocabulary.
    pub demand: Demand,
    /// Steps it may run in (end exclusive).
    pub window: Range<usize>,
    /// Most starts (0 = no cap). A non-interruptible profile always has one.
    pub max_starts: u32,
    /// Cost of each start as a multiple of one step of the load's energy at the import price.
    pub startup_penalty: f64,
    /// `Some(v)`: optional, run only when its bill is below the value `v` (currency).
    pub value: Option<f64>,
    /// Loads (indices into [`Day::loads`]) that must have finished before this one starts.
    pub after: Vec<usize>,
    /// A soft deadline: the step the load should have finished by (end exclusive, inside the
    /// window, whose end stays the hard deadline), and what each step later costs (currency).
    pub due: Option<SoftDeadline>,
    /// When not every load fits the day, loads of lower priority are dropped first (0 = the
    /// lowest, the default).
    pub priority: u32,
    /// A modulating load that needs *at least* its energy may take more when it pays.
    pub extra: Option<ExtraEnergy>,
}

/// Energy a modulating load may take beyond what it needs (EMHASS's loads take exactly their
/// operating hours × nominal power): an EV that needs 10 kWh by morning but would take up to
/// 25 kWh of cheap or solar energy, a water tank that can store more heat.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExtraEnergy {
    /// Most energy beyond the need, Wh.
    pub wh: f64,
    /// What each kWh beyond the need is worth, currency (taken only where it costs less).
    pub value_per_kwh: f64,
}

/// A soft deadline (EMHASS's window ends are hard only).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftDeadline {
    /// The load should have finished by the start of this step.
    pub step: usize,
    /// Cost of each step it finishes later, currency.
    pub cost_per_step: f64,
}

/// Which shape of decision a load is, derived from its [`Demand`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// On at `power_w` for `steps` consecutive steps.
    Block {
        /// Power when on, W.
        power_w: f64,
        /// Run length, steps.
        steps: usize,
    },
    /// On at `power_w` for `steps` steps in total, in any number of runs.
    Steps {
        /// Power when on, W.
        power_w: f64,
        /// Steps on in total.
        steps: usize,
        /// Shortest run.
        min_on: usize,
        /// Shortest pause between runs.
        min_off: usize,
    },
    /// Any power in `{0} ∪ [min_w, max_w]`, `energy_wh` in total.
    Energy {
        /// Energy needed, Wh.
        energy_wh: f64,
        /// Lowest power when on, W.
        min_w: f64,
        /// Highest power, W.
        max_w: f64,
    },
}

impl Load {
    /// The decision shape of this load.
    pub fn kind(&self) -> Kind {
        match &self.demand {
            Demand::PowerProfile {
                profile,
                interruptible,
                min_on_slots,
                min_off_slots,
            } => {
                let power_w = profile.first().map_or(0.0, |v| v.p90_mw as f64 / 1000.0);
                if *interruptible {
                    Kind::Steps {
                        power_w,
                        steps: profile.len(),
                        min_on: *min_on_slots as usize,
                        min_off: *min_off_slots as usize,
                    }
                } else {
                    Kind::Block {
                        power_w,
                        steps: profile.len(),
                    }
                }
            }
            Demand::EnergyTarget {
                energy_mwh,
                min_mw,
                max_mw,
            } => Kind::Energy {
                energy_wh: *energy_mwh as f64 / 1000.0,
                min_w: *min_mw as f64 / 1000.0,
                max_w: *max_mw as f64 / 1000.0,
            },
            // The reader builds only the two kinds above.
            _ => Kind::Energy {
                energy_wh: 0.0,
                min_w: 0.0,
                max_w: 0.0,
            },
        }
    }

    /// Highest power the load ever draws, W.
    pub fn max_power_w(&self) -> f64 {
        match self.kind() {
            Kind::Block { power_w, .. } | Kind::Steps { power_w, .. } => power_w,
            Kind::Energy { max_w, .. } => max_w,
        }
    }

    /// Steps past its soft deadline that a load running with power `p` finishes (0 without one).
    pub fn lateness(&self, p: &[f64]) -> usize {
        match (self.due, p.iter().rposition(|x| *x > crate::check::TOL_W)) {
            (Some(d), Some(last)) => (last + 1).saturating_sub(d.step),
            _ => 0,
        }
    }

    /// What the soft deadline costs a load running with power `p`, currency.
    pub fn tardiness_cost(&self, p: &[f64]) -> f64 {
        self.due
            .map_or(0.0, |d| d.cost_per_step * self.lateness(p) as f64)
    }

    /// Most energy the load may take, Wh: its need plus any [`ExtraEnergy`].
    pub fn max_energy_wh(&self, step_h: f64) -> f64 {
        self.energy_wh(step_h) + self.extra.map_or(0.0, |x| x.wh)
    }

    /// What the energy a load takes beyond its need is worth, currency (0 without extra).
    pub fn extra_value(&self, p: &[f64], step_h: f64) -> f64 {
        self.extra.map_or(0.0, |x| {
            let beyond = p.iter().sum::<f64>() * step_h - self.energy_wh(step_h);
            x.value_per_kwh * beyond.max(0.0) / 1000.0
        })
    }

    /// Energy the load needs, Wh, on a grid of `step_h` hours.
    pub fn energy_wh(&self, step_h: f64) -> f64 {
        match self.kind() {
            Kind::Block { power_w, steps } | Kind::Steps { power_w, steps, .. } => {
                power_w * steps as f64 * step_h
            }
            Kind::Energy { energy_wh, .. } => energy_wh,
        }
    }
}

/// Loads sharing a power budget and/or excluding each other.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// Indices into [`Day::loads`].
    pub loads: Vec<usize>,
    /// Largest total power of the group, W.
    pub max_power_w: Option<f64>,
    /// At most one of the group's loads on at a time.
    pub mutual_exclusion: bool,
}

impl Day {
    /// Step length in hours.
    pub fn step_h(&self) -> f64 {
        f64::from(self.step_minutes) / 60.0
    }

    /// Clock time at the start of step `t`, `HH:MM` (`+1d` past midnight of the next day).
    pub fn clock(&self, t: usize) -> String {
        let m = self.start_minute as usize + t * self.step_minutes as usize;
        let (d, m) = (m / 1440, m % 1440);
        let hm = format!("{:02}:{:02}", m / 60, m % 60);
        match d {
            0 => hm,
            // The end of the last step of a day that starts at midnight reads 24:00.
            1 if m == 0 => "24:00".to_string(),
            d => format!("{hm}+{d}d"),
        }
    }

    /// Index of the load called `name`.
    pub fn load_index(&self, name: &str) -> Option<usize> {
        self.loads.iter().position(|l| l.name == name)
    }
}
