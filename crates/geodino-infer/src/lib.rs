//! Whole-scene streaming inference: sliding windows, seam-free blending, bounded memory, georeferenced output.
