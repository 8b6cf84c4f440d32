//! The error type of geodino-train.

/// Errors of the training engines.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An invalid or inconsistent configuration value.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
