//! powerslot-harvest (under construction).
