//! Offline planners (work in progress).
