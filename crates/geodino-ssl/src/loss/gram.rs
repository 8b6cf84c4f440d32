//! The Gram anchoring loss, after `GramLoss` (`dinov3/loss/gram_loss.py`) and the Gram-teacher
//! feature resizing of `SSLMetaArch.get_gram_teacher_output` (`dinov3/train/ssl_meta_arch.py`).

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::dino_head::l2_normalize;
use crate::error::{Result, SslError};

/// Options of the Gram loss, named as the `gram:` section of the dinov3 configs. `Default` is the
/// setting of the configs that use the loss (`dinov3_vit7b16_gram_anchor.yaml`,
/// `dinov3_vit7b16_high_res_adapt.yaml`): normalised, image-level, negatives kept.
/// [`GramLossConfig::ssl_default`] is `ssl_default_config.yaml`'s (batch-level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GramLossConfig {
    /// L2-normalise the patch features along `D` before the Gram matrices (`normalized`). Default true.
    pub normalized: bool,
    /// One `P×P` Gram matrix per image (`img_level: true`); otherwise one `(B·P)×(B·P)` matrix
    /// over all patches of the batch. Default true.
    pub img_level: bool,
    /// Clip negative similarities to 0 in both Gram matrices (`remove_neg`). Default false.
    pub remove_neg: bool,
    /// Clip only the teacher's negative similarities (`remove_only_teacher_neg`). As coded, the
    /// teacher matrix is clipped first and the student entries "where both are negative" are
    /// then selected with the already-clipped teacher, i.e. never: only the teacher is clipped.
    /// We reproduce that. Default false.
    pub remove_only_teacher_neg: bool,
}

impl Default for GramLossConfig {
    fn default() -> Self {
        GramLossConfig {
            normalized: true,
            img_level: true,
            remove_neg: false,
            remove_only_teacher_neg: false,
        }
    }
}

impl GramLossConfig {
    /// `ssl_default_config.yaml`'s `gram:` section (batch-level Gram matrix).
    pub fn ssl_default() -> Self {
        GramLossConfig { img_level: false, ..Default::default() }
    }

    /// The two clipping options exclude each other (an assertion in the reference).
    ///
    /// # Errors
    /// [`SslError::Config`] when both are set.
    pub fn validate(&self) -> Result<()> {
        if self.remove_neg && self.remove_only_teacher_neg {
            return Err(SslError::Config(
                "gram.remove_neg and gram.remove_only_teacher_neg exclude each other".into(),
            ));
        }
        Ok(())
    }
}

/// The Gram loss: `MSE(X_S X_Sᵀ, X_G X_Gᵀ)` with mean reduction over every entry of the Gram
/// matrices (`B·P·P` at image level), after optional L2 normalisation of the rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GramLoss {
    cfg: GramLossConfig,
}

impl GramLoss {
    /// A Gram loss with options `cfg`.
    ///
    /// # Errors
    /// [`SslError::Config`] when `cfg` is inconsistent.
    pub fn new(cfg: &GramLossConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(GramLoss { cfg: *cfg })
    }

    /// The options.
    pub fn config(&self) -> &GramLossConfig {
        &self.cfg
    }

    fn similarities(&self, feats: &Tensor) -> Tensor {
        let mut f = feats.to_kind(Kind::Float);
        if self.cfg.normalized {
            f = l2_normalize(&f, 1e-12);
        }
        if !self.cfg.img_level && f.dim() == 3 {
            // [B, P, D] -> [B·P, D]
            f = f.flatten(0, 1);
        }
        f.matmul(&f.transpose(-1, -2))
    }

    /// The loss between student and Gram-teacher patch features.
    ///
    /// # Shapes
    /// `student`, `teacher`: `[B, P, D]` (global crops × batch, patches, width), or `[n, D]`
    /// (already selected tokens, batch level only) → scalar.
    ///
    /// # Errors
    /// [`SslError::Shape`] when the shapes differ or the rank is wrong for the mode.
    pub fn forward(&self, student: &Tensor, teacher: &Tensor) -> Result<Tensor> {
        let s = student.size();
        if s != teacher.size() {
            return Err(SslError::Shape {
                what: "Gram teacher features",
                expected: format!("{s:?} like the student features"),
                got: teacher.size(),
            });
        }
        let rank_ok = if self.cfg.img_level { s.len() == 3 } else { s.len() == 2 || s.len() == 3 };
        if !rank_ok {
            return Err(SslError::Shape {
                what: "Gram student features",
                expected: if self.cfg.img_level {
                    "[B, P, D]".into()
                } else {
                    "[B, P, D] or [n, D]".into()
                },
                got: s,
            });
        }
        let mut target = tch::no_grad(|| self.similarities(&teacher.detach()));
        let mut sim = self.similarities(student);
        if self.cfg.remove_neg {
            target = target.relu();
            sim = sim.relu();
        } else if self.cfg.remove_only_teacher_neg {
            target = target.relu();
            // The reference then zeroes student entries where `student < 0 & target < 0`, with the
            // target already clipped: an empty selection.
        }
        Ok(sim.mse_loss(&target, tch::Reduction::Mean))
    }
}

/// A patch-grid size, `h` rows by `w` columns of tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchGrid {
    /// Rows of patches.
    pub h: i64,
    /// Columns of patches.
    pub w: i64,
}

/// Resize Gram-teacher patch features from the teacher's (higher-resolution) grid to the
/// student's, as `get_gram_teacher_output` does: tokens back to a `[B, D, h, w]` map, bicubic
/// interpolation (`align_corners=False`, `antialias` as `gram.global_teacher_resize_antialias`,
/// false in every config), flattened back row-major. Returns the input unchanged when the grids
/// are equal.
///
/// # Shapes
/// `teacher_patches: [B, h_t·w_t, D]` → `[B, h_s·w_s, D]`.
///
/// # Errors
/// [`SslError::Shape`] when the token count does not match `teacher_grid`.
pub fn downsample_patch_features(
    teacher_patches: &Tensor,
    teacher_grid: PatchGrid,
    student_grid: PatchGrid,
    antialias: bool,
) -> Result<Tensor> {
    let size = teacher_patches.size();
    if size.len() != 3 || size[1] != teacher_grid.h * teacher_grid.w {
        return Err(SslError::Shape {
            what: "Gram teacher patch features",
            expected: format!("[B, {}·{}, D]", teacher_grid.h, teacher_grid.w),
            got: size,
        });
    }
    if teacher_grid == student_grid {
        return Ok(teacher_patches.shallow_clone());
    }
    let (b, d) = (size[0], size[2]);
    // [B, P_T, D] -> [B, D, h_t, w_t]
    let map = teacher_patches.transpose(-2, -1).reshape([b, d, teacher_grid.h, teacher_grid.w]);
    let out_size = [student_grid.h, student_grid.w];
    let resized = if antialias {
        map.internal_upsample_bicubic2d_aa(out_size.as_slice(), false, None, None)
    } else {
        map.upsample_bicubic2d(out_size.as_slice(), false, None, None)
    };
    // [B, D, h_s, w_s] -> [B, h_s·w_s, D]
    Ok(resized.flatten(-2, -1).transpose(-2, -1).contiguous())
}
