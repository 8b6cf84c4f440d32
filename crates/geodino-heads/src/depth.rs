//! From bin logits to metres: dinov3's `FeaturesToDepth` (`eval/depth/models/__init__.py`) and
//! the CHMv2 mixed-log bins (`eval/depth/utils.py`).
//!
//! With `n` output channels (`n > 1`) the head predicts a weight per depth bin; the height is
//! the weighted sum of the bin centres. With one channel it is a plain regression,
//! `relu(x) + min_depth`. Everything here runs in f32, whatever the head's precision.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::{Error, Result};

/// How bin centres are spread over `[min_depth, max_depth]` (`bins_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BinsStrategy {
    /// `linspace(min, max, n)` (the reference default; AdaBins' uniform bins).
    #[default]
    Linear,
    /// `exp(linspace(ln min, ln max, n))` (scale-invariant bins).
    Log,
    /// CHMv2: `t·log + (1 − t)·linear` over `[min, max / 8]`, `t` from 1 to 0 across the bins.
    Chmv2Mixlog,
}

/// How bin logits become weights (`norm_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NormStrategy {
    /// `w = (relu(x) + 0.1) / Σ` (the reference default).
    #[default]
    Linear,
    /// `w = softmax(x)`.
    Softmax,
    /// `w = sigmoid(x) / Σ`.
    Sigmoid,
    /// CHMv2: `w = (relu(x) + shift) / Σ` with `shift = clamp(−min relu(x), 0, 1e-4) + 1e-8`,
    /// the sum clamped at 1e-12 (NaN/∞ sums replaced by 1), bins clamped at 1e-12, the weighted
    /// sum clamped at 1e-12 and multiplied by 8 (the bins cover `max / 8`).
    Chmv2Mixlog,
}

/// Conversion of the head's output channels to a height (or depth) in metres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DepthConfig {
    /// Smallest bin centre (and the regression offset). Default 0.001.
    pub min_depth: f64,
    /// Largest bin centre. Default 80 (the reference `DecoderConfig`); CHMv2 uses 96.
    pub max_depth: f64,
    /// Bin spacing. Default linear.
    pub bins_strategy: BinsStrategy,
    /// Logit normalisation. Default linear.
    pub norm_strategy: NormStrategy,
}

impl Default for DepthConfig {
    fn default() -> Self {
        DepthConfig {
            min_depth: 0.001,
            max_depth: 80.0,
            bins_strategy: BinsStrategy::Linear,
            norm_strategy: NormStrategy::Linear,
        }
    }
}

impl DepthConfig {
    /// CHMv2 (`dinov3/hub/depthers.py`): 0.001–96 m, mixed-log bins and normalisation.
    pub fn chmv2() -> DepthConfig {
        DepthConfig {
            min_depth: 0.001,
            max_depth: 96.0,
            bins_strategy: BinsStrategy::Chmv2Mixlog,
            norm_strategy: NormStrategy::Chmv2Mixlog,
        }
    }

    /// Check the range.
    ///
    /// # Errors
    /// A non-finite or non-positive minimum, or `max ≤ min`.
    pub fn validate(&self) -> Result<()> {
        let ok = self.min_depth.is_finite()
            && self.max_depth.is_finite()
            && self.min_depth > 0.0
            && self.max_depth > self.min_depth;
        if !ok {
            return Err(Error::Config(format!(
                "depth range [{}, {}]: need 0 < min_depth < max_depth",
                self.min_depth, self.max_depth
            )));
        }
        Ok(())
    }

    /// The `n` bin centres, f32 on `device`, computed as the reference does (f32 `linspace`,
    /// logs of f32 scalars).
    ///
    /// # Shapes
    /// `(n)`.
    pub fn bins(&self, n: i64, device: Device) -> Tensor {
        let opts = (Kind::Float, device);
        let ln = |v: f64| Tensor::from(v as f32).log().double_value(&[]);
        let log_bins = |lo: f64, hi: f64| Tensor::linspace(ln(lo), ln(hi), n, opts).exp();
        match self.bins_strategy {
            BinsStrategy::Linear => Tensor::linspace(self.min_depth, self.max_depth, n, opts),
            BinsStrategy::Log => log_bins(self.min_depth, self.max_depth),
            BinsStrategy::Chmv2Mixlog => {
                let hi = self.max_depth / 8.0;
                let linear = Tensor::linspace(self.min_depth, hi, n, opts);
                let log = log_bins(self.min_depth, hi);
                let t = Tensor::linspace(1.0, 0.0, n, opts);
                &t * log + (1.0 - &t) * linear
            }
        }
    }

