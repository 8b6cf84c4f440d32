//! Bringing an image to a multiple of the patch size before the backbone, and the head's output
//! back to the image afterwards (dinov3's `CenterPadding` / `StretchToMultiple`,
//! `eval/depth/models/embed.py`).

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::{Error, Result};

/// How an input whose sides are not multiples of the patch size is adapted
/// (`adapt_to_patch_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PatchAdaptation {
    /// Zero-pad (zero in normalised units, i.e. the mean colour) to the next multiple, the
    /// padding split evenly with the extra pixel at the bottom/right (the reference default,
    /// used by CHMv2).
    #[default]
    CenterPadding,
    /// Bilinearly resize (align_corners=False) up to the next multiple.
    Stretch,
}

/// What size the head's per-pixel outputs come back at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutputSize {
    /// The input's size and pixel grid: the padding is cropped away (a DPT output one patch
    /// larger than the padded input, from odd patch grids, is first resized to the padded
    /// size). Stretched inputs are resized back.
    #[default]
    Crop,
    /// The padded (or stretched) input's size, as the reference `Depther` returns it.
    Padded,
    /// The decoder's own output, unresized (DPT: `32·⌈h/2⌉ × 32·⌈w/2⌉`; linear: the patch grid).
    Raw,
    /// Bilinearly resized to the input's size without cropping (the CHMv2 notebook's
    /// post-processing; equal to `Crop` when no padding was needed).
    Resize,
}

impl std::str::FromStr for OutputSize {
    type Err = Error;
    fn from_str(s: &str) -> Result<OutputSize> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "crop" => OutputSize::Crop,
            "padded" => OutputSize::Padded,
            "raw" => OutputSize::Raw,
            "resize" => OutputSize::Resize,
            _ => {
                return Err(Error::Config(format!(
                    "output size {s:?}: expected crop, padded, raw or resize"
                )));
            }
        })
    }
}

/// Where an image sits inside the backbone's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// How the input was adapted.
    pub adaptation: PatchAdaptation,
    /// Input rows.
    pub height: i64,
    /// Input columns.
    pub width: i64,
    /// Backbone input rows (a multiple of the patch size).
    pub work_height: i64,
    /// Backbone input columns.
    pub work_width: i64,
    /// Padding rows above the image (centre padding).
    pub top: i64,
    /// Padding columns left of the image (centre padding).
    pub left: i64,
}

impl Geometry {
    /// The geometry of an `height × width` input for patch size `multiple`.
    pub fn new(height: i64, width: i64, multiple: i64, adaptation: PatchAdaptation) -> Geometry {
        let up = |s: i64| (s + multiple - 1) / multiple * multiple;
        let (wh, ww) = (up(height), up(width));
        let (top, left) = match adaptation {
            PatchAdaptation::CenterPadding => ((wh - height) / 2, (ww - width) / 2),
            PatchAdaptation::Stretch => (0, 0),
        };
        Geometry { adaptation, height, width, work_height: wh, work_width: ww, top, left }
    }

    /// True when the input already has the backbone's size.
    pub fn is_identity(&self) -> bool {
        self.work_height == self.height && self.work_width == self.width
    }

    /// Adapt a batch to the backbone: centre zero padding or bilinear stretch.
    ///
    /// # Shapes
    /// `(b, c, height, width) → (b, c, work_height, work_width)`.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        if self.is_identity() {
            return x.shallow_clone();
        }
        match self.adaptation {
            PatchAdaptation::CenterPadding => x.constant_pad_nd([
                self.left,
                self.work_width - self.width - self.left,
                self.top,
                self.work_height - self.height - self.top,
            ]),
            PatchAdaptation::Stretch => {
                x.upsample_bilinear2d([self.work_height, self.work_width], false, None, None)
            }
        }
    }

    /// Bring a per-pixel output of the head back to the size `size` asks for (see
    /// [`OutputSize`]); resizing is bilinear with align_corners=False.
    ///
    /// # Shapes
    /// `(b, k, h', w') → (b, k, height, width)` (crop, resize), `(b, k, work_height,
    /// work_width)` (padded), unchanged (raw).
    pub fn restore(&self, y: &Tensor, size: OutputSize) -> Tensor {
        let resize = |t: &Tensor, h: i64, w: i64| {
            let s = t.size();
            if s[2] == h && s[3] == w {
                t.shallow_clone()
            } else {
                t.upsample_bilinear2d([h, w], false, None, None)
            }
        };
        match size {
            OutputSize::Raw => y.shallow_clone(),
            OutputSize::Padded => resize(y, self.work_height, self.work_width),
            OutputSize::Resize => resize(y, self.height, self.width),
            OutputSize::Crop => match self.adaptation {
                PatchAdaptation::Stretch => resize(y, self.height, self.width),
                PatchAdaptation::CenterPadding => resize(y, self.work_height, self.work_width)
                    .narrow(2, self.top, self.height)
                    .narrow(3, self.left, self.width),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn centre_padding_splits_like_the_reference_and_crops_back() {
        // 60×90 → 64×96: 2 rows above, 2 below; 3 columns left, 3 right.
        let g = Geometry::new(60, 90, 16, PatchAdaptation::CenterPadding);
        assert_eq!((g.work_height, g.work_width, g.top, g.left), (64, 96, 2, 3));
        // 61 → 64: pad 3, left gets 1 (pad // 2), right 2.
        let g2 = Geometry::new(61, 64, 16, PatchAdaptation::CenterPadding);
        assert_eq!((g2.top, g2.left, g2.work_width), (1, 0, 64));
        let x = Tensor::rand([1, 3, 60, 90], (Kind::Float, Device::Cpu)) + 1.0;
        let p = g.apply(&x);
        assert_eq!(p.size(), [1, 3, 64, 96]);
        // Zero border, image in the middle.
        assert_eq!(p.narrow(2, 0, 2).abs().sum(Kind::Float).double_value(&[]), 0.0);
        assert_eq!(p.narrow(3, 93, 3).abs().sum(Kind::Float).double_value(&[]), 0.0);
        assert!(g.restore(&p, OutputSize::Crop).equal(&x));
        assert_eq!(g.restore(&p, OutputSize::Padded).size(), [1, 3, 64, 96]);
        assert_eq!(g.restore(&p, OutputSize::Resize).size(), [1, 3, 60, 90]);
        // An output one patch larger (odd grid) is resized to the padded size before cropping.
        let big = Tensor::ones([1, 2, 80, 96], (Kind::Float, Device::Cpu));
        assert_eq!(g.restore(&big, OutputSize::Crop).size(), [1, 2, 60, 90]);
        assert_eq!(g.restore(&big, OutputSize::Raw).size(), [1, 2, 80, 96]);
    }

    #[test]
    fn stretch_resizes_both_ways_and_sizes_parse() {
        let g = Geometry::new(20, 33, 16, PatchAdaptation::Stretch);
        let x = Tensor::ones([2, 3, 20, 33], (Kind::Float, Device::Cpu));
        let s = g.apply(&x);
        assert_eq!(s.size(), [2, 3, 32, 48]);
        assert!(g.restore(&s, OutputSize::Crop).allclose(&x, 1e-6, 1e-6, false));
        assert_eq!("padded".parse::<OutputSize>().unwrap(), OutputSize::Padded);
        assert!("full".parse::<OutputSize>().unwrap_err().to_string().contains("crop"));
    }
}
