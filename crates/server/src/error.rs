//! The one error type of the server crate.

use std::path::PathBuf;

/// What went wrong, with what a user needs to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The ledger could not be opened, migrated, read or written.
    #[error("ledger {path}: {problem}")]
    Ledger {
        /// The database file.
        path: PathBuf,
        /// What SQLite said, or what is wrong with its content.
        problem: String,
    },
    /// The ledger is read-only (a read-only file system or file): nothing could be granted.
    #[error(
        "ledger {0} is read-only: the coordinator cannot store awards, so it grants nothing (make the file and its folder writable)"
    )]
    ReadOnly(PathBuf),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file or option has content that does not fit.
    #[error("{place}: {problem}")]
    Invalid {
        /// Where (a file and line, an option, a device).
        place: String,
        /// What is wrong.
        problem: String,
    },
    /// The broker address or the broker itself.
    #[error("MQTT broker {addr}: {problem}")]
    Broker {
        /// The address.
        addr: String,
        /// What went wrong.
        problem: String,
    },
    /// A device nobody registered.
    #[error("device '{0}' is not registered at this site (add it with `powerslot devices add`)")]
    UnknownDevice(String),
    /// The coordinator's state machine refused its configuration.
    #[error("coordinator: {0}")]
    Protocol(#[from] powerslot_protocol::ProtocolError),
}

impl ServerError {
    /// An [`ServerError::Invalid`] for a place.
    pub fn invalid(place: impl Into<String>, problem: impl Into<String>) -> Self {
        ServerError::Invalid {
            place: place.into(),
            problem: problem.into(),
        }
    }

    /// An [`ServerError::Io`] for a path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ServerError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Results of this crate.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;
