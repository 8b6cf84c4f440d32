//! Blending windows for overlapping tiles.
//!
//! Every output pixel is the weighted mean of the predictions of the tiles that cover it,
//! `y(x) = Σ_t w_t(x) p_t(x) / Σ_t w_t(x)`. A tile's weight is the product of a row profile and
//! a column profile (`w_t(r, c) = w_row(r) · w_col(c)`). The profiles fall to (almost) zero at a
//! tile side that lies inside the scene and stay flat at a side on the scene border, so:
//!
//! * the blended output is **continuous across every tile boundary**: where a tile ends, its
//!   weight has already faded out, so nothing jumps there (plain averaging, the reference's
//!   `slide_inference`, switches a tile on and off at full weight at its edges: the seams users
//!   see);
//! * pixels on the scene border, covered by one tile only, keep full weight (nothing shrinks).
//!
//! Kinds ([`Blend`]):
//!
//! * `cosine` (default): a raised-cosine ramp over exactly the overlap with the neighbour on
//!   that side (`sin²(π/2 · (i + ½) / n)` rising, `cos²` falling). Two neighbours' ramps over
//!   the same overlap sum to exactly 1 (`sin² + cos² = 1`), so the weights form a partition of
//!   unity: a feathered cross-fade;
//! * `gaussian`: `exp(−d² / 2σ²)` of the distance `d` from the tile centre along each axis, with
//!   `σ = tile / 8` (MONAI's `sigma_scale = 0.125`); at a tile edge the weight is
//!   `exp(−8) ≈ 3·10⁻⁴`, so tile edges leave no visible step. Favours each tile's centre more
//!   strongly than the cosine ramp;
//! * `average`: uniform weights, i.e. plain averaging (DINOv3's `slide_inference`); kept for
//!   comparison, it leaves seams.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How overlapping tiles are blended (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Blend {
    /// Raised-cosine ramps over the overlaps (a partition of unity). Default.
    #[default]
    Cosine,
    /// A Gaussian window centred on each tile, `σ = tile / 8`.
    Gaussian,
    /// Uniform weights (plain averaging, as DINOv3's `slide_inference`): leaves seams.
    Average,
}

impl std::str::FromStr for Blend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Blend> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cosine" | "cos" | "hann" => Ok(Blend::Cosine),
            "gaussian" | "gauss" => Ok(Blend::Gaussian),
            "average" | "mean" | "uniform" | "none" => Ok(Blend::Average),
            other => {
                Err(Error::Config(format!("blend {other:?}: expected cosine, gaussian or average")))
            }
        }
    }
}

impl std::fmt::Display for Blend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Blend::Cosine => "cosine",
            Blend::Gaussian => "gaussian",
            Blend::Average => "average",
        })
    }
}

impl Blend {
    /// The weight profile of a tile of `len` pixels along one axis. `lead` is its overlap with
    /// the previous tile on that axis (0 when the tile starts on the scene border), `trail` its
    /// overlap with the next tile (0 when it ends on or beyond the scene border).
    ///
    /// Every weight is strictly positive.
    pub fn profile(self, len: usize, lead: usize, trail: usize) -> Vec<f32> {
        let lead = lead.min(len);
        let trail = trail.min(len);
        match self {
            Blend::Average => vec![1.0; len],
            Blend::Cosine => (0..len)
                .map(|i| {
                    let mut w = 1.0f64;
                    if i < lead {
                        w *= rise(i, lead);
                    }
                    let j = len - 1 - i;
                    if j < trail {
                        w *= rise(j, trail);
                    }
                    w as f32
                })
                .collect(),
            Blend::Gaussian => {
                let sigma = len as f64 / 8.0;
                let centre = (len as f64 - 1.0) / 2.0;
                (0..len)
                    .map(|i| {
                        let mut d = i as f64 - centre;
                        // flat towards a scene border: only sides with a neighbour fade
                        if (d < 0.0 && lead == 0) || (d > 0.0 && trail == 0) {
                            d = 0.0;
                        }
                        (-d * d / (2.0 * sigma * sigma)).exp() as f32
                    })
                    .collect()
            }
        }
    }
}

/// The rising half of a raised-cosine ramp of `n` pixels at pixel `i < n`: `sin²(π/2·(i+½)/n)`.
fn rise(i: usize, n: usize) -> f64 {
    let t = (i as f64 + 0.5) / n as f64;
    (std::f64::consts::FRAC_PI_2 * t).sin().powi(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_ramps_of_neighbours_sum_to_one() {
        // tiles of 16 at 0 and 10: overlap 6
        let a = Blend::Cosine.profile(16, 0, 6);
        let b = Blend::Cosine.profile(16, 6, 0);
        for x in 10..16 {
            let s = a[x] + b[x - 10];
            assert!((s - 1.0).abs() < 1e-6, "x {x}: {s}");
        }
        // flat where there is no neighbour
        assert!(a[..10].iter().all(|&w| w == 1.0));
        assert!(b[6..].iter().all(|&w| w == 1.0));
        // nearly zero at an inner tile edge, never zero
        assert!(a[15] < 0.02 && a[15] > 0.0);
    }

    #[test]
    fn gaussian_fades_only_towards_neighbours() {
        let w = Blend::Gaussian.profile(64, 16, 0);
        assert!(w[0] < 5e-4, "{}", w[0]);
        assert!(w[63] == 1.0 && w[40] == 1.0);
        let both = Blend::Gaussian.profile(64, 16, 16);
        assert!((both[0] - both[63]).abs() < 1e-7);
        assert!(Blend::Average.profile(8, 2, 2).iter().all(|&w| w == 1.0));
    }

    #[test]
    fn names_parse() {
        assert_eq!("Cosine".parse::<Blend>().unwrap(), Blend::Cosine);
        assert_eq!("gaussian".parse::<Blend>().unwrap(), Blend::Gaussian);
        assert_eq!("average".parse::<Blend>().unwrap(), Blend::Average);
        assert!("box".parse::<Blend>().unwrap_err().to_string().contains("expected cosine"));
    }
}
