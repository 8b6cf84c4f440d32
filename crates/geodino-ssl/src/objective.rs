//! The weighted sum of the DINOv3 objectives, after `SSLMetaArch.compute_losses`
//! (`dinov3/train/ssl_meta_arch.py`, facebookresearch/dinov3 at 6876159).
//!
//! With `G` global and `L` local crops (2 and 8 in every config), the code weights
//!
//! ```text
//! total = w_dino·( s_local·w_local·L_DINO_local + s_global·L_DINO_global )
//!       + w_koleo·G·mean_c KoLeo(cls of global crop c)
//!       + w_ibot·L_iBOT
//!       + w_gram·L_Gram
//! ```
//!
//! where the pair counts `n_global = G(G−1)` (same-crop pairs skipped, `global_ignore_diagonal`) or
//! `G²`, `n_local = G·L`, `s_global = n_global/(n_global + n_local)` and
//! `s_local = n_local/(n_global + n_local)`: 1/9 and 8/9 for 2 + 8 crops. `w_local` (1 → 0.5 in the
//! Gram stage) and `w_gram` (0 → 2 in the Gram stage, 1.5 in high-resolution adaptation) are
//! per-step values from the schedules.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::{Result, SslError, check_rank};
use crate::loss::{DinoLoss, GramLoss, GramLossConfig, IbotPatchLoss, KoLeoLoss};

/// Loss options and weights, named as the `dino:` / `ibot:` / `gram:` config keys. `Default` is the
/// reference (`ssl_default_config.yaml` and the 7B configs agree on all of these).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SslLossConfig {
    /// Student temperature τs of both DINO and iBOT. Default 0.1.
    pub student_temp: f64,
    /// Sinkhorn-Knopp iterations. Default 3.
    pub sinkhorn_iterations: usize,
    /// `dino.loss_weight`. Default 1.0.
    pub dino_loss_weight: f64,
    /// `dino.global_ignore_diagonal`: skip the pairs (global crop c, same crop c). Default true.
    pub global_ignore_diagonal: bool,
    /// `dino.koleo_loss_weight`. Default 0.1.
    pub koleo_loss_weight: f64,
    /// `dino.koleo_distributed_loss_group_size`: search neighbours within groups of this many
    /// samples (`None`: the whole batch). Default `None`.
    pub koleo_group_size: Option<usize>,
    /// `ibot.loss_weight`. Default 1.0.
    pub ibot_loss_weight: f64,
    /// The Gram loss options.
    pub gram: GramLossConfig,
}

impl Default for SslLossConfig {
    fn default() -> Self {
        SslLossConfig {
            student_temp: 0.1,
            sinkhorn_iterations: crate::centering::SINKHORN_ITERATIONS,
            dino_loss_weight: 1.0,
            global_ignore_diagonal: true,
            koleo_loss_weight: 0.1,
            koleo_group_size: None,
            ibot_loss_weight: 1.0,
            gram: GramLossConfig::default(),
        }
    }
}

/// The Gram inputs: student and Gram-teacher patch features of the global crops, on the same grid
/// (see [`crate::loss::downsample_patch_features`]).
#[derive(Debug, Clone, Copy)]
pub struct GramInputs<'a> {
    /// Student `x_norm_patchtokens` of the (masked) global crops, `[G·B, P, D]`.
    pub student_patches: &'a Tensor,
    /// Gram-teacher `x_norm_patchtokens`, `[G·B, P, D]`.
    pub teacher_patches: &'a Tensor,
}

/// Everything the objectives need from one student/teacher forward.
#[derive(Debug, Clone, Copy)]
pub struct SslLossInputs<'a> {
    /// Student DINO-head scores of the global crops' class tokens, `[G, B, K]`.
    pub student_global_logits: &'a Tensor,
    /// Student DINO-head scores of the local crops' class tokens, `[L, B, K]`.
    pub student_local_logits: &'a Tensor,
    /// Teacher class-token probabilities after Sinkhorn-Knopp, `[G, B, K]`.
    pub teacher_global_probs: &'a Tensor,
    /// Student iBOT-head scores at the masked patches, `[M, K_ibot]`.
    pub student_masked_patch_logits: &'a Tensor,
    /// Teacher iBOT probabilities at the same patches after Sinkhorn-Knopp, `[M, K_ibot]`.
    pub teacher_masked_patch_probs: &'a Tensor,
    /// The iBOT masks of the global crops (crop-major), `[G·B, N]`.
    pub masks: &'a Tensor,
    /// Per-masked-token weights `1/#masked in its image`, `[M]`; `None` computes them from `masks`.
    pub masks_weight: Option<&'a Tensor>,
    /// Student class tokens of the global crops before the head (KoLeo input), `[G, B, D]`.
    pub student_global_cls: &'a Tensor,
    /// Gram inputs, when the Gram loss is on.
    pub gram: Option<GramInputs<'a>>,
}

