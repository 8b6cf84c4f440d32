//! DINOv3 multi-crop augmentation, after `DataAugmentationDINO` (`dinov3/data/augmentations.py`)
//! and the crop stacking of `collate_data_and_cast` (`dinov3/data/collate.py`), facebookresearch/
//! dinov3 at 6876159.
//!
//! Per image:
//!
//! * two **global crops**: `RandomResizedCrop(max(global, gram), scale (0.32, 1))`, optional flip;
//!   with Gram crops and `gram_teacher_no_distortions` the student crop is a bicubic resize of that
//!   base crop to `global` *before* the photometric transforms, and the Gram-teacher crop a resize
//!   of the same base crop to `gram` with no photometric transform (normalised only); without
//!   `gram_teacher_no_distortions` both are resizes of the distorted, normalised base crop;
//! * photometric transforms: colour jitter (p 0.8), grayscale (p 0.2), Gaussian blur, and for the
//!   second global crop solarisation (p 0.2), then normalisation;
//! * `local_crops_number` **local crops**: `RandomResizedCrop(local, scale (0.05, 0.32))`, optional
//!   flip, colour jitter, grayscale, blur, normalisation.
//!
//! **Blur probabilities.** The reference's `GaussianBlur(p)` passes `1 − p` to `RandomApply`
//! (issue #286, PR #342): the code asks for 1.0 / 0.1 / 0.5 (global 1 / global 2 / local) and
//! applies 0 / 0.9 / 0.5. The released models were trained with the latter,
//! [`BlurProbabilities::AsReleased`], our default; [`BlurProbabilities::AsIntended`] gives the
//! former.
//!
//! The teacher sees the same two global crops as the student. The batch is stacked crop-major
//! (crop 0 of every image, then crop 1, …), the layout the iBOT masks and the losses expect.

use ndarray::{Array3, Array4, ArrayView3, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::augment::{
    ColorJitter, CropBox, JitterParams, RandomResizedCrop, SOLARIZE_THRESHOLD, gaussian_blur,
    hflip, normalize, resize_bicubic, solarize, to_grayscale,
};
use crate::error::{Error, Result};

/// ImageNet mean (the reference configs' `rgb_mean`).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet standard deviation (the reference configs' `rgb_std`).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Which Gaussian-blur probabilities to use (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlurProbabilities {
    /// What the reference code does and the released models saw: global 1 never, global 2 0.9,
    /// local 0.5.
    AsReleased,
    /// What the code asks for (and the DINOv2 recipe applied): global 1 always, global 2 0.1,
    /// local 0.5.
    AsIntended,
}

impl BlurProbabilities {
    /// Probability that the blur is applied to (global crop 1, global crop 2, each local crop).
    pub fn probabilities(self) -> (f64, f64, f64) {
        match self {
            BlurProbabilities::AsReleased => (0.0, 0.9, 0.5),
            BlurProbabilities::AsIntended => (1.0, 0.1, 0.5),
        }
    }
}

