//! What a fleet simulation is made of: a site (circuits, budget), devices with what they
//! really do slot by slot, and the knobs of the network. Scenario builders
//! ([`super::population`]) produce a [`Fleet`] from real traces; the engine
//! ([`super::engine`]) runs every mechanism on the same fleet.
//!
//! Every power is an integer number of milliwatts and every time a slot of the fleet's grid.

use powerslot_core::Slot;
use powerslot_protocol::{CircuitSpec, DeviceId, Priority};

/// A whole simulation input.
#[derive(Clone, Debug)]
pub struct Fleet {
    /// Scenario name (`neighbourhood`, `poe-switch`, `sensor-field`, or a file's name).
    pub name: String,
    /// Slot length, ms.
    pub slot_ms: u64,
    /// Slots simulated.
    pub slots: Slot,
    /// Seconds after local midnight at which slot 0 starts (for daily curves and plots).
    pub start_of_day_s: u32,
    /// The circuits, root first.
    pub circuits: Vec<CircuitSpec>,
    /// Where each circuit's capacity comes from (by circuit name; circuits not listed keep
    /// their rating).
    pub budgets: Vec<(String, BudgetSource)>,
    /// The devices.
    pub devices: Vec<SimDevice>,
    /// For peer mode: the circuits whose owners run their own auction (each owns its subtree
    /// and the share of the root given with it). Empty: every child of the root is an owner.
    pub owners: Vec<(String, i64)>,
    /// Where the data came from, for the report.
    pub provenance: Vec<String>,
}

impl Fleet {
    /// Per slot, the controllable devices' power in `mw` (per device in the fleet's order,
    /// then per slot) summed by class, lowest first (low, normal, high, critical): where a
    /// run or a schedule spent its room.
    pub fn controllable_by_class(&self, mw: &[Vec<f64>]) -> Vec<[f64; 4]> {
        let mut out = vec![[0.0; 4]; self.slots as usize];
        for (dev, mw) in self.devices.iter().zip(mw) {
            if matches!(dev.kind, SimKind::Base { .. }) {
                continue;
            }
            for (slot, &p) in out.iter_mut().zip(mw) {
                slot[dev.priority as usize] += p;
            }
        }
        out
    }

    /// The loads nobody controls hanging under circuit `c` of `tree` (built from this
    /// fleet's circuits), each as (real power per slot of the run, history before it), mW.
    pub fn uncontrolled_under<'a>(
        &'a self,
        tree: &'a powerslot_protocol::CircuitTree,
        c: powerslot_protocol::CircuitIx,
    ) -> impl Iterator<Item = (&'a [i64], &'a [i64])> + 'a {
        self.devices.iter().filter_map(move |d| match &d.kind {
            SimKind::Base {
                actual_mw,
                history_mw,
            } if tree
                .index_of(&d.circuit)
                .is_some_and(|dc| tree.covers(c, dc)) =>
            {
                Some((actual_mw.as_slice(), history_mw.as_slice()))
            }
            _ => None,
        })
    }

    /// The high class's elastic loads hanging under circuit `c`.
    fn high_elastic_under<'a>(
        &'a self,
        tree: &'a powerslot_protocol::CircuitTree,
        c: powerslot_protocol::CircuitIx,
    ) -> impl Iterator<Item = &'a SimDevice> + 'a {
        self.devices.iter().filter(move |d| {
            d.priority == Priority::High
                && matches!(d.kind, SimKind::Elastic { .. })
                && tree
                    .index_of(&d.circuit)
                    .is_some_and(|dc| tree.covers(c, dc))
        })
    }

    /// What the high class's elastic loads under circuit `c` say their load calls for in
    /// `slot` (their in-slot word), summed, mW. (Looks every device's circuit up by name:
    /// for a small fleet; the engine sums [`SimDevice::high_wanted_at`] on its own index.)
    pub fn high_wanted_under(
        &self,
        tree: &powerslot_protocol::CircuitTree,
        c: powerslot_protocol::CircuitIx,
        slot: Slot,
    ) -> i64 {
        self.high_elastic_under(tree, c)
            .map(|d| d.high_wanted_at(slot))
            .sum()
    }

    /// What the high class's elastic loads under circuit `c` called for over the days
    /// before the run, summed (mW per slot, ending where the run begins): the loads whose
    /// trace holds the longest history, scaled up by how many of them lack it. Empty where
    /// none has history.
    pub fn high_history_under(
        &self,
        tree: &powerslot_protocol::CircuitTree,
        c: powerslot_protocol::CircuitIx,
    ) -> Vec<i64> {
        let histories: Vec<&[i64]> = self
            .high_elastic_under(tree, c)
            .filter_map(|d| match &d.kind {
                SimKind::Elastic { history_mw, .. } => Some(history_mw.as_slice()),
                _ => None,
            })
            .collect();
        let len = histories.iter().map(|h| h.len()).max().unwrap_or(0);
        if len == 0 {
            return Vec::new();
        }
        let full: Vec<&[i64]> = histories
            .iter()
            .copied()
            .filter(|h| h.len() == len)
            .collect();
        let scale = histories.len() as f64 / full.len() as f64;
        (0..len)
            .map(|k| (full.iter().map(|h| h[k] as f64).sum::<f64>() * scale) as i64)
            .collect()
    }
}

