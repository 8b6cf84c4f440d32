//! libtorch building blocks: the DINOv3 layers ([`layers`]), strict state-dict loading
//! ([`load_state_dict`]), tensor ↔ [`geodino_weights::TensorData`] conversion, device and
//! precision selection, and the [`Backbone`] trait through which heads see any backbone.

mod backbone;
mod device;
mod error;
pub mod init;
pub mod layers;
mod weights;

pub use backbone::{Backbone, LayerFeatures};
pub use device::{Precision, parse_device};
pub use error::{Error, Result, ShapeMismatch};
pub use weights::{
    LoadPolicy, LoadReport, dtype_of, from_tensor, kind_of, load_state_dict, state_dict_of,
    to_tensor,
};
