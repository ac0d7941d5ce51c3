//! The coordinator: one per site (or, in peer mode, one per owner of power, over its own
//! circuits). It takes requests, runs the negotiation, keeps the grants and their leases,
//! executes the site's side of the timeslot manager (scaling and shedding by priority when
//! measured load exceeds the budget), and asks its ledger to store every grant before it
//! announces it.
//!
//! **Grants and leases.** A grant may be followed by its device only before its lease end
//! (`valid_until`), which heartbeats renew for the grant's current version. When a grant is
//! reduced (scaled, shed, revoked), the capacity it frees is booked on until the last lease
//! end the coordinator promised for the old version; a device that never heard of the
//! reduction therefore never draws on capacity given to someone else, whatever messages are
//! lost, duplicated, reordered or partitioned. The budget source promises not to cut capacity
//! inside the **firm window** (`firm_slots ≥ lease_slots`); cuts beyond it are absorbed by
//! re-planning, cuts inside it are reported as [`Event::BudgetBreach`].
//!
//! **Priority.** Classes are served in strict order, in each batch and over time: before a
//! lower class is placed, what elastic loads of the classes above still want is held from
//! it for some hours past the leases (a persistence forecast of what they will ask next).
//! A request that does not fit may take capacity from grants of strictly lower classes that
//! declared themselves flexible (envelopes, interruptible jobs), past their leases; a
//! critical request may also take it from running jobs. Critical elastic loads are reported
//! to the budget publisher beside the load nobody controls, so that their energy is kept
//! first. Over time on a battery the slot's order is not enough (a kWh a low class draws at
//! noon is gone at night), so the budget source may say what the classes below high may use
//! of its curve ([`CoordInput::ClassBudget`]); the rest is kept for the high class.
//! **Inside the running slot** a device may say what its load calls for there (a
//! [`SlotWant`] in a heartbeat) and then draws no more: what it holds above that is taken
//! off the book and, with what the book left free, tops up the elastic loads whose load calls
//! for more than they hold, class first (`hand_out_spare`).
//! Awarded future slots of non-interruptible jobs are never moved by a re-plan, except when
//! uncontrollable load or a budget cut leaves no other way (counted in
//! [`Stats::forced_moves`]).
//!
//! **Load nobody controls** is booked from its device's forecast: its P50, plus its P90 margin
//! divided by √n, where n is the number of such loads the coordinator holds forecasts for
//! (capped at the device's registered rating). Independent forecast errors add as their
//! squares, so n margins together need only about √n of them — the diversity that lets a
//! feeder rated below the sum of its houses' peaks serve them all. Booking every device's
//! own P90 would hold, at a street's root, several times what the street ever draws at once
//! (measured: the demo's night, 7 kW held against 2 kW drawn). What the real load still
//! exceeds is the timeslot manager's to absorb (class by class from the lowest: scale, then
//! shed).

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use powerslot_core::Slot;

use crate::ProtocolError;
use crate::auction::{self, AuctionConfig, Candidate, Outcome, Placement, Shape};
use crate::circuit::{Binding, CapacityBook, CircuitIx, CircuitTree};
use crate::codec::ReplayWindow;
use crate::device::{Demand, DeviceId, Priority};
use crate::limits;
use crate::msg::{
    Award, Body, CounterBid, CounterChoice, Envelope, Grant, Instruction, InstructionKind, Lease,
    Reject, RejectReason, Release, RequestId, SlotWant, Telemetry, TimeslotRequest,
};
use crate::output::{AwardRecord, EndReason, Event, Output, Record, SecurityProblem, Snapshot};
use crate::time::{Instant, SlotClock};

/// Which allocation rule the coordinator runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mechanism {
    /// The project's mechanism: ε-auction over the horizon, then exact repair.
    #[default]
    Auction,
    /// The seed's pseudocode as written (one slot at a time, in arrival order).
    SeedRule,
    /// A PowerMatcher-style market cleared slot by slot, without look-ahead.
    OneShotMarket,
}

/// A device the coordinator serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Its id.
    pub id: DeviceId,
    /// The circuit it hangs from.
    pub circuit: CircuitIx,
    /// The highest class it may ask for.
    pub max_priority: Priority,
    /// Its port number: lower wins ties inside a class, as on a PoE switch.
    pub port: u32,
    /// For load nobody controls: what is reserved for it from registration on, mW (its
    /// rating, or the highest it was seen to draw). Its forecasts replace this standing
    /// reservation beyond the firm window while they keep coming; when they stop, the
    /// standing reservation comes back. Zero for controllable devices.
    pub standing_mw: i64,
}

/// How the coordinator runs.
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    /// The circuits and their ratings.
    pub tree: CircuitTree,
    /// The allocation grid.
    pub clock: SlotClock,
    /// The devices served.
    pub devices: Vec<DeviceRecord>,
    /// Slots planned ahead.
    pub horizon_slots: u32,
    /// How long a renewal keeps a grant valid, slots.
    pub lease_slots: u32,
    /// Slots ahead in which the budget source promises not to cut capacity (≥ lease).
    pub firm_slots: u32,
    /// Slots ahead in which the reservation of load nobody controls stands as booked: a new
    /// forecast re-books it from there on (at least the firm window; the default). An owner
    /// sharing a root with peers sets it one slot beyond the firm window, so that what it
    /// reserves for a slot is final one budget before its part of the root freezes there.
    pub rebook_slots: u32,
    /// A batch closes this long after its first request arrived, ms.
    pub batch_window_ms: u64,
    /// Waiting requests are tried again at most this often, ms, when no new request comes
    /// with them (room freed by a re-booked forecast, a release or a cut is gathered for
    /// this long and offered once: on a busy site room frees in almost every batch).
    pub retry_ms: u64,
    /// A waiting request's bid doubles every this many slots (aging).
    pub aging_slots: u32,
    /// Allocation rule.
    pub mechanism: Mechanism,
    /// Auction tuning.
    pub auction: AuctionConfig,
    /// Messages per minute a device may send on average.
    pub rate_per_minute: u32,
    /// Messages a device may send in a burst.
    pub rate_burst: u32,
    /// How long what higher-class elastic loads still want is held from lower classes'
    /// new placements, slots past the leases (see `hold_for_classes_above`).
    pub class_hold_slots: u32,
}

impl CoordinatorConfig {
    /// Defaults: a day of horizon, leases of two slots, firm window of two slots, batches
    /// of 200 ms, aging doubles a bid every 4 slots, 120 messages a minute with bursts of 60,
    /// what higher classes still want held for four hours (at most 96 slots).
    pub fn new(tree: CircuitTree, clock: SlotClock, devices: Vec<DeviceRecord>) -> Self {
        let per_day =
            (86_400_000 / clock.slot_ms.max(1)).clamp(1, u64::from(limits::MAX_HORIZON_SLOTS));
        Self {
            tree,
            clock,
            devices,
            horizon_slots: per_day as u32,
            lease_slots: 2,
            firm_slots: 2,
            rebook_slots: 2,
            batch_window_ms: 200,
            retry_ms: (clock.slot_ms / 10).max(200),
            aging_slots: 4,
            mechanism: Mechanism::Auction,
            auction: AuctionConfig::new(clock.slot_ms),
            rate_per_minute: 120,
            rate_burst: 60,
            class_hold_slots: (4 * 3_600_000 / clock.slot_ms.max(1)).clamp(1, 96) as u32,
        }
    }
}

/// An operator's action (through the HTTP API, with a token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorCommand {
    /// Change a device's class (its open requests and later ones).
    SetPriority {
        /// The device.
        device: DeviceId,
        /// The new class.
        priority: Priority,
    },
    /// Move a waiting request's deadline.
    SetDeadline {
        /// The device.
        device: DeviceId,
        /// The request.
        request: RequestId,
        /// The new deadline.
        deadline: Slot,
    },
    /// Stop granting to a device; its grants end at their lease.
    Pause(DeviceId),
    /// Grant to the device again.
    Resume(DeviceId),
    /// Set a circuit's capacity from a slot on (like a budget change).
    SetCircuitLimit {
        /// The circuit.
        circuit: CircuitIx,
        /// From this slot.
        from_slot: Slot,
        /// The new limit, mW.
        limit_mw: i64,
    },
}

/// What the coordinator is fed.
#[derive(Clone, Debug, PartialEq)]
pub enum CoordInput {
    /// A message from a device (its signature already checked by the I/O layer).
    Message(Envelope),
    /// The ledger made every store up to this sequence number durable.
    StoreDone(u64),
    /// The budget of a circuit from a slot on.
    Budget {
        /// The circuit.
        circuit: CircuitIx,
        /// First slot of `values_mw`.
        from_slot: Slot,
        /// Capacity per slot; the last value holds.
        values_mw: Vec<i64>,
    },
    /// What a class below high and the classes below it may use of a circuit's budget,
    /// from a slot on (the last value holds; a fresh curve replaces the one before). When
    /// that class or a lower one is placed or topped up, everything booked on the circuit
    /// except the high class's grants stays within the curve (reservations for load nobody
    /// controls and critical loads count, as in the budget). The rest is kept for the high
    /// class: what it does not book there, nobody else does. A battery's owner keeps so the
    /// energy the high class will need: a kWh a low class draws at noon is a kWh a water
    /// heater may go without tonight, at a hundred times its value. Without one, a class
    /// may use the whole budget. A fresh [`CoordInput::Budget`] for the circuit drops its
    /// class budgets (they were shares of the curve it replaces): send them after it.
    ClassBudget {
        /// The circuit.
        circuit: CircuitIx,
        /// The highest class the curve limits: normal or low.
        class: Priority,
        /// First slot of `values_mw`.
        from_slot: Slot,
        /// What `class` and the classes below may use per slot, on the budget's scale.
        values_mw: Vec<i64>,
    },
    /// Register a device.
    AddDevice(DeviceRecord),
    /// An operator's action.
    Operator(OperatorCommand),
}

/// Counters for reports and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests received (not counting retransmissions).
    pub requests: u64,
    /// Grants made.
    pub awards: u64,
    /// Rejects sent.
    pub rejects: u64,
    /// Messages refused for security reasons.
    pub security_rejects: u64,
    /// Grants of lower classes paused or scaled for a higher one.
    pub preemptions: u64,
    /// Awarded future slots moved without the holder's consent (uncontrollable load or a
    /// budget cut left no other way).
    pub forced_moves: u64,
    /// Running non-interruptible jobs cut (only for critical load or a budget breach).
    pub committed_cuts: u64,
    /// Negotiation batches run.
    pub batches: u64,
    /// Overload events handled by scaling or shedding.
    pub overloads: u64,
    /// Negotiation messages sent and received.
    pub negotiation_messages: u64,
    /// Elastic grants topped up inside the running slot from the spare.
    pub spare_handouts: u64,
}

/// A request's key: the device's index and the request's id on that device.
type Key = (usize, RequestId);

/// A grant a preemption may take from, as it stood when its class batch began.
#[derive(Clone, Copy, Debug)]
struct VictimEntry {
    key: Key,
    circuit: CircuitIx,
    elastic: bool,
    start: Slot,
    end: Slot,
    valid_until: Slot,
}

#[derive(Clone, Debug)]
struct Dev {
    rec: DeviceRecord,
    replay: ReplayWindow,
    out_seq: u64,
    paused: bool,
    priority: Option<Priority>,
    /// Token bucket, in thousandths of a message.
    tokens: u64,
    refilled: Instant,
    measured: Option<(Slot, i64)>,
    open: BTreeSet<RequestId>,
    /// The standing reservation is booked for slots `from..until` of the window (`until` =
    /// `Slot::MAX`: it rolls on with the window).
    standing: Option<(Slot, Slot)>,
    /// The latest forecast of this load nobody controls, as expected (P50, capped at the
    /// rating), from its first slot: what its energy will most likely be.
    expected: Option<(Slot, Vec<i64>)>,
    /// What the device said its load calls for in a slot (it draws no more there).
    want: Option<SlotWant>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct AwardState {
    version: u32,
    grant: Grant,
    booked: Grant,
    valid_until: Slot,
    /// Sequence number of the store that holds this version (0: restored from the ledger).
    stored: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Pending,
    /// Not placed yet; retried every batch with aging, until its window closes.
    Waiting {
        since: Slot,
        best_offer: Option<Grant>,
        reason: RejectReason,
    },
    Awarded(AwardState),
}

#[derive(Clone, Debug)]
struct Req {
    dev: usize,
    req: TimeslotRequest,
    arrival: u64,
    state: State,
    /// Rounds: bidding rounds of the batch that placed it plus counter-bid rounds.
    rounds: u32,
    messages: u32,
}

impl Req {
    fn preemptible(&self) -> bool {
        match &self.req.demand {
            Demand::PowerEnvelope { .. } | Demand::EnergyTarget { .. } => true,
            Demand::PowerProfile { interruptible, .. } => *interruptible,
            Demand::PowerForecast { .. } => false,
        }
    }
}

/// One class's share of a batch: its candidates and their request keys, in step.
#[derive(Default)]
struct ClassBatch {
    cands: Vec<Candidate>,
    keys: Vec<(usize, RequestId)>,
}

/// A device whose load calls for more than it holds in the running slot, and the elastic
/// request of it the timeslot manager would top up (see `hand_out_spare`).
struct TopUp {
    priority: Priority,
    bid_per_mille: u32,
    tiebreak: u64,
    key: Key,
    /// What the device holds in the slot, mW.
    granted: i64,
    /// What its load calls for there, mW.
    want: i64,
    /// The envelope's minimum, mW.
    min_mw: i64,
}

/// A temporary booking for the length of one class's placement.
struct Hold {
    path: Vec<CircuitIx>,
    start: Slot,
    powers: Vec<i64>,
}

/// The load nobody controls under a circuit, per slot from a given slot, mW
/// ([`Coordinator::uncontrollable_load`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UncontrolledLoad {
    /// What it is expected to draw: its forecasts' P50 where a forecast covers the slot, the
    /// reservation elsewhere. The energy a battery is kept for.
    pub expected: Vec<i64>,
    /// What is reserved for it (P50 plus the diversity margin, or the standing rating): the
    /// power each slot must hold.
    pub reserved: Vec<i64>,
    /// What critical elastic loads ask (an oxygen concentrator: on or shed), at the power of
    /// their open requests over the rest of their windows. Not booked for them (they are
    /// served through the auction, critical class first), but a publisher keeps the battery
    /// for this energy, and offers this power, before anything goes to lower classes.
    pub critical: Vec<i64>,
}