/// How a circuit's capacity changes over the run.
#[derive(Clone, Debug, PartialEq)]
pub enum BudgetSource {
    /// The rating, always.
    Fixed,
    /// A capacity per slot (the last value holds).
    Curve(Vec<i64>),
    /// Solar plus battery: real production per slot (mW), predicted by the harvest crate's
    /// default predictor, with a battery bridging the difference and carrying energy into
    /// the night.
    SolarBattery(SolarBattery),
}

/// A solar array with a battery behind an inverter.
#[derive(Clone, Debug, PartialEq)]
pub struct SolarBattery {
    /// Real production per slot, mW (from a measured trace, scaled to the array).
    pub production_mw: Vec<i64>,
    /// Production per slot of the days before the run, for the predictor's history, mW.
    pub history_mw: Vec<i64>,
    /// Battery capacity, mWh.
    pub battery_mwh: i64,
    /// Energy kept in the battery at all times, mWh.
    pub reserve_mwh: i64,
    /// Energy in the battery at the start, mWh.
    pub initial_mwh: i64,
    /// Inverter rating (most the site can draw), mW.
    pub inverter_mw: i64,
    /// Grid connection, mW (0 for off-grid).
    pub grid_mw: i64,
}

impl SimDevice {
    /// What a high-class elastic load says its load calls for in `slot` (its in-slot word),
    /// mW; 0 for any other device.
    pub fn high_wanted_at(&self, slot: Slot) -> i64 {
        match &self.kind {
            SimKind::Elastic {
                desired_mw, max_mw, ..
            } if self.priority == Priority::High => desired_mw
                .get(slot as usize)
                .copied()
                .unwrap_or(0)
                .min(*max_mw),
            _ => 0,
        }
    }
}

/// One simulated device.
#[derive(Clone, Debug)]
pub struct SimDevice {
    /// Its id.
    pub id: DeviceId,
    /// The circuit it hangs from (by name).
    pub circuit: String,
    /// Its class.
    pub priority: Priority,
    /// Its port number (lower wins ties).
    pub port: u32,
    /// What it does.
    pub kind: SimKind,
    /// Where its behaviour came from (trace file and window), for the report.
    pub source: String,
}

/// What a device does.
#[derive(Clone, Debug)]
pub enum SimKind {
    /// Load nobody controls: its real power per slot, mW. It forecasts itself and the site
    /// takes the forecast off the budget.
    Base {
        /// Real power per slot of the run.
        actual_mw: Vec<i64>,
        /// Real power per slot before the run (its forecaster's history).
        history_mw: Vec<i64>,
    },
    /// Deferrable jobs, each asked for when it arrives.
    Jobs(Vec<SimJob>),
    /// An elastic load: wants `desired_mw[slot]` (capped at `max_mw`), can run on anything
    /// from `min_mw`, or be shed.
    Elastic {
        /// Lowest useful power when on.
        min_mw: i64,
        /// Most it can draw.
        max_mw: i64,
        /// What it would draw unconstrained, per slot.
        desired_mw: Vec<i64>,
        /// The same over the days before the run, ending where it begins (empty where the
        /// trace holds no such days): what the site's meter learns its usual day from.
        history_mw: Vec<i64>,
    },
}

/// A deferrable job.
#[derive(Clone, Debug, PartialEq)]
pub struct SimJob {
    /// The slot in which the device asks (the user starts it, the car plugs in).
    pub arrival: Slot,
    /// Earliest start.
    pub earliest: Slot,
    /// Deadline (exclusive): the user's "finished by".
    pub deadline: Slot,
    /// The latest end the device accepts when offered something outside its terms.
    pub accept_until: Slot,
    /// What the job is.
    pub work: Work,
}

/// What a job needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Work {
    /// An appliance cycle: its real power per slot of the run (what it will draw), and the
    /// cycles before it (its forecaster's history: the request is their P50/P90).
    Cycle {
        /// Real power per slot of this run, mW.
        actual_mw: Vec<i64>,
        /// Earlier runs of the same appliance, mW per slot.
        past_runs: Vec<Vec<i64>>,
        /// Whether it may pause.
        interruptible: bool,
    },
    /// Energy by the deadline at a power between a minimum and a maximum (an EV).
    Energy {
        /// Energy needed, mWh.
        energy_mwh: i64,
        /// Lowest charging power, mW.
        min_mw: i64,
        /// Highest charging power, mW.
        max_mw: i64,
    },
}

/// The network between devices and coordinators.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetConfig {
    /// One-way latency, ms (each delivery adds a uniform jitter of up to the same again,
    /// which also reorders messages).
    pub latency_ms: u64,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message is delivered twice.
    pub duplication: f64,
    /// A partition: from this minute of the run, for this many minutes, nothing crosses.
    pub partition: Option<(u64, u64)>,
    /// Fraction of devices that go offline once during the run, at a random time, for one
    /// to three hours (they neither send nor receive, and lose their grants at lease end).
    pub churn: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            latency_ms: 20,
            loss: 0.0,
            duplication: 0.0,
            partition: None,
            churn: 0.0,
        }
    }
}
