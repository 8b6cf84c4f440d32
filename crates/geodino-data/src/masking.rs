//! iBOT block masking, after `MaskingGenerator` (`dinov3/data/masking.py`) and the mask part of
//! `collate_data_and_cast` (`dinov3/data/collate.py`), facebookresearch/dinov3 at 6876159.
//!
//! For a batch of `n_images = 2B` global crops (crop-major) on an `h×w` patch grid (`N = h·w`):
//!
//! * `n_masked = int(n_images · mask_sample_probability)` images get a mask, the others none;
//! * with `r = linspace(0.1, 0.5, n_masked + 1)` (float32, as `torch.linspace`), the k-th masked
//!   image gets exactly `int(N · r[k+1])` masked patches;
//! * each mask is grown BEiT-style from rectangles (area `~ U(4, max)`, aspect log-uniform in
//!   `[0.3, 1/0.3]`, 10 attempts per rectangle, accepted when it adds between 1 and `max` new
//!   patches, where `max = min(remaining, 0.5·N)`), until a rectangle cannot be placed; then topped
//!   up with uniformly drawn unmasked patches to the exact count;
//! * the list of masks is shuffled.
//!
//! Outputs: the bool masks `[n_images, N]`, the flat indices of masked tokens, per-token weights
//! `1/#masked in its image`, and the count. Everything is drawn from the caller's RNG (use a seeded
//! `rand_chacha::ChaCha8Rng` for reproducible batches). The reference uses Python's `random` and
//! NumPy's global generators; the distributions are the same, the streams are not.

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Masking options, named as the `ibot:` keys of the dinov3 configs; `Default` is the reference
/// (every released config agrees).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IbotMaskConfig {
    /// Fraction of the global crops that get a mask (`mask_sample_probability`). Default 0.5.
    pub mask_sample_probability: f64,
    /// Smallest and largest masking ratio (`mask_ratio_min_max`). Default (0.1, 0.5).
    pub mask_ratio_min_max: (f64, f64),
    /// Smallest rectangle area in patches (`min_num_patches`). Default 4.
    pub min_num_patches: f64,
    /// Largest rectangle area as a fraction of `N` (`max_num_patches = 0.5·N` in `train.py`).
    /// Default 0.5.
    pub max_num_patches_ratio: f64,
    /// Smallest rectangle aspect ratio; the largest is its inverse. Default 0.3.
    pub min_aspect: f64,
    /// Roll every mask by a random offset (`mask_random_circular_shift`). Default false.
    pub random_circular_shift: bool,
}

impl Default for IbotMaskConfig {
    fn default() -> Self {
        IbotMaskConfig {
            mask_sample_probability: 0.5,
            mask_ratio_min_max: (0.1, 0.5),
            min_num_patches: 4.0,
            max_num_patches_ratio: 0.5,
            min_aspect: 0.3,
            random_circular_shift: false,
        }
    }
}

impl IbotMaskConfig {
    /// Check the ranges the reference asserts.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let (lo, hi) = self.mask_ratio_min_max;
        if !(0.0 <= lo && lo < hi && hi <= 1.0) {
            return Err(Error::Invalid(format!(
                "ibot.mask_ratio_min_max must satisfy 0 <= min < max <= 1, got ({lo}, {hi})"
            )));
        }
        if !(0.0..=1.0).contains(&self.mask_sample_probability) {
            return Err(Error::Invalid(format!(
                "ibot.mask_sample_probability must be in [0, 1], got {}",
                self.mask_sample_probability
            )));
        }
        if !(self.min_aspect > 0.0 && self.min_aspect <= 1.0) {
            return Err(Error::Invalid(format!(
                "ibot.min_aspect must be in (0, 1], got {}",
                self.min_aspect
            )));
        }
        if !(self.max_num_patches_ratio > 0.0 && self.max_num_patches_ratio <= 1.0) {
            return Err(Error::Invalid(format!(
                "ibot.max_num_patches_ratio must be in (0, 1], got {}",
                self.max_num_patches_ratio
            )));
        }
        Ok(())
    }
}

