//! The discrete-event engine: the protocol's machines on a simulated network, the devices'
//! real behaviour, the budget sources and the battery, and the measurements.
//!
//! One run = one mechanism on one fleet. Each step takes the earliest pending thing — a
//! delivery, a store becoming durable, a machine's timer, a slot boundary — ties broken by
//! insertion order, lets the machine concerned handle it, drains the machine's outputs and
//! carries them out (sends go through the [`Network`], stores become durable after a short
//! latency, timers are re-armed). In the middle of every slot the engine reads what every
//! device may draw (its agent's limit under the safe rule) and what it really draws, and
//! checks the invariants:
//!
//! * **grants fit:** on every circuit, what the devices may draw plus what is reserved for
//!   uncontrollable load is at most the capacity published for that slot
//!   (`budget_violations` counts the circuit-slots where it is not);
//! * **store before announce:** every award or instruction that reaches the network was
//!   durable in its coordinator's ledger first;
//! * **no livelock:** a run that needs more than a bounded number of events stops with its
//!   seed.
//!
//! The same seed gives the same run.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::Instant as WallClock;

use powerslot_core::Slot;
use powerslot_forecast::model::{FitOptions, FittedModel, ModelSpec};
use powerslot_forecast::series::TimeSeries;
use powerslot_protocol::agent::{Agent, AgentConfig, AgentInput, AgentMode, Need};
use powerslot_protocol::coordinator::{
    CoordInput, Coordinator, CoordinatorConfig, DeviceRecord, Mechanism as CoordMechanism,
    UncontrolledLoad,
};
use powerslot_protocol::msg::{Body, Envelope, RequestId};
use powerslot_protocol::output::{Event, Output, Record};
use powerslot_protocol::{
    CircuitIx, CircuitSpec, CircuitTree, Demand, Instant, PowerValue, Priority, SlotClock,
};

use super::budget::{BatteryPhysics, Publisher};
use super::model::{BudgetSource, Fleet, NetConfig, SimKind, Work};
use super::net::{Fate, Network};
use crate::SimError;

/// The mechanisms compared (see the negotiation issue).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanism {
    /// Every device runs when it wants.
    Uncoordinated,
    /// The seed's pseudocode as written, in peer mode.
    SeedRule,
    /// A PowerMatcher-style market, slot by slot.
    OneShotMarket,
    /// The project's mechanism with a coordinator.
    Powerslot,
    /// The project's mechanism without one: each owner of power runs it for its circuits.
    PowerslotPeer,
}

impl Mechanism {
    /// Every mechanism, in report order.
    pub const ALL: [Mechanism; 5] = [
        Mechanism::Uncoordinated,
        Mechanism::SeedRule,
        Mechanism::OneShotMarket,
        Mechanism::Powerslot,
        Mechanism::PowerslotPeer,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Uncoordinated => "uncoordinated",
            Mechanism::SeedRule => "seed-rule",
            Mechanism::OneShotMarket => "one-shot-market",
            Mechanism::Powerslot => "powerslot",
            Mechanism::PowerslotPeer => "powerslot-peer",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == s.trim())
    }

    fn coord_mechanism(self) -> CoordMechanism {
        match self {
            Mechanism::SeedRule => CoordMechanism::SeedRule,
            Mechanism::OneShotMarket => CoordMechanism::OneShotMarket,
            _ => CoordMechanism::Auction,
        }
    }

    fn agent_mode(self) -> AgentMode {
        match self {
            Mechanism::Uncoordinated => AgentMode::Uncoordinated,
            Mechanism::SeedRule | Mechanism::OneShotMarket => AgentMode::PerSlot,
            Mechanism::Powerslot | Mechanism::PowerslotPeer => AgentMode::Negotiate,
        }
    }
}

/// How a run is set up.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The network.
    pub net: NetConfig,
    /// Seed of the network, the jitter and the forecasters.
    pub seed: u64,
    /// Slots the coordinators plan ahead.
    pub horizon_slots: u32,
    /// Lease of a grant, slots.
    pub lease_slots: u32,
    /// Firm window of the budget, slots.
    pub firm_slots: u32,
    /// The forecaster every uncontrollable load runs (a `powerslot-forecast` model name).
    pub forecaster: String,
    /// Time until a ledger write is durable, ms.
    pub store_latency_ms: u64,
    /// What the devices and the budget publisher know of the future (a diagnostic: how much
    /// of a mechanism's distance from the central reference is information).
    pub foresight: Foresight,
}

/// What the mechanisms are told of the future. The central reference knows everything;
/// running a mechanism with more foresight separates what it loses for want of information
/// from what it loses by its rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Foresight {
    /// As deployed: forecasters, and jobs known when they arrive.
    #[default]
    None,
    /// Every forecast is the real future: the households' load, the elastic loads' wish, an
    /// appliance's cycle and the solar production (the publisher then needs no margin for a
    /// bad day or for the meter's usual night).
    Forecasts,
    /// Perfect forecasts, and every job asked as soon as its whole window lies inside the
    /// coordinator's horizon (or at the start), not when it arrives.
    Full,
}

impl Foresight {
    /// Parses `none`, `forecasts` or `full`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "forecasts" => Some(Self::Forecasts),
            "full" => Some(Self::Full),
            _ => None,
        }
    }

    /// `none`, `forecasts` or `full`.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Forecasts => "forecasts",
            Self::Full => "full",
        }
    }

    /// Whether forecasts are the real future.
    pub fn forecasts(self) -> bool {
        self != Self::None
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            net: NetConfig::default(),
            seed: 1,
            horizon_slots: 0,
            lease_slots: 2,
            firm_slots: 2,
            forecaster: "seasonal-naive".into(),
            store_latency_ms: 2,
            foresight: Foresight::None,
        }
    }
}

/// Per-slot series of the root circuit, for figures (W).
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Capacity published for the slot.
    pub capacity_w: Vec<f64>,
    /// What devices may draw plus reservations for uncontrollable load.
    pub allocated_w: Vec<f64>,
    /// What was really drawn.
    pub measured_w: Vec<f64>,
    /// Energy in the battery, Wh (solar-and-battery sites).
    pub battery_wh: Vec<f64>,
}

/// What one mechanism did on one fleet.
#[derive(Clone, Debug, Default)]
pub struct MechResult {
    /// Mechanism name.
    pub name: String,
    /// Circuit-slots where grants plus reservations exceeded the capacity.
    pub budget_violations: u64,
    /// Circuit-slots where the reservations for uncontrollable load alone exceed the
    /// capacity (not a grant's doing; reported apart).
    pub uncontrollable_overloads: u64,
    /// Largest excess of measured load over capacity on any circuit, W.
    pub max_overshoot_w: f64,
    /// Highest load on the root circuit, W.
    pub peak_w: f64,
    /// Energy served to controllable devices, kWh.
    pub energy_served_kwh: f64,
    /// Of which to elastic loads, kWh.
    pub elastic_served_kwh: f64,
    /// Granted to controllable devices but not drawn (a grant above what the device
    /// wanted in its slot), kWh: capacity the allocation held and nobody used (0 for
    /// `uncoordinated`, which grants nothing).
    pub granted_not_drawn_kwh: f64,
    /// Energy asked but not served by its deadline, kWh.
    pub unmet_kwh: f64,
    /// Jobs not finished by their deadline.
    pub deadline_misses: u64,
    /// Jobs in the run.
    pub jobs: u64,
    /// Welfare ([`powerslot_protocol::welfare`]), net of the value of lost load.
    pub welfare: f64,
    /// Welfare by class, lowest first ([`Priority::ALL`]'s order): where it was won or lost.
    pub welfare_by_class: [f64; 4],
    /// Rounds per request.
    pub rounds: Vec<u32>,
    /// Negotiation messages per request (both directions, retransmissions included).
    pub messages_per_request: Vec<u32>,
    /// Jain's index of the served share among elastic loads of the most common class.
    pub jain: f64,
    /// Switch-ons per controllable device.
    pub starts_per_device: f64,
    /// Awarded slots moved or cut without consent.
    pub committed_moves: u64,
    /// Non-interruptible runs broken off because their power stopped (the run is lost).
    pub jobs_cut: u64,
    /// Wall time of the coordinator per negotiation round, ms (mean).
    pub coordinator_ms_per_round: f64,
    /// Negotiation rounds (batches) run.
    pub batches: u64,
    /// Elastic grants the timeslot manager topped up inside their running slot from the
    /// spare (what others said they leave undrawn, and what was free).
    pub spare_handouts: u64,
    /// Every message sent (negotiation, telemetry, heartbeats, leases).
    pub messages_total: u64,
    /// Awards or instructions announced before their store was durable (must be 0).
    pub unstored_announcements: u64,
    /// Messages refused for security reasons.
    pub security_rejects: u64,
    /// Devices that fell back to their safe rule at least once.
    pub fallbacks: u64,
    /// Slots in which the real battery could not serve the load.
    pub blackout_slots: u32,
    /// Energy nobody could serve, kWh.
    pub unserved_kwh: f64,
    /// The part of it the load nobody controls (the households' own) went without, kWh:
    /// what a blackout cost beyond the controllable loads' share.
    pub household_unserved_kwh: f64,
    /// The same per slot, mW (mean over the slot).
    pub household_unserved_mw: Vec<f64>,
    /// Events processed.
    pub events: u64,
    /// Slots at which a coordinator's book held less than its grants (checked in debug
    /// builds on small fleets; must be 0).
    pub audit_failures: u64,
    /// Per device, in the fleet's order: what it asked, got and was worth.
    pub devices: Vec<DeviceOutcome>,
    /// Root series for figures.
    pub series: Series,
    /// Per circuit and slot: what was reserved for uncontrollable load (mW), for the
    /// central reference.
    pub reserved_mw: Vec<Vec<i64>>,
    /// Per circuit and slot: the capacity published (mW).
    pub capacity_mw: Vec<Vec<i64>>,
    /// Per device and slot: the power credited to it after blackouts (mW; 0 for load
    /// nobody controls), so that the run can be checked against the central reference's
    /// model ([`super::central::audit`]).
    pub credited_mw: Vec<Vec<f64>>,
}

