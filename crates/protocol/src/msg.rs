//! The messages of the negotiation, versioned, in the S2 standard's vocabulary where it has
//! one (power profiles, power envelopes, instructions and their status, measurements).
//!
//! Every message travels in an [`Envelope`]: protocol version, the device it is from or
//! about, the sender's sequence number, and a [`Body`]. Devices send
//! [`TimeslotRequest`]s (the seed's DTR), [`CounterBid`]s, [`Release`]s, [`Telemetry`] and
//! [`Heartbeat`]s; the coordinator (or a peer that owns power) answers with [`Award`]s,
//! [`Reject`]s (with the reason and the best offer), [`Offer`]s, [`Instruction`]s (scale,
//! shed, resume, revoke) and [`Lease`] renewals. [`crate::codec`] encodes them as JSON or as
//! compact binary and checks their size before decoding; [`Envelope::validate`] checks every
//! value against [`crate::limits`].

use alloc::string::String;
use alloc::vec::Vec;

use powerslot_core::Slot;
use serde::{Deserialize, Serialize};

use crate::device::{Demand, DeviceId, InvalidDemand, Priority};
use crate::limits;

/// The protocol version this crate speaks. A message of another version is refused with
/// [`crate::ProtocolError::Version`].
pub const PROTOCOL_VERSION: u16 = 1;

/// A request's identity on its device: the device chooses it (the sequence number of the
/// message that first carried it) and keeps it across retransmissions.
pub type RequestId = u64;

/// A message with its routing and ordering facts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub v: u16,
    /// The device the message is from (device → coordinator) or for (coordinator → device).
    pub device: DeviceId,
    /// The sender's sequence number on this device's link, increasing; used against replays.
    pub seq: u64,
    /// What the message says.
    pub body: Body,
}

/// What a message says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// Device → coordinator: the seed's dynamic timeslot request.
    TimeslotRequest(TimeslotRequest),
    /// Device → coordinator: the answer to an [`Offer`] or to a [`Reject`]'s best offer.
    CounterBid(CounterBid),
    /// Device → coordinator: a grant is no longer needed (done early, or withdrawn).
    Release(Release),
    /// Device → coordinator: measured power and an updated forecast.
    Telemetry(Telemetry),
    /// Device → coordinator: alive, and the award versions it holds.
    Heartbeat(Heartbeat),
    /// Coordinator → device: a grant.
    Award(Award),
    /// Coordinator → device: the request cannot be served as asked, and why.
    Reject(Reject),
    /// Coordinator → device: alternatives to choose from (a later start, less power).
    Offer(Offer),
    /// Coordinator → device: a change to a grant (S2 instruction).
    Instruction(Instruction),
    /// Coordinator → device: grants renewed until a slot.
    Lease(Lease),
}

impl Body {
    /// The message type's name (as in JSON).
    pub fn name(&self) -> &'static str {
        match self {
            Body::TimeslotRequest(_) => "timeslot_request",
            Body::CounterBid(_) => "counter_bid",
            Body::Release(_) => "release",
            Body::Telemetry(_) => "telemetry",
            Body::Heartbeat(_) => "heartbeat",
            Body::Award(_) => "award",
            Body::Reject(_) => "reject",
            Body::Offer(_) => "offer",
            Body::Instruction(_) => "instruction",
            Body::Lease(_) => "lease",
        }
    }

    /// Whether devices send this type (the others come from a coordinator).
    pub fn from_device(&self) -> bool {
        matches!(
            self,
            Body::TimeslotRequest(_)
                | Body::CounterBid(_)
                | Body::Release(_)
                | Body::Telemetry(_)
                | Body::Heartbeat(_)
        )
    }

    /// Whether the message is part of a negotiation (counted per request), as opposed to
    /// telemetry, heartbeats and leases.
    pub fn is_negotiation(&self) -> bool {
        !matches!(
            self,
            Body::Telemetry(_) | Body::Heartbeat(_) | Body::Lease(_)
        )
    }
}

