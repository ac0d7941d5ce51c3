//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong while reading series, fitting models or running rounds.
#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The CSV structure itself is broken (ragged rows, bad quoting, invalid UTF-8).
    #[error("{path}: line {line}: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What the CSV reader said.
        message: String,
    },
    /// The file has a header but no data rows.
    #[error("{path}: the file has no data rows")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A requested column is not in the header.
    #[error("{path}: no column named `{column}` (columns are: {available})")]
    UnknownColumn {
        /// The file.
        path: PathBuf,
        /// The column that was asked for.
        column: String,
        /// The header, comma separated.
        available: String,
    },
    /// No row of a long-format file holds the selected text in the selected column.
    #[error(
        "{path}: no row has `{column}` = `{value}` (the column holds {distinct} distinct values, \
         e.g. {examples})"
    )]
    NothingSelected {
        /// The file.
        path: PathBuf,
        /// The column that selects the series.
        column: String,
        /// The text that was asked for.
        value: String,
        /// How many distinct texts the column holds.
        distinct: usize,
        /// A few of them.
        examples: String,
    },
    /// A cell that must hold a number holds something else.
    #[error("{path}: line {line}, column `{column}`: `{value}` is not a finite number")]
    NotANumber {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: String,
        /// The offending text.
        value: String,
    },
    /// A timestamp cell could not be parsed.
    #[error(
        "{path}: line {line}, column `{column}`: `{value}` is not a timestamp \
         (expected e.g. 2007-01-01T00:00, 2014-02-14 14:30:00 or 2015-10-04T01:00:00Z)"
    )]
    BadTimestamp {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: String,
        /// The offending text.
        value: String,
    },
    /// A column holds no usable (finite) value at all.
    #[error("{what}: column `{column}` has no numeric value at all (all empty or NaN)")]
    AllMissing {
        /// The file or series.
        what: String,
        /// Column name.
        column: String,
    },
    /// The series is too short for what was asked of it.
    #[error("{what}: {have} points is too few, {need} are needed ({why})")]
    TooShort {
        /// The series or model.
        what: String,
        /// How many points there are.
        have: usize,
        /// How many are needed.
        need: usize,
        /// Why that many are needed.
        why: String,
    },
    /// A parameter is out of its valid range.
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParameter {
        /// The parameter.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// A value that must be finite is NaN or infinite.
    #[error("{what}: value at index {index} is not finite ({value})")]
    NonFinite {
        /// Where.
        what: String,
        /// Index in the series.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A model from `augurs` or `burn` failed to fit or predict.
    #[error("model `{model}` failed: {message}")]
    Model {
        /// The model name.
        model: String,
        /// The underlying message.
        message: String,
    },
    /// A federated round could not complete.
    #[error("federated round {round}: {message}")]
    Federated {
        /// Round number (0-based).
        round: usize,
        /// What went wrong.
        message: String,
    },
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, ForecastError>;
