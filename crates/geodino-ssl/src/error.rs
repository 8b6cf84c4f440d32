//! The crate's error type.

/// Everything that can go wrong in `geodino-ssl`.
#[derive(Debug, thiserror::Error)]
pub enum SslError {
    /// A tensor handed to a public entry point has the wrong rank, shape or kind.
    #[error("{what}: expected {expected}, got shape {got:?}")]
    Shape {
        /// Which argument.
        what: &'static str,
        /// What was expected, in words.
        expected: String,
        /// The shape received.
        got: Vec<i64>,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A checkpoint does not fit the module it is loaded into (lists the keys and the file).
    #[error(transparent)]
    Checkpoint(#[from] geodino_nn::Error),
    /// A checkpoint file could not be read.
    #[error(transparent)]
    WeightsIo(#[from] geodino_weights::Error),
    /// Two variable stores cannot be paired by name (EMA update, teacher copies).
    #[error("cannot pair parameters by name: {0}")]
    Pairing(String),
    /// An error raised by libtorch.
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

/// `Result` with [`SslError`].
pub type Result<T> = std::result::Result<T, SslError>;

/// Check that `t` has rank `rank`; the error names `what` and describes `expected`.
pub(crate) fn check_rank(
    t: &tch::Tensor,
    rank: usize,
    what: &'static str,
    expected: &str,
) -> Result<Vec<i64>> {
    let size = t.size();
    if size.len() != rank {
        return Err(SslError::Shape { what, expected: expected.to_string(), got: size });
    }
    Ok(size)
}
