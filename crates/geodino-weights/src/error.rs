//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong reading or writing a checkpoint. Every variant that concerns a
/// file names it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error on `path`.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a checkpoint format this crate reads, or is damaged.
    #[error("{path}: {msg}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The pickle program of a `.pth` file could not be executed.
    #[error("{path}: pickle: {msg} (at byte {pos} of {entry})")]
    Pickle {
        /// The checkpoint file.
        path: PathBuf,
        /// The pickle entry inside the zip archive.
        entry: String,
        /// Byte offset of the failing opcode.
        pos: usize,
        /// What is wrong.
        msg: String,
    },
    /// A tensor could not be decoded (bad dtype, shape, strides or storage bounds).
    #[error("{path}: tensor {key}: {msg}")]
    Tensor {
        /// The checkpoint file (empty for in-memory tensors).
        path: PathBuf,
        /// The state-dict key.
        key: String,
        /// What is wrong.
        msg: String,
    },
    /// The checkpoint holds no state dict where one was asked for.
    #[error("{path}: {msg}")]
    NoStateDict {
        /// The checkpoint file.
        path: PathBuf,
        /// What was found instead.
        msg: String,
    },
    /// A state-dict level problem not tied to a file (bad key layout, failed conversion).
    #[error("{0}")]
    StateDict(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub(crate) fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format { path: path.into(), msg: msg.into() }
    }
}