/// Python's `round()`: halves go to the even neighbour.
fn py_round(x: f64) -> i64 {
    x.round_ties_even() as i64
}

/// The BEiT-style block mask generator for one image (`MaskingGenerator`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaskingGenerator {
    height: usize,
    width: usize,
    min_num_patches: f64,
    max_num_patches: f64,
    log_aspect: (f64, f64),
}

/// A rectangle of patches accepted by the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaskRect {
    /// First patch row.
    pub top: usize,
    /// First patch column.
    pub left: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

/// One image's mask and the block part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMask {
    /// The final mask, row-major `[h·w]`, with exactly the requested count.
    pub mask: Vec<bool>,
    /// The rectangles' union before the random top-up (for inspection and tests).
    pub blocks: Vec<bool>,
    /// The accepted rectangles, in placement order.
    pub rects: Vec<MaskRect>,
}

impl MaskingGenerator {
    /// A generator for an `height × width` patch grid whose rectangles have an area between
    /// `min_num_patches` and `max_num_patches` and an aspect ratio in `[min_aspect, 1/min_aspect]`.
    pub fn new(
        height: usize,
        width: usize,
        min_num_patches: f64,
        max_num_patches: f64,
        min_aspect: f64,
    ) -> Self {
        let max_aspect = 1.0 / min_aspect;
        MaskingGenerator {
            height,
            width,
            min_num_patches,
            max_num_patches,
            log_aspect: (min_aspect.ln(), max_aspect.ln()),
        }
    }

    /// The generator `train.py` builds for a grid: `max_num_patches = ratio · N`.
    pub fn from_config(height: usize, width: usize, cfg: &IbotMaskConfig) -> Self {
        let n = (height * width) as f64;
        MaskingGenerator::new(
            height,
            width,
            cfg.min_num_patches,
            cfg.max_num_patches_ratio * n,
            cfg.min_aspect,
        )
    }

    /// Number of patches `N`.
    pub fn num_patches(&self) -> usize {
        self.height * self.width
    }

    /// One rectangle (`_mask`): up to 10 attempts; returns the number of patches it added.
    fn place_rectangle<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        mask: &mut [bool],
        max_mask_patches: f64,
        rects: &mut Vec<MaskRect>,
    ) -> usize {
        let mut delta = 0usize;
        for _ in 0..10 {
            // random.uniform(a, b) = a + (b − a)·U[0, 1), also when b < a.
            let target_area = self.min_num_patches
                + (max_mask_patches - self.min_num_patches) * rng.random::<f64>();
            let log_ar =
                self.log_aspect.0 + (self.log_aspect.1 - self.log_aspect.0) * rng.random::<f64>();
            let aspect = log_ar.exp();
            let h = py_round((target_area * aspect).sqrt());
            let w = py_round((target_area / aspect).sqrt());
            if w < self.width as i64 && h < self.height as i64 && h > 0 && w > 0 {
                let (h, w) = (h as usize, w as usize);
                let top = rng.random_range(0..=self.height - h);
                let left = rng.random_range(0..=self.width - w);
                let mut already = 0usize;
                for i in top..top + h {
                    for j in left..left + w {
                        already += mask[i * self.width + j] as usize;
                    }
                }
                let new = (h * w - already) as f64;
                if 0.0 < new && new <= max_mask_patches {
                    rects.push(MaskRect { top, left, height: h, width: w });
                    for i in top..top + h {
                        for j in left..left + w {
                            let m = &mut mask[i * self.width + j];
                            if !*m {
                                *m = true;
                                delta += 1;
                            }
                        }
                    }
                }
                if delta > 0 {
                    break;
                }
            }
        }
        delta
    }

    /// A mask with exactly `num_masking_patches` patches (`__call__`): rectangles, then a uniform
    /// top-up.
    ///
    /// # Errors
    /// [`Error::Invalid`] when more patches are requested than the grid has.
    pub fn generate<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        num_masking_patches: usize,
    ) -> Result<BlockMask> {
        let n = self.num_patches();
        if num_masking_patches > n {
            return Err(Error::Invalid(format!(
                "cannot mask {num_masking_patches} of {n} patches"
            )));
        }
        let mut mask = vec![false; n];
        let mut count = 0usize;
        let mut rects = Vec::new();
        while count < num_masking_patches {
            let max_mask_patches = ((num_masking_patches - count) as f64).min(self.max_num_patches);
            let delta = self.place_rectangle(rng, &mut mask, max_mask_patches, &mut rects);
            if delta == 0 {
                break;
            }
            count += delta;
        }
        let blocks = mask.clone();
        // complete_mask_randomly: distinct uniform picks among the unmasked patches.
        let free: Vec<usize> = (0..n).filter(|&i| !mask[i]).collect();
        for &i in free.choose_multiple(rng, num_masking_patches - count) {
            mask[i] = true;
        }
        Ok(BlockMask { mask, blocks, rects })
    }
}