/// The coordinator state machine (see the module docs).
#[derive(Debug)]
pub struct Coordinator {
    cfg: CoordinatorConfig,
    book: CapacityBook,
    /// Per circuit and class: what the class and those below may use of its budget, from a
    /// slot on ([`CoordInput::ClassBudget`]).
    class_budgets: BTreeMap<(CircuitIx, Priority), (Slot, Vec<i64>)>,
    now: Instant,
    slot: Slot,
    epoch: u32,
    devs: Vec<Dev>,
    by_id: BTreeMap<DeviceId, usize>,
    reqs: BTreeMap<(usize, RequestId), Req>,
    /// The keys of awarded requests, by class (`Priority as usize`; a class is fixed once
    /// awarded). Preemption, the top-up and a refusal's reason look for grants of the
    /// classes below one; on a large site most grants belong to others (the households'
    /// forecasts are critical), and scanning every request for each candidate made a
    /// batch quadratic. Load nobody controls (a forecast) is never a victim and is kept
    /// apart, in `awarded_forecasts`. Both may hold keys no longer awarded: readers check
    /// the state.
    awarded_by_class: [BTreeSet<Key>; 4],
    /// The keys of awarded forecasts, by class (see `awarded_by_class`).
    awarded_forecasts: [BTreeSet<Key>; 4],
    /// The keys of new requests, not yet tried: each batch starts from them (and from
    /// `waiting_keys` when it retries those), not from a scan of every request.
    pending_keys: BTreeSet<Key>,
    /// The keys of waiting requests, by class (`Priority as usize`).
    waiting_keys: [BTreeSet<Key>; 4],
    /// Circuits that new forecasts of load nobody controls left overbooked beyond the firm
    /// window, resolved once before the slot ends (see `resolve_forecast_overbooking`).
    forecast_overbooked: BTreeSet<CircuitIx>,
    /// For the class being placed and a root: per slot from the book's origin, the most
    /// preemption could free there (see `preemption_could_fit`). Reset for each class.
    preempt_bound: Option<(Priority, CircuitIx, Vec<i64>)>,
    /// For the class being placed: the grants of the classes below that a preemption may
    /// take from, in the order it takes them (see `preemption_victims`). Reset per class.
    preempt_victims: Option<(Priority, Vec<VictimEntry>)>,
    arrivals: u64,
    out: VecDeque<Output>,
    /// Sends held until their store is durable: (store seq, output).
    held: VecDeque<(u64, Output)>,
    /// Per device and request, the version of the newest instruction queued (in `out` or
    /// `held`) and not yet handed out. An instruction carries the whole grant, so an older
    /// one still queued says nothing the newer does not: it is dropped when polled. One
    /// batch can change a grant several times (a preemption takes from it, a top-up gives
    /// back); the device is told once, the outcome.
    queued_instructions: BTreeMap<(DeviceId, RequestId), u32>,
    store_seq: u64,
    durable_upto: u64,
    batch_at: Option<Instant>,
    /// When the timeslot manager next hands out the spare of the running slot.
    handout_at: Option<Instant>,
    /// The book's freed epoch when every waiting request was last tried (see `run_auction`).
    waiting_tried: Option<u64>,
    /// When every waiting request was last tried (for `CoordinatorConfig::retry_ms`).
    waiting_tried_at: Option<Instant>,
    /// Seed rule: highest bid seen per slot.
    highest_bid: BTreeMap<Slot, i64>,
    /// Devices whose load nobody controls is booked from a forecast (for the diversity of
    /// their margins, see the module docs).
    forecast_devs: BTreeSet<usize>,
    stats: Stats,
    /// Per request key: rounds and messages when it ended (for reports).
    finished: Vec<(DeviceId, RequestId, u32, u32)>,
}

fn shape_of(demand: &Demand) -> Option<Shape> {
    Some(match demand {
        Demand::PowerProfile { profile, .. } => {
            Shape::Fixed(profile.iter().map(|v| v.p90_mw).collect())
        }
        Demand::EnergyTarget {
            energy_mwh,
            min_mw,
            max_mw,
        } => Shape::Energy {
            energy_mwh: *energy_mwh,
            min_mw: *min_mw,
            max_mw: *max_mw,
        },
        Demand::PowerEnvelope { min_mw, max_mw } => Shape::Envelope {
            min_mw: *min_mw,
            max_mw: *max_mw,
        },
        Demand::PowerForecast { .. } => return None,
    })
}

impl Coordinator {
    /// A coordinator at `now`, rebuilt from the ledger's `restored` snapshot if given.
    pub fn new(
        cfg: CoordinatorConfig,
        now: Instant,
        restored: Option<Snapshot>,
    ) -> Result<Self, ProtocolError> {
        if cfg.firm_slots < cfg.lease_slots {
            return Err(ProtocolError::Config(format!(
                "the firm window ({} slots) must be at least the lease ({} slots)",
                cfg.firm_slots, cfg.lease_slots
            )));
        }
        if cfg.lease_slots == 0 || cfg.horizon_slots == 0 {
            return Err(ProtocolError::Config(
                "lease and horizon need at least one slot".into(),
            ));
        }
        if cfg.devices.len() > limits::MAX_DEVICES {
            return Err(ProtocolError::Config(format!(
                "{} devices are more than the maximum of {}",
                cfg.devices.len(),
                limits::MAX_DEVICES
            )));
        }
        let slot = cfg.clock.slot_at(now);
        let book = CapacityBook::new(&cfg.tree, slot, cfg.horizon_slots);
        let mut c = Self {
            class_budgets: BTreeMap::new(),
            book,
            now,
            slot,
            epoch: restored.as_ref().map_or(0, |s| s.epoch) + 1,
            devs: Vec::new(),
            by_id: BTreeMap::new(),
            reqs: BTreeMap::new(),
            awarded_by_class: Default::default(),
            awarded_forecasts: Default::default(),
            pending_keys: BTreeSet::new(),
            waiting_keys: Default::default(),
            forecast_overbooked: BTreeSet::new(),
            preempt_bound: None,
            preempt_victims: None,
            arrivals: 0,
            out: VecDeque::new(),
            held: VecDeque::new(),
            queued_instructions: BTreeMap::new(),
            store_seq: 0,
            durable_upto: 0,
            batch_at: None,
            handout_at: None,
            waiting_tried: None,
            waiting_tried_at: None,
            highest_bid: BTreeMap::new(),
            forecast_devs: BTreeSet::new(),
            stats: Stats::default(),
            finished: Vec::new(),
            cfg,
        };
        for rec in c.cfg.devices.clone() {
            c.add_device(rec)?;
        }
        let epoch = c.epoch;
        c.store(Record::Epoch(epoch));
        if let Some(snap) = restored {
            for a in snap.awards {
                c.restore_award(a);
            }
            for (id, seq) in snap.last_seq {
                if let Some(&d) = c.by_id.get(&id) {
                    let dev = &mut c.devs[d];
                    dev.replay = ReplayWindow::starting_at(dev.replay.highest().max(seq));
                }
            }
            for (id, r) in snap.waiting {
                c.restore_waiting(&id, r);
            }
        }
        Ok(c)
    }

    /// A request that was waiting when the ledger was written waits again (negotiated in the
    /// first batch), unless it is granted already, its device is gone, or its window closed.
    fn restore_waiting(&mut self, id: &DeviceId, r: TimeslotRequest) {
        let Some(&d) = self.by_id.get(id) else {
            return;
        };
        let key = (d, r.request);
        let len = r.demand.min_duration(
            r.deadline.saturating_sub(r.earliest_start),
            self.cfg.clock.slot_ms,
        );
        if self.reqs.contains_key(&key)
            || r.deadline < self.slot.saturating_add(len)
            || self.devs[d].open.len() >= limits::MAX_OPEN_REQUESTS_PER_DEVICE
        {
            return;
        }
        self.devs[d].open.insert(r.request);
        self.arrivals += 1;
        self.pending_keys.insert(key);
        self.reqs.insert(
            key,
            Req {
                dev: d,
                req: r,
                arrival: self.arrivals,
                state: State::Pending,
                rounds: 0,
                messages: 0,
            },
        );
        self.schedule_batch(0);
    }

    fn add_device(&mut self, rec: DeviceRecord) -> Result<(), ProtocolError> {
        if rec.circuit as usize >= self.cfg.tree.len() {
            return Err(ProtocolError::Config(format!(
                "device '{}' hangs from circuit {}, which does not exist",
                rec.id, rec.circuit
            )));
        }
        if let Some(&i) = self.by_id.get(&rec.id) {
            self.devs[i].rec = rec;
            return Ok(());
        }
        if self.devs.len() >= limits::MAX_DEVICES {
            return Err(ProtocolError::Config("too many devices".into()));
        }
        let i = self.devs.len();
        self.by_id.insert(rec.id.clone(), i);
        self.devs.push(Dev {
            rec,
            replay: ReplayWindow::default(),
            out_seq: u64::from(self.epoch) << 32,
            paused: false,
            priority: None,
            tokens: u64::from(self.cfg.rate_burst) * 1000,
            refilled: self.now,
            measured: None,
            open: BTreeSet::new(),
            standing: None,
            expected: None,
            want: None,
        });
        if self.devs[i].rec.standing_mw > 0 {
            let from = self.slot;
            self.start_standing(i, from);
        }
        Ok(())
    }

    /// Books device `d`'s standing reservation from `from` on, rolling with the window.
    fn start_standing(&mut self, d: usize, from: Slot) {
        let mw = self.devs[d].rec.standing_mw;
        if mw <= 0 {
            return;
        }
        if let Some((f, u)) = self.devs[d].standing
            && u == Slot::MAX
            && f <= from
        {
            return;
        }
        self.stop_standing(d, from);
        let from = from.max(self.book.origin());
        let path = self.cfg.tree.path(self.devs[d].rec.circuit).to_vec();
        let n = self.book.end().saturating_sub(from) as usize;
        self.book.add(&path, from, &vec![mw; n]);
        self.devs[d].standing = Some((from, Slot::MAX));
    }

    /// Ends device `d`'s standing reservation at `until` (what was booked after it is freed).
    fn stop_standing(&mut self, d: usize, until: Slot) {
        let Some((from, until_before)) = self.devs[d].standing else {
            return;
        };
        let end = until_before.min(self.book.end());
        let cut = until.max(from).max(self.book.origin());
        if cut < end {
            let path = self.cfg.tree.path(self.devs[d].rec.circuit).to_vec();
            let mw = self.devs[d].rec.standing_mw;
            self.book
                .remove(&path, cut, &vec![mw; (end - cut) as usize]);
        }
        // A reservation that already ends before `until` keeps its end: it was never
        // booked beyond it.
        let cut = cut.min(until_before);
        self.devs[d].standing = if cut > from { Some((from, cut)) } else { None };
    }

    /// The most a forecast of device `d` is booked at: its registered rating (a forecast
    /// above what the load can draw is the forecast's error), or no cap.
    fn rating_cap(&self, d: usize) -> i64 {
        match self.devs[d].rec.standing_mw {
            mw if mw > 0 => mw,
            _ => i64::MAX,
        }
    }

    /// What a forecast of load nobody controls books in one slot: its P50 plus its P90
    /// margin divided by √n (n: the devices booked from forecasts), at most the rating.
    fn forecast_booking(&self, v: &crate::PowerValue, cap: i64) -> i64 {
        let n = (self.forecast_devs.len() as u64).max(1).isqrt() as i64;
        (v.p50_mw + (v.p90_mw - v.p50_mw).max(0) / n.max(1)).min(cap)
    }

    fn standing_at(&self, d: usize, slot: Slot) -> i64 {
        match self.devs[d].standing {
            Some((from, until)) if slot >= from && slot < until => self.devs[d].rec.standing_mw,
            _ => 0,
        }
    }

    fn restore_award(&mut self, a: AwardRecord) {
        let Some(&d) = self.by_id.get(&a.device) else {
            return;
        };
        let path = self.cfg.tree.path(self.devs[d].rec.circuit).to_vec();
        self.book.add(&path, a.booked.start, &a.booked.power_mw);
        // Requests restored from the ledger keep only what the coordinator needs to follow
        // and repair them; their original demand is rebuilt from the grant.
        let demand = match a.kind.as_str() {
            "power_forecast" => Demand::PowerForecast {
                profile: a
                    .grant
                    .power_mw
                    .iter()
                    .map(|&p| crate::PowerValue::exact(p))
                    .collect(),
            },
            "power_envelope" => Demand::PowerEnvelope {
                min_mw: 0,
                max_mw: a.grant.power_mw.iter().copied().max().unwrap_or(0),
            },
            _ => Demand::PowerProfile {
                profile: a
                    .grant
                    .power_mw
                    .iter()
                    .map(|&p| crate::PowerValue::exact(p))
                    .collect(),
                interruptible: a.preemptible,
                min_on_slots: 0,
                min_off_slots: 0,
            },
        };
        let dev = &mut self.devs[d];
        dev.replay = ReplayWindow::starting_at(dev.replay.highest().max(a.request));
        dev.open.insert(a.request);
        // The ledger holds the lease of the last stored version, not the renewals that came
        // after it (a write per heartbeat). A grant whose device kept renewing it through the
        // outage gets one lease from now to be renewed again instead of lapsing at the first
        // slot boundary. Its capacity stays booked all along, so this commits nothing new.
        let valid_until = a
            .valid_until
            .max(self.slot.saturating_add(self.cfg.lease_slots));
        self.arrivals += 1;
        let forecast = matches!(demand, Demand::PowerForecast { .. });
        self.index_award((d, a.request), a.priority, forecast);
        self.reqs.insert(
            (d, a.request),
            Req {
                dev: d,
                req: TimeslotRequest {
                    request: a.request,
                    priority: a.priority,
                    earliest_start: a.grant.start,
                    deadline: a.deadline.max(a.grant.end()),
                    demand,
                    bid_per_mille: 1000,
                },
                arrival: a.tiebreak & 0xffff_ffff,
                state: State::Awarded(AwardState {
                    version: a.version,
                    grant: a.grant,
                    booked: a.booked,
                    valid_until,
                    stored: 0,
                }),
                rounds: 0,
                messages: 0,
            },
        );
    }

    // ----- public surface -------------------------------------------------------------

    /// Feeds one input at `now`. Refused messages change nothing and say why (they are
    /// also reported as [`Event::Security`] where relevant).
    pub fn handle(&mut self, now: Instant, input: CoordInput) -> Result<(), ProtocolError> {
        self.tick(now);
        match input {
            CoordInput::Message(env) => self.on_message(env),
            CoordInput::StoreDone(seq) => {
                self.on_store_done(seq);
                Ok(())
            }
            CoordInput::Budget {
                circuit,
                from_slot,
                values_mw,
            } => self.on_budget(circuit, from_slot, &values_mw),
            CoordInput::ClassBudget {
                circuit,
                class,
                from_slot,
                values_mw,
            } => {
                self.check_class_budget(circuit, class, &values_mw)?;
                self.class_budgets
                    .insert((circuit, class), (from_slot, values_mw));
                Ok(())
            }
            CoordInput::AddDevice(rec) => self.add_device(rec),
            CoordInput::Operator(cmd) => self.on_operator(cmd),
        }
    }

