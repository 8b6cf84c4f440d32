//! # geodino-infer
//!
//! Whole-scene inference over rasters of any size, in bounded memory, with seam-free output:
//!
//! * [`engine::run`]: the streaming pipeline (prepare → forward → blend → write, one thread
//!   per stage, bounded channels, rayon for reading and normalising tiles), driven by a
//!   [`TilePlan`] (overlapping tiles snapped to the scene border; scenes smaller than a tile
//!   padded) and a [`Blend`] window (cosine, Gaussian, or plain averaging for comparison);
//!   the scene is processed in vertical column strips ([`ColumnStrip`]), each top to bottom
//!   with its weighted sums in a [`RowBand`](accumulate::RowBand) of `tile` rows × the strip
//!   width, and the parts of tiles reaching into the next strip carried through a scratch
//!   file, so memory grows with neither the scene's width nor its height;
//! * [`input`]: band selection, scaling of digital numbers ([`Scaling`], sensor presets), the
//!   model's normalisation, and validity (nodata, NaN, masks, alpha): invalid input pixels give
//!   nodata output;
//! * [`Resampled`]: any raster seen at another ground sample distance (`--target-gsd`);
//! * [`model`]: what runs on a batch — [`HeadModel`] (backbone + canopy-height or land-cover
//!   head, checked to fit together) and [`EmbedModel`] (patch features) behind [`TileModel`];
//! * [`output`]: canopy height (float32 m or uint16 dm), land cover (uint8 with colour table and
//!   class names) or features, written atomically as COG / GeoTIFF / Zarr with the input's CRS
//!   and transform, plus PNG previews;
//! * [`scene`]: the jobs behind `canopy-height`, `geodino landcover` and `geodino embed`;
//! * [`pca`]: streamed principal components of a feature raster (`geodino pca`).
//!
//! `docs/inference.md` describes the design, the memory model, blending and nodata.

pub mod accumulate;
mod blend;
mod carry;
pub mod engine;
mod error;
pub mod input;
pub mod memory;
pub mod model;
pub mod output;
pub mod pca;
mod plan;
mod resample;
pub mod scene;

pub use blend::Blend;
pub use engine::{EngineOptions, Progress, RunStats};
pub use error::{Error, Result};
pub use input::{InputSpec, Scaling};
pub use model::{EmbedModel, HeadModel, ModelOptions, TileModel, load_backbone};
pub use output::{HeightDtype, Product, RasterSink, StripSink};
pub use plan::{ColumnStrip, TilePlan};
pub use resample::Resampled;
pub use scene::{SceneOptions, SceneReport, embed_scene, predict_scene, product_for};
