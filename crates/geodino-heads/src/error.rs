//! The crate's error type.

/// Everything that can go wrong building, loading or running a dense head.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A head configuration or head file description is invalid or inconsistent.
    #[error("invalid head configuration: {0}")]
    Config(String),
    /// A head checkpoint cannot be read as a head (bad keys, missing tensors, bad metadata).
    #[error("{path}: {msg}")]
    Checkpoint {
        /// The checkpoint (or a description of where the tensors came from).
        path: String,
        /// What is wrong.
        msg: String,
    },
    /// An input tensor or a backbone does not fit the head.
    #[error("invalid input: {0}")]
    Input(String),
    /// Layers, strict loading, devices (see [`geodino_nn::Error`]).
    #[error(transparent)]
    Nn(#[from] geodino_nn::Error),
    /// Reading or writing a checkpoint file.
    #[error(transparent)]
    Weights(#[from] geodino_weights::Error),
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn checkpoint(path: impl Into<String>, msg: impl Into<String>) -> Error {
        Error::Checkpoint { path: path.into(), msg: msg.into() }
    }
}
