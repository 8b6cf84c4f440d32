//! Axial 2-D rotary position embedding exactly as dinov3's `RopePositionEmbedding`
//! (`layers/rope_position_encoding.py`) and its application in `SelfAttention.apply_rope`.
//!
//! Coordinates are patch centres `(i + 0.5) / n` per axis (`"separate"` normalisation; `"min"`
//! and `"max"` divide both axes by the shorter / longer side), mapped to `[-1, 1]`; in training
//! mode only they are shifted, jittered per axis and rescaled by one shared log-uniform factor (in
//! that order, each only when configured). Angles `2π·c / period` are laid out
//! `[θ_y(0..dh/4), θ_x(0..dh/4)]` and tiled twice to `dh`; the tables rotate the last `P`
//! tokens (patches) of q and k with the rotate-half convention, computed in the RoPE dtype.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

/// How patch coordinates are normalised (dinov3 `pos_embed_rope_normalize_coords`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NormalizeCoords {
    /// Each axis by its own length (released models).
    #[default]
    Separate,
    /// Both axes by the shorter side.
    Min,
    /// Both axes by the longer side.
    Max,
}

/// Configuration of a [`RopePositionEmbedding`].
#[derive(Debug, Clone, PartialEq)]
pub struct RopeConfig {
    /// Head width `dh` (periods have `dh / 4` entries).
    pub head_dim: i64,
    /// `base` parameterisation: `period_j = base^(2j / (dh/2))`.
    pub base: Option<f64>,
    /// `min_period`/`max_period` parameterisation (geometric), used when `base` is `None`.
    pub min_period: Option<f64>,
    /// See `min_period`.
    pub max_period: Option<f64>,
    /// Coordinate normalisation.
    pub normalize_coords: NormalizeCoords,
    /// Training only: add `U(-s, s)` per axis.
    pub shift_coords: Option<f64>,
    /// Training only: multiply each axis by `exp(U(-ln j, ln j))`.
    pub jitter_coords: Option<f64>,
    /// Training only: multiply both axes by one `exp(U(-ln r, ln r))`.
    pub rescale_coords: Option<f64>,
    /// Kind the tables (and the rotation) are computed in (`Float` for the released models).
    pub dtype: Kind,
}

/// The `(sin, cos)` tables of one patch grid.
#[derive(Debug)]
pub struct RopeTables {
    /// `(p, dh)`.
    pub sin: Tensor,
    /// `(p, dh)`.
    pub cos: Tensor,
}

impl RopeTables {
    /// Number of patch tokens the tables cover.
    pub fn n_patches(&self) -> i64 {
        self.sin.size()[0]
    }
}

/// The RoPE module. Key: `periods` (a persistent buffer, loaded from checkpoints).
#[derive(Debug)]
pub struct RopePositionEmbedding {
    /// `(dh / 4)`, in the RoPE dtype.
    pub periods: Tensor,
    cfg: RopeConfig,
}

impl RopePositionEmbedding {
    /// Create the `periods` buffer under `vs`, filled as the reference initialises it.
    pub fn new(vs: nn::Path<'_>, cfg: &RopeConfig) -> RopePositionEmbedding {
        let periods =
            vs.add("periods", Tensor::zeros([cfg.head_dim / 4], (cfg.dtype, vs.device())), false);
        let r = RopePositionEmbedding { periods, cfg: cfg.clone() };
        r.init();
        r
    }

    /// The configuration.
    pub fn config(&self) -> &RopeConfig {
        &self.cfg
    }

    /// Recompute `periods` from the configuration (reference `_init_weights`).
    pub fn init(&self) {
        let n = self.cfg.head_dim / 4;
        let dd = (self.cfg.dtype, self.periods.device());
        let p = match (self.cfg.base, self.cfg.min_period, self.cfg.max_period) {
            (Some(base), _, _) => {
                let e = Tensor::arange(n, dd) * 2.0 / (self.cfg.head_dim / 2) as f64;
                Tensor::from(base).to_kind(self.cfg.dtype).to_device(dd.1).pow(&e)
            }
            (None, Some(minp), Some(maxp)) => {
                let base = maxp / minp;
                let e = Tensor::linspace(0.0, 1.0, n, dd);
                Tensor::from(base).to_kind(self.cfg.dtype).to_device(dd.1).pow(&e) / base * maxp
            }
            _ => return,
        };
        tch::no_grad(|| self.periods.shallow_clone().copy_(&p));
    }

