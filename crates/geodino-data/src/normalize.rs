//! Input normalisation for DINOv3 backbones: `x' = (x / scale − mean_b) / std_b` per band.
//!
//! Presets (dinov3-spec §2.6):
//!
//! | preset | mean (R, G, B) | std (R, G, B) | source |
//! |---|---|---|---|
//! | `sat493m` | 0.430, 0.411, 0.296 | 0.213, 0.156, 0.143 | dinov3 README, timm config (SAT-493M weights) |
//! | `chmv2` | **0.420**, 0.411, 0.296 | 0.213, 0.156, 0.143 | CHMv2 notebook, HF `image_processing_chmv2.py`, Tolan et al. 2024 |
//! | `lvd1689m` (= `imagenet`) | 0.485, 0.456, 0.406 | 0.229, 0.224, 0.225 | dinov3 README (LVD-1689M web weights) |
//!
//! The sources disagree on the SAT red mean (0.430 vs 0.420): use `sat493m` for raw backbone
//! features and `chmv2` for the CHMv2 canopy-height head, which was trained with 0.420
//! (`docs/models.md`). Pixel values are first divided by `scale` (255 for 8-bit imagery).
//!
//! Multispectral backbones (an inflated patch embedding) take one mean and std per band:
//! [`Normalization::with_extra_bands`] appends the statistics of the bands beyond RGB.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Per-band normalisation: `(x / scale − mean) / std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    /// Per-band means, in units of `x / scale`.
    pub mean: Vec<f32>,
    /// Per-band standard deviations, in units of `x / scale`.
    pub std: Vec<f32>,
    /// Raw values are divided by this first. Default 255 (8-bit imagery).
    #[serde(default = "default_scale")]
    pub scale: f32,
}

fn default_scale() -> f32 {
    255.0
}

/// Names accepted by [`Normalization::preset`].
pub const PRESETS: &[&str] = &["sat493m", "chmv2", "lvd1689m", "imagenet"];

impl Normalization {
    /// A normalisation with explicit statistics.
    ///
    /// # Errors
    /// Lengths differ or are zero; a std or the scale is not positive and finite.
    pub fn new(mean: Vec<f32>, std: Vec<f32>, scale: f32) -> Result<Normalization, Error> {
        let n = Normalization { mean, std, scale };
        n.validate()?;
        Ok(n)
    }

    /// A named preset (case-insensitive; `sat`, `sat493m`, `chmv2`, `lvd`, `lvd1689m`,
    /// `imagenet`), for 8-bit RGB (`scale` 255).
    ///
    /// # Errors
    /// An unknown name.
    pub fn preset(name: &str) -> Result<Normalization, Error> {
        let (mean, std) = match name.trim().to_ascii_lowercase().as_str() {
            "sat" | "sat493m" => ([0.430, 0.411, 0.296], [0.213, 0.156, 0.143]),
            "chmv2" => ([0.420, 0.411, 0.296], [0.213, 0.156, 0.143]),
            "lvd" | "lvd1689m" | "imagenet" => ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
            _ => return Err(Error::UnknownPreset(name.to_string())),
        };
        Ok(Normalization { mean: mean.to_vec(), std: std.to_vec(), scale: 255.0 })
    }

    /// The same with the statistics of additional bands appended (multispectral inputs).
    ///
    /// # Errors
    /// As [`Normalization::new`].
    pub fn with_extra_bands(mut self, mean: &[f32], std: &[f32]) -> Result<Normalization, Error> {
        self.mean.extend_from_slice(mean);
        self.std.extend_from_slice(std);
        self.validate()?;
        Ok(self)
    }

    /// The same with another raw-value scale (e.g. 10000 for reflectance × 10⁴, 1 for data
    /// already in [0, 1]).
    ///
    /// # Errors
    /// A scale that is not positive and finite.
    pub fn with_scale(mut self, scale: f32) -> Result<Normalization, Error> {
        self.scale = scale;
        self.validate()?;
        Ok(self)
    }

    /// Number of bands.
    pub fn bands(&self) -> usize {
        self.mean.len()
    }