/// Per-step weights that come from the schedules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepWeights {
    /// Weight of the local DINO term (`w_local`, `dino.local_loss_weight_schedule`).
    pub w_local: f64,
    /// Weight of the Gram term (`w_gram`, `gram.loss_weight(_schedule)`).
    pub w_gram: f64,
}

impl Default for StepWeights {
    /// Pre-training: `w_local = 1`, no Gram.
    fn default() -> Self {
        StepWeights { w_local: 1.0, w_gram: 0.0 }
    }
}

/// The factors actually applied to each term of [`LossBreakdown::total`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AppliedWeights {
    /// Factor of `dino_global`: `w_dino · n_global/(n_global + n_local)`.
    pub dino_global: f64,
    /// Factor of `dino_local`: `w_dino · w_local · n_local/(n_global + n_local)`.
    pub dino_local: f64,
    /// Factor of `koleo` (the mean over global crops): `w_koleo · G`.
    pub koleo: f64,
    /// Factor of `ibot`.
    pub ibot: f64,
    /// Factor of `gram` (0 when absent).
    pub gram: f64,
}

/// The loss terms of one step (scalar tensors; `total` carries the gradient).
#[derive(Debug)]
pub struct LossBreakdown {
    /// DINO loss, student global crops vs teacher global crops (same-crop pairs skipped).
    pub dino_global: Tensor,
    /// DINO loss, student local crops vs teacher global crops.
    pub dino_local: Tensor,
    /// iBOT masked-patch loss.
    pub ibot: Tensor,
    /// KoLeo, mean over the global crops.
    pub koleo: Tensor,
    /// Gram loss, when on.
    pub gram: Option<Tensor>,
    /// The weighted sum.
    pub total: Tensor,
    /// The factors used to form `total`.
    pub weights: AppliedWeights,
}

/// Plain numbers of a [`LossBreakdown`], for logs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossValues {
    /// See [`LossBreakdown::dino_global`].
    pub dino_global: f64,
    /// See [`LossBreakdown::dino_local`].
    pub dino_local: f64,
    /// See [`LossBreakdown::ibot`].
    pub ibot: f64,
    /// See [`LossBreakdown::koleo`].
    pub koleo: f64,
    /// See [`LossBreakdown::gram`].
    pub gram: Option<f64>,
    /// See [`LossBreakdown::total`].
    pub total: f64,
    /// See [`LossBreakdown::weights`].
    pub weights: AppliedWeights,
}

impl LossBreakdown {
    /// The values as `f64`s.
    pub fn values(&self) -> LossValues {
        let v = |t: &Tensor| t.double_value(&[]);
        LossValues {
            dino_global: v(&self.dino_global),
            dino_local: v(&self.dino_local),
            ibot: v(&self.ibot),
            koleo: v(&self.koleo),
            gram: self.gram.as_ref().map(v),
            total: v(&self.total),
            weights: self.weights,
        }
    }
}

/// Teacher targets after Sinkhorn-Knopp centering.
#[derive(Debug)]
pub struct TeacherTargets {
    /// Class-token probabilities, `[G, B, K]`.
    pub cls_probs: Tensor,
    /// Masked-patch probabilities, `[M, K_ibot]`.
    pub masked_patch_probs: Tensor,
}

/// The DINOv3 objective: DINO (global + local), iBOT, KoLeo and Gram with the reference weighting.
#[derive(Debug, Clone)]
pub struct SslObjective {
    cfg: SslLossConfig,
    dino: DinoLoss,
    ibot: IbotPatchLoss,
    koleo: KoLeoLoss,
    gram: GramLoss,
}

impl SslObjective {
    /// The objective with options `cfg`.
    ///
    /// # Errors
    /// [`SslError::Config`] for a non-positive temperature, a KoLeo group smaller than 2 or
    /// inconsistent Gram options.
    pub fn new(cfg: &SslLossConfig) -> Result<Self> {
        if cfg.student_temp.is_nan() || cfg.student_temp <= 0.0 {
            return Err(SslError::Config(format!(
                "student_temp must be > 0, got {}",
                cfg.student_temp
            )));
        }
        if matches!(cfg.koleo_group_size, Some(g) if g < 2) {
            return Err(SslError::Config("koleo_group_size must be >= 2".into()));
        }
        Ok(SslObjective {
            cfg: cfg.clone(),
            dino: DinoLoss::new(cfg.student_temp),
            ibot: IbotPatchLoss::new(cfg.student_temp),
            koleo: KoLeoLoss::default(),
            gram: GramLoss::new(&cfg.gram)?,
        })
    }

    /// The options.
    pub fn config(&self) -> &SslLossConfig {
        &self.cfg
    }

