//! # geodino-viz
//!
//! Pictures people look at, torch-free and with no font files: everything is drawn into an RGBA
//! [`Canvas`] and written as PNG.
//!
//! * [`Canvas`]: anti-aliased lines, rectangles, discs, text in a built-in 5 × 7 bitmap font
//!   ([`font`]), PNG encoding with an atomic [`Canvas::save_png`];
//! * [`Colormap`] (viridis-like, magma-like, blues, a diverging blue–white–red map for errors) and
//!   categorical [`palette`]s;
//! * [`preview`]: colour-mapped raster previews with a colour bar or class legend, a title and a
//!   scale bar, plus bounded-memory [`Thumbnail`] / [`ClassThumbnail`] accumulators that shrink a
//!   whole scene streamed window by window;
//! * [`plot`]: line plots (several series, log-y, nice ticks), density scatter plots with the 1:1
//!   line, confusion-matrix heatmaps and bar charts;
//! * [`composite`]: RGB composites with a per-band percentile stretch (PCA feature maps, imagery).
//!
//! Array arguments are `ndarray` views laid out `(row, col)` or `(band, row, col)`, as in the
//! rest of geodino.

mod canvas;
mod color;
pub mod composite;
pub mod font;
pub mod plot;
pub mod preview;
pub mod ticks;

pub use canvas::{Align, Canvas};
pub use color::{Colormap, Rgba, palette};
pub use preview::{ClassEntry, ClassThumbnail, Thumbnail};

use std::path::PathBuf;

/// Errors of picture writing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Creating, writing or renaming the output file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// The PNG encoder refused the picture.
    #[error("{path}: cannot encode PNG: {message}")]
    Png {
        /// The file concerned.
        path: PathBuf,
        /// What the encoder said.
        message: String,
    },
    /// Invalid arguments (empty data, mismatched lengths, a zero-sized picture).
    #[error("{0}")]
    Invalid(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