    /// Heights (metres) from the head's raw output, in f32.
    ///
    /// # Shapes
    /// `(b, n, h, w) → (b, 1, h, w)`.
    pub fn to_depth(&self, x: &Tensor) -> Tensor {
        let x = x.to_kind(Kind::Float);
        let n = x.size()[1];
        if n == 1 {
            return x.relu() + self.min_depth;
        }
        let bins = self.bins(n, x.device());
        let weighted =
            |w: &Tensor| (w * bins.view([1, -1, 1, 1])).sum_dim_intlist(1, true, Kind::Float);
        match self.norm_strategy {
            NormStrategy::Linear => {
                let l = x.relu() + 0.1;
                let w = &l / l.sum_dim_intlist(1, true, Kind::Float);
                weighted(&w)
            }
            NormStrategy::Softmax => weighted(&x.softmax(1, Kind::Float)),
            NormStrategy::Sigmoid => {
                let l = x.sigmoid();
                let w = &l / l.sum_dim_intlist(1, true, Kind::Float);
                weighted(&w)
            }
            NormStrategy::Chmv2Mixlog => {
                const EPS: f64 = 1e-12;
                let mut y = x.relu();
                let m = y.amin(1, true);
                let shift = m.neg().clamp_min(0.0).clamp_max(1e-4) + 1e-8;
                let b = bins.view([1, -1, 1, 1]).clamp_min(EPS);
                if y.requires_grad() {
                    let y_pos = y + shift;
                    let denom = Self::mixlog_denominator(&y_pos);
                    let w = y_pos / denom;
                    return (w * b).sum_dim_intlist(1, true, Kind::Float).clamp_min(EPS) * 8.0;
                }
                // Same operations in place: (b, n, h, w) maps are the largest tensors of a
                // canopy head (256 bins at full resolution), so keep one copy, not four.
                let _ = y.g_add_(&shift);
                let denom = Self::mixlog_denominator(&y);
                let _ = y.g_div_(&denom);
                let _ = y.g_mul_(&b);
                y.sum_dim_intlist(1, true, Kind::Float).clamp_min(EPS) * 8.0
            }
        }
    }

    fn mixlog_denominator(y_pos: &Tensor) -> Tensor {
        y_pos.sum_dim_intlist(1, true, Kind::Float).nan_to_num(1.0, 1.0, 1.0).clamp_min(1e-12)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1)).unwrap()
    }

    #[test]
    fn chmv2_bins_span_the_scaled_range_and_mix_log_into_linear() {
        let c = DepthConfig::chmv2();
        let b = vals(&c.bins(256, Device::Cpu));
        assert_eq!(b.len(), 256);
        // First bin: t = 1 → the log end, = min; last: t = 0 → the linear end, = max / 8.
        assert!((b[0] - 0.001).abs() < 1e-9, "{}", b[0]);
        assert!((b[255] - 12.0).abs() < 1e-5, "{}", b[255]);
        assert!(b.windows(2).all(|w| w[1] > w[0]), "increasing");
        // A middle bin is the stated mix of the two spacings.
        let (k, n) = (100usize, 256usize);
        let t = 1.0 - k as f64 / (n - 1) as f64;
        let lin = 0.001 + (12.0 - 0.001) * k as f64 / (n - 1) as f64;
        let log = ((0.001f64).ln()
            + ((12.0f64).ln() - (0.001f64).ln()) * k as f64 / (n - 1) as f64)
            .exp();
        assert!((b[k] as f64 - (t * log + (1.0 - t) * lin)).abs() < 1e-5);
    }

    #[test]
    fn mixlog_heights_are_eight_times_the_weighted_bins() {
        let c = DepthConfig::chmv2();
        // All weight on bin 3 (others negative → relu 0): height = 8 · bin₃ (up to the 1e-8 shift).
        let mut l = vec![-1.0f32; 8];
        l[3] = 5.0;
        let x = Tensor::from_slice(&l).view([1, 8, 1, 1]);
        let h = vals(&c.to_depth(&x))[0];
        let b = vals(&c.bins(8, Device::Cpu));
        assert!((h - 8.0 * b[3]).abs() < 1e-4, "{h} vs {}", 8.0 * b[3]);
        // All logits negative: uniform weights from the shift → 8 · mean(bins).
        let x = Tensor::from_slice(&[-1.0f32; 8]).view([1, 8, 1, 1]);
        let h = vals(&c.to_depth(&x))[0];
        let mean: f32 = b.iter().sum::<f32>() / 8.0;
        assert!((h - 8.0 * mean).abs() < 1e-4, "{h} vs {}", 8.0 * mean);
    }

    #[test]
    fn other_strategies_and_regression() {
        let mut c = DepthConfig { min_depth: 1.0, max_depth: 3.0, ..Default::default() };
        let x = Tensor::from_slice(&[0.0f32, 0.0, 0.0]).view([1, 3, 1, 1]);
        // Equal logits → equal weights → the mean bin, for every normalisation.
        for norm in [NormStrategy::Linear, NormStrategy::Softmax, NormStrategy::Sigmoid] {
            c.norm_strategy = norm;
            assert!((vals(&c.to_depth(&x))[0] - 2.0).abs() < 1e-6, "{norm:?}");
        }
        c.bins_strategy = BinsStrategy::Log;
        let b = vals(&c.bins(3, Device::Cpu));
        assert!((b[1] - 3f32.sqrt()).abs() < 1e-6, "{b:?}");
        // One channel: relu(x) + min.
        let x = Tensor::from_slice(&[-2.0f32, 4.0]).view([1, 1, 1, 2]);
        assert_eq!(vals(&c.to_depth(&x)), vec![1.0, 5.0]);
        assert!(DepthConfig { min_depth: 0.0, ..c }.validate().is_err());
    }
}
