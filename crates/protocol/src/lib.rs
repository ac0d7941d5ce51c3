//! # powerslot-protocol
//!
//! The negotiation of seed 000 as pure state machines: messages and ticks in, messages and
//! actions out. No I/O, no clock, no threads, no global randomness — the simulator
//! (`powerslot-sim`) and the service (`powerslot-server`) drive the very same machines, so
//! what the simulator measures is what runs. The crate builds `no_std` + `alloc`
//! (`cargo build -p powerslot-protocol --no-default-features`).
//!
//! * [`device`] — who a device is ([`DeviceId`], [`Priority`]) and how flexible its demand
//!   is ([`Demand`]: a power profile, an energy target, a power envelope, or a forecast of
//!   load nobody controls), in integer milliwatts.
//! * [`circuit`] — the budget as a tree of circuits and the exact [`CapacityBook`] of what
//!   is granted on each, slot by slot.
//! * [`msg`] — the versioned messages (the seed's timeslot request, offers, counter-bids,
//!   awards, rejects with their reason, releases, telemetry, heartbeats, instructions,
//!   leases); [`codec`] encodes them as JSON or compact binary, signs them with the device's
//!   key and refuses oversized, forged and replayed ones; [`limits`] states every maximum.
//! * [`auction`] — the allocation engine: an ascending ε-auction over the whole horizon,
//!   then an exact repair; [`welfare`] is the yardstick every mechanism is measured with.
//! * [`coordinator::Coordinator`] — the site's machine (or a peer owner's, over its own
//!   circuits): negotiation, grants with leases, store-before-announce, the site half of the
//!   timeslot manager (scaling and shedding by priority, the spare handed out inside the
//!   running slot), and the baselines
//!   ([`coordinator::Mechanism`]: the seed's rule, a one-shot market).
//! * [`agent::Agent`] — the device's machine: requests, counter-bids, following grants slot
//!   by slot within their leases, telemetry, heartbeats, retransmission and a safe fallback.
//! * [`port`] — power ports the device half of the timeslot manager drives: a PoE switch
//!   (802.3af/at/bt classes, per-port limits, port priority, LLDP-style requests), a
//!   generic supply and a battery inverter.
//!
//! Both machines are driven the same way: feed an input with `handle(now, input)`, then call
//! `poll_output()` until it returns [`output::Output::Timeout`], carrying out each output,
//! and call `handle_timeout(now)` when that instant comes.
//!
//! ```
//! use powerslot_protocol::agent::{Agent, AgentConfig, AgentInput, Need};
//! use powerslot_protocol::coordinator::{CoordInput, Coordinator, CoordinatorConfig, DeviceRecord};
//! use powerslot_protocol::output::Output;
//! use powerslot_protocol::{CircuitTree, Demand, DeviceId, Instant, PowerValue, Priority, SlotClock};
//!
//! // A 5 kW site with 15-minute slots and one washer.
//! let clock = SlotClock::new(Instant(0), 900_000);
//! let washer = DeviceId::new("washer").unwrap();
//! let site = CircuitTree::single("site", 5_000_000).unwrap();
//! let rec = DeviceRecord { id: washer.clone(), circuit: 0, max_priority: Priority::Normal, port: 1, standing_mw: 0 };
//! let mut coord = Coordinator::new(CoordinatorConfig::new(site, clock, vec![rec]), Instant(0), None).unwrap();
//! let mut agent = Agent::new(AgentConfig::new(washer, clock), Instant(0), 0);
//!
//! // 2 kW for four slots, any time in the first eight.
//! let need = Need {
//!     priority: Priority::Normal, earliest_start: 0, deadline: 8, bid_per_mille: 1000, accept_until: 8,
//!     demand: Demand::PowerProfile {
//!         profile: vec![PowerValue::exact(2_000_000); 4], interruptible: false, min_on_slots: 0, min_off_slots: 0,
//!     },
//! };
//! agent.handle(Instant(0), AgentInput::Need(need));
//!
//! // Carry messages both ways (a real driver uses MQTT; the ledger is a no-op here) until
//! // nothing moves, letting the coordinator's batch window pass.
//! let mut limit = 0;
//! for now in [Instant(1), Instant(300), Instant(301)] {
//!     coord.handle_timeout(now);
//!     agent.handle_timeout(now);
//!     loop {
//!         let mut moved = false;
//!         while let o = agent.poll_output() {
//!             match o {
//!                 Output::Send { msg, .. } => { coord.handle(now, CoordInput::Message(msg)).unwrap(); moved = true; }
//!                 Output::Actuate { limit_mw, .. } => limit = limit_mw,
//!                 Output::Timeout(_) => break,
//!                 _ => {}
//!             }
//!         }
//!         while let o = coord.poll_output() {
//!             match o {
//!                 Output::Store { seq, .. } => { coord.handle(now, CoordInput::StoreDone(seq)).unwrap(); }
//!                 Output::Send { msg, .. } => { agent.handle(now, AgentInput::Message(msg)); moved = true; }
//!                 Output::Timeout(_) => break,
//!                 _ => {}
//!             }
//!         }
//!         if !moved { break; }
//!     }
//! }
//! // The washer may draw 2 kW now, and the site's book says so.
//! assert_eq!(limit, 2_000_000);
//! assert_eq!(coord.book().committed(0, 0), 2_000_000);
//! ```
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod agent;
pub mod auction;
pub mod circuit;
pub mod codec;
pub mod coordinator;
pub mod device;
pub mod limits;
pub mod msg;
pub mod output;
pub mod port;
pub mod time;
pub mod welfare;