/// The seed's DTR: what a device wants, how urgent and how flexible it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeslotRequest {
    /// The request's id on its device.
    pub request: RequestId,
    /// Priority class (at most what the device is registered for).
    pub priority: Priority,
    /// Earliest slot the demand may start.
    pub earliest_start: Slot,
    /// Slot by which it must be finished (exclusive). The seed's acceptable latency is
    /// `deadline − earliest_start − duration`, see [`TimeslotRequest::acceptable_latency`].
    pub deadline: Slot,
    /// What is wanted: a profile, an energy target, an envelope or a forecast.
    pub demand: Demand,
    /// The bid: a multiplier, per mille, on the value of energy in the device's class
    /// (1000 = the class's value). Higher bids win ties inside a class.
    #[serde(default = "default_bid")]
    pub bid_per_mille: u32,
}

fn default_bid() -> u32 {
    1000
}

impl TimeslotRequest {
    /// The seed's acceptable latency: how many slots the start may slip after the earliest
    /// start and still meet the deadline.
    pub fn acceptable_latency(&self, slot_ms: u64) -> u32 {
        let window = self.deadline.saturating_sub(self.earliest_start);
        window.saturating_sub(self.demand.min_duration(window, slot_ms))
    }
}

/// A grant: from `start`, at most `power_mw[k]` in slot `start + k` (S2: a power envelope).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// First slot.
    pub start: Slot,
    /// Upper limit per slot, mW.
    pub power_mw: Vec<i64>,
}

impl Grant {
    /// One past the last slot.
    pub fn end(&self) -> Slot {
        self.start.saturating_add(self.power_mw.len() as u32)
    }

    /// The limit in `slot` (0 outside the grant).
    pub fn at(&self, slot: Slot) -> i64 {
        if slot < self.start {
            return 0;
        }
        self.power_mw
            .get((slot - self.start) as usize)
            .copied()
            .unwrap_or(0)
    }

    /// Energy granted, mWh, on slots of `slot_ms` milliseconds.
    pub fn energy_mwh(&self, slot_ms: u64) -> i64 {
        let sum: i128 = self.power_mw.iter().map(|&p| i128::from(p)).sum();
        i64::try_from(sum * i128::from(slot_ms) / 3_600_000).unwrap_or(i64::MAX)
    }
}

/// Coordinator → device: the grant for a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Award {
    /// The request granted.
    pub request: RequestId,
    /// Version of the grant; every [`Instruction`] makes a new one.
    pub version: u32,
    /// The grant.
    pub grant: Grant,
    /// The device may follow this grant in slots before this one; [`Lease`]s extend it.
    pub valid_until: Slot,
}

/// Why a request is not served as asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The circuit named is full in the slots named, with what is committed there.
    Full {
        /// The binding circuit.
        circuit: String,
        /// First full slot.
        from_slot: Slot,
        /// One past the last full slot found.
        to_slot: Slot,
        /// The circuit's capacity there, mW.
        capacity_mw: i64,
        /// What is committed there, mW.
        committed_mw: i64,
        /// The lowest priority class among what is committed there (the request could only
        /// have displaced lower classes that may be preempted).
        lowest_class_there: Option<Priority>,
    },
    /// The request's values are impossible.
    Invalid {
        /// What is wrong.
        problem: InvalidDemand,
    },
    /// The window has already passed.
    Expired {
        /// The current slot.
        now: Slot,
    },
    /// The device is not registered here.
    UnknownDevice,
    /// The device asked for a class above what it is registered for.
    PriorityNotAllowed {
        /// The highest class it may use.
        allowed: Priority,
    },
    /// The device already holds the most open requests allowed.
    TooManyOpen {
        /// The limit.
        max: usize,
    },
    /// An operator paused the device.
    Paused,
    /// The deadline lies beyond the coordinator's horizon.
    BeyondHorizon {
        /// The last slot the coordinator plans.
        horizon_end: Slot,
    },
    /// The mechanism refused the bid (the seed's rule, or the market price).
    Outbid {
        /// The bid that won, in the mechanism's units.
        winning_bid: i64,
    },
    /// The device named, as waiting, a request the coordinator no longer holds (its award
    /// or refusal was lost, and it ended since): ask again.
    NotHeld,
}

/// Coordinator → device: the request is not served as asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    /// The request.
    pub request: RequestId,
    /// Why.
    pub reason: RejectReason,
    /// The best grant that could be made instead (a later start, less power), if any; a
    /// [`CounterBid`] with [`CounterChoice::Accept`] takes it.
    pub best_offer: Option<Grant>,
    /// Whether the coordinator keeps the request waiting (and may still award it inside its
    /// window when capacity frees up), as opposed to a final answer.
    pub waiting: bool,
}

