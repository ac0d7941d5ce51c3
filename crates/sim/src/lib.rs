//! powerslot-sim (under construction).
