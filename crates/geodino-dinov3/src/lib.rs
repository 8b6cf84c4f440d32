//! The DINOv3 vision transformer family on libtorch, numerically equal to the official implementation.