/// Coordinator → device: alternatives, when the request's own terms cannot be met.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The request.
    pub request: RequestId,
    /// Negotiation round of this request (1 = the first answer).
    pub round: u32,
    /// Up to three alternatives, best first.
    pub options: Vec<Grant>,
}

/// The device's answer to an offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterChoice {
    /// Take the offered grant (`option` indexes the [`Offer`]'s options; 0 for a
    /// [`Reject`]'s best offer).
    Accept {
        /// Which option.
        option: u8,
    },
    /// Bid again with a higher bid and/or a later deadline.
    Raise {
        /// The new bid, per mille.
        bid_per_mille: u32,
        /// The new deadline (not earlier than the old one).
        deadline: Slot,
    },
    /// Give up the request.
    Withdraw,
}

/// Device → coordinator: the answer to an offer or a reject's best offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterBid {
    /// The request.
    pub request: RequestId,
    /// The round answered.
    pub round: u32,
    /// The answer.
    pub choice: CounterChoice,
}

/// Device → coordinator: a grant or a waiting request is no longer needed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The request.
    pub request: RequestId,
    /// The first slot no longer needed (the rest of the grant stays).
    pub from_slot: Slot,
}

/// Device → coordinator: what the device drew in a slot, and its forecast from there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Telemetry {
    /// The slot measured.
    pub slot: Slot,
    /// Mean power drawn in it, mW.
    pub measured_mw: i64,
    /// The forecast for the next slots, P50 and P90, mW (may be empty).
    #[serde(default)]
    pub forecast: Vec<crate::device::PowerValue>,
    /// `(request, version)` of every grant the device holds: telemetry is also a heartbeat.
    #[serde(default)]
    pub holding: Vec<(RequestId, u32)>,
}

/// Device → coordinator: alive; the versions of the grants it follows. The coordinator
/// answers with a [`Lease`] for those in their current version, an [`Instruction`] for one
/// held in an older version, and an [`Award`] (in its current version) for one it granted
/// that the device does not name: devices follow no change to a grant they do not hold.
///
/// A heartbeat may also say what the device wants in the slot now running ([`SlotWant`]):
/// the timeslot manager's in-slot view of the real load, with which it hands out the spare.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// `(request, version)` of every grant the device holds, and `(request, 0)` of every
    /// request it was told waits: an answer lost on the way is sent again.
    pub holding: Vec<(RequestId, u32)>,
    /// What the device wants to draw in a slot (the one now running), if it says.
    #[serde(default)]
    pub want: Option<SlotWant>,
}

/// Device → coordinator, inside a [`Heartbeat`]: the power a device's own load calls for in
/// one slot, before any limit (a water heater's thermostat calling, a duty cycle's
/// demand). Saying it is a promise: the device draws **at most** this in that slot, so
/// what it holds above it is the coordinator's to hand to others for the slot; and a device
/// that wants more than it holds may be topped up from what is free, or so lent, there
/// (the seed's timeslot manager: "when load falls short it hands the spare to waiting
/// requests").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotWant {
    /// The slot.
    pub slot: Slot,
    /// Mean power the load calls for in it, mW.
    pub power_mw: i64,
}

/// What an instruction does to a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstructionKind {
    /// Lower (or raise) the limits: dynamic power scaling.
    Scale,
    /// Down to nothing for a while: load shedding by priority.
    Shed,
    /// Back up after a shed.
    Resume,
    /// The grant ends (its lease lapsed, an operator removed it, or a critical load took it).
    Revoke,
}

/// Coordinator → device: a new version of a grant (S2 instruction).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instruction {
    /// The request whose grant changes.
    pub request: RequestId,
    /// The new version.
    pub version: u32,
    /// What kind of change.
    pub kind: InstructionKind,
    /// The whole new grant (empty for a revoke).
    pub grant: Grant,
    /// Valid until this slot, as for an award.
    pub valid_until: Slot,
}

/// Coordinator → device: the device's grants of these versions are valid until a slot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Slot until which (exclusive) the grants below may be followed.
    pub valid_until: Slot,
    /// `(request, version)` renewed; a grant of another version is not renewed.
    pub grants: Vec<(RequestId, u32)>,
}

