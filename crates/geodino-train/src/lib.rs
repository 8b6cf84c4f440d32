//! Training engines: DINOv3 pretraining with Gram anchoring, head training, schedules, checkpoints.

mod error;

pub use error::{Error, Result};

pub mod param_groups;
pub mod schedule;