    /// Check lengths and positivity.
    ///
    /// # Errors
    /// See [`Normalization::new`].
    pub fn validate(&self) -> Result<(), Error> {
        if self.mean.is_empty() || self.mean.len() != self.std.len() {
            return Err(Error::Invalid(format!(
                "invalid normalisation: {} means and {} stds",
                self.mean.len(),
                self.std.len()
            )));
        }
        if let Some(s) = self.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::Invalid(format!("invalid normalisation: std {s} is not positive")));
        }
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(Error::Invalid(format!(
                "invalid normalisation: scale {} is not positive",
                self.scale
            )));
        }
        Ok(())
    }

    /// Normalise band-major data `(band, row, col)` in place.
    ///
    /// # Errors
    /// When `data.len()` is not a multiple of the band count.
    pub fn apply(&self, data: &mut [f32]) -> Result<(), Error> {
        let bands = self.bands();
        if data.is_empty() || !data.len().is_multiple_of(bands) {
            return Err(Error::NormalizationShape { len: data.len(), bands });
        }
        let plane = data.len() / bands;
        for (b, chunk) in data.chunks_exact_mut(plane).enumerate() {
            // (x / scale - mean) / std  ==  x · a + c, computed in f64 constants.
            let a = 1.0 / (self.scale as f64 * self.std[b] as f64);
            let c = -(self.mean[b] as f64) / self.std[b] as f64;
            for v in chunk {
                *v = (*v as f64 * a + c) as f32;
            }
        }
        Ok(())
    }

    /// Undo [`Normalization::apply`] (for previews).
    ///
    /// # Errors
    /// As [`Normalization::apply`].
    pub fn invert(&self, data: &mut [f32]) -> Result<(), Error> {
        let bands = self.bands();
        if data.is_empty() || !data.len().is_multiple_of(bands) {
            return Err(Error::NormalizationShape { len: data.len(), bands });
        }
        let plane = data.len() / bands;
        for (b, chunk) in data.chunks_exact_mut(plane).enumerate() {
            for v in chunk {
                *v = ((*v as f64 * self.std[b] as f64 + self.mean[b] as f64) * self.scale as f64)
                    as f32;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_hold_the_published_values() {
        let s = Normalization::preset("SAT493M").unwrap();
        assert_eq!(s.mean, vec![0.430, 0.411, 0.296]);
        assert_eq!(s.std, vec![0.213, 0.156, 0.143]);
        let c = Normalization::preset("chmv2").unwrap();
        assert_eq!(c.mean[0], 0.420);
        assert_eq!(c.mean[1..], s.mean[1..]);
        assert_eq!(c.std, s.std);
        let l = Normalization::preset("imagenet").unwrap();
        assert_eq!(l, Normalization::preset("lvd1689m").unwrap());
        assert_eq!(l.mean, vec![0.485, 0.456, 0.406]);
        assert!(matches!(Normalization::preset("s2"), Err(Error::UnknownPreset(_))));
    }

    #[test]
    fn apply_matches_the_formula_and_inverts() {
        let n = Normalization::preset("sat493m").unwrap().with_extra_bands(&[0.3], &[0.1]).unwrap();
        let mut d = vec![0.0, 255.0, 128.0, 128.0, 10.0, 20.0, 200.0, 51.0];
        let orig = d.clone();
        n.apply(&mut d).unwrap();
        for (i, (&x, &o)) in d.iter().zip(&orig).enumerate() {
            let b = i / 2;
            let want = (o / 255.0 - n.mean[b]) / n.std[b];
            assert!((x - want).abs() < 1e-5, "{i}: {x} vs {want}");
        }
        n.invert(&mut d).unwrap();
        for (x, o) in d.iter().zip(&orig) {
            assert!((x - o).abs() < 1e-3);
        }
        assert!(matches!(
            n.apply(&mut [0.0; 7]),
            Err(Error::NormalizationShape { len: 7, bands: 4 })
        ));
        assert!(Normalization::new(vec![0.5], vec![0.0], 1.0).is_err());
        assert!(Normalization::new(vec![0.5, 0.5], vec![1.0], 1.0).is_err());
        let j: Normalization = serde_json::from_str(r#"{"mean": [0.5], "std": [0.25]}"#).unwrap();
        assert_eq!(j.scale, 255.0);
        assert!(
            serde_json::from_str::<Normalization>(r#"{"mean": [0.5], "std": [0.25], "x": 1}"#)
                .is_err()
        );
    }
}
