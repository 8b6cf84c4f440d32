//! The error type of geodino-train.

use std::path::PathBuf;

/// Errors of the training engines.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An invalid or inconsistent configuration value.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Training data that cannot be used (no rasters, no acceptable chip, bad bands).
    #[error("training data: {0}")]
    Data(String),
    /// A checkpoint that cannot be read or does not fit the model.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// Networks that do not fit together (EMA pairing, copies).
    #[error("model: {0}")]
    Model(String),
    /// The run cannot continue (non-finite losses).
    #[error("training stopped: {0}")]
    Training(String),
    /// A file-system error on `path`.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Raster IO.
    #[error(transparent)]
    Raster(#[from] geodino_core::Error),
    /// Augmentation and masking.
    #[error(transparent)]
    Augment(#[from] geodino_data::Error),
    /// The backbone.
    #[error(transparent)]
    Backbone(#[from] geodino_dinov3::Error),
    /// Layers and weight loading.
    #[error(transparent)]
    Nn(#[from] geodino_nn::Error),
    /// Dense heads.
    #[error(transparent)]
    Heads(#[from] geodino_heads::Error),
    /// Objectives.
    #[error(transparent)]
    Ssl(#[from] geodino_ssl::SslError),
    /// Weight files.
    #[error(transparent)]
    Weights(#[from] geodino_weights::Error),
    /// libtorch.
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
