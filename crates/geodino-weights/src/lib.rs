//! Torch-free checkpoint IO: PyTorch `.pth` (zip + pickle) and safetensors readers, a
//! safetensors writer, and the DINOv3 key layouts.
//!
//! * [`load`] reads a state dict from a `.pth` (any `torch.save` zip file, including training
//!   checkpoints whose state dict sits under `teacher`/`model`/…) or a safetensors file, format
//!   detected from the content; tensors keep their stored dtype (f32, bf16, f16, integers);
//! * [`PthFile`] gives finer control over `.pth` archives; [`pickle`](crate::pth) is this
//!   crate's own minimal pickle VM (no Python, no code execution);
//! * [`read_safetensors`] / [`write_safetensors`] (atomic: temporary file + rename);
//! * [`write_pth`]: a flat state dict as a `torch.save` file that `torch.load(weights_only=True)`
//!   reads (atomic);
//! * [`dinov3`]: bring training checkpoints and Hugging Face layouts to the official DINOv3
//!   keys.
//!
//! `docs/models.md` documents the formats.

mod error;
mod pickle;
mod pth;
mod pth_write;
mod safetensors;
mod state_dict;
mod tensor;

pub mod dinov3;

pub use error::{Error, Result};
pub use pth::{NESTED_STATE_DICT_KEYS, PthFile};
pub use pth_write::write_pth;
pub use safetensors::{read_header, read_safetensors, write_safetensors};
pub use state_dict::{Format, LoadOptions, StateDict, detect_format, load};
pub use tensor::{Dtype, TensorData};
