//! Readers for the real data sets (to be written).
