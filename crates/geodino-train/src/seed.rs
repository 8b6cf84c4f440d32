//! Per-step random streams. Every random draw of iteration `s` comes from a generator seeded by
//! `derive(seed, s, stream, index)`, so a run resumed at iteration `s` sees exactly the data,
//! masks, crop sizes, drop-path subsets and RoPE jitter of an uninterrupted run, whatever the
//! number of data workers or their scheduling.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a random stream is used for (a domain separator in [`derive`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    /// Which raster and window an image of the batch is cut from (index: image).
    Chip = 1,
    /// The multi-crop augmentations of a batch (per image: ChaCha stream = image index).
    Crops = 2,
    /// The iBOT masks of a batch.
    Masks = 3,
    /// The crop-size triplet of a batch (high-resolution adaptation).
    Resolution = 4,
    /// libtorch's generator for the step (drop path, RoPE jitter).
    Torch = 5,
    /// Model initialisation (iteration 0).
    Init = 6,
    /// Evaluation (probe initialisation, sampling).
    Eval = 7,
    /// Archive statistics (percentile scaling samples).
    Stats = 8,
}

/// SplitMix64's finaliser: a bijective 64-bit mixer.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of stream `stream`, item `index`, at iteration `step` of a run seeded `seed`.
pub fn derive(seed: u64, step: u64, stream: Stream, index: u64) -> u64 {
    let mut h = mix(seed);
    h = mix(h ^ step);
    h = mix(h ^ (stream as u64));
    mix(h ^ index)
}

/// A ChaCha8 generator for `derive(seed, step, stream, index)`.
pub fn rng(seed: u64, step: u64, stream: Stream, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(derive(seed, step, stream, index))
}

/// A libtorch seed (non-negative `i64`) for iteration `step`.
pub fn torch_seed(seed: u64, step: u64) -> i64 {
    (derive(seed, step, Stream::Torch, 0) >> 1) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_and_repeat() {
        let a = derive(0, 5, Stream::Chip, 0);
        assert_eq!(a, derive(0, 5, Stream::Chip, 0));
        assert_ne!(a, derive(0, 6, Stream::Chip, 0));
        assert_ne!(a, derive(1, 5, Stream::Chip, 0));
        assert_ne!(a, derive(0, 5, Stream::Crops, 0));
        assert_ne!(a, derive(0, 5, Stream::Chip, 1));
        assert!(torch_seed(3, 9) >= 0);
    }
}
