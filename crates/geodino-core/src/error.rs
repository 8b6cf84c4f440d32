//! The error type of the raster vocabulary, shared by every backend through [`crate::RasterRead`].

use std::path::PathBuf;

/// Errors of raster IO. Every variant that concerns a file names it, so that a user handed a
/// message knows which input is wrong and why.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system failed to open, read or write a file.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not in the format it claims, or its structure is damaged (bad magic, truncated
    /// directory, a tile whose offset lies past the end of the file, ...).
    #[error("{path}: {message}")]
    Format {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong, in words.
        message: String,
    },
    /// The file is valid but uses a feature geodino does not implement (e.g. LERC compression).
    #[error("{path}: unsupported: {what}")]
    Unsupported {
        /// The file concerned.
        path: PathBuf,
        /// What is not supported.
        what: String,
    },
    /// A compressed block could not be decoded.
    #[error("{path}: cannot decode block {block} ({codec}): {message}")]
    Decode {
        /// The file concerned.
        path: PathBuf,
        /// Index of the tile or strip.
        block: usize,
        /// The codec that failed.
        codec: String,
        /// What the decoder said.
        message: String,
    },
    /// A caller asked for something outside the dataset (a band index, a window).
    #[error("{path}: {message}")]
    OutOfBounds {
        /// The file concerned.
        path: PathBuf,
        /// What was asked and what exists.
        message: String,
    },
    /// Invalid arguments that do not concern a file (mismatched buffer shapes, bad options).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// An [`Error::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format { path: path.into(), message: message.into() }
    }

    /// An [`Error::Unsupported`] for `path`.
    pub fn unsupported(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::Unsupported { path: path.into(), what: what.into() }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