/// What one device asked and got in a run (uncontrollable load: both its draw, no welfare).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DeviceOutcome {
    /// Energy asked: the jobs' energy, or what an elastic load wanted at its maximum, kWh.
    pub asked_kwh: f64,
    /// Energy that counted: jobs finished by their deadline (an energy target: what was
    /// delivered inside its window), an elastic load's draw, kWh.
    pub served_kwh: f64,
    /// Welfare ([`powerslot_protocol::welfare`]).
    pub welfare: f64,
    /// Jobs not finished by their deadline.
    pub deadline_misses: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Slot(u32),
    Mid(u32),
    Measure(u32),
    CoordTimer(u32),
    AgentTimer(u32),
    ToCoord(u32, u32),
    ToAgent(u32, u32),
    StoreDone(u32, u64),
}

/// A device's job as it really runs.
#[derive(Clone, Debug)]
struct JobRun {
    dev: usize,
    job: usize,
    request: Option<RequestId>,
    progress: usize,
    delivered_mwh: f64,
    finished_at: Option<Slot>,
    /// A non-interruptible cycle that lost its power mid-run: the run is lost (a washer
    /// cannot pause with wet laundry), it counts nothing and draws no more.
    broken: bool,
    released: bool,
}

struct Owner {
    coord: Coordinator,
    /// Global circuit index → local index in this owner's tree.
    local: HashMap<CircuitIx, CircuitIx>,
    /// Local index → global.
    global: Vec<CircuitIx>,
    /// Weight of this owner in the split of the root's capacity, per mille (peer mode).
    share: i64,
    /// Peer mode: this owner's part of the shared root as published, per slot of the run
    /// (`i64::MIN` before publishing).
    part: Vec<i64>,
    armed: u64,
    pending_stores: Vec<(u64, (u32, RequestId, u32))>,
    durable: HashSet<(u32, RequestId, u32)>,
}

/// Runs one mechanism on a fleet. `progress` is called with each slot done.
pub fn run(
    fleet: &Fleet,
    mech: Mechanism,
    cfg: &RunConfig,
    progress: &mut dyn FnMut(u32),
) -> Result<MechResult, SimError> {
    let mut sim = Sim::new(fleet, mech, cfg)?;
    sim.run(progress)?;
    Ok(sim.finish())
}

struct Sim<'a> {
    fleet: &'a Fleet,
    cfg: &'a RunConfig,
    mech: Mechanism,
    tree: CircuitTree,
    dev_circuit: Vec<CircuitIx>,
    owners: Vec<Owner>,
    owner_of: Vec<usize>,
    agents: Vec<Agent>,
    agent_armed: Vec<u64>,
    dev_of: HashMap<powerslot_protocol::DeviceId, usize>,
    net: Network,
    heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    msgs: Vec<Option<Envelope>>,
    free_msgs: Vec<u32>,
    now: u64,
    publishers: Vec<(CircuitIx, Publisher)>,
    battery: Option<BatteryPhysics>,
    forecasters: HashMap<usize, FittedModel>,
    jobs: Vec<JobRun>,
    /// Per device: indices into `jobs`.
    dev_jobs: Vec<Vec<usize>>,
    /// Per base load: the end of the forecast windows it has asked for. Like the server's
    /// agent, it asks for one window of its uncontrollable load after another, each where the
    /// last ends (the next before the last ends), and its telemetry forecasts stay inside
    /// them.
    forecast_until: Vec<Slot>,
    arrivals: Vec<Vec<usize>>,
    draw: Vec<i64>,
    last_draw: Vec<i64>,
    starts: Vec<u32>,
    elastic_served: Vec<f64>,
    elastic_desired: Vec<f64>,
    cap_exec: Vec<Vec<i64>>,
    reserved: Vec<Vec<i64>>,
    res: MechResult,
    msg_count: HashMap<(u32, RequestId), u32>,
    coord_ms: f64,
    fallback_devs: HashSet<usize>,
    max_events: u64,
}