/// Multi-crop options, named as the dinov3 `crops:` keys where one exists. `Default` is the
/// recipe of the released models (`dinov3_vit7b16_pretrain.yaml`): 2 × 256 px global and
/// 8 × 112 px local crops, no flips, no Gram crops, ImageNet normalisation, blur as released.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiCropConfig {
    /// Area fraction of the global crops. Default (0.32, 1.0).
    pub global_crops_scale: (f64, f64),
    /// Area fraction of the local crops. Default (0.05, 0.32).
    pub local_crops_scale: (f64, f64),
    /// Number of local crops. Default 8.
    pub local_crops_number: usize,
    /// Side of the global crops in pixels. Default 256.
    pub global_crops_size: usize,
    /// Side of the local crops in pixels. Default 112.
    pub local_crops_size: usize,
    /// Side of the Gram-teacher crops (`None`: no Gram crops). Default `None`; 512 in the Gram
    /// anchoring config.
    pub gram_teacher_crops_size: Option<usize>,
    /// Gram-teacher crops without photometric distortion. Default false; true in the Gram configs.
    pub gram_teacher_no_distortions: bool,
    /// Random horizontal flips (p 0.5). Default false (true in `ssl_default_config.yaml`).
    pub horizontal_flips: bool,
    /// Aspect-ratio range of the random resized crops. Default (3/4, 4/3).
    pub crop_ratio: (f64, f64),
    /// Colour jitter. Default p 0.8, (0.4, 0.4, 0.2, 0.1).
    pub color_jitter: ColorJitter,
    /// Grayscale probability. Default 0.2.
    pub grayscale_p: f64,
    /// Blur probabilities. Default [`BlurProbabilities::AsReleased`].
    pub blur: BlurProbabilities,
    /// Blur kernel size. Default 9.
    pub blur_kernel_size: usize,
    /// Blur σ range. Default (0.1, 2.0).
    pub blur_sigma: (f64, f64),
    /// Solarisation probability on global crop 2. Default 0.2.
    pub solarize_p: f64,
    /// Solarisation threshold in `[0, 1]` units. Default 128/255.
    pub solarize_threshold: f32,
    /// Per-band mean subtracted last (`rgb_mean`). Default ImageNet.
    pub mean: Vec<f32>,
    /// Per-band standard deviation (`rgb_std`). Default ImageNet.
    pub std: Vec<f32>,
}

impl Default for MultiCropConfig {
    fn default() -> Self {
        MultiCropConfig {
            global_crops_scale: (0.32, 1.0),
            local_crops_scale: (0.05, 0.32),
            local_crops_number: 8,
            global_crops_size: 256,
            local_crops_size: 112,
            gram_teacher_crops_size: None,
            gram_teacher_no_distortions: false,
            horizontal_flips: false,
            crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
            color_jitter: ColorJitter::default(),
            grayscale_p: 0.2,
            blur: BlurProbabilities::AsReleased,
            blur_kernel_size: 9,
            blur_sigma: (0.1, 2.0),
            solarize_p: 0.2,
            solarize_threshold: SOLARIZE_THRESHOLD,
            mean: IMAGENET_MEAN.to_vec(),
            std: IMAGENET_STD.to_vec(),
        }
    }
}

impl MultiCropConfig {
    /// `dinov3_vit7b16_pretrain.yaml` (= `Default`).
    pub fn vit7b_pretrain() -> Self {
        Self::default()
    }

    /// `dinov3_vit7b16_gram_anchor.yaml`: Gram-teacher crops at 512 px (2×), undistorted.
    pub fn vit7b_gram_anchor() -> Self {
        MultiCropConfig {
            gram_teacher_crops_size: Some(512),
            gram_teacher_no_distortions: true,
            ..Self::default()
        }
    }

    /// `ssl_default_config.yaml`: 224 / 96 px crops with flips.
    pub fn ssl_default() -> Self {
        MultiCropConfig {
            global_crops_size: 224,
            local_crops_size: 96,
            horizontal_flips: true,
            ..Self::default()
        }
    }

    /// Replace the normalisation (one mean and std per band, e.g. the SAT-493M preset).
    pub fn with_normalization(mut self, mean: &[f32], std: &[f32]) -> Self {
        self.mean = mean.to_vec();
        self.std = std.to_vec();
        self
    }