/// `torch.linspace(start, end, steps)` in float32, computed as PyTorch's CPU kernel does (from the
/// start for the first half, from the end for the second half).
pub fn linspace_f32(start: f32, end: f32, steps: usize) -> Vec<f32> {
    match steps {
        0 => vec![],
        1 => vec![start],
        _ => {
            let step = (end - start) / (steps - 1) as f32;
            let halfway = steps / 2;
            (0..steps)
                .map(|i| {
                    if i < halfway {
                        start + step * i as f32
                    } else {
                        end - step * (steps - i - 1) as f32
                    }
                })
                .collect()
        }
    }
}

/// The iBOT masks of one batch of global crops.
#[derive(Debug, Clone, PartialEq)]
pub struct IbotMasks {
    /// Number of images (global crops × batch, crop-major).
    pub n_images: usize,
    /// Patches per image `N`.
    pub n_tokens: usize,
    /// Row-major `[n_images, N]`, true = masked.
    pub masks: Vec<bool>,
    /// Flat indices `image·N + patch` of the masked tokens, ascending (`mask_indices_list`).
    pub mask_indices: Vec<i64>,
    /// For every masked token, `1 / #masked in its image` (`masks_weight`).
    pub masks_weight: Vec<f32>,
    /// Sum of the requested counts (`upperbound`).
    pub upperbound: usize,
}

impl IbotMasks {
    /// Number of masked tokens (`n_masked_patches`).
    pub fn n_masked_patches(&self) -> usize {
        self.mask_indices.len()
    }

    /// The mask of image `i`.
    pub fn image(&self, i: usize) -> &[bool] {
        &self.masks[i * self.n_tokens..(i + 1) * self.n_tokens]
    }

    /// Masked-token count of every image.
    pub fn counts(&self) -> Vec<usize> {
        (0..self.n_images).map(|i| self.image(i).iter().filter(|&&m| m).count()).collect()
    }
}

/// Roll a row-major `h×w` mask by `(dy, dx)` (`torch.roll(mask, (dy, dx), (0, 1))`).
fn roll(mask: &[bool], h: usize, w: usize, dy: usize, dx: usize) -> Vec<bool> {
    let mut out = vec![false; mask.len()];
    for i in 0..h {
        for j in 0..w {
            out[((i + dy) % h) * w + (j + dx) % w] = mask[i * w + j];
        }
    }
    out
}