impl<'a> Sim<'a> {
    fn new(fleet: &'a Fleet, mech: Mechanism, cfg: &'a RunConfig) -> Result<Self, SimError> {
        let bad = |m: String| SimError::BadParameter(m);
        let tree =
            CircuitTree::new(fleet.circuits.clone()).map_err(|e| bad(format!("circuits: {e}")))?;
        let clock = SlotClock::new(Instant(0), fleet.slot_ms);
        let horizon = if cfg.horizon_slots == 0 {
            (86_400_000 / fleet.slot_ms.max(1)).max(1) as u32
        } else {
            cfg.horizon_slots
        };
        let mut dev_circuit = Vec::with_capacity(fleet.devices.len());
        let mut dev_of = HashMap::new();
        for (i, d) in fleet.devices.iter().enumerate() {
            let c = tree.index_of(&d.circuit).ok_or_else(|| {
                bad(format!(
                    "device {} hangs from unknown circuit '{}'",
                    d.id, d.circuit
                ))
            })?;
            dev_circuit.push(c);
            if dev_of.insert(d.id.clone(), i).is_some() {
                return Err(bad(format!("device id {} is used twice", d.id)));
            }
        }
        // Owners: one coordinator for the whole tree, or (peer mode) one per child of the
        // root (or as the fleet says), each over its subtree with a share of the root.
        let owner_roots: Vec<(CircuitIx, i64)> = if mech == Mechanism::PowerslotPeer {
            if fleet.owners.is_empty() {
                let children: Vec<CircuitIx> = (1..tree.len() as CircuitIx)
                    .filter(|&c| tree.parent(c) == Some(0))
                    .collect();
                let total: i64 = children.iter().map(|&c| tree.rating(c)).sum::<i64>().max(1);
                children
                    .iter()
                    .map(|&c| (c, tree.rating(c) * 1000 / total))
                    .collect()
            } else {
                fleet
                    .owners
                    .iter()
                    .map(|(name, share)| {
                        tree.index_of(name)
                            .map(|c| (c, *share))
                            .ok_or_else(|| bad(format!("owner circuit '{name}' does not exist")))
                    })
                    .collect::<Result<_, _>>()?
            }
        } else if mech == Mechanism::Uncoordinated {
            Vec::new()
        } else {
            vec![(0, 1000)]
        };
        if mech == Mechanism::PowerslotPeer && owner_roots.is_empty() {
            return Err(bad(
                "peer mode needs circuits below the root to own power".into()
            ));
        }
        let mut owner_of = vec![usize::MAX; fleet.devices.len()];
        let mut owners = Vec::new();
        for (o, &(root, share)) in owner_roots.iter().enumerate() {
            // The subtree of `root`, root first.
            let members: Vec<CircuitIx> = (0..tree.len() as CircuitIx)
                .filter(|&c| tree.covers(root, c))
                .collect();
            let specs: Vec<CircuitSpec> = members
                .iter()
                .map(|&c| CircuitSpec {
                    name: tree.name(c).into(),
                    parent: if c == root {
                        None
                    } else {
                        tree.parent(c).map(|p| tree.name(p).into())
                    },
                    rating_mw: tree.rating(c),
                })
                .collect();
            let sub = CircuitTree::new(specs).map_err(|e| bad(format!("owner subtree: {e}")))?;
            let mut local = HashMap::new();
            let mut global = vec![0; sub.len()];
            for &c in &members {
                let l = sub.index_of(tree.name(c)).expect("same names");
                local.insert(c, l);
                global[l as usize] = c;
            }
            let mut records = Vec::new();
            for (i, d) in fleet.devices.iter().enumerate() {
                let c = dev_circuit[i];
                // Devices on the root itself go to the first owner (peer mode).
                let mine = local
                    .get(&c)
                    .copied()
                    .or_else(|| (o == 0 && c == 0).then_some(0));
                if let Some(l) = mine {
                    owner_of[i] = owners.len();
                    records.push(DeviceRecord {
                        id: d.id.clone(),
                        circuit: l,
                        max_priority: d.priority,
                        port: d.port,
                        // Load nobody controls is registered at a rating: the most it was
                        // seen to draw, and a fifth more.
                        standing_mw: match &d.kind {
                            SimKind::Base { history_mw, .. } => {
                                history_mw.iter().copied().max().unwrap_or(0) * 6 / 5
                            }
                            _ => 0,
                        },
                    });
                }
            }
            let mut ccfg = CoordinatorConfig::new(sub, clock, records);
            ccfg.horizon_slots = horizon;
            ccfg.lease_slots = cfg.lease_slots;
            ccfg.firm_slots = cfg.firm_slots.max(cfg.lease_slots);
            if mech == Mechanism::PowerslotPeer {
                // What an owner reserves for a slot is final one budget before its part of
                // the root freezes there (see `publish_budgets`).
                ccfg.rebook_slots = ccfg.firm_slots + 1;
            }
            ccfg.mechanism = mech.coord_mechanism();
            // Simulated devices are honest; the rate limit is the service's concern.
            ccfg.rate_per_minute = 1_000_000;
            ccfg.rate_burst = 1_000_000;
            let coord = Coordinator::new(ccfg, Instant(0), None)
                .map_err(|e| bad(format!("coordinator: {e}")))?;
            owners.push(Owner {
                coord,
                local,
                global,
                share,
                part: vec![i64::MIN; fleet.slots as usize + horizon as usize + 1],
                armed: u64::MAX,
                pending_stores: Vec::new(),
                durable: HashSet::new(),
            });
        }
        if mech != Mechanism::Uncoordinated
            && let Some(i) = owner_of.iter().position(|&o| o == usize::MAX)
        {
            return Err(bad(format!(
                "device {} is under no owner of power",
                fleet.devices[i].id
            )));
        }
        let agents: Vec<Agent> = fleet
            .devices
            .iter()
            .map(|d| {
                let mut ac = AgentConfig::new(d.id.clone(), clock);
                ac.mode = match d.kind {
                    SimKind::Base { .. } if mech != Mechanism::Uncoordinated => {
                        AgentMode::Negotiate
                    }
                    _ => mech.agent_mode(),
                };
                Agent::new(ac, Instant(0), 0)
            })
            .collect();
        let run_ms = u64::from(fleet.slots) * fleet.slot_ms;
        let net = Network::new(cfg.net, fleet.devices.len(), run_ms, cfg.seed);
        let mut publishers = Vec::new();
        let mut battery = None;
        for (name, src) in &fleet.budgets {
            let c = tree
                .index_of(name)
                .ok_or_else(|| bad(format!("budget for unknown circuit '{name}'")))?;
            if let BudgetSource::SolarBattery(sb) = src
                && c == 0
            {
                battery = Some(BatteryPhysics::new(sb, fleet.slot_ms));
            }
            // The site meter's history of the load nobody controls under `c`: the sum of
            // its households' histories, aligned on the run's start.
            let mut meter: Vec<i64> = Vec::new();
            for (_, history_mw) in fleet.uncontrolled_under(&tree, c) {
                if history_mw.len() > meter.len() {
                    let mut longer = vec![0; history_mw.len() - meter.len()];
                    longer.extend_from_slice(&meter);
                    meter = longer;
                }
                let off = meter.len() - history_mw.len();
                for (m, &p) in meter[off..].iter_mut().zip(history_mw) {
                    *m += p;
                }
            }
            publishers.push((
                c,
                Publisher::new(
                    src.clone(),
                    tree.rating(c),
                    fleet.slot_ms,
                    horizon,
                    cfg.firm_slots,
                    fleet.slots,
                )
                .with_uncontrolled_history(&meter)
                .with_high_history(&fleet.high_history_under(&tree, c))
                .with_foresight(cfg.foresight.forecasts()),
            ));
        }
        // Jobs and their arrivals.
        let mut jobs = Vec::new();
        let mut dev_jobs = vec![Vec::new(); fleet.devices.len()];
        let mut arrivals = vec![Vec::new(); fleet.slots as usize + 1];
        for (i, d) in fleet.devices.iter().enumerate() {
            if let SimKind::Jobs(list) = &d.kind {
                for (j, job) in list.iter().enumerate() {
                    if job.arrival >= fleet.slots {
                        continue;
                    }
                    dev_jobs[i].push(jobs.len());
                    let asked = if cfg.foresight == Foresight::Full {
                        // The whole window inside the horizon, with two slots to spare.
                        let reach = horizon.saturating_sub(2);
                        job.deadline.saturating_sub(reach).min(job.arrival)
                    } else {
                        job.arrival
                    };
                    arrivals[asked as usize].push(jobs.len());
                    jobs.push(JobRun {
                        dev: i,
                        job: j,
                        request: None,
                        progress: 0,
                        delivered_mwh: 0.0,
                        finished_at: None,
                        broken: false,
                        released: false,
                    });
                }
            }
        }
        let n = fleet.devices.len();
        let slots = fleet.slots as usize;
        let max_events =
            20_000 * (n as u64 + 10) * u64::from(fleet.slots).div_ceil(96).max(1) + 10_000_000;
        Ok(Self {
            fleet,
            cfg,
            mech,
            dev_circuit,
            owners,
            owner_of,
            agent_armed: vec![u64::MAX; agents.len()],
            agents,
            dev_of,
            net,
            heap: BinaryHeap::new(),
            seq: 0,
            msgs: Vec::new(),
            free_msgs: Vec::new(),
            now: 0,
            publishers,
            battery,
            forecasters: HashMap::new(),
            jobs,
            dev_jobs,
            forecast_until: vec![0; n],
            arrivals,
            draw: vec![0; n],
            last_draw: vec![0; n],
            starts: vec![0; n],
            elastic_served: vec![0.0; n],
            elastic_desired: vec![0.0; n],
            cap_exec: vec![vec![0; slots]; tree.len()],
            reserved: vec![vec![0; slots]; tree.len()],
            tree,
            res: MechResult {
                name: mech.name().into(),
                credited_mw: vec![vec![0.0; slots]; n],
                household_unserved_mw: vec![0.0; slots],
                ..MechResult::default()
            },
            msg_count: HashMap::new(),
            coord_ms: 0.0,
            fallback_devs: HashSet::new(),
            max_events,
        })
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, ev)));
    }

    fn stash(&mut self, env: Envelope) -> u32 {
        match self.free_msgs.pop() {
            Some(i) => {
                self.msgs[i as usize] = Some(env);
                i
            }
            None => {
                self.msgs.push(Some(env));
                (self.msgs.len() - 1) as u32
            }
        }
    }

    fn take(&mut self, i: u32) -> Envelope {
        self.free_msgs.push(i);
        self.msgs[i as usize].take().expect("message slot in use")
    }

    fn run(&mut self, progress: &mut dyn FnMut(u32)) -> Result<(), SimError> {
        self.setup_forecasters()?;
        let slot_ms = self.fleet.slot_ms;
        for s in 0..self.fleet.slots {
            let t = u64::from(s) * slot_ms;
            self.push(t, Ev::Slot(s));
            self.push(t + slot_ms / 2, Ev::Mid(s));
            self.push(t + slot_ms * 9 / 10, Ev::Measure(s));
        }
        for o in 0..self.owners.len() {
            self.drain_coord(o)?;
        }
        for d in 0..self.agents.len() {
            self.drain_agent(d);
        }
        let end = u64::from(self.fleet.slots) * slot_ms;
        while let Some(Reverse((at, _, ev))) = self.heap.pop() {
            if at >= end {
                break;
            }
            self.res.events += 1;
            if self.res.events > self.max_events {
                return Err(SimError::BadParameter(format!(
                    "the run needed more than {} events (livelock?); seed {}",
                    self.max_events, self.cfg.seed
                )));
            }
            self.now = at;
            let now = Instant(at);
            match ev {
                Ev::Slot(s) => self.on_slot(s)?,
                Ev::Mid(s) => self.on_mid(s),
                Ev::Measure(s) => {
                    self.on_measure(s);
                    progress(s + 1);
                }
                Ev::CoordTimer(o) => {
                    let o = o as usize;
                    if self.owners[o].armed == at {
                        self.owners[o].armed = u64::MAX;
                        let w = WallClock::now();
                        self.owners[o].coord.handle_timeout(now);
                        self.coord_ms += w.elapsed().as_secs_f64() * 1e3;
                        self.drain_coord(o)?;
                    }
                }
                Ev::AgentTimer(d) => {
                    let d = d as usize;
                    if self.agent_armed[d] == at {
                        self.agent_armed[d] = u64::MAX;
                        self.agents[d].handle_timeout(now);
                        self.drain_agent(d);
                    }
                }
                Ev::ToCoord(o, m) => {
                    let env = self.take(m);
                    let w = WallClock::now();
                    let r = self.owners[o as usize]
                        .coord
                        .handle(now, CoordInput::Message(env));
                    self.coord_ms += w.elapsed().as_secs_f64() * 1e3;
                    if r.is_err() {
                        // Replays of duplicated messages land here; counted from events.
                    }
                    self.drain_coord(o as usize)?;
                }
                Ev::ToAgent(d, m) => {
                    let env = self.take(m);
                    self.agents[d as usize].handle(now, AgentInput::Message(env));
                    self.drain_agent(d as usize);
                }
                Ev::StoreDone(o, seq) => {
                    let ow = &mut self.owners[o as usize];
                    let (done, keep): (Vec<_>, Vec<_>) =
                        ow.pending_stores.drain(..).partition(|(s, _)| *s <= seq);
                    ow.pending_stores = keep;
                    for (_, k) in done {
                        ow.durable.insert(k);
                    }
                    ow.coord
                        .handle(now, CoordInput::StoreDone(seq))
                        .map_err(|e| SimError::BadParameter(format!("store: {e}")))?;
                    self.drain_coord(o as usize)?;
                }
            }
        }
        Ok(())
    }

    fn setup_forecasters(&mut self) -> Result<(), SimError> {
        if self.mech == Mechanism::Uncoordinated {
            return Ok(());
        }
        let spec = ModelSpec::parse(&self.cfg.forecaster)
            .map_err(|e| SimError::BadParameter(format!("--forecaster: {e}")))?;
        let spd = (86_400_000 / self.fleet.slot_ms.max(1)) as usize;
        let horizon = self.horizon() as usize;
        for (i, d) in self.fleet.devices.iter().enumerate() {
            if let SimKind::Base { history_mw, .. } = &d.kind {
                let values: Vec<f64> = history_mw.iter().map(|&p| p as f64 / 1e6).collect();
                let series = TimeSeries::from_values(
                    d.id.as_str(),
                    0,
                    (self.fleet.slot_ms / 1000) as i64,
                    values,
                )
                .map_err(|e| SimError::BadParameter(format!("history of {}: {e}", d.id)))?;
                let mut opts = FitOptions::new(horizon, spd);
                opts.calibration = 48;
                let model = FittedModel::fit(&spec, &series, &opts)
                    .map_err(|e| SimError::BadParameter(format!("forecaster of {}: {e}", d.id)))?;
                self.forecasters.insert(i, model);
            }
        }
        Ok(())
    }

    fn horizon(&self) -> u32 {
        self.owners
            .first()
            .map_or((86_400_000 / self.fleet.slot_ms.max(1)) as u32, |o| {
                o.coord.config().horizon_slots
            })
    }

    /// The forecast of a base load for `from..from + len` (its forecaster stands before
    /// `from`), as P50/P90 in mW.
    fn base_forecast(&self, d: usize, from: Slot, len: usize) -> Vec<PowerValue> {
        let Some(m) = self.forecasters.get(&d) else {
            return Vec::new();
        };
        if self.cfg.foresight.forecasts() {
            let SimKind::Base { actual_mw, .. } = &self.fleet.devices[d].kind else {
                return Vec::new();
            };
            let last = actual_mw.last().copied().unwrap_or(0);
            return (0..len)
                .map(|k| {
                    let v = actual_mw.get(from as usize + k).copied().unwrap_or(last);
                    PowerValue::exact(v.max(0))
                })
                .collect();
        }
        let f = m.predict(len);
        (0..len)
            .map(|k| {
                let p50 = f
                    .p50
                    .get(k)
                    .or(f.p50.last())
                    .copied()
                    .unwrap_or(0.0)
                    .max(0.0);
                let p90 = f
                    .p90
                    .get(k)
                    .or(f.p90.last())
                    .copied()
                    .unwrap_or(0.0)
                    .max(p50);
                // kW → W for the protocol's rounding-up conversion.
                PowerValue::from_forecast(p50 * 1e3, p90 * 1e3).unwrap_or(PowerValue::exact(0))
            })
            .collect()
    }

    // ----- machines ---------------------------------------------------------------------

    fn drain_coord(&mut self, o: usize) -> Result<(), SimError> {
        loop {
            let out = self.owners[o].coord.poll_output();
            match out {
                Output::Timeout(at) => {
                    let at = at.0.max(self.now);
                    if self.owners[o].armed != at {
                        self.owners[o].armed = at;
                        self.push(at, Ev::CoordTimer(o as u32));
                    }
                    return Ok(());
                }
                Output::Store { seq, record } => {
                    if let Record::Award(a) = &record
                        && let Some(&d) = self.dev_of.get(&a.device)
                    {
                        self.owners[o]
                            .pending_stores
                            .push((seq, (d as u32, a.request, a.version)));
                    }
                    let at = self.now + self.cfg.store_latency_ms;
                    self.push(at, Ev::StoreDone(o as u32, seq));
                }
                Output::Send { to, msg } => {
                    let Some(&d) = self.dev_of.get(&to) else {
                        continue;
                    };
                    // Store before announce: every grant on the wire was durable first. (A
                    // revocation gives nothing and may go out at once.)
                    let key = match &msg.body {
                        Body::Award(a) => Some((d as u32, a.request, a.version)),
                        Body::Instruction(i) if !i.grant.power_mw.is_empty() => {
                            Some((d as u32, i.request, i.version))
                        }
                        _ => None,
                    };
                    if let Some(k) = key
                        && !self.owners[o].durable.contains(&k)
                    {
                        self.res.unstored_announcements += 1;
                        if std::env::var_os("POWERSLOT_SIM_DEBUG").is_some()
                            && self.res.unstored_announcements <= 3
                        {
                            eprintln!(
                                "unstored {} at {}: {:?}",
                                self.mech.name(),
                                self.now,
                                msg.body
                            );
                        }
                    }
                    self.transmit(d, msg, false);
                }
                Output::Event(e) => match e {
                    Event::Security { .. } => self.res.security_rejects += 1,
                    Event::Batch { .. } => self.res.batches += 1,
                    _ => {}
                },
                Output::Actuate { .. } => {}
            }
        }
    }

    fn drain_agent(&mut self, d: usize) {
        loop {
            match self.agents[d].poll_output() {
                Output::Timeout(at) => {
                    self.arm_agent(d, at);
                    return;
                }
                Output::Send { msg, .. } if self.mech != Mechanism::Uncoordinated => {
                    self.transmit(d, msg, true);
                }
                Output::Event(Event::Fallback { .. }) => {
                    self.fallback_devs.insert(d);
                }
                _ => {}
            }
        }
    }

    /// Sets device `d`'s timer to `at` (no earlier than the next millisecond).
    fn arm_agent(&mut self, d: usize, at: Instant) {
        let at = at.0.max(self.now + 1);
        if self.agent_armed[d] != at {
            self.agent_armed[d] = at;
            self.push(at, Ev::AgentTimer(d as u32));
        }
    }

    /// Hands device `d`'s pending messages to its owner at once, outside the network.
    fn deliver_now(&mut self, d: usize) -> Result<(), SimError> {
        let now = Instant(self.now);
        loop {
            match self.agents[d].poll_output() {
                Output::Send { msg, .. } if self.mech != Mechanism::Uncoordinated => {
                    self.res.messages_total += 1;
                    let o = self.owner_of[d];
                    // A refusal is the coordinator's answer to the device, sent back to it.
                    let _ = self.owners[o].coord.handle(now, CoordInput::Message(msg));
                    self.drain_coord(o)?;
                }
                Output::Timeout(at) => {
                    self.arm_agent(d, at);
                    return Ok(());
                }
                _ => {}
            }
        }
    }

    /// Sends a message between device `d` and its owner through the network.
    fn transmit(&mut self, d: usize, msg: Envelope, to_coord: bool) {
        self.res.messages_total += 1;
        if msg.body.is_negotiation() {
            let request = match &msg.body {
                Body::TimeslotRequest(r) => r.request,
                Body::CounterBid(c) => c.request,
                Body::Release(r) => r.request,
                Body::Award(a) => a.request,
                Body::Reject(r) => r.request,
                Body::Offer(o) => o.request,
                Body::Instruction(i) => i.request,
                _ => 0,
            };
            *self.msg_count.entry((d as u32, request)).or_default() += 1;
        }
        let deliveries = match self.net.fate(d, self.now) {
            Fate::Lost => vec![],
            Fate::Once(a) => vec![a],
            Fate::Twice(a, b) => vec![a, b],
        };
        for delay in deliveries {
            let m = self.stash(msg.clone());
            let at = self.now + delay;
            let ev = if to_coord {
                Ev::ToCoord(self.owner_of[d] as u32, m)
            } else {
                Ev::ToAgent(d as u32, m)
            };
            self.push(at, ev);
        }
    }

    // ----- slots ------------------------------------------------------------------------

    fn on_slot(&mut self, s: Slot) -> Result<(), SimError> {
        let now = Instant(self.now);
        // Coordinators cross the boundary first (leases, the timeslot manager, the market).
        for o in 0..self.owners.len() {
            let w = WallClock::now();
            self.owners[o].coord.handle_timeout(now);
            self.coord_ms += w.elapsed().as_secs_f64() * 1e3;
            self.drain_coord(o)?;
        }
        // Base loads register their forecast at the start, before the first budget: the run
        // begins on a site already running, whose coordinator holds the households' forecasts
        // (delivered at once, not through the simulated network). Published on devices'
        // ratings instead, the first budget's firm window held capacity the forecasts then
        // freed, and controllable loads drew it from the battery the night needed.
        if s == 0 && self.mech != Mechanism::Uncoordinated {
            let horizon = self.horizon() as usize;
            for d in 0..self.fleet.devices.len() {
                if let SimKind::Base { .. } = self.fleet.devices[d].kind {
                    let profile = self.base_forecast(d, 0, horizon);
                    if profile.is_empty() {
                        continue;
                    }
                    let dev = &self.fleet.devices[d];
                    let profile_len = profile.len() as Slot;
                    let need = Need {
                        priority: dev.priority,
                        earliest_start: 0,
                        deadline: profile_len,
                        demand: Demand::PowerForecast { profile },
                        bid_per_mille: 1000,
                        accept_until: horizon as Slot,
                    };
                    self.forecast_until[d] = profile_len;
                    self.agents[d].handle(now, AgentInput::Need(need));
                    self.deliver_now(d)?;
                }
            }
        }
        self.publish_budgets(s)?;
        // Elastic loads ask for the whole run; their agents cut it into timeslots.
        if s == 0 {
            for d in 0..self.fleet.devices.len() {
                if let SimKind::Elastic { min_mw, max_mw, .. } = self.fleet.devices[d].kind {
                    let dev = &self.fleet.devices[d];
                    let need = Need {
                        priority: dev.priority,
                        earliest_start: 0,
                        deadline: self.fleet.slots,
                        demand: Demand::PowerEnvelope { min_mw, max_mw },
                        bid_per_mille: 1000,
                        accept_until: self.fleet.slots,
                    };
                    self.agents[d].handle(now, AgentInput::Need(need));
                    self.drain_agent(d);
                }
            }
        }
        // The timeslot manager's in-slot view: each elastic load says what it calls for in
        // the slot now starting (and draws no more), so the coordinator can hand what some
        // hold above their load to those whose load is above their grant.
        if matches!(self.mech, Mechanism::Powerslot | Mechanism::PowerslotPeer) {
            for d in 0..self.fleet.devices.len() {
                if let SimKind::Elastic {
                    max_mw, desired_mw, ..
                } = &self.fleet.devices[d].kind
                {
                    let want = desired_mw
                        .get(s as usize)
                        .copied()
                        .unwrap_or(0)
                        .min(*max_mw);
                    self.agents[d].handle(
                        now,
                        AgentInput::Wants {
                            slot: s,
                            power_mw: want,
                        },
                    );
                    self.drain_agent(d);
                }
            }
        }
        // Jobs that arrive now.
        let arriving = std::mem::take(&mut self.arrivals[s as usize]);
        for j in arriving {
            let (d, ji) = (self.jobs[j].dev, self.jobs[j].job);
            let dev = &self.fleet.devices[d];
            let SimKind::Jobs(list) = &dev.kind else {
                continue;
            };
            let job = &list[ji];
            let demand = match &job.work {
                Work::Cycle {
                    actual_mw,
                    past_runs,
                    interruptible,
                } => Demand::PowerProfile {
                    profile: if self.cfg.foresight.forecasts() {
                        actual_mw
                            .iter()
                            .map(|&p| PowerValue::exact(p.max(0)))
                            .collect()
                    } else {
                        profile_forecast(past_runs, actual_mw)
                    },
                    interruptible: *interruptible,
                    min_on_slots: 0,
                    min_off_slots: 0,
                },
                Work::Energy {
                    energy_mwh,
                    min_mw,
                    max_mw,
                } => Demand::EnergyTarget {
                    energy_mwh: *energy_mwh,
                    min_mw: *min_mw,
                    max_mw: *max_mw,
                },
            };
            let need = Need {
                priority: dev.priority,
                earliest_start: job.earliest.max(job.arrival).max(s),
                deadline: job
                    .deadline
                    .min(self.fleet.slots.saturating_add(self.horizon())),
                demand,
                bid_per_mille: 1000,
                accept_until: job.accept_until.max(job.deadline),
            };
            let id = self.agents[d].handle(now, AgentInput::Need(need));
            self.jobs[j].request = id;
            self.drain_agent(d);
        }
        Ok(())
    }

    /// Publishes every budget source's curve for the horizon to the owners concerned. In
    /// peer mode an owner's root gets the lesser of its own budget and its share of the
    /// site's.
    fn publish_budgets(&mut self, s: Slot) -> Result<(), SimError> {
        let now = Instant(self.now);
        let mut values: HashMap<CircuitIx, Vec<i64>> = HashMap::new();
        let mut classes: HashMap<CircuitIx, Vec<(Priority, Vec<i64>)>> = HashMap::new();
        let horizon = self.horizon();
        // Per owner: what it reserves for its own load nobody controls under its root (kept
        // for peer mode's split of the site's root below).
        let mut owner_held: Vec<Vec<i64>> = vec![Vec::new(); self.owners.len()];
        for (c, p) in self.publishers.iter_mut() {
            // The load nobody controls under this circuit, as the coordinators expect it and
            // reserve for it.
            let mut load = UncontrolledLoad {
                expected: vec![0; horizon as usize],
                reserved: vec![0; horizon as usize],
                critical: vec![0; horizon as usize],
            };
            for (o, ow) in self.owners.iter().enumerate() {
                let local = match ow.local.get(c) {
                    Some(&l) => Some(l),
                    None => self.tree.covers(*c, ow.global[0]).then_some(0),
                };
                if let Some(l) = local {
                    let owned = ow.coord.uncontrollable_load(l, s, horizon);
                    if l == 0 {
                        owner_held[o].clone_from(&owned.reserved);
                    }
                    for (into, v) in [
                        (&mut load.expected, owned.expected),
                        (&mut load.reserved, owned.reserved),
                        (&mut load.critical, owned.critical),
                    ] {
                        for (e, x) in into.iter_mut().zip(v) {
                            *e += x;
                        }
                    }
                }
            }
            values.insert(*c, p.publish(s, &load));
            if !p.class_budgets().is_empty() {
                classes.insert(*c, p.class_budgets().to_vec());
            }
        }
        for c in 0..self.tree.len() {
            if (s as usize) < self.cap_exec[c].len() {
                self.cap_exec[c][s as usize] = values
                    .get(&(c as CircuitIx))
                    .and_then(|v| v.first().copied())
                    .unwrap_or(self.tree.rating(c as CircuitIx));
            }
        }
        // Peer mode: owners split a shared root by a rule each can compute from what the
        // others announce each slot — what they reserve for their own load nobody controls
        // (booked from its forecasts) per slot ahead. Each keeps its own reservation, and
        // what the root has beyond all of them is shared in proportion to the owners'
        // ratings; where the root cannot cover every reservation, each keeps its
        // reservation's share of the root and grants nothing. Inside the firm window a part
        // is never raised (as the root's capacity is never lowered there). An owner
        // re-books its reservation only from one slot beyond the firm window: what it
        // reserves for a slot is final when the parts are computed for the last time before
        // the slot enters the firm window, so the parts frozen there cover every owner's
        // final reservation, and a grant made on an earlier part that no longer fits lies
        // where its owner may still take it back. The site's class budgets are split by the
        // same rule.
        let firm = self.cfg.firm_slots.max(self.cfg.lease_slots) as usize;
        let split = |curve: &[i64]| -> Vec<Vec<i64>> {
            // Every owner's root lies under the site's, so its reservation was read above.
            let held = &owner_held;
            (0..self.owners.len())
                .map(|o| {
                    curve
                        .iter()
                        .enumerate()
                        .map(|(k, &r)| {
                            let all = held.iter().map(|h| h[k]).sum();
                            peer_share(r, held[o][k], all, self.owners[o].share)
                        })
                        .collect()
                })
                .collect()
        };
        let peer = self.mech == Mechanism::PowerslotPeer;
        let parts: Vec<Vec<i64>> = match values.get(&0) {
            Some(root) if peer => split(root),
            _ => Vec::new(),
        };
        let class_parts: Vec<(Priority, Vec<Vec<i64>>)> = match classes.get(&0) {
            Some(curves) if peer => curves.iter().map(|(c, v)| (*c, split(v))).collect(),
            _ => Vec::new(),
        };
        for o in 0..self.owners.len() {
            let mut inputs = Vec::new();
            let part = parts.get(o).map(|v| {
                let ow = &mut self.owners[o];
                let mut part = v.clone();
                for (k, x) in part.iter_mut().enumerate() {
                    if let Some(prev) = ow.part.get_mut(s as usize + k) {
                        if k < firm && *prev != i64::MIN {
                            *x = (*x).min(*prev);
                        }
                        *prev = *x;
                    }
                }
                part
            });
            let ow = &self.owners[o];
            for (l, &g) in ow.global.iter().enumerate() {
                let own = values.get(&g).cloned();
                let from_root = if l == 0 && g != 0 { part.clone() } else { None };
                let from_root_split = l == 0 && g != 0 && !class_parts.is_empty();
                let vals = match (own, from_root) {
                    (Some(a), Some(b)) => a.iter().zip(&b).map(|(x, y)| *x.min(y)).collect(),
                    (Some(a), None) | (None, Some(a)) => a,
                    (None, None) => continue,
                };
                inputs.push(CoordInput::Budget {
                    circuit: l as CircuitIx,
                    from_slot: s,
                    values_mw: vals,
                });
                let own_classes: Vec<(Priority, Vec<i64>)> = if from_root_split {
                    class_parts
                        .iter()
                        .map(|(c, v)| (*c, v[o].clone()))
                        .collect()
                } else {
                    classes.get(&g).cloned().unwrap_or_default()
                };
                for (class, values_mw) in own_classes {
                    inputs.push(CoordInput::ClassBudget {
                        circuit: l as CircuitIx,
                        class,
                        from_slot: s,
                        values_mw,
                    });
                }
            }
            for input in inputs {
                self.owners[o]
                    .coord
                    .handle(now, input)
                    .map_err(|e| SimError::BadParameter(format!("budget: {e}")))?;
            }
            self.drain_coord(o)?;
        }
        Ok(())
    }

    /// Mid-slot: what every device may draw and draws; the invariants.
    fn on_mid(&mut self, s: Slot) {
        let slot_h = self.fleet.slot_ms as f64 / 3_600_000.0;
        let nodes = self.tree.len();
        // What each controllable device is credited with in this slot (device, job, mW),
        // taken back in part if the battery cannot serve the slot.
        let mut credited: Vec<(usize, Option<usize>, i64)> = Vec::new();
        // What the load nobody controls drew at the site (its meter, for the publisher).
        let mut uncontrolled_root = 0i64;
        // What the high class's elastic loads said their load called for (their in-slot
        // word), for the publisher's usual day of that class.
        let mut high_wanted_root = 0i64;
        let mut authority = vec![0i64; nodes];
        let mut measured = vec![0i64; nodes];
        let mut reserved = vec![0i64; nodes];
        // Reservations for uncontrollable load, as booked by the coordinators. Each owner's
        // figures already sum its subtrees; its root's figure also counts on the circuits
        // above it, which no owner holds.
        for ow in &self.owners {
            let booked = ow.coord.reserved_uncontrollable(s);
            for (l, v) in booked.into_iter().enumerate() {
                let g = ow.global[l];
                if l == 0 {
                    for &n in self.tree.path(g) {
                        reserved[n as usize] += v;
                    }
                } else {
                    reserved[g as usize] += v;
                }
            }
        }
        for d in 0..self.fleet.devices.len() {
            let limit = self.agents[d].limit_at(s);
            let dev = &self.fleet.devices[d];
            let (draw, controllable) = match &dev.kind {
                SimKind::Base { actual_mw, .. } => {
                    (actual_mw.get(s as usize).copied().unwrap_or(0), false)
                }
                SimKind::Elastic {
                    min_mw,
                    max_mw,
                    desired_mw,
                    ..
                } => {
                    let want = desired_mw
                        .get(s as usize)
                        .copied()
                        .unwrap_or(0)
                        .min(*max_mw);
                    // A limit that covers the load runs it; one below it scales the load
                    // down, but not below its minimum (then it is off).
                    let got = if limit >= want {
                        want
                    } else if limit < *min_mw {
                        0
                    } else {
                        limit
                    };
                    self.elastic_desired[d] += want as f64 * slot_h;
                    self.elastic_served[d] += got as f64 * slot_h;
                    credited.push((d, None, got));
                    (got, true)
                }
                SimKind::Jobs(list) => {
                    let mut left = limit;
                    let mut total = 0;
                    for &j in &self.dev_jobs[d] {
                        let jr = &mut self.jobs[j];
                        let job = &list[jr.job];
                        if jr.finished_at.is_some() || jr.broken || job.arrival > s {
                            continue;
                        }
                        if left <= 0 {
                            if matches!(
                                job.work,
                                Work::Cycle {
                                    interruptible: false,
                                    ..
                                }
                            ) && jr.progress > 0
                            {
                                jr.broken = true;
                            }
                            continue;
                        }
                        // An energy target is a car: it leaves at its deadline.
                        if matches!(job.work, Work::Energy { .. }) && s >= job.deadline {
                            continue;
                        }
                        if self.mech == Mechanism::Uncoordinated
                            && s < job.earliest.max(job.arrival)
                        {
                            continue;
                        }
                        let p = match &job.work {
                            Work::Cycle { actual_mw, .. } => {
                                let want = actual_mw.get(jr.progress).copied().unwrap_or(0);
                                let p = want.min(left);
                                jr.progress += 1;
                                if jr.progress >= actual_mw.len() {
                                    jr.finished_at = Some(s + 1);
                                }
                                p
                            }
                            Work::Energy {
                                energy_mwh, max_mw, ..
                            } => {
                                let need = *energy_mwh as f64 - jr.delivered_mwh;
                                let p = (*max_mw)
                                    .min(left)
                                    .min((need / slot_h).ceil() as i64)
                                    .max(0);
                                if need - p as f64 * slot_h <= 1e-6 {
                                    jr.finished_at = Some(s + 1);
                                }
                                p
                            }
                        };
                        jr.delivered_mwh += p as f64 * slot_h;
                        credited.push((d, Some(j), p));
                        left -= p;
                        total += p;
                    }
                    (total, true)
                }
            };
            self.draw[d] = draw;
            if let Some(watch) = std::env::var_os("POWERSLOT_SIM_WATCH")
                && watch.to_str() == Some(dev.id.as_str())
            {
                let held: Vec<String> = self.agents[d]
                    .held()
                    .map(|h| {
                        format!(
                            "r{} v{} {}..{} <{} {:?}",
                            h.request,
                            h.version,
                            h.grant.start,
                            h.grant.end(),
                            h.valid_until,
                            h.grant.power_mw
                        )
                    })
                    .collect();
                let needs: Vec<String> = self.agents[d]
                    .needs()
                    .map(|(k, st, p)| format!("{k}:{st:?}:{p}"))
                    .collect();
                let want = match &dev.kind {
                    SimKind::Elastic { desired_mw, .. } => {
                        desired_mw.get(s as usize).copied().unwrap_or(0)
                    }
                    _ => draw,
                };
                eprintln!(
                    "{} slot {s}: limit {limit} want {want} draw {draw} held {held:?} needs {needs:?}",
                    self.mech.name()
                );
            }
            if controllable {
                if draw > 0 && self.last_draw[d] == 0 {
                    self.starts[d] += 1;
                }
                self.last_draw[d] = draw;
                self.res.energy_served_kwh += draw as f64 * slot_h / 1e6;
                if self.mech != Mechanism::Uncoordinated {
                    self.res.granted_not_drawn_kwh += (limit - draw).max(0) as f64 * slot_h / 1e6;
                }
                if matches!(dev.kind, SimKind::Elastic { .. }) {
                    self.res.elastic_served_kwh += draw as f64 * slot_h / 1e6;
                }
            }
            let c = self.dev_circuit[d];
            if !controllable {
                uncontrolled_root += draw;
            }
            high_wanted_root += dev.high_wanted_at(s);
            let own = if controllable {
                limit
            } else if self.owners.is_empty() {
                draw
            } else {
                0
            };
            for &n in self.tree.path(c) {
                authority[n as usize] += own;
                measured[n as usize] += draw;
            }
        }
        for n in 0..nodes {
            let cap = self.cap_exec[n][s as usize];
            let total = authority[n] + reserved[n];
            if reserved[n] > cap {
                // Load nobody controls is expected above the capacity by itself: no grant
                // can cause or cure that (the timeslot manager sheds what it can).
                self.res.uncontrollable_overloads += 1;
            }
            if total > cap && authority[n] > 0 {
                self.res.budget_violations += 1;
                if std::env::var_os("POWERSLOT_SIM_DEBUG").is_some()
                    && self.res.budget_violations <= 3
                {
                    let booked: Vec<String> = self
                        .owners
                        .iter()
                        .filter_map(|ow| ow.local.get(&(n as CircuitIx)).map(|&l| (ow, l)))
                        .map(|(ow, l)| {
                            format!(
                                "book {} / cap {}",
                                ow.coord.book().committed(l, s),
                                ow.coord.book().capacity(l, s)
                            )
                        })
                        .collect();
                    eprintln!(
                        "violation {} slot {s} circuit {}: authority {} + reserved {} > cap {} ({booked:?})",
                        self.mech.name(),
                        self.tree.name(n as CircuitIx),
                        authority[n],
                        reserved[n],
                        cap
                    );
                    for d in 0..self.fleet.devices.len() {
                        if self
                            .tree
                            .path(self.dev_circuit[d])
                            .contains(&(n as CircuitIx))
                        {
                            let l = self.agents[d].limit_at(s);
                            if l > 0 {
                                let held: Vec<String> = self.agents[d]
                                    .held()
                                    .map(|h| {
                                        format!(
                                            "r{} v{} {}..{} until {}: {:?}",
                                            h.request,
                                            h.version,
                                            h.grant.start,
                                            h.grant.end(),
                                            h.valid_until,
                                            h.grant.power_mw
                                        )
                                    })
                                    .collect();
                                eprintln!(
                                    "   {} limit {l} held {held:?}",
                                    self.fleet.devices[d].id
                                );
                            }
                        }
                    }
                }
            }
            let over = (measured[n] - cap) as f64 / 1e3;
            if over > self.res.max_overshoot_w {
                self.res.max_overshoot_w = over;
            }
            self.reserved[n][s as usize] = reserved[n];
        }
        if cfg!(debug_assertions) && self.fleet.devices.len() <= 200 {
            for ow in &self.owners {
                if let Err(e) = ow.coord.audit() {
                    self.res.audit_failures += 1;
                    if self.res.audit_failures == 1 {
                        eprintln!("{} slot {s}: {e}", self.mech.name());
                    }
                }
            }
        }
        let root_w = measured[0] as f64 / 1e3;
        self.res.peak_w = self.res.peak_w.max(root_w);
        self.res
            .series
            .capacity_w
            .push(self.cap_exec[0][s as usize] as f64 / 1e3);
        self.res
            .series
            .allocated_w
            .push((authority[0] + reserved[0]) as f64 / 1e3);
        self.res.series.measured_w.push(root_w);
        let mut kept = 1.0;
        if let Some(b) = self.battery.as_mut() {
            let short_before = b.unserved_mwh;
            let stored = b.step(s, measured[0]);
            // A blackout: part of the slot's load the battery could not serve reached
            // nobody. That energy is charged to the controllable loads first, each losing
            // the same share of what it was credited (served energy, a job's delivered
            // energy, an elastic load's; what counts for welfare), and only the rest to the
            // load nobody controls, whose loss welfare charges at the value of lost load (as
            // the central reference does). Charged to everyone alike, the households' share
            // would have paid for a mechanism's emptying the battery into their night.
            let short = b.unserved_mwh - short_before;
            let asked: f64 = credited.iter().map(|&(_, _, p)| p as f64).sum::<f64>() * slot_h;
            if short > 0.0 && asked > 0.0 {
                let lost = (short / asked).min(1.0);
                kept = 1.0 - lost;
                for &(d, job, p) in &credited {
                    let e = lost * p as f64 * slot_h;
                    match job {
                        Some(j) => self.jobs[j].delivered_mwh -= e,
                        None => {
                            self.elastic_served[d] -= e;
                            self.res.elastic_served_kwh -= e / 1e6;
                        }
                    }
                    self.res.energy_served_kwh -= e / 1e6;
                }
            }
            if short > asked {
                self.res.household_unserved_kwh += (short - asked) / 1e6;
                if let Some(u) = self.res.household_unserved_mw.get_mut(s as usize) {
                    *u += (short - asked) / slot_h;
                }
            }
            self.res.series.battery_wh.push(stored as f64 / 1e3);
            let produced = b.production(s);
            for (c, p) in self.publishers.iter_mut() {
                if *c == 0 {
                    p.observe(s, produced, stored, uncontrolled_root, high_wanted_root);
                }
            }
        }
        for &(d, _, p) in &credited {
            if let Some(c) = self
                .res
                .credited_mw
                .get_mut(d)
                .and_then(|v| v.get_mut(s as usize))
            {
                *c += p as f64 * kept;
            }
        }
    }

    /// End of slot: telemetry (with forecasts for uncontrollable load) and jobs that are done.
    fn on_measure(&mut self, s: Slot) {
        let now = Instant(self.now);
        if self.mech == Mechanism::Uncoordinated {
            return;
        }
        let horizon = self.horizon() as usize;
        for d in 0..self.fleet.devices.len() {
            let base = matches!(self.fleet.devices[d].kind, SimKind::Base { .. });
            let forecast = if let SimKind::Elastic { desired_mw, .. } = &self.fleet.devices[d].kind
            {
                // An elastic load forecasts its own demand from the last hour of it: P50 its
                // mean, P90 its highest, for the next slots.
                let hour = (3_600_000 / self.fleet.slot_ms).max(1) as usize;
                let from = (s as usize + 1).saturating_sub(hour);
                let recent =
                    &desired_mw[from.min(desired_mw.len())..(s as usize + 1).min(desired_mw.len())];
                if self.cfg.foresight.forecasts() {
                    let max = match self.fleet.devices[d].kind {
                        SimKind::Elastic { max_mw, .. } => max_mw,
                        _ => 0,
                    };
                    (1..=4)
                        .map(|k| {
                            let v = desired_mw.get(s as usize + k).copied().unwrap_or(0);
                            PowerValue::exact(v.clamp(0, max))
                        })
                        .collect()
                } else if recent.is_empty() {
                    Vec::new()
                } else {
                    let mean = recent.iter().sum::<i64>() / recent.len() as i64;
                    let max = recent.iter().copied().max().unwrap_or(0);
                    vec![
                        PowerValue {
                            p50_mw: mean,
                            p90_mw: max
                        };
                        4
                    ]
                }
            } else if base {
                let actual = match &self.fleet.devices[d].kind {
                    SimKind::Base { actual_mw, .. } => {
                        actual_mw.get(s as usize).copied().unwrap_or(0)
                    }
                    _ => 0,
                };
                if let Some(m) = self.forecasters.get_mut(&d) {
                    m.update(actual as f64 / 1e6, &[]);
                }
                // Windows of a quarter of the horizon, each asked as soon as it fits in the
                // coordinator's window (with two slots to spare for the network): what is
                // asked for always reaches at least three quarters of the horizon ahead.
                let window = (horizon / 4).max(1);
                let (next, until) = (s + 1, self.forecast_until[d]);
                let last = next as usize + horizon.saturating_sub(window + 2);
                let renew = until > 0 && until as usize <= last;
                let from = until.max(next);
                let asked = if renew { from + window as Slot } else { until };
                // One forecast serves the telemetry and, when a window is asked, its profile.
                let forecast =
                    self.base_forecast(d, next, horizon.min(asked.saturating_sub(next) as usize));
                if renew {
                    let ahead = (from - next) as usize;
                    let profile = forecast.get(ahead..).unwrap_or_default().to_vec();
                    let end = from + profile.len() as Slot;
                    let need = Need {
                        priority: self.fleet.devices[d].priority,
                        earliest_start: from,
                        deadline: end,
                        demand: Demand::PowerForecast { profile },
                        bid_per_mille: 1000,
                        accept_until: end,
                    };
                    self.agents[d].handle(now, AgentInput::Need(need));
                    self.forecast_until[d] = end;
                }
                forecast
            } else {
                Vec::new()
            };
            let elastic = matches!(self.fleet.devices[d].kind, SimKind::Elastic { .. });
            if !base && !elastic && self.draw[d] == 0 && self.agents[d].held().next().is_none() {
                continue;
            }
            self.agents[d].handle(
                now,
                AgentInput::Measured {
                    slot: s,
                    measured_mw: self.draw[d],
                    forecast,
                },
            );
            // A job that finished early gives back the rest of its grant.
            for &j in &self.dev_jobs[d] {
                let jr = &mut self.jobs[j];
                if (jr.finished_at == Some(s + 1) || jr.broken) && !jr.released {
                    jr.released = true;
                    if let Some(r) = jr.request {
                        self.agents[d].handle(now, AgentInput::Done(r));
                    }
                }
            }
            self.drain_agent(d);
        }
    }

    fn finish(mut self) -> MechResult {
        let slot_ms = self.fleet.slot_ms;
        let mut outcomes = vec![DeviceOutcome::default(); self.fleet.devices.len()];
        // Jobs: welfare, misses, unmet energy.
        for jr in &self.jobs {
            let dev = &self.fleet.devices[jr.dev];
            let SimKind::Jobs(list) = &dev.kind else {
                continue;
            };
            let job = &list[jr.job];
            self.res.jobs += 1;
            let (energy_mwh, len) = match &job.work {
                Work::Cycle { actual_mw, .. } => {
                    let e: f64 =
                        actual_mw.iter().map(|&p| p as f64).sum::<f64>() * slot_ms as f64 / 3.6e6;
                    (e, actual_mw.len() as u32)
                }
                Work::Energy {
                    energy_mwh, max_mw, ..
                } => (
                    *energy_mwh as f64,
                    powerslot_protocol::device::slots_for_energy(*energy_mwh, *max_mw, slot_ms),
                ),
            };
            let latency = job
                .deadline
                .saturating_sub(job.earliest)
                .saturating_sub(len);
            let on_time = jr.finished_at.is_some_and(|f| f <= job.deadline);
            let delivered = match job.work {
                Work::Cycle { .. } => {
                    if on_time {
                        jr.delivered_mwh
                    } else {
                        0.0
                    }
                }
                Work::Energy { .. } => jr.delivered_mwh.min(energy_mwh),
            };
            let out = &mut outcomes[jr.dev];
            out.asked_kwh += energy_mwh / 1e6;
            out.served_kwh += delivered / 1e6;
            if !on_time {
                self.res.deadline_misses += 1;
                out.deadline_misses += 1;
            }
            self.res.unmet_kwh += (energy_mwh - delivered).max(0.0) / 1e6;
            let delay = match jr.finished_at {
                Some(f) if on_time => f.saturating_sub(job.earliest + len),
                _ => latency,
            };
            let w = powerslot_protocol::welfare::welfare(
                dev.priority,
                1000,
                delivered / 1e6,
                delay,
                latency,
            );
            outcomes[jr.dev].welfare += w;
            self.res.welfare += w;
            self.res.welfare_by_class[dev.priority as usize] += w;
        }
        // Elastic: value of what they got; fairness in the most common class.
        let mut by_class: HashMap<Priority, Vec<f64>> = HashMap::new();
        for (d, dev) in self.fleet.devices.iter().enumerate() {
            if let SimKind::Elastic { .. } = dev.kind {
                let w = powerslot_protocol::welfare::welfare(
                    dev.priority,
                    1000,
                    self.elastic_served[d] / 1e6,
                    0,
                    0,
                );
                outcomes[d] = DeviceOutcome {
                    asked_kwh: self.elastic_desired[d] / 1e6,
                    served_kwh: self.elastic_served[d] / 1e6,
                    welfare: w,
                    deadline_misses: 0,
                };
                self.res.welfare += w;
                self.res.welfare_by_class[dev.priority as usize] += w;
                self.res.unmet_kwh +=
                    (self.elastic_desired[d] - self.elastic_served[d]).max(0.0) / 1e6;
                if self.elastic_desired[d] > 0.0 {
                    by_class
                        .entry(dev.priority)
                        .or_default()
                        .push(self.elastic_served[d] / self.elastic_desired[d]);
                }
            }
        }
        // Lost load: what the households' own load went without costs the run (see
        // `powerslot_protocol::welfare`).
        self.res.welfare -=
            powerslot_protocol::welfare::value_of_lost_load() * self.res.household_unserved_kwh;
        self.res.jain = by_class
            .values()
            .max_by_key(|v| v.len())
            .map_or(1.0, |v| jain(v));
        let controllable = self
            .fleet
            .devices
            .iter()
            .filter(|d| !matches!(d.kind, SimKind::Base { .. }))
            .count()
            .max(1);
        self.res.starts_per_device =
            self.starts.iter().map(|&x| f64::from(x)).sum::<f64>() / controllable as f64;
        for ow in &mut self.owners {
            let st = ow.coord.stats();
            self.res.committed_moves += st.forced_moves + st.committed_cuts;
            for (_, _, rounds, _) in ow.coord.take_finished() {
                self.res.rounds.push(rounds);
            }
        }
        self.res.messages_per_request = self.msg_count.values().copied().collect();
        // Measured on the devices, alike for every mechanism: a run whose power stopped.
        self.res.jobs_cut = self.jobs.iter().filter(|j| j.broken).count() as u64;
        self.res.spare_handouts = self
            .owners
            .iter()
            .map(|ow| ow.coord.stats().spare_handouts)
            .sum();
        self.res.coordinator_ms_per_round = if self.res.batches > 0 {
            self.coord_ms / self.res.batches as f64
        } else {
            0.0
        };
        self.res.fallbacks = self.fallback_devs.len() as u64;
        if let Some(b) = &self.battery {
            self.res.blackout_slots = b.blackout_slots;
            self.res.unserved_kwh = b.unserved_mwh / 1e6;
        }
        for (d, dev) in self.fleet.devices.iter().enumerate() {
            if let SimKind::Base { actual_mw, .. } = &dev.kind {
                let e = actual_mw.iter().sum::<i64>() as f64 * slot_ms as f64 / 3.6e6 / 1e6;
                outcomes[d].asked_kwh = e;
                outcomes[d].served_kwh = e;
            }
        }
        self.res.devices = outcomes;
        self.res.reserved_mw = std::mem::take(&mut self.reserved);
        self.res.capacity_mw = std::mem::take(&mut self.cap_exec);
        self.res
    }
}

