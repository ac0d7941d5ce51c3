//! The fleet simulator: many devices, one site (or several owners of power), every mechanism
//! of the negotiation protocol run on the same real traces, side by side.
//!
//! * [`model`] — what a simulation is made of: the site, its budget sources, the devices and
//!   what they really do slot by slot, the network.
//! * [`traces`] — readers for the real data sets (EV sessions, appliance cycles, household
//!   and smart-meter load, server CPU, solar irradiance) and the small samples shipped in the
//!   repository.
//! * [`population`] — scenario builders (`neighbourhood`, `poe-switch`, `sensor-field`, or a
//!   scenario file) that turn a few hundred traces into thousands of devices.
pub mod budget;
pub mod central;
pub mod engine;
pub mod model;
pub mod net;
pub mod population;
pub mod traces;