    /// Check sizes, ranges and the normalisation.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(format!("multi-crop config: {m}")));
        for (name, (lo, hi)) in [
            ("global_crops_scale", self.global_crops_scale),
            ("local_crops_scale", self.local_crops_scale),
        ] {
            if !(0.0 < lo && lo <= hi && hi <= 1.0) {
                return bad(format!("{name} must satisfy 0 < min <= max <= 1, got ({lo}, {hi})"));
            }
        }
        if !(self.crop_ratio.0 > 0.0 && self.crop_ratio.0 <= self.crop_ratio.1) {
            return bad(format!(
                "crop_ratio must satisfy 0 < min <= max, got {:?}",
                self.crop_ratio
            ));
        }
        if self.global_crops_size == 0
            || self.local_crops_size == 0
            || self.gram_teacher_crops_size == Some(0)
        {
            return bad("crop sizes must be > 0".into());
        }
        if self.blur_kernel_size.is_multiple_of(2) {
            return bad(format!("blur_kernel_size must be odd, got {}", self.blur_kernel_size));
        }
        if !(self.blur_sigma.0 > 0.0 && self.blur_sigma.0 <= self.blur_sigma.1) {
            return bad(format!(
                "blur_sigma must satisfy 0 < min <= max, got {:?}",
                self.blur_sigma
            ));
        }
        for (name, p) in [
            ("color_jitter.p", self.color_jitter.p),
            ("grayscale_p", self.grayscale_p),
            ("solarize_p", self.solarize_p),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} must be in [0, 1], got {p}"));
            }
        }
        if !(0.0..=0.5).contains(&self.color_jitter.hue) {
            return bad(format!(
                "color_jitter.hue must be in [0, 0.5], got {}",
                self.color_jitter.hue
            ));
        }
        if self.mean.is_empty() || self.mean.len() != self.std.len() {
            return bad(format!("{} means for {} stds", self.mean.len(), self.std.len()));
        }
        if let Some(s) = self.std.iter().find(|&&s| s.is_nan() || s <= 0.0) {
            return bad(format!("std must be > 0, got {s}"));
        }
        Ok(())
    }
}

/// What was done to one crop (for inspection, statistics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CropRecord {
    /// The crop box in the source image.
    pub crop: CropBox,
    /// Mirrored left-right.
    pub flipped: bool,
    /// The colour jitter, when applied.
    pub jitter: Option<JitterParams>,
    /// Converted to grayscale.
    pub grayscale: bool,
    /// The blur σ, when blurred.
    pub blur_sigma: Option<f32>,
    /// Solarised.
    pub solarized: bool,
}

/// The crops of one image, each `(c, size, size)`, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiCropSample {
    /// The two global crops (student and teacher input).
    pub global_crops: Vec<Array3<f32>>,
    /// The local crops (student only).
    pub local_crops: Vec<Array3<f32>>,
    /// The Gram-teacher crops, one per global crop, when configured.
    pub gram_teacher_crops: Option<Vec<Array3<f32>>>,
    /// What was applied to each global crop (the Gram crop of the same index shares its box).
    pub global_records: Vec<CropRecord>,
    /// What was applied to each local crop.
    pub local_records: Vec<CropRecord>,
}

/// A stacked batch, crop-major.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiCropBatch {
    /// `[2·B, c, global, global]`: crop 0 of images 0..B, then crop 1.
    pub global_crops: Array4<f32>,
    /// `[L·B, c, local, local]`: crop 0 of images 0..B, then crop 1, …
    pub local_crops: Array4<f32>,
    /// `[2·B, c, gram, gram]`, when configured.
    pub gram_teacher_crops: Option<Array4<f32>>,
    /// Images in the batch `B`.
    pub batch_size: usize,
}

/// Which photometric pipeline a crop goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CropKind {
    Global1,
    Global2,
    Local,
}

fn record(crop: CropBox) -> CropRecord {
    CropRecord {
        crop,
        flipped: false,
        jitter: None,
        grayscale: false,
        blur_sigma: None,
        solarized: false,
    }
}

/// The multi-crop transform.
#[derive(Debug, Clone)]
pub struct MultiCrop {
    cfg: MultiCropConfig,
}

impl MultiCrop {
    /// A transform with options `cfg`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `cfg` is invalid.
    pub fn new(cfg: &MultiCropConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(MultiCrop { cfg: cfg.clone() })
    }

