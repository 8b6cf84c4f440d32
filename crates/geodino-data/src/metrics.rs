//! Evaluation metrics for canopy height and land cover, as streaming accumulators.
//!
//! Both accumulators are fed **non-overlapping windows** of a prediction raster and its label
//! raster in any order, keep memory bounded (the canopy one holds one row of 50 × 50 blocks when
//! windows arrive in row order, the land-cover one a confusion matrix), and can be
//! [merged](CanopyAccumulator::merge) across threads. A pixel counts only when it is valid in
//! **both** rasters: not NaN, not infinite, not the raster's nodata value.
//!
//! * [`CanopyAccumulator`] → [`CanopyMetrics`]: MAE, RMSE, bias (mean of prediction − truth),
//!   pixel R², **block R²** as Tolan et al. 2024 (`HighResCanopyHeight/inference.py`: drop a
//!   3-pixel top/left border, average-pool 50 × 50 blocks, R² over all blocks), tree-cover IoU at
//!   a height threshold (Open-Canopy: `height > threshold`), errors by true-height bin, and a
//!   2-D histogram for density plots. The whole-scene generalisation of the block grid is
//!   defined in [`BlockLayout`] and in `docs/evaluation.md`.
//! * [`LandCoverAccumulator`] → [`LandCoverMetrics`]: confusion matrix, per-class IoU /
//!   precision / recall / F1, mIoU over the classes present, overall accuracy, Cohen's κ.

mod canopy;
mod landcover;
mod moments;

pub use canopy::{
    BlockLayout, CanopyAccumulator, CanopyMetrics, CanopyMetricsConfig, HeightBin, Histogram2d,
    TreeCover,
};
pub use landcover::{ClassMetrics, LandCoverAccumulator, LandCoverMetrics, LandCoverMetricsConfig};