impl Envelope {
    /// A version-1 envelope.
    pub fn new(device: DeviceId, seq: u64, body: Body) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            device,
            seq,
            body,
        }
    }

    /// Checks the version and every value against [`crate::limits`]; the error names the
    /// field. Demand values are checked by the receiver, which knows the slot length (see
    /// [`Demand::validate`]).
    pub fn validate(&self) -> Result<(), crate::ProtocolError> {
        use crate::ProtocolError as E;
        if self.v != PROTOCOL_VERSION {
            return Err(E::Version {
                got: self.v,
                supported: PROTOCOL_VERSION,
            });
        }
        if self.seq > limits::MAX_SEQUENCE {
            // A signed sequence number at u64::MAX would close the link's replay window for
            // good (nothing can be higher); and JSON readers in JavaScript lose integers
            // above 2^53.
            return Err(E::Value {
                field: "seq",
                problem: "sequence number above 2^53",
            });
        }
        let power = |p: i64, what: &'static str| {
            if (0..=limits::MAX_POWER_MW).contains(&p) {
                Ok(())
            } else {
                Err(E::Value {
                    field: what,
                    problem: "power outside 0 ..= 1 GW",
                })
            }
        };
        let grant = |g: &Grant| -> Result<(), E> {
            if g.power_mw.len() > limits::MAX_WINDOW_SLOTS as usize {
                return Err(E::Value {
                    field: "grant",
                    problem: "longer than the longest window",
                });
            }
            g.power_mw.iter().try_for_each(|&p| power(p, "grant"))
        };
        match &self.body {
            Body::TimeslotRequest(r) => {
                if r.bid_per_mille > limits::MAX_BID_PER_MILLE {
                    return Err(E::Value {
                        field: "bid_per_mille",
                        problem: "above the maximum of 1000000",
                    });
                }
            }
            Body::CounterBid(c) => {
                if let CounterChoice::Raise { bid_per_mille, .. } = c.choice
                    && bid_per_mille > limits::MAX_BID_PER_MILLE
                {
                    return Err(E::Value {
                        field: "bid_per_mille",
                        problem: "above the maximum of 1000000",
                    });
                }
            }
            Body::Telemetry(t) => {
                power(t.measured_mw, "measured_mw")?;
                if t.holding.len() > limits::MAX_OPEN_REQUESTS_PER_DEVICE * 4 {
                    return Err(E::Value {
                        field: "holding",
                        problem: "more grants than a device may hold",
                    });
                }
                if t.forecast.len() > limits::MAX_PROFILE_SLOTS {
                    return Err(E::Value {
                        field: "forecast",
                        problem: "longer than the longest profile",
                    });
                }
                for v in &t.forecast {
                    power(v.p50_mw, "forecast")?;
                    power(v.p90_mw, "forecast")?;
                    if v.p90_mw < v.p50_mw {
                        return Err(E::Value {
                            field: "forecast",
                            problem: "P90 below P50",
                        });
                    }
                }
            }
            Body::Heartbeat(h) => {
                if let Some(w) = &h.want {
                    power(w.power_mw, "want")?;
                }
                if h.holding.len() > limits::MAX_OPEN_REQUESTS_PER_DEVICE * 4 {
                    return Err(E::Value {
                        field: "holding",
                        problem: "more grants than a device may hold",
                    });
                }
            }
            Body::Award(a) => grant(&a.grant)?,
            Body::Reject(r) => {
                if let Some(g) = &r.best_offer {
                    grant(g)?;
                }
            }
            Body::Offer(o) => {
                if o.options.len() > 3 {
                    return Err(E::Value {
                        field: "options",
                        problem: "more than three",
                    });
                }
                o.options.iter().try_for_each(grant)?;
            }
            Body::Instruction(i) => grant(&i.grant)?,
            Body::Lease(l) => {
                if l.grants.len() > limits::MAX_OPEN_REQUESTS_PER_DEVICE * 4 {
                    return Err(E::Value {
                        field: "grants",
                        problem: "more grants than a device may hold",
                    });
                }
            }
            Body::Release(_) => {}
        }
        Ok(())
    }
}