    /// The options.
    pub fn config(&self) -> &MultiCropConfig {
        &self.cfg
    }

    fn maybe_flip<R: Rng + ?Sized>(&self, rng: &mut R, img: &mut Array3<f32>) -> bool {
        if self.cfg.horizontal_flips && rng.random::<f64>() < 0.5 {
            hflip(img.view_mut());
            true
        } else {
            false
        }
    }

    /// Colour jitter, grayscale, blur, (solarise), normalise; records what it did in `rec`.
    fn distort<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        mut img: Array3<f32>,
        kind: CropKind,
        rec: &mut CropRecord,
    ) -> Result<Array3<f32>> {
        let c = &self.cfg;
        rec.jitter = c.color_jitter.apply(rng, img.view_mut());
        if rng.random::<f64>() < c.grayscale_p {
            to_grayscale(img.view_mut());
            rec.grayscale = true;
        }
        let (p1, p2, pl) = c.blur.probabilities();
        let p_blur = match kind {
            CropKind::Global1 => p1,
            CropKind::Global2 => p2,
            CropKind::Local => pl,
        };
        if rng.random::<f64>() < p_blur {
            let sigma = rng.random_range(c.blur_sigma.0..=c.blur_sigma.1) as f32;
            img = gaussian_blur(img.view(), c.blur_kernel_size, sigma);
            rec.blur_sigma = Some(sigma);
        }
        if kind == CropKind::Global2 && rng.random::<f64>() < c.solarize_p {
            solarize(img.view_mut(), c.solarize_threshold);
            rec.solarized = true;
        }
        normalize(img.view_mut(), &c.mean, &c.std)?;
        Ok(img)
    }

    /// Augment one image.
    ///
    /// # Shapes
    /// `img: (c, h, w)` with values in `[0, 1]` and `c` = the number of means → see
    /// [`MultiCropSample`].
    ///
    /// # Errors
    /// [`Error::Invalid`] when the band count does not match the normalisation or the image is
    /// empty.
    pub fn apply<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        img: ArrayView3<'_, f32>,
    ) -> Result<MultiCropSample> {
        let c = &self.cfg;
        let (bands, h, w) = img.dim();
        if bands != c.mean.len() {
            return Err(Error::Invalid(format!(
                "image has {bands} bands but the normalisation has {} means",
                c.mean.len()
            )));
        }
        if h == 0 || w == 0 {
            return Err(Error::Invalid(format!("empty image {h}x{w}")));
        }
        let base_size = c.global_crops_size.max(c.gram_teacher_crops_size.unwrap_or(0));
        let global_rrc =
            RandomResizedCrop { size: base_size, scale: c.global_crops_scale, ratio: c.crop_ratio };
        let local_rrc = RandomResizedCrop {
            size: c.local_crops_size,
            scale: c.local_crops_scale,
            ratio: c.crop_ratio,
        };
        let g = c.global_crops_size;

        let mut global_crops = Vec::with_capacity(2);
        let mut global_records = Vec::with_capacity(2);
        let mut gram_crops = c.gram_teacher_crops_size.map(|_| Vec::with_capacity(2));
        for kind in [CropKind::Global1, CropKind::Global2] {
            let (mut base, crop) = global_rrc.apply_with_box(rng, img);
            let mut rec = record(crop);
            rec.flipped = self.maybe_flip(rng, &mut base);
            match c.gram_teacher_crops_size {
                None => global_crops.push(self.distort(rng, base, kind, &mut rec)?),
                Some(gs) if c.gram_teacher_no_distortions => {
                    let student = resize_bicubic(base.view(), g, g, true);
                    global_crops.push(self.distort(rng, student, kind, &mut rec)?);
                    let mut gram = resize_bicubic(base.view(), gs, gs, true);
                    normalize(gram.view_mut(), &c.mean, &c.std)?;
                    gram_crops.as_mut().expect("gram crops requested").push(gram);
                }
                Some(gs) => {
                    // Distortions shared by the student and Gram crops; resizes of normalised data.
                    let distorted = self.distort(rng, base, kind, &mut rec)?;
                    global_crops.push(resize_bicubic(distorted.view(), g, g, false));
                    gram_crops.as_mut().expect("gram crops requested").push(resize_bicubic(
                        distorted.view(),
                        gs,
                        gs,
                        false,
                    ));
                }
            }
            global_records.push(rec);
        }
        let mut local_crops = Vec::with_capacity(c.local_crops_number);
        let mut local_records = Vec::with_capacity(c.local_crops_number);
        for _ in 0..c.local_crops_number {
            let (mut crop_img, crop) = local_rrc.apply_with_box(rng, img);
            let mut rec = record(crop);
            rec.flipped = self.maybe_flip(rng, &mut crop_img);
            local_crops.push(self.distort(rng, crop_img, CropKind::Local, &mut rec)?);
            local_records.push(rec);
        }
        Ok(MultiCropSample {
            global_crops,
            local_crops,
            gram_teacher_crops: gram_crops,
            global_records,
            local_records,
        })
    }

    /// Augment a batch in parallel (rayon) and stack it crop-major. Image `i` draws from
    /// `ChaCha8Rng::seed_from_u64(seed)` on stream `i`, so the result depends only on `seed` and
    /// the images, not on the thread count.
    ///
    /// # Errors
    /// As [`MultiCrop::apply`], naming the image index; [`Error::Invalid`] for an empty batch or
    /// images with different band counts.
    pub fn apply_batch(&self, images: &[ArrayView3<'_, f32>], seed: u64) -> Result<MultiCropBatch> {
        if images.is_empty() {
            return Err(Error::Invalid("empty batch".into()));
        }
        let samples: Vec<MultiCropSample> = images
            .par_iter()
            .enumerate()
            .map(|(i, img)| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(i as u64);
                self.apply(&mut rng, *img).map_err(|e| Error::Invalid(format!("image {i}: {e}")))
            })
            .collect::<Result<_>>()?;
        Ok(collate(&samples))
    }
}

