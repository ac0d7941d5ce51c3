//! The fleet simulator: many devices, one site (or several owners of power), every mechanism
//! of the negotiation protocol run on the same real traces, side by side.
//!
//! * [`model`] — what a simulation is made of: the site, its budget sources, the devices and
//!   what they really do slot by slot, the network.
//! * [`traces`] — readers for the real data sets (EV sessions, appliance cycles, household
//!   and smart-meter load, server CPU, solar irradiance) and the small samples shipped in the
//!   repository.
//! * [`population`] — scenario builders (`neighbourhood`, `poe-switch`, `sensor-field`) that
//!   turn a few hundred traces into thousands of devices, and figures about a fleet.
//! * [`scenario_file`] — a site described in TOML (circuits, budgets, device groups drawing
//!   on the user's own CSV files), built by the same device makers.
//! * [`budget`] — what the site publishes slot by slot: a fixed limit, a curve, or solar and
//!   a battery forecast ahead (and the battery's real physics behind it).
//! * [`net`] — the network between devices and coordinators: latency, loss, duplication,
//!   partitions and churn, seeded.
//! * [`engine`] — the discrete-event run of one mechanism over the fleet, with its metrics.
//! * [`central`] — the reference an omniscient planner reaches (an exact MILP on small
//!   fleets, a proven bound beyond: its LP relaxation or a Lagrangian bound), for the welfare
//!   ratio.
pub mod budget;
pub mod central;
pub mod engine;
pub mod model;
pub mod net;
pub mod population;
pub mod scenario_file;
pub mod traces;