    /// Centre the teacher's head outputs with Sinkhorn-Knopp, as `SSLMetaArch.get_teacher_output`
    /// does: the DINO variant over all `G·B` class tokens, the iBOT variant over the `M` masked
    /// tokens with `n_masked_patches = M`.
    ///
    /// # Shapes
    /// `teacher_cls_logits: [G·B, K]` (crop-major), `teacher_masked_logits: [M, K_ibot]` →
    /// [`TeacherTargets`].
    ///
    /// # Errors
    /// [`SslError::Shape`] when `G·B` is not a multiple of `n_global_crops`, or as
    /// [`crate::centering::sinkhorn_knopp`].
    pub fn teacher_targets(
        &self,
        teacher_cls_logits: &Tensor,
        n_global_crops: i64,
        teacher_masked_logits: &Tensor,
        teacher_temp: f64,
    ) -> Result<TeacherTargets> {
        let size = check_rank(teacher_cls_logits, 2, "teacher cls logits", "[G·B, K]")?;
        if n_global_crops <= 0 || size[0] % n_global_crops != 0 {
            return Err(SslError::Shape {
                what: "teacher cls logits",
                expected: format!("a row count that is a multiple of {n_global_crops} crops"),
                got: size,
            });
        }
        let iters = self.cfg.sinkhorn_iterations;
        let cls = crate::centering::sinkhorn_knopp(teacher_cls_logits, teacher_temp, iters)?;
        let cls_probs = cls.reshape([n_global_crops, size[0] / n_global_crops, size[1]]);
        let m = teacher_masked_logits.size().first().copied().unwrap_or(0).max(0) as usize;
        let masked_patch_probs =
            crate::centering::sinkhorn_knopp_masked(teacher_masked_logits, teacher_temp, m, iters)?;
        Ok(TeacherTargets { cls_probs, masked_patch_probs })
    }

    /// The pair-count scales `(s_global, s_local)` for `n_global` global and `n_local` local crops.
    pub fn dino_scales(&self, n_global: i64, n_local: i64) -> (f64, f64) {
        let global_terms = if self.cfg.global_ignore_diagonal {
            n_global * (n_global - 1)
        } else {
            n_global * n_global
        } as f64;
        let local_terms = (n_global * n_local) as f64;
        let all = global_terms + local_terms;
        (global_terms / all, local_terms / all)
    }

    /// All loss terms and their weighted sum.
    ///
    /// # Shapes
    /// See the fields of [`SslLossInputs`].
    ///
    /// # Errors
    /// [`SslError::Shape`] when the inputs disagree with each other.
    pub fn forward(&self, inputs: &SslLossInputs<'_>, step: StepWeights) -> Result<LossBreakdown> {
        let g = check_rank(inputs.student_global_logits, 3, "student global logits", "[G, B, K]")?;
        let l = check_rank(inputs.student_local_logits, 3, "student local logits", "[L, B, K]")?;
        let cls = check_rank(inputs.student_global_cls, 3, "student global cls", "[G, B, D]")?;
        if cls[..2] != g[..2] {
            return Err(SslError::Shape {
                what: "student global cls",
                expected: format!("[{}, {}, D]", g[0], g[1]),
                got: cls,
            });
        }
        let (n_global, n_local) = (g[0], l[0]);
        let (s_global, s_local) = self.dino_scales(n_global, n_local);

        let dino_local =
            self.dino.forward(inputs.student_local_logits, inputs.teacher_global_probs, false)?;
        let dino_global = self.dino.forward(
            inputs.student_global_logits,
            inputs.teacher_global_probs,
            self.cfg.global_ignore_diagonal,
        )?;

        let mut koleo_terms = Vec::with_capacity(n_global as usize);
        for c in 0..n_global {
            let x = inputs.student_global_cls.get(c);
            koleo_terms.push(match self.cfg.koleo_group_size {
                Some(gs) => self.koleo.forward_grouped(&x, gs)?,
                None => self.koleo.forward(&x)?,
            });
        }
        let koleo = Tensor::stack(&koleo_terms, 0).mean(Kind::Float);

        let ibot = self.ibot.forward_masked(
            inputs.student_masked_patch_logits,
            inputs.teacher_masked_patch_probs,
            inputs.masks,
            inputs.masks_weight,
        )?;

        let gram = match inputs.gram {
            Some(gi) => Some(self.gram.forward(gi.student_patches, gi.teacher_patches)?),
            None => None,
        };

        let weights = AppliedWeights {
            dino_global: self.cfg.dino_loss_weight * s_global,
            dino_local: self.cfg.dino_loss_weight * s_local * step.w_local,
            koleo: self.cfg.koleo_loss_weight * n_global as f64,
            ibot: self.cfg.ibot_loss_weight,
            gram: if gram.is_some() { step.w_gram } else { 0.0 },
        };
        let mut total = &dino_local * weights.dino_local
            + &dino_global * weights.dino_global
            + &koleo * weights.koleo
            + &ibot * weights.ibot;
        if let Some(gl) = &gram {
            total += gl * weights.gram;
        }
        Ok(LossBreakdown { dino_global, dino_local, ibot, koleo, gram, total, weights })
    }
}
