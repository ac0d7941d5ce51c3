//! The one error type of the crate: bad input, named by field, load and place.

use thiserror::Error;

/// Why a day could not be read or planned.
///
/// An infeasible day is *not* an error: [`crate::plan_day`] returns the best feasible plan
/// with the loads it had to drop and the binding constraint named.
#[derive(Debug, Error)]
pub enum HomeError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The JSON is malformed or has a field of the wrong type (serde names the field).
    #[error("{path}:{line}:{column}: {message}")]
    Json {
        /// The file (or `<input>`).
        path: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What serde said, e.g. "missing field `power_w`".
        message: String,
    },
    /// A day-level field is out of range or has the wrong length.
    #[error("field `{field}`: {message}")]
    Field {
        /// The field, e.g. `pv_w`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A field of one load is out of range or inconsistent.
    #[error("load `{load}` (#{index}), field `{field}`: {message}")]
    Load {
        /// The load's name.
        load: String,
        /// Its 0-based position in `loads`.
        index: usize,
        /// The field, e.g. `steps`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The solver failed for a reason other than infeasibility (a numerical failure).
    #[error("solver: {0}")]
    Solver(String),
}
