//! What the machines hand back to their driver, and what the coordinator asks it to store.
//!
//! Both machines are drained the same way: call `poll_output` until it returns
//! [`Output::Timeout`], carry out each output (send, store, actuate, log), then arm a timer
//! for the instant in the `Timeout` and call `handle_timeout` when it fires.

use alloc::string::String;
use alloc::vec::Vec;

use powerslot_core::Slot;
use serde::{Deserialize, Serialize};

use crate::device::{DeviceId, Priority};
use crate::msg::{Envelope, Grant, InstructionKind, RejectReason, RequestId};
use crate::time::Instant;

/// One thing for the driver to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send a message to a device (coordinator side) or to the coordinator (device side,
    /// where `to` is the device's own id).
    Send {
        /// The device the message is for or from.
        to: DeviceId,
        /// The message.
        msg: Envelope,
    },
    /// Make a record durable, then answer with `StoreDone(seq)` (which acknowledges every
    /// lower `seq` too). Messages that announce what the record holds are held until then.
    Store {
        /// Sequence number of the store.
        seq: u64,
        /// What to store.
        record: Record,
    },
    /// Device side: set the power limit of the device's port for the current slot.
    Actuate {
        /// The slot.
        slot: Slot,
        /// The limit, mW (the sum of every grant the device may follow now).
        limit_mw: i64,
    },
    /// Something to log, count, or show on the dashboard.
    Event(Event),
    /// Always last in a drain: call `handle_timeout` at this instant.
    Timeout(Instant),
}

/// A grant as the ledger keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwardRecord {
    /// The device.
    pub device: DeviceId,
    /// The request.
    pub request: RequestId,
    /// Its class.
    pub priority: Priority,
    /// Kind of demand (`power_profile`, `energy_target`, `power_envelope`, `power_forecast`).
    pub kind: String,
    /// Whether the coordinator may pause it for a higher class.
    pub preemptible: bool,
    /// Version of the grant.
    pub version: u32,
    /// What the device was told.
    pub grant: Grant,
    /// What is booked for it (at least the grant while an older version's lease runs).
    pub booked: Grant,
    /// Lease end.
    pub valid_until: Slot,
    /// Tie-break key (port, then arrival).
    pub tiebreak: u64,
    /// The request's deadline (for repair after a restart).
    pub deadline: Slot,
}

/// Why a grant ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// It ran to its end.
    Completed,
    /// The device released it.
    Released,
    /// The device stopped renewing its lease.
    LeaseLapsed,
    /// The coordinator took it back (for a critical load, a budget cut, or an operator).
    Revoked,
}

/// What the coordinator asks its ledger to keep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// A grant, new or changed (upsert by device and request).
    Award(AwardRecord),
    /// A grant ended.
    AwardEnded {
        /// The device.
        device: DeviceId,
        /// The request.
        request: RequestId,
        /// Why.
        reason: EndReason,
    },
    /// The coordinator (re)started with this epoch; its outgoing sequence numbers start at
    /// `epoch << 32`, above everything it sent before.
    Epoch(u32),
}

/// A security-relevant refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProblem {
    /// A sequence number seen before or too old.
    Replay,
    /// Not registered.
    UnknownDevice,
    /// A message type only coordinators send.
    WrongDirection,
    /// Over the message rate limit.
    RateLimited,
    /// A class above the device's registration.
    PriorityNotAllowed,
    /// A value outside its range.
    Invalid,
}

/// What happened, for logs, metrics and the dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A request arrived.
    Request {
        /// The device.
        device: DeviceId,
        /// The request.
        request: RequestId,
        /// Its class.
        priority: Priority,
        /// Kind of demand.
        kind: String,
    },
    /// A grant was made (stored, then sent).
    Awarded {
        /// The device.
        device: DeviceId,
        /// The request.
        request: RequestId,
        /// First slot.
        start: Slot,
        /// One past the last slot.
        end: Slot,
        /// Highest power granted, mW.
        peak_mw: i64,
        /// Bidding rounds it took.
        rounds: u32,
    },
    /// A request was refused, with the reason.
    Rejected {
        /// The device.
        device: DeviceId,
        /// The request.
        request: RequestId,
        /// Why.
        reason: RejectReason,
        /// Whether it keeps waiting.
        waiting: bool,
    },
    /// A grant was changed (scaled, shed, resumed, revoked).
    Instructed {
        /// The device.
        device: DeviceId,
        /// The request.
        request: RequestId,
        /// What changed.
        kind: InstructionKind,
        /// Why, in words.
        why: String,
    },
    /// A grant ended.
    Ended {
        /// The device.
        device: DeviceId,
        /// The request.
        request: RequestId,
        /// Why.
        reason: EndReason,
    },
    /// A message was refused for security reasons.
    Security {
        /// The device it claimed to be from.
        device: Option<DeviceId>,
        /// What was wrong.
        problem: SecurityProblem,
    },
    /// A negotiation batch ran.
    Batch {
        /// The slot.
        slot: Slot,
        /// Requests in it.
        requests: u32,
        /// Placed.
        placed: u32,
        /// Left waiting.
        waiting: u32,
        /// Bidding rounds.
        iterations: u32,
        /// Grants of lower classes paused or scaled to make room.
        preemptions: u32,
    },
    /// The load measured on a circuit in the slot before, and the load expected in this one
    /// (what the books hold for it, plus what the measured load was above the books), were
    /// both above this slot's capacity; what was done about it.
    Overload {
        /// The circuit.
        circuit: String,
        /// The slot.
        slot: Slot,
        /// Load measured in the slot before, mW.
        measured_mw: i64,
        /// Load expected in the slot, mW.
        #[serde(default)]
        expected_mw: i64,
        /// Capacity, mW.
        capacity_mw: i64,
        /// Devices scaled or shed.
        shed: Vec<DeviceId>,
    },
    /// The budget source cut capacity inside the firm window it promised to keep.
    BudgetBreach {
        /// The circuit.
        circuit: String,
        /// The slot.
        slot: Slot,
        /// New capacity, mW.
        capacity_mw: i64,
        /// Committed there, mW.
        committed_mw: i64,
    },
    /// Device side: the coordinator has been silent too long while the device expected word
    /// from it (an answer to a request, the renewal of a lease it holds); the device follows
    /// its safe rule. A device that expects nothing hears nothing, and reports nothing.
    Fallback {
        /// The device.
        device: DeviceId,
        /// Since when nothing was heard.
        silent_since: Instant,
    },
    /// An operator changed something.
    Operator {
        /// What, in words.
        what: String,
    },
}

/// Everything the ledger must hold to restart a coordinator: the live grants and the last
/// epoch. Unacknowledged stores never happened.
///
/// Two parts are optional (empty in older ledgers and in a simulator that does not keep
/// them): the requests still waiting for capacity, which would otherwise be forgotten — their
/// devices were told to wait and do not ask again — and the highest sequence number accepted
/// from each device, without which a message seen before the restart could be replayed once
/// after it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The epoch of the run that wrote the ledger.
    pub epoch: u32,
    /// Every grant that has not ended.
    pub awards: Vec<AwardRecord>,
    /// Requests accepted and not granted yet: they wait again after the restart.
    #[serde(default)]
    pub waiting: Vec<(DeviceId, crate::msg::TimeslotRequest)>,
    /// The highest sequence number accepted from each device.
    #[serde(default)]
    pub last_seq: Vec<(DeviceId, u64)>,
}
