//! The crate's error type.

/// A key whose checkpoint tensor does not have the model's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeMismatch {
    /// The state-dict key.
    pub key: String,
    /// Shape the model expects.
    pub expected: Vec<i64>,
    /// Shape the checkpoint holds.
    pub found: Vec<usize>,
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A state dict does not fit the model. Every offending key is listed by name.
    #[error("{}", describe_mismatch(source_name, missing, unexpected, mismatched))]
    StateDictMismatch {
        /// Where the state dict came from.
        source_name: String,
        /// Model variables the state dict lacks.
        missing: Vec<String>,
        /// State-dict keys the model has no variable for.
        unexpected: Vec<String>,
        /// Keys present on both sides with different shapes.
        mismatched: Vec<ShapeMismatch>,
    },
    /// An input tensor has the wrong rank, size, dtype or device.
    #[error("invalid input: {0}")]
    Input(String),
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A device string could not be parsed or the device is unavailable.
    #[error("device {0}")]
    Device(String),
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// Reading or decoding a checkpoint failed.
    #[error(transparent)]
    Weights(#[from] geodino_weights::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

fn describe_mismatch(
    source: &str,
    missing: &[String],
    unexpected: &[String],
    mismatched: &[ShapeMismatch],
) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing keys ({}): {}", missing.len(), missing.join(", ")));
    }
    if !unexpected.is_empty() {
        parts.push(format!("unexpected keys ({}): {}", unexpected.len(), unexpected.join(", ")));
    }
    if !mismatched.is_empty() {
        let m: Vec<String> = mismatched
            .iter()
            .map(|s| format!("{} (model {:?}, checkpoint {:?})", s.key, s.expected, s.found))
            .collect();
        parts.push(format!("wrong shapes ({}): {}", m.len(), m.join(", ")));
    }
    format!("{source}: state dict does not fit the model: {}", parts.join("; "))
}
