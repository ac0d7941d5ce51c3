//! The one error type of the crate.

use alloc::string::String;

/// Everything that can go wrong in `powerslot-harvest`; each variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum HarvestError {
    /// A model parameter is out of its allowed range (NaN, negative, min above max, ...).
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParameter {
        /// Name of the parameter as the user wrote it.
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// What the value must satisfy.
        reason: &'static str,
    },
    /// An input series or table has the wrong length or shape.
    #[error("bad input {what}: {reason}")]
    BadInput {
        /// Which input (e.g. `predicted production`).
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No schedule satisfies the battery constraints (B >= B_min, end level >= target).
    #[error("infeasible: {reason}")]
    Infeasible {
        /// Why, with the numbers involved.
        reason: String,
    },
    /// Too little data for what was asked (e.g. predicting from a one-day trace).
    #[error("too little data: {what} needs at least {needed}, got {got}")]
    TooLittleData {
        /// What needed the data.
        what: &'static str,
        /// Minimum amount needed.
        needed: usize,
        /// Amount available.
        got: usize,
    },
    /// The trace file could not be opened or read.
    #[cfg(feature = "std")]
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A row of the trace file is malformed.
    #[cfg(feature = "std")]
    #[error("{path}, line {line}, column {column}: {reason}")]
    Trace {
        /// The file.
        path: String,
        /// 1-based line number in the file (the header is line 1).
        line: u64,
        /// The column concerned.
        column: String,
        /// What is wrong.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = core::result::Result<T, HarvestError>;

/// Checks that `value` is finite and at least `min`.
pub(crate) fn check_at_least(name: &'static str, value: f64, min: f64) -> Result<f64> {
    if !value.is_finite() || value < min {
        return Err(HarvestError::InvalidParameter {
            name,
            value,
            reason: if min == 0.0 {
                "must be a finite number >= 0"
            } else {
                "must be a finite number above the stated minimum"
            },
        });
    }
    Ok(value)
}