/// P50 and P90 per step of a cycle from the appliance's earlier runs, each stretched to this
/// run's length (the programme's duration is known when it starts; its power is forecast).
/// With no earlier run the appliance's nameplate — its highest power — is both.
pub fn profile_forecast(past_runs: &[Vec<i64>], actual: &[i64]) -> Vec<PowerValue> {
    let len = actual.len().max(1);
    let runs: Vec<&Vec<i64>> = past_runs.iter().filter(|r| !r.is_empty()).collect();
    if runs.is_empty() {
        let peak = actual.iter().copied().max().unwrap_or(0).max(0);
        return vec![PowerValue::exact(peak); len];
    }
    (0..len)
        .map(|k| {
            let mut vals: Vec<i64> = runs
                .iter()
                .map(|r| r[(k * r.len() / len).min(r.len() - 1)].max(0))
                .collect();
            vals.sort_unstable();
            let q = |p: f64| vals[((vals.len() - 1) as f64 * p).round() as usize];
            PowerValue {
                p50_mw: q(0.5),
                p90_mw: q(0.9).max(q(0.5)),
            }
        })
        .collect()
}

/// One owner's part of the shared root in peer mode in one slot, from what every owner can
/// compute alone: what it reserves for its own load nobody controls (`held_mw`), plus its
/// share (per mille) of what the root has beyond all owners' reservations (`held_all_mw`).
/// The parts sum to the root at the most. When the root cannot cover every reservation, an
/// owner cannot know whose load will overdraw, so each keeps its reservation's share of the
/// root and grants nothing (its timeslot manager sheds what it must).
fn peer_share(root_mw: i64, held_mw: i64, held_all_mw: i64, share_per_mille: i64) -> i64 {
    if root_mw >= held_all_mw {
        held_mw + (root_mw - held_all_mw) * share_per_mille / 1000
    } else if held_all_mw > 0 {
        (i128::from(held_mw) * i128::from(root_mw.max(0)) / i128::from(held_all_mw)) as i64
    } else {
        0
    }
}

/// Jain's fairness index of `x`: 1 when all equal, 1/n when one gets everything.
pub fn jain(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let s: f64 = x.iter().sum();
    let s2: f64 = x.iter().map(|v| v * v).sum();
    if s2 == 0.0 { 1.0 } else { s * s / (n * s2) }
}