    /// Lets time pass: slot boundaries (leases, completions, the timeslot manager) and
    /// batches that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
    }

    /// The next thing to do; [`Output::Timeout`] ends a drain.
    pub fn poll_output(&mut self) -> Output {
        while let Some(o) = self.out.pop_front() {
            if let Output::Send { to, msg } = &o
                && let Body::Instruction(i) = &msg.body
            {
                let key = (to.clone(), i.request);
                match self.queued_instructions.get(&key) {
                    Some(&newest) if i.version < newest => {
                        // Superseded before it left: never sent, so not counted.
                        self.stats.negotiation_messages =
                            self.stats.negotiation_messages.saturating_sub(1);
                        continue;
                    }
                    Some(_) => {
                        self.queued_instructions.remove(&key);
                    }
                    None => {}
                }
            }
            return o;
        }
        let next_slot = self.cfg.clock.start_of(self.slot.saturating_add(1));
        let at = [self.batch_at, self.handout_at]
            .into_iter()
            .flatten()
            .fold(next_slot, Instant::min);
        Output::Timeout(at)
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The capacity book (capacity and grants per circuit and slot).
    pub fn book(&self) -> &CapacityBook {
        &self.book
    }

    /// The circuit tree.
    pub fn tree(&self) -> &CircuitTree {
        &self.cfg.tree
    }

    /// The current slot.
    pub fn slot(&self) -> Slot {
        self.slot
    }

    /// The configuration.
    pub fn config(&self) -> &CoordinatorConfig {
        &self.cfg
    }

    /// Every live grant, as the ledger would hold it.
    pub fn awards(&self) -> Vec<AwardRecord> {
        self.reqs
            .values()
            .filter_map(|r| match &r.state {
                State::Awarded(a) => Some(self.record_of(r, a)),
                _ => None,
            })
            .collect()
    }

    /// Per circuit, what grants of one kind of demand (`power_forecast`, `power_profile`,
    /// ...) book in `slot`, each circuit counting its whole subtree.
    pub fn booked_of_kind(&self, slot: Slot, kind: &str) -> Vec<i64> {
        let mut out = vec![0i64; self.cfg.tree.len()];
        if kind == "power_forecast" {
            for d in 0..self.devs.len() {
                let v = self.standing_at(d, slot);
                if v > 0 {
                    for &n in self.cfg.tree.path(self.devs[d].rec.circuit) {
                        out[n as usize] += v;
                    }
                }
            }
        }
        for r in self.reqs.values() {
            if r.req.demand.kind() != kind {
                continue;
            }
            if let State::Awarded(a) = &r.state {
                let v = a.booked.at(slot);
                if v > 0 {
                    for &n in self.cfg.tree.path(self.devs[r.dev].rec.circuit) {
                        out[n as usize] += v;
                    }
                }
            }
        }
        out
    }

    /// Per circuit, what is reserved in `slot` for load nobody controls: for each such device
    /// the larger of its standing reservation and its forecast's booking (both may be booked
    /// at once inside the firm window; the device draws only one of them), summed over each
    /// circuit's subtree.
    pub fn reserved_uncontrollable(&self, slot: Slot) -> Vec<i64> {
        let mut per_dev: BTreeMap<usize, i64> = BTreeMap::new();
        for r in self.reqs.values() {
            if let (Demand::PowerForecast { .. }, State::Awarded(a)) = (&r.req.demand, &r.state) {
                *per_dev.entry(r.dev).or_default() += a.booked.at(slot);
            }
        }
        let mut out = vec![0i64; self.cfg.tree.len()];
        for d in 0..self.devs.len() {
            let v = self
                .standing_at(d, slot)
                .max(per_dev.get(&d).copied().unwrap_or(0));
            if v > 0 {
                for &n in self.cfg.tree.path(self.devs[d].rec.circuit) {
                    out[n as usize] += v;
                }
            }
        }
        out
    }

    /// The load nobody controls under `circuit`, in each of the `n` slots from `from`, as
    /// expected and as reserved (the reserved figure is [`Self::reserved_uncontrollable`]'s,
    /// in one pass over the requests). A budget publisher keeps the battery for the expected
    /// energy and each slot for the reserved power.
    ///
    /// Beside it, what critical elastic loads under `circuit` ask ([`UncontrolledLoad::critical`]):
    /// a critical load is never shed for a lower class, so the energy it will need tonight is
    /// kept before anything is offered to lower classes today.
    pub fn uncontrollable_load(&self, circuit: CircuitIx, from: Slot, n: u32) -> UncontrolledLoad {
        let n = n as usize;
        // Per critical elastic device (a device holds several requests while it books its
        // timeslots ahead; it is counted once): its power, and the window its requests span.
        let mut critical_devs: BTreeMap<usize, (i64, Slot, Slot)> = BTreeMap::new();
        let mut per_dev: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
        for r in self.reqs.values() {
            if let (Priority::Critical, Demand::PowerEnvelope { max_mw, .. }) =
                (r.req.priority, &r.req.demand)
                && self.cfg.tree.covers(circuit, self.devs[r.dev].rec.circuit)
            {
                let e = critical_devs.entry(r.dev).or_insert((
                    *max_mw,
                    r.req.earliest_start,
                    r.req.deadline,
                ));
                *e = (
                    e.0.max(*max_mw),
                    e.1.min(r.req.earliest_start),
                    e.2.max(r.req.deadline),
                );
            }
            if let (Demand::PowerForecast { .. }, State::Awarded(a)) = (&r.req.demand, &r.state) {
                if !self.cfg.tree.covers(circuit, self.devs[r.dev].rec.circuit) {
                    continue;
                }
                let v = per_dev.entry(r.dev).or_insert_with(|| vec![0; n]);
                for (k, x) in v.iter_mut().enumerate() {
                    *x += a.booked.at(from.saturating_add(k as Slot));
                }
            }
        }
        let mut out = UncontrolledLoad {
            expected: vec![0; n],
            reserved: vec![0; n],
            critical: vec![0; n],
        };
        for (d, dev) in self.devs.iter().enumerate() {
            if dev.standing.is_none() && !per_dev.contains_key(&d) {
                continue;
            }
            if !self.cfg.tree.covers(circuit, dev.rec.circuit) {
                continue;
            }
            let booked = per_dev.get(&d);
            for k in 0..n {
                let s = from.saturating_add(k as Slot);
                let reserved = self.standing_at(d, s).max(booked.map_or(0, |v| v[k]));
                let expected = match &dev.expected {
                    Some((first, p50)) if s >= *first => p50.get((s - first) as usize).copied(),
                    _ => None,
                };
                out.reserved[k] += reserved;
                out.expected[k] += expected.unwrap_or(reserved);
            }
        }
        let end = from.saturating_add(n as Slot);
        for (mw, lo, hi) in critical_devs.into_values() {
            for s in lo.max(from)..hi.min(end) {
                out.critical[(s - from) as usize] += mw;
            }
        }
        out
    }

    /// Checks the books: on every circuit and slot of the window, the capacity book holds at
    /// least what the live grants have booked (it may hold more: what an ended grant's lease
    /// still covers). Returns the first place where it does not. Costs a pass over every
    /// grant; meant for tests and the simulator's checks.
    pub fn audit(&self) -> Result<(), String> {
        let h = self.book.horizon() as usize;
        let mut sum = vec![0i64; self.cfg.tree.len() * h];
        for d in 0..self.devs.len() {
            for k in 0..h {
                let v = self.standing_at(d, self.book.origin() + k as Slot);
                if v > 0 {
                    for &n in self.cfg.tree.path(self.devs[d].rec.circuit) {
                        sum[n as usize * h + k] += v;
                    }
                }
            }
        }
        for r in self.reqs.values() {
            if let State::Awarded(a) = &r.state {
                for (k, &p) in a.booked.power_mw.iter().enumerate() {
                    let s = a.booked.start + k as Slot;
                    if p == 0 || !self.book.contains(s) {
                        continue;
                    }
                    for &n in self.cfg.tree.path(self.devs[r.dev].rec.circuit) {
                        sum[n as usize * h + (s - self.book.origin()) as usize] += p;
                    }
                }
            }
        }
        for n in 0..self.cfg.tree.len() {
            for k in 0..h {
                let s = self.book.origin() + k as Slot;
                let book = self.book.committed(n as CircuitIx, s);
                if sum[n * h + k] > book {
                    return Err(format!(
                        "circuit {} slot {s}: grants book {} mW but the book holds {book}",
                        self.cfg.tree.name(n as CircuitIx),
                        sum[n * h + k]
                    ));
                }
            }
        }
        Ok(())
    }

    /// Requests waiting for capacity: (device, request, class, since slot).
    pub fn waiting(&self) -> Vec<(DeviceId, RequestId, Priority, Slot)> {
        self.reqs
            .values()
            .filter_map(|r| match r.state {
                State::Waiting { since, .. } => Some((
                    self.devs[r.dev].rec.id.clone(),
                    r.req.request,
                    r.req.priority,
                    since,
                )),
                _ => None,
            })
            .collect()
    }

    /// Per finished request: (device, request, rounds, negotiation messages). Drained.
    pub fn take_finished(&mut self) -> Vec<(DeviceId, RequestId, u32, u32)> {
        core::mem::take(&mut self.finished)
    }

    /// Registered devices.
    pub fn devices(&self) -> impl Iterator<Item = &DeviceRecord> {
        self.devs.iter().map(|d| &d.rec)
    }

    /// Whether an operator paused the device.
    pub fn is_paused(&self, id: &DeviceId) -> bool {
        self.by_id.get(id).is_some_and(|&d| self.devs[d].paused)
    }

    /// The last power a device reported: (slot, mW).
    pub fn measured(&self, id: &DeviceId) -> Option<(Slot, i64)> {
        self.by_id.get(id).and_then(|&d| self.devs[d].measured)
    }

    /// The class a device's requests get (after an operator's change).
    pub fn priority_of(&self, id: &DeviceId) -> Option<Priority> {
        self.by_id.get(id).map(|&d| {
            self.devs[d]
                .priority
                .unwrap_or(self.devs[d].rec.max_priority)
        })
    }

    // ----- time --------------------------------------------------------------------------

    fn tick(&mut self, now: Instant) {
        // Time never goes backwards for the machine, whatever the caller's clock does.
        if now > self.now {
            self.now = now;
        }
        let slot = self.cfg.clock.slot_at(self.now);
        if self.slot < slot {
            self.resolve_forecast_overbooking();
        }
        while self.slot < slot {
            self.slot += 1;
            let s = self.slot;
            self.on_slot(s);
        }
        if self.batch_at.is_some_and(|b| b <= self.now) {
            self.batch_at = None;
            self.run_batch();
        }
        if self.handout_at.is_some_and(|b| b <= self.now) {
            self.handout_at = None;
            self.hand_out_spare();
        }
    }

    fn schedule_batch(&mut self, after_ms: u64) {
        let at = self.now.after_ms(after_ms);
        if self.batch_at.is_none_or(|b| b > at) {
            self.batch_at = Some(at);
        }
    }

    fn on_slot(&mut self, slot: Slot) {
        // What the books allowed for in the slot that ended (forecasts, grants and standing
        // reservations), before the window rolls past it: the timeslot manager reads the
        // measured load against it.
        let allowed_last: Vec<i64> = (0..self.cfg.tree.len() as CircuitIx)
            .map(|n| self.book.committed(n, slot.saturating_sub(1)))
            .collect();
        self.book.advance(slot);
        // Rolling standing reservations cover the slot that just entered the window.
        let entering = self.book.end() - 1;
        for d in 0..self.devs.len() {
            if let Some((from, until)) = self.devs[d].standing {
                if until != Slot::MAX && until <= slot {
                    self.devs[d].standing = None;
                } else if until == Slot::MAX && from <= entering {
                    let path = self.cfg.tree.path(self.devs[d].rec.circuit).to_vec();
                    let mw = self.devs[d].rec.standing_mw;
                    self.book.add(&path, entering, &[mw]);
                }
            }
        }
        self.highest_bid = self.highest_bid.split_off(&slot);
        let keys: Vec<(usize, RequestId)> = self.reqs.keys().copied().collect();
        for key in keys {
            let Some(r) = self.reqs.get(&key) else {
                continue;
            };
            match &r.state {
                State::Awarded(a) => {
                    let end = a.grant.end().max(a.booked.end());
                    if end <= slot {
                        self.end_request(key, EndReason::Completed);
                    } else if a.valid_until <= slot && a.grant.end() > slot {
                        // Not renewed: the device may not draw any more, so neither do we
                        // book for it.
                        self.end_request(key, EndReason::LeaseLapsed);
                    }
                }
                State::Waiting { .. } | State::Pending => {
                    let len = r.req.demand.min_duration(
                        r.req.deadline.saturating_sub(r.req.earliest_start),
                        self.cfg.clock.slot_ms,
                    );
                    let market = self.cfg.mechanism == Mechanism::OneShotMarket;
                    if r.req.deadline < slot.saturating_add(len) && !market {
                        self.send_reject(key, RejectReason::Expired { now: slot }, None, false);
                        self.end_request(key, EndReason::Completed);
                    }
                }
            }
        }
        self.manage_overload(slot, &allowed_last);
        if self.cfg.mechanism == Mechanism::OneShotMarket {
            self.clear_market();
        }
        if self
            .reqs
            .values()
            .any(|r| matches!(r.state, State::Waiting { .. } | State::Pending))
        {
            self.schedule_batch(0);
        }
    }

    // ----- messages ----------------------------------------------------------------------

    fn security(&mut self, device: Option<DeviceId>, problem: SecurityProblem) {
        self.stats.security_rejects += 1;
        self.out
            .push_back(Output::Event(Event::Security { device, problem }));
    }

    fn on_message(&mut self, env: Envelope) -> Result<(), ProtocolError> {
        if let Err(e) = env.validate() {
            self.security(Some(env.device.clone()), SecurityProblem::Invalid);
            return Err(e);
        }
        let Some(&d) = self.by_id.get(&env.device) else {
            self.security(Some(env.device.clone()), SecurityProblem::UnknownDevice);
            return Err(ProtocolError::UnknownDevice(env.device));
        };
        if !env.body.from_device() {
            self.security(Some(env.device.clone()), SecurityProblem::WrongDirection);
            return Err(ProtocolError::WrongDirection {
                device: env.device,
                kind: env.body.name(),
            });
        }
        // Token bucket: refill by elapsed time, spend one message.
        {
            let rate = u64::from(self.cfg.rate_per_minute);
            let cap = u64::from(self.cfg.rate_burst.max(1)) * 1000;
            let dev = &mut self.devs[d];
            let elapsed = self.now.since(dev.refilled);
            dev.tokens = (dev.tokens + elapsed * rate / 60).min(cap);
            dev.refilled = self.now;
            if dev.tokens < 1000 {
                self.security(Some(env.device.clone()), SecurityProblem::RateLimited);
                return Err(ProtocolError::RateLimited(env.device));
            }
            dev.tokens -= 1000;
        }
        if !self.devs[d].replay.accept(env.seq) {
            self.security(Some(env.device.clone()), SecurityProblem::Replay);
            return Err(ProtocolError::Replay {
                device: env.device,
                seq: env.seq,
            });
        }
        match env.body {
            Body::TimeslotRequest(r) => self.on_request(d, r),
            Body::CounterBid(c) => self.on_counter(d, c),
            Body::Release(r) => self.on_release(d, r),
            Body::Telemetry(t) => self.on_telemetry(d, t),
            Body::Heartbeat(h) => {
                self.renew(d, &h.holding);
                if let Some(w) = h.want {
                    self.on_want(d, w);
                }
            }
            _ => unreachable!("directions are checked above"),
        }
        Ok(())
    }

    fn send(&mut self, d: usize, body: Body, held_until: Option<u64>) {
        if body.is_negotiation() {
            self.stats.negotiation_messages += 1;
        }
        let dev = &mut self.devs[d];
        if let Body::Instruction(i) = &body {
            self.queued_instructions
                .insert((dev.rec.id.clone(), i.request), i.version);
        }
        dev.out_seq += 1;
        let msg = Envelope::new(dev.rec.id.clone(), dev.out_seq, body);
        let o = Output::Send {
            to: dev.rec.id.clone(),
            msg,
        };
        match held_until {
            Some(seq) if seq > self.durable_upto => self.held.push_back((seq, o)),
            _ => self.out.push_back(o),
        }
    }

    fn store(&mut self, record: Record) -> u64 {
        self.store_seq += 1;
        self.out.push_back(Output::Store {
            seq: self.store_seq,
            record,
        });
        self.store_seq
    }

    fn on_store_done(&mut self, seq: u64) {
        self.durable_upto = self.durable_upto.max(seq.min(self.store_seq));
        while let Some((s, _)) = self.held.front() {
            if *s > self.durable_upto {
                break;
            }
            let (_, o) = self.held.pop_front().expect("front exists");
            self.out.push_back(o);
        }
    }

    fn on_request(&mut self, d: usize, r: TimeslotRequest) {
        let key = (d, r.request);
        self.stats.negotiation_messages += 1;
        if let Some(existing) = self.reqs.get_mut(&key) {
            // A retransmission: answer again with what we know, change nothing.
            existing.messages += 1;
            match existing.state.clone() {
                State::Awarded(a) if a.stored <= self.durable_upto => {
                    let body = Body::Award(Award {
                        request: r.request,
                        version: a.version,
                        grant: a.grant.clone(),
                        valid_until: a.valid_until,
                    });
                    self.send(d, body, None);
                }
                State::Waiting {
                    best_offer, reason, ..
                } => {
                    self.send(
                        d,
                        Body::Reject(Reject {
                            request: r.request,
                            reason,
                            best_offer,
                            waiting: true,
                        }),
                        None,
                    );
                }
                _ => {}
            }
            return;
        }
        self.stats.requests += 1;
        let dev = &self.devs[d];
        let allowed = dev.rec.max_priority;
        let class = dev.priority.unwrap_or(allowed);
        let final_reject = |c: &mut Self, reason: RejectReason| {
            c.stats.rejects += 1;
            c.stats.negotiation_messages += 1;
            c.out.push_back(Output::Event(Event::Rejected {
                device: c.devs[d].rec.id.clone(),
                request: r.request,
                reason: reason.clone(),
                waiting: false,
            }));
            c.send(
                d,
                Body::Reject(Reject {
                    request: r.request,
                    reason,
                    best_offer: None,
                    waiting: false,
                }),
                None,
            );
        };
        if dev.paused {
            return final_reject(self, RejectReason::Paused);
        }
        if r.priority > allowed {
            self.security(
                Some(dev.rec.id.clone()),
                SecurityProblem::PriorityNotAllowed,
            );
            return final_reject(self, RejectReason::PriorityNotAllowed { allowed });
        }
        if let Err(problem) =
            r.demand
                .validate(r.earliest_start, r.deadline, self.cfg.clock.slot_ms)
        {
            return final_reject(self, RejectReason::Invalid { problem });
        }
        if dev.open.len() >= limits::MAX_OPEN_REQUESTS_PER_DEVICE {
            return final_reject(
                self,
                RejectReason::TooManyOpen {
                    max: limits::MAX_OPEN_REQUESTS_PER_DEVICE,
                },
            );
        }
        if r.deadline <= self.slot {
            return final_reject(self, RejectReason::Expired { now: self.slot });
        }
        if r.earliest_start >= self.book.end() {
            return final_reject(
                self,
                RejectReason::BeyondHorizon {
                    horizon_end: self.book.end(),
                },
            );
        }
        let mut r = r;
        // An operator's class change applies to what the device asks from then on.
        r.priority = r.priority.min(class);
        self.out.push_back(Output::Event(Event::Request {
            device: self.devs[d].rec.id.clone(),
            request: r.request,
            priority: r.priority,
            kind: r.demand.kind().to_string(),
        }));
        self.devs[d].open.insert(r.request);
        self.arrivals += 1;
        let forecast = matches!(r.demand, Demand::PowerForecast { .. });
        self.pending_keys.insert(key);
        self.reqs.insert(
            key,
            Req {
                dev: d,
                req: r,
                arrival: self.arrivals,
                state: State::Pending,
                rounds: 0,
                messages: 1,
            },
        );
        if forecast {
            self.book_forecast(key);
        } else if self.cfg.mechanism == Mechanism::OneShotMarket {
            // The market clears at slot boundaries only.
        } else {
            let w = self.cfg.batch_window_ms;
            self.schedule_batch(w);
        }
    }

    fn on_counter(&mut self, d: usize, c: CounterBid) {
        let key = (d, c.request);
        self.stats.negotiation_messages += 1;
        let Some(r) = self.reqs.get_mut(&key) else {
            return;
        };
        r.messages += 1;
        match c.choice {
            CounterChoice::Withdraw => {
                self.end_request(key, EndReason::Released);
            }
            CounterChoice::Raise {
                bid_per_mille,
                deadline,
            } => {
                if matches!(r.state, State::Waiting { .. }) {
                    r.req.bid_per_mille = bid_per_mille.max(r.req.bid_per_mille);
                    r.req.deadline = deadline.max(r.req.deadline);
                    r.rounds += 1;
                    let w = self.cfg.batch_window_ms;
                    self.schedule_batch(w);
                }
            }
            CounterChoice::Accept { .. } => {
                let State::Waiting {
                    best_offer: Some(offer),
                    ..
                } = r.state.clone()
                else {
                    return;
                };
                r.rounds += 1;
                let path = self.cfg.tree.path(self.devs[d].rec.circuit).to_vec();
                if offer.start >= self.slot
                    && self.book.check(&path, offer.start, &offer.power_mw).is_ok()
                {
                    self.book.add(&path, offer.start, &offer.power_mw);
                    let rounds = r.rounds;
                    self.award(
                        key,
                        Placement {
                            start: offer.start,
                            powers: offer.power_mw,
                        },
                        rounds,
                    );
                } else {
                    // Gone in the meantime: it keeps waiting, holding no offer, so that the
                    // next best offer is sent whatever it is.
                    if let State::Waiting { best_offer, .. } = &mut r.state {
                        *best_offer = None;
                    }
                    let w = self.cfg.batch_window_ms;
                    self.schedule_batch(w);
                }
            }
        }
    }

    fn on_release(&mut self, d: usize, rel: Release) {
        let key = (d, rel.request);
        self.stats.negotiation_messages += 1;
        let Some(r) = self.reqs.get_mut(&key) else {
            return;
        };
        r.messages += 1;
        match &r.state {
            State::Awarded(a) => {
                let from = rel.from_slot.max(self.slot);
                if from <= a.grant.start {
                    self.end_request(key, EndReason::Released);
                } else if from < a.grant.end() {
                    // Keep the part already running; the device said it needs no more.
                    let mut g = a.grant.clone();
                    g.power_mw.truncate((from - g.start) as usize);
                    self.change_grant(key, g, InstructionKind::Scale, "released by the device");
                }
            }
            _ => self.end_request(key, EndReason::Released),
        }
        // Freed capacity goes to whoever waits.
        self.schedule_batch(0);
    }

    fn on_telemetry(&mut self, d: usize, t: Telemetry) {
        self.devs[d].measured = Some((t.slot, t.measured_mw));
        // Uncontrollable load: a new forecast re-books its reservation beyond the firm
        // window (inside it, the old reservation stands and the timeslot manager absorbs
        // the difference).
        if !t.forecast.is_empty() {
            // A device asks for its load one window after another, the next before the
            // last ends: the forecast re-books each window over its own slots.
            let keys: Vec<(usize, RequestId)> = self
                .reqs
                .range((d, RequestId::MIN)..=(d, RequestId::MAX))
                .filter(|(_, r)| matches!(r.req.demand, Demand::PowerForecast { .. }))
                .map(|(k, _)| *k)
                .collect();
            for key in keys {
                self.reforecast(key, t.slot.saturating_add(1), &t.forecast);
            }
        }
        self.renew(d, &t.holding);
    }

    /// Renews the leases of the grants a device holds in their current version; resends
    /// what it is missing; revokes what it holds and should not.
    fn renew(&mut self, d: usize, holding: &[(RequestId, u32)]) {
        let until = self.slot.saturating_add(self.cfg.lease_slots);
        let mut renewed = Vec::new();
        let held: BTreeMap<RequestId, u32> = holding.iter().copied().collect();
        let open: Vec<RequestId> = self.devs[d].open.iter().copied().collect();
        for request in open {
            let key = (d, request);
            let Some(r) = self.reqs.get_mut(&key) else {
                continue;
            };
            let State::Awarded(a) = &mut r.state else {
                continue;
            };
            if a.stored > self.durable_upto {
                continue;
            }
            match held.get(&request) {
                Some(&v) if v == a.version => {
                    a.valid_until = a.valid_until.max(until);
                    renewed.push((request, v));
                }
                _ if a.grant.end() <= self.slot => {
                    // Revoked or over: nothing to resend; the device's old version is not
                    // renewed and lapses at its lease end.
                }
                holds => {
                    // It never got this version (lost message): send it again. Its old
                    // version is not renewed, so it lapses on the device at its lease end.
                    // A device that holds no version at all (its award was lost, then the
                    // grant changed) is sent the award: it follows no change to a grant it
                    // does not hold.
                    let body = if a.version == 1 || matches!(holds, None | Some(0)) {
                        Body::Award(Award {
                            request,
                            version: a.version,
                            grant: a.grant.clone(),
                            valid_until: a.valid_until,
                        })
                    } else {
                        Body::Instruction(Instruction {
                            request,
                            version: a.version,
                            kind: InstructionKind::Scale,
                            grant: a.grant.clone(),
                            valid_until: a.valid_until,
                        })
                    };
                    self.send(d, body, None);
                }
            }
        }
        for (&request, &v) in &held {
            let state = self.reqs.get(&(d, request)).map(|r| &r.state);
            if v == 0 {
                // Named as waiting: still waiting, or awarded (sent again above), is
                // nothing to answer; unknown here means its answer was lost and it ended.
                if state.is_none() {
                    self.send(
                        d,
                        Body::Reject(Reject {
                            request,
                            reason: RejectReason::NotHeld,
                            best_offer: None,
                            waiting: false,
                        }),
                        None,
                    );
                }
                continue;
            }
            let known = matches!(state, Some(State::Awarded(_)));
            if !known {
                // It follows a grant that ended here (after a lapse or a restart): stop it.
                self.send(
                    d,
                    Body::Instruction(Instruction {
                        request,
                        version: v.saturating_add(1),
                        kind: InstructionKind::Revoke,
                        grant: Grant::default(),
                        valid_until: self.slot,
                    }),
                    None,
                );
            }
        }
        if !renewed.is_empty() {
            self.send(
                d,
                Body::Lease(Lease {
                    valid_until: until,
                    grants: renewed,
                }),
                None,
            );
        }
    }

    // ----- budget and operators ----------------------------------------------------------

    fn on_budget(
        &mut self,
        circuit: CircuitIx,
        from: Slot,
        values: &[i64],
    ) -> Result<(), ProtocolError> {
        check_budget(&self.cfg.tree, circuit, values)?;
        // The class budgets were shares of the curve this one replaces.
        self.class_budgets.retain(|&(n, _), _| n != circuit);
        self.book.set_capacity(circuit, from, values);
        let firm_end = self.slot.saturating_add(self.cfg.firm_slots);
        for b in self.book.overbooked_on(&[circuit]) {
            if b.slot < firm_end {
                self.out.push_back(Output::Event(Event::BudgetBreach {
                    circuit: self.cfg.tree.name(b.circuit).into(),
                    slot: b.slot,
                    capacity_mw: b.capacity_mw,
                    committed_mw: b.committed_mw,
                }));
            }
        }
        self.resolve_overbooking("budget cut", &[circuit]);
        self.schedule_batch(0);
        Ok(())
    }

    /// Whether [`CoordInput::ClassBudget`] would take this class budget, without taking it
    /// (a service checks every part of an update before it applies any).
    pub fn check_class_budget(
        &self,
        circuit: CircuitIx,
        class: Priority,
        values_mw: &[i64],
    ) -> Result<(), ProtocolError> {
        check_budget(&self.cfg.tree, circuit, values_mw)?;
        if class >= Priority::High {
            return Err(ProtocolError::Value {
                field: "class",
                problem: "a class budget limits normal or low (it keeps the rest for high)",
            });
        }
        Ok(())
    }

    /// What the class budgets that limit `class` (its own and those of the classes above it
    /// below high) keep for the high class per circuit, per slot from `from` over `len`
    /// slots: the budget less the class budget, less what the high class books there or
    /// is held for (`pressing`, the holds of [`Self::hold_for_classes_above`]). The largest
    /// over those class budgets; circuits without one are left out.
    fn kept_above(
        &self,
        class: Priority,
        from: Slot,
        len: usize,
        pressing: &[Hold],
    ) -> BTreeMap<CircuitIx, Vec<i64>> {
        let mut high: BTreeMap<CircuitIx, Vec<i64>> = BTreeMap::new();
        let mut out: BTreeMap<CircuitIx, Vec<i64>> = BTreeMap::new();
        let limiting = self
            .class_budgets
            .iter()
            .filter(|((_, limited), _)| *limited >= class);
        for (&(n, _), (start, values)) in limiting {
            let high = high
                .entry(n)
                .or_insert_with(|| self.high_class_on(n, from, len, pressing));
            let need = out.entry(n).or_insert_with(|| vec![0; len]);
            for (k, (x, h)) in need.iter_mut().zip(high.iter()).enumerate() {
                let s = from + k as Slot;
                let Some(cap) = s
                    .checked_sub(*start)
                    .and_then(|i| values.get(i as usize).or(values.last()))
                else {
                    continue;
                };
                *x = (*x).max(self.book.capacity(n, s) - cap - h);
            }
        }
        out
    }

    /// What the high class books on circuit `n` and is held for there (`pressing`), per
    /// slot from `from` over `len` slots.
    fn high_class_on(&self, n: CircuitIx, from: Slot, len: usize, pressing: &[Hold]) -> Vec<i64> {
        let mut out = vec![0i64; len];
        let mut add = |start: Slot, powers: &[i64]| {
            for (k, &p) in powers.iter().enumerate() {
                if let Some(x) = (start + k as Slot)
                    .checked_sub(from)
                    .and_then(|i| out.get_mut(i as usize))
                {
                    *x += p;
                }
            }
        };
        let awarded = self.awarded_by_class[Priority::High as usize]
            .iter()
            .filter_map(|k| self.reqs.get(k));
        for r in awarded {
            if let State::Awarded(a) = &r.state
                && !matches!(r.req.demand, Demand::PowerForecast { .. })
                && self
                    .cfg
                    .tree
                    .path(self.devs[r.dev].rec.circuit)
                    .contains(&n)
            {
                add(a.booked.start, &a.booked.power_mw);
            }
        }
        for h in pressing.iter().filter(|h| h.path.contains(&n)) {
            add(h.start, &h.powers);
        }
        out
    }

    /// Before `class` is placed: what the class budgets keep for the high class and it
    /// neither books nor is held for ([`Self::kept_above`]), booked as far as there is
    /// room. Returns the holds, for [`CapacityBook::unhold`].
    fn hold_for_class_budgets(&mut self, class: Priority, pressing: &[Hold]) -> Vec<Hold> {
        let from = self.slot;
        let to = self.book.end();
        if to <= from || self.class_budgets.is_empty() {
            return Vec::new();
        }
        let kept = self.kept_above(class, from, (to - from) as usize, pressing);
        kept.into_iter()
            .filter_map(|(n, need)| self.hold(self.cfg.tree.path(n).to_vec(), from, &need))
            .collect()
    }

    /// Books `need` per slot from `from` on `path` (never below 0, as far as there is
    /// room): a hold, for [`CapacityBook::unhold`], if anything was booked.
    fn hold(&mut self, path: Vec<CircuitIx>, from: Slot, need: &[i64]) -> Option<Hold> {
        let powers: Vec<i64> = need
            .iter()
            .enumerate()
            .map(|(k, &x)| {
                x.max(0)
                    .min(self.book.path_headroom(&path, from + k as Slot).max(0))
            })
            .collect();
        powers.iter().any(|&p| p > 0).then(|| {
            self.book.add(&path, from, &powers);
            Hold {
                path,
                start: from,
                powers,
            }
        })
    }

    fn on_operator(&mut self, cmd: OperatorCommand) -> Result<(), ProtocolError> {
        let dev_ix = |c: &Self, id: &DeviceId| {
            c.by_id
                .get(id)
                .copied()
                .ok_or_else(|| ProtocolError::UnknownDevice(id.clone()))
        };
        let what = match cmd {
            OperatorCommand::SetPriority { device, priority } => {
                let d = dev_ix(self, &device)?;
                self.devs[d].priority = Some(priority);
                for (k, r) in self
                    .reqs
                    .range_mut((d, RequestId::MIN)..=(d, RequestId::MAX))
                {
                    if matches!(r.state, State::Waiting { .. }) {
                        self.waiting_keys[r.req.priority as usize].remove(k);
                        self.waiting_keys[priority as usize].insert(*k);
                    }
                    if !matches!(r.state, State::Awarded(_)) {
                        r.req.priority = priority;
                    }
                }
                self.schedule_batch(0);
                format!("priority of {device} set to {priority}")
            }
            OperatorCommand::SetDeadline {
                device,
                request,
                deadline,
            } => {
                let d = dev_ix(self, &device)?;
                let r = self
                    .reqs
                    .get_mut(&(d, request))
                    .ok_or(ProtocolError::Value {
                        field: "request",
                        problem: "no such open request",
                    })?;
                if matches!(r.state, State::Awarded(_)) {
                    return Err(ProtocolError::Value {
                        field: "request",
                        problem: "already awarded; release it first",
                    });
                }
                r.req.deadline = deadline.max(r.req.earliest_start.saturating_add(1));
                self.schedule_batch(0);
                format!("deadline of {device}/{request} set to slot {deadline}")
            }
            OperatorCommand::Pause(device) => {
                let d = dev_ix(self, &device)?;
                self.devs[d].paused = true;
                let keys: Vec<_> = self
                    .reqs
                    .iter()
                    .filter(|(_, r)| r.dev == d)
                    .map(|(k, _)| *k)
                    .collect();
                for key in keys {
                    let awarded = matches!(self.reqs[&key].state, State::Awarded(_));
                    if awarded {
                        self.change_grant(
                            key,
                            Grant::default(),
                            InstructionKind::Revoke,
                            "paused by an operator",
                        );
                    } else {
                        self.send_reject(key, RejectReason::Paused, None, false);
                        self.end_request(key, EndReason::Revoked);
                    }
                }
                format!("{device} paused")
            }
            OperatorCommand::Resume(device) => {
                let d = dev_ix(self, &device)?;
                self.devs[d].paused = false;
                format!("{device} resumed")
            }
            OperatorCommand::SetCircuitLimit {
                circuit,
                from_slot,
                limit_mw,
            } => {
                self.on_budget(circuit, from_slot, &[limit_mw])?;
                format!(
                    "limit of {} set to {limit_mw} mW from slot {from_slot}",
                    self.cfg.tree.name(circuit)
                )
            }
        };
        self.out.push_back(Output::Event(Event::Operator { what }));
        Ok(())
    }

    // ----- negotiation -------------------------------------------------------------------

    fn candidate(&self, r: &Req) -> Option<Candidate> {
        let shape = shape_of(&r.req.demand)?;
        let dev = &self.devs[r.dev];
        let mut bid = r.req.bid_per_mille;
        if let State::Waiting { since, .. } = r.state {
            // Aging: the bid doubles every `aging_slots` slots of waiting, so no request of
            // a class starves behind newer ones of the same class.
            let waited = self.slot.saturating_sub(since);
            let factor = 1 + u64::from(waited) / u64::from(self.cfg.aging_slots.max(1));
            bid = u32::try_from(u64::from(bid).saturating_mul(factor))
                .unwrap_or(u32::MAX)
                .min(limits::MAX_BID_PER_MILLE);
        }
        let mut deadline = r.req.deadline;
        let earliest = r.req.earliest_start;
        if let Shape::Envelope { .. } = shape {
            // Adaptive timeslot length: elastic grants are cut into timeslots that are
            // shorter when the site is tight, so shares are re-cut more often.
            let ts = self.timeslot_slots();
            deadline = deadline.min(earliest.max(self.slot).saturating_add(ts));
        }
        Some(Candidate {
            priority: r.req.priority,
            bid_per_mille: bid,
            tiebreak: (u64::from(dev.rec.port) << 32) | (r.arrival & 0xffff_ffff),
            circuit: dev.rec.circuit,
            earliest,
            deadline,
            shape,
        })
    }

    /// The stated rule for the timeslot length of elastic grants: 4 slots when the site's
    /// root is less than half booked over the next 4 slots, 2 below 80 %, else 1.
    pub fn timeslot_slots(&self) -> u32 {
        let u = self.utilisation(4);
        if u < 0.5 {
            4
        } else if u < 0.8 {
            2
        } else {
            1
        }
    }

    /// Booked ÷ capacity at the root over the next `slots` slots.
    pub fn utilisation(&self, slots: u32) -> f64 {
        let (mut used, mut cap) = (0i128, 0i128);
        for s in self.slot..self.slot.saturating_add(slots).min(self.book.end()) {
            used += i128::from(self.book.committed(0, s));
            cap += i128::from(self.book.capacity(0, s));
        }
        if cap <= 0 {
            1.0
        } else {
            used as f64 / cap as f64
        }
    }

    fn run_batch(&mut self) {
        match self.cfg.mechanism {
            Mechanism::Auction => self.run_auction(),
            Mechanism::SeedRule => self.run_seed_rule(),
            Mechanism::OneShotMarket => {}
        }
    }

    fn run_auction(&mut self) {
        // Waiting requests did not fit the last time they were tried; unless room has
        // appeared since, or a new arrival of a lower class could give way to them (a
        // preemption), they still do not, and a batch of new arrivals leaves them out (on a
        // busy site that keeps each batch's cost to what is new). Freed room is gathered
        // for `retry_ms` and offered once: on a busy site room frees in almost every batch.
        let epoch = self.book.freed_epoch();
        let lowest_new = self
            .pending_keys
            .iter()
            .filter_map(|k| self.reqs.get(k))
            .filter(|r| matches!(r.state, State::Pending))
            .map(|r| r.req.priority)
            .min();
        let room_freed = self.waiting_tried != Some(epoch);
        let due = self
            .waiting_tried_at
            .map(|t| t.after_ms(self.cfg.retry_ms))
            .filter(|&d| d > self.now);
        let give_way = lowest_new.is_some_and(|n| {
            // The highest class waiting: the first waiting request found, classes highest
            // first.
            self.waiting_keys
                .iter()
                .rev()
                .flatten()
                .filter_map(|k| self.reqs.get(k))
                .find(|r| matches!(r.state, State::Waiting { .. }))
                .is_some_and(|r| r.req.priority > n)
        });
        let retry_waiting = give_way || (room_freed && due.is_none());
        // Room freed before the retry is due: the waiting requests get a batch of their own
        // then.
        if let Some(due) = due.filter(|_| room_freed && !retry_waiting) {
            self.batch_at = Some(self.batch_at.map_or(due, |b| b.min(due)));
        }
        let mut keys: Vec<(usize, RequestId)> = self
            .pending_keys
            .iter()
            .filter(|k| {
                self.reqs
                    .get(k)
                    .is_some_and(|r| matches!(r.state, State::Pending))
            })
            .copied()
            .collect();
        if retry_waiting {
            keys.extend(self.waiting_keys.iter().flatten().filter(|k| {
                self.reqs
                    .get(k)
                    .is_some_and(|r| matches!(r.state, State::Waiting { .. }))
            }));
            keys.sort_unstable();
        }
        if keys.is_empty() {
            return;
        }
        // One batch per class, highest first: before each, what the classes above still
        // want is held (`hold_for_classes_above`), and taken back after it.
        let mut by_class: BTreeMap<core::cmp::Reverse<Priority>, ClassBatch> = BTreeMap::new();
        for &k in &keys {
            if let Some(c) = self.candidate(&self.reqs[&k]) {
                let b = by_class.entry(core::cmp::Reverse(c.priority)).or_default();
                b.cands.push(c);
                b.keys.push(k);
            }
        }
        let (mut placed, mut waiting, mut preempted) = (0u32, 0u32, 0u32);
        let (mut requests, mut iterations) = (0u32, 0u32);
        for (core::cmp::Reverse(class), batch) in by_class {
            let mut holds = self.hold_for_classes_above(class);
            let kept = self.hold_for_class_budgets(class, &holds);
            holds.extend(kept);
            let (p, w, x, it) = self.place_class(&batch.cands, &batch.keys);
            for h in holds {
                self.book.unhold(&h.path, h.start, &h.powers);
            }
            placed += p;
            waiting += w;
            preempted += x;
            iterations += it;
            requests += batch.cands.len() as u32;
        }
        // Every waiting request has now been tried at `epoch` (a preemption in this batch
        // moved the epoch on, so the next batch tries them again).
        if retry_waiting {
            self.waiting_tried = Some(epoch);
            self.waiting_tried_at = Some(self.now);
        }
        self.stats.batches += 1;
        self.out.push_back(Output::Event(Event::Batch {
            slot: self.slot,
            requests,
            placed,
            waiting,
            iterations,
            preemptions: preempted,
        }));
    }

    /// What elastic loads of classes above `class` still want and do not hold, booked on
    /// their paths for [`CoordinatorConfig::class_hold_slots`] slots past the leases (as far
    /// as there is room): a lower class's new placement does not take capacity a higher
    /// class is asking for right now and will most likely ask for next (an elastic load
    /// that wants more now, wants it in the coming hours: persistence). Without it, jobs of
    /// a lower class booked hours ahead hold a scarce site's capacity that higher classes
    /// then have to take back slot by slot, and a lower-class job started and then cut
    /// draws energy for nothing. Returns the holds, for [`CapacityBook::unhold`].
    fn hold_for_classes_above(&mut self, class: Priority) -> Vec<Hold> {
        if class == Priority::Critical {
            return Vec::new();
        }
        let from = self.slot.saturating_add(self.cfg.lease_slots);
        let to = from
            .saturating_add(self.cfg.class_hold_slots)
            .min(self.book.end());
        if to <= from {
            return Vec::new();
        }
        // Per device (requests are keyed by device first, so a device's are adjacent): the
        // most its open envelope requests ask, and what it holds in the first slot it could
        // take back. Only a device held below what it asks there is pressing; the others,
        // most of a large fleet, cost no more than this one pass.
        let presses = |r: &Req| match (&r.req.demand, r.req.priority > class) {
            (Demand::PowerEnvelope { max_mw, .. }, true) => Some(*max_mw),
            _ => None,
        };
        let mut wants: Vec<(usize, i64, i64)> = Vec::new();
        for (&(d, _), r) in &self.reqs {
            let Some(max_mw) = presses(r) else {
                continue;
            };
            let got = match &r.state {
                State::Awarded(a) => a.booked.at(from),
                _ => 0,
            };
            match wants.last_mut() {
                Some(w) if w.0 == d => {
                    w.1 = w.1.max(max_mw);
                    w.2 += got;
                }
                _ => wants.push((d, max_mw, got)),
            }
        }
        let mut held = Vec::new();
        for (d, want, got_first) in wants {
            if got_first >= want {
                continue;
            }
            // What the pressing device holds per slot of the hold.
            let mut got = vec![0; (to - from) as usize];
            for r in self
                .reqs
                .range((d, RequestId::MIN)..=(d, RequestId::MAX))
                .map(|e| e.1)
            {
                if let (Some(_), State::Awarded(a)) = (presses(r), &r.state) {
                    for (k, x) in got.iter_mut().enumerate() {
                        *x += a.booked.at(from + k as Slot);
                    }
                }
            }
            let path = self.cfg.tree.path(self.devs[d].rec.circuit).to_vec();
            let need: Vec<i64> = got.iter().map(|&g| want - g).collect();
            held.extend(self.hold(path, from, &need));
        }
        held
    }

    /// Places one class's candidates: the auction, then top-ups, then preemption for what
    /// did not fit. Returns (placed, waiting, preempted, auction iterations).
    fn place_class(
        &mut self,
        cands: &[Candidate],
        ckeys: &[(usize, RequestId)],
    ) -> (u32, u32, u32, u32) {
        self.preempt_bound = None;
        self.preempt_victims = None;
        let res = auction::allocate(
            &self.cfg.tree,
            &mut self.book,
            self.slot,
            cands,
            &self.cfg.auction,
        );
        let (mut placed, mut waiting, mut preempted) = (0u32, 0u32, 0u32);
        for (i, outcome) in res.outcomes.into_iter().enumerate() {
            let key = ckeys[i];
            let rounds = res.rounds[i];
            match outcome {
                Outcome::Placed(p) => {
                    placed += 1;
                    let p = self.top_up_envelope(&cands[i], p);
                    let total = self.reqs[&key].rounds + rounds;
                    self.award(key, p, total);
                }
                Outcome::Unplaced {
                    binding,
                    best_offer,
                } => {
                    // Placed by preemption an elastic load gets what fits at the least; it
                    // is topped up from there like one placed outright.
                    let preempted_now = self
                        .try_preempt(&cands[i], false)
                        .map(|p| self.top_up_envelope(&cands[i], p));
                    if let Some(p) = preempted_now.or_else(|| {
                        let later = self.past_the_leases(&cands[i], key)?;
                        let p = self.try_preempt(&later, false)?;
                        Some(self.top_up_envelope(&later, p))
                    }) {
                        preempted += 1;
                        placed += 1;
                        let total = self.reqs[&key].rounds + rounds;
                        self.award(key, p, total);
                        continue;
                    }
                    waiting += 1;
                    self.leave_waiting(key, binding, best_offer, rounds);
                }
            }
        }
        (placed, waiting, preempted, res.iterations)
    }

    /// The seed's rule (seed 000's pseudocode), in arrival order, one slot at a time. Its
    /// ambiguities, resolved: the receiving device A is the owner of the capacity, whose
    /// "predicted demand" is what it already granted in that slot and whose "available
    /// power" is the slot's capacity; B's predicted demand is its P50; `highest_bid` is the
    /// highest bid granted so far in that slot; a request is for its first slot only. As
    /// written the rule is **unsafe**: its `else` branch grants a higher bid without
    /// checking capacity again, so grants can exceed the budget (measured, not fixed).
    fn run_seed_rule(&mut self) {
        let mut keys: Vec<((usize, RequestId), u64)> = self
            .reqs
            .iter()
            .filter(|(_, r)| matches!(r.state, State::Pending))
            .map(|(k, r)| (*k, r.arrival))
            .collect();
        keys.sort_by_key(|&(_, a)| a);
        let (mut placed, mut rejected) = (0, 0);
        for (key, _) in keys {
            let r = &self.reqs[&key];
            let slot = r.req.earliest_start.max(self.slot);
            let p50 = match &r.req.demand {
                Demand::PowerProfile { profile, .. } => profile.first().map_or(0, |v| v.p50_mw),
                Demand::EnergyTarget { max_mw, .. } | Demand::PowerEnvelope { max_mw, .. } => {
                    *max_mw
                }
                Demand::PowerForecast { .. } => 0,
            };
            let latency = r.req.acceptable_latency(self.cfg.clock.slot_ms);
            let path = self.cfg.tree.path(self.devs[r.dev].rec.circuit).to_vec();
            let fits = self.book.check(&path, slot, &[p50]).is_ok();
            let bid = r.req.priority.level() * i64::from(latency);
            let highest = self.highest_bid.get(&slot).copied().unwrap_or(0);
            if fits || bid > highest {
                if !fits {
                    self.highest_bid.insert(slot, bid);
                }
                self.book.add(&path, slot, &[p50]);
                placed += 1;
                self.award(
                    key,
                    Placement {
                        start: slot,
                        powers: vec![p50],
                    },
                    1,
                );
            } else {
                rejected += 1;
                self.send_reject(
                    key,
                    RejectReason::Outbid {
                        winning_bid: highest,
                    },
                    None,
                    false,
                );
                self.end_request(key, EndReason::Released);
            }
        }
        self.stats.batches += 1;
        self.out.push_back(Output::Event(Event::Batch {
            slot: self.slot,
            requests: placed + rejected,
            placed,
            waiting: 0,
            iterations: 1,
            preemptions: 0,
        }));
    }

    /// The one-shot market: at the start of a slot, every bid for that slot is cleared at
    /// once, highest price first (ties: class, port, arrival), each granted whole if it
    /// fits every circuit on its path. No look-ahead: a bid is for one slot.
    pub fn clear_market(&mut self) {
        let slot = self.slot;
        let mut bids: Vec<((usize, RequestId), i64, u64, i64)> = Vec::new();
        for (k, r) in &self.reqs {
            if !matches!(r.state, State::Pending) || r.req.earliest_start > slot {
                continue;
            }
            let power = match &r.req.demand {
                Demand::PowerProfile { profile, .. } => profile.first().map_or(0, |v| v.p90_mw),
                Demand::EnergyTarget { max_mw, .. } | Demand::PowerEnvelope { max_mw, .. } => {
                    *max_mw
                }
                Demand::PowerForecast { .. } => continue,
            };
            let price = r.req.priority.weight() * i64::from(r.req.bid_per_mille);
            let tb = (u64::from(self.devs[r.dev].rec.port) << 32) | (r.arrival & 0xffff_ffff);
            bids.push((*k, price, tb, power));
        }
        bids.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
        let (mut placed, mut rejected) = (0, 0);
        let mut clearing = 0;
        for (key, price, _, power) in bids {
            let path = self.cfg.tree.path(self.devs[key.0].rec.circuit).to_vec();
            if self.book.check(&path, slot, &[power]).is_ok() {
                self.book.add(&path, slot, &[power]);
                placed += 1;
                clearing = price;
                self.award(
                    key,
                    Placement {
                        start: slot,
                        powers: vec![power],
                    },
                    1,
                );
            } else {
                rejected += 1;
                self.send_reject(
                    key,
                    RejectReason::Outbid {
                        winning_bid: clearing,
                    },
                    None,
                    false,
                );
                self.end_request(key, EndReason::Released);
            }
        }
        if placed + rejected > 0 {
            self.stats.batches += 1;
            self.out.push_back(Output::Event(Event::Batch {
                slot,
                requests: placed + rejected,
                placed,
                waiting: 0,
                iterations: 1,
                preemptions: 0,
            }));
        }
    }

    /// An elastic load's window moved past the leases running now, if it lies inside them:
    /// inside, nothing booked by a lower class can be taken back (the holders may draw it
    /// whatever they hear), so a waiting elastic load asking for the next slots would stay
    /// behind them for ever. Past them it can (`try_preempt`), starting a little later.
    fn past_the_leases(&self, c: &Candidate, key: (usize, RequestId)) -> Option<Candidate> {
        let Shape::Envelope { .. } = c.shape else {
            return None;
        };
        let from = c.earliest.max(self.slot);
        let past = self.slot.saturating_add(self.cfg.lease_slots);
        if from >= past {
            return None;
        }
        let len = c.deadline.saturating_sub(from).max(1);
        let deadline = past
            .saturating_add(len)
            .min(self.reqs.get(&key)?.req.deadline);
        (deadline > past).then(|| Candidate {
            earliest: past,
            deadline,
            ..c.clone()
        })
    }

    /// Tries to place `c` by taking capacity from grants of strictly lower classes that may
    /// be preempted (a critical request may also take it from running jobs), from the end
    /// of their leases on. Returns the placement (booked), or restores everything. With
    /// `spare_elastic`, elastic loads are not among the victims.
    fn try_preempt(&mut self, c: &Candidate, spare_elastic: bool) -> Option<Placement> {
        let path = self.cfg.tree.path(c.circuit).to_vec();
        let lo = c.earliest.max(self.slot);
        let hi = c.deadline.min(self.book.end());
        if hi <= lo || !self.preemption_could_fit(c, &path, lo, hi) {
            return None;
        }
        let victims = self.preemption_victims(c.priority, &path, spare_elastic, lo, hi);
        if victims.is_empty() {
            return None;
        }
        let mut taken: Vec<((usize, RequestId), Grant)> = Vec::new();
        let mut result = None;
        for vkey in victims {
            // What the entry said when the class batch began, checked on the grant as it is
            // now (inside a batch grants of lower classes only shrink, or end).
            let Some(r) = self.reqs.get(&vkey) else {
                continue;
            };
            let Some(a) = self.lower_on_path(r, c.priority, &path, spare_elastic) else {
                continue;
            };
            if !(a.booked.start < hi && a.booked.end() > lo.max(a.valid_until)) {
                continue;
            }
            let vpath = self.cfg.tree.path(self.devs[r.dev].rec.circuit).to_vec();
            // What the victim has booked from its lease end on can be taken.
            let cut = a.valid_until.max(self.slot);
            let freed = from_slot(&a.booked, cut);
            self.book.remove(&vpath, freed.start, &freed.power_mw);
            taken.push((vkey, freed));
            if let Some(p) =
                auction::probe(&self.cfg.tree, &self.book, self.slot, c, &self.cfg.auction)
            {
                self.book.add(&path, p.start, &p.powers);
                result = Some(p);
                break;
            }
        }
        let Some(placed) = result else {
            for (vkey, freed) in taken {
                let vpath = self.cfg.tree.path(self.devs[vkey.0].rec.circuit).to_vec();
                self.book.add(&vpath, freed.start, &freed.power_mw);
            }
            return None;
        };
        // Victims get back whatever still fits of what they lost; the rest is shed. A paused
        // job asks again for the rest of its run (the device's side of re-negotiation).
        for (vkey, freed) in taken {
            self.stats.preemptions += 1;
            let vpath = self.cfg.tree.path(self.devs[vkey.0].rec.circuit).to_vec();
            // The book holds the victim's old booking less `freed`: what fits back is
            // measured on that, then the old booking is restored so that `set_grant` can
            // swap it for the new one.
            let mut back = freed.clone();
            for (k, p) in back.power_mw.iter_mut().enumerate() {
                let room = self
                    .book
                    .path_headroom(&vpath, back.start + k as Slot)
                    .max(0);
                *p = (*p).min(room);
            }
            self.book.add(&vpath, freed.start, &freed.power_mw);
            let Some(r) = self.reqs.get(&vkey) else {
                continue;
            };
            let State::Awarded(a) = &r.state else {
                continue;
            };
            let cut = a.valid_until.max(self.slot);
            let mut g = a.grant.clone();
            for (k, p) in g.power_mw.iter_mut().enumerate() {
                let s = g.start + k as Slot;
                if s >= cut {
                    *p = (*p).min(back.at(s));
                }
            }
            if !r.preemptible() && a.grant.start <= self.slot {
                self.stats.committed_cuts += 1;
            }
            let mut booked = a.booked.clone();
            for (k, p) in booked.power_mw.iter_mut().enumerate() {
                let s = booked.start + k as Slot;
                if s >= cut {
                    *p = back.at(s);
                }
            }
            let kind = if g.power_mw.iter().all(|&p| p == 0) {
                InstructionKind::Shed
            } else {
                InstructionKind::Scale
            };
            let why = format!("preempted by a {} request", c.priority);
            self.set_grant(vkey, g, booked, kind, &why);
        }
        Some(placed)
    }

    /// The grants a preemption for a request of `class` on `path` may take from, overlapping
    /// `lo..hi` past their leases, lowest class first and inside a class the highest port
    /// first. The list of the classes below is gathered and sorted once per class batch (a
    /// scan of every lower-class grant, per waiting request, made a batch quadratic); the
    /// caller checks each entry on the grant as it is now.
    fn preemption_victims(
        &mut self,
        class: Priority,
        path: &[CircuitIx],
        spare_elastic: bool,
        lo: Slot,
        hi: Slot,
    ) -> Vec<Key> {
        if !matches!(&self.preempt_victims, Some((p, _)) if *p == class) {
            let mut all: Vec<(Priority, u64, VictimEntry)> = self
                .awarded_below(Some(class))
                .filter_map(|(k, r)| {
                    let State::Awarded(a) = &r.state else {
                        return None;
                    };
                    // `awarded_below` holds neither forecasts nor this class and above.
                    if !(r.preemptible() || class == Priority::Critical) {
                        return None;
                    }
                    let entry = VictimEntry {
                        key: *k,
                        circuit: self.devs[r.dev].rec.circuit,
                        elastic: matches!(r.req.demand, Demand::PowerEnvelope { .. }),
                        start: a.booked.start,
                        end: a.booked.end(),
                        valid_until: a.valid_until,
                    };
                    Some((r.req.priority, self.tiebreak(r), entry))
                })
                .collect();
            // Lowest class first; inside a class the highest port gives way first.
            all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            self.preempt_victims = Some((class, all.into_iter().map(|e| e.2).collect()));
        }
        let Some((_, all)) = &self.preempt_victims else {
            return Vec::new();
        };
        all.iter()
            .filter(|v| {
                !(spare_elastic && v.elastic)
                    && v.start < hi
                    && v.end > lo.max(v.valid_until)
                    && self
                        .cfg
                        .tree
                        .path(v.circuit)
                        .iter()
                        .any(|n| path.contains(n))
            })
            .map(|v| v.key)
            .collect()
    }

    /// Whether `c` could fit at its root if every grant it may preempt there gave up all it
    /// has booked past its lease: if not, no choice of victims makes it fit, and the search
    /// for them (a scan of every grant of the classes below, per waiting request) is
    /// skipped. The bound is summed once per class batch; inside one, grants of lower
    /// classes only shrink, so it stays an upper bound.
    fn preemption_could_fit(
        &mut self,
        c: &Candidate,
        path: &[CircuitIx],
        lo: Slot,
        hi: Slot,
    ) -> bool {
        let Some(&root) = path.last() else {
            return true;
        };
        let (origin, end) = (self.book.origin(), self.book.end());
        let fresh =
            matches!(&self.preempt_bound, Some((p, r, _)) if *p == c.priority && *r == root);
        if !fresh {
            // Over every grant a preemption of this class may take from (its list is
            // gathered once per class batch too).
            let all = self.preemption_victims(c.priority, &[root], false, origin, end);
            let mut free = vec![0i64; end.saturating_sub(origin) as usize];
            for r in all.iter().filter_map(|k| self.reqs.get(k)) {
                let State::Awarded(a) = &r.state else {
                    continue;
                };
                let cut = a.valid_until.max(self.slot).max(origin);
                for (k, &p) in a.booked.power_mw.iter().enumerate() {
                    let s = a.booked.start + k as Slot;
                    if s >= cut && s < end {
                        free[(s - origin) as usize] += p.max(0);
                    }
                }
            }
            self.preempt_bound = Some((c.priority, root, free));
        }
        let Some((_, _, free)) = &self.preempt_bound else {
            return true;
        };
        let avail = |s: Slot| {
            let f = free
                .get(s.saturating_sub(origin) as usize)
                .copied()
                .unwrap_or(0);
            self.book.path_headroom(&[root], s).saturating_add(f)
        };
        let lo = lo.max(origin);
        match &c.shape {
            // Its minimum in every slot of the window (as `auction::probe` asks).
            Shape::Envelope { min_mw, .. } => (lo..hi).all(|s| avail(s) >= *min_mw),
            // The whole profile from some start.
            Shape::Fixed(profile) => (lo..hi).any(|s| {
                profile
                    .iter()
                    .enumerate()
                    .map(|(k, &p)| (s + k as Slot, p))
                    .take_while(|&(t, _)| t < end)
                    .all(|(t, p)| avail(t) >= p)
            }),
            // At least its lowest power, somewhere.
            Shape::Energy { min_mw, .. } => (lo..hi).any(|s| avail(s) >= *min_mw),
        }
    }

    /// An elastic load placed below its maximum takes, beyond their leases, what jobs of
    /// lower classes have booked on its path (the priority rule: a class is not held at its
    /// minimum while a lower one draws on the same circuit). It asks, per slot, for the lesser
    /// of what it lacks and what the free room plus those bookings could give, and gets it
    /// whole or not at all (the victims are then left as they were).
    fn top_up_envelope(&mut self, c: &Candidate, p: Placement) -> Placement {
        let Shape::Envelope { max_mw, .. } = c.shape else {
            return p;
        };
        if c.priority == Priority::Low || p.powers.iter().all(|&x| x >= max_mw) {
            return p;
        }
        let path = self.cfg.tree.path(c.circuit).to_vec();
        let mut reclaimable = vec![0i64; p.powers.len()];
        // The grants it may take from are among the class batch's victim list (gathered
        // once per class batch; a scan of every lower-class grant per candidate was a
        // quarter of a 100,000-device day); each is checked as it is now.
        for key in self.preemption_victims(c.priority, &path, true, p.start, p.end()) {
            let Some(r) = self.reqs.get(&key) else {
                continue;
            };
            // Other elastic loads already shared by the max-min rule; jobs are what it takes.
            let Some(a) = self.lower_on_path(r, c.priority, &path, true) else {
                continue;
            };
            if !r.preemptible() {
                continue;
            }
            let cut = a.valid_until.max(self.slot);
            for (k, x) in reclaimable.iter_mut().enumerate() {
                let s = p.start + k as Slot;
                if s >= cut {
                    *x += a.booked.at(s);
                }
            }
        }
        if reclaimable.iter().all(|&x| x == 0) {
            return p;
        }
        let wanted: Vec<i64> = p
            .powers
            .iter()
            .enumerate()
            .map(|(k, &got)| {
                let room = self.book.path_headroom(&path, p.start + k as Slot).max(0);
                (max_mw - got).max(0).min(room + reclaimable[k])
            })
            .collect();
        if wanted.iter().all(|&x| x == 0) {
            return p;
        }
        let extra = Candidate {
            priority: c.priority,
            bid_per_mille: c.bid_per_mille,
            tiebreak: c.tiebreak,
            circuit: c.circuit,
            earliest: p.start,
            deadline: p.end(),
            shape: Shape::Fixed(wanted),
        };
        match self.try_preempt(&extra, true) {
            Some(q) => {
                // A fixed run as long as the window can only start where the window does.
                debug_assert_eq!((q.start, q.powers.len()), (p.start, p.powers.len()));
                Placement {
                    start: p.start,
                    powers: p.powers.iter().zip(&q.powers).map(|(a, b)| a + b).collect(),
                }
            }
            None => p,
        }
    }

    /// Awarded requests (maybe; see `awarded_by_class`) of the classes below `class`, or
    /// of every class with `None`, lowest class first.
    fn awarded_below(&self, class: Option<Priority>) -> impl Iterator<Item = (&Key, &Req)> {
        let classes = class.map_or(self.awarded_by_class.len(), |c| c as usize);
        self.awarded_by_class[..classes]
            .iter()
            .flatten()
            .filter_map(|k| self.reqs.get_key_value(k))
    }

    /// `r`'s award, if it is a grant of a class below `class` that shares a circuit with
    /// `path` (load nobody controls never is; with `spare_elastic`, nor are elastic loads).
    fn lower_on_path<'r>(
        &self,
        r: &'r Req,
        class: Priority,
        path: &[CircuitIx],
        spare_elastic: bool,
    ) -> Option<&'r AwardState> {
        let State::Awarded(a) = &r.state else {
            return None;
        };
        if r.req.priority >= class
            || matches!(r.req.demand, Demand::PowerForecast { .. })
            || (spare_elastic && matches!(r.req.demand, Demand::PowerEnvelope { .. }))
        {
            return None;
        }
        let vpath = self.cfg.tree.path(self.devs[r.dev].rec.circuit);
        vpath.iter().any(|n| path.contains(n)).then_some(a)
    }

    fn tiebreak(&self, r: &Req) -> u64 {
        (u64::from(self.devs[r.dev].rec.port) << 32) | (r.arrival & 0xffff_ffff)
    }

    /// Moves `key` from the open requests to the awarded ones of its kind.
    fn index_award(&mut self, key: Key, priority: Priority, forecast: bool) {
        self.pending_keys.remove(&key);
        self.waiting_keys[priority as usize].remove(&key);
        let index = if forecast {
            &mut self.awarded_forecasts
        } else {
            &mut self.awarded_by_class
        };
        index[priority as usize].insert(key);
    }

    fn award(&mut self, key: (usize, RequestId), p: Placement, rounds: u32) {
        let valid_until = self.slot.saturating_add(self.cfg.lease_slots);
        let Some(r) = self.reqs.get_mut(&key) else {
            return;
        };
        let grant = Grant {
            start: p.start,
            power_mw: p.powers,
        };
        r.rounds = rounds.max(1);
        r.messages += 1;
        let (priority, forecast) = (
            r.req.priority,
            matches!(r.req.demand, Demand::PowerForecast { .. }),
        );
        r.state = State::Awarded(AwardState {
            version: 1,
            grant: grant.clone(),
            booked: grant.clone(),
            valid_until,
            stored: u64::MAX,
        });
        let request = r.req.request;
        let d = r.dev;
        self.index_award(key, priority, forecast);
        self.stats.awards += 1;
        let rec = self.record_for(key);
        let seq = self.store(Record::Award(rec));
        self.mark_stored(key, seq);
        self.send(
            d,
            Body::Award(Award {
                request,
                version: 1,
                grant: grant.clone(),
                valid_until,
            }),
            Some(seq),
        );
        self.out.push_back(Output::Event(Event::Awarded {
            device: self.devs[d].rec.id.clone(),
            request,
            start: grant.start,
            end: grant.end(),
            peak_mw: grant.power_mw.iter().copied().max().unwrap_or(0),
            rounds: rounds.max(1),
        }));
    }

    /// The reason for a refusal: the binding circuit, the run of full slots around the
    /// binding slot there, what is committed, and the lowest class drawing there.
    fn reason_from(&self, b: &Binding) -> RejectReason {
        let full = |s: Slot| self.book.headroom(b.circuit, s) < b.needed_mw.max(1);
        let mut from = b.slot;
        while from > self.slot && full(from - 1) {
            from -= 1;
        }
        let mut to = b.slot + 1;
        while to < self.book.end() && full(to) {
            to += 1;
        }
        let there = |r: &Req| match &r.state {
            State::Awarded(a) if a.booked.start < to && a.booked.end() > from => {
                let p = self.cfg.tree.path(self.devs[r.dev].rec.circuit);
                p.contains(&b.circuit).then_some(r.req.priority)
            }
            _ => None,
        };
        // Classes lowest first (load nobody controls is committed there too): the first
        // grant found there is of the lowest class.
        let lowest = self
            .awarded_by_class
            .iter()
            .zip(&self.awarded_forecasts)
            .flat_map(|(controlled, forecasts)| controlled.iter().chain(forecasts))
            .find_map(|k| self.reqs.get(k).and_then(there));
        RejectReason::Full {
            circuit: self.cfg.tree.name(b.circuit).into(),
            from_slot: from,
            to_slot: to,
            capacity_mw: b.capacity_mw,
            committed_mw: b.committed_mw,
            lowest_class_there: lowest,
        }
    }

    fn leave_waiting(
        &mut self,
        key: (usize, RequestId),
        binding: Option<Binding>,
        best_offer: Option<Placement>,
        rounds: u32,
    ) {
        let Some(r) = self.reqs.get(&key) else { return };
        let offer = best_offer.map(|p| Grant {
            start: p.start,
            power_mw: p.powers,
        });
        let first_time = matches!(r.state, State::Pending);
        // The offer the device last heard: it stays the one an Accept refers to until a
        // better one is sent.
        let heard = match &r.state {
            State::Waiting { best_offer, .. } => best_offer.clone(),
            _ => None,
        };
        // A device that let an offer pass would let a later-finishing one pass too: a
        // waiting request hears a new best offer only when it finishes earlier than the one
        // it holds (or when it holds none), so a queue that shifts every batch stays quiet.
        let better = match (&offer, &heard) {
            (Some(o), Some(h)) => o.end() < h.end(),
            (Some(_), None) => true,
            (None, _) => false,
        };
        let tell = first_time || better;
        let offer = if tell { offer } else { heard };
        let since = match r.state {
            State::Waiting { since, .. } => since,
            _ => self.slot,
        };
        // Likewise the reason: a retransmitted request is answered with what the device
        // heard. Working out a new one looks through the grants on the binding circuit,
        // which every waiting request of every batch would otherwise pay for.
        let heard_reason = match &r.state {
            State::Waiting { reason, .. } if !tell => Some(reason.clone()),
            _ => None,
        };
        let reason = match (heard_reason, binding) {
            (Some(heard), _) => heard,
            (None, Some(b)) => self.reason_from(&b),
            (None, None) => RejectReason::BeyondHorizon {
                horizon_end: self.book.end(),
            },
        };
        let r = self.reqs.get_mut(&key).expect("present");
        r.rounds = r.rounds.max(rounds);
        self.pending_keys.remove(&key);
        self.waiting_keys[r.req.priority as usize].insert(key);
        r.state = State::Waiting {
            since,
            best_offer: offer.clone(),
            reason: reason.clone(),
        };
        if tell {
            self.send_reject(key, reason, offer, true);
        }
    }

    fn send_reject(
        &mut self,
        key: (usize, RequestId),
        reason: RejectReason,
        best_offer: Option<Grant>,
        waiting: bool,
    ) {
        let Some(r) = self.reqs.get_mut(&key) else {
            return;
        };
        r.messages += 1;
        let d = r.dev;
        let request = r.req.request;
        self.stats.rejects += 1;
        self.out.push_back(Output::Event(Event::Rejected {
            device: self.devs[d].rec.id.clone(),
            request,
            reason: reason.clone(),
            waiting,
        }));
        self.send(
            d,
            Body::Reject(Reject {
                request,
                reason,
                best_offer,
                waiting,
            }),
            None,
        );
    }

    // ----- grants after they are made ----------------------------------------------------

    fn record_of(&self, r: &Req, a: &AwardState) -> AwardRecord {
        AwardRecord {
            device: self.devs[r.dev].rec.id.clone(),
            request: r.req.request,
            priority: r.req.priority,
            kind: r.req.demand.kind().into(),
            preemptible: r.preemptible(),
            version: a.version,
            grant: a.grant.clone(),
            booked: a.booked.clone(),
            valid_until: a.valid_until,
            tiebreak: self.tiebreak(r),
            deadline: r.req.deadline,
        }
    }

    fn mark_stored(&mut self, key: Key, seq: u64) {
        if let Some(r) = self.reqs.get_mut(&key)
            && let State::Awarded(a) = &mut r.state
        {
            a.stored = seq;
        }
    }

    fn record_for(&self, key: (usize, RequestId)) -> AwardRecord {
        let r = &self.reqs[&key];
        let State::Awarded(a) = &r.state else {
            unreachable!("only awarded requests have records")
        };
        self.record_of(r, a)
    }

    /// Replaces a grant by `new`, keeping booked what the device may still draw under its
    /// old version (until its lease end), stores it, then instructs the device.
    fn change_grant(
        &mut self,
        key: (usize, RequestId),
        new: Grant,
        kind: InstructionKind,
        why: &str,
    ) {
        let Some(r) = self.reqs.get(&key) else { return };
        let State::Awarded(a) = &r.state else { return };
        let old = &a.booked;
        let start = if new.power_mw.is_empty() {
            old.start
        } else {
            old.start.min(new.start)
        };
        let end = old.end().max(new.end());
        let mut booked = Grant {
            start,
            power_mw: vec![0; (end - start) as usize],
        };
        // The device's word on the running slot bounds what it may draw there, whatever
        // version it follows: a lender's booking, lowered to its word, is not raised back.
        let word = self.devs[r.dev]
            .want
            .filter(|w| w.slot == self.slot)
            .map(|w| w.power_mw);
        for s in start..end {
            let keep_old = s < a.valid_until;
            let mut b = if keep_old {
                new.at(s).max(old.at(s))
            } else {
                new.at(s)
            };
            if let Some(w) = word
                && s == self.slot
            {
                b = b.min(old.at(s).max(w));
            }
            booked.power_mw[(s - start) as usize] = b;
        }
        self.set_grant(key, new, booked, kind, why);
    }

    /// Installs a new grant version with its booking (which must be at least the grant, and
    /// at least the old booking before the old lease end), rebooks, stores, instructs; does
    /// nothing when neither changes.
    fn set_grant(
        &mut self,
        key: (usize, RequestId),
        new: Grant,
        booked: Grant,
        kind: InstructionKind,
        why: &str,
    ) {
        let Some(r) = self.reqs.get_mut(&key) else {
            return;
        };
        let State::Awarded(a) = &mut r.state else {
            return;
        };
        if a.grant == new && a.booked == booked {
            // Nothing changes. A new version would cost a message and make the device's
            // next heartbeat name a stale version, so its lease would not be renewed and the
            // grant would be sent again (a preemption re-installed every victim it touched,
            // changed or not).
            return;
        }
        let path = self.cfg.tree.path(self.devs[r.dev].rec.circuit).to_vec();
        self.book.remove(&path, a.booked.start, &a.booked.power_mw);
        self.book.add(&path, booked.start, &booked.power_mw);
        a.version += 1;
        a.grant = new.clone();
        a.booked = booked;
        a.stored = u64::MAX;
        let (version, valid_until, request, d) = (a.version, a.valid_until, r.req.request, r.dev);
        let rec = self.record_for(key);
        let seq = self.store(Record::Award(rec));
        self.mark_stored(key, seq);
        self.send(
            d,
            Body::Instruction(Instruction {
                request,
                version,
                kind,
                grant: new,
                valid_until,
            }),
            Some(seq),
        );
        self.out.push_back(Output::Event(Event::Instructed {
            device: self.devs[d].rec.id.clone(),
            request,
            kind,
            why: why.into(),
        }));
    }

    fn end_request(&mut self, key: (usize, RequestId), reason: EndReason) {
        let Some(r) = self.reqs.remove(&key) else {
            return;
        };
        self.awarded_by_class[r.req.priority as usize].remove(&key);
        self.awarded_forecasts[r.req.priority as usize].remove(&key);
        self.pending_keys.remove(&key);
        self.waiting_keys[r.req.priority as usize].remove(&key);
        let d = r.dev;
        self.devs[d].open.remove(&r.req.request);
        if let State::Awarded(a) = &r.state {
            let path = self.cfg.tree.path(self.devs[d].rec.circuit).to_vec();
            // What the device may still draw under its lease stays booked (the book frees
            // it as the window rolls on): release from the later of now and the lease end.
            let from = match reason {
                EndReason::Completed => self.slot,
                // A forecast's load goes on whatever its messages do: its booking stays
                // through the firm window, where the standing reservation takes over.
                _ if matches!(r.req.demand, Demand::PowerForecast { .. }) => self.rebook_from(),
                _ => self.slot.max(a.valid_until.min(a.booked.end())),
            };
            let rest = from_slot(&a.booked, from);
            self.book.remove(&path, rest.start, &rest.power_mw);
            self.store(Record::AwardEnded {
                device: self.devs[d].rec.id.clone(),
                request: r.req.request,
                reason,
            });
            if !matches!(reason, EndReason::Completed) {
                self.out.push_back(Output::Event(Event::Ended {
                    device: self.devs[d].rec.id.clone(),
                    request: r.req.request,
                    reason,
                }));
            }
        }
        // Load nobody controls does not stop because its forecasts did: the standing
        // reservation takes over again where the forecast's booking ends.
        if matches!(r.req.demand, Demand::PowerForecast { .. })
            && matches!(r.state, State::Awarded(_))
        {
            // Unless the device's next forecast window already covers what follows: then
            // the standing reservation waits for that one's end.
            let next = self
                .reqs
                .range((d, RequestId::MIN)..=(d, RequestId::MAX))
                .map(|(_, o)| o)
                .filter(|o| matches!(o.req.demand, Demand::PowerForecast { .. }))
                .filter_map(|o| match &o.state {
                    State::Awarded(a) => Some(a.booked.end()),
                    _ => None,
                })
                .max();
            let from = self.rebook_from().max(next.unwrap_or(0));
            self.start_standing(d, from);
            // The standing reservation is booked whatever was granted there meanwhile: what
            // it overbooks beyond the firm window is taken back from grants now, while their
            // leases still let a lost instruction lapse in time.
            let path = self.cfg.tree.path(self.devs[d].rec.circuit).to_vec();
            self.resolve_overbooking(
                "load nobody controls back on its standing reservation",
                &path,
            );
        }
        self.finished.push((
            self.devs[d].rec.id.clone(),
            r.req.request,
            r.rounds.max(1),
            r.messages,
        ));
    }

    /// The first slot where the reservation of load nobody controls may be re-booked.
    fn rebook_from(&self) -> Slot {
        self.slot
            .saturating_add(self.cfg.firm_slots.max(self.cfg.rebook_slots))
    }

    /// Books an uncontrollable forecast as it stands (no check: this load runs anyway) and
    /// tells the device what is reserved for it.
    fn book_forecast(&mut self, key: (usize, RequestId)) {
        let Some(r) = self.reqs.get(&key) else { return };
        if !matches!(r.req.demand, Demand::PowerForecast { .. }) {
            return;
        }
        let start = r.req.earliest_start.max(self.slot);
        let skip = (start - r.req.earliest_start) as usize;
        // Only what lies inside the horizon is booked; later telemetry extends it.
        let room = self.book.end().saturating_sub(start) as usize;
        let dev = r.dev;
        let first_forecast = self.forecast_devs.insert(dev);
        let Some(r) = self.reqs.get(&key) else { return };
        let Demand::PowerForecast { profile } = &r.req.demand else {
            return;
        };
        let cap = self.rating_cap(dev);
        let powers: Vec<i64> = profile
            .iter()
            .skip(skip)
            .take(room)
            .map(|v| self.forecast_booking(v, cap))
            .collect();
        let expected: Vec<i64> = profile
            .iter()
            .skip(skip)
            .take(room)
            .map(|v| v.p50_mw.clamp(0, cap))
            .collect();
        let path = self.cfg.tree.path(self.devs[r.dev].rec.circuit).to_vec();
        let d = r.dev;
        self.devs[d].expected = Some((start, expected));
        self.book.add(&path, start, &powers);
        // The forecast takes over from the standing reservation beyond the firm window
        // (inside it both stand, which is only conservative), except for a device's first
        // forecast since the coordinator started: there the rating stood only because
        // nothing was known yet, and keeping it inside the window held the ratings of a
        // whole site for its first slots (on 1,000 simulated homes 1.6 MW reserved against
        // 0.2 MW drawn for the first half hour of every run, in which nothing could be
        // granted). Releasing the rating only frees capacity (the forecast is booked either
        // way), so no grant comes to lack it. Later, a standing reservation that came back
        // (forecasts lapsed: a device away, messages lost) keeps the firm window: releasing
        // it at once there cost the hostile runs (30 % loss, a partition, churn) dearly.
        let until = if first_forecast {
            start
        } else {
            self.rebook_from()
        };
        self.stop_standing(d, until);
        self.award(key, Placement { start, powers }, 1);
        self.forecast_overbooked.extend(path);
    }

    /// A new forecast of uncontrollable load: the reservation follows it beyond the firm
    /// window (inside it the old reservation stands and the timeslot manager absorbs the
    /// difference). Less load frees capacity for waiting requests; more takes it back from
    /// the lowest classes.
    fn reforecast(&mut self, key: (usize, RequestId), first: Slot, forecast: &[crate::PowerValue]) {
        let rebook = self.rebook_from();
        let Some(r) = self.reqs.get(&key) else { return };
        let State::Awarded(a) = &r.state else { return };
        let mut new = a.grant.clone();
        if new.power_mw.is_empty() {
            new.start = first.max(rebook);
        }
        // Never beyond the horizon (the book cannot hold it there), nor beyond the window
        // the device asked for: the next window is its own request, and a forecast that
        // reached it before that request would book the same load twice.
        let end = first
            .saturating_add(forecast.len() as u32)
            .max(new.end())
            .min(self.book.end())
            .min(r.req.deadline.max(new.end()));
        new.power_mw
            .resize(end.saturating_sub(new.start) as usize, 0);
        let cap = self.rating_cap(r.dev);
        let d = r.dev;
        self.devs[d].expected = Some((
            first,
            forecast.iter().map(|v| v.p50_mw.clamp(0, cap)).collect(),
        ));
        let Some(r) = self.reqs.get(&key) else { return };
        let State::Awarded(a) = &r.state else { return };
        for (k, v) in forecast.iter().enumerate() {
            let s = first + k as Slot;
            if s >= rebook && s >= new.start && s < end {
                new.power_mw[(s - new.start) as usize] = self.forecast_booking(v, cap);
            }
        }
        if new == a.grant {
            return;
        }
        let path = self.cfg.tree.path(self.devs[r.dev].rec.circuit).to_vec();
        self.book.remove(&path, a.booked.start, &a.booked.power_mw);
        self.book.add(&path, new.start, &new.power_mw);
        let r = self.reqs.get_mut(&key).expect("present");
        if let State::Awarded(a) = &mut r.state {
            a.grant = new.clone();
            a.booked = new;
        }
        if self.book.overbooked_from(&path, rebook) {
            self.forecast_overbooked.extend(path);
        } else {
            self.schedule_batch(0);
        }
    }

    /// What new forecasts overbooked beyond the firm window in this slot is taken back once,
    /// before the window moves on: on a large site a forecast rises on some house with
    /// almost every telemetry, and another falls; resolving each rise at once scanned every
    /// grant for victims each time and shed grants for rises that others' falls had made up
    /// for by the end of the slot. Nothing is drawn beyond the firm window meanwhile, and
    /// nothing new is placed where a circuit is overbooked (it has no headroom).
    fn resolve_forecast_overbooking(&mut self) {
        if self.forecast_overbooked.is_empty() {
            return;
        }
        let scope: Vec<CircuitIx> = core::mem::take(&mut self.forecast_overbooked)
            .into_iter()
            .collect();
        self.resolve_overbooking("uncontrollable load above its forecast", &scope);
    }

    /// Where grants exceed capacity beyond the firm window (a budget cut, more
    /// uncontrollable load), takes capacity back from the lowest classes: elastic and
    /// interruptible grants first, then jobs that have not started (a forced move: their
    /// grant is revoked and their device asks again), then running ones (a cut).
    fn resolve_overbooking(&mut self, why: &str, scope: &[CircuitIx]) {
        let firm = self.slot.saturating_add(self.cfg.firm_slots);
        let over_now = |c: &Self| -> Vec<Binding> {
            c.book
                .overbooked_on(scope)
                .into_iter()
                .filter(|b| b.slot >= firm)
                .collect()
        };
        let mut over = over_now(self);
        if over.is_empty() {
            return;
        }
        let in_scope: BTreeSet<CircuitIx> = scope.iter().copied().collect();
        let mut victims: Vec<(Key, (u8, Priority, u64))> = self
            .awarded_below(None)
            .filter_map(|(k, r)| {
                let State::Awarded(a) = &r.state else {
                    return None;
                };
                if matches!(r.req.demand, Demand::PowerForecast { .. }) {
                    return None;
                }
                let p = self.cfg.tree.path(self.devs[r.dev].rec.circuit);
                if !over
                    .iter()
                    .any(|b| p.contains(&b.circuit) && a.booked.at(b.slot) > 0)
                {
                    return None;
                }
                let rank = if r.preemptible() {
                    0
                } else if a.grant.start > self.slot {
                    1
                } else {
                    2
                };
                Some((*k, (rank, r.req.priority, u64::MAX - self.tiebreak(r))))
            })
            .collect();
        victims.sort_by_key(|v| v.1);
        for (vkey, (rank, _, _)) in victims {
            if over.is_empty() {
                break;
            }
            let r = &self.reqs[&vkey];
            let State::Awarded(a) = &r.state else {
                continue;
            };
            let p = self.cfg.tree.path(self.devs[r.dev].rec.circuit).to_vec();
            let hit = |s: Slot| over.iter().any(|b| b.slot == s && p.contains(&b.circuit));
            if !(firm..a.grant.end()).any(|s| hit(s) && a.grant.at(s) > 0) {
                continue;
            }
            match rank {
                0 => {
                    self.stats.preemptions += 1;
                    let mut g = a.grant.clone();
                    for (k, pw) in g.power_mw.iter_mut().enumerate() {
                        if hit(g.start + k as Slot) && g.start + k as Slot >= firm {
                            *pw = 0;
                        }
                    }
                    self.change_grant(vkey, g, InstructionKind::Shed, why);
                }
                1 => {
                    self.stats.forced_moves += 1;
                    self.change_grant(vkey, Grant::default(), InstructionKind::Revoke, why);
                }
                _ => {
                    self.stats.committed_cuts += 1;
                    let mut g = a.grant.clone();
                    let keep = firm.saturating_sub(g.start) as usize;
                    g.power_mw.truncate(keep.min(g.power_mw.len()));
                    self.change_grant(vkey, g, InstructionKind::Revoke, why);
                }
            }
            // Only the victim's path changed: its circuits' overbookings are listed again
            // (listing the whole scope per victim made a large site's repair quadratic).
            let touched: Vec<CircuitIx> =
                p.iter().copied().filter(|n| in_scope.contains(n)).collect();
            over.retain(|b| !touched.contains(&b.circuit));
            over.extend(
                self.book
                    .overbooked_on(&touched)
                    .into_iter()
                    .filter(|b| b.slot >= firm),
            );
        }
        self.schedule_batch(0);
    }

    /// A device says what its load calls for in a slot: kept (the latest word per device),
    /// and the spare of that slot handed out one batch window after the slot starts, or
    /// after this word if later. Repeated words change nothing.
    fn on_want(&mut self, d: usize, w: SlotWant) {
        if self.cfg.mechanism != Mechanism::Auction
            || w.slot < self.slot
            || w.slot > self.slot.saturating_add(1)
            || self.devs[d].want == Some(w)
        {
            return;
        }
        self.devs[d].want = Some(w);
        let at = self
            .cfg
            .clock
            .start_of(w.slot)
            .max(self.now)
            .after_ms(self.cfg.batch_window_ms);
        if self.handout_at.is_none_or(|h| h > at) {
            self.handout_at = Some(at);
        }
    }

    /// The in-slot side of the timeslot manager: **dynamic power scaling upwards**. In the
    /// running slot, a device that said its load calls for less than the book holds for it
    /// draws no more than that (its word, [`SlotWant`]), so the rest of its booking there is
    /// taken off the book. Then the book's headroom tops up the elastic grants of devices
    /// whose load calls for more than they hold — class first, then bid, then the lower
    /// port — on every circuit of their path, for this slot only (an
    /// [`InstructionKind::Scale`], stored before it is sent), and never to less than the
    /// envelope's minimum. The book keeps holding at least what every device may draw, so
    /// granted power stays within every circuit's capacity whatever is lost. Why: an elastic
    /// load asks from its own forecast, which sees a water heater's demand a slot late; the
    /// grant then follows the real load inside the slot, with what others leave undrawn.
    ///
    /// The headroom is that of the capacity the source promised for the slot: inside its
    /// firm window the source bridges its own change of mind (a battery does), so what it
    /// promised and nobody draws is as good as any other power there. Topping up only within
    /// what the source would give the slot now (a second, lower figure it used to send) left
    /// the water heaters short every afternoon the solar outlook fell: on the samples' 1,000
    /// homes 2,473 in welfare, about 25 kWh of the class high.
    fn hand_out_spare(&mut self) {
        let s = self.slot;
        let mut wanting: Vec<TopUp> = Vec::new();
        let mut undrawn: Vec<(usize, i64)> = Vec::new();
        for d in 0..self.devs.len() {
            let Some(w) = self.devs[d].want.filter(|w| w.slot == s) else {
                continue;
            };
            let (mut booked, mut granted) = (0i64, 0i64);
            // The elastic grant to top up: the one running now, or the next one (already
            // leased), which then starts now.
            let mut elastic: Option<(Key, Slot)> = None;
            for &request in &self.devs[d].open {
                let Some(r) = self.reqs.get(&(d, request)) else {
                    continue;
                };
                let State::Awarded(a) = &r.state else {
                    continue;
                };
                booked += a.booked.at(s);
                granted += a.grant.at(s);
                let usable = s < a.grant.end() && s < a.valid_until;
                if usable
                    && matches!(r.req.demand, Demand::PowerEnvelope { .. })
                    && elastic.is_none_or(|(_, start)| start > a.grant.start)
                {
                    elastic = Some(((d, request), a.grant.start));
                }
            }
            if w.power_mw < booked {
                undrawn.push((d, booked - w.power_mw));
            } else if w.power_mw > granted
                && !self.devs[d].paused
                && let Some((key, _)) = elastic
            {
                let r = &self.reqs[&key];
                let min_mw = match r.req.demand {
                    Demand::PowerEnvelope { min_mw, .. } => min_mw,
                    _ => 0,
                };
                wanting.push(TopUp {
                    priority: r.req.priority,
                    bid_per_mille: r.req.bid_per_mille,
                    tiebreak: self.tiebreak(r),
                    key,
                    granted,
                    want: w.power_mw,
                    min_mw,
                });
            }
        }
        // What a device said it leaves undrawn is no longer booked for it in this slot.
        for (d, mut free) in undrawn {
            let path = self.cfg.tree.path(self.devs[d].rec.circuit).to_vec();
            let open: Vec<RequestId> = self.devs[d].open.iter().copied().collect();
            for request in open {
                let Some(State::Awarded(a)) =
                    self.reqs.get_mut(&(d, request)).map(|r| &mut r.state)
                else {
                    continue;
                };
                let Some(p) = s
                    .checked_sub(a.booked.start)
                    .and_then(|k| a.booked.power_mw.get_mut(k as usize))
                else {
                    continue;
                };
                let cut = (*p).min(free);
                if cut > 0 {
                    *p -= cut;
                    free -= cut;
                    self.book.remove(&path, s, &[cut]);
                }
                if free == 0 {
                    break;
                }
            }
        }
        let mut spare: Vec<i64> = (0..self.cfg.tree.len() as CircuitIx)
            .map(|n| self.book.capacity(n, s) - self.book.committed(n, s))
            .collect();
        wanting.sort_by(|a, b| {
            (b.priority, b.bid_per_mille)
                .cmp(&(a.priority, a.bid_per_mille))
                .then(a.tiebreak.cmp(&b.tiebreak))
        });
        // What the class budgets keep for the high class from the one being topped up (see
        // `kept_above`): worked out again as the class changes, the high class having had
        // its top-ups. What the high class leaves undrawn stays in the owner's battery.
        let mut kept: Option<(Priority, BTreeMap<CircuitIx, Vec<i64>>)> = None;
        for TopUp {
            key,
            priority,
            granted,
            want,
            min_mw,
            ..
        } in wanting
        {
            if kept.as_ref().is_none_or(|(c, _)| *c != priority) {
                kept = Some((priority, self.kept_above(priority, s, 1, &[])));
            }
            let keep = |n: CircuitIx| {
                kept.as_ref()
                    .and_then(|(_, k)| k.get(&n))
                    .map_or(0, |v| v[0].max(0))
            };
            let path = self.cfg.tree.path(self.devs[key.0].rec.circuit).to_vec();
            let room = path
                .iter()
                .map(|&n| spare[n as usize] - keep(n))
                .min()
                .unwrap_or(0);
            let give = room.min(want - granted);
            // A load runs at its minimum or not at all: less than that is no use to it.
            if give <= 0 || (granted + give < want && granted + give < min_mw) {
                continue;
            }
            let Some(State::Awarded(a)) = self.reqs.get(&key).map(|r| &r.state) else {
                continue;
            };
            let mut g = a.grant.clone();
            if g.start > s {
                let mut power_mw = vec![0; (g.start - s) as usize];
                power_mw.append(&mut g.power_mw);
                g = Grant { start: s, power_mw };
            }
            let Some(p) = g.power_mw.get_mut((s - g.start) as usize) else {
                continue;
            };
            *p += give;
            for &n in &path {
                spare[n as usize] -= give;
            }
            self.stats.spare_handouts += 1;
            self.change_grant(key, g, InstructionKind::Scale, "spare in the running slot");
        }
    }

    /// The site side of the timeslot manager: where the load measured in the last slot is
    /// above this slot's capacity and so is the load expected in it, class by class from
    /// the lowest, first scale the class's elastic grants towards their minimum, then shed
    /// its elastic and interruptible ones (inside a class the highest port first), until
    /// the smaller of the two excesses is covered. An elastic grant is shed whole rather
    /// than left below its minimum. A class is touched only once every class below it has
    /// given all it can: scaling every elastic grant first, whatever its class, turned a
    /// high-class water heater down while normal-class cars kept charging (on the samples'
    /// 1,000 homes, every afternoon slot where the households drew above their forecast).
    ///
    /// The load expected is what the books hold for this slot (the forecasts of the load
    /// nobody controls, and the grants) plus what the last slot's measured load was above
    /// what the books held for it (`allowed_last`, per circuit): a forecast too low, a
    /// device over its grant, taken to last a slot. Measured load alone read every fall of
    /// the households' load from one slot to the next (the capacity follows their forecast)
    /// as an overload: in a tight evening it shed every elastic load, critical ones too, one
    /// slot in three. The books alone would shed for every forecast rise the battery is
    /// there to bridge inside the firm window.
    fn manage_overload(&mut self, slot: Slot, allowed_last: &[i64]) {
        let last = slot.saturating_sub(1);
        let mut measured = vec![0i64; self.cfg.tree.len()];
        for d in &self.devs {
            if let Some((s, mw)) = d.measured
                && s == last
            {
                for &n in self.cfg.tree.path(d.rec.circuit) {
                    measured[n as usize] = measured[n as usize].saturating_add(mw);
                }
            }
        }
        for n in 0..self.cfg.tree.len() as CircuitIx {
            let cap = self.book.capacity(n, slot);
            let above = measured[n as usize] - allowed_last.get(n as usize).copied().unwrap_or(0);
            let expected = self.book.committed(n, slot) + above.max(0);
            let mut excess = (expected - cap).min(measured[n as usize] - cap);
            if excess <= 0 {
                continue;
            }
            self.stats.overloads += 1;
            let mut victims: Vec<((usize, RequestId), (Priority, u64))> = self
                .reqs
                .iter()
                .filter_map(|(k, r)| {
                    let State::Awarded(a) = &r.state else {
                        return None;
                    };
                    if !r.preemptible() || a.grant.at(slot) == 0 {
                        return None;
                    }
                    if !self
                        .cfg
                        .tree
                        .path(self.devs[r.dev].rec.circuit)
                        .contains(&n)
                    {
                        return None;
                    }
                    Some((*k, (r.req.priority, u64::MAX - self.tiebreak(r))))
                })
                .collect();
            victims.sort_by_key(|v| v.1);
            let mut shed = Vec::new();
            // Class by class from the lowest: pass 0 scales the class's envelopes towards
            // their minimum, pass 1 sheds.
            let order: Vec<(u8, (usize, RequestId))> = victims
                .chunk_by(|a, b| a.1.0 == b.1.0)
                .flat_map(|class| {
                    [0u8, 1]
                        .into_iter()
                        .flat_map(move |pass| class.iter().map(move |v| (pass, v.0)))
                })
                .collect();
            for (pass, vkey) in order {
                if excess <= 0 {
                    break;
                }
                let r = &self.reqs[&vkey];
                let State::Awarded(a) = &r.state else {
                    continue;
                };
                let now_power = a.grant.at(slot);
                let floor = match (pass, &r.req.demand) {
                    (0, Demand::PowerEnvelope { min_mw, .. }) => *min_mw,
                    (0, _) => continue,
                    _ => 0,
                };
                let mut new_power = (now_power - excess).max(floor);
                // An elastic load (or a charger) cannot run below its minimum: a grant there
                // would be drawn as nothing while the books count it as given.
                if let Demand::PowerEnvelope { min_mw, .. } | Demand::EnergyTarget { min_mw, .. } =
                    r.req.demand
                    && new_power < min_mw
                {
                    new_power = 0;
                }
                if new_power >= now_power {
                    continue;
                }
                excess -= now_power - new_power;
                let mut g = a.grant.clone();
                for (k, p) in g.power_mw.iter_mut().enumerate() {
                    if g.start + k as Slot >= slot {
                        *p = (*p).min(new_power);
                    }
                }
                shed.push(self.devs[r.dev].rec.id.clone());
                let kind = if new_power == 0 {
                    InstructionKind::Shed
                } else {
                    InstructionKind::Scale
                };
                self.change_grant(vkey, g, kind, "load expected above the budget");
            }
            self.out.push_back(Output::Event(Event::Overload {
                circuit: self.cfg.tree.name(n).into(),
                slot,
                measured_mw: measured[n as usize],
                expected_mw: expected,
                capacity_mw: cap,
                shed,
            }));
        }
    }
}

/// The part of a grant from `slot` on (zeros before it).
fn from_slot(g: &Grant, slot: Slot) -> Grant {
    let mut out = g.clone();
    for (k, p) in out.power_mw.iter_mut().enumerate() {
        if out.start + (k as Slot) < slot {
            *p = 0;
        }
    }
    out
}

/// Checks a budget curve for `circuit` (its owner's, or the lower classes' share of it).
fn check_budget(
    tree: &CircuitTree,
    circuit: CircuitIx,
    values: &[i64],
) -> Result<(), ProtocolError> {
    if circuit as usize >= tree.len() {
        return Err(ProtocolError::Config(format!(
            "circuit {circuit} does not exist"
        )));
    }
    if values.is_empty() || values.len() > limits::MAX_HORIZON_SLOTS as usize {
        return Err(ProtocolError::Value {
            field: "budget",
            problem: "needs 1 to 10080 values",
        });
    }
    if values
        .iter()
        .any(|&v| !(0..=limits::MAX_POWER_MW * 1000).contains(&v))
    {
        return Err(ProtocolError::Value {
            field: "budget",
            problem: "capacity outside 0 ..= 1 TW",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
