//! The error type of geodino-data.

/// Errors of data preparation, synthetic scenes and metrics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid arguments or configuration (a zero block size, mismatched array shapes, ...).
    #[error("{0}")]
    Invalid(String),
    /// A class raster holds a value that is not a class index below the configured count.
    #[error(
        "class value {value} is not one of the {num_classes} configured classes (0..{num_classes})"
    )]
    ClassOutOfRange {
        /// The offending pixel value.
        value: f64,
        /// The configured number of classes.
        num_classes: usize,
    },
    /// An unknown normalisation preset name.
    #[error("unknown normalisation preset {0:?}; known: sat493m, chmv2, lvd1689m (imagenet)")]
    UnknownPreset(String),
    /// Data to normalise does not hold the configured number of bands.
    #[error("data of {len} values is not {bands} bands of equal size")]
    NormalizationShape {
        /// Values given.
        len: usize,
        /// Bands configured.
        bands: usize,
    },
    /// Reading or writing a raster failed.
    #[error(transparent)]
    Raster(#[from] geodino_core::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
