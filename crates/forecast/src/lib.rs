//! powerslot-forecast (under construction).
