//! The crate's error type.

/// Everything that can go wrong building, loading or running a DINOv3 backbone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration is invalid or inconsistent with the checkpoint.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A checkpoint does not describe a DINOv3 ViT.
    #[error("{path}: {msg}")]
    Checkpoint {
        /// The checkpoint (or its description).
        path: String,
        /// What is wrong.
        msg: String,
    },
    /// An input tensor has the wrong rank, size, dtype or device.
    #[error("invalid input: {0}")]
    Input(String),
    /// Layers, loading, devices (see [`geodino_nn::Error`]).
    #[error(transparent)]
    Nn(#[from] geodino_nn::Error),
    /// Reading or decoding a checkpoint file.
    #[error(transparent)]
    Weights(#[from] geodino_weights::Error),
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for geodino_nn::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Nn(n) => n,
            Error::Weights(w) => geodino_nn::Error::Weights(w),
            Error::Torch(t) => geodino_nn::Error::Torch(t),
            Error::Input(s) => geodino_nn::Error::Input(s),
            other => geodino_nn::Error::Config(other.to_string()),
        }
    }
}