pub use circuit::{Binding, CapacityBook, CircuitIx, CircuitSpec, CircuitTree, TreeError};
pub use device::{Demand, DeviceId, InvalidDemand, PowerValue, Priority};
pub use msg::{Body, Envelope, PROTOCOL_VERSION};
pub use time::{Instant, SlotClock};

use alloc::string::String;

/// Why a message or an input was refused. Every variant names what was wrong; none of them
/// changes any state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A protocol version this crate does not speak.
    #[error("protocol version {got} is not supported (this side speaks {supported})")]
    Version {
        /// Version in the message.
        got: u16,
        /// Version spoken here.
        supported: u16,
    },
    /// A message larger than [`limits::MAX_MESSAGE_BYTES`].
    #[error("a message of {bytes} bytes is larger than the maximum of {max}")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The maximum.
        max: usize,
    },
    /// Bytes that do not decode into a message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A message that cannot be encoded (never happens for valid messages).
    #[error("the message could not be encoded")]
    Encode,
    /// A value outside its range.
    #[error("field {field}: {problem}")]
    Value {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// A device nobody registered.
    #[error("device '{0}' is not registered")]
    UnknownDevice(DeviceId),
    /// A frame whose tag does not match the key of the device whose link it came in on:
    /// spoofed, damaged, or from a device nobody registered (the same answer for all three).
    #[error(
        "message on the link of '{0}' has a bad signature (spoofed, damaged or unknown device)"
    )]
    BadSignature(DeviceId),
    /// An authentic frame whose envelope names another device than its link's.
    #[error("a message on the link of '{link}' names device '{named}'")]
    WrongLink {
        /// The device whose link (and key) the frame came with.
        link: DeviceId,
        /// The device the envelope names.
        named: DeviceId,
    },
    /// A sequence number already seen, or too old: a replay.
    #[error("message {seq} from '{device}' was seen before or is too old (replay)")]
    Replay {
        /// The device.
        device: DeviceId,
        /// The sequence number.
        seq: u64,
    },
    /// A message type that only the other side sends.
    #[error("'{device}' sent a {kind} message, which only a coordinator sends")]
    WrongDirection {
        /// The device.
        device: DeviceId,
        /// The message type.
        kind: &'static str,
    },
    /// A device sent more messages than its rate limit allows.
    #[error("'{0}' is over its message rate limit")]
    RateLimited(DeviceId),
    /// A configuration that cannot work.
    #[error("configuration: {0}")]
    Config(String),
}
