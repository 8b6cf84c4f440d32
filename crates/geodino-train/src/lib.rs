//! Training engines: DINOv3 pretraining with Gram anchoring, head training, schedules, checkpoints.
//!
//! The pretraining engine (`geodino pretrain`, `docs/pretraining.md`):
//!
//! * [`config`]: the typed configuration ([`PretrainConfig`]) mirroring the reference's YAML
//!   sections, presets from `configs/pretrain/`, `--set a.b=c` overrides;
//! * [`archive`]: rasters (paths, globs, manifests) → nodata-aware random chips;
//! * [`batch`]: multi-crop batches with iBOT masks and Gram crops, a bounded multi-threaded
//!   prefetcher, everything derived from `(seed, iteration)` ([`seed`]);
//! * [`model`]: student, EMA teacher, Gram teacher, distillation teacher, one forward-backward;
//! * [`optim`]: AdamW with per-parameter multipliers and saveable state, per-module clipping;
//! * [`schedule`], [`run_schedule`], [`param_groups`]: the reference's schedules and groups;
//! * [`checkpoint`]: atomic checkpoints, exact resume, backbone export;
//! * [`trainer`]: the loop; [`probe`]: the dense linear probe, locality and PCA pictures;
//!   [`report`]: pictures.
//!
//! Head training (`geodino train-head`, [`heads`]): canopy-height and land-cover heads on a
//! frozen backbone with cached features, reusing AdamW, schedules, seeds and checkpoint files.

mod error;

pub use error::{Error, Result};

pub mod archive;
pub mod batch;
pub mod checkpoint;
pub mod config;
pub mod heads;
pub mod model;
pub mod optim;
pub mod param_groups;
pub mod probe;
pub mod report;
pub mod run_schedule;
pub mod schedule;
pub mod seed;
pub mod trainer;

pub use config::PretrainConfig;
pub use trainer::{Observer, RunOptions, RunSummary, StepRecord, run};
