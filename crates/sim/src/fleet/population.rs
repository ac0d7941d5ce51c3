//! Scenario builders (to be written).