fn stack_crop_major(per_image: &[&Vec<Array3<f32>>]) -> Array4<f32> {
    let b = per_image.len();
    let n = per_image[0].len();
    let (c, h, w) = per_image[0][0].dim();
    let mut out = Array4::<f32>::zeros((n * b, c, h, w));
    for k in 0..n {
        for (i, crops) in per_image.iter().enumerate() {
            out.index_axis_mut(Axis(0), k * b + i).assign(&crops[k]);
        }
    }
    out
}

/// Stack samples crop-major (`collate_data_and_cast`).
///
/// # Panics
/// If `samples` is empty or the samples have different crop counts or sizes (they cannot, when
/// produced by one [`MultiCrop`]).
pub fn collate(samples: &[MultiCropSample]) -> MultiCropBatch {
    assert!(!samples.is_empty(), "collate needs at least one sample");
    let globals: Vec<&Vec<Array3<f32>>> = samples.iter().map(|s| &s.global_crops).collect();
    let locals: Vec<&Vec<Array3<f32>>> = samples.iter().map(|s| &s.local_crops).collect();
    let gram = if samples[0].gram_teacher_crops.is_some() {
        let grams: Vec<&Vec<Array3<f32>>> =
            samples.iter().map(|s| s.gram_teacher_crops.as_ref().expect("same config")).collect();
        Some(stack_crop_major(&grams))
    } else {
        None
    };
    let local_crops = if samples[0].local_crops.is_empty() {
        let (c, _, _) = samples[0].global_crops[0].dim();
        Array4::zeros((0, c, 0, 0))
    } else {
        stack_crop_major(&locals)
    };
    MultiCropBatch {
        global_crops: stack_crop_major(&globals),
        local_crops,
        gram_teacher_crops: gram,
        batch_size: samples.len(),
    }
}
