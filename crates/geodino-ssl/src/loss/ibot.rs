//! The iBOT masked-patch loss, after `iBOTPatchLoss` (`dinov3/loss/ibot_patch_loss.py`).

use tch::{Kind, Tensor};

use crate::error::{Result, SslError, check_rank};

/// Cross-entropy between the teacher's centred patch probabilities and the student's
/// `softmax(z / student_temp)` at the masked positions, each token weighted by
/// `1 / (#masked tokens in its image)`, summed and divided by the number of images (masked or
/// not): `L = −(Σ_p w_p Σ_k P_t[p,k] log softmax(z_s[p]/τs)_k) / n_images`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IbotPatchLoss {
    /// Student temperature τs. Default 0.1.
    pub student_temp: f64,
}

impl Default for IbotPatchLoss {
    fn default() -> Self {
        IbotPatchLoss { student_temp: 0.1 }
    }
}

/// The reference's per-token weights: for every masked token (row-major over `masks`), one over
/// the number of masked tokens of its image (`collate_data_and_cast` in `dinov3/data/collate.py`).
///
/// # Shapes
/// `masks: [n_images, N]` (bool or 0/1) → `[M]`, `M` the number of masked tokens.
///
/// # Errors
/// [`SslError::Shape`] when `masks` is not 2-D.
pub fn masks_weight(masks: &Tensor) -> Result<Tensor> {
    check_rank(masks, 2, "iBOT masks", "[n_images, N]")?;
    let m = masks.to_kind(Kind::Bool);
    let per_image = m.sum_dim_intlist([-1i64].as_slice(), true, Kind::Float).clamp_min(1.0);
    Ok((per_image.reciprocal().expand_as(&m)).masked_select(&m))
}

impl IbotPatchLoss {
    /// A loss with student temperature `student_temp`.
    pub fn new(student_temp: f64) -> Self {
        IbotPatchLoss { student_temp }
    }

    /// `Σ_k t[p,k] · log softmax(s[p]/τs)_k` for every row `p`.
    fn per_token(&self, student: &Tensor, teacher: &Tensor) -> Tensor {
        let log_p = (student.to_kind(Kind::Float) / self.student_temp).log_softmax(-1, Kind::Float);
        (teacher.to_kind(Kind::Float) * log_p).sum_dim_intlist(
            [-1i64].as_slice(),
            false,
            Kind::Float,
        )
    }

    /// The loss on the masked tokens only (`forward_masked`, what SSLMetaArch uses).
    ///
    /// `masks_weight` defaults to [`masks_weight`]`(masks)`.
    ///
    /// # Shapes
    /// `student_masked_logits: [M, K]`, `teacher_masked_probs: [M, K]`, `masks: [n_images, N]`,
    /// `masks_weight: [M]` → scalar.
    ///
    /// # Errors
    /// [`SslError::Shape`] when the shapes disagree (in particular when `M` is not the number of
    /// masked tokens in `masks`).
    pub fn forward_masked(
        &self,
        student_masked_logits: &Tensor,
        teacher_masked_probs: &Tensor,
        masks: &Tensor,
        masks_weight: Option<&Tensor>,
    ) -> Result<Tensor> {
        let s = check_rank(student_masked_logits, 2, "iBOT student logits", "[M, K]")?;
        let t = check_rank(teacher_masked_probs, 2, "iBOT teacher probabilities", "[M, K]")?;
        let mk = check_rank(masks, 2, "iBOT masks", "[n_images, N]")?;
        if s != t {
            return Err(SslError::Shape {
                what: "iBOT teacher probabilities",
                expected: format!("{s:?} like the student logits"),
                got: t,
            });
        }
        let n_masked = masks.to_kind(Kind::Int64).sum(Kind::Int64).int64_value(&[]);
        if n_masked != s[0] {
            return Err(SslError::Shape {
                what: "iBOT student logits",
                expected: format!("one row per masked token ({n_masked})"),
                got: s,
            });
        }
        let weight = match masks_weight {
            Some(w) => {
                if w.size() != [s[0]] {
                    return Err(SslError::Shape {
                        what: "iBOT masks weight",
                        expected: format!("[{}]", s[0]),
                        got: w.size(),
                    });
                }
                w.to_kind(Kind::Float)
            }
            None => crate::loss::ibot::masks_weight(masks)?,
        };
        let loss = self.per_token(student_masked_logits, teacher_masked_probs) * weight;
        Ok(-loss.sum(Kind::Float) / mk[0] as f64)
    }

    /// The loss on dense token maps (`forward`): per image the mean over its masked tokens, then
    /// the mean over images.
    ///
    /// # Shapes
    /// `student_logits: [B, N, K]`, `teacher_probs: [B, N, K]`, `masks: [B, N]` → scalar.
    ///
    /// # Errors
    /// [`SslError::Shape`] when the shapes disagree.
    pub fn forward_dense(
        &self,
        student_logits: &Tensor,
        teacher_probs: &Tensor,
        masks: &Tensor,
    ) -> Result<Tensor> {
        let s = check_rank(student_logits, 3, "iBOT student logits", "[B, N, K]")?;
        let t = check_rank(teacher_probs, 3, "iBOT teacher probabilities", "[B, N, K]")?;
        let mk = check_rank(masks, 2, "iBOT masks", "[B, N]")?;
        if s != t || mk[..] != s[..2] {
            return Err(SslError::Shape {
                what: "iBOT dense inputs",
                expected: format!("teacher {s:?} and masks [{}, {}]", s[0], s[1]),
                got: t,
            });
        }
        let m = masks.to_kind(Kind::Float);
        let per_token = self.per_token(student_logits, teacher_probs);
        let per_image = (per_token * &m).sum_dim_intlist([-1i64].as_slice(), false, Kind::Float)
            / m.sum_dim_intlist([-1i64].as_slice(), false, Kind::Float).clamp_min(1.0);
        Ok(-per_image.mean(Kind::Float))
    }
}
