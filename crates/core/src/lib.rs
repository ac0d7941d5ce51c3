//! # powerslot-core
//!
//! The model every other powerslot crate speaks: tasks that draw integer amounts
//! of renewable resources (power in milliwatts for device problems) for a number
//! of slots, capacity that may change slot by slot, schedules, and a validator
//! that names the first violation.
//!
//! * [`Instance`] — checked tasks and resources; built from an [`InstanceSpec`] or
//!   read from a file with [`read_instance`] (PSPLIB `.sm`, Patterson `.rcp`,
//!   native JSON, see [`formats::native`]).
//! * [`CapacityProfile`] — capacity per slot, holding or repeating after its values.
//! * [`Schedule`] and [`validate`] — a start slot per task, and the check of
//!   precedence, release, deadline and capacity in every slot.
//!
//! Without the default `std` feature only [`units`] is built (`no_std`), which is all the
//! device side of the negotiation protocol needs on a microcontroller.
//!
//! ```
//! use powerslot_core::{formats::native, validate, Instance, Schedule};
//!
//! let json = r#"{
//!   "budget_mw": {"values": [3000000, 6000000], "after": "repeat"},
//!   "baseline_mw": 1000000,
//!   "devices": [
//!     {"id": "washer", "power_mw": 2000000, "duration_slots": 2},
//!     {"id": "dryer", "power_mw": 4000000, "duration_slots": 1, "predecessors": ["washer"]}
//!   ]
//! }"#;
//! let inst = Instance::new(native::parse(json, "laundry").unwrap()).unwrap();
//! // The dryer needs 4 kW; only odd slots offer 6 − 1 = 5 kW.
//! assert!(validate(&inst, &Schedule::new(vec![0, 2])).is_err());
//! let ok = Schedule::new(vec![0, 3]);
//! assert!(validate(&inst, &ok).is_ok());
//! assert_eq!(ok.makespan(&inst), 4);
//! ```

#![cfg_attr(not(feature = "std"), no_std)]

/// A slot index on the time grid: the one unit the protocol's `no_std` device machine needs.
pub type Slot = u32;

#[cfg(feature = "std")]
pub mod clock;
#[cfg(feature = "std")]
pub mod formats;
#[cfg(feature = "std")]
pub mod instance;
#[cfg(feature = "std")]
pub mod profile;
#[cfg(feature = "std")]
pub mod schedule;
#[cfg(feature = "std")]
pub mod units;

#[cfg(feature = "std")]
pub use clock::{ClockError, ClockStart, Moment};
#[cfg(feature = "std")]
pub use formats::{ReadError, read_instance};
#[cfg(feature = "std")]
pub use instance::{
    Instance, InstanceSpec, ModelError, PowerCurves, Resource, ResourceUnit, Task, TaskId,
};
#[cfg(feature = "std")]
pub use profile::{CapacityProfile, ProfileError, Tail};
#[cfg(feature = "std")]
pub use schedule::{Schedule, Violation, validate};
#[cfg(feature = "std")]
pub use units::{Milliwatts, TimeGrid, UnitError, parse_seconds, seconds_text};