/// The masks of a batch of `n_images` global crops on an `h × w` grid, as
/// `collate_data_and_cast` builds them.
///
/// # Errors
/// [`Error::Invalid`] for an invalid configuration or an empty grid.
pub fn ibot_masks<R: Rng + ?Sized>(
    rng: &mut R,
    n_images: usize,
    grid_h: usize,
    grid_w: usize,
    cfg: &IbotMaskConfig,
) -> Result<IbotMasks> {
    cfg.validate()?;
    if grid_h == 0 || grid_w == 0 {
        return Err(Error::Invalid(format!("empty patch grid {grid_h}x{grid_w}")));
    }
    let generator = MaskingGenerator::from_config(grid_h, grid_w, cfg);
    let n = grid_h * grid_w;
    // int(B · p): truncation of a Python float product.
    let n_samples_masked = (n_images as f64 * cfg.mask_sample_probability) as usize;
    let probs = linspace_f32(
        cfg.mask_ratio_min_max.0 as f32,
        cfg.mask_ratio_min_max.1 as f32,
        n_samples_masked + 1,
    );
    let mut list: Vec<Vec<bool>> = Vec::with_capacity(n_images);
    let mut upperbound = 0usize;
    for k in 0..n_samples_masked {
        // int(N * prob_max) with prob_max a float32 tensor: a float32 product, truncated.
        let count = (n as f32 * probs[k + 1]) as usize;
        let mut mask = generator.generate(rng, count)?.mask;
        if cfg.random_circular_shift {
            let dy = rng.random_range(0..grid_h);
            let dx = rng.random_range(0..grid_w);
            mask = roll(&mask, grid_h, grid_w, dy, dx);
        }
        list.push(mask);
        upperbound += count;
    }
    for _ in n_samples_masked..n_images {
        list.push(vec![false; n]);
    }
    list.shuffle(rng);

    let masks: Vec<bool> = list.concat();
    let mut mask_indices = Vec::new();
    let mut masks_weight = Vec::new();
    for (i, img) in list.iter().enumerate() {
        let c = img.iter().filter(|&&m| m).count();
        let w = 1.0 / (c.max(1) as f32);
        for (j, &m) in img.iter().enumerate() {
            if m {
                mask_indices.push((i * n + j) as i64);
                masks_weight.push(w);
            }
        }
    }
    Ok(IbotMasks { n_images, n_tokens: n, masks, mask_indices, masks_weight, upperbound })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn linspace_matches_torch_float32() {
        // torch.linspace(0.1, 0.5, 5) = [0.1000, 0.2000, 0.3000, 0.4000, 0.5000] (float32)
        let v = linspace_f32(0.1, 0.5, 5);
        assert_eq!(v.len(), 5);
        assert_eq!(v[0], 0.1f32);
        assert_eq!(v[4], 0.5f32);
        assert!((v[2] - 0.3).abs() < 1e-7);
        assert_eq!(linspace_f32(0.1, 0.5, 1), vec![0.1f32]);
        assert!(linspace_f32(0.0, 1.0, 0).is_empty());
    }

    #[test]
    fn python_rounding_is_half_to_even() {
        assert_eq!(py_round(2.5), 2);
        assert_eq!(py_round(3.5), 4);
        assert_eq!(py_round(2.4999), 2);
        assert_eq!(py_round(0.5), 0);
    }

    #[test]
    fn roll_wraps_around() {
        // 2x3 grid, one masked patch at (1, 2), rolled by (1, 1) -> (0, 0)
        let mut m = vec![false; 6];
        m[5] = true;
        let r = roll(&m, 2, 3, 1, 1);
        assert!(r[0] && r.iter().filter(|&&x| x).count() == 1);
    }

    #[test]
    fn generator_hits_exact_counts_including_zero_and_full() {
        let g = MaskingGenerator::new(16, 16, 4.0, 128.0, 0.3);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for count in [0usize, 1, 3, 25, 76, 128, 200, 256] {
            let m = g.generate(&mut rng, count).unwrap();
            assert_eq!(m.mask.iter().filter(|&&x| x).count(), count);
            // blocks are a subset of the mask
            assert!(m.blocks.iter().zip(&m.mask).all(|(&b, &f)| !b || f));
        }
        assert!(g.generate(&mut rng, 257).is_err());
    }
}
