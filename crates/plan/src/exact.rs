//! Exact search for small instances (being written).