    /// The tables for an `h × w` patch grid.
    ///
    /// # Shapes
    /// returns `sin`, `cos` of shape `(h·w, dh)`.
    pub fn forward(&self, h: i64, w: i64, train: bool) -> RopeTables {
        let dd = (self.cfg.dtype, self.periods.device());
        let (dh, dw) = match self.cfg.normalize_coords {
            NormalizeCoords::Separate => (h as f64, w as f64),
            NormalizeCoords::Max => (h.max(w) as f64, h.max(w) as f64),
            NormalizeCoords::Min => (h.min(w) as f64, h.min(w) as f64),
        };
        let coords_h = Tensor::arange_start(0.5, h as f64, dd) / dh; // (h)
        let coords_w = Tensor::arange_start(0.5, w as f64, dd) / dw; // (w)
        let grid = Tensor::meshgrid_indexing(&[coords_h, coords_w], "ij");
        let coords = Tensor::stack(&grid, -1).flatten(0, 1); // (h·w, 2): column 0 = y, 1 = x
        let mut coords = coords * 2.0 - 1.0;
        if train {
            if let Some(s) = self.cfg.shift_coords {
                let shift = Tensor::empty([2], dd).uniform_(-s, s);
                coords += shift.unsqueeze(0);
            }
            if let Some(j) = self.cfg.jitter_coords {
                let l = j.ln();
                let jit = Tensor::empty([2], dd).uniform_(-l, l).exp();
                coords *= jit.unsqueeze(0);
            }
            if let Some(r) = self.cfg.rescale_coords {
                let l = r.ln();
                let resc = Tensor::empty([1], dd).uniform_(-l, l).exp();
                coords *= resc;
            }
        }
        let periods = self.periods.to_kind(self.cfg.dtype);
        // (p, 2, dh/4) → (p, dh/2) → (p, dh)
        let angles =
            (coords.unsqueeze(-1) * (2.0 * std::f64::consts::PI)) / periods.view([1, 1, -1]);
        let angles = angles.flatten(1, 2).tile([1, 2]);
        RopeTables { sin: angles.sin(), cos: angles.cos() }
    }
}

/// `[-x2, x1]` for `x = [x1, x2]` split in halves along the last dimension.
pub fn rotate_half(x: &Tensor) -> Tensor {
    let halves = x.chunk(2, -1);
    Tensor::cat(&[-&halves[1], halves[0].shallow_clone()], -1)
}

/// `x·cos + rotate_half(x)·sin`.
///
/// # Shapes
/// `x (…, p, dh)`, `sin`/`cos (p, dh)` → `(…, p, dh)`.
pub fn rope_apply(x: &Tensor, t: &RopeTables) -> Tensor {
    x * &t.cos + rotate_half(x) * &t.sin
}

/// Rotate the last `P` tokens of `q` and `k` (the patches); the leading tokens (CLS, registers)
/// are left untouched. The rotation is computed in the tables' kind and cast back.
///
/// # Shapes
/// `q`, `k`: `(b, heads, n, dh)` with `n ≥ P`.
pub fn apply_rope(q: &Tensor, k: &Tensor, t: &RopeTables) -> (Tensor, Tensor) {
    let rk = t.sin.kind();
    let one = |u: &Tensor| {
        let kind = u.kind();
        let u = u.to_kind(rk);
        let n = u.size()[2];
        let p = t.n_patches();
        let prefix = u.narrow(2, 0, n - p);
        let rotated = rope_apply(&u.narrow(2, n - p, p), t);
        Tensor::cat(&[prefix, rotated], 2).to_kind(kind)
    };
    (one(q), one(k))
}

/// The same rotation as [`apply_rope`], on q and k together, in fewer passes: the tables are
/// extended over the `n − P` leading tokens with `cos = 1`, `sin = 0` (which leaves them
/// unchanged), and `rotate_half(u)·sin` is computed as `roll(u, dh/2)·[−sin₁, sin₂]`, which
/// is the same product with the sign moved to the table. Results are identical to
/// [`apply_rope`].
///
/// # Shapes
/// `qk (b, n, 2, heads, dh)` (the q and k parts of the `qkv` projection) → same.
pub fn apply_rope_qk(qk: &Tensor, t: &RopeTables) -> Tensor {
    let rk = t.sin.kind();
    let (n, dh) = (qk.size()[1], *qk.size().last().expect("5-d"));
    let p = t.n_patches();
    let dev = t.sin.device();
    let half = dh / 2;
    let cos = Tensor::cat(&[Tensor::ones([n - p, dh], (rk, dev)), t.cos.shallow_clone()], 0);
    let sin_signed = Tensor::cat(&[-t.sin.narrow(1, 0, half), t.sin.narrow(1, half, half)], 1);
    let sin = Tensor::cat(&[Tensor::zeros([n - p, dh], (rk, dev)), sin_signed], 0);
    let (cos, sin) = (cos.view([n, 1, 1, dh]), sin.view([n, 1, 1, dh]));
    let kind = qk.kind();
    let u = qk.to_kind(rk);
    let r = &u * &cos + u.roll([half], [-1]) * &sin;
    r.to_kind(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn fused_rotation_equals_the_reference_form_bit_for_bit() {
        tch::manual_seed(1);
        let cfg = RopeConfig {
            head_dim: 16,
            base: Some(100.0),
            min_period: None,
            max_period: None,
            normalize_coords: NormalizeCoords::Separate,
            shift_coords: None,
            jitter_coords: None,
            rescale_coords: None,
            dtype: Kind::Float,
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let rope = RopePositionEmbedding::new(vs.root(), &cfg);
        let t = rope.forward(3, 5, false);
        for kind in [Kind::Float, Kind::BFloat16] {
            let qkv = Tensor::randn([2, 20, 3, 4, 16], (Kind::Float, Device::Cpu)).to_kind(kind);
            let q = qkv.select(2, 0).transpose(1, 2);
            let k = qkv.select(2, 1).transpose(1, 2);
            let (rq, rk) = apply_rope(&q, &k, &t);
            let fused = apply_rope_qk(&qkv.narrow(2, 0, 2), &t);
            assert!(fused.select(2, 0).transpose(1, 2).equal(&rq), "{kind:?} q");
            assert!(fused.select(2, 1).transpose(1, 2).equal(&rk), "{kind:?} k");
        }
    }
}
