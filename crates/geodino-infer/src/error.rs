//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong running a model over a whole scene.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Options that are invalid or do not fit together (tile/overlap, bands, scaling, ...).
    #[error("{0}")]
    Config(String),
    /// The input raster cannot feed the model (band count, data type, georeferencing).
    #[error("{path}: {msg}")]
    Input {
        /// The input raster.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The backbone and the head (or the head and the input) do not fit together.
    #[error("{0}")]
    Mismatch(String),
    /// Reading or writing a raster (the message names the file).
    #[error(transparent)]
    Raster(#[from] geodino_core::Error),
    /// Loading or running the backbone.
    #[error("{0}")]
    Backbone(#[from] geodino_dinov3::Error),
    /// Loading or running the head.
    #[error("{0}")]
    Head(#[from] geodino_heads::Error),
    /// Layers, devices, weights.
    #[error("{0}")]
    Nn(#[from] geodino_nn::Error),
    /// Writing a picture.
    #[error(transparent)]
    Viz(#[from] geodino_viz::Error),
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A pipeline stage stopped because another one failed (never the first error reported).
    #[error("pipeline stage stopped: {0}")]
    Pipeline(String),
}

impl Error {
    /// An [`Error::Input`] for `path`.
    pub fn input(path: impl Into<PathBuf>, msg: impl Into<String>) -> Error {
        Error::Input { path: path.into(), msg: msg.into() }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
